//! End to end over real sockets: the real `chat-server` binary on a free port with
//! a temp data dir, driven by real `chat-client --json` processes.
//!
//! Every wait has a deadline, so a hang fails the test instead of hanging CI.
#![forbid(unsafe_code)]

use std::collections::VecDeque;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, Command, ExitStatus, Stdio};
use std::sync::mpsc::{self, Receiver, RecvTimeoutError};
use std::time::{Duration, Instant};

use serde_json::{json, Value};

/// How long to wait for one expected line, for a process to exit, or for the
/// server to listen (a hang guard, not a speed assertion).
const TIMEOUT: Duration = Duration::from_secs(15);

fn password(user: &str) -> String {
    format!("{user}-password")
}

/// A running `chat-server`.
struct Server {
    child: Child,
    addr: String,
    log: PathBuf,
}

impl Server {
    /// Starts a server on a free port over `data_dir` with `store`, plus `extra` flags.
    fn start(data_dir: &Path, store: &str, extra: &[&str]) -> Server {
        // Pick a free port: bind port 0, read it, let it go.
        let port = TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .expect("a free port")
            .port();
        let addr = format!("127.0.0.1:{port}");
        let log = data_dir.with_extension(format!("{port}.log"));
        let log_file = std::fs::File::create(&log).expect("server log file");
        let child = Command::new(env!("CARGO_BIN_EXE_chat-server"))
            .args(["--listen", &addr, "--store", store, "--data-dir"])
            .arg(data_dir)
            .args(["--argon2-memory-kib", "8", "--argon2-iterations", "1"])
            .args(extra)
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

    fn wait_listening(&mut self) {
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

    fn log_text(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// A new `chat-client --json` connected to this server.
    fn client(&self, name: &str) -> JsonClient {
        JsonClient::spawn(name, &self.addr)
    }

    /// A new client logged in as `user` (password [`password`]), past `caught_up`;
    /// returns it with the events of its login backlog.
    fn login(&self, user: &str) -> (JsonClient, Vec<Value>) {
        let mut client = self.client(user);
        let backlog = client.login(user);
        (client, backlog)
    }

    /// Registers `users` on a throwaway connection.
    fn register(&self, users: &[&str]) {
        let mut client = self.client("setup");
        for user in users {
            client.ok(&format!("register {user} {}", password(user)));
        }
        client.finish_ok();
    }

    /// Sends SIGTERM and waits for the exit.
    fn terminate(mut self) -> ExitStatus {
        let pid = self.child.id().to_string();
        let killed = Command::new("kill")
            .args(["-TERM", &pid])
            .status()
            .expect("run kill");
        assert!(killed.success(), "kill -TERM {pid} failed");
        wait_exit(&mut self.child, "chat-server")
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn wait_exit(child: &mut Child, what: &str) -> ExitStatus {
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
struct JsonClient {
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
    fn spawn(name: &str, addr: &str) -> JsonClient {
        let mut child = Command::new(env!("CARGO_BIN_EXE_chat-client"))
            .args(["--addr", addr, "--json"])
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
    fn send(&mut self, line: &str) {
        let stdin = self.stdin.as_mut().expect("stdin still open");
        writeln!(stdin, "{line}")
            .and_then(|()| stdin.flush())
            .unwrap_or_else(|e| panic!("{}: writing {line:?}: {e}", self.name));
    }

    fn fail(&self, what: &str) -> ! {
        panic!(
            "{}: {what}\n--- output so far ---\n{}",
            self.name,
            self.transcript.join("\n")
        )
    }

    /// Reads one more line into the stash; false at end of output.
    fn read_line(&mut self, deadline: Instant, what: &str) -> bool {
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
    fn expect(&mut self, what: &str, pred: impl Fn(&Value) -> bool) -> Value {
        self.expect_at(what, pred).1
    }

    /// [`Self::expect`], with the line's position in the output.
    fn expect_at(&mut self, what: &str, pred: impl Fn(&Value) -> bool) -> (usize, Value) {
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
    fn event(&mut self, kind: &str, pred: impl Fn(&Value) -> bool) -> Value {
        self.expect(&format!("a {kind} event"), |v| v["type"] == kind && pred(v))
    }

    /// Sends `line` and returns its response (ok or error).
    fn response(&mut self, line: &str) -> Value {
        self.send(line);
        let word = line.split_whitespace().next().unwrap_or("").to_lowercase();
        self.expect(&format!("the response to {line:.60?}"), |v| {
            (v["type"] == "ok" || v["type"] == "error") && v["cmd"] == word.as_str()
        })
    }

    /// Sends `line` and asserts it succeeded.
    fn ok(&mut self, line: &str) -> Value {
        let response = self.response(line);
        if response["type"] != "ok" {
            self.fail(&format!("{line:.60?} failed: {response}"));
        }
        response
    }

    /// Sends `line` and asserts it failed with `code`, with the code's message.
    fn err(&mut self, line: &str, code: &str) -> Value {
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
    fn login(&mut self, user: &str) -> Vec<Value> {
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

    /// Closes stdin and waits for the exit; returns the status and the lines not
    /// matched before.
    fn finish(mut self) -> (ExitStatus, Vec<Value>) {
        drop(self.stdin.take());
        let status = wait_exit(&mut self.child, &self.name);
        let deadline = Instant::now() + TIMEOUT;
        while self.read_line(deadline, "the end of output") {}
        (status, self.stash.drain(..).map(|(_, v)| v).collect())
    }

    /// Closes stdin; asserts exit status 0.
    fn finish_ok(self) -> Vec<Value> {
        let name = self.name.clone();
        let (status, rest) = self.finish();
        assert_eq!(status.code(), Some(0), "{name}: {rest:?}");
        rest
    }

    /// Waits for the client to exit on its own (stdin still open).
    fn wait_exit(&mut self) -> ExitStatus {
        wait_exit(&mut self.child, &self.name)
    }
}

impl Drop for JsonClient {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn ids(v: &Value) -> Vec<u64> {
    v["ids"]
        .as_array()
        .expect("ids")
        .iter()
        .map(|id| id.as_u64().expect("numeric id"))
        .collect()
}

fn has_id(v: &Value, id: &Value) -> bool {
    ids(v).contains(&id.as_u64().expect("numeric id"))
}

fn temp_data_dir() -> (tempfile::TempDir, PathBuf) {
    let tmp = tempfile::tempdir().expect("temp dir");
    let data = tmp.path().join("data");
    (tmp, data)
}

#[test]
fn every_error_code_reachable_from_the_cli() {
    let (_tmp, data) = temp_data_dir();
    let server = Server::start(&data, "redb", &["--duplicate-login", "replace"]);
    let mut ann = server.client("ann");

    ann.err("friends", "not_authenticated");
    ann.err("msg bob hi", "not_authenticated");
    ann.err("register ab long-enough", "invalid_username");
    ann.err("register bad/name long-enough", "invalid_username");
    ann.err("register ann short", "invalid_password");
    ann.ok("register ann ann-password");
    ann.ok("register bob bob-password");
    ann.err("register ANN other-password", "username_taken");
    ann.err("login ann wrong-password", "invalid_credentials");
    ann.err("login nobody some-password", "invalid_credentials");
    assert!(ann.login("ann").is_empty());
    ann.err("login ann ann-password", "already_authenticated");

    ann.err("add nobody", "no_such_user");
    ann.err("msg nobody hi", "no_such_user");
    ann.err("add ann", "cannot_befriend_self");
    let long_note = "x".repeat(600);
    ann.err(&format!("add bob {long_note}"), "invalid_argument");
    ann.ok("add bob hi");
    ann.err("add bob again", "already_requested");
    ann.err("accept bob", "no_such_request");
    ann.err("reject bob", "no_such_request");
    ann.err("msg bob hi", "not_friends");
    ann.err("remove bob", "not_friends");
    let long_text = "x".repeat(17 * 1024);
    ann.err(&format!("msg bob {long_text}"), "invalid_message");

    // Lines that are not commands: an error, and the client keeps going.
    let bad = ann.err("frobnicate now", "bad_command");
    assert_eq!(bad["cmd"], "frobnicate");
    let bad = ann.err("msg bob", "bad_command");
    assert_eq!(bad["cmd"], "msg");
    ann.err("history bob many", "bad_command");

    let (mut bob, backlog) = server.login("bob");
    assert_eq!(backlog.len(), 1, "{backlog:?}");
    assert_eq!(backlog[0]["type"], "friend_request");
    bob.ok("accept ann");
    ann.event("friend_added", |v| v["user"] == "bob");
    ann.err("add bob", "already_friends");

    bob.ok("block ann");
    ann.event("friend_removed", |v| v["user"] == "bob");
    ann.err("msg bob hi", "blocked");
    ann.err("add bob", "blocked");
    let friends = bob.ok("friends");
    assert_eq!(
        friends["friends"],
        json!([{"user":"ann","online":false,"state":"blocked"}])
    );

    // --duplicate-login replace: a second login of bob kicks the first.
    let (bob2, _) = server.login("bob");
    bob.event("kicked", |v| v["reason"].is_string());
    bob.event("disconnected", |_| true);
    assert_eq!(bob.wait_exit().code(), Some(2));

    ann.ok("logout");
    ann.err("friends", "not_authenticated");
    let help = ann.ok("help");
    assert_eq!(help["commands"].as_array().map(Vec::len), Some(16));
    assert_eq!(ann.finish_ok(), Vec::<Value>::new());
    bob2.finish_ok();
}

#[test]
fn friends_chat_and_presence_online_and_offline() {
    let (_tmp, data) = temp_data_dir();
    let server = Server::start(&data, "redb", &[]);
    server.register(&["ann", "bob", "cat"]);
    let (mut ann, _) = server.login("ann");
    let (mut bob, _) = server.login("bob");

    // A friend request to someone online, with a note; shortcodes become emoji.
    let add = ann.ok("add bob hello :wave:");
    assert_eq!(add["user"], "bob");
    assert_eq!(add["state"], "request_sent");
    let request = bob.event("friend_request", |_| true);
    assert_eq!(
        request,
        json!({"type":"friend_request","from":"ann","note":"hello 👋"})
    );
    let friends = bob.ok("friends");
    assert_eq!(
        friends["friends"],
        json!([{"user":"ann","online":false,"state":"request_received"}])
    );
    bob.ok("accept ann");
    ann.event("friend_added", |v| v["user"] == "bob");
    bob.event("friend_added", |v| v["user"] == "ann");

    let friends = ann.ok("friends");
    assert_eq!(
        friends["friends"],
        json!([{"user":"bob","online":true,"state":"friends"}])
    );
    let online = ann.ok("online");
    assert_eq!(online["users"], json!(["bob"]));
    assert_eq!(online["count"], 2);
    let search = ann.ok("search b");
    assert_eq!(search["users"], json!(["bob"]));

    // Online chat: the recipient's event and the sender's receipt carry the id
    // of the `msg` response.
    let sent = ann.ok("msg bob hi bob :smile:");
    let message = bob.event("message", |_| true);
    assert_eq!(message["id"], sent["id"]);
    assert_eq!(message["seq"], sent["seq"]);
    assert_eq!(message["ts"], sent["ts"]);
    assert_eq!(message["from"], "ann");
    assert_eq!(message["to"], "bob");
    assert_eq!(message["text"], "hi bob 😄");
    ann.event("delivered", |v| has_id(v, &sent["id"]));
    let reply = bob.ok("msg ann hello ann");
    ann.event("message", |v| {
        v["id"] == reply["id"] && v["text"] == "hello ann"
    });
    let history = bob.ok("history ann 10");
    let texts: Vec<&str> = history["messages"]
        .as_array()
        .expect("messages")
        .iter()
        .map(|m| m["text"].as_str().expect("text"))
        .collect();
    assert_eq!(texts, ["hi bob 😄", "hello ann"]);
    assert_eq!(history["messages"][0]["id"], sent["id"]);
    assert_eq!(history["messages"][0]["from"], "ann");

    // Presence: logout and login.
    bob.ok("logout");
    ann.event("presence", |v| v["user"] == "bob" && v["online"] == false);
    bob.login("bob");
    ann.event("presence", |v| v["user"] == "bob" && v["online"] == true);

    // A friend request to someone offline waits for their login.
    ann.ok("add cat see you :tada:");
    let (mut cat, backlog) = server.login("cat");
    assert_eq!(
        backlog,
        [json!({"type":"friend_request","from":"ann","note":"see you 🎉"})]
    );
    cat.ok("reject ann");
    ann.event("friend_rejected", |v| v["user"] == "cat");
    assert_eq!(cat.ok("friends")["friends"], json!([]));

    // Offline chat: bob leaves; the message waits for his next login.
    bob.finish_ok();
    ann.event("presence", |v| v["user"] == "bob" && v["online"] == false);
    let first = ann.ok("msg bob are you there?");
    let second = ann.ok("msg bob hello?");
    let (mut bob, backlog) = server.login("bob");
    let messages: Vec<(&Value, &Value)> = backlog
        .iter()
        .filter(|v| v["type"] == "message")
        .map(|v| (&v["id"], &v["text"]))
        .collect();
    assert_eq!(
        messages,
        [
            (&first["id"], &json!("are you there?")),
            (&second["id"], &json!("hello?"))
        ],
        "{backlog:?}"
    );
    ann.event("presence", |v| v["user"] == "bob" && v["online"] == true);
    let mut receipts = Vec::new();
    while receipts.len() < 2 {
        receipts.extend(ids(&ann.event("delivered", |_| true)));
    }
    receipts.sort_unstable();
    assert_eq!(
        receipts,
        [
            first["id"].as_u64().unwrap(),
            second["id"].as_u64().unwrap()
        ]
    );

    // Remove: both sides are told; chat stops.
    ann.ok("remove bob");
    bob.event("friend_removed", |v| v["user"] == "ann");
    ann.err("msg bob still there?", "not_friends");
    assert_eq!(bob.ok("friends")["friends"], json!([]));

    // End of input: exit 0 after the last response, nothing left unread.
    for client in [ann, bob, cat] {
        let rest = client.finish_ok();
        assert!(
            rest.iter().all(|v| v["type"] == "presence"),
            "unexpected lines: {rest:?}"
        );
    }
}

/// Users, friendships, pending requests and undelivered messages survive a
/// SIGTERM and a restart on the same data dir.
fn survives_restart(store: &str) {
    let (_tmp, data) = temp_data_dir();
    let server = Server::start(&data, store, &[]);
    server.register(&["ann", "bob", "cat"]);
    let (mut ann, _) = server.login("ann");
    let (mut bob, _) = server.login("bob");
    ann.ok("add bob");
    bob.ok("accept ann");
    ann.event("friend_added", |v| v["user"] == "bob");
    bob.finish_ok();
    ann.event("presence", |v| v["user"] == "bob" && v["online"] == false);
    ann.ok("add cat while you sleep");
    let sent = ann.ok("msg bob kept across restarts :tada:");

    let status = server.terminate();
    assert_eq!(status.code(), Some(0), "chat-server exit: {status}");
    ann.event("server_shutdown", |_| true);
    ann.event("disconnected", |_| true);
    assert_eq!(ann.wait_exit().code(), Some(2));

    let server = Server::start(&data, store, &[]);
    let (mut bob, backlog) = server.login("bob");
    assert_eq!(backlog.len(), 1, "{backlog:?}");
    assert_eq!(backlog[0]["type"], "message");
    assert_eq!(backlog[0]["id"], sent["id"]);
    assert_eq!(backlog[0]["from"], "ann");
    assert_eq!(backlog[0]["text"], "kept across restarts 🎉");
    assert_eq!(
        bob.ok("friends")["friends"],
        json!([{"user":"ann","online":false,"state":"friends"}])
    );

    let (mut ann, backlog) = server.login("ann");
    // Bob's ack may land before or after ann's login: the receipt comes either
    // way, in the backlog or live.
    let is_receipt = |v: &Value| v["type"] == "delivered" && has_id(v, &sent["id"]);
    if !backlog.iter().any(is_receipt) {
        ann.expect("the receipt", is_receipt);
    }
    let history = ann.ok("history bob");
    assert_eq!(history["messages"][0]["id"], sent["id"]);
    let (cat, backlog) = server.login("cat");
    assert_eq!(
        backlog,
        [json!({"type":"friend_request","from":"ann","note":"while you sleep"})]
    );

    for client in [ann, bob, cat] {
        client.finish_ok();
    }
    assert_eq!(server.terminate().code(), Some(0));
}

#[test]
fn restart_keeps_users_friends_and_undelivered_messages_redb() {
    survives_restart("redb");
}

#[test]
fn restart_keeps_users_friends_and_undelivered_messages_sled() {
    survives_restart("sled");
}

#[test]
fn interactive_mode_through_a_pipe_is_plain_text() {
    let (_tmp, data) = temp_data_dir();
    let server = Server::start(&data, "memory", &[]);
    let mut child = Command::new(env!("CARGO_BIN_EXE_chat-client"))
        .args(["--addr", &server.addr])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .expect("spawn chat-client");
    let mut stdin = child.stdin.take().expect("stdin");
    stdin
        .write_all(
            b"register dan dan-password\nlogin dan dan-password\nfriends\nonline\n\
              msg nobody hi :smile:\nbogus\n",
        )
        .expect("write commands");
    drop(stdin);
    let mut stdout = child.stdout.take().expect("stdout");
    let reader = std::thread::spawn(move || {
        let mut text = String::new();
        stdout.read_to_string(&mut text).map(|_| text)
    });
    let status = wait_exit(&mut child, "chat-client");
    let text = reader.join().expect("reader").expect("utf-8 output");
    assert_eq!(status.code(), Some(0), "{text}");
    for want in [
        "connected to",
        "registered dan",
        "logged in as dan",
        "no friends yet",
        "no friends online; 1 user(s) online",
        "msg: no such user (no_such_user)",
        "unknown command \"bogus\"",
    ] {
        assert!(text.contains(want), "{want:?} missing from:\n{text}");
    }
    // Not a terminal: no colours, no prompt.
    assert!(!text.contains('\x1b'), "{text:?}");
    assert!(!text.contains("> "), "{text}");
}

#[test]
fn client_without_a_server_exits_1() {
    let port = TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("a free port")
        .port();
    let mut child = Command::new(env!("CARGO_BIN_EXE_chat-client"))
        .args(["--addr", &format!("127.0.0.1:{port}"), "--json"])
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("spawn chat-client");
    assert_eq!(wait_exit(&mut child, "chat-client").code(), Some(1));
}
