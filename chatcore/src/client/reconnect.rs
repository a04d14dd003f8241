//! [`Reconnecting`]: a [`Client`] that knows several server addresses (nodes
//! sharing one store) and moves to another when its connection goes away.
//!
//! It connects through a function of the application's, called with an
//! address per attempt, so it works over TCP, TLS, WebSocket or anything
//! else that makes a [`ClientConnection`]. When the connection is lost it
//! tries the next address at once, then the others in turn with jittered
//! exponential backoff (capped), says hello again, and, if the application
//! had logged in, logs in again *as the same device*: the same `Login` (the
//! user's default device), or `LoginDevice` naming the id the server issued
//! (the password is kept in memory for that). The server then replays the
//! user's stream past the device's acked position, so nothing acknowledged
//! is lost; what the lost connection had handed to the application but not
//! yet acked comes again and is recognised by its position, acked and not
//! handed over twice.
//!
//! The [`Client`] it returns is an ordinary one whose requests survive the
//! move: those made while disconnected wait and go out once reconnected (and
//! logged in); sends in flight at the loss are sent again under the same
//! `client_msg_id`, which the server stores once and answers with the first
//! attempt's receipt; other requests in flight fail with
//! [`ClientError::ConnectionLost`]. [`Events::next_update`] tells the
//! application what happened ([`Update::Disconnected`],
//! [`Update::Reconnected`] with the address, [`Update::LoginRefused`]).
//!
//! It stops (the events end, waiting requests fail with
//! [`ClientError::Closed`]) when every [`Client`] clone is dropped, when the
//! server ends the session for a reason another connection would not change
//! (kicked by a newer login, the device revoked, a protocol violation), or
//! after [`max_attempts`](Reconnecting::max_attempts) failed attempts in a
//! row. The server name and protocol version a [`Client`] reports are the
//! first connection's.
//!
//! Room messages are not stream items: the server does not replay them.
//! For each room it handed the application a message of since the login,
//! the new connection first reads the room's history down to that message
//! (at most 25 pages of 200), holding the room's live messages meanwhile,
//! and hands over what the room got meanwhile, in order, each once. Rooms
//! it had no message of are not read: the login's `RoomUnread` names the
//! rooms with messages none of the user's devices received.
//!
//! ```
//! use std::sync::Arc;
//! use chatcore::auth::HashParams;
//! use chatcore::client::{Reconnecting, Update};
//! use chatcore::engine::{Server, ServerConfig};
//! use chatcore::protocol::{DeviceClaim, Event};
//! use chatcore::store::MemoryStore;
//! use chatcore::transport::tcp::{self, TcpTransport};
//! use tokio_util::sync::CancellationToken;
//!
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() -> Result<(), Box<dyn std::error::Error>> {
//! // Two nodes sharing one store.
//! let store = Arc::new(MemoryStore::new());
//! let mut config = ServerConfig::default();
//! config.hash_params = HashParams::insecure_fast();
//! let (mut addrs, mut stops) = (Vec::new(), Vec::new());
//! for _ in 0..2 {
//!     let listener = TcpTransport::bind("127.0.0.1:0").await?;
//!     addrs.push(listener.local_addr()?.to_string());
//!     let stop = CancellationToken::new();
//!     let server = Server::new(store.clone(), config.clone())?;
//!     tokio::spawn(server.serve(listener, stop.clone()));
//!     stops.push(stop);
//! }
//!
//! let (ann, mut events) = Reconnecting::new(addrs.clone(), |addr: String| tcp::connect(addr))
//!     .connect()
//!     .await?;
//! ann.register("ann", "ann-password").await?;
//! let claim = DeviceClaim::New { name: "laptop".into() };
//! let laptop = ann.login_device("ann", "ann-password", claim).await?;
//!
//! // The first node goes away: the client moves to the second, as the laptop.
//! stops[0].cancel();
//! loop {
//!     match events.next_update().await {
//!         Some(Update::Reconnected { addr }) => {
//!             assert_eq!(addr, addrs[1]);
//!             break;
//!         }
//!         Some(_) => continue,
//!         None => panic!("gave up"),
//!     }
//! }
//! let devices = ann.devices().await?;
//! assert_eq!(devices.len(), 1);
//! assert_eq!(devices[0].id, laptop);
//! # while !matches!(events.next().await, Some(Event::CaughtUp) | None) {}
//! # stops[1].cancel();
//! # Ok(())
//! # }
//! ```

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use tokio::sync::mpsc;

use super::driver::{self, Ending, Link, RELOGIN_REQ_ID};
use super::{hello, Client, ClientConfig, ClientError, ConfigError, Events, Update};
use crate::protocol::{ClientFrame, ErrorCode, Event, Request, Response, ServerFrame};
use crate::transport::{ClientConnection, TransportError};
use futures::{SinkExt, StreamExt};

/// Builds a [`Client`] that moves between several addresses: see the
/// [module documentation](self).
#[derive(Debug, Clone)]
pub struct Reconnecting<F> {
    addrs: Vec<String>,
    connect: F,
    config: ClientConfig,
    initial_backoff: Duration,
    max_backoff: Duration,
    attempt_timeout: Duration,
    max_attempts: Option<u32>,
}

/// [`Reconnecting::backoff`]'s defaults: the first wait, and the longest.
pub const DEFAULT_BACKOFF: (Duration, Duration) =
    (Duration::from_millis(250), Duration::from_secs(10));

/// [`Reconnecting::attempt_timeout`]'s default.
pub const DEFAULT_ATTEMPT_TIMEOUT: Duration = Duration::from_secs(10);

impl<F, Fut, C> Reconnecting<F>
where
    F: Fn(String) -> Fut + Send + Sync + 'static,
    Fut: Future<Output = Result<C, TransportError>> + Send + 'static,
    C: ClientConnection,
{
    /// A client of the servers at `addrs`, tried in this order, each connected
    /// to by `connect` (for example `|addr: String| tcp::connect(addr)`).
    pub fn new(addrs: impl IntoIterator<Item = impl Into<String>>, connect: F) -> Self {
        Reconnecting {
            addrs: addrs.into_iter().map(Into::into).collect(),
            connect,
            config: ClientConfig::default(),
            initial_backoff: DEFAULT_BACKOFF.0,
            max_backoff: DEFAULT_BACKOFF.1,
            attempt_timeout: DEFAULT_ATTEMPT_TIMEOUT,
            max_attempts: None,
        }
    }

    /// The client's settings (default: [`ClientConfig::default`]).
    pub fn config(mut self, config: ClientConfig) -> Self {
        self.config = config;
        self
    }

    /// How long to wait between failed attempts: `initial` after the first
    /// failure, doubling up to `max`, each wait a random half to all of
    /// that (so clients of a node that went away do not all come back at
    /// once). The first attempt after a loss (at the next address) does not
    /// wait. Default: [`DEFAULT_BACKOFF`].
    pub fn backoff(mut self, initial: Duration, max: Duration) -> Self {
        self.initial_backoff = initial;
        self.max_backoff = max.max(initial);
        self
    }

    /// How long one attempt (connect, hello, login) may take before the
    /// next address is tried. Default: [`DEFAULT_ATTEMPT_TIMEOUT`].
    pub fn attempt_timeout(mut self, timeout: Duration) -> Self {
        self.attempt_timeout = timeout;
        self
    }

    /// Give up after this many failed attempts in a row (`None`, the
    /// default: never).
    pub fn max_attempts(mut self, attempts: Option<u32>) -> Self {
        self.max_attempts = attempts;
        self
    }

    /// Connects to the first address that answers, trying each once in
    /// order; fails with the last one's error if none does (or at once,
    /// sending nothing, with no address or a config that makes no sense).
    pub async fn connect(self) -> Result<(Client, Events), ClientError> {
        self.config.validate()?;
        if self.addrs.is_empty() {
            return Err(ConfigError::NoAddresses.into());
        }
        let mut last_error = ClientError::Closed;
        for at in 0..self.addrs.len() {
            match self.attempt(at, None).await {
                Ok((conn, server, version, _)) => {
                    let (req_tx, req_rx) = mpsc::unbounded_channel();
                    let (event_tx, event_rx) = mpsc::unbounded_channel();
                    let link = Link::new(req_rx, event_tx, true);
                    let run = Supervisor {
                        addrs: self.addrs,
                        connect: Arc::new(self.connect),
                        config: self.config,
                        initial_backoff: self.initial_backoff,
                        max_backoff: self.max_backoff,
                        attempt_timeout: self.attempt_timeout,
                        max_attempts: self.max_attempts,
                    };
                    tokio::spawn(run.run(link, conn, at, version));
                    let client = Client {
                        requests: req_tx,
                        server,
                        version,
                    };
                    return Ok((client, Events { rx: event_rx }));
                }
                Err(e) => {
                    tracing::debug!(addr = %self.addrs[at], error = %e, "cannot connect");
                    last_error = e;
                }
            }
        }
        Err(last_error)
    }

    async fn attempt(&self, at: usize, link: Option<&mut Link>) -> Result<Attempt<C>, ClientError> {
        attempt(
            &self.connect,
            &self.addrs[at],
            &self.config,
            self.attempt_timeout,
            link,
        )
        .await
    }
}

/// A connection that said hello (and logged in again): with the server's
/// name, the version, and the login's refusal if it was refused.
type Attempt<C> = (C, String, u16, Option<ErrorCode>);

/// Connects to `addr`, says hello and repeats `link`'s login, within `timeout`.
async fn attempt<F, Fut, C>(
    connect: &F,
    addr: &str,
    config: &ClientConfig,
    timeout: Duration,
    link: Option<&mut Link>,
) -> Result<Attempt<C>, ClientError>
where
    F: Fn(String) -> Fut,
    Fut: Future<Output = Result<C, TransportError>>,
    C: ClientConnection,
{
    let attempt = async {
        let mut conn = connect(addr.to_string()).await?;
        let (server, version) = hello(&mut conn, config).await?;
        let mut refused = None;
        if let Some(link) = link {
            if let Some(login) = link.login.clone() {
                match relogin(&mut conn, login).await {
                    Ok(()) => {}
                    Err(ClientError::Refused(code)) if !transient(code) => {
                        link.logged_out();
                        refused = Some(code);
                    }
                    Err(e) => return Err(e),
                }
            }
        }
        Ok((conn, server, version, refused))
    };
    tokio::time::timeout(timeout, attempt)
        .await
        .unwrap_or_else(|_| Err(TransportError::Io(std::io::ErrorKind::TimedOut.into()).into()))
}

/// Refusals that another attempt (perhaps at another node) may not get.
fn transient(code: ErrorCode) -> bool {
    matches!(
        code,
        ErrorCode::RateLimited
            | ErrorCode::TooManyConnections
            | ErrorCode::Timeout
            | ErrorCode::ShuttingDown
            | ErrorCode::Internal
            | ErrorCode::Unavailable
    )
}

/// Sends `login` and waits for its answer, answering heartbeats meanwhile.
/// The server sends a login's backlog only after its answer, so nothing
/// else of the stream is read here.
async fn relogin<C: ClientConnection>(conn: &mut C, login: Request) -> Result<(), ClientError> {
    conn.send(ClientFrame::Request {
        req_id: RELOGIN_REQ_ID,
        request: login,
    })
    .await?;
    loop {
        match conn.next().await {
            Some(Ok(ServerFrame::Response { req_id, result })) if req_id == RELOGIN_REQ_ID => {
                return match result {
                    Ok(Response::LoggedIn { .. } | Response::LoggedInDevice { .. }) => Ok(()),
                    Ok(other) => Err(ClientError::Unexpected(format!("{other:?}"))),
                    Err(code) => Err(ClientError::Refused(code)),
                };
            }
            Some(Ok(ServerFrame::Event(Event::Ping))) => {
                let ping = ClientFrame::Request {
                    req_id: RELOGIN_REQ_ID - 1,
                    request: Request::Ping,
                };
                conn.send(ping).await?;
            }
            Some(Ok(ServerFrame::Event(Event::Closing { code }))) => {
                return Err(ClientError::Refused(code))
            }
            Some(Ok(ServerFrame::Event(Event::ServerShutdown))) => return Err(ClientError::Closed),
            Some(Ok(other)) => tracing::debug!(frame = ?other, "before the login's answer"),
            Some(Err(e)) => return Err(e.into()),
            None => return Err(ClientError::Closed),
        }
    }
}

/// The task behind a reconnecting [`Client`]: runs a connection's driver,
/// and when it is lost finds the next.
struct Supervisor<F> {
    addrs: Vec<String>,
    connect: Arc<F>,
    config: ClientConfig,
    initial_backoff: Duration,
    max_backoff: Duration,
    attempt_timeout: Duration,
    max_attempts: Option<u32>,
}

impl<F, Fut, C> Supervisor<F>
where
    F: Fn(String) -> Fut + Send + Sync + 'static,
    Fut: Future<Output = Result<C, TransportError>> + Send + 'static,
    C: ClientConnection,
{
    /// Drives `conn` (to `addrs[at]`), and each next connection, until the
    /// client stops.
    async fn run(self, mut link: Link, mut conn: C, mut at: usize, mut version: u16) {
        let auto_ack = self.config.auto_ack.then_some(self.config.ack_delay);
        loop {
            link = driver::drive(conn, link, version, auto_ack).await;
            if link.ending != Ending::Lost {
                return;
            }
            let lost = Update::Disconnected {
                addr: self.addrs[at].clone(),
                error: std::mem::take(&mut link.cause),
            };
            let _ = link.events.send(lost);
            let mut failures = 0u32;
            loop {
                // No one left to make requests (and none waiting): stop.
                if link.requests.is_closed() && link.requests.is_empty() && link.resend.is_empty() {
                    return;
                }
                at = (at + 1) % self.addrs.len();
                let addr = &self.addrs[at];
                let tried = attempt(
                    &*self.connect,
                    addr,
                    &self.config,
                    self.attempt_timeout,
                    Some(&mut link),
                )
                .await;
                match tried {
                    Ok((next, _, next_version, refused)) => {
                        tracing::info!(%addr, "reconnected");
                        // Logged in again: the rooms' messages meanwhile are read first.
                        link.catch_up_rooms = link.login.is_some();
                        let _ = link.events.send(Update::Reconnected { addr: addr.clone() });
                        if let Some(code) = refused {
                            let _ = link.events.send(Update::LoginRefused { code });
                        }
                        (conn, version) = (next, next_version);
                        break;
                    }
                    Err(e) => tracing::debug!(%addr, error = %e, "cannot reconnect"),
                }
                failures += 1;
                if self.max_attempts.is_some_and(|most| failures >= most) {
                    for (_, reply) in link.resend.drain(..) {
                        let _ = reply.send(Err(ClientError::ConnectionLost));
                    }
                    return;
                }
                tokio::time::sleep(self.delay(failures)).await;
            }
        }
    }

    /// The wait after `failures` failed attempts in a row: doubling from the
    /// initial one, capped, a random half to all of it.
    fn delay(&self, failures: u32) -> Duration {
        let doubled = self
            .initial_backoff
            .saturating_mul(1u32 << failures.saturating_sub(1).min(20));
        let full = doubled.min(self.max_backoff);
        full.mul_f64(0.5 + rand::random::<f64>() / 2.0)
    }
}

#[cfg(test)]
mod tests;
