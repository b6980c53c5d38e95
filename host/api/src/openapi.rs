//! The OpenAPI 3.1 document, generated: utoipa reads each handler's `#[utoipa::path]`
//! and the request and response types' `ToSchema`, utoipa-axum registers the same handlers
//! in the router (so a route can't exist without its operation, nor the reverse), and
//! [`conventions`] adds what every operation shares: the bearer scheme, and the error
//! responses the stack itself can answer (400, 401/403 when secured, 404 on paths with
//! parameters, 408, 413/415/422 with a body, 422 with a query, 431, 500, 503), each a
//! `$ref` to one response per status whose body is `ErrorBody` and whose description
//! lists the error codes that status carries.

use crate::{AppState, ErrorBody, ErrorCode};
use axum::Router;
use utoipa::OpenApi;
use utoipa::openapi::path::{Operation, ParameterIn};
use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::openapi::{ContentBuilder, Ref, RefOr, ResponseBuilder};
use utoipa_axum::router::OpenApiRouter;

#[derive(OpenApi)]
#[openapi(
    info(
        title = "Baseplate API",
        description = "Private-domain retail: shops, members, catalog, orders, payments, the ledger, and per-shop WebAssembly plugins from the marketplace. Errors are `{ \"error\": { \"code\", \"message\" } }`; money is integer minor units; times are milliseconds since the Unix epoch.",
    ),
    components(schemas(ErrorBody, ErrorCode)),
    tags(
        (name = "shops", description = "Shops (tenants) and their API keys"),
        (name = "members", description = "A shop's members"),
        (name = "catalog", description = "Products and SKUs"),
        (name = "orders", description = "Checkout and orders"),
        (name = "payments", description = "Payments through the sandbox provider, and refunds"),
        (name = "ledger", description = "The shop's double-entry ledger"),
        (name = "marketplace", description = "Published plugins"),
        (name = "plugins", description = "A shop's installed plugins and their actions"),
        (name = "developers", description = "Plugin developers: accounts, keys, publishing"),
        (name = "registry", description = "The operator's review, log, platform view; canaries"),
        (name = "events", description = "Event deliveries to plugins"),
        (name = "health", description = "Probes, metrics and this document"),
    )
)]
struct ApiDoc;

/// The router (every resource's, the probes', `/metrics`, the document's) and the document.
pub fn split() -> (Router<AppState>, utoipa::openapi::OpenApi) {
    let (router, mut doc) = OpenApiRouter::with_openapi(ApiDoc::openapi())
        .merge(crate::routes::router())
        .merge(crate::registry::router())
        .merge(crate::health::router())
        .split_for_parts();
    conventions(&mut doc);
    (router, doc)
}

/// The document, as `/api/openapi.json` serves it.
pub fn document() -> serde_json::Value {
    serde_json::to_value(split().1).expect("the OpenAPI document serializes")
}

fn response_name(status: u16) -> &'static str {
    match status {
        400 => "BadRequest",
        401 => "Unauthorized",
        403 => "Forbidden",
        404 => "NotFound",
        405 => "MethodNotAllowed",
        408 => "RequestTimeout",
        409 => "Conflict",
        413 => "BodyTooLarge",
        415 => "UnsupportedMediaType",
        422 => "InvalidRequest",
        424 => "PluginFailed",
        431 => "HeadersTooLarge",
        500 => "Internal",
        503 => "Unavailable",
        _ => unreachable!("no shared response for {status}"),
    }
}

const ERROR_STATUSES: &[u16] = &[
    400, 401, 403, 404, 405, 408, 409, 413, 415, 422, 424, 431, 500, 503,
];

fn error_ref(status: u16, description: Option<&str>) -> RefOr<utoipa::openapi::Response> {
    let mut r = Ref::new(format!("#/components/responses/{}", response_name(status)));
    if let Some(d) = description.filter(|d| !d.is_empty()) {
        r.description = d.to_string();
    }
    RefOr::Ref(r)
}

/// Adds what every operation shares; see the module docs.
pub fn conventions(doc: &mut utoipa::openapi::OpenApi) {
    let components = doc.components.get_or_insert_with(Default::default);
    components.add_security_scheme(
        "bearer",
        SecurityScheme::Http(
            HttpBuilder::new()
                .scheme(HttpAuthScheme::Bearer)
                .description(Some(
                    "A shop key (`bp_sk_…`, owner or staff), a member token (`bp_mt_…`) or the operator's token (`bp_op_…`).",
                ))
                .build(),
        ),
    );
    for &status in ERROR_STATUSES {
        let codes: Vec<&str> = ErrorCode::for_status(status)
            .iter()
            .map(|c| c.as_str())
            .collect();
        let reason = axum::http::StatusCode::from_u16(status)
            .ok()
            .and_then(|s| s.canonical_reason())
            .unwrap_or("Error");
        let response = ResponseBuilder::new()
            .description(format!(
                "{reason}; `error.code` is one of: {}",
                codes.join(", ")
            ))
            .content(
                "application/json",
                ContentBuilder::new()
                    .schema(Some(Ref::from_schema_name("ErrorBody")))
                    .build(),
            )
            .build();
        components
            .responses
            .insert(response_name(status).to_string(), RefOr::T(response));
    }
    for (path, item) in doc.paths.paths.iter_mut() {
        let has_path_params = path.contains('{');
        for op in [
            &mut item.get,
            &mut item.put,
            &mut item.post,
            &mut item.delete,
            &mut item.patch,
        ]
        .into_iter()
        .flatten()
        {
            operation_conventions(op, path, has_path_params);
        }
    }
}

fn operation_conventions(op: &mut Operation, path: &str, has_path_params: bool) {
    let secured = op.security.as_ref().is_some_and(|s| !s.is_empty());
    let has_body = op.request_body.is_some();
    let has_query = op
        .parameters
        .iter()
        .flatten()
        .any(|p| matches!(p, RefOr::T(p) if p.parameter_in == ParameterIn::Query));
    // Probes, metrics and the document have no inputs and never refuse one.
    let bare = matches!(
        path,
        "/healthz" | "/readyz" | "/metrics" | "/api/openapi.json"
    );
    let mut shared: Vec<u16> = vec![408, 431, 500];
    if !bare {
        shared.extend([400, 503]);
    }
    if secured {
        shared.extend([401, 403]);
    }
    if has_path_params {
        shared.push(404);
    }
    if has_body {
        shared.extend([413, 415, 422]);
    }
    if has_query {
        shared.push(422);
    }
    let responses = &mut op.responses.responses;
    // Errors a handler declared become references to the shared ones (keeping its words).
    for (status, resp) in responses.iter_mut() {
        let Ok(code) = status.parse::<u16>() else {
            continue;
        };
        if code >= 400 && ERROR_STATUSES.contains(&code) {
            let description = match resp {
                RefOr::T(r) => Some(r.description.clone()),
                RefOr::Ref(r) => Some(r.description.clone()),
            };
            *resp = error_ref(code, description.as_deref());
        }
    }
    for status in shared {
        responses
            .entry(status.to_string())
            .or_insert_with(|| error_ref(status, None));
    }
}

/// The route table the contract test (`tests/e2e/bad_input.rs`) walks: (method, path,
/// summary, who may call). Kept by hand, but checked against the generated document by
/// this crate's unit test: same operations, same summaries, and bearer security exactly
/// where the caller is not `public` or `signed`.
pub const ROUTES: &[(&str, &str, &str, &str)] = &[
    (
        "post",
        "/api/v1/shops",
        "Open a shop; returns the owner key once",
        "public",
    ),
    ("get", "/api/v1/shop", "The caller's shop", "staff"),
    (
        "patch",
        "/api/v1/shop",
        "Rename the shop or change its payment timeout",
        "owner",
    ),
    ("get", "/api/v1/keys", "List the shop's API keys", "owner"),
    (
        "post",
        "/api/v1/keys",
        "Create a staff or owner key; returns its token once",
        "owner",
    ),
    ("delete", "/api/v1/keys/{id}", "Revoke a key", "owner"),
    (
        "post",
        "/api/v1/shops/{shop_id}/join",
        "A buyer joins a shop; returns a member token",
        "public",
    ),
    ("get", "/api/v1/members", "List members", "staff"),
    (
        "post",
        "/api/v1/members",
        "Create a member (staff acting for a buyer)",
        "staff",
    ),
    ("get", "/api/v1/members/{id}", "One member", "staff"),
    (
        "patch",
        "/api/v1/members/{id}",
        "Change a member's level, points or tags",
        "staff",
    ),
    ("get", "/api/v1/me", "The calling member", "member"),
    ("get", "/api/v1/products", "List products", "staff, member"),
    (
        "post",
        "/api/v1/products",
        "Create a product with its SKUs",
        "staff",
    ),
    (
        "get",
        "/api/v1/products/{id}",
        "One product",
        "staff, member",
    ),
    (
        "patch",
        "/api/v1/skus/{id}",
        "Change a SKU's price or stock",
        "staff",
    ),
    (
        "post",
        "/api/v1/checkout/quote",
        "Price a cart through the shop's plugins without ordering",
        "staff, member",
    ),
    (
        "get",
        "/api/v1/orders",
        "List orders (a member sees their own)",
        "staff, member",
    ),
    (
        "post",
        "/api/v1/orders",
        "Check out: create an order (Idempotency-Key supported)",
        "staff, member",
    ),
    (
        "get",
        "/api/v1/orders/{id}",
        "One order with its lines and adjustments",
        "staff, member",
    ),
    (
        "post",
        "/api/v1/orders/{id}/cancel",
        "Cancel an order (unpaid: close; paid: full refund)",
        "staff, member",
    ),
    (
        "post",
        "/api/v1/orders/{id}/complete",
        "Mark a shipped order completed",
        "staff",
    ),
    (
        "post",
        "/api/v1/orders/{id}/payments",
        "Create a payment intent at the sandbox provider",
        "staff, member",
    ),
    (
        "get",
        "/api/v1/orders/{id}/refunds",
        "List an order's refunds",
        "staff",
    ),
    (
        "post",
        "/api/v1/orders/{id}/refunds",
        "Refund (idempotent by refund_id)",
        "staff",
    ),
    (
        "post",
        "/api/v1/sandbox/payments/{id}/pay",
        "Sandbox provider: the buyer pays; a signed callback follows",
        "staff, member",
    ),
    (
        "post",
        "/api/v1/payments/callbacks/sandbox",
        "Provider callback (Sandbox-Timestamp, Sandbox-Signature)",
        "signed",
    ),
    (
        "get",
        "/api/v1/ledger",
        "The shop's ledger postings and imbalance (always 0)",
        "staff",
    ),
    (
        "get",
        "/api/v1/ledger/balance",
        "A party's balance on an account",
        "staff, member",
    ),
    (
        "get",
        "/api/v1/marketplace/plugins",
        "Plugins in the marketplace",
        "any",
    ),
    (
        "get",
        "/api/v1/plugins",
        "The shop's installed plugins",
        "staff",
    ),
    (
        "post",
        "/api/v1/plugins",
        "Install a plugin (semver requirement, config)",
        "owner",
    ),
    (
        "delete",
        "/api/v1/plugins/{name}",
        "Uninstall a plugin",
        "owner",
    ),
    (
        "put",
        "/api/v1/plugins/{name}/config",
        "Configure a plugin (validated by the plugin)",
        "owner",
    ),
    (
        "post",
        "/api/v1/plugins/{name}/enable",
        "Enable a plugin (resets its circuit breaker)",
        "owner",
    ),
    (
        "post",
        "/api/v1/plugins/{name}/disable",
        "Disable a plugin",
        "owner",
    ),
    (
        "post",
        "/api/v1/plugins/{name}/rollback",
        "Go back to the previous version, pinned",
        "owner",
    ),
    (
        "get",
        "/api/v1/plugins/{name}/health",
        "Call counts and recent failures",
        "staff",
    ),
    (
        "post",
        "/api/v1/plugins/{name}/actions/{action}",
        "Run a plugin action (JSON in, JSON out)",
        "staff, member",
    ),
    (
        "put",
        "/api/v1/plugins/{name}/diagnostics",
        "Record a plugin's calls for replay (diagnostics)",
        "owner",
    ),
    (
        "get",
        "/api/v1/plugins/{name}/runs",
        "A plugin's recorded calls, newest first",
        "staff",
    ),
    (
        "get",
        "/api/v1/plugins/{name}/runs/{id}",
        "One recorded call, replayable",
        "staff",
    ),
    (
        "get",
        "/api/v1/events",
        "Event deliveries to plugins (filter by status)",
        "staff",
    ),
    (
        "post",
        "/api/v1/events/{event_id}/{plugin}/retry",
        "Retry a dead delivery",
        "staff",
    ),
    (
        "post",
        "/api/v1/developers",
        "Sign up as a plugin developer (the operator approves)",
        "public",
    ),
    (
        "get",
        "/api/v1/developer",
        "Your developer account, API keys and signing keys",
        "developer",
    ),
    (
        "post",
        "/api/v1/developer/api-keys",
        "Make another developer API key (the token is shown once)",
        "developer",
    ),
    (
        "delete",
        "/api/v1/developer/api-keys/{id}",
        "Revoke a developer API key",
        "developer",
    ),
    (
        "post",
        "/api/v1/developer/signing-keys",
        "Register an ed25519 signing key",
        "developer",
    ),
    (
        "post",
        "/api/v1/developer/signing-keys/{id}/rotate",
        "Replace a signing key by a new one",
        "developer",
    ),
    (
        "delete",
        "/api/v1/developer/signing-keys/{id}",
        "Revoke a signing key",
        "developer",
    ),
    (
        "get",
        "/api/v1/developer/plugins",
        "Your plugins, versions and review states",
        "developer",
    ),
    (
        "post",
        "/api/v1/developer/packages",
        "Publish a signed version for review",
        "developer",
    ),
    (
        "post",
        "/api/v1/registry/developers",
        "Create an approved developer account (operator)",
        "operator",
    ),
    (
        "get",
        "/api/v1/registry/developers",
        "Developer accounts, by status (operator)",
        "operator",
    ),
    (
        "post",
        "/api/v1/registry/developers/{id}/approve",
        "Approve a developer account (operator)",
        "operator",
    ),
    (
        "post",
        "/api/v1/registry/developers/{id}/suspend",
        "Suspend a developer account with a reason (operator)",
        "operator",
    ),
    (
        "get",
        "/api/v1/registry/queue",
        "The review queue (operator)",
        "operator",
    ),
    (
        "get",
        "/api/v1/registry/plugins/{name}/versions/{version}",
        "A version: manifest, digest, signer, capability diff, log",
        "operator, developer",
    ),
    (
        "post",
        "/api/v1/registry/plugins/{name}/versions/{version}/approve",
        "Approve a version (released, or staged for a canary)",
        "operator",
    ),
    (
        "post",
        "/api/v1/registry/plugins/{name}/versions/{version}/reject",
        "Reject a version with a reason",
        "operator",
    ),
    (
        "post",
        "/api/v1/registry/plugins/{name}/versions/{version}/yank",
        "Yank a version: pinned shops keep it, new installs cannot pick it",
        "operator",
    ),
    (
        "post",
        "/api/v1/registry/plugins/{name}/versions/{version}/unyank",
        "Undo a yank",
        "operator",
    ),
    (
        "post",
        "/api/v1/registry/plugins/{name}/versions/{version}/revoke",
        "Revoke a version: disabled in every shop at once, with a reason",
        "operator",
    ),
    (
        "get",
        "/api/v1/registry/log",
        "The registry log: every operator and developer action",
        "operator",
    ),
    (
        "get",
        "/api/v1/registry/stats",
        "Platform view: installs, failure rate, p99 call time per plugin",
        "operator",
    ),
    (
        "get",
        "/api/v1/registry/plugins/{name}/failures",
        "A plugin's recent failures across shops",
        "operator, developer",
    ),
    (
        "post",
        "/api/v1/registry/plugins/{name}/versions/{version}/canary",
        "Start a canary: a list or a percentage of consenting shops",
        "operator, developer",
    ),
    (
        "get",
        "/api/v1/registry/plugins/{name}/versions/{version}/canary",
        "A canary's shops and failure rate",
        "operator, developer",
    ),
    (
        "post",
        "/api/v1/registry/plugins/{name}/versions/{version}/promote",
        "Promote a canary to every shop",
        "operator, developer",
    ),
    (
        "post",
        "/api/v1/registry/plugins/{name}/versions/{version}/halt",
        "Halt a canary: its shops go back, with a reason",
        "operator, developer",
    ),
    (
        "get",
        "/api/v1/marketplace/catalog",
        "Browse and search approved plugins",
        "any key",
    ),
    (
        "get",
        "/api/v1/marketplace/plugins/{name}",
        "One plugin of the catalog",
        "any key",
    ),
    (
        "get",
        "/api/v1/plugins/{name}/upgrade",
        "What an upgrade would change (capability diff)",
        "staff",
    ),
    (
        "post",
        "/api/v1/plugins/{name}/upgrade",
        "Upgrade, accepting any new capabilities",
        "owner",
    ),
    (
        "post",
        "/api/v1/plugins/{name}/pin",
        "Pin the running version",
        "owner",
    ),
    (
        "post",
        "/api/v1/plugins/{name}/unpin",
        "Unpin, following a requirement again",
        "owner",
    ),
    (
        "get",
        "/api/v1/shop/canary",
        "Whether the shop takes canary versions",
        "staff",
    ),
    (
        "put",
        "/api/v1/shop/canary",
        "Opt in to or out of canary versions",
        "owner",
    ),
    ("get", "/api/openapi.json", "This document", "public"),
    ("get", "/healthz", "Liveness", "public"),
    (
        "get",
        "/readyz",
        "Readiness: the database answers",
        "public",
    ),
    ("get", "/metrics", "Prometheus metrics", "public"),
];

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::BTreeMap;

    #[test]
    fn the_route_table_is_the_generated_document() {
        let doc = document();
        let mut generated = BTreeMap::new();
        for (path, item) in doc["paths"].as_object().unwrap() {
            for (method, op) in item.as_object().unwrap() {
                generated.insert((method.clone(), path.clone()), op.clone());
            }
        }
        let listed: BTreeMap<(String, String), (&str, &str)> = ROUTES
            .iter()
            .map(|(m, p, s, w)| ((m.to_string(), p.to_string()), (*s, *w)))
            .collect();
        assert_eq!(
            generated.keys().collect::<Vec<_>>(),
            listed.keys().collect::<Vec<_>>()
        );
        for (key, (summary, who)) in listed {
            let op = &generated[&key];
            assert_eq!(op["summary"], summary, "{key:?}");
            let secured = op["security"].as_array().is_some_and(|s| !s.is_empty());
            assert_eq!(secured, who != "public" && who != "signed", "{key:?}");
        }
    }

    #[test]
    fn every_operation_documents_its_errors_as_error_bodies() {
        let doc = document();
        assert_eq!(doc["openapi"], "3.1.0");
        for (path, item) in doc["paths"].as_object().unwrap() {
            for (method, op) in item.as_object().unwrap() {
                let responses = op["responses"].as_object().unwrap();
                assert!(responses.contains_key("500"), "{method} {path}");
                assert!(
                    responses.keys().any(|s| s.starts_with('2')),
                    "{method} {path} has a success response"
                );
                for (status, r) in responses {
                    if status.starts_with('4') || status.starts_with('5') {
                        let target = r["$ref"].as_str().unwrap_or_default();
                        assert!(
                            target.starts_with("#/components/responses/"),
                            "{method} {path} {status}: {r}"
                        );
                    }
                }
            }
        }
        let post_orders = &doc["paths"]["/api/v1/orders"]["post"];
        assert!(post_orders["responses"]["201"].is_object());
        assert!(post_orders["responses"].get("200").is_none());
    }
}
