//! relay and fanout: provisioning, then the measured interval.
//!
//! Mirrors the peer harness: receivers wait for messages; each sender takes one
//! permit from the semaphore of each of its receivers before every send (a
//! receiver returns one per message it sees), so at most `--window` messages
//! per receiver are in flight; the clock runs from the start signal to the last
//! delivery.

use std::sync::Arc;
use std::task::Poll;
use std::time::Duration;

use chatcore::client::{Client, ClientError, Events, Sent};
use chatcore::protocol::{Body, Event, Peer};
use futures::stream::{self, FuturesUnordered, StreamExt, TryStreamExt};
use hdrhistogram::Histogram;
use tokio::sync::{watch, Semaphore};
use tokio::time::{timeout, timeout_at, Instant};

use super::args::{Args, Workload};
use super::net::{befriend, new_user, Target};
use super::stats::{fmt2, histogram, payload, sent_at, Received, Summary};
use super::{procfs, Res};

/// One sender and the receivers of everything it sends.
#[derive(Debug)]
pub(crate) struct Flow {
    sender: Client,
    to: Peer,
    receivers: Vec<(Client, Events)>,
}

/// Registers, logs in and befriends `--pairs` pairs `{prefix}s{i}` → `{prefix}r{i}`;
/// with several `nodes`, pair `i`'s sender is on node `i` and its receiver on
/// the next one.
pub(crate) async fn provision_relay(a: &Args, nodes: &[Target], prefix: &str) -> Res<Vec<Flow>> {
    let pairs = stream::iter(0..a.pairs)
        .map(|i| async move {
            let (s_name, r_name) = (format!("{prefix}s{i}"), format!("{prefix}r{i}"));
            let (s_node, r_node) = (nodes[i % nodes.len()], nodes[(i + 1) % nodes.len()]);
            // The sender's events (receipts) are not read: the client still acks them.
            let (sender, _) = new_user(s_node, &s_name).await?;
            let (receiver, events) = new_user(r_node, &r_name).await?;
            befriend(&sender, &s_name, &receiver, &r_name).await?;
            Ok::<_, Box<dyn std::error::Error + Send + Sync>>(Flow {
                sender,
                to: Peer::User(r_name),
                receivers: vec![(receiver, events)],
            })
        })
        .buffered((a.concurrency / 2).max(1));
    with_deadline(a, pairs.try_collect()).await
}

/// Registers `{prefix}o`, who creates room `{prefix}room`, and `--members`
/// members `{prefix}m{i}`, who join it.
pub(crate) async fn provision_fanout(a: &Args, addr: Target, prefix: &str) -> Res<Vec<Flow>> {
    let setup = async {
        let (owner, room) = (format!("{prefix}o"), format!("{prefix}room"));
        // The owner gets its own room messages back (every member does); the
        // client acks them unread.
        let (sender, _) = new_user(addr, &owner).await?;
        sender
            .create_room(&room)
            .await
            .map_err(|e| format!("create room {room}: {e}"))?;
        let room = &room;
        let receivers: Vec<(Client, Events)> = stream::iter(0..a.members)
            .map(|i| async move {
                let name = format!("{prefix}m{i}");
                let (client, events) = new_user(addr, &name).await?;
                client
                    .join_room(room)
                    .await
                    .map_err(|e| format!("{name} joins {room}: {e}"))?;
                Ok::<_, Box<dyn std::error::Error + Send + Sync>>((client, events))
            })
            .buffered(a.concurrency.max(1))
            .try_collect()
            .await?;
        Ok(vec![Flow {
            sender,
            to: Peer::Room(room.clone()),
            receivers,
        }])
    };
    with_deadline(a, setup).await
}

async fn with_deadline<T>(a: &Args, f: impl std::future::Future<Output = Res<T>>) -> Res<T> {
    timeout(Duration::from_secs(a.max_secs), f)
        .await
        .map_err(|_| format!("provisioning took longer than --max-secs {}", a.max_secs))?
}

/// The outcome of one measured interval.
#[derive(Debug)]
pub(crate) struct Measured {
    /// Deliveries expected (receivers × `--msgs`).
    pub expected: u64,
    pub delivered: u64,
    /// Sends answered `Ok` (stored).
    pub sent: u64,
    pub send_errors: u64,
    pub hist: Histogram<u64>,
    /// Start signal to last delivery, seconds.
    pub elapsed: f64,
    /// Server CPU-seconds over the interval (acks of the deliveries included).
    pub server_cpu: Option<f64>,
    /// CPU-seconds of the `--db-pid` processes over the interval.
    pub db_cpu: Option<f64>,
    pub loadgen_cpu: f64,
}

impl Measured {
    pub fn rate(&self) -> f64 {
        self.delivered as f64 / self.elapsed
    }

    pub fn summary(&self) -> Summary {
        Summary {
            rate: self.rate(),
            p50: self.hist.value_at_quantile(0.50),
            p99: self.hist.value_at_quantile(0.99),
            p999: self.hist.value_at_quantile(0.999),
            cpu_per_m: self
                .server_cpu
                .map(|c| c / self.delivered.max(1) as f64 * 1e6),
        }
    }

    /// The summary line; `extra` (` key=value` pairs) is appended.
    pub fn line(&self, a: &Args, workload: Workload, run: usize, extra: &str) -> String {
        let shape = match workload {
            Workload::Fanout => format!("workload=fanout members={}", a.members),
            _ => format!("workload=relay pairs={}", a.pairs),
        };
        let s = self.summary();
        let db = match self.db_cpu {
            Some(cpu) => format!(
                " db_cpu_s_per_1M={} db_cpu_s={cpu:.2}",
                fmt2(Some(cpu / self.delivered.max(1) as f64 * 1e6))
            ),
            None => String::new(),
        };
        format!(
            "target=chatcore {shape} msgs={} size={} window={} rate={:.0} msg/s p50={}us p99={}us \
             p999={}us server_cpu_s_per_1M={} run={} delivered={} sent={} send_errors={} \
             elapsed_s={:.3} server_cpu_s={} loadgen_cpu_s={:.2} timed_out={}{db}{extra}",
            self.expected,
            a.size.max(super::stats::STAMP_LEN),
            a.window,
            s.rate,
            s.p50,
            s.p99,
            s.p999,
            fmt2(s.cpu_per_m),
            run + 1,
            self.delivered,
            self.sent,
            self.send_errors,
            self.elapsed,
            fmt2(self.server_cpu),
            self.loadgen_cpu,
            self.delivered < self.expected,
        )
    }
}

/// Runs the flows: start signal, sends under the window, until every receiver
/// has everything or `--max-secs` passes.
pub(crate) async fn measure(a: &Args, flows: Vec<Flow>) -> Res<Measured> {
    let window = a.window.max(1);
    let msgs = a.msgs as u64;
    let (go_tx, go_rx) = watch::channel(false);
    // Set by a sender that cannot go on, so nobody waits for the deadline.
    let (abort_tx, abort_rx) = watch::channel(false);
    let abort_tx = Arc::new(abort_tx);
    let deadline = Instant::now() + Duration::from_secs(a.max_secs);
    let mut clients = Vec::new();
    let mut receivers = Vec::new();
    let mut senders = Vec::new();
    let mut expected = 0;
    for flow in flows {
        let mut sems = Vec::new();
        for (client, events) in flow.receivers {
            let sem = Arc::new(Semaphore::new(window));
            sems.push(sem.clone());
            clients.push(client);
            expected += msgs;
            receivers.push(tokio::spawn(receive(
                events,
                msgs,
                sem,
                abort_rx.clone(),
                deadline,
            )));
        }
        clients.push(flow.sender.clone());
        let task = SenderTask {
            client: flow.sender,
            to: flow.to,
            msgs,
            size: a.size,
            window,
            random_ids: a.random_ids,
            sems,
            go: go_rx.clone(),
            abort: abort_tx.clone(),
            deadline,
        };
        senders.push(tokio::spawn(task.run()));
    }

    // ---- measured interval
    let server_cpu0 = procfs::cpu_s_sum(&a.server_pid);
    let db_cpu0 = procfs::cpu_s_sum(&a.db_pid);
    let self_cpu0 = procfs::cpu_s(None);
    let start = std::time::Instant::now();
    go_tx.send_replace(true);
    let mut hist = histogram();
    let (mut delivered, mut last) = (0, start);
    let mut events = Vec::new();
    for h in receivers {
        let (r, ev) = h.await?;
        hist.add(&r.hist)?;
        delivered += r.count;
        last = last.max(r.last.unwrap_or(start));
        events.push(ev);
    }
    let (mut sent, mut send_errors) = (0, 0);
    for h in senders {
        let out = h.await?;
        sent += out.sent;
        send_errors += out.errors;
        if let Some(e) = out.first_error {
            eprintln!("loadgen: send failed: {e}");
        }
    }
    // A request is answered only after the acks the client sent before it are
    // committed: so the CPU sample includes acking every delivery (and receipt).
    let flush = futures::future::join_all(clients.iter().map(|c| c.ping()));
    if timeout(Duration::from_secs(5), flush).await.is_err() {
        eprintln!("loadgen: acks not flushed within 5 s");
    }
    let server_cpu1 = procfs::cpu_s_sum(&a.server_pid);
    let db_cpu1 = procfs::cpu_s_sum(&a.db_pid);
    let self_cpu1 = procfs::cpu_s(None);
    drop((clients, events));

    Ok(Measured {
        expected,
        delivered,
        sent,
        send_errors,
        hist,
        elapsed: (last - start).as_secs_f64().max(1e-9),
        server_cpu: server_cpu0.zip(server_cpu1).map(|(x, y)| y - x),
        db_cpu: db_cpu0.zip(db_cpu1).map(|(x, y)| y - x),
        loadgen_cpu: self_cpu1.unwrap_or(0.0) - self_cpu0.unwrap_or(0.0),
    })
}

/// The text of a body, if it is text.
fn text(body: &Body) -> Option<&str> {
    match body {
        Body::Text(t) => Some(t),
        #[allow(unreachable_patterns)]
        _ => None,
    }
}

/// Counts stamped messages until `expected` arrived, the deadline passed, or a
/// sender gave up; returns a window permit per message.
async fn receive(
    mut events: Events,
    expected: u64,
    sem: Arc<Semaphore>,
    mut abort: watch::Receiver<bool>,
    deadline: Instant,
) -> (Received, Events) {
    let mut r = Received::default();
    let expired = tokio::time::sleep_until(deadline);
    tokio::pin!(expired);
    while r.count < expected {
        let event = tokio::select! {
            biased;
            event = events.next() => event,
            _ = &mut expired => break,
            _ = abort.wait_for(|a| *a) => break,
        };
        match event {
            Some(Event::Message(m)) => {
                if let Some(t) = text(&m.body).and_then(sent_at) {
                    r.record(t);
                    sem.add_permits(1);
                }
            }
            Some(_) => {}
            None => break,
        }
    }
    // A sender waiting for this receiver's permits stops at once.
    sem.close();
    (r, events)
}

#[derive(Debug, Default)]
struct SendOutcome {
    sent: u64,
    errors: u64,
    first_error: Option<String>,
}

impl SendOutcome {
    /// Counts an answer; false if it was an error.
    fn tally(&mut self, answer: Result<Sent, ClientError>) -> bool {
        match answer {
            Ok(_) => {
                self.sent += 1;
                true
            }
            Err(e) => {
                self.errors += 1;
                self.first_error.get_or_insert_with(|| e.to_string());
                false
            }
        }
    }
}

#[derive(Debug)]
struct SenderTask {
    client: Client,
    to: Peer,
    msgs: u64,
    size: usize,
    window: usize,
    random_ids: bool,
    sems: Vec<Arc<Semaphore>>,
    go: watch::Receiver<bool>,
    abort: Arc<watch::Sender<bool>>,
    deadline: Instant,
}

impl SenderTask {
    /// Takes a permit of every receiver; false once one is gone or time is up.
    async fn acquire_all(&self) -> bool {
        for sem in &self.sems {
            match timeout_at(self.deadline, sem.acquire()).await {
                Ok(Ok(permit)) => permit.forget(),
                _ => return false,
            }
        }
        true
    }

    async fn run(mut self) -> SendOutcome {
        let mut out = SendOutcome::default();
        if self.go.wait_for(|g| *g).await.is_err() {
            return out;
        }
        let client = &self.client;
        // Answers awaited (pipelined): at most `window` at once.
        let mut answers = FuturesUnordered::new();
        'send: for seq in 1..=self.msgs {
            if !self.acquire_all().await {
                break;
            }
            while answers.len() >= self.window {
                match timeout_at(self.deadline, answers.next()).await {
                    Ok(Some(answer)) => {
                        if !out.tally(answer) {
                            break 'send;
                        }
                    }
                    _ => break 'send,
                }
            }
            let text = payload(self.size);
            let id = if self.random_ids { rand::random() } else { seq };
            let mut send = Box::pin(client.send(self.to.clone(), id, Body::Text(text)));
            // The first poll queues the request, so requests leave in order; the
            // answer is collected later.
            match futures::poll!(send.as_mut()) {
                Poll::Ready(answer) => {
                    if !out.tally(answer) {
                        break;
                    }
                }
                Poll::Pending => answers.push(send),
            }
        }
        while out.errors == 0 {
            match timeout_at(self.deadline, answers.next()).await {
                Ok(Some(answer)) => {
                    out.tally(answer);
                }
                _ => break,
            }
        }
        if out.errors > 0 {
            self.abort.send_replace(true);
        }
        out
    }
}
