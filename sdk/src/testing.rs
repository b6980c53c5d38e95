//! Native testing without a server. On non-wasm targets every helper module ([`state`],
//! [`timers`], [`shop`], [`orders`], [`ledger`], [`points`], [`log`], [`host`]) talks to a
//! thread-local [`MockHost`] instead of the real host, so a plugin's hooks are plain
//! functions a `#[test]` calls. Each test runs on its own thread and so gets its own host.
//!
//! Start a test with [`MockHost::from_manifest`]`(include_str!("../plugin.toml"))`: the
//! mock then behaves like the host does for *this* plugin —
//!
//! - it **refuses imports** of capabilities the manifest does not declare (the host never
//!   links them: the component would not even instantiate) — the mock panics;
//! - its hook runners ([`MockHost::price`], [`MockHost::action`], [`MockHost::handle_event`],
//!   …) **refuse hooks, price stages, events and actions the manifest does not declare,
//!   and actors an action does not allow** (the host never makes such a call) — the mock
//!   panics; they run the hook all-or-nothing, as the host does, and check its output;
//! - it enforces the host's [`limits`](crate::limits): key, value, batch, scan, timer-name
//!   and log sizes, the state and timer quotas (a call past them ends `refused` with none of
//!   its writes kept), and **pricing is read-only** (a write during `price` panics, as the
//!   host traps).
//!
//! [`MockHost::install`] gives a host without a manifest, where everything is allowed: for
//! quick experiments and the SDK's own examples.
//!
//! Fixtures build carts, orders in every state the contract defines (pending, paid,
//! partially or fully refunded, cancelled — each with the statuses the host gives it), the
//! events built from them, and [`PricedCart`], a cart priced the way the host prices it.
//!
//! ```
//! use baseplate_sdk::{state, testing::{self, MockHost}};
//!
//! let host = MockHost::install();
//! host.set_now(1_000);
//! host.add_member(testing::member("m_1"));
//! state::set("greeting", b"hi");
//! assert_eq!(host.state_snapshot()["greeting"], b"hi");
//! let ctx = host.context("{}"); // a CallContext at the mock's clock, for calling hooks
//! assert_eq!(ctx.now, 1_000);
//! ```
//!
//! [`state`]: crate::state
//! [`timers`]: crate::timers
//! [`shop`]: crate::shop
//! [`orders`]: crate::orders
//! [`ledger`]: crate::ledger
//! [`points`]: crate::points
//! [`log`]: crate::log
//! [`host`]: crate::host

use crate::limits::{
    DEFAULT_MAX_PENDING_TIMERS, DEFAULT_MAX_STATE_BYTES, DEFAULT_MAX_STATE_KEYS, MAX_ACCOUNT_BYTES,
    MAX_ADJUSTMENTS, MAX_ATTRIBUTE_KEY_BYTES, MAX_ATTRIBUTE_VALUE_BYTES, MAX_ATTRIBUTES,
    MAX_ENTRY_AMOUNT, MAX_LABEL_CHARS, MAX_MEMO_CHARS, MAX_POSTING_ENTRIES,
};
use crate::log::Level;
use crate::{
    Actor, Adjustment, Attribute, CallContext, Cart, CartLine, ConfigContext, Event, LedgerEntry,
    LineAdjustment, LineRefund, Member, Money, Order, OrderLine, OrderRefunded, OrderStatus,
    PaymentStatus, Plugin, PluginError, PriceStage, Product, Refund, RefundState, Result, Sku,
    Timestamp, apportion,
};
use serde::Deserialize;
use std::cell::RefCell;
use std::collections::{BTreeMap, BTreeSet};
use std::marker::PhantomData;

/// The clock a fresh mock host starts at (2023-11-14T22:13:20Z).
///
/// ```
/// let host = baseplate_sdk::testing::MockHost::install();
/// assert_eq!(host.now(), baseplate_sdk::testing::DEFAULT_NOW);
/// ```
pub const DEFAULT_NOW: Timestamp = 1_700_000_000_000;

/// The random seed a fresh mock host starts with.
///
/// ```
/// use baseplate_sdk::testing::{DEFAULT_SEED, MockHost};
/// let host = MockHost::install();
/// let a = baseplate_sdk::host::random();
/// host.set_seed(DEFAULT_SEED);
/// assert_eq!(baseplate_sdk::host::random(), a);
/// ```
pub const DEFAULT_SEED: u64 = 0x5eed;

/// The shop every mock call is scoped to.
///
/// ```
/// let host = baseplate_sdk::testing::MockHost::install();
/// assert_eq!(host.context("{}").shop_id, baseplate_sdk::testing::SHOP_ID);
/// ```
pub const SHOP_ID: &str = "shop_test";

/// The contract version this SDK builds components for; a manifest must target it.
///
/// ```
/// assert_eq!(baseplate_sdk::testing::WIT_VERSION, "0.2.0");
/// ```
pub const WIT_VERSION: &str = "0.2.0";

thread_local! {
    static HOST: RefCell<Inner> = RefCell::new(Inner::default());
}

fn with<R>(f: impl FnOnce(&mut Inner) -> R) -> R {
    HOST.with(|h| f(&mut h.borrow_mut()))
}

/// A handle to this thread's in-memory host. It is a token, not the host itself: copies
/// all see the same host, and it cannot leave the thread.
///
/// ```
/// use baseplate_sdk::testing::MockHost;
/// let host = MockHost::install();
/// let same = MockHost::current();
/// host.set_now(5);
/// assert_eq!(same.now(), 5);
/// ```
#[derive(Clone, Copy, Debug)]
pub struct MockHost {
    _this_thread: PhantomData<*const ()>,
}

/// A timer the plugin scheduled and the mock has not fired.
///
/// ```
/// use baseplate_sdk::{timers, testing::MockHost};
/// let host = MockHost::install();
/// timers::schedule("t", 10, b"p");
/// let t = &host.timers()[0];
/// assert_eq!((t.name.as_str(), t.at, t.payload.as_slice()), ("t", 10, &b"p"[..]));
/// ```
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ScheduledTimer {
    /// The name passed to [`timers::schedule`](crate::timers::schedule).
    pub name: String,
    /// When it is due.
    pub at: Timestamp,
    /// The payload `fire_timer` will receive.
    pub payload: Vec<u8>,
}

/// A log line the plugin wrote.
///
/// ```
/// use baseplate_sdk::{log, testing::{LogRecord, MockHost}};
/// let host = MockHost::install();
/// log::warn("careful");
/// assert_eq!(host.logs(), [LogRecord { level: log::Level::Warn, message: "careful".into() }]);
/// ```
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LogRecord {
    /// Its level.
    pub level: Level,
    /// Its message (cut to [`MAX_LOG_LINE_BYTES`](crate::limits::MAX_LOG_LINE_BYTES)).
    pub message: String,
}

/// An order action the plugin took successfully.
///
/// ```
/// use baseplate_sdk::{orders, testing::{self, MockHost, OrderAction}};
/// let host = MockHost::install();
/// host.add_order(testing::order("o_1", None, &[]));
/// orders::cancel("o_1", "expired")?;
/// assert_eq!(host.order_actions(), [OrderAction::Cancel { order_id: "o_1".into(), reason: "expired".into() }]);
/// # Ok::<(), baseplate_sdk::PluginError>(())
/// ```
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum OrderAction {
    /// [`orders::hold`](crate::orders::hold).
    Hold {
        /// The order held.
        order_id: String,
    },
    /// [`orders::confirm`](crate::orders::confirm).
    Confirm {
        /// The order confirmed.
        order_id: String,
    },
    /// [`orders::cancel`](crate::orders::cancel).
    Cancel {
        /// The order cancelled.
        order_id: String,
        /// The reason given.
        reason: String,
    },
}

/// A ledger posting the plugin booked.
///
/// ```
/// use baseplate_sdk::{ledger, LedgerEntry, Party, testing::MockHost};
/// let host = MockHost::install();
/// let e = |party, amount| LedgerEntry { party, account: "reward".into(), amount, available_at: None };
/// ledger::post("m", &[e(Party::Shop, -1), e(Party::Platform, 1)], None)?;
/// let p = &host.ledger_postings()[0];
/// assert_eq!((p.id.as_str(), p.memo.as_str(), p.order_id.clone()), ("pst_1", "m", None));
/// # Ok::<(), baseplate_sdk::PluginError>(())
/// ```
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Posting {
    /// The id [`ledger::post`](crate::ledger::post) returned.
    pub id: String,
    /// Its memo.
    pub memo: String,
    /// Its entries (they sum to zero).
    pub entries: Vec<LedgerEntry>,
    /// The order it is booked against: the one the plugin named, or, while handling an
    /// order's event, that order.
    pub order_id: Option<String>,
    /// The mock clock when it was booked.
    pub at: Timestamp,
}

/// One entry of the mock's points ledger.
///
/// ```
/// use baseplate_sdk::{points, testing::{self, MockHost}};
/// let host = MockHost::install();
/// host.add_member(testing::member("m_1"));
/// points::adjust("m_1", 10, "welcome", Some("campaign_1"))?;
/// let e = &host.points_entries()[0];
/// assert_eq!((e.delta, e.balance, e.reference.as_deref()), (10, 10, Some("campaign_1")));
/// # Ok::<(), baseplate_sdk::PluginError>(())
/// ```
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PointsEntry {
    /// The id [`points::adjust`](crate::points::adjust) returned.
    pub id: String,
    /// Whose points.
    pub member_id: String,
    /// The change (negative spends).
    pub delta: i64,
    /// The member's balance after it.
    pub balance: i64,
    /// The reason given.
    pub reason: String,
    /// The plugin's reference.
    pub reference: Option<String>,
    /// The mock clock when it was booked.
    pub at: Timestamp,
}

/// A cart priced the way the host prices it (see [`MockHost::price_cart`] and
/// [`PricedCart::apply`]): each stage's adjustments checked, clamped so a line never goes
/// below zero, and recorded on the line.
///
/// ```
/// use baseplate_sdk::{Adjustment, PriceStage, testing::{self, PricedCart}};
/// let _host = testing::MockHost::install();
/// let cart = testing::cart(Some("m_1"), vec![testing::cart_line(0, "tea", 1, 1000)], None);
/// let mut priced = PricedCart::new(cart);
/// let cut = |amount| vec![Adjustment { line: 0, amount, label: "cut".into(), reference: None }];
/// priced.apply("a", PriceStage::Item, cut(300))?;
/// priced.apply("b", PriceStage::Coupon, cut(900))?; // clamped to the 700 left
/// assert_eq!(priced.cart.lines[0].amount, 0);
/// assert_eq!(priced.adjustments[0].iter().map(|a| a.amount).collect::<Vec<_>>(), [300, 700]);
/// let order = priced.order("o_1");
/// assert_eq!((order.payable_amount, order.lines[0].discount), (0, 1000));
/// # Ok::<(), baseplate_sdk::PluginError>(())
/// ```
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PricedCart {
    /// The cart, each line's `amount` what is left after the adjustments so far.
    pub cart: Cart,
    /// Per line (by position), the adjustments applied so far, in order.
    pub adjustments: Vec<Vec<LineAdjustment>>,
}

impl PricedCart {
    /// A cart before any stage.
    ///
    /// ```
    /// use baseplate_sdk::testing::{self, PricedCart};
    /// let priced = PricedCart::new(testing::cart(None, vec![testing::cart_line(0, "tea", 2, 50)], None));
    /// assert_eq!(priced.total(), 100);
    /// ```
    pub fn new(cart: Cart) -> PricedCart {
        let adjustments = vec![Vec::new(); cart.lines.len()];
        PricedCart { cart, adjustments }
    }

    /// What is left to pay: the sum of the lines' amounts.
    ///
    /// ```
    /// use baseplate_sdk::testing::{self, PricedCart};
    /// assert_eq!(PricedCart::new(testing::cart(None, vec![], None)).total(), 0);
    /// ```
    pub fn total(&self) -> Money {
        self.cart.lines.iter().map(|l| l.amount).sum()
    }

    /// Applies one plugin's adjustments at one stage as the host does: the whole set is
    /// checked first (at most [`MAX_ADJUSTMENTS`], each naming a line of the cart, with an
    /// amount > 0 and a label of 1..=[`MAX_LABEL_CHARS`] characters) so bad output changes
    /// nothing; then each is clamped to what is left of its line (a line never goes below
    /// zero) and recorded, and a proposal clamped to nothing is dropped.
    ///
    /// # Errors
    /// [`PluginError::Internal`] describing the bad output (the host records it as the
    /// plugin's failure).
    ///
    /// ```
    /// use baseplate_sdk::{Adjustment, PriceStage, testing::{self, PricedCart}};
    /// let mut priced = PricedCart::new(testing::cart(None, vec![testing::cart_line(0, "tea", 1, 100)], None));
    /// let bad = vec![Adjustment { line: 7, amount: 1, label: "x".into(), reference: None }];
    /// assert!(priced.apply("p", PriceStage::Item, bad).is_err());
    /// ```
    pub fn apply(
        &mut self,
        plugin: &str,
        stage: PriceStage,
        adjustments: Vec<Adjustment>,
    ) -> Result<()> {
        check_adjustments(&self.cart, &adjustments)
            .map_err(|m| PluginError::internal(format!("bad pricing output: {m}")))?;
        for a in adjustments {
            let pos = self
                .cart
                .lines
                .iter()
                .position(|l| l.index == a.line)
                .expect("checked above");
            let line = &mut self.cart.lines[pos];
            let amount = a.amount.min(line.amount);
            if amount == 0 {
                continue;
            }
            line.amount -= amount;
            self.adjustments[pos].push(LineAdjustment {
                plugin: plugin.into(),
                stage,
                amount,
                label: a.label,
                reference: a.reference,
            });
        }
        Ok(())
    }

    /// The order the host creates from this cart at the mock clock: pending payment, each
    /// line carrying its adjustments, discount and final amount. Line ids are
    /// `<order id>-<line index>`.
    ///
    /// ```
    /// use baseplate_sdk::{OrderStatus, testing::{self, PricedCart}};
    /// let _host = testing::MockHost::install();
    /// let o = PricedCart::new(testing::cart(Some("m_1"), vec![testing::cart_line(0, "tea", 1, 100)], None)).order("o_1");
    /// assert_eq!((o.status, o.lines[0].id.as_str()), (OrderStatus::PendingPayment, "o_1-0"));
    /// ```
    pub fn order(&self, id: &str) -> Order {
        let mut order = order(id, self.cart.member_id.as_deref(), &self.cart.lines);
        for (line, adjustments) in order.lines.iter_mut().zip(&self.adjustments) {
            line.adjustments = adjustments.clone();
        }
        order
    }
}

fn check_adjustments(cart: &Cart, adjustments: &[Adjustment]) -> core::result::Result<(), String> {
    if adjustments.len() > MAX_ADJUSTMENTS {
        return Err(format!(
            "{} adjustments; at most {MAX_ADJUSTMENTS}",
            adjustments.len()
        ));
    }
    for a in adjustments {
        if !cart.lines.iter().any(|l| l.index == a.line) {
            return Err(format!(
                "adjustment names line {}, which is not in the cart",
                a.line
            ));
        }
        if a.amount <= 0 {
            return Err(format!(
                "adjustment amount must be positive, got {}",
                a.amount
            ));
        }
        if a.label.is_empty() || a.label.chars().count() > MAX_LABEL_CHARS {
            return Err(format!(
                "adjustment label must be 1..={MAX_LABEL_CHARS} characters"
            ));
        }
    }
    Ok(())
}

/// The parts of `plugin.toml` the mock enforces. Spellings are checked like the
/// marketplace checks them, so a typo fails the plugin's own tests.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
struct Manifest {
    name: String,
    version: String,
    wit: String,
    #[allow(dead_code)]
    title: String,
    #[allow(dead_code)]
    description: String,
    category: String,
    capabilities: Vec<String>,
    #[serde(default)]
    hooks: Hooks,
    #[serde(default)]
    actions: Vec<ActionDecl>,
    #[serde(default)]
    config: ConfigDecl,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default, deny_unknown_fields)]
struct Hooks {
    validate_config: bool,
    price: Vec<String>,
    validate_checkout: bool,
    order_created: bool,
    events: Vec<String>,
    timers: bool,
    fail_open: Vec<String>,
    needs_input: Vec<String>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
struct ActionDecl {
    name: String,
    actors: Vec<String>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(default, deny_unknown_fields)]
struct ConfigDecl {
    default: String,
}

impl Default for ConfigDecl {
    fn default() -> Self {
        ConfigDecl {
            default: "{}".into(),
        }
    }
}

const CAPABILITIES: &[&str] = &[
    "state",
    "timers",
    "shop-data",
    "order-control",
    "ledger",
    "points",
    "logging",
    "host",
];
const CATEGORIES: &[&str] = &["marketing", "loyalty", "sales-channel", "tools"];
const STAGES: &[&str] = &["item", "order", "coupon"];
const EVENTS: &[&str] = &[
    "order-paid",
    "order-closed",
    "order-refunded",
    "order-confirmed",
    "order-completed",
    "member-joined",
];
const ACTORS: &[&str] = &["member", "staff", "system"];
const FAIL_OPEN: &[&str] = &["price", "validate_checkout"];
const NEEDS_INPUT: &[&str] = &["price", "validate_checkout", "order_created"];

impl Manifest {
    fn parse(text: &str) -> Manifest {
        let m: Manifest = toml::from_str(text)
            .unwrap_or_else(|e| panic!("MockHost: plugin.toml does not parse: {e}"));
        let one_of = |field: &str, value: &str, allowed: &[&str]| {
            assert!(
                allowed.contains(&value),
                "MockHost: plugin.toml `{field}` has `{value}`; allowed: {}",
                allowed.join(", ")
            );
        };
        assert!(
            m.wit == WIT_VERSION,
            "MockHost: plugin.toml says wit = \"{}\", but baseplate-sdk {} builds \
             baseplate:plugin@{WIT_VERSION} components: set wit = \"{WIT_VERSION}\"",
            m.wit,
            env!("CARGO_PKG_VERSION")
        );
        one_of("category", &m.category, CATEGORIES);
        m.capabilities
            .iter()
            .for_each(|c| one_of("capabilities", c, CAPABILITIES));
        m.hooks
            .price
            .iter()
            .for_each(|s| one_of("hooks.price", s, STAGES));
        m.hooks
            .events
            .iter()
            .for_each(|e| one_of("hooks.events", e, EVENTS));
        m.hooks
            .fail_open
            .iter()
            .for_each(|h| one_of("hooks.fail_open", h, FAIL_OPEN));
        m.hooks
            .needs_input
            .iter()
            .for_each(|h| one_of("hooks.needs_input", h, NEEDS_INPUT));
        for a in &m.actions {
            assert!(
                !a.actors.is_empty(),
                "MockHost: action `{}` lists no actors",
                a.name
            );
            a.actors
                .iter()
                .for_each(|x| one_of(&format!("actions `{}` actors", a.name), x, ACTORS));
        }
        if m.hooks.timers {
            assert!(
                m.capabilities.iter().any(|c| c == "timers"),
                "MockHost: plugin.toml sets hooks.timers but not the `timers` capability"
            );
        }
        if let Err(e) = serde_json::from_str::<serde_json::Value>(&m.config.default) {
            panic!("MockHost: plugin.toml `config.default` is not JSON: {e}");
        }
        m
    }
}

/// The hook a runner is running, for the rules that depend on it.
#[derive(Clone, Debug)]
struct Call {
    hook: &'static str,
    /// Pricing: any write is a violation.
    read_only: bool,
    /// While handling an order's event, postings without an order are booked against it.
    event_order: Option<String>,
    /// A quota the call went past: it ends `refused`.
    over_quota: Option<String>,
    logs: usize,
}

#[derive(Clone, Default)]
struct Effects {
    state: BTreeMap<String, Vec<u8>>,
    state_bytes: usize,
    timers: BTreeMap<String, ScheduledTimer>,
    orders: BTreeMap<String, Order>,
    /// Unpaid orders a plugin held: they wait for confirmation once paid.
    held: BTreeSet<String>,
    order_actions: Vec<OrderAction>,
    postings: Vec<Posting>,
    points: BTreeMap<String, i64>,
    points_entries: Vec<PointsEntry>,
}

struct Inner {
    manifest: Option<Manifest>,
    config: String,
    currency: String,
    effects: Effects,
    members: BTreeMap<String, Member>,
    products: BTreeMap<String, Product>,
    logs: Vec<LogRecord>,
    now: Timestamp,
    rng: u64,
    max_state_keys: usize,
    max_state_bytes: usize,
    max_timers: usize,
    call: Option<Call>,
}

impl Default for Inner {
    fn default() -> Self {
        Inner {
            manifest: None,
            config: "{}".into(),
            currency: "CNY".into(),
            effects: Effects::default(),
            members: BTreeMap::new(),
            products: BTreeMap::new(),
            logs: Vec::new(),
            now: DEFAULT_NOW,
            rng: DEFAULT_SEED,
            max_state_keys: DEFAULT_MAX_STATE_KEYS,
            max_state_bytes: DEFAULT_MAX_STATE_BYTES,
            max_timers: DEFAULT_MAX_PENDING_TIMERS,
            call: None,
        }
    }
}

impl Inner {
    /// splitmix64, as the host's per-call generator: tiny, seedable, replayable.
    fn next_random(&mut self) -> u64 {
        self.rng = self.rng.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.rng;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    fn plugin(&self) -> &str {
        self.manifest.as_ref().map_or("plugin", |m| &m.name)
    }

    /// Panics unless the manifest declares `capability` (the host would not link it).
    fn capability(&self, capability: &str, import: &str) {
        if let Some(m) = &self.manifest {
            assert!(
                m.capabilities.iter().any(|c| c == capability),
                "plugin `{}` called {import}, but its plugin.toml does not declare the \
                 `{capability}` capability: the host never links an undeclared import (the \
                 component would not instantiate); add \"{capability}\" to `capabilities`",
                m.name
            );
        }
    }

    /// Panics during `price`, which the host runs read-only.
    fn writable(&self, what: &str) {
        if let Some(call) = &self.call {
            assert!(
                !call.read_only,
                "{what} during {}: the pricing hook is read-only (the host traps)",
                call.hook
            );
        }
    }

    /// A quota was passed: inside a hook runner the call ends `refused`; outside one (a
    /// test writing directly) there is no call to end, so it panics.
    fn over_quota(&mut self, message: String) {
        match &mut self.call {
            Some(call) => {
                call.over_quota.get_or_insert(message);
            }
            None => panic!("{message}"),
        }
    }
}

impl MockHost {
    /// Replaces this thread's host with a fresh one without a manifest — every capability,
    /// hook and actor allowed, plugin named `plugin` — and returns a handle to it. Prefer
    /// [`MockHost::from_manifest`] in a plugin's tests.
    ///
    /// ```
    /// let host = baseplate_sdk::testing::MockHost::install();
    /// assert_eq!(host.context("{}").plugin, "plugin");
    /// ```
    pub fn install() -> MockHost {
        let host = MockHost::current();
        host.reset();
        host
    }

    /// Replaces this thread's host with a fresh one that enforces `manifest_toml`, the
    /// plugin's `plugin.toml` (pass `include_str!("../plugin.toml")`): contexts carry its
    /// name and version, the configuration starts as its `[config].default`, imports of
    /// undeclared capabilities panic, and the hook runners refuse what it does not
    /// declare.
    ///
    /// # Panics
    /// If the manifest does not parse, uses a spelling the marketplace refuses, or targets
    /// another contract version than [`WIT_VERSION`].
    ///
    /// ```
    /// use baseplate_sdk::testing::MockHost;
    /// let host = MockHost::from_manifest(r#"
    ///     name = "hello"
    ///     version = "1.0.0"
    ///     wit = "0.2.0"
    ///     title = "Hello"
    ///     description = "Says hello."
    ///     category = "tools"
    ///     capabilities = ["logging"]
    ///     [config]
    ///     default = '{"greeting": "hi"}'
    /// "#);
    /// let ctx = host.context_now();
    /// assert_eq!((ctx.plugin.as_str(), ctx.config.as_str()), ("hello", r#"{"greeting": "hi"}"#));
    /// baseplate_sdk::log::info("allowed: logging is declared");
    /// ```
    ///
    /// ```should_panic
    /// use baseplate_sdk::testing::MockHost;
    /// let _host = MockHost::from_manifest(r#"
    ///     name = "hello"
    ///     version = "1.0.0"
    ///     wit = "0.2.0"
    ///     title = "Hello"
    ///     description = "Says hello."
    ///     category = "tools"
    ///     capabilities = []
    /// "#);
    /// baseplate_sdk::state::set("k", b"v"); // panics: `state` is not declared
    /// ```
    pub fn from_manifest(manifest_toml: &str) -> MockHost {
        let manifest = Manifest::parse(manifest_toml);
        let host = MockHost::install();
        with(|h| {
            h.config = manifest.config.default.clone();
            h.manifest = Some(manifest);
        });
        host
    }

    /// A handle to this thread's host as it is (helpers called before any `install` use a
    /// fresh default host).
    ///
    /// ```
    /// use baseplate_sdk::testing::MockHost;
    /// MockHost::install().set_now(9);
    /// assert_eq!(MockHost::current().now(), 9);
    /// ```
    pub fn current() -> MockHost {
        MockHost {
            _this_thread: PhantomData,
        }
    }

    /// Forgets everything: state, timers, fixtures, logs, actions, postings, points,
    /// clock, seed, configuration and the manifest.
    ///
    /// ```
    /// use baseplate_sdk::{state, testing::MockHost};
    /// let host = MockHost::install();
    /// state::set("k", b"v");
    /// host.reset();
    /// assert!(state::get("k").is_none());
    /// ```
    pub fn reset(&self) {
        with(|h| *h = Inner::default());
    }

    /// The plugin's name: the manifest's, or `plugin` without one.
    ///
    /// ```
    /// assert_eq!(baseplate_sdk::testing::MockHost::install().plugin_name(), "plugin");
    /// ```
    pub fn plugin_name(&self) -> String {
        with(|h| h.plugin().to_string())
    }

    /// A [`CallContext`] for calling hooks directly: shop [`SHOP_ID`], the plugin's name
    /// and version, the shop's currency (`CNY` unless [`MockHost::set_currency`]), the
    /// given `config` JSON and the mock's clock.
    ///
    /// ```
    /// let host = baseplate_sdk::testing::MockHost::install();
    /// assert_eq!(host.context(r#"{"a":1}"#).config, r#"{"a":1}"#);
    /// ```
    pub fn context(&self, config: &str) -> CallContext {
        with(|h| CallContext {
            shop_id: SHOP_ID.into(),
            plugin: h.plugin().into(),
            version: h
                .manifest
                .as_ref()
                .map_or_else(|| "0.1.0".into(), |m| m.version.clone()),
            config: config.into(),
            now: h.now,
            currency: h.currency.clone(),
        })
    }

    /// [`MockHost::context`] with the configuration in force ([`MockHost::config`]): the
    /// context the hook runners pass.
    ///
    /// ```
    /// let host = baseplate_sdk::testing::MockHost::install();
    /// host.set_config(r#"{"b":2}"#);
    /// assert_eq!(host.context_now().config, r#"{"b":2}"#);
    /// ```
    pub fn context_now(&self) -> CallContext {
        self.context(&self.config())
    }

    /// A [`ConfigContext`] for calling [`Plugin::validate_config`] directly, with
    /// `previous` as the configuration in force before.
    ///
    /// ```
    /// let host = baseplate_sdk::testing::MockHost::install();
    /// assert_eq!(host.config_context(None).previous, None);
    /// ```
    pub fn config_context(&self, previous: Option<&str>) -> ConfigContext {
        let ctx = self.context("");
        ConfigContext {
            shop_id: ctx.shop_id,
            plugin: ctx.plugin,
            version: ctx.version,
            currency: ctx.currency,
            now: ctx.now,
            previous: previous.map(Into::into),
        }
    }

    /// The merchant's configuration the hook runners pass: the manifest's default until
    /// [`MockHost::set_config`] or [`MockHost::configure`].
    ///
    /// ```
    /// assert_eq!(baseplate_sdk::testing::MockHost::install().config(), "{}");
    /// ```
    pub fn config(&self) -> String {
        with(|h| h.config.clone())
    }

    /// Sets the configuration the hook runners pass, without validating it; returns the
    /// host, so a call reads `host.set_config(cfg).act::<P>(…)`.
    ///
    /// ```
    /// let host = baseplate_sdk::testing::MockHost::install();
    /// host.set_config(r#"{"x": 1}"#);
    /// assert_eq!(host.config(), r#"{"x": 1}"#);
    /// ```
    pub fn set_config(&self, config: &str) -> MockHost {
        with(|h| h.config = config.into());
        *self
    }

    /// Sets the shop's currency the contexts carry.
    ///
    /// ```
    /// let host = baseplate_sdk::testing::MockHost::install();
    /// host.set_currency("USD");
    /// assert_eq!(host.context("{}").currency, "USD");
    /// ```
    pub fn set_currency(&self, currency: &str) {
        with(|h| h.currency = currency.into());
    }

    /// Sets the per-plugin quotas of this shop (the host's defaults are in
    /// [`limits`](crate::limits)), so a test can reach them without writing 100,000 keys.
    ///
    /// ```
    /// use baseplate_sdk::{state, testing::MockHost, Plugin};
    /// let host = MockHost::install();
    /// host.set_quotas(1, 1 << 20, 10);
    /// struct Two;
    /// impl Plugin for Two {
    ///     fn fire_timer(_: &baseplate_sdk::CallContext, _: &str, _: &[u8]) -> baseplate_sdk::Result<()> {
    ///         state::set("a", b""); state::set("b", b""); Ok(())
    ///     }
    /// }
    /// assert_eq!(host.fire_timer::<Two>("t", b"").unwrap_err().kind(), "refused");
    /// assert!(host.state_snapshot().is_empty(), "none of its writes are kept");
    /// ```
    pub fn set_quotas(&self, state_keys: usize, state_bytes: usize, pending_timers: usize) {
        with(|h| {
            h.max_state_keys = state_keys;
            h.max_state_bytes = state_bytes;
            h.max_timers = pending_timers;
        });
    }

    /// Runs `hook` like the host runs a hook: if it returns an error, every effect it had
    /// (state, timers, order changes and actions, postings, points) is rolled back. Logs
    /// stay. The hook runners ([`MockHost::action`], …) do this for you.
    ///
    /// ```
    /// use baseplate_sdk::{state, PluginError, testing::MockHost};
    /// let host = MockHost::install();
    /// let r: Result<(), _> = host.atomic(|| {
    ///     state::set("half-done", b"1");
    ///     Err(PluginError::refused("sold out"))
    /// });
    /// assert!(r.is_err() && state::get("half-done").is_none());
    /// ```
    pub fn atomic<T>(&self, hook: impl FnOnce() -> Result<T>) -> Result<T> {
        let before = with(|h| h.effects.clone());
        let result = hook();
        if result.is_err() {
            with(|h| h.effects = before);
        }
        result
    }

    /// Runs one hook the way the host does: checked against the manifest by the caller,
    /// all-or-nothing, ending `refused` past a quota, read-only for pricing.
    fn run<T>(
        &self,
        hook: &'static str,
        event_order: Option<String>,
        body: impl FnOnce() -> Result<T>,
    ) -> Result<T> {
        let call = Call {
            hook,
            read_only: hook == "price",
            event_order,
            over_quota: None,
            logs: 0,
        };
        let outer = with(|h| h.call.replace(call));
        let result = self.atomic(|| {
            let r = body();
            match with(|h| h.call.as_ref().and_then(|c| c.over_quota.clone())) {
                Some(quota) if r.is_ok() => Err(PluginError::refused(quota)),
                _ => r,
            }
        });
        with(|h| h.call = outer);
        result
    }

    #[track_caller]
    fn require(&self, what: impl FnOnce(&Manifest) -> core::result::Result<(), String>) {
        let refused = with(|h| {
            let m = h.manifest.as_ref()?;
            what(m).err().map(|why| (why, m.name.clone()))
        });
        if let Some((why, plugin)) = refused {
            panic!(
                "MockHost: {why} in plugin `{plugin}`'s plugin.toml, so the host never makes this call"
            );
        }
    }

    /// Runs [`Plugin::validate_config`] as the host does before saving `config` (the
    /// manifest must set `hooks.validate_config`).
    ///
    /// ```
    /// use baseplate_sdk::{Plugin, testing::MockHost};
    /// struct AnyJson;
    /// impl Plugin for AnyJson {}
    /// let host = MockHost::install();
    /// assert!(host.validate_config::<AnyJson>("{").is_err());
    /// ```
    #[track_caller]
    pub fn validate_config<P: Plugin>(&self, config: &str) -> Result<()> {
        self.require(|m| {
            m.hooks
                .validate_config
                .then_some(())
                .ok_or_else(|| "hooks.validate_config is not set".into())
        });
        let previous = self.config();
        let ctx = self.config_context(Some(&previous));
        self.run("validate_config", None, || P::validate_config(&ctx, config))
    }

    /// The merchant saves `config`: validated like [`MockHost::validate_config`] when the
    /// manifest declares that hook, then in force for the hook runners.
    ///
    /// ```
    /// use baseplate_sdk::{Plugin, testing::MockHost};
    /// struct AnyJson;
    /// impl Plugin for AnyJson {}
    /// let host = MockHost::install();
    /// host.configure::<AnyJson>(r#"{"limit": 2}"#)?;
    /// assert_eq!(host.config(), r#"{"limit": 2}"#);
    /// # Ok::<(), baseplate_sdk::PluginError>(())
    /// ```
    #[track_caller]
    pub fn configure<P: Plugin>(&self, config: &str) -> Result<()> {
        let declared = with(|h| h.manifest.as_ref().is_none_or(|m| m.hooks.validate_config));
        if declared {
            self.validate_config::<P>(config)?;
        }
        self.set_config(config);
        Ok(())
    }

    /// Runs [`Plugin::price`] at `stage` as the host does: the manifest must list the stage
    /// in `hooks.price`; the call is read-only (a write panics, as the host traps); its
    /// output is checked like the host checks it (a bad adjustment panics).
    ///
    /// ```
    /// use baseplate_sdk::{Adjustment, CallContext, Cart, Plugin, PriceStage, Result, testing};
    /// struct Tenth;
    /// impl Plugin for Tenth {
    ///     fn price(_: &CallContext, _: PriceStage, cart: &Cart) -> Result<Vec<Adjustment>> {
    ///         Ok(cart.lines.iter().map(|l| Adjustment { line: l.index, amount: l.amount / 10, label: "10%".into(), reference: None }).collect())
    ///     }
    /// }
    /// let host = testing::MockHost::install();
    /// let cart = testing::cart(None, vec![testing::cart_line(0, "tea", 1, 1000)], None);
    /// assert_eq!(host.price::<Tenth>(PriceStage::Order, &cart)?[0].amount, 100);
    /// # Ok::<(), baseplate_sdk::PluginError>(())
    /// ```
    #[track_caller]
    pub fn price<P: Plugin>(&self, stage: PriceStage, cart: &Cart) -> Result<Vec<Adjustment>> {
        let name = stage_name(stage);
        self.require(|m| {
            m.hooks
                .price
                .iter()
                .any(|s| s == name)
                .then_some(())
                .ok_or_else(|| format!("hooks.price does not list the `{name}` stage"))
        });
        if cart.input.is_none() && self.needs_input("price") {
            // The host does not call it: the buyer gave this plugin nothing to act on.
            return Ok(Vec::new());
        }
        let ctx = self.context_now();
        let adjustments = self.run("price", None, || P::price(&ctx, stage, cart))?;
        if let Err(why) = check_adjustments(cart, &adjustments) {
            panic!("bad pricing output at the {name} stage: {why} (the host fails the plugin)");
        }
        Ok(adjustments)
    }

    /// Prices `cart` through every stage the manifest declares, in the host's order (item,
    /// order, coupon), applying each stage's adjustments as the host does: clamped so a
    /// line never goes below zero, and recorded per line. Without a manifest, every stage
    /// runs.
    ///
    /// ```
    /// use baseplate_sdk::{Adjustment, CallContext, Cart, Plugin, PriceStage, Result, testing};
    /// struct Big;
    /// impl Plugin for Big {
    ///     fn price(_: &CallContext, _: PriceStage, cart: &Cart) -> Result<Vec<Adjustment>> {
    ///         Ok(vec![Adjustment { line: 0, amount: 700, label: "big".into(), reference: None }])
    ///     }
    /// }
    /// let host = testing::MockHost::install();
    /// let cart = testing::cart(None, vec![testing::cart_line(0, "tea", 1, 1000)], None);
    /// let priced = host.price_cart::<Big>(&cart)?;
    /// // 700 at the item stage, 300 (clamped) at the order stage, nothing left for coupons.
    /// assert_eq!(priced.total(), 0);
    /// assert_eq!(priced.adjustments[0].len(), 2);
    /// # Ok::<(), baseplate_sdk::PluginError>(())
    /// ```
    #[track_caller]
    pub fn price_cart<P: Plugin>(&self, cart: &Cart) -> Result<PricedCart> {
        let plugin = self.plugin_name();
        let stages: Vec<PriceStage> = with(|h| {
            [PriceStage::Item, PriceStage::Order, PriceStage::Coupon]
                .into_iter()
                .filter(|s| {
                    h.manifest
                        .as_ref()
                        .is_none_or(|m| m.hooks.price.iter().any(|x| x == stage_name(*s)))
                })
                .collect()
        });
        let mut priced = PricedCart::new(cart.clone());
        for stage in stages {
            let adjustments = self.price::<P>(stage, &priced.cart)?;
            priced.apply(&plugin, stage, adjustments)?;
        }
        Ok(priced)
    }

    /// Runs [`Plugin::validate_checkout`] (the manifest must set `hooks.validate_checkout`).
    ///
    /// ```
    /// use baseplate_sdk::{Plugin, testing};
    /// struct Ok_;
    /// impl Plugin for Ok_ {}
    /// let host = testing::MockHost::install();
    /// assert!(host.validate_checkout::<Ok_>(&testing::cart(None, vec![], None)).is_ok());
    /// ```
    #[track_caller]
    pub fn validate_checkout<P: Plugin>(&self, cart: &Cart) -> Result<()> {
        self.require(|m| {
            m.hooks
                .validate_checkout
                .then_some(())
                .ok_or_else(|| "hooks.validate_checkout is not set".into())
        });
        if cart.input.is_none() && self.needs_input("validate_checkout") {
            return Ok(());
        }
        let ctx = self.context_now();
        self.run("validate_checkout", None, || {
            P::validate_checkout(&ctx, cart)
        })
    }

    /// Whether the manifest lists `hook` in `hooks.needs_input` (the host then calls it
    /// only when the buyer passed the plugin an input).
    fn needs_input(&self, hook: &str) -> bool {
        with(|h| {
            h.manifest
                .as_ref()
                .is_some_and(|m| m.hooks.needs_input.iter().any(|x| x == hook))
        })
    }

    /// Runs [`Plugin::order_created`] as the host does in the checkout's transaction (the
    /// manifest must set `hooks.order_created`): all-or-nothing, and the attributes it
    /// returns are checked against [`MAX_ATTRIBUTES`] and the key and value sizes (a bad
    /// one panics). The order is added to the mock first, as it exists when the hook runs;
    /// if the hook fails it is closed again (the host rolls the checkout back).
    ///
    /// ```
    /// use baseplate_sdk::{Plugin, testing};
    /// struct Nothing;
    /// impl Plugin for Nothing {}
    /// let host = testing::MockHost::install();
    /// let order = testing::order("o_1", Some("m_1"), &[testing::cart_line(0, "tea", 1, 100)]);
    /// assert!(host.order_created::<Nothing>(&order, None)?.is_empty());
    /// assert!(baseplate_sdk::shop::order("o_1").is_some());
    /// # Ok::<(), baseplate_sdk::PluginError>(())
    /// ```
    #[track_caller]
    pub fn order_created<P: Plugin>(
        &self,
        order: &Order,
        input: Option<&str>,
    ) -> Result<Vec<Attribute>> {
        self.require(|m| {
            m.hooks
                .order_created
                .then_some(())
                .ok_or_else(|| "hooks.order_created is not set".into())
        });
        if input.is_none() && self.needs_input("order_created") {
            return Ok(Vec::new());
        }
        self.add_order(order.clone());
        let ctx = self.context_now();
        let result = self.run("order_created", None, || {
            P::order_created(&ctx, order, input)
        });
        match &result {
            Ok(attributes) => check_attributes(attributes),
            Err(_) => {
                let mut gone = order.clone();
                gone.status = OrderStatus::Closed;
                self.add_order(gone);
            }
        }
        result
    }

    /// Delivers `event` to [`Plugin::handle_event`] as the host does (the manifest must
    /// list its kind in `hooks.events`): all-or-nothing, and a ledger posting without an
    /// order is booked against the event's order.
    ///
    /// ```
    /// use baseplate_sdk::{Event, Plugin, testing};
    /// struct Ignore;
    /// impl Plugin for Ignore {}
    /// let host = testing::MockHost::install();
    /// let paid = testing::paid_order("o_1", None, &[testing::cart_line(0, "tea", 1, 100)]);
    /// host.handle_event::<Ignore>(&Event::OrderPaid(paid))?;
    /// # Ok::<(), baseplate_sdk::PluginError>(())
    /// ```
    #[track_caller]
    pub fn handle_event<P: Plugin>(&self, event: &Event) -> Result<()> {
        let kind = event_kind(event);
        self.require(|m| {
            m.hooks
                .events
                .iter()
                .any(|e| e == kind)
                .then_some(())
                .ok_or_else(|| format!("hooks.events does not list `{kind}`"))
        });
        let ctx = self.context_now();
        self.run("handle_event", event_order_id(event), || {
            P::handle_event(&ctx, event)
        })
    }

    /// Whether the manifest lets `actor` call action `name` (without a manifest: always).
    ///
    /// ```
    /// use baseplate_sdk::{Actor, testing::MockHost};
    /// assert!(MockHost::install().action_allowed("anything", &Actor::System));
    /// ```
    pub fn action_allowed(&self, name: &str, actor: &Actor) -> bool {
        let kind = actor_kind(actor);
        with(|h| {
            h.manifest.as_ref().is_none_or(|m| {
                m.actions
                    .iter()
                    .any(|a| a.name == name && a.actors.iter().any(|x| x == kind))
            })
        })
    }

    /// Runs action `name` for `actor` with JSON `input`, as the host does: the manifest
    /// must declare the action and allow the actor's kind (else the host answers 404 or
    /// 403 without calling the plugin — the mock panics); the call is all-or-nothing.
    ///
    /// ```
    /// use baseplate_sdk::{Actor, CallContext, Plugin, Result, testing::MockHost};
    /// struct Echo;
    /// impl Plugin for Echo {
    ///     fn handle_action(_: &CallContext, _: &Actor, _: &str, input: &str) -> Result<String> { Ok(input.into()) }
    /// }
    /// let host = MockHost::install();
    /// assert_eq!(host.action::<Echo>(&Actor::System, "echo", "[1]")?, "[1]");
    /// # Ok::<(), baseplate_sdk::PluginError>(())
    /// ```
    #[track_caller]
    pub fn action<P: Plugin>(&self, actor: &Actor, name: &str, input: &str) -> Result<String> {
        let kind = actor_kind(actor);
        self.require(|m| match m.actions.iter().find(|a| a.name == name) {
            None => Err(format!("action `{name}` is not declared")),
            Some(a) if !a.actors.iter().any(|x| x == kind) => Err(format!(
                "action `{name}` is not open to {kind} (actors = {:?})",
                a.actors
            )),
            Some(_) => Ok(()),
        });
        let ctx = self.context_now();
        self.run("handle_action", None, || {
            P::handle_action(&ctx, actor, name, input)
        })
    }

    /// [`MockHost::action`] with JSON values in and out.
    ///
    /// # Panics
    /// If the plugin's output is not JSON (the host fails such a call).
    ///
    /// ```
    /// use baseplate_sdk::{Actor, CallContext, Plugin, Result, testing::MockHost};
    /// struct Echo;
    /// impl Plugin for Echo {
    ///     fn handle_action(_: &CallContext, _: &Actor, _: &str, input: &str) -> Result<String> { Ok(input.into()) }
    /// }
    /// let host = MockHost::install();
    /// let out = host.act::<Echo>(&Actor::System, "echo", serde_json::json!({"a": 1}))?;
    /// assert_eq!(out["a"], 1);
    /// # Ok::<(), baseplate_sdk::PluginError>(())
    /// ```
    #[track_caller]
    pub fn act<P: Plugin>(
        &self,
        actor: &Actor,
        name: &str,
        input: serde_json::Value,
    ) -> Result<serde_json::Value> {
        let out = self.action::<P>(actor, name, &input.to_string())?;
        Ok(serde_json::from_str(&out)
            .unwrap_or_else(|e| panic!("action `{name}` returned output that is not JSON: {e}")))
    }

    /// What the plugin itself answers a call the host would refuse before the plugin runs —
    /// an undeclared action (404) or an actor the action is not open to (403):
    /// [`MockHost::act`] without the manifest's action checks, for testing a plugin's own
    /// guards ([`Actor::staff_only`], its "unknown action" answer, …).
    ///
    /// ```
    /// use baseplate_sdk::{Actor, CallContext, Plugin, Result, testing::{self, MockHost}};
    /// struct Guarded;
    /// impl Plugin for Guarded {
    ///     fn handle_action(_: &CallContext, actor: &Actor, _: &str, _: &str) -> Result<String> {
    ///         actor.staff_only("do this")?;
    ///         Ok("{}".into())
    ///     }
    /// }
    /// let host = MockHost::install();
    /// let err = host.act_unchecked::<Guarded>(&testing::buyer("m_1"), "x", serde_json::json!({})).unwrap_err();
    /// assert_eq!(err.message(), "only shop staff can do this");
    /// ```
    #[track_caller]
    pub fn act_unchecked<P: Plugin>(
        &self,
        actor: &Actor,
        name: &str,
        input: serde_json::Value,
    ) -> Result<serde_json::Value> {
        let ctx = self.context_now();
        let out = self.run("handle_action", None, || {
            P::handle_action(&ctx, actor, name, &input.to_string())
        })?;
        Ok(serde_json::from_str(&out)
            .unwrap_or_else(|e| panic!("action `{name}` returned output that is not JSON: {e}")))
    }

    /// Fires timer `name` with `payload` as the host does (the manifest must set
    /// `hooks.timers`); all-or-nothing. The timer is not removed from the pending list:
    /// see [`MockHost::fire_due_timers`].
    ///
    /// ```
    /// use baseplate_sdk::{Plugin, testing::MockHost};
    /// struct Quiet;
    /// impl Plugin for Quiet {}
    /// assert!(MockHost::install().fire_timer::<Quiet>("t", b"").is_ok());
    /// ```
    #[track_caller]
    pub fn fire_timer<P: Plugin>(&self, name: &str, payload: &[u8]) -> Result<()> {
        self.require(|m| {
            m.hooks
                .timers
                .then_some(())
                .ok_or_else(|| "hooks.timers is not set".into())
        });
        let ctx = self.context_now();
        self.run("fire_timer", None, || P::fire_timer(&ctx, name, payload))
    }

    /// Fires every timer due at the mock clock, earliest first, as the host's worker does:
    /// each is removed from the pending list and fired; one that fails is put back (the
    /// host retries it) and its error returned. Returns how many fired.
    ///
    /// ```
    /// use baseplate_sdk::{Plugin, timers, testing::MockHost};
    /// struct Quiet;
    /// impl Plugin for Quiet {}
    /// let host = MockHost::install();
    /// timers::schedule("a", host.now(), b"");
    /// timers::schedule("b", host.now() + 10, b"");
    /// assert_eq!(host.fire_due_timers::<Quiet>()?, 1);
    /// assert_eq!(host.timers().len(), 1);
    /// # Ok::<(), baseplate_sdk::PluginError>(())
    /// ```
    #[track_caller]
    pub fn fire_due_timers<P: Plugin>(&self) -> Result<usize> {
        let due = self.take_due_timers();
        for (i, timer) in due.iter().enumerate() {
            if let Err(e) = self.fire_timer::<P>(&timer.name, &timer.payload) {
                with(|h| {
                    for t in &due[i..] {
                        h.effects
                            .timers
                            .entry(t.name.clone())
                            .or_insert_with(|| t.clone());
                    }
                });
                return Err(e);
            }
        }
        Ok(due.len())
    }

    /// The mock clock, what [`host::now`](crate::host::now) returns.
    ///
    /// ```
    /// assert_eq!(baseplate_sdk::testing::MockHost::install().now(), baseplate_sdk::testing::DEFAULT_NOW);
    /// ```
    pub fn now(&self) -> Timestamp {
        with(|h| h.now)
    }

    /// Sets the mock clock.
    ///
    /// ```
    /// let host = baseplate_sdk::testing::MockHost::install();
    /// host.set_now(7);
    /// assert_eq!(baseplate_sdk::host::now(), 7);
    /// ```
    pub fn set_now(&self, now: Timestamp) {
        with(|h| h.now = now);
    }

    /// Moves the mock clock forward by `ms`.
    ///
    /// ```
    /// let host = baseplate_sdk::testing::MockHost::install();
    /// host.advance(1000);
    /// assert_eq!(host.now(), baseplate_sdk::testing::DEFAULT_NOW + 1000);
    /// ```
    pub fn advance(&self, ms: i64) {
        with(|h| h.now += ms);
    }

    /// Reseeds the generator behind [`host::random`](crate::host::random); the same seed
    /// gives the same sequence.
    ///
    /// ```
    /// let host = baseplate_sdk::testing::MockHost::install();
    /// host.set_seed(1);
    /// let a = baseplate_sdk::host::random();
    /// host.set_seed(1);
    /// assert_eq!(a, baseplate_sdk::host::random());
    /// ```
    pub fn set_seed(&self, seed: u64) {
        with(|h| h.rng = seed);
    }

    /// Adds (or replaces) an order that [`shop::order`](crate::shop::order) returns and
    /// the order actions act on.
    ///
    /// ```
    /// use baseplate_sdk::testing::{self, MockHost};
    /// let host = MockHost::install();
    /// host.add_order(testing::order("o_1", None, &[]));
    /// assert!(host.order("o_1").is_some());
    /// ```
    pub fn add_order(&self, order: Order) {
        with(|h| h.effects.orders.insert(order.id.clone(), order));
    }

    /// The order `id` as it is now, after any order actions.
    ///
    /// ```
    /// assert!(baseplate_sdk::testing::MockHost::install().order("nope").is_none());
    /// ```
    pub fn order(&self, id: &str) -> Option<Order> {
        with(|h| h.effects.orders.get(id).cloned())
    }

    /// The buyer pays order `id` (which must be in the mock, pending payment): it becomes
    /// paid at the mock clock and moves to to-ship, or to awaiting-confirmation if a
    /// plugin held it. Returns the paid order, ready for `Event::OrderPaid`.
    ///
    /// ```
    /// use baseplate_sdk::{orders, testing::{self, MockHost}, OrderStatus};
    /// let host = MockHost::install();
    /// host.add_order(testing::order("o_1", None, &[testing::cart_line(0, "tea", 1, 100)]));
    /// orders::hold("o_1")?;
    /// assert_eq!(host.pay("o_1").status, OrderStatus::AwaitingConfirmation);
    /// # Ok::<(), baseplate_sdk::PluginError>(())
    /// ```
    pub fn pay(&self, id: &str) -> Order {
        let order = self
            .order(id)
            .unwrap_or_else(|| panic!("MockHost::pay: no order {id}"));
        assert!(
            order.status == OrderStatus::PendingPayment,
            "MockHost::pay: order {id} is {:?}, not pending payment",
            order.status
        );
        let held = with(|h| h.effects.held.remove(id));
        let mut paid = paid(&order);
        if held {
            paid.status = OrderStatus::AwaitingConfirmation;
        }
        self.add_order(paid.clone());
        paid
    }

    /// Refunds `amount` of order `id` (in the mock) as the host does, spread over its lines
    /// by what is left of each, and returns the `order-refunded` payload; the mock's order
    /// is updated.
    ///
    /// ```
    /// use baseplate_sdk::{testing::{self, MockHost}, RefundState};
    /// let host = MockHost::install();
    /// host.add_order(testing::paid_order("o_1", None, &[testing::cart_line(0, "tea", 1, 100)]));
    /// assert_eq!(host.refund("o_1", "r_1", 100, "damaged").order.refund_state, RefundState::Full);
    /// assert_eq!(host.order("o_1").unwrap().refunded_amount, 100);
    /// ```
    pub fn refund(&self, id: &str, refund_id: &str, amount: Money, reason: &str) -> OrderRefunded {
        let order = self
            .order(id)
            .unwrap_or_else(|| panic!("MockHost::refund: no order {id}"));
        let refunded = refunded(&order, refund_id, amount, reason);
        self.add_order(refunded.order.clone());
        refunded
    }

    /// Cancels order `id` (in the mock) as the buyer or the shop would, and returns the
    /// event plugins receive (see [`cancelled`]); the mock's order is updated.
    ///
    /// ```
    /// use baseplate_sdk::{Event, testing::{self, MockHost}};
    /// let host = MockHost::install();
    /// host.add_order(testing::order("o_1", None, &[testing::cart_line(0, "tea", 1, 100)]));
    /// assert!(matches!(host.cancel("o_1", "cancelled"), Event::OrderClosed(_)));
    /// ```
    pub fn cancel(&self, id: &str, reason: &str) -> Event {
        let order = self
            .order(id)
            .unwrap_or_else(|| panic!("MockHost::cancel: no order {id}"));
        let event = cancelled(&order, reason);
        match &event {
            Event::OrderClosed(o) => self.add_order(o.clone()),
            Event::OrderRefunded(r) => self.add_order(r.order.clone()),
            _ => unreachable!("cancelled() makes only these"),
        }
        event
    }

    /// Adds (or replaces) a member that [`shop::member`](crate::shop::member) returns; its
    /// `points` open the member's points balance.
    ///
    /// ```
    /// use baseplate_sdk::testing::{self, MockHost};
    /// let host = MockHost::install();
    /// let mut m = testing::member("m_1");
    /// m.points = 40;
    /// host.add_member(m);
    /// assert_eq!(host.points_balance("m_1"), 40);
    /// ```
    pub fn add_member(&self, member: Member) {
        with(|h| {
            h.effects.points.insert(member.id.clone(), member.points);
            h.members.insert(member.id.clone(), member);
        });
    }

    /// Adds (or replaces) a product that [`shop::product`](crate::shop::product) and
    /// [`shop::sku`](crate::shop::sku) return.
    ///
    /// ```
    /// use baseplate_sdk::testing::{self, MockHost};
    /// let host = MockHost::install();
    /// host.add_product(testing::product("tea", 990));
    /// assert_eq!(baseplate_sdk::shop::sku("tea-sku").unwrap().price, 990);
    /// ```
    pub fn add_product(&self, product: Product) {
        with(|h| h.products.insert(product.id.clone(), product));
    }

    /// A copy of the plugin's whole key-value state.
    ///
    /// ```
    /// let host = baseplate_sdk::testing::MockHost::install();
    /// assert!(host.state_snapshot().is_empty());
    /// ```
    pub fn state_snapshot(&self) -> BTreeMap<String, Vec<u8>> {
        with(|h| h.effects.state.clone())
    }

    /// The pending timers, earliest first.
    ///
    /// ```
    /// assert!(baseplate_sdk::testing::MockHost::install().timers().is_empty());
    /// ```
    pub fn timers(&self) -> Vec<ScheduledTimer> {
        let mut timers: Vec<_> = with(|h| h.effects.timers.values().cloned().collect());
        timers.sort_by_key(|t| t.at);
        timers
    }

    /// Removes and returns the timers due at the mock clock, earliest first, for the test to
    /// pass to `fire_timer` (or use [`MockHost::fire_due_timers`]).
    ///
    /// ```
    /// use baseplate_sdk::{timers, testing::MockHost};
    /// let host = MockHost::install();
    /// timers::schedule("a", host.now(), b"");
    /// assert_eq!(host.take_due_timers()[0].name, "a");
    /// assert!(host.timers().is_empty());
    /// ```
    pub fn take_due_timers(&self) -> Vec<ScheduledTimer> {
        let now = self.now();
        let due: Vec<_> = self.timers().into_iter().filter(|t| t.at <= now).collect();
        with(|h| {
            due.iter()
                .for_each(|t| drop(h.effects.timers.remove(&t.name)))
        });
        due
    }

    /// Everything the plugin logged, in order.
    ///
    /// ```
    /// let host = baseplate_sdk::testing::MockHost::install();
    /// baseplate_sdk::log::debug("x");
    /// assert_eq!(host.logs().len(), 1);
    /// ```
    pub fn logs(&self) -> Vec<LogRecord> {
        with(|h| h.logs.clone())
    }

    /// The postings the plugin booked, in order.
    ///
    /// ```
    /// assert!(baseplate_sdk::testing::MockHost::install().ledger_postings().is_empty());
    /// ```
    pub fn ledger_postings(&self) -> Vec<Posting> {
        with(|h| h.effects.postings.clone())
    }

    /// The order actions the plugin took successfully, in order.
    ///
    /// ```
    /// assert!(baseplate_sdk::testing::MockHost::install().order_actions().is_empty());
    /// ```
    pub fn order_actions(&self) -> Vec<OrderAction> {
        with(|h| h.effects.order_actions.clone())
    }

    /// Member `member_id`'s points balance (0 for an unknown member).
    ///
    /// ```
    /// assert_eq!(baseplate_sdk::testing::MockHost::install().points_balance("m_1"), 0);
    /// ```
    pub fn points_balance(&self, member_id: &str) -> i64 {
        with(|h| h.effects.points.get(member_id).copied().unwrap_or(0))
    }

    /// Every points change the plugin made, in order.
    ///
    /// ```
    /// assert!(baseplate_sdk::testing::MockHost::install().points_entries().is_empty());
    /// ```
    pub fn points_entries(&self) -> Vec<PointsEntry> {
        with(|h| h.effects.points_entries.clone())
    }
}

fn stage_name(stage: PriceStage) -> &'static str {
    match stage {
        PriceStage::Item => "item",
        PriceStage::Order => "order",
        PriceStage::Coupon => "coupon",
    }
}

fn event_kind(event: &Event) -> &'static str {
    match event {
        Event::OrderPaid(_) => "order-paid",
        Event::OrderClosed(_) => "order-closed",
        Event::OrderRefunded(_) => "order-refunded",
        Event::OrderConfirmed(_) => "order-confirmed",
        Event::OrderCompleted(_) => "order-completed",
        Event::MemberJoined(_) => "member-joined",
    }
}

fn event_order_id(event: &Event) -> Option<String> {
    match event {
        Event::OrderPaid(o)
        | Event::OrderClosed(o)
        | Event::OrderConfirmed(o)
        | Event::OrderCompleted(o) => Some(o.id.clone()),
        Event::OrderRefunded(r) => Some(r.order.id.clone()),
        Event::MemberJoined(_) => None,
    }
}

fn actor_kind(actor: &Actor) -> &'static str {
    match actor {
        Actor::Member(_) => "member",
        Actor::Staff(_) => "staff",
        Actor::System => "system",
    }
}

fn check_attributes(attributes: &[Attribute]) {
    assert!(
        attributes.len() <= MAX_ATTRIBUTES,
        "order_created returned {} attributes; the host keeps at most {MAX_ATTRIBUTES}",
        attributes.len()
    );
    for a in attributes {
        assert!(
            !a.key.is_empty() && a.key.len() <= MAX_ATTRIBUTE_KEY_BYTES,
            "attribute key `{}` must be 1..={MAX_ATTRIBUTE_KEY_BYTES} bytes",
            a.key
        );
        assert!(
            a.value.len() <= MAX_ATTRIBUTE_VALUE_BYTES,
            "attribute `{}` has a {}-byte value; at most {MAX_ATTRIBUTE_VALUE_BYTES}",
            a.key,
            a.value.len()
        );
    }
}

/// Shop staff (key `key_test`), the actor of merchant actions.
///
/// ```
/// assert!(baseplate_sdk::testing::staff().is_trusted());
/// ```
pub fn staff() -> Actor {
    Actor::Staff("key_test".into())
}

/// Member `id` acting for themselves (a buyer).
///
/// ```
/// assert_eq!(baseplate_sdk::testing::buyer("m_1").member_id(), Some("m_1"));
/// ```
pub fn buyer(id: &str) -> Actor {
    Actor::Member(id.into())
}

#[track_caller]
fn assert_error<T: std::fmt::Debug>(result: Result<T>, kind: &str, needle: &str) {
    match result {
        Err(e) if e.kind() == kind && e.message().contains(needle) => {}
        other => panic!("expected {kind} error containing {needle:?}, got {other:?}"),
    }
}

/// Asserts `result` is a [`PluginError::Refused`] whose message contains `needle`.
///
/// ```
/// use baseplate_sdk::{PluginError, testing::assert_refused};
/// assert_refused(Err::<(), _>(PluginError::refused("sold out")), "sold");
/// ```
#[track_caller]
pub fn assert_refused<T: std::fmt::Debug>(result: Result<T>, needle: &str) {
    assert_error(result, "refused", needle)
}

/// Asserts `result` is a [`PluginError::Invalid`] whose message contains `needle`.
///
/// ```
/// use baseplate_sdk::{PluginError, testing::assert_invalid};
/// assert_invalid(Err::<(), _>(PluginError::invalid("`x` must be ≥ 0")), "`x`");
/// ```
#[track_caller]
pub fn assert_invalid<T: std::fmt::Debug>(result: Result<T>, needle: &str) {
    assert_error(result, "invalid", needle)
}

/// Asserts `result` is a [`PluginError::NotFound`] whose message contains `needle`.
///
/// ```
/// use baseplate_sdk::{PluginError, testing::assert_not_found};
/// assert_not_found(Err::<(), _>(PluginError::not_found("no group g_1")), "g_1");
/// ```
#[track_caller]
pub fn assert_not_found<T: std::fmt::Debug>(result: Result<T>, needle: &str) {
    assert_error(result, "not-found", needle)
}

/// Asserts `result` is a [`PluginError::Conflict`] whose message contains `needle`.
///
/// ```
/// use baseplate_sdk::{PluginError, testing::assert_conflict};
/// assert_conflict(Err::<(), _>(PluginError::conflict("group is full")), "full");
/// ```
#[track_caller]
pub fn assert_conflict<T: std::fmt::Debug>(result: Result<T>, needle: &str) {
    assert_error(result, "conflict", needle)
}

/// A cart line fixture: SKU `<product_id>-sku`, no tags, `amount` = `unit_price × quantity`.
///
/// ```
/// let line = baseplate_sdk::testing::cart_line(0, "p_tea", 2, 1500);
/// assert_eq!(line.amount, 3000);
/// ```
pub fn cart_line(index: u32, product_id: &str, quantity: u32, unit_price: Money) -> CartLine {
    CartLine {
        index,
        product_id: product_id.into(),
        sku_id: format!("{product_id}-sku"),
        quantity,
        unit_price,
        amount: unit_price * i64::from(quantity),
        tags: Vec::new(),
    }
}

/// A cart fixture.
///
/// ```
/// let cart = baseplate_sdk::testing::cart(Some("m_1"), vec![], Some("{}"));
/// assert_eq!(cart.input.as_deref(), Some("{}"));
/// ```
pub fn cart(member_id: Option<&str>, lines: Vec<CartLine>, input: Option<&str>) -> Cart {
    Cart {
        member_id: member_id.map(Into::into),
        lines,
        input: input.map(Into::into),
    }
}

/// An order fixture created from priced cart `lines` at the mock clock: pending payment,
/// unpaid, no refunds; each line's final amount is the cart line's `amount` and its id
/// `<order id>-<line index>`. [`PricedCart::order`] also records the adjustments.
///
/// ```
/// use baseplate_sdk::{OrderStatus, PaymentStatus, testing};
/// let _host = testing::MockHost::install();
/// let o = testing::order("o_1", Some("m_1"), &[testing::cart_line(0, "tea", 2, 500)]);
/// assert_eq!((o.status, o.payment_status, o.payable_amount), (OrderStatus::PendingPayment, PaymentStatus::Unpaid, 1000));
/// ```
pub fn order(id: &str, member_id: Option<&str>, lines: &[CartLine]) -> Order {
    let lines: Vec<OrderLine> = lines
        .iter()
        .map(|l| {
            let original = l.unit_price * i64::from(l.quantity);
            OrderLine {
                id: format!("{id}-{}", l.index),
                index: l.index,
                product_id: l.product_id.clone(),
                sku_id: l.sku_id.clone(),
                quantity: l.quantity,
                unit_price: l.unit_price,
                original_amount: original,
                discount: original - l.amount,
                final_amount: l.amount,
                refunded_amount: 0,
                adjustments: Vec::new(),
            }
        })
        .collect();
    let original: Money = lines.iter().map(|l| l.original_amount).sum();
    let payable: Money = lines.iter().map(|l| l.final_amount).sum();
    Order {
        id: id.into(),
        member_id: member_id.map(Into::into),
        status: OrderStatus::PendingPayment,
        payment_status: PaymentStatus::Unpaid,
        refund_state: RefundState::None,
        close_reason: None,
        currency: with(|h| h.currency.clone()),
        original_amount: original,
        discount: original - payable,
        payable_amount: payable,
        paid_amount: 0,
        refunded_amount: 0,
        lines,
        attributes: Vec::new(),
        created_at: with(|h| h.now),
        paid_at: None,
    }
}

/// `order` paid in full at the mock clock: status to-ship, payment paid.
///
/// ```
/// use baseplate_sdk::{OrderStatus, testing};
/// let _host = testing::MockHost::install();
/// let o = testing::paid(&testing::order("o_1", None, &[testing::cart_line(0, "tea", 1, 100)]));
/// assert_eq!((o.status, o.paid_amount, o.paid_at.is_some()), (OrderStatus::ToShip, 100, true));
/// ```
pub fn paid(order: &Order) -> Order {
    let mut o = order.clone();
    o.status = OrderStatus::ToShip;
    o.payment_status = PaymentStatus::Paid;
    o.paid_amount = o.payable_amount;
    o.paid_at = Some(with(|h| h.now));
    o
}

/// A paid order fixture: [`order`], then [`paid`].
///
/// ```
/// use baseplate_sdk::{PaymentStatus, testing};
/// let _host = testing::MockHost::install();
/// let o = testing::paid_order("o_1", Some("m_1"), &[testing::cart_line(0, "tea", 1, 100)]);
/// assert_eq!(o.payment_status, PaymentStatus::Paid);
/// ```
pub fn paid_order(id: &str, member_id: Option<&str>, lines: &[CartLine]) -> Order {
    paid(&order(id, member_id, lines))
}

/// `order` completed (delivered; past the after-sale flow a refund no longer closes it).
///
/// ```
/// use baseplate_sdk::{OrderStatus, testing};
/// let _host = testing::MockHost::install();
/// let o = testing::completed(&testing::paid_order("o_1", None, &[testing::cart_line(0, "tea", 1, 100)]));
/// assert_eq!(o.status, OrderStatus::Completed);
/// ```
pub fn completed(order: &Order) -> Order {
    let mut o = order.clone();
    o.status = OrderStatus::Completed;
    o
}

/// Refunds `amount` of paid `order` as the host does: spread over the lines in proportion
/// to what is left of each (largest remainders, see [`apportion`]); the refund state
/// becomes partial, or full when everything paid is refunded — and a full refund of an
/// order that has not completed closes it (close reason `refunded`). The refund is made at
/// the mock clock.
///
/// # Panics
/// If `order` is not paid, `amount` ≤ 0, or `amount` exceeds what is left to refund.
///
/// ```
/// use baseplate_sdk::{OrderStatus, RefundState, testing};
/// let _host = testing::MockHost::install();
/// let paid = testing::paid_order("o_1", None, &[testing::cart_line(0, "a", 1, 300), testing::cart_line(1, "b", 1, 100)]);
/// let part = testing::refunded(&paid, "r_1", 200, "damaged");
/// assert_eq!((part.order.refund_state, part.order.status), (RefundState::Partial, OrderStatus::ToShip));
/// assert_eq!(part.refund.lines.iter().map(|l| l.amount).collect::<Vec<_>>(), [150, 50]);
/// let all = testing::refunded(&part.order, "r_2", 200, "damaged");
/// assert_eq!((all.order.refund_state, all.order.status), (RefundState::Full, OrderStatus::Closed));
/// ```
pub fn refunded(order: &Order, refund_id: &str, amount: Money, reason: &str) -> OrderRefunded {
    let left: Vec<Money> = order
        .lines
        .iter()
        .map(|l| l.final_amount - l.refunded_amount)
        .collect();
    let parts = apportion(amount, &left);
    let lines: Vec<(u32, Money)> = order
        .lines
        .iter()
        .zip(parts)
        .filter(|(_, a)| *a > 0)
        .map(|(l, a)| (l.index, a))
        .collect();
    refunded_lines(order, refund_id, &lines, reason)
}

/// Refunds the given `(line index, amount)` pairs of paid `order`, as the host does for a
/// per-line refund (see [`refunded`] for the states).
///
/// # Panics
/// If `order` is not paid, a line is unknown, or an amount is ≤ 0 or exceeds what is left
/// of its line.
///
/// ```
/// use baseplate_sdk::{RefundState, testing};
/// let _host = testing::MockHost::install();
/// let paid = testing::paid_order("o_1", None, &[testing::cart_line(0, "a", 1, 300), testing::cart_line(1, "b", 1, 100)]);
/// let r = testing::refunded_lines(&paid, "r_1", &[(1, 100)], "wrong size");
/// assert_eq!((r.order.lines[1].refunded_amount, r.order.refund_state), (100, RefundState::Partial));
/// assert_eq!(r.refund.lines[0].line_id, "o_1-1");
/// ```
pub fn refunded_lines(
    order: &Order,
    refund_id: &str,
    lines: &[(u32, Money)],
    reason: &str,
) -> OrderRefunded {
    assert!(
        order.payment_status == PaymentStatus::Paid,
        "refund of order {}: it is not paid",
        order.id
    );
    let mut o = order.clone();
    let mut refund_lines = Vec::new();
    let mut total: Money = 0;
    for &(index, amount) in lines {
        let line = o
            .lines
            .iter_mut()
            .find(|l| l.index == index)
            .unwrap_or_else(|| panic!("refund of order {}: no line {index}", order.id));
        let left = line.final_amount - line.refunded_amount;
        assert!(
            amount > 0 && amount <= left,
            "refund of {amount} on line {index} of order {}: 1..={left} is refundable",
            order.id
        );
        line.refunded_amount += amount;
        total += amount;
        refund_lines.push(LineRefund {
            line_id: line.id.clone(),
            amount,
        });
    }
    assert!(total > 0, "a refund must be positive");
    o.refunded_amount += total;
    assert!(
        o.refunded_amount <= o.paid_amount,
        "refund of order {}: {} exceeds the paid {}",
        order.id,
        o.refunded_amount,
        o.paid_amount
    );
    if o.refunded_amount == o.paid_amount {
        o.refund_state = RefundState::Full;
        if o.status != OrderStatus::Completed {
            o.status = OrderStatus::Closed;
            o.close_reason.get_or_insert_with(|| "refunded".into());
        }
    } else {
        o.refund_state = RefundState::Partial;
    }
    OrderRefunded {
        order: o,
        refund: Refund {
            id: refund_id.into(),
            amount: total,
            lines: refund_lines,
            reason: reason.into(),
            created_at: with(|h| h.now),
        },
    }
}

/// The event plugins receive when `order` is cancelled with `reason` (as the host records
/// it, e.g. `cancelled`, `payment_timeout`): an unpaid order closes — [`Event::OrderClosed`]
/// with status closed; a paid one is refunded in full — [`Event::OrderRefunded`] with
/// refund id `cancel-<order id>`, refund state full, status closed. Never `order-closed`
/// for a paid order.
///
/// # Panics
/// If `order` is completed or already closed (the host refuses to cancel it).
///
/// ```
/// use baseplate_sdk::{Event, OrderStatus, testing};
/// let _host = testing::MockHost::install();
/// let lines = [testing::cart_line(0, "tea", 1, 100)];
/// match testing::cancelled(&testing::order("o_1", None, &lines), "payment_timeout") {
///     Event::OrderClosed(o) => assert_eq!(o.close_reason.as_deref(), Some("payment_timeout")),
///     other => panic!("{other:?}"),
/// }
/// match testing::cancelled(&testing::paid_order("o_2", None, &lines), "cancelled") {
///     Event::OrderRefunded(r) => assert_eq!((r.order.status, r.refund.id.as_str()), (OrderStatus::Closed, "cancel-o_2")),
///     other => panic!("{other:?}"),
/// }
/// ```
pub fn cancelled(order: &Order, reason: &str) -> Event {
    assert!(
        !matches!(order.status, OrderStatus::Completed | OrderStatus::Closed),
        "order {} is {:?}; the host does not cancel it",
        order.id,
        order.status
    );
    if order.payment_status == PaymentStatus::Paid {
        let mut o = order.clone();
        o.close_reason = Some(reason.into());
        let left = o.paid_amount - o.refunded_amount;
        let id = format!("cancel-{}", o.id);
        Event::OrderRefunded(refunded(&o, &id, left, reason))
    } else {
        let mut o = order.clone();
        o.status = OrderStatus::Closed;
        o.close_reason = Some(reason.into());
        Event::OrderClosed(o)
    }
}

/// A member fixture: name = id, level 1, no points, tags or inviter, joined at the mock
/// clock.
///
/// ```
/// let _host = baseplate_sdk::testing::MockHost::install();
/// assert_eq!(baseplate_sdk::testing::member("m_1").name, "m_1");
/// ```
pub fn member(id: &str) -> Member {
    Member {
        id: id.into(),
        name: id.into(),
        level: 1,
        points: 0,
        tags: Vec::new(),
        joined_at: with(|h| h.now),
        inviter_id: None,
        paid_orders: 0,
    }
}

/// A product fixture with one SKU `<id>-sku` at `price`, stock 100.
///
/// ```
/// assert_eq!(baseplate_sdk::testing::product("tea", 990).skus[0].stock, 100);
/// ```
pub fn product(id: &str, price: Money) -> Product {
    Product {
        id: id.into(),
        name: id.into(),
        tags: Vec::new(),
        skus: vec![Sku {
            id: format!("{id}-sku"),
            name: id.into(),
            price,
            stock: 100,
        }],
    }
}

/// Mirrors the host's posting rules so a plugin's bad posting fails in its unit tests too.
fn check_posting(memo: &str, entries: &[LedgerEntry]) -> Result<()> {
    let invalid = |m: &str| Err(PluginError::invalid(m));
    if memo.chars().count() > MAX_MEMO_CHARS {
        return invalid("memo is at most 200 characters");
    }
    if entries.len() < 2 {
        return invalid("a posting needs at least two entries");
    }
    if entries.len() > MAX_POSTING_ENTRIES {
        return invalid("a posting has at most 50 entries");
    }
    let mut sum: i64 = 0;
    for e in entries {
        if e.amount == 0 {
            return invalid("an entry's amount must not be zero");
        }
        if e.amount.unsigned_abs() > MAX_ENTRY_AMOUNT.unsigned_abs() {
            return invalid("an entry's amount must be within ±10^15");
        }
        let account_ok = !e.account.is_empty()
            && e.account.len() <= MAX_ACCOUNT_BYTES
            && e.account
                .bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b"-_:".contains(&b));
        if !account_ok {
            return invalid("account names are 1..=64 characters of a-z, 0-9, '-', '_' or ':'");
        }
        let Some(next) = sum.checked_add(e.amount) else {
            return invalid("amount overflow");
        };
        sum = next;
    }
    if sum != 0 {
        return Err(PluginError::invalid(format!(
            "entries sum to {sum}, not zero: a posting must balance"
        )));
    }
    Ok(())
}

/// The mock implementations of the WIT imports, with the generated signatures.
pub(crate) mod imports {
    pub mod state {
        use super::super::with;
        use crate::limits::{MAX_GET_MANY, MAX_KEY_BYTES, MAX_SCAN_LIMIT, MAX_VALUE_BYTES};

        fn check_key(key: &str) {
            assert!(
                !key.is_empty() && key.len() <= MAX_KEY_BYTES,
                "state key is {} bytes; the host traps outside 1..={MAX_KEY_BYTES}",
                key.len()
            );
        }

        pub fn get(key: &str) -> Option<Vec<u8>> {
            with(|h| h.capability("state", "state.get"));
            check_key(key);
            with(|h| h.effects.state.get(key).cloned())
        }

        pub fn get_many(keys: &[String]) -> Vec<Option<Vec<u8>>> {
            with(|h| h.capability("state", "state.get-many"));
            assert!(
                keys.len() <= MAX_GET_MANY,
                "state.get-many of {} keys; the host traps above {MAX_GET_MANY} (at most 100 per call)",
                keys.len()
            );
            keys.iter().for_each(|k| check_key(k));
            with(|h| {
                keys.iter()
                    .map(|k| h.effects.state.get(k).cloned())
                    .collect()
            })
        }

        pub fn set(key: &str, value: &[u8]) {
            with(|h| {
                h.capability("state", "state.set");
                h.writable("state.set");
            });
            check_key(key);
            assert!(
                value.len() <= MAX_VALUE_BYTES,
                "state value is {} bytes; the host traps above {MAX_VALUE_BYTES}",
                value.len()
            );
            with(|h| {
                let before = h.effects.state.get(key).map(|v| key.len() + v.len());
                let bytes = h.effects.state_bytes - before.unwrap_or(0) + key.len() + value.len();
                let keys = h.effects.state.len() + usize::from(before.is_none());
                if keys > h.max_state_keys {
                    let m = format!(
                        "state quota: {keys} keys would pass this shop's bound of {} keys per plugin",
                        h.max_state_keys
                    );
                    h.over_quota(m);
                } else if bytes > h.max_state_bytes {
                    let m = format!(
                        "state quota: {bytes} bytes would pass this shop's bound of {} bytes per plugin",
                        h.max_state_bytes
                    );
                    h.over_quota(m);
                }
                h.effects.state_bytes = bytes;
                h.effects.state.insert(key.into(), value.into());
            });
        }

        pub fn delete(key: &str) -> bool {
            with(|h| {
                h.capability("state", "state.delete");
                h.writable("state.delete");
            });
            check_key(key);
            with(|h| match h.effects.state.remove(key) {
                Some(v) => {
                    h.effects.state_bytes -= key.len() + v.len();
                    true
                }
                None => false,
            })
        }

        pub fn scan(prefix: &str, start_after: Option<&str>, limit: u32) -> Vec<(String, Vec<u8>)> {
            with(|h| h.capability("state", "state.scan"));
            assert!(
                prefix.len() <= MAX_KEY_BYTES,
                "scan prefix must be at most {MAX_KEY_BYTES} bytes; the host traps"
            );
            let limit = limit.min(MAX_SCAN_LIMIT) as usize;
            with(|h| {
                h.effects
                    .state
                    .range(prefix.to_string()..)
                    .take_while(|(k, _)| k.starts_with(prefix))
                    .filter(|(k, _)| start_after.is_none_or(|after| k.as_str() > after))
                    .take(limit)
                    .map(|(k, v)| (k.clone(), v.clone()))
                    .collect()
            })
        }
    }

    pub mod timers {
        use super::super::{ScheduledTimer, with};
        use crate::Timestamp;
        use crate::limits::{MAX_TIMER_NAME_BYTES, MAX_VALUE_BYTES};

        pub fn schedule(name: &str, at: Timestamp, payload: &[u8]) {
            with(|h| {
                h.capability("timers", "timers.schedule");
                h.writable("timers.schedule");
            });
            assert!(
                !name.is_empty() && name.len() <= MAX_TIMER_NAME_BYTES,
                "timer name is {} bytes; the host traps outside 1..={MAX_TIMER_NAME_BYTES}",
                name.len()
            );
            assert!(
                payload.len() <= MAX_VALUE_BYTES,
                "timer payload is {} bytes; the host traps above {MAX_VALUE_BYTES}",
                payload.len()
            );
            let timer = ScheduledTimer {
                name: name.into(),
                at,
                payload: payload.into(),
            };
            with(|h| {
                let pending =
                    h.effects.timers.len() + usize::from(!h.effects.timers.contains_key(name));
                if pending > h.max_timers {
                    let m = format!(
                        "timer quota: {pending} pending timers would pass this shop's bound of {} per plugin",
                        h.max_timers
                    );
                    h.over_quota(m);
                }
                h.effects.timers.insert(name.into(), timer)
            });
        }

        pub fn cancel(name: &str) -> bool {
            with(|h| {
                h.capability("timers", "timers.cancel");
                h.writable("timers.cancel");
            });
            with(|h| h.effects.timers.remove(name).is_some())
        }
    }

    pub mod shop_data {
        use super::super::with;
        use crate::{Member, Order, Product, SkuInfo};

        pub fn get_order(id: &str) -> Option<Order> {
            with(|h| {
                h.capability("shop-data", "shop-data.get-order");
                h.effects.orders.get(id).cloned()
            })
        }

        pub fn get_member(id: &str) -> Option<Member> {
            with(|h| {
                h.capability("shop-data", "shop-data.get-member");
                let mut member = h.members.get(id).cloned()?;
                member.points = h.effects.points.get(id).copied().unwrap_or(member.points);
                Some(member)
            })
        }

        pub fn get_product(id: &str) -> Option<Product> {
            with(|h| {
                h.capability("shop-data", "shop-data.get-product");
                h.products.get(id).cloned()
            })
        }

        pub fn get_sku(id: &str) -> Option<SkuInfo> {
            with(|h| {
                h.capability("shop-data", "shop-data.get-sku");
                h.products.values().find_map(|p| {
                    p.skus.iter().find(|s| s.id == id).map(|s| SkuInfo {
                        id: s.id.clone(),
                        product_id: p.id.clone(),
                        product_name: p.name.clone(),
                        name: s.name.clone(),
                        price: s.price,
                        stock: s.stock,
                        tags: p.tags.clone(),
                    })
                })
            })
        }
    }

    /// A small model of the host's order state machine: enough for a plugin's tests to see
    /// its actions land and to hit the refusals the host gives.
    pub mod order_control {
        use super::super::{OrderAction, with};
        use crate::limits::MAX_REASON_BYTES;
        use crate::{Order, OrderStatus, PaymentStatus, PluginError, RefundState, Result};

        fn act(
            import: &str,
            order_id: &str,
            action: OrderAction,
            change: impl FnOnce(&mut Order) -> Result<bool>,
        ) -> Result<()> {
            with(|h| {
                h.capability("order-control", import);
                h.writable(import);
                let order = h.effects.orders.get_mut(order_id).ok_or_else(|| {
                    PluginError::not_found(format!("order {order_id} does not exist"))
                })?;
                if change(order)? {
                    h.effects.held.insert(order_id.into());
                }
                h.effects.order_actions.push(action);
                Ok(())
            })
        }

        fn refuse<T>(order: &Order, what: &str) -> Result<T> {
            Err(PluginError::conflict(format!(
                "order {} is {:?}; cannot {what} it",
                order.id, order.status
            )))
        }

        pub fn hold_order(order_id: &str) -> Result<()> {
            let action = OrderAction::Hold {
                order_id: order_id.into(),
            };
            act("order-control.hold-order", order_id, action, |o| {
                match o.status {
                    // Like the host: an unpaid order is marked to wait once it is paid.
                    OrderStatus::PendingPayment => Ok(true),
                    OrderStatus::ToShip | OrderStatus::AwaitingConfirmation
                        if o.payment_status == PaymentStatus::Paid =>
                    {
                        o.status = OrderStatus::AwaitingConfirmation;
                        Ok(false)
                    }
                    _ => refuse(o, "hold"),
                }
            })
        }

        pub fn confirm_order(order_id: &str) -> Result<()> {
            let action = OrderAction::Confirm {
                order_id: order_id.into(),
            };
            act("order-control.confirm-order", order_id, action, |o| {
                match o.status {
                    OrderStatus::AwaitingConfirmation => {
                        o.status = OrderStatus::ToShip;
                        Ok(false)
                    }
                    // Like the host: confirming ahead of payment, or twice, changes nothing.
                    OrderStatus::PendingPayment | OrderStatus::ToShip => Ok(false),
                    _ => refuse(o, "confirm"),
                }
            })
        }

        pub fn cancel_order(order_id: &str, reason: &str) -> Result<()> {
            if reason.is_empty() || reason.len() > MAX_REASON_BYTES {
                with(|h| h.capability("order-control", "order-control.cancel-order"));
                return Err(PluginError::invalid(format!(
                    "cancel reason must be 1..={MAX_REASON_BYTES} bytes"
                )));
            }
            let action = OrderAction::Cancel {
                order_id: order_id.into(),
                reason: reason.into(),
            };
            act(
                "order-control.cancel-order",
                order_id,
                action,
                |o| match o.status {
                    OrderStatus::Completed | OrderStatus::Closed => refuse(o, "cancel"),
                    _ => {
                        if o.payment_status == PaymentStatus::Paid {
                            o.refunded_amount = o.paid_amount;
                            o.refund_state = RefundState::Full;
                        }
                        o.status = OrderStatus::Closed;
                        o.close_reason = Some(reason.into());
                        Ok(false)
                    }
                },
            )
        }
    }

    pub mod ledger {
        use super::super::{Posting, check_posting, with};
        use crate::{Balance, LedgerEntry, Party, Result};

        pub fn post(memo: &str, entries: &[LedgerEntry], order_id: Option<&str>) -> Result<String> {
            with(|h| {
                h.capability("ledger", "ledger.post");
                h.writable("ledger.post");
            });
            check_posting(memo, entries)?;
            with(|h| {
                let id = format!("pst_{}", h.effects.postings.len() + 1);
                let order_id = order_id
                    .map(String::from)
                    .or_else(|| h.call.as_ref().and_then(|c| c.event_order.clone()));
                h.effects.postings.push(Posting {
                    id: id.clone(),
                    memo: memo.into(),
                    entries: entries.to_vec(),
                    order_id,
                    at: h.now,
                });
                Ok(id)
            })
        }

        pub fn get_balance(party: &Party, account: &str) -> Balance {
            with(|h| {
                h.capability("ledger", "ledger.get-balance");
                let entries = h
                    .effects
                    .postings
                    .iter()
                    .flat_map(|p| &p.entries)
                    .filter(|e| &e.party == party && e.account == account);
                let mut balance = Balance {
                    total: 0,
                    available: 0,
                };
                for e in entries {
                    balance.total += e.amount;
                    if e.available_at.is_none_or(|t| t <= h.now) {
                        balance.available += e.amount;
                    }
                }
                balance
            })
        }
    }

    pub mod points {
        use super::super::{PointsEntry, with};
        use crate::limits::MAX_REASON_BYTES;
        use crate::{PluginError, PointsChange, Result};

        pub fn adjust(
            member_id: &str,
            delta: i64,
            reason: &str,
            reference: Option<&str>,
        ) -> Result<PointsChange> {
            with(|h| {
                h.capability("points", "points.adjust");
                h.writable("points.adjust");
                if delta == 0 {
                    return Err(PluginError::invalid("a points change must not be zero"));
                }
                if reason.is_empty() || reason.len() > MAX_REASON_BYTES {
                    return Err(PluginError::invalid(format!(
                        "a points reason must be 1..={MAX_REASON_BYTES} bytes"
                    )));
                }
                if !h.members.contains_key(member_id) {
                    return Err(PluginError::not_found(format!(
                        "member {member_id} is not a member of this shop"
                    )));
                }
                let balance = h.effects.points.get(member_id).copied().unwrap_or(0);
                let after = balance
                    .checked_add(delta)
                    .ok_or_else(|| PluginError::invalid("points overflow"))?;
                if after < 0 {
                    return Err(PluginError::refused(format!(
                        "member {member_id} has {balance} points; cannot take {}",
                        -delta
                    )));
                }
                let id = format!("pts_{}", h.effects.points_entries.len() + 1);
                h.effects.points.insert(member_id.into(), after);
                h.effects.points_entries.push(PointsEntry {
                    id: id.clone(),
                    member_id: member_id.into(),
                    delta,
                    balance: after,
                    reason: reason.into(),
                    reference: reference.map(Into::into),
                    at: h.now,
                });
                Ok(PointsChange {
                    balance: after,
                    entry_id: id,
                })
            })
        }
    }

    pub mod logging {
        use super::super::{LogRecord, with};
        use crate::limits::{MAX_LOG_LINE_BYTES, MAX_LOG_LINES};
        pub use crate::log::Level;

        pub fn log(level: Level, message: &str) {
            with(|h| {
                h.capability("logging", "logging.log");
                if let Some(call) = &mut h.call {
                    // Like the host: past the per-call budget lines are dropped.
                    call.logs += 1;
                    if call.logs > MAX_LOG_LINES {
                        return;
                    }
                }
                let mut cut = message.len().min(MAX_LOG_LINE_BYTES);
                while !message.is_char_boundary(cut) {
                    cut -= 1;
                }
                h.logs.push(LogRecord {
                    level,
                    message: message[..cut].into(),
                })
            });
        }
    }

    pub mod host {
        use super::super::with;
        use crate::Timestamp;

        pub fn now() -> Timestamp {
            with(|h| {
                h.capability("host", "host.now");
                h.now
            })
        }

        pub fn random() -> u64 {
            with(|h| {
                h.capability("host", "host.random");
                h.next_random()
            })
        }
    }
}

#[cfg(test)]
mod tests;
