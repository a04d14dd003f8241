//! Friends: the links between two users, and the requests and answers that
//! change them.

use super::scan_decode;
use crate::friends::{transition, FriendAction, Link, NoticeKind, Side};
use crate::protocol::{ErrorCode, Event};
use crate::store::kv::keys;
use crate::store::kv::records::Reader;
use crate::store::kv::{KvBackend, Txn, View};
use crate::store::{FriendOutcome, StoreError, User, UserId};

impl Txn<'_> {
    pub(super) fn link(&self, owner: UserId, other: UserId) -> Result<Link, StoreError> {
        Ok(self.record(&keys::link(owner, other))?.unwrap_or_default())
    }

    fn set_link(
        &mut self,
        owner: UserId,
        other: UserId,
        old: &Link,
        new: &Link,
    ) -> Result<(), StoreError> {
        let key = keys::link(owner, other);
        if new.is_none() {
            self.delete(key);
        } else {
            self.put(key, new);
        }
        let delta = new.is_outgoing() as i64 - old.is_outgoing() as i64;
        if delta != 0 {
            let pkey = keys::pending(owner);
            let count = self.counter(&pkey)?;
            self.put_u64(pkey, count.saturating_add_signed(delta));
        }
        Ok(())
    }
}

/// `actor` does `action` to `other` (not themself): both links move as
/// [`transition`] says, and each side it names gets a notice in their inbox.
pub(super) fn friend_op(
    txn: &mut Txn<'_>,
    actor: &User,
    other: &User,
    action: FriendAction,
    max_pending: usize,
) -> Result<Result<FriendOutcome, ErrorCode>, StoreError> {
    let a_old = txn.link(actor.id, other.id)?;
    let o_old = txn.link(other.id, actor.id)?;
    let pending = txn.counter(&keys::pending(actor.id))? as usize;
    let t = match transition(&a_old, &o_old, &action, pending, max_pending) {
        Ok(t) => t,
        Err(code) => return Ok(Err(code)),
    };
    txn.set_link(actor.id, other.id, &a_old, &t.actor)?;
    txn.set_link(other.id, actor.id, &o_old, &t.other)?;
    let mut notices = Vec::with_capacity(t.notices.len());
    for (side, kind) in t.notices {
        // A notice goes to one side and names the other.
        let (to, about) = match side {
            Side::Actor => (actor, other),
            Side::Other => (other, actor),
        };
        let user = about.name.clone();
        let id = txn.next_id()?;
        let event = match kind {
            NoticeKind::Requested { note } => Event::FriendRequested {
                id,
                from: user,
                note,
            },
            NoticeKind::Added => Event::FriendAdded { id, user },
            NoticeKind::Rejected => Event::FriendRejected { id, user },
            NoticeKind::Removed => Event::FriendRemoved { id, user },
        };
        notices.push(txn.push_event(to.id, event)?);
    }
    Ok(Ok(FriendOutcome {
        link: t.actor,
        notices,
    }))
}

/// Up to `limit` users `owner` has a link to, with the link, in id order, with
/// ids above `after`.
pub(super) fn links<B: KvBackend>(
    b: &View<'_, B>,
    owner: UserId,
    after: Option<UserId>,
    limit: usize,
) -> Result<Vec<(User, Link)>, StoreError> {
    let (first, end) = keys::links_of(owner);
    let start = after.map_or(first, |other| keys::after(keys::link(owner, other)));
    let mut out = Vec::new();
    for (key, link) in scan_decode::<B, Link>(b, (start, end), false, limit)? {
        if let Some(user) = b.user(UserId(keys::last_u64(&key)))? {
            out.push((user, link));
        }
    }
    Ok(out)
}
