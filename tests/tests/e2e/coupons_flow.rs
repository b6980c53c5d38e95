//! The main merchant/buyer flow with the coupons plugin: install → template → claim →
//! checkout with the discount per line → signed sandbox callback pays → coupon consumed →
//! refund returns it. Repeated callbacks change nothing.

use baseplate_tests::harness::TestApp;
use serde_json::json;

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

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn coupon_checkout_pay_refund() {
    for app in TestApp::each_backend().await {
        run(&app).await;
        app.cleanup().await;
    }
}

async fn run(app: &TestApp) {
    let (shop, owner) = app.shop("Tea House").await;
    let (_, tea) = app.product(&owner, "Longjing", 6_000, 10).await;
    let (_, cup) = app.product(&owner, "Cup", 4_000, 10).await;
    app.install(
        &owner,
        "coupons",
        Some(json!({ "max_coupons_per_order": 3 })),
    )
    .await;

    let (st, tpl) = app
        .post(
            "/api/v1/plugins/coupons/actions/create-template",
            &owner,
            json!({
                "name": "20 off 100",
                "discount": { "type": "fixed", "amount": 2000 },
                "threshold": { "type": "amount", "min": 10000 },
                "validity": { "type": "relative", "days": 7 },
                "total_stock": 5,
                "per_member_limit": 1,
                "stackable": false
            }),
        )
        .await;
    assert_eq!(st, 200, "{tpl}");
    let tpl_id = tpl["template_id"].as_str().unwrap().to_string();

    let (member, mtoken) = app.member(&shop, "Xiao Li").await;
    let (st, coupon) = app
        .post(
            "/api/v1/plugins/coupons/actions/claim",
            &mtoken,
            json!({ "template_id": tpl_id }),
        )
        .await;
    assert_eq!(st, 200, "{coupon}");
    let coupon_id = coupon["coupon_id"].as_str().unwrap().to_string();
    assert_eq!(coupon["member_id"], member.as_str());
    // The per-member limit holds.
    let (st, again) = app
        .post(
            "/api/v1/plugins/coupons/actions/claim",
            &mtoken,
            json!({ "template_id": tpl_id }),
        )
        .await;
    assert_eq!(st, 422, "{again}");

    // Checkout: 6000 + 4000 = 10000 meets the threshold; 2000 off, apportioned 1200/800.
    let body = json!({
        "lines": [{ "sku_id": tea, "quantity": 1 }, { "sku_id": cup, "quantity": 1 }],
        "plugins": { "coupons": { "coupon_ids": [coupon_id] } }
    });
    let (st, order) = app
        .request(
            reqwest::Method::POST,
            "/api/v1/orders",
            Some(&mtoken),
            Some(body.clone()),
            &[("Idempotency-Key", "k1")],
        )
        .await;
    assert_eq!(st, 201, "{order}");
    assert_eq!(order["payable_amount"], 8000);
    assert_eq!(order["discount"], 2000);
    let lines = order["lines"].as_array().unwrap();
    assert_eq!(lines[0]["final_amount"], 4800);
    assert_eq!(lines[1]["final_amount"], 3200);
    assert_eq!(lines[0]["adjustments"][0]["plugin"], "coupons");
    assert_eq!(lines[0]["adjustments"][0]["stage"], "coupon");
    assert_eq!(lines[0]["adjustments"][0]["reference"], coupon_id.as_str());
    let order_id = order["id"].as_str().unwrap().to_string();
    assert_eq!(coupon_status(app, &mtoken, &coupon_id).await, "reserved");

    // A retry with the same key returns the same order; the coupon is not reserved twice.
    let (st, again) = app
        .request(
            reqwest::Method::POST,
            "/api/v1/orders",
            Some(&mtoken),
            Some(body.clone()),
            &[("Idempotency-Key", "k1")],
        )
        .await;
    assert_eq!(st, 201, "{again}");
    assert_eq!(again["id"], order_id.as_str());
    // Another order may not use the reserved coupon.
    let (st, other) = app
        .request(
            reqwest::Method::POST,
            "/api/v1/orders",
            Some(&mtoken),
            Some(body.clone()),
            &[("Idempotency-Key", "k2")],
        )
        .await;
    assert_eq!(st, 422, "{other}");

    // Pay through the sandbox provider: the signed callback applies once.
    let (st, p) = app
        .post(
            &format!("/api/v1/orders/{order_id}/payments"),
            &mtoken,
            json!({}),
        )
        .await;
    assert_eq!(st, 201, "{p}");
    let payment = p["payment"].clone();
    let notification = json!({ "id": "evt_once", "type": "payment.succeeded", "payment_id": payment["id"], "amount": payment["amount"], "currency": "CNY" });
    let raw = serde_json::to_vec(&notification).unwrap();
    let ts = (app.clock.now() / 1000).to_string();
    let sig = app.sign(app.clock.now() / 1000, &raw);
    let callback = |raw: Vec<u8>, ts: String, sig: String| async move {
        app.callback(Some(ts), Some(sig), &raw).await
    };
    let (st, out) = callback(raw.clone(), ts.clone(), sig.clone()).await;
    assert_eq!(st, 200, "{out}");
    assert_eq!(out["result"], "applied");
    for _ in 0..3 {
        let (st, out) = callback(raw.clone(), ts.clone(), sig.clone()).await;
        assert_eq!(st, 200, "{out}");
        assert_eq!(out["result"], "duplicate");
    }
    let (_, paid) = app.get(&format!("/api/v1/orders/{order_id}"), &owner).await;
    assert_eq!(paid["payment_status"], "paid");
    assert_eq!(paid["status"], "to_ship");
    assert_eq!(paid["paid_amount"], 8000);
    assert_eq!(coupon_status(app, &mtoken, &coupon_id).await, "used");

    // A full refund returns the coupon; retrying the refund changes nothing.
    let refund = json!({ "refund_id": "r1", "amount": 8000, "reason": "changed mind" });
    let (st, r) = app
        .post(
            &format!("/api/v1/orders/{order_id}/refunds"),
            &owner,
            refund.clone(),
        )
        .await;
    assert_eq!(st, 201, "{r}");
    let (st, r2) = app
        .post(
            &format!("/api/v1/orders/{order_id}/refunds"),
            &owner,
            refund,
        )
        .await;
    assert_eq!(st, 201, "{r2}");
    assert_eq!(r2["id"], "r1");
    let (_, refunded) = app.get(&format!("/api/v1/orders/{order_id}"), &owner).await;
    assert_eq!(refunded["refund_state"], "full");
    assert_eq!(refunded["refunded_amount"], 8000);
    assert_eq!(refunded["status"], "closed");
    assert_eq!(coupon_status(app, &mtoken, &coupon_id).await, "available");

    // The books balance: payment in, refund out.
    let (st, ledger) = app.get("/api/v1/ledger", &owner).await;
    assert_eq!(st, 200, "{ledger}");
    assert_eq!(ledger["imbalance"], 0);
    let (_, bal) = app
        .get("/api/v1/ledger/balance?party=shop&account=sales", &owner)
        .await;
    assert_eq!(bal["total"], 0);
}
