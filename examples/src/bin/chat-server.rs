//! chat-server: chatcore over TCP, and a web page with its WebSocket endpoint
//! on an HTTP port, with a redb (default), sled, memory or PostgreSQL store;
//! on PostgreSQL, optionally a node of a cluster (`--cluster nats://…`).

use std::io::IsTerminal;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use chatcore::auth::HashParams;
use chatcore::engine::{DuplicateLogin, Server, ServerConfig};
use chatcore::protocol::{limits, DEFAULT_MAX_FRAME_LEN};
use chatcore::store::{MemoryStore, Store};
use chatcore::transport::tcp::TcpTransport;
use chatcore::transport::tls;
use chatcore::transport::ws::{OriginPolicy, WsOptions, WsTransport};
use chatcore::transport::{join, Transport};
use chatcore_examples::web::WebPeer;
use clap::builder::TypedValueParser;
use clap::{Parser, ValueEnum};
use tokio_util::sync::CancellationToken;

// The server allocates and frees many small buffers per message on several
// threads; mimalloc handles that pattern markedly faster than glibc's malloc.
// Built without transparent huge pages (feature `no_thp`): memory freed on one
// thread and reused on another made the kernel zero a fresh 2 MiB page for each
// few small blocks, some 10% of the server's CPU in the relay.
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

#[derive(Debug, Clone, Copy, ValueEnum)]
enum StoreKind {
    /// redb in `--data-dir` (durable; the default).
    Redb,
    /// sled in `--data-dir` (durable; flushed before every answer).
    Sled,
    /// In memory: everything is lost at exit.
    Memory,
    /// PostgreSQL at `--database-url`.
    Postgres,
}

#[derive(Debug, Clone, Copy, ValueEnum)]
enum DuplicateLoginArg {
    /// Several sessions per user.
    Allow,
    /// A new login closes the user's other sessions (`Kicked`).
    Replace,
}

/// A chatcore chat server over TCP, with a web page and its WebSocket endpoint
/// on an HTTP port.
#[derive(Debug, Parser)]
#[command(version, about)]
struct Args {
    /// Address to listen on (the TCP protocol). `--addr` is the same.
    #[arg(long, alias = "addr", default_value = "127.0.0.1:7878")]
    listen: SocketAddr,
    /// Address of the web port: the chat page at `/` and its WebSocket
    /// endpoint at `/ws` (https and wss with --tls-cert).
    #[arg(long, default_value = "127.0.0.1:8080")]
    web: SocketAddr,
    /// Serve no web port.
    #[arg(long, conflicts_with_all = ["web_allow_origin", "web_peer"])]
    no_web: bool,
    /// Also let pages of this origin (`http://host:port`, or `*` for any)
    /// open WebSockets; the server's own page always may. Repeatable.
    #[arg(long, value_name = "ORIGIN")]
    web_allow_origin: Vec<String>,
    /// Another node's web port as browsers reach it (`http://host:port`,
    /// `https://…`): a page served here moves to one of these when this node
    /// goes away, and pages served there may open WebSockets here. Give
    /// every node the same list (a page skips its own node). Repeatable, or
    /// comma-separated.
    #[arg(long, value_name = "URL", value_delimiter = ',', value_parser = WebPeer::parse)]
    web_peer: Vec<WebPeer>,
    /// Storage backend.
    #[arg(long, value_enum, default_value_t = StoreKind::Redb)]
    store: StoreKind,
    /// Directory of the redb or sled database.
    #[arg(long, default_value = "./chat-data")]
    data_dir: PathBuf,
    /// PostgreSQL to use with `--store postgres`: a URL
    /// (`postgres://user:password@host:port/db`) or a connection string
    /// (`host=/var/run/postgresql dbname=chat`).
    #[arg(long, env = "DATABASE_URL", hide_env_values = true)]
    database_url: Option<String>,
    /// Most connections to PostgreSQL at once (`--store postgres`). A
    /// connection is held for one store call (one transaction); calls past
    /// it wait. Mind the server's `max_connections` across all nodes.
    #[arg(long, default_value_t = chatcore_postgres::DEFAULT_MAX_CONNECTIONS, value_parser = clap::value_parser!(u16).range(1..).map(usize::from))]
    database_pool: usize,
    /// Milliseconds a store call waits for a free PostgreSQL connection (or a
    /// new one to connect) before it is refused `unavailable`.
    #[arg(long, default_value_t = 5000, value_parser = clap::value_parser!(u64).range(1..))]
    database_timeout_ms: u64,
    /// Run as a node of a cluster whose bus is the NATS server at this URL
    /// (`nats://host:port`; several comma-separated for a NATS cluster). The
    /// nodes share the `--store postgres` database (required) and tell each
    /// other what is live over NATS: messages, presence, kicks, revokes.
    #[arg(long, value_name = "NATS_URL")]
    cluster: Option<String>,
    /// This node's name in the cluster, unique among its running nodes
    /// (letters, digits, `-`, `_`; no `.`, spaces, `*` or `>`). Default: the
    /// host name (dots as `-`) and the `--listen` port, e.g. `web1-7878`.
    #[arg(long, requires = "cluster", value_name = "NAME")]
    node_id: Option<String>,
    /// Prefix of the cluster's NATS subjects: nodes with one prefix on one
    /// NATS are one cluster.
    #[arg(long, requires = "cluster", default_value = chatcore_nats::DEFAULT_PREFIX)]
    cluster_prefix: String,
    /// How often a node tells the others it is alive, in milliseconds.
    #[arg(long, default_value_t = 1000)]
    cluster_heartbeat_ms: u64,
    /// A node unheard for this many heartbeats is dead: its users go offline.
    #[arg(long, default_value_t = 3)]
    cluster_missed_heartbeats: u32,
    /// Allow chat between users who are not friends.
    #[arg(long)]
    open_chat: bool,
    /// Largest frame accepted or sent, in bytes.
    #[arg(long, default_value_t = DEFAULT_MAX_FRAME_LEN)]
    max_frame: usize,
    /// Most connections served at once.
    #[arg(long, default_value_t = 10_000)]
    max_connections: usize,
    /// What a second login of the same user does.
    #[arg(long, value_enum, default_value_t = DuplicateLoginArg::Allow)]
    duplicate_login: DuplicateLoginArg,
    /// Seconds a client has to say hello.
    #[arg(long, default_value_t = 10)]
    hello_timeout_secs: u64,
    /// Seconds without any frame from a client before it is closed.
    #[arg(long, default_value_t = 60)]
    idle_timeout_secs: u64,
    /// Seconds between heartbeat pings to each client.
    #[arg(long, default_value_t = 20)]
    ping_interval_secs: u64,
    /// Sustained requests per second per connection.
    #[arg(long, default_value_t = 50.0)]
    request_rate: f64,
    /// Requests a connection may burst above the rate.
    #[arg(long, default_value_t = 100)]
    request_burst: u32,
    /// Sustained acknowledged ids per second per connection (acks are not
    /// requests: never refused, only slowed past this).
    #[arg(long, default_value_t = 10_000.0)]
    ack_rate: f64,
    /// Acknowledged ids a connection may burst above the ack rate.
    #[arg(long, default_value_t = 10_000)]
    ack_burst: u32,
    /// Failed logins per user and client address per minute before attempts
    /// from that address are refused.
    #[arg(long, default_value_t = 5)]
    login_failures_per_user: usize,
    /// Failed logins per user from all addresses together per minute before
    /// attempts are refused.
    #[arg(long, default_value_t = 100)]
    login_failures_per_user_all_addresses: usize,
    /// Failed logins per client address per minute before attempts are refused.
    #[arg(long, default_value_t = 20)]
    login_failures_per_address: usize,
    /// Registrations per client address per hour before further ones are
    /// refused.
    #[arg(long, default_value_t = 20)]
    registrations_per_address: usize,
    /// Seconds a connection may stay without logging in (pings or not).
    #[arg(long, default_value_t = 120)]
    login_timeout_secs: u64,
    /// Most connections served at once from one client address.
    #[arg(long, default_value_t = 64)]
    max_connections_per_address: usize,
    /// Most rooms one user may own.
    #[arg(long, default_value_t = 100)]
    max_rooms_per_owner: usize,
    /// Most files one user may store (open uploads included).
    #[arg(long, default_value_t = 1000)]
    max_files_per_user: u64,
    /// Most bytes one user may store, each file at its offered size (default 1 GiB).
    #[arg(long, default_value_t = 1 << 30)]
    max_stored_bytes_per_user: u64,
    /// Most uploads one connection may have open at once.
    #[arg(long, default_value_t = 8)]
    max_uploads_per_connection: usize,
    /// Friend requests from one user to another per day.
    #[arg(long, default_value_t = 5)]
    friend_requests_per_pair: usize,
    /// Devices one user may have at once (a login as one more new device is
    /// refused `too_many_devices`).
    #[arg(long, default_value_t = 20)]
    max_devices_per_user: usize,
    /// Days a device may be unseen before it stops holding back its user's
    /// stream (it then catches up from history).
    #[arg(long, default_value_t = 30)]
    device_inactive_days: u64,
    /// Most TLS handshakes in progress at once (with --tls-cert).
    #[arg(long, default_value_t = tls::DEFAULT_MAX_HANDSHAKES)]
    max_tls_handshakes: usize,
    /// Frames queued for one client before it is closed as a slow reader.
    #[arg(long, default_value_t = 4096)]
    outbound_queue: usize,
    /// Encoded bytes queued for one client before it is closed as a slow
    /// reader (default 8 MiB).
    #[arg(long, default_value_t = 8 << 20)]
    outbound_queue_bytes: usize,
    /// Hours a send's idempotency record is kept: a retry within it is
    /// answered with the first send's receipt (default 7 days).
    #[arg(long, default_value_t = 168)]
    send_record_retention_hours: u64,
    /// Largest file accepted for transfer, in bytes (default 50 MiB).
    #[arg(long, default_value_t = chatcore::protocol::limits::DEFAULT_MAX_FILE_SIZE)]
    max_file_size: u64,
    /// Free bytes on the data directory's disk below which uploads are refused
    /// (`storage_full`) while chat goes on (default 256 MiB; 0 disables).
    #[arg(long, default_value_t = ServerConfig::DEFAULT_MIN_FREE_DISK)]
    min_free_disk: u64,
    /// PEM certificate chain: serve TLS instead of plain TCP (with --tls-key).
    #[arg(long, requires = "tls_key")]
    tls_cert: Option<PathBuf>,
    /// PEM private key for --tls-cert.
    #[arg(long, requires = "tls_cert")]
    tls_key: Option<PathBuf>,
    /// argon2id memory cost in KiB (default: OWASP's 19 MiB).
    #[arg(long, default_value_t = HashParams::default().memory_kib)]
    argon2_memory_kib: u32,
    /// argon2id iterations.
    #[arg(long, default_value_t = HashParams::default().iterations)]
    argon2_iterations: u32,
}

async fn open_store(args: &Args) -> Result<Arc<dyn Store>, Box<dyn std::error::Error>> {
    Ok(match args.store {
        StoreKind::Redb => Arc::new(chatcore_redb::open(&args.data_dir)?),
        StoreKind::Sled => Arc::new(chatcore_sled::open(&args.data_dir)?),
        StoreKind::Memory => Arc::new(MemoryStore::new()),
        StoreKind::Postgres => Arc::new(open_postgres(args).await?),
    })
}

/// The host name (dots as `-`) and the listen port: stable across restarts,
/// distinct for nodes on one host.
fn default_node_id(args: &Args) -> String {
    let host = std::fs::read_to_string("/proc/sys/kernel/hostname")
        .or_else(|_| std::fs::read_to_string("/etc/hostname"))
        .map(|h| h.trim().replace(['.', ' ', '*', '>'], "-"))
        .ok()
        .filter(|h| !h.is_empty())
        .unwrap_or_else(|| "node".into());
    format!("{host}-{}", args.listen.port())
}

/// Connects to the database at `url` and brings its schema up to date; a
/// database out of reach is an error now, not at the first login. All of it
/// async: no worker thread waits on the network.
async fn open_postgres(
    args: &Args,
) -> Result<chatcore_postgres::PgStore, Box<dyn std::error::Error>> {
    let url = args.database_url.as_deref().ok_or(
        "--store postgres needs --database-url URL (or DATABASE_URL), e.g. \
         postgres://chat:password@localhost/chat",
    )?;
    let config: chatcore_postgres::Config = url
        .parse()
        .map_err(|e| format!("--database-url is not a PostgreSQL URL or connection string: {e}"))?;
    let at = describe(&config);
    let options = chatcore_postgres::PgOptions {
        max_connections: args.database_pool,
        timeout: Duration::from_millis(args.database_timeout_ms),
    };
    let store = chatcore_postgres::PgStore::connect_with(url, options)
        .await
        .map_err(|e| format!("cannot use the PostgreSQL database at {at}: {}", causes(&e)))?;
    tracing::info!(database = %at, pool = args.database_pool, "PostgreSQL store ready");
    Ok(store)
}

/// `error` and its causes (a pool's "error connecting to server" and why).
fn causes(error: &chatcore::store::StoreError) -> String {
    use chatcore::store::StoreError;
    let mut text = error.to_string();
    let mut next = match error {
        StoreError::Unavailable(inner) | StoreError::Backend(inner) => inner.source(),
        other => std::error::Error::source(other),
    };
    while let Some(cause) = next {
        let said = cause.to_string();
        if !text.contains(&said) {
            text = format!("{text}: {said}");
        }
        next = cause.source();
    }
    text
}

/// Where `config` points, for messages: user, hosts, port and database,
/// never the password.
fn describe(config: &chatcore_postgres::Config) -> String {
    use chatcore_postgres::Host;
    let hosts: Vec<String> = config
        .get_hosts()
        .iter()
        .map(|host| match host {
            Host::Tcp(name) => name.clone(),
            #[cfg(unix)]
            Host::Unix(path) => path.display().to_string(),
        })
        .collect();
    let ports: Vec<String> = config.get_ports().iter().map(u16::to_string).collect();
    format!(
        "{}@{}{}{}",
        config.get_user().unwrap_or("(default user)"),
        if hosts.is_empty() {
            "(default host)".to_string()
        } else {
            hosts.join(",")
        },
        if ports.is_empty() {
            String::new()
        } else {
            format!(":{}", ports.join(","))
        },
        config
            .get_dbname()
            .map(|db| format!("/{db}"))
            .unwrap_or_default()
    )
}

/// Threads for blocking work: store reads and password hashing (which is bounded
/// on its own). Tokio's default of 512 lets a login storm start hundreds of
/// threads, each keeping its stack and allocator caches for seconds after.
const BLOCKING_THREADS: usize = 16;

fn main() -> std::process::ExitCode {
    let run = || -> Result<(), Box<dyn std::error::Error>> {
        tokio::runtime::Builder::new_multi_thread()
            .enable_all()
            .max_blocking_threads(BLOCKING_THREADS)
            .build()?
            .block_on(serve())
    };
    match run() {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            // What went wrong in words (a bad flag combination, a store that
            // will not open, a store that failed while serving: fail-stop, for
            // a supervisor to restart), not as a Debug dump.
            eprintln!("chat-server: {e}");
            std::process::ExitCode::FAILURE
        }
    }
}

async fn serve() -> Result<(), Box<dyn std::error::Error>> {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| "info".into()),
        )
        .with_writer(std::io::stderr)
        .with_ansi(std::io::stderr().is_terminal())
        .init();
    let args = Args::parse();
    if args.cluster.is_some() && !matches!(args.store, StoreKind::Postgres) {
        return Err(
            "--cluster needs --store postgres --database-url URL: the nodes of a \
                    cluster share one PostgreSQL database"
                .into(),
        );
    }

    let store = open_store(&args).await?;
    let secs = Duration::from_secs;
    let mut config = ServerConfig::default();
    config.open_chat = args.open_chat;
    config.max_connections = args.max_connections;
    config.hello_timeout = secs(args.hello_timeout_secs);
    config.idle_timeout = secs(args.idle_timeout_secs);
    config.ping_interval = secs(args.ping_interval_secs);
    config.request_rate = args.request_rate;
    config.request_burst = args.request_burst;
    config.ack_rate = args.ack_rate;
    config.ack_burst = args.ack_burst;
    config.login_failures_per_user = args.login_failures_per_user;
    config.login_failures_per_user_all_addresses = args.login_failures_per_user_all_addresses;
    config.login_failures_per_address = args.login_failures_per_address;
    config.registrations_per_address = args.registrations_per_address;
    config.login_timeout = secs(args.login_timeout_secs);
    config.max_connections_per_address = args.max_connections_per_address;
    config.max_rooms_per_owner = args.max_rooms_per_owner;
    config.max_files_per_user = args.max_files_per_user;
    config.max_stored_bytes_per_user = args.max_stored_bytes_per_user;
    config.max_uploads_per_connection = args.max_uploads_per_connection;
    config.friend_requests_per_pair = args.friend_requests_per_pair;
    config.max_devices_per_user = args.max_devices_per_user;
    config.device_inactive_after = Duration::from_secs(args.device_inactive_days * 24 * 3600);
    config.outbound_queue = args.outbound_queue;
    config.outbound_queue_bytes = args.outbound_queue_bytes;
    config.send_record_retention = secs(args.send_record_retention_hours.saturating_mul(3600));
    config.max_file_size = args.max_file_size;
    config.min_free_disk = args.min_free_disk;
    config.max_frame_len = args.max_frame;
    // A chunk and the rest of its request must fit in one frame.
    let chunk_room = args.max_frame.saturating_sub(limits::CHUNK_FRAME_OVERHEAD);
    config.file_chunk_size = limits::FILE_CHUNK
        .min(u32::try_from(chunk_room).unwrap_or(u32::MAX))
        .max(1);
    config.duplicate_login = match args.duplicate_login {
        DuplicateLoginArg::Allow => DuplicateLogin::Allow,
        DuplicateLoginArg::Replace => DuplicateLogin::ReplaceOld,
    };
    config.hash_params = HashParams {
        memory_kib: args.argon2_memory_kib,
        iterations: args.argon2_iterations,
        ..HashParams::default()
    };
    config.cluster_heartbeat = Duration::from_millis(args.cluster_heartbeat_ms);
    config.cluster_missed_heartbeats = args.cluster_missed_heartbeats;
    let server = match &args.cluster {
        None => Server::new(store, config)?,
        Some(url) => {
            let node = args
                .node_id
                .clone()
                .unwrap_or_else(|| default_node_id(&args));
            let mut nats = chatcore_nats::NatsConfig::new(url.clone(), node.clone());
            nats.prefix = args.cluster_prefix.clone();
            let bus = chatcore_nats::NatsBus::connect(nats)
                .await
                .map_err(|e| format!("--cluster: {e}"))?;
            tracing::info!(%node, nats = %url, "cluster node");
            Server::with_bus(store, config, Arc::new(bus))?
        }
    };
    let shutdown = CancellationToken::new();
    tokio::spawn(stop_on_signal(shutdown.clone()));
    let tls_config = match (&args.tls_cert, &args.tls_key) {
        (Some(cert), Some(key)) => Some(tls::server_config(cert, key)?),
        _ => None,
    };
    // The web port first: once the main port accepts, both do.
    let web = start_web(&args, tls_config.clone()).await?;
    let listener = tokio::net::TcpListener::bind(args.listen).await?;
    let addr = listener.local_addr()?;
    // The data directory only where the store keeps its files there.
    let data_dir = matches!(args.store, StoreKind::Redb | StoreKind::Sled)
        .then(|| args.data_dir.display().to_string());
    tracing::info!(
        %addr,
        tls = tls_config.is_some(),
        store = ?args.store,
        data_dir = data_dir.as_deref().unwrap_or("-"),
        "chat-server listening"
    );
    match tls_config {
        Some(tls_config) => {
            let mut options = tls::TlsOptions::default();
            options.max_frame_len = args.max_frame;
            options.max_handshakes = args.max_tls_handshakes;
            let transport = tls::TlsTransport::from_listener(listener, tls_config, options)?;
            serve_both(&server, transport, web, shutdown).await?;
        }
        None => {
            let transport = TcpTransport::from_listener(listener, args.max_frame);
            serve_both(&server, transport, web, shutdown).await?;
        }
    }
    // Dropping the last handle to the store stops its writer after the last commit.
    drop(server);
    tracing::info!("chat-server stopped");
    Ok(())
}

/// The web port (unless `--no-web`): the page's files and `/ws`.
async fn start_web(
    args: &Args,
    tls_config: Option<Arc<tls::rustls::ServerConfig>>,
) -> Result<Option<WsTransport>, Box<dyn std::error::Error>> {
    if args.no_web {
        return Ok(None);
    }
    let listener = tokio::net::TcpListener::bind(args.web).await.map_err(|e| {
        format!(
            "web port {}: {e} (choose another with --web, or --no-web)",
            args.web
        )
    })?;
    let mut origins = OriginPolicy::same_host();
    for origin in &args.web_allow_origin {
        origins = origins.allow(origin);
    }
    for peer in &args.web_peer {
        origins = origins.allow(peer.origin());
    }
    let mut options = WsOptions::default();
    options.max_frame_len = args.max_frame;
    options.max_handshakes = args.max_tls_handshakes;
    options.origins = origins;
    let mut builder = WsTransport::builder(listener, options)
        .http_handler(chatcore_examples::web::handler(&args.web_peer));
    let scheme = match tls_config {
        Some(config) => {
            builder = builder.tls(config);
            "https"
        }
        None => "http",
    };
    let web = builder.start()?;
    tracing::info!(
        "chat page at {scheme}://{}/ (WebSocket endpoint /ws)",
        web.local_addr()
    );
    Ok(Some(web))
}

/// Serves `transport` and the web port (if any) with one server: one set of
/// connection caps for both.
async fn serve_both<T: Transport>(
    server: &Server,
    transport: T,
    web: Option<WsTransport>,
    shutdown: CancellationToken,
) -> Result<(), chatcore::engine::ServerError> {
    server.clone().serve(join(transport, web), shutdown).await
}

/// Cancels `shutdown` on Ctrl-C or SIGTERM.
async fn stop_on_signal(shutdown: CancellationToken) {
    let ctrl_c = tokio::signal::ctrl_c();
    #[cfg(unix)]
    {
        let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
            .expect("install a SIGTERM handler");
        tokio::select! {
            _ = ctrl_c => {}
            _ = term.recv() => {}
        }
    }
    #[cfg(not(unix))]
    let _ = ctrl_c.await;
    tracing::info!("shutting down");
    shutdown.cancel();
}
