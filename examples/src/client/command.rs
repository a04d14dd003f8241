//! The command language of `chat-client`, the same in interactive and `--json`
//! mode: one command per line, a command word and its arguments.

use std::fmt;

/// How many messages `history USER` shows without a count.
pub const DEFAULT_HISTORY: u32 = 20;

/// How many names `search` asks for.
pub const SEARCH_LIMIT: u32 = 50;

/// One usage line per command, in the order `help` lists them.
pub const USAGE: &[&str] = &[
    "register USER PASS      create an account (PASS is the rest of the line)",
    "login USER PASS         log in (PASS is the rest of the line)",
    "logout                  log out; the connection stays open",
    "search TEXT             users whose name contains TEXT",
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
    /// `quit`
    Quit,
    /// `help`
    Help,
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
            Command::History { .. } => "history",
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
            (user, "") => Command::History {
                user: user.to_string(),
                count: DEFAULT_HISTORY,
            },
            (user, n) => match n.parse::<u32>() {
                Ok(count) if count > 0 => Command::History {
                    user: user.to_string(),
                    count,
                },
                _ => return Err(bad("N must be a positive number")),
            },
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
    }
}
