//! Crash safety: a writer process killed with SIGKILL at a random moment loses
//! nothing it was told was stored, and leaves a consistent database.
//!
//! The child (`src/bin/sled-crash-writer.rs`) sends messages from 64 concurrent
//! tasks (so group commit is exercised) and prints each id after its `Ok`.

use std::collections::HashSet;
use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use chatcore::protocol::{Body, Event};
use chatcore::store::{Appended, NewMessage, Store};
use rand::Rng;

const CHILD: &str = env!("CARGO_BIN_EXE_sled-crash-writer");
const ROUNDS: usize = 5;

/// Runs the writer in `dir`, kills it after it printed `kill_after` ids and a further
/// `delay`, and returns every id it printed (all of which it saw `Ok` for).
fn run_and_kill(dir: &Path, kill_after: usize, delay: Duration) -> Vec<u64> {
    let mut child = Command::new(CHILD)
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
async fn check(dir: &Path, printed: &[u64]) {
    let store = chatcore_sled::open(dir).expect("reopen after the kill");
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

    let inbox = store.inbox(bob.id, None, usize::MAX).await.unwrap();
    let inbox_ids: Vec<u64> = inbox
        .iter()
        .map(|e| match e {
            Event::Message(m) => m.id,
            other => panic!("unexpected inbox item {other:?}"),
        })
        .collect();
    assert_eq!(inbox_ids, history_ids, "nothing acked: inbox == history");

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
        })
        .await
        .unwrap();
    assert!(matches!(next, Appended::New(m) if m.seq == history.len() as u64 + 1));
}

#[test]
fn killed_writer_loses_nothing_it_acknowledged() {
    let runtime = tokio::runtime::Runtime::new().unwrap();
    let mut rng = rand::thread_rng();
    let started = Instant::now();
    for round in 0..ROUNDS {
        let tmp = tempfile::tempdir().unwrap();
        let kill_after = rng.gen_range(1..=3000);
        let delay = Duration::from_micros(rng.gen_range(0..50_000));
        let printed = run_and_kill(tmp.path(), kill_after, delay);
        eprintln!(
            "round {round}: killed after {kill_after} ids + {delay:?}; {} printed in all",
            printed.len()
        );
        runtime.block_on(check(tmp.path(), &printed));
    }
    eprintln!("{ROUNDS} rounds in {:?}", started.elapsed());
}
