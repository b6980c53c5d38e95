//! API keys of shop staff and of the platform operator. Only a hash of the token is stored.

use crate::{Result, Tx, get_i64, get_opt_i64, get_opt_str, get_str, query};
use serde::Serialize;

#[derive(Clone, Debug, Serialize, utoipa::ToSchema)]
pub struct ApiKey {
    pub id: String,
    /// None for operator keys.
    pub shop_id: Option<String>,
    /// owner | staff | operator
    pub role: String,
    pub name: String,
    pub created_at: i64,
    pub revoked_at: Option<i64>,
}

fn from_row(r: &crate::Row) -> Result<ApiKey> {
    Ok(ApiKey {
        id: get_str(r, "id")?,
        shop_id: get_opt_str(r, "shop_id")?,
        role: get_str(r, "role")?,
        name: get_str(r, "name")?,
        created_at: get_i64(r, "created_at")?,
        revoked_at: get_opt_i64(r, "revoked_at")?,
    })
}

pub async fn insert(tx: &mut Tx, key: &ApiKey, token_hash: &str) -> Result<()> {
    query("INSERT INTO api_keys (id, shop_id, role, name, token_hash, created_at) VALUES ($1, $2, $3, $4, $5, $6)")
        .bind(&key.id)
        .bind(&key.shop_id)
        .bind(&key.role)
        .bind(&key.name)
        .bind(token_hash)
        .bind(key.created_at)
        .execute(tx)
        .await?;
    Ok(())
}

pub async fn find_by_hash(tx: &mut Tx, token_hash: &str) -> Result<Option<ApiKey>> {
    let row = query("SELECT id, shop_id, role, name, created_at, revoked_at FROM api_keys WHERE token_hash = $1")
        .bind(token_hash)
        .fetch_optional(tx)
        .await?;
    row.as_ref().map(from_row).transpose()
}

pub async fn list(tx: &mut Tx, shop: &str) -> Result<Vec<ApiKey>> {
    let rows = query("SELECT id, shop_id, role, name, created_at, revoked_at FROM api_keys WHERE shop_id = $1 ORDER BY created_at, id")
        .bind(shop)
        .fetch_all(tx)
        .await?;
    rows.iter().map(from_row).collect()
}

pub async fn revoke(tx: &mut Tx, shop: &str, id: &str, now: i64) -> Result<bool> {
    let r = query(
        "UPDATE api_keys SET revoked_at = $3 WHERE shop_id = $1 AND id = $2 AND revoked_at IS NULL",
    )
    .bind(shop)
    .bind(id)
    .bind(now)
    .execute(tx)
    .await?;
    Ok(r.rows_affected() == 1)
}

pub async fn count_operators(tx: &mut Tx) -> Result<i64> {
    let row =
        query("SELECT COUNT(*) AS n FROM api_keys WHERE role = 'operator' AND revoked_at IS NULL")
            .fetch_one(tx)
            .await?;
    get_i64(&row, "n")
}
