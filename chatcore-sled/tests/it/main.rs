//! chatcore-sled's integration tests, as modules of one binary: one link instead of one
//! per file keeps `cargo test` fast and its target directory small.

mod conformance;
mod crash;
mod engine;
mod open;
