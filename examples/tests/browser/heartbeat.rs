//! An idle page answers the server's heartbeat and stays connected: with a
//! ping every second and a 3 s idle timeout, 8 s without a word from the
//! user pass without a reconnect.

use std::time::Duration;

use crate::common::temp_data_dir;
use crate::harness::{run, serial, Driver, WebServer, DESKTOP};

/// Records in `window.statusSeen` every connection status the page shows.
const STATUS_WATCH: &str = "window.statusSeen = new Set();
    const note = () => { const s = document.querySelector('#conn-status'); if (s) statusSeen.add(s.dataset.status); };
    new MutationObserver(note).observe(document.body, {subtree: true, childList: true, attributes: true});
    note();";

#[test]
fn an_idle_page_answers_the_heartbeat_and_stays_connected() {
    let _serial = serial();
    run(async {
        let (_tmp, data) = temp_data_dir();
        let server = WebServer::start_with(
            &data,
            None,
            &["--ping-interval-secs", "1", "--idle-timeout-secs", "3"],
        );
        let driver = Driver::start();
        let ann = driver.page("ann", &server.url(), DESKTOP).await;
        ann.register("ann").await;
        ann.js(STATUS_WATCH, vec![]).await;
        tokio::time::sleep(Duration::from_secs(8)).await;
        let seen = ann.js("return [...window.statusSeen].sort()", vec![]).await;
        assert_eq!(
            seen,
            serde_json::json!(["online"]),
            "the page never left online"
        );
        // The server saw one session for ann, never closed for idling.
        let log = server.server.log_text();
        assert!(
            !log.contains("timeout"),
            "a timeout in the server log:\n{log}"
        );
        ann.close().await;
    });
}
