//! An async client over any [`ClientConnection`].
//!
//! [`Client::connect`] exchanges hellos and starts a driver task that matches
//! responses to requests by `req_id` and forwards events to [`Events`]. The
//! items of the user's stream (messages, friend notices, receipts, read marks)
//! are acknowledged automatically once forwarded, in batches (held up to
//! [`ClientConfig::ack_delay`], 5 ms by default): one cumulative ack of the
//! last position per batch. Each item reaches [`Events`] once per connection.
//! Requests may be pipelined: those queued while the driver was busy leave in
//! one write.
//!
//! A [`Client`] is one connection. [`Reconnecting`] makes one that knows
//! several addresses and moves to another when its connection goes away,
//! logging in again as the same device and resuming where it was.

use futures::{SinkExt, StreamExt};
use tokio::sync::{mpsc, oneshot};

use crate::protocol::{
    limits, Body, ClientFrame, CodecError, DeviceClaim, DeviceId, DeviceInfo, ErrorCode, Event,
    FriendEntry, ItemId, Items, List, Message, Peer, Request, Response, ServerFrame,
    OLDEST_PROTOCOL_VERSION, PROTOCOL_VERSION,
};
use crate::transport::{ClientConnection, TransportError};

mod catch_up;
mod config;
mod driver;
mod handed;
pub mod reconnect;
mod rooms_files;

pub use config::{ClientConfig, ConfigError, DEFAULT_ACK_DELAY, MAX_CLIENT_NAME_LEN};
pub use reconnect::Reconnecting;

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
    /// A [`Reconnecting`] client's connection was lost while this request
    /// was in flight: it may or may not have taken effect (sends are not
    /// failed this way: they are sent again, under the same
    /// `client_msg_id`, once reconnected).
    #[error("the connection was lost before the answer came; the request may or may not have taken effect")]
    ConnectionLost,
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

type Pending = oneshot::Sender<Result<Response, ClientError>>;

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
/// connection closes (a [`Reconnecting`] client's: when it stops
/// reconnecting).
#[derive(Debug)]
pub struct Events {
    rx: mpsc::UnboundedReceiver<Update>,
}

/// What [`Events::next_update`] yields: an event from the server, or news of
/// a [`Reconnecting`] client's connection (a plain [`Client`] has none).
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub enum Update {
    /// An event the server pushed.
    Event(Event),
    /// The connection to `addr` was lost (`error`: how); the client is
    /// reconnecting. Requests wait meanwhile.
    Disconnected {
        /// The address it was connected to.
        addr: String,
        /// What ended it, for people.
        error: String,
    },
    /// Connected again, to `addr`, and logged in again as the same device if
    /// the application had logged in: the backlog follows (what the
    /// previous connection had handed over is not handed over again), ended
    /// by [`Event::CaughtUp`].
    Reconnected {
        /// The address it is connected to now.
        addr: String,
    },
    /// Reconnected, but the server refused the login to repeat (`code`: say
    /// the device was revoked, or the password changed): the client is
    /// connected and logged out, and logs in again only when the
    /// application does.
    LoginRefused {
        /// The server's reason.
        code: ErrorCode,
    },
}

impl Events {
    /// The next event, or `None` once the connection is closed. News of
    /// reconnections is skipped: [`next_update`](Self::next_update) has it.
    pub async fn next(&mut self) -> Option<Event> {
        loop {
            if let Update::Event(event) = self.rx.recv().await? {
                return Some(event);
            }
        }
    }

    /// The next event or news of the connection, or `None` once the client
    /// is closed.
    pub async fn next_update(&mut self) -> Option<Update> {
        self.rx.recv().await
    }

    /// An event if one is already waiting (news of the connection skipped).
    pub fn try_next(&mut self) -> Option<Event> {
        loop {
            if let Update::Event(event) = self.rx.try_recv().ok()? {
                return Some(event);
            }
        }
    }
}

impl futures::Stream for Events {
    type Item = Event;
    fn poll_next(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<Option<Event>> {
        loop {
            match std::task::ready!(self.rx.poll_recv(cx)) {
                Some(Update::Event(event)) => return std::task::Poll::Ready(Some(event)),
                Some(_) => continue,
                None => return std::task::Poll::Ready(None),
            }
        }
    }
}

/// Says hello over `conn` and reads the server's: its name and the version the
/// connection uses.
async fn hello<C: ClientConnection>(
    conn: &mut C,
    config: &ClientConfig,
) -> Result<(String, u16), ClientError> {
    conn.send(ClientFrame::Hello {
        version: PROTOCOL_VERSION,
        client: config.client_name.clone(),
    })
    .await?;
    // The server names the version the connection uses: ours or older.
    match conn.next().await {
        Some(Ok(ServerFrame::Hello { version, server }))
            if (OLDEST_PROTOCOL_VERSION..=PROTOCOL_VERSION).contains(&version) =>
        {
            Ok((server, version))
        }
        Some(Ok(ServerFrame::Hello { version, .. })) => Err(CodecError::WrongVersion {
            got: version,
            supported: PROTOCOL_VERSION,
        }
        .into()),
        Some(Ok(ServerFrame::Event(Event::Closing { code }))) => Err(ClientError::Refused(code)),
        Some(Ok(other)) => Err(ClientError::Unexpected(format!("{other:?}"))),
        Some(Err(e)) => Err(e.into()),
        None => Err(ClientError::Closed),
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
        let (server, version) = hello(&mut conn, &config).await?;
        let (req_tx, req_rx) = mpsc::unbounded_channel();
        let (event_tx, event_rx) = mpsc::unbounded_channel();
        let auto_ack = config.auto_ack.then_some(config.ack_delay);
        let link = driver::Link::new(req_rx, event_tx, false);
        tokio::spawn(async move {
            driver::drive(conn, link, version, auto_ack).await;
        });
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
            Ok(result) => result,
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

    /// Marks the conversation with `peer` (a user, or a room you are in) read
    /// up to `seq` (protocol version 5): your other devices learn it, and the
    /// user you chat with unless you turned read receipts off.
    pub async fn mark_read(&self, peer: Peer, seq: u64) -> Result<(), ClientError> {
        self.needs(crate::sync::STREAM_VERSION)?;
        self.expect_done(Request::MarkRead { peer, seq }).await
    }

    /// Whether others learn what you read (on by default; protocol version 5).
    pub async fn set_read_receipts(&self, on: bool) -> Result<(), ClientError> {
        self.needs(crate::sync::STREAM_VERSION)?;
        self.expect_done(Request::SetReadReceipts { on }).await
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

    /// Sends a text to a user with a fresh idempotency key ([`fresh_client_msg_id`]).
    pub async fn send_text(&self, to: &str, text: &str) -> Result<Sent, ClientError> {
        self.send(
            Peer::User(to.into()),
            fresh_client_msg_id(),
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

/// A fresh idempotency key for a send: the milliseconds since 1970 above 20
/// random bits, and above the last key this process made. Keys that grow with
/// time are cheaper to keep (a store packs a sender's growing keys together);
/// a process never makes one twice, however many sends share a millisecond,
/// and two processes' keys meet only in the same millisecond with the same
/// 20 bits.
///
/// ```
/// let (a, b) = (chatcore::client::fresh_client_msg_id(), chatcore::client::fresh_client_msg_id());
/// assert!(b > a);
/// assert!(a >> 20 > 1_700_000_000_000, "milliseconds since 1970");
/// ```
pub fn fresh_client_msg_id() -> u64 {
    use std::sync::atomic::{AtomicU64, Ordering};
    static LAST: AtomicU64 = AtomicU64::new(0);
    let ms = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |since| since.as_millis() as u64);
    let drawn = (ms << 20) | (rand::random::<u64>() & 0xf_ffff);
    let next = |last: u64| Some(drawn.max(last + 1));
    let last = LAST
        .fetch_update(Ordering::Relaxed, Ordering::Relaxed, next)
        .expect("always Some");
    drawn.max(last + 1)
}

#[cfg(test)]
mod tests;
