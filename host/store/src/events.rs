//! The outbox: events are written in the same transaction as the core change that caused
//! them, with one delivery row per subscribed plugin. A delivery is claimed, its plugin
//! runs, and its effects commit together with the "delivered" mark — so each event takes
//! effect exactly once per plugin, across crashes and restarts.

use crate::{AssertSqlSafe, Backend, Result, Tx, get_i64, get_opt_i64, get_opt_str, get_str};
use serde::Serialize;

pub async fn insert_event(
    tx: &mut Tx,
    id: &str,
    shop: &str,
    kind: &str,
    payload: &str,
    plugins: &[String],
    now: i64,
) -> Result<()> {
    sqlx::query("INSERT INTO outbox_events (id, shop_id, kind, payload, created_at) VALUES ($1, $2, $3, $4, $5)")
        .bind(id)
        .bind(shop)
        .bind(kind)
        .bind(payload)
        .bind(now)
        .execute(tx.conn())
        .await?;
    for p in plugins {
        sqlx::query(
            "INSERT INTO event_deliveries (event_id, shop_id, plugin, status, attempts, next_attempt_at) VALUES ($1, $2, $3, 'pending', 0, $4)",
        )
        .bind(id)
        .bind(shop)
        .bind(p)
        .bind(now)
        .execute(tx.conn())
        .await?;
    }
    Ok(())
}

#[derive(Clone, Debug, Serialize, utoipa::ToSchema)]
pub struct Delivery {
    pub event_id: String,
    pub shop_id: String,
    pub plugin: String,
    pub kind: String,
    #[serde(skip)]
    pub payload: String,
    pub status: String,
    pub attempts: i64,
    pub next_attempt_at: i64,
    pub last_error: Option<String>,
    pub delivered_at: Option<i64>,
}

const COLS: &str = "d.event_id, d.shop_id, d.plugin, e.kind, e.payload, d.status, d.attempts, d.next_attempt_at, d.last_error, d.delivered_at";

fn from_row(r: &sqlx::any::AnyRow) -> Result<Delivery> {
    Ok(Delivery {
        event_id: get_str(r, "event_id")?,
        shop_id: get_str(r, "shop_id")?,
        plugin: get_str(r, "plugin")?,
        kind: get_str(r, "kind")?,
        payload: get_str(r, "payload")?,
        status: get_str(r, "status")?,
        attempts: get_i64(r, "attempts")?,
        next_attempt_at: get_i64(r, "next_attempt_at")?,
        last_error: get_opt_str(r, "last_error")?,
        delivered_at: get_opt_i64(r, "delivered_at")?,
    })
}

/// Pending deliveries that are due, oldest first (keys only; lock each with `lock`).
pub async fn due(tx: &mut Tx, now: i64, limit: i64) -> Result<Vec<(String, String)>> {
    let rows = sqlx::query(
        "SELECT event_id, plugin FROM event_deliveries WHERE status = 'pending' AND next_attempt_at <= $1 \
         ORDER BY next_attempt_at, event_id LIMIT $2",
    )
    .bind(now)
    .bind(limit)
    .fetch_all(tx.conn())
    .await?;
    rows.iter()
        .map(|r| Ok((get_str(r, "event_id")?, get_str(r, "plugin")?)))
        .collect()
}

/// Pending deliveries of one event (to deliver right after the change that caused it).
pub async fn pending_for_event(tx: &mut Tx, event_id: &str) -> Result<Vec<(String, String)>> {
    let rows = sqlx::query("SELECT event_id, plugin FROM event_deliveries WHERE event_id = $1 AND status = 'pending' ORDER BY plugin")
        .bind(event_id)
        .fetch_all(tx.conn())
        .await?;
    rows.iter()
        .map(|r| Ok((get_str(r, "event_id")?, get_str(r, "plugin")?)))
        .collect()
}

/// Takes one pending delivery for this transaction; None if it was delivered meanwhile
/// or another node holds it.
pub async fn lock(tx: &mut Tx, event_id: &str, plugin: &str) -> Result<Option<Delivery>> {
    let lock = if tx.backend() == Backend::Postgres {
        " FOR UPDATE OF d SKIP LOCKED"
    } else {
        ""
    };
    let row = sqlx::query(AssertSqlSafe(format!(
        "SELECT {COLS} FROM event_deliveries d JOIN outbox_events e ON e.id = d.event_id \
         WHERE d.event_id = $1 AND d.plugin = $2 AND d.status = 'pending'{lock}"
    )))
    .bind(event_id)
    .bind(plugin)
    .fetch_optional(tx.conn())
    .await?;
    row.as_ref().map(from_row).transpose()
}

pub async fn mark_delivered(tx: &mut Tx, event_id: &str, plugin: &str, now: i64) -> Result<()> {
    sqlx::query("UPDATE event_deliveries SET status = 'delivered', delivered_at = $3, attempts = attempts + 1 WHERE event_id = $1 AND plugin = $2")
        .bind(event_id)
        .bind(plugin)
        .bind(now)
        .execute(tx.conn())
        .await?;
    Ok(())
}

/// A failed attempt: retry at `next` or, past the last attempt, give up (`dead`), visible
/// to the merchant.
pub async fn mark_failed(
    tx: &mut Tx,
    event_id: &str,
    plugin: &str,
    error: &str,
    next: Option<i64>,
) -> Result<()> {
    let status = if next.is_some() { "pending" } else { "dead" };
    sqlx::query(
        "UPDATE event_deliveries SET status = $3, attempts = attempts + 1, last_error = $4, next_attempt_at = COALESCE($5, next_attempt_at) \
         WHERE event_id = $1 AND plugin = $2",
    )
    .bind(event_id)
    .bind(plugin)
    .bind(status)
    .bind(error)
    .bind(next)
    .execute(tx.conn())
    .await?;
    Ok(())
}

/// A shop's deliveries, newest first, optionally only one status.
pub async fn list(
    tx: &mut Tx,
    shop: &str,
    status: Option<&str>,
    limit: i64,
) -> Result<Vec<Delivery>> {
    let rows = sqlx::query(AssertSqlSafe(format!(
        "SELECT {COLS} FROM event_deliveries d JOIN outbox_events e ON e.id = d.event_id \
         WHERE d.shop_id = $1 AND ($2 = '' OR d.status = $2) ORDER BY e.created_at DESC, d.event_id DESC LIMIT $3"
    )))
    .bind(shop)
    .bind(status.unwrap_or(""))
    .bind(limit)
    .fetch_all(tx.conn())
    .await?;
    rows.iter().map(from_row).collect()
}

/// Puts a dead delivery back in the queue (the merchant asked to retry).
pub async fn requeue(
    tx: &mut Tx,
    shop: &str,
    event_id: &str,
    plugin: &str,
    now: i64,
) -> Result<bool> {
    let r = sqlx::query(
        "UPDATE event_deliveries SET status = 'pending', next_attempt_at = $4 WHERE shop_id = $1 AND event_id = $2 AND plugin = $3 AND status = 'dead'",
    )
    .bind(shop)
    .bind(event_id)
    .bind(plugin)
    .bind(now)
    .execute(tx.conn())
    .await?;
    Ok(r.rows_affected() == 1)
}
