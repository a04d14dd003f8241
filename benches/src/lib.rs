//! Benchmarks (criterion) and the load generator.
