//! login-storm: users logging in and out in a loop, as fast as the server
//! answers, while a relay run is measured.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use chatcore::client::{Client, ClientError};
use futures::stream::{self, StreamExt, TryStreamExt};
use tokio::sync::watch;
use tokio::task::JoinHandle;
use tokio::time::{timeout, Instant};

use super::args::Args;
use super::net::{open, Target, PASSWORD};
use super::Res;

/// Registers `--storm-users` users `{prefix}l{i}`, each on its own connection,
/// not logged in.
pub(crate) async fn provision(a: &Args, addr: Target, prefix: &str) -> Res<Vec<(Client, String)>> {
    let users = stream::iter(0..a.storm_users)
        .map(|i| async move {
            let name = format!("{prefix}l{i}");
            // Login backlogs (just `CaughtUp`) are not read.
            let (client, _) = open(addr, None).await?;
            client
                .register(&name, PASSWORD)
                .await
                .map_err(|e| format!("register {name}: {e}"))?;
            Ok::<_, Box<dyn std::error::Error + Send + Sync>>((client, name))
        })
        .buffered(a.concurrency.max(1));
    timeout(Duration::from_secs(a.max_secs), users.try_collect())
        .await
        .map_err(|_| "storm provisioning took longer than --max-secs")?
}

/// A running storm.
#[derive(Debug)]
pub(crate) struct Storm {
    stop: watch::Sender<bool>,
    tasks: Vec<JoinHandle<Option<String>>>,
    logins: Arc<AtomicU64>,
    errors: Arc<AtomicU64>,
    started: std::time::Instant,
}

/// What a storm did.
#[derive(Debug)]
pub(crate) struct StormTally {
    pub logins: u64,
    pub errors: u64,
    pub secs: f64,
}

impl StormTally {
    /// ` key=value` fields for a summary line.
    pub fn fields(&self, users: usize) -> String {
        format!(
            " storm_users={users} storm_logins={} storm_logins_per_s={:.0} storm_errors={}",
            self.logins,
            self.logins as f64 / self.secs.max(1e-9),
            self.errors
        )
    }
}

impl Storm {
    /// Starts one login/logout loop per user; each stops at [`Storm::stop`] or
    /// after `max_secs`.
    pub(crate) fn start(users: Vec<(Client, String)>, max_secs: u64) -> Storm {
        let (stop, stop_rx) = watch::channel(false);
        let logins = Arc::new(AtomicU64::new(0));
        let errors = Arc::new(AtomicU64::new(0));
        let deadline = Instant::now() + Duration::from_secs(max_secs);
        let tasks = users
            .into_iter()
            .map(|(client, name)| {
                let (mut stop, logins, errors) = (stop_rx.clone(), logins.clone(), errors.clone());
                tokio::spawn(async move {
                    let mut first_error = None;
                    loop {
                        let cycle = async {
                            client.login(&name, PASSWORD).await?;
                            client.logout().await
                        };
                        let result = tokio::select! {
                            r = cycle => r,
                            _ = stop.wait_for(|s| *s) => break,
                            _ = tokio::time::sleep_until(deadline) => break,
                        };
                        match result {
                            Ok(()) => {
                                logins.fetch_add(1, Ordering::Relaxed);
                            }
                            Err(e) => {
                                errors.fetch_add(1, Ordering::Relaxed);
                                let fatal = !matches!(e, ClientError::Refused(_));
                                first_error.get_or_insert_with(|| format!("{name}: {e}"));
                                if fatal {
                                    break;
                                }
                                // Refused (e.g. rate limited): back off a little.
                                tokio::time::sleep(Duration::from_millis(10)).await;
                            }
                        }
                    }
                    first_error
                })
            })
            .collect();
        Storm {
            stop,
            tasks,
            logins,
            errors,
            started: std::time::Instant::now(),
        }
    }

    /// Stops every loop and counts.
    pub(crate) async fn stop(self) -> StormTally {
        self.stop.send_replace(true);
        let secs = self.started.elapsed().as_secs_f64();
        let mut first_error = None;
        for t in self.tasks {
            if let Ok(Some(e)) = t.await {
                first_error.get_or_insert(e);
            }
        }
        if let Some(e) = first_error {
            eprintln!("loadgen: storm login failed: {e}");
        }
        StormTally {
            logins: self.logins.load(Ordering::Relaxed),
            errors: self.errors.load(Ordering::Relaxed),
            secs,
        }
    }
}
