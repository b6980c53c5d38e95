//! Members: identity is per shop.

use crate::{Result, Tx, get_i64, get_json, get_opt_str, get_str, query};
use serde::{Deserialize, Serialize};

#[derive(Clone, Debug, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Member {
    pub id: String,
    pub shop_id: String,
    pub name: String,
    pub phone: Option<String>,
    pub level: i64,
    pub points: i64,
    pub tags: Vec<String>,
    pub inviter_id: Option<String>,
    pub paid_orders: i64,
    pub joined_at: i64,
}

const COLS: &str =
    "id, shop_id, name, phone, level, points, tags, inviter_id, paid_orders, joined_at";

fn from_row(r: &crate::Row) -> Result<Member> {
    Ok(Member {
        id: get_str(r, "id")?,
        shop_id: get_str(r, "shop_id")?,
        name: get_str(r, "name")?,
        phone: get_opt_str(r, "phone")?,
        level: get_i64(r, "level")?,
        points: get_i64(r, "points")?,
        tags: get_json(r, "tags")?,
        inviter_id: get_opt_str(r, "inviter_id")?,
        paid_orders: get_i64(r, "paid_orders")?,
        joined_at: get_i64(r, "joined_at")?,
    })
}

pub async fn insert(tx: &mut Tx, m: &Member, token_hash: &str) -> Result<()> {
    query(
        "INSERT INTO members (id, shop_id, name, phone, level, points, tags, inviter_id, paid_orders, token_hash, joined_at) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)",
    )
    .bind(&m.id)
    .bind(&m.shop_id)
    .bind(&m.name)
    .bind(&m.phone)
    .bind(m.level)
    .bind(m.points)
    .bind(serde_json::to_string(&m.tags).expect("tags serialize"))
    .bind(&m.inviter_id)
    .bind(m.paid_orders)
    .bind(token_hash)
    .bind(m.joined_at)
    .execute(tx)
    .await?;
    Ok(())
}

pub async fn get(tx: &mut Tx, shop: &str, id: &str) -> Result<Option<Member>> {
    let row = query(format!(
        "SELECT {COLS} FROM members WHERE shop_id = $1 AND id = $2"
    ))
    .bind(shop)
    .bind(id)
    .fetch_optional(tx)
    .await?;
    row.as_ref().map(from_row).transpose()
}

pub async fn find_by_token_hash(tx: &mut Tx, token_hash: &str) -> Result<Option<Member>> {
    let row = query(format!("SELECT {COLS} FROM members WHERE token_hash = $1"))
        .bind(token_hash)
        .fetch_optional(tx)
        .await?;
    row.as_ref().map(from_row).transpose()
}

pub async fn list(tx: &mut Tx, shop: &str, after: Option<&str>, limit: i64) -> Result<Vec<Member>> {
    let rows = query(format!(
        "SELECT {COLS} FROM members WHERE shop_id = $1 AND id > $2 ORDER BY id LIMIT $3"
    ))
    .bind(shop)
    .bind(after.unwrap_or(""))
    .bind(limit)
    .fetch_all(tx)
    .await?;
    rows.iter().map(from_row).collect()
}

pub async fn update_profile(tx: &mut Tx, m: &Member) -> Result<()> {
    query("UPDATE members SET name = $3, level = $4, points = $5, tags = $6 WHERE shop_id = $1 AND id = $2")
        .bind(&m.shop_id)
        .bind(&m.id)
        .bind(&m.name)
        .bind(m.level)
        .bind(m.points)
        .bind(serde_json::to_string(&m.tags).expect("tags serialize"))
        .execute(tx)
        .await?;
    Ok(())
}

pub async fn count_paid_order(tx: &mut Tx, shop: &str, id: &str) -> Result<()> {
    query("UPDATE members SET paid_orders = paid_orders + 1 WHERE shop_id = $1 AND id = $2")
        .bind(shop)
        .bind(id)
        .execute(tx)
        .await?;
    Ok(())
}

/// One entry of a member's points ledger.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct PointsEntry {
    pub id: String,
    pub member_id: String,
    pub delta: i64,
    /// The member's points after this entry.
    pub balance: i64,
    pub reason: String,
    /// Who changed them: `plugin:<name>`, `staff:<key id>`, …
    pub source: String,
    pub reference: Option<String>,
    pub created_at: i64,
}

/// Adds `e.delta` to a member's points and records the entry; None (nothing written) if
/// the balance would go below zero or the member does not exist. The balance in the
/// entry is filled in from the row.
pub async fn adjust_points(tx: &mut Tx, shop: &str, e: &mut PointsEntry) -> Result<Option<i64>> {
    let done = query(
        "UPDATE members SET points = points + $3 WHERE shop_id = $1 AND id = $2 AND points + $3 >= 0",
    )
    .bind(shop)
    .bind(&e.member_id)
    .bind(e.delta)
    .execute(tx)
    .await?;
    if done.rows_affected() != 1 {
        return Ok(None);
    }
    let row = query("SELECT points FROM members WHERE shop_id = $1 AND id = $2")
        .bind(shop)
        .bind(&e.member_id)
        .fetch_one(tx)
        .await?;
    e.balance = get_i64(&row, "points")?;
    query(
        "INSERT INTO points_entries (id, shop_id, member_id, delta, balance, reason, source, reference, created_at) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)",
    )
    .bind(&e.id)
    .bind(shop)
    .bind(&e.member_id)
    .bind(e.delta)
    .bind(e.balance)
    .bind(&e.reason)
    .bind(&e.source)
    .bind(&e.reference)
    .bind(e.created_at)
    .execute(tx)
    .await?;
    Ok(Some(e.balance))
}

/// A member's points entries, newest first.
pub async fn points_history(
    tx: &mut Tx,
    shop: &str,
    member: &str,
    limit: i64,
) -> Result<Vec<PointsEntry>> {
    let rows = query(
        "SELECT id, member_id, delta, balance, reason, source, reference, created_at FROM points_entries \
         WHERE shop_id = $1 AND member_id = $2 ORDER BY created_at DESC, id DESC LIMIT $3",
    )
    .bind(shop)
    .bind(member)
    .bind(limit)
    .fetch_all(tx)
    .await?;
    rows.iter()
        .map(|r| {
            Ok(PointsEntry {
                id: get_str(r, "id")?,
                member_id: get_str(r, "member_id")?,
                delta: get_i64(r, "delta")?,
                balance: get_i64(r, "balance")?,
                reason: get_str(r, "reason")?,
                source: get_str(r, "source")?,
                reference: get_opt_str(r, "reference")?,
                created_at: get_i64(r, "created_at")?,
            })
        })
        .collect()
}
