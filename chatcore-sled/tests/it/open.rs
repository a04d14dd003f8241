//! Opening, closing and reopening the sled store; refusing what is not ours.

use std::path::Path;

use chatcore::store::testkit::on_disk::{ann_writes_to_bob, OnDisk};
use chatcore::store::{Store, StoreError};
use chatcore_sled::{open, SledBackend, DIR_NAME};

chatcore::store_open_tests!(OnDisk {
    open: |dir| open(dir),
    backend: |path| SledBackend::open(path),
    data: |dir| dir.join(DIR_NAME),
});

fn open_err(dir: &Path) -> StoreError {
    open(dir).expect_err("opening should fail")
}

fn assert_not_a_database(dir: &Path) {
    let err = open_err(dir);
    assert!(matches!(err, StoreError::NotADatabase(_)), "{err:?}");
    assert!(err.to_string().contains(DIR_NAME), "{err}");
}

#[test]
fn a_file_in_place_of_the_directory_is_not_a_database() {
    let tmp = tempfile::tempdir().unwrap();
    std::fs::write(tmp.path().join(DIR_NAME), b"a file").unwrap();
    assert_not_a_database(tmp.path());
}

#[test]
fn a_directory_of_other_files_is_not_a_database() {
    let tmp = tempfile::tempdir().unwrap();
    let sled_dir = tmp.path().join(DIR_NAME);
    std::fs::create_dir(&sled_dir).unwrap();
    std::fs::write(sled_dir.join("notes.txt"), b"my notes").unwrap();
    assert_not_a_database(tmp.path());
    // ...and nothing was written beside them.
    assert_eq!(std::fs::read_dir(&sled_dir).unwrap().count(), 1);
}

#[test]
fn a_garbage_conf_is_not_a_database() {
    let tmp = tempfile::tempdir().unwrap();
    let sled_dir = tmp.path().join(DIR_NAME);
    std::fs::create_dir(&sled_dir).unwrap();
    let garbage: Vec<u8> = (0..4096u32).map(|i| (i * 7919 % 251) as u8).collect();
    std::fs::write(sled_dir.join("conf"), &garbage).unwrap();
    std::fs::write(sled_dir.join("db"), &garbage).unwrap();
    assert_not_a_database(tmp.path());
}

#[test]
fn a_damaged_sled_conf_is_an_error_not_a_panic() {
    let tmp = tempfile::tempdir().unwrap();
    drop(open(tmp.path()).unwrap());
    let conf = tmp.path().join(DIR_NAME).join("conf");
    let text = std::fs::read_to_string(&conf).unwrap_or_default();
    let damaged = text.replace("segment_size: ", "segment_size: x");
    std::fs::write(&conf, damaged).unwrap();
    let err = open_err(tmp.path());
    assert!(err.to_string().contains(DIR_NAME), "{err}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_damaged_log_is_an_error_or_recovered_never_a_panic_nor_a_new_database() {
    let tmp = tempfile::tempdir().unwrap();
    let real = tmp.path().join("real");
    {
        let store = open(&real).unwrap();
        ann_writes_to_bob(&store, 200).await;
    }
    let bytes = std::fs::read(real.join(DIR_NAME).join("db")).unwrap();
    let conf = std::fs::read(real.join(DIR_NAME).join("conf")).unwrap();
    for (n, at) in [0, bytes.len() / 3, bytes.len() / 2, bytes.len() - 4096]
        .into_iter()
        .enumerate()
    {
        let dir = tmp.path().join(format!("scribbled{n}"));
        let sled_dir = dir.join(DIR_NAME);
        std::fs::create_dir_all(&sled_dir).unwrap();
        let mut scribbled = bytes.clone();
        let end = (at + 4096).min(scribbled.len());
        for (i, b) in scribbled[at..end].iter_mut().enumerate() {
            *b ^= 0x5a ^ (i as u8);
        }
        std::fs::write(sled_dir.join("db"), &scribbled).unwrap();
        std::fs::write(sled_dir.join("conf"), &conf).unwrap();
        // sled recovers its log up to the first damage and drops the rest. So either
        // opening fails, or it finds a chatcore database (never silently a new one);
        // and nothing panics.
        match open(&dir) {
            Ok(store) => {
                let found = store.account_by_name("ann").await;
                eprintln!(
                    "scribbled at {at}: opened; ann: {:?}",
                    found.map(|a| a.is_some())
                );
                assert!(
                    !chatcore::store::KvBackend::scan(store.backend(), b"u", b"v", false, 1)
                        .unwrap()
                        .is_empty(),
                    "a damaged log must not open as a new, empty database"
                );
            }
            Err(e) => eprintln!("scribbled at {at}: {e}"),
        }
    }
}

#[test]
fn another_programs_sled_database_is_not_a_database() {
    for tree in [None, Some("theirs")] {
        let tmp = tempfile::tempdir().unwrap();
        {
            let db = sled::open(tmp.path().join(DIR_NAME)).unwrap();
            match tree {
                None => db.insert(b"key", b"value").map(drop),
                Some(name) => db.open_tree(name).unwrap().insert(b"k", b"v").map(drop),
            }
            .unwrap();
            db.flush().unwrap();
        }
        let err = open_err(tmp.path());
        assert!(matches!(err, StoreError::NotADatabase(_)), "{err:?}");
    }
}
