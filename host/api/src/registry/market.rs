//! Merchants and the registry: browse and search the approved plugins, see what an upgrade
//! would change (its capabilities against what the shop accepted) and take it, pin and
//! unpin, and opt in to canaries.

use super::{R, ok, optional_body};
use crate::{ApiError, AppState, Auth, Body, RawBody};
use axum::Router;
use axum::extract::{Path, Query, State};
use axum::routing::{get, post};
use baseplate_core::plugins::Installed;
use serde::Deserialize;
use serde_json::{Value, json};

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/api/v1/marketplace/catalog", get(catalog))
        .route("/api/v1/marketplace/plugins/{name}", get(catalog_plugin))
        .route(
            "/api/v1/plugins/{name}/upgrade",
            get(upgrade_preview).post(upgrade),
        )
        .route("/api/v1/plugins/{name}/pin", post(pin))
        .route("/api/v1/plugins/{name}/unpin", post(unpin))
        .route("/api/v1/shop/canary", get(consent).put(set_consent))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct CatalogQuery {
    /// Text to find in the name, title or description.
    q: Option<String>,
    category: Option<String>,
}

async fn catalog(State(s): State<AppState>, _auth: Auth, Query(q): Query<CatalogQuery>) -> R {
    ok(json!({
        "plugins": s.platform.catalog(q.q.as_deref(), q.category.as_deref()).await?
    }))
}

async fn catalog_plugin(State(s): State<AppState>, _auth: Auth, Path(name): Path<String>) -> R {
    ok(s.platform.catalog_plugin(&name).await?)
}

/// The shop's installation as the merchant sees it after a change.
fn installation_json(p: &Installed) -> Value {
    json!({
        "plugin": p.installation.plugin,
        "version": p.installation.version,
        "version_req": p.installation.version_req,
        "pinned": p.installation.pinned,
        "previous_version": p.installation.previous_version,
        "enabled": p.installation.enabled,
        "active": p.active(),
        "package_state": p.package_state.as_str(),
        "not_running_reason": Some(p.not_running_reason()).filter(|r| !r.is_empty()),
        "capabilities": p.manifest.capabilities,
        "accepted_capabilities": p.accepted(),
    })
}

async fn view(s: &AppState, shop: &str, name: &str) -> R {
    let p = s
        .platform
        .list_installed(shop)
        .await?
        .into_iter()
        .find(|p| p.name() == name)
        .ok_or_else(|| {
            ApiError::new(
                axum::http::StatusCode::NOT_FOUND,
                crate::ErrorCode::NotFound,
                format!("plugin {name} is not installed"),
            )
        })?;
    ok(installation_json(&p))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct PreviewQuery {
    /// A requirement to look at instead of the installation's own.
    version: Option<String>,
}

async fn upgrade_preview(
    State(s): State<AppState>,
    auth: Auth,
    Path(name): Path<String>,
    Query(q): Query<PreviewQuery>,
) -> R {
    let (shop, _) = auth.staff()?;
    ok(s.platform
        .upgrade_preview(shop, &name, q.version.as_deref())
        .await?)
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct UpgradeBody {
    /// A new requirement; default: the installation's own (a pinned one needs this).
    version: Option<String>,
    /// Needed when the new version asks for capabilities the shop has not accepted.
    accept_capabilities: Option<Vec<String>>,
}

async fn upgrade(
    State(s): State<AppState>,
    auth: Auth,
    Path(name): Path<String>,
    RawBody(body): RawBody,
) -> R {
    let shop = auth.owner()?;
    let b: UpgradeBody = optional_body(&body)?;
    s.platform
        .upgrade(shop, &name, b.version, b.accept_capabilities)
        .await?;
    view(&s, shop, &name).await
}

async fn pin(State(s): State<AppState>, auth: Auth, Path(name): Path<String>) -> R {
    let shop = auth.owner()?;
    s.platform.pin(shop, &name).await?;
    view(&s, shop, &name).await
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct UnpinBody {
    /// The requirement to follow (default `^<running version>`).
    version: Option<String>,
}

async fn unpin(
    State(s): State<AppState>,
    auth: Auth,
    Path(name): Path<String>,
    RawBody(body): RawBody,
) -> R {
    let shop = auth.owner()?;
    let b: UnpinBody = optional_body(&body)?;
    s.platform.unpin(shop, &name, b.version).await?;
    view(&s, shop, &name).await
}

async fn consent(State(s): State<AppState>, auth: Auth) -> R {
    let (shop, _) = auth.staff()?;
    let at = s.platform.canary_consent(shop).await?;
    ok(json!({ "opt_in": at.is_some(), "opted_in_at": at }))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ConsentBody {
    opt_in: bool,
}

async fn set_consent(State(s): State<AppState>, auth: Auth, Body(b): Body<ConsentBody>) -> R {
    let shop = auth.owner()?;
    let at = s.platform.set_canary_consent(shop, b.opt_in).await?;
    ok(json!({ "opt_in": at.is_some(), "opted_in_at": at }))
}
