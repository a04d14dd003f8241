//! End to end over real sockets: the real `chat-server` binary on a free port with
//! a temp data dir, driven by real `chat-client --json` processes.
//!
//! Every wait has a deadline, so a hang fails the test instead of hanging CI.

use std::io::{Read, Write};
use std::net::TcpListener;
use std::process::{Command, Stdio};

use crate::common::{has_id, ids, temp_data_dir, wait_exit, JsonClient, Server};
use serde_json::{json, Value};

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
    assert_eq!(help["commands"].as_array().map(Vec::len), Some(32));
    // Only presence changes may still be unread (bob's sessions came and went).
    let rest = ann.finish_ok();
    assert!(rest.iter().all(|v| v["type"] == "presence"), "{rest:?}");
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
    assert_eq!(backlog.len(), 2, "{backlog:?}");
    assert_eq!(backlog[0]["type"], "message");
    assert_eq!(backlog[0]["id"], sent["id"]);
    assert_eq!(backlog[0]["from"], "ann");
    assert_eq!(backlog[0]["text"], "kept across restarts 🎉");
    assert_eq!(
        backlog[1],
        json!({"type":"unread","conversations":[
            {"peer":"ann","unread":1,"read_seq":0,"last_seq":sent["seq"]}
        ]})
    );
    assert_eq!(
        bob.ok("friends")["friends"],
        json!([{"user":"ann","online":false,"state":"friends"}])
    );

    let (mut ann, backlog) = server.login("ann");
    // Bob's ack may land before or after ann's login: the receipt comes either
    // way, in the backlog or live. This run of ann's client did not send the
    // message, so the receipt names it by conversation and seq, not by id.
    let is_receipt = |v: &Value| {
        v["type"] == "delivered"
            && v["peer"] == "bob"
            && v["seq"].as_u64() >= sent["seq"].as_u64()
            && v["ids"] == json!([])
    };
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

#[test]
fn server_flags_that_make_no_sense_are_refused_in_words() {
    let (_tmp, data) = temp_data_dir();
    let output = Command::new(env!("CARGO_BIN_EXE_chat-server"))
        .arg("--data-dir")
        .arg(&data)
        .args(["--listen", "127.0.0.1:0"])
        .args(["--ping-interval-secs", "60", "--idle-timeout-secs", "60"])
        .stdin(Stdio::null())
        .output()
        .expect("run chat-server");
    assert_eq!(output.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.contains("chat-server: invalid server config: ping_interval"),
        "{stderr}"
    );
}

#[test]
fn tls_with_a_certificate_generated_at_test_time() {
    let (tmp, data) = temp_data_dir();
    let cert = rcgen::generate_simple_self_signed(vec!["localhost".into()]).expect("certificate");
    let (cert_pem, key_pem) = (tmp.path().join("cert.pem"), tmp.path().join("key.pem"));
    std::fs::write(&cert_pem, cert.cert.pem()).unwrap();
    std::fs::write(&key_pem, cert.key_pair.serialize_pem()).unwrap();
    let (cert_arg, key_arg) = (cert_pem.to_str().unwrap(), key_pem.to_str().unwrap());
    let server = Server::start(
        &data,
        "redb",
        &["--tls-cert", cert_arg, "--tls-key", key_arg],
    );
    let tls = ["--tls", "--ca", cert_arg, "--server-name", "localhost"];
    let mut ann = JsonClient::spawn_with("ann", &server.addr, None, &tls);
    ann.ok("register ann ann-password");
    ann.login("ann");
    let found = ann.ok("search ann");
    assert_eq!(found["users"], json!(["ann"]));
    // Without TLS the client cannot even say hello.
    let mut plain = Command::new(env!("CARGO_BIN_EXE_chat-client"))
        .args(["--addr", &server.addr, "--json"])
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("spawn chat-client");
    assert_ne!(wait_exit(&mut plain, "plain chat-client").code(), Some(0));
    // Nor can a TLS client that does not trust the certificate.
    let mut untrusting = Command::new(env!("CARGO_BIN_EXE_chat-client"))
        .args([
            "--addr",
            &server.addr,
            "--json",
            "--tls",
            "--server-name",
            "localhost",
        ])
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("spawn chat-client");
    assert_eq!(
        wait_exit(&mut untrusting, "untrusting chat-client").code(),
        Some(1)
    );
    ann.finish_ok();
}
