//! What a client has handed to the application: the inbox ids it forwarded
//! (so a redelivery is forwarded once) and, in explicit-ack mode, the stream
//! positions still waiting for the application's ack.

use std::collections::{HashSet, VecDeque};

use crate::protocol::ItemId;

/// Remembers recently forwarded inbox ids so a redelivery is forwarded once.
#[derive(Debug, Default)]
pub(super) struct SeenIds {
    set: HashSet<ItemId>,
    order: VecDeque<ItemId>,
}

impl SeenIds {
    const CAPACITY: usize = 65_536;

    pub(super) fn contains(&self, id: ItemId) -> bool {
        self.set.contains(&id)
    }

    /// True if `id` is new.
    pub(super) fn insert(&mut self, id: ItemId) -> bool {
        if !self.set.insert(id) {
            return false;
        }
        self.order.push_back(id);
        if self.order.len() > Self::CAPACITY {
            if let Some(old) = self.order.pop_front() {
                self.set.remove(&old);
            }
        }
        true
    }
}

/// Stream items forwarded in explicit-ack mode and not yet acked: their
/// positions, and the ids the application acks them by.
#[derive(Debug, Default)]
pub(super) struct Forwarded {
    items: VecDeque<(u64, Option<ItemId>)>,
}

impl Forwarded {
    /// Most remembered: an application that acks nothing is not remembered for
    /// ever (what it never acked comes again at the next login).
    const CAPACITY: usize = 65_536;

    pub(super) fn push(&mut self, pos: u64, id: Option<ItemId>) {
        if self.items.len() == Self::CAPACITY {
            self.items.pop_front();
        }
        self.items.push_back((pos, id));
    }

    /// The position acking `ids` moves to: past the newest item they name and
    /// the items without an id after it (receipts and read marks, which the
    /// application has nothing to do for).
    pub(super) fn acked(&mut self, ids: &[ItemId]) -> Option<u64> {
        let newest = self
            .items
            .iter()
            .rposition(|(_, id)| id.is_some_and(|id| ids.contains(&id)))?;
        let mut up_to = self.items[newest].0;
        self.items.drain(..=newest);
        while let Some(&(pos, None)) = self.items.front() {
            up_to = pos;
            self.items.pop_front();
        }
        Some(up_to)
    }
}
