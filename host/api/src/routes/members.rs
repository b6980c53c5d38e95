//! Members: a buyer joins a shop (public), staff list and change members, a member reads
//! themselves.

use crate::routes::{Page, limit};
use crate::{ApiError, AppState, Auth, Body, Path, Query};
use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use baseplate_core::shops::NewMember;
use baseplate_store::members::Member;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(join_shop))
        .routes(routes!(list_members, create_member))
        .routes(routes!(get_member, update_member))
        .routes(routes!(me))
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct JoinShop {
    #[schema(min_length = 1, max_length = 100, pattern = r"\S")]
    name: String,
    /// Digits, `+` or `-`; unique in the shop.
    #[schema(pattern = "^[0-9+-]{1,32}$")]
    phone: Option<String>,
    /// The member who invited this one (a member of the same shop).
    inviter_id: Option<String>,
    /// At most 50, each 1..=50 characters.
    #[serde(default)]
    #[schema(schema_with = crate::routes::tags_schema)]
    tags: Vec<String>,
}

/// A member and their member token (`bp_mt_…`), shown once.
#[derive(Serialize, ToSchema)]
pub struct MemberJoined {
    member: Member,
    token: String,
}

async fn join(s: &AppState, shop: &str, b: JoinShop) -> Result<MemberJoined, ApiError> {
    let (member, token) = s
        .platform
        .join(
            shop,
            NewMember {
                name: b.name,
                phone: b.phone,
                inviter_id: b.inviter_id,
                tags: b.tags,
            },
        )
        .await?;
    Ok(MemberJoined { member, token })
}

/// A buyer joins a shop; returns a member token
///
/// From the shop's mini-program or a share link.
#[utoipa::path(post, path = "/api/v1/shops/{shop_id}/join", tag = "members",
    params(("shop_id" = String, Path, description = "The shop to join")),
    request_body = JoinShop,
    responses(
        (status = 201, description = "The new member and their token", body = MemberJoined),
        (status = 404, description = "No such shop, or the inviter is not its member"),
        (status = 409, description = "A member with this phone exists"),
    ))]
async fn join_shop(
    State(s): State<AppState>,
    Path(shop): Path<String>,
    Body(b): Body<JoinShop>,
) -> Result<(StatusCode, Json<MemberJoined>), ApiError> {
    Ok((StatusCode::CREATED, Json(join(&s, &shop, b).await?)))
}

/// Create a member (staff acting for a buyer)
#[utoipa::path(post, path = "/api/v1/members", tag = "members",
    security(("bearer" = [])),
    request_body = JoinShop,
    responses(
        (status = 201, description = "The new member and their token", body = MemberJoined),
        (status = 404, description = "The inviter is not a member of this shop"),
        (status = 409, description = "A member with this phone exists"),
    ))]
async fn create_member(
    State(s): State<AppState>,
    auth: Auth,
    Body(b): Body<JoinShop>,
) -> Result<(StatusCode, Json<MemberJoined>), ApiError> {
    let (shop, _) = auth.staff()?;
    Ok((StatusCode::CREATED, Json(join(&s, shop, b).await?)))
}

#[derive(Serialize, ToSchema)]
pub struct MemberList {
    members: Vec<Member>,
}

/// List members
#[utoipa::path(get, path = "/api/v1/members", tag = "members",
    security(("bearer" = [])),
    params(Page),
    responses((status = 200, description = "A page of members", body = MemberList)))]
async fn list_members(
    State(s): State<AppState>,
    auth: Auth,
    Query(p): Query<Page>,
) -> Result<Json<MemberList>, ApiError> {
    let (shop, _) = auth.staff()?;
    let members = s
        .platform
        .list_members(shop, p.after.as_deref(), limit(p.limit)?)
        .await?;
    Ok(Json(MemberList { members }))
}

/// One member
#[utoipa::path(get, path = "/api/v1/members/{id}", tag = "members",
    security(("bearer" = [])),
    params(("id" = String, Path, description = "The member's id")),
    responses(
        (status = 200, description = "The member", body = Member),
        (status = 404, description = "No such member in this shop"),
    ))]
async fn get_member(
    State(s): State<AppState>,
    auth: Auth,
    Path(id): Path<String>,
) -> Result<Json<Member>, ApiError> {
    let (shop, _) = auth.staff()?;
    Ok(Json(s.platform.get_member(shop, &id).await?))
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct UpdateMember {
    #[schema(minimum = 0, maximum = 100)]
    level: Option<i64>,
    #[schema(minimum = 0)]
    points: Option<i64>,
    /// At most 50, each 1..=50 characters; replaces the member's tags.
    #[schema(schema_with = crate::routes::optional_tags_schema)]
    tags: Option<Vec<String>>,
}

/// Change a member's level, points or tags
#[utoipa::path(patch, path = "/api/v1/members/{id}", tag = "members",
    security(("bearer" = [])),
    params(("id" = String, Path, description = "The member's id")),
    request_body = UpdateMember,
    responses(
        (status = 200, description = "The member as changed", body = Member),
        (status = 404, description = "No such member in this shop"),
    ))]
async fn update_member(
    State(s): State<AppState>,
    auth: Auth,
    Path(id): Path<String>,
    Body(b): Body<UpdateMember>,
) -> Result<Json<Member>, ApiError> {
    let (shop, _) = auth.staff()?;
    // Core checks tags when a member joins, not when they change: the same rule here.
    if let Some(t) = &b.tags {
        crate::routes::check_tags(t)?;
    }
    let tags = b.tags;
    Ok(Json(
        s.platform
            .update_member(shop, &id, b.level, b.points, tags)
            .await?,
    ))
}

/// The calling member
#[utoipa::path(get, path = "/api/v1/me", tag = "members",
    security(("bearer" = [])),
    responses(
        (status = 200, description = "The member the token belongs to", body = Member),
        (status = 404, description = "The member is gone"),
    ))]
async fn me(State(s): State<AppState>, auth: Auth) -> Result<Json<Member>, ApiError> {
    let shop = auth.shop()?;
    let id = auth
        .member_id()
        .ok_or_else(|| ApiError::forbidden("this route needs a member token"))?;
    Ok(Json(s.platform.get_member(shop, id).await?))
}
