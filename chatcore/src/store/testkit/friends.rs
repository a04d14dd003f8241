//! Friends: requests, answers, removal and blocking, and the bound on open
//! requests.

use super::{befriend, inbox, user, Fixture, MAX_PENDING};
use crate::friends::{FriendAction, LinkState};
use crate::protocol::{ErrorCode, Event};
use crate::store::{Store, UserId};

/// A request leaves Outgoing/Incoming links and a notice; accept makes both
/// friends and tells both.
pub async fn friend_request_and_accept<S: Store>(fx: &Fixture<S>) {
    let store = fx.open();
    let (a, b) = (user(&store, "ann").await, user(&store, "bob").await);
    let req = FriendAction::Request {
        note: "it's ann".into(),
    };
    let out = store
        .friend_op(&a, &b, req, MAX_PENDING)
        .await
        .unwrap()
        .unwrap();
    assert!(out.link.is_outgoing());
    assert_eq!(out.notices.len(), 1);
    assert_eq!(out.notices[0].recipient, b.id);
    assert!(matches!(&out.notices[0].item.event,
        Event::FriendRequested { from, note, .. } if from == "ann" && note == "it's ann"));
    assert_eq!(
        store.link(b.id, a.id).await.unwrap().state,
        LinkState::Incoming {
            note: "it's ann".into()
        }
    );
    // The request waits in b's stream.
    assert_eq!(
        inbox(&store, b.id).await,
        vec![out.notices[0].item.event.clone()]
    );

    let accept = FriendAction::Respond { accept: true };
    let out = store
        .friend_op(&b, &a, accept, MAX_PENDING)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(out.link.state, LinkState::Friends);
    let mut told: Vec<UserId> = out.notices.iter().map(|n| n.recipient).collect();
    told.sort();
    assert_eq!(told, vec![a.id, b.id]);
    for (owner, other) in [(&a, &b), (&b, &a)] {
        let links = store.links(owner.id).await.unwrap();
        assert_eq!(links.len(), 1);
        assert_eq!(links[0].0, *other);
        assert_eq!(links[0].1.state, LinkState::Friends);
    }
    assert!(matches!(inbox(&store, a.id).await.as_slice(),
        [Event::FriendAdded { user, .. }] if user == "bob"));
}

/// Reject clears both links and tells the requester.
pub async fn friend_request_and_reject<S: Store>(fx: &Fixture<S>) {
    let store = fx.open();
    let (a, b) = (user(&store, "ann").await, user(&store, "bob").await);
    let req = FriendAction::Request {
        note: String::new(),
    };
    store
        .friend_op(&a, &b, req, MAX_PENDING)
        .await
        .unwrap()
        .unwrap();
    let reject = FriendAction::Respond { accept: false };
    let out = store
        .friend_op(&b, &a, reject, MAX_PENDING)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(out.notices.len(), 1);
    assert_eq!(out.notices[0].recipient, a.id);
    assert!(
        matches!(&out.notices[0].item.event, Event::FriendRejected { user, .. } if user == "bob")
    );
    assert!(store.links(a.id).await.unwrap().is_empty());
    assert!(store.links(b.id).await.unwrap().is_empty());
}

/// A request crossing one the other way makes friends at once.
pub async fn crossing_requests_make_friends<S: Store>(fx: &Fixture<S>) {
    let store = fx.open();
    let (a, b) = (user(&store, "ann").await, user(&store, "bob").await);
    let req = FriendAction::Request {
        note: String::new(),
    };
    store
        .friend_op(&a, &b, req.clone(), MAX_PENDING)
        .await
        .unwrap()
        .unwrap();
    let out = store
        .friend_op(&b, &a, req, MAX_PENDING)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(out.link.state, LinkState::Friends);
    assert_eq!(
        store.link(a.id, b.id).await.unwrap().state,
        LinkState::Friends
    );
}

/// Open outgoing requests are bounded; answering one frees a slot.
pub async fn pending_requests_are_bounded<S: Store>(fx: &Fixture<S>) {
    let store = fx.open();
    let a = user(&store, "ann").await;
    let others = [
        user(&store, "bob").await,
        user(&store, "cat").await,
        user(&store, "dan").await,
    ];
    let req = FriendAction::Request {
        note: String::new(),
    };
    for other in &others[..MAX_PENDING] {
        store
            .friend_op(&a, other, req.clone(), MAX_PENDING)
            .await
            .unwrap()
            .unwrap();
    }
    assert_eq!(
        store
            .friend_op(&a, &others[2], req.clone(), MAX_PENDING)
            .await
            .unwrap(),
        Err(ErrorCode::TooManyPendingRequests)
    );
    let accept = FriendAction::Respond { accept: true };
    store
        .friend_op(&others[0], &a, accept, MAX_PENDING)
        .await
        .unwrap()
        .unwrap();
    store
        .friend_op(&a, &others[2], req, MAX_PENDING)
        .await
        .unwrap()
        .unwrap();
}

/// Remove deletes both edges; block ends friendship and stops requests both ways.
pub async fn remove_and_block<S: Store>(fx: &Fixture<S>) {
    let store = fx.open();
    let (a, b) = (user(&store, "ann").await, user(&store, "bob").await);
    befriend(&store, &a, &b).await;
    let out = store
        .friend_op(&a, &b, FriendAction::Remove, MAX_PENDING)
        .await
        .unwrap()
        .unwrap();
    assert!(matches!(&out.notices[..], [n] if n.recipient == b.id
        && matches!(&n.item.event, Event::FriendRemoved { user, .. } if user == "ann")));
    assert!(store.links(a.id).await.unwrap().is_empty());
    assert!(store.links(b.id).await.unwrap().is_empty());

    befriend(&store, &a, &b).await;
    store
        .friend_op(&a, &b, FriendAction::Block, MAX_PENDING)
        .await
        .unwrap()
        .unwrap();
    let link = store.link(a.id, b.id).await.unwrap();
    assert!(link.blocked);
    assert_eq!(store.link(b.id, a.id).await.unwrap().state, LinkState::None);
    let req = FriendAction::Request {
        note: String::new(),
    };
    for (x, y) in [(&a, &b), (&b, &a)] {
        assert_eq!(
            store
                .friend_op(x, y, req.clone(), MAX_PENDING)
                .await
                .unwrap(),
            Err(ErrorCode::Blocked)
        );
    }
    store
        .friend_op(&a, &b, FriendAction::Unblock, MAX_PENDING)
        .await
        .unwrap()
        .unwrap();
    assert!(store.links(a.id).await.unwrap().is_empty());
    store
        .friend_op(&b, &a, req, MAX_PENDING)
        .await
        .unwrap()
        .unwrap();
}

/// A refused operation writes nothing: no link, no notice.
pub async fn refusals_change_nothing<S: Store>(fx: &Fixture<S>) {
    let store = fx.open();
    let (a, b) = (user(&store, "ann").await, user(&store, "bob").await);
    for action in [FriendAction::Remove, FriendAction::Respond { accept: true }] {
        assert!(store
            .friend_op(&a, &b, action, MAX_PENDING)
            .await
            .unwrap()
            .is_err());
    }
    assert!(store.links(a.id).await.unwrap().is_empty());
    assert!(inbox(&store, b.id).await.is_empty());
    let req = FriendAction::Request {
        note: String::new(),
    };
    store
        .friend_op(&a, &b, req.clone(), MAX_PENDING)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        store.friend_op(&a, &b, req, MAX_PENDING).await.unwrap(),
        Err(ErrorCode::AlreadyRequested)
    );
    assert_eq!(inbox(&store, b.id).await.len(), 1);
    let to_self = FriendAction::Request {
        note: String::new(),
    };
    assert_eq!(
        store.friend_op(&a, &a, to_self, MAX_PENDING).await.unwrap(),
        Err(ErrorCode::CannotBefriendSelf)
    );
    assert!(
        store.links(a.id).await.unwrap().len() == 1,
        "only the link to b"
    );
}

/// A user's links page by the other user's id, each page after the last id of
/// the one before, and together are what `links` lists.
pub async fn links_page_by_id<S: Store>(fx: &Fixture<S>) {
    let store = fx.open();
    let ann = user(&store, "ann").await;
    for i in 0..5 {
        let other = user(&store, &format!("user{i}")).await;
        store
            .friend_op(&ann, &other, FriendAction::Block, MAX_PENDING)
            .await
            .unwrap()
            .unwrap();
    }
    let all = store.links(ann.id).await.unwrap();
    assert_eq!(all.len(), 5);
    let mut seen = Vec::new();
    let mut after = None;
    loop {
        let page = store.links_page(ann.id, after, 2).await.unwrap();
        assert!(page.len() <= 2);
        let Some((last, _)) = page.last() else { break };
        after = Some(last.id);
        seen.extend(page);
    }
    assert_eq!(seen, all);
}
