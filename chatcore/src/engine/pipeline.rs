//! Pipelined requests: sends and acks whose store writes are queued in request
//! order and answered in that order as they commit, while the connection goes
//! on reading.
//!
//! A connection's sends to one conversation must get increasing seqs in
//! request order. A store whose writes take effect in the order they were
//! first polled ([`Store::writes_in_poll_order`](crate::store::Store::writes_in_poll_order))
//! gives that for free; on any other, a send waits for the connection's
//! previous send to the same conversation to commit (sends elsewhere, and other
//! connections', still run side by side).

use std::future::Future;
use std::pin::Pin;
use std::task::Poll;

use futures::stream::FuturesOrdered;
use futures::StreamExt;
use tokio::sync::oneshot;

use super::conn::{Conn, Reply};
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
#[derive(Default)]
pub(super) struct Pipeline {
    in_flight: FuturesOrdered<InFlight>,
    /// For each conversation with a send in flight (when sends are chained):
    /// resolves when the newest one is done. A few entries at most: a `Vec`,
    /// which allocates nothing while empty (an idle connection).
    last_sends: Vec<(SendTo, oneshot::Receiver<()>)>,
}

impl Pipeline {
    /// Starts a pipelined send to `to`. With `chain` (the store does not order
    /// writes by first poll), its store write starts only after the previous
    /// send to `to` is done.
    pub fn push_send(&mut self, to: Option<SendTo>, request: InFlight, chain: bool) {
        let Some(to) = to.filter(|_| chain) else {
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
        // write; the ordered set polls it again with a real waker.
        match request.as_mut().poll(&mut cx) {
            Poll::Ready(answer) => self
                .in_flight
                .push_back(Box::pin(std::future::ready(answer))),
            Poll::Pending => self.in_flight.push_back(request),
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
