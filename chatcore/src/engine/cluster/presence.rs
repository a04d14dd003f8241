//! Who is online on the other nodes, and which nodes are alive.
//!
//! Each node keeps its own online set (users with a session on it) at a
//! version that moves by one per change, and publishes every change, a
//! heartbeat with its version, and on request its whole set. The others keep
//! a view per node: a change that does not follow the view's version (one was
//! lost) or a heartbeat with another version asks that node for its set. A
//! node unheard for the configured number of heartbeats, or that says it is
//! leaving, is dropped with its users.
//!
//! What this module answers: whether a user is online on some other node,
//! and which users' cluster-wide presence (as far as the other nodes go)
//! flipped with a message. Whether to tell anyone is the caller's business
//! (a user still online here flipped nothing).

use std::collections::HashMap;
use std::time::{Duration, Instant};

use crate::store::{User, UserId};

/// One other node as this node last heard of it.
#[derive(Debug)]
struct NodeView {
    incarnation: u64,
    version: u64,
    last_heard: Instant,
    users: HashMap<UserId, User>,
}

/// A user's presence on the other nodes flipped: online on some (`true`) or on none.
pub(super) type Flip = (User, bool);

/// The other nodes' online sets.
#[derive(Debug, Default)]
pub(super) struct Remote {
    nodes: HashMap<String, NodeView>,
    /// On how many other nodes each user is online.
    counts: HashMap<UserId, u32>,
}

/// What a message from a node asks of this one.
#[derive(Debug, Default, PartialEq, Eq)]
pub(super) struct Outcome {
    pub flips: Vec<Flip>,
    /// The node's set must be asked for (a change was missed, or the node is new).
    pub ask_snapshot: bool,
}

impl Remote {
    /// Whether `user` is online on another node.
    pub fn has(&self, user: UserId) -> bool {
        self.counts.contains_key(&user)
    }

    /// Users online on other nodes (each once).
    pub fn users(&self) -> impl Iterator<Item = UserId> + '_ {
        self.counts.keys().copied()
    }

    fn add(&mut self, user: User, flips: &mut Vec<Flip>) {
        let count = self.counts.entry(user.id).or_default();
        *count += 1;
        if *count == 1 {
            flips.push((user, true));
        }
    }

    fn remove(&mut self, user: User, flips: &mut Vec<Flip>) {
        if let Some(count) = self.counts.get_mut(&user.id) {
            *count -= 1;
            if *count == 0 {
                self.counts.remove(&user.id);
                flips.push((user, false));
            }
        }
    }

    /// The view of `node` in `incarnation`, made (or remade, for a node that
    /// restarted: its former users are gone) as needed. Returns whether it is new.
    fn view(&mut self, node: &str, incarnation: u64, now: Instant, flips: &mut Vec<Flip>) -> bool {
        let restarted = self
            .nodes
            .get(node)
            .is_some_and(|v| v.incarnation != incarnation);
        if restarted {
            self.drop_node(node, flips);
        }
        let mut new = false;
        let view = self.nodes.entry(node.to_owned()).or_insert_with(|| {
            new = true;
            NodeView {
                incarnation,
                version: 0,
                last_heard: now,
                users: HashMap::new(),
            }
        });
        view.last_heard = now;
        new
    }

    /// Anything from `node` shows it alive.
    pub fn heard(&mut self, node: &str, incarnation: u64, now: Instant) -> Outcome {
        let mut flips = Vec::new();
        let new = self.view(node, incarnation, now, &mut flips);
        Outcome {
            flips,
            ask_snapshot: new,
        }
    }

    /// A heartbeat of `node` at `version`.
    pub fn heartbeat(
        &mut self,
        node: &str,
        incarnation: u64,
        version: u64,
        now: Instant,
    ) -> Outcome {
        let mut outcome = self.heard(node, incarnation, now);
        let view = &self.nodes[node];
        outcome.ask_snapshot = view.version != version;
        outcome
    }

    /// `node`'s set changed at `version`.
    pub fn change(
        &mut self,
        node: &str,
        incarnation: u64,
        version: u64,
        user: User,
        online: bool,
        now: Instant,
    ) -> Outcome {
        let mut outcome = self.heard(node, incarnation, now);
        let view = self.nodes.get_mut(node).expect("made above");
        if version <= view.version {
            return outcome; // a snapshot had it already
        }
        outcome.ask_snapshot = version != view.version + 1;
        view.version = version;
        let had = if online {
            view.users.insert(user.id, user.clone()).is_some()
        } else {
            view.users.remove(&user.id).is_none()
        };
        if !had {
            if online {
                self.add(user, &mut outcome.flips);
            } else {
                self.remove(user, &mut outcome.flips);
            }
        }
        outcome
    }

    /// `node`'s whole set at `version`.
    pub fn snapshot(
        &mut self,
        node: &str,
        incarnation: u64,
        version: u64,
        users: Vec<User>,
        now: Instant,
    ) -> Outcome {
        let mut outcome = self.heard(node, incarnation, now);
        outcome.ask_snapshot = false;
        let view = self.nodes.get_mut(node).expect("made above");
        if version < view.version {
            return outcome; // older than changes already applied
        }
        view.version = version;
        let new: HashMap<UserId, User> = users.into_iter().map(|u| (u.id, u)).collect();
        let old = std::mem::replace(&mut view.users, new.clone());
        for (id, user) in &old {
            if !new.contains_key(id) {
                self.remove(user.clone(), &mut outcome.flips);
            }
        }
        for (id, user) in new {
            if !old.contains_key(&id) {
                self.add(user, &mut outcome.flips);
            }
        }
        outcome
    }

    /// Forgets `node` and its users (it left, or is dead).
    pub fn drop_node(&mut self, node: &str, flips: &mut Vec<Flip>) {
        if let Some(view) = self.nodes.remove(node) {
            for (_, user) in view.users {
                self.remove(user, flips);
            }
        }
    }

    /// Drops the nodes unheard for longer than `dead_after`; returns their names.
    pub fn drop_dead(&mut self, now: Instant, dead_after: Duration) -> (Vec<String>, Vec<Flip>) {
        let dead: Vec<String> = self
            .nodes
            .iter()
            .filter(|(_, v)| now.saturating_duration_since(v.last_heard) > dead_after)
            .map(|(name, _)| name.clone())
            .collect();
        let mut flips = Vec::new();
        for node in &dead {
            self.drop_node(node, &mut flips);
        }
        (dead, flips)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn user(id: u64) -> User {
        User {
            id: UserId(id),
            name: format!("u{id}"),
        }
    }

    #[test]
    fn a_user_flips_online_with_their_first_node_and_offline_with_their_last() {
        let mut remote = Remote::default();
        let now = Instant::now();
        let a = remote.change("a", 1, 1, user(1), true, now);
        assert_eq!(a.flips, vec![(user(1), true)]);
        assert!(!a.ask_snapshot, "a new node's first change");
        let b = remote.change("b", 1, 1, user(1), true, now);
        assert!(b.flips.is_empty(), "already online on a");
        let a = remote.change("a", 1, 2, user(1), false, now);
        assert!(a.flips.is_empty(), "still online on b");
        assert!(remote.has(UserId(1)));
        let b = remote.change("b", 1, 2, user(1), false, now);
        assert_eq!(b.flips, vec![(user(1), false)]);
        assert!(!remote.has(UserId(1)));
    }

    #[test]
    fn a_missed_change_asks_for_the_set_and_the_set_settles_it() {
        let mut remote = Remote::default();
        let now = Instant::now();
        remote.change("a", 1, 1, user(1), true, now);
        // Version 2 (user 2 online) was lost.
        let gap = remote.change("a", 1, 3, user(3), true, now);
        assert!(gap.ask_snapshot);
        let set = remote.snapshot("a", 1, 3, vec![user(1), user(2), user(3)], now);
        assert_eq!(set.flips, vec![(user(2), true)]);
        let beat = remote.heartbeat("a", 1, 3, now);
        assert_eq!(beat, Outcome::default());
        let beat = remote.heartbeat("a", 1, 4, now);
        assert!(beat.ask_snapshot, "a heartbeat ahead of the view");
    }

    #[test]
    fn a_silent_node_is_dropped_with_its_users_and_a_restarted_one_starts_afresh() {
        let mut remote = Remote::default();
        let start = Instant::now();
        remote.change("a", 1, 1, user(1), true, start);
        remote.change("b", 1, 1, user(2), true, start);
        let later = start + Duration::from_secs(2);
        remote.heartbeat("b", 1, 1, later);
        let (dead, flips) = remote.drop_dead(later, Duration::from_secs(1));
        assert_eq!(dead, vec!["a".to_owned()]);
        assert_eq!(flips, vec![(user(1), false)]);
        assert!(remote.has(UserId(2)));

        let again = remote.heartbeat("b", 2, 3, later);
        assert_eq!(again.flips, vec![(user(2), false)], "b restarted");
        assert!(
            again.ask_snapshot,
            "a new incarnation with changes is asked for its set"
        );
    }
}
