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

use sqlx::any::{AnyConnectOptions, AnyPoolOptions, AnyRow};
use sqlx::{AnyConnection, AnyPool, Connection, Executor, Row, Transaction};
use std::str::FromStr;
use std::time::Duration;

pub mod catalog;
pub mod events;
pub mod keys;
pub mod ledger;
pub mod members;
pub mod orders;
pub mod payments;
pub mod plugins;
pub mod shops;
pub mod state;

pub use sqlx::AssertSqlSafe;

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("database error: {0}")]
    Db(#[from] sqlx::Error),
    #[error("stored data is corrupt: {0}")]
    Corrupt(String),
    #[error("unsupported database URL {0:?}: use sqlite:<path> or postgres://…")]
    BadUrl(String),
}

impl StoreError {
    /// A conflict with a concurrent transaction: the whole operation may be retried.
    pub fn is_retryable(&self) -> bool {
        match self {
            StoreError::Db(sqlx::Error::Database(e)) => {
                let code = e.code().map(|c| c.to_string()).unwrap_or_default();
                // 40001 serialization failure, 40P01 deadlock (PostgreSQL); 5/6/517 busy/locked (SQLite).
                matches!(code.as_str(), "40001" | "40P01" | "5" | "6" | "517")
            }
            StoreError::Db(sqlx::Error::PoolTimedOut) => true,
            _ => false,
        }
    }

    /// A unique constraint refused the write.
    pub fn is_unique_violation(&self) -> bool {
        match self {
            StoreError::Db(sqlx::Error::Database(e)) => e.is_unique_violation(),
            _ => false,
        }
    }

    /// A CHECK constraint refused the write (e.g. stock below zero).
    pub fn is_check_violation(&self) -> bool {
        match self {
            StoreError::Db(sqlx::Error::Database(e)) => e.is_check_violation(),
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

/// A database: the pool and which backend it is.
#[derive(Clone, Debug)]
pub struct Db {
    pool: AnyPool,
    backend: Backend,
}

const SQLITE_MIGRATIONS: &[(&str, &str)] = &[(
    "0001_core",
    include_str!("../migrations/sqlite/0001_core.sql"),
)];
const POSTGRES_MIGRATIONS: &[(&str, &str)] = &[(
    "0001_core",
    include_str!("../migrations/postgres/0001_core.sql"),
)];

impl Db {
    /// Connects and migrates. `sqlite:<path>` (created if missing) or `postgres://…`.
    pub async fn connect(url: &str) -> Result<Db> {
        sqlx::any::install_default_drivers();
        let (backend, url) = if let Some(rest) = url.strip_prefix("sqlite:") {
            let path = rest.trim_start_matches("//");
            let url = if path.contains('?') || path == ":memory:" {
                format!("sqlite:{path}")
            } else {
                format!("sqlite://{path}?mode=rwc")
            };
            (Backend::Sqlite, url)
        } else if url.starts_with("postgres://") || url.starts_with("postgresql://") {
            (Backend::Postgres, url.to_string())
        } else {
            return Err(StoreError::BadUrl(url.to_string()));
        };
        let opts = AnyConnectOptions::from_str(&url)?;
        let pool = match backend {
            // One connection: SQLite has one writer anyway, and a single connection makes
            // every transaction serializable without busy-retry loops.
            Backend::Sqlite => {
                AnyPoolOptions::new()
                    .max_connections(1)
                    .acquire_timeout(Duration::from_secs(60))
                    .after_connect(|conn, _| {
                        Box::pin(async move {
                            for pragma in [
                                "PRAGMA journal_mode = WAL",
                                "PRAGMA synchronous = NORMAL",
                                "PRAGMA foreign_keys = ON",
                                "PRAGMA busy_timeout = 5000",
                            ] {
                                conn.execute(pragma).await?;
                            }
                            Ok(())
                        })
                    })
                    .connect_with(opts)
                    .await?
            }
            Backend::Postgres => {
                AnyPoolOptions::new()
                    .max_connections(16)
                    .acquire_timeout(Duration::from_secs(30))
                    .connect_with(opts)
                    .await?
            }
        };
        let db = Db { pool, backend };
        db.migrate().await?;
        Ok(db)
    }

    pub fn backend(&self) -> Backend {
        self.backend
    }

    async fn migrate(&self) -> Result<()> {
        let mut conn = self.pool.acquire().await?;
        if self.backend == Backend::Postgres {
            // Several nodes may start at once; one migrates, the others wait.
            conn.execute("SELECT pg_advisory_lock(4242001)").await?;
        }
        let res = async {
            conn.execute("CREATE TABLE IF NOT EXISTS schema_migrations (name TEXT PRIMARY KEY, applied_at BIGINT NOT NULL)")
                .await?;
            let list = match self.backend {
                Backend::Sqlite => SQLITE_MIGRATIONS,
                Backend::Postgres => POSTGRES_MIGRATIONS,
            };
            for (name, sql) in list {
                let done = sqlx::query("SELECT name FROM schema_migrations WHERE name = $1")
                    .bind(*name)
                    .fetch_optional(&mut *conn)
                    .await?
                    .is_some();
                if done {
                    continue;
                }
                let mut tx = conn.begin().await?;
                sqlx::raw_sql(AssertSqlSafe(*sql)).execute(&mut *tx).await?;
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
        if self.backend == Backend::Postgres {
            conn.execute("SELECT pg_advisory_unlock(4242001)").await?;
        }
        res
    }

    /// Starts a transaction. Every read-check-write the platform does runs in one.
    pub async fn begin(&self) -> Result<Tx> {
        let tx = self.pool.begin().await?;
        Ok(Tx {
            tx,
            backend: self.backend,
            plugin_locks: Vec::new(),
            savepoints: 0,
        })
    }

    pub async fn close(&self) {
        self.pool.close().await;
    }
}

/// A database transaction. Dropping it without `commit` rolls it back.
pub struct Tx {
    tx: Transaction<'static, sqlx::Any>,
    backend: Backend,
    plugin_locks: Vec<String>,
    savepoints: u32,
}

impl Tx {
    pub fn backend(&self) -> Backend {
        self.backend
    }

    pub(crate) fn conn(&mut self) -> &mut AnyConnection {
        &mut self.tx
    }

    pub async fn commit(self) -> Result<()> {
        Ok(self.tx.commit().await?)
    }

    pub async fn rollback(self) -> Result<()> {
        Ok(self.tx.rollback().await?)
    }

    /// Takes the (shop, plugin) locks for this transaction, in a fixed order so two
    /// operations that need the same plugins never deadlock. Held until commit/rollback.
    /// SQLite needs none: it has one writer.
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
            sqlx::query("SELECT pg_advisory_xact_lock(hashtextextended($1, 0))")
                .bind(&key)
                .execute(&mut *self.tx)
                .await?;
            self.plugin_locks.push(key);
        }
        Ok(())
    }

    /// Whether this transaction holds the lock for (shop, plugin) — on SQLite always.
    pub fn holds_plugin_lock(&self, shop: &str, plugin: &str) -> bool {
        self.backend != Backend::Postgres
            || self
                .plugin_locks
                .iter()
                .any(|k| k == &format!("{shop}/{plugin}"))
    }

    /// Opens a savepoint: a plugin call's writes can be undone without the core change.
    pub async fn savepoint(&mut self) -> Result<Savepoint> {
        self.savepoints += 1;
        let name = format!("sp{}", self.savepoints);
        self.tx
            .execute(AssertSqlSafe(format!("SAVEPOINT {name}")))
            .await?;
        Ok(Savepoint(name))
    }

    pub async fn release(&mut self, sp: Savepoint) -> Result<()> {
        self.tx
            .execute(AssertSqlSafe(format!("RELEASE SAVEPOINT {}", sp.0)))
            .await?;
        Ok(())
    }

    pub async fn rollback_to(&mut self, sp: Savepoint) -> Result<()> {
        self.tx
            .execute(AssertSqlSafe(format!("ROLLBACK TO SAVEPOINT {}", sp.0)))
            .await?;
        self.tx
            .execute(AssertSqlSafe(format!("RELEASE SAVEPOINT {}", sp.0)))
            .await?;
        Ok(())
    }

    /// `FOR UPDATE` on PostgreSQL; nothing on SQLite (its single writer already excludes).
    pub(crate) fn for_update(&self) -> &'static str {
        match self.backend {
            Backend::Postgres => " FOR UPDATE",
            Backend::Sqlite => "",
        }
    }
}

/// A named savepoint inside a `Tx`.
#[must_use]
pub struct Savepoint(String);

pub(crate) fn get_i64(row: &AnyRow, col: &str) -> Result<i64> {
    Ok(row.try_get::<i64, _>(col)?)
}

pub(crate) fn get_str(row: &AnyRow, col: &str) -> Result<String> {
    Ok(row.try_get::<String, _>(col)?)
}

pub(crate) fn get_opt_str(row: &AnyRow, col: &str) -> Result<Option<String>> {
    Ok(row.try_get::<Option<String>, _>(col)?)
}

pub(crate) fn get_opt_i64(row: &AnyRow, col: &str) -> Result<Option<i64>> {
    Ok(row.try_get::<Option<i64>, _>(col)?)
}

pub(crate) fn get_json<T: serde::de::DeserializeOwned>(row: &AnyRow, col: &str) -> Result<T> {
    let s: String = row.try_get(col)?;
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
    sqlx::any::install_default_drivers();
    let mut conn = AnyConnection::connect(admin_url).await?;
    conn.execute(AssertSqlSafe(format!("CREATE DATABASE {name}")))
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
    sqlx::any::install_default_drivers();
    let mut conn = AnyConnection::connect(admin_url).await?;
    conn.execute(AssertSqlSafe(format!(
        "DROP DATABASE IF EXISTS {name} WITH (FORCE)"
    )))
    .await?;
    conn.close().await?;
    Ok(())
}
