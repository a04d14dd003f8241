//! [`Event`]: what the server pushes unasked.

use serde::{Deserialize, Serialize};

use super::{ErrorCode, ItemId, Message, Peer};

/// Something the server pushes unasked.
///
/// Messages, friend notices, receipts, read marks and 1:1 file shares are items
/// of the user's stream: from protocol version 5 they come inside
/// [`ServerFrame::Item`](super::ServerFrame::Item) and are acked by position
/// ([`ClientFrame::AckUpTo`](super::ClientFrame::AckUpTo)); to older sessions
/// as events acked by their `id` ([`Request::Ack`](super::Request::Ack)). Either
/// way they come again at every login until acked.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum Event {
    /// A chat message.
    Message(Message),
    /// Receipts: the recipients acked these messages you sent.
    Delivered {
        /// Inbox id of this receipt (ack it).
        id: ItemId,
        /// Ids of your messages that were delivered.
        ids: Vec<ItemId>,
    },
    /// The backlog pushed at login is complete.
    CaughtUp,
    /// A friend came online or went offline.
    Presence {
        /// The friend.
        user: String,
        /// Online now.
        online: bool,
    },
    /// Someone asks to be your friend.
    FriendRequested {
        /// Inbox id (ack it).
        id: ItemId,
        /// Who asks.
        from: String,
        /// Their note.
        note: String,
    },
    /// You and `user` are now friends.
    FriendAdded {
        /// Inbox id (ack it).
        id: ItemId,
        /// The new friend.
        user: String,
    },
    /// `user` rejected your request.
    FriendRejected {
        /// Inbox id (ack it).
        id: ItemId,
        /// Who rejected.
        user: String,
    },
    /// `user` ended the friendship.
    FriendRemoved {
        /// Inbox id (ack it).
        id: ItemId,
        /// The former friend.
        user: String,
    },
    /// This session was replaced by a newer login of the same user and is closing.
    Kicked {
        /// Why.
        reason: String,
    },
    /// The server is shutting down; the connection closes next.
    ServerShutdown,
    /// The server closes the connection because of `code`.
    Closing {
        /// Why.
        code: ErrorCode,
    },
    /// `user` joined `room` (sent to the room's online members).
    RoomJoined {
        /// The room.
        room: String,
        /// Who joined.
        user: String,
    },
    /// `user` left `room`.
    RoomLeft {
        /// The room.
        room: String,
        /// Who left.
        user: String,
    },
    /// The owner deleted `room`.
    RoomDeleted {
        /// The room.
        room: String,
    },
    /// A file was shared with you or a room you are in. To a user it comes
    /// through the stream.
    FileShared {
        /// File id (also the id an older session acks a 1:1 file by).
        id: ItemId,
        /// Uploader.
        from: String,
        /// Recipient user or room.
        to: Peer,
        /// File name.
        name: String,
        /// Size in bytes.
        size: u64,
    },
    /// Sent at login, before `CaughtUp`, for each room with messages you have
    /// not acked: fetch them with `History`.
    RoomUnread {
        /// The room.
        room: String,
        /// The highest seq you acked.
        read_seq: u64,
        /// The room's newest seq.
        last_seq: u64,
    },
    /// Heartbeat: the server checks the connection is alive. Answer with
    /// [`Request::Ping`](super::Request::Ping); a connection that sends nothing for the idle timeout is
    /// closed.
    Ping,
    /// `from` is typing to you (`to` is you) or in a room you are in (protocol
    /// version 4). Never stored: only online sessions get it. Show it until a
    /// message from `from` arrives there or `expires_ms` pass.
    Typing {
        /// Who is typing.
        from: String,
        /// You, or the room.
        to: Peer,
        /// How long to show it, in ms.
        expires_ms: u32,
    },
    /// Your messages to `peer` up to `seq` reached one of their devices
    /// (protocol version 5). Cumulative: one receipt covers every message
    /// before it. A mark, not a stream item: sent live to your online devices,
    /// and at login (before `CaughtUp`) for the marks that moved since the
    /// device was last seen (all of them to a new device).
    DeliveredTo {
        /// The recipient.
        peer: String,
        /// Your messages to them with seqs up to this one are delivered.
        seq: u64,
    },
    /// You marked the conversation with `peer` read up to `seq`, on this or
    /// another of your devices (protocol version 5; a stream item).
    ReadUpTo {
        /// The user or room.
        peer: Peer,
        /// Read up to here.
        seq: u64,
        /// Messages from others left unread there.
        unread: u64,
    },
    /// `by` read your conversation up to `seq` (protocol version 5; a stream
    /// item; only if `by` has read receipts on).
    Read {
        /// Who read.
        by: String,
        /// Up to here.
        seq: u64,
    },
    /// Where you have unread messages, sent at login before `CaughtUp`
    /// (protocol version 5). Keep the counts current from new messages and
    /// [`Event::ReadUpTo`].
    Unread(Vec<Unread>),
    /// This device was away longer than the server keeps items for it: items it
    /// never got were let go (protocol version 5). What follows starts at the
    /// stream's oldest kept item; fetch what you missed with `History`.
    FellBehind,
}

/// One conversation with unread messages ([`Event::Unread`]).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Unread {
    /// The user or room.
    pub peer: Peer,
    /// Messages from others after your read mark (in a room, counted among
    /// the first 1 000 after it; every later one counts).
    pub unread: u64,
    /// Your read mark (in a room you joined before read marks existed and
    /// never marked: the newest message one of your devices received).
    pub read_seq: u64,
    /// The conversation's newest seq.
    pub last_seq: u64,
}

impl Event {
    /// The protocol version that introduced this event: a session of an older
    /// version is never sent it.
    pub fn since_version(&self) -> u16 {
        match self {
            Event::Typing { .. } => 4,
            Event::DeliveredTo { .. }
            | Event::ReadUpTo { .. }
            | Event::Read { .. }
            | Event::Unread(_)
            | Event::FellBehind => 5,
            _ => 1,
        }
    }

    /// The id a session older than protocol version 5 acks this stream item
    /// by (stream items without one are acked along with the next that has one).
    pub fn inbox_id(&self) -> Option<ItemId> {
        match self {
            Event::Message(m) => Some(m.id),
            Event::Delivered { id, .. }
            | Event::FriendRequested { id, .. }
            | Event::FriendAdded { id, .. }
            | Event::FriendRejected { id, .. }
            | Event::FriendRemoved { id, .. } => Some(*id),
            Event::FileShared {
                id,
                to: Peer::User(_),
                ..
            } => Some(*id),
            _ => None,
        }
    }
}
