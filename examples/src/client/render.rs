//! Interactive rendering: a [`Line`] as text for people, coloured only when
//! stdout is a terminal.

use super::output::{
    FileLine, FriendLine, Line, MessageLine, Payload, RoomMessageLine, State, UnreadLine,
};

/// How to render.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Style {
    /// Use ANSI colours.
    pub color: bool,
}

const RESET: &str = "\x1b[0m";
const BOLD: &str = "\x1b[1m";
const DIM: &str = "\x1b[2m";
const RED: &str = "\x1b[31m";
const GREEN: &str = "\x1b[32m";
const YELLOW: &str = "\x1b[33m";
const CYAN: &str = "\x1b[36m";

impl Style {
    fn paint(&self, color: &str, text: &str) -> String {
        if self.color {
            format!("{color}{text}{RESET}")
        } else {
            text.to_string()
        }
    }

    /// The prompt, showing who is logged in.
    pub fn prompt(&self, user: Option<&str>) -> String {
        match user {
            Some(user) => format!("{}> ", self.paint(BOLD, user)),
            None => "> ".to_string(),
        }
    }

    /// Renders one line of output as text (may span several lines, no trailing
    /// newline).
    pub fn render(&self, line: &Line, me: Option<&str>) -> String {
        match line {
            Line::Ok { cmd, payload } => self.render_ok(cmd, payload, me),
            Line::Error { cmd, code, message } => {
                if code == "bad_command" {
                    self.paint(RED, message)
                } else if cmd.is_empty() {
                    self.paint(RED, &format!("error: {message} ({code})"))
                } else {
                    self.paint(RED, &format!("{cmd}: {message} ({code})"))
                }
            }
            Line::Message(m) => self.message(m, me),
            Line::RoomMessage(m) => self.room_message(m, me),
            Line::Presence { user, online } => {
                if *online {
                    format!("{} {user} is online", self.paint(GREEN, "●"))
                } else {
                    format!("{} {user} went offline", self.paint(DIM, "○"))
                }
            }
            Line::FriendRequest { from, note } => {
                let note = if note.is_empty() {
                    String::new()
                } else {
                    format!(": \"{note}\"")
                };
                self.paint(
                    YELLOW,
                    &format!("{from} asks to be your friend{note} (accept {from} / reject {from})"),
                )
            }
            Line::FriendAdded { user } => {
                self.paint(GREEN, &format!("you and {user} are now friends"))
            }
            Line::FriendRejected { user } => {
                self.paint(YELLOW, &format!("{user} rejected your friend request"))
            }
            Line::FriendRemoved { user } => {
                self.paint(YELLOW, &format!("{user} is no longer your friend"))
            }
            Line::Delivered {
                peer: Some(peer),
                seq: Some(seq),
                ..
            } => self.paint(DIM, &format!("✓✓ delivered to {peer} (up to #{seq})")),
            // An older server's receipt names message ids only.
            Line::Delivered { ids, .. } => {
                let ids: Vec<String> = ids.iter().map(|id| format!("#{id}")).collect();
                self.paint(DIM, &format!("✓✓ delivered {}", ids.join(" ")))
            }
            Line::ReadBy { user, seq } => format!(
                "{} {}",
                self.paint(CYAN, "✓✓"),
                self.paint(DIM, &format!("read by {user} (up to #{seq})"))
            ),
            Line::Read { peer, seq, unread } => {
                self.paint(DIM, &format!("read {peer} up to #{seq} ({unread} unread)"))
            }
            Line::Unread { conversations } => self.paint(YELLOW, &unread(conversations)),
            Line::FellBehind => self.paint(
                YELLOW,
                "fell behind: this device was away too long; fetch what you missed with history",
            ),
            Line::CaughtUp => self.paint(DIM, "(up to date)"),
            Line::Ping => self.paint(DIM, "(ping)"),
            Line::Kicked { reason } => self.paint(RED, &format!("disconnected: {reason}")),
            Line::ServerShutdown => self.paint(RED, "the server is shutting down"),
            Line::Closing { code, message } => self.paint(
                RED,
                &format!("the server closes the connection: {message} ({code})"),
            ),
            Line::RoomJoined { room, user } => self.paint(DIM, &format!("#{room}: {user} joined")),
            Line::RoomLeft { room, user } => self.paint(DIM, &format!("#{room}: {user} left")),
            Line::RoomDeleted { room } => self.paint(YELLOW, &format!("#{room} was deleted")),
            Line::Typing { from, to, .. } => match to.strip_prefix('#') {
                Some(room) => self.paint(DIM, &format!("#{room}: {from} is typing…")),
                None => self.paint(DIM, &format!("{from} is typing…")),
            },
            Line::RoomUnread {
                room,
                read_seq,
                last_seq,
            } => self.paint(
                YELLOW,
                &format!("#{room}: {} unread", last_seq.saturating_sub(*read_seq)),
            ),
            Line::FileShared {
                id,
                from,
                to,
                name,
                size,
            } => {
                let place = if to.starts_with('#') {
                    format!(" in {to}")
                } else {
                    String::new()
                };
                self.paint(
                    CYAN,
                    &format!(
                        "{from} shared a file{place}: {name} ({}); download {id} PATH",
                        human_size(*size)
                    ),
                )
            }
            Line::Disconnected => self.paint(RED, "connection lost"),
            Line::Reconnecting { addr, error } => self.paint(
                YELLOW,
                &format!("connection to {addr} lost ({error}); reconnecting…"),
            ),
            Line::Reconnected { addr } => self.paint(GREEN, &format!("reconnected to {addr}")),
            Line::LoginRefused { message, .. } => self.paint(
                RED,
                &format!("could not log in again: {message}; log in to go on"),
            ),
        }
    }

    fn message(&self, m: &MessageLine, me: Option<&str>) -> String {
        let mine = me.is_some_and(|me| me.eq_ignore_ascii_case(&m.from));
        if mine {
            format!(
                "{} {}",
                self.paint(DIM, &format!("you → {}:", m.to)),
                m.text
            )
        } else {
            format!("{} {}", self.paint(CYAN, &format!("{}:", m.from)), m.text)
        }
    }

    fn room_message(&self, m: &RoomMessageLine, me: Option<&str>) -> String {
        let mine = me.is_some_and(|me| me.eq_ignore_ascii_case(&m.from));
        let who = if mine { "you" } else { m.from.as_str() };
        format!(
            "{} {}",
            self.paint(
                if mine { DIM } else { CYAN },
                &format!("#{} {who}:", m.room)
            ),
            m.text
        )
    }

    fn file(&self, f: &FileLine) -> String {
        format!(
            "  {} {} ({}) from {} {}",
            self.paint(BOLD, &format!("{}", f.id)),
            f.name,
            human_size(f.size),
            f.from,
            self.paint(DIM, &format!("sha-256 {}", f.sha256)),
        )
    }

    fn friend(&self, f: &FriendLine) -> String {
        match f.state {
            State::Friends if f.online => {
                format!(
                    "  {} {} {}",
                    self.paint(GREEN, "●"),
                    f.user,
                    self.paint(GREEN, "online")
                )
            }
            State::Friends => {
                format!(
                    "  {} {} {}",
                    self.paint(DIM, "○"),
                    f.user,
                    self.paint(DIM, "offline")
                )
            }
            State::RequestSent => format!(
                "  {} {} {}",
                self.paint(YELLOW, "…"),
                f.user,
                self.paint(YELLOW, "request sent")
            ),
            State::RequestReceived => format!(
                "  {} {} {}",
                self.paint(YELLOW, "?"),
                f.user,
                self.paint(YELLOW, "asks to be your friend")
            ),
            State::Blocked => {
                format!(
                    "  {} {} {}",
                    self.paint(RED, "⊘"),
                    f.user,
                    self.paint(RED, "blocked")
                )
            }
        }
    }

    fn render_ok(&self, cmd: &str, payload: &Payload, me: Option<&str>) -> String {
        match payload {
            Payload::Empty => match cmd {
                "logout" => "logged out".to_string(),
                "quit" => "bye".to_string(),
                _ => "ok".to_string(),
            },
            Payload::User { user } => match cmd {
                "register" => format!("registered {user}; now: login {user} PASS"),
                "login" => self.paint(GREEN, &format!("logged in as {user}")),
                "accept" => format!("accepted {user}'s request"),
                "reject" => format!("rejected {user}'s request"),
                "remove" => format!("removed {user} from your friends"),
                "block" => format!("blocked {user}"),
                "unblock" => format!("unblocked {user}"),
                _ => format!("{cmd} {user}: ok"),
            },
            Payload::Requested { user, state } => match state {
                State::Friends => self.paint(GREEN, &format!("you and {user} are now friends")),
                _ => format!("friend request sent to {user}"),
            },
            Payload::Users { users } => {
                if users.is_empty() {
                    "no users found".to_string()
                } else {
                    users.join("  ")
                }
            }
            Payload::Online { users, count } => {
                let friends = if users.is_empty() {
                    "no friends online".to_string()
                } else {
                    let list: Vec<String> = users
                        .iter()
                        .map(|u| format!("{} {u}", self.paint(GREEN, "●")))
                        .collect();
                    format!("online friends: {}", list.join("  "))
                };
                format!("{friends}; {count} user(s) online")
            }
            Payload::Friends { friends } => {
                if friends.is_empty() {
                    "no friends yet (add USER)".to_string()
                } else {
                    let rows: Vec<String> = friends.iter().map(|f| self.friend(f)).collect();
                    format!("friends:\n{}", rows.join("\n"))
                }
            }
            // `#seq` is what the receipts name (`delivered to bob (up to #3)`).
            Payload::Sent { to, text, seq, .. } => format!(
                "{} {text} {}",
                self.paint(DIM, &format!("you → {to}:")),
                self.paint(DIM, &format!("✓ #{seq}"))
            ),
            Payload::History { messages } => {
                if messages.is_empty() {
                    "no messages yet".to_string()
                } else {
                    let rows: Vec<String> = messages.iter().map(|m| self.message(m, me)).collect();
                    rows.join("\n")
                }
            }
            Payload::Help { commands } => format!("commands:\n  {}", commands.join("\n  ")),
            Payload::Room { action, room } => match *action {
                "create" => self.paint(GREEN, &format!("created #{room}; you own it")),
                "join" => self.paint(GREEN, &format!("joined #{room}")),
                "leave" => format!("left #{room}"),
                "delete" => format!("deleted #{room}"),
                _ => format!("room {action} #{room}: ok"),
            },
            Payload::Rooms { rooms } => {
                if rooms.is_empty() {
                    "no rooms yet (room create NAME)".to_string()
                } else {
                    let rows: Vec<String> = rooms
                        .iter()
                        .map(|r| {
                            let joined = if r.joined {
                                format!(" {}", self.paint(GREEN, "joined"))
                            } else {
                                String::new()
                            };
                            format!(
                                "  #{} {}{joined}",
                                r.name,
                                self.paint(
                                    DIM,
                                    &format!("(owner {}, {} member(s))", r.owner, r.members)
                                )
                            )
                        })
                        .collect();
                    format!("rooms:\n{}", rows.join("\n"))
                }
            }
            Payload::LoggedInDevice { user, device } => self.paint(
                GREEN,
                &format!("logged in as {user} on this device (id {device})"),
            ),
            Payload::Devices { devices } => {
                let rows: Vec<String> = devices
                    .iter()
                    .map(|d| {
                        let (dot, state) = if d.online {
                            (self.paint(GREEN, "●"), self.paint(GREEN, "online"))
                        } else {
                            (self.paint(DIM, "○"), self.paint(DIM, "offline"))
                        };
                        format!(
                            "  {dot} {} {state} {}",
                            d.name,
                            self.paint(DIM, &format!("(id {})", d.id))
                        )
                    })
                    .collect();
                format!("devices:\n{}", rows.join("\n"))
            }
            Payload::Typed { to } => self.paint(DIM, &format!("(told {to} you are typing)")),
            Payload::Marked { peer, seq: 0 } => format!("nothing to mark read with {peer}"),
            Payload::Marked { peer, seq } => format!("marked {peer} read up to #{seq}"),
            Payload::Receipts { on: true } => "read receipts on: others see what you read".into(),
            Payload::Receipts { on: false } => {
                "read receipts off: others no longer see what you read".into()
            }
            Payload::Revoked { device } => {
                format!("revoked device {device}: its sessions are closed")
            }
            Payload::Members { room, members } => {
                let rows: Vec<String> = members
                    .iter()
                    .map(|m| {
                        if m.online {
                            format!(
                                "  {} {} {}",
                                self.paint(GREEN, "●"),
                                m.user,
                                self.paint(GREEN, "online")
                            )
                        } else {
                            format!(
                                "  {} {} {}",
                                self.paint(DIM, "○"),
                                m.user,
                                self.paint(DIM, "offline")
                            )
                        }
                    })
                    .collect();
                format!("members of #{room}:\n{}", rows.join("\n"))
            }
            // Your message itself is shown as the room shows it to everyone
            // (a `room_message`, in the room's order): just the tick here, with
            // the seq, as for `msg`.
            Payload::Said { room, seq, .. } => {
                self.paint(DIM, &format!("✓ #{room} message #{seq}"))
            }
            Payload::FileSent {
                to, id, name, size, ..
            } => self.paint(
                GREEN,
                &format!("sent {name} ({}) to {to} as file {id}", human_size(*size)),
            ),
            Payload::Files { files } => {
                if files.is_empty() {
                    "no files".to_string()
                } else {
                    let rows: Vec<String> = files.iter().map(|f| self.file(f)).collect();
                    format!("files:\n{}", rows.join("\n"))
                }
            }
            Payload::Downloaded { path, size, .. } => self.paint(
                GREEN,
                &format!("saved {path} ({}, sha-256 checked)", human_size(*size)),
            ),
        }
    }
}

/// `bob: 2 unread, #lobby: 5 unread`.
fn unread(conversations: &[UnreadLine]) -> String {
    let each: Vec<String> = conversations
        .iter()
        .map(|u| format!("{}: {} unread", u.peer, u.unread))
        .collect();
    each.join(", ")
}

/// A byte count for people: `512 bytes`, `1.5 KiB`, `20.0 MiB`.
fn human_size(bytes: u64) -> String {
    const UNITS: [&str; 4] = ["KiB", "MiB", "GiB", "TiB"];
    if bytes < 1024 {
        return format!("{bytes} bytes");
    }
    let mut value = bytes as f64 / 1024.0;
    let mut unit = 0;
    while value >= 1024.0 && unit < UNITS.len() - 1 {
        value /= 1024.0;
        unit += 1;
    }
    format!("{value:.1} {}", UNITS[unit])
}

#[cfg(test)]
mod tests {
    use super::*;

    const PLAIN: Style = Style { color: false };
    const COLOR: Style = Style { color: true };

    #[test]
    fn friends_have_markers_and_colour_only_when_asked() {
        let line = Line::ok(
            "friends",
            Payload::Friends {
                friends: vec![
                    FriendLine {
                        user: "bob".into(),
                        online: true,
                        state: State::Friends,
                    },
                    FriendLine {
                        user: "cat".into(),
                        online: false,
                        state: State::Friends,
                    },
                    FriendLine {
                        user: "dan".into(),
                        online: false,
                        state: State::RequestReceived,
                    },
                ],
            },
        );
        let plain = PLAIN.render(&line, Some("ann"));
        assert_eq!(
            plain,
            "friends:\n  ● bob online\n  ○ cat offline\n  ? dan asks to be your friend"
        );
        assert!(!plain.contains('\x1b'));
        let colored = COLOR.render(&line, Some("ann"));
        assert!(colored.contains(&format!("{GREEN}●{RESET} bob")));
        assert!(colored.contains(&format!("{DIM}offline{RESET}")));
    }

    #[test]
    fn messages_show_who_wrote_them() {
        let m = MessageLine {
            id: 1,
            seq: 1,
            from: "bob".into(),
            to: "ann".into(),
            text: "hi 😄".into(),
            ts: 0,
        };
        assert_eq!(
            PLAIN.render(&Line::Message(m.clone()), Some("ann")),
            "bob: hi 😄"
        );
        let mine = MessageLine {
            from: "ann".into(),
            to: "bob".into(),
            ..m
        };
        assert_eq!(
            PLAIN.render(&Line::Message(mine), Some("Ann")),
            "you → bob: hi 😄"
        );
    }

    #[test]
    fn errors_and_events_read_well() {
        assert_eq!(
            PLAIN.render(
                &Line::error("login", "invalid_credentials", "wrong username or password"),
                None
            ),
            "login: wrong username or password (invalid_credentials)"
        );
        assert_eq!(
            PLAIN.render(
                &Line::Presence {
                    user: "bob".into(),
                    online: false
                },
                None
            ),
            "○ bob went offline"
        );
        assert_eq!(
            PLAIN.render(
                &Line::Delivered {
                    ids: vec![3, 4],
                    peer: None,
                    seq: None
                },
                None
            ),
            "✓✓ delivered #3 #4"
        );
        assert_eq!(
            PLAIN.render(
                &Line::ok(
                    "online",
                    Payload::Online {
                        users: vec![],
                        count: 1
                    }
                ),
                None
            ),
            "no friends online; 1 user(s) online"
        );
    }

    #[test]
    fn rooms_and_files_read_well() {
        let m = RoomMessageLine {
            room: "lobby".into(),
            id: 3,
            seq: 1,
            from: "bob".into(),
            text: "hi 😄".into(),
            ts: 0,
        };
        assert_eq!(
            PLAIN.render(&Line::RoomMessage(m.clone()), Some("ann")),
            "#lobby bob: hi 😄"
        );
        assert_eq!(
            PLAIN.render(&Line::RoomMessage(m), Some("BOB")),
            "#lobby you: hi 😄"
        );
        assert_eq!(
            PLAIN.render(
                &Line::RoomJoined {
                    room: "lobby".into(),
                    user: "cat".into()
                },
                None
            ),
            "#lobby: cat joined"
        );
        assert_eq!(
            PLAIN.render(
                &Line::FileShared {
                    id: 7,
                    from: "ann".into(),
                    to: "#lobby".into(),
                    name: "a.bin".into(),
                    size: 3 * 1024 * 1024,
                },
                None
            ),
            "ann shared a file in #lobby: a.bin (3.0 MiB); download 7 PATH"
        );
        assert_eq!(
            PLAIN.render(
                &Line::FileShared {
                    id: 7,
                    from: "ann".into(),
                    to: "bob".into(),
                    name: "a.bin".into(),
                    size: 10,
                },
                None
            ),
            "ann shared a file: a.bin (10 bytes); download 7 PATH"
        );
        let rooms = Line::ok(
            "rooms",
            Payload::Rooms {
                rooms: vec![super::super::output::RoomLine {
                    name: "lobby".into(),
                    owner: "ann".into(),
                    members: 2,
                    joined: true,
                }],
            },
        );
        assert_eq!(
            PLAIN.render(&rooms, None),
            "rooms:\n  #lobby (owner ann, 2 member(s)) joined"
        );
        let members = Line::ok(
            "members",
            Payload::Members {
                room: "lobby".into(),
                members: vec![
                    super::super::output::MemberLine {
                        user: "ann".into(),
                        online: true,
                    },
                    super::super::output::MemberLine {
                        user: "bob".into(),
                        online: false,
                    },
                ],
            },
        );
        assert_eq!(
            PLAIN.render(&members, None),
            "members of #lobby:\n  ● ann online\n  ○ bob offline"
        );
        let room = |action| {
            PLAIN.render(
                &Line::ok(
                    "room",
                    Payload::Room {
                        action,
                        room: "lobby".into(),
                    },
                ),
                None,
            )
        };
        assert_eq!(room("create"), "created #lobby; you own it");
        assert_eq!(room("join"), "joined #lobby");
        assert_eq!(room("leave"), "left #lobby");
        assert_eq!(room("delete"), "deleted #lobby");
        let files = Line::ok(
            "files",
            Payload::Files {
                files: vec![FileLine {
                    id: 7,
                    from: "ann".into(),
                    to: "bob".into(),
                    name: "a.bin".into(),
                    size: 1536,
                    sha256: "ab".into(),
                    ts: 0,
                }],
            },
        );
        assert_eq!(
            PLAIN.render(&files, None),
            "files:\n  7 a.bin (1.5 KiB) from ann sha-256 ab"
        );
        assert_eq!(
            PLAIN.render(&Line::ok("files", Payload::Files { files: vec![] }), None),
            "no files"
        );
        assert_eq!(human_size(0), "0 bytes");
        assert_eq!(human_size(20 * 1024 * 1024), "20.0 MiB");
    }

    #[test]
    fn ticks_read_marks_and_unread_counts_read_well() {
        let sent = Line::ok(
            "msg",
            Payload::Sent {
                to: "bob".into(),
                text: "hi".into(),
                id: 17,
                seq: 3,
                ts: 0,
            },
        );
        assert_eq!(PLAIN.render(&sent, Some("ann")), "you → bob: hi ✓ #3");
        let said = Line::ok(
            "say",
            Payload::Said {
                room: "lobby".into(),
                text: "hi".into(),
                id: 19,
                seq: 1,
                ts: 0,
            },
        );
        assert_eq!(PLAIN.render(&said, None), "✓ #lobby message #1");
        let delivered = Line::Delivered {
            ids: vec![17],
            peer: Some("bob".into()),
            seq: Some(3),
        };
        assert_eq!(
            PLAIN.render(&delivered, None),
            "✓✓ delivered to bob (up to #3)"
        );
        let read_by = Line::ReadBy {
            user: "bob".into(),
            seq: 3,
        };
        assert_eq!(PLAIN.render(&read_by, None), "✓✓ read by bob (up to #3)");
        assert!(COLOR
            .render(&read_by, None)
            .starts_with(&format!("{CYAN}✓✓{RESET}")));
        let mine = Line::Read {
            peer: "#lobby".into(),
            seq: 9,
            unread: 0,
        };
        assert_eq!(PLAIN.render(&mine, None), "read #lobby up to #9 (0 unread)");
        let unread = Line::Unread {
            conversations: vec![
                UnreadLine {
                    peer: "bob".into(),
                    unread: 2,
                    read_seq: 1,
                    last_seq: 3,
                },
                UnreadLine {
                    peer: "#lobby".into(),
                    unread: 5,
                    read_seq: 0,
                    last_seq: 5,
                },
            ],
        };
        assert_eq!(
            PLAIN.render(&unread, None),
            "bob: 2 unread, #lobby: 5 unread"
        );
        assert!(PLAIN
            .render(&Line::FellBehind, None)
            .starts_with("fell behind: "));
        let marked = |seq| {
            PLAIN.render(
                &Line::ok(
                    "read",
                    Payload::Marked {
                        peer: "bob".into(),
                        seq,
                    },
                ),
                None,
            )
        };
        assert_eq!(marked(4), "marked bob read up to #4");
        assert_eq!(marked(0), "nothing to mark read with bob");
        assert_eq!(
            PLAIN.render(&Line::ok("receipts", Payload::Receipts { on: false }), None),
            "read receipts off: others no longer see what you read"
        );
    }

    #[test]
    fn the_prompt_names_the_user() {
        assert_eq!(PLAIN.prompt(None), "> ");
        assert_eq!(PLAIN.prompt(Some("ann")), "ann> ");
        assert_eq!(COLOR.prompt(Some("ann")), format!("{BOLD}ann{RESET}> "));
    }
}
