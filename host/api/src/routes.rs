//! Handlers, one file and one `router()` per resource. Every shop-scoped query takes the
//! shop from the caller's token, so another shop's ids answer 404. Each handler carries its
//! `#[utoipa::path]`: path, parameters, request body, responses per status and security,
//! from which `openapi` builds the document, so the router and the document cannot drift.

mod catalog;
mod events;
mod ledger;
mod marketplace;
mod members;
mod orders;
mod payments;
mod plugins;
mod shops;

use crate::{ApiError, AppState};
use serde::Deserialize;
use utoipa::IntoParams;
use utoipa::openapi::schema::{Array, ArrayBuilder, ObjectBuilder, SchemaType, Type};
use utoipa_axum::router::OpenApiRouter;

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .merge(shops::router())
        .merge(members::router())
        .merge(catalog::router())
        .merge(orders::router())
        .merge(payments::router())
        .merge(ledger::router())
        .merge(marketplace::router())
        .merge(plugins::router())
        .merge(events::router())
}

/// Keyset pagination: items after the given id, at most `limit`.
#[derive(Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub(crate) struct Page {
    /// The last id of the previous page.
    after: Option<String>,
    /// Page size, 1..=200 (default 50).
    #[param(minimum = 1, maximum = 200)]
    limit: Option<i64>,
}

pub(crate) fn limit(l: Option<i64>) -> Result<i64, ApiError> {
    match l {
        None => Ok(50),
        Some(l) if (1..=200).contains(&l) => Ok(l),
        Some(_) => Err(ApiError::invalid("limit must be 1..=200")),
    }
}

/// Member tags: at most 50, each 1..=50 characters (core's rule for a joining member).
pub(crate) fn check_tags(tags: &[String]) -> Result<(), ApiError> {
    if tags.len() > 50 || tags.iter().any(|t| t.is_empty() || t.chars().count() > 50) {
        return Err(ApiError::invalid(
            "tags: at most 50, each 1..=50 characters",
        ));
    }
    Ok(())
}

fn tag_items() -> ObjectBuilder {
    ObjectBuilder::new()
        .schema_type(Type::String)
        .min_length(Some(1))
        .max_length(Some(50))
}

pub(crate) fn tags_schema() -> Array {
    ArrayBuilder::new()
        .items(tag_items())
        .max_items(Some(50))
        .build()
}

pub(crate) fn optional_tags_schema() -> Array {
    ArrayBuilder::new()
        .schema_type(SchemaType::from_iter([Type::Array, Type::Null]))
        .items(tag_items())
        .max_items(Some(50))
        .build()
}
