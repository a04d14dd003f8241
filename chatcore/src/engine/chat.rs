//! Chat handlers: 1:1 and room sends (pipelined), and acks with their
//! receipts, and typing notices (history pages are in `lists`).

use std::sync::Arc;

use super::conn::{internal, now_ms, push_notices, Conn, Reply};
use super::pipeline::{InFlight, SendTo};
use super::ServerState;
use crate::friends::LinkState;
use crate::protocol::{limits, Body, ErrorCode, Event, ItemId, Peer, Response, ServerFrame};
use crate::store::{Acks, Appended, Conversation, NewMessage, NewRoomMessage, Receipt, User};

/// Tells the senders' live sessions that their messages were delivered:
/// cumulatively from protocol version 5, by ids before.
fn push_receipts(state: &ServerState, receipts: Vec<Receipt>) {
    for receipt in receipts {
        let current = Arc::new(ServerFrame::Event(Event::DeliveredTo {
            peer: receipt.recipient,
            seq: receipt.seq,
        }));
        let id = receipt.ids.last().copied().unwrap_or_default();
        let older = Arc::new(ServerFrame::Event(Event::Delivered {
            id,
            ids: receipt.ids,
        }));
        state.push_by_version(receipt.sender, &current, &older);
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

impl Conn {
    /// Checks a send and returns its store write (queued at the first poll)
    /// with where it goes.
    pub(super) async fn start_send(
        &self,
        req_id: u32,
        to: Peer,
        client_msg_id: u64,
        body: Body,
    ) -> (Option<SendTo>, InFlight) {
        match self.prepare_send(req_id, to, client_msg_id, body).await {
            Ok((to, answer)) => (Some(to), answer),
            Err(code) => (
                None,
                Box::pin(std::future::ready((Some(req_id), Err(code)))),
            ),
        }
    }

    async fn prepare_send(
        &self,
        req_id: u32,
        to: Peer,
        client_msg_id: u64,
        body: Body,
    ) -> Result<(SendTo, InFlight), ErrorCode> {
        let Body::Text(text) = &body;
        // A message that could not be sent in a frame would be stored and then
        // fail its recipients' connections at every login.
        let fits = text.len() + limits::PAGE_FRAME_OVERHEAD <= self.state.config.max_frame_len;
        if text.is_empty() || text.len() > limits::MAX_TEXT_LEN || !fits {
            return Err(ErrorCode::InvalidMessage);
        }
        let me = self.me();
        let ts = now_ms();
        let state = Arc::clone(&self.state);
        Ok(match to {
            Peer::User(name) => {
                let to = self.resolve(&name).await?;
                self.check_may_chat(&me, &to).await?;
                let key = SendTo::User(to.id);
                let msg = NewMessage {
                    from: me,
                    to,
                    client_msg_id,
                    body,
                    ts,
                    friends_only: !self.state.config.open_chat,
                    device: self.handle.device,
                };
                let write: InFlight = Box::pin(async move {
                    let reply = match state.store.append_direct(msg).await {
                        Ok(Err(code)) => Err(code),
                        Ok(Ok(sent)) => {
                            // The recipient's devices, and the sender's others.
                            push_notices(&state, sent.notices);
                            let r = sent.receipt;
                            Ok(Response::Sent {
                                id: r.id,
                                seq: r.seq,
                                ts: r.ts,
                            })
                        }
                        Err(e) => Err(internal(e)),
                    };
                    (Some(req_id), reply)
                });
                (key, write)
            }
            Peer::Room(name) => {
                // Membership is checked by the store, atomically with the write.
                let room = self.room(&name).await?;
                // Warm for the fan-out after the commit (and refuse early if
                // the members cannot be read).
                let directory = &self.state.directory;
                directory
                    .members(&*self.state.store, room.id)
                    .await
                    .map_err(internal)?;
                self.state.track_room(room.id).await.map_err(internal)?;
                let key = SendTo::Room(room.id);
                let msg = NewRoomMessage {
                    from: me,
                    room: room.clone(),
                    client_msg_id,
                    body,
                    ts,
                };
                let write: InFlight = Box::pin(async move {
                    let reply = match state.store.append_room(msg).await {
                        Ok(Err(code)) => Err(code),
                        Ok(Ok(appended)) => {
                            let answer = sent(&appended);
                            if let Appended::New(message) = appended {
                                // Before the answer, so the sender's sessions
                                // see the message no later than its receipt.
                                state.room_message_stored(room.id, message).await;
                            }
                            Ok(answer)
                        }
                        Err(e) => Err(internal(e)),
                    };
                    (Some(req_id), reply)
                });
                (key, write)
            }
        })
    }

    /// Tells `to` that this user is typing: a friend's (or, on an open server,
    /// anyone's) online sessions, or a room's other online members. Never
    /// stored; passed on at most once per `TYPING_EVERY_MS` per place.
    pub(super) async fn typing(&mut self, to: Peer) -> Reply {
        let now = std::time::Instant::now();
        let every = std::time::Duration::from_millis(limits::TYPING_EVERY_MS);
        if let Some(last) = &self.last_typing {
            if last.0 == to && now.duration_since(last.1) < every {
                return Ok(Response::Done);
            }
        }
        let me = self.me();
        let notice = |to| {
            Arc::new(ServerFrame::Event(Event::Typing {
                from: me.name.clone(),
                to,
                expires_ms: limits::TYPING_SHOWN_MS,
            }))
        };
        match &to {
            Peer::User(name) => {
                let other = self.resolve(name).await?;
                self.check_may_chat(&me, &other).await?;
                let frame = notice(Peer::User(other.name.clone()));
                self.state.push(other.id, &frame);
            }
            Peer::Room(name) => {
                let room = self.joined_room(&me, name).await?;
                let members = self
                    .state
                    .directory
                    .members(&*self.state.store, room.id)
                    .await;
                let frame = notice(Peer::Room(room.name));
                let members = members.map_err(internal)?;
                let others = members.iter().filter(|m| m.id != me.id).map(|m| m.id);
                self.state.push_all(others, &frame);
            }
        }
        self.last_typing = Some(Box::new((to, now)));
        Ok(Response::Done)
    }

    /// Marks a conversation read; the reader's devices and (unless they turned
    /// read receipts off) the other user learn it.
    pub(super) async fn mark_read(&self, peer: Peer, seq: u64) -> Reply {
        let conversation = match peer {
            Peer::User(name) => Conversation::User(self.resolve(&name).await?),
            Peer::Room(name) => Conversation::Room(self.room(&name).await?),
        };
        let store = &self.state.store;
        let notices = store
            .mark_read(&self.me(), conversation, seq)
            .await
            .map_err(internal)??;
        self.push_notices(notices);
        Ok(Response::Done)
    }

    pub(super) async fn set_read_receipts(&self, on: bool) -> Reply {
        let store = &self.state.store;
        store
            .set_read_receipts(self.me().id, on)
            .await
            .map_err(internal)?;
        Ok(Response::Done)
    }

    /// Blocked either way refuses; otherwise friends may chat, and anyone may on an
    /// open server. From the caches, to refuse early: the store checks again
    /// inside the send's transaction.
    pub(super) async fn check_may_chat(&self, me: &User, to: &User) -> Result<(), ErrorCode> {
        let (store, directory) = (&*self.state.store, &self.state.directory);
        let mine = directory
            .link(store, me.id, to.id)
            .await
            .map_err(internal)?;
        let theirs = directory
            .link(store, to.id, me.id)
            .await
            .map_err(internal)?;
        if mine.blocked || theirs.blocked {
            return Err(ErrorCode::Blocked);
        }
        if mine.state != LinkState::Friends && !self.state.config.open_chat {
            return Err(ErrorCode::NotFriends);
        }
        Ok(())
    }

    /// Queues an ack by ids: of room messages, and for a session older than
    /// protocol version 5, of its stream's items. `req_id`: `None` for an
    /// unanswered ack.
    pub(super) fn start_ack(&self, req_id: Option<u32>, ids: Vec<ItemId>) -> InFlight {
        if ids.len() > limits::MAX_ACK_IDS {
            return Box::pin(std::future::ready((
                req_id,
                Err(ErrorCode::InvalidArgument),
            )));
        }
        let (up_to, room_messages) = match &self.handle.sync {
            Some(sync) => sync.acked_ids(ids),
            None => (None, ids),
        };
        self.start_acks(req_id, up_to, room_messages)
    }

    /// Queues a cumulative ack of the stream up to `pos` (unanswered).
    pub(super) fn start_ack_up_to(&self, pos: u64) -> InFlight {
        let up_to = self.handle.sync.as_ref().map(|sync| sync.acked_up_to(pos));
        self.start_acks(None, up_to, Vec::new())
    }

    /// Queues an ack's store write; the receipts go out after the commit.
    fn start_acks(
        &self,
        req_id: Option<u32>,
        up_to: Option<u64>,
        room_messages: Vec<ItemId>,
    ) -> InFlight {
        let me = self.me();
        let state = Arc::clone(&self.state);
        let Some(device) = self.handle.device else {
            return Box::pin(std::future::ready((req_id, Ok(Response::Done))));
        };
        let now = now_ms();
        let inactive = state.config.device_inactive_after.as_millis() as u64;
        let acks = Acks {
            device,
            up_to,
            room_messages,
            now,
            active_since: now.saturating_sub(inactive),
        };
        Box::pin(async move {
            let reply = match state.store.ack(me.id, acks).await {
                Ok(receipts) => {
                    push_receipts(&state, receipts);
                    Ok(Response::Done)
                }
                Err(e) => Err(internal(e)),
            };
            (req_id, reply)
        })
    }
}
