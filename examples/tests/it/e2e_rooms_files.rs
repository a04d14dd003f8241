//! End to end over real sockets for rooms, room history and file transfer: the
//! real `chat-server` binary driven by real `chat-client --json` processes (and,
//! where the CLI cannot misbehave, the chatcore client library over TCP).
//!
//! Every wait has a deadline (15 s), so a hang fails the test instead of hanging CI.

use std::path::Path;
use std::time::{Duration, Instant};

use crate::common::{befriend, password, temp_data_dir, JsonClient, Server, TIMEOUT};
use chatcore::client::Client;
use chatcore::protocol::{ErrorCode, Peer};
use rand::RngCore;
use serde_json::{json, Value};
use sha2::{Digest, Sha256};

fn sha256_hex(bytes: &[u8]) -> String {
    hex::encode(Sha256::digest(bytes))
}

/// Writes `len` random bytes to `path`; returns their SHA-256 in hex.
fn random_file(path: &Path, len: usize) -> String {
    let mut bytes = vec![0u8; len];
    rand::thread_rng().fill_bytes(&mut bytes);
    std::fs::write(path, &bytes).expect("write the test file");
    sha256_hex(&bytes)
}

fn as_u64(v: &Value) -> u64 {
    v.as_u64().unwrap_or_else(|| panic!("not a number: {v}"))
}

/// The next `n` `room_message` events of `client`, in the order printed.
fn room_messages(client: &mut JsonClient, n: usize) -> Vec<Value> {
    (0..n)
        .map(|_| client.event("room_message", |_| true))
        .collect()
}

fn ids_of(messages: &[Value]) -> Vec<u64> {
    messages.iter().map(|m| as_u64(&m["id"])).collect()
}

/// Waits until the server's log contains `text`.
fn wait_for_log(server: &Server, text: &str) -> String {
    let deadline = Instant::now() + TIMEOUT;
    loop {
        let log = server.log_text();
        if log.contains(text) {
            return log;
        }
        assert!(
            Instant::now() < deadline,
            "{text:?} not in the server log within {TIMEOUT:?}:\n{log}"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
}

#[test]
fn three_users_in_a_room_see_one_order_and_offline_members_catch_up() {
    let (tmp, data) = temp_data_dir();
    let server = Server::start(&data, "redb", &[]);
    server.register(&["ann", "bob", "cat", "dan"]);
    let (mut ann, _) = server.login("ann");
    let (mut bob, _) = server.login("bob");
    let (mut cat, _) = server.login("cat");

    // Create and join; every member online is told who joined.
    let created = ann.ok("room create lobby");
    assert_eq!(
        created,
        json!({"type":"ok","cmd":"room","action":"create","room":"lobby"})
    );
    ann.err("room create LOBBY", "room_exists");
    ann.err("room create a/b", "invalid_room_name");
    bob.err("room join nowhere", "no_such_room");
    assert_eq!(bob.ok("room join lobby")["room"], "lobby");
    for client in [&mut ann, &mut bob] {
        let joined = client.event("room_joined", |v| v["user"] == "bob");
        assert_eq!(
            joined,
            json!({"type":"room_joined","room":"lobby","user":"bob"})
        );
    }
    cat.ok("room join #lobby");
    for client in [&mut ann, &mut bob, &mut cat] {
        client.event("room_joined", |v| {
            v["room"] == "lobby" && v["user"] == "cat"
        });
    }
    let rooms = cat.ok("rooms");
    assert_eq!(
        rooms["rooms"],
        json!([{"name":"lobby","owner":"ann","members":3,"joined":true}])
    );
    let members = ann.ok("members lobby");
    let mut online: Vec<(String, bool)> = members["members"]
        .as_array()
        .expect("members")
        .iter()
        .map(|m| (m["user"].as_str().unwrap().to_string(), m["online"] == true))
        .collect();
    online.sort();
    assert_eq!(
        online,
        [
            ("ann".to_string(), true),
            ("bob".to_string(), true),
            ("cat".to_string(), true)
        ]
    );

    // All three talk at once: every command is written before any answer is read.
    let names = ["ann", "bob", "cat"];
    for round in 0..3 {
        for (client, name) in [&mut ann, &mut bob, &mut cat].into_iter().zip(names) {
            client.send(&format!("say lobby {name} #{round} :tada:"));
        }
    }
    let mut said = Vec::new();
    for (client, name) in [&mut ann, &mut bob, &mut cat].into_iter().zip(names) {
        for round in 0..3 {
            let ok = client.expect("a say response", |v| v["cmd"] == "say");
            assert_eq!(ok["type"], "ok", "{ok}");
            assert_eq!(ok["room"], "lobby");
            assert_eq!(ok["text"], format!("{name} #{round} 🎉"));
            said.push(ok);
        }
    }
    // Each member prints all nine (its own too), in one and the same order.
    let seen_by_ann = room_messages(&mut ann, 9);
    let order = ids_of(&seen_by_ann);
    assert_eq!(ids_of(&room_messages(&mut bob, 9)), order, "bob's order");
    assert_eq!(ids_of(&room_messages(&mut cat, 9)), order, "cat's order");
    let seqs: Vec<u64> = seen_by_ann.iter().map(|m| as_u64(&m["seq"])).collect();
    assert_eq!(seqs, (1..=9).collect::<Vec<u64>>());
    for ok in &said {
        let m = seen_by_ann
            .iter()
            .find(|m| m["id"] == ok["id"])
            .unwrap_or_else(|| panic!("{ok} was not seen by ann"));
        assert_eq!(m["room"], "lobby");
        assert_eq!(m["seq"], ok["seq"]);
        assert_eq!(m["ts"], ok["ts"]);
        assert_eq!(m["text"], ok["text"]);
        assert!(m["text"]
            .as_str()
            .is_some_and(|t| t.starts_with(m["from"].as_str().unwrap())));
    }

    // bob goes offline; what is said meanwhile waits for him in history.
    bob.finish_ok();
    let mut all = order.clone();
    for (client, text) in [(&mut ann, "while bob is away"), (&mut cat, "miss you bob")] {
        for n in 0..2 {
            client.ok(&format!("say lobby {text} {n}"));
        }
    }
    all.extend(ids_of(&room_messages(&mut ann, 4)));
    assert_eq!(ids_of(&room_messages(&mut cat, 4))[..], all[9..]);
    let (mut bob, backlog) = server.login("bob");
    let unread = backlog
        .iter()
        .find(|v| v["type"] == "room_unread")
        .unwrap_or_else(|| panic!("no room_unread in {backlog:?}"));
    assert_eq!(unread["room"], "lobby");
    assert_eq!(unread["last_seq"], 13);
    assert_eq!(unread["read_seq"], 9, "bob acked what he printed");
    let history = bob.ok("history #lobby");
    let messages = history["messages"].as_array().expect("messages");
    assert_eq!(ids_of(messages), all, "oldest first, in the room's order");
    assert!(messages.iter().all(|m| m["to"] == "#lobby"), "{history}");
    assert_eq!(messages[12]["text"], "miss you bob 1");
    let last_two = bob.ok("history #lobby 2");
    assert_eq!(ids_of(last_two["messages"].as_array().unwrap()), all[11..]);

    // A late joiner gets the recent messages pushed, oldest first.
    let (mut dan, _) = server.login("dan");
    dan.ok("room join lobby");
    assert_eq!(ids_of(&room_messages(&mut dan, 13)), all);
    for client in [&mut ann, &mut bob, &mut cat] {
        client.event("room_joined", |v| v["user"] == "dan");
    }

    // Leaving: the others are told, and so is the leaver.
    let left = cat.ok("room leave lobby");
    assert_eq!(left["action"], "leave");
    for client in [&mut ann, &mut bob, &mut dan, &mut cat] {
        let notice = client.event("room_left", |_| true);
        assert_eq!(
            notice,
            json!({"type":"room_left","room":"lobby","user":"cat"})
        );
    }
    cat.err("say lobby still here?", "not_room_member");
    cat.err("history #lobby", "not_room_member");
    cat.err("room leave lobby", "not_room_member");
    cat.err("members lobby", "not_room_member");
    let members = dan.ok("members lobby");
    assert_eq!(members["members"].as_array().map(Vec::len), Some(3));

    // A file shared with the room reaches every member.
    let path = tmp.path().join("notes.bin");
    let sha = random_file(&path, 300_000);
    let sent = dan.ok(&format!("sendfile #lobby {}", path.display()));
    assert_eq!(sent["to"], "#lobby");
    assert_eq!(sent["sha256"], sha.as_str());
    for client in [&mut ann, &mut bob] {
        let file = client.event("file", |_| true);
        assert_eq!(
            file,
            json!({"type":"file","id":sent["id"],"from":"dan","to":"#lobby",
                   "name":"notes.bin","size":300_000})
        );
    }
    let files = ann.ok("files #lobby");
    assert_eq!(files["files"].as_array().map(Vec::len), Some(1));
    assert_eq!(files["files"][0]["sha256"], sha.as_str());
    assert_eq!(files["files"][0]["to"], "#lobby");
    cat.err("files #lobby", "not_room_member");
    let saved = tmp.path().join("bob-notes.bin");
    let got = bob.ok(&format!("download {} {}", sent["id"], saved.display()));
    assert_eq!(got["sha256"], sha.as_str());
    assert_eq!(sha256_hex(&std::fs::read(&saved).expect("saved file")), sha);
    cat.err(&format!("download {} nope.bin", sent["id"]), "no_such_file");

    // Only the owner deletes; members are told.
    bob.err("room delete lobby", "not_room_owner");
    assert_eq!(ann.ok("room delete lobby")["action"], "delete");
    for client in [&mut ann, &mut bob, &mut dan] {
        client.event("room_deleted", |v| v["room"] == "lobby");
    }
    cat.err("room join lobby", "no_such_room");
    assert_eq!(cat.ok("rooms")["rooms"], json!([]));

    for client in [ann, bob, cat, dan] {
        client.finish_ok();
    }
}

#[test]
fn a_20_mib_file_reaches_a_friend_who_was_offline_byte_identical() {
    let (tmp, data) = temp_data_dir();
    let server = Server::start(&data, "redb", &[]);
    server.register(&["ann", "bob"]);
    let (mut ann, _) = server.login("ann");
    let (mut bob, _) = server.login("bob");
    befriend(&mut ann, "ann", &mut bob, "bob");
    bob.finish_ok();

    let source = tmp.path().join("big file.bin");
    let len = 20 * 1024 * 1024;
    let sha = random_file(&source, len);
    let sent = ann.ok(&format!("sendfile bob {}", source.display()));
    assert_eq!(sent["to"], "bob");
    assert_eq!(sent["name"], "big file.bin");
    assert_eq!(sent["size"], len);
    assert_eq!(sent["sha256"], sha.as_str());
    let id = sent["id"].clone();

    // bob logs in later: the file is announced in his backlog.
    let inbox = tmp.path().join("inbox");
    std::fs::create_dir(&inbox).expect("inbox dir");
    let mut bob = server.client_in("bob", &inbox);
    let backlog = bob.login("bob");
    assert!(
        backlog.contains(&json!({"type":"file","id":id,"from":"ann","to":"bob",
                                 "name":"big file.bin","size":len})),
        "{backlog:?}"
    );
    let files = bob.ok("files ann");
    assert_eq!(files["files"].as_array().map(Vec::len), Some(1), "{files}");
    let info = &files["files"][0];
    assert_eq!(info["id"], id);
    assert_eq!(info["from"], "ann");
    assert_eq!(info["to"], "bob");
    assert_eq!(info["sha256"], sha.as_str());
    assert!(info["ts"].as_u64().is_some_and(|ts| ts > 0));

    // A relative path, from bob's working directory.
    let got = bob.ok(&format!("download {id} received.bin"));
    assert_eq!(got["id"], id);
    assert_eq!(got["size"], len);
    assert_eq!(got["sha256"], sha.as_str());
    assert_eq!(got["path"], "received.bin");
    let received = std::fs::read(inbox.join("received.bin")).expect("received file");
    assert_eq!(received.len(), len);
    assert_eq!(sha256_hex(&received), sha);
    assert!(received == std::fs::read(&source).expect("source"));
    // The temporary file was renamed into place; nothing else is left.
    let entries: Vec<_> = std::fs::read_dir(&inbox)
        .expect("inbox")
        .map(|e| e.expect("entry").file_name())
        .collect();
    assert_eq!(entries, ["received.bin"]);
    // The sender sees it in the conversation too.
    assert_eq!(ann.ok("files bob")["files"][0]["sha256"], sha.as_str());

    ann.finish_ok();
    bob.finish_ok();
}

#[test]
fn oversized_files_and_path_names_are_refused() {
    let (tmp, data) = temp_data_dir();
    let server = Server::start(&data, "redb", &["--max-file-size", "1000"]);
    server.register(&["ann", "bob"]);
    std::fs::create_dir_all(tmp.path().join("x")).expect("x dir");
    std::fs::create_dir_all(tmp.path().join("work")).expect("work dir");
    let secret = tmp.path().join("x").join("secret.txt");
    std::fs::write(&secret, b"top secret").expect("secret");
    let big = tmp.path().join("big.bin");
    random_file(&big, 1001);

    let mut ann = server.client_in("ann", &tmp.path().join("work"));
    ann.login("ann");
    let (mut bob, _) = server.login("bob");
    befriend(&mut ann, "ann", &mut bob, "bob");

    // Over the limit: refused at the offer, nothing uploaded.
    let refused = ann.err(&format!("sendfile bob {}", big.display()), "file_too_large");
    assert_eq!(refused["message"], "file exceeds the size limit");
    // A path with `..` in it: the file goes under its own name only.
    let sent = ann.ok("sendfile bob ../x/secret.txt");
    assert_eq!(sent["name"], "secret.txt");
    assert_eq!(sent["size"], 10);
    let file = bob.event("file", |_| true);
    assert_eq!(file["name"], "secret.txt");
    let files = bob.ok("files ann");
    let names: Vec<&str> = files["files"]
        .as_array()
        .expect("files")
        .iter()
        .map(|f| f["name"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["secret.txt"]);
    // A path that names no file at all is refused by the client.
    ann.err("sendfile bob ..", "invalid_file_name");
    ann.err("sendfile bob ../x", "io_error");
    ann.err("sendfile bob ../x/missing.txt", "io_error");
    ann.err("sendfile carl ../x/secret.txt", "no_such_user");

    // What a client that does not sanitise would send: the server refuses it.
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime");
    runtime.block_on(async {
        let conn = chatcore::transport::tcp::connect(&server.addr)
            .await
            .expect("connect");
        let (client, _events) = Client::connect(conn).await.expect("hello");
        client.login("ann", &password("ann")).await.expect("login");
        let sha: [u8; 32] = Sha256::digest(b"top secret").into();
        for name in [
            "../secret.txt",
            "../../etc/passwd",
            "x/y.txt",
            "..",
            "a\\b",
            "",
        ] {
            let refused = client
                .offer_file(Peer::User("bob".into()), name, 10, sha)
                .await
                .expect_err(name);
            assert_eq!(refused.code(), Some(ErrorCode::InvalidFileName), "{name:?}");
        }
        let refused = client
            .offer_file(Peer::User("bob".into()), "big.bin", 1001, sha)
            .await
            .expect_err("over the limit");
        assert_eq!(refused.code(), Some(ErrorCode::FileTooLarge));
    });
    assert_eq!(
        bob.ok("files ann")["files"].as_array().map(Vec::len),
        Some(1)
    );

    ann.finish_ok();
    let rest = bob.finish_ok();
    assert!(rest.iter().all(|v| v["type"] != "file"), "{rest:?}");
}

#[test]
fn a_client_killed_mid_upload_leaves_no_visible_file() {
    let (tmp, data) = temp_data_dir();
    // Small chunks and a slow request rate: the upload takes many seconds.
    let slow = [
        "--max-frame",
        "4096",
        "--request-rate",
        "20",
        "--request-burst",
        "20",
    ];
    let server = Server::start(&data, "redb", &slow);
    server.register(&["ann", "bob"]);
    let (mut ann, _) = server.login("ann");
    let (mut bob, _) = server.login("bob");
    befriend(&mut ann, "ann", &mut bob, "bob");

    let path = tmp.path().join("partial.bin");
    random_file(&path, 1024 * 1024);
    ann.send(&format!("sendfile bob {}", path.display()));
    // Hashing 1 MiB takes milliseconds; the upload, ~340 chunks at 20 a second.
    std::thread::sleep(Duration::from_secs(3));
    ann.kill();
    // The server saw the connection end with the upload unfinished.
    let log = wait_for_log(&server, "upload abandoned; deleted");
    assert!(log.contains("partial.bin"), "{log}");
    assert!(!log.contains("file shared"), "{log}");

    assert_eq!(bob.ok("files ann")["files"], json!([]));
    let (mut ann, _) = server.login("ann");
    assert_eq!(ann.ok("files bob")["files"], json!([]));
    ann.finish_ok();
    let rest = bob.finish_ok();
    assert!(rest.iter().all(|v| v["type"] != "file"), "{rest:?}");

    // Nor after a restart on the same data.
    assert_eq!(server.terminate().code(), Some(0));
    let server = Server::start(&data, "redb", &slow);
    let (mut bob, backlog) = server.login("bob");
    assert!(backlog.iter().all(|v| v["type"] != "file"), "{backlog:?}");
    assert_eq!(bob.ok("files ann")["files"], json!([]));
    bob.finish_ok();
}
