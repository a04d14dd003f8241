//! What a login owes its session: the items of the user's stream past the
//! device's position, then the receipts that came since the device was last
//! seen and where the user has unread messages, then `CaughtUp`; and later,
//! whenever a live item shows a gap, the items up to it.
//! Both are *fills* (see [`crate::sync`]): futures the connection's loop polls
//! beside reading frames, so the client's acks (and its other requests) are
//! read and answered while the backlog goes out, and the loop's timers, stops
//! and shutdown keep running. The loop also polls a fill while a frame's
//! handler runs (`io_loop::beside`): a fill's store read may hold a pooled
//! connection the handler waits for.

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;

use super::conn::{internal, Conn, WRITE_GRACE};
use super::ServerState;
use crate::mailbox::{Control, Mailbox};
use crate::protocol::{ErrorCode, Event, ServerFrame};
use crate::store::User;
use crate::sync::{Outgoing, StreamSync, STREAM_VERSION};

/// A fill in progress; `Err` if the store could not be read, and the client
/// must not be told it is caught up.
pub(super) type Backlog = Pin<Box<dyn Future<Output = Result<(), ErrorCode>> + Send>>;

/// What a login's backlog tells besides the stream.
pub(super) struct LoginNews {
    /// The device fell behind: say so first.
    pub fell_behind: bool,
    /// The delivered marks that moved since then are news to the device.
    pub receipts_since: u64,
}

impl Conn {
    /// A fill of this session's stream: a login's backlog (with `login`'s news,
    /// the unread counts and `CaughtUp`), or the filling of a gap (`None`).
    pub(super) fn backlog(&self, user: User, login: Option<LoginNews>) -> Backlog {
        let state = Arc::clone(&self.state);
        let mailbox = Arc::clone(&self.handle.mailbox);
        let sync = self.handle.sync.clone();
        let current = self.session.version() >= STREAM_VERSION;
        Box::pin(async move {
            let Some(sync) = sync else {
                return Ok(());
            };
            let send = |event| push_waiting(&state, &mailbox, event);
            let fell_behind = login.as_ref().is_some_and(|l| l.fell_behind);
            if fell_behind && current && !send(Event::FellBehind).await {
                return Ok(());
            }
            if !fill(&state, &mailbox, &sync, &user).await? {
                return Ok(());
            }
            let Some(login) = login else {
                return Ok(());
            };
            if current {
                let store = &state.store;
                let receipts = store.delivered_since(user.id, login.receipts_since);
                for (peer, seq) in receipts.await.map_err(internal)? {
                    if !send(Event::DeliveredTo { peer, seq }).await {
                        return Ok(());
                    }
                }
                let unread = store.unread(user.id).await.map_err(internal)?;
                if !unread.is_empty() && !send(Event::Unread(unread)).await {
                    return Ok(());
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
}

/// Queues the stored items of `user`'s stream past what `sync` handed out,
/// until it is caught up with the live ones. Returns whether it got there
/// (`false`: the session is going away).
async fn fill(
    state: &ServerState,
    mailbox: &Mailbox,
    sync: &StreamSync,
    user: &User,
) -> Result<bool, ErrorCode> {
    let page_len = state.config.backlog_page;
    sync.begin_fill();
    loop {
        let page = state
            .store
            .stream(user.id, sync.handed_out(), page_len)
            .await
            .map_err(internal)?;
        let full = page.len() == page_len;
        for item in page {
            let out = Outgoing::new(item);
            if let Some(frame) = sync.filled(&out) {
                if !push_frame_waiting(state, mailbox, frame).await {
                    return Ok(false); // going away; the rest stays in the stream
                }
            }
        }
        if !full && sync.fill_caught_up() {
            return Ok(true);
        }
    }
}

/// Queues an event, waiting for room in the queue (for bulk sends: a backlog, a
/// join's recent messages). A client that does not make room within the grace
/// period is closed as a slow reader. Returns whether the bulk send should go
/// on: `false` once the session is told to stop (slow reader, kick) or the
/// server shuts down, so that the rest does not wait its turn for a client
/// that is going away.
pub(super) async fn push_waiting(state: &ServerState, mailbox: &Mailbox, event: Event) -> bool {
    push_frame_waiting(state, mailbox, Arc::new(ServerFrame::Event(event))).await
}

async fn push_frame_waiting(
    state: &ServerState,
    mailbox: &Mailbox,
    frame: Arc<ServerFrame>,
) -> bool {
    if mailbox.is_stopped() || state.shutdown.is_cancelled() {
        return false;
    }
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
