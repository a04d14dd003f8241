//! The per-connection protocol state machine, sans-IO.
//!
//! ```text
//!                 Hello(ok)              login ok
//! AwaitingHello ───────────► Anonymous ───────────► Authenticated(user)
//!       │                      ▲   │                    │      │
//!       │ anything else,       │   └──── logout ◄───────┘      │
//!       │ too old a version    │                               │
//!       ▼                      │ protocol violation, kick,     │
//!    Closed ◄──────────────────┴───────── shutdown ◄───────────┘
//! ```
//!
//! [`Session::on_frame`] takes one decoded frame and says what to do with it
//! ([`Action`]); it performs no I/O and never waits. The engine carries out the
//! action and reports the outcome of logins and logouts back with
//! [`Session::logged_in`] and [`Session::logged_out`].

use crate::protocol::{
    limits, ClientFrame, ErrorCode, ItemId, Request, OLDEST_PROTOCOL_VERSION, PROTOCOL_VERSION,
};
use crate::store::User;

/// Where a connection stands.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Phase {
    /// Connected; the client's hello has not arrived.
    AwaitingHello,
    /// Hello exchanged; not logged in.
    Anonymous,
    /// Logged in as this user.
    Authenticated(User),
    /// Closed; every further frame is ignored.
    Closed,
}

/// What the driver must do with a frame.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Action {
    /// Answer the hello with the server's own, naming [`Session::version`].
    Greet,
    /// Carry out the request: it is allowed in this phase.
    Dispatch {
        /// Echo in the response.
        req_id: u32,
        /// The request.
        request: Request,
    },
    /// Answer `Err(code)` without doing anything; the session stays open.
    Refuse {
        /// Echo in the response.
        req_id: u32,
        /// Why.
        code: ErrorCode,
    },
    /// Send `Closing { code }` (after the server's hello if `greet`) and close.
    Close {
        /// Why.
        code: ErrorCode,
        /// The client's hello arrived but its version was too old: tell it ours
        /// first.
        greet: bool,
    },
    /// Nothing: the session is closed, or an unanswered ack came before login.
    Ignore,
    /// Carry out an unanswered ack ([`ClientFrame::Ack`]) of the logged-in user.
    Acknowledge {
        /// The items.
        ids: Vec<ItemId>,
    },
    /// Carry out a cumulative ack ([`ClientFrame::AckUpTo`]) of the logged-in
    /// user's stream.
    AcknowledgeUpTo {
        /// Up to here.
        pos: u64,
    },
}

/// The state machine of one connection.
#[derive(Debug, Clone)]
pub struct Session {
    phase: Phase,
    /// The protocol version of the connection.
    version: u16,
    /// Who was logged in when a protocol violation closed the session: the
    /// driver still has to take them out of the router ([`Session::close`]).
    departed: Option<User>,
}

impl Default for Session {
    fn default() -> Self {
        Self::new()
    }
}

impl Session {
    /// A session waiting for the client's hello.
    pub fn new() -> Self {
        Session {
            phase: Phase::AwaitingHello,
            version: PROTOCOL_VERSION,
            departed: None,
        }
    }

    /// The current phase.
    pub fn phase(&self) -> &Phase {
        &self.phase
    }

    /// The protocol version the connection uses: after the hello, the lower of
    /// the client's and this build's [`PROTOCOL_VERSION`]; before it, this
    /// build's.
    pub fn version(&self) -> u16 {
        self.version
    }

    /// The logged-in user, if any.
    pub fn user(&self) -> Option<&User> {
        match &self.phase {
            Phase::Authenticated(user) => Some(user),
            _ => None,
        }
    }

    /// Decides what to do with a frame from the client.
    pub fn on_frame(&mut self, frame: ClientFrame) -> Action {
        match (&self.phase, frame) {
            (Phase::Closed, _) => Action::Ignore,
            (Phase::AwaitingHello, ClientFrame::Hello { version, .. }) => {
                if version >= OLDEST_PROTOCOL_VERSION {
                    self.version = version.min(PROTOCOL_VERSION);
                    self.phase = Phase::Anonymous;
                    Action::Greet
                } else {
                    self.close_with(ErrorCode::UnsupportedVersion, true)
                }
            }
            (
                Phase::AwaitingHello,
                ClientFrame::Request { .. } | ClientFrame::Ack { .. } | ClientFrame::AckUpTo { .. },
            )
            | (Phase::Anonymous | Phase::Authenticated(_), ClientFrame::Hello { .. }) => {
                self.close_with(ErrorCode::ProtocolViolation, false)
            }
            (phase, ClientFrame::Request { req_id, request }) => {
                let authenticated = matches!(phase, Phase::Authenticated(_));
                match (access(&request), authenticated) {
                    (Access::Any, _)
                    | (Access::Anonymous, false)
                    | (Access::Authenticated, true) => Action::Dispatch { req_id, request },
                    (Access::Anonymous, true) => Action::Refuse {
                        req_id,
                        code: ErrorCode::AlreadyAuthenticated,
                    },
                    (Access::Authenticated, false) => Action::Refuse {
                        req_id,
                        code: ErrorCode::NotAuthenticated,
                    },
                }
            }
            // Nothing to answer an error to.
            (_, ClientFrame::Ack { ids }) if ids.len() > limits::MAX_ACK_IDS => {
                self.close_with(ErrorCode::InvalidArgument, false)
            }
            (Phase::Authenticated(_), ClientFrame::Ack { ids }) => Action::Acknowledge { ids },
            (Phase::Authenticated(_), ClientFrame::AckUpTo { pos }) => {
                Action::AcknowledgeUpTo { pos }
            }
            // Nobody to ack for: the items stay in the stream.
            (Phase::Anonymous, ClientFrame::Ack { .. } | ClientFrame::AckUpTo { .. }) => {
                Action::Ignore
            }
        }
    }

    /// A dispatched login succeeded. Ignored unless the session is anonymous.
    pub fn logged_in(&mut self, user: User) {
        if self.phase == Phase::Anonymous {
            self.phase = Phase::Authenticated(user);
        }
    }

    /// A dispatched logout was carried out; returns who was logged in.
    pub fn logged_out(&mut self) -> Option<User> {
        match std::mem::replace(&mut self.phase, Phase::Anonymous) {
            Phase::Authenticated(user) => Some(user),
            other => {
                self.phase = other;
                None
            }
        }
    }

    /// Closes the session (kick, shutdown, transport gone); returns who was logged
    /// in, also if a protocol violation closed it before.
    pub fn close(&mut self) -> Option<User> {
        match std::mem::replace(&mut self.phase, Phase::Closed) {
            Phase::Authenticated(user) => Some(user),
            _ => self.departed.take(),
        }
    }

    fn close_with(&mut self, code: ErrorCode, greet: bool) -> Action {
        if let Phase::Authenticated(user) = std::mem::replace(&mut self.phase, Phase::Closed) {
            self.departed = Some(user);
        }
        Action::Close { code, greet }
    }
}

/// In which phases a request is allowed.
enum Access {
    Any,
    Anonymous,
    Authenticated,
}

fn access(request: &Request) -> Access {
    match request {
        Request::Ping => Access::Any,
        Request::Register { .. } | Request::Login { .. } | Request::LoginDevice { .. } => {
            Access::Anonymous
        }
        _ => Access::Authenticated,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::UserId;

    fn hello(version: u16) -> ClientFrame {
        ClientFrame::Hello {
            version,
            client: "test".into(),
        }
    }

    fn req(request: Request) -> ClientFrame {
        ClientFrame::Request { req_id: 7, request }
    }

    #[test]
    fn request_before_hello_closes() {
        let mut s = Session::new();
        assert_eq!(
            s.on_frame(req(Request::Ping)),
            Action::Close {
                code: ErrorCode::ProtocolViolation,
                greet: false
            }
        );
        assert_eq!(s.on_frame(hello(PROTOCOL_VERSION)), Action::Ignore);
    }

    #[test]
    fn too_old_a_version_closes_after_greeting() {
        let mut s = Session::new();
        assert_eq!(
            s.on_frame(hello(OLDEST_PROTOCOL_VERSION - 1)),
            Action::Close {
                code: ErrorCode::UnsupportedVersion,
                greet: true
            }
        );
        assert_eq!(s.phase(), &Phase::Closed);
        assert_eq!(s.version(), PROTOCOL_VERSION);
    }

    #[test]
    fn the_connection_uses_the_lower_version() {
        for (client, used) in [
            (OLDEST_PROTOCOL_VERSION, OLDEST_PROTOCOL_VERSION),
            (PROTOCOL_VERSION, PROTOCOL_VERSION),
            (PROTOCOL_VERSION + 1, PROTOCOL_VERSION),
            (u16::MAX, PROTOCOL_VERSION),
        ] {
            let mut s = Session::new();
            assert_eq!(s.on_frame(hello(client)), Action::Greet, "{client}");
            assert_eq!(s.version(), used, "{client}");
        }
    }

    #[test]
    fn an_unanswered_ack_acts_only_when_logged_in() {
        let ack = || ClientFrame::Ack { ids: vec![3, 4] };
        let mut s = Session::new();
        assert!(matches!(s.clone().on_frame(ack()), Action::Close { .. }));
        s.on_frame(hello(PROTOCOL_VERSION));
        assert_eq!(s.on_frame(ack()), Action::Ignore);
        s.logged_in(User {
            id: UserId(1),
            name: "ann".into(),
        });
        assert_eq!(s.on_frame(ack()), Action::Acknowledge { ids: vec![3, 4] });
        let too_many = ClientFrame::Ack {
            ids: vec![1; limits::MAX_ACK_IDS + 1],
        };
        assert_eq!(
            s.clone().on_frame(too_many),
            Action::Close {
                code: ErrorCode::InvalidArgument,
                greet: false
            }
        );
        s.close();
        assert_eq!(s.on_frame(ack()), Action::Ignore);
    }

    #[test]
    fn chat_before_login_is_refused_and_second_hello_closes() {
        let mut s = Session::new();
        assert_eq!(s.on_frame(hello(PROTOCOL_VERSION)), Action::Greet);
        assert_eq!(
            s.on_frame(req(Request::ListFriends)),
            Action::Refuse {
                req_id: 7,
                code: ErrorCode::NotAuthenticated
            }
        );
        assert!(matches!(
            s.on_frame(req(Request::Ping)),
            Action::Dispatch { .. }
        ));
        assert!(matches!(
            s.on_frame(hello(PROTOCOL_VERSION)),
            Action::Close { .. }
        ));
    }

    #[test]
    fn a_violation_after_login_still_reports_the_user_at_close() {
        let mut s = Session::new();
        s.on_frame(hello(PROTOCOL_VERSION));
        let user = User {
            id: UserId(1),
            name: "ann".into(),
        };
        s.logged_in(user.clone());
        assert!(matches!(
            s.on_frame(hello(PROTOCOL_VERSION)),
            Action::Close { .. }
        ));
        assert_eq!(s.phase(), &Phase::Closed);
        assert_eq!(s.close(), Some(user));
        assert_eq!(s.close(), None);
    }

    #[test]
    fn login_logout_cycle() {
        let mut s = Session::new();
        s.on_frame(hello(PROTOCOL_VERSION));
        let user = User {
            id: UserId(1),
            name: "ann".into(),
        };
        s.logged_in(user.clone());
        assert_eq!(s.user(), Some(&user));
        let login = Request::Login {
            username: "x".into(),
            password: "y".into(),
        };
        assert_eq!(
            s.on_frame(req(login)),
            Action::Refuse {
                req_id: 7,
                code: ErrorCode::AlreadyAuthenticated
            }
        );
        assert_eq!(s.logged_out(), Some(user));
        assert_eq!(s.phase(), &Phase::Anonymous);
        assert_eq!(s.close(), None);
    }
}
