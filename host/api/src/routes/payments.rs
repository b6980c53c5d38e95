//! Payments through the sandbox provider (intent, the provider's pay page, its signed
//! callback) and refunds.

use crate::routes::orders::own_order_check;
use crate::{ApiError, AppState, Auth, Body, Path, RawBody};
use axum::Json;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use baseplate_core::payments::{CallbackOutcome, RefundRequest};
use baseplate_store::payments::{Payment, Refund, RefundLine};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(create_payment))
        .routes(routes!(list_refunds, create_refund))
        .routes(routes!(sandbox_pay))
        .routes(routes!(payment_callback))
}

/// A payment intent and where the buyer pays it.
#[derive(Serialize, ToSchema)]
pub struct PaymentCreated {
    payment: Payment,
    /// The sandbox provider's pay endpoint for this payment.
    pay_url: String,
}

/// Create a payment intent at the sandbox provider
#[utoipa::path(post, path = "/api/v1/orders/{id}/payments", tag = "payments",
    security(("bearer" = [])),
    params(("id" = String, Path, description = "The order's id")),
    responses(
        (status = 201, description = "The payment intent", body = PaymentCreated),
        (status = 404, description = "No such order in this shop (or not the member's)"),
        (status = 409, description = "The order is not awaiting payment"),
    ))]
async fn create_payment(
    State(s): State<AppState>,
    auth: Auth,
    Path(id): Path<String>,
) -> Result<(StatusCode, Json<PaymentCreated>), ApiError> {
    let shop = auth.shop()?.to_string();
    own_order_check(&s, &auth, &shop, &id).await?;
    let payment = s.platform.create_payment(&shop, &id).await?;
    let pay_url = format!("/api/v1/sandbox/payments/{}/pay", payment.id);
    Ok((
        StatusCode::CREATED,
        Json(PaymentCreated { payment, pay_url }),
    ))
}

/// What happened to a provider callback.
#[derive(Serialize, ToSchema)]
pub struct CallbackResult {
    /// `applied`, `duplicate`, `refunded_order_closed` or `ignored`.
    result: String,
    order_id: Option<String>,
}

impl From<CallbackOutcome> for CallbackResult {
    fn from(o: CallbackOutcome) -> Self {
        CallbackResult {
            result: o.result,
            order_id: o.order_id,
        }
    }
}

#[derive(Serialize, ToSchema)]
pub struct SandboxPaid {
    /// The outcome of the signed callback the provider sent.
    callback: CallbackResult,
}

/// Sandbox provider: the buyer pays; a signed callback follows
///
/// The sandbox provider's checkout page: the buyer pays, and the provider sends the
/// platform its signed callback (the same verification path as an external callback).
#[utoipa::path(post, path = "/api/v1/sandbox/payments/{id}/pay", tag = "payments",
    security(("bearer" = [])),
    params(("id" = String, Path, description = "The payment's id")),
    responses(
        (status = 200, description = "Paid; the callback's outcome", body = SandboxPaid),
        (status = 404, description = "No such payment in this shop"),
        (status = 409, description = "The payment can't be applied now"),
        (status = 422, description = "The notification does not match the payment"),
        (status = 424, description = "A plugin reacting to the payment failed"),
    ))]
async fn sandbox_pay(
    State(s): State<AppState>,
    auth: Auth,
    Path(id): Path<String>,
) -> Result<Json<SandboxPaid>, ApiError> {
    let shop = auth.shop()?.to_string();
    // A member pays only their own orders' intents.
    let (ts, sig, body) = s.platform.sandbox_pay(&shop, &id, auth.member_id()).await?;
    let outcome = s
        .platform
        .payment_callback(&ts.to_string(), &sig, &body)
        .await?;
    Ok(Json(SandboxPaid {
        callback: outcome.into(),
    }))
}

/// The sandbox provider's notification.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[allow(dead_code)] // documents the body, which core parses after verifying its signature
pub struct Notification {
    /// The provider's event id: applying is idempotent by it.
    id: String,
    /// `payment.succeeded` or `payment.failed`.
    #[serde(rename = "type")]
    kind: String,
    payment_id: String,
    amount: i64,
    currency: String,
}

/// Provider callback (Sandbox-Timestamp, Sandbox-Signature)
///
/// Signed with HMAC-SHA256 over `timestamp.body` (`Sandbox-Signature: v1=<hex>`); refused
/// when forged or more than five minutes off; applied at most once per event id.
#[utoipa::path(post, path = "/api/v1/payments/callbacks/sandbox", tag = "payments",
    params(
        ("Sandbox-Timestamp" = String, Header, pattern = "^[0-9]{1,12}$",
            description = "Unix seconds the provider signed at"),
        ("Sandbox-Signature" = String, Header, pattern = "^v1=[0-9a-f]{64}$",
            description = "`v1=` and the hex HMAC-SHA256 of `timestamp.body`"),
    ),
    request_body = Notification,
    responses(
        (status = 200, description = "The callback's outcome", body = CallbackResult),
        (status = 403, description = "The signature does not verify"),
        (status = 404, description = "No such payment"),
        (status = 409, description = "The payment can't be applied now"),
        (status = 422, description = "A bad timestamp, a stale callback, or a body that does not match the payment"),
        (status = 424, description = "A plugin reacting to the payment failed"),
    ))]
async fn payment_callback(
    State(s): State<AppState>,
    headers: HeaderMap,
    RawBody(body): RawBody,
) -> Result<Json<CallbackResult>, ApiError> {
    let header = |name: &str| {
        headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .map(str::to_string)
            .ok_or_else(|| ApiError::bad_request(format!("missing {name} header")))
    };
    let ts = header("Sandbox-Timestamp")?;
    let sig = header("Sandbox-Signature")?;
    Ok(Json(
        s.platform.payment_callback(&ts, &sig, &body).await?.into(),
    ))
}

/// A refund: either `amount` (spread over the lines by what is left on each) or `lines`.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RefundBody {
    /// The caller's id for this refund: a retry with the same id and body applies once.
    #[schema(min_length = 1, max_length = 64)]
    refund_id: String,
    /// Minor units; give this or `lines`.
    #[schema(minimum = 1)]
    amount: Option<i64>,
    /// Per-line amounts; give these or `amount`.
    #[serde(default)]
    lines: Vec<RefundLine>,
    #[serde(default)]
    #[schema(max_length = 200)]
    reason: String,
}

/// Refund (idempotent by refund_id)
#[utoipa::path(post, path = "/api/v1/orders/{id}/refunds", tag = "payments",
    security(("bearer" = [])),
    params(("id" = String, Path, description = "The order's id")),
    request_body = RefundBody,
    responses(
        (status = 201, description = "The refund (the first one, on a retry)", body = Refund),
        (status = 404, description = "No such order in this shop"),
        (status = 409, description = "More than is left to refund, or the refund id was used for another refund"),
        (status = 424, description = "A plugin reacting to the refund failed"),
    ))]
async fn create_refund(
    State(s): State<AppState>,
    auth: Auth,
    Path(id): Path<String>,
    Body(b): Body<RefundBody>,
) -> Result<(StatusCode, Json<Refund>), ApiError> {
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
    Ok((StatusCode::CREATED, Json(refund)))
}

#[derive(Serialize, ToSchema)]
pub struct RefundList {
    refunds: Vec<Refund>,
}

/// List an order's refunds
#[utoipa::path(get, path = "/api/v1/orders/{id}/refunds", tag = "payments",
    security(("bearer" = [])),
    params(("id" = String, Path, description = "The order's id")),
    responses(
        (status = 200, description = "The order's refunds", body = RefundList),
        (status = 404, description = "No such order in this shop"),
    ))]
async fn list_refunds(
    State(s): State<AppState>,
    auth: Auth,
    Path(id): Path<String>,
) -> Result<Json<RefundList>, ApiError> {
    let (shop, _) = auth.staff()?;
    Ok(Json(RefundList {
        refunds: s.platform.list_refunds(shop, &id).await?,
    }))
}
