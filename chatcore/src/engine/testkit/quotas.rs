//! Quotas at their defaults: rooms per owner, open uploads per connection,
//! files and bytes stored per user, friend requests per pair. Each refusal has
//! its code, and honest use next to it goes on.

use super::files::{sha256, upload};
use super::{harness, refused, test_config, EVENT_TIMEOUT};
use crate::engine::ServerConfig;
use crate::protocol::{ErrorCode, Event, Peer};
use crate::store::testkit::Fixture;
use crate::store::Store;

/// The default quota of rooms per owner refuses the next room
/// `TooManyRooms`; other users are not affected, and deleting a room makes
/// room for another.
pub async fn rooms_per_owner_are_bounded<S: Store>(fx: &Fixture<S>) {
    let max = ServerConfig::default().max_rooms_per_owner;
    let h = harness(fx, test_config());
    let (ann, bob) = h.friends("ann", "bob").await;
    // A few connections, each within the default request burst.
    for first in (0..max).step_by(40) {
        let creator = h.login("ann").await;
        for i in first..(first + 40).min(max) {
            creator
                .client
                .create_room(&format!("room{i}"))
                .await
                .unwrap();
        }
    }
    assert_eq!(
        refused(ann.client.create_room("onemore").await),
        ErrorCode::TooManyRooms
    );
    // Joining is not owning.
    bob.client.join_room("room0").await.unwrap();
    bob.client.create_room("bobs").await.unwrap();
    ann.client.delete_room("room0").await.unwrap();
    ann.client.create_room("onemore").await.unwrap();
    assert_eq!(
        refused(ann.client.create_room("twomore").await),
        ErrorCode::TooManyRooms
    );
    ann.client.send_text("bob", "still chatting").await.unwrap();
    h.stop().await;
}

/// One connection may have the default number of uploads open; one more
/// offer is `TooManyUploads`, and completing one frees its place.
pub async fn open_uploads_per_connection_are_bounded<S: Store>(fx: &Fixture<S>) {
    let max = ServerConfig::default().max_uploads_per_connection;
    let h = harness(fx, test_config());
    let (ann, _bob) = h.friends("ann", "bob").await;
    let to = || Peer::User("bob".into());
    let bytes = b"a small file".to_vec();
    let mut offered = Vec::new();
    for i in 0..max {
        let name = format!("f{i}.txt");
        let (file, _) = ann
            .client
            .offer_file(to(), &name, bytes.len() as u64, sha256(&bytes))
            .await
            .unwrap();
        offered.push(file);
    }
    assert_eq!(
        refused(ann.client.offer_file(to(), "over.txt", 1, [0; 32]).await),
        ErrorCode::TooManyUploads
    );
    // Another connection of the same user has places of its own.
    let other = h.login("ann").await;
    upload(&other.client, to(), "elsewhere.txt", &bytes)
        .await
        .unwrap();
    ann.client
        .upload_chunk(offered[0], 0, bytes.clone())
        .await
        .unwrap();
    ann.client.complete_file(offered[0]).await.unwrap();
    upload(&ann.client, to(), "now.txt", &bytes).await.unwrap();
    h.stop().await;
}

/// Offers count against the uploader's stored bytes at their declared size:
/// at the defaults (1 GiB, offers of up to 50 MiB), the offer that would go
/// over is `QuotaExceeded` while chat goes on; abandoned offers give their
/// bytes back.
pub async fn stored_files_and_bytes_are_bounded_per_user<S: Store>(fx: &Fixture<S>) {
    let defaults = ServerConfig::default();
    let h = harness(fx, test_config());
    let (ann, mut bob) = h.friends("ann", "bob").await;
    let to = || Peer::User("bob".into());
    let size = defaults.max_file_size;
    let fit = defaults.max_stored_bytes_per_user / size;
    assert!(fit < defaults.max_files_per_user, "the bytes run out first");
    // Open offers, spread over connections (each has its own bound on them).
    let mut connections = Vec::new();
    let mut left = fit;
    while left > 0 {
        let c = h.login("ann").await;
        let here = left.min(defaults.max_uploads_per_connection as u64);
        for i in 0..here {
            c.client
                .offer_file(to(), &format!("big{left}-{i}.bin"), size, [0; 32])
                .await
                .unwrap();
        }
        left -= here;
        connections.push(c);
    }
    assert_eq!(
        refused(ann.client.offer_file(to(), "over.bin", size, [0; 32]).await),
        ErrorCode::QuotaExceeded
    );
    let sent = ann
        .client
        .send_text("bob", "over quota, still chatting")
        .await
        .unwrap();
    bob.expect(|e| matches!(e, Event::Message(m) if m.id == sent.id))
        .await;
    // Their connection gone, its offers are deleted and their bytes free.
    drop(connections.pop());
    let deadline = tokio::time::Instant::now() + EVENT_TIMEOUT;
    loop {
        match ann.client.offer_file(to(), "fits.bin", size, [0; 32]).await {
            Ok(_) => break,
            Err(e) => assert_eq!(e.code(), Some(ErrorCode::QuotaExceeded)),
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "an abandoned offer gives its bytes back"
        );
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    h.stop().await;
}

/// A user's completed files count against the file quota: the next offer is
/// `QuotaExceeded`, for that user only.
pub async fn stored_files_are_bounded_per_user<S: Store>(fx: &Fixture<S>) {
    let mut config = test_config();
    config.max_files_per_user = 2;
    let h = harness(fx, config);
    let (ann, bob) = h.friends("ann", "bob").await;
    let to_bob = || Peer::User("bob".into());
    for name in ["one.txt", "two.txt"] {
        upload(&ann.client, to_bob(), name, b"content")
            .await
            .unwrap();
    }
    assert_eq!(
        refused(
            ann.client
                .offer_file(to_bob(), "three.txt", 1, [0; 32])
                .await
        ),
        ErrorCode::QuotaExceeded
    );
    upload(&bob.client, Peer::User("ann".into()), "reply.txt", b"mine")
        .await
        .unwrap();
    ann.client.send_text("bob", "still chatting").await.unwrap();
    h.stop().await;
}

/// A requester may ask one user the default number of times a day; blocking,
/// unblocking or being declined in between does not reset it.
pub async fn friend_requests_to_one_user_are_bounded_per_day<S: Store>(fx: &Fixture<S>) {
    let max = ServerConfig::default().friend_requests_per_pair;
    let h = harness(fx, test_config());
    let ann = h.user("ann").await;
    let mut bob = h.user("bob").await;
    h.register("cat").await;
    for i in 0..max {
        ann.client.friend_request("bob", "again?").await.unwrap();
        bob.expect(|e| matches!(e, Event::FriendRequested { from, .. } if from == "ann"))
            .await;
        if i % 2 == 0 {
            ann.client.block("bob").await.unwrap();
            ann.client.unblock("bob").await.unwrap();
        } else {
            bob.client.respond_friend("ann", false).await.unwrap();
        }
    }
    assert_eq!(
        refused(ann.client.friend_request("bob", "once more").await),
        ErrorCode::TooManyRequestsToUser
    );
    ann.client.friend_request("cat", "hello").await.unwrap();
    // The other direction is its own pair.
    bob.client.friend_request("ann", "my turn").await.unwrap();
    h.stop().await;
}
