//! A chatcore [`Store`](chatcore::store::Store) on [sled](https://sled.rs) 0.34, the
//! stable line of sled.
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
//! // Creates `dir` (and the sled directory `dir/chat.sled`) if needed.
//! let store = chatcore_sled::open(&dir)?;
//! let ann = store.create_user("ann", "$argon2id$...").await?.expect("name is free");
//! assert_eq!(store.user_by_id(ann.id).await?, Some(ann));
//! # Ok(())
//! # }
//! ```
//!
//! # Layout
//!
//! - [`SledBackend`]: one sled [`Tree`] implementing [`KvBackend`]. All domain logic,
//!   the key layout, the format version and group commit live in [`KvStore`], shared
//!   with every bundled backend.
//! - [`SledStore`] = `KvStore<SledBackend>`, the [`Store`](chatcore::store::Store).
//! - [`open`]: a store in a directory, in the sled directory [`DIR_NAME`].
//!
//! # Durability: what is on disk when
//!
//! sled does not write through: an insert or an applied batch lives in sled's
//! in-memory page cache and log buffers until a flush writes and fsyncs them. sled
//! flushes in the background every 500 ms (`flush_every_ms`), on `Tree::flush`, and
//! when the last handle to the database is dropped cleanly. So with sled alone, a
//! crash (a kill, a power loss) loses up to the last half second of writes.
//!
//! This backend does not rely on the background flush. Each [`KvBackend::commit`] is
//! `Tree::apply_batch` (atomic: after recovery a batch is there whole or not at all)
//! followed by `Tree::flush` (write and fsync), and returns only when the flush has.
//! [`KvStore`] answers a caller only after the commit that holds its write, so:
//!
//! - **`Ok` from any mutating [`Store`](chatcore::store::Store) method means
//!   flushed**: the change survives a crash of the process or the machine, the same
//!   promise as the redb backend.
//! - Many concurrent writes share one commit (group commit), so this costs one flush
//!   per group, not one per message.
//! - An `Err` means "not known to be durable", not "not stored": if the flush fails
//!   after the batch was applied, the batch is visible to reads and may be flushed
//!   later. Every write is safe to retry (a resent message is recognised by its
//!   client id and stored once).
//!
//! Reads run on tokio's blocking pool and may see a batch before its flush has
//! returned (sled has no snapshots); nothing is answered to a writer before then.
//!
//! # Damaged files
//!
//! After a crash sled replays its log up to the first torn or damaged segment and
//! drops the rest: right for a torn tail (those writes were never flushed, so never
//! answered `Ok`), but damage in the middle of the log (a bad disk, a stray write)
//! loses what follows it without an error. [`open`] refuses a log from which
//! nothing at all was recovered, rather than starting a new database over it, but
//! cannot see a partial loss. Prefer the redb backend where that matters: redb
//! checksums its pages and reports damage.

#![warn(missing_docs)]

use std::fmt;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::path::{Path, PathBuf};

use chatcore::store::{Entries, KvBackend, KvStore, StoreError, WriteBatch};
use sled::{Batch, Db, Tree};

/// The one tree every chatcore record lives in.
const TREE: &[u8] = b"chatcore";

/// The name of the sled directory [`open`] uses inside its directory.
pub const DIR_NAME: &str = "chat.sled";

/// sled's configuration file in its directory; starts with this text.
const SLED_CONF: (&str, &[u8]) = ("conf", b"segment_size: ");
/// sled's log (data) file in its directory.
const SLED_LOG: &str = "db";

/// The chatcore [`Store`](chatcore::store::Store) on sled.
pub type SledStore = KvStore<SledBackend>;

/// Opens (creating if needed) the chatcore database in directory `dir`, in the sled
/// directory [`DIR_NAME`].
///
/// Fails with [`StoreError::NotADatabase`] if that path exists but is not a chatcore
/// sled database, [`StoreError::VersionMismatch`] if it was written by another format
/// version, and [`StoreError::Backend`] if it cannot be opened (for example, because
/// another store, in this or another process, has it open).
pub fn open(dir: impl AsRef<Path>) -> Result<SledStore, StoreError> {
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
    KvStore::open(SledBackend::open(dir.join(DIR_NAME))?)
}

/// A [`KvBackend`] on one tree of a sled database.
pub struct SledBackend {
    db: Db,
    tree: Tree,
    path: PathBuf,
}

impl fmt::Debug for SledBackend {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SledBackend")
            .field("path", &self.path)
            .finish_non_exhaustive()
    }
}

impl SledBackend {
    /// Opens the sled database directory `path`, creating it if it does not exist.
    ///
    /// Checks that the path is a sled database holding nothing but chatcore's tree
    /// (else [`StoreError::NotADatabase`]); the format version is checked by
    /// [`KvStore::open`].
    pub fn open(path: impl AsRef<Path>) -> Result<Self, StoreError> {
        let path = path.as_ref().to_path_buf();
        check_looks_like_sled(&path)?;
        let had_log = std::fs::metadata(path.join(SLED_LOG)).is_ok_and(|m| m.len() > 0);
        let config = sled::Config::new().path(&path);
        // sled 0.34 panics on some damaged files; that must be an error here.
        let db = catch_unwind(AssertUnwindSafe(|| config.open()))
            .map_err(|panic| {
                let reason = panic_message(&*panic);
                not_a_database(&path, &format!("sled failed reading it: {reason}"))
            })?
            .map_err(|e| open_error(&path, e))?;
        let tree = db.open_tree(TREE).map_err(StoreError::backend)?;
        let backend = SledBackend { db, tree, path };
        backend.check_trees()?;
        if had_log && backend.tree.is_empty() {
            // sled recovers a log up to its first damage; from a log damaged at the
            // start it recovers nothing and would start a new database over it.
            return Err(not_a_database(
                &backend.path,
                "sled recovered no chatcore data from its log (damaged, or a crash \
                 while it was first created); move it away to start a new database",
            ));
        }
        Ok(backend)
    }

    /// The sled directory.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Refuses a sled database that holds someone else's data, rather than adding
    /// chatcore's beside it.
    fn check_trees(&self) -> Result<(), StoreError> {
        if !self.db.is_empty() {
            return Err(not_a_database(
                &self.path,
                "a sled database with data in its default tree",
            ));
        }
        let default_name = self.db.name();
        for name in self.db.tree_names() {
            if name != TREE && name != default_name {
                return Err(not_a_database(
                    &self.path,
                    &format!(
                        "a sled database with a foreign tree {:?}",
                        String::from_utf8_lossy(&name)
                    ),
                ));
            }
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

fn open_error(path: &Path, e: sled::Error) -> StoreError {
    match e {
        sled::Error::Corruption { .. } => not_a_database(path, "sled reports it corrupted"),
        sled::Error::Unsupported(reason) => not_a_database(path, &reason),
        sled::Error::Io(io) if io.to_string().contains("could not acquire lock") => {
            StoreError::backend(std::io::Error::other(format!(
                "{} is already open in another store ({io})",
                path.display()
            )))
        }
        other => StoreError::backend(other),
    }
}

/// A file, or a non-empty directory without sled's configuration file, is not a
/// sled database. sled itself would start a new database among foreign files, or
/// read a foreign file as a damaged log and truncate it.
fn check_looks_like_sled(path: &Path) -> Result<(), StoreError> {
    let meta = match std::fs::metadata(path) {
        Ok(meta) => meta,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(()),
        Err(e) => return Err(StoreError::backend(e)),
    };
    if !meta.is_dir() {
        return Err(not_a_database(path, "not a directory"));
    }
    let mut entries = std::fs::read_dir(path).map_err(StoreError::backend)?;
    if entries.next().is_none() {
        return Ok(());
    }
    let (conf_name, conf_start) = SLED_CONF;
    let conf = match std::fs::read(path.join(conf_name)) {
        Ok(conf) => conf,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            return Err(not_a_database(path, "a directory without sled's conf file"));
        }
        Err(e) => return Err(StoreError::backend(e)),
    };
    if !conf.starts_with(conf_start) {
        return Err(not_a_database(path, "its conf file is not sled's"));
    }
    Ok(())
}

impl KvBackend for SledBackend {
    /// The free space of the database directory's file system.
    fn free_space(&self) -> Option<u64> {
        chatcore::store::available_space(&self.path)
    }

    fn get(&self, key: &[u8]) -> Result<Option<Vec<u8>>, StoreError> {
        let value = self.tree.get(key).map_err(StoreError::backend)?;
        Ok(value.map(|v| v.to_vec()))
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
        let range = self.tree.range(start..end);
        let pick = |entry: sled::Result<(sled::IVec, sled::IVec)>| {
            let (k, v) = entry.map_err(StoreError::backend)?;
            Ok((k.to_vec(), v.to_vec()))
        };
        if reverse {
            range.rev().take(limit).map(pick).collect()
        } else {
            range.take(limit).map(pick).collect()
        }
    }

    /// `Tree::apply_batch` (atomic), then `Tree::flush` (durable): see the
    /// [crate docs](crate#durability-what-is-on-disk-when).
    fn commit(&self, batch: WriteBatch) -> Result<(), StoreError> {
        let mut sled_batch = Batch::default();
        for (key, value) in batch {
            match value {
                Some(v) => sled_batch.insert(key, v),
                None => sled_batch.remove(key),
            }
        }
        self.tree
            .apply_batch(sled_batch)
            .map_err(StoreError::backend)?;
        self.tree.flush().map_err(StoreError::backend)?;
        Ok(())
    }
}
