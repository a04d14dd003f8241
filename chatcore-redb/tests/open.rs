//! Opening, closing and reopening the redb store; refusing what is not ours.

use std::path::Path;

use chatcore::protocol::{Body, Event};
use chatcore::store::{
    Appended, KvBackend, NewMessage, Store, StoreError, WriteBatch, FORMAT_VERSION,
};
use chatcore_redb::{open, RedbBackend, FILE_NAME};

/// The format-version record, as documented in the key layout of `KvStore`.
const VERSION_KEY: &[u8] = b"mversion";
const HASH: &str = "$argon2id$v=19$m=8,t=1,p=1$c2FsdHNhbHQ$aGFzaGhhc2hoYXNoaGFzaA";

async fn send(store: &impl Store, from: &str, to: &str, client_msg_id: u64) -> u64 {
    let from = store.account_by_name(from).await.unwrap().unwrap().user;
    let to = store.account_by_name(to).await.unwrap().unwrap().user;
    let msg = NewMessage {
        from,
        to,
        client_msg_id,
        body: Body::Text("hello".into()),
        ts: 1,
    };
    match store.append_direct(msg).await.unwrap() {
        Appended::New(m) => m.id,
        Appended::Duplicate(r) => panic!("duplicate {r:?}"),
    }
}

fn write_raw(file: &Path, key: &[u8], value: &[u8]) {
    let backend = RedbBackend::open(file).unwrap();
    let batch = WriteBatch::from([(key.to_vec(), Some(value.to_vec()))]);
    backend.commit(batch).unwrap();
}

fn open_err(dir: &Path) -> StoreError {
    open(dir).expect_err("opening should fail")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reopen_after_close_keeps_data() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("nested").join("data");
    let id = {
        let store = open(&dir).unwrap();
        store.create_user("ann", HASH).await.unwrap().unwrap();
        store.create_user("bob", HASH).await.unwrap().unwrap();
        let id = send(&store, "ann", "bob", 1).await;
        store.close();
        // Writes after close are refused, not lost silently.
        assert!(matches!(
            store.create_user("cat", HASH).await,
            Err(StoreError::Closed)
        ));
        id
    };
    assert!(dir.join(FILE_NAME).is_file());
    for _ in 0..2 {
        let store = open(&dir).unwrap();
        let bob = store.account_by_name("bob").await.unwrap().unwrap().user;
        let inbox = store.inbox(bob.id, None, 10).await.unwrap();
        assert!(matches!(&inbox[..], [Event::Message(m)] if m.id == id));
        assert_eq!(store.account_by_name("cat").await.unwrap(), None);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_second_open_of_an_open_database_is_an_error() {
    let tmp = tempfile::tempdir().unwrap();
    let _store = open(tmp.path()).unwrap();
    let err = open_err(tmp.path());
    assert!(matches!(err, StoreError::Backend(_)), "{err:?}");
    assert!(err.to_string().contains("already open"), "{err}");
}

#[test]
fn another_format_version_is_refused() {
    let tmp = tempfile::tempdir().unwrap();
    drop(open(tmp.path()).unwrap());
    write_raw(
        &tmp.path().join(FILE_NAME),
        VERSION_KEY,
        &(FORMAT_VERSION + 1).to_be_bytes(),
    );
    let err = open_err(tmp.path());
    assert!(
        matches!(err, StoreError::VersionMismatch { found, expected }
            if found == FORMAT_VERSION + 1 && expected == FORMAT_VERSION),
        "{err:?}"
    );
}

#[test]
fn data_without_a_version_record_is_not_a_database() {
    let tmp = tempfile::tempdir().unwrap();
    write_raw(&tmp.path().join(FILE_NAME), b"something", b"else");
    assert!(matches!(open_err(tmp.path()), StoreError::NotADatabase(_)));
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
        store.create_user("ann", HASH).await.unwrap().unwrap();
        store.create_user("bob", HASH).await.unwrap().unwrap();
        for i in 0..200 {
            send(&store, "ann", "bob", i).await;
        }
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
