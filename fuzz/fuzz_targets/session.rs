//! Arbitrary bytes as a session script (a flags byte, then postcard-encoded
//! `chatcore_testkit::Step`s): run through a bare `Session` against the model of
//! its phase rules (`chatcore_testkit::model`), and through a whole server on the in-memory transport and
//! store next to honest clients. The checks live in
//! `chatcore_testkit::check_session_bytes`, shared with the corpus replay test.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| chatcore_testkit::check_session_bytes(data));
