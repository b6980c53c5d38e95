//! The README's first command, over the real binary: `baseplate demo` starts, seeds the demo
//! shop, prints keys that work, and serves the API.

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

struct Killed(Child);

impl Drop for Killed {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn field<'a>(out: &'a str, after: &str) -> &'a str {
    let start = out
        .find(after)
        .unwrap_or_else(|| panic!("{after:?} in the demo's output:\n{out}"))
        + after.len();
    out[start..]
        .split(|c: char| c.is_whitespace() || c == ')' || c == '\'' || c == '"')
        .next()
        .unwrap()
}

#[test]
fn demo_serves_a_seeded_shop() {
    let dir = std::env::temp_dir().join(format!("baseplate-demo-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    let child = Command::new(env!("CARGO_BIN_EXE_baseplate"))
        .args(["demo", "--listen", "127.0.0.1:0"])
        .current_dir(&dir)
        .env("RUST_LOG", "warn")
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("the binary starts");
    let mut child = Killed(child);
    let mut out = String::new();
    let mut lines = BufReader::new(child.0.stdout.take().unwrap()).lines();
    let started = Instant::now();
    while !out.contains("listening on") {
        assert!(
            started.elapsed() < Duration::from_secs(120),
            "no 'listening on' line:\n{out}"
        );
        match lines.next() {
            Some(Ok(l)) => {
                out.push_str(&l);
                out.push('\n');
            }
            _ => panic!("the demo exited early:\n{out}"),
        }
    }
    let base = field(&out, "listening on ");
    let member = field(&out, "(token ");
    let owner = field(&out, "owner key : ");
    let template = field(&out, r#""template_id":""#);
    assert!(template.starts_with("tpl_"), "{out}");

    let rt = tokio::runtime::Runtime::new().unwrap();
    rt.block_on(async {
        let http = reqwest::Client::new();
        let health = http.get(format!("{base}/healthz")).send().await.unwrap();
        assert_eq!(health.status(), 200);
        // The printed member token claims the printed template's coupon.
        let claim = http
            .post(format!("{base}/api/v1/plugins/coupons/actions/claim"))
            .bearer_auth(member)
            .json(&serde_json::json!({ "template_id": template }))
            .send()
            .await
            .unwrap();
        assert_eq!(claim.status(), 200, "{}", claim.text().await.unwrap());
        // The printed owner key sees the shop's plugins and products.
        let plugins: serde_json::Value = http
            .get(format!("{base}/api/v1/plugins"))
            .bearer_auth(owner)
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        assert_eq!(plugins["plugins"][0]["plugin"], "coupons", "{plugins}");
        let products: serde_json::Value = http
            .get(format!("{base}/api/v1/products"))
            .bearer_auth(owner)
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        assert_eq!(
            products["products"].as_array().unwrap().len(),
            2,
            "{products}"
        );
        // The SDK's examples are published for the demo shop: the printed install works,
        // and hello-discount's 5% shows in a quote of 2 × 128.00.
        let installed = http
            .post(format!("{base}/api/v1/plugins"))
            .bearer_auth(owner)
            .json(&serde_json::json!({ "name": "hello-discount", "accept_capabilities": [] }))
            .send()
            .await
            .unwrap();
        assert_eq!(
            installed.status(),
            201,
            "{}",
            installed.text().await.unwrap()
        );
        for name in ["loyalty-points", "free-gift"] {
            let listed = http
                .get(format!("{base}/api/v1/marketplace/plugins/{name}"))
                .bearer_auth(owner)
                .send()
                .await
                .unwrap();
            assert_eq!(
                listed.status(),
                200,
                "{name}: {}",
                listed.text().await.unwrap()
            );
        }
        let tea = products["products"]
            .as_array()
            .unwrap()
            .iter()
            .find(|p| p["name"].as_str().unwrap().contains("tea"))
            .expect("the tea")["skus"][0]["id"]
            .as_str()
            .unwrap()
            .to_string();
        let quote: serde_json::Value = http
            .post(format!("{base}/api/v1/checkout/quote"))
            .bearer_auth(member)
            .json(&serde_json::json!({ "lines": [{ "sku_id": tea, "quantity": 2 }] }))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        assert_eq!(quote["payable_amount"], 24_320, "{quote}");
    });
    drop(child);
    let _ = std::fs::remove_dir_all(&dir);
}
