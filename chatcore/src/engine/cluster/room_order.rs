//! Room messages in seq order per room, whichever node wrote them.
//!
//! On one node the store's completion callback runs in seq order, and that is
//! the order members see. In a cluster a node learns of a room's messages
//! from its own commits and from the bus, in no particular order: each room
//! has a line here that hands messages out in seq order, holds one that
//! arrives ahead of a gap, and asks for the gap to be read from the store's
//! history (every seq below a committed one is committed: the database hands
//! seqs out under the room's row lock). A message behind the line was handed
//! out (or skipped) already and is dropped.
//!
//! A line starts at the first message this node sees of the room: one of a
//! lower seq arriving after it is dropped (its members have it in the room's
//! history; they were told of the later one live).

use std::collections::{BTreeMap, HashMap};
use std::sync::Mutex;

use crate::protocol::Message;
use crate::store::RoomId;

/// Most rooms with a line before the lines are forgotten (a crude bound).
const MAX_LINES: usize = 1 << 16;

#[derive(Debug, Default)]
struct Line {
    /// The next seq to hand out.
    next: u64,
    /// Messages ahead of a gap.
    pending: BTreeMap<u64, Message>,
    /// A read of the gap is under way.
    filling: bool,
}

/// A gap to read from the store: the messages of `room` with seqs from
/// `from` up to (not including) `before`.
#[derive(Debug, PartialEq, Eq)]
pub(super) struct Gap {
    pub room: RoomId,
    pub from: u64,
    pub before: u64,
}

/// Every room's line.
#[derive(Debug, Default)]
pub(super) struct RoomOrder {
    lines: Mutex<HashMap<RoomId, Line>>,
}

impl RoomOrder {
    /// A message of `room`: `deliver` is called (under the room's lock, so
    /// deliveries never interleave) with each message now due, in seq order.
    /// Returns a gap to read, if this message showed one no read covers yet.
    pub fn offer(&self, room: RoomId, message: Message, deliver: impl Fn(&Message)) -> Option<Gap> {
        let mut lines = self.lines.lock().expect("room order lock");
        if lines.len() >= MAX_LINES && !lines.contains_key(&room) {
            lines.retain(|_, line| line.filling || !line.pending.is_empty());
        }
        let line = lines.entry(room).or_insert_with(|| Line {
            next: message.seq,
            ..Line::default()
        });
        if message.seq < line.next {
            return None;
        }
        let seq = message.seq;
        line.pending.insert(seq, message);
        let first = *line.pending.keys().next().expect("just inserted");
        if first > line.next {
            if line.filling {
                return None;
            }
            line.filling = true;
            return Some(Gap {
                room,
                from: line.next,
                before: first,
            });
        }
        hand_out(line, &deliver);
        None
    }

    /// What the store's history held of `gap` (any order), or nothing if it
    /// could not be read: due messages go to `deliver`, and whatever is still
    /// missing below the first held one is skipped. Returns the next gap to
    /// read, if messages that arrived meanwhile left one.
    pub fn filled(
        &self,
        gap: &Gap,
        messages: Vec<Message>,
        deliver: impl Fn(&Message),
    ) -> Option<Gap> {
        let mut lines = self.lines.lock().expect("room order lock");
        let line = lines.get_mut(&gap.room)?;
        line.filling = false;
        for message in messages {
            if message.seq >= line.next {
                line.pending.entry(message.seq).or_insert(message);
            }
        }
        if let Some(&first) = line.pending.keys().next() {
            line.next = line.next.max(first);
        }
        hand_out(line, &deliver);
        let &first = line.pending.keys().next()?;
        line.filling = true;
        Some(Gap {
            room: gap.room,
            from: line.next,
            before: first,
        })
    }
}

/// Hands out the pending messages that follow on from `line.next`.
fn hand_out(line: &mut Line, deliver: &impl Fn(&Message)) {
    while let Some(entry) = line.pending.first_entry() {
        if *entry.key() != line.next {
            break;
        }
        let message = entry.remove();
        deliver(&message);
        line.next += 1;
    }
}

#[cfg(test)]
mod tests {
    use std::cell::RefCell;

    use super::*;
    use crate::protocol::{Body, Peer};

    fn message(seq: u64) -> Message {
        Message {
            id: seq,
            seq,
            from: "ann".into(),
            to: Peer::Room("r".into()),
            body: Body::Text(format!("m{seq}")),
            ts: 0,
        }
    }

    #[test]
    fn messages_go_out_in_seq_order_and_a_gap_is_read_once() {
        let order = RoomOrder::default();
        let out = RefCell::new(Vec::new());
        let deliver = |m: &Message| out.borrow_mut().push(m.seq);
        let room = RoomId(1);
        assert_eq!(order.offer(room, message(3), deliver), None);
        let gap = order
            .offer(room, message(6), deliver)
            .expect("4 and 5 are missing");
        assert_eq!(
            gap,
            Gap {
                room,
                from: 4,
                before: 6
            }
        );
        assert_eq!(
            order.offer(room, message(7), deliver),
            None,
            "one read at a time"
        );
        assert_eq!(order.offer(room, message(5), deliver), None);
        assert_eq!(*out.borrow(), vec![3], "held behind the gap");
        assert_eq!(order.offer(room, message(9), deliver), None);
        let next = order.filled(&gap, vec![message(5), message(4)], deliver);
        assert_eq!(*out.borrow(), vec![3, 4, 5, 6, 7]);
        let next = next.expect("8 is missing");
        assert_eq!((next.from, next.before), (8, 9));
        assert_eq!(order.filled(&next, vec![message(8)], deliver), None);
        assert_eq!(*out.borrow(), vec![3, 4, 5, 6, 7, 8, 9]);
        assert_eq!(order.offer(room, message(6), deliver), None);
        assert_eq!(order.offer(room, message(2), deliver), None);
        assert_eq!(
            *out.borrow(),
            vec![3, 4, 5, 6, 7, 8, 9],
            "behind the line: dropped"
        );
    }

    #[test]
    fn what_the_store_did_not_have_is_skipped() {
        let order = RoomOrder::default();
        let out = RefCell::new(Vec::new());
        let deliver = |m: &Message| out.borrow_mut().push(m.seq);
        let room = RoomId(1);
        order.offer(room, message(1), deliver);
        let gap = order.offer(room, message(4), deliver).unwrap();
        assert_eq!(order.filled(&gap, Vec::new(), deliver), None);
        assert_eq!(*out.borrow(), vec![1, 4]);
        assert_eq!(order.offer(room, message(5), deliver), None);
        assert_eq!(*out.borrow(), vec![1, 4, 5]);
    }
}
