//! One connection's task: reads frames, steps the session, carries out its actions.
//! The only place with `select!`.

use std::collections::HashMap;
use std::future::Future;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::Arc;
use std::task::Poll;
use std::time::{Duration, Instant};

use futures::stream::FuturesOrdered;
use futures::{SinkExt, StreamExt};

use super::files::Upload;
use super::handlers::Reply;
use super::Shared;
use crate::limits::TokenBucket;
use crate::mailbox::{Control, Mailbox};
use crate::protocol::{ClientFrame, ErrorCode, Event, ItemId, Response, ServerFrame};
use crate::router::SessionHandle;
use crate::session::{Action, Phase, Session};
use crate::transport::ServerConnection;

/// The state a connection's handlers work on.
pub(super) struct Conn {
    pub shared: Arc<Shared>,
    pub session: Session,
    pub handle: SessionHandle,
    pub peer: Option<SocketAddr>,
    /// Uploads this connection started and has not completed.
    pub uploads: HashMap<ItemId, Upload>,
}

/// Requests whose store writes are queued, answered in order as they commit.
/// Kept apart from [`Conn`] because the futures are `Send` but not `Sync`.
#[derive(Default)]
pub(super) struct Pipeline {
    in_flight: FuturesOrdered<InFlight>,
}

/// A request whose store write is queued; resolves to its `req_id` (`None`: an
/// unanswered ack) and answer after the commit.
pub(super) type InFlight = Pin<Box<dyn Future<Output = (Option<u32>, Reply)> + Send>>;

/// How long a closing connection's queued frames may take to go out.
const WRITE_GRACE: Duration = Duration::from_secs(5);

/// Most pipelined requests per connection; beyond it the connection stops reading.
const MAX_IN_FLIGHT: usize = 256;

/// Whether the connection goes on after a frame.
pub(super) enum Flow {
    Continue,
    Close,
}

/// Sets a connection up (its writer task, its session) and returns the task that
/// serves it. Not an `async fn`: the setup's inputs would stay in every idle
/// task's state for good.
pub(super) fn run<C: ServerConnection>(
    shared: Arc<Shared>,
    conn: C,
    conn_id: u64,
    peer: Option<SocketAddr>,
) -> impl Future<Output = ()> + Send {
    let (sink, stream) = conn.split();
    let mailbox = Arc::new(Mailbox::new(shared.config.outbound_queue));
    let writer = tokio::spawn(write_loop(sink, Arc::clone(&mailbox)));
    // Boxed: passed into `serve` by value, it would take room twice in its task.
    let conn = Box::new(Conn {
        shared,
        session: Session::new(),
        handle: SessionHandle { conn_id, mailbox },
        peer,
        uploads: HashMap::new(),
    });
    tracing::info!(conn_id, ?peer, "connected");
    serve(conn, stream, writer)
}

async fn serve<S>(mut conn: Box<Conn>, mut stream: S, mut writer: tokio::task::JoinHandle<()>)
where
    S: futures::Stream<Item = Result<ClientFrame, crate::transport::TransportError>> + Unpin,
{
    let conn_id = conn.handle.conn_id;
    let mailbox = Arc::clone(&conn.handle.mailbox);
    let shutdown = conn.shared.shutdown.clone();
    let mut pipeline = Pipeline::default();
    // Boxed and dropped after the hello: idle sessions do not keep a timer.
    let mut hello_deadline = Some(Box::pin(tokio::time::sleep(
        conn.shared.config.hello_timeout,
    )));
    let config = &conn.shared.config;
    let mut heartbeat = tokio::time::interval_at(
        tokio::time::Instant::now() + config.ping_interval,
        config.ping_interval,
    );
    heartbeat.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut last_heard = Instant::now();
    let mut rate = TokenBucket::new(config.request_rate, config.request_burst, last_heard);
    let mut strikes = 0;
    let mut slow_reader = false;

    loop {
        tokio::select! {
            biased;
            _ = shutdown.cancelled() => {
                conn.send_event(Event::ServerShutdown);
                break;
            }
            _ = async { hello_deadline.as_mut().expect("checked").await }, if hello_deadline.is_some() => {
                tracing::info!(conn_id, "no hello in time");
                conn.send_event(Event::Closing { code: ErrorCode::Timeout });
                break;
            }
            Some((req_id, reply)) = pipeline.in_flight.next(), if !pipeline.in_flight.is_empty() => {
                conn.answer(req_id, reply);
            }
            _ = heartbeat.tick() => {
                if last_heard.elapsed() >= conn.shared.config.idle_timeout {
                    tracing::info!(conn_id, "idle; closing");
                    conn.send_event(Event::Closing { code: ErrorCode::Timeout });
                    break;
                }
                conn.send_event(Event::Ping);
            }
            control = mailbox.stopped() => {
                match control {
                    Control::Kick(reason) => {
                        tracing::info!(conn_id, %reason, "session kicked");
                        conn.send_event(Event::Kicked { reason });
                    }
                    Control::SlowReader => {
                        tracing::warn!(conn_id, "closing slow reader");
                        slow_reader = true;
                    }
                }
                break;
            }
            frame = stream.next(), if pipeline.in_flight.len() < MAX_IN_FLIGHT => match frame {
                Some(Ok(frame)) => {
                    last_heard = Instant::now();
                    if matches!(frame, ClientFrame::Request { .. } | ClientFrame::Ack { .. }) {
                        if !rate.try_take(last_heard) {
                            strikes += 1;
                            if strikes >= conn.shared.config.max_rate_strikes {
                                tracing::warn!(conn_id, "request flood; closing");
                                conn.send_event(Event::Closing { code: ErrorCode::RateLimited });
                                break;
                            }
                            // An unanswered ack is dropped: its items stay in the inbox.
                            if let ClientFrame::Request { req_id, .. } = frame {
                                conn.respond(req_id, Err(ErrorCode::RateLimited));
                            }
                            continue;
                        }
                        strikes = 0;
                    }
                    // Boxed: an idle connection's task stays small, and only a
                    // connection at work holds a handler's state.
                    if let Flow::Close = Box::pin(conn.on_frame(frame, &mut pipeline)).await {
                        break;
                    }
                    if *conn.session.phase() != Phase::AwaitingHello {
                        hello_deadline = None;
                    }
                }
                Some(Err(e)) => {
                    tracing::info!(conn_id, error = %e, "closing on bad input");
                    if let Some(code) = e.code() {
                        conn.send_event(Event::Closing { code });
                    }
                    break;
                }
                None => break,
            },
        }
    }

    // Queued writes commit anyway; finish them so their pushes go out. Boxed, like
    // `on_frame`: inline, these futures would make every idle task larger.
    Box::pin(pipeline.drain(&conn)).await;
    Box::pin(conn.close()).await;
    tracing::info!(conn_id, "disconnected");
    // The router no longer reaches this session (`close`): the writer ends after
    // flushing what is queued; a peer that does not read gets a short grace, then
    // the writer is cut off. Frames routed here from now on are dropped; what they
    // carried waits in the inbox for the next login.
    mailbox.close();
    drop(conn);
    let grace = if slow_reader {
        Duration::ZERO
    } else {
        WRITE_GRACE
    };
    if tokio::time::timeout(grace, &mut writer).await.is_err() {
        writer.abort();
    }
}

impl Pipeline {
    /// Answers every pipelined request (before a request that must see their
    /// effects).
    pub async fn drain(&mut self, conn: &Conn) {
        while let Some((req_id, reply)) = self.in_flight.next().await {
            conn.answer(req_id, reply);
        }
    }

    /// Starts a pipelined request: its store write is queued now, so writes enter
    /// the store in request order (the [`Store`](crate::store::Store) contract);
    /// its answer follows when it commits.
    pub fn push(&mut self, mut request: InFlight) {
        let waker = futures::task::noop_waker();
        let mut cx = std::task::Context::from_waker(&waker);
        // The first poll runs the future up to its first wait, which queues the
        // write; the ordered set polls it again with a real waker.
        match request.as_mut().poll(&mut cx) {
            Poll::Ready(answer) => self
                .in_flight
                .push_back(Box::pin(std::future::ready(answer))),
            Poll::Pending => self.in_flight.push_back(request),
        }
    }
}

/// Tells a connection the server will not serve it, and closes it.
pub(super) async fn refuse<C: ServerConnection>(mut conn: C, code: ErrorCode) {
    let frame = Arc::new(ServerFrame::Event(Event::Closing { code }));
    let _ = conn.send(frame).await;
    let _ = conn.close().await;
}

/// Drains the session's mailbox into the sink, flushing once per burst.
async fn write_loop<S>(mut sink: S, mailbox: Arc<Mailbox>)
where
    S: futures::Sink<Arc<ServerFrame>> + Unpin,
{
    while let Some(frames) = mailbox.take_all().await {
        for frame in frames {
            if sink.feed(frame).await.is_err() {
                return;
            }
        }
        if sink.flush().await.is_err() {
            return;
        }
    }
    let _ = sink.close().await;
}

impl Conn {
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
            Action::Ignore => Flow::Continue,
        }
    }

    fn greet(&self) {
        self.send(ServerFrame::Hello {
            version: self.session.version(),
            server: self.shared.config.server_name.clone(),
        });
    }

    /// Queues a frame for this connection. Never waits: a client that lets its
    /// queue fill up is not reading and gets closed as a slow reader.
    pub fn send(&self, frame: ServerFrame) {
        self.handle.push(Arc::new(frame));
    }

    pub fn send_event(&self, event: Event) {
        self.send(ServerFrame::Event(event));
    }

    /// Queues an event, waiting for room in the queue (for bulk sends from this
    /// connection's own task, such as the login backlog). A client that does not
    /// make room within the grace period is closed as a slow reader.
    pub async fn send_event_waiting(&self, event: Event) {
        let frame = Arc::new(ServerFrame::Event(event));
        let sent = tokio::time::timeout(WRITE_GRACE, self.handle.mailbox.push(frame)).await;
        if sent.is_err() {
            self.handle.mailbox.stop(Control::SlowReader);
        }
    }

    pub fn respond(&self, req_id: u32, result: Result<Response, ErrorCode>) {
        self.send(ServerFrame::Response { req_id, result });
    }

    /// Answers a pipelined request; an unanswered ack's outcome is dropped (a
    /// storage failure was logged where it happened).
    fn answer(&self, req_id: Option<u32>, reply: Reply) {
        if let Some(req_id) = req_id {
            self.respond(req_id, reply);
        }
    }

    /// Ends the session: leaves the router and, if this was the user's last
    /// session, tells their friends they went offline.
    async fn close(&mut self) {
        self.abandon_uploads().await;
        if let Some(user) = self.session.close() {
            self.went_away(user).await;
        }
    }
}
