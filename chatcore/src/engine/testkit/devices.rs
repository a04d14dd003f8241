//! Devices: logging in as one, listing them, revoking one.

use super::{harness, password, refused, test_config, TestClient};
use crate::protocol::{DeviceClaim, ErrorCode, Event};
use crate::store::testkit::Fixture;
use crate::store::Store;

async fn as_device(h: &super::Harness, claim: DeviceClaim) -> (TestClient, u64) {
    let mut c = h.connect().await;
    let id = c
        .client
        .login_device("ann", &password("ann"), claim)
        .await
        .expect("login as a device");
    c.expect(|e| *e == Event::CaughtUp).await;
    (c, id)
}

/// Two devices of one user: each gets an id, the list shows both and which
/// are online; a known device logs in again under its id; revoking one closes
/// its session (`DeviceRevoked`) and its id no longer logs in; a login that
/// names no device still works.
pub async fn devices_log_in_list_and_revoke<S: Store>(fx: &Fixture<S>) {
    let h = harness(fx, test_config());
    h.register("ann").await;
    let new = |name: &str| DeviceClaim::New { name: name.into() };
    let (laptop, laptop_id) = as_device(&h, new("laptop")).await;
    let (phone, phone_id) = as_device(&h, new("phone")).await;
    assert_ne!(laptop_id, phone_id);
    let listed = |list: Vec<crate::protocol::DeviceInfo>| {
        list.into_iter()
            .map(|d| (d.id, d.name, d.online))
            .collect::<Vec<_>>()
    };
    assert_eq!(
        listed(laptop.client.devices().await.unwrap()),
        vec![
            (laptop_id, "laptop".to_string(), true),
            (phone_id, "phone".to_string(), true)
        ]
    );
    phone.client.logout().await.unwrap();
    assert_eq!(
        listed(laptop.client.devices().await.unwrap())[1],
        (phone_id, "phone".to_string(), false)
    );
    let again = phone
        .client
        .login_device("ann", &password("ann"), DeviceClaim::Known { id: phone_id })
        .await
        .unwrap();
    assert_eq!(again, phone_id, "a known device keeps its id");
    let mut phone = phone;
    laptop.client.revoke_device(phone_id).await.unwrap();
    phone
        .expect(|e| {
            *e == Event::Closing {
                code: ErrorCode::DeviceRevoked,
            }
        })
        .await;
    let c = h.connect().await;
    assert_eq!(
        refused(
            c.client
                .login_device("ann", &password("ann"), DeviceClaim::Known { id: phone_id })
                .await
        ),
        ErrorCode::UnknownDevice
    );
    assert_eq!(
        refused(
            c.client
                .login_device("ann", &password("ann"), new("bad\nname"))
                .await
        ),
        ErrorCode::InvalidDeviceName
    );
    assert_eq!(
        refused(laptop.client.revoke_device(phone_id).await),
        ErrorCode::UnknownDevice
    );
    assert_eq!(listed(laptop.client.devices().await.unwrap()).len(), 1);
    c.client.login("ann", &password("ann")).await.unwrap();
    h.stop().await;
}
