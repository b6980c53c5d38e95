//! Persistence for Baseplate: one `Db` over SQLite (embedded default, WAL) or PostgreSQL
//! (scale-out), selected by the URL, with numbered migrations per backend. Everything that
//! changes state runs inside a `Tx`; plugin hooks run inside the same `Tx` behind savepoints,
//! so a plugin's writes commit with the core change they belong to, or not at all. Only this
//! crate touches sqlx.
//!
//! Concurrency model: SQLite has one writer, so its pool has one connection and operations
//! are serialized. On PostgreSQL, rows that decide money (orders, payments, stock) are taken
//! with row locks or conditional updates, and each (shop, plugin) pair's state is guarded by
//! a transaction-scoped advisory lock taken before the plugin runs — the same read-check-write
//! atomicity SQLite gives, without serializing different shops.

use baseplate_fair::{FairGate, Permit, Share};
use sqlx::postgres::{PgConnectOptions, PgPoolOptions};
use sqlx::{Connection, Executor, PgPool, Postgres};
use std::str::FromStr;
use std::sync::Arc;
use std::time::Duration;

pub mod catalog;
pub mod events;
pub mod keys;
pub mod ledger;
pub mod members;
pub mod orders;
pub mod payments;
pub mod plugins;
pub mod registry;
pub mod shops;
mod sql;
mod sqlite;
pub mod state;

pub use sql::{Done, Param, Query, Row, query};

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("database error: {0}")]
    Db(#[from] sqlx::Error),
    #[error("database error: {0}")]
    Sqlite(#[from] rusqlite::Error),
    #[error("stored data is corrupt: {0}")]
    Corrupt(String),
    #[error("unsupported database URL {0:?}: use sqlite:<path> or postgres://…")]
    BadUrl(String),
    #[error("the write could not be committed: {0}")]
    Commit(String),
    #[error("the database is busy with this shop's earlier requests: {0}")]
    Busy(String),
    #[error("the database is closed (the node is shutting down)")]
    Closed,
}

impl StoreError {
    /// A conflict with a concurrent transaction: the whole operation may be retried.
    pub fn is_retryable(&self) -> bool {
        match self {
            StoreError::Db(sqlx::Error::Database(e)) => {
                let code = e.code().map(|c| c.to_string()).unwrap_or_default();
                // 40001 serialization failure, 40P01 deadlock.
                matches!(code.as_str(), "40001" | "40P01")
            }
            StoreError::Db(sqlx::Error::PoolTimedOut) => true,
            StoreError::Sqlite(rusqlite::Error::SqliteFailure(e, _)) => matches!(
                e.code,
                rusqlite::ErrorCode::DatabaseBusy | rusqlite::ErrorCode::DatabaseLocked
            ),
            StoreError::Commit(_) => true,
            _ => false,
        }
    }

    /// A unique constraint refused the write.
    pub fn is_unique_violation(&self) -> bool {
        match self {
            StoreError::Db(sqlx::Error::Database(e)) => e.is_unique_violation(),
            StoreError::Sqlite(rusqlite::Error::SqliteFailure(e, _)) => {
                e.extended_code == rusqlite::ffi::SQLITE_CONSTRAINT_UNIQUE
                    || e.extended_code == rusqlite::ffi::SQLITE_CONSTRAINT_PRIMARYKEY
            }
            _ => false,
        }
    }

    /// A CHECK constraint refused the write (e.g. stock below zero).
    pub fn is_check_violation(&self) -> bool {
        match self {
            StoreError::Db(sqlx::Error::Database(e)) => e.is_check_violation(),
            StoreError::Sqlite(rusqlite::Error::SqliteFailure(e, _)) => {
                e.extended_code == rusqlite::ffi::SQLITE_CONSTRAINT_CHECK
            }
            _ => false,
        }
    }
}

pub type Result<T, E = StoreError> = std::result::Result<T, E>;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Backend {
    Sqlite,
    Postgres,
}

/// A database: SQLite (one writer with group commit, pooled readers) or a PostgreSQL pool.
/// Cheap to clone.
#[derive(Clone)]
pub struct Db {
    inner: Arc<Inner>,
}

enum Inner {
    Sqlite(Arc<sqlite::Sqlite>),
    Postgres { pool: PgPool, gate: FairGate },
}

impl std::fmt::Debug for Db {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Db({:?})", self.backend())
    }
}

const SQLITE_MIGRATIONS: &[(&str, &str)] = &[
    (
        "0001_core",
        include_str!("../migrations/sqlite/0001_core.sql"),
    ),
    (
        "0002_isolation",
        include_str!("../migrations/sqlite/0002_isolation.sql"),
    ),
    (
        "0003_marketplace",
        include_str!("../migrations/sqlite/0003_marketplace.sql"),
    ),
    (
        "0004_diagnostics",
        include_str!("../migrations/sqlite/0004_diagnostics.sql"),
    ),
];
const POSTGRES_MIGRATIONS: &[(&str, &str)] = &[
    (
        "0001_core",
        include_str!("../migrations/postgres/0001_core.sql"),
    ),
    (
        "0002_isolation",
        include_str!("../migrations/postgres/0002_isolation.sql"),
    ),
    (
        "0003_marketplace",
        include_str!("../migrations/postgres/0003_marketplace.sql"),
    ),
    (
        "0004_diagnostics",
        include_str!("../migrations/postgres/0004_diagnostics.sql"),
    ),
];

/// Connections of a node's PostgreSQL pool.
const PG_POOL: u32 = 24;

impl Db {
    /// Connects and migrates. `sqlite:<path>` (created if missing) or `postgres://…`.
    pub async fn connect(url: &str) -> Result<Db> {
        let inner = if let Some(rest) = url.strip_prefix("sqlite:") {
            let path = rest.trim_start_matches("//");
            let path = path.split('?').next().unwrap_or(path);
            if path.is_empty() || path == ":memory:" {
                return Err(StoreError::BadUrl(url.to_string()));
            }
            Inner::Sqlite(Arc::new(sqlite::Sqlite::open(std::path::Path::new(path))?))
        } else if url.starts_with("postgres://") || url.starts_with("postgresql://") {
            let opts = PgConnectOptions::from_str(url)?;
            let pool = PgPoolOptions::new()
                .max_connections(PG_POOL)
                .acquire_timeout(Duration::from_secs(30))
                .connect_with(opts)
                .await?;
            let gate = FairGate::new(Share {
                permits: PG_POOL as usize - 2,
                per_key: (PG_POOL as usize) * 2 / 3,
                queue_per_key: 100_000,
            });
            Inner::Postgres { pool, gate }
        } else {
            return Err(StoreError::BadUrl(url.to_string()));
        };
        let db = Db {
            inner: Arc::new(inner),
        };
        db.migrate().await?;
        Ok(db)
    }

    pub fn backend(&self) -> Backend {
        match &*self.inner {
            Inner::Sqlite(_) => Backend::Sqlite,
            Inner::Postgres { .. } => Backend::Postgres,
        }
    }

    async fn migrate(&self) -> Result<()> {
        match &*self.inner {
            Inner::Sqlite(db) => db.with_writer(|conn| {
                conn.execute_batch("CREATE TABLE IF NOT EXISTS schema_migrations (name TEXT PRIMARY KEY, applied_at BIGINT NOT NULL)")?;
                for (name, sql) in SQLITE_MIGRATIONS {
                    let done: bool = conn
                        .prepare("SELECT count(*) FROM schema_migrations WHERE name = ?1")?
                        .query_row([name], |r| r.get::<_, i64>(0))?
                        > 0;
                    if done {
                        continue;
                    }
                    conn.execute_batch(&format!(
                        "BEGIN IMMEDIATE; {sql}\n; INSERT INTO schema_migrations (name, applied_at) VALUES ('{name}', 0); COMMIT;"
                    ))
                    .inspect_err(|_| {
                        let _ = conn.execute_batch("ROLLBACK");
                    })?;
                }
                Ok(())
            }),
            Inner::Postgres { pool, .. } => {
                let mut conn = pool.acquire().await?;
                // Several nodes may start at once; one migrates, the others wait.
                conn.execute("SELECT pg_advisory_lock(4242001)").await?;
                let res = async {
                    conn.execute("CREATE TABLE IF NOT EXISTS schema_migrations (name TEXT PRIMARY KEY, applied_at BIGINT NOT NULL)")
                        .await?;
                    for (name, sql) in POSTGRES_MIGRATIONS {
                        let done = sqlx::query("SELECT name FROM schema_migrations WHERE name = $1")
                            .bind(*name)
                            .fetch_optional(&mut *conn)
                            .await?
                            .is_some();
                        if done {
                            continue;
                        }
                        let mut tx = conn.begin().await?;
                        sqlx::raw_sql(sqlx::AssertSqlSafe(*sql)).execute(&mut *tx).await?;
                        sqlx::query("INSERT INTO schema_migrations (name, applied_at) VALUES ($1, $2)")
                            .bind(*name)
                            .bind(0i64)
                            .execute(&mut *tx)
                            .await?;
                        tx.commit().await?;
                    }
                    Ok::<_, StoreError>(())
                }
                .await;
                conn.execute("SELECT pg_advisory_unlock(4242001)").await?;
                res
            }
        }
    }

    /// Starts a write transaction for `shop` (the key the writer or the connections are
    /// shared fairly by; "" for platform-wide work). On SQLite it is a savepoint in the
    /// writer's group-commit batch; `commit` returns once the batch is durable.
    pub async fn write(&self, shop: &str) -> Result<Tx> {
        match &*self.inner {
            Inner::Sqlite(db) => Ok(Tx::new(
                TxKind::SqliteWrite(db.write(shop).await?),
                Backend::Sqlite,
            )),
            Inner::Postgres { pool, gate } => {
                let permit = gate
                    .acquire(shop)
                    .await
                    .map_err(|e| StoreError::Busy(e.to_string()))?;
                let tx = pool.begin().await?;
                Ok(Tx::new(TxKind::PgWrite(tx, permit), Backend::Postgres))
            }
        }
    }

    /// A read-only view: a WAL snapshot on SQLite, a pooled connection on PostgreSQL.
    /// Never waits for the writer.
    pub async fn read(&self) -> Result<Tx> {
        match &*self.inner {
            Inner::Sqlite(db) => Ok(Tx::new(TxKind::SqliteRead(db.read()?), Backend::Sqlite)),
            Inner::Postgres { pool, .. } => Ok(Tx::new(
                TxKind::PgRead(pool.acquire().await?),
                Backend::Postgres,
            )),
        }
    }

    /// A read on SQLite from a thread that is not async (a plugin sandbox): the reads
    /// complete without waiting, so `f` runs to completion here. None on PostgreSQL.
    pub fn read_now<T>(&self, f: impl AsyncFnOnce(&mut Tx) -> Result<T>) -> Option<Result<T>> {
        let Inner::Sqlite(db) = &*self.inner else {
            return None;
        };
        Some(match db.read() {
            Ok(r) => {
                let mut tx = Tx::new(TxKind::SqliteRead(r), Backend::Sqlite);
                now_or_never(f(&mut tx))
            }
            Err(e) => Err(e),
        })
    }

    pub async fn close(&self) {
        match &*self.inner {
            Inner::Sqlite(db) => db.close(),
            Inner::Postgres { pool, .. } => pool.close().await,
        }
    }
}

/// Polls a future that never waits (SQLite statements complete synchronously) once.
fn now_or_never<T>(f: impl std::future::Future<Output = Result<T>>) -> Result<T> {
    let waker = std::task::Waker::noop();
    let mut cx = std::task::Context::from_waker(waker);
    let mut f = std::pin::pin!(f);
    match f.as_mut().poll(&mut cx) {
        std::task::Poll::Ready(r) => r,
        std::task::Poll::Pending => Err(StoreError::Corrupt(
            "a SQLite read waited, which it never does".into(),
        )),
    }
}

enum TxKind {
    SqliteWrite(sqlite::WriteConn),
    SqliteRead(sqlite::ReadConn),
    PgWrite(sqlx::Transaction<'static, Postgres>, Permit),
    PgRead(sqlx::pool::PoolConnection<Postgres>),
    Ended,
}

pub(crate) enum TxConn<'a> {
    // `&mut` so a future holding it is Send (a Connection is Send, not Sync).
    Sqlite(&'a mut rusqlite::Connection),
    Pg(&'a mut sqlx::PgConnection),
}

/// A database transaction (or a read snapshot). Dropping a write without `commit` rolls
/// back its changes.
pub struct Tx {
    kind: TxKind,
    backend: Backend,
    plugin_locks: Vec<String>,
    savepoints: u32,
}

impl Tx {
    fn new(kind: TxKind, backend: Backend) -> Tx {
        Tx {
            kind,
            backend,
            plugin_locks: Vec::new(),
            savepoints: 0,
        }
    }

    pub fn backend(&self) -> Backend {
        self.backend
    }

    /// A read snapshot, where writes fail.
    pub fn is_read_only(&self) -> bool {
        matches!(self.kind, TxKind::SqliteRead(_) | TxKind::PgRead(_))
    }

    pub(crate) fn conn(&mut self) -> Result<TxConn<'_>> {
        Ok(match &mut self.kind {
            TxKind::SqliteWrite(w) => TxConn::Sqlite(w.conn_mut()),
            TxKind::SqliteRead(r) => TxConn::Sqlite(r.conn_mut()),
            TxKind::PgWrite(tx, _) => TxConn::Pg(tx),
            TxKind::PgRead(c) => TxConn::Pg(c),
            TxKind::Ended => return Err(StoreError::Commit("the transaction has ended".into())),
        })
    }

    /// Commits (on SQLite: waits for the group commit of the batch this write is in).
    pub async fn commit(mut self) -> Result<()> {
        match std::mem::replace(&mut self.kind, TxKind::Ended) {
            TxKind::SqliteWrite(w) => w.commit().await,
            TxKind::PgWrite(tx, _permit) => Ok(tx.commit().await?),
            TxKind::SqliteRead(_) | TxKind::PgRead(_) | TxKind::Ended => Ok(()),
        }
    }

    pub async fn rollback(mut self) -> Result<()> {
        match std::mem::replace(&mut self.kind, TxKind::Ended) {
            TxKind::PgWrite(tx, _permit) => Ok(tx.rollback().await?),
            // Dropping the SQLite write rolls back to its savepoint.
            _ => Ok(()),
        }
    }

    /// Takes the (shop, plugin) locks for this transaction, in a fixed order so two
    /// operations that need the same plugins never deadlock. Held until commit/rollback.
    /// A plugin's buffered effects are checked and applied under these, so no other
    /// node's commit can slip between the check and the write. SQLite needs none: it has
    /// one writer.
    pub async fn lock_plugins(&mut self, shop: &str, plugins: &[&str]) -> Result<()> {
        if self.backend != Backend::Postgres {
            return Ok(());
        }
        let mut wanted: Vec<String> = plugins
            .iter()
            .map(|p| format!("{shop}/{p}"))
            .filter(|k| !self.plugin_locks.contains(k))
            .collect();
        wanted.sort();
        wanted.dedup();
        for key in wanted {
            query("SELECT pg_advisory_xact_lock(hashtextextended($1, 0))")
                .bind(&key)
                .execute(self)
                .await?;
            self.plugin_locks.push(key);
        }
        Ok(())
    }

    /// Opens a savepoint: part of an operation's writes can be undone without the rest.
    pub async fn savepoint(&mut self) -> Result<Savepoint> {
        self.savepoints += 1;
        let name = format!("sp{}", self.savepoints);
        query(format!("SAVEPOINT {name}")).execute(self).await?;
        Ok(Savepoint(name))
    }

    pub async fn release(&mut self, sp: Savepoint) -> Result<()> {
        query(format!("RELEASE SAVEPOINT {}", sp.0))
            .execute(self)
            .await?;
        Ok(())
    }

    pub async fn rollback_to(&mut self, sp: Savepoint) -> Result<()> {
        query(format!("ROLLBACK TO SAVEPOINT {}", sp.0))
            .execute(self)
            .await?;
        query(format!("RELEASE SAVEPOINT {}", sp.0))
            .execute(self)
            .await?;
        Ok(())
    }

    /// `FOR UPDATE` on PostgreSQL writes; nothing on SQLite (its single writer already
    /// excludes) or in a read snapshot.
    pub(crate) fn for_update(&self) -> &'static str {
        match (&self.backend, self.is_read_only()) {
            (Backend::Postgres, false) => " FOR UPDATE",
            _ => "",
        }
    }
}

/// A named savepoint inside a `Tx`.
#[must_use]
pub struct Savepoint(String);

pub(crate) fn get_i64(row: &Row, col: &str) -> Result<i64> {
    row.i64(col)
}

pub(crate) fn get_str(row: &Row, col: &str) -> Result<String> {
    row.str(col)
}

pub(crate) fn get_opt_str(row: &Row, col: &str) -> Result<Option<String>> {
    row.opt_str(col)
}

pub(crate) fn get_opt_i64(row: &Row, col: &str) -> Result<Option<i64>> {
    row.opt_i64(col)
}

pub(crate) fn get_bytes(row: &Row, col: &str) -> Result<Vec<u8>> {
    row.bytes(col)
}

pub(crate) fn get_json<T: serde::de::DeserializeOwned>(row: &Row, col: &str) -> Result<T> {
    let s = row.str(col)?;
    serde_json::from_str(&s).map_err(|e| StoreError::Corrupt(format!("{col}: {e}")))
}

/// Creates a fresh PostgreSQL database next to `admin_url`'s and returns its URL (tests and
/// benchmarks give each run its own database).
pub async fn create_postgres_database(admin_url: &str, name: &str) -> Result<String> {
    if !name
        .bytes()
        .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_')
    {
        return Err(StoreError::BadUrl(format!("database name {name:?}")));
    }
    let mut conn = sqlx::PgConnection::connect(admin_url).await?;
    conn.execute(sqlx::AssertSqlSafe(format!("CREATE DATABASE {name}")))
        .await?;
    conn.close().await?;
    let base = match admin_url.rfind('/') {
        Some(i)
            if admin_url[..i].contains("://") && i > admin_url.find("://").map_or(0, |j| j + 2) =>
        {
            &admin_url[..i]
        }
        _ => admin_url,
    };
    Ok(format!("{base}/{name}"))
}

/// Drops a database made by `create_postgres_database`.
pub async fn drop_postgres_database(admin_url: &str, name: &str) -> Result<()> {
    let mut conn = sqlx::PgConnection::connect(admin_url).await?;
    conn.execute(sqlx::AssertSqlSafe(format!(
        "DROP DATABASE IF EXISTS {name} WITH (FORCE)"
    )))
    .await?;
    conn.close().await?;
    Ok(())
}
