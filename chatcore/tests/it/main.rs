//! chatcore's integration tests, as modules of one binary: one link instead of one
//! per file keeps `cargo test` fast and its target directory small.

mod client_acks;
mod cluster_memory;
mod conformance_memory;
mod engine_memory;
mod engine_ws;
mod faulty;
mod golden;
mod golden_json;
mod limits;
mod proptest_codec;
mod proptest_friends;
mod store_failure;
mod store_faults;
mod tcp_bad_input;
mod tcp_frames;
mod tls;
mod ws_hostile;
