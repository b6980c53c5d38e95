//! Merchants and the registry: browse and search the approved plugins, see what an upgrade
//! would change (its capabilities against what the shop accepted) and take it, pin and
//! unpin, and opt in to canaries.

use super::{R, ok, optional_body};
use crate::{ApiError, AppState, Auth, Body, Path, Query, RawBody};
use axum::extract::State;
use baseplate_core::plugins::Installed;
use serde::Deserialize;
use serde_json::{Value, json};
use utoipa::{IntoParams, ToSchema};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(catalog))
        .routes(routes!(catalog_plugin))
        .routes(routes!(upgrade_preview, upgrade))
        .routes(routes!(pin))
        .routes(routes!(unpin))
        .routes(routes!(consent, set_consent))
}

#[derive(Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
struct CatalogQuery {
    /// Text to find in the name, title or description.
    q: Option<String>,
    category: Option<String>,
}

/// Browse and search approved plugins
#[utoipa::path(get, path = "/api/v1/marketplace/catalog", tag = "marketplace",
    security(("bearer" = [])),
    params(CatalogQuery),
    responses((status = 200, description = "Plugins with versions, capabilities and install counts", body = Object)))]
async fn catalog(State(s): State<AppState>, _auth: Auth, Query(q): Query<CatalogQuery>) -> R {
    ok(json!({
        "plugins": s.platform.catalog(q.q.as_deref(), q.category.as_deref()).await?
    }))
}

/// One plugin of the catalog
#[utoipa::path(get, path = "/api/v1/marketplace/plugins/{name}", tag = "marketplace",
    security(("bearer" = [])),
    params(("name" = String, Path, description = "The plugin's name")),
    responses((status = 200, description = "The plugin", body = Object), (status = 404, description = "No such approved plugin")))]
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

#[derive(Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
struct PreviewQuery {
    /// A requirement to look at instead of the installation's own.
    version: Option<String>,
}

/// What an upgrade would change (capability diff)
#[utoipa::path(get, path = "/api/v1/plugins/{name}/upgrade", tag = "plugins",
    security(("bearer" = [])),
    params(("name" = String, Path, description = "The plugin's name"), PreviewQuery),
    responses((status = 200, description = "The target version and the capabilities it adds", body = Object), (status = 404, description = "The plugin is not installed, or nothing matches")))]
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

#[derive(Deserialize, Default, ToSchema)]
#[serde(deny_unknown_fields)]
struct UpgradeBody {
    /// A new requirement; default: the installation's own (a pinned one needs this).
    version: Option<String>,
    /// Needed when the new version asks for capabilities the shop has not accepted.
    accept_capabilities: Option<Vec<String>>,
}

/// Upgrade, accepting any new capabilities
#[utoipa::path(post, path = "/api/v1/plugins/{name}/upgrade", tag = "plugins",
    security(("bearer" = [])),
    params(("name" = String, Path, description = "The plugin's name")),
    request_body = Option<UpgradeBody>,
    responses((status = 200, description = "The installation", body = Object), (status = 404, description = "The plugin is not installed, or nothing matches"), (status = 409, description = "New capabilities not accepted, or pinned")))]
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

/// Pin the running version
#[utoipa::path(post, path = "/api/v1/plugins/{name}/pin", tag = "plugins",
    security(("bearer" = [])),
    params(("name" = String, Path, description = "The plugin's name")),
    responses((status = 200, description = "The installation", body = Object), (status = 404, description = "The plugin is not installed")))]
async fn pin(State(s): State<AppState>, auth: Auth, Path(name): Path<String>) -> R {
    let shop = auth.owner()?;
    s.platform.pin(shop, &name).await?;
    view(&s, shop, &name).await
}

#[derive(Deserialize, Default, ToSchema)]
#[serde(deny_unknown_fields)]
struct UnpinBody {
    /// The requirement to follow (default `^<running version>`).
    version: Option<String>,
}

/// Unpin, following a requirement again
#[utoipa::path(post, path = "/api/v1/plugins/{name}/unpin", tag = "plugins",
    security(("bearer" = [])),
    params(("name" = String, Path, description = "The plugin's name")),
    request_body = Option<UnpinBody>,
    responses((status = 200, description = "The installation", body = Object), (status = 404, description = "The plugin is not installed")))]
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

/// Whether the shop takes canary versions
#[utoipa::path(get, path = "/api/v1/shop/canary", tag = "shops",
    security(("bearer" = [])),
    responses((status = 200, description = "The consent", body = Object)))]
async fn consent(State(s): State<AppState>, auth: Auth) -> R {
    let (shop, _) = auth.staff()?;
    let at = s.platform.canary_consent(shop).await?;
    ok(json!({ "opt_in": at.is_some(), "opted_in_at": at }))
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
struct ConsentBody {
    opt_in: bool,
}

/// Opt in to or out of canary versions
#[utoipa::path(put, path = "/api/v1/shop/canary", tag = "shops",
    security(("bearer" = [])),
    request_body = ConsentBody,
    responses((status = 200, description = "The consent", body = Object)))]
async fn set_consent(State(s): State<AppState>, auth: Auth, Body(b): Body<ConsentBody>) -> R {
    let shop = auth.owner()?;
    let at = s.platform.set_canary_consent(shop, b.opt_in).await?;
    ok(json!({ "opt_in": at.is_some(), "opted_in_at": at }))
}
