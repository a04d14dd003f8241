//! `inproc-sessions`: the engine's memory per idle authenticated session, with
//! the server and its sessions in this one process over the in-memory transport.
//!
//! Over TCP (`loadgen --workload connections`) one process can hold no more
//! sessions than its open-file limit allows (20 000 on the development machine,
//! which cannot raise it). In-process sessions need no descriptors, so this
//! measures how the engine's share (session, routing and presence state, the
//! connection's task and queues) grows up to 100 000 and beyond. The client ends
//! are bare channel halves, read until the login's `CaughtUp` and then left idle;
//! the vector holding them is subtracted. What it cannot see is the TCP
//! transport's own part (the socket's registration and buffers), which the TCP
//! workload measures.
//!
//! Users are created straight in the store before the measurement starts, so
//! their accounts do not count; with `--returning` their default devices too
//! (a device's records are the user's, kept whether or not they are online),
//! and the logins are those of devices that were here before.
//!
//! ```text
//! cargo run --release -p chatcore-benches --bin inproc-sessions -- --sessions 100000
//! ```
//!
//! One line, in the load generator's key=value form:
//! `target=chatcore workload=inproc-sessions sessions=N store=redb returning=false rss_before_kib=…
//! rss_after_kib=… rss_per_session_bytes=… online=N provision_s=… login_s=…`
#![forbid(unsafe_code)]

use std::process::ExitCode;
use std::sync::Arc;
use std::time::{Duration, Instant};

use chatcore::auth::{HashParams, Hasher};
use chatcore::engine::{Server, ServerConfig};
use chatcore::protocol::{ClientFrame, Event, Request, ServerFrame, PROTOCOL_VERSION};
use chatcore::store::{MemoryStore, Store};
use chatcore::transport::memory::{self, MemoryClientConnection};
use chatcore_benches::loadgen::procfs;
use clap::{Parser, ValueEnum};
use futures::{SinkExt, StreamExt};

// The allocator chat-server uses: resident memory depends on it.
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

const PASSWORD: &str = "idle-session password";

/// Command-line arguments.
#[derive(Debug, Parser)]
#[command(about = "Server memory per idle authenticated session, in one process")]
struct Args {
    /// Sessions to open.
    #[arg(long, default_value_t = 100_000)]
    sessions: usize,
    /// Logins in flight at once.
    #[arg(long, default_value_t = 64)]
    concurrency: usize,
    /// The store: redb in a temporary directory (as chat-server's default), or
    /// in memory.
    #[arg(long, value_enum, default_value_t = StoreKind::Redb)]
    store: StoreKind,
    /// Every user has logged in before: their default device (its records in
    /// the store) exists before the measurement, as their account does, so
    /// what grows is the sessions' own state.
    #[arg(long)]
    returning: bool,
}

#[derive(Debug, Clone, Copy, ValueEnum)]
enum StoreKind {
    Redb,
    Memory,
}

type Res<T> = Result<T, Box<dyn std::error::Error + Send + Sync>>;

#[tokio::main]
async fn main() -> ExitCode {
    match run(Args::parse()).await {
        Ok(line) => {
            println!("{line}");
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("inproc-sessions: {e}");
            ExitCode::FAILURE
        }
    }
}

async fn run(args: Args) -> Res<String> {
    let dir = tempfile::tempdir()?;
    let store: Arc<dyn Store> = match args.store {
        StoreKind::Redb => Arc::new(chatcore_redb::open(dir.path())?),
        StoreKind::Memory => Arc::new(MemoryStore::new()),
    };
    // Cheap hashing only makes provisioning fast; nobody is idle long enough to
    // be pinged or timed out.
    let hash_params = HashParams {
        memory_kib: 8,
        iterations: 1,
        parallelism: 1,
    };
    let hour = Duration::from_secs(3600);
    let mut config = ServerConfig::default();
    config.hash_params = hash_params;
    config.max_connections = args.sessions + 16;
    // Neither a ping nor an idle timeout within a run.
    config.idle_timeout = 2 * hour;
    config.ping_interval = hour;
    let server = Server::new(Arc::clone(&store), config)?;

    // Users straight into the store, all with one password hash.
    let t0 = Instant::now();
    let hash = Hasher::new(hash_params, 1)?.hash(PASSWORD.into()).await?;
    let returning = args.returning;
    let create = futures::stream::iter(0..args.sessions)
        .map(|i| {
            let (store, hash) = (Arc::clone(&store), hash.clone());
            async move {
                let user = store
                    .create_user(&name(i), &hash)
                    .await?
                    .ok_or("a user of that name exists already")?;
                if returning {
                    store
                        .device_login(user.id, None, 16, 1)
                        .await?
                        .map_err(|code| format!("device of {}: {code:?}", name(i)))?;
                }
                Res::Ok(())
            }
        })
        .buffer_unordered(args.concurrency.max(1));
    let created: Vec<Res<()>> = create.collect().await;
    created.into_iter().collect::<Res<Vec<()>>>()?;
    let provision_s = t0.elapsed().as_secs_f64();
    tokio::time::sleep(Duration::from_millis(500)).await;
    let rss_before_kib = procfs::rss_kib(None).ok_or("cannot read /proc/self/status")?;

    let t1 = Instant::now();
    let mut sessions: Vec<MemoryClientConnection> = Vec::with_capacity(args.sessions);
    let opened = futures::stream::iter(0..args.sessions)
        .map(|i| log_in(&server, i))
        .buffer_unordered(args.concurrency.max(1));
    futures::pin_mut!(opened);
    while let Some(session) = opened.next().await {
        sessions.push(session?);
    }
    let login_s = t1.elapsed().as_secs_f64();
    // Idle for a moment so the sessions' state settles.
    tokio::time::sleep(Duration::from_secs(1)).await;
    let rss_after_kib = procfs::rss_kib(None).ok_or("cannot read /proc/self/status")?;
    let online = server.online_count();
    let held = sessions.capacity() * std::mem::size_of::<MemoryClientConnection>();
    let grown = (rss_after_kib as f64 - rss_before_kib as f64) * 1024.0 - held as f64;
    let store_name = args
        .store
        .to_possible_value()
        .expect("no variant is skipped");
    let line = format!(
        "target=chatcore workload=inproc-sessions sessions={} store={} returning={} \
         rss_before_kib={} rss_after_kib={} rss_per_session_bytes={:.0} online={} \
         provision_s={:.1} login_s={:.1}",
        sessions.len(),
        store_name.get_name(),
        args.returning,
        rss_before_kib,
        rss_after_kib,
        grown / sessions.len().max(1) as f64,
        online,
        provision_s,
        login_s,
    );
    drop(sessions);
    server.shutdown().await;
    Ok(line)
}

fn name(i: usize) -> String {
    format!("idle{i}")
}

/// Opens a session for user `i`: hello, login, and the login's backlog up to
/// `CaughtUp`.
async fn log_in(server: &Server, i: usize) -> Res<MemoryClientConnection> {
    let (server_end, mut conn) = memory::pair();
    server.spawn_connection(server_end, None);
    conn.send(ClientFrame::Hello {
        version: PROTOCOL_VERSION,
        client: "inproc-sessions".into(),
    })
    .await?;
    let login = Request::Login {
        username: name(i),
        password: PASSWORD.into(),
    };
    conn.send(ClientFrame::Request {
        req_id: 1,
        request: login,
    })
    .await?;
    loop {
        match conn.next().await.ok_or("closed during login")?? {
            ServerFrame::Response {
                result: Err(code), ..
            } => return Err(format!("login {}: {code:?}", name(i)).into()),
            ServerFrame::Event(Event::CaughtUp) => return Ok(conn),
            _ => {}
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn every_session_logs_in_and_stays_online() {
        for (store, returning) in [
            (StoreKind::Redb, false),
            (StoreKind::Memory, false),
            (StoreKind::Redb, true),
        ] {
            let args = Args {
                sessions: 40,
                concurrency: 8,
                store,
                returning,
            };
            let line = run(args).await.unwrap();
            assert!(line.contains(" sessions=40 "), "{line}");
            assert!(line.contains(" online=40 "), "{line}");
            assert!(line.contains(" rss_per_session_bytes="), "{line}");
        }
    }
}
