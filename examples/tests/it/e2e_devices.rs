//! Devices with the real binaries: two `chat-client`s log in as two devices of
//! one user, list them, and one revokes the other; a device's id is kept in
//! the device file between runs.

use crate::common::{password, temp_data_dir, JsonClient, Server};

fn as_device(server: &Server, name: &str, file: &std::path::Path) -> JsonClient {
    let file = file.to_str().expect("a UTF-8 path");
    JsonClient::spawn_with(
        name,
        &server.addr,
        None,
        &["--device", name, "--device-file", file],
    )
}

fn log_in(client: &mut JsonClient) -> u64 {
    let response = client.ok(&format!("login ann {}", password("ann")));
    assert_eq!(response["user"], "ann", "{response}");
    client.expect("caught_up", |v| v["type"] == "caught_up");
    response["device"].as_u64().expect("a device id")
}

#[test]
fn two_devices_list_each_other_and_one_revokes_the_other() {
    let (tmp, data) = temp_data_dir();
    let server = Server::start(&data, "redb", &[]);
    server.register(&["ann"]);
    let file = tmp.path().join("config").join("devices.json");

    let mut laptop = as_device(&server, "laptop", &file);
    let laptop_id = log_in(&mut laptop);
    let mut phone = as_device(&server, "phone", &file);
    let phone_id = log_in(&mut phone);
    assert_ne!(laptop_id, phone_id);
    let listed = laptop.ok("devices");
    let devices = listed["devices"].as_array().expect("devices");
    let summary: Vec<_> = devices
        .iter()
        .map(|d| (d["id"].as_u64(), d["name"].as_str(), d["online"].as_bool()))
        .collect();
    assert_eq!(
        summary,
        vec![
            (Some(laptop_id), Some("laptop"), Some(true)),
            (Some(phone_id), Some("phone"), Some(true))
        ]
    );
    assert!(devices[0]["last_seen"].as_u64().is_some_and(|t| t > 0));

    // The laptop, run again, is the same device.
    laptop.finish_ok();
    let mut laptop = as_device(&server, "laptop", &file);
    assert_eq!(log_in(&mut laptop), laptop_id);

    let revoked = laptop.ok("revoke phone");
    assert_eq!(revoked["device"], phone_id);
    phone.event("closing", |v| v["code"] == "device_revoked");
    phone.finish();
    laptop.err("revoke phone", "unknown_device");
    laptop.err(&format!("revoke {phone_id}"), "unknown_device");
    // Its kept id no longer logs in; the client forgets it, and the next login
    // is a new device.
    let mut phone = as_device(&server, "phone", &file);
    phone.err(&format!("login ann {}", password("ann")), "unknown_device");
    let new_phone = log_in(&mut phone);
    assert!(new_phone != phone_id && new_phone != laptop_id);
    phone.ok("logout");
    assert_eq!(laptop.ok("revoke phone")["device"], new_phone);
    let listed = laptop.ok("devices");
    assert_eq!(listed["devices"].as_array().map(Vec::len), Some(1));
    phone.finish();
    laptop.finish_ok();
    assert!(server.terminate().success());
}
