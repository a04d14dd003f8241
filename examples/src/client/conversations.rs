//! What the client has seen of each conversation: the newest seq (for `read`,
//! which marks a conversation read up to it), and the messages it sent that
//! are not yet reported delivered (so that a cumulative `DeliveredTo { peer,
//! seq }` can still name the ids of the messages it covers).

use std::collections::{HashMap, VecDeque};

use chatcore::protocol::{Message, Peer};

/// At most this many sent messages are remembered per peer: one who never
/// comes back must not make the client grow without bound. The oldest go
/// first; their receipts then just do not list them.
const MAX_UNDELIVERED: usize = 1024;

/// A conversation as a map key: names are unique without regard to case, and
/// the server spells them its own way (`DeliveredTo` names the canonical
/// name, the user may have typed `Bob`).
pub fn key(peer: &Peer) -> Peer {
    match peer {
        Peer::User(name) => Peer::User(name.to_ascii_lowercase()),
        Peer::Room(name) => Peer::Room(name.to_ascii_lowercase()),
    }
}

/// The other side of `m` for the user `me`: the room, the recipient of a
/// message `me` sent (from any of their devices), or else its sender.
pub fn conversation_of(me: Option<&str>, m: &Message) -> Peer {
    match &m.to {
        Peer::Room(room) => Peer::Room(room.clone()),
        Peer::User(to) if me.is_some_and(|me| me.eq_ignore_ascii_case(&m.from)) => {
            Peer::User(to.clone())
        }
        Peer::User(_) => Peer::User(m.from.clone()),
    }
}

/// Per-conversation state of one client run.
#[derive(Debug, Default)]
pub struct Conversations {
    /// Whose conversations these are.
    owner: Option<String>,
    /// The newest seq seen in each conversation (by [`key`]).
    newest: HashMap<Peer, u64>,
    /// Per recipient (lower-cased): `(seq, id)` of the messages sent in this
    /// run and not yet reported delivered, in seq order.
    undelivered: HashMap<String, VecDeque<(u64, u64)>>,
}

impl Conversations {
    /// `user` logged in: someone else's conversations are forgotten; the same
    /// user's are kept (receipts for what was sent before a logout still name
    /// its ids).
    pub fn logged_in(&mut self, user: &str) {
        let same = self
            .owner
            .as_deref()
            .is_some_and(|owner| owner.eq_ignore_ascii_case(user));
        if !same {
            *self = Conversations {
                owner: Some(user.to_string()),
                ..Conversations::default()
            };
        }
    }

    /// Notes that the conversation with `peer` has reached `seq`.
    pub fn saw(&mut self, peer: &Peer, seq: u64) {
        let newest = self.newest.entry(key(peer)).or_default();
        *newest = (*newest).max(seq);
    }

    /// Notes a message, in whichever conversation it belongs to for `me`.
    pub fn saw_message(&mut self, me: Option<&str>, m: &Message) {
        self.saw(&conversation_of(me, m), m.seq);
    }

    /// The newest seq seen with `peer`, if any.
    pub fn newest(&self, peer: &Peer) -> Option<u64> {
        self.newest.get(&key(peer)).copied()
    }

    /// Notes a message this client sent to the user `to`, answered with `seq`
    /// and `id`.
    pub fn sent(&mut self, to: &str, seq: u64, id: u64) {
        self.saw(&Peer::User(to.to_string()), seq);
        let sent = self.undelivered.entry(to.to_ascii_lowercase()).or_default();
        // Answers come in seq order, but keep the order whatever happens.
        let at = sent.partition_point(|&(s, _)| s < seq);
        sent.insert(at, (seq, id));
        if sent.len() > MAX_UNDELIVERED {
            sent.pop_front();
        }
    }

    /// The ids of this client's messages to `peer` with seqs up to `seq`,
    /// oldest first, forgotten now that they are reported delivered.
    pub fn delivered(&mut self, peer: &str, seq: u64) -> Vec<u64> {
        let name = peer.to_ascii_lowercase();
        let Some(sent) = self.undelivered.get_mut(&name) else {
            return Vec::new();
        };
        let covered = sent.partition_point(|&(s, _)| s <= seq);
        let ids = sent.drain(..covered).map(|(_, id)| id).collect();
        if sent.is_empty() {
            self.undelivered.remove(&name);
        }
        ids
    }
}

#[cfg(test)]
mod tests {
    use chatcore::protocol::Body;

    use super::*;

    fn message(from: &str, to: Peer, seq: u64) -> Message {
        Message {
            id: 100 + seq,
            seq,
            from: from.into(),
            to,
            body: Body::Text("hi".into()),
            ts: 0,
        }
    }

    #[test]
    fn the_newest_seq_is_kept_per_conversation_without_regard_to_case() {
        let mut c = Conversations::default();
        let bob = Peer::User("bob".into());
        assert_eq!(c.newest(&bob), None);
        c.saw_message(Some("ann"), &message("Bob", Peer::User("ann".into()), 4));
        c.saw(&Peer::User("BOB".into()), 2);
        assert_eq!(c.newest(&bob), Some(4));
        // Your own message, from another device: the conversation is its recipient's.
        c.saw_message(Some("ann"), &message("ann", Peer::User("bob".into()), 5));
        assert_eq!(c.newest(&bob), Some(5));
        c.saw_message(Some("ann"), &message("cat", Peer::Room("Lobby".into()), 9));
        assert_eq!(c.newest(&Peer::Room("lobby".into())), Some(9));
        assert_eq!(c.newest(&Peer::User("lobby".into())), None);
    }

    #[test]
    fn a_receipt_names_the_ids_it_covers_once() {
        let mut c = Conversations::default();
        c.sent("Bob", 3, 30);
        c.sent("bob", 1, 10);
        c.sent("bob", 5, 50);
        c.sent("cat", 2, 20);
        assert_eq!(c.newest(&Peer::User("bob".into())), Some(5));
        assert_eq!(c.delivered("bob", 3), [10, 30]);
        assert_eq!(c.delivered("bob", 3), Vec::<u64>::new());
        assert_eq!(c.delivered("BOB", 9), [50]);
        assert_eq!(c.delivered("dan", 9), Vec::<u64>::new());
        assert_eq!(c.delivered("cat", 2), [20]);
        assert!(c.undelivered.is_empty());
    }

    #[test]
    fn another_user_starts_afresh_the_same_one_does_not() {
        let mut c = Conversations::default();
        c.logged_in("ann");
        c.sent("bob", 1, 10);
        c.logged_in("ANN");
        assert_eq!(c.newest(&Peer::User("bob".into())), Some(1));
        c.logged_in("cat");
        assert_eq!(c.newest(&Peer::User("bob".into())), None);
        assert_eq!(c.delivered("bob", 1), Vec::<u64>::new());
    }

    #[test]
    fn only_the_newest_sends_are_remembered() {
        let mut c = Conversations::default();
        for seq in 1..=MAX_UNDELIVERED as u64 + 10 {
            c.sent("bob", seq, seq * 10);
        }
        let ids = c.delivered("bob", u64::MAX);
        assert_eq!(ids.len(), MAX_UNDELIVERED);
        assert_eq!(ids[0], 110);
    }
}
