//! The store-binding plugin (门店导购) over HTTP, on every backend: outlets and employees,
//! binding by code and share link inside vs. after the protection period with the order
//! attribution snapshotted at creation, `takeover: "never"`, binding expiry, dismissed
//! employees, the paid membership's reward in the ledger and its reversal by refunds, and
//! two employees racing for one member.

use baseplate_tests::harness::TestApp;
use futures::future::join_all;
use serde_json::{Value, json};

const DAY_MS: i64 = 86_400_000;

/// 30-day bindings protected for 7 days, taken over after protection.
fn config() -> Value {
    json!({ "validity_days": 30, "protection_days": 7, "takeover": "after_protection" })
}

async fn action(app: &TestApp, token: &str, name: &str, input: Value) -> (u16, Value) {
    app.post(
        &format!("/api/v1/plugins/store-binding/actions/{name}"),
        token,
        input,
    )
    .await
}

async fn ok(app: &TestApp, token: &str, name: &str, input: Value) -> Value {
    let (st, b) = action(app, token, name, input).await;
    assert_eq!(st, 200, "{name}: {b}");
    b
}

async fn outlet(app: &TestApp, owner: &str, name: &str) -> String {
    let b = ok(app, owner, "create-outlet", json!({ "name": name })).await;
    b["outlet_id"].as_str().unwrap().to_string()
}

/// (employee id, code).
async fn employee(app: &TestApp, owner: &str, outlet_id: &str, name: &str) -> (String, String) {
    let b = ok(
        app,
        owner,
        "create-employee",
        json!({ "outlet_id": outlet_id, "name": name }),
    )
    .await;
    assert_eq!(b["outlet_id"], outlet_id);
    assert_eq!(b["status"], "active");
    (
        b["employee_id"].as_str().unwrap().to_string(),
        b["code"].as_str().unwrap().to_string(),
    )
}

async fn bind_code(app: &TestApp, token: &str, code: &str) -> (u16, Value) {
    action(app, token, "bind", json!({ "via": "code", "code": code })).await
}

async fn bind_link(app: &TestApp, token: &str, employee_id: &str) -> (u16, Value) {
    action(
        app,
        token,
        "bind",
        json!({ "via": "link", "employee_id": employee_id }),
    )
    .await
}

async fn my_binding(app: &TestApp, token: &str) -> Value {
    ok(app, token, "my-binding", json!({})).await["binding"].clone()
}

/// A checkout of one unit of `sku`, with `input` for the plugin if given.
async fn checkout(app: &TestApp, token: &str, sku: &str, input: Option<Value>) -> (u16, Value) {
    let mut body = json!({ "lines": [{ "sku_id": sku, "quantity": 1 }] });
    if let Some(input) = input {
        body["plugins"] = json!({ "store-binding": input });
    }
    app.post("/api/v1/orders", token, body).await
}

async fn order(app: &TestApp, token: &str, sku: &str, input: Option<Value>) -> Value {
    let (st, o) = checkout(app, token, sku, input).await;
    assert_eq!(st, 201, "{o}");
    o
}

/// The order's `store-binding.<key>` attribute.
fn attr(order: &Value, key: &str) -> Option<String> {
    order["attributes"]
        .as_array()
        .unwrap()
        .iter()
        .find(|a| a["key"] == format!("store-binding.{key}"))
        .map(|a| a["value"].as_str().unwrap().to_string())
}

async fn get_order(app: &TestApp, owner: &str, id: &str) -> Value {
    let (st, o) = app.get(&format!("/api/v1/orders/{id}"), owner).await;
    assert_eq!(st, 200, "{o}");
    o
}

async fn balance(app: &TestApp, owner: &str, party: &str, account: &str) -> i64 {
    let (st, b) = app
        .get(
            &format!("/api/v1/ledger/balance?party={party}&account={account}"),
            owner,
        )
        .await;
    assert_eq!(st, 200, "{b}");
    b["total"].as_i64().unwrap()
}

async fn imbalance(app: &TestApp, owner: &str) -> i64 {
    let (st, l) = app.get("/api/v1/ledger", owner).await;
    assert_eq!(st, 200, "{l}");
    l["imbalance"].as_i64().unwrap()
}

fn refused(st: u16, body: &Value, needle: &str) {
    assert_eq!(st, 422, "{body}");
    assert_eq!(body["error"]["code"], "plugin_refused", "{body}");
    let msg = body["error"]["message"].as_str().unwrap();
    assert!(msg.contains(needle), "{msg:?} does not say {needle:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn protection_takeover_and_snapshot_attribution() {
    for app in TestApp::each_backend().await {
        protection_and_snapshot(&app).await;
        app.cleanup().await;
    }
}

async fn protection_and_snapshot(app: &TestApp) {
    let (shop, owner) = app.shop("Tea Chain").await;
    let (_, tea) = app.product(&owner, "Longjing", 6_000, 100).await;
    // Order 1 is paid after the takeover, so it must stay payable past the protection.
    let (st, body) = app
        .request(
            reqwest::Method::PATCH,
            "/api/v1/shop",
            Some(&owner),
            Some(json!({ "payment_timeout_secs": 7 * 24 * 3600 })),
            &[],
        )
        .await;
    assert_eq!(st, 200, "{body}");
    let mut cfg = config();
    cfg["protection_days"] = json!(2);
    app.install(&owner, "store-binding", Some(cfg)).await;
    let west = outlet(app, &owner, "West Lake").await;
    let bin = outlet(app, &owner, "Binjiang").await;
    let (a, code_a) = employee(app, &owner, &west, "Ada").await;
    let (b, code_b) = employee(app, &owner, &bin, "Bo").await;
    assert_ne!(code_a, code_b);
    let (member, mtoken) = app.member(&shop, "Xiao Li").await;

    // The member scans A's code: bound to A and A's outlet.
    let (st, bound) = bind_code(app, &mtoken, &code_a).await;
    assert_eq!(st, 200, "{bound}");
    assert_eq!(bound["result"], "new");
    assert_eq!(bound["binding"]["member_id"], member.as_str());
    assert_eq!(bound["binding"]["protected"], true);
    let order1 = order(app, &mtoken, &tea, None).await;
    assert_eq!(attr(&order1, "employee_id"), Some(a.clone()));
    assert_eq!(attr(&order1, "outlet_id"), Some(west.clone()));

    // Inside the protection period B cannot take the member, by code or by link.
    let (st, body) = bind_code(app, &mtoken, &code_b).await;
    refused(st, &body, "protected until");
    app.advance(2 * DAY_MS - 60_000).await;
    let (st, body) = bind_link(app, &mtoken, &b).await;
    refused(st, &body, &format!("bound to employee {a}"));
    let order_still_a = order(app, &mtoken, &tea, None).await;
    assert_eq!(attr(&order_still_a, "employee_id"), Some(a.clone()));

    // After it, B's share link takes the member over.
    app.advance(60_000).await;
    let (st, body) = bind_link(app, &mtoken, &b).await;
    assert_eq!(st, 200, "{body}");
    assert_eq!(body["result"], "taken_over");
    assert_eq!(body["binding"]["previous_employee_id"], a.as_str());
    let mine = my_binding(app, &mtoken).await;
    assert_eq!(
        (mine["employee_name"].as_str(), mine["outlet_name"].as_str()),
        (Some("Bo"), Some("Binjiang"))
    );
    // Now A is the one kept out.
    let (st, body) = bind_code(app, &mtoken, &code_a).await;
    refused(st, &body, "protected until");

    // Order 2 goes to B; order 1 keeps A.
    let order2 = order(app, &mtoken, &tea, None).await;
    assert_eq!(attr(&order2, "employee_id"), Some(b.clone()));
    assert_eq!(attr(&order2, "outlet_id"), Some(bin.clone()));
    let order1_now = get_order(app, &owner, order1["id"].as_str().unwrap()).await;
    assert_eq!(attr(&order1_now, "employee_id"), Some(a.clone()));
    assert_eq!(attr(&order1_now, "outlet_id"), Some(west.clone()));
    // Paying order 1 after the takeover counts it for A still.
    app.pay(&mtoken, order1["id"].as_str().unwrap()).await;
    let stats_a = ok(app, &owner, "employee-stats", json!({ "employee_id": a })).await;
    assert_eq!(stats_a["stats"]["orders"], 2);
    assert_eq!(stats_a["stats"]["paid_orders"], 1);
    assert_eq!(stats_a["stats"]["paid_amount"], 6_000);
    assert_eq!(stats_a["active_bindings"], 0);
    let stats_b = ok(app, &owner, "employee-stats", json!({ "employee_id": b })).await;
    assert_eq!(stats_b["stats"]["orders"], 1);
    assert_eq!(stats_b["active_bindings"], 1);

    // Staff see the binding under B only.
    let by_a = ok(app, &owner, "list-bindings", json!({ "employee_id": a })).await;
    assert_eq!(by_a["bindings"], json!([]));
    let by_b = ok(app, &owner, "list-bindings", json!({ "outlet_id": bin })).await;
    assert_eq!(by_b["bindings"][0]["member_id"], member.as_str());

    // Members can't run staff actions; staff actions check their input.
    let (st, body) = action(app, &mtoken, "create-outlet", json!({ "name": "X" })).await;
    assert_eq!(st, 403, "{body}");
    let (st, body) = action(app, &mtoken, "list-bindings", json!({})).await;
    assert_eq!(st, 403, "{body}");
    let (st, body) = action(app, &owner, "create-employee", json!({ "outlet_id": west })).await;
    assert_eq!(st, 422, "{body}");
    assert!(
        body["error"]["message"]
            .as_str()
            .unwrap()
            .contains("`name` is required"),
        "{body}"
    );
    let (st, body) = bind_code(app, &mtoken, "NOSUCH").await;
    assert_eq!(st, 404, "{body}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn never_takeover_expiry_and_dismissal() {
    for app in TestApp::each_backend().await {
        never_expiry_dismissal(&app).await;
        app.cleanup().await;
    }
}

async fn never_expiry_dismissal(app: &TestApp) {
    let (shop, owner) = app.shop("Bakery").await;
    let (_, bread) = app.product(&owner, "Bread", 1_500, 100).await;
    // A bad config is refused with the field named; the good one installs.
    let (st, body) = app
        .post(
            "/api/v1/plugins",
            &owner,
            json!({ "name": "store-binding", "config": { "takeover": "sometimes" },
                    "accept_capabilities": app.capabilities(&owner, "store-binding").await }),
        )
        .await;
    assert_eq!(st, 422, "{body}");
    assert!(
        body["error"]["message"]
            .as_str()
            .unwrap()
            .contains("`takeover` must be \"never\", \"anytime\" or \"after_protection\""),
        "{body}"
    );
    app.install(
        &owner,
        "store-binding",
        Some(json!({ "validity_days": 10, "protection_days": 2, "takeover": "never" })),
    )
    .await;
    let main = outlet(app, &owner, "Main St").await;
    let (a, code_a) = employee(app, &owner, &main, "Ada").await;
    let (b, code_b) = employee(app, &owner, &main, "Bo").await;
    let (_, m1) = app.member(&shop, "One").await;
    let (_, m2) = app.member(&shop, "Two").await;

    let (st, body) = bind_code(app, &m1, &code_a).await;
    assert_eq!(st, 200, "{body}");
    // `never`: B is refused inside protection and after it, while the binding is valid.
    let (st, body) = bind_code(app, &m1, &code_b).await;
    refused(st, &body, "protected until");
    app.advance(5 * DAY_MS).await;
    let (st, body) = bind_code(app, &m1, &code_b).await;
    refused(st, &body, "does not allow takeovers");
    assert_eq!(my_binding(app, &m1).await["employee_id"], a.as_str());

    // The binding lapses at day 10: orders are no longer attributed, and B can bind.
    app.advance(5 * DAY_MS).await;
    let lapsed = my_binding(app, &m1).await;
    assert_eq!(lapsed["status"], "expired", "{lapsed}");
    let unattributed = order(app, &m1, &bread, None).await;
    assert_eq!(attr(&unattributed, "employee_id"), None);
    let (st, body) = bind_code(app, &m1, &code_b).await;
    assert_eq!(st, 200, "{body}");
    assert_eq!(body["result"], "new");
    let to_b = order(app, &m1, &bread, None).await;
    assert_eq!(attr(&to_b, "employee_id"), Some(b.clone()));

    // Re-binding to the same employee refreshes the validity.
    app.advance(8 * DAY_MS).await;
    let (st, body) = bind_link(app, &m1, &b).await;
    assert_eq!(st, 200, "{body}");
    assert_eq!(body["result"], "refreshed");
    app.advance(8 * DAY_MS).await;
    assert_eq!(my_binding(app, &m1).await["status"], "active");

    // A dismissed employee gets no new bindings, but keeps the ones it has.
    let (st, body) = bind_link(app, &m2, &a).await;
    assert_eq!(st, 200, "{body}");
    let (st, dismissed) =
        action(app, &owner, "dismiss-employee", json!({ "employee_id": a })).await;
    assert_eq!(st, 200, "{dismissed}");
    assert_eq!(dismissed["status"], "dismissed");
    let (_, m3) = app.member(&shop, "Three").await;
    let (st, body) = bind_code(app, &m3, &code_a).await;
    refused(st, &body, "has been dismissed");
    assert_eq!(my_binding(app, &m3).await, Value::Null);
    let kept = order(app, &m2, &bread, None).await;
    assert_eq!(attr(&kept, "employee_id"), Some(a.clone()));
    let active = ok(app, &owner, "list-employees", json!({ "status": "active" })).await;
    assert_eq!(active["employees"].as_array().unwrap().len(), 1);
    assert_eq!(active["employees"][0]["employee_id"], b.as_str());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn paid_membership_rewards_employee_and_outlet_and_refunds_reverse_it() {
    for app in TestApp::each_backend().await {
        membership(&app).await;
        app.cleanup().await;
    }
}

async fn membership(app: &TestApp) {
    let (shop, owner) = app.shop("Fashion Chain").await;
    let (_, vip) = app.product(&owner, "VIP membership", 990, 1_000).await;
    let (_, scarf) = app.product(&owner, "Scarf", 5_000, 100).await;
    let mut cfg = config();
    cfg["membership"] = json!({ "sku_id": vip, "employee_share": 500, "outlet_share": 490 });
    app.install(&owner, "store-binding", Some(cfg)).await;
    let west = outlet(app, &owner, "West Lake").await;
    let (a, code_a) = employee(app, &owner, &west, "Ada").await;
    let (_, mtoken) = app.member(&shop, "Xiao Wang").await;

    // Failure paths: an unknown code, or a code without the membership in the cart.
    let (st, body) = checkout(
        app,
        &mtoken,
        &vip,
        Some(json!({ "employee_code": "ZZZZZZ" })),
    )
    .await;
    assert_eq!(st, 404, "{body}");
    let (st, body) = checkout(
        app,
        &mtoken,
        &scarf,
        Some(json!({ "employee_code": code_a })),
    )
    .await;
    assert_eq!(st, 422, "{body}");
    assert!(
        body["error"]["message"]
            .as_str()
            .unwrap()
            .contains("binds only with the paid membership"),
        "{body}"
    );
    assert_eq!(my_binding(app, &mtoken).await, Value::Null);

    // Buying the membership with A's code binds the member and attributes the order.
    let vip_order = order(app, &mtoken, &vip, Some(json!({ "employee_code": code_a }))).await;
    assert_eq!(attr(&vip_order, "employee_id"), Some(a.clone()));
    assert_eq!(attr(&vip_order, "outlet_id"), Some(west.clone()));
    assert_eq!(my_binding(app, &mtoken).await["via"], "membership");
    let emp = format!("employee:{a}");
    let out = format!("outlet:{west}");
    assert_eq!(
        balance(app, &owner, &emp, "reward").await,
        0,
        "nothing before payment"
    );

    let order_id = vip_order["id"].as_str().unwrap().to_string();
    let paid = app.pay(&mtoken, &order_id).await;
    assert_eq!(paid["callback"]["result"], "applied", "{paid}");
    assert_eq!(balance(app, &owner, &emp, "reward").await, 500);
    assert_eq!(balance(app, &owner, &out, "reward").await, 490);
    // 990 came in, 990 went out to the employee and the store.
    assert_eq!(balance(app, &owner, "shop", "sales").await, 0);
    assert_eq!(imbalance(app, &owner).await, 0);

    // A partial refund of 330 reverses a third, rounded down: 166 and 163.
    let refund = json!({ "refund_id": "r1", "amount": 330, "reason": "partial" });
    for _ in 0..2 {
        let (st, r) = app
            .post(
                &format!("/api/v1/orders/{order_id}/refunds"),
                &owner,
                refund.clone(),
            )
            .await;
        assert_eq!(st, 201, "{r}");
        assert_eq!(balance(app, &owner, &emp, "reward").await, 500 - 166);
        assert_eq!(balance(app, &owner, &out, "reward").await, 490 - 163);
    }
    // The rest: the reward is gone entirely.
    let (st, r) = app
        .post(
            &format!("/api/v1/orders/{order_id}/refunds"),
            &owner,
            json!({ "refund_id": "r2", "amount": 660, "reason": "rest" }),
        )
        .await;
    assert_eq!(st, 201, "{r}");
    assert_eq!(balance(app, &owner, &emp, "reward").await, 0);
    assert_eq!(balance(app, &owner, &out, "reward").await, 0);
    assert_eq!(balance(app, &owner, "shop", "sales").await, 0);
    assert_eq!(imbalance(app, &owner).await, 0);
    // Every payment and refund event took effect at its first delivery.
    for status in ["pending", "dead"] {
        let (st, events) = app
            .get(&format!("/api/v1/events?status={status}"), &owner)
            .await;
        assert_eq!(st, 200, "{events}");
        assert_eq!(events["deliveries"], json!([]), "{status}: {events}");
    }

    // The scarf bought later by the bound member is attributed but rewards nothing.
    let scarf_order = order(app, &mtoken, &scarf, None).await;
    assert_eq!(attr(&scarf_order, "employee_id"), Some(a.clone()));
    app.pay(&mtoken, scarf_order["id"].as_str().unwrap()).await;
    assert_eq!(balance(app, &owner, &emp, "reward").await, 0);
    let stats = ok(app, &owner, "employee-stats", json!({ "employee_id": a })).await;
    assert_eq!(stats["stats"]["memberships"], 1);
    assert_eq!(stats["stats"]["paid_orders"], 2);
    assert_eq!(stats["stats"]["refunded_amount"], 990);

    // The same code means nothing in another shop.
    let (shop2, owner2) = app.shop("Other Shop").await;
    let (_, vip2) = app.product(&owner2, "VIP", 990, 10).await;
    let mut cfg2 = config();
    cfg2["membership"] = json!({ "sku_id": vip2, "employee_share": 500, "outlet_share": 490 });
    app.install(&owner2, "store-binding", Some(cfg2)).await;
    let (_, other) = app.member(&shop2, "Stranger").await;
    let (st, body) = bind_code(app, &other, &code_a).await;
    assert_eq!(st, 404, "{body}");
    let (st, body) = checkout(app, &other, &vip2, Some(json!({ "employee_code": code_a }))).await;
    assert_eq!(st, 404, "{body}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn two_employees_binding_one_member_at_once_one_wins() {
    for app in TestApp::each_backend().await {
        race(&app).await;
        app.cleanup().await;
    }
}

async fn race(app: &TestApp) {
    let (shop, owner) = app.shop("Race Shop").await;
    let (_, vip) = app.product(&owner, "VIP", 990, 1_000).await;
    let mut cfg = config();
    cfg["membership"] = json!({ "sku_id": vip, "employee_share": 500, "outlet_share": 490 });
    app.install(&owner, "store-binding", Some(cfg)).await;
    let o1 = outlet(app, &owner, "North").await;
    let o2 = outlet(app, &owner, "South").await;
    let (a, code_a) = employee(app, &owner, &o1, "Ada").await;
    let (b, code_b) = employee(app, &owner, &o2, "Bo").await;

    // Four members, each scanned by both employees at the same moment.
    let mut members = Vec::new();
    for i in 0..4 {
        members.push(app.member(&shop, &format!("m{i}")).await);
    }
    let attempts = members.iter().flat_map(|(_, token)| {
        [
            bind_code(app, token, &code_a),
            bind_code(app, token, &code_b),
        ]
    });
    let results = join_all(attempts).await;
    for (i, pair) in results.chunks(2).enumerate() {
        let wins = pair.iter().filter(|(st, _)| *st == 200).count();
        assert_eq!(wins, 1, "member {i}: {pair:?}");
        for (st, body) in pair {
            if *st != 200 {
                refused(*st, body, "protected until");
            }
        }
        let winner = &pair.iter().find(|(st, _)| *st == 200).unwrap().1;
        let mine = my_binding(app, &members[i].1).await;
        assert_eq!(mine["employee_id"], winner["binding"]["employee_id"]);
    }
    let all = ok(app, &owner, "list-bindings", json!({})).await;
    assert_eq!(all["bindings"].as_array().unwrap().len(), 4);
    let stats_a = ok(app, &owner, "employee-stats", json!({ "employee_id": a })).await;
    let stats_b = ok(app, &owner, "employee-stats", json!({ "employee_id": b })).await;
    assert_eq!(
        stats_a["active_bindings"].as_i64().unwrap() + stats_b["active_bindings"].as_i64().unwrap(),
        4
    );
    assert_eq!(
        stats_a["stats"]["bindings"].as_i64().unwrap()
            + stats_b["stats"]["bindings"].as_i64().unwrap(),
        4
    );

    // Two membership checkouts of a fresh member, through A and B at once: both orders go
    // through, one employee binds the member, and both orders are attributed to that one.
    let (_, fresh) = app.member(&shop, "fresh").await;
    let checkouts = [code_a.as_str(), code_b.as_str()]
        .map(|code| checkout(app, &fresh, &vip, Some(json!({ "employee_code": code }))));
    let orders = join_all(checkouts).await;
    for (st, o) in &orders {
        assert_eq!(*st, 201, "{o}");
    }
    let bound = my_binding(app, &fresh).await["employee_id"]
        .as_str()
        .unwrap()
        .to_string();
    let refusals = orders
        .iter()
        .filter(|(_, o)| attr(o, "bind_refused").is_some())
        .count();
    assert_eq!(refusals, 1, "{orders:?}");
    for (_, o) in &orders {
        assert_eq!(attr(o, "employee_id"), Some(bound.clone()));
        app.pay(&fresh, o["id"].as_str().unwrap()).await;
    }
    // Both memberships reward the employee who won; the books balance.
    assert_eq!(
        balance(app, &owner, &format!("employee:{bound}"), "reward").await,
        1_000
    );
    let loser = if bound == a { &b } else { &a };
    assert_eq!(
        balance(app, &owner, &format!("employee:{loser}"), "reward").await,
        0
    );
    assert_eq!(imbalance(app, &owner).await, 0);
}
