//! The load generator behind the `loadgen` binary.
//!
//! It drives a running `chat-server` over TCP (or WebSocket: `--transport ws`) on this machine with the
//! workloads of the peer harness (`shared/peers/loadgen`, which runs them
//! against NATS and mosquitto) and prints the same summary line, so figures
//! compare as ratios:
//!
//! ```text
//! target=chatcore workload=relay pairs=50 msgs=100000 size=100 window=64 rate=N msg/s p50=Nus p99=Nus p999=Nus server_cpu_s_per_1M=X ...
//! ```
//!
//! Each run provisions its own users (names carry a per-process random tag and
//! the run number, so repeated runs against one server never collide) before
//! the clock starts. Every message text starts with its send time (16 hex
//! digits of nanoseconds since a process-wide instant), so latency is receive
//! time − send time in one process. Receivers use the client's automatic acks
//! (the durable delivery path), and the server CPU sample ends only once those
//! acks are committed.
//!
//! # Running it
//!
//! ```text
//! cargo build --release -p chatcore-examples -p chatcore-benches
//! target/release/chat-server --store redb --data-dir "$(mktemp -d)" --open-chat \
//!     --request-rate 100000000 --request-burst 100000000 --max-connections 200000 \
//!     --max-connections-per-address 200000 --registrations-per-address 100000000 \
//!     --argon2-memory-kib 8 --argon2-iterations 1 &
//! target/release/loadgen --workload relay --server-pid $! --runs 3
//! target/release/loadgen --workload fanout --server-pid $! --runs 3
//! target/release/loadgen --workload relay --window 1 --msgs 400 --server-pid $! --runs 3
//! # over WebSocket (postcard) to chat-server's web port (--web, 127.0.0.1:8080):
//! target/release/loadgen --workload relay --transport ws --addr 127.0.0.1:8080 --server-pid $! --runs 3
//! target/release/loadgen --workload connections --conns 10000 --server-pid $!
//! target/release/loadgen --workload login-storm --server-pid $!
//! ```
//!
//! - The server's per-connection request limit (`--request-rate`, default 50/s)
//!   refuses a load generator's sends: raise it, or the run stops at the first
//!   `rate_limited` refusal (`send_errors=`).
//! - Cheap argon2 parameters only make provisioning fast (every user is
//!   registered and logged in); for `login-storm` keep the server's defaults,
//!   since the hash is what a storm costs.
//! - Every client comes from 127.0.0.1: the server's per-address limits
//!   (`--max-connections-per-address`, default 64, and
//!   `--registrations-per-address`, 20 an hour) must be raised as above.
//! - `connections` needs `--max-connections` above `--conns` on the server and
//!   an open-file limit above it in both processes (the load generator raises
//!   its own soft limit up to the hard one). Its `rss_per_conn_bytes` is the
//!   growth of the server's VmRSS from before the logins to after them, divided
//!   by the sessions opened: take it from the first `connections` run against
//!   a fresh server, as memory freed by earlier sessions is reused by later ones.
//!
//! # Lines
//!
//! - relay: `target=chatcore workload=relay pairs=P msgs=P*M size=S window=W
//!   rate=N msg/s p50=Nus p99=Nus p999=Nus server_cpu_s_per_1M=X`, then `run=`,
//!   `delivered=`, `sent=` (answered `Ok`), `send_errors=`, `elapsed_s=`,
//!   `server_cpu_s=`, `loadgen_cpu_s=`, `timed_out=`.
//! - fanout: the same with `workload=fanout members=R` (as the peer harness);
//!   `msgs` and `rate` count deliveries (R per message sent).
//! - connections: `target=chatcore workload=connections conns=N
//!   rss_before_kib=… rss_after_kib=… rss_per_conn_bytes=…`, then `opened=`,
//!   `failed=`, `online=` (the server's online count), `register_s=`,
//!   `login_s=`, `logins_per_s=`, `loadgen_rss_kib=`, `timed_out=`.
//! - login-storm: a relay line with `storm=off`, one with `storm=on` and the
//!   storm's `storm_logins_per_s=`, then `target=chatcore workload=login-storm
//!   … p99_alone=Nus p99_storm=Nus p99_ratio=X`.
//! - With `--runs N` (N > 1): `median of N runs: rate=N msg/s p50=Nus p99=Nus
//!   p999=Nus server_cpu_s_per_1M=X` (login-storm adds `p99_alone=` and
//!   `p99_ratio=`; connections prints `rss_per_conn_bytes=`).

pub mod args;
mod connections;
mod flows;
pub mod net;
pub mod procfs;
pub mod stats;
mod storm;

use std::time::Duration;

pub use args::{Args, TransportKind, Workload};
use stats::{fmt2, median, median_line, Summary};

/// Errors of the load generator: reported, never retried.
pub type Res<T> = Result<T, Box<dyn std::error::Error + Send + Sync>>;

/// Runs `--runs` runs of the workload and prints their summary lines (and a
/// median line after several).
pub async fn run(a: Args) -> Res<()> {
    let _ = stats::now_ns();
    let mut targets = Vec::new();
    for addr in &a.addr {
        targets.push(net::Target {
            addr: net::resolve_loopback(addr).await?,
            transport: a.transport,
        });
    }
    let addr = *targets.first().ok_or("--addr: no address")?;
    for pid in &a.server_pid {
        check_pid("--server-pid", *pid)?;
    }
    for pid in &a.db_pid {
        check_pid("--db-pid", *pid)?;
    }
    let tag = net::process_tag();
    let runs = a.runs.max(1);
    let mut summaries = Vec::new();
    let mut ratios = Vec::new();
    let mut alone_p99 = Vec::new();
    let mut per_conn = Vec::new();
    for run in 0..runs {
        let prefix = format!("lg{tag}x{run}");
        match a.workload {
            Workload::Relay => {
                let flows = flows::provision_relay(&a, &targets, &prefix).await?;
                let m = flows::measure(&a, flows).await?;
                println!("{}", m.line(&a, Workload::Relay, run, ""));
                summaries.push(m.summary());
            }
            Workload::Fanout => {
                let flows = flows::provision_fanout(&a, addr, &prefix).await?;
                let m = flows::measure(&a, flows).await?;
                println!("{}", m.line(&a, Workload::Fanout, run, ""));
                summaries.push(m.summary());
            }
            Workload::LoginStorm => {
                let (alone, storm) = login_storm(&a, addr, &prefix, run).await?;
                let ratio = storm.p99 as f64 / alone.p99.max(1) as f64;
                println!(
                    "target=chatcore workload=login-storm pairs={} msgs={} size={} window={} \
                     p99_alone={}us p99_storm={}us p99_ratio={:.2} rate_alone={:.0} \
                     rate_storm={:.0} run={}",
                    a.pairs,
                    a.pairs * a.msgs,
                    a.size.max(stats::STAMP_LEN),
                    a.window,
                    alone.p99,
                    storm.p99,
                    ratio,
                    alone.rate,
                    storm.rate,
                    run + 1
                );
                alone_p99.push(alone.p99 as f64);
                ratios.push(ratio);
                summaries.push(storm);
            }
            Workload::Connections => {
                let c = connections::run_once(&a, addr, &prefix).await?;
                println!("{}", c.line(&a, run));
                per_conn.extend(c.per_conn_bytes());
            }
        }
        tokio::time::sleep(Duration::from_millis(300)).await;
    }
    if runs > 1 {
        match a.workload {
            Workload::Connections => println!(
                "median of {runs} runs: rss_per_conn_bytes={}",
                if per_conn.is_empty() {
                    "na".to_string()
                } else {
                    format!("{:.0}", median(per_conn))
                }
            ),
            Workload::LoginStorm => println!(
                "{} p99_alone={:.0}us p99_ratio={}",
                median_line(&summaries),
                median(alone_p99),
                fmt2(Some(median(ratios)))
            ),
            _ => println!("{}", median_line(&summaries)),
        }
    }
    Ok(())
}

/// Refuses a process id that names no process.
fn check_pid(flag: &str, pid: u32) -> Res<()> {
    match procfs::cpu_s(Some(pid)) {
        Some(_) => Ok(()),
        None => Err(format!("{flag} {pid}: no such process").into()),
    }
}

/// Relay alone, then relay (fresh users) during a login storm; prints both
/// relay lines (`storm=off`, `storm=on`) and returns their summaries.
async fn login_storm(
    a: &Args,
    addr: net::Target,
    prefix: &str,
    run: usize,
) -> Res<(Summary, Summary)> {
    let flows = flows::provision_relay(a, &[addr], &format!("{prefix}a")).await?;
    let alone = flows::measure(a, flows).await?;
    println!("{}", alone.line(a, Workload::Relay, run, " storm=off"));
    tokio::time::sleep(Duration::from_millis(300)).await;

    let prefix = format!("{prefix}b");
    let flows = flows::provision_relay(a, &[addr], &prefix).await?;
    let users = storm::provision(a, addr, &prefix).await?;
    // The storm runs from just before the start signal until the last delivery.
    let storm = storm::Storm::start(users, a.max_secs + 10);
    tokio::time::sleep(Duration::from_millis(200)).await;
    let with = flows::measure(a, flows).await;
    let tally = storm.stop().await;
    let with = with?;
    let fields = format!(" storm=on{}", tally.fields(a.storm_users));
    println!("{}", with.line(a, Workload::Relay, run, &fields));
    Ok((alone.summary(), with.summary()))
}
