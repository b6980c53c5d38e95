//! The sandbox against a deliberately bad plugin (`tests/plugins/hostile`): CPU, memory and
//! stack exhaustion, traps after writes and oversized output each become a recorded 424
//! `plugin_failed` in bounded time, never a 500; what a failed call wrote is not committed;
//! the host keeps serving other shops; a pricing hook that spins fails the checkout without
//! taking stock; a plugin that keeps faulting is tripped off per shop; and each shop's
//! plugin state is its own.

use baseplate_tests::artifacts;
use baseplate_tests::harness::{AppOptions, Backend, TestApp};
use serde_json::{Value, json};
use std::time::{Duration, Instant};

/// The bound every hostile call must come back within (its deadline is far lower).
const BOUNDED: Duration = Duration::from_secs(5);

async fn app_with_deadline(ms: u64) -> TestApp {
    TestApp::start(
        Backend::Sqlite,
        AppOptions {
            deadline: Duration::from_millis(ms),
            ..Default::default()
        },
    )
    .await
    .expect("sqlite always works")
}

/// Publishes the hostile plugin into this app's registry, and runs its `echo` once in a
/// scratch shop so the component is compiled and loaded before any call is timed.
async fn publish_hostile(app: &TestApp) {
    app.publish(artifacts::hostile_manifest(), artifacts::hostile_wasm())
        .await;
    let (_, owner) = hostile_shop(app, "Warm-up").await;
    let (st, b, _) = action(app, &owner, "echo", json!({"warm": true})).await;
    assert_eq!(st, 200, "the well-behaved control action runs: {b}");
    assert_eq!(b, json!({"warm": true}));
}

/// A fresh shop with the hostile plugin installed; returns (shop id, owner token). A shop
/// per case keeps one case's faults from tripping the breaker for the next.
async fn hostile_shop(app: &TestApp, name: &str) -> (String, String) {
    let (shop, owner) = app.shop(name).await;
    app.install(&owner, "hostile", None).await;
    (shop, owner)
}

/// Runs a hostile action; returns (status, body, elapsed).
async fn action(app: &TestApp, token: &str, name: &str, input: Value) -> (u16, Value, Duration) {
    let started = Instant::now();
    let (st, b) = app
        .post(
            &format!("/api/v1/plugins/hostile/actions/{name}"),
            token,
            input,
        )
        .await;
    (st, b, started.elapsed())
}

/// The failures the merchant sees for the hostile plugin, newest first.
async fn failures(app: &TestApp, owner: &str) -> Vec<Value> {
    let (st, h) = app.get("/api/v1/plugins/hostile/health", owner).await;
    assert_eq!(st, 200, "{h}");
    h["failures"].as_array().unwrap().clone()
}

/// A key of the hostile plugin's state in `shop`, read straight from the database.
async fn state_of(app: &TestApp, shop: &str, key: &str) -> Option<Vec<u8>> {
    let mut tx = app.platform().db.read().await.expect("begin");
    baseplate_store::state::get(&mut tx, shop, "hostile", key)
        .await
        .expect("read plugin state")
        .map(|e| e.value)
}

async fn healthz(app: &TestApp) -> u16 {
    app.request(reqwest::Method::GET, "/healthz", None, None, &[])
        .await
        .0
}

fn assert_plugin_failed(st: u16, b: &Value, elapsed: Duration, what: &str) {
    assert_eq!(st, 424, "{what}: a plugin fault is a 424, never a 500: {b}");
    assert_eq!(b["error"]["code"], "plugin_failed", "{what}: {b}");
    assert!(
        elapsed < BOUNDED,
        "{what}: came back after {elapsed:?}; the sandbox must bound it"
    );
}

// ---- 1. CPU, memory and stack exhaustion ----------------------------------------------

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn runaway_cpu_memory_and_stack_fail_cleanly_and_are_recorded() {
    let app = app_with_deadline(300).await;
    publish_hostile(&app).await;
    for (act, kind) in [
        ("spin", "timeout"),
        ("alloc", "memory_limit"),
        ("recurse", "trap"),
    ] {
        let (_, owner) = hostile_shop(&app, &format!("Victim of {act}")).await;
        let (st, b, elapsed) = action(&app, &owner, act, json!({})).await;
        assert_plugin_failed(st, &b, elapsed, act);
        let f = failures(&app, &owner).await;
        assert_eq!(f.len(), 1, "{act}: one recorded failure: {f:?}");
        assert_eq!(f[0]["kind"], kind, "{act}: {f:?}");
        assert_eq!(f[0]["hook"], "handle-action", "{act}: {f:?}");
        assert_eq!(f[0]["plugin"], "hostile", "{act}: {f:?}");
    }
    assert_eq!(healthz(&app).await, 200);
    app.cleanup().await;
}

// ---- 2. a trap undoes the call's writes ----------------------------------------------

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn writes_before_a_trap_are_rolled_back() {
    let app = app_with_deadline(300).await;
    write_then_trap(&app).await;
    app.cleanup().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn writes_before_a_trap_are_rolled_back_on_postgres() {
    let Some(app) = TestApp::postgres().await else {
        return;
    };
    write_then_trap(&app).await;
    app.cleanup().await;
}

async fn write_then_trap(app: &TestApp) {
    publish_hostile(app).await;
    let (shop, owner) = hostile_shop(app, "Trap Shop").await;
    let (st, b, elapsed) = action(app, &owner, "write-then-trap", json!({"v": 1})).await;
    assert_plugin_failed(st, &b, elapsed, "write-then-trap");
    for i in 0..3 {
        let key = format!("trap/{i}");
        assert_eq!(
            state_of(app, &shop, &key).await,
            None,
            "[{:?}] {key} was written by a call that trapped; it must not be committed",
            app.backend
        );
    }
    assert_eq!(failures(app, &owner).await[0]["kind"], "trap");

    // The control: the same plugin's writes commit when the call succeeds.
    let (st, b, _) = action(app, &owner, "write-ok", json!({"v": 1})).await;
    assert_eq!(st, 200, "{b}");
    assert_eq!(b, json!({"v": 1}));
    let ok = state_of(app, &shop, "ok")
        .await
        .expect("write-ok committed");
    assert_eq!(
        serde_json::from_slice::<Value>(&ok).unwrap(),
        json!({"v": 1})
    );
}

// ---- 3. oversized output ----------------------------------------------------------------

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn oversized_output_is_a_plugin_failure() {
    let app = app_with_deadline(2_000).await;
    publish_hostile(&app).await;
    let (_, owner) = hostile_shop(&app, "Big Mouth").await;
    let (st, b, elapsed) = action(&app, &owner, "big-output", json!({})).await;
    assert_plugin_failed(st, &b, elapsed, "big-output");
    let message = b["error"]["message"].as_str().unwrap_or_default();
    assert!(
        message.len() < 4096,
        "the oversized output never reaches the caller ({} bytes of message)",
        message.len()
    );
    let f = failures(&app, &owner).await;
    assert_eq!(f.len(), 1, "{f:?}");
    // The 10 MiB answer fits the plugin's memory; the host's output-size check stops it.
    assert_eq!(f[0]["kind"], "bad_output", "output over the limit: {f:?}");
    assert_eq!(healthz(&app).await, 200);
    app.cleanup().await;
}

// ---- 4. the host keeps serving other shops while a plugin spins ----------------------

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn other_shops_are_served_while_a_plugin_spins() {
    // A long deadline, so the spin is surely still running while shop B is served.
    let app = app_with_deadline(3_000).await;
    publish_hostile(&app).await;
    let (_, owner_a) = hostile_shop(&app, "Shop A").await;

    let (shop_b, owner_b) = app.shop("Shop B").await;
    let (_, sku) = app.product(&owner_b, "Green Tea", 4_000, 10).await;
    app.install(&owner_b, "coupons", None).await;
    let (st, tpl) = app
        .post(
            "/api/v1/plugins/coupons/actions/create-template",
            &owner_b,
            json!({
                "name": "10 off",
                "discount": { "type": "fixed", "amount": 1000 },
                "validity": { "type": "relative", "days": 7 },
                "total_stock": 5
            }),
        )
        .await;
    assert_eq!(st, 200, "{tpl}");
    let tpl = tpl["template_id"].as_str().unwrap().to_string();
    let (_, buyer) = app.member(&shop_b, "B buyer").await;

    let spin = {
        let (client, url, owner) = (
            app.client.clone(),
            format!("{}/api/v1/plugins/hostile/actions/spin", app.base),
            owner_a.clone(),
        );
        tokio::spawn(async move {
            let started = Instant::now();
            let r = client
                .post(url)
                .bearer_auth(owner)
                .json(&json!({}))
                .send()
                .await
                .unwrap();
            let st = r.status().as_u16();
            let b = r.json::<Value>().await.unwrap_or(Value::Null);
            (st, b, started.elapsed())
        })
    };

    // Let the spinning call start; it runs until its deadline (300 ms).
    tokio::time::sleep(Duration::from_millis(60)).await;
    assert!(
        !spin.is_finished(),
        "the spin call ended before it was seen"
    );
    // A spinning plugin holds no database writer: a write starts at once meanwhile.
    let tx = tokio::time::timeout(Duration::from_millis(50), app.platform().db.write("probe"))
        .await
        .expect("the writer is free while another shop's plugin spins")
        .expect("begin");
    drop(tx);

    // The HTTP runtime is not stalled by the spinning plugin.
    let started = Instant::now();
    assert_eq!(healthz(&app).await, 200);
    assert!(
        !spin.is_finished(),
        "/healthz took {:?}: it waited for the spinning plugin",
        started.elapsed()
    );

    // Shop B claims a coupon and checks out with it.
    let (st, coupon) = app
        .post(
            "/api/v1/plugins/coupons/actions/claim",
            &buyer,
            json!({ "template_id": tpl }),
        )
        .await;
    assert_eq!(st, 200, "{coupon}");
    let coupon = coupon["coupon_id"].as_str().unwrap().to_string();
    let (st, order) = app
        .request(
            reqwest::Method::POST,
            "/api/v1/orders",
            Some(&buyer),
            Some(json!({
                "lines": [{ "sku_id": sku, "quantity": 1 }],
                "plugins": { "coupons": { "coupon_ids": [coupon] } }
            })),
            &[("Idempotency-Key", "b-order")],
        )
        .await;
    assert_eq!(st, 201, "{order}");
    assert_eq!(order["payable_amount"], 3_000, "{order}");

    let (st, b, elapsed) = spin.await.unwrap();
    assert_plugin_failed(st, &b, elapsed, "spin");
    assert_eq!(failures(&app, &owner_a).await[0]["kind"], "timeout");
    // Shop B's plugin recorded no fault from shop A's misbehaviour.
    let (st, hb) = app.get("/api/v1/plugins/coupons/health", &owner_b).await;
    assert_eq!(st, 200, "{hb}");
    assert_eq!(hb["failures"], json!([]), "{hb}");
    assert_eq!(healthz(&app).await, 200);
    app.cleanup().await;
}

// ---- 5. a pricing hook that spins fails the checkout cleanly ---------------------------

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn spinning_pricing_hook_fails_checkout_without_side_effects() {
    let app = app_with_deadline(300).await;
    publish_hostile(&app).await;
    let (shop, owner) = hostile_shop(&app, "Slow Prices").await;
    let (product, sku) = app.product(&owner, "White Tea", 8_800, 3).await;
    let (_, buyer) = app.member(&shop, "Waiting").await;

    let started = Instant::now();
    let (st, b) = app
        .request(
            reqwest::Method::POST,
            "/api/v1/orders",
            Some(&buyer),
            Some(json!({
                "lines": [{ "sku_id": sku, "quantity": 2 }],
                "plugins": { "hostile": "spin" }
            })),
            &[("Idempotency-Key", "spin-order")],
        )
        .await;
    assert_plugin_failed(st, &b, started.elapsed(), "price hook spin");

    let (_, p) = app
        .get(&format!("/api/v1/products/{product}"), &owner)
        .await;
    assert_eq!(p["skus"][0]["stock"], 3, "stock unchanged: {p}");
    let (_, orders) = app.get("/api/v1/orders", &owner).await;
    assert_eq!(orders["orders"], json!([]), "no order: {orders}");
    let f = failures(&app, &owner).await;
    assert_eq!(f[0]["kind"], "timeout", "{f:?}");
    assert_eq!(f[0]["hook"], "price", "{f:?}");

    // The control: without the spin input the same checkout succeeds.
    let (st, order) = app
        .request(
            reqwest::Method::POST,
            "/api/v1/orders",
            Some(&buyer),
            Some(json!({ "lines": [{ "sku_id": sku, "quantity": 2 }] })),
            &[("Idempotency-Key", "calm-order")],
        )
        .await;
    assert_eq!(st, 201, "{order}");
    app.cleanup().await;
}

// ---- 6. the circuit breaker ------------------------------------------------------------

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn repeated_faults_trip_the_plugin_until_reenabled() {
    // A deadline well above the fast path, so a tripped `spin` is visibly not run.
    let app = app_with_deadline(4_000).await;
    publish_hostile(&app).await;
    let (_, owner) = hostile_shop(&app, "Tripping").await;
    let (_, other) = hostile_shop(&app, "Bystander").await;

    for i in 1..=5 {
        let (st, b, elapsed) = action(&app, &owner, "recurse", json!({})).await;
        assert_plugin_failed(st, &b, elapsed, &format!("recurse #{i}"));
        assert!(
            !b["error"]["message"]
                .as_str()
                .unwrap_or_default()
                .contains("tripped"),
            "fault #{i} runs the plugin: {b}"
        );
    }

    let (st, b, elapsed) = action(&app, &owner, "spin", json!({})).await;
    assert_eq!(st, 424, "{b}");
    assert_eq!(b["error"]["code"], "plugin_failed", "{b}");
    assert!(
        b["error"]["message"]
            .as_str()
            .unwrap_or_default()
            .contains("tripped"),
        "the 6th call is refused by the breaker: {b}"
    );
    assert!(
        elapsed < Duration::from_millis(3_000),
        "a tripped plugin fails fast, without running: {elapsed:?}"
    );
    let f = failures(&app, &owner).await;
    assert_eq!(f.len(), 5, "only the faults that ran are recorded: {f:?}");
    assert!(f.iter().all(|f| f["kind"] == "trap"), "{f:?}");

    let tripped_until = |list: &Value| {
        list["plugins"]
            .as_array()
            .unwrap()
            .iter()
            .find(|p| p["plugin"] == "hostile")
            .expect("hostile is installed")["tripped_until"]
            .clone()
    };
    let (st, list) = app.get("/api/v1/plugins", &owner).await;
    assert_eq!(st, 200, "{list}");
    assert!(
        tripped_until(&list)
            .as_i64()
            .is_some_and(|t| t > app.clock.now()),
        "{list}"
    );
    // The breaker is per shop: the same plugin in another shop still runs.
    let (_, other_list) = app.get("/api/v1/plugins", &other).await;
    assert_eq!(tripped_until(&other_list), Value::Null, "{other_list}");
    let (st, b, _) = action(&app, &other, "echo", json!({"hi": "there"})).await;
    assert_eq!(st, 200, "{b}");

    // Still tripped: even a well-behaved action is refused.
    let (st, b, _) = action(&app, &owner, "echo", json!({"n": 1})).await;
    assert_eq!(st, 424, "{b}");

    let (st, enabled) = app
        .post("/api/v1/plugins/hostile/enable", &owner, json!({}))
        .await;
    assert_eq!(st, 200, "{enabled}");
    assert_eq!(enabled["tripped_until"], Value::Null, "{enabled}");
    let (st, b, _) = action(&app, &owner, "echo", json!({"n": 2})).await;
    assert_eq!(st, 200, "{b}");
    assert_eq!(b, json!({"n": 2}));
    app.cleanup().await;
}

// ---- 7. tenant isolation of plugin state ----------------------------------------------

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn the_same_plugin_keeps_separate_state_per_shop() {
    let app = app_with_deadline(300).await;
    publish_hostile(&app).await;
    let (shop_a, owner_a) = hostile_shop(&app, "Shop A").await;
    let (shop_b, owner_b) = hostile_shop(&app, "Shop B").await;
    let (shop_c, _) = hostile_shop(&app, "Shop C").await;

    let (st, b, _) = action(&app, &owner_a, "write-ok", json!({"shop": "A"})).await;
    assert_eq!(st, 200, "{b}");
    let (st, b, _) = action(&app, &owner_b, "write-ok", json!({"shop": "B"})).await;
    assert_eq!(st, 200, "{b}");

    let read = |shop: String| {
        let app = &app;
        async move {
            state_of(app, &shop, "ok")
                .await
                .map(|v| serde_json::from_slice::<Value>(&v).unwrap())
        }
    };
    assert_eq!(read(shop_a.clone()).await, Some(json!({"shop": "A"})));
    assert_eq!(read(shop_b.clone()).await, Some(json!({"shop": "B"})));
    assert_eq!(
        read(shop_c).await,
        None,
        "a shop that never wrote sees nothing"
    );
    app.cleanup().await;
}
