//! An async client over any [`ClientConnection`].
//!
//! [`Client::connect`] exchanges hellos and starts a driver task that matches
//! responses to requests by `req_id` and forwards events to [`Events`]. Inbox
//! events (messages, friend notices, receipts) are acknowledged automatically once
//! forwarded, in batches (held up to [`ClientConfig::ack_delay`], 5 ms by
//! default), and a redelivered id is forwarded only once. Requests
//! may be pipelined: those queued while the driver was busy leave in one write.

use std::collections::{HashMap, HashSet, VecDeque};
use std::pin::Pin;

use futures::{SinkExt, StreamExt};
use tokio::sync::{mpsc, oneshot};

use crate::protocol::{
    limits, Body, ClientFrame, CodecError, ErrorCode, Event, FileInfo, FriendEntry, ItemId,
    MemberEntry, Message, Peer, Request, Response, RoomInfo, ServerFrame, OLDEST_PROTOCOL_VERSION,
    PROTOCOL_VERSION,
};
use crate::transport::{ClientConnection, TransportError};

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
#[derive(Debug, Clone)]
pub struct ClientConfig {
    /// Sent in the hello.
    pub client_name: String,
    /// Acknowledge inbox events once they are forwarded to [`Events`].
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

type Pending = oneshot::Sender<Result<Response, ErrorCode>>;

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
    pub async fn connect_with<C: ClientConnection>(
        mut conn: C,
        config: ClientConfig,
    ) -> Result<(Client, Events), ClientError> {
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
        tokio::spawn(drive(conn, req_rx, event_tx, version, auto_ack));
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

    /// Logs out; the connection stays open.
    pub async fn logout(&self) -> Result<(), ClientError> {
        self.expect_done(Request::Logout).await
    }

    /// User names containing `query`.
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

    /// Friends, pending requests and blocks.
    pub async fn friends(&self) -> Result<Vec<FriendEntry>, ClientError> {
        match self.request(Request::ListFriends).await? {
            Response::Friends(list) => Ok(list),
            other => Err(ClientError::Unexpected(format!("{other:?}"))),
        }
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

    /// Sends a message with an explicit idempotency key (reuse it to retry safely).
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

    /// A page of history with `peer`, newest first.
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

    /// All rooms.
    pub async fn rooms(&self) -> Result<Vec<RoomInfo>, ClientError> {
        match self.request(Request::ListRooms).await? {
            Response::Rooms(rooms) => Ok(rooms),
            other => Err(ClientError::Unexpected(format!("{other:?}"))),
        }
    }

    /// A room's members with presence.
    pub async fn members(&self, room: &str) -> Result<Vec<MemberEntry>, ClientError> {
        match self.request(Request::Members { room: room.into() }).await? {
            Response::Members(members) => Ok(members),
            other => Err(ClientError::Unexpected(format!("{other:?}"))),
        }
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

    /// Files of a conversation or room.
    pub async fn files(&self, peer: Peer) -> Result<Vec<FileInfo>, ClientError> {
        match self.request(Request::ListFiles { peer }).await? {
            Response::Files(files) => Ok(files),
            other => Err(ClientError::Unexpected(format!("{other:?}"))),
        }
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

/// Remembers recently forwarded inbox ids so a redelivery is forwarded once.
#[derive(Debug, Default)]
struct SeenIds {
    set: HashSet<ItemId>,
    order: VecDeque<ItemId>,
}

impl SeenIds {
    const CAPACITY: usize = 65_536;

    /// True if `id` is new.
    fn insert(&mut self, id: ItemId) -> bool {
        if !self.set.insert(id) {
            return false;
        }
        self.order.push_back(id);
        if self.order.len() > Self::CAPACITY {
            if let Some(old) = self.order.pop_front() {
                self.set.remove(&old);
            }
        }
        true
    }
}

/// Requests sent and not yet answered, by `req_id`.
#[derive(Default)]
struct Outstanding {
    last: u32,
    /// `None`: a request the driver sent itself; its answer is dropped.
    replies: HashMap<u32, Option<Pending>>,
}

impl Outstanding {
    /// A `req_id` for a request whose answer goes to `reply`.
    fn start(&mut self, reply: Option<Pending>) -> u32 {
        self.last = self.last.wrapping_add(1);
        self.replies.insert(self.last, reply);
        self.last
    }

    /// Hands an answer to whoever waits for it.
    fn finish(&mut self, req_id: u32, result: Result<Response, ErrorCode>) {
        if let Some(Some(reply)) = self.replies.remove(&req_id) {
            let _ = reply.send(result);
        }
    }
}

/// `version`: the connection's protocol version. `auto_ack`: acknowledge
/// forwarded inbox events, waiting up to this long for more to go with them.
async fn drive<C: ClientConnection>(
    conn: C,
    mut requests: mpsc::UnboundedReceiver<(Request, Pending)>,
    events: mpsc::UnboundedSender<Event>,
    version: u16,
    auto_ack: Option<std::time::Duration>,
) {
    let (mut sink, mut stream) = conn.split();
    let mut outstanding = Outstanding::default();
    let mut to_ack: Vec<ItemId> = Vec::new();
    // When the waiting acks go out, if they wait for a timer.
    let mut ack_due: Option<Pin<Box<tokio::time::Sleep>>> = None;
    let mut seen = SeenIds::default();
    let mut accepting = true;

    loop {
        tokio::select! {
            biased;
            frame = stream.next() => match frame {
                Some(Ok(ServerFrame::Response { req_id, result })) => outstanding.finish(req_id, result),
                Some(Ok(ServerFrame::Event(Event::Ping))) => {
                    // Heartbeat: answer so the server keeps the connection.
                    let req_id = outstanding.start(None);
                    if sink.send(ClientFrame::Request { req_id, request: Request::Ping }).await.is_err() {
                        break;
                    }
                }
                Some(Ok(ServerFrame::Event(event))) => {
                    let forward = match event.inbox_id() {
                        Some(id) => {
                            if let Some(delay) = auto_ack {
                                to_ack.push(id);
                                if ack_due.is_none() && !delay.is_zero() {
                                    ack_due = Some(Box::pin(tokio::time::sleep(delay)));
                                }
                            }
                            seen.insert(id)
                        }
                        None => true,
                    };
                    if forward {
                        let _ = events.send(event);
                    }
                }
                Some(Ok(ServerFrame::Hello { .. })) => {
                    tracing::warn!("server sent a second hello");
                }
                Some(Err(e)) => {
                    tracing::warn!(error = %e, "connection failed");
                    break;
                }
                None => break,
            },
            request = requests.recv(), if accepting => match request {
                Some(first) => {
                    // Acks for events already forwarded go out first, so a request's
                    // answer implies they were processed.
                    ack_due = None;
                    let sent = async {
                        feed_acks(&mut sink, &mut outstanding, &mut to_ack, version).await?;
                        feed_requests(&mut sink, &mut outstanding, &mut requests, first).await?;
                        sink.flush().await
                    };
                    if sent.await.is_err() {
                        break;
                    }
                }
                // Every `Client` clone is gone: close once nothing is outstanding.
                None => accepting = false,
            },
            // Runs only when nothing else is ready, so acks batch up: at once
            // without a delay (or with a full frame's worth), else when it is up.
            _ = async {
                match ack_due.as_mut() {
                    Some(due) if to_ack.len() < limits::MAX_ACK_IDS => due.await,
                    _ => {}
                }
            }, if !to_ack.is_empty() => {
                ack_due = None;
                let sent = async {
                    feed_acks(&mut sink, &mut outstanding, &mut to_ack, version).await?;
                    sink.flush().await
                };
                if sent.await.is_err() {
                    break;
                }
            }
        }
        if !accepting && outstanding.replies.is_empty() && to_ack.is_empty() {
            let _ = sink.close().await;
            break;
        }
    }
}

/// The most requests the driver writes in one go before it reads again.
const MAX_BURST: usize = 64;

/// Queues `first` and the requests queued behind it, up to [`MAX_BURST`]
/// (unflushed): a burst is one write.
async fn feed_requests<S>(
    sink: &mut S,
    outstanding: &mut Outstanding,
    requests: &mut mpsc::UnboundedReceiver<(Request, Pending)>,
    first: (Request, Pending),
) -> Result<(), TransportError>
where
    S: futures::Sink<ClientFrame, Error = TransportError> + Unpin,
{
    let (mut request, mut reply) = first;
    for fed in 1..=MAX_BURST {
        let req_id = outstanding.start(Some(reply));
        sink.feed(ClientFrame::Request { req_id, request }).await?;
        if fed == MAX_BURST {
            break;
        }
        match requests.try_recv() {
            Ok(next) => (request, reply) = next,
            Err(_) => break,
        }
    }
    Ok(())
}

/// Queues acks for every id in `to_ack` (unflushed), at most
/// [`limits::MAX_ACK_IDS`] per frame: unanswered ones from protocol version 2,
/// else requests whose answers will be dropped.
async fn feed_acks<S>(
    sink: &mut S,
    outstanding: &mut Outstanding,
    to_ack: &mut Vec<ItemId>,
    version: u16,
) -> Result<(), TransportError>
where
    S: futures::Sink<ClientFrame, Error = TransportError> + Unpin,
{
    // A long login backlog can hold more ids than one frame may carry.
    for ids in std::mem::take(to_ack).chunks(limits::MAX_ACK_IDS) {
        let ids = ids.to_vec();
        let frame = if version >= 2 {
            ClientFrame::Ack { ids }
        } else {
            let req_id = outstanding.start(None);
            let request = Request::Ack { ids };
            ClientFrame::Request { req_id, request }
        };
        sink.feed(frame).await?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use std::pin::Pin;
    use std::sync::{Arc, Mutex};
    use std::task::{Context, Poll};

    use futures::channel::mpsc as fmpsc;

    use super::*;

    /// A connection that records each flush's frames as one write.
    struct Recording {
        incoming: fmpsc::UnboundedReceiver<ServerFrame>,
        unflushed: Vec<ClientFrame>,
        writes: Arc<Mutex<Vec<Vec<ClientFrame>>>>,
    }

    impl futures::Stream for Recording {
        type Item = Result<ServerFrame, TransportError>;
        fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
            self.incoming.poll_next_unpin(cx).map(|f| f.map(Ok))
        }
    }

    impl futures::Sink<ClientFrame> for Recording {
        type Error = TransportError;
        fn poll_ready(self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
            Poll::Ready(Ok(()))
        }
        fn start_send(mut self: Pin<&mut Self>, item: ClientFrame) -> Result<(), Self::Error> {
            self.unflushed.push(item);
            Ok(())
        }
        fn poll_flush(
            mut self: Pin<&mut Self>,
            _: &mut Context<'_>,
        ) -> Poll<Result<(), Self::Error>> {
            if !self.unflushed.is_empty() {
                let write = std::mem::take(&mut self.unflushed);
                self.writes.lock().unwrap().push(write);
            }
            Poll::Ready(Ok(()))
        }
        fn poll_close(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
            self.poll_flush(cx)
        }
    }

    type Writes = Arc<Mutex<Vec<Vec<ClientFrame>>>>;

    /// A client connected to a server that says hello with `version`; the
    /// server's sender, and the client's writes.
    async fn connected(
        version: u16,
    ) -> (Client, Events, fmpsc::UnboundedSender<ServerFrame>, Writes) {
        connected_with(version, ClientConfig::default()).await
    }

    async fn connected_with(
        version: u16,
        config: ClientConfig,
    ) -> (Client, Events, fmpsc::UnboundedSender<ServerFrame>, Writes) {
        let (server, incoming) = fmpsc::unbounded();
        let writes = Writes::default();
        let conn = Recording {
            incoming,
            unflushed: Vec::new(),
            writes: writes.clone(),
        };
        server
            .unbounded_send(ServerFrame::Hello {
                version,
                server: "test".into(),
            })
            .unwrap();
        let (client, events) = Client::connect_with(conn, config).await.unwrap();
        (client, events, server, writes)
    }

    #[tokio::test]
    async fn queued_requests_leave_in_one_write_in_order() {
        let (client, _events, server, writes) = connected(PROTOCOL_VERSION).await;

        // Each first poll queues a request; the driver has not run yet.
        let mut pings: Vec<_> = (0..10).map(|_| Box::pin(client.ping())).collect();
        for ping in &mut pings {
            assert!(futures::poll!(ping.as_mut()).is_pending());
        }
        tokio::task::yield_now().await;

        let sent = writes.lock().unwrap().clone();
        assert!(matches!(sent[0][..], [ClientFrame::Hello { .. }]));
        assert_eq!(sent.len(), 2, "one write for the burst: {sent:?}");
        let ids: Vec<u32> = sent[1]
            .iter()
            .map(|frame| match frame {
                ClientFrame::Request {
                    req_id,
                    request: Request::Ping,
                } => *req_id,
                other => panic!("unexpected {other:?}"),
            })
            .collect();
        assert_eq!(ids, (1..=10).collect::<Vec<_>>());

        for req_id in ids {
            let result = Ok(Response::Pong);
            server
                .unbounded_send(ServerFrame::Response { req_id, result })
                .unwrap();
        }
        for ping in pings {
            ping.await.unwrap();
        }
    }

    #[tokio::test]
    async fn a_burst_past_the_limit_is_split_and_loses_nothing() {
        let (client, _events, server, writes) = connected(PROTOCOL_VERSION).await;
        let count = MAX_BURST + 10;
        let mut pings: Vec<_> = (0..count).map(|_| Box::pin(client.ping())).collect();
        for ping in &mut pings {
            assert!(futures::poll!(ping.as_mut()).is_pending());
        }
        for _ in 0..100 {
            tokio::task::yield_now().await;
        }
        let sent = writes.lock().unwrap()[1..].to_vec();
        assert_eq!(
            sent.iter().map(Vec::len).collect::<Vec<_>>(),
            [MAX_BURST, 10]
        );
        for req_id in 1..=count as u32 {
            let result = Ok(Response::Pong);
            server
                .unbounded_send(ServerFrame::Response { req_id, result })
                .unwrap();
        }
        for ping in pings {
            ping.await.unwrap();
        }
    }

    #[tokio::test]
    async fn automatic_acks_use_the_frame_the_server_speaks() {
        for version in [OLDEST_PROTOCOL_VERSION, PROTOCOL_VERSION] {
            let (client, mut events, server, writes) = connected(version).await;
            assert_eq!(client.protocol_version(), version);
            let receipt = Event::Delivered {
                id: 9,
                ids: vec![1],
            };
            server
                .unbounded_send(ServerFrame::Event(receipt.clone()))
                .unwrap();
            assert_eq!(events.next().await, Some(receipt));
            // The ack goes out once the driver has nothing else to do.
            let ack = loop {
                if let Some(write) = writes.lock().unwrap().get(1) {
                    break write.clone();
                }
                tokio::task::yield_now().await;
            };
            match ack[..] {
                [ClientFrame::Request {
                    request: Request::Ack { ref ids },
                    ..
                }] if version == 1 => assert_eq!(ids, &[9]),
                [ClientFrame::Ack { ref ids }] if version >= 2 => assert_eq!(ids, &[9]),
                _ => panic!("version {version}: acked with {ack:?}"),
            }
        }
    }

    #[tokio::test]
    async fn a_server_of_an_unknown_version_is_refused() {
        let (server, incoming) = fmpsc::unbounded();
        let conn = Recording {
            incoming,
            unflushed: Vec::new(),
            writes: Writes::default(),
        };
        let version = PROTOCOL_VERSION + 1;
        let server_name = "future".to_string();
        server
            .unbounded_send(ServerFrame::Hello {
                version,
                server: server_name,
            })
            .unwrap();
        match Client::connect(conn).await {
            Err(ClientError::Transport(TransportError::Codec(CodecError::WrongVersion {
                got,
                supported,
            }))) => {
                assert_eq!((got, supported), (version, PROTOCOL_VERSION));
            }
            other => panic!("connected to a server of version {version}: {other:?}"),
        }
    }

    #[tokio::test]
    async fn a_long_backlog_is_acked_in_frames_the_server_accepts() {
        let (_client, mut events, server, writes) = connected(PROTOCOL_VERSION).await;
        // Queued before the driver runs, so all arrive before it is idle.
        let count = limits::MAX_ACK_IDS as u64 + 10;
        for id in 1..=count {
            let receipt = Event::Delivered { id, ids: vec![] };
            server.unbounded_send(ServerFrame::Event(receipt)).unwrap();
        }
        for _ in 0..count {
            events.next().await.unwrap();
        }
        let acks = loop {
            let acks: Vec<Vec<ItemId>> = writes.lock().unwrap()[1..]
                .iter()
                .flatten()
                .map(|frame| match frame {
                    ClientFrame::Ack { ids } => ids.clone(),
                    other => panic!("unexpected {other:?}"),
                })
                .collect();
            if acks.iter().map(Vec::len).sum::<usize>() as u64 >= count {
                break acks;
            }
            tokio::task::yield_now().await;
        };
        assert!(acks.len() > 1, "{} acks", acks.len());
        assert!(acks.iter().all(|ids| ids.len() <= limits::MAX_ACK_IDS));
        assert_eq!(acks.concat(), (1..=count).collect::<Vec<_>>());
    }

    #[tokio::test]
    async fn acks_wait_for_the_delay_or_go_before_a_request() {
        let config = ClientConfig {
            ack_delay: std::time::Duration::from_secs(3600),
            ..ClientConfig::default()
        };
        let (client, mut events, server, writes) = connected_with(PROTOCOL_VERSION, config).await;
        for id in [4, 5] {
            let receipt = Event::Delivered { id, ids: vec![] };
            server.unbounded_send(ServerFrame::Event(receipt)).unwrap();
            events.next().await.unwrap();
        }
        for _ in 0..10 {
            tokio::task::yield_now().await;
        }
        assert_eq!(writes.lock().unwrap().len(), 1, "only the hello so far");

        let mut ping = Box::pin(client.ping());
        assert!(futures::poll!(ping.as_mut()).is_pending());
        tokio::task::yield_now().await;
        let sent = writes.lock().unwrap()[1].clone();
        assert!(
            matches!(&sent[..], [ClientFrame::Ack { ids }, ClientFrame::Request { request: Request::Ping, .. }] if ids == &[4, 5]),
            "{sent:?}"
        );
    }
}
