//! The test PostgreSQL: one server per test binary, started on first use
//! (`initdb` into a temp dir, listening only on a unix socket in it), a fresh
//! database per test, stopped and removed when the test process ends (the
//! wrapper shell that runs it waits for its stdin, our pipe, to close).
//!
//! A missing `initdb` or `postgres` is a failure with what to install, never
//! a skip. Run as root, the server runs as the `postgres` system user
//! (PostgreSQL refuses root).

use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, Command, Stdio};
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::{Mutex, OnceLock};
use std::time::{Duration, Instant};

use chatcore::store::testkit::Fixture;
use chatcore_postgres::{Config, PgOptions, PgStore};

/// The running server: its socket directory; the wrapper's stdin, whose
/// closing (at exit) stops it.
pub struct Server {
    socket_dir: PathBuf,
    _stop: Mutex<ChildStdin>,
    _wrapper: Mutex<Child>,
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

fn start() -> Server {
    let bin = bin_dir();
    let root = is_root();
    let dir = tempfile::Builder::new()
        .prefix("chatcore-pg-")
        .tempdir()
        .expect("create the server's temp dir")
        .keep();
    let data = dir.join("data");
    if root {
        let status = Command::new("chown")
            .args(["-R", "postgres:postgres"])
            .arg(&dir)
            .status()
            .expect("run chown");
        assert!(
            status.success(),
            "running as root, the test server runs as the `postgres` user, which must exist \
             (Debian's postgresql package creates it)"
        );
    }
    let init = as_server_user(&bin.join("initdb"), root)
        .arg("-D")
        .arg(&data)
        .args(["-U", "postgres", "--auth=trust", "-E", "UTF8", "--no-sync"])
        .output()
        .unwrap_or_else(|e| panic!("cannot run {}: {e}", bin.join("initdb").display()));
    assert!(
        init.status.success(),
        "initdb failed: {}{}",
        String::from_utf8_lossy(&init.stdout),
        String::from_utf8_lossy(&init.stderr)
    );
    // The wrapper runs the server until its stdin closes (this process
    // ended, however), then stops it (fast shutdown) and removes the dir.
    let postgres = as_server_user(&bin.join("postgres"), root);
    let mut server_cmd = format!("{:?}", postgres.get_program());
    for arg in postgres.get_args() {
        server_cmd.push(' ');
        server_cmd.push_str(&format!("{arg:?}"));
    }
    let script = format!(
        r#"{server_cmd} -D "$1" -k "$2" -c listen_addresses= -c max_connections=300 \
              -c fsync=off -c full_page_writes=off -c shared_buffers=64MB \
              >"$2/server.log" 2>&1 &
           pid=$!
           cat >/dev/null
           kill -INT "$pid"
           wait "$pid"
           rm -rf "$2""#
    );
    let mut wrapper = Command::new("sh")
        .arg("-c")
        .arg(script)
        .arg("sh")
        .arg(&data)
        .arg(&dir)
        .stdin(Stdio::piped())
        .spawn()
        .expect("start the server's wrapper shell");
    let stdin = wrapper.stdin.take().expect("piped");
    let server = Server {
        socket_dir: dir.clone(),
        _stop: Mutex::new(stdin),
        _wrapper: Mutex::new(wrapper),
    };
    wait_until_up(&server, &dir);
    server
}

fn wait_until_up(server: &Server, dir: &Path) {
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let config = admin(server);
        let up =
            on_own_runtime(async move { config.connect(tokio_postgres::NoTls).await.map(|_| ()) });
        if up.is_ok() {
            return;
        }
        if Instant::now() > deadline {
            let log = std::fs::read_to_string(dir.join("server.log")).unwrap_or_default();
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
        .host_path(&server.socket_dir)
        .user("postgres")
        .dbname("postgres");
    config
}

/// The test server, started on first use.
pub fn server() -> &'static Server {
    SERVER.get_or_init(start)
}

/// A new, empty database on the test server; its connection config.
pub fn fresh_database() -> Config {
    let server = server();
    let name = format!(
        "t{}_{}",
        std::process::id(),
        DATABASES.fetch_add(1, Ordering::Relaxed)
    );
    let admin_config = admin(server);
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
    let mut config = admin(server);
    config.dbname(&name);
    config
}

/// A store on `config` with small pools (many tests run at once).
pub fn open(config: &Config) -> PgStore {
    let options = PgOptions {
        max_connections: 8,
        ..PgOptions::default()
    };
    PgStore::new(config.clone(), options).expect("a store")
}

/// A fixture on a fresh database; reopening makes a new store (a new pool)
/// on the same database.
pub fn fixture() -> Fixture<PgStore> {
    let config = fresh_database();
    Fixture::new(move || open(&config))
}
