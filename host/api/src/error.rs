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
    /// 409 (registry): the registry action was already done.
    AlreadyDone,
    /// 409 (registry): a version cannot move from its state to the one asked.
    BadTransition,
    /// 409 (registry): a developer with that email exists.
    DeveloperExists,
    /// 409 (registry): that signing key is registered already.
    KeyExists,
    /// 409 (registry): no shop is eligible for the canary.
    NoEligibleShops,
    /// 409 (registry): the plugin has no running canary.
    NoRunningCanary,
    /// 409 (registry): the version is not approved.
    NotApproved,
    /// 409 (registry): the version is not staged for a canary.
    NotStaged,
    /// 409 (registry): that version is published already (versions are immutable).
    VersionExists,
    /// 409 (registry): a new version must be higher than the latest.
    VersionNotNewer,
    /// 409 (registry): no approved, non-yanked version matches the requirement.
    NoInstallableVersion,
    /// 409 (registry): the install or upgrade needs the merchant to accept these capabilities (`details`).
    CapabilitiesNotAccepted,
    /// 409 (registry): some named shops cannot take the canary (`details`).
    ShopsNotEligible,
    /// 403 (registry): the developer account is not approved yet.
    DeveloperNotApproved,
    /// 403 (registry): the plugin name is reserved for the platform.
    NameReserved,
    /// 403 (registry): another developer owns the plugin name.
    NameTaken,
    /// 403 (registry): the plugin belongs to another developer.
    NotYourPlugin,
    /// 403 (registry): only a platform operator may do this.
    OperatorOnly,
    /// 403 (registry): the platform publisher account cannot be changed this way.
    PlatformDeveloper,
    /// 422 (registry): the signature does not verify over the digest.
    BadSignature,
    /// 422 (registry): the component's contract version is not the manifest's.
    ContractMismatch,
    /// 422 (registry): the manifest breaks a rule (the message names the field).
    InvalidManifest,
    /// 422 (registry): the public key is not ed25519 hex.
    InvalidPublicKey,
    /// 422 (registry): the bytes are not a WebAssembly component.
    NotAComponent,
    /// 422 (registry): the signing key was revoked or rotated.
    RevokedKey,
    /// 422 (registry): the component imports an interface its manifest does not declare.
    UndeclaredCapability,
    /// 422 (registry): no signing key with that id.
    UnknownKey,
    /// 422 (registry): the contract version is not one this host serves.
    UnsupportedContract,
    /// 422 (registry): the component imports something plugins may not use.
    ForbiddenImport,
    /// 422 (registry): the component does not export a served hooks interface.
    NoHooks,
    /// 404 (registry): the version has no canary.
    NoCanary,
    /// 404 (registry): no developer with that id.
    NoSuchDeveloper,
    /// 404 (registry): no key with that id.
    NoSuchKey,
    /// 404 (registry): no plugin with that name.
    NoSuchPlugin,
    /// 404 (registry): no such version of the plugin.
    NoSuchVersion,
    /// 413 (registry): the component is over the size limit.
    ComponentTooLarge,
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
            ErrorCode::AlreadyDone => "already_done",
            ErrorCode::BadTransition => "bad_transition",
            ErrorCode::DeveloperExists => "developer_exists",
            ErrorCode::KeyExists => "key_exists",
            ErrorCode::NoEligibleShops => "no_eligible_shops",
            ErrorCode::NoRunningCanary => "no_running_canary",
            ErrorCode::NotApproved => "not_approved",
            ErrorCode::NotStaged => "not_staged",
            ErrorCode::VersionExists => "version_exists",
            ErrorCode::VersionNotNewer => "version_not_newer",
            ErrorCode::NoInstallableVersion => "no_installable_version",
            ErrorCode::CapabilitiesNotAccepted => "capabilities_not_accepted",
            ErrorCode::ShopsNotEligible => "shops_not_eligible",
            ErrorCode::DeveloperNotApproved => "developer_not_approved",
            ErrorCode::NameReserved => "name_reserved",
            ErrorCode::NameTaken => "name_taken",
            ErrorCode::NotYourPlugin => "not_your_plugin",
            ErrorCode::OperatorOnly => "operator_only",
            ErrorCode::PlatformDeveloper => "platform_developer",
            ErrorCode::BadSignature => "bad_signature",
            ErrorCode::ContractMismatch => "contract_mismatch",
            ErrorCode::InvalidManifest => "invalid_manifest",
            ErrorCode::InvalidPublicKey => "invalid_public_key",
            ErrorCode::NotAComponent => "not_a_component",
            ErrorCode::RevokedKey => "revoked_key",
            ErrorCode::UndeclaredCapability => "undeclared_capability",
            ErrorCode::UnknownKey => "unknown_key",
            ErrorCode::UnsupportedContract => "unsupported_contract",
            ErrorCode::ForbiddenImport => "forbidden_import",
            ErrorCode::NoHooks => "no_hooks",
            ErrorCode::NoCanary => "no_canary",
            ErrorCode::NoSuchDeveloper => "no_such_developer",
            ErrorCode::NoSuchKey => "no_such_key",
            ErrorCode::NoSuchPlugin => "no_such_plugin",
            ErrorCode::NoSuchVersion => "no_such_version",
            ErrorCode::ComponentTooLarge => "component_too_large",
        }
    }

    /// The registry's refusal codes (from `CoreError::Refused`).
    pub fn from_registry(code: &str) -> Option<ErrorCode> {
        Some(match code {
            "already_done" => ErrorCode::AlreadyDone,
            "bad_transition" => ErrorCode::BadTransition,
            "developer_exists" => ErrorCode::DeveloperExists,
            "key_exists" => ErrorCode::KeyExists,
            "no_eligible_shops" => ErrorCode::NoEligibleShops,
            "no_running_canary" => ErrorCode::NoRunningCanary,
            "not_approved" => ErrorCode::NotApproved,
            "not_staged" => ErrorCode::NotStaged,
            "version_exists" => ErrorCode::VersionExists,
            "version_not_newer" => ErrorCode::VersionNotNewer,
            "no_installable_version" => ErrorCode::NoInstallableVersion,
            "capabilities_not_accepted" => ErrorCode::CapabilitiesNotAccepted,
            "shops_not_eligible" => ErrorCode::ShopsNotEligible,
            "developer_not_approved" => ErrorCode::DeveloperNotApproved,
            "name_reserved" => ErrorCode::NameReserved,
            "name_taken" => ErrorCode::NameTaken,
            "not_your_plugin" => ErrorCode::NotYourPlugin,
            "operator_only" => ErrorCode::OperatorOnly,
            "platform_developer" => ErrorCode::PlatformDeveloper,
            "bad_signature" => ErrorCode::BadSignature,
            "contract_mismatch" => ErrorCode::ContractMismatch,
            "invalid_manifest" => ErrorCode::InvalidManifest,
            "invalid_public_key" => ErrorCode::InvalidPublicKey,
            "not_a_component" => ErrorCode::NotAComponent,
            "revoked_key" => ErrorCode::RevokedKey,
            "undeclared_capability" => ErrorCode::UndeclaredCapability,
            "unknown_key" => ErrorCode::UnknownKey,
            "unsupported_contract" => ErrorCode::UnsupportedContract,
            "forbidden_import" => ErrorCode::ForbiddenImport,
            "no_hooks" => ErrorCode::NoHooks,
            "no_canary" => ErrorCode::NoCanary,
            "no_such_developer" => ErrorCode::NoSuchDeveloper,
            "no_such_key" => ErrorCode::NoSuchKey,
            "no_such_plugin" => ErrorCode::NoSuchPlugin,
            "no_such_version" => ErrorCode::NoSuchVersion,
            "component_too_large" => ErrorCode::ComponentTooLarge,
            _ => return None,
        })
    }

    /// The codes an error answered with `status` may carry (the document lists them).
    pub fn for_status(status: u16) -> &'static [ErrorCode] {
        use ErrorCode::*;
        match status {
            400 => &[MalformedJson, BadRequest],
            401 => &[Unauthorized],
            403 => &[
                Forbidden,
                DeveloperNotApproved,
                NameReserved,
                NameTaken,
                NotYourPlugin,
                OperatorOnly,
                PlatformDeveloper,
            ],
            404 => &[
                NotFound,
                PluginNotFound,
                NoCanary,
                NoSuchDeveloper,
                NoSuchKey,
                NoSuchPlugin,
                NoSuchVersion,
            ],
            405 => &[MethodNotAllowed],
            408 => &[RequestTimeout],
            409 => &[
                Conflict,
                PluginConflict,
                Contended,
                AlreadyDone,
                BadTransition,
                DeveloperExists,
                KeyExists,
                NoEligibleShops,
                NoRunningCanary,
                NotApproved,
                NotStaged,
                VersionExists,
                VersionNotNewer,
                NoInstallableVersion,
                CapabilitiesNotAccepted,
                ShopsNotEligible,
            ],
            413 => &[BodyTooLarge, ComponentTooLarge],
            415 => &[UnsupportedMediaType],
            422 => &[
                InvalidRequest,
                PluginInvalid,
                PluginRefused,
                BadSignature,
                ContractMismatch,
                InvalidManifest,
                InvalidPublicKey,
                NotAComponent,
                RevokedKey,
                UndeclaredCapability,
                UnknownKey,
                UnsupportedContract,
                ForbiddenImport,
                NoHooks,
            ],
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
    /// What the caller needs to fix it when a message is not enough (e.g. the capabilities
    /// to accept).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub details: Option<serde_json::Value>,
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
    /// Sent as `error.details` (boxed: most errors have none).
    pub details: Option<Box<serde_json::Value>>,
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
            details: None,
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
            details: None,
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
                details: self.details.as_deref().cloned(),
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
            CoreError::Refused {
                kind,
                code,
                details,
                ..
            } => {
                use baseplate_core::Refusal;
                let (status, fallback) = match kind {
                    Refusal::Invalid => {
                        (StatusCode::UNPROCESSABLE_ENTITY, ErrorCode::InvalidRequest)
                    }
                    Refusal::Conflict => (StatusCode::CONFLICT, ErrorCode::Conflict),
                    Refusal::Forbidden => (StatusCode::FORBIDDEN, ErrorCode::Forbidden),
                    Refusal::TooLarge => (StatusCode::PAYLOAD_TOO_LARGE, ErrorCode::BodyTooLarge),
                    Refusal::NotFound => (StatusCode::NOT_FOUND, ErrorCode::NotFound),
                };
                let mut e = ApiError::new(
                    status,
                    ErrorCode::from_registry(code).unwrap_or(fallback),
                    msg,
                );
                e.details = details.map(Box::new);
                e
            }
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
