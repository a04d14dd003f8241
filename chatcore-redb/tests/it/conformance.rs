//! The redb store passes the store conformance suite: as [`chatcore_redb::open`]
//! makes it (redb behind a write-ahead log), with a checkpoint after every group
//! commit (so reads meet changes in every state: logged, being checkpointed, in
//! redb; paced as `open` paces them), and on redb alone.

use chatcore::store::testkit::Fixture;

chatcore::store_conformance_tests!(Fixture::in_temp_dir(|dir| chatcore_redb::open(dir).unwrap()));

mod checkpoint_after_every_group {
    use chatcore::store::testkit::Fixture;
    use chatcore::store::{KvStore, WalConfig};
    use chatcore_redb::{RedbBackend, RedbOptions, FILE_NAME};

    chatcore::store_conformance_tests!(Fixture::in_temp_dir(|dir| {
        let config = WalConfig {
            checkpoint_bytes: 1,
            ..WalConfig::new(dir)
        };
        let options = RedbOptions::default().pace_checkpoints_of(&config);
        let backend = RedbBackend::open_with(dir.join(FILE_NAME), options).unwrap();
        KvStore::open_with_wal(backend, config).unwrap()
    }));
}

mod without_a_log {
    use chatcore::store::testkit::Fixture;
    use chatcore::store::KvStore;
    use chatcore_redb::{RedbBackend, FILE_NAME};

    chatcore::store_conformance_tests!(Fixture::in_temp_dir(|dir| {
        std::fs::create_dir_all(dir).unwrap();
        KvStore::open(RedbBackend::open(dir.join(FILE_NAME)).unwrap()).unwrap()
    }));
}
