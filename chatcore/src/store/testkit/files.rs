//! Files: uploads, completion, listing, deletion, and a reopen.

use super::{inbox, new_room, user, Fixture};
use crate::protocol::{ErrorCode, Event, ItemId};
use crate::store::{FileQuota, FileTarget, NewFile, Store, User};

const NO_QUOTA: FileQuota = FileQuota {
    files: u64::MAX,
    bytes: u64::MAX,
};

fn offer(from: &User, to: FileTarget, name: &str, size: u64, chunk_size: u32, ts: u64) -> NewFile {
    NewFile {
        from: from.clone(),
        to,
        name: name.into(),
        size,
        sha256: [7; 32],
        chunk_size,
        ts,
    }
}

/// A file is invisible until completed; completing one to a user writes a
/// `FileShared` stream item; deleting removes record and chunks.
pub async fn files_become_visible_only_when_complete<S: Store>(fx: &Fixture<S>) {
    let store = fx.open();
    let (a, b) = (user(&store, "ann").await, user(&store, "bob").await);
    let to = FileTarget::User(b.clone());
    let f = store
        .create_file(offer(&a, to, "notes.txt", 5, 3, 10), NO_QUOTA)
        .await
        .unwrap()
        .expect("within the quota");
    assert!(!f.complete);
    store.put_chunk(f.id, 0, b"abc".to_vec()).await.unwrap();
    store.put_chunk(f.id, 1, b"de".to_vec()).await.unwrap();
    assert!(store
        .direct_files(a.id, b.id, None, 100)
        .await
        .unwrap()
        .is_empty());
    assert_eq!(store.incomplete_files().await.unwrap(), vec![f.id]);
    let notice = store
        .complete_file(f.id, 20)
        .await
        .unwrap()
        .expect("notice for bob");
    assert_eq!(notice.recipient, b.id);
    assert!(
        matches!(&notice.item.event, Event::FileShared { id, name, size: 5, .. } if *id == f.id && name == "notes.txt")
    );
    assert_eq!(inbox(&store, b.id).await, vec![notice.item.event.clone()]);
    let listed = store.direct_files(b.id, a.id, None, 100).await.unwrap();
    assert_eq!(listed.len(), 1);
    assert_eq!(
        (listed[0].received, listed[0].complete, listed[0].ts),
        (5, true, 20)
    );
    assert!(store.incomplete_files().await.unwrap().is_empty());
    assert_eq!(store.chunk(f.id, 1).await.unwrap(), Some(b"de".to_vec()));

    let room = new_room(&store, &a, "lobby").await;
    let g = store
        .create_file(
            offer(&a, FileTarget::Room(room.clone()), "pic.png", 1, 3, 30),
            NO_QUOTA,
        )
        .await
        .unwrap()
        .expect("within the quota");
    store.put_chunk(g.id, 0, b"z".to_vec()).await.unwrap();
    assert_eq!(store.complete_file(g.id, 31).await.unwrap(), None);
    assert_eq!(
        store.room_files(room.id, None, 100).await.unwrap()[0].id,
        g.id
    );

    store.delete_file(f.id).await.unwrap();
    assert_eq!(store.file(f.id).await.unwrap(), None);
    assert_eq!(store.chunk(f.id, 0).await.unwrap(), None);
    assert!(store
        .direct_files(a.id, b.id, None, 100)
        .await
        .unwrap()
        .is_empty());
    // Deleting the room deletes its files.
    store.delete_room(room.id).await.unwrap();
    assert_eq!(store.file(g.id).await.unwrap(), None);
}

/// Completed files, their chunks, and incomplete uploads survive a reopen.
pub async fn files_survive_reopen<S: Store>(fx: &Fixture<S>) {
    let (a, b, done, pending) = {
        let store = fx.open();
        let (a, b) = (user(&store, "ann").await, user(&store, "bob").await);
        let to = FileTarget::User(b.clone());
        let done = store
            .create_file(offer(&a, to.clone(), "a.bin", 2, 2, 1), NO_QUOTA)
            .await
            .unwrap()
            .expect("within the quota");
        store.put_chunk(done.id, 0, vec![1, 2]).await.unwrap();
        store.complete_file(done.id, 2).await.unwrap();
        let pending = store
            .create_file(offer(&a, to, "b.bin", 4, 2, 3), NO_QUOTA)
            .await
            .unwrap()
            .expect("within the quota");
        store.put_chunk(pending.id, 0, vec![3, 4]).await.unwrap();
        (a, b, done.id, pending.id)
    };
    let store = fx.open();
    assert_eq!(
        store.direct_files(a.id, b.id, None, 100).await.unwrap()[0].id,
        done
    );
    assert_eq!(store.chunk(done, 0).await.unwrap(), Some(vec![1, 2]));
    assert_eq!(store.incomplete_files().await.unwrap(), vec![pending]);
}

/// A conversation's files page by id, oldest first, each page after the last
/// id of the one before; incomplete files are not listed.
pub async fn files_page_by_id<S: Store>(fx: &Fixture<S>) {
    let store = fx.open();
    let (a, b) = (user(&store, "ann").await, user(&store, "bob").await);
    let mut done = Vec::new();
    for i in 0..7 {
        let to = FileTarget::User(b.clone());
        let f = store
            .create_file(offer(&a, to, &format!("f{i}"), 1, 1, i), NO_QUOTA)
            .await
            .unwrap()
            .unwrap();
        store.put_chunk(f.id, 0, vec![1]).await.unwrap();
        if i != 3 {
            store.complete_file(f.id, i).await.unwrap();
            done.push(f.id);
        }
    }
    let mut seen = Vec::new();
    let mut after = None;
    loop {
        let page = store.direct_files(b.id, a.id, after, 2).await.unwrap();
        assert!(page.len() <= 2);
        let Some(last) = page.last() else { break };
        after = Some(last.id);
        seen.extend(page.into_iter().map(|f| f.id));
    }
    assert_eq!(seen, done);
}

/// A user's files count against their quota at their offered sizes, complete
/// or not: an offer beyond it is refused `QuotaExceeded` (and stores nothing),
/// still after a reopen, and a deleted file gives its share back.
pub async fn the_file_quota_holds_across_a_reopen_and_deletion_frees_it<S: Store>(fx: &Fixture<S>) {
    let quota = FileQuota {
        files: 3,
        bytes: 100,
    };
    let offer_to = |from: &User, to: &User, size| {
        offer(from, FileTarget::User(to.clone()), "f.bin", size, 64, 1)
    };
    let (a, b, big): (User, User, ItemId) = {
        let store = fx.open();
        let (a, b) = (user(&store, "ann").await, user(&store, "bob").await);
        let big = store
            .create_file(offer_to(&a, &b, 60), quota)
            .await
            .unwrap()
            .unwrap();
        store.put_chunk(big.id, 0, vec![0; 60]).await.unwrap();
        store.complete_file(big.id, 2).await.unwrap();
        // Open (not yet complete) offers count too.
        store
            .create_file(offer_to(&a, &b, 40), quota)
            .await
            .unwrap()
            .unwrap();
        assert_eq!(
            store.create_file(offer_to(&a, &b, 1), quota).await.unwrap(),
            Err(ErrorCode::QuotaExceeded),
            "one byte over"
        );
        assert!(store.incomplete_files().await.unwrap().len() == 1);
        // Another user has a quota of their own.
        assert!(store
            .create_file(offer_to(&b, &a, 100), quota)
            .await
            .unwrap()
            .is_ok());
        (a, b, big.id)
    };
    let store = fx.open();
    assert_eq!(
        store.create_file(offer_to(&a, &b, 1), quota).await.unwrap(),
        Err(ErrorCode::QuotaExceeded),
        "the quota holds after a reopen"
    );
    store.delete_file(big).await.unwrap();
    store
        .create_file(offer_to(&a, &b, 60), quota)
        .await
        .unwrap()
        .expect("deleting gave the bytes and the file back");
    store
        .create_file(offer_to(&a, &b, 0), quota)
        .await
        .unwrap()
        .expect("a third file");
    assert_eq!(
        store.create_file(offer_to(&a, &b, 0), quota).await.unwrap(),
        Err(ErrorCode::QuotaExceeded),
        "three files"
    );
}
