//! Property tests of the frame codec: round trips of every frame type, streams split
//! at arbitrary points, and arbitrary bytes (never a panic, never an allocation the
//! length check did not allow).

use bytes::{BufMut, BytesMut};
use chatcore::protocol::FrameCodec;
use chatcore::protocol::{
    decode_frame, encode_frame, Body, ClientFrame, CodecError, DeviceClaim, DeviceInfo, ErrorCode,
    Event, FileInfo, FriendEntry, FriendState, Items, List, MemberEntry, Message, Peer, Request,
    Response, RoomInfo, ServerFrame, DEFAULT_MAX_FRAME_LEN,
};
use proptest::prelude::*;
use tokio_util::codec::{Decoder, Encoder};

const MAX: usize = DEFAULT_MAX_FRAME_LEN;

// ---------------------------------------------------------------------------
// Strategies (test-only; the library derives no `Arbitrary`).

/// Any Unicode text: arbitrary scalar values, emoji (incl. ZWJ sequences and flags),
/// control characters and plain names.
fn text() -> impl Strategy<Value = String> {
    let pieces = prop::sample::select(vec![
        "👋",
        "😀",
        "🇫🇷",
        "👨‍👩‍👧",
        "é",
        "漢字",
        "\u{0}",
        "\n",
        "\u{feff}",
        "\u{10ffff}",
        "a",
        " ",
    ]);
    prop_oneof![
        prop::collection::vec(any::<char>(), 0..24).prop_map(String::from_iter),
        prop::collection::vec(pieces, 0..12).prop_map(|v| v.concat()),
        "[a-zA-Z0-9_.-]{0,32}",
    ]
}

fn bytes() -> impl Strategy<Value = Vec<u8>> {
    prop::collection::vec(any::<u8>(), 0..64)
}

fn ids() -> impl Strategy<Value = Vec<u64>> {
    prop::collection::vec(any::<u64>(), 0..8)
}

fn error_code() -> impl Strategy<Value = ErrorCode> {
    prop::sample::select(ErrorCode::ALL.to_vec())
}

fn peer() -> impl Strategy<Value = Peer> {
    prop_oneof![text().prop_map(Peer::User), text().prop_map(Peer::Room)]
}

fn body() -> impl Strategy<Value = Body> {
    text().prop_map(Body::Text)
}

fn friend_state() -> impl Strategy<Value = FriendState> {
    prop_oneof![
        Just(FriendState::Friends),
        Just(FriendState::RequestSent),
        Just(FriendState::RequestReceived),
        Just(FriendState::Blocked),
    ]
}

fn message() -> impl Strategy<Value = Message> {
    (
        any::<u64>(),
        any::<u64>(),
        text(),
        peer(),
        body(),
        any::<u64>(),
    )
        .prop_map(|(id, seq, from, to, body, ts)| Message {
            id,
            seq,
            from,
            to,
            body,
            ts,
        })
}

fn list() -> impl Strategy<Value = List> {
    prop_oneof![
        text().prop_map(|prefix| List::Users { prefix }),
        Just(List::Friends),
        Just(List::Rooms),
        text().prop_map(|room| List::Members { room }),
        peer().prop_map(|peer| List::Files { peer }),
        peer().prop_map(|peer| List::History { peer }),
    ]
}

fn request() -> impl Strategy<Value = Request> {
    prop_oneof![
        Just(Request::Ping),
        (text(), text()).prop_map(|(username, password)| Request::Register { username, password }),
        (text(), text()).prop_map(|(username, password)| Request::Login { username, password }),
        Just(Request::Logout),
        (text(), any::<u32>()).prop_map(|(query, limit)| Request::SearchUsers { query, limit }),
        (text(), text()).prop_map(|(to, note)| Request::FriendRequest { to, note }),
        (text(), any::<bool>()).prop_map(|(from, accept)| Request::FriendRespond { from, accept }),
        text().prop_map(|user| Request::RemoveFriend { user }),
        text().prop_map(|user| Request::Block { user }),
        text().prop_map(|user| Request::Unblock { user }),
        Just(Request::ListFriends),
        Just(Request::OnlineFriends),
        Just(Request::OnlineCount),
        (peer(), any::<u64>(), body()).prop_map(|(to, client_msg_id, body)| Request::Send {
            to,
            client_msg_id,
            body
        }),
        ids().prop_map(|ids| Request::Ack { ids }),
        (peer(), any::<Option<u64>>(), any::<u32>()).prop_map(|(peer, before_seq, limit)| {
            Request::History {
                peer,
                before_seq,
                limit,
            }
        }),
        text().prop_map(|name| Request::CreateRoom { name }),
        text().prop_map(|name| Request::JoinRoom { name }),
        text().prop_map(|name| Request::LeaveRoom { name }),
        text().prop_map(|name| Request::DeleteRoom { name }),
        Just(Request::ListRooms),
        text().prop_map(|room| Request::Members { room }),
        (peer(), text(), any::<u64>(), any::<[u8; 32]>()).prop_map(|(to, name, size, sha256)| {
            Request::OfferFile {
                to,
                name,
                size,
                sha256,
            }
        }),
        (any::<u64>(), any::<u64>(), bytes()).prop_map(|(file, offset, bytes)| {
            Request::UploadChunk {
                file,
                offset,
                bytes,
            }
        }),
        any::<u64>().prop_map(|file| Request::CompleteFile { file }),
        peer().prop_map(|peer| Request::ListFiles { peer }),
        (any::<u64>(), any::<u64>(), any::<u32>())
            .prop_map(|(file, offset, len)| { Request::DownloadChunk { file, offset, len } }),
        (list(), prop::option::of(text()), any::<u32>())
            .prop_map(|(list, after, limit)| Request::Page { list, after, limit }),
        (text(), text(), device_claim()).prop_map(|(username, password, device)| {
            Request::LoginDevice {
                username,
                password,
                device,
            }
        }),
        Just(Request::Devices),
        any::<u64>().prop_map(|device| Request::RevokeDevice { device }),
        peer().prop_map(|to| Request::Typing { to }),
    ]
}

fn device_claim() -> impl Strategy<Value = DeviceClaim> {
    prop_oneof![
        text().prop_map(|name| DeviceClaim::New { name }),
        any::<u64>().prop_map(|id| DeviceClaim::Known { id }),
    ]
}

fn response() -> impl Strategy<Value = Response> {
    let entry = (text(), friend_state(), any::<bool>())
        .prop_map(|(user, state, online)| FriendEntry {
            user,
            state,
            online,
        })
        .boxed();
    let room = (text(), text(), any::<u32>(), any::<bool>())
        .prop_map(|(name, owner, members, joined)| RoomInfo {
            name,
            owner,
            members,
            joined,
        })
        .boxed();
    let member = (text(), any::<bool>())
        .prop_map(|(user, online)| MemberEntry { user, online })
        .boxed();
    let file = (
        any::<u64>(),
        text(),
        peer(),
        text(),
        any::<u64>(),
        any::<[u8; 32]>(),
        any::<u64>(),
    )
        .prop_map(|(id, from, to, name, size, sha256, ts)| FileInfo {
            id,
            from,
            to,
            name,
            size,
            sha256,
            ts,
        })
        .boxed();
    let items = prop_oneof![
        prop::collection::vec(text(), 0..6).prop_map(Items::Users),
        prop::collection::vec(entry.clone(), 0..4).prop_map(Items::Friends),
        prop::collection::vec(room.clone(), 0..4).prop_map(Items::Rooms),
        prop::collection::vec(member.clone(), 0..4).prop_map(Items::Members),
        prop::collection::vec(file.clone(), 0..3).prop_map(Items::Files),
        prop::collection::vec(message(), 0..4).prop_map(Items::History),
    ];
    prop_oneof![
        Just(Response::Done),
        Just(Response::Pong),
        text().prop_map(|user| Response::LoggedIn { user }),
        prop::collection::vec(text(), 0..6).prop_map(Response::Users),
        any::<bool>().prop_map(|friends| Response::FriendRequested { friends }),
        prop::collection::vec(entry, 0..6).prop_map(Response::Friends),
        any::<u64>().prop_map(Response::Count),
        (any::<u64>(), any::<u64>(), any::<u64>()).prop_map(|(id, seq, ts)| Response::Sent {
            id,
            seq,
            ts
        }),
        prop::collection::vec(message(), 0..4).prop_map(Response::History),
        prop::collection::vec(room, 0..4).prop_map(Response::Rooms),
        prop::collection::vec(member, 0..4).prop_map(Response::Members),
        (any::<u64>(), any::<u32>())
            .prop_map(|(file, chunk_size)| Response::FileOffered { file, chunk_size }),
        prop::collection::vec(file, 0..3).prop_map(Response::Files),
        bytes().prop_map(Response::Chunk),
        (items, prop::option::of(text())).prop_map(|(items, next)| Response::Page { items, next }),
        (text(), any::<u64>()).prop_map(|(user, device)| Response::LoggedInDevice { user, device }),
        prop::collection::vec(
            (any::<u64>(), text(), any::<u64>(), any::<bool>()).prop_map(
                |(id, name, last_seen, online)| DeviceInfo {
                    id,
                    name,
                    last_seen,
                    online
                }
            ),
            0..4
        )
        .prop_map(Response::Devices),
    ]
}

fn event() -> impl Strategy<Value = Event> {
    prop_oneof![
        message().prop_map(Event::Message),
        (any::<u64>(), ids()).prop_map(|(id, ids)| Event::Delivered { id, ids }),
        Just(Event::CaughtUp),
        (text(), any::<bool>()).prop_map(|(user, online)| Event::Presence { user, online }),
        (any::<u64>(), text(), text()).prop_map(|(id, from, note)| Event::FriendRequested {
            id,
            from,
            note
        }),
        (any::<u64>(), text()).prop_map(|(id, user)| Event::FriendAdded { id, user }),
        (any::<u64>(), text()).prop_map(|(id, user)| Event::FriendRejected { id, user }),
        (any::<u64>(), text()).prop_map(|(id, user)| Event::FriendRemoved { id, user }),
        text().prop_map(|reason| Event::Kicked { reason }),
        Just(Event::ServerShutdown),
        error_code().prop_map(|code| Event::Closing { code }),
        (text(), text()).prop_map(|(room, user)| Event::RoomJoined { room, user }),
        (text(), text()).prop_map(|(room, user)| Event::RoomLeft { room, user }),
        text().prop_map(|room| Event::RoomDeleted { room }),
        (any::<u64>(), text(), peer(), text(), any::<u64>()).prop_map(
            |(id, from, to, name, size)| Event::FileShared {
                id,
                from,
                to,
                name,
                size,
            }
        ),
        (text(), any::<u64>(), any::<u64>()).prop_map(|(room, read_seq, last_seq)| {
            Event::RoomUnread {
                room,
                read_seq,
                last_seq,
            }
        }),
        Just(Event::Ping),
        (text(), peer(), any::<u32>()).prop_map(|(from, to, expires_ms)| Event::Typing {
            from,
            to,
            expires_ms
        }),
    ]
}

fn client_frame() -> impl Strategy<Value = ClientFrame> {
    prop_oneof![
        (any::<u16>(), text()).prop_map(|(version, client)| ClientFrame::Hello { version, client }),
        (any::<u32>(), request())
            .prop_map(|(req_id, request)| ClientFrame::Request { req_id, request }),
    ]
}

fn server_frame() -> impl Strategy<Value = ServerFrame> {
    let result = prop_oneof![response().prop_map(Ok), error_code().prop_map(Err)];
    prop_oneof![
        (any::<u16>(), text()).prop_map(|(version, server)| ServerFrame::Hello { version, server }),
        (any::<u32>(), result)
            .prop_map(|(req_id, result)| ServerFrame::Response { req_id, result }),
        event().prop_map(ServerFrame::Event),
    ]
}

/// A length prefix: mostly around the limits, sometimes anything up to `u32::MAX`.
fn length_prefix() -> impl Strategy<Value = u32> {
    let max = MAX as u32;
    prop_oneof![
        0u32..64,
        max - 8..=max + 8,
        0..=max,
        any::<u32>(),
        u32::MAX - 8..=u32::MAX,
    ]
}

// ---------------------------------------------------------------------------
// Helpers.

fn encode<T: serde::Serialize>(frame: &T) -> BytesMut {
    let mut dst = BytesMut::new();
    encode_frame(frame, &mut dst, MAX).expect("generated frames are small");
    dst
}

/// Decodes frames until the buffer runs dry or an error; must never panic and must
/// never let the buffer grow past what the length check allows.
fn drain<T: serde::de::DeserializeOwned>(
    src: &mut BytesMut,
    max_len: usize,
) -> Result<(), TestCaseError> {
    let initial_cap = src.capacity();
    loop {
        let before = src.len();
        let result = decode_frame::<T>(src, max_len);
        // Growth is bounded by one maximal frame (or amortized doubling of what the
        // caller allocated), never by what the prefix claims.
        let bound = (max_len + 4).max(2 * initial_cap).max(8);
        prop_assert!(
            src.capacity() <= bound,
            "capacity {} > bound {}",
            src.capacity(),
            bound
        );
        match result {
            Ok(Some(_)) => prop_assert!(src.len() < before, "a frame consumed nothing"),
            Ok(None) => {
                prop_assert_eq!(src.len(), before);
                return Ok(());
            }
            Err(CodecError::TooLarge { len, max }) => {
                prop_assert_eq!(max, max_len);
                prop_assert!(len > max_len);
                prop_assert_eq!(src.len(), before, "a refused frame consumed bytes");
                return Ok(());
            }
            Err(CodecError::Undecodable(_)) => {
                // The bad frame is consumed; the stream may go on (the engine closes).
                prop_assert!(src.len() < before);
            }
            Err(other) => return Err(TestCaseError::fail(format!("unexpected {other:?}"))),
        }
    }
}

/// Feeds `bytes` to a codec in chunks cut at `cuts`, collecting every frame.
fn decode_in_chunks<T: serde::de::DeserializeOwned, O>(
    codec: &mut FrameCodec<T, O>,
    bytes: &[u8],
    cuts: &[usize],
) -> Result<Vec<T>, CodecError> {
    let mut points: Vec<usize> = cuts.iter().map(|c| c % (bytes.len() + 1)).collect();
    points.push(0);
    points.push(bytes.len());
    points.sort_unstable();
    points.dedup();
    let mut buf = BytesMut::new();
    let mut out = Vec::new();
    for pair in points.windows(2) {
        buf.extend_from_slice(&bytes[pair[0]..pair[1]]);
        while let Some(frame) = codec.decode(&mut buf)? {
            out.push(frame);
        }
    }
    if let Some(frame) = codec.decode_eof(&mut buf)? {
        out.push(frame);
    }
    assert!(buf.is_empty());
    Ok(out)
}

// ---------------------------------------------------------------------------
// Properties.

proptest! {
    #[test]
    fn client_frame_round_trips(frame in client_frame()) {
        let mut buf = encode(&frame);
        let len = u32::from_be_bytes(buf[..4].try_into().unwrap()) as usize;
        prop_assert_eq!(len, buf.len() - 4);
        let back: Option<ClientFrame> = decode_frame(&mut buf, MAX).unwrap();
        prop_assert_eq!(back, Some(frame));
        prop_assert!(buf.is_empty());
    }

    #[test]
    fn server_frame_round_trips(frame in server_frame()) {
        let mut buf = encode(&frame);
        let len = u32::from_be_bytes(buf[..4].try_into().unwrap()) as usize;
        prop_assert_eq!(len, buf.len() - 4);
        let back: Option<ServerFrame> = decode_frame(&mut buf, MAX).unwrap();
        prop_assert_eq!(back, Some(frame));
        prop_assert!(buf.is_empty());
    }

    /// The tokio-util codec on both ends: a server encodes what a client decodes and
    /// vice versa, across a stream cut into arbitrary chunks.
    #[test]
    fn client_stream_split_anywhere(
        frames in prop::collection::vec(client_frame(), 1..6),
        cuts in prop::collection::vec(any::<usize>(), 0..12),
    ) {
        let mut client = FrameCodec::<ServerFrame, ClientFrame>::default();
        let mut bytes = BytesMut::new();
        for frame in &frames {
            client.encode(frame.clone(), &mut bytes).unwrap();
        }
        let mut server = FrameCodec::<ClientFrame, ServerFrame>::default();
        prop_assert_eq!(decode_in_chunks(&mut server, &bytes, &cuts).unwrap(), frames);
    }

    #[test]
    fn server_stream_split_anywhere(
        frames in prop::collection::vec(server_frame(), 1..6),
        cuts in prop::collection::vec(any::<usize>(), 0..12),
    ) {
        let mut server = FrameCodec::<ClientFrame, ServerFrame>::default();
        let mut bytes = BytesMut::new();
        for frame in &frames {
            server.encode(frame.clone(), &mut bytes).unwrap();
        }
        let mut client = FrameCodec::<ServerFrame, ClientFrame>::default();
        prop_assert_eq!(decode_in_chunks(&mut client, &bytes, &cuts).unwrap(), frames);
    }

    #[test]
    fn arbitrary_bytes_never_panic(bytes in prop::collection::vec(any::<u8>(), 0..256)) {
        drain::<ClientFrame>(&mut BytesMut::from(&bytes[..]), MAX)?;
        drain::<ServerFrame>(&mut BytesMut::from(&bytes[..]), MAX)?;
    }

    /// Arbitrary payloads behind a plausible prefix reach deep into the decoder.
    #[test]
    fn arbitrary_payload_never_panics(payload in prop::collection::vec(any::<u8>(), 0..256)) {
        let mut bytes = (payload.len() as u32).to_be_bytes().to_vec();
        bytes.extend(&payload);
        drain::<ClientFrame>(&mut BytesMut::from(&bytes[..]), MAX)?;
        drain::<ServerFrame>(&mut BytesMut::from(&bytes[..]), MAX)?;
    }

    /// Valid frames with a few bytes changed (kept within the frame).
    #[test]
    fn mutated_frames_never_panic(
        frame in server_frame(),
        edits in prop::collection::vec((any::<usize>(), any::<u8>()), 1..6),
    ) {
        let mut bytes = encode(&frame).to_vec();
        for (at, byte) in edits {
            let i = 4 + at % (bytes.len() - 4);
            bytes[i] = byte;
        }
        drain::<ServerFrame>(&mut BytesMut::from(&bytes[..]), MAX)?;
        drain::<ClientFrame>(&mut BytesMut::from(&bytes[..]), MAX)?;
    }

    /// Any prefix up to `u32::MAX` with any tail: no panic, and the buffer never
    /// grows past one maximal frame, however much the prefix claims.
    #[test]
    fn arbitrary_prefix_is_bounded(
        prefix in length_prefix(),
        tail in prop::collection::vec(any::<u8>(), 0..64),
    ) {
        let mut src = BytesMut::with_capacity(4 + tail.len());
        src.put_u32(prefix);
        src.extend_from_slice(&tail);
        let cap = src.capacity();
        let result = decode_frame::<ClientFrame>(&mut src, MAX);
        if prefix as usize > MAX {
            let too_large = matches!(result, Err(CodecError::TooLarge { len, max })
                if len == prefix as usize && max == MAX);
            prop_assert!(too_large, "{:?}", result);
            prop_assert_eq!(src.capacity(), cap, "reserved for a refused frame");
            prop_assert_eq!(src.len(), 4 + tail.len());
        } else {
            prop_assert!(src.capacity() <= (MAX + 4).max(2 * cap));
            if (prefix as usize) > tail.len() {
                prop_assert!(matches!(result, Ok(None)), "{:?}", result);
                prop_assert_eq!(src.len(), 4 + tail.len());
            }
        }
    }

    #[test]
    fn over_long_prefix_is_too_large(
        max_len in 0usize..4096,
        excess in 1u64..=u32::MAX as u64,
        tail in prop::collection::vec(any::<u8>(), 0..16),
    ) {
        let len = (max_len as u64 + excess).min(u32::MAX as u64) as u32;
        let mut src = BytesMut::new();
        src.put_u32(len);
        src.extend_from_slice(&tail);
        let before = src.clone();
        let cap = src.capacity();
        let mut codec = FrameCodec::<ClientFrame, ServerFrame>::new(max_len);
        match codec.decode(&mut src) {
            Err(e @ CodecError::TooLarge { .. }) => {
                prop_assert_eq!(e.code(), Some(ErrorCode::FrameTooLarge));
                let CodecError::TooLarge { len: got, max } = e else { unreachable!() };
                prop_assert_eq!(got, len as usize);
                prop_assert_eq!(max, max_len);
            }
            other => return Err(TestCaseError::fail(format!("expected TooLarge, got {other:?}"))),
        }
        prop_assert_eq!(&src, &before);
        prop_assert_eq!(src.capacity(), cap);
    }

    #[test]
    fn eof_inside_a_frame_is_truncated(frame in client_frame(), cut in any::<usize>()) {
        let bytes = encode(&frame);
        let keep = 1 + cut % (bytes.len() - 1); // 1..len: some, not all
        let mut src = BytesMut::from(&bytes[..keep]);
        let mut codec = FrameCodec::<ClientFrame, ServerFrame>::default();
        prop_assert!(matches!(codec.decode(&mut src), Ok(None)));
        match codec.decode_eof(&mut src) {
            Err(CodecError::Truncated { buffered }) => prop_assert_eq!(buffered, keep),
            other => return Err(TestCaseError::fail(format!("expected Truncated, got {other:?}"))),
        }
        // An empty buffer at EOF is a clean end.
        prop_assert!(matches!(codec.decode_eof(&mut BytesMut::new()), Ok(None)));
    }

    #[test]
    fn encoding_over_max_is_too_large_and_leaves_dst(
        frame in server_frame(),
        under in 1usize..64,
        existing in prop::collection::vec(any::<u8>(), 0..32),
    ) {
        let payload_len = encode(&frame).len() - 4;
        let max_len = payload_len.saturating_sub(under);
        prop_assume!(max_len < payload_len);
        let mut dst = BytesMut::from(&existing[..]);
        match encode_frame(&frame, &mut dst, max_len) {
            Err(CodecError::TooLarge { len, max }) => {
                prop_assert_eq!(len, payload_len);
                prop_assert_eq!(max, max_len);
            }
            other => return Err(TestCaseError::fail(format!("expected TooLarge, got {other:?}"))),
        }
        prop_assert_eq!(&dst[..], &existing[..]);
        // Exactly at the limit it fits, after what was there.
        encode_frame(&frame, &mut dst, payload_len).unwrap();
        prop_assert_eq!(&dst[..existing.len()], &existing[..]);
        prop_assert_eq!(dst.len(), existing.len() + 4 + payload_len);
        let mut rest = dst.split_off(existing.len());
        prop_assert_eq!(decode_frame::<ServerFrame>(&mut rest, payload_len).unwrap(), Some(frame));
    }
}

/// The default maximum on both sides: a frame over 1 MiB is refused when encoding,
/// and the codec's encoder leaves the buffer as it was.
#[test]
fn default_max_refuses_a_huge_frame() {
    let huge = ClientFrame::Request {
        req_id: 1,
        request: Request::Send {
            to: Peer::User("bob".into()),
            client_msg_id: 1,
            body: Body::Text("x".repeat(MAX)),
        },
    };
    let mut codec = FrameCodec::<ServerFrame, ClientFrame>::default();
    let mut dst = BytesMut::from(&b"keep"[..]);
    match codec.encode(huge, &mut dst) {
        Err(CodecError::TooLarge { len, max }) => {
            assert!(len > MAX);
            assert_eq!(max, MAX);
        }
        other => panic!("expected TooLarge, got {other:?}"),
    }
    assert_eq!(&dst[..], b"keep");
}

/// A prefix of exactly the maximum is accepted (and waits for its payload); one
/// more is refused.
#[test]
fn prefix_at_the_limit() {
    let mut src = BytesMut::new();
    src.put_u32(MAX as u32);
    assert!(matches!(
        decode_frame::<ClientFrame>(&mut src, MAX),
        Ok(None)
    ));
    assert!(src.capacity() >= MAX + 4);
    let mut src = BytesMut::new();
    src.put_u32(MAX as u32 + 1);
    assert!(matches!(
        decode_frame::<ClientFrame>(&mut src, MAX),
        Err(CodecError::TooLarge { len, max }) if len == MAX + 1 && max == MAX
    ));
}
