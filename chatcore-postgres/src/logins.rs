//! Failed logins, counted in the database so that every node sees the same
//! windows (`Store::failed_logins`): one row per failure and key.

use deadpool_postgres::GenericClient;

use crate::txn::{execute, i, query, Fail};

/// How many failures each of `keys` has at or after `since`, in order.
pub(crate) async fn failed_logins<C: GenericClient>(
    c: &C,
    keys: &[String],
    since: u64,
) -> Result<Vec<u32>, Fail> {
    let rows = query(
        c,
        "SELECT (SELECT count(*) FROM failed_logins f WHERE f.key = k.key AND f.at >= $2)
         FROM unnest($1::text[]) WITH ORDINALITY AS k(key, n) ORDER BY k.n",
        &[&keys, &i(since)],
    )
    .await?;
    Ok(rows
        .iter()
        .map(|row| row.get::<_, i64>(0).clamp(0, u32::MAX as i64) as u32)
        .collect())
}

/// Counts a failure at `now` under each of `keys`; drops every failure
/// before `forget_before` (by the time index: what expired, nothing else).
pub(crate) async fn record_failed_login<C: GenericClient>(
    c: &C,
    keys: &[String],
    now: u64,
    forget_before: u64,
) -> Result<(), Fail> {
    execute(
        c,
        "INSERT INTO failed_logins (key, at) SELECT unnest($1::text[]), $2",
        &[&keys, &i(now)],
    )
    .await?;
    execute(
        c,
        "DELETE FROM failed_logins WHERE at < $1",
        &[&i(forget_before)],
    )
    .await?;
    Ok(())
}

/// Forgets `key`'s failures.
pub(crate) async fn clear_failed_logins<C: GenericClient>(c: &C, key: &str) -> Result<(), Fail> {
    execute(c, "DELETE FROM failed_logins WHERE key = $1", &[&key]).await?;
    Ok(())
}
