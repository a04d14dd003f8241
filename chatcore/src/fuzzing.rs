//! The checks behind the cargo-fuzz targets in `fuzz/` (feature `testkit`).
//!
//! Each `check_*` function takes arbitrary bytes and panics if they expose a bug;
//! it never panics for merely invalid input. The fuzz targets are one-line calls
//! of these functions, and `tests/it/fuzz_corpus.rs` replays every committed corpus
//! file through them, so CI exercises the corpora on the stable toolchain without
//! the fuzzer.
//!
//! - [`check_frame_bytes`]: the bytes are a stream. They go through
//!   [`decode_frame`] as [`ClientFrame`]s and as [`ServerFrame`]s (with a small and
//!   with the default maximum frame length) until it needs more bytes or fails,
//!   and through [`FrameCodec`] as a `tokio_util` decoder, fed in chunks and
//!   finished with `decode_eof`. Both ways must agree, every decoded frame must
//!   re-encode and decode to itself, and the decoder must consume exactly what the
//!   length prefixes announce.
//! - [`check_session_bytes`]: the bytes are a [`Script`]: a flags byte choosing
//!   the server config, then postcard-encoded [`Step`]s (decoding stops at the
//!   first step that does not decode). The steps go (a) to a bare
//!   [`Session`], checked against a small reference model of the phase rules,
//!   with `logged_in`, `logged_out` and `close` interleaved; and (b) to a whole
//!   server on the in-memory transport and a [`MemoryStore`], through a raw
//!   connection, in lock step: each request's answer is awaited and checked
//!   against a mirror [`Session`] (refusals, closes, response kinds, the login
//!   backlog ending in `CaughtUp`), while two honest library clients are logged
//!   in. Afterwards the honest clients and a new one must still be served, the
//!   server must shut down with nobody left online, and no task may have
//!   panicked. Everything is bounded: no sleeps, at most [`MAX_STEPS`] steps, and
//!   a hang guard turns a request that is never answered into a panic. Each run
//!   starts from a copy of one store set up once through a server (ann, bob and
//!   cat registered, ann and bob friends, `lobby` with both in it).
//!
//! [`encode_script`] writes a script, for seed corpora.

use std::cell::Cell;
use std::fmt::Debug;
use std::net::SocketAddr;
use std::sync::{Arc, Once, OnceLock};
use std::time::Duration;

use bytes::BytesMut;
use futures::{SinkExt, StreamExt};
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use tokio_util::codec::Decoder;

use crate::client::{Client, ClientError};
use crate::engine::testkit::{password, test_config};
use crate::engine::{DuplicateLogin, Server, ServerConfig};
use crate::protocol::{
    decode_frame, encode_frame, limits, Body, ClientFrame, CodecError, ErrorCode, Event,
    FrameCodec, ItemId, Peer, Request, Response, ServerFrame, DEFAULT_MAX_FRAME_LEN,
    OLDEST_PROTOCOL_VERSION, PROTOCOL_VERSION,
};
use crate::session::{Action, Phase, Session};
use crate::store::{Entries, KvBackend, KvStore, MemoryBackend, MemoryStore, User, UserId};
use crate::transport::memory::{self, MemoryClientConnection};

// ---------------------------------------------------------------------------
// Frames
// ---------------------------------------------------------------------------

/// The small maximum frame length [`check_frame_bytes`] tries besides the default.
pub const SMALL_MAX_FRAME_LEN: usize = 64;

/// Chunk sizes in which [`check_frame_bytes`] feeds the stream to [`FrameCodec`].
const CHUNKS: [usize; 3] = [1, 5, 64];

/// Decodes `data` as a stream of client frames and of server frames, each with a
/// small and with the default maximum length, in one buffer and in chunks through
/// [`FrameCodec`]; panics on any disagreement or on a frame that does not survive
/// re-encoding.
pub fn check_frame_bytes(data: &[u8]) {
    for max_len in [SMALL_MAX_FRAME_LEN, DEFAULT_MAX_FRAME_LEN] {
        check_frames_as::<ClientFrame>(data, max_len);
        check_frames_as::<ServerFrame>(data, max_len);
    }
}

/// How decoding a stream stopped.
#[derive(Debug, Clone, PartialEq, Eq)]
enum End {
    /// Out of bytes with this many left over (0: at a frame boundary).
    NeedMore(usize),
    /// A length prefix announced this much, over the maximum.
    TooLarge(usize),
    /// A payload was not a valid frame.
    Undecodable,
    /// `decode_eof` found this many bytes of an unfinished frame.
    Truncated(usize),
}

fn check_frames_as<T>(data: &[u8], max_len: usize)
where
    T: Serialize + DeserializeOwned + PartialEq + Debug,
{
    let (frames, end) = decode_whole::<T>(data, max_len);
    for frame in &frames {
        check_round_trip(frame, max_len);
    }
    // At the end of the stream, leftover bytes are a truncated frame.
    let expected_end = match end {
        End::NeedMore(0) => None,
        End::NeedMore(n) => Some(End::Truncated(n)),
        other => Some(other),
    };
    for chunk in CHUNKS {
        let (streamed, streamed_end) = decode_streamed::<T>(data, max_len, chunk);
        assert_eq!(
            streamed, frames,
            "FrameCodec in chunks of {chunk} decoded other frames than decode_frame"
        );
        assert_eq!(
            streamed_end, expected_end,
            "FrameCodec in chunks of {chunk} ended otherwise than decode_frame"
        );
    }
}

/// `decode_frame` on the whole input until it needs more bytes or fails,
/// checking what it consumes against the length prefixes.
fn decode_whole<T: DeserializeOwned>(data: &[u8], max_len: usize) -> (Vec<T>, End) {
    let mut src = BytesMut::from(data);
    let mut frames = Vec::new();
    loop {
        let before = src.len();
        let start = data.len() - before;
        let announced = (before >= 4).then(|| {
            u32::from_be_bytes([
                data[start],
                data[start + 1],
                data[start + 2],
                data[start + 3],
            ]) as usize
        });
        let result = decode_frame::<T>(&mut src, max_len);
        let consumed = before - src.len();
        assert_eq!(
            &src[..],
            &data[start + consumed..],
            "decode_frame changed the bytes it left"
        );
        match result {
            Ok(Some(frame)) => {
                let len = announced.expect("a frame needs a length prefix");
                assert!(len <= max_len, "decoded a frame of {len} > {max_len} bytes");
                assert_eq!(consumed, 4 + len, "a frame consumes its prefix and payload");
                frames.push(frame);
            }
            Ok(None) => {
                assert_eq!(consumed, 0, "decode_frame consumed bytes without a frame");
                if let Some(len) = announced {
                    assert!(len <= max_len, "an oversized prefix was not refused");
                    assert!(before < 4 + len, "a whole frame was left undecoded");
                }
                return (frames, End::NeedMore(before));
            }
            Err(CodecError::TooLarge { len, max }) => {
                assert_eq!(
                    Some(len),
                    announced,
                    "TooLarge reports the announced length"
                );
                assert_eq!(max, max_len);
                assert!(len > max_len, "refused a frame within the maximum");
                assert_eq!(consumed, 0, "a refused prefix stays in the buffer");
                return (frames, End::TooLarge(len));
            }
            Err(CodecError::Undecodable(_)) => {
                let len = announced.expect("a payload needs a length prefix");
                assert!(len <= max_len);
                assert_eq!(consumed, 4 + len, "an undecodable frame is taken off whole");
                return (frames, End::Undecodable);
            }
            Err(other) => panic!("decode_frame failed unexpectedly: {other}"),
        }
    }
}

/// The input fed to a [`FrameCodec`] in `chunk`-byte pieces, as a framed reader
/// would, then `decode_eof` until it is done.
fn decode_streamed<T: DeserializeOwned>(
    data: &[u8],
    max_len: usize,
    chunk: usize,
) -> (Vec<T>, Option<End>) {
    fn end_of(e: CodecError) -> End {
        match e {
            CodecError::TooLarge { len, .. } => End::TooLarge(len),
            CodecError::Undecodable(_) => End::Undecodable,
            CodecError::Truncated { buffered } => End::Truncated(buffered),
            other => panic!("FrameCodec failed unexpectedly: {other}"),
        }
    }
    let mut codec = FrameCodec::<T, ()>::new(max_len);
    assert_eq!(codec.max_len(), max_len);
    let mut buf = BytesMut::new();
    let mut frames = Vec::new();
    for piece in data.chunks(chunk) {
        buf.extend_from_slice(piece);
        loop {
            match codec.decode(&mut buf) {
                Ok(Some(frame)) => frames.push(frame),
                Ok(None) => break,
                Err(e) => return (frames, Some(end_of(e))),
            }
        }
    }
    loop {
        match codec.decode_eof(&mut buf) {
            Ok(Some(frame)) => frames.push(frame),
            Ok(None) => {
                assert!(buf.is_empty(), "decode_eof ended with bytes left");
                return (frames, None);
            }
            Err(e) => return (frames, Some(end_of(e))),
        }
    }
}

/// A decoded frame re-encodes within the limit, decodes to itself, and its
/// encoding is stable.
fn check_round_trip<T>(frame: &T, max_len: usize)
where
    T: Serialize + DeserializeOwned + PartialEq + Debug,
{
    let mut buf = BytesMut::new();
    encode_frame(frame, &mut buf, max_len)
        .unwrap_or_else(|e| panic!("decoded {frame:?} does not re-encode: {e}"));
    let encoded = buf.clone();
    let again: T = decode_frame(&mut buf, max_len)
        .unwrap_or_else(|e| panic!("re-encoded {frame:?} does not decode: {e}"))
        .unwrap_or_else(|| panic!("re-encoded {frame:?} is not a whole frame"));
    assert!(buf.is_empty(), "re-encoded {frame:?} left bytes over");
    assert_eq!(&again, frame, "a frame changed through encode/decode");
    let mut twice = BytesMut::new();
    encode_frame(&again, &mut twice, max_len).expect("encodes again");
    assert_eq!(twice, encoded, "the encoding of {frame:?} is not stable");
}

// ---------------------------------------------------------------------------
// Session scripts
// ---------------------------------------------------------------------------

/// Most steps of a script that are run; the rest are ignored.
pub const MAX_STEPS: usize = 64;
/// Most requests of one [`Step::Pipelined`] that are sent.
pub const MAX_PIPELINED: usize = 16;

/// Users the dictionary requests name: three registered ones (`ann` and `bob`
/// also logged in by honest clients), a case variant, an unknown one, and an
/// invalid name.
pub const USERS: [&str; 6] = ["ann", "bob", "cat", "Ann", "nobody", "x"];
/// Rooms the dictionary requests name (`lobby` exists, with `ann` and `bob` in it).
pub const ROOMS: [&str; 4] = ["lobby", "den", "LOBBY", "no"];
const FILE_NAMES: [&str; 4] = ["notes.txt", "..", "dir/file", "photo.jpg"];
/// Upload chunk size of the fuzzed server (small, so uploads finish).
const CHUNK: u32 = 16;
/// Largest file the fuzzed server accepts.
const MAX_FILE: u64 = 200;
/// Where the raw connections claim to come from (so per-address throttling runs).
const PEER: ([u8; 4], u16) = ([127, 0, 0, 1], 40_000);
/// How long a whole script may take before it counts as a hang.
const HANG_GUARD: Duration = Duration::from_secs(10);
/// Request ids of dictionary requests start here.
const FIRST_REQ_ID: u32 = 1 << 30;

/// A user or a room of the dictionary.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum Target {
    /// `USERS[i % len]`.
    User(u8),
    /// `ROOMS[i % len]`.
    Room(u8),
}

/// A request whose fields come from small dictionaries (real user and room
/// names, right passwords, files this connection offered), so that a fuzzer
/// reaches the deep paths; [`Step::Frame`] covers arbitrary fields.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[allow(missing_docs)]
pub enum Ask {
    Ping,
    Register {
        user: u8,
        good_password: bool,
    },
    Login {
        user: u8,
        good_password: bool,
    },
    Logout,
    SearchUsers {
        query: u8,
        limit: u8,
    },
    FriendRequest {
        user: u8,
        long_note: bool,
    },
    FriendRespond {
        user: u8,
        accept: bool,
    },
    RemoveFriend {
        user: u8,
    },
    Block {
        user: u8,
    },
    Unblock {
        user: u8,
    },
    ListFriends,
    OnlineFriends,
    OnlineCount,
    /// `text` picks one of a few texts (empty, short, emoji, at and over the limit).
    Send {
        to: Target,
        client_msg_id: u8,
        text: u8,
    },
    /// Acks every inbox id this script has seen.
    AckSeen,
    History {
        peer: Target,
        before_seq: Option<u8>,
        limit: u8,
    },
    CreateRoom {
        room: u8,
    },
    JoinRoom {
        room: u8,
    },
    LeaveRoom {
        room: u8,
    },
    DeleteRoom {
        room: u8,
    },
    ListRooms,
    Members {
        room: u8,
    },
    /// Content is the bytes `0, 1, 2, ...` of `size`; the hash is right if asked.
    OfferFile {
        to: Target,
        name: u8,
        size: u8,
        good_hash: bool,
    },
    /// The next chunk of an upload this connection offered (a wrong one if asked).
    UploadChunk {
        file: u8,
        bad: bool,
    },
    CompleteFile {
        file: u8,
    },
    ListFiles {
        peer: Target,
    },
    /// Of any file id seen so far.
    DownloadChunk {
        file: u8,
        offset: u8,
        len: u8,
    },
}

/// One step of a session script.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum Step {
    /// A hello with the right version.
    Hello,
    /// Any frame, as is.
    Frame(ClientFrame),
    /// A dictionary request.
    Ask(Ask),
    /// Requests sent back to back, then all answers awaited (logins and logouts
    /// among them are sent as pings, so the phase stays put).
    Pipelined(Vec<Ask>),
    /// Hang up and open a new connection, saying hello if asked.
    Reconnect {
        /// Say hello first.
        hello: bool,
    },
    /// Bare session: `Session::close`. Server: hang up (until a `Reconnect`).
    Close,
    /// Bare session: `Session::logged_in` as `USERS[i % len]`. Server: a login
    /// with the right password.
    LoggedIn(u8),
    /// Bare session: `Session::logged_out`. Server: a logout.
    LoggedOut,
}

/// A decoded session input.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Script {
    /// Bit 0: open chat; bit 1: a new login replaces the old sessions.
    pub flags: u8,
    /// The steps, at most [`MAX_STEPS`].
    pub steps: Vec<Step>,
}

impl Script {
    /// Reads a script: the flags byte, then steps until one does not decode.
    pub fn decode(data: &[u8]) -> Script {
        let Some((&flags, mut rest)) = data.split_first() else {
            return Script::default();
        };
        let mut steps = Vec::new();
        while !rest.is_empty() && steps.len() < MAX_STEPS {
            match postcard::take_from_bytes::<Step>(rest) {
                Ok((step, tail)) => {
                    steps.push(step);
                    rest = tail;
                }
                Err(_) => break,
            }
        }
        Script { flags, steps }
    }
}

/// The bytes of a script (for seed corpora): `flags`, then each step.
pub fn encode_script(flags: u8, steps: &[Step]) -> Vec<u8> {
    let mut out = vec![flags];
    for step in steps {
        out.extend(postcard::to_stdvec(step).expect("steps encode"));
    }
    out
}

/// Runs a [`Script`] decoded from `data` through a bare [`Session`] and through
/// a whole server; panics on any broken invariant (see the module docs).
pub fn check_session_bytes(data: &[u8]) {
    let script = Script::decode(data);
    check_bare_session(&script.steps);
    check_engine(&script);
}

fn user_name(i: u8) -> &'static str {
    USERS[usize::from(i) % USERS.len()]
}

fn room_name(i: u8) -> &'static str {
    ROOMS[usize::from(i) % ROOMS.len()]
}

fn peer(target: Target) -> Peer {
    match target {
        Target::User(i) => Peer::User(user_name(i).into()),
        Target::Room(i) => Peer::Room(room_name(i).into()),
    }
}

fn text(i: u8) -> String {
    match i % 5 {
        0 => "hi".into(),
        1 => "hello 👋 ✓".into(),
        2 => String::new(),
        3 => "a".repeat(limits::MAX_TEXT_LEN),
        _ => "a".repeat(limits::MAX_TEXT_LEN + 1),
    }
}

fn file_content(size: u64) -> Vec<u8> {
    (0..size).map(|i| i as u8).collect()
}

fn hello(version: u16) -> ClientFrame {
    ClientFrame::Hello {
        version,
        client: "fuzz".into(),
    }
}

fn login(user: u8, good_password: bool) -> Request {
    let name = user_name(user);
    Request::Login {
        username: name.into(),
        password: if good_password {
            password(&name.to_lowercase())
        } else {
            "wrong-password".into()
        },
    }
}

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

fn check_bare_session(steps: &[Step]) {
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

// ---- (b) the whole engine ----

thread_local! {
    /// Panics on this thread so far.
    static PANICS: Cell<usize> = const { Cell::new(0) };
}
static PANIC_HOOK: Once = Once::new();

/// Counts panics per thread, then runs the previous hook (under libFuzzer, that
/// one aborts). A panic in a spawned server task is caught by tokio and would
/// otherwise go unnoticed; on the current-thread runtime those tasks run on the
/// checking thread, so parallel checks (tests) do not see each other's panics.
fn count_panics() {
    PANIC_HOOK.call_once(|| {
        let previous = std::panic::take_hook();
        std::panic::set_hook(Box::new(move |info| {
            PANICS.with(|n| n.set(n.get() + 1));
            previous(info);
        }));
    });
}

fn fuzz_config(flags: u8) -> ServerConfig {
    ServerConfig {
        open_chat: flags & 1 != 0,
        duplicate_login: if flags & 2 != 0 {
            DuplicateLogin::ReplaceOld
        } else {
            DuplicateLogin::Allow
        },
        max_pending_requests: 3,
        backlog_page: 4,
        file_chunk_size: CHUNK,
        max_file_size: MAX_FILE,
        ..test_config()
    }
}

fn check_engine(script: &Script) {
    count_panics();
    let panics = PANICS.with(Cell::get);
    let store = fresh_store();
    block_on(async {
        tokio::time::timeout(HANG_GUARD, run_engine(store, script))
            .await
            .expect("the server stopped answering (hang guard)")
    });
    assert_eq!(
        PANICS.with(Cell::get),
        panics,
        "a thread panicked while serving the script"
    );
}

/// Runs `f` on this thread's current-thread runtime. The runtime (and its
/// blocking pool, where argon2 and store reads run) is kept from one run to the
/// next, which halves the cost of a run; each run still gets its own server and
/// store, and shuts them down (at most the drivers of its closed clients are
/// left to wind down in the next run).
fn block_on<F: std::future::Future>(f: F) -> F::Output {
    thread_local! {
        static RUNTIME: tokio::runtime::Runtime = tokio::runtime::Builder::new_current_thread()
            .enable_time()
            .build()
            .expect("a runtime");
    }
    RUNTIME.with(|runtime| runtime.block_on(f))
}

fn connect(server: &Server) -> MemoryClientConnection {
    let (server_end, client_end) = memory::pair();
    server.spawn_connection(server_end, Some(SocketAddr::from(PEER)));
    client_end
}

/// What every script starts from, set up through a server: ann, bob and cat
/// registered (passwords from [`password`]), ann and bob friends, `lobby` owned
/// by ann with bob in it. Set up once, then copied into each run's store (a
/// dozen argon2 hashes and store round trips per run otherwise).
fn template() -> &'static Entries {
    static TEMPLATE: OnceLock<Entries> = OnceLock::new();
    TEMPLATE.get_or_init(|| {
        let backend = MemoryBackend::new();
        let store = KvStore::open(backend.clone()).expect("an empty store opens");
        block_on(async {
            let server = Server::new(Arc::new(store), fuzz_config(0)).expect("config");
            let (ann, _) = Client::connect(connect(&server)).await.expect("hello");
            for name in ["ann", "bob", "cat"] {
                ann.register(name, &password(name)).await.expect("register");
            }
            ann.login("ann", &password("ann")).await.expect("login");
            let (bob, _) = Client::connect(connect(&server)).await.expect("hello");
            bob.login("bob", &password("bob")).await.expect("login");
            ann.friend_request("bob", "hi").await.expect("request");
            bob.respond_friend("ann", true).await.expect("accept");
            ann.create_room("lobby").await.expect("create");
            bob.join_room("lobby").await.expect("join");
            // Every ack the drivers owe is in before the answer to a request.
            ann.ping().await.expect("ping");
            bob.ping().await.expect("ping");
            drop((ann, bob));
            server.shutdown().await;
        });
        backend
            .scan(&[], &[0xff; 64], false, usize::MAX)
            .expect("the template store reads")
    })
}

/// A store holding a copy of the [`template`].
fn fresh_store() -> MemoryStore {
    let backend = MemoryBackend::new();
    let batch = template()
        .iter()
        .map(|(key, value)| (key.clone(), Some(value.clone())))
        .collect();
    backend.commit(batch).expect("a memory commit");
    KvStore::open(backend).expect("a copy of the template opens")
}

async fn run_engine(store: MemoryStore, script: &Script) {
    let replace_old = script.flags & 2 != 0;
    let server = Server::new(Arc::new(store), fuzz_config(script.flags)).expect("config");

    // Honest clients: ann and bob, logged in. Their events are acked by their
    // drivers; nobody needs to read them.
    let (ann, _) = Client::connect(connect(&server)).await.expect("hello");
    ann.login("ann", &password("ann")).await.expect("login");
    let (bob, _) = Client::connect(connect(&server)).await.expect("hello");
    bob.login("bob", &password("bob")).await.expect("login");

    let mut raw = Raw::new(&server);
    for step in &script.steps {
        raw.step(step).await;
    }
    // The fuzzed connection, if it is still up and past its hello, still answers.
    if matches!(
        raw.model.phase(),
        Phase::Anonymous | Phase::Authenticated(_)
    ) {
        let ping = raw.request(Request::Ping);
        raw.exchange(vec![ping]).await;
    }
    raw.hang_up().await;

    // The honest clients are still served (unless a login replaced them).
    for (name, client) in [("ann", &ann), ("bob", &bob)] {
        match client.ping().await {
            Ok(()) => {}
            Err(ClientError::Closed) if replace_old => {}
            Err(e) => panic!("honest client {name} was not served after the script: {e}"),
        }
    }
    // So is a new client, and bob can log in (unless the script throttled him).
    let (fresh, _events) = Client::connect(connect(&server))
        .await
        .expect("a new client gets a hello");
    fresh.ping().await.expect("a new client can ping");
    match fresh.login("bob", &password("bob")).await {
        Ok(name) => assert_eq!(name, "bob"),
        Err(ClientError::Refused(ErrorCode::RateLimited)) => {}
        Err(e) => panic!("bob could not log in after the script: {e}"),
    }
    drop((ann, bob, fresh));
    server.shutdown().await;
    assert_eq!(
        server.online_count(),
        0,
        "users left online after every connection closed"
    );
}

/// What a sent frame must be answered with.
#[derive(Debug)]
enum Expect {
    /// The server's hello.
    Greet,
    /// A response to this request (refused with this code, if given).
    Answer {
        req_id: u32,
        request: Request,
        refused: Option<ErrorCode>,
    },
    /// The end of a login backlog.
    CaughtUp,
    /// Hello (if `greet`), `Closing { code }`, then the end of the stream.
    Close { code: ErrorCode, greet: bool },
}

/// An upload this connection offered.
#[derive(Debug)]
struct Upload {
    file: ItemId,
    size: u64,
    sent: u64,
}

/// The fuzzed raw connection and what the script learnt from the server.
struct Raw<'a> {
    server: &'a Server,
    conn: Option<MemoryClientConnection>,
    /// Mirror of the server's session for this connection.
    model: Session,
    next_req: u32,
    /// Inbox ids seen (for `Ask::AckSeen`).
    inbox: Vec<ItemId>,
    /// File ids seen (for downloads).
    files: Vec<ItemId>,
    /// Uploads of the current connection.
    uploads: Vec<Upload>,
}

impl<'a> Raw<'a> {
    fn new(server: &'a Server) -> Self {
        Raw {
            server,
            conn: Some(connect(server)),
            model: Session::new(),
            next_req: FIRST_REQ_ID,
            inbox: Vec::new(),
            files: Vec::new(),
            uploads: Vec::new(),
        }
    }

    fn request(&mut self, request: Request) -> ClientFrame {
        self.next_req = self.next_req.wrapping_add(1);
        ClientFrame::Request {
            req_id: self.next_req,
            request,
        }
    }

    async fn step(&mut self, step: &Step) {
        match step {
            Step::Hello => self.exchange(vec![hello(PROTOCOL_VERSION)]).await,
            Step::Frame(frame) => self.exchange(vec![frame.clone()]).await,
            Step::Ask(ask) => {
                let request = self.build(ask);
                let frame = self.request(request);
                self.exchange(vec![frame]).await;
            }
            Step::Pipelined(asks) => {
                let frames = asks
                    .iter()
                    .take(MAX_PIPELINED)
                    .map(|ask| match ask {
                        // The model can only predict a batch whose phase stays put.
                        Ask::Login { .. } | Ask::Logout => Request::Ping,
                        ask => self.build(ask),
                    })
                    .collect::<Vec<_>>()
                    .into_iter()
                    .map(|request| self.request(request))
                    .collect();
                self.exchange(frames).await;
            }
            Step::Reconnect { hello: say_hello } => {
                self.hang_up().await;
                self.conn = Some(connect(self.server));
                self.model = Session::new();
                if *say_hello {
                    self.exchange(vec![hello(PROTOCOL_VERSION)]).await;
                }
            }
            Step::Close => {
                self.hang_up().await;
                self.model.close();
            }
            Step::LoggedIn(i) => {
                let frame = self.request(login(*i, true));
                self.exchange(vec![frame]).await;
            }
            Step::LoggedOut => {
                let frame = self.request(Request::Logout);
                self.exchange(vec![frame]).await;
            }
        }
    }

    /// The request a dictionary step stands for, given what was learnt so far.
    fn build(&self, ask: &Ask) -> Request {
        let upload = |i: u8| {
            (!self.uploads.is_empty()).then(|| &self.uploads[usize::from(i) % self.uploads.len()])
        };
        match ask {
            Ask::Ping => Request::Ping,
            Ask::Register {
                user,
                good_password,
            } => Request::Register {
                username: user_name(*user).into(),
                password: if *good_password {
                    password(user_name(*user))
                } else {
                    "short".into()
                },
            },
            Ask::Login {
                user,
                good_password,
            } => login(*user, *good_password),
            Ask::Logout => Request::Logout,
            Ask::SearchUsers { query, limit } => Request::SearchUsers {
                query: ["a", "", "ANN", "o"][usize::from(*query) % 4].into(),
                limit: u32::from(*limit),
            },
            Ask::FriendRequest { user, long_note } => Request::FriendRequest {
                to: user_name(*user).into(),
                note: if *long_note {
                    "n".repeat(limits::MAX_NOTE_LEN + 1)
                } else {
                    "let's be friends".into()
                },
            },
            Ask::FriendRespond { user, accept } => Request::FriendRespond {
                from: user_name(*user).into(),
                accept: *accept,
            },
            Ask::RemoveFriend { user } => Request::RemoveFriend {
                user: user_name(*user).into(),
            },
            Ask::Block { user } => Request::Block {
                user: user_name(*user).into(),
            },
            Ask::Unblock { user } => Request::Unblock {
                user: user_name(*user).into(),
            },
            Ask::ListFriends => Request::ListFriends,
            Ask::OnlineFriends => Request::OnlineFriends,
            Ask::OnlineCount => Request::OnlineCount,
            Ask::Send {
                to,
                client_msg_id,
                text: t,
            } => Request::Send {
                to: peer(*to),
                client_msg_id: u64::from(*client_msg_id),
                body: Body::Text(text(*t)),
            },
            Ask::AckSeen => Request::Ack {
                ids: self.inbox.clone(),
            },
            Ask::History {
                peer: p,
                before_seq,
                limit,
            } => Request::History {
                peer: peer(*p),
                before_seq: before_seq.map(u64::from),
                limit: u32::from(*limit),
            },
            Ask::CreateRoom { room } => Request::CreateRoom {
                name: room_name(*room).into(),
            },
            Ask::JoinRoom { room } => Request::JoinRoom {
                name: room_name(*room).into(),
            },
            Ask::LeaveRoom { room } => Request::LeaveRoom {
                name: room_name(*room).into(),
            },
            Ask::DeleteRoom { room } => Request::DeleteRoom {
                name: room_name(*room).into(),
            },
            Ask::ListRooms => Request::ListRooms,
            Ask::Members { room } => Request::Members {
                room: room_name(*room).into(),
            },
            Ask::OfferFile {
                to,
                name,
                size,
                good_hash,
            } => {
                let size = u64::from(*size);
                Request::OfferFile {
                    to: peer(*to),
                    name: FILE_NAMES[usize::from(*name) % FILE_NAMES.len()].into(),
                    size,
                    sha256: if *good_hash {
                        Sha256::digest(file_content(size)).into()
                    } else {
                        [0; 32]
                    },
                }
            }
            Ask::UploadChunk { file, bad } => match upload(*file) {
                Some(up) => {
                    let content = file_content(up.size);
                    let end = up.size.min(up.sent + u64::from(CHUNK));
                    let mut bytes = content[up.sent as usize..end as usize].to_vec();
                    if *bad {
                        bytes.push(0);
                    }
                    Request::UploadChunk {
                        file: up.file,
                        offset: up.sent,
                        bytes,
                    }
                }
                None => Request::UploadChunk {
                    file: u64::from(*file),
                    offset: 0,
                    bytes: vec![1, 2, 3],
                },
            },
            Ask::CompleteFile { file } => Request::CompleteFile {
                file: upload(*file).map_or(u64::from(*file), |up| up.file),
            },
            Ask::ListFiles { peer: p } => Request::ListFiles { peer: peer(*p) },
            Ask::DownloadChunk { file, offset, len } => Request::DownloadChunk {
                file: if self.files.is_empty() {
                    u64::from(*file)
                } else {
                    self.files[usize::from(*file) % self.files.len()]
                },
                offset: u64::from(*offset),
                len: u32::from(*len),
            },
        }
    }

    /// Sends frames the mirror session lets through, then awaits and checks
    /// every answer.
    async fn exchange(&mut self, frames: Vec<ClientFrame>) {
        let mut expect = Vec::new();
        for frame in frames {
            let action = self.model.on_frame(frame.clone());
            if action == Action::Ignore && *self.model.phase() == Phase::Closed {
                // The connection is gone, nothing is sent.
                continue;
            }
            let conn = self
                .conn
                .as_mut()
                .expect("an open session has a connection");
            conn.send(frame.clone())
                .await
                .unwrap_or_else(|e| panic!("the server hung up before {frame:?}: {e}"));
            expect.push(match action {
                // Not answered.
                Action::Acknowledge { .. } | Action::Ignore => continue,
                Action::Greet => Expect::Greet,
                Action::Dispatch { req_id, request } => Expect::Answer {
                    req_id,
                    request,
                    refused: None,
                },
                Action::Refuse { req_id, code } => {
                    let ClientFrame::Request { request, .. } = frame else {
                        unreachable!("only requests are refused")
                    };
                    Expect::Answer {
                        req_id,
                        request,
                        refused: Some(code),
                    }
                }
                Action::Close { code, greet } => Expect::Close { code, greet },
            });
            if matches!(expect.last(), Some(Expect::Close { .. })) {
                break;
            }
        }
        self.await_answers(expect).await;
    }

    /// Reads until every expectation is met; checks whatever arrives meanwhile.
    async fn await_answers(&mut self, mut expect: Vec<Expect>) {
        let mut closing = false;
        while !expect.is_empty() {
            let conn = self
                .conn
                .as_mut()
                .expect("awaiting answers on a connection");
            let frame = match conn.next().await {
                Some(Ok(frame)) => frame,
                Some(Err(e)) => panic!("the raw connection failed: {e}"),
                None => {
                    assert!(
                        closing && matches!(expect[..], [Expect::Close { .. }]),
                        "the server closed the connection while {expect:?} was due"
                    );
                    self.conn = None;
                    return;
                }
            };
            match frame {
                ServerFrame::Hello { version, .. } => {
                    assert_eq!(version, self.model.version());
                    // A hello is sent alone, so it is all that is due.
                    match expect.as_mut_slice() {
                        [Expect::Greet] => expect.clear(),
                        [Expect::Close { greet, .. }] if *greet => *greet = false,
                        _ => panic!("an unexpected server hello while {expect:?} was due"),
                    }
                }
                ServerFrame::Response { req_id, result } => {
                    let at = expect
                        .iter()
                        .position(|e| matches!(e, Expect::Answer { req_id: r, .. } if *r == req_id))
                        .unwrap_or_else(|| {
                            panic!(
                                "an unsolicited response to {req_id}: {result:?}; due: {expect:?}"
                            )
                        });
                    let Expect::Answer {
                        request, refused, ..
                    } = expect.remove(at)
                    else {
                        unreachable!()
                    };
                    if self.check_answer(request, refused, result) {
                        // The login backlog ends before anything else is answered.
                        expect.insert(0, Expect::CaughtUp);
                    }
                }
                ServerFrame::Event(event) => match event {
                    Event::CaughtUp => {
                        assert!(
                            matches!(expect.first(), Some(Expect::CaughtUp)),
                            "CaughtUp out of turn; due: {expect:?}"
                        );
                        expect.remove(0);
                    }
                    Event::Closing { code } => {
                        assert!(
                            matches!(expect[..], [Expect::Close { code: c, greet: false }] if c == code),
                            "an unexpected Closing({code:?}); due: {expect:?}"
                        );
                        closing = true;
                    }
                    event => self.note_event(event),
                },
            }
        }
    }

    /// Checks one answer; returns whether it was a successful login.
    fn check_answer(
        &mut self,
        request: Request,
        refused: Option<ErrorCode>,
        result: Result<Response, ErrorCode>,
    ) -> bool {
        if let Some(code) = refused {
            assert_eq!(result, Err(code), "{request:?} should have been refused");
            return false;
        }
        if let Request::CompleteFile { file } = &request {
            // Whatever the outcome, the upload is over (unless there was none).
            if result != Err(ErrorCode::NoSuchFile) {
                let at = self.uploads.iter().position(|u| u.file == *file);
                let up = self
                    .uploads
                    .remove(at.expect("completed an upload this connection offered"));
                if result.is_ok() {
                    assert_eq!(up.sent, up.size, "completed an unfinished upload");
                }
            }
        }
        let response = match result {
            Ok(response) => response,
            Err(code) => {
                assert!(
                    !matches!(
                        code,
                        ErrorCode::Internal
                            | ErrorCode::ProtocolViolation
                            | ErrorCode::NotAuthenticated
                            | ErrorCode::AlreadyAuthenticated
                    ),
                    "{request:?} was refused {code:?}"
                );
                return false;
            }
        };
        assert!(
            fits(&request, &response),
            "{response:?} does not answer {request:?}"
        );
        match (&request, response) {
            (Request::Login { username, .. }, Response::LoggedIn { user }) => {
                assert!(
                    user.eq_ignore_ascii_case(username),
                    "logged in as {user} for {username}"
                );
                self.model.logged_in(User {
                    id: UserId(0),
                    name: user,
                });
                return true;
            }
            (Request::Logout, _) => {
                assert!(self.model.logged_out().is_some());
            }
            (Request::SearchUsers { limit, .. }, Response::Users(users)) => {
                assert!(users.len() <= (*limit).min(limits::MAX_SEARCH_RESULTS) as usize);
            }
            (Request::History { limit, .. }, Response::History(page)) => {
                assert!(page.len() <= (*limit).min(limits::MAX_HISTORY_PAGE) as usize);
                assert!(
                    page.windows(2).all(|w| w[0].seq > w[1].seq),
                    "history is not newest first"
                );
            }
            (Request::OfferFile { size, .. }, Response::FileOffered { file, chunk_size }) => {
                assert_eq!(chunk_size, CHUNK);
                self.uploads.push(Upload {
                    file,
                    size: *size,
                    sent: 0,
                });
                self.files.push(file);
            }
            (
                Request::UploadChunk {
                    file,
                    offset,
                    bytes,
                },
                _,
            ) => {
                let up = self
                    .uploads
                    .iter_mut()
                    .find(|u| u.file == *file)
                    .expect("a chunk was accepted for an upload this connection offered");
                assert_eq!(*offset, up.sent, "a chunk accepted out of order");
                up.sent += bytes.len() as u64;
                assert!(up.sent <= up.size, "more bytes accepted than offered");
            }
            (Request::ListFiles { .. }, Response::Files(files)) => {
                self.files.extend(files.iter().map(|f| f.id));
            }
            (Request::DownloadChunk { len, .. }, Response::Chunk(bytes)) => {
                assert!(bytes.len() <= (*len).min(CHUNK) as usize);
            }
            _ => {}
        }
        false
    }

    fn note_event(&mut self, event: Event) {
        if let Some(id) = event.inbox_id() {
            if self.inbox.len() < limits::MAX_ACK_IDS {
                self.inbox.push(id);
            }
        }
        if let Event::FileShared { id, .. } = event {
            self.files.push(id);
        }
    }

    /// Ends the current connection and waits until the server has let it go.
    async fn hang_up(&mut self) {
        if let Some(mut conn) = self.conn.take() {
            let _ = conn.close().await;
            while let Some(frame) = conn.next().await {
                match frame {
                    Ok(ServerFrame::Event(event)) => self.note_event(event),
                    other => panic!("{other:?} after hanging up with nothing due"),
                }
            }
        }
        self.uploads.clear();
    }
}

/// Whether `response` is the kind of answer `request` gets.
fn fits(request: &Request, response: &Response) -> bool {
    use Request as Q;
    use Response as R;
    matches!(
        (request, response),
        (Q::Ping, R::Pong)
            | (Q::Login { .. }, R::LoggedIn { .. })
            | (Q::SearchUsers { .. } | Q::OnlineFriends, R::Users(_))
            | (Q::FriendRequest { .. }, R::FriendRequested { .. })
            | (Q::ListFriends, R::Friends(_))
            | (Q::OnlineCount, R::Count(_))
            | (Q::Send { .. }, R::Sent { .. })
            | (Q::History { .. }, R::History(_))
            | (Q::ListRooms, R::Rooms(_))
            | (Q::Members { .. }, R::Members(_))
            | (Q::OfferFile { .. }, R::FileOffered { .. })
            | (Q::ListFiles { .. }, R::Files(_))
            | (Q::DownloadChunk { .. }, R::Chunk(_))
            | (
                Q::Register { .. }
                    | Q::Logout
                    | Q::FriendRespond { .. }
                    | Q::RemoveFriend { .. }
                    | Q::Block { .. }
                    | Q::Unblock { .. }
                    | Q::Ack { .. }
                    | Q::CreateRoom { .. }
                    | Q::JoinRoom { .. }
                    | Q::LeaveRoom { .. }
                    | Q::DeleteRoom { .. }
                    | Q::UploadChunk { .. }
                    | Q::CompleteFile { .. },
                R::Done
            )
    )
}
