//! `baseplate`: `serve` runs a node; `demo` runs one with a seeded demo shop and prints
//! how to try it; `plugin` and `market` talk to a node's registry (developers; the
//! operator and canaries).

mod cli;

use baseplate_api::HttpOptions;
use baseplate_server::{Options, seed_demo, start};
use clap::{Parser, Subcommand};
use std::path::PathBuf;
use std::time::Duration;

#[derive(Parser)]
#[command(
    name = "baseplate",
    version,
    about = "Baseplate: private-domain retail with sandboxed WebAssembly plugins"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(clap::Args, Clone)]
struct ServeArgs {
    /// `sqlite:<path>` (embedded, the default) or `postgres://…` (scale-out).
    #[arg(
        long,
        env = "BASEPLATE_DATABASE_URL",
        default_value = "sqlite:baseplate.db"
    )]
    database_url: String,
    #[arg(long, env = "BASEPLATE_LISTEN", default_value = "127.0.0.1:8080")]
    listen: String,
    /// Where precompiled plugin code is cached.
    #[arg(long, env = "BASEPLATE_CACHE_DIR", default_value = ".baseplate/cache")]
    cache_dir: PathBuf,
    /// The operator's API token (created on first boot if not given).
    #[arg(long, env = "BASEPLATE_OPERATOR_TOKEN")]
    operator_token: Option<String>,
    /// The sandbox payment provider's callback secret.
    #[arg(long, env = "BASEPLATE_PAYMENT_SECRET")]
    payment_secret: Option<String>,
    /// Seconds a client has to send a request's headers (also closes idle keep-alive
    /// connections after that long).
    #[arg(long, env = "BASEPLATE_HEADER_TIMEOUT", default_value_t = 10)]
    header_timeout: u64,
    /// Seconds a request, its body included, has to be read and answered (then 408).
    #[arg(long, env = "BASEPLATE_REQUEST_TIMEOUT", default_value_t = 30)]
    request_timeout: u64,
    /// Seconds a connection may send and receive nothing before it is closed.
    #[arg(long, env = "BASEPLATE_IDLE_TIMEOUT", default_value_t = 60)]
    idle_timeout: u64,
    /// Request headers over this many KiB are refused with 431.
    #[arg(long, env = "BASEPLATE_MAX_HEADER_KIB", default_value_t = 64)]
    max_header_kib: usize,
    /// Faults in a row that trip a plugin off for a shop (each trip lasts twice as long as
    /// the one before).
    #[arg(long, env = "BASEPLATE_BREAKER_THRESHOLD", default_value_t = 5)]
    breaker_threshold: i64,
    /// Threads running plugin sandboxes (default: 4 per core, at least 8).
    #[arg(long, env = "BASEPLATE_SANDBOX_THREADS")]
    sandbox_threads: Option<usize>,
    /// The largest component the registry accepts for publishing, in bytes.
    #[arg(long, env = "BASEPLATE_MAX_COMPONENT_BYTES", default_value_t = 16 << 20)]
    max_component_bytes: usize,
    /// State keys one plugin may keep in one shop.
    #[arg(long, env = "BASEPLATE_QUOTA_STATE_KEYS", default_value_t = 100_000)]
    quota_state_keys: i64,
    /// MiB of state one plugin may keep in one shop.
    #[arg(long, env = "BASEPLATE_QUOTA_STATE_MIB", default_value_t = 64)]
    quota_state_mib: i64,
    /// Pending timers one plugin may have in one shop.
    #[arg(long, env = "BASEPLATE_QUOTA_TIMERS", default_value_t = 10_000)]
    quota_timers: i64,
}

#[derive(Subcommand)]
enum Command {
    /// Run a node.
    Serve(ServeArgs),
    /// Run a node with a seeded demo shop (coupons installed; the examples hello-discount,
    /// loyalty-points and free-gift published for it to install) and print next steps.
    Demo(ServeArgs),
    /// Developer commands: keys, sign-up, publish, status.
    Plugin(cli::plugin::Args),
    /// Operator commands: review queue, decisions, log, developers, stats, canaries.
    Market(cli::market::Args),
}

/// Logs: human-readable with colour on a terminal; one JSON object per line otherwise
/// (files, pipes, log collectors), never with ANSI codes. Each line carries its spans'
/// fields, so a request's lines name its method, route, request id and shop.
fn init_logging() {
    use std::io::IsTerminal;
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| "info,sqlx=warn,cranelift=warn,wasmtime=warn".into());
    let builder = tracing_subscriber::fmt().with_env_filter(filter);
    if std::io::stdout().is_terminal() {
        builder.with_ansi(true).init();
    } else {
        builder
            .json()
            .with_ansi(false)
            .with_current_span(false)
            .with_span_list(true)
            .flatten_event(true)
            .init();
    }
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    init_logging();
    let cli = Cli::parse();
    let (args, demo) = match cli.command {
        Command::Serve(a) => (a, false),
        Command::Demo(a) => (a, true),
        Command::Plugin(a) => return cli::plugin::run(a).await,
        Command::Market(a) => return cli::market::run(a).await,
    };
    let mut opts = Options::new(&args.database_url);
    opts.cache_dir = Some(args.cache_dir.clone());
    opts.operator_token = args.operator_token.clone();
    opts.payment_secret = args.payment_secret.clone();
    opts.breaker_threshold = args.breaker_threshold.max(1);
    opts.limits.quota = baseplate_runtime::Quota {
        state_keys: args.quota_state_keys.max(0),
        state_bytes: args.quota_state_mib.max(0).saturating_mul(1 << 20),
        timers: args.quota_timers.max(0),
    };
    if let Some(n) = args.sandbox_threads {
        opts.limits.sandbox_threads = n.max(1);
    }
    opts.max_component_bytes = args.max_component_bytes;
    opts.examples = demo;
    let node = start(opts).await?;
    if let Some(t) = &node.new_operator_token {
        println!("operator token (shown once): {t}");
    }
    let listener = tokio::net::TcpListener::bind(&args.listen).await?;
    let base = format!("http://{}", listener.local_addr()?);
    if demo {
        let d = seed_demo(&node.platform).await?;
        print_demo(&base, &d);
    }
    println!(
        "baseplate listening on {base} (database {})",
        args.database_url
    );
    let http = HttpOptions {
        header_read_timeout: Duration::from_secs(args.header_timeout.max(1)),
        request_timeout: Duration::from_secs(args.request_timeout.max(1)),
        idle_timeout: Duration::from_secs(args.idle_timeout.max(1)),
        max_header_bytes: args.max_header_kib.max(1) << 10,
    };
    let router = baseplate_api::router_with(node.platform.clone(), &http);
    baseplate_api::serve(listener, router, http, async {
        let _ = tokio::signal::ctrl_c().await;
    })
    .await?;
    Ok(())
}

fn print_demo(base: &str, d: &serde_json::Value) {
    let s = |k: &str| d[k].as_str().unwrap_or_default().to_string();
    let (owner, member, tea, tpl) = (
        s("owner_token"),
        s("member_token"),
        s("tea_sku"),
        s("coupon_template"),
    );
    println!(
        r#"
Demo shop {shop} is ready: two products, the coupons plugin installed, a "20 off 100" coupon template.
  owner key : {owner}
  member    : {mid} (token {member})

Try it (another terminal):
  # the member claims a coupon
  curl -s -X POST {base}/api/v1/plugins/coupons/actions/claim -H 'Authorization: Bearer {member}' -H 'Content-Type: application/json' -d '{{"template_id":"{tpl}"}}'
  # check out one tin of tea with it (use the coupon_id printed above)
  curl -s -X POST {base}/api/v1/orders -H 'Authorization: Bearer {member}' -H 'Idempotency-Key: demo-1' -H 'Content-Type: application/json' \
       -d '{{"lines":[{{"sku_id":"{tea}","quantity":1}}],"plugins":{{"coupons":{{"coupon_ids":["<coupon_id>"]}}}}}}'
  # pay it through the sandbox provider (use the order id, then the payment id)
  curl -s -X POST {base}/api/v1/orders/<order_id>/payments -H 'Authorization: Bearer {member}'
  curl -s -X POST {base}/api/v1/sandbox/payments/<payment_id>/pay -H 'Authorization: Bearer {member}'
  # the merchant sees orders, the ledger and plugin health
  curl -s {base}/api/v1/orders -H 'Authorization: Bearer {owner}'
  curl -s {base}/api/v1/ledger -H 'Authorization: Bearer {owner}'
  curl -s {base}/api/v1/plugins/coupons/health -H 'Authorization: Bearer {owner}'
  # install one of the SDK's examples (hello-discount: 5% off orders of 100.00 and up)
  curl -s -X POST {base}/api/v1/plugins -H 'Authorization: Bearer {owner}' -H 'Content-Type: application/json' \
       -d '{{"name":"hello-discount","accept_capabilities":[]}}'
"#,
        shop = s("shop_id"),
        mid = s("member_id"),
    );
}
