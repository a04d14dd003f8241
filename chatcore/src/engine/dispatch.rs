//! From a decoded frame to a handler: the session decides what the frame may
//! do, and requests go to the handler for their area (accounts, contacts,
//! chat, rooms, files).

use super::backlog::LoginNews;
use super::conn::{Conn, Flow};
use super::pipeline::Pipeline;
use crate::friends::FriendAction;
use crate::protocol::{
    limits, ClientFrame, DeviceClaim, ErrorCode, Event, Request, Response, ServerFrame,
};
use crate::session::Action;

impl Conn {
    /// Steps the session with one frame and carries out what it decides.
    pub async fn on_frame(&mut self, frame: ClientFrame, pipeline: &mut Pipeline) -> Flow {
        match self.session.on_frame(frame) {
            Action::Greet => {
                self.greet();
                Flow::Continue
            }
            Action::Dispatch { req_id, request } => self.dispatch(req_id, request, pipeline).await,
            Action::Refuse { req_id, code } => {
                self.respond(req_id, Err(code));
                Flow::Continue
            }
            Action::Close { code, greet } => {
                tracing::info!(
                    conn_id = self.handle.conn_id,
                    code = code.as_str(),
                    "closing"
                );
                if greet {
                    self.greet();
                }
                self.send_event(Event::Closing { code });
                Flow::Close
            }
            Action::Acknowledge { ids } => {
                pipeline.push(self.start_ack(None, ids));
                Flow::Continue
            }
            Action::AcknowledgeUpTo { pos } => {
                pipeline.push(self.start_ack_up_to(pos));
                Flow::Continue
            }
            Action::Ignore => Flow::Continue,
        }
    }

    /// Logs in (as a device, if it names one), answers, and starts the backlog.
    async fn log_in(
        &mut self,
        req_id: u32,
        username: String,
        password: String,
        device: Option<DeviceClaim>,
    ) -> Flow {
        let named = device.is_some();
        match self.login(username, password, device).await {
            Ok(login) => {
                let name = login.user.name.clone();
                let answer = if named {
                    Response::LoggedInDevice {
                        user: name,
                        device: login.device,
                    }
                } else {
                    Response::LoggedIn { user: name }
                };
                self.respond(req_id, Ok(answer));
                if login.first {
                    self.state.announce_presence(&login.user, true).await;
                }
                let login_news = LoginNews {
                    fell_behind: login.fell_behind,
                    receipts_since: login.seen_before,
                };
                Flow::Backlog(self.backlog(login.user, Some(login_news)))
            }
            Err(code) => {
                self.respond(req_id, Err(code));
                Flow::Continue
            }
        }
    }

    fn greet(&mut self) {
        self.handle.version = self.session.version();
        self.send(ServerFrame::Hello {
            version: self.session.version(),
            server: self.state.config.server_name.clone(),
        });
    }

    async fn dispatch(&mut self, req_id: u32, request: Request, pipeline: &mut Pipeline) -> Flow {
        if !matches!(request, Request::Send { .. } | Request::Ack { .. }) {
            // Anything but a send or an ack sees the effects of every request before it.
            pipeline.drain(self).await;
        }
        // The backlog must follow the response, so a login answers by itself.
        let request = match request {
            Request::Login { username, password } => {
                return self.log_in(req_id, username, password, None).await
            }
            Request::LoginDevice {
                username,
                password,
                device,
            } => return self.log_in(req_id, username, password, Some(device)).await,
            other => other,
        };
        // Sends and acks are pipelined: many may wait for their commit at once.
        let request = match request {
            Request::Send {
                to,
                client_msg_id,
                body,
            } => {
                let (to, answer) = self.start_send(req_id, to, client_msg_id, body).await;
                pipeline.push_send(to, answer);
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
            Request::Login { .. }
            | Request::LoginDevice { .. }
            | Request::Send { .. }
            | Request::Ack { .. } => {
                unreachable!("handled above")
            }
            Request::Devices => self.devices().await,
            Request::RevokeDevice { device } => self.revoke_device(device).await,
            Request::Typing { to } => self.typing(to).await,
            Request::MarkRead { peer, seq } => self.mark_read(peer, seq).await,
            Request::SetReadReceipts { on } => self.set_read_receipts(on).await,
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
            Request::OnlineCount => Ok(Response::Count(self.state.online_count() as u64)),
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
            Request::Page { list, after, limit } => self.page(list, after, limit).await,
        };
        self.respond(req_id, reply);
        Flow::Continue
    }
}
