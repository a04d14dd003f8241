//! The sync model against a reference: a store and the sessions' stream
//! deliveries under random interleavings of sends (to the user and from their
//! devices), live pushes delayed, reordered and lost, fills, acks (cumulative,
//! repeated, stale, beyond what was sent), logins, disconnects and revokes.
//!
//! What must hold: within a connection no position is handed out twice, and
//! positions go up; every item reaches every device that existed when it was
//! stored (but the device it came from) in some connection: in the one that
//! is open if no push was lost (a lost push shows as a gap only when a later
//! item comes), else at the next login; nothing a device has not acked is let
//! go while it is active.

use std::collections::{BTreeSet, HashMap};

use proptest::prelude::*;

use super::{Outgoing, StreamSync, STREAM_VERSION};
use crate::mailbox::Mailbox;
use crate::protocol::{Body, DeviceClaim, Event, ServerFrame};
use crate::store::{Acks, MemoryStore, NewMessage, Notice, Store, User};

const DEVICES: usize = 3;
/// Stream items a fill reads per page: small, so fills take several steps.
const PAGE: usize = 2;

#[derive(Debug, Clone)]
enum Op {
    /// bob sends ann a message.
    Send,
    /// ann sends bob a message from device `d` (a copy goes to her others).
    SendFrom(usize),
    /// The live push of the `k`-th waiting notice reaches the sessions.
    Push(usize),
    /// The `k`-th waiting notice is never pushed (its task died).
    Lose(usize),
    /// One page of a fill on `d`'s connection, if one is due.
    Fill(usize),
    /// `d`'s client reads what was queued for it.
    Read(usize),
    /// `d`'s client acks: its last item received (0), an older one (1), the
    /// same again (2), or a position it never got (3).
    Ack(usize, u8),
    Login(usize),
    Disconnect(usize),
    Revoke(usize),
}

fn op() -> impl Strategy<Value = Op> {
    let d = 0..DEVICES;
    prop_oneof![
        4 => Just(Op::Send),
        1 => d.clone().prop_map(Op::SendFrom),
        4 => any::<usize>().prop_map(Op::Push),
        1 => any::<usize>().prop_map(Op::Lose),
        3 => d.clone().prop_map(Op::Fill),
        3 => d.clone().prop_map(Op::Read),
        3 => (d.clone(), 0..4u8).prop_map(|(d, how)| Op::Ack(d, how)),
        2 => d.clone().prop_map(Op::Login),
        1 => d.clone().prop_map(Op::Disconnect),
        1 => d.prop_map(Op::Revoke),
    ]
}

/// A connection of one device.
struct Connection {
    sync: StreamSync,
    mailbox: Mailbox,
    /// Positions the client received, in order.
    received: Vec<u64>,
}

/// One of ann's devices.
struct Device {
    id: u64,
    revoked: bool,
    /// Where its stream begins: the items it must get are after this.
    from: u64,
    /// What it acked (as the server took it).
    acked: u64,
    /// Every position any of its connections received.
    got: BTreeSet<u64>,
    connection: Option<Connection>,
}

struct World {
    store: MemoryStore,
    ann: User,
    bob: User,
    devices: Vec<Device>,
    /// Notices stored and not yet pushed.
    waiting: Vec<Notice>,
    /// A push was lost.
    lost: bool,
    /// ann's items: position -> the device it came from.
    items: HashMap<u64, Option<u64>>,
    sent: u64,
}

impl World {
    async fn new() -> World {
        let store = MemoryStore::new();
        let ann = store.create_user("ann", "h").await.unwrap().unwrap();
        let bob = store.create_user("bob", "h").await.unwrap().unwrap();
        let mut devices = Vec::new();
        for name in ["laptop", "phone", "tablet"] {
            let claim = Some(DeviceClaim::New { name: name.into() });
            let login = store.device_login(ann.id, claim, 10, 1).await.unwrap();
            let login = login.unwrap();
            devices.push(Device {
                id: login.device.id,
                revoked: false,
                from: login.position,
                acked: login.position,
                got: BTreeSet::new(),
                connection: None,
            });
        }
        World {
            store,
            ann,
            bob,
            devices,
            waiting: Vec::new(),
            lost: false,
            items: HashMap::new(),
            sent: 0,
        }
    }

    async fn send(&mut self, from: User, to: User, device: Option<u64>) {
        self.sent += 1;
        let msg = NewMessage {
            from,
            to,
            client_msg_id: self.sent,
            body: Body::Text(format!("m{}", self.sent)),
            ts: 1,
            friends_only: false,
            device,
        };
        let sent = self.store.append_direct(msg).await.unwrap().unwrap();
        for notice in sent.notices {
            if notice.recipient == self.ann.id {
                self.items.insert(notice.item.pos, notice.item.from_device);
                self.waiting.push(notice);
            }
        }
    }

    fn push(&mut self, k: usize) {
        if self.waiting.is_empty() {
            return;
        }
        let notice = self.waiting.remove(k % self.waiting.len());
        let out = Outgoing::new(notice.item);
        for device in &self.devices {
            if let Some(c) = &device.connection {
                c.sync.offer(&out, &c.mailbox);
            }
        }
    }

    /// One page of the fill of `d`'s connection, if it is filling; returns
    /// whether a fill is still due.
    async fn fill(&mut self, d: usize) -> bool {
        let Some(c) = &self.devices[d].connection else {
            return false;
        };
        if !c.sync.is_filling() {
            return false;
        }
        let page = self.store.stream(self.ann.id, c.sync.handed_out(), PAGE);
        let page = page.await.unwrap();
        let full = page.len() == PAGE;
        for item in page {
            if let Some(frame) = c.sync.filled(&Outgoing::new(item)) {
                c.mailbox.try_push(frame).expect("room in the mailbox");
            }
        }
        full || !c.sync.fill_caught_up()
    }

    async fn read(&mut self, d: usize) -> Result<(), TestCaseError> {
        let device = &mut self.devices[d];
        let Some(c) = &mut device.connection else {
            return Ok(());
        };
        c.mailbox.close();
        let frames = c.mailbox.take_all().await.unwrap_or_default();
        let mailbox = Mailbox::new(1 << 16, 1 << 30);
        c.mailbox = mailbox;
        for frame in frames {
            let ServerFrame::Item { pos, event } = &*frame else {
                continue;
            };
            prop_assert!(matches!(event, Event::Message(_)));
            if let Some(&last) = c.received.last() {
                prop_assert!(
                    *pos > last,
                    "position {} after {} in one connection",
                    pos,
                    last
                );
            }
            prop_assert!(
                self.items.get(pos) != Some(&Some(device.id)),
                "an item reached the device it came from"
            );
            c.received.push(*pos);
            device.got.insert(*pos);
        }
        Ok(())
    }

    async fn ack(&mut self, d: usize, how: u8) {
        let device = &mut self.devices[d];
        let Some(c) = &device.connection else {
            return;
        };
        let last = c.received.last().copied();
        let pos = match (how, last) {
            (0 | 2, Some(last)) => last,
            (1, Some(_)) => c.received[c.received.len() / 2],
            (3, _) => c.sync.handed_out() + 5,
            _ => return,
        };
        let up_to = c.sync.acked_up_to(pos);
        let acks = Acks {
            device: device.id,
            up_to: Some(up_to),
            room_messages: Vec::new(),
            now: 2,
            active_since: 0,
        };
        self.store.ack(self.ann.id, acks).await.unwrap();
        if !device.revoked {
            device.acked = device.acked.max(up_to);
        }
    }

    async fn login(&mut self, d: usize) {
        let device = &mut self.devices[d];
        if device.revoked || device.connection.is_some() {
            return;
        }
        let claim = Some(DeviceClaim::Known { id: device.id });
        let login = self.store.device_login(self.ann.id, claim, 10, 3).await;
        let login = login.unwrap().expect("a known device");
        assert!(!login.fell_behind, "no device is ever inactive here");
        device.connection = Some(Connection {
            sync: StreamSync::new(device.id, STREAM_VERSION, login.position),
            mailbox: Mailbox::new(1 << 16, 1 << 30),
            received: Vec::new(),
        });
    }

    /// Everything past an active device's position is kept.
    async fn nothing_let_go_early(&self) -> Result<(), TestCaseError> {
        let head = self.items.keys().max().copied().unwrap_or(0);
        for device in self.devices.iter().filter(|d| !d.revoked) {
            let kept = self.store.stream(self.ann.id, device.acked, usize::MAX);
            let kept: Vec<u64> = kept.await.unwrap().iter().map(|i| i.pos).collect();
            let due: Vec<u64> = (device.acked + 1..=head).collect();
            prop_assert_eq!(kept, due, "kept past device {}", device.id);
        }
        Ok(())
    }
}

async fn run(ops: Vec<Op>) -> Result<(), TestCaseError> {
    let mut w = World::new().await;
    for op in ops {
        match op {
            Op::Send => w.send(w.bob.clone(), w.ann.clone(), None).await,
            Op::SendFrom(d) => {
                if !w.devices[d].revoked {
                    let id = w.devices[d].id;
                    w.send(w.ann.clone(), w.bob.clone(), Some(id)).await;
                }
            }
            Op::Push(k) => w.push(k),
            Op::Lose(k) => {
                if !w.waiting.is_empty() {
                    let k = k % w.waiting.len();
                    w.waiting.remove(k);
                    w.lost = true;
                }
            }
            Op::Fill(d) => {
                w.fill(d).await;
            }
            Op::Read(d) => w.read(d).await?,
            Op::Ack(d, how) => w.ack(d, how).await,
            Op::Login(d) => w.login(d).await,
            Op::Disconnect(d) => {
                w.read(d).await?;
                w.devices[d].connection = None;
            }
            Op::Revoke(d) => {
                let id = w.devices[d].id;
                w.store.revoke_device(w.ann.id, id).await.unwrap().ok();
                w.devices[d].revoked = true;
                w.devices[d].connection = None;
            }
        }
        w.nothing_let_go_early().await?;
    }
    // Everything still waiting is pushed; every device that is left is
    // connected (again, if a push was lost) and fills to the end: then each
    // has every item meant for it.
    while !w.waiting.is_empty() {
        w.push(0);
    }
    for d in 0..DEVICES {
        if w.lost {
            w.read(d).await?;
            w.devices[d].connection = None;
        }
        w.login(d).await;
        while w.fill(d).await {}
        w.read(d).await?;
    }
    for device in w.devices.iter().filter(|d| !d.revoked) {
        let mut due: Vec<u64> = w
            .items
            .iter()
            .filter(|(&pos, &from)| pos > device.from && from != Some(device.id))
            .map(|(&pos, _)| pos)
            .collect();
        due.sort_unstable();
        let missed: Vec<u64> = due
            .into_iter()
            .filter(|pos| !device.got.contains(pos))
            .collect();
        prop_assert!(
            missed.is_empty(),
            "device {} missed {:?}",
            device.id,
            missed
        );
    }
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    #[test]
    fn the_sync_model_loses_nothing_and_repeats_nothing(ops in prop::collection::vec(op(), 0..60)) {
        let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
        runtime.block_on(run(ops))?;
    }
}

/// A live item past a gap is not handed out: the gap starts a fill, which
/// hands out both in order.
#[tokio::test]
async fn a_gap_in_live_items_is_filled_from_the_store_in_order() {
    let mut w = World::new().await;
    w.login(0).await;
    while w.fill(0).await {}
    w.send(w.bob.clone(), w.ann.clone(), None).await;
    w.send(w.bob.clone(), w.ann.clone(), None).await;
    w.push(1); // the second first
    let c = w.devices[0].connection.as_ref().unwrap();
    assert_eq!(
        c.mailbox.signalled(true).await,
        crate::mailbox::Signal::Fill,
        "the session is asked to fill"
    );
    w.read(0).await.unwrap();
    let c = w.devices[0].connection.as_ref().unwrap();
    assert!(c.received.is_empty(), "nothing past the gap");
    assert!(c.sync.is_filling());
    while w.fill(0).await {}
    w.push(0); // the first, late: already handed out
    w.read(0).await.unwrap();
    let c = w.devices[0].connection.as_ref().unwrap();
    assert_eq!(c.received, [1, 2]);
}

/// A fill that finds positions gone from the store (let go while this device
/// was inactive) goes on past them instead of waiting for them for ever.
#[tokio::test]
async fn a_fill_goes_on_past_positions_let_go() {
    let mut w = World::new().await;
    for _ in 0..3 {
        w.send(w.bob.clone(), w.ann.clone(), None).await;
    }
    w.login(0).await;
    // Every other device acks everything with the laptop inactive: the
    // first two are let go under the laptop's open connection.
    let acks = |device, active_since| Acks {
        device,
        up_to: Some(2),
        room_messages: Vec::new(),
        now: 10,
        active_since,
    };
    let (phone, tablet) = (w.devices[1].id, w.devices[2].id);
    w.store.ack(w.ann.id, acks(phone, 5)).await.unwrap();
    w.store.ack(w.ann.id, acks(tablet, 5)).await.unwrap();
    assert_eq!(w.store.stream(w.ann.id, 0, 10).await.unwrap().len(), 1);
    while w.fill(0).await {}
    w.read(0).await.unwrap();
    let c = w.devices[0].connection.as_ref().unwrap();
    assert_eq!(c.received, [3]);
    assert!(!c.sync.is_filling());
}
