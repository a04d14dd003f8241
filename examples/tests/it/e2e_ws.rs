//! chat-server's web port end to end: the real binary serves the page's
//! embedded files and `/ws`; `chat-client --ws` chats with a TCP client over
//! it, a file crosses between the two transports byte for byte, and `wss://`
//! with --tls-cert.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::path::Path;
use std::time::Duration;

use rand::RngCore;
use sha2::{Digest, Sha256};

use crate::common::{befriend, free_addr, temp_data_dir, JsonClient, Server};

/// `GET path` over plain HTTP/1.1: the status line, the headers (lowercase
/// names) and the body.
fn get(addr: &str, path: &str) -> (String, Vec<(String, String)>, Vec<u8>) {
    let mut stream = TcpStream::connect(addr).expect("connect to the web port");
    stream
        .set_read_timeout(Some(Duration::from_secs(10)))
        .unwrap();
    write!(
        stream,
        "GET {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n"
    )
    .unwrap();
    let mut raw = Vec::new();
    stream.read_to_end(&mut raw).expect("read the answer");
    let split = raw
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .expect("a header block");
    let head = String::from_utf8(raw[..split].to_vec()).unwrap();
    let mut lines = head.lines();
    let status = lines.next().unwrap().to_owned();
    let headers = lines
        .filter_map(|l| l.split_once(':'))
        .map(|(k, v)| (k.trim().to_lowercase(), v.trim().to_owned()))
        .collect();
    (status, headers, raw[split + 4..].to_vec())
}

fn header<'a>(headers: &'a [(String, String)], name: &str) -> &'a str {
    headers
        .iter()
        .find(|(k, _)| k == name)
        .map_or("", |(_, v)| v.as_str())
}

fn ws_client(
    name: &str,
    server: &Server,
    url: &str,
    dir: Option<&Path>,
    extra: &[&str],
) -> JsonClient {
    let mut args = vec!["--ws", url];
    args.extend_from_slice(extra);
    JsonClient::spawn_with(name, &server.addr, dir, &args)
}

#[test]
fn the_web_port_serves_the_page_and_chat_client_ws_chats_with_tcp() {
    let (tmp, data) = temp_data_dir();
    let web = free_addr();
    let server = Server::start(&data, "memory", &["--web", &web]);

    // Every file under examples/web/ is served as it is on disk, typed.
    let page_dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("web");
    let (status, headers, body) = get(&web, "/");
    assert!(status.ends_with("200 OK"), "{status}");
    assert_eq!(header(&headers, "content-type"), "text/html; charset=utf-8");
    assert_eq!(body, std::fs::read(page_dir.join("index.html")).unwrap());
    let mut walked = vec![page_dir.clone()];
    let mut files = 0;
    while let Some(dir) = walked.pop() {
        for entry in std::fs::read_dir(dir).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                walked.push(path);
                continue;
            }
            let rel = path
                .strip_prefix(&page_dir)
                .unwrap()
                .to_str()
                .unwrap()
                .replace('\\', "/");
            let (status, headers, body) = get(&web, &format!("/{rel}"));
            assert!(status.ends_with("200 OK"), "{rel}: {status}");
            assert_eq!(body, std::fs::read(&path).unwrap(), "{rel}");
            let expected = match path.extension().and_then(|e| e.to_str()) {
                Some("html") => "text/html",
                Some("js" | "mjs") => "text/javascript",
                Some("css") => "text/css",
                Some("svg") => "image/svg+xml",
                Some("png") => "image/png",
                _ => "",
            };
            assert!(
                header(&headers, "content-type").starts_with(expected),
                "{rel}: {headers:?}"
            );
            files += 1;
        }
    }
    assert!(files >= 1);
    let (status, _, _) = get(&web, "/no/such/file.js");
    assert!(status.ends_with("404 Not Found"), "{status}");
    let (status, _, _) = get(&web, "/ws");
    assert!(status.ends_with("426 Upgrade Required"), "{status}");

    // ann over WebSocket, bob over TCP: one server.
    let url = format!("ws://{web}/ws");
    server.register(&["ann", "bob"]);
    let inbox = tmp.path().join("inbox");
    std::fs::create_dir(&inbox).unwrap();
    let mut ann = ws_client("ann", &server, &url, Some(&inbox), &[]);
    ann.login("ann");
    let (mut bob, _) = server.login("bob");
    befriend(&mut ann, "ann", &mut bob, "bob");
    let sent = ann.ok("msg bob hello over websocket :smile:");
    bob.event("message", |v| {
        v["id"] == sent["id"] && v["text"] == "hello over websocket 😄"
    });
    let sent = bob.ok("msg ann and back over tcp");
    ann.event("message", |v| {
        v["id"] == sent["id"] && v["text"] == "and back over tcp"
    });

    // A file from TCP to WebSocket, byte for byte (more than one chunk).
    let mut bytes = vec![0u8; 600 * 1024];
    rand::thread_rng().fill_bytes(&mut bytes);
    let sha = hex::encode(Sha256::digest(&bytes));
    let source = tmp.path().join("photo.bin");
    std::fs::write(&source, &bytes).unwrap();
    let offered = bob.ok(&format!("sendfile ann {}", source.display()));
    assert_eq!(offered["sha256"], sha.as_str());
    ann.event("file", |v| v["id"] == offered["id"]);
    let got = ann.ok(&format!("download {} got.bin", offered["id"]));
    assert_eq!(got["sha256"], sha.as_str());
    assert_eq!(std::fs::read(inbox.join("got.bin")).unwrap(), bytes);

    ann.finish_ok();
    bob.finish_ok();

    // A URL that is not a WebSocket endpoint: exit 1 with the server's reason.
    let mut lost = ws_client("lost", &server, &format!("ws://{web}/nope"), None, &[]);
    assert_eq!(lost.wait_exit().code(), Some(1));
}

#[test]
fn wss_with_the_servers_certificate() {
    let (tmp, data) = temp_data_dir();
    let cert = rcgen::generate_simple_self_signed(vec!["localhost".into()]).unwrap();
    let cert_pem = tmp.path().join("cert.pem");
    let key_pem = tmp.path().join("key.pem");
    std::fs::write(&cert_pem, cert.cert.pem()).unwrap();
    std::fs::write(&key_pem, cert.key_pair.serialize_pem()).unwrap();
    let web = free_addr();
    let port = web.rsplit_once(':').unwrap().1;
    let server = Server::start(
        &data,
        "memory",
        &[
            "--web",
            &web,
            "--tls-cert",
            cert_pem.to_str().unwrap(),
            "--tls-key",
            key_pem.to_str().unwrap(),
        ],
    );
    let url = format!("wss://localhost:{port}/ws");
    let mut ann = ws_client(
        "ann",
        &server,
        &url,
        None,
        &["--ca", cert_pem.to_str().unwrap()],
    );
    ann.ok(&format!("register ann {}", crate::common::password("ann")));
    ann.login("ann");
    ann.ok("friends");
    ann.finish_ok();
    // Without trusting the certificate: cannot connect.
    let mut untrusting = ws_client("untrusting", &server, &url, None, &[]);
    assert_eq!(untrusting.wait_exit().code(), Some(1));
}
