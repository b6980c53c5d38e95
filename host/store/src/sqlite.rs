//! The embedded backend: SQLite in WAL mode, driven synchronously through rusqlite.
//!
//! - **One writer, group commit.** Write operations take the writer in turn (fair by shop,
//!   `baseplate_fair`). Each runs inside a savepoint of the writer's open transaction; when
//!   it is done it either commits the batch (nobody is waiting) or hands the writer to the
//!   next operation and waits for the batch's commit. So several operations share one
//!   `COMMIT` (one fsync with `synchronous = FULL`), and an operation is acknowledged only
//!   once its batch is durable. A failed or cancelled operation rolls back to its own
//!   savepoint; the others in the batch are unaffected.
//! - **Readers never wait for the writer.** Read transactions run on a pool of read-only
//!   connections (WAL snapshots), synchronously on the calling thread.

use crate::{Result, StoreError};
use baseplate_fair::{FairGate, Permit, Share};
use parking_lot::Mutex;
use rusqlite::{Connection, OpenFlags};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::sync::watch;

/// Operations one batch may hold before it is committed even though others wait.
const MAX_BATCH: usize = 128;
/// How long a batch may stay open while the writer is handed on.
const MAX_BATCH_AGE: Duration = Duration::from_millis(5);
/// Read connections kept for reuse.
const MAX_IDLE_READERS: usize = 32;

/// `synchronous = FULL`: a commit is on disk before it is acknowledged, so an acknowledged
/// operation survives a crash and a power loss. Group commit keeps the fsync cheap per
/// operation.
const PRAGMAS: &str = "PRAGMA journal_mode = WAL; PRAGMA synchronous = FULL; PRAGMA foreign_keys = ON; \
     PRAGMA busy_timeout = 5000; PRAGMA temp_store = MEMORY; PRAGMA cache_size = -16000; \
     PRAGMA mmap_size = 1073741824;";

/// Readers map the file too: after each commit SQLite drops a connection's page cache, and
/// mapped pages are read in place instead of copied in again with pread.
const READER_PRAGMAS: &str =
    "PRAGMA busy_timeout = 5000; PRAGMA query_only = 1; PRAGMA mmap_size = 1073741824;";

pub(crate) struct Sqlite {
    path: PathBuf,
    writer: Arc<Writer>,
    readers: Mutex<Vec<Connection>>,
    /// Set by `close`: the node is shutting down, nothing new starts.
    closed: std::sync::atomic::AtomicBool,
}

struct Writer {
    gate: FairGate,
    slot: Mutex<Slot>,
}

struct Slot {
    /// The write connection, when nobody holds the writer.
    conn: Option<Connection>,
    /// The open transaction, if any operation left its savepoint released in it.
    batch: Option<Arc<Batch>>,
}

/// An open write transaction shared by several operations.
struct Batch {
    opened: Instant,
    /// Operations whose work is in the batch, waiting for its commit.
    members: Mutex<usize>,
    done: watch::Sender<Option<std::result::Result<(), String>>>,
}

impl Batch {
    fn new() -> Arc<Batch> {
        Arc::new(Batch {
            opened: Instant::now(),
            members: Mutex::new(0),
            done: watch::channel(None).0,
        })
    }

    fn finish(&self, r: std::result::Result<(), String>) {
        self.done.send_replace(Some(r));
    }
}

fn open(path: &Path, read_only: bool) -> Result<Connection> {
    let flags = if read_only {
        OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX
    } else {
        OpenFlags::SQLITE_OPEN_READ_WRITE
            | OpenFlags::SQLITE_OPEN_CREATE
            | OpenFlags::SQLITE_OPEN_NO_MUTEX
    };
    let conn = Connection::open_with_flags(path, flags)?;
    conn.set_prepared_statement_cache_capacity(256);
    // The query planner stability guarantee: without it, binding a parameter of a cached
    // join (and a bundled SQLite has STAT4) expires the statement, and every call re-parses
    // and re-plans it — most of a read's cost.
    conn.set_db_config(
        rusqlite::config::DbConfig::SQLITE_DBCONFIG_ENABLE_QPSG,
        true,
    )?;
    if read_only {
        conn.execute_batch(READER_PRAGMAS)?;
    } else {
        conn.execute_batch(PRAGMAS)?;
    }
    Ok(conn)
}

/// Runs a statement without results through the statement cache (transaction control runs
/// on every operation; parsing it each time would cost more than running it).
fn run(conn: &Connection, sql: &str) -> rusqlite::Result<()> {
    conn.prepare_cached(sql)?.raw_execute().map(drop)
}

/// Runs `f` where it may block: on a multi-threaded tokio runtime, its other tasks move to
/// another thread meanwhile; elsewhere it just runs.
fn block_in_place<T>(f: impl FnOnce() -> T) -> T {
    match tokio::runtime::Handle::try_current() {
        Ok(h) if h.runtime_flavor() == tokio::runtime::RuntimeFlavor::MultiThread => {
            tokio::task::block_in_place(f)
        }
        _ => f(),
    }
}

impl Sqlite {
    pub(crate) fn open(path: &Path) -> Result<Sqlite> {
        if let Some(dir) = path.parent()
            && !dir.as_os_str().is_empty()
        {
            std::fs::create_dir_all(dir)
                .map_err(|e| StoreError::BadUrl(format!("{}: {e}", path.display())))?;
        }
        let conn = open(path, false)?;
        Ok(Sqlite {
            path: path.to_path_buf(),
            writer: Arc::new(Writer {
                gate: FairGate::new(Share {
                    permits: 1,
                    per_key: 1,
                    queue_per_key: 100_000,
                }),
                slot: Mutex::new(Slot {
                    conn: Some(conn),
                    batch: None,
                }),
            }),
            readers: Mutex::new(Vec::new()),
            closed: std::sync::atomic::AtomicBool::new(false),
        })
    }

    fn check_open(&self) -> Result<()> {
        if self.closed.load(std::sync::atomic::Ordering::Relaxed) {
            return Err(StoreError::Closed);
        }
        Ok(())
    }

    /// Runs `f` on the write connection outside any operation (migrations, at start).
    pub(crate) fn with_writer<T>(&self, f: impl FnOnce(&Connection) -> Result<T>) -> Result<T> {
        let slot = self.writer.slot.lock();
        let conn = slot
            .conn
            .as_ref()
            .expect("the writer is idle while the node starts");
        f(conn)
    }

    /// Takes the writer for one operation (in turn with other shops) and opens its
    /// savepoint.
    pub(crate) async fn write(&self, shop: &str) -> Result<WriteConn> {
        self.check_open()?;
        let permit = self
            .writer
            .gate
            .acquire(shop)
            .await
            .map_err(|e| StoreError::Busy(e.to_string()))?;
        let (conn, batch) = {
            let mut slot = self.writer.slot.lock();
            let conn = slot
                .conn
                .take()
                .expect("the holder of the permit owns the slot");
            (conn, slot.batch.take())
        };
        let opened = match batch {
            Some(b) => Ok(b),
            None => run(&conn, "BEGIN IMMEDIATE").map(|()| Batch::new()),
        };
        let started = opened.and_then(|b| {
            run(&conn, "SAVEPOINT op")?;
            Ok(b)
        });
        match started {
            Ok(batch) => Ok(WriteConn {
                writer: self.writer.clone(),
                permit: Some(permit),
                conn: Some(conn),
                batch: Some(batch),
            }),
            Err(e) => {
                // Nothing of this operation's is in the transaction; whatever batch was
                // open fails with it (SQLite could not even open a savepoint).
                if !conn.is_autocommit() {
                    let _ = conn.execute_batch("ROLLBACK");
                }
                let mut slot = self.writer.slot.lock();
                slot.conn = Some(conn);
                slot.batch = None;
                Err(e.into())
            }
        }
    }

    /// A read-only connection with a snapshot open on it.
    pub(crate) fn read(self: &Arc<Self>) -> Result<ReadConn> {
        self.check_open()?;
        let conn = match self.readers.lock().pop() {
            Some(c) => c,
            None => open(&self.path, true)?,
        };
        run(&conn, "BEGIN")?;
        Ok(ReadConn {
            db: self.clone(),
            conn: Some(conn),
        })
    }

    pub(crate) fn close(&self) {
        self.closed
            .store(true, std::sync::atomic::Ordering::Relaxed);
        self.readers.lock().clear();
    }
}

/// The writer, held by one operation.
pub(crate) struct WriteConn {
    writer: Arc<Writer>,
    permit: Option<Permit>,
    conn: Option<Connection>,
    batch: Option<Arc<Batch>>,
}

impl WriteConn {
    pub(crate) fn conn(&self) -> &Connection {
        self.conn.as_ref().expect("held until the operation ends")
    }

    pub(crate) fn conn_mut(&mut self) -> &mut Connection {
        self.conn.as_mut().expect("held until the operation ends")
    }

    /// Releases the operation's savepoint into the batch and waits until the batch is
    /// committed.
    pub(crate) async fn commit(mut self) -> Result<()> {
        let released = run(self.conn(), "RELEASE op");
        if let Err(e) = released {
            // The transaction is gone under us (an I/O error rolls it back): the whole
            // batch is lost, and everyone in it is told.
            self.abandon(&e.to_string());
            return Err(e.into());
        }
        let batch = self.batch.clone().expect("an operation is in a batch");
        *batch.members.lock() += 1;
        let mut done = batch.done.subscribe();
        self.end();
        loop {
            if let Some(r) = done.borrow_and_update().clone() {
                return r.map_err(StoreError::Commit);
            }
            // If whoever took the writer after us went away without committing, make sure
            // the batch still commits: take the writer ourselves and commit it.
            match tokio::time::timeout(MAX_BATCH_AGE * 4, done.changed()).await {
                Ok(Ok(())) => continue,
                Ok(Err(_)) => return Err(StoreError::Commit("the batch was dropped".into())),
                Err(_) => self.writer.clone().commit_stale(&batch).await,
            }
        }
    }

    /// Ends the operation's turn: commit the batch if nobody waits (or it is full or old),
    /// else hand the writer, with the batch open, to the next operation.
    fn end(&mut self) {
        let batch = self.batch.take().expect("an operation is in a batch");
        let conn = self.conn.take().expect("held until the operation ends");
        let members = *batch.members.lock();
        let must_commit = !self.writer.gate.has_waiters()
            || members >= MAX_BATCH
            || batch.opened.elapsed() >= MAX_BATCH_AGE;
        let mut slot = self.writer.slot.lock();
        if members == 0 {
            // Nothing of anyone's is in the transaction: close it.
            let _ = run(&conn, "ROLLBACK");
            batch.finish(Ok(()));
            slot.batch = None;
        } else if must_commit {
            // The fsync: off the async runtime's thread, so its other tasks move on.
            let r = block_in_place(|| run(&conn, "COMMIT").map_err(|e| e.to_string()));
            if r.is_err() && !conn.is_autocommit() {
                let _ = run(&conn, "ROLLBACK");
            }
            batch.finish(r);
            slot.batch = None;
        } else {
            slot.batch = Some(batch);
        }
        slot.conn = Some(conn);
        drop(slot);
        self.permit.take();
    }

    /// The transaction failed underneath: tell the batch, roll back what is left.
    fn abandon(&mut self, why: &str) {
        let batch = self.batch.take().expect("an operation is in a batch");
        let conn = self.conn.take().expect("held until the operation ends");
        if !conn.is_autocommit() {
            let _ = conn.execute_batch("ROLLBACK");
        }
        batch.finish(Err(format!("the write transaction failed: {why}")));
        let mut slot = self.writer.slot.lock();
        slot.batch = None;
        slot.conn = Some(conn);
        drop(slot);
        self.permit.take();
    }
}

impl Drop for WriteConn {
    /// Not committed (an error, or the request was cancelled): undo this operation's
    /// writes, keep the batch's.
    fn drop(&mut self) {
        if self.conn.is_none() {
            return;
        }
        let undone = run(self.conn(), "ROLLBACK TO op")
            .and_then(|()| run(self.conn(), "RELEASE op"))
            .map_err(|e| e.to_string());
        match undone {
            Ok(()) if !self.conn().is_autocommit() => self.end(),
            Ok(()) => self.abandon("the transaction ended early"),
            Err(e) => self.abandon(&e),
        }
    }
}

impl Writer {
    /// Commits `batch` if it is still the open one (its last holder went away).
    async fn commit_stale(self: Arc<Self>, batch: &Arc<Batch>) {
        let Ok(permit) = self.gate.acquire("\u{0}commit").await else {
            return;
        };
        let mut slot = self.slot.lock();
        if slot.batch.as_ref().is_some_and(|b| Arc::ptr_eq(b, batch)) {
            let conn = slot.conn.as_ref().expect("the permit holder owns the slot");
            let r = conn.execute_batch("COMMIT").map_err(|e| e.to_string());
            if r.is_err() && !conn.is_autocommit() {
                let _ = conn.execute_batch("ROLLBACK");
            }
            batch.finish(r);
            slot.batch = None;
        }
        drop(slot);
        drop(permit);
    }
}

/// A read snapshot on a pooled read-only connection.
pub(crate) struct ReadConn {
    db: Arc<Sqlite>,
    conn: Option<Connection>,
}

impl ReadConn {
    pub(crate) fn conn_mut(&mut self) -> &mut Connection {
        self.conn.as_mut().expect("held until dropped")
    }
}

impl Drop for ReadConn {
    fn drop(&mut self) {
        let Some(conn) = self.conn.take() else {
            return;
        };
        if run(&conn, "COMMIT").is_err() && !conn.is_autocommit() {
            return; // a broken connection is not reused
        }
        let mut readers = self.db.readers.lock();
        if readers.len() < MAX_IDLE_READERS {
            readers.push(conn);
        }
    }
}
