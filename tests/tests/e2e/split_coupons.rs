//! Split coupons (瓜分券) over HTTP with the compiled coupons plugin, on every backend: a
//! member launches a split, friends join, and the last join gives every participant a
//! coupon of their share (summing exactly to the total) that one of them spends at checkout;
//! a split that does not fill within its window fails when the clock passes it (its timer
//! gives the stock back) and issues nothing; ten friends racing for the last three places
//! make exactly three joins and one set of coupons.

use baseplate_tests::harness::TestApp;
use futures::future::join_all;
use serde_json::{Value, json};

const MINUTE_MS: i64 = 60_000;

async fn action(app: &TestApp, token: &str, name: &str, body: Value) -> (u16, Value) {
    app.post(
        &format!("/api/v1/plugins/coupons/actions/{name}"),
        token,
        body,
    )
    .await
}

/// A split template with `overrides` over: 10.01 among 4, equal, 60 minutes, 7 days.
async fn split_template(app: &TestApp, owner: &str, overrides: Value) -> String {
    let mut body = json!({
        "name": "Share 10",
        "total": 1001,
        "participants": 4,
        "split": "equal",
        "window_minutes": 60,
        "validity": { "type": "relative", "days": 7 },
        "total_stock": 5,
        "per_member_limit": 1
    });
    for (k, v) in overrides.as_object().unwrap() {
        body[k] = v.clone();
    }
    let (st, tpl) = action(app, owner, "create-split-template", body).await;
    assert_eq!(st, 200, "{tpl}");
    tpl["template_id"].as_str().unwrap().to_string()
}

async fn launch(app: &TestApp, token: &str, tpl: &str) -> Value {
    let (st, split) = action(app, token, "launch-split", json!({ "template_id": tpl })).await;
    assert_eq!(st, 200, "{split}");
    split
}

async fn join(app: &TestApp, token: &str, split: &str) -> (u16, Value) {
    action(app, token, "join-split", json!({ "split_id": split })).await
}

async fn get_split(app: &TestApp, token: &str, split: &str) -> Value {
    let (st, s) = action(app, token, "get-split", json!({ "split_id": split })).await;
    assert_eq!(st, 200, "{s}");
    s
}

async fn get_template(app: &TestApp, owner: &str, tpl: &str) -> Value {
    let (st, t) = action(app, owner, "get-template", json!({ "template_id": tpl })).await;
    assert_eq!(st, 200, "{t}");
    t
}

async fn coupons(app: &TestApp, token: &str) -> Vec<Value> {
    let (st, b) = action(app, token, "list-coupons", json!({})).await;
    assert_eq!(st, 200, "{b}");
    b["coupons"].as_array().unwrap().clone()
}

fn refused(st: u16, b: &Value, needle: &str) {
    assert_eq!(st, 422, "{b}");
    let msg = b["error"]["message"].as_str().unwrap_or_default();
    assert!(msg.contains(needle), "expected …{needle}…, got {b}");
}

fn shares(split: &Value) -> Vec<i64> {
    split["members"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["share"].as_i64().expect("a share per member"))
        .collect()
}

// ---- launch → friends join → a coupon each → one of them checks out with it -------------

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn split_fills_issues_shares_and_a_share_pays_at_checkout() {
    for app in TestApp::each_backend().await {
        split_flow(&app).await;
        app.cleanup().await;
    }
}

async fn split_flow(app: &TestApp) {
    let (shop, owner) = app.shop("Split Tea").await;
    let (_, tea) = app.product(&owner, "Longjing", 6_000, 10).await;
    app.install(&owner, "coupons", None).await;
    let tpl = split_template(
        app,
        &owner,
        json!({ "threshold": { "type": "amount", "min": 5000 } }),
    )
    .await;
    let mut people = Vec::new();
    for name in ["Launcher", "Friend B", "Friend C", "Friend D", "Late E"] {
        people.push(app.member(&shop, name).await);
    }
    let [(a, at), (b, bt), (c, ct), (d, dt), (_, et)] = &people[..] else {
        unreachable!()
    };

    let split = launch(app, at, &tpl).await;
    let id = split["split_id"].as_str().unwrap().to_string();
    assert_eq!(split["joined"], 1, "{split}");
    assert_eq!(split["needed"], 3, "{split}");
    assert_eq!(split["status"], "open");
    assert_eq!(split["expires_at"], app.clock.now() + 60 * MINUTE_MS);

    let (st, out) = join(app, at, &id).await;
    refused(st, &out, "own split");
    let (st, out) = join(app, bt, &id).await;
    assert_eq!(st, 200, "{out}");
    assert_eq!(
        (out["joined"].as_i64(), out["needed"].as_i64()),
        (Some(2), Some(2))
    );
    let (st, out) = join(app, bt, &id).await;
    refused(st, &out, "already joined");
    // Joining is a member's own act: staff keys are not let in by the manifest.
    let (st, out) = join(app, &owner, &id).await;
    assert_eq!(st, 403, "{out}");
    assert!(
        coupons(app, bt).await.is_empty(),
        "no coupon before it fills"
    );

    let (st, out) = join(app, ct, &id).await;
    assert_eq!(st, 200, "{out}");
    let (st, done) = join(app, dt, &id).await;
    assert_eq!(st, 200, "{done}");
    assert_eq!(done["status"], "completed", "{done}");
    assert_eq!(done["needed"], 0);
    let (st, out) = join(app, et, &id).await;
    refused(st, &out, "is full");

    // Equal: 10.01 / 4 = 2.50 each, the remainder 分 to the launcher; exactly the total.
    let seen = get_split(app, et, &id).await;
    assert_eq!(seen["status"], "completed");
    assert_eq!(shares(&seen), [251, 250, 250, 250]);
    let members = seen["members"].as_array().unwrap();
    for (m, (who, token)) in members.iter().zip([(a, at), (b, bt), (c, ct), (d, dt)]) {
        assert_eq!(m["member_id"], who.as_str());
        let mine = coupons(app, token).await;
        assert_eq!(mine.len(), 1, "{who}: {mine:?}");
        assert_eq!(mine[0]["coupon_id"], m["coupon_id"]);
        assert_eq!(mine[0]["amount"], m["share"]);
        assert_eq!(mine[0]["split_id"], id.as_str());
        assert_eq!(mine[0]["status"], "available");
    }
    assert!(
        coupons(app, et).await.is_empty(),
        "a refused joiner gets nothing"
    );
    let t = get_template(app, &owner, &tpl).await;
    assert_eq!(
        (t["issued"].as_i64(), t["remaining_stock"].as_i64()),
        (Some(1), Some(4))
    );

    // Friend C spends the 2.50 share like any coupon: 60.00 - 2.50, threshold 50.00 met.
    let c_coupon = members[2]["coupon_id"].as_str().unwrap().to_string();
    let body = json!({
        "lines": [{ "sku_id": tea, "quantity": 1 }],
        "plugins": { "coupons": { "coupon_ids": [c_coupon] } }
    });
    // Someone else's share is refused.
    let (st, out) = app
        .request(
            reqwest::Method::POST,
            "/api/v1/orders",
            Some(bt),
            Some(body.clone()),
            &[("Idempotency-Key", "b1")],
        )
        .await;
    refused(st, &out, "not one of your coupons");
    let (st, order) = app
        .request(
            reqwest::Method::POST,
            "/api/v1/orders",
            Some(ct),
            Some(body),
            &[("Idempotency-Key", "c1")],
        )
        .await;
    assert_eq!(st, 201, "{order}");
    assert_eq!(order["payable_amount"], 6_000 - 250);
    assert_eq!(
        order["lines"][0]["adjustments"][0]["reference"],
        c_coupon.as_str()
    );
    let order_id = order["id"].as_str().unwrap().to_string();
    let out = app.pay(ct, &order_id).await;
    assert_eq!(out["callback"]["result"], "applied", "{out}");
    app.advance(0).await;
    let mine = coupons(app, ct).await;
    assert_eq!(mine[0]["status"], "used", "{mine:?}");

    // Random: different shares, still exactly the total and at least 1 分 each.
    let random = split_template(
        app,
        &owner,
        json!({ "total": 1000, "participants": 3, "split": "random" }),
    )
    .await;
    let split = launch(app, bt, &random).await;
    let rid = split["split_id"].as_str().unwrap();
    for token in [ct, dt] {
        let (st, out) = join(app, token, rid).await;
        assert_eq!(st, 200, "{out}");
    }
    let seen = get_split(app, &owner, rid).await;
    let got = shares(&seen);
    assert_eq!(got.iter().sum::<i64>(), 1000, "{seen}");
    assert!(got.iter().all(|&s| s >= 1), "{seen}");
}

// ---- the window passes: join refused, no coupons, stock back -----------------------------

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn split_not_filled_in_its_window_fails_without_coupons() {
    for app in TestApp::each_backend().await {
        window_expiry(&app).await;
        app.cleanup().await;
    }
}

async fn window_expiry(app: &TestApp) {
    let (shop, owner) = app.shop("Split Late").await;
    app.install(&owner, "coupons", None).await;
    let tpl = split_template(
        app,
        &owner,
        json!({ "participants": 3, "window_minutes": 30, "total_stock": 1 }),
    )
    .await;
    let (_, at) = app.member(&shop, "Launcher").await;
    let (_, bt) = app.member(&shop, "Friend B").await;
    let (_, ct) = app.member(&shop, "Friend C").await;
    let (_, dt) = app.member(&shop, "Other D").await;

    let split = launch(app, &at, &tpl).await;
    let id = split["split_id"].as_str().unwrap().to_string();
    app.advance(29 * MINUTE_MS).await;
    let (st, out) = join(app, &bt, &id).await;
    assert_eq!(st, 200, "{out}");
    // The only unit of stock is held by the open split.
    let (st, out) = action(app, &dt, "launch-split", json!({ "template_id": tpl })).await;
    refused(st, &out, "out of stock");

    // The window ends; the background pass fires the split's timer.
    app.advance(MINUTE_MS).await;
    let t = get_template(app, &owner, &tpl).await;
    assert_eq!(
        (t["issued"].as_i64(), t["remaining_stock"].as_i64()),
        (Some(0), Some(1)),
        "the timer gave the failed split's stock back: {t}"
    );
    let (st, out) = join(app, &ct, &id).await;
    refused(st, &out, "has expired");
    let seen = get_split(app, &ct, &id).await;
    assert_eq!(seen["status"], "failed", "{seen}");
    assert_eq!(seen["joined"], 2);
    assert!(
        seen["members"]
            .as_array()
            .unwrap()
            .iter()
            .all(|m| m["share"].is_null())
    );
    for token in [&at, &bt, &ct] {
        assert!(
            coupons(app, token).await.is_empty(),
            "a failed split issues nothing"
        );
    }
    // Another pass (a late or repeated timer) changes nothing.
    app.advance(60 * MINUTE_MS).await;
    let again = get_template(app, &owner, &tpl).await;
    assert_eq!(again["remaining_stock"], 1, "{again}");
    // The stock is back, and so is the launcher's launch.
    let split = launch(app, &at, &tpl).await;
    assert_eq!(split["status"], "open");
}

// ---- ten friends race for the last three places -----------------------------------------

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn ten_friends_racing_for_the_last_three_places_make_three_joins() {
    for app in TestApp::each_backend().await {
        last_places_race(&app).await;
        app.cleanup().await;
    }
}

async fn last_places_race(app: &TestApp) {
    let (shop, owner) = app.shop("Split Rush").await;
    app.install(&owner, "coupons", None).await;
    let tpl = split_template(
        app,
        &owner,
        json!({ "total": 600, "participants": 6, "split": "random" }),
    )
    .await;
    let (launcher, lt) = app.member(&shop, "Launcher").await;
    let shop = &shop;
    let early =
        join_all((0..2).map(|i| async move { app.member(shop, &format!("Early {i}")).await }))
            .await;
    let racers =
        join_all((0..10).map(|i| async move { app.member(shop, &format!("Racer {i}")).await }))
            .await;

    let split = launch(app, &lt, &tpl).await;
    let id = split["split_id"].as_str().unwrap().to_string();
    for (_, token) in &early {
        let (st, out) = join(app, token, &id).await;
        assert_eq!(st, 200, "{out}");
    }

    let results = join_all(racers.iter().map(|(_, token)| join(app, token, &id))).await;
    let mut winners = Vec::new();
    for ((member, _), (st, b)) in racers.iter().zip(&results) {
        match st {
            200 => winners.push(member.clone()),
            500..=599 => panic!("a losing join must be refused, not crash: {st} {b}"),
            _ => refused(*st, b, "is full"),
        }
    }
    assert_eq!(
        winners.len(),
        3,
        "[{:?}] exactly the last three places are taken",
        app.backend
    );

    let seen = get_split(app, &owner, &id).await;
    assert_eq!(seen["status"], "completed", "{seen}");
    assert_eq!(seen["joined"], 6);
    let members: Vec<String> = seen["members"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["member_id"].as_str().unwrap().to_string())
        .collect();
    let mut expected = vec![launcher.clone()];
    expected.extend(early.iter().map(|(m, _)| m.clone()));
    expected.extend(winners.iter().cloned());
    let mut sorted = members.clone();
    sorted.sort();
    expected.sort();
    assert_eq!(
        sorted, expected,
        "the launcher, the early two and the winners"
    );
    let got = shares(&seen);
    assert_eq!(got.iter().sum::<i64>(), 600, "{seen}");
    assert!(got.iter().all(|&s| s >= 1), "{seen}");

    // Shares were issued once: one coupon per participant, none for the losers.
    let tokens = std::iter::once(&lt)
        .chain(early.iter().map(|(_, t)| t))
        .chain(racers.iter().map(|(_, t)| t));
    let mut issued = 0;
    for token in tokens {
        let mine = coupons(app, token).await;
        assert!(mine.len() <= 1, "{mine:?}");
        issued += mine.len();
    }
    assert_eq!(issued, 6);
    for ((member, token), (st, _)) in racers.iter().zip(&results) {
        let has = !coupons(app, token).await.is_empty();
        assert_eq!(has, *st == 200, "{member}");
    }
}
