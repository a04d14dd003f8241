//! Real headless Chromium, driven over WebDriver (Debian's `chromedriver`,
//! through fantoccini), against the real `chat-server` serving the web client.
//!
//! Why fantoccini: it speaks the W3C WebDriver protocol to the `chromedriver`
//! Debian builds from the same source as its `chromium`, so the two always
//! match; chromiumoxide speaks the DevTools protocol through bindings
//! generated for one Chromium revision (which drift from the installed
//! browser) and takes minutes to compile on two cores. fantoccini is small,
//! maintained, and builds here without TLS (plain HTTP to 127.0.0.1).
//!
//! Each test runs alone (`serial`): two cores do not fit several browsers
//! per test and several tests at once. Every wait has a deadline. Without
//! `chromium` or `chromedriver` the tests fail, loudly: the feature
//! `browser-tests` is the promise that they run.

use std::net::{TcpListener, TcpStream};
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::{Mutex, MutexGuard};
use std::time::{Duration, Instant};

use fantoccini::{Client, ClientBuilder, Locator};
use serde_json::{json, Value};

use crate::common::{Server, TIMEOUT};

/// How long a page has to show what a test waits for.
pub const PAGE_TIMEOUT: Duration = Duration::from_secs(20);

/// Desktop and phone window sizes (CSS pixels).
pub const DESKTOP: (u32, u32) = (1280, 800);
pub const PHONE: (u32, u32) = (390, 844);

static SERIAL: Mutex<()> = Mutex::new(());

/// Holds the lock that runs browser tests one at a time.
pub fn serial() -> MutexGuard<'static, ()> {
    SERIAL
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}

/// Runs a test's body on a runtime of its own (two workers: the blocking
/// `chat-client` helpers may hold one).
pub fn run<F: std::future::Future<Output = ()>>(body: F) {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("tokio runtime")
        .block_on(body);
}

/// A free 127.0.0.1 port (bound, read, let go).
pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("a free port")
        .port()
}

fn wait_port(port: u16, what: &str, child: &mut Child) {
    let deadline = Instant::now() + TIMEOUT;
    while TcpStream::connect(("127.0.0.1", port)).is_err() {
        if let Some(status) = child.try_wait().expect("try_wait") {
            panic!("{what} exited with {status} before listening on {port}");
        }
        assert!(
            Instant::now() < deadline,
            "{what} did not listen on port {port}"
        );
        std::thread::sleep(Duration::from_millis(25));
    }
}

/// `chat-server` with its web port: TCP for `chat-client`, HTTP + `/ws` for pages.
pub struct WebServer {
    pub server: Server,
    pub web_port: u16,
}

impl WebServer {
    /// Starts a redb server over `data_dir` on free ports (or `web_port`, to
    /// come back on the same address after a restart).
    pub fn start(data_dir: &Path, web_port: Option<u16>) -> WebServer {
        WebServer::start_with(data_dir, web_port, &[])
    }

    /// [`Self::start`] with more `chat-server` flags.
    pub fn start_with(data_dir: &Path, web_port: Option<u16>, extra: &[&str]) -> WebServer {
        WebServer::start_on("redb", data_dir, web_port, extra)
    }

    /// [`Self::start_with`] on another `--store`.
    pub fn start_on(
        store: &str,
        data_dir: &Path,
        web_port: Option<u16>,
        extra: &[&str],
    ) -> WebServer {
        let web_port = web_port.unwrap_or_else(free_port);
        let web = format!("127.0.0.1:{web_port}");
        let mut flags = vec!["--web", &web];
        flags.extend_from_slice(extra);
        let mut server = Server::start(data_dir, store, &flags);
        wait_port(web_port, "chat-server's web port", &mut server.child);
        WebServer { server, web_port }
    }

    pub fn url(&self) -> String {
        format!("http://127.0.0.1:{}/", self.web_port)
    }
}

/// One `chromedriver`; each [`Page`] is a browser of its own (its own
/// profile, so its own localStorage: another device).
pub struct Driver {
    child: Child,
    port: u16,
    pub downloads: tempfile::TempDir,
}

/// Finds `program` on `PATH` or fails the test, saying how to install it.
fn require(program: &str) -> PathBuf {
    let found = std::env::var_os("PATH").and_then(|paths| {
        std::env::split_paths(&paths)
            .map(|dir| dir.join(program))
            .find(|candidate| candidate.is_file())
    });
    found.unwrap_or_else(|| {
        panic!(
            "`{program}` is not installed, and the browser tests need it \
             (Debian: apt-get install -y chromium chromium-driver)"
        )
    })
}

impl Driver {
    pub fn start() -> Driver {
        let chromedriver = require("chromedriver");
        require("chromium");
        let port = free_port();
        // A process group of its own, so that the browsers it starts go with
        // it even when a failed test never closed them.
        let mut child = Command::new(chromedriver)
            .process_group(0)
            .arg(format!("--port={port}"))
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("spawn chromedriver");
        wait_port(port, "chromedriver", &mut child);
        let downloads = tempfile::tempdir().expect("downloads dir");
        Driver {
            child,
            port,
            downloads,
        }
    }

    /// A new headless Chromium at `url`, `size` CSS pixels.
    pub async fn page(&self, name: &str, url: &str, size: (u32, u32)) -> Page {
        self.page_with(name, url, size, &[]).await
    }

    /// [`Self::page`] with more Chromium flags (e.g. `--force-dark-mode`).
    pub async fn page_with(&self, name: &str, url: &str, size: (u32, u32), flags: &[&str]) -> Page {
        let chromium = require("chromium");
        let mut args = vec![
            // CI runs as root, where Chromium's sandbox cannot start.
            "--headless=new".to_string(),
            "--no-sandbox".into(),
            "--disable-gpu".into(),
            "--disable-dev-shm-usage".into(),
            "--no-first-run".into(),
            "--disable-extensions".into(),
            "--hide-scrollbars".into(),
            "--lang=en-GB".into(),
            format!("--window-size={},{}", size.0, size.1),
        ];
        args.extend(flags.iter().map(|f| f.to_string()));
        let caps = json!({
            "browserName": "chrome",
            "goog:chromeOptions": {
                "binary": chromium,
                "args": args,
                "prefs": {
                    "download.default_directory": self.downloads.path(),
                    "download.prompt_for_download": false,
                },
            },
        });
        let Value::Object(caps) = caps else {
            unreachable!()
        };
        let client = ClientBuilder::new(hyper_util::client::legacy::connect::HttpConnector::new())
            .capabilities(caps)
            .connect(&format!("http://127.0.0.1:{}", self.port))
            .await
            .unwrap_or_else(|e| panic!("{name}: starting Chromium through chromedriver: {e}"));
        client
            .set_window_size(size.0, size.1)
            .await
            .expect("window size");
        client
            .goto(url)
            .await
            .unwrap_or_else(|e| panic!("{name}: opening {url}: {e}"));
        let page = Page {
            name: name.to_string(),
            client,
        };
        page.js(CATCH_ERRORS, vec![]).await;
        page
    }
}

impl Drop for Driver {
    fn drop(&mut self) {
        // chromedriver and every browser it started (its process group).
        let group = format!("-{}", self.child.id());
        let _ = Command::new("kill").args(["-KILL", "--", &group]).status();
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// One browser window on the web client.
pub struct Page {
    pub name: String,
    pub client: Client,
}

impl Page {
    /// Runs `script` (a function body; `arguments` as in WebDriver) and returns its value.
    pub async fn js(&self, script: &str, args: Vec<Value>) -> Value {
        self.client
            .execute(script, args)
            .await
            .unwrap_or_else(|e| panic!("{}: script failed: {e}\n{script}", self.name))
    }

    /// Waits until `script` returns something truthy; returns it.
    pub async fn wait_for(&self, what: &str, script: &str, args: Vec<Value>) -> Value {
        let deadline = Instant::now() + PAGE_TIMEOUT;
        loop {
            let value = self.js(script, args.clone()).await;
            let truthy = match &value {
                Value::Null => false,
                Value::Bool(b) => *b,
                Value::String(s) => !s.is_empty(),
                Value::Array(a) => !a.is_empty(),
                _ => true,
            };
            if truthy {
                return value;
            }
            if Instant::now() > deadline {
                let state = self.js(DESCRIBE, vec![]).await;
                panic!("{}: timed out after {PAGE_TIMEOUT:?} waiting for {what}; the page shows:\n{state}", self.name);
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// Waits for an element matching `css` and clicks it (a real click). The
    /// page redraws its lists as events come, so an element found may be
    /// replaced before the click lands: then it is found again.
    pub async fn click(&self, css: &str) {
        let deadline = Instant::now() + PAGE_TIMEOUT;
        loop {
            self.wait_for(
                &format!("{css} to be there"),
                "return !!document.querySelector(arguments[0])",
                vec![json!(css)],
            )
            .await;
            let clicked = match self.client.find(Locator::Css(css)).await {
                Ok(el) => el.click().await,
                Err(e) => Err(e),
            };
            match clicked {
                Ok(()) => return,
                Err(e) if Instant::now() < deadline && is_stale(&e) => {
                    tokio::time::sleep(Duration::from_millis(20)).await
                }
                Err(e) => panic!("{}: clicking {css}: {e}", self.name),
            }
        }
    }

    /// Types `text` into the element `css` (real key events; "\u{E007}" is Enter).
    pub async fn type_into(&self, css: &str, text: &str) {
        self.wait_for(
            &format!("{css} to be there"),
            "return !!document.querySelector(arguments[0])",
            vec![json!(css)],
        )
        .await;
        let el = self.client.find(Locator::Css(css)).await.expect("element");
        el.send_keys(text)
            .await
            .unwrap_or_else(|e| panic!("{}: typing into {css}: {e}", self.name));
    }

    /// Presses Esc in whatever has the focus.
    pub async fn press_escape(&self) {
        let el = self.client.active_element().await.expect("active element");
        el.send_keys("\u{E00C}").await.expect("Esc");
    }

    /// Registers `user` (password: [`crate::common::password`]) on the login
    /// screen and waits for the chat.
    pub async fn register(&self, user: &str) {
        self.click("#login-toggle").await;
        self.log_in_form(user).await;
    }

    /// Logs in as an existing `user`.
    pub async fn log_in(&self, user: &str) {
        self.log_in_form(user).await;
    }

    async fn log_in_form(&self, user: &str) {
        self.type_into("#login-user", user).await;
        self.type_into("#login-password", &crate::common::password(user))
            .await;
        self.type_into("#login-password", "\u{E007}").await;
        self.wait_for(
            "the chat after logging in",
            "return document.querySelector('#me-name')?.textContent === arguments[0] && document.querySelector('#conn-status')?.dataset.status === 'online'",
            vec![json!(user)],
        )
        .await;
    }

    /// Opens the conversation `key` ("@bob", "#lobby") from the sidebar.
    pub async fn open(&self, key: &str) {
        self.click(&format!(".conv[data-key=\"{key}\"]")).await;
        self.wait_for("the conversation to open", "return document.querySelector('#composer') !== null && document.querySelector('#chat-title') !== null", vec![])
            .await;
    }

    /// Types `text` in the composer and presses Enter; waits until it is stored (not pending).
    pub async fn send(&self, text: &str) {
        self.type_into("#composer", text).await;
        self.type_into("#composer", "\u{E007}").await;
        self.wait_for(
            "the message to be stored",
            "return document.querySelectorAll('.msg[data-pending]').length === 0",
            vec![],
        )
        .await;
    }

    /// The timeline's messages, in order: [[seq, from, text], ...].
    pub async fn messages(&self) -> Vec<(u64, String, String)> {
        let value = self.js(MESSAGES, vec![]).await;
        serde_json::from_value(value).expect("messages")
    }

    /// Saves a PNG screenshot as `target/browser-screenshots/NAME.png`.
    pub async fn screenshot(&self, name: &str) -> PathBuf {
        let png = self.client.screenshot().await.expect("screenshot");
        let dir = screenshot_dir();
        std::fs::create_dir_all(&dir).expect("screenshot dir");
        let path = dir.join(format!("{name}.png"));
        std::fs::write(&path, png).expect("write screenshot");
        path
    }

    /// Closes the browser, failing the test if the page had an uncaught
    /// error or logged one.
    pub async fn close(self) {
        let errors = self.js("return window.pageErrors ?? []", vec![]).await;
        let _ = self.client.close().await;
        assert_eq!(errors, json!([]), "{}: the page had errors", self.name);
    }
}

/// An element that was redrawn between finding it and using it.
fn is_stale(e: &fantoccini::error::CmdError) -> bool {
    let text = e.to_string();
    text.contains("stale element") || text.contains("no such element")
}

/// `target/browser-screenshots` of the workspace (or of `CARGO_TARGET_DIR`).
pub fn screenshot_dir() -> PathBuf {
    let target = std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../target"));
    target.join("browser-screenshots")
}

/// The timeline's messages as [[seq, from, text], ...].
const MESSAGES: &str = "return [...document.querySelectorAll('#timeline .msg[data-seq]')].map(m => [Number(m.dataset.seq), m.dataset.from, m.querySelector('.text').textContent])";

/// What the page shows, for failure messages.
const DESCRIBE: &str = "return (document.querySelector('#app')?.innerText ?? '').slice(0, 3000) + '\\n--- toasts: ' + (document.querySelector('#toasts')?.innerText ?? '') + '\\n--- errors: ' + (window.pageErrors ?? []).join('\\n')";

/// Keeps the page's uncaught errors and `console.error`s in
/// `window.pageErrors`, for failure messages.
const CATCH_ERRORS: &str = "window.pageErrors = [];
    addEventListener('error', e => pageErrors.push(String(e.message)));
    addEventListener('unhandledrejection', e => pageErrors.push('unhandled: ' + String(e.reason?.stack ?? e.reason)));
    const consoleError = console.error.bind(console);
    console.error = (...args) => { pageErrors.push(args.map(String).join(' ')); consoleError(...args); };";
