//! One session's delivery of its user's stream.
//!
//! Items reach a session two ways: pushed live after the write that made them
//! commits ([`StreamSync::offer`]), and read from the store by a *fill* (at
//! login, and whenever a live item shows a gap). Concurrent writers commit in
//! position order but may push out of it, and a push can be lost (its sender's
//! task cancelled after the commit): so a live item is handed out only if it
//! is the very next position and no fill is running; anything else makes the
//! session fill from the store, which has every committed position. Each
//! position is handed out once per session, in order, and the cumulative ack
//! a client sends is checked against what it was handed.

use std::collections::VecDeque;
use std::sync::{Arc, Mutex, OnceLock};

use crate::mailbox::{Control, Mailbox, PushError};
use crate::protocol::{DeviceId, ItemId, ServerFrame};
use crate::store::{Older, StreamItem};

/// The first protocol version that sees the stream as [`ServerFrame::Item`]s.
pub(crate) const STREAM_VERSION: u16 = 5;

/// At most this many (id, position) pairs are kept for an older session's
/// acks by id: an ack of a newer id covers the older ones anyway.
const MAX_SENT_IDS: usize = 4096;

/// A stream item on its way to its user's sessions, with its frames built
/// once for all of them.
pub(crate) struct Outgoing {
    pos: u64,
    from_device: Option<DeviceId>,
    current: Arc<ServerFrame>,
    older: Older,
    older_frame: OnceLock<Option<(Arc<ServerFrame>, Option<ItemId>)>>,
}

impl Outgoing {
    pub fn new(item: StreamItem) -> Self {
        let StreamItem {
            pos,
            event,
            older,
            from_device,
        } = item;
        Outgoing {
            pos,
            from_device,
            current: Arc::new(ServerFrame::Item { pos, event }),
            older,
            older_frame: OnceLock::new(),
        }
    }

    /// The frame a session older than [`STREAM_VERSION`] gets, and the id it
    /// acks it by; `None` if it gets none.
    fn older(&self) -> Option<(Arc<ServerFrame>, Option<ItemId>)> {
        self.older_frame
            .get_or_init(|| {
                let event = match &self.older {
                    Older::Hidden => return None,
                    Older::Same => match &*self.current {
                        ServerFrame::Item { event, .. } => event.clone(),
                        _ => unreachable!("built as an item"),
                    },
                };
                let id = event.inbox_id();
                Some((Arc::new(ServerFrame::Event(event)), id))
            })
            .clone()
    }
}

/// Where a session is in its user's stream.
#[derive(Debug)]
struct Cursor {
    /// The next position to hand out.
    next: u64,
    /// The newest position known to be stored.
    head: u64,
    /// A fill owns delivery: live items only move `head`.
    filling: bool,
    /// The last position sent (rather than skipped); 0 if none.
    last_sent: u64,
    /// For an older session: the ids sent and their positions, in order.
    sent_ids: VecDeque<(ItemId, u64)>,
}

/// One session's delivery of its user's stream (see the module docs).
#[derive(Debug)]
pub(crate) struct StreamSync {
    cursor: Mutex<Cursor>,
    device: DeviceId,
    /// The session speaks a version older than [`STREAM_VERSION`].
    older: bool,
}

impl StreamSync {
    /// A session of `device` whose position is `position`: it starts with a
    /// fill (its login's backlog).
    pub fn new(device: DeviceId, version: u16, position: u64) -> Self {
        StreamSync {
            cursor: Mutex::new(Cursor {
                next: position + 1,
                head: position,
                filling: true,
                last_sent: 0,
                sent_ids: VecDeque::new(),
            }),
            device,
            older: version < STREAM_VERSION,
        }
    }

    fn cursor(&self) -> std::sync::MutexGuard<'_, Cursor> {
        self.cursor.lock().expect("stream cursor lock")
    }

    /// What this session is sent of `out`, if anything, noting it as sent.
    fn hand_out(&self, cursor: &mut Cursor, out: &Outgoing) -> Option<Arc<ServerFrame>> {
        cursor.next = out.pos + 1;
        if out.from_device == Some(self.device) {
            return None; // the device it came from has it
        }
        let frame = if self.older {
            let (frame, id) = out.older()?;
            if let Some(id) = id {
                if cursor.sent_ids.len() == MAX_SENT_IDS {
                    cursor.sent_ids.pop_front();
                }
                cursor.sent_ids.push_back((id, out.pos));
            }
            frame
        } else {
            Arc::clone(&out.current)
        };
        cursor.last_sent = out.pos;
        Some(frame)
    }

    /// A live item of the user's stream: queued if it is the next one and no
    /// fill is running; dropped if this session had it; a gap starts a fill.
    pub fn offer(&self, out: &Outgoing, mailbox: &Mailbox) {
        let mut cursor = self.cursor();
        cursor.head = cursor.head.max(out.pos);
        if cursor.filling || out.pos < cursor.next {
            return;
        }
        if out.pos > cursor.next {
            cursor.filling = true;
            drop(cursor);
            mailbox.want_fill();
            return;
        }
        // Queued under the lock, so that live items queue in position order.
        if let Some(frame) = self.hand_out(&mut cursor, out) {
            if let Err(PushError::Full) = mailbox.try_push(frame) {
                mailbox.stop(Control::SlowReader);
            }
        }
    }

    /// Asks for a fill even without a gap seen (live items may have been
    /// lost unseen: the bus was cut off).
    pub fn refill(&self, mailbox: &Mailbox) {
        self.cursor().filling = true;
        mailbox.want_fill();
    }

    /// A fill begins: it owns delivery until it catches up (live items only
    /// move `head`), so that its items and live ones never interleave.
    pub fn begin_fill(&self) {
        self.cursor().filling = true;
    }

    /// Whether a fill owns delivery.
    #[cfg(test)]
    pub fn is_filling(&self) -> bool {
        self.cursor().filling
    }

    /// Where a fill reads on from: the last position handed out.
    pub fn handed_out(&self) -> u64 {
        self.cursor().next - 1
    }

    /// An item a fill read: the frame to queue (none if this session had it,
    /// or does not get it). Only a fill calls this, and it queues what it gets
    /// before its next call. A position the read skipped is gone from the
    /// store (positions commit in order, so a missing one was let go: this
    /// device was inactive meanwhile): the fill goes on past it rather than
    /// wait for it.
    pub fn filled(&self, out: &Outgoing) -> Option<Arc<ServerFrame>> {
        let mut cursor = self.cursor();
        if out.pos < cursor.next {
            return None;
        }
        self.hand_out(&mut cursor, out)
    }

    /// A fill read a page that was not full: it ends unless live items came
    /// past what it read meanwhile. Returns whether it ended.
    pub fn fill_caught_up(&self) -> bool {
        let mut cursor = self.cursor();
        if cursor.next > cursor.head {
            cursor.filling = false;
        }
        !cursor.filling
    }

    /// The position a cumulative ack of `pos` moves the device to: no further
    /// than what was handed out, and an ack of the last item sent also covers
    /// the items skipped after it.
    pub fn acked_up_to(&self, pos: u64) -> u64 {
        let cursor = self.cursor();
        let handed_out = cursor.next - 1;
        if pos >= cursor.last_sent {
            handed_out
        } else {
            pos
        }
    }

    /// An older session's ack by ids: the position it moves the device to (the
    /// newest position among the ids, as [`acked_up_to`](Self::acked_up_to)),
    /// and the ids that are no stream items (room messages).
    pub fn acked_ids(&self, ids: Vec<ItemId>) -> (Option<u64>, Vec<ItemId>) {
        let mut cursor = self.cursor();
        if cursor.sent_ids.is_empty() {
            return (None, ids);
        }
        let mut newest = None;
        let mut others = Vec::new();
        for id in ids {
            // Ids increase with positions: the pairs are sorted by id too.
            match cursor.sent_ids.binary_search_by_key(&id, |&(id, _)| id) {
                Ok(at) => newest = newest.max(Some(cursor.sent_ids[at].1)),
                Err(_) => others.push(id),
            }
        }
        let Some(newest) = newest else {
            return (None, others);
        };
        while cursor
            .sent_ids
            .front()
            .is_some_and(|&(_, pos)| pos <= newest)
        {
            cursor.sent_ids.pop_front();
        }
        let handed_out = cursor.next - 1;
        let up_to = if newest >= cursor.last_sent {
            handed_out
        } else {
            newest
        };
        (Some(up_to), others)
    }
}

/// Whether a session of protocol `version` may be sent `frame` (events newer
/// than its version are not).
pub(crate) fn understood(frame: &ServerFrame, version: u16) -> bool {
    match frame {
        ServerFrame::Event(event) => event.since_version() <= version,
        ServerFrame::Item { .. } => version >= STREAM_VERSION,
        _ => true,
    }
}

#[cfg(test)]
mod tests;
