//! `Debug` for the request type by hand, so that logs and panic messages never
//! hold a password, and a file chunk shows as its length rather than its bytes.

use std::fmt;

use super::Request;

/// Stands in for a secret (a password, a password hash) in `Debug` output.
pub(crate) struct Redacted;

impl fmt::Debug for Redacted {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("<redacted>")
    }
}

/// Stands in for bulk bytes in `Debug` output.
struct ByteCount(usize);

impl fmt::Debug for ByteCount {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "<{} bytes>", self.0)
    }
}

impl fmt::Debug for Request {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        use Request::*;
        // Exhaustive on purpose: a new variant must decide what it shows.
        match self {
            Ping => f.write_str("Ping"),
            Register { username, .. } => f
                .debug_struct("Register")
                .field("username", username)
                .field("password", &Redacted)
                .finish(),
            Login { username, .. } => f
                .debug_struct("Login")
                .field("username", username)
                .field("password", &Redacted)
                .finish(),
            LoginDevice {
                username, device, ..
            } => f
                .debug_struct("LoginDevice")
                .field("username", username)
                .field("password", &Redacted)
                .field("device", device)
                .finish(),
            Devices => f.write_str("Devices"),
            Typing { to } => f.debug_struct("Typing").field("to", to).finish(),
            MarkRead { peer, seq } => f
                .debug_struct("MarkRead")
                .field("peer", peer)
                .field("seq", seq)
                .finish(),
            SetReadReceipts { on } => f.debug_struct("SetReadReceipts").field("on", on).finish(),
            RevokeDevice { device } => f
                .debug_struct("RevokeDevice")
                .field("device", device)
                .finish(),
            Logout => f.write_str("Logout"),
            SearchUsers { query, limit } => f
                .debug_struct("SearchUsers")
                .field("query", query)
                .field("limit", limit)
                .finish(),
            FriendRequest { to, note } => f
                .debug_struct("FriendRequest")
                .field("to", to)
                .field("note", note)
                .finish(),
            FriendRespond { from, accept } => f
                .debug_struct("FriendRespond")
                .field("from", from)
                .field("accept", accept)
                .finish(),
            RemoveFriend { user } => f.debug_struct("RemoveFriend").field("user", user).finish(),
            Block { user } => f.debug_struct("Block").field("user", user).finish(),
            Unblock { user } => f.debug_struct("Unblock").field("user", user).finish(),
            ListFriends => f.write_str("ListFriends"),
            OnlineFriends => f.write_str("OnlineFriends"),
            OnlineCount => f.write_str("OnlineCount"),
            Send {
                to,
                client_msg_id,
                body,
            } => f
                .debug_struct("Send")
                .field("to", to)
                .field("client_msg_id", client_msg_id)
                .field("body", body)
                .finish(),
            Ack { ids } => f.debug_struct("Ack").field("ids", ids).finish(),
            History {
                peer,
                before_seq,
                limit,
            } => f
                .debug_struct("History")
                .field("peer", peer)
                .field("before_seq", before_seq)
                .field("limit", limit)
                .finish(),
            CreateRoom { name } => f.debug_struct("CreateRoom").field("name", name).finish(),
            JoinRoom { name } => f.debug_struct("JoinRoom").field("name", name).finish(),
            LeaveRoom { name } => f.debug_struct("LeaveRoom").field("name", name).finish(),
            DeleteRoom { name } => f.debug_struct("DeleteRoom").field("name", name).finish(),
            ListRooms => f.write_str("ListRooms"),
            Members { room } => f.debug_struct("Members").field("room", room).finish(),
            OfferFile {
                to,
                name,
                size,
                sha256,
            } => f
                .debug_struct("OfferFile")
                .field("to", to)
                .field("name", name)
                .field("size", size)
                .field("sha256", sha256)
                .finish(),
            UploadChunk {
                file,
                offset,
                bytes,
            } => f
                .debug_struct("UploadChunk")
                .field("file", file)
                .field("offset", offset)
                .field("bytes", &ByteCount(bytes.len()))
                .finish(),
            CompleteFile { file } => f.debug_struct("CompleteFile").field("file", file).finish(),
            ListFiles { peer } => f.debug_struct("ListFiles").field("peer", peer).finish(),
            DownloadChunk { file, offset, len } => f
                .debug_struct("DownloadChunk")
                .field("file", file)
                .field("offset", offset)
                .field("len", len)
                .finish(),
            Page { list, after, limit } => f
                .debug_struct("Page")
                .field("list", list)
                .field("after", after)
                .field("limit", limit)
                .finish(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::protocol::ClientFrame;

    #[test]
    fn passwords_never_reach_debug_output() {
        let secret = "correct horse battery staple";
        let requests = [
            Request::Login {
                username: "ann".into(),
                password: secret.into(),
            },
            Request::Register {
                username: "ann".into(),
                password: secret.into(),
            },
            Request::LoginDevice {
                username: "ann".into(),
                password: secret.into(),
                device: crate::protocol::DeviceClaim::New {
                    name: "laptop".into(),
                },
            },
        ];
        for request in requests {
            let frame = ClientFrame::Request { req_id: 1, request };
            for shown in [format!("{frame:?}"), format!("{frame:#?}")] {
                assert!(!shown.contains(secret), "{shown}");
                assert!(
                    shown.contains("ann") && shown.contains("<redacted>"),
                    "{shown}"
                );
            }
        }
    }

    #[test]
    fn a_stored_password_hash_never_reaches_debug_output() {
        let account = crate::store::Account {
            user: crate::store::User {
                id: crate::store::UserId(1),
                name: "ann".into(),
            },
            password_hash: "$argon2id$v=19$secret".into(),
        };
        let shown = format!("{account:?}");
        assert!(!shown.contains("argon2id"), "{shown}");
        assert!(
            shown.contains("ann") && shown.contains("<redacted>"),
            "{shown}"
        );
    }

    #[test]
    fn a_chunk_shows_its_length_not_its_bytes() {
        let chunk = Request::UploadChunk {
            file: 7,
            offset: 0,
            bytes: vec![0xab; 4096],
        };
        assert_eq!(
            format!("{chunk:?}"),
            "UploadChunk { file: 7, offset: 0, bytes: <4096 bytes> }"
        );
        let other = Request::History {
            peer: crate::protocol::Peer::User("bob".into()),
            before_seq: Some(3),
            limit: 10,
        };
        assert_eq!(
            format!("{other:?}"),
            r#"History { peer: User("bob"), before_seq: Some(3), limit: 10 }"#
        );
    }
}
