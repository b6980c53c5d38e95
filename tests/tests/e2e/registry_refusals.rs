//! What the registry refuses, one test per rule, each a 4xx JSON error with a code and a
//! message that says what to fix; who may do what (every refusal a 403 with a message);
//! and a tampered artifact, refused before it is compiled, recorded as a failure, and
//! visible to the operator and the merchant.

use baseplate_marketplace::PublisherKey;
use baseplate_tests::artifacts::{self, with_version};
use baseplate_tests::harness::{AppOptions, Backend, Developer, OPERATOR, TestApp, scratch_dir};
use serde_json::{Value, json};

const TEA: &str = "tea-discount";

fn assert_refused(st: u16, b: &Value, status: u16, code: &str, words: &[&str]) {
    assert_eq!(st, status, "{b}");
    assert_eq!(b["error"]["code"], code, "{b}");
    let message = b["error"]["message"].as_str().expect("a message");
    for w in words {
        assert!(message.contains(w), "{w:?} in {message:?}");
    }
}

/// Publishes `manifest` + `component` as a fresh developer on every backend and checks the
/// refusal; nothing is stored.
async fn refused(manifest: &str, component: &[u8], status: u16, code: &str, words: &[&str]) {
    for app in TestApp::each_backend().await {
        let dev = app.developer("Refused Co").await;
        let (st, b) = app.publish_as(&dev, manifest, component).await;
        assert_refused(st, &b, status, code, words);
        let (_, q) = app.get("/api/v1/registry/queue", OPERATOR).await;
        assert_eq!(q["queue"], json!([]), "nothing was stored");
        app.cleanup().await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn refuses_bytes_that_are_not_a_component() {
    let core_module = b"\0asm\x01\0\0\0".to_vec();
    refused(
        artifacts::tea_manifest(),
        &core_module,
        422,
        "not_a_component",
        &["not a WebAssembly component"],
    )
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn refuses_an_unsupported_contract_version() {
    let manifest = artifacts::tea_manifest().replace("wit = \"0.2.0\"", "wit = \"0.9.0\"");
    refused(
        &manifest,
        &artifacts::tea_wasm(),
        422,
        "unsupported_contract",
        &["0.9.0", "0.2.0"],
    )
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn refuses_exports_that_do_not_match_the_declared_contract() {
    // The component exports the 0.2.0 hooks; its manifest claims 0.1.0.
    let manifest = artifacts::tea_manifest().replace("wit = \"0.2.0\"", "wit = \"0.1.0\"");
    refused(
        &manifest,
        &artifacts::tea_wasm(),
        422,
        "contract_mismatch",
        &["wit = \"0.1.0\"", "0.2.0"],
    )
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn refuses_imports_beyond_the_declared_capabilities() {
    // The next component imports `state`; this manifest declares nothing.
    let manifest =
        artifacts::tea_next_manifest().replace("capabilities = [\"state\"]", "capabilities = []");
    refused(
        &manifest,
        &artifacts::tea_next_wasm(),
        422,
        "undeclared_capability",
        &["state"],
    )
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn refuses_imports_beyond_the_wasi_subset() {
    refused(
        artifacts::snoop_manifest(),
        &artifacts::snoop_wasm(),
        422,
        "forbidden_import",
        &["wasi:filesystem"],
    )
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn refuses_an_oversized_component() {
    let mut apps = vec![
        TestApp::start(
            Backend::Sqlite,
            AppOptions {
                max_component_bytes: Some(4096),
                ..AppOptions::default()
            },
        )
        .await
        .unwrap(),
    ];
    if let Some(pg) = TestApp::start(
        Backend::Postgres,
        AppOptions {
            max_component_bytes: Some(4096),
            ..AppOptions::default()
        },
    )
    .await
    {
        apps.push(pg);
    }
    for app in apps {
        let dev = app.developer("Big Co").await;
        let wasm = artifacts::tea_wasm();
        assert!(wasm.len() > 4096);
        let (st, b) = app.publish_as(&dev, artifacts::tea_manifest(), &wasm).await;
        assert_refused(st, &b, 413, "component_too_large", &["at most 4096 bytes"]);
        app.cleanup().await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn refuses_a_bad_signature() {
    for app in TestApp::each_backend().await {
        let dev = app.developer("Sig Co").await;
        // Signed over other bytes than the ones uploaded.
        let mut body =
            TestApp::envelope(&dev, artifacts::tea_manifest(), b"\0asm\x0d\0\x01\0other");
        body["component"] =
            TestApp::envelope(&dev, artifacts::tea_manifest(), &artifacts::tea_wasm())["component"]
                .clone();
        let (st, b) = app
            .post("/api/v1/developer/packages", &dev.token, body)
            .await;
        assert_refused(
            st,
            &b,
            422,
            "bad_signature",
            &["does not verify", "tea-discount@1.0.0"],
        );
        app.cleanup().await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn refuses_an_unknown_or_revoked_key() {
    for app in TestApp::each_backend().await {
        let dev = app.developer("Key Co").await;
        let wasm = artifacts::tea_wasm();
        // A key that was never registered.
        let stranger = Developer {
            id: dev.id.clone(),
            token: dev.token.clone(),
            key: PublisherKey::generate().unwrap(),
            key_id: "sk_never_registered".into(),
        };
        let (st, b) = app
            .publish_as(&stranger, artifacts::tea_manifest(), &wasm)
            .await;
        assert_refused(st, &b, 422, "unknown_key", &["sk_never_registered"]);
        // Another developer's registered key is just as unknown to this one.
        let other = app.developer("Other Co").await;
        let borrowed = Developer {
            id: dev.id.clone(),
            token: dev.token.clone(),
            key: other.key.clone(),
            key_id: other.key_id.clone(),
        };
        let (st, b) = app
            .publish_as(&borrowed, artifacts::tea_manifest(), &wasm)
            .await;
        assert_refused(st, &b, 422, "unknown_key", &[&other.key_id]);
        // Rotated away: the old key signs nothing more, the new one does.
        let new_key = PublisherKey::generate().unwrap();
        let (st, k) = app
            .post(
                &format!("/api/v1/developer/signing-keys/{}/rotate", dev.key_id),
                &dev.token,
                json!({ "public_key": new_key.public().to_hex() }),
            )
            .await;
        assert_eq!(st, 201, "{k}");
        let (st, b) = app.publish_as(&dev, artifacts::tea_manifest(), &wasm).await;
        assert_refused(st, &b, 422, "revoked_key", &["revoked"]);
        let rotated = Developer {
            id: dev.id.clone(),
            token: dev.token.clone(),
            key: new_key,
            key_id: k["id"].as_str().unwrap().into(),
        };
        let (st, b) = app
            .publish_as(&rotated, artifacts::tea_manifest(), &wasm)
            .await;
        assert_eq!(st, 201, "{b}");
        app.cleanup().await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn refuses_a_version_already_published() {
    for app in TestApp::each_backend().await {
        let dev = app.developer("Twice Co").await;
        let wasm = artifacts::tea_wasm();
        let (st, b) = app.publish_as(&dev, artifacts::tea_manifest(), &wasm).await;
        assert_eq!(st, 201, "{b}");
        let (st, b) = app.publish_as(&dev, artifacts::tea_manifest(), &wasm).await;
        assert_refused(
            st,
            &b,
            409,
            "version_exists",
            &["1.0.0", "already published"],
        );
        app.cleanup().await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn refuses_a_version_lower_than_the_latest() {
    for app in TestApp::each_backend().await {
        let dev = app.developer("Order Co").await;
        let wasm = artifacts::tea_wasm();
        let (st, b) = app
            .publish_as(
                &dev,
                &with_version(artifacts::tea_manifest(), "1.4.0"),
                &wasm,
            )
            .await;
        assert_eq!(st, 201, "{b}");
        let (st, b) = app
            .publish_as(
                &dev,
                &with_version(artifacts::tea_manifest(), "1.3.9"),
                &wasm,
            )
            .await;
        assert_refused(st, &b, 409, "version_not_newer", &["1.3.9", "1.4.0"]);
        app.cleanup().await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn refuses_a_name_owned_by_someone_else() {
    for app in TestApp::each_backend().await {
        let first = app.developer("First Co").await;
        let second = app.developer("Second Co").await;
        let wasm = artifacts::tea_wasm();
        let (st, b) = app
            .publish_as(&first, artifacts::tea_manifest(), &wasm)
            .await;
        assert_eq!(st, 201, "{b}");
        let (st, b) = app
            .publish_as(
                &second,
                &with_version(artifacts::tea_manifest(), "2.0.0"),
                &wasm,
            )
            .await;
        assert_refused(
            st,
            &b,
            403,
            "name_taken",
            &["tea-discount", "another developer"],
        );
        // First-party names are the platform's.
        let coupons =
            artifacts::tea_manifest().replace("name = \"tea-discount\"", "name = \"coupons\"");
        let (st, b) = app
            .publish_as(&second, &with_version(&coupons, "99.0.0"), &wasm)
            .await;
        assert_refused(st, &b, 403, "name_reserved", &["coupons", "first-party"]);
        app.cleanup().await;
    }
}

// ---- roles ---------------------------------------------------------------------------------

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn only_the_operator_reviews_and_only_owners_manage() {
    for app in TestApp::each_backend().await {
        roles(&app).await;
        app.cleanup().await;
    }
}

fn forbidden(st: u16, b: &Value, what: &str) {
    assert_eq!(st, 403, "{what}: {b}");
    assert_eq!(
        b["error"]["code"].as_str().map(|c| !c.is_empty()),
        Some(true),
        "{what}: {b}"
    );
    assert!(
        b["error"]["message"].as_str().is_some_and(|m| m.len() > 10),
        "{what}: a message: {b}"
    );
}

async fn roles(app: &TestApp) {
    let dev = app.developer("Role Co").await;
    let rival = app.developer("Rival Co").await;
    let (st, b) = app
        .publish_as(&dev, artifacts::tea_manifest(), &artifacts::tea_wasm())
        .await;
    assert_eq!(st, 201, "{b}");
    let (shop, owner) = app.shop("Role Shop").await;
    let (_, member) = app.member(&shop, "Buyer").await;
    let version = format!("/api/v1/registry/plugins/{TEA}/versions/1.0.0");

    // A merchant, a member, and the developer themself cannot approve.
    for (who, token) in [
        ("merchant", owner.as_str()),
        ("member", member.as_str()),
        ("developer", dev.token.as_str()),
    ] {
        let (st, b) = app
            .post(&format!("{version}/approve"), token, json!({}))
            .await;
        forbidden(st, &b, &format!("{who} approves"));
        let (st, b) = app
            .post(
                &format!("{version}/revoke"),
                token,
                json!({ "reason": "x" }),
            )
            .await;
        forbidden(st, &b, &format!("{who} revokes"));
    }
    // A developer cannot publish under another developer's name.
    let (st, b) = app
        .publish_as(
            &rival,
            &with_version(artifacts::tea_manifest(), "1.1.0"),
            &artifacts::tea_wasm(),
        )
        .await;
    forbidden(st, &b, "rival publishes under another's name");
    // Nor run the canary of, or look at, another developer's plugin.
    let (st, b) = app.get(&version, &rival.token).await;
    forbidden(st, &b, "rival looks at the version");
    let (st, b) = app
        .post(
            &format!("{version}/canary"),
            &rival.token,
            json!({ "percent": 10 }),
        )
        .await;
    forbidden(st, &b, "rival starts a canary");
    // Members and merchants cannot publish, read the queue, the log or the developers.
    for (who, token) in [("merchant", owner.as_str()), ("member", member.as_str())] {
        let body = TestApp::envelope(&dev, artifacts::tea_manifest(), &artifacts::tea_wasm());
        let (st, b) = app.post("/api/v1/developer/packages", token, body).await;
        forbidden(st, &b, &format!("{who} publishes"));
        for path in [
            "/api/v1/registry/queue",
            "/api/v1/registry/log",
            "/api/v1/registry/developers",
            "/api/v1/registry/stats",
        ] {
            let (st, b) = app.get(path, token).await;
            forbidden(st, &b, &format!("{who} reads {path}"));
        }
        let (st, b) = app
            .post(
                &format!("{version}/canary"),
                token,
                json!({ "percent": 10 }),
            )
            .await;
        forbidden(st, &b, &format!("{who} starts a canary"));
        let (st, b) = app
            .post(
                "/api/v1/registry/developers",
                token,
                json!({ "name": "sneaky" }),
            )
            .await;
        forbidden(st, &b, &format!("{who} creates a developer"));
    }
    // A developer cannot act as a shop, and a member cannot install.
    let (st, b) = app
        .post("/api/v1/plugins", &dev.token, json!({ "name": TEA }))
        .await;
    forbidden(st, &b, "developer installs");
    let (st, b) = app
        .post("/api/v1/plugins", &member, json!({ "name": TEA }))
        .await;
    forbidden(st, &b, "member installs");

    // A signed-up developer waits for the operator before publishing.
    let (st, b) = app
        .request(
            reqwest::Method::POST,
            "/api/v1/developers",
            None,
            Some(json!({ "name": "Newcomer" })),
            &[],
        )
        .await;
    assert_eq!(st, 201, "{b}");
    assert_eq!(b["developer"]["status"], "pending");
    let token = b["api_key"]["token"].as_str().unwrap().to_string();
    assert!(token.starts_with("bp_dk_"));
    let id = b["developer"]["id"].as_str().unwrap().to_string();
    let (st, b) = app.get("/api/v1/developer", &token).await;
    assert_eq!(st, 200, "a pending developer sees their account: {b}");
    let key = PublisherKey::generate().unwrap();
    let (st, b) = app
        .post(
            "/api/v1/developer/signing-keys",
            &token,
            json!({ "public_key": key.public().to_hex() }),
        )
        .await;
    forbidden(st, &b, "a pending developer registers a key");
    let (st, b) = app
        .post(
            &format!("/api/v1/registry/developers/{id}/approve"),
            &dev.token,
            json!({}),
        )
        .await;
    forbidden(st, &b, "a developer approves a developer");
    let (st, list) = app
        .get("/api/v1/registry/developers?status=pending", OPERATOR)
        .await;
    assert_eq!(st, 200, "{list}");
    assert_eq!(list["developers"][0]["id"], id.as_str());
    let (st, b) = app
        .post(
            &format!("/api/v1/registry/developers/{id}/approve"),
            OPERATOR,
            json!({}),
        )
        .await;
    assert_eq!(st, 200, "{b}");
    assert_eq!(b["status"], "approved");
    let (st, b) = app
        .post(
            "/api/v1/developer/signing-keys",
            &token,
            json!({ "public_key": key.public().to_hex() }),
        )
        .await;
    assert_eq!(st, 201, "approved now: {b}");
    let (_, log) = app.get("/api/v1/registry/log", OPERATOR).await;
    assert!(
        log["log"]
            .as_array()
            .unwrap()
            .iter()
            .any(|e| e["action"] == "approve-developer" && e["developer_id"] == id.as_str()),
        "{log}"
    );
}

// ---- integrity -------------------------------------------------------------------------------

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_tampered_artifact_is_refused_before_it_is_compiled() {
    let mut backends = vec![Backend::Sqlite];
    if std::env::var(baseplate_tests::harness::POSTGRES_ENV).is_ok() {
        backends.push(Backend::Postgres);
    }
    for backend in backends {
        let cache = scratch_dir("plugin-cache");
        let options = AppOptions {
            cache_dir: Some(cache.clone()),
            ..AppOptions::default()
        };
        let app = TestApp::start(backend, options).await.unwrap();
        app.publish(artifacts::tea_manifest(), artifacts::tea_wasm())
            .await;
        let (shop, owner) = app.shop("Tamper Shop").await;
        let (_, sku) = app.product(&owner, "Tea", 10_000, 10).await;
        let (_, member) = app.member(&shop, "Buyer").await;
        app.install(&owner, TEA, None).await;
        let body = json!({ "lines": [{ "sku_id": sku, "quantity": 1 }] });
        let (st, q) = app
            .post("/api/v1/checkout/quote", &member, body.clone())
            .await;
        assert_eq!(
            (st, q["payable_amount"].as_i64()),
            (200, Some(9_000)),
            "{q}"
        );

        // Someone with database access swaps the stored bytes.
        let mut altered = artifacts::tea_wasm();
        altered.extend_from_slice(b"\0backdoor");
        let mut tx = app.platform().db.write("").await.unwrap();
        baseplate_store::query("UPDATE plugin_packages SET component = $1 WHERE name = $2")
            .bind(altered)
            .bind(TEA)
            .execute(&mut tx)
            .await
            .unwrap();
        tx.commit().await.unwrap();

        // A node without compiled code builds it from the stored artifact: it checks the
        // digest first and refuses.
        std::fs::remove_dir_all(&cache).unwrap();
        let app = app.restart().await;
        let (st, q) = app
            .post("/api/v1/checkout/quote", &member, body.clone())
            .await;
        assert_eq!(st, 424, "{q}");
        assert!(
            q["error"]["message"].as_str().unwrap().contains("altered"),
            "{q}"
        );
        app.platform().flush_call_stats().await.unwrap();

        // The merchant sees the failure…
        let (_, health) = app
            .get(&format!("/api/v1/plugins/{TEA}/health"), &owner)
            .await;
        let failure = &health["failures"][0];
        assert_eq!(failure["kind"], "instantiate", "{health}");
        assert!(
            failure["message"].as_str().unwrap().contains("altered"),
            "{health}"
        );
        // …and so does the operator, with the artifact check on the version.
        let (st, v) = app
            .get(
                &format!("/api/v1/registry/plugins/{TEA}/versions/1.0.0"),
                OPERATOR,
            )
            .await;
        assert_eq!(st, 200, "{v}");
        assert_eq!(v["artifact_intact"], false, "{v}");
        let (_, f) = app
            .get(
                &format!("/api/v1/registry/plugins/{TEA}/failures"),
                OPERATOR,
            )
            .await;
        assert_eq!(f["failures"][0]["shop_id"], shop.as_str(), "{f}");
        let (_, stats) = app.get("/api/v1/registry/stats", OPERATOR).await;
        let tea = stats["plugins"]
            .as_array()
            .unwrap()
            .iter()
            .find(|p| p["name"] == TEA)
            .unwrap();
        assert!(tea["failures"].as_i64().unwrap() >= 1, "{tea}");
        app.cleanup().await;
    }
}
