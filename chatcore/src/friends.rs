//! The friend workflow as a pure function: two links in, two links and notices out.
//!
//! ```text
//! none --request--> pending(a->b) --accept--> friends --remove--> none
//!                         |  \--reject--> none
//!                         \--request(b->a), crossing--> friends
//! block (either side, any state) --> none + blocked; unblock --> none
//! ```
//!
//! Every [`Store`](crate::store::Store) backend applies [`transition`] inside its
//! own atomic write, so the rules live in one place.

use serde::{Deserialize, Serialize};

use crate::protocol::{ErrorCode, FriendState};

/// Where one user stands towards another (one direction of a pair).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub enum LinkState {
    /// Nothing.
    #[default]
    None,
    /// Friends (always symmetric).
    Friends,
    /// The owner asked the other.
    Outgoing {
        /// The note sent.
        note: String,
    },
    /// The other asked the owner.
    Incoming {
        /// The note received.
        note: String,
    },
}

/// The owner's view of its relation to another user.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Link {
    /// Friendship or request state (mirrored on the other side).
    pub state: LinkState,
    /// The owner blocks the other.
    pub blocked: bool,
}

impl Link {
    /// True for the default link, which stores need not keep.
    pub fn is_none(&self) -> bool {
        self.state == LinkState::None && !self.blocked
    }

    /// True if the link is an open outgoing request (counts against the bound).
    pub fn is_outgoing(&self) -> bool {
        matches!(self.state, LinkState::Outgoing { .. })
    }

    /// The state as shown in a friend list, if any.
    pub fn friend_state(&self) -> Option<FriendState> {
        if self.blocked {
            return Some(FriendState::Blocked);
        }
        match self.state {
            LinkState::None => None,
            LinkState::Friends => Some(FriendState::Friends),
            LinkState::Outgoing { .. } => Some(FriendState::RequestSent),
            LinkState::Incoming { .. } => Some(FriendState::RequestReceived),
        }
    }
}

/// What a user does towards another.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum FriendAction {
    /// Ask to be friends.
    Request {
        /// Shown to the other.
        note: String,
    },
    /// Answer the other's pending request.
    Respond {
        /// Accept or reject.
        accept: bool,
    },
    /// End the friendship.
    Remove,
    /// Block (ends friendship and requests; idempotent).
    Block,
    /// Unblock (idempotent).
    Unblock,
}

/// Which side of the pair a notice goes to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Side {
    /// The user who acted.
    Actor,
    /// The other user.
    Other,
}

/// An inbox notice the transition produces; the store gives it an id.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum NoticeKind {
    /// "`from` asks to be your friend".
    Requested {
        /// The note.
        note: String,
    },
    /// "you are now friends with the other side".
    Added,
    /// "the other side rejected your request".
    Rejected,
    /// "the other side removed you".
    Removed,
}

/// The result of a transition: new links for both sides and the notices to send.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Transition {
    /// The actor's new link to the other.
    pub actor: Link,
    /// The other's new link to the actor.
    pub other: Link,
    /// Notices, each about the side that did *not* receive it.
    pub notices: Vec<(Side, NoticeKind)>,
}

/// Applies `action` of the actor. `actor_pending` is how many open outgoing requests
/// the actor has; a new request is refused once it reaches `max_pending`.
pub fn transition(
    actor: &Link,
    other: &Link,
    action: &FriendAction,
    actor_pending: usize,
    max_pending: usize,
) -> Result<Transition, ErrorCode> {
    let mut next = Transition {
        actor: actor.clone(),
        other: other.clone(),
        notices: Vec::new(),
    };
    match action {
        FriendAction::Request { note } => {
            if actor.blocked || other.blocked {
                return Err(ErrorCode::Blocked);
            }
            match actor.state {
                LinkState::Friends => return Err(ErrorCode::AlreadyFriends),
                LinkState::Outgoing { .. } => return Err(ErrorCode::AlreadyRequested),
                LinkState::Incoming { .. } => befriend(&mut next),
                LinkState::None => {
                    if actor_pending >= max_pending {
                        return Err(ErrorCode::TooManyPendingRequests);
                    }
                    next.actor.state = LinkState::Outgoing { note: note.clone() };
                    next.other.state = LinkState::Incoming { note: note.clone() };
                    next.notices
                        .push((Side::Other, NoticeKind::Requested { note: note.clone() }));
                }
            }
        }
        FriendAction::Respond { accept } => {
            if !matches!(actor.state, LinkState::Incoming { .. }) {
                return Err(ErrorCode::NoSuchRequest);
            }
            if *accept {
                befriend(&mut next);
            } else {
                next.actor.state = LinkState::None;
                next.other.state = LinkState::None;
                next.notices.push((Side::Other, NoticeKind::Rejected));
            }
        }
        FriendAction::Remove => {
            if actor.state != LinkState::Friends {
                return Err(ErrorCode::NotFriends);
            }
            next.actor.state = LinkState::None;
            next.other.state = LinkState::None;
            next.notices.push((Side::Other, NoticeKind::Removed));
        }
        FriendAction::Block => {
            if actor.state == LinkState::Friends {
                next.notices.push((Side::Other, NoticeKind::Removed));
            }
            next.actor = Link {
                state: LinkState::None,
                blocked: true,
            };
            next.other.state = LinkState::None;
        }
        FriendAction::Unblock => next.actor.blocked = false,
    }
    Ok(next)
}

fn befriend(next: &mut Transition) {
    next.actor.state = LinkState::Friends;
    next.other.state = LinkState::Friends;
    next.notices.push((Side::Other, NoticeKind::Added));
    next.notices.push((Side::Actor, NoticeKind::Added));
}

#[cfg(test)]
mod tests {
    use super::*;

    const MAX: usize = 100;

    fn run(a: &Link, b: &Link, action: FriendAction) -> Result<Transition, ErrorCode> {
        transition(a, b, &action, 0, MAX)
    }

    #[test]
    fn request_then_accept() {
        let t = run(
            &Link::default(),
            &Link::default(),
            FriendAction::Request { note: "hi".into() },
        )
        .unwrap();
        assert!(t.actor.is_outgoing());
        assert_eq!(t.other.state, LinkState::Incoming { note: "hi".into() });
        // The other side accepts.
        let t2 = run(&t.other, &t.actor, FriendAction::Respond { accept: true }).unwrap();
        assert_eq!(t2.actor.state, LinkState::Friends);
        assert_eq!(t2.other.state, LinkState::Friends);
        assert_eq!(t2.notices.len(), 2);
    }

    #[test]
    fn crossing_requests_make_friends() {
        let t = run(
            &Link::default(),
            &Link::default(),
            FriendAction::Request { note: "".into() },
        )
        .unwrap();
        let t2 = run(
            &t.other,
            &t.actor,
            FriendAction::Request { note: "".into() },
        )
        .unwrap();
        assert_eq!(t2.actor.state, LinkState::Friends);
        assert_eq!(t2.other.state, LinkState::Friends);
    }

    #[test]
    fn refusals_are_typed() {
        let friends = Link {
            state: LinkState::Friends,
            blocked: false,
        };
        let req = FriendAction::Request {
            note: String::new(),
        };
        assert_eq!(
            run(&friends, &friends, req.clone()),
            Err(ErrorCode::AlreadyFriends)
        );
        let blocked = Link {
            state: LinkState::None,
            blocked: true,
        };
        assert_eq!(
            run(&Link::default(), &blocked, req.clone()),
            Err(ErrorCode::Blocked)
        );
        assert_eq!(
            transition(&Link::default(), &Link::default(), &req, MAX, MAX),
            Err(ErrorCode::TooManyPendingRequests)
        );
        assert_eq!(
            run(&Link::default(), &Link::default(), FriendAction::Remove),
            Err(ErrorCode::NotFriends)
        );
        assert_eq!(
            run(
                &Link::default(),
                &Link::default(),
                FriendAction::Respond { accept: true }
            ),
            Err(ErrorCode::NoSuchRequest)
        );
    }

    #[test]
    fn block_ends_friendship_and_tells_the_other() {
        let friends = Link {
            state: LinkState::Friends,
            blocked: false,
        };
        let t = run(&friends, &friends, FriendAction::Block).unwrap();
        assert!(t.actor.blocked);
        assert_eq!(t.other.state, LinkState::None);
        assert_eq!(t.notices, vec![(Side::Other, NoticeKind::Removed)]);
        let t2 = run(&t.actor, &t.other, FriendAction::Unblock).unwrap();
        assert!(t2.actor.is_none());
    }
}
