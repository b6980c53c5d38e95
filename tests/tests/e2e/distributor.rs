//! Distributor commissions (分销) over HTTP, on every backend: commission is pending on
//! payment, settles after the freeze and is withdrawn; refunds reverse it on the net before
//! settlement and book a negative entry netted against the next payout after it; two
//! levels and never a third; no self-binding, no loops, first touch wins; in "approved"
//! mode an unapproved distributor earns nothing; duplicated and late order events book
//! once; and concurrent orders, binds and withdrawals add up exactly.

use baseplate_tests::harness::TestApp;
use futures::future::join_all;
use serde_json::{Value, json};

const DAY: i64 = 86_400_000;

/// A shop with the distributor plugin installed, and the calls a test makes in it.
struct Shop<'a> {
    app: &'a TestApp,
    id: String,
    owner: String,
}

impl<'a> Shop<'a> {
    async fn open(app: &'a TestApp, config: Value) -> Shop<'a> {
        let (id, owner) = app.shop("Tea House").await;
        app.install(&owner, "distributor", Some(config)).await;
        Shop { app, id, owner }
    }

    /// A member who joined (optionally through an inviter): (id, token).
    async fn member(&self, name: &str, inviter: Option<&str>) -> (String, String) {
        let (st, b) = self
            .app
            .request(
                reqwest::Method::POST,
                &format!("/api/v1/shops/{}/join", self.id),
                None,
                Some(json!({ "name": name, "inviter_id": inviter })),
                &[],
            )
            .await;
        assert_eq!(st, 201, "{b}");
        (
            b["member"]["id"].as_str().unwrap().into(),
            b["token"].as_str().unwrap().into(),
        )
    }

    async fn action(&self, token: &str, name: &str, input: Value) -> (u16, Value) {
        self.app
            .post(
                &format!("/api/v1/plugins/distributor/actions/{name}"),
                token,
                input,
            )
            .await
    }

    async fn ok(&self, token: &str, name: &str, input: Value) -> Value {
        let (st, b) = self.action(token, name, input.clone()).await;
        assert_eq!(st, 200, "{name} {input}: {b}");
        b
    }

    /// Asserts the action is refused with `status` and a message containing `needle`.
    async fn refused(&self, token: &str, name: &str, input: Value, status: u16, needle: &str) {
        let (st, b) = self.action(token, name, input.clone()).await;
        assert_eq!(st, status, "{name} {input}: {b}");
        let msg = b["error"]["message"].as_str().unwrap_or_default();
        assert!(
            msg.contains(needle),
            "{name} {input}: {msg:?} lacks {needle:?}"
        );
    }

    /// A member who applied (approved at once in "everyone" mode).
    async fn distributor(&self, name: &str) -> (String, String) {
        let (id, token) = self.member(name, None).await;
        self.ok(&token, "apply", json!({})).await;
        (id, token)
    }

    async fn bind(&self, token: &str, distributor: &str) -> (u16, Value) {
        self.action(token, "bind", json!({ "distributor_id": distributor }))
            .await
    }

    /// (total, available) of the member's commission account, from the platform's ledger.
    async fn balance(&self, member: &str) -> (i64, i64) {
        let (st, b) = self
            .app
            .get(
                &format!("/api/v1/ledger/balance?party=member:{member}&account=commission"),
                &self.owner,
            )
            .await;
        assert_eq!(st, 200, "{b}");
        (
            b["total"].as_i64().unwrap(),
            b["available"].as_i64().unwrap(),
        )
    }

    async fn commissions(&self, token: &str) -> Vec<Value> {
        let b = self.ok(token, "my-commissions", json!({})).await;
        b["commissions"].as_array().unwrap().clone()
    }

    async fn product(&self, name: &str, price: i64) -> (String, String) {
        self.app.product(&self.owner, name, price, 1000).await
    }

    /// Checks out `lines` (sku, quantity) as the member; returns the order.
    async fn order(&self, token: &str, lines: &[(&str, u32)], plugins: Value) -> Value {
        let lines: Vec<Value> = lines
            .iter()
            .map(|(sku, q)| json!({ "sku_id": sku, "quantity": q }))
            .collect();
        let (st, o) = self
            .app
            .post(
                "/api/v1/orders",
                token,
                json!({ "lines": lines, "plugins": plugins }),
            )
            .await;
        assert_eq!(st, 201, "{o}");
        o
    }

    async fn get_order(&self, id: &str) -> Value {
        let (st, o) = self
            .app
            .get(&format!("/api/v1/orders/{id}"), &self.owner)
            .await;
        assert_eq!(st, 200, "{o}");
        o
    }

    /// Orders and pays; returns the paid order.
    async fn buy(&self, token: &str, lines: &[(&str, u32)]) -> Value {
        let o = self.order(token, lines, json!({})).await;
        let id = o["id"].as_str().unwrap();
        assert_eq!(
            self.app.pay(token, id).await["callback"]["result"],
            "applied"
        );
        self.get_order(id).await
    }

    /// Refunds `amount` of the order's line `line`; returns the refund.
    async fn refund(&self, order: &Value, line: usize, amount: i64, refund_id: &str) -> Value {
        let id = order["id"].as_str().unwrap();
        let (st, r) = self
            .app
            .post(
                &format!("/api/v1/orders/{id}/refunds"),
                &self.owner,
                json!({
                    "refund_id": refund_id,
                    "lines": [{ "line_id": order["lines"][line]["id"], "amount": amount }],
                    "reason": "after-sale"
                }),
            )
            .await;
        assert_eq!(st, 201, "{r}");
        r
    }

    /// The books balance, and the shop's commission account mirrors the distributors'.
    async fn assert_books(&self, distributors: &[&str]) {
        let (st, ledger) = self.app.get("/api/v1/ledger", &self.owner).await;
        assert_eq!(st, 200, "{ledger}");
        assert_eq!(ledger["imbalance"], 0);
        let (st, shop) = self
            .app
            .get(
                "/api/v1/ledger/balance?party=shop&account=commission",
                &self.owner,
            )
            .await;
        assert_eq!(st, 200, "{shop}");
        let mut owed = 0;
        for d in distributors {
            owed += self.balance(d).await.0;
            let (_, w) = self
                .app
                .get(
                    &format!("/api/v1/ledger/balance?party=member:{d}&account=withdrawn"),
                    &self.owner,
                )
                .await;
            owed += w["total"].as_i64().unwrap();
        }
        assert_eq!(shop["total"].as_i64().unwrap(), -owed);
    }

    /// Writes `kind` with `payload` to the outbox for this plugin as a second delivery —
    /// what an at-least-once queue does after a lost acknowledgement, or a retry that
    /// arrives after later events — and runs the worker; asserts it was delivered.
    async fn redeliver(&self, kind: &str, payload: Value) {
        let mut r = [0u8; 8];
        getrandom::fill(&mut r).unwrap();
        let event_id = format!("evt_replay_{}", hex::encode(r));
        let mut tx = self.app.platform().db.write("").await.unwrap();
        baseplate_store::events::insert_event(
            &mut tx,
            &event_id,
            &self.id,
            kind,
            &payload.to_string(),
            &["distributor".to_string()],
            self.app.clock.now(),
        )
        .await
        .unwrap();
        tx.commit().await.unwrap();
        self.app.advance(0).await;
        let (st, b) = self
            .app
            .get("/api/v1/events?status=delivered&limit=200", &self.owner)
            .await;
        assert_eq!(st, 200, "{b}");
        assert!(
            b["deliveries"]
                .as_array()
                .unwrap()
                .iter()
                .any(|d| d["event_id"] == event_id.as_str() && d["plugin"] == "distributor"),
            "{kind} replay {event_id} was not delivered: {b}"
        );
    }
}

fn final_amount(order: &Value, line: usize) -> i64 {
    order["lines"][line]["final_amount"].as_i64().unwrap()
}

fn attribute(order: &Value, key: &str) -> Option<String> {
    order["attributes"]
        .as_array()
        .unwrap()
        .iter()
        .find(|a| a["key"] == key)
        .map(|a| a["value"].as_str().unwrap().to_string())
}

// ---- the main flow ------------------------------------------------------------------------

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn commission_is_pending_then_settles_and_is_withdrawn() {
    for app in TestApp::each_backend().await {
        main_flow(&app).await;
        app.cleanup().await;
    }
}

async fn main_flow(app: &TestApp) {
    let s = Shop::open(
        app,
        json!({
            "promoters": "everyone", "binding": "first_touch",
            "level1_bp": 1000, "level2_bp": 500,
            "freeze_days": 7, "min_withdrawal": 1000
        }),
    )
    .await;
    let (_, tea) = s.product("Longjing", 6_000).await;
    let (cup_product, cup) = s.product("Cup", 4_000).await;
    // Bad configs are refused with the field named; a good one with a fixed override saves.
    for (bad, needle) in [
        (
            json!({ "level1_bp": 20000 }),
            "`level1_bp` must be an integer 0..=10000",
        ),
        (json!({ "levels": 3 }), "unknown field `levels`"),
        (
            json!({ "overrides": { cup_product.clone(): { "type": "fixed" } } }),
            "level1` is required",
        ),
    ] {
        let (st, b) = app
            .put("/api/v1/plugins/distributor/config", &s.owner, bad.clone())
            .await;
        assert!((400..500).contains(&st), "{bad}: {st} {b}");
        let msg = b["error"]["message"].as_str().unwrap();
        assert!(msg.contains(needle), "{bad}: {msg}");
    }
    let config = json!({
        "promoters": "everyone", "binding": "first_touch",
        "level1_bp": 1000, "level2_bp": 500,
        "overrides": { cup_product.clone(): { "type": "fixed", "level1": 300, "level2": 100 } },
        "freeze_days": 7, "min_withdrawal": 1000
    });
    let (st, b) = app
        .put("/api/v1/plugins/distributor/config", &s.owner, config)
        .await;
    assert_eq!(st, 200, "{b}");
    // Coupons make what the buyer pays differ from the catalog price.
    app.install(&s.owner, "coupons", None).await;
    let (st, tpl) = app
        .post(
            "/api/v1/plugins/coupons/actions/create-template",
            &s.owner,
            json!({
                "name": "10 off", "discount": { "type": "fixed", "amount": 1000 },
                "validity": { "type": "relative", "days": 7 }, "total_stock": 10
            }),
        )
        .await;
    assert_eq!(st, 200, "{tpl}");

    // up ← dist ← buyer.
    let (up, up_token) = s.distributor("Upline").await;
    let (dist, dist_token) = s.distributor("Distributor").await;
    let (st, b) = s.bind(&dist_token, &up).await;
    assert_eq!(st, 200, "{b}");
    let (buyer, buyer_token) = s.member("Buyer", None).await;
    s.refused(
        &buyer_token,
        "bind",
        json!({ "distributor_id": buyer }),
        422,
        "yourself",
    )
    .await;
    s.refused(
        &buyer_token,
        "bind",
        json!({ "distributor_id": "mem_nobody" }),
        404,
        "not a distributor",
    )
    .await;
    s.refused(
        &buyer_token,
        "bind",
        json!({ "distributor": dist }),
        422,
        "unknown field `distributor`",
    )
    .await;
    let (st, b) = s.bind(&buyer_token, &dist).await;
    assert_eq!(st, 200, "{b}");
    // Binding pays nobody.
    assert_eq!(s.balance(&dist).await, (0, 0));
    assert_eq!(s.balance(&up).await, (0, 0));
    // Staff-only and member-only actions check the actor.
    let (st, _) = s.action(&buyer_token, "list-distributors", json!({})).await;
    assert_eq!(st, 403);
    let (st, _) = s
        .action(&s.owner, "withdraw", json!({ "amount": 1000 }))
        .await;
    assert_eq!(st, 403);

    let (st, coupon) = app
        .post(
            "/api/v1/plugins/coupons/actions/claim",
            &buyer_token,
            json!({ "template_id": tpl["template_id"] }),
        )
        .await;
    assert_eq!(st, 200, "{coupon}");
    let order = s
        .order(
            &buyer_token,
            &[(&tea, 1), (&cup, 2)],
            json!({ "coupons": { "coupon_ids": [coupon["coupon_id"]] } }),
        )
        .await;
    // The order is attributed to the chain when it is created.
    assert_eq!(attribute(&order, "distributor.level1"), Some(dist.clone()));
    assert_eq!(attribute(&order, "distributor.level2"), Some(up.clone()));
    let order_id = order["id"].as_str().unwrap().to_string();
    assert_eq!(order["payable_amount"], 13_000);
    let tea_paid = final_amount(&order, 0);
    assert!(
        tea_paid < 6_000,
        "the coupon takes part of the tea line: {order}"
    );
    assert_eq!(
        app.pay(&buyer_token, &order_id).await["callback"]["result"],
        "applied"
    );
    let paid_at = s.get_order(&order_id).await["paid_at"].as_i64().unwrap();

    // 10% / 5% of what was paid for the tea; 3.00 / 1.00 per cup (the cup line is paid in full
    // share, so the fixed amount is not scaled).
    let dist_owed = tea_paid * 1000 / 10_000 + 2 * 300;
    let up_owed = tea_paid * 500 / 10_000 + 2 * 100;
    assert_eq!(s.balance(&dist).await, (dist_owed, 0));
    assert_eq!(s.balance(&up).await, (up_owed, 0));
    let c = s.commissions(&dist_token).await;
    assert_eq!(c.len(), 1, "{c:?}");
    assert_eq!(c[0]["order_id"], order_id.as_str());
    assert_eq!(c[0]["level"], 1);
    assert_eq!(c[0]["status"], "pending");
    assert_eq!(c[0]["amount"], dist_owed);
    assert_eq!(c[0]["available_at"], paid_at + 7 * DAY);
    assert_eq!(s.commissions(&up_token).await[0]["level"], 2);
    let me = s.ok(&dist_token, "me", json!({})).await;
    assert_eq!(me["upline"], up.as_str());
    assert_eq!(me["team_size"], 1);
    assert_eq!(me["balances"]["commission_pending"], dist_owed);
    // Pending commission is not withdrawable.
    s.refused(
        &dist_token,
        "withdraw",
        json!({ "amount": 1000 }),
        422,
        "available",
    )
    .await;
    // Still pending one millisecond before the freeze ends.
    app.advance(paid_at + 7 * DAY - 1 - app.clock.now()).await;
    assert_eq!(s.balance(&dist).await, (dist_owed, 0));
    assert_eq!(s.commissions(&dist_token).await[0]["status"], "pending");
    app.advance(1).await;
    assert_eq!(s.balance(&dist).await, (dist_owed, dist_owed));
    assert_eq!(s.commissions(&dist_token).await[0]["status"], "settled");

    s.refused(
        &dist_token,
        "withdraw",
        json!({ "amount": 999 }),
        422,
        "minimum withdrawal is 10.00",
    )
    .await;
    s.refused(
        &dist_token,
        "withdraw",
        json!({ "amount": dist_owed + 1 }),
        422,
        "available",
    )
    .await;
    s.refused(
        &dist_token,
        "withdraw",
        json!({ "amount": "all" }),
        422,
        "`amount` must be an integer",
    )
    .await;
    let w = s
        .ok(
            &dist_token,
            "withdraw",
            json!({ "amount": dist_owed, "request_id": "payout-1" }),
        )
        .await;
    assert_eq!(w["balances"]["commission_available"], 0);
    assert_eq!(w["balances"]["withdrawn"], dist_owed);
    // The same request again pays out once.
    let again = s
        .ok(
            &dist_token,
            "withdraw",
            json!({ "amount": dist_owed, "request_id": "payout-1" }),
        )
        .await;
    assert_eq!(again["withdrawal_id"], w["withdrawal_id"]);
    assert_eq!(s.balance(&dist).await, (0, 0));
    let me = s.ok(&s.owner, "me", json!({ "member_id": dist })).await;
    assert_eq!(me["balances"]["withdrawn"], dist_owed);
    s.assert_books(&[&dist, &up]).await;
}

// ---- refunds ---------------------------------------------------------------------------------

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn refunds_reverse_commission_before_and_after_settlement() {
    for app in TestApp::each_backend().await {
        refunds(&app).await;
        app.cleanup().await;
    }
}

async fn refunds(app: &TestApp) {
    let s = Shop::open(
        app,
        json!({
            "promoters": "everyone", "level1_bp": 1000, "level2_bp": 0,
            "freeze_days": 7, "min_withdrawal": 100
        }),
    )
    .await;
    let (_, odd) = s.product("Odd", 10_090).await;
    let (_, big) = s.product("Big", 10_000).await;
    let (dist, dist_token) = s.distributor("Distributor").await;
    let (_, buyer_token) = s.member("Buyer", None).await;
    assert_eq!(s.bind(&buyer_token, &dist).await.0, 200);

    // Before settlement: partial refunds reduce the pending commission, each time rounded
    // down on the net (never per refund, so nothing drifts); the last one cancels it.
    let order = s.buy(&buyer_token, &[(&odd, 1)]).await;
    assert_eq!(s.balance(&dist).await, (1009, 0));
    app.advance(DAY).await;
    let mut net = 10_090;
    for (i, amount) in [90, 1, 1, 8, 999].into_iter().enumerate() {
        s.refund(&order, 0, amount, &format!("r-early-{i}")).await;
        net -= amount;
        assert_eq!(s.balance(&dist).await, (net / 10, 0), "net {net}");
    }
    let c = &s.commissions(&dist_token).await[0];
    assert_eq!(
        (c["status"].as_str(), c["gross"].as_i64()),
        (Some("pending"), Some(1009))
    );
    // A refund retried with the same id applies once, here and in the ledger.
    s.refund(&order, 0, 999, "r-early-4").await;
    assert_eq!(s.balance(&dist).await.0, net / 10);
    s.refund(&order, 0, net, "r-early-rest").await;
    assert_eq!(s.balance(&dist).await, (0, 0));
    assert_eq!(s.commissions(&dist_token).await[0]["status"], "cancelled");
    app.advance(7 * DAY).await;
    assert_eq!(s.balance(&dist).await, (0, 0));
    assert_eq!(s.commissions(&dist_token).await[0]["status"], "cancelled");

    // After settlement: the reversal is a negative entry available at once.
    let order = s.buy(&buyer_token, &[(&big, 2)]).await;
    app.advance(7 * DAY + 3_600_000).await;
    assert_eq!(s.balance(&dist).await, (2000, 2000));
    s.ok(&dist_token, "withdraw", json!({ "amount": 2000 }))
        .await;
    s.refund(&order, 0, 15_000, "r-late").await;
    assert_eq!(s.balance(&dist).await, (-1500, -1500));
    let c = s.commissions(&dist_token).await;
    let late = c.iter().find(|c| c["order_id"] == order["id"]).unwrap();
    assert_eq!(late["status"], "settled");
    assert_eq!(late["amount"], 500);
    assert_eq!(late["reversed_after_settlement"], 1500);
    s.refused(
        &dist_token,
        "withdraw",
        json!({ "amount": 100 }),
        422,
        "only 0.00 CNY is available",
    )
    .await;
    // The next commission settles into the hole before anything can be withdrawn.
    s.buy(&buyer_token, &[(&big, 3)]).await;
    assert_eq!(s.balance(&dist).await, (1500, -1500));
    app.advance(7 * DAY).await;
    assert_eq!(s.balance(&dist).await, (1500, 1500));
    s.refused(
        &dist_token,
        "withdraw",
        json!({ "amount": 1501 }),
        422,
        "only 15.00 CNY",
    )
    .await;
    s.ok(&dist_token, "withdraw", json!({ "amount": 1500 }))
        .await;
    assert_eq!(s.balance(&dist).await, (0, 0));
    s.assert_books(&[&dist]).await;
}

// ---- the chain -------------------------------------------------------------------------------

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn two_levels_never_a_third_no_self_binding_no_loops() {
    for app in TestApp::each_backend().await {
        chain(&app).await;
        app.cleanup().await;
    }
}

async fn chain(app: &TestApp) {
    let s = Shop::open(
        app,
        json!({ "promoters": "everyone", "level1_bp": 1000, "level2_bp": 500, "freeze_days": 0 }),
    )
    .await;
    let (_, sku) = s.product("Tea", 10_000).await;
    // buyer → c → b → a.
    let (a, a_token) = s.distributor("A").await;
    let (b, b_token) = s.distributor("B").await;
    let (c, c_token) = s.distributor("C").await;
    assert_eq!(s.bind(&b_token, &a).await.0, 200);
    assert_eq!(s.bind(&c_token, &b).await.0, 200);
    let (_, buyer_token) = s.member("Buyer", None).await;
    assert_eq!(s.bind(&buyer_token, &c).await.0, 200);

    // No self-binding, no loops (directly or further down), first touch wins.
    s.refused(
        &a_token,
        "bind",
        json!({ "distributor_id": a }),
        422,
        "yourself",
    )
    .await;
    s.refused(
        &a_token,
        "bind",
        json!({ "distributor_id": b }),
        422,
        "loop",
    )
    .await;
    s.refused(
        &a_token,
        "bind",
        json!({ "distributor_id": c }),
        422,
        "loop",
    )
    .await;
    s.refused(
        &buyer_token,
        "bind",
        json!({ "distributor_id": a }),
        422,
        "already bound",
    )
    .await;
    assert_eq!(s.ok(&a_token, "me", json!({})).await["upline"], Value::Null);

    let order = s.buy(&buyer_token, &[(&sku, 1)]).await;
    assert_eq!(attribute(&order, "distributor.level1"), Some(c.clone()));
    assert_eq!(attribute(&order, "distributor.level2"), Some(b.clone()));
    assert_eq!(s.balance(&c).await, (1000, 1000));
    assert_eq!(s.balance(&b).await, (500, 500));
    assert_eq!(s.balance(&a).await, (0, 0));
    assert!(s.commissions(&a_token).await.is_empty());
    // C buying for themselves pays their own upline (B, then A), never C.
    s.buy(&c_token, &[(&sku, 1)]).await;
    assert_eq!(s.balance(&c).await.0, 1000);
    assert_eq!(s.balance(&b).await.0, 1500);
    assert_eq!(s.balance(&a).await.0, 500);
    s.assert_books(&[&a, &b, &c]).await;
}

// ---- approved mode and registration binding --------------------------------------------------

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn approved_mode_unapproved_distributors_earn_nothing() {
    for app in TestApp::each_backend().await {
        approved_mode(&app).await;
        app.cleanup().await;
    }
}

async fn approved_mode(app: &TestApp) {
    let s = Shop::open(
        app,
        json!({
            "promoters": "approved", "binding": "registration",
            "level1_bp": 1000, "level2_bp": 500, "freeze_days": 7
        }),
    )
    .await;
    let (_, sku) = s.product("Tea", 10_000).await;
    let (a, a_token) = s.member("A", None).await;
    let applied = s.ok(&a_token, "apply", json!({})).await;
    assert_eq!(applied["status"], "pending");
    // B joins through A's invitation: bound on registration, even while A waits.
    let (b, b_token) = s.member("B", Some(&a)).await;
    let me = s.ok(&b_token, "me", json!({})).await;
    assert_eq!(me["upline"], a.as_str());
    // Share links do not bind in this mode.
    s.refused(
        &b_token,
        "bind",
        json!({ "distributor_id": a }),
        422,
        "share links do not bind",
    )
    .await;

    let order = s.buy(&b_token, &[(&sku, 1)]).await;
    assert_eq!(attribute(&order, "distributor.level1"), Some(a.clone()));
    assert_eq!(s.balance(&a).await, (0, 0));
    assert!(s.commissions(&a_token).await.is_empty());

    // A member cannot approve; staff can, and only what comes after pays.
    let (st, _) = s
        .action(&a_token, "approve", json!({ "member_id": a }))
        .await;
    assert_eq!(st, 403);
    s.ok(&s.owner, "approve", json!({ "member_id": a })).await;
    let list = s
        .ok(
            &s.owner,
            "list-distributors",
            json!({ "status": "approved" }),
        )
        .await;
    let listed = list["distributors"].as_array().unwrap();
    assert_eq!(listed.len(), 1);
    assert_eq!(listed[0]["member_id"], a.as_str());
    assert_eq!(listed[0]["team_size"], 1);
    s.refund(&order, 0, 5_000, "r1").await;
    assert_eq!(s.balance(&a).await, (0, 0));
    s.buy(&b_token, &[(&sku, 1)]).await;
    assert_eq!(s.balance(&a).await, (1000, 0));

    // C joins through B, who never applied: C's orders pay nobody (not even A at level 2).
    let (_, c_token) = s.member("C", Some(&b)).await;
    assert_eq!(s.ok(&c_token, "me", json!({})).await["upline"], b.as_str());
    s.buy(&c_token, &[(&sku, 1)]).await;
    assert_eq!(s.balance(&b).await, (0, 0));
    assert_eq!(s.balance(&a).await, (1000, 0));
    // B applies and is approved: now C's orders pay B and A.
    s.ok(&b_token, "apply", json!({})).await;
    s.ok(&s.owner, "approve", json!({ "member_id": b })).await;
    s.buy(&c_token, &[(&sku, 1)]).await;
    assert_eq!(s.balance(&b).await, (1000, 0));
    assert_eq!(s.balance(&a).await, (1500, 0));
    // A rejected distributor stops earning.
    s.ok(
        &s.owner,
        "reject",
        json!({ "member_id": b, "reason": "left the team" }),
    )
    .await;
    s.buy(&c_token, &[(&sku, 1)]).await;
    assert_eq!(s.balance(&b).await, (1000, 0));
    assert_eq!(s.balance(&a).await, (1500, 0));
    s.assert_books(&[&a, &b]).await;
}

// ---- duplicated and late deliveries ----------------------------------------------------------

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn duplicated_and_late_order_events_book_once() {
    for app in TestApp::each_backend().await {
        redeliveries(&app).await;
        app.cleanup().await;
    }
}

async fn redeliveries(app: &TestApp) {
    let s = Shop::open(
        app,
        json!({ "promoters": "everyone", "level1_bp": 1000, "freeze_days": 7 }),
    )
    .await;
    let (_, sku) = s.product("Tea", 10_000).await;
    let (dist, dist_token) = s.distributor("Distributor").await;
    let (_, buyer_token) = s.member("Buyer", None).await;
    assert_eq!(s.bind(&buyer_token, &dist).await.0, 200);

    // Payment callbacks repeated by the provider apply once.
    let order = s.order(&buyer_token, &[(&sku, 1)], json!({})).await;
    let order_id = order["id"].as_str().unwrap().to_string();
    let (st, p) = app
        .post(
            &format!("/api/v1/orders/{order_id}/payments"),
            &buyer_token,
            json!({}),
        )
        .await;
    assert_eq!(st, 201, "{p}");
    let pid = p["payment"]["id"].as_str().unwrap();
    let (ts, sig, body) = app.platform().sandbox_pay(&s.id, pid, None).await.unwrap();
    for expected in ["applied", "duplicate", "duplicate"] {
        let (st, out) = app
            .callback(Some(ts.to_string()), Some(sig.clone()), &body)
            .await;
        assert_eq!(st, 200, "{out}");
        assert_eq!(out["result"], expected);
    }
    assert_eq!(s.balance(&dist).await, (1000, 0));

    // The same order-paid delivered again, now and after a refund: booked once, and the
    // stale copy does not undo the refund's reversal; a repeated refund event neither.
    let paid = s.get_order(&order_id).await;
    let paid_event = json!({ "order": paid, "refund": null });
    s.redeliver("order-paid", paid_event.clone()).await;
    assert_eq!(s.balance(&dist).await, (1000, 0));
    let refund = s.refund(&paid, 0, 2_500, "r1").await;
    assert_eq!(s.balance(&dist).await, (750, 0));
    s.redeliver("order-paid", paid_event).await;
    let refunded = s.get_order(&order_id).await;
    s.redeliver(
        "order-refunded",
        json!({ "order": refunded, "refund": refund }),
    )
    .await;
    assert_eq!(s.balance(&dist).await, (750, 0));
    let c = s.commissions(&dist_token).await;
    assert_eq!(c.len(), 1, "{c:?}");
    assert_eq!(
        (c[0]["gross"].as_i64(), c[0]["amount"].as_i64()),
        (Some(1000), Some(750))
    );

    // An order paid and partly refunded while the plugin was off: its events are held
    // (pending, no attempt used) and delivered in order when it is enabled again, booking
    // the net once; late and out-of-order replays of them change nothing.
    let (st, b) = app
        .post("/api/v1/plugins/distributor/disable", &s.owner, json!({}))
        .await;
    assert_eq!(st, 200, "{b}");
    let late = s.buy(&buyer_token, &[(&sku, 3)]).await;
    let late_paid_event = json!({ "order": late, "refund": null });
    let late_refund = s.refund(&late, 0, 10_001, "r-late").await;
    let late_refunded = s.get_order(late["id"].as_str().unwrap()).await;
    assert_eq!(s.balance(&dist).await, (750, 0));
    let (_, held) = app.get("/api/v1/events?status=pending", &s.owner).await;
    let held = held["deliveries"].as_array().unwrap();
    assert_eq!(held.len(), 2, "{held:?}");
    assert!(
        held.iter()
            .all(|d| d["attempts"] == 0 && d["last_error"].as_str().unwrap().contains("disabled")),
        "{held:?}"
    );
    let (st, b) = app
        .post("/api/v1/plugins/distributor/enable", &s.owner, json!({}))
        .await;
    assert_eq!(st, 200, "{b}");
    // floor((30000 − 10001) × 10%) = 1999.
    assert_eq!(s.balance(&dist).await, (750 + 1999, 0));
    s.redeliver(
        "order-refunded",
        json!({ "order": late_refunded, "refund": late_refund }),
    )
    .await;
    s.redeliver("order-paid", late_paid_event.clone()).await;
    s.redeliver("order-paid", late_paid_event).await;
    assert_eq!(s.balance(&dist).await, (750 + 1999, 0));
    s.assert_books(&[&dist]).await;
}

// ---- concurrency -----------------------------------------------------------------------------

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_orders_binds_and_withdrawals_add_up() {
    for app in TestApp::each_backend().await {
        concurrency(&app).await;
        app.cleanup().await;
    }
}

async fn concurrency(app: &TestApp) {
    let s = Shop::open(
        app,
        json!({
            "promoters": "everyone", "level1_bp": 1000, "level2_bp": 300,
            "freeze_days": 1, "min_withdrawal": 100
        }),
    )
    .await;
    let (_, sku) = s.product("Tea", 3_333).await;
    let (up, _) = s.distributor("Upline").await;
    let (dist, dist_token) = s.distributor("Distributor").await;
    assert_eq!(s.bind(&dist_token, &up).await.0, 200);
    let mut buyers = Vec::new();
    for i in 0..10 {
        let (_, token) = s.member(&format!("Buyer {i}"), None).await;
        assert_eq!(s.bind(&token, &dist).await.0, 200);
        buyers.push(token);
    }

    // Ten buyers order and pay at once: every commission is booked, exactly once.
    let shop = &s;
    let paid = join_all(buyers.iter().enumerate().map(|(i, token)| {
        let sku = sku.clone();
        async move { shop.buy(token, &[(&sku, (i % 3 + 1) as u32)]).await }
    }))
    .await;
    let (mut l1, mut l2) = (0, 0);
    for o in &paid {
        assert_eq!(o["payment_status"], "paid");
        let amount = final_amount(o, 0);
        l1 += amount * 1000 / 10_000;
        l2 += amount * 300 / 10_000;
    }
    assert_eq!(s.balance(&dist).await, (l1, 0));
    assert_eq!(s.balance(&up).await, (l2, 0));
    assert_eq!(s.commissions(&dist_token).await.len(), 10);
    let me = s.ok(&s.owner, "me", json!({ "member_id": dist })).await;
    assert_eq!(me["team_size"], 10);

    // One newcomer opens five distributors' links at once: exactly one binds them.
    let mut others = Vec::new();
    for i in 0..5 {
        others.push(s.distributor(&format!("Other {i}")).await.0);
    }
    let (_, newcomer) = s.member("Newcomer", None).await;
    let binds = join_all(others.iter().map(|d| s.bind(&newcomer, d))).await;
    let won: Vec<&Value> = binds
        .iter()
        .filter(|(st, _)| *st == 200)
        .map(|(_, b)| b)
        .collect();
    assert_eq!(won.len(), 1, "{binds:?}");
    assert!(
        binds.iter().all(|(st, _)| *st == 200 || *st == 422),
        "{binds:?}"
    );
    let me = s.ok(&newcomer, "me", json!({})).await;
    assert_eq!(me["upline"], won[0]["distributor_id"]);

    // After the freeze, six withdrawals of a third of the balance race: three pay out.
    app.advance(DAY).await;
    assert_eq!(s.balance(&dist).await, (l1, l1));
    let third = l1 / 3;
    let results =
        join_all((0..6).map(|_| s.action(&dist_token, "withdraw", json!({ "amount": third }))))
            .await;
    let ok = results.iter().filter(|(st, _)| *st == 200).count();
    assert_eq!(ok, 3, "{results:?}");
    assert!(
        results.iter().all(|(st, _)| *st == 200 || *st == 422),
        "{results:?}"
    );
    assert_eq!(s.balance(&dist).await, (l1 - 3 * third, l1 - 3 * third));
    s.assert_books(&[&dist, &up]).await;
}
