//! Command-line flags. The names, defaults and meanings of the shared ones
//! (`--pairs`, `--msgs`, `--size`, `--window`, `--members`, `--runs`,
//! `--max-secs`) are those of the peer harness (`shared/peers/loadgen`), so a
//! chatcore figure and a NATS or mosquitto figure can be compared as a ratio.

use clap::{Parser, ValueEnum};

/// What a run measures.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Workload {
    /// `--pairs` sender→receiver pairs (befriended); each sender sends `--msgs`
    /// messages to its receiver.
    Relay,
    /// One room of `--members` members plus one sender; every message is
    /// delivered to every member; the rate counts deliveries.
    Fanout,
    /// Opens `--conns` authenticated idle sessions and reports the server's RSS
    /// per session (needs `--server-pid`).
    Connections,
    /// Relay alone, then relay while `--storm-users` users log in and out in a
    /// loop; reports both and the ratio of their p99 latencies.
    LoginStorm,
}

impl Workload {
    /// The name used in the summary line.
    pub fn name(self) -> &'static str {
        match self {
            Workload::Relay => "relay",
            Workload::Fanout => "fanout",
            Workload::Connections => "connections",
            Workload::LoginStorm => "login-storm",
        }
    }
}

/// How the load generator's clients reach the server.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum TransportKind {
    /// The TCP protocol (`--addr` is chat-server's `--listen`).
    Tcp,
    /// WebSocket, postcard subprotocol (`--addr` is chat-server's `--web`;
    /// the endpoint is `/ws`).
    Ws,
}

/// Flags of the `loadgen` binary.
#[derive(Debug, Clone, Parser)]
#[command(
    name = "loadgen",
    about = "Load generator for chatcore's chat-server (relay, fanout, connections, login-storm)"
)]
pub struct Args {
    /// The server, on this machine (a loopback address). Several (repeated or
    /// comma-separated) are the nodes of one cluster: relay pair `i` has its
    /// sender on node `i` and its receiver on node `i + 1` (round the list),
    /// so every message crosses nodes; the other workloads use the first.
    #[arg(long, default_value = "127.0.0.1:7878", value_delimiter = ',')]
    pub addr: Vec<String>,
    /// What to measure.
    #[arg(long, value_enum, default_value_t = Workload::Relay)]
    pub workload: Workload,
    /// How clients connect: TCP, or WebSocket to chat-server's web port.
    #[arg(long, value_enum, default_value_t = TransportKind::Tcp)]
    pub transport: TransportKind,
    /// relay, login-storm: number of sender→receiver pairs.
    #[arg(long, default_value_t = 50)]
    pub pairs: usize,
    /// fanout: number of room members receiving (the sender is one more).
    #[arg(long, default_value_t = 100)]
    pub members: usize,
    /// Messages sent per sender (relay) or by the room's sender (fanout).
    #[arg(long, default_value_t = 2000)]
    pub msgs: usize,
    /// Text bytes per message (at least 16: the send time, hex-encoded).
    #[arg(long, default_value_t = 100)]
    pub size: usize,
    /// End-to-end flow-control window: the most messages a sender may have sent
    /// but not yet seen delivered to its receiver (fanout: to each member). Also
    /// the most send answers a sender may be awaiting.
    #[arg(long, default_value_t = 64)]
    pub window: usize,
    /// relay, fanout: number each sender's messages with random
    /// `client_msg_id`s instead of 1, 2, 3, ... (as a client that keeps neither
    /// a counter nor a clock would; the server can then not pack their
    /// idempotency records)
    #[arg(long)]
    pub random_ids: bool,
    /// connections: authenticated idle sessions to open.
    #[arg(long, default_value_t = 10_000)]
    pub conns: usize,
    /// connections: every user logs in (and out) once while registering, so
    /// their default device exists before the measurement as their account
    /// does, and what grows is the sessions' own state.
    #[arg(long)]
    pub returning: bool,
    /// The server's process id: its CPU time (utime+stime from /proc/PID/stat)
    /// is sampled around the measured interval, and its RSS (VmRSS) for
    /// `connections`. Several (repeated or comma-separated; a cluster's
    /// nodes): their CPU is summed, the RSS is the first's.
    #[arg(long, value_delimiter = ',')]
    pub server_pid: Vec<u32>,
    /// Processes of the database and the bus (PostgreSQL's backends,
    /// nats-server), repeated or comma-separated: their CPU over the measured
    /// interval is reported apart (`db_cpu_s_per_1M`).
    #[arg(long, value_delimiter = ',')]
    pub db_pid: Vec<u32>,
    /// Repeat the run N times (fresh users and connections each time), then
    /// print a median line.
    #[arg(long, default_value_t = 1)]
    pub runs: usize,
    /// Hard stop, in seconds, for each phase of a run (provisioning users; the
    /// measured interval). A run stopped early is reported with
    /// `timed_out=true`.
    #[arg(long, default_value_t = 60)]
    pub max_secs: u64,
    /// Registrations and logins in flight at once while provisioning.
    #[arg(long, default_value_t = 256)]
    pub concurrency: usize,
    /// connections: number of client source addresses, 127.0.0.2 onwards
    /// (each gives about 28 000 ephemeral ports).
    #[arg(long, default_value_t = 16, value_parser = clap::value_parser!(u8).range(1..=250))]
    pub source_ips: u8,
    /// login-storm: users logging in and out in a loop, each on its own
    /// connection, as fast as the server answers.
    #[arg(long, default_value_t = 64)]
    pub storm_users: usize,
}
