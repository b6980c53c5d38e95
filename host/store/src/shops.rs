//! Shops (tenants) and idempotency records.

use crate::{Result, Tx, get_i64, get_str, query};
use serde::Serialize;

#[derive(Clone, Debug, Serialize, utoipa::ToSchema)]
pub struct Shop {
    pub id: String,
    pub name: String,
    pub currency: String,
    pub payment_timeout_secs: i64,
    pub created_at: i64,
}

pub async fn insert(tx: &mut Tx, shop: &Shop) -> Result<()> {
    query("INSERT INTO shops (id, name, currency, payment_timeout_secs, created_at) VALUES ($1, $2, $3, $4, $5)")
        .bind(&shop.id)
        .bind(&shop.name)
        .bind(&shop.currency)
        .bind(shop.payment_timeout_secs)
        .bind(shop.created_at)
        .execute(tx)
        .await?;
    Ok(())
}

pub async fn get(tx: &mut Tx, id: &str) -> Result<Option<Shop>> {
    let row = query(
        "SELECT id, name, currency, payment_timeout_secs, created_at FROM shops WHERE id = $1",
    )
    .bind(id)
    .fetch_optional(tx)
    .await?;
    row.map(|r| {
        Ok(Shop {
            id: get_str(&r, "id")?,
            name: get_str(&r, "name")?,
            currency: get_str(&r, "currency")?,
            payment_timeout_secs: get_i64(&r, "payment_timeout_secs")?,
            created_at: get_i64(&r, "created_at")?,
        })
    })
    .transpose()
}

pub async fn update_settings(
    tx: &mut Tx,
    id: &str,
    name: &str,
    payment_timeout_secs: i64,
) -> Result<()> {
    query("UPDATE shops SET name = $2, payment_timeout_secs = $3 WHERE id = $1")
        .bind(id)
        .bind(name)
        .bind(payment_timeout_secs)
        .execute(tx)
        .await?;
    Ok(())
}

/// A stored response to a request made with an `Idempotency-Key`.
#[derive(Clone, Debug)]
pub struct IdempotentResponse {
    pub request_hash: String,
    pub status: u16,
    pub body: String,
}

pub async fn idempotency_get(
    tx: &mut Tx,
    shop: &str,
    scope: &str,
    key: &str,
) -> Result<Option<IdempotentResponse>> {
    let row = query("SELECT request_hash, status, body FROM idempotency_keys WHERE shop_id = $1 AND scope = $2 AND key = $3")
        .bind(shop)
        .bind(scope)
        .bind(key)
        .fetch_optional(tx)
        .await?;
    row.map(|r| {
        Ok(IdempotentResponse {
            request_hash: get_str(&r, "request_hash")?,
            status: get_i64(&r, "status")? as u16,
            body: get_str(&r, "body")?,
        })
    })
    .transpose()
}

/// Records the response in the same transaction as the change it describes, so a retry
/// sees either nothing (and redoes the work) or exactly the first result.
pub async fn idempotency_put(
    tx: &mut Tx,
    shop: &str,
    scope: &str,
    key: &str,
    resp: &IdempotentResponse,
    now: i64,
) -> Result<()> {
    query("INSERT INTO idempotency_keys (shop_id, scope, key, request_hash, status, body, created_at) VALUES ($1, $2, $3, $4, $5, $6, $7)")
        .bind(shop)
        .bind(scope)
        .bind(key)
        .bind(&resp.request_hash)
        .bind(resp.status as i64)
        .bind(&resp.body)
        .bind(now)
        .execute(tx)
        .await?;
    Ok(())
}
