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
    // Installing asks the merchant to accept the plugin's capabilities: read them from the
    // refusal and accept them, as a merchant clicking "accept" would.
    let install = |plugin: &'static str| {
        let owner = owner.clone();
        async move {
            let r = api
                .client
                .post(format!("{}/api/v1/plugins", api.base))
                .bearer_auth(&owner)
                .json(&json!({ "name": plugin }))
                .send()
                .await
                .expect("the node answers");
            let v: Value = r.json().await.unwrap_or(Value::Null);
            let caps = v["error"]["details"]["capabilities"].clone();
            api.post(
                "/api/v1/plugins",
                Some(&owner),
                json!({ "name": plugin, "accept_capabilities": caps }),
            )
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
        // BENCH_ONLY=<label> keeps one scenario (for profiling).
        if std::env::var("BENCH_ONLY").is_ok_and(|o| o != label) {
            continue;
        }
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
    if r.len() < 3 {
        for (run, (label, _)) in r.iter().zip(&plans) {
            row(label, run, "", None);
        }
        return Ok(());
    }
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
    if wants("probes") {
        probes::run();
    }
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

// ---- in-process probes: where a checkout's time goes ---------------------------------------

mod probes {
    use baseplate_domain::PriceStage;
    use baseplate_runtime::{
        Cart, CartLine, Grants, Hook, HostData, Limits, MemoryData, Overlay, Runtime,
    };
    use baseplate_store::state::Entry;
    use std::sync::Arc;
    use std::time::Instant;

    fn cart(input: Option<String>) -> Cart {
        Cart {
            member_id: Some("mem_1".into()),
            lines: (0..10)
                .map(|i| CartLine {
                    index: i,
                    product_id: format!("prod_{i}"),
                    sku_id: format!("sku_{i}"),
                    quantity: 1,
                    unit_price: 10_000,
                    amount: 10_000,
                    tags: vec!["tea".into()],
                })
                .collect(),
            input,
        }
    }

    fn p50(mut v: Vec<f64>) -> (f64, f64) {
        v.sort_by(f64::total_cmp);
        (v[v.len() / 2], v[v.len() * 99 / 100])
    }

    /// Runs a coupons action against `data`, and keeps what it wrote there.
    fn act(
        rt: &Runtime,
        loaded: &baseplate_runtime::LoadedPlugin,
        env: &baseplate_runtime::CallEnv,
        data: &mut MemoryData,
        actor: baseplate_runtime::Actor,
        name: &str,
        input: serde_json::Value,
    ) -> serde_json::Value {
        let mut overlay = Overlay::new("shop_1", "coupons", Arc::new(data.clone()));
        let hook = Hook::Action {
            actor,
            name: name.into(),
            input: input.to_string(),
        };
        let r = rt.call(loaded, env, hook, &mut overlay);
        let out = match r.outcome {
            Ok(baseplate_runtime::HookOutput::Json(s)) => serde_json::from_str(&s).unwrap(),
            other => panic!("{name}: {other:?}"),
        };
        for (k, v) in overlay.into_effects().state_writes {
            match v {
                Some(v) => {
                    data.state.insert(
                        k,
                        Entry {
                            value: v,
                            version: 1,
                        },
                    );
                }
                None => {
                    data.state.remove(&k);
                }
            }
        }
        out
    }

    /// (p50 µs, p99 µs) of a fresh-sandbox `price` call on a 10-line cart; with a coupon,
    /// the plugin reads two state keys (the coupon and its template).
    pub fn hook(rt: &Runtime, with_coupon: bool, n: usize) -> (f64, f64) {
        let coupons = baseplate_first_party::first_party()
            .unwrap()
            .into_iter()
            .find(|p| p.manifest.name == "coupons")
            .unwrap();
        let grants = Grants::of(
            coupons
                .manifest
                .capabilities
                .iter()
                .filter_map(|c| baseplate_runtime::Capability::parse(c.as_str())),
        );
        let bytes = match std::env::var("BENCH_COUPONS_WASM") {
            Ok(path) => std::fs::read(path).unwrap(),
            Err(_) => coupons.component.to_vec(),
        };
        let digest = Runtime::digest(&bytes);
        let loaded = rt.load(&digest, grants, || Some(bytes.clone())).unwrap();
        let env = baseplate_runtime::CallEnv {
            shop_id: "shop_1".into(),
            currency: "CNY".into(),
            plugin: "coupons".into(),
            version: "0.1.0".into(),
            config: "{}".into(),
            now: 1_800_000_000_000,
            seed: 7,
            order_context: None,
        };
        let mut state = MemoryData::default();
        let mut input = None;
        if with_coupon {
            let system = baseplate_runtime::Actor::System;
            let tpl = act(
                rt,
                &loaded,
                &env,
                &mut state,
                system,
                "create-template",
                serde_json::json!({
                    "name": "1 off", "discount": { "type": "fixed", "amount": 100 },
                    "validity": { "type": "relative", "days": 30 }, "total_stock": 10
                }),
            );
            let member = baseplate_runtime::Actor::Member("mem_1".into());
            let c = act(
                rt,
                &loaded,
                &env,
                &mut state,
                member,
                "claim",
                serde_json::json!({ "template_id": tpl["template_id"] }),
            );
            input = Some(serde_json::json!({ "coupon_ids": [c["coupon_id"]] }).to_string());
        }
        let data: Arc<dyn HostData> = Arc::new(state);
        let mut out = Vec::with_capacity(n);
        for i in 0..n + 200 {
            let mut overlay = Overlay::new("shop_1", "coupons", data.clone());
            let hook = Hook::Price {
                stage: PriceStage::Coupon,
                cart: cart(input.clone()),
            };
            let t = Instant::now();
            let r = rt.call(&loaded, &env, hook, &mut overlay);
            let took = t.elapsed().as_secs_f64() * 1e6;
            assert!(r.outcome.is_ok(), "{:?}", r.outcome);
            if i >= 200 {
                out.push(took);
            }
        }
        p50(out)
    }

    pub fn run() {
        let mut limits = Limits::default();
        if let Some(k) = std::env::var("BENCH_KEEP_RESIDENT")
            .ok()
            .and_then(|k| k.parse().ok())
        {
            limits.memory_keep_resident = k;
        }
        let rt = Runtime::new(limits, Some(super::cache_dir())).unwrap();
        let (bare, bare99) = hook(&rt, false, 20_000);
        if std::env::var("BENCH_HOOK_ONLY").is_ok() {
            println!("hook p50 {bare:.1} µs p99 {bare99:.1}");
            return;
        }
        let (two, two99) = hook(&rt, true, 20_000);
        let (web, web99) = webhook(20_000);
        println!("\n### Probes (in process, one thread): a pricing hook and its alternatives\n");
        println!("| probe | p50 µs | p99 µs | target |");
        println!("|---|---|---|---|");
        println!(
            "| pricing hook, fresh sandbox, 10-line cart (coupons, no coupon) | {bare:.1} | {bare99:.1} | ≤ 10 µs |"
        );
        println!(
            "| pricing hook reading two state keys (one coupon) | {two:.1} | {two99:.1} | ≤ 15 µs |"
        );
        println!(
            "| the same rule as a loopback HTTP webhook (keep-alive) | {web:.1} | {web99:.1} | hook ≥ 20× faster |"
        );
        println!(
            "\nwebhook ÷ hook: {:.1}× (bare), {:.1}× (two keys)",
            web / bare,
            web / two
        );
        // Its own runtime, on its own thread (this one is inside the benchmark's runtime).
        std::thread::spawn(sqlite_probes).join().unwrap();
    }

    /// The coupon rule as a webhook: a loopback HTTP server computes the same 10-line
    /// discount from the posted cart JSON; (p50, p99) µs of a keep-alive round trip.
    fn webhook(n: usize) -> (f64, f64) {
        use std::io::{BufRead, BufReader, Read, Write};
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap();
        std::thread::spawn(move || {
            let (stream, _) = listener.accept().unwrap();
            stream.set_nodelay(true).unwrap();
            let mut reader = BufReader::new(stream.try_clone().unwrap());
            let mut out = stream;
            loop {
                let mut len = 0usize;
                let mut line = String::new();
                loop {
                    line.clear();
                    if reader.read_line(&mut line).unwrap() == 0 {
                        return;
                    }
                    if line == "\r\n" {
                        break;
                    }
                    if let Some(v) = line.to_ascii_lowercase().strip_prefix("content-length:") {
                        len = v.trim().parse().unwrap();
                    }
                }
                let mut body = vec![0; len];
                reader.read_exact(&mut body).unwrap();
                let cart: serde_json::Value = serde_json::from_slice(&body).unwrap();
                let adjustments: Vec<serde_json::Value> = cart["lines"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .map(|l| serde_json::json!({ "line": l["index"], "amount": 100, "label": "10 off" }))
                    .collect();
                let resp = serde_json::to_vec(&adjustments).unwrap();
                write!(
                    out,
                    "HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: {}\r\n\r\n",
                    resp.len()
                )
                .unwrap();
                out.write_all(&resp).unwrap();
            }
        });
        let stream = std::net::TcpStream::connect(addr).unwrap();
        stream.set_nodelay(true).unwrap();
        let mut reader = BufReader::new(stream.try_clone().unwrap());
        let mut w = stream;
        let body = serde_json::json!({
            "lines": cart(None).lines.iter().map(|l| serde_json::json!({
                "index": l.index, "product_id": l.product_id, "sku_id": l.sku_id,
                "quantity": l.quantity, "unit_price": l.unit_price, "amount": l.amount, "tags": l.tags
            })).collect::<Vec<_>>()
        })
        .to_string();
        let mut out = Vec::with_capacity(n);
        for i in 0..n + 200 {
            let t = Instant::now();
            write!(
                w,
                "POST /price HTTP/1.1\r\nhost: x\r\ncontent-type: application/json\r\ncontent-length: {}\r\n\r\n{body}",
                body.len()
            )
            .unwrap();
            let mut len = 0usize;
            let mut line = String::new();
            loop {
                line.clear();
                reader.read_line(&mut line).unwrap();
                if line == "\r\n" {
                    break;
                }
                if let Some(v) = line.to_ascii_lowercase().strip_prefix("content-length:") {
                    len = v.trim().parse().unwrap();
                }
            }
            let mut resp = vec![0; len];
            reader.read_exact(&mut resp).unwrap();
            let _: serde_json::Value = serde_json::from_slice(&resp).unwrap();
            if i >= 200 {
                out.push(t.elapsed().as_secs_f64() * 1e6);
            }
        }
        p50(out)
    }

    /// The embedded database's own costs: a savepoint and release, and a committed upsert.
    fn sqlite_probes() {
        let dir = super::scratch("probe");
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        rt.block_on(async {
            let db = baseplate_store::Db::connect(&format!("sqlite:{}", dir.join("p.db").display()))
                .await
                .unwrap();
            let mut sp = Vec::new();
            let mut commit = Vec::new();
            for i in 0..3000 {
                let t = Instant::now();
                let mut tx = db.write("probe").await.unwrap();
                baseplate_store::query("INSERT INTO settings (name, value) VALUES ($1, $2) ON CONFLICT (name) DO UPDATE SET value = excluded.value")
                    .bind(format!("k{}", i % 10))
                    .bind("v")
                    .execute(&mut tx)
                    .await
                    .unwrap();
                tx.commit().await.unwrap();
                commit.push(t.elapsed().as_secs_f64() * 1e6);
                let mut tx = db.write("probe").await.unwrap();
                let t = Instant::now();
                let s = tx.savepoint().await.unwrap();
                tx.release(s).await.unwrap();
                sp.push(t.elapsed().as_secs_f64() * 1e6);
                drop(tx);
            }
            let (sp50, _) = p50(sp);
            let (c50, c99) = p50(commit);
            println!("\n| SQLite probe | p50 µs | p99 µs |\n|---|---|---|");
            println!("| savepoint + release (rusqlite, in the writer's batch) | {sp50:.1} | — |");
            println!("| begin + 1 upsert + commit, alone (an fsync each, synchronous=FULL) | {c50:.1} | {c99:.1} |");
        });
    }
}
