//! The example binaries' end-to-end tests, as modules of one binary: one link instead of one
//! per file keeps `cargo test` fast and its target directory small.

#[cfg(feature = "cluster-tests")]
mod cluster;
mod common;
mod e2e;
mod e2e_devices;
mod e2e_postgres;
mod e2e_rooms_files;
mod e2e_storage;
mod e2e_ws;
mod hostile;
mod web_client;
