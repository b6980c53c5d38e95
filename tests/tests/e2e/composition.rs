//! Plugins compose in one checkout: one shop runs live-sale, coupons, distributor and
//! store-binding together, on every backend.
//!
//! - The main flow: a buyer (bound to a distributor and to a store employee) checks out a
//!   live item at its live price plus a normal item with a coupon. Each line shows which
//!   plugin changed what, in pipeline order (live price at stage `item`, then the coupon at
//!   stage `coupon`, apportioned over the amounts *after* the live price); every plugin's
//!   attribution is on the order; payment feeds each plugin (commission per line on the
//!   final amount, session stats, coupon used, employee stats) and a partial refund of one
//!   line reduces exactly that line's commission and shows in the session's refunds. The
//!   ledger balances throughout.
//! - Failure paths: a coupon's threshold sees the live price (refused); one plugin refusing
//!   in `order-created` rolls back what the plugins before it reserved and took; an unpaid
//!   live order closed by live-sale's timer gives every other plugin its undo (coupon back,
//!   no commission, no employee payment).
//! - Concurrency: buyers racing for the last live unit, each with a coupon and bindings,
//!   produce exactly one order, and every plugin counts it once.
//!
//! The plugins' own suites test each rule alone; this file tests what only shows when they
//! run together: stage order, which amounts each plugin sees, attribute namespaces, and one
//! transaction around all of their writes.

use baseplate_tests::harness::TestApp;
use futures::future::join_all;
use serde_json::{Value, json};

const DAY: i64 = 86_400_000;
/// The live item: 10.00 in the catalog, 6.50 in the live room.
const TEA_PRICE: i64 = 1_000;
const TEA_LIVE: i64 = 650;
/// The normal item.
const TEAPOT_PRICE: i64 = 8_800;
const STOCK: i64 = 100;
/// The coupon every test uses: 10.00 off orders of at least 100.00.
const COUPON_OFF: i64 = 1_000;
const COUPON_MIN: i64 = 10_000;
/// Level-1 commission: 10%.
const LEVEL1_BP: i64 = 1_000;
const UNPAID_TIMEOUT_SECS: i64 = 60;

/// One shop with the four plugins and everyone the flows need.
struct Shop {
    id: String,
    owner: String,
    tea_product: String,
    tea: String,
    teapot_product: String,
    teapot: String,
    session: String,
    /// "10 off 100".
    template: String,
    /// The distributor: (member id, token).
    dist: (String, String),
    outlet: String,
    /// (employee id, code).
    employee: (String, String),
}

impl Shop {
    /// Installs the four plugins (live-sale with a 60 s unpaid timeout; distributor: anyone
    /// may promote, 10% at level 1, 7 freeze days; store-binding and coupons by default),
    /// opens a live session selling the tea at 6.50 (`live_stock`, 2 per member), and makes
    /// the coupon template, a distributor, an outlet and an employee.
    async fn open(app: &TestApp, name: &str, live_stock: i64) -> Shop {
        let (id, owner) = app.shop(name).await;
        let (tea_product, tea) = app.product(&owner, "Longjing", TEA_PRICE, STOCK).await;
        let (teapot_product, teapot) = app.product(&owner, "Teapot", TEAPOT_PRICE, STOCK).await;
        app.install(
            &owner,
            "live-sale",
            Some(json!({ "unpaid_timeout_secs": UNPAID_TIMEOUT_SECS })),
        )
        .await;
        app.install(&owner, "coupons", None).await;
        app.install(
            &owner,
            "distributor",
            Some(json!({
                "promoters": "everyone", "binding": "first_touch",
                "level1_bp": LEVEL1_BP, "level2_bp": 0, "freeze_days": 7
            })),
        )
        .await;
        app.install(&owner, "store-binding", None).await;

        let now = app.clock.now();
        let s = ok(
            app,
            &owner,
            "live-sale",
            "create-session",
            json!({ "title": "Spring tea live", "starts_at": now, "ends_at": now + DAY }),
        )
        .await;
        assert_eq!(s["status"], "live", "{s}");
        let session = s["session_id"].as_str().unwrap().to_string();
        ok(
            app,
            &owner,
            "live-sale",
            "add-item",
            json!({
                "session_id": session, "sku_id": tea, "product_id": tea_product,
                "live_price": TEA_LIVE, "live_stock": live_stock, "per_member_limit": 2,
                "on_shelf": true
            }),
        )
        .await;
        let tpl = ok(
            app,
            &owner,
            "coupons",
            "create-template",
            json!({
                "name": "10 off 100",
                "discount": { "type": "fixed", "amount": COUPON_OFF },
                "threshold": { "type": "amount", "min": COUPON_MIN },
                "validity": { "type": "relative", "days": 30 },
                "total_stock": 100,
                "per_member_limit": 1
            }),
        )
        .await;
        let template = tpl["template_id"].as_str().unwrap().to_string();

        let dist = app.member(&id, "Distributor").await;
        let d = ok(app, &dist.1, "distributor", "apply", json!({})).await;
        assert_eq!(d["status"], "approved", "{d}");
        let o = ok(
            app,
            &owner,
            "store-binding",
            "create-outlet",
            json!({ "name": "West Lake" }),
        )
        .await;
        let outlet = o["outlet_id"].as_str().unwrap().to_string();
        let e = ok(
            app,
            &owner,
            "store-binding",
            "create-employee",
            json!({ "outlet_id": outlet, "name": "Ada" }),
        )
        .await;
        let employee = (
            e["employee_id"].as_str().unwrap().to_string(),
            e["code"].as_str().unwrap().to_string(),
        );
        Shop {
            id,
            owner,
            tea_product,
            tea,
            teapot_product,
            teapot,
            session,
            template,
            dist,
            outlet,
            employee,
        }
    }

    /// A member bound to the distributor (share link) and to the employee (scanned code),
    /// holding one "10 off 100" coupon: (member id, token, coupon id).
    async fn buyer(&self, app: &TestApp, name: &str) -> (String, String, String) {
        let (member, token) = app.member(&self.id, name).await;
        let b = ok(
            app,
            &token,
            "distributor",
            "bind",
            json!({ "distributor_id": self.dist.0 }),
        )
        .await;
        assert_eq!(b["distributor_id"], self.dist.0.as_str(), "{b}");
        let b = ok(
            app,
            &token,
            "store-binding",
            "bind",
            json!({ "via": "code", "code": self.employee.1 }),
        )
        .await;
        assert_eq!(b["result"], "new", "{b}");
        let c = ok(
            app,
            &token,
            "coupons",
            "claim",
            json!({ "template_id": self.template }),
        )
        .await;
        (member, token, c["coupon_id"].as_str().unwrap().to_string())
    }

    /// The checkout body: 2 live teas and a teapot, from the live room, with `coupons`.
    fn body(&self, coupons: &[&str]) -> Value {
        json!({
            "lines": [
                { "sku_id": self.tea, "quantity": 2 },
                { "sku_id": self.teapot, "quantity": 1 }
            ],
            "plugins": {
                "live-sale": { "session_id": self.session },
                "coupons": { "coupon_ids": coupons }
            }
        })
    }

    async fn stats(&self, app: &TestApp) -> Value {
        ok(
            app,
            &self.owner,
            "live-sale",
            "stats",
            json!({ "session_id": self.session }),
        )
        .await
    }

    async fn employee_stats(&self, app: &TestApp) -> Value {
        ok(
            app,
            &self.owner,
            "store-binding",
            "employee-stats",
            json!({ "employee_id": self.employee.0 }),
        )
        .await["stats"]
            .clone()
    }

    async fn coupon_status(&self, app: &TestApp, token: &str, coupon: &str) -> String {
        let b = ok(app, token, "coupons", "list-coupons", json!({})).await;
        b["coupons"]
            .as_array()
            .unwrap()
            .iter()
            .find(|c| c["coupon_id"] == coupon)
            .unwrap_or_else(|| panic!("coupon {coupon} is listed: {b}"))["status"]
            .as_str()
            .unwrap()
            .to_string()
    }

    /// (total, available) of a ledger account.
    async fn balance(&self, app: &TestApp, party: &str, account: &str) -> (i64, i64) {
        let (st, b) = app
            .get(
                &format!("/api/v1/ledger/balance?party={party}&account={account}"),
                &self.owner,
            )
            .await;
        assert_eq!(st, 200, "{b}");
        (
            b["total"].as_i64().unwrap(),
            b["available"].as_i64().unwrap(),
        )
    }

    async fn commission(&self, app: &TestApp) -> (i64, i64) {
        self.balance(app, &format!("member:{}", self.dist.0), "commission")
            .await
    }

    async fn imbalance(&self, app: &TestApp) -> i64 {
        let (st, l) = app.get("/api/v1/ledger", &self.owner).await;
        assert_eq!(st, 200, "{l}");
        l["imbalance"].as_i64().unwrap()
    }

    async fn order(&self, app: &TestApp, id: &str) -> Value {
        let (st, o) = app.get(&format!("/api/v1/orders/{id}"), &self.owner).await;
        assert_eq!(st, 200, "{o}");
        o
    }

    async fn orders(&self, app: &TestApp) -> Vec<Value> {
        let (st, b) = app.get("/api/v1/orders", &self.owner).await;
        assert_eq!(st, 200, "{b}");
        b["orders"].as_array().unwrap().clone()
    }

    async fn catalog_stock(&self, app: &TestApp, product: &str) -> i64 {
        let (st, p) = app
            .get(&format!("/api/v1/products/{product}"), &self.owner)
            .await;
        assert_eq!(st, 200, "{p}");
        p["skus"][0]["stock"].as_i64().unwrap()
    }
}

async fn action(
    app: &TestApp,
    token: &str,
    plugin: &str,
    name: &str,
    input: Value,
) -> (u16, Value) {
    app.post(
        &format!("/api/v1/plugins/{plugin}/actions/{name}"),
        token,
        input,
    )
    .await
}

async fn ok(app: &TestApp, token: &str, plugin: &str, name: &str, input: Value) -> Value {
    let (st, b) = action(app, token, plugin, name, input.clone()).await;
    assert_eq!(st, 200, "{plugin} {name} {input}: {b}");
    b
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

/// The order's attribute `key` (`<plugin>.<key>`).
fn attribute(order: &Value, key: &str) -> Option<String> {
    order["attributes"]
        .as_array()
        .unwrap()
        .iter()
        .find(|a| a["key"] == key)
        .map(|a| a["value"].as_str().unwrap().to_string())
}

fn assert_refused(st: u16, b: &Value, code: &str, needle: &str) {
    assert_eq!(st, 422, "{b}");
    assert_eq!(b["error"]["code"], code, "{b}");
    let msg = b["error"]["message"].as_str().unwrap_or_default();
    assert!(msg.contains(needle), "{msg:?} does not say {needle:?}");
}

/// Floor of `amount × bp / 10000`: the distributor's rounding, per line.
fn commission_of(amount: i64) -> i64 {
    amount * LEVEL1_BP / 10_000
}

// ---- the main flow --------------------------------------------------------------------------

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn plugins_compose_in_one_checkout() {
    for app in TestApp::each_backend().await {
        main_flow(&app).await;
        app.cleanup().await;
    }
}

async fn main_flow(app: &TestApp) {
    let s = Shop::open(app, "Composed Tea House", 10).await;
    let (buyer, token, coupon) = s.buyer(app, "Xiao Li").await;

    // The quote already shows the composed price; the order keeps it.
    let body = s.body(&[coupon.as_str()]);
    let (st, quote) = app
        .post("/api/v1/checkout/quote", &token, body.clone())
        .await;
    assert_eq!(st, 200, "{quote}");
    let (st, order) = checkout(app, &token, &body, "composed-1").await;
    assert_eq!(st, 201, "{order}");
    let order_id = order["id"].as_str().unwrap().to_string();
    assert_eq!(order["member_id"], buyer.as_str());

    // Item stage: 2 teas at 6.50 instead of 10.00, 7.00 off the tea line only.
    let live_cut = 2 * (TEA_PRICE - TEA_LIVE);
    assert_eq!(live_cut, 700);
    // Coupon stage: 10.00 apportioned (largest remainders) over what the lines cost after
    // the live price, 13.00 and 88.00: 1000 × 1300 / 10100 = 128.7 and 1000 × 8800 / 10100
    // = 871.3, so 129 and 871. Over the catalog amounts (20.00, 88.00) it would be 185/815.
    let (tea_coupon, teapot_coupon) = (129, 871);
    assert_eq!(tea_coupon + teapot_coupon, COUPON_OFF);
    let tea = &order["lines"][0];
    let teapot = &order["lines"][1];
    assert_eq!(tea["sku_id"], s.tea.as_str());
    assert_eq!(tea["original_amount"], 2 * TEA_PRICE);
    assert_eq!(
        tea["adjustments"],
        json!([
            { "plugin": "live-sale", "stage": "item", "amount": live_cut,
              "label": "Live price 6.50 CNY", "reference": s.session },
            { "plugin": "coupons", "stage": "coupon", "amount": tea_coupon,
              "label": "Coupon 10 off 100", "reference": coupon },
        ]),
        "the live price first, then the coupon: {order}"
    );
    assert_eq!(tea["discount"], live_cut + tea_coupon);
    assert_eq!(tea["final_amount"], 2 * TEA_PRICE - live_cut - tea_coupon);
    assert_eq!(teapot["sku_id"], s.teapot.as_str());
    assert_eq!(
        teapot["adjustments"],
        json!([
            { "plugin": "coupons", "stage": "coupon", "amount": teapot_coupon,
              "label": "Coupon 10 off 100", "reference": coupon },
        ]),
        "the teapot is not a live item: {order}"
    );
    assert_eq!(teapot["final_amount"], TEAPOT_PRICE - teapot_coupon);
    let finals = [
        tea["final_amount"].as_i64().unwrap(),
        teapot["final_amount"].as_i64().unwrap(),
    ];
    assert_eq!(finals, [1_171, 7_929]);
    assert_eq!(order["original_amount"], 2 * TEA_PRICE + TEAPOT_PRICE);
    assert_eq!(order["discount"], live_cut + COUPON_OFF);
    assert_eq!(order["payable_amount"], finals.iter().sum::<i64>());
    assert_eq!(order["payable_amount"], 9_100);
    for key in ["original_amount", "discount", "payable_amount"] {
        assert_eq!(quote[key], order[key], "the quote's {key} is the order's");
    }
    for i in 0..2 {
        let (q, o) = (&quote["lines"][i], &order["lines"][i]);
        assert_eq!(q["amount"], o["final_amount"], "line {i}: {quote}");
        assert_eq!(q["adjustments"], o["adjustments"], "line {i}: {quote}");
    }

    // Every plugin's attribution, under its own name.
    assert_eq!(
        attribute(&order, "live-sale.session_id"),
        Some(s.session.clone())
    );
    assert_eq!(
        attribute(&order, "coupons.coupon_ids"),
        Some(coupon.clone())
    );
    assert_eq!(
        attribute(&order, "distributor.level1"),
        Some(s.dist.0.clone())
    );
    assert_eq!(attribute(&order, "distributor.level2"), None);
    assert_eq!(
        attribute(&order, "store-binding.employee_id"),
        Some(s.employee.0.clone())
    );
    assert_eq!(
        attribute(&order, "store-binding.outlet_id"),
        Some(s.outlet.clone())
    );

    // Created, not paid: stock and coupon are held, nobody is paid yet.
    assert_eq!(s.coupon_status(app, &token, &coupon).await, "reserved");
    let st0 = s.stats(app).await;
    assert_eq!(st0["orders"], 1, "{st0}");
    assert_eq!(st0["items"][0]["sold"], 2, "{st0}");
    assert_eq!(st0["paid_amount"], 0, "{st0}");
    assert_eq!(s.commission(app).await, (0, 0));
    assert_eq!(s.employee_stats(app).await["orders"], 1);

    // Pay.
    let out = app.pay(&token, &order_id).await;
    assert_eq!(out["callback"]["result"], "applied", "{out}");
    app.platform().flush_events().await;
    let paid = s.order(app, &order_id).await;
    assert_eq!(paid["status"], "to_ship", "{paid}");
    assert_eq!(paid["paid_amount"], 9_100);
    let paid_at = paid["paid_at"].as_i64().unwrap();

    // Commission: 10% of each line's final amount, rounded down per line — 117 + 792 =
    // 909. (On the order's total it would be 910; on the amounts before the coupon 1010;
    // on the catalog prices 1080.) Pending through the freeze.
    let owed = commission_of(finals[0]) + commission_of(finals[1]);
    assert_eq!(owed, 909);
    assert_eq!(s.commission(app).await, (owed, 0), "pending, not available");
    let c = ok(app, &s.dist.1, "distributor", "my-commissions", json!({})).await;
    let c = &c["commissions"];
    assert_eq!(c.as_array().unwrap().len(), 1, "{c}");
    assert_eq!(c[0]["order_id"], order_id.as_str());
    assert_eq!(c[0]["buyer_id"], buyer.as_str());
    assert_eq!(c[0]["level"], 1);
    assert_eq!(c[0]["amount"], owed);
    assert_eq!(c[0]["status"], "pending");
    assert_eq!(c[0]["available_at"], paid_at + 7 * DAY);
    assert_eq!(
        s.balance(app, "shop", "commission").await.0,
        -owed,
        "the shop's expense mirrors it"
    );
    // The session counts what the order paid; the coupon is used; the employee's stats
    // count the paid order.
    let st1 = s.stats(app).await;
    assert_eq!(st1["paid_orders"], 1, "{st1}");
    assert_eq!(st1["paid_amount"], 9_100, "{st1}");
    assert_eq!(st1["refunds"], 0, "{st1}");
    assert_eq!(s.coupon_status(app, &token, &coupon).await, "used");
    let es = s.employee_stats(app).await;
    assert_eq!(
        (es["paid_orders"].as_i64(), es["paid_amount"].as_i64()),
        (Some(1), Some(9_100)),
        "{es}"
    );
    assert_eq!(s.imbalance(app).await, 0);

    // A partial refund of 5.00 on the live line only: that line's commission drops from
    // floor(1171 × 10%) = 117 to floor(671 × 10%) = 67; the teapot's 792 stays. (Computed on
    // the order's net, 8600, it would be 860, not 859.)
    let tea_line = paid["lines"][0]["id"].as_str().unwrap().to_string();
    let refund = json!({
        "refund_id": "r-tea", "reason": "one tin dented",
        "lines": [{ "line_id": tea_line, "amount": 500 }]
    });
    for _ in 0..2 {
        // Retried with the same id: applied once, everywhere.
        let (st, r) = app
            .post(
                &format!("/api/v1/orders/{order_id}/refunds"),
                &s.owner,
                refund.clone(),
            )
            .await;
        assert_eq!(st, 201, "{r}");
    }
    app.platform().flush_events().await;
    let refunded = s.order(app, &order_id).await;
    assert_eq!(refunded["refund_state"], "partial", "{refunded}");
    assert_eq!(refunded["refunded_amount"], 500);
    assert_eq!(refunded["lines"][0]["refunded_amount"], 500);
    assert_eq!(refunded["lines"][1]["refunded_amount"], 0);
    let owed_after = commission_of(finals[0] - 500) + commission_of(finals[1]);
    assert_eq!(owed_after, 859);
    assert_eq!(s.commission(app).await, (owed_after, 0));
    let c = ok(app, &s.dist.1, "distributor", "my-commissions", json!({})).await;
    assert_eq!(c["commissions"][0]["amount"], owed_after, "{c}");
    assert_eq!(c["commissions"][0]["reversed"], owed - owed_after, "{c}");
    assert_eq!(c["commissions"][0]["status"], "pending", "{c}");
    let st2 = s.stats(app).await;
    assert_eq!(st2["paid_amount"], 9_100, "{st2}");
    assert_eq!(st2["refunds"], 1, "{st2}");
    assert_eq!(st2["refund_amount"], 500, "{st2}");
    assert_eq!(st2["net_amount"], 8_600, "{st2}");
    assert_eq!(
        s.coupon_status(app, &token, &coupon).await,
        "used",
        "a partial refund keeps the coupon used"
    );
    assert_eq!(s.employee_stats(app).await["refunded_amount"], 500);
    assert_eq!(s.imbalance(app).await, 0);
    assert_eq!(s.balance(app, "shop", "commission").await.0, -owed_after);

    // After the freeze the reduced commission settles, and the books still balance.
    app.advance(paid_at + 7 * DAY - app.clock.now()).await;
    assert_eq!(s.commission(app).await, (owed_after, owed_after));
    assert_eq!(s.imbalance(app).await, 0);
}

// ---- failure paths --------------------------------------------------------------------------

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_refusal_in_any_plugin_rolls_back_every_plugin() {
    for app in TestApp::each_backend().await {
        refusals(&app).await;
        app.cleanup().await;
    }
}

async fn refusals(app: &TestApp) {
    let s = Shop::open(app, "Refusing Tea House", 10).await;
    let (_, token, coupon) = s.buyer(app, "Xiao Wang").await;

    // A coupon's threshold looks at the cart after the live price: 108.00 in the catalog,
    // 101.00 in the live room, so "15 off 105" does not apply.
    let tpl = ok(
        app,
        &s.owner,
        "coupons",
        "create-template",
        json!({
            "name": "15 off 105",
            "discount": { "type": "fixed", "amount": 1_500 },
            "threshold": { "type": "amount", "min": 10_500 },
            "validity": { "type": "relative", "days": 30 },
            "total_stock": 10
        }),
    )
    .await;
    let big = ok(
        app,
        &token,
        "coupons",
        "claim",
        json!({ "template_id": tpl["template_id"] }),
    )
    .await["coupon_id"]
        .as_str()
        .unwrap()
        .to_string();
    let (st, b) = checkout(app, &token, &s.body(&[big.as_str()]), "threshold").await;
    assert_refused(
        st,
        &b,
        "plugin_refused",
        "needs eligible items worth at least 105.00 CNY (the cart has 101.00 CNY)",
    );
    // Without the live room the same cart meets it: the threshold is what changed.
    let catalog = json!({
        "lines": [{ "sku_id": s.tea, "quantity": 2 }, { "sku_id": s.teapot, "quantity": 1 }],
        "plugins": { "coupons": { "coupon_ids": [big] } }
    });
    let (st, q) = app.post("/api/v1/checkout/quote", &token, catalog).await;
    assert_eq!(st, 200, "{q}");
    assert_eq!(q["payable_amount"], 10_800 - 1_500);

    // Store-binding refuses in order-created, after coupons reserved the coupon and
    // live-sale took live stock, the member's quota and a timer (plugins run in name
    // order): the whole checkout rolls back, in every plugin and in the core.
    let mut bad = s.body(&[coupon.as_str()]);
    bad["plugins"]["store-binding"] = json!({ "employee_code": s.employee.1 });
    let (st, b) = checkout(app, &token, &bad, "refused").await;
    assert_refused(st, &b, "plugin_invalid", "`employee_code`");
    assert!(s.orders(app).await.is_empty(), "no order was created");
    assert_eq!(s.coupon_status(app, &token, &coupon).await, "available");
    let st0 = s.stats(app).await;
    assert_eq!(
        (st0["orders"].as_i64(), st0["items"][0]["sold"].as_i64()),
        (Some(0), Some(0)),
        "{st0}"
    );
    assert_eq!(s.employee_stats(app).await["orders"], 0);
    assert_eq!(s.catalog_stock(app, &s.tea_product).await, STOCK);
    assert_eq!(s.catalog_stock(app, &s.teapot_product).await, STOCK);
    let mut tx = app.platform().db.read().await.unwrap();
    let timers = baseplate_store::state::list_timers(&mut tx, &s.id, "live-sale")
        .await
        .unwrap();
    tx.rollback().await.unwrap();
    assert!(timers.is_empty(), "no unpaid timer survives: {timers:?}");

    // The coupon and the member's live quota (2) are free: the same order goes through.
    let (st, o) = checkout(app, &token, &s.body(&[coupon.as_str()]), "after-refusal").await;
    assert_eq!(st, 201, "{o}");
    assert_eq!(o["payable_amount"], 9_100);
    assert_eq!(s.coupon_status(app, &token, &coupon).await, "reserved");
    assert_eq!(s.stats(app).await["items"][0]["sold"], 2);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn an_unpaid_live_order_closed_by_its_timer_undoes_every_plugin() {
    for app in TestApp::each_backend().await {
        unpaid(&app).await;
        app.cleanup().await;
    }
}

async fn unpaid(app: &TestApp) {
    let s = Shop::open(app, "Unpaid Tea House", 2).await;
    let (_, token, coupon) = s.buyer(app, "Hesitant").await;
    let (st, o) = checkout(app, &token, &s.body(&[coupon.as_str()]), "unpaid").await;
    assert_eq!(st, 201, "{o}");
    let order_id = o["id"].as_str().unwrap().to_string();
    assert_eq!(s.stats(app).await["items"][0]["remaining"], 0);

    // Live-sale's timer cancels it; the order-closed event reaches the other plugins.
    app.advance(UNPAID_TIMEOUT_SECS * 1000).await;
    app.platform().flush_events().await;
    let closed = s.order(app, &order_id).await;
    assert_eq!(closed["status"], "closed", "{closed}");
    assert_eq!(closed["close_reason"], "plugin:live-sale:unpaid live order");
    assert_eq!(
        s.coupon_status(app, &token, &coupon).await,
        "available",
        "coupons gave the coupon back"
    );
    let st = s.stats(app).await;
    assert_eq!(st["items"][0]["remaining"], 2, "{st}");
    assert_eq!(st["closed_unpaid"], 1, "{st}");
    assert_eq!(st["paid_amount"], 0, "{st}");
    assert_eq!(s.commission(app).await, (0, 0));
    let c = ok(app, &s.dist.1, "distributor", "my-commissions", json!({})).await;
    assert_eq!(c["commissions"], json!([]), "{c}");
    let es = s.employee_stats(app).await;
    assert_eq!(
        (es["orders"].as_i64(), es["paid_orders"].as_i64()),
        (Some(1), Some(0)),
        "{es}"
    );
    let (st, p) = app
        .post(
            &format!("/api/v1/orders/{order_id}/payments"),
            &token,
            json!({}),
        )
        .await;
    assert_eq!(st, 409, "a closed order can't be paid: {p}");
    assert_eq!(s.imbalance(app).await, 0);

    // The buyer comes back: the returned coupon, stock and quota buy the same order, paid
    // this time, and only this order earns commission.
    let (st, again) = checkout(app, &token, &s.body(&[coupon.as_str()]), "unpaid-again").await;
    assert_eq!(st, 201, "{again}");
    let again_id = again["id"].as_str().unwrap().to_string();
    assert_eq!(again["payable_amount"], 9_100);
    app.pay(&token, &again_id).await;
    app.platform().flush_events().await;
    assert_eq!(s.commission(app).await, (909, 0));
    let c = ok(app, &s.dist.1, "distributor", "my-commissions", json!({})).await;
    assert_eq!(c["commissions"].as_array().unwrap().len(), 1, "{c}");
    assert_eq!(c["commissions"][0]["order_id"], again_id.as_str());
    assert_eq!(s.stats(app).await["paid_amount"], 9_100);
    assert_eq!(s.imbalance(app).await, 0);
}

// ---- concurrency ----------------------------------------------------------------------------

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn buyers_racing_for_the_last_live_unit_make_one_order_in_every_plugin() {
    for app in TestApp::each_backend().await {
        last_unit(&app).await;
        app.cleanup().await;
    }
}

async fn last_unit(app: &TestApp) {
    // 2 live units: one order of 2 teas takes them all.
    let s = &Shop::open(app, "Last Unit Tea House", 2).await;
    let buyers =
        join_all((0..8).map(|i| async move { s.buyer(app, &format!("Buyer {i}")).await })).await;

    let results = join_all(buyers.iter().enumerate().map(|(i, (_, token, coupon))| {
        let body = s.body(&[coupon.as_str()]);
        async move { checkout(app, token, &body, &format!("race-{i}")).await }
    }))
    .await;
    let winners: Vec<usize> = (0..results.len())
        .filter(|&i| results[i].0 == 201)
        .collect();
    assert_eq!(winners.len(), 1, "[{:?}] {results:?}", app.backend);
    for (st, b) in results.iter().filter(|(st, _)| *st != 201) {
        assert_refused(*st, b, "plugin_refused", "sold out");
    }
    let w = winners[0];
    let order = &results[w].1;
    assert_eq!(order["payable_amount"], 9_100, "{order}");

    // One order everywhere: the core, the session, the employee; only the winner's coupon
    // is reserved.
    assert_eq!(s.orders(app).await.len(), 1);
    let st = s.stats(app).await;
    assert_eq!(
        (st["orders"].as_i64(), st["items"][0]["remaining"].as_i64()),
        (Some(1), Some(0)),
        "{st}"
    );
    assert_eq!(s.employee_stats(app).await["orders"], 1);
    assert_eq!(s.catalog_stock(app, &s.tea_product).await, STOCK - 2);
    assert_eq!(s.catalog_stock(app, &s.teapot_product).await, STOCK - 1);
    for (i, (_, token, coupon)) in buyers.iter().enumerate() {
        let want = if i == w { "reserved" } else { "available" };
        assert_eq!(s.coupon_status(app, token, coupon).await, want, "buyer {i}");
    }

    // The winner pays: one commission, one paid amount.
    let (_, token, _) = &buyers[w];
    app.pay(token, order["id"].as_str().unwrap()).await;
    app.platform().flush_events().await;
    assert_eq!(s.commission(app).await, (909, 0));
    assert_eq!(s.stats(app).await["paid_amount"], 9_100);
    assert_eq!(s.imbalance(app).await, 0);
}
