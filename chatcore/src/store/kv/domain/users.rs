//! Accounts: registration, lookup by name, and search.

use crate::store::kv::keys;
use crate::store::kv::records::{decode_u64, user_from, Reader, UserRecord};
use crate::store::kv::{KvBackend, Txn, View};
use crate::store::{Account, StoreError, User, UserId};

/// Registers `name` unless a user has it already, whatever its case.
pub(super) fn create_user(
    txn: &mut Txn<'_>,
    name: String,
    password_hash: String,
) -> Result<Option<User>, StoreError> {
    let name_key = keys::name(&name.to_lowercase());
    if txn.raw(&name_key)?.is_some() {
        return Ok(None);
    }
    let id = UserId(txn.next_id()?);
    txn.put_u64(name_key, id.0);
    let record = UserRecord {
        name: name.clone(),
        password_hash,
    };
    txn.put(keys::user(id), &record);
    Ok(Some(User { id, name }))
}

/// The account whose lowercase name is under `name_key`.
pub(super) fn account_by_name<B: KvBackend>(
    b: &View<'_, B>,
    name_key: &[u8],
) -> Result<Option<Account>, StoreError> {
    let Some(raw) = b.raw(name_key)? else {
        return Ok(None);
    };
    let id = UserId(decode_u64(name_key, &raw)?);
    let key = keys::user(id);
    let Some(record) = b.record::<UserRecord>(&key)? else {
        return Err(StoreError::Corrupt {
            key: format!("{key:?}"),
            reason: "name index points to a missing user".into(),
        });
    };
    Ok(Some(Account {
        password_hash: record.password_hash.clone(),
        user: user_from(id, record),
    }))
}

/// Up to `limit` names whose lowercase form starts with `prefix` (lowercase),
/// in lowercase order, after the one whose lowercase form is `after`: one range
/// of the name index, as long as the page.
pub(super) fn search_users<B: KvBackend>(
    b: &View<'_, B>,
    prefix: &str,
    after: Option<&str>,
    limit: usize,
) -> Result<Vec<String>, StoreError> {
    let first = keys::name(prefix);
    let end = keys::successor(first.clone());
    let start = match after.map(|name| keys::after(keys::name(name))) {
        Some(start) if start > first => start,
        _ => first,
    };
    let mut found = Vec::new();
    for (key, raw) in b.scan(&start, &end, false, limit)? {
        if let Some(user) = b.user(UserId(decode_u64(&key, &raw)?))? {
            found.push(user.name);
        }
    }
    Ok(found)
}
