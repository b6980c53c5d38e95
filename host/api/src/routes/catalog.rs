//! The minimal catalog orders need: products with SKUs, price and stock.

use crate::routes::{Page, limit};
use crate::{ApiError, AppState, Auth, Body, Path, Query};
use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use baseplate_core::shops::{NewProduct, NewSku};
use baseplate_store::catalog::Product;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(list_products, create_product))
        .routes(routes!(get_product))
        .routes(routes!(update_sku))
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateProduct {
    #[schema(min_length = 1, max_length = 200, pattern = r"\S")]
    name: String,
    #[serde(default)]
    tags: Vec<String>,
    #[schema(min_items = 1, max_items = 100)]
    skus: Vec<CreateSku>,
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateSku {
    #[serde(default = "default_sku_name")]
    #[schema(min_length = 1, max_length = 100, pattern = r"\S", default = "default")]
    name: String,
    /// Minor units (分).
    #[schema(minimum = 0, maximum = 10_000_000_000_i64)]
    price: i64,
    #[schema(minimum = 0, maximum = 1_000_000_000)]
    stock: i64,
}

fn default_sku_name() -> String {
    "default".into()
}

/// Create a product with its SKUs
#[utoipa::path(post, path = "/api/v1/products", tag = "catalog",
    security(("bearer" = [])),
    request_body = CreateProduct,
    responses((status = 201, description = "The product with its SKUs' ids", body = Product)))]
async fn create_product(
    State(s): State<AppState>,
    auth: Auth,
    Body(b): Body<CreateProduct>,
) -> Result<(StatusCode, Json<Product>), ApiError> {
    let (shop, _) = auth.staff()?;
    let p = NewProduct {
        name: b.name,
        tags: b.tags,
        skus: b
            .skus
            .into_iter()
            .map(|k| NewSku {
                name: k.name,
                price: k.price,
                stock: k.stock,
            })
            .collect(),
    };
    Ok((
        StatusCode::CREATED,
        Json(s.platform.create_product(shop, p).await?),
    ))
}

#[derive(Serialize, ToSchema)]
pub struct ProductList {
    products: Vec<Product>,
}

/// List products
#[utoipa::path(get, path = "/api/v1/products", tag = "catalog",
    security(("bearer" = [])),
    params(Page),
    responses((status = 200, description = "A page of products", body = ProductList)))]
async fn list_products(
    State(s): State<AppState>,
    auth: Auth,
    Query(p): Query<Page>,
) -> Result<Json<ProductList>, ApiError> {
    let products = s
        .platform
        .list_products(auth.shop()?, p.after.as_deref(), limit(p.limit)?)
        .await?;
    Ok(Json(ProductList { products }))
}

/// One product
#[utoipa::path(get, path = "/api/v1/products/{id}", tag = "catalog",
    security(("bearer" = [])),
    params(("id" = String, Path, description = "The product's id")),
    responses(
        (status = 200, description = "The product", body = Product),
        (status = 404, description = "No such product in this shop"),
    ))]
async fn get_product(
    State(s): State<AppState>,
    auth: Auth,
    Path(id): Path<String>,
) -> Result<Json<Product>, ApiError> {
    Ok(Json(s.platform.get_product(auth.shop()?, &id).await?))
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct UpdateSku {
    /// Minor units (分).
    #[schema(minimum = 0)]
    price: Option<i64>,
    #[schema(minimum = 0)]
    stock: Option<i64>,
}

/// Change a SKU's price or stock
#[utoipa::path(patch, path = "/api/v1/skus/{id}", tag = "catalog",
    security(("bearer" = [])),
    params(("id" = String, Path, description = "The SKU's id")),
    request_body = UpdateSku,
    responses(
        (status = 204, description = "Changed"),
        (status = 404, description = "No such SKU in this shop"),
    ))]
async fn update_sku(
    State(s): State<AppState>,
    auth: Auth,
    Path(id): Path<String>,
    Body(b): Body<UpdateSku>,
) -> Result<StatusCode, ApiError> {
    let (shop, _) = auth.staff()?;
    s.platform.update_sku(shop, &id, b.price, b.stock).await?;
    Ok(StatusCode::NO_CONTENT)
}
