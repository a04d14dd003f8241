//! Devices: a user's devices, created at their first login, seen at every
//! login and logout, revoked by the user.

use super::scan_decode;
use crate::protocol::{DeviceClaim, DeviceId, ErrorCode, Timestamp};
use crate::store::kv::keys;
use crate::store::kv::records::{DeviceRecord, Reader};
use crate::store::kv::{KvBackend, Txn, View};
use crate::store::{Device, StoreError, UserId};

fn device_from(id: DeviceId, record: DeviceRecord) -> Device {
    Device {
        id,
        name: record.name,
        last_seen: record.last_seen,
    }
}

/// `user` logs in as the device `claim` names: a new one is created (unless
/// the user has `max_devices` already), a known one must exist. Either is seen
/// `now`.
pub(super) fn device_login(
    txn: &mut Txn<'_>,
    user: UserId,
    claim: DeviceClaim,
    max_devices: usize,
    now: Timestamp,
) -> Result<Result<Device, ErrorCode>, StoreError> {
    let (id, name) = match claim {
        DeviceClaim::New { name } => {
            let (start, end) = keys::devices_of(user);
            if txn.scan(&start, &end)?.len() >= max_devices {
                return Ok(Err(ErrorCode::TooManyDevices));
            }
            (txn.next_id()?, name)
        }
        DeviceClaim::Known { id } => match txn.record::<DeviceRecord>(&keys::device(user, id))? {
            Some(record) => (id, record.name),
            None => return Ok(Err(ErrorCode::UnknownDevice)),
        },
    };
    let record = DeviceRecord {
        name,
        last_seen: now,
    };
    txn.put(keys::device(user, id), &record);
    Ok(Ok(device_from(id, record)))
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
