//! Orders and their lines. Status, payment status, refund state and close reason are kept
//! as separate columns; each line keeps its adjustments and final amount for refunds and
//! commissions.

use crate::{Result, Tx, get_i64, get_json, get_opt_i64, get_opt_str, get_str, query};
use baseplate_domain::{LineAdjustment, OrderStatus, PaymentStatus, RefundState};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Attribute {
    pub key: String,
    pub value: String,
}

#[derive(Clone, Debug, Serialize, Deserialize, utoipa::ToSchema)]
pub struct OrderLine {
    pub id: String,
    pub index: u32,
    pub product_id: String,
    pub sku_id: String,
    pub quantity: u32,
    pub unit_price: i64,
    pub original_amount: i64,
    pub discount: i64,
    pub final_amount: i64,
    pub refunded_amount: i64,
    pub adjustments: Vec<LineAdjustment>,
}

#[derive(Clone, Debug, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Order {
    pub id: String,
    pub shop_id: String,
    pub member_id: Option<String>,
    pub status: OrderStatus,
    pub payment_status: PaymentStatus,
    pub refund_state: RefundState,
    pub close_reason: Option<String>,
    #[serde(skip, default)]
    pub hold: bool,
    pub currency: String,
    pub original_amount: i64,
    pub discount: i64,
    pub payable_amount: i64,
    pub paid_amount: i64,
    pub refunded_amount: i64,
    pub attributes: Vec<Attribute>,
    /// What the buyer passed to each plugin at checkout (JSON text per plugin).
    #[serde(skip, default)]
    pub plugin_inputs: BTreeMap<String, String>,
    pub created_at: i64,
    pub expires_at: i64,
    pub paid_at: Option<i64>,
    pub closed_at: Option<i64>,
    pub lines: Vec<OrderLine>,
    /// Moves on with every change of the order (see `update_state`): a plugin's decision
    /// on an order commits only if the order is still at the version it read.
    #[serde(default)]
    pub version: i64,
}

impl Order {
    pub fn state(&self) -> baseplate_domain::OrderState {
        baseplate_domain::OrderState {
            status: self.status,
            payment: self.payment_status,
            refund: self.refund_state,
            hold: self.hold,
            payable: baseplate_domain::Money(self.payable_amount),
            paid: baseplate_domain::Money(self.paid_amount),
            refunded: baseplate_domain::Money(self.refunded_amount),
        }
    }
}

pub async fn insert(tx: &mut Tx, o: &Order) -> Result<()> {
    query(
        "INSERT INTO orders (id, shop_id, member_id, status, payment_status, refund_state, close_reason, hold, currency, \
         original_amount, discount, payable_amount, paid_amount, refunded_amount, attributes, plugin_inputs, created_at, expires_at, paid_at, closed_at) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17, $18, $19, $20)",
    )
    .bind(&o.id)
    .bind(&o.shop_id)
    .bind(&o.member_id)
    .bind(o.status.as_str())
    .bind(o.payment_status.as_str())
    .bind(o.refund_state.as_str())
    .bind(&o.close_reason)
    .bind(o.hold as i64)
    .bind(&o.currency)
    .bind(o.original_amount)
    .bind(o.discount)
    .bind(o.payable_amount)
    .bind(o.paid_amount)
    .bind(o.refunded_amount)
    .bind(serde_json::to_string(&o.attributes).expect("serialize"))
    .bind(serde_json::to_string(&o.plugin_inputs).expect("serialize"))
    .bind(o.created_at)
    .bind(o.expires_at)
    .bind(o.paid_at)
    .bind(o.closed_at)
    .execute(tx)
    .await?;
    for l in &o.lines {
        query(
            "INSERT INTO order_lines (id, order_id, shop_id, idx, product_id, sku_id, quantity, unit_price, original_amount, discount, final_amount, refunded_amount, adjustments) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13)",
        )
        .bind(&l.id)
        .bind(&o.id)
        .bind(&o.shop_id)
        .bind(l.index as i64)
        .bind(&l.product_id)
        .bind(&l.sku_id)
        .bind(l.quantity as i64)
        .bind(l.unit_price)
        .bind(l.original_amount)
        .bind(l.discount)
        .bind(l.final_amount)
        .bind(l.refunded_amount)
        .bind(serde_json::to_string(&l.adjustments).expect("serialize"))
        .execute(tx)
        .await?;
    }
    Ok(())
}

const COLS: &str = "id, shop_id, member_id, status, payment_status, refund_state, close_reason, hold, currency, original_amount, discount, \
    payable_amount, paid_amount, refunded_amount, attributes, plugin_inputs, created_at, expires_at, paid_at, closed_at, version";

fn corrupt(what: &str, v: &str) -> crate::StoreError {
    crate::StoreError::Corrupt(format!("{what} {v:?}"))
}

fn from_row(r: &crate::Row) -> Result<Order> {
    let status = get_str(r, "status")?;
    let payment = get_str(r, "payment_status")?;
    let refund = get_str(r, "refund_state")?;
    Ok(Order {
        id: get_str(r, "id")?,
        shop_id: get_str(r, "shop_id")?,
        member_id: get_opt_str(r, "member_id")?,
        status: OrderStatus::parse(&status).ok_or_else(|| corrupt("order status", &status))?,
        payment_status: PaymentStatus::parse(&payment)
            .ok_or_else(|| corrupt("payment status", &payment))?,
        refund_state: RefundState::parse(&refund)
            .ok_or_else(|| corrupt("refund state", &refund))?,
        close_reason: get_opt_str(r, "close_reason")?,
        hold: get_i64(r, "hold")? != 0,
        currency: get_str(r, "currency")?,
        original_amount: get_i64(r, "original_amount")?,
        discount: get_i64(r, "discount")?,
        payable_amount: get_i64(r, "payable_amount")?,
        paid_amount: get_i64(r, "paid_amount")?,
        refunded_amount: get_i64(r, "refunded_amount")?,
        attributes: get_json(r, "attributes")?,
        plugin_inputs: get_json(r, "plugin_inputs")?,
        created_at: get_i64(r, "created_at")?,
        expires_at: get_i64(r, "expires_at")?,
        paid_at: get_opt_i64(r, "paid_at")?,
        closed_at: get_opt_i64(r, "closed_at")?,
        lines: Vec::new(),
        version: get_i64(r, "version")?,
    })
}

async fn lines_of(tx: &mut Tx, order: &str) -> Result<Vec<OrderLine>> {
    let rows = query(
        "SELECT id, idx, product_id, sku_id, quantity, unit_price, original_amount, discount, final_amount, refunded_amount, adjustments \
         FROM order_lines WHERE order_id = $1 ORDER BY idx",
    )
    .bind(order)
    .fetch_all(tx)
    .await?;
    rows.iter()
        .map(|r| {
            Ok(OrderLine {
                id: get_str(r, "id")?,
                index: get_i64(r, "idx")? as u32,
                product_id: get_str(r, "product_id")?,
                sku_id: get_str(r, "sku_id")?,
                quantity: get_i64(r, "quantity")? as u32,
                unit_price: get_i64(r, "unit_price")?,
                original_amount: get_i64(r, "original_amount")?,
                discount: get_i64(r, "discount")?,
                final_amount: get_i64(r, "final_amount")?,
                refunded_amount: get_i64(r, "refunded_amount")?,
                adjustments: get_json(r, "adjustments")?,
            })
        })
        .collect()
}

/// The order with its lines. `lock` takes the row for the rest of the transaction
/// (PostgreSQL); state changes to an order always read it locked first.
pub async fn get(tx: &mut Tx, shop: &str, id: &str, lock: bool) -> Result<Option<Order>> {
    let fu = if lock { tx.for_update() } else { "" };
    let row = query(format!(
        "SELECT {COLS} FROM orders WHERE shop_id = $1 AND id = $2{fu}"
    ))
    .bind(shop)
    .bind(id)
    .fetch_optional(tx)
    .await?;
    let Some(r) = row else { return Ok(None) };
    let mut o = from_row(&r)?;
    o.lines = lines_of(tx, id).await?;
    Ok(Some(o))
}

pub struct ListFilter<'a> {
    pub member_id: Option<&'a str>,
    pub status: Option<OrderStatus>,
    pub before: Option<&'a str>,
    pub limit: i64,
}

/// Newest first.
pub async fn list(tx: &mut Tx, shop: &str, f: &ListFilter<'_>) -> Result<Vec<Order>> {
    let rows = query(format!(
        "SELECT {COLS} FROM orders WHERE shop_id = $1 AND ($2 = '' OR member_id = $2) AND ($3 = '' OR status = $3) \
         AND ($4 = '' OR id < $4) ORDER BY id DESC LIMIT $5"
    ))
    .bind(shop)
    .bind(f.member_id.unwrap_or(""))
    .bind(f.status.map(|s| s.as_str()).unwrap_or(""))
    .bind(f.before.unwrap_or(""))
    .bind(f.limit)
    .fetch_all(tx)
    .await?;
    let mut out = Vec::with_capacity(rows.len());
    for r in &rows {
        let mut o = from_row(r)?;
        o.lines = lines_of(tx, &o.id).await?;
        out.push(o);
    }
    Ok(out)
}

/// Writes back an order's state columns (after a transition decided in the domain) and
/// moves its version on.
pub async fn update_state(tx: &mut Tx, o: &Order) -> Result<()> {
    query(
        "UPDATE orders SET status = $3, payment_status = $4, refund_state = $5, close_reason = $6, hold = $7, \
         paid_amount = $8, refunded_amount = $9, paid_at = $10, closed_at = $11, attributes = $12, version = version + 1 \
         WHERE shop_id = $1 AND id = $2",
    )
    .bind(&o.shop_id)
    .bind(&o.id)
    .bind(o.status.as_str())
    .bind(o.payment_status.as_str())
    .bind(o.refund_state.as_str())
    .bind(&o.close_reason)
    .bind(o.hold as i64)
    .bind(o.paid_amount)
    .bind(o.refunded_amount)
    .bind(o.paid_at)
    .bind(o.closed_at)
    .bind(serde_json::to_string(&o.attributes).expect("serialize"))
    .execute(tx)
    .await?;
    Ok(())
}

/// The order's current version (None if there is no such order), locked for the rest of
/// the write on PostgreSQL.
pub async fn version(tx: &mut Tx, shop: &str, id: &str) -> Result<Option<i64>> {
    let fu = tx.for_update();
    let row = query(format!(
        "SELECT version FROM orders WHERE shop_id = $1 AND id = $2{fu}"
    ))
    .bind(shop)
    .bind(id)
    .fetch_optional(tx)
    .await?;
    row.map(|r| get_i64(&r, "version")).transpose()
}

pub async fn add_line_refund(tx: &mut Tx, shop: &str, line_id: &str, amount: i64) -> Result<()> {
    query("UPDATE order_lines SET refunded_amount = refunded_amount + $3 WHERE shop_id = $1 AND id = $2")
        .bind(shop)
        .bind(line_id)
        .bind(amount)
        .execute(tx)
        .await?;
    Ok(())
}

/// Unpaid orders whose payment window has passed, oldest first.
pub async fn expired_unpaid(tx: &mut Tx, now: i64, limit: i64) -> Result<Vec<(String, String)>> {
    let rows = query(
        "SELECT shop_id, id FROM orders WHERE status = 'pending_payment' AND expires_at <= $1 ORDER BY expires_at LIMIT $2",
    )
    .bind(now)
    .bind(limit)
    .fetch_all(tx)
    .await?;
    rows.iter()
        .map(|r| Ok((get_str(r, "shop_id")?, get_str(r, "id")?)))
        .collect()
}
