//! Check (b) of a session script: a whole server on the in-memory transport and
//! a `MemoryStore`, with two honest library clients logged in, and the script
//! played through a raw connection ([`Raw`]). Afterwards the honest clients and
//! a new one must still be served, the server must shut down with nobody left
//! online, and no task may have panicked; a hang guard turns a request that is
//! never answered into a panic.

use std::cell::Cell;
use std::net::SocketAddr;
use std::sync::{Arc, Once, OnceLock};
use std::time::Duration;

use chatcore::client::{Client, ClientError};
use chatcore::engine::testkit::{password, test_config};
use chatcore::engine::{DuplicateLogin, Server, ServerConfig};
use chatcore::protocol::{ErrorCode, Request};
use chatcore::session::Phase;
use chatcore::store::{Entries, KvBackend, KvStore, MemoryBackend, MemoryStore};
use chatcore::transport::memory::{self, MemoryClientConnection};

use crate::raw::Raw;
use crate::script::Script;

/// Upload chunk size of the fuzzed server (small, so uploads finish).
pub(crate) const CHUNK: u32 = 16;
/// Largest file the fuzzed server accepts.
const MAX_FILE: u64 = 200;
/// Where the raw connections claim to come from (so per-address throttling runs).
const PEER: ([u8; 4], u16) = ([127, 0, 0, 1], 40_000);
/// How long a whole script may take before it counts as a hang.
const HANG_GUARD: Duration = Duration::from_secs(10);

thread_local! {
    /// Panics on this thread so far.
    static PANICS: Cell<usize> = const { Cell::new(0) };
}
static PANIC_HOOK: Once = Once::new();

/// Counts panics per thread, then runs the previous hook (under libFuzzer, that
/// one aborts). A panic in a spawned server task is caught by tokio and would
/// otherwise go unnoticed; on the current-thread runtime those tasks run on the
/// checking thread, so parallel checks (tests) do not see each other's panics.
fn count_panics() {
    PANIC_HOOK.call_once(|| {
        let previous = std::panic::take_hook();
        std::panic::set_hook(Box::new(move |info| {
            PANICS.with(|n| n.set(n.get() + 1));
            previous(info);
        }));
    });
}

fn fuzz_config(flags: u8) -> ServerConfig {
    // Field by field: no struct literal, which `#[non_exhaustive]` would forbid here.
    let mut config = test_config();
    config.open_chat = flags & 1 != 0;
    config.duplicate_login = if flags & 2 != 0 {
        DuplicateLogin::ReplaceOld
    } else {
        DuplicateLogin::Allow
    };
    config.max_pending_requests = 3;
    config.backlog_page = 4;
    config.file_chunk_size = CHUNK;
    config.max_file_size = MAX_FILE;
    config
}

pub(crate) fn check_engine(script: &Script) {
    count_panics();
    let panics = PANICS.with(Cell::get);
    let store = fresh_store();
    block_on(async {
        tokio::time::timeout(HANG_GUARD, run_engine(store, script))
            .await
            .expect("the server stopped answering (hang guard)")
    });
    assert_eq!(
        PANICS.with(Cell::get),
        panics,
        "a thread panicked while serving the script"
    );
}

/// Runs `f` on this thread's current-thread runtime. The runtime (and its
/// blocking pool, where argon2 and store reads run) is kept from one run to the
/// next, which halves the cost of a run; each run still gets its own server and
/// store, and shuts them down (at most the drivers of its closed clients are
/// left to wind down in the next run).
fn block_on<F: std::future::Future>(f: F) -> F::Output {
    thread_local! {
        static RUNTIME: tokio::runtime::Runtime = tokio::runtime::Builder::new_current_thread()
            .enable_time()
            .build()
            .expect("a runtime");
    }
    RUNTIME.with(|runtime| runtime.block_on(f))
}

pub(crate) fn connect(server: &Server) -> MemoryClientConnection {
    let (server_end, client_end) = memory::pair();
    server.spawn_connection(server_end, Some(SocketAddr::from(PEER)));
    client_end
}

/// What every script starts from, set up through a server: ann, bob and cat
/// registered (passwords from [`password`]), ann and bob friends, `lobby` owned
/// by ann with bob in it. Set up once, then copied into each run's store (a
/// dozen argon2 hashes and store round trips per run otherwise).
fn template() -> &'static Entries {
    static TEMPLATE: OnceLock<Entries> = OnceLock::new();
    TEMPLATE.get_or_init(|| {
        let backend = MemoryBackend::new();
        let store = KvStore::open(backend.clone()).expect("an empty store opens");
        block_on(async {
            let server = Server::new(Arc::new(store), fuzz_config(0)).expect("config");
            let (ann, _) = Client::connect(connect(&server)).await.expect("hello");
            for name in ["ann", "bob", "cat"] {
                ann.register(name, &password(name)).await.expect("register");
            }
            ann.login("ann", &password("ann")).await.expect("login");
            let (bob, _) = Client::connect(connect(&server)).await.expect("hello");
            bob.login("bob", &password("bob")).await.expect("login");
            ann.friend_request("bob", "hi").await.expect("request");
            bob.respond_friend("ann", true).await.expect("accept");
            ann.create_room("lobby").await.expect("create");
            bob.join_room("lobby").await.expect("join");
            // Every ack the drivers owe is in before the answer to a request.
            ann.ping().await.expect("ping");
            bob.ping().await.expect("ping");
            drop((ann, bob));
            server.shutdown().await;
        });
        backend
            .scan(&[], &[0xff; 64], false, usize::MAX)
            .expect("the template store reads")
    })
}

/// A store holding a copy of the [`template`].
fn fresh_store() -> MemoryStore {
    let backend = MemoryBackend::new();
    let batch = template()
        .iter()
        .map(|(key, value)| (key.clone(), Some(value.clone())))
        .collect();
    backend.commit(batch).expect("a memory commit");
    KvStore::open(backend).expect("a copy of the template opens")
}

async fn run_engine(store: MemoryStore, script: &Script) {
    let replace_old = script.flags & 2 != 0;
    let server = Server::new(Arc::new(store), fuzz_config(script.flags)).expect("config");

    // Honest clients: ann and bob, logged in. Their events are acked by their
    // drivers; nobody needs to read them.
    let (ann, _) = Client::connect(connect(&server)).await.expect("hello");
    ann.login("ann", &password("ann")).await.expect("login");
    let (bob, _) = Client::connect(connect(&server)).await.expect("hello");
    bob.login("bob", &password("bob")).await.expect("login");

    let mut raw = Raw::new(&server);
    for step in &script.steps {
        raw.step(step).await;
    }
    // The fuzzed connection, if it is still up and past its hello, still answers.
    if matches!(
        raw.mirror.phase(),
        Phase::Anonymous | Phase::Authenticated(_)
    ) {
        let ping = raw.request(Request::Ping);
        raw.exchange(vec![ping]).await;
    }
    raw.hang_up().await;

    // The honest clients are still served (unless a login replaced them).
    for (name, client) in [("ann", &ann), ("bob", &bob)] {
        match client.ping().await {
            Ok(()) => {}
            Err(ClientError::Closed) if replace_old => {}
            Err(e) => panic!("honest client {name} was not served after the script: {e}"),
        }
    }
    // So is a new client, and bob can log in (unless the script throttled him).
    let (fresh, _events) = Client::connect(connect(&server))
        .await
        .expect("a new client gets a hello");
    fresh.ping().await.expect("a new client can ping");
    match fresh.login("bob", &password("bob")).await {
        Ok(name) => assert_eq!(name, "bob"),
        Err(ClientError::Refused(ErrorCode::RateLimited)) => {}
        Err(e) => panic!("bob could not log in after the script: {e}"),
    }
    drop((ann, bob, fresh));
    server.shutdown().await;
    assert_eq!(
        server.online_count(),
        0,
        "users left online after every connection closed"
    );
}
