//! Bad input never reaches the core half-done: malformed or mistyped JSON, unknown fields,
//! out-of-range numbers, oversized bodies, missing or wrong credentials and other shops' ids
//! are all a 4xx `{ "error": { "code", "message" } }` whose message names what to fix, and
//! a refused request leaves nothing behind (no stock taken, no order, no config changed).
//! Every route the OpenAPI table lists is really routed.

use baseplate_tests::harness::TestApp;
use reqwest::Method;
use serde_json::{Value, json};
use std::collections::{BTreeMap, BTreeSet};

/// Asserts an error response: the status, the code, the `{error:{code,message}}` shape and
/// that the message mentions each of `mentions`.
#[track_caller]
fn assert_error(st: u16, body: &Value, status: u16, code: &str, mentions: &[&str]) {
    assert_eq!(st, status, "status of {body}");
    let err = &body["error"];
    assert!(err.is_object(), "error shape: {body}");
    assert_eq!(err["code"], code, "code of {body}");
    let message = err["message"].as_str().expect("error.message is a string");
    assert!(!message.is_empty(), "empty message: {body}");
    for m in mentions {
        assert!(
            message.contains(m),
            "message {message:?} should mention {m:?}"
        );
    }
}

/// A POST with a raw body (and JSON content type), optionally authenticated.
async fn post_raw(app: &TestApp, path: &str, token: Option<&str>, body: Vec<u8>) -> (u16, Value) {
    let mut rb = app
        .client
        .post(format!("{}{path}", app.base))
        .header("Content-Type", "application/json")
        .body(body);
    if let Some(t) = token {
        rb = rb.bearer_auth(t);
    }
    let resp = rb.send().await.expect("request sent");
    let status = resp.status().as_u16();
    let text = resp.text().await.unwrap_or_default();
    (status, serde_json::from_str(&text).unwrap_or(Value::Null))
}

async fn stock(app: &TestApp, token: &str, product: &str) -> i64 {
    let (st, p) = app.get(&format!("/api/v1/products/{product}"), token).await;
    assert_eq!(st, 200, "{p}");
    p["skus"][0]["stock"].as_i64().expect("stock is a number")
}

async fn order_count(app: &TestApp, token: &str) -> usize {
    let (st, b) = app.get("/api/v1/orders", token).await;
    assert_eq!(st, 200, "{b}");
    b["orders"].as_array().expect("orders is an array").len()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn malformed_json_is_400() {
    let app = TestApp::sqlite().await;
    let (shop, owner) = app.shop("Bad JSON").await;
    let (_, member) = app.member(&shop, "m").await;

    // Through the JSON extractor (public route) and through the raw-body checkout parser.
    let (st, b) = post_raw(&app, "/api/v1/shops", None, b"{\"name\": \"x\"".to_vec()).await;
    assert_error(st, &b, 400, "malformed_json", &["JSON"]);
    let (st, b) = post_raw(&app, "/api/v1/products", Some(&owner), b"{name:1}".to_vec()).await;
    assert_error(st, &b, 400, "malformed_json", &["JSON"]);
    let (st, b) = post_raw(
        &app,
        "/api/v1/orders",
        Some(&member),
        b"{\"lines\": [".to_vec(),
    )
    .await;
    assert_error(st, &b, 400, "malformed_json", &["JSON"]);
    let (st, b) = post_raw(
        &app,
        "/api/v1/plugins/coupons/actions/claim",
        Some(&member),
        b"not json".to_vec(),
    )
    .await;
    assert_error(st, &b, 400, "malformed_json", &["JSON"]);
    assert_eq!(order_count(&app, &owner).await, 0);
    app.cleanup().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unknown_fields_and_wrong_types_name_the_field() {
    let app = TestApp::sqlite().await;
    let (shop, owner) = app.shop("Fields").await;
    let (_, sku) = app.product(&owner, "Tea", 1_000, 10).await;
    let (_, member) = app.member(&shop, "m").await;

    // Unknown fields.
    let (st, b) = app
        .request(
            Method::POST,
            "/api/v1/shops",
            None,
            Some(json!({ "name": "x", "nme": 1 })),
            &[],
        )
        .await;
    assert_error(st, &b, 422, "invalid_request", &["nme"]);
    let (st, b) = app
        .post(
            "/api/v1/orders",
            &member,
            json!({ "lines": [{ "sku_id": sku, "quantity": 1, "qty": 2 }] }),
        )
        .await;
    assert_error(st, &b, 422, "invalid_request", &["lines[0]", "qty"]);
    let (st, b) = app
        .post(
            "/api/v1/checkout/quote",
            &member,
            json!({ "lines": [{ "sku_id": sku, "quantity": 1 }], "coupon": "x" }),
        )
        .await;
    assert_error(st, &b, 422, "invalid_request", &["coupon"]);
    let (st, b) = app
        .post(
            "/api/v1/products",
            &owner,
            json!({ "name": "P", "skus": [{ "price": 1, "stock": 1, "colour": "red" }] }),
        )
        .await;
    assert_error(st, &b, 422, "invalid_request", &["colour"]);

    // Wrong types.
    let (st, b) = app
        .request(
            Method::POST,
            "/api/v1/shops",
            None,
            Some(json!({ "name": 5 })),
            &[],
        )
        .await;
    assert_error(st, &b, 422, "invalid_request", &["name"]);
    let (st, b) = app
        .post(
            "/api/v1/orders",
            &member,
            json!({ "lines": [{ "sku_id": sku, "quantity": "two" }] }),
        )
        .await;
    assert_error(st, &b, 422, "invalid_request", &["lines[0].quantity"]);
    let (st, b) = app
        .post(
            "/api/v1/orders",
            &member,
            json!({ "lines": { "sku_id": sku, "quantity": 1 } }),
        )
        .await;
    assert_error(st, &b, 422, "invalid_request", &["lines"]);
    let (st, b) = app
        .post(
            "/api/v1/products",
            &owner,
            json!({ "name": "P", "skus": [{ "price": "12.80", "stock": 1 }] }),
        )
        .await;
    assert_error(st, &b, 422, "invalid_request", &["skus[0].price"]);
    let (st, b) = app
        .post(
            "/api/v1/products",
            &owner,
            json!({ "name": "P", "skus": [{ "price": 1.5, "stock": 1 }] }),
        )
        .await;
    assert_error(st, &b, 422, "invalid_request", &["skus[0].price"]);
    let (st, b) = app
        .post(
            "/api/v1/orders/x/refunds",
            &owner,
            json!({ "refund_id": 7, "amount": 1 }),
        )
        .await;
    assert_error(st, &b, 422, "invalid_request", &["refund_id"]);
    // A missing required field is named too.
    let (st, b) = app
        .post("/api/v1/products", &owner, json!({ "name": "P" }))
        .await;
    assert_error(st, &b, 422, "invalid_request", &["skus"]);

    assert_eq!(order_count(&app, &owner).await, 0);
    app.cleanup().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn out_of_range_numbers_are_422() {
    let app = TestApp::sqlite().await;
    let (shop, owner) = app.shop("Ranges").await;
    let (product, sku) = app.product(&owner, "Tea", 1_000, 2_000).await;
    let (_, member) = app.member(&shop, "m").await;

    for q in [json!(-1), json!(0), json!(1000), json!(4_294_967_296i64)] {
        for path in ["/api/v1/orders", "/api/v1/checkout/quote"] {
            let (st, b) = app
                .post(
                    path,
                    &member,
                    json!({ "lines": [{ "sku_id": sku, "quantity": q }] }),
                )
                .await;
            assert_error(st, &b, 422, "invalid_request", &["lines[0].quantity"]);
        }
    }
    // The second line is named by its own index.
    let (st, b) = app
        .post(
            "/api/v1/orders",
            &member,
            json!({ "lines": [{ "sku_id": sku, "quantity": 1 }, { "sku_id": sku, "quantity": 0 }] }),
        )
        .await;
    assert_error(st, &b, 422, "invalid_request", &["lines[1].quantity"]);
    // The boundaries are accepted by the price check (999 is the most).
    let (st, b) = app
        .post(
            "/api/v1/checkout/quote",
            &member,
            json!({ "lines": [{ "sku_id": sku, "quantity": 999 }] }),
        )
        .await;
    assert_eq!(st, 200, "{b}");
    assert_eq!(b["payable_amount"], 999_000);

    // Empty and missing lines.
    let (st, b) = app
        .post("/api/v1/orders", &member, json!({ "lines": [] }))
        .await;
    assert_error(st, &b, 422, "invalid_request", &["lines"]);
    let (st, b) = app
        .post("/api/v1/checkout/quote", &member, json!({ "lines": [] }))
        .await;
    assert_error(st, &b, 422, "invalid_request", &["lines"]);

    // Products: negative price or stock, no SKUs.
    let (st, b) = app
        .post(
            "/api/v1/products",
            &owner,
            json!({ "name": "P", "skus": [{ "price": -1, "stock": 1 }] }),
        )
        .await;
    assert_error(st, &b, 422, "invalid_request", &["skus[0].price"]);
    let (st, b) = app
        .post(
            "/api/v1/products",
            &owner,
            json!({ "name": "P", "skus": [{ "price": 1, "stock": 1 }, { "price": 1, "stock": -5 }] }),
        )
        .await;
    assert_error(st, &b, 422, "invalid_request", &["skus[1].stock"]);
    let (st, b) = app
        .post(
            "/api/v1/products",
            &owner,
            json!({ "name": "P", "skus": [] }),
        )
        .await;
    assert_error(st, &b, 422, "invalid_request", &["skus"]);
    let (st, b) = app
        .request(
            Method::PATCH,
            &format!("/api/v1/skus/{sku}"),
            Some(&owner),
            Some(json!({ "stock": -1 })),
            &[],
        )
        .await;
    assert_error(st, &b, 422, "invalid_request", &["stock"]);

    // Nothing was created or taken by any of the above.
    let (_, products) = app.get("/api/v1/products", &owner).await;
    assert_eq!(products["products"].as_array().unwrap().len(), 1);
    assert_eq!(stock(&app, &owner, &product).await, 2_000);
    assert_eq!(order_count(&app, &owner).await, 0);
    app.cleanup().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn oversized_body_is_413() {
    let app = TestApp::sqlite().await;
    let (shop, owner) = app.shop("Big").await;
    let (product, sku) = app.product(&owner, "Tea", 1_000, 10).await;
    let (_, member) = app.member(&shop, "m").await;
    let big = "x".repeat(300 << 10);

    let (st, b) = app
        .post(
            "/api/v1/products",
            &owner,
            json!({ "name": big, "skus": [{ "price": 1, "stock": 1 }] }),
        )
        .await;
    assert_error(st, &b, 413, "body_too_large", &["256 KiB"]);
    let (st, b) = app
        .request(
            Method::POST,
            "/api/v1/shops",
            None,
            Some(json!({ "name": big })),
            &[],
        )
        .await;
    assert_error(st, &b, 413, "body_too_large", &["256 KiB"]);
    // Checkout reads its body as bytes (for the idempotency hash): the same rule holds.
    let (st, b) = app
        .post(
            "/api/v1/orders",
            &member,
            json!({ "lines": [{ "sku_id": sku, "quantity": 1 }], "plugins": { "pad": big } }),
        )
        .await;
    assert_error(st, &b, 413, "body_too_large", &["256 KiB"]);
    assert_eq!(stock(&app, &owner, &product).await, 10);
    assert_eq!(order_count(&app, &owner).await, 0);
    app.cleanup().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn credentials_and_roles() {
    let app = TestApp::sqlite().await;
    let (shop, owner) = app.shop("Keys").await;
    let (_, member) = app.member(&shop, "m").await;

    // Missing, garbage and malformed bearer tokens.
    let (st, b) = app
        .request(Method::GET, "/api/v1/orders", None, None, &[])
        .await;
    assert_error(st, &b, 401, "unauthorized", &["Authorization"]);
    let (st, b) = app.get("/api/v1/orders", "bp_sk_garbage").await;
    assert_error(st, &b, 401, "unauthorized", &["token"]);
    let (st, b) = app.get("/api/v1/orders", "bp_mt_garbage").await;
    assert_error(st, &b, 401, "unauthorized", &["token"]);
    let (st, b) = app
        .request(
            Method::GET,
            "/api/v1/orders",
            None,
            None,
            &[("Authorization", "Basic dXNlcjpwYXNz")],
        )
        .await;
    assert_error(st, &b, 401, "unauthorized", &["Bearer"]);

    // A staff key works for staff routes but not for owner-only ones.
    let (st, key) = app
        .post(
            "/api/v1/keys",
            &owner,
            json!({ "name": "clerk", "role": "staff" }),
        )
        .await;
    assert_eq!(st, 201, "{key}");
    let staff = key["token"].as_str().unwrap().to_string();
    let key_id = key["key"]["id"].as_str().unwrap().to_string();
    let (st, b) = app.get("/api/v1/orders", &staff).await;
    assert_eq!(st, 200, "{b}");
    let (st, b) = app
        .post("/api/v1/plugins", &staff, json!({ "name": "coupons" }))
        .await;
    assert_error(st, &b, 403, "forbidden", &["owner"]);
    let (st, b) = app
        .post(
            "/api/v1/keys",
            &staff,
            json!({ "name": "me too", "role": "owner" }),
        )
        .await;
    assert_error(st, &b, 403, "forbidden", &["owner"]);
    let (st, b) = app
        .request(
            Method::PATCH,
            "/api/v1/shop",
            Some(&staff),
            Some(json!({ "payment_timeout_secs": 60 })),
            &[],
        )
        .await;
    assert_error(st, &b, 403, "forbidden", &["owner"]);
    let (_, plugins) = app.get("/api/v1/plugins", &owner).await;
    assert_eq!(
        plugins["plugins"],
        json!([]),
        "the staff key installed nothing"
    );

    // A member token on staff routes.
    let (st, b) = app.get("/api/v1/members", &member).await;
    assert_error(st, &b, 403, "forbidden", &["staff"]);
    let (st, b) = app
        .post(
            "/api/v1/products",
            &member,
            json!({ "name": "P", "skus": [{ "price": 1, "stock": 1 }] }),
        )
        .await;
    assert_error(st, &b, 403, "forbidden", &["staff"]);
    let (st, b) = app.get("/api/v1/ledger", &member).await;
    assert_error(st, &b, 403, "forbidden", &["staff"]);
    let (st, b) = app
        .post(
            "/api/v1/orders/x/refunds",
            &member,
            json!({ "refund_id": "r", "amount": 1 }),
        )
        .await;
    assert_error(st, &b, 403, "forbidden", &["staff"]);
    let (_, products) = app.get("/api/v1/products", &owner).await;
    assert_eq!(products["products"], json!([]));

    // A revoked key stops working at once.
    let (st, b) = app
        .request(
            Method::DELETE,
            &format!("/api/v1/keys/{key_id}"),
            Some(&owner),
            None,
            &[],
        )
        .await;
    assert_eq!(st, 204, "{b}");
    let (st, b) = app.get("/api/v1/orders", &staff).await;
    assert_error(st, &b, 401, "unauthorized", &["revoked"]);
    app.cleanup().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn other_shops_ids_are_404() {
    for app in TestApp::each_backend().await {
        other_shops_ids(&app).await;
        app.cleanup().await;
    }
}

async fn other_shops_ids(app: &TestApp) {
    let (shop_a, owner_a) = app.shop("A").await;
    let (_shop_b, owner_b) = app.shop("B").await;
    let (product_a, sku_a) = app.product(&owner_a, "Tea", 1_000, 10).await;
    let (member_a, token_a) = app.member(&shop_a, "a1").await;
    let (_, token_a2) = app.member(&shop_a, "a2").await;
    let (st, order) = app
        .post(
            "/api/v1/orders",
            &token_a,
            json!({ "lines": [{ "sku_id": sku_a, "quantity": 1 }] }),
        )
        .await;
    assert_eq!(st, 201, "{order}");
    let order_a = order["id"].as_str().unwrap().to_string();
    assert_eq!(
        app.pay(&token_a, &order_a).await["callback"]["result"],
        "applied"
    );

    // Shop B's owner sees none of shop A's things.
    let (st, b) = app
        .get(&format!("/api/v1/orders/{order_a}"), &owner_b)
        .await;
    assert_error(st, &b, 404, "not_found", &[&order_a]);
    let (st, b) = app
        .get(&format!("/api/v1/products/{product_a}"), &owner_b)
        .await;
    assert_error(st, &b, 404, "not_found", &[&product_a]);
    let (st, b) = app
        .get(&format!("/api/v1/members/{member_a}"), &owner_b)
        .await;
    assert_error(st, &b, 404, "not_found", &[&member_a]);
    let (st, b) = app
        .post(
            "/api/v1/orders",
            &owner_b,
            json!({ "lines": [{ "sku_id": sku_a, "quantity": 1 }] }),
        )
        .await;
    assert_error(st, &b, 404, "not_found", &["lines[0].sku_id", &sku_a]);
    let (st, b) = app
        .post(
            &format!("/api/v1/orders/{order_a}/refunds"),
            &owner_b,
            json!({ "refund_id": "steal", "amount": 100 }),
        )
        .await;
    assert_error(st, &b, 404, "not_found", &[&order_a]);
    let (st, b) = app
        .post(
            &format!("/api/v1/orders/{order_a}/cancel"),
            &owner_b,
            json!({}),
        )
        .await;
    assert_error(st, &b, 404, "not_found", &[&order_a]);
    let (st, b) = app
        .request(
            Method::PATCH,
            &format!("/api/v1/skus/{sku_a}"),
            Some(&owner_b),
            Some(json!({ "stock": 0 })),
            &[],
        )
        .await;
    assert_error(st, &b, 404, "not_found", &[&sku_a]);
    let (_, orders_b) = app.get("/api/v1/orders", &owner_b).await;
    assert_eq!(orders_b["orders"], json!([]));

    // Another member of the same shop cannot read, pay or cancel the order either.
    let (st, b) = app
        .get(&format!("/api/v1/orders/{order_a}"), &token_a2)
        .await;
    assert_error(st, &b, 404, "not_found", &[&order_a]);
    let (st, b) = app
        .post(
            &format!("/api/v1/orders/{order_a}/cancel"),
            &token_a2,
            json!({}),
        )
        .await;
    assert_error(st, &b, 404, "not_found", &[&order_a]);
    let (_, mine) = app.get("/api/v1/orders", &token_a2).await;
    assert_eq!(mine["orders"], json!([]));

    // Shop A's order is untouched: paid, not refunded, stock as sold.
    let (st, o) = app
        .get(&format!("/api/v1/orders/{order_a}"), &owner_a)
        .await;
    assert_eq!(st, 200, "{o}");
    assert_eq!(o["payment_status"], "paid");
    assert_eq!(o["refunded_amount"], 0);
    assert_eq!(o["status"], "to_ship");
    assert_eq!(stock(app, &owner_a, &product_a).await, 9);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn refused_requests_leave_nothing_behind() {
    for app in TestApp::each_backend().await {
        nothing_half_written(&app).await;
        app.cleanup().await;
    }
}

async fn nothing_half_written(app: &TestApp) {
    let (shop, owner) = app.shop("Atomic").await;
    let (product, sku) = app.product(&owner, "Tea", 1_000, 10).await;
    let (_, member) = app.member(&shop, "m").await;

    // One valid and one unknown SKU: 404 naming the second line, nothing taken.
    let (st, b) = app
        .post(
            "/api/v1/orders",
            &member,
            json!({ "lines": [{ "sku_id": sku, "quantity": 3 }, { "sku_id": "sku_nope", "quantity": 1 }] }),
        )
        .await;
    assert_error(st, &b, 404, "not_found", &["lines[1].sku_id", "sku_nope"]);
    assert_eq!(stock(app, &owner, &product).await, 10);
    assert_eq!(order_count(app, &owner).await, 0);
    // More than the stock: 409, and the first line's units are not kept either.
    let (_, sku2) = app.product(&owner, "Cup", 500, 1).await;
    let (st, b) = app
        .post(
            "/api/v1/orders",
            &member,
            json!({ "lines": [{ "sku_id": sku, "quantity": 3 }, { "sku_id": sku2, "quantity": 2 }] }),
        )
        .await;
    assert_error(st, &b, 409, "conflict", &["sold out", &sku2]);
    assert_eq!(stock(app, &owner, &product).await, 10);
    assert_eq!(order_count(app, &owner).await, 0);

    // A plugin input for a plugin that is not installed.
    let (st, b) = app
        .post(
            "/api/v1/orders",
            &member,
            json!({ "lines": [{ "sku_id": sku, "quantity": 1 }], "plugins": { "nope": {} } }),
        )
        .await;
    assert_error(st, &b, 422, "invalid_request", &["plugins.nope"]);
    assert_eq!(stock(app, &owner, &product).await, 10);
    assert_eq!(order_count(app, &owner).await, 0);

    // Installing an unknown plugin.
    let (st, b) = app
        .post(
            "/api/v1/plugins",
            &owner,
            json!({ "name": "no-such-plugin" }),
        )
        .await;
    assert_error(st, &b, 404, "not_found", &["no-such-plugin"]);
    let (_, plugins) = app.get("/api/v1/plugins", &owner).await;
    assert_eq!(plugins["plugins"], json!([]));
    // Installing with a config the plugin rejects installs nothing.
    let (st, b) = app
        .post(
            "/api/v1/plugins",
            &owner,
            json!({ "name": "coupons", "config": { "max_coupons_per_order": 0 },
                    "accept_capabilities": app.capabilities(&owner, "coupons").await }),
        )
        .await;
    assert_error(st, &b, 422, "invalid_request", &["max_coupons_per_order"]);
    let (_, plugins) = app.get("/api/v1/plugins", &owner).await;
    assert_eq!(plugins["plugins"], json!([]));

    // Coupons installed with a valid config; invalid reconfigurations change nothing.
    app.install(
        &owner,
        "coupons",
        Some(json!({ "max_coupons_per_order": 2 })),
    )
    .await;
    for bad in [
        json!({ "max_coupons_per_order": 9 }),
        json!({ "max_coupons_per_order": 2, "max_coupon_per_order": 1 }),
        json!({ "max_coupons_per_order": "two" }),
    ] {
        let (st, b) = app.put("/api/v1/plugins/coupons/config", &owner, bad).await;
        assert_eq!(st, 422, "{b}");
        assert_eq!(b["error"]["code"], "invalid_request", "{b}");
        let msg = b["error"]["message"].as_str().unwrap();
        assert!(msg.contains("max_coupon"), "names the field: {msg}");
        let (_, plugins) = app.get("/api/v1/plugins", &owner).await;
        let coupons = plugins["plugins"]
            .as_array()
            .unwrap()
            .iter()
            .find(|p| p["plugin"] == "coupons")
            .expect("coupons is installed")
            .clone();
        assert_eq!(coupons["config"], json!({ "max_coupons_per_order": 2 }));
        assert_eq!(coupons["enabled"], true);
    }
    // Configuring a plugin that is not installed.
    let (st, b) = app
        .put("/api/v1/plugins/nope/config", &owner, json!({}))
        .await;
    assert_error(st, &b, 404, "not_found", &["nope"]);

    // A claim with a bad template id: refused, nothing issued.
    let (st, tpl) = app
        .post(
            "/api/v1/plugins/coupons/actions/create-template",
            &owner,
            json!({
                "name": "5 off",
                "discount": { "type": "fixed", "amount": 500 },
                "validity": { "type": "relative", "days": 7 },
                "total_stock": 3,
                "per_member_limit": 1
            }),
        )
        .await;
    assert_eq!(st, 200, "{tpl}");
    let tpl_id = tpl["template_id"].as_str().unwrap().to_string();
    let (st, b) = app
        .post(
            "/api/v1/plugins/coupons/actions/claim",
            &member,
            json!({ "template_id": "tpl_missing" }),
        )
        .await;
    assert!((400..500).contains(&st), "{st} {b}");
    assert!(b["error"]["code"].is_string(), "{b}");
    assert!(
        b["error"]["message"]
            .as_str()
            .unwrap()
            .contains("tpl_missing"),
        "{b}"
    );
    let (st, b) = app
        .post(
            "/api/v1/plugins/coupons/actions/claim",
            &member,
            json!({ "template_id": tpl_id, "extra": true }),
        )
        .await;
    assert!((400..500).contains(&st), "{st} {b}");
    assert!(
        b["error"]["message"].as_str().unwrap().contains("extra"),
        "{b}"
    );
    let (_, mine) = app
        .post(
            "/api/v1/plugins/coupons/actions/list-coupons",
            &member,
            json!({}),
        )
        .await;
    assert_eq!(mine["coupons"], json!([]), "no coupon was issued");
    let (st, t) = app
        .post(
            "/api/v1/plugins/coupons/actions/get-template",
            &owner,
            json!({ "template_id": tpl_id }),
        )
        .await;
    assert_eq!(st, 200, "{t}");
    assert_eq!(t["issued"], 0);
    assert_eq!(t["remaining_stock"], 3);
    // An unknown action of an installed plugin, and an action of a missing plugin.
    let (st, b) = app
        .post("/api/v1/plugins/coupons/actions/steal", &member, json!({}))
        .await;
    assert!((400..500).contains(&st) && st != 405, "{st} {b}");
    assert!(
        b["error"]["message"].as_str().unwrap().contains("steal"),
        "{b}"
    );
    let (st, b) = app
        .post("/api/v1/plugins/nope/actions/claim", &member, json!({}))
        .await;
    assert!((400..500).contains(&st) && st != 405, "{st} {b}");
    assert!(
        b["error"]["message"].as_str().unwrap().contains("nope"),
        "{b}"
    );

    // After all that, a good checkout still works and takes exactly its units.
    let (st, o) = app
        .post(
            "/api/v1/orders",
            &member,
            json!({ "lines": [{ "sku_id": sku, "quantity": 2 }] }),
        )
        .await;
    assert_eq!(st, 201, "{o}");
    assert_eq!(stock(app, &owner, &product).await, 8);
    assert_eq!(order_count(app, &owner).await, 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_listed_route_is_routed() {
    let app = TestApp::sqlite().await;
    let routes = baseplate_api::openapi::ROUTES;
    assert!(routes.len() > 30, "the table lists the API");
    for (method, path, _, _) in routes {
        let concrete: String = path
            .split('/')
            .map(|seg| {
                if seg.starts_with('{') && seg.ends_with('}') {
                    "x"
                } else {
                    seg
                }
            })
            .collect::<Vec<_>>()
            .join("/");
        let m = Method::from_bytes(method.to_ascii_uppercase().as_bytes()).unwrap();
        let resp = app
            .client
            .request(m.clone(), format!("{}{concrete}", app.base))
            .send()
            .await
            .unwrap();
        let status = resp.status().as_u16();
        let text = resp.text().await.unwrap_or_default();
        assert_ne!(status, 405, "{method} {path}: method not allowed: {text}");
        assert!(
            !(status == 404 && text.contains("no such route")),
            "{method} {path} hit the router fallback: {text}"
        );
        assert!(status < 500, "{method} {path}: {status} {text}");
    }
    // The fallback is what the check above would catch.
    let (st, b) = app
        .request(Method::GET, "/api/v1/nope", None, None, &[])
        .await;
    assert_error(st, &b, 404, "not_found", &["no such route"]);

    // The document lists exactly these paths, each with exactly its methods.
    let (st, doc) = app
        .request(Method::GET, "/api/openapi.json", None, None, &[])
        .await;
    assert_eq!(st, 200, "{doc}");
    let mut expected: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    for (method, path, _, _) in routes {
        expected
            .entry(path.to_string())
            .or_default()
            .insert(method.to_string());
    }
    let listed: BTreeMap<String, BTreeSet<String>> = doc["paths"]
        .as_object()
        .expect("paths is an object")
        .iter()
        .map(|(p, ops)| {
            (
                p.clone(),
                ops.as_object()
                    .expect("a path item is an object")
                    .keys()
                    .cloned()
                    .collect(),
            )
        })
        .collect();
    assert_eq!(listed, expected);
    app.cleanup().await;
}
