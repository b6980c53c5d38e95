//! The operator's side of the registry: developer accounts, the review queue, decisions
//! (approve, reject, yank, unyank, revoke — each logged with who, when and why), the log,
//! the platform view across shops; and canaries, which the plugin's own developer may run
//! too.

use super::developers::NewDeveloper;
use super::{R, created, ok, optional_body};
use crate::{ApiError, AppState, Auth, Body, RawBody};
use axum::Router;
use axum::extract::{Path, Query, State};
use axum::routing::{get, post};
use baseplate_core::registry::{CanaryTarget, Review};
use serde::Deserialize;
use serde_json::json;

pub fn router() -> Router<AppState> {
    const VERSION: &str = "/api/v1/registry/plugins/{name}/versions/{version}";
    Router::new()
        .route(
            "/api/v1/registry/developers",
            get(list_developers).post(create_developer),
        )
        .route(
            "/api/v1/registry/developers/{id}/approve",
            post(approve_developer),
        )
        .route(
            "/api/v1/registry/developers/{id}/suspend",
            post(suspend_developer),
        )
        .route("/api/v1/registry/queue", get(queue))
        .route("/api/v1/registry/log", get(log))
        .route("/api/v1/registry/stats", get(stats))
        .route("/api/v1/registry/plugins/{name}/failures", get(failures))
        .route(VERSION, get(show))
        .route(&format!("{VERSION}/approve"), post(approve))
        .route(&format!("{VERSION}/reject"), post(reject))
        .route(&format!("{VERSION}/yank"), post(yank))
        .route(&format!("{VERSION}/unyank"), post(unyank))
        .route(&format!("{VERSION}/revoke"), post(revoke))
        .route(&format!("{VERSION}/canary"), get(canary).post(start_canary))
        .route(&format!("{VERSION}/promote"), post(promote))
        .route(&format!("{VERSION}/halt"), post(halt))
}

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

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct StatusQuery {
    status: Option<String>,
}

async fn list_developers(State(s): State<AppState>, auth: Auth, Query(q): Query<StatusQuery>) -> R {
    auth.operator_actor()?;
    ok(json!({ "developers": s.platform.list_developers(q.status.as_deref()).await? }))
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct Decision {
    reason: Option<String>,
    /// approve only: hold the version back for a canary instead of releasing it.
    #[serde(default)]
    staged: bool,
}

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

async fn queue(State(s): State<AppState>, auth: Auth) -> R {
    auth.operator_actor()?;
    ok(json!({ "queue": s.platform.review_queue().await? }))
}

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

async fn reject(
    State(s): State<AppState>,
    auth: Auth,
    Path((name, version)): Path<(String, String)>,
    Body(b): Body<Decision>,
) -> R {
    decide(s, auth, name, version, Review::Reject, b.reason).await
}

async fn yank(
    State(s): State<AppState>,
    auth: Auth,
    Path((name, version)): Path<(String, String)>,
    Body(b): Body<Decision>,
) -> R {
    decide(s, auth, name, version, Review::Yank, b.reason).await
}

async fn unyank(
    State(s): State<AppState>,
    auth: Auth,
    Path((name, version)): Path<(String, String)>,
    RawBody(body): RawBody,
) -> R {
    let b = optional_body::<Decision>(&body)?;
    decide(s, auth, name, version, Review::Unyank, b.reason).await
}

async fn revoke(
    State(s): State<AppState>,
    auth: Auth,
    Path((name, version)): Path<(String, String)>,
    Body(b): Body<Decision>,
) -> R {
    decide(s, auth, name, version, Review::Revoke, b.reason).await
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct LogQuery {
    plugin: Option<String>,
    version: Option<String>,
    limit: Option<i64>,
}

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

async fn stats(State(s): State<AppState>, auth: Auth) -> R {
    auth.operator_actor()?;
    // Counters this node holds in memory are written first, so the view is current.
    s.platform.flush_call_stats().await?;
    ok(json!({ "plugins": s.platform.platform_stats().await? }))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct VersionQuery {
    version: Option<String>,
}

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

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct CanaryBody {
    shops: Option<Vec<String>>,
    percent: Option<u8>,
}

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

async fn canary(
    State(s): State<AppState>,
    auth: Auth,
    Path((name, version)): Path<(String, String)>,
) -> R {
    let actor = auth.registry_actor()?;
    s.platform.flush_call_stats().await?;
    ok(s.platform.canary_view(&actor, &name, &version).await?)
}

async fn promote(
    State(s): State<AppState>,
    auth: Auth,
    Path((name, version)): Path<(String, String)>,
) -> R {
    let actor = auth.registry_actor()?;
    ok(s.platform.promote(&actor, &name, &version).await?)
}

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
