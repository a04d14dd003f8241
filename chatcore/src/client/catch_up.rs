//! Rooms caught up after a reconnecting client's move: room messages are not
//! stream items, so the server does not replay them; the driver reads each
//! room's history down to the newest message it had handed over, holding the
//! room's live messages meanwhile.

use std::collections::HashMap;

use crate::protocol::{limits, ErrorCode, Event, Message, Peer, Request, Response};

/// A room being caught up after a move: the messages its history gave past
/// `known`, and its live messages held until the history is read.
pub(super) struct CatchUp {
    known: u64,
    pages: u32,
    found: Vec<Message>,
    held: Vec<Message>,
}

/// Most pages of history (of [`limits::MAX_HISTORY_PAGE`]) read to catch a
/// room up: past them the oldest of the gap stay in the history.
pub(super) const MAX_CATCH_UP_PAGES: u32 = 25;

/// The request for the page of `room`'s history below `before_seq`.
pub(super) fn room_history(room: &str, before_seq: Option<u64>) -> Request {
    Request::History {
        peer: Peer::Room(room.to_owned()),
        before_seq,
        limit: limits::MAX_HISTORY_PAGE,
    }
}

impl CatchUp {
    /// A room whose messages up to seq `known` the application has.
    pub(super) fn new(known: u64) -> CatchUp {
        CatchUp {
            known,
            pages: 1,
            found: Vec::new(),
            held: Vec::new(),
        }
    }

    /// Takes in a page of history (newest first); the seq to read below
    /// next, if the page did not reach `known`.
    pub(super) fn page(&mut self, result: Result<Response, ErrorCode>) -> Option<u64> {
        let page = match result {
            Ok(Response::History(page)) => page,
            // Not a member any more, or the store is away: what was held goes out.
            _ => return None,
        };
        let oldest = page.last().map(|m| m.seq)?;
        self.found
            .extend(page.into_iter().filter(|m| m.seq > self.known));
        (oldest > self.known + 1 && self.pages < MAX_CATCH_UP_PAGES).then(|| {
            self.pages += 1;
            oldest
        })
    }

    /// The messages to hand over, in seq order, each once.
    pub(super) fn done(self) -> Vec<Message> {
        let known = self.known;
        let mut all: Vec<Message> = self.found.into_iter().chain(self.held).collect();
        all.sort_by_key(|m| m.seq);
        all.dedup_by_key(|m| m.seq);
        all.retain(|m| m.seq > known);
        all
    }
}

/// Holds a live message of a room being caught up (it waits for the room's
/// history); any other event is given back.
pub(super) fn hold_if_catching_up(
    catching: &mut HashMap<String, CatchUp>,
    event: Event,
) -> Option<Event> {
    let Event::Message(message) = event else {
        return Some(event);
    };
    let catch_up = match &message.to {
        Peer::Room(room) => catching.get_mut(room),
        Peer::User(_) => None,
    };
    match catch_up {
        Some(catch_up) => {
            catch_up.held.push(message);
            None
        }
        None => Some(Event::Message(message)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::protocol::Body;

    fn message(seq: u64) -> Message {
        Message {
            id: 1000 + seq,
            seq,
            from: "bob".into(),
            to: Peer::Room("lobby".into()),
            body: Body::Text(format!("m{seq}")),
            ts: 0,
        }
    }

    /// A page of history, newest first.
    fn page(seqs: std::ops::RangeInclusive<u64>) -> Result<Response, ErrorCode> {
        Ok(Response::History(seqs.rev().map(message).collect()))
    }

    fn seqs(messages: &[Message]) -> Vec<u64> {
        messages.iter().map(|m| m.seq).collect()
    }

    #[test]
    fn a_catch_up_pages_down_to_what_was_known_and_merges_what_was_held() {
        let mut c = CatchUp::new(10);
        // Live ones held meanwhile, one of them also in the history.
        c.held.push(message(31));
        c.held.push(message(30));
        assert_eq!(c.page(page(21..=30)), Some(21), "not down to 11 yet");
        assert_eq!(c.page(page(9..=20)), None, "reached 10");
        assert_eq!(seqs(&c.done()), (11..=31).collect::<Vec<_>>());
    }

    #[test]
    fn a_refused_or_empty_page_hands_over_what_was_held() {
        let mut c = CatchUp::new(5);
        c.held.push(message(7));
        assert_eq!(c.page(Err(ErrorCode::NotRoomMember)), None);
        assert_eq!(seqs(&c.done()), [7]);
        let mut c = CatchUp::new(5);
        assert_eq!(c.page(Ok(Response::History(Vec::new()))), None);
        assert!(c.done().is_empty());
    }

    #[test]
    fn a_catch_up_stops_after_its_most_pages() {
        let mut c = CatchUp::new(0);
        let mut below = 100_000;
        let mut pages = 1;
        while let Some(next) = c.page(page(below - 200..=below - 1)) {
            below = next;
            pages += 1;
        }
        assert_eq!(pages, MAX_CATCH_UP_PAGES);
        assert_eq!(c.done().len(), 200 * MAX_CATCH_UP_PAGES as usize);
    }
}
