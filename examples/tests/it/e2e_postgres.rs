//! End to end on PostgreSQL: the real `chat-server --store postgres` and real
//! `chat-client --json` processes. The chat-and-restart test needs a
//! PostgreSQL, which it starts (chatcore-postgres's `test_server`: `initdb`
//! into a temp dir, a unix socket there), behind the feature
//! `postgres-tests`; with the feature on, a missing PostgreSQL fails it. The
//! refusals at start need no database and always run.

use std::process::{Command, Stdio};

use crate::common::temp_data_dir;
#[cfg(feature = "postgres-tests")]
use crate::common::{befriend, password, Server};
#[cfg(feature = "postgres-tests")]
use serde_json::{json, Value};

/// Runs `chat-server` with `args` (and no `DATABASE_URL` from the
/// environment), expecting it to exit at once; its exit code and stderr.
fn refused(args: &[&str]) -> (Option<i32>, String) {
    let (_tmp, data) = temp_data_dir();
    let output = Command::new(env!("CARGO_BIN_EXE_chat-server"))
        .arg("--data-dir")
        .arg(&data)
        .args(["--listen", "127.0.0.1:0", "--no-web"])
        .args(args)
        .env_remove("DATABASE_URL")
        .stdin(Stdio::null())
        .output()
        .expect("run chat-server");
    (
        output.status.code(),
        String::from_utf8_lossy(&output.stderr).into_owned(),
    )
}

#[test]
fn postgres_without_a_url_or_out_of_reach_is_refused_in_words() {
    let (code, stderr) = refused(&["--store", "postgres"]);
    assert_eq!(code, Some(1), "{stderr}");
    assert!(
        stderr.contains("chat-server: --store postgres needs --database-url URL (or DATABASE_URL)"),
        "{stderr}"
    );

    // A socket directory where no PostgreSQL listens; the password stays out
    // of the message.
    let url = "host=/nonexistent/chatcore-test user=chat password=s3cret dbname=chat";
    let (code, stderr) = refused(&["--store", "postgres", "--database-url", url]);
    assert_eq!(code, Some(1), "{stderr}");
    assert!(
        stderr.contains(
            "chat-server: cannot use the PostgreSQL database at \
             chat@/nonexistent/chatcore-test/chat: storage unavailable"
        ),
        "{stderr}"
    );
    assert!(!stderr.contains("s3cret"), "{stderr}");

    let (code, stderr) = refused(&["--store", "postgres", "--database-url", "host='unclosed"]);
    assert_eq!(code, Some(1), "{stderr}");
    assert!(
        stderr.contains("chat-server: --database-url is not a PostgreSQL URL or connection string"),
        "{stderr}"
    );
}

/// The texts of a `history` response, oldest first.
#[cfg(feature = "postgres-tests")]
fn texts(history: &Value) -> Vec<&str> {
    history["messages"]
        .as_array()
        .expect("messages")
        .iter()
        .map(|m| m["text"].as_str().expect("text"))
        .collect()
}

/// Two clients register, befriend and chat on `chat-server --store
/// postgres`; bob leaves and ann writes to him; the server restarts
/// (SIGTERM, then a new process on the same database): the accounts, the
/// friendship, the history and the offline message are all there.
#[cfg(feature = "postgres-tests")]
#[test]
fn chat_on_postgres_survives_a_server_restart() {
    let url = chatcore_postgres::test_server::server().fresh_database_url();
    let (_tmp, data) = temp_data_dir();
    let flags = ["--database-url", url.as_str()];
    let server = Server::start(&data, "postgres", &flags);
    assert!(
        server.log_text().contains("PostgreSQL store ready"),
        "{}",
        server.log_text()
    );

    let mut ann = server.client("ann");
    ann.ok(&format!("register ann {}", password("ann")));
    ann.login("ann");
    let mut bob = server.client("bob");
    bob.ok(&format!("register bob {}", password("bob")));
    bob.login("bob");
    befriend(&mut ann, "ann", &mut bob, "bob");

    let hello = ann.ok("msg bob hello bob :wave:");
    bob.event("message", |v| {
        v["id"] == hello["id"] && v["from"] == "ann" && v["text"] == "hello bob 👋"
    });
    let reply = bob.ok("msg ann hi ann");
    ann.event("message", |v| {
        v["id"] == reply["id"] && v["text"] == "hi ann"
    });
    bob.ok("read ann");

    // Bob goes; ann writes to him while he is offline.
    bob.finish_ok();
    ann.event("presence", |v| v["user"] == "bob" && v["online"] == false);
    let offline = ann.ok("msg bob are you there? :smile:");

    let status = server.terminate();
    assert_eq!(status.code(), Some(0), "chat-server exit: {status}");
    ann.event("server_shutdown", |_| true);
    ann.event("disconnected", |_| true);
    assert_eq!(ann.wait_exit().code(), Some(2));

    // Back with a pool of one connection: every call waits its turn for it.
    let one = [&flags[..], &["--database-pool", "1"]].concat();
    let server = Server::start(&data, "postgres", &one);
    assert!(
        server.log_text().contains("pool=1"),
        "{}",
        server.log_text()
    );
    let (mut bob, backlog) = server.login("bob");
    assert_eq!(backlog.len(), 2, "{backlog:?}");
    assert_eq!(backlog[0]["type"], "message");
    assert_eq!(backlog[0]["id"], offline["id"]);
    assert_eq!(backlog[0]["from"], "ann");
    assert_eq!(backlog[0]["text"], "are you there? 😄");
    // Bob's read mark (past ann's first message) survived too.
    assert_eq!(backlog[1]["type"], "unread");
    let unread = &backlog[1]["conversations"];
    assert_eq!(unread.as_array().map(Vec::len), Some(1), "{unread}");
    assert_eq!(unread[0]["peer"], "ann");
    assert_eq!(unread[0]["unread"], 1);
    assert_eq!(unread[0]["last_seq"], offline["seq"]);
    assert!(unread[0]["read_seq"].as_u64() >= hello["seq"].as_u64());
    assert_eq!(
        bob.ok("friends")["friends"],
        json!([{"user":"ann","online":false,"state":"friends"}])
    );
    let history = bob.ok("history ann 10");
    assert_eq!(
        texts(&history),
        ["hello bob 👋", "hi ann", "are you there? 😄"]
    );
    assert_eq!(history["messages"][0]["id"], hello["id"]);
    assert_eq!(history["messages"][2]["id"], offline["id"]);

    // Ann, back too, still chats with bob on the restarted server.
    let (mut ann, _) = server.login("ann");
    let history = ann.ok("history bob 10");
    assert_eq!(
        texts(&history),
        ["hello bob 👋", "hi ann", "are you there? 😄"]
    );
    let again = bob.ok("msg ann yes, back");
    ann.event("message", |v| {
        v["id"] == again["id"] && v["text"] == "yes, back"
    });

    ann.finish_ok();
    bob.finish_ok();
    assert_eq!(server.terminate().code(), Some(0));
}

/// Two `chat-server`s on one PostgreSQL; ann's `chat-client` is given both
/// addresses and logs in as her laptop on the first. The first server is
/// SIGKILLed: ann's client says it is reconnecting, moves to the second
/// (`reconnected`), logs in again as the laptop, and carries on. What she
/// got before is not shown again, the message bob sent while she was moving
/// arrives once, and the one she typed while moving is sent once.
#[cfg(feature = "postgres-tests")]
#[test]
fn a_client_given_two_servers_moves_to_the_second_when_the_first_is_killed() {
    use crate::common::JsonClient;

    let url = chatcore_postgres::test_server::server().fresh_database_url();
    let (_tmp, data) = temp_data_dir();
    let (_tmp2, data2) = temp_data_dir();
    // Without a bus, live delivery works only within a node: chat needs no
    // friendship, which would be announced live.
    let flags = ["--database-url", url.as_str(), "--open-chat"];
    let first = Server::start(&data, "postgres", &flags);
    let second = Server::start(&data2, "postgres", &flags);
    let both = format!("{},{}", first.addr, second.addr);
    let devices = data.with_extension("devices.json");
    let device_flags = [
        "--device",
        "laptop",
        "--device-file",
        devices.to_str().unwrap(),
    ];

    let mut ann = JsonClient::spawn_with("ann", &both, None, &device_flags);
    ann.ok(&format!("register ann {}", password("ann")));
    ann.ok(&format!("register bob {}", password("bob")));
    let login = ann.ok(&format!("login ann {}", password("ann")));
    let laptop = login["device"].clone();
    assert!(laptop.is_u64(), "{login}");
    ann.event("caught_up", |_| true);

    // On the first server, bob's message reaches ann live.
    let (mut bob, _) = first.login("bob");
    let before = bob.ok("msg ann before");
    ann.event("message", |v| v["id"] == before["id"]);
    bob.finish_ok();

    // The first server dies; bob (on the second) writes while ann moves, and
    // ann types a message before she is back.
    first.kill();
    let (mut bob, _) = second.login("bob");
    let meanwhile = bob.ok("msg ann while you moved");
    ann.send("msg bob typed while moving");
    let lost = ann.event("reconnecting", |_| true);
    assert!(lost["error"].is_string(), "{lost}");
    let moved = ann.event("reconnected", |_| true);
    assert_eq!(moved["addr"], second.addr.as_str());
    let typed = ann.expect("the msg typed while moving", |v| v["cmd"] == "msg");
    assert_eq!(typed["type"], "ok", "{typed}");
    ann.event("message", |v| v["id"] == meanwhile["id"]);
    bob.event("message", |v| v["id"] == typed["id"]);

    // Still the laptop, and still chatting.
    let listed = ann.ok("devices");
    let listed = listed["devices"].as_array().expect("devices").clone();
    assert_eq!(listed.len(), 1, "{listed:?}");
    assert_eq!(listed[0]["id"], laptop);
    let after = bob.ok("msg ann after");
    ann.event("message", |v| v["id"] == after["id"]);

    let ann_lines = ann.read_so_far();
    ann.finish_ok();
    let bob_lines = bob.read_so_far();
    bob.finish_ok();
    let count = |lines: &[Value], id: &Value| {
        lines
            .iter()
            .filter(|v| v["type"] == "message" && v["id"] == *id)
            .count()
    };
    for message in [&before, &meanwhile, &after] {
        assert_eq!(
            count(&ann_lines, &message["id"]),
            1,
            "{message}: {ann_lines:?}"
        );
    }
    assert_eq!(count(&bob_lines, &typed["id"]), 1, "{bob_lines:?}");
    // Stored once, though typed while moving.
    let (mut bob, _) = second.login("bob");
    let history = bob.ok("history ann 10");
    assert_eq!(
        texts(&history),
        ["before", "while you moved", "typed while moving", "after"]
    );
    bob.finish_ok();
}
