//! Opening, closing and reopening the redb store; refusing what is not ours.

use std::path::Path;

use chatcore::store::testkit::on_disk::{ann_writes_to_bob, OnDisk};
use chatcore::store::{Store, StoreError};
use chatcore_redb::{open, RedbBackend, FILE_NAME};

chatcore::store_open_tests!(OnDisk {
    open: |dir| open(dir),
    backend: |path| RedbBackend::open(path),
    data: |dir| dir.join(FILE_NAME),
});

fn open_err(dir: &Path) -> StoreError {
    open(dir).expect_err("opening should fail")
}

#[test]
fn a_garbage_file_is_not_a_database() {
    let tmp = tempfile::tempdir().unwrap();
    let garbage: Vec<u8> = (0..64 * 1024u32).map(|i| (i * 7919 % 251) as u8).collect();
    std::fs::write(tmp.path().join(FILE_NAME), garbage).unwrap();
    let err = open_err(tmp.path());
    assert!(matches!(err, StoreError::NotADatabase(_)), "{err:?}");
    assert!(err.to_string().contains(FILE_NAME), "{err}");
}

#[test]
fn a_damaged_redb_file_is_an_error_not_a_panic() {
    let tmp = tempfile::tempdir().unwrap();
    let real = tmp.path().join("real");
    drop(open(&real).unwrap());
    let bytes = std::fs::read(real.join(FILE_NAME)).unwrap();
    for keep in [5, 100, 600, bytes.len() / 2] {
        let dir = tmp.path().join(format!("cut{keep}"));
        std::fs::create_dir(&dir).unwrap();
        std::fs::write(dir.join(FILE_NAME), &bytes[..keep]).unwrap();
        let err = open_err(&dir);
        eprintln!("{keep} bytes: {err}");
        assert!(err.to_string().contains(FILE_NAME), "{err}");
    }
}

#[test]
fn a_directory_in_place_of_the_file_is_not_a_database() {
    let tmp = tempfile::tempdir().unwrap();
    std::fs::create_dir(tmp.path().join(FILE_NAME)).unwrap();
    assert!(matches!(open_err(tmp.path()), StoreError::NotADatabase(_)));
}

#[test]
fn a_path_that_is_a_file_is_an_error() {
    let tmp = tempfile::tempdir().unwrap();
    let file = tmp.path().join("plain");
    std::fs::write(&file, b"not a directory").unwrap();
    let err = open_err(&file);
    assert!(err.to_string().contains("plain"), "{err}");
}

#[test]
fn another_programs_redb_database_is_not_a_database() {
    let tmp = tempfile::tempdir().unwrap();
    {
        let db = redb::Database::create(tmp.path().join(FILE_NAME)).unwrap();
        let txn = db.begin_write().unwrap();
        let table: redb::TableDefinition<u64, u64> = redb::TableDefinition::new("theirs");
        txn.open_table(table).unwrap().insert(1, 2).unwrap();
        txn.commit().unwrap();
    }
    let err = open_err(tmp.path());
    assert!(
        matches!(&err, StoreError::NotADatabase(m) if m.contains("theirs")),
        "{err:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn scribbled_pages_are_an_error_or_repaired_never_a_panic() {
    let tmp = tempfile::tempdir().unwrap();
    let real = tmp.path().join("real");
    {
        let store = open(&real).unwrap();
        ann_writes_to_bob(&store, 200).await;
    }
    let bytes = std::fs::read(real.join(FILE_NAME)).unwrap();
    for (n, at) in [4096, bytes.len() / 3, bytes.len() / 2, bytes.len() - 8192]
        .into_iter()
        .enumerate()
    {
        let dir = tmp.path().join(format!("scribbled{n}"));
        std::fs::create_dir(&dir).unwrap();
        let mut scribbled = bytes.clone();
        for (i, b) in scribbled[at..at + 4096].iter_mut().enumerate() {
            *b ^= 0x5a ^ (i as u8);
        }
        std::fs::write(dir.join(FILE_NAME), &scribbled).unwrap();
        // Either redb notices (an error) or the damage missed live data; either way
        // opening and reading must not panic.
        match open(&dir) {
            Ok(store) => {
                let found = store.account_by_name("bob").await;
                eprintln!(
                    "scribbled at {at}: opened; bob: {:?}",
                    found.map(|a| a.is_some())
                );
            }
            Err(e) => eprintln!("scribbled at {at}: {e}"),
        }
    }
}
