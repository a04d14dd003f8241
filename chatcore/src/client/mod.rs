//! An async client over any [`ClientConnection`].
//!
//! [`Client::connect`] exchanges hellos and starts a driver task that matches
//! responses to requests by `req_id` and forwards events to [`Events`]. Inbox
//! events (messages, friend notices, receipts) are acknowledged automatically once
//! forwarded, in batches (held up to [`ClientConfig::ack_delay`], 5 ms by
//! default), and a redelivered id is forwarded only once. Requests
//! may be pipelined: those queued while the driver was busy leave in one write.

use futures::{SinkExt, StreamExt};
use tokio::sync::{mpsc, oneshot};

use crate::protocol::{
    limits, Body, ClientFrame, CodecError, DeviceClaim, DeviceId, DeviceInfo, ErrorCode, Event,
    FileInfo, FriendEntry, ItemId, Items, List, MemberEntry, Message, Peer, Request, Response,
    RoomInfo, ServerFrame, OLDEST_PROTOCOL_VERSION, PROTOCOL_VERSION,
};
use crate::transport::{ClientConnection, TransportError};

mod driver;

/// Why a client call failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ClientError {
    /// The server refused the request.
    #[error("refused: {0} ({code})", code = .0.as_str())]
    Refused(ErrorCode),
    /// The connection is gone.
    #[error("connection closed")]
    Closed,
    /// The transport failed.
    #[error(transparent)]
    Transport(#[from] TransportError),
    /// The server answered something that does not fit the request.
    #[error("unexpected response: {0}")]
    Unexpected(String),
    /// The [`ClientConfig`] makes no sense.
    #[error("invalid client config: {0}")]
    Config(#[from] ConfigError),
    /// The server speaks a protocol version older than the request needs (it
    /// was not sent: the server would not understand it).
    #[error("the server speaks protocol version {server}; this needs version {needed}")]
    Unsupported {
        /// The connection's version.
        server: u16,
        /// The version the request needs.
        needed: u16,
    },
}

impl From<CodecError> for ClientError {
    fn from(e: CodecError) -> Self {
        ClientError::Transport(e.into())
    }
}

impl ClientError {
    /// The refusal code, if the server refused.
    pub fn code(&self) -> Option<ErrorCode> {
        match self {
            ClientError::Refused(code) => Some(*code),
            _ => None,
        }
    }
}

/// What a successful send returns.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Sent {
    /// Server id of the message.
    pub id: ItemId,
    /// Seq in the conversation.
    pub seq: u64,
    /// Server timestamp, ms since the epoch.
    pub ts: u64,
}

/// Client settings.
///
/// New settings may be added in any release, so the struct cannot be built
/// with a literal outside this crate: start from the default and change what
/// you need. [`Client::connect_with`] refuses nonsense with a [`ConfigError`].
///
/// ```
/// use chatcore::client::ClientConfig;
///
/// let mut config = ClientConfig::default();
/// config.ack_delay = std::time::Duration::ZERO;
/// assert!(config.validate().is_ok());
///
/// config.client_name = "line\nbreak".into();
/// assert!(config.validate().is_err());
/// ```
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct ClientConfig {
    /// Sent in the hello.
    pub client_name: String,
    /// Acknowledge inbox events once they are handed to [`Events`] (an event
    /// that cannot be handed over, because `Events` was dropped, is never
    /// acked). The server deletes an acked item and tells its sender it was
    /// delivered, so an application that must not lose a message between
    /// receiving and processing it (a crash before it is stored or shown)
    /// turns this off and acks each item itself with [`Client::ack`] once it
    /// is done with it: the explicit-ack mode. Unacked items come again at
    /// the next login.
    pub auto_ack: bool,
    /// How long automatic acks wait for more to go out with them. Zero sends
    /// them as soon as the driver has nothing else to do. Any request sends
    /// the waiting ones first.
    pub ack_delay: std::time::Duration,
}

impl Default for ClientConfig {
    fn default() -> Self {
        ClientConfig {
            client_name: format!("chatcore-client/{}", env!("CARGO_PKG_VERSION")),
            auto_ack: true,
            ack_delay: DEFAULT_ACK_DELAY,
        }
    }
}

/// [`ClientConfig::ack_delay`]'s default: short beside a person's reading, long
/// enough that a busy chat's acks go out several at a time.
pub const DEFAULT_ACK_DELAY: std::time::Duration = std::time::Duration::from_millis(5);

/// The longest [`ClientConfig::client_name`], in bytes (it goes into the
/// server's logs).
pub const MAX_CLIENT_NAME_LEN: usize = 128;

/// A [`ClientConfig`] setting that makes no sense.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ConfigError {
    /// `client_name` is over [`MAX_CLIENT_NAME_LEN`] bytes or holds control
    /// characters.
    #[error("client_name must be at most {MAX_CLIENT_NAME_LEN} bytes, without control characters")]
    BadClientName,
}

impl ClientConfig {
    /// Checks the settings: a `client_name` of at most [`MAX_CLIENT_NAME_LEN`]
    /// bytes without control characters.
    pub fn validate(&self) -> Result<(), ConfigError> {
        if self.client_name.len() > MAX_CLIENT_NAME_LEN
            || self.client_name.chars().any(char::is_control)
        {
            return Err(ConfigError::BadClientName);
        }
        Ok(())
    }
}

type Pending = oneshot::Sender<Result<Response, ErrorCode>>;

/// The protocol version that brought [`Request::Page`].
const PAGED_LISTS: u16 = 3;
/// The first protocol version with devices ([`Request::LoginDevice`]) and typing notices.
const DEVICES: u16 = 4;

/// A list's items and next cursor, from a page or from an older server's
/// whole-list answer (no cursor); any other response back.
type Picked<T> = Result<(Vec<T>, Option<String>), Response>;

/// A connected client. Cheap to clone; all clones share the connection.
#[derive(Debug, Clone)]
pub struct Client {
    requests: mpsc::UnboundedSender<(Request, Pending)>,
    server: String,
    version: u16,
}

/// The stream of events the server pushes, in arrival order. Ends when the
/// connection closes.
#[derive(Debug)]
pub struct Events {
    rx: mpsc::UnboundedReceiver<Event>,
}

impl Events {
    /// The next event, or `None` once the connection is closed.
    pub async fn next(&mut self) -> Option<Event> {
        self.rx.recv().await
    }

    /// An event if one is already waiting.
    pub fn try_next(&mut self) -> Option<Event> {
        self.rx.try_recv().ok()
    }
}

impl futures::Stream for Events {
    type Item = Event;
    fn poll_next(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<Option<Event>> {
        self.rx.poll_recv(cx)
    }
}

impl Client {
    /// Says hello over `conn` with the default config.
    pub async fn connect<C: ClientConnection>(conn: C) -> Result<(Client, Events), ClientError> {
        Self::connect_with(conn, ClientConfig::default()).await
    }

    /// Says hello over `conn`, waits for the server's hello, and starts the driver.
    /// Fails at once, sending nothing, on a config that makes no sense
    /// ([`ClientConfig::validate`]).
    pub async fn connect_with<C: ClientConnection>(
        mut conn: C,
        config: ClientConfig,
    ) -> Result<(Client, Events), ClientError> {
        config.validate()?;
        conn.send(ClientFrame::Hello {
            version: PROTOCOL_VERSION,
            client: config.client_name.clone(),
        })
        .await?;
        // The server names the version the connection uses: ours or older.
        let (server, version) = match conn.next().await {
            Some(Ok(ServerFrame::Hello { version, server }))
                if (OLDEST_PROTOCOL_VERSION..=PROTOCOL_VERSION).contains(&version) =>
            {
                (server, version)
            }
            Some(Ok(ServerFrame::Hello { version, .. })) => {
                return Err(CodecError::WrongVersion {
                    got: version,
                    supported: PROTOCOL_VERSION,
                }
                .into())
            }
            Some(Ok(ServerFrame::Event(Event::Closing { code }))) => {
                return Err(ClientError::Refused(code))
            }
            Some(Ok(other)) => return Err(ClientError::Unexpected(format!("{other:?}"))),
            Some(Err(e)) => return Err(e.into()),
            None => return Err(ClientError::Closed),
        };
        let (req_tx, req_rx) = mpsc::unbounded_channel();
        let (event_tx, event_rx) = mpsc::unbounded_channel();
        let auto_ack = config.auto_ack.then_some(config.ack_delay);
        tokio::spawn(driver::drive(conn, req_rx, event_tx, version, auto_ack));
        Ok((
            Client {
                requests: req_tx,
                server,
                version,
            },
            Events { rx: event_rx },
        ))
    }

    /// The server's name from its hello.
    pub fn server_name(&self) -> &str {
        &self.server
    }

    /// The protocol version the connection uses (the server's hello names it):
    /// [`PROTOCOL_VERSION`], or an older one an older server speaks.
    pub fn protocol_version(&self) -> u16 {
        self.version
    }

    /// Sends any request and waits for its response.
    pub async fn request(&self, request: Request) -> Result<Response, ClientError> {
        let (tx, rx) = oneshot::channel();
        self.requests
            .send((request, tx))
            .map_err(|_| ClientError::Closed)?;
        match rx.await {
            Ok(Ok(response)) => Ok(response),
            Ok(Err(code)) => Err(ClientError::Refused(code)),
            Err(_) => Err(ClientError::Closed),
        }
    }

    /// A page of `list` (protocol version 3): at most `limit` items, fewer if
    /// more do not fit in a frame, starting after the cursor `after` (a
    /// previous page's); with the cursor of the next page, `None` at the end.
    /// An older server is not asked ([`ClientError::Unsupported`]).
    pub async fn page(
        &self,
        list: List,
        after: Option<String>,
        limit: u32,
    ) -> Result<(Items, Option<String>), ClientError> {
        self.needs(PAGED_LISTS)?;
        match self.request(Request::Page { list, after, limit }).await? {
            Response::Page { items, next } => Ok((items, next)),
            other => Err(ClientError::Unexpected(format!("{other:?}"))),
        }
    }

    /// Every item of `list`, a page at a time; a server older than protocol
    /// version 3 is asked `older` instead, which it answers with the whole list.
    async fn whole_list<T>(
        &self,
        list: List,
        older: Request,
        pick: fn(Response) -> Picked<T>,
    ) -> Result<Vec<T>, ClientError> {
        let unexpected = |other: Response| ClientError::Unexpected(format!("{other:?}"));
        if self.version < PAGED_LISTS {
            let response = self.request(older).await?;
            return pick(response).map(|(all, _)| all).map_err(unexpected);
        }
        let (mut all, mut after) = (Vec::new(), None);
        loop {
            let request = Request::Page {
                list: list.clone(),
                after: after.take(),
                limit: limits::MAX_PAGE,
            };
            let (items, next) = pick(self.request(request).await?).map_err(unexpected)?;
            if items.is_empty() && next.is_some() {
                return Err(ClientError::Unexpected("an empty page that goes on".into()));
            }
            all.extend(items);
            match next {
                Some(next) => after = Some(next),
                None => return Ok(all),
            }
        }
    }

    async fn expect_done(&self, request: Request) -> Result<(), ClientError> {
        match self.request(request).await? {
            Response::Done => Ok(()),
            other => Err(ClientError::Unexpected(format!("{other:?}"))),
        }
    }

    /// Round trip.
    pub async fn ping(&self) -> Result<(), ClientError> {
        match self.request(Request::Ping).await? {
            Response::Pong => Ok(()),
            other => Err(ClientError::Unexpected(format!("{other:?}"))),
        }
    }

    /// Creates an account (does not log in).
    pub async fn register(&self, username: &str, password: &str) -> Result<(), ClientError> {
        self.expect_done(Request::Register {
            username: username.into(),
            password: password.into(),
        })
        .await
    }

    /// Logs in; returns the canonical user name. The backlog follows as events,
    /// ended by [`Event::CaughtUp`].
    pub async fn login(&self, username: &str, password: &str) -> Result<String, ClientError> {
        match self
            .request(Request::Login {
                username: username.into(),
                password: password.into(),
            })
            .await?
        {
            Response::LoggedIn { user } => Ok(user),
            other => Err(ClientError::Unexpected(format!("{other:?}"))),
        }
    }

    /// Logs in as one of the user's devices (protocol version 4): a new one,
    /// named, or one the server issued before. Returns the device's id, which
    /// a new device keeps and presents next time. An older server is not asked
    /// ([`ClientError::Unsupported`]).
    pub async fn login_device(
        &self,
        username: &str,
        password: &str,
        device: DeviceClaim,
    ) -> Result<DeviceId, ClientError> {
        self.needs(DEVICES)?;
        let request = Request::LoginDevice {
            username: username.into(),
            password: password.into(),
            device,
        };
        match self.request(request).await? {
            Response::LoggedInDevice { device, .. } => Ok(device),
            other => Err(ClientError::Unexpected(format!("{other:?}"))),
        }
    }

    /// The user's devices, oldest first, with which are online.
    pub async fn devices(&self) -> Result<Vec<DeviceInfo>, ClientError> {
        self.needs(DEVICES)?;
        match self.request(Request::Devices).await? {
            Response::Devices(devices) => Ok(devices),
            other => Err(ClientError::Unexpected(format!("{other:?}"))),
        }
    }

    /// Revokes one of the user's devices: its sessions are closed and it can
    /// no longer log in.
    pub async fn revoke_device(&self, device: DeviceId) -> Result<(), ClientError> {
        self.needs(DEVICES)?;
        self.expect_done(Request::RevokeDevice { device }).await
    }

    /// Tells `to` (a friend, or a room you are in) that you are typing (protocol
    /// version 4; an older server is not told). Send it again every second or
    /// so while typing goes on; the server passes on one per
    /// [`limits::TYPING_EVERY_MS`].
    pub async fn typing(&self, to: Peer) -> Result<(), ClientError> {
        self.needs(DEVICES)?;
        self.expect_done(Request::Typing { to }).await
    }

    /// Refuses locally what the server's protocol version does not have.
    fn needs(&self, version: u16) -> Result<(), ClientError> {
        if self.version < version {
            return Err(ClientError::Unsupported {
                server: self.version,
                needed: version,
            });
        }
        Ok(())
    }

    /// Logs out; the connection stays open.
    pub async fn logout(&self) -> Result<(), ClientError> {
        self.expect_done(Request::Logout).await
    }

    /// User names that start with `query` (without regard to case), at most
    /// `limit` (the server caps it at
    /// [`MAX_SEARCH_RESULTS`](limits::MAX_SEARCH_RESULTS)); [`page`](Self::page)
    /// with [`List::Users`] goes further.
    pub async fn search_users(&self, query: &str, limit: u32) -> Result<Vec<String>, ClientError> {
        self.users(Request::SearchUsers {
            query: query.into(),
            limit,
        })
        .await
    }

    async fn users(&self, request: Request) -> Result<Vec<String>, ClientError> {
        match self.request(request).await? {
            Response::Users(users) => Ok(users),
            other => Err(ClientError::Unexpected(format!("{other:?}"))),
        }
    }

    /// Asks `to` to be friends; `Ok(true)` if that made you friends at once.
    pub async fn friend_request(&self, to: &str, note: &str) -> Result<bool, ClientError> {
        match self
            .request(Request::FriendRequest {
                to: to.into(),
                note: note.into(),
            })
            .await?
        {
            Response::FriendRequested { friends } => Ok(friends),
            other => Err(ClientError::Unexpected(format!("{other:?}"))),
        }
    }

    /// Accepts or rejects `from`'s request.
    pub async fn respond_friend(&self, from: &str, accept: bool) -> Result<(), ClientError> {
        self.expect_done(Request::FriendRespond {
            from: from.into(),
            accept,
        })
        .await
    }

    /// Ends a friendship.
    pub async fn remove_friend(&self, user: &str) -> Result<(), ClientError> {
        self.expect_done(Request::RemoveFriend { user: user.into() })
            .await
    }

    /// Blocks a user.
    pub async fn block(&self, user: &str) -> Result<(), ClientError> {
        self.expect_done(Request::Block { user: user.into() }).await
    }

    /// Unblocks a user.
    pub async fn unblock(&self, user: &str) -> Result<(), ClientError> {
        self.expect_done(Request::Unblock { user: user.into() })
            .await
    }

    /// Friends, pending requests and blocks: all of them, a page at a time.
    pub async fn friends(&self) -> Result<Vec<FriendEntry>, ClientError> {
        self.whole_list(List::Friends, Request::ListFriends, |r| match r {
            Response::Friends(all) => Ok((all, None)),
            Response::Page {
                items: Items::Friends(page),
                next,
            } => Ok((page, next)),
            other => Err(other),
        })
        .await
    }

    /// Names of online friends.
    pub async fn online_friends(&self) -> Result<Vec<String>, ClientError> {
        self.users(Request::OnlineFriends).await
    }

    /// Number of users online.
    pub async fn online_count(&self) -> Result<u64, ClientError> {
        match self.request(Request::OnlineCount).await? {
            Response::Count(n) => Ok(n),
            other => Err(ClientError::Unexpected(format!("{other:?}"))),
        }
    }

    /// Sends a message with an explicit idempotency key, unique within the
    /// conversation: reuse it, with the same body, to retry safely (see
    /// [`Request::Send`] for the scope and retention).
    pub async fn send(
        &self,
        to: Peer,
        client_msg_id: u64,
        body: Body,
    ) -> Result<Sent, ClientError> {
        match self
            .request(Request::Send {
                to,
                client_msg_id,
                body,
            })
            .await?
        {
            Response::Sent { id, seq, ts } => Ok(Sent { id, seq, ts }),
            other => Err(ClientError::Unexpected(format!("{other:?}"))),
        }
    }

    /// Sends a text to a user with a fresh random idempotency key.
    pub async fn send_text(&self, to: &str, text: &str) -> Result<Sent, ClientError> {
        self.send(
            Peer::User(to.into()),
            rand::random(),
            Body::Text(text.into()),
        )
        .await
    }

    /// Acknowledges inbox items by id (done automatically unless `auto_ack` is off).
    pub async fn ack(&self, ids: Vec<ItemId>) -> Result<(), ClientError> {
        self.expect_done(Request::Ack { ids }).await
    }

    /// A page of history with `peer`, newest first: at most `limit` messages,
    /// fewer if that many do not fit in a frame. Go on with `before_seq` set to
    /// the oldest seq received until a page is empty (or use [`page`](Self::page)
    /// with [`List::History`], which says where the end is).
    pub async fn history(
        &self,
        peer: Peer,
        before_seq: Option<u64>,
        limit: u32,
    ) -> Result<Vec<Message>, ClientError> {
        match self
            .request(Request::History {
                peer,
                before_seq,
                limit,
            })
            .await?
        {
            Response::History(page) => Ok(page),
            other => Err(ClientError::Unexpected(format!("{other:?}"))),
        }
    }
}

impl Client {
    /// Creates a room (you become owner and member).
    pub async fn create_room(&self, name: &str) -> Result<(), ClientError> {
        self.expect_done(Request::CreateRoom { name: name.into() })
            .await
    }

    /// Joins a room; its recent messages follow as events.
    pub async fn join_room(&self, name: &str) -> Result<(), ClientError> {
        self.expect_done(Request::JoinRoom { name: name.into() })
            .await
    }

    /// Leaves a room.
    pub async fn leave_room(&self, name: &str) -> Result<(), ClientError> {
        self.expect_done(Request::LeaveRoom { name: name.into() })
            .await
    }

    /// Deletes a room you own.
    pub async fn delete_room(&self, name: &str) -> Result<(), ClientError> {
        self.expect_done(Request::DeleteRoom { name: name.into() })
            .await
    }

    /// All rooms, in name order, a page at a time.
    pub async fn rooms(&self) -> Result<Vec<RoomInfo>, ClientError> {
        self.whole_list(List::Rooms, Request::ListRooms, |r| match r {
            Response::Rooms(all) => Ok((all, None)),
            Response::Page {
                items: Items::Rooms(page),
                next,
            } => Ok((page, next)),
            other => Err(other),
        })
        .await
    }

    /// A room's members with presence: all of them, a page at a time.
    pub async fn members(&self, room: &str) -> Result<Vec<MemberEntry>, ClientError> {
        let list = List::Members { room: room.into() };
        let older = Request::Members { room: room.into() };
        self.whole_list(list, older, |r| match r {
            Response::Members(all) => Ok((all, None)),
            Response::Page {
                items: Items::Members(page),
                next,
            } => Ok((page, next)),
            other => Err(other),
        })
        .await
    }

    /// Sends a text to a room with a fresh random idempotency key.
    pub async fn say(&self, room: &str, text: &str) -> Result<Sent, ClientError> {
        self.send(
            Peer::Room(room.into()),
            rand::random(),
            Body::Text(text.into()),
        )
        .await
    }

    /// Offers a file; returns the file id and the chunk size to upload with.
    pub async fn offer_file(
        &self,
        to: Peer,
        name: &str,
        size: u64,
        sha256: [u8; 32],
    ) -> Result<(ItemId, u32), ClientError> {
        let request = Request::OfferFile {
            to,
            name: name.into(),
            size,
            sha256,
        };
        match self.request(request).await? {
            Response::FileOffered { file, chunk_size } => Ok((file, chunk_size)),
            other => Err(ClientError::Unexpected(format!("{other:?}"))),
        }
    }

    /// Uploads the chunk at `offset` (chunks go in order, each `chunk_size` bytes
    /// but the last).
    pub async fn upload_chunk(
        &self,
        file: ItemId,
        offset: u64,
        bytes: Vec<u8>,
    ) -> Result<(), ClientError> {
        self.expect_done(Request::UploadChunk {
            file,
            offset,
            bytes,
        })
        .await
    }

    /// Completes an upload; the server verifies it and tells the recipient.
    pub async fn complete_file(&self, file: ItemId) -> Result<(), ClientError> {
        self.expect_done(Request::CompleteFile { file }).await
    }

    /// Files of a conversation or room: all of them, a page at a time.
    pub async fn files(&self, peer: Peer) -> Result<Vec<FileInfo>, ClientError> {
        let older = Request::ListFiles { peer: peer.clone() };
        self.whole_list(List::Files { peer }, older, |r| match r {
            Response::Files(all) => Ok((all, None)),
            Response::Page {
                items: Items::Files(page),
                next,
            } => Ok((page, next)),
            other => Err(other),
        })
        .await
    }

    /// Reads up to `len` bytes of a file at `offset` (empty at the end).
    pub async fn download_chunk(
        &self,
        file: ItemId,
        offset: u64,
        len: u32,
    ) -> Result<Vec<u8>, ClientError> {
        match self
            .request(Request::DownloadChunk { file, offset, len })
            .await?
        {
            Response::Chunk(bytes) => Ok(bytes),
            other => Err(ClientError::Unexpected(format!("{other:?}"))),
        }
    }
}

#[cfg(test)]
mod tests;
