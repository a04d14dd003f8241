//! Three `chat-server` nodes on one PostgreSQL and a three-member NATS
//! cluster (each node on a member of its own, given all three), real
//! `chat-client --json` processes spread across them (feature
//! `cluster-tests`: it starts both services itself, and a missing one fails
//! it, never skips it).
//!
//! One story, in the order the issue tells it: the clients chat 1:1 and in
//! a room across nodes, see each other's presence, befriend, send a file;
//! then a node is SIGKILLed while messages are being sent to one of its
//! clients, who moves to another node and gets every acknowledged message
//! once, and presence settles (the node's user who did not come back goes
//! offline); then the NATS member of a node dies (the node moves to another
//! member) and then the whole NATS cluster is restarted, and what was sent
//! meanwhile arrives; then PostgreSQL is restarted: requests meanwhile are
//! refused `unavailable`, and the nodes serve again without a restart.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use chatcore_nats::test_server::NatsCluster;
use serde_json::Value;

use crate::common::{befriend, password, temp_data_dir, JsonClient, Server, TIMEOUT};

/// A client given every node's address, starting with node `first`'s.
fn client_of(name: &str, addrs: &[String], first: usize) -> JsonClient {
    let rotated: Vec<&str> = (0..addrs.len())
        .map(|i| addrs[(first + i) % addrs.len()].as_str())
        .collect();
    JsonClient::spawn(name, &rotated.join(","))
}

/// Logs `client` in as `user` and waits for its backlog to end.
fn login(client: &mut JsonClient, user: &str) {
    client.ok(&format!("login {user} {}", password(user)));
    client.event("caught_up", |_| true);
}

/// Asks `friends` until `user` shows `online` (presence settling is
/// eventual across nodes), within a bound.
fn settles(client: &mut JsonClient, user: &str, online: bool) {
    let deadline = Instant::now() + TIMEOUT * 2;
    loop {
        let friends = client.ok("friends");
        let shown = friends["friends"]
            .as_array()
            .expect("friends")
            .iter()
            .any(|f| f["user"] == user && f["online"] == online);
        if shown {
            return;
        }
        if Instant::now() > deadline {
            client.fail(&format!("{user} never showed online={online}: {friends}"));
        }
        std::thread::sleep(Duration::from_millis(200));
    }
}

/// How many times each message id (1:1 or room) appears among `lines`.
fn message_counts(lines: &[Value]) -> HashMap<u64, usize> {
    let mut counts = HashMap::new();
    let messages = lines
        .iter()
        .filter(|v| v["type"] == "message" || v["type"] == "room_message");
    for line in messages {
        *counts.entry(line["id"].as_u64().expect("id")).or_default() += 1;
    }
    counts
}

#[test]
fn three_nodes_survive_a_node_the_bus_and_the_database_going_away() {
    let postgres = chatcore_postgres::test_server::Server::own();
    let url = postgres.fresh_database_url();
    let nats = NatsCluster::start(3);
    let dirs: Vec<_> = (0..3).map(|_| temp_data_dir()).collect();
    let mut nodes: Vec<Option<Server>> = dirs
        .iter()
        .enumerate()
        .map(|(i, (_, data))| {
            let node_id = format!("n{}", i + 1);
            let nats_url = nats.urls_from(i);
            let flags = [
                "--database-url",
                url.as_str(),
                "--cluster",
                nats_url.as_str(),
                "--node-id",
                node_id.as_str(),
            ];
            Some(Server::start(data, "postgres", &flags))
        })
        .collect();
    let addrs: Vec<String> = nodes.iter().flatten().map(|n| n.addr.clone()).collect();

    // ann and dan on n1, bob on n2, cat on n3. Dan is given only n1.
    let mut setup = client_of("setup", &addrs, 2);
    for user in ["ann", "bob", "cat", "dan"] {
        setup.ok(&format!("register {user} {}", password(user)));
    }
    setup.finish_ok();
    let mut ann = client_of("ann", &addrs, 0);
    let mut bob = client_of("bob", &addrs, 1);
    let mut cat = client_of("cat", &addrs, 2);
    let mut dan = JsonClient::spawn("dan", &addrs[0]);
    for (client, user) in [
        (&mut ann, "ann"),
        (&mut bob, "bob"),
        (&mut cat, "cat"),
        (&mut dan, "dan"),
    ] {
        login(client, user);
    }

    // Friend requests, answers and presence cross the nodes.
    befriend(&mut ann, "ann", &mut bob, "bob");
    befriend(&mut cat, "cat", &mut ann, "ann");
    befriend(&mut cat, "cat", &mut bob, "bob");
    befriend(&mut dan, "dan", &mut cat, "cat");
    settles(&mut ann, "bob", true);
    settles(&mut cat, "dan", true);

    // 1:1 both ways, live across nodes.
    let hello = ann.ok("msg bob hello from n1");
    bob.event("message", |v| v["id"] == hello["id"] && v["from"] == "ann");
    let reply = bob.ok("msg ann hi from n2");
    ann.event("message", |v| v["id"] == reply["id"] && v["from"] == "bob");

    // A room with a member on each node: one order for all.
    ann.ok("room create lobby");
    bob.ok("room join lobby");
    cat.ok("room join lobby");
    let said = cat.ok("say lobby hi all from n3");
    for member in [&mut ann, &mut bob, &mut cat] {
        member.event("room_message", |v| {
            v["id"] == said["id"] && v["room"] == "lobby"
        });
    }

    // A file from n1 to n2.
    let (files_tmp, files) = temp_data_dir();
    std::fs::create_dir_all(&files).expect("files dir");
    let source = files.join("notes.txt");
    let content: Vec<u8> = (0..300_000u32).map(|i| (i % 251) as u8).collect();
    std::fs::write(&source, &content).expect("write the file");
    let sent = ann.ok(&format!("sendfile bob {}", source.display()));
    bob.event("file", |v| v["id"] == sent["id"] && v["from"] == "ann");
    let saved = files.join("received.txt");
    let got = bob.ok(&format!("download {} {}", sent["id"], saved.display()));
    assert_eq!(got["sha256"], sent["sha256"]);
    assert_eq!(std::fs::read(&saved).expect("downloaded"), content);
    drop(files_tmp);

    // n1 dies while bob writes to ann: ann moves to n2; dan (given only n1)
    // is gone.
    for i in 0..20 {
        bob.send(&format!("msg ann burst {i}"));
    }
    nodes[0].take().expect("n1").kill();
    // Cat writes to the room meanwhile: room messages are not replayed by
    // the server; ann's client reads them from the room's history.
    let mut in_room = Vec::new();
    for i in 0..3 {
        in_room.push(cat.ok(&format!("say lobby while n1 is gone {i}"))["id"].clone());
    }
    let mut burst = Vec::new();
    for i in 0..20 {
        let text = format!("burst {i}");
        let ok = bob.expect(&format!("the answer to {text}"), |v| {
            v["cmd"] == "msg" && v["text"] == text.as_str()
        });
        assert_eq!(ok["type"], "ok", "{ok}");
        burst.push(ok["id"].clone());
    }
    ann.event("reconnecting", |v| v["addr"] == addrs[0].as_str());
    ann.event("reconnected", |v| v["addr"] == addrs[1].as_str());
    for id in &burst {
        ann.event("message", |v| v["id"] == *id);
    }
    for id in &in_room {
        ann.event("room_message", |v| v["id"] == *id);
    }
    assert_eq!(dan.wait_exit().code(), Some(2), "dan had only n1");
    // Ann is online again, on n2; dan, whose node died, goes offline.
    settles(&mut cat, "ann", true);
    settles(&mut cat, "dan", false);
    settles(&mut bob, "ann", true);

    // Bob's node's NATS member dies: the node moves to another member, and
    // what cat sends meanwhile reaches bob.
    nats.member(1).kill();
    let moving = cat.ok("msg bob sent while n2's NATS member was down");
    bob.event("message", |v| v["id"] == moving["id"]);
    nats.member(1).resume();

    // The whole NATS cluster restarts: what is sent while it is down arrives after.
    nats.kill_all();
    let during = cat.ok("msg bob sent while the bus was down");
    nats.resume_all();
    bob.event("message", |v| v["id"] == during["id"]);
    let after_bus = bob.ok("msg cat the bus is back");
    cat.event("message", |v| v["id"] == after_bus["id"]);

    // PostgreSQL restarts: refused `unavailable` meanwhile, then served again
    // by the same nodes.
    postgres.stop();
    let refused = ann.response("msg bob while the database is down");
    assert_eq!(refused["type"], "error", "{refused}");
    assert_eq!(refused["code"], "unavailable", "{refused}");
    postgres.start();
    let deadline = Instant::now() + TIMEOUT * 2;
    let back = loop {
        let answer = ann.response("msg bob the database is back");
        if answer["type"] == "ok" {
            break answer;
        }
        assert_eq!(answer["code"], "unavailable", "{answer}");
        assert!(Instant::now() < deadline, "the database never came back");
        std::thread::sleep(Duration::from_millis(200));
    };
    bob.event("message", |v| v["id"] == back["id"]);

    // No message reached anyone twice.
    for (name, client) in [("ann", &ann), ("bob", &bob), ("cat", &cat)] {
        let lines = client.read_so_far();
        let twice: Vec<_> = message_counts(&lines)
            .into_iter()
            .filter(|(_, n)| *n > 1)
            .collect();
        assert!(twice.is_empty(), "{name} got messages twice: {twice:?}");
    }
    let ann_counts = message_counts(&ann.read_so_far());
    for id in burst.iter().chain(&in_room) {
        assert_eq!(ann_counts.get(&id.as_u64().expect("id")), Some(&1), "{id}");
    }
    for client in [ann, bob, cat] {
        client.finish_ok();
    }
}
