//! File transfer: offer -> chunks in order -> complete (verified) -> shared; and
//! chunked download.
//!
//! An upload belongs to the connection that offered it; its running SHA-256 lives
//! here, so neither side ever holds a whole file. Chunks are stored as they arrive
//! but the file stays invisible until `CompleteFile` verifies size and hash. A
//! failed verification, or the connection ending first, deletes the file and its
//! chunks. A connection has at most `max_uploads_per_connection` uploads open,
//! and a user's files (open or complete) count against their quota in the
//! store until deleted.

use sha2::{Digest, Sha256};

use super::conn::{internal, now_ms, Conn, Reply, Upload};
use crate::protocol::{is_valid_file_name, ErrorCode, Event, FileInfo, ItemId, Peer, Response};
use crate::store::{FileQuota, FileRecord, FileTarget, NewFile, User};

fn peer_of(target: &FileTarget) -> Peer {
    match target {
        FileTarget::User(u) => Peer::User(u.name.clone()),
        FileTarget::Room(r) => Peer::Room(r.name.clone()),
    }
}

/// What a file list shows of a file.
pub(super) fn info(file: FileRecord) -> FileInfo {
    FileInfo {
        id: file.id,
        from: file.from.name,
        to: peer_of(&file.to),
        name: file.name,
        size: file.size,
        sha256: file.sha256,
        ts: file.ts,
    }
}

impl Conn {
    pub(super) async fn offer_file(
        &mut self,
        to: Peer,
        name: String,
        size: u64,
        sha256: [u8; 32],
    ) -> Reply {
        if !is_valid_file_name(&name) {
            return Err(ErrorCode::InvalidFileName);
        }
        let config = &self.state.config;
        if size > config.max_file_size {
            return Err(ErrorCode::FileTooLarge);
        }
        self.check_disk_space()?;
        if self.uploads.len() >= config.max_uploads_per_connection {
            return Err(ErrorCode::TooManyUploads);
        }
        let me = self.me();
        let target = match to {
            Peer::User(name) => {
                let to = self.resolve(&name).await?;
                self.check_may_chat(&me, &to).await?;
                FileTarget::User(to)
            }
            Peer::Room(name) => FileTarget::Room(self.joined_room(&me, &name).await?),
        };
        let chunk_size = self.state.config.file_chunk_size;
        let offer = NewFile {
            from: me,
            to: target,
            name,
            size,
            sha256,
            chunk_size,
            ts: now_ms(),
        };
        let quota = FileQuota {
            files: self.state.config.max_files_per_user,
            bytes: self.state.config.max_stored_bytes_per_user,
        };
        let record = self
            .state
            .store
            .create_file(offer, quota)
            .await
            .map_err(internal)??;
        let file = record.id;
        self.uploads.insert(
            file,
            Upload {
                record,
                hasher: Sha256::new(),
                received: 0,
            },
        );
        Ok(Response::FileOffered { file, chunk_size })
    }

    pub(super) async fn upload_chunk(
        &mut self,
        file: ItemId,
        offset: u64,
        bytes: Vec<u8>,
    ) -> Reply {
        // Before the chunk counts: the client may send it again later.
        self.check_disk_space()?;
        let Some(upload) = self.uploads.get_mut(&file) else {
            return Err(ErrorCode::NoSuchFile);
        };
        let chunk_size = u64::from(upload.record.chunk_size);
        let expected = chunk_size.min(upload.record.size - upload.received);
        if offset != upload.received || bytes.len() as u64 != expected || expected == 0 {
            return Err(ErrorCode::BadChunk);
        }
        // The upload moves on only once the chunk is stored: after a store
        // failure the client retries the same chunk.
        let mut hasher = upload.hasher.clone();
        hasher.update(&bytes);
        self.state
            .store
            .put_chunk(file, offset / chunk_size, bytes)
            .await
            .map_err(internal)?;
        upload.hasher = hasher;
        upload.received += expected;
        Ok(Response::Done)
    }

    pub(super) async fn complete_file(&mut self, file: ItemId) -> Reply {
        let Some(upload) = self.uploads.remove(&file) else {
            return Err(ErrorCode::NoSuchFile);
        };
        let digest: [u8; 32] = upload.hasher.finalize().into();
        let record = upload.record;
        if upload.received != record.size || digest != record.sha256 {
            tracing::info!(file, name = %record.name, "upload failed verification; deleted");
            self.state.store.delete_file(file).await.map_err(internal)?;
            return Err(ErrorCode::ChecksumMismatch);
        }
        let notice = self
            .state
            .store
            .complete_file(file, now_ms())
            .await
            .map_err(internal)?;
        tracing::info!(file, name = %record.name, size = record.size, "file shared");
        match (&record.to, notice) {
            (FileTarget::User(_), Some(notice)) => self.push_notices(vec![notice]),
            (FileTarget::Room(room), _) => {
                let event = Event::FileShared {
                    id: record.id,
                    from: record.from.name.clone(),
                    to: Peer::Room(room.name.clone()),
                    name: record.name.clone(),
                    size: record.size,
                };
                self.broadcast(room, event).await;
            }
            (FileTarget::User(_), None) => {}
        }
        Ok(Response::Done)
    }

    /// Refuses a large write while the store's disk is below the free-space
    /// watermark (see `store_watch`).
    fn check_disk_space(&self) -> Result<(), ErrorCode> {
        match self.state.disk.is_low() {
            true => Err(ErrorCode::StorageFull),
            false => Ok(()),
        }
    }

    /// Deletes the uploads this connection left unfinished.
    pub(super) async fn abandon_uploads(&mut self) {
        for (file, upload) in self.uploads.drain() {
            tracing::info!(file, name = %upload.record.name, "upload abandoned; deleted");
            if let Err(e) = self.state.store.delete_file(file).await {
                internal(e);
            }
        }
    }

    /// Whether `me` may read `file`: its uploader, its recipient, or a member of
    /// its room.
    async fn may_read(&self, me: &User, file: &FileRecord) -> Result<bool, ErrorCode> {
        Ok(file.from.id == me.id
            || match &file.to {
                FileTarget::User(u) => u.id == me.id,
                FileTarget::Room(r) => self
                    .state
                    .store
                    .is_member(r.id, me.id)
                    .await
                    .map_err(internal)?,
            })
    }

    pub(super) async fn download_chunk(&self, file: ItemId, offset: u64, len: u32) -> Reply {
        let me = self.me();
        let record = match self.state.store.file(file).await.map_err(internal)? {
            Some(r) if r.complete && self.may_read(&me, &r).await? => r,
            _ => return Err(ErrorCode::NoSuchFile),
        };
        if offset > record.size {
            return Err(ErrorCode::BadChunk);
        }
        if offset == record.size || len == 0 {
            return Ok(Response::Chunk(Vec::new()));
        }
        let chunk_size = u64::from(record.chunk_size);
        let chunk = self
            .state
            .store
            .chunk(file, offset / chunk_size)
            .await
            .map_err(internal)?
            .ok_or(ErrorCode::NoSuchFile)?;
        let start = (offset % chunk_size) as usize;
        let end = chunk.len().min(start + len.min(record.chunk_size) as usize);
        Ok(Response::Chunk(chunk[start..end].to_vec()))
    }
}
