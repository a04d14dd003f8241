//! connections: many authenticated idle sessions; the server's RSS per session.

use std::time::Duration;

use chatcore::client::{Client, Events};
use futures::stream::{self, StreamExt, TryStreamExt};
use rlimit::Resource;
use tokio::time::{sleep, timeout, timeout_at, Instant};

use super::args::Args;
use super::net::{open, source_ip, Target, PASSWORD};
use super::{procfs, Res};

/// Raises this process's open-file limit to at least `need` (the hard limit
/// too, where allowed).
fn raise_fd_limit(need: u64) -> Res<u64> {
    let (_, hard) = Resource::NOFILE.get()?;
    if hard < need {
        // Succeeds only with CAP_SYS_RESOURCE; otherwise the soft limit stops at
        // the hard one and the check below says so.
        let _ = Resource::NOFILE.set(need, need);
    }
    let got = rlimit::increase_nofile_limit(need)?;
    if got < need {
        return Err(format!(
            "open-file limit is {got}, {need} needed for --conns; raise it (ulimit -Hn)"
        )
        .into());
    }
    Ok(got)
}

/// The outcome of one connections run.
#[derive(Debug)]
pub(crate) struct ConnsOutcome {
    pub opened: usize,
    pub failed: usize,
    pub rss_before_kib: Option<u64>,
    pub rss_after_kib: Option<u64>,
    pub online: Option<u64>,
    pub register_s: f64,
    pub login_s: f64,
    pub timed_out: bool,
}

impl ConnsOutcome {
    /// Server RSS growth per opened session, bytes.
    pub fn per_conn_bytes(&self) -> Option<f64> {
        let (b, a) = (self.rss_before_kib?, self.rss_after_kib?);
        (self.opened > 0).then(|| (a as f64 - b as f64) * 1024.0 / self.opened as f64)
    }

    /// The summary line.
    pub fn line(&self, a: &Args, run: usize) -> String {
        let kib = |x: Option<u64>| x.map_or_else(|| "na".to_string(), |x| x.to_string());
        format!(
            "target=chatcore workload=connections conns={} rss_before_kib={} rss_after_kib={} \
             rss_per_conn_bytes={} run={} opened={} failed={} online={} register_s={:.1} \
             login_s={:.1} logins_per_s={:.0} loadgen_rss_kib={} timed_out={} returning={}",
            a.conns,
            kib(self.rss_before_kib),
            kib(self.rss_after_kib),
            self.per_conn_bytes()
                .map_or_else(|| "na".to_string(), |x| format!("{x:.0}")),
            run + 1,
            self.opened,
            self.failed,
            kib(self.online),
            self.register_s,
            self.login_s,
            self.opened as f64 / self.login_s.max(1e-9),
            kib(procfs::rss_kib(None)),
            self.timed_out,
            a.returning,
        )
    }
}

/// Registers `--conns` users `{prefix}c{i}` (over `--concurrency` connections,
/// closed afterwards), samples the server's RSS, opens one logged-in session
/// per user from 127.0.0.2.. (`--source-ips`), and samples the RSS again.
pub(crate) async fn run_once(a: &Args, addr: Target, prefix: &str) -> Res<ConnsOutcome> {
    let n = a.conns;
    raise_fd_limit(n as u64 + a.concurrency as u64 + 256)?;
    let name = |i: usize| format!("{prefix}c{i}");

    // ---- register (argon2 on the server: start it with cheap parameters for
    // large --conns)
    let t0 = std::time::Instant::now();
    let workers = a.concurrency.clamp(1, n.max(1));
    let register = stream::iter(0..workers)
        .map(|w| async move {
            let (client, _) = open(addr, None).await?;
            for i in (w..n).step_by(workers) {
                client
                    .register(&name(i), PASSWORD)
                    .await
                    .map_err(|e| format!("register {}: {e}", name(i)))?;
                if a.returning {
                    client
                        .login(&name(i), PASSWORD)
                        .await
                        .map_err(|e| format!("first login {}: {e}", name(i)))?;
                    client.logout().await?;
                }
            }
            Ok::<_, Box<dyn std::error::Error + Send + Sync>>(())
        })
        .buffer_unordered(workers)
        .try_collect::<Vec<()>>();
    timeout(Duration::from_secs(a.max_secs), register)
        .await
        .map_err(|_| {
            format!(
                "registering {n} users took longer than --max-secs {}",
                a.max_secs
            )
        })??;
    let register_s = t0.elapsed().as_secs_f64();
    // Let the registration connections close on the server.
    sleep(Duration::from_millis(500)).await;
    let rss_before_kib = procfs::rss_kib(a.server_pid.first().copied());

    // ---- open the sessions
    let t1 = std::time::Instant::now();
    let deadline = Instant::now() + Duration::from_secs(a.max_secs);
    let results: Vec<Result<(Client, Events), String>> = stream::iter(0..n)
        .map(|i| async move {
            let session = async {
                let (client, events) = open(addr, Some(source_ip(i, a.source_ips)))
                    .await
                    .map_err(|e| e.to_string())?;
                client
                    .login(&name(i), PASSWORD)
                    .await
                    .map_err(|e| format!("login {}: {e}", name(i)))?;
                Ok((client, events))
            };
            timeout_at(deadline, session)
                .await
                .unwrap_or_else(|_| Err("deadline".to_string()))
        })
        .buffer_unordered(a.concurrency.max(1))
        .collect()
        .await;
    let login_s = t1.elapsed().as_secs_f64();
    let mut sessions = Vec::with_capacity(n);
    let mut failed = 0;
    let mut first_error = None;
    let mut timed_out = false;
    for r in results {
        match r {
            Ok(s) => sessions.push(s),
            Err(e) => {
                failed += 1;
                timed_out |= e == "deadline";
                first_error.get_or_insert(e);
            }
        }
    }
    if let Some(e) = first_error {
        eprintln!("loadgen: {failed} sessions failed; first: {e}");
    }
    // Idle for a moment so the server's per-session state settles.
    sleep(Duration::from_secs(1)).await;
    let rss_after_kib = procfs::rss_kib(a.server_pid.first().copied());
    let online = match sessions.first() {
        Some((c, _)) => timeout(Duration::from_secs(5), c.online_count())
            .await
            .ok()
            .and_then(Result::ok),
        None => None,
    };
    let opened = sessions.len();
    drop(sessions);
    Ok(ConnsOutcome {
        opened,
        failed,
        rss_before_kib,
        rss_after_kib,
        online,
        register_s,
        login_s,
        timed_out,
    })
}
