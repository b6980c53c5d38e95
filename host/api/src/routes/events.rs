//! Event deliveries to the shop's plugins: what is pending, delivered or dead, and retry.

use crate::routes::limit;
use crate::{ApiError, AppState, Auth, Path, Query};
use axum::Json;
use axum::extract::State;
use baseplate_store::events::Delivery;
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(list_events))
        .routes(routes!(retry_event))
}

#[derive(Clone, Copy, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum DeliveryStatus {
    Pending,
    Delivered,
    Dead,
}

impl DeliveryStatus {
    fn as_str(self) -> &'static str {
        match self {
            DeliveryStatus::Pending => "pending",
            DeliveryStatus::Delivered => "delivered",
            DeliveryStatus::Dead => "dead",
        }
    }
}

#[derive(Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct EventsQuery {
    /// Only deliveries in this state.
    #[param(inline)]
    status: Option<DeliveryStatus>,
    /// How many, 1..=200 (default 50).
    #[param(minimum = 1, maximum = 200)]
    limit: Option<i64>,
}

#[derive(Serialize, ToSchema)]
pub struct DeliveryList {
    /// Newest first.
    deliveries: Vec<Delivery>,
}

/// Event deliveries to plugins (filter by status)
#[utoipa::path(get, path = "/api/v1/events", tag = "events",
    security(("bearer" = [])),
    params(EventsQuery),
    responses((status = 200, description = "Deliveries, newest first", body = DeliveryList)))]
async fn list_events(
    State(s): State<AppState>,
    auth: Auth,
    Query(q): Query<EventsQuery>,
) -> Result<Json<DeliveryList>, ApiError> {
    let (shop, _) = auth.staff()?;
    let deliveries = s
        .platform
        .deliveries(shop, q.status.map(DeliveryStatus::as_str), limit(q.limit)?)
        .await?;
    Ok(Json(DeliveryList { deliveries }))
}

#[derive(Serialize, ToSchema)]
pub struct Retried {
    /// Whether this attempt delivered it (if not, it is queued again).
    delivered: bool,
}

/// Retry a dead delivery
#[utoipa::path(post, path = "/api/v1/events/{event_id}/{plugin}/retry", tag = "events",
    security(("bearer" = [])),
    params(
        ("event_id" = String, Path, description = "The event's id"),
        ("plugin" = String, Path, description = "The plugin it was for"),
    ),
    responses(
        (status = 200, description = "Requeued and tried once", body = Retried),
        (status = 404, description = "No dead delivery of that event to that plugin"),
    ))]
async fn retry_event(
    State(s): State<AppState>,
    auth: Auth,
    Path((event_id, plugin)): Path<(String, String)>,
) -> Result<Json<Retried>, ApiError> {
    let (shop, _) = auth.staff()?;
    let delivered = s.platform.retry_delivery(shop, &event_id, &plugin).await?;
    Ok(Json(Retried { delivered }))
}
