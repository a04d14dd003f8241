//! The end-to-end harness shared by `e2e.rs` and `e2e_rooms_files.rs`: the real
//! `chat-server` binary on a free port with a temp data dir, and real
//! `chat-client --json` processes.
//!
//! Every wait has a deadline, so a hang fails the test instead of hanging CI.
// Each test crate uses only some of the helpers.
#![allow(dead_code)]

use std::collections::VecDeque;
use std::io::{BufRead, BufReader, Write};
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, Command, ExitStatus, Stdio};
use std::sync::mpsc::{self, Receiver, RecvTimeoutError};
use std::time::{Duration, Instant};

use serde_json::Value;

/// How long to wait for one expected line, for a process to exit, or for the
/// server to listen (a hang guard, not a speed assertion).
pub const TIMEOUT: Duration = Duration::from_secs(15);

pub fn password(user: &str) -> String {
    format!("{user}-password")
}

/// A running `chat-server`.
pub struct Server {
    pub child: Child,
    pub addr: String,
    pub log: PathBuf,
}

impl Server {
    /// Starts a server on a free port over `data_dir` with `store`, plus `extra` flags.
    pub fn start(data_dir: &Path, store: &str, extra: &[&str]) -> Server {
        Server::start_wrapped(&[], data_dir, store, extra)
    }

    /// [`Self::start`], run by `wrapper`: a command line that runs the rest of
    /// its arguments (the server's command line), such as `unshare ...`.
    pub fn start_wrapped(wrapper: &[&str], data_dir: &Path, store: &str, extra: &[&str]) -> Server {
        // Pick a free port: bind port 0, read it, let it go.
        let port = TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .expect("a free port")
            .port();
        let addr = format!("127.0.0.1:{port}");
        let log = data_dir.with_extension(format!("{port}.log"));
        let log_file = std::fs::File::create(&log).expect("server log file");
        let server = env!("CARGO_BIN_EXE_chat-server");
        let (program, wrapper_args) = match wrapper {
            [program, args @ ..] => (*program, args),
            [] => (server, &[][..]),
        };
        let mut command = Command::new(program);
        if !wrapper.is_empty() {
            command.args(wrapper_args).arg(server);
        }
        // No web port unless the test asks for one: the default (8080) is
        // one port for every server.
        let web: &[&str] = if extra.iter().any(|a| *a == "--web" || *a == "--no-web") {
            &[]
        } else {
            &["--no-web"]
        };
        let child = command
            .args(["--listen", &addr, "--store", store, "--data-dir"])
            .arg(data_dir)
            .args(["--argon2-memory-kib", "8", "--argon2-iterations", "1"])
            .args(extra)
            .args(web)
            .env("RUST_LOG", "info")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(log_file)
            .spawn()
            .expect("spawn chat-server");
        let mut server = Server { child, addr, log };
        server.wait_listening();
        server
    }

    pub fn wait_listening(&mut self) {
        let deadline = Instant::now() + TIMEOUT;
        loop {
            if TcpStream::connect(&self.addr).is_ok() {
                return;
            }
            if let Some(status) = self.child.try_wait().expect("try_wait") {
                panic!("chat-server exited with {status}:\n{}", self.log_text());
            }
            assert!(
                Instant::now() < deadline,
                "chat-server did not listen on {}:\n{}",
                self.addr,
                self.log_text()
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    pub fn log_text(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// A new `chat-client --json` connected to this server.
    pub fn client(&self, name: &str) -> JsonClient {
        JsonClient::spawn(name, &self.addr)
    }

    /// [`Self::client`] running in the directory `dir` (for relative paths).
    pub fn client_in(&self, name: &str, dir: &Path) -> JsonClient {
        JsonClient::spawn_in(name, &self.addr, Some(dir))
    }

    /// A new client logged in as `user` (password [`password`]), past `caught_up`;
    /// returns it with the events of its login backlog.
    pub fn login(&self, user: &str) -> (JsonClient, Vec<Value>) {
        let mut client = self.client(user);
        let backlog = client.login(user);
        (client, backlog)
    }

    /// Registers `users` on a throwaway connection.
    pub fn register(&self, users: &[&str]) {
        let mut client = self.client("setup");
        for user in users {
            client.ok(&format!("register {user} {}", password(user)));
        }
        client.finish_ok();
    }

    /// Sends SIGTERM and waits for the exit.
    pub fn terminate(mut self) -> ExitStatus {
        let pid = self.child.id().to_string();
        let killed = Command::new("kill")
            .args(["-TERM", &pid])
            .status()
            .expect("run kill");
        assert!(killed.success(), "kill -TERM {pid} failed");
        wait_exit(&mut self.child, "chat-server")
    }
}

impl Server {
    /// Sends SIGKILL (no chance to tell anyone) and reaps it.
    pub fn kill(mut self) {
        self.child.kill().expect("kill chat-server");
        wait_exit(&mut self.child, "chat-server");
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

pub fn wait_exit(child: &mut Child, what: &str) -> ExitStatus {
    let deadline = Instant::now() + TIMEOUT;
    loop {
        if let Some(status) = child.try_wait().expect("try_wait") {
            return status;
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            panic!("{what} did not exit within {TIMEOUT:?}");
        }
        std::thread::sleep(Duration::from_millis(10));
    }
}

/// A long-lived `chat-client --json`: write commands, read JSON lines.
pub struct JsonClient {
    name: String,
    child: Child,
    stdin: Option<ChildStdin>,
    lines: Receiver<String>,
    /// Lines read but not yet matched by an `expect`, with their position in the
    /// output, in arrival order.
    stash: VecDeque<(usize, Value)>,
    /// Everything read, for failure messages.
    transcript: Vec<String>,
}

impl JsonClient {
    pub fn spawn(name: &str, addr: &str) -> JsonClient {
        JsonClient::spawn_in(name, addr, None)
    }

    /// [`Self::spawn`] in the working directory `dir`.
    pub fn spawn_in(name: &str, addr: &str, dir: Option<&Path>) -> JsonClient {
        JsonClient::spawn_with(name, addr, dir, &[])
    }

    /// [`Self::spawn_in`] with `extra` flags (e.g. `--tls`).
    pub fn spawn_with(name: &str, addr: &str, dir: Option<&Path>, extra: &[&str]) -> JsonClient {
        let mut command = Command::new(env!("CARGO_BIN_EXE_chat-client"));
        if let Some(dir) = dir {
            command.current_dir(dir);
        }
        let mut child = command
            .args(["--addr", addr, "--json"])
            .args(extra)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("spawn chat-client");
        let stdout = child.stdout.take().expect("stdout");
        let (tx, lines) = mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines() {
                let Ok(line) = line else { break };
                if tx.send(line).is_err() {
                    break;
                }
            }
        });
        JsonClient {
            name: name.to_string(),
            stdin: child.stdin.take(),
            child,
            lines,
            stash: VecDeque::new(),
            transcript: Vec::new(),
        }
    }

    /// Writes one command line.
    pub fn send(&mut self, line: &str) {
        let stdin = self.stdin.as_mut().expect("stdin still open");
        writeln!(stdin, "{line}")
            .and_then(|()| stdin.flush())
            .unwrap_or_else(|e| panic!("{}: writing {line:?}: {e}", self.name));
    }

    pub fn fail(&self, what: &str) -> ! {
        panic!(
            "{}: {what}\n--- output so far ---\n{}",
            self.name,
            self.transcript.join("\n")
        )
    }

    /// Reads one more line into the stash; false at end of output.
    pub fn read_line(&mut self, deadline: Instant, what: &str) -> bool {
        let left = deadline.saturating_duration_since(Instant::now());
        match self.lines.recv_timeout(left) {
            Ok(line) => {
                let value: Value = serde_json::from_str(&line)
                    .unwrap_or_else(|e| self.fail(&format!("not JSON ({e}): {line}")));
                assert!(value.is_object(), "{}: not an object: {line}", self.name);
                self.stash.push_back((self.transcript.len(), value));
                self.transcript.push(line);
                true
            }
            Err(RecvTimeoutError::Timeout) => {
                self.fail(&format!("timed out after {TIMEOUT:?} waiting for {what}"))
            }
            Err(RecvTimeoutError::Disconnected) => false,
        }
    }

    /// The first line (stashed or new) that satisfies `pred`; lines before it stay
    /// stashed for later expectations.
    pub fn expect(&mut self, what: &str, pred: impl Fn(&Value) -> bool) -> Value {
        self.expect_at(what, pred).1
    }

    /// [`Self::expect`], with the line's position in the output.
    pub fn expect_at(&mut self, what: &str, pred: impl Fn(&Value) -> bool) -> (usize, Value) {
        let deadline = Instant::now() + TIMEOUT;
        let mut checked = 0;
        loop {
            if let Some(i) = self.stash.iter().skip(checked).position(|(_, v)| pred(v)) {
                return self.stash.remove(checked + i).expect("index in range");
            }
            checked = self.stash.len();
            if !self.read_line(deadline, what) {
                self.fail(&format!("output ended while waiting for {what}"));
            }
        }
    }

    /// Waits for an event of `kind` satisfying `pred`.
    pub fn event(&mut self, kind: &str, pred: impl Fn(&Value) -> bool) -> Value {
        self.expect(&format!("a {kind} event"), |v| v["type"] == kind && pred(v))
    }

    /// Sends `line` and returns its response (ok or error).
    pub fn response(&mut self, line: &str) -> Value {
        self.send(line);
        let word = line.split_whitespace().next().unwrap_or("").to_lowercase();
        self.expect(&format!("the response to {line:.60?}"), |v| {
            (v["type"] == "ok" || v["type"] == "error") && v["cmd"] == word.as_str()
        })
    }

    /// Sends `line` and asserts it succeeded.
    pub fn ok(&mut self, line: &str) -> Value {
        let response = self.response(line);
        if response["type"] != "ok" {
            self.fail(&format!("{line:.60?} failed: {response}"));
        }
        response
    }

    /// Sends `line` and asserts it failed with `code`, with the code's message.
    pub fn err(&mut self, line: &str, code: &str) -> Value {
        let response = self.response(line);
        if response["type"] != "error" || response["code"] != code {
            self.fail(&format!("{line:.60?}: wanted error {code}, got {response}"));
        }
        assert!(
            response["message"].as_str().is_some_and(|m| !m.is_empty()),
            "{response}"
        );
        response
    }

    /// Logs in as `user`; returns the events before `caught_up`, in order.
    pub fn login(&mut self, user: &str) -> Vec<Value> {
        let start = self.transcript.len();
        let response = self.ok(&format!("login {user} {}", password(user)));
        assert_eq!(response["user"], user);
        let caught_up = self.expect_at("caught_up", |v| v["type"] == "caught_up").0;
        // What arrived between the login and `caught_up` (the login response
        // aside) is the backlog; anything else stays stashed.
        let (backlog, rest) = std::mem::take(&mut self.stash)
            .into_iter()
            .partition(|(at, _)| (start..caught_up).contains(at));
        self.stash = rest;
        backlog.into_iter().map(|(_, v)| v).collect()
    }

    /// Every line read so far, matched or not, in order.
    pub fn read_so_far(&self) -> Vec<Value> {
        self.transcript
            .iter()
            .map(|l| serde_json::from_str(l).expect("JSON"))
            .collect()
    }

    /// Closes stdin and waits for the exit; returns the status and the lines not
    /// matched before.
    pub fn finish(mut self) -> (ExitStatus, Vec<Value>) {
        drop(self.stdin.take());
        let status = wait_exit(&mut self.child, &self.name);
        let deadline = Instant::now() + TIMEOUT;
        while self.read_line(deadline, "the end of output") {}
        (status, self.stash.drain(..).map(|(_, v)| v).collect())
    }

    /// Closes stdin; asserts exit status 0.
    pub fn finish_ok(self) -> Vec<Value> {
        let name = self.name.clone();
        let (status, rest) = self.finish();
        assert_eq!(status.code(), Some(0), "{name}: {rest:?}");
        rest
    }

    /// Waits for the client to exit on its own (stdin still open).
    pub fn wait_exit(&mut self) -> ExitStatus {
        wait_exit(&mut self.child, &self.name)
    }

    /// Kills the process with SIGKILL (no chance to clean up) and reaps it.
    pub fn kill(mut self) {
        self.child.kill().expect("kill chat-client");
        wait_exit(&mut self.child, &self.name);
    }
}

impl Drop for JsonClient {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

pub fn ids(v: &Value) -> Vec<u64> {
    v["ids"]
        .as_array()
        .expect("ids")
        .iter()
        .map(|id| id.as_u64().expect("numeric id"))
        .collect()
}

pub fn has_id(v: &Value, id: &Value) -> bool {
    ids(v).contains(&id.as_u64().expect("numeric id"))
}

pub fn temp_data_dir() -> (tempfile::TempDir, PathBuf) {
    let tmp = tempfile::tempdir().expect("temp dir");
    let data = tmp.path().join("data");
    (tmp, data)
}

/// A free port on 127.0.0.1 (bound, read, let go).
pub fn free_addr() -> String {
    let port = TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("a free port")
        .port();
    format!("127.0.0.1:{port}")
}

/// Makes `a` and `b` friends (both logged in).
pub fn befriend(a: &mut JsonClient, a_name: &str, b: &mut JsonClient, b_name: &str) {
    a.ok(&format!("add {b_name}"));
    b.event("friend_request", |v| v["from"] == a_name);
    b.ok(&format!("accept {a_name}"));
    a.event("friend_added", |v| v["user"] == b_name);
    b.event("friend_added", |v| v["user"] == a_name);
}
