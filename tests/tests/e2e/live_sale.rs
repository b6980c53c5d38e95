//! The live-sale plugin (直播带货) end to end, on every backend: a session is scheduled,
//! started and stocked; members enter the room and buy at the live price (an item-stage
//! adjustment) with the order attributed to the session; a flash sale sells out exactly; the
//! last live unit sells once under 20 concurrent checkouts; an unpaid order is cancelled by
//! the plugin's timer and its stock goes back on sale; a late or duplicate timer or event
//! returns nothing twice; stats add up after payment and a refund.
//!
//! Duplicate timers and event deliveries cannot be provoked over HTTP (the host fires and
//! delivers once), so those tests put the duplicate into the database the way a redelivery
//! after a crash would, and let the real worker run it.

use baseplate_tests::harness::TestApp;
use futures::future::join_all;
use serde_json::{Value, json};

const PLUGIN: &str = "live-sale";
const MIN: i64 = 60_000;

/// A shop with the plugin (60 s unpaid timeout), a 10.00 tea (catalog stock 100), and a
/// session that is live now.
struct Room {
    shop: String,
    owner: String,
    tea_product: String,
    tea: String,
    session: String,
}

async fn room(app: &TestApp, name: &str) -> Room {
    let (shop, owner) = app.shop(name).await;
    let (tea_product, tea) = app.product(&owner, "Longjing", 1_000, 100).await;
    app.install(&owner, PLUGIN, Some(json!({ "unpaid_timeout_secs": 60 })))
        .await;
    let now = app.clock.now();
    let (st, s) = action(
        app,
        &owner,
        "create-session",
        json!({ "title": "Spring tea live", "starts_at": now, "ends_at": now + 120 * MIN }),
    )
    .await;
    assert_eq!(st, 200, "{s}");
    assert_eq!(s["status"], "live", "live from starts_at by the clock");
    let session = s["session_id"].as_str().unwrap().to_string();
    Room {
        shop,
        owner,
        tea_product,
        tea,
        session,
    }
}

async fn action(app: &TestApp, token: &str, name: &str, input: Value) -> (u16, Value) {
    app.post(
        &format!("/api/v1/plugins/{PLUGIN}/actions/{name}"),
        token,
        input,
    )
    .await
}

/// Adds the tea to the session at 6.00, on the shelf.
async fn add_tea(app: &TestApp, r: &Room, stock: i64, limit: i64) {
    let (st, item) = action(
        app,
        &r.owner,
        "add-item",
        json!({
            "session_id": r.session, "sku_id": r.tea, "live_price": 600,
            "live_stock": stock, "per_member_limit": limit, "on_shelf": true
        }),
    )
    .await;
    assert_eq!(st, 200, "{item}");
}

fn body(session: &str, lines: &[(&str, u32)]) -> Value {
    let lines: Vec<Value> = lines
        .iter()
        .map(|(sku, q)| json!({ "sku_id": sku, "quantity": q }))
        .collect();
    json!({ "lines": lines, "plugins": { PLUGIN: { "session_id": session } } })
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

async fn buy_tea(app: &TestApp, r: &Room, token: &str, key: &str) -> (u16, Value) {
    checkout(app, token, &body(&r.session, &[(&r.tea, 1)]), key).await
}

async fn members(app: &TestApp, shop: &str, n: usize) -> Vec<(String, String)> {
    join_all((0..n).map(|i| async move { app.member(shop, &format!("Viewer {i}")).await })).await
}

async fn order(app: &TestApp, owner: &str, id: &str) -> Value {
    let (st, o) = app.get(&format!("/api/v1/orders/{id}"), owner).await;
    assert_eq!(st, 200, "{o}");
    o
}

async fn tea_item(app: &TestApp, r: &Room) -> Value {
    let (st, b) = action(
        app,
        &r.owner,
        "list-items",
        json!({ "session_id": r.session }),
    )
    .await;
    assert_eq!(st, 200, "{b}");
    b["items"]
        .as_array()
        .unwrap()
        .iter()
        .find(|i| i["sku_id"] == r.tea.as_str())
        .cloned()
        .expect("the tea is a live item")
}

async fn remaining(app: &TestApp, r: &Room) -> i64 {
    tea_item(app, r).await["remaining"].as_i64().unwrap()
}

async fn stats(app: &TestApp, r: &Room) -> Value {
    let (st, s) = action(app, &r.owner, "stats", json!({ "session_id": r.session })).await;
    assert_eq!(st, 200, "{s}");
    s
}

fn message(b: &Value) -> String {
    b["error"]["message"]
        .as_str()
        .unwrap_or_default()
        .to_string()
}

fn assert_refused(st: u16, b: &Value, needle: &str) {
    assert_eq!(st, 422, "{b}");
    assert_eq!(b["error"]["code"], "plugin_refused", "{b}");
    assert!(message(b).contains(needle), "expected {needle:?} in {b}");
}

/// The plugin's pending timers in this shop.
async fn timers(app: &TestApp, shop: &str) -> Vec<baseplate_store::state::Timer> {
    let mut tx = app.platform().db.read().await.unwrap();
    let t = baseplate_store::state::list_timers(&mut tx, shop, PLUGIN)
        .await
        .unwrap();
    tx.rollback().await.unwrap();
    t
}

/// Puts timer `name` back in the queue, due now, as if it were delivered a second time.
async fn replay_timer(app: &TestApp, shop: &str, name: &str, payload: &[u8]) {
    let mut tx = app.platform().db.write("").await.unwrap();
    baseplate_store::state::schedule_timer(&mut tx, shop, PLUGIN, name, app.clock.now(), payload)
        .await
        .unwrap();
    tx.commit().await.unwrap();
}

/// Delivers the plugin's `kind` event about `order_id` once more, as a redelivery would:
/// a new outbox row with the same payload, run through the real delivery path.
async fn redeliver(app: &TestApp, shop: &str, kind: &str, order_id: &str, tag: &str) {
    let mut tx = app.platform().db.write("").await.unwrap();
    let all = baseplate_store::events::list(&mut tx, shop, Some("delivered"), 500)
        .await
        .unwrap();
    let d = all
        .into_iter()
        .find(|d| {
            d.plugin == PLUGIN
                && d.kind == kind
                && serde_json::from_str::<Value>(&d.payload).unwrap()["order"]["id"] == order_id
        })
        .unwrap_or_else(|| panic!("a delivered {kind} event for {order_id}"));
    let id = format!("evt_redeliver_{tag}");
    let now = app.clock.now();
    baseplate_store::events::insert_event(
        &mut tx,
        &id,
        shop,
        kind,
        &d.payload,
        &[PLUGIN.to_string()],
        now,
    )
    .await
    .unwrap();
    tx.commit().await.unwrap();
    app.platform().deliver_event(&id).await;
    let mut tx = app.platform().db.read().await.unwrap();
    let again = baseplate_store::events::list(&mut tx, shop, Some("delivered"), 500)
        .await
        .unwrap();
    tx.rollback().await.unwrap();
    assert!(
        again.iter().any(|d| d.event_id == id),
        "the redelivery ran (and succeeded)"
    );
}

// ---- the main flow ----------------------------------------------------------------------

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn live_session_from_schedule_to_stats() {
    for app in TestApp::each_backend().await {
        walkthrough(&app).await;
        app.cleanup().await;
    }
}

async fn walkthrough(app: &TestApp) {
    let (shop, owner) = app.shop("Tea Live").await;
    let (tea_product, tea) = app.product(&owner, "Longjing", 1_000, 100).await;
    let (_, cup) = app.product(&owner, "Cup", 500, 100).await;
    let (st, b) = app
        .post(
            "/api/v1/plugins",
            &owner,
            json!({ "name": PLUGIN, "config": { "unpaid_timeout_secs": 5 },
                    "accept_capabilities": app.capabilities(&owner, PLUGIN).await }),
        )
        .await;
    assert_eq!(st, 422, "{b}");
    assert!(
        message(&b).contains("`unpaid_timeout_secs` must be an integer 30..=3600"),
        "{b}"
    );
    app.install(&owner, PLUGIN, Some(json!({ "unpaid_timeout_secs": 120 })))
        .await;
    let (m1, t1) = app.member(&shop, "Xiao Li").await;
    let (_, t2) = app.member(&shop, "Xiao Wang").await;

    // Staff schedule; members may not.
    let now = app.clock.now();
    let schedule = json!({ "title": "Spring tea live", "starts_at": now + 10 * MIN, "ends_at": now + 70 * MIN });
    let (st, b) = action(app, &t1, "create-session", schedule.clone()).await;
    assert_eq!(st, 403, "{b}");
    let (st, s) = action(app, &owner, "create-session", schedule).await;
    assert_eq!(st, 200, "{s}");
    assert_eq!(s["status"], "scheduled");
    let session = s["session_id"].as_str().unwrap().to_string();
    let (st, b) = action(
        app,
        &owner,
        "create-session",
        json!({ "title": "x", "starts_at": now, "ends_at": now }),
    )
    .await;
    assert_eq!(st, 422, "{b}");
    assert!(
        message(&b).contains("`ends_at` must be a time in ms after `starts_at`"),
        "{b}"
    );

    let (st, item) = action(
        app,
        &owner,
        "add-item",
        json!({ "session_id": session, "sku_id": tea, "product_id": tea_product,
                "live_price": 600, "live_stock": 10, "per_member_limit": 2 }),
    )
    .await;
    assert_eq!(st, 200, "{item}");
    assert_eq!(item["on_shelf"], false);
    let (st, b) = action(
        app,
        &owner,
        "add-item",
        json!({ "session_id": session, "sku_id": cup, "product_id": tea_product,
                "live_price": 100, "live_stock": 10, "per_member_limit": 2 }),
    )
    .await;
    assert_eq!(st, 422, "{b}");
    assert!(message(&b).contains("is not a SKU of"), "{b}");

    // Members enter (and come back): two unique viewers.
    for t in [&t1, &t2, &t1] {
        let (st, b) = action(app, t, "enter-room", json!({ "session_id": session })).await;
        assert_eq!(st, 200, "{b}");
    }
    let (st, b) = action(app, &owner, "enter-room", json!({ "session_id": session })).await;
    assert_eq!(st, 403, "staff do not enter rooms: {b}");
    let (st, listed) = action(app, &t1, "list-sessions", json!({ "status": "scheduled" })).await;
    assert_eq!(st, 200, "{listed}");
    assert_eq!(listed["sessions"][0]["session_id"], session.as_str());

    // Before the room opens, and while the tea is off the shelf, nobody buys it.
    let order_body = body(&session, &[(&tea, 2), (&cup, 1)]);
    let (st, b) = checkout(app, &t1, &order_body, "early").await;
    assert_refused(st, &b, "has not started yet");
    let (st, s) = action(
        app,
        &owner,
        "start-session",
        json!({ "session_id": session }),
    )
    .await;
    assert_eq!(st, 200, "{s}");
    assert_eq!(s["status"], "live");
    let (st, b) = checkout(app, &t1, &order_body, "off-shelf").await;
    assert_refused(st, &b, "not on the shelf");
    let (st, items) = action(app, &t1, "list-items", json!({ "session_id": session })).await;
    assert_eq!(st, 200, "{items}");
    assert!(items["items"].as_array().unwrap().is_empty(), "{items}");
    let (st, b) = action(
        app,
        &owner,
        "shelve",
        json!({ "session_id": session, "sku_id": tea, "on": true }),
    )
    .await;
    assert_eq!(st, 200, "{b}");
    let (st, b) = action(
        app,
        &owner,
        "shelve",
        json!({ "session_id": session, "sku_id": tea, "on": "yes" }),
    )
    .await;
    assert_eq!(st, 422, "{b}");
    assert!(
        message(&b).contains("`on` must be true (on the shelf) or false"),
        "{b}"
    );

    // A quote already shows the live price; the order keeps it per line.
    let (st, q) = app
        .post("/api/v1/checkout/quote", &t1, order_body.clone())
        .await;
    assert_eq!(st, 200, "{q}");
    assert_eq!(q["payable_amount"], 1_700);
    let (st, o) = checkout(app, &t1, &order_body, "buy-1").await;
    assert_eq!(st, 201, "{o}");
    assert_eq!(o["payable_amount"], 1_700);
    let tea_line = &o["lines"][0];
    assert_eq!(tea_line["final_amount"], 1_200);
    assert_eq!(
        tea_line["adjustments"][0],
        json!({ "plugin": PLUGIN, "stage": "item", "amount": 800,
                "label": "Live price 6.00 CNY", "reference": session })
    );
    assert_eq!(
        o["lines"][1]["final_amount"], 500,
        "the cup is not a live item"
    );
    assert_eq!(o["lines"][1]["adjustments"], json!([]));
    assert_eq!(
        o["attributes"],
        json!([{ "key": "live-sale.session_id", "value": session }])
    );
    assert_eq!(o["member_id"], m1.as_str());
    let order_id = o["id"].as_str().unwrap().to_string();

    // The per-member limit (2 teas per session) holds.
    let (st, b) = checkout(app, &t1, &body(&session, &[(&tea, 1)]), "buy-2").await;
    assert_refused(st, &b, "limit reached");
    // Checkout input is checked field by field.
    let bad = json!({ "lines": [{ "sku_id": tea, "quantity": 1 }], "plugins": { PLUGIN: { "session": session } } });
    let (st, b) = checkout(app, &t2, &bad, "bad-input").await;
    assert_eq!(st, 422, "{b}");
    assert_eq!(b["error"]["code"], "plugin_invalid", "{b}");
    assert!(
        message(&b).contains("unknown field `session`; allowed: session_id"),
        "{b}"
    );

    // Pay, then a partial refund retried with the same id.
    let out = app.pay(&t1, &order_id).await;
    assert_eq!(out["callback"]["result"], "applied", "{out}");
    assert_eq!(order(app, &owner, &order_id).await["status"], "to_ship");
    let refund = json!({ "refund_id": "r1", "amount": 300, "reason": "dented cup" });
    for _ in 0..2 {
        let (st, r) = app
            .post(
                &format!("/api/v1/orders/{order_id}/refunds"),
                &owner,
                refund.clone(),
            )
            .await;
        assert_eq!(st, 201, "{r}");
    }
    let r = Room {
        shop: shop.clone(),
        owner: owner.clone(),
        tea_product: tea_product.clone(),
        tea: tea.clone(),
        session: session.clone(),
    };
    let expected = |s: &Value| {
        assert_eq!(s["viewers"], 2, "{s}");
        assert_eq!(s["orders"], 1, "{s}");
        assert_eq!(s["paid_orders"], 1, "{s}");
        assert_eq!(s["paid_amount"], 1_700, "{s}");
        assert_eq!(s["refunds"], 1, "{s}");
        assert_eq!(s["refund_amount"], 300, "{s}");
        assert_eq!(s["net_amount"], 1_400, "{s}");
        assert_eq!(s["closed_unpaid"], 0, "{s}");
        assert_eq!(s["items"][0]["sold"], 2, "{s}");
    };
    expected(&stats(app, &r).await);
    // The paid order's timer is gone: it can never cancel a paid order.
    assert!(timers(app, &shop).await.is_empty());
    // Payment and refund events delivered twice still count once.
    redeliver(app, &shop, "order-paid", &order_id, "paid").await;
    redeliver(app, &shop, "order-refunded", &order_id, "refund").await;
    expected(&stats(app, &r).await);
    let (st, b) = action(app, &t1, "stats", json!({ "session_id": session })).await;
    assert_eq!(st, 403, "stats are for staff: {b}");

    // The session ends (by staff here; the clock would at ends_at): no more sales.
    let (st, s) = action(app, &owner, "end-session", json!({ "session_id": session })).await;
    assert_eq!(st, 200, "{s}");
    assert_eq!(s["status"], "ended");
    let (st, b) = buy_tea(app, &r, &t2, "after-end").await;
    assert_refused(st, &b, "has ended");

    // Another shop sees none of it.
    let (other_shop, other_owner) = app.shop("Other Shop").await;
    app.install(&other_owner, PLUGIN, None).await;
    let (st, b) = action(
        app,
        &other_owner,
        "get-session",
        json!({ "session_id": session }),
    )
    .await;
    assert_eq!(st, 404, "{b}");
    let (_, other_sku) = app.product(&other_owner, "Tea", 1_000, 10).await;
    let (_, ot) = app.member(&other_shop, "Stranger").await;
    let (st, b) = checkout(app, &ot, &body(&session, &[(&other_sku, 1)]), "x-shop").await;
    assert_eq!(st, 404, "{b}");
    let (st, b) = action(app, &other_owner, "list-sessions", json!({})).await;
    assert_eq!((st, b["sessions"].clone()), (200, json!([])));
}

// ---- a flash sale sells out -------------------------------------------------------------

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn flash_sale_sells_out_at_its_live_stock() {
    for app in TestApp::each_backend().await {
        flash_sale(&app).await;
        app.cleanup().await;
    }
}

async fn flash_sale(app: &TestApp) {
    let r = &room(app, "Flash Sale").await;
    add_tea(app, r, 5, 1).await;
    let buyers = members(app, &r.shop, 8).await;

    let results = join_all(
        buyers
            .iter()
            .enumerate()
            .map(|(i, (_, t))| async move { buy_tea(app, r, t, &format!("flash-{i}")).await }),
    )
    .await;

    let mut sold = Vec::new();
    for (st, b) in &results {
        match st {
            201 => sold.push(b.clone()),
            _ => assert_refused(*st, b, "sold out"),
        }
    }
    assert_eq!(sold.len(), 5, "[{:?}] {results:?}", app.backend);
    for o in &sold {
        assert_eq!(o["payable_amount"], 600, "{o}");
        let adj = &o["lines"][0]["adjustments"][0];
        assert_eq!(
            (adj["plugin"].as_str(), adj["stage"].as_str()),
            (Some(PLUGIN), Some("item"))
        );
        assert_eq!(adj["reference"], r.session.as_str());
    }
    assert_eq!(remaining(app, r).await, 0);
    assert_eq!(tea_item(app, r).await["sold"], 5);
    assert_eq!(stats(app, r).await["orders"], 5);
    // Only the winners took catalog stock; each has its unpaid timer.
    let (st, p) = app
        .get(&format!("/api/v1/products/{}", r.tea_product), &r.owner)
        .await;
    assert_eq!(st, 200, "{p}");
    assert_eq!(p["skus"][0]["stock"], 95, "{p}");
    assert_eq!(timers(app, &r.shop).await.len(), 5);
}

// ---- the last live unit is sold once ----------------------------------------------------

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn last_live_unit_is_sold_exactly_once_under_20_concurrent_checkouts() {
    for app in TestApp::each_backend().await {
        last_unit(&app).await;
        app.cleanup().await;
    }
}

async fn last_unit(app: &TestApp) {
    let r = &room(app, "Last Unit Live").await;
    add_tea(app, r, 1, 1).await;
    let buyers = members(app, &r.shop, 20).await;

    let results = join_all(
        buyers
            .iter()
            .enumerate()
            .map(|(i, (_, t))| async move { buy_tea(app, r, t, &format!("last-{i}")).await }),
    )
    .await;

    let won: Vec<&Value> = results
        .iter()
        .filter(|(st, _)| *st == 201)
        .map(|(_, b)| b)
        .collect();
    assert_eq!(won.len(), 1, "[{:?}] {results:?}", app.backend);
    for (st, b) in results.iter().filter(|(st, _)| *st != 201) {
        assert!(
            *st < 500,
            "a losing checkout is refused, not a crash: {st} {b}"
        );
        assert_refused(*st, b, "sold out");
    }
    let (st, all) = app.get("/api/v1/orders", &r.owner).await;
    assert_eq!(st, 200, "{all}");
    assert_eq!(all["orders"].as_array().unwrap().len(), 1, "{all}");
    assert_eq!(remaining(app, r).await, 0);
    assert_eq!(stats(app, r).await["orders"], 1);
}

// ---- unpaid orders are cancelled and their stock returned ------------------------------

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn unpaid_live_order_is_cancelled_by_the_timer_and_its_stock_resold() {
    for app in TestApp::each_backend().await {
        let app = unpaid_timeout(app).await;
        app.cleanup().await;
    }
}

async fn unpaid_timeout(app: TestApp) -> TestApp {
    let r = room(&app, "Unpaid Live").await;
    add_tea(&app, &r, 1, 1).await;
    let (_, ta) = app.member(&r.shop, "Hesitant").await;
    let (_, tb) = app.member(&r.shop, "Eager").await;

    let (st, a) = buy_tea(&app, &r, &ta, "a").await;
    assert_eq!(st, 201, "{a}");
    let a_id = a["id"].as_str().unwrap().to_string();
    let (st, b) = buy_tea(&app, &r, &tb, "b-1").await;
    assert_refused(st, &b, "sold out");
    let t = timers(&app, &r.shop).await;
    assert_eq!(t.len(), 1);
    assert_eq!(t[0].name, format!("unpaid/{a_id}"));
    assert_eq!(t[0].due_at, a["created_at"].as_i64().unwrap() + 60_000);

    // Not a moment early — and the timer survives a restart of the node.
    app.advance(59_999).await;
    assert_eq!(
        order(&app, &r.owner, &a_id).await["status"],
        "pending_payment"
    );
    let app = app.restart().await;
    app.advance(1).await;
    app.platform().flush_events().await;
    let closed = order(&app, &r.owner, &a_id).await;
    assert_eq!(closed["status"], "closed", "{closed}");
    assert_eq!(closed["close_reason"], "plugin:live-sale:unpaid live order");
    assert_eq!(
        remaining(&app, &r).await,
        1,
        "the order-closed event returned the unit"
    );
    let (st, p) = app
        .post(&format!("/api/v1/orders/{a_id}/payments"), &ta, json!({}))
        .await;
    assert_eq!(st, 409, "a cancelled order can't be paid: {p}");

    // Another buyer gets the returned unit.
    let (st, b) = buy_tea(&app, &r, &tb, "b-2").await;
    assert_eq!(st, 201, "{b}");
    let b_id = b["id"].as_str().unwrap().to_string();
    assert_eq!(remaining(&app, &r).await, 0);
    let s = stats(&app, &r).await;
    assert_eq!(
        (s["orders"].as_u64(), s["closed_unpaid"].as_u64()),
        (Some(2), Some(1)),
        "{s}"
    );
    // Paid in time, B keeps it when the clock passes its timeout.
    app.pay(&tb, &b_id).await;
    app.advance(61_000).await;
    app.platform().flush_events().await;
    assert_eq!(order(&app, &r.owner, &b_id).await["status"], "to_ship");
    assert_eq!(remaining(&app, &r).await, 0);
    app
}

// ---- late or duplicate timers and events return nothing twice --------------------------

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn late_or_duplicate_timer_does_not_return_stock_twice() {
    for app in TestApp::each_backend().await {
        duplicate_timer(&app).await;
        app.cleanup().await;
    }
}

async fn duplicate_timer(app: &TestApp) {
    let r = room(app, "Duplicate Timer").await;
    add_tea(app, &r, 2, 1).await;
    let (_, ta) = app.member(&r.shop, "A").await;
    let (_, tb) = app.member(&r.shop, "B").await;
    let (_, tc) = app.member(&r.shop, "C").await;

    let (st, a) = buy_tea(app, &r, &ta, "a").await;
    assert_eq!(st, 201, "{a}");
    let a_id = a["id"].as_str().unwrap().to_string();
    // The timer fires late (well past the 60 s), cancels A, and the close returns the unit.
    app.advance(10 * MIN).await;
    app.platform().flush_events().await;
    assert_eq!(order(app, &r.owner, &a_id).await["status"], "closed");
    assert_eq!(remaining(app, &r).await, 2);
    // B and C buy both units.
    let (st, b) = buy_tea(app, &r, &tb, "b").await;
    assert_eq!(st, 201, "{b}");
    let b_id = b["id"].as_str().unwrap().to_string();
    let (st, c) = buy_tea(app, &r, &tc, "c").await;
    assert_eq!(st, 201, "{c}");
    assert_eq!(remaining(app, &r).await, 0);

    // A's timer comes again, and A's order-closed event is delivered again: no unit
    // reappears (that would oversell B's and C's).
    replay_timer(app, &r.shop, &format!("unpaid/{a_id}"), a_id.as_bytes()).await;
    app.advance(0).await;
    app.platform().flush_events().await;
    redeliver(app, &r.shop, "order-closed", &a_id, "closed").await;
    assert_eq!(remaining(app, &r).await, 0);
    let (_, td) = app.member(&r.shop, "D").await;
    let (st, d) = buy_tea(app, &r, &td, "d").await;
    assert_refused(st, &d, "sold out");
    let s = stats(app, &r).await;
    assert_eq!(s["closed_unpaid"], 1, "{s}");

    // B pays; a stray timer for B afterwards leaves the paid order alone.
    app.pay(&tb, &b_id).await;
    replay_timer(app, &r.shop, &format!("unpaid/{b_id}"), b_id.as_bytes()).await;
    app.advance(0).await;
    app.platform().flush_events().await;
    let paid = order(app, &r.owner, &b_id).await;
    assert_eq!(
        (paid["status"].as_str(), paid["refund_state"].as_str()),
        (Some("to_ship"), Some("none")),
        "{paid}"
    );
    assert_eq!(remaining(app, &r).await, 0);
    assert_eq!(
        timers(app, &r.shop).await.len(),
        1,
        "only C's timer is left"
    );
}
