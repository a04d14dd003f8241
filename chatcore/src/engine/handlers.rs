//! Request handlers: accounts, friends, presence, chat.
//!
//! Each handler returns the response payload or the [`ErrorCode`] that refuses the
//! request; a storage failure is logged and answered `Internal`.

use std::sync::Arc;
use std::time::{SystemTime, UNIX_EPOCH};

use super::connection::{Conn, Flow, InFlight, Pipeline};
use super::Shared;
use crate::friends::{FriendAction, LinkState};
use crate::protocol::{
    is_valid_name, limits, Body, ErrorCode, Event, FriendEntry, ItemId, Peer, Request, Response,
    ServerFrame,
};
use crate::store::{Appended, NewMessage, NewRoomMessage, Notice, StoreError, User, UserId};

pub(super) type Reply = Result<Response, ErrorCode>;

pub(super) fn internal(e: StoreError) -> ErrorCode {
    tracing::error!(error = %e, "store failure");
    ErrorCode::Internal
}

/// Pushes inbox notices to their recipients' live sessions.
fn push_notices(shared: &Shared, notices: Vec<Notice>) {
    for notice in notices {
        let frame = Arc::new(ServerFrame::Event(notice.event));
        shared.router.push(notice.recipient, &frame);
    }
}

/// The answer to a send: where the message is stored.
fn sent(appended: &Appended) -> Response {
    let (id, seq, ts) = match appended {
        Appended::New(m) => (m.id, m.seq, m.ts),
        Appended::Duplicate(r) => (r.id, r.seq, r.ts),
    };
    Response::Sent { id, seq, ts }
}

pub(super) fn now_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as u64)
}

impl Conn {
    pub(super) async fn dispatch(
        &mut self,
        req_id: u32,
        request: Request,
        pipeline: &mut Pipeline,
    ) -> Flow {
        if !matches!(request, Request::Send { .. } | Request::Ack { .. }) {
            // Anything but a send or an ack sees the effects of every request before it.
            pipeline.drain(self).await;
        }
        if let Request::Login { username, password } = request {
            // The backlog must follow the response, so login answers by itself.
            return match self.login(username, password).await {
                Ok((user, first)) => {
                    self.respond(
                        req_id,
                        Ok(Response::LoggedIn {
                            user: user.name.clone(),
                        }),
                    );
                    self.after_login(user, first).await;
                    Flow::Continue
                }
                Err(code) => {
                    self.respond(req_id, Err(code));
                    Flow::Continue
                }
            };
        }
        // Sends and acks are pipelined: many may wait for their commit at once.
        let request = match request {
            Request::Send {
                to,
                client_msg_id,
                body,
            } => {
                let answer = self.start_send(req_id, to, client_msg_id, body).await;
                pipeline.push(answer);
                return Flow::Continue;
            }
            Request::Ack { ids } => {
                let answer = self.start_ack(Some(req_id), ids);
                pipeline.push(answer);
                return Flow::Continue;
            }
            other => other,
        };
        let reply = match request {
            Request::Login { .. } | Request::Send { .. } | Request::Ack { .. } => {
                unreachable!("handled above")
            }
            Request::Ping => Ok(Response::Pong),
            Request::Register { username, password } => self.register(username, password).await,
            Request::Logout => self.logout().await,
            Request::SearchUsers { query, limit } => self.search(query, limit).await,
            Request::FriendRequest { to, note } => {
                if note.len() > limits::MAX_NOTE_LEN {
                    Err(ErrorCode::InvalidArgument)
                } else {
                    self.friend_op(&to, FriendAction::Request { note }).await
                }
            }
            Request::FriendRespond { from, accept } => {
                self.friend_op(&from, FriendAction::Respond { accept })
                    .await
            }
            Request::RemoveFriend { user } => self.friend_op(&user, FriendAction::Remove).await,
            Request::Block { user } => self.friend_op(&user, FriendAction::Block).await,
            Request::Unblock { user } => self.friend_op(&user, FriendAction::Unblock).await,
            Request::ListFriends => self.list_friends().await,
            Request::OnlineFriends => self.online_friends().await,
            Request::OnlineCount => Ok(Response::Count(self.shared.router.online_count() as u64)),
            Request::History {
                peer,
                before_seq,
                limit,
            } => self.history(peer, before_seq, limit).await,
            Request::CreateRoom { name } => self.create_room(name).await,
            Request::JoinRoom { name } => {
                // Recent messages must follow the response: it answers by itself.
                self.join_room(req_id, name).await;
                return Flow::Continue;
            }
            Request::LeaveRoom { name } => self.leave_room(name).await,
            Request::DeleteRoom { name } => self.delete_room(name).await,
            Request::ListRooms => self.list_rooms().await,
            Request::Members { room } => self.members(room).await,
            Request::OfferFile {
                to,
                name,
                size,
                sha256,
            } => self.offer_file(to, name, size, sha256).await,
            Request::UploadChunk {
                file,
                offset,
                bytes,
            } => self.upload_chunk(file, offset, bytes).await,
            Request::CompleteFile { file } => self.complete_file(file).await,
            Request::ListFiles { peer } => self.list_files(peer).await,
            Request::DownloadChunk { file, offset, len } => {
                self.download_chunk(file, offset, len).await
            }
        };
        self.respond(req_id, reply);
        Flow::Continue
    }

    pub(super) fn me(&self) -> User {
        self.session
            .user()
            .cloned()
            .expect("the session only dispatches these when authenticated")
    }

    /// Resolves a user name to a user, or `NoSuchUser`.
    pub(super) async fn resolve(&self, name: &str) -> Result<User, ErrorCode> {
        self.shared.directory.user(&*self.shared.store, name).await
    }

    pub(super) fn push_notices(&self, notices: Vec<Notice>) {
        push_notices(&self.shared, notices);
    }

    // ---- accounts ----

    async fn register(&self, username: String, password: String) -> Reply {
        if !is_valid_name(&username) {
            return Err(ErrorCode::InvalidUsername);
        }
        if !(limits::MIN_PASSWORD_LEN..=limits::MAX_PASSWORD_LEN).contains(&password.len()) {
            return Err(ErrorCode::InvalidPassword);
        }
        let hash = self.shared.hasher.hash(password).await.map_err(|e| {
            tracing::error!(error = %e, "hashing failed");
            ErrorCode::Internal
        })?;
        match self.shared.store.create_user(&username, &hash).await {
            Ok(Some(user)) => {
                tracing::info!(user = %user.name, "registered");
                Ok(Response::Done)
            }
            Ok(None) => Err(ErrorCode::UsernameTaken),
            Err(e) => Err(internal(e)),
        }
    }

    /// Checks the credentials and enters the user into the router. Returns the user
    /// and whether this is their first session.
    async fn login(
        &mut self,
        username: String,
        password: String,
    ) -> Result<(User, bool), ErrorCode> {
        // Throttled before the (slow) hash: guessing costs the guesser, not us.
        let now = std::time::Instant::now();
        let user_key = username.to_lowercase();
        let address = self.peer.map(|p| p.ip());
        let shared = &self.shared;
        if !shared.failed_logins_by_user.allows(&user_key, now)
            || address.is_some_and(|a| !shared.failed_logins_by_address.allows(&a, now))
        {
            tracing::warn!(%username, peer = ?self.peer, "login throttled");
            return Err(ErrorCode::RateLimited);
        }
        // Malformed credentials are just wrong credentials: no hint either way.
        let well_formed = is_valid_name(&username) && password.len() <= limits::MAX_PASSWORD_LEN;
        let account = if well_formed {
            self.shared
                .store
                .account_by_name(&username)
                .await
                .map_err(internal)?
        } else {
            None
        };
        let hash = account.as_ref().map(|a| a.password_hash.clone());
        let ok = self
            .shared
            .hasher
            .verify(password, hash)
            .await
            .map_err(|e| {
                tracing::error!(error = %e, "verifying failed");
                ErrorCode::Internal
            })?;
        let Some(account) = account.filter(|_| ok) else {
            tracing::info!(%username, peer = ?self.peer, "login failed");
            self.shared.failed_logins_by_user.fail(user_key, now);
            if let Some(address) = address {
                self.shared.failed_logins_by_address.fail(address, now);
            }
            return Err(ErrorCode::InvalidCredentials);
        };
        self.shared.failed_logins_by_user.clear(&user_key);
        let user = account.user;
        let replace = self.shared.config.duplicate_login == super::DuplicateLogin::ReplaceOld;
        let registered = self
            .shared
            .router
            .register(user.id, self.handle.clone(), replace);
        for old in registered.replaced {
            old.mailbox
                .stop(crate::mailbox::Control::Kick("logged in elsewhere".into()));
        }
        self.session.logged_in(user.clone());
        tracing::info!(user = %user.name, conn_id = self.handle.conn_id, "logged in");
        Ok((user, registered.first))
    }

    /// After the login response: presence, then the inbox backlog, then `CaughtUp`.
    async fn after_login(&self, user: User, first: bool) {
        if first {
            self.announce_presence(&user, true).await;
        }
        let mut after: Option<ItemId> = None;
        loop {
            let page = match self
                .shared
                .store
                .inbox(user.id, after, self.shared.config.backlog_page)
                .await
            {
                Ok(page) => page,
                Err(e) => {
                    // The items stay in the inbox; the next login retries.
                    internal(e);
                    break;
                }
            };
            let full = page.len() == self.shared.config.backlog_page;
            for event in page {
                after = event.inbox_id().or(after);
                self.send_event_waiting(event).await;
            }
            if !full {
                break;
            }
        }
        self.announce_unread_rooms(&user).await;
        self.send_event_waiting(Event::CaughtUp).await;
    }

    async fn logout(&mut self) -> Reply {
        if let Some(user) = self.session.logged_out() {
            self.went_away(user).await;
        }
        Ok(Response::Done)
    }

    /// Leaves the router; if that was the user's last session, tells their friends.
    pub(super) async fn went_away(&self, user: User) {
        tracing::info!(user = %user.name, conn_id = self.handle.conn_id, "logged out");
        if self.shared.router.unregister(user.id, self.handle.conn_id) {
            self.announce_presence(&user, false).await;
        }
    }

    async fn friends_of(&self, user: UserId) -> Result<Vec<User>, ErrorCode> {
        let links = self.shared.store.links(user).await.map_err(internal)?;
        Ok(links
            .into_iter()
            .filter(|(_, link)| link.state == LinkState::Friends)
            .map(|(user, _)| user)
            .collect())
    }

    async fn announce_presence(&self, user: &User, online: bool) {
        let Ok(friends) = self.friends_of(user.id).await else {
            return;
        };
        let frame = Arc::new(ServerFrame::Event(Event::Presence {
            user: user.name.clone(),
            online,
        }));
        for friend in friends {
            self.shared.router.push(friend.id, &frame);
        }
    }

    async fn search(&self, query: String, limit: u32) -> Reply {
        let limit = limit.min(limits::MAX_SEARCH_RESULTS) as usize;
        if query.len() > limits::MAX_USERNAME_LEN {
            return Ok(Response::Users(Vec::new()));
        }
        let users = self
            .shared
            .store
            .search_users(&query, limit)
            .await
            .map_err(internal)?;
        Ok(Response::Users(users))
    }

    // ---- friends and presence ----

    async fn friend_op(&self, other: &str, action: FriendAction) -> Reply {
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
        let outcome = self
            .shared
            .store
            .friend_op(&me, &other, action, self.shared.config.max_pending_requests)
            .await
            .map_err(internal)??;
        let friends = outcome.link.state == LinkState::Friends;
        self.shared
            .directory
            .set_links(me.id, other.id, outcome.link, outcome.other_link);
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
        let router = &self.shared.router;
        for (to, about) in [(a, b), (b, a)] {
            if router.is_online(about.id) {
                let frame = Arc::new(ServerFrame::Event(Event::Presence {
                    user: about.name.clone(),
                    online: true,
                }));
                router.push(to.id, &frame);
            }
        }
    }

    async fn list_friends(&self) -> Reply {
        let me = self.me();
        let links = self.shared.store.links(me.id).await.map_err(internal)?;
        let entries = links
            .into_iter()
            .filter_map(|(user, link)| {
                let state = link.friend_state()?;
                let online =
                    link.state == LinkState::Friends && self.shared.router.is_online(user.id);
                Some(FriendEntry {
                    user: user.name,
                    state,
                    online,
                })
            })
            .collect();
        Ok(Response::Friends(entries))
    }

    async fn online_friends(&self) -> Reply {
        let me = self.me();
        let friends = self.friends_of(me.id).await?;
        Ok(Response::Users(
            friends
                .into_iter()
                .filter(|f| self.shared.router.is_online(f.id))
                .map(|f| f.name)
                .collect(),
        ))
    }

    // ---- chat ----

    /// Checks a send and queues its store write; the answer comes after the commit.
    async fn start_send(&self, req_id: u32, to: Peer, client_msg_id: u64, body: Body) -> InFlight {
        match self.prepare_send(req_id, to, client_msg_id, body).await {
            Ok(answer) => answer,
            Err(code) => Box::pin(std::future::ready((Some(req_id), Err(code)))),
        }
    }

    async fn prepare_send(
        &self,
        req_id: u32,
        to: Peer,
        client_msg_id: u64,
        body: Body,
    ) -> Result<InFlight, ErrorCode> {
        let Body::Text(text) = &body;
        if text.is_empty() || text.len() > limits::MAX_TEXT_LEN {
            return Err(ErrorCode::InvalidMessage);
        }
        let me = self.me();
        let ts = now_ms();
        let shared = Arc::clone(&self.shared);
        Ok(match to {
            Peer::User(name) => {
                let to = self.resolve(&name).await?;
                self.check_may_chat(&me, &to).await?;
                let msg = NewMessage {
                    from: me,
                    to: to.clone(),
                    client_msg_id,
                    body,
                    ts,
                };
                Box::pin(async move {
                    let reply = match shared.store.append_direct(msg).await {
                        Ok(appended) => {
                            let answer = sent(&appended);
                            if let Appended::New(message) = appended {
                                // Moved, not copied, into the delivery.
                                let frame = Arc::new(ServerFrame::Event(Event::Message(message)));
                                shared.router.push(to.id, &frame);
                            }
                            Ok(answer)
                        }
                        Err(e) => Err(internal(e)),
                    };
                    (Some(req_id), reply)
                })
            }
            Peer::Room(name) => {
                // Membership is checked by the store, atomically with the write.
                let room = self.room(&name).await?;
                let deliver = self.room_delivery(&room).await?;
                let msg = NewRoomMessage {
                    from: me,
                    room,
                    client_msg_id,
                    body,
                    ts,
                };
                Box::pin(async move {
                    let reply = match shared.store.append_room(msg, deliver).await {
                        Ok(Err(code)) => Err(code),
                        Ok(Ok(appended)) => Ok(sent(&appended)),
                        Err(e) => Err(internal(e)),
                    };
                    (Some(req_id), reply)
                })
            }
        })
    }

    /// Blocked either way refuses; otherwise friends may chat, and anyone may on an
    /// open server.
    pub(super) async fn check_may_chat(&self, me: &User, to: &User) -> Result<(), ErrorCode> {
        let (store, directory) = (&*self.shared.store, &self.shared.directory);
        let mine = directory.link(store, me.id, to.id).await?;
        let theirs = directory.link(store, to.id, me.id).await?;
        if mine.blocked || theirs.blocked {
            return Err(ErrorCode::Blocked);
        }
        if mine.state != LinkState::Friends && !self.shared.config.open_chat {
            return Err(ErrorCode::NotFriends);
        }
        Ok(())
    }

    /// Queues an ack's store write; the receipts go out after the commit.
    /// `req_id`: `None` for an unanswered ack.
    pub(super) fn start_ack(&self, req_id: Option<u32>, ids: Vec<ItemId>) -> InFlight {
        if ids.len() > limits::MAX_ACK_IDS {
            return Box::pin(std::future::ready((
                req_id,
                Err(ErrorCode::InvalidArgument),
            )));
        }
        let me = self.me();
        let shared = Arc::clone(&self.shared);
        Box::pin(async move {
            let reply = match shared.store.ack(me.id, &ids).await {
                Ok(receipts) => {
                    push_notices(&shared, receipts);
                    Ok(Response::Done)
                }
                Err(e) => Err(internal(e)),
            };
            (req_id, reply)
        })
    }

    async fn history(&self, peer: Peer, before_seq: Option<u64>, limit: u32) -> Reply {
        let limit = limit.min(limits::MAX_HISTORY_PAGE) as usize;
        let me = self.me();
        let store = &self.shared.store;
        let page = match peer {
            Peer::User(name) => {
                let other = self.resolve(&name).await?;
                store
                    .direct_history(me.id, other.id, before_seq, limit)
                    .await
            }
            Peer::Room(name) => {
                let room = self.joined_room(&me, &name).await?;
                store.room_history(room.id, before_seq, limit).await
            }
        }
        .map_err(internal)?;
        Ok(Response::History(page))
    }
}
