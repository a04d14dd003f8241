//! The client's main loop: commands from input lines, one at a time, each
//! awaited before the next, while events are printed as they arrive.

use std::io::Write;
use std::time::Duration;

use chatcore::client::{Client, ClientError, Events};
use chatcore::protocol::{Event, Peer};
use tokio::sync::mpsc;

use super::command::{self, Command, SEARCH_LIMIT, USAGE};
use super::emoji::emojify;
use super::output::{FriendLine, Line, MessageLine, Payload, State};
use super::render::Style;

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
    },
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
        }
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
                event = self.events.next(), if !self.events_done => match event {
                    Some(event) => self.on_event(event),
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
        let response = perform(client, cmd);
        tokio::pin!(response);
        let line = loop {
            tokio::select! {
                // A response and an event ready together: the response first, so
                // `login` comes before its backlog.
                biased;
                line = &mut response => break line?,
                event = self.events.next(), if !self.events_done => match event {
                    Some(event) => self.on_event(event),
                    // The response fails next.
                    None => self.events_done = true,
                },
            }
        };
        let mut logged_in = false;
        if let Line::Ok { cmd, payload } = &line {
            match (*cmd, payload) {
                ("login", Payload::User { user }) => {
                    self.user = Some(user.clone());
                    logged_in = true;
                }
                ("logout", _) => self.user = None,
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
            match self.events.next().await {
                Some(event) => {
                    let done = matches!(event, Event::CaughtUp);
                    self.on_event(event);
                    if done {
                        return Ok(());
                    }
                }
                None => self.events_done = true,
            }
        }
        Err(Lost)
    }

    fn on_event(&mut self, event: Event) {
        if let Event::Kicked { .. } = event {
            self.user = None;
        }
        self.emit(&Line::from_event(event));
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
            while let Some(event) = self.events.next().await {
                self.on_event(event);
            }
        };
        let _ = tokio::time::timeout(CLOSE_TIMEOUT, drain).await;
    }

    fn show_prompt(&mut self) {
        if let Mode::Interactive {
            style,
            prompt: true,
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
        let _ = writeln!(self.out, "{text}");
        let _ = self.out.flush();
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

/// Carries out one command: the line to print, or `Lost`.
async fn perform(client: Client, cmd: Command) -> Result<Line, Lost> {
    let word = cmd.word();
    let result: Result<Payload, ClientError> = async {
        Ok(match cmd {
            Command::Register { user, pass } => {
                client.register(&user, &pass).await?;
                Payload::User { user }
            }
            Command::Login { user, pass } => Payload::User {
                user: client.login(&user, &pass).await?,
            },
            Command::Logout => {
                client.logout().await?;
                Payload::Empty
            }
            Command::Search { text } => Payload::Users {
                users: client.search_users(&text, SEARCH_LIMIT).await?,
            },
            Command::Add { user, note } => {
                let friends = client.friend_request(&user, &emojify(&note)).await?;
                let state = if friends {
                    State::Friends
                } else {
                    State::RequestSent
                };
                Payload::Requested { user, state }
            }
            Command::Accept { user } => {
                client.respond_friend(&user, true).await?;
                Payload::User { user }
            }
            Command::Reject { user } => {
                client.respond_friend(&user, false).await?;
                Payload::User { user }
            }
            Command::Remove { user } => {
                client.remove_friend(&user).await?;
                Payload::User { user }
            }
            Command::Block { user } => {
                client.block(&user).await?;
                Payload::User { user }
            }
            Command::Unblock { user } => {
                client.unblock(&user).await?;
                Payload::User { user }
            }
            Command::Friends => Payload::Friends {
                friends: client
                    .friends()
                    .await?
                    .into_iter()
                    .map(FriendLine::from)
                    .collect(),
            },
            Command::Online => {
                let users = client.online_friends().await?;
                let count = client.online_count().await?;
                Payload::Online { users, count }
            }
            Command::Msg { user, text } => {
                let text = emojify(&text);
                let sent = client.send_text(&user, &text).await?;
                Payload::Sent {
                    to: user,
                    text,
                    id: sent.id,
                    seq: sent.seq,
                    ts: sent.ts,
                }
            }
            Command::History { user, count } => {
                let mut page = client.history(Peer::User(user), None, count).await?;
                // The server pages newest first; people and scripts read oldest first.
                page.reverse();
                Payload::History {
                    messages: page.into_iter().map(MessageLine::from).collect(),
                }
            }
            Command::Help => Payload::Help {
                commands: USAGE.to_vec(),
            },
            Command::Quit => Payload::Empty,
        })
    }
    .await;
    match result {
        Ok(payload) => Ok(Line::ok(word, payload)),
        Err(ClientError::Refused(code)) => Ok(Line::refused(word, code)),
        Err(ClientError::Unexpected(what)) => Ok(Line::error(word, "unexpected_response", what)),
        Err(_) => Err(Lost),
    }
}

#[cfg(test)]
mod tests {
    use std::sync::{Arc, Mutex};

    use chatcore::auth::HashParams;
    use chatcore::engine::{Server, ServerConfig};
    use chatcore::store::MemoryStore;
    use chatcore::transport::memory::{self, MemoryConnector};
    use serde_json::Value;
    use tokio_util::sync::CancellationToken;

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
        let config = ServerConfig {
            hash_params: HashParams::insecure_fast(),
            ..ServerConfig::default()
        };
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
        let (bob, bob_events) = Client::connect(connector.connect().await.unwrap())
            .await
            .unwrap();
        let bob_out = Shared::default();
        let (bob_tx, bob_rx) = mpsc::unbounded_channel();
        let bob_app =
            tokio::spawn(App::new(bob, bob_events, bob_out.clone(), Mode::Json).run(bob_rx));
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
    async fn a_lost_connection_is_reported_and_exits_2() {
        let (connector, shutdown) = server();
        let (client, events) = Client::connect(connector.connect().await.unwrap())
            .await
            .unwrap();
        let out = Shared::default();
        let (_tx, rx) = mpsc::unbounded_channel();
        let app = tokio::spawn(App::new(client, events, out.clone(), Mode::Json).run(rx));
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
