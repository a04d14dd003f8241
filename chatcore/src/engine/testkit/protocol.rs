//! The protocol's edges: every refusal's code, protocol violations, and acks
//! in both protocol versions.

use super::{harness, password, refused, test_config};
use crate::protocol::{
    limits, Body, ClientFrame, ErrorCode, Event, Peer, Request, Response, ServerFrame,
    OLDEST_PROTOCOL_VERSION, PROTOCOL_VERSION,
};
use crate::store::testkit::Fixture;
use crate::store::Store;

/// Every refusal reachable from the API carries its documented code.
pub async fn error_codes_are_documented_ones<S: Store>(fx: &Fixture<S>) {
    let h = harness(fx, test_config());
    let anon = h.connect().await;
    let c = &anon.client;
    assert_eq!(refused(c.friends().await), ErrorCode::NotAuthenticated);
    assert_eq!(
        refused(c.send_text("x", "y").await),
        ErrorCode::NotAuthenticated
    );
    assert_eq!(
        refused(c.register("ab", "long-enough").await),
        ErrorCode::InvalidUsername
    );
    assert_eq!(
        refused(c.register("has space", "long-enough").await),
        ErrorCode::InvalidUsername
    );
    assert_eq!(
        refused(c.register("ann", "short").await),
        ErrorCode::InvalidPassword
    );
    c.register("Ann", &password("ann")).await.unwrap();
    assert_eq!(
        refused(c.register("aNN", "whatever-123").await),
        ErrorCode::UsernameTaken
    );
    assert_eq!(
        refused(c.login("ann", "wrong-password").await),
        ErrorCode::InvalidCredentials
    );
    assert_eq!(
        refused(c.login("nobody", "wrong-password").await),
        ErrorCode::InvalidCredentials
    );
    assert_eq!(c.login("ANN", &password("ann")).await.unwrap(), "Ann");
    assert_eq!(
        refused(c.login("ann", &password("ann")).await),
        ErrorCode::AlreadyAuthenticated
    );
    assert_eq!(
        refused(c.friend_request("nobody", "").await),
        ErrorCode::NoSuchUser
    );
    assert_eq!(
        refused(c.friend_request("ann", "").await),
        ErrorCode::CannotBefriendSelf
    );
    assert_eq!(
        refused(c.send_text("nobody", "hi").await),
        ErrorCode::NoSuchUser
    );
    h.register("bob").await;
    assert_eq!(
        refused(c.send_text("bob", "hi").await),
        ErrorCode::NotFriends
    );
    assert_eq!(
        refused(c.respond_friend("bob", true).await),
        ErrorCode::NoSuchRequest
    );
    let long_note = "n".repeat(crate::protocol::limits::MAX_NOTE_LEN + 1);
    assert_eq!(
        refused(c.friend_request("bob", &long_note).await),
        ErrorCode::InvalidArgument
    );
    c.friend_request("bob", "").await.unwrap();
    assert_eq!(
        refused(c.friend_request("bob", "").await),
        ErrorCode::AlreadyRequested
    );
    let mut bob = h.login("bob").await;
    bob.client.respond_friend("Ann", true).await.unwrap();
    assert_eq!(
        refused(c.friend_request("bob", "").await),
        ErrorCode::AlreadyFriends
    );
    assert_eq!(
        refused(c.send_text("bob", "").await),
        ErrorCode::InvalidMessage
    );
    let huge = "x".repeat(crate::protocol::limits::MAX_TEXT_LEN + 1);
    assert_eq!(
        refused(c.send_text("bob", &huge).await),
        ErrorCode::InvalidMessage
    );
    let to_room = c
        .send(Peer::Room("lobby".into()), 1, Body::Text("hi".into()))
        .await;
    assert_eq!(refused(to_room), ErrorCode::NoSuchRoom);
    let big_ack = c
        .ack(vec![0; crate::protocol::limits::MAX_ACK_IDS + 1])
        .await;
    assert_eq!(refused(big_ack), ErrorCode::InvalidArgument);
    bob.assert_quiet_except_presence().await;
    h.stop().await;
}

/// Bad frame orders close the connection with `Closing`; others keep working.
pub async fn protocol_violations_close<S: Store>(fx: &Fixture<S>) {
    use futures::{SinkExt, StreamExt};
    let h = harness(fx, test_config());
    let ann = h.user("ann").await;

    // A request before hello.
    let mut raw = h.connector.connect().await.unwrap();
    raw.send(ClientFrame::Request {
        req_id: 1,
        request: Request::Ping,
    })
    .await
    .unwrap();
    assert_eq!(
        raw.next().await.unwrap().unwrap(),
        ServerFrame::Event(Event::Closing {
            code: ErrorCode::ProtocolViolation
        })
    );
    assert!(raw.next().await.is_none());

    // Too old a version: the server says its own version, then closes.
    let mut raw = h.connector.connect().await.unwrap();
    raw.send(ClientFrame::Hello {
        version: OLDEST_PROTOCOL_VERSION - 1,
        client: "ancient".into(),
    })
    .await
    .unwrap();
    assert!(
        matches!(raw.next().await.unwrap().unwrap(), ServerFrame::Hello { version, .. } if version == PROTOCOL_VERSION)
    );
    assert_eq!(
        raw.next().await.unwrap().unwrap(),
        ServerFrame::Event(Event::Closing {
            code: ErrorCode::UnsupportedVersion
        })
    );

    // A second hello.
    let mut raw = h.connector.connect().await.unwrap();
    let hello = ClientFrame::Hello {
        version: PROTOCOL_VERSION,
        client: "twice".into(),
    };
    raw.send(hello.clone()).await.unwrap();
    assert!(matches!(
        raw.next().await.unwrap().unwrap(),
        ServerFrame::Hello { .. }
    ));
    raw.send(hello).await.unwrap();
    assert_eq!(
        raw.next().await.unwrap().unwrap(),
        ServerFrame::Event(Event::Closing {
            code: ErrorCode::ProtocolViolation
        })
    );

    ann.sync().await;
    h.stop().await;
}

/// Hellos from a newer client and from a version-1 client each get the version
/// the connection uses. A version-1 client's `Request::Ack` is answered; an
/// unanswered ack is not, is ignored before login, and closes the connection when
/// it has too many ids.
pub async fn acks_in_both_protocol_versions<S: Store>(fx: &Fixture<S>) {
    use futures::{SinkExt, StreamExt};
    let h = harness(fx, test_config());
    let (mut ann, bob) = h.friends("ann", "bob").await;
    bob.client.logout().await.unwrap();
    drop(bob);
    let hello = |version| ClientFrame::Hello {
        version,
        client: "raw".into(),
    };
    let request = |req_id, request| ClientFrame::Request { req_id, request };

    let mut future = h.connector.connect().await.unwrap();
    future.send(hello(PROTOCOL_VERSION + 1)).await.unwrap();
    assert!(matches!(
        future.next().await.unwrap().unwrap(),
        ServerFrame::Hello { version, .. } if version == PROTOCOL_VERSION
    ));

    // Version 1: bob's ack is answered, and ann gets the receipt.
    let mut old = h.connector.connect().await.unwrap();
    old.send(hello(1)).await.unwrap();
    assert!(matches!(
        old.next().await.unwrap().unwrap(),
        ServerFrame::Hello { version: 1, .. }
    ));
    let login = Request::Login {
        username: "bob".into(),
        password: password("bob"),
    };
    old.send(request(1, login)).await.unwrap();
    assert!(matches!(
        old.next().await.unwrap().unwrap(),
        ServerFrame::Response {
            req_id: 1,
            result: Ok(Response::LoggedIn { .. })
        }
    ));
    assert_eq!(
        old.next().await.unwrap().unwrap(),
        ServerFrame::Event(Event::CaughtUp)
    );
    let sent = ann.client.send_text("bob", "hi").await.unwrap();
    let message = loop {
        if let ServerFrame::Event(Event::Message(m)) = old.next().await.unwrap().unwrap() {
            break m;
        }
    };
    assert_eq!(message.id, sent.id);
    old.send(request(2, Request::Ack { ids: vec![sent.id] }))
        .await
        .unwrap();
    assert_eq!(
        old.next().await.unwrap().unwrap(),
        ServerFrame::Response {
            req_id: 2,
            result: Ok(Response::Done)
        }
    );
    ann.expect(|e| *e == super::delivered_to("bob", sent.seq))
        .await;

    // An unanswered ack before login is ignored: the ping's answer comes next.
    let mut new = h.connector.connect().await.unwrap();
    new.send(hello(PROTOCOL_VERSION)).await.unwrap();
    new.next().await.unwrap().unwrap();
    new.send(ClientFrame::Ack { ids: vec![sent.id] })
        .await
        .unwrap();
    new.send(request(1, Request::Ping)).await.unwrap();
    assert_eq!(
        new.next().await.unwrap().unwrap(),
        ServerFrame::Response {
            req_id: 1,
            result: Ok(Response::Pong)
        }
    );
    // Too many ids: nothing to answer, so the connection closes.
    let ids = vec![sent.id; limits::MAX_ACK_IDS + 1];
    new.send(ClientFrame::Ack { ids }).await.unwrap();
    assert_eq!(
        new.next().await.unwrap().unwrap(),
        ServerFrame::Event(Event::Closing {
            code: ErrorCode::InvalidArgument
        })
    );
    assert!(new.next().await.is_none());
    h.stop().await;
}
