//! Driving the workload's connections: one [`traffic`] task per plan,
//! logged in under a concurrency limit, waited for until every one is
//! ready, and collected at the end (with a grace period, after which the
//! stragglers are dropped and what they owed counts as lost).

use std::sync::Arc;
use std::time::Duration;

use tokio::sync::{Semaphore, mpsc};
use tokio::task::JoinHandle;

use crate::conn::Dialer;
use crate::stats::{Phase, Shared};
use crate::traffic::{self, Plan, Report, Settings};

/// How long tasks get to finish after the drain before they are dropped.
pub const FINISH_GRACE: Duration = Duration::from_secs(10);

/// The running connections of one workload.
pub struct Fleet {
    tasks: Vec<JoinHandle<Option<Report>>>,
    /// Each connection says here once it is logged in, or why it is not.
    ready: mpsc::Receiver<anyhow::Result<()>>,
}

impl Fleet {
    /// Starts one connection per plan: to `dialer`, or to `dialer2` for
    /// plans on the second server.
    pub fn start(
        plans: Vec<Plan>,
        settings: &Arc<Settings>,
        dialer: &Arc<Dialer>,
        dialer2: Option<&Arc<Dialer>>,
        shared: &Arc<Shared>,
        login_concurrency: usize,
    ) -> Fleet {
        let logins = Arc::new(Semaphore::new(login_concurrency));
        let (ready_tx, ready) = mpsc::channel(1024);
        let tasks = plans
            .into_iter()
            .map(|plan| {
                let d = match (plan.server, dialer2) {
                    (1, Some(d2)) => d2.clone(),
                    _ => dialer.clone(),
                };
                tokio::spawn(traffic::run(
                    plan,
                    settings.clone(),
                    d,
                    shared.clone(),
                    logins.clone(),
                    ready_tx.clone(),
                ))
            })
            .collect();
        Fleet { tasks, ready }
    }

    /// Waits until every connection is logged in, saying how many are
    /// once a second unless `quiet`. The first failure stops the run.
    pub async fn logged_in(&mut self, shared: &Shared, quiet: bool) -> anyhow::Result<()> {
        let connections = self.tasks.len();
        let mut ready = 0;
        let mut tick = tokio::time::interval(Duration::from_secs(1));
        tick.tick().await;
        while ready < connections {
            tokio::select! {
                got = self.ready.recv() => match got {
                    Some(Ok(())) => ready += 1,
                    Some(Err(e)) => {
                        shared.set_phase(Phase::Done);
                        for t in &self.tasks {
                            t.abort();
                        }
                        return Err(e.context("logging in the workload's sessions"));
                    }
                    None => break,
                },
                _ = tick.tick() => {
                    if !quiet {
                        eprintln!("chatbench: {ready}/{connections} sessions logged in");
                    }
                }
            }
        }
        Ok(())
    }

    /// Collects every connection's report, once the run is done.
    pub async fn finish(self) -> Vec<Report> {
        let (reports, unfinished) = collect(self.tasks, FINISH_GRACE).await;
        if unfinished > 0 {
            eprintln!(
                "chatbench: {unfinished} connections did not finish; their deliveries count as lost"
            );
        }
        reports
    }
}

/// Spawns each of `workers`, to [`collect`] them later.
pub fn spawn_all<F>(workers: impl IntoIterator<Item = F>) -> Vec<JoinHandle<Option<()>>>
where
    F: Future<Output = ()> + Send + 'static,
{
    workers
        .into_iter()
        .map(|w| {
            tokio::spawn(async move {
                w.await;
                Some(())
            })
        })
        .collect()
}

/// Waits up to `grace` in all for `tasks`; returns what those that
/// finished handed back, and how many did not (aborted, failed or
/// returned nothing).
pub async fn collect<T: 'static>(
    tasks: Vec<JoinHandle<Option<T>>>,
    grace: Duration,
) -> (Vec<T>, usize) {
    let mut out = Vec::with_capacity(tasks.len());
    let deadline = tokio::time::Instant::now() + grace;
    let mut unfinished = 0;
    for t in tasks {
        let abort = t.abort_handle();
        match tokio::time::timeout_at(deadline, t).await {
            Ok(Ok(Some(r))) => out.push(r),
            Ok(_) => unfinished += 1,
            Err(_) => {
                abort.abort();
                unfinished += 1;
            }
        }
    }
    (out, unfinished)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn collect_keeps_results_and_counts_the_rest() {
        let (tx, rx) = tokio::sync::oneshot::channel::<()>();
        let tasks = vec![
            tokio::spawn(async { Some(1) }),
            tokio::spawn(async { None }),
            tokio::spawn(async {
                // Never finishes by itself: dropped at the deadline.
                let _ = rx.await;
                Some(3)
            }),
            tokio::spawn(async { Some(4) }),
        ];
        let (got, unfinished) = collect(tasks, Duration::from_millis(50)).await;
        assert_eq!(got, vec![1, 4]);
        assert_eq!(unfinished, 2);
        drop(tx);
    }
}
