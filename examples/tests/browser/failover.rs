//! A page of a three-node cluster (PostgreSQL and nats-server, both started
//! here; feature `cluster-tests` beside `browser-tests`) whose node is
//! SIGKILLed while messages are being sent to it: the page moves to another
//! node it learned from `/peers.json` (its own origin is gone), logs in there
//! as the same device, and shows every message once, in order; what it sends
//! from there arrives.

use chatcore_nats::test_server::NatsServer;
use serde_json::json;

use crate::common::temp_data_dir;
use crate::harness::{free_port, run, serial, Driver, WebServer, DESKTOP};

const DEVICE: &str = "return localStorage.getItem('chatcore.device.' + location.host + '.ann')";

#[test]
fn a_page_moves_to_another_node_when_its_node_dies_and_loses_nothing() {
    let _serial = serial();
    run(async {
        let postgres = chatcore_postgres::test_server::Server::own();
        let url = postgres.fresh_database_url();
        let nats = NatsServer::start();
        let nats_url = nats.url();
        let web_ports: Vec<u16> = (0..3).map(|_| free_port()).collect();
        let dirs: Vec<_> = (0..3).map(|_| temp_data_dir()).collect();
        // Every node is given all three web ports, as the README does.
        let peers = web_ports
            .iter()
            .map(|p| format!("http://127.0.0.1:{p}"))
            .collect::<Vec<_>>()
            .join(",");
        let mut nodes: Vec<WebServer> = (0..3)
            .map(|i| {
                let node_id = format!("n{}", i + 1);
                let flags = [
                    "--database-url",
                    url.as_str(),
                    "--cluster",
                    nats_url.as_str(),
                    "--node-id",
                    node_id.as_str(),
                    "--web-peer",
                    peers.as_str(),
                ];
                WebServer::start_on("postgres", &dirs[i].1, Some(web_ports[i]), &flags)
            })
            .collect();
        let (third, second, first) = (nodes.pop(), nodes.pop(), nodes.pop());
        let (third, second, first) = (third.unwrap(), second.unwrap(), first.unwrap());
        let n1 = format!("127.0.0.1:{}", first.web_port);
        second.server.register(&["ann", "carol"]);

        // Ann's page comes from n1; carol writes from n2 (chat-client).
        let driver = Driver::start();
        let ann = driver.page("ann", &first.url(), DESKTOP).await;
        ann.log_in("ann").await;
        let on = ann
            .js(
                "return document.querySelector('#conn-status').dataset.node",
                vec![],
            )
            .await;
        assert_eq!(on, json!(n1), "the page starts on its own node");
        let device = ann.js(DEVICE, vec![]).await;
        let (mut carol, _) = second.server.login("carol");
        carol.ok("add ann");
        ann.click(".request[data-user=\"carol\"] button[data-action=\"accept\"]")
            .await;
        carol.event("friend_added", |v| v["user"] == "ann");
        ann.open("@carol").await;
        for i in 1..=3 {
            carol.ok(&format!("msg ann before {i}"));
        }
        ann.wait_for(
            "three messages across nodes",
            "return document.querySelectorAll('#timeline .msg[data-seq]').length === 3",
            vec![],
        )
        .await;

        // n1 dies while carol writes: the page moves to n2 or n3.
        for i in 1..=10 {
            carol.send(&format!("msg ann burst {i}"));
        }
        first.server.kill();
        for i in 1..=10 {
            let text = format!("burst {i}");
            let ok = carol.expect(&format!("the answer to {text}"), |v| {
                v["cmd"] == "msg" && v["text"] == text.as_str()
            });
            assert_eq!(ok["type"], "ok", "{ok}");
        }
        let moved = ann
            .wait_for(
                "online on another node",
                "const s = document.querySelector('#conn-status'); \
                 return s?.dataset.status === 'online' && s.dataset.node !== arguments[0] && s.dataset.node",
                vec![json!(n1)],
            )
            .await;
        let peers: Vec<String> = web_ports[1..]
            .iter()
            .map(|p| format!("127.0.0.1:{p}"))
            .collect();
        assert!(
            peers.contains(&moved.as_str().unwrap_or("").to_string()),
            "{moved}"
        );

        // Every message once, in order.
        ann.wait_for(
            "thirteen messages",
            "return document.querySelectorAll('#timeline .msg[data-seq]').length === 13",
            vec![],
        )
        .await;
        let messages = ann.messages().await;
        let seqs: Vec<u64> = messages.iter().map(|m| m.0).collect();
        assert_eq!(seqs, (1..=13).collect::<Vec<_>>(), "{messages:?}");
        let texts: Vec<&str> = messages.iter().map(|m| m.2.as_str()).collect();
        let expected: Vec<String> = (1..=3)
            .map(|i| format!("before {i}"))
            .chain((1..=10).map(|i| format!("burst {i}")))
            .collect();
        assert_eq!(texts, expected);

        // What the page sends from its new node arrives; it is the same device.
        ann.send("written on the new node").await;
        let got = carol.event("message", |v| v["from"] == "ann");
        assert_eq!(got["text"], "written on the new node");
        assert_eq!(ann.js(DEVICE, vec![]).await, device);
        let history = carol.ok("history ann 50");
        assert_eq!(
            history["messages"].as_array().expect("messages").len(),
            14,
            "stored once each: {history}"
        );
        ann.screenshot("14-moved-to-another-node").await;
        let (mut ann_cli, _) = third.server.login("ann");
        let listed = ann_cli.ok("devices");
        assert_eq!(
            listed["devices"].as_array().expect("devices").len(),
            2,
            "the browser and this chat-client, no third: {listed}"
        );
        ann_cli.finish_ok();
        carol.finish_ok();
        ann.close().await;
    });
}
