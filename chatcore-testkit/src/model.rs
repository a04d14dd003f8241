//! The reference model of the session rules: what `chatcore::session::Session`
//! must do, restated independently of the library's own code (one rule per match
//! arm, and its own table of which request needs what).
//!
//! [`SessionModel`] has `Session`'s interface, so a check feeds both the same
//! calls and compares every answer, the phase, the user and the protocol
//! version. The session proptest (`tests/it/proptest_state.rs`) does so with
//! random inputs, the fuzz harness's bare-session check with fuzzed scripts.
//!
//! The rules (ARCHITECTURE.md, "Session states"):
//!
//! - `Closed` ignores every frame.
//! - `AwaitingHello` accepts only a hello of a version not older than
//!   [`OLDEST_PROTOCOL_VERSION`] (the connection then uses the lower of the
//!   client's and [`PROTOCOL_VERSION`]); an older one gets the server's hello and
//!   `UnsupportedVersion`, anything else `ProtocolViolation`, and closes.
//! - A second hello closes with `ProtocolViolation`.
//! - Requests: see [`needs`]. `Ping` is allowed in both open phases,
//!   `Register`/`Login` only before login (`AlreadyAuthenticated`), everything
//!   else only after (`NotAuthenticated`).
//! - An unanswered ack with more than `MAX_ACK_IDS` ids closes with
//!   `InvalidArgument`; before login it is ignored.
//! - Login results only count for an anonymous session; a logout returns who was
//!   logged in; closing returns who was logged in, also if a violation closed
//!   the session before (the driver must still take them offline).

use chatcore::protocol::{
    limits, ClientFrame, ErrorCode, Request, OLDEST_PROTOCOL_VERSION, PROTOCOL_VERSION,
};
use chatcore::session::{Action, Phase};
use chatcore::store::User;

/// Which phase a request needs; written out for every request, so a new one
/// has to be placed here by hand (the model does not use the library's table).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Needs {
    /// Allowed in both open phases.
    Nothing,
    /// Only before login.
    Anonymous,
    /// Only after login.
    Login,
}

/// Which phase `request` needs.
pub fn needs(request: &Request) -> Needs {
    match request {
        Request::Ping => Needs::Nothing,
        Request::Register { .. } | Request::Login { .. } | Request::LoginDevice { .. } => {
            Needs::Anonymous
        }
        Request::Logout
        | Request::SearchUsers { .. }
        | Request::FriendRequest { .. }
        | Request::FriendRespond { .. }
        | Request::RemoveFriend { .. }
        | Request::Block { .. }
        | Request::Unblock { .. }
        | Request::ListFriends
        | Request::OnlineFriends
        | Request::OnlineCount
        | Request::Send { .. }
        | Request::Ack { .. }
        | Request::History { .. }
        | Request::CreateRoom { .. }
        | Request::JoinRoom { .. }
        | Request::LeaveRoom { .. }
        | Request::DeleteRoom { .. }
        | Request::ListRooms
        | Request::Members { .. }
        | Request::OfferFile { .. }
        | Request::UploadChunk { .. }
        | Request::CompleteFile { .. }
        | Request::ListFiles { .. }
        | Request::DownloadChunk { .. }
        | Request::Page { .. }
        | Request::Devices
        | Request::RevokeDevice { .. }
        | Request::Typing { .. }
        | Request::MarkRead { .. }
        | Request::SetReadReceipts { .. } => Needs::Login,
    }
}

/// The model of one connection's session, with `Session`'s interface.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SessionModel {
    phase: Phase,
    version: u16,
    /// Who was logged in when a violation closed the session; the next
    /// [`close`](SessionModel::close) hands them back.
    departed: Option<User>,
}

impl Default for SessionModel {
    fn default() -> Self {
        Self::new()
    }
}

impl SessionModel {
    /// A session waiting for the client's hello, at this build's
    /// [`PROTOCOL_VERSION`].
    pub fn new() -> Self {
        SessionModel {
            phase: Phase::AwaitingHello,
            version: PROTOCOL_VERSION,
            departed: None,
        }
    }

    /// The phase the session should be in.
    pub fn phase(&self) -> &Phase {
        &self.phase
    }

    /// The protocol version the connection should use: this build's until a
    /// hello is accepted, then the lower of the two.
    pub fn version(&self) -> u16 {
        self.version
    }

    /// The logged-in user: the one in `Authenticated`, nobody otherwise.
    pub fn user(&self) -> Option<&User> {
        match &self.phase {
            Phase::Authenticated(user) => Some(user),
            _ => None,
        }
    }

    /// What `Session::on_frame` should answer to `frame`.
    pub fn on_frame(&mut self, frame: &ClientFrame) -> Action {
        use Phase::{Anonymous, Authenticated, AwaitingHello, Closed};
        match (&self.phase, frame) {
            // Closed ignores everything.
            (Closed, _) => Action::Ignore,

            // AwaitingHello only accepts a hello of a version not too old; the
            // connection uses the lower of the two.
            (AwaitingHello, ClientFrame::Hello { version, .. })
                if *version >= OLDEST_PROTOCOL_VERSION =>
            {
                self.phase = Anonymous;
                self.version = (*version).min(PROTOCOL_VERSION);
                Action::Greet
            }
            (AwaitingHello, ClientFrame::Hello { .. }) => {
                self.close_with(ErrorCode::UnsupportedVersion, true)
            }
            (
                AwaitingHello,
                ClientFrame::Request { .. } | ClientFrame::Ack { .. } | ClientFrame::AckUpTo { .. },
            ) => self.close_with(ErrorCode::ProtocolViolation, false),

            // A second hello closes.
            (Anonymous | Authenticated(_), ClientFrame::Hello { .. }) => {
                self.close_with(ErrorCode::ProtocolViolation, false)
            }

            // An unanswered ack: too many ids close; before login it does nothing.
            (Anonymous | Authenticated(_), ClientFrame::Ack { ids })
                if ids.len() > limits::MAX_ACK_IDS =>
            {
                self.close_with(ErrorCode::InvalidArgument, false)
            }
            (Anonymous, ClientFrame::Ack { .. } | ClientFrame::AckUpTo { .. }) => Action::Ignore,
            (Authenticated(_), ClientFrame::Ack { ids }) => {
                Action::Acknowledge { ids: ids.clone() }
            }
            (Authenticated(_), ClientFrame::AckUpTo { pos }) => {
                Action::AcknowledgeUpTo { pos: *pos }
            }

            // Requests: dispatched where allowed, refused elsewhere.
            (Anonymous, ClientFrame::Request { req_id, request }) => match needs(request) {
                Needs::Nothing | Needs::Anonymous => Action::Dispatch {
                    req_id: *req_id,
                    request: request.clone(),
                },
                Needs::Login => Action::Refuse {
                    req_id: *req_id,
                    code: ErrorCode::NotAuthenticated,
                },
            },
            (Authenticated(_), ClientFrame::Request { req_id, request }) => match needs(request) {
                Needs::Nothing | Needs::Login => Action::Dispatch {
                    req_id: *req_id,
                    request: request.clone(),
                },
                Needs::Anonymous => Action::Refuse {
                    req_id: *req_id,
                    code: ErrorCode::AlreadyAuthenticated,
                },
            },
        }
    }

    /// `Session::logged_in`: login results only count for an anonymous session.
    pub fn logged_in(&mut self, user: User) {
        if self.phase == Phase::Anonymous {
            self.phase = Phase::Authenticated(user);
        }
    }

    /// `Session::logged_out`: back to anonymous, returning who was logged in;
    /// nothing changes if nobody was.
    pub fn logged_out(&mut self) -> Option<User> {
        match &self.phase {
            Phase::Authenticated(user) => {
                let user = user.clone();
                self.phase = Phase::Anonymous;
                Some(user)
            }
            _ => None,
        }
    }

    /// `Session::close`: closed from any phase, returning who was logged in, or
    /// (once) who was when a violation closed the session.
    pub fn close(&mut self) -> Option<User> {
        match std::mem::replace(&mut self.phase, Phase::Closed) {
            Phase::Authenticated(user) => Some(user),
            Phase::Closed => self.departed.take(),
            Phase::AwaitingHello | Phase::Anonymous => None,
        }
    }

    /// A violation: closed, remembering who was logged in.
    fn close_with(&mut self, code: ErrorCode, greet: bool) -> Action {
        if let Phase::Authenticated(user) = std::mem::replace(&mut self.phase, Phase::Closed) {
            self.departed = Some(user);
        }
        Action::Close { code, greet }
    }
}
