//! The client's main loop: commands from input lines, one at a time, each
//! awaited before the next, while events are printed as they arrive.

use std::collections::{HashMap, HashSet};
use std::io::Write;
use std::time::Duration;

use chatcore::client::{Client, Events, Update};
use chatcore::protocol::{Event, Peer};
use tokio::sync::mpsc;

use super::command::{self, Command};
use super::conversations::{self, Conversations};
use super::device::DeviceSettings;
use super::output::{Line, Payload};
use super::render::Style;
use super::transfer::{FileFacts, Progress};

/// How long closing waits for the connection to wind down (pending acks sent,
/// the server's last events read) before giving up.
const CLOSE_TIMEOUT: Duration = Duration::from_secs(5);

/// How output is printed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    /// One JSON object per line.
    Json,
    /// Text for people.
    Interactive {
        /// How to render.
        style: Style,
        /// Show a prompt (stdin and stdout are terminals).
        prompt: bool,
        /// Show progress bars for uploads and downloads (stdout is a terminal).
        progress: bool,
    },
}

/// What the client knows of a file id, for checking a download.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Known {
    /// Name, size and hash (from `files`, or from your own `sendfile`).
    Facts(FileFacts),
    /// Only where it was shared (from a `file` event): `files` there tells the rest.
    In(Peer),
}

/// How the loop ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Exit {
    /// End of input or `quit`, after the last response.
    Done,
    /// The connection was lost.
    Disconnected,
}

impl Exit {
    /// The process exit status: 0, or 2 for a lost connection.
    pub fn code(self) -> u8 {
        match self {
            Exit::Done => 0,
            Exit::Disconnected => 2,
        }
    }
}

/// The connection went away while a command was running.
#[derive(Debug)]
struct Lost;

/// A connected client with its output.
#[derive(Debug)]
pub struct App<W> {
    client: Option<Client>,
    events: Events,
    /// The event stream has ended.
    events_done: bool,
    out: W,
    mode: Mode,
    /// Who is logged in, for the prompt and for rendering own messages.
    user: Option<String>,
    /// The prompt is on screen with the cursor after it.
    prompt_shown: bool,
    /// No more commands are read: no more prompts.
    closing: bool,
    /// Files seen in `files`, `sendfile` and `file` events, by id.
    known_files: HashMap<u64, Known>,
    /// The progress bar of the running transfer, if shown.
    progress: Progress,
    /// The device `login` logs in as (`--device`), if any.
    device: Option<DeviceSettings>,
    /// What this run has seen of each conversation.
    conversations: Conversations,
    /// The conversation (by [`conversations::key`]) of this client's latest
    /// `read`, and the seq it marked once answered: the `read` event it causes
    /// here too is not shown to people, who saw the answer.
    read_echo: Option<(Peer, Option<u64>)>,
    /// The conversations (by key) the login's `unread` listed: people are not
    /// shown a room's `room_unread` with other numbers besides.
    unread_listed: HashSet<Peer>,
}

impl<W: Write> App<W> {
    /// Wraps a connected client.
    pub fn new(client: Client, events: Events, out: W, mode: Mode) -> Self {
        App {
            client: Some(client),
            events,
            events_done: false,
            out,
            mode,
            user: None,
            prompt_shown: false,
            closing: false,
            known_files: HashMap::new(),
            progress: Progress::none(),
            device: None,
            conversations: Conversations::default(),
            read_echo: None,
            unread_listed: HashSet::new(),
        }
    }

    /// Logs in as `device` (`--device NAME`) rather than with a plain login.
    pub fn with_device(mut self, device: DeviceSettings) -> Self {
        self.device = Some(device);
        self
    }

    /// Runs commands from `input` (one line each) until it ends, `quit`, or the
    /// connection is lost.
    pub async fn run(mut self, mut input: mpsc::UnboundedReceiver<String>) -> Exit {
        if let Mode::Interactive { .. } = self.mode {
            if let Some(client) = &self.client {
                let hello = format!(
                    "connected to {}; type help for the commands",
                    client.server_name()
                );
                self.print_text(&hello);
            }
        }
        loop {
            self.show_prompt();
            tokio::select! {
                line = input.recv() => {
                    let Some(line) = line else { break };
                    self.prompt_shown = false;
                    match command::parse(&line) {
                        Ok(None) => {}
                        Ok(Some(Command::Quit)) => {
                            self.closing = true;
                            self.emit(&Line::ok("quit", Payload::Empty));
                            break;
                        }
                        Ok(Some(cmd)) => {
                            if self.execute(cmd).await.is_err() {
                                return self.lost();
                            }
                        }
                        Err(e) => self.emit(&Line::error(e.word, "bad_command", e.message)),
                    }
                }
                update = self.events.next_update(), if !self.events_done => match update {
                    Some(update) => self.on_update(update),
                    None => return self.lost(),
                },
            }
        }
        self.close().await;
        Exit::Done
    }

    fn lost(&mut self) -> Exit {
        self.closing = true;
        self.emit(&Line::Disconnected);
        Exit::Disconnected
    }

    /// Runs one command, printing events that arrive meanwhile.
    async fn execute(&mut self, cmd: Command) -> Result<(), Lost> {
        let client = self.client.clone().ok_or(Lost)?;
        let progress = match (&cmd, self.mode) {
            (
                Command::SendFile { .. } | Command::Download { .. },
                Mode::Interactive { progress: true, .. },
            ) => Progress::stdout(),
            _ => Progress::none(),
        };
        let known = match &cmd {
            Command::Download { id, .. } => self.known_files.get(id).cloned(),
            _ => None,
        };
        let newest = match &cmd {
            Command::Read { peer } => {
                self.read_echo = Some((conversations::key(peer), None));
                self.conversations.newest(peer)
            }
            _ => None,
        };
        let history_of = match &cmd {
            Command::History { user, .. } => Some(Peer::User(user.clone())),
            Command::RoomHistory { room, .. } => Some(Peer::Room(room.clone())),
            _ => None,
        };
        let reading = matches!(cmd, Command::Read { .. });
        // A login's backlog waits for its answer, which a new device gives
        // only once its id is kept: the events stay queued meanwhile.
        let hold_events = matches!(cmd, Command::Login { .. });
        self.progress = progress.clone();
        let device = self.device.clone();
        let response = perform(client, cmd, progress.clone(), known, device, newest);
        tokio::pin!(response);
        let line = loop {
            tokio::select! {
                // A response and an event ready together: the response first, so
                // `login` comes before its backlog.
                biased;
                line = &mut response => break line,
                update = self.events.next_update(), if !self.events_done && !hold_events => match update {
                    Some(update) => self.on_update(update),
                    // The response fails next.
                    None => self.events_done = true,
                },
            }
        };
        progress.finish();
        self.progress = Progress::none();
        let line = line?;
        let mut logged_in = false;
        if reading {
            // The echo of the mark just made is still to come, if it moved.
            self.read_echo = match (&line, self.read_echo.take()) {
                (
                    Line::Ok {
                        payload: Payload::Marked { seq, .. },
                        ..
                    },
                    Some((peer, None)),
                ) if *seq > 0 => Some((peer, Some(*seq))),
                _ => None,
            };
        }
        if let Line::Ok { cmd, payload } = &line {
            match (*cmd, payload) {
                ("login", Payload::User { user } | Payload::LoggedInDevice { user, .. }) => {
                    self.set_user(Some(user.clone()));
                    logged_in = true;
                }
                ("logout", _) => self.set_user(None),
                (_, Payload::Sent { to, id, seq, .. }) => self.conversations.sent(to, *seq, *id),
                (_, Payload::Said { room, seq, .. }) => {
                    self.conversations.saw(&Peer::Room(room.clone()), *seq);
                }
                (_, Payload::History { messages }) => {
                    let newest = messages.iter().map(|m| m.seq).max();
                    if let (Some(peer), Some(seq)) = (&history_of, newest) {
                        self.conversations.saw(peer, seq);
                    }
                }
                (_, Payload::Files { files }) => {
                    for f in files {
                        self.know(f.id, &f.name, f.size, &f.sha256);
                    }
                }
                (
                    _,
                    Payload::FileSent {
                        id,
                        name,
                        size,
                        sha256,
                        ..
                    },
                ) => self.know(*id, name, *size, sha256),
                _ => {}
            }
        }
        self.emit(&line);
        if logged_in {
            self.await_caught_up().await?;
        }
        Ok(())
    }

    /// A login is complete once its backlog is printed: the next command runs
    /// after `caught_up`.
    async fn await_caught_up(&mut self) -> Result<(), Lost> {
        while !self.events_done {
            match self.events.next_update().await {
                Some(update) => {
                    let done = matches!(update, Update::Event(Event::CaughtUp));
                    self.on_update(update);
                    if done {
                        return Ok(());
                    }
                }
                None => self.events_done = true,
            }
        }
        Err(Lost)
    }

    fn know(&mut self, id: u64, name: &str, size: u64, sha256: &str) {
        let facts = FileFacts {
            name: name.to_string(),
            size,
            sha256: sha256.to_string(),
        };
        self.known_files.insert(id, Known::Facts(facts));
    }

    /// Who is logged in now, if anyone.
    fn set_user(&mut self, user: Option<String>) {
        if let Some(user) = &user {
            self.conversations.logged_in(user);
        }
        self.user = user;
        self.read_echo = None;
    }

    /// An event, or news of a connection that moves between addresses.
    fn on_update(&mut self, update: Update) {
        let line = match update {
            Update::Event(event) => return self.on_event(event),
            Update::Disconnected { addr, error } => Line::Reconnecting { addr, error },
            Update::Reconnected { addr } => Line::Reconnected { addr },
            Update::LoginRefused { code } => {
                self.set_user(None);
                Line::LoginRefused {
                    code: code.as_str(),
                    message: code.message(),
                }
            }
            other => {
                tracing::debug!(update = ?other, "not shown");
                return;
            }
        };
        self.emit(&line);
    }

    fn on_event(&mut self, event: Event) {
        match &event {
            Event::Kicked { .. } => self.set_user(None),
            Event::Message(m) => self.conversations.saw_message(self.user.as_deref(), m),
            Event::Unread(unread) => {
                self.unread_listed.clear();
                for u in unread {
                    self.conversations.saw(&u.peer, u.last_seq);
                    self.unread_listed.insert(conversations::key(&u.peer));
                }
            }
            Event::RoomUnread { room, last_seq, .. } => {
                self.conversations.saw(&Peer::Room(room.clone()), *last_seq);
            }
            Event::ReadUpTo { peer, seq, .. } => self.conversations.saw(peer, *seq),
            Event::Read { by: user, seq } | Event::DeliveredTo { peer: user, seq } => {
                self.conversations.saw(&Peer::User(user.clone()), *seq);
            }
            Event::FileShared { id, from, to, .. } => {
                // Where `files` will list it: the room, or the conversation.
                let mine = self
                    .user
                    .as_deref()
                    .is_some_and(|me| me.eq_ignore_ascii_case(from));
                let place = match to {
                    Peer::User(to) if mine => Peer::User(to.clone()),
                    Peer::User(_) => Peer::User(from.clone()),
                    Peer::Room(room) => Peer::Room(room.clone()),
                };
                self.known_files.entry(*id).or_insert(Known::In(place));
            }
            _ => {}
        }
        let shown = self.shown(&event);
        if let Event::CaughtUp = event {
            self.unread_listed.clear();
        }
        let mut line = Line::from_event(event);
        if let Line::Delivered {
            ids,
            peer: Some(peer),
            seq: Some(seq),
        } = &mut line
        {
            *ids = self.conversations.delivered(peer, *seq);
        }
        if shown {
            self.emit(&line);
        }
    }

    /// Whether to print an event: in JSON, every one. People are spared two
    /// repeats: the `read` event of this client's own `read` (its answer said
    /// so already), and at login a room's `room_unread` when `unread` counted
    /// the room (with other numbers: delivered rather than read).
    fn shown(&mut self, event: &Event) -> bool {
        if self.mode == Mode::Json {
            return true;
        }
        match event {
            Event::ReadUpTo { peer, seq, .. } => match &self.read_echo {
                Some((mine, want))
                    if *mine == conversations::key(peer) && want.is_none_or(|w| w == *seq) =>
                {
                    self.read_echo = None;
                    false
                }
                _ => true,
            },
            Event::RoomUnread { room, .. } => !self
                .unread_listed
                .contains(&conversations::key(&Peer::Room(room.clone()))),
            _ => true,
        }
    }

    /// Lets the connection close cleanly: the client is dropped, so the driver
    /// sends the last acks and closes; events that still arrive are printed.
    async fn close(&mut self) {
        self.closing = true;
        if self.prompt_shown {
            // End of input at the prompt (Ctrl-D): end the prompt's line.
            let _ = writeln!(self.out);
            let _ = self.out.flush();
            self.prompt_shown = false;
        }
        drop(self.client.take());
        if self.events_done {
            return;
        }
        let drain = async {
            while let Some(update) = self.events.next_update().await {
                self.on_update(update);
            }
        };
        let _ = tokio::time::timeout(CLOSE_TIMEOUT, drain).await;
    }

    fn show_prompt(&mut self) {
        if let Mode::Interactive {
            style,
            prompt: true,
            ..
        } = self.mode
        {
            if !self.prompt_shown && !self.closing {
                let _ = write!(self.out, "{}", style.prompt(self.user.as_deref()));
                let _ = self.out.flush();
                self.prompt_shown = true;
            }
        }
    }

    fn print_text(&mut self, text: &str) {
        if self.prompt_shown {
            // Clear the prompt line; the prompt is printed again after the text.
            let _ = write!(self.out, "\r\x1b[K");
            self.prompt_shown = false;
        }
        // A progress bar on screen steps aside for the line.
        let out = &mut self.out;
        self.progress.suspend(|| {
            let _ = writeln!(out, "{text}");
            let _ = out.flush();
        });
    }

    fn emit(&mut self, line: &Line) {
        let text = match self.mode {
            Mode::Json => line.to_json(),
            Mode::Interactive { style, .. } => style.render(line, self.user.as_deref()),
        };
        self.print_text(&text);
        self.show_prompt();
    }
}

mod perform;
use perform::perform;

#[cfg(test)]
mod tests {
    use std::sync::{Arc, Mutex};

    use chatcore::auth::HashParams;
    use chatcore::engine::{Server, ServerConfig};
    use chatcore::store::MemoryStore;
    use chatcore::transport::memory::{self, MemoryConnector};
    use serde_json::Value;
    use tokio_util::sync::CancellationToken;

    use super::super::transfer::{self, Failure};
    use super::*;

    /// Output shared with the test.
    #[derive(Debug, Clone, Default)]
    struct Shared(Arc<Mutex<Vec<u8>>>);

    impl Write for Shared {
        fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
            self.0.lock().unwrap().extend_from_slice(buf);
            Ok(buf.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }

    impl Shared {
        fn text(&self) -> String {
            String::from_utf8(self.0.lock().unwrap().clone()).unwrap()
        }
        fn json(&self) -> Vec<Value> {
            self.text()
                .lines()
                .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("{l}: {e}")))
                .collect()
        }
    }

    fn server() -> (MemoryConnector, CancellationToken) {
        let mut config = ServerConfig::default();
        config.hash_params = HashParams::insecure_fast();
        let server = Server::new(Arc::new(MemoryStore::new()), config).unwrap();
        let (listener, connector) = memory::listener();
        let shutdown = CancellationToken::new();
        tokio::spawn(server.serve(listener, shutdown.clone()));
        (connector, shutdown)
    }

    async fn run_lines(connector: &MemoryConnector, mode: Mode, lines: &[&str]) -> (Exit, Shared) {
        let (client, events) = Client::connect(connector.connect().await.unwrap())
            .await
            .unwrap();
        let out = Shared::default();
        let (tx, rx) = mpsc::unbounded_channel();
        for line in lines {
            tx.send(line.to_string()).unwrap();
        }
        drop(tx);
        let exit = App::new(client, events, out.clone(), mode).run(rx).await;
        (exit, out)
    }

    /// A connected JSON-mode app that stays running, fed line by line through
    /// the sender; it ends when the sender is dropped.
    async fn fed_app(
        connector: &MemoryConnector,
    ) -> (
        mpsc::UnboundedSender<String>,
        Shared,
        tokio::task::JoinHandle<Exit>,
    ) {
        let (client, events) = Client::connect(connector.connect().await.unwrap())
            .await
            .unwrap();
        let out = Shared::default();
        let (tx, rx) = mpsc::unbounded_channel();
        let app = tokio::spawn(App::new(client, events, out.clone(), Mode::Json).run(rx));
        (tx, out, app)
    }

    fn find(lines: &[Value], pred: impl Fn(&Value) -> bool) -> &Value {
        lines
            .iter()
            .find(|v| pred(v))
            .unwrap_or_else(|| panic!("not found in {lines:#?}"))
    }

    #[tokio::test]
    async fn json_mode_answers_every_command_in_order_and_exits_cleanly() {
        let (connector, _shutdown) = server();
        let (exit, out) = run_lines(
            &connector,
            Mode::Json,
            &[
                "friends",
                "register ann password-ann",
                "",
                "login ann password-ann",
                "frobnicate",
                "search an",
                "online",
                "msg ann hi",
                "history ann 5",
                "help",
                "logout",
            ],
        )
        .await;
        assert_eq!(exit, Exit::Done);
        let lines = out.json();
        let responses: Vec<(&str, &str)> = lines
            .iter()
            .filter(|v| v["type"] == "ok" || v["type"] == "error")
            .map(|v| (v["type"].as_str().unwrap(), v["cmd"].as_str().unwrap()))
            .collect();
        assert_eq!(
            responses,
            [
                ("error", "friends"),
                ("ok", "register"),
                ("ok", "login"),
                ("error", "frobnicate"),
                ("ok", "search"),
                ("ok", "online"),
                ("error", "msg"),
                ("ok", "history"),
                ("ok", "help"),
                ("ok", "logout"),
            ]
        );
        assert_eq!(lines[0]["code"], "not_authenticated");
        assert_eq!(lines[0]["message"], "log in first");
        find(&lines, |v| v["type"] == "caught_up");
        let bad = find(&lines, |v| v["cmd"] == "frobnicate");
        assert_eq!(bad["code"], "bad_command");
        let search = find(&lines, |v| v["cmd"] == "search");
        assert_eq!(search["users"], serde_json::json!(["ann"]));
        let online = find(&lines, |v| v["cmd"] == "online");
        assert_eq!(online["count"], 1);
        assert_eq!(online["users"], serde_json::json!([]));
        let msg = find(&lines, |v| v["cmd"] == "msg");
        assert_eq!(msg["code"], "not_friends");
    }

    #[tokio::test]
    async fn two_clients_chat_with_emoji_and_receipts() {
        let (connector, _shutdown) = server();
        let (_, _) = run_lines(
            &connector,
            Mode::Json,
            &["register ann password-ann", "register bob password-bob"],
        )
        .await;

        // bob stays connected, fed line by line.
        let (bob_tx, bob_out, bob_app) = fed_app(&connector).await;
        bob_tx.send("login bob password-bob".into()).unwrap();
        wait_for(&bob_out, |v| v["type"] == "caught_up").await;

        let (_, ann_out) = run_lines(
            &connector,
            Mode::Json,
            &["login ann password-ann", "add bob hello :wave:"],
        )
        .await;
        let add = find(&ann_out.json(), |v| v["cmd"] == "add").clone();
        assert_eq!(add["state"], "request_sent");
        let request = wait_for(&bob_out, |v| v["type"] == "friend_request").await;
        assert_eq!(request["from"], "ann");
        assert_eq!(request["note"], "hello 👋");

        bob_tx.send("accept ann".into()).unwrap();
        bob_tx.send("msg ann hi :smile: :nope:".into()).unwrap();
        let sent = wait_for(&bob_out, |v| v["cmd"] == "msg").await;
        assert_eq!(sent["type"], "ok", "{sent}");
        assert_eq!(sent["text"], "hi 😄 :nope:");

        // ann reads it at login (offline delivery); bob gets the receipt.
        let (_, ann_out) = run_lines(&connector, Mode::Json, &["login ann password-ann"]).await;
        let message = find(&ann_out.json(), |v| v["type"] == "message").clone();
        assert_eq!(message["id"], sent["id"]);
        assert_eq!(message["from"], "bob");
        assert_eq!(message["to"], "ann");
        assert_eq!(message["text"], "hi 😄 :nope:");
        let delivered = wait_for(&bob_out, |v| v["type"] == "delivered").await;
        assert_eq!(delivered["ids"], serde_json::json!([sent["id"]]));

        bob_tx.send("quit".into()).unwrap();
        assert_eq!(bob_app.await.unwrap(), Exit::Done);
        let quit = find(&bob_out.json(), |v| v["cmd"] == "quit").clone();
        assert_eq!(quit, serde_json::json!({"type":"ok","cmd":"quit"}));
    }

    #[tokio::test]
    async fn read_marks_up_to_what_was_seen_else_the_newest_message() {
        let (connector, _shutdown) = server();
        let json = |lines: &'static [&'static str]| run_lines(&connector, Mode::Json, lines);
        json(&["register ann password-ann", "register bob password-bob"]).await;
        json(&["login ann password-ann", "add bob"]).await;
        json(&["login bob password-bob", "accept ann"]).await;
        let (_, ann_out) = json(&["login ann password-ann", "msg bob one", "msg bob two"]).await;
        let two = find(&ann_out.json(), |v| v["text"] == "two").clone();

        // bob, interactively: the unread count at login, his mark up to what
        // came in the backlog, without its echo; an empty room has nothing to mark.
        let mode = Mode::Interactive {
            style: Style { color: false },
            prompt: false,
            progress: false,
        };
        let (_, bob_out) = run_lines(
            &connector,
            mode,
            &[
                "login bob password-bob",
                "read ann",
                "room create quiet",
                "read #quiet",
                "receipts off",
            ],
        )
        .await;
        let text = bob_out.text();
        assert!(text.contains("ann: 2 unread"), "{text}");
        assert!(
            text.contains(&format!("marked ann read up to #{}", two["seq"])),
            "{text}"
        );
        assert!(!text.contains("read ann up to"), "{text}");
        assert!(text.contains("nothing to mark read with #quiet"), "{text}");
        assert!(text.contains("read receipts off"), "{text}");

        // A new run has seen nothing: the newest message tells where to mark.
        let (_, bob_out) = json(&["login bob password-bob", "read ann"]).await;
        let read = find(&bob_out.json(), |v| v["cmd"] == "read").clone();
        assert_eq!(
            read,
            serde_json::json!({"type":"ok","cmd":"read","peer":"ann","seq":two["seq"]})
        );

        // ann learns, at her next login, that bob got and read her messages
        // (by seq: this run of hers sent nothing).
        let (_, ann_out) = json(&["login ann password-ann"]).await;
        let lines = ann_out.json();
        let delivered = find(&lines, |v| v["type"] == "delivered");
        assert_eq!(
            *delivered,
            serde_json::json!({"type":"delivered","ids":[],"peer":"bob","seq":two["seq"]})
        );
        let read_by = find(&lines, |v| v["type"] == "read_by");
        assert_eq!(
            *read_by,
            serde_json::json!({"type":"read_by","user":"bob","seq":two["seq"]})
        );
    }

    #[tokio::test]
    async fn a_lost_connection_is_reported_and_exits_2() {
        let (connector, shutdown) = server();
        let (_tx, out, app) = fed_app(&connector).await;
        shutdown.cancel();
        assert_eq!(app.await.unwrap(), Exit::Disconnected);
        let lines = out.json();
        assert_eq!(lines.first().unwrap()["type"], "server_shutdown");
        assert_eq!(lines.last().unwrap()["type"], "disconnected");
        assert_eq!(Exit::Disconnected.code(), 2);
    }

    #[tokio::test]
    async fn interactive_mode_renders_text_with_a_prompt() {
        let (connector, _shutdown) = server();
        let mode = Mode::Interactive {
            style: Style { color: false },
            prompt: true,
            progress: false,
        };
        let (exit, out) = run_lines(
            &connector,
            mode,
            &[
                "register ann password-ann",
                "login ann password-ann",
                "friends",
                "bogus",
            ],
        )
        .await;
        assert_eq!(exit, Exit::Done);
        let text = out.text();
        assert!(text.contains("registered ann"), "{text}");
        assert!(text.contains("logged in as ann"), "{text}");
        assert!(text.contains("ann> "), "{text}");
        assert!(text.contains("no friends yet"), "{text}");
        assert!(text.contains("unknown command \"bogus\""), "{text}");
        assert!(!text.contains('{'), "{text}");
    }

    #[tokio::test]
    async fn rooms_and_files_over_an_in_process_server() {
        let (connector, _shutdown) = server();
        let dir = tempfile::tempdir().unwrap();
        let data: Vec<u8> = (0..600_000u32).map(|i| (i * 7 % 256) as u8).collect();
        let src = dir.path().join("source.bin");
        std::fs::write(&src, &data).unwrap();
        let (_, _) = run_lines(
            &connector,
            Mode::Json,
            &["register ann password-ann", "register bob password-bob"],
        )
        .await;

        let (bob_tx, bob_out, bob_app) = fed_app(&connector).await;
        bob_tx.send("login bob password-bob".into()).unwrap();
        wait_for(&bob_out, |v| v["type"] == "caught_up").await;
        bob_tx.send("room create lobby".into()).unwrap();
        let created = wait_for(&bob_out, |v| v["cmd"] == "room").await;
        assert_eq!(
            created,
            serde_json::json!({"type":"ok","cmd":"room","action":"create","room":"lobby"})
        );

        let send = format!("sendfile #lobby {}", src.display());
        let (_, ann_out) = run_lines(
            &connector,
            Mode::Json,
            &[
                "login ann password-ann",
                "room join #lobby",
                "say lobby hi :wave:",
                "rooms",
                "members lobby",
                &send,
                "sendfile #lobby /no/such/file.bin",
                "history #lobby",
            ],
        )
        .await;
        let ann = ann_out.json();
        let said = find(&ann, |v| v["cmd"] == "say").clone();
        assert_eq!(said["type"], "ok", "{said}");
        assert_eq!(said["text"], "hi 👋");
        let echo = find(&ann, |v| v["type"] == "room_message");
        assert_eq!(echo["id"], said["id"]);
        let rooms = find(&ann, |v| v["cmd"] == "rooms");
        assert_eq!(
            rooms["rooms"],
            serde_json::json!([{"name":"lobby","owner":"bob","members":2,"joined":true}])
        );
        let members = find(&ann, |v| v["cmd"] == "members");
        assert_eq!(members["members"].as_array().unwrap().len(), 2);
        let sent = find(&ann, |v| v["cmd"] == "sendfile" && v["type"] == "ok").clone();
        assert_eq!(sent["to"], "#lobby");
        assert_eq!(sent["name"], "source.bin");
        assert_eq!(sent["size"], data.len());
        let sha = hex::encode(<sha2::Sha256 as sha2::Digest>::digest(&data));
        assert_eq!(sent["sha256"], sha.as_str());
        let missing = find(&ann, |v| v["cmd"] == "sendfile" && v["type"] == "error");
        assert_eq!(missing["code"], "io_error");
        let history = find(&ann, |v| v["cmd"] == "history");
        assert_eq!(history["messages"][0]["to"], "#lobby");
        assert_eq!(history["messages"][0]["id"], said["id"]);

        // bob knows of the file from the `file` event alone.
        let joined = wait_for(&bob_out, |v| v["type"] == "room_joined").await;
        assert_eq!(joined["user"], "ann");
        let message = wait_for(&bob_out, |v| v["type"] == "room_message").await;
        assert_eq!(message["from"], "ann");
        assert_eq!(message["room"], "lobby");
        let shared = wait_for(&bob_out, |v| v["type"] == "file").await;
        assert_eq!(shared["id"], sent["id"]);
        assert_eq!(shared["to"], "#lobby");
        let into = dir.path().join("got");
        std::fs::create_dir(&into).unwrap();
        bob_tx
            .send(format!("download {} {}", sent["id"], into.display()))
            .unwrap();
        bob_tx.send("download 999999 nowhere.bin".into()).unwrap();
        let got = wait_for(&bob_out, |v| v["cmd"] == "download").await;
        assert_eq!(got["type"], "ok", "{got}");
        assert_eq!(got["sha256"], sha.as_str());
        let saved = into.join("source.bin");
        assert_eq!(got["path"], saved.display().to_string());
        assert_eq!(std::fs::read(&saved).unwrap(), data);
        // Nothing but the file: the temporary file was renamed into place.
        assert_eq!(std::fs::read_dir(&into).unwrap().count(), 1);
        let unknown = wait_for(&bob_out, |v| v["cmd"] == "download" && v["type"] == "error").await;
        assert_eq!(unknown["code"], "no_such_file");

        bob_tx.send("room delete lobby".into()).unwrap();
        bob_tx.send("quit".into()).unwrap();
        assert_eq!(bob_app.await.unwrap(), Exit::Done);
        let deleted = find(&bob_out.json(), |v| {
            v["cmd"] == "room" && v["action"] == "delete"
        })
        .clone();
        assert_eq!(deleted["type"], "ok");
    }

    #[tokio::test]
    async fn a_download_that_does_not_match_its_checksum_is_not_saved() {
        let (connector, _shutdown) = server();
        let dir = tempfile::tempdir().unwrap();
        let src = dir.path().join("a.bin");
        std::fs::write(&src, vec![7u8; 300_000]).unwrap();
        let (client, _events) = Client::connect(connector.connect().await.unwrap())
            .await
            .unwrap();
        client.register("ann", "password-ann").await.unwrap();
        client.login("ann", "password-ann").await.unwrap();
        client.create_room("lobby").await.unwrap();
        let sent =
            transfer::send_file(&client, Peer::Room("lobby".into()), &src, &Progress::none())
                .await
                .unwrap();
        assert_eq!(sent.name, "a.bin");
        let out = dir.path().join("out");
        std::fs::create_dir(&out).unwrap();
        let target = out.join("b.bin");
        let wrong = [
            FileFacts {
                name: sent.name.clone(),
                size: sent.size,
                sha256: "00".repeat(32),
            },
            FileFacts {
                name: sent.name.clone(),
                size: sent.size + 1,
                sha256: sent.sha256.clone(),
            },
        ];
        for facts in wrong {
            match transfer::download(&client, sent.id, &facts, &target, &Progress::none()).await {
                Err(Failure::Local { code, .. }) => assert_eq!(code, "checksum_mismatch"),
                other => panic!("{other:?}"),
            }
            // Neither the target nor the temporary file is left behind.
            assert_eq!(std::fs::read_dir(&out).unwrap().count(), 0);
        }
        let right = FileFacts {
            name: sent.name.clone(),
            size: sent.size,
            sha256: sent.sha256.clone(),
        };
        let saved = transfer::download(&client, sent.id, &right, &target, &Progress::none())
            .await
            .unwrap();
        assert_eq!(saved.path, target);
        assert_eq!(std::fs::read(&target).unwrap(), vec![7u8; 300_000]);
        // An empty file goes through too.
        let empty = dir.path().join("empty");
        std::fs::write(&empty, b"").unwrap();
        let sent = transfer::send_file(
            &client,
            Peer::Room("lobby".into()),
            &empty,
            &Progress::none(),
        )
        .await
        .unwrap();
        assert_eq!(sent.size, 0);
    }

    async fn wait_for(out: &Shared, pred: impl Fn(&Value) -> bool) -> Value {
        let found = tokio::time::timeout(Duration::from_secs(10), async {
            loop {
                if let Some(v) = out.json().into_iter().find(|v| pred(v)) {
                    return v;
                }
                tokio::time::sleep(Duration::from_millis(10)).await;
            }
        })
        .await;
        found.unwrap_or_else(|_| panic!("timed out; output so far:\n{}", out.text()))
    }
}
