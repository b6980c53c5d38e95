//! Shops and their API keys.

use crate::{ApiError, AppState, Auth, Body, Path};
use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use baseplate_core::shops::NewShop;
use baseplate_store::keys::ApiKey;
use baseplate_store::shops::Shop;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(create_shop))
        .routes(routes!(get_shop, update_shop))
        .routes(routes!(list_keys, create_key))
        .routes(routes!(revoke_key))
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateShop {
    /// The shop's name, 1..=100 characters, not all blank.
    #[schema(min_length = 1, max_length = 100, pattern = r"\S")]
    name: String,
    /// ISO 4217 code.
    #[serde(default = "default_currency")]
    #[schema(pattern = "^[A-Z]{3}$", default = "CNY")]
    currency: String,
    /// Unpaid orders close after this many seconds.
    #[serde(default = "default_timeout")]
    #[schema(minimum = 60, maximum = 604800, default = 1800)]
    payment_timeout_secs: i64,
}

fn default_currency() -> String {
    "CNY".into()
}

fn default_timeout() -> i64 {
    1800
}

/// A new shop and its owner key; the token is shown only here.
#[derive(Serialize, ToSchema)]
pub struct ShopCreated {
    shop: Shop,
    owner_key: NewKeyToken,
}

#[derive(Serialize, ToSchema)]
pub struct NewKeyToken {
    id: String,
    /// The bearer token (`bp_sk_…`), shown once.
    token: String,
}

/// Open a shop; returns the owner key once
///
/// Anyone may open a shop (as on Shopify or Youzan).
#[utoipa::path(post, path = "/api/v1/shops", tag = "shops",
    request_body = CreateShop,
    responses((status = 201, description = "The shop and its owner key", body = ShopCreated)))]
async fn create_shop(
    State(s): State<AppState>,
    Body(b): Body<CreateShop>,
) -> Result<(StatusCode, Json<ShopCreated>), ApiError> {
    let (shop, key, token) = s
        .platform
        .create_shop(NewShop {
            name: b.name,
            currency: b.currency,
            payment_timeout_secs: b.payment_timeout_secs,
        })
        .await?;
    Ok((
        StatusCode::CREATED,
        Json(ShopCreated {
            shop,
            owner_key: NewKeyToken { id: key.id, token },
        }),
    ))
}

/// The caller's shop
#[utoipa::path(get, path = "/api/v1/shop", tag = "shops",
    security(("bearer" = [])),
    responses(
        (status = 200, description = "The shop", body = Shop),
        (status = 404, description = "The shop is gone"),
    ))]
async fn get_shop(State(s): State<AppState>, auth: Auth) -> Result<Json<Shop>, ApiError> {
    let (shop, _) = auth.staff()?;
    Ok(Json(s.platform.get_shop(shop).await?))
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct UpdateShop {
    #[schema(min_length = 1, max_length = 100, pattern = r"\S")]
    name: Option<String>,
    #[schema(minimum = 60, maximum = 604800)]
    payment_timeout_secs: Option<i64>,
}

/// Rename the shop or change its payment timeout
#[utoipa::path(patch, path = "/api/v1/shop", tag = "shops",
    security(("bearer" = [])),
    request_body = UpdateShop,
    responses(
        (status = 200, description = "The shop as changed", body = Shop),
        (status = 404, description = "The shop is gone"),
    ))]
async fn update_shop(
    State(s): State<AppState>,
    auth: Auth,
    Body(b): Body<UpdateShop>,
) -> Result<Json<Shop>, ApiError> {
    let shop = auth.owner()?;
    Ok(Json(
        s.platform
            .update_shop(shop, b.name, b.payment_timeout_secs)
            .await?,
    ))
}

#[derive(Clone, Copy, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum KeyRole {
    Owner,
    Staff,
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateKey {
    #[schema(min_length = 1, max_length = 100, pattern = r"\S")]
    name: String,
    #[serde(default = "default_role")]
    #[schema(default = "staff")]
    role: KeyRole,
}

fn default_role() -> KeyRole {
    KeyRole::Staff
}

/// A new key; its token is shown only here.
#[derive(Serialize, ToSchema)]
pub struct KeyCreated {
    key: ApiKey,
    token: String,
}

/// Create a staff or owner key; returns its token once
#[utoipa::path(post, path = "/api/v1/keys", tag = "shops",
    security(("bearer" = [])),
    request_body = CreateKey,
    responses((status = 201, description = "The key and its token", body = KeyCreated)))]
async fn create_key(
    State(s): State<AppState>,
    auth: Auth,
    Body(b): Body<CreateKey>,
) -> Result<(StatusCode, Json<KeyCreated>), ApiError> {
    let shop = auth.owner()?;
    let role = match b.role {
        KeyRole::Owner => "owner",
        KeyRole::Staff => "staff",
    };
    let (key, token) = s.platform.create_key(shop, &b.name, role).await?;
    Ok((StatusCode::CREATED, Json(KeyCreated { key, token })))
}

#[derive(Serialize, ToSchema)]
pub struct KeyList {
    keys: Vec<ApiKey>,
}

/// List the shop's API keys
#[utoipa::path(get, path = "/api/v1/keys", tag = "shops",
    security(("bearer" = [])),
    responses((status = 200, description = "Every key, revoked ones included", body = KeyList)))]
async fn list_keys(State(s): State<AppState>, auth: Auth) -> Result<Json<KeyList>, ApiError> {
    Ok(Json(KeyList {
        keys: s.platform.list_keys(auth.owner()?).await?,
    }))
}

/// Revoke a key
#[utoipa::path(delete, path = "/api/v1/keys/{id}", tag = "shops",
    security(("bearer" = [])),
    params(("id" = String, Path, description = "The key's id")),
    responses(
        (status = 204, description = "Revoked"),
        (status = 404, description = "No such key in this shop"),
    ))]
async fn revoke_key(
    State(s): State<AppState>,
    auth: Auth,
    Path(id): Path<String>,
) -> Result<StatusCode, ApiError> {
    s.platform.revoke_key(auth.owner()?, &id).await?;
    Ok(StatusCode::NO_CONTENT)
}
