//! A room with two browser users and one `chat-client` over TCP: all three
//! see the room's messages in one order.

use serde_json::{json, Value};

use crate::common::temp_data_dir;
use crate::harness::{run, serial, Driver, WebServer, DESKTOP};

#[test]
fn a_room_of_two_browsers_and_a_cli_client_is_seen_in_one_order() {
    let _serial = serial();
    run(async {
        let (_tmp, data) = temp_data_dir();
        let server = WebServer::start(&data, None);
        server.server.register(&["carol"]);
        let driver = Driver::start();
        let ann = driver.page("ann", &server.url(), DESKTOP).await;
        let bob = driver.page("bob", &server.url(), DESKTOP).await;
        ann.register("ann").await;
        bob.register("bob").await;

        // ann creates the room in the browser; bob finds and joins it there;
        // carol joins from the command line.
        ann.click("#add-room").await;
        ann.type_into("#room-name", "lobby\u{E007}").await;
        ann.wait_for(
            "the room open",
            "return document.querySelector('#chat-title')?.textContent === '#lobby'",
            vec![],
        )
        .await;
        bob.click("#add-room").await;
        bob.wait_for("lobby in the list", "return !!document.querySelector('#room-results .result[data-room=\"lobby\"] button[data-action=\"join\"]')", vec![]).await;
        bob.screenshot("08-rooms-dialog").await;
        bob.click("#room-results .result[data-room=\"lobby\"] button[data-action=\"join\"]")
            .await;
        bob.wait_for(
            "the room open",
            "return document.querySelector('#chat-title')?.textContent === '#lobby'",
            vec![],
        )
        .await;
        let (mut carol, _) = server.server.login("carol");
        carol.ok("room join lobby");
        ann.wait_for("carol's join notice", "return [...document.querySelectorAll('#timeline .notice')].some(n => n.textContent === 'carol joined')", vec![]).await;

        // Everyone talks at once: three from each, interleaved as fast as they go.
        for i in 1..=3 {
            carol.send(&format!("say lobby carol {i}"));
            ann.type_into("#composer", &format!("ann {i}\u{E007}"))
                .await;
            bob.type_into("#composer", &format!("bob {i}\u{E007}"))
                .await;
        }
        for _ in 1..=3 {
            carol.expect("a say response", |v| v["type"] == "ok" && v["cmd"] == "say");
        }
        let mut cli_order = Vec::new();
        while cli_order.len() < 9 {
            let m = carol.event("room_message", |v| v["room"] == "lobby");
            cli_order.push((
                m["seq"].as_u64().expect("seq"),
                m["from"].as_str().expect("from").to_string(),
                m["text"].as_str().expect("text").to_string(),
            ));
        }
        let seqs: Vec<u64> = cli_order.iter().map(|m| m.0).collect();
        assert_eq!(
            seqs,
            (1..=9).collect::<Vec<_>>(),
            "carol got the room in seq order: {cli_order:?}"
        );
        for page in [&ann, &bob] {
            page.wait_for("all nine messages stored", "return document.querySelectorAll('#timeline .msg[data-seq]').length === 9 && document.querySelectorAll('.msg[data-pending]').length === 0", vec![]).await;
            assert_eq!(
                page.messages().await,
                cli_order,
                "{} sees the room in carol's order",
                page.name
            );
        }

        // Members with presence: bob leaves the page, and ann's list shows it.
        ann.click("#members-button").await;
        let members = ann
        .wait_for("three members", "const rows = [...document.querySelectorAll('#member-list .result')]; return rows.length === 3 ? rows.map(r => [r.dataset.user, r.querySelector('.result-sub').textContent]) : null", vec![])
        .await;
        assert_eq!(
            members,
            json!([["ann", "online"], ["bob", "online"], ["carol", "online"]])
        );
        ann.screenshot("09-room-members").await;
        ann.press_escape().await;
        ann.wait_for(
            "the dialog closed",
            "return !document.querySelector('dialog')",
            vec![],
        )
        .await;
        ann.screenshot("10-room").await;

        // bob leaves the room; everyone is told.
        bob.click("#leave-button").await;
        bob.click("#confirm-ok").await;
        bob.wait_for(
            "lobby gone from bob's list",
            "return !document.querySelector('.conv[data-key=\"#lobby\"]')",
            vec![],
        )
        .await;
        carol.event("room_left", |v: &Value| v["user"] == "bob");
        ann.wait_for("bob's leave notice", "return [...document.querySelectorAll('#timeline .notice')].some(n => n.textContent === 'bob left')", vec![]).await;
        carol.finish_ok();
        ann.close().await;
        bob.close().await;
    });
}
