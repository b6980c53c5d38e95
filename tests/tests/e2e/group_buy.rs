//! Group-buy (拼团) over HTTP with the compiled plugin, on every backend: a group fills and
//! every order ships at once; a group expires and every member is refunded; virtual
//! completion; new-customers-only joiners; the solo-purchase rule and bad input; two joins
//! racing for the last slot; a join racing the expiry; late and repeated timers; timers
//! across a restart.

use baseplate_tests::harness::TestApp;
use futures::future::join_all;
use serde_json::{Value, json};

const HOUR: i64 = 3_600_000;
const PRICE: i64 = 10_000;

/// A shop with one product (10 000 分, stock 100) and the plugin installed.
async fn shop(app: &TestApp, name: &str) -> (String, String, String) {
    let (shop, owner) = app.shop(name).await;
    let (_, sku) = app.product(&owner, "Longjing 250g", PRICE, 100).await;
    app.install(
        &owner,
        "group-buy",
        Some(json!({ "default_validity_hours": 24 })),
    )
    .await;
    (shop, owner, sku)
}

/// Groups of `size`, 24 h, group price 6 000, leader price 5 000, running now for a week,
/// plus `extra`.
async fn activity(app: &TestApp, owner: &str, sku: &str, size: u32, extra: Value) -> String {
    let now = app.clock.now();
    let mut body = json!({
        "name": "Longjing together",
        "sku_id": sku,
        "group_size": size,
        "validity_hours": 24,
        "group_price": 6_000,
        "leader_price": 5_000,
        "start_at": now - HOUR,
        "end_at": now + 7 * 24 * HOUR,
        "stock": 50,
    });
    for (k, v) in extra.as_object().unwrap() {
        body[k] = v.clone();
    }
    let (st, a) = app
        .post(
            "/api/v1/plugins/group-buy/actions/create-activity",
            owner,
            body,
        )
        .await;
    assert_eq!(st, 200, "{a}");
    a["activity_id"].as_str().unwrap().to_string()
}

async fn checkout(
    app: &TestApp,
    token: &str,
    sku: &str,
    activity: &str,
    group: Option<&str>,
) -> (u16, Value) {
    let mut input = json!({ "activity_id": activity });
    if let Some(g) = group {
        input["group_id"] = json!(g);
    }
    app.post(
        "/api/v1/orders",
        token,
        json!({
            "lines": [{ "sku_id": sku, "quantity": 1 }],
            "plugins": { "group-buy": input }
        }),
    )
    .await
}

/// Checks out and expects the order to exist; returns its id.
async fn join(
    app: &TestApp,
    token: &str,
    sku: &str,
    activity: &str,
    group: Option<&str>,
) -> String {
    let (st, o) = checkout(app, token, sku, activity, group).await;
    assert_eq!(st, 201, "{o}");
    assert_eq!(o["status"], "pending_payment");
    o["id"].as_str().unwrap().to_string()
}

fn attribute(order: &Value, key: &str) -> Option<String> {
    order["attributes"]
        .as_array()?
        .iter()
        .find(|a| a["key"] == key)
        .map(|a| a["value"].as_str().unwrap().to_string())
}

async fn order(app: &TestApp, owner: &str, id: &str) -> Value {
    let (st, o) = app.get(&format!("/api/v1/orders/{id}"), owner).await;
    assert_eq!(st, 200, "{o}");
    o
}

async fn statuses(app: &TestApp, owner: &str, ids: &[&str]) -> Vec<String> {
    let mut out = Vec::new();
    for id in ids {
        out.push(
            order(app, owner, id).await["status"]
                .as_str()
                .unwrap()
                .to_string(),
        );
    }
    out
}

async fn refunds(app: &TestApp, owner: &str, id: &str) -> Vec<Value> {
    let (st, r) = app
        .get(&format!("/api/v1/orders/{id}/refunds"), owner)
        .await;
    assert_eq!(st, 200, "{r}");
    r["refunds"].as_array().unwrap().clone()
}

async fn group(app: &TestApp, token: &str, id: &str) -> Value {
    let (st, g) = app
        .post(
            "/api/v1/plugins/group-buy/actions/get-group",
            token,
            json!({ "group_id": id }),
        )
        .await;
    assert_eq!(st, 200, "{g}");
    g
}

async fn stock_taken(app: &TestApp, owner: &str, activity: &str) -> i64 {
    let (st, a) = app
        .post(
            "/api/v1/plugins/group-buy/actions/get-activity",
            owner,
            json!({ "activity_id": activity }),
        )
        .await;
    assert_eq!(st, 200, "{a}");
    a["stock_taken"].as_i64().unwrap()
}

/// A leader opens a group: checks out (leader price) and pays. Returns (order, group).
async fn open_group(app: &TestApp, token: &str, sku: &str, activity: &str) -> (String, String) {
    let (st, o) = checkout(app, token, sku, activity, None).await;
    assert_eq!(st, 201, "{o}");
    assert_eq!(o["payable_amount"], 5_000, "the leader price");
    let id = o["id"].as_str().unwrap().to_string();
    let g = attribute(&o, "group-buy.group_id").expect("the order names its group");
    assert_eq!(attribute(&o, "group-buy.role").as_deref(), Some("leader"));
    app.pay(token, &id).await;
    (id, g)
}

/// The shop's books: balanced, and the sales account holds exactly `sales`.
async fn books(app: &TestApp, owner: &str, sales: i64) {
    let (_, ledger) = app.get("/api/v1/ledger", owner).await;
    assert_eq!(ledger["imbalance"], 0, "{ledger}");
    let (_, bal) = app
        .get("/api/v1/ledger/balance?party=shop&account=sales", owner)
        .await;
    assert_eq!(bal["total"], sales, "{bal}");
}

/// Expects a refused checkout (422) whose message contains `needle`.
fn refused(st: u16, body: &Value, needle: &str) {
    assert_eq!(st, 422, "{body}");
    let msg = body["error"]["message"].as_str().unwrap_or_default();
    assert!(msg.contains(needle), "expected ..{needle}.. in {body}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_group_fills_and_a_group_expires() {
    for app in TestApp::each_backend().await {
        fills_and_expires(&app).await;
        app.cleanup().await;
    }
}

async fn fills_and_expires(app: &TestApp) {
    let (shop, owner, sku) = shop(app, "Tea Together").await;
    let a = activity(app, &owner, &sku, 3, json!({})).await;
    let (_, lead) = app.member(&shop, "Leader").await;
    let (_, t2) = app.member(&shop, "Joiner 2").await;
    let (_, t3) = app.member(&shop, "Joiner 3").await;
    let (_, tx) = app.member(&shop, "Dawdler").await;

    // The leader pays: the group opens and its clock starts at the payment.
    let opened_at = app.clock.now();
    let (o1, g) = open_group(app, &lead, &sku, &a).await;
    assert_eq!(
        order(app, &owner, &o1).await["status"],
        "awaiting_confirmation"
    );
    let view = group(app, &t2, &g).await;
    assert_eq!(view["status"], "open");
    assert_eq!(view["expires_at"], opened_at + 24 * HOUR);
    let (st, list) = app
        .post(
            "/api/v1/plugins/group-buy/actions/list-groups",
            &t2,
            json!({ "activity_id": a }),
        )
        .await;
    assert_eq!(st, 200, "{list}");
    assert_eq!(list["groups"][0]["group_id"], g.as_str());

    // A joiner pays the group price and waits.
    let (st, o) = checkout(app, &t2, &sku, &a, Some(&g)).await;
    assert_eq!(st, 201, "{o}");
    assert_eq!(o["payable_amount"], 6_000);
    assert_eq!(o["lines"][0]["adjustments"][0]["plugin"], "group-buy");
    assert_eq!(o["lines"][0]["adjustments"][0]["stage"], "item");
    assert_eq!(
        attribute(&o, "group-buy.group_id").as_deref(),
        Some(g.as_str())
    );
    let o2 = o["id"].as_str().unwrap().to_string();
    app.pay(&t2, &o2).await;
    assert_eq!(
        statuses(app, &owner, &[&o1, &o2]).await,
        ["awaiting_confirmation", "awaiting_confirmation"]
    );

    // An unpaid joiner holds the last slot: the next one is refused ...
    let ox = join(app, &tx, &sku, &a, Some(&g)).await;
    let (st, full) = checkout(app, &t3, &sku, &a, Some(&g)).await;
    refused(st, &full, "is full");
    // ... until the unpaid order times out (30 min) and gives the slot back.
    app.advance(31 * 60_000).await;
    let closed = order(app, &owner, &ox).await;
    assert_eq!(closed["status"], "closed");
    assert_eq!(closed["close_reason"], "payment_timeout");
    assert_eq!(group(app, &owner, &g).await["slots_left"], 1);

    // The last member pays: every order is confirmed at once.
    let o3 = join(app, &t3, &sku, &a, Some(&g)).await;
    app.pay(&t3, &o3).await;
    assert_eq!(
        statuses(app, &owner, &[&o1, &o2, &o3]).await,
        ["to_ship", "to_ship", "to_ship"]
    );
    let view = group(app, &owner, &g).await;
    assert_eq!(view["status"], "succeeded");
    assert_eq!(view["virtual_completion"], false);
    assert_eq!(view["paid_count"], 3);
    let (st, late) = checkout(app, &tx, &sku, &a, Some(&g)).await;
    refused(st, &late, "already complete");

    // The failure path: a group that never fills. Unpaid orders may wait two days here, so
    // the plugin (not the payment timeout) closes the unpaid one.
    let (st, b) = app
        .request(
            reqwest::Method::PATCH,
            "/api/v1/shop",
            Some(&owner),
            Some(json!({ "payment_timeout_secs": 172_800 })),
            &[],
        )
        .await;
    assert_eq!(st, 200, "{b}");
    let (_, l4) = app.member(&shop, "Leader 4").await;
    let (_, t5) = app.member(&shop, "Joiner 5").await;
    let (_, t6) = app.member(&shop, "Joiner 6").await;
    let (o4, g2) = open_group(app, &l4, &sku, &a).await;
    let o5 = join(app, &t5, &sku, &a, Some(&g2)).await;
    app.pay(&t5, &o5).await;
    let o6 = join(app, &t6, &sku, &a, Some(&g2)).await;
    assert_eq!(stock_taken(app, &owner, &a).await, 6);
    app.advance(24 * HOUR + 1_000).await;
    for (id, paid) in [(&o4, 5_000), (&o5, 6_000)] {
        let o = order(app, &owner, id).await;
        assert_eq!(o["status"], "closed", "{o}");
        assert_eq!(o["refund_state"], "full", "{o}");
        assert_eq!(o["refunded_amount"], paid);
        assert!(
            o["close_reason"].as_str().unwrap().contains("group failed"),
            "{o}"
        );
        assert_eq!(refunds(app, &owner, id).await.len(), 1);
    }
    let o = order(app, &owner, &o6).await;
    assert_eq!(
        (o["status"].clone(), o["payment_status"].clone()),
        (json!("closed"), json!("unpaid"))
    );
    assert!(
        o["close_reason"].as_str().unwrap().contains("group failed"),
        "{o}"
    );
    let view = group(app, &owner, &g2).await;
    assert_eq!(view["status"], "failed");
    // The failed group's stock is back; the successful group's three units stay sold.
    assert_eq!(stock_taken(app, &owner, &a).await, 3);
    // Only the three confirmed orders' money stays in the shop.
    books(app, &owner, 5_000 + 6_000 + 6_000).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn virtual_completion_ships_the_paid_members() {
    for app in TestApp::each_backend().await {
        virtual_completion(&app).await;
        app.cleanup().await;
    }
}

async fn virtual_completion(app: &TestApp) {
    let (shop, owner, sku) = shop(app, "Almost Enough").await;
    // Groups of 3 complete at expiry when ≥ 60% (2 members) paid.
    let a = activity(
        app,
        &owner,
        &sku,
        3,
        json!({ "virtual_completion_bp": 6_000 }),
    )
    .await;
    let (_, lead) = app.member(&shop, "Leader").await;
    let (_, t2) = app.member(&shop, "Joiner").await;
    let (o1, g) = open_group(app, &lead, &sku, &a).await;
    let o2 = join(app, &t2, &sku, &a, Some(&g)).await;
    app.pay(&t2, &o2).await;
    assert_eq!(
        statuses(app, &owner, &[&o1, &o2]).await,
        ["awaiting_confirmation", "awaiting_confirmation"]
    );
    app.advance(24 * HOUR).await;
    assert_eq!(
        statuses(app, &owner, &[&o1, &o2]).await,
        ["to_ship", "to_ship"]
    );
    let view = group(app, &owner, &g).await;
    assert_eq!(view["status"], "succeeded");
    assert_eq!(view["virtual_completion"], true);

    // A lone leader (1 of 3 < 60%) is refunded instead.
    let (_, l3) = app.member(&shop, "Lonely").await;
    let (o3, g3) = open_group(app, &l3, &sku, &a).await;
    app.advance(24 * HOUR).await;
    let o = order(app, &owner, &o3).await;
    assert_eq!(
        (o["status"].clone(), o["refund_state"].clone()),
        (json!("closed"), json!("full"))
    );
    assert_eq!(group(app, &owner, &g3).await["status"], "failed");
    books(app, &owner, 5_000 + 6_000).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn new_customers_only_refuses_returning_buyers() {
    for app in TestApp::each_backend().await {
        new_customers_only(&app).await;
        app.cleanup().await;
    }
}

async fn new_customers_only(app: &TestApp) {
    let (shop, owner, sku) = shop(app, "Bring a Friend").await;
    let (_, cup) = app.product(&owner, "Cup", 2_000, 10).await;
    let a = activity(app, &owner, &sku, 2, json!({ "new_customers_only": true })).await;
    // The returning customer has paid an order before.
    let (_, old) = app.member(&shop, "Regular").await;
    let (st, o) = app
        .post(
            "/api/v1/orders",
            &old,
            json!({ "lines": [{ "sku_id": cup, "quantity": 1 }] }),
        )
        .await;
    assert_eq!(st, 201, "{o}");
    app.pay(&old, o["id"].as_str().unwrap()).await;
    // The leader may be anyone (老带新: the old bring the new) — here, the regular.
    let (o1, g) = open_group(app, &old, &sku, &a).await;
    let (_, again) = app.member(&shop, "Another regular").await;
    let (st, o) = app
        .post(
            "/api/v1/orders",
            &again,
            json!({ "lines": [{ "sku_id": cup, "quantity": 1 }] }),
        )
        .await;
    assert_eq!(st, 201, "{o}");
    app.pay(&again, o["id"].as_str().unwrap()).await;
    let (st, body) = checkout(app, &again, &sku, &a, Some(&g)).await;
    refused(st, &body, "new customers only");
    assert_eq!(group(app, &owner, &g).await["slots_left"], 1);
    // A new customer gets in and completes the group.
    let (_, fresh) = app.member(&shop, "Newcomer").await;
    let o2 = join(app, &fresh, &sku, &a, Some(&g)).await;
    app.pay(&fresh, &o2).await;
    assert_eq!(
        statuses(app, &owner, &[&o1, &o2]).await,
        ["to_ship", "to_ship"]
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn group_only_skus_and_bad_input_are_refused() {
    for app in TestApp::each_backend().await {
        refusals(&app).await;
        app.cleanup().await;
    }
}

async fn refusals(app: &TestApp) {
    let (shop, owner, sku) = shop(app, "Groups Only").await;
    let (_, buyer) = app.member(&shop, "Buyer").await;
    let a = activity(
        app,
        &owner,
        &sku,
        2,
        json!({ "allow_solo": false, "per_order_limit": 1 }),
    )
    .await;
    let plain = json!({ "lines": [{ "sku_id": sku, "quantity": 1 }] });
    let (st, body) = app.post("/api/v1/orders", &buyer, plain.clone()).await;
    refused(st, &body, "sold only in groups");
    // Through a group the SKU sells; over the per-order limit it does not.
    let (st, body) = app
        .post(
            "/api/v1/orders",
            &buyer,
            json!({
                "lines": [{ "sku_id": sku, "quantity": 2 }],
                "plugins": { "group-buy": { "activity_id": a } }
            }),
        )
        .await;
    refused(st, &body, "at most 1 per order");
    // Bad input names the field; unknown activities and groups are 404s.
    let (st, body) = app
        .post(
            "/api/v1/orders",
            &buyer,
            json!({
                "lines": [{ "sku_id": sku, "quantity": 1 }],
                "plugins": { "group-buy": { "activity": a } }
            }),
        )
        .await;
    refused(st, &body, "unknown field `activity`");
    let (st, body) = checkout(app, &buyer, &sku, "act_missing", None).await;
    assert_eq!(st, 404, "{body}");
    let (st, body) = checkout(app, &buyer, &sku, &a, Some("grp_missing")).await;
    assert_eq!(st, 404, "{body}");
    // Members can't create or end activities; staff input is checked field by field.
    let (st, body) = app
        .post(
            "/api/v1/plugins/group-buy/actions/create-activity",
            &buyer,
            json!({}),
        )
        .await;
    assert_eq!(st, 403, "{body}");
    let (st, body) = app
        .post(
            "/api/v1/plugins/group-buy/actions/create-activity",
            &owner,
            json!({ "name": "x", "sku_id": sku, "group_size": 1, "group_price": 1, "start_at": 0, "end_at": 1, "stock": 1 }),
        )
        .await;
    refused(st, &body, "`group_size` must be an integer 2..=100");
    let (st, body) = app
        .put(
            "/api/v1/plugins/group-buy/config",
            &owner,
            json!({ "default_validity_hours": 0 }),
        )
        .await;
    refused(st, &body, "`default_validity_hours`");
    // Once the activity ends the SKU sells alone again, and no new group opens.
    let (st, body) = app
        .post(
            "/api/v1/plugins/group-buy/actions/end-activity",
            &owner,
            json!({ "activity_id": a }),
        )
        .await;
    assert_eq!(st, 200, "{body}");
    let (st, body) = app.post("/api/v1/orders", &buyer, plain).await;
    assert_eq!(st, 201, "{body}");
    let (st, body) = checkout(app, &buyer, &sku, &a, None).await;
    refused(st, &body, "has ended");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn two_joins_race_for_the_last_slot() {
    for app in TestApp::each_backend().await {
        last_slot_race(&app).await;
        app.cleanup().await;
    }
}

async fn last_slot_race(app: &TestApp) {
    let (shop, owner, sku) = shop(app, "Last Seat").await;
    let a = activity(app, &owner, &sku, 3, json!({})).await;
    let (_, lead) = app.member(&shop, "Leader").await;
    let (_, first) = app.member(&shop, "First").await;
    let (o1, g) = open_group(app, &lead, &sku, &a).await;
    let o2 = join(app, &first, &sku, &a, Some(&g)).await;
    app.pay(&first, &o2).await;

    // Five buyers race for the last slot: each checks out and, if it got an order, pays.
    let mut racers = Vec::new();
    for i in 0..5 {
        racers.push(app.member(&shop, &format!("Racer {i}")).await.1);
    }
    let results = join_all(racers.iter().map(|token| {
        let (sku, a, g) = (&sku, &a, &g);
        async move {
            let (st, o) = checkout(app, token, sku, a, Some(g)).await;
            if st == 201 {
                let id = o["id"].as_str().unwrap().to_string();
                let paid = app.pay(token, &id).await;
                (st, Some(id), paid)
            } else {
                (st, None, o)
            }
        }
    }))
    .await;
    let winners: Vec<&String> = results.iter().filter_map(|r| r.1.as_ref()).collect();
    assert_eq!(
        winners.len(),
        1,
        "exactly one racer gets the slot: {results:?}"
    );
    for (st, id, body) in &results {
        if id.is_none() {
            assert_eq!(*st, 422, "the losers are refused: {body}");
        }
    }
    // Never more paid-and-confirmed members than the size.
    let (_, all) = app.get("/api/v1/orders?limit=100", &owner).await;
    let in_group: Vec<&Value> = all["orders"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|o| attribute(o, "group-buy.group_id").as_deref() == Some(g.as_str()))
        .collect();
    assert_eq!(in_group.len(), 3, "{in_group:?}");
    assert!(
        in_group.iter().all(|o| o["status"] == "to_ship"),
        "{in_group:?}"
    );
    assert_eq!(
        statuses(app, &owner, &[&o1, &o2, winners[0]]).await,
        ["to_ship", "to_ship", "to_ship"]
    );

    // Two members already holding the last two slots pay at the same moment: the group
    // fills once and all three orders ship.
    let (_, l2) = app.member(&shop, "Leader 2").await;
    let (o4, g2) = open_group(app, &l2, &sku, &a).await;
    let (_, p5) = app.member(&shop, "Payer 5").await;
    let (_, p6) = app.member(&shop, "Payer 6").await;
    let o5 = join(app, &p5, &sku, &a, Some(&g2)).await;
    let o6 = join(app, &p6, &sku, &a, Some(&g2)).await;
    join_all([(&p5, &o5), (&p6, &o6)].map(|(t, o)| app.pay(t, o))).await;
    app.advance(0).await;
    assert_eq!(
        statuses(app, &owner, &[&o4, &o5, &o6]).await,
        ["to_ship", "to_ship", "to_ship"]
    );
    let view = group(app, &owner, &g2).await;
    assert_eq!(
        (view["status"].clone(), view["paid_count"].clone()),
        (json!("succeeded"), json!(3))
    );
    books(app, &owner, 2 * (5_000 + 2 * 6_000)).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_join_racing_the_expiry_is_all_or_nothing() {
    for app in TestApp::each_backend().await {
        expiry_race(&app).await;
        app.cleanup().await;
    }
}

async fn expiry_race(app: &TestApp) {
    let (shop, owner, sku) = shop(app, "Photo Finish").await;
    // Unpaid orders outlive the group here, so only the group decides.
    let (st, b) = app
        .request(
            reqwest::Method::PATCH,
            "/api/v1/shop",
            Some(&owner),
            Some(json!({ "payment_timeout_secs": 172_800 })),
            &[],
        )
        .await;
    assert_eq!(st, 200, "{b}");
    let a = activity(app, &owner, &sku, 2, json!({})).await;
    let mut outcomes = Vec::new();
    for round in 0..4 {
        let (_, lead) = app.member(&shop, &format!("Leader {round}")).await;
        let (_, joiner) = app.member(&shop, &format!("Joiner {round}")).await;
        let (o1, g) = open_group(app, &lead, &sku, &a).await;
        let o2 = join(app, &joiner, &sku, &a, Some(&g)).await;
        let (st, p) = app
            .post(&format!("/api/v1/orders/{o2}/payments"), &joiner, json!({}))
            .await;
        assert_eq!(st, 201, "{p}");
        let payment = p["payment"]["id"].as_str().unwrap().to_string();
        // The joiner's payment races the expiry timer. Even rounds: the payment starts a
        // millisecond early while the clock moves to the expiry and the timer fires (the
        // payment may land in time or not). Odd rounds: the clock is at the expiry and the
        // payment meets the firing timer head on (it may apply first or bounce off a
        // closed order).
        let expires_at = group(app, &owner, &g).await["expires_at"].as_i64().unwrap();
        let early = round % 2 == 0;
        app.clock
            .advance(expires_at - i64::from(early) - app.clock.now());
        let pay_path = format!("/api/v1/sandbox/payments/{payment}/pay");
        let pay = app.post(&pay_path, &joiner, json!({}));
        let expire = async {
            if early {
                // Let the payment request get going before the clock moves.
                for _ in 0..3 {
                    tokio::task::yield_now().await;
                }
                app.clock.advance(1);
            }
            app.platform().tick().await.expect("background work");
        };
        let ((st, paid), ()) = futures::join!(pay, expire);
        assert_eq!(st, 200, "{paid}");
        app.advance(0).await;
        app.advance(0).await;

        let lead_order = order(app, &owner, &o1).await;
        let join_order = order(app, &owner, &o2).await;
        let view = group(app, &owner, &g).await;
        match view["status"].as_str().unwrap() {
            "succeeded" => {
                assert_eq!(lead_order["status"], "to_ship", "{lead_order}");
                assert_eq!(join_order["status"], "to_ship", "{join_order}");
                outcomes.push(format!("succeeded ({})", paid["callback"]["result"]));
            }
            "failed" => {
                // Everyone's money goes back: never a success with one member refunded.
                assert_eq!(lead_order["refund_state"], "full", "{lead_order}");
                assert_eq!(join_order["status"], "closed", "{join_order}");
                let refunded = join_order["refund_state"] == "full";
                let bounced = paid["callback"]["result"] == "refunded_order_closed";
                assert!(refunded || bounced, "{join_order} {paid}");
                outcomes.push(format!("failed ({})", paid["callback"]["result"]));
            }
            other => panic!("group {g} ended {other}: {view}"),
        }
        // Nothing changes after the dust settles, however often the worker runs.
        app.advance(HOUR).await;
        assert_eq!(group(app, &owner, &g).await["status"], view["status"]);
        assert!(refunds(app, &owner, &o1).await.len() <= 1);
    }
    eprintln!("join-vs-expiry outcomes: {outcomes:?}");
    let (_, ledger) = app.get("/api/v1/ledger", &owner).await;
    assert_eq!(ledger["imbalance"], 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_late_or_repeated_timer_refunds_once() {
    for app in TestApp::each_backend().await {
        late_timer(&app).await;
        app.cleanup().await;
    }
}

async fn late_timer(app: &TestApp) {
    let (shop, owner, sku) = shop(app, "Slow Clock").await;
    let a = activity(app, &owner, &sku, 3, json!({})).await;
    let (_, lead) = app.member(&shop, "Leader").await;
    let (_, t2) = app.member(&shop, "Joiner").await;
    let (o1, g) = open_group(app, &lead, &sku, &a).await;
    let o2 = join(app, &t2, &sku, &a, Some(&g)).await;
    app.pay(&t2, &o2).await;
    // The worker was down for a day: the timer fires six hours late.
    app.advance(30 * HOUR).await;
    // ... and again, and again.
    app.advance(24 * HOUR).await;
    app.advance(24 * HOUR).await;
    for (id, paid) in [(&o1, 5_000), (&o2, 6_000)] {
        let o = order(app, &owner, id).await;
        assert_eq!(o["refund_state"], "full", "{o}");
        assert_eq!(o["refunded_amount"], paid, "refunded once, in full");
        assert_eq!(refunds(app, &owner, id).await.len(), 1, "no double refund");
    }
    assert_eq!(group(app, &owner, &g).await["status"], "failed");
    books(app, &owner, 0).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn the_expiry_timer_survives_a_restart() {
    for app in TestApp::each_backend().await {
        let app = restart(app).await;
        app.cleanup().await;
    }
}

async fn restart(app: TestApp) -> TestApp {
    let (shop, owner, sku) = shop(&app, "Power Cut").await;
    let a = activity(&app, &owner, &sku, 2, json!({})).await;
    let (_, lead) = app.member(&shop, "Leader").await;
    let (o1, g) = open_group(&app, &lead, &sku, &a).await;
    let app = app.restart().await;
    app.advance(12 * HOUR).await;
    assert_eq!(group(&app, &owner, &g).await["status"], "open");
    assert_eq!(
        order(&app, &owner, &o1).await["status"],
        "awaiting_confirmation"
    );
    app.advance(12 * HOUR).await;
    let o = order(&app, &owner, &o1).await;
    assert_eq!(
        (o["status"].clone(), o["refund_state"].clone()),
        (json!("closed"), json!("full"))
    );
    app.advance(24 * HOUR).await;
    assert_eq!(refunds(&app, &owner, &o1).await.len(), 1, "fired once");
    assert_eq!(group(&app, &owner, &g).await["status"], "failed");
    books(&app, &owner, 0).await;
    app
}
