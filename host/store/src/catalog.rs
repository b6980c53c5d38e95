//! The minimal catalog orders need: products, their SKUs, price and stock.

use crate::{Result, Tx, get_i64, get_json, get_str, query};
use serde::Serialize;

#[derive(Clone, Debug, Serialize, utoipa::ToSchema)]
pub struct Sku {
    pub id: String,
    pub name: String,
    pub price: i64,
    pub stock: i64,
}

#[derive(Clone, Debug, Serialize, utoipa::ToSchema)]
pub struct Product {
    pub id: String,
    pub shop_id: String,
    pub name: String,
    pub tags: Vec<String>,
    pub skus: Vec<Sku>,
    pub created_at: i64,
}

pub async fn insert_product(tx: &mut Tx, p: &Product) -> Result<()> {
    query("INSERT INTO products (id, shop_id, name, tags, created_at) VALUES ($1, $2, $3, $4, $5)")
        .bind(&p.id)
        .bind(&p.shop_id)
        .bind(&p.name)
        .bind(serde_json::to_string(&p.tags).expect("tags serialize"))
        .bind(p.created_at)
        .execute(tx)
        .await?;
    for s in &p.skus {
        query("INSERT INTO skus (id, shop_id, product_id, name, price, stock) VALUES ($1, $2, $3, $4, $5, $6)")
            .bind(&s.id)
            .bind(&p.shop_id)
            .bind(&p.id)
            .bind(&s.name)
            .bind(s.price)
            .bind(s.stock)
            .execute(tx)
            .await?;
    }
    Ok(())
}

async fn skus_of(tx: &mut Tx, product: &str) -> Result<Vec<Sku>> {
    let rows = query("SELECT id, name, price, stock FROM skus WHERE product_id = $1 ORDER BY id")
        .bind(product)
        .fetch_all(tx)
        .await?;
    rows.iter()
        .map(|r| {
            Ok(Sku {
                id: get_str(r, "id")?,
                name: get_str(r, "name")?,
                price: get_i64(r, "price")?,
                stock: get_i64(r, "stock")?,
            })
        })
        .collect()
}

pub async fn get_product(tx: &mut Tx, shop: &str, id: &str) -> Result<Option<Product>> {
    let row = query(
        "SELECT id, shop_id, name, tags, created_at FROM products WHERE shop_id = $1 AND id = $2",
    )
    .bind(shop)
    .bind(id)
    .fetch_optional(tx)
    .await?;
    let Some(r) = row else { return Ok(None) };
    let skus = skus_of(tx, id).await?;
    Ok(Some(Product {
        id: get_str(&r, "id")?,
        shop_id: get_str(&r, "shop_id")?,
        name: get_str(&r, "name")?,
        tags: get_json(&r, "tags")?,
        skus,
        created_at: get_i64(&r, "created_at")?,
    }))
}

pub async fn list_products(
    tx: &mut Tx,
    shop: &str,
    after: Option<&str>,
    limit: i64,
) -> Result<Vec<Product>> {
    let ids: Vec<String> =
        query("SELECT id FROM products WHERE shop_id = $1 AND id > $2 ORDER BY id LIMIT $3")
            .bind(shop)
            .bind(after.unwrap_or(""))
            .bind(limit)
            .fetch_all(tx)
            .await?
            .iter()
            .map(|r| get_str(r, "id"))
            .collect::<Result<_>>()?;
    let mut out = Vec::with_capacity(ids.len());
    for id in ids {
        if let Some(p) = get_product(tx, shop, &id).await? {
            out.push(p);
        }
    }
    Ok(out)
}

/// A SKU with its product's name and tags, as checkout needs it.
#[derive(Clone, Debug)]
pub struct SkuInfo {
    pub sku: Sku,
    pub product_id: String,
    pub product_name: String,
    pub tags: Vec<String>,
}

pub async fn get_sku(tx: &mut Tx, shop: &str, sku: &str) -> Result<Option<SkuInfo>> {
    let row = query(
        "SELECT s.id, s.name, s.price, s.stock, s.product_id, p.name AS pname, p.tags FROM skus s \
         JOIN products p ON p.id = s.product_id WHERE s.shop_id = $1 AND s.id = $2",
    )
    .bind(shop)
    .bind(sku)
    .fetch_optional(tx)
    .await?;
    row.map(|r| {
        Ok(SkuInfo {
            sku: Sku {
                id: get_str(&r, "id")?,
                name: get_str(&r, "name")?,
                price: get_i64(&r, "price")?,
                stock: get_i64(&r, "stock")?,
            },
            product_id: get_str(&r, "product_id")?,
            product_name: get_str(&r, "pname")?,
            tags: get_json(&r, "tags")?,
        })
    })
    .transpose()
}

/// Takes `qty` units if that many are left, in one conditional update: the last unit is
/// taken once however many buyers race for it.
pub async fn take_stock(tx: &mut Tx, shop: &str, sku: &str, qty: i64) -> Result<bool> {
    let r =
        query("UPDATE skus SET stock = stock - $3 WHERE shop_id = $1 AND id = $2 AND stock >= $3")
            .bind(shop)
            .bind(sku)
            .bind(qty)
            .execute(tx)
            .await?;
    Ok(r.rows_affected() == 1)
}

pub async fn return_stock(tx: &mut Tx, shop: &str, sku: &str, qty: i64) -> Result<()> {
    query("UPDATE skus SET stock = stock + $3 WHERE shop_id = $1 AND id = $2")
        .bind(shop)
        .bind(sku)
        .bind(qty)
        .execute(tx)
        .await?;
    Ok(())
}

pub async fn set_sku(
    tx: &mut Tx,
    shop: &str,
    sku: &str,
    price: Option<i64>,
    stock: Option<i64>,
) -> Result<bool> {
    let r = query("UPDATE skus SET price = COALESCE($3, price), stock = COALESCE($4, stock) WHERE shop_id = $1 AND id = $2")
        .bind(shop)
        .bind(sku)
        .bind(price)
        .bind(stock)
        .execute(tx)
        .await?;
    Ok(r.rows_affected() == 1)
}
