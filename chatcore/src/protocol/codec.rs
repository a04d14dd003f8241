//! The frame codec: a 4-byte big-endian length, then a postcard-encoded frame.
//!
//! One piece of code for every byte-stream transport, the client, and the fuzz
//! targets. The length is checked against the maximum before any buffer grows.

use std::marker::PhantomData;

use bytes::{Buf, BufMut, BytesMut};
use serde::{de::DeserializeOwned, Serialize};

/// Default maximum frame length (payload bytes, without the 4-byte prefix): 1 MiB.
pub const DEFAULT_MAX_FRAME_LEN: usize = 1024 * 1024;

const LEN_PREFIX: usize = 4;

/// Why bytes could not become a frame (or a frame could not be used).
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum CodecError {
    /// The length prefix announces more than the maximum frame length.
    #[error("frame of {len} bytes exceeds the maximum of {max}")]
    TooLarge {
        /// Announced (or encoded) length.
        len: usize,
        /// The configured maximum.
        max: usize,
    },
    /// The stream ended inside a frame.
    #[error("stream ended inside a frame ({buffered} bytes buffered)")]
    Truncated {
        /// Bytes of the incomplete frame that had arrived.
        buffered: usize,
    },
    /// The payload is not a valid frame.
    #[error("undecodable frame: {0}")]
    Undecodable(#[source] postcard::Error),
    /// A value could not be serialized (a bug in the caller's types).
    #[error("unencodable frame: {0}")]
    Unencodable(#[source] postcard::Error),
    /// The peer speaks another protocol version.
    #[error("peer speaks protocol version {got}, this side speaks {supported}")]
    WrongVersion {
        /// The peer's version.
        got: u16,
        /// Ours.
        supported: u16,
    },
    /// Reading or writing the underlying stream failed.
    #[error("i/o error: {0}")]
    Io(#[from] std::io::Error),
}

impl CodecError {
    /// The [`ErrorCode`](super::ErrorCode) to tell the peer before closing, if any.
    pub fn code(&self) -> Option<super::ErrorCode> {
        use super::ErrorCode;
        match self {
            CodecError::TooLarge { .. } => Some(ErrorCode::FrameTooLarge),
            CodecError::Undecodable(_) => Some(ErrorCode::MalformedFrame),
            CodecError::WrongVersion { .. } => Some(ErrorCode::UnsupportedVersion),
            CodecError::Truncated { .. } | CodecError::Unencodable(_) | CodecError::Io(_) => None,
        }
    }
}

/// Appends one encoded frame (prefix + payload) to `dst`.
///
/// Fails with [`CodecError::TooLarge`] (leaving `dst` as it was) if the payload
/// would exceed `max_len`.
pub fn encode_frame<T: Serialize>(
    frame: &T,
    dst: &mut BytesMut,
    max_len: usize,
) -> Result<(), CodecError> {
    let start = dst.len();
    dst.put_u32(0);
    let result = postcard::serialize_with_flavor(frame, Extend(dst));
    let len = dst.len() - start - LEN_PREFIX;
    if let Err(e) = result {
        dst.truncate(start);
        return Err(CodecError::Unencodable(e));
    }
    if len > max_len || len > u32::MAX as usize {
        dst.truncate(start);
        return Err(CodecError::TooLarge { len, max: max_len });
    }
    dst[start..start + LEN_PREFIX].copy_from_slice(&(len as u32).to_be_bytes());
    Ok(())
}

/// Serializes straight into a `BytesMut`. A frame is a dozen short pieces
/// (varints, tags, strings); through postcard's `io` flavor each went through
/// `io::Write::write_all` and a `put_slice` call.
struct Extend<'a>(&'a mut BytesMut);

impl postcard::ser_flavors::Flavor for Extend<'_> {
    type Output = ();

    fn try_extend(&mut self, data: &[u8]) -> postcard::Result<()> {
        self.0.extend_from_slice(data);
        Ok(())
    }

    fn try_push(&mut self, byte: u8) -> postcard::Result<()> {
        self.0.put_u8(byte);
        Ok(())
    }

    fn finalize(self) -> postcard::Result<()> {
        Ok(())
    }
}

/// Takes one whole frame off the front of `src`.
///
/// Returns `Ok(None)` when more bytes are needed (reserving room for the announced
/// frame only after checking its length against `max_len`).
pub fn decode_frame<T: DeserializeOwned>(
    src: &mut BytesMut,
    max_len: usize,
) -> Result<Option<T>, CodecError> {
    if src.len() < LEN_PREFIX {
        return Ok(None);
    }
    let len = u32::from_be_bytes([src[0], src[1], src[2], src[3]]) as usize;
    if len > max_len {
        return Err(CodecError::TooLarge { len, max: max_len });
    }
    if src.len() < LEN_PREFIX + len {
        src.reserve(LEN_PREFIX + len - src.len());
        return Ok(None);
    }
    src.advance(LEN_PREFIX);
    let payload = src.split_to(len);
    match postcard::from_bytes(&payload) {
        Ok(frame) => Ok(Some(frame)),
        Err(e) => Err(CodecError::Undecodable(e)),
    }
}

/// A [`tokio_util::codec`] codec that decodes `In` frames and encodes `Out` frames.
///
/// The server uses `FrameCodec<ClientFrame, ServerFrame>`, a client the reverse.
#[derive(Debug)]
pub struct FrameCodec<In, Out> {
    max_len: usize,
    _types: PhantomData<fn(Out) -> In>,
}

impl<In, Out> FrameCodec<In, Out> {
    /// A codec that refuses frames longer than `max_len` bytes, both ways.
    pub fn new(max_len: usize) -> Self {
        FrameCodec {
            max_len,
            _types: PhantomData,
        }
    }

    /// The maximum frame length.
    pub fn max_len(&self) -> usize {
        self.max_len
    }
}

impl<In, Out> Default for FrameCodec<In, Out> {
    fn default() -> Self {
        Self::new(DEFAULT_MAX_FRAME_LEN)
    }
}

impl<In: DeserializeOwned, Out> tokio_util::codec::Decoder for FrameCodec<In, Out> {
    type Item = In;
    type Error = CodecError;

    fn decode(&mut self, src: &mut BytesMut) -> Result<Option<In>, CodecError> {
        decode_frame(src, self.max_len)
    }

    fn decode_eof(&mut self, src: &mut BytesMut) -> Result<Option<In>, CodecError> {
        match self.decode(src)? {
            Some(frame) => Ok(Some(frame)),
            None if src.is_empty() => Ok(None),
            None => Err(CodecError::Truncated {
                buffered: src.len(),
            }),
        }
    }
}

impl<In, Out: Serialize> tokio_util::codec::Encoder<Out> for FrameCodec<In, Out> {
    type Error = CodecError;

    fn encode(&mut self, frame: Out, dst: &mut BytesMut) -> Result<(), CodecError> {
        encode_frame(&frame, dst, self.max_len)
    }
}
