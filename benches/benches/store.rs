//! Store micro-benchmarks, per backend (redb as `chatcore_redb::open` makes it,
//! with its write-ahead log; redb without it; sled; and memory for reference):
//!
//! - `append_direct/1-writer`: one task sending messages one after another; each
//!   waits for its durable commit.
//! - `append_direct/64-writers`: 64 tasks sending at once, so group commit folds
//!   many sends into one commit. Its throughput over the 1-writer one is the
//!   speed-up group commit gives.
//! - `inbox/take256+ack`: read 256 waiting messages and ack them all (one read, one
//!   commit).
//! - `history/page50`: read a page of 50 messages of a 5000-message conversation.
//!
//! Throughput is reported per operation (message sent, page read, take+ack done).
//! Run with `cargo bench -p chatcore-benches --bench store`; the disk backends work
//! in temporary directories.

use std::path::Path;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use chatcore::protocol::Body;
use chatcore::store::{Acks, KvStore, MemoryBackend, NewMessage, Store, User};
use criterion::{criterion_group, criterion_main, BenchmarkGroup, Criterion, Throughput};
use tokio::runtime::Runtime;

const HASH: &str = "$argon2id$v=19$m=8,t=1,p=1$c2FsdHNhbHQ$aGFzaGhhc2hoYXNoaGFzaA";
const WRITERS: u64 = 64;
const INBOX_TAKE: usize = 256;
const HISTORY_LEN: u64 = 5000;
const PAGE: usize = 50;

/// A store under test, its users, and a source of fresh client message ids.
struct Bench<S> {
    store: Arc<S>,
    client_ids: Arc<AtomicU64>,
}

impl<S: Store> Bench<S> {
    async fn user(&self, name: &str) -> User {
        self.store.create_user(name, HASH).await.unwrap().unwrap()
    }

    async fn send(&self, from: &User, to: &User) {
        send(&*self.store, &self.client_ids, from, to).await;
    }

    /// `count` messages from `from` to `to`, sent by `WRITERS` concurrent tasks.
    async fn send_concurrently(&self, from: &User, to: &User, count: u64) {
        let tasks: Vec<_> = (0..WRITERS)
            .map(|writer| {
                let share = count / WRITERS + u64::from(writer < count % WRITERS);
                let (store, ids) = (Arc::clone(&self.store), Arc::clone(&self.client_ids));
                let (from, to) = (from.clone(), to.clone());
                tokio::spawn(async move {
                    for _ in 0..share {
                        send(&*store, &ids, &from, &to).await;
                    }
                })
            })
            .collect();
        for task in tasks {
            task.await.unwrap();
        }
    }
}

async fn send<S: Store>(store: &S, client_ids: &AtomicU64, from: &User, to: &User) {
    let msg = NewMessage {
        from: from.clone(),
        to: to.clone(),
        client_msg_id: client_ids.fetch_add(1, Ordering::Relaxed),
        body: Body::Text("a typical short chat message, about sixty bytes long".into()),
        ts: 1_700_000_000_000,
        friends_only: false,
        device: None,
    };
    store.append_direct(msg).await.unwrap().unwrap();
}

fn runtime() -> Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap()
}

fn configure(group: &mut BenchmarkGroup<'_, criterion::measurement::WallTime>) {
    group
        .sample_size(10)
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(3));
}

fn bench_store<S: Store>(c: &mut Criterion, backend: &str, open: impl FnOnce(&Path) -> S) {
    let rt = runtime();
    let tmp = tempfile::tempdir().unwrap();
    let bench = Bench {
        store: Arc::new(open(tmp.path())),
        client_ids: Arc::new(AtomicU64::new(0)),
    };
    let bench = &bench;
    let (ann, bob, cat, dan, eve, fay) = rt.block_on(async {
        let users = (
            bench.user("ann").await,
            bench.user("bob").await,
            bench.user("cat").await,
            bench.user("dan").await,
            bench.user("eve").await,
            bench.user("fay").await,
        );
        // The conversation history pages are read from.
        bench
            .send_concurrently(&users.4, &users.5, HISTORY_LEN)
            .await;
        users
    });
    let (ann, bob, cat, dan) = (&ann, &bob, &cat, &dan);
    let dan_device = rt.block_on(async {
        let login = bench.store.device_login(dan.id, None, 1, 1_700_000_000_000);
        login.await.unwrap().unwrap().device.id
    });

    let mut group = c.benchmark_group(format!("{backend}/append_direct"));
    configure(&mut group);
    group.throughput(Throughput::Elements(1));
    group.bench_function("1-writer", |b| {
        b.to_async(&rt).iter_custom(|iters| async move {
            let start = Instant::now();
            for _ in 0..iters {
                bench.send(ann, bob).await;
            }
            start.elapsed()
        })
    });
    group.bench_function("64-writers", |b| {
        b.to_async(&rt).iter_custom(|iters| async move {
            let start = Instant::now();
            bench.send_concurrently(ann, bob, iters).await;
            start.elapsed()
        })
    });
    group.finish();

    // A device reads 256 items of its stream and acks them (cumulatively).
    let mut group = c.benchmark_group(format!("{backend}/stream"));
    configure(&mut group);
    group.throughput(Throughput::Elements(1));
    group.bench_function("take256+ack", |b| {
        b.to_async(&rt).iter_custom(|iters| async move {
            let mut timed = Duration::ZERO;
            for _ in 0..iters {
                bench.send_concurrently(cat, dan, INBOX_TAKE as u64).await;
                let start = Instant::now();
                let taken = bench.store.stream(dan.id, 0, INBOX_TAKE).await.unwrap();
                let acks = Acks {
                    device: dan_device,
                    up_to: taken.last().map(|item| item.pos),
                    room_messages: Vec::new(),
                    now: 1_700_000_000_000,
                    active_since: 0,
                };
                bench.store.ack(dan.id, acks).await.unwrap();
                timed += start.elapsed();
                assert_eq!(taken.len(), INBOX_TAKE);
            }
            timed
        })
    });
    group.finish();

    let mut group = c.benchmark_group(format!("{backend}/history"));
    configure(&mut group);
    group.throughput(Throughput::Elements(1));
    let page = AtomicU64::new(0);
    let (page, eve, fay) = (&page, &eve, &fay);
    group.bench_function("page50", |b| {
        b.to_async(&rt).iter(|| async move {
            // Walk the pages of the conversation, newest first, round and round.
            let n = page.fetch_add(1, Ordering::Relaxed) % (HISTORY_LEN / PAGE as u64);
            let before = HISTORY_LEN + 1 - n * PAGE as u64;
            let messages = bench
                .store
                .direct_history(eve.id, fay.id, Some(before), PAGE)
                .await
                .unwrap();
            assert_eq!(messages.len(), PAGE);
        })
    });
    group.finish();
}

fn redb(c: &mut Criterion) {
    bench_store(c, "redb", |dir| chatcore_redb::open(dir).unwrap());
}

/// redb without the write-ahead log: every group commit is a redb transaction.
fn redb_direct(c: &mut Criterion) {
    bench_store(c, "redb-direct", |dir| {
        let backend = chatcore_redb::RedbBackend::open(dir.join(chatcore_redb::FILE_NAME));
        KvStore::open(backend.unwrap()).unwrap()
    });
}

fn sled(c: &mut Criterion) {
    bench_store(c, "sled", |dir| chatcore_sled::open(dir).unwrap());
}

fn memory(c: &mut Criterion) {
    bench_store(c, "memory", |_| {
        KvStore::open(MemoryBackend::new()).unwrap()
    });
}

criterion_group!(store, redb, redb_direct, sled, memory);
criterion_main!(store);
