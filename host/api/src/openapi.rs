//! The OpenAPI 3.1 document, built from the same route table the tests walk, so the
//! document and the router can't drift apart unnoticed.

use axum::Json;
use serde_json::{Value, json};

/// (method, path, summary, who may call).
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
    ("get", "/api/openapi.json", "This document", "public"),
    ("get", "/healthz", "Liveness", "public"),
];

pub fn document() -> Value {
    let mut paths = serde_json::Map::new();
    for (method, path, summary, who) in ROUTES {
        let params: Vec<Value> = path
            .split('/')
            .filter_map(|seg| seg.strip_prefix('{').and_then(|s| s.strip_suffix('}')))
            .map(|name| json!({ "name": name, "in": "path", "required": true, "schema": { "type": "string" } }))
            .collect();
        let mut op = json!({
            "summary": summary,
            "description": format!("Caller: {who}."),
            "parameters": params,
            "responses": {
                "200": { "description": "OK" },
                "4XX": { "description": "Error", "content": { "application/json": { "schema": { "$ref": "#/components/schemas/Error" } } } }
            }
        });
        if *who != "public" && *who != "signed" {
            op["security"] = json!([{ "bearer": [] }]);
        }
        let entry = paths.entry(path.to_string()).or_insert_with(|| json!({}));
        entry[*method] = op;
    }
    json!({
        "openapi": "3.1.0",
        "info": { "title": "Baseplate API", "version": env!("CARGO_PKG_VERSION") },
        "paths": paths,
        "components": {
            "securitySchemes": { "bearer": { "type": "http", "scheme": "bearer" } },
            "schemas": {
                "Error": {
                    "type": "object",
                    "required": ["error"],
                    "properties": { "error": { "type": "object", "required": ["code", "message"],
                        "properties": { "code": { "type": "string" }, "message": { "type": "string" } } } }
                }
            }
        }
    })
}

pub async fn serve() -> Json<Value> {
    Json(document())
}
