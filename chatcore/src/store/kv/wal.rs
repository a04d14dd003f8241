//! The write-ahead log: each group commit is one checksummed record appended to a
//! segment file and made durable with one `fdatasync`, instead of one backend
//! transaction. Segments are numbered; a checkpoint writes a closed segment's
//! changes into the backend (recording its number there) and deletes the file.
//!
//! A record is `len: u32 LE`, `crc32(payload): u32 LE`, `payload`; the payload is
//! the group's writes, each `key_len: u32 LE`, `key`, then `0` (delete) or `1`,
//! `value_len: u32 LE`, `value`. A crash can leave only the last record of the last
//! segment torn (it was never acknowledged), with nothing but zeros after it:
//! replay stops there. Anything else invalid (an invalid record with data after
//! it, or in an older segment) is corruption and refuses the open, rather than
//! dropping the acknowledged records behind it.
//!
//! A segment's blocks are allocated when it is created (on Linux, where the file
//! system can), so an append does not change the file's size and its `fdatasync`
//! has no size to write: on ext4 (a virtio disk) that took a quarter to a third
//! off each commit's mean latency and a third off its CPU. The unwritten rest of
//! a segment reads as zeros; a zero header (no record is empty) marks where the
//! records end, and everything after it must be zero.
//!
//! Every file operation goes through [`LogFs`]: [`StdFs`] (`std::fs`) in use, a
//! model of power loss in tests.

use std::fs::{File, OpenOptions};
use std::io::{self, ErrorKind, Read, Write};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Instant;

use super::{os, CheckpointLag, WriteBatch};
use crate::store::StoreError;

/// The file operations of the log: what a test replaces to model a power loss
/// (see `power_loss`) or a failing disk.
pub(crate) trait LogFs: Send + Sync + 'static {
    /// The paths of the entries in `dir`.
    fn list(&self, dir: &Path) -> io::Result<Vec<PathBuf>>;
    /// The whole content of a file.
    fn read(&self, path: &Path) -> io::Result<Vec<u8>>;
    /// Creates a new file (an error if it exists), with its first `allocate`
    /// bytes allocated where the file system can (durably), for appends.
    fn create(&self, path: &Path, allocate: u64) -> io::Result<Box<dyn LogFile>>;
    /// A file's length; `None` if it does not exist.
    fn len(&self, path: &Path) -> io::Result<Option<u64>>;
    /// Cuts a file to `len` bytes, durably.
    fn shrink(&self, path: &Path, len: u64) -> io::Result<()>;
    /// Deletes a file; a missing one is no error.
    fn remove(&self, path: &Path) -> io::Result<()>;
    /// Makes the creations and deletions in `dir` durable.
    fn sync_dir(&self, dir: &Path) -> io::Result<()>;
}

/// A segment file open for appends.
pub(crate) trait LogFile: Send {
    /// Writes `bytes` just past what was written before.
    fn append(&mut self, bytes: &[u8]) -> io::Result<()>;
    /// Makes what was written durable (`fdatasync`).
    fn sync_data(&mut self) -> io::Result<()>;
}

/// The log's files on the real file system.
#[derive(Debug, Clone, Copy)]
pub(crate) struct StdFs;

impl StdFs {
    /// The file system as a shared [`LogFs`].
    pub(crate) fn shared() -> Arc<dyn LogFs> {
        Arc::new(StdFs)
    }
}

impl LogFs for StdFs {
    fn list(&self, dir: &Path) -> io::Result<Vec<PathBuf>> {
        std::fs::read_dir(dir)?
            .map(|entry| entry.map(|e| e.path()))
            .collect()
    }

    fn read(&self, path: &Path) -> io::Result<Vec<u8>> {
        let mut bytes = Vec::new();
        File::open(path)?.read_to_end(&mut bytes)?;
        Ok(bytes)
    }

    fn create(&self, path: &Path, allocate: u64) -> io::Result<Box<dyn LogFile>> {
        let file = OpenOptions::new().create_new(true).write(true).open(path)?;
        if allocate > 0 {
            // Only a speed-up: where the file system cannot allocate (or has no
            // room for a whole segment), the segment grows with each append.
            match os::allocate(&file, allocate) {
                Ok(()) => file.sync_all()?,
                Err(e) => {
                    tracing::debug!(path = %path.display(), error = %e, "segment not allocated")
                }
            }
        }
        Ok(Box::new(file))
    }

    fn len(&self, path: &Path) -> io::Result<Option<u64>> {
        match std::fs::metadata(path) {
            Ok(meta) => Ok(Some(meta.len())),
            Err(e) if e.kind() == ErrorKind::NotFound => Ok(None),
            Err(e) => Err(e),
        }
    }

    fn shrink(&self, path: &Path, len: u64) -> io::Result<()> {
        let file = OpenOptions::new().write(true).open(path)?;
        file.set_len(len)?;
        file.sync_data()
    }

    fn remove(&self, path: &Path) -> io::Result<()> {
        match std::fs::remove_file(path) {
            Err(e) if e.kind() != ErrorKind::NotFound => Err(e),
            _ => Ok(()),
        }
    }

    fn sync_dir(&self, dir: &Path) -> io::Result<()> {
        File::open(dir)?.sync_all()
    }
}

impl LogFile for File {
    fn append(&mut self, bytes: &[u8]) -> io::Result<()> {
        // At the cursor, just past the last record: not in append mode, as an
        // allocated file is longer than its records.
        self.write_all(bytes)
    }

    fn sync_data(&mut self) -> io::Result<()> {
        File::sync_data(self)
    }
}

/// A write as the log takes it: key, and value or `None` for a delete.
type Borrowed<'a> = (&'a [u8], Option<&'a [u8]>);

const PREFIX: &str = "chat-wal-";
const SUFFIX: &str = ".log";
const HEADER: usize = 8;
/// The most bytes allocated for a segment's records when it is created.
pub const MAX_ALLOCATED: u64 = 64 << 20;
/// The largest record buffer kept between appends.
const BUFFER_KEPT: usize = 4 << 20;

/// The backend key that holds the number of the last segment checkpointed into it.
pub const CHECKPOINTED: &[u8] = b"mwal_checkpointed";

fn segment_path(dir: &Path, number: u64) -> PathBuf {
    dir.join(format!("{PREFIX}{number:020}{SUFFIX}"))
}

fn segment_number(name: &str) -> Option<u64> {
    name.strip_prefix(PREFIX)?
        .strip_suffix(SUFFIX)?
        .parse()
        .ok()
}

fn io_error(what: &str, path: &Path, e: std::io::Error) -> StoreError {
    StoreError::backend(std::io::Error::new(
        e.kind(),
        format!("{what} {}: {e}", path.display()),
    ))
}

/// Makes file creations and deletions in `dir` durable.
fn sync_dir(fs: &dyn LogFs, dir: &Path) -> Result<(), StoreError> {
    fs.sync_dir(dir)
        .map_err(|e| io_error("cannot sync the directory", dir, e))
}

/// The segments in `dir`, ascending.
pub fn segments(fs: &dyn LogFs, dir: &Path) -> Result<Vec<(u64, PathBuf)>, StoreError> {
    let entries = fs.list(dir).map_err(|e| io_error("cannot list", dir, e))?;
    let mut found: Vec<_> = entries
        .into_iter()
        .filter_map(|path| {
            let number = path.file_name()?.to_str().and_then(segment_number)?;
            Some((number, path))
        })
        .collect();
    found.sort();
    Ok(found)
}

/// The records of one segment, in order, up to the first zero header (past which
/// everything must be zero). A record that is cut short or fails its checksum is
/// corruption, except in the `last` segment, whose last append a crash may have
/// interrupted (see [`is_torn_tail`]).
fn read_segment(fs: &dyn LogFs, path: &Path, last: bool) -> Result<Vec<WriteBatch>, StoreError> {
    let bytes = fs
        .read(path)
        .map_err(|e| io_error("cannot read", path, e))?;
    let corrupt = |at: usize, what: &str| StoreError::Corrupt {
        key: path.display().to_string(),
        reason: format!("{what} at byte {at} of a write-ahead log segment"),
    };
    let mut records = Vec::new();
    let mut at = 0;
    while at < bytes.len() {
        let rest = &bytes[at..];
        if is_zero(&rest[..rest.len().min(HEADER)]) {
            // The allocated, unwritten rest of the segment.
            return match is_zero(rest) {
                true => Ok(records),
                false => Err(corrupt(at, "data after the end of the records")),
            };
        }
        match decode_record(rest) {
            Some((batch, used)) => {
                records.push(batch);
                at += used;
            }
            None if last && is_torn_tail(rest) => {
                tracing::warn!(
                    path = %path.display(),
                    at,
                    "ignoring a torn record at the end of the write-ahead log"
                );
                return Ok(records);
            }
            None => return Err(corrupt(at, "an invalid record")),
        }
    }
    Ok(records)
}

fn is_zero(bytes: &[u8]) -> bool {
    bytes.iter().all(|&b| b == 0)
}

/// Whether `rest`, which starts with an invalid record, can be what an append
/// cut short by a crash left: a prefix of the record, then what was never
/// written. So no intact record may follow it (a length or checksum damaged
/// later would hide acknowledged records), and the bytes past its claimed
/// length, if the file holds that much, must be zero (an allocated segment's
/// unwritten rest). A claimed length past the end of the file is an append
/// that was growing the file: it may have reached the end.
///
/// (An uploaded chunk that holds the image of a record, in the one append a
/// crash cut short, makes this refuse the open: the safe side.)
fn is_torn_tail(rest: &[u8]) -> bool {
    let claimed = rest.get(..4).map_or(0, |len| {
        u32::from_le_bytes(len.try_into().expect("four bytes"))
    });
    let covered = (HEADER as u64 + u64::from(claimed)).min(rest.len() as u64) as usize;
    is_zero(&rest[covered..]) && !(1..rest.len()).any(|i| decode_record(&rest[i..]).is_some())
}

/// Appends `writes` to `out` as one record.
fn encode_record<'a>(writes: impl Iterator<Item = Borrowed<'a>> + Clone, out: &mut Vec<u8>) {
    let len_of =
        |bytes: &[u8]| u32::try_from(bytes.len()).expect("keys and values are under 4 GiB");
    let payload_len: usize = writes
        .clone()
        .map(|(k, v)| 4 + k.len() + 1 + v.map_or(0, |v| 4 + v.len()))
        .sum();
    out.reserve(HEADER + payload_len);
    let start = out.len();
    out.extend_from_slice(&[0; HEADER]);
    for (key, value) in writes {
        out.extend_from_slice(&len_of(key).to_le_bytes());
        out.extend_from_slice(key);
        match value {
            None => out.push(0),
            Some(value) => {
                out.push(1);
                out.extend_from_slice(&len_of(value).to_le_bytes());
                out.extend_from_slice(value);
            }
        }
    }
    let payload = &out[start + HEADER..];
    let (len, crc) = (len_of(payload), crc32fast::hash(payload));
    out[start..start + 4].copy_from_slice(&len.to_le_bytes());
    out[start + 4..start + HEADER].copy_from_slice(&crc.to_le_bytes());
}

/// The first record of `bytes` and its length, if whole and intact.
fn decode_record(bytes: &[u8]) -> Option<(WriteBatch, usize)> {
    let len = u32::from_le_bytes(bytes.get(..4)?.try_into().ok()?) as usize;
    if len == 0 {
        return None; // never written: every record holds a write
    }
    let crc = u32::from_le_bytes(bytes.get(4..HEADER)?.try_into().ok()?);
    let mut payload = bytes.get(HEADER..HEADER.checked_add(len)?)?;
    if crc32fast::hash(payload) != crc {
        return None;
    }
    fn take<'a>(rest: &mut &'a [u8], n: usize) -> Option<&'a [u8]> {
        let (head, tail) = (rest.get(..n)?, rest.get(n..)?);
        *rest = tail;
        Some(head)
    }
    fn bytes_with_len(rest: &mut &[u8]) -> Option<Vec<u8>> {
        let n = u32::from_le_bytes(take(rest, 4)?.try_into().ok()?) as usize;
        Some(take(rest, n)?.to_vec())
    }
    let mut batch = WriteBatch::new();
    while !payload.is_empty() {
        let key = bytes_with_len(&mut payload)?;
        let value = match take(&mut payload, 1)? {
            [0] => None,
            [1] => Some(bytes_with_len(&mut payload)?),
            _ => return None,
        };
        batch.insert(key, value);
    }
    Some((batch, HEADER + len))
}

/// What [`recover`] found: the changes of every segment not yet checkpointed, in one
/// batch, and the number the next segment must take.
pub struct Recovered {
    pub batch: WriteBatch,
    pub next_segment: u64,
    pub files: Vec<PathBuf>,
}

/// Reads every segment in `dir` newer than `checkpointed` into one batch (later
/// records override earlier ones).
pub fn recover(
    fs: &dyn LogFs,
    dir: &Path,
    checkpointed: Option<u64>,
) -> Result<Recovered, StoreError> {
    let found = segments(fs, dir)?;
    let mut batch = WriteBatch::new();
    let last = found.last().map(|(n, _)| *n);
    for (number, path) in &found {
        if checkpointed.is_some_and(|c| *number <= c) {
            continue;
        }
        for record in read_segment(fs, path, Some(*number) == last)? {
            batch.extend(record);
        }
    }
    let next_segment = last.max(checkpointed).map_or(0, |n| n + 1);
    Ok(Recovered {
        batch,
        next_segment,
        files: found.into_iter().map(|(_, p)| p).collect(),
    })
}

/// How much of a segment [`remove_gradually`] frees at a time.
const DELETE_STEP: u64 = 1 << 20;

/// Deletes checkpointed segment files while the log is in use: each is first
/// shrunk [`DELETE_STEP`] bytes at a time, each step made durable and followed by a
/// pause as long as it took.
///
/// Why: freeing a whole segment at once stalled the log's next `fdatasync` by 5–7
/// ms (the file system journal commit it waits for also frees, and on a disk
/// mounted with `discard` trims, all of those blocks). In steps, it waits for one
/// step at most. RocksDB deletes its files in chunks for the same reason. A crash
/// midway leaves a shortened segment that the backend records as checkpointed, so
/// the next open skips it unread. While checkpoints lag behind the log (`lag`)
/// the rest goes at once.
pub fn remove_gradually(
    fs: &dyn LogFs,
    dir: &Path,
    files: &[PathBuf],
    lag: &CheckpointLag,
) -> Result<(), StoreError> {
    for path in files {
        let Some(mut len) = fs.len(path).map_err(|e| io_error("cannot read", path, e))? else {
            continue;
        };
        while len > 0 && !lag.is_lagging() {
            len = len.saturating_sub(DELETE_STEP);
            let started = Instant::now();
            fs.shrink(path, len)
                .map_err(|e| io_error("cannot shrink", path, e))?;
            std::thread::sleep(started.elapsed());
        }
    }
    remove(fs, dir, files)
}

/// Deletes segment files (after a checkpoint made them redundant).
pub fn remove(fs: &dyn LogFs, dir: &Path, files: &[PathBuf]) -> Result<(), StoreError> {
    for file in files {
        fs.remove(file)
            .map_err(|e| io_error("cannot delete", file, e))?;
    }
    sync_dir(fs, dir)
}

/// The segment being appended to.
pub struct Wal {
    fs: Arc<dyn LogFs>,
    dir: PathBuf,
    file: Box<dyn LogFile>,
    number: u64,
    bytes: u64,
    /// Bytes allocated when a segment is created.
    allocated: u64,
    /// The record being written, kept for its capacity.
    buffer: Vec<u8>,
}

impl Wal {
    /// Creates segment `number` in `dir` (durably), with `allocated` bytes
    /// allocated for its records.
    pub fn create(
        fs: Arc<dyn LogFs>,
        dir: &Path,
        number: u64,
        allocated: u64,
    ) -> Result<Wal, StoreError> {
        let path = segment_path(dir, number);
        let file = fs
            .create(&path, allocated)
            .map_err(|e| io_error("cannot create", &path, e))?;
        sync_dir(&*fs, dir)?;
        Ok(Wal {
            fs,
            dir: dir.to_path_buf(),
            file,
            number,
            bytes: 0,
            allocated,
            buffer: Vec::new(),
        })
    }

    /// Appends `writes` (at least one) as one record; durable when it returns `Ok`.
    pub fn append<'a>(
        &mut self,
        writes: impl Iterator<Item = Borrowed<'a>> + Clone,
    ) -> Result<(), StoreError> {
        self.buffer.clear();
        encode_record(writes, &mut self.buffer);
        debug_assert!(
            self.buffer.len() > HEADER,
            "an empty record reads as the end"
        );
        self.file
            .append(&self.buffer)
            .and_then(|()| self.file.sync_data())
            .map_err(|e| io_error("cannot append to", &self.path(), e))?;
        self.bytes += self.buffer.len() as u64;
        if self.buffer.capacity() > BUFFER_KEPT {
            self.buffer = Vec::new(); // a rare huge group (file chunks)
        }
        Ok(())
    }

    /// Bytes appended to this segment.
    pub fn bytes(&self) -> u64 {
        self.bytes
    }

    /// The file system the log is on.
    pub fn fs(&self) -> &Arc<dyn LogFs> {
        &self.fs
    }

    /// This segment's number.
    pub fn number(&self) -> u64 {
        self.number
    }

    /// This segment's file.
    pub fn path(&self) -> PathBuf {
        segment_path(&self.dir, self.number)
    }

    /// Closes this segment and starts the next.
    pub fn rotate(&mut self) -> Result<(), StoreError> {
        let next = Wal::create(
            Arc::clone(&self.fs),
            &self.dir,
            self.number + 1,
            self.allocated,
        )?;
        let buffer = std::mem::take(&mut self.buffer);
        *self = Wal { buffer, ..next };
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn writes(batch: &WriteBatch) -> impl Iterator<Item = Borrowed<'_>> + Clone {
        batch.iter().map(|(k, v)| (k.as_slice(), v.as_deref()))
    }

    fn batch(pairs: &[(&str, Option<&str>)]) -> WriteBatch {
        pairs
            .iter()
            .map(|(k, v)| (k.as_bytes().to_vec(), v.map(|v| v.as_bytes().to_vec())))
            .collect()
    }

    /// Segments that grow with each append, and segments allocated up front (whose
    /// unwritten rest reads as zeros).
    const ALLOCATIONS: [u64; 2] = [0, 4096];

    #[test]
    fn replays_records_in_order_and_skips_checkpointed_segments() {
        for allocated in ALLOCATIONS {
            let dir = tempfile::tempdir().unwrap();
            let mut wal = Wal::create(StdFs::shared(), dir.path(), 0, allocated).unwrap();
            wal.append(writes(&batch(&[("a", Some("1")), ("b", Some("1"))])))
                .unwrap();
            wal.rotate().unwrap();
            wal.append(writes(&batch(&[("a", Some("2")), ("b", None)])))
                .unwrap();
            wal.append(writes(&batch(&[("c", Some("3"))]))).unwrap();
            let size = std::fs::metadata(wal.path()).unwrap().len();
            assert_eq!(size, allocated.max(wal.bytes()), "appends write in place");

            let all = recover(&StdFs, dir.path(), None).unwrap();
            assert_eq!(
                all.batch,
                batch(&[("a", Some("2")), ("b", None), ("c", Some("3"))])
            );
            assert_eq!(all.next_segment, 2);
            assert_eq!(all.files.len(), 2);

            let newer = recover(&StdFs, dir.path(), Some(0)).unwrap();
            assert_eq!(
                newer.batch,
                batch(&[("a", Some("2")), ("b", None), ("c", Some("3"))])
            );
            let none = recover(&StdFs, dir.path(), Some(1)).unwrap();
            assert!(none.batch.is_empty());
            assert_eq!(none.next_segment, 2);
        }
    }

    /// Every cut of the last record (a crash mid-append) loses that record only;
    /// in an allocated segment the bytes never written stay zero. The record
    /// is larger than the allocation: the append that was cut grew the file.
    #[test]
    fn a_torn_tail_loses_only_the_last_record() {
        for allocated in ALLOCATIONS {
            let dir = tempfile::tempdir().unwrap();
            let mut wal = Wal::create(StdFs::shared(), dir.path(), 7, allocated).unwrap();
            wal.append(writes(&batch(&[("kept", Some("yes"))])))
                .unwrap();
            let whole = wal.bytes() as usize;
            let large = "n".repeat(10_000);
            wal.append(writes(&batch(&[("torn", Some(&large))])))
                .unwrap();
            let (path, end) = (wal.path(), wal.bytes() as usize);
            drop(wal);
            let full = std::fs::read(&path).unwrap();
            for cut in (whole..end).step_by(7) {
                let mut torn = full[..cut].to_vec();
                torn.resize(cut.max(allocated as usize), 0);
                std::fs::write(&path, &torn).unwrap();
                let got = recover(&StdFs, dir.path(), None).unwrap();
                assert_eq!(got.batch, batch(&[("kept", Some("yes"))]), "cut at {cut}");
                assert_eq!(got.next_segment, 8);
            }
        }
    }

    /// In a closed segment, a flipped bit anywhere (in a record, or in the zeros
    /// after the last one) is corruption, not the end of the log.
    #[test]
    fn a_flipped_bit_in_an_older_segment_is_corruption() {
        for allocated in ALLOCATIONS {
            let dir = tempfile::tempdir().unwrap();
            let mut wal = Wal::create(StdFs::shared(), dir.path(), 0, allocated).unwrap();
            wal.append(writes(&batch(&[("a", Some("1"))]))).unwrap();
            wal.append(writes(&batch(&[("b", Some("1"))]))).unwrap();
            let (first, written) = (wal.path(), wal.bytes() as usize);
            wal.rotate().unwrap();
            wal.append(writes(&batch(&[("b", Some("2"))]))).unwrap();
            let original = std::fs::read(&first).unwrap();
            let mut flips = vec![written - 1, 0];
            if allocated > 0 {
                flips.push(written + 3); // in the zeros after the records
            }
            for at in flips {
                let mut bytes = original.clone();
                bytes[at] ^= 1;
                std::fs::write(&first, bytes).unwrap();
                assert!(
                    matches!(
                        recover(&StdFs, dir.path(), None),
                        Err(StoreError::Corrupt { .. })
                    ),
                    "flip at {at} with {allocated} bytes allocated"
                );
            }
        }
    }

    /// In the last segment too, a record that fails its length or checksum
    /// check with intact records after it is corruption, not a torn tail: the
    /// open refuses rather than drop the acknowledged records behind it. So is
    /// data in the zeros after the last record.
    #[test]
    fn a_flipped_bit_mid_last_segment_is_corruption() {
        for allocated in [0, 16384] {
            let dir = tempfile::tempdir().unwrap();
            let mut wal = Wal::create(StdFs::shared(), dir.path(), 0, allocated).unwrap();
            let value = "v".repeat(3000);
            let mut ends = Vec::new();
            for key in ["a", "b", "c"] {
                wal.append(writes(&batch(&[(key, Some(&value))]))).unwrap();
                ends.push(wal.bytes() as usize);
            }
            let path = wal.path();
            drop(wal);
            let original = std::fs::read(&path).unwrap();
            // The first record's length (a byte that keeps it within the file,
            // and one that takes it past the end), checksum and payload, and
            // the second record's payload.
            let mut flips = vec![1, 3, 5, ends[0] - 1, ends[0] + HEADER + 7];
            if allocated > 0 {
                flips.push(ends[2] + 100); // in the zeros after the records
            }
            for at in flips {
                let mut bytes = original.clone();
                bytes[at] ^= 0x10;
                std::fs::write(&path, bytes).unwrap();
                let got = recover(&StdFs, dir.path(), None);
                assert!(
                    matches!(got, Err(StoreError::Corrupt { .. })),
                    "flip at {at} with {allocated} bytes allocated: {:?}",
                    got.map(|r| r.batch.len())
                );
            }
            if allocated > 0 {
                // A length that swallows the later records and ends in the zeros.
                let mut bytes = original.clone();
                let swallowing = (ends[2] + 100 - HEADER) as u32;
                bytes[..4].copy_from_slice(&swallowing.to_le_bytes());
                std::fs::write(&path, bytes).unwrap();
                assert!(matches!(
                    recover(&StdFs, dir.path(), None),
                    Err(StoreError::Corrupt { .. })
                ));
            }
            let mut zeroed = original.clone();
            zeroed[..HEADER].fill(0);
            std::fs::write(&path, zeroed).unwrap();
            assert!(matches!(
                recover(&StdFs, dir.path(), None),
                Err(StoreError::Corrupt { .. })
            ));
        }
    }

    /// A header zeroed in front of later records is not taken for the end.
    #[test]
    fn a_zeroed_header_before_records_is_corruption() {
        let dir = tempfile::tempdir().unwrap();
        let mut wal = Wal::create(StdFs::shared(), dir.path(), 0, 4096).unwrap();
        wal.append(writes(&batch(&[("a", Some("1"))]))).unwrap();
        wal.append(writes(&batch(&[("b", Some("1"))]))).unwrap();
        let first = wal.path();
        wal.rotate().unwrap();
        let mut bytes = std::fs::read(&first).unwrap();
        bytes[..HEADER].fill(0);
        std::fs::write(&first, bytes).unwrap();
        assert!(matches!(
            recover(&StdFs, dir.path(), None),
            Err(StoreError::Corrupt { .. })
        ));
    }

    #[test]
    fn removed_segments_are_gone() {
        let dir = tempfile::tempdir().unwrap();
        let wal = Wal::create(StdFs::shared(), dir.path(), 3, 4096).unwrap();
        std::fs::write(dir.path().join("unrelated.txt"), "x").unwrap();
        let found = recover(&StdFs, dir.path(), None).unwrap();
        assert_eq!(found.files, vec![wal.path()]);
        remove(&StdFs, dir.path(), &found.files).unwrap();
        assert!(segments(&StdFs, dir.path()).unwrap().is_empty());
        assert!(dir.path().join("unrelated.txt").exists());
    }

    /// A segment of several steps is shrunk and deleted; a missing one is no error.
    #[test]
    fn segments_removed_gradually_are_gone() {
        let dir = tempfile::tempdir().unwrap();
        let wal = Wal::create(StdFs::shared(), dir.path(), 3, 2 * DELETE_STEP + 5).unwrap();
        let missing = dir.path().join("chat-wal-00000000000000000002.log");
        remove_gradually(
            &StdFs,
            dir.path(),
            &[missing, wal.path()],
            &CheckpointLag::new(),
        )
        .unwrap();
        assert!(segments(&StdFs, dir.path()).unwrap().is_empty());
    }

    /// A crash while a checkpointed segment was being shrunk leaves it cut
    /// anywhere, even mid-record: the open skips it unread.
    #[test]
    fn a_half_shrunk_checkpointed_segment_is_skipped() {
        let dir = tempfile::tempdir().unwrap();
        let mut wal = Wal::create(StdFs::shared(), dir.path(), 0, 0).unwrap();
        wal.append(writes(&batch(&[("a", Some("1"))]))).unwrap();
        wal.append(writes(&batch(&[("b", Some("1"))]))).unwrap();
        let first = wal.path();
        wal.rotate().unwrap();
        wal.append(writes(&batch(&[("c", Some("1"))]))).unwrap();
        let cut = std::fs::metadata(&first).unwrap().len() - 3;
        File::options()
            .write(true)
            .open(&first)
            .unwrap()
            .set_len(cut)
            .unwrap();
        let found = recover(&StdFs, dir.path(), Some(0)).unwrap();
        assert_eq!(found.batch, batch(&[("c", Some("1"))]));
        assert!(
            matches!(
                recover(&StdFs, dir.path(), None),
                Err(StoreError::Corrupt { .. })
            ),
            "unskipped, the cut is corruption"
        );
    }
}
