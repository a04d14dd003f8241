//! Arbitrary bytes as a stream of client and server frames: `decode_frame` and
//! `FrameCodec` (with `decode_eof`) must agree and never panic, and every decoded
//! frame must re-encode and decode to itself. The checks live in
//! `chatcore_testkit::check_frame_bytes`, shared with the corpus replay test.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| chatcore_testkit::check_frame_bytes(data));
