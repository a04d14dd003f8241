//! Crash safety, for every backend: a writer process killed with SIGKILL at a
//! random moment loses nothing it was told was stored, and leaves a consistent
//! database.
//!
//! A backend crate adds a tiny binary whose `main` calls [`run_writer`] on its
//! store, and a test that calls [`killed_writer_loses_nothing`] with that binary's
//! path (`env!("CARGO_BIN_EXE_...")`), its environment and an opener.

use std::collections::HashSet;
use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use rand::Rng;

use crate::protocol::{Body, Event};
use crate::store::{NewMessage, Store};

const WRITERS: u64 = 64;
const RUN_AT_MOST: Duration = Duration::from_secs(60);
const ROUNDS: usize = 5;

/// The child's work: creates the users `ann` and `bob`, then has 64 concurrent
/// tasks (so group commit is exercised) send messages from ann to bob, printing
/// each message id on its own line right after `append_direct` returned `Ok`.
/// Runs until killed (or, as a bound, for a minute).
pub async fn run_writer<S: Store>(store: S) {
    let store = Arc::new(store);
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
                        friends_only: false,
                        device: None,
                    };
                    match store
                        .append_direct(msg)
                        .await
                        .expect("append_direct")
                        .expect("refused")
                    {
                        // stdout is line-buffered: the line is out when println returns.
                        sent if !sent.notices.is_empty() => println!("{}", sent.receipt.id),
                        sent => panic!("unexpected duplicate {:?}", sent.receipt),
                    }
                }
            })
        })
        .collect();
    for task in tasks {
        task.await.expect("writer task");
    }
}

/// Five rounds: run `child` (a binary calling [`run_writer`], with the variables
/// `env` added to its environment) in a fresh temp dir, SIGKILL it after a random
/// number of printed ids plus a random delay, reopen with `open`, and check that
/// every printed id is there and the database is consistent and writable.
pub fn killed_writer_loses_nothing<S: Store>(
    child: &str,
    env: &[(&str, &str)],
    open: impl Fn(&Path) -> S,
) {
    let runtime = tokio::runtime::Runtime::new().unwrap();
    let mut rng = rand::thread_rng();
    let started = Instant::now();
    for round in 0..ROUNDS {
        let tmp = tempfile::tempdir().unwrap();
        let kill_after = rng.gen_range(1..=3000);
        let delay = Duration::from_micros(rng.gen_range(0..50_000));
        let printed = run_and_kill(child, env, tmp.path(), kill_after, delay);
        eprintln!(
            "round {round}: killed after {kill_after} ids + {delay:?}; {} printed in all",
            printed.len()
        );
        let store = open(tmp.path());
        runtime.block_on(check(store, &printed));
    }
    eprintln!("{ROUNDS} rounds in {:?}", started.elapsed());
}

/// Runs the writer in `dir`, kills it after it printed `kill_after` ids and a further
/// `delay`, and returns every id it printed (all of which it saw `Ok` for).
fn run_and_kill(
    child: &str,
    env: &[(&str, &str)],
    dir: &Path,
    kill_after: usize,
    delay: Duration,
) -> Vec<u64> {
    let mut child = Command::new(child)
        .envs(env.iter().copied())
        .arg(dir)
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .expect("spawn the crash writer");
    let mut out = BufReader::new(child.stdout.take().unwrap());
    let mut printed = Vec::new();
    let mut line = String::new();
    let mut killed = false;
    loop {
        line.clear();
        if out.read_line(&mut line).expect("read the writer's stdout") == 0 {
            break; // EOF: the child is gone and its output drained
        }
        // A line cut short by the kill was never fully printed: not a promise.
        let Some(id) = line.strip_suffix('\n') else {
            break;
        };
        printed.push(id.parse().expect("an id per line"));
        if !killed && printed.len() >= kill_after {
            std::thread::sleep(delay);
            child.kill().expect("SIGKILL the writer");
            killed = true;
            // Keep reading: whatever it printed before dying was acknowledged.
        }
    }
    let status = child.wait().unwrap();
    assert!(
        killed,
        "the writer exited by itself ({status}) after {} ids",
        printed.len()
    );
    printed
}

/// Reopens the database and checks it against what the writer printed.
pub(super) async fn check<S: Store>(store: S, printed: &[u64]) {
    let ann = store.account_by_name("ann").await.unwrap().unwrap().user;
    let bob = store.account_by_name("bob").await.unwrap().unwrap().user;

    let mut history = store
        .direct_history(ann.id, bob.id, None, usize::MAX)
        .await
        .unwrap();
    history.reverse(); // oldest first
    let seqs: Vec<u64> = history.iter().map(|m| m.seq).collect();
    assert_eq!(
        seqs,
        (1..=history.len() as u64).collect::<Vec<_>>(),
        "history seqs are contiguous from 1"
    );
    let history_ids: Vec<u64> = history.iter().map(|m| m.id).collect();

    let inbox = store.stream(bob.id, 0, usize::MAX).await.unwrap();
    let inbox_ids: Vec<u64> = inbox
        .iter()
        .map(|i| match &i.event {
            Event::Message(m) => m.id,
            other => panic!("unexpected inbox item {other:?}"),
        })
        .collect();
    assert_eq!(inbox_ids, history_ids, "nothing acked: stream == history");

    let stored: HashSet<u64> = history_ids.iter().copied().collect();
    assert_eq!(stored.len(), history_ids.len(), "history ids are unique");
    let mut seen = HashSet::new();
    for id in printed {
        assert!(seen.insert(*id), "id {id} printed twice");
        assert!(stored.contains(id), "acknowledged id {id} was lost");
    }

    // The database is usable after the crash: the next message continues the sequence.
    let next = store
        .append_direct(NewMessage {
            from: ann.clone(),
            to: bob.clone(),
            client_msg_id: u64::MAX,
            body: Body::Text("after the crash".into()),
            ts: 1,
            friends_only: false,
            device: None,
        })
        .await
        .unwrap();
    assert!(matches!(next, Ok(sent) if sent.receipt.seq == history.len() as u64 + 1));
}
