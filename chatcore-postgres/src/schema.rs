//! The schema and its migrations: embedded, numbered, each applied in one
//! transaction and recorded in `schema_version`.
//!
//! Any number of nodes may open the same database at once: every migration
//! transaction first takes one advisory lock, then looks at the recorded
//! version, so each migration runs exactly once. A database with a version
//! newer than this build knows is refused ([`StoreError::VersionMismatch`]).
//!
//! Layout notes:
//! - Every id (users, devices, rooms, messages, files, notices) comes from the
//!   one sequence `ids`: never reused, increasing.
//! - A conversation is the pair `(a, b)`: a 1:1 conversation `(lower user id,
//!   higher user id)`, a room `(room id, 0)`. User and room ids come from the
//!   same sequence, so the two kinds never collide. `conversations.last_seq`
//!   is the conversation's counter, and its row is the lock every send to the
//!   conversation takes.
//! - Names are unique by their lowercase form (`lname`, lowercased by Rust as
//!   the other backends do) in byte order (`COLLATE "C"`), which is also the
//!   order of searches and room lists.
//! - Messages, links, events and file targets are postcard bytes (the wire
//!   types' own encoding); the columns beside them are what queries select on.

use deadpool_postgres::{GenericClient, Pool};
use tokio_postgres::IsolationLevel;

use crate::txn::Fail;
use chatcore::store::StoreError;

/// The advisory lock key migrations take ("chatcore" in ASCII).
const MIGRATION_LOCK: i64 = 0x6368_6174_636f_7265;

/// The migrations, in order: migration `n` (from 1) is `MIGRATIONS[n - 1]`.
/// Append only; never edit one that shipped.
pub(crate) const MIGRATIONS: &[&str] = &[
    // 1: the whole first schema.
    r#"
CREATE SEQUENCE ids;

CREATE TABLE users (
    id bigint PRIMARY KEY,
    name text NOT NULL,
    lname text COLLATE "C" NOT NULL UNIQUE,
    password_hash text NOT NULL,
    read_receipts boolean NOT NULL DEFAULT true,
    -- open outgoing friend requests
    pending bigint NOT NULL DEFAULT 0,
    -- the stream: newest position, and the highest one let go
    stream_head bigint NOT NULL DEFAULT 0,
    stream_floor bigint NOT NULL DEFAULT 0,
    default_device bigint,
    owned_rooms bigint NOT NULL DEFAULT 0,
    file_count bigint NOT NULL DEFAULT 0,
    file_bytes bigint NOT NULL DEFAULT 0
);

CREATE TABLE devices (
    user_id bigint NOT NULL,
    id bigint NOT NULL,
    name text NOT NULL,
    last_seen bigint NOT NULL,
    -- the position it acked up to, and when it last acked or logged in
    pos bigint NOT NULL,
    pos_at bigint NOT NULL,
    PRIMARY KEY (user_id, id)
);

CREATE TABLE links (
    owner bigint NOT NULL,
    other bigint NOT NULL,
    link bytea NOT NULL,
    PRIMARY KEY (owner, other)
);

CREATE TABLE conversations (
    a bigint NOT NULL,
    b bigint NOT NULL,
    last_seq bigint NOT NULL DEFAULT 0,
    PRIMARY KEY (a, b)
);

CREATE TABLE messages (
    a bigint NOT NULL,
    b bigint NOT NULL,
    seq bigint NOT NULL,
    id bigint NOT NULL UNIQUE,
    sender bigint NOT NULL,
    message bytea NOT NULL,
    PRIMARY KEY (a, b, seq)
);

CREATE TABLE send_records (
    sender bigint NOT NULL,
    a bigint NOT NULL,
    b bigint NOT NULL,
    client_msg_id bigint NOT NULL,
    id bigint NOT NULL,
    seq bigint NOT NULL,
    ts bigint NOT NULL,
    PRIMARY KEY (sender, a, b, client_msg_id)
);

CREATE TABLE stream_items (
    user_id bigint NOT NULL,
    pos bigint NOT NULL,
    -- 0: an event stored whole; 1: a message from `other`; 2: a message the
    -- user sent to `other` (from `device`)
    kind smallint NOT NULL,
    other bigint,
    seq bigint,
    msg_id bigint,
    device bigint,
    event bytea,
    PRIMARY KEY (user_id, pos)
);

CREATE TABLE delivered_marks (
    sender bigint NOT NULL,
    recipient bigint NOT NULL,
    seq bigint NOT NULL,
    at bigint NOT NULL,
    PRIMARY KEY (sender, recipient)
);

-- a 1:1 conversation in which `user_id` may have unread messages from `sender`
CREATE TABLE unread_from (
    user_id bigint NOT NULL,
    sender bigint NOT NULL,
    PRIMARY KEY (user_id, sender)
);

CREATE TABLE read_marks (
    user_id bigint NOT NULL,
    peer bigint NOT NULL,
    seq bigint NOT NULL,
    PRIMARY KEY (user_id, peer)
);

CREATE TABLE rooms (
    id bigint PRIMARY KEY,
    name text NOT NULL,
    lname text COLLATE "C" NOT NULL UNIQUE,
    owner bigint NOT NULL,
    member_count bigint NOT NULL DEFAULT 0
);

CREATE TABLE members (
    room_id bigint NOT NULL,
    user_id bigint NOT NULL,
    -- the highest seq one of the member's devices received, and their read mark
    delivered bigint NOT NULL,
    read_seq bigint NOT NULL,
    PRIMARY KEY (room_id, user_id)
);
CREATE INDEX members_by_user ON members (user_id, room_id);

CREATE TABLE files (
    id bigint PRIMARY KEY,
    sender bigint NOT NULL,
    a bigint NOT NULL,
    b bigint NOT NULL,
    record bytea NOT NULL,
    size bigint NOT NULL,
    chunk_size bigint NOT NULL,
    received bigint NOT NULL DEFAULT 0,
    complete boolean NOT NULL DEFAULT false,
    ts bigint NOT NULL
);
CREATE INDEX files_of_conversation ON files (a, b, id) WHERE complete;
CREATE INDEX files_incomplete ON files (id) WHERE NOT complete;

CREATE TABLE chunks (
    file_id bigint NOT NULL REFERENCES files ON DELETE CASCADE,
    idx bigint NOT NULL,
    bytes bytea NOT NULL,
    PRIMARY KEY (file_id, idx)
);
"#,
    // 2: failed logins, counted for every node (`Store::failed_logins`).
    r#"
CREATE TABLE failed_logins (
    key text COLLATE "C" NOT NULL,
    at bigint NOT NULL
);
CREATE INDEX failed_logins_by_key ON failed_logins (key, at);
CREATE INDEX failed_logins_by_time ON failed_logins (at);
"#,
];

/// The schema version this build writes.
pub(crate) fn current_version() -> i32 {
    MIGRATIONS.len() as i32
}

/// Brings the database up to [`current_version`], one transaction per
/// migration; refuses a database newer than this build.
pub(crate) async fn migrate(pool: &Pool) -> Result<(), Fail> {
    let mut client = pool.get().await?;
    for (index, sql) in MIGRATIONS.iter().enumerate() {
        let version = index as i32 + 1;
        let tx = client
            .build_transaction()
            .isolation_level(IsolationLevel::ReadCommitted)
            .start()
            .await?;
        tx.execute("SELECT pg_advisory_xact_lock($1)", &[&MIGRATION_LOCK])
            .await?;
        tx.batch_execute(
            "CREATE TABLE IF NOT EXISTS schema_version (
                version integer PRIMARY KEY,
                applied_at timestamptz NOT NULL DEFAULT now()
            )",
        )
        .await?;
        let found: i32 = tx
            .query_one("SELECT coalesce(max(version), 0) FROM schema_version", &[])
            .await?
            .get(0);
        if found > current_version() {
            return Err(Fail::Store(StoreError::VersionMismatch {
                found: found as u32,
                expected: current_version() as u32,
            }));
        }
        if found >= version {
            tx.commit().await?;
            continue;
        }
        tx.batch_execute(sql).await?;
        tx.execute(
            "INSERT INTO schema_version (version) VALUES ($1)",
            &[&version],
        )
        .await?;
        tx.commit().await?;
        tracing::info!(version, "chatcore-postgres: schema migrated");
    }
    Ok(())
}

/// The recorded schema version (0 for a database without one).
pub(crate) async fn version(client: &impl GenericClient) -> Result<i32, Fail> {
    let exists: bool = client
        .query_one("SELECT to_regclass('schema_version') IS NOT NULL", &[])
        .await?
        .get(0);
    if !exists {
        return Ok(0);
    }
    Ok(client
        .query_one("SELECT coalesce(max(version), 0) FROM schema_version", &[])
        .await?
        .get(0))
}
