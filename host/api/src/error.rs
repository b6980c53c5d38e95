//! The one error type of the API. Every error the API answers — a handler's, an extractor's
//! rejection, the router's 404 and 405, a body over the limit, headers over the limit, a
//! timeout — is an [`ApiError`] rendered as `{ "error": { "code", "message" } }`, with a
//! message that says what to fix.

use axum::Json;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use baseplate_core::CoreError;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

/// What kind of error it is; clients branch on this, people read the message.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum ErrorCode {
    /// 400: the body is not one well-formed JSON value (syntax, truncation, trailing junk).
    MalformedJson,
    /// 400: a header or path segment could not be read.
    BadRequest,
    /// 401: no bearer token, or one that is unknown or revoked.
    Unauthorized,
    /// 403: the token is valid but may not do this.
    Forbidden,
    /// 404: no such route, or nothing with that id in the caller's shop.
    NotFound,
    /// 405: the path exists, the method does not (see the `Allow` header).
    MethodNotAllowed,
    /// 408: the request (its body included) did not arrive and finish in time.
    RequestTimeout,
    /// 409: the request conflicts with the current state (sold out, already paid, key reused).
    Conflict,
    /// 413: the body is over the limit.
    BodyTooLarge,
    /// 415: a body must be JSON, sent with `Content-Type: application/json`.
    UnsupportedMediaType,
    /// 422: well-formed, but a field is missing, of the wrong type, unknown or out of range.
    InvalidRequest,
    /// 424: a plugin the request needed failed (trap, timeout, limit, tripped breaker).
    PluginFailed,
    /// 422: a plugin found the input invalid.
    PluginInvalid,
    /// 422: a plugin refused the request by its business rules.
    PluginRefused,
    /// 404: a plugin did not find what the request names.
    PluginNotFound,
    /// 409: a plugin found the request in conflict with its state.
    PluginConflict,
    /// 409: concurrent changes to the same plugin state kept invalidating the request;
    /// retrying succeeds.
    Contended,
    /// 431: the request's headers are over the limit.
    HeadersTooLarge,
    /// 500: a bug; it has been logged with the request id.
    Internal,
    /// 503: the platform is busy (a retry succeeds), or not ready (`/readyz`).
    Busy,
    /// 503: the node cannot reach its database.
    NotReady,
}

impl ErrorCode {
    pub fn as_str(self) -> &'static str {
        match self {
            ErrorCode::MalformedJson => "malformed_json",
            ErrorCode::BadRequest => "bad_request",
            ErrorCode::Unauthorized => "unauthorized",
            ErrorCode::Forbidden => "forbidden",
            ErrorCode::NotFound => "not_found",
            ErrorCode::MethodNotAllowed => "method_not_allowed",
            ErrorCode::RequestTimeout => "request_timeout",
            ErrorCode::Conflict => "conflict",
            ErrorCode::BodyTooLarge => "body_too_large",
            ErrorCode::UnsupportedMediaType => "unsupported_media_type",
            ErrorCode::InvalidRequest => "invalid_request",
            ErrorCode::PluginFailed => "plugin_failed",
            ErrorCode::PluginInvalid => "plugin_invalid",
            ErrorCode::PluginRefused => "plugin_refused",
            ErrorCode::PluginNotFound => "plugin_not_found",
            ErrorCode::PluginConflict => "plugin_conflict",
            ErrorCode::Contended => "contended",
            ErrorCode::HeadersTooLarge => "headers_too_large",
            ErrorCode::Internal => "internal",
            ErrorCode::Busy => "busy",
            ErrorCode::NotReady => "not_ready",
        }
    }

    /// The codes an error answered with `status` may carry (the document lists them).
    pub fn for_status(status: u16) -> &'static [ErrorCode] {
        use ErrorCode::*;
        match status {
            400 => &[MalformedJson, BadRequest],
            401 => &[Unauthorized],
            403 => &[Forbidden],
            404 => &[NotFound, PluginNotFound],
            405 => &[MethodNotAllowed],
            408 => &[RequestTimeout],
            409 => &[Conflict, PluginConflict, Contended],
            413 => &[BodyTooLarge],
            415 => &[UnsupportedMediaType],
            422 => &[InvalidRequest, PluginInvalid, PluginRefused],
            424 => &[PluginFailed],
            431 => &[HeadersTooLarge],
            500 => &[Internal],
            503 => &[Busy, NotReady],
            _ => &[],
        }
    }
}

/// The body of every error response.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ErrorBody {
    pub error: ErrorDetail,
}

#[derive(Debug, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ErrorDetail {
    pub code: ErrorCode,
    /// What went wrong and what to change, in words; names the field when one is at fault.
    pub message: String,
}

/// An error response: `{ "error": { "code", "message" } }` with its status.
#[derive(Debug, thiserror::Error)]
#[error("{status} {}: {message}", code.as_str())]
pub struct ApiError {
    pub status: StatusCode,
    pub code: ErrorCode,
    pub message: String,
    /// For a 5xx: what really happened, for the log line (never sent to the client).
    pub detail: Option<String>,
}

/// Put on a 5xx response so the request's log line can name the cause (see `observe`).
#[derive(Clone, Debug)]
pub struct InternalDetail(pub String);

impl ApiError {
    pub fn new(status: StatusCode, code: ErrorCode, message: impl Into<String>) -> ApiError {
        ApiError {
            status,
            code,
            message: message.into(),
            detail: None,
        }
    }

    pub fn unauthorized(msg: &str) -> ApiError {
        ApiError::new(StatusCode::UNAUTHORIZED, ErrorCode::Unauthorized, msg)
    }

    pub fn forbidden(msg: impl Into<String>) -> ApiError {
        ApiError::new(StatusCode::FORBIDDEN, ErrorCode::Forbidden, msg)
    }

    pub fn invalid(msg: impl Into<String>) -> ApiError {
        ApiError::new(
            StatusCode::UNPROCESSABLE_ENTITY,
            ErrorCode::InvalidRequest,
            msg,
        )
    }

    pub fn not_found(msg: impl Into<String>) -> ApiError {
        ApiError::new(StatusCode::NOT_FOUND, ErrorCode::NotFound, msg)
    }

    pub fn bad_request(msg: impl Into<String>) -> ApiError {
        ApiError::new(StatusCode::BAD_REQUEST, ErrorCode::BadRequest, msg)
    }

    pub fn malformed_json(msg: impl Into<String>) -> ApiError {
        ApiError::new(StatusCode::BAD_REQUEST, ErrorCode::MalformedJson, msg)
    }

    pub fn body_too_large() -> ApiError {
        ApiError::new(
            StatusCode::PAYLOAD_TOO_LARGE,
            ErrorCode::BodyTooLarge,
            format!(
                "request body is over the {} KiB limit; send less",
                crate::MAX_BODY_BYTES >> 10
            ),
        )
    }

    pub fn internal(detail: impl Into<String>) -> ApiError {
        ApiError {
            status: StatusCode::INTERNAL_SERVER_ERROR,
            code: ErrorCode::Internal,
            message: "internal error; it has been logged with this request's x-request-id".into(),
            detail: Some(detail.into()),
        }
    }

    /// The error for a response the stack produced without a JSON body (the router's 405,
    /// a timeout's 408, hyper-level rejections): same status, our shape.
    pub fn for_bare_status(status: StatusCode, allow: Option<&str>) -> ApiError {
        let (code, message) = match status.as_u16() {
            400 => (
                ErrorCode::BadRequest,
                "the request could not be read".to_string(),
            ),
            404 => (
                ErrorCode::NotFound,
                "no such route; see /api/openapi.json".to_string(),
            ),
            405 => (
                ErrorCode::MethodNotAllowed,
                match allow {
                    Some(a) if !a.is_empty() => {
                        format!("this path does not take that method; it allows {a}")
                    }
                    _ => "this path does not take that method; the Allow header lists the ones it takes"
                        .to_string(),
                },
            ),
            408 => (
                ErrorCode::RequestTimeout,
                "the request did not arrive and finish in time; send it faster or smaller"
                    .to_string(),
            ),
            413 => return ApiError::body_too_large(),
            415 => (
                ErrorCode::UnsupportedMediaType,
                "send the body as JSON with Content-Type: application/json".to_string(),
            ),
            431 => (
                ErrorCode::HeadersTooLarge,
                format!(
                    "request headers are over the {} KiB limit",
                    crate::MAX_HEADER_BYTES >> 10
                ),
            ),
            503 => (
                ErrorCode::Busy,
                "the platform is busy; retry the request".to_string(),
            ),
            s if s >= 500 => return ApiError::internal(format!("bare {status} response")),
            _ => (
                ErrorCode::BadRequest,
                format!("the request was refused ({status})"),
            ),
        };
        ApiError::new(status, code, message)
    }

    pub fn body(&self) -> ErrorBody {
        ErrorBody {
            error: ErrorDetail {
                code: self.code,
                message: self.message.clone(),
            },
        }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let mut resp = (self.status, Json(self.body())).into_response();
        if self.status == StatusCode::PAYLOAD_TOO_LARGE {
            // The body was refused unread: the connection can't carry another request.
            resp.headers_mut().insert(
                axum::http::header::CONNECTION,
                axum::http::HeaderValue::from_static("close"),
            );
        }
        if let Some(d) = self.detail {
            resp.extensions_mut().insert(InternalDetail(d));
        }
        resp
    }
}

impl From<CoreError> for ApiError {
    fn from(e: CoreError) -> ApiError {
        let msg = e.to_string();
        match e {
            CoreError::Invalid(_) => ApiError::invalid(msg),
            CoreError::NotFound(_) => ApiError::not_found(msg),
            CoreError::Conflict(_) => ApiError::new(StatusCode::CONFLICT, ErrorCode::Conflict, msg),
            CoreError::Forbidden(_) => ApiError::forbidden(msg),
            CoreError::PluginRefused { code, .. } => {
                let (status, code) = match code {
                    "not_found" => (StatusCode::NOT_FOUND, ErrorCode::PluginNotFound),
                    "conflict" => (StatusCode::CONFLICT, ErrorCode::PluginConflict),
                    "invalid" => (StatusCode::UNPROCESSABLE_ENTITY, ErrorCode::PluginInvalid),
                    _ => (StatusCode::UNPROCESSABLE_ENTITY, ErrorCode::PluginRefused),
                };
                ApiError::new(status, code, msg)
            }
            CoreError::PluginFailed { .. } => {
                ApiError::new(StatusCode::FAILED_DEPENDENCY, ErrorCode::PluginFailed, msg)
            }
            CoreError::Busy(_) | CoreError::Unavailable(_) => {
                ApiError::new(StatusCode::SERVICE_UNAVAILABLE, ErrorCode::Busy, msg)
            }
            CoreError::Stale(_) => ApiError::new(StatusCode::CONFLICT, ErrorCode::Contended, msg),
            CoreError::Retry => ApiError::new(
                StatusCode::SERVICE_UNAVAILABLE,
                ErrorCode::Busy,
                "the platform is busy; retry the request",
            ),
            CoreError::Store(ref se) if se.is_retryable() => ApiError::new(
                StatusCode::SERVICE_UNAVAILABLE,
                ErrorCode::Busy,
                "the platform is busy; retry the request",
            ),
            CoreError::Store(_) | CoreError::Internal(_) => ApiError::internal(msg),
        }
    }
}
