//! Test helper for `tests/it/crash.rs`, not part of the crate's API:
//! `redb-crash-writer DIR` runs [`chatcore::store::testkit::crash::run_writer`]
//! on a store in `DIR` until it is killed. With `CHATCORE_CHECKPOINT_BYTES=N` in
//! the environment, the write-ahead log checkpoints every `N` bytes.

use chatcore::store::{KvStore, WalConfig};
use chatcore_redb::{RedbBackend, RedbOptions, FILE_NAME};

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() {
    let dir = std::path::PathBuf::from(
        std::env::args_os()
            .nth(1)
            .expect("usage: redb-crash-writer DIR"),
    );
    let store = match std::env::var("CHATCORE_CHECKPOINT_BYTES") {
        Ok(bytes) => {
            std::fs::create_dir_all(&dir).expect("create the directory");
            let config = WalConfig {
                checkpoint_bytes: bytes.parse().expect("a byte count"),
                ..WalConfig::new(&dir)
            };
            let options = RedbOptions::default().pace_checkpoints_of(&config);
            let backend = RedbBackend::open_with(dir.join(FILE_NAME), options).expect("open redb");
            KvStore::open_with_wal(backend, config)
        }
        Err(_) => chatcore_redb::open(&dir),
    };
    chatcore::store::testkit::crash::run_writer(store.expect("open the store")).await;
}
