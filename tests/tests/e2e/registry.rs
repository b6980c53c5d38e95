//! The open marketplace end to end over HTTP: a third-party developer publishes a plugin
//! built outside the first-party set, the operator reviews it, merchants install it by
//! semver with capability consent, upgrade (seeing the diff), roll back, take part in a
//! canary that is promoted, keep a pinned yanked version, and lose a revoked one — whose
//! events are held until the shop runs a good version.

use baseplate_tests::artifacts::{self, with_version};
use baseplate_tests::harness::{OPERATOR, TestApp};
use reqwest::Method;
use serde_json::{Value, json};

const TEA: &str = "tea-discount";

struct Shop {
    id: String,
    owner: String,
    member: String,
    sku: String,
}

async fn shop(app: &TestApp, name: &str) -> Shop {
    let (id, owner) = app.shop(name).await;
    let (_, sku) = app.product(&owner, "Longjing", 10_000, 1_000).await;
    let (_, member) = app.member(&id, "Buyer").await;
    Shop {
        id,
        owner,
        member,
        sku,
    }
}

/// What the buyer would pay for one item.
async fn quote(app: &TestApp, s: &Shop) -> i64 {
    let (st, q) = app
        .post(
            "/api/v1/checkout/quote",
            &s.member,
            json!({ "lines": [{ "sku_id": s.sku, "quantity": 1 }] }),
        )
        .await;
    assert_eq!(st, 200, "{q}");
    q["payable_amount"].as_i64().unwrap()
}

/// Orders one item and pays; returns the order id.
async fn buy(app: &TestApp, s: &Shop, key: &str) -> String {
    let (st, o) = app
        .request(
            Method::POST,
            "/api/v1/orders",
            Some(&s.member),
            Some(json!({ "lines": [{ "sku_id": s.sku, "quantity": 1 }] })),
            &[("Idempotency-Key", key)],
        )
        .await;
    assert_eq!(st, 201, "{o}");
    let id = o["id"].as_str().unwrap().to_string();
    app.pay(&s.member, &id).await;
    id
}

async fn installation(app: &TestApp, s: &Shop) -> Value {
    let (st, list) = app.get("/api/v1/plugins", &s.owner).await;
    assert_eq!(st, 200, "{list}");
    list["plugins"]
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["plugin"] == TEA)
        .cloned()
        .unwrap_or(Value::Null)
}

async fn paid_count(app: &TestApp, s: &Shop) -> i64 {
    let (st, b) = app
        .post(
            &format!("/api/v1/plugins/{TEA}/actions/paid-count"),
            &s.owner,
            json!({}),
        )
        .await;
    assert_eq!(st, 200, "{b}");
    b["paid"].as_i64().unwrap()
}

async fn consent(app: &TestApp, s: &Shop) {
    let (st, b) = app
        .put("/api/v1/shop/canary", &s.owner, json!({ "opt_in": true }))
        .await;
    assert_eq!(st, 200, "{b}");
    assert_eq!(b["opt_in"], true);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_third_party_plugin_from_publish_to_revoke() {
    for app in TestApp::each_backend().await {
        walkthrough(&app).await;
        app.cleanup().await;
    }
}

async fn walkthrough(app: &TestApp) {
    let dev = app.developer("Leaf & Co").await;
    let v1 = artifacts::tea_wasm();
    let next = artifacts::tea_next_wasm();

    // Published, it waits for review with what a reviewer needs.
    let (st, v) = app.publish_as(&dev, artifacts::tea_manifest(), &v1).await;
    assert_eq!(st, 201, "{v}");
    assert_eq!(v["state"], "submitted");
    let (st, q) = app.get("/api/v1/registry/queue", OPERATOR).await;
    assert_eq!(st, 200, "{q}");
    let entry = q["queue"]
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["name"] == TEA)
        .expect("in the queue")
        .clone();
    assert_eq!(entry["version"], "1.0.0");
    assert_eq!(entry["size"], v1.len() as i64);
    assert_eq!(entry["signer"]["developer_id"], dev.id.as_str());
    assert_eq!(entry["signer"]["key_id"], dev.key_id.as_str());
    assert_eq!(entry["previous_approved"], Value::Null);
    assert_eq!(entry["capability_diff"]["added"], json!([]));
    assert_eq!(entry["manifest"]["hooks"]["price"], json!(["order"]));

    // Not installable before approval.
    let a = shop(app, "Shop A").await;
    let (st, b) = app
        .post("/api/v1/plugins", &a.owner, json!({ "name": TEA }))
        .await;
    assert_eq!(st, 409, "{b}");
    assert_eq!(b["error"]["code"], "no_installable_version");

    app.review(
        TEA,
        "1.0.0",
        "approve",
        json!({ "reason": "reviewed: pricing only" }),
    )
    .await;

    // Merchants find it by text and category.
    let (st, cat) = app
        .get("/api/v1/marketplace/catalog?q=10%25%20off", &a.owner)
        .await;
    assert_eq!(st, 200, "{cat}");
    let found = &cat["plugins"].as_array().unwrap()[0];
    assert_eq!(found["name"], TEA, "{cat}");
    assert_eq!(found["capabilities"], json!([]));
    assert_eq!(found["installs"], 0);
    assert_eq!(found["publisher"]["name"], "Leaf & Co");
    let (_, cat) = app
        .get("/api/v1/marketplace/catalog?category=loyalty", &a.owner)
        .await;
    assert!(
        cat["plugins"]
            .as_array()
            .unwrap()
            .iter()
            .all(|p| p["name"] != TEA),
        "{cat}"
    );

    // Installed by semver; its hook changes the checkout.
    assert_eq!(quote(app, &a).await, 10_000);
    let (st, inst) = app
        .post(
            "/api/v1/plugins",
            &a.owner,
            json!({ "name": TEA, "version": "^1", "accept_capabilities": [] }),
        )
        .await;
    assert_eq!(st, 201, "{inst}");
    assert_eq!(inst["version"], "1.0.0");
    assert_eq!(quote(app, &a).await, 9_000);
    buy(app, &a, "a-1").await;
    let b_shop = shop(app, "Shop B").await;
    app.install(&b_shop.owner, TEA, None).await;

    // 1.1.0 asks for one more capability: the reviewer sees it, shops are not moved to it
    // silently, the merchant sees the diff and accepts it to upgrade.
    let (st, v) = app
        .publish_as(&dev, artifacts::tea_next_manifest(), &next)
        .await;
    assert_eq!(st, 201, "{v}");
    assert_eq!(v["previous_approved"], "1.0.0");
    assert_eq!(v["capability_diff"]["added"], json!(["state"]));
    app.review(TEA, "1.1.0", "approve", json!({})).await;
    assert_eq!(installation(app, &a).await["version"], "1.0.0");
    let (st, up) = app
        .get(&format!("/api/v1/plugins/{TEA}/upgrade"), &a.owner)
        .await;
    assert_eq!(st, 200, "{up}");
    assert_eq!(up["available"]["version"], "1.1.0");
    assert_eq!(up["available"]["needs_acceptance"], true);
    assert_eq!(up["available"]["diff"]["added"], json!(["state"]));
    let (st, b) = app
        .post(
            &format!("/api/v1/plugins/{TEA}/upgrade"),
            &a.owner,
            json!({}),
        )
        .await;
    assert_eq!(st, 409, "{b}");
    assert_eq!(b["error"]["code"], "capabilities_not_accepted");
    assert_eq!(b["error"]["details"]["capabilities"], json!(["state"]));
    let (st, b) = app
        .post(
            &format!("/api/v1/plugins/{TEA}/upgrade"),
            &a.owner,
            json!({ "accept_capabilities": ["state"] }),
        )
        .await;
    assert_eq!(st, 200, "{b}");
    assert_eq!(b["version"], "1.1.0");
    assert_eq!(b["previous_version"], "1.0.0");
    buy(app, &a, "a-2").await;
    assert_eq!(paid_count(app, &a).await, 1);

    // Roll back (pinned there), then follow ^1 again; state survives.
    let (st, b) = app
        .post(
            &format!("/api/v1/plugins/{TEA}/rollback"),
            &a.owner,
            json!({}),
        )
        .await;
    assert_eq!(st, 200, "{b}");
    assert_eq!(
        (b["version"].as_str(), b["pinned"].as_bool()),
        (Some("1.0.0"), Some(true))
    );
    assert_eq!(quote(app, &a).await, 9_000);
    let (st, b) = app
        .post(&format!("/api/v1/plugins/{TEA}/unpin"), &a.owner, json!({}))
        .await;
    assert_eq!(st, 200, "{b}");
    assert_eq!(b["version_req"], "^1.0.0");
    let (st, b) = app
        .post(
            &format!("/api/v1/plugins/{TEA}/upgrade"),
            &b_shop.owner,
            json!({ "accept_capabilities": ["state"] }),
        )
        .await;
    assert_eq!(st, 200, "{b}");

    // 1.2.0, approved staged: nobody resolves to it until its canary.
    let (st, v) = app
        .publish_as(
            &dev,
            &with_version(artifacts::tea_next_manifest(), "1.2.0"),
            &next,
        )
        .await;
    assert_eq!(st, 201, "{v}");
    let v = app
        .review(TEA, "1.2.0", "approve", json!({ "staged": true }))
        .await;
    assert_eq!(v["rollout"], "staged");
    let (_, up) = app
        .get(&format!("/api/v1/plugins/{TEA}/upgrade"), &a.owner)
        .await;
    assert_eq!(up["available"]["version"], "1.1.0", "{up}");

    // The developer runs the canary on shop A only (both consent).
    consent(app, &a).await;
    consent(app, &b_shop).await;
    let (st, c) = app
        .post(
            &format!("/api/v1/registry/plugins/{TEA}/versions/1.2.0/canary"),
            &dev.token,
            json!({ "shops": [a.id] }),
        )
        .await;
    assert_eq!(st, 201, "{c}");
    assert_eq!(c["moves"][0]["moved"], true, "{c}");
    assert_eq!(installation(app, &a).await["version"], "1.2.0");
    assert_eq!(installation(app, &b_shop).await["version"], "1.1.0");
    assert_eq!(quote(app, &a).await, 9_000);
    let (st, c) = app
        .get(
            &format!("/api/v1/registry/plugins/{TEA}/versions/1.2.0/canary"),
            OPERATOR,
        )
        .await;
    assert_eq!(st, 200, "{c}");
    assert!(c["calls"].as_i64().unwrap() >= 1, "{c}");
    assert_eq!(c["failures"], 0);
    assert_eq!(c["failure_rate"], 0.0);
    assert_eq!(c["shops"][0]["shop_id"], a.id.as_str());

    // Promoted: it is what everyone's requirement resolves to; B follows.
    let (st, c) = app
        .post(
            &format!("/api/v1/registry/plugins/{TEA}/versions/1.2.0/promote"),
            &dev.token,
            json!({}),
        )
        .await;
    assert_eq!(st, 200, "{c}");
    assert_eq!(c["rollout"], "released");
    assert_eq!(installation(app, &b_shop).await["version"], "1.2.0");

    // Yanked: B, pinned on it, keeps running it; a new install cannot pick it.
    let (st, b) = app
        .post(
            &format!("/api/v1/plugins/{TEA}/pin"),
            &b_shop.owner,
            json!({}),
        )
        .await;
    assert_eq!(st, 200, "{b}");
    app.review(
        TEA,
        "1.2.0",
        "yank",
        json!({ "reason": "slow on big carts" }),
    )
    .await;
    let b_inst = installation(app, &b_shop).await;
    assert_eq!(
        (b_inst["version"].as_str(), b_inst["active"].as_bool()),
        (Some("1.2.0"), Some(true))
    );
    assert_eq!(quote(app, &b_shop).await, 9_000);
    let c_shop = shop(app, "Shop C").await;
    let (st, b) = app
        .post(
            "/api/v1/plugins",
            &c_shop.owner,
            json!({ "name": TEA, "version": "=1.2.0", "accept_capabilities": ["state"] }),
        )
        .await;
    assert_eq!(st, 409, "{b}");
    assert!(
        b["error"]["message"].as_str().unwrap().contains("yanked"),
        "{b}"
    );
    let (st, b) = app
        .post(
            "/api/v1/plugins",
            &c_shop.owner,
            json!({ "name": TEA, "version": "^1", "accept_capabilities": ["state"] }),
        )
        .await;
    assert_eq!(st, 201, "{b}");
    assert_eq!(b["version"], "1.1.0");

    // Revoked: off in every shop at once; the merchant reads why; events are held.
    app.review(
        TEA,
        "1.1.0",
        "revoke",
        json!({ "reason": "leaks order data to logs" }),
    )
    .await;
    let c_inst = installation(app, &c_shop).await;
    assert_eq!(c_inst["active"], false, "{c_inst}");
    let why = c_inst["not_running_reason"].as_str().unwrap();
    assert!(
        why.contains("revoked") && why.contains("leaks order data"),
        "{why}"
    );
    let (_, health) = app
        .get(&format!("/api/v1/plugins/{TEA}/health"), &c_shop.owner)
        .await;
    assert!(
        health["installation"]["not_running_reason"]
            .as_str()
            .unwrap()
            .contains("leaks order data"),
        "{health}"
    );
    assert_eq!(quote(app, &c_shop).await, 10_000);
    buy(app, &c_shop, "c-1").await;
    app.advance(120_000).await;
    let (_, ev) = app
        .get("/api/v1/events?status=pending", &c_shop.owner)
        .await;
    let held = &ev["deliveries"].as_array().unwrap()[0];
    assert_eq!(
        (held["plugin"].as_str(), held["kind"].as_str()),
        (Some(TEA), Some("order-paid")),
        "{ev}"
    );
    assert_eq!(held["attempts"], 0, "held, not retried: {held}");
    assert!(
        held["last_error"].as_str().unwrap().starts_with("held: "),
        "{held}"
    );
    let (_, dead) = app.get("/api/v1/events?status=dead", &c_shop.owner).await;
    assert_eq!(dead["deliveries"], json!([]));

    // 1.3.0 released: C (following ^1) moves to it and gets its held event; A follows too;
    // B stays pinned on the yanked 1.2.0.
    let (st, v) = app
        .publish_as(
            &dev,
            &with_version(artifacts::tea_next_manifest(), "1.3.0"),
            &next,
        )
        .await;
    assert_eq!(st, 201, "{v}");
    app.review(TEA, "1.3.0", "approve", json!({})).await;
    assert_eq!(installation(app, &c_shop).await["version"], "1.3.0");
    assert_eq!(installation(app, &a).await["version"], "1.3.0");
    assert_eq!(installation(app, &b_shop).await["version"], "1.2.0");
    assert_eq!(
        paid_count(app, &c_shop).await,
        1,
        "the held order-paid was delivered"
    );
    let (_, ev) = app
        .get("/api/v1/events?status=pending", &c_shop.owner)
        .await;
    assert_eq!(ev["deliveries"], json!([]));
    assert_eq!(quote(app, &c_shop).await, 9_000);
    // A's count kept its state through rollback, canary and upgrades.
    assert_eq!(paid_count(app, &a).await, 1);

    // The log says who did what, when and why.
    let (st, log) = app
        .get(&format!("/api/v1/registry/log?plugin={TEA}"), OPERATOR)
        .await;
    assert_eq!(st, 200, "{log}");
    let actions: Vec<&str> = log["log"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["action"].as_str().unwrap())
        .collect();
    for a in [
        "publish",
        "approve",
        "approve-staged",
        "canary",
        "promote",
        "yank",
        "revoke",
        "roll-forward",
    ] {
        assert!(actions.contains(&a), "{a} in {actions:?}");
    }
    let revoke = log["log"]
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["action"] == "revoke")
        .unwrap();
    assert_eq!(revoke["reason"], "leaks order data to logs");
    assert!(
        revoke["actor"].as_str().unwrap().starts_with("operator:"),
        "{revoke}"
    );
    let canary = log["log"]
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["action"] == "canary")
        .unwrap();
    assert_eq!(canary["actor"], format!("developer:{}", dev.id));

    // The platform view: installs, calls, failure rate and p99 across shops.
    let (st, stats) = app.get("/api/v1/registry/stats", OPERATOR).await;
    assert_eq!(st, 200, "{stats}");
    let tea = stats["plugins"]
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["name"] == TEA)
        .unwrap();
    assert_eq!(tea["installs"], 3);
    assert!(tea["calls"].as_i64().unwrap() > 5, "{tea}");
    assert_eq!(tea["failure_rate"], 0.0);
    assert!(tea["p99_us"].as_i64().unwrap() > 0, "{tea}");

    // The developer sees their versions and states.
    let (st, mine) = app.get("/api/v1/developer/plugins", &dev.token).await;
    assert_eq!(st, 200, "{mine}");
    let states: Vec<(String, String)> = mine["plugins"][0]["versions"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| {
            (
                v["version"].as_str().unwrap().to_string(),
                v["state"].as_str().unwrap().to_string(),
            )
        })
        .collect();
    assert_eq!(
        states,
        [
            ("1.0.0", "approved"),
            ("1.1.0", "revoked"),
            ("1.2.0", "yanked"),
            ("1.3.0", "approved")
        ]
        .map(|(a, b)| (a.to_string(), b.to_string()))
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_percentage_canary_takes_consenting_shops_and_a_halt_sends_them_back() {
    for app in TestApp::each_backend().await {
        percentage_canary(&app).await;
        app.cleanup().await;
    }
}

async fn percentage_canary(app: &TestApp) {
    let dev = app.developer("Canary Co").await;
    let (st, b) = app
        .publish_as(&dev, artifacts::tea_manifest(), &artifacts::tea_wasm())
        .await;
    assert_eq!(st, 201, "{b}");
    app.review(TEA, "1.0.0", "approve", json!({})).await;
    let mut shops = Vec::new();
    for name in ["One", "Two", "Shy"] {
        let s = shop(app, name).await;
        app.install(&s.owner, TEA, None).await;
        shops.push(s);
    }
    consent(app, &shops[0]).await;
    consent(app, &shops[1]).await;
    let manifest = with_version(artifacts::tea_manifest(), "1.1.0");
    let (st, b) = app
        .publish_as(&dev, &manifest, &artifacts::tea_wasm())
        .await;
    assert_eq!(st, 201, "{b}");
    app.review(TEA, "1.1.0", "approve", json!({ "staged": true }))
        .await;

    // Staged versions need a canary first; listing a shop that did not opt in is refused.
    let (st, b) = app
        .post(
            &format!("/api/v1/registry/plugins/{TEA}/versions/1.1.0/canary"),
            OPERATOR,
            json!({ "shops": [shops[2].id] }),
        )
        .await;
    assert_eq!(st, 409, "{b}");
    assert_eq!(b["error"]["code"], "shops_not_eligible");
    assert!(
        b["error"]["message"].as_str().unwrap().contains("opted in"),
        "{b}"
    );

    let (st, c) = app
        .post(
            &format!("/api/v1/registry/plugins/{TEA}/versions/1.1.0/canary"),
            OPERATOR,
            json!({ "percent": 50 }),
        )
        .await;
    assert_eq!(st, 201, "{c}");
    let cohort: Vec<String> = c["shops"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["shop_id"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(cohort.len(), 1, "half of the two consenting shops: {c}");
    assert_ne!(cohort[0], shops[2].id, "never the shop that did not opt in");
    let mut versions = Vec::new();
    for s in &shops {
        versions.push(
            installation(app, s).await["version"]
                .as_str()
                .unwrap()
                .to_string(),
        );
    }
    assert_eq!(
        versions.iter().filter(|v| *v == "1.1.0").count(),
        1,
        "{versions:?}"
    );

    // Halted: the canary shop goes back; nobody resolves to the version any more.
    let (st, c) = app
        .post(
            &format!("/api/v1/registry/plugins/{TEA}/versions/1.1.0/halt"),
            OPERATOR,
            json!({ "reason": "failure rate too high" }),
        )
        .await;
    assert_eq!(st, 200, "{c}");
    assert_eq!(c["rollout"], "halted");
    assert_eq!(c["canary"]["status"], "halted");
    for s in &shops {
        assert_eq!(installation(app, s).await["version"], "1.0.0");
        let (_, up) = app
            .get(&format!("/api/v1/plugins/{TEA}/upgrade"), &s.owner)
            .await;
        assert_eq!(up["available"], Value::Null, "{up}");
    }
}
