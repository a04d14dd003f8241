//! Pipelined requests: sends and acks whose store writes are queued in request
//! order and answered in that order as they commit, while the connection goes
//! on reading.
//!
//! A connection's sends to one conversation must get increasing seqs in
//! request order. A store whose writes take effect in the order they were
//! first polled ([`Store::writes_in_poll_order`](crate::store::Store::writes_in_poll_order):
//! queued at the first poll for a writer of its own) gives that for free; on
//! any other, a send waits for the connection's previous send to the same
//! conversation to commit (sends elsewhere, and other connections', still run
//! side by side).
//!
//! Such a store runs each write in the caller's future, which holds shared
//! resources (a pooled database connection, row locks) until it is polled to
//! its end; the connection's loop does not poll the pipeline while it awaits a
//! handler, which may wait for those very resources (with a pool, every
//! connection doing so stalls all of them). So there, past its first poll, a
//! request runs as its own task. A queued write holds nothing while unpolled:
//! on `KvStore` the pipeline polls the requests itself, without a task each.

use std::future::Future;
use std::pin::Pin;
use std::task::Poll;

use futures::stream::FuturesOrdered;
use futures::{FutureExt, StreamExt};
use tokio::sync::oneshot;

use super::conn::{Conn, Reply};
use crate::protocol::ErrorCode;
use crate::store::{RoomId, UserId};

/// A request whose store write is queued; resolves to its `req_id` (`None`: an
/// unanswered ack) and answer after the commit.
pub(super) type InFlight = Pin<Box<dyn Future<Output = (Option<u32>, Reply)> + Send>>;

/// Where a send goes: what orders a connection's sends.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum SendTo {
    /// The 1:1 conversation with a user.
    User(UserId),
    /// A room.
    Room(RoomId),
}

/// Requests whose store writes are queued, answered in order as they commit.
/// Kept apart from [`Conn`] because the futures are `Send` but not `Sync`.
pub(super) struct Pipeline {
    in_flight: FuturesOrdered<InFlight>,
    /// For each conversation with a send in flight (when sends are chained):
    /// resolves when the newest one is done. A few entries at most: a `Vec`,
    /// which allocates nothing while empty (an idle connection).
    last_sends: Vec<(SendTo, oneshot::Receiver<()>)>,
    /// The store runs writes in the callers' futures (it does not queue them
    /// by first poll): sends are chained, and requests run as tasks.
    callers_run_writes: bool,
}

impl Pipeline {
    /// A pipeline for a store whose writes do (`true`) or do not take effect
    /// in the order they were first polled.
    pub fn new(writes_in_poll_order: bool) -> Self {
        Pipeline {
            in_flight: FuturesOrdered::new(),
            last_sends: Vec::new(),
            callers_run_writes: !writes_in_poll_order,
        }
    }

    /// Starts a pipelined send to `to`. On a store that does not order writes
    /// by first poll, its store write starts only after the previous send to
    /// `to` is done.
    pub fn push_send(&mut self, to: Option<SendTo>, request: InFlight) {
        let Some(to) = to.filter(|_| self.callers_run_writes) else {
            return self.push(request);
        };
        if self.in_flight.is_empty() {
            self.last_sends.clear();
        } else {
            // Forget conversations whose last send is done.
            self.last_sends.retain_mut(|(_, done)| {
                matches!(done.try_recv(), Err(oneshot::error::TryRecvError::Empty))
            });
        }
        let (done_tx, done) = oneshot::channel::<()>();
        let previous = match self.last_sends.iter_mut().find(|(key, _)| *key == to) {
            Some((_, last)) => Some(std::mem::replace(last, done)),
            None => {
                self.last_sends.push((to, done));
                None
            }
        };
        self.push(Box::pin(async move {
            if let Some(previous) = previous {
                // Sent or dropped: either way the previous send is done.
                let _ = previous.await;
            }
            let answer = request.await;
            drop(done_tx);
            answer
        }));
    }

    /// Starts a pipelined request: its store write is queued now (on a store
    /// that orders writes by first poll, that is their order; see
    /// [`push_send`](Self::push_send) for the others); its answer follows
    /// when it commits.
    pub fn push(&mut self, mut request: InFlight) {
        let waker = futures::task::noop_waker();
        let mut cx = std::task::Context::from_waker(&waker);
        // The first poll runs the future up to its first wait, which queues the
        // write in request order; the ordered set (or its task) polls it on,
        // with a real waker.
        match request.as_mut().poll(&mut cx) {
            Poll::Ready(answer) => self
                .in_flight
                .push_back(Box::pin(std::future::ready(answer))),
            Poll::Pending if !self.callers_run_writes => self.in_flight.push_back(request),
            Poll::Pending => {
                let task = tokio::spawn(request);
                self.in_flight.push_back(Box::pin(task.map(|joined| {
                    joined.unwrap_or_else(|e| match e.try_into_panic() {
                        Ok(panic) => std::panic::resume_unwind(panic),
                        // Only a runtime shutting down cancels it.
                        Err(_) => (None, Err(ErrorCode::Internal)),
                    })
                })))
            }
        }
    }

    /// The next committed request, in request order (pending while none is queued).
    pub async fn next(&mut self) -> (Option<u32>, Reply) {
        match self.in_flight.next().await {
            Some(answer) => answer,
            None => std::future::pending().await,
        }
    }

    /// How many requests wait for their commit.
    pub fn len(&self) -> usize {
        self.in_flight.len()
    }

    /// Answers every pipelined request (before a request that must see their
    /// effects).
    pub async fn drain(&mut self, conn: &Conn) {
        while let Some((req_id, reply)) = self.in_flight.next().await {
            conn.answer(req_id, reply);
        }
    }
}
