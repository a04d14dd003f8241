//! Contact handlers: friend requests and answers, remove, block, and presence
//! (who is told when someone comes or goes). The friend list is in `lists`.

use std::sync::Arc;

use super::conn::{internal, Conn, Reply};
use crate::friends::{FriendAction, LinkState};
use crate::protocol::{ErrorCode, Event, Response, ServerFrame};
use crate::store::{User, UserId};

impl Conn {
    async fn friends_of(&self, user: UserId) -> Result<Vec<User>, ErrorCode> {
        let links = self.state.store.links(user).await.map_err(internal)?;
        Ok(links
            .into_iter()
            .filter(|(_, link)| link.state == LinkState::Friends)
            .map(|(user, _)| user)
            .collect())
    }

    pub(super) async fn friend_op(&self, other: &str, action: FriendAction) -> Reply {
        let me = self.me();
        let other = self.resolve(other).await?;
        if other.id == me.id {
            return Err(ErrorCode::CannotBefriendSelf);
        }
        let requesting = matches!(action, FriendAction::Request { .. });
        let befriending = matches!(
            action,
            FriendAction::Request { .. } | FriendAction::Respond { accept: true }
        );
        // Recent requests count, not only open ones: a block, unblock or
        // decline in between must not reset the bound on a target's notices.
        let now = std::time::Instant::now();
        let pair = (me.id, other.id);
        let recent_requests = &self.state.friend_requests_by_pair;
        if requesting && !recent_requests.allows(&pair, now) {
            return Err(ErrorCode::TooManyRequestsToUser);
        }
        let outcome = self
            .state
            .store
            .friend_op(&me, &other, action, self.state.config.max_pending_requests)
            .await
            .map_err(internal)??;
        if requesting {
            recent_requests.fail(pair, now);
        }
        let friends = outcome.link.state == LinkState::Friends;
        self.state.links_changed(me.id, other.id);
        self.push_notices(outcome.notices);
        if friends && befriending {
            // The two just became friends (an accept or a crossing request): they
            // learn each other's presence as if one had just logged in.
            self.tell_presence_of(&other, &me);
        }
        Ok(if requesting {
            Response::FriendRequested { friends }
        } else {
            Response::Done
        })
    }

    /// Tells `a` and `b` about each other's presence, if online.
    fn tell_presence_of(&self, a: &User, b: &User) {
        let state = &self.state;
        for (to, about) in [(a, b), (b, a)] {
            if state.is_online(about.id) {
                let frame = Arc::new(ServerFrame::Event(Event::Presence {
                    user: about.name.clone(),
                    online: true,
                }));
                state.push(to.id, &frame);
            }
        }
    }

    pub(super) async fn online_friends(&self) -> Reply {
        let me = self.me();
        let friends = self.friends_of(me.id).await?;
        Ok(Response::Users(
            friends
                .into_iter()
                .filter(|f| self.state.is_online(f.id))
                .map(|f| f.name)
                .collect(),
        ))
    }
}
