//! Crash safety: a writer killed with SIGKILL at random moments loses nothing it
//! acknowledged (see `chatcore::store::testkit::crash`).

use chatcore::store::testkit::crash::killed_writer_loses_nothing;

const WRITER: &str = env!("CARGO_BIN_EXE_redb-crash-writer");

#[test]
fn killed_writer_loses_nothing_it_acknowledged() {
    killed_writer_loses_nothing(WRITER, &[], |dir| {
        chatcore_redb::open(dir).expect("reopen after the kill")
    });
}

/// With a checkpoint every 4 KiB of log, the kills often land mid-checkpoint.
#[test]
fn killed_writer_loses_nothing_it_acknowledged_mid_checkpoint() {
    killed_writer_loses_nothing(WRITER, &[("CHATCORE_CHECKPOINT_BYTES", "4096")], |dir| {
        chatcore_redb::open(dir).expect("reopen after the kill")
    });
}
