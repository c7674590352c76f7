//! The message log of the embedded (SQLite) store: a commit of the writer
//! costs one append and one `fdatasync`.
//!
//! Every batch of the writer (new messages with their recipients, and
//! acks) becomes one checksummed record appended to the current log
//! segment (`<db>-log/<seq>.log`) and fsynced; only then is anyone
//! answered. The record is also added to the log's tail in memory
//! ([`tail`]), which every message read merges with SQLite.
//!
//! A background thread, the applier, moves the tail into SQLite about once
//! a second: it starts a new segment, writes the previous one's messages,
//! inbox entries and acks into SQLite in one transaction that also records
//! the segment's number (`journal_state.applied`), and then deletes the
//! segment. Inbox entries acked before that never reach SQLite, and one
//! transaction a second shares each B-tree page among many rows, so the
//! disk sees each message about once (see docs/bench.md, issue 10).
//!
//! At start, segments above `applied` are read back (a torn last record,
//! from a crash in the middle of a write, is cut off: it never got its
//! fsync, so it never answered anyone) and applied before the node serves.
//!
//! Over 500 lines: the commit, the applier and recovery share the segment
//! files, the lock order and the tail's hand-over, so they stay in one
//! file; the record format ([`record`]) and the tail ([`tail`]) are apart.

mod record;
mod tail;

use std::collections::{HashMap, HashSet};
use std::fs::{File, OpenOptions};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Condvar, Mutex, RwLock};
use std::time::{Duration, Instant};

use chat_proto::Msg;
use rusqlite::{Connection, OptionalExtension, TransactionBehavior, params};

use super::inline::InlineReads;
use crate::store::{
    NewMsg, Redeliver, Refusal, Result, StoreError, Stored, Target, WriteOp, WriteOutcome,
};
pub use record::Item;
pub use tail::InboxView;
pub use tail::merge;
use tail::{Part, Tail};

/// A segment is applied early once it holds this many bytes.
const ROTATE_BYTES: usize = 64 << 20;
/// Past this many bytes in memory, while the applier is still busy with
/// the previous segment, commits wait for it (back-pressure).
const HOLD_BYTES: usize = 512 << 20;

/// How the log is run.
#[derive(Debug, Clone)]
pub struct JournalOptions {
    /// `fdatasync` each commit (`--sqlite-sync full`).
    pub sync: bool,
    /// How often the tail is applied to SQLite (zero: after every commit).
    pub apply_every: Duration,
    /// Set by the checkpointer when the WAL should be restarted.
    pub wal_restart: Arc<AtomicBool>,
    /// The store's one write connection: the applier holds it while it
    /// writes, so the store's own write transactions (which begin
    /// deferred) never find the database changed under their read.
    pub gate: Option<sqlx::sqlite::SqlitePool>,
}

struct Io {
    file: File,
    seq: u64,
    len: u64,
}

#[derive(Default)]
struct Control {
    stop: bool,
    kick: bool,
    /// The applier has finished (after the last apply on stop).
    done: bool,
}

/// The log of one SQLite store.
pub struct Journal {
    dir: PathBuf,
    db: String,
    io: Mutex<Io>,
    tail: RwLock<Tail>,
    /// A write or fsync failed: the log's state on disk is unknown, so
    /// nothing more is written until a restart reads it back.
    poisoned: AtomicBool,
    control: Mutex<Control>,
    wake: Condvar,
    room: tokio::sync::Notify,
    opts: JournalOptions,
    inline: InlineReads,
    runtime: Option<tokio::runtime::Handle>,
}

/// Where the log of the SQLite file at `db` lives.
pub fn log_dir(db: &str) -> PathBuf {
    PathBuf::from(format!("{db}-log"))
}

fn segment_path(dir: &Path, seq: u64) -> PathBuf {
    dir.join(format!("{seq:020}.log"))
}

/// The segment numbers in `dir`, ascending.
pub fn segments(dir: &Path) -> std::io::Result<Vec<u64>> {
    let mut seqs = Vec::new();
    for e in std::fs::read_dir(dir)? {
        let name = e?.file_name();
        let name = name.to_string_lossy();
        if let Some(seq) = name
            .strip_suffix(".log")
            .and_then(|s| s.parse::<u64>().ok())
        {
            seqs.push(seq);
        }
    }
    seqs.sort_unstable();
    Ok(seqs)
}

fn sync_dir(dir: &Path) -> std::io::Result<()> {
    File::open(dir)?.sync_all()
}

fn io_err(what: &str, e: std::io::Error) -> StoreError {
    StoreError::Unavailable(format!("message log: {what}: {e}"))
}

pub(super) fn lite(e: rusqlite::Error) -> StoreError {
    use rusqlite::ErrorCode as C;
    match e.sqlite_error_code() {
        Some(C::DatabaseBusy | C::DatabaseLocked) => StoreError::Conflict(e.to_string()),
        Some(C::SystemIoFailure | C::DiskFull | C::CannotOpen) => {
            StoreError::Unavailable(e.to_string())
        }
        _ => StoreError::Internal(e.to_string()),
    }
}

/// The applier's connection to the SQLite file.
fn connect(db: &str, sync: bool) -> rusqlite::Result<Connection> {
    let c = Connection::open(db)?;
    c.busy_timeout(Duration::from_secs(30))?;
    c.execute_batch(if sync {
        "PRAGMA journal_mode=WAL; PRAGMA synchronous=FULL; PRAGMA wal_autocheckpoint=0; \
         PRAGMA cache_size=-65536;"
    } else {
        "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL; PRAGMA wal_autocheckpoint=0; \
         PRAGMA cache_size=-65536;"
    })?;
    Ok(c)
}

/// Writes one part into SQLite in one transaction, and records that its
/// segment is applied. Inbox entries in `skip` (acked since) are left
/// out, and so are those of deleted accounts.
fn apply_part(
    conn: &mut Connection,
    part: &Part,
    skip: &HashMap<u64, std::collections::BTreeSet<u64>>,
) -> rusqlite::Result<()> {
    let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
    {
        let mut ids: Vec<u64> = part.msgs.keys().copied().collect();
        ids.sort_unstable();
        let mut ins = tx.prepare_cached(
            "INSERT OR IGNORE INTO messages (id, sender_id, recipient_id, group_id, text, cid, ts) \
             VALUES (?, ?, ?, ?, ?, ?, ?)",
        )?;
        for id in ids {
            let m = &part.msgs[&id].msg;
            let (to, group) = match m.target {
                Target::User(u) => (Some(u as i64), None),
                Target::Group(g) => (None, Some(g as i64)),
            };
            ins.execute(params![
                m.id as i64,
                m.from as i64,
                to,
                group,
                m.text,
                m.cid,
                m.ts as i64
            ])?;
        }
        let mut users: Vec<u64> = part.inbox.keys().copied().collect();
        users.sort_unstable();
        let mut inbox = tx.prepare_cached(
            "INSERT OR IGNORE INTO inbox (user_id, msg_id) SELECT ?1, ?2 WHERE NOT EXISTS \
             (SELECT 1 FROM users WHERE id = ?1 AND deleted_ms IS NOT NULL)",
        )?;
        for u in users {
            let acked = skip.get(&u);
            for &id in &part.inbox[&u] {
                if acked.is_some_and(|a| a.contains(&id)) {
                    continue;
                }
                inbox.execute(params![u as i64, id as i64])?;
            }
        }
        let mut users: Vec<u64> = part.acks.keys().copied().collect();
        users.sort_unstable();
        let mut del = tx.prepare_cached("DELETE FROM inbox WHERE user_id = ? AND msg_id = ?")?;
        for u in users {
            for &id in &part.acks[&u] {
                del.execute(params![u as i64, id as i64])?;
            }
        }
        for &u in &part.purged {
            tx.execute("DELETE FROM inbox WHERE user_id = ?", params![u as i64])?;
        }
        tx.execute(
            "UPDATE journal_state SET applied = ? WHERE id = 0",
            params![part.seq as i64],
        )?;
    }
    tx.commit()
}

impl Journal {
    /// Opens the log of the SQLite file `db` (migrated already): applies
    /// what a previous run left in it, then starts a fresh segment and the
    /// applier.
    pub fn open(db: &str, opts: JournalOptions) -> Result<Arc<Journal>> {
        let dir = log_dir(db);
        std::fs::create_dir_all(&dir).map_err(|e| io_err("cannot create its folder", e))?;
        if let Some(parent) = dir.parent().filter(|p| !p.as_os_str().is_empty()) {
            sync_dir(parent).map_err(|e| io_err("cannot sync the data folder", e))?;
        }
        let mut conn = connect(db, opts.sync).map_err(lite)?;
        let applied = applied(&conn).map_err(lite)?;
        let mut last = applied;
        for seq in segments(&dir).map_err(|e| io_err("cannot list its folder", e))? {
            let path = segment_path(&dir, seq);
            if seq <= applied {
                std::fs::remove_file(&path).map_err(|e| io_err("cannot remove a segment", e))?;
                continue;
            }
            let part = recover_segment(&path, seq)?;
            apply_part(&mut conn, &part, &HashMap::new()).map_err(lite)?;
            tracing::info!(
                segment = seq,
                messages = part.msgs.len(),
                "applied the message log left by the previous run"
            );
            std::fs::remove_file(&path).map_err(|e| io_err("cannot remove a segment", e))?;
            last = seq;
        }
        let seq = last + 1;
        let file = create_segment(&dir, seq)?;
        let journal = Arc::new(Journal {
            dir,
            db: db.to_owned(),
            io: Mutex::new(Io { file, seq, len: 0 }),
            tail: RwLock::new(Tail::new(seq)),
            poisoned: AtomicBool::new(false),
            control: Mutex::new(Control::default()),
            wake: Condvar::new(),
            room: tokio::sync::Notify::new(),
            opts,
            inline: InlineReads::new(db),
            runtime: tokio::runtime::Handle::try_current().ok(),
        });
        let j = journal.clone();
        std::thread::Builder::new()
            .name("chat-log-apply".into())
            .spawn(move || j.applier(conn))
            .map_err(|e| io_err("cannot start its applier", e))?;
        Ok(journal)
    }

    fn tail(&self) -> std::sync::RwLockReadGuard<'_, Tail> {
        self.tail.read().unwrap_or_else(|p| p.into_inner())
    }

    fn tail_mut(&self) -> std::sync::RwLockWriteGuard<'_, Tail> {
        self.tail.write().unwrap_or_else(|p| p.into_inner())
    }

    fn control(&self) -> std::sync::MutexGuard<'_, Control> {
        self.control.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn kick(&self) {
        self.control().kick = true;
        self.wake.notify_all();
    }

    /// Asks the applier to apply everything and stop.
    pub fn request_stop(&self) {
        self.control().stop = true;
        self.wake.notify_all();
    }

    /// Applies everything to SQLite and stops the applier (clean
    /// shutdown), waiting at most `timeout`.
    pub async fn shutdown(&self, timeout: Duration) {
        self.request_stop();
        let deadline = tokio::time::Instant::now() + timeout;
        while !self.control().done && tokio::time::Instant::now() < deadline {
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
    }

    /// Waits while the tail is too large (the applier is behind).
    pub async fn room(&self) {
        loop {
            let notified = self.room.notified();
            {
                let t = self.tail();
                if t.frozen.is_none() || t.active.bytes < HOLD_BYTES {
                    return;
                }
            }
            self.kick();
            notified.await;
        }
    }

    /// The applier: moves the tail into SQLite, a segment at a time.
    fn applier(&self, mut conn: Connection) {
        let mut last = Instant::now();
        loop {
            let stop = {
                let mut c = self.control();
                let deadline = last + self.opts.apply_every;
                while !c.stop && !c.kick && Instant::now() < deadline {
                    let wait = deadline.saturating_duration_since(Instant::now());
                    c = self
                        .wake
                        .wait_timeout(c, wait)
                        .unwrap_or_else(|p| p.into_inner())
                        .0;
                }
                if self.opts.apply_every.is_zero() && !c.stop && !c.kick {
                    c = self
                        .wake
                        .wait_timeout(c, Duration::from_millis(50))
                        .unwrap_or_else(|p| p.into_inner())
                        .0;
                }
                c.kick = false;
                c.stop
            };
            last = Instant::now();
            // On stop, everything goes (twice when a part failed before).
            for _ in 0..if stop { 3 } else { 1 } {
                let empty = {
                    let t = self.tail();
                    t.active.is_empty() && t.frozen.is_none()
                };
                if empty {
                    break;
                }
                if let Err(e) = self.apply_once(&mut conn) {
                    tracing::error!(error = %e, "could not apply the message log to SQLite; retrying");
                    std::thread::sleep(Duration::from_millis(200));
                }
            }
            if self.opts.wal_restart.swap(false, Ordering::Relaxed)
                && let Err(e) = conn.query_row("PRAGMA wal_checkpoint(RESTART)", [], |_| Ok(()))
            {
                tracing::warn!(error = %e, "WAL restart failed");
            }
            if stop {
                break;
            }
        }
        self.control().done = true;
    }

    /// Starts a new segment and applies the previous one.
    fn apply_once(&self, conn: &mut Connection) -> Result<()> {
        // A frozen part left by a failed attempt goes first.
        // (The read guard must be gone before `rotate` takes the lock.)
        let left = self.tail().frozen.clone();
        let frozen = match left {
            Some(f) => f,
            None => self.rotate()?,
        };
        let skip = self.tail().active.acks.clone();
        {
            // (Returning the connection to its pool needs the runtime.)
            let _entered = self.runtime.as_ref().map(|rt| rt.enter());
            let _writer = match (&self.opts.gate, &self.runtime) {
                (Some(pool), Some(rt)) => Some(rt.block_on(pool.acquire())?),
                _ => None,
            };
            apply_part(conn, &frozen, &skip).map_err(lite)?;
        }
        self.tail_mut().frozen = None;
        self.room.notify_waiters();
        let path = segment_path(&self.dir, frozen.seq);
        if let Err(e) = std::fs::remove_file(&path) {
            tracing::warn!(path = %path.display(), error = %e, "could not remove an applied log segment");
        }
        Ok(())
    }

    /// Closes the current segment and opens the next; the tail's active
    /// part becomes the frozen one.
    fn rotate(&self) -> Result<Arc<Part>> {
        let mut io = self.io.lock().unwrap_or_else(|p| p.into_inner());
        let seq = io.seq + 1;
        io.file = create_segment(&self.dir, seq)?;
        io.seq = seq;
        io.len = 0;
        let mut t = self.tail_mut();
        let part = Arc::new(std::mem::replace(&mut t.active, Part::new(seq)));
        t.frozen = Some(part.clone());
        Ok(part)
    }

    /// Stores one writer batch: one record, appended and fsynced, then
    /// added to the tail. Every op gets its outcome, in order.
    pub fn commit(&self, ops: &[WriteOp], verify: bool) -> Result<Vec<WriteOutcome>> {
        if self.poisoned.load(Ordering::Relaxed) {
            return Err(StoreError::Unavailable(
                "the message log could not be written; the node must restart".into(),
            ));
        }
        let mut out: Vec<Option<WriteOutcome>> = vec![None; ops.len()];
        let mut retries: Vec<(usize, usize)> = Vec::new();
        let mut first_cid: HashMap<(u64, &str), usize> = HashMap::new();
        // The cids of this batch that are neither repeated in it nor in the
        // tail: SQLite is asked about them all in one read.
        let mut probe: Vec<usize> = Vec::new();
        for (i, op) in ops.iter().enumerate() {
            match op {
                WriteOp::Ack { .. } => out[i] = Some(WriteOutcome::Acked),
                WriteOp::Msg(m) => {
                    let Some(cid) = m.cid.as_deref() else {
                        continue;
                    };
                    if let Some(&first) = first_cid.get(&(m.from, cid)) {
                        retries.push((i, first));
                        continue;
                    }
                    first_cid.insert((m.from, cid), i);
                    match self.duplicate_in_tail(m.from, cid) {
                        Some(dup) => out[i] = Some(WriteOutcome::Msg(dup)),
                        None => probe.push(i),
                    }
                }
            }
        }
        if !probe.is_empty() {
            // The tail was read first: a part the applier moves meanwhile
            // is in SQLite by the time SQLite is read.
            let keys: Vec<(u64, &str)> = probe
                .iter()
                .filter_map(|&i| match &ops[i] {
                    WriteOp::Msg(m) => Some((m.from, m.cid.as_deref()?)),
                    WriteOp::Ack { .. } => None,
                })
                .collect();
            let found = self.inline.msgs_by_cid(&keys).map_err(lite)?;
            let t = self.tail();
            for (&i, hit) in probe.iter().zip(found) {
                if let Some((m, holders)) = hit {
                    let recipients = holders
                        .into_iter()
                        .filter(|&u| !t.acked(u).contains(&m.id))
                        .collect();
                    out[i] = Some(WriteOutcome::Msg(duplicate_of(new_msg(m), recipients)));
                }
            }
        }
        let repeated: HashSet<usize> = retries.iter().map(|&(i, _)| i).collect();
        let mut items = Vec::with_capacity(ops.len());
        for (i, op) in ops.iter().enumerate() {
            if out[i].is_some() || repeated.contains(&i) {
                if let WriteOp::Ack { user, ids } = op
                    && !ids.is_empty()
                {
                    items.push(Item::Ack {
                        user: *user,
                        ids: ids.clone(),
                    });
                }
                continue;
            }
            let WriteOp::Msg(m) = op else { continue };
            if verify && let Some(why) = self.refusal(m)? {
                out[i] = Some(WriteOutcome::Msg(Stored::Refused(why)));
                continue;
            }
            let recipients = match m.target {
                Target::User(u) => vec![u],
                Target::Group(g) => self
                    .inline
                    .member_ids(g)
                    .map_err(lite)?
                    .into_iter()
                    .filter(|&u| u != m.from)
                    .collect(),
            };
            out[i] = Some(WriteOutcome::Msg(Stored::New {
                recipients: recipients.clone(),
            }));
            items.push(Item::Msg {
                msg: m.clone(),
                recipients,
            });
        }
        if !items.is_empty() {
            self.append(items)?;
        }
        for (i, first) in retries {
            out[i] = Some(match &out[first] {
                Some(WriteOutcome::Msg(Stored::New { .. })) => match &ops[first] {
                    WriteOp::Msg(m) => WriteOutcome::Msg(Stored::Duplicate {
                        id: m.id,
                        ts: m.ts,
                        again: None,
                    }),
                    WriteOp::Ack { .. } => WriteOutcome::Acked,
                },
                other => other.clone().unwrap_or(WriteOutcome::Acked),
            });
        }
        out.into_iter()
            .map(|o| o.ok_or_else(|| StoreError::Internal("a batch op got no outcome".into())))
            .collect()
    }

    /// Appends one record, fsyncs it, and adds it to the tail.
    fn append(&self, items: Vec<Item>) -> Result<()> {
        let mut buf = Vec::with_capacity(64 * items.len() + 16);
        record::encode(&mut buf, &items);
        let mut io = self.io.lock().unwrap_or_else(|p| p.into_inner());
        if self.poisoned.load(Ordering::Relaxed) {
            return Err(StoreError::Unavailable(
                "the message log could not be written; the node must restart".into(),
            ));
        }
        let written = io.file.write_all(&buf).and_then(|()| {
            if self.opts.sync {
                io.file.sync_data()
            } else {
                Ok(())
            }
        });
        if let Err(e) = written {
            // Take the partial record back; if even that fails, or the
            // fsync did (the kernel may have dropped the pages), stop
            // writing: the restart reads back what is really there.
            let len = io.len;
            if io
                .file
                .set_len(len)
                .and_then(|()| io.file.sync_data())
                .is_err()
                || e.kind() != std::io::ErrorKind::StorageFull
            {
                self.poisoned.store(true, Ordering::Relaxed);
                tracing::error!(error = %e, "the message log failed; no more messages until a restart");
            }
            return Err(io_err("write failed", e));
        }
        io.len += buf.len() as u64;
        let big = {
            let mut t = self.tail_mut();
            t.active.apply(items, buf.len());
            t.active.bytes >= ROTATE_BYTES || self.opts.apply_every.is_zero()
        };
        drop(io);
        if big {
            self.kick();
        }
        Ok(())
    }

    /// The outcome of a `cid` the sender used before, when the tail has
    /// it: its original and those who have not acked it.
    fn duplicate_in_tail(&self, from: u64, cid: &str) -> Option<Stored> {
        let t = self.tail();
        let e = t.by_cid(from, cid)?;
        Some(duplicate_of(
            e.msg.clone(),
            t.holders(e.msg.id).unwrap_or_default(),
        ))
    }

    /// Whether the rule `m` was accepted under still holds.
    fn refusal(&self, m: &NewMsg) -> Result<Option<Refusal>> {
        Ok(match m.target {
            Target::User(to) => {
                (!self.inline.are_friends(m.from, to).map_err(lite)?).then_some(Refusal::NotFriend)
            }
            Target::Group(g) => {
                (!self.inline.is_member(g, m.from).map_err(lite)?).then_some(Refusal::NotMember)
            }
        })
    }

    /// Who still holds message `id`, when the tail has it (committed and
    /// not yet applied to the tables).
    pub fn holders(&self, id: u64) -> Option<Vec<u64>> {
        self.tail().holders(id)
    }

    /// The (id, ts) of what `from` sent with `cid`, when the tail has it.
    pub fn sent_with_cid(&self, from: u64, cid: &str) -> Option<(u64, u64)> {
        self.tail().by_cid(from, cid).map(|e| (e.msg.id, e.msg.ts))
    }

    /// The highest message id in the tail.
    pub fn max_id(&self) -> u64 {
        self.tail().max_id()
    }

    /// The id of the group's last message in the tail.
    pub fn last_group_msg(&self, group: u64) -> Option<u64> {
        self.tail().last_group_msg(group)
    }

    /// Forgets a deleted account's inbox entries (SQLite's are deleted by
    /// the account's transaction; the applier deletes any that reach it
    /// later).
    pub fn purge(&self, user: u64) {
        self.tail_mut().active.purge(user);
    }

    /// The tail's side of a history read (taken before SQLite's).
    pub fn history_with(&self, a: u64, b: u64, before: u64, limit: u32) -> Vec<Msg> {
        self.tail().history_with(a, b, before, limit as usize)
    }

    pub fn history_group(&self, group: u64, since: u64, before: u64, limit: u32) -> Vec<Msg> {
        self.tail()
            .history_group(group, since, before, limit as usize)
    }

    /// The tail's view of `user`'s inbox: entries with `after < id <=
    /// upto` (oldest first, at most `limit`), and acks of older entries.
    pub fn inbox(&self, user: u64, after: u64, upto: u64, limit: u32) -> (Vec<Msg>, HashSet<u64>) {
        let t = self.tail();
        let v = t.inbox(user);
        if after >= upto {
            return (Vec::new(), v.acked);
        }
        let msgs = v
            .entries
            .range(after.saturating_add(1)..=upto)
            .take(limit as usize)
            .filter_map(|&id| t.entry(id).map(|e| e.msg.to_wire()))
            .collect();
        (msgs, v.acked)
    }

    /// The tail's view of `user`'s inbox, for a login's mark (taken
    /// before SQLite's).
    pub fn inbox_view(&self, user: u64) -> InboxView {
        self.tail().inbox(user)
    }

    /// The SQLite file the log applies to.
    pub fn db(&self) -> &str {
        &self.db
    }
}

/// A retried `cid`'s outcome: the original, sent again to `recipients`.
fn duplicate_of(msg: NewMsg, recipients: Vec<u64>) -> Stored {
    Stored::Duplicate {
        id: msg.id,
        ts: msg.ts,
        again: Some(Box::new(Redeliver { msg, recipients })),
    }
}

fn new_msg(m: Msg) -> NewMsg {
    NewMsg {
        id: m.id,
        ts: m.ts,
        from: m.from,
        target: match (m.to, m.group) {
            (_, Some(g)) => Target::Group(g),
            (to, None) => Target::User(to.unwrap_or_default()),
        },
        text: m.text,
        cid: m.cid,
    }
}

fn applied(conn: &Connection) -> rusqlite::Result<u64> {
    let v: Option<i64> = conn
        .query_row("SELECT applied FROM journal_state WHERE id = 0", [], |r| {
            r.get(0)
        })
        .optional()?;
    Ok(v.unwrap_or(0) as u64)
}

fn create_segment(dir: &Path, seq: u64) -> Result<File> {
    // Append mode: after a failed write is cut back, the next one
    // starts at the cut.
    let file = OpenOptions::new()
        .create(true)
        .append(true)
        .open(segment_path(dir, seq))
        .map_err(|e| io_err("cannot create a segment", e))?;
    sync_dir(dir).map_err(|e| io_err("cannot sync its folder", e))?;
    Ok(file)
}

/// Reads a segment left by a previous run, cutting off a torn tail.
fn recover_segment(path: &Path, seq: u64) -> Result<Part> {
    let bytes = std::fs::read(path).map_err(|e| io_err("cannot read a segment", e))?;
    let (records, valid) = record::decode_all(&bytes);
    if valid < bytes.len() {
        tracing::warn!(
            segment = seq,
            kept = valid,
            dropped = bytes.len() - valid,
            "the message log ends in a torn record (a write the crash interrupted, never acknowledged); cutting it off"
        );
        let f = OpenOptions::new()
            .write(true)
            .open(path)
            .map_err(|e| io_err("cannot open a segment", e))?;
        f.set_len(valid as u64)
            .and_then(|()| f.sync_all())
            .map_err(|e| io_err("cannot cut a torn segment", e))?;
    }
    let mut part = Part::new(seq);
    for items in records {
        part.apply(items, 0);
    }
    Ok(part)
}

#[cfg(test)]
mod tests;
