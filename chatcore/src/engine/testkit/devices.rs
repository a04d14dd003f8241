//! Devices: logging in as one, listing them, revoking one.

use super::{harness, password, refused, test_config, TestClient};
use crate::protocol::{DeviceClaim, ErrorCode, Event, Peer};
use crate::store::testkit::Fixture;
use crate::store::Store;

async fn as_device(h: &super::Harness, claim: DeviceClaim) -> (TestClient, u64) {
    let mut c = h.connect().await;
    let id = c
        .client
        .login_device("ann", &password("ann"), claim)
        .await
        .expect("login as a device");
    c.expect(|e| *e == Event::CaughtUp).await;
    (c, id)
}

/// Two devices of one user: each gets an id, the list shows both and which
/// are online; a known device logs in again under its id; revoking one closes
/// its session (`DeviceRevoked`) and its id no longer logs in; a login that
/// names no device still works.
pub async fn devices_log_in_list_and_revoke<S: Store>(fx: &Fixture<S>) {
    let h = harness(fx, test_config());
    h.register("ann").await;
    let new = |name: &str| DeviceClaim::New { name: name.into() };
    let (laptop, laptop_id) = as_device(&h, new("laptop")).await;
    let (phone, phone_id) = as_device(&h, new("phone")).await;
    assert_ne!(laptop_id, phone_id);
    let listed = |list: Vec<crate::protocol::DeviceInfo>| {
        list.into_iter()
            .map(|d| (d.id, d.name, d.online))
            .collect::<Vec<_>>()
    };
    assert_eq!(
        listed(laptop.client.devices().await.unwrap()),
        vec![
            (laptop_id, "laptop".to_string(), true),
            (phone_id, "phone".to_string(), true)
        ]
    );
    phone.client.logout().await.unwrap();
    assert_eq!(
        listed(laptop.client.devices().await.unwrap())[1],
        (phone_id, "phone".to_string(), false)
    );
    let again = phone
        .client
        .login_device("ann", &password("ann"), DeviceClaim::Known { id: phone_id })
        .await
        .unwrap();
    assert_eq!(again, phone_id, "a known device keeps its id");
    let mut phone = phone;
    laptop.client.revoke_device(phone_id).await.unwrap();
    phone
        .expect(|e| {
            *e == Event::Closing {
                code: ErrorCode::DeviceRevoked,
            }
        })
        .await;
    let c = h.connect().await;
    assert_eq!(
        refused(
            c.client
                .login_device("ann", &password("ann"), DeviceClaim::Known { id: phone_id })
                .await
        ),
        ErrorCode::UnknownDevice
    );
    assert_eq!(
        refused(
            c.client
                .login_device("ann", &password("ann"), new("bad\nname"))
                .await
        ),
        ErrorCode::InvalidDeviceName
    );
    assert_eq!(
        refused(laptop.client.revoke_device(phone_id).await),
        ErrorCode::UnknownDevice
    );
    assert_eq!(listed(laptop.client.devices().await.unwrap()).len(), 1);
    c.client.login("ann", &password("ann")).await.unwrap();
    h.stop().await;
}

/// `user` on a new connection as the device `claim`, with the events up to
/// and with `CaughtUp`; the device's id.
async fn login_as(
    h: &super::Harness,
    user: &str,
    claim: DeviceClaim,
) -> (TestClient, u64, Vec<Event>) {
    let mut c = h.connect().await;
    let id = c
        .client
        .login_device(user, &password(user), claim)
        .await
        .expect("login as a device");
    let mut backlog = Vec::new();
    loop {
        let event = c.next_event().await;
        if event == Event::CaughtUp {
            return (c, id, backlog);
        }
        backlog.push(event);
    }
}

fn new(name: &str) -> DeviceClaim {
    DeviceClaim::New { name: name.into() }
}

/// The ids of the messages among `events`, in order.
fn message_ids(events: &[Event]) -> Vec<u64> {
    events
        .iter()
        .filter_map(|e| match e {
            Event::Message(m) => Some(m.id),
            _ => None,
        })
        .collect()
}

/// Reads `c`'s events until the messages `ids` came, in that order; fails on
/// any other message.
async fn expect_messages(c: &mut TestClient, ids: &[u64]) {
    let mut got = Vec::new();
    while got.len() < ids.len() {
        if let Event::Message(m) = c.next_event().await {
            got.push(m.id);
        }
    }
    assert_eq!(got, ids);
}

/// ann and bob, friends; ann's login on no device is gone (logged out and
/// revoked, so that it holds nothing back), and ann is on `online` devices.
async fn ann_on_devices(
    h: &super::Harness,
    online: &[&str],
) -> (Vec<(TestClient, u64)>, TestClient) {
    let (ann, bob) = h.friends("ann", "bob").await;
    let default = ann.client.devices().await.unwrap()[0].id;
    ann.client.logout().await.unwrap();
    let mut devices = Vec::new();
    for name in online {
        let (c, id, _) = login_as(h, "ann", new(name)).await;
        devices.push((c, id));
    }
    devices[0].0.client.revoke_device(default).await.unwrap();
    (devices, bob)
}

/// A user with three devices, one of them offline: a message reaches all
/// three, in order, once (the offline one at its login), and an ack on one
/// never takes it from another; the sender is told once it is delivered.
pub async fn every_device_gets_every_message<S: Store>(fx: &Fixture<S>) {
    let h = harness(fx, test_config());
    let (mut devices, mut bob) = ann_on_devices(&h, &["laptop", "phone", "tablet"]).await;
    let (tablet, tablet_id) = devices.pop().unwrap();
    tablet.client.logout().await.unwrap();
    drop(tablet);
    let one = bob.client.send_text("ann", "one").await.unwrap();
    let two = bob.client.send_text("ann", "two").await.unwrap();
    for (c, _) in &mut devices {
        expect_messages(c, &[one.id, two.id]).await;
        c.sync().await; // acked
    }
    bob.expect(|e| *e == super::delivered_to("ann", two.seq))
        .await;
    let (_tablet, _, backlog) = login_as(&h, "ann", DeviceClaim::Known { id: tablet_id }).await;
    assert_eq!(message_ids(&backlog), [one.id, two.id]);
    // Acked on the phone: not again at its next login.
    let (phone, phone_id) = devices.pop().unwrap();
    drop(phone);
    let (_phone, _, backlog) = login_as(&h, "ann", DeviceClaim::Known { id: phone_id }).await;
    assert_eq!(message_ids(&backlog), Vec::<u64>::new());
    h.stop().await;
}

/// A message a user sends from one device reaches their other devices (live,
/// and the offline one at its login), never the device it was sent from.
pub async fn an_own_message_reaches_the_other_devices<S: Store>(fx: &Fixture<S>) {
    let h = harness(fx, test_config());
    let (mut devices, mut bob) = ann_on_devices(&h, &["laptop", "phone", "tablet"]).await;
    let (tablet, tablet_id) = devices.pop().unwrap();
    tablet.client.logout().await.unwrap();
    drop(tablet);
    let (mut phone, _) = devices.pop().unwrap();
    let (mut laptop, laptop_id) = devices.pop().unwrap();
    let sent = laptop
        .client
        .send_text("bob", "from the laptop")
        .await
        .unwrap();
    let on_phone = phone
        .expect(|e| matches!(e, Event::Message(m) if m.id == sent.id))
        .await;
    assert!(
        matches!(&on_phone, Event::Message(m) if m.from == "ann" && m.to == Peer::User("bob".into()))
    );
    expect_messages(&mut bob, &[sent.id]).await;
    let (_tablet, _, backlog) = login_as(&h, "ann", DeviceClaim::Known { id: tablet_id }).await;
    assert_eq!(message_ids(&backlog), [sent.id]);
    laptop.sync().await;
    laptop
        .assert_quiet_except(|e| !matches!(e, Event::Message(_)))
        .await;
    drop(laptop);
    let (_laptop, _, backlog) = login_as(&h, "ann", DeviceClaim::Known { id: laptop_id }).await;
    assert_eq!(
        message_ids(&backlog),
        Vec::<u64>::new(),
        "never to its own device"
    );
    h.stop().await;
}

/// An item of the stream is kept until every active device is past it: an
/// offline device holds it, a revoked one no longer does.
pub async fn an_item_is_let_go_only_after_every_active_device_passed_it<S: Store>(fx: &Fixture<S>) {
    let h = harness(fx, test_config());
    let (mut devices, bob) = ann_on_devices(&h, &["laptop", "tablet"]).await;
    let ann = h
        .store()
        .account_by_name("ann")
        .await
        .unwrap()
        .unwrap()
        .user;
    let kept = || async { h.store().stream(ann.id, 0, 100).await.unwrap().len() };
    let (tablet, tablet_id) = devices.pop().unwrap();
    tablet.client.logout().await.unwrap();
    drop(tablet);
    let (mut laptop, _) = devices.pop().unwrap();
    let one = bob.client.send_text("ann", "one").await.unwrap();
    expect_messages(&mut laptop, &[one.id]).await;
    laptop.sync().await;
    assert_eq!(kept().await, 1, "the offline tablet holds it");
    let (tablet, _, backlog) = login_as(&h, "ann", DeviceClaim::Known { id: tablet_id }).await;
    assert_eq!(message_ids(&backlog), [one.id]);
    tablet.sync().await;
    assert_eq!(kept().await, 0, "both passed it");
    drop(tablet);
    let two = bob.client.send_text("ann", "two").await.unwrap();
    expect_messages(&mut laptop, &[two.id]).await;
    laptop.sync().await;
    assert_eq!(kept().await, 1);
    laptop.client.revoke_device(tablet_id).await.unwrap();
    let three = bob.client.send_text("ann", "three").await.unwrap();
    expect_messages(&mut laptop, &[three.id]).await;
    laptop.sync().await;
    assert_eq!(kept().await, 0, "a revoked device holds nothing back");
    h.stop().await;
}

/// A device unseen for longer than `device_inactive_after` no longer holds
/// items back; at its next login it is told it fell behind, gets none of what
/// was let go, and finds it in the history.
pub async fn an_expired_device_catches_up_from_history<S: Store>(fx: &Fixture<S>) {
    let mut config = test_config();
    config.device_inactive_after = std::time::Duration::from_millis(300);
    let h = harness(fx, config);
    let (mut devices, bob) = ann_on_devices(&h, &["laptop", "tablet"]).await;
    let (tablet, tablet_id) = devices.pop().unwrap();
    tablet.client.logout().await.unwrap();
    drop(tablet);
    tokio::time::sleep(std::time::Duration::from_millis(400)).await;
    let (mut laptop, _) = devices.pop().unwrap();
    let sent = bob.client.send_text("ann", "while away").await.unwrap();
    expect_messages(&mut laptop, &[sent.id]).await;
    laptop.sync().await;
    let (tablet, _, backlog) = login_as(&h, "ann", DeviceClaim::Known { id: tablet_id }).await;
    assert_eq!(backlog.first(), Some(&Event::FellBehind));
    assert_eq!(message_ids(&backlog), Vec::<u64>::new());
    let history = tablet
        .client
        .history(Peer::User("bob".into()), None, 10)
        .await
        .unwrap();
    assert_eq!(
        message_ids(&history.into_iter().map(Event::Message).collect::<Vec<_>>()),
        [sent.id]
    );
    h.stop().await;
}

/// Marking a conversation read reaches the reader's devices (with what is
/// left unread) and the other user (`Read`), unless the reader turned read
/// receipts off; rooms' marks reach the reader's devices; a device that logs
/// in gets the unread counts.
pub async fn read_marks_reach_the_readers_devices_and_the_peer<S: Store>(fx: &Fixture<S>) {
    let h = harness(fx, test_config());
    let (mut devices, mut bob) = ann_on_devices(&h, &["laptop", "phone"]).await;
    let (mut phone, _) = devices.pop().unwrap();
    let (mut laptop, _) = devices.pop().unwrap();
    let _one = bob.client.send_text("ann", "one").await.unwrap();
    let two = bob.client.send_text("ann", "two").await.unwrap();
    let bob_peer = Peer::User("bob".into());
    laptop
        .client
        .mark_read(bob_peer.clone(), two.seq)
        .await
        .unwrap();
    let read_here = Event::ReadUpTo {
        peer: bob_peer.clone(),
        seq: two.seq,
        unread: 0,
    };
    phone.expect(|e| *e == read_here).await;
    laptop.expect(|e| *e == read_here).await;
    let read = Event::Read {
        by: "ann".into(),
        seq: two.seq,
    };
    bob.expect(|e| *e == read).await;
    // Off: ann's devices still learn it, bob does not.
    laptop.client.set_read_receipts(false).await.unwrap();
    let three = bob.client.send_text("ann", "three").await.unwrap();
    let four = bob.client.send_text("ann", "four").await.unwrap();
    phone
        .client
        .mark_read(bob_peer.clone(), three.seq)
        .await
        .unwrap();
    let partly = Event::ReadUpTo {
        peer: bob_peer.clone(),
        seq: three.seq,
        unread: 1,
    };
    laptop.expect(|e| *e == partly).await;
    bob.sync().await;
    bob.assert_quiet_except(|e| !matches!(e, Event::Read { .. }))
        .await;
    // Rooms: counted at login, marked read on one device, known on the other.
    bob.client.create_room("lobby").await.unwrap();
    laptop.client.join_room("lobby").await.unwrap();
    bob.client.say("lobby", "a").await.unwrap();
    bob.client.say("lobby", "b").await.unwrap();
    // ann's own message is not unread to her; the room's messages reached
    // the laptop, which is not reading them.
    let mine = laptop.client.say("lobby", "mine").await.unwrap();
    laptop
        .expect(|e| matches!(e, Event::Message(m) if m.id == mine.id))
        .await;
    laptop.sync().await;
    drop(phone);
    let (phone, _, backlog) = login_as(&h, "ann", new("phone 2")).await;
    let Some(Event::Unread(unread)) = backlog.iter().find(|e| matches!(e, Event::Unread(_))) else {
        panic!("no unread counts in {backlog:?}")
    };
    let count = |peer: &Peer| unread.iter().find(|u| u.peer == *peer).map(|u| u.unread);
    assert_eq!(count(&bob_peer), Some(1), "four is unread");
    let lobby = Peer::Room("lobby".into());
    assert_eq!(count(&lobby), Some(2));
    phone
        .client
        .mark_read(lobby.clone(), mine.seq)
        .await
        .unwrap();
    laptop
        .expect(|e| {
            *e == Event::ReadUpTo {
                peer: lobby.clone(),
                seq: mine.seq,
                unread: 0,
            }
        })
        .await;
    assert_eq!(four.seq, three.seq + 1);
    let strangers = bob.client.mark_read(Peer::Room("nowhere".into()), 1).await;
    assert_eq!(refused(strangers), ErrorCode::NoSuchRoom);
    bob.client.create_room("closed").await.unwrap();
    let outsider = laptop
        .client
        .mark_read(Peer::Room("closed".into()), 1)
        .await;
    assert_eq!(refused(outsider), ErrorCode::NotRoomMember);
    h.stop().await;
}
