//! One connection's task: reads frames, hands each to the session and its
//! handlers (`dispatch`), answers pipelined requests as they commit, and keeps
//! the timers (hello, login, idle, heartbeat) and the request and ack rates. The only place
//! with `select!`; `write_loop` drains the session's mailbox into the socket.

use std::collections::HashMap;
use std::future::Future;
use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::task::Poll;
use std::time::{Duration, Instant};

use futures::{SinkExt, StreamExt};

use super::backlog::Backlog;
use super::conn::{Conn, Flow, WRITE_GRACE};
use super::pipeline::Pipeline;
use super::ServerState;
use crate::limits::{Place, TokenBucket};
use crate::mailbox::{Control, Mailbox, Signal};
use crate::protocol::{ClientFrame, ErrorCode, Event, Request, ServerFrame, PROTOCOL_VERSION};
use crate::router::SessionHandle;
use crate::session::{Phase, Session};
use crate::transport::{ServerConnection, TransportError};

/// Most pipelined requests per connection; beyond it the connection stops reading.
const MAX_IN_FLIGHT: usize = 256;

/// Sets a connection up (its writer task, its session) and returns the task that
/// serves it. Not an `async fn`: the setup's inputs would stay in every idle
/// task's state for good.
pub(super) fn run<C: ServerConnection>(
    state: Arc<ServerState>,
    conn: C,
    conn_id: u64,
    peer: Option<SocketAddr>,
    place: Option<Place<IpAddr>>,
) -> impl Future<Output = ()> + Send {
    let (sink, stream) = conn.split();
    let mailbox = Arc::new(Mailbox::new(
        state.config.outbound_queue,
        state.config.outbound_queue_bytes,
    ));
    let writer = tokio::spawn(write_loop(sink, Arc::clone(&mailbox), conn_id));
    // Boxed: passed into `serve` by value, it would take room twice in its task.
    let conn = Box::new(Conn {
        state,
        session: Session::new(),
        handle: SessionHandle {
            conn_id,
            mailbox,
            device: None,
            version: PROTOCOL_VERSION,
            sync: None,
            logged_in_us: 0,
        },
        peer,
        _place: place,
        uploads: HashMap::new(),
        last_typing: None,
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
    let shutdown = conn.state.shutdown.clone();
    let mut pipeline = Pipeline::new(conn.state.store.writes_in_poll_order());
    // Boxed and dropped after the hello: idle sessions do not keep a timer.
    let mut hello_deadline = Some(Box::pin(tokio::time::sleep(
        conn.state.config.hello_timeout,
    )));
    // Armed whenever the session is not logged in (from the start, and again
    // after a logout): pings keep a connection from idling out, not this.
    let mut login_deadline = Some(Box::pin(tokio::time::sleep(
        conn.state.config.login_timeout,
    )));
    let config = &conn.state.config;
    let mut heartbeat = tokio::time::interval_at(
        tokio::time::Instant::now() + config.ping_interval,
        config.ping_interval,
    );
    heartbeat.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut last_heard = Instant::now();
    let mut rate = TokenBucket::new(config.request_rate, config.request_burst, last_heard);
    let mut ack_rate = TokenBucket::new(config.ack_rate, config.ack_burst, last_heard);
    let mut strikes = 0;
    let mut slow_reader = false;
    let mut backlog: Option<Backlog> = None;
    loop {
        // While the session is logged in and no fill runs, a gap the live items
        // of the user's stream showed starts a fill.
        let may_fill = conn.handle.sync.is_some() && backlog.is_none();
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
            _ = async { login_deadline.as_mut().expect("checked").await }, if login_deadline.is_some() => {
                tracing::info!(conn_id, "not logged in in time");
                conn.send_event(Event::Closing { code: ErrorCode::Timeout });
                break;
            }
            (req_id, reply) = pipeline.next() => {
                conn.answer(req_id, reply);
            }
            sent = async { backlog.as_mut().expect("checked").await }, if backlog.is_some() => {
                backlog = None;
                if let Err(code) = sent {
                    // Not caught up: the client must log in again for the rest.
                    conn.send_event(Event::Closing { code });
                    break;
                }
            }
            _ = heartbeat.tick() => {
                if last_heard.elapsed() >= conn.state.config.idle_timeout {
                    tracing::info!(conn_id, "idle; closing");
                    conn.send_event(Event::Closing { code: ErrorCode::Timeout });
                    break;
                }
                conn.send_event(Event::Ping);
            }
            signal = mailbox.signalled(may_fill) => match signal {
                Signal::Fill => {
                    let user = conn.me();
                    backlog = Some(conn.backlog(user, None));
                }
                Signal::Stop(control) => {
                    match control {
                        Control::Kick(reason) => {
                            tracing::info!(conn_id, %reason, "session kicked");
                            conn.send_event(Event::Kicked { reason });
                        }
                        Control::SlowReader => {
                            tracing::warn!(conn_id, "closing slow reader");
                            slow_reader = true;
                        }
                        // The writer logged why; nothing more reaches this client.
                        Control::WriteFailed => {}
                        Control::Revoked => {
                            tracing::info!(conn_id, "device revoked; closing");
                            conn.send_event(Event::Closing { code: ErrorCode::DeviceRevoked });
                        }
                    }
                    break;
                }
            },
            frame = stream.next(), if pipeline.len() < MAX_IN_FLIGHT => match frame {
                Some(Ok(frame)) => {
                    last_heard = Instant::now();
                    // The result of a fill that ended while this frame was handled.
                    let mut fill_ended = None;
                    if let Some(ids) = acked_ids(&frame) {
                        // A client owes an ack for what it was sent, so acks are
                        // never refused; past their own rate (in ids, what the
                        // store works through) they are slowed.
                        let wait = ack_rate.take_waiting(ids.max(1), last_heard);
                        if !wait.is_zero() {
                            beside(tokio::time::sleep(wait), &mut backlog, &mut fill_ended).await;
                        }
                    } else if matches!(frame, ClientFrame::Request { .. }) {
                        if !rate.try_take(last_heard) {
                            strikes += 1;
                            if strikes >= conn.state.config.max_rate_strikes {
                                tracing::warn!(conn_id, "request flood; closing");
                                conn.send_event(Event::Closing { code: ErrorCode::RateLimited });
                                break;
                            }
                            if let ClientFrame::Request { req_id, .. } = frame {
                                conn.respond(req_id, Err(ErrorCode::RateLimited));
                            }
                            continue;
                        }
                        strikes = 0;
                    }
                    // Boxed: an idle connection's task stays small, and only a
                    // connection at work holds a handler's state.
                    let handled = Box::pin(conn.on_frame(frame, &mut pipeline));
                    match beside(handled, &mut backlog, &mut fill_ended).await {
                        Flow::Continue => {}
                        Flow::Close => break,
                        Flow::Backlog(started) => {
                            backlog = Some(started);
                            fill_ended = None; // the last login's fill: moot now
                            mailbox.forget_fill(); // a new login: its own stream delivery
                        }
                    }
                    if let Some(Err(code)) = fill_ended {
                        if conn.session.user().is_some() {
                            // Not caught up: the client must log in again for the rest.
                            conn.send_event(Event::Closing { code });
                            break;
                        }
                    }
                    if conn.session.user().is_none() {
                        backlog = None; // logged out: the rest waits for the next login
                        mailbox.forget_fill();
                    }
                    match conn.session.phase() {
                        Phase::AwaitingHello => {}
                        Phase::Authenticated(_) => {
                            hello_deadline = None;
                            login_deadline = None;
                        }
                        Phase::Anonymous | Phase::Closed => {
                            hello_deadline = None;
                            if login_deadline.is_none() {
                                login_deadline = Some(Box::pin(tokio::time::sleep(
                                    conn.state.config.login_timeout,
                                )));
                            }
                        }
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
    // carried waits in the stream for the next login.
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

/// Runs `work` (a frame's handling) with the session's fill, if any, polled
/// beside it; a fill that ends meanwhile leaves its result in `ended`.
///
/// A fill reads the store, and a read may hold a pooled database connection
/// until it is polled on: left unpolled while `work` waits for a connection of
/// the same pool, it would keep its own, and enough sessions doing so at once
/// would hold the whole pool while each waits for one.
async fn beside<F: Future>(
    work: F,
    backlog: &mut Option<Backlog>,
    ended: &mut Option<Result<(), ErrorCode>>,
) -> F::Output {
    let mut work = std::pin::pin!(work);
    std::future::poll_fn(|cx| {
        if let Poll::Ready(output) = work.as_mut().poll(cx) {
            return Poll::Ready(output);
        }
        if let Some(fill) = backlog.as_mut() {
            if let Poll::Ready(result) = fill.as_mut().poll(cx) {
                *backlog = None;
                *ended = Some(result);
            }
        }
        Poll::Pending
    })
    .await
}

/// How many ids `frame` acknowledges, if it is an ack (in either protocol
/// version's form).
fn acked_ids(frame: &ClientFrame) -> Option<u32> {
    match frame {
        ClientFrame::AckUpTo { .. } => Some(1),
        ClientFrame::Ack { ids }
        | ClientFrame::Request {
            request: Request::Ack { ids },
            ..
        } => Some(u32::try_from(ids.len()).unwrap_or(u32::MAX)),
        _ => None,
    }
}

/// Tells a connection the server will not serve it, and closes it.
pub(super) async fn refuse<C: ServerConnection>(mut conn: C, code: ErrorCode) {
    let frame = Arc::new(ServerFrame::Event(Event::Closing { code }));
    let _ = conn.send(frame).await;
    let _ = conn.close().await;
}

/// Drains the session's mailbox into the sink, flushing once per burst.
///
/// A frame the sink refuses (one that cannot be encoded within the frame limit,
/// a broken socket) ends the connection: the failure is logged, the mailbox
/// closed and the session told to stop, so that the session does not go on
/// queueing answers no one will send while its client waits for them.
/// (Logged by `conn_id` alone: the "connected" line says its peer, and every
/// idle writer would carry the address.)
async fn write_loop<S>(mut sink: S, mailbox: Arc<Mailbox>, conn_id: u64)
where
    S: futures::Sink<Arc<ServerFrame>, Error = TransportError> + Unpin,
{
    while let Some(frames) = mailbox.take_all().await {
        if let Err(error) = write_burst(&mut sink, frames).await {
            tracing::warn!(conn_id, %error, "writing to the client failed; closing");
            mailbox.close();
            mailbox.stop(Control::WriteFailed);
            break;
        }
    }
    // What was fed before a failure still goes out, then the client sees the close.
    let _ = sink.close().await;
}

/// Feeds every frame of a burst, then flushes once.
async fn write_burst<S>(
    sink: &mut S,
    frames: std::collections::VecDeque<Arc<ServerFrame>>,
) -> Result<(), TransportError>
where
    S: futures::Sink<Arc<ServerFrame>, Error = TransportError> + Unpin,
{
    for frame in frames {
        sink.feed(frame).await?;
    }
    sink.flush().await
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::protocol::{Body, Message, Peer, Response};
    use crate::transport::tcp::{self, TcpServerConnection};

    fn response(result: Response) -> Arc<ServerFrame> {
        Arc::new(ServerFrame::Response {
            req_id: 1,
            result: Ok(result),
        })
    }

    /// Review 1.5: a frame the codec refuses used to end the writer without a
    /// word, leaving the session queueing answers its client never got. Now the
    /// failure closes the mailbox and stops the session, what was fed before it
    /// still goes out, and the client sees the connection end.
    #[tokio::test]
    async fn a_frame_over_the_limit_stops_the_session_and_closes_the_connection() {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let client = tokio::spawn(tcp::connect(listener.local_addr().unwrap()));
        let (stream, _) = listener.accept().await.unwrap();
        let mut client = client.await.unwrap().unwrap();
        let (sink, _read_half) = TcpServerConnection::new(stream, 64).unwrap().split();
        let mailbox = Arc::new(Mailbox::new(8, usize::MAX));
        let too_large = Response::History(vec![Message {
            id: 1,
            seq: 1,
            from: "ann".into(),
            to: Peer::User("bob".into()),
            body: Body::Text("x".repeat(100)),
            ts: 0,
        }]);
        for frame in [
            response(Response::Pong),
            response(too_large),
            response(Response::Done),
        ] {
            mailbox.try_push(frame).unwrap();
        }

        write_loop(sink, Arc::clone(&mailbox), 7).await;

        assert!(mailbox.is_stopped(), "the session is told to stop");
        assert_eq!(mailbox.stopped().await, Control::WriteFailed);
        assert!(
            mailbox.try_push(response(Response::Pong)).is_err(),
            "no more frames are queued for a writer that is gone"
        );
        assert!(matches!(
            client.next().await,
            Some(Ok(ServerFrame::Response {
                result: Ok(Response::Pong),
                ..
            }))
        ));
        assert!(
            !matches!(client.next().await, Some(Ok(_))),
            "the client sees the connection end"
        );
    }
}
