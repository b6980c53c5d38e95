//! The open registry over HTTP, in three groups: `developers` (accounts, API and signing
//! keys, publishing), `review` (the operator's queue, decisions, log and platform view,
//! and canaries, which the plugin's developer may run too), and `market` (merchants
//! browsing, upgrading with capability consent, pinning, opting in to canaries). Each
//! group is its own router; `router()` merges them, and the API merges it once.

mod developers;
mod market;
mod review;

use crate::{ApiError, AppState};
use axum::Json;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use utoipa_axum::router::OpenApiRouter;

pub(crate) type R = Result<Response, ApiError>;

pub(crate) fn ok<T: serde::Serialize>(v: T) -> R {
    Ok(Json(v).into_response())
}

pub(crate) fn created<T: serde::Serialize>(v: T) -> R {
    Ok((StatusCode::CREATED, Json(v)).into_response())
}

/// A JSON body that may be left out (an empty body reads as the default).
pub(crate) fn optional_body<T: serde::de::DeserializeOwned + Default>(
    bytes: &[u8],
) -> Result<T, ApiError> {
    if bytes.iter().all(u8::is_ascii_whitespace) {
        return Ok(T::default());
    }
    serde_json::from_slice(bytes).map_err(|e| {
        let status = if e.is_syntax() || e.is_eof() {
            StatusCode::BAD_REQUEST
        } else {
            StatusCode::UNPROCESSABLE_ENTITY
        };
        let code = if status == StatusCode::BAD_REQUEST {
            crate::ErrorCode::MalformedJson
        } else {
            crate::ErrorCode::InvalidRequest
        };
        ApiError::new(status, code, e.to_string())
    })
}

/// Every registry route.
pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .merge(developers::router())
        .merge(review::router())
        .merge(market::router())
}
