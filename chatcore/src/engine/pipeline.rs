//! Pipelined requests: sends and acks whose store writes are queued in request
//! order and answered in that order as they commit, while the connection goes
//! on reading.
//!
//! Past its first poll a request runs as its own task: a store write may hold
//! shared resources (a pooled database connection, a row lock) until it is
//! polled to its end, and the connection's loop does not poll the pipeline
//! while it awaits a handler (which may wait for those very resources: with a
//! pool, every connection doing so stalls all of them).

use std::future::Future;
use std::pin::Pin;
use std::task::Poll;

use futures::stream::FuturesOrdered;
use futures::{FutureExt, StreamExt};

use super::conn::{Conn, Reply};
use crate::protocol::ErrorCode;

/// A request whose store write is queued; resolves to its `req_id` (`None`: an
/// unanswered ack) and answer after the commit.
pub(super) type InFlight = Pin<Box<dyn Future<Output = (Option<u32>, Reply)> + Send>>;

/// Requests whose store writes are queued, answered in order as they commit.
/// Kept apart from [`Conn`] because the futures are `Send` but not `Sync`.
#[derive(Default)]
pub(super) struct Pipeline {
    in_flight: FuturesOrdered<InFlight>,
}

impl Pipeline {
    /// Starts a pipelined request: its store write is queued now, so writes enter
    /// the store in request order (the [`Store`](crate::store::Store) contract);
    /// its answer follows when it commits.
    pub fn push(&mut self, mut request: InFlight) {
        let waker = futures::task::noop_waker();
        let mut cx = std::task::Context::from_waker(&waker);
        // The first poll runs the future up to its first wait, which queues the
        // write in request order; its task polls it on, with a real waker.
        match request.as_mut().poll(&mut cx) {
            Poll::Ready(answer) => self
                .in_flight
                .push_back(Box::pin(std::future::ready(answer))),
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
