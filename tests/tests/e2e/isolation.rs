//! Tenant isolation under hostile plugins: the failures an attack sweep found, each shown
//! contained. A guest's blocking sleep returns at once (clocks are virtual) and a call never
//! outlives its deadline by more than a few milliseconds, the node's first call included; a
//! flood of runaway calls from one shop leaves other shops served; state and timers are
//! bounded per (shop, plugin) with a typed refusal; due timers are taken shop by shop;
//! amounts are bounded and ledger reads never fail, even on data written before the
//! bounds; publishing refuses components that could never run; cancelled requests leave
//! consistent state.

use baseplate_runtime::Quota;
use baseplate_tests::artifacts;
use baseplate_tests::harness::{AppOptions, Backend, TestApp};
use futures::future::join_all;
use serde_json::{Value, json};
use std::time::{Duration, Instant};

async fn app(backend: Backend, o: AppOptions) -> Option<TestApp> {
    TestApp::start(backend, o).await
}

/// The app on SQLite and, when configured, PostgreSQL, with these options.
async fn each(o: AppOptions) -> Vec<TestApp> {
    let mut apps = vec![app(Backend::Sqlite, o.clone()).await.expect("sqlite")];
    if let Some(pg) = app(Backend::Postgres, o).await {
        apps.push(pg);
    }
    apps
}

async fn hostile_shop(app: &TestApp, name: &str) -> (String, String) {
    let (shop, owner) = app.shop(name).await;
    app.install(&owner, "hostile", None).await;
    (shop, owner)
}

async fn act(app: &TestApp, token: &str, name: &str, input: Value) -> (u16, Value, Duration) {
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

async fn health(app: &TestApp, owner: &str) -> Value {
    let (st, h) = app.get("/api/v1/plugins/hostile/health", owner).await;
    assert_eq!(st, 200, "{h}");
    h
}

/// A checkout of one unit of `sku` for `buyer`; (status, elapsed).
async fn checkout(app: &TestApp, buyer: &str, sku: &str, plugins: Value) -> (u16, Value, Duration) {
    let started = Instant::now();
    let mut key = [0u8; 8];
    getrandom::fill(&mut key).unwrap();
    let (st, b) = app
        .request(
            reqwest::Method::POST,
            "/api/v1/orders",
            Some(buyer),
            Some(json!({ "lines": [{ "sku_id": sku, "quantity": 1 }], "plugins": plugins })),
            &[("Idempotency-Key", &hex::encode(key))],
        )
        .await;
    (st, b, started.elapsed())
}

// ---- 1. blocking WASI calls ------------------------------------------------------------

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_guest_sleep_returns_at_once_and_holds_nothing() {
    for app in each(AppOptions::default()).await {
        app.publish(artifacts::hostile_manifest(), artifacts::hostile_wasm())
            .await;
        let (shop_a, owner_a) = hostile_shop(&app, "Sleeper").await;
        let (shop_b, owner_b) = app.shop("Neighbour").await;
        let (_, sku_b) = app.product(&owner_b, "Tea", 1_000, 100).await;
        let (_, buyer_b) = app.member(&shop_b, "B").await;

        // Eight 60-second sleeps and shop B's checkout, all at once.
        let sleeps = (0..8).map(|_| act(&app, &owner_a, "sleep", json!({})));
        let b = checkout(&app, &buyer_b, &sku_b, json!({}));
        let (sleeps, (st, order, b_took)) = tokio::join!(join_all(sleeps), b);
        assert_eq!(st, 201, "[{:?}] {order}", app.backend);
        assert!(
            b_took < Duration::from_secs(2),
            "[{:?}] shop B's checkout took {b_took:?} beside the sleeping plugin",
            app.backend
        );
        for (st, body, took) in sleeps {
            // The guest believes it slept a minute; no real time passed.
            assert_eq!(st, 200, "[{:?}] {body}", app.backend);
            assert!(body["slept_ms"].as_i64().unwrap() >= 60_000, "{body}");
            assert!(took < Duration::from_secs(2), "a 60 s sleep took {took:?}");
        }
        // A pricing hook sleeping 3 s does not hold the checkout either.
        let (_, sku_a) = app.product(&owner_a, "Tea", 1_000, 10).await;
        let (_, buyer_a) = app.member(&shop_a, "A").await;
        let (st, order, took) =
            checkout(&app, &buyer_a, &sku_a, json!({ "hostile": "sleep" })).await;
        assert_eq!(st, 201, "{order}");
        assert!(took < Duration::from_secs(2), "checkout took {took:?}");
        // The guest's clocks are the operation's: its wall clock is the host clock.
        let (st, clocks, _) = act(&app, &owner_a, "clocks", json!({})).await;
        assert_eq!(st, 200, "{clocks}");
        let wall = clocks["wall_ms"].as_i64().unwrap();
        assert!(
            (wall - app.clock.now()).abs() < 1_000,
            "the guest's wall clock {wall} is the host's {}",
            app.clock.now()
        );
        app.cleanup().await;
    }
}

// ---- 8. a hard bound on every call, the first too --------------------------------------

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn every_call_ends_within_its_deadline_the_first_one_too() {
    let deadline = Duration::from_millis(150);
    let app = app(
        Backend::Sqlite,
        AppOptions {
            deadline,
            breaker_threshold: 1_000,
            ..Default::default()
        },
    )
    .await
    .unwrap();
    app.publish(artifacts::hostile_manifest(), artifacts::hostile_wasm())
        .await;
    let (_, owner) = hostile_shop(&app, "Timed").await;
    // The node's very first call is a runaway one, then loops of sleeps and spins.
    for action in ["spin", "sleep-loop", "spin", "sleep-loop"] {
        let (st, b, took) = act(&app, &owner, action, json!({})).await;
        assert_eq!(st, 424, "{action}: {b}");
        assert!(
            took < deadline + Duration::from_millis(300),
            "{action}: {took:?}"
        );
    }
    let h = health(&app, &owner).await;
    let failures = h["failures"].as_array().unwrap();
    assert_eq!(failures.len(), 4, "{h}");
    for f in failures {
        // A loop of sleeps may run out of host calls before it runs out of time.
        assert!(
            f["kind"] == "timeout" || f["kind"] == "host_call_limit",
            "{f}"
        );
        let us = f["duration_us"].as_i64().unwrap();
        assert!(
            us < (deadline + Duration::from_millis(10)).as_micros() as i64,
            "a call ran {us} µs against a {deadline:?} deadline: {f}"
        );
    }
    app.cleanup().await;
}

// ---- 2. a flood from one shop ------------------------------------------------------------

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_flood_of_runaway_calls_from_one_shop_leaves_others_served() {
    let o = AppOptions {
        deadline: Duration::from_millis(250),
        // The breaker would stop the flood early; the runtime must contain it without.
        breaker_threshold: 1_000_000,
        ..Default::default()
    };
    for app in each(o).await {
        app.publish(artifacts::hostile_manifest(), artifacts::hostile_wasm())
            .await;
        let (_, owner_a) = hostile_shop(&app, "Flooder").await;
        let (shop_b, owner_b) = app.shop("Bystander").await;
        let (_, sku_b) = app.product(&owner_b, "Tea", 1_000, 10_000).await;
        app.install(&owner_b, "coupons", None).await;
        let (_, buyer_b) = app.member(&shop_b, "B").await;

        let stop = Instant::now() + Duration::from_millis(1_500);
        let flood = (0..64).map(|i| {
            let (app, owner) = (&app, owner_a.clone());
            async move {
                let mut n = 0;
                while Instant::now() < stop {
                    let action = if i % 2 == 0 { "spin" } else { "sleep-loop" };
                    let (st, _, _) = act(app, &owner, action, json!({})).await;
                    assert!(st == 424 || st == 503, "a runaway call answered {st}");
                    n += 1;
                }
                n
            }
        });
        let bystander = async {
            let mut took = Vec::new();
            tokio::time::sleep(Duration::from_millis(200)).await;
            while Instant::now() < stop {
                let (st, b, t) = checkout(&app, &buyer_b, &sku_b, json!({})).await;
                assert_eq!(st, 201, "{b}");
                took.push(t);
            }
            took
        };
        let (runaway, took) = tokio::join!(join_all(flood), bystander);
        let runaway: usize = runaway.iter().sum();
        assert!(runaway >= 64, "the flood ran ({runaway} calls)");
        let slowest = took.iter().max().copied().unwrap_or_default();
        assert!(
            took.len() >= 10,
            "[{:?}] shop B made only {} orders in 1.3 s of shop A's flood",
            app.backend,
            took.len()
        );
        assert!(
            slowest < Duration::from_millis(500),
            "[{:?}] shop B's slowest checkout took {slowest:?} during the flood",
            app.backend
        );
        app.cleanup().await;
    }
}

// ---- 3. quotas -------------------------------------------------------------------------

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn state_and_timers_are_bounded_per_shop_and_plugin() {
    let o = AppOptions {
        quota: Quota {
            state_keys: 50,
            state_bytes: 64 << 10,
            timers: 20,
        },
        ..Default::default()
    };
    for app in each(o).await {
        app.publish(artifacts::hostile_manifest(), artifacts::hostile_wasm())
            .await;
        let (_, owner) = hostile_shop(&app, "Hoarder").await;
        let fill = |count: u32, size: usize, prefix: &str| json!({ "count": count, "size": size, "prefix": prefix });
        let (st, b, _) = act(&app, &owner, "fill", fill(40, 10, "a")).await;
        assert_eq!(st, 200, "{b}");
        // 20 more keys would make 60 > 50: the whole call is refused, nothing of it kept.
        let (st, b, _) = act(&app, &owner, "fill", fill(20, 10, "b")).await;
        assert_eq!(st, 422, "{b}");
        assert_eq!(b["error"]["code"], "plugin_refused", "{b}");
        let msg = b["error"]["message"].as_str().unwrap();
        assert!(msg.contains("quota") && msg.contains("50"), "{msg}");
        let h = health(&app, &owner).await;
        assert_eq!(h["usage"]["state_keys"], 40, "{h}");
        assert_eq!(h["quota"]["state_keys"], 50, "{h}");
        // Bytes: two 40 KiB values pass 64 KiB.
        let (st, b, _) = act(&app, &owner, "fill", fill(2, 40 << 10, "big")).await;
        assert_eq!(st, 422, "{b}");
        assert!(
            b["error"]["message"].as_str().unwrap().contains("bytes"),
            "{b}"
        );
        // Timers: 20 pending at most.
        let (st, b, _) = act(&app, &owner, "schedule", fill(20, 0, "t")).await;
        assert_eq!(st, 200, "{b}");
        let (st, b, _) = act(&app, &owner, "schedule", fill(1, 0, "more")).await;
        assert_eq!(st, 422, "{b}");
        assert!(
            b["error"]["message"].as_str().unwrap().contains("timer"),
            "{b}"
        );
        let h = health(&app, &owner).await;
        assert_eq!(h["usage"]["timers"], 20, "{h}");
        // Refusals are the plugin's answer, not faults: nothing for the breaker.
        assert_eq!(h["failures"], json!([]), "{h}");
        app.cleanup().await;
    }
}

// ---- 4. timer fairness -------------------------------------------------------------------

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn one_shops_timer_backlog_does_not_hold_back_another_shops_timer() {
    for app in TestApp::each_backend().await {
        app.publish(artifacts::hostile_manifest(), artifacts::hostile_wasm())
            .await;
        let (shop_a, owner_a) = hostile_shop(&app, "Backlog").await;
        let (shop_b, owner_b) = hostile_shop(&app, "Punctual").await;
        for chunk in 0..4 {
            let (st, b, _) = act(
                &app,
                &owner_a,
                "schedule",
                json!({ "count": 500, "prefix": format!("a{chunk}") }),
            )
            .await;
            assert_eq!(st, 200, "{b}");
        }
        let (st, b, _) = act(
            &app,
            &owner_b,
            "schedule",
            json!({ "count": 1, "prefix": "b" }),
        )
        .await;
        assert_eq!(st, 200, "{b}");
        app.clock.advance(1_000);
        // One pass of the worker: shop B's timer fires although 2,000 of A's were due first.
        app.platform().tick().await.unwrap();
        let fired = |shop: String, key: &'static str| {
            let app = &app;
            async move {
                let mut tx = app.platform().db.read().await.unwrap();
                baseplate_store::state::get(&mut tx, &shop, "hostile", key)
                    .await
                    .unwrap()
                    .is_some()
            }
        };
        assert!(
            fired(shop_b.clone(), "fired/t/b/0").await,
            "[{:?}] shop B's timer waited behind shop A's backlog",
            app.backend
        );
        assert!(
            fired(shop_a.clone(), "fired/t/a0/0").await,
            "A's oldest fired too"
        );
        app.cleanup().await;
    }
}

// ---- 5. money bounds and poisoned data ---------------------------------------------------

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn amounts_are_bounded_and_the_ledger_always_reads() {
    for app in TestApp::each_backend().await {
        app.publish(artifacts::hostile_manifest(), artifacts::hostile_wasm())
            .await;
        let (shop, owner) = hostile_shop(&app, "Poison").await;
        // A plugin's overflowing postings are refused, and nothing is booked.
        let (st, b, _) = act(&app, &owner, "poison-ledger", json!({})).await;
        assert_eq!(st, 422, "{b}");
        assert!(
            b["error"]["message"].as_str().unwrap().contains("10^15"),
            "{b}"
        );
        // The API bounds prices on update as on create.
        let (product, sku) = app.product(&owner, "Tea", 1_000, 10).await;
        let (st, b) = app
            .request(
                reqwest::Method::PATCH,
                &format!("/api/v1/skus/{sku}"),
                Some(&owner),
                Some(json!({ "price": i64::MAX })),
                &[],
            )
            .await;
        assert_eq!(st, 422, "{b}");
        let (_, p) = app
            .get(&format!("/api/v1/products/{product}"), &owner)
            .await;
        assert_eq!(p["skus"][0]["price"], 1_000, "{p}");

        // Data written before the bounds (two balanced postings of ±i64::MAX) still reads.
        let mut tx = app.platform().db.write("").await.unwrap();
        for i in 0..2 {
            let p = baseplate_domain::Posting {
                memo: "old poison".into(),
                entries: vec![
                    baseplate_domain::LedgerEntry {
                        party: baseplate_domain::Party::Shop,
                        account: "poison".into(),
                        amount: baseplate_domain::Money(i64::MAX),
                        available_at: None,
                    },
                    baseplate_domain::LedgerEntry {
                        party: baseplate_domain::Party::Platform,
                        account: "poison".into(),
                        amount: baseplate_domain::Money(-i64::MAX),
                        available_at: None,
                    },
                ],
            };
            baseplate_store::ledger::post(
                &mut tx,
                &shop,
                &format!("post_poison{i}"),
                "test",
                None,
                &p,
                0,
            )
            .await
            .unwrap();
        }
        tx.commit().await.unwrap();
        let (st, l) = app.get("/api/v1/ledger", &owner).await;
        assert_eq!(st, 200, "[{:?}] {l}", app.backend);
        assert_eq!(l["imbalance"], 0, "{l}");
        let (st, b) = app
            .get("/api/v1/ledger/balance?party=shop&account=poison", &owner)
            .await;
        assert_eq!(st, 200, "[{:?}] {b}", app.backend);
        assert_eq!(b["total"], i64::MAX, "saturated, never an error: {b}");
        app.cleanup().await;
    }
}

// ---- 6. publishing refuses what can never run ----------------------------------------------

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn publishing_refuses_components_that_could_never_run() {
    let app = TestApp::sqlite().await;
    let dev = app.developer("escape artist").await;
    let publish = |manifest: &str, wasm: Vec<u8>| {
        let manifest = manifest.to_string();
        let (app, dev) = (&app, &dev);
        async move {
            let (st, b) = app.publish_as(dev, &manifest, &wasm).await;
            assert!((400..500).contains(&st), "refused with a 4xx: {st} {b}");
            b["error"]["message"]
                .as_str()
                .unwrap_or_default()
                .to_string()
        }
    };
    let (m, w) = artifacts::escape_fs();
    let e = publish(m, w).await;
    assert!(e.contains("wasi:filesystem"), "{e}");
    let (m, w) = artifacts::escape_net();
    let e = publish(m, w).await;
    assert!(e.contains("wasi:sockets"), "{e}");
    let (m, w) = artifacts::no_hooks();
    let e = publish(m, w).await;
    assert!(e.contains("does not export the hooks"), "{e}");
    // A 0.1.0 component under a manifest that says 0.2.0.
    let (m, w) = artifacts::v010_fixture();
    let e = publish(&m.replace("wit = \"0.1.0\"", "wit = \"0.2.0\""), w).await;
    assert!(e.contains("hooks@0.1.0"), "{e}");
    // A component importing an interface its manifest does not declare.
    let e = publish(
        &artifacts::hostile_manifest().replace(
            r#"capabilities = ["state", "timers", "ledger", "host"]"#,
            r#"capabilities = ["state", "timers", "host"]"#,
        ),
        artifacts::hostile_wasm(),
    )
    .await;
    assert!(e.contains("imports the ledger interface"), "{e}");
    // Not a component at all.
    let (m, _) = artifacts::no_hooks();
    let e = publish(m, b"\0asm\x01\0\0\0".to_vec()).await;
    assert!(
        e.contains("not a WebAssembly component") || e.contains("core"),
        "{e}"
    );
    app.cleanup().await;
}

// ---- 0.1.0 and 0.2.0 side by side ------------------------------------------------------------

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_010_plugin_and_a_020_plugin_run_in_one_checkout() {
    for app in TestApp::each_backend().await {
        let (m, w) = artifacts::v010_fixture();
        app.publish(m, w).await;
        let (shop, owner) = app.shop("Two contracts").await;
        app.install(&owner, "v010-fixture", None).await;
        app.install(&owner, "coupons", None).await;
        let (_, sku) = app.product(&owner, "Tea", 10_000, 10).await;
        let (st, tpl) = app
            .post(
                "/api/v1/plugins/coupons/actions/create-template",
                &owner,
                json!({
                    "name": "10 off",
                    "discount": { "type": "fixed", "amount": 1000 },
                    "validity": { "type": "relative", "days": 7 },
                    "total_stock": 5
                }),
            )
            .await;
        assert_eq!(st, 200, "{tpl}");
        let (_, buyer) = app.member(&shop, "Both").await;
        let (st, c) = app
            .post(
                "/api/v1/plugins/coupons/actions/claim",
                &buyer,
                json!({ "template_id": tpl["template_id"] }),
            )
            .await;
        assert_eq!(st, 200, "{c}");
        let (st, order, _) = checkout(
            &app,
            &buyer,
            &sku,
            json!({ "coupons": { "coupon_ids": [c["coupon_id"]] } }),
        )
        .await;
        assert_eq!(st, 201, "{order}");
        let adj = order["lines"][0]["adjustments"].as_array().unwrap();
        let plugins: Vec<&str> = adj.iter().map(|a| a["plugin"].as_str().unwrap()).collect();
        assert_eq!(plugins, ["v010-fixture", "coupons"], "{order}");
        assert_eq!(order["payable_amount"], 10_000 - 100 - 1_000, "{order}");
        // The 0.1.0 state import works through the adapter.
        let (st, r) = app
            .post(
                "/api/v1/plugins/v010-fixture/actions/remember",
                &owner,
                json!({"n": 1}),
            )
            .await;
        assert_eq!(st, 200, "{r}");
        assert_eq!(r["wit"], "0.1.0");
        app.cleanup().await;
    }
}

// ---- 7. cancelled requests -------------------------------------------------------------------

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn cancelled_checkouts_leave_consistent_state() {
    for app in TestApp::each_backend().await {
        let (shop, owner) = app.shop("Impatient").await;
        let (product, sku) = app.product(&owner, "Tea", 1_000, 1_000).await;
        app.install(&owner, "coupons", None).await;
        let (_, buyer) = app.member(&shop, "Buyer").await;
        // Clients that give up after 1..5 ms, over and over, while checkouts run.
        let impatient = reqwest::Client::new();
        let tries = (0..200).map(|i| {
            let (impatient, base, buyer, sku) = (
                impatient.clone(),
                app.base.clone(),
                buyer.clone(),
                sku.clone(),
            );
            async move {
                let r = impatient
                    .post(format!("{base}/api/v1/orders"))
                    .bearer_auth(buyer)
                    .header("Idempotency-Key", format!("cancel-{i}"))
                    .timeout(Duration::from_millis(1 + i % 5))
                    .json(&json!({ "lines": [{ "sku_id": sku, "quantity": 1 }] }))
                    .send()
                    .await;
                r.map(|r| r.status().as_u16()).ok()
            }
        });
        join_all(tries).await;
        tokio::time::sleep(Duration::from_millis(300)).await;
        // Every order that exists took its stock, and nothing else did.
        let (st, orders) = app.get("/api/v1/orders?limit=200", &owner).await;
        assert_eq!(st, 200, "{orders}");
        let n = orders["orders"].as_array().unwrap().len() as i64;
        let (_, p) = app
            .get(&format!("/api/v1/products/{product}"), &owner)
            .await;
        assert_eq!(
            p["skus"][0]["stock"].as_i64().unwrap(),
            1_000 - n,
            "[{:?}] {n} orders",
            app.backend
        );
        let (st, _) = app
            .request(reqwest::Method::GET, "/healthz", None, None, &[])
            .await;
        assert_eq!(st, 200);
        // And the node still serves.
        let (st, o, _) = checkout(&app, &buyer, &sku, json!({})).await;
        assert_eq!(st, 201, "{o}");
        app.cleanup().await;
    }
}

/// The SDK's mock host enforces the same limits as the host: one source of truth, checked.
#[test]
fn the_sdks_mock_limits_are_the_hosts() {
    use baseplate_runtime::limits as host;
    use baseplate_sdk::limits as sdk;
    assert_eq!(sdk::MAX_KEY_BYTES, host::MAX_KEY_BYTES);
    assert_eq!(sdk::MAX_VALUE_BYTES, host::MAX_VALUE_BYTES);
    assert_eq!(sdk::MAX_SCAN_LIMIT, host::MAX_SCAN);
    assert_eq!(sdk::MAX_GET_MANY, host::MAX_GET_MANY);
    assert_eq!(sdk::MAX_TIMER_NAME_BYTES, host::MAX_TIMER_NAME);
    assert_eq!(sdk::MAX_LOG_LINES, host::MAX_LOG_LINES);
    assert_eq!(sdk::MAX_LOG_LINE_BYTES, host::MAX_LOG_BYTES);
    assert_eq!(sdk::MAX_ATTRIBUTES, host::MAX_ATTRIBUTES);
    assert_eq!(sdk::MAX_ATTRIBUTE_KEY_BYTES, host::MAX_ATTRIBUTE_KEY);
    assert_eq!(sdk::MAX_ATTRIBUTE_VALUE_BYTES, host::MAX_ATTRIBUTE_VALUE);
    assert_eq!(sdk::MAX_ADJUSTMENTS, host::MAX_ADJUSTMENTS);
    assert_eq!(sdk::MAX_POSTING_ENTRIES, host::MAX_POSTING_ENTRIES);
    assert_eq!(sdk::MAX_REASON_BYTES, host::MAX_REASON_BYTES);
    assert_eq!(sdk::MAX_ENTRY_AMOUNT, host::MAX_AMOUNT);
    let q = Quota::default();
    assert_eq!(sdk::DEFAULT_MAX_STATE_KEYS as i64, q.state_keys);
    assert_eq!(sdk::DEFAULT_MAX_STATE_BYTES as i64, q.state_bytes);
    assert_eq!(sdk::DEFAULT_MAX_PENDING_TIMERS as i64, q.timers);
}
