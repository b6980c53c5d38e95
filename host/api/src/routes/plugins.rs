//! A shop's plugins: install (a semver requirement and a config), configure, enable,
//! disable, roll back, uninstall, health, and each plugin's own actions.

use crate::{ApiError, AppState, Auth, Body, OptionalBody, Path, Query};
use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use baseplate_core::plugins::{InstallRequest, Installed};
use baseplate_core::shops::Principal;
use baseplate_store::plugins::{CallStats, Failure, RunSummary};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use utoipa::{IntoParams, ToSchema};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(list_plugins, install_plugin))
        .routes(routes!(uninstall_plugin))
        .routes(routes!(configure_plugin))
        .routes(routes!(enable_plugin))
        .routes(routes!(disable_plugin))
        .routes(routes!(rollback_plugin))
        .routes(routes!(plugin_health))
        .routes(routes!(plugin_action))
        .routes(routes!(set_diagnostics))
        .routes(routes!(list_runs))
        .routes(routes!(get_run))
}

/// A plugin installed in the shop.
#[derive(Serialize, ToSchema)]
pub struct InstalledPlugin {
    plugin: String,
    /// The version it runs.
    version: String,
    /// The semver requirement it was installed with.
    version_req: String,
    pinned: bool,
    /// Where a rollback goes.
    previous_version: Option<String>,
    enabled: bool,
    /// Enabled and its version not revoked: it runs for this shop now.
    active: bool,
    /// `submitted`, `approved`, `rejected`, `yanked` or `revoked`.
    package_state: String,
    /// The merchant's configuration.
    #[schema(value_type = Object)]
    config: Value,
    /// The host interfaces it was granted.
    capabilities: Vec<String>,
    /// Its circuit breaker keeps it off until then (ms since the epoch).
    tripped_until: Option<i64>,
    title: String,
    /// Why it does not run now (disabled, revoked with the operator's reason), if it doesn't.
    not_running_reason: Option<String>,
    /// The capabilities the merchant accepted; an upgrade asking for more waits for consent.
    accepted_capabilities: Vec<String>,
}

impl From<&Installed> for InstalledPlugin {
    fn from(p: &Installed) -> Self {
        InstalledPlugin {
            plugin: p.installation.plugin.clone(),
            version: p.installation.version.clone(),
            version_req: p.installation.version_req.clone(),
            pinned: p.installation.pinned,
            previous_version: p.installation.previous_version.clone(),
            enabled: p.installation.enabled,
            active: p.active(),
            package_state: p.package_state.as_str().to_string(),
            config: serde_json::from_str(&p.installation.config).unwrap_or(Value::Null),
            capabilities: p
                .manifest
                .capabilities
                .iter()
                .map(|c| c.as_str().to_string())
                .collect(),
            tripped_until: p.installation.tripped_until,
            title: p.manifest.title.clone(),
            not_running_reason: Some(p.not_running_reason()).filter(|r| !r.is_empty()),
            accepted_capabilities: p.accepted().iter().map(|c| c.to_string()).collect(),
        }
    }
}

#[derive(Serialize, ToSchema)]
pub struct InstalledList {
    plugins: Vec<InstalledPlugin>,
}

/// The shop's installed plugins
#[utoipa::path(get, path = "/api/v1/plugins", tag = "plugins",
    security(("bearer" = [])),
    responses((status = 200, description = "Installed plugins", body = InstalledList)))]
async fn list_plugins(
    State(s): State<AppState>,
    auth: Auth,
) -> Result<Json<InstalledList>, ApiError> {
    let (shop, _) = auth.staff()?;
    let plugins = s
        .platform
        .list_installed(shop)
        .await?
        .iter()
        .map(InstalledPlugin::from)
        .collect();
    Ok(Json(InstalledList { plugins }))
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct InstallPlugin {
    /// The plugin's registry name.
    name: String,
    /// A semver requirement: `*`, `^0.1`, `=0.1.2`.
    #[serde(default = "any_version")]
    #[schema(default = "*")]
    version: String,
    /// The merchant's configuration, validated by the plugin.
    #[schema(value_type = Option<Object>)]
    config: Option<Value>,
    /// The capabilities the merchant accepts: must equal the resolved version's (the 409
    /// `capabilities_not_accepted` lists them in `error.details`).
    accept_capabilities: Option<Vec<String>>,
}

fn any_version() -> String {
    "*".into()
}

async fn plugin_view(s: &AppState, shop: &str, name: &str) -> Result<InstalledPlugin, ApiError> {
    let all = s.platform.list_installed(shop).await?;
    all.iter()
        .find(|p| p.installation.plugin == name)
        .map(InstalledPlugin::from)
        .ok_or_else(|| ApiError::not_found(format!("plugin {name} is not installed")))
}

/// Install a plugin (semver requirement, config)
#[utoipa::path(post, path = "/api/v1/plugins", tag = "plugins",
    security(("bearer" = [])),
    request_body = InstallPlugin,
    responses(
        (status = 201, description = "Installed and enabled", body = InstalledPlugin),
        (status = 404, description = "No such plugin, or no approved version matches"),
        (status = 409, description = "It can't be installed now"),
        (status = 424, description = "The plugin failed validating its config"),
    ))]
async fn install_plugin(
    State(s): State<AppState>,
    auth: Auth,
    Body(b): Body<InstallPlugin>,
) -> Result<(StatusCode, Json<InstalledPlugin>), ApiError> {
    let shop = auth.owner()?;
    let inst = s
        .platform
        .install(
            shop,
            InstallRequest {
                plugin: b.name,
                version_req: b.version,
                config: b.config,
                accept_capabilities: b.accept_capabilities,
            },
        )
        .await?;
    Ok((
        StatusCode::CREATED,
        Json(plugin_view(&s, shop, &inst.plugin).await?),
    ))
}

/// Configure a plugin (validated by the plugin)
#[utoipa::path(put, path = "/api/v1/plugins/{name}/config", tag = "plugins",
    security(("bearer" = [])),
    params(("name" = String, Path, description = "The plugin's name")),
    request_body(content = Object, description = "The plugin's configuration (its manifest's config schema)"),
    responses(
        (status = 200, description = "The plugin as configured", body = InstalledPlugin),
        (status = 404, description = "The plugin is not installed"),
        (status = 424, description = "The plugin failed validating the config"),
    ))]
async fn configure_plugin(
    State(s): State<AppState>,
    auth: Auth,
    Path(name): Path<String>,
    Body(config): Body<Value>,
) -> Result<Json<InstalledPlugin>, ApiError> {
    let shop = auth.owner()?;
    s.platform.configure(shop, &name, config).await?;
    Ok(Json(plugin_view(&s, shop, &name).await?))
}

/// Enable a plugin (resets its circuit breaker)
#[utoipa::path(post, path = "/api/v1/plugins/{name}/enable", tag = "plugins",
    security(("bearer" = [])),
    params(("name" = String, Path, description = "The plugin's name")),
    responses(
        (status = 200, description = "The plugin, enabled", body = InstalledPlugin),
        (status = 404, description = "The plugin is not installed"),
        (status = 409, description = "Its version was revoked"),
    ))]
async fn enable_plugin(
    State(s): State<AppState>,
    auth: Auth,
    Path(name): Path<String>,
) -> Result<Json<InstalledPlugin>, ApiError> {
    let shop = auth.owner()?;
    s.platform.set_enabled(shop, &name, true).await?;
    Ok(Json(plugin_view(&s, shop, &name).await?))
}

/// Disable a plugin
#[utoipa::path(post, path = "/api/v1/plugins/{name}/disable", tag = "plugins",
    security(("bearer" = [])),
    params(("name" = String, Path, description = "The plugin's name")),
    responses(
        (status = 200, description = "The plugin, disabled", body = InstalledPlugin),
        (status = 404, description = "The plugin is not installed"),
        (status = 409, description = "It can't be disabled now"),
    ))]
async fn disable_plugin(
    State(s): State<AppState>,
    auth: Auth,
    Path(name): Path<String>,
) -> Result<Json<InstalledPlugin>, ApiError> {
    let shop = auth.owner()?;
    s.platform.set_enabled(shop, &name, false).await?;
    Ok(Json(plugin_view(&s, shop, &name).await?))
}

/// Go back to the previous version, pinned
#[utoipa::path(post, path = "/api/v1/plugins/{name}/rollback", tag = "plugins",
    security(("bearer" = [])),
    params(("name" = String, Path, description = "The plugin's name")),
    responses(
        (status = 200, description = "The plugin at its previous version", body = InstalledPlugin),
        (status = 404, description = "The plugin is not installed"),
        (status = 409, description = "There is no previous version to go back to"),
        (status = 424, description = "The previous version failed validating the config"),
    ))]
async fn rollback_plugin(
    State(s): State<AppState>,
    auth: Auth,
    Path(name): Path<String>,
) -> Result<Json<InstalledPlugin>, ApiError> {
    let shop = auth.owner()?;
    s.platform.rollback(shop, &name).await?;
    Ok(Json(plugin_view(&s, shop, &name).await?))
}

/// Uninstall a plugin
#[utoipa::path(delete, path = "/api/v1/plugins/{name}", tag = "plugins",
    security(("bearer" = [])),
    params(("name" = String, Path, description = "The plugin's name")),
    responses(
        (status = 204, description = "Uninstalled"),
        (status = 404, description = "The plugin is not installed"),
    ))]
async fn uninstall_plugin(
    State(s): State<AppState>,
    auth: Auth,
    Path(name): Path<String>,
) -> Result<StatusCode, ApiError> {
    s.platform.uninstall(auth.owner()?, &name).await?;
    Ok(StatusCode::NO_CONTENT)
}

#[derive(Serialize, ToSchema)]
pub struct PluginHealth {
    plugin: String,
    /// Calls and failures per hook.
    calls: Vec<CallStats>,
    /// The most recent failures (up to 50), newest first.
    failures: Vec<Failure>,
    /// What the plugin keeps in this shop now.
    usage: Usage,
    /// What it may keep (the node's quota per shop and plugin).
    quota: Usage,
    /// The circuit breaker: why and until when the plugin is tripped off, if it is.
    breaker: Option<Breaker>,
    /// The version it runs and, if it does not run, why.
    installation: Option<InstalledPlugin>,
}

/// State and timers a plugin keeps (or may keep) in one shop.
#[derive(Serialize, ToSchema)]
pub struct Usage {
    state_keys: i64,
    state_bytes: i64,
    timers: i64,
}

/// The breaker's state for a plugin in a shop.
#[derive(Serialize, ToSchema)]
pub struct Breaker {
    /// Tripped off until this time (ms since epoch); calls fail fast before it.
    tripped_until: Option<i64>,
    /// Why it last tripped.
    reason: Option<String>,
    /// Trips in a row lately: each lasts twice as long as the one before.
    trips: i64,
    /// Faults in a row now.
    consecutive_failures: i64,
}

/// Call counts and recent failures
#[utoipa::path(get, path = "/api/v1/plugins/{name}/health", tag = "plugins",
    security(("bearer" = [])),
    params(("name" = String, Path, description = "The plugin's name")),
    responses((status = 200, description = "The plugin's calls and failures in this shop", body = PluginHealth)))]
async fn plugin_health(
    State(s): State<AppState>,
    auth: Auth,
    Path(name): Path<String>,
) -> Result<Json<PluginHealth>, ApiError> {
    let (shop, _) = auth.staff()?;
    let (stats, failures) = s.platform.plugin_health(shop, Some(&name), 50).await?;
    let calls = stats.into_iter().filter(|c| c.plugin == name).collect();
    let (usage, quota) = s.platform.plugin_usage(shop, &name).await?;
    let installed = s
        .platform
        .list_installed(shop)
        .await?
        .into_iter()
        .find(|p| p.name() == name);
    let installation = installed.as_ref().map(InstalledPlugin::from);
    let breaker = installed.map(|p| Breaker {
        tripped_until: p.installation.tripped_until,
        reason: p.installation.tripped_reason,
        trips: p.installation.trips,
        consecutive_failures: p.installation.consecutive_failures,
    });
    Ok(Json(PluginHealth {
        plugin: name,
        calls,
        failures,
        usage: Usage {
            state_keys: usage.state_keys,
            state_bytes: usage.state_bytes,
            timers: usage.timers,
        },
        quota: Usage {
            state_keys: quota.state_keys,
            state_bytes: quota.state_bytes,
            timers: quota.timers,
        },
        breaker,
        installation,
    }))
}

/// Run a plugin action (JSON in, JSON out)
///
/// A member acts for themselves; staff act as staff. The plugin's `plugin.toml` lists its
/// actions and who may call each; an empty body is `{}`.
#[utoipa::path(post, path = "/api/v1/plugins/{name}/actions/{action}", tag = "plugins",
    security(("bearer" = [])),
    params(
        ("name" = String, Path, description = "The plugin's name"),
        ("action" = String, Path, description = "The action, e.g. `claim`"),
    ),
    request_body(content = Object, description = "The action's input (the plugin documents it)"),
    responses(
        (status = 200, description = "The action's output (the plugin documents it)", body = Object),
        (status = 404, description = "The plugin is not installed, or it does not have that action, or what the input names"),
        (status = 409, description = "The plugin found the request in conflict with its state"),
        (status = 424, description = "The plugin failed"),
    ))]
async fn plugin_action(
    State(s): State<AppState>,
    auth: Auth,
    Path((name, action)): Path<(String, String)>,
    OptionalBody(input): OptionalBody<Value>,
) -> Result<Json<Value>, ApiError> {
    let shop = auth.shop()?.to_string();
    let input = input.unwrap_or_else(|| Value::Object(Default::default()));
    let actor = match &auth.0 {
        Principal::Member { member_id, .. } => baseplate_runtime::Actor::Member(member_id.clone()),
        Principal::Staff { key_id, .. } => baseplate_runtime::Actor::Staff(key_id.clone()),
        Principal::Operator { .. } | Principal::Developer { .. } => {
            return Err(ApiError::forbidden(
                "only a shop's members and staff run its plugin actions",
            ));
        }
    };
    Ok(Json(
        s.platform
            .plugin_action(&shop, &name, &action, actor, input)
            .await?,
    ))
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct DiagnosticsRequest {
    /// Record the plugin's calls (true) or stop (false).
    enabled: bool,
    /// For how many hours, 1..=168 (default 24).
    #[schema(minimum = 1, maximum = 168)]
    hours: Option<i64>,
}

#[derive(Serialize, ToSchema)]
pub struct Diagnostics {
    plugin: String,
    /// Calls are recorded until then (ms since the epoch); null when off.
    recording_until: Option<i64>,
    /// Recorded calls kept per plugin in this shop (older ones are dropped), and for how
    /// many hours at most.
    keeps: i64,
    keeps_hours: i64,
}

/// Record a plugin's calls for replay (diagnostics)
///
/// While on, each call of the plugin in this shop is kept as a replayable record: its
/// input, config, clock, seed, the shop data it read and what it did. A developer replays
/// one against a new build with `baseplate plugin replay <id>`.
#[utoipa::path(put, path = "/api/v1/plugins/{name}/diagnostics", tag = "plugins",
    security(("bearer" = [])),
    params(("name" = String, Path, description = "The plugin's name")),
    request_body = DiagnosticsRequest,
    responses(
        (status = 200, description = "Diagnostics on or off", body = Diagnostics),
        (status = 422, description = "Hours out of range"),
        (status = 404, description = "The plugin is not installed"),
    ))]
async fn set_diagnostics(
    State(s): State<AppState>,
    auth: Auth,
    Path(name): Path<String>,
    Body(b): Body<DiagnosticsRequest>,
) -> Result<Json<Diagnostics>, ApiError> {
    let shop = auth.owner()?;
    let ms = match (b.enabled, b.hours) {
        (false, _) => None,
        (true, None) => Some(baseplate_core::plugins::DIAGNOSTICS_DEFAULT_MS),
        (true, Some(h)) if (1..=168).contains(&h) => Some(h * 3_600_000),
        (true, Some(h)) => {
            return Err(ApiError::invalid(format!(
                "hours must be 1..=168 (a week), not {h}"
            )));
        }
    };
    let until = s.platform.set_diagnostics(shop, &name, ms).await?;
    Ok(Json(Diagnostics {
        plugin: name,
        recording_until: until,
        keeps: baseplate_core::plugins::RUNS_KEPT,
        keeps_hours: baseplate_core::plugins::RUNS_MAX_AGE_MS / 3_600_000,
    }))
}

#[derive(Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct RunQuery {
    /// Page size, 1..=200 (default 50).
    #[param(minimum = 1, maximum = 200)]
    limit: Option<i64>,
}

#[derive(Serialize, ToSchema)]
pub struct RunList {
    runs: Vec<RunSummary>,
}

/// A plugin's recorded calls, newest first
#[utoipa::path(get, path = "/api/v1/plugins/{name}/runs", tag = "plugins",
    security(("bearer" = [])),
    params(("name" = String, Path, description = "The plugin's name"), RunQuery),
    responses(
        (status = 200, description = "Recorded calls", body = RunList),
        (status = 422, description = "Limit out of range"),
    ))]
async fn list_runs(
    State(s): State<AppState>,
    auth: Auth,
    Path(name): Path<String>,
    Query(q): Query<RunQuery>,
) -> Result<Json<RunList>, ApiError> {
    let (shop, _) = auth.staff()?;
    let limit = q.limit.unwrap_or(50);
    if !(1..=200).contains(&limit) {
        return Err(ApiError::invalid(format!(
            "limit must be 1..=200, not {limit}"
        )));
    }
    let runs = s.platform.list_runs(shop, &name, limit).await?;
    Ok(Json(RunList { runs }))
}

#[derive(Serialize, ToSchema)]
pub struct Run {
    #[serde(flatten)]
    run: RunSummary,
    /// The call as `baseplate plugin run`/`replay` read it: hook, input, config, now,
    /// seed, the data it read, and in `expect` what it did.
    #[schema(value_type = Object)]
    record: Value,
}

/// One recorded call, replayable
#[utoipa::path(get, path = "/api/v1/plugins/{name}/runs/{id}", tag = "plugins",
    security(("bearer" = [])),
    params(
        ("name" = String, Path, description = "The plugin's name"),
        ("id" = i64, Path, description = "The recorded call's id"),
    ),
    responses(
        (status = 200, description = "The recorded call", body = Run),
        (status = 404, description = "No such recorded call of this plugin in this shop"),
    ))]
async fn get_run(
    State(s): State<AppState>,
    auth: Auth,
    Path((name, id)): Path<(String, i64)>,
) -> Result<Json<Run>, ApiError> {
    let (shop, _) = auth.staff()?;
    let (run, record) = s.platform.get_run(shop, &name, id).await?;
    Ok(Json(Run { run, record }))
}
