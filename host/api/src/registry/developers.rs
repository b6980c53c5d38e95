//! Developers: sign up (the operator approves), manage API keys and ed25519 signing keys,
//! publish signed versions, and follow their plugins' review state.

use super::{R, created, ok};
use crate::{ApiError, AppState, Auth, Body, Path};
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::IntoResponse;
use base64::Engine as _;
use baseplate_core::registry::PublishRequest;
use baseplate_marketplace::Manifest;
use serde::Deserialize;
use serde_json::{Value, json};
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(sign_up))
        .routes(routes!(account))
        .routes(routes!(create_api_key))
        .routes(routes!(revoke_api_key))
        .routes(routes!(add_signing_key))
        .routes(routes!(rotate_signing_key))
        .routes(routes!(revoke_signing_key))
        .routes(routes!(plugins))
        .routes(routes!(publish))
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct NewDeveloper {
    pub name: String,
    pub email: Option<String>,
}

/// Sign up as a plugin developer (the operator approves)
///
/// Anyone may sign up; the account is `pending` until the operator approves it. The API
/// token is returned once.
#[utoipa::path(post, path = "/api/v1/developers", tag = "developers",
    request_body = NewDeveloper,
    responses((status = 201, description = "The account (pending) and its API token, shown once", body = Object), (status = 409, description = "A developer of that name exists"), (status = 422, description = "A bad name or email")))]
async fn sign_up(State(s): State<AppState>, Body(b): Body<NewDeveloper>) -> R {
    let (dev, key, token) = s.platform.create_developer(None, &b.name, b.email).await?;
    created(json!({
        "developer": dev,
        "api_key": { "id": key.id, "name": key.name, "token": token },
        "next": "the platform operator approves the account; then register a signing key and publish",
    }))
}

/// Your developer account, API keys and signing keys
#[utoipa::path(get, path = "/api/v1/developer", tag = "developers",
    security(("bearer" = [])),
    responses((status = 200, description = "The account", body = Object)))]
async fn account(State(s): State<AppState>, auth: Auth) -> R {
    let id = auth.developer_account()?;
    ok(s.platform.developer_account(id).await?)
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
struct NamedKey {
    name: String,
}

/// Make another developer API key (the token is shown once)
#[utoipa::path(post, path = "/api/v1/developer/api-keys", tag = "developers",
    security(("bearer" = [])),
    request_body = NamedKey,
    responses((status = 201, description = "The key and its token", body = Object)))]
async fn create_api_key(State(s): State<AppState>, auth: Auth, Body(b): Body<NamedKey>) -> R {
    let id = auth.developer()?;
    let (key, token) = s.platform.create_developer_api_key(id, &b.name).await?;
    created(json!({ "id": key.id, "name": key.name, "created_at": key.created_at, "token": token }))
}

/// Revoke a developer API key
#[utoipa::path(delete, path = "/api/v1/developer/api-keys/{id}", tag = "developers",
    security(("bearer" = [])),
    params(("id" = String, Path, description = "The key's id")),
    responses((status = 204, description = "Revoked"), (status = 404, description = "No such key of yours")))]
async fn revoke_api_key(State(s): State<AppState>, auth: Auth, Path(key): Path<String>) -> R {
    let id = auth.developer()?;
    s.platform.revoke_developer_api_key(id, &key).await?;
    Ok(StatusCode::NO_CONTENT.into_response())
}

#[derive(Deserialize, ToSchema)]
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

/// Register an ed25519 signing key
#[utoipa::path(post, path = "/api/v1/developer/signing-keys", tag = "developers",
    security(("bearer" = [])),
    request_body = NewSigningKey,
    responses((status = 201, description = "The registered key", body = Object), (status = 409, description = "The key is registered already"), (status = 422, description = "Not an ed25519 public key")))]
async fn add_signing_key(State(s): State<AppState>, auth: Auth, Body(b): Body<NewSigningKey>) -> R {
    let id = auth.developer()?;
    created(
        s.platform
            .add_signing_key(id, &b.name, &b.public_key, None)
            .await?,
    )
}

/// Replace a signing key by a new one
///
/// Registers a new key and revokes `{id}` in one step.
#[utoipa::path(post, path = "/api/v1/developer/signing-keys/{id}/rotate", tag = "developers",
    security(("bearer" = [])),
    params(("id" = String, Path, description = "The key to replace")),
    request_body = NewSigningKey,
    responses((status = 201, description = "The new key; the old one is revoked", body = Object), (status = 404, description = "No such active key of yours"), (status = 409, description = "The new key is registered already"), (status = 422, description = "Not an ed25519 public key")))]
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

/// Revoke a signing key
#[utoipa::path(delete, path = "/api/v1/developer/signing-keys/{id}", tag = "developers",
    security(("bearer" = [])),
    params(("id" = String, Path, description = "The key's id")),
    responses((status = 204, description = "Revoked"), (status = 404, description = "No such active key of yours")))]
async fn revoke_signing_key(State(s): State<AppState>, auth: Auth, Path(key): Path<String>) -> R {
    let id = auth.developer()?;
    s.platform.revoke_signing_key(id, &key).await?;
    Ok(StatusCode::NO_CONTENT.into_response())
}

/// Your plugins, versions and review states
#[utoipa::path(get, path = "/api/v1/developer/plugins", tag = "developers",
    security(("bearer" = [])),
    responses((status = 200, description = "Your plugins", body = Object)))]
async fn plugins(State(s): State<AppState>, auth: Auth) -> R {
    let id = auth.developer()?;
    ok(json!({ "plugins": s.platform.developer_plugins(id).await? }))
}

/// The publish envelope: `manifest` as `plugin.toml` text or as its JSON object,
/// `component` as base64, and the signature (128 hex digits) made with the registered key
/// `key_id` over [`baseplate_marketplace::signing_message`].
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
struct Envelope {
    /// `plugin.toml` as text, or its JSON object.
    #[schema(value_type = Object)]
    manifest: Value,
    /// The component, standard base64.
    component: String,
    signature: String,
    key_id: String,
}

/// Publish a signed version for review
///
/// Publishes a version for review. The body may be as large as the largest component the
/// registry accepts (in base64) plus room for the manifest.
#[utoipa::path(post, path = "/api/v1/developer/packages", tag = "developers",
    security(("bearer" = [])),
    request_body = Envelope,
    responses((status = 201, description = "The version, submitted for review", body = Object), (status = 409, description = "The version exists or is not newer"), (status = 413, description = "The component is over the limit"), (status = 422, description = "Refused: not a component, a bad manifest, signature, contract, import or capability")))]
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
