//! The client's room and file requests.

use super::{Client, ClientError, Sent};
use crate::protocol::{
    Body, FileInfo, ItemId, Items, List, MemberEntry, Peer, Request, Response, RoomInfo,
};

impl Client {
    /// Creates a room (you become owner and member).
    pub async fn create_room(&self, name: &str) -> Result<(), ClientError> {
        self.expect_done(Request::CreateRoom { name: name.into() })
            .await
    }

    /// Joins a room; its recent messages follow as events.
    pub async fn join_room(&self, name: &str) -> Result<(), ClientError> {
        self.expect_done(Request::JoinRoom { name: name.into() })
            .await
    }

    /// Leaves a room.
    pub async fn leave_room(&self, name: &str) -> Result<(), ClientError> {
        self.expect_done(Request::LeaveRoom { name: name.into() })
            .await
    }

    /// Deletes a room you own.
    pub async fn delete_room(&self, name: &str) -> Result<(), ClientError> {
        self.expect_done(Request::DeleteRoom { name: name.into() })
            .await
    }

    /// All rooms, in name order, a page at a time.
    pub async fn rooms(&self) -> Result<Vec<RoomInfo>, ClientError> {
        self.whole_list(List::Rooms, Request::ListRooms, |r| match r {
            Response::Rooms(all) => Ok((all, None)),
            Response::Page {
                items: Items::Rooms(page),
                next,
            } => Ok((page, next)),
            other => Err(other),
        })
        .await
    }

    /// A room's members with presence: all of them, a page at a time.
    pub async fn members(&self, room: &str) -> Result<Vec<MemberEntry>, ClientError> {
        let list = List::Members { room: room.into() };
        let older = Request::Members { room: room.into() };
        self.whole_list(list, older, |r| match r {
            Response::Members(all) => Ok((all, None)),
            Response::Page {
                items: Items::Members(page),
                next,
            } => Ok((page, next)),
            other => Err(other),
        })
        .await
    }

    /// Sends a text to a room with a fresh idempotency key
    /// ([`fresh_client_msg_id`](super::fresh_client_msg_id)).
    pub async fn say(&self, room: &str, text: &str) -> Result<Sent, ClientError> {
        self.send(
            Peer::Room(room.into()),
            super::fresh_client_msg_id(),
            Body::Text(text.into()),
        )
        .await
    }

    /// Offers a file; returns the file id and the chunk size to upload with.
    pub async fn offer_file(
        &self,
        to: Peer,
        name: &str,
        size: u64,
        sha256: [u8; 32],
    ) -> Result<(ItemId, u32), ClientError> {
        let request = Request::OfferFile {
            to,
            name: name.into(),
            size,
            sha256,
        };
        match self.request(request).await? {
            Response::FileOffered { file, chunk_size } => Ok((file, chunk_size)),
            other => Err(ClientError::Unexpected(format!("{other:?}"))),
        }
    }

    /// Uploads the chunk at `offset` (chunks go in order, each `chunk_size` bytes
    /// but the last).
    pub async fn upload_chunk(
        &self,
        file: ItemId,
        offset: u64,
        bytes: Vec<u8>,
    ) -> Result<(), ClientError> {
        self.expect_done(Request::UploadChunk {
            file,
            offset,
            bytes,
        })
        .await
    }

    /// Completes an upload; the server verifies it and tells the recipient.
    pub async fn complete_file(&self, file: ItemId) -> Result<(), ClientError> {
        self.expect_done(Request::CompleteFile { file }).await
    }

    /// Files of a conversation or room: all of them, a page at a time.
    pub async fn files(&self, peer: Peer) -> Result<Vec<FileInfo>, ClientError> {
        let older = Request::ListFiles { peer: peer.clone() };
        self.whole_list(List::Files { peer }, older, |r| match r {
            Response::Files(all) => Ok((all, None)),
            Response::Page {
                items: Items::Files(page),
                next,
            } => Ok((page, next)),
            other => Err(other),
        })
        .await
    }

    /// Reads up to `len` bytes of a file at `offset` (empty at the end).
    pub async fn download_chunk(
        &self,
        file: ItemId,
        offset: u64,
        len: u32,
    ) -> Result<Vec<u8>, ClientError> {
        match self
            .request(Request::DownloadChunk { file, offset, len })
            .await?
        {
            Response::Chunk(bytes) => Ok(bytes),
            other => Err(ClientError::Unexpected(format!("{other:?}"))),
        }
    }
}
