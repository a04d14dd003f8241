//! A file uploaded in the browser and downloaded by `chat-client` with the
//! same SHA-256, and the other way round.

use std::path::Path;
use std::time::{Duration, Instant};

use fantoccini::Locator;
use rand::RngCore;
use serde_json::json;
use sha2::{Digest, Sha256};

use crate::common::{temp_data_dir, TIMEOUT};
use crate::harness::{run, serial, Driver, WebServer, DESKTOP};

/// Records in `window.progressSeen` whether an upload's or a download's
/// progress bar was ever on the page.
const PROGRESS_WATCH: &str = "window.progressSeen = new Set();
    new MutationObserver(() => {
        if (document.querySelector('#uploads .upload progress')) progressSeen.add('upload');
        if (document.querySelector('#timeline [data-file-id] progress')) progressSeen.add('download');
    }).observe(document.body, {subtree: true, childList: true, attributes: true});";

fn random_file(path: &Path, len: usize) -> String {
    let mut bytes = vec![0u8; len];
    rand::thread_rng().fill_bytes(&mut bytes);
    std::fs::write(path, &bytes).expect("write test file");
    hex::encode(Sha256::digest(&bytes))
}

fn sha256_of(path: &Path) -> String {
    hex::encode(Sha256::digest(std::fs::read(path).expect("read file")))
}

#[test]
fn files_go_from_the_browser_to_chat_client_and_back_with_the_same_sha256() {
    let _serial = serial();
    run(async {
        let (tmp, data) = temp_data_dir();
        let server = WebServer::start(&data, None);
        server.server.register(&["ann", "carol"]);
        let driver = Driver::start();
        let ann = driver.page("ann", &server.url(), DESKTOP).await;
        ann.log_in("ann").await;
        let (mut carol, _) = server.server.login("carol");
        carol.ok("add ann");
        ann.click(".request[data-user=\"carol\"] button[data-action=\"accept\"]")
            .await;
        carol.event("friend_added", |v| v["user"] == "ann");
        ann.open("@carol").await;
        // Notes every progress bar the page shows, however briefly.
        ann.js(PROGRESS_WATCH, vec![]).await;

        // Browser -> chat-client: 1.3 MiB, six chunks, with a progress bar.
        let upload = tmp.path().join("holiday photos.bin");
        let upload_sha = random_file(&upload, 1_300_000);
        ann.js(
            "document.querySelector('#file-input').hidden = false",
            vec![],
        )
        .await;
        let input = ann
            .client
            .find(Locator::Css("#file-input"))
            .await
            .expect("file input");
        input
            .send_keys(upload.to_str().expect("utf-8 path"))
            .await
            .expect("choose the file");
        ann.js(
            "document.querySelector('#file-input').hidden = true",
            vec![],
        )
        .await;
        let shared = carol.event("file", |v| v["name"] == "holiday photos.bin");
        assert_eq!(shared["from"], "ann");
        assert_eq!(shared["size"], 1_300_000);
        let id = shared["id"].as_u64().expect("file id");
        let saved = tmp.path().join("carol");
        std::fs::create_dir_all(&saved).expect("carol's dir");
        let got = carol.ok(&format!("download {id} {}", saved.display()));
        assert_eq!(got["sha256"], upload_sha.as_str());
        assert_eq!(sha256_of(&saved.join("holiday photos.bin")), upload_sha);
        ann.wait_for(
            "the sent file in ann's timeline",
            "return !!document.querySelector(`#timeline [data-file-id=\"${arguments[0]}\"]`)",
            vec![json!(id)],
        )
        .await;

        // chat-client -> browser: the page checks the SHA-256 and saves it.
        let report = tmp.path().join("report.pdf");
        let report_sha = random_file(&report, 700_000);
        let sent = carol.ok(&format!("sendfile ann {}", report.display()));
        let report_id = sent["id"].as_u64().expect("file id");
        let card = format!("#timeline [data-file-id=\"{report_id}\"]");
        ann.wait_for(
            "carol's file card",
            "return !!document.querySelector(arguments[0])",
            vec![json!(card)],
        )
        .await;
        ann.screenshot("11-files").await;
        ann.click(&format!("{card} button[data-action=\"download\"]"))
            .await;
        ann.wait_for("the checked mark", "return document.querySelector(arguments[0] + ' .file-size')?.textContent.includes('SHA-256 checked')", vec![json!(card)]).await;
        let bars = ann
            .js("return [...window.progressSeen].sort()", vec![])
            .await;
        assert_eq!(bars, json!(["download", "upload"]), "progress bars shown");
        let downloaded = driver.downloads.path().join("report.pdf");
        let deadline = Instant::now() + TIMEOUT;
        while !downloaded.is_file() {
            assert!(
                Instant::now() < deadline,
                "the browser did not save report.pdf in {}",
                driver.downloads.path().display()
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        // Chromium writes a .crdownload and renames it when done: the name is the whole file.
        assert_eq!(sha256_of(&downloaded), report_sha);
        carol.finish_ok();
        ann.close().await;
    });
}
