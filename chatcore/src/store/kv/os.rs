//! What the store asks of the operating system beyond `std`: Linux calls through
//! `rustix`, and doing without them elsewhere.

use std::fs::File;

/// Allocates the first `len` bytes of `file` (which then reads as zeros there).
#[cfg(target_os = "linux")]
pub fn allocate(file: &File, len: u64) -> std::io::Result<()> {
    rustix::fs::fallocate(file, rustix::fs::FallocateFlags::empty(), 0, len)?;
    Ok(())
}

/// Elsewhere the file grows with each append.
#[cfg(not(target_os = "linux"))]
pub fn allocate(_file: &File, _len: u64) -> std::io::Result<()> {
    Ok(())
}

/// How much [`lower_priority`] lowers a thread's priority (its nice value).
#[cfg(target_os = "linux")]
const BACKGROUND_NICE: i32 = 10;

/// Lowers the calling thread's CPU priority by [`BACKGROUND_NICE`] (on Linux, where
/// the nice value is per thread), so that it takes the CPU only when commits and
/// sockets do not need it. Best effort.
#[cfg(target_os = "linux")]
pub fn lower_priority() {
    use rustix::process::{getpriority_process, setpriority_process};
    let me = Some(rustix::thread::gettid());
    let lowered = getpriority_process(me)
        .and_then(|nice| setpriority_process(me, (nice + BACKGROUND_NICE).min(19)));
    if let Err(e) = lowered {
        tracing::debug!(error = %e, "a background thread keeps its priority");
    }
}

/// Elsewhere the thread keeps its priority.
#[cfg(not(target_os = "linux"))]
pub fn lower_priority() {}

#[cfg(all(test, target_os = "linux"))]
mod tests {
    use rustix::process::getpriority_process;

    /// Only the calling thread is lowered, by the promised amount (up to the
    /// lowest priority there is).
    #[test]
    fn lowers_only_the_calling_thread() {
        let nice = || getpriority_process(Some(rustix::thread::gettid())).unwrap();
        let before = nice();
        let lowered = std::thread::spawn(move || {
            super::lower_priority();
            nice()
        })
        .join()
        .unwrap();
        assert_eq!(lowered, (before + super::BACKGROUND_NICE).min(19));
        assert_eq!(nice(), before);
    }
}
