//! Extractors: the bearer principal, and the one way a request's body, query string and
//! path parameters are read. Each rejection is an [`ApiError`] whose message names what to
//! fix. Bodies are strict: `Content-Type: application/json` whenever there is a body, at
//! most [`MAX_BODY_BYTES`](crate::MAX_BODY_BYTES), exactly one JSON value (no trailing
//! bytes), no unknown fields; a type error names the field's path (`lines[0].quantity`).

use crate::observe::RequestContext;
use crate::{ApiError, AppState, ErrorCode};
use axum::body::Bytes;
use axum::extract::{FromRequest, FromRequestParts, Request};
use axum::http::request::Parts;
use axum::http::{HeaderMap, StatusCode, header};
use baseplate_core::shops::Principal;
use serde::de::DeserializeOwned;
use std::sync::Arc;

/// The authenticated caller.
pub struct Auth(pub Principal);

impl FromRequestParts<AppState> for Auth {
    type Rejection = ApiError;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &AppState,
    ) -> Result<Self, Self::Rejection> {
        let header = parts.headers.get(header::AUTHORIZATION).ok_or_else(|| {
            ApiError::unauthorized("missing Authorization: Bearer <token> header")
        })?;
        let token = header
            .to_str()
            .ok()
            .and_then(|h| h.strip_prefix("Bearer "))
            .map(str::trim)
            .filter(|t| !t.is_empty() && t.len() <= 200)
            .ok_or_else(|| ApiError::unauthorized("Authorization must be \"Bearer <token>\""))?;
        let principal = match state.platform.authenticate(token).await? {
            Some(p) => p,
            None => return Err(ApiError::unauthorized("unknown or revoked token")),
        };
        // The request's log line and span name the shop it acted in.
        if let Principal::Staff { shop_id, .. } | Principal::Member { shop_id, .. } = &principal {
            tracing::Span::current().record("shop", shop_id.as_str());
            if let Some(ctx) = parts.extensions.get::<Arc<RequestContext>>() {
                let _ = ctx.shop.set(shop_id.clone());
            }
        }
        Ok(Auth(principal))
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

/// A required JSON body.
pub struct Body<T>(pub T);

impl<T: DeserializeOwned, S: Send + Sync> FromRequest<S> for Body<T> {
    type Rejection = ApiError;

    async fn from_request(req: Request, _state: &S) -> Result<Self, Self::Rejection> {
        let bytes = read_body(req, true).await?;
        Ok(Body(parse_json(&bytes)?))
    }
}

/// A required JSON body, parsed, with its exact bytes (checkout hashes them for its
/// idempotency key).
pub struct BodyWithBytes<T>(pub T, pub Bytes);

impl<T: DeserializeOwned, S: Send + Sync> FromRequest<S> for BodyWithBytes<T> {
    type Rejection = ApiError;

    async fn from_request(req: Request, _state: &S) -> Result<Self, Self::Rejection> {
        let bytes = read_body(req, true).await?;
        Ok(BodyWithBytes(parse_json(&bytes)?, bytes))
    }
}

/// An optional JSON body: an empty body is `None`; a non-empty one follows the same rules
/// as [`Body`].
pub struct OptionalBody<T>(pub Option<T>);

impl<T: DeserializeOwned, S: Send + Sync> FromRequest<S> for OptionalBody<T> {
    type Rejection = ApiError;

    async fn from_request(req: Request, _state: &S) -> Result<Self, Self::Rejection> {
        let bytes = read_body(req, false).await?;
        if bytes.is_empty() {
            return Ok(OptionalBody(None));
        }
        Ok(OptionalBody(Some(parse_json(&bytes)?)))
    }
}

/// A JSON body kept as bytes, unparsed: a provider callback is verified over its exact
/// bytes before anything reads it. Content type and size follow the same rules.
pub struct RawBody(pub Bytes);

impl<S: Send + Sync> FromRequest<S> for RawBody {
    type Rejection = ApiError;

    async fn from_request(req: Request, _state: &S) -> Result<Self, Self::Rejection> {
        Ok(RawBody(read_body(req, true).await?))
    }
}

fn is_json(headers: &HeaderMap) -> bool {
    let Some(ct) = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
    else {
        return false;
    };
    let essence = ct
        .split(';')
        .next()
        .unwrap_or("")
        .trim()
        .to_ascii_lowercase();
    essence == "application/json"
        || (essence.starts_with("application/") && essence.ends_with("+json"))
}

/// Reads a body under the size limit. A body needs a JSON content type; a route whose body
/// is required refuses a missing one the same way.
async fn read_body(req: Request, required: bool) -> Result<Bytes, ApiError> {
    let (parts, body) = req.into_parts();
    let json = is_json(&parts.headers);
    let declared = parts
        .headers
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    if declared.is_some_and(|n| n > crate::MAX_BODY_BYTES as u64) {
        return Err(ApiError::body_too_large());
    }
    if required && !json {
        return Err(unsupported_media_type(&parts.headers));
    }
    let bytes = match axum::body::to_bytes(body, crate::MAX_BODY_BYTES).await {
        Ok(b) => b,
        Err(e) => {
            let mut src: Option<&(dyn std::error::Error + 'static)> = Some(&e);
            while let Some(s) = src {
                if s.is::<http_body_util::LengthLimitError>() {
                    return Err(ApiError::body_too_large());
                }
                src = s.source();
            }
            return Err(ApiError::bad_request(format!(
                "could not read the request body: {e}"
            )));
        }
    };
    if !bytes.is_empty() && !json {
        return Err(unsupported_media_type(&parts.headers));
    }
    Ok(bytes)
}

fn unsupported_media_type(headers: &HeaderMap) -> ApiError {
    let got = match headers.get(header::CONTENT_TYPE) {
        None => "no Content-Type".to_string(),
        Some(v) => format!("Content-Type {:?}", v.to_str().unwrap_or("(not text)")),
    };
    ApiError::new(
        StatusCode::UNSUPPORTED_MEDIA_TYPE,
        ErrorCode::UnsupportedMediaType,
        format!(
            "this route takes a JSON body: send it with Content-Type: application/json (got {got})"
        ),
    )
}

/// Parses the body as exactly one JSON object. Syntax errors and trailing bytes are 400
/// `malformed_json`; anything but an object, or an object of the wrong shape, is 422
/// `invalid_request` naming the field. A number with a zero fraction (`2.0`) is an integer,
/// as JSON Schema (and so the document) says; `2.5` where an integer belongs is refused.
pub fn parse_json<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, ApiError> {
    let mut value: serde_json::Value = serde_json::from_slice(bytes).map_err(|e| {
        if bytes.iter().all(u8::is_ascii_whitespace) {
            ApiError::malformed_json("malformed JSON: the body is empty; send a JSON object")
        } else if e.to_string().starts_with("trailing characters") {
            ApiError::malformed_json(format!(
                "malformed JSON: {e}: send exactly one JSON value and nothing after it"
            ))
        } else {
            ApiError::malformed_json(format!("malformed JSON: {e}"))
        }
    })?;
    if !value.is_object() {
        let kind = match &value {
            serde_json::Value::Array(_) => "an array",
            serde_json::Value::String(_) => "a string",
            serde_json::Value::Number(_) => "a number",
            serde_json::Value::Bool(_) => "a boolean",
            _ => "null",
        };
        return Err(ApiError::invalid(format!(
            "the body must be a JSON object, not {kind}"
        )));
    }
    integral_floats_to_integers(&mut value);
    serde_path_to_error::deserialize(value).map_err(|e| {
        let path = e.path().to_string();
        let inner = e.into_inner();
        if path == "." {
            ApiError::invalid(inner.to_string())
        } else {
            ApiError::invalid(format!("{path}: {inner}"))
        }
    })
}

/// `2.0` → `2` (within ±2^53, where a float holds every integer exactly).
fn integral_floats_to_integers(v: &mut serde_json::Value) {
    match v {
        serde_json::Value::Number(n) if n.is_f64() => {
            if let Some(f) = n.as_f64()
                && f.fract() == 0.0
                && f.abs() <= 9_007_199_254_740_992.0
            {
                *v = serde_json::Value::from(f as i64);
            }
        }
        serde_json::Value::Array(items) => items.iter_mut().for_each(integral_floats_to_integers),
        serde_json::Value::Object(map) => map.values_mut().for_each(integral_floats_to_integers),
        _ => {}
    }
}

/// The query string, strictly: unknown parameters and values of the wrong type are 422
/// `invalid_request` naming the parameter.
pub struct Query<T>(pub T);

impl<T: DeserializeOwned, S: Send + Sync> FromRequestParts<S> for Query<T> {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Self, Self::Rejection> {
        let query = parts.uri.query().unwrap_or("");
        let de = serde_urlencoded::Deserializer::new(form_urlencoded::parse(query.as_bytes()));
        serde_path_to_error::deserialize(de)
            .map(Query)
            .map_err(|e| {
                let path = e.path().to_string();
                let inner = e.into_inner();
                if path == "." {
                    ApiError::invalid(format!("query string: {inner}"))
                } else {
                    ApiError::invalid(format!("query parameter {path}: {inner}"))
                }
            })
    }
}

/// Path parameters; a segment that can't be decoded is 400 `bad_request`.
pub struct Path<T>(pub T);

impl<T: DeserializeOwned + Send, S: Send + Sync> FromRequestParts<S> for Path<T> {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        match axum::extract::Path::<T>::from_request_parts(parts, state).await {
            Ok(axum::extract::Path(v)) => Ok(Path(v)),
            Err(r) => Err(ApiError::bad_request(format!(
                "path parameter: {}",
                r.body_text()
            ))),
        }
    }
}
