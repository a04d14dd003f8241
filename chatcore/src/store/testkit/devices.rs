//! Devices: created at a first login, known afterwards, listed, bounded per
//! user, revoked for good.

use super::{user, Fixture};
use crate::protocol::{DeviceClaim, ErrorCode};
use crate::store::Store;

/// A new device gets an id; logging in as it again is seen at the new time;
/// the list is oldest first; past the limit a new device is refused, a known
/// one is not; a revoked device (or another user's) no longer logs in, and
/// all of it holds after a reopen.
pub async fn devices_are_created_seen_listed_bounded_and_revoked<S: Store>(fx: &Fixture<S>) {
    let new = |name: &str| Some(DeviceClaim::New { name: name.into() });
    let known = |id| Some(DeviceClaim::Known { id });
    let (ann, bob, laptop, phone) = {
        let store = fx.open();
        let (ann, bob) = (user(&store, "ann").await, user(&store, "bob").await);
        let laptop = store
            .device_login(ann.id, new("laptop"), 2, 10)
            .await
            .unwrap()
            .unwrap()
            .device;
        assert_eq!((laptop.name.as_str(), laptop.last_seen), ("laptop", 10));
        let phone = store
            .device_login(ann.id, new("phone"), 2, 20)
            .await
            .unwrap()
            .unwrap()
            .device;
        assert_ne!(laptop.id, phone.id);
        assert_eq!(
            store
                .device_login(ann.id, new("tablet"), 2, 30)
                .await
                .unwrap(),
            Err(ErrorCode::TooManyDevices)
        );
        let seen = store
            .device_login(ann.id, known(laptop.id), 2, 40)
            .await
            .unwrap()
            .unwrap()
            .device;
        assert_eq!(
            (seen.id, seen.name.as_str(), seen.last_seen),
            (laptop.id, "laptop", 40)
        );
        store.device_seen(ann.id, phone.id, 50).await.unwrap();
        assert_eq!(
            store
                .device_login(bob.id, known(laptop.id), 2, 60)
                .await
                .unwrap(),
            Err(ErrorCode::UnknownDevice),
            "another user's device"
        );
        (ann, bob, laptop, phone)
    };
    let store = fx.open();
    let list = store.devices(ann.id).await.unwrap();
    let summary: Vec<_> = list
        .iter()
        .map(|d| (d.id, d.name.as_str(), d.last_seen))
        .collect();
    assert_eq!(
        summary,
        vec![(laptop.id, "laptop", 40), (phone.id, "phone", 50)]
    );
    assert!(store.devices(bob.id).await.unwrap().is_empty());
    store
        .revoke_device(ann.id, phone.id)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        store.revoke_device(ann.id, phone.id).await.unwrap(),
        Err(ErrorCode::UnknownDevice)
    );
    assert_eq!(
        store
            .device_login(ann.id, known(phone.id), 2, 70)
            .await
            .unwrap(),
        Err(ErrorCode::UnknownDevice),
        "a revoked device no longer logs in"
    );
    store.device_seen(ann.id, phone.id, 80).await.unwrap();
    assert_eq!(
        store.devices(ann.id).await.unwrap().len(),
        1,
        "seen does not revive it"
    );
    assert!(
        store
            .device_login(ann.id, new("tablet"), 2, 90)
            .await
            .unwrap()
            .is_ok(),
        "revoking made room"
    );
    // A login naming no device is the default device, beside the limit, and
    // the same one every time.
    let default = store.device_login(ann.id, None, 2, 100).await.unwrap();
    let default = default.unwrap().device;
    assert_eq!(default.name, "default");
    let again = store.device_login(ann.id, None, 2, 110).await.unwrap();
    assert_eq!(again.unwrap().device.id, default.id);
    assert_eq!(store.devices(ann.id).await.unwrap().len(), 3);
}
