//! Seeds of the `frame_decoder` corpus: every client and server frame variant,
//! whole streams, and broken input.

use bytes::BytesMut;
use chatcore::protocol::{
    encode_frame, Body, ClientFrame, DeviceClaim, DeviceInfo, ErrorCode, Event, FileInfo,
    FriendEntry, FriendState, Items, List, MemberEntry, Message, Peer, Request, Response, RoomInfo,
    ServerFrame, Unread, DEFAULT_MAX_FRAME_LEN, PROTOCOL_VERSION,
};

use super::s;

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
        Request::Page {
            list: List::Members { room: s("lobby") },
            after: Some(s("7")),
            limit: 100,
        },
        Request::LoginDevice {
            username: s("ann"),
            password: s("ann-password"),
            device: DeviceClaim::New { name: s("laptop") },
        },
        Request::Devices,
        Request::RevokeDevice { device: 12 },
        Request::Typing {
            to: Peer::User(s("bob")),
        },
        Request::MarkRead {
            peer: Peer::Room(s("lobby")),
            seq: 3,
        },
        Request::SetReadReceipts { on: false },
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
        Request::Page { .. } => "page",
        Request::LoginDevice { .. } => "login-device",
        Request::Devices => "devices",
        Request::RevokeDevice { .. } => "revoke-device",
        Request::Typing { .. } => "typing",
        Request::MarkRead { .. } => "mark-read",
        Request::SetReadReceipts { .. } => "set-read-receipts",
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
        Ok(Response::Page {
            items: Items::Rooms(vec![RoomInfo {
                name: s("den"),
                owner: s("bob"),
                members: 1,
                joined: false,
            }]),
            next: Some(s("den")),
        }),
        Ok(Response::LoggedInDevice {
            user: s("ann"),
            device: 12,
        }),
        Ok(Response::Devices(vec![DeviceInfo {
            id: 12,
            name: s("laptop"),
            last_seen: 1_700_000_000_000,
            online: true,
        }])),
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
        Ok(Response::Page { .. }) => "page",
        Ok(Response::LoggedInDevice { .. }) => "logged-in-device",
        Ok(Response::Devices(_)) => "devices",
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
        Event::Typing {
            from: s("ann"),
            to: Peer::Room(s("lobby")),
            expires_ms: 5_000,
        },
        Event::DeliveredTo {
            peer: s("bob"),
            seq: 4,
        },
        Event::ReadUpTo {
            peer: Peer::User(s("bob")),
            seq: 4,
            unread: 0,
        },
        Event::Read {
            by: s("bob"),
            seq: 2,
        },
        Event::Unread(vec![Unread {
            peer: Peer::Room(s("lobby")),
            unread: 3,
            read_seq: 1,
            last_seq: 4,
        }]),
        Event::FellBehind,
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
        Event::Typing { .. } => "typing",
        Event::DeliveredTo { .. } => "delivered-to",
        Event::ReadUpTo { .. } => "read-up-to",
        Event::Read { .. } => "read",
        Event::Unread(_) => "unread",
        Event::FellBehind => "fell-behind",
    }
}

/// Encoded frames of every variant each way, a few streams, and broken input.
pub(super) fn frame_seeds() -> Vec<(String, Vec<u8>)> {
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
    let item = frame(&ServerFrame::Item {
        pos: 7,
        event: Event::Read {
            by: s("bob"),
            seq: 2,
        },
    });
    stream.extend(&item);
    seeds.push((s("server-item"), item));
    seeds.push((s("stream-server-all"), stream));
    let ack_up_to = frame(&ClientFrame::AckUpTo { pos: 7 });
    seeds.push((s("client-ack-up-to"), ack_up_to));
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
