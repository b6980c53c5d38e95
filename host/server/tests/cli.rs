//! The registry over the real binary: `baseplate serve` runs a node, a developer uses
//! `baseplate plugin` (keygen, signup, register-key, publish, status), the operator
//! `baseplate market` (approve-developer, queue, show, approve, canary, promote, yank,
//! revoke, log, stats), and a merchant the HTTP API — on SQLite, and on PostgreSQL when
//! `BASEPLATE_TEST_POSTGRES_URL` is set.

use baseplate_tests::artifacts;
use serde_json::json;
use std::path::Path;

mod common;
use common::*;

#[test]
fn the_registry_over_the_cli() {
    let dir = scratch("sqlite");
    let url = format!("sqlite:{}", dir.join("baseplate.db").display());
    walkthrough(&dir, &url);
    if let Ok(admin) = std::env::var("BASEPLATE_TEST_POSTGRES_URL") {
        let rt = tokio::runtime::Runtime::new().unwrap();
        let mut r = [0u8; 6];
        getrandom::fill(&mut r).unwrap();
        let name = format!("bp_cli_{}", hex::encode(r));
        let pg = rt
            .block_on(baseplate_store::create_postgres_database(&admin, &name))
            .unwrap();
        let dir = scratch("postgres");
        walkthrough(&dir, &pg);
        let _ = rt.block_on(baseplate_store::drop_postgres_database(&admin, &name));
    } else {
        eprintln!("notice: BASEPLATE_TEST_POSTGRES_URL is not set; the CLI ran on SQLite only");
    }
}

fn walkthrough(dir: &Path, database_url: &str) {
    let (node, base) = serve(dir, database_url);
    let op = ["--url", base.as_str(), "--token", OPERATOR];
    let key = dir.join("dev.key");
    let key = key.to_str().unwrap();

    // The developer makes a key, signs up, and waits for the operator.
    let public = run(&["plugin", "keygen", "--out", key]);
    assert_eq!(public.trim().len(), 64, "{public}");
    let signup = json_of(&run(&[
        "plugin", "signup", "--name", "CLI Dev", "--url", &base, "--json",
    ]));
    let dev_id = signup["developer"]["id"].as_str().unwrap().to_string();
    let token = signup["api_key"]["token"].as_str().unwrap().to_string();
    let dev = ["--url", base.as_str(), "--token", token.as_str()];
    let pending = run(&[&["market", "developers", "--status", "pending"][..], &op].concat());
    assert!(pending.contains(&dev_id), "{pending}");
    let refused = run_fails(&[&["plugin", "register-key", "--key", key][..], &dev].concat());
    assert!(refused.contains("403"), "{refused}");
    run(&[&["market", "approve-developer", &dev_id][..], &op].concat());
    let registered = run(&[&["plugin", "register-key", "--key", key][..], &dev].concat());
    assert!(registered.contains(public.trim()), "{registered}");

    // Publish (the key id is looked up from the key), review, approve.
    let published = json_of(&run(&[
        &[
            "plugin",
            "publish",
            "--manifest",
            artifacts::TEA_MANIFEST_PATH,
            "--component",
            artifacts::TEA_WASM,
            "--key",
            key,
            "--json",
        ][..],
        &dev,
    ]
    .concat()));
    assert_eq!(published["state"], "submitted", "{published}");
    let queue = run(&[&["market", "queue"][..], &op].concat());
    assert!(
        queue.contains("tea-discount@1.0.0") && queue.contains("CLI Dev"),
        "{queue}"
    );
    let shown = run(&[&["market", "show", "tea-discount", "1.0.0"][..], &op].concat());
    assert!(shown.contains("artifact intact"), "{shown}");
    let approved = run(&[
        &[
            "market",
            "approve",
            "tea-discount",
            "1.0.0",
            "--reason",
            "reviewed",
        ][..],
        &op,
    ]
    .concat());
    assert!(approved.contains("approved (released)"), "{approved}");

    // A merchant installs it over HTTP, accepting its (no) capabilities; the price drops.
    let rt = tokio::runtime::Runtime::new().unwrap();
    let http = Http {
        base: base.clone(),
        client: reqwest::Client::new(),
    };
    let (shop_id, owner, member, sku) = rt.block_on(async {
        use reqwest::Method;
        let (st, s) = http
            .call(
                Method::POST,
                "/api/v1/shops",
                None,
                json!({ "name": "CLI Shop" }),
            )
            .await;
        assert_eq!(st, 201, "{s}");
        let owner = s["owner_key"]["token"].as_str().unwrap().to_string();
        let shop_id = s["shop"]["id"].as_str().unwrap().to_string();
        let (st, p) = http
            .call(
                Method::POST,
                "/api/v1/products",
                Some(&owner),
                json!({ "name": "Tea", "skus": [{ "name": "tin", "price": 10000, "stock": 10 }] }),
            )
            .await;
        assert_eq!(st, 201, "{p}");
        let sku = p["skus"][0]["id"].as_str().unwrap().to_string();
        let (st, m) = http
            .call(
                Method::POST,
                &format!("/api/v1/shops/{shop_id}/join"),
                None,
                json!({ "name": "Buyer" }),
            )
            .await;
        assert_eq!(st, 201, "{m}");
        let member = m["token"].as_str().unwrap().to_string();
        let (st, i) = http
            .call(
                Method::POST,
                "/api/v1/plugins",
                Some(&owner),
                json!({ "name": "tea-discount", "version": "^1", "accept_capabilities": [] }),
            )
            .await;
        assert_eq!(st, 201, "{i}");
        (shop_id, owner, member, sku)
    });
    let quote = |expected: i64| {
        rt.block_on(async {
            let (st, q) = http
                .call(
                    reqwest::Method::POST,
                    "/api/v1/checkout/quote",
                    Some(&member),
                    json!({ "lines": [{ "sku_id": sku, "quantity": 1 }] }),
                )
                .await;
            assert_eq!(
                (st, q["payable_amount"].as_i64()),
                (200, Some(expected)),
                "{q}"
            );
        })
    };
    quote(9_000);

    // 1.1.0 asks for `state`: approved, the merchant accepts it and upgrades.
    run(&[
        &[
            "plugin",
            "publish",
            "--manifest",
            artifacts::TEA_NEXT_MANIFEST_PATH,
            "--component",
            artifacts::TEA_NEXT_WASM,
            "--key",
            key,
        ][..],
        &dev,
    ]
    .concat());
    run(&[&["market", "approve", "tea-discount", "1.1.0"][..], &op].concat());
    rt.block_on(async {
        let (st, b) = http
            .call(
                reqwest::Method::POST,
                "/api/v1/plugins/tea-discount/upgrade",
                Some(&owner),
                json!({ "accept_capabilities": ["state"] }),
            )
            .await;
        assert_eq!((st, b["version"].as_str()), (200, Some("1.1.0")), "{b}");
        let (st, b) = http
            .call(
                reqwest::Method::PUT,
                "/api/v1/shop/canary",
                Some(&owner),
                json!({ "opt_in": true }),
            )
            .await;
        assert_eq!(st, 200, "{b}");
    });

    // 1.2.0, staged, goes to a canary run by the developer, then is promoted.
    let manifest_12 = dir.join("plugin-1.2.0.toml");
    std::fs::write(
        &manifest_12,
        artifacts::with_version(artifacts::tea_next_manifest(), "1.2.0"),
    )
    .unwrap();
    run(&[
        &[
            "plugin",
            "publish",
            "--manifest",
            manifest_12.to_str().unwrap(),
            "--component",
            artifacts::TEA_NEXT_WASM,
            "--key",
            key,
        ][..],
        &dev,
    ]
    .concat());
    run(&[
        &["market", "approve", "tea-discount", "1.2.0", "--staged"][..],
        &op,
    ]
    .concat());
    let canary = run(&[
        &[
            "market",
            "canary",
            "tea-discount",
            "1.2.0",
            "--shops",
            &shop_id,
        ][..],
        &dev,
    ]
    .concat());
    assert!(canary.contains(&format!("{shop_id} moved")), "{canary}");
    quote(9_000);
    let status = run(&[
        &["market", "canary-status", "tea-discount", "1.2.0"][..],
        &op,
    ]
    .concat());
    assert!(
        status.contains("running") && status.contains("0 failures"),
        "{status}"
    );
    let promoted = run(&[&["market", "promote", "tea-discount", "1.2.0"][..], &dev].concat());
    assert!(promoted.contains("promoted"), "{promoted}");

    // Yank and revoke, with reasons the log keeps.
    run(&[
        &[
            "market",
            "yank",
            "tea-discount",
            "1.2.0",
            "--reason",
            "slow",
        ][..],
        &op,
    ]
    .concat());
    let revoked = run(&[
        &[
            "market",
            "revoke",
            "tea-discount",
            "1.1.0",
            "--reason",
            "leaks data",
        ][..],
        &op,
    ]
    .concat());
    assert!(
        revoked.contains("revoked") && revoked.contains("leaks data"),
        "{revoked}"
    );
    let log = run(&[&["market", "log", "--plugin", "tea-discount"][..], &op].concat());
    for action in [
        "publish tea-discount@1.0.0",
        "approve tea-discount@1.0.0: reviewed",
        "canary tea-discount@1.2.0",
        "promote tea-discount@1.2.0",
        "yank tea-discount@1.2.0: slow",
        "revoke tea-discount@1.1.0: leaks data",
    ] {
        assert!(log.contains(action), "{action} in\n{log}");
    }
    let stats = run(&[&["market", "stats"][..], &op].concat());
    assert!(
        stats.lines().any(|l| l.starts_with("tea-discount")),
        "{stats}"
    );
    let mine = run(&[&["plugin", "status"][..], &dev].concat());
    assert!(
        mine.contains("1.2.0") && mine.contains("yanked") && mine.contains("revoked"),
        "{mine}"
    );
    // A developer's token cannot approve.
    let refused = run_fails(&[&["market", "approve", "tea-discount", "1.2.0"][..], &dev].concat());
    assert!(refused.contains("403"), "{refused}");
    drop(node);
    let _ = std::fs::remove_dir_all(dir);
}
