//! Replays every committed fuzz corpus file (`fuzz/corpus/<target>/*`) through
//! the same checks the cargo-fuzz targets run (`chatcore::fuzzing`), so CI
//! exercises the corpora on stable without the fuzzer.
//!
//! The hand-written seeds come from `write_seed_corpus` below:
//!
//! ```text
//! cargo test -p chatcore --test it fuzz_corpus -- --ignored write_seed_corpus
//! ```

use std::path::{Path, PathBuf};

use bytes::BytesMut;
use chatcore::fuzzing::{
    check_frame_bytes, check_session_bytes, encode_script, Ask, Script, Step, Target,
};
use chatcore::protocol::{
    encode_frame, Body, ClientFrame, ErrorCode, Event, FileInfo, FriendEntry, FriendState,
    MemberEntry, Message, Peer, Request, Response, RoomInfo, ServerFrame, DEFAULT_MAX_FRAME_LEN,
    PROTOCOL_VERSION,
};

fn corpus_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../fuzz/corpus")
}

/// The files of one target's corpus, sorted.
fn corpus(target: &str) -> Vec<PathBuf> {
    let dir = corpus_root().join(target);
    let mut files: Vec<PathBuf> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("reading {}: {e}", dir.display()))
        .map(|entry| entry.expect("a directory entry").path())
        .filter(|path| path.is_file())
        .collect();
    files.sort();
    assert!(!files.is_empty(), "{} holds no corpus", dir.display());
    files
}

fn replay(target: &str, check: fn(&[u8])) {
    for path in corpus(target) {
        let data = std::fs::read(&path).expect("a readable corpus file");
        // A failing file is named in the panic message's backtrace context.
        eprintln!("replaying {}", path.display());
        check(&data);
    }
}

#[test]
fn every_corpus_has_a_replay() {
    let mut targets: Vec<String> = std::fs::read_dir(corpus_root())
        .expect("fuzz/corpus exists")
        .map(|entry| entry.expect("a directory entry").file_name())
        .map(|name| name.into_string().expect("a UTF-8 target name"))
        .collect();
    targets.sort();
    assert_eq!(
        targets,
        ["frame_decoder", "session"],
        "a corpus without a replay"
    );
}

#[test]
fn frame_decoder_corpus() {
    replay("frame_decoder", check_frame_bytes);
}

#[test]
fn session_corpus() {
    replay("session", check_session_bytes);
}

#[test]
fn scripts_round_trip() {
    for (name, flags, steps) in session_seeds() {
        let bytes = encode_script(flags, &steps);
        let script = Script::decode(&bytes);
        assert_eq!(script.flags, flags, "{name}");
        assert_eq!(script.steps, steps, "{name}");
    }
}

// ---------------------------------------------------------------------------
// Seeds
// ---------------------------------------------------------------------------

/// Writes the hand-written seeds into `fuzz/corpus/` (next to whatever the
/// fuzzer added).
#[test]
#[ignore = "writes the seed corpus; run by hand"]
fn write_seed_corpus() {
    let frames = corpus_root().join("frame_decoder");
    std::fs::create_dir_all(&frames).unwrap();
    for (name, bytes) in frame_seeds() {
        check_frame_bytes(&bytes);
        std::fs::write(frames.join(format!("seed-{name}")), bytes).unwrap();
    }
    let sessions = corpus_root().join("session");
    std::fs::create_dir_all(&sessions).unwrap();
    for (name, flags, steps) in session_seeds() {
        let bytes = encode_script(flags, &steps);
        check_session_bytes(&bytes);
        std::fs::write(sessions.join(format!("seed-{name}")), bytes).unwrap();
    }
}

fn s(text: &str) -> String {
    text.to_owned()
}

fn frame<T: serde::Serialize>(value: &T) -> Vec<u8> {
    let mut dst = BytesMut::new();
    encode_frame(value, &mut dst, DEFAULT_MAX_FRAME_LEN).expect("seeds encode");
    dst.to_vec()
}

fn message() -> Message {
    Message {
        id: 9,
        seq: 2,
        from: s("ann"),
        to: Peer::User(s("bob")),
        body: Body::Text(s("hi 👋")),
        ts: 1_700_000_000_000,
    }
}

/// One request of every kind; the name doubles as an exhaustiveness check.
fn requests() -> Vec<Request> {
    let room = || Peer::Room(s("lobby"));
    vec![
        Request::Ping,
        Request::Register {
            username: s("ann"),
            password: s("ann-password"),
        },
        Request::Login {
            username: s("ann"),
            password: s("ann-password"),
        },
        Request::Logout,
        Request::SearchUsers {
            query: s("a"),
            limit: 10,
        },
        Request::FriendRequest {
            to: s("bob"),
            note: s("hi"),
        },
        Request::FriendRespond {
            from: s("ann"),
            accept: true,
        },
        Request::RemoveFriend { user: s("bob") },
        Request::Block { user: s("eve") },
        Request::Unblock { user: s("eve") },
        Request::ListFriends,
        Request::OnlineFriends,
        Request::OnlineCount,
        Request::Send {
            to: Peer::User(s("bob")),
            client_msg_id: 300,
            body: Body::Text(s("hello")),
        },
        Request::Ack {
            ids: vec![1, 128, u64::MAX],
        },
        Request::History {
            peer: room(),
            before_seq: Some(5),
            limit: 20,
        },
        Request::CreateRoom { name: s("lobby") },
        Request::JoinRoom { name: s("lobby") },
        Request::LeaveRoom { name: s("lobby") },
        Request::DeleteRoom { name: s("lobby") },
        Request::ListRooms,
        Request::Members { room: s("lobby") },
        Request::OfferFile {
            to: room(),
            name: s("a.txt"),
            size: 40,
            sha256: std::array::from_fn(|i| i as u8),
        },
        Request::UploadChunk {
            file: 3,
            offset: 16,
            bytes: vec![0xde, 0xad, 0xbe, 0xef],
        },
        Request::CompleteFile { file: 3 },
        Request::ListFiles { peer: room() },
        Request::DownloadChunk {
            file: 3,
            offset: 0,
            len: 16,
        },
    ]
}

fn request_name(r: &Request) -> &'static str {
    match r {
        Request::Ping => "ping",
        Request::Register { .. } => "register",
        Request::Login { .. } => "login",
        Request::Logout => "logout",
        Request::SearchUsers { .. } => "search-users",
        Request::FriendRequest { .. } => "friend-request",
        Request::FriendRespond { .. } => "friend-respond",
        Request::RemoveFriend { .. } => "remove-friend",
        Request::Block { .. } => "block",
        Request::Unblock { .. } => "unblock",
        Request::ListFriends => "list-friends",
        Request::OnlineFriends => "online-friends",
        Request::OnlineCount => "online-count",
        Request::Send { .. } => "send",
        Request::Ack { .. } => "ack",
        Request::History { .. } => "history",
        Request::CreateRoom { .. } => "create-room",
        Request::JoinRoom { .. } => "join-room",
        Request::LeaveRoom { .. } => "leave-room",
        Request::DeleteRoom { .. } => "delete-room",
        Request::ListRooms => "list-rooms",
        Request::Members { .. } => "members",
        Request::OfferFile { .. } => "offer-file",
        Request::UploadChunk { .. } => "upload-chunk",
        Request::CompleteFile { .. } => "complete-file",
        Request::ListFiles { .. } => "list-files",
        Request::DownloadChunk { .. } => "download-chunk",
    }
}

fn responses() -> Vec<Result<Response, ErrorCode>> {
    vec![
        Ok(Response::Done),
        Ok(Response::Pong),
        Ok(Response::LoggedIn { user: s("ann") }),
        Ok(Response::Users(vec![s("ann"), s("bob")])),
        Ok(Response::FriendRequested { friends: false }),
        Ok(Response::Friends(vec![FriendEntry {
            user: s("bob"),
            state: FriendState::RequestSent,
            online: false,
        }])),
        Ok(Response::Count(3)),
        Ok(Response::Sent {
            id: 9,
            seq: 2,
            ts: 1_700_000_000_000,
        }),
        Ok(Response::History(vec![message()])),
        Ok(Response::Rooms(vec![RoomInfo {
            name: s("lobby"),
            owner: s("ann"),
            members: 2,
            joined: true,
        }])),
        Ok(Response::Members(vec![MemberEntry {
            user: s("bob"),
            online: true,
        }])),
        Ok(Response::FileOffered {
            file: 3,
            chunk_size: 262_144,
        }),
        Ok(Response::Files(vec![FileInfo {
            id: 3,
            from: s("ann"),
            to: Peer::Room(s("lobby")),
            name: s("a.txt"),
            size: 40,
            sha256: [7; 32],
            ts: 5,
        }])),
        Ok(Response::Chunk(vec![1, 2, 3])),
        Err(ErrorCode::NotAuthenticated),
        Err(*ErrorCode::ALL.last().expect("codes")),
    ]
}

fn response_name(r: &Result<Response, ErrorCode>) -> &'static str {
    match r {
        Ok(Response::Done) => "done",
        Ok(Response::Pong) => "pong",
        Ok(Response::LoggedIn { .. }) => "logged-in",
        Ok(Response::Users(_)) => "users",
        Ok(Response::FriendRequested { .. }) => "friend-requested",
        Ok(Response::Friends(_)) => "friends",
        Ok(Response::Count(_)) => "count",
        Ok(Response::Sent { .. }) => "sent",
        Ok(Response::History(_)) => "history",
        Ok(Response::Rooms(_)) => "rooms",
        Ok(Response::Members(_)) => "members",
        Ok(Response::FileOffered { .. }) => "file-offered",
        Ok(Response::Files(_)) => "files",
        Ok(Response::Chunk(_)) => "chunk",
        Err(ErrorCode::NotAuthenticated) => "err-first",
        Err(_) => "err-last",
    }
}

fn events() -> Vec<Event> {
    vec![
        Event::Message(message()),
        Event::Delivered {
            id: 11,
            ids: vec![9, 10],
        },
        Event::CaughtUp,
        Event::Presence {
            user: s("bob"),
            online: true,
        },
        Event::FriendRequested {
            id: 13,
            from: s("bob"),
            note: s("hi"),
        },
        Event::FriendAdded {
            id: 13,
            user: s("bob"),
        },
        Event::FriendRejected {
            id: 14,
            user: s("bob"),
        },
        Event::FriendRemoved {
            id: 15,
            user: s("bob"),
        },
        Event::Kicked {
            reason: s("logged in elsewhere"),
        },
        Event::ServerShutdown,
        Event::Closing {
            code: ErrorCode::RateLimited,
        },
        Event::RoomJoined {
            room: s("lobby"),
            user: s("bob"),
        },
        Event::RoomLeft {
            room: s("lobby"),
            user: s("bob"),
        },
        Event::RoomDeleted { room: s("lobby") },
        Event::FileShared {
            id: 3,
            from: s("ann"),
            to: Peer::User(s("bob")),
            name: s("a.txt"),
            size: 40,
        },
        Event::RoomUnread {
            room: s("lobby"),
            read_seq: 1,
            last_seq: 4,
        },
        Event::Ping,
    ]
}

fn event_name(e: &Event) -> &'static str {
    match e {
        Event::Message(_) => "message",
        Event::Delivered { .. } => "delivered",
        Event::CaughtUp => "caught-up",
        Event::Presence { .. } => "presence",
        Event::FriendRequested { .. } => "friend-requested",
        Event::FriendAdded { .. } => "friend-added",
        Event::FriendRejected { .. } => "friend-rejected",
        Event::FriendRemoved { .. } => "friend-removed",
        Event::Kicked { .. } => "kicked",
        Event::ServerShutdown => "server-shutdown",
        Event::Closing { .. } => "closing",
        Event::RoomJoined { .. } => "room-joined",
        Event::RoomLeft { .. } => "room-left",
        Event::RoomDeleted { .. } => "room-deleted",
        Event::FileShared { .. } => "file-shared",
        Event::RoomUnread { .. } => "room-unread",
        Event::Ping => "ping",
    }
}

/// Encoded frames of every variant each way, a few streams, and broken input.
fn frame_seeds() -> Vec<(String, Vec<u8>)> {
    let mut seeds = Vec::new();
    let client_hello = ClientFrame::Hello {
        version: PROTOCOL_VERSION,
        client: s("chatcore-client/0.1.0"),
    };
    seeds.push((s("client-hello"), frame(&client_hello)));
    let mut session = frame(&client_hello);
    for (i, request) in requests().into_iter().enumerate() {
        let name = request_name(&request);
        let f = ClientFrame::Request {
            req_id: i as u32 + 1,
            request,
        };
        let bytes = frame(&f);
        session.extend(&bytes);
        seeds.push((format!("client-{name}"), bytes));
    }
    seeds.push((s("stream-client-all"), session.clone()));
    let server_hello = ServerFrame::Hello {
        version: PROTOCOL_VERSION,
        server: s("chatcore/0.1.0"),
    };
    seeds.push((s("server-hello"), frame(&server_hello)));
    let mut stream = frame(&server_hello);
    for (i, result) in responses().into_iter().enumerate() {
        let name = response_name(&result);
        let f = ServerFrame::Response {
            req_id: i as u32 + 1,
            result,
        };
        let bytes = frame(&f);
        stream.extend(&bytes);
        seeds.push((format!("server-response-{name}"), bytes));
    }
    for event in events() {
        let name = event_name(&event);
        let bytes = frame(&ServerFrame::Event(event));
        stream.extend(&bytes);
        seeds.push((format!("server-event-{name}"), bytes));
    }
    seeds.push((s("stream-server-all"), stream));
    // Broken input.
    let ping = frame(&ClientFrame::Request {
        req_id: 1,
        request: Request::Ping,
    });
    seeds.push((s("truncated-prefix"), vec![0, 0]));
    seeds.push((
        s("truncated-payload"),
        session[..session.len() - 3].to_vec(),
    ));
    seeds.push((s("too-large-default"), vec![0x00, 0x10, 0x00, 0x01, 0x01]));
    seeds.push((s("too-large-u32"), vec![0xff, 0xff, 0xff, 0xff, 0x00]));
    seeds.push((s("empty-payload"), vec![0, 0, 0, 0]));
    seeds.push((s("bad-variant"), vec![0, 0, 0, 2, 0x07, 0x00]));
    seeds.push((s("bad-utf8"), vec![0, 0, 0, 4, 0x00, 0x01, 0x01, 0xff]));
    seeds.push((s("bad-bool"), vec![0, 0, 0, 4, 0x01, 0x01, 0x06, 0x02]));
    seeds.push((
        s("overlong-varint"),
        vec![0, 0, 0, 4, 0x01, 0x81, 0x00, 0x00],
    ));
    let mut trailing = ping.clone();
    trailing[3] += 2;
    trailing.extend([0xaa, 0xbb]);
    seeds.push((s("trailing-bytes-in-payload"), trailing));
    let mut then_garbage = ping.clone();
    then_garbage.extend([0, 0, 0, 1, 0xff]);
    seeds.push((s("frame-then-garbage"), then_garbage));
    seeds
}

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
fn session_seeds() -> Vec<(&'static str, u8, Vec<Step>)> {
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
    ]
}
