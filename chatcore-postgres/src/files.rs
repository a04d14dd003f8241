//! Files: offers (against the uploader's quota), chunks, completion (which
//! shares a file to a user through their stream), deletion, and the lists of
//! a conversation's files.

use chatcore::protocol::{ErrorCode, Event, ItemId, Peer, Timestamp};
use chatcore::store::{FileQuota, FileRecord, FileTarget, NewFile, Notice};
use deadpool_postgres::GenericClient;
use tokio_postgres::Row;

use crate::chat::Conv;
use crate::stream::push_event;
use crate::txn::{
    decode, direct, encode, execute, i, limit, next_id, query, query_opt, room, u, Fail, Params,
};

/// The conversation a file from `from` to `target` belongs to.
fn conv_of(target: &FileTarget, from: u64) -> Conv {
    match target {
        FileTarget::User(to) => direct(from, to.id.0),
        FileTarget::Room(r) => room(r.id.0),
    }
}

/// The columns [`record`] reads.
const COLUMNS: &str = "record, received, complete, ts";

/// A file's record: the offer as stored, with what changed since.
fn record(row: &Row) -> Result<FileRecord, Fail> {
    let mut file: FileRecord = decode("file", row.get::<_, &[u8]>(0))?;
    file.received = u(row.get(1));
    file.complete = row.get(2);
    file.ts = u(row.get(3));
    Ok(file)
}

/// Records an offered file, with nothing received yet, unless it would take
/// its uploader over `quota` (counted under the uploader's row lock).
pub(crate) async fn create_file<C: GenericClient>(
    c: &C,
    offer: &NewFile,
    quota: FileQuota,
) -> Result<Result<FileRecord, ErrorCode>, Fail> {
    let from = i(offer.from.id.0);
    let Some(row) = query_opt(
        c,
        "SELECT file_count, file_bytes FROM users WHERE id = $1 FOR UPDATE",
        &[&from],
    )
    .await?
    else {
        return Ok(Err(ErrorCode::NoSuchUser));
    };
    let files = u(row.get(0)).saturating_add(1);
    let bytes = u(row.get(1)).saturating_add(offer.size);
    if files > quota.files || bytes > quota.bytes {
        return Ok(Err(ErrorCode::QuotaExceeded));
    }
    execute(
        c,
        "UPDATE users SET file_count = $2, file_bytes = $3 WHERE id = $1",
        &[&from, &i(files), &i(bytes)],
    )
    .await?;
    let file = FileRecord {
        id: next_id(c).await?,
        from: offer.from.clone(),
        to: offer.to.clone(),
        name: offer.name.clone(),
        size: offer.size,
        sha256: offer.sha256,
        chunk_size: offer.chunk_size,
        received: 0,
        complete: false,
        ts: offer.ts,
    };
    let (a, b) = conv_of(&file.to, file.from.id.0);
    execute(
        c,
        "INSERT INTO files (id, sender, a, b, record, size, chunk_size, ts)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
        &[
            &i(file.id),
            &from,
            &a,
            &b,
            &encode(&file),
            &i(file.size),
            &i64::from(file.chunk_size),
            &i(file.ts),
        ],
    )
    .await?;
    Ok(Ok(file))
}

/// Stores chunk `index` of `file` and adds its length to `received`.
pub(crate) async fn put_chunk<C: GenericClient>(
    c: &C,
    file: ItemId,
    index: u64,
    bytes: &[u8],
) -> Result<(), Fail> {
    let updated = execute(
        c,
        "UPDATE files SET received = received + $2 WHERE id = $1",
        &[&i(file), &(bytes.len() as i64)],
    )
    .await?;
    if updated == 0 {
        return Err(crate::txn::corrupt(
            &format!("file {file}"),
            "chunk for a missing file",
        ));
    }
    execute(
        c,
        "INSERT INTO chunks (file_id, idx, bytes) VALUES ($1, $2, $3)
         ON CONFLICT (file_id, idx) DO UPDATE SET bytes = $3",
        &[&i(file), &i(index), &bytes],
    )
    .await?;
    Ok(())
}

/// Marks `file` complete (listed in its conversation); a file to a user also
/// goes into their stream.
pub(crate) async fn complete_file<C: GenericClient>(
    c: &C,
    file: ItemId,
    ts: Timestamp,
) -> Result<Option<Notice>, Fail> {
    let sql =
        format!("UPDATE files SET complete = true, ts = $2 WHERE id = $1 RETURNING {COLUMNS}");
    let Some(row) = query_opt(c, &sql, &[&i(file), &i(ts)]).await? else {
        return Ok(None);
    };
    let record = record(&row)?;
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
    push_event(c, to.id.0, event).await.map(Some)
}

/// Deletes the files `condition` selects, with their chunks, and gives their
/// uploaders the quota back.
pub(crate) async fn delete_where<C: GenericClient>(
    c: &C,
    condition: &str,
    params: Params<'_>,
) -> Result<(), Fail> {
    let sql = format!(
        "WITH gone AS (DELETE FROM files WHERE {condition} RETURNING sender, size)
         SELECT sender, count(*), sum(size)::bigint FROM gone GROUP BY sender ORDER BY sender"
    );
    for row in query(c, &sql, params).await? {
        let (sender, files, bytes): (i64, i64, i64) = (row.get(0), row.get(1), row.get(2));
        execute(
            c,
            "UPDATE users SET file_count = greatest(file_count - $2, 0),
                              file_bytes = greatest(file_bytes - $3, 0)
             WHERE id = $1",
            &[&sender, &files, &bytes],
        )
        .await?;
    }
    Ok(())
}

/// Deletes `file`, whatever state it is in.
pub(crate) async fn delete_file<C: GenericClient>(c: &C, file: ItemId) -> Result<(), Fail> {
    delete_where(c, "id = $1", &[&i(file)]).await
}

/// A file's record, complete or not.
pub(crate) async fn file<C: GenericClient>(
    c: &C,
    file: ItemId,
) -> Result<Option<FileRecord>, Fail> {
    let sql = format!("SELECT {COLUMNS} FROM files WHERE id = $1");
    query_opt(c, &sql, &[&i(file)])
        .await?
        .as_ref()
        .map(record)
        .transpose()
}

/// The ids of the files whose upload has not completed.
pub(crate) async fn incomplete_files<C: GenericClient>(c: &C) -> Result<Vec<ItemId>, Fail> {
    let rows = query(
        c,
        "SELECT id FROM files WHERE NOT complete ORDER BY id",
        &[],
    )
    .await?;
    Ok(rows.iter().map(|row| u(row.get(0))).collect())
}

/// Up to `max` complete files of a conversation, in id order, with ids
/// above `after`.
pub(crate) async fn files_of<C: GenericClient>(
    c: &C,
    conv: Conv,
    after: Option<ItemId>,
    max: usize,
) -> Result<Vec<FileRecord>, Fail> {
    let sql = format!(
        "SELECT {COLUMNS} FROM files WHERE a = $1 AND b = $2 AND complete AND id > $3
         ORDER BY id LIMIT $4"
    );
    let after = after.map_or(i64::MIN, i);
    query(c, &sql, &[&conv.0, &conv.1, &after, &limit(max)])
        .await?
        .iter()
        .map(record)
        .collect()
}

/// Chunk number `index` of a file.
pub(crate) async fn chunk<C: GenericClient>(
    c: &C,
    file: ItemId,
    index: u64,
) -> Result<Option<Vec<u8>>, Fail> {
    let row = query_opt(
        c,
        "SELECT bytes FROM chunks WHERE file_id = $1 AND idx = $2",
        &[&i(file), &i(index)],
    )
    .await?;
    Ok(row.map(|row| row.get(0)))
}
