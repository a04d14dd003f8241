//! Power loss, for a backend whose files a test can model (a file or storage
//! layer that keeps what was synced apart from what was only written): a
//! machine that loses power at a random moment loses every write not yet
//! synced, or keeps the first of them and part of one more (a torn write), yet
//! nothing a store acknowledged, and the store opens.
//!
//! Stronger than [`crash`](super::crash), whose killed process leaves its
//! written data to the operating system: here only a sync makes data safe.

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};

use super::crash::check;
use super::HASH;
use crate::protocol::Body;
use crate::store::{NewMessage, Store};

/// Concurrent senders, so that group commits hold several writes.
const WRITERS: u64 = 16;
/// The most acknowledged messages before the power goes.
const MOST_BEFORE_CUT: usize = 400;
/// A bound on a run that should take milliseconds (a hang guard).
const HANG: Duration = Duration::from_secs(60);

/// What a test models: a disk a store opens on, and its state after a power
/// loss.
pub trait PowerLossDisk: Sized {
    /// What the disk holds if the power goes now: what was synced, and of the
    /// writes since, none or a random prefix (the last of them torn). A new
    /// disk: the store still running on this one goes on unaffected.
    fn cut_power(&self, rng: &mut StdRng) -> Self;
}

/// `cases` power losses, each at a random moment of a fresh store's work (run
/// `i` seeded with `seed + i`, which a failure names): `open` a store on
/// `new_disk()`, have 16 tasks send messages from ann to bob, cut the power
/// after a random number of acknowledged sends (up to 400), reopen on what the
/// disk then holds, and check that every acknowledged message is there (in
/// history and in bob's stream, seqs contiguous) and the store takes writes.
pub fn power_loss_loses_nothing<D: PowerLossDisk, S: Store>(
    seed: u64,
    cases: u64,
    new_disk: impl Fn() -> D,
    open: impl Fn(&D) -> S,
) {
    let runtime = tokio::runtime::Runtime::new().unwrap();
    for case in seed..seed + cases {
        let mut rng = StdRng::seed_from_u64(case);
        let disk = new_disk();
        let store = Arc::new(open(&disk));
        let cut_after = rng.gen_range(0..=MOST_BEFORE_CUT);
        let (after, acknowledged) =
            runtime.block_on(run_and_cut(&store, &disk, cut_after, &mut rng));
        drop(store); // its writer goes on with the disk before the cut
        eprintln!(
            "case {case}: power cut after {} acknowledged sends",
            acknowledged.len()
        );
        let reopened = open(&after);
        runtime.block_on(check(reopened, &acknowledged));
    }
}

/// Sends until `cut_after` are acknowledged, then cuts the power; returns the
/// disk after the cut and every message id acknowledged before it.
async fn run_and_cut<D: PowerLossDisk, S: Store>(
    store: &Arc<S>,
    disk: &D,
    cut_after: usize,
    rng: &mut StdRng,
) -> (D, Vec<u64>) {
    let ann = store.create_user("ann", HASH).await.unwrap().unwrap();
    let bob = store.create_user("bob", HASH).await.unwrap().unwrap();
    let acknowledged = Arc::new(Mutex::new(Vec::new()));
    let senders: Vec<_> = (0..WRITERS)
        .map(|writer| {
            let (store, ann, bob) = (Arc::clone(store), ann.clone(), bob.clone());
            let acknowledged = Arc::clone(&acknowledged);
            tokio::spawn(async move {
                for n in 0u64.. {
                    let msg = NewMessage {
                        from: ann.clone(),
                        to: bob.clone(),
                        client_msg_id: n * WRITERS + writer,
                        body: Body::Text(format!("message {n} of writer {writer}")),
                        ts: 1,
                        friends_only: false,
                        device: None,
                    };
                    match store.append_direct(msg).await {
                        Ok(Ok(sent)) if !sent.notices.is_empty() => {
                            acknowledged.lock().unwrap().push(sent.receipt.id)
                        }
                        other => panic!("a send failed before the power cut: {other:?}"),
                    }
                }
            })
        })
        .collect();
    let started = Instant::now();
    while acknowledged.lock().unwrap().len() < cut_after {
        assert!(started.elapsed() < HANG, "the sends stalled");
        tokio::time::sleep(Duration::from_micros(200)).await;
    }
    // Under the lock, so that every id in the list was acknowledged before the cut.
    let (after, ids) = {
        let ids = acknowledged.lock().unwrap();
        (disk.cut_power(rng), ids.clone())
    };
    for sender in senders {
        sender.abort();
        if let Err(e) = sender.await {
            if e.is_panic() {
                std::panic::resume_unwind(e.into_panic());
            }
        }
    }
    (after, ids)
}
