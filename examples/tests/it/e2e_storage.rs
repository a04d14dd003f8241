//! End to end, the real `chat-server` when its disk runs low or its store
//! fails: below the free-space watermark uploads are refused `storage_full`
//! while two clients keep chatting; a store that fails (a full disk under its
//! log) makes the process exit non-zero, for a supervisor to restart it.

use std::path::Path;

use crate::common::{befriend, temp_data_dir, JsonClient, Server};

/// `from` sends `text` to `to_name`, who receives it.
fn chat(from: &mut JsonClient, to: &mut JsonClient, to_name: &str, text: &str) {
    let sent = from.ok(&format!("msg {to_name} {text}"));
    to.event("message", |v| v["id"] == sent["id"] && v["text"] == text);
}

fn write_file(path: &Path, len: usize) {
    std::fs::write(path, vec![7u8; len]).expect("write the test file");
}

/// With a watermark above any disk's free space, every upload is refused
/// `storage_full` at the offer, while ann and bob chat both ways and lose
/// nothing (their whole conversation is in the history).
#[test]
fn uploads_are_refused_storage_full_below_the_watermark_while_chat_goes_on() {
    let (tmp, data) = temp_data_dir();
    let watermark = u64::MAX.to_string();
    let server = Server::start(&data, "redb", &["--min-free-disk", &watermark]);
    server.register(&["ann", "bob"]);
    let (mut ann, _) = server.login("ann");
    let (mut bob, _) = server.login("bob");
    befriend(&mut ann, "ann", &mut bob, "bob");
    let file = tmp.path().join("photo.jpg");
    write_file(&file, 1000);

    for round in 0..3 {
        let refused = ann.err(&format!("sendfile bob {}", file.display()), "storage_full");
        assert_eq!(refused["message"], "the server is low on disk space");
        chat(&mut ann, &mut bob, "bob", &format!("still here {round}"));
        chat(&mut bob, &mut ann, "ann", &format!("me too {round}"));
    }
    let history = ann.ok("history bob 50");
    let texts: Vec<&str> = history["messages"]
        .as_array()
        .expect("messages")
        .iter()
        .map(|m| m["text"].as_str().expect("text"))
        .collect();
    assert_eq!(texts.len(), 6, "{history}");
    assert_eq!(
        bob.ok("files ann")["files"].as_array().map(Vec::len),
        Some(0)
    );
    ann.finish_ok();
    bob.finish_ok();
    assert!(server.terminate().success());
}

/// Runs the server with its data directory on a 20 MiB tmpfs of its own (an
/// unprivileged user and mount namespace): its write-ahead log allocates 16
/// MiB at once, so a 24 MiB upload fills the disk under the store.
#[cfg(all(target_os = "linux", feature = "small-disk-tests"))]
const SMALL_DISK: &[&str] = &[
    "unshare",
    "--user",
    "--map-root-user",
    "--mount",
    "sh",
    "-c",
    r#"mount -t tmpfs -o size=20m chat-disk "$1" && shift && exec "$@""#,
    "sh",
];

/// A full disk under the store (no watermark to stop the upload first) fails
/// the store: the upload is refused (`unavailable`) or cut off as the server
/// stops, and the process exits non-zero, saying why. Needs unprivileged user
/// namespaces (to mount the small disk): feature `small-disk-tests`, which
/// `.ci/run` turns on where `unshare --user` works.
#[cfg(all(target_os = "linux", feature = "small-disk-tests"))]
#[test]
fn a_failed_store_makes_the_server_exit_non_zero() {
    let (tmp, data) = temp_data_dir();
    std::fs::create_dir_all(&data).expect("data dir");
    let data_arg = data.to_str().expect("a UTF-8 path");
    let wrapper: Vec<&str> = SMALL_DISK.iter().copied().chain([data_arg]).collect();
    let mut server = Server::start_wrapped(&wrapper, &data, "redb", &["--min-free-disk", "0"]);
    server.register(&["ann", "bob"]);
    let (mut ann, _) = server.login("ann");
    let (mut bob, _) = server.login("bob");
    befriend(&mut ann, "ann", &mut bob, "bob");
    chat(&mut ann, &mut bob, "bob", "before the disk fills");
    let file = tmp.path().join("big.bin");
    write_file(&file, 24 << 20);

    let answer = ann.response(&format!("sendfile bob {}", file.display()));
    assert_eq!(answer["type"], "error", "{answer}");
    let status = crate::common::wait_exit(&mut server.child, "chat-server");
    let log = server.log_text();
    assert_eq!(status.code(), Some(1), "{status}:\n{log}");
    assert!(log.contains("the store failed"), "{log}");
    bob.kill();
    ann.kill();
}
