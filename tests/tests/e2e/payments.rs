//! Payments and refunds, on every backend: provider callbacks are verified (signature,
//! freshness, amount) before anything is applied and apply at most once however often and
//! in whatever order they arrive; money that arrives for a closed order goes back out;
//! refunds are idempotent by id, spread by amount or named per line, never exceed a line's
//! final amount or what was paid, and respect an order-wide coupon's apportionment. The
//! ledger balances throughout.

use baseplate_tests::harness::TestApp;
use serde_json::{Value, json};

#[track_caller]
fn assert_error(st: u16, body: &Value, status: u16, code: &str, mentions: &[&str]) {
    assert_eq!(st, status, "status of {body}");
    let err = &body["error"];
    assert!(err.is_object(), "error shape: {body}");
    assert_eq!(err["code"], code, "code of {body}");
    let message = err["message"].as_str().expect("error.message is a string");
    // Header names are case-insensitive, so mentions are matched without case.
    for m in mentions {
        assert!(
            message.to_lowercase().contains(&m.to_lowercase()),
            "message {message:?} should mention {m:?}"
        );
    }
}

/// A shop with two products, a member, and an unpaid order for one of each.
struct Fixture {
    owner: String,
    buyer: String,
    tea: String,
    cup: String,
    tea_sku: String,
    cup_sku: String,
    order: String,
}

async fn fixture(app: &TestApp, tea_price: i64, cup_price: i64) -> Fixture {
    let (shop, owner) = app.shop("Pay Shop").await;
    let (tea, tea_sku) = app.product(&owner, "Tea", tea_price, 10).await;
    let (cup, cup_sku) = app.product(&owner, "Cup", cup_price, 10).await;
    let (_, buyer) = app.member(&shop, "Buyer").await;
    let order = checkout(app, &buyer, &tea_sku, &cup_sku, None).await["id"]
        .as_str()
        .unwrap()
        .to_string();
    Fixture {
        owner,
        buyer,
        tea,
        cup,
        tea_sku,
        cup_sku,
        order,
    }
}

async fn checkout(
    app: &TestApp,
    buyer: &str,
    tea_sku: &str,
    cup_sku: &str,
    plugins: Option<Value>,
) -> Value {
    let mut body = json!({ "lines": [{ "sku_id": tea_sku, "quantity": 1 }, { "sku_id": cup_sku, "quantity": 1 }] });
    if let Some(p) = plugins {
        body["plugins"] = p;
    }
    let (st, order) = app.post("/api/v1/orders", buyer, body).await;
    assert_eq!(st, 201, "{order}");
    order
}

/// A payment intent for the order; returns (payment id, amount).
async fn intent(app: &TestApp, token: &str, order: &str) -> (String, i64) {
    let (st, p) = app
        .post(
            &format!("/api/v1/orders/{order}/payments"),
            token,
            json!({}),
        )
        .await;
    assert_eq!(st, 201, "{p}");
    (
        p["payment"]["id"].as_str().unwrap().to_string(),
        p["payment"]["amount"].as_i64().unwrap(),
    )
}

fn notification(event: &str, kind: &str, payment: &str, amount: i64) -> Vec<u8> {
    serde_json::to_vec(&json!({
        "id": event, "type": kind, "payment_id": payment, "amount": amount, "currency": "CNY"
    }))
    .unwrap()
}

/// A correctly signed, current callback.
async fn signed(app: &TestApp, raw: &[u8]) -> (u16, Value) {
    let ts = app.clock.now() / 1000;
    app.callback(Some(ts.to_string()), Some(app.sign(ts, raw)), raw)
        .await
}

async fn order(app: &TestApp, owner: &str, id: &str) -> Value {
    let (st, o) = app.get(&format!("/api/v1/orders/{id}"), owner).await;
    assert_eq!(st, 200, "{o}");
    o
}

async fn stock(app: &TestApp, owner: &str, product: &str) -> i64 {
    let (st, p) = app.get(&format!("/api/v1/products/{product}"), owner).await;
    assert_eq!(st, 200, "{p}");
    p["skus"][0]["stock"].as_i64().unwrap()
}

/// (imbalance, shop sales balance).
async fn books(app: &TestApp, owner: &str) -> (i64, i64) {
    let (st, ledger) = app.get("/api/v1/ledger?limit=200", owner).await;
    assert_eq!(st, 200, "{ledger}");
    let (st, bal) = app
        .get("/api/v1/ledger/balance?party=shop&account=sales", owner)
        .await;
    assert_eq!(st, 200, "{bal}");
    (
        ledger["imbalance"].as_i64().unwrap(),
        bal["total"].as_i64().unwrap(),
    )
}

/// The (money in, money out) on the shop's sales account for one order.
async fn sales_moves(app: &TestApp, owner: &str, order: &str) -> (i64, i64) {
    let (_, ledger) = app.get("/api/v1/ledger?limit=200", owner).await;
    let (mut inflow, mut outflow) = (0, 0);
    for p in ledger["postings"].as_array().unwrap() {
        if p["order_id"] != order {
            continue;
        }
        for e in p["entries"].as_array().unwrap() {
            if e["party"]["kind"] == "shop" && e["account"] == "sales" {
                let a = e["amount"].as_i64().unwrap();
                if a > 0 {
                    inflow += a;
                } else {
                    outflow -= a;
                }
            }
        }
    }
    (inflow, outflow)
}

async fn refund(app: &TestApp, owner: &str, order: &str, body: Value) -> (u16, Value) {
    app.post(&format!("/api/v1/orders/{order}/refunds"), owner, body)
        .await
}

// ---- callbacks -------------------------------------------------------------------------

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn callbacks_are_verified_before_anything_applies() {
    for app in TestApp::each_backend().await {
        verified_callbacks(&app).await;
        app.cleanup().await;
    }
}

async fn verified_callbacks(app: &TestApp) {
    let f = fixture(app, 6_000, 4_000).await;
    let (payment, amount) = intent(app, &f.buyer, &f.order).await;
    assert_eq!(amount, 10_000);
    let raw = notification("evt_1", "payment.succeeded", &payment, amount);
    let now = app.clock.now() / 1000;
    let unpaid = |o: &Value| {
        assert_eq!(o["payment_status"], "unpaid", "{o}");
        assert_eq!(o["status"], "pending_payment", "{o}");
        assert_eq!(o["paid_amount"], 0, "{o}");
    };

    // A forged signature.
    let forged = format!("v1={}", "ab".repeat(32));
    let (st, b) = app
        .callback(Some(now.to_string()), Some(forged), &raw)
        .await;
    assert_error(st, &b, 403, "forbidden", &["signature"]);
    // Not even in the v1= form.
    let (st, b) = app
        .callback(Some(now.to_string()), Some("garbage".into()), &raw)
        .await;
    assert_error(st, &b, 403, "forbidden", &["signature"]);
    // A genuine signature, but over another body (a smaller amount) — replayed on this one.
    let other = notification("evt_1", "payment.succeeded", &payment, 1);
    let (st, b) = app
        .callback(Some(now.to_string()), Some(app.sign(now, &other)), &raw)
        .await;
    assert_error(st, &b, 403, "forbidden", &["signature"]);
    // A genuine signature over this body, with another timestamp in the header.
    let (st, b) = app
        .callback(Some((now - 1).to_string()), Some(app.sign(now, &raw)), &raw)
        .await;
    assert_error(st, &b, 403, "forbidden", &["signature"]);
    // Correctly signed, but older than five minutes (and too far in the future).
    for ts in [now - 301, now + 301] {
        let (st, b) = app
            .callback(Some(ts.to_string()), Some(app.sign(ts, &raw)), &raw)
            .await;
        assert_error(st, &b, 403, "forbidden", &["timestamp"]);
    }
    // Missing headers.
    let (st, b) = app.callback(None, Some(app.sign(now, &raw)), &raw).await;
    assert_error(st, &b, 400, "bad_request", &["Sandbox-Timestamp"]);
    let (st, b) = app.callback(Some(now.to_string()), None, &raw).await;
    assert_error(st, &b, 400, "bad_request", &["Sandbox-Signature"]);
    let (st, b) = app
        .callback(Some("yesterday".into()), Some(app.sign(now, &raw)), &raw)
        .await;
    assert_error(st, &b, 422, "invalid_request", &["Sandbox-Timestamp"]);
    // Correctly signed and fresh, but for the wrong amount.
    let short = notification("evt_short", "payment.succeeded", &payment, amount - 1);
    let (st, b) = signed(app, &short).await;
    assert_error(st, &b, 422, "invalid_request", &["amount"]);
    let (st, b) = signed(
        app,
        &notification("evt_bad_type", "payment.maybe", &payment, amount),
    )
    .await;
    assert_error(st, &b, 422, "invalid_request", &["payment.maybe"]);

    unpaid(&order(app, &f.owner, &f.order).await);
    assert_eq!(books(app, &f.owner).await, (0, 0), "no money moved");

    // None of the refused callbacks was recorded: the genuine one with the same event id
    // (and, at the edge of the window, 300 s old) applies.
    let ts = now - 300;
    let (st, out) = app
        .callback(Some(ts.to_string()), Some(app.sign(ts, &raw)), &raw)
        .await;
    assert_eq!(st, 200, "{out}");
    assert_eq!(out["result"], "applied");
    assert_eq!(out["order_id"], f.order.as_str());
    let o = order(app, &f.owner, &f.order).await;
    assert_eq!(o["payment_status"], "paid");
    assert_eq!(o["paid_amount"], 10_000);
    // The short-amount event id was not burnt either, but a correct body for it now finds
    // the payment settled.
    let (st, out) = signed(
        app,
        &notification("evt_short", "payment.succeeded", &payment, amount),
    )
    .await;
    assert_eq!(st, 200, "{out}");
    assert_eq!(out["result"], "ignored");
    assert_eq!(books(app, &f.owner).await, (0, 10_000));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn duplicate_and_late_callbacks_apply_once() {
    for app in TestApp::each_backend().await {
        duplicates(&app).await;
        app.cleanup().await;
    }
}

async fn duplicates(app: &TestApp) {
    let f = fixture(app, 6_000, 4_000).await;
    let (payment, amount) = intent(app, &f.buyer, &f.order).await;
    let first = notification("evt_a", "payment.succeeded", &payment, amount);
    let (st, out) = signed(app, &first).await;
    assert_eq!(st, 200, "{out}");
    assert_eq!(out["result"], "applied");
    let after_first = order(app, &f.owner, &f.order).await;

    for _ in 0..3 {
        let (st, out) = signed(app, &first).await;
        assert_eq!(st, 200, "{out}");
        assert_eq!(out["result"], "duplicate");
    }
    // Another event id saying the same thing, and a late failure: ignored.
    for raw in [
        notification("evt_b", "payment.succeeded", &payment, amount),
        notification("evt_c", "payment.failed", &payment, amount),
    ] {
        for _ in 0..2 {
            let (st, out) = signed(app, &raw).await;
            assert_eq!(st, 200, "{out}");
            assert_eq!(out["result"], "ignored");
        }
    }
    // The sandbox provider's own pay button after settlement is just as harmless.
    let (st, out) = app
        .post(
            &format!("/api/v1/sandbox/payments/{payment}/pay"),
            &f.buyer,
            json!({}),
        )
        .await;
    assert_eq!(st, 200, "{out}");
    assert_eq!(out["callback"]["result"], "ignored");

    let o = order(app, &f.owner, &f.order).await;
    assert_eq!(o, after_first, "nothing changed after the first callback");
    assert_eq!(o["status"], "to_ship");
    assert_eq!(o["payment_status"], "paid");
    assert_eq!(o["paid_amount"], 10_000);
    assert_eq!(sales_moves(app, &f.owner, &f.order).await, (10_000, 0));
    assert_eq!(books(app, &f.owner).await, (0, 10_000));
    let (_, me) = app.get("/api/v1/me", &f.buyer).await;
    assert_eq!(me["paid_orders"], 1, "the member's paid count moved once");
    // A new intent for a paid order is refused.
    let (st, b) = app
        .post(
            &format!("/api/v1/orders/{}/payments", f.order),
            &f.buyer,
            json!({}),
        )
        .await;
    assert_error(st, &b, 409, "conflict", &["not awaiting payment"]);
}

/// A failure notice that overtakes the success for the same intent must not make the
/// platform drop money the provider says it captured: the success is either applied or
/// refunded, never ignored.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn success_after_failure_is_never_dropped() {
    for app in TestApp::each_backend().await {
        failure_then_success(&app).await;
        app.cleanup().await;
    }
}

async fn failure_then_success(app: &TestApp) {
    let f = fixture(app, 6_000, 4_000).await;
    let (payment, amount) = intent(app, &f.buyer, &f.order).await;
    let (st, out) = signed(
        app,
        &notification("evt_fail", "payment.failed", &payment, amount),
    )
    .await;
    assert_eq!(st, 200, "{out}");
    assert_eq!(out["result"], "failed");
    let (st, out) = signed(
        app,
        &notification("evt_ok", "payment.succeeded", &payment, amount),
    )
    .await;
    assert_eq!(st, 200, "{out}");
    let o = order(app, &f.owner, &f.order).await;
    let (inflow, outflow) = sales_moves(app, &f.owner, &f.order).await;
    match out["result"].as_str().unwrap() {
        "applied" => {
            assert_eq!(o["payment_status"], "paid");
            assert_eq!((inflow, outflow), (amount, 0));
        }
        r if r.starts_with("refunded") => {
            assert_eq!(o["payment_status"], "unpaid");
            assert_eq!((inflow, outflow), (amount, amount));
        }
        r => panic!(
            "the provider captured {amount} for payment {payment}, but the platform answered \
             {r:?} and booked in={inflow} out={outflow}: the buyer's money is neither applied nor returned"
        ),
    }
    assert_eq!(books(app, &f.owner).await.0, 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn payment_after_close_is_refunded() {
    for app in TestApp::each_backend().await {
        after_close(&app).await;
        app.cleanup().await;
    }
}

async fn after_close(app: &TestApp) {
    let f = fixture(app, 6_000, 4_000).await;
    let (payment, amount) = intent(app, &f.buyer, &f.order).await;
    assert_eq!(stock(app, &f.owner, &f.tea).await, 9);

    // One second short of the default 1800 s window: still open.
    app.advance(1_799_000).await;
    assert_eq!(
        order(app, &f.owner, &f.order).await["status"],
        "pending_payment"
    );
    app.advance(2_000).await;
    let o = order(app, &f.owner, &f.order).await;
    assert_eq!(o["status"], "closed");
    assert_eq!(o["close_reason"], "payment_timeout");
    assert_eq!(o["payment_status"], "unpaid");
    assert_eq!(stock(app, &f.owner, &f.tea).await, 10);
    assert_eq!(stock(app, &f.owner, &f.cup).await, 10);

    // The money arrives anyway (signed now, after the close).
    let raw = notification("evt_late", "payment.succeeded", &payment, amount);
    let (st, out) = signed(app, &raw).await;
    assert_eq!(st, 200, "{out}");
    assert_eq!(out["result"], "refunded_order_closed");
    for _ in 0..2 {
        let (st, again) = signed(app, &raw).await;
        assert_eq!(st, 200, "{again}");
        assert_eq!(again["result"], "refunded_order_closed");
    }
    let o = order(app, &f.owner, &f.order).await;
    assert_eq!(o["status"], "closed");
    assert_eq!(o["close_reason"], "payment_timeout");
    assert_eq!(o["payment_status"], "unpaid");
    assert_eq!(o["paid_amount"], 0);
    assert_eq!(
        stock(app, &f.owner, &f.tea).await,
        10,
        "stock not taken again"
    );
    // In and straight back out, once.
    assert_eq!(sales_moves(app, &f.owner, &f.order).await, (amount, amount));
    assert_eq!(books(app, &f.owner).await, (0, 0));
    // A closed order takes no new intent and no refund.
    let (st, b) = app
        .post(
            &format!("/api/v1/orders/{}/payments", f.order),
            &f.buyer,
            json!({}),
        )
        .await;
    assert_error(st, &b, 409, "conflict", &["closed"]);
    let (st, b) = refund(
        app,
        &f.owner,
        &f.order,
        json!({ "refund_id": "r-closed", "amount": 1 }),
    )
    .await;
    assert_error(st, &b, 409, "conflict", &["not paid"]);
}

// ---- refunds ---------------------------------------------------------------------------

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn refunds_by_amount_and_by_line() {
    for app in TestApp::each_backend().await {
        refunds(&app).await;
        app.cleanup().await;
    }
}

async fn refunds(app: &TestApp) {
    let f = fixture(app, 6_000, 4_000).await;

    // Unpaid: nothing to refund.
    let (st, b) = refund(
        app,
        &f.owner,
        &f.order,
        json!({ "refund_id": "r0", "amount": 100 }),
    )
    .await;
    assert_error(st, &b, 409, "conflict", &["not paid"]);

    assert_eq!(
        app.pay(&f.buyer, &f.order).await["callback"]["result"],
        "applied"
    );
    let o = order(app, &f.owner, &f.order).await;
    let tea_line = o["lines"][0]["id"].as_str().unwrap().to_string();
    let cup_line = o["lines"][1]["id"].as_str().unwrap().to_string();
    assert_eq!(o["lines"][0]["sku_id"], f.tea_sku.as_str());
    assert_eq!(o["lines"][1]["sku_id"], f.cup_sku.as_str());

    // By amount: 5000 spread over 6000/4000 → 3000/2000.
    let r1 = json!({ "refund_id": "r1", "amount": 5_000, "reason": "half back" });
    let (st, r) = refund(app, &f.owner, &f.order, r1.clone()).await;
    assert_eq!(st, 201, "{r}");
    assert_eq!(r["id"], "r1");
    assert_eq!(r["amount"], 5_000);
    let spread: Vec<(String, i64)> = r["lines"]
        .as_array()
        .unwrap()
        .iter()
        .map(|l| {
            (
                l["line_id"].as_str().unwrap().to_string(),
                l["amount"].as_i64().unwrap(),
            )
        })
        .collect();
    assert_eq!(
        spread,
        vec![(tea_line.clone(), 3_000), (cup_line.clone(), 2_000)]
    );
    let o = order(app, &f.owner, &f.order).await;
    assert_eq!(o["lines"][0]["refunded_amount"], 3_000);
    assert_eq!(o["lines"][1]["refunded_amount"], 2_000);
    assert_eq!(o["refunded_amount"], 5_000);
    assert_eq!(o["refund_state"], "partial");
    assert_eq!(o["status"], "to_ship");

    // The same id and body again: the same refund, nothing doubled.
    let (st, again) = refund(app, &f.owner, &f.order, r1.clone()).await;
    assert_eq!(st, 201, "{again}");
    assert_eq!(again["id"], "r1");
    assert_eq!(again["amount"], 5_000);
    assert_eq!(again["lines"], r["lines"]);
    // The same id with another body: refused, naming the id.
    for other in [
        json!({ "refund_id": "r1", "amount": 4_000, "reason": "half back" }),
        json!({ "refund_id": "r1", "amount": 5_000, "reason": "other reason" }),
        json!({ "refund_id": "r1", "lines": [{ "line_id": tea_line, "amount": 5_000 }], "reason": "half back" }),
    ] {
        let (st, b) = refund(app, &f.owner, &f.order, other).await;
        assert_error(st, &b, 409, "conflict", &["r1"]);
    }

    // By line: 1000 more of the cup (4000 final, 2000 refunded so far).
    let r2 = json!({ "refund_id": "r2", "lines": [{ "line_id": cup_line, "amount": 1_000 }] });
    let (st, r) = refund(app, &f.owner, &f.order, r2.clone()).await;
    assert_eq!(st, 201, "{r}");
    assert_eq!(r["amount"], 1_000);
    let o = order(app, &f.owner, &f.order).await;
    assert_eq!(o["lines"][0]["refunded_amount"], 3_000);
    assert_eq!(o["lines"][1]["refunded_amount"], 3_000);
    assert_eq!(o["refunded_amount"], 6_000);

    // More than a line has left (the cup has 1000), even though the order has 4000 left.
    let (st, b) = refund(
        app,
        &f.owner,
        &f.order,
        json!({ "refund_id": "r3", "lines": [{ "line_id": cup_line, "amount": 1_001 }] }),
    )
    .await;
    assert_error(st, &b, 409, "conflict", &[&cup_line, "1000"]);
    // Two entries for the same line that together exceed it.
    let (st, b) = refund(
        app,
        &f.owner,
        &f.order,
        json!({ "refund_id": "r3b", "lines": [{ "line_id": cup_line, "amount": 600 }, { "line_id": cup_line, "amount": 600 }] }),
    )
    .await;
    assert_error(st, &b, 409, "conflict", &[&cup_line]);
    // More than was paid in total (4000 left).
    let (st, b) = refund(
        app,
        &f.owner,
        &f.order,
        json!({ "refund_id": "r4", "amount": 4_001 }),
    )
    .await;
    assert_error(st, &b, 409, "conflict", &["4000"]);
    // A line of another order, zero and negative amounts, both forms at once.
    let (st, b) = refund(
        app,
        &f.owner,
        &f.order,
        json!({ "refund_id": "r5", "lines": [{ "line_id": "line_nope", "amount": 1 }] }),
    )
    .await;
    assert_error(st, &b, 404, "not_found", &["line_nope"]);
    for bad in [
        json!({ "refund_id": "r6", "amount": 0 }),
        json!({ "refund_id": "r6", "amount": -5 }),
        json!({ "refund_id": "r6", "lines": [{ "line_id": tea_line, "amount": 0 }] }),
    ] {
        let (st, b) = refund(app, &f.owner, &f.order, bad).await;
        assert_error(st, &b, 422, "invalid_request", &["positive"]);
    }
    let (st, b) = refund(
        app,
        &f.owner,
        &f.order,
        json!({ "refund_id": "r6", "amount": 1, "lines": [{ "line_id": tea_line, "amount": 1 }] }),
    )
    .await;
    assert_error(st, &b, 422, "invalid_request", &["amount", "lines"]);

    // None of the refused refunds left a trace; the retried one did not double.
    let o = order(app, &f.owner, &f.order).await;
    assert_eq!(o["refunded_amount"], 6_000);
    assert_eq!(o["paid_amount"], 10_000);
    assert_eq!(o["refund_state"], "partial");
    let (st, list) = app
        .get(&format!("/api/v1/orders/{}/refunds", f.order), &f.owner)
        .await;
    assert_eq!(st, 200, "{list}");
    let mut ids: Vec<&str> = list["refunds"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["id"].as_str().unwrap())
        .collect();
    ids.sort();
    assert_eq!(ids, ["r1", "r2"]);
    // The ledger: paid − refunded on the shop's sales account, balanced.
    assert_eq!(books(app, &f.owner).await, (0, 10_000 - 6_000));
    assert_eq!(sales_moves(app, &f.owner, &f.order).await, (10_000, 6_000));
    // Retrying r2 after later refunds still returns r2 and moves nothing.
    let (st, again) = refund(app, &f.owner, &f.order, r2).await;
    assert_eq!(st, 201, "{again}");
    assert_eq!(again["id"], "r2");
    assert_eq!(books(app, &f.owner).await, (0, 4_000));

    // The rest by amount: full, closed, stock back.
    let (st, r) = refund(
        app,
        &f.owner,
        &f.order,
        json!({ "refund_id": "r7", "amount": 4_000 }),
    )
    .await;
    assert_eq!(st, 201, "{r}");
    let o = order(app, &f.owner, &f.order).await;
    assert_eq!(o["refund_state"], "full");
    assert_eq!(o["status"], "closed");
    assert_eq!(o["close_reason"], "refunded");
    assert_eq!(o["payment_status"], "paid");
    assert_eq!(o["lines"][0]["refunded_amount"], 6_000);
    assert_eq!(o["lines"][1]["refunded_amount"], 4_000);
    assert_eq!(stock(app, &f.owner, &f.tea).await, 10);
    assert_eq!(books(app, &f.owner).await, (0, 0));
    let (st, b) = refund(
        app,
        &f.owner,
        &f.order,
        json!({ "refund_id": "r8", "amount": 1 }),
    )
    .await;
    assert_error(st, &b, 409, "conflict", &["refundable"]);
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

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn partial_refund_of_one_line_with_an_order_coupon() {
    for app in TestApp::each_backend().await {
        coupon_line_refund(&app).await;
        app.cleanup().await;
    }
}

async fn coupon_line_refund(app: &TestApp) {
    let (shop, owner) = app.shop("Coupon Refunds").await;
    let (tea, tea_sku) = app.product(&owner, "Tea", 6_000, 10).await;
    let (_, cup_sku) = app.product(&owner, "Cup", 4_000, 10).await;
    app.install(&owner, "coupons", None).await;
    let (st, tpl) = app
        .post(
            "/api/v1/plugins/coupons/actions/create-template",
            &owner,
            json!({
                "name": "20 off",
                "discount": { "type": "fixed", "amount": 2000 },
                "validity": { "type": "relative", "days": 7 },
                "total_stock": 5,
                "per_member_limit": 1
            }),
        )
        .await;
    assert_eq!(st, 200, "{tpl}");
    let (_, buyer) = app.member(&shop, "Buyer").await;
    let (st, c) = app
        .post(
            "/api/v1/plugins/coupons/actions/claim",
            &buyer,
            json!({ "template_id": tpl["template_id"] }),
        )
        .await;
    assert_eq!(st, 200, "{c}");
    let coupon = c["coupon_id"].as_str().unwrap().to_string();

    let o = checkout(
        app,
        &buyer,
        &tea_sku,
        &cup_sku,
        Some(json!({ "coupons": { "coupon_ids": [coupon] } })),
    )
    .await;
    let order_id = o["id"].as_str().unwrap().to_string();
    assert_eq!(o["payable_amount"], 8_000);
    assert_eq!(o["lines"][0]["final_amount"], 4_800);
    assert_eq!(o["lines"][1]["final_amount"], 3_200);
    let tea_line = o["lines"][0]["id"].as_str().unwrap().to_string();
    assert_eq!(
        app.pay(&buyer, &order_id).await["callback"]["result"],
        "applied"
    );
    assert_eq!(coupon_status(app, &buyer, &coupon).await, "used");

    // The tea line's list price is 6000, but the buyer paid 4800 for it.
    let (st, b) = refund(
        app,
        &owner,
        &order_id,
        json!({ "refund_id": "t1", "lines": [{ "line_id": tea_line, "amount": 6_000 }] }),
    )
    .await;
    assert_error(st, &b, 409, "conflict", &[&tea_line, "4800"]);
    let (st, b) = refund(
        app,
        &owner,
        &order_id,
        json!({ "refund_id": "t1", "lines": [{ "line_id": tea_line, "amount": 4_801 }] }),
    )
    .await;
    assert_error(st, &b, 409, "conflict", &[&tea_line]);
    let (st, r) = refund(
        app,
        &owner,
        &order_id,
        json!({ "refund_id": "t1", "lines": [{ "line_id": tea_line, "amount": 4_800 }] }),
    )
    .await;
    assert_eq!(st, 201, "{r}");
    assert_eq!(r["amount"], 4_800);
    let o = order(app, &owner, &order_id).await;
    assert_eq!(o["refund_state"], "partial");
    assert_eq!(o["status"], "to_ship");
    assert_eq!(o["lines"][0]["refunded_amount"], 4_800);
    assert_eq!(o["lines"][1]["refunded_amount"], 0);
    assert_eq!(
        coupon_status(app, &buyer, &coupon).await,
        "used",
        "a partial refund keeps the coupon used"
    );
    // Nothing more can come back on that line.
    let (st, b) = refund(
        app,
        &owner,
        &order_id,
        json!({ "refund_id": "t2", "lines": [{ "line_id": tea_line, "amount": 1 }] }),
    )
    .await;
    assert_error(st, &b, 409, "conflict", &[&tea_line]);
    assert_eq!(books(app, &owner).await, (0, 8_000 - 4_800));

    // The rest (by amount, it can only go to the cup line): full, the coupon comes back.
    let (st, b) = refund(
        app,
        &owner,
        &order_id,
        json!({ "refund_id": "t3", "amount": 3_201 }),
    )
    .await;
    assert_error(st, &b, 409, "conflict", &["3200"]);
    let (st, r) = refund(
        app,
        &owner,
        &order_id,
        json!({ "refund_id": "t3", "amount": 3_200 }),
    )
    .await;
    assert_eq!(st, 201, "{r}");
    let o = order(app, &owner, &order_id).await;
    assert_eq!(o["refund_state"], "full");
    assert_eq!(o["refunded_amount"], 8_000);
    assert_eq!(o["status"], "closed");
    assert_eq!(o["lines"][1]["refunded_amount"], 3_200);
    assert_eq!(coupon_status(app, &buyer, &coupon).await, "available");
    assert_eq!(stock(app, &owner, &tea).await, 10);
    assert_eq!(books(app, &owner).await, (0, 0));
}
