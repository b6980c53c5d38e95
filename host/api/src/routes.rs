//! Handlers, one group per resource. Every shop-scoped query takes the shop from the
//! caller's token, so another shop's ids answer 404.

use crate::{ApiError, AppState, Auth, Body, RawBody};
use axum::Json;
use axum::Router;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{delete, get, post, put};
use baseplate_core::checkout::{CheckoutRequest, LineRequest};
use baseplate_core::payments::RefundRequest;
use baseplate_core::plugins::{InstallRequest, Installed};
use baseplate_core::shops::{NewMember, NewProduct, NewShop, NewSku, Principal};
use baseplate_domain::{OrderStatus, Party};
use baseplate_store::payments::RefundLine;
use serde::Deserialize;
use serde_json::{Value, json};
use std::collections::BTreeMap;

type R = Result<Response, ApiError>;

fn ok<T: serde::Serialize>(v: T) -> R {
    Ok(Json(v).into_response())
}

fn created<T: serde::Serialize>(v: T) -> R {
    Ok((StatusCode::CREATED, Json(v)).into_response())
}

pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/api/v1/shops", post(create_shop))
        .route("/api/v1/shop", get(get_shop).patch(update_shop))
        .route("/api/v1/keys", get(list_keys).post(create_key))
        .route("/api/v1/keys/{id}", delete(revoke_key))
        .route("/api/v1/shops/{shop_id}/join", post(join_shop))
        .route("/api/v1/members", get(list_members).post(create_member))
        .route("/api/v1/members/{id}", get(get_member).patch(update_member))
        .route("/api/v1/me", get(me))
        .route("/api/v1/products", get(list_products).post(create_product))
        .route("/api/v1/products/{id}", get(get_product))
        .route("/api/v1/skus/{id}", axum::routing::patch(update_sku))
        .route("/api/v1/checkout/quote", post(quote))
        .route("/api/v1/orders", get(list_orders).post(create_order))
        .route("/api/v1/orders/{id}", get(get_order))
        .route("/api/v1/orders/{id}/cancel", post(cancel_order))
        .route("/api/v1/orders/{id}/complete", post(complete_order))
        .route("/api/v1/orders/{id}/payments", post(create_payment))
        .route(
            "/api/v1/orders/{id}/refunds",
            get(list_refunds).post(create_refund),
        )
        .route("/api/v1/sandbox/payments/{id}/pay", post(sandbox_pay))
        .route("/api/v1/payments/callbacks/sandbox", post(payment_callback))
        .route("/api/v1/ledger", get(get_ledger))
        .route("/api/v1/ledger/balance", get(get_balance))
        .route("/api/v1/marketplace/plugins", get(marketplace))
        .route("/api/v1/plugins", get(list_plugins).post(install_plugin))
        .route("/api/v1/plugins/{name}", delete(uninstall_plugin))
        .route("/api/v1/plugins/{name}/config", put(configure_plugin))
        .route("/api/v1/plugins/{name}/enable", post(enable_plugin))
        .route("/api/v1/plugins/{name}/disable", post(disable_plugin))
        .route("/api/v1/plugins/{name}/rollback", post(rollback_plugin))
        .route("/api/v1/plugins/{name}/health", get(plugin_health))
        .route(
            "/api/v1/plugins/{name}/actions/{action}",
            post(plugin_action),
        )
        .route("/api/v1/events", get(list_events))
        .route(
            "/api/v1/events/{event_id}/{plugin}/retry",
            post(retry_event),
        )
}

// ---- shops and keys -------------------------------------------------------------------

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct CreateShop {
    name: String,
    #[serde(default = "default_currency")]
    currency: String,
    #[serde(default = "default_timeout")]
    payment_timeout_secs: i64,
}

fn default_currency() -> String {
    "CNY".into()
}

fn default_timeout() -> i64 {
    1800
}

/// Anyone may open a shop (as on Shopify or Youzan); the owner key is shown once.
async fn create_shop(State(s): State<AppState>, Body(b): Body<CreateShop>) -> R {
    let (shop, key, token) = s
        .platform
        .create_shop(NewShop {
            name: b.name,
            currency: b.currency,
            payment_timeout_secs: b.payment_timeout_secs,
        })
        .await?;
    created(json!({ "shop": shop, "owner_key": { "id": key.id, "token": token } }))
}

async fn get_shop(State(s): State<AppState>, auth: Auth) -> R {
    let (shop, _) = auth.staff()?;
    ok(s.platform.get_shop(shop).await?)
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct UpdateShop {
    name: Option<String>,
    payment_timeout_secs: Option<i64>,
}

async fn update_shop(State(s): State<AppState>, auth: Auth, Body(b): Body<UpdateShop>) -> R {
    let shop = auth.owner()?;
    ok(s.platform
        .update_shop(shop, b.name, b.payment_timeout_secs)
        .await?)
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct CreateKey {
    name: String,
    #[serde(default = "default_role")]
    role: String,
}

fn default_role() -> String {
    "staff".into()
}

async fn create_key(State(s): State<AppState>, auth: Auth, Body(b): Body<CreateKey>) -> R {
    let shop = auth.owner()?;
    let (key, token) = s.platform.create_key(shop, &b.name, &b.role).await?;
    created(json!({ "key": key, "token": token }))
}

async fn list_keys(State(s): State<AppState>, auth: Auth) -> R {
    ok(json!({ "keys": s.platform.list_keys(auth.owner()?).await? }))
}

async fn revoke_key(State(s): State<AppState>, auth: Auth, Path(id): Path<String>) -> R {
    s.platform.revoke_key(auth.owner()?, &id).await?;
    Ok(StatusCode::NO_CONTENT.into_response())
}

// ---- members ----------------------------------------------------------------------------

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct JoinBody {
    name: String,
    phone: Option<String>,
    inviter_id: Option<String>,
    #[serde(default)]
    tags: Vec<String>,
}

/// A buyer joins a shop (from its mini-program or a share link) and gets a member token.
async fn join_shop(
    State(s): State<AppState>,
    Path(shop): Path<String>,
    Body(b): Body<JoinBody>,
) -> R {
    let (member, token) = s
        .platform
        .join(
            &shop,
            NewMember {
                name: b.name,
                phone: b.phone,
                inviter_id: b.inviter_id,
                tags: b.tags,
            },
        )
        .await?;
    created(json!({ "member": member, "token": token }))
}

async fn create_member(State(s): State<AppState>, auth: Auth, Body(b): Body<JoinBody>) -> R {
    let (shop, _) = auth.staff()?;
    let (member, token) = s
        .platform
        .join(
            shop,
            NewMember {
                name: b.name,
                phone: b.phone,
                inviter_id: b.inviter_id,
                tags: b.tags,
            },
        )
        .await?;
    created(json!({ "member": member, "token": token }))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Page {
    after: Option<String>,
    limit: Option<i64>,
}

fn limit(l: Option<i64>) -> Result<i64, ApiError> {
    match l {
        None => Ok(50),
        Some(l) if (1..=200).contains(&l) => Ok(l),
        Some(_) => Err(ApiError::invalid("limit must be 1..=200")),
    }
}

async fn list_members(State(s): State<AppState>, auth: Auth, Query(p): Query<Page>) -> R {
    let (shop, _) = auth.staff()?;
    ok(
        json!({ "members": s.platform.list_members(shop, p.after.as_deref(), limit(p.limit)?).await? }),
    )
}

async fn get_member(State(s): State<AppState>, auth: Auth, Path(id): Path<String>) -> R {
    let (shop, _) = auth.staff()?;
    ok(s.platform.get_member(shop, &id).await?)
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct UpdateMember {
    level: Option<i64>,
    points: Option<i64>,
    tags: Option<Vec<String>>,
}

async fn update_member(
    State(s): State<AppState>,
    auth: Auth,
    Path(id): Path<String>,
    Body(b): Body<UpdateMember>,
) -> R {
    let (shop, _) = auth.staff()?;
    ok(s.platform
        .update_member(shop, &id, b.level, b.points, b.tags)
        .await?)
}

async fn me(State(s): State<AppState>, auth: Auth) -> R {
    let shop = auth.shop()?;
    let id = auth
        .member_id()
        .ok_or_else(|| ApiError::forbidden("this route needs a member token"))?;
    ok(s.platform.get_member(shop, id).await?)
}

// ---- catalog ----------------------------------------------------------------------------

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct CreateProduct {
    name: String,
    #[serde(default)]
    tags: Vec<String>,
    skus: Vec<CreateSku>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct CreateSku {
    #[serde(default = "default_sku_name")]
    name: String,
    price: i64,
    stock: i64,
}

fn default_sku_name() -> String {
    "default".into()
}

async fn create_product(State(s): State<AppState>, auth: Auth, Body(b): Body<CreateProduct>) -> R {
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
    created(s.platform.create_product(shop, p).await?)
}

async fn list_products(State(s): State<AppState>, auth: Auth, Query(p): Query<Page>) -> R {
    ok(
        json!({ "products": s.platform.list_products(auth.shop()?, p.after.as_deref(), limit(p.limit)?).await? }),
    )
}

async fn get_product(State(s): State<AppState>, auth: Auth, Path(id): Path<String>) -> R {
    ok(s.platform.get_product(auth.shop()?, &id).await?)
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct UpdateSku {
    price: Option<i64>,
    stock: Option<i64>,
}

async fn update_sku(
    State(s): State<AppState>,
    auth: Auth,
    Path(id): Path<String>,
    Body(b): Body<UpdateSku>,
) -> R {
    let (shop, _) = auth.staff()?;
    s.platform.update_sku(shop, &id, b.price, b.stock).await?;
    Ok(StatusCode::NO_CONTENT.into_response())
}

// ---- checkout and orders --------------------------------------------------------------

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct CheckoutBody {
    member_id: Option<String>,
    lines: Vec<CheckoutLine>,
    #[serde(default)]
    plugins: BTreeMap<String, Value>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct CheckoutLine {
    sku_id: String,
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

async fn quote(State(s): State<AppState>, auth: Auth, Body(b): Body<CheckoutBody>) -> R {
    let shop = auth.shop()?.to_string();
    let req = checkout_request(&auth, b)?;
    ok(s.platform.quote(&shop, req).await?)
}

/// Creates an order. `Idempotency-Key` makes retries safe: the same key and body return
/// the first order; the same key with another body is a 409.
async fn create_order(
    State(s): State<AppState>,
    auth: Auth,
    headers: HeaderMap,
    RawBody(body): RawBody,
) -> R {
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
    let b: CheckoutBody = parse_body(&body)?;
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
    let (status, body) = s.platform.checkout(&shop, req, idem).await?;
    let status = StatusCode::from_u16(status).unwrap_or(StatusCode::CREATED);
    Ok((
        status,
        [(axum::http::header::CONTENT_TYPE, "application/json")],
        body,
    )
        .into_response())
}

fn parse_body<T: serde::de::DeserializeOwned>(bytes: &[u8]) -> Result<T, ApiError> {
    let de = &mut serde_json::Deserializer::from_slice(bytes);
    serde_path_to_error::deserialize(de).map_err(|e| {
        let path = e.path().to_string();
        let inner = e.into_inner();
        if inner.is_syntax() || inner.is_eof() {
            ApiError::new(
                StatusCode::BAD_REQUEST,
                "malformed_json",
                format!("malformed JSON: {inner}"),
            )
        } else {
            ApiError::invalid(if path == "." {
                inner.to_string()
            } else {
                format!("{path}: {inner}")
            })
        }
    })
}

/// A member sees only their own orders.
async fn own_order_check(
    s: &AppState,
    auth: &Auth,
    shop: &str,
    id: &str,
) -> Result<baseplate_store::orders::Order, ApiError> {
    let order = s.platform.get_order(shop, id).await?;
    if let Some(m) = auth.member_id()
        && order.member_id.as_deref() != Some(m)
    {
        return Err(ApiError::new(
            StatusCode::NOT_FOUND,
            "not_found",
            format!("order {id} not found"),
        ));
    }
    Ok(order)
}

async fn get_order(State(s): State<AppState>, auth: Auth, Path(id): Path<String>) -> R {
    let shop = auth.shop()?.to_string();
    ok(own_order_check(&s, &auth, &shop, &id).await?)
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct OrderQuery {
    member_id: Option<String>,
    status: Option<String>,
    before: Option<String>,
    limit: Option<i64>,
}

async fn list_orders(State(s): State<AppState>, auth: Auth, Query(q): Query<OrderQuery>) -> R {
    let shop = auth.shop()?.to_string();
    let member = match auth.member_id() {
        Some(m) => Some(m.to_string()),
        None => q.member_id.clone(),
    };
    let status = match &q.status {
        None => None,
        Some(st) => Some(OrderStatus::parse(st).ok_or_else(|| {
            ApiError::invalid("status must be one of pending_payment, awaiting_confirmation, to_ship, completed, closed")
        })?),
    };
    let orders = s
        .platform
        .list_orders(
            &shop,
            member.as_deref(),
            status,
            q.before.as_deref(),
            limit(q.limit)?,
        )
        .await?;
    ok(json!({ "orders": orders }))
}

async fn cancel_order(State(s): State<AppState>, auth: Auth, Path(id): Path<String>) -> R {
    let shop = auth.shop()?.to_string();
    let order = own_order_check(&s, &auth, &shop, &id).await?;
    if auth.member_id().is_some()
        && order.status != OrderStatus::PendingPayment
        && order.status != OrderStatus::Closed
    {
        return Err(ApiError::new(
            StatusCode::CONFLICT,
            "conflict",
            "a paid order is cancelled through the shop (a refund); ask the merchant",
        ));
    }
    ok(s.platform.cancel_order(&shop, &id).await?)
}

async fn complete_order(State(s): State<AppState>, auth: Auth, Path(id): Path<String>) -> R {
    let (shop, _) = auth.staff()?;
    ok(s.platform.complete_order(shop, &id).await?)
}

// ---- payments ------------------------------------------------------------------------

async fn create_payment(State(s): State<AppState>, auth: Auth, Path(id): Path<String>) -> R {
    let shop = auth.shop()?.to_string();
    own_order_check(&s, &auth, &shop, &id).await?;
    let p = s.platform.create_payment(&shop, &id).await?;
    let pay_url = format!("/api/v1/sandbox/payments/{}/pay", p.id);
    created(json!({ "payment": p, "pay_url": pay_url }))
}

/// The sandbox provider's checkout page: the buyer pays, and the provider sends the
/// platform its signed callback (the same verification path as an external callback).
async fn sandbox_pay(State(s): State<AppState>, auth: Auth, Path(id): Path<String>) -> R {
    let shop = auth.shop()?.to_string();
    // A member pays only their own orders' intents.
    let (ts, sig, body) = s.platform.sandbox_pay(&shop, &id, auth.member_id()).await?;
    let outcome = s
        .platform
        .payment_callback(&ts.to_string(), &sig, &body)
        .await?;
    ok(json!({ "callback": outcome }))
}

/// The provider's callback. Signed with HMAC-SHA256 over `timestamp.body`.
async fn payment_callback(
    State(s): State<AppState>,
    headers: HeaderMap,
    RawBody(body): RawBody,
) -> R {
    let header = |name: &str| {
        headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .map(str::to_string)
            .ok_or_else(|| {
                ApiError::new(
                    StatusCode::BAD_REQUEST,
                    "bad_request",
                    format!("missing {name} header"),
                )
            })
    };
    let ts = header("Sandbox-Timestamp")?;
    let sig = header("Sandbox-Signature")?;
    ok(s.platform.payment_callback(&ts, &sig, &body).await?)
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RefundBody {
    refund_id: String,
    amount: Option<i64>,
    #[serde(default)]
    lines: Vec<RefundLine>,
    #[serde(default)]
    reason: String,
}

async fn create_refund(
    State(s): State<AppState>,
    auth: Auth,
    Path(id): Path<String>,
    Body(b): Body<RefundBody>,
) -> R {
    let (shop, _) = auth.staff()?;
    let refund = s
        .platform
        .refund(
            shop,
            &id,
            RefundRequest {
                id: b.refund_id,
                amount: b.amount,
                lines: b.lines,
                reason: b.reason,
            },
        )
        .await?;
    created(refund)
}

async fn list_refunds(State(s): State<AppState>, auth: Auth, Path(id): Path<String>) -> R {
    let (shop, _) = auth.staff()?;
    ok(json!({ "refunds": s.platform.list_refunds(shop, &id).await? }))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct LedgerQuery {
    limit: Option<i64>,
}

async fn get_ledger(State(s): State<AppState>, auth: Auth, Query(q): Query<LedgerQuery>) -> R {
    let (shop, _) = auth.staff()?;
    let (postings, imbalance) = s.platform.ledger(shop, limit(q.limit)?).await?;
    ok(json!({ "postings": postings, "imbalance": imbalance }))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct BalanceQuery {
    /// `shop`, `platform`, `member:<id>`, `employee:<id>`, `outlet:<id>`.
    party: String,
    account: String,
}

async fn get_balance(State(s): State<AppState>, auth: Auth, Query(q): Query<BalanceQuery>) -> R {
    let shop = auth.shop()?.to_string();
    let (kind, id) = q.party.split_once(':').unwrap_or((q.party.as_str(), ""));
    let party = Party::from_db(kind, id).ok_or_else(|| {
        ApiError::invalid("party must be shop, platform, member:<id>, employee:<id> or outlet:<id>")
    })?;
    if let Some(m) = auth.member_id()
        && party != Party::Member(m.to_string())
    {
        return Err(ApiError::forbidden("a member sees only their own balances"));
    }
    let (total, available) = s.platform.balance(&shop, &party, &q.account).await?;
    ok(json!({ "party": q.party, "account": q.account, "total": total, "available": available }))
}

// ---- plugins ----------------------------------------------------------------------------

async fn marketplace(State(s): State<AppState>, _auth: Auth) -> R {
    let packages = s.platform.marketplace().await?;
    ok(json!({ "plugins": packages }))
}

fn installed_json(p: &Installed) -> Value {
    json!({
        "plugin": p.installation.plugin,
        "version": p.installation.version,
        "version_req": p.installation.version_req,
        "pinned": p.installation.pinned,
        "previous_version": p.installation.previous_version,
        "enabled": p.installation.enabled,
        "active": p.active(),
        "package_state": p.package_state.as_str(),
        "not_running_reason": Some(p.not_running_reason()).filter(|r| !r.is_empty()),
        "accepted_capabilities": p.accepted(),
        "config": serde_json::from_str::<Value>(&p.installation.config).unwrap_or(Value::Null),
        "capabilities": p.manifest.capabilities,
        "tripped_until": p.installation.tripped_until,
        "title": p.manifest.title,
    })
}

async fn list_plugins(State(s): State<AppState>, auth: Auth) -> R {
    let (shop, _) = auth.staff()?;
    let list: Vec<Value> = s
        .platform
        .list_installed(shop)
        .await?
        .iter()
        .map(installed_json)
        .collect();
    ok(json!({ "plugins": list }))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct InstallBody {
    name: String,
    #[serde(default = "any_version")]
    version: String,
    config: Option<Value>,
    /// Must equal the resolved version's capabilities (unless the shop accepted them all).
    accept_capabilities: Option<Vec<String>>,
}

fn any_version() -> String {
    "*".into()
}

async fn install_plugin(State(s): State<AppState>, auth: Auth, Body(b): Body<InstallBody>) -> R {
    let shop = auth.owner()?;
    let inst = s
        .platform
        .install(
            shop,
            InstallRequest {
                plugin: b.name.clone(),
                version_req: b.version,
                config: b.config,
                accept_capabilities: b.accept_capabilities,
            },
        )
        .await?;
    let all = s.platform.list_installed(shop).await?;
    let p = all
        .iter()
        .find(|p| p.installation.plugin == inst.plugin)
        .ok_or_else(|| ApiError::invalid("install vanished"))?;
    created(installed_json(p))
}

async fn configure_plugin(
    State(s): State<AppState>,
    auth: Auth,
    Path(name): Path<String>,
    Body(config): Body<Value>,
) -> R {
    let shop = auth.owner()?;
    s.platform.configure(shop, &name, config).await?;
    plugin_view(&s, shop, &name).await
}

async fn plugin_view(s: &AppState, shop: &str, name: &str) -> R {
    let all = s.platform.list_installed(shop).await?;
    let p = all
        .iter()
        .find(|p| p.installation.plugin == name)
        .ok_or_else(|| {
            ApiError::new(
                StatusCode::NOT_FOUND,
                "not_found",
                format!("plugin {name} is not installed"),
            )
        })?;
    ok(installed_json(p))
}

async fn enable_plugin(State(s): State<AppState>, auth: Auth, Path(name): Path<String>) -> R {
    let shop = auth.owner()?;
    s.platform.set_enabled(shop, &name, true).await?;
    plugin_view(&s, shop, &name).await
}

async fn disable_plugin(State(s): State<AppState>, auth: Auth, Path(name): Path<String>) -> R {
    let shop = auth.owner()?;
    s.platform.set_enabled(shop, &name, false).await?;
    plugin_view(&s, shop, &name).await
}

async fn rollback_plugin(State(s): State<AppState>, auth: Auth, Path(name): Path<String>) -> R {
    let shop = auth.owner()?;
    s.platform.rollback(shop, &name).await?;
    plugin_view(&s, shop, &name).await
}

async fn uninstall_plugin(State(s): State<AppState>, auth: Auth, Path(name): Path<String>) -> R {
    s.platform.uninstall(auth.owner()?, &name).await?;
    Ok(StatusCode::NO_CONTENT.into_response())
}

async fn plugin_health(State(s): State<AppState>, auth: Auth, Path(name): Path<String>) -> R {
    let (shop, _) = auth.staff()?;
    let (stats, failures) = s.platform.plugin_health(shop, Some(&name), 50).await?;
    let stats: Vec<_> = stats.into_iter().filter(|c| c.plugin == name).collect();
    let (usage, quota) = s.platform.plugin_usage(shop, &name).await?;
    let installed = s
        .platform
        .list_installed(shop)
        .await?
        .into_iter()
        .find(|p| p.name() == name);
    let running = installed.as_ref().map(|p| {
        json!({
            "version": p.installation.version,
            "package_state": p.package_state.as_str(),
            "active": p.active(),
            "not_running_reason": Some(p.not_running_reason()).filter(|r| !r.is_empty()),
        })
    });
    let inst = installed.map(|p| p.installation);
    ok(json!({
        "plugin": name,
        "installation": running,
        "calls": stats,
        "failures": failures,
        "usage": usage,
        "quota": { "state_keys": quota.state_keys, "state_bytes": quota.state_bytes, "timers": quota.timers },
        "breaker": inst.map(|i| json!({
            "tripped_until": i.tripped_until,
            "reason": i.tripped_reason,
            "trips": i.trips,
            "consecutive_failures": i.consecutive_failures,
        })),
    }))
}

/// A plugin's own action: a member acts for themselves; staff act as staff.
async fn plugin_action(
    State(s): State<AppState>,
    auth: Auth,
    Path((name, action)): Path<(String, String)>,
    RawBody(body): RawBody,
) -> R {
    let shop = auth.shop()?.to_string();
    let input: Value = if body.is_empty() {
        json!({})
    } else {
        parse_body(&body)?
    };
    let actor = match &auth.0 {
        Principal::Member { member_id, .. } => baseplate_runtime::Actor::Member(member_id.clone()),
        Principal::Staff { key_id, .. } => baseplate_runtime::Actor::Staff(key_id.clone()),
        Principal::Operator { .. } | Principal::Developer { .. } => {
            return Err(ApiError::forbidden(
                "only a shop's members and staff run its plugin actions",
            ));
        }
    };
    ok(s.platform
        .plugin_action(&shop, &name, &action, actor, input)
        .await?)
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct EventsQuery {
    status: Option<String>,
    limit: Option<i64>,
}

async fn list_events(State(s): State<AppState>, auth: Auth, Query(q): Query<EventsQuery>) -> R {
    let (shop, _) = auth.staff()?;
    if let Some(st) = &q.status
        && !matches!(st.as_str(), "pending" | "delivered" | "dead")
    {
        return Err(ApiError::invalid(
            "status must be pending, delivered or dead",
        ));
    }
    ok(
        json!({ "deliveries": s.platform.deliveries(shop, q.status.as_deref(), limit(q.limit)?).await? }),
    )
}

async fn retry_event(
    State(s): State<AppState>,
    auth: Auth,
    Path((event_id, plugin)): Path<(String, String)>,
) -> R {
    let (shop, _) = auth.staff()?;
    let delivered = s.platform.retry_delivery(shop, &event_id, &plugin).await?;
    ok(json!({ "delivered": delivered }))
}
