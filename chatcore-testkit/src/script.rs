//! Session scripts, the input of the `session` fuzz target: a flags byte, then
//! postcard-encoded [`Step`]s. [`Ask`] steps draw their fields from small
//! dictionaries ([`USERS`], [`ROOMS`], right passwords, files the connection
//! offered) so that a fuzzer reaches the deep paths.

use chatcore::engine::testkit::password;
use chatcore::protocol::{limits, ClientFrame, List, Peer, Request};
use serde::{Deserialize, Serialize};

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
/// File names offers use.
pub(crate) const FILE_NAMES: [&str; 4] = ["notes.txt", "..", "dir/file", "photo.jpg"];

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
    /// A page of the list `list` picks (users by the first letters of
    /// `target`'s name, friends, rooms, `target`'s members, files or history);
    /// `after`: a cursor, a number if even, else a dictionary user's name.
    Page {
        list: u8,
        target: Target,
        after: Option<u8>,
        limit: u8,
    },
    /// Logs in as a new device "fuzz", or (with `known`) as that device id.
    LoginDevice {
        user: u8,
        good_password: bool,
        known: Option<u8>,
    },
    Devices,
    Typing {
        to: Target,
    },
    MarkRead {
        peer: Target,
        seq: u8,
    },
    SetReadReceipts {
        on: bool,
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

// ---- what the dictionary indices stand for (shared by both checks) ----

pub(crate) fn user_name(i: u8) -> &'static str {
    USERS[usize::from(i) % USERS.len()]
}

pub(crate) fn room_name(i: u8) -> &'static str {
    ROOMS[usize::from(i) % ROOMS.len()]
}

pub(crate) fn peer(target: Target) -> Peer {
    match target {
        Target::User(i) => Peer::User(user_name(i).into()),
        Target::Room(i) => Peer::Room(room_name(i).into()),
    }
}

/// The list an [`Ask::Page`] reads.
pub(crate) fn list(list: u8, target: Target) -> List {
    let name = match target {
        Target::User(i) => user_name(i),
        Target::Room(i) => room_name(i),
    };
    match list % 6 {
        0 => List::Users {
            prefix: name[..name.len().min(2)].into(),
        },
        1 => List::Friends,
        2 => List::Rooms,
        3 => List::Members { room: name.into() },
        4 => List::Files { peer: peer(target) },
        _ => List::History { peer: peer(target) },
    }
}

/// The cursor an [`Ask::Page`] passes.
pub(crate) fn cursor(after: Option<u8>) -> Option<String> {
    after.map(|i| {
        if i % 2 == 0 {
            i.to_string()
        } else {
            user_name(i).to_lowercase()
        }
    })
}

pub(crate) fn text(i: u8) -> String {
    match i % 5 {
        0 => "hi".into(),
        1 => "hello 👋 ✓".into(),
        2 => String::new(),
        3 => "a".repeat(limits::MAX_TEXT_LEN),
        _ => "a".repeat(limits::MAX_TEXT_LEN + 1),
    }
}

pub(crate) fn file_content(size: u64) -> Vec<u8> {
    (0..size).map(|i| i as u8).collect()
}

pub(crate) fn hello(version: u16) -> ClientFrame {
    ClientFrame::Hello {
        version,
        client: "fuzz".into(),
    }
}

pub(crate) fn login(user: u8, good_password: bool) -> Request {
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
