//! Races over real HTTP, on every backend: the last coupon and the last unit are handed out
//! once, per-member limits hold, a coupon backs one order, an idempotency key makes one
//! order however often it is fired at once, and a payment callback storm applies once.

use baseplate_tests::harness::TestApp;
use futures::future::join_all;
use serde_json::{Value, json};

/// A template with no threshold and a fixed discount.
async fn template(app: &TestApp, owner: &str, total_stock: i64, per_member_limit: i64) -> String {
    let (st, tpl) = app
        .post(
            "/api/v1/plugins/coupons/actions/create-template",
            owner,
            json!({
                "name": "5 off",
                "discount": { "type": "fixed", "amount": 500 },
                "validity": { "type": "relative", "days": 7 },
                "total_stock": total_stock,
                "per_member_limit": per_member_limit
            }),
        )
        .await;
    assert_eq!(st, 200, "{tpl}");
    tpl["template_id"].as_str().unwrap().to_string()
}

async fn claim(app: &TestApp, token: &str, tpl: &str) -> (u16, Value) {
    app.post(
        "/api/v1/plugins/coupons/actions/claim",
        token,
        json!({ "template_id": tpl }),
    )
    .await
}

async fn get_template(app: &TestApp, owner: &str, tpl: &str) -> Value {
    let (st, t) = app
        .post(
            "/api/v1/plugins/coupons/actions/get-template",
            owner,
            json!({ "template_id": tpl }),
        )
        .await;
    assert_eq!(st, 200, "{t}");
    t
}

async fn list_coupons(app: &TestApp, token: &str) -> Vec<Value> {
    let (st, b) = app
        .post(
            "/api/v1/plugins/coupons/actions/list-coupons",
            token,
            json!({}),
        )
        .await;
    assert_eq!(st, 200, "{b}");
    b["coupons"].as_array().unwrap().clone()
}

async fn checkout(app: &TestApp, token: &str, body: &Value, key: &str) -> (u16, Value) {
    app.request(
        reqwest::Method::POST,
        "/api/v1/orders",
        Some(token),
        Some(body.clone()),
        &[("Idempotency-Key", key)],
    )
    .await
}

async fn orders(app: &TestApp, owner: &str) -> Vec<Value> {
    let (st, b) = app.get("/api/v1/orders", owner).await;
    assert_eq!(st, 200, "{b}");
    b["orders"].as_array().unwrap().clone()
}

async fn stock(app: &TestApp, owner: &str, product: &str) -> i64 {
    let (st, p) = app.get(&format!("/api/v1/products/{product}"), owner).await;
    assert_eq!(st, 200, "{p}");
    p["skus"][0]["stock"].as_i64().unwrap()
}

async fn members(app: &TestApp, shop: &str, n: usize) -> Vec<(String, String)> {
    join_all((0..n).map(|i| async move { app.member(shop, &format!("Buyer {i}")).await })).await
}

fn error_message(b: &Value) -> String {
    b["error"]["message"]
        .as_str()
        .unwrap_or_default()
        .to_string()
}

// ---- 1. the last coupon of a template is issued once -----------------------------------

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn coupon_stock_is_issued_exactly_once_under_concurrent_claims() {
    for app in TestApp::each_backend().await {
        coupon_stock_race(&app).await;
        app.cleanup().await;
    }
}

async fn coupon_stock_race(app: &TestApp) {
    let (shop, owner) = app.shop("Coupon Rush").await;
    app.install(&owner, "coupons", None).await;
    let tpl = template(app, &owner, 10, 1).await;
    let buyers = members(app, &shop, 50).await;

    let results = join_all(buyers.iter().map(|(_, token)| claim(app, token, &tpl))).await;

    let mut won = Vec::new();
    for (st, b) in &results {
        match st {
            200 => won.push(b["coupon_id"].as_str().unwrap().to_string()),
            500..=599 => panic!("a losing claim must be refused, not crash: {st} {b}"),
            _ => {
                assert!((400..500).contains(st), "{st} {b}");
                let msg = error_message(b);
                assert!(
                    msg.contains("out of stock") || msg.contains("sold out"),
                    "[{:?}] a losing claim is refused as sold out: {st} {b}",
                    app.backend
                );
            }
        }
    }
    assert_eq!(
        won.len(),
        10,
        "[{:?}] exactly the stock is issued",
        app.backend
    );
    won.sort();
    won.dedup();
    assert_eq!(won.len(), 10, "every issued coupon is a distinct coupon");
    let t = get_template(app, &owner, &tpl).await;
    assert_eq!(t["issued"], 10, "{t}");
    assert_eq!(t["remaining_stock"], 0, "{t}");
}

// ---- 2. the per-member limit holds under concurrent claims by one member ---------------

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn per_member_limit_holds_under_concurrent_claims() {
    for app in TestApp::each_backend().await {
        per_member_race(&app).await;
        app.cleanup().await;
    }
}

async fn per_member_race(app: &TestApp) {
    let (shop, owner) = app.shop("Limit Shop").await;
    app.install(&owner, "coupons", None).await;
    let tpl = template(app, &owner, 100, 2).await;
    let (_, token) = app.member(&shop, "Greedy").await;

    let results = join_all((0..10).map(|_| claim(app, &token, &tpl))).await;

    let ok = results.iter().filter(|(st, _)| *st == 200).count();
    assert_eq!(
        ok, 2,
        "[{:?}] exactly the per-member limit is claimed: {results:?}",
        app.backend
    );
    for (st, b) in results.iter().filter(|(st, _)| *st != 200) {
        assert!((400..500).contains(st), "{st} {b}");
        assert!(error_message(b).contains("already claimed"), "{st} {b}");
    }
    assert_eq!(get_template(app, &owner, &tpl).await["issued"], 2);
    assert_eq!(list_coupons(app, &token).await.len(), 2);
}

// ---- 3. the last unit of a SKU is sold once -------------------------------------------

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn last_unit_is_sold_exactly_once() {
    for app in TestApp::each_backend().await {
        last_unit_race(&app).await;
        app.cleanup().await;
    }
}

async fn last_unit_race(app: &TestApp) {
    let (shop, owner) = app.shop("Last Unit").await;
    let (product, sku) = app.product(&owner, "Rare Tea", 9_900, 1).await;
    let buyers = members(app, &shop, 20).await;
    let body = json!({ "lines": [{ "sku_id": sku, "quantity": 1 }] });

    let results = join_all(buyers.iter().enumerate().map(|(i, (_, token))| {
        let body = &body;
        async move { checkout(app, token, body, &format!("buy-{i}")).await }
    }))
    .await;

    let created: Vec<&Value> = results
        .iter()
        .filter(|(st, _)| *st == 201)
        .map(|(_, b)| b)
        .collect();
    assert_eq!(
        created.len(),
        1,
        "[{:?}] exactly one buyer gets the last unit: {results:?}",
        app.backend
    );
    for (st, b) in results.iter().filter(|(st, _)| *st != 201) {
        assert_eq!(*st, 409, "[{:?}] {b}", app.backend);
        assert!(error_message(b).contains("sold out"), "{b}");
    }
    assert_eq!(stock(app, &owner, &product).await, 0);
    let all = orders(app, &owner).await;
    assert_eq!(all.len(), 1, "{all:?}");
    assert_eq!(all[0]["id"], created[0]["id"]);
}

// ---- 4. one coupon backs one order ----------------------------------------------------

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn one_coupon_backs_one_order_under_concurrent_checkouts() {
    for app in TestApp::each_backend().await {
        coupon_checkout_race(&app).await;
        app.cleanup().await;
    }
}

async fn coupon_checkout_race(app: &TestApp) {
    let (shop, owner) = app.shop("Coupon Race").await;
    let (product, sku) = app.product(&owner, "Oolong", 3_000, 10).await;
    app.install(&owner, "coupons", None).await;
    let tpl = template(app, &owner, 10, 1).await;
    let (_, token) = app.member(&shop, "Twice").await;
    let (st, c) = claim(app, &token, &tpl).await;
    assert_eq!(st, 200, "{c}");
    let coupon = c["coupon_id"].as_str().unwrap().to_string();
    let body = json!({
        "lines": [{ "sku_id": sku, "quantity": 1 }],
        "plugins": { "coupons": { "coupon_ids": [coupon] } }
    });

    let results = join_all(["first", "second"].map(|k| checkout(app, &token, &body, k))).await;

    let created: Vec<&Value> = results
        .iter()
        .filter(|(st, _)| *st == 201)
        .map(|(_, b)| b)
        .collect();
    assert_eq!(
        created.len(),
        1,
        "[{:?}] exactly one order uses the coupon: {results:?}",
        app.backend
    );
    let (st, refused) = results.iter().find(|(st, _)| *st != 201).unwrap();
    assert!(
        (400..500).contains(st),
        "refused, not crashed: {st} {refused}"
    );
    let order = created[0];
    assert_eq!(order["discount"], 500, "{order}");
    let order_id = order["id"].as_str().unwrap();

    let all = orders(app, &owner).await;
    assert_eq!(all.len(), 1, "{all:?}");
    assert_eq!(stock(app, &owner, &product).await, 9);
    let coupons = list_coupons(app, &token).await;
    let c = coupons
        .iter()
        .find(|c| c["coupon_id"] == coupon.as_str())
        .expect("the coupon is listed");
    assert_eq!(c["status"], "reserved", "{c}");
    assert_eq!(
        c["order_id"], order_id,
        "reserved by the order that won: {c}"
    );
}

// ---- 5. one idempotency key, fired at once, makes one order ----------------------------

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn same_idempotency_key_fired_concurrently_makes_one_order() {
    for app in TestApp::each_backend().await {
        idempotency_race(&app).await;
        app.cleanup().await;
    }
}

async fn idempotency_race(app: &TestApp) {
    let (shop, owner) = app.shop("Retry Storm").await;
    let (product, sku) = app.product(&owner, "Puer", 5_000, 5).await;
    let (_, token) = app.member(&shop, "Impatient").await;
    let body = json!({ "lines": [{ "sku_id": sku, "quantity": 1 }] });

    let results = join_all((0..10).map(|_| checkout(app, &token, &body, "same-key"))).await;

    for (st, b) in &results {
        assert_eq!(
            *st, 201,
            "[{:?}] every retry returns the order: {b}",
            app.backend
        );
    }
    let id = results[0].1["id"].as_str().unwrap();
    assert!(
        results.iter().all(|(_, b)| b["id"] == id),
        "all responses carry the same order id: {results:?}"
    );
    assert_eq!(stock(app, &owner, &product).await, 4, "stock taken once");
    let all = orders(app, &owner).await;
    assert_eq!(all.len(), 1, "{all:?}");
    assert_eq!(all[0]["id"], id);
}

// ---- 6. a storm of duplicate payment callbacks applies once ----------------------------

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn duplicate_payment_callbacks_fired_concurrently_apply_once() {
    for app in TestApp::each_backend().await {
        callback_race(&app).await;
        app.cleanup().await;
    }
}

async fn callback_race(app: &TestApp) {
    let (shop, owner) = app.shop("Callback Storm").await;
    let (_, sku) = app.product(&owner, "Jasmine", 7_300, 5).await;
    let (_, token) = app.member(&shop, "Payer").await;
    let (st, order) = checkout(
        app,
        &token,
        &json!({ "lines": [{ "sku_id": sku, "quantity": 1 }] }),
        "pay-me",
    )
    .await;
    assert_eq!(st, 201, "{order}");
    let order_id = order["id"].as_str().unwrap().to_string();
    let payable = order["payable_amount"].as_i64().unwrap();
    assert_eq!(payable, 7_300);

    let (st, p) = app
        .post(
            &format!("/api/v1/orders/{order_id}/payments"),
            &token,
            json!({}),
        )
        .await;
    assert_eq!(st, 201, "{p}");
    let payment = p["payment"].clone();
    let notification = json!({ "id": "evt_storm", "type": "payment.succeeded", "payment_id": payment["id"], "amount": payment["amount"], "currency": "CNY" });
    let raw = serde_json::to_vec(&notification).unwrap();
    let ts = app.clock.now() / 1000;
    let sig = app.sign(ts, &raw);
    let callback = || app.callback(Some(ts.to_string()), Some(sig.clone()), &raw);

    let results = join_all((0..10).map(|_| callback())).await;

    for (st, b) in &results {
        assert_eq!(*st, 200, "[{:?}] {b}", app.backend);
    }
    let outcomes: Vec<&str> = results
        .iter()
        .map(|(_, b)| b["result"].as_str().unwrap_or("?"))
        .collect();
    assert_eq!(
        outcomes.iter().filter(|o| **o == "applied").count(),
        1,
        "[{:?}] exactly one callback applies: {outcomes:?}",
        app.backend
    );
    assert_eq!(
        outcomes.iter().filter(|o| **o == "duplicate").count(),
        9,
        "[{:?}] every other copy is reported as a duplicate: {outcomes:?}",
        app.backend
    );

    let (_, paid) = app.get(&format!("/api/v1/orders/{order_id}"), &owner).await;
    assert_eq!(paid["payment_status"], "paid", "{paid}");
    assert_eq!(paid["paid_amount"], payable, "{paid}");
    let (st, ledger) = app.get("/api/v1/ledger", &owner).await;
    assert_eq!(st, 200, "{ledger}");
    assert_eq!(ledger["imbalance"], 0, "{ledger}");
    let (_, bal) = app
        .get("/api/v1/ledger/balance?party=shop&account=sales", &owner)
        .await;
    assert_eq!(bal["total"], payable, "the money came in once: {bal}");
}
