use axum::Json;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use baseplate_core::CoreError;

/// An error response: `{ "error": { "code", "message" } }`.
#[derive(Debug)]
pub struct ApiError {
    pub status: StatusCode,
    pub code: String,
    pub message: String,
    /// What the caller needs to fix it, when a message is not enough (`error.details`).
    pub details: Option<serde_json::Value>,
}

impl ApiError {
    pub fn new(status: StatusCode, code: &str, message: impl Into<String>) -> ApiError {
        ApiError {
            status,
            code: code.into(),
            message: message.into(),
            details: None,
        }
    }

    pub fn unauthorized(msg: &str) -> ApiError {
        ApiError::new(StatusCode::UNAUTHORIZED, "unauthorized", msg)
    }

    pub fn forbidden(msg: impl Into<String>) -> ApiError {
        ApiError::new(StatusCode::FORBIDDEN, "forbidden", msg)
    }

    pub fn invalid(msg: impl Into<String>) -> ApiError {
        ApiError::new(StatusCode::UNPROCESSABLE_ENTITY, "invalid_request", msg)
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let mut body =
            serde_json::json!({ "error": { "code": self.code, "message": self.message } });
        if let Some(details) = self.details {
            body["error"]["details"] = details;
        }
        (self.status, Json(body)).into_response()
    }
}

impl From<CoreError> for ApiError {
    fn from(e: CoreError) -> ApiError {
        let msg = e.to_string();
        match e {
            CoreError::Invalid(_) => {
                ApiError::new(StatusCode::UNPROCESSABLE_ENTITY, "invalid_request", msg)
            }
            CoreError::NotFound(_) => ApiError::new(StatusCode::NOT_FOUND, "not_found", msg),
            CoreError::Conflict(_) => ApiError::new(StatusCode::CONFLICT, "conflict", msg),
            CoreError::Forbidden(_) => ApiError::new(StatusCode::FORBIDDEN, "forbidden", msg),
            CoreError::PluginRefused { code, .. } => {
                let status = match code {
                    "not_found" => StatusCode::NOT_FOUND,
                    "conflict" => StatusCode::CONFLICT,
                    _ => StatusCode::UNPROCESSABLE_ENTITY,
                };
                ApiError::new(status, &format!("plugin_{code}"), msg)
            }
            CoreError::PluginFailed { .. } => {
                ApiError::new(StatusCode::FAILED_DEPENDENCY, "plugin_failed", msg)
            }
            CoreError::Busy(_) | CoreError::Unavailable(_) => {
                ApiError::new(StatusCode::SERVICE_UNAVAILABLE, "busy", msg)
            }
            CoreError::Stale(_) => ApiError::new(StatusCode::CONFLICT, "contended", msg),
            CoreError::Refused {
                kind,
                code,
                details,
                ..
            } => {
                use baseplate_core::Refusal;
                let status = match kind {
                    Refusal::Invalid => StatusCode::UNPROCESSABLE_ENTITY,
                    Refusal::Conflict => StatusCode::CONFLICT,
                    Refusal::Forbidden => StatusCode::FORBIDDEN,
                    Refusal::TooLarge => StatusCode::PAYLOAD_TOO_LARGE,
                    Refusal::NotFound => StatusCode::NOT_FOUND,
                };
                let mut e = ApiError::new(status, code, msg);
                e.details = details;
                e
            }
            CoreError::Retry => ApiError::new(
                StatusCode::SERVICE_UNAVAILABLE,
                "busy",
                "the platform is busy; retry the request",
            ),
            CoreError::Store(ref se) if se.is_retryable() => ApiError::new(
                StatusCode::SERVICE_UNAVAILABLE,
                "busy",
                "the platform is busy; retry the request",
            ),
            CoreError::Store(_) | CoreError::Internal(_) => {
                tracing::error!("internal error: {msg}");
                ApiError::new(
                    StatusCode::INTERNAL_SERVER_ERROR,
                    "internal",
                    "internal error; it has been logged",
                )
            }
        }
    }
}
