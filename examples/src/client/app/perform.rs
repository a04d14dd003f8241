//! Carrying out one command against the server: what the client library
//! answers, as the line to print.

use std::path::Path;

use chatcore::client::{Client, ClientError};
use chatcore::protocol::{limits, DeviceClaim, ErrorCode, FriendState, Peer};

use super::super::command::{Command, RoomAction, SEARCH_LIMIT, USAGE};
use super::super::device::DeviceSettings;
use super::super::emoji::emojify;
use super::super::output::{
    peer_name, DeviceLine, FileLine, FriendLine, Line, MemberLine, MessageLine, Payload, RoomLine,
    State,
};
use super::super::transfer::{self, Failure, FileFacts, Progress};
use super::{Known, Lost};

/// Carries out one command: the line to print, or `Lost`.
pub(super) async fn perform(
    client: Client,
    cmd: Command,
    progress: Progress,
    known: Option<Known>,
    device: Option<DeviceSettings>,
    newest: Option<u64>,
) -> Result<Line, Lost> {
    let word = cmd.word();
    let result: Result<Payload, Failure> = async {
        Ok(match cmd {
            Command::Register { user, pass } => {
                client.register(&user, &pass).await?;
                Payload::User { user }
            }
            Command::Login { user, pass } => match device {
                None => Payload::User {
                    user: client.login(&user, &pass).await?,
                },
                Some(device) => {
                    let claim = device.claim(&user).await?;
                    let new = matches!(claim, DeviceClaim::New { .. });
                    let id = match client.login_device(&user, &pass, claim).await {
                        Ok(id) => id,
                        // Revoked: the next login registers it afresh.
                        Err(ClientError::Refused(ErrorCode::UnknownDevice)) => {
                            device.forget(&user).await?;
                            Err(ClientError::Refused(ErrorCode::UnknownDevice))?
                        }
                        Err(e) => Err(e)?,
                    };
                    if new {
                        device.keep(&user, id).await?;
                    }
                    Payload::LoggedInDevice { user, device: id }
                }
            },
            Command::Typing { to } => {
                client.typing(to.clone()).await?;
                Payload::Typed { to: peer_name(to) }
            }
            Command::Read { peer } => {
                let seq = match newest {
                    Some(seq) => Some(seq),
                    // Nothing seen there in this run: the newest message tells.
                    None => client
                        .history(peer.clone(), None, 1)
                        .await?
                        .first()
                        .map(|m| m.seq),
                };
                // An empty conversation has nothing to mark.
                if let Some(seq) = seq {
                    client.mark_read(peer.clone(), seq).await?;
                }
                Payload::Marked {
                    peer: peer_name(peer),
                    seq: seq.unwrap_or(0),
                }
            }
            Command::Receipts { on } => {
                client.set_read_receipts(on).await?;
                Payload::Receipts { on }
            }
            Command::Devices => Payload::Devices {
                devices: client
                    .devices()
                    .await?
                    .into_iter()
                    .map(DeviceLine::from)
                    .collect(),
            },
            Command::Revoke { device } => {
                let id = match device.parse::<u64>() {
                    Ok(id) => id,
                    Err(_) => client
                        .devices()
                        .await?
                        .into_iter()
                        .find(|d| d.name == device)
                        .map(|d| d.id)
                        .ok_or(ClientError::Refused(ErrorCode::UnknownDevice))?,
                };
                client.revoke_device(id).await?;
                Payload::Revoked { device: id }
            }
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
            Command::History { user, count } => history(&client, Peer::User(user), count).await?,
            Command::RoomHistory { room, count } => {
                history(&client, Peer::Room(room), count).await?
            }
            Command::Room { action, room } => {
                match action {
                    RoomAction::Create => client.create_room(&room).await?,
                    RoomAction::Join => client.join_room(&room).await?,
                    RoomAction::Leave => client.leave_room(&room).await?,
                    RoomAction::Delete => client.delete_room(&room).await?,
                }
                Payload::Room {
                    action: action.as_str(),
                    room,
                }
            }
            Command::Rooms => Payload::Rooms {
                rooms: client
                    .rooms()
                    .await?
                    .into_iter()
                    .map(RoomLine::from)
                    .collect(),
            },
            Command::Members { room } => {
                let members = client.members(&room).await?;
                Payload::Members {
                    room,
                    members: members.into_iter().map(MemberLine::from).collect(),
                }
            }
            Command::Say { room, text } => {
                let text = emojify(&text);
                let sent = client.say(&room, &text).await?;
                Payload::Said {
                    room,
                    text,
                    id: sent.id,
                    seq: sent.seq,
                    ts: sent.ts,
                }
            }
            Command::SendFile { to, path } => {
                let sent =
                    transfer::send_file(&client, to.clone(), Path::new(&path), &progress).await?;
                Payload::FileSent {
                    to: peer_name(to),
                    id: sent.id,
                    name: sent.name,
                    size: sent.size,
                    sha256: sent.sha256,
                }
            }
            Command::Files { with } => Payload::Files {
                files: client
                    .files(with)
                    .await?
                    .into_iter()
                    .map(FileLine::from)
                    .collect(),
            },
            Command::Download { id, path } => {
                let facts = find_file(&client, id, known).await?;
                let saved =
                    transfer::download(&client, id, &facts, Path::new(&path), &progress).await?;
                Payload::Downloaded {
                    id,
                    name: facts.name,
                    path: saved.path.display().to_string(),
                    size: saved.size,
                    sha256: saved.sha256,
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
        Err(Failure::Client(ClientError::Refused(code))) => Ok(Line::refused(word, code)),
        Err(Failure::Client(ClientError::Unexpected(what))) => {
            Ok(Line::error(word, "unexpected_response", what))
        }
        // An older server: the request was not sent, the connection is fine.
        Err(Failure::Client(e @ ClientError::Unsupported { .. })) => {
            Ok(Line::error(word, "unsupported", e.to_string()))
        }
        // A client moving to another address: this request may or may not
        // have been done; the client goes on.
        Err(Failure::Client(e @ ClientError::ConnectionLost)) => {
            Ok(Line::error(word, "connection_lost", e.to_string()))
        }
        Err(Failure::Client(_)) => Err(Lost),
        Err(Failure::Local { code, message }) => Ok(Line::error(word, code, message)),
    }
}

/// The last `count` messages with `peer` (at most a full history page), oldest
/// first: as many pages as it takes, since the server fills a page only up to
/// its frame limit.
async fn history(client: &Client, peer: Peer, count: u32) -> Result<Payload, ClientError> {
    let count = count.min(limits::MAX_HISTORY_PAGE) as usize;
    let (mut page, mut before) = (Vec::new(), None);
    while page.len() < count {
        let want = (count - page.len()) as u32;
        let more = client.history(peer.clone(), before, want).await?;
        let Some(oldest) = more.last() else { break };
        before = Some(oldest.seq);
        page.extend(more);
    }
    // The server pages newest first; people and scripts read oldest first.
    page.reverse();
    Ok(Payload::History {
        messages: page.into_iter().map(MessageLine::from).collect(),
    })
}

/// Name, size and SHA-256 of file `id`, to check a download against: from what
/// the client saw, else from `files` where it was shared, else from `files` of
/// every friend and joined room.
async fn find_file(client: &Client, id: u64, known: Option<Known>) -> Result<FileFacts, Failure> {
    let mut searched = None;
    match known {
        Some(Known::Facts(facts)) => return Ok(facts),
        Some(Known::In(place)) => {
            if let Some(facts) = file_in(client, id, place.clone()).await? {
                return Ok(facts);
            }
            searched = Some(place);
        }
        None => {}
    }
    let mut places: Vec<Peer> = client
        .friends()
        .await?
        .into_iter()
        .filter(|f| f.state == FriendState::Friends)
        .map(|f| Peer::User(f.user))
        .collect();
    places.extend(
        client
            .rooms()
            .await?
            .into_iter()
            .filter(|r| r.joined)
            .map(|r| Peer::Room(r.name)),
    );
    for place in places {
        if Some(&place) == searched.as_ref() {
            continue;
        }
        if let Some(facts) = file_in(client, id, place).await? {
            return Ok(facts);
        }
    }
    Err(ClientError::Refused(ErrorCode::NoSuchFile).into())
}

/// File `id` among the files of `place`, if there.
async fn file_in(client: &Client, id: u64, place: Peer) -> Result<Option<FileFacts>, Failure> {
    let files = match client.files(place).await {
        Ok(files) => files,
        // Not (or no longer) a member, say: the file is not there.
        Err(ClientError::Refused(_)) => return Ok(None),
        Err(e) => return Err(e.into()),
    };
    Ok(files.into_iter().find(|f| f.id == id).map(|f| FileFacts {
        name: f.name,
        size: f.size,
        sha256: hex::encode(f.sha256),
    }))
}
