//! Test helper for `tests/crash.rs`, not part of the crate's API.
//!
//! `redb-crash-writer DIR` opens the store in `DIR`, creates the users `ann` and
//! `bob`, then has 64 concurrent tasks send messages from ann to bob, printing each
//! message id on its own line right after `append_direct` returned `Ok`. It runs
//! until it is killed (or, as a bound, for a minute).

use std::sync::Arc;
use std::time::{Duration, Instant};

use chatcore::protocol::Body;
use chatcore::store::{Appended, NewMessage, Store};

const WRITERS: u64 = 64;
const RUN_AT_MOST: Duration = Duration::from_secs(60);

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() {
    let dir = std::env::args_os()
        .nth(1)
        .expect("usage: redb-crash-writer DIR");
    let store = Arc::new(chatcore_redb::open(dir).expect("open the store"));
    let hash = "$argon2id$v=19$m=8,t=1,p=1$c2FsdHNhbHQ$aGFzaGhhc2hoYXNoaGFzaA";
    let ann = store.create_user("ann", hash).await.unwrap().unwrap();
    let bob = store.create_user("bob", hash).await.unwrap().unwrap();
    let deadline = Instant::now() + RUN_AT_MOST;
    let tasks: Vec<_> = (0..WRITERS)
        .map(|writer| {
            let (store, ann, bob) = (Arc::clone(&store), ann.clone(), bob.clone());
            tokio::spawn(async move {
                for n in 0u64.. {
                    if Instant::now() > deadline {
                        break;
                    }
                    let msg = NewMessage {
                        from: ann.clone(),
                        to: bob.clone(),
                        client_msg_id: n * WRITERS + writer,
                        body: Body::Text(format!("message {n} of writer {writer}")),
                        ts: 1_700_000_000_000,
                    };
                    match store.append_direct(msg).await.expect("append_direct") {
                        // stdout is line-buffered: the line is out when println returns.
                        Appended::New(m) => println!("{}", m.id),
                        Appended::Duplicate(r) => panic!("unexpected duplicate {r:?}"),
                    }
                }
            })
        })
        .collect();
    for task in tasks {
        task.await.expect("writer task");
    }
}
