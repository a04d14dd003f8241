//! What a login owes its session: the inbox backlog, then where the user's rooms
//! have unread messages, then `CaughtUp`. It runs as a future the connection's
//! loop polls beside reading frames, so the client's acks (and its other
//! requests) are read and answered while the backlog goes out, and the loop's
//! timers, stops and shutdown keep running.

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;

use super::conn::{internal, WRITE_GRACE};
use super::ServerState;
use crate::mailbox::{Control, Mailbox};
use crate::protocol::{ErrorCode, Event, ServerFrame};
use crate::store::User;

/// A login's backlog in progress; `Err` if the store could not be read, and
/// the client must not be told it is caught up.
pub(super) type Backlog = Pin<Box<dyn Future<Output = Result<(), ErrorCode>> + Send>>;

/// The backlog of `user`'s login on the session whose mailbox is `mailbox`.
pub(super) fn login_backlog(state: Arc<ServerState>, mailbox: Arc<Mailbox>, user: User) -> Backlog {
    Box::pin(async move {
        let send = |event| push_waiting(&state, &mailbox, event);
        let mut after = None;
        loop {
            let page = state
                .store
                .inbox(user.id, after, state.config.backlog_page)
                .await
                .map_err(internal)?;
            let full = page.len() == state.config.backlog_page;
            for event in page {
                after = event.inbox_id().or(after);
                if !send(event).await {
                    return Ok(()); // going away; what is left stays in the inbox
                }
            }
            if !full {
                break;
            }
        }
        let positions = state.store.rooms_of(user.id).await.map_err(internal)?;
        for p in positions.into_iter().filter(|p| p.last_seq > p.read_seq) {
            let unread = Event::RoomUnread {
                room: p.room.name,
                read_seq: p.read_seq,
                last_seq: p.last_seq,
            };
            if !send(unread).await {
                return Ok(());
            }
        }
        send(Event::CaughtUp).await;
        Ok(())
    })
}

/// Queues an event, waiting for room in the queue (for bulk sends: a backlog, a
/// join's recent messages). A client that does not make room within the grace
/// period is closed as a slow reader. Returns whether the bulk send should go
/// on: `false` once the session is told to stop (slow reader, kick) or the
/// server shuts down, so that the rest does not wait its turn for a client
/// that is going away.
pub(super) async fn push_waiting(state: &ServerState, mailbox: &Mailbox, event: Event) -> bool {
    if mailbox.is_stopped() || state.shutdown.is_cancelled() {
        return false;
    }
    let frame = Arc::new(ServerFrame::Event(event));
    tokio::select! {
        pushed = tokio::time::timeout(WRITE_GRACE, mailbox.push_bulk(frame)) => match pushed {
            Ok(Ok(())) => true,
            Ok(Err(_closed)) => false,
            Err(_elapsed) => {
                mailbox.stop(Control::SlowReader);
                false
            }
        },
        _ = state.shutdown.cancelled() => false,
    }
}
