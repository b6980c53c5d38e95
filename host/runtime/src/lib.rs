//! The plugin runtime: wasmtime with the pooling allocator, each plugin version compiled
//! once (cached in memory and, precompiled, on disk by sha256 digest) and shared by every
//! shop, and a fresh `Store` per call.
//!
//! - **Isolation.** Every call has a wall-clock deadline (epoch interruption; there is no
//!   host call that can block, see `wasi`), memory, table, instance and stack caps, bounded
//!   inputs, outputs and host calls, and only the interfaces its grant names plus a WASI
//!   subset without filesystem, sockets or environment.
//! - **No database inside.** A call reads the shop's data through `HostData` (short reads,
//!   no held transaction) and buffers its effects in an `Overlay`; the platform commits them
//!   in a short write afterwards. So no guest code ever runs while the database writer or a
//!   pooled connection is held.
//! - **Fairness.** Calls run on sandbox threads handed out fairly by shop (`pool`); a
//!   runaway call loses its CPU priority.
//! - **Contract versions.** Components built against any served version (`contract`) run
//!   side by side; host imports are written once.
//!
//! Only this crate touches wasmtime.

mod contract;
pub mod data;
pub mod fixture;
mod host;
pub mod limits;
pub mod overlay;
mod pool;
mod sandbox;
mod types;
mod wasi;

pub use contract::ContractVersion;
pub use data::{DataError, HostData, MemoryData, Recording};
pub use limits::{Limits, Quota};
pub use overlay::{Effects, Overlay};
pub use types::*;

use contract::{convert, v0_1, v0_2};
use parking_lot::Mutex;
use sandbox::{DeadlineExceeded, Instantiating, Sandbox};
use sha2::{Digest, Sha256};
use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};
use wasmtime::component::{Component, Linker};
use wasmtime::{
    Config, Engine, InstanceAllocationStrategy, PoolingAllocationConfig, Store, UpdateDeadline,
};

/// A host interface a plugin may be granted.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Capability {
    State,
    Timers,
    ShopData,
    OrderControl,
    Ledger,
    Points,
    Logging,
    Host,
}

impl Capability {
    pub const ALL: [Capability; 8] = [
        Capability::State,
        Capability::Timers,
        Capability::ShopData,
        Capability::OrderControl,
        Capability::Ledger,
        Capability::Points,
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
            Capability::Points => "points",
            Capability::Logging => "logging",
            Capability::Host => "host",
        }
    }

    pub fn parse(s: &str) -> Option<Capability> {
        Self::ALL.into_iter().find(|c| c.name() == s)
    }

    fn bit(self) -> u16 {
        1 << (self as u16)
    }
}

/// A set of granted capabilities.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub struct Grants(u16);

impl Grants {
    pub fn of<I: IntoIterator<Item = Capability>>(caps: I) -> Grants {
        Grants(caps.into_iter().fold(0, |a, c| a | c.bit()))
    }

    pub fn has(self, c: Capability) -> bool {
        self.0 & c.bit() != 0
    }
}

/// Why a component can't be used; each says what to fix.
#[derive(Debug, thiserror::Error)]
pub enum RuntimeError {
    #[error("the bytes are not a WebAssembly component: {0}")]
    NotAComponent(String),
    #[error("the component imports {0}, which its grant does not include")]
    NotGranted(String),
    #[error(
        "the component imports {0}, which plugins may not use (allowed: the baseplate:plugin interfaces of its contract version and WASI 0.2 cli, clocks, io and random — no filesystem, sockets or HTTP)"
    )]
    ForbiddenImport(String),
    #[error(
        "the component does not export the hooks of a contract version this host serves ({served}): it exports {0}",
        served = served_hooks()
    )]
    NoHooks(String),
    #[error("the component's exports do not match the contract: {0}")]
    BadExports(String),
    #[error("runtime setup failed: {0}")]
    Setup(String),
}

fn served_hooks() -> String {
    ContractVersion::ALL
        .iter()
        .map(|v| v.hooks_export())
        .collect::<Vec<_>>()
        .join(", ")
}

/// What a component is, read from its types.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ComponentInfo {
    pub contract: ContractVersion,
    /// The Baseplate interfaces it imports.
    pub capabilities: Vec<Capability>,
    /// The WASI interfaces it imports.
    pub wasi: Vec<String>,
}

enum Pre {
    V0_1(v0_1::PluginPre<Sandbox>),
    V0_2(v0_2::PluginPre<Sandbox>),
}

/// A compiled plugin version, ready to instantiate.
pub struct LoadedPlugin {
    pub digest: String,
    pub contract: ContractVersion,
    pre: Pre,
}

/// The engine, the compiled plugins, the sandbox threads and the limits of this node.
pub struct Runtime {
    engine: Engine,
    limits: Limits,
    cache_dir: Option<PathBuf>,
    loaded: Mutex<HashMap<(String, Grants), Arc<LoadedPlugin>>>,
    pool: pool::Pool,
    _ticker: Ticker,
}

struct Ticker {
    stop: Arc<std::sync::atomic::AtomicBool>,
}

impl Drop for Ticker {
    fn drop(&mut self) {
        self.stop.store(true, std::sync::atomic::Ordering::Relaxed);
    }
}

/// How often the epoch advances: the granularity of deadlines.
const EPOCH_TICK: Duration = Duration::from_millis(1);

static EMPTY_DATA: std::sync::OnceLock<Arc<dyn HostData>> = std::sync::OnceLock::new();

fn placeholder_overlay() -> Overlay {
    let data = EMPTY_DATA
        .get_or_init(|| Arc::new(MemoryData::default()))
        .clone();
    Overlay::new("", "", data)
}

impl Runtime {
    /// `cache_dir`: where precompiled components are kept across restarts (None: memory only).
    pub fn new(limits: Limits, cache_dir: Option<PathBuf>) -> Result<Runtime, RuntimeError> {
        let mut pool = PoolingAllocationConfig::default();
        let slots = (limits.sandbox_threads as u32).max(1) * 2 + 8;
        pool.total_component_instances(slots)
            .total_core_instances(slots * 8)
            .total_memories(slots * 2)
            .total_tables(slots * 4)
            .total_stacks(slots)
            .max_memory_size(limits.memory_bytes)
            .table_elements(limits.table_elements)
            .max_core_instances_per_component(50)
            .max_memories_per_component(4)
            .max_tables_per_component(10)
            .linear_memory_keep_resident(limits.memory_keep_resident)
            .table_keep_resident(limits.memory_keep_resident.min(1 << 20));
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
        let runtime = Runtime {
            engine,
            pool: pool::Pool::new(
                limits.sandbox_threads,
                limits.sandboxes_per_shop,
                limits.queue_per_shop,
            ),
            limits,
            cache_dir,
            loaded: Mutex::new(HashMap::new()),
            _ticker: Ticker { stop },
        };
        Ok(runtime)
    }

    pub fn limits(&self) -> &Limits {
        &self.limits
    }

    /// sha256 of component bytes, hex.
    pub fn digest(bytes: &[u8]) -> String {
        hex::encode(Sha256::digest(bytes))
    }

    /// Reads what a component is and refuses what can never run here: not a component,
    /// no hooks export of a served contract version, imports outside that version's
    /// Baseplate interfaces and the WASI subset. Goes through the compile cache.
    pub fn inspect(&self, bytes: &[u8]) -> Result<ComponentInfo, RuntimeError> {
        if wasmparser_is_core_module(bytes) {
            return Err(RuntimeError::NotAComponent(
                "it is a core WebAssembly module; build with --target wasm32-wasip2 to get a component".into(),
            ));
        }
        let component = self.component(&Self::digest(bytes), || Some(bytes.to_vec()))?;
        self.info(&component)
    }

    fn info(&self, component: &Component) -> Result<ComponentInfo, RuntimeError> {
        let ty = component.component_type();
        let exports: Vec<String> = ty
            .exports(&self.engine)
            .map(|(n, _)| n.to_string())
            .collect();
        let contract = ContractVersion::ALL
            .into_iter()
            .rev()
            .find(|v| exports.iter().any(|e| *e == v.hooks_export()))
            .ok_or_else(|| {
                RuntimeError::NoHooks(if exports.is_empty() {
                    "nothing".into()
                } else {
                    exports.join(", ")
                })
            })?;
        let mut capabilities = Vec::new();
        let mut wasi = Vec::new();
        // Every import that can't be linked, so the author reads them all at once.
        let mut forbidden = Vec::new();
        for (name, _) in ty.imports(&self.engine) {
            if name.starts_with("wasi:") {
                if wasi::is_linked(name) {
                    wasi.push(name.to_string());
                } else {
                    forbidden.push(name.to_string());
                }
                continue;
            }
            let cap = name
                .strip_prefix("baseplate:plugin/")
                .and_then(|rest| rest.strip_suffix(&format!("@{}", contract.as_str())))
                .and_then(|iface| match iface {
                    "types" => Some(None),
                    _ => Capability::parse(iface)
                        .filter(|c| *c != Capability::Points || contract >= ContractVersion::V0_2)
                        .map(Some),
                });
            match cap {
                Some(Some(cap)) if !capabilities.contains(&cap) => capabilities.push(cap),
                Some(_) => {}
                None => forbidden.push(name.to_string()),
            }
        }
        if !forbidden.is_empty() {
            return Err(RuntimeError::ForbiddenImport(forbidden.join(", ")));
        }
        capabilities.sort();
        Ok(ComponentInfo {
            contract,
            capabilities,
            wasi,
        })
    }

    /// The compiled plugin for `digest` under `grants`, compiling (or loading precompiled
    /// code from disk) on first use. `bytes` is only asked for when nothing is cached; the
    /// digest is checked against them before anything is compiled.
    pub fn load(
        &self,
        digest: &str,
        grants: Grants,
        bytes: impl FnOnce() -> Option<Vec<u8>>,
    ) -> Result<Arc<LoadedPlugin>, RuntimeError> {
        if let Some(p) = self.cached(digest, grants) {
            return Ok(p);
        }
        let component = self.component(digest, bytes)?;
        let info = self.info(&component)?;
        for cap in &info.capabilities {
            if !grants.has(*cap) {
                return Err(RuntimeError::NotGranted(format!(
                    "baseplate:plugin/{}",
                    cap.name()
                )));
            }
        }
        let setup = |e: wasmtime::Error| RuntimeError::Setup(format!("{e:#}"));
        let mut linker = Linker::<Sandbox>::new(&self.engine);
        wasi::add_to_linker(&mut linker).map_err(setup)?;
        host::add_granted(&mut linker, info.contract, grants).map_err(setup)?;
        let pre = linker
            .instantiate_pre(&component)
            .map_err(|e| RuntimeError::BadExports(format!("{e:#}")))?;
        let pre = match info.contract {
            ContractVersion::V0_1 => Pre::V0_1(
                v0_1::PluginPre::new(pre)
                    .map_err(|e| RuntimeError::BadExports(format!("{e:#}")))?,
            ),
            ContractVersion::V0_2 => Pre::V0_2(
                v0_2::PluginPre::new(pre)
                    .map_err(|e| RuntimeError::BadExports(format!("{e:#}")))?,
            ),
        };
        let loaded = Arc::new(LoadedPlugin {
            digest: digest.to_string(),
            contract: info.contract,
            pre,
        });
        self.loaded
            .lock()
            .insert((digest.to_string(), grants), loaded.clone());
        Ok(loaded)
    }

    /// The compiled plugin if this node already has it in memory.
    pub fn cached(&self, digest: &str, grants: Grants) -> Option<Arc<LoadedPlugin>> {
        self.loaded
            .lock()
            .get(&(digest.to_string(), grants))
            .cloned()
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
            RuntimeError::NotAComponent(format!("no stored bytes for digest {digest}"))
        })?;
        if Self::digest(&bytes) != digest {
            return Err(RuntimeError::NotAComponent(format!(
                "the stored bytes do not match digest {digest}: the artifact was altered"
            )));
        }
        let component = Component::new(&self.engine, &bytes)
            .map_err(|e| RuntimeError::NotAComponent(format!("{e:#}")))?;
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

    /// Runs `job` on a sandbox thread, in `shop`'s turn (see `pool`). The job calls `call`
    /// for each hook it needs. Fails as busy if the shop's own calls hold its share past
    /// the deadline.
    pub async fn sandboxed<R: Send + 'static>(
        &self,
        shop: &str,
        job: impl FnOnce() -> R + Send + 'static,
    ) -> Result<R, CallError> {
        self.pool.run(shop, self.limits.deadline, job).await
    }

    /// Takes one of `shop`'s turns on a sandbox thread now (waiting up to the deadline), for
    /// an operation that must read before it calls: a shop whose calls queue then waits
    /// before it touches the database, not after.
    pub async fn turn(&self, shop: &str) -> Result<SandboxTurn, CallError> {
        self.pool
            .acquire(shop, self.limits.deadline)
            .await
            .map(SandboxTurn)
    }

    /// `sandboxed`, in a turn taken with `turn`.
    pub async fn sandboxed_in<R: Send + 'static>(
        &self,
        turn: SandboxTurn,
        job: impl FnOnce() -> R + Send + 'static,
    ) -> Result<R, CallError> {
        self.pool.run_with(turn.0, job).await
    }

    /// Runs one hook now, on this thread, with `overlay` as the operation's view of the
    /// shop: the hook's reads go through it and its effects are added to it (or, if the
    /// call fails, undone). Returns within the deadline plus a millisecond or two, whatever
    /// the guest does. A fresh instance each time; see `call_in` to let the hooks of one
    /// operation share one.
    pub fn call(
        &self,
        plugin: &LoadedPlugin,
        env: &CallEnv,
        hook: Hook,
        overlay: &mut Overlay,
    ) -> CallResult {
        self.call_in(plugin, env, hook, overlay, &mut None)
    }

    /// `call`, reusing the instance in `warm` if it is this plugin's (the several hooks of
    /// one operation for one plugin and shop: invariant 2 allows it, and a checkout then
    /// instantiates each plugin once). The instance is kept in `warm` after a call that
    /// ended cleanly and dropped after any failure; never keep a `Warm` past the operation.
    pub fn call_in(
        &self,
        plugin: &LoadedPlugin,
        env: &CallEnv,
        hook: Hook,
        overlay: &mut Overlay,
        warm: &mut Option<Warm>,
    ) -> CallResult {
        let started = Instant::now();
        let hook_name = hook.name();
        let size = hook.input_size();
        if size > self.limits.max_io_bytes {
            return CallResult {
                outcome: Err(CallError::Plugin(PluginError::Invalid(format!(
                    "input of {size} bytes is over the {}-byte limit",
                    self.limits.max_io_bytes
                )))),
                logs: Vec::new(),
                duration: started.elapsed(),
                memory_peak: 0,
            };
        }
        let mark = overlay.mark();
        let view = std::mem::replace(overlay, placeholder_overlay());
        let (mut store, inst) = match warm.take() {
            Some(w) if w.digest == plugin.digest => {
                let mut store = w.store;
                store.data_mut().reset(
                    env.clone(),
                    view,
                    &self.limits,
                    hook_name,
                    hook.read_only(),
                    started,
                );
                store.set_epoch_deadline(1);
                (store, Some(w.inst))
            }
            _ => {
                let sandbox = Sandbox::new(
                    env.clone(),
                    view,
                    &self.limits,
                    hook_name,
                    hook.read_only(),
                    started,
                );
                (self.new_store(sandbox), None)
            }
        };
        let raw = match inst {
            Some(inst) => Ok(inst),
            None => instantiate(&plugin.pre, &mut store),
        }
        .and_then(|inst| invoke(&inst, &mut store, env, hook).map(|out| (inst, out)));
        let sandbox = store.data_mut();
        if sandbox.demoted {
            pool::restore();
            sandbox.demoted = false;
        }
        sandbox.flush_output();
        *overlay = std::mem::replace(&mut sandbox.overlay, placeholder_overlay());
        let logs = std::mem::take(&mut sandbox.logs);
        let memory_peak = sandbox.caps.peak;
        let (outcome, inst) = match raw {
            // A refusal the host made for the plugin (a quota) wins over what the guest
            // returned after it.
            Ok((_, _)) if sandbox.refusal.is_some() => (
                Err(CallError::Plugin(sandbox.refusal.take().expect("checked"))),
                None,
            ),
            Ok((inst, Ok(out))) => (check_output(out, self.limits.max_io_bytes), Some(inst)),
            Ok((inst, Err(plugin_error))) => (Err(CallError::Plugin(plugin_error)), Some(inst)),
            Err(e) => (Err(sandbox.classify(e)), None),
        };
        if outcome.is_err() {
            overlay.undo(mark);
        }
        // An instance that trapped, or broke a rule, is not called again.
        if let (Some(inst), Ok(_) | Err(CallError::Plugin(_))) = (inst, &outcome) {
            *warm = Some(Warm {
                store,
                inst,
                digest: plugin.digest.clone(),
            });
        }
        CallResult {
            outcome,
            logs,
            duration: started.elapsed(),
            memory_peak,
        }
    }

    fn new_store(&self, sandbox: Sandbox) -> Store<Sandbox> {
        let mut store = Store::new(&self.engine, sandbox);
        store.limiter(|s| &mut s.caps);
        store.set_epoch_deadline(1);
        let demote_after = self.limits.demote_after;
        let pause = self.limits.runaway_pause;
        store.epoch_deadline_callback(move |mut ctx| {
            let s = ctx.data_mut();
            if s.out_of_time() {
                return Err(wasmtime::Error::new(DeadlineExceeded));
            }
            if !s.demoted && s.started.elapsed() >= demote_after {
                s.demoted = pool::demote();
            }
            if s.demoted {
                // Only sandbox threads demote, so a local run (`baseplate plugin run`)
                // is never slowed. The pause ends by the deadline.
                std::thread::sleep(pause.min(s.until.saturating_duration_since(Instant::now())));
            }
            Ok(UpdateDeadline::Continue(1))
        });
        store
    }
}

/// A shop's turn on a sandbox thread (`Runtime::turn`), given back when dropped or when
/// the job run in it ends.
pub struct SandboxTurn(baseplate_fair::Permit);

/// An instance kept between the hooks of one operation (see `Runtime::call_in`).
pub struct Warm {
    store: Store<Sandbox>,
    inst: Inst,
    digest: String,
}

enum Inst {
    V0_1(v0_1::Plugin),
    V0_2(v0_2::Plugin),
}

fn instantiate(pre: &Pre, store: &mut Store<Sandbox>) -> wasmtime::Result<Inst> {
    Ok(match pre {
        Pre::V0_1(pre) => Inst::V0_1(
            pre.instantiate(&mut *store)
                .map_err(|e| e.context(Instantiating))?,
        ),
        Pre::V0_2(pre) => Inst::V0_2(
            pre.instantiate(&mut *store)
                .map_err(|e| e.context(Instantiating))?,
        ),
    })
}

/// A core module (not a component) starts with the same magic but layer 0 / version 1.
fn wasmparser_is_core_module(bytes: &[u8]) -> bool {
    bytes.len() >= 8 && bytes[..4] == *b"\0asm" && bytes[4..8] == [1, 0, 0, 0]
}

type HookResult = Result<HookOutput, PluginError>;

fn invoke(
    inst: &Inst,
    store: &mut Store<Sandbox>,
    env: &CallEnv,
    hook: Hook,
) -> wasmtime::Result<HookResult> {
    match inst {
        Inst::V0_2(instance) => {
            use convert::v0_2 as c;
            let hooks = instance.baseplate_plugin_hooks();
            let ctx = c::context(env);
            let out = match hook {
                Hook::ValidateConfig { config, previous } => {
                    let cctx = v0_2::baseplate::plugin::types::ConfigContext {
                        shop_id: env.shop_id.clone(),
                        plugin: env.plugin.clone(),
                        version: env.version.clone(),
                        currency: env.currency.clone(),
                        now: env.now,
                        previous,
                    };
                    hooks
                        .call_validate_config(&mut *store, &cctx, &config)?
                        .map(|()| HookOutput::Unit)
                        .map_err(c::plugin_error)
                }
                Hook::Price { stage, cart } => hooks
                    .call_price(&mut *store, &ctx, c::stage(stage), &c::cart(&cart))?
                    .map(|a| HookOutput::Adjustments(a.into_iter().map(c::adjustment).collect()))
                    .map_err(c::plugin_error),
                Hook::ValidateCheckout(cart) => hooks
                    .call_validate_checkout(&mut *store, &ctx, &c::cart(&cart))?
                    .map(|()| HookOutput::Unit)
                    .map_err(c::plugin_error),
                Hook::OrderCreated { order, input } => hooks
                    .call_order_created(&mut *store, &ctx, &c::order(&order), input.as_deref())?
                    .map(|a| {
                        HookOutput::Attributes(a.into_iter().map(|a| (a.key, a.value)).collect())
                    })
                    .map_err(c::plugin_error),
                Hook::Event(event) => hooks
                    .call_handle_event(&mut *store, &ctx, &event_v0_2(&event))?
                    .map(|()| HookOutput::Unit)
                    .map_err(c::plugin_error),
                Hook::Action { actor, name, input } => hooks
                    .call_handle_action(&mut *store, &ctx, &c::actor(&actor), &name, &input)?
                    .map(HookOutput::Json)
                    .map_err(c::plugin_error),
                Hook::Timer { name, payload } => hooks
                    .call_fire_timer(&mut *store, &ctx, &name, &payload)?
                    .map(|()| HookOutput::Unit)
                    .map_err(c::plugin_error),
            };
            Ok(out)
        }
        Inst::V0_1(instance) => {
            use convert::v0_1 as c;
            let hooks = instance.baseplate_plugin_hooks();
            let ctx = c::context(env);
            let out = match hook {
                // 0.1.0's validate-config had no context.
                Hook::ValidateConfig { config, .. } => hooks
                    .call_validate_config(&mut *store, &config)?
                    .map(|()| HookOutput::Unit)
                    .map_err(c::plugin_error),
                Hook::Price { stage, cart } => hooks
                    .call_price(&mut *store, &ctx, c::stage(stage), &c::cart(&cart))?
                    .map(|a| HookOutput::Adjustments(a.into_iter().map(c::adjustment).collect()))
                    .map_err(c::plugin_error),
                Hook::ValidateCheckout(cart) => hooks
                    .call_validate_checkout(&mut *store, &ctx, &c::cart(&cart))?
                    .map(|()| HookOutput::Unit)
                    .map_err(c::plugin_error),
                Hook::OrderCreated { order, input } => hooks
                    .call_order_created(&mut *store, &ctx, &c::order(&order), input.as_deref())?
                    .map(|a| {
                        HookOutput::Attributes(a.into_iter().map(|a| (a.key, a.value)).collect())
                    })
                    .map_err(c::plugin_error),
                Hook::Event(event) => hooks
                    .call_handle_event(&mut *store, &ctx, &event_v0_1(&event))?
                    .map(|()| HookOutput::Unit)
                    .map_err(c::plugin_error),
                Hook::Action { actor, name, input } => hooks
                    .call_handle_action(&mut *store, &ctx, &c::actor(&actor), &name, &input)?
                    .map(HookOutput::Json)
                    .map_err(c::plugin_error),
                Hook::Timer { name, payload } => hooks
                    .call_fire_timer(&mut *store, &ctx, &name, &payload)?
                    .map(|()| HookOutput::Unit)
                    .map_err(c::plugin_error),
            };
            Ok(out)
        }
    }
}

fn event_v0_2(e: &Event) -> v0_2::baseplate::plugin::types::Event {
    use convert::v0_2 as c;
    use v0_2::baseplate::plugin::types as w;
    match e {
        Event::OrderPaid(o) => w::Event::OrderPaid(c::order(o)),
        Event::OrderClosed(o) => w::Event::OrderClosed(c::order(o)),
        Event::OrderConfirmed(o) => w::Event::OrderConfirmed(c::order(o)),
        Event::OrderCompleted(o) => w::Event::OrderCompleted(c::order(o)),
        Event::MemberJoined(m) => w::Event::MemberJoined(c::member(m)),
        Event::OrderRefunded(o, r) => w::Event::OrderRefunded(w::OrderRefunded {
            order: c::order(o),
            refund: w::Refund {
                id: r.id.clone(),
                amount: r.amount,
                lines: r
                    .lines
                    .iter()
                    .map(|l| w::LineRefund {
                        line_id: l.line_id.clone(),
                        amount: l.amount,
                    })
                    .collect(),
                reason: r.reason.clone(),
                created_at: r.created_at,
            },
        }),
    }
}

/// 0.1.0's refund has no `created-at`: the adapter drops it.
fn event_v0_1(e: &Event) -> v0_1::baseplate::plugin::types::Event {
    use convert::v0_1 as c;
    use v0_1::baseplate::plugin::types as w;
    match e {
        Event::OrderPaid(o) => w::Event::OrderPaid(c::order(o)),
        Event::OrderClosed(o) => w::Event::OrderClosed(c::order(o)),
        Event::OrderConfirmed(o) => w::Event::OrderConfirmed(c::order(o)),
        Event::OrderCompleted(o) => w::Event::OrderCompleted(c::order(o)),
        Event::MemberJoined(m) => w::Event::MemberJoined(c::member(m)),
        Event::OrderRefunded(o, r) => w::Event::OrderRefunded(w::OrderRefunded {
            order: c::order(o),
            refund: w::Refund {
                id: r.id.clone(),
                amount: r.amount,
                lines: r
                    .lines
                    .iter()
                    .map(|l| w::LineRefund {
                        line_id: l.line_id.clone(),
                        amount: l.amount,
                    })
                    .collect(),
                reason: r.reason.clone(),
            },
        }),
    }
}

fn check_output(out: HookOutput, max: usize) -> Result<HookOutput, CallError> {
    use limits::{MAX_ADJUSTMENTS, MAX_ATTRIBUTE_KEY, MAX_ATTRIBUTE_VALUE, MAX_ATTRIBUTES};
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
        HookOutput::Json(s) if serde_json::from_str::<serde::de::IgnoredAny>(s).is_err() => {
            return bad("the action's output is not JSON".into());
        }
        HookOutput::Adjustments(a) if a.len() > MAX_ADJUSTMENTS => {
            return bad(format!(
                "{} adjustments (at most {MAX_ADJUSTMENTS})",
                a.len()
            ));
        }
        HookOutput::Attributes(a)
            if a.len() > MAX_ATTRIBUTES
                || a.iter()
                    .any(|(k, v)| k.len() > MAX_ATTRIBUTE_KEY || v.len() > MAX_ATTRIBUTE_VALUE) =>
        {
            return bad(format!(
                "attributes: at most {MAX_ATTRIBUTES}, keys ≤ {MAX_ATTRIBUTE_KEY} bytes, values ≤ {MAX_ATTRIBUTE_VALUE} bytes"
            ));
        }
        _ => {}
    }
    Ok(out)
}
