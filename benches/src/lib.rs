//! Benchmarks (criterion) and the load generator.
//!
//! The criterion benches live in `benches/`; the `loadgen` binary
//! (`src/bin/loadgen.rs`) is a thin wrapper around [`loadgen`].
#![forbid(unsafe_code)]
#![warn(missing_docs)]

pub mod loadgen;
