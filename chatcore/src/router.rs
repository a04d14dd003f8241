//! Who is online where: user -> live session handles.
//!
//! The map is sharded by user id, each shard behind its own `RwLock`, so routing
//! a message takes one short read lock on one shard and never a global lock.

use std::collections::HashMap;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, RwLock};

use crate::mailbox::{Control, Mailbox, PushError};
use crate::protocol::{DeviceId, ServerFrame};
use crate::store::{StreamItem, UserId};
use crate::sync::{understood, Outgoing, StreamSync, STREAM_VERSION};

const SHARDS: usize = 64;

/// Hashed with foldhash (seeded per map): every delivery looks its recipient
/// up, and SipHash cost several times the lookup itself.
type Shard = RwLock<HashMap<UserId, Vec<SessionHandle>, foldhash::fast::RandomState>>;

/// How to reach one live, authenticated session.
#[derive(Debug, Clone)]
pub(crate) struct SessionHandle {
    pub conn_id: u64,
    pub mailbox: Arc<Mailbox>,
    /// The device it logged in as (set at login).
    pub device: Option<DeviceId>,
    /// The protocol version it speaks (set at the hello).
    pub version: u16,
    /// Its delivery of the user's stream (set at login).
    pub sync: Option<Arc<StreamSync>>,
    /// When it logged in, in µs since the epoch (a cluster's duplicate-login
    /// kicks spare sessions newer than the login that kicks).
    pub logged_in_us: u64,
}

impl SessionHandle {
    /// Queues a frame without waiting, unless the session's version does not
    /// know it; a session whose queue is full is told to close (what its stream
    /// holds waits for its next login).
    pub fn push(&self, frame: Arc<ServerFrame>) {
        if !understood(&frame, self.version) {
            return;
        }
        if let Err(PushError::Full) = self.mailbox.try_push(frame) {
            self.mailbox.stop(Control::SlowReader);
        }
    }
}

/// The result of [`Router::register`].
#[derive(Debug)]
pub(crate) struct Registered {
    /// This is the user's only session: they just came online.
    pub first: bool,
    /// Sessions removed because the new one replaces them.
    pub replaced: Vec<SessionHandle>,
}

/// The online map.
#[derive(Debug)]
pub(crate) struct Router {
    shards: Box<[Shard]>,
    online_users: AtomicUsize,
}

impl Default for Router {
    fn default() -> Self {
        Router {
            shards: (0..SHARDS).map(|_| RwLock::default()).collect(),
            online_users: AtomicUsize::new(0),
        }
    }
}

impl Router {
    fn shard(&self, user: UserId) -> &Shard {
        &self.shards[(user.0 as usize) % SHARDS]
    }

    /// Adds a session of `user`; with `replace`, removes the user's other sessions.
    pub fn register(&self, user: UserId, handle: SessionHandle, replace: bool) -> Registered {
        let mut shard = self.shard(user).write().expect("router lock");
        let sessions = shard.entry(user).or_default();
        let first = sessions.is_empty();
        let replaced = if replace {
            std::mem::take(sessions)
        } else {
            Vec::new()
        };
        sessions.push(handle);
        if first {
            self.online_users.fetch_add(1, Ordering::Relaxed);
        }
        Registered { first, replaced }
    }

    /// Removes a session; returns true if it was the user's last (they went offline).
    pub fn unregister(&self, user: UserId, conn_id: u64) -> bool {
        let mut shard = self.shard(user).write().expect("router lock");
        let Some(sessions) = shard.get_mut(&user) else {
            return false;
        };
        let before = sessions.len();
        sessions.retain(|h| h.conn_id != conn_id);
        let removed = sessions.len() < before;
        if removed && sessions.is_empty() {
            shard.remove(&user);
            self.online_users.fetch_sub(1, Ordering::Relaxed);
            return true;
        }
        false
    }

    /// Pushes a frame to every live session of `user`; returns how many there were.
    pub fn push(&self, user: UserId, frame: &Arc<ServerFrame>) -> usize {
        let shard = self.shard(user).read().expect("router lock");
        let Some(sessions) = shard.get(&user) else {
            return 0;
        };
        for session in sessions {
            session.push(Arc::clone(frame));
        }
        sessions.len()
    }

    /// Pushes `current` to `user`'s live sessions of protocol version 5 or
    /// newer and `older` to the others.
    pub fn push_by_version(
        &self,
        user: UserId,
        current: &Arc<ServerFrame>,
        older: &Arc<ServerFrame>,
    ) {
        let shard = self.shard(user).read().expect("router lock");
        for session in shard.get(&user).into_iter().flatten() {
            let frame = if session.version >= STREAM_VERSION {
                current
            } else {
                older
            };
            session.push(Arc::clone(frame));
        }
    }

    /// Offers an item of `user`'s stream to their live sessions.
    pub fn push_item(&self, user: UserId, item: StreamItem) {
        let shard = self.shard(user).read().expect("router lock");
        let Some(sessions) = shard.get(&user) else {
            return;
        };
        let out = Outgoing::new(item);
        for session in sessions {
            if let Some(sync) = &session.sync {
                sync.offer(&out, &session.mailbox);
            }
        }
    }

    /// Tells every live session of `user`'s `device` to stop with `control`.
    pub fn stop_device(&self, user: UserId, device: DeviceId, control: &Control) {
        let shard = self.shard(user).read().expect("router lock");
        for session in shard.get(&user).into_iter().flatten() {
            if session.device == Some(device) {
                session.mailbox.stop(control.clone());
            }
        }
    }

    /// Kicks `user`'s sessions that logged in before `at_us` or at that very
    /// µs (a login on another node replaces them; of two at once, neither
    /// stays).
    pub fn kick_before(&self, user: UserId, at_us: u64, reason: &str) {
        let shard = self.shard(user).read().expect("router lock");
        for session in shard.get(&user).into_iter().flatten() {
            if session.logged_in_us <= at_us {
                session.mailbox.stop(Control::Kick(reason.into()));
            }
        }
    }

    /// Makes every logged-in session fill its stream from the store (live
    /// items may have been lost).
    pub fn refill_all(&self) {
        for shard in self.shards.iter() {
            let shard = shard.read().expect("router lock");
            for session in shard.values().flatten() {
                if let Some(sync) = &session.sync {
                    sync.refill(&session.mailbox);
                }
            }
        }
    }

    /// The devices of `user` with a live session.
    pub fn online_devices(&self, user: UserId) -> Vec<DeviceId> {
        let shard = self.shard(user).read().expect("router lock");
        shard
            .get(&user)
            .into_iter()
            .flatten()
            .filter_map(|session| session.device)
            .collect()
    }

    /// Whether `user` has a live session.
    pub fn is_online(&self, user: UserId) -> bool {
        self.shard(user)
            .read()
            .expect("router lock")
            .contains_key(&user)
    }

    /// How many users are online.
    pub fn online_count(&self) -> usize {
        self.online_users.load(Ordering::Relaxed)
    }
}
