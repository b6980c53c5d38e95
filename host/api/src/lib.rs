//! The HTTP API: axum routers under `/api/v1`, one file and one `router()` per resource,
//! bearer-token auth (operator, shop staff, member), one error type rendered as
//! `{ "error": { "code", "message" } }` with a 4xx that says what to fix, and the OpenAPI 3.1
//! document generated from the handlers and their types (utoipa) at `/api/openapi.json`.
//! Serving (hyper-util, with header/request/idle timeouts and header limits), request ids,
//! the request trace, Prometheus metrics and the health probes live here too. Handlers are
//! thin: the work is `baseplate-core`'s. Only this crate touches axum and hyper.

mod error;
mod extract;
mod health;
pub mod metrics;
mod observe;
pub mod openapi;
mod registry;
mod routes;
mod serve;

pub use error::{ApiError, ErrorBody, ErrorCode, ErrorDetail};
pub use extract::{Auth, Body, BodyWithBytes, OptionalBody, Path, Query, RawBody};
pub use serve::{HttpOptions, serve};

use axum::Router;
use baseplate_core::Platform;
use std::sync::Arc;

/// Largest request body accepted.
pub const MAX_BODY_BYTES: usize = 256 << 10;

/// Default limit on a request's headers (names, values and separators, all counted).
pub const MAX_HEADER_BYTES: usize = 64 << 10;

#[derive(Clone)]
pub struct AppState {
    pub platform: Platform,
    /// The OpenAPI document, serialized once.
    pub openapi: Arc<String>,
}

/// The whole API with the default [`HttpOptions`].
pub fn router(platform: Platform) -> Router {
    router_with(platform, &HttpOptions::default())
}

/// The whole API: every resource's router, the document, the probes and `/metrics`, under
/// the request-level middleware (request id, trace span, metrics, header limit, request
/// timeout, JSON errors for everything the stack itself refuses).
pub fn router_with(platform: Platform, opts: &HttpOptions) -> Router {
    metrics::install();
    let (routes, doc) = openapi::split();
    let openapi = Arc::new(doc.to_json().expect("the OpenAPI document serializes"));
    let state = AppState { platform, openapi };
    let routes = routes
        .fallback(|| async { ApiError::for_bare_status(axum::http::StatusCode::NOT_FOUND, None) })
        .with_state(state.clone());
    observe::layer(routes, state, opts)
}
