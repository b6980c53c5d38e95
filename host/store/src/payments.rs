//! Payment intents, applied provider notifications, and refunds.

use crate::{Result, Tx, get_i64, get_json, get_opt_i64, get_str, query};
use serde::{Deserialize, Serialize};

#[derive(Clone, Debug, Serialize, utoipa::ToSchema)]
pub struct Payment {
    pub id: String,
    pub shop_id: String,
    pub order_id: String,
    pub amount: i64,
    pub currency: String,
    /// pending | succeeded | refunded_order_closed | failed
    pub status: String,
    pub created_at: i64,
    pub settled_at: Option<i64>,
}

const COLS: &str = "id, shop_id, order_id, amount, currency, status, created_at, settled_at";

fn from_row(r: &crate::Row) -> Result<Payment> {
    Ok(Payment {
        id: get_str(r, "id")?,
        shop_id: get_str(r, "shop_id")?,
        order_id: get_str(r, "order_id")?,
        amount: get_i64(r, "amount")?,
        currency: get_str(r, "currency")?,
        status: get_str(r, "status")?,
        created_at: get_i64(r, "created_at")?,
        settled_at: get_opt_i64(r, "settled_at")?,
    })
}

pub async fn insert(tx: &mut Tx, p: &Payment) -> Result<()> {
    query(format!(
        "INSERT INTO payments ({COLS}) VALUES ($1, $2, $3, $4, $5, $6, $7, $8)"
    ))
    .bind(&p.id)
    .bind(&p.shop_id)
    .bind(&p.order_id)
    .bind(p.amount)
    .bind(&p.currency)
    .bind(&p.status)
    .bind(p.created_at)
    .bind(p.settled_at)
    .execute(tx)
    .await?;
    Ok(())
}

/// By id alone: provider callbacks name the payment, and the payment names its shop.
pub async fn get(tx: &mut Tx, id: &str, lock: bool) -> Result<Option<Payment>> {
    let fu = if lock { tx.for_update() } else { "" };
    let row = query(format!("SELECT {COLS} FROM payments WHERE id = $1{fu}"))
        .bind(id)
        .fetch_optional(tx)
        .await?;
    row.as_ref().map(from_row).transpose()
}

pub async fn for_order(tx: &mut Tx, shop: &str, order: &str) -> Result<Vec<Payment>> {
    let rows = query(format!(
        "SELECT {COLS} FROM payments WHERE shop_id = $1 AND order_id = $2 ORDER BY created_at, id"
    ))
    .bind(shop)
    .bind(order)
    .fetch_all(tx)
    .await?;
    rows.iter().map(from_row).collect()
}

pub async fn set_status(
    tx: &mut Tx,
    id: &str,
    status: &str,
    settled_at: Option<i64>,
) -> Result<()> {
    query("UPDATE payments SET status = $2, settled_at = COALESCE($3, settled_at) WHERE id = $1")
        .bind(id)
        .bind(status)
        .bind(settled_at)
        .execute(tx)
        .await?;
    Ok(())
}

/// Records a provider notification; false if it was already applied (a duplicate).
pub async fn record_notification(
    tx: &mut Tx,
    event_id: &str,
    payment: &str,
    kind: &str,
    outcome: &str,
    now: i64,
) -> Result<bool> {
    let r = query(
        "INSERT INTO payment_notifications (provider_event_id, payment_id, kind, outcome, received_at) VALUES ($1, $2, $3, $4, $5) \
         ON CONFLICT (provider_event_id) DO NOTHING",
    )
    .bind(event_id)
    .bind(payment)
    .bind(kind)
    .bind(outcome)
    .bind(now)
    .execute(tx)
    .await?;
    Ok(r.rows_affected() == 1)
}

pub async fn notification_outcome(tx: &mut Tx, event_id: &str) -> Result<Option<String>> {
    let row = query("SELECT outcome FROM payment_notifications WHERE provider_event_id = $1")
        .bind(event_id)
        .fetch_optional(tx)
        .await?;
    row.map(|r| get_str(&r, "outcome")).transpose()
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RefundLine {
    pub line_id: String,
    pub amount: i64,
}

#[derive(Clone, Debug, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Refund {
    pub id: String,
    pub shop_id: String,
    pub order_id: String,
    pub amount: i64,
    pub lines: Vec<RefundLine>,
    pub reason: String,
    #[serde(skip, default)]
    pub request_hash: String,
    pub created_at: i64,
}

pub async fn get_refund(tx: &mut Tx, shop: &str, id: &str) -> Result<Option<Refund>> {
    let row = query(
        "SELECT id, shop_id, order_id, amount, lines, reason, request_hash, created_at FROM refunds WHERE shop_id = $1 AND id = $2",
    )
    .bind(shop)
    .bind(id)
    .fetch_optional(tx)
    .await?;
    row.map(|r| {
        Ok(Refund {
            id: get_str(&r, "id")?,
            shop_id: get_str(&r, "shop_id")?,
            order_id: get_str(&r, "order_id")?,
            amount: get_i64(&r, "amount")?,
            lines: get_json(&r, "lines")?,
            reason: get_str(&r, "reason")?,
            request_hash: get_str(&r, "request_hash")?,
            created_at: get_i64(&r, "created_at")?,
        })
    })
    .transpose()
}

pub async fn insert_refund(tx: &mut Tx, r: &Refund) -> Result<()> {
    query(
        "INSERT INTO refunds (shop_id, id, order_id, amount, lines, reason, request_hash, created_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
    )
    .bind(&r.shop_id)
    .bind(&r.id)
    .bind(&r.order_id)
    .bind(r.amount)
    .bind(serde_json::to_string(&r.lines).expect("serialize"))
    .bind(&r.reason)
    .bind(&r.request_hash)
    .bind(r.created_at)
    .execute(tx)
    .await?;
    Ok(())
}

pub async fn refunds_for_order(tx: &mut Tx, shop: &str, order: &str) -> Result<Vec<Refund>> {
    let ids: Vec<String> = query(
        "SELECT id FROM refunds WHERE shop_id = $1 AND order_id = $2 ORDER BY created_at, id",
    )
    .bind(shop)
    .bind(order)
    .fetch_all(tx)
    .await?
    .iter()
    .map(|r| get_str(r, "id"))
    .collect::<Result<_>>()?;
    let mut out = Vec::new();
    for id in ids {
        if let Some(r) = get_refund(tx, shop, &id).await? {
            out.push(r);
        }
    }
    Ok(out)
}
