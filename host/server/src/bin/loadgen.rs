//! `baseplate-loadgen`: the load generator the benchmarks drive, a separate process from the
//! node it loads (as wrk would be), so its CPU never counts as the node's.
//!
//! It keeps `--connections` HTTP/1.1 keep-alive connections busy for `--duration-ms` after a
//! warm-up, each cycling through the plan's requests (staggered by connection), and prints
//! one JSON line: requests, non-2xx by status, requests per second, p50/p99/max latency.
//!
//! Plans (JSON, from `--plan <file>`):
//! - `{"requests": [{"method", "path", "token", "body", "idempotency": true}, ...]}` sends
//!   the requests in turn; with `idempotency`, each gets a fresh `Idempotency-Key`.
//! - `{"lifecycle": [{"token", "body"}, ...]}` runs checkout → payment intent → sandbox pay
//!   per iteration and counts paid orders (latency is per whole iteration).

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::Request;
use hyper::client::conn::http1::SendRequest;
use serde::Deserialize;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};
use tokio::net::TcpStream;

#[derive(Deserialize, Clone)]
struct Step {
    #[serde(default = "post")]
    method: String,
    path: String,
    token: String,
    #[serde(default)]
    body: Option<serde_json::Value>,
    #[serde(default)]
    idempotency: bool,
}

fn post() -> String {
    "POST".into()
}

#[derive(Deserialize, Clone)]
struct Buyer {
    token: String,
    body: serde_json::Value,
}

#[derive(Deserialize)]
struct Plan {
    #[serde(default)]
    requests: Vec<Step>,
    #[serde(default)]
    lifecycle: Vec<Buyer>,
}

struct Args {
    addr: String,
    connections: usize,
    duration: Duration,
    warmup: Duration,
    plan: Plan,
    label: String,
}

fn args() -> anyhow::Result<Args> {
    let mut a = std::env::args().skip(1);
    let (mut addr, mut connections, mut duration, mut warmup, mut plan, mut label) = (
        "127.0.0.1:8080".to_string(),
        32usize,
        10_000u64,
        1_000u64,
        None,
        "load".to_string(),
    );
    while let Some(k) = a.next() {
        let mut v = || a.next().ok_or_else(|| anyhow::anyhow!("{k} needs a value"));
        match k.as_str() {
            "--addr" => addr = v()?,
            "--connections" => connections = v()?.parse()?,
            "--duration-ms" => duration = v()?.parse()?,
            "--warmup-ms" => warmup = v()?.parse()?,
            "--plan" => plan = Some(serde_json::from_slice(&std::fs::read(v()?)?)?),
            "--label" => label = v()?,
            other => anyhow::bail!("unknown argument {other}"),
        }
    }
    Ok(Args {
        addr,
        connections,
        duration: Duration::from_millis(duration),
        warmup: Duration::from_millis(warmup),
        plan: plan.ok_or_else(|| anyhow::anyhow!("--plan <file> is required"))?,
        label,
    })
}

/// What one connection saw in the measured window.
#[derive(Default)]
struct Tally {
    latencies_us: Vec<u32>,
    statuses: std::collections::BTreeMap<u16, u64>,
    failures: u64,
}

static KEYS: AtomicU64 = AtomicU64::new(0);

async fn connect(addr: &str) -> anyhow::Result<SendRequest<Full<Bytes>>> {
    let stream = TcpStream::connect(addr).await?;
    stream.set_nodelay(true)?;
    let io = hyper_util::rt::TokioIo::new(stream);
    let (sender, conn) = hyper::client::conn::http1::handshake(io).await?;
    tokio::spawn(async move {
        let _ = conn.await;
    });
    Ok(sender)
}

async fn send(
    sender: &mut SendRequest<Full<Bytes>>,
    addr: &str,
    method: &str,
    path: &str,
    token: &str,
    body: Option<Bytes>,
    idempotency: bool,
) -> anyhow::Result<(u16, Bytes)> {
    let mut rb = Request::builder()
        .method(method)
        .uri(path)
        .header("host", addr)
        .header("authorization", format!("Bearer {token}"));
    if idempotency {
        let n = KEYS.fetch_add(1, Ordering::Relaxed);
        rb = rb.header("idempotency-key", format!("lg-{}-{n}", std::process::id()));
    }
    let req = match body {
        Some(b) => rb
            .header("content-type", "application/json")
            .body(Full::new(b))?,
        None => rb.body(Full::new(Bytes::new()))?,
    };
    sender.ready().await?;
    let resp = sender.send_request(req).await?;
    let status = resp.status().as_u16();
    let body = resp.into_body().collect().await?.to_bytes();
    Ok((status, body))
}

/// The requests of a plan as ready-to-send parts.
struct Prepared {
    method: String,
    path: String,
    token: String,
    body: Option<Bytes>,
    idempotency: bool,
}

async fn run_requests(
    addr: Arc<str>,
    steps: Arc<Vec<Prepared>>,
    offset: usize,
    measure_from: Instant,
    until: Instant,
) -> Tally {
    let mut t = Tally::default();
    let mut sender = match connect(&addr).await {
        Ok(s) => s,
        Err(_) => {
            t.failures += 1;
            return t;
        }
    };
    let mut i = offset;
    while Instant::now() < until {
        let s = &steps[i % steps.len()];
        i += 1;
        let started = Instant::now();
        let r = send(
            &mut sender,
            &addr,
            &s.method,
            &s.path,
            &s.token,
            s.body.clone(),
            s.idempotency,
        )
        .await;
        let took = started.elapsed();
        if started < measure_from {
            if r.is_err() {
                sender = match connect(&addr).await {
                    Ok(s) => s,
                    Err(_) => return t,
                };
            }
            continue;
        }
        match r {
            Ok((status, _)) => {
                *t.statuses.entry(status).or_default() += 1;
                t.latencies_us
                    .push(took.as_micros().min(u32::MAX as u128) as u32);
            }
            Err(_) => {
                t.failures += 1;
                sender = match connect(&addr).await {
                    Ok(s) => s,
                    Err(_) => return t,
                };
            }
        }
    }
    t
}

/// One paid order per iteration: checkout, payment intent, sandbox pay.
async fn run_lifecycle(
    addr: Arc<str>,
    buyers: Arc<Vec<(String, Bytes)>>,
    offset: usize,
    measure_from: Instant,
    until: Instant,
) -> Tally {
    let mut t = Tally::default();
    let Ok(mut sender) = connect(&addr).await else {
        t.failures += 1;
        return t;
    };
    let mut i = offset;
    while Instant::now() < until {
        let (token, body) = &buyers[i % buyers.len()];
        i += 1;
        let started = Instant::now();
        let r: anyhow::Result<u16> = async {
            let (st, order) = send(
                &mut sender,
                &addr,
                "POST",
                "/api/v1/orders",
                token,
                Some(body.clone()),
                true,
            )
            .await?;
            if st != 201 {
                return Ok(st);
            }
            let order: serde_json::Value = serde_json::from_slice(&order)?;
            let id = order["id"].as_str().unwrap_or_default();
            let (st, pay) = send(
                &mut sender,
                &addr,
                "POST",
                &format!("/api/v1/orders/{id}/payments"),
                token,
                Some(Bytes::from_static(b"{}")),
                false,
            )
            .await?;
            if st != 201 {
                return Ok(st);
            }
            let pay: serde_json::Value = serde_json::from_slice(&pay)?;
            let pid = pay["payment"]["id"].as_str().unwrap_or_default();
            let (st, _) = send(
                &mut sender,
                &addr,
                "POST",
                &format!("/api/v1/sandbox/payments/{pid}/pay"),
                token,
                Some(Bytes::from_static(b"{}")),
                false,
            )
            .await?;
            Ok(st)
        }
        .await;
        let took = started.elapsed();
        if started < measure_from {
            continue;
        }
        match r {
            Ok(status) => {
                *t.statuses.entry(status).or_default() += 1;
                t.latencies_us
                    .push(took.as_micros().min(u32::MAX as u128) as u32);
            }
            Err(_) => {
                t.failures += 1;
                let Ok(s) = connect(&addr).await else {
                    return t;
                };
                sender = s;
            }
        }
    }
    t
}

fn percentile(sorted: &[u32], p: f64) -> f64 {
    if sorted.is_empty() {
        return 0.0;
    }
    let i = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[i] as f64 / 1000.0
}

fn main() -> anyhow::Result<()> {
    let a = args()?;
    // One thread, like `wrk -t1`: the generator's own cost stays bounded and visible.
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    rt.block_on(async move {
        let addr: Arc<str> = Arc::from(a.addr.trim_start_matches("http://"));
        let measure_from = Instant::now() + a.warmup;
        let until = measure_from + a.duration;
        let mut tasks = Vec::new();
        if !a.plan.lifecycle.is_empty() {
            let buyers: Arc<Vec<(String, Bytes)>> = Arc::new(
                a.plan
                    .lifecycle
                    .iter()
                    .map(|b| (b.token.clone(), Bytes::from(b.body.to_string())))
                    .collect(),
            );
            for c in 0..a.connections {
                tasks.push(tokio::spawn(run_lifecycle(
                    addr.clone(),
                    buyers.clone(),
                    c,
                    measure_from,
                    until,
                )));
            }
        } else {
            let steps: Arc<Vec<Prepared>> = Arc::new(
                a.plan
                    .requests
                    .iter()
                    .map(|s| Prepared {
                        method: s.method.clone(),
                        path: s.path.clone(),
                        token: s.token.clone(),
                        body: s.body.as_ref().map(|b| Bytes::from(b.to_string())),
                        idempotency: s.idempotency,
                    })
                    .collect(),
            );
            anyhow::ensure!(!steps.is_empty(), "the plan has no requests");
            for c in 0..a.connections {
                tasks.push(tokio::spawn(run_requests(
                    addr.clone(),
                    steps.clone(),
                    c * 7919,
                    measure_from,
                    until,
                )));
            }
        }
        let mut all = Tally::default();
        for t in tasks {
            let t = t.await?;
            all.latencies_us.extend(t.latencies_us);
            all.failures += t.failures;
            for (k, v) in t.statuses {
                *all.statuses.entry(k).or_default() += v;
            }
        }
        all.latencies_us.sort_unstable();
        let done = all.latencies_us.len() as f64;
        let ok: u64 = all
            .statuses
            .iter()
            .filter(|(s, _)| (200..300).contains(*s))
            .map(|(_, n)| n)
            .sum();
        let out = serde_json::json!({
            "label": a.label,
            "connections": a.connections,
            "seconds": a.duration.as_secs_f64(),
            "requests": done,
            "ok": ok,
            "non_2xx": done as u64 - ok,
            "failures": all.failures,
            "statuses": all.statuses,
            "per_second": ok as f64 / a.duration.as_secs_f64(),
            "p50_ms": percentile(&all.latencies_us, 0.50),
            "p99_ms": percentile(&all.latencies_us, 0.99),
            "max_ms": percentile(&all.latencies_us, 1.0),
        });
        println!("{out}");
        Ok(())
    })
}
