//! Order lifecycle rules, on every backend: idempotent checkout, the payment timeout that
//! releases stock and coupons, cancel by member and by staff, quotes that create nothing,
//! the four separate state dimensions, completion, and per-shop rule counters.

use baseplate_tests::harness::TestApp;
use reqwest::Method;
use serde_json::{Value, json};

#[track_caller]
fn assert_error(st: u16, body: &Value, status: u16, code: &str, mentions: &[&str]) {
    assert_eq!(st, status, "status of {body}");
    let err = &body["error"];
    assert!(err.is_object(), "error shape: {body}");
    assert_eq!(err["code"], code, "code of {body}");
    let message = err["message"].as_str().expect("error.message is a string");
    for m in mentions {
        assert!(
            message.contains(m),
            "message {message:?} should mention {m:?}"
        );
    }
}

/// Asserts (status, payment_status, refund_state, close_reason).
#[track_caller]
fn assert_dims(o: &Value, status: &str, payment: &str, refund: &str, close: Option<&str>) {
    assert_eq!(o["status"], status, "status of {o}");
    assert_eq!(o["payment_status"], payment, "payment_status of {o}");
    assert_eq!(o["refund_state"], refund, "refund_state of {o}");
    match close {
        None => assert!(o["close_reason"].is_null(), "close_reason of {o}"),
        Some(c) => assert_eq!(o["close_reason"], c, "close_reason of {o}"),
    }
}

async fn order_with_key(
    app: &TestApp,
    token: &str,
    body: &Value,
    key: Option<&str>,
) -> (u16, Value) {
    let headers: Vec<(&str, &str)> = key.map(|k| ("Idempotency-Key", k)).into_iter().collect();
    app.request(
        Method::POST,
        "/api/v1/orders",
        Some(token),
        Some(body.clone()),
        &headers,
    )
    .await
}

async fn order(app: &TestApp, token: &str, id: &str) -> Value {
    let (st, o) = app.get(&format!("/api/v1/orders/{id}"), token).await;
    assert_eq!(st, 200, "{o}");
    o
}

async fn stock(app: &TestApp, token: &str, product: &str) -> i64 {
    let (st, p) = app.get(&format!("/api/v1/products/{product}"), token).await;
    assert_eq!(st, 200, "{p}");
    p["skus"][0]["stock"].as_i64().unwrap()
}

async fn order_ids(app: &TestApp, token: &str) -> Vec<String> {
    let (st, b) = app.get("/api/v1/orders", token).await;
    assert_eq!(st, 200, "{b}");
    b["orders"]
        .as_array()
        .unwrap()
        .iter()
        .map(|o| o["id"].as_str().unwrap().to_string())
        .collect()
}

fn lines(sku: &str, quantity: u32) -> Value {
    json!({ "lines": [{ "sku_id": sku, "quantity": quantity }] })
}

/// Installs coupons and makes a template; returns its id.
async fn coupon_template(app: &TestApp, owner: &str, amount: i64, stock: i64) -> String {
    app.install(owner, "coupons", None).await;
    let (st, tpl) = app
        .post(
            "/api/v1/plugins/coupons/actions/create-template",
            owner,
            json!({
                "name": "off",
                "discount": { "type": "fixed", "amount": amount },
                "validity": { "type": "relative", "days": 7 },
                "total_stock": stock,
                "per_member_limit": 1
            }),
        )
        .await;
    assert_eq!(st, 200, "{tpl}");
    tpl["template_id"].as_str().unwrap().to_string()
}

async fn claim(app: &TestApp, member: &str, template: &str) -> (u16, Value) {
    app.post(
        "/api/v1/plugins/coupons/actions/claim",
        member,
        json!({ "template_id": template }),
    )
    .await
}

async fn coupon_status(app: &TestApp, token: &str, coupon: &str) -> String {
    let (st, b) = app
        .post(
            "/api/v1/plugins/coupons/actions/list-coupons",
            token,
            json!({}),
        )
        .await;
    assert_eq!(st, 200, "{b}");
    b["coupons"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["coupon_id"] == coupon)
        .expect("the coupon is listed")["status"]
        .as_str()
        .unwrap()
        .to_string()
}

// ---- idempotency -----------------------------------------------------------------------

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn idempotency_key_makes_checkout_retry_safe() {
    for app in TestApp::each_backend().await {
        idempotency(&app).await;
        app.cleanup().await;
    }
}

async fn idempotency(app: &TestApp) {
    let (shop, owner) = app.shop("Idem").await;
    let (product, sku) = app.product(&owner, "Tea", 1_000, 10).await;
    let (_, buyer) = app.member(&shop, "Buyer").await;
    let (_, other_buyer) = app.member(&shop, "Other").await;
    let body = lines(&sku, 2);

    let (st, first) = order_with_key(app, &buyer, &body, Some("key-1")).await;
    assert_eq!(st, 201, "{first}");
    let id = first["id"].as_str().unwrap().to_string();
    for _ in 0..3 {
        let (st, again) = order_with_key(app, &buyer, &body, Some("key-1")).await;
        assert_eq!(st, 201, "{again}");
        assert_eq!(again["id"], id.as_str());
        assert_eq!(again, first, "the first response, replayed");
    }
    assert_eq!(stock(app, &owner, &product).await, 8, "stock taken once");
    assert_eq!(order_ids(app, &owner).await, vec![id.clone()]);

    // The same key with another body.
    let (st, b) = order_with_key(app, &buyer, &lines(&sku, 3), Some("key-1")).await;
    assert_error(st, &b, 409, "conflict", &["Idempotency-Key", "key-1"]);
    // Keys are scoped per caller (as Stripe scopes them per API key): another buyer using
    // the same key makes their own order and never sees the first buyer's.
    let (st, other) = order_with_key(app, &other_buyer, &body, Some("key-1")).await;
    assert_eq!(st, 201, "{other}");
    assert_ne!(other["id"], id.as_str(), "another buyer's order: {other}");
    assert_ne!(other["member_id"], first["member_id"]);
    let (st, again) = order_with_key(app, &other_buyer, &body, Some("key-1")).await;
    assert_eq!(
        (st, &again["id"]),
        (201, &other["id"]),
        "their own retry replays theirs"
    );
    assert_eq!(stock(app, &owner, &product).await, 6);
    assert_eq!(order_ids(app, &owner).await.len(), 2);
    // Bad keys are named.
    let long = "k".repeat(129);
    let (st, b) = order_with_key(app, &buyer, &body, Some(&long)).await;
    assert_error(st, &b, 422, "invalid_request", &["Idempotency-Key"]);

    // No key: each request is a new order.
    let (st, a) = order_with_key(app, &buyer, &body, None).await;
    assert_eq!(st, 201, "{a}");
    let (st, b) = order_with_key(app, &buyer, &body, None).await;
    assert_eq!(st, 201, "{b}");
    assert_ne!(a["id"], b["id"]);
    assert_ne!(a["id"], id.as_str());
    assert_eq!(stock(app, &owner, &product).await, 2);
    assert_eq!(order_ids(app, &owner).await.len(), 4);
    // A new key is a new order too.
    let (st, c) = order_with_key(app, &buyer, &body, Some("key-2")).await;
    assert_eq!(st, 201, "{c}");
    assert_ne!(c["id"], id.as_str());
    assert_eq!(stock(app, &owner, &product).await, 0);
}

// ---- payment timeout -------------------------------------------------------------------

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unpaid_orders_close_after_the_timeout() {
    for app in TestApp::each_backend().await {
        timeout(&app).await;
        app.cleanup().await;
    }
}

async fn timeout(app: &TestApp) {
    let (shop, owner) = app.shop("Timeout").await;
    let (st, s) = app
        .request(
            Method::PATCH,
            "/api/v1/shop",
            Some(&owner),
            Some(json!({ "payment_timeout_secs": 60 })),
            &[],
        )
        .await;
    assert_eq!(st, 200, "{s}");
    assert_eq!(s["payment_timeout_secs"], 60);
    let (st, b) = app
        .request(
            Method::PATCH,
            "/api/v1/shop",
            Some(&owner),
            Some(json!({ "payment_timeout_secs": 59 })),
            &[],
        )
        .await;
    assert_error(st, &b, 422, "invalid_request", &["payment_timeout_secs"]);

    let (product, sku) = app.product(&owner, "Tea", 5_000, 10).await;
    let tpl = coupon_template(app, &owner, 1_000, 5).await;
    let (_, buyer) = app.member(&shop, "Buyer").await;
    let (st, c) = claim(app, &buyer, &tpl).await;
    assert_eq!(st, 200, "{c}");
    let coupon = c["coupon_id"].as_str().unwrap().to_string();

    let mut body = lines(&sku, 3);
    body["plugins"] = json!({ "coupons": { "coupon_ids": [coupon] } });
    let (st, o) = app.post("/api/v1/orders", &buyer, body).await;
    assert_eq!(st, 201, "{o}");
    let with_coupon = o["id"].as_str().unwrap().to_string();
    assert_eq!(o["payable_amount"], 14_000);
    assert_eq!(
        o["expires_at"].as_i64().unwrap() - o["created_at"].as_i64().unwrap(),
        60_000
    );
    // A second order that gets paid in time is not touched by the sweep.
    let (st, o) = app.post("/api/v1/orders", &buyer, lines(&sku, 1)).await;
    assert_eq!(st, 201, "{o}");
    let paid = o["id"].as_str().unwrap().to_string();
    assert_eq!(coupon_status(app, &buyer, &coupon).await, "reserved");
    assert_eq!(stock(app, &owner, &product).await, 6);

    app.advance(59_000).await;
    assert_eq!(
        app.pay(&buyer, &paid).await["callback"]["result"],
        "applied"
    );
    let o = order(app, &owner, &with_coupon).await;
    assert_dims(&o, "pending_payment", "unpaid", "none", None);
    assert_eq!(coupon_status(app, &buyer, &coupon).await, "reserved");

    app.advance(2_000).await;
    let o = order(app, &owner, &with_coupon).await;
    assert_dims(&o, "closed", "unpaid", "none", Some("payment_timeout"));
    assert!(o["closed_at"].is_i64(), "{o}");
    assert_eq!(
        stock(app, &owner, &product).await,
        9,
        "the 3 units are back"
    );
    assert_eq!(coupon_status(app, &buyer, &coupon).await, "available");
    let o = order(app, &owner, &paid).await;
    assert_dims(&o, "to_ship", "paid", "none", None);

    // Another pass changes nothing; the freed coupon works on a new order.
    app.advance(120_000).await;
    assert_eq!(stock(app, &owner, &product).await, 9);
    let mut body = lines(&sku, 3);
    body["plugins"] = json!({ "coupons": { "coupon_ids": [coupon] } });
    let (st, o) = app.post("/api/v1/orders", &buyer, body).await;
    assert_eq!(st, 201, "{o}");
    assert_eq!(o["discount"], 1_000);
    assert_eq!(coupon_status(app, &buyer, &coupon).await, "reserved");
}

// ---- cancel ----------------------------------------------------------------------------

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cancel_by_member_and_by_staff() {
    for app in TestApp::each_backend().await {
        cancel(&app).await;
        app.cleanup().await;
    }
}

async fn cancel(app: &TestApp) {
    let (shop, owner) = app.shop("Cancel").await;
    let (product, sku) = app.product(&owner, "Tea", 2_500, 10).await;
    let (_, buyer) = app.member(&shop, "Buyer").await;
    let (_, stranger) = app.member(&shop, "Stranger").await;

    // A member cancels their own unpaid order.
    let (st, o) = app.post("/api/v1/orders", &buyer, lines(&sku, 4)).await;
    assert_eq!(st, 201, "{o}");
    let unpaid = o["id"].as_str().unwrap().to_string();
    assert_eq!(stock(app, &owner, &product).await, 6);
    let (st, b) = app
        .post(
            &format!("/api/v1/orders/{unpaid}/cancel"),
            &stranger,
            json!({}),
        )
        .await;
    assert_error(st, &b, 404, "not_found", &[&unpaid]);
    let (st, o) = app
        .post(
            &format!("/api/v1/orders/{unpaid}/cancel"),
            &buyer,
            json!({}),
        )
        .await;
    assert_eq!(st, 200, "{o}");
    assert_dims(&o, "closed", "unpaid", "none", Some("cancelled"));
    assert_eq!(stock(app, &owner, &product).await, 10);
    // Cancelling again changes nothing (stock is not returned twice).
    let (st, o) = app
        .post(
            &format!("/api/v1/orders/{unpaid}/cancel"),
            &buyer,
            json!({}),
        )
        .await;
    assert!(st == 200 || st == 409, "{st} {o}");
    assert_eq!(stock(app, &owner, &product).await, 10);
    // A closed order cannot be paid.
    let (st, b) = app
        .post(
            &format!("/api/v1/orders/{unpaid}/payments"),
            &buyer,
            json!({}),
        )
        .await;
    assert_error(st, &b, 409, "conflict", &["closed"]);

    // A member cannot cancel a paid order.
    let (st, o) = app.post("/api/v1/orders", &buyer, lines(&sku, 2)).await;
    assert_eq!(st, 201, "{o}");
    let paid = o["id"].as_str().unwrap().to_string();
    assert_eq!(
        app.pay(&buyer, &paid).await["callback"]["result"],
        "applied"
    );
    let (st, b) = app
        .post(&format!("/api/v1/orders/{paid}/cancel"), &buyer, json!({}))
        .await;
    assert_error(st, &b, 409, "conflict", &["paid"]);
    let o = order(app, &owner, &paid).await;
    assert_dims(&o, "to_ship", "paid", "none", None);
    assert_eq!(stock(app, &owner, &product).await, 8);

    // Staff cancel of a paid order refunds it in full.
    let (st, o) = app
        .post(&format!("/api/v1/orders/{paid}/cancel"), &owner, json!({}))
        .await;
    assert_eq!(st, 200, "{o}");
    assert_dims(&o, "closed", "paid", "full", Some("cancelled"));
    assert_eq!(o["refunded_amount"], 5_000);
    assert_eq!(o["paid_amount"], 5_000);
    assert_eq!(stock(app, &owner, &product).await, 10);
    let (_, refunds) = app
        .get(&format!("/api/v1/orders/{paid}/refunds"), &owner)
        .await;
    assert_eq!(refunds["refunds"].as_array().unwrap().len(), 1);
    assert_eq!(refunds["refunds"][0]["amount"], 5_000);
    // A retried staff cancel refunds nothing more.
    let (st, o) = app
        .post(&format!("/api/v1/orders/{paid}/cancel"), &owner, json!({}))
        .await;
    assert_eq!(st, 200, "{o}");
    assert_eq!(o["refunded_amount"], 5_000);
    let (_, refunds) = app
        .get(&format!("/api/v1/orders/{paid}/refunds"), &owner)
        .await;
    assert_eq!(refunds["refunds"].as_array().unwrap().len(), 1);
    let (_, ledger) = app.get("/api/v1/ledger", &owner).await;
    assert_eq!(ledger["imbalance"], 0);
    let (_, bal) = app
        .get("/api/v1/ledger/balance?party=shop&account=sales", &owner)
        .await;
    assert_eq!(bal["total"], 0);
}

// ---- quote -----------------------------------------------------------------------------

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn quote_prices_like_checkout_and_creates_nothing() {
    for app in TestApp::each_backend().await {
        quote(&app).await;
        app.cleanup().await;
    }
}

async fn quote(app: &TestApp) {
    let (shop, owner) = app.shop("Quote").await;
    let (tea, tea_sku) = app.product(&owner, "Tea", 6_000, 5).await;
    let (_, cup_sku) = app.product(&owner, "Cup", 4_000, 5).await;
    let tpl = coupon_template(app, &owner, 2_000, 5).await;
    let (_, buyer) = app.member(&shop, "Buyer").await;
    let (st, c) = claim(app, &buyer, &tpl).await;
    assert_eq!(st, 200, "{c}");
    let coupon = c["coupon_id"].as_str().unwrap().to_string();
    let body = json!({
        "lines": [{ "sku_id": tea_sku, "quantity": 1 }, { "sku_id": cup_sku, "quantity": 1 }],
        "plugins": { "coupons": { "coupon_ids": [coupon] } }
    });

    let mut quotes = Vec::new();
    for _ in 0..2 {
        let (st, q) = app
            .post("/api/v1/checkout/quote", &buyer, body.clone())
            .await;
        assert_eq!(st, 200, "{q}");
        quotes.push(q);
    }
    let q = &quotes[0];
    assert_eq!(quotes[0], quotes[1], "quoting twice gives the same price");
    assert_eq!(q["original_amount"], 10_000);
    assert_eq!(q["discount"], 2_000);
    assert_eq!(q["payable_amount"], 8_000);
    assert_eq!(q["currency"], "CNY");
    // Nothing was created, taken or reserved.
    assert_eq!(stock(app, &owner, &tea).await, 5);
    assert!(order_ids(app, &owner).await.is_empty());
    assert_eq!(coupon_status(app, &buyer, &coupon).await, "available");
    // A quote still refuses what checkout would refuse.
    let (st, b) = app
        .post(
            "/api/v1/checkout/quote",
            &buyer,
            json!({ "lines": [{ "sku_id": "sku_nope", "quantity": 1 }] }),
        )
        .await;
    assert_error(st, &b, 404, "not_found", &["lines[0].sku_id"]);

    // Checkout prices the same cart the same way, line by line.
    let (st, o) = app.post("/api/v1/orders", &buyer, body).await;
    assert_eq!(st, 201, "{o}");
    for k in ["original_amount", "discount", "payable_amount"] {
        assert_eq!(o[k], q[k], "{k}");
    }
    let (ql, ol) = (
        q["lines"].as_array().unwrap(),
        o["lines"].as_array().unwrap(),
    );
    assert_eq!(ql.len(), ol.len());
    for (a, b) in ql.iter().zip(ol) {
        assert_eq!(a["sku_id"], b["sku_id"]);
        assert_eq!(a["adjustments"], b["adjustments"]);
        assert_eq!(
            a["amount"], b["final_amount"],
            "the quoted line amount is the order line's final amount"
        );
    }
    assert_eq!(ol[0]["final_amount"], 4_800);
    assert_eq!(stock(app, &owner, &tea).await, 4);
    assert_eq!(coupon_status(app, &buyer, &coupon).await, "reserved");
    // Now the coupon is held, a quote with it is refused (as a checkout would be).
    let (st, q) = app
        .post(
            "/api/v1/checkout/quote",
            &buyer,
            json!({ "lines": [{ "sku_id": tea_sku, "quantity": 1 }], "plugins": { "coupons": { "coupon_ids": [coupon] } } }),
        )
        .await;
    assert!((400..500).contains(&st), "{st} {q}");
    assert_eq!(order_ids(app, &owner).await.len(), 1);
}

// ---- the four state dimensions ---------------------------------------------------------

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn status_payment_refund_and_close_reason_are_separate() {
    for app in TestApp::each_backend().await {
        dimensions(&app).await;
        app.cleanup().await;
    }
}

async fn dimensions(app: &TestApp) {
    let (shop, owner) = app.shop("Dims").await;
    let (_, sku) = app.product(&owner, "Tea", 3_000, 10).await;
    let (_, buyer) = app.member(&shop, "Buyer").await;
    let (st, o) = app.post("/api/v1/orders", &buyer, lines(&sku, 2)).await;
    assert_eq!(st, 201, "{o}");
    let id = o["id"].as_str().unwrap().to_string();
    assert_dims(&o, "pending_payment", "unpaid", "none", None);
    assert_dims(
        &order(app, &owner, &id).await,
        "pending_payment",
        "unpaid",
        "none",
        None,
    );

    assert_eq!(app.pay(&buyer, &id).await["callback"]["result"], "applied");
    let o = order(app, &buyer, &id).await;
    assert_dims(&o, "to_ship", "paid", "none", None);
    assert_eq!(o["paid_amount"], 6_000);
    assert!(o["paid_at"].is_i64(), "{o}");

    let (st, r) = app
        .post(
            &format!("/api/v1/orders/{id}/refunds"),
            &owner,
            json!({ "refund_id": "d1", "amount": 1_000 }),
        )
        .await;
    assert_eq!(st, 201, "{r}");
    let o = order(app, &owner, &id).await;
    assert_dims(&o, "to_ship", "paid", "partial", None);
    assert_eq!(o["refunded_amount"], 1_000);
    assert!(o["closed_at"].is_null(), "{o}");

    let (st, r) = app
        .post(
            &format!("/api/v1/orders/{id}/refunds"),
            &owner,
            json!({ "refund_id": "d2", "amount": 5_000 }),
        )
        .await;
    assert_eq!(st, 201, "{r}");
    let o = order(app, &owner, &id).await;
    assert_dims(&o, "closed", "paid", "full", Some("refunded"));
    assert_eq!(o["refunded_amount"], 6_000);
    assert_eq!(o["paid_amount"], 6_000);
    assert!(o["closed_at"].is_i64(), "{o}");
    // Filtering by status sees the order where it is now.
    let (st, l) = app.get("/api/v1/orders?status=closed", &owner).await;
    assert_eq!(st, 200, "{l}");
    assert_eq!(l["orders"][0]["id"], id.as_str());
    let (_, l) = app.get("/api/v1/orders?status=to_ship", &owner).await;
    assert_eq!(l["orders"], json!([]));
    let (st, b) = app.get("/api/v1/orders?status=refunded", &owner).await;
    assert_error(st, &b, 422, "invalid_request", &["status"]);
}

// ---- complete --------------------------------------------------------------------------

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn complete_moves_to_ship_orders_only() {
    for app in TestApp::each_backend().await {
        complete(&app).await;
        app.cleanup().await;
    }
}

async fn complete(app: &TestApp) {
    let (shop, owner) = app.shop("Complete").await;
    let (_, sku) = app.product(&owner, "Tea", 3_000, 10).await;
    let (_, buyer) = app.member(&shop, "Buyer").await;
    let (_, o) = app.post("/api/v1/orders", &buyer, lines(&sku, 1)).await;
    let id = o["id"].as_str().unwrap().to_string();

    // Unpaid: refused, unchanged.
    let (st, b) = app
        .post(&format!("/api/v1/orders/{id}/complete"), &owner, json!({}))
        .await;
    assert_error(st, &b, 409, "conflict", &["pending_payment"]);
    assert_dims(
        &order(app, &owner, &id).await,
        "pending_payment",
        "unpaid",
        "none",
        None,
    );
    // A member cannot complete.
    assert_eq!(app.pay(&buyer, &id).await["callback"]["result"], "applied");
    let (st, b) = app
        .post(&format!("/api/v1/orders/{id}/complete"), &buyer, json!({}))
        .await;
    assert_error(st, &b, 403, "forbidden", &["staff"]);

    let (st, o) = app
        .post(&format!("/api/v1/orders/{id}/complete"), &owner, json!({}))
        .await;
    assert_eq!(st, 200, "{o}");
    assert_dims(&o, "completed", "paid", "none", None);
    assert_dims(
        &order(app, &owner, &id).await,
        "completed",
        "paid",
        "none",
        None,
    );
    // Completing twice, or cancelling a completed order, is refused.
    let (st, b) = app
        .post(&format!("/api/v1/orders/{id}/complete"), &owner, json!({}))
        .await;
    assert_error(st, &b, 409, "conflict", &["completed"]);
    let (st, b) = app
        .post(&format!("/api/v1/orders/{id}/cancel"), &owner, json!({}))
        .await;
    assert_error(st, &b, 409, "conflict", &["completed"]);
    // A full refund after completion does not reopen or close it.
    let (st, r) = app
        .post(
            &format!("/api/v1/orders/{id}/refunds"),
            &owner,
            json!({ "refund_id": "after-sale", "amount": 3_000 }),
        )
        .await;
    assert_eq!(st, 201, "{r}");
    assert_dims(
        &order(app, &owner, &id).await,
        "completed",
        "paid",
        "full",
        None,
    );
}

// ---- two shops -------------------------------------------------------------------------

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_same_rule_in_two_shops_never_leaks() {
    for app in TestApp::each_backend().await {
        two_shops(&app).await;
        app.cleanup().await;
    }
}

async fn two_shops(app: &TestApp) {
    let (shop_a, owner_a) = app.shop("A").await;
    let (shop_b, owner_b) = app.shop("B").await;
    let tpl_a = coupon_template(app, &owner_a, 500, 1).await;
    let tpl_b = coupon_template(app, &owner_b, 500, 1).await;
    let (_, a1) = app.member(&shop_a, "a1").await;
    let (_, a2) = app.member(&shop_a, "a2").await;
    let (_, b1) = app.member(&shop_b, "b1").await;

    // A member of A cannot claim B's template: B's state is invisible from A.
    let (st, b) = claim(app, &a1, &tpl_b).await;
    assert!((400..500).contains(&st), "{st} {b}");
    assert!(b["error"]["code"].is_string(), "{b}");

    let (st, ca) = claim(app, &a1, &tpl_a).await;
    assert_eq!(st, 200, "{ca}");
    let (st, cb) = claim(app, &b1, &tpl_b).await;
    assert_eq!(st, 200, "claiming in B is not limited by A's claim: {cb}");
    assert_ne!(ca["coupon_id"], cb["coupon_id"]);

    // Each template really had one unit.
    let (st, b) = claim(app, &a2, &tpl_a).await;
    assert!((400..500).contains(&st), "{st} {b}");
    assert!(
        b["error"]["message"]
            .as_str()
            .unwrap()
            .contains("out of stock"),
        "{b}"
    );
    for (owner, tpl) in [(&owner_a, &tpl_a), (&owner_b, &tpl_b)] {
        let (st, t) = app
            .post(
                "/api/v1/plugins/coupons/actions/get-template",
                owner,
                json!({ "template_id": tpl }),
            )
            .await;
        assert_eq!(st, 200, "{t}");
        assert_eq!(t["issued"], 1);
        assert_eq!(t["remaining_stock"], 0);
    }
    // Each member sees only their own shop's coupon.
    for (member, coupon) in [(&a1, &ca["coupon_id"]), (&b1, &cb["coupon_id"])] {
        let (_, mine) = app
            .post(
                "/api/v1/plugins/coupons/actions/list-coupons",
                member,
                json!({}),
            )
            .await;
        let ids: Vec<&Value> = mine["coupons"]
            .as_array()
            .unwrap()
            .iter()
            .map(|c| &c["coupon_id"])
            .collect();
        assert_eq!(ids, vec![coupon]);
    }
    // A's coupon cannot be spent in B.
    let (_, sku_b) = app.product(&owner_b, "Tea", 5_000, 5).await;
    let mut body = lines(&sku_b, 1);
    body["plugins"] = json!({ "coupons": { "coupon_ids": [ca["coupon_id"]] } });
    let (st, b) = app.post("/api/v1/orders", &b1, body).await;
    assert!((400..500).contains(&st), "{st} {b}");
    assert!(order_ids(app, &owner_b).await.is_empty());
}
