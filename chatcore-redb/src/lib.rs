//! A chatcore [`Store`](chatcore::store::Store) on [redb](https://www.redb.org), the
//! embedded default: ACID transactions, a file that is consistent after any crash,
//! and commits that are on disk when they return.
//!
//! # Example
//!
//! ```
//! use chatcore::store::Store;
//!
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() -> Result<(), chatcore::store::StoreError> {
//! # let tmp = tempfile::tempdir().unwrap();
//! # let dir = tmp.path().join("chat-data");
//! // Creates `dir` (and `dir/chat.redb`) if needed, or opens what is there.
//! let store = chatcore_redb::open(&dir)?;
//! let ann = store.create_user("ann", "$argon2id$...").await?.expect("name is free");
//! assert_eq!(store.user_by_id(ann.id).await?, Some(ann));
//! # Ok(())
//! # }
//! ```
//!
//! # Layout
//!
//! - [`RedbBackend`]: one redb table (`&[u8] -> &[u8]`) implementing
//!   [`KvBackend`]. All domain logic, the key layout, the format version, group
//!   commit and the write-ahead log live in [`KvStore`], shared with every bundled
//!   backend. [`RedbBackend::open_with`] takes [`RedbOptions`]: whether to pace
//!   the commits behind a write-ahead log.
//! - [`RedbStore`] = `KvStore<RedbBackend>`, the [`Store`](chatcore::store::Store).
//! - [`open`]: a store in a directory: the redb file [`FILE_NAME`] and the
//!   write-ahead log segments (`chat-wal-N.log`) beside it.
//!
//! # Durability
//!
//! [`open`] puts a write-ahead log in front of redb ([`KvStore::open_with_wal`]):
//! each group commit is one checksummed record appended to the log and made durable
//! with `fdatasync` before any of its callers is answered, so an `Ok` from any
//! mutating [`Store`](chatcore::store::Store) method means the change survives a
//! crash of the process or the machine. Many concurrent writes share one append
//! (group commit). Every 16 MiB of log, a checkpoint writes the changes into redb in
//! one write transaction with [`Durability::Immediate`] (durable when it returns),
//! then deletes that segment; the next [`open`] replays whatever a crash left in
//! the log. While checkpoints keep up with the log, redb syncs a checkpoint in
//! 256 KiB pieces with pauses between them, so that the log's own syncs never wait
//! long behind it ([`RedbOptions::pace_checkpoints`], which [`open`] sets to the
//! log's [`CheckpointLag`]); once one runs slower than the log grows, it goes
//! unpaced until done. A store opened on a bare [`RedbBackend`] with
//! [`KvStore::open`] commits every group to redb directly instead, unpaced. A
//! failed commit is rolled back: nothing of it is visible, then or after a
//! restart.
//!
//! Reads are redb read transactions (snapshots) overlaid with the changes not yet
//! checkpointed, and run on tokio's blocking pool.

#![warn(missing_docs)]

use std::fmt;
use std::fs::OpenOptions;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::path::{Path, PathBuf};

use chatcore::store::{
    BorrowedWrites, CheckpointLag, Entries, KvBackend, KvSnapshot, KvStore, StoreError, WalConfig,
    WriteBatch,
};
use redb::backends::FileBackend;
use redb::{
    Database, DatabaseError, Durability, MultimapTableHandle, ReadableDatabase, StorageBackend,
    TableDefinition, TableError, TableHandle,
};

mod file;
#[cfg(test)]
mod power_loss;

use file::PacedFile;

/// A read transaction's view of the table (`None` before the first commit).
struct RedbSnapshot {
    table: Option<redb::ReadOnlyTable<&'static [u8], &'static [u8]>>,
}

impl KvSnapshot for RedbSnapshot {
    fn get(&self, key: &[u8]) -> Result<Option<Vec<u8>>, StoreError> {
        let Some(table) = &self.table else {
            return Ok(None);
        };
        let value = table.get(key).map_err(StoreError::backend)?;
        Ok(value.map(|v| v.value().to_vec()))
    }

    fn scan(&self, start: &[u8], end: &[u8]) -> Result<Entries, StoreError> {
        self.scan_bounded(start, end, false, usize::MAX)
    }

    fn scan_bounded(
        &self,
        start: &[u8],
        end: &[u8],
        reverse: bool,
        limit: usize,
    ) -> Result<Entries, StoreError> {
        match &self.table {
            Some(table) => read_range(table, start, end, reverse, limit),
            None => Ok(Vec::new()),
        }
    }
}

/// Up to `limit` entries of `table` with `start <= key < end`, ascending (or
/// descending if `reverse`).
fn read_range(
    table: &redb::ReadOnlyTable<&'static [u8], &'static [u8]>,
    start: &[u8],
    end: &[u8],
    reverse: bool,
    limit: usize,
) -> Result<Entries, StoreError> {
    if start >= end || limit == 0 {
        return Ok(Vec::new());
    }
    let range = table.range(start..end).map_err(StoreError::backend)?;
    let pick = |entry: Result<_, redb::StorageError>| {
        let (k, v): (redb::AccessGuard<&[u8]>, redb::AccessGuard<&[u8]>) =
            entry.map_err(StoreError::backend)?;
        Ok((k.value().to_vec(), v.value().to_vec()))
    };
    if reverse {
        range.rev().take(limit).map(pick).collect()
    } else {
        range.take(limit).map(pick).collect()
    }
}

/// The one table every chatcore record lives in.
const TABLE: TableDefinition<&[u8], &[u8]> = TableDefinition::new("chatcore");

/// The name of the database file [`open`] uses inside its directory.
pub const FILE_NAME: &str = "chat.redb";

/// The chatcore [`Store`](chatcore::store::Store) on redb.
pub type RedbStore = KvStore<RedbBackend>;

/// Opens (creating if needed) the chatcore database in directory `dir`, in the file
/// [`FILE_NAME`].
///
/// Fails with [`StoreError::NotADatabase`] if that file exists but is not a chatcore
/// redb database, [`StoreError::VersionMismatch`] if it was written by another
/// format version, and [`StoreError::Backend`] if it cannot be opened (for example,
/// because another store, in this or another process, has it open).
pub fn open(dir: impl AsRef<Path>) -> Result<RedbStore, StoreError> {
    let dir = dir.as_ref();
    std::fs::create_dir_all(dir).map_err(|e| {
        StoreError::backend(std::io::Error::new(
            e.kind(),
            format!(
                "cannot create the database directory {}: {e}",
                dir.display()
            ),
        ))
    })?;
    let wal = WalConfig::new(dir);
    let options = RedbOptions::default().pace_checkpoints_of(&wal);
    let backend = RedbBackend::open_with(dir.join(FILE_NAME), options)?;
    KvStore::open_with_wal(backend, wal)
}

/// How [`RedbBackend::open_with`] opens a database. The default is what
/// [`RedbBackend::open`] does.
#[derive(Debug, Clone, Default)]
#[non_exhaustive]
pub struct RedbOptions {
    /// Paces commits while a write-ahead log's checkpoints keep up with it
    /// ([`CheckpointLag::keeps_up`]): a commit is then synced every 256 KiB it
    /// writes, and the disk left alone after each sync as long as the sync took,
    /// so that a log `fdatasync` issued meanwhile waits for one piece at most
    /// rather than the whole checkpoint. Give it the [`WalConfig::checkpoint_lag`]
    /// of the log the backend will sit behind
    /// ([`pace_checkpoints_of`](Self::pace_checkpoints_of)). Never paced with
    /// `None` (the default), before and after that log is open, and while its
    /// checkpoints lag: then every commit is a writer's own, or one that writers
    /// would soon wait for.
    pub pace_checkpoints: Option<CheckpointLag>,
}

impl RedbOptions {
    /// Paces the checkpoints of the write-ahead log `wal` configures, as [`open`]
    /// does: then open the store with [`KvStore::open_with_wal`] and that `wal`.
    pub fn pace_checkpoints_of(mut self, wal: &WalConfig) -> Self {
        self.pace_checkpoints = Some(wal.checkpoint_lag.clone());
        self
    }
}

/// A [`KvBackend`] on one table of a redb database.
pub struct RedbBackend {
    db: Database,
    path: PathBuf,
}

impl fmt::Debug for RedbBackend {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RedbBackend")
            .field("path", &self.path)
            .finish_non_exhaustive()
    }
}

impl RedbBackend {
    /// Opens the redb database file at `path`, creating it if it does not exist,
    /// with the default [`RedbOptions`] (commits are never paced).
    ///
    /// Checks that the file is a redb database holding no tables but chatcore's
    /// (else [`StoreError::NotADatabase`]); the format version is checked by
    /// [`KvStore::open`].
    pub fn open(path: impl AsRef<Path>) -> Result<Self, StoreError> {
        Self::open_with(path, RedbOptions::default())
    }

    /// Like [`open`](Self::open), with `options`.
    pub fn open_with(path: impl AsRef<Path>, options: RedbOptions) -> Result<Self, StoreError> {
        let path = path.as_ref().to_path_buf();
        check_is_a_file(&path)?;
        let file_path = path.clone();
        Self::on_storage(path, move || {
            let file = OpenOptions::new()
                .read(true)
                .write(true)
                .create(true)
                .truncate(false)
                .open(&file_path)
                .map_err(|e| DatabaseError::Storage(e.into()))?;
            let file = FileBackend::new(file)?;
            Ok(PacedFile::new(file, options.pace_checkpoints))
        })
    }

    /// Opens the database on the storage `storage` makes (named `path` in
    /// errors): the file, or in tests a model of one.
    fn on_storage<S: StorageBackend>(
        path: PathBuf,
        storage: impl FnOnce() -> Result<S, DatabaseError>,
    ) -> Result<Self, StoreError> {
        // redb reports most damage as errors but panics on some damaged pages (and
        // has debug assertions); a file we cannot read must be an error, not a panic.
        let db = catch_unwind(AssertUnwindSafe(|| {
            Database::builder().create_with_backend(storage()?)
        }))
        .map_err(|panic| {
            let reason = panic_message(&*panic);
            not_a_database(&path, &format!("redb failed reading it: {reason}"))
        })?
        .map_err(|e| open_error(&path, e))?;
        let backend = RedbBackend { db, path };
        backend.check_tables()?;
        Ok(backend)
    }

    /// The database file.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Refuses a redb database that holds tables of someone else, rather than
    /// adding chatcore's beside them.
    fn check_tables(&self) -> Result<(), StoreError> {
        let txn = self.db.begin_read().map_err(StoreError::backend)?;
        for table in txn.list_tables().map_err(StoreError::backend)? {
            if table.name() != TABLE.name() {
                return Err(not_a_database(
                    &self.path,
                    &format!("a redb database with a foreign table {:?}", table.name()),
                ));
            }
        }
        let multimaps = txn.list_multimap_tables().map_err(StoreError::backend)?;
        if let Some(table) = multimaps.into_iter().next() {
            return Err(not_a_database(
                &self.path,
                &format!(
                    "a redb database with a foreign multimap table {:?}",
                    table.name()
                ),
            ));
        }
        Ok(())
    }
}

fn not_a_database(path: &Path, reason: &str) -> StoreError {
    StoreError::NotADatabase(format!("{}: {reason}", path.display()))
}

fn panic_message(panic: &(dyn std::any::Any + Send)) -> &str {
    match (panic.downcast_ref::<&str>(), panic.downcast_ref::<String>()) {
        (Some(s), _) => s,
        (_, Some(s)) => s,
        _ => "it panicked",
    }
}

fn open_error(path: &Path, e: DatabaseError) -> StoreError {
    use redb::StorageError::{Corrupted, Io};
    use std::io::ErrorKind::{InvalidData, UnexpectedEof};
    match e {
        DatabaseError::Storage(Corrupted(reason)) => {
            not_a_database(path, &format!("redb reports it corrupted: {reason}"))
        }
        // How redb reports a file that is not (or no longer) a whole redb file.
        DatabaseError::Storage(Io(io)) if matches!(io.kind(), InvalidData | UnexpectedEof) => {
            not_a_database(path, &format!("redb cannot read it: {io}"))
        }
        DatabaseError::UpgradeRequired(version) => not_a_database(
            path,
            &format!("written in redb file format {version}, which this redb cannot open"),
        ),
        DatabaseError::DatabaseAlreadyOpen => StoreError::backend(OpenFailed {
            path: path.to_path_buf(),
            source: "the database is already open in another store".into(),
        }),
        other => StoreError::backend(OpenFailed {
            path: path.to_path_buf(),
            source: other.into(),
        }),
    }
}

/// A failure to open the database file, naming the file.
#[derive(Debug)]
struct OpenFailed {
    path: PathBuf,
    source: Box<dyn std::error::Error + Send + Sync>,
}

impl fmt::Display for OpenFailed {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "cannot open {}: {}", self.path.display(), self.source)
    }
}

impl std::error::Error for OpenFailed {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        Some(&*self.source)
    }
}

/// A directory (or anything but a file) in place of the database file is not a
/// database. A missing or empty file is where redb creates a new one; redb checks
/// the rest.
fn check_is_a_file(path: &Path) -> Result<(), StoreError> {
    match std::fs::metadata(path) {
        Ok(meta) if !meta.is_file() => Err(not_a_database(path, "not a file")),
        Ok(_) => Ok(()),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
        Err(e) => Err(StoreError::backend(e)),
    }
}

impl KvBackend for RedbBackend {
    fn get(&self, key: &[u8]) -> Result<Option<Vec<u8>>, StoreError> {
        let txn = self.db.begin_read().map_err(StoreError::backend)?;
        let table = match txn.open_table(TABLE) {
            Ok(table) => table,
            // A fresh file before its first commit.
            Err(TableError::TableDoesNotExist(_)) => return Ok(None),
            Err(e) => return Err(StoreError::backend(e)),
        };
        let value = table.get(key).map_err(StoreError::backend)?;
        Ok(value.map(|v| v.value().to_vec()))
    }

    fn scan(
        &self,
        start: &[u8],
        end: &[u8],
        reverse: bool,
        limit: usize,
    ) -> Result<Entries, StoreError> {
        if start >= end || limit == 0 {
            return Ok(Vec::new());
        }
        let txn = self.db.begin_read().map_err(StoreError::backend)?;
        let table = match txn.open_table(TABLE) {
            Ok(table) => table,
            Err(TableError::TableDoesNotExist(_)) => return Ok(Vec::new()),
            Err(e) => return Err(StoreError::backend(e)),
        };
        read_range(&table, start, end, reverse, limit)
    }

    /// One read transaction for all of a group commit's point reads.
    fn snapshot(&self) -> Result<Box<dyn KvSnapshot + '_>, StoreError> {
        let txn = self.db.begin_read().map_err(StoreError::backend)?;
        let table = match txn.open_table(TABLE) {
            Ok(table) => Some(table),
            Err(TableError::TableDoesNotExist(_)) => None,
            Err(e) => return Err(StoreError::backend(e)),
        };
        Ok(Box::new(RedbSnapshot { table }))
    }

    /// The free space of the file system that holds the database file.
    fn free_space(&self) -> Option<u64> {
        let dir = match self.path.parent() {
            Some(dir) if !dir.as_os_str().is_empty() => dir,
            _ => Path::new("."),
        };
        chatcore::store::available_space(dir)
    }

    /// One write transaction with [`Durability::Immediate`]: durable when it returns.
    fn commit(&self, batch: WriteBatch) -> Result<(), StoreError> {
        self.commit_borrowed(&mut batch.iter().map(|(k, v)| (k.as_slice(), v.as_deref())))
    }

    fn commit_borrowed(&self, writes: &mut BorrowedWrites<'_>) -> Result<(), StoreError> {
        let mut txn = self.db.begin_write().map_err(StoreError::backend)?;
        // Immediate is redb's default; set it anyway, as the contract depends on it.
        txn.set_durability(Durability::Immediate)
            .map_err(StoreError::backend)?;
        {
            let mut table = txn.open_table(TABLE).map_err(StoreError::backend)?;
            for (key, value) in writes {
                match value {
                    Some(v) => table.insert(key, v).map(drop),
                    None => table.remove(key).map(drop),
                }
                .map_err(StoreError::backend)?;
            }
        }
        txn.commit().map_err(StoreError::backend)
    }
}
