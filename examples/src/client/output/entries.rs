//! The entries of `chat-client`'s lines: a message, a room, a member, a file,
//! a friend, a device, an unread conversation, each with its JSON shape.

use chatcore::protocol::{
    Body, DeviceInfo, FileInfo, FriendEntry, FriendState, MemberEntry, Message, Peer, RoomInfo,
    Unread,
};
use serde::Serialize;

/// A room message, as a `room_message` event.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct RoomMessageLine {
    /// The room.
    pub room: String,
    /// The server's message id.
    pub id: u64,
    /// Position in the room, from 1.
    pub seq: u64,
    /// The sender.
    pub from: String,
    /// The text.
    pub text: String,
    /// Server time, ms since the Unix epoch.
    pub ts: u64,
}

/// One conversation of an `unread` event.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct UnreadLine {
    /// The user, or `#room`.
    pub peer: String,
    /// Messages from others after your read mark.
    pub unread: u64,
    /// Your read mark.
    pub read_seq: u64,
    /// The conversation's newest seq.
    pub last_seq: u64,
}

impl From<Unread> for UnreadLine {
    fn from(u: Unread) -> Self {
        UnreadLine {
            peer: peer_name(u.peer),
            unread: u.unread,
            read_seq: u.read_seq,
            last_seq: u.last_seq,
        }
    }
}

/// One entry of `devices`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct DeviceLine {
    /// Its id.
    pub id: u64,
    /// Its name.
    pub name: String,
    /// When it last logged in or out, ms since the Unix epoch.
    pub last_seen: u64,
    /// It has a session now.
    pub online: bool,
}

impl From<DeviceInfo> for DeviceLine {
    fn from(d: DeviceInfo) -> Self {
        DeviceLine {
            id: d.id,
            name: d.name,
            last_seen: d.last_seen,
            online: d.online,
        }
    }
}

/// One entry of `rooms`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct RoomLine {
    /// The room.
    pub name: String,
    /// Its owner.
    pub owner: String,
    /// How many members it has.
    pub members: u32,
    /// Whether you are one of them.
    pub joined: bool,
}

impl From<RoomInfo> for RoomLine {
    fn from(r: RoomInfo) -> Self {
        RoomLine {
            name: r.name,
            owner: r.owner,
            members: r.members,
            joined: r.joined,
        }
    }
}

/// One entry of `members`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct MemberLine {
    /// The member.
    pub user: String,
    /// Online now.
    pub online: bool,
}

impl From<MemberEntry> for MemberLine {
    fn from(m: MemberEntry) -> Self {
        MemberLine {
            user: m.user,
            online: m.online,
        }
    }
}

/// One entry of `files`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct FileLine {
    /// The file id (for `download`).
    pub id: u64,
    /// The uploader.
    pub from: String,
    /// The recipient, or `#room`.
    pub to: String,
    /// The file name.
    pub name: String,
    /// Size in bytes.
    pub size: u64,
    /// SHA-256 of the content, lower-case hex.
    pub sha256: String,
    /// Server time the upload completed, ms since the Unix epoch.
    pub ts: u64,
}

impl From<FileInfo> for FileLine {
    fn from(f: FileInfo) -> Self {
        FileLine {
            id: f.id,
            from: f.from,
            to: peer_name(f.to),
            name: f.name,
            size: f.size,
            sha256: hex::encode(f.sha256),
            ts: f.ts,
        }
    }
}

/// A relationship state, as in `friends` and `add`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum State {
    /// Friends.
    Friends,
    /// You asked them.
    RequestSent,
    /// They asked you.
    RequestReceived,
    /// You blocked them.
    Blocked,
}

impl From<FriendState> for State {
    fn from(s: FriendState) -> Self {
        match s {
            FriendState::Friends => State::Friends,
            FriendState::RequestSent => State::RequestSent,
            FriendState::RequestReceived => State::RequestReceived,
            FriendState::Blocked => State::Blocked,
        }
    }
}

/// One entry of `friends`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct FriendLine {
    /// The other user.
    pub user: String,
    /// Online now (always `false` unless `state` is `friends`).
    pub online: bool,
    /// Where you stand.
    pub state: State,
}

impl From<FriendEntry> for FriendLine {
    fn from(e: FriendEntry) -> Self {
        FriendLine {
            user: e.user,
            online: e.online,
            state: e.state.into(),
        }
    }
}

/// A message, as a `message` event or an entry of `history`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct MessageLine {
    /// The server's message id.
    pub id: u64,
    /// Position in the conversation, from 1.
    pub seq: u64,
    /// The sender.
    pub from: String,
    /// The recipient user (a room would be `#name`).
    pub to: String,
    /// The text.
    pub text: String,
    /// Server time, ms since the Unix epoch.
    pub ts: u64,
}

impl From<Message> for MessageLine {
    fn from(m: Message) -> Self {
        let Body::Text(text) = m.body;
        MessageLine {
            id: m.id,
            seq: m.seq,
            from: m.from,
            to: peer_name(m.to),
            text,
            ts: m.ts,
        }
    }
}

/// A user by name, a room as `#name`.
pub fn peer_name(peer: Peer) -> String {
    match peer {
        Peer::User(name) => name,
        Peer::Room(name) => format!("#{name}"),
    }
}
