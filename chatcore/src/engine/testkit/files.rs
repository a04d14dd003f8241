//! File transfer: to an offline friend, bad uploads, room files.

use std::time::Duration;

use super::{harness, refused, test_config, EVENT_TIMEOUT};
use crate::client::{Client, ClientError};
use crate::engine::ServerConfig;
use crate::protocol::{ErrorCode, Event, Peer};
use crate::store::testkit::Fixture;
use crate::store::Store;

fn file_config() -> ServerConfig {
    let mut config = test_config();
    config.file_chunk_size = 1000;
    config.max_file_size = 100_000;
    config
}

pub(super) fn sha256(bytes: &[u8]) -> [u8; 32] {
    use sha2::Digest;
    sha2::Sha256::digest(bytes).into()
}

pub(super) async fn upload(
    c: &Client,
    to: Peer,
    name: &str,
    bytes: &[u8],
) -> Result<u64, ClientError> {
    let (file, chunk) = c
        .offer_file(to, name, bytes.len() as u64, sha256(bytes))
        .await?;
    for (i, part) in bytes.chunks(chunk as usize).enumerate() {
        c.upload_chunk(file, (i * chunk as usize) as u64, part.to_vec())
            .await?;
    }
    c.complete_file(file).await?;
    Ok(file)
}

async fn download(c: &Client, file: u64) -> Vec<u8> {
    let mut out = Vec::new();
    loop {
        let part = c
            .download_chunk(file, out.len() as u64, 4096)
            .await
            .unwrap();
        if part.is_empty() {
            return out;
        }
        out.extend(part);
    }
}

fn test_bytes(len: usize) -> Vec<u8> {
    (0..len).map(|i| (i * 31 % 251) as u8).collect()
}

/// A file sent while the friend was offline is announced at their login and
/// downloads byte-identical.
pub async fn file_to_offline_friend_arrives_intact<S: Store>(fx: &Fixture<S>) {
    let h = harness(fx, file_config());
    let (ann, bob) = h.friends("ann", "bob").await;
    bob.client.logout().await.unwrap();
    drop(bob);
    let bytes = test_bytes(10_500); // 11 chunks, the last one short
    let file = upload(
        &ann.client,
        Peer::User("bob".into()),
        "report 📄.pdf",
        &bytes,
    )
    .await
    .unwrap();
    let mut bob = h.login_raw("bob").await;
    let shared = bob.expect(|e| matches!(e, Event::FileShared { .. })).await;
    assert_eq!(
        shared,
        Event::FileShared {
            id: file,
            from: "ann".into(),
            to: Peer::User("bob".into()),
            name: "report 📄.pdf".into(),
            size: bytes.len() as u64
        }
    );
    let listed = bob.client.files(Peer::User("ann".into())).await.unwrap();
    assert_eq!(listed.len(), 1);
    assert_eq!(listed[0].sha256, sha256(&bytes));
    let got = download(&bob.client, file).await;
    assert_eq!(sha256(&got), sha256(&bytes));
    assert_eq!(got, bytes);
    // A stranger cannot read it.
    let cat = h.user("cat").await;
    assert_eq!(
        refused(cat.client.download_chunk(file, 0, 10).await),
        ErrorCode::NoSuchFile
    );
    h.stop().await;
}

/// Over the limit, a path in the name, chunks out of order, a wrong hash, or a
/// client gone mid-upload: refused with clear codes, nothing visible, chunks
/// reclaimed.
pub async fn bad_uploads_leave_nothing_visible<S: Store>(fx: &Fixture<S>) {
    let h = harness(fx, file_config());
    let (ann, mut bob) = h.friends("ann", "bob").await;
    let c = &ann.client;
    let to = || Peer::User("bob".into());
    assert_eq!(
        refused(c.offer_file(to(), "big.bin", 100_001, [0; 32]).await),
        ErrorCode::FileTooLarge
    );
    let spoofing = [
        "photo\u{202E}gpj.exe", // right-to-left override: shows "photoexe.jpg"
        "a\u{2066}b\u{2069}",   // isolates
        "zero\u{200B}width",
        "line\u{2028}break",
    ];
    for name in ["../etc/passwd", "a/b", "..", "", "c:evil", "nul\0"]
        .into_iter()
        .chain(spoofing)
    {
        assert_eq!(
            refused(c.offer_file(to(), name, 1, [0; 32]).await),
            ErrorCode::InvalidFileName,
            "{name:?}"
        );
    }
    assert_eq!(
        refused(
            c.offer_file(Peer::User("nobody".into()), "a", 1, [0; 32])
                .await
        ),
        ErrorCode::NoSuchUser
    );
    assert_eq!(
        refused(c.upload_chunk(999_999, 0, vec![1]).await),
        ErrorCode::NoSuchFile
    );

    let bytes = test_bytes(2500);
    let (file, chunk) = c
        .offer_file(to(), "x.bin", 2500, sha256(&bytes))
        .await
        .unwrap();
    let chunk = chunk as usize;
    assert_eq!(
        refused(c.upload_chunk(file, 1000, bytes[1000..2000].to_vec()).await),
        ErrorCode::BadChunk
    );
    assert_eq!(
        refused(c.upload_chunk(file, 0, bytes[..10].to_vec()).await),
        ErrorCode::BadChunk
    );
    c.upload_chunk(file, 0, bytes[..chunk].to_vec())
        .await
        .unwrap();
    // Complete too early: fails verification, the upload is gone.
    assert_eq!(
        refused(c.complete_file(file).await),
        ErrorCode::ChecksumMismatch
    );
    assert_eq!(
        refused(c.upload_chunk(file, 1000, bytes[1000..2000].to_vec()).await),
        ErrorCode::NoSuchFile
    );

    let good = upload(c, to(), "y.bin", &bytes).await.unwrap();
    // All bytes, but the offer named another hash.
    let wrong_hash = c.offer_file(to(), "z.bin", 2500, [9; 32]).await.unwrap().0;
    for (i, part) in bytes.chunks(chunk).enumerate() {
        c.upload_chunk(wrong_hash, (i * chunk) as u64, part.to_vec())
            .await
            .unwrap();
    }
    assert_eq!(
        refused(c.complete_file(wrong_hash).await),
        ErrorCode::ChecksumMismatch
    );

    // A client that goes away mid-upload.
    let quitter = h.login("ann").await;
    let (gone, _) = quitter
        .client
        .offer_file(to(), "gone.bin", 2500, sha256(&bytes))
        .await
        .unwrap();
    quitter
        .client
        .upload_chunk(gone, 0, bytes[..chunk].to_vec())
        .await
        .unwrap();
    drop(quitter);

    let files = bob.client.files(Peer::User("ann".into())).await.unwrap();
    assert_eq!(files.iter().map(|f| f.id).collect::<Vec<_>>(), vec![good]);
    // The dropped connection's upload is reclaimed once its task ends.
    let store = h.server().store();
    let deadline = tokio::time::Instant::now() + EVENT_TIMEOUT;
    while !store.incomplete_files().await.unwrap().is_empty() {
        assert!(
            tokio::time::Instant::now() < deadline,
            "abandoned upload not reclaimed"
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    assert_eq!(store.file(gone).await.unwrap(), None);
    assert_eq!(store.chunk(gone, 0).await.unwrap(), None);
    bob.expect(|e| matches!(e, Event::FileShared { id, .. } if *id == good))
        .await;
    h.stop().await;
}

/// A file shared with a room reaches its online members and is listed for them.
pub async fn room_files_reach_members<S: Store>(fx: &Fixture<S>) {
    let h = harness(fx, file_config());
    let ann = h.user("ann").await;
    let mut bob = h.user("bob").await;
    let cat = h.user("cat").await;
    ann.client.create_room("lobby").await.unwrap();
    bob.client.join_room("lobby").await.unwrap();
    let bytes = test_bytes(1500);
    let file = upload(
        &ann.client,
        Peer::Room("lobby".into()),
        "slides.key",
        &bytes,
    )
    .await
    .unwrap();
    bob.expect(|e| matches!(e, Event::FileShared { id, to: Peer::Room(r), .. } if *id == file && r == "lobby")).await;
    assert_eq!(download(&bob.client, file).await, bytes);
    assert_eq!(
        bob.client
            .files(Peer::Room("lobby".into()))
            .await
            .unwrap()
            .len(),
        1
    );
    assert_eq!(
        refused(cat.client.files(Peer::Room("lobby".into())).await),
        ErrorCode::NotRoomMember
    );
    assert_eq!(
        refused(cat.client.download_chunk(file, 0, 10).await),
        ErrorCode::NoSuchFile
    );
    h.stop().await;
}
