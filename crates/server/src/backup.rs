//! `chatserver backup DIR`: a consistent copy of a running node's embedded
//! store, taken from another process while the node serves.
//!
//! The store is the SQLite file and its message log (`<file>-log/`, see
//! `store/sql/journal`). The copy takes the log's segments first, then the
//! database with `VACUUM INTO` (one read transaction, so one moment of the
//! database). A segment deleted meanwhile was applied to the database
//! before it went, so the database copy, taken after, holds it; a segment
//! the copy holds and the database copy has applied too is dropped when the
//! copy is opened. The last segment may end in a record cut short by the
//! copy: it is cut off on opening, like the torn tail of a crash. So the
//! copy has every message that was acknowledged before the copy began,
//! each once, with its inbox state as of some moment during the copy.
//!
//! Open the copy with `--db sqlite://DIR/FILE`: the node applies the
//! copied log at start.

use std::path::{Path, PathBuf};

use anyhow::{Context, bail};

use crate::store::sql_journal::{log_dir, segments};

/// What a backup copied.
#[derive(Debug)]
pub struct Copied {
    /// The database copy.
    pub db: PathBuf,
    /// Log segments copied, and their bytes.
    pub segments: usize,
    pub log_bytes: u64,
}

/// Copies the store named by `db_url` into the folder `dir` (created; it
/// must be empty if it exists).
pub fn run(db_url: &str, dir: &Path) -> anyhow::Result<Copied> {
    let Some(path) = crate::store::sqlite_path(db_url) else {
        bail!(
            "`chatserver backup` copies the embedded SQLite store; for MySQL/MariaDB use \
             `mariadb-dump --single-transaction DB` (see docs/operations.md)"
        );
    };
    let src = Path::new(path);
    if !src.exists() {
        bail!("there is no database at {path}");
    }
    std::fs::create_dir_all(dir).with_context(|| format!("cannot create {}", dir.display()))?;
    if std::fs::read_dir(dir)?.next().is_some() {
        bail!("{} is not empty", dir.display());
    }
    let name = src
        .file_name()
        .context("the database path names no file")?
        .to_owned();
    let db = dir.join(&name);
    let log_from = log_dir(path);
    let log_to = log_dir(&db.display().to_string());
    std::fs::create_dir_all(&log_to)?;
    // The log first (see the module's doc for why this order).
    let mut copied = 0;
    let mut log_bytes = 0;
    if log_from.exists() {
        for seq in segments(&log_from)? {
            let file = format!("{seq:020}.log");
            let bytes = match std::fs::read(log_from.join(&file)) {
                Ok(b) => b,
                // Applied and removed meanwhile: the database copy has it.
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => continue,
                Err(e) => return Err(e).with_context(|| format!("cannot read the segment {file}")),
            };
            write_synced(&log_to.join(&file), &bytes)?;
            copied += 1;
            log_bytes += bytes.len() as u64;
        }
    }
    sync_dir(&log_to)?;
    let conn = rusqlite::Connection::open_with_flags(
        src,
        rusqlite::OpenFlags::SQLITE_OPEN_READ_WRITE | rusqlite::OpenFlags::SQLITE_OPEN_NO_MUTEX,
    )
    .with_context(|| format!("cannot open {path}"))?;
    conn.busy_timeout(std::time::Duration::from_secs(30))?;
    conn.execute("VACUUM INTO ?", [db.display().to_string()])
        .with_context(|| format!("cannot copy {path}"))?;
    drop(conn);
    std::fs::File::open(&db)?.sync_all()?;
    sync_dir(dir)?;
    Ok(Copied {
        db,
        segments: copied,
        log_bytes,
    })
}

fn write_synced(path: &Path, bytes: &[u8]) -> anyhow::Result<()> {
    use std::io::Write;
    let mut f = std::fs::File::create(path)?;
    f.write_all(bytes)?;
    f.sync_all()?;
    Ok(())
}

fn sync_dir(dir: &Path) -> anyhow::Result<()> {
    std::fs::File::open(dir)?.sync_all()?;
    Ok(())
}
