//! The driver task behind a [`Client`](super::Client): writes requests (a burst
//! per write) and acks (batched, at most one frame's worth each), matches
//! responses to requests by `req_id`, answers heartbeats, and forwards events,
//! each inbox id once. From protocol version 5 the stream's items come with
//! positions and are acked cumulatively: one `AckUpTo` per batch.
//!
//! A driver runs one connection. What must outlive it when a
//! [`Reconnecting`](super::reconnect::Reconnecting) client moves to another
//! connection (the request queue, the ids and positions handed to the
//! application, the login to repeat, the sends to retry) is a [`Link`], which
//! the driver takes and hands back when its connection ends.

use std::collections::HashMap;
use std::pin::Pin;

use futures::{SinkExt, StreamExt};
use tokio::sync::mpsc;

use super::catch_up::{hold_if_catching_up, room_history, CatchUp};
use super::handed::{Forwarded, SeenIds};
use super::{ClientError, Pending, Update};
use crate::protocol::{
    limits, ClientFrame, DeviceClaim, ErrorCode, Event, ItemId, Message, Peer, Request, Response,
    ServerFrame,
};
use crate::sync::STREAM_VERSION;
use crate::transport::{ClientConnection, TransportError};

/// What a reconnecting driver keeps of a request until it is answered.
enum Kept {
    /// Nothing: it fails if the connection is lost first.
    Nothing,
    /// A send: idempotent by its `client_msg_id`, so sent again on the next
    /// connection if this one is lost before the answer.
    Retry(Request),
    /// A login: repeated on the next connection once it succeeded.
    Login(Request),
    /// A logout: nothing to repeat once it succeeded.
    Logout,
    /// A page of a room's history the driver asked for itself, to catch the
    /// room up after a move.
    RoomHistory(String),
}

impl Kept {
    fn of(request: &Request) -> Kept {
        match request {
            Request::Send { .. } => Kept::Retry(request.clone()),
            Request::Login { .. } | Request::LoginDevice { .. } => Kept::Login(request.clone()),
            Request::Logout => Kept::Logout,
            _ => Kept::Nothing,
        }
    }
}

/// Requests sent and not yet answered, by `req_id`.
#[derive(Default)]
struct Outstanding {
    last: u32,
    /// `None`: a request the driver sent itself; its answer is dropped.
    replies: HashMap<u32, (Option<Pending>, Kept)>,
}

impl Outstanding {
    /// A `req_id` for a request whose answer goes to `reply`.
    fn start(&mut self, reply: Option<Pending>, kept: Kept) -> u32 {
        self.last = self.last.wrapping_add(1);
        // Past a reconnecting client's own re-login ids.
        if self.last >= RELOGIN_REQ_ID - 1 {
            self.last = 1;
        }
        self.replies.insert(self.last, (reply, kept));
        self.last
    }

    /// Hands an answer to whoever waits for it, noting in `link` a login or
    /// logout that succeeded. A page of history the driver asked for itself
    /// is returned, with its room.
    fn finish(
        &mut self,
        req_id: u32,
        result: Result<Response, ErrorCode>,
        link: &mut Link,
    ) -> Option<(String, Result<Response, ErrorCode>)> {
        let (reply, kept) = self.replies.remove(&req_id)?;
        match (kept, &result) {
            (Kept::Login(request), Ok(response)) => link.logged_in(request, response),
            (Kept::Logout, Ok(Response::Done)) => link.logged_out(),
            (Kept::RoomHistory(room), _) => return Some((room, result)),
            _ => {}
        }
        if let Some(reply) = reply {
            let _ = reply.send(result.map_err(ClientError::Refused));
        }
        None
    }
}

/// Queues an ack of `id` (auto-ack mode), starting the batching timer.
fn schedule_ack(
    id: ItemId,
    to_ack: &mut Vec<ItemId>,
    ack_due: &mut Option<Pin<Box<tokio::time::Sleep>>>,
    auto_ack: Option<std::time::Duration>,
) {
    if let Some(delay) = auto_ack {
        to_ack.push(id);
        if ack_due.is_none() && !delay.is_zero() {
            *ack_due = Some(Box::pin(tokio::time::sleep(delay)));
        }
    }
}

/// The `req_id` of a reconnecting client's re-login (and the one below it, of
/// a heartbeat answered meanwhile): the driver's own ids stay below them.
pub(super) const RELOGIN_REQ_ID: u32 = u32::MAX;

/// How a driver's connection ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Ending {
    /// Lost (closed by the server, or failed): a reconnecting client moves on.
    Lost,
    /// Every [`Client`](super::Client) is gone and nothing was outstanding.
    Done,
    /// The server ended this session for a reason a new connection would not
    /// change (kicked by a newer login, the device revoked, a protocol
    /// violation): a reconnecting client stops.
    Final,
}

/// What outlives one connection: see the module's documentation.
pub(super) struct Link {
    /// The application's requests.
    pub(super) requests: mpsc::UnboundedReceiver<(Request, Pending)>,
    /// Where events go.
    pub(super) events: mpsc::UnboundedSender<Update>,
    /// Whether this is a reconnecting client's link: it keeps logins, retries
    /// sends and filters replayed positions.
    pub(super) reconnecting: bool,
    seen: SeenIds,
    forwarded: Forwarded,
    /// The newest stream position handed to the application since its last
    /// login (reconnecting only): positions up to it that a new connection
    /// replays (handed over, but their ack was lost with the old one) are
    /// not handed over again.
    handed: Option<u64>,
    /// The newest position the application acked itself (explicit acks).
    app_acked: Option<u64>,
    /// The newest seq of each room handed to the application since its
    /// login (reconnecting only): room messages are not stream items, so
    /// after a move what a room got meanwhile is read from its history.
    rooms: HashMap<String, u64>,
    /// Set when a login was repeated on a new connection: its driver catches
    /// `rooms` up first.
    pub(super) catch_up_rooms: bool,
    /// The login to repeat on a new connection (reconnecting only): `Login`,
    /// or `LoginDevice` naming the device the server issued.
    pub(super) login: Option<Request>,
    /// Sends to write first: in flight when the last connection was lost.
    pub(super) resend: Vec<(Request, Pending)>,
    /// How the last connection ended.
    pub(super) ending: Ending,
    /// What ended it, for people.
    pub(super) cause: String,
}

impl Link {
    pub(super) fn new(
        requests: mpsc::UnboundedReceiver<(Request, Pending)>,
        events: mpsc::UnboundedSender<Update>,
        reconnecting: bool,
    ) -> Link {
        Link {
            requests,
            events,
            reconnecting,
            seen: SeenIds::default(),
            forwarded: Forwarded::default(),
            handed: None,
            app_acked: None,
            rooms: HashMap::new(),
            catch_up_rooms: false,
            login: None,
            resend: Vec::new(),
            ending: Ending::Lost,
            cause: String::new(),
        }
    }

    /// A login of the application's succeeded: a new stream (or a new
    /// device's view of it) starts.
    fn logged_in(&mut self, request: Request, response: &Response) {
        if !self.reconnecting {
            return;
        }
        self.login = match (request, response) {
            (request @ Request::Login { .. }, Response::LoggedIn { .. }) => Some(request),
            (
                Request::LoginDevice {
                    username, password, ..
                },
                Response::LoggedInDevice { device, .. },
            ) => Some(Request::LoginDevice {
                username,
                password,
                device: DeviceClaim::Known { id: *device },
            }),
            _ => return,
        };
        self.forget_positions();
    }

    /// Logged out, or the login to repeat was refused.
    pub(super) fn logged_out(&mut self) {
        self.login = None;
        self.forget_positions();
    }

    /// What a login's view of the stream and rooms was: a new one starts.
    fn forget_positions(&mut self) {
        self.handed = None;
        self.app_acked = None;
        self.forwarded = Forwarded::default();
        self.rooms.clear();
        self.catch_up_rooms = false;
    }

    /// Hands the application an event with an inbox id unless it had it
    /// already; whether it has it now (and so may ack it). A room message
    /// moves the room's handed seq.
    fn hand_over(&mut self, id: ItemId, event: Event) -> bool {
        let room = match &event {
            Event::Message(Message {
                to: Peer::Room(room),
                seq,
                ..
            }) if self.reconnecting => Some((room.clone(), *seq)),
            _ => None,
        };
        let received = self.seen.contains(id)
            || (self.events.send(Update::Event(event)).is_ok() && self.seen.insert(id));
        if let (true, Some((room, seq))) = (received, room) {
            let handed = self.rooms.entry(room).or_insert(seq);
            *handed = (*handed).max(seq);
        }
        received
    }
}

/// Runs `conn` until it ends; hands `link` back, its `ending` saying how.
/// `version`: the connection's protocol version. `auto_ack`: acknowledge
/// forwarded inbox events, waiting up to this long for more to go with them.
pub(super) async fn drive<C: ClientConnection>(
    conn: C,
    mut link: Link,
    version: u16,
    auto_ack: Option<std::time::Duration>,
) -> Link {
    let (mut sink, mut stream) = conn.split();
    let mut outstanding = Outstanding::default();
    let mut to_ack: Vec<ItemId> = Vec::new();
    // The stream position to ack next (protocol version 5).
    let mut ack_to: Option<u64> = None;
    // When the waiting acks go out, if they wait for a timer.
    let mut ack_due: Option<Pin<Box<tokio::time::Sleep>>> = None;
    let mut accepting = true;
    let mut ending = Ending::Lost;
    let reconnecting = link.reconnecting;

    // Rooms being caught up after a move, by name.
    let mut catching: HashMap<String, CatchUp> = HashMap::new();

    // The sends in flight when the last connection was lost go first, then
    // the first page of history of each room the application had messages
    // of (after a repeated login).
    let resend = std::mem::take(&mut link.resend);
    let mut first: Vec<(Request, Option<Pending>, Kept)> = resend
        .into_iter()
        .map(|(request, reply)| {
            let kept = Kept::of(&request);
            (request, Some(reply), kept)
        })
        .collect();
    if std::mem::take(&mut link.catch_up_rooms) {
        for (room, &known) in &link.rooms {
            catching.insert(room.clone(), CatchUp::new(known));
            first.push((
                room_history(room, None),
                None,
                Kept::RoomHistory(room.clone()),
            ));
        }
    }
    if !first.is_empty() {
        let mut sent = Ok(());
        for (request, reply, kept) in first {
            let req_id = outstanding.start(reply, kept);
            if sent.is_ok() {
                sent = sink.feed(ClientFrame::Request { req_id, request }).await;
            }
        }
        if sent.is_err() || sink.flush().await.is_err() {
            return link.lost(outstanding);
        }
    }

    loop {
        tokio::select! {
            biased;
            frame = stream.next() => match frame {
                Some(Ok(ServerFrame::Response { req_id, result })) => {
                    // A page of a room's history the driver asked for: the
                    // next page, or the room is caught up.
                    let page = outstanding.finish(req_id, result, &mut link);
                    let next = page.and_then(|(room, result)| {
                        let below = catching.get_mut(&room)?.page(result);
                        if below.is_none() {
                            for message in catching.remove(&room).map(CatchUp::done).unwrap_or_default() {
                                let id = message.id;
                                if link.hand_over(id, Event::Message(message)) {
                                    schedule_ack(id, &mut to_ack, &mut ack_due, auto_ack);
                                }
                            }
                        }
                        Some((room, below?))
                    });
                    if let Some((room, before)) = next {
                        let req_id = outstanding.start(None, Kept::RoomHistory(room.clone()));
                        let request = room_history(&room, Some(before));
                        if sink.send(ClientFrame::Request { req_id, request }).await.is_err() {
                            break;
                        }
                    }
                }
                Some(Ok(ServerFrame::Event(Event::Ping))) => {
                    // Heartbeat: answer so the server keeps the connection.
                    let req_id = outstanding.start(None, Kept::Nothing);
                    if sink.send(ClientFrame::Request { req_id, request: Request::Ping }).await.is_err() {
                        break;
                    }
                }
                Some(Ok(ServerFrame::Event(event))) => {
                    if is_final(&event) {
                        ending = Ending::Final;
                    }
                    match &event {
                        Event::ServerShutdown => link.cause = "the server is shutting down".into(),
                        Event::Closing { code } => link.cause = format!("closed by the server: {}", code.as_str()),
                        _ => {}
                    }
                    if let Some(event) = hold_if_catching_up(&mut catching, event) {
                        match event.inbox_id() {
                            None => {
                                let _ = link.events.send(Update::Event(event));
                            }
                            // Only what the application was handed is acked (now,
                            // or when it was first forwarded on this connection):
                            // an event no one can receive stays on the server.
                            Some(id) => {
                                if link.hand_over(id, event) {
                                    schedule_ack(id, &mut to_ack, &mut ack_due, auto_ack);
                                }
                            }
                        }
                    }
                }
                // Each position comes once per connection, in order: no
                // dedup; an item no one can receive is not acked. A
                // reconnecting client's new connection replays what the last
                // one handed over but had not acked: it is acked, not handed
                // over again.
                Some(Ok(ServerFrame::Item { pos, event })) => {
                    let id = event.inbox_id();
                    let replayed = link.handed.is_some_and(|handed| pos <= handed);
                    let received = replayed || link.events.send(Update::Event(event)).is_ok();
                    if received && reconnecting && !replayed {
                        link.handed = Some(pos);
                    }
                    match (received, auto_ack) {
                        (false, _) => {}
                        (true, Some(delay)) => {
                            ack_to = Some(pos);
                            if ack_due.is_none() && !delay.is_zero() {
                                ack_due = Some(Box::pin(tokio::time::sleep(delay)));
                            }
                        }
                        // The application acked it already, on the lost connection.
                        (true, None) if replayed && link.app_acked.is_some_and(|a| pos <= a) => {
                            ack_to = Some(pos);
                        }
                        // Still in `forwarded`, if replayed.
                        (true, None) if replayed => {}
                        (true, None) => link.forwarded.push(pos, id),
                    }
                }
                Some(Ok(ServerFrame::Hello { .. })) => {
                    tracing::warn!("server sent a second hello");
                }
                Some(Err(e)) => {
                    tracing::warn!(error = %e, "connection failed");
                    link.cause = e.to_string();
                    break;
                }
                None => {
                    if link.cause.is_empty() {
                        link.cause = "the server closed the connection".into();
                    }
                    break;
                }
            },
            request = link.requests.recv(), if accepting => match request {
                Some(first) => {
                    // The application acks items by id: their positions go too.
                    if let (Request::Ack { ids }, true) = (&first.0, version >= STREAM_VERSION) {
                        let acked = link.forwarded.acked(ids);
                        link.app_acked = link.app_acked.max(acked);
                        ack_to = ack_to.max(acked);
                    }
                    // Acks for events already forwarded go out first, so a request's
                    // answer implies they were processed.
                    ack_due = None;
                    let sent = async {
                        feed_acks(&mut sink, &mut outstanding, &mut to_ack, ack_to.take(), version).await?;
                        feed_requests(&mut sink, &mut outstanding, &mut link.requests, first, reconnecting).await?;
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
            }, if !to_ack.is_empty() || ack_to.is_some() => {
                ack_due = None;
                let sent = async {
                    feed_acks(&mut sink, &mut outstanding, &mut to_ack, ack_to.take(), version).await?;
                    sink.flush().await
                };
                if sent.await.is_err() {
                    break;
                }
            }
        }
        if !accepting && outstanding.replies.is_empty() && to_ack.is_empty() && ack_to.is_none() {
            let _ = sink.close().await;
            link.ending = Ending::Done;
            return link;
        }
    }
    if ending == Ending::Final {
        link.ending = Ending::Final;
        return link;
    }
    link.lost(outstanding)
}

/// Whether the server ends the session for a reason a new connection would
/// not change.
fn is_final(event: &Event) -> bool {
    matches!(
        event,
        Event::Kicked { .. }
            | Event::Closing {
                code: ErrorCode::DeviceRevoked
                    | ErrorCode::ProtocolViolation
                    | ErrorCode::UnsupportedVersion
            }
    )
}

impl Link {
    /// The connection was lost with `outstanding` unanswered: a reconnecting
    /// client keeps its sends to send again and fails the rest
    /// ([`ClientError::ConnectionLost`]); a plain one drops them
    /// ([`ClientError::Closed`]).
    fn lost(mut self, outstanding: Outstanding) -> Link {
        self.ending = Ending::Lost;
        if self.cause.is_empty() {
            self.cause = "a write to the server failed".into();
        }
        if self.reconnecting {
            let mut in_flight: Vec<_> = outstanding.replies.into_iter().collect();
            in_flight.sort_by_key(|(req_id, _)| *req_id);
            for (_, (reply, kept)) in in_flight {
                let Some(reply) = reply else { continue };
                match kept {
                    Kept::Retry(request) => self.resend.push((request, reply)),
                    _ => {
                        let _ = reply.send(Err(ClientError::ConnectionLost));
                    }
                }
            }
        }
        self
    }
}

/// The most requests the driver writes in one go before it reads again.
pub(super) const MAX_BURST: usize = 64;

/// Queues `first` and the requests queued behind it, up to [`MAX_BURST`]
/// (unflushed): a burst is one write.
async fn feed_requests<S>(
    sink: &mut S,
    outstanding: &mut Outstanding,
    requests: &mut mpsc::UnboundedReceiver<(Request, Pending)>,
    first: (Request, Pending),
    reconnecting: bool,
) -> Result<(), TransportError>
where
    S: futures::Sink<ClientFrame, Error = TransportError> + Unpin,
{
    let (mut request, mut reply) = first;
    for fed in 1..=MAX_BURST {
        let kept = if reconnecting {
            Kept::of(&request)
        } else {
            Kept::Nothing
        };
        let req_id = outstanding.start(Some(reply), kept);
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

/// Queues the cumulative ack up to `ack_to`, and acks for every id in
/// `to_ack` (unflushed), at most [`limits::MAX_ACK_IDS`] per frame: unanswered
/// ones from protocol version 2, else requests whose answers will be dropped.
async fn feed_acks<S>(
    sink: &mut S,
    outstanding: &mut Outstanding,
    to_ack: &mut Vec<ItemId>,
    ack_to: Option<u64>,
    version: u16,
) -> Result<(), TransportError>
where
    S: futures::Sink<ClientFrame, Error = TransportError> + Unpin,
{
    if let Some(pos) = ack_to {
        sink.feed(ClientFrame::AckUpTo { pos }).await?;
    }
    // A long login backlog can hold more ids than one frame may carry.
    for ids in std::mem::take(to_ack).chunks(limits::MAX_ACK_IDS) {
        let ids = ids.to_vec();
        let frame = if version >= 2 {
            ClientFrame::Ack { ids }
        } else {
            let req_id = outstanding.start(None, Kept::Nothing);
            let request = Request::Ack { ids };
            ClientFrame::Request { req_id, request }
        };
        sink.feed(frame).await?;
    }
    Ok(())
}
