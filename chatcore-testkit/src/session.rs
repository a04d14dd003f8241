//! Check (a) of a session script: the steps through a bare `Session` and the
//! [`SessionModel`] side by side, with `logged_in`, `logged_out` and `close`
//! interleaved; after every call both must agree.

use chatcore::engine::testkit::password;
use chatcore::protocol::{ClientFrame, Request, PROTOCOL_VERSION};
use chatcore::session::{Phase, Session};
use chatcore::store::{User, UserId};

use crate::model::SessionModel;
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

/// The session's state is the model's, after `what`.
fn agree(session: &Session, model: &SessionModel, what: &dyn std::fmt::Debug) {
    assert_eq!(session.phase(), model.phase(), "phase after {what:?}");
    assert_eq!(session.user(), model.user(), "user after {what:?}");
    assert_eq!(session.version(), model.version(), "version after {what:?}");
}

/// Feeds one frame to both.
fn feed(session: &mut Session, model: &mut SessionModel, frame: ClientFrame) {
    let before = session.phase().clone();
    let expected = model.on_frame(&frame);
    let action = session.on_frame(frame.clone());
    assert_eq!(action, expected, "{frame:?} in {before:?}");
    agree(session, model, &frame);
}

pub(crate) fn check_bare_session(steps: &[Step]) {
    let mut session = Session::new();
    let mut model = SessionModel::new();
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
            Step::Hello => feed(&mut session, &mut model, hello(PROTOCOL_VERSION)),
            Step::Frame(frame) => feed(&mut session, &mut model, frame.clone()),
            Step::Ask(ask) => feed(&mut session, &mut model, request(ask)),
            Step::Pipelined(asks) => {
                for ask in asks.iter().take(MAX_PIPELINED) {
                    feed(&mut session, &mut model, request(ask));
                }
            }
            Step::Reconnect { hello: say_hello } => {
                session = Session::new();
                model = SessionModel::new();
                assert_eq!(session.phase(), &Phase::AwaitingHello);
                if *say_hello {
                    feed(&mut session, &mut model, hello(PROTOCOL_VERSION));
                }
            }
            Step::Close => {
                // A session that closed itself while logged in still names the
                // user (once), so the driver can take them offline.
                let before = session.phase().clone();
                assert_eq!(session.close(), model.close(), "close() in {before:?}");
                assert_eq!(session.phase(), &Phase::Closed);
            }
            Step::LoggedIn(i) => {
                let user = User {
                    id: UserId(u64::from(*i)),
                    name: user_name(*i).into(),
                };
                session.logged_in(user.clone());
                model.logged_in(user);
            }
            Step::LoggedOut => {
                let before = session.phase().clone();
                assert_eq!(
                    session.logged_out(),
                    model.logged_out(),
                    "logged_out() in {before:?}"
                );
            }
        }
        agree(&session, &model, step);
    }
}
