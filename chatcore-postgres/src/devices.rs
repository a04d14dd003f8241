//! Devices: a user's devices, created at their first login, seen at every
//! login and logout, revoked by the user; each with its position in the
//! user's stream.

use chatcore::protocol::{DeviceClaim, DeviceId, ErrorCode, Timestamp};
use chatcore::store::{Device, DeviceLogin, UserId};
use deadpool_postgres::GenericClient;

use crate::txn::{execute, i, next_id, query, query_opt, u, Fail};

/// The name of the device a login naming none is.
const DEFAULT_DEVICE: &str = "default";

/// `user` logs in as the device `claim` names (see `Store::device_login`).
pub(crate) async fn device_login<C: GenericClient>(
    c: &C,
    user: UserId,
    claim: &Option<DeviceClaim>,
    max_devices: usize,
    now: Timestamp,
) -> Result<Result<DeviceLogin, ErrorCode>, Fail> {
    let uid = i(user.0);
    // The user's row is the lock: device counts and the default device
    // change one login at a time.
    let Some(row) = query_opt(
        c,
        "SELECT stream_floor, default_device FROM users WHERE id = $1 FOR UPDATE",
        &[&uid],
    )
    .await?
    else {
        return Ok(Err(ErrorCode::UnknownDevice));
    };
    let floor: i64 = row.get(0);
    let default: Option<i64> = row.get(1);
    let known = |id: i64| async move {
        query_opt(
            c,
            "SELECT name, last_seen, pos FROM devices WHERE user_id = $1 AND id = $2",
            &[&uid, &id],
        )
        .await
    };
    // (id, name, (last seen, position) before; `None`: a new device)
    let (id, name, before) = match claim {
        None => {
            let existing = match default {
                Some(id) => known(id).await?.map(|row| (id, row)),
                None => None,
            };
            match existing {
                Some((id, row)) => (id, row.get(0), Some((row.get(1), row.get(2)))),
                // The first such login, or the default device was revoked.
                None => {
                    let id = i(next_id(c).await?);
                    execute(
                        c,
                        "UPDATE users SET default_device = $2 WHERE id = $1",
                        &[&uid, &id],
                    )
                    .await?;
                    (id, DEFAULT_DEVICE.to_owned(), None)
                }
            }
        }
        Some(DeviceClaim::New { name }) => {
            let count = count(c, user.0).await?;
            if count >= max_devices as u64 {
                return Ok(Err(ErrorCode::TooManyDevices));
            }
            (i(next_id(c).await?), name.clone(), None)
        }
        Some(DeviceClaim::Known { id }) => match known(i(*id)).await? {
            Some(row) => (i(*id), row.get(0), Some((row.get(1), row.get(2)))),
            None => return Ok(Err(ErrorCode::UnknownDevice)),
        },
    };
    let (seen_before, old_pos): (Option<i64>, i64) = match before {
        Some((seen, pos)) => (Some(seen), pos),
        None => (None, floor),
    };
    let fell_behind = old_pos < floor;
    let pos = old_pos.max(floor);
    execute(
        c,
        "INSERT INTO devices (user_id, id, name, last_seen, pos, pos_at)
         VALUES ($1, $2, $3, $4, $5, $4)
         ON CONFLICT (user_id, id) DO UPDATE SET last_seen = $4, pos = $5, pos_at = $4",
        &[&uid, &id, &name, &i(now), &pos],
    )
    .await?;
    Ok(Ok(DeviceLogin {
        device: Device {
            id: u(id),
            name,
            last_seen: now,
        },
        position: u(pos),
        fell_behind,
        seen_before: seen_before.map_or(0, u),
    }))
}

/// Notes that a session of `device` ended `now` (nothing if it was revoked).
pub(crate) async fn device_seen<C: GenericClient>(
    c: &C,
    user: UserId,
    device: DeviceId,
    now: Timestamp,
) -> Result<(), Fail> {
    execute(
        c,
        "UPDATE devices SET last_seen = $3 WHERE user_id = $1 AND id = $2",
        &[&i(user.0), &i(device), &i(now)],
    )
    .await?;
    Ok(())
}

/// Forgets `device`: it can no longer log in, and no longer holds items.
pub(crate) async fn revoke_device<C: GenericClient>(
    c: &C,
    user: UserId,
    device: DeviceId,
) -> Result<Result<(), ErrorCode>, Fail> {
    let gone = execute(
        c,
        "DELETE FROM devices WHERE user_id = $1 AND id = $2",
        &[&i(user.0), &i(device)],
    )
    .await?;
    Ok(if gone == 0 {
        Err(ErrorCode::UnknownDevice)
    } else {
        Ok(())
    })
}

/// `user`'s devices, oldest first.
pub(crate) async fn devices<C: GenericClient>(c: &C, user: UserId) -> Result<Vec<Device>, Fail> {
    let rows = query(
        c,
        "SELECT id, name, last_seen FROM devices WHERE user_id = $1 ORDER BY id",
        &[&i(user.0)],
    )
    .await?;
    Ok(rows
        .iter()
        .map(|row| Device {
            id: u(row.get(0)),
            name: row.get(1),
            last_seen: u(row.get(2)),
        })
        .collect())
}

/// How many devices `user` has.
pub(crate) async fn count<C: GenericClient>(c: &C, user: u64) -> Result<u64, Fail> {
    let rows = query(
        c,
        "SELECT count(*) FROM devices WHERE user_id = $1",
        &[&i(user)],
    )
    .await?;
    Ok(u(rows[0].get(0)))
}
