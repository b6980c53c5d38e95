//! The throughput and isolation benchmarks, printed side by side with their targets.
//!
//! Each node is the real `baseplate` binary in its own process; load comes from
//! `baseplate-loadgen`, another process (one thread, keep-alive connections, like
//! `wrk -t1`); this driver only seeds shops over HTTP and prints. Scenarios alternate in
//! rounds so the machine's noise lands on all of them, and each row shows the median round.
//!
//! `cargo bench -p baseplate-server --bench throughput` runs everything; `BENCH=<groups>`
//! (comma-separated: `probes`, `sqlite`, `lifecycle`, `noisy`, `pg`, `pg-noisy`) picks some,
//! `BENCH_SECONDS` sets the measured seconds per round (default 8) and `BENCH_ROUNDS` the
//! rounds (default 3). PostgreSQL groups run when `BASEPLATE_BENCH_POSTGRES_URL` (or
//! `BASEPLATE_TEST_POSTGRES_URL`) names an admin URL; each run gets a fresh database.

use anyhow::Context;
use serde_json::{Value, json};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

const NODE: &str = env!("CARGO_BIN_EXE_baseplate");
const LOADGEN: &str = env!("CARGO_BIN_EXE_baseplate-loadgen");

fn seconds() -> u64 {
    std::env::var("BENCH_SECONDS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(8)
}

fn rounds() -> usize {
    std::env::var("BENCH_ROUNDS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(3)
}

fn wants(group: &str) -> bool {
    match std::env::var("BENCH") {
        Ok(v) if !v.trim().is_empty() && v.trim() != "all" => {
            v.split(',').any(|g| g.trim() == group)
        }
        _ => true,
    }
}

fn pg_admin() -> Option<String> {
    std::env::var("BASEPLATE_BENCH_POSTGRES_URL")
        .or_else(|_| std::env::var("BASEPLATE_TEST_POSTGRES_URL"))
        .ok()
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

fn scratch(tag: &str) -> PathBuf {
    let mut r = [0u8; 6];
    getrandom::fill(&mut r).unwrap();
    let d = std::env::temp_dir().join(format!("baseplate-bench-{tag}-{}", hex::encode(r)));
    std::fs::create_dir_all(&d).unwrap();
    d
}

/// A `baseplate serve` process.
struct Node {
    child: Child,
    base: String,
    addr: String,
    _dir: PathBuf,
}

impl Drop for Node {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

const OPERATOR: &str = "bp_op_bench_operator";

fn cache_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../target/plugin-cache")
}

async fn start_node(database_url: &str, extra: &[&str]) -> anyhow::Result<Node> {
    let dir = scratch("node");
    let port = free_port();
    let addr = format!("127.0.0.1:{port}");
    let child = Command::new(NODE)
        .arg("serve")
        .args(["--database-url", database_url])
        .args(["--listen", &addr])
        .arg("--cache-dir")
        .arg(cache_dir())
        .args(["--operator-token", OPERATOR])
        .args(extra)
        .env("RUST_LOG", "warn")
        .current_dir(&dir)
        .stdout(Stdio::null())
        .stderr(Stdio::inherit())
        .spawn()
        .context("starting the node")?;
    let node = Node {
        child,
        base: format!("http://{addr}"),
        addr,
        _dir: dir,
    };
    let client = reqwest::Client::new();
    let started = Instant::now();
    loop {
        if let Ok(r) = client.get(format!("{}/readyz", node.base)).send().await
            && r.status().is_success()
        {
            return Ok(node);
        }
        anyhow::ensure!(
            started.elapsed() < Duration::from_secs(120),
            "the node did not become ready"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// Talks to a node to seed shops.
struct Api {
    client: reqwest::Client,
    base: String,
}

impl Api {
    async fn call(
        &self,
        method: reqwest::Method,
        path: &str,
        token: Option<&str>,
        body: Value,
    ) -> Value {
        let mut rb = self.client.request(method, format!("{}{path}", self.base));
        if let Some(t) = token {
            rb = rb.bearer_auth(t);
        }
        let r = rb.json(&body).send().await.expect("the node answers");
        let st = r.status();
        let v: Value = r.json().await.unwrap_or(Value::Null);
        assert!(st.is_success(), "{path}: {st} {v}");
        v
    }

    async fn post(&self, path: &str, token: Option<&str>, body: Value) -> Value {
        self.call(reqwest::Method::POST, path, token, body).await
    }
}

/// A seeded shop: its buyers' tokens and the checkout each sends.
struct Shop {
    owner: String,
    plan_requests: Vec<Value>,
    lifecycle: Vec<Value>,
}

/// Which plugins a shop runs.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Plugins {
    None,
    Coupons,
    Three,
    Hostile,
}

async fn seed_shop(api: &Api, name: &str, plugins: Plugins, buyers: usize) -> Shop {
    let s = api
        .post("/api/v1/shops", None, json!({ "name": name }))
        .await;
    let owner = s["owner_key"]["token"].as_str().unwrap().to_string();
    let shop_id = s["shop"]["id"].as_str().unwrap().to_string();
    let p = api
        .post(
            "/api/v1/products",
            Some(&owner),
            json!({ "name": "Tea", "skus": [
                { "name": "250g", "price": 12_800, "stock": 1_000_000_000 },
                { "name": "50g", "price": 3_900, "stock": 1_000_000_000 }
            ]}),
        )
        .await;
    let skus: Vec<String> = p["skus"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["id"].as_str().unwrap().to_string())
        .collect();
    let install = |plugin: &'static str| {
        let owner = owner.clone();
        async move {
            api.post("/api/v1/plugins", Some(&owner), json!({ "name": plugin }))
                .await;
        }
    };
    match plugins {
        Plugins::None => {}
        Plugins::Coupons => install("coupons").await,
        Plugins::Three => {
            install("coupons").await;
            install("distributor").await;
            install("store-binding").await;
        }
        Plugins::Hostile => install("hostile").await,
    }
    let mut plan_requests = Vec::new();
    let mut lifecycle = Vec::new();
    let body = json!({ "lines": [
        { "sku_id": skus[0], "quantity": 1 },
        { "sku_id": skus[1], "quantity": 1 }
    ]});
    for i in 0..buyers {
        let m = api
            .post(
                &format!("/api/v1/shops/{shop_id}/join"),
                None,
                json!({ "name": format!("Buyer {i}") }),
            )
            .await;
        let token = m["token"].as_str().unwrap().to_string();
        plan_requests.push(json!({
            "method": "POST", "path": "/api/v1/orders", "token": token,
            "body": body, "idempotency": true
        }));
        lifecycle.push(json!({ "token": token, "body": body }));
    }
    Shop {
        owner,
        plan_requests,
        lifecycle,
    }
}

/// One loadgen run's result.
#[derive(Clone, Debug, Default)]
struct Run {
    per_second: f64,
    p50_ms: f64,
    p99_ms: f64,
    non_2xx: u64,
}

fn loadgen(addr: &str, plan: &Value, connections: usize, label: &str) -> std::process::Child {
    let dir = scratch("plan");
    let path = dir.join("plan.json");
    std::fs::write(&path, plan.to_string()).unwrap();
    Command::new(LOADGEN)
        .args(["--addr", addr])
        .args(["--connections", &connections.to_string()])
        .args(["--duration-ms", &(seconds() * 1000).to_string()])
        .args(["--warmup-ms", "1500"])
        .arg("--plan")
        .arg(&path)
        .args(["--label", label])
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .expect("starting baseplate-loadgen")
}

fn finish(child: std::process::Child) -> Run {
    let out = child.wait_with_output().expect("loadgen ran");
    let v: Value = serde_json::from_slice(&out.stdout).unwrap_or_else(|e| {
        panic!(
            "loadgen output: {e}: {}",
            String::from_utf8_lossy(&out.stdout)
        )
    });
    Run {
        per_second: v["per_second"].as_f64().unwrap_or(0.0),
        p50_ms: v["p50_ms"].as_f64().unwrap_or(0.0),
        p99_ms: v["p99_ms"].as_f64().unwrap_or(0.0),
        non_2xx: v["non_2xx"].as_u64().unwrap_or(0) + v["failures"].as_u64().unwrap_or(0),
    }
}

fn median(runs: &[Run]) -> Run {
    let mut r = runs.to_vec();
    r.sort_by(|a, b| a.per_second.total_cmp(&b.per_second));
    r[r.len() / 2].clone()
}

fn row(name: &str, r: &Run, target: &str, ratio: Option<f64>) {
    println!(
        "| {name} | {:.0} | {:.2} | {:.2} | {} | {} | {target} |",
        r.per_second,
        r.p50_ms,
        r.p99_ms,
        r.non_2xx,
        ratio.map_or("—".into(), |x| format!("{x:.2}")),
    );
}

fn header(title: &str) {
    println!("\n### {title}\n");
    println!("| scenario | orders/s | p50 ms | p99 ms | non-2xx | vs baseline | target |");
    println!("|---|---|---|---|---|---|---|");
}

/// Checkout throughput for the given shops, in rounds; returns the median run per shop.
fn rounds_of(node: &Node, plans: &[(&str, Value)]) -> Vec<Run> {
    let mut runs: Vec<Vec<Run>> = vec![Vec::new(); plans.len()];
    for _ in 0..rounds() {
        for (i, (label, plan)) in plans.iter().enumerate() {
            runs[i].push(finish(loadgen(&node.addr, plan, 32, label)));
        }
    }
    runs.iter().map(|r| median(r)).collect()
}

async fn checkout_group(url: &str, title: &str, spread: bool) -> anyhow::Result<()> {
    let node = start_node(url, &[]).await?;
    let api = Api {
        client: reqwest::Client::new(),
        base: node.base.clone(),
    };
    let shops = if spread { 100 } else { 1 };
    let mut plans = Vec::new();
    for (label, plugins) in [
        ("none", Plugins::None),
        ("coupons", Plugins::Coupons),
        ("three", Plugins::Three),
    ] {
        let mut requests = Vec::new();
        for s in 0..shops {
            let shop = seed_shop(
                &api,
                &format!("{label} {s}"),
                plugins,
                64 / shops.min(64) + 1,
            )
            .await;
            requests.extend(shop.plan_requests);
        }
        plans.push((label, json!({ "requests": requests })));
    }
    let r = rounds_of(&node, &plans);
    header(title);
    let pg = url.starts_with("postgres");
    let base = r[0].per_second;
    let (t_none, t_three) = if pg {
        ("≥ 2,500/s", "≥ 0.8× none")
    } else {
        ("≥ 5,000/s, p99 ≤ 20 ms", "≥ 0.8× none")
    };
    row("no plugins", &r[0], t_none, Some(1.0));
    row(
        "coupons installed, no coupon used",
        &r[1],
        "cost ≤ 20 %",
        Some(r[1].per_second / base),
    );
    row(
        "coupons + distributor + store-binding",
        &r[2],
        t_three,
        Some(r[2].per_second / base),
    );
    Ok(())
}

async fn lifecycle_group(url: &str) -> anyhow::Result<()> {
    let node = start_node(url, &[]).await?;
    let api = Api {
        client: reqwest::Client::new(),
        base: node.base.clone(),
    };
    let shop = seed_shop(&api, "lifecycle", Plugins::Three, 64).await;
    let plan = json!({ "lifecycle": shop.lifecycle });
    let mut runs = Vec::new();
    for _ in 0..rounds() {
        runs.push(finish(loadgen(&node.addr, &plan, 32, "lifecycle")));
    }
    let r = median(&runs);
    // Every paid order's events reached the three plugins.
    tokio::time::sleep(Duration::from_secs(2)).await;
    let client = reqwest::Client::new();
    let pending: Value = client
        .get(format!(
            "{}/api/v1/events?status=pending&limit=1",
            node.base
        ))
        .bearer_auth(&shop.owner)
        .send()
        .await?
        .json()
        .await?;
    header("Full lifecycle, SQLite: checkout → payment → callback → events to three plugins");
    row(
        "paid orders (3 requests each)",
        &r,
        "≥ 2,000 paid orders/s",
        None,
    );
    println!(
        "\nevent deliveries still pending 2 s after the load: {}",
        pending["deliveries"].as_array().map_or(0, Vec::len)
    );
    Ok(())
}

async fn noisy_group(url: &str, title: &str) -> anyhow::Result<()> {
    let node = start_node(url, &["--breaker-threshold", "1000000000"]).await?;
    let api = Api {
        client: reqwest::Client::new(),
        base: node.base.clone(),
    };
    // Shop A runs the hostile test plugin, published straight into the registry.
    publish_hostile(url).await?;
    let a = seed_shop(&api, "Noisy A", Plugins::Hostile, 1).await;
    let b = seed_shop(&api, "Quiet B", Plugins::Coupons, 64).await;
    let b_plan = json!({ "requests": b.plan_requests });
    let flood = |action: &str| {
        json!({ "requests": [{
            "method": "POST", "path": format!("/api/v1/plugins/hostile/actions/{action}"),
            "token": a.owner, "body": {}
        }]})
    };
    let mut alone = Vec::new();
    let mut noisy = Vec::new();
    for _ in 0..rounds() {
        alone.push(finish(loadgen(&node.addr, &b_plan, 32, "B alone")));
        let spin = loadgen(&node.addr, &flood("spin"), 64, "A spin");
        let sleep = loadgen(&node.addr, &flood("sleep-loop"), 64, "A sleep");
        noisy.push(finish(loadgen(&node.addr, &b_plan, 32, "B with A")));
        let (spin, sleep) = (finish(spin), finish(sleep));
        eprintln!(
            "  shop A's runaway calls answered: spin {:.0}/s non-2xx, sleep {:.0}/s",
            spin.non_2xx as f64 / seconds() as f64,
            sleep.non_2xx as f64 / seconds() as f64
        );
    }
    let (alone, noisy) = (median(&alone), median(&noisy));
    header(title);
    row("shop B alone (coupons installed)", &alone, "", Some(1.0));
    row(
        "shop B while A runs 64 spinning + 64 sleeping calls",
        &noisy,
        "≥ 0.95× alone, p99 + ≤ 10 ms",
        Some(noisy.per_second / alone.per_second),
    );
    println!(
        "\np99 grew by {:.2} ms (target ≤ 10 ms)",
        noisy.p99_ms - alone.p99_ms
    );
    Ok(())
}

/// Publishes the hostile test plugin into the node's registry, through a second node in
/// this process on the same database (nodes share nothing but the database).
async fn publish_hostile(url: &str) -> anyhow::Result<()> {
    let mut opts = baseplate_server::Options::new(url);
    opts.worker = false;
    opts.cache_dir = Some(cache_dir());
    opts.operator_token = Some(OPERATOR.into());
    let side = baseplate_server::start(opts).await?;
    let manifest =
        baseplate_marketplace::Manifest::parse(baseplate_tests::artifacts::hostile_manifest())?;
    let key = baseplate_marketplace::PublisherKey::generate()?;
    side.platform
        .bootstrap_first_party(
            &key,
            vec![(manifest, baseplate_tests::artifacts::hostile_wasm())],
        )
        .await?;
    side.platform.db.close().await;
    Ok(())
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    println!(
        "Baseplate throughput benchmarks — {} s × {} rounds per scenario, load from baseplate-loadgen (1 thread, keep-alive)",
        seconds(),
        rounds()
    );
    if wants("sqlite") {
        let dir = scratch("sqlite");
        let url = format!("sqlite:{}", dir.join("bench.db").display());
        checkout_group(
            &url,
            "Checkout, SQLite (embedded), one shop, 64 buyers, 2-line orders, 32 connections",
            false,
        )
        .await?;
    }
    if wants("lifecycle") {
        let dir = scratch("life");
        let url = format!("sqlite:{}", dir.join("bench.db").display());
        lifecycle_group(&url).await?;
    }
    if wants("noisy") {
        let dir = scratch("noisy");
        let url = format!("sqlite:{}", dir.join("bench.db").display());
        noisy_group(&url, "Noisy neighbour, SQLite").await?;
    }
    if let Some(admin) = pg_admin() {
        if wants("pg") {
            for (spread, title) in [
                (false, "Checkout, PostgreSQL, one hot shop (flash sale)"),
                (true, "Checkout, PostgreSQL, load spread over 100 shops"),
            ] {
                let url = fresh_pg(&admin).await?;
                checkout_group(&url, title, spread).await?;
            }
        }
        if wants("pg-noisy") {
            let url = fresh_pg(&admin).await?;
            noisy_group(&url, "Noisy neighbour, PostgreSQL").await?;
        }
    } else {
        println!("\n(PostgreSQL groups skipped: set BASEPLATE_BENCH_POSTGRES_URL)");
    }
    Ok(())
}

async fn fresh_pg(admin: &str) -> anyhow::Result<String> {
    let mut r = [0u8; 6];
    getrandom::fill(&mut r)?;
    let name = format!("bp_bench_{}", hex::encode(r));
    Ok(baseplate_store::create_postgres_database(admin, &name).await?)
}
