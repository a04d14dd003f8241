//! The frame decoder checks: [`check_frame_bytes`], behind the `frame_decoder`
//! fuzz target.

use std::fmt::Debug;

use bytes::BytesMut;
use chatcore::protocol::{
    decode_frame, encode_frame, ClientFrame, CodecError, FrameCodec, ServerFrame,
    DEFAULT_MAX_FRAME_LEN,
};
use serde::de::DeserializeOwned;
use serde::Serialize;
use tokio_util::codec::Decoder;

/// The small maximum frame length [`check_frame_bytes`] tries besides the default.
pub const SMALL_MAX_FRAME_LEN: usize = 64;

/// Chunk sizes in which [`check_frame_bytes`] feeds the stream to [`FrameCodec`].
const CHUNKS: [usize; 3] = [1, 5, 64];

/// Decodes `data` as a stream of client frames and of server frames, each with a
/// small and with the default maximum length, in one buffer and in chunks through
/// [`FrameCodec`]; panics on any disagreement or on a frame that does not survive
/// re-encoding.
pub fn check_frame_bytes(data: &[u8]) {
    for max_len in [SMALL_MAX_FRAME_LEN, DEFAULT_MAX_FRAME_LEN] {
        check_frames_as::<ClientFrame>(data, max_len);
        check_frames_as::<ServerFrame>(data, max_len);
    }
}

/// How decoding a stream stopped.
#[derive(Debug, Clone, PartialEq, Eq)]
enum End {
    /// Out of bytes with this many left over (0: at a frame boundary).
    NeedMore(usize),
    /// A length prefix announced this much, over the maximum.
    TooLarge(usize),
    /// A payload was not a valid frame.
    Undecodable,
    /// `decode_eof` found this many bytes of an unfinished frame.
    Truncated(usize),
}

fn check_frames_as<T>(data: &[u8], max_len: usize)
where
    T: Serialize + DeserializeOwned + PartialEq + Debug,
{
    let (frames, end) = decode_whole::<T>(data, max_len);
    for frame in &frames {
        check_round_trip(frame, max_len);
    }
    // At the end of the stream, leftover bytes are a truncated frame.
    let expected_end = match end {
        End::NeedMore(0) => None,
        End::NeedMore(n) => Some(End::Truncated(n)),
        other => Some(other),
    };
    for chunk in CHUNKS {
        let (streamed, streamed_end) = decode_streamed::<T>(data, max_len, chunk);
        assert_eq!(
            streamed, frames,
            "FrameCodec in chunks of {chunk} decoded other frames than decode_frame"
        );
        assert_eq!(
            streamed_end, expected_end,
            "FrameCodec in chunks of {chunk} ended otherwise than decode_frame"
        );
    }
}

/// `decode_frame` on the whole input until it needs more bytes or fails,
/// checking what it consumes against the length prefixes.
fn decode_whole<T: DeserializeOwned>(data: &[u8], max_len: usize) -> (Vec<T>, End) {
    let mut src = BytesMut::from(data);
    let mut frames = Vec::new();
    loop {
        let before = src.len();
        let start = data.len() - before;
        let announced = (before >= 4).then(|| {
            u32::from_be_bytes([
                data[start],
                data[start + 1],
                data[start + 2],
                data[start + 3],
            ]) as usize
        });
        let result = decode_frame::<T>(&mut src, max_len);
        let consumed = before - src.len();
        assert_eq!(
            &src[..],
            &data[start + consumed..],
            "decode_frame changed the bytes it left"
        );
        match result {
            Ok(Some(frame)) => {
                let len = announced.expect("a frame needs a length prefix");
                assert!(len <= max_len, "decoded a frame of {len} > {max_len} bytes");
                assert_eq!(consumed, 4 + len, "a frame consumes its prefix and payload");
                frames.push(frame);
            }
            Ok(None) => {
                assert_eq!(consumed, 0, "decode_frame consumed bytes without a frame");
                if let Some(len) = announced {
                    assert!(len <= max_len, "an oversized prefix was not refused");
                    assert!(before < 4 + len, "a whole frame was left undecoded");
                }
                return (frames, End::NeedMore(before));
            }
            Err(CodecError::TooLarge { len, max }) => {
                assert_eq!(
                    Some(len),
                    announced,
                    "TooLarge reports the announced length"
                );
                assert_eq!(max, max_len);
                assert!(len > max_len, "refused a frame within the maximum");
                assert_eq!(consumed, 0, "a refused prefix stays in the buffer");
                return (frames, End::TooLarge(len));
            }
            Err(CodecError::Undecodable(_)) => {
                let len = announced.expect("a payload needs a length prefix");
                assert!(len <= max_len);
                assert_eq!(consumed, 4 + len, "an undecodable frame is taken off whole");
                return (frames, End::Undecodable);
            }
            Err(other) => panic!("decode_frame failed unexpectedly: {other}"),
        }
    }
}

/// The input fed to a [`FrameCodec`] in `chunk`-byte pieces, as a framed reader
/// would, then `decode_eof` until it is done.
fn decode_streamed<T: DeserializeOwned>(
    data: &[u8],
    max_len: usize,
    chunk: usize,
) -> (Vec<T>, Option<End>) {
    fn end_of(e: CodecError) -> End {
        match e {
            CodecError::TooLarge { len, .. } => End::TooLarge(len),
            CodecError::Undecodable(_) => End::Undecodable,
            CodecError::Truncated { buffered } => End::Truncated(buffered),
            other => panic!("FrameCodec failed unexpectedly: {other}"),
        }
    }
    let mut codec = FrameCodec::<T, ()>::new(max_len);
    assert_eq!(codec.max_len(), max_len);
    let mut buf = BytesMut::new();
    let mut frames = Vec::new();
    for piece in data.chunks(chunk) {
        buf.extend_from_slice(piece);
        loop {
            match codec.decode(&mut buf) {
                Ok(Some(frame)) => frames.push(frame),
                Ok(None) => break,
                Err(e) => return (frames, Some(end_of(e))),
            }
        }
    }
    loop {
        match codec.decode_eof(&mut buf) {
            Ok(Some(frame)) => frames.push(frame),
            Ok(None) => {
                assert!(buf.is_empty(), "decode_eof ended with bytes left");
                return (frames, None);
            }
            Err(e) => return (frames, Some(end_of(e))),
        }
    }
}

/// A decoded frame re-encodes within the limit, decodes to itself, and its
/// encoding is stable.
fn check_round_trip<T>(frame: &T, max_len: usize)
where
    T: Serialize + DeserializeOwned + PartialEq + Debug,
{
    let mut buf = BytesMut::new();
    encode_frame(frame, &mut buf, max_len)
        .unwrap_or_else(|e| panic!("decoded {frame:?} does not re-encode: {e}"));
    let encoded = buf.clone();
    let again: T = decode_frame(&mut buf, max_len)
        .unwrap_or_else(|e| panic!("re-encoded {frame:?} does not decode: {e}"))
        .unwrap_or_else(|| panic!("re-encoded {frame:?} is not a whole frame"));
    assert!(buf.is_empty(), "re-encoded {frame:?} left bytes over");
    assert_eq!(&again, frame, "a frame changed through encode/decode");
    let mut twice = BytesMut::new();
    encode_frame(&again, &mut twice, max_len).expect("encodes again");
    assert_eq!(twice, encoded, "the encoding of {frame:?} is not stable");
}
