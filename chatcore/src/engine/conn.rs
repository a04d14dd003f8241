//! The state one connection's handlers work on ([`Conn`]), and the ways they
//! answer: queueing frames, responses and events for the connection's writer.
//!
//! Every handler module (`dispatch`, `accounts`, `contacts`, `chat`, `rooms`,
//! `files`) adds methods to [`Conn`] and depends on this module; this module
//! depends on none of them.

use std::collections::HashMap;
use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use sha2::Sha256;

use super::ServerState;
use crate::limits::Place;
use crate::protocol::{ErrorCode, Event, ItemId, Peer, Response, ServerFrame};
use crate::router::SessionHandle;
use crate::session::Session;
use crate::store::{FileRecord, Notice, StoreError, User};

/// The state a connection's handlers work on (the I/O loop in `io_loop` owns it).
pub(super) struct Conn {
    pub state: Arc<ServerState>,
    pub session: Session,
    pub handle: SessionHandle,
    pub peer: Option<SocketAddr>,
    /// The connection's place among its address's (released when it drops).
    pub _place: Option<Place<IpAddr>>,
    /// Uploads this connection started and has not completed.
    pub uploads: HashMap<ItemId, Upload>,
    /// Where this connection last said it was typing, and when (typing
    /// notices to one place are passed on once per `TYPING_EVERY_MS`).
    /// Boxed: most connections never type, and each idle one keeps this.
    pub last_typing: Option<Box<(Peer, std::time::Instant)>>,
}

/// An upload in progress on a connection (see `files`): the offered file, and
/// what has arrived of it so far.
#[derive(Debug)]
pub(super) struct Upload {
    pub record: FileRecord,
    /// SHA-256 of the chunks so far, checked at `CompleteFile`.
    pub hasher: Sha256,
    pub received: u64,
}

/// A handler's answer: the response payload, or the code that refuses the request.
pub(super) type Reply = Result<Response, ErrorCode>;

/// Whether the connection goes on after a frame.
pub(super) enum Flow {
    Continue,
    Close,
    /// Goes on, sending a login's backlog beside reading frames.
    Backlog(super::backlog::Backlog),
}

/// How long a closing connection's queued frames may take to go out, and how
/// long a bulk send waits for queue room before the reader counts as slow.
pub(super) const WRITE_GRACE: Duration = Duration::from_secs(5);

/// The code a client is answered when the store fails: `Unavailable` when the
/// store refuses writes for good or is closed (the server is stopping; the
/// failure itself was logged once) or cannot be reached for now (a networked
/// database), else `Internal`, logged.
pub(super) fn internal(e: StoreError) -> ErrorCode {
    match e {
        StoreError::Failed(_) | StoreError::Closed | StoreError::Unavailable(_) => {
            tracing::debug!(error = %e, "store unavailable");
            ErrorCode::Unavailable
        }
        e => {
            tracing::error!(error = %e, "store failure");
            ErrorCode::Internal
        }
    }
}

/// The server's clock, in ms since the epoch (message and file timestamps).
pub(super) fn now_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as u64)
}

/// Offers stream items to their recipients' live sessions.
pub(super) fn push_notices(state: &ServerState, notices: Vec<Notice>) {
    for notice in notices {
        state.push_item(notice.recipient, notice.item);
    }
}

impl Conn {
    /// Queues a frame for this connection. Never waits: a client that lets its
    /// queue fill up is not reading and gets closed as a slow reader.
    pub fn send(&self, frame: ServerFrame) {
        self.handle.push(Arc::new(frame));
    }

    pub fn send_event(&self, event: Event) {
        self.send(ServerFrame::Event(event));
    }

    /// Queues an event, waiting for room (see [`push_waiting`](super::backlog::push_waiting)).
    pub async fn send_event_waiting(&self, event: Event) -> bool {
        super::backlog::push_waiting(&self.state, &self.handle.mailbox, event).await
    }

    pub fn respond(&self, req_id: u32, result: Reply) {
        self.send(ServerFrame::Response { req_id, result });
    }

    /// Answers a pipelined request; an unanswered ack's outcome is dropped (a
    /// storage failure was logged where it happened).
    pub fn answer(&self, req_id: Option<u32>, reply: Reply) {
        if let Some(req_id) = req_id {
            self.respond(req_id, reply);
        }
    }

    /// The logged-in user (handlers past the session's checks only).
    pub fn me(&self) -> User {
        self.session
            .user()
            .cloned()
            .expect("the session only dispatches these when authenticated")
    }

    /// Resolves a user name to a user, or `NoSuchUser`.
    pub async fn resolve(&self, name: &str) -> Result<User, ErrorCode> {
        self.state
            .directory
            .user(&*self.state.store, name)
            .await
            .map_err(internal)?
            .ok_or(ErrorCode::NoSuchUser)
    }

    pub fn push_notices(&self, notices: Vec<Notice>) {
        push_notices(&self.state, notices);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_store_out_of_reach_or_failed_is_answered_unavailable_anything_else_internal() {
        let down = StoreError::Unavailable(std::sync::Arc::new(std::io::Error::other("down")));
        assert_eq!(internal(down), ErrorCode::Unavailable);
        assert_eq!(internal(StoreError::Closed), ErrorCode::Unavailable);
        let corrupt = StoreError::Corrupt {
            key: "k".into(),
            reason: "r".into(),
        };
        assert_eq!(internal(corrupt), ErrorCode::Internal);
    }
}
