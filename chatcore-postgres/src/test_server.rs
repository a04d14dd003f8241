//! A PostgreSQL for tests (feature `test-server`): this crate's tests and
//! other crates' (chat-server's end-to-end test) start it the same way. One
//! server per test binary, started on first use (`initdb` into a temp dir,
//! listening only on a unix socket in it), a fresh database per test, stopped
//! and removed when the test process ends (the wrapper shell that runs it
//! waits for its stdin, our pipe, to close). A test that stops and restarts a
//! server has one of its own ([`Server::own`]).
//!
//! A missing `initdb` or `postgres` is a failure with what to install, never
//! a skip. Run as root, the server runs as the `postgres` system user
//! (PostgreSQL refuses root).
//!
//! Not a stable API: it panics on any failure, as tests want.

use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, Command, Stdio};
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::{Mutex, OnceLock};
use std::time::{Duration, Instant};

use crate::Config;

/// A test server: its directory (data and socket) and, while it runs, the
/// wrapper shell that runs it and that shell's stdin, whose closing stops it.
#[derive(Debug)]
pub struct Server {
    dir: PathBuf,
    running: Mutex<Option<(ChildStdin, Child)>>,
    /// Whether the wrapper removes the directory once the server stopped
    /// (the shared server, which nothing drops) or [`Drop`] does.
    shared: bool,
}

static SERVER: OnceLock<Server> = OnceLock::new();
static DATABASES: AtomicU32 = AtomicU32::new(0);

/// Where PostgreSQL's programs are: `CHATCORE_PG_BIN`, else the newest
/// `/usr/lib/postgresql/*/bin` (Debian), else `PATH`.
fn bin_dir() -> PathBuf {
    if let Some(dir) = std::env::var_os("CHATCORE_PG_BIN") {
        return PathBuf::from(dir);
    }
    let mut versions: Vec<(u32, PathBuf)> = std::fs::read_dir("/usr/lib/postgresql")
        .into_iter()
        .flatten()
        .flatten()
        .filter_map(|entry| {
            let version = entry.file_name().to_str()?.parse().ok()?;
            Some((version, entry.path().join("bin")))
        })
        .filter(|(_, bin)| bin.join("postgres").exists())
        .collect();
    versions.sort();
    if let Some((_, bin)) = versions.pop() {
        return bin;
    }
    let path = std::env::var_os("PATH").unwrap_or_default();
    std::env::split_paths(&path)
        .find(|dir| dir.join("initdb").exists() && dir.join("postgres").exists())
        .unwrap_or_else(|| {
            panic!(
                "the postgres-tests need PostgreSQL's `initdb` and `postgres` (Debian: \
                 `apt-get install postgresql`; or set CHATCORE_PG_BIN to their directory); \
                 none found in /usr/lib/postgresql/*/bin or PATH"
            )
        })
}

fn is_root() -> bool {
    Command::new("id")
        .arg("-u")
        .output()
        .map(|out| String::from_utf8_lossy(&out.stdout).trim() == "0")
        .unwrap_or(false)
}

/// `program` as a command, run as the `postgres` user when we are root.
fn as_server_user(program: &Path, root: bool) -> Command {
    if root {
        let mut command = Command::new("setpriv");
        command
            .args([
                "--reuid=postgres",
                "--regid=postgres",
                "--init-groups",
                "--",
            ])
            .arg(program);
        command
    } else {
        Command::new(program)
    }
}

impl Server {
    /// `initdb` into a new temp dir, then [`start`](Self::start).
    fn init(shared: bool) -> Server {
        let (bin, root) = (bin_dir(), is_root());
        let dir = tempfile::Builder::new()
            .prefix("chatcore-pg-")
            .tempdir()
            .expect("create the server's temp dir")
            .keep();
        if root {
            let status = Command::new("chown")
                .args(["-R", "postgres:postgres"])
                .arg(&dir)
                .status()
                .expect("run chown");
            assert!(
                status.success(),
                "running as root, the test server runs as the `postgres` user, which must \
                 exist (Debian's postgresql package creates it)"
            );
        }
        let init = as_server_user(&bin.join("initdb"), root)
            .arg("-D")
            .arg(dir.join("data"))
            .args(["-U", "postgres", "--auth=trust", "-E", "UTF8", "--no-sync"])
            .output()
            .unwrap_or_else(|e| panic!("cannot run {}: {e}", bin.join("initdb").display()));
        assert!(
            init.status.success(),
            "initdb failed: {}{}",
            String::from_utf8_lossy(&init.stdout),
            String::from_utf8_lossy(&init.stderr)
        );
        let server = Server {
            dir,
            running: Mutex::new(None),
            shared,
        };
        server.start();
        server
    }

    /// A server of the test's own, to stop and start; removed when dropped.
    pub fn own() -> Server {
        Server::init(false)
    }

    /// Starts the server on its data and waits until it answers. A wrapper
    /// shell runs it until the shell's stdin (our pipe) closes, however this
    /// process ends, then stops it (fast shutdown).
    pub fn start(&self) {
        let postgres = as_server_user(&bin_dir().join("postgres"), is_root());
        let mut server_cmd = format!("{:?}", postgres.get_program());
        for arg in postgres.get_args() {
            server_cmd.push(' ');
            server_cmd.push_str(&format!("{arg:?}"));
        }
        let remove = if self.shared { r#"rm -rf "$1""# } else { "" };
        let script = format!(
            r#"{server_cmd} -D "$1/data" -k "$1" -c listen_addresses= -c max_connections=300 \
                  -c fsync=off -c full_page_writes=off -c shared_buffers=64MB \
                  >>"$1/server.log" 2>&1 &
               pid=$!
               cat >/dev/null
               kill -INT "$pid"
               wait "$pid"
               {remove}"#
        );
        let mut wrapper = Command::new("sh")
            .arg("-c")
            .arg(script)
            .arg("sh")
            .arg(&self.dir)
            .stdin(Stdio::piped())
            .spawn()
            .expect("start the server's wrapper shell");
        let stdin = wrapper.stdin.take().expect("piped");
        *self.running.lock().unwrap() = Some((stdin, wrapper));
        wait_until_up(self);
    }

    /// Stops the server (fast shutdown) and waits until it is down.
    pub fn stop(&self) {
        if let Some((stdin, mut wrapper)) = self.running.lock().unwrap().take() {
            drop(stdin);
            wrapper.wait().expect("wait for the server's wrapper");
        }
    }

    /// A new, empty database on this server; its connection config.
    pub fn fresh_database(&self) -> Config {
        let name = self.create_database();
        let mut config = admin(self);
        config.dbname(&name);
        config
    }

    /// [`Self::fresh_database`] as a connection string (`host=… user=…
    /// dbname=…`), for a program's `--database-url`.
    pub fn fresh_database_url(&self) -> String {
        let name = self.create_database();
        let dir = self.dir.display().to_string();
        let quoted = dir.replace('\\', "\\\\").replace('\'', "\\'");
        format!("host='{quoted}' user=postgres dbname={name}")
    }

    /// Creates a new, empty database; its name.
    fn create_database(&self) -> String {
        let name = format!(
            "t{}_{}",
            std::process::id(),
            DATABASES.fetch_add(1, Ordering::Relaxed)
        );
        let admin_config = admin(self);
        let create = name.clone();
        on_own_runtime(async move {
            let (client, connection) = admin_config
                .connect(tokio_postgres::NoTls)
                .await
                .expect("connect to the test server");
            let connection = tokio::spawn(connection);
            client
                .batch_execute(&format!("CREATE DATABASE {create}"))
                .await
                .expect("create a test database");
            drop(client);
            let _ = connection.await;
        });
        name
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        self.stop();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

fn wait_until_up(server: &Server) {
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let config = admin(server);
        let up =
            on_own_runtime(async move { config.connect(tokio_postgres::NoTls).await.map(|_| ()) });
        if up.is_ok() {
            return;
        }
        if Instant::now() > deadline {
            let log = std::fs::read_to_string(server.dir.join("server.log")).unwrap_or_default();
            panic!("the test PostgreSQL did not come up within 60 s; its log:\n{log}");
        }
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// Runs `future` to completion on a runtime of its own, on a thread of its
/// own (the tests' own runtimes cannot block on it).
fn on_own_runtime<T: Send + 'static>(
    future: impl std::future::Future<Output = T> + Send + 'static,
) -> T {
    std::thread::spawn(move || {
        tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .expect("a runtime")
            .block_on(future)
    })
    .join()
    .expect("the helper thread")
}

/// A connection config for `postgres` on the test server's socket.
fn admin(server: &Server) -> Config {
    let mut config = Config::new();
    config
        .host_path(&server.dir)
        .user("postgres")
        .dbname("postgres");
    config
}

/// The shared test server, started on first use.
pub fn server() -> &'static Server {
    SERVER.get_or_init(|| Server::init(true))
}

/// A new, empty database on the shared test server.
pub fn fresh_database() -> Config {
    server().fresh_database()
}
