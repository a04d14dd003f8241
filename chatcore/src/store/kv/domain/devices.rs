//! Devices: a user's devices, created at their first login, seen at every
//! login and logout, revoked by the user; each with its position in the
//! user's stream.

use super::scan_decode;
use super::stream::stream_record;
use crate::protocol::{DeviceClaim, DeviceId, ErrorCode, Timestamp};
use crate::store::kv::keys;
use crate::store::kv::records::{CursorRecord, DeviceRecord, Reader};
use crate::store::kv::{KvBackend, Txn, View};
use crate::store::{Device, DeviceLogin, StoreError, UserId};

fn device_from(id: DeviceId, record: DeviceRecord) -> Device {
    Device {
        id,
        name: record.name,
        last_seen: record.last_seen,
    }
}

/// The name of the device a login naming none is.
const DEFAULT_DEVICE: &str = "default";

/// `user` logs in as the device `claim` names (`None`: the default device):
/// a new one is created (unless the user has `max_devices` already) at the
/// stream's oldest kept item, a known one must exist. Either is seen `now`; a
/// position below the oldest kept item moves up to it.
pub(super) fn device_login(
    txn: &mut Txn<'_>,
    user: UserId,
    claim: Option<DeviceClaim>,
    max_devices: usize,
    now: Timestamp,
) -> Result<Result<DeviceLogin, ErrorCode>, StoreError> {
    let known = |txn: &Txn<'_>, id| txn.record::<DeviceRecord>(&keys::device(user, id));
    // (id, name, last seen before; `None`: a new device)
    let (id, name, seen_before) = match claim {
        None => {
            let default = keys::default_device(user);
            let existing = match txn.record::<u64>(&default)? {
                Some(id) => known(txn, id)?.map(|record| (id, record)),
                None => None,
            };
            match existing {
                Some((id, record)) => (id, record.name, Some(record.last_seen)),
                // The first such login, or the default device was revoked.
                None => {
                    let id = txn.next_id()?;
                    txn.put(default, &id);
                    (id, DEFAULT_DEVICE.to_owned(), None)
                }
            }
        }
        Some(DeviceClaim::New { name }) => {
            let (start, end) = keys::devices_of(user);
            if txn.scan(&start, &end)?.len() >= max_devices {
                return Ok(Err(ErrorCode::TooManyDevices));
            }
            (txn.next_id()?, name, None)
        }
        Some(DeviceClaim::Known { id }) => match known(txn, id)? {
            Some(record) => (id, record.name, Some(record.last_seen)),
            None => return Ok(Err(ErrorCode::UnknownDevice)),
        },
    };
    let new = seen_before.is_none();
    let record = DeviceRecord {
        name,
        last_seen: now,
    };
    txn.put(keys::device(user, id), &record);
    let mut stream = stream_record(txn, user)?;
    if new {
        stream.devices += 1;
        txn.put(keys::stream(user), &stream);
    }
    let floor = stream.floor;
    let cursor_key = keys::cursor(user, id);
    let mut cursor: CursorRecord = if new {
        CursorRecord {
            pos: floor,
            at: now,
        }
    } else {
        txn.record(&cursor_key)?.unwrap_or_default()
    };
    let fell_behind = cursor.pos < floor;
    cursor.pos = cursor.pos.max(floor);
    cursor.at = now;
    txn.put(cursor_key, &cursor);
    Ok(Ok(DeviceLogin {
        device: device_from(id, record),
        position: cursor.pos,
        fell_behind,
        seen_before: seen_before.unwrap_or(0),
    }))
}

/// Notes that a session of `device` ended `now` (nothing if it was revoked).
pub(super) fn device_seen(
    txn: &mut Txn<'_>,
    user: UserId,
    device: DeviceId,
    now: Timestamp,
) -> Result<(), StoreError> {
    let key = keys::device(user, device);
    if let Some(mut record) = txn.record::<DeviceRecord>(&key)? {
        record.last_seen = now;
        txn.put(key, &record);
    }
    Ok(())
}

/// Forgets `device`: it can no longer log in.
pub(super) fn revoke_device(
    txn: &mut Txn<'_>,
    user: UserId,
    device: DeviceId,
) -> Result<Result<(), ErrorCode>, StoreError> {
    let key = keys::device(user, device);
    if txn.raw(&key)?.is_none() {
        return Ok(Err(ErrorCode::UnknownDevice));
    }
    txn.delete(key);
    txn.delete(keys::cursor(user, device));
    let mut stream = stream_record(txn, user)?;
    stream.devices = stream.devices.saturating_sub(1);
    txn.put(keys::stream(user), &stream);
    Ok(Ok(()))
}

/// `user`'s devices, oldest first.
pub(super) fn devices<B: KvBackend>(
    b: &View<'_, B>,
    user: UserId,
) -> Result<Vec<Device>, StoreError> {
    Ok(
        scan_decode::<B, DeviceRecord>(b, keys::devices_of(user), false, usize::MAX)?
            .into_iter()
            .map(|(key, record)| device_from(keys::last_u64(&key), record))
            .collect(),
    )
}
