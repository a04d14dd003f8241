//! History loads older messages as the timeline is scrolled up, until the
//! beginning, in order and each once (beside the recent messages a join pushes).

use crate::common::temp_data_dir;
use crate::harness::{run, serial, Driver, WebServer, DESKTOP};

const COUNT: &str = "return document.querySelectorAll('#timeline .msg[data-seq]').length";

#[test]
fn scrolling_up_loads_older_messages_until_the_beginning() {
    let _serial = serial();
    run(async {
        let (_tmp, data) = temp_data_dir();
        let server = WebServer::start(&data, None);
        server.server.register(&["carol"]);
        let (mut carol, _) = server.server.login("carol");
        carol.ok("room create archive");
        for i in 1..=95 {
            carol.send(&format!("say archive line {i}"));
        }
        for _ in 1..=95 {
            carol.expect("a say response", |v| v["type"] == "ok" && v["cmd"] == "say");
        }
        let driver = Driver::start();
        let ann = driver.page("ann", &server.url(), DESKTOP).await;
        ann.register("ann").await;
        ann.click("#add-room").await;
        ann.click("#room-results .result[data-room=\"archive\"] button[data-action=\"join\"]")
            .await;
        ann.wait_for("the newest page", &format!("{COUNT} >= 40"), vec![])
            .await;
        let shown = ann.js(COUNT, vec![]).await.as_u64().expect("count");
        assert!(
            shown < 95,
            "only the newest pages at first, not all: {shown}"
        );
        assert_eq!(
            ann.js("return !!document.querySelector('.history-start')", vec![])
                .await,
            false
        );

        // Scroll up until the beginning; each scroll loads a page.
        let mut scrolls = 0;
        while ann.js("return !document.querySelector('.history-start')?.textContent.includes('beginning')", vec![]).await == true {
        assert!(scrolls < 10, "more scrolls than pages");
        let before = ann.js(COUNT, vec![]).await;
        ann.js("document.querySelector('#timeline').scrollTop = 0", vec![]).await;
        ann.wait_for("an older page", "return document.querySelectorAll('#timeline .msg[data-seq]').length > arguments[0] || document.querySelector('.history-start')?.textContent.includes('beginning')", vec![before]).await;
        scrolls += 1;
    }
        let lines: Vec<String> = ann
            .messages()
            .await
            .into_iter()
            .map(|(_, _, text)| text)
            .collect();
        let expected: Vec<String> = (1..=95).map(|i| format!("line {i}")).collect();
        assert_eq!(lines, expected);
        carol.finish_ok();
        ann.close().await;
    });
}
