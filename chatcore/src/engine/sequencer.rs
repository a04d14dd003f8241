//! Live room delivery in seq order: every member of a room receives its
//! messages in one order (the store's seqs), whatever order they are offered
//! in.
//!
//! A stored room message is [offered](Sequencer::offer) by whoever learned of
//! it: today the sending connection after its commit, in a cluster the bus.
//! Concurrent sends commit in one group and their tasks wake in any order, so
//! a message may be offered a few microseconds before the one below it. Per
//! room the sequencer keeps the next seq it expects:
//!
//! - the next one is delivered at once, with any held ones it unblocks (the
//!   common case: one map lookup, then the fan-out);
//! - one ahead is held; if the gap is still there after [`GAP_WAIT`], it is
//!   filled from the store's room history (a message can be lost on a bus,
//!   or its task delayed);
//! - one behind was delivered already (or given up for the history): dropped.
//!
//! State stays bounded: a room is forgotten when a delivery reaches no session
//! of this server, or when nothing was offered for it for a sweep period;
//! rooms never hold more than [`MAX_HELD`] messages behind a gap. A sender
//! [tracks](Sequencer::track) a forgotten room before its write, from the
//! room's newest seq, so the first messages after a quiet spell keep their
//! order too; an offer for an untracked room starts it at that message.

use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use super::ServerState;
use crate::protocol::{Event, Message, ServerFrame};
use crate::store::{RoomId, StoreError, User};

/// How long a message ahead of the next expected seq waits for the missing
/// ones before they are read from the store. They are usually microseconds
/// behind (committed in the same group); the bound matters when a task is
/// delayed or a bus loses a message.
pub(super) const GAP_WAIT: Duration = Duration::from_millis(10);

/// Most messages a room holds behind a gap; past it the gap is given up (the
/// missing messages are in the history) rather than grow.
const MAX_HELD: usize = 1024;

/// Most messages one fill reads; an older part of a longer gap is left to
/// the history.
const MAX_FILL: u64 = 1000;

/// How long a room with nothing offered is remembered.
const FORGET_AFTER: Duration = Duration::from_secs(60);

/// Shards of the room map (rooms hash to one; offers to different rooms rarely
/// share a lock).
const SHARDS: usize = 64;

/// What became of an offered message.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Offered {
    /// Delivered now (with any held ones it unblocked).
    Delivered,
    /// Held behind a gap; `fill` is true when the caller must schedule the
    /// gap's fill (none was due yet).
    Held {
        /// Whether this offer opened the gap (schedule a fill).
        fill: bool,
    },
    /// Behind the next expected seq: delivered before, dropped.
    Late,
}

/// One room's order.
#[derive(Debug)]
struct RoomOrder {
    /// The next seq to deliver.
    next: u64,
    /// Messages ahead of `next`, by seq.
    held: BTreeMap<u64, Message>,
    /// A fill is scheduled.
    fill_due: bool,
    /// Something was offered since the shard's last sweep.
    offered: bool,
}

impl RoomOrder {
    fn starting_at(next: u64) -> Self {
        RoomOrder {
            next,
            held: BTreeMap::new(),
            fill_due: false,
            offered: true,
        }
    }

    /// Delivers `message` if it is the next, then the held ones that follow
    /// it; returns whether any delivery reached a session.
    fn deliver_from(
        &mut self,
        message: Message,
        deliver: &mut impl FnMut(Message) -> usize,
    ) -> bool {
        debug_assert_eq!(message.seq, self.next);
        self.next = message.seq + 1;
        let mut reached = deliver(message) > 0;
        while let Some(held) = self.held.remove(&self.next) {
            self.next += 1;
            reached |= deliver(held) > 0;
        }
        reached
    }

    /// Gives up the gap below the first held message (it is in the history):
    /// delivers the held ones from there on.
    fn skip_gap(&mut self, deliver: &mut impl FnMut(Message) -> usize) -> bool {
        match self.held.pop_first() {
            Some((seq, first)) => {
                self.next = seq;
                self.deliver_from(first, deliver)
            }
            None => true,
        }
    }
}

#[derive(Debug)]
struct Shard {
    rooms: HashMap<RoomId, RoomOrder>,
    last_sweep: Instant,
}

/// Per-room delivery order (see the [module docs](self)). Knows nothing of
/// where messages come from or go: the caller passes the fan-out.
#[derive(Debug)]
pub(super) struct Sequencer {
    shards: Box<[Mutex<Shard>]>,
}

impl Default for Sequencer {
    fn default() -> Self {
        let now = Instant::now();
        Sequencer {
            shards: (0..SHARDS)
                .map(|_| {
                    Mutex::new(Shard {
                        rooms: HashMap::new(),
                        last_sweep: now,
                    })
                })
                .collect(),
        }
    }
}

impl Sequencer {
    fn shard(&self, room: RoomId) -> std::sync::MutexGuard<'_, Shard> {
        let mixed = room.0.wrapping_mul(0x9e37_79b9_7f4a_7c15);
        self.shards[(mixed >> 32) as usize % SHARDS]
            .lock()
            .expect("sequencer lock")
    }

    /// Whether `room` has an order here.
    pub fn tracks(&self, room: RoomId) -> bool {
        self.shard(room).rooms.contains_key(&room)
    }

    /// Starts `room`'s order after `newest` (its newest stored seq, read
    /// before a write that will be offered), unless it has one.
    pub fn track(&self, room: RoomId, newest: u64) {
        let mut shard = self.shard(room);
        Self::sweep_if_due(&mut shard);
        shard
            .rooms
            .entry(room)
            .or_insert_with(|| RoomOrder::starting_at(newest + 1));
    }

    /// Offers a stored message of `room`, from wherever it came: `deliver`
    /// fans it out (returning how many sessions it reached) in seq order,
    /// under the room's lock.
    pub fn offer(
        &self,
        room: RoomId,
        message: Message,
        mut deliver: impl FnMut(Message) -> usize,
    ) -> Offered {
        let mut shard = self.shard(room);
        let order = match shard.rooms.get_mut(&room) {
            Some(order) => order,
            None => {
                Self::sweep_if_due(&mut shard);
                shard
                    .rooms
                    .entry(room)
                    .or_insert(RoomOrder::starting_at(message.seq))
            }
        };
        order.offered = true;
        if message.seq < order.next {
            return Offered::Late;
        }
        if message.seq > order.next {
            order.held.insert(message.seq, message);
            if order.held.len() > MAX_HELD {
                order.skip_gap(&mut deliver);
            }
            let fill = !order.held.is_empty() && !order.fill_due;
            order.fill_due |= fill;
            return Offered::Held { fill };
        }
        let reached = order.deliver_from(message, &mut deliver);
        if !reached && order.held.is_empty() && !order.fill_due {
            // No session of this server is in the room.
            shard.rooms.remove(&room);
        }
        Offered::Delivered
    }

    /// The gap `room` waits on: the next expected seq and the first held one.
    /// `None` (the gap closed by itself): the scheduled fill is done, and the
    /// next gap schedules another.
    pub fn gap(&self, room: RoomId) -> Option<(u64, u64)> {
        let mut shard = self.shard(room);
        let order = shard.rooms.get_mut(&room)?;
        match order.held.first_key_value() {
            Some((&first, _)) => Some((order.next, first)),
            None => {
                order.fill_due = false;
                None
            }
        }
    }

    /// Fills `room`'s gap with `messages` read from the store (ascending);
    /// what they lack is given up (it is in the history), and the held
    /// messages are delivered. Returns whether a new gap opened meanwhile
    /// (schedule another fill).
    pub fn fill(
        &self,
        room: RoomId,
        messages: Vec<Message>,
        mut deliver: impl FnMut(Message) -> usize,
    ) -> bool {
        let mut shard = self.shard(room);
        let Some(order) = shard.rooms.get_mut(&room) else {
            return false;
        };
        let first_held = order.held.first_key_value().map(|(&seq, _)| seq);
        for message in messages {
            if message.seq < order.next || first_held.is_some_and(|held| message.seq >= held) {
                continue;
            }
            // Past a hole in what was read (a fill capped at `MAX_FILL`).
            order.next = message.seq;
            order.deliver_from(message, &mut deliver);
        }
        if first_held.is_some_and(|held| held >= order.next) {
            order.skip_gap(&mut deliver);
        }
        // Held ones beyond a newer gap wait for the next fill.
        order.fill_due = !order.held.is_empty();
        order.fill_due
    }

    /// Once per [`FORGET_AFTER`] (looked at when a room is added): forgets
    /// the shard's rooms nothing was offered for since the last sweep.
    fn sweep_if_due(shard: &mut Shard) {
        let now = Instant::now();
        if now.duration_since(shard.last_sweep) < FORGET_AFTER {
            return;
        }
        shard.last_sweep = now;
        shard.rooms.retain(|_, order| {
            std::mem::take(&mut order.offered) || !order.held.is_empty() || order.fill_due
        });
    }

    #[cfg(test)]
    fn len(&self) -> usize {
        self.shards
            .iter()
            .map(|s| s.lock().expect("sequencer lock").rooms.len())
            .sum()
    }
}

/// Fans a room message out to `members`' sessions on this server (the
/// sender's included, so every member sees the room in one order); returns
/// how many sessions it reached.
fn fan_out(state: &ServerState, members: &[User], message: Message) -> usize {
    let frame = Arc::new(ServerFrame::Event(Event::Message(message)));
    members
        .iter()
        .map(|member| state.router.push(member.id, &frame))
        .sum()
}

impl ServerState {
    /// Before a send to `room` is written: starts the room's order from its
    /// newest stored seq if the sequencer forgot it, so concurrent first
    /// messages keep their order.
    pub(super) async fn track_room(&self, room: RoomId) -> Result<(), StoreError> {
        if self.sequencer.tracks(room) {
            return Ok(());
        }
        let newest = self.store.room_history(room, None, 1).await?;
        let newest = newest.first().map_or(0, |m| m.seq);
        self.sequencer.track(room, newest);
        Ok(())
    }

    /// Delivers a stored message of `room` to its members here, in seq order
    /// (see [`Sequencer::offer`]); a gap is filled from the store after
    /// [`GAP_WAIT`].
    pub(super) async fn offer_room_message(self: &Arc<Self>, room: RoomId, message: Message) {
        let members = self.room_members_or_none(room).await;
        let offered = self
            .sequencer
            .offer(room, message, |m| fan_out(self, &members, m));
        if offered == (Offered::Held { fill: true }) {
            // Not on `tasks`: that counts connections.
            tokio::spawn(fill_gaps(Arc::clone(self), room));
        }
    }

    /// `room`'s members (cached); none if they cannot be read (the messages
    /// still move the order on: they are in the history).
    async fn room_members_or_none(&self, room: RoomId) -> Arc<[User]> {
        match self.directory.members(&*self.store, room).await {
            Ok(members) => members,
            Err(e) => {
                tracing::warn!(error = %e, room = room.0, "room members unreadable; a message goes to the history only");
                Arc::from([])
            }
        }
    }
}

/// Waits [`GAP_WAIT`], then fills `room`'s gap (if it is still open) from the
/// store's history, until no gap is left.
async fn fill_gaps(state: Arc<ServerState>, room: RoomId) {
    loop {
        tokio::time::sleep(GAP_WAIT).await;
        let Some((next, first_held)) = state.sequencer.gap(room) else {
            return;
        };
        let want = (first_held - next).min(MAX_FILL) as usize;
        let mut missing = match state.store.room_history(room, Some(first_held), want).await {
            Ok(messages) => messages,
            Err(e) => {
                tracing::warn!(error = %e, room = room.0, "filling a room's gap failed; its messages are in the history");
                Vec::new()
            }
        };
        missing.reverse(); // the history is newest first
        let members = state.room_members_or_none(room).await;
        if !state
            .sequencer
            .fill(room, missing, |m| fan_out(&state, &members, m))
        {
            return;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::protocol::{Body, Peer};

    fn message(seq: u64) -> Message {
        Message {
            id: seq,
            from: "ann".into(),
            to: Peer::Room("lobby".into()),
            seq,
            ts: 1,
            body: Body::Text(format!("m{seq}")),
        }
    }

    const ROOM: RoomId = RoomId(7);

    /// Offers `seqs` in that order; returns what was delivered, in order.
    fn offer_all(sequencer: &Sequencer, seqs: &[u64]) -> (Vec<u64>, Vec<Offered>) {
        let mut delivered = Vec::new();
        let mut outcomes = Vec::new();
        for &seq in seqs {
            outcomes.push(sequencer.offer(ROOM, message(seq), |m| {
                delivered.push(m.seq);
                1
            }));
        }
        (delivered, outcomes)
    }

    #[test]
    fn in_order_offers_are_delivered_at_once() {
        let sequencer = Sequencer::default();
        sequencer.track(ROOM, 0);
        let (delivered, outcomes) = offer_all(&sequencer, &[1, 2, 3]);
        assert_eq!(delivered, [1, 2, 3]);
        assert!(outcomes.iter().all(|o| *o == Offered::Delivered));
    }

    #[test]
    fn one_ahead_waits_for_the_missing_one_and_a_late_one_is_dropped() {
        let sequencer = Sequencer::default();
        sequencer.track(ROOM, 4);
        let (delivered, outcomes) = offer_all(&sequencer, &[7, 6, 5, 6, 8]);
        assert_eq!(delivered, [5, 6, 7, 8]);
        assert_eq!(
            outcomes,
            [
                Offered::Held { fill: true },
                Offered::Held { fill: false },
                Offered::Delivered,
                Offered::Late,
                Offered::Delivered,
            ]
        );
        // The gap closed by itself: the next one schedules a fill again.
        assert_eq!(sequencer.gap(ROOM), None);
        let (_, outcomes) = offer_all(&sequencer, &[10]);
        assert_eq!(outcomes, [Offered::Held { fill: true }]);
    }

    #[test]
    fn a_fill_delivers_the_missing_messages_then_the_held_ones() {
        let sequencer = Sequencer::default();
        sequencer.track(ROOM, 0);
        offer_all(&sequencer, &[3, 5]);
        assert_eq!(sequencer.gap(ROOM), Some((1, 3)));
        let mut delivered = Vec::new();
        let again = sequencer.fill(ROOM, vec![message(1), message(2)], |m| {
            delivered.push(m.seq);
            1
        });
        // 4 is still missing: another fill is due.
        assert_eq!(delivered, [1, 2, 3]);
        assert!(again);
        assert_eq!(sequencer.gap(ROOM), Some((4, 5)));
        // The store has nothing (a fill that failed): the gap is given up.
        let again = sequencer.fill(ROOM, Vec::new(), |m| {
            delivered.push(m.seq);
            1
        });
        assert!(!again);
        assert_eq!(delivered, [1, 2, 3, 5]);
        let (late, _) = offer_all(&sequencer, &[4, 6]);
        assert_eq!(late, [6], "4 was given up, never delivered after 5");
    }

    #[test]
    fn a_capped_fill_skips_what_it_did_not_read() {
        let sequencer = Sequencer::default();
        sequencer.track(ROOM, 0);
        offer_all(&sequencer, &[10]);
        let mut delivered = Vec::new();
        sequencer.fill(ROOM, vec![message(8), message(9)], |m| {
            delivered.push(m.seq);
            1
        });
        assert_eq!(delivered, [8, 9, 10]);
    }

    #[test]
    fn an_untracked_room_starts_at_the_first_offer() {
        let sequencer = Sequencer::default();
        let (delivered, _) = offer_all(&sequencer, &[40, 41]);
        assert_eq!(delivered, [40, 41]);
    }

    #[test]
    fn a_room_no_session_here_is_in_is_forgotten() {
        let sequencer = Sequencer::default();
        sequencer.track(ROOM, 0);
        let outcome = sequencer.offer(ROOM, message(1), |_| 0);
        assert_eq!(outcome, Offered::Delivered);
        assert!(!sequencer.tracks(ROOM));
        assert_eq!(sequencer.len(), 0);
    }

    #[test]
    fn too_many_held_messages_give_the_gap_up() {
        let sequencer = Sequencer::default();
        sequencer.track(ROOM, 0);
        let seqs: Vec<u64> = (2..=MAX_HELD as u64 + 2).collect();
        let (delivered, _) = offer_all(&sequencer, &seqs);
        assert_eq!(delivered, seqs);
        assert_eq!(sequencer.gap(ROOM), None);
    }

    #[test]
    fn quiet_rooms_are_forgotten_at_a_sweep() {
        let sequencer = Sequencer::default();
        sequencer.track(ROOM, 0);
        let mut shard = sequencer.shard(ROOM);
        shard.last_sweep -= FORGET_AFTER;
        Sequencer::sweep_if_due(&mut shard);
        assert!(
            shard.rooms.contains_key(&ROOM),
            "offered since the last sweep"
        );
        shard.last_sweep -= FORGET_AFTER;
        Sequencer::sweep_if_due(&mut shard);
        assert!(shard.rooms.is_empty());
    }
}
