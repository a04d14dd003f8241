//! Send-time stamps, latency histograms, and the numbers of a run.

use std::sync::OnceLock;
use std::time::Instant;

use hdrhistogram::Histogram;

static BASE: OnceLock<Instant> = OnceLock::new();

/// Nanoseconds since a process-wide start instant (set on first use).
pub fn now_ns() -> u64 {
    BASE.get_or_init(Instant::now).elapsed().as_nanos() as u64
}

/// Hex digits of the send time at the start of every message text.
pub const STAMP_LEN: usize = 16;

/// A message text of `size.max(16)` bytes: the send time ([`now_ns`]) as 16
/// lowercase hex digits, then padding.
pub fn payload(size: usize) -> String {
    let mut text = format!("{:016x}", now_ns());
    text.push_str(&"x".repeat(size.saturating_sub(STAMP_LEN)));
    text
}

/// The send time stamped at the start of a [`payload`] text.
pub fn sent_at(text: &str) -> Option<u64> {
    u64::from_str_radix(text.get(..STAMP_LEN)?, 16).ok()
}

/// A latency histogram in microseconds, 1 µs to 120 s, 3 significant digits
/// (as the peer harness).
pub fn histogram() -> Histogram<u64> {
    Histogram::new_with_bounds(1, 120_000_000, 3).expect("valid histogram bounds")
}

/// What one receiver saw.
#[derive(Debug)]
pub struct Received {
    /// Latencies (receive time − send time), µs.
    pub hist: Histogram<u64>,
    /// Messages counted.
    pub count: u64,
    /// When the last one arrived.
    pub last: Option<Instant>,
}

impl Default for Received {
    fn default() -> Self {
        Received {
            hist: histogram(),
            count: 0,
            last: None,
        }
    }
}

impl Received {
    /// Counts a message stamped `sent_ns`.
    pub fn record(&mut self, sent_ns: u64) {
        let lat_us = now_ns().saturating_sub(sent_ns) / 1000;
        self.hist.saturating_record(lat_us.max(1));
        self.count += 1;
        self.last = Some(Instant::now());
    }
}

/// The figures of one run that a median line summarises.
#[derive(Debug, Clone, Default)]
pub struct Summary {
    /// Deliveries per second.
    pub rate: f64,
    /// Latency percentiles, µs.
    pub p50: u64,
    /// 99th percentile, µs.
    pub p99: u64,
    /// 99.9th percentile, µs.
    pub p999: u64,
    /// Server CPU-seconds per million deliveries, with `--server-pid`.
    pub cpu_per_m: Option<f64>,
}

/// Median of `v` (mean of the middle two for an even count); NaN if empty.
pub fn median(mut v: Vec<f64>) -> f64 {
    if v.is_empty() {
        return f64::NAN;
    }
    v.sort_by(|a, b| a.total_cmp(b));
    let n = v.len();
    if n % 2 == 1 {
        v[n / 2]
    } else {
        (v[n / 2 - 1] + v[n / 2]) / 2.0
    }
}

/// `x` with two decimals, or `na`.
pub fn fmt2(x: Option<f64>) -> String {
    x.map_or_else(|| "na".to_string(), |x| format!("{x:.2}"))
}

/// The median line over several runs:
/// `median of N runs: rate=N msg/s p50=Nus p99=Nus p999=Nus server_cpu_s_per_1M=X`.
pub fn median_line(runs: &[Summary]) -> String {
    let cpu: Vec<f64> = runs.iter().filter_map(|s| s.cpu_per_m).collect();
    format!(
        "median of {} runs: rate={:.0} msg/s p50={:.0}us p99={:.0}us p999={:.0}us server_cpu_s_per_1M={}",
        runs.len(),
        median(runs.iter().map(|s| s.rate).collect()),
        median(runs.iter().map(|s| s.p50 as f64).collect()),
        median(runs.iter().map(|s| s.p99 as f64).collect()),
        median(runs.iter().map(|s| s.p999 as f64).collect()),
        fmt2((!cpu.is_empty()).then(|| median(cpu))),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn payload_carries_its_send_time() {
        let before = now_ns();
        let text = payload(100);
        assert_eq!(text.len(), 100);
        let t = sent_at(&text).unwrap();
        assert!(t >= before && t <= now_ns());
        assert_eq!(payload(3).len(), STAMP_LEN);
        assert_eq!(sent_at("short"), None);
        assert_eq!(sent_at("zzzzzzzzzzzzzzzzzz"), None);
    }

    #[test]
    fn medians() {
        assert_eq!(median(vec![3.0, 1.0, 2.0]), 2.0);
        assert_eq!(median(vec![4.0, 1.0, 2.0, 3.0]), 2.5);
        let line = median_line(&[
            Summary {
                rate: 10.0,
                p50: 1,
                p99: 2,
                p999: 3,
                cpu_per_m: Some(1.5),
            },
            Summary {
                rate: 20.0,
                p50: 3,
                p99: 4,
                p999: 5,
                cpu_per_m: None,
            },
        ]);
        assert_eq!(
            line,
            "median of 2 runs: rate=15 msg/s p50=2us p99=3us p999=4us server_cpu_s_per_1M=1.50"
        );
    }
}
