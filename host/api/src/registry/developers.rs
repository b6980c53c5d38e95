//! Developers: sign up (the operator approves), manage API keys and ed25519 signing keys,
//! publish signed versions, and follow their plugins' review state.

use super::{R, created, ok};
use crate::{ApiError, AppState, Auth, Body};
use axum::Router;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::IntoResponse;
use axum::routing::{delete, get, post};
use base64::Engine as _;
use baseplate_core::registry::PublishRequest;
use baseplate_marketplace::Manifest;
use serde::Deserialize;
use serde_json::{Value, json};

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/api/v1/developers", post(sign_up))
        .route("/api/v1/developer", get(account))
        .route("/api/v1/developer/api-keys", post(create_api_key))
        .route("/api/v1/developer/api-keys/{id}", delete(revoke_api_key))
        .route("/api/v1/developer/signing-keys", post(add_signing_key))
        .route(
            "/api/v1/developer/signing-keys/{id}/rotate",
            post(rotate_signing_key),
        )
        .route(
            "/api/v1/developer/signing-keys/{id}",
            delete(revoke_signing_key),
        )
        .route("/api/v1/developer/plugins", get(plugins))
        .route("/api/v1/developer/packages", post(publish))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct NewDeveloper {
    pub name: String,
    pub email: Option<String>,
}

/// Anyone may sign up; the account is `pending` until the operator approves it. The API
/// token is returned once.
async fn sign_up(State(s): State<AppState>, Body(b): Body<NewDeveloper>) -> R {
    let (dev, key, token) = s.platform.create_developer(None, &b.name, b.email).await?;
    created(json!({
        "developer": dev,
        "api_key": { "id": key.id, "name": key.name, "token": token },
        "next": "the platform operator approves the account; then register a signing key and publish",
    }))
}

async fn account(State(s): State<AppState>, auth: Auth) -> R {
    let id = auth.developer_account()?;
    ok(s.platform.developer_account(id).await?)
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct NamedKey {
    name: String,
}

async fn create_api_key(State(s): State<AppState>, auth: Auth, Body(b): Body<NamedKey>) -> R {
    let id = auth.developer()?;
    let (key, token) = s.platform.create_developer_api_key(id, &b.name).await?;
    created(json!({ "id": key.id, "name": key.name, "created_at": key.created_at, "token": token }))
}

async fn revoke_api_key(State(s): State<AppState>, auth: Auth, Path(key): Path<String>) -> R {
    let id = auth.developer()?;
    s.platform.revoke_developer_api_key(id, &key).await?;
    Ok(StatusCode::NO_CONTENT.into_response())
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct NewSigningKey {
    #[serde(default = "default_key_name")]
    name: String,
    /// ed25519 public key, 64 hex digits.
    public_key: String,
}

fn default_key_name() -> String {
    "signing key".into()
}

async fn add_signing_key(State(s): State<AppState>, auth: Auth, Body(b): Body<NewSigningKey>) -> R {
    let id = auth.developer()?;
    created(
        s.platform
            .add_signing_key(id, &b.name, &b.public_key, None)
            .await?,
    )
}

/// Registers a new key and revokes `{id}` in one step.
async fn rotate_signing_key(
    State(s): State<AppState>,
    auth: Auth,
    Path(old): Path<String>,
    Body(b): Body<NewSigningKey>,
) -> R {
    let id = auth.developer()?;
    created(
        s.platform
            .add_signing_key(id, &b.name, &b.public_key, Some(&old))
            .await?,
    )
}

async fn revoke_signing_key(State(s): State<AppState>, auth: Auth, Path(key): Path<String>) -> R {
    let id = auth.developer()?;
    s.platform.revoke_signing_key(id, &key).await?;
    Ok(StatusCode::NO_CONTENT.into_response())
}

async fn plugins(State(s): State<AppState>, auth: Auth) -> R {
    let id = auth.developer()?;
    ok(json!({ "plugins": s.platform.developer_plugins(id).await? }))
}

/// The publish envelope: `manifest` as `plugin.toml` text or as its JSON object,
/// `component` as base64, and the signature (128 hex digits) made with the registered key
/// `key_id` over [`baseplate_marketplace::signing_message`].
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Envelope {
    manifest: Value,
    component: String,
    signature: String,
    key_id: String,
}

/// Publishes a version for review. The body may be as large as the largest component the
/// registry accepts (in base64) plus room for the manifest.
async fn publish(State(s): State<AppState>, auth: Auth, body: axum::body::Body) -> R {
    let id = auth.developer()?.to_string();
    let max = s.platform.settings.max_component_bytes;
    let limit = max / 3 * 4 + 8 + (1 << 20);
    let bytes = axum::body::to_bytes(body, limit).await.map_err(|_| {
        ApiError::new(
            StatusCode::PAYLOAD_TOO_LARGE,
            crate::ErrorCode::ComponentTooLarge,
            format!(
                "the upload is too large: the registry accepts components of at most {max} bytes"
            ),
        )
    })?;
    let envelope: Envelope = serde_json::from_slice(&bytes).map_err(|e| {
        ApiError::new(
            StatusCode::UNPROCESSABLE_ENTITY,
            crate::ErrorCode::InvalidRequest,
            format!("publish body: {e}; send {{\"manifest\", \"component\" (base64), \"signature\" (hex), \"key_id\"}}"),
        )
    })?;
    let manifest = match &envelope.manifest {
        Value::String(text) => Manifest::parse(text),
        Value::Object(_) => Manifest::from_json(&envelope.manifest.to_string()),
        _ => {
            return Err(ApiError::new(
                StatusCode::UNPROCESSABLE_ENTITY,
                crate::ErrorCode::InvalidManifest,
                "manifest must be the plugin.toml text or its JSON object",
            ));
        }
    }
    .map_err(|e| {
        ApiError::new(
            StatusCode::UNPROCESSABLE_ENTITY,
            crate::ErrorCode::InvalidManifest,
            e.to_string(),
        )
    })?;
    let component = base64::engine::general_purpose::STANDARD
        .decode(envelope.component.trim())
        .map_err(|e| {
            ApiError::new(
                StatusCode::UNPROCESSABLE_ENTITY,
                crate::ErrorCode::InvalidRequest,
                format!("component must be standard base64: {e}"),
            )
        })?;
    let view = s
        .platform
        .publish_version(
            &id,
            PublishRequest {
                manifest,
                component,
                signature: envelope.signature,
                key_id: envelope.key_id,
            },
        )
        .await?;
    created(view)
}
