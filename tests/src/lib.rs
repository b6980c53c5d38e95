//! End-to-end tests of Baseplate over the real HTTP API, the real runtime and compiled
//! plugins. The tests live in `tests/`; this library holds what they share, starting with
//! [`artifacts`]: the components `build.rs` compiles from the current sources.

/// The compiled guest components and their manifests. `build.rs` rebuilds them whenever
/// their sources, the SDK or the WIT contract change, so a test never loads a stale plugin.
pub mod artifacts {
    /// Absolute path of the hostile test plugin's component (`tests/plugins/hostile`).
    pub const HOSTILE_WASM: &str = env!("BASEPLATE_HOSTILE_WASM");

    /// Absolute path of the first-party coupons plugin's component (`plugins/coupons`).
    pub const COUPONS_WASM: &str = env!("BASEPLATE_COUPONS_WASM");

    /// The hostile test plugin's component bytes.
    pub fn hostile_wasm() -> Vec<u8> {
        read(HOSTILE_WASM)
    }

    /// The hostile test plugin's `plugin.toml`.
    pub fn hostile_manifest() -> &'static str {
        include_str!(env!("BASEPLATE_HOSTILE_MANIFEST"))
    }

    /// The coupons plugin's component bytes.
    pub fn coupons_wasm() -> Vec<u8> {
        read(COUPONS_WASM)
    }

    /// The coupons plugin's `plugin.toml`.
    pub fn coupons_manifest() -> &'static str {
        include_str!(env!("BASEPLATE_COUPONS_MANIFEST"))
    }

    /// The escape attempts and the not-a-plugin component publishing must refuse, and the
    /// 0.1.0 fixture plugin: (manifest, component bytes).
    pub fn escape_fs() -> (&'static str, Vec<u8>) {
        (
            include_str!(env!("BASEPLATE_ESCAPE_FS_MANIFEST")),
            read(env!("BASEPLATE_ESCAPE_FS_WASM")),
        )
    }

    pub fn escape_net() -> (&'static str, Vec<u8>) {
        (
            include_str!(env!("BASEPLATE_ESCAPE_NET_MANIFEST")),
            read(env!("BASEPLATE_ESCAPE_NET_WASM")),
        )
    }

    pub fn no_hooks() -> (&'static str, Vec<u8>) {
        (
            include_str!(env!("BASEPLATE_NO_HOOKS_MANIFEST")),
            read(env!("BASEPLATE_NO_HOOKS_WASM")),
        )
    }

    pub fn v010_fixture() -> (&'static str, Vec<u8>) {
        (
            include_str!(env!("BASEPLATE_V010_MANIFEST")),
            read(env!("BASEPLATE_V010_WASM")),
        )
    }

    /// The registry tests' third-party plugin, version 1.0.0 (`tests/plugins/tea-discount`).
    pub fn tea_wasm() -> Vec<u8> {
        read(env!("BASEPLATE_TEA_WASM"))
    }

    /// Absolute path of `tea-discount` 1.0.0's component.
    pub const TEA_WASM: &str = env!("BASEPLATE_TEA_WASM");

    /// Absolute path of `tea-discount` 1.0.0's `plugin.toml`.
    pub const TEA_MANIFEST_PATH: &str = env!("BASEPLATE_TEA_MANIFEST");

    /// `tea-discount` 1.0.0's `plugin.toml`.
    pub fn tea_manifest() -> &'static str {
        include_str!(env!("BASEPLATE_TEA_MANIFEST"))
    }

    /// `tea-discount`'s next component (1.1.0 and later: counts paid orders in `state`).
    pub fn tea_next_wasm() -> Vec<u8> {
        read(env!("BASEPLATE_TEA_NEXT_WASM"))
    }

    /// Absolute path of the next component.
    pub const TEA_NEXT_WASM: &str = env!("BASEPLATE_TEA_NEXT_WASM");

    /// Absolute path of the next component's `plugin.toml` (version 1.1.0).
    pub const TEA_NEXT_MANIFEST_PATH: &str = env!("BASEPLATE_TEA_NEXT_MANIFEST");

    /// The next component's `plugin.toml` (version 1.1.0).
    pub fn tea_next_manifest() -> &'static str {
        include_str!(env!("BASEPLATE_TEA_NEXT_MANIFEST"))
    }

    /// A plugin whose component imports `wasi:filesystem` (publishing refuses it).
    pub fn snoop_wasm() -> Vec<u8> {
        read(env!("BASEPLATE_SNOOP_WASM"))
    }

    /// The snooping plugin's `plugin.toml`.
    pub fn snoop_manifest() -> &'static str {
        include_str!(env!("BASEPLATE_SNOOP_MANIFEST"))
    }

    /// `manifest` with its `version = "…"` line set to `version`.
    pub fn with_version(manifest: &str, version: &str) -> String {
        manifest
            .lines()
            .map(|l| {
                if l.starts_with("version = ") {
                    format!("version = \"{version}\"")
                } else {
                    l.to_string()
                }
            })
            .collect::<Vec<_>>()
            .join("\n")
    }

    fn read(path: &str) -> Vec<u8> {
        std::fs::read(path).unwrap_or_else(|err| {
            panic!("reading {path}: {err} (tests/build.rs builds it; was target/wasm removed?)")
        })
    }
}

/// A running node on a real TCP port, with an HTTP client and helpers for the common steps.
pub mod harness {
    use base64::Engine as _;
    use baseplate_core::{Clock, Platform};
    use baseplate_marketplace::{Manifest, PublisherKey};
    use baseplate_server::{Node, Options};
    use serde_json::{Value, json};
    use std::path::PathBuf;
    use std::time::Duration;

    /// The env var with a PostgreSQL admin URL (e.g. postgres://postgres@127.0.0.1:5432/postgres).
    /// Unset: PostgreSQL tests print a notice and pass without running.
    pub const POSTGRES_ENV: &str = "BASEPLATE_TEST_POSTGRES_URL";

    /// Which database a test app runs on.
    #[derive(Clone, Copy, Debug, PartialEq, Eq)]
    pub enum Backend {
        Sqlite,
        Postgres,
    }

    pub struct TestApp {
        pub base: String,
        pub client: reqwest::Client,
        pub node: Node,
        pub clock: Clock,
        pub backend: Backend,
        /// The database URL, so a test can restart a node on the same data.
        pub database_url: String,
        options: AppOptions,
        pg_db: Option<(String, String)>,
        server: tokio::task::JoinHandle<()>,
    }

    impl Drop for TestApp {
        fn drop(&mut self) {
            self.server.abort();
        }
    }

    /// A fresh scratch directory under the target dir.
    pub fn scratch_dir(tag: &str) -> PathBuf {
        let mut r = [0u8; 6];
        getrandom::fill(&mut r).unwrap();
        let dir = std::env::temp_dir().join(format!("baseplate-test-{tag}-{}", hex::encode(r)));
        std::fs::create_dir_all(&dir).unwrap();
        dir
    }

    /// Precompiled plugins are shared by every test process, so each compiles once.
    fn cache_dir() -> PathBuf {
        let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../target/plugin-cache");
        std::fs::create_dir_all(&dir).unwrap();
        dir
    }

    /// The operator token every test app starts with.
    pub const OPERATOR: &str = "bp_op_test_operator";

    /// Test-app options: a manual clock starting now, a worker only when asked.
    #[derive(Clone)]
    pub struct AppOptions {
        pub worker: bool,
        pub deadline: Duration,
        /// What one plugin may keep in one shop.
        pub quota: baseplate_runtime::Quota,
        /// Consecutive faults that trip a plugin off for a shop.
        pub breaker_threshold: i64,
        /// The registry's component size limit (None: the default, 16 MiB).
        pub max_component_bytes: Option<usize>,
        /// A cache of precompiled plugins for this app alone (None: the shared one).
        pub cache_dir: Option<PathBuf>,
    }

    impl Default for AppOptions {
        fn default() -> Self {
            AppOptions {
                worker: false,
                deadline: Duration::from_millis(500),
                quota: baseplate_runtime::Quota::default(),
                breaker_threshold: 5,
                max_component_bytes: None,
                cache_dir: None,
            }
        }
    }

    /// A developer account made for a test: its API token and a registered signing key.
    pub struct Developer {
        pub id: String,
        pub token: String,
        pub key: PublisherKey,
        pub key_id: String,
    }

    impl TestApp {
        pub async fn sqlite() -> TestApp {
            Self::start(Backend::Sqlite, AppOptions::default())
                .await
                .expect("sqlite always works")
        }

        /// None (with a printed notice) when no PostgreSQL URL is configured.
        pub async fn postgres() -> Option<TestApp> {
            Self::start(Backend::Postgres, AppOptions::default()).await
        }

        /// The app on every configured backend: SQLite, plus PostgreSQL when configured.
        pub async fn each_backend() -> Vec<TestApp> {
            let mut apps = vec![Self::sqlite().await];
            if let Some(pg) = Self::postgres().await {
                apps.push(pg);
            }
            apps
        }

        pub async fn start(backend: Backend, o: AppOptions) -> Option<TestApp> {
            let _ = tracing_subscriber::fmt()
                .with_test_writer()
                .with_env_filter(
                    std::env::var("RUST_LOG").unwrap_or_else(|_| "warn,baseplate=info".into()),
                )
                .try_init();
            let (url, pg_db) = match backend {
                Backend::Sqlite => (
                    format!(
                        "sqlite:{}",
                        scratch_dir("db").join("baseplate.db").display()
                    ),
                    None,
                ),
                Backend::Postgres => {
                    let Ok(admin) = std::env::var(POSTGRES_ENV) else {
                        eprintln!(
                            "notice: {POSTGRES_ENV} is not set; skipping the PostgreSQL run of this test"
                        );
                        return None;
                    };
                    let mut r = [0u8; 6];
                    getrandom::fill(&mut r).unwrap();
                    let name = format!("bp_test_{}", hex::encode(r));
                    let url = baseplate_store::create_postgres_database(&admin, &name)
                        .await
                        .expect("create a test database");
                    (url, Some((admin, name)))
                }
            };
            let clock = Clock::manual(1_800_000_000_000);
            Some(Self::boot(backend, url, clock, o, pg_db).await)
        }

        async fn boot(
            backend: Backend,
            url: String,
            clock: Clock,
            o: AppOptions,
            pg_db: Option<(String, String)>,
        ) -> TestApp {
            let database_url = url.clone();
            let options = o.clone();
            let mut opts = Options::new(url);
            opts.cache_dir = Some(o.cache_dir.clone().unwrap_or_else(cache_dir));
            if let Some(max) = o.max_component_bytes {
                opts.max_component_bytes = max;
            }
            opts.clock = clock.clone();
            opts.worker = o.worker;
            opts.worker_interval = Duration::from_millis(50);
            opts.payment_secret = Some("test-secret".into());
            opts.operator_token = Some(OPERATOR.into());
            opts.limits.deadline = o.deadline;
            opts.limits.quota = o.quota;
            opts.breaker_threshold = o.breaker_threshold;
            let node = baseplate_server::start(opts)
                .await
                .expect("the node starts");
            let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
            let base = format!("http://{}", listener.local_addr().unwrap());
            let router = node.router();
            // The node's real serving path: timeouts, header limits, JSON rejections.
            let server = tokio::spawn(async move {
                baseplate_api::serve(
                    listener,
                    router,
                    baseplate_api::HttpOptions::default(),
                    std::future::pending::<()>(),
                )
                .await
                .unwrap();
            });
            let client = reqwest::Client::builder()
                .pool_max_idle_per_host(64)
                .build()
                .unwrap();
            TestApp {
                base,
                client,
                node,
                clock,
                backend,
                database_url,
                options,
                pg_db,
                server,
            }
        }

        /// Stops this node (server, worker, connections) and starts a new one on the same
        /// database and clock: what survives is what was durable.
        pub async fn restart(mut self) -> TestApp {
            self.server.abort();
            self.node.platform.db.close().await;
            let pg_db = self.pg_db.take();
            let (backend, url, clock) =
                (self.backend, self.database_url.clone(), self.clock.clone());
            let o = self.options.clone();
            drop(self);
            Self::boot(backend, url, clock, o, pg_db).await
        }

        pub fn platform(&self) -> &Platform {
            &self.node.platform
        }

        /// Drops this app's PostgreSQL database (call at the end of a test).
        pub async fn cleanup(self) {
            if let Some((admin, name)) = self.pg_db.clone() {
                self.node.platform.db.close().await;
                let _ = baseplate_store::drop_postgres_database(&admin, &name).await;
            }
        }

        /// Any request: (status, JSON body or Null).
        pub async fn request(
            &self,
            method: reqwest::Method,
            path: &str,
            token: Option<&str>,
            body: Option<Value>,
            headers: &[(&str, &str)],
        ) -> (u16, Value) {
            let mut rb = self.client.request(method, format!("{}{path}", self.base));
            if let Some(t) = token {
                rb = rb.bearer_auth(t);
            }
            for (k, v) in headers {
                rb = rb.header(*k, *v);
            }
            if let Some(b) = body {
                rb = rb.json(&b);
            }
            let resp = rb.send().await.expect("request sent");
            let status = resp.status().as_u16();
            let text = resp.text().await.unwrap_or_default();
            (status, serde_json::from_str(&text).unwrap_or(Value::Null))
        }

        pub async fn get(&self, path: &str, token: &str) -> (u16, Value) {
            self.request(reqwest::Method::GET, path, Some(token), None, &[])
                .await
        }

        pub async fn post(&self, path: &str, token: &str, body: Value) -> (u16, Value) {
            self.request(reqwest::Method::POST, path, Some(token), Some(body), &[])
                .await
        }

        pub async fn put(&self, path: &str, token: &str, body: Value) -> (u16, Value) {
            self.request(reqwest::Method::PUT, path, Some(token), Some(body), &[])
                .await
        }

        /// Opens a shop; returns (shop id, owner token).
        pub async fn shop(&self, name: &str) -> (String, String) {
            let (st, b) = self
                .request(
                    reqwest::Method::POST,
                    "/api/v1/shops",
                    None,
                    Some(json!({ "name": name })),
                    &[],
                )
                .await;
            assert_eq!(st, 201, "{b}");
            (
                b["shop"]["id"].as_str().unwrap().into(),
                b["owner_key"]["token"].as_str().unwrap().into(),
            )
        }

        /// A product with one SKU; returns (product id, sku id).
        pub async fn product(
            &self,
            owner: &str,
            name: &str,
            price: i64,
            stock: i64,
        ) -> (String, String) {
            let (st, b) = self.post("/api/v1/products", owner, json!({ "name": name, "skus": [{ "name": "default", "price": price, "stock": stock }] })).await;
            assert_eq!(st, 201, "{b}");
            (
                b["id"].as_str().unwrap().into(),
                b["skus"][0]["id"].as_str().unwrap().into(),
            )
        }

        /// A member joins; returns (member id, member token).
        pub async fn member(&self, shop: &str, name: &str) -> (String, String) {
            let (st, b) = self
                .request(
                    reqwest::Method::POST,
                    &format!("/api/v1/shops/{shop}/join"),
                    None,
                    Some(json!({ "name": name })),
                    &[],
                )
                .await;
            assert_eq!(st, 201, "{b}");
            (
                b["member"]["id"].as_str().unwrap().into(),
                b["token"].as_str().unwrap().into(),
            )
        }

        /// Installs a plugin as the shop's owner, accepting the capabilities it asks for
        /// (tests of consent itself post to `/api/v1/plugins` directly).
        pub async fn install(&self, owner: &str, plugin: &str, config: Option<Value>) -> Value {
            let mut body = json!({ "name": plugin });
            if let Some(c) = config {
                body["config"] = c;
            }
            let (st, b) = self.post("/api/v1/plugins", owner, body.clone()).await;
            if st == 409 && b["error"]["code"] == "capabilities_not_accepted" {
                body["accept_capabilities"] = b["error"]["details"]["capabilities"].clone();
                let (st, b) = self.post("/api/v1/plugins", owner, body).await;
                assert_eq!(st, 201, "{b}");
                return b;
            }
            assert_eq!(st, 201, "{b}");
            b
        }

        /// The capabilities the newest released version of `plugin` asks for (what a
        /// merchant accepts to install it).
        pub async fn capabilities(&self, token: &str, plugin: &str) -> Value {
            let (st, b) = self
                .get(&format!("/api/v1/marketplace/plugins/{plugin}"), token)
                .await;
            assert_eq!(st, 200, "{b}");
            b["capabilities"].clone()
        }

        /// A developer account created by the operator (approved), with a registered
        /// signing key.
        pub async fn developer(&self, name: &str) -> Developer {
            let (st, b) = self
                .post(
                    "/api/v1/registry/developers",
                    OPERATOR,
                    json!({ "name": name }),
                )
                .await;
            assert_eq!(st, 201, "{b}");
            let token = b["api_key"]["token"].as_str().unwrap().to_string();
            let key = PublisherKey::generate().unwrap();
            let (st, k) = self
                .post(
                    "/api/v1/developer/signing-keys",
                    &token,
                    json!({ "public_key": key.public().to_hex() }),
                )
                .await;
            assert_eq!(st, 201, "{k}");
            Developer {
                id: b["developer"]["id"].as_str().unwrap().to_string(),
                token,
                key,
                key_id: k["id"].as_str().unwrap().to_string(),
            }
        }

        /// The publish envelope for `manifest_toml` and `component`, signed by `dev`.
        pub fn envelope(dev: &Developer, manifest_toml: &str, component: &[u8]) -> Value {
            let manifest = Manifest::parse(manifest_toml).expect("test manifest parses");
            let signature = dev.key.sign(&manifest, component);
            json!({
                "manifest": manifest_toml,
                "component": base64::engine::general_purpose::STANDARD.encode(component),
                "signature": signature.to_hex(),
                "key_id": dev.key_id,
            })
        }

        /// Publishes over HTTP as `dev`: (status, body).
        pub async fn publish_as(
            &self,
            dev: &Developer,
            manifest_toml: &str,
            component: &[u8],
        ) -> (u16, Value) {
            self.post(
                "/api/v1/developer/packages",
                &dev.token,
                Self::envelope(dev, manifest_toml, component),
            )
            .await
        }

        /// The operator's decision on a version (`approve`, `reject`, `yank`, `revoke`, …).
        pub async fn review(&self, name: &str, version: &str, action: &str, body: Value) -> Value {
            let (st, b) = self
                .post(
                    &format!("/api/v1/registry/plugins/{name}/versions/{version}/{action}"),
                    OPERATOR,
                    body,
                )
                .await;
            assert_eq!(st, 200, "{action} {name}@{version}: {b}");
            b
        }

        /// Publishes a test plugin through the registry (a fresh developer, a signed upload,
        /// the operator's approval), released to every shop.
        pub async fn publish(&self, manifest_toml: &str, component: Vec<u8>) {
            let manifest = Manifest::parse(manifest_toml).expect("test manifest parses");
            let mut r = [0u8; 4];
            getrandom::fill(&mut r).unwrap();
            let dev = self
                .developer(&format!("test publisher {}", hex::encode(r)))
                .await;
            let (st, b) = self.publish_as(&dev, manifest_toml, &component).await;
            assert_eq!(st, 201, "{b}");
            self.review(
                &manifest.name,
                &manifest.version.to_string(),
                "approve",
                json!({}),
            )
            .await;
        }

        /// Order → payment intent → sandbox pay. Returns the callback outcome.
        pub async fn pay(&self, token: &str, order_id: &str) -> Value {
            let (st, p) = self
                .post(
                    &format!("/api/v1/orders/{order_id}/payments"),
                    token,
                    json!({}),
                )
                .await;
            assert_eq!(st, 201, "{p}");
            let pid = p["payment"]["id"].as_str().unwrap().to_string();
            let (st, out) = self
                .post(
                    &format!("/api/v1/sandbox/payments/{pid}/pay"),
                    token,
                    json!({}),
                )
                .await;
            assert_eq!(st, 200, "{out}");
            out
        }

        /// POSTs a provider callback with the given headers (None leaves a header out);
        /// returns (status, JSON body or Null).
        pub async fn callback(
            &self,
            ts: Option<String>,
            sig: Option<String>,
            raw: &[u8],
        ) -> (u16, Value) {
            let mut rb = self
                .client
                .post(format!("{}/api/v1/payments/callbacks/sandbox", self.base))
                .header("Content-Type", "application/json")
                .body(raw.to_vec());
            if let Some(ts) = ts {
                rb = rb.header("Sandbox-Timestamp", ts);
            }
            if let Some(sig) = sig {
                rb = rb.header("Sandbox-Signature", sig);
            }
            let r = rb.send().await.expect("request sent");
            (
                r.status().as_u16(),
                r.json::<Value>().await.unwrap_or(Value::Null),
            )
        }

        /// Signs a sandbox callback body the way the provider does.
        pub fn sign(&self, timestamp: i64, body: &[u8]) -> String {
            baseplate_core::payments::sign_callback("test-secret", timestamp, body)
        }

        /// Moves the clock and runs one pass of background work.
        pub async fn advance(&self, ms: i64) {
            self.clock.advance(ms);
            self.platform().flush_events().await;
            self.platform().tick().await.expect("background work");
        }
    }
}
