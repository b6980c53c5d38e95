//! The developer kit over the real binary, from zero to a published plugin: `baseplate
//! plugin new` scaffolds a crate in a folder outside the repository; `test` runs its unit
//! tests, builds it to wasm32-wasip2 and runs its fixtures in the production sandbox; `run`
//! and `check` do one hook and the registry's checks; `pack` builds and signs it; `publish
//! --pack` sends it to a node, the operator approves, a merchant installs it and a quote
//! shows its discount. The merchant turns diagnostics on, a quote is recorded, and `replay`
//! runs the recorded call against the build: the same result — and after the rule changes,
//! a different one.

use serde_json::json;
use std::path::Path;

mod common;
use common::*;

fn set_discount(dir: &Path, from: &str, to: &str) {
    let lib = dir.join("src/lib.rs");
    let text = std::fs::read_to_string(&lib).unwrap();
    assert!(text.contains(from), "{from} in the scaffold's lib.rs");
    std::fs::write(&lib, text.replace(from, to)).unwrap();
}

#[test]
fn from_a_new_crate_to_a_replayed_production_call() {
    let parent = scratch("devkit");
    let made = run(&[
        "plugin",
        "new",
        "five-off",
        "--dir",
        parent.to_str().unwrap(),
    ]);
    let crate_dir = parent.join("five-off");
    assert!(made.contains("five-off"), "{made}");
    for f in [
        "Cargo.toml",
        "plugin.toml",
        "rust-toolchain.toml",
        "src/lib.rs",
        "src/tests.rs",
        "README.md",
        "fixtures/price.json",
    ] {
        assert!(crate_dir.join(f).is_file(), "the scaffold has {f}");
    }
    let d = crate_dir.to_str().unwrap();
    let refused = run_fails(&[
        "plugin",
        "new",
        "five-off",
        "--dir",
        parent.to_str().unwrap(),
    ]);
    assert!(refused.contains("exists"), "{refused}");
    let refused = run_fails(&[
        "plugin",
        "new",
        "Bad_Name",
        "--dir",
        parent.to_str().unwrap(),
    ]);
    assert!(refused.contains("not a plugin name"), "{refused}");

    // Unit tests, build, check and every fixture in the sandbox.
    let tested = run(&["plugin", "test", "--dir", d]);
    assert!(
        tested.contains("PASS price.json")
            && tested.contains("PASS below-minimum.json")
            && tested.contains("2 fixture(s) passed, 0 failed"),
        "{tested}"
    );
    // One hook, printed in full.
    let report = json_of(&run(&[
        "plugin",
        "run",
        "price",
        "--input",
        crate_dir.join("fixtures/price.json").to_str().unwrap(),
        "--dir",
        d,
    ]));
    assert_eq!(report["outcome"], "ok", "{report}");
    assert_eq!(
        report["output"]["adjustments"][0]["amount"], 300,
        "{report}"
    );
    assert!(report["duration_us"].as_u64().is_some(), "{report}");
    assert!(
        report["memory_peak_bytes"].as_u64().unwrap() > 0,
        "{report}"
    );
    let checked = run(&["plugin", "check", "--dir", d]);
    assert!(
        checked.contains("ok: five-off@0.1.0 (contract 0.2.0)"),
        "{checked}"
    );
    // A fixture that expects something else fails the run and says where.
    let wrong = crate_dir.join("fixtures/wrong.json");
    std::fs::write(
        &wrong,
        json!({
            "hook": "price", "stage": "order",
            "cart": {"lines": [{"sku_id": "a", "quantity": 1, "unit_price": 20000}]},
            "expect": {"output": {"adjustments": [{"line": 0, "amount": 999}]}}
        })
        .to_string(),
    )
    .unwrap();
    let failed = run_fails(&["plugin", "test", "--dir", d, "--no-cargo-test"]);
    assert!(
        failed.contains("FAIL wrong.json")
            && failed.contains("output.adjustments[0].amount: expected 999, got 1000"),
        "{failed}"
    );
    std::fs::remove_file(&wrong).unwrap();

    // A node; a developer account; pack and publish; the operator approves.
    let (node, base) = serve(
        &parent,
        &format!("sqlite:{}", parent.join("bp.db").display()),
    );
    let key = parent.join("dev.key");
    let key = key.to_str().unwrap();
    run(&["plugin", "keygen", "--out", key]);
    let signup = json_of(&run(&[
        "plugin", "signup", "--name", "Kit Dev", "--url", &base, "--json",
    ]));
    let dev_id = signup["developer"]["id"].as_str().unwrap().to_string();
    let token = signup["api_key"]["token"].as_str().unwrap().to_string();
    let op = ["--url", base.as_str(), "--token", OPERATOR];
    let dev = ["--url", base.as_str(), "--token", token.as_str()];
    run(&[&["market", "approve-developer", &dev_id][..], &op].concat());
    run(&[&["plugin", "register-key", "--key", key][..], &dev].concat());
    let packed = run(&["plugin", "pack", "--dir", d, "--key", key]);
    assert!(packed.contains("five-off-0.1.0.wasm"), "{packed}");
    let dist = crate_dir.join("dist");
    let published = json_of(&run(&[
        &[
            "plugin",
            "publish",
            "--pack",
            dist.to_str().unwrap(),
            "--json",
        ][..],
        &dev,
    ]
    .concat()));
    assert_eq!(published["state"], "submitted", "{published}");
    run(&[&["market", "approve", "five-off", "0.1.0"][..], &op].concat());

    // A merchant installs it; a quote of 200.00 gets 5% off.
    let rt = tokio::runtime::Runtime::new().unwrap();
    let http = Http {
        base: base.clone(),
        client: reqwest::Client::new(),
    };
    let shop = |name: &str| {
        rt.block_on(async {
            let (st, s) = http
                .call(
                    reqwest::Method::POST,
                    "/api/v1/shops",
                    None,
                    json!({ "name": name }),
                )
                .await;
            assert_eq!(st, 201, "{s}");
            (
                s["shop"]["id"].as_str().unwrap().to_string(),
                s["owner_key"]["token"].as_str().unwrap().to_string(),
            )
        })
    };
    let (shop_id, owner) = shop("Kit Shop");
    let (member, sku) = rt.block_on(async {
        use reqwest::Method;
        let (st, p) = http
            .call(
                Method::POST,
                "/api/v1/products",
                Some(&owner),
                json!({ "name": "Tea", "skus": [{ "name": "tin", "price": 10000, "stock": 10 }] }),
            )
            .await;
        assert_eq!(st, 201, "{p}");
        let (st, m) = http
            .call(
                Method::POST,
                &format!("/api/v1/shops/{shop_id}/join"),
                None,
                json!({ "name": "Buyer" }),
            )
            .await;
        assert_eq!(st, 201, "{m}");
        let (st, i) = http
            .call(
                Method::POST,
                "/api/v1/plugins",
                Some(&owner),
                json!({ "name": "five-off", "accept_capabilities": [] }),
            )
            .await;
        assert_eq!(st, 201, "{i}");
        (
            m["token"].as_str().unwrap().to_string(),
            p["skus"][0]["id"].as_str().unwrap().to_string(),
        )
    });
    let quote = || {
        rt.block_on(async {
            let (st, q) = http
                .call(
                    reqwest::Method::POST,
                    "/api/v1/checkout/quote",
                    Some(&member),
                    json!({ "lines": [{ "sku_id": sku, "quantity": 2 }] }),
                )
                .await;
            assert_eq!(st, 200, "{q}");
            q["payable_amount"].as_i64().unwrap()
        })
    };
    assert_eq!(quote(), 19_000);

    // Diagnostics on: the next quote's price call is recorded, with what it did.
    rt.block_on(async {
        use reqwest::Method;
        let (st, b) = http
            .call(
                Method::PUT,
                "/api/v1/plugins/five-off/diagnostics",
                Some(&owner),
                json!({ "enabled": true, "hours": 999 }),
            )
            .await;
        assert_eq!(
            (st, b["error"]["code"].as_str()),
            (422, Some("invalid_request")),
            "{b}"
        );
        let (st, b) = http
            .call(
                Method::PUT,
                "/api/v1/plugins/five-off/diagnostics",
                Some(&owner),
                json!({ "enabled": true, "hours": 1 }),
            )
            .await;
        assert_eq!(st, 200, "{b}");
        assert!(b["recording_until"].as_i64().is_some(), "{b}");
    });
    assert_eq!(quote(), 19_000);
    let (run_id, record) = rt.block_on(async {
        let (st, list) = http
            .call(
                reqwest::Method::GET,
                "/api/v1/plugins/five-off/runs",
                Some(&owner),
                serde_json::Value::Null,
            )
            .await;
        assert_eq!(st, 200, "{list}");
        let first = &list["runs"][0];
        assert_eq!(
            (first["hook"].as_str(), first["outcome"].as_str()),
            (Some("price"), Some("ok")),
            "{list}"
        );
        let id = first["id"].as_i64().unwrap();
        let (st, one) = http
            .call(
                reqwest::Method::GET,
                &format!("/api/v1/plugins/five-off/runs/{id}"),
                Some(&owner),
                serde_json::Value::Null,
            )
            .await;
        assert_eq!(st, 200, "{one}");
        (id, one["record"].clone())
    });
    assert_eq!(record["hook"], "price", "{record}");
    assert_eq!(
        record["expect"]["output"]["adjustments"]
            .as_array()
            .map(|a| a.iter().map(|x| x["amount"].as_i64().unwrap()).sum::<i64>()),
        Some(1_000),
        "{record}"
    );
    // Another shop's owner cannot read it.
    let (_, other_owner) = shop("Other Shop");
    rt.block_on(async {
        let (st, b) = http
            .call(
                reqwest::Method::GET,
                &format!("/api/v1/plugins/five-off/runs/{run_id}"),
                Some(&other_owner),
                serde_json::Value::Null,
            )
            .await;
        assert_eq!(st, 404, "{b}");
    });

    // Replayed against the same build: the same result.
    let id = run_id.to_string();
    let merchant = ["--url", base.as_str(), "--token", owner.as_str()];
    let saved = parent.join("recorded.json");
    let same = run(&[
        &[
            "plugin",
            "replay",
            &id,
            "--dir",
            d,
            "--save",
            saved.to_str().unwrap(),
        ][..],
        &merchant,
    ]
    .concat());
    assert!(same.contains("same result as recorded"), "{same}");
    // The saved record runs as a fixture too.
    let again = json_of(&run(&[
        "plugin",
        "run",
        "price",
        "--input",
        saved.to_str().unwrap(),
        "--dir",
        d,
    ]));
    assert_eq!(again["output"], record["expect"]["output"], "{again}");

    // The rule changes to 10% off: the replay shows the difference and fails.
    set_discount(&crate_dir, "total / 20", "total / 10");
    let differs = run_fails(
        &[
            &["plugin", "replay", &id, "--dir", d, "--build"][..],
            &merchant,
        ]
        .concat(),
    );
    assert!(
        differs.contains("differs from the recorded call") && differs.contains("2000"),
        "{differs}"
    );
    drop(node);
    let _ = std::fs::remove_dir_all(parent);
}
