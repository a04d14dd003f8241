//! Crash safety: a writer killed with SIGKILL at random moments loses nothing it
//! acknowledged (see `chatcore::store::testkit::crash`).

#[test]
fn killed_writer_loses_nothing_it_acknowledged() {
    chatcore::store::testkit::crash::killed_writer_loses_nothing(
        env!("CARGO_BIN_EXE_sled-crash-writer"),
        &[],
        |dir| chatcore_sled::open(dir).expect("reopen after the kill"),
    );
}
