//! The server restarted under a connected page: the page reconnects with
//! backoff, logs in again as the same device, resumes from its position, and
//! loses and repeats nothing: not what was sent to it meanwhile, not what it
//! sent while the server was away, not a room's messages.

use crate::common::temp_data_dir;
use crate::harness::{run, serial, Driver, WebServer, DESKTOP};

#[test]
fn a_page_reconnects_after_a_server_restart_and_loses_nothing() {
    let _serial = serial();
    run(async {
        let (_tmp, data) = temp_data_dir();
        let server = WebServer::start(&data, None);
        let web_port = server.web_port;
        server.server.register(&["ann", "carol"]);
        let driver = Driver::start();
        let ann = driver.page("ann", &server.url(), DESKTOP).await;
        ann.log_in("ann").await;
        let device = ann
            .js(
                "return localStorage.getItem('chatcore.device.' + location.host + '.ann')",
                vec![],
            )
            .await;
        {
            let (mut carol, _) = server.server.login("carol");
            carol.ok("add ann");
            ann.click(".request[data-user=\"carol\"] button[data-action=\"accept\"]")
                .await;
            carol.event("friend_added", |v| v["user"] == "ann");
            carol.ok("room create lobby");
            ann.click("#add-room").await;
            ann.click("#room-results .result[data-room=\"lobby\"] button[data-action=\"join\"]")
                .await;
            ann.wait_for(
                "the room open",
                "return document.querySelector('#chat-title')?.textContent === '#lobby'",
                vec![],
            )
            .await;
            carol.ok("say lobby before the restart");
            ann.open("@carol").await;
            for i in 1..=3 {
                carol.ok(&format!("msg ann before {i}"));
            }
            ann.wait_for(
                "three messages",
                "return document.querySelectorAll('#timeline .msg[data-seq]').length === 3",
                vec![],
            )
            .await;
            carol.finish_ok();
        }

        // The server stops; the page says so and queues what ann writes.
        assert!(server.server.terminate().success());
        ann.wait_for(
            "the offline banner",
            "return !!document.querySelector('#reconnect-banner')",
            vec![],
        )
        .await;
        ann.type_into("#composer", "written while the server was away\u{E007}")
            .await;
        ann.wait_for(
            "a pending message",
            "return document.querySelectorAll('.msg[data-pending]').length === 1",
            vec![],
        )
        .await;
        ann.screenshot("12-offline").await;

        // It comes back on the same address; carol writes before ann's page is back.
        let server = WebServer::start(&data, Some(web_port));
        let (mut carol, _) = server.server.login("carol");
        for i in 1..=3 {
            carol.ok(&format!("msg ann after {i}"));
        }
        carol.ok("say lobby while ann was away");
        ann.wait_for(
            "online again",
            "return document.querySelector('#conn-status')?.dataset.status === 'online'",
            vec![],
        )
        .await;
        let queued = carol.event("message", |v| v["from"] == "ann");
        assert_eq!(queued["text"], "written while the server was away");

        // Everything once, in order; the queued message stored once.
        ann.wait_for("seven messages", "return document.querySelectorAll('#timeline .msg[data-seq]').length === 7 && document.querySelectorAll('.msg[data-pending]').length === 0", vec![]).await;
        let mut texts: Vec<(u64, String)> = ann
            .messages()
            .await
            .into_iter()
            .map(|(seq, _, text)| (seq, text))
            .collect();
        texts.sort();
        let seqs: Vec<u64> = texts.iter().map(|t| t.0).collect();
        assert_eq!(seqs, (1..=7).collect::<Vec<_>>(), "{texts:?}");
        for text in [
            "before 1",
            "before 2",
            "before 3",
            "after 1",
            "after 2",
            "after 3",
            "written while the server was away",
        ] {
            assert_eq!(
                texts.iter().filter(|t| t.1 == text).count(),
                1,
                "{text:?} once in {texts:?}"
            );
        }
        let history = carol.ok("history ann 20");
        assert_eq!(
            history["messages"].as_array().expect("messages").len(),
            7,
            "stored once: {history}"
        );
        // The same device, resumed (not a new one).
        let again = ann
            .js(
                "return localStorage.getItem('chatcore.device.' + location.host + '.ann')",
                vec![],
            )
            .await;
        assert_eq!(again, device);
        let (mut ann_cli, _) = server.server.login("ann");
        let devices = ann_cli.ok("devices");
        let names: Vec<&str> = devices["devices"]
            .as_array()
            .expect("devices")
            .iter()
            .map(|d| d["name"].as_str().expect("name"))
            .collect();
        assert_eq!(
            names.len(),
            2,
            "the browser and this default device, no third: {devices}"
        );
        ann_cli.finish_ok();

        // The room's message from while the page was away is there too, once.
        ann.open("#lobby").await;
        ann.wait_for(
            "both room messages",
            "return document.querySelectorAll('#timeline .msg[data-seq]').length === 2",
            vec![],
        )
        .await;
        let room: Vec<String> = ann
            .messages()
            .await
            .into_iter()
            .map(|(_, _, text)| text)
            .collect();
        assert_eq!(
            room,
            vec![
                "before the restart".to_string(),
                "while ann was away".into()
            ]
        );
        ann.screenshot("13-after-restart").await;
        carol.finish_ok();
        ann.close().await;
    });
}
