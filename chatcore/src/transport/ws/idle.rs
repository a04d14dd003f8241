//! What lets an idle WebSocket connection hold no buffers: [`Tracked`] sees
//! every byte tungstenite reads and follows the frame boundaries in them, so
//! the connection knows when tungstenite holds nothing it has not handed out
//! (no partial frame, no fragmented message under way) and can be dropped
//! down to its socket, to be rebuilt when the next byte arrives.
//!
//! tungstenite keeps its read buffer and its write buffer at the largest size
//! they ever grew to for as long as the connection lives; rebuilt, it starts
//! from nothing again.

use std::io;
use std::pin::Pin;
use std::task::{Context, Poll};

use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};

/// Follows WebSocket frame headers through a byte stream.
#[derive(Debug, Default)]
pub(super) struct FrameTracker {
    /// The header being read.
    header: [u8; 14],
    /// Bytes of it seen.
    have: u8,
    /// Payload bytes of the current frame still to come.
    payload_left: u64,
    /// A data frame without FIN was seen: a fragmented message is under way.
    mid_message: bool,
    /// A ping or close frame (or one that is not valid) was seen: tungstenite
    /// may owe an answer, so the connection never rests again.
    never: bool,
}

impl FrameTracker {
    /// Takes in bytes as they pass.
    pub(super) fn feed(&mut self, mut bytes: &[u8]) {
        while !bytes.is_empty() {
            if self.payload_left > 0 {
                let skip = self.payload_left.min(bytes.len() as u64);
                self.payload_left -= skip;
                bytes = &bytes[skip as usize..];
                continue;
            }
            self.header[usize::from(self.have)] = bytes[0];
            self.have += 1;
            bytes = &bytes[1..];
            if let Some(len) = self.header_done() {
                self.have = 0;
                self.payload_left = len;
            }
        }
    }

    /// The payload length once the header is whole (and notes what it says).
    fn header_done(&mut self) -> Option<u64> {
        if self.have < 2 {
            return None;
        }
        let h = &self.header;
        let masked = h[1] & 0x80 != 0;
        let len7 = h[1] & 0x7f;
        let ext = match len7 {
            126 => 2,
            127 => 8,
            _ => 0,
        };
        let need = 2 + ext + if masked { 4 } else { 0 };
        if usize::from(self.have) < need {
            return None;
        }
        let len = match len7 {
            126 => u64::from(u16::from_be_bytes([h[2], h[3]])),
            127 => u64::from_be_bytes(h[2..10].try_into().expect("8 bytes")),
            n => u64::from(n),
        };
        let fin = h[0] & 0x80 != 0;
        match h[0] & 0x0f {
            0x0..=0x2 => self.mid_message = !fin,
            0xa => {} // pong: nothing owed
            _ => self.never = true,
        }
        Some(len)
    }

    /// Whether everything seen ends at a message boundary (and nothing seen
    /// could leave tungstenite owing an answer).
    pub(super) fn at_rest(&self) -> bool {
        self.have == 0 && self.payload_left == 0 && !self.mid_message && !self.never
    }
}

/// A byte stream whose reads go through a [`FrameTracker`].
#[derive(Debug)]
pub(super) struct Tracked<S> {
    pub(super) inner: S,
    pub(super) tracker: FrameTracker,
}

impl<S> Tracked<S> {
    pub(super) fn new(inner: S) -> Self {
        Tracked {
            inner,
            tracker: FrameTracker::default(),
        }
    }

    /// A stream whose connection never rests (its first bytes were not
    /// tracked: a client's, read by its handshake).
    pub(super) fn never_resting(inner: S) -> Self {
        let mut tracked = Self::new(inner);
        tracked.tracker.never = true;
        tracked
    }
}

impl<S: AsyncRead + Unpin> AsyncRead for Tracked<S> {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let before = buf.filled().len();
        let polled = Pin::new(&mut self.inner).poll_read(cx, buf);
        if let Poll::Ready(Ok(())) = polled {
            self.tracker.feed(&buf.filled()[before..]);
        }
        polled
    }
}

impl<S: AsyncWrite + Unpin> AsyncWrite for Tracked<S> {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.inner).poll_write(cx, buf)
    }
    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_flush(cx)
    }
    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_shutdown(cx)
    }
    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.inner).poll_write_vectored(cx, bufs)
    }
    fn is_write_vectored(&self) -> bool {
        self.inner.is_write_vectored()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn frame(first: u8, masked: bool, len: usize) -> Vec<u8> {
        let mut out = vec![first];
        let m = if masked { 0x80 } else { 0 };
        match len {
            0..=125 => out.push(m | len as u8),
            126..=65535 => {
                out.push(m | 126);
                out.extend_from_slice(&(len as u16).to_be_bytes());
            }
            _ => {
                out.push(m | 127);
                out.extend_from_slice(&(len as u64).to_be_bytes());
            }
        }
        if masked {
            out.extend_from_slice(&[9, 9, 9, 9]);
        }
        out.extend(std::iter::repeat_n(7u8, len));
        out
    }

    #[test]
    fn follows_frames_split_anywhere() {
        let mut bytes = frame(0x82, true, 5);
        bytes.extend(frame(0x81, true, 300));
        bytes.extend(frame(0x82, false, 70_000));
        for split in [1, 2, 3, 7, 13, 100, 4096] {
            let mut t = FrameTracker::default();
            for (i, chunk) in bytes.chunks(split).enumerate() {
                t.feed(chunk);
                let fed = ((i + 1) * split).min(bytes.len());
                // At rest exactly at the ends of the frames.
                let ends = [5 + 6, 5 + 6 + 300 + 8, bytes.len()];
                assert_eq!(t.at_rest(), ends.contains(&fed), "split {split}, {fed} fed");
            }
        }
        let mut t = FrameTracker::default();
        t.feed(&bytes[..bytes.len() - 1]);
        assert!(!t.at_rest(), "one byte short");
    }

    #[test]
    fn fragments_pings_and_closes_keep_it_awake() {
        let mut t = FrameTracker::default();
        t.feed(&frame(0x01, true, 3)); // text, no FIN
        assert!(!t.at_rest());
        t.feed(&frame(0x80, true, 3)); // continuation, FIN
        assert!(t.at_rest());
        t.feed(&frame(0x8a, true, 0)); // pong
        assert!(t.at_rest());
        t.feed(&frame(0x89, true, 0)); // ping: a pong is owed
        assert!(!t.at_rest());
        let mut t = FrameTracker::default();
        t.feed(&frame(0x88, true, 2)); // close
        assert!(!t.at_rest());
    }
}
