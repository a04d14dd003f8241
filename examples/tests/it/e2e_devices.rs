//! Devices with the real binaries: two `chat-client`s log in as two devices of
//! one user, list them, and one revokes the other; a device's id is kept in
//! the device file between runs. Devices of one user share what they must not
//! miss: a friend's messages, the user's own messages from another device,
//! receipts and read marks; one that was away gets them at its next login,
//! with the unread counts.

use serde_json::{json, Value};

use crate::common::{befriend, ids, password, temp_data_dir, JsonClient, Server};

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

#[test]
fn devices_of_one_user_share_messages_receipts_and_read_marks() {
    let (tmp, data) = temp_data_dir();
    let server = Server::start(&data, "redb", &[]);
    server.register(&["ann", "bob"]);
    let file = |device: &str| tmp.path().join(format!("{device}.json"));

    // The tablet is one of ann's devices from the start, then goes away: what
    // comes meanwhile waits for its next login.
    let mut tablet = as_device(&server, "tablet", &file("tablet"));
    let tablet_id = log_in(&mut tablet);
    tablet.finish_ok();
    let mut laptop = as_device(&server, "laptop", &file("laptop"));
    log_in(&mut laptop);
    let mut phone = as_device(&server, "phone", &file("phone"));
    log_in(&mut phone);
    let (mut bob, _) = server.login("bob");
    befriend(&mut laptop, "ann", &mut bob, "bob");
    phone.event("friend_added", |v| v["user"] == "bob");

    // A friend's messages reach both devices online.
    let one = bob.ok("msg ann one");
    let two = bob.ok("msg ann two");
    for device in [&mut laptop, &mut phone] {
        for (sent, text) in [(&one, "one"), (&two, "two")] {
            let message = device.event("message", |v| v["id"] == sent["id"]);
            assert_eq!(
                (&message["from"], &message["to"], &message["text"]),
                (&json!("bob"), &json!("ann"), &json!(text))
            );
        }
    }
    // bob's receipts are cumulative, with the ids of what this bob sent.
    let mut delivered = Vec::new();
    loop {
        let receipt = bob.event("delivered", |_| true);
        assert_eq!(receipt["peer"], "ann", "{receipt}");
        delivered.extend(ids(&receipt));
        if receipt["seq"] == two["seq"] {
            break;
        }
    }
    assert_eq!(delivered, [id(&one), id(&two)]);

    // ann writes from the laptop: her phone gets it as a message from her,
    // the laptop does not (checked at the end).
    let mine = laptop.ok("msg bob hi from the laptop");
    let echo = phone.event("message", |v| v["id"] == mine["id"]);
    assert_eq!(
        echo,
        json!({"type":"message","id":mine["id"],"seq":mine["seq"],"from":"ann","to":"bob",
               "text":"hi from the laptop","ts":mine["ts"]})
    );
    bob.event("message", |v| v["id"] == mine["id"]);
    let receipt = laptop.event("delivered", |v| v["seq"] == mine["seq"]);
    assert_eq!(
        receipt,
        json!({"type":"delivered","ids":[mine["id"]],"peer":"bob","seq":mine["seq"]})
    );
    // The phone learns of the receipt too, without ids: it did not send the message.
    let receipt = phone.event("delivered", |v| v["seq"] == mine["seq"]);
    assert_eq!(receipt["ids"], json!([]), "{receipt}");

    // The laptop reads up to the newest it saw (its own message): both devices
    // learn the mark, bob gets a read receipt.
    let read = laptop.ok("read bob");
    assert_eq!(
        read,
        json!({"type":"ok","cmd":"read","peer":"bob","seq":mine["seq"]})
    );
    let mark = json!({"type":"read","peer":"bob","seq":mine["seq"],"unread":0});
    assert_eq!(phone.event("read", |_| true), mark);
    assert_eq!(laptop.event("read", |_| true), mark);
    assert_eq!(
        bob.event("read_by", |_| true),
        json!({"type":"read_by","user":"ann","seq":mine["seq"]})
    );

    // Read receipts off (for ann, whichever device says so): her devices still
    // learn her marks, bob no longer does.
    assert_eq!(
        phone.ok("receipts off"),
        json!({"type":"ok","cmd":"receipts","on":false})
    );
    let three = bob.ok("msg ann three");
    laptop.event("message", |v| v["id"] == three["id"]);
    phone.event("message", |v| v["id"] == three["id"]);
    assert_eq!(phone.ok("read bob")["seq"], three["seq"]);
    let mark = laptop.event("read", |v| v["seq"] == three["seq"]);
    assert_eq!(mark["unread"], 0, "{mark}");
    let four = bob.ok("msg ann four");
    laptop.event("message", |v| v["id"] == four["id"]);
    phone.event("message", |v| v["id"] == four["id"]);

    // The tablet comes back: everything it missed, in order, then what is
    // unread, then `caught_up`.
    let mut tablet = as_device(&server, "tablet", &file("tablet"));
    let backlog = tablet.login("ann");
    let messages: Vec<(u64, &str)> = backlog
        .iter()
        .filter(|v| v["type"] == "message")
        .map(|v| (id(v), v["from"].as_str().expect("from")))
        .collect();
    assert_eq!(
        messages,
        [
            (id(&one), "bob"),
            (id(&two), "bob"),
            (id(&mine), "ann"),
            (id(&three), "bob"),
            (id(&four), "bob")
        ],
        "{backlog:#?}"
    );
    let marks: Vec<&Value> = backlog
        .iter()
        .filter(|v| v["type"] == "read")
        .map(|v| &v["seq"])
        .collect();
    assert_eq!(marks, [&mine["seq"], &three["seq"]], "{backlog:#?}");
    assert!(backlog
        .iter()
        .any(|v| v["type"] == "delivered" && v["peer"] == "bob" && v["seq"] == mine["seq"]));
    let at = backlog.iter().position(|v| v["type"] == "unread");
    let last_message = backlog.iter().rposition(|v| v["type"] == "message");
    assert!(at > last_message, "{backlog:#?}");
    assert_eq!(
        backlog[at.expect("an unread line")],
        json!({"type":"unread","conversations":[
            {"peer":"bob","unread":1,"read_seq":three["seq"],"last_seq":four["seq"]}
        ]}),
        "{backlog:#?}"
    );
    // It reads up to what it just got; bob is not told (receipts are off).
    assert_eq!(tablet.ok("read bob")["seq"], four["seq"]);
    laptop.event("read", |v| v["seq"] == four["seq"]);
    phone.event("read", |v| v["seq"] == four["seq"]);
    let devices = tablet.ok("devices");
    assert_eq!(devices["devices"].as_array().map(Vec::len), Some(3));
    assert_eq!(devices["devices"][0]["id"], tablet_id);

    bob.ok("online");
    let rest = bob.finish_ok();
    let receipts: Vec<&Value> = rest.iter().filter(|v| v["type"] == "read_by").collect();
    assert!(receipts.is_empty(), "{receipts:?}");
    // A message sent from a device never comes back to it.
    let rest = laptop.finish_ok();
    assert!(
        !rest.iter().any(|v| v["type"] == "message"),
        "the laptop got a message it sent: {rest:?}"
    );
    phone.finish_ok();
    tablet.finish_ok();
    assert!(server.terminate().success());
}

fn id(v: &Value) -> u64 {
    v["id"].as_u64().unwrap_or_else(|| panic!("no id in {v}"))
}
