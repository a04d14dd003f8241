//! Test helper for `tests/it/crash.rs`, not part of the crate's API:
//! `sled-crash-writer DIR` runs [`chatcore::store::testkit::crash::run_writer`]
//! on a store in `DIR` until it is killed.

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() {
    let dir = std::env::args_os()
        .nth(1)
        .expect("usage: sled-crash-writer DIR");
    let store = chatcore_sled::open(dir).expect("open the store");
    chatcore::store::testkit::crash::run_writer(store).await;
}
