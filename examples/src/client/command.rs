//! The command language of `chat-client`, the same in interactive and `--json`
//! mode: one command per line, a command word and its arguments.

use std::fmt;

use chatcore::protocol::Peer;

/// How many messages `history USER` shows without a count.
pub const DEFAULT_HISTORY: u32 = 20;

/// How many names `search` asks for.
pub const SEARCH_LIMIT: u32 = 50;

/// One usage line per command, in the order `help` lists them.
pub const USAGE: &[&str] = &[
    "register USER PASS      create an account (PASS is the rest of the line)",
    "login USER PASS         log in (PASS is the rest of the line)",
    "logout                  log out; the connection stays open",
    "search TEXT             users whose name starts with TEXT",
    "add USER [NOTE...]      ask USER to be your friend",
    "accept USER             accept USER's friend request",
    "reject USER             reject USER's friend request",
    "remove USER             end a friendship",
    "block USER              block USER (ends any friendship)",
    "unblock USER            lift a block",
    "friends                 friends, pending requests and blocks, with presence",
    "online                  friends online now, and how many users are online",
    "msg USER TEXT...        send TEXT to USER (:smile: style shortcodes become emoji)",
    "history USER [N]        the last N messages with USER (default 20)",
    "room create NAME        create a room (you own it and are its first member)",
    "room join NAME          join a room; its recent messages follow",
    "room leave NAME         leave a room",
    "room delete NAME        delete a room you own",
    "rooms                   all rooms, with owner, member count and whether you joined",
    "members NAME            a room's members, with presence",
    "say NAME TEXT...        send TEXT to room NAME (:smile: style shortcodes become emoji)",
    "history #NAME [N]       the last N messages of room NAME (default 20)",
    "sendfile USER|#ROOM PATH  send the file at PATH to a friend or a room",
    "files USER|#ROOM        files shared with USER or in room ROOM",
    "download FILE_ID PATH   save a shared file to PATH (checked against its sha-256)",
    "typing USER|#ROOM       tell a friend or a room you are typing (they see it for 5 s)",
    "read USER|#ROOM         mark a conversation read up to its newest message (your devices and USER learn it)",
    "receipts on|off         whether others learn what you read (on by default)",
    "devices                 your devices, with which are online (log in with --device NAME)",
    "revoke DEVICE           revoke a device (its id or name): its sessions end, it can no longer log in",
    "quit                    close the connection and exit",
    "help                    this list",
];

/// A parsed command line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Command {
    /// `register USER PASS`
    Register {
        /// The user name.
        user: String,
        /// The password (the rest of the line).
        pass: String,
    },
    /// `login USER PASS`
    Login {
        /// The user name.
        user: String,
        /// The password (the rest of the line).
        pass: String,
    },
    /// `logout`
    Logout,
    /// `search TEXT`
    Search {
        /// What names must contain.
        text: String,
    },
    /// `add USER [NOTE…]`
    Add {
        /// Who to ask.
        user: String,
        /// The note (may be empty).
        note: String,
    },
    /// `accept USER`
    Accept {
        /// Whose request.
        user: String,
    },
    /// `reject USER`
    Reject {
        /// Whose request.
        user: String,
    },
    /// `remove USER`
    Remove {
        /// The friend.
        user: String,
    },
    /// `block USER`
    Block {
        /// Who to block.
        user: String,
    },
    /// `unblock USER`
    Unblock {
        /// Who to unblock.
        user: String,
    },
    /// `friends`
    Friends,
    /// `online`
    Online,
    /// `msg USER TEXT…`
    Msg {
        /// The recipient.
        user: String,
        /// The text (the rest of the line, spacing kept).
        text: String,
    },
    /// `history USER [N]`
    History {
        /// The other side of the conversation.
        user: String,
        /// How many messages.
        count: u32,
    },
    /// `room create|join|leave|delete NAME`
    Room {
        /// What to do.
        action: RoomAction,
        /// The room (without a leading `#`).
        room: String,
    },
    /// `rooms`
    Rooms,
    /// `members NAME`
    Members {
        /// The room.
        room: String,
    },
    /// `say NAME TEXT…`
    Say {
        /// The room.
        room: String,
        /// The text (the rest of the line, spacing kept).
        text: String,
    },
    /// `history #NAME [N]`
    RoomHistory {
        /// The room (without the `#`).
        room: String,
        /// How many messages.
        count: u32,
    },
    /// `sendfile USER|#ROOM PATH`
    SendFile {
        /// A friend, or a room.
        to: Peer,
        /// The local file (the rest of the line).
        path: String,
    },
    /// `files USER|#ROOM`
    Files {
        /// The conversation or room.
        with: Peer,
    },
    /// `download FILE_ID PATH`
    Download {
        /// The file id (from a `file` event or `files`).
        id: u64,
        /// Where to save it (the rest of the line); a directory keeps the
        /// file's own name.
        path: String,
    },
    /// `typing USER|#ROOM`
    Typing {
        /// Where.
        to: Peer,
    },
    /// `read USER|#ROOM`
    Read {
        /// The conversation.
        peer: Peer,
    },
    /// `receipts on|off`
    Receipts {
        /// Tell others what you read.
        on: bool,
    },
    /// `devices`
    Devices,
    /// `revoke DEVICE`
    Revoke {
        /// The device's id or name.
        device: String,
    },
    /// `quit`
    Quit,
    /// `help`
    Help,
}

/// What `room` does.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RoomAction {
    /// `room create`: you become owner and first member.
    Create,
    /// `room join`.
    Join,
    /// `room leave`.
    Leave,
    /// `room delete` (owner only).
    Delete,
}

impl RoomAction {
    /// The action word, as typed and as in the `action` field of the response.
    pub fn as_str(self) -> &'static str {
        match self {
            RoomAction::Create => "create",
            RoomAction::Join => "join",
            RoomAction::Leave => "leave",
            RoomAction::Delete => "delete",
        }
    }

    fn parse(word: &str) -> Option<RoomAction> {
        Some(match word.to_lowercase().as_str() {
            "create" => RoomAction::Create,
            "join" => RoomAction::Join,
            "leave" => RoomAction::Leave,
            "delete" => RoomAction::Delete,
            _ => return None,
        })
    }
}

impl Command {
    /// The command word, as used in the `cmd` field of JSON responses.
    pub fn word(&self) -> &'static str {
        match self {
            Command::Register { .. } => "register",
            Command::Login { .. } => "login",
            Command::Logout => "logout",
            Command::Search { .. } => "search",
            Command::Add { .. } => "add",
            Command::Accept { .. } => "accept",
            Command::Reject { .. } => "reject",
            Command::Remove { .. } => "remove",
            Command::Block { .. } => "block",
            Command::Unblock { .. } => "unblock",
            Command::Friends => "friends",
            Command::Online => "online",
            Command::Msg { .. } => "msg",
            Command::History { .. } | Command::RoomHistory { .. } => "history",
            Command::Room { .. } => "room",
            Command::Rooms => "rooms",
            Command::Members { .. } => "members",
            Command::Say { .. } => "say",
            Command::SendFile { .. } => "sendfile",
            Command::Files { .. } => "files",
            Command::Download { .. } => "download",
            Command::Typing { .. } => "typing",
            Command::Read { .. } => "read",
            Command::Receipts { .. } => "receipts",
            Command::Devices => "devices",
            Command::Revoke { .. } => "revoke",
            Command::Quit => "quit",
            Command::Help => "help",
        }
    }
}

/// Why a line is not a command.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ParseError {
    /// The command word as typed (lower-cased), or empty.
    pub word: String,
    /// What is wrong, with the usage when the word is known.
    pub message: String,
}

impl fmt::Display for ParseError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for ParseError {}

/// Splits off the first whitespace-separated word; the rest keeps its inner
/// spacing but loses leading whitespace.
fn split_word(s: &str) -> (&str, &str) {
    let s = s.trim_start();
    match s.find(char::is_whitespace) {
        Some(i) => (&s[..i], s[i..].trim_start()),
        None => (s, ""),
    }
}

fn usage_of(word: &str) -> Option<&'static str> {
    USAGE.iter().copied().find(|u| split_word(u).0 == word)
}

/// A room name as typed, with or without a leading `#`.
fn room_name(word: &str) -> &str {
    word.strip_prefix('#').unwrap_or(word)
}

/// `USER` or `#ROOM`; `None` for a bare `#`.
fn peer(word: &str) -> Option<Peer> {
    match word.strip_prefix('#') {
        Some("") => None,
        Some(room) => Some(Peer::Room(room.to_string())),
        None => Some(Peer::User(word.to_string())),
    }
}

/// Parses one line. `Ok(None)` for a blank line.
pub fn parse(line: &str) -> Result<Option<Command>, ParseError> {
    let line = line.trim();
    if line.is_empty() {
        return Ok(None);
    }
    let (word, rest) = split_word(line);
    let word = word.to_lowercase();
    let bad = |why: &str| {
        let message = match usage_of(&word) {
            Some(usage) => {
                let usage = usage.split("  ").next().unwrap_or(usage).trim();
                format!("{why}; usage: {usage}")
            }
            None => why.to_string(),
        };
        ParseError {
            word: word.clone(),
            message,
        }
    };
    // Exactly one argument, a user name.
    let one_user = |rest: &str| -> Result<String, ParseError> {
        match split_word(rest) {
            ("", _) => Err(bad("missing USER")),
            (user, "") => Ok(user.to_string()),
            _ => Err(bad("too many arguments")),
        }
    };
    let no_args = |rest: &str, cmd: Command| {
        if rest.is_empty() {
            Ok(cmd)
        } else {
            Err(bad("this command takes no arguments"))
        }
    };
    // USER and the rest of the line, which must not be empty.
    let user_and_rest = |rest: &str, what: &str| -> Result<(String, String), ParseError> {
        match split_word(rest) {
            ("", _) => Err(bad("missing USER")),
            (_, "") => Err(bad(&format!("missing {what}"))),
            (user, rest) => Ok((user.to_string(), rest.to_string())),
        }
    };
    // Exactly one argument, a room name (a leading `#` is allowed).
    let one_room = |rest: &str| -> Result<String, ParseError> {
        match split_word(rest) {
            ("", _) => Err(bad("missing NAME")),
            (name, "") => match room_name(name) {
                "" => Err(bad("missing NAME")),
                room => Ok(room.to_string()),
            },
            _ => Err(bad("too many arguments")),
        }
    };
    // A positive count, or the default.
    let count = |n: &str| -> Result<u32, ParseError> {
        if n.is_empty() {
            return Ok(DEFAULT_HISTORY);
        }
        match n.parse::<u32>() {
            Ok(count) if count > 0 => Ok(count),
            _ => Err(bad("N must be a positive number")),
        }
    };
    let command = match word.as_str() {
        "register" => {
            let (user, pass) = user_and_rest(rest, "PASS")?;
            Command::Register { user, pass }
        }
        "login" => {
            let (user, pass) = user_and_rest(rest, "PASS")?;
            Command::Login { user, pass }
        }
        "logout" => no_args(rest, Command::Logout)?,
        "search" => {
            if rest.is_empty() {
                return Err(bad("missing TEXT"));
            }
            Command::Search {
                text: rest.to_string(),
            }
        }
        "add" => match split_word(rest) {
            ("", _) => return Err(bad("missing USER")),
            (user, note) => Command::Add {
                user: user.to_string(),
                note: note.to_string(),
            },
        },
        "accept" => Command::Accept {
            user: one_user(rest)?,
        },
        "reject" => Command::Reject {
            user: one_user(rest)?,
        },
        "remove" => Command::Remove {
            user: one_user(rest)?,
        },
        "block" => Command::Block {
            user: one_user(rest)?,
        },
        "unblock" => Command::Unblock {
            user: one_user(rest)?,
        },
        "friends" => no_args(rest, Command::Friends)?,
        "online" => no_args(rest, Command::Online)?,
        "msg" => {
            let (user, text) = user_and_rest(rest, "TEXT")?;
            Command::Msg { user, text }
        }
        "history" => match split_word(rest) {
            ("", _) => return Err(bad("missing USER")),
            (who, n) => match peer(who) {
                None => return Err(bad("missing the room name after #")),
                Some(Peer::User(user)) => Command::History {
                    user,
                    count: count(n)?,
                },
                Some(Peer::Room(room)) => Command::RoomHistory {
                    room,
                    count: count(n)?,
                },
            },
        },
        "room" => {
            let room_err = |why: &str| ParseError {
                word: word.clone(),
                message: format!("{why}; usage: room create|join|leave|delete NAME"),
            };
            let (action, name) = split_word(rest);
            let Some(action) = RoomAction::parse(action) else {
                return Err(room_err(&if action.is_empty() {
                    "missing create, join, leave or delete".to_string()
                } else {
                    format!("unknown room action {action:?}")
                }));
            };
            let room = match split_word(name) {
                (name, "") if !room_name(name).is_empty() => room_name(name).to_string(),
                (_, "") => return Err(room_err("missing NAME")),
                _ => return Err(room_err("too many arguments")),
            };
            Command::Room { action, room }
        }
        "rooms" => no_args(rest, Command::Rooms)?,
        "members" => Command::Members {
            room: one_room(rest)?,
        },
        "say" => match split_word(rest) {
            ("", _) => return Err(bad("missing NAME")),
            (_, "") => return Err(bad("missing TEXT")),
            (name, text) => match room_name(name) {
                "" => return Err(bad("missing NAME")),
                room => Command::Say {
                    room: room.to_string(),
                    text: text.to_string(),
                },
            },
        },
        "sendfile" => match split_word(rest) {
            ("", _) => return Err(bad("missing USER or #ROOM")),
            (_, "") => return Err(bad("missing PATH")),
            (to, path) => Command::SendFile {
                to: peer(to).ok_or_else(|| bad("missing the room name after #"))?,
                path: path.to_string(),
            },
        },
        "files" => match split_word(rest) {
            ("", _) => return Err(bad("missing USER or #ROOM")),
            (with, "") => Command::Files {
                with: peer(with).ok_or_else(|| bad("missing the room name after #"))?,
            },
            _ => return Err(bad("too many arguments")),
        },
        "download" => match split_word(rest) {
            ("", _) => return Err(bad("missing FILE_ID")),
            (_, "") => return Err(bad("missing PATH")),
            (id, path) => Command::Download {
                id: id.parse().map_err(|_| bad("FILE_ID must be a number"))?,
                path: path.to_string(),
            },
        },
        "typing" => match split_word(rest) {
            ("", _) => return Err(bad("missing USER or #ROOM")),
            (to, "") => Command::Typing {
                to: peer(to).ok_or_else(|| bad("missing the room name after #"))?,
            },
            _ => return Err(bad("too many arguments")),
        },
        "read" => match split_word(rest) {
            ("", _) => return Err(bad("missing USER or #ROOM")),
            (with, "") => Command::Read {
                peer: peer(with).ok_or_else(|| bad("missing the room name after #"))?,
            },
            _ => return Err(bad("too many arguments")),
        },
        "receipts" => match rest.to_lowercase().as_str() {
            "on" => Command::Receipts { on: true },
            "off" => Command::Receipts { on: false },
            "" => return Err(bad("missing on or off")),
            _ => return Err(bad("say on or off")),
        },
        "devices" => no_args(rest, Command::Devices)?,
        "revoke" => match split_word(rest) {
            ("", _) => return Err(bad("missing DEVICE")),
            (device, "") => Command::Revoke {
                device: device.to_string(),
            },
            _ => return Err(bad("too many arguments")),
        },
        "quit" | "exit" => no_args(rest, Command::Quit)?,
        "help" | "?" => Command::Help,
        _ => {
            return Err(ParseError {
                message: format!("unknown command {word:?}; type help for the list"),
                word,
            })
        }
    };
    Ok(Some(command))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ok(line: &str) -> Command {
        parse(line)
            .unwrap_or_else(|e| panic!("{line:?}: {e}"))
            .expect("a command")
    }

    fn err(line: &str) -> ParseError {
        parse(line).expect_err(line)
    }

    #[test]
    fn blank_lines_are_nothing() {
        assert_eq!(parse(""), Ok(None));
        assert_eq!(parse("   \t "), Ok(None));
    }

    #[test]
    fn every_command_parses() {
        assert_eq!(
            ok("register ann secret password"),
            Command::Register {
                user: "ann".into(),
                pass: "secret password".into()
            }
        );
        assert_eq!(
            ok("  login   ann   pw12345678 "),
            Command::Login {
                user: "ann".into(),
                pass: "pw12345678".into()
            }
        );
        assert_eq!(ok("logout"), Command::Logout);
        assert_eq!(ok("search an"), Command::Search { text: "an".into() });
        assert_eq!(
            ok("add bob"),
            Command::Add {
                user: "bob".into(),
                note: String::new()
            }
        );
        assert_eq!(
            ok("add bob hi there  :wave:"),
            Command::Add {
                user: "bob".into(),
                note: "hi there  :wave:".into()
            }
        );
        assert_eq!(ok("accept bob"), Command::Accept { user: "bob".into() });
        assert_eq!(ok("reject bob"), Command::Reject { user: "bob".into() });
        assert_eq!(ok("remove bob"), Command::Remove { user: "bob".into() });
        assert_eq!(ok("block bob"), Command::Block { user: "bob".into() });
        assert_eq!(ok("unblock bob"), Command::Unblock { user: "bob".into() });
        assert_eq!(ok("friends"), Command::Friends);
        assert_eq!(ok("online"), Command::Online);
        assert_eq!(
            ok("msg bob hello   world "),
            Command::Msg {
                user: "bob".into(),
                text: "hello   world".into()
            }
        );
        assert_eq!(
            ok("history bob"),
            Command::History {
                user: "bob".into(),
                count: DEFAULT_HISTORY
            }
        );
        assert_eq!(
            ok("history bob 5"),
            Command::History {
                user: "bob".into(),
                count: 5
            }
        );
        assert_eq!(ok("quit"), Command::Quit);
        assert_eq!(ok("devices"), Command::Devices);
        assert_eq!(
            ok("typing #den"),
            Command::Typing {
                to: Peer::Room("den".into())
            }
        );
        assert_eq!(err("typing").word, "typing");
        assert_eq!(
            ok("revoke  phone "),
            Command::Revoke {
                device: "phone".into()
            }
        );
        assert_eq!(err("revoke").word, "revoke");
        assert_eq!(err("revoke a b").word, "revoke");
        assert_eq!(err("devices now").word, "devices");
        assert_eq!(
            ok("read bob"),
            Command::Read {
                peer: Peer::User("bob".into())
            }
        );
        assert_eq!(
            ok("READ #lobby"),
            Command::Read {
                peer: Peer::Room("lobby".into())
            }
        );
        assert_eq!(ok("receipts off"), Command::Receipts { on: false });
        assert_eq!(ok("receipts ON"), Command::Receipts { on: true });
        assert_eq!(ok("receipts on").word(), "receipts");
        assert_eq!(ok("help"), Command::Help);
    }

    #[test]
    fn command_words_ignore_case_and_round_trip() {
        assert_eq!(ok("FRIENDS"), Command::Friends);
        assert_eq!(ok("Msg Bob Hi").word(), "msg");
        for usage in USAGE {
            let word = split_word(usage).0;
            assert!(usage_of(word).is_some());
        }
    }

    #[test]
    fn bad_lines_are_errors_naming_the_word() {
        let e = err("frobnicate now");
        assert_eq!(e.word, "frobnicate");
        assert!(e.message.contains("unknown command"), "{e}");

        let e = err("msg bob");
        assert_eq!(e.word, "msg");
        assert!(e.message.contains("missing TEXT"), "{e}");
        assert!(e.message.contains("usage: msg USER TEXT..."), "{e}");

        assert_eq!(err("register ann").word, "register");
        assert_eq!(err("login").word, "login");
        assert_eq!(err("search").word, "search");
        assert_eq!(err("add").word, "add");
        assert_eq!(err("accept").word, "accept");
        assert_eq!(err("accept a b").word, "accept");
        assert_eq!(err("friends now").word, "friends");
        assert_eq!(err("history").word, "history");
        assert_eq!(err("history bob x").word, "history");
        assert_eq!(err("history bob 0").word, "history");
        assert_eq!(err("history bob -1").word, "history");
        assert_eq!(err("quit now").word, "quit");

        let e = err("read");
        assert_eq!(e.word, "read");
        assert!(e.message.contains("usage: read USER|#ROOM"), "{e}");
        assert!(err("read #").message.contains("room name"));
        assert!(err("read bob now").message.contains("too many"));
        let e = err("receipts");
        assert!(e.message.contains("missing on or off"), "{e}");
        assert!(e.message.contains("usage: receipts on|off"), "{e}");
        assert_eq!(err("receipts maybe").word, "receipts");
    }

    #[test]
    fn room_and_file_commands_parse() {
        for (line, action) in [
            ("room create lobby", RoomAction::Create),
            ("room JOIN #lobby", RoomAction::Join),
            ("Room leave lobby", RoomAction::Leave),
            ("room delete lobby", RoomAction::Delete),
        ] {
            assert_eq!(
                ok(line),
                Command::Room {
                    action,
                    room: "lobby".into()
                },
                "{line}"
            );
            assert_eq!(ok(line).word(), "room");
        }
        assert_eq!(ok("rooms"), Command::Rooms);
        assert_eq!(
            ok("members #lobby"),
            Command::Members {
                room: "lobby".into()
            }
        );
        assert_eq!(
            ok("say lobby hello  :wave:"),
            Command::Say {
                room: "lobby".into(),
                text: "hello  :wave:".into()
            }
        );
        assert_eq!(
            ok("say #lobby hi"),
            Command::Say {
                room: "lobby".into(),
                text: "hi".into()
            }
        );
        assert_eq!(
            ok("history #lobby"),
            Command::RoomHistory {
                room: "lobby".into(),
                count: DEFAULT_HISTORY
            }
        );
        assert_eq!(
            ok("history #lobby 50"),
            Command::RoomHistory {
                room: "lobby".into(),
                count: 50
            }
        );
        assert_eq!(ok("history #lobby 50").word(), "history");
        assert_eq!(
            ok("sendfile bob ../x/my report.pdf"),
            Command::SendFile {
                to: Peer::User("bob".into()),
                path: "../x/my report.pdf".into()
            }
        );
        assert_eq!(
            ok("sendfile #lobby a.txt"),
            Command::SendFile {
                to: Peer::Room("lobby".into()),
                path: "a.txt".into()
            }
        );
        assert_eq!(
            ok("files bob"),
            Command::Files {
                with: Peer::User("bob".into())
            }
        );
        assert_eq!(
            ok("files #lobby"),
            Command::Files {
                with: Peer::Room("lobby".into())
            }
        );
        assert_eq!(
            ok("download 42 /tmp/out dir/a.bin"),
            Command::Download {
                id: 42,
                path: "/tmp/out dir/a.bin".into()
            }
        );
    }

    #[test]
    fn bad_room_and_file_lines_name_the_word() {
        let e = err("room");
        assert_eq!(e.word, "room");
        assert!(
            e.message
                .contains("usage: room create|join|leave|delete NAME"),
            "{e}"
        );
        let e = err("room frob lobby");
        assert!(e.message.contains("unknown room action"), "{e}");
        assert!(err("room join").message.contains("missing NAME"));
        assert!(err("room join #").message.contains("missing NAME"));
        assert!(err("room join a b").message.contains("too many"));
        assert_eq!(err("rooms now").word, "rooms");
        assert_eq!(err("members").word, "members");
        assert_eq!(err("members a b").word, "members");
        let e = err("say lobby");
        assert_eq!(e.word, "say");
        assert!(e.message.contains("missing TEXT"), "{e}");
        assert!(e.message.contains("usage: say NAME TEXT..."), "{e}");
        assert_eq!(err("say").word, "say");
        assert_eq!(err("history # 5").word, "history");
        assert_eq!(err("history #lobby 0").word, "history");
        assert_eq!(err("history #lobby x").word, "history");
        let e = err("sendfile bob");
        assert!(e.message.contains("missing PATH"), "{e}");
        assert!(err("sendfile # a.txt").message.contains("room name"));
        assert_eq!(err("sendfile").word, "sendfile");
        assert_eq!(err("files").word, "files");
        assert_eq!(err("files bob ann").word, "files");
        let e = err("download x out.bin");
        assert_eq!(e.word, "download");
        assert!(e.message.contains("FILE_ID must be a number"), "{e}");
        assert!(err("download 7").message.contains("missing PATH"));
    }
}
