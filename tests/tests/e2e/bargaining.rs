//! The bargaining plugin (砍价) over HTTP, on every backend: a bargain cut to the floor by
//! friends is bought once at the floor price and paid; self-help and repeated helps are
//! refused; an unpaid order that closes gives the bargain back; an expired bargain can be
//! neither helped nor ordered; concurrent helps count once each and never pass the floor;
//! concurrent checkouts of one bargain make one order.

use baseplate_tests::harness::TestApp;
use futures::future::join_all;
use serde_json::{Value, json};

const HOUR_MS: i64 = 3_600_000;

async fn action(app: &TestApp, token: &str, name: &str, body: Value) -> (u16, Value) {
    app.post(
        &format!("/api/v1/plugins/bargaining/actions/{name}"),
        token,
        body,
    )
    .await
}

/// The action's output, which must be a 200.
async fn ok(app: &TestApp, token: &str, name: &str, body: Value) -> Value {
    let (st, out) = action(app, token, name, body).await;
    assert_eq!(st, 200, "{name}: {out}");
    out
}

#[track_caller]
fn refused(st: u16, body: &Value, mentions: &str) {
    assert_eq!(st, 422, "{body}");
    assert_eq!(body["error"]["code"], "plugin_refused", "{body}");
    let message = body["error"]["message"].as_str().unwrap();
    assert!(
        message.contains(mentions),
        "{message:?} should mention {mentions:?}"
    );
}

/// A shop selling product "Longjing" (100.00, stock 10) with bargaining installed.
/// Returns (shop, owner token, product id, sku id).
async fn shop(app: &TestApp) -> (String, String, String, String) {
    let (shop, owner) = app.shop("Tea House").await;
    let (product, sku) = app.product(&owner, "Longjing", 10_000, 10).await;
    app.install(&owner, "bargaining", Some(json!({ "label": "砍价价" })))
        .await;
    (shop, owner, product, sku)
}

async fn activity(app: &TestApp, owner: &str, product: &str, sku: &str, extra: Value) -> String {
    let mut body = json!({
        "name": "Longjing bargain",
        "product_id": product,
        "sku_id": sku,
        "start_price": 10_000,
        "floor_price": 6_000,
        "helpers_needed": 3,
        "cut": { "type": "random", "min": 500, "max": 1_500 },
        "validity_hours": 24,
        "stock": 5,
    });
    for (k, v) in extra.as_object().unwrap() {
        body[k] = v.clone();
    }
    let out = ok(app, owner, "create-activity", body).await;
    out["activity_id"].as_str().unwrap().to_string()
}

async fn members(app: &TestApp, shop: &str, prefix: &str, n: usize) -> Vec<(String, String)> {
    let mut all = Vec::with_capacity(n);
    for i in 0..n {
        all.push(app.member(shop, &format!("{prefix} {i}")).await);
    }
    all
}

async fn checkout(
    app: &TestApp,
    token: &str,
    sku: &str,
    quantity: u32,
    bargain: &str,
    key: &str,
) -> (u16, Value) {
    app.request(
        reqwest::Method::POST,
        "/api/v1/orders",
        Some(token),
        Some(json!({
            "lines": [{ "sku_id": sku, "quantity": quantity }],
            "plugins": { "bargaining": { "bargain_id": bargain } }
        })),
        &[("Idempotency-Key", key)],
    )
    .await
}

async fn get_bargain(app: &TestApp, token: &str, id: &str) -> Value {
    ok(app, token, "get-bargain", json!({ "bargain_id": id })).await
}

async fn sold(app: &TestApp, owner: &str, activity: &str) -> i64 {
    ok(
        app,
        owner,
        "get-activity",
        json!({ "activity_id": activity }),
    )
    .await["sold"]
        .as_i64()
        .unwrap()
}

async fn stock(app: &TestApp, owner: &str, product: &str) -> i64 {
    let (st, p) = app.get(&format!("/api/v1/products/{product}"), owner).await;
    assert_eq!(st, 200, "{p}");
    p["skus"][0]["stock"].as_i64().unwrap()
}

fn cuts(bargain: &Value) -> Vec<i64> {
    bargain["helps"]
        .as_array()
        .unwrap()
        .iter()
        .map(|h| h["cut"].as_i64().unwrap())
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn bargain_to_the_floor_then_buy_once() {
    for app in TestApp::each_backend().await {
        floor_flow(&app).await;
        app.cleanup().await;
    }
}

async fn floor_flow(app: &TestApp) {
    let (shop, owner, product, sku) = shop(app).await;
    let (buyer, btoken) = app.member(&shop, "Xiao Li").await;
    let friends = members(app, &shop, "Friend", 4).await;

    // Bad activities are refused with the field named; members cannot create one.
    let (st, bad) = action(
        app,
        &owner,
        "create-activity",
        json!({ "name": "x", "product_id": product, "sku_id": sku, "start_price": 10_000,
                "floor_price": 10_000, "helpers_needed": 3, "cut": { "type": "fixed", "amount": 1 },
                "validity_hours": 24, "stock": 5 }),
    )
    .await;
    assert_eq!(st, 422, "{bad}");
    assert!(
        bad["error"]["message"]
            .as_str()
            .unwrap()
            .contains("`floor_price`"),
        "{bad}"
    );
    let (st, body) = action(app, &btoken, "create-activity", json!({})).await;
    assert_eq!(st, 403, "{body}");

    let act = activity(app, &owner, &product, &sku, json!({})).await;
    let started = ok(app, &btoken, "start", json!({ "activity_id": act })).await;
    let bargain = started["bargain_id"].as_str().unwrap().to_string();
    assert_eq!(started["price"], 10_000);
    assert_eq!(
        started["expires_at"].as_i64(),
        Some(app.clock.now() + 24 * HOUR_MS)
    );
    let (st, body) = action(app, &btoken, "start", json!({ "activity_id": act })).await;
    refused(st, &body, "is still live");

    // No self-help; before the floor the bargain cannot be ordered.
    let (st, body) = action(app, &btoken, "help", json!({ "bargain_id": bargain })).await;
    refused(st, &body, "cannot help your own bargain");
    let (st, body) = checkout(app, &btoken, &sku, 1, &bargain, "early").await;
    refused(st, &body, "must reach its floor price");

    // One help per friend; staff do not help.
    let first = ok(app, &friends[0].1, "help", json!({ "bargain_id": bargain })).await;
    assert!(
        (500..=1_500).contains(&first["cut"].as_i64().unwrap()),
        "{first}"
    );
    let (st, body) = action(app, &friends[0].1, "help", json!({ "bargain_id": bargain })).await;
    refused(st, &body, "already helped");
    let (st, body) = action(app, &owner, "help", json!({ "bargain_id": bargain })).await;
    assert_eq!(st, 403, "{body}");
    ok(app, &friends[1].1, "help", json!({ "bargain_id": bargain })).await;
    // The third (last needed) helper cuts to the floor.
    let last = ok(app, &friends[2].1, "help", json!({ "bargain_id": bargain })).await;
    assert_eq!(last["status"], "succeeded", "{last}");
    assert_eq!(last["price"], 6_000);
    assert_eq!(last["helpers"], 3);
    assert_eq!(cuts(&last).iter().sum::<i64>(), 4_000);
    let (st, body) = action(app, &friends[3].1, "help", json!({ "bargain_id": bargain })).await;
    refused(st, &body, "already reached its floor price");

    // One unit only, at the floor price, on the item stage.
    let (st, body) = checkout(app, &btoken, &sku, 2, &bargain, "two").await;
    refused(st, &body, "exactly one unit");
    let (st, order) = checkout(app, &btoken, &sku, 1, &bargain, "k1").await;
    assert_eq!(st, 201, "{order}");
    assert_eq!(order["payable_amount"], 6_000);
    let adj = &order["lines"][0]["adjustments"][0];
    assert_eq!(adj["plugin"], "bargaining");
    assert_eq!(adj["stage"], "item");
    assert_eq!(adj["amount"], 4_000);
    assert_eq!(adj["label"], "砍价价");
    assert_eq!(adj["reference"], bargain.as_str());
    assert!(
        order["attributes"]
            .as_array()
            .unwrap()
            .contains(&json!({ "key": "bargaining.bargain_id", "value": bargain })),
        "{order}"
    );
    let order_id = order["id"].as_str().unwrap().to_string();

    // Ordering twice is refused; the same idempotency key returns the same order.
    let (st, body) = checkout(app, &btoken, &sku, 1, &bargain, "k2").await;
    refused(st, &body, "has already been ordered");
    let (st, again) = checkout(app, &btoken, &sku, 1, &bargain, "k1").await;
    assert_eq!((st, &again["id"]), (201, &order["id"]));
    assert_eq!(sold(app, &owner, &act).await, 1);

    let out = app.pay(&btoken, &order_id).await;
    assert_eq!(out["callback"]["result"], "applied", "{out}");
    let (_, paid) = app.get(&format!("/api/v1/orders/{order_id}"), &owner).await;
    assert_eq!(
        (&paid["payment_status"], &paid["status"]),
        (&json!("paid"), &json!("to_ship"))
    );
    assert_eq!(paid["paid_amount"], 6_000);
    let view = get_bargain(app, &friends[0].1, &bargain).await;
    assert_eq!(
        (&view["status"], &view["order_id"]),
        (&json!("ordered"), &json!(order_id))
    );
    let (st, body) = checkout(app, &btoken, &sku, 1, &bargain, "k3").await;
    refused(st, &body, "has already been ordered");
    // Bought once: the per-buyer limit (1) holds for new bargains too.
    let (st, body) = action(app, &btoken, "start", json!({ "activity_id": act })).await;
    refused(st, &body, "already bought 1");
    let mine = ok(app, &btoken, "my-bargains", json!({})).await;
    assert_eq!(mine["bargains"].as_array().unwrap().len(), 1);
    assert_eq!(mine["bargains"][0]["member_id"], buyer.as_str());

    // Another shop sees none of it.
    let (other_shop, other_owner) = app.shop("Other").await;
    app.install(&other_owner, "bargaining", None).await;
    let (st, _) = action(
        app,
        &other_owner,
        "get-bargain",
        json!({ "bargain_id": bargain }),
    )
    .await;
    assert_eq!(st, 404);
    let (_, stranger) = app.member(&other_shop, "Stranger").await;
    let (st, _) = action(app, &stranger, "start", json!({ "activity_id": act })).await;
    assert_eq!(st, 404);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn unpaid_orders_give_the_bargain_back_and_expired_bargains_refuse() {
    for app in TestApp::each_backend().await {
        expiry_flow(&app).await;
        app.cleanup().await;
    }
}

async fn expiry_flow(app: &TestApp) {
    let (shop, owner, product, sku) = shop(app).await;
    let (_, btoken) = app.member(&shop, "Buyer").await;
    let friends = members(app, &shop, "Friend", 3).await;
    let act = activity(
        app,
        &owner,
        &product,
        &sku,
        json!({ "validity_hours": 2, "helpers_needed": 5, "buy_at_current_price": true }),
    )
    .await;
    let bargain = ok(app, &btoken, "start", json!({ "activity_id": act })).await["bargain_id"]
        .as_str()
        .unwrap()
        .to_string();
    let cut = ok(app, &friends[0].1, "help", json!({ "bargain_id": bargain })).await["cut"]
        .as_i64()
        .unwrap();

    // Buying at the current price; the order is left unpaid and times out (30 min).
    let (st, order) = checkout(app, &btoken, &sku, 1, &bargain, "o1").await;
    assert_eq!(st, 201, "{order}");
    assert_eq!(order["payable_amount"].as_i64(), Some(10_000 - cut));
    assert_eq!(sold(app, &owner, &act).await, 1);
    let (st, body) = action(app, &friends[1].1, "help", json!({ "bargain_id": bargain })).await;
    refused(st, &body, "already been ordered");
    app.advance(1_800_000).await;
    let (_, closed) = app
        .get(
            &format!("/api/v1/orders/{}", order["id"].as_str().unwrap()),
            &owner,
        )
        .await;
    assert_eq!(closed["status"], "closed");
    let view = get_bargain(app, &btoken, &bargain).await;
    assert_eq!(
        (&view["status"], &view["order_id"]),
        (&json!("bargaining"), &Value::Null)
    );
    assert_eq!(sold(app, &owner, &act).await, 0);

    // Helped further and ordered again; this time the buyer cancels.
    let cut2 = ok(app, &friends[1].1, "help", json!({ "bargain_id": bargain })).await["cut"]
        .as_i64()
        .unwrap();
    let (st, order) = checkout(app, &btoken, &sku, 1, &bargain, "o2").await;
    assert_eq!(st, 201, "{order}");
    assert_eq!(order["payable_amount"].as_i64(), Some(10_000 - cut - cut2));
    let (st, body) = app
        .post(
            &format!("/api/v1/orders/{}/cancel", order["id"].as_str().unwrap()),
            &btoken,
            json!({}),
        )
        .await;
    assert_eq!(st, 200, "{body}");
    assert_eq!(
        get_bargain(app, &btoken, &bargain).await["status"],
        "bargaining"
    );
    assert_eq!(sold(app, &owner, &act).await, 0);

    // Validity runs from the start: 2 h after it, no help and no order.
    app.advance(2 * HOUR_MS - 1_800_000).await;
    assert_eq!(
        get_bargain(app, &btoken, &bargain).await["status"],
        "expired"
    );
    let (st, body) = action(app, &friends[2].1, "help", json!({ "bargain_id": bargain })).await;
    refused(st, &body, "has expired");
    let (st, body) = checkout(app, &btoken, &sku, 1, &bargain, "o3").await;
    refused(st, &body, "has expired");
    assert_eq!(stock(app, &owner, &product).await, 10);
    // An expired bargain is not live: the buyer may start again.
    let again = ok(app, &btoken, "start", json!({ "activity_id": act })).await;
    assert_ne!(again["bargain_id"], bargain.as_str());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_helps_count_once_and_stop_at_the_floor() {
    for app in TestApp::each_backend().await {
        concurrent_helps(&app).await;
        app.cleanup().await;
    }
}

async fn concurrent_helps(app: &TestApp) {
    let (shop, owner, product, sku) = shop(app).await;
    let (_, btoken) = app.member(&shop, "Buyer").await;
    // 100.00 → 10.00 with 30 helpers cutting 1.00..=4.00: 29 cuts can never reach the floor,
    // so the 30th helper's cut to the floor is what ends it.
    let act = activity(
        app,
        &owner,
        &product,
        &sku,
        json!({ "floor_price": 1_000, "helpers_needed": 30,
                "cut": { "type": "random", "min": 100, "max": 400 } }),
    )
    .await;
    let bargain = ok(app, &btoken, "start", json!({ "activity_id": act })).await["bargain_id"]
        .as_str()
        .unwrap()
        .to_string();
    let friends = members(app, &shop, "Friend", 35).await;
    let help = |token: String| {
        let bargain = bargain.clone();
        async move { action(app, &token, "help", json!({ "bargain_id": bargain })).await }
    };

    // 20 friends, each pressing "help" twice, all at once.
    let wave: Vec<_> = friends[..20]
        .iter()
        .flat_map(|(_, t)| [help(t.clone()), help(t.clone())])
        .collect();
    let results = join_all(wave).await;
    let helped = results.iter().filter(|(st, _)| *st == 200).count();
    for (st, body) in &results {
        if *st != 200 {
            refused(*st, body, "already helped");
        }
    }
    assert_eq!(helped, 20);
    let view = get_bargain(app, &btoken, &bargain).await;
    assert_eq!(view["helpers"], 20);
    assert_eq!(view["status"], "bargaining");
    let mut helpers: Vec<&str> = view["helps"]
        .as_array()
        .unwrap()
        .iter()
        .map(|h| h["helper_id"].as_str().unwrap())
        .collect();
    helpers.sort();
    let mut expected: Vec<&str> = friends[..20].iter().map(|(id, _)| id.as_str()).collect();
    expected.sort();
    assert_eq!(helpers, expected, "each friend counted exactly once");
    let cuts_so_far = cuts(&view);
    assert!(
        cuts_so_far.iter().all(|c| (100..=400).contains(c)),
        "{cuts_so_far:?}"
    );
    assert_eq!(
        view["price"].as_i64(),
        Some(10_000 - cuts_so_far.iter().sum::<i64>())
    );

    // 15 more at once for the last 10 places: 10 get in, the last cuts to the floor exactly.
    let wave: Vec<_> = friends[20..].iter().map(|(_, t)| help(t.clone())).collect();
    let results = join_all(wave).await;
    assert_eq!(results.iter().filter(|(st, _)| *st == 200).count(), 10);
    for (st, body) in results.iter().filter(|(st, _)| *st != 200) {
        refused(*st, body, "already reached its floor price");
    }
    let view = get_bargain(app, &btoken, &bargain).await;
    assert_eq!(view["status"], "succeeded");
    assert_eq!(view["helpers"], 30);
    assert_eq!(view["price"], 1_000);
    assert_eq!(cuts(&view).iter().sum::<i64>(), 9_000);
    assert!(cuts(&view).iter().all(|c| *c > 0));

    // Five checkouts of the bargain at once: one order.
    let tries: Vec<_> = (0..5)
        .map(|i| {
            let (token, sku, bargain) = (btoken.clone(), sku.clone(), bargain.clone());
            async move { checkout(app, &token, &sku, 1, &bargain, &format!("race-{i}")).await }
        })
        .collect();
    let results = join_all(tries).await;
    let created: Vec<&Value> = results
        .iter()
        .filter(|(st, _)| *st == 201)
        .map(|(_, b)| b)
        .collect();
    assert_eq!(created.len(), 1, "{results:?}");
    assert_eq!(created[0]["payable_amount"], 1_000);
    for (st, body) in results.iter().filter(|(st, _)| *st != 201) {
        refused(*st, body, "has already been ordered");
    }
    assert_eq!(sold(app, &owner, &act).await, 1);
    assert_eq!(stock(app, &owner, &product).await, 9);
    let (st, orders) = app.get("/api/v1/orders", &owner).await;
    assert_eq!(st, 200, "{orders}");
    assert_eq!(orders["orders"].as_array().unwrap().len(), 1);
}
