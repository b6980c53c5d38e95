//! Extractors: the bearer principal, and JSON bodies whose rejections read as our errors.

use crate::{ApiError, AppState};
use axum::extract::rejection::JsonRejection;
use axum::extract::{FromRequest, FromRequestParts, Request};
use axum::http::StatusCode;
use axum::http::request::Parts;
use baseplate_core::shops::Principal;
use serde::de::DeserializeOwned;

/// The authenticated caller.
pub struct Auth(pub Principal);

impl FromRequestParts<AppState> for Auth {
    type Rejection = ApiError;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &AppState,
    ) -> Result<Self, Self::Rejection> {
        let header = parts
            .headers
            .get(axum::http::header::AUTHORIZATION)
            .ok_or_else(|| {
                ApiError::unauthorized("missing Authorization: Bearer <token> header")
            })?;
        let token = header
            .to_str()
            .ok()
            .and_then(|h| h.strip_prefix("Bearer "))
            .map(str::trim)
            .filter(|t| !t.is_empty() && t.len() <= 200)
            .ok_or_else(|| ApiError::unauthorized("Authorization must be \"Bearer <token>\""))?;
        match state.platform.authenticate(token).await? {
            Some(p) => Ok(Auth(p)),
            None => Err(ApiError::unauthorized("unknown or revoked token")),
        }
    }
}

impl Auth {
    /// The shop of a staff key or member token.
    pub fn shop(&self) -> Result<&str, ApiError> {
        match &self.0 {
            Principal::Staff { shop_id, .. } | Principal::Member { shop_id, .. } => Ok(shop_id),
            Principal::Operator { .. } => Err(ApiError::forbidden(
                "this route is for a shop's keys or members, not the operator",
            )),
            Principal::Developer { .. } => Err(ApiError::forbidden(
                "this route is for a shop's keys or members, not a developer",
            )),
        }
    }

    /// Staff (owner or staff role) of a shop.
    pub fn staff(&self) -> Result<(&str, &str), ApiError> {
        match &self.0 {
            Principal::Staff {
                shop_id, key_id, ..
            } => Ok((shop_id, key_id)),
            _ => Err(ApiError::forbidden("this route needs a shop staff key")),
        }
    }

    /// The shop's owner.
    pub fn owner(&self) -> Result<&str, ApiError> {
        match &self.0 {
            Principal::Staff { shop_id, role, .. } if role == "owner" => Ok(shop_id),
            Principal::Staff { .. } => {
                Err(ApiError::forbidden("this route needs the shop owner's key"))
            }
            _ => Err(ApiError::forbidden("this route needs a shop owner key")),
        }
    }

    pub fn operator(&self) -> Result<(), ApiError> {
        match &self.0 {
            Principal::Operator { .. } => Ok(()),
            _ => Err(ApiError::forbidden(
                "this route needs the platform operator's key",
            )),
        }
    }

    /// The member a buyer-side request acts for: the member token's own, or the one a
    /// staff key names (a clerk at the till).
    pub fn acting_member(&self, named: Option<&str>) -> Result<Option<String>, ApiError> {
        match &self.0 {
            Principal::Member { member_id, .. } => {
                if named.is_some_and(|n| n != member_id) {
                    return Err(ApiError::forbidden(
                        "a member token acts only for its own member",
                    ));
                }
                Ok(Some(member_id.clone()))
            }
            Principal::Staff { .. } => Ok(named.map(str::to_string)),
            Principal::Operator { .. } | Principal::Developer { .. } => Err(ApiError::forbidden(
                "only a shop's members and staff act for members",
            )),
        }
    }

    /// An approved developer's id (a pending account may only read itself: see
    /// `developer_account`).
    pub fn developer(&self) -> Result<&str, ApiError> {
        match &self.0 {
            Principal::Developer {
                developer_id,
                status,
                ..
            } => {
                if status == "approved" {
                    Ok(developer_id)
                } else {
                    Err(ApiError::forbidden(format!(
                        "your developer account is {status}; the platform operator must approve it first"
                    )))
                }
            }
            _ => Err(ApiError::forbidden("this route needs a developer API key")),
        }
    }

    /// Any developer account, approved or not (to read its own state).
    pub fn developer_account(&self) -> Result<&str, ApiError> {
        match &self.0 {
            Principal::Developer { developer_id, .. } => Ok(developer_id),
            _ => Err(ApiError::forbidden("this route needs a developer API key")),
        }
    }

    /// The operator or an approved developer, as the registry logs them.
    pub fn registry_actor(&self) -> Result<baseplate_core::registry::Actor, ApiError> {
        use baseplate_core::registry::Actor;
        match &self.0 {
            Principal::Operator { key_id } => Ok(Actor::Operator(key_id.clone())),
            Principal::Developer { .. } => Ok(Actor::Developer(self.developer()?.to_string())),
            _ => Err(ApiError::forbidden(
                "this route needs the platform operator's key or the plugin developer's key",
            )),
        }
    }

    /// The operator, as the registry logs it.
    pub fn operator_actor(&self) -> Result<baseplate_core::registry::Actor, ApiError> {
        match &self.0 {
            Principal::Operator { key_id } => {
                Ok(baseplate_core::registry::Actor::Operator(key_id.clone()))
            }
            _ => Err(ApiError::forbidden(
                "this route needs the platform operator's key",
            )),
        }
    }

    pub fn member_id(&self) -> Option<&str> {
        match &self.0 {
            Principal::Member { member_id, .. } => Some(member_id),
            _ => None,
        }
    }
}

/// A JSON body; malformed JSON, wrong types and unknown fields become 400/422 errors that
/// name the field.
pub struct Body<T>(pub T);

impl<T: DeserializeOwned, S: Send + Sync> FromRequest<S> for Body<T> {
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &S) -> Result<Self, Self::Rejection> {
        match axum::Json::<T>::from_request(req, state).await {
            Ok(axum::Json(v)) => Ok(Body(v)),
            Err(rejection) => Err(json_rejection(rejection)),
        }
    }
}

/// A raw body (checkout hashes the exact bytes for its idempotency key); over the limit it
/// is a JSON 413 like every other error.
pub struct RawBody(pub axum::body::Bytes);

impl<S: Send + Sync> FromRequest<S> for RawBody {
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &S) -> Result<Self, Self::Rejection> {
        match axum::body::Bytes::from_request(req, state).await {
            Ok(b) => Ok(RawBody(b)),
            Err(r) if r.status() == StatusCode::PAYLOAD_TOO_LARGE => Err(ApiError::new(
                StatusCode::PAYLOAD_TOO_LARGE,
                "body_too_large",
                format!(
                    "request body is over the {} KiB limit",
                    crate::MAX_BODY_BYTES >> 10
                ),
            )),
            Err(r) => Err(ApiError::new(r.status(), "bad_request", r.body_text())),
        }
    }
}

fn json_rejection(r: JsonRejection) -> ApiError {
    let (status, code) = match &r {
        JsonRejection::JsonSyntaxError(_) => (StatusCode::BAD_REQUEST, "malformed_json"),
        JsonRejection::JsonDataError(_) => (StatusCode::UNPROCESSABLE_ENTITY, "invalid_request"),
        JsonRejection::MissingJsonContentType(_) => {
            (StatusCode::UNSUPPORTED_MEDIA_TYPE, "unsupported_media_type")
        }
        JsonRejection::BytesRejection(_) if r.status() == StatusCode::PAYLOAD_TOO_LARGE => {
            (StatusCode::PAYLOAD_TOO_LARGE, "body_too_large")
        }
        _ => (r.status(), "bad_request"),
    };
    let message = match code {
        "body_too_large" => format!(
            "request body is over the {} KiB limit",
            crate::MAX_BODY_BYTES >> 10
        ),
        "unsupported_media_type" => {
            "send the body as JSON with Content-Type: application/json".to_string()
        }
        _ => r.body_text(),
    };
    ApiError::new(status, code, message)
}
