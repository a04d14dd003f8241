//! chatcore-postgres's integration tests, as modules of one binary, against a
//! PostgreSQL the harness starts (feature `postgres-tests`; without it there
//! is nothing to run).

#![cfg(feature = "postgres-tests")]

mod concurrency;
mod conformance;
mod engine;
mod logins;
mod model;
mod open;
mod pg;
mod pool;
