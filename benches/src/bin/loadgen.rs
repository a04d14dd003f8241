//! `loadgen`: drives a running `chat-server` over TCP on 127.0.0.1 with the
//! relay, fanout, connections and login-storm workloads and prints one summary
//! line per run. See `chatcore_benches::loadgen` for how to run it.
#![forbid(unsafe_code)]

use std::process::ExitCode;

use chatcore_benches::loadgen::{self, Args};
use clap::Parser;

#[tokio::main]
async fn main() -> ExitCode {
    let args = Args::parse();
    match loadgen::run(args).await {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("loadgen: {e}");
            ExitCode::FAILURE
        }
    }
}
