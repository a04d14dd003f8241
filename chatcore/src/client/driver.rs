//! The driver task behind a [`Client`](super::Client): writes requests (a burst
//! per write) and acks (batched, at most one frame's worth each), matches
//! responses to requests by `req_id`, answers heartbeats, and forwards events,
//! each inbox id once. From protocol version 5 the stream's items come with
//! positions and are acked cumulatively: one `AckUpTo` per batch.

use std::collections::{HashMap, HashSet, VecDeque};
use std::pin::Pin;

use futures::{SinkExt, StreamExt};
use tokio::sync::mpsc;

use super::Pending;
use crate::protocol::{
    limits, ClientFrame, ErrorCode, Event, ItemId, Request, Response, ServerFrame,
};
use crate::sync::STREAM_VERSION;
use crate::transport::{ClientConnection, TransportError};

/// Remembers recently forwarded inbox ids so a redelivery is forwarded once.
#[derive(Debug, Default)]
struct SeenIds {
    set: HashSet<ItemId>,
    order: VecDeque<ItemId>,
}

impl SeenIds {
    const CAPACITY: usize = 65_536;

    fn contains(&self, id: ItemId) -> bool {
        self.set.contains(&id)
    }

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

/// Stream items forwarded in explicit-ack mode and not yet acked: their
/// positions, and the ids the application acks them by.
#[derive(Debug, Default)]
struct Forwarded {
    items: VecDeque<(u64, Option<ItemId>)>,
}

impl Forwarded {
    /// Most remembered: an application that acks nothing is not remembered for
    /// ever (what it never acked comes again at the next login).
    const CAPACITY: usize = 65_536;

    fn push(&mut self, pos: u64, id: Option<ItemId>) {
        if self.items.len() == Self::CAPACITY {
            self.items.pop_front();
        }
        self.items.push_back((pos, id));
    }

    /// The position acking `ids` moves to: past the newest item they name and
    /// the items without an id after it (receipts and read marks, which the
    /// application has nothing to do for).
    fn acked(&mut self, ids: &[ItemId]) -> Option<u64> {
        let newest = self
            .items
            .iter()
            .rposition(|(_, id)| id.is_some_and(|id| ids.contains(&id)))?;
        let mut up_to = self.items[newest].0;
        self.items.drain(..=newest);
        while let Some(&(pos, None)) = self.items.front() {
            up_to = pos;
            self.items.pop_front();
        }
        Some(up_to)
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
pub(super) async fn drive<C: ClientConnection>(
    conn: C,
    mut requests: mpsc::UnboundedReceiver<(Request, Pending)>,
    events: mpsc::UnboundedSender<Event>,
    version: u16,
    auto_ack: Option<std::time::Duration>,
) {
    let (mut sink, mut stream) = conn.split();
    let mut outstanding = Outstanding::default();
    let mut to_ack: Vec<ItemId> = Vec::new();
    // The stream position to ack next (protocol version 5).
    let mut ack_to: Option<u64> = None;
    let mut forwarded = Forwarded::default();
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
                    match event.inbox_id() {
                        None => {
                            let _ = events.send(event);
                        }
                        // Only what the application was handed is acked (now,
                        // or when it was first forwarded on this connection):
                        // an event no one can receive stays on the server.
                        Some(id) => {
                            let received = seen.contains(id)
                                || (events.send(event).is_ok() && seen.insert(id));
                            if let (true, Some(delay)) = (received, auto_ack) {
                                to_ack.push(id);
                                if ack_due.is_none() && !delay.is_zero() {
                                    ack_due = Some(Box::pin(tokio::time::sleep(delay)));
                                }
                            }
                        }
                    }
                }
                // Each position comes once per connection, in order: no
                // dedup; an item no one can receive is not acked.
                Some(Ok(ServerFrame::Item { pos, event })) => {
                    let id = event.inbox_id();
                    if events.send(event).is_ok() {
                        match auto_ack {
                            Some(delay) => {
                                ack_to = Some(pos);
                                if ack_due.is_none() && !delay.is_zero() {
                                    ack_due = Some(Box::pin(tokio::time::sleep(delay)));
                                }
                            }
                            None => forwarded.push(pos, id),
                        }
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
                    // The application acks items by id: their positions go too.
                    if let (Request::Ack { ids }, true) = (&first.0, version >= STREAM_VERSION) {
                        ack_to = ack_to.max(forwarded.acked(ids));
                    }
                    // Acks for events already forwarded go out first, so a request's
                    // answer implies they were processed.
                    ack_due = None;
                    let sent = async {
                        feed_acks(&mut sink, &mut outstanding, &mut to_ack, ack_to.take(), version).await?;
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
            break;
        }
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
            let req_id = outstanding.start(None);
            let request = Request::Ack { ids };
            ClientFrame::Request { req_id, request }
        };
        sink.feed(frame).await?;
    }
    Ok(())
}
