//! What nodes tell each other. Opaque outside the crate: a bus carries it
//! (serde: postcard or any other format) without looking inside.

use serde::{Deserialize, Serialize};

use super::Topic;
use crate::protocol::{DeviceId, Event, Message, ServerFrame};
use crate::store::{Older, RoomId, StreamItem, User, UserId};

/// One message between nodes (see [`Bus`](super::Bus)). Its contents are the
/// engine's business; a bus serializes it as it is.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct BusMessage(pub(crate) Msg);

impl BusMessage {
    /// The subject kind it goes out on.
    pub fn topic(&self) -> Topic {
        match &self.0 {
            Msg::Heartbeat { .. }
            | Msg::Presence { .. }
            | Msg::Snapshot { .. }
            | Msg::SnapshotRequest { .. }
            | Msg::Leaving => Topic::Presence,
            _ => Topic::Live,
        }
    }
}

/// The variants are append-only (nodes of two versions may share a bus for a
/// rolling upgrade: postcard numbers variants by position).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub(crate) enum Msg {
    /// A new item of `user`'s stream (for their sessions, as `Router::push_item`).
    Item { user: UserId, item: WireItem },
    /// A frame for every session of each of `users`.
    Push {
        users: Vec<UserId>,
        frame: ServerFrame,
    },
    /// `current` for `user`'s sessions of protocol 5 or newer, `older` for the others.
    PushByVersion {
        user: UserId,
        current: ServerFrame,
        older: ServerFrame,
    },
    /// `user`'s `device` was revoked: its sessions stop.
    Revoked { user: UserId, device: DeviceId },
    /// `user` logged in at `at_us` (µs since the epoch) with the duplicate-login
    /// policy `ReplaceOld`: their sessions that logged in before are kicked.
    Kick { user: UserId, at_us: u64 },
    /// A room message, stored with its seq, for the room's online members.
    Room { room: RoomId, message: Message },
    /// The links between `a` and `b` changed.
    Links { a: UserId, b: UserId },
    /// A room of this name was created or deleted (with its id, if deleted).
    RoomChanged { name: String, id: Option<RoomId> },
    /// The members of `room` changed.
    Members { room: RoomId },
    /// The origin's online set changed at its `version`: `user` is online on it or not.
    Presence {
        version: u64,
        user: User,
        online: bool,
    },
    /// The origin is alive; its online set is at `version`.
    Heartbeat { version: u64 },
    /// The origin's whole online set, at `version`.
    Snapshot { version: u64, users: Vec<User> },
    /// `node` (every node, if `None`) is asked for its [`Msg::Snapshot`] (a
    /// node starting or reconnected, or one that missed a change).
    SnapshotRequest { node: Option<String> },
    /// The origin stops: its users are no longer online on it.
    Leaving,
}

/// A [`StreamItem`] as it travels.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub(crate) struct WireItem {
    pos: u64,
    event: Event,
    hidden_from_older: bool,
    from_device: Option<DeviceId>,
}

impl From<StreamItem> for WireItem {
    fn from(item: StreamItem) -> Self {
        WireItem {
            pos: item.pos,
            event: item.event,
            hidden_from_older: matches!(item.older, Older::Hidden),
            from_device: item.from_device,
        }
    }
}

impl From<WireItem> for StreamItem {
    fn from(item: WireItem) -> Self {
        StreamItem {
            pos: item.pos,
            event: item.event,
            older: if item.hidden_from_older {
                Older::Hidden
            } else {
                Older::Same
            },
            from_device: item.from_device,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::protocol::Body;

    /// Every message survives postcard (what the NATS bus sends), item
    /// fields included.
    #[test]
    fn messages_survive_postcard() {
        let item = StreamItem {
            pos: 7,
            event: Event::FellBehind,
            older: Older::Hidden,
            from_device: Some(3),
        };
        let message = Message {
            id: 1,
            seq: 2,
            from: "ann".into(),
            to: crate::protocol::Peer::Room("r".into()),
            body: Body::Text("hi".into()),
            ts: 5,
        };
        let msgs = [
            Msg::Item {
                user: UserId(1),
                item: item.clone().into(),
            },
            Msg::Room {
                room: RoomId(4),
                message,
            },
            Msg::Presence {
                version: 9,
                user: User {
                    id: UserId(2),
                    name: "bob".into(),
                },
                online: true,
            },
            Msg::Leaving,
        ];
        for msg in msgs {
            let bytes = postcard::to_allocvec(&BusMessage(msg.clone())).unwrap();
            let back: BusMessage = postcard::from_bytes(&bytes).unwrap();
            assert_eq!(format!("{:?}", back.0), format!("{msg:?}"));
        }
        let back: StreamItem = WireItem::from(item.clone()).into();
        assert_eq!(back, item);
    }
}
