//! Golden bytes of the wire format.
//!
//! postcard encodes an enum variant by its position (a varint), integers as
//! varints (no zigzag for unsigned), strings and vecs as a varint length then the
//! bytes, `Option`/`Result`/`bool` as 0/1. Every frame is a 4-byte big-endian
//! payload length, then the payload. The literals below are that encoding, written
//! out by hand-checkable rules: if a variant is reordered, inserted in the middle,
//! removed, or a field is reordered or retyped, a test here fails. New variants go
//! at the end of their enum, with a new golden case here (the exhaustive `*_tag`
//! matches refuse to compile until one is added).

use std::fmt::Debug;

use bytes::BytesMut;
use chatcore::protocol::{
    decode_frame, encode_frame, Body, ClientFrame, DeviceClaim, DeviceInfo, ErrorCode, Event,
    FileInfo, FriendEntry, FriendState, Items, List, MemberEntry, Message, Peer, Request, Response,
    RoomInfo, ServerFrame, Unread, DEFAULT_MAX_FRAME_LEN, PROTOCOL_VERSION,
};
use chatcore::session::{Action, Session};
use serde::{de::DeserializeOwned, Serialize};

const MAX: usize = DEFAULT_MAX_FRAME_LEN;

fn encoded<T: Serialize>(value: &T) -> Vec<u8> {
    let mut dst = BytesMut::new();
    encode_frame(value, &mut dst, MAX).expect("golden values encode");
    dst.to_vec()
}

fn decoded<T: DeserializeOwned>(bytes: &[u8]) -> T {
    let mut src = BytesMut::from(bytes);
    let value = decode_frame(&mut src, MAX)
        .expect("golden bytes decode")
        .expect("golden bytes hold a whole frame");
    assert!(src.is_empty(), "decoding left {} bytes", src.len());
    value
}

/// The encoding of `value` is exactly `expected`, and `expected` decodes to `value`.
fn assert_golden<T>(value: &T, expected: &[u8])
where
    T: Serialize + DeserializeOwned + PartialEq + Debug,
{
    let actual = encoded(value);
    assert_eq!(
        actual, expected,
        "wire encoding of {value:?} changed: got {actual:02x?}, golden {expected:02x?}"
    );
    let len = u32::from_be_bytes(expected[..4].try_into().unwrap()) as usize;
    assert_eq!(len, expected.len() - 4, "golden prefix of {value:?}");
    assert_eq!(&decoded::<T>(expected), value, "golden bytes of {value:?}");
}

/// Checks every case, that the payload starts with the variant's position, and that
/// the cases cover positions `0..variants` (so no variant is without a golden).
fn check_enum<T>(cases: &[(T, &[u8])], tag: fn(&T) -> u8, variants: u8)
where
    T: Serialize + DeserializeOwned + PartialEq + Debug,
{
    for (value, bytes) in cases {
        assert_golden(value, bytes);
        assert_eq!(bytes[4], tag(value), "discriminant of {value:?}");
    }
    let mut seen: Vec<u8> = cases.iter().map(|(v, _)| tag(v)).collect();
    seen.sort_unstable();
    seen.dedup();
    assert_eq!(seen, (0..variants).collect::<Vec<_>>(), "variants covered");
}

// The expected wire position of every variant. Exhaustive on purpose: a new variant
// does not compile until it is given its (appended) position and a golden case.

fn client_frame_tag(f: &ClientFrame) -> u8 {
    match f {
        ClientFrame::Hello { .. } => 0,
        ClientFrame::Request { .. } => 1,
        ClientFrame::Ack { .. } => 2,
        ClientFrame::AckUpTo { .. } => 3,
    }
}

fn server_frame_tag(f: &ServerFrame) -> u8 {
    match f {
        ServerFrame::Hello { .. } => 0,
        ServerFrame::Response { .. } => 1,
        ServerFrame::Event(_) => 2,
        ServerFrame::Item { .. } => 3,
    }
}

fn request_tag(r: &Request) -> u8 {
    match r {
        Request::Ping => 0,
        Request::Register { .. } => 1,
        Request::Login { .. } => 2,
        Request::Logout => 3,
        Request::SearchUsers { .. } => 4,
        Request::FriendRequest { .. } => 5,
        Request::FriendRespond { .. } => 6,
        Request::RemoveFriend { .. } => 7,
        Request::Block { .. } => 8,
        Request::Unblock { .. } => 9,
        Request::ListFriends => 10,
        Request::OnlineFriends => 11,
        Request::OnlineCount => 12,
        Request::Send { .. } => 13,
        Request::Ack { .. } => 14,
        Request::History { .. } => 15,
        Request::CreateRoom { .. } => 16,
        Request::JoinRoom { .. } => 17,
        Request::LeaveRoom { .. } => 18,
        Request::DeleteRoom { .. } => 19,
        Request::ListRooms => 20,
        Request::Members { .. } => 21,
        Request::OfferFile { .. } => 22,
        Request::UploadChunk { .. } => 23,
        Request::CompleteFile { .. } => 24,
        Request::ListFiles { .. } => 25,
        Request::DownloadChunk { .. } => 26,
        Request::Page { .. } => 27,
        Request::LoginDevice { .. } => 28,
        Request::Devices => 29,
        Request::RevokeDevice { .. } => 30,
        Request::Typing { .. } => 31,
        Request::MarkRead { .. } => 32,
        Request::SetReadReceipts { .. } => 33,
    }
}

fn response_tag(r: &Response) -> u8 {
    match r {
        Response::Done => 0,
        Response::Pong => 1,
        Response::LoggedIn { .. } => 2,
        Response::Users(_) => 3,
        Response::FriendRequested { .. } => 4,
        Response::Friends(_) => 5,
        Response::Count(_) => 6,
        Response::Sent { .. } => 7,
        Response::History(_) => 8,
        Response::Rooms(_) => 9,
        Response::Members(_) => 10,
        Response::FileOffered { .. } => 11,
        Response::Files(_) => 12,
        Response::Chunk(_) => 13,
        Response::Page { .. } => 14,
        Response::LoggedInDevice { .. } => 15,
        Response::Devices(_) => 16,
    }
}

fn event_tag(e: &Event) -> u8 {
    match e {
        Event::Message(_) => 0,
        Event::Delivered { .. } => 1,
        Event::CaughtUp => 2,
        Event::Presence { .. } => 3,
        Event::FriendRequested { .. } => 4,
        Event::FriendAdded { .. } => 5,
        Event::FriendRejected { .. } => 6,
        Event::FriendRemoved { .. } => 7,
        Event::Kicked { .. } => 8,
        Event::ServerShutdown => 9,
        Event::Closing { .. } => 10,
        Event::RoomJoined { .. } => 11,
        Event::RoomLeft { .. } => 12,
        Event::RoomDeleted { .. } => 13,
        Event::FileShared { .. } => 14,
        Event::RoomUnread { .. } => 15,
        Event::Ping => 16,
        Event::Typing { .. } => 17,
        Event::DeliveredTo { .. } => 18,
        Event::ReadUpTo { .. } => 19,
        Event::Read { .. } => 20,
        Event::Unread(_) => 21,
        Event::FellBehind => 22,
    }
}

fn peer_tag(p: &Peer) -> u8 {
    match p {
        Peer::User(_) => 0,
        Peer::Room(_) => 1,
    }
}

fn body_tag(b: &Body) -> u8 {
    match b {
        Body::Text(_) => 0,
    }
}

fn friend_state_tag(s: &FriendState) -> u8 {
    match s {
        FriendState::Friends => 0,
        FriendState::RequestSent => 1,
        FriendState::RequestReceived => 2,
        FriendState::Blocked => 3,
    }
}

fn list_tag(l: &List) -> u8 {
    match l {
        List::Users { .. } => 0,
        List::Friends => 1,
        List::Rooms => 2,
        List::Members { .. } => 3,
        List::Files { .. } => 4,
        List::History { .. } => 5,
    }
}

fn items_tag(i: &Items) -> u8 {
    match i {
        Items::Users(_) => 0,
        Items::Friends(_) => 1,
        Items::Rooms(_) => 2,
        Items::Members(_) => 3,
        Items::Files(_) => 4,
        Items::History(_) => 5,
    }
}

fn s(text: &str) -> String {
    text.to_owned()
}

fn message() -> Message {
    Message {
        id: 9,
        seq: 2,
        from: s("ann"),
        to: Peer::User(s("bob")),
        body: Body::Text(s("hi")),
        ts: 1000,
    }
}

/// A recognisable digest: bytes 0, 8, 16, ..., 248 (encoded raw, no length).
fn sha256() -> [u8; 32] {
    std::array::from_fn(|i| i as u8 * 8)
}

pub(crate) fn client_frame_cases() -> Vec<(ClientFrame, &'static [u8])> {
    vec![
        (
            ClientFrame::Hello {
                version: 1,
                client: s("cli"),
            },
            // variant 0, version 1, "cli"
            &[0x00, 0x00, 0x00, 0x06, 0x00, 0x01, 0x03, 0x63, 0x6c, 0x69],
        ),
        (
            ClientFrame::Request {
                req_id: 300,
                request: Request::Ping,
            },
            // variant 1, req_id 300 = varint ac 02, Request::Ping
            &[0x00, 0x00, 0x00, 0x04, 0x01, 0xac, 0x02, 0x00],
        ),
        (
            ClientFrame::Ack { ids: vec![1, 128] },
            // variant 2, 2 ids: 1, 128 = varint 80 01
            &[0x00, 0x00, 0x00, 0x05, 0x02, 0x02, 0x01, 0x80, 0x01],
        ),
        (
            ClientFrame::AckUpTo { pos: 300 },
            // variant 3, 300 = varint ac 02
            &[0x00, 0x00, 0x00, 0x03, 0x03, 0xac, 0x02],
        ),
    ]
}

pub(crate) fn server_frame_cases() -> Vec<(ServerFrame, &'static [u8])> {
    vec![
        (
            ServerFrame::Hello {
                version: 1,
                server: s("srv"),
            },
            &[0x00, 0x00, 0x00, 0x06, 0x00, 0x01, 0x03, 0x73, 0x72, 0x76],
        ),
        (
            ServerFrame::Response {
                req_id: 7,
                result: Ok(Response::Pong),
            },
            // variant 1, req_id 7, Ok = 0, Response::Pong = 1
            &[0x00, 0x00, 0x00, 0x04, 0x01, 0x07, 0x00, 0x01],
        ),
        (
            ServerFrame::Response {
                req_id: 8,
                result: Err(ErrorCode::NotAuthenticated),
            },
            // variant 1, req_id 8, Err = 1, NotAuthenticated = 4
            &[0x00, 0x00, 0x00, 0x04, 0x01, 0x08, 0x01, 0x04],
        ),
        (
            ServerFrame::Event(Event::CaughtUp),
            &[0x00, 0x00, 0x00, 0x02, 0x02, 0x02],
        ),
        (
            ServerFrame::Item {
                pos: 5,
                event: Event::CaughtUp,
            },
            // variant 3, pos 5, CaughtUp = 2
            &[0x00, 0x00, 0x00, 0x03, 0x03, 0x05, 0x02],
        ),
    ]
}

pub(crate) fn request_cases() -> Vec<(Request, &'static [u8])> {
    vec![
        (Request::Ping, &[0x00, 0x00, 0x00, 0x01, 0x00]),
        (
            Request::Register {
                username: s("ann"),
                password: s("pw"),
            },
            &[
                0x00, 0x00, 0x00, 0x08, 0x01, 0x03, 0x61, 0x6e, 0x6e, 0x02, 0x70, 0x77,
            ],
        ),
        (
            Request::Login {
                username: s("bob"),
                password: s("pw"),
            },
            &[
                0x00, 0x00, 0x00, 0x08, 0x02, 0x03, 0x62, 0x6f, 0x62, 0x02, 0x70, 0x77,
            ],
        ),
        (Request::Logout, &[0x00, 0x00, 0x00, 0x01, 0x03]),
        (
            Request::SearchUsers {
                query: s("a"),
                limit: 10,
            },
            &[0x00, 0x00, 0x00, 0x04, 0x04, 0x01, 0x61, 0x0a],
        ),
        (
            Request::FriendRequest {
                to: s("bob"),
                note: s("hi"),
            },
            &[
                0x00, 0x00, 0x00, 0x08, 0x05, 0x03, 0x62, 0x6f, 0x62, 0x02, 0x68, 0x69,
            ],
        ),
        (
            Request::FriendRespond {
                from: s("ann"),
                accept: true,
            },
            &[0x00, 0x00, 0x00, 0x06, 0x06, 0x03, 0x61, 0x6e, 0x6e, 0x01],
        ),
        (
            Request::RemoveFriend { user: s("bob") },
            &[0x00, 0x00, 0x00, 0x05, 0x07, 0x03, 0x62, 0x6f, 0x62],
        ),
        (
            Request::Block { user: s("eve") },
            &[0x00, 0x00, 0x00, 0x05, 0x08, 0x03, 0x65, 0x76, 0x65],
        ),
        (
            Request::Unblock { user: s("eve") },
            &[0x00, 0x00, 0x00, 0x05, 0x09, 0x03, 0x65, 0x76, 0x65],
        ),
        (Request::ListFriends, &[0x00, 0x00, 0x00, 0x01, 0x0a]),
        (Request::OnlineFriends, &[0x00, 0x00, 0x00, 0x01, 0x0b]),
        (Request::OnlineCount, &[0x00, 0x00, 0x00, 0x01, 0x0c]),
        (
            Request::Send {
                to: Peer::User(s("bob")),
                client_msg_id: 42,
                body: Body::Text(s("hé 👋")),
            },
            // variant 13, Peer::User "bob", 42, Body::Text of 8 UTF-8 bytes
            &[
                0x00, 0x00, 0x00, 0x11, 0x0d, 0x00, 0x03, 0x62, 0x6f, 0x62, 0x2a, 0x00, 0x08, 0x68,
                0xc3, 0xa9, 0x20, 0xf0, 0x9f, 0x91, 0x8b,
            ],
        ),
        (
            Request::Ack { ids: vec![1, 128] },
            // variant 14, 2 ids: 1, 128 = varint 80 01
            &[0x00, 0x00, 0x00, 0x05, 0x0e, 0x02, 0x01, 0x80, 0x01],
        ),
        (
            Request::History {
                peer: Peer::Room(s("lobby")),
                before_seq: Some(5),
                limit: 20,
            },
            &[
                0x00, 0x00, 0x00, 0x0b, 0x0f, 0x01, 0x05, 0x6c, 0x6f, 0x62, 0x62, 0x79, 0x01, 0x05,
                0x14,
            ],
        ),
        (
            Request::History {
                peer: Peer::User(s("bob")),
                before_seq: None,
                limit: 20,
            },
            &[
                0x00, 0x00, 0x00, 0x08, 0x0f, 0x00, 0x03, 0x62, 0x6f, 0x62, 0x00, 0x14,
            ],
        ),
        (
            Request::CreateRoom { name: s("lobby") },
            &[
                0x00, 0x00, 0x00, 0x07, 0x10, 0x05, 0x6c, 0x6f, 0x62, 0x62, 0x79,
            ],
        ),
        (
            Request::JoinRoom { name: s("lobby") },
            &[
                0x00, 0x00, 0x00, 0x07, 0x11, 0x05, 0x6c, 0x6f, 0x62, 0x62, 0x79,
            ],
        ),
        (
            Request::LeaveRoom { name: s("lobby") },
            &[
                0x00, 0x00, 0x00, 0x07, 0x12, 0x05, 0x6c, 0x6f, 0x62, 0x62, 0x79,
            ],
        ),
        (
            Request::DeleteRoom { name: s("lobby") },
            &[
                0x00, 0x00, 0x00, 0x07, 0x13, 0x05, 0x6c, 0x6f, 0x62, 0x62, 0x79,
            ],
        ),
        (Request::ListRooms, &[0x00, 0x00, 0x00, 0x01, 0x14]),
        (
            Request::Members { room: s("lobby") },
            &[
                0x00, 0x00, 0x00, 0x07, 0x15, 0x05, 0x6c, 0x6f, 0x62, 0x62, 0x79,
            ],
        ),
        (
            Request::OfferFile {
                to: Peer::User(s("bob")),
                name: s("a.txt"),
                size: 300,
                sha256: sha256(),
            },
            // variant 22, User "bob", "a.txt", 300 = ac 02, then the 32 digest bytes
            // as they are (a fixed-size array has no length)
            &[
                0x00, 0x00, 0x00, 0x2e, 0x16, 0x00, 0x03, 0x62, 0x6f, 0x62, 0x05, 0x61, 0x2e, 0x74,
                0x78, 0x74, 0xac, 0x02, 0x00, 0x08, 0x10, 0x18, 0x20, 0x28, 0x30, 0x38, 0x40, 0x48,
                0x50, 0x58, 0x60, 0x68, 0x70, 0x78, 0x80, 0x88, 0x90, 0x98, 0xa0, 0xa8, 0xb0, 0xb8,
                0xc0, 0xc8, 0xd0, 0xd8, 0xe0, 0xe8, 0xf0, 0xf8,
            ],
        ),
        (
            Request::UploadChunk {
                file: 21,
                offset: 0,
                bytes: vec![0xde, 0xad, 0xbe, 0xef],
            },
            // bytes: length 4, then the bytes as they are
            &[
                0x00, 0x00, 0x00, 0x08, 0x17, 0x15, 0x00, 0x04, 0xde, 0xad, 0xbe, 0xef,
            ],
        ),
        (
            Request::CompleteFile { file: 21 },
            &[0x00, 0x00, 0x00, 0x02, 0x18, 0x15],
        ),
        (
            Request::ListFiles {
                peer: Peer::Room(s("lobby")),
            },
            &[
                0x00, 0x00, 0x00, 0x08, 0x19, 0x01, 0x05, 0x6c, 0x6f, 0x62, 0x62, 0x79,
            ],
        ),
        (
            Request::DownloadChunk {
                file: 21,
                offset: 262_144,
                len: 262_144,
            },
            // 262144 = 2^18 = varint 80 80 10
            &[
                0x00, 0x00, 0x00, 0x08, 0x1a, 0x15, 0x80, 0x80, 0x10, 0x80, 0x80, 0x10,
            ],
        ),
        (
            Request::Page {
                list: List::Rooms,
                after: Some(s("lobby")),
                limit: 50,
            },
            // variant 27, Rooms = 2, Some "lobby", 50
            &[
                0x00, 0x00, 0x00, 0x0a, 0x1b, 0x02, 0x01, 0x05, 0x6c, 0x6f, 0x62, 0x62, 0x79, 0x32,
            ],
        ),
        (
            Request::LoginDevice {
                username: s("ann"),
                password: s("pw"),
                device: DeviceClaim::New { name: s("pc") },
            },
            // variant 28, "ann", "pw", New = 0 "pc"
            &[
                0x00, 0x00, 0x00, 0x0c, 0x1c, 0x03, 0x61, 0x6e, 0x6e, 0x02, 0x70, 0x77, 0x00, 0x02,
                0x70, 0x63,
            ],
        ),
        (
            Request::LoginDevice {
                username: s("ann"),
                password: s("pw"),
                device: DeviceClaim::Known { id: 300 },
            },
            // variant 28, "ann", "pw", Known = 1 300 (varint ac 02)
            &[
                0x00, 0x00, 0x00, 0x0b, 0x1c, 0x03, 0x61, 0x6e, 0x6e, 0x02, 0x70, 0x77, 0x01, 0xac,
                0x02,
            ],
        ),
        (Request::Devices, &[0x00, 0x00, 0x00, 0x01, 0x1d]),
        (
            Request::RevokeDevice { device: 5 },
            &[0x00, 0x00, 0x00, 0x02, 0x1e, 0x05],
        ),
        (
            Request::Typing {
                to: Peer::User(s("bob")),
            },
            // variant 31, User = 0 "bob"
            &[0x00, 0x00, 0x00, 0x06, 0x1f, 0x00, 0x03, 0x62, 0x6f, 0x62],
        ),
        (
            Request::MarkRead {
                peer: Peer::User(s("bob")),
                seq: 9,
            },
            // variant 32, User = 0 "bob", seq 9
            &[
                0x00, 0x00, 0x00, 0x07, 0x20, 0x00, 0x03, 0x62, 0x6f, 0x62, 0x09,
            ],
        ),
        (
            Request::SetReadReceipts { on: false },
            &[0x00, 0x00, 0x00, 0x02, 0x21, 0x00],
        ),
    ]
}

pub(crate) fn response_cases() -> Vec<(Response, &'static [u8])> {
    vec![
        (Response::Done, &[0x00, 0x00, 0x00, 0x01, 0x00]),
        (Response::Pong, &[0x00, 0x00, 0x00, 0x01, 0x01]),
        (
            Response::LoggedInDevice {
                user: s("ann"),
                device: 7,
            },
            // variant 15, "ann", 7
            &[0x00, 0x00, 0x00, 0x06, 0x0f, 0x03, 0x61, 0x6e, 0x6e, 0x07],
        ),
        (
            Response::Devices(vec![DeviceInfo {
                id: 7,
                name: s("pc"),
                last_seen: 1000,
                online: true,
            }]),
            // variant 16, one device: 7, "pc", 1000 (varint e8 07), true
            &[
                0x00, 0x00, 0x00, 0x09, 0x10, 0x01, 0x07, 0x02, 0x70, 0x63, 0xe8, 0x07, 0x01,
            ],
        ),
        (
            Response::LoggedIn { user: s("ann") },
            &[0x00, 0x00, 0x00, 0x05, 0x02, 0x03, 0x61, 0x6e, 0x6e],
        ),
        (
            Response::Users(vec![s("ann"), s("bob")]),
            &[
                0x00, 0x00, 0x00, 0x0a, 0x03, 0x02, 0x03, 0x61, 0x6e, 0x6e, 0x03, 0x62, 0x6f, 0x62,
            ],
        ),
        (
            Response::FriendRequested { friends: true },
            &[0x00, 0x00, 0x00, 0x02, 0x04, 0x01],
        ),
        (
            Response::Friends(vec![FriendEntry {
                user: s("bob"),
                state: FriendState::RequestSent,
                online: false,
            }]),
            // variant 5, 1 entry: "bob", RequestSent = 1, false
            &[
                0x00, 0x00, 0x00, 0x08, 0x05, 0x01, 0x03, 0x62, 0x6f, 0x62, 0x01, 0x00,
            ],
        ),
        (Response::Count(3), &[0x00, 0x00, 0x00, 0x02, 0x06, 0x03]),
        (
            Response::Sent {
                id: 9,
                seq: 2,
                ts: 1_700_000_000_000,
            },
            // ts 1_700_000_000_000 = varint 80 d0 95 ff bc 31
            &[
                0x00, 0x00, 0x00, 0x09, 0x07, 0x09, 0x02, 0x80, 0xd0, 0x95, 0xff, 0xbc, 0x31,
            ],
        ),
        (
            Response::History(vec![message()]),
            // variant 8, 1 message: id 9, seq 2, "ann", User "bob", Text "hi", ts 1000
            &[
                0x00, 0x00, 0x00, 0x13, 0x08, 0x01, 0x09, 0x02, 0x03, 0x61, 0x6e, 0x6e, 0x00, 0x03,
                0x62, 0x6f, 0x62, 0x00, 0x02, 0x68, 0x69, 0xe8, 0x07,
            ],
        ),
        (
            Response::Rooms(vec![RoomInfo {
                name: s("lobby"),
                owner: s("ann"),
                members: 3,
                joined: true,
            }]),
            &[
                0x00, 0x00, 0x00, 0x0e, 0x09, 0x01, 0x05, 0x6c, 0x6f, 0x62, 0x62, 0x79, 0x03, 0x61,
                0x6e, 0x6e, 0x03, 0x01,
            ],
        ),
        (
            Response::Members(vec![MemberEntry {
                user: s("bob"),
                online: true,
            }]),
            &[
                0x00, 0x00, 0x00, 0x07, 0x0a, 0x01, 0x03, 0x62, 0x6f, 0x62, 0x01,
            ],
        ),
        (
            Response::FileOffered {
                file: 21,
                chunk_size: 262_144,
            },
            &[0x00, 0x00, 0x00, 0x05, 0x0b, 0x15, 0x80, 0x80, 0x10],
        ),
        (
            Response::Files(vec![FileInfo {
                id: 21,
                from: s("ann"),
                to: Peer::User(s("bob")),
                name: s("a.txt"),
                size: 4,
                sha256: sha256(),
                ts: 1000,
            }]),
            &[
                0x00, 0x00, 0x00, 0x35, 0x0c, 0x01, 0x15, 0x03, 0x61, 0x6e, 0x6e, 0x00, 0x03, 0x62,
                0x6f, 0x62, 0x05, 0x61, 0x2e, 0x74, 0x78, 0x74, 0x04, 0x00, 0x08, 0x10, 0x18, 0x20,
                0x28, 0x30, 0x38, 0x40, 0x48, 0x50, 0x58, 0x60, 0x68, 0x70, 0x78, 0x80, 0x88, 0x90,
                0x98, 0xa0, 0xa8, 0xb0, 0xb8, 0xc0, 0xc8, 0xd0, 0xd8, 0xe0, 0xe8, 0xf0, 0xf8, 0xe8,
                0x07,
            ],
        ),
        (
            Response::Chunk(vec![1, 2, 3]),
            &[0x00, 0x00, 0x00, 0x05, 0x0d, 0x03, 0x01, 0x02, 0x03],
        ),
        (
            Response::Page {
                items: Items::Users(vec![s("ann")]),
                next: Some(s("ann")),
            },
            // variant 14, Users = 0 with 1 name "ann", Some "ann"
            &[
                0x00, 0x00, 0x00, 0x0c, 0x0e, 0x00, 0x01, 0x03, 0x61, 0x6e, 0x6e, 0x01, 0x03, 0x61,
                0x6e, 0x6e,
            ],
        ),
    ]
}

pub(crate) fn event_cases() -> Vec<(Event, &'static [u8])> {
    vec![
        (
            Event::DeliveredTo {
                peer: s("bob"),
                seq: 3,
            },
            // variant 18, "bob", seq 3
            &[0x00, 0x00, 0x00, 0x06, 0x12, 0x03, 0x62, 0x6f, 0x62, 0x03],
        ),
        (
            Event::ReadUpTo {
                peer: Peer::Room(s("lobby")),
                seq: 4,
                unread: 1,
            },
            // variant 19, Room = 1 "lobby", seq 4, unread 1
            &[
                0x00, 0x00, 0x00, 0x0a, 0x13, 0x01, 0x05, 0x6c, 0x6f, 0x62, 0x62, 0x79, 0x04, 0x01,
            ],
        ),
        (
            Event::Read {
                by: s("ann"),
                seq: 2,
            },
            // variant 20, "ann", seq 2
            &[0x00, 0x00, 0x00, 0x06, 0x14, 0x03, 0x61, 0x6e, 0x6e, 0x02],
        ),
        (
            Event::Unread(vec![Unread {
                peer: Peer::User(s("ann")),
                unread: 2,
                read_seq: 1,
                last_seq: 3,
            }]),
            // variant 21, one entry: User = 0 "ann", 2, 1, 3
            &[
                0x00, 0x00, 0x00, 0x0a, 0x15, 0x01, 0x00, 0x03, 0x61, 0x6e, 0x6e, 0x02, 0x01, 0x03,
            ],
        ),
        (Event::FellBehind, &[0x00, 0x00, 0x00, 0x01, 0x16]),
        (
            Event::Typing {
                from: s("ann"),
                to: Peer::Room(s("lobby")),
                expires_ms: 5_000,
            },
            // variant 17, "ann", Room = 1 "lobby", 5000 (varint 88 27)
            &[
                0x00, 0x00, 0x00, 0x0e, 0x11, 0x03, 0x61, 0x6e, 0x6e, 0x01, 0x05, 0x6c, 0x6f, 0x62,
                0x62, 0x79, 0x88, 0x27,
            ],
        ),
        (
            Event::Message(message()),
            &[
                0x00, 0x00, 0x00, 0x12, 0x00, 0x09, 0x02, 0x03, 0x61, 0x6e, 0x6e, 0x00, 0x03, 0x62,
                0x6f, 0x62, 0x00, 0x02, 0x68, 0x69, 0xe8, 0x07,
            ],
        ),
        (
            Event::Delivered {
                id: 11,
                ids: vec![9, 10],
            },
            &[0x00, 0x00, 0x00, 0x05, 0x01, 0x0b, 0x02, 0x09, 0x0a],
        ),
        (Event::CaughtUp, &[0x00, 0x00, 0x00, 0x01, 0x02]),
        (
            Event::Presence {
                user: s("bob"),
                online: true,
            },
            &[0x00, 0x00, 0x00, 0x06, 0x03, 0x03, 0x62, 0x6f, 0x62, 0x01],
        ),
        (
            Event::FriendRequested {
                id: 12,
                from: s("ann"),
                note: s("hi"),
            },
            &[
                0x00, 0x00, 0x00, 0x09, 0x04, 0x0c, 0x03, 0x61, 0x6e, 0x6e, 0x02, 0x68, 0x69,
            ],
        ),
        (
            Event::FriendAdded {
                id: 13,
                user: s("bob"),
            },
            &[0x00, 0x00, 0x00, 0x06, 0x05, 0x0d, 0x03, 0x62, 0x6f, 0x62],
        ),
        (
            Event::FriendRejected {
                id: 14,
                user: s("bob"),
            },
            &[0x00, 0x00, 0x00, 0x06, 0x06, 0x0e, 0x03, 0x62, 0x6f, 0x62],
        ),
        (
            Event::FriendRemoved {
                id: 15,
                user: s("bob"),
            },
            &[0x00, 0x00, 0x00, 0x06, 0x07, 0x0f, 0x03, 0x62, 0x6f, 0x62],
        ),
        (
            Event::Kicked {
                reason: s("replaced"),
            },
            &[
                0x00, 0x00, 0x00, 0x0a, 0x08, 0x08, 0x72, 0x65, 0x70, 0x6c, 0x61, 0x63, 0x65, 0x64,
            ],
        ),
        (Event::ServerShutdown, &[0x00, 0x00, 0x00, 0x01, 0x09]),
        (
            Event::Closing {
                code: ErrorCode::RateLimited,
            },
            // variant 10, RateLimited = 30
            &[0x00, 0x00, 0x00, 0x02, 0x0a, 0x1e],
        ),
        (
            Event::RoomJoined {
                room: s("lobby"),
                user: s("bob"),
            },
            &[
                0x00, 0x00, 0x00, 0x0b, 0x0b, 0x05, 0x6c, 0x6f, 0x62, 0x62, 0x79, 0x03, 0x62, 0x6f,
                0x62,
            ],
        ),
        (
            Event::RoomLeft {
                room: s("lobby"),
                user: s("bob"),
            },
            &[
                0x00, 0x00, 0x00, 0x0b, 0x0c, 0x05, 0x6c, 0x6f, 0x62, 0x62, 0x79, 0x03, 0x62, 0x6f,
                0x62,
            ],
        ),
        (
            Event::RoomDeleted { room: s("lobby") },
            &[
                0x00, 0x00, 0x00, 0x07, 0x0d, 0x05, 0x6c, 0x6f, 0x62, 0x62, 0x79,
            ],
        ),
        (
            Event::FileShared {
                id: 21,
                from: s("ann"),
                to: Peer::Room(s("lobby")),
                name: s("a.txt"),
                size: 4,
            },
            &[
                0x00, 0x00, 0x00, 0x14, 0x0e, 0x15, 0x03, 0x61, 0x6e, 0x6e, 0x01, 0x05, 0x6c, 0x6f,
                0x62, 0x62, 0x79, 0x05, 0x61, 0x2e, 0x74, 0x78, 0x74, 0x04,
            ],
        ),
        (
            Event::RoomUnread {
                room: s("lobby"),
                read_seq: 5,
                last_seq: 130,
            },
            // 130 = varint 82 01
            &[
                0x00, 0x00, 0x00, 0x0a, 0x0f, 0x05, 0x6c, 0x6f, 0x62, 0x62, 0x79, 0x05, 0x82, 0x01,
            ],
        ),
        (Event::Ping, &[0x00, 0x00, 0x00, 0x01, 0x10]),
    ]
}

#[test]
fn client_frame_golden() {
    check_enum(&client_frame_cases(), client_frame_tag, 4);
}

#[test]
fn server_frame_golden() {
    check_enum(&server_frame_cases(), server_frame_tag, 4);
}

#[test]
fn request_golden() {
    check_enum(&request_cases(), request_tag, 34);
}

#[test]
fn response_golden() {
    check_enum(&response_cases(), response_tag, 17);
}

#[test]
fn event_golden() {
    check_enum(&event_cases(), event_tag, 23);
}

#[test]
fn peer_golden() {
    let cases: Vec<(Peer, &[u8])> = vec![
        (
            Peer::User(s("ann")),
            &[0x00, 0x00, 0x00, 0x05, 0x00, 0x03, 0x61, 0x6e, 0x6e],
        ),
        (
            Peer::Room(s("lobby")),
            &[
                0x00, 0x00, 0x00, 0x07, 0x01, 0x05, 0x6c, 0x6f, 0x62, 0x62, 0x79,
            ],
        ),
    ];
    check_enum(&cases, peer_tag, 2);
}

#[test]
fn body_golden() {
    let cases: Vec<(Body, &[u8])> = vec![(
        Body::Text(s("hi")),
        &[0x00, 0x00, 0x00, 0x04, 0x00, 0x02, 0x68, 0x69],
    )];
    check_enum(&cases, body_tag, 1);
}

#[test]
fn friend_state_golden() {
    let cases: Vec<(FriendState, &[u8])> = vec![
        (FriendState::Friends, &[0x00, 0x00, 0x00, 0x01, 0x00]),
        (FriendState::RequestSent, &[0x00, 0x00, 0x00, 0x01, 0x01]),
        (
            FriendState::RequestReceived,
            &[0x00, 0x00, 0x00, 0x01, 0x02],
        ),
        (FriendState::Blocked, &[0x00, 0x00, 0x00, 0x01, 0x03]),
    ];
    check_enum(&cases, friend_state_tag, 4);
}

#[test]
fn list_golden() {
    let cases: Vec<(List, &[u8])> = vec![
        (
            List::Users { prefix: s("an") },
            &[0x00, 0x00, 0x00, 0x04, 0x00, 0x02, 0x61, 0x6e],
        ),
        (List::Friends, &[0x00, 0x00, 0x00, 0x01, 0x01]),
        (List::Rooms, &[0x00, 0x00, 0x00, 0x01, 0x02]),
        (
            List::Members { room: s("lobby") },
            &[
                0x00, 0x00, 0x00, 0x07, 0x03, 0x05, 0x6c, 0x6f, 0x62, 0x62, 0x79,
            ],
        ),
        (
            List::Files {
                peer: Peer::Room(s("lobby")),
            },
            &[
                0x00, 0x00, 0x00, 0x08, 0x04, 0x01, 0x05, 0x6c, 0x6f, 0x62, 0x62, 0x79,
            ],
        ),
        (
            List::History {
                peer: Peer::User(s("bob")),
            },
            &[0x00, 0x00, 0x00, 0x06, 0x05, 0x00, 0x03, 0x62, 0x6f, 0x62],
        ),
    ];
    check_enum(&cases, list_tag, 6);
}

/// A page's items encode as the older whole-list responses do, under their own
/// variant numbers.
#[test]
fn items_golden() {
    let cases: Vec<(Items, &[u8])> = vec![
        (
            Items::Users(vec![s("ann")]),
            &[0x00, 0x00, 0x00, 0x06, 0x00, 0x01, 0x03, 0x61, 0x6e, 0x6e],
        ),
        (
            Items::Friends(vec![FriendEntry {
                user: s("bob"),
                state: FriendState::RequestSent,
                online: false,
            }]),
            &[
                0x00, 0x00, 0x00, 0x08, 0x01, 0x01, 0x03, 0x62, 0x6f, 0x62, 0x01, 0x00,
            ],
        ),
        (
            Items::Rooms(vec![RoomInfo {
                name: s("lobby"),
                owner: s("ann"),
                members: 3,
                joined: true,
            }]),
            &[
                0x00, 0x00, 0x00, 0x0e, 0x02, 0x01, 0x05, 0x6c, 0x6f, 0x62, 0x62, 0x79, 0x03, 0x61,
                0x6e, 0x6e, 0x03, 0x01,
            ],
        ),
        (
            Items::Members(vec![MemberEntry {
                user: s("bob"),
                online: true,
            }]),
            &[
                0x00, 0x00, 0x00, 0x07, 0x03, 0x01, 0x03, 0x62, 0x6f, 0x62, 0x01,
            ],
        ),
        (
            Items::Files(vec![FileInfo {
                id: 21,
                from: s("ann"),
                to: Peer::User(s("bob")),
                name: s("a.txt"),
                size: 4,
                sha256: sha256(),
                ts: 1000,
            }]),
            &[
                0x00, 0x00, 0x00, 0x35, 0x04, 0x01, 0x15, 0x03, 0x61, 0x6e, 0x6e, 0x00, 0x03, 0x62,
                0x6f, 0x62, 0x05, 0x61, 0x2e, 0x74, 0x78, 0x74, 0x04, 0x00, 0x08, 0x10, 0x18, 0x20,
                0x28, 0x30, 0x38, 0x40, 0x48, 0x50, 0x58, 0x60, 0x68, 0x70, 0x78, 0x80, 0x88, 0x90,
                0x98, 0xa0, 0xa8, 0xb0, 0xb8, 0xc0, 0xc8, 0xd0, 0xd8, 0xe0, 0xe8, 0xf0, 0xf8, 0xe8,
                0x07,
            ],
        ),
        (
            Items::History(vec![message()]),
            &[
                0x00, 0x00, 0x00, 0x13, 0x05, 0x01, 0x09, 0x02, 0x03, 0x61, 0x6e, 0x6e, 0x00, 0x03,
                0x62, 0x6f, 0x62, 0x00, 0x02, 0x68, 0x69, 0xe8, 0x07,
            ],
        ),
    ];
    check_enum(&cases, items_tag, 6);
}

/// Requests, responses and events nest into frames byte for byte: the frame adds its
/// own variant and fields in front of the inner payload.
#[test]
fn nested_payloads_compose() {
    for (request, golden) in request_cases() {
        let frame = ClientFrame::Request {
            req_id: 5,
            request: request.clone(),
        };
        let mut expected_payload = vec![0x01, 0x05];
        expected_payload.extend_from_slice(&golden[4..]);
        assert_eq!(encoded(&frame)[4..], expected_payload[..], "{request:?}");
    }
    for (response, golden) in response_cases() {
        let frame = ServerFrame::Response {
            req_id: 5,
            result: Ok(response.clone()),
        };
        let mut expected_payload = vec![0x01, 0x05, 0x00];
        expected_payload.extend_from_slice(&golden[4..]);
        assert_eq!(encoded(&frame)[4..], expected_payload[..], "{response:?}");
    }
    for (event, golden) in event_cases() {
        let frame = ServerFrame::Event(event.clone());
        let mut expected_payload = vec![0x02];
        expected_payload.extend_from_slice(&golden[4..]);
        assert_eq!(encoded(&frame)[4..], expected_payload[..], "{event:?}");
    }
}

/// The stable names, in wire order. Append only.
const ERROR_CODE_NAMES: &[&str] = &[
    "protocol_violation",
    "unsupported_version",
    "frame_too_large",
    "malformed_frame",
    "not_authenticated",
    "already_authenticated",
    "invalid_credentials",
    "username_taken",
    "invalid_username",
    "invalid_password",
    "no_such_user",
    "already_friends",
    "already_requested",
    "no_such_request",
    "not_friends",
    "blocked",
    "cannot_befriend_self",
    "too_many_pending_requests",
    "invalid_message",
    "invalid_argument",
    "no_such_room",
    "room_exists",
    "invalid_room_name",
    "not_room_member",
    "not_room_owner",
    "no_such_file",
    "file_too_large",
    "invalid_file_name",
    "checksum_mismatch",
    "bad_chunk",
    "rate_limited",
    "too_many_connections",
    "timeout",
    "shutting_down",
    "internal",
    "too_many_rooms",
    "quota_exceeded",
    "too_many_uploads",
    "storage_full",
    "unavailable",
    "client_msg_id_reused",
    "too_many_requests_to_user",
    "registration_throttled",
    "unknown_device",
    "device_revoked",
    "too_many_devices",
    "invalid_device_name",
];

#[test]
fn error_codes_encode_as_their_position() {
    assert_eq!(ErrorCode::ALL.len(), ERROR_CODE_NAMES.len());
    // A single varint byte up to 127; past that the test below must be extended.
    assert!(ErrorCode::ALL.len() <= 128);
    for (i, code) in ErrorCode::ALL.iter().enumerate() {
        assert_golden(code, &[0x00, 0x00, 0x00, 0x01, i as u8]);
    }
    // Spot checks that pin a few codes to their positions by name, independently
    // of the order of `ALL`.
    let pinned = [
        (ErrorCode::ProtocolViolation, 0u8),
        (ErrorCode::UnsupportedVersion, 1),
        (ErrorCode::FrameTooLarge, 2),
        (ErrorCode::MalformedFrame, 3),
        (ErrorCode::NotAuthenticated, 4),
        (ErrorCode::InvalidCredentials, 6),
        (ErrorCode::NoSuchUser, 10),
        (ErrorCode::AlreadyFriends, 11),
        (ErrorCode::NotFriends, 14),
        (ErrorCode::Blocked, 15),
        (ErrorCode::TooManyPendingRequests, 17),
        (ErrorCode::RateLimited, 30),
        (ErrorCode::Internal, 34),
        (ErrorCode::TooManyRooms, 35),
        (ErrorCode::RegistrationThrottled, 42),
        (ErrorCode::InvalidDeviceName, 46),
    ];
    for (code, position) in pinned {
        assert_golden(&code, &[0x00, 0x00, 0x00, 0x01, position]);
    }
}

#[test]
fn error_code_names_are_stable_unique_snake_case() {
    let names: Vec<&str> = ErrorCode::ALL.iter().map(|c| c.as_str()).collect();
    assert_eq!(names, ERROR_CODE_NAMES);
    let mut unique = names.clone();
    unique.sort_unstable();
    unique.dedup();
    assert_eq!(unique.len(), names.len(), "duplicate error code names");
    for code in ErrorCode::ALL {
        let name = code.as_str();
        let snake = !name.is_empty()
            && name.starts_with(|c: char| c.is_ascii_lowercase())
            && !name.ends_with('_')
            && !name.contains("__")
            && name
                .chars()
                .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_');
        assert!(
            snake,
            "{code:?} has a name that is not snake_case: {name:?}"
        );
        // The name is the variant name in snake_case.
        let camel: String = name
            .split('_')
            .map(|w| {
                let mut cs = w.chars();
                let first = cs.next().unwrap().to_ascii_uppercase();
                std::iter::once(first).chain(cs).collect::<String>()
            })
            .collect();
        assert_eq!(format!("{code:?}"), camel);
        assert!(!code.message().is_empty(), "{code:?} has no message");
        assert_eq!(code.to_string(), code.message());
    }
}

fn varint(mut n: u64) -> Vec<u8> {
    let mut out = Vec::new();
    loop {
        let byte = (n & 0x7f) as u8;
        n >>= 7;
        if n == 0 {
            out.push(byte);
            return out;
        }
        out.push(byte | 0x80);
    }
}

#[test]
fn hello_is_variant_zero_with_version_first() {
    for version in [0, 1, PROTOCOL_VERSION, 2, 127, 128, 300, u16::MAX] {
        let mut expected = vec![0x00];
        expected.extend(varint(version.into()));
        expected.extend([0x01, b'x']);
        let client = ClientFrame::Hello {
            version,
            client: s("x"),
        };
        assert_eq!(encoded(&client)[4..], expected[..], "{client:?}");
        let server = ServerFrame::Hello {
            version,
            server: s("x"),
        };
        assert_eq!(encoded(&server)[4..], expected[..], "{server:?}");
    }
}

/// A hello from a future version (a different number, and possibly fields appended
/// after the name) is still read as a hello, so the server can answer with the
/// version the connection will use (its own) instead of `MalformedFrame`.
#[test]
fn hello_from_a_future_version_is_readable() {
    let future = 999u16;
    let mut payload = vec![0x00];
    payload.extend(varint(future.into()));
    payload.extend([0x03, b'n', b'e', b'w']);
    // Fields a future hello might append: a feature list and a flag.
    payload.extend([0x02, 0x01, b'a', 0x01, b'b', 0x01]);
    let mut frame = (payload.len() as u32).to_be_bytes().to_vec();
    frame.extend(&payload);

    let hello: ClientFrame = decoded(&frame);
    assert_eq!(
        hello,
        ClientFrame::Hello {
            version: future,
            client: s("new"),
        }
    );
    let mut session = Session::new();
    assert_eq!(session.on_frame(hello), Action::Greet);
    assert_eq!(session.version(), PROTOCOL_VERSION);

    let hello: ServerFrame = decoded(&frame);
    assert_eq!(
        hello,
        ServerFrame::Hello {
            version: future,
            server: s("new"),
        }
    );
}
