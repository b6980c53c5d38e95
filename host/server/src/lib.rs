//! The `baseplate` node: opens the database, builds the plugin runtime, publishes the
//! first-party plugins into the registry, runs the background worker (payment timeouts,
//! event deliveries, timers) and serves the API. `serve` and `demo` are built on `start`;
//! the end-to-end tests start the same node in-process.

use anyhow::Context;
use baseplate_core::{Clock, Platform, Settings};
use baseplate_marketplace::PublisherKey;
use baseplate_runtime::{Limits, Runtime};
use baseplate_store::Db;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

/// How to start a node.
#[derive(Clone, Debug)]
pub struct Options {
    /// `sqlite:<path>` or `postgres://…`.
    pub database_url: String,
    /// Where precompiled plugins are cached.
    pub cache_dir: Option<PathBuf>,
    pub clock: Clock,
    pub limits: Limits,
    /// The sandbox provider's callback secret; None: the one stored in the database.
    pub payment_secret: Option<String>,
    /// The operator's token; None: keep the existing one (a fresh one is made on first boot).
    pub operator_token: Option<String>,
    /// How often the worker looks for due work.
    pub worker_interval: Duration,
    /// Start the background worker (tests may drive `Platform::tick` themselves).
    pub worker: bool,
    /// Consecutive faults that trip a plugin off for a shop.
    pub breaker_threshold: i64,
    /// The largest component the registry accepts for publishing.
    pub max_component_bytes: usize,
    /// Also publish the teaching examples (`baseplate demo`), so a shop can install them.
    pub examples: bool,
}

impl Options {
    pub fn new(database_url: impl Into<String>) -> Options {
        Options {
            database_url: database_url.into(),
            cache_dir: None,
            clock: Clock::system(),
            limits: Limits::default(),
            payment_secret: None,
            operator_token: None,
            worker_interval: Duration::from_millis(250),
            worker: true,
            breaker_threshold: Settings::default().breaker_threshold,
            max_component_bytes: Settings::default().max_component_bytes,
            examples: false,
        }
    }
}

/// A started node.
pub struct Node {
    pub platform: Platform,
    /// The operator token, when this start created it.
    pub new_operator_token: Option<String>,
    worker: Option<tokio::task::JoinHandle<()>>,
}

impl Drop for Node {
    fn drop(&mut self) {
        if let Some(w) = self.worker.take() {
            w.abort();
        }
    }
}

impl Node {
    pub fn router(&self) -> axum::Router {
        baseplate_api::router(self.platform.clone())
    }
}

fn random_hex(n: usize) -> String {
    let mut b = vec![0u8; n];
    getrandom::fill(&mut b).expect("the OS provides randomness");
    hex::encode(b)
}

pub async fn start(opts: Options) -> anyhow::Result<Node> {
    let db = Db::connect(&opts.database_url)
        .await
        .with_context(|| format!("opening {}", opts.database_url))?;
    let runtime = Arc::new(Runtime::new(opts.limits.clone(), opts.cache_dir.clone())?);
    // Settings that must agree across nodes live in the database.
    let mut tx = db.write("").await?;
    let secret = match &opts.payment_secret {
        Some(s) => s.clone(),
        None => {
            baseplate_store::plugins::init_setting(&mut tx, "payment_secret", &random_hex(32))
                .await?
        }
    };
    let publisher_hex = baseplate_store::plugins::init_setting(
        &mut tx,
        "first_party_publisher_key",
        &PublisherKey::generate()?.to_hex(),
    )
    .await?;
    tx.commit().await?;
    let settings = Settings {
        payment_secret: secret,
        breaker_threshold: opts.breaker_threshold,
        max_component_bytes: opts.max_component_bytes,
        ..Settings::default()
    };
    let platform = Platform::new(db, runtime, opts.clock.clone(), settings).await?;

    let new_operator_token = match &opts.operator_token {
        Some(t) => {
            platform.ensure_operator_key(t).await?;
            None
        }
        None => {
            let mut tx = platform.db.read().await?;
            let has = baseplate_store::keys::count_operators(&mut tx).await? > 0;
            drop(tx);
            if has {
                None
            } else {
                let t = baseplate_core::new_token("bp_op_");
                platform.ensure_operator_key(&t).await?;
                Some(t)
            }
        }
    };

    let key = PublisherKey::from_hex(&publisher_hex)?;
    publish_first_party(&platform, &key, baseplate_first_party::first_party()?).await?;
    if opts.examples {
        publish_first_party(&platform, &key, baseplate_first_party::examples()?).await?;
    }

    let worker = opts.worker.then(|| {
        let p = platform.clone();
        let every = opts.worker_interval;
        tokio::spawn(async move {
            loop {
                tokio::select! {
                    _ = tokio::time::sleep(every) => {}
                    _ = p.events_ready.notified() => {}
                }
                p.flush_events().await;
                if let Err(e) = p.tick().await {
                    tracing::warn!("background work failed: {e}");
                }
            }
        })
    });
    Ok(Node {
        platform,
        new_operator_token,
        worker,
    })
}

/// The first-party plugins ship inside the binary; each version goes through the registry
/// like any other — published by the platform developer, signed with the platform's
/// first-party key, and approved (logged as `system`) — once.
async fn publish_first_party(
    platform: &Platform,
    key: &PublisherKey,
    plugins: Vec<baseplate_first_party::BuiltinPlugin>,
) -> anyhow::Result<()> {
    let plugins = plugins
        .into_iter()
        .map(|b| (b.manifest, b.component.to_vec()))
        .collect();
    platform
        .bootstrap_first_party(key, plugins)
        .await
        .context("publishing the first-party plugins")?;
    Ok(())
}

/// Seeds the demo shop: products, coupons installed with a template, a member.
pub async fn seed_demo(platform: &Platform) -> anyhow::Result<serde_json::Value> {
    use baseplate_core::plugins::InstallRequest;
    use baseplate_core::shops::{NewMember, NewProduct, NewShop, NewSku};
    let (shop, _owner, token) = platform
        .create_shop(NewShop {
            name: "Demo Tea House".into(),
            currency: "CNY".into(),
            payment_timeout_secs: 1800,
        })
        .await?;
    let tea = platform
        .create_product(
            &shop.id,
            NewProduct {
                name: "Longjing green tea 250g".into(),
                tags: vec!["tea".into()],
                skus: vec![NewSku {
                    name: "250g tin".into(),
                    price: 12_800,
                    stock: 100,
                }],
            },
        )
        .await?;
    let cup = platform
        .create_product(
            &shop.id,
            NewProduct {
                name: "Celadon cup".into(),
                tags: vec!["teaware".into()],
                skus: vec![NewSku {
                    name: "single".into(),
                    price: 3_900,
                    stock: 20,
                }],
            },
        )
        .await?;
    platform
        .install(
            &shop.id,
            InstallRequest {
                plugin: "coupons".into(),
                version_req: "*".into(),
                config: None,
                // The demo's merchant accepts what the coupons plugin asks for.
                accept_capabilities: Some(
                    platform.catalog_plugin("coupons").await?["capabilities"]
                        .as_array()
                        .into_iter()
                        .flatten()
                        .filter_map(|c| c.as_str().map(str::to_string))
                        .collect(),
                ),
            },
        )
        .await?;
    let template = platform
        .plugin_action(
            &shop.id,
            "coupons",
            "create-template",
            baseplate_runtime::Actor::System,
            serde_json::json!({
                "name": "20 off 100",
                "discount": { "type": "fixed", "amount": 2000 },
                "threshold": { "type": "amount", "min": 10000 },
                "validity": { "type": "relative", "days": 30 },
                "total_stock": 1000,
                "per_member_limit": 1,
                "stackable": false
            }),
        )
        .await?;
    let (member, member_token) = platform
        .join(
            &shop.id,
            NewMember {
                name: "Xiao Li".into(),
                phone: Some("13800000000".into()),
                inviter_id: None,
                tags: vec![],
            },
        )
        .await?;
    platform.flush_events().await;
    Ok(serde_json::json!({
        "shop_id": shop.id,
        "owner_token": token,
        "member_id": member.id,
        "member_token": member_token,
        "tea_sku": tea.skus[0].id,
        "cup_sku": cup.skus[0].id,
        "coupon_template": template["template_id"],
    }))
}
