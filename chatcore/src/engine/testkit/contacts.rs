//! Friends and presence: requests, crossing requests, remove, block, who sees
//! whom come and go, and the duplicate-login policies.

use super::{harness, password, refused, test_config};
use crate::engine::DuplicateLogin;
use crate::protocol::{ErrorCode, Event, FriendState};
use crate::store::testkit::Fixture;
use crate::store::Store;

/// A friend request to an offline user waits; accepted at their next login,
/// both sides are told.
pub async fn friend_request_to_offline_user<S: Store>(fx: &Fixture<S>) {
    let h = harness(fx, test_config());
    let mut ann = h.user("ann").await;
    h.register("bob").await;
    assert!(!ann
        .client
        .friend_request("bob", "remember me?")
        .await
        .unwrap());
    let mut bob = h.login_raw("bob").await;
    let req = bob.next_event().await;
    assert!(
        matches!(&req, Event::FriendRequested { from, note, .. } if from == "ann" && note == "remember me?"),
        "{req:?}"
    );
    bob.expect(|e| *e == Event::CaughtUp).await;
    let pending = bob.client.friends().await.unwrap();
    assert_eq!(pending.len(), 1);
    assert_eq!(pending[0].state, FriendState::RequestReceived);
    bob.client.respond_friend("ann", true).await.unwrap();
    ann.expect(|e| matches!(e, Event::FriendAdded { user, .. } if user == "bob"))
        .await;
    bob.expect(|e| matches!(e, Event::FriendAdded { user, .. } if user == "ann"))
        .await;
    let friends = ann.client.friends().await.unwrap();
    assert_eq!(friends.len(), 1);
    assert_eq!(
        (
            friends[0].user.as_str(),
            friends[0].state,
            friends[0].online
        ),
        ("bob", FriendState::Friends, true)
    );
    // A second login of bob does not see the request again.
    bob.sync().await;
    drop(bob);
    let mut bob = h.login_raw("bob").await;
    assert_eq!(bob.next_event().await, Event::CaughtUp);
    h.stop().await;
}

/// Requests crossing each other make friends at once.
pub async fn crossing_requests_become_friends<S: Store>(fx: &Fixture<S>) {
    let h = harness(fx, test_config());
    let mut ann = h.user("ann").await;
    let mut bob = h.user("bob").await;
    assert!(!ann.client.friend_request("bob", "").await.unwrap());
    assert!(bob.client.friend_request("ann", "").await.unwrap());
    ann.expect(|e| matches!(e, Event::FriendAdded { user, .. } if user == "bob"))
        .await;
    bob.expect(|e| matches!(e, Event::FriendAdded { user, .. } if user == "ann"))
        .await;
    ann.client.send_text("bob", "we're friends").await.unwrap();
    h.stop().await;
}

/// Removing a friend tells them and stops chat both ways.
pub async fn remove_friend_stops_chat<S: Store>(fx: &Fixture<S>) {
    let h = harness(fx, test_config());
    let (ann, mut bob) = h.friends("ann", "bob").await;
    ann.client.remove_friend("bob").await.unwrap();
    bob.expect(|e| matches!(e, Event::FriendRemoved { user, .. } if user == "ann"))
        .await;
    assert_eq!(
        refused(ann.client.send_text("bob", "hi").await),
        ErrorCode::NotFriends
    );
    assert_eq!(
        refused(bob.client.send_text("ann", "hi").await),
        ErrorCode::NotFriends
    );
    assert_eq!(
        refused(ann.client.remove_friend("bob").await),
        ErrorCode::NotFriends
    );
    h.stop().await;
}

/// A block stops requests and chat from either side; unblock lifts it.
pub async fn block_stops_requests_and_chat<S: Store>(fx: &Fixture<S>) {
    let h = harness(fx, test_config());
    let (ann, mut bob) = h.friends("ann", "bob").await;
    ann.client.block("bob").await.unwrap();
    bob.expect(|e| matches!(e, Event::FriendRemoved { .. }))
        .await;
    assert_eq!(
        refused(bob.client.send_text("ann", "hi").await),
        ErrorCode::Blocked
    );
    assert_eq!(
        refused(bob.client.friend_request("ann", "").await),
        ErrorCode::Blocked
    );
    assert_eq!(
        refused(ann.client.friend_request("bob", "").await),
        ErrorCode::Blocked
    );
    let list = ann.client.friends().await.unwrap();
    assert_eq!(list[0].state, FriendState::Blocked);
    ann.client.unblock("bob").await.unwrap();
    assert!(!bob.client.friend_request("ann", "again?").await.unwrap());
    h.stop().await;
}

/// Friends see each other come and go; strangers see nothing; online lists and
/// counts follow.
pub async fn presence_reaches_friends_not_strangers<S: Store>(fx: &Fixture<S>) {
    let h = harness(fx, test_config());
    let mut ann = h.user("ann").await;
    let mut bob = h.user("bob").await;
    let mut cat = h.user("cat").await;
    h.befriend(&mut ann, "ann", &mut bob, "bob").await;
    assert_eq!(ann.client.online_friends().await.unwrap(), vec!["bob"]);
    assert_eq!(cat.client.online_count().await.unwrap(), 3);

    bob.client.logout().await.unwrap();
    ann.expect(|e| {
        *e == Event::Presence {
            user: "bob".into(),
            online: false,
        }
    })
    .await;
    assert!(ann.client.online_friends().await.unwrap().is_empty());
    assert_eq!(ann.client.online_count().await.unwrap(), 2);

    bob.client.login("bob", &password("bob")).await.unwrap();
    ann.expect(|e| {
        *e == Event::Presence {
            user: "bob".into(),
            online: true,
        }
    })
    .await;
    // bob learns who is online by asking.
    bob.expect(|e| *e == Event::CaughtUp).await;
    assert_eq!(bob.client.online_friends().await.unwrap(), vec!["ann"]);

    drop(bob); // a dropped connection counts as leaving
    ann.expect(|e| {
        *e == Event::Presence {
            user: "bob".into(),
            online: false,
        }
    })
    .await;
    cat.assert_quiet().await;
    h.stop().await;
}

/// With `ReplaceOld`, a second login kicks the first session; friends see no
/// offline blip.
pub async fn replace_policy_kicks_old_session<S: Store>(fx: &Fixture<S>) {
    let mut config = test_config();
    config.duplicate_login = DuplicateLogin::ReplaceOld;
    let h = harness(fx, config);
    let (mut ann, mut bob) = h.friends("ann", "bob").await;
    let mut bob2 = h.login("bob").await;
    let kicked = bob.next_event().await;
    assert!(matches!(kicked, Event::Kicked { .. }), "{kicked:?}");
    assert!(
        bob.events.next().await.is_none(),
        "the kicked connection closes"
    );
    let sent = ann
        .client
        .send_text("bob", "to the new session")
        .await
        .unwrap();
    bob2.expect(|e| matches!(e, Event::Message(m) if m.id == sent.id))
        .await;
    ann.assert_quiet_except(|e| matches!(e, Event::DeliveredTo { .. }))
        .await;
    assert_eq!(ann.client.online_friends().await.unwrap(), vec!["bob"]);
    h.stop().await;
}

/// With `Allow`, every session of the user gets the message; the user stays
/// online until the last one leaves.
pub async fn allow_policy_delivers_to_every_session<S: Store>(fx: &Fixture<S>) {
    let h = harness(fx, test_config());
    let (mut ann, mut bob) = h.friends("ann", "bob").await;
    let mut bob2 = h.login("bob").await;
    let sent = ann.client.send_text("bob", "to both").await.unwrap();
    for b in [&mut bob, &mut bob2] {
        b.expect(|e| matches!(e, Event::Message(m) if m.id == sent.id))
            .await;
    }
    drop(bob2);
    assert_eq!(ann.client.online_friends().await.unwrap(), vec!["bob"]);
    ann.assert_quiet_except(|e| matches!(e, Event::DeliveredTo { .. }))
        .await;
    h.stop().await;
}
