//! The HTTP API: axum routers under `/api/v1`, bearer-token auth (operator, shop staff,
//! member), one error type mapped to `{ "error": { "code", "message" } }` with a 4xx that
//! says what to fix, and the OpenAPI document at `/api/openapi.json`. Handlers are thin:
//! the work is `baseplate-core`'s. Only this crate touches axum.

mod error;
mod extract;
pub mod openapi;
mod registry;
mod routes;

pub use error::ApiError;
pub use extract::{Auth, Body, RawBody};

use axum::Router;
use axum::extract::{DefaultBodyLimit, State};
use axum::middleware::{self, Next};
use axum::response::Response;
use baseplate_core::Platform;

/// Largest request body accepted (component uploads use their own limit).
pub const MAX_BODY_BYTES: usize = 256 << 10;

#[derive(Clone)]
pub struct AppState {
    pub platform: Platform,
}

/// The whole API.
pub fn router(platform: Platform) -> Router {
    let state = AppState { platform };
    Router::new()
        .merge(routes::routes())
        .merge(registry::router())
        .route("/api/openapi.json", axum::routing::get(openapi::serve))
        .route(
            "/healthz",
            axum::routing::get(|| async { axum::Json(serde_json::json!({ "status": "ok" })) }),
        )
        .fallback(|| async {
            ApiError::new(
                axum::http::StatusCode::NOT_FOUND,
                "not_found",
                "no such route; see /api/openapi.json",
            )
        })
        .layer(DefaultBodyLimit::max(MAX_BODY_BYTES))
        .layer(middleware::from_fn_with_state(state.clone(), deliver_after))
        .with_state(state)
}

/// After each request, deliver the events it committed, so the caller sees the plugins'
/// reactions (coupon consumed on payment, …) in its next read. Failures stay queued.
async fn deliver_after(
    State(state): State<AppState>,
    req: axum::extract::Request,
    next: Next,
) -> Response {
    let resp = next.run(req).await;
    state.platform.flush_events().await;
    resp
}
