//! Plugin key-value state and durable timers, per (shop, plugin). The runtime calls these
//! inside the operation's transaction, behind a savepoint per plugin call.

use crate::{AssertSqlSafe, Backend, Result, Tx, get_i64, get_opt_str, get_str};
use sqlx::Row;

pub async fn get(tx: &mut Tx, shop: &str, plugin: &str, key: &str) -> Result<Option<Vec<u8>>> {
    let row = sqlx::query(
        "SELECT value FROM plugin_state WHERE shop_id = $1 AND plugin = $2 AND key = $3",
    )
    .bind(shop)
    .bind(plugin)
    .bind(key)
    .fetch_optional(tx.conn())
    .await?;
    Ok(row.map(|r| r.try_get::<Vec<u8>, _>("value")).transpose()?)
}

pub async fn set(tx: &mut Tx, shop: &str, plugin: &str, key: &str, value: &[u8]) -> Result<()> {
    sqlx::query(
        "INSERT INTO plugin_state (shop_id, plugin, key, value) VALUES ($1, $2, $3, $4) \
         ON CONFLICT (shop_id, plugin, key) DO UPDATE SET value = excluded.value",
    )
    .bind(shop)
    .bind(plugin)
    .bind(key)
    .bind(value)
    .execute(tx.conn())
    .await?;
    Ok(())
}

pub async fn delete(tx: &mut Tx, shop: &str, plugin: &str, key: &str) -> Result<bool> {
    let r = sqlx::query("DELETE FROM plugin_state WHERE shop_id = $1 AND plugin = $2 AND key = $3")
        .bind(shop)
        .bind(plugin)
        .bind(key)
        .execute(tx.conn())
        .await?;
    Ok(r.rows_affected() == 1)
}

/// Keys starting with `prefix`, after `start_after`, in byte order.
pub async fn scan(
    tx: &mut Tx,
    shop: &str,
    plugin: &str,
    prefix: &str,
    start_after: Option<&str>,
    limit: i64,
) -> Result<Vec<(String, Vec<u8>)>> {
    // A prefix range instead of LIKE, so '%' and '_' in keys mean themselves; "\u{10FFFF}"
    // sorts after every key that starts with the prefix.
    let upper = format!("{prefix}\u{10FFFF}");
    let lower = match start_after {
        Some(s) if s >= prefix => s.to_string(),
        _ => String::new(),
    };
    let collate = if tx.backend() == Backend::Postgres {
        " COLLATE \"C\""
    } else {
        ""
    };
    let rows = sqlx::query(AssertSqlSafe(format!(
        "SELECT key, value FROM plugin_state WHERE shop_id = $1 AND plugin = $2 AND key{collate} >= $3 AND key{collate} < $4 \
         AND key{collate} > $5 ORDER BY key{collate} LIMIT $6"
    )))
    .bind(shop)
    .bind(plugin)
    .bind(prefix)
    .bind(&upper)
    .bind(&lower)
    .bind(limit)
    .fetch_all(tx.conn())
    .await?;
    rows.iter()
        .map(|r| Ok((get_str(r, "key")?, r.try_get::<Vec<u8>, _>("value")?)))
        .collect()
}

pub async fn schedule_timer(
    tx: &mut Tx,
    shop: &str,
    plugin: &str,
    name: &str,
    due_at: i64,
    payload: &[u8],
) -> Result<()> {
    sqlx::query(
        "INSERT INTO plugin_timers (shop_id, plugin, name, due_at, payload, attempts) VALUES ($1, $2, $3, $4, $5, 0) \
         ON CONFLICT (shop_id, plugin, name) DO UPDATE SET due_at = excluded.due_at, payload = excluded.payload, attempts = 0, last_error = NULL",
    )
    .bind(shop)
    .bind(plugin)
    .bind(name)
    .bind(due_at)
    .bind(payload)
    .execute(tx.conn())
    .await?;
    Ok(())
}

pub async fn cancel_timer(tx: &mut Tx, shop: &str, plugin: &str, name: &str) -> Result<bool> {
    let r =
        sqlx::query("DELETE FROM plugin_timers WHERE shop_id = $1 AND plugin = $2 AND name = $3")
            .bind(shop)
            .bind(plugin)
            .bind(name)
            .execute(tx.conn())
            .await?;
    Ok(r.rows_affected() == 1)
}

#[derive(Clone, Debug, serde::Serialize)]
pub struct Timer {
    pub shop_id: String,
    pub plugin: String,
    pub name: String,
    pub due_at: i64,
    #[serde(skip)]
    pub payload: Vec<u8>,
    pub attempts: i64,
    pub last_error: Option<String>,
}

fn timer_from_row(r: &sqlx::any::AnyRow) -> Result<Timer> {
    Ok(Timer {
        shop_id: get_str(r, "shop_id")?,
        plugin: get_str(r, "plugin")?,
        name: get_str(r, "name")?,
        due_at: get_i64(r, "due_at")?,
        payload: r.try_get::<Vec<u8>, _>("payload")?,
        attempts: get_i64(r, "attempts")?,
        last_error: get_opt_str(r, "last_error")?,
    })
}

/// Due timers, oldest first. On PostgreSQL the rows are locked and others skip them, so
/// each timer fires on one node only; the caller fires each in this transaction and removes
/// it with `finish_timer` before committing.
pub async fn claim_due_timers(tx: &mut Tx, now: i64, limit: i64) -> Result<Vec<Timer>> {
    let lock = if tx.backend() == Backend::Postgres {
        " FOR UPDATE SKIP LOCKED"
    } else {
        ""
    };
    let rows = sqlx::query(AssertSqlSafe(format!(
        "SELECT shop_id, plugin, name, due_at, payload, attempts, last_error FROM plugin_timers WHERE due_at <= $1 \
         ORDER BY due_at LIMIT $2{lock}"
    )))
    .bind(now)
    .bind(limit)
    .fetch_all(tx.conn())
    .await?;
    rows.iter().map(timer_from_row).collect()
}

/// Locks one timer if it is still due and unchanged (fired elsewhere or rescheduled
/// otherwise).
pub async fn lock_timer(tx: &mut Tx, t: &Timer, now: i64) -> Result<Option<Timer>> {
    let lock = if tx.backend() == Backend::Postgres {
        " FOR UPDATE SKIP LOCKED"
    } else {
        ""
    };
    let row = sqlx::query(AssertSqlSafe(format!(
        "SELECT shop_id, plugin, name, due_at, payload, attempts, last_error FROM plugin_timers \
         WHERE shop_id = $1 AND plugin = $2 AND name = $3 AND due_at = $4 AND due_at <= $5{lock}"
    )))
    .bind(&t.shop_id)
    .bind(&t.plugin)
    .bind(&t.name)
    .bind(t.due_at)
    .bind(now)
    .fetch_optional(tx.conn())
    .await?;
    row.as_ref().map(timer_from_row).transpose()
}

/// Removes a fired timer — unless the firing rescheduled it (same name, new due time).
pub async fn finish_timer(tx: &mut Tx, t: &Timer) -> Result<()> {
    sqlx::query("DELETE FROM plugin_timers WHERE shop_id = $1 AND plugin = $2 AND name = $3 AND due_at = $4 AND attempts = $5")
        .bind(&t.shop_id)
        .bind(&t.plugin)
        .bind(&t.name)
        .bind(t.due_at)
        .bind(t.attempts)
        .execute(tx.conn())
        .await?;
    Ok(())
}

/// A failed firing: try again later.
pub async fn retry_timer(tx: &mut Tx, t: &Timer, next_due: i64, error: &str) -> Result<()> {
    sqlx::query(
        "UPDATE plugin_timers SET due_at = $5, attempts = attempts + 1, last_error = $6 \
         WHERE shop_id = $1 AND plugin = $2 AND name = $3 AND due_at = $4",
    )
    .bind(&t.shop_id)
    .bind(&t.plugin)
    .bind(&t.name)
    .bind(t.due_at)
    .bind(next_due)
    .bind(error)
    .execute(tx.conn())
    .await?;
    Ok(())
}

pub async fn list_timers(tx: &mut Tx, shop: &str, plugin: &str) -> Result<Vec<Timer>> {
    let rows = sqlx::query(
        "SELECT shop_id, plugin, name, due_at, payload, attempts, last_error FROM plugin_timers WHERE shop_id = $1 AND plugin = $2 ORDER BY due_at, name",
    )
    .bind(shop)
    .bind(plugin)
    .fetch_all(tx.conn())
    .await?;
    rows.iter().map(timer_from_row).collect()
}
