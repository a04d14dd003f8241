//! The wire protocol: frames, requests, responses, events, error codes and the codec.
//!
//! # Compatibility
//!
//! Frames are postcard-encoded, and postcard encodes an enum variant by its position.
//! So every enum here is append-only: new variants go at the end, existing ones are
//! never reordered or removed, and the golden-byte tests in `tests/it/golden.rs` fail if
//! one is. The first frame each way is a hello carrying [`PROTOCOL_VERSION`];
//! `ClientFrame::Hello` and `ServerFrame::Hello` stay variant 0 forever, with the
//! version as their first field, so any version can read the other's hello.

mod codec;
mod error_code;
mod event;
mod human;
pub mod limits;
mod names;
mod redact;

pub use codec::{decode_frame, encode_frame, CodecError, FrameCodec, DEFAULT_MAX_FRAME_LEN};
pub use error_code::ErrorCode;
pub use event::{Event, Unread};
pub use names::{is_valid_device_name, is_valid_file_name, is_valid_name};
pub(crate) use redact::Redacted;

use serde::{Deserialize, Serialize};

/// The newest protocol version this build speaks.
///
/// A connection uses the lower of the client's and the server's newest versions,
/// as long as it is no older than the server's [`OLDEST_PROTOCOL_VERSION`]; the
/// server's hello names it. Versions:
///
/// 1. The first.
/// 2. [`ClientFrame::Ack`]: acks without an answer.
/// 3. [`Request::Page`]: every list (and history) in pages that fit a frame,
///    with a cursor to the next.
/// 4. Devices: [`Request::LoginDevice`] (the server issues a device id at a
///    device's first login), [`Request::Devices`], [`Request::RevokeDevice`].
///    A [`Request::Login`] names no device, as before. Typing notices:
///    [`Request::Typing`], [`Event::Typing`].
/// 5. Sync from a cursor: everything a user must not miss comes as
///    [`ServerFrame::Item`]s of their stream, acked cumulatively with
///    [`ClientFrame::AckUpTo`] (each device keeps its own position; a
///    [`Request::Login`] is the user's default device). A user's own messages
///    reach their other devices; receipts are cumulative marks per
///    conversation ([`Event::DeliveredTo`], live and at login); read marks ([`Request::MarkRead`],
///    [`Event::ReadUpTo`], [`Event::Read`], [`Request::SetReadReceipts`]);
///    unread counts at login ([`Event::Unread`]); [`Event::FellBehind`].
///    Sessions of older versions get their stream as `Event` frames acked by
///    id, as before, and nothing newer than their version.
pub const PROTOCOL_VERSION: u16 = 5;

/// The oldest protocol version this build still speaks.
pub const OLDEST_PROTOCOL_VERSION: u16 = 1;

/// Server-assigned id of a message or of any other item delivered through a user's
/// stream. Ids increase in the order the server stored the items.
pub type ItemId = u64;

/// Milliseconds since the Unix epoch, as stamped by the server.
pub type Timestamp = u64;

/// A frame sent by a client.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum ClientFrame {
    /// The first frame of every connection.
    Hello {
        /// The newest version the client speaks (its [`PROTOCOL_VERSION`]).
        version: u16,
        /// Free-form client name and version, for logs.
        client: String,
    },
    /// A request; answered by exactly one [`ServerFrame::Response`] with the same `req_id`.
    Request {
        /// Chosen by the client, echoed in the response.
        req_id: u32,
        /// What the client asks for.
        request: Request,
    },
    /// Acknowledges items by id like [`Request::Ack`], but is not answered
    /// (protocol version 2). It takes its turn among the requests: the answer to a
    /// later request means it is committed. If it cannot be carried out (not
    /// logged in, or a storage failure), the items stay in the stream and are
    /// delivered again at the next login; more than
    /// [`limits::MAX_ACK_IDS`] ids close the connection with `InvalidArgument`.
    Ack {
        /// Inbox item ids, as in [`Request::Ack`].
        ids: Vec<ItemId>,
    },
    /// Acknowledges every item of the user's stream up to `pos` for this
    /// session's device (protocol version 5): the device's position moves
    /// there, and a later login of it starts after `pos`. Cumulative: send the
    /// position of the last [`ServerFrame::Item`] handed to the application;
    /// an older or repeated position changes nothing. Not answered, and
    /// ordered among the requests like [`ClientFrame::Ack`].
    AckUpTo {
        /// The position of an item this connection was sent.
        pos: u64,
    },
}

/// A frame sent by the server.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum ServerFrame {
    /// The answer to the client's hello.
    Hello {
        /// The version this connection uses: the lower of the client's and the
        /// server's [`PROTOCOL_VERSION`]. If the client's is too old, the
        /// server's own, followed by `Closing { UnsupportedVersion }`.
        version: u16,
        /// Free-form server name and version.
        server: String,
    },
    /// The one answer to a request.
    Response {
        /// The request's `req_id`.
        req_id: u32,
        /// The outcome.
        result: Result<Response, ErrorCode>,
    },
    /// Something the server pushes unasked.
    Event(Event),
    /// An item of the user's stream (protocol version 5): what the user must not
    /// miss, at its position. A connection gets the items past its device's
    /// position in order, each once, then `Event::CaughtUp`, then new ones as
    /// they come; ack them with [`ClientFrame::AckUpTo`].
    Item {
        /// Its place in the user's stream: positions increase by one.
        pos: u64,
        /// What it is.
        event: Event,
    },
}

/// The other side of a conversation: a user or a room.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub enum Peer {
    /// A user, by name.
    User(String),
    /// A room, by name.
    Room(String),
}

/// What a message carries. An enum so that other kinds (reactions, edits, read
/// receipts) can be appended later.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum Body {
    /// Any Unicode text; it round-trips byte for byte.
    Text(String),
}

/// A chat message as stored and delivered.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Message {
    /// Server id: what a session older than protocol version 5 acks it by, and
    /// what an older sender's `Delivered` receipt names (newer ones get
    /// `DeliveredTo` with the seq).
    pub id: ItemId,
    /// Position in its conversation, from 1, assigned by the server.
    pub seq: u64,
    /// The sender's name (taken from the sender's session, never from the client).
    pub from: String,
    /// The recipient user or room.
    pub to: Peer,
    /// The content.
    pub body: Body,
    /// Server time of storing.
    pub ts: Timestamp,
}

/// A request a client may send inside [`ClientFrame::Request`].
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum Request {
    /// Liveness check; answered `Ok(Response::Pong)`.
    Ping,
    /// Create an account. Does not log in.
    Register {
        /// 3 to 32 letters, digits, `_`, `-`, `.`; unique without regard to case.
        username: String,
        /// 8 to 1024 bytes.
        password: String,
    },
    /// Log in (as the user's default device); answered `Ok(Response::LoggedIn)`,
    /// then the backlog (the stream past the device's position) and
    /// `Event::CaughtUp` follow.
    Login {
        /// The account name (any case).
        username: String,
        /// The password.
        password: String,
    },
    /// Log out; the connection stays open and anonymous.
    Logout,
    /// Users whose name starts with `query` (case-insensitive), in name order,
    /// at most `limit` of them. (Before protocol version 3 servers matched
    /// anywhere in the name.) [`List::Users`] pages through all of them.
    SearchUsers {
        /// Name prefix to look for.
        query: String,
        /// Maximum result count (the server caps it).
        limit: u32,
    },
    /// Ask `to` to become friends.
    FriendRequest {
        /// The user asked.
        to: String,
        /// A note shown with the request.
        note: String,
    },
    /// Accept or reject a pending request from `from`.
    FriendRespond {
        /// Who sent the request.
        from: String,
        /// Accept (true) or reject (false).
        accept: bool,
    },
    /// End a friendship (both sides).
    RemoveFriend {
        /// The friend.
        user: String,
    },
    /// Block a user: no requests or messages from them; ends any friendship.
    Block {
        /// The user to block.
        user: String,
    },
    /// Lift a block.
    Unblock {
        /// The blocked user.
        user: String,
    },
    /// Friends and pending requests, with presence: the first page of
    /// [`List::Friends`] (all of them unless there are very many).
    ListFriends,
    /// Names of the friends online now.
    OnlineFriends,
    /// How many users are online now.
    OnlineCount,
    /// Send a message; answered `Ok(Response::Sent)` once it is stored durably.
    Send {
        /// Recipient user or room.
        to: Peer,
        /// Client-chosen id, unique within the conversation (this sender and
        /// `to`): a retry with the same id and body is answered with the first
        /// answer and stores nothing twice; the same id with another body is
        /// refused `ClientMsgIdReused`. The server remembers ids for its
        /// retention period (`ServerConfig::send_record_retention`, 7 days by
        /// default); a retry after that is stored as a new message. Ids that
        /// grow with time are kept more cheaply (a store packs them together):
        /// `client::fresh_client_msg_id` makes such ids.
        client_msg_id: u64,
        /// The content.
        body: Body,
    },
    /// Acknowledge items by id: room messages (each moves your delivered
    /// position in its room) and, before protocol version 5, the stream's items
    /// (an id acks its item and every item sent before it).
    Ack {
        /// The item ids.
        ids: Vec<ItemId>,
    },
    /// A page of a conversation's history, newest first. The server may answer
    /// fewer than `limit` messages, however many remain, to fit its frame limit:
    /// page on with `before_seq` set to the oldest seq received until a page is
    /// empty, or use [`List::History`], whose answer says whether there is more.
    History {
        /// The conversation.
        peer: Peer,
        /// Only messages with `seq` below this (`None`: from the newest).
        before_seq: Option<u64>,
        /// Page size (the server caps it).
        limit: u32,
    },
    /// Create a room; the creator becomes its owner and first member.
    CreateRoom {
        /// Room name (same rules as usernames; unique without regard to case).
        name: String,
    },
    /// Join a room; answered `Done`, then its recent messages follow as events.
    JoinRoom {
        /// The room.
        name: String,
    },
    /// Leave a room.
    LeaveRoom {
        /// The room.
        name: String,
    },
    /// Delete a room (owner only); members get `RoomDeleted`.
    DeleteRoom {
        /// The room.
        name: String,
    },
    /// The rooms: the first page of [`List::Rooms`] (all of them unless there
    /// are very many).
    ListRooms,
    /// A room's members, with presence; for members only (else `NotRoomMember`).
    /// The first page of [`List::Members`].
    Members {
        /// The room.
        room: String,
    },
    /// Offer a file to a friend or a room; answered `FileOffered` with the id to
    /// upload to.
    OfferFile {
        /// Recipient user or room.
        to: Peer,
        /// A plain file name (no path).
        name: String,
        /// Exact size in bytes.
        size: u64,
        /// SHA-256 of the content.
        #[serde(with = "human::hex_sha256")]
        sha256: [u8; 32],
    },
    /// Upload the next chunk of an offered file. Chunks come in order, each
    /// exactly `chunk_size` bytes except the last.
    UploadChunk {
        /// From `FileOffered`.
        file: ItemId,
        /// Byte offset; must equal the bytes received so far.
        offset: u64,
        /// The chunk.
        #[serde(with = "human::base64_bytes")]
        bytes: Vec<u8>,
    },
    /// Finish an upload: the server checks size and SHA-256, then tells the
    /// recipient (or the room).
    CompleteFile {
        /// The file.
        file: ItemId,
    },
    /// Completed files of a conversation or room: the first page of
    /// [`List::Files`].
    ListFiles {
        /// The conversation.
        peer: Peer,
    },
    /// Read part of a completed file.
    DownloadChunk {
        /// The file.
        file: ItemId,
        /// Byte offset.
        offset: u64,
        /// Most bytes wanted (the server caps it at the chunk size).
        len: u32,
    },
    /// A page of a list (protocol version 3); answered [`Response::Page`]. A
    /// page holds at most `limit` items, at least one if any remain (the server caps it at
    /// [`limits::MAX_PAGE`], or [`limits::MAX_HISTORY_PAGE`] for history) and
    /// never more than fits in a frame; its `next` cursor, passed back as
    /// `after`, gets the following page.
    Page {
        /// Which list.
        list: List,
        /// Where to go on: a previous page's `next` (`None`: from the start).
        /// One the server cannot read is refused `InvalidArgument`.
        after: Option<String>,
        /// Most items wanted.
        limit: u32,
    },
    /// Log in as one of the user's devices (protocol version 4); answered
    /// [`Response::LoggedInDevice`] with the device's id, which the client
    /// keeps and presents again. Then, as after [`Request::Login`], the
    /// backlog and `Event::CaughtUp`.
    LoginDevice {
        /// The account name (any case).
        username: String,
        /// The password.
        password: String,
        /// A new device, or one the server issued before.
        device: DeviceClaim,
    },
    /// Your devices; answered [`Response::Devices`].
    Devices,
    /// Revoke one of your devices: its sessions are closed
    /// (`Event::Closing` with `ErrorCode::DeviceRevoked`) and its id no longer
    /// logs in (`ErrorCode::UnknownDevice`).
    RevokeDevice {
        /// The device.
        device: DeviceId,
    },
    /// Tell `to` (a friend, or a room you are in) that you are typing:
    /// answered `Done`; their online sessions get `Event::Typing` (never
    /// stored). Send it again while typing goes on: more than one per
    /// [`limits::TYPING_EVERY_MS`] to the same place is answered but not passed on.
    Typing {
        /// Where you are typing.
        to: Peer,
    },
    /// Mark the conversation with `peer` (a user, or a room you are in) read up
    /// to `seq` (protocol version 5); answered `Done`. Your devices get
    /// `Event::ReadUpTo` with what is left unread, and a user you chat with
    /// gets `Event::Read` unless you turned read receipts off. A mark never
    /// moves back.
    MarkRead {
        /// The conversation.
        peer: Peer,
        /// The newest seq read.
        seq: u64,
    },
    /// Whether others are told what you read (`Event::Read`; on by default);
    /// answered `Done` (protocol version 5).
    SetReadReceipts {
        /// Tell them.
        on: bool,
    },
}

/// A device's id: issued by the server at the device's first login.
pub type DeviceId = u64;

/// Which device a [`Request::LoginDevice`] is.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum DeviceClaim {
    /// A device logging in for the first time, named by the user (1 to
    /// [`limits::MAX_DEVICE_NAME_LEN`] bytes, no control characters): the
    /// server issues its id (refused `TooManyDevices` past the user's limit).
    New {
        /// Its name, e.g. "laptop".
        name: String,
    },
    /// A device the server issued `id` to (refused `UnknownDevice` if it was
    /// revoked or never issued to this user).
    Known {
        /// Its id.
        id: DeviceId,
    },
}

/// One row of [`Response::Devices`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DeviceInfo {
    /// The device's id.
    pub id: DeviceId,
    /// Its name.
    pub name: String,
    /// When it last logged in or out, ms since the epoch.
    pub last_seen: Timestamp,
    /// It has a session now.
    pub online: bool,
}

/// A list that [`Request::Page`] reads, and in which order.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum List {
    /// Users whose name starts with `prefix` (case-insensitive), in name order.
    Users {
        /// The name prefix (empty: every user).
        prefix: String,
    },
    /// Your friends, pending requests and blocks, with presence.
    Friends,
    /// Every room, in name order (without regard to case).
    Rooms,
    /// A room's members, with presence; for members only (else `NotRoomMember`).
    Members {
        /// The room.
        room: String,
    },
    /// Completed files of a conversation or room, oldest first.
    Files {
        /// The conversation.
        peer: Peer,
    },
    /// A conversation's history, newest first.
    History {
        /// The conversation.
        peer: Peer,
    },
}

/// One row of [`Response::Rooms`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RoomInfo {
    /// The room name.
    pub name: String,
    /// Its owner.
    pub owner: String,
    /// Member count.
    pub members: u32,
    /// Whether the asking user is a member.
    pub joined: bool,
}

/// One row of [`Response::Members`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct MemberEntry {
    /// The member.
    pub user: String,
    /// Online now.
    pub online: bool,
}

/// A completed file, as listed by [`Request::ListFiles`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FileInfo {
    /// File id (for download).
    pub id: ItemId,
    /// Uploader.
    pub from: String,
    /// Recipient user or room.
    pub to: Peer,
    /// Sanitised file name.
    pub name: String,
    /// Size in bytes.
    pub size: u64,
    /// SHA-256 of the content.
    #[serde(with = "human::hex_sha256")]
    pub sha256: [u8; 32],
    /// Server time the upload completed.
    pub ts: Timestamp,
}

/// How a user stands with another, as listed by [`Request::ListFriends`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum FriendState {
    /// Friends.
    Friends,
    /// You asked them; waiting for their answer.
    RequestSent,
    /// They asked you; waiting for your answer.
    RequestReceived,
    /// You blocked them.
    Blocked,
}

/// One row of [`Response::Friends`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FriendEntry {
    /// The other user.
    pub user: String,
    /// Where you stand.
    pub state: FriendState,
    /// Online now (only reported for friends; `false` otherwise).
    pub online: bool,
}

/// The payload of a successful response.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum Response {
    /// Done; nothing to report.
    Done,
    /// Answer to [`Request::Ping`].
    Pong,
    /// Logged in as `user` (the name as registered).
    LoggedIn {
        /// The canonical user name.
        user: String,
    },
    /// A list of user names.
    Users(Vec<String>),
    /// Friend request outcome: `true` if it made you friends at once (a crossing
    /// request), `false` if it is pending.
    FriendRequested {
        /// Whether the two are now friends.
        friends: bool,
    },
    /// The friend list.
    Friends(Vec<FriendEntry>),
    /// Online user count.
    Count(u64),
    /// A send was stored.
    Sent {
        /// Server id of the message.
        id: ItemId,
        /// Its seq in the conversation.
        seq: u64,
        /// Server timestamp.
        ts: Timestamp,
    },
    /// A history page, newest first.
    History(Vec<Message>),
    /// The room list.
    Rooms(Vec<RoomInfo>),
    /// A room's members.
    Members(Vec<MemberEntry>),
    /// A file offer was accepted: upload to `file` in chunks of `chunk_size`.
    FileOffered {
        /// The new file's id.
        file: ItemId,
        /// Every chunk but the last must have exactly this length.
        chunk_size: u32,
    },
    /// Completed files.
    Files(Vec<FileInfo>),
    /// Bytes of a file (empty at the end).
    Chunk(#[serde(with = "human::base64_bytes")] Vec<u8>),
    /// A page of a list, the answer to [`Request::Page`].
    Page {
        /// The items, of the list's kind.
        items: Items,
        /// The cursor of the next page, to pass as `after`; `None` at the end.
        /// Opaque: only the server that made it knows what it means.
        next: Option<String>,
    },
    /// Logged in as `user` on the device `device` (to [`Request::LoginDevice`]).
    LoggedInDevice {
        /// The canonical user name.
        user: String,
        /// The device's id: a new device keeps it and presents it next time.
        device: DeviceId,
    },
    /// Your devices, oldest first (to [`Request::Devices`]).
    Devices(Vec<DeviceInfo>),
}

/// The items of a [`Response::Page`]: one variant per [`List`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum Items {
    /// User names ([`List::Users`]).
    Users(Vec<String>),
    /// Friend list rows ([`List::Friends`]).
    Friends(Vec<FriendEntry>),
    /// Rooms ([`List::Rooms`]).
    Rooms(Vec<RoomInfo>),
    /// A room's members ([`List::Members`]).
    Members(Vec<MemberEntry>),
    /// Completed files ([`List::Files`]).
    Files(Vec<FileInfo>),
    /// Messages, newest first ([`List::History`]).
    History(Vec<Message>),
}
