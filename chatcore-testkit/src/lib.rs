//! # chatcore-testkit
//!
//! Test-only code for [`chatcore`]: the fuzz harness behind the cargo-fuzz
//! targets in `fuzz/`, and the reference model of the session rules
//! ([`model`]). Not published and not covered by semver: it follows chatcore's
//! internals (`session`, `engine::testkit`, the key-value store) wherever they
//! go.
//!
//! Each `check_*` function takes arbitrary bytes and panics if they expose a
//! bug; it never panics for merely invalid input. The fuzz targets are one-line
//! calls of these functions, and this crate's `tests/it/fuzz_corpus` replays
//! every committed corpus file through them, so CI exercises the corpora on the
//! stable toolchain without the fuzzer.
//!
//! - [`check_frame_bytes`]: the bytes are a stream. They go through
//!   `decode_frame` as `ClientFrame`s and as `ServerFrame`s (with a small and
//!   with the default maximum frame length) until it needs more bytes or fails,
//!   and through `FrameCodec` as a `tokio_util` decoder, fed in chunks and
//!   finished with `decode_eof`. Both ways must agree, every decoded frame must
//!   re-encode and decode to itself, and the decoder must consume exactly what
//!   the length prefixes announce.
//! - [`check_session_bytes`]: the bytes are a [`Script`]: a flags byte choosing
//!   the server config, then postcard-encoded [`Step`]s (decoding stops at the
//!   first step that does not decode). The steps go (a) to a bare `Session`,
//!   checked against the [`model`] of the session rules, with `logged_in`,
//!   `logged_out` and `close` interleaved; and (b) to a whole server on the
//!   in-memory transport and a `MemoryStore`, through a raw connection, in lock
//!   step: each request's answer is awaited and checked against a mirror
//!   `Session` (refusals, closes, response kinds, the login backlog ending in
//!   `CaughtUp`), while two honest library clients are logged in. Afterwards the
//!   honest clients and a new one must still be served, the server must shut
//!   down with nobody left online, and no task may have panicked. Everything is
//!   bounded: no sleeps, at most [`MAX_STEPS`] steps, and a hang guard turns a
//!   request that is never answered into a panic. Each run starts from a copy
//!   of one store set up once through a server (ann, bob and cat registered,
//!   ann and bob friends, `lobby` with both in it).
//!
//! [`encode_script`] writes a script, for seed corpora.
//!
//! ## Layout
//!
//! | module | holds |
//! |---|---|
//! | [`frames`] | the frame decoder checks ([`check_frame_bytes`]) |
//! | [`script`] | session scripts: [`Step`], [`Ask`], [`Target`], [`Script`], their encoding and dictionaries |
//! | [`model`] | the reference model of the session rules, shared with the session proptest |
//! | `session` | check (a): a bare `Session` against the model |
//! | `engine` | check (b): the server, its store template, the honest clients, the checks after the script |
//! | `raw` | check (b): the raw connection that plays the script and checks every answer |
#![forbid(unsafe_code)]
#![warn(missing_docs)]

pub mod frames;
pub mod model;
pub mod script;

mod engine;
mod raw;
mod session;

pub use frames::check_frame_bytes;
pub use script::{encode_script, Ask, Script, Step, Target, MAX_PIPELINED, MAX_STEPS};

/// Runs a [`Script`] decoded from `data` through a bare `Session` and through
/// a whole server; panics on any broken invariant (see the crate docs).
pub fn check_session_bytes(data: &[u8]) {
    let script = Script::decode(data);
    session::check_bare_session(&script.steps);
    engine::check_engine(&script);
}
