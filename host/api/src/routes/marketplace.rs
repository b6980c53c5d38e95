//! The marketplace as merchants see it.

use crate::{ApiError, AppState, Auth};
use axum::Json;
use axum::extract::State;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(marketplace))
}

/// A published plugin version that can be installed (or still runs somewhere).
#[derive(Serialize, Deserialize, ToSchema)]
pub struct MarketplacePlugin {
    name: String,
    version: String,
    /// `approved` or `yanked`.
    state: String,
    /// The WIT contract version it targets.
    wit: String,
    /// sha256 of the component, hex.
    digest: String,
    /// The publisher's ed25519 public key, hex.
    publisher: String,
    /// The plugin's manifest: title, description, category, capabilities, hooks, actions,
    /// config.
    #[schema(value_type = Object)]
    manifest: serde_json::Value,
}

#[derive(Serialize, ToSchema)]
pub struct Marketplace {
    plugins: Vec<MarketplacePlugin>,
}

/// Plugins in the marketplace
#[utoipa::path(get, path = "/api/v1/marketplace/plugins", tag = "marketplace",
    security(("bearer" = [])),
    responses((status = 200, description = "Every installable version", body = Marketplace)))]
async fn marketplace(
    State(s): State<AppState>,
    _auth: Auth,
) -> Result<Json<Marketplace>, ApiError> {
    // Core gives these as JSON objects; read them into the documented type.
    let plugins = s
        .platform
        .marketplace()
        .await?
        .into_iter()
        .map(serde_json::from_value)
        .collect::<Result<_, _>>()
        .map_err(|e| ApiError::internal(format!("a marketplace row does not read: {e}")))?;
    Ok(Json(Marketplace { plugins }))
}
