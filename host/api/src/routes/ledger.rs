//! The shop's double-entry ledger: postings, and a party's balance on an account.

use crate::routes::limit;
use crate::{ApiError, AppState, Auth, Query};
use axum::Json;
use axum::extract::State;
use baseplate_domain::Party;
use baseplate_store::ledger::PostingRecord;
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(get_ledger))
        .routes(routes!(get_balance))
}

#[derive(Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct LedgerQuery {
    /// How many postings, 1..=200 (default 50).
    #[param(minimum = 1, maximum = 200)]
    limit: Option<i64>,
}

#[derive(Serialize, ToSchema)]
pub struct Ledger {
    /// Newest first.
    postings: Vec<PostingRecord>,
    /// The sum of every entry in the shop; always 0.
    imbalance: i64,
}

/// The shop's ledger postings and imbalance (always 0)
#[utoipa::path(get, path = "/api/v1/ledger", tag = "ledger",
    security(("bearer" = [])),
    params(LedgerQuery),
    responses((status = 200, description = "Postings, newest first", body = Ledger)))]
async fn get_ledger(
    State(s): State<AppState>,
    auth: Auth,
    Query(q): Query<LedgerQuery>,
) -> Result<Json<Ledger>, ApiError> {
    let (shop, _) = auth.staff()?;
    let (postings, imbalance) = s.platform.ledger(shop, limit(q.limit)?).await?;
    Ok(Json(Ledger {
        postings,
        imbalance,
    }))
}

#[derive(Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct BalanceQuery {
    /// `shop`, `platform`, `member:<id>`, `employee:<id>` or `outlet:<id>`.
    #[param(pattern = "^(shop|platform|(member|employee|outlet):.*)$")]
    party: String,
    /// The account, e.g. `sales`, `commission`.
    account: String,
}

#[derive(Serialize, ToSchema)]
pub struct Balance {
    party: String,
    account: String,
    /// Everything booked, minor units.
    total: i64,
    /// What is available now (entries past their hold-until date).
    available: i64,
}

/// A party's balance on an account
#[utoipa::path(get, path = "/api/v1/ledger/balance", tag = "ledger",
    security(("bearer" = [])),
    params(BalanceQuery),
    responses((status = 200, description = "The balance", body = Balance)))]
async fn get_balance(
    State(s): State<AppState>,
    auth: Auth,
    Query(q): Query<BalanceQuery>,
) -> Result<Json<Balance>, ApiError> {
    let shop = auth.shop()?.to_string();
    let (kind, id) = q.party.split_once(':').unwrap_or((q.party.as_str(), ""));
    let party = Party::from_db(kind, id).ok_or_else(|| {
        ApiError::invalid("party must be shop, platform, member:<id>, employee:<id> or outlet:<id>")
    })?;
    if let Some(m) = auth.member_id()
        && party != Party::Member(m.to_string())
    {
        return Err(ApiError::forbidden("a member sees only their own balances"));
    }
    let (total, available) = s.platform.balance(&shop, &party, &q.account).await?;
    Ok(Json(Balance {
        party: q.party,
        account: q.account,
        total,
        available,
    }))
}
