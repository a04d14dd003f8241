//! The store's share of a relay, without sockets: `--pairs` senders each send
//! `--msgs` messages to their receiver (`--window` in flight per pair), and each
//! receiver's default device acks cumulatively as its messages commit, as
//! `loadgen --workload relay` makes the server do. Closing the store at the end
//! checkpoints what is left, so the whole store cost is in the run.
//!
//! Meant to be counted rather than timed: for instructions per message, run it
//! under `valgrind --tool=callgrind` (the machine has no hardware counters) and
//! divide by `pairs × msgs`; it also prints the process's CPU time per message.
//!
//! ```text
//! store-relay --store redb --pairs 50 --msgs 400
//! ```

use std::sync::Arc;
use std::time::Instant;

use chatcore::protocol::Body;
use chatcore::store::{Acks, KvStore, MemoryBackend, NewMessage, Store, User};
use clap::{Parser, ValueEnum};

// chat-server's allocator: the store's cost depends on it.
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

const HASH: &str = "$argon2id$v=19$m=8,t=1,p=1$c2FsdHNhbHQ$aGFzaGhhc2hoYXNoaGFzaA";

#[derive(Clone, Copy, ValueEnum)]
enum Backend {
    /// redb behind the write-ahead log, as `chat-server --store redb` opens it.
    Redb,
    /// The in-memory backend (no log).
    Memory,
}

/// Flags of `store-relay`.
#[derive(Parser)]
struct Args {
    /// Which store.
    #[arg(long, value_enum, default_value_t = Backend::Redb)]
    store: Backend,
    /// Sender → receiver pairs.
    #[arg(long, default_value_t = 50)]
    pairs: usize,
    /// Messages per sender.
    #[arg(long, default_value_t = 2000)]
    msgs: u64,
    /// Sends in flight per pair.
    #[arg(long, default_value_t = 64)]
    window: u64,
    /// Text bytes per message.
    #[arg(long, default_value_t = 100)]
    size: usize,
}

fn main() {
    let args = Args::parse();
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("runtime");
    let tmp = tempfile::tempdir().expect("temp dir");
    let started = Instant::now();
    let cpu0 = cpu_s();
    match args.store {
        Backend::Redb => {
            let store = chatcore_redb::open(tmp.path().join("data")).expect("open redb");
            rt.block_on(relay(Arc::new(store), &args));
        }
        Backend::Memory => {
            let store = KvStore::open(MemoryBackend::new()).expect("open memory");
            rt.block_on(relay(Arc::new(store), &args));
        }
    }
    let total = (args.pairs as u64 * args.msgs) as f64;
    println!(
        "store-relay messages={} wall_s={:.2} cpu_us_per_msg={:.2}",
        total,
        started.elapsed().as_secs_f64(),
        (cpu_s() - cpu0) * 1e6 / total
    );
}

/// Relays, then drops the store (its close checkpoints the rest).
async fn relay<S: Store + 'static>(store: Arc<S>, args: &Args) {
    let mut pairs = Vec::new();
    for p in 0..args.pairs {
        let user = |name: String| {
            let store = Arc::clone(&store);
            async move { store.create_user(&name, HASH).await.unwrap().unwrap() }
        };
        let (from, to) = (user(format!("s{p}")).await, user(format!("r{p}")).await);
        let mut devices = Vec::new();
        for u in [&from, &to] {
            let login = store.device_login(u.id, None, 8, 1).await.unwrap().unwrap();
            devices.push(login.device.id);
        }
        pairs.push((from, to, devices[0], devices[1]));
    }
    let body = "x".repeat(args.size);
    let tasks: Vec<_> = pairs
        .into_iter()
        .map(|(from, to, sender_device, device)| {
            let (store, body, msgs, window) =
                (Arc::clone(&store), body.clone(), args.msgs, args.window);
            tokio::spawn(pair(
                store,
                from,
                to,
                sender_device,
                device,
                body,
                msgs,
                window,
            ))
        })
        .collect();
    for task in tasks {
        task.await.unwrap();
    }
    drop(store);
}

/// One pair: `window` sends at a time, then the receiver acks them all.
#[allow(clippy::too_many_arguments)]
async fn pair<S: Store>(
    store: Arc<S>,
    from: User,
    to: User,
    sender_device: u64,
    device: u64,
    body: String,
    msgs: u64,
    window: u64,
) {
    let mut sent = 0;
    let mut pos = 0;
    while sent < msgs {
        let batch = window.min(msgs - sent);
        let sends = (sent..sent + batch).map(|n| {
            store.append_direct(NewMessage {
                from: from.clone(),
                to: to.clone(),
                client_msg_id: n,
                body: Body::Text(body.clone()),
                ts: 1_700_000_000_000,
                friends_only: false,
                device: Some(sender_device),
            })
        });
        for sent in futures::future::join_all(sends).await {
            let sent = sent.unwrap().unwrap();
            for notice in sent.notices {
                pos = pos.max(notice.item.pos);
            }
        }
        sent += batch;
        let acks = Acks {
            device,
            up_to: Some(pos),
            room_messages: Vec::new(),
            now: 1_700_000_000_000,
            active_since: 0,
        };
        store.ack(to.id, acks).await.unwrap();
    }
}

/// This process's CPU time (user + system), in seconds.
fn cpu_s() -> f64 {
    let stat = std::fs::read_to_string("/proc/self/stat").unwrap_or_default();
    let fields: Vec<&str> = stat
        .rsplit_once(')')
        .map(|(_, rest)| rest.split_whitespace().collect())
        .unwrap_or_default();
    let ticks = |i: usize| fields.get(i).and_then(|f| f.parse::<f64>().ok());
    // utime and stime are fields 14 and 15 (12 and 13 after the name).
    (ticks(11).unwrap_or(0.0) + ticks(12).unwrap_or(0.0)) / 100.0
}
