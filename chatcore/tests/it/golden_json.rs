//! Golden JSON: the text messages of the WebSocket transport's JSON
//! subprotocol (`chatcore.json.v1`), a published interface for browsers.
//!
//! serde's externally tagged form: a unit variant is its name as a string
//! (`"Ping"`), any other variant an object with one key, its name; structs
//! are objects; `Option` is the value or `null`; `Result` is `{"Ok": ...}` or
//! `{"Err": ...}`. Error codes are their snake_case names, file chunks
//! base64, SHA-256 digests 64 hex digits. `docs/websocket.md` shows these
//! same strings: change one only with the other, and only by adding.

use std::fmt::Debug;

use chatcore::protocol::{
    Body, ClientFrame, DeviceClaim, ErrorCode, Event, FileInfo, FriendEntry, FriendState, Items,
    List, Message, Peer, Request, Response, ServerFrame, Unread,
};
use serde::{de::DeserializeOwned, Serialize};

use super::golden;

/// `value`'s JSON is exactly `expected`, and `expected` reads back as `value`.
fn assert_json<T>(value: &T, expected: &str)
where
    T: Serialize + DeserializeOwned + PartialEq + Debug,
{
    let actual = serde_json::to_string(value).expect("encodes");
    assert_eq!(actual, expected, "JSON of {value:?} changed");
    let back: T = serde_json::from_str(expected).expect("golden JSON decodes");
    assert_eq!(&back, value, "golden JSON of {value:?}");
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

fn sha256() -> [u8; 32] {
    std::array::from_fn(|i| i as u8 * 8)
}

const SHA256_HEX: &str = "0008101820283038404850586068707880889098a0a8b0b8c0c8d0d8e0e8f0f8";

fn request(req_id: u32, request: Request) -> ClientFrame {
    ClientFrame::Request { req_id, request }
}

fn ok(req_id: u32, response: Response) -> ServerFrame {
    ServerFrame::Response {
        req_id,
        result: Ok(response),
    }
}

#[test]
fn client_frames() {
    let cases: Vec<(ClientFrame, String)> = vec![
        (
            ClientFrame::Hello {
                version: 5,
                client: s("web"),
            },
            r#"{"Hello":{"version":5,"client":"web"}}"#.into(),
        ),
        (request(1, Request::Ping), r#"{"Request":{"req_id":1,"request":"Ping"}}"#.into()),
        (
            request(
                2,
                Request::Register {
                    username: s("ann"),
                    password: s("a long password"),
                },
            ),
            r#"{"Request":{"req_id":2,"request":{"Register":{"username":"ann","password":"a long password"}}}}"#.into(),
        ),
        (
            request(
                3,
                Request::LoginDevice {
                    username: s("ann"),
                    password: s("a long password"),
                    device: DeviceClaim::New { name: s("browser") },
                },
            ),
            r#"{"Request":{"req_id":3,"request":{"LoginDevice":{"username":"ann","password":"a long password","device":{"New":{"name":"browser"}}}}}}"#.into(),
        ),
        (
            request(
                3,
                Request::LoginDevice {
                    username: s("ann"),
                    password: s("a long password"),
                    device: DeviceClaim::Known { id: 42 },
                },
            ),
            r#"{"Request":{"req_id":3,"request":{"LoginDevice":{"username":"ann","password":"a long password","device":{"Known":{"id":42}}}}}}"#.into(),
        ),
        (
            request(
                4,
                Request::Send {
                    to: Peer::User(s("bob")),
                    client_msg_id: 77,
                    body: Body::Text(s("hello 😄")),
                },
            ),
            r#"{"Request":{"req_id":4,"request":{"Send":{"to":{"User":"bob"},"client_msg_id":77,"body":{"Text":"hello 😄"}}}}}"#.into(),
        ),
        (
            request(
                5,
                Request::FriendRequest {
                    to: s("bob"),
                    note: s("hi"),
                },
            ),
            r#"{"Request":{"req_id":5,"request":{"FriendRequest":{"to":"bob","note":"hi"}}}}"#.into(),
        ),
        (
            request(
                6,
                Request::FriendRespond {
                    from: s("ann"),
                    accept: true,
                },
            ),
            r#"{"Request":{"req_id":6,"request":{"FriendRespond":{"from":"ann","accept":true}}}}"#.into(),
        ),
        (
            request(
                7,
                Request::Page {
                    list: List::History {
                        peer: Peer::Room(s("lobby")),
                    },
                    after: None,
                    limit: 50,
                },
            ),
            r#"{"Request":{"req_id":7,"request":{"Page":{"list":{"History":{"peer":{"Room":"lobby"}}},"after":null,"limit":50}}}}"#.into(),
        ),
        (
            request(
                8,
                Request::Page {
                    list: List::Friends,
                    after: Some(s("17")),
                    limit: 100,
                },
            ),
            r#"{"Request":{"req_id":8,"request":{"Page":{"list":"Friends","after":"17","limit":100}}}}"#.into(),
        ),
        (
            request(
                9,
                Request::MarkRead {
                    peer: Peer::User(s("bob")),
                    seq: 12,
                },
            ),
            r#"{"Request":{"req_id":9,"request":{"MarkRead":{"peer":{"User":"bob"},"seq":12}}}}"#.into(),
        ),
        (
            request(10, Request::Typing { to: Peer::Room(s("lobby")) }),
            r#"{"Request":{"req_id":10,"request":{"Typing":{"to":{"Room":"lobby"}}}}}"#.into(),
        ),
        (
            request(11, Request::JoinRoom { name: s("lobby") }),
            r#"{"Request":{"req_id":11,"request":{"JoinRoom":{"name":"lobby"}}}}"#.into(),
        ),
        (
            request(
                12,
                Request::OfferFile {
                    to: Peer::User(s("bob")),
                    name: s("notes.txt"),
                    size: 5,
                    sha256: sha256(),
                },
            ),
            format!(r#"{{"Request":{{"req_id":12,"request":{{"OfferFile":{{"to":{{"User":"bob"}},"name":"notes.txt","size":5,"sha256":"{SHA256_HEX}"}}}}}}}}"#),
        ),
        (
            request(
                13,
                Request::UploadChunk {
                    file: 31,
                    offset: 0,
                    bytes: b"hello".to_vec(),
                },
            ),
            r#"{"Request":{"req_id":13,"request":{"UploadChunk":{"file":31,"offset":0,"bytes":"aGVsbG8="}}}}"#.into(),
        ),
        (
            request(
                14,
                Request::DownloadChunk {
                    file: 31,
                    offset: 0,
                    len: 262144,
                },
            ),
            r#"{"Request":{"req_id":14,"request":{"DownloadChunk":{"file":31,"offset":0,"len":262144}}}}"#.into(),
        ),
        (
            ClientFrame::AckUpTo { pos: 17 },
            r#"{"AckUpTo":{"pos":17}}"#.into(),
        ),
        (
            ClientFrame::Ack { ids: vec![1, 2] },
            r#"{"Ack":{"ids":[1,2]}}"#.into(),
        ),
    ];
    for (frame, json) in &cases {
        assert_json(frame, json);
    }
}

#[test]
fn server_frames() {
    let cases: Vec<(ServerFrame, String)> = vec![
        (
            ServerFrame::Hello {
                version: 5,
                server: s("chatcore 0.1.0"),
            },
            r#"{"Hello":{"version":5,"server":"chatcore 0.1.0"}}"#.into(),
        ),
        (ok(1, Response::Pong), r#"{"Response":{"req_id":1,"result":{"Ok":"Pong"}}}"#.into()),
        (ok(2, Response::Done), r#"{"Response":{"req_id":2,"result":{"Ok":"Done"}}}"#.into()),
        (
            ServerFrame::Response {
                req_id: 3,
                result: Err(ErrorCode::InvalidCredentials),
            },
            r#"{"Response":{"req_id":3,"result":{"Err":"invalid_credentials"}}}"#.into(),
        ),
        (
            ok(
                3,
                Response::LoggedInDevice {
                    user: s("ann"),
                    device: 42,
                },
            ),
            r#"{"Response":{"req_id":3,"result":{"Ok":{"LoggedInDevice":{"user":"ann","device":42}}}}}"#.into(),
        ),
        (
            ok(
                4,
                Response::Sent {
                    id: 9,
                    seq: 2,
                    ts: 1000,
                },
            ),
            r#"{"Response":{"req_id":4,"result":{"Ok":{"Sent":{"id":9,"seq":2,"ts":1000}}}}}"#.into(),
        ),
        (
            ok(
                5,
                Response::FriendRequested { friends: false },
            ),
            r#"{"Response":{"req_id":5,"result":{"Ok":{"FriendRequested":{"friends":false}}}}}"#.into(),
        ),
        (
            ok(
                7,
                Response::Page {
                    items: Items::History(vec![message()]),
                    next: Some(s("2")),
                },
            ),
            r#"{"Response":{"req_id":7,"result":{"Ok":{"Page":{"items":{"History":[{"id":9,"seq":2,"from":"ann","to":{"User":"bob"},"body":{"Text":"hi"},"ts":1000}]},"next":"2"}}}}}"#.into(),
        ),
        (
            ok(
                8,
                Response::Page {
                    items: Items::Friends(vec![FriendEntry {
                        user: s("bob"),
                        state: FriendState::Friends,
                        online: true,
                    }]),
                    next: None,
                },
            ),
            r#"{"Response":{"req_id":8,"result":{"Ok":{"Page":{"items":{"Friends":[{"user":"bob","state":"Friends","online":true}]},"next":null}}}}}"#.into(),
        ),
        (
            ok(
                12,
                Response::FileOffered {
                    file: 31,
                    chunk_size: 262144,
                },
            ),
            r#"{"Response":{"req_id":12,"result":{"Ok":{"FileOffered":{"file":31,"chunk_size":262144}}}}}"#.into(),
        ),
        (
            ok(14, Response::Chunk(b"hello".to_vec())),
            r#"{"Response":{"req_id":14,"result":{"Ok":{"Chunk":"aGVsbG8="}}}}"#.into(),
        ),
        (
            ok(
                15,
                Response::Files(vec![FileInfo {
                    id: 31,
                    from: s("ann"),
                    to: Peer::User(s("bob")),
                    name: s("notes.txt"),
                    size: 5,
                    sha256: sha256(),
                    ts: 1000,
                }]),
            ),
            format!(r#"{{"Response":{{"req_id":15,"result":{{"Ok":{{"Files":[{{"id":31,"from":"ann","to":{{"User":"bob"}},"name":"notes.txt","size":5,"sha256":"{SHA256_HEX}","ts":1000}}]}}}}}}}}"#),
        ),
        (
            ServerFrame::Item {
                pos: 17,
                event: Event::Message(message()),
            },
            r#"{"Item":{"pos":17,"event":{"Message":{"id":9,"seq":2,"from":"ann","to":{"User":"bob"},"body":{"Text":"hi"},"ts":1000}}}}"#.into(),
        ),
        (
            ServerFrame::Item {
                pos: 18,
                event: Event::FriendRequested {
                    id: 10,
                    from: s("bob"),
                    note: s("hi"),
                },
            },
            r#"{"Item":{"pos":18,"event":{"FriendRequested":{"id":10,"from":"bob","note":"hi"}}}}"#.into(),
        ),
        (
            ServerFrame::Item {
                pos: 19,
                event: Event::Read { by: s("bob"), seq: 2 },
            },
            r#"{"Item":{"pos":19,"event":{"Read":{"by":"bob","seq":2}}}}"#.into(),
        ),
        (
            ServerFrame::Item {
                pos: 20,
                event: Event::ReadUpTo {
                    peer: Peer::Room(s("lobby")),
                    seq: 7,
                    unread: 0,
                },
            },
            r#"{"Item":{"pos":20,"event":{"ReadUpTo":{"peer":{"Room":"lobby"},"seq":7,"unread":0}}}}"#.into(),
        ),
        (ServerFrame::Event(Event::CaughtUp), r#"{"Event":"CaughtUp"}"#.into()),
        (ServerFrame::Event(Event::Ping), r#"{"Event":"Ping"}"#.into()),
        (
            ServerFrame::Event(Event::Presence {
                user: s("bob"),
                online: true,
            }),
            r#"{"Event":{"Presence":{"user":"bob","online":true}}}"#.into(),
        ),
        (
            ServerFrame::Event(Event::DeliveredTo {
                peer: s("bob"),
                seq: 2,
            }),
            r#"{"Event":{"DeliveredTo":{"peer":"bob","seq":2}}}"#.into(),
        ),
        (
            ServerFrame::Event(Event::Typing {
                from: s("bob"),
                to: Peer::User(s("ann")),
                expires_ms: 5000,
            }),
            r#"{"Event":{"Typing":{"from":"bob","to":{"User":"ann"},"expires_ms":5000}}}"#.into(),
        ),
        (
            ServerFrame::Event(Event::Unread(vec![Unread {
                peer: Peer::User(s("bob")),
                unread: 3,
                read_seq: 4,
                last_seq: 7,
            }])),
            r#"{"Event":{"Unread":[{"peer":{"User":"bob"},"unread":3,"read_seq":4,"last_seq":7}]}}"#.into(),
        ),
        (
            ServerFrame::Event(Event::Message(Message {
                to: Peer::Room(s("lobby")),
                ..message()
            })),
            r#"{"Event":{"Message":{"id":9,"seq":2,"from":"ann","to":{"Room":"lobby"},"body":{"Text":"hi"},"ts":1000}}}"#.into(),
        ),
        (
            ServerFrame::Event(Event::Closing {
                code: ErrorCode::FrameTooLarge,
            }),
            r#"{"Event":{"Closing":{"code":"frame_too_large"}}}"#.into(),
        ),
    ];
    for (frame, json) in &cases {
        assert_json(frame, json);
    }
}

/// Every code is its stable snake_case name in JSON.
#[test]
fn error_codes_are_their_names() {
    for &code in ErrorCode::ALL {
        assert_json(&code, &format!("\"{}\"", code.as_str()));
    }
}

/// Every variant of the byte goldens reads back from its JSON as itself.
#[test]
fn every_golden_variant_round_trips_through_json() {
    fn round_trip<T: Serialize + DeserializeOwned + PartialEq + Debug>(cases: Vec<(T, &[u8])>) {
        for (value, _) in cases {
            let json = serde_json::to_string(&value).expect("encodes");
            let back: T = serde_json::from_str(&json).expect("decodes");
            assert_eq!(back, value, "{json}");
        }
    }
    round_trip(golden::client_frame_cases());
    round_trip(golden::server_frame_cases());
    round_trip(golden::request_cases());
    round_trip(golden::response_cases());
    round_trip(golden::event_cases());
}

/// What a browser must not send: bytes as a number array, a digest of the
/// wrong length, an unknown variant.
#[test]
fn malformed_json_is_refused() {
    for bad in [
        r#"{"Request":{"req_id":1,"request":{"UploadChunk":{"file":1,"offset":0,"bytes":[104,105]}}}}"#,
        r#"{"Request":{"req_id":1,"request":{"UploadChunk":{"file":1,"offset":0,"bytes":"not base64!"}}}}"#,
        r#"{"Request":{"req_id":1,"request":{"OfferFile":{"to":{"User":"bob"},"name":"a","size":1,"sha256":"abcd"}}}}"#,
        r#"{"Request":{"req_id":1,"request":"Fly"}}"#,
        r#"{"Hello":{"version":5}}"#,
        "Ping",
    ] {
        assert!(serde_json::from_str::<ClientFrame>(bad).is_err(), "{bad}");
    }
}
