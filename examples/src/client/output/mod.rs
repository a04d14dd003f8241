//! What `chat-client` reports: every response and every event as a [`Line`].
//!
//! In `--json` mode each `Line` is printed as one JSON object per line (the shapes
//! are listed in `examples/README.md`); interactively it is rendered as text by
//! [`super::render`].

use chatcore::protocol::{Body, ErrorCode, Event, Message, Peer};
use serde::Serialize;

mod entries;
pub use entries::*;

/// One line of output: a response to a command, or an event.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum Line {
    /// A command succeeded: `{"type":"ok","cmd":…, …payload}`.
    Ok {
        /// The command word.
        cmd: &'static str,
        /// The command's result fields, inline.
        #[serde(flatten)]
        payload: Payload,
    },
    /// A command failed: `{"type":"error","cmd":…,"code":…,"message":…}`.
    Error {
        /// The command word (as typed, for a line that did not parse).
        cmd: String,
        /// A stable snake_case code: an [`ErrorCode::as_str`], or `bad_command`.
        code: String,
        /// A sentence for humans.
        message: String,
    },
    /// A chat message arrived.
    Message(MessageLine),
    /// A message in a room you are in (yours included: every member sees the
    /// room in the same order).
    RoomMessage(RoomMessageLine),
    /// A friend came online or went offline.
    Presence {
        /// The friend.
        user: String,
        /// Online now.
        online: bool,
    },
    /// Someone asks to be your friend.
    FriendRequest {
        /// Who asks.
        from: String,
        /// Their note (may be empty).
        note: String,
    },
    /// You and `user` are now friends.
    FriendAdded {
        /// The new friend.
        user: String,
    },
    /// `user` rejected your friend request.
    FriendRejected {
        /// Who rejected.
        user: String,
    },
    /// `user` ended your friendship (or blocked you).
    FriendRemoved {
        /// The former friend.
        user: String,
    },
    /// Receipts: recipients received these messages you sent.
    Delivered {
        /// Server ids of your messages (the `id` of the `msg` response). From a
        /// cumulative receipt (`peer` and `seq` set), only the ids of messages
        /// this client sent in this run, which [`Line::from_event`] cannot
        /// know: it leaves them empty for the caller to fill in.
        ids: Vec<u64>,
        /// The recipient (absent from servers older than protocol version 5).
        #[serde(skip_serializing_if = "Option::is_none")]
        peer: Option<String>,
        /// Every message you sent them up to this seq was delivered (absent
        /// with `peer`).
        #[serde(skip_serializing_if = "Option::is_none")]
        seq: Option<u64>,
    },
    /// You marked the conversation with `peer` read up to `seq`, on this or
    /// another of your devices.
    Read {
        /// The user, or `#room`.
        peer: String,
        /// Read up to here.
        seq: u64,
        /// Messages from others left unread there.
        unread: u64,
    },
    /// `user` read your conversation with them up to `seq` (a read receipt).
    ReadBy {
        /// Who read.
        user: String,
        /// Up to here.
        seq: u64,
    },
    /// At login: where you have unread messages.
    Unread {
        /// One entry per conversation with unread messages.
        conversations: Vec<UnreadLine>,
    },
    /// This device was away longer than the server keeps what it missed: fetch
    /// it with `history`.
    FellBehind,
    /// Everything that waited for you at login has been printed.
    CaughtUp,
    /// A heartbeat from the server (the client library answers it itself, so
    /// this is only seen if the server sends one unasked): `{"type":"ping"}`.
    Ping,
    /// This session was replaced by a newer login and is closing.
    Kicked {
        /// Why.
        reason: String,
    },
    /// The server is shutting down.
    ServerShutdown,
    /// The server closes the connection because of `code`.
    Closing {
        /// The snake_case error code.
        code: &'static str,
        /// A sentence for humans.
        message: &'static str,
    },
    /// `user` joined `room`.
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
    /// `from` is typing to you, or in a room (`to` is then `#room`): show it
    /// for `expires_ms`, or until their next message there.
    Typing {
        /// Who.
        from: String,
        /// You, or `#room`.
        to: String,
        /// How long to show it, in ms.
        expires_ms: u32,
    },
    /// At login: `room` has messages past your read position.
    RoomUnread {
        /// The room.
        room: String,
        /// The last seq you acked.
        read_seq: u64,
        /// The room's newest seq.
        last_seq: u64,
    },
    /// A file was shared with you or a room you are in: `{"type":"file",…}`.
    #[serde(rename = "file")]
    FileShared {
        /// File id.
        id: u64,
        /// Uploader.
        from: String,
        /// You, or `#room`.
        to: String,
        /// File name.
        name: String,
        /// Size in bytes.
        size: u64,
    },
    /// The connection is gone (the client exits with status 2).
    Disconnected,
    /// Given several addresses: the connection to `addr` was lost and the
    /// client is reconnecting (commands wait meanwhile).
    Reconnecting {
        /// The address it was connected to.
        addr: String,
        /// What ended the connection, for humans.
        error: String,
    },
    /// Connected again, to `addr`, and logged in again as the same device
    /// if you were logged in: the backlog and `caught_up` follow.
    Reconnected {
        /// The address it is connected to now.
        addr: String,
    },
    /// Reconnected, but logging in again was refused (`code`: say the device
    /// was revoked): you are logged out.
    LoginRefused {
        /// The snake_case error code.
        code: &'static str,
        /// A sentence for humans.
        message: &'static str,
    },
}

/// The fields of a successful response, by command.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(untagged)]
pub enum Payload {
    /// No fields (`logout`, `quit`).
    Empty,
    /// `register`, `login`, `accept`, `reject`, `remove`, `block`, `unblock`.
    User {
        /// The user the command was about (for `login`, your canonical name).
        user: String,
    },
    /// `add`.
    Requested {
        /// Who you asked.
        user: String,
        /// `request_sent`, or `friends` if they had asked you too.
        state: State,
    },
    /// `search`.
    Users {
        /// Matching names.
        users: Vec<String>,
    },
    /// `online`.
    Online {
        /// Your friends online now.
        users: Vec<String>,
        /// How many users are online on the server.
        count: u64,
    },
    /// `friends`.
    Friends {
        /// Friends, requests and blocks.
        friends: Vec<FriendLine>,
    },
    /// `msg`.
    Sent {
        /// The recipient.
        to: String,
        /// The text as sent (shortcodes replaced).
        text: String,
        /// The server's message id.
        id: u64,
        /// The message's seq in the conversation.
        seq: u64,
        /// Server time, ms since the Unix epoch.
        ts: u64,
    },
    /// `history`.
    History {
        /// Oldest first.
        messages: Vec<MessageLine>,
    },
    /// `help`.
    Help {
        /// One usage line per command.
        commands: Vec<&'static str>,
    },
    /// `room create|join|leave|delete`.
    Room {
        /// `create`, `join`, `leave` or `delete`.
        action: &'static str,
        /// The room.
        room: String,
    },
    /// `login` as a device (`--device`).
    LoggedInDevice {
        /// Your canonical name.
        user: String,
        /// The device's id.
        device: u64,
    },
    /// `devices`.
    Devices {
        /// Your devices, oldest first.
        devices: Vec<DeviceLine>,
    },
    /// `typing`.
    Typed {
        /// The friend, or `#room`.
        to: String,
    },
    /// `read`.
    Marked {
        /// The user, or `#room`.
        peer: String,
        /// Marked read up to here (0: the conversation is empty, nothing was
        /// marked).
        seq: u64,
    },
    /// `receipts`.
    Receipts {
        /// Whether others now learn what you read.
        on: bool,
    },
    /// `revoke`.
    Revoked {
        /// The revoked device's id.
        device: u64,
    },
    /// `rooms`.
    Rooms {
        /// Every room.
        rooms: Vec<RoomLine>,
    },
    /// `members`.
    Members {
        /// The room.
        room: String,
        /// Its members, with presence.
        members: Vec<MemberLine>,
    },
    /// `say`.
    Said {
        /// The room.
        room: String,
        /// The text as sent (shortcodes replaced).
        text: String,
        /// The server's message id (the `id` of the `room_message` every member
        /// gets).
        id: u64,
        /// The message's seq in the room.
        seq: u64,
        /// Server time, ms since the Unix epoch.
        ts: u64,
    },
    /// `sendfile`.
    FileSent {
        /// The friend, or `#room`.
        to: String,
        /// The file id (for `download`).
        id: u64,
        /// The name it was sent under (the last component of the path).
        name: String,
        /// Size in bytes.
        size: u64,
        /// SHA-256 of the content, lower-case hex.
        sha256: String,
    },
    /// `files`.
    Files {
        /// Completed files of the conversation or room, as the server lists them.
        files: Vec<FileLine>,
    },
    /// `download`.
    Downloaded {
        /// The file id.
        id: u64,
        /// The file's name.
        name: String,
        /// Where it was saved.
        path: String,
        /// Size in bytes.
        size: u64,
        /// SHA-256 of the saved content (verified), lower-case hex.
        sha256: String,
    },
}

impl Line {
    /// A success.
    pub fn ok(cmd: &'static str, payload: Payload) -> Line {
        Line::Ok { cmd, payload }
    }

    /// A refusal by the server.
    pub fn refused(cmd: &'static str, code: ErrorCode) -> Line {
        Line::Error {
            cmd: cmd.to_string(),
            code: code.as_str().to_string(),
            message: code.message().to_string(),
        }
    }

    /// Any other failure of a command, with its own code.
    pub fn error(cmd: impl Into<String>, code: &str, message: impl Into<String>) -> Line {
        Line::Error {
            cmd: cmd.into(),
            code: code.to_string(),
            message: message.into(),
        }
    }

    /// The line for an event. A cumulative receipt (`Event::DeliveredTo`)
    /// gets no `ids`: only the client that sent the messages knows them.
    pub fn from_event(event: Event) -> Line {
        match event {
            Event::Message(Message {
                id,
                seq,
                from,
                to: Peer::Room(room),
                body: Body::Text(text),
                ts,
            }) => Line::RoomMessage(RoomMessageLine {
                room,
                id,
                seq,
                from,
                text,
                ts,
            }),
            Event::Message(m) => Line::Message(m.into()),
            Event::Delivered { ids, .. } => Line::Delivered {
                ids,
                peer: None,
                seq: None,
            },
            Event::DeliveredTo { peer, seq } => Line::Delivered {
                ids: Vec::new(),
                peer: Some(peer),
                seq: Some(seq),
            },
            Event::ReadUpTo { peer, seq, unread } => Line::Read {
                peer: peer_name(peer),
                seq,
                unread,
            },
            Event::Read { by, seq } => Line::ReadBy { user: by, seq },
            Event::Unread(unread) => Line::Unread {
                conversations: unread.into_iter().map(UnreadLine::from).collect(),
            },
            Event::FellBehind => Line::FellBehind,
            Event::CaughtUp => Line::CaughtUp,
            Event::Ping => Line::Ping,
            Event::Presence { user, online } => Line::Presence { user, online },
            Event::FriendRequested { from, note, .. } => Line::FriendRequest { from, note },
            Event::FriendAdded { user, .. } => Line::FriendAdded { user },
            Event::FriendRejected { user, .. } => Line::FriendRejected { user },
            Event::FriendRemoved { user, .. } => Line::FriendRemoved { user },
            Event::Kicked { reason } => Line::Kicked { reason },
            Event::ServerShutdown => Line::ServerShutdown,
            Event::Closing { code } => Line::Closing {
                code: code.as_str(),
                message: code.message(),
            },
            Event::Typing {
                from,
                to,
                expires_ms,
            } => Line::Typing {
                from,
                to: peer_name(to),
                expires_ms,
            },
            Event::RoomJoined { room, user } => Line::RoomJoined { room, user },
            Event::RoomLeft { room, user } => Line::RoomLeft { room, user },
            Event::RoomDeleted { room } => Line::RoomDeleted { room },
            Event::RoomUnread {
                room,
                read_seq,
                last_seq,
            } => Line::RoomUnread {
                room,
                read_seq,
                last_seq,
            },
            Event::FileShared {
                id,
                from,
                to,
                name,
                size,
            } => Line::FileShared {
                id,
                from,
                to: peer_name(to),
                name,
                size,
            },
        }
    }

    /// One line of JSON (no newline).
    pub fn to_json(&self) -> String {
        serde_json::to_string(self).expect("output lines always serialize")
    }
}

#[cfg(test)]
mod tests {
    use chatcore::protocol::{FileInfo, FriendEntry, FriendState, MemberEntry, RoomInfo, Unread};
    use serde_json::{json, Value};

    use super::*;

    fn json_of(line: Line) -> Value {
        serde_json::from_str(&line.to_json()).expect("valid json")
    }

    #[test]
    fn responses_have_type_cmd_and_inline_payload() {
        assert_eq!(
            json_of(Line::ok("logout", Payload::Empty)),
            json!({"type":"ok","cmd":"logout"})
        );
        assert_eq!(
            json_of(Line::ok("login", Payload::User { user: "Ann".into() })),
            json!({"type":"ok","cmd":"login","user":"Ann"})
        );
        assert_eq!(
            json_of(Line::ok(
                "add",
                Payload::Requested {
                    user: "bob".into(),
                    state: State::RequestSent
                }
            )),
            json!({"type":"ok","cmd":"add","user":"bob","state":"request_sent"})
        );
        assert_eq!(
            json_of(Line::ok(
                "online",
                Payload::Online {
                    users: vec!["bob".into()],
                    count: 2
                }
            )),
            json!({"type":"ok","cmd":"online","users":["bob"],"count":2})
        );
        assert_eq!(
            json_of(Line::ok(
                "friends",
                Payload::Friends {
                    friends: vec![FriendEntry {
                        user: "bob".into(),
                        state: FriendState::RequestReceived,
                        online: false
                    }
                    .into()]
                }
            )),
            json!({"type":"ok","cmd":"friends","friends":[
                {"user":"bob","online":false,"state":"request_received"}
            ]})
        );
        assert_eq!(
            json_of(Line::ok(
                "msg",
                Payload::Sent {
                    to: "bob".into(),
                    text: "hi".into(),
                    id: 7,
                    seq: 1,
                    ts: 99
                }
            )),
            json!({"type":"ok","cmd":"msg","to":"bob","text":"hi","id":7,"seq":1,"ts":99})
        );
    }

    #[test]
    fn errors_carry_the_stable_code_and_message() {
        assert_eq!(
            json_of(Line::refused("login", ErrorCode::InvalidCredentials)),
            json!({"type":"error","cmd":"login","code":"invalid_credentials",
                   "message":"wrong username or password"})
        );
        assert_eq!(
            json_of(Line::error("frob", "bad_command", "unknown")),
            json!({"type":"error","cmd":"frob","code":"bad_command","message":"unknown"})
        );
    }

    #[test]
    fn events_map_to_flat_objects() {
        let message = Message {
            id: 5,
            seq: 2,
            from: "ann".into(),
            to: Peer::User("bob".into()),
            body: Body::Text("hi 😄".into()),
            ts: 1234,
        };
        let cases = [
            (
                Event::Message(message.clone()),
                json!({"type":"message","id":5,"seq":2,"from":"ann","to":"bob",
                       "text":"hi 😄","ts":1234}),
            ),
            (
                Event::Delivered {
                    id: 9,
                    ids: vec![5, 6],
                },
                json!({"type":"delivered","ids":[5,6]}),
            ),
            (Event::CaughtUp, json!({"type":"caught_up"})),
            (
                Event::Presence {
                    user: "ann".into(),
                    online: true,
                },
                json!({"type":"presence","user":"ann","online":true}),
            ),
            (
                Event::FriendRequested {
                    id: 1,
                    from: "ann".into(),
                    note: "hey".into(),
                },
                json!({"type":"friend_request","from":"ann","note":"hey"}),
            ),
            (
                Event::FriendAdded {
                    id: 1,
                    user: "ann".into(),
                },
                json!({"type":"friend_added","user":"ann"}),
            ),
            (
                Event::FriendRejected {
                    id: 1,
                    user: "ann".into(),
                },
                json!({"type":"friend_rejected","user":"ann"}),
            ),
            (
                Event::FriendRemoved {
                    id: 1,
                    user: "ann".into(),
                },
                json!({"type":"friend_removed","user":"ann"}),
            ),
            (
                Event::Kicked { reason: "r".into() },
                json!({"type":"kicked","reason":"r"}),
            ),
            (Event::ServerShutdown, json!({"type":"server_shutdown"})),
            (
                Event::Closing {
                    code: ErrorCode::FrameTooLarge,
                },
                json!({"type":"closing","code":"frame_too_large",
                       "message":"frame exceeds the maximum frame size"}),
            ),
            (
                Event::RoomJoined {
                    room: "r1".into(),
                    user: "ann".into(),
                },
                json!({"type":"room_joined","room":"r1","user":"ann"}),
            ),
            (
                Event::RoomLeft {
                    room: "r1".into(),
                    user: "ann".into(),
                },
                json!({"type":"room_left","room":"r1","user":"ann"}),
            ),
            (
                Event::RoomDeleted { room: "r1".into() },
                json!({"type":"room_deleted","room":"r1"}),
            ),
            (
                Event::RoomUnread {
                    room: "r1".into(),
                    read_seq: 3,
                    last_seq: 5,
                },
                json!({"type":"room_unread","room":"r1","read_seq":3,"last_seq":5}),
            ),
            (
                Event::FileShared {
                    id: 4,
                    from: "ann".into(),
                    to: Peer::Room("r1".into()),
                    name: "a.txt".into(),
                    size: 10,
                },
                json!({"type":"file","id":4,"from":"ann","to":"#r1",
                       "name":"a.txt","size":10}),
            ),
            (
                Event::FileShared {
                    id: 4,
                    from: "ann".into(),
                    to: Peer::User("bob".into()),
                    name: "a.txt".into(),
                    size: 10,
                },
                json!({"type":"file","id":4,"from":"ann","to":"bob",
                       "name":"a.txt","size":10}),
            ),
            (
                Event::Message(Message {
                    to: Peer::Room("lobby".into()),
                    ..message.clone()
                }),
                json!({"type":"room_message","room":"lobby","id":5,"seq":2,"from":"ann",
                       "text":"hi 😄","ts":1234}),
            ),
        ];
        for (event, want) in cases {
            assert_eq!(json_of(Line::from_event(event)), want);
        }
        assert_eq!(json_of(Line::Disconnected), json!({"type":"disconnected"}));
        assert_eq!(
            json_of(Line::Reconnecting {
                addr: "127.0.0.1:7878".into(),
                error: "the server closed the connection".into()
            }),
            json!({"type":"reconnecting","addr":"127.0.0.1:7878",
                   "error":"the server closed the connection"})
        );
        assert_eq!(
            json_of(Line::Reconnected {
                addr: "127.0.0.1:7879".into()
            }),
            json!({"type":"reconnected","addr":"127.0.0.1:7879"})
        );
        assert_eq!(
            json_of(Line::LoginRefused {
                code: "unknown_device",
                message: ErrorCode::UnknownDevice.message()
            }),
            json!({"type":"login_refused","code":"unknown_device",
                   "message": ErrorCode::UnknownDevice.message()})
        );
        assert_eq!(
            json_of(Line::from_event(Event::Typing {
                from: "ann".into(),
                to: Peer::Room("den".into()),
                expires_ms: 5000
            })),
            json!({"type":"typing","from":"ann","to":"#den","expires_ms":5000})
        );
        assert_eq!(
            json_of(Line::ok(
                "devices",
                Payload::Devices {
                    devices: vec![DeviceLine {
                        id: 2,
                        name: "laptop".into(),
                        last_seen: 7,
                        online: true
                    }]
                }
            )),
            json!({"type":"ok","cmd":"devices","devices":[{"id":2,"name":"laptop","last_seen":7,"online":true}]})
        );

        let history = Line::ok(
            "history",
            Payload::History {
                messages: vec![message.into()],
            },
        );
        assert_eq!(
            json_of(history),
            json!({"type":"ok","cmd":"history","messages":[
                {"id":5,"seq":2,"from":"ann","to":"bob","text":"hi 😄","ts":1234}
            ]})
        );
    }

    #[test]
    fn room_and_file_responses_have_their_documented_shapes() {
        let cases = [
            (
                Line::ok(
                    "room",
                    Payload::Room {
                        action: "create",
                        room: "lobby".into(),
                    },
                ),
                json!({"type":"ok","cmd":"room","action":"create","room":"lobby"}),
            ),
            (
                Line::ok(
                    "rooms",
                    Payload::Rooms {
                        rooms: vec![RoomInfo {
                            name: "lobby".into(),
                            owner: "ann".into(),
                            members: 3,
                            joined: true,
                        }
                        .into()],
                    },
                ),
                json!({"type":"ok","cmd":"rooms","rooms":[
                    {"name":"lobby","owner":"ann","members":3,"joined":true}
                ]}),
            ),
            (
                Line::ok(
                    "members",
                    Payload::Members {
                        room: "lobby".into(),
                        members: vec![MemberEntry {
                            user: "bob".into(),
                            online: true,
                        }
                        .into()],
                    },
                ),
                json!({"type":"ok","cmd":"members","room":"lobby",
                       "members":[{"user":"bob","online":true}]}),
            ),
            (
                Line::ok(
                    "say",
                    Payload::Said {
                        room: "lobby".into(),
                        text: "hi".into(),
                        id: 9,
                        seq: 4,
                        ts: 77,
                    },
                ),
                json!({"type":"ok","cmd":"say","room":"lobby","text":"hi","id":9,"seq":4,"ts":77}),
            ),
            (
                Line::ok(
                    "sendfile",
                    Payload::FileSent {
                        to: "#lobby".into(),
                        id: 3,
                        name: "a.bin".into(),
                        size: 5,
                        sha256: "ab".repeat(32),
                    },
                ),
                json!({"type":"ok","cmd":"sendfile","to":"#lobby","id":3,"name":"a.bin",
                       "size":5,"sha256":"ab".repeat(32)}),
            ),
            (
                Line::ok(
                    "files",
                    Payload::Files {
                        files: vec![FileInfo {
                            id: 3,
                            from: "ann".into(),
                            to: Peer::User("bob".into()),
                            name: "a.bin".into(),
                            size: 5,
                            sha256: [0xab; 32],
                            ts: 88,
                        }
                        .into()],
                    },
                ),
                json!({"type":"ok","cmd":"files","files":[
                    {"id":3,"from":"ann","to":"bob","name":"a.bin","size":5,
                     "sha256":"ab".repeat(32),"ts":88}
                ]}),
            ),
            (
                Line::ok(
                    "download",
                    Payload::Downloaded {
                        id: 3,
                        name: "a.bin".into(),
                        path: "/tmp/a.bin".into(),
                        size: 5,
                        sha256: "ab".repeat(32),
                    },
                ),
                json!({"type":"ok","cmd":"download","id":3,"name":"a.bin",
                       "path":"/tmp/a.bin","size":5,"sha256":"ab".repeat(32)}),
            ),
        ];
        for (line, want) in cases {
            assert_eq!(json_of(line), want);
        }
    }

    #[test]
    fn receipts_read_marks_and_unread_counts_have_their_documented_shapes() {
        let cases = [
            // A cumulative receipt: the ids are the caller's to fill in.
            (
                Line::from_event(Event::DeliveredTo {
                    peer: "bob".into(),
                    seq: 4,
                }),
                json!({"type":"delivered","ids":[],"peer":"bob","seq":4}),
            ),
            (
                Line::Delivered {
                    ids: vec![17, 18],
                    peer: Some("bob".into()),
                    seq: Some(4),
                },
                json!({"type":"delivered","ids":[17,18],"peer":"bob","seq":4}),
            ),
            (
                Line::from_event(Event::ReadUpTo {
                    peer: Peer::User("bob".into()),
                    seq: 4,
                    unread: 0,
                }),
                json!({"type":"read","peer":"bob","seq":4,"unread":0}),
            ),
            (
                Line::from_event(Event::ReadUpTo {
                    peer: Peer::Room("lobby".into()),
                    seq: 9,
                    unread: 2,
                }),
                json!({"type":"read","peer":"#lobby","seq":9,"unread":2}),
            ),
            (
                Line::from_event(Event::Read {
                    by: "ann".into(),
                    seq: 4,
                }),
                json!({"type":"read_by","user":"ann","seq":4}),
            ),
            (
                Line::from_event(Event::Unread(vec![
                    Unread {
                        peer: Peer::User("bob".into()),
                        unread: 2,
                        read_seq: 3,
                        last_seq: 5,
                    },
                    Unread {
                        peer: Peer::Room("lobby".into()),
                        unread: 5,
                        read_seq: 0,
                        last_seq: 5,
                    },
                ])),
                json!({"type":"unread","conversations":[
                    {"peer":"bob","unread":2,"read_seq":3,"last_seq":5},
                    {"peer":"#lobby","unread":5,"read_seq":0,"last_seq":5}
                ]}),
            ),
            (
                Line::from_event(Event::FellBehind),
                json!({"type":"fell_behind"}),
            ),
            (
                Line::ok(
                    "read",
                    Payload::Marked {
                        peer: "#lobby".into(),
                        seq: 9,
                    },
                ),
                json!({"type":"ok","cmd":"read","peer":"#lobby","seq":9}),
            ),
            (
                Line::ok("receipts", Payload::Receipts { on: false }),
                json!({"type":"ok","cmd":"receipts","on":false}),
            ),
            (
                Line::ok(
                    "typing",
                    Payload::Typed {
                        to: "#lobby".into(),
                    },
                ),
                json!({"type":"ok","cmd":"typing","to":"#lobby"}),
            ),
            (
                Line::ok("revoke", Payload::Revoked { device: 13 }),
                json!({"type":"ok","cmd":"revoke","device":13}),
            ),
            (
                Line::ok(
                    "login",
                    Payload::LoggedInDevice {
                        user: "ann".into(),
                        device: 12,
                    },
                ),
                json!({"type":"ok","cmd":"login","user":"ann","device":12}),
            ),
        ];
        for (line, want) in cases {
            assert_eq!(json_of(line), want);
        }
    }

    #[test]
    fn rooms_are_named_with_a_hash() {
        assert_eq!(peer_name(Peer::Room("lobby".into())), "#lobby");
    }
}
