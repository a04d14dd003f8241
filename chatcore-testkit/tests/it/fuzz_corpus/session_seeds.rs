//! Seeds of the `session` corpus: scripts for chat, friends, rooms, files,
//! pipelining, reconnects, password guessing, the config flags, and raw frames
//! with extreme fields.

use chatcore::protocol::{Body, ClientFrame, Peer, Request, PROTOCOL_VERSION};
use chatcore_testkit::{Ask, Step, Target};

use super::s;

fn ask(a: Ask) -> Step {
    Step::Ask(a)
}

fn frame_step(req_id: u32, request: Request) -> Step {
    Step::Frame(ClientFrame::Request { req_id, request })
}

const ANN: u8 = 0;
const BOB: u8 = 1;
const CAT: u8 = 2;
const ANN_CASE: u8 = 3;
const NOBODY: u8 = 4;
const INVALID: u8 = 5;
const LOBBY: u8 = 0;
const DEN: u8 = 1;

/// Scripts: (name, flags, steps).
pub(super) fn session_seeds() -> Vec<(&'static str, u8, Vec<Step>)> {
    use Step::{Close, Frame, Hello, LoggedIn, LoggedOut, Pipelined, Reconnect};
    let bob = Target::User(BOB);
    let lobby = Target::Room(LOBBY);
    vec![
        ("empty", 0, vec![]),
        ("hello", 0, vec![Hello]),
        ("request-before-hello", 0, vec![ask(Ask::Ping), Hello]),
        (
            "wrong-version",
            0,
            vec![Frame(ClientFrame::Hello {
                version: PROTOCOL_VERSION + 1,
                client: s("future"),
            })],
        ),
        ("second-hello", 0, vec![Hello, ask(Ask::Ping), Hello]),
        (
            "anonymous",
            0,
            vec![
                Hello,
                ask(Ask::ListFriends),
                ask(Ask::Send {
                    to: bob,
                    client_msg_id: 1,
                    text: 0,
                }),
                ask(Ask::Register {
                    user: NOBODY,
                    good_password: true,
                }),
                ask(Ask::Register {
                    user: CAT,
                    good_password: true,
                }),
                ask(Ask::Register {
                    user: INVALID,
                    good_password: true,
                }),
                ask(Ask::Register {
                    user: NOBODY,
                    good_password: false,
                }),
                ask(Ask::Login {
                    user: NOBODY,
                    good_password: true,
                }),
                LoggedOut,
            ],
        ),
        (
            "chat",
            0,
            vec![
                Hello,
                LoggedIn(ANN),
                ask(Ask::Send {
                    to: bob,
                    client_msg_id: 1,
                    text: 0,
                }),
                ask(Ask::Send {
                    to: bob,
                    client_msg_id: 1,
                    text: 1,
                }),
                ask(Ask::Send {
                    to: bob,
                    client_msg_id: 2,
                    text: 3,
                }),
                ask(Ask::Send {
                    to: bob,
                    client_msg_id: 3,
                    text: 4,
                }),
                ask(Ask::History {
                    peer: bob,
                    before_seq: None,
                    limit: 10,
                }),
                ask(Ask::AckSeen),
                ask(Ask::OnlineFriends),
                ask(Ask::OnlineCount),
                ask(Ask::Login {
                    user: BOB,
                    good_password: true,
                }),
                LoggedOut,
                LoggedIn(BOB),
                ask(Ask::AckSeen),
                ask(Ask::History {
                    peer: Target::User(ANN),
                    before_seq: Some(2),
                    limit: 1,
                }),
            ],
        ),
        (
            "friends",
            0,
            vec![
                Hello,
                LoggedIn(CAT),
                ask(Ask::FriendRequest {
                    user: ANN,
                    long_note: false,
                }),
                ask(Ask::FriendRequest {
                    user: BOB,
                    long_note: true,
                }),
                ask(Ask::FriendRequest {
                    user: CAT,
                    long_note: false,
                }),
                ask(Ask::FriendRequest {
                    user: NOBODY,
                    long_note: false,
                }),
                ask(Ask::ListFriends),
                ask(Ask::SearchUsers { query: 0, limit: 2 }),
                LoggedOut,
                LoggedIn(ANN_CASE),
                ask(Ask::FriendRespond {
                    user: CAT,
                    accept: true,
                }),
                ask(Ask::Send {
                    to: Target::User(CAT),
                    client_msg_id: 9,
                    text: 1,
                }),
                ask(Ask::RemoveFriend { user: CAT }),
                ask(Ask::Block { user: BOB }),
                ask(Ask::Send {
                    to: bob,
                    client_msg_id: 10,
                    text: 0,
                }),
                ask(Ask::Unblock { user: BOB }),
                ask(Ask::FriendRequest {
                    user: BOB,
                    long_note: false,
                }),
                ask(Ask::ListFriends),
                ask(Ask::AckSeen),
            ],
        ),
        (
            "rooms",
            0,
            vec![
                Hello,
                LoggedIn(CAT),
                ask(Ask::CreateRoom { room: DEN }),
                ask(Ask::CreateRoom { room: 2 }),
                ask(Ask::CreateRoom { room: 3 }),
                ask(Ask::JoinRoom { room: LOBBY }),
                ask(Ask::Send {
                    to: lobby,
                    client_msg_id: 1,
                    text: 1,
                }),
                ask(Ask::Members { room: LOBBY }),
                ask(Ask::ListRooms),
                ask(Ask::History {
                    peer: lobby,
                    before_seq: None,
                    limit: 50,
                }),
                ask(Ask::LeaveRoom { room: LOBBY }),
                ask(Ask::Send {
                    to: lobby,
                    client_msg_id: 2,
                    text: 1,
                }),
                ask(Ask::DeleteRoom { room: LOBBY }),
                ask(Ask::DeleteRoom { room: DEN }),
                Reconnect { hello: true },
                LoggedIn(ANN),
                ask(Ask::DeleteRoom { room: LOBBY }),
                ask(Ask::ListRooms),
            ],
        ),
        (
            "file-transfer",
            0,
            vec![
                Hello,
                LoggedIn(ANN),
                ask(Ask::OfferFile {
                    to: bob,
                    name: 0,
                    size: 40,
                    good_hash: true,
                }),
                ask(Ask::UploadChunk {
                    file: 0,
                    bad: false,
                }),
                ask(Ask::UploadChunk {
                    file: 0,
                    bad: false,
                }),
                ask(Ask::UploadChunk {
                    file: 0,
                    bad: false,
                }),
                ask(Ask::CompleteFile { file: 0 }),
                ask(Ask::ListFiles { peer: bob }),
                ask(Ask::DownloadChunk {
                    file: 0,
                    offset: 0,
                    len: 100,
                }),
                ask(Ask::DownloadChunk {
                    file: 0,
                    offset: 35,
                    len: 10,
                }),
                ask(Ask::DownloadChunk {
                    file: 0,
                    offset: 40,
                    len: 10,
                }),
                ask(Ask::DownloadChunk {
                    file: 0,
                    offset: 41,
                    len: 10,
                }),
                LoggedOut,
                LoggedIn(BOB),
                ask(Ask::ListFiles {
                    peer: Target::User(ANN),
                }),
                ask(Ask::DownloadChunk {
                    file: 0,
                    offset: 17,
                    len: 3,
                }),
            ],
        ),
        (
            "pages",
            0,
            vec![
                Hello,
                LoggedIn(ANN),
                ask(Ask::Page {
                    list: 0,
                    target: Target::User(ANN),
                    after: None,
                    limit: 1,
                }),
                ask(Ask::Page {
                    list: 0,
                    target: Target::User(ANN),
                    after: Some(1),
                    limit: 1,
                }),
                ask(Ask::Page {
                    list: 1,
                    target: bob,
                    after: Some(2),
                    limit: 0,
                }),
                ask(Ask::Page {
                    list: 2,
                    target: lobby,
                    after: Some(3),
                    limit: 1,
                }),
                ask(Ask::Page {
                    list: 3,
                    target: lobby,
                    after: None,
                    limit: 1,
                }),
                ask(Ask::Page {
                    list: 3,
                    target: Target::Room(DEN),
                    after: Some(5),
                    limit: 255,
                }),
                ask(Ask::Page {
                    list: 4,
                    target: bob,
                    after: Some(4),
                    limit: 10,
                }),
                ask(Ask::Page {
                    list: 5,
                    target: lobby,
                    after: Some(200),
                    limit: 3,
                }),
            ],
        ),
        (
            "file-room-and-failures",
            0,
            vec![
                Hello,
                LoggedIn(BOB),
                ask(Ask::OfferFile {
                    to: lobby,
                    name: 3,
                    size: 20,
                    good_hash: true,
                }),
                ask(Ask::OfferFile {
                    to: lobby,
                    name: 1,
                    size: 20,
                    good_hash: true,
                }),
                ask(Ask::OfferFile {
                    to: lobby,
                    name: 0,
                    size: 255,
                    good_hash: true,
                }),
                ask(Ask::OfferFile {
                    to: Target::User(ANN),
                    name: 0,
                    size: 17,
                    good_hash: false,
                }),
                ask(Ask::UploadChunk { file: 0, bad: true }),
                ask(Ask::UploadChunk {
                    file: 0,
                    bad: false,
                }),
                ask(Ask::UploadChunk {
                    file: 0,
                    bad: false,
                }),
                ask(Ask::CompleteFile { file: 0 }),
                ask(Ask::UploadChunk {
                    file: 0,
                    bad: false,
                }),
                ask(Ask::CompleteFile { file: 0 }),
                ask(Ask::ListFiles { peer: lobby }),
                ask(Ask::DownloadChunk {
                    file: 0,
                    offset: 0,
                    len: 16,
                }),
                ask(Ask::OfferFile {
                    to: lobby,
                    name: 0,
                    size: 0,
                    good_hash: true,
                }),
                ask(Ask::CompleteFile { file: 1 }),
                ask(Ask::OfferFile {
                    to: lobby,
                    name: 0,
                    size: 30,
                    good_hash: true,
                }),
                ask(Ask::UploadChunk {
                    file: 0,
                    bad: false,
                }),
                Reconnect { hello: true },
                LoggedIn(BOB),
                ask(Ask::CompleteFile { file: 0 }),
            ],
        ),
        (
            "pipelined",
            0,
            vec![
                Hello,
                LoggedIn(ANN),
                Pipelined(vec![
                    Ask::Send {
                        to: bob,
                        client_msg_id: 1,
                        text: 0,
                    },
                    Ask::Send {
                        to: lobby,
                        client_msg_id: 2,
                        text: 1,
                    },
                    Ask::AckSeen,
                    Ask::Send {
                        to: bob,
                        client_msg_id: 1,
                        text: 0,
                    },
                    Ask::Ping,
                    Ask::Send {
                        to: Target::User(NOBODY),
                        client_msg_id: 3,
                        text: 0,
                    },
                    Ask::Send {
                        to: bob,
                        client_msg_id: 4,
                        text: 2,
                    },
                    Ask::Login {
                        user: BOB,
                        good_password: true,
                    },
                    Ask::ListRooms,
                ]),
                ask(Ask::AckSeen),
            ],
        ),
        (
            "reconnects",
            0,
            vec![
                Hello,
                LoggedIn(ANN),
                Reconnect { hello: true },
                LoggedIn(BOB),
                Close,
                Hello,
                ask(Ask::Ping),
                Reconnect { hello: false },
                ask(Ask::Ping),
                Reconnect { hello: true },
                LoggedIn(CAT),
                LoggedOut,
                LoggedOut,
                Reconnect { hello: true },
                LoggedIn(ANN),
                ask(Ask::AckSeen),
            ],
        ),
        (
            "password-guessing",
            0,
            std::iter::once(Hello)
                .chain((0..7).map(|_| {
                    ask(Ask::Login {
                        user: BOB,
                        good_password: false,
                    })
                }))
                .chain([LoggedIn(BOB)])
                .collect(),
        ),
        (
            "replace-old",
            2,
            vec![
                Hello,
                LoggedIn(ANN),
                ask(Ask::Send {
                    to: bob,
                    client_msg_id: 1,
                    text: 0,
                }),
                LoggedOut,
                LoggedIn(BOB),
            ],
        ),
        (
            "open-chat",
            1,
            vec![
                Hello,
                LoggedIn(CAT),
                ask(Ask::Send {
                    to: Target::User(ANN),
                    client_msg_id: 1,
                    text: 1,
                }),
                ask(Ask::OfferFile {
                    to: Target::User(BOB),
                    name: 0,
                    size: 5,
                    good_hash: true,
                }),
                ask(Ask::UploadChunk {
                    file: 0,
                    bad: false,
                }),
                ask(Ask::CompleteFile { file: 0 }),
                ask(Ask::Block { user: ANN }),
                ask(Ask::Send {
                    to: Target::User(ANN),
                    client_msg_id: 2,
                    text: 1,
                }),
            ],
        ),
        (
            "raw-frames",
            3,
            vec![
                Hello,
                frame_step(
                    7,
                    Request::Login {
                        username: s("bob"),
                        password: s("bob-password"),
                    },
                ),
                frame_step(
                    8,
                    Request::DownloadChunk {
                        file: u64::MAX,
                        offset: u64::MAX,
                        len: u32::MAX,
                    },
                ),
                frame_step(
                    8,
                    Request::History {
                        peer: Peer::User(s("ANN")),
                        before_seq: Some(u64::MAX),
                        limit: u32::MAX,
                    },
                ),
                frame_step(
                    u32::MAX,
                    Request::SearchUsers {
                        query: s("%"),
                        limit: u32::MAX,
                    },
                ),
                frame_step(
                    0,
                    Request::OfferFile {
                        to: Peer::Room(s("")),
                        name: s("a\u{0}b"),
                        size: u64::MAX,
                        sha256: [0xff; 32],
                    },
                ),
                frame_step(
                    1,
                    Request::UploadChunk {
                        file: 0,
                        offset: u64::MAX,
                        bytes: vec![],
                    },
                ),
                frame_step(
                    2,
                    Request::Ack {
                        ids: vec![0, u64::MAX],
                    },
                ),
                frame_step(
                    3,
                    Request::Send {
                        to: Peer::User(s("bob")),
                        client_msg_id: u64::MAX,
                        body: Body::Text(s("to myself")),
                    },
                ),
                frame_step(4, Request::Logout),
                frame_step(
                    5,
                    Request::Register {
                        username: s("Émile"),
                        password: s("x".repeat(1025).as_str()),
                    },
                ),
            ],
        ),
        (
            "bare-session-interleaving",
            0,
            vec![
                LoggedIn(ANN),
                LoggedOut,
                Hello,
                LoggedIn(CAT),
                LoggedIn(ANN),
                ask(Ask::Logout),
                Close,
                LoggedIn(BOB),
                ask(Ask::Ping),
                Hello,
            ],
        ),
        (
            "devices-and-typing",
            0,
            vec![
                Hello,
                ask(Ask::Devices),
                ask(Ask::LoginDevice {
                    user: ANN,
                    good_password: true,
                    known: Some(200),
                }),
                ask(Ask::LoginDevice {
                    user: ANN,
                    good_password: true,
                    known: None,
                }),
                ask(Ask::Devices),
                ask(Ask::Typing { to: bob }),
                ask(Ask::Typing { to: lobby }),
                Pipelined(vec![
                    Ask::Typing {
                        to: Target::User(CAT),
                    },
                    Ask::Devices,
                    Ask::LoginDevice {
                        user: BOB,
                        good_password: true,
                        known: None,
                    },
                ]),
                ask(Ask::Logout),
                ask(Ask::Typing { to: bob }),
            ],
        ),
    ]
}
