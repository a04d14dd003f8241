//! The PostgreSQL store against the reference: random sequences of every
//! kind of write run on a `MemoryStore` (the kv store's domain logic) and on
//! a `PgStore` side by side; every answer, and what each user's reads show
//! after each step, must be the same (ids included: both take them from one
//! counter in the same order).

use chatcore::friends::FriendAction;
use chatcore::protocol::{Body, DeviceClaim, DeviceId};
use chatcore::store::{
    Acks, Conversation, FileQuota, FileTarget, MemoryStore, NewFile, NewMessage, NewRoomMessage,
    Room, Store, User,
};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};

use crate::pg;

const USERS: usize = 4;
const STEPS: usize = 300;

/// Runs `$call` (an expression using `s` as the store) on both stores and
/// compares the answers; evaluates to the reference's.
macro_rules! both {
    ($m:expr, $p:expr, $step:expr, |$s:ident| $call:expr) => {{
        let expected = {
            let $s = $m;
            $call.await.expect("the reference store failed")
        };
        let found = {
            let $s = $p;
            $call.await.expect("the PostgreSQL store failed")
        };
        assert_eq!(
            format!("{found:?}"),
            format!("{expected:?}"),
            "step {}: {}",
            $step,
            stringify!($call)
        );
        expected
    }};
}

struct World {
    users: Vec<User>,
    devices: Vec<Vec<DeviceId>>,
    rooms: Vec<Room>,
    room_messages: Vec<u64>,
    files: Vec<u64>,
}

async fn compare_reads(m: &MemoryStore, p: &pg::Store, world: &World, step: usize) {
    for user in &world.users {
        let _ = both!(m, p, step, |s| s.stream(user.id, 0, 1000));
        let _ = both!(m, p, step, |s| s.unread(user.id));
        let _ = both!(m, p, step, |s| s.rooms_of(user.id));
        let _ = both!(m, p, step, |s| s.links(user.id));
        let _ = both!(m, p, step, |s| s.devices(user.id));
        let _ = both!(m, p, step, |s| s.delivered_since(user.id, 0));
        let _ = both!(m, p, step, |s| s.rooms(user.id, None, 100));
        for other in &world.users {
            both!(m, p, step, |s| s
                .direct_history(user.id, other.id, None, 100));
            let _ = both!(m, p, step, |s| s.direct_files(user.id, other.id, None, 100));
        }
    }
    for room in &world.rooms {
        let _ = both!(m, p, step, |s| s.room_history(room.id, None, 100));
        let _ = both!(m, p, step, |s| s.room_members(room.id));
        let _ = both!(m, p, step, |s| s.room_files(room.id, None, 100));
    }
    let _ = both!(m, p, step, |s| s.incomplete_files());
    let _ = both!(m, p, step, |s| s.search_users("", None, 100));
}

fn action(rng: &mut StdRng) -> FriendAction {
    match rng.gen_range(0..5) {
        0 => FriendAction::Request { note: "hi".into() },
        1 => FriendAction::Respond {
            accept: rng.gen_bool(0.7),
        },
        2 => FriendAction::Remove,
        3 => FriendAction::Block,
        _ => FriendAction::Unblock,
    }
}

async fn run(seed: u64) {
    let mut rng = StdRng::seed_from_u64(seed);
    let m = &MemoryStore::new();
    let p = &pg::open(&pg::fresh_database());
    let mut world = World {
        users: Vec::new(),
        devices: vec![Vec::new(); USERS],
        rooms: Vec::new(),
        room_messages: Vec::new(),
        files: Vec::new(),
    };
    for n in 0..USERS {
        let name = format!("User{n}");
        let user = both!(m, p, 0, |s| s.create_user(&name, "h"));
        world.users.push(user.expect("a free name"));
    }
    for step in 1..=STEPS {
        let now = 1_700_000_000_000 + step as u64 * 1_000;
        let (a, b) = (rng.gen_range(0..USERS), rng.gen_range(0..USERS));
        let (ua, ub) = (world.users[a].clone(), world.users[b].clone());
        let device = |rng: &mut StdRng, world: &World, user: usize| -> Option<DeviceId> {
            let known = &world.devices[user];
            (!known.is_empty() && rng.gen_bool(0.8)).then(|| known[rng.gen_range(0..known.len())])
        };
        match rng.gen_range(0..16) {
            0 | 1 => {
                let action = action(&mut rng);
                let _ = both!(m, p, step, |s| s.friend_op(&ua, &ub, action.clone(), 2));
            }
            2..=4 => {
                let msg = NewMessage {
                    from: ua.clone(),
                    to: ub.clone(),
                    client_msg_id: rng.gen_range(0..6),
                    body: Body::Text(format!("m{}", rng.gen_range(0..2))),
                    ts: now,
                    friends_only: rng.gen_bool(0.3),
                    device: device(&mut rng, &world, a),
                };
                let _ = both!(m, p, step, |s| s.append_direct(msg.clone()));
            }
            5 => {
                let claim = match rng.gen_range(0..3) {
                    0 => None,
                    1 => Some(DeviceClaim::New {
                        name: format!("d{step}"),
                    }),
                    _ => device(&mut rng, &world, a).map(|id| DeviceClaim::Known { id }),
                };
                let login = both!(m, p, step, |s| s.device_login(ua.id, claim.clone(), 3, now));
                if let Ok(login) = login {
                    if !world.devices[a].contains(&login.device.id) {
                        world.devices[a].push(login.device.id);
                    }
                }
            }
            6 | 7 => {
                if let Some(dev) = device(&mut rng, &world, a) {
                    let head = m
                        .stream(ua.id, 0, 1000)
                        .await
                        .unwrap()
                        .last()
                        .map_or(0, |i| i.pos);
                    let mut room_messages = Vec::new();
                    for _ in 0..rng.gen_range(0..3) {
                        if !world.room_messages.is_empty() {
                            let k = rng.gen_range(0..world.room_messages.len());
                            room_messages.push(world.room_messages[k]);
                        }
                    }
                    let acks = Acks {
                        device: dev,
                        up_to: rng.gen_bool(0.9).then(|| rng.gen_range(0..head + 2)),
                        room_messages,
                        now,
                        active_since: now - rng.gen_range(0..20_000),
                    };
                    let _ = both!(m, p, step, |s| s.ack(ua.id, acks.clone()));
                }
            }
            8 => {
                let conversation = if !world.rooms.is_empty() && rng.gen_bool(0.5) {
                    Conversation::Room(world.rooms[rng.gen_range(0..world.rooms.len())].clone())
                } else {
                    Conversation::User(ub.clone())
                };
                let seq = rng.gen_range(0..8);
                let _ = both!(m, p, step, |s| s.mark_read(&ua, conversation.clone(), seq));
            }
            9 => {
                let on = rng.gen_bool(0.5);
                both!(m, p, step, |s| s.set_read_receipts(ua.id, on));
            }
            10 => {
                let name = format!("Room{}", rng.gen_range(0..4));
                if let Ok(room) = both!(m, p, step, |s| s.create_room(&ua, &name, 2)) {
                    world.rooms.push(room);
                }
            }
            11 if !world.rooms.is_empty() => {
                let room = world.rooms[rng.gen_range(0..world.rooms.len())].clone();
                match rng.gen_range(0..5) {
                    0 => {
                        let _ = both!(m, p, step, |s| s.leave_room(room.id, ua.id));
                    }
                    1 => {
                        let _ = both!(m, p, step, |s| s.delete_room(room.id));
                    }
                    _ => {
                        let _ = both!(m, p, step, |s| s.join_room(room.id, ua.id));
                    }
                }
            }
            12 | 13 if !world.rooms.is_empty() => {
                let room = world.rooms[rng.gen_range(0..world.rooms.len())].clone();
                let msg = NewRoomMessage {
                    from: ua.clone(),
                    room,
                    client_msg_id: rng.gen_range(0..6),
                    body: Body::Text(format!("r{}", rng.gen_range(0..2))),
                    ts: now,
                };
                let appended = both!(m, p, step, |s| s.append_room(msg.clone()));
                if let Ok(chatcore::store::Appended::New(message)) = appended {
                    world.room_messages.push(message.id);
                }
            }
            14 => {
                let to = if !world.rooms.is_empty() && rng.gen_bool(0.4) {
                    FileTarget::Room(world.rooms[rng.gen_range(0..world.rooms.len())].clone())
                } else {
                    FileTarget::User(ub.clone())
                };
                let offer = NewFile {
                    from: ua.clone(),
                    to,
                    name: format!("f{step}"),
                    size: rng.gen_range(1..30),
                    sha256: [7; 32],
                    chunk_size: 10,
                    ts: now,
                };
                let quota = FileQuota {
                    files: 3,
                    bytes: 60,
                };
                if let Ok(file) = both!(m, p, step, |s| s.create_file(offer.clone(), quota)) {
                    world.files.push(file.id);
                }
            }
            15 if !world.files.is_empty() => {
                let file = world.files[rng.gen_range(0..world.files.len())];
                match rng.gen_range(0..4) {
                    0 => {
                        let bytes = vec![1u8; rng.gen_range(1..10)];
                        let index = rng.gen_range(0..3);
                        if m.file(file).await.unwrap().is_some() {
                            both!(m, p, step, |s| s.put_chunk(file, index, bytes.clone()));
                            let _ = both!(m, p, step, |s| s.chunk(file, index));
                        }
                    }
                    1 => {
                        let _ = both!(m, p, step, |s| s.complete_file(file, now));
                    }
                    2 => {
                        both!(m, p, step, |s| s.delete_file(file));
                    }
                    _ => {
                        let _ = both!(m, p, step, |s| s.file(file));
                    }
                }
            }
            _ => {
                match rng.gen_range(0..3) {
                    0 => {
                        if let Some(dev) = device(&mut rng, &world, a) {
                            let _ = both!(m, p, step, |s| s.revoke_device(ua.id, dev));
                        }
                    }
                    1 => {
                        if let Some(dev) = device(&mut rng, &world, a) {
                            both!(m, p, step, |s| s.device_seen(ua.id, dev, now));
                        }
                    }
                    _ => {
                        // A whole sweep: the cursors are each store's own.
                        let before = now - rng.gen_range(0..100_000);
                        let mut expired = [0, 0];
                        for (n, store) in [m as &dyn Store, p as &dyn Store].into_iter().enumerate()
                        {
                            let mut resume = None;
                            loop {
                                let sweep =
                                    store.expire_send_records(before, resume, 2).await.unwrap();
                                expired[n] += sweep.expired;
                                match sweep.next {
                                    Some(next) => resume = Some(next),
                                    None => break,
                                }
                            }
                        }
                        assert_eq!(expired[1], expired[0], "step {step}: records swept");
                    }
                }
            }
        }
        compare_reads(m, p, &world, step).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn random_writes_answer_and_read_as_the_reference_store_seed_1() {
    run(1).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn random_writes_answer_and_read_as_the_reference_store_seed_2() {
    run(2).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn random_writes_answer_and_read_as_the_reference_store_seed_3() {
    run(3).await;
}
