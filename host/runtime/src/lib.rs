//! The plugin runtime: wasmtime with the pooling allocator, each plugin version compiled
//! once (cached in memory and, precompiled, on disk by sha256 digest) and shared by every
//! shop, and a fresh `Store` per call with a deadline (epoch interruption), memory, table
//! and instance caps, a stack cap, and bounded inputs, outputs and host calls. Plugins get
//! WASI with no filesystem, network or environment, and only the Baseplate interfaces
//! their grant names.
//!
//! A call runs inside the caller's database transaction behind a savepoint: what the
//! plugin writes (state, timers, ledger postings) commits with the operation, and is rolled
//! back if the plugin traps, times out, hits a limit or returns an error. Order actions
//! are checked during the call and handed back to the caller as effects to apply in the
//! same transaction. Only this crate touches wasmtime.

mod convert;
mod host;

pub use convert::*;
pub use host::{LogLine, OrderAction};

use baseplate_store::{StoreError, Tx};
use host::HostState;
use parking_lot::Mutex;
use sha2::{Digest, Sha256};
use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};
use wasmtime::component::{Component, Linker};
use wasmtime::{
    Config, Engine, InstanceAllocationStrategy, PoolingAllocationConfig, Store, UpdateDeadline,
};

/// The generated bindings of `wit/plugin.wit`.
pub mod bindings {
    wasmtime::component::bindgen!({
        path: "../../wit/v0.1.0",
        world: "plugin",
        imports: { default: async | trappable },
        exports: { default: async },
    });
}

pub use bindings::baseplate::plugin::types as wit;

/// WIT package versions this host serves.
pub const WIT_VERSIONS: &[&str] = &["0.1.0"];

/// A host interface a plugin may be granted.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Capability {
    State,
    Timers,
    ShopData,
    OrderControl,
    Ledger,
    Logging,
    Host,
}

impl Capability {
    pub const ALL: [Capability; 7] = [
        Capability::State,
        Capability::Timers,
        Capability::ShopData,
        Capability::OrderControl,
        Capability::Ledger,
        Capability::Logging,
        Capability::Host,
    ];

    pub fn name(self) -> &'static str {
        match self {
            Capability::State => "state",
            Capability::Timers => "timers",
            Capability::ShopData => "shop-data",
            Capability::OrderControl => "order-control",
            Capability::Ledger => "ledger",
            Capability::Logging => "logging",
            Capability::Host => "host",
        }
    }

    pub fn parse(s: &str) -> Option<Capability> {
        Self::ALL.into_iter().find(|c| c.name() == s)
    }

    fn bit(self) -> u8 {
        1 << (self as u8)
    }
}

/// A set of granted capabilities.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub struct Grants(u8);

impl Grants {
    pub fn of<I: IntoIterator<Item = Capability>>(caps: I) -> Grants {
        Grants(caps.into_iter().fold(0, |a, c| a | c.bit()))
    }

    pub fn has(self, c: Capability) -> bool {
        self.0 & c.bit() != 0
    }
}

/// Sandbox limits, per call.
#[derive(Clone, Debug)]
pub struct Limits {
    /// Wall-clock budget of one call, instantiation included.
    pub deadline: Duration,
    /// Linear memory of one instance.
    pub memory_bytes: usize,
    pub table_elements: usize,
    pub max_wasm_stack: usize,
    /// Host calls (state, reads, ledger, …) one call may make.
    pub max_host_calls: u32,
    /// Size of a JSON input or output (action payloads, config, cart input).
    pub max_io_bytes: usize,
    /// Concurrent sandboxes on this node; more wait.
    pub max_concurrent: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            deadline: Duration::from_millis(500),
            memory_bytes: 32 << 20,
            table_elements: 20_000,
            max_wasm_stack: 512 << 10,
            max_host_calls: 10_000,
            max_io_bytes: 256 << 10,
            max_concurrent: 64,
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum RuntimeError {
    #[error("the component could not be compiled: {0}")]
    Compile(String),
    #[error("the component imports {0}, which its grant does not include")]
    NotGranted(String),
    #[error("the component imports {0}, which this host does not provide")]
    UnknownImport(String),
    #[error("the component does not export the hooks of baseplate:plugin@0.1.0: {0}")]
    BadExports(String),
    #[error("runtime setup failed: {0}")]
    Setup(String),
}

/// Which hook failed and how, as recorded for the merchant.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FailureKind {
    /// The plugin returned a `plugin-error` (an expected refusal, not a fault).
    PluginError,
    Trap,
    Timeout,
    MemoryLimit,
    HostCallLimit,
    BadOutput,
    Instantiate,
}

impl FailureKind {
    pub fn as_str(self) -> &'static str {
        match self {
            FailureKind::PluginError => "plugin_error",
            FailureKind::Trap => "trap",
            FailureKind::Timeout => "timeout",
            FailureKind::MemoryLimit => "memory_limit",
            FailureKind::HostCallLimit => "host_call_limit",
            FailureKind::BadOutput => "bad_output",
            FailureKind::Instantiate => "instantiate",
        }
    }
}

/// Why a call did not produce a result.
#[derive(Debug)]
pub enum CallError {
    /// The plugin said no (refused, invalid input, …): its words go back to the caller.
    Plugin(wit::PluginError),
    /// The plugin misbehaved: trapped, ran out of time or memory, broke a limit.
    Fault { kind: FailureKind, message: String },
    /// The database failed under the call; the operation may be retried.
    Store(StoreError),
}

impl CallError {
    pub fn kind(&self) -> FailureKind {
        match self {
            CallError::Plugin(_) => FailureKind::PluginError,
            CallError::Fault { kind, .. } => *kind,
            CallError::Store(_) => FailureKind::Trap,
        }
    }

    pub fn message(&self) -> String {
        match self {
            CallError::Plugin(e) => plugin_error_message(e).to_string(),
            CallError::Fault { message, .. } => message.clone(),
            CallError::Store(e) => e.to_string(),
        }
    }
}

pub fn plugin_error_message(e: &wit::PluginError) -> &str {
    match e {
        wit::PluginError::Invalid(m)
        | wit::PluginError::Refused(m)
        | wit::PluginError::NotFound(m)
        | wit::PluginError::Conflict(m)
        | wit::PluginError::Internal(m) => m,
    }
}

/// A hook invocation.
pub enum Hook {
    ValidateConfig(String),
    Price {
        stage: wit::PriceStage,
        cart: wit::Cart,
    },
    ValidateCheckout(wit::Cart),
    OrderCreated {
        order: wit::Order,
        input: Option<String>,
    },
    Event(wit::Event),
    Action {
        actor: wit::Actor,
        name: String,
        input: String,
    },
    Timer {
        name: String,
        payload: Vec<u8>,
    },
}

impl Hook {
    pub fn name(&self) -> &'static str {
        match self {
            Hook::ValidateConfig(_) => "validate-config",
            Hook::Price { .. } => "price",
            Hook::ValidateCheckout(_) => "validate-checkout",
            Hook::OrderCreated { .. } => "order-created",
            Hook::Event(_) => "handle-event",
            Hook::Action { .. } => "handle-action",
            Hook::Timer { .. } => "fire-timer",
        }
    }
}

/// What a hook returned.
#[derive(Debug)]
pub enum HookOutput {
    Unit,
    Adjustments(Vec<wit::Adjustment>),
    Attributes(Vec<wit::Attribute>),
    Json(String),
}

/// The host-decided facts of one call. Nothing here comes from the plugin.
#[derive(Clone, Debug)]
pub struct CallEnv {
    pub shop_id: String,
    pub currency: String,
    pub plugin: String,
    pub version: String,
    /// The merchant's config (JSON).
    pub config: String,
    /// The operation's clock.
    pub now: i64,
    /// Seeds the call's random generator, so an operation can be replayed.
    pub seed: u64,
}

/// A finished call: its output and side effects, or why it failed, and how long it took.
pub struct CallResult {
    pub outcome: Result<HookOutput, CallError>,
    /// Order actions to apply in the operation's transaction (only on success).
    pub actions: Vec<OrderAction>,
    pub logs: Vec<LogLine>,
    pub duration: Duration,
}

/// A compiled plugin version, ready to instantiate.
pub struct LoadedPlugin {
    pub digest: String,
    pre: bindings::PluginPre<HostState>,
}

/// The engine, the compiled plugins, and the sandbox limits of this node.
pub struct Runtime {
    engine: Engine,
    limits: Limits,
    cache_dir: Option<PathBuf>,
    loaded: Mutex<HashMap<(String, Grants), Arc<LoadedPlugin>>>,
    permits: Arc<tokio::sync::Semaphore>,
    _ticker: Arc<Ticker>,
}

struct Ticker {
    stop: Arc<std::sync::atomic::AtomicBool>,
}

impl Drop for Ticker {
    fn drop(&mut self) {
        self.stop.store(true, std::sync::atomic::Ordering::Relaxed);
    }
}

/// How often the epoch advances: the granularity of deadlines and of yielding to the async
/// runtime while a plugin computes.
const EPOCH_TICK: Duration = Duration::from_millis(2);

impl Runtime {
    /// `cache_dir`: where precompiled components are kept across restarts (None: memory only).
    pub fn new(limits: Limits, cache_dir: Option<PathBuf>) -> Result<Runtime, RuntimeError> {
        let mut pool = PoolingAllocationConfig::default();
        let slots = (limits.max_concurrent as u32).max(1) * 2;
        pool.total_component_instances(slots)
            .total_core_instances(slots * 4)
            .total_memories(slots * 2)
            .total_tables(slots * 4)
            .total_stacks(slots)
            .max_memory_size(limits.memory_bytes)
            .table_elements(limits.table_elements)
            .max_core_instances_per_component(50)
            .max_memories_per_component(4)
            .max_tables_per_component(10);
        let mut config = Config::new();
        config
            .wasm_component_model(true)
            .epoch_interruption(true)
            .max_wasm_stack(limits.max_wasm_stack)
            .allocation_strategy(InstanceAllocationStrategy::Pooling(pool))
            // Keep reservations modest: many slots on a node, and bounds checks stay explicit.
            .memory_reservation(limits.memory_bytes as u64 * 2)
            .memory_guard_size(64 << 10);
        let engine = Engine::new(&config).map_err(|e| RuntimeError::Setup(e.to_string()))?;
        let stop = Arc::new(std::sync::atomic::AtomicBool::new(false));
        {
            let engine = engine.clone();
            let stop = stop.clone();
            std::thread::Builder::new()
                .name("baseplate-epoch".into())
                .spawn(move || {
                    while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                        std::thread::sleep(EPOCH_TICK);
                        engine.increment_epoch();
                    }
                })
                .map_err(|e| RuntimeError::Setup(e.to_string()))?;
        }
        if let Some(dir) = &cache_dir {
            std::fs::create_dir_all(dir)
                .map_err(|e| RuntimeError::Setup(format!("cache dir {}: {e}", dir.display())))?;
        }
        Ok(Runtime {
            engine,
            permits: Arc::new(tokio::sync::Semaphore::new(limits.max_concurrent)),
            limits,
            cache_dir,
            loaded: Mutex::new(HashMap::new()),
            _ticker: Arc::new(Ticker { stop }),
        })
    }

    pub fn limits(&self) -> &Limits {
        &self.limits
    }

    /// sha256 of component bytes, hex.
    pub fn digest(bytes: &[u8]) -> String {
        hex::encode(Sha256::digest(bytes))
    }

    /// The Baseplate interfaces a component imports, by capability; unknown imports are an
    /// error. The registry checks these against the manifest at publish time.
    pub fn imported_capabilities(&self, bytes: &[u8]) -> Result<Vec<Capability>, RuntimeError> {
        // Through the compile cache: a node that publishes the first-party plugins at every
        // start compiles each version once, not once per start.
        let component = self.component(&Self::digest(bytes), || Some(bytes.to_vec()))?;
        self.capabilities_of(&component)
    }

    fn capabilities_of(&self, component: &Component) -> Result<Vec<Capability>, RuntimeError> {
        let mut caps = Vec::new();
        for (name, _) in component.component_type().imports(&self.engine) {
            if name.starts_with("wasi:") {
                continue;
            }
            let iface = name
                .strip_prefix("baseplate:plugin/")
                .and_then(|rest| rest.split('@').next())
                .ok_or_else(|| RuntimeError::UnknownImport(name.to_string()))?;
            if iface == "types" {
                continue;
            }
            let cap = Capability::parse(iface)
                .ok_or_else(|| RuntimeError::UnknownImport(name.to_string()))?;
            if !caps.contains(&cap) {
                caps.push(cap);
            }
        }
        caps.sort();
        Ok(caps)
    }

    /// The compiled plugin for `digest` under `grants`, compiling (or loading precompiled
    /// code from disk) on first use. `bytes` is only asked for when nothing is cached.
    pub fn load(
        &self,
        digest: &str,
        grants: Grants,
        bytes: impl FnOnce() -> Option<Vec<u8>>,
    ) -> Result<Arc<LoadedPlugin>, RuntimeError> {
        if let Some(p) = self.loaded.lock().get(&(digest.to_string(), grants)) {
            return Ok(p.clone());
        }
        let component = self.component(digest, bytes)?;
        for cap in self.capabilities_of(&component)? {
            if !grants.has(cap) {
                return Err(RuntimeError::NotGranted(format!(
                    "baseplate:plugin/{}",
                    cap.name()
                )));
            }
        }
        let linker = self.linker(grants)?;
        let pre = linker
            .instantiate_pre(&component)
            .map_err(|e| RuntimeError::Compile(format!("{e:#}")))?;
        let pre = bindings::PluginPre::new(pre)
            .map_err(|e| RuntimeError::BadExports(format!("{e:#}")))?;
        let loaded = Arc::new(LoadedPlugin {
            digest: digest.to_string(),
            pre,
        });
        self.loaded
            .lock()
            .insert((digest.to_string(), grants), loaded.clone());
        Ok(loaded)
    }

    fn component(
        &self,
        digest: &str,
        bytes: impl FnOnce() -> Option<Vec<u8>>,
    ) -> Result<Component, RuntimeError> {
        let cached = self.cache_dir.as_ref().map(|dir| {
            let mut h = std::hash::DefaultHasher::new();
            std::hash::Hash::hash(&self.engine.precompile_compatibility_hash(), &mut h);
            dir.join(format!(
                "{digest}-{:016x}.cwasm",
                std::hash::Hasher::finish(&h)
            ))
        });
        if let Some(path) = &cached
            && path.exists()
        {
            // SAFETY: the file was written by `Component::serialize` of an engine with the same
            // compatibility hash (it is in the name), into the node's own cache directory.
            if let Ok(c) = unsafe { Component::deserialize_file(&self.engine, path) } {
                return Ok(c);
            }
        }
        let bytes = bytes().ok_or_else(|| {
            RuntimeError::Compile(format!("no component bytes for digest {digest}"))
        })?;
        if Self::digest(&bytes) != digest {
            return Err(RuntimeError::Compile(format!(
                "component bytes do not match digest {digest}"
            )));
        }
        let component = Component::new(&self.engine, &bytes)
            .map_err(|e| RuntimeError::Compile(format!("{e:#}")))?;
        if let Some(path) = cached
            && let Ok(code) = component.serialize()
        {
            // Write-then-rename so a concurrent reader never sees half a file.
            let tmp = path.with_extension(format!("tmp{}", std::process::id()));
            if std::fs::write(&tmp, code).is_ok() {
                let _ = std::fs::rename(&tmp, &path);
            }
        }
        Ok(component)
    }

    fn linker(&self, grants: Grants) -> Result<Linker<HostState>, RuntimeError> {
        let mut linker = Linker::<HostState>::new(&self.engine);
        let setup = |e: wasmtime::Error| RuntimeError::Setup(format!("{e:#}"));
        wasmtime_wasi::p2::add_to_linker_async(&mut linker).map_err(setup)?;
        host::add_granted(&mut linker, grants).map_err(setup)?;
        Ok(linker)
    }

    /// Runs one hook inside `tx`, behind a savepoint. The transaction always comes back;
    /// on failure the plugin's writes in it are undone.
    pub async fn call(
        &self,
        plugin: &LoadedPlugin,
        env: CallEnv,
        mut tx: Tx,
        hook: Hook,
    ) -> (Tx, CallResult) {
        let started = Instant::now();
        let fail = |tx, outcome| {
            (
                tx,
                CallResult {
                    outcome: Err(outcome),
                    actions: Vec::new(),
                    logs: Vec::new(),
                    duration: started.elapsed(),
                },
            )
        };
        if let Err(e) = check_input_size(&hook, self.limits.max_io_bytes) {
            return fail(tx, e);
        }
        let _permit = self
            .permits
            .clone()
            .acquire_owned()
            .await
            .expect("semaphore never closes");
        // Pricing is read-only by contract, and the host refuses its writes, so it needs no
        // savepoint (a third of a pricing call's cost on SQLite).
        let read_only = matches!(hook, Hook::Price { .. });
        let sp = if read_only {
            None
        } else {
            match tx.savepoint().await {
                Ok(sp) => Some(sp),
                Err(e) => return fail(tx, CallError::Store(e)),
            }
        };
        let state = HostState::new(tx, &env, &self.limits, started, read_only);
        let mut store = Store::new(&self.engine, state);
        store.limiter(|s| &mut s.limits);
        store.set_epoch_deadline(1);
        store.epoch_deadline_callback(|ctx| {
            if ctx.data().out_of_time() {
                Err(wasmtime::Error::new(DeadlineExceeded))
            } else {
                Ok(UpdateDeadline::Yield(1))
            }
        });
        let ctx = wit::CallContext {
            shop_id: env.shop_id.clone(),
            plugin: env.plugin.clone(),
            version: env.version.clone(),
            config: env.config.clone(),
            now: env.now,
            currency: env.currency.clone(),
        };
        let raw = run_hook(&plugin.pre, &mut store, &ctx, hook).await;
        let mut state = store.into_data();
        let tx = state
            .tx
            .take()
            .expect("the transaction stays in the store until the call ends");
        let outcome = match raw {
            Ok(Ok(out)) => check_output(out, self.limits.max_io_bytes),
            Ok(Err(plugin_error)) => Err(CallError::Plugin(plugin_error)),
            Err(e) => Err(state.classify(e)),
        };
        finish(tx, sp, state, outcome, started).await
    }
}

async fn finish(
    mut tx: Tx,
    sp: Option<baseplate_store::Savepoint>,
    state: HostState,
    outcome: Result<HookOutput, CallError>,
    started: Instant,
) -> (Tx, CallResult) {
    let outcome = match (outcome, sp) {
        (outcome, None) => outcome,
        (Ok(out), Some(sp)) => match tx.release(sp).await {
            Ok(()) => Ok(out),
            Err(e) => Err(CallError::Store(e)),
        },
        (Err(e), Some(sp)) => match tx.rollback_to(sp).await {
            Ok(()) => Err(e),
            Err(se) => Err(CallError::Store(se)),
        },
    };
    let ok = outcome.is_ok();
    let (actions, logs) = state.into_effects();
    let result = CallResult {
        outcome,
        actions: if ok { actions } else { Vec::new() },
        logs,
        duration: started.elapsed(),
    };
    (tx, result)
}

#[derive(Debug)]
struct DeadlineExceeded;

impl std::fmt::Display for DeadlineExceeded {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("the plugin ran past its deadline")
    }
}

impl std::error::Error for DeadlineExceeded {}

type HookResult = Result<HookOutput, wit::PluginError>;

async fn run_hook(
    pre: &bindings::PluginPre<HostState>,
    store: &mut Store<HostState>,
    ctx: &wit::CallContext,
    hook: Hook,
) -> wasmtime::Result<HookResult> {
    let instance = pre
        .instantiate_async(&mut *store)
        .await
        .map_err(|e| e.context(Instantiating))?;
    let hooks = instance.baseplate_plugin_hooks();
    Ok(match hook {
        Hook::ValidateConfig(cfg) => hooks
            .call_validate_config(&mut *store, &cfg)
            .await?
            .map(|()| HookOutput::Unit),
        Hook::Price { stage, cart } => hooks
            .call_price(&mut *store, ctx, stage, &cart)
            .await?
            .map(HookOutput::Adjustments),
        Hook::ValidateCheckout(cart) => hooks
            .call_validate_checkout(&mut *store, ctx, &cart)
            .await?
            .map(|()| HookOutput::Unit),
        Hook::OrderCreated { order, input } => hooks
            .call_order_created(&mut *store, ctx, &order, input.as_deref())
            .await?
            .map(HookOutput::Attributes),
        Hook::Event(event) => hooks
            .call_handle_event(&mut *store, ctx, &event)
            .await?
            .map(|()| HookOutput::Unit),
        Hook::Action { actor, name, input } => hooks
            .call_handle_action(&mut *store, ctx, &actor, &name, &input)
            .await?
            .map(HookOutput::Json),
        Hook::Timer { name, payload } => hooks
            .call_fire_timer(&mut *store, ctx, &name, &payload)
            .await?
            .map(|()| HookOutput::Unit),
    })
}

#[derive(Debug)]
struct Instantiating;

impl std::fmt::Display for Instantiating {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("instantiating the plugin")
    }
}

fn check_input_size(hook: &Hook, max: usize) -> Result<(), CallError> {
    let size = match hook {
        Hook::ValidateConfig(c) => c.len(),
        Hook::Price { cart, .. } | Hook::ValidateCheckout(cart) => {
            cart.input.as_ref().map_or(0, |s| s.len()) + cart.lines.len() * 128
        }
        Hook::OrderCreated { input, order } => {
            input.as_ref().map_or(0, |s| s.len()) + order.lines.len() * 256
        }
        Hook::Event(_) => 0,
        Hook::Action { input, name, .. } => input.len() + name.len(),
        Hook::Timer { payload, .. } => payload.len(),
    };
    if size > max {
        return Err(CallError::Plugin(wit::PluginError::Invalid(format!(
            "input of {size} bytes is over the {max}-byte limit"
        ))));
    }
    Ok(())
}

fn check_output(out: HookOutput, max: usize) -> Result<HookOutput, CallError> {
    let bad = |message: String| {
        Err(CallError::Fault {
            kind: FailureKind::BadOutput,
            message,
        })
    };
    match &out {
        HookOutput::Json(s) if s.len() > max => {
            return bad(format!(
                "output of {} bytes is over the {max}-byte limit",
                s.len()
            ));
        }
        HookOutput::Json(s) if serde_json::from_str::<serde_json::Value>(s).is_err() => {
            return bad("the action's output is not JSON".into());
        }
        HookOutput::Adjustments(a) if a.len() > 1000 => {
            return bad(format!("{} adjustments (at most 1000)", a.len()));
        }
        HookOutput::Attributes(a)
            if a.len() > 32 || a.iter().any(|x| x.key.len() > 64 || x.value.len() > 1024) =>
        {
            return bad("attributes: at most 32, keys ≤ 64 bytes, values ≤ 1 KiB".into());
        }
        _ => {}
    }
    Ok(out)
}

impl Runtime {
    /// The compiled plugin if this node already has it in memory.
    pub fn cached(&self, digest: &str, grants: Grants) -> Option<Arc<LoadedPlugin>> {
        self.loaded
            .lock()
            .get(&(digest.to_string(), grants))
            .cloned()
    }
}
