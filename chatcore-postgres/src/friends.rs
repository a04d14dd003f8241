//! Friends: the links between two users, and the requests and answers that
//! change them.

use chatcore::friends::{transition, FriendAction, Link, NoticeKind, Side};
use chatcore::protocol::{ErrorCode, Event};
use chatcore::store::{FriendOutcome, User, UserId};
use deadpool_postgres::GenericClient;

use crate::stream::{lock_users, push_event};
use crate::txn::{decode, encode, execute, i, limit, next_id, query, query_opt, u, Fail};

/// `owner`'s link to `other` (the default if none is stored).
pub(crate) async fn link<C: GenericClient>(c: &C, owner: u64, other: u64) -> Result<Link, Fail> {
    match query_opt(
        c,
        "SELECT link FROM links WHERE owner = $1 AND other = $2",
        &[&i(owner), &i(other)],
    )
    .await?
    {
        Some(row) => decode("link", row.get::<_, &[u8]>(0)),
        None => Ok(Link::default()),
    }
}

/// Stores `owner`'s new link to `other` and keeps `owner`'s count of open
/// outgoing requests.
async fn set_link<C: GenericClient>(
    c: &C,
    owner: u64,
    other: u64,
    old: &Link,
    new: &Link,
) -> Result<(), Fail> {
    if new.is_none() {
        execute(
            c,
            "DELETE FROM links WHERE owner = $1 AND other = $2",
            &[&i(owner), &i(other)],
        )
        .await?;
    } else {
        execute(
            c,
            "INSERT INTO links (owner, other, link) VALUES ($1, $2, $3)
             ON CONFLICT (owner, other) DO UPDATE SET link = $3",
            &[&i(owner), &i(other), &encode(new)],
        )
        .await?;
    }
    let delta = new.is_outgoing() as i64 - old.is_outgoing() as i64;
    if delta != 0 {
        execute(
            c,
            "UPDATE users SET pending = greatest(pending + $2, 0) WHERE id = $1",
            &[&i(owner), &delta],
        )
        .await?;
    }
    Ok(())
}

/// `actor` does `action` to `other` (not themself): both links move as
/// [`transition`] says, and each side it names gets a notice in its stream.
/// Both users' rows are locked first (in id order), so the pair's links and
/// the actor's pending count change one operation at a time.
pub(crate) async fn friend_op<C: GenericClient>(
    c: &C,
    actor: &User,
    other: &User,
    action: &FriendAction,
    max_pending: usize,
) -> Result<Result<FriendOutcome, ErrorCode>, Fail> {
    lock_users(c, &[actor.id.0, other.id.0]).await?;
    let a_old = link(c, actor.id.0, other.id.0).await?;
    let o_old = link(c, other.id.0, actor.id.0).await?;
    let pending: i64 = query_opt(
        c,
        "SELECT pending FROM users WHERE id = $1",
        &[&i(actor.id.0)],
    )
    .await?
    .map_or(0, |row| row.get(0));
    let t = match transition(&a_old, &o_old, action, pending as usize, max_pending) {
        Ok(t) => t,
        Err(code) => return Ok(Err(code)),
    };
    set_link(c, actor.id.0, other.id.0, &a_old, &t.actor).await?;
    set_link(c, other.id.0, actor.id.0, &o_old, &t.other).await?;
    let mut notices = Vec::with_capacity(t.notices.len());
    for (side, kind) in t.notices {
        // A notice goes to one side and names the other.
        let (to, about) = match side {
            Side::Actor => (actor, other),
            Side::Other => (other, actor),
        };
        let user = about.name.clone();
        let id = next_id(c).await?;
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
        notices.push(push_event(c, to.id.0, event).await?);
    }
    Ok(Ok(FriendOutcome {
        link: t.actor,
        notices,
    }))
}

/// Up to `max` users `owner` has a link to, with the link, in id order, with
/// ids above `after`.
pub(crate) async fn links<C: GenericClient>(
    c: &C,
    owner: UserId,
    after: Option<UserId>,
    max: usize,
) -> Result<Vec<(User, Link)>, Fail> {
    let rows = query(
        c,
        "SELECT l.other, u.name, l.link FROM links l JOIN users u ON u.id = l.other
         WHERE l.owner = $1 AND l.other > $2 ORDER BY l.other LIMIT $3",
        &[
            &i(owner.0),
            &after.map_or(i64::MIN, |a| i(a.0)),
            &limit(max),
        ],
    )
    .await?;
    rows.iter()
        .map(|row| {
            let user = User {
                id: UserId(u(row.get(0))),
                name: row.get(1),
            };
            Ok((user, decode("link", row.get::<_, &[u8]>(2))?))
        })
        .collect()
}
