//! Accounts: registration, lookup by name and id, and search.

use chatcore::store::{Account, User, UserId};
use deadpool_postgres::GenericClient;

use crate::txn::{i, next_id, query, query_opt, u, Fail};

/// Registers `name` unless a user has it already, whatever its case.
pub(crate) async fn create_user<C: GenericClient>(
    c: &C,
    name: &str,
    password_hash: &str,
) -> Result<Option<User>, Fail> {
    let lname = name.to_lowercase();
    // The unique index decides between concurrent registrations; the id is
    // taken only for a name that looks free (a lost race wastes one).
    if query_opt(c, "SELECT 1 FROM users WHERE lname = $1", &[&lname])
        .await?
        .is_some()
    {
        return Ok(None);
    }
    let id = next_id(c).await?;
    let inserted = query_opt(
        c,
        "INSERT INTO users (id, name, lname, password_hash) VALUES ($1, $2, $3, $4)
         ON CONFLICT (lname) DO NOTHING RETURNING id",
        &[&i(id), &name, &lname, &password_hash],
    )
    .await?;
    Ok(inserted.map(|_| User {
        id: UserId(id),
        name: name.to_owned(),
    }))
}

/// The account named `name`, without regard to case.
pub(crate) async fn account_by_name<C: GenericClient>(
    c: &C,
    name: &str,
) -> Result<Option<Account>, Fail> {
    let row = query_opt(
        c,
        "SELECT id, name, password_hash FROM users WHERE lname = $1",
        &[&name.to_lowercase()],
    )
    .await?;
    Ok(row.map(|row| Account {
        user: User {
            id: UserId(u(row.get(0))),
            name: row.get(1),
        },
        password_hash: row.get(2),
    }))
}

/// The user `id`.
pub(crate) async fn user_by_id<C: GenericClient>(c: &C, id: UserId) -> Result<Option<User>, Fail> {
    let row = query_opt(c, "SELECT name FROM users WHERE id = $1", &[&i(id.0)]).await?;
    Ok(row.map(|row| User {
        id,
        name: row.get(0),
    }))
}

/// Up to `limit` names whose lowercase form starts with `prefix`, in
/// lowercase order, after the one whose lowercase form is `after`: one range
/// of the name index.
pub(crate) async fn search_users<C: GenericClient>(
    c: &C,
    prefix: &str,
    after: Option<&str>,
    limit: usize,
) -> Result<Vec<String>, Fail> {
    let prefix = prefix.to_lowercase();
    let after = after.map(str::to_lowercase).unwrap_or_default();
    // In byte order every name with the prefix sorts below the prefix
    // followed by the highest code point; `starts_with` keeps it exact.
    let end = format!("{prefix}\u{10FFFF}");
    let rows = query(
        c,
        "SELECT name FROM users
         WHERE lname >= $1 AND lname < $2 AND lname > $3 AND starts_with(lname, $1)
         ORDER BY lname LIMIT $4",
        &[&prefix, &end, &after, &crate::txn::limit(limit)],
    )
    .await?;
    Ok(rows.into_iter().map(|row| row.get(0)).collect())
}
