//! A nats-server for tests (feature `test-server`): started on a free port
//! of 127.0.0.1, in a temp dir of its own, killed when dropped; it can be
//! stopped and started again on the same port (a broker restart).
//!
//! The program is `CHATCORE_NATS_SERVER`, else `/usr/sbin/nats-server`
//! (Debian's `nats-server` package), else `nats-server` on `PATH`. A missing
//! program is a failure saying what to install, never a skip.
//!
//! Not a stable API: it panics on any failure, as tests want.

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
        let port = TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .expect("a free port on 127.0.0.1")
            .port();
        let server = NatsServer {
            dir: tempfile::tempdir().expect("a temp dir for nats-server"),
            port,
            child: Mutex::new(None),
        };
        server.resume();
        server
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
    /// connections.
    pub fn resume(&self) {
        let mut child = self.child.lock().expect("nats child lock");
        assert!(child.is_none(), "nats-server already runs");
        let program = program();
        let log = self.dir.path().join("nats-server.log");
        let spawned = Command::new(&program)
            .args(["-a", "127.0.0.1", "-p", &self.port.to_string()])
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

impl Drop for NatsServer {
    fn drop(&mut self) {
        self.kill();
    }
}
