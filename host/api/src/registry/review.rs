//! The operator's side of the registry: developer accounts, the review queue, decisions
//! (approve, reject, yank, unyank, revoke — each logged with who, when and why), the log,
//! the platform view across shops; and canaries, which the plugin's own developer may run
//! too.

use super::developers::NewDeveloper;
use super::{R, created, ok, optional_body};
use crate::{ApiError, AppState, Auth, Body, Path, Query, RawBody};
use axum::extract::State;
use baseplate_core::registry::{CanaryTarget, Review};
use serde::Deserialize;
use serde_json::json;
use utoipa::{IntoParams, ToSchema};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(list_developers, create_developer))
        .routes(routes!(approve_developer))
        .routes(routes!(suspend_developer))
        .routes(routes!(queue))
        .routes(routes!(log))
        .routes(routes!(stats))
        .routes(routes!(failures))
        .routes(routes!(show))
        .routes(routes!(approve))
        .routes(routes!(reject))
        .routes(routes!(yank))
        .routes(routes!(unyank))
        .routes(routes!(revoke))
        .routes(routes!(canary, start_canary))
        .routes(routes!(promote))
        .routes(routes!(halt))
}

/// Create an approved developer account (operator)
#[utoipa::path(post, path = "/api/v1/registry/developers", tag = "registry",
    security(("bearer" = [])),
    request_body = NewDeveloper,
    responses((status = 201, description = "The account and its API token, shown once", body = Object), (status = 409, description = "A developer of that name exists"), (status = 422, description = "A bad name or email")))]
async fn create_developer(State(s): State<AppState>, auth: Auth, Body(b): Body<NewDeveloper>) -> R {
    let actor = auth.operator_actor()?;
    let (dev, key, token) = s
        .platform
        .create_developer(Some(&actor), &b.name, b.email)
        .await?;
    created(json!({
        "developer": dev,
        "api_key": { "id": key.id, "name": key.name, "token": token },
    }))
}

#[derive(Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
struct StatusQuery {
    /// `pending`, `approved` or `suspended`.
    status: Option<String>,
}

/// Developer accounts, by status (operator)
#[utoipa::path(get, path = "/api/v1/registry/developers", tag = "registry",
    security(("bearer" = [])),
    params(StatusQuery),
    responses((status = 200, description = "Developers", body = Object)))]
async fn list_developers(State(s): State<AppState>, auth: Auth, Query(q): Query<StatusQuery>) -> R {
    auth.operator_actor()?;
    ok(json!({ "developers": s.platform.list_developers(q.status.as_deref()).await? }))
}

#[derive(Deserialize, Default, ToSchema)]
#[serde(deny_unknown_fields)]
struct Decision {
    /// Why (required to reject, yank, revoke, suspend and halt; kept in the log).
    reason: Option<String>,
    /// approve only: hold the version back for a canary instead of releasing it.
    #[serde(default)]
    staged: bool,
}

/// Approve a developer account (operator)
#[utoipa::path(post, path = "/api/v1/registry/developers/{id}/approve", tag = "registry",
    security(("bearer" = [])),
    params(("id" = String, Path, description = "The developer's id")),
    request_body = Option<Decision>,
    responses((status = 200, description = "The account", body = Object), (status = 409, description = "The account is in that state already"), (status = 404, description = "No such developer")))]
async fn approve_developer(
    State(s): State<AppState>,
    auth: Auth,
    Path(id): Path<String>,
    RawBody(body): RawBody,
) -> R {
    let actor = auth.operator_actor()?;
    let reason = optional_body::<Decision>(&body)?.reason;
    ok(s.platform
        .review_developer(&actor, &id, true, reason.as_deref())
        .await?)
}

/// Suspend a developer account with a reason (operator)
#[utoipa::path(post, path = "/api/v1/registry/developers/{id}/suspend", tag = "registry",
    security(("bearer" = [])),
    params(("id" = String, Path, description = "The developer's id")),
    request_body = Decision,
    responses((status = 200, description = "The account", body = Object), (status = 409, description = "The account is in that state already"), (status = 404, description = "No such developer")))]
async fn suspend_developer(
    State(s): State<AppState>,
    auth: Auth,
    Path(id): Path<String>,
    Body(b): Body<Decision>,
) -> R {
    let actor = auth.operator_actor()?;
    ok(s.platform
        .review_developer(&actor, &id, false, b.reason.as_deref())
        .await?)
}

/// The review queue (operator)
#[utoipa::path(get, path = "/api/v1/registry/queue", tag = "registry",
    security(("bearer" = [])),
    responses((status = 200, description = "Submitted versions with their capability diffs", body = Object)))]
async fn queue(State(s): State<AppState>, auth: Auth) -> R {
    auth.operator_actor()?;
    ok(json!({ "queue": s.platform.review_queue().await? }))
}

/// A version: manifest, digest, signer, capability diff, log
#[utoipa::path(get, path = "/api/v1/registry/plugins/{name}/versions/{version}", tag = "registry",
    security(("bearer" = [])),
    params(("name" = String, Path, description = "The plugin's name"), ("version" = String, Path, description = "The version, e.g. `1.2.0`")),
    responses((status = 200, description = "The version", body = Object), (status = 404, description = "No such version")))]
async fn show(
    State(s): State<AppState>,
    auth: Auth,
    Path((name, version)): Path<(String, String)>,
) -> R {
    let actor = auth.registry_actor()?;
    let (view, log, intact) = s.platform.version_details(&actor, &name, &version).await?;
    let mut body = serde_json::to_value(view).unwrap_or_default();
    body["artifact_intact"] = json!(intact);
    body["log"] = json!(log);
    ok(body)
}

async fn decide(
    s: AppState,
    auth: Auth,
    name: String,
    version: String,
    review: Review,
    reason: Option<String>,
) -> R {
    if matches!(auth.0, baseplate_core::shops::Principal::Developer { .. }) {
        return Err(ApiError::forbidden(
            "only the platform operator reviews versions; a developer cannot approve, reject, yank or revoke, not even their own",
        ));
    }
    let actor = auth.operator_actor()?;
    ok(s.platform
        .review(&actor, &name, &version, review, reason.as_deref())
        .await?)
}

/// Approve a version (released, or staged for a canary)
#[utoipa::path(post, path = "/api/v1/registry/plugins/{name}/versions/{version}/approve", tag = "registry",
    security(("bearer" = [])),
    params(("name" = String, Path, description = "The plugin's name"), ("version" = String, Path, description = "The version, e.g. `1.2.0`")),
    request_body = Option<Decision>,
    responses((status = 200, description = "The version", body = Object), (status = 404, description = "No such version"), (status = 409, description = "Not in a state to approve")))]
async fn approve(
    State(s): State<AppState>,
    auth: Auth,
    Path((name, version)): Path<(String, String)>,
    RawBody(body): RawBody,
) -> R {
    let b = optional_body::<Decision>(&body)?;
    let review = Review::Approve { staged: b.staged };
    decide(s, auth, name, version, review, b.reason).await
}

/// Reject a version with a reason
#[utoipa::path(post, path = "/api/v1/registry/plugins/{name}/versions/{version}/reject", tag = "registry",
    security(("bearer" = [])),
    params(("name" = String, Path, description = "The plugin's name"), ("version" = String, Path, description = "The version, e.g. `1.2.0`")),
    request_body = Decision,
    responses((status = 200, description = "The version", body = Object), (status = 404, description = "No such version"), (status = 409, description = "Not in a state to reject")))]
async fn reject(
    State(s): State<AppState>,
    auth: Auth,
    Path((name, version)): Path<(String, String)>,
    Body(b): Body<Decision>,
) -> R {
    decide(s, auth, name, version, Review::Reject, b.reason).await
}

/// Yank a version: pinned shops keep it, new installs cannot pick it
#[utoipa::path(post, path = "/api/v1/registry/plugins/{name}/versions/{version}/yank", tag = "registry",
    security(("bearer" = [])),
    params(("name" = String, Path, description = "The plugin's name"), ("version" = String, Path, description = "The version, e.g. `1.2.0`")),
    request_body = Decision,
    responses((status = 200, description = "The version", body = Object), (status = 404, description = "No such version"), (status = 409, description = "Not in a state to yank")))]
async fn yank(
    State(s): State<AppState>,
    auth: Auth,
    Path((name, version)): Path<(String, String)>,
    Body(b): Body<Decision>,
) -> R {
    decide(s, auth, name, version, Review::Yank, b.reason).await
}

/// Undo a yank
#[utoipa::path(post, path = "/api/v1/registry/plugins/{name}/versions/{version}/unyank", tag = "registry",
    security(("bearer" = [])),
    params(("name" = String, Path, description = "The plugin's name"), ("version" = String, Path, description = "The version, e.g. `1.2.0`")),
    request_body = Option<Decision>,
    responses((status = 200, description = "The version", body = Object), (status = 404, description = "No such version"), (status = 409, description = "Not yanked")))]
async fn unyank(
    State(s): State<AppState>,
    auth: Auth,
    Path((name, version)): Path<(String, String)>,
    RawBody(body): RawBody,
) -> R {
    let b = optional_body::<Decision>(&body)?;
    decide(s, auth, name, version, Review::Unyank, b.reason).await
}

/// Revoke a version: disabled in every shop at once, with a reason
#[utoipa::path(post, path = "/api/v1/registry/plugins/{name}/versions/{version}/revoke", tag = "registry",
    security(("bearer" = [])),
    params(("name" = String, Path, description = "The plugin's name"), ("version" = String, Path, description = "The version, e.g. `1.2.0`")),
    request_body = Decision,
    responses((status = 200, description = "The version", body = Object), (status = 404, description = "No such version"), (status = 409, description = "Revoked already")))]
async fn revoke(
    State(s): State<AppState>,
    auth: Auth,
    Path((name, version)): Path<(String, String)>,
    Body(b): Body<Decision>,
) -> R {
    decide(s, auth, name, version, Review::Revoke, b.reason).await
}

#[derive(Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
struct LogQuery {
    plugin: Option<String>,
    version: Option<String>,
    limit: Option<i64>,
}

/// The registry log: every operator and developer action
#[utoipa::path(get, path = "/api/v1/registry/log", tag = "registry",
    security(("bearer" = [])),
    params(LogQuery),
    responses((status = 200, description = "Log entries, newest first", body = Object)))]
async fn log(State(s): State<AppState>, auth: Auth, Query(q): Query<LogQuery>) -> R {
    auth.operator_actor()?;
    let limit = q.limit.unwrap_or(100);
    if !(1..=1000).contains(&limit) {
        return Err(ApiError::invalid("limit must be 1..=1000"));
    }
    ok(json!({
        "log": s.platform.registry_log(q.plugin.as_deref(), q.version.as_deref(), limit).await?
    }))
}

/// Platform view: installs, failure rate, p99 call time per plugin
#[utoipa::path(get, path = "/api/v1/registry/stats", tag = "registry",
    security(("bearer" = [])),
    responses((status = 200, description = "Per plugin and version", body = Object)))]
async fn stats(State(s): State<AppState>, auth: Auth) -> R {
    auth.operator_actor()?;
    // Counters this node holds in memory are written first, so the view is current.
    s.platform.flush_call_stats().await?;
    ok(json!({ "plugins": s.platform.platform_stats().await? }))
}

#[derive(Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
struct VersionQuery {
    version: Option<String>,
}

/// A plugin's recent failures across shops
#[utoipa::path(get, path = "/api/v1/registry/plugins/{name}/failures", tag = "registry",
    security(("bearer" = [])),
    params(("name" = String, Path, description = "The plugin's name"), VersionQuery),
    responses((status = 200, description = "Failures, newest first", body = Object), (status = 404, description = "No such plugin")))]
async fn failures(
    State(s): State<AppState>,
    auth: Auth,
    Path(name): Path<String>,
    Query(q): Query<VersionQuery>,
) -> R {
    let actor = auth.registry_actor()?;
    s.platform.check_may_manage(&actor, &name).await?;
    ok(json!({
        "failures": s.platform.failures_across_shops(&name, q.version.as_deref()).await?
    }))
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
struct CanaryBody {
    shops: Option<Vec<String>>,
    percent: Option<u8>,
}

/// Start a canary: a list or a percentage of consenting shops
#[utoipa::path(post, path = "/api/v1/registry/plugins/{name}/versions/{version}/canary", tag = "registry",
    security(("bearer" = [])),
    params(("name" = String, Path, description = "The plugin's name"), ("version" = String, Path, description = "The version, e.g. `1.2.0`")),
    request_body = CanaryBody,
    responses((status = 201, description = "The canary", body = Object), (status = 404, description = "No such version"), (status = 409, description = "Not staged, or a canary runs already")))]
async fn start_canary(
    State(s): State<AppState>,
    auth: Auth,
    Path((name, version)): Path<(String, String)>,
    Body(b): Body<CanaryBody>,
) -> R {
    let actor = auth.registry_actor()?;
    let target = match (b.shops, b.percent) {
        (Some(shops), None) => CanaryTarget::Shops(shops),
        (None, Some(p)) => CanaryTarget::Percent(p),
        _ => {
            return Err(ApiError::invalid(
                "give either \"shops\": [shop ids] or \"percent\": 1..=100",
            ));
        }
    };
    created(
        s.platform
            .start_canary(&actor, &name, &version, target)
            .await?,
    )
}

/// A canary's shops and failure rate
#[utoipa::path(get, path = "/api/v1/registry/plugins/{name}/versions/{version}/canary", tag = "registry",
    security(("bearer" = [])),
    params(("name" = String, Path, description = "The plugin's name"), ("version" = String, Path, description = "The version, e.g. `1.2.0`")),
    responses((status = 200, description = "The canary", body = Object), (status = 404, description = "No canary for this version")))]
async fn canary(
    State(s): State<AppState>,
    auth: Auth,
    Path((name, version)): Path<(String, String)>,
) -> R {
    let actor = auth.registry_actor()?;
    s.platform.flush_call_stats().await?;
    ok(s.platform.canary_view(&actor, &name, &version).await?)
}

/// Promote a canary to every shop
#[utoipa::path(post, path = "/api/v1/registry/plugins/{name}/versions/{version}/promote", tag = "registry",
    security(("bearer" = [])),
    params(("name" = String, Path, description = "The plugin's name"), ("version" = String, Path, description = "The version, e.g. `1.2.0`")),
    responses((status = 200, description = "The canary, promoted", body = Object), (status = 404, description = "No canary for this version"), (status = 409, description = "Not running")))]
async fn promote(
    State(s): State<AppState>,
    auth: Auth,
    Path((name, version)): Path<(String, String)>,
) -> R {
    let actor = auth.registry_actor()?;
    ok(s.platform.promote(&actor, &name, &version).await?)
}

/// Halt a canary: its shops go back, with a reason
#[utoipa::path(post, path = "/api/v1/registry/plugins/{name}/versions/{version}/halt", tag = "registry",
    security(("bearer" = [])),
    params(("name" = String, Path, description = "The plugin's name"), ("version" = String, Path, description = "The version, e.g. `1.2.0`")),
    request_body = Decision,
    responses((status = 200, description = "The canary, halted", body = Object), (status = 404, description = "No canary for this version"), (status = 409, description = "Not running")))]
async fn halt(
    State(s): State<AppState>,
    auth: Auth,
    Path((name, version)): Path<(String, String)>,
    Body(b): Body<Decision>,
) -> R {
    let actor = auth.registry_actor()?;
    ok(s.platform
        .halt(&actor, &name, &version, b.reason.as_deref())
        .await?)
}
