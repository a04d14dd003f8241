//! What /proc says about a process: CPU time and resident memory.

/// utime+stime of process `pid` (this process if `None`) in seconds.
///
/// Assumes `CLK_TCK` = 100, as on every Linux this runs on (the peer harness
/// assumes the same, so the figures compare).
pub fn cpu_s(pid: Option<u32>) -> Option<f64> {
    let path = match pid {
        Some(p) => format!("/proc/{p}/stat"),
        None => "/proc/self/stat".to_string(),
    };
    let s = std::fs::read_to_string(path).ok()?;
    // The command name (field 2) may hold spaces: count fields after its ')'.
    let rest = s.get(s.rfind(')')? + 2..)?;
    let f: Vec<&str> = rest.split_whitespace().collect();
    let ut: f64 = f.get(11)?.parse().ok()?;
    let st: f64 = f.get(12)?.parse().ok()?;
    Some((ut + st) / 100.0)
}

/// CPU time of all of `pids` summed (`None` if there are none, or one is gone).
pub fn cpu_s_sum(pids: &[u32]) -> Option<f64> {
    if pids.is_empty() {
        return None;
    }
    pids.iter().map(|&p| cpu_s(Some(p))).sum()
}

/// Resident set size (`VmRSS` of /proc/PID/status) of process `pid` (this
/// process if `None`) in KiB.
pub fn rss_kib(pid: Option<u32>) -> Option<u64> {
    let path = match pid {
        Some(p) => format!("/proc/{p}/status"),
        None => "/proc/self/status".to_string(),
    };
    let s = std::fs::read_to_string(path).ok()?;
    let line = s.lines().find(|l| l.starts_with("VmRSS:"))?;
    line.split_whitespace().nth(1)?.parse().ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_own_process() {
        assert!(cpu_s(None).is_some());
        assert!(rss_kib(None).unwrap() > 0);
    }
}
