//! Protocol micro-benchmarks: the per-message CPU work outside the store.
//!
//! - `codec/encode/client-send`, `codec/decode/client-send`: one
//!   `ClientFrame::Request { Send { .. } }` with a 100-byte text, encoded into
//!   (or decoded from) a reused `BytesMut` with `encode_frame` / `decode_frame`.
//! - `codec/encode/server-message`, `codec/decode/server-message`: the same for
//!   the `ServerFrame::Event(Event::Message(..))` that delivers it.
//! - `session/on_frame/send`: `Session::on_frame` for that Send request on an
//!   authenticated session (the request is cloned per step, as the engine hands
//!   a decoded frame over by value; the clone is included).
//!
//! Run with `cargo bench -p chatcore-benches --bench protocol`.

use std::hint::black_box;
use std::time::Duration;

use bytes::BytesMut;
use chatcore::protocol::{
    decode_frame, encode_frame, Body, ClientFrame, Event, Message, Peer, Request, ServerFrame,
    DEFAULT_MAX_FRAME_LEN, PROTOCOL_VERSION,
};
use chatcore::session::{Action, Session};
use chatcore::store::{User, UserId};
use criterion::{criterion_group, criterion_main, Criterion, Throughput};

/// A 100-byte chat text (ASCII, so 100 bytes and 100 chars).
fn text() -> String {
    let t: String =
        "a typical chat message of one hundred bytes, as the load generator sends by default. "
            .chars()
            .cycle()
            .take(100)
            .collect();
    assert_eq!(t.len(), 100);
    t
}

fn send_frame() -> ClientFrame {
    ClientFrame::Request {
        req_id: 4711,
        request: Request::Send {
            to: Peer::User("bob_0042".into()),
            client_msg_id: 1_234_567,
            body: Body::Text(text()),
        },
    }
}

fn message_frame() -> ServerFrame {
    ServerFrame::Event(Event::Message(Message {
        id: 9_876_543,
        seq: 1234,
        from: "alice_0042".into(),
        to: Peer::User("bob_0042".into()),
        body: Body::Text(text()),
        ts: 1_700_000_000_000,
    }))
}

fn codec(c: &mut Criterion) {
    let mut group = c.benchmark_group("codec");
    group.throughput(Throughput::Elements(1));

    let client = send_frame();
    let server = message_frame();

    let mut buf = BytesMut::with_capacity(4096);
    group.bench_function("encode/client-send", |b| {
        b.iter(|| {
            buf.clear();
            encode_frame(black_box(&client), &mut buf, DEFAULT_MAX_FRAME_LEN).unwrap();
            black_box(buf.len())
        })
    });
    group.bench_function("encode/server-message", |b| {
        b.iter(|| {
            buf.clear();
            encode_frame(black_box(&server), &mut buf, DEFAULT_MAX_FRAME_LEN).unwrap();
            black_box(buf.len())
        })
    });

    // Decoding consumes the frame from the buffer: refill the reused buffer from
    // the encoded bytes (one memcpy of ~130 bytes, included) each time.
    let mut client_bytes = BytesMut::new();
    encode_frame(&client, &mut client_bytes, DEFAULT_MAX_FRAME_LEN).unwrap();
    let mut server_bytes = BytesMut::new();
    encode_frame(&server, &mut server_bytes, DEFAULT_MAX_FRAME_LEN).unwrap();
    group.bench_function("decode/client-send", |b| {
        b.iter(|| {
            buf.clear();
            buf.extend_from_slice(&client_bytes);
            let frame: ClientFrame = decode_frame(&mut buf, DEFAULT_MAX_FRAME_LEN)
                .unwrap()
                .unwrap();
            black_box(frame)
        })
    });
    group.bench_function("decode/server-message", |b| {
        b.iter(|| {
            buf.clear();
            buf.extend_from_slice(&server_bytes);
            let frame: ServerFrame = decode_frame(&mut buf, DEFAULT_MAX_FRAME_LEN)
                .unwrap()
                .unwrap();
            black_box(frame)
        })
    });
    group.finish();
}

fn session(c: &mut Criterion) {
    let mut session = Session::new();
    let hello = ClientFrame::Hello {
        version: PROTOCOL_VERSION,
        client: "bench".into(),
    };
    assert_eq!(session.on_frame(hello), Action::Greet);
    session.logged_in(User {
        id: UserId(42),
        name: "alice_0042".into(),
    });
    assert!(session.user().is_some());
    let frame = send_frame();
    assert!(matches!(
        session.on_frame(frame.clone()),
        Action::Dispatch { .. }
    ));

    let mut group = c.benchmark_group("session");
    group.throughput(Throughput::Elements(1));
    group.bench_function("on_frame/send", |b| {
        b.iter(|| black_box(session.on_frame(black_box(&frame).clone())))
    });
    group.finish();
}

fn config() -> Criterion {
    Criterion::default()
        .sample_size(20)
        .warm_up_time(Duration::from_millis(500))
        .measurement_time(Duration::from_secs(2))
}

criterion_group! {
    name = benches;
    config = config();
    targets = codec, session
}
criterion_main!(benches);
