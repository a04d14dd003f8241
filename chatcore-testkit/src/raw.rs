//! The raw connection of check (b): it plays a script against the server in
//! lock step (each request's answer awaited) and checks every answer against a
//! mirror `Session`: refusals, closes, response kinds, the login backlog ending
//! in `CaughtUp`, the limits of searches, history and chunks, and the upload
//! bookkeeping.

use chatcore::engine::testkit::password;
use chatcore::engine::Server;
use chatcore::protocol::{
    limits, Body, ClientFrame, DeviceClaim, ErrorCode, Event, ItemId, Items, Request, Response,
    ServerFrame, PROTOCOL_VERSION,
};
use chatcore::session::{Action, Phase, Session};
use chatcore::store::{User, UserId};
use chatcore::transport::memory::MemoryClientConnection;
use futures::{SinkExt, StreamExt};
use sha2::{Digest, Sha256};

use crate::engine::{connect, CHUNK};
use crate::script::{
    cursor, file_content, hello, list, login, peer, room_name, text, user_name, Ask, Step,
    FILE_NAMES, MAX_PIPELINED,
};

/// Request ids of dictionary requests start here.
const FIRST_REQ_ID: u32 = 1 << 30;

/// What a sent frame must be answered with.
#[derive(Debug)]
enum Expect {
    /// The server's hello.
    Greet,
    /// A response to this request (refused with this code, if given).
    Answer {
        req_id: u32,
        request: Request,
        refused: Option<ErrorCode>,
    },
    /// The end of a login backlog.
    CaughtUp,
    /// Hello (if `greet`), `Closing { code }`, then the end of the stream.
    Close { code: ErrorCode, greet: bool },
}

/// An upload this connection offered.
#[derive(Debug)]
struct Upload {
    file: ItemId,
    size: u64,
    sent: u64,
}

/// The fuzzed raw connection and what the script learnt from the server.
pub(crate) struct Raw<'a> {
    server: &'a Server,
    conn: Option<MemoryClientConnection>,
    /// Mirror of the server's session for this connection.
    pub(crate) mirror: Session,
    next_req: u32,
    /// Inbox ids seen (for `Ask::AckSeen`).
    inbox: Vec<ItemId>,
    /// File ids seen (for downloads).
    files: Vec<ItemId>,
    /// Uploads of the current connection.
    uploads: Vec<Upload>,
}

impl<'a> Raw<'a> {
    pub(crate) fn new(server: &'a Server) -> Self {
        Raw {
            server,
            conn: Some(connect(server)),
            mirror: Session::new(),
            next_req: FIRST_REQ_ID,
            inbox: Vec::new(),
            files: Vec::new(),
            uploads: Vec::new(),
        }
    }

    pub(crate) fn request(&mut self, request: Request) -> ClientFrame {
        self.next_req = self.next_req.wrapping_add(1);
        ClientFrame::Request {
            req_id: self.next_req,
            request,
        }
    }

    pub(crate) async fn step(&mut self, step: &Step) {
        match step {
            Step::Hello => self.exchange(vec![hello(PROTOCOL_VERSION)]).await,
            Step::Frame(frame) => self.exchange(vec![frame.clone()]).await,
            Step::Ask(ask) => {
                let request = self.build(ask);
                let frame = self.request(request);
                self.exchange(vec![frame]).await;
            }
            Step::Pipelined(asks) => {
                let frames = asks
                    .iter()
                    .take(MAX_PIPELINED)
                    .map(|ask| match ask {
                        // The mirror can only predict a batch whose phase stays put.
                        Ask::Login { .. } | Ask::LoginDevice { .. } | Ask::Logout => Request::Ping,
                        ask => self.build(ask),
                    })
                    .collect::<Vec<_>>()
                    .into_iter()
                    .map(|request| self.request(request))
                    .collect();
                self.exchange(frames).await;
            }
            Step::Reconnect { hello: say_hello } => {
                self.hang_up().await;
                self.conn = Some(connect(self.server));
                self.mirror = Session::new();
                if *say_hello {
                    self.exchange(vec![hello(PROTOCOL_VERSION)]).await;
                }
            }
            Step::Close => {
                self.hang_up().await;
                self.mirror.close();
            }
            Step::LoggedIn(i) => {
                let frame = self.request(login(*i, true));
                self.exchange(vec![frame]).await;
            }
            Step::LoggedOut => {
                let frame = self.request(Request::Logout);
                self.exchange(vec![frame]).await;
            }
        }
    }

    /// The request a dictionary step stands for, given what was learnt so far.
    fn build(&self, ask: &Ask) -> Request {
        let upload = |i: u8| {
            (!self.uploads.is_empty()).then(|| &self.uploads[usize::from(i) % self.uploads.len()])
        };
        match ask {
            Ask::Ping => Request::Ping,
            Ask::Register {
                user,
                good_password,
            } => Request::Register {
                username: user_name(*user).into(),
                password: if *good_password {
                    password(user_name(*user))
                } else {
                    "short".into()
                },
            },
            Ask::Login {
                user,
                good_password,
            } => login(*user, *good_password),
            Ask::LoginDevice {
                user,
                good_password,
                known,
            } => {
                let Request::Login { username, password } = login(*user, *good_password) else {
                    unreachable!("login builds a login")
                };
                let device = match known {
                    Some(id) => DeviceClaim::Known { id: u64::from(*id) },
                    None => DeviceClaim::New {
                        name: "fuzz".into(),
                    },
                };
                Request::LoginDevice {
                    username,
                    password,
                    device,
                }
            }
            Ask::Devices => Request::Devices,
            Ask::Typing { to } => Request::Typing { to: peer(*to) },
            Ask::MarkRead { peer: to, seq } => Request::MarkRead {
                peer: peer(*to),
                seq: u64::from(*seq),
            },
            Ask::SetReadReceipts { on } => Request::SetReadReceipts { on: *on },
            Ask::Logout => Request::Logout,
            Ask::SearchUsers { query, limit } => Request::SearchUsers {
                query: ["a", "", "ANN", "o"][usize::from(*query) % 4].into(),
                limit: u32::from(*limit),
            },
            Ask::FriendRequest { user, long_note } => Request::FriendRequest {
                to: user_name(*user).into(),
                note: if *long_note {
                    "n".repeat(limits::MAX_NOTE_LEN + 1)
                } else {
                    "let's be friends".into()
                },
            },
            Ask::FriendRespond { user, accept } => Request::FriendRespond {
                from: user_name(*user).into(),
                accept: *accept,
            },
            Ask::RemoveFriend { user } => Request::RemoveFriend {
                user: user_name(*user).into(),
            },
            Ask::Block { user } => Request::Block {
                user: user_name(*user).into(),
            },
            Ask::Unblock { user } => Request::Unblock {
                user: user_name(*user).into(),
            },
            Ask::ListFriends => Request::ListFriends,
            Ask::OnlineFriends => Request::OnlineFriends,
            Ask::OnlineCount => Request::OnlineCount,
            Ask::Send {
                to,
                client_msg_id,
                text: t,
            } => Request::Send {
                to: peer(*to),
                client_msg_id: u64::from(*client_msg_id),
                body: Body::Text(text(*t)),
            },
            Ask::AckSeen => Request::Ack {
                ids: self.inbox.clone(),
            },
            Ask::History {
                peer: p,
                before_seq,
                limit,
            } => Request::History {
                peer: peer(*p),
                before_seq: before_seq.map(u64::from),
                limit: u32::from(*limit),
            },
            Ask::CreateRoom { room } => Request::CreateRoom {
                name: room_name(*room).into(),
            },
            Ask::JoinRoom { room } => Request::JoinRoom {
                name: room_name(*room).into(),
            },
            Ask::LeaveRoom { room } => Request::LeaveRoom {
                name: room_name(*room).into(),
            },
            Ask::DeleteRoom { room } => Request::DeleteRoom {
                name: room_name(*room).into(),
            },
            Ask::ListRooms => Request::ListRooms,
            Ask::Members { room } => Request::Members {
                room: room_name(*room).into(),
            },
            Ask::OfferFile {
                to,
                name,
                size,
                good_hash,
            } => {
                let size = u64::from(*size);
                Request::OfferFile {
                    to: peer(*to),
                    name: FILE_NAMES[usize::from(*name) % FILE_NAMES.len()].into(),
                    size,
                    sha256: if *good_hash {
                        Sha256::digest(file_content(size)).into()
                    } else {
                        [0; 32]
                    },
                }
            }
            Ask::UploadChunk { file, bad } => match upload(*file) {
                Some(up) => {
                    let content = file_content(up.size);
                    let end = up.size.min(up.sent + u64::from(CHUNK));
                    let mut bytes = content[up.sent as usize..end as usize].to_vec();
                    if *bad {
                        bytes.push(0);
                    }
                    Request::UploadChunk {
                        file: up.file,
                        offset: up.sent,
                        bytes,
                    }
                }
                None => Request::UploadChunk {
                    file: u64::from(*file),
                    offset: 0,
                    bytes: vec![1, 2, 3],
                },
            },
            Ask::CompleteFile { file } => Request::CompleteFile {
                file: upload(*file).map_or(u64::from(*file), |up| up.file),
            },
            Ask::ListFiles { peer: p } => Request::ListFiles { peer: peer(*p) },
            Ask::DownloadChunk { file, offset, len } => Request::DownloadChunk {
                file: if self.files.is_empty() {
                    u64::from(*file)
                } else {
                    self.files[usize::from(*file) % self.files.len()]
                },
                offset: u64::from(*offset),
                len: u32::from(*len),
            },
            Ask::Page {
                list: which,
                target,
                after,
                limit,
            } => Request::Page {
                list: list(*which, *target),
                after: cursor(*after),
                limit: u32::from(*limit),
            },
        }
    }

    /// Sends frames the mirror session lets through, then awaits and checks
    /// every answer.
    pub(crate) async fn exchange(&mut self, frames: Vec<ClientFrame>) {
        let mut expect = Vec::new();
        for frame in frames {
            let action = self.mirror.on_frame(frame.clone());
            if action == Action::Ignore && *self.mirror.phase() == Phase::Closed {
                // The connection is gone, nothing is sent.
                continue;
            }
            let conn = self
                .conn
                .as_mut()
                .expect("an open session has a connection");
            conn.send(frame.clone())
                .await
                .unwrap_or_else(|e| panic!("the server hung up before {frame:?}: {e}"));
            expect.push(match action {
                // Not answered.
                Action::Acknowledge { .. } | Action::AcknowledgeUpTo { .. } | Action::Ignore => {
                    continue
                }
                Action::Greet => Expect::Greet,
                Action::Dispatch { req_id, request } => Expect::Answer {
                    req_id,
                    request,
                    refused: None,
                },
                Action::Refuse { req_id, code } => {
                    let ClientFrame::Request { request, .. } = frame else {
                        unreachable!("only requests are refused")
                    };
                    Expect::Answer {
                        req_id,
                        request,
                        refused: Some(code),
                    }
                }
                Action::Close { code, greet } => Expect::Close { code, greet },
            });
            if matches!(expect.last(), Some(Expect::Close { .. })) {
                break;
            }
        }
        self.await_answers(expect).await;
    }

    /// Reads until every expectation is met; checks whatever arrives meanwhile.
    async fn await_answers(&mut self, mut expect: Vec<Expect>) {
        let mut closing = false;
        while !expect.is_empty() {
            let conn = self
                .conn
                .as_mut()
                .expect("awaiting answers on a connection");
            let frame = match conn.next().await {
                Some(Ok(frame)) => frame,
                Some(Err(e)) => panic!("the raw connection failed: {e}"),
                None => {
                    assert!(
                        closing && matches!(expect[..], [Expect::Close { .. }]),
                        "the server closed the connection while {expect:?} was due"
                    );
                    self.conn = None;
                    return;
                }
            };
            match frame {
                ServerFrame::Hello { version, .. } => {
                    assert_eq!(version, self.mirror.version());
                    // A hello is sent alone, so it is all that is due.
                    match expect.as_mut_slice() {
                        [Expect::Greet] => expect.clear(),
                        [Expect::Close { greet, .. }] if *greet => *greet = false,
                        _ => panic!("an unexpected server hello while {expect:?} was due"),
                    }
                }
                ServerFrame::Response { req_id, result } => {
                    let at = expect
                        .iter()
                        .position(|e| matches!(e, Expect::Answer { req_id: r, .. } if *r == req_id))
                        .unwrap_or_else(|| {
                            panic!(
                                "an unsolicited response to {req_id}: {result:?}; due: {expect:?}"
                            )
                        });
                    let Expect::Answer {
                        request, refused, ..
                    } = expect.remove(at)
                    else {
                        unreachable!()
                    };
                    if self.check_answer(request, refused, result) {
                        // The login backlog ends before anything else is answered.
                        expect.insert(0, Expect::CaughtUp);
                    }
                }
                ServerFrame::Item { event, .. } => self.note_event(event),
                ServerFrame::Event(event) => match event {
                    Event::CaughtUp => {
                        assert!(
                            matches!(expect.first(), Some(Expect::CaughtUp)),
                            "CaughtUp out of turn; due: {expect:?}"
                        );
                        expect.remove(0);
                    }
                    Event::Closing { code } => {
                        assert!(
                            matches!(expect[..], [Expect::Close { code: c, greet: false }] if c == code),
                            "an unexpected Closing({code:?}); due: {expect:?}"
                        );
                        closing = true;
                    }
                    event => self.note_event(event),
                },
            }
        }
    }

    /// Checks one answer; returns whether it was a successful login.
    fn check_answer(
        &mut self,
        request: Request,
        refused: Option<ErrorCode>,
        result: Result<Response, ErrorCode>,
    ) -> bool {
        if let Some(code) = refused {
            assert_eq!(result, Err(code), "{request:?} should have been refused");
            return false;
        }
        if let Request::CompleteFile { file } = &request {
            // Whatever the outcome, the upload is over (unless there was none).
            if result != Err(ErrorCode::NoSuchFile) {
                let at = self.uploads.iter().position(|u| u.file == *file);
                let up = self
                    .uploads
                    .remove(at.expect("completed an upload this connection offered"));
                if result.is_ok() {
                    assert_eq!(up.sent, up.size, "completed an unfinished upload");
                }
            }
        }
        let response = match result {
            Ok(response) => response,
            Err(code) => {
                assert!(
                    !matches!(
                        code,
                        ErrorCode::Internal
                            | ErrorCode::ProtocolViolation
                            | ErrorCode::NotAuthenticated
                            | ErrorCode::AlreadyAuthenticated
                    ),
                    "{request:?} was refused {code:?}"
                );
                return false;
            }
        };
        assert!(
            fits(&request, &response),
            "{response:?} does not answer {request:?}"
        );
        match (&request, response) {
            (
                Request::Login { username, .. } | Request::LoginDevice { username, .. },
                Response::LoggedIn { user } | Response::LoggedInDevice { user, .. },
            ) => {
                assert!(
                    user.eq_ignore_ascii_case(username),
                    "logged in as {user} for {username}"
                );
                self.mirror.logged_in(User {
                    id: UserId(0),
                    name: user,
                });
                return true;
            }
            (Request::Logout, _) => {
                assert!(self.mirror.logged_out().is_some());
            }
            (Request::SearchUsers { limit, .. }, Response::Users(users)) => {
                assert!(users.len() <= (*limit).min(limits::MAX_SEARCH_RESULTS) as usize);
            }
            (Request::History { limit, .. }, Response::History(page)) => {
                assert!(page.len() <= (*limit).min(limits::MAX_HISTORY_PAGE) as usize);
                assert!(
                    page.windows(2).all(|w| w[0].seq > w[1].seq),
                    "history is not newest first"
                );
            }
            (Request::OfferFile { size, .. }, Response::FileOffered { file, chunk_size }) => {
                assert_eq!(chunk_size, CHUNK);
                self.uploads.push(Upload {
                    file,
                    size: *size,
                    sent: 0,
                });
                self.files.push(file);
            }
            (
                Request::UploadChunk {
                    file,
                    offset,
                    bytes,
                },
                _,
            ) => {
                let up = self
                    .uploads
                    .iter_mut()
                    .find(|u| u.file == *file)
                    .expect("a chunk was accepted for an upload this connection offered");
                assert_eq!(*offset, up.sent, "a chunk accepted out of order");
                up.sent += bytes.len() as u64;
                assert!(up.sent <= up.size, "more bytes accepted than offered");
            }
            (Request::ListFiles { .. }, Response::Files(files)) => {
                self.files.extend(files.iter().map(|f| f.id));
            }
            (Request::DownloadChunk { len, .. }, Response::Chunk(bytes)) => {
                assert!(bytes.len() <= (*len).min(CHUNK) as usize);
            }
            (Request::Page { limit, .. }, Response::Page { items, next }) => {
                let (count, newest_first) = match &items {
                    Items::Users(v) => (v.len(), true),
                    Items::Friends(v) => (v.len(), true),
                    Items::Rooms(v) => (v.len(), true),
                    Items::Members(v) => (v.len(), true),
                    Items::Files(v) => {
                        self.files.extend(v.iter().map(|f| f.id));
                        (v.len(), true)
                    }
                    Items::History(v) => (v.len(), v.windows(2).all(|w| w[0].seq > w[1].seq)),
                };
                assert!(count <= (*limit).clamp(1, limits::MAX_PAGE) as usize);
                assert!(newest_first, "history is not newest first");
                assert!(count > 0 || next.is_none(), "an empty page that goes on");
            }
            _ => {}
        }
        false
    }

    fn note_event(&mut self, event: Event) {
        if let Some(id) = event.inbox_id() {
            if self.inbox.len() < limits::MAX_ACK_IDS {
                self.inbox.push(id);
            }
        }
        if let Event::FileShared { id, .. } = event {
            self.files.push(id);
        }
    }

    /// Ends the current connection and waits until the server has let it go.
    pub(crate) async fn hang_up(&mut self) {
        if let Some(mut conn) = self.conn.take() {
            let _ = conn.close().await;
            while let Some(frame) = conn.next().await {
                match frame {
                    Ok(ServerFrame::Event(event) | ServerFrame::Item { event, .. }) => {
                        self.note_event(event)
                    }
                    other => panic!("{other:?} after hanging up with nothing due"),
                }
            }
        }
        self.uploads.clear();
    }
}

/// Whether `response` is the kind of answer `request` gets.
fn fits(request: &Request, response: &Response) -> bool {
    use Request as Q;
    use Response as R;
    matches!(
        (request, response),
        (Q::Ping, R::Pong)
            | (Q::Login { .. }, R::LoggedIn { .. })
            | (Q::SearchUsers { .. } | Q::OnlineFriends, R::Users(_))
            | (Q::FriendRequest { .. }, R::FriendRequested { .. })
            | (Q::ListFriends, R::Friends(_))
            | (Q::OnlineCount, R::Count(_))
            | (Q::Send { .. }, R::Sent { .. })
            | (Q::History { .. }, R::History(_))
            | (Q::ListRooms, R::Rooms(_))
            | (Q::Members { .. }, R::Members(_))
            | (Q::OfferFile { .. }, R::FileOffered { .. })
            | (Q::ListFiles { .. }, R::Files(_))
            | (Q::DownloadChunk { .. }, R::Chunk(_))
            | (Q::Page { .. }, R::Page { .. })
            | (Q::LoginDevice { .. }, R::LoggedInDevice { .. })
            | (Q::Devices, R::Devices(_))
            | (
                Q::Register { .. }
                    | Q::Logout
                    | Q::FriendRespond { .. }
                    | Q::RemoveFriend { .. }
                    | Q::Block { .. }
                    | Q::Unblock { .. }
                    | Q::Ack { .. }
                    | Q::CreateRoom { .. }
                    | Q::JoinRoom { .. }
                    | Q::LeaveRoom { .. }
                    | Q::DeleteRoom { .. }
                    | Q::UploadChunk { .. }
                    | Q::CompleteFile { .. }
                    | Q::Typing { .. }
                    | Q::MarkRead { .. }
                    | Q::SetReadReceipts { .. },
                R::Done
            )
    )
}
