//! A nats-server for tests (feature `test-server`): started on a free port
//! of 127.0.0.1, in a temp dir of its own, killed when dropped; it can be
//! stopped and started again on the same port (a broker restart).
//! [`NatsCluster`]: several of them routed into one NATS cluster.
//!
//! The program is `CHATCORE_NATS_SERVER`, else `/usr/sbin/nats-server`
//! (Debian's `nats-server` package), else `nats-server` on `PATH`. A missing
//! program is a failure saying what to install, never a skip.
//!
//! Not a stable API: it panics on any failure, as tests want.

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// How long a started server may take to accept connections.
const START_TIMEOUT: Duration = Duration::from_secs(20);

/// A running (or stopped) nats-server.
#[derive(Debug)]
pub struct NatsServer {
    dir: tempfile::TempDir,
    port: u16,
    child: Mutex<Option<Child>>,
    /// As a member of a [`NatsCluster`].
    member: Option<Member>,
}

/// How a cluster member routes to the others.
#[derive(Debug)]
struct Member {
    /// Its `-m` port: `/routez` says how many routes it has.
    monitor_port: u16,
    /// Its `--cluster` port, and the others' (its `--routes`).
    cluster_port: u16,
    routes: Vec<u16>,
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("a free port on 127.0.0.1")
        .port()
}

fn program() -> PathBuf {
    if let Some(path) = std::env::var_os("CHATCORE_NATS_SERVER") {
        return path.into();
    }
    let debian = PathBuf::from("/usr/sbin/nats-server");
    if debian.exists() {
        return debian;
    }
    PathBuf::from("nats-server")
}

impl NatsServer {
    /// Starts a server on a free port.
    pub fn start() -> NatsServer {
        let server = NatsServer::unstarted(None);
        server.resume();
        server
    }

    fn unstarted(member: Option<Member>) -> NatsServer {
        NatsServer {
            dir: tempfile::tempdir().expect("a temp dir for nats-server"),
            port: free_port(),
            child: Mutex::new(None),
            member,
        }
    }

    /// `nats://127.0.0.1:PORT`.
    pub fn url(&self) -> String {
        format!("nats://127.0.0.1:{}", self.port)
    }

    /// Kills the server (as a crash would: no goodbye to the clients).
    pub fn kill(&self) {
        if let Some(mut child) = self.child.lock().expect("nats child lock").take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// Starts the server again on its port, and waits until it accepts
    /// connections (a cluster member: and has its routes to the others).
    pub fn resume(&self) {
        self.spawn();
        if let Some(member) = &self.member {
            self.wait_routes(member.routes.len());
        }
    }

    fn spawn(&self) {
        let mut child = self.child.lock().expect("nats child lock");
        assert!(child.is_none(), "nats-server already runs");
        let program = program();
        let log = self.dir.path().join("nats-server.log");
        let mut command = Command::new(&program);
        command.args(["-a", "127.0.0.1", "-p", &self.port.to_string()]);
        if let Some(member) = &self.member {
            let routes: Vec<String> = member
                .routes
                .iter()
                .map(|port| format!("nats://127.0.0.1:{port}"))
                .collect();
            command
                .args(["-m", &member.monitor_port.to_string()])
                .args(["--cluster_name", "chatcore-test"])
                .arg("--cluster")
                .arg(format!("nats://127.0.0.1:{}", member.cluster_port))
                .arg("--routes")
                .arg(routes.join(","));
        }
        let spawned = command
            .arg("-l")
            .arg(&log)
            .current_dir(self.dir.path())
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn();
        let mut spawned = match spawned {
            Ok(child) => child,
            Err(e) => panic!(
                "cannot run {} ({e}): install nats-server (Debian: apt-get install nats-server) \
                 or set CHATCORE_NATS_SERVER",
                program.display()
            ),
        };
        let addr = SocketAddr::from(([127, 0, 0, 1], self.port));
        let started = Instant::now();
        loop {
            if TcpStream::connect_timeout(&addr, Duration::from_millis(200)).is_ok() {
                break;
            }
            if let Ok(Some(status)) = spawned.try_wait() {
                let log = std::fs::read_to_string(&log).unwrap_or_default();
                panic!("nats-server exited at start ({status}): {log}");
            }
            assert!(
                started.elapsed() < START_TIMEOUT,
                "nats-server did not accept connections within {START_TIMEOUT:?}"
            );
            std::thread::sleep(Duration::from_millis(20));
        }
        *child = Some(spawned);
    }
}

impl NatsServer {
    /// Waits until `/routez` counts `routes` routes (or more: newer servers
    /// pool several per peer).
    fn wait_routes(&self, routes: usize) {
        let Some(member) = &self.member else { return };
        let started = Instant::now();
        loop {
            let found = route_count(member.monitor_port);
            if found.is_some_and(|found| found >= routes) {
                return;
            }
            assert!(
                started.elapsed() < START_TIMEOUT,
                "nats-server on {} has {found:?} routes, not {routes}, after {START_TIMEOUT:?}",
                self.port
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }
}

/// `num_routes` from a server's monitoring port, if it answers.
fn route_count(monitor_port: u16) -> Option<usize> {
    let addr = SocketAddr::from(([127, 0, 0, 1], monitor_port));
    let mut stream = TcpStream::connect_timeout(&addr, Duration::from_millis(500)).ok()?;
    stream.set_read_timeout(Some(Duration::from_secs(2))).ok()?;
    stream
        .write_all(b"GET /routez HTTP/1.0\r\nHost: 127.0.0.1\r\n\r\n")
        .ok()?;
    let mut answer = String::new();
    stream.read_to_string(&mut answer).ok()?;
    let after = answer.split("\"num_routes\":").nth(1)?;
    let digits: String = after
        .trim_start()
        .chars()
        .take_while(char::is_ascii_digit)
        .collect();
    digits.parse().ok()
}

/// Several nats-servers routed into one NATS cluster, each on a free port
/// of 127.0.0.1; [`NatsCluster::start`] returns once every route is up.
#[derive(Debug)]
pub struct NatsCluster {
    members: Vec<NatsServer>,
}

impl NatsCluster {
    /// Starts `size` members (at least 2), each routed to all the others.
    pub fn start(size: usize) -> NatsCluster {
        assert!(size >= 2, "a NATS cluster of {size}");
        let cluster_ports: Vec<u16> = (0..size).map(|_| free_port()).collect();
        let members: Vec<NatsServer> = (0..size)
            .map(|i| {
                NatsServer::unstarted(Some(Member {
                    monitor_port: free_port(),
                    cluster_port: cluster_ports[i],
                    routes: (0..size)
                        .filter(|&j| j != i)
                        .map(|j| cluster_ports[j])
                        .collect(),
                }))
            })
            .collect();
        for member in &members {
            member.spawn();
        }
        for member in &members {
            member.wait_routes(size - 1);
        }
        NatsCluster { members }
    }

    /// Member `i`.
    pub fn member(&self, i: usize) -> &NatsServer {
        &self.members[i]
    }

    /// Kills every member (the whole bus gone).
    pub fn kill_all(&self) {
        for member in &self.members {
            member.kill();
        }
    }

    /// Starts every member again and waits for all their routes.
    pub fn resume_all(&self) {
        for member in &self.members {
            member.spawn();
        }
        for member in &self.members {
            member.wait_routes(self.members.len() - 1);
        }
    }

    /// Every member's URL, comma-separated, member `first`'s first (a
    /// client tries them in this order).
    pub fn urls_from(&self, first: usize) -> String {
        let n = self.members.len();
        (0..n)
            .map(|i| self.members[(first + i) % n].url())
            .collect::<Vec<_>>()
            .join(",")
    }
}

impl Drop for NatsServer {
    fn drop(&mut self) {
        self.kill();
    }
}
