//! Check (a) of a session script: the steps through a bare `Session`, checked
//! against a small reference model of the phase rules, with `logged_in`,
//! `logged_out` and `close` interleaved.

use chatcore::engine::testkit::password;
use chatcore::protocol::{
    limits, ClientFrame, ErrorCode, Request, OLDEST_PROTOCOL_VERSION, PROTOCOL_VERSION,
};
use chatcore::session::{Action, Phase, Session};
use chatcore::store::{User, UserId};

use crate::script::{hello, login, user_name, Ask, Step, MAX_PIPELINED};

/// A request of the bare session check (no connection state behind it).
fn bare_request(ask: &Ask) -> Request {
    match ask {
        Ask::Ping => Request::Ping,
        Ask::Register { user, .. } => Request::Register {
            username: user_name(*user).into(),
            password: password(user_name(*user)),
        },
        Ask::Login {
            user,
            good_password,
        } => login(*user, *good_password),
        Ask::Logout => Request::Logout,
        _ => Request::ListFriends,
    }
}

// ---- (a) the bare session against a reference model ----

/// The phase rules, restated: what a frame in a phase should give.
fn model(phase: &Phase, frame: &ClientFrame) -> (Action, Phase) {
    let close = |code, greet| (Action::Close { code, greet }, Phase::Closed);
    match (phase, frame) {
        (Phase::Closed, _) => (Action::Ignore, Phase::Closed),
        (Phase::AwaitingHello, ClientFrame::Hello { version, .. }) => {
            if *version >= OLDEST_PROTOCOL_VERSION {
                (Action::Greet, Phase::Anonymous)
            } else {
                close(ErrorCode::UnsupportedVersion, true)
            }
        }
        (Phase::AwaitingHello, ClientFrame::Request { .. } | ClientFrame::Ack { .. }) => {
            close(ErrorCode::ProtocolViolation, false)
        }
        (_, ClientFrame::Hello { .. }) => close(ErrorCode::ProtocolViolation, false),
        (phase, ClientFrame::Request { req_id, request }) => {
            let authenticated = matches!(phase, Phase::Authenticated(_));
            let refuse = |code| Action::Refuse {
                req_id: *req_id,
                code,
            };
            let action = match request {
                Request::Ping => None,
                Request::Register { .. } | Request::Login { .. } if authenticated => {
                    Some(refuse(ErrorCode::AlreadyAuthenticated))
                }
                Request::Register { .. } | Request::Login { .. } => None,
                _ if !authenticated => Some(refuse(ErrorCode::NotAuthenticated)),
                _ => None,
            }
            .unwrap_or_else(|| Action::Dispatch {
                req_id: *req_id,
                request: request.clone(),
            });
            (action, phase.clone())
        }
        (_, ClientFrame::Ack { ids }) if ids.len() > limits::MAX_ACK_IDS => {
            close(ErrorCode::InvalidArgument, false)
        }
        (Phase::Anonymous, ClientFrame::Ack { .. }) => (Action::Ignore, Phase::Anonymous),
        (phase, ClientFrame::Ack { ids }) => {
            (Action::Acknowledge { ids: ids.clone() }, phase.clone())
        }
    }
}

/// Feeds one frame; a session that closes itself while logged in leaves its
/// user in `departed`.
fn feed_bare(session: &mut Session, departed: &mut Option<User>, frame: ClientFrame) {
    let before = session.phase().clone();
    let (expected, expected_phase) = model(&before, &frame);
    if let (Phase::Authenticated(user), Action::Close { .. }) = (&before, &expected) {
        *departed = Some(user.clone());
    }
    let action = session.on_frame(frame.clone());
    assert_eq!(action, expected, "{frame:?} in {before:?}");
    assert_eq!(session.phase(), &expected_phase, "{frame:?} in {before:?}");
    let user = session.user().cloned();
    match &expected_phase {
        Phase::Authenticated(u) => assert_eq!(user.as_ref(), Some(u)),
        _ => assert_eq!(user, None),
    }
}

pub(crate) fn check_bare_session(steps: &[Step]) {
    let mut session = Session::new();
    let mut departed = None;
    let mut req_id = 0u32;
    let mut request = |ask: &Ask| {
        req_id = req_id.wrapping_add(1);
        ClientFrame::Request {
            req_id,
            request: bare_request(ask),
        }
    };
    for step in steps {
        match step {
            Step::Hello => feed_bare(&mut session, &mut departed, hello(PROTOCOL_VERSION)),
            Step::Frame(frame) => feed_bare(&mut session, &mut departed, frame.clone()),
            Step::Ask(ask) => feed_bare(&mut session, &mut departed, request(ask)),
            Step::Pipelined(asks) => {
                for ask in asks.iter().take(MAX_PIPELINED) {
                    feed_bare(&mut session, &mut departed, request(ask));
                }
            }
            Step::Reconnect { hello: say_hello } => {
                session = Session::new();
                departed = None;
                assert_eq!(session.phase(), &Phase::AwaitingHello);
                if *say_hello {
                    feed_bare(&mut session, &mut departed, hello(PROTOCOL_VERSION));
                }
            }
            Step::Close => {
                let before = session.phase().clone();
                let who = session.close();
                assert_eq!(session.phase(), &Phase::Closed);
                match before {
                    Phase::Authenticated(user) => assert_eq!(who, Some(user)),
                    // A session that closed itself while logged in still names
                    // the user (once), so the driver can take them offline.
                    Phase::Closed => assert_eq!(who, departed.take(), "close() after a violation"),
                    _ => assert_eq!(who, None),
                }
            }
            Step::LoggedIn(i) => {
                let before = session.phase().clone();
                let user = User {
                    id: UserId(u64::from(*i)),
                    name: user_name(*i).into(),
                };
                session.logged_in(user.clone());
                let expected = match before {
                    Phase::Anonymous => Phase::Authenticated(user),
                    other => other,
                };
                assert_eq!(session.phase(), &expected, "logged_in");
            }
            Step::LoggedOut => {
                let before = session.phase().clone();
                let who = session.logged_out();
                match before {
                    Phase::Authenticated(user) => {
                        assert_eq!(who, Some(user));
                        assert_eq!(session.phase(), &Phase::Anonymous);
                    }
                    other => {
                        assert_eq!(who, None);
                        assert_eq!(session.phase(), &other);
                    }
                }
            }
        }
    }
}
