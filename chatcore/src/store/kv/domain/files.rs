//! Files: offers, chunks, completion (which shares a file to a user through
//! their inbox), deletion, and the lists of a conversation's files.

use super::scan_decode;
use crate::protocol::{ErrorCode, Event, ItemId, Peer, Timestamp};
use crate::store::kv::keys::{self, Conv};
use crate::store::kv::records::{FileUsage, Reader};
use crate::store::kv::{KvBackend, Txn, View};
use crate::store::{FileQuota, FileRecord, FileTarget, NewFile, Notice, StoreError, UserId};

/// The conversation a file from `from` to `target` belongs to.
fn conv_of(target: &FileTarget, from: UserId) -> Conv {
    match target {
        FileTarget::User(to) => Conv::direct(from, to.id),
        FileTarget::Room(room) => Conv::Room(room.id),
    }
}

impl Txn<'_> {
    /// Deletes a file's record, its chunks and its place in its conversation,
    /// and gives its uploader the quota back.
    pub(super) fn delete_file_record(&mut self, file: &FileRecord) -> Result<(), StoreError> {
        for index in 0..file.size.div_ceil(u64::from(file.chunk_size.max(1))) {
            self.delete(keys::chunk(file.id, index));
        }
        self.delete(keys::conv_file(conv_of(&file.to, file.from.id), file.id));
        self.delete(keys::file(file.id));
        let usage_key = keys::file_usage(file.from.id);
        // Saturating: files stored before usage was kept are not in it.
        let usage = self.record::<FileUsage>(&usage_key)?.unwrap_or_default();
        let usage = FileUsage {
            files: usage.files.saturating_sub(1),
            bytes: usage.bytes.saturating_sub(file.size),
        };
        if usage == FileUsage::default() {
            self.delete(usage_key);
        } else {
            self.put(usage_key, &usage);
        }
        Ok(())
    }
}

/// Records an offered file, with nothing received yet, unless it would take
/// its uploader over `quota`.
pub(super) fn create_file(
    txn: &mut Txn<'_>,
    offer: NewFile,
    quota: FileQuota,
) -> Result<Result<FileRecord, ErrorCode>, StoreError> {
    let usage_key = keys::file_usage(offer.from.id);
    let usage = txn.record::<FileUsage>(&usage_key)?.unwrap_or_default();
    let usage = FileUsage {
        files: usage.files.saturating_add(1),
        bytes: usage.bytes.saturating_add(offer.size),
    };
    if usage.files > quota.files || usage.bytes > quota.bytes {
        return Ok(Err(ErrorCode::QuotaExceeded));
    }
    txn.put(usage_key, &usage);
    let record = FileRecord {
        id: txn.next_id()?,
        from: offer.from,
        to: offer.to,
        name: offer.name,
        size: offer.size,
        sha256: offer.sha256,
        chunk_size: offer.chunk_size,
        received: 0,
        complete: false,
        ts: offer.ts,
    };
    txn.put(keys::file(record.id), &record);
    Ok(Ok(record))
}

/// Stores chunk `index` of `file`.
pub(super) fn put_chunk(
    txn: &mut Txn<'_>,
    file: ItemId,
    index: u64,
    bytes: Vec<u8>,
) -> Result<(), StoreError> {
    let key = keys::file(file);
    let Some(mut record) = txn.record::<FileRecord>(&key)? else {
        return Err(StoreError::Corrupt {
            key: format!("{key:?}"),
            reason: "chunk for a missing file".into(),
        });
    };
    record.received += bytes.len() as u64;
    txn.put(key, &record);
    txn.put_raw(keys::chunk(file, index), bytes);
    Ok(())
}

/// Marks `file` complete and lists it in its conversation; a file to a user
/// also goes into their stream.
pub(super) fn complete_file(
    txn: &mut Txn<'_>,
    file: ItemId,
    ts: Timestamp,
) -> Result<Option<Notice>, StoreError> {
    let key = keys::file(file);
    let Some(mut record) = txn.record::<FileRecord>(&key)? else {
        return Ok(None);
    };
    record.complete = true;
    record.ts = ts;
    txn.put(key, &record);
    txn.put(
        keys::conv_file(conv_of(&record.to, record.from.id), file),
        &(),
    );
    let FileTarget::User(to) = &record.to else {
        return Ok(None);
    };
    let event = Event::FileShared {
        id: record.id,
        from: record.from.name.clone(),
        to: Peer::User(to.name.clone()),
        name: record.name.clone(),
        size: record.size,
    };
    txn.push_event(to.id, event).map(Some)
}

/// Deletes `file`, whatever state it is in.
pub(super) fn delete_file(txn: &mut Txn<'_>, file: ItemId) -> Result<(), StoreError> {
    if let Some(record) = txn.record::<FileRecord>(&keys::file(file))? {
        txn.delete_file_record(&record)?;
    }
    Ok(())
}

/// The ids of the files whose upload has not completed.
pub(super) fn incomplete_files<B: KvBackend>(b: &View<'_, B>) -> Result<Vec<ItemId>, StoreError> {
    let (start, end) = keys::FILES;
    Ok(
        scan_decode::<B, FileRecord>(b, (start.into(), end.into()), false, usize::MAX)?
            .into_iter()
            .filter(|(_, f)| !f.complete)
            .map(|(_, f)| f.id)
            .collect(),
    )
}

/// Up to `limit` completed files of a conversation, in id order, with ids
/// above `after`.
pub(super) fn files_of<B: KvBackend>(
    backend: &View<'_, B>,
    conv: Conv,
    after: Option<ItemId>,
    limit: usize,
) -> Result<Vec<FileRecord>, StoreError> {
    let (first, end) = keys::conv_files(conv);
    let start = after.map_or(first, |file| keys::after(keys::conv_file(conv, file)));
    let mut files = Vec::new();
    // Only completion lists a file in its conversation.
    for (key, _) in backend.scan(&start, &end, false, limit)? {
        if let Some(file) = backend.record::<FileRecord>(&keys::file(keys::last_u64(&key)))? {
            files.push(file);
        }
    }
    Ok(files)
}
