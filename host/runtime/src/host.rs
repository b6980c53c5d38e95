//! The per-call host state and the Baseplate interfaces a plugin imports. Every import is
//! scoped to the shop and plugin of the call, fixed by the host when the call starts —
//! nothing a plugin passes can name another shop.

use crate::bindings::baseplate::plugin::{
    host, ledger, logging, order_control, shop_data, state, timers, types,
};
use crate::convert::{member_to_wit, order_to_wit, party_from_wit, product_to_wit};
use crate::{CallEnv, CallError, DeadlineExceeded, FailureKind, Grants, Instantiating, Limits};
use crate::{Capability, wit};
use baseplate_domain::{LedgerEntry, Money, OrderStatus, PaymentStatus, Posting, PostingId};
use baseplate_store::{StoreError, Tx};
use std::time::{Duration, Instant};
use wasmtime::component::{HasSelf, Linker, ResourceTable};
use wasmtime_wasi::{WasiCtx, WasiCtxView, WasiView};

pub const MAX_KEY_BYTES: usize = 256;
pub const MAX_VALUE_BYTES: usize = 64 << 10;
pub const MAX_SCAN: u32 = 1000;
const MAX_TIMER_NAME: usize = 128;
const MAX_LOG_LINES: usize = 100;
const MAX_LOG_BYTES: usize = 2048;

/// An order action a plugin asked for; checked during the call, applied by the caller in
/// the same transaction once the call succeeds.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum OrderAction {
    Hold { order_id: String },
    Confirm { order_id: String },
    Cancel { order_id: String, reason: String },
}

#[derive(Clone, Debug)]
pub struct LogLine {
    pub level: &'static str,
    pub message: String,
}

pub struct HostState {
    pub(crate) tx: Option<Tx>,
    shop: String,
    plugin: String,
    now: i64,
    rng: u64,
    pub(crate) limits: Caps,
    wasi: WasiCtx,
    table: ResourceTable,
    host_calls: u32,
    max_host_calls: u32,
    started: Instant,
    deadline: Duration,
    actions: Vec<OrderAction>,
    logs: Vec<LogLine>,
    /// A limit a host call found broken, so the resulting trap is reported as that.
    violation: Option<(FailureKind, String)>,
    store_error: Option<StoreError>,
    /// Pricing: reads only; a write is a contract violation.
    read_only: bool,
}

/// Memory and table caps; records a hit so the trap reads as "memory limit".
pub(crate) struct Caps {
    memory: usize,
    table_elements: usize,
    hit: Option<String>,
}

#[derive(Debug)]
struct LimitHit;

impl std::fmt::Display for LimitHit {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("resource limit hit")
    }
}

impl std::error::Error for LimitHit {}

impl wasmtime::ResourceLimiter for Caps {
    fn memory_growing(
        &mut self,
        _current: usize,
        desired: usize,
        _maximum: Option<usize>,
    ) -> wasmtime::Result<bool> {
        if desired > self.memory {
            self.hit = Some(format!(
                "memory would grow to {desired} bytes, over the {}-byte limit",
                self.memory
            ));
            return Err(wasmtime::Error::new(LimitHit));
        }
        Ok(true)
    }

    fn table_growing(
        &mut self,
        _current: usize,
        desired: usize,
        _maximum: Option<usize>,
    ) -> wasmtime::Result<bool> {
        if desired > self.table_elements {
            self.hit = Some(format!(
                "a table would grow to {desired} elements, over the {} limit",
                self.table_elements
            ));
            return Err(wasmtime::Error::new(LimitHit));
        }
        Ok(true)
    }

    fn instances(&self) -> usize {
        50
    }

    fn tables(&self) -> usize {
        10
    }

    fn memories(&self) -> usize {
        4
    }
}

impl WasiView for HostState {
    fn ctx(&mut self) -> WasiCtxView<'_> {
        WasiCtxView {
            ctx: &mut self.wasi,
            table: &mut self.table,
        }
    }
}

/// A trap raised by a host import when the plugin breaks a rule of the contract.
#[derive(Debug)]
struct Violation;

impl std::fmt::Display for Violation {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("the plugin broke a host limit")
    }
}

impl std::error::Error for Violation {}

impl HostState {
    pub(crate) fn new(
        tx: Tx,
        env: &CallEnv,
        limits: &Limits,
        started: Instant,
        read_only: bool,
    ) -> HostState {
        // No preopens, no env, no args, no network: WASI is here only because Rust's std
        // links it; stdout/stderr go nowhere.
        let wasi = WasiCtx::builder().build();
        HostState {
            tx: Some(tx),
            shop: env.shop_id.clone(),
            plugin: env.plugin.clone(),
            now: env.now,
            rng: env.seed ^ 0x9E37_79B9_7F4A_7C15,
            limits: Caps {
                memory: limits.memory_bytes,
                table_elements: limits.table_elements,
                hit: None,
            },
            wasi,
            table: ResourceTable::new(),
            host_calls: 0,
            max_host_calls: limits.max_host_calls,
            started,
            deadline: limits.deadline,
            actions: Vec::new(),
            logs: Vec::new(),
            violation: None,
            store_error: None,
            read_only,
        }
    }

    pub(crate) fn out_of_time(&self) -> bool {
        self.started.elapsed() > self.deadline
    }

    pub(crate) fn into_effects(self) -> (Vec<OrderAction>, Vec<LogLine>) {
        (self.actions, self.logs)
    }

    /// Turns a trap into the failure the merchant reads.
    pub(crate) fn classify(&mut self, e: wasmtime::Error) -> CallError {
        if let Some(se) = self.store_error.take() {
            return CallError::Store(se);
        }
        if e.downcast_ref::<DeadlineExceeded>().is_some() {
            return CallError::Fault {
                kind: FailureKind::Timeout,
                message: format!(
                    "the plugin ran past its {} ms deadline",
                    self.deadline.as_millis()
                ),
            };
        }
        if let Some(msg) = self.limits.hit.take() {
            return CallError::Fault {
                kind: FailureKind::MemoryLimit,
                message: msg,
            };
        }
        if let Some((kind, message)) = self.violation.take() {
            return CallError::Fault { kind, message };
        }
        if e.downcast_ref::<Instantiating>().is_some() {
            return CallError::Fault {
                kind: FailureKind::Instantiate,
                message: format!("{e:#}"),
            };
        }
        let message = match e.downcast_ref::<wasmtime::Trap>() {
            Some(trap) => format!("trap: {trap}"),
            None => format!("{e:#}"),
        };
        CallError::Fault {
            kind: FailureKind::Trap,
            message,
        }
    }

    fn tick(&mut self) -> wasmtime::Result<()> {
        self.host_calls += 1;
        if self.host_calls > self.max_host_calls {
            return self.violate(
                FailureKind::HostCallLimit,
                format!("more than {} host calls in one call", self.max_host_calls),
            );
        }
        if self.out_of_time() {
            return Err(wasmtime::Error::new(DeadlineExceeded));
        }
        Ok(())
    }

    /// Refuses a write during a read-only hook (pricing).
    fn writable(&mut self, what: &str) -> wasmtime::Result<()> {
        if self.read_only {
            return self.violate(
                FailureKind::Trap,
                format!("{what} during price: the pricing hook is read-only"),
            );
        }
        Ok(())
    }

    fn violate<T>(&mut self, kind: FailureKind, message: String) -> wasmtime::Result<T> {
        self.violation = Some((kind, message));
        Err(wasmtime::Error::new(Violation))
    }

    fn bad_input<T>(&mut self, message: String) -> wasmtime::Result<T> {
        self.violate(FailureKind::Trap, message)
    }

    fn db<T>(&mut self, r: Result<T, StoreError>) -> wasmtime::Result<T> {
        r.map_err(|e| {
            let msg = e.to_string();
            self.store_error = Some(e);
            wasmtime::Error::msg(msg)
        })
    }

    fn tx(&mut self) -> &mut Tx {
        self.tx.as_mut().expect("transaction present during a call")
    }

    fn check_key(&mut self, key: &str) -> wasmtime::Result<()> {
        if key.is_empty() || key.len() > MAX_KEY_BYTES {
            return self.bad_input(format!(
                "state key must be 1..={MAX_KEY_BYTES} bytes, got {}",
                key.len()
            ));
        }
        Ok(())
    }

    fn next_random(&mut self) -> u64 {
        // splitmix64: deterministic from the call's seed, so an operation can be replayed.
        self.rng = self.rng.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.rng;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// Reads an order of this shop for an order action, or says why the action can't be.
    async fn order_for_action(
        &mut self,
        order_id: &str,
    ) -> wasmtime::Result<Result<baseplate_store::orders::Order, wit::PluginError>> {
        let shop = self.shop.clone();
        // Locked until the operation ends: no payment can slip in between this check and
        // the action being applied.
        let r = baseplate_store::orders::get(self.tx(), &shop, order_id, true).await;
        Ok(self
            .db(r)?
            .ok_or_else(|| wit::PluginError::NotFound(format!("order {order_id} not found"))))
    }
}

pub(crate) fn add_granted(linker: &mut Linker<HostState>, grants: Grants) -> wasmtime::Result<()> {
    types::add_to_linker::<HostState, HasSelf<HostState>>(linker, |s| s)?;
    if grants.has(Capability::State) {
        state::add_to_linker::<HostState, HasSelf<HostState>>(linker, |s| s)?;
    }
    if grants.has(Capability::Timers) {
        timers::add_to_linker::<HostState, HasSelf<HostState>>(linker, |s| s)?;
    }
    if grants.has(Capability::ShopData) {
        shop_data::add_to_linker::<HostState, HasSelf<HostState>>(linker, |s| s)?;
    }
    if grants.has(Capability::OrderControl) {
        order_control::add_to_linker::<HostState, HasSelf<HostState>>(linker, |s| s)?;
    }
    if grants.has(Capability::Ledger) {
        ledger::add_to_linker::<HostState, HasSelf<HostState>>(linker, |s| s)?;
    }
    if grants.has(Capability::Logging) {
        logging::add_to_linker::<HostState, HasSelf<HostState>>(linker, |s| s)?;
    }
    if grants.has(Capability::Host) {
        host::add_to_linker::<HostState, HasSelf<HostState>>(linker, |s| s)?;
    }
    Ok(())
}

impl types::Host for HostState {}

impl state::Host for HostState {
    async fn get(&mut self, key: String) -> wasmtime::Result<Option<Vec<u8>>> {
        self.tick()?;
        self.check_key(&key)?;
        let (shop, plugin) = (self.shop.clone(), self.plugin.clone());
        let r = baseplate_store::state::get(self.tx(), &shop, &plugin, &key).await;
        self.db(r)
    }

    async fn set(&mut self, key: String, value: Vec<u8>) -> wasmtime::Result<()> {
        self.tick()?;
        self.writable("state.set")?;
        self.check_key(&key)?;
        if value.len() > MAX_VALUE_BYTES {
            return self.bad_input(format!(
                "state value of {} bytes is over the {MAX_VALUE_BYTES}-byte limit",
                value.len()
            ));
        }
        let (shop, plugin) = (self.shop.clone(), self.plugin.clone());
        let r = baseplate_store::state::set(self.tx(), &shop, &plugin, &key, &value).await;
        self.db(r)
    }

    async fn delete(&mut self, key: String) -> wasmtime::Result<bool> {
        self.tick()?;
        self.writable("state.delete")?;
        self.check_key(&key)?;
        let (shop, plugin) = (self.shop.clone(), self.plugin.clone());
        let r = baseplate_store::state::delete(self.tx(), &shop, &plugin, &key).await;
        self.db(r)
    }

    async fn scan(
        &mut self,
        prefix: String,
        start_after: Option<String>,
        limit: u32,
    ) -> wasmtime::Result<Vec<(String, Vec<u8>)>> {
        self.tick()?;
        if prefix.len() > MAX_KEY_BYTES {
            return self.bad_input(format!("scan prefix must be at most {MAX_KEY_BYTES} bytes"));
        }
        let (shop, plugin) = (self.shop.clone(), self.plugin.clone());
        let limit = limit.min(MAX_SCAN) as i64;
        let r = baseplate_store::state::scan(
            self.tx(),
            &shop,
            &plugin,
            &prefix,
            start_after.as_deref(),
            limit,
        )
        .await;
        self.db(r)
    }
}

impl timers::Host for HostState {
    async fn schedule(&mut self, name: String, at: i64, payload: Vec<u8>) -> wasmtime::Result<()> {
        self.tick()?;
        self.writable("timers.schedule")?;
        if name.is_empty() || name.len() > MAX_TIMER_NAME {
            return self.bad_input(format!("timer name must be 1..={MAX_TIMER_NAME} bytes"));
        }
        if payload.len() > MAX_VALUE_BYTES {
            return self.bad_input(format!(
                "timer payload is over the {MAX_VALUE_BYTES}-byte limit"
            ));
        }
        let (shop, plugin) = (self.shop.clone(), self.plugin.clone());
        let r =
            baseplate_store::state::schedule_timer(self.tx(), &shop, &plugin, &name, at, &payload)
                .await;
        self.db(r)
    }

    async fn cancel(&mut self, name: String) -> wasmtime::Result<bool> {
        self.tick()?;
        self.writable("timers.cancel")?;
        let (shop, plugin) = (self.shop.clone(), self.plugin.clone());
        let r = baseplate_store::state::cancel_timer(self.tx(), &shop, &plugin, &name).await;
        self.db(r)
    }
}

impl shop_data::Host for HostState {
    async fn get_order(&mut self, id: String) -> wasmtime::Result<Option<wit::Order>> {
        self.tick()?;
        let shop = self.shop.clone();
        // In a hook that may act on orders, the order read is locked until the operation
        // ends (PostgreSQL), so a decision taken on it ("still unpaid: cancel it") holds:
        // a payment arriving meanwhile waits, then finds the order closed and is refunded.
        let lock = !self.read_only;
        let r = baseplate_store::orders::get(self.tx(), &shop, &id, lock).await;
        Ok(self.db(r)?.as_ref().map(order_to_wit))
    }

    async fn get_member(&mut self, id: String) -> wasmtime::Result<Option<wit::Member>> {
        self.tick()?;
        let shop = self.shop.clone();
        let r = baseplate_store::members::get(self.tx(), &shop, &id).await;
        Ok(self.db(r)?.as_ref().map(member_to_wit))
    }

    async fn get_product(&mut self, id: String) -> wasmtime::Result<Option<wit::Product>> {
        self.tick()?;
        let shop = self.shop.clone();
        let r = baseplate_store::catalog::get_product(self.tx(), &shop, &id).await;
        Ok(self.db(r)?.as_ref().map(product_to_wit))
    }
}

impl order_control::Host for HostState {
    async fn hold_order(
        &mut self,
        order_id: String,
    ) -> wasmtime::Result<Result<(), wit::PluginError>> {
        self.tick()?;
        self.writable("hold-order")?;
        let order = match self.order_for_action(&order_id).await? {
            Ok(o) => o,
            Err(e) => return Ok(Err(e)),
        };
        if !matches!(
            order.status,
            OrderStatus::PendingPayment | OrderStatus::AwaitingConfirmation | OrderStatus::ToShip
        ) || (order.status == OrderStatus::ToShip && order.payment_status != PaymentStatus::Paid)
        {
            return Ok(Err(wit::PluginError::Conflict(format!(
                "order {order_id} is {}, it can't be held",
                order.status.as_str()
            ))));
        }
        self.actions.push(OrderAction::Hold { order_id });
        Ok(Ok(()))
    }

    async fn confirm_order(
        &mut self,
        order_id: String,
    ) -> wasmtime::Result<Result<(), wit::PluginError>> {
        self.tick()?;
        self.writable("confirm-order")?;
        let order = match self.order_for_action(&order_id).await? {
            Ok(o) => o,
            Err(e) => return Ok(Err(e)),
        };
        // Pending orders may be confirmed ahead of payment (they then ship once paid).
        if !matches!(
            order.status,
            OrderStatus::AwaitingConfirmation | OrderStatus::PendingPayment | OrderStatus::ToShip
        ) {
            return Ok(Err(wit::PluginError::Conflict(format!(
                "order {order_id} is {}, it can't be confirmed",
                order.status.as_str()
            ))));
        }
        self.actions.push(OrderAction::Confirm { order_id });
        Ok(Ok(()))
    }

    async fn cancel_order(
        &mut self,
        order_id: String,
        reason: String,
    ) -> wasmtime::Result<Result<(), wit::PluginError>> {
        self.tick()?;
        self.writable("cancel-order")?;
        if reason.is_empty() || reason.len() > 200 {
            return Ok(Err(wit::PluginError::Invalid(
                "cancel reason must be 1..=200 bytes".into(),
            )));
        }
        let order = match self.order_for_action(&order_id).await? {
            Ok(o) => o,
            Err(e) => return Ok(Err(e)),
        };
        if matches!(order.status, OrderStatus::Closed | OrderStatus::Completed) {
            return Ok(Err(wit::PluginError::Conflict(format!(
                "order {order_id} is {}, it can't be cancelled",
                order.status.as_str()
            ))));
        }
        self.actions.push(OrderAction::Cancel { order_id, reason });
        Ok(Ok(()))
    }
}

impl ledger::Host for HostState {
    async fn post(
        &mut self,
        memo: String,
        entries: Vec<wit::LedgerEntry>,
    ) -> wasmtime::Result<Result<String, wit::PluginError>> {
        self.tick()?;
        self.writable("ledger.post")?;
        let entries: Vec<LedgerEntry> = entries
            .into_iter()
            .map(|e| LedgerEntry {
                party: party_from_wit(e.party),
                account: e.account,
                amount: Money(e.amount),
                available_at: e.available_at,
            })
            .collect();
        let posting = match Posting::new(memo, entries) {
            Ok(p) => p,
            Err(e) => return Ok(Err(wit::PluginError::Invalid(e.to_string()))),
        };
        let mut random = [0u8; 10];
        random[..8].copy_from_slice(&self.next_random().to_le_bytes());
        let id = PostingId::generate(self.now, random).0;
        let (shop, source, now) = (
            self.shop.clone(),
            format!("plugin:{}", self.plugin),
            self.now,
        );
        let r = baseplate_store::ledger::post(self.tx(), &shop, &id, &source, None, &posting, now)
            .await;
        self.db(r)?;
        Ok(Ok(id))
    }

    async fn get_balance(
        &mut self,
        party: wit::Party,
        account: String,
    ) -> wasmtime::Result<wit::Balance> {
        self.tick()?;
        let (shop, now) = (self.shop.clone(), self.now);
        let party = party_from_wit(party);
        let r = baseplate_store::ledger::balance(self.tx(), &shop, &party, &account, now).await;
        let (total, available) = self.db(r)?;
        Ok(wit::Balance { total, available })
    }
}

impl logging::Host for HostState {
    async fn log(&mut self, level: logging::Level, message: String) -> wasmtime::Result<()> {
        self.tick()?;
        let level = match level {
            logging::Level::Debug => "debug",
            logging::Level::Info => "info",
            logging::Level::Warn => "warn",
            logging::Level::Error => "error",
        };
        let mut message = message;
        if message.len() > MAX_LOG_BYTES {
            let mut cut = MAX_LOG_BYTES;
            while !message.is_char_boundary(cut) {
                cut -= 1;
            }
            message.truncate(cut);
        }
        tracing::info!(target: "baseplate::plugin", shop = %self.shop, plugin = %self.plugin, level, "{message}");
        if self.logs.len() < MAX_LOG_LINES {
            self.logs.push(LogLine { level, message });
        }
        Ok(())
    }
}

impl host::Host for HostState {
    async fn now(&mut self) -> wasmtime::Result<i64> {
        self.tick()?;
        Ok(self.now)
    }

    async fn random(&mut self) -> wasmtime::Result<u64> {
        self.tick()?;
        Ok(self.next_random())
    }
}
