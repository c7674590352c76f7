//! The batching writer (group commit): one task per node takes the
//! messages and acks of every session, commits many of them in one
//! transaction, then delivers the new messages and answers each request.
//!
//! This is the only place that assigns message ids, so ids are issued in
//! commit order and one sender's messages to one recipient arrive in the
//! order they were accepted. A message is in the database before anyone
//! hears of it: the `ok` and the live `msg` events both follow the commit.
//!
//! Over 500 lines: about 200 of them are unit tests of the retries, the
//! one-by-one fallback and the lost commit answer.

use std::sync::Arc;
use std::time::{Duration, Instant};

use tokio::sync::{mpsc, oneshot};
use tokio_util::sync::CancellationToken;

use crate::ids::{IdGen, now_ms};
use crate::router::Router;
use crate::store::{BatchStore, NewMsg, StoreError, Stored, Target, WriteOp, WriteOutcome};

/// How often a batch that lost a deadlock is run again.
const CONFLICT_RETRIES: usize = 5;
/// How often a batch whose commit answer was lost is resolved and run
/// again, at most.
const COMMIT_UNKNOWN_RETRIES: usize = 10;
/// How long the writer asks a database that does not answer whether a
/// batch was committed.
const RESOLVE_PATIENCE: Duration = Duration::from_secs(60);

/// A message to store, before it has an id.
#[derive(Debug)]
pub struct Draft {
    pub from: u64,
    pub target: Target,
    pub text: String,
    pub cid: Option<String>,
    /// The sending session, which does not get its own message as an event.
    pub origin_sid: u64,
}

/// What a writer job answers.
#[derive(Debug)]
pub enum Done {
    /// A message was stored (or was a `cid` retry): its id and time.
    Msg {
        id: u64,
        ts: u64,
    },
    /// A message was not stored: its rule no longer held at commit.
    Refused(crate::store::Refusal),
    Acked,
}

enum Job {
    Msg(Draft, oneshot::Sender<Result<Done, StoreError>>),
    Ack(u64, Vec<u64>, oneshot::Sender<Result<Done, StoreError>>),
}

/// Submits work to the writer. Cheap to clone.
#[derive(Clone)]
pub struct Writer {
    tx: mpsc::Sender<Job>,
}

/// A reply that will come after the commit.
pub type Pending = oneshot::Receiver<Result<Done, StoreError>>;

impl Writer {
    /// Starts the writer task. It runs until `stop` is cancelled and its
    /// queue is empty.
    pub fn start(
        store: Arc<dyn BatchStore>,
        ids: Arc<IdGen>,
        router: Router,
        max_batch: usize,
        stop: CancellationToken,
    ) -> (Writer, tokio::task::JoinHandle<()>) {
        let (tx, rx) = mpsc::channel(max_batch.max(1) * 8);
        let task = tokio::spawn(run(store, ids, router, rx, max_batch.max(1), stop));
        (Writer { tx }, task)
    }

    /// Queues a message; the receiver yields its id once it is committed.
    pub async fn send(&self, draft: Draft) -> Result<Pending, StoreError> {
        let (tx, rx) = oneshot::channel();
        self.tx
            .send(Job::Msg(draft, tx))
            .await
            .map_err(|_| StoreError::Unavailable("server is shutting down".into()))?;
        Ok(rx)
    }

    /// Queues an ack of `ids` by `user`.
    pub async fn ack(&self, user: u64, ids: Vec<u64>) -> Result<Pending, StoreError> {
        let (tx, rx) = oneshot::channel();
        self.tx
            .send(Job::Ack(user, ids, tx))
            .await
            .map_err(|_| StoreError::Unavailable("server is shutting down".into()))?;
        Ok(rx)
    }
}

/// Who waits for one op: the sender of a message (whose session must not
/// get its own message back as an event), or an acker.
enum Waiter {
    Msg {
        origin_sid: u64,
        tx: oneshot::Sender<Result<Done, StoreError>>,
    },
    Ack(oneshot::Sender<Result<Done, StoreError>>),
}

/// A committed (or failed) batch on its way to the finisher.
type Finished = Vec<(Waiter, WriteOp, Result<WriteOutcome, StoreError>)>;

async fn run(
    store: Arc<dyn BatchStore>,
    ids: Arc<IdGen>,
    router: Router,
    mut rx: mpsc::Receiver<Job>,
    max_batch: usize,
    stop: CancellationToken,
) {
    // Delivering and answering a batch overlaps the commit of the next:
    // the database never waits for the fan-out.
    let (done_tx, done_rx) = mpsc::unbounded_channel();
    let finisher = tokio::spawn(finish_batches(router, done_rx));
    let mut jobs: Vec<Job> = Vec::with_capacity(max_batch);
    loop {
        let first = tokio::select! {
            j = rx.recv() => j,
            _ = stop.cancelled() => {
                // Finish what is queued, then stop.
                rx.close();
                rx.recv().await
            }
        };
        let Some(first) = first else { break };
        jobs.push(first);
        while jobs.len() < max_batch {
            match rx.try_recv() {
                Ok(j) => jobs.push(j),
                Err(_) => break,
            }
        }
        let finished = commit(&*store, &ids, jobs.drain(..)).await;
        if done_tx.send(finished).is_err() {
            break;
        }
    }
    drop(done_tx);
    let _ = finisher.await;
    tracing::debug!("writer stopped");
}

/// Delivers and answers committed batches, in commit order.
async fn finish_batches(router: Router, mut rx: mpsc::UnboundedReceiver<Finished>) {
    while let Some(batch) = rx.recv().await {
        for (waiter, op, outcome) in batch {
            finish(&router, waiter, op, outcome);
        }
    }
}

/// Runs a batch: again (the ops keep their ids) after it lost a deadlock
/// to another node's writer; after a commit whose answer was lost, asks
/// the database whether it happened before answering anyone, so that no
/// stored message is ever answered `unavailable`.
async fn run_batch(
    store: &dyn BatchStore,
    ops: &[WriteOp],
) -> Result<Vec<WriteOutcome>, StoreError> {
    let mut conflicts = 0;
    let mut unknowns = 0;
    let mut pause = Duration::from_millis(1);
    loop {
        match store.write_batch(ops).await {
            Err(StoreError::Conflict(_)) if conflicts < CONFLICT_RETRIES => {
                crate::metrics::store_conflict();
                conflicts += 1;
                tokio::time::sleep(pause).await;
                pause *= 2;
            }
            Err(StoreError::CommitUnknown(detail)) if unknowns < COMMIT_UNKNOWN_RETRIES => {
                unknowns += 1;
                tracing::warn!(error = %detail, "a commit's answer was lost; asking the database");
                match resolve(store, ops).await {
                    Ok(Some(outcomes)) => return Ok(outcomes),
                    // Not in the database: running it again is safe.
                    Ok(None) => continue,
                    Err(e) => return Err(e),
                }
            }
            other => return other,
        }
    }
}

/// Asks the database, while it does not answer (for at most
/// [`RESOLVE_PATIENCE`]), whether a batch whose commit answer was lost
/// is stored.
async fn resolve(
    store: &dyn BatchStore,
    ops: &[WriteOp],
) -> Result<Option<Vec<WriteOutcome>>, StoreError> {
    let deadline = Instant::now() + RESOLVE_PATIENCE;
    let mut pause = Duration::from_millis(50);
    loop {
        match store.resolve(ops).await {
            Ok(found) => return Ok(found),
            Err(e) if Instant::now() + pause > deadline => {
                tracing::error!(
                    error = %e,
                    "the database stayed away: a batch's fate is unknown, answered unavailable"
                );
                return Err(e);
            }
            Err(_) => {
                tokio::time::sleep(pause).await;
                pause = (pause * 2).min(Duration::from_secs(2));
            }
        }
    }
}

/// Commits one batch. On a batch failure that is not an outage, each op is
/// retried alone so one bad row cannot fail its neighbours.
async fn commit(store: &dyn BatchStore, ids: &IdGen, jobs: impl Iterator<Item = Job>) -> Finished {
    let ts = now_ms();
    let (waiters, ops): (Vec<Waiter>, Vec<WriteOp>) = jobs
        .map(|j| match j {
            Job::Msg(d, tx) => (
                Waiter::Msg {
                    origin_sid: d.origin_sid,
                    tx,
                },
                WriteOp::Msg(NewMsg {
                    id: ids.next(),
                    ts,
                    from: d.from,
                    target: d.target,
                    text: d.text,
                    cid: d.cid,
                }),
            ),
            Job::Ack(user, list, tx) => (Waiter::Ack(tx), WriteOp::Ack { user, ids: list }),
        })
        .unzip();
    let started = Instant::now();
    let result = run_batch(store, &ops).await;
    crate::metrics::store_write(started.elapsed(), ops.len());
    match result {
        Ok(outcomes) => waiters
            .into_iter()
            .zip(ops)
            .zip(outcomes.into_iter().map(Ok))
            .map(|((w, op), o)| (w, op, o))
            .collect(),
        Err(StoreError::Internal(e)) if ops.len() > 1 => {
            tracing::warn!(error = %e, batch = ops.len(), "batch failed; retrying one by one");
            let mut out = Vec::with_capacity(ops.len());
            for (w, op) in waiters.into_iter().zip(ops) {
                let r = store
                    .write_batch(std::slice::from_ref(&op))
                    .await
                    .and_then(|mut v| {
                        v.pop()
                            .ok_or_else(|| StoreError::Internal("no outcome".into()))
                    });
                out.push((w, op, r));
            }
            out
        }
        Err(e) => {
            tracing::warn!(error = %e, batch = ops.len(), "batch failed");
            let msg = e.to_string();
            let unavailable = !matches!(e, StoreError::Internal(_));
            waiters
                .into_iter()
                .zip(ops)
                .map(|(w, op)| {
                    let err = if unavailable {
                        StoreError::Unavailable(msg.clone())
                    } else {
                        StoreError::Internal(msg.clone())
                    };
                    (w, op, Err(err))
                })
                .collect()
        }
    }
}

fn finish(router: &Router, waiter: Waiter, op: WriteOp, outcome: Result<WriteOutcome, StoreError>) {
    match waiter {
        Waiter::Msg { origin_sid, tx } => {
            let reply = match (outcome, op) {
                (Ok(WriteOutcome::Msg(Stored::New { recipients })), WriteOp::Msg(msg)) => {
                    router.deliver_msg(&msg, &recipients, origin_sid);
                    Ok(Done::Msg {
                        id: msg.id,
                        ts: msg.ts,
                    })
                }
                (Ok(WriteOutcome::Msg(Stored::Refused(why))), _) => Ok(Done::Refused(why)),
                (Ok(WriteOutcome::Msg(Stored::Duplicate { id, ts, again })), _) => {
                    // The first attempt's delivery may have died with its
                    // node: deliver again (clients drop duplicates by id).
                    if let Some(again) = again {
                        router.redeliver_msg(&again.msg, &again.recipients, origin_sid);
                    }
                    Ok(Done::Msg { id, ts })
                }
                (Ok(_), _) => Err(StoreError::Internal("outcome mismatch".into())),
                (Err(e), _) => Err(e),
            };
            // The session may have gone; the message is stored either way.
            let _ = tx.send(reply);
        }
        Waiter::Ack(tx) => {
            let _ = tx.send(outcome.map(|_| Done::Acked));
        }
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Mutex;

    use async_trait::async_trait;

    use super::*;
    use crate::cache::RelCache;
    use crate::cluster::local::LocalBus;
    use crate::hub::Hub;
    use crate::store::{
        AccountStore, FriendStore, MessageStore, Result, SqlStore, SqliteSync, StoreOptions,
    };

    /// A real SQLite store whose next batches fail as the test says: a
    /// fault injector in front of the database, not a stand-in for it.
    struct Faulty {
        store: SqlStore,
        /// Errors the next batches get, in order, before reaching SQLite.
        faults: Mutex<Vec<StoreError>>,
        /// The size of every batch that reached the database.
        seen: Mutex<Vec<usize>>,
        /// A `CommitUnknown` fault commits first (the answer is what is
        /// lost), instead of failing before the database.
        commit_then_lose: bool,
    }

    #[async_trait]
    impl BatchStore for Faulty {
        async fn write_batch(&self, ops: &[WriteOp]) -> Result<Vec<WriteOutcome>> {
            let fault = {
                let mut f = self.faults.lock().unwrap();
                (!f.is_empty()).then(|| f.remove(0))
            };
            match fault {
                // The commit happened, and its answer was lost.
                Some(StoreError::CommitUnknown(e)) if self.commit_then_lose => {
                    self.seen.lock().unwrap().push(ops.len());
                    self.store.write_batch(ops).await?;
                    Err(StoreError::CommitUnknown(e))
                }
                Some(e) => Err(e),
                None => {
                    self.seen.lock().unwrap().push(ops.len());
                    self.store.write_batch(ops).await
                }
            }
        }

        async fn resolve(&self, ops: &[WriteOp]) -> Result<Option<Vec<WriteOutcome>>> {
            self.store.resolve(ops).await
        }
    }

    struct Rig {
        _dir: tempfile::TempDir,
        store: Arc<Faulty>,
        writer: Writer,
        users: (u64, u64),
    }

    async fn rig(faults: Vec<StoreError>) -> Rig {
        rig_with(faults, false).await
    }

    async fn rig_with(faults: Vec<StoreError>, commit_then_lose: bool) -> Rig {
        let dir = tempfile::tempdir().unwrap();
        let url = format!("sqlite://{}", dir.path().join("w.db").display());
        let opts = StoreOptions {
            sqlite_sync: SqliteSync::Normal,
            ..StoreOptions::default()
        };
        let store = SqlStore::open(&url, &opts).await.unwrap();
        let a = store.create_user("a", "x", 1).await.unwrap();
        let b = store.create_user("b", "x", 1).await.unwrap();
        store.add_friend(a, b, 1).await.unwrap();
        let store = Arc::new(Faulty {
            store,
            faults: Mutex::new(faults),
            seen: Mutex::new(Vec::new()),
            commit_then_lose,
        });
        let hub = Arc::new(Hub::new());
        let router = Router::new(
            hub.clone(),
            Arc::new(LocalBus::new(hub)),
            Arc::new(RelCache::new(16)),
        );
        let (writer, _task) = Writer::start(
            store.clone(),
            Arc::new(IdGen::new(0, 0)),
            router,
            64,
            CancellationToken::new(),
        );
        Rig {
            _dir: dir,
            store,
            writer,
            users: (a, b),
        }
    }

    fn draft(from: u64, to: u64, text: &str) -> Draft {
        Draft {
            from,
            target: Target::User(to),
            text: text.into(),
            cid: None,
            origin_sid: 0,
        }
    }

    #[tokio::test]
    async fn a_batch_that_lost_a_deadlock_is_run_again() {
        let r = rig(vec![
            StoreError::Conflict("deadlock".into()),
            StoreError::Conflict("deadlock".into()),
        ])
        .await;
        let (a, b) = r.users;
        let pending = r.writer.send(draft(a, b, "hi")).await.unwrap();
        let done = pending.await.unwrap().unwrap();
        assert!(matches!(done, Done::Msg { .. }));
        assert_eq!(*r.store.seen.lock().unwrap(), vec![1]);
        let stored = r
            .store
            .store
            .inbox_page(b, 0, crate::ids::MAX_ID, 10)
            .await
            .unwrap();
        assert_eq!(stored.len(), 1, "stored once, after two lost deadlocks");
    }

    #[tokio::test]
    async fn conflicts_past_the_retries_answer_unavailable() {
        let faults = (0..=CONFLICT_RETRIES)
            .map(|_| StoreError::Conflict("deadlock".into()))
            .collect();
        let r = rig(faults).await;
        let (a, b) = r.users;
        let pending = r.writer.send(draft(a, b, "hi")).await.unwrap();
        let err = pending.await.unwrap().unwrap_err();
        assert!(matches!(err, StoreError::Unavailable(_)), "{err:?}");
        assert!(r.store.seen.lock().unwrap().is_empty());
    }

    #[tokio::test]
    async fn a_failed_batch_is_retried_one_by_one() {
        let r = rig(vec![StoreError::Internal("one bad row".into())]).await;
        let (a, b) = r.users;
        // Queue three before the writer task runs (the test runtime has one
        // thread and these sends do not yield), so they share one batch.
        let mut pending = Vec::new();
        for text in ["1", "2", "3"] {
            pending.push(r.writer.send(draft(a, b, text)).await.unwrap());
        }
        for p in pending {
            assert!(matches!(p.await.unwrap(), Ok(Done::Msg { .. })));
        }
        // The batch of three failed; each op then went alone.
        assert_eq!(*r.store.seen.lock().unwrap(), vec![1, 1, 1]);
    }

    #[tokio::test]
    async fn a_commit_whose_answer_was_lost_is_answered_from_the_database() {
        // Committed, answer lost: the message is there once, and `ok`.
        let r = rig_with(vec![StoreError::CommitUnknown("reset".into())], true).await;
        let (a, b) = r.users;
        let done = r.writer.send(draft(a, b, "hi")).await.unwrap();
        assert!(matches!(done.await.unwrap(), Ok(Done::Msg { .. })));
        assert_eq!(
            *r.store.seen.lock().unwrap(),
            vec![1],
            "run once, not twice"
        );
        let stored = r
            .store
            .store
            .inbox_page(b, 0, crate::ids::MAX_ID, 10)
            .await
            .unwrap();
        assert_eq!(stored.len(), 1);

        // Lost before the commit: run again, stored once, `ok`.
        let r = rig_with(vec![StoreError::CommitUnknown("reset".into())], false).await;
        let (a, b) = r.users;
        let done = r.writer.send(draft(a, b, "hi")).await.unwrap();
        assert!(matches!(done.await.unwrap(), Ok(Done::Msg { .. })));
        assert_eq!(*r.store.seen.lock().unwrap(), vec![1]);
        let stored = r
            .store
            .store
            .inbox_page(b, 0, crate::ids::MAX_ID, 10)
            .await
            .unwrap();
        assert_eq!(stored.len(), 1);
    }
}
