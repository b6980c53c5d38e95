//! The request-level middleware, outermost first:
//! 1. request id: `x-request-id` kept when the client sent one (up to 128 visible ASCII
//!    characters), else a fresh UUID; echoed on the response (tower-http);
//! 2. the request's trace span (tower-http `TraceLayer`): method, path, matched route,
//!    request id, and the shop once auth knows it, so every log line of the request names
//!    them; one `info` line per response;
//! 3. `observe`: HTTP metrics by matched route template, a JSON body for every error the
//!    stack answers without one (the router's 405, the timeout's 408), and the 5xx log line
//!    naming path, shop, request id and cause;
//! 4. the header limit: headers over [`HttpOptions::max_header_bytes`] are a JSON 431;
//! 5. event delivery after the response is ready (see `deliver_after`);
//! 6. the request timeout (tower-http): a request, its body included, that is not answered
//!    within [`HttpOptions::request_timeout`] is a 408.

use crate::error::InternalDetail;
use crate::{ApiError, AppState, ErrorCode, HttpOptions};
use axum::Router;
use axum::extract::{MatchedPath, Request, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use std::sync::{Arc, OnceLock};
use std::time::Instant;
use tower::ServiceBuilder;
use tower_http::request_id::{MakeRequestUuid, PropagateRequestIdLayer, SetRequestIdLayer};
use tower_http::timeout::TimeoutLayer;
use tower_http::trace::{DefaultOnResponse, TraceLayer};
use tracing::Level;

/// What the middleware learns about a request while it runs (auth fills in the shop).
#[derive(Default)]
pub struct RequestContext {
    pub shop: OnceLock<String>,
}

pub const REQUEST_ID: &str = "x-request-id";

/// A client's `x-request-id` is kept only if it is 1..=128 visible ASCII characters;
/// otherwise it is dropped here and a fresh UUID is set in its place.
async fn sanitize_request_id(mut req: Request, next: Next) -> Response {
    let ok = req.headers().get(REQUEST_ID).is_some_and(|v| {
        let b = v.as_bytes();
        !b.is_empty() && b.len() <= 128 && b.iter().all(|c| c.is_ascii_graphic())
    });
    if !ok {
        req.headers_mut().remove(REQUEST_ID);
    }
    next.run(req).await
}

pub fn layer(routes: Router, state: AppState, opts: &HttpOptions) -> Router {
    let max_header_bytes = opts.max_header_bytes;
    routes.layer(
        ServiceBuilder::new()
            .layer(middleware::from_fn(sanitize_request_id))
            .layer(SetRequestIdLayer::x_request_id(MakeRequestUuid))
            .layer(PropagateRequestIdLayer::x_request_id())
            .layer(
                TraceLayer::new_for_http()
                    .make_span_with(|req: &Request| {
                        let request_id = req
                            .headers()
                            .get(REQUEST_ID)
                            .and_then(|v| v.to_str().ok())
                            .unwrap_or("");
                        let route = req
                            .extensions()
                            .get::<MatchedPath>()
                            .map(MatchedPath::as_str)
                            .unwrap_or("unmatched");
                        tracing::info_span!(
                            "request",
                            method = %req.method(),
                            path = %req.uri().path(),
                            route,
                            request_id,
                            shop = tracing::field::Empty,
                        )
                    })
                    .on_request(())
                    .on_response(DefaultOnResponse::new().level(Level::INFO))
                    .on_failure(()),
            )
            .layer(middleware::from_fn(observe))
            .layer(middleware::from_fn_with_state(
                max_header_bytes,
                header_limit,
            ))
            .layer(middleware::from_fn_with_state(state, deliver_after))
            .layer(TimeoutLayer::with_status_code(
                StatusCode::REQUEST_TIMEOUT,
                opts.request_timeout,
            )),
    )
}

/// Metrics, JSON bodies for bare error responses, and the 5xx log line.
async fn observe(mut req: Request, next: Next) -> Response {
    let started = Instant::now();
    let method = req.method().as_str().to_owned();
    let path = req.uri().path().to_owned();
    let route = req
        .extensions()
        .get::<MatchedPath>()
        .map(|m| m.as_str().to_owned())
        .unwrap_or_else(|| "unmatched".to_owned());
    let request_id = req
        .headers()
        .get(REQUEST_ID)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
        .to_owned();
    let ctx = Arc::new(RequestContext::default());
    req.extensions_mut().insert(ctx.clone());

    let mut resp = next.run(req).await;
    let status = resp.status();
    if status.is_client_error() || status.is_server_error() {
        let is_json = resp
            .headers()
            .get(header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .is_some_and(|ct| ct.starts_with("application/json"));
        if !is_json {
            let allow = resp
                .headers()
                .get(header::ALLOW)
                .and_then(|v| v.to_str().ok())
                .map(str::to_owned);
            let mut json = ApiError::for_bare_status(status, allow.as_deref()).into_response();
            if let Some(a) = allow.and_then(|a| HeaderValue::from_str(&a).ok()) {
                json.headers_mut().insert(header::ALLOW, a);
            }
            if let Some(d) = resp.extensions().get::<InternalDetail>().cloned() {
                json.extensions_mut().insert(d);
            }
            resp = json;
        }
    }
    if status.is_server_error() {
        let detail = resp
            .extensions()
            .get::<InternalDetail>()
            .map(|d| d.0.as_str())
            .unwrap_or("");
        tracing::error!(
            status = status.as_u16(),
            path = %path,
            shop = ctx.shop.get().map(String::as_str).unwrap_or("-"),
            request_id = %request_id,
            detail,
            "request failed: {status} on {method} {path}"
        );
    }
    let status_label = status.as_u16().to_string();
    metrics::counter!(
        crate::metrics::HTTP_REQUESTS,
        "method" => method.clone(),
        "route" => route.clone(),
        "status" => status_label,
    )
    .increment(1);
    metrics::histogram!(
        crate::metrics::HTTP_DURATION,
        "method" => method,
        "route" => route,
    )
    .record(started.elapsed().as_secs_f64());
    resp
}

/// Headers over the limit (names, values and separators, all counted) are a JSON 431;
/// hyper's own buffer is raised above this limit so such a request reaches this check.
async fn header_limit(State(max): State<usize>, req: Request, next: Next) -> Response {
    let size: usize = req
        .headers()
        .iter()
        .map(|(k, v)| k.as_str().len() + v.len() + 4)
        .sum();
    if size > max {
        return ApiError::new(
            StatusCode::REQUEST_HEADER_FIELDS_TOO_LARGE,
            ErrorCode::HeadersTooLarge,
            format!(
                "request headers are {} KiB, over the {} KiB limit; send fewer or shorter headers",
                size.div_ceil(1024),
                max >> 10
            ),
        )
        .into_response();
    }
    next.run(req).await
}

/// After each request, deliver the events it committed, so the caller sees the plugins'
/// reactions (coupon consumed on payment, …) in its next read. Failures stay queued.
async fn deliver_after(State(state): State<AppState>, req: Request, next: Next) -> Response {
    let resp = next.run(req).await;
    state.platform.flush_events().await;
    resp
}
