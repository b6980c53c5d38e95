//! Checkout and orders: price a cart, create an order (idempotent by key), read, list,
//! cancel and complete. A member sees only their own orders.

use crate::routes::limit;
use crate::{ApiError, AppState, Auth, Body, BodyWithBytes, Path, Query};
use axum::Json;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use baseplate_core::checkout::{CheckoutRequest, LineRequest, Quote};
use baseplate_core::shops::Principal;
use baseplate_domain::{OrderStatus, PricedLine};
use baseplate_store::orders::Order;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use utoipa::{IntoParams, ToSchema};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(quote))
        .routes(routes!(list_orders, create_order))
        .routes(routes!(get_order))
        .routes(routes!(cancel_order))
        .routes(routes!(complete_order))
}

/// A cart: lines, and what the buyer passes to each plugin.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CheckoutBody {
    /// The buyer, when staff check out for one (a member token always acts for itself).
    member_id: Option<String>,
    #[schema(min_items = 1, max_items = 100)]
    lines: Vec<CheckoutLine>,
    /// Input per installed plugin, by plugin name (e.g. `{"coupons": {"coupon_ids": […]}}`);
    /// a plugin that is not installed and enabled is a 422.
    #[serde(default)]
    plugins: BTreeMap<String, serde_json::Value>,
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CheckoutLine {
    sku_id: String,
    #[schema(minimum = 1, maximum = 999)]
    quantity: u32,
}

fn checkout_request(auth: &Auth, b: CheckoutBody) -> Result<CheckoutRequest, ApiError> {
    let member_id = auth.acting_member(b.member_id.as_deref())?;
    Ok(CheckoutRequest {
        member_id,
        lines: b
            .lines
            .into_iter()
            .map(|l| LineRequest {
                sku_id: l.sku_id,
                quantity: l.quantity,
            })
            .collect(),
        plugins: b.plugins,
    })
}

/// A priced cart: every line with each plugin's adjustment, and the totals.
#[derive(Serialize, ToSchema)]
pub struct QuoteBody {
    currency: String,
    lines: Vec<PricedLine>,
    original_amount: i64,
    discount: i64,
    payable_amount: i64,
}

impl From<Quote> for QuoteBody {
    fn from(q: Quote) -> Self {
        QuoteBody {
            currency: q.currency,
            lines: q.lines,
            original_amount: q.original_amount,
            discount: q.discount,
            payable_amount: q.payable_amount,
        }
    }
}

/// Price a cart through the shop's plugins without ordering
#[utoipa::path(post, path = "/api/v1/checkout/quote", tag = "orders",
    security(("bearer" = [])),
    request_body = CheckoutBody,
    responses(
        (status = 200, description = "The priced cart", body = QuoteBody),
        (status = 404, description = "A SKU or plugin input names something not in this shop"),
        (status = 409, description = "A plugin found the cart in conflict with its state"),
        (status = 424, description = "A plugin the cart needs failed"),
    ))]
async fn quote(
    State(s): State<AppState>,
    auth: Auth,
    Body(b): Body<CheckoutBody>,
) -> Result<Json<QuoteBody>, ApiError> {
    let shop = auth.shop()?.to_string();
    let req = checkout_request(&auth, b)?;
    Ok(Json(s.platform.quote(&shop, req).await?.into()))
}

/// Check out: create an order (Idempotency-Key supported)
///
/// `Idempotency-Key` makes retries safe: the same key and body return the first order;
/// the same key with another body is a 409.
#[utoipa::path(post, path = "/api/v1/orders", tag = "orders",
    security(("bearer" = [])),
    params(("Idempotency-Key" = Option<String>, Header,
        description = "1..=128 visible ASCII characters; a retry with the same key and body returns the first order")),
    request_body = CheckoutBody,
    responses(
        (status = 201, description = "The order, with per-line adjustments", body = Order),
        (status = 404, description = "A SKU or plugin input names something not in this shop"),
        (status = 409, description = "Sold out, a plugin conflict, or the key was used with another body"),
        (status = 424, description = "A plugin the checkout needs failed"),
    ))]
async fn create_order(
    State(s): State<AppState>,
    auth: Auth,
    headers: HeaderMap,
    BodyWithBytes(b, body): BodyWithBytes<CheckoutBody>,
) -> Result<Response, ApiError> {
    let shop = auth.shop()?.to_string();
    let key = match headers.get("idempotency-key") {
        None => None,
        Some(v) => {
            let k = v
                .to_str()
                .ok()
                .filter(|k| !k.is_empty() && k.len() <= 128)
                .ok_or_else(|| {
                    ApiError::invalid("Idempotency-Key must be 1..=128 visible ASCII characters")
                })?;
            Some(k.to_string())
        }
    };
    let req = checkout_request(&auth, b)?;
    let idem = key.map(|k| {
        use sha2::Digest;
        // The acting member is part of the request: one key can't be replayed for another buyer.
        let mut h = sha2::Sha256::new();
        h.update(req.member_id.as_deref().unwrap_or("").as_bytes());
        h.update([0]);
        h.update(&body);
        baseplate_core::checkout::Idempotency {
            key: k,
            request_hash: hex::encode(h.finalize()),
            // Keys are scoped per caller, as Stripe scopes them per API key.
            caller: match &auth.0 {
                Principal::Member { member_id, .. } => format!("member:{member_id}"),
                Principal::Staff { key_id, .. } => format!("staff:{key_id}"),
                Principal::Operator { key_id } => format!("operator:{key_id}"),
                Principal::Developer { key_id, .. } => format!("developer:{key_id}"),
            },
        }
    });
    // Core answers with the stored JSON of the order (the first one, on a replay).
    let (status, body) = s.platform.checkout(&shop, req, idem).await?;
    let status = StatusCode::from_u16(status).unwrap_or(StatusCode::CREATED);
    Ok((status, [(header::CONTENT_TYPE, "application/json")], body).into_response())
}

/// A member sees only their own orders.
pub(crate) async fn own_order_check(
    s: &AppState,
    auth: &Auth,
    shop: &str,
    id: &str,
) -> Result<Order, ApiError> {
    let order = s.platform.get_order(shop, id).await?;
    if let Some(m) = auth.member_id()
        && order.member_id.as_deref() != Some(m)
    {
        return Err(ApiError::not_found(format!("order {id} not found")));
    }
    Ok(order)
}

/// One order with its lines and adjustments
#[utoipa::path(get, path = "/api/v1/orders/{id}", tag = "orders",
    security(("bearer" = [])),
    params(("id" = String, Path, description = "The order's id")),
    responses(
        (status = 200, description = "The order", body = Order),
        (status = 404, description = "No such order in this shop (or not the member's)"),
    ))]
async fn get_order(
    State(s): State<AppState>,
    auth: Auth,
    Path(id): Path<String>,
) -> Result<Json<Order>, ApiError> {
    let shop = auth.shop()?.to_string();
    Ok(Json(own_order_check(&s, &auth, &shop, &id).await?))
}

#[derive(Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct OrderQuery {
    /// Only this member's orders (staff); a member token always sees its own.
    member_id: Option<String>,
    /// Only orders in this status.
    #[param(inline)]
    status: Option<OrderStatus>,
    /// Orders older than this order id (the last id of the previous page).
    before: Option<String>,
    /// Page size, 1..=200 (default 50).
    #[param(minimum = 1, maximum = 200)]
    limit: Option<i64>,
}

#[derive(Serialize, ToSchema)]
pub struct OrderList {
    orders: Vec<Order>,
}

/// List orders (a member sees their own)
#[utoipa::path(get, path = "/api/v1/orders", tag = "orders",
    security(("bearer" = [])),
    params(OrderQuery),
    responses((status = 200, description = "Newest first", body = OrderList)))]
async fn list_orders(
    State(s): State<AppState>,
    auth: Auth,
    Query(q): Query<OrderQuery>,
) -> Result<Json<OrderList>, ApiError> {
    let shop = auth.shop()?.to_string();
    let member = match auth.member_id() {
        Some(m) => Some(m.to_string()),
        None => q.member_id.clone(),
    };
    let orders = s
        .platform
        .list_orders(
            &shop,
            member.as_deref(),
            q.status,
            q.before.as_deref(),
            limit(q.limit)?,
        )
        .await?;
    Ok(Json(OrderList { orders }))
}

/// Cancel an order (unpaid: close; paid: full refund)
#[utoipa::path(post, path = "/api/v1/orders/{id}/cancel", tag = "orders",
    security(("bearer" = [])),
    params(("id" = String, Path, description = "The order's id")),
    responses(
        (status = 200, description = "The order as cancelled", body = Order),
        (status = 404, description = "No such order in this shop (or not the member's)"),
        (status = 409, description = "The order can't be cancelled now (or a member asks for a paid one)"),
        (status = 424, description = "A plugin the cancellation needs failed"),
    ))]
async fn cancel_order(
    State(s): State<AppState>,
    auth: Auth,
    Path(id): Path<String>,
) -> Result<Json<Order>, ApiError> {
    let shop = auth.shop()?.to_string();
    let order = own_order_check(&s, &auth, &shop, &id).await?;
    if auth.member_id().is_some()
        && order.status != OrderStatus::PendingPayment
        && order.status != OrderStatus::Closed
    {
        return Err(ApiError::new(
            StatusCode::CONFLICT,
            crate::ErrorCode::Conflict,
            "a paid order is cancelled through the shop (a refund); ask the merchant",
        ));
    }
    Ok(Json(s.platform.cancel_order(&shop, &id).await?))
}

/// Mark a shipped order completed
#[utoipa::path(post, path = "/api/v1/orders/{id}/complete", tag = "orders",
    security(("bearer" = [])),
    params(("id" = String, Path, description = "The order's id")),
    responses(
        (status = 200, description = "The order as completed", body = Order),
        (status = 404, description = "No such order in this shop"),
        (status = 409, description = "The order is not to be shipped"),
        (status = 424, description = "A plugin reacting to completion failed"),
    ))]
async fn complete_order(
    State(s): State<AppState>,
    auth: Auth,
    Path(id): Path<String>,
) -> Result<Json<Order>, ApiError> {
    let (shop, _) = auth.staff()?;
    Ok(Json(s.platform.complete_order(shop, &id).await?))
}
