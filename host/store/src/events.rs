//! The outbox: events are written in the same transaction as the core change that caused
//! them, with one delivery row per subscribed plugin. A delivery is claimed, its plugin
//! runs, and its effects commit together with the "delivered" mark — so each event takes
//! effect exactly once per plugin, across crashes and restarts.

use crate::{Backend, Result, Tx, get_i64, get_opt_i64, get_opt_str, get_str, query};
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
    query("INSERT INTO outbox_events (id, shop_id, kind, payload, created_at) VALUES ($1, $2, $3, $4, $5)")
        .bind(id)
        .bind(shop)
        .bind(kind)
        .bind(payload)
        .bind(now)
        .execute(tx)
        .await?;
    for p in plugins {
        query(
            "INSERT INTO event_deliveries (event_id, shop_id, plugin, status, attempts, next_attempt_at) VALUES ($1, $2, $3, 'pending', 0, $4)",
        )
        .bind(id)
        .bind(shop)
        .bind(p)
        .bind(now)
        .execute(tx)
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

fn from_row(r: &crate::Row) -> Result<Delivery> {
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

/// Pending deliveries that are due, at most `per_shop` of each shop and `limit` in all,
/// each shop's oldest first and shops in turn (keys only; lock each with `lock`).
pub async fn due(
    tx: &mut Tx,
    now: i64,
    per_shop: i64,
    limit: i64,
) -> Result<Vec<(String, String)>> {
    let rows = query(
        "SELECT event_id, plugin FROM (\
           SELECT event_id, plugin, next_attempt_at, ROW_NUMBER() OVER (PARTITION BY shop_id ORDER BY next_attempt_at, event_id) AS turn \
           FROM event_deliveries WHERE status = 'pending' AND next_attempt_at <= $1\
         ) AS due WHERE turn <= $2 ORDER BY turn, next_attempt_at LIMIT $3",
    )
    .bind(now)
    .bind(per_shop)
    .bind(limit)
    .fetch_all(tx)
    .await?;
    rows.iter()
        .map(|r| Ok((get_str(r, "event_id")?, get_str(r, "plugin")?)))
        .collect()
}

/// Pending deliveries of one event (to deliver right after the change that caused it).
pub async fn pending_for_event(tx: &mut Tx, event_id: &str) -> Result<Vec<(String, String)>> {
    let rows = query("SELECT event_id, plugin FROM event_deliveries WHERE event_id = $1 AND status = 'pending' ORDER BY plugin")
        .bind(event_id)
        .fetch_all(tx)
        .await?;
    rows.iter()
        .map(|r| Ok((get_str(r, "event_id")?, get_str(r, "plugin")?)))
        .collect()
}

/// Takes one pending delivery for this transaction; None if it was delivered meanwhile
/// or another node holds it.
pub async fn lock(tx: &mut Tx, event_id: &str, plugin: &str) -> Result<Option<Delivery>> {
    let lock = if tx.backend() == Backend::Postgres && !tx.is_read_only() {
        " FOR UPDATE OF d SKIP LOCKED"
    } else {
        ""
    };
    let row = query(format!(
        "SELECT {COLS} FROM event_deliveries d JOIN outbox_events e ON e.id = d.event_id \
         WHERE d.event_id = $1 AND d.plugin = $2 AND d.status = 'pending'{lock}"
    ))
    .bind(event_id)
    .bind(plugin)
    .fetch_optional(tx)
    .await?;
    row.as_ref().map(from_row).transpose()
}

pub async fn mark_delivered(tx: &mut Tx, event_id: &str, plugin: &str, now: i64) -> Result<()> {
    query("UPDATE event_deliveries SET status = 'delivered', delivered_at = $3, attempts = attempts + 1 WHERE event_id = $1 AND plugin = $2")
        .bind(event_id)
        .bind(plugin)
        .bind(now)
        .execute(tx)
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
    query(
        "UPDATE event_deliveries SET status = $3, attempts = attempts + 1, last_error = $4, next_attempt_at = COALESCE($5, next_attempt_at) \
         WHERE event_id = $1 AND plugin = $2",
    )
    .bind(event_id)
    .bind(plugin)
    .bind(status)
    .bind(error)
    .bind(next)
    .execute(tx)
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
    let rows = query(format!(
        "SELECT {COLS} FROM event_deliveries d JOIN outbox_events e ON e.id = d.event_id \
         WHERE d.shop_id = $1 AND ($2 = '' OR d.status = $2) ORDER BY e.created_at DESC, d.event_id DESC LIMIT $3"
    ))
    .bind(shop)
    .bind(status.unwrap_or(""))
    .bind(limit)
    .fetch_all(tx)
    .await?;
    rows.iter().map(from_row).collect()
}

/// Pending deliveries and due timers, for the backlog gauges.
pub async fn backlog(tx: &mut Tx, now: i64) -> Result<(i64, i64)> {
    let r = query(
        "SELECT (SELECT count(*) FROM event_deliveries WHERE status = 'pending') AS events, \
         (SELECT count(*) FROM plugin_timers WHERE due_at <= $1) AS timers",
    )
    .bind(now)
    .fetch_one(tx)
    .await?;
    Ok((get_i64(&r, "events")?, get_i64(&r, "timers")?))
}

/// Puts a dead delivery back in the queue (the merchant asked to retry).
pub async fn requeue(
    tx: &mut Tx,
    shop: &str,
    event_id: &str,
    plugin: &str,
    now: i64,
) -> Result<bool> {
    let r = query(
        "UPDATE event_deliveries SET status = 'pending', next_attempt_at = $4 WHERE shop_id = $1 AND event_id = $2 AND plugin = $3 AND status = 'dead'",
    )
    .bind(shop)
    .bind(event_id)
    .bind(plugin)
    .bind(now)
    .execute(tx)
    .await?;
    Ok(r.rows_affected() == 1)
}

/// What a held delivery's `last_error` starts with.
pub const HELD: &str = "held: ";

/// Holds a delivery whose plugin is installed but not running (its version revoked, or the
/// plugin disabled): it stays pending, without using up an attempt, and is looked at again
/// at `until` — or at once when the shop moves to a running version (`wake_held`).
pub async fn hold(
    tx: &mut Tx,
    event_id: &str,
    plugin: &str,
    reason: &str,
    until: i64,
) -> Result<()> {
    query(
        "UPDATE event_deliveries SET last_error = $3, next_attempt_at = $4 \
         WHERE event_id = $1 AND plugin = $2 AND status = 'pending'",
    )
    .bind(event_id)
    .bind(plugin)
    .bind(format!("{HELD}{reason}"))
    .bind(until)
    .execute(tx)
    .await?;
    Ok(())
}

/// Makes a shop's held deliveries to `plugin` due now; returns their event ids, oldest
/// first, for delivery after the commit.
pub async fn wake_held(tx: &mut Tx, shop: &str, plugin: &str, now: i64) -> Result<Vec<String>> {
    let rows = query(
        "SELECT d.event_id FROM event_deliveries d JOIN outbox_events e ON e.id = d.event_id \
         WHERE d.shop_id = $1 AND d.plugin = $2 AND d.status = 'pending' AND d.last_error LIKE 'held: %' \
         ORDER BY e.created_at, d.event_id",
    )
    .bind(shop)
    .bind(plugin)
    .fetch_all(tx)
    .await?;
    query(
        "UPDATE event_deliveries SET next_attempt_at = $3, last_error = NULL \
         WHERE shop_id = $1 AND plugin = $2 AND status = 'pending' AND last_error LIKE 'held: %'",
    )
    .bind(shop)
    .bind(plugin)
    .bind(now)
    .execute(tx)
    .await?;
    rows.iter().map(|r| get_str(r, "event_id")).collect()
}
