//! The session state machine checked against the reference model
//! ([`chatcore_testkit::model`]) over random input sequences.

use chatcore::protocol::{
    limits, Body, ClientFrame, ErrorCode, List, Peer, Request, OLDEST_PROTOCOL_VERSION,
    PROTOCOL_VERSION,
};
use chatcore::session::{Action, Phase, Session};
use chatcore::store::{User, UserId};
use chatcore_testkit::model::SessionModel;
use proptest::prelude::*;

#[derive(Debug, Clone)]
enum Input {
    Hello {
        version: u16,
    },
    Request {
        req_id: u32,
        request: Request,
    },
    /// An unanswered ack with this many ids.
    Ack(usize),
    LoggedIn(User),
    LoggedOut,
    Close,
}

fn name() -> impl Strategy<Value = String> {
    prop::sample::select(vec!["ann", "bob", "Ann", "👋", ""]).prop_map(str::to_owned)
}

fn any_request() -> impl Strategy<Value = Request> {
    prop_oneof![
        Just(Request::Ping),
        (name(), name()).prop_map(|(username, password)| Request::Register { username, password }),
        (name(), name()).prop_map(|(username, password)| Request::Login { username, password }),
        Just(Request::Logout),
        (name(), any::<u32>()).prop_map(|(query, limit)| Request::SearchUsers { query, limit }),
        (name(), name()).prop_map(|(to, note)| Request::FriendRequest { to, note }),
        (name(), any::<bool>()).prop_map(|(from, accept)| Request::FriendRespond { from, accept }),
        name().prop_map(|user| Request::RemoveFriend { user }),
        name().prop_map(|user| Request::Block { user }),
        name().prop_map(|user| Request::Unblock { user }),
        Just(Request::ListFriends),
        Just(Request::OnlineFriends),
        Just(Request::OnlineCount),
        (name(), any::<u64>(), name()).prop_map(|(to, client_msg_id, text)| Request::Send {
            to: Peer::User(to),
            client_msg_id,
            body: Body::Text(text),
        }),
        prop::collection::vec(any::<u64>(), 0..3).prop_map(|ids| Request::Ack { ids }),
        (name(), any::<Option<u64>>(), any::<u32>()).prop_map(|(room, before_seq, limit)| {
            Request::History {
                peer: Peer::Room(room),
                before_seq,
                limit,
            }
        }),
        name().prop_map(|name| Request::CreateRoom { name }),
        name().prop_map(|name| Request::JoinRoom { name }),
        name().prop_map(|name| Request::LeaveRoom { name }),
        name().prop_map(|name| Request::DeleteRoom { name }),
        Just(Request::ListRooms),
        name().prop_map(|room| Request::Members { room }),
        (name(), any::<u64>()).prop_map(|(to, size)| Request::OfferFile {
            to: Peer::User(to),
            name: "a.txt".into(),
            size,
            sha256: [7; 32],
        }),
        (any::<u64>(), any::<u64>()).prop_map(|(file, offset)| Request::UploadChunk {
            file,
            offset,
            bytes: vec![1, 2, 3],
        }),
        any::<u64>().prop_map(|file| Request::CompleteFile { file }),
        name().prop_map(|room| Request::ListFiles {
            peer: Peer::Room(room)
        }),
        (any::<u64>(), any::<u64>(), any::<u32>())
            .prop_map(|(file, offset, len)| { Request::DownloadChunk { file, offset, len } }),
        (name(), prop::option::of(name()), any::<u32>()).prop_map(|(room, after, limit)| {
            Request::Page {
                list: List::Members { room },
                after,
                limit,
            }
        }),
    ]
}

fn version() -> impl Strategy<Value = u16> {
    prop_oneof![
        3 => Just(PROTOCOL_VERSION),
        1 => any::<u16>(),
        1 => Just(PROTOCOL_VERSION.wrapping_add(1)),
        1 => Just(OLDEST_PROTOCOL_VERSION),
        1 => Just(0u16),
    ]
}

fn user() -> impl Strategy<Value = User> {
    (1u64..4, name()).prop_map(|(id, name)| User {
        id: UserId(id),
        name,
    })
}

fn input() -> impl Strategy<Value = Input> {
    prop_oneof![
        2 => version().prop_map(|version| Input::Hello { version }),
        8 => (any::<u32>(), any_request())
            .prop_map(|(req_id, request)| Input::Request { req_id, request }),
        2 => prop_oneof![Just(0), Just(2), Just(limits::MAX_ACK_IDS + 1)].prop_map(Input::Ack),
        2 => user().prop_map(Input::LoggedIn),
        1 => Just(Input::LoggedOut),
        1 => Just(Input::Close),
    ]
}

/// What a step returned.
#[derive(Debug, PartialEq)]
enum Outcome {
    Action(Action),
    /// `Action::Greet`, and the version the connection then uses.
    Greeted(u16),
    User(Option<User>),
    Nothing,
}

fn hello(version: u16) -> ClientFrame {
    ClientFrame::Hello {
        version,
        client: "proptest".into(),
    }
}

/// What the model says a step returns.
fn model_step(model: &mut SessionModel, input: &Input) -> Outcome {
    match input {
        Input::Hello { version } => match model.on_frame(&hello(*version)) {
            Action::Greet => Outcome::Greeted(model.version()),
            other => Outcome::Action(other),
        },
        Input::Ack(n) => Outcome::Action(model.on_frame(&ClientFrame::Ack { ids: vec![7; *n] })),
        Input::Request { req_id, request } => {
            Outcome::Action(model.on_frame(&ClientFrame::Request {
                req_id: *req_id,
                request: request.clone(),
            }))
        }
        Input::LoggedIn(user) => {
            model.logged_in(user.clone());
            Outcome::Nothing
        }
        Input::LoggedOut => Outcome::User(model.logged_out()),
        Input::Close => Outcome::User(model.close()),
    }
}

/// What the library's session returns.
fn session_step(session: &mut Session, input: &Input) -> Outcome {
    match input {
        Input::Hello { version } => match session.on_frame(hello(*version)) {
            Action::Greet => Outcome::Greeted(session.version()),
            other => Outcome::Action(other),
        },
        Input::Ack(n) => Outcome::Action(session.on_frame(ClientFrame::Ack { ids: vec![7; *n] })),
        Input::Request { req_id, request } => {
            Outcome::Action(session.on_frame(ClientFrame::Request {
                req_id: *req_id,
                request: request.clone(),
            }))
        }
        Input::LoggedIn(user) => {
            session.logged_in(user.clone());
            Outcome::Nothing
        }
        Input::LoggedOut => Outcome::User(session.logged_out()),
        Input::Close => Outcome::User(session.close()),
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(128))]

    #[test]
    fn session_follows_the_model(inputs in prop::collection::vec(input(), 0..40)) {
        let mut session = Session::new();
        let mut model = SessionModel::new();
        for (step, input) in inputs.iter().enumerate() {
            let want = model_step(&mut model, input);
            let got = session_step(&mut session, input);
            prop_assert_eq!(got, want, "step {}: {:?}", step, input);
            prop_assert_eq!(session.phase(), model.phase(), "phase after step {}", step);
            let user = match model.phase() {
                Phase::Authenticated(user) => Some(user),
                _ => None,
            };
            prop_assert_eq!(session.user(), user);
            prop_assert_eq!(session.version(), model.version(), "version after step {}", step);
        }
    }
}

/// A session that reaches every phase in one run (so the model test is not the only
/// witness that the phases are reachable).
#[test]
fn session_walks_every_phase() {
    let ann = User {
        id: UserId(1),
        name: "ann".into(),
    };
    let steps = [
        Input::Hello {
            version: PROTOCOL_VERSION,
        },
        Input::Request {
            req_id: 1,
            request: Request::OnlineCount,
        },
        Input::LoggedIn(ann.clone()),
        Input::Request {
            req_id: 2,
            request: Request::Logout,
        },
        Input::LoggedOut,
        Input::LoggedIn(ann.clone()),
        Input::Request {
            req_id: 3,
            request: Request::Ping,
        },
        Input::Hello {
            version: PROTOCOL_VERSION,
        },
        Input::Request {
            req_id: 4,
            request: Request::Ping,
        },
    ];
    let mut session = Session::new();
    let mut model = SessionModel::new();
    let mut outcomes = Vec::new();
    for input in &steps {
        let want = model_step(&mut model, input);
        assert_eq!(session_step(&mut session, input), want, "{input:?}");
        outcomes.push(want);
    }
    assert_eq!(
        outcomes,
        vec![
            Outcome::Greeted(PROTOCOL_VERSION),
            Outcome::Action(Action::Refuse {
                req_id: 1,
                code: ErrorCode::NotAuthenticated
            }),
            Outcome::Nothing,
            Outcome::Action(Action::Dispatch {
                req_id: 2,
                request: Request::Logout
            }),
            Outcome::User(Some(ann)),
            Outcome::Nothing,
            Outcome::Action(Action::Dispatch {
                req_id: 3,
                request: Request::Ping
            }),
            Outcome::Action(Action::Close {
                code: ErrorCode::ProtocolViolation,
                greet: false
            }),
            Outcome::Action(Action::Ignore),
        ]
    );
}
