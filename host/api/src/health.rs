//! Probes and the metrics endpoint: `/healthz` (the process answers), `/readyz` (it can
//! reach its database) and `/metrics` (Prometheus text).

use crate::{ApiError, AppState, ErrorCode};
use axum::Json;
use axum::extract::State;
use axum::http::{StatusCode, header};
use axum::response::IntoResponse;
use serde::Serialize;
use std::time::Duration;
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

/// How long `/readyz` waits for the database before calling the node not ready.
const READY_TIMEOUT: Duration = Duration::from_secs(2);

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(healthz))
        .routes(routes!(readyz))
        .routes(routes!(metrics))
        .routes(routes!(openapi))
}

#[derive(Serialize, ToSchema)]
pub struct Health {
    /// `ok` (process up) or `ready` (database reachable).
    pub status: String,
}

/// Liveness
#[utoipa::path(get, path = "/healthz", tag = "health",
    responses((status = 200, description = "The process is up", body = Health)))]
async fn healthz() -> Json<Health> {
    Json(Health {
        status: "ok".into(),
    })
}

/// Readiness: the database answers
#[utoipa::path(get, path = "/readyz", tag = "health",
    responses(
        (status = 200, description = "The node reaches its database", body = Health),
        (status = 503, description = "The database does not answer (`not_ready`)"),
    ))]
async fn readyz(State(s): State<AppState>) -> Result<Json<Health>, ApiError> {
    let check = s.platform.ping();
    match tokio::time::timeout(READY_TIMEOUT, check).await {
        Ok(Ok(())) => Ok(Json(Health {
            status: "ready".into(),
        })),
        Ok(Err(e)) => Err(not_ready(format!(
            "the database answered with an error: {e}"
        ))),
        Err(_) => Err(not_ready(format!(
            "the database did not answer within {} s",
            READY_TIMEOUT.as_secs()
        ))),
    }
}

fn not_ready(msg: String) -> ApiError {
    tracing::warn!("not ready: {msg}");
    ApiError::new(StatusCode::SERVICE_UNAVAILABLE, ErrorCode::NotReady, msg)
}

/// Prometheus metrics
#[utoipa::path(get, path = "/metrics", tag = "health",
    responses((status = 200, description = "Prometheus text exposition format",
        content_type = "text/plain", body = String)))]
async fn metrics() -> impl IntoResponse {
    (
        [(
            header::CONTENT_TYPE,
            "text/plain; version=0.0.4; charset=utf-8",
        )],
        crate::metrics::render(),
    )
}

/// This document
#[utoipa::path(get, path = "/api/openapi.json", tag = "health",
    responses((status = 200, description = "The OpenAPI 3.1 document of this API",
        body = Object)))]
async fn openapi(State(s): State<AppState>) -> impl IntoResponse {
    (
        [(header::CONTENT_TYPE, "application/json")],
        s.openapi.as_str().to_owned(),
    )
}
