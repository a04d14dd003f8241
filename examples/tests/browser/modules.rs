//! The page's own modules, run in the browser against the Rust types they
//! mirror: the frames the page builds are `ClientFrame`s as serde_json reads
//! them, the `ServerFrame`s serde_json writes are what the page decodes, its
//! shortcodes behave like chat-client's, and its SHA-256 fallback agrees with
//! WebCrypto.

use chatcore::protocol::{
    Body, ClientFrame, DeviceClaim, ErrorCode, Event, FileInfo, Items, List, Message, Peer,
    Request, Response, ServerFrame,
};
use serde_json::{json, Value};

use crate::common::temp_data_dir;
use crate::harness::{run, serial, Driver, Page, WebServer, DESKTOP};

/// Runs `body` (an async function body) with the page's modules `P`
/// (protocol.js), `E` (emoji.js), `S` (sha256.js), `St` (state.js) and `Ev`
/// (events.js) in scope.
async fn with_modules(page: &Page, body: &str, args: Vec<Value>) -> Value {
    let script = format!(
        "const [P, E, S, St, Ev] = await Promise.all(['protocol', 'emoji', 'sha256', 'state', 'events'].map(m => import(`/js/${{m}}.js`)));\n{body}"
    );
    page.js(&format!("return (async () => {{ {script} }})()"), args)
        .await
}

fn text_message(seq: u64, from: &str, to: &str, text: &str) -> Message {
    Message {
        id: 100 + seq,
        seq,
        from: from.into(),
        to: Peer::User(to.into()),
        body: Body::Text(text.into()),
        ts: 1_732_000_000_000 + seq,
    }
}

fn client_frame(value: &Value) -> ClientFrame {
    serde_json::from_value(value.clone())
        .unwrap_or_else(|e| panic!("not a ClientFrame ({e}): {value}"))
}

#[test]
fn the_pages_modules_agree_with_the_rust_types() {
    let _serial = serial();
    run(async {
        let (_tmp, data) = temp_data_dir();
        let server = WebServer::start(&data, None);
        let driver = Driver::start();
        let page = driver.page("modules", &server.url(), DESKTOP).await;

        // Frames the page sends, read by serde_json as the server reads them.
        let frames = with_modules(
            &page,
            "return [
                P.hello('chatcore-web/1'),
                P.request(7, P.Req.loginDevice('ann', 'a long password', {name: 'Chrome on Linux'})),
                P.request(8, P.Req.loginDevice('ann', 'a long password', {id: 42})),
                P.request(9, P.Req.send(P.userPeer('bob'), 123456789, 'hi 👋')),
                P.request(10, P.Req.history(P.roomPeer('lobby'), null, 40)),
                P.request(11, P.Req.offerFile(P.userPeer('bob'), 'a.txt', 3, new Uint8Array(32).fill(171))),
                P.request(12, P.Req.uploadChunk(5, 0, new Uint8Array([0, 1, 255]))),
                P.request(13, P.Req.page(P.List.files(P.roomPeer('lobby')), 'cursor', 1000)),
                P.request(14, P.Req.markRead(P.userPeer('bob'), 4)),
                P.request(15, P.Req.ping()),
                P.ackUpTo(17),
                P.ackIds([3, 4]),
            ]",
            vec![],
        )
        .await;
        let frames: Vec<ClientFrame> = frames
            .as_array()
            .expect("frames")
            .iter()
            .map(client_frame)
            .collect();
        let req = |req_id, request| ClientFrame::Request { req_id, request };
        let bob = || Peer::User("bob".into());
        assert_eq!(
            frames,
            vec![
                ClientFrame::Hello {
                    version: chatcore::protocol::PROTOCOL_VERSION,
                    client: "chatcore-web/1".into()
                },
                req(
                    7,
                    Request::LoginDevice {
                        username: "ann".into(),
                        password: "a long password".into(),
                        device: DeviceClaim::New {
                            name: "Chrome on Linux".into()
                        }
                    }
                ),
                req(
                    8,
                    Request::LoginDevice {
                        username: "ann".into(),
                        password: "a long password".into(),
                        device: DeviceClaim::Known { id: 42 }
                    }
                ),
                req(
                    9,
                    Request::Send {
                        to: bob(),
                        client_msg_id: 123456789,
                        body: Body::Text("hi 👋".into())
                    }
                ),
                req(
                    10,
                    Request::History {
                        peer: Peer::Room("lobby".into()),
                        before_seq: None,
                        limit: 40
                    }
                ),
                req(
                    11,
                    Request::OfferFile {
                        to: bob(),
                        name: "a.txt".into(),
                        size: 3,
                        sha256: [171; 32]
                    }
                ),
                req(
                    12,
                    Request::UploadChunk {
                        file: 5,
                        offset: 0,
                        bytes: vec![0, 1, 255]
                    }
                ),
                req(
                    13,
                    Request::Page {
                        list: List::Files {
                            peer: Peer::Room("lobby".into())
                        },
                        after: Some("cursor".into()),
                        limit: 1000
                    }
                ),
                req(
                    14,
                    Request::MarkRead {
                        peer: bob(),
                        seq: 4
                    }
                ),
                req(15, Request::Ping),
                ClientFrame::AckUpTo { pos: 17 },
                ClientFrame::Ack { ids: vec![3, 4] },
            ]
        );

        // Frames the server sends, as the page flattens them.
        let message = Message {
            id: 9,
            seq: 3,
            from: "bob".into(),
            to: Peer::User("ann".into()),
            body: Body::Text("hello 😄".into()),
            ts: 1_732_000_000_000,
        };
        let file = FileInfo {
            id: 12,
            from: "ann".into(),
            to: bob(),
            name: "r.pdf".into(),
            size: 3,
            sha256: [0xab; 32],
            ts: 5,
        };
        let server_frames: Vec<String> = [
            ServerFrame::Item {
                pos: 4,
                event: Event::Message(message),
            },
            ServerFrame::Response {
                req_id: 3,
                result: Err(ErrorCode::InvalidCredentials),
            },
            ServerFrame::Response {
                req_id: 4,
                result: Ok(Response::Sent {
                    id: 9,
                    seq: 3,
                    ts: 5,
                }),
            },
            ServerFrame::Response {
                req_id: 5,
                result: Ok(Response::Page {
                    items: Items::Files(vec![file]),
                    next: None,
                }),
            },
            ServerFrame::Response {
                req_id: 6,
                result: Ok(Response::Chunk(vec![0, 1, 255])),
            },
            ServerFrame::Event(Event::DeliveredTo {
                peer: "bob".into(),
                seq: 3,
            }),
            ServerFrame::Event(Event::Closing {
                code: ErrorCode::DeviceRevoked,
            }),
            ServerFrame::Event(Event::CaughtUp),
        ]
        .iter()
        .map(|f| serde_json::to_string(f).expect("json"))
        .collect();
        let decoded = with_modules(
            &page,
            "return arguments[0].map(text => {
                const f = P.decodeServerFrame(text);
                const v = f.value;
                if (v && v.type === 'Chunk') v.bytes = Array.from(v.bytes);
                if (v && v.type === 'Page') v.items = v.items.map(i => ({...i, sha256: P.hex(P.digestFrom(i.sha256))}));
                return f;
            })",
            vec![json!(server_frames)],
        )
        .await;
        assert_eq!(
            decoded,
            json!([
                {"kind": "item", "pos": 4, "event": {"type": "Message", "message": {"id": 9, "seq": 3, "from": "bob", "to": {"User": "ann"}, "text": "hello 😄", "ts": 1_732_000_000_000u64}}},
                {"kind": "response", "reqId": 3, "ok": false, "code": "invalid_credentials"},
                {"kind": "response", "reqId": 4, "ok": true, "value": {"type": "Sent", "id": 9, "seq": 3, "ts": 5}},
                {"kind": "response", "reqId": 5, "ok": true, "value": {"type": "Page", "itemsType": "Files", "next": null,
                    "items": [{"id": 12, "from": "ann", "to": {"User": "bob"}, "name": "r.pdf", "size": 3, "sha256": "ab".repeat(32), "ts": 5}]}},
                {"kind": "response", "reqId": 6, "ok": true, "value": {"type": "Chunk", "bytes": [0, 1, 255]}},
                {"kind": "event", "event": {"type": "DeliveredTo", "peer": "bob", "seq": 3}},
                {"kind": "event", "event": {"type": "Closing", "code": "device_revoked"}},
                {"kind": "event", "event": {"type": "CaughtUp"}},
            ])
        );

        // The state: what comes twice (a redelivery after a reconnect, a
        // history page over live messages) counts once, and unread counts
        // are the server's plus what came after them.
        let frames: Vec<String> = [
            ServerFrame::Item {
                pos: 1,
                event: Event::Message(text_message(1, "bob", "ann", "one")),
            },
            ServerFrame::Item {
                pos: 2,
                event: Event::Message(text_message(2, "bob", "ann", "two")),
            },
            ServerFrame::Event(Event::Unread(vec![chatcore::protocol::Unread {
                peer: Peer::User("bob".into()),
                unread: 2,
                read_seq: 0,
                last_seq: 2,
            }])),
            // Again, as after a reconnect whose acks did not get through.
            ServerFrame::Item {
                pos: 1,
                event: Event::Message(text_message(1, "bob", "ann", "one")),
            },
            ServerFrame::Item {
                pos: 3,
                event: Event::Message(text_message(3, "bob", "ann", "three")),
            },
            ServerFrame::Item {
                pos: 4,
                event: Event::Message(text_message(4, "ann", "bob", "mine")),
            },
            ServerFrame::Event(Event::DeliveredTo {
                peer: "bob".into(),
                seq: 4,
            }),
        ]
        .iter()
        .map(|f| serde_json::to_string(f).expect("json"))
        .collect();
        let state = with_modules(
            &page,
            "const state = new St.State();
            state.me = 'ann';
            const session = { state, ui: { isVisible: () => false, notify() {}, loggedOut() {} }, markRead() {}, refreshFriends: async () => {}, catchUpRoom: async () => {}, end() {} };
            for (const text of arguments[0]) Ev.applyEvent(session, P.decodeServerFrame(text).event, true);
            const c = state.conv('@bob');
            const history = P.decodeServerFrame(arguments[1]).value.items;
            for (const m of history) state.addMessage(m);
            return { seqs: [...c.messages.keys()].sort(), unread: c.unread('ann'), delivered: c.delivered };",
            vec![
                json!(frames),
                json!(serde_json::to_string(&ServerFrame::Response {
                    req_id: 1,
                    result: Ok(Response::History(vec![text_message(3, "bob", "ann", "three"), text_message(2, "bob", "ann", "two")])),
                })
                .expect("json")),
            ],
        )
        .await;
        assert_eq!(
            state,
            json!({"seqs": [1, 2, 3, 4], "unread": 3, "delivered": 4})
        );

        // Shortcodes: chat-client's cases (examples/src/client/emoji.rs).
        let cases = [
            (":smile:", "😄"),
            ("hi :wave: there :+1:", "hi 👋 there 👍"),
            (":smile::smile:", "😄😄"),
            ("", ""),
            ("no codes here", "no codes here"),
            (":nosuchcode:", ":nosuchcode:"),
            ("at 10:30:00 sharp", "at 10:30:00 sharp"),
            ("a: b :: c :", "a: b :: c :"),
            (":not a code: :smile", ":not a code: :smile"),
            ("ünïcödé :smile: ✓", "ünïcödé 😄 ✓"),
            (":nope:smile:", ":nope😄"),
        ];
        let inputs: Vec<&str> = cases.iter().map(|c| c.0).collect();
        let outputs = with_modules(
            &page,
            "return arguments[0].map(E.emojify)",
            vec![json!(inputs)],
        )
        .await;
        let expected: Vec<&str> = cases.iter().map(|c| c.1).collect();
        assert_eq!(outputs, json!(expected));

        // The SHA-256 fallback (plain http on a LAN address) agrees with WebCrypto.
        let agree = with_modules(
            &page,
            "for (const n of [0, 1, 55, 56, 63, 64, 65, 1000, 300000]) {
                const bytes = new Uint8Array(n).map((_, i) => (i * 7 + n) & 255);
                const web = new Uint8Array(await crypto.subtle.digest('SHA-256', bytes));
                if (P.hex(web) !== P.hex(S.sha256Fallback(bytes))) return 'differs at ' + n;
            }
            return P.hex(S.sha256Fallback(new TextEncoder().encode('abc')))",
            vec![],
        )
        .await;
        assert_eq!(
            agree,
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );

        // The endpoints a page tries: its own server first, then each peer
        // once (its own among them dropped), shuffled; a server without
        // peers answers an empty list.
        let order = page
            .js(
                "return (async () => {
                    const N = await import('/js/nodes.js');
                    const own = N.ownEndpoint();
                    const peers = ['ws://b:1/ws', own, 'ws://c:2/ws', 'ws://b:1/ws'];
                    const served = await (await fetch('/peers.json')).json();
                    return [own, N.endpointOrder(own, peers, () => 0), N.endpointOrder(own, peers, () => 0.99),
                            served, await N.endpoints(), N.hostOf(own)];
                })()",
                vec![],
            )
            .await;
        let own = format!("ws://127.0.0.1:{}/ws", server.web_port);
        let host = format!("127.0.0.1:{}", server.web_port);
        assert_eq!(
            order,
            json!([
                own,
                [own, "ws://c:2/ws", "ws://b:1/ws"],
                [own, "ws://b:1/ws", "ws://c:2/ws"],
                {"peers": []},
                [own],
                host
            ])
        );
        page.close().await;
    });
}
