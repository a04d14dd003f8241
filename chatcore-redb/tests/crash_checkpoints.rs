//! Crash safety while checkpoints run all the time (one every 4 KiB of log): a
//! writer killed with SIGKILL at random moments, often mid-checkpoint, loses
//! nothing it acknowledged (see `chatcore::store::testkit::crash`).

#[test]
fn killed_writer_loses_nothing_it_acknowledged_mid_checkpoint() {
    // This binary runs only this test, so no other test sees the variable.
    std::env::set_var("CHATCORE_CHECKPOINT_BYTES", "4096");
    chatcore::store::testkit::crash::killed_writer_loses_nothing(
        env!("CARGO_BIN_EXE_redb-crash-writer"),
        |dir| chatcore_redb::open(dir).expect("reopen after the kill"),
    );
}
