//! The Baseplate guest SDK: everything a plugin author needs to write a Baseplate plugin, a
//! WebAssembly component that implements the `baseplate:plugin@0.2.0` contract (the WIT is
//! inside this crate, in `wit/`).
//!
//! Implement [`Plugin`] (every hook has a sensible default), register it with
//! [`register_plugin!`], declare what it does in its `plugin.toml` ([`manifest`] documents
//! every field), and talk to the host through the helper modules: [`state`], [`timers`],
//! [`shop`], [`orders`], [`ledger`], [`points`], [`log`] and [`host`]. Shared helpers:
//! [`ids`] (fresh ids), [`money`] (apportioning, display), [`fields`] (config and input
//! reading with errors that name the field), the actor checks [`Actor::staff_only`] and
//! [`Actor::member_only`]. Build with `cargo build --target wasm32-wasip2 --release`
//! (see [`build`] for reproducible components).
//!
//! On native targets the helpers run against an in-memory [`testing::MockHost`] that reads
//! the plugin's `plugin.toml` and enforces it and the host's [`limits`], so a plugin's
//! logic is unit-tested with plain `cargo test`, against fixtures, without a server.
//!
//! ```no_run
//! use baseplate_sdk::{Actor, CallContext, Plugin, PluginError, Result, state};
//!
//! struct Counter;
//!
//! impl Plugin for Counter {
//!     fn handle_action(_ctx: &CallContext, _actor: &Actor, name: &str, _input: &str) -> Result<String> {
//!         match name {
//!             "bump" => {
//!                 let n = state::get_json::<u64>("count")?.unwrap_or(0) + 1;
//!                 state::set_json("count", &n)?;
//!                 Ok(n.to_string())
//!             }
//!             _ => Err(PluginError::not_found(format!("unknown action `{name}`"))),
//!         }
//!     }
//! }
//!
//! baseplate_sdk::register_plugin!(Counter);
//! ```
//!
//! # What the contract promises
//!
//! The WIT's header answers the questions every plugin author asks; they hold for plugins
//! of contract 0.1.0 too.
//!
//! - **Order of plugins.** Pricing runs stage by stage ([`PriceStage::Item`], then
//!   [`PriceStage::Order`], then [`PriceStage::Coupon`]); within one stage the shop's
//!   plugins run in ascending order of plugin name, each seeing the line amounts
//!   ([`CartLine::amount`]) the plugins before it left. [`Plugin::validate_checkout`] and
//!   [`Plugin::order_created`] run in the same order, after pricing.
//! - **Attribute keys.** A plugin returns [`Attribute`] keys *without* a prefix
//!   (`employee`); the host stores and shows them as `<plugin>.<key>`
//!   (`store-binding.employee`), which is what [`Order::attributes`] carries everywhere,
//!   in every hook and event. At most [`limits::MAX_ATTRIBUTES`] per plugin.
//! - **Cancelling a paid order.** A paid order that is cancelled (by the buyer, the shop or
//!   a plugin through [`orders::cancel`]) is refunded in full and arrives as
//!   [`Event::OrderRefunded`] (refund state [`RefundState::Full`], status
//!   [`OrderStatus::Closed`]), never as [`Event::OrderClosed`]; `order-closed` is only for
//!   orders that were never paid.
//! - **All or nothing.** What a hook writes (state, timers, ledger postings, points, order
//!   actions) is kept only if the hook returns `Ok`, and only together with the change it
//!   belongs to. The host may re-run a call whose reads went stale, with the same clock
//!   and randomness: a hook must not count on running exactly once per request, only on
//!   its effects applying once.

#![deny(missing_docs)]

pub mod build;
pub mod fields;
pub mod host;
pub mod ids;
pub mod ledger;
pub mod limits;
pub mod log;
pub mod manifest;
pub mod money;
pub mod orders;
pub mod points;
pub mod shop;
pub mod state;
mod sys;
#[cfg(not(target_arch = "wasm32"))]
pub mod testing;
pub mod timers;

/// The bindings generated from the contract in `wit/`. Private: plugins use the re-exported
/// types and the helper modules, and the SDK itself exports the component's `hooks`
/// (see [`register_plugin!`]), as Zed's `zed_extension_api` does.
#[allow(missing_docs)]
mod bindings {
    wit_bindgen::generate!({
        path: "wit",
        world: "plugin",
        additional_derives: [PartialEq, Eq],
    });
}

/// The component's `hooks` export, implemented once here for every plugin: each hook
/// forwards to the plugin [`register_plugin!`] registered.
#[cfg(target_arch = "wasm32")]
mod export {
    use crate::__private::Hooks;
    use crate::bindings::exports::baseplate::plugin::hooks::Guest;
    use crate::{
        Actor, Adjustment, Attribute, CallContext, Cart, ConfigContext, Event, Order, PriceStage,
        Result,
    };

    unsafe extern "Rust" {
        // Defined by `register_plugin!` in the plugin crate; a component without it fails
        // to link, naming this symbol.
        #[link_name = "__baseplate_sdk_plugin_hooks_v0_2"]
        safe static PLUGIN: Hooks;
    }

    struct Exports;

    impl Guest for Exports {
        fn validate_config(ctx: ConfigContext, config: String) -> Result<()> {
            (PLUGIN.validate_config)(&ctx, &config)
        }
        fn price(ctx: CallContext, stage: PriceStage, cart: Cart) -> Result<Vec<Adjustment>> {
            (PLUGIN.price)(&ctx, stage, &cart)
        }
        fn validate_checkout(ctx: CallContext, cart: Cart) -> Result<()> {
            (PLUGIN.validate_checkout)(&ctx, &cart)
        }
        fn order_created(
            ctx: CallContext,
            order: Order,
            input: Option<String>,
        ) -> Result<Vec<Attribute>> {
            (PLUGIN.order_created)(&ctx, &order, input.as_deref())
        }
        fn handle_event(ctx: CallContext, event: Event) -> Result<()> {
            (PLUGIN.handle_event)(&ctx, &event)
        }
        fn handle_action(
            ctx: CallContext,
            actor: Actor,
            name: String,
            input: String,
        ) -> Result<String> {
            (PLUGIN.handle_action)(&ctx, &actor, &name, &input)
        }
        fn fire_timer(ctx: CallContext, name: String, payload: Vec<u8>) -> Result<()> {
            (PLUGIN.fire_timer)(&ctx, &name, &payload)
        }
    }

    crate::bindings::export!(Exports with_types_in crate::bindings);
}

/// What [`register_plugin!`] expands to needs; not part of the API.
#[doc(hidden)]
pub mod __private {
    use crate::{
        Actor, Adjustment, Attribute, CallContext, Cart, ConfigContext, Event, Order, Plugin,
        PriceStage, Result,
    };

    /// A plugin's hooks as function pointers, built at compile time from its type.
    pub struct Hooks {
        pub validate_config: fn(&ConfigContext, &str) -> Result<()>,
        pub price: fn(&CallContext, PriceStage, &Cart) -> Result<Vec<Adjustment>>,
        pub validate_checkout: fn(&CallContext, &Cart) -> Result<()>,
        pub order_created: fn(&CallContext, &Order, Option<&str>) -> Result<Vec<Attribute>>,
        pub handle_event: fn(&CallContext, &Event) -> Result<()>,
        pub handle_action: fn(&CallContext, &Actor, &str, &str) -> Result<String>,
        pub fire_timer: fn(&CallContext, &str, &[u8]) -> Result<()>,
    }

    impl Hooks {
        /// The hooks of plugin `P`.
        pub const fn of<P: Plugin>() -> Hooks {
            Hooks {
                validate_config: P::validate_config,
                price: P::price,
                validate_checkout: P::validate_checkout,
                order_created: P::order_created,
                handle_event: P::handle_event,
                handle_action: P::handle_action,
                fire_timer: P::fire_timer,
            }
        }
    }
}

/// Who asked for a plugin action: a member (buyer) by member id, shop staff by key id, or
/// the platform itself (timers, events, demo seeding). The manifest's `[[actions]]` say
/// which kinds may call each action; the host refuses the others before the plugin runs.
///
/// ```
/// use baseplate_sdk::Actor;
/// let buyer = Actor::Member("m_1".into());
/// assert_eq!(buyer.member_id(), Some("m_1"));
/// assert!(!buyer.is_trusted() && Actor::Staff("key_1".into()).is_trusted());
/// ```
#[doc(inline)]
pub use bindings::baseplate::plugin::types::Actor;

/// A discount a plugin's [`Plugin::price`] takes off one cart line (`line` is the
/// [`CartLine::index`]; `amount` > 0, clamped by the host so a line never goes below zero;
/// `label` 1..=200 characters, shown to buyer and merchant; `reference` the plugin's own).
///
/// ```
/// use baseplate_sdk::Adjustment;
/// let cut = Adjustment { line: 0, amount: 500, label: "Coupon: 5 off".into(), reference: Some("cpn_1".into()) };
/// assert!(cut.amount > 0);
/// ```
#[doc(inline)]
pub use bindings::baseplate::plugin::types::Adjustment;

/// A key-value pair a plugin attaches to an order in [`Plugin::order_created`]. Return
/// keys without a prefix; the host stores them as `<plugin>.<key>`, which is how
/// [`Order::attributes`] shows them (see [`limits::MAX_ATTRIBUTES`] and the key and value
/// sizes next to it).
///
/// ```
/// use baseplate_sdk::Attribute;
/// // store-binding returns this; orders then carry `store-binding.employee`.
/// let a = Attribute { key: "employee".into(), value: "emp_1".into() };
/// assert!(!a.key.contains('.'));
/// ```
#[doc(inline)]
pub use bindings::baseplate::plugin::types::Attribute;

/// A party's balance on one ledger account: `total`, and the `available` part whose
/// entries' `available_at` has passed (see [`ledger::balance`]).
///
/// ```
/// use baseplate_sdk::Balance;
/// let b = Balance { total: 1500, available: 1000 };
/// assert_eq!(b.total - b.available, 500); // still frozen
/// ```
#[doc(inline)]
pub use bindings::baseplate::plugin::types::Balance;

/// What every hook is told about the call: the shop (informational; the host scopes every
/// import to it), this plugin's name and version, the merchant's `config` (JSON), the
/// host clock `now` at the start of the operation, and the shop's `currency`.
///
/// ```
/// let host = baseplate_sdk::testing::MockHost::install();
/// let ctx = host.context(r#"{"min_amount": 100}"#);
/// assert_eq!((ctx.currency.as_str(), ctx.now), ("CNY", host.now()));
/// ```
#[doc(inline)]
pub use bindings::baseplate::plugin::types::CallContext;

/// A cart to price or validate: the buyer (if signed in), its lines, and what the buyer
/// passed to this plugin at checkout (`"plugins": {"<name>": …}`), as JSON.
///
/// ```
/// use baseplate_sdk::testing;
/// let cart = testing::cart(Some("m_1"), vec![testing::cart_line(0, "tea", 2, 1500)], Some(r#"{"coupon_ids":[]}"#));
/// assert_eq!(cart.lines[0].amount, 3000);
/// ```
#[doc(inline)]
pub use bindings::baseplate::plugin::types::Cart;

/// One line of a cart being priced. `amount` is what is left of the line after the stages
/// (and, within a stage, the plugins) before this one — never negative.
///
/// ```
/// let line = baseplate_sdk::testing::cart_line(0, "tea", 3, 1000);
/// assert_eq!((line.quantity, line.unit_price, line.amount), (3, 1000, 3000));
/// ```
#[doc(inline)]
pub use bindings::baseplate::plugin::types::CartLine;

/// What [`Plugin::validate_config`] is told: the shop, plugin, version, currency, clock and
/// the configuration in force before this change (`previous`, if the plugin was installed).
///
/// ```
/// let host = baseplate_sdk::testing::MockHost::install();
/// let ctx = host.config_context(Some(r#"{"min_amount": 100}"#));
/// assert_eq!(ctx.previous.as_deref(), Some(r#"{"min_amount": 100}"#));
/// ```
#[doc(inline)]
pub use bindings::baseplate::plugin::types::ConfigContext;

/// Something that happened in the shop, delivered once to each plugin whose manifest lists
/// it in `hooks.events`. A paid order that is cancelled arrives as
/// [`Event::OrderRefunded`] with a full refund and status closed, never as
/// [`Event::OrderClosed`], which is only for orders that were never paid.
///
/// ```
/// use baseplate_sdk::{Event, RefundState, testing};
/// let _host = testing::MockHost::install();
/// let paid = testing::paid_order("o_1", Some("m_1"), &[testing::cart_line(0, "tea", 1, 1000)]);
/// match testing::cancelled(&paid, "cancelled") {
///     Event::OrderRefunded(r) => assert_eq!(r.order.refund_state, RefundState::Full),
///     other => panic!("{other:?}"),
/// }
/// ```
#[doc(inline)]
pub use bindings::baseplate::plugin::types::Event;

/// One side of a ledger posting: a party's account credited (positive) or debited
/// (negative), optionally not withdrawable before `available_at`. A posting's entries sum
/// to zero.
///
/// ```
/// use baseplate_sdk::{LedgerEntry, Party};
/// let e = LedgerEntry { party: Party::Shop, account: "sales".into(), amount: -500, available_at: None };
/// assert!(e.amount < 0);
/// ```
#[doc(inline)]
pub use bindings::baseplate::plugin::types::LedgerEntry;

/// A discount recorded on an order line: which plugin took it, at which stage, how much.
///
/// ```
/// use baseplate_sdk::{LineAdjustment, PriceStage};
/// let a = LineAdjustment { plugin: "coupons".into(), stage: PriceStage::Coupon, amount: 500, label: "5 off".into(), reference: None };
/// assert_eq!(a.stage, PriceStage::Coupon);
/// ```
#[doc(inline)]
pub use bindings::baseplate::plugin::types::LineAdjustment;

/// How much of one order line a refund returned.
///
/// ```
/// let r = baseplate_sdk::LineRefund { line_id: "o_1-0".into(), amount: 300 };
/// assert_eq!(r.amount, 300);
/// ```
#[doc(inline)]
pub use bindings::baseplate::plugin::types::LineRefund;

/// A member of the shop (the member identity is per shop): level, points (the sum of the
/// host's points ledger, never below zero), tags, inviter, paid orders.
///
/// ```
/// let _host = baseplate_sdk::testing::MockHost::install();
/// let m = baseplate_sdk::testing::member("m_1");
/// assert_eq!((m.level, m.points), (1, 0));
/// ```
#[doc(inline)]
pub use bindings::baseplate::plugin::types::Member;

/// Integer minor units (分) of the shop's currency. Never use floats for money.
///
/// ```
/// let price: baseplate_sdk::Money = 1250; // 12.50
/// assert_eq!(baseplate_sdk::money::display(price, "CNY"), "12.50 CNY");
/// ```
#[doc(inline)]
pub use bindings::baseplate::plugin::types::Money;

/// An order of the shop. Status, payment status, refund state and close reason are
/// separate dimensions; `attributes` carry the plugins' snapshots as `<plugin>.<key>`.
///
/// ```
/// use baseplate_sdk::{OrderStatus, PaymentStatus, testing};
/// let _host = testing::MockHost::install();
/// let o = testing::paid_order("o_1", Some("m_1"), &[testing::cart_line(0, "tea", 2, 1000)]);
/// assert_eq!((o.status, o.payment_status, o.paid_amount), (OrderStatus::ToShip, PaymentStatus::Paid, 2000));
/// ```
#[doc(inline)]
pub use bindings::baseplate::plugin::types::Order;

/// One line of an order: `original_amount` (unit price × quantity) − `discount` (the sum
/// of its `adjustments`) = `final_amount`, what the buyer pays for it; `refunded_amount`
/// so far.
///
/// ```
/// let _host = baseplate_sdk::testing::MockHost::install();
/// let o = baseplate_sdk::testing::order("o_1", None, &[baseplate_sdk::testing::cart_line(0, "tea", 1, 900)]);
/// let l = &o.lines[0];
/// assert_eq!(l.original_amount - l.discount, l.final_amount);
/// ```
#[doc(inline)]
pub use bindings::baseplate::plugin::types::OrderLine;

/// The `order-refunded` event's payload: the order after the refund, and the refund.
///
/// ```
/// use baseplate_sdk::{RefundState, testing};
/// let _host = testing::MockHost::install();
/// let paid = testing::paid_order("o_1", None, &[testing::cart_line(0, "tea", 1, 1000)]);
/// let r = testing::refunded(&paid, "r_1", 400, "damaged");
/// assert_eq!((r.order.refund_state, r.refund.amount), (RefundState::Partial, 400));
/// ```
#[doc(inline)]
pub use bindings::baseplate::plugin::types::OrderRefunded;

/// An order's fulfilment status: pending payment → (awaiting confirmation, while a plugin
/// holds it) → to ship → completed; or closed.
///
/// ```
/// use baseplate_sdk::OrderStatus;
/// assert_ne!(OrderStatus::AwaitingConfirmation, OrderStatus::ToShip);
/// ```
#[doc(inline)]
pub use bindings::baseplate::plugin::types::OrderStatus;

/// A party that holds money in the shop's ledger: the shop, the platform, a member, an
/// employee, or an outlet (a physical store, 门店).
///
/// ```
/// use baseplate_sdk::Party;
/// let p = Party::Employee("emp_1".into());
/// assert_ne!(p, Party::Shop);
/// ```
#[doc(inline)]
pub use bindings::baseplate::plugin::types::Party;

/// Whether an order is paid.
///
/// ```
/// use baseplate_sdk::PaymentStatus;
/// assert_ne!(PaymentStatus::Paid, PaymentStatus::Unpaid);
/// ```
#[doc(inline)]
pub use bindings::baseplate::plugin::types::PaymentStatus;

/// An expected failure, returned from a hook or an import; the host turns it into a clear
/// 4xx for the request. Traps (panics) are for bugs and limit hits.
///
/// ```
/// use baseplate_sdk::PluginError;
/// let e = PluginError::refused("sold out");
/// assert_eq!((e.kind(), e.message()), ("refused", "sold out"));
/// ```
#[doc(inline)]
pub use bindings::baseplate::plugin::types::PluginError;

/// What [`points::adjust`] returns: the member's balance after the change and the points
/// ledger entry's id.
///
/// ```
/// use baseplate_sdk::{points, testing};
/// let host = testing::MockHost::install();
/// host.add_member(testing::member("m_1"));
/// let change = points::adjust("m_1", 50, "welcome", None)?;
/// assert_eq!(change.balance, 50);
/// # Ok::<(), baseplate_sdk::PluginError>(())
/// ```
#[doc(inline)]
pub use bindings::baseplate::plugin::types::PointsChange;

/// A pricing stage, in the order the host runs them: item-level promotions (live, group,
/// bargain price), then order-level discounts, then coupons.
///
/// ```
/// use baseplate_sdk::PriceStage;
/// let order = [PriceStage::Item, PriceStage::Order, PriceStage::Coupon];
/// assert_eq!(order.len(), 3);
/// ```
#[doc(inline)]
pub use bindings::baseplate::plugin::types::PriceStage;

/// A product of the shop's catalog with its SKUs (see [`shop::product`]).
///
/// ```
/// let p = baseplate_sdk::testing::product("tea", 1200);
/// assert_eq!(p.skus[0].id, "tea-sku");
/// ```
#[doc(inline)]
pub use bindings::baseplate::plugin::types::Product;

/// A refund: the caller's id (refunds are idempotent by it), the amount, per-line amounts,
/// the reason, and `created_at`, when it was made — which may be earlier than its
/// delivery to the plugin.
///
/// ```
/// use baseplate_sdk::testing;
/// let host = testing::MockHost::install();
/// let paid = testing::paid_order("o_1", None, &[testing::cart_line(0, "tea", 1, 1000)]);
/// let r = testing::refunded(&paid, "r_1", 1000, "changed mind");
/// assert_eq!(r.refund.created_at, host.now());
/// ```
#[doc(inline)]
pub use bindings::baseplate::plugin::types::Refund;

/// How much of an order was refunded: none, part, or all of what was paid.
///
/// ```
/// use baseplate_sdk::RefundState;
/// assert_ne!(RefundState::Partial, RefundState::Full);
/// ```
#[doc(inline)]
pub use bindings::baseplate::plugin::types::RefundState;

/// One SKU of a [`Product`].
///
/// ```
/// let sku = baseplate_sdk::Sku { id: "tea-250g".into(), name: "250g".into(), price: 1200, stock: 10 };
/// assert_eq!(sku.price, 1200);
/// ```
#[doc(inline)]
pub use bindings::baseplate::plugin::types::Sku;

/// One SKU with its product's id, name and tags, as [`shop::sku`] returns it.
///
/// ```
/// let host = baseplate_sdk::testing::MockHost::install();
/// host.add_product(baseplate_sdk::testing::product("tea", 1200));
/// let sku = baseplate_sdk::shop::sku("tea-sku").unwrap();
/// assert_eq!((sku.product_id.as_str(), sku.price), ("tea", 1200));
/// ```
#[doc(inline)]
pub use bindings::baseplate::plugin::types::SkuInfo;

/// Milliseconds since the Unix epoch, as the host's clock says.
///
/// ```
/// let day: baseplate_sdk::Timestamp = 86_400_000;
/// assert_eq!(day / 3_600_000, 24);
/// ```
#[doc(inline)]
pub use bindings::baseplate::plugin::types::Timestamp;

pub use money::apportion;

use serde::Serialize;
use serde::de::DeserializeOwned;

/// The result of every hook and fallible helper.
///
/// ```
/// fn check(n: i64) -> baseplate_sdk::Result<i64> {
///     if n < 0 { return Err(baseplate_sdk::PluginError::invalid("must be ≥ 0")); }
///     Ok(n)
/// }
/// assert!(check(-1).is_err());
/// ```
pub type Result<T, E = PluginError> = core::result::Result<T, E>;

/// A Baseplate plugin: one associated function per hook of the contract's `hooks`
/// interface. Override the hooks your manifest declares; the host never calls the others
/// (the mock host refuses to), and the defaults are harmless if it did.
///
/// Hooks are associated functions without `self`: every call runs in a fresh instance, so
/// anything that must outlive a call belongs in [`state`].
///
/// ```no_run
/// use baseplate_sdk::{Adjustment, CallContext, Cart, Plugin, PriceStage, Result};
///
/// /// One 分 off every line at the item stage.
/// struct Penny;
///
/// impl Plugin for Penny {
///     fn price(_ctx: &CallContext, stage: PriceStage, cart: &Cart) -> Result<Vec<Adjustment>> {
///         if stage != PriceStage::Item {
///             return Ok(Vec::new());
///         }
///         Ok(cart.lines.iter().filter(|l| l.amount > 0).map(|l| Adjustment {
///             line: l.index,
///             amount: 1,
///             label: "Penny off".into(),
///             reference: None,
///         }).collect())
///     }
/// }
/// baseplate_sdk::register_plugin!(Penny);
/// ```
pub trait Plugin {
    /// Checks the merchant's configuration before the host saves it; an
    /// [`PluginError::Invalid`] message is shown next to the form. `ctx` names the shop and
    /// carries the configuration in force before (`previous`). The default accepts any
    /// valid JSON.
    ///
    /// ```
    /// use baseplate_sdk::{ConfigContext, Plugin, Result, parse_config};
    /// struct P;
    /// impl Plugin for P {
    ///     fn validate_config(_ctx: &ConfigContext, config: &str) -> Result<()> {
    ///         #[derive(serde::Deserialize)]
    ///         #[serde(deny_unknown_fields)]
    ///         struct Config { min_amount: i64 }
    ///         parse_config::<Config>(config).map(drop)
    ///     }
    /// }
    /// let ctx = baseplate_sdk::testing::MockHost::install().config_context(None);
    /// assert!(P::validate_config(&ctx, r#"{"min_amount": 1}"#).is_ok());
    /// assert!(P::validate_config(&ctx, r#"{"min": 1}"#).is_err());
    /// ```
    fn validate_config(ctx: &ConfigContext, config: &str) -> Result<()> {
        let _ = ctx;
        serde_json::from_str::<serde::de::IgnoredAny>(config)
            .map(drop)
            .map_err(|e| PluginError::invalid(format!("config is not valid JSON: {e}")))
    }

    /// Proposes discounts for `cart` at `stage`; read-only: a write (state, timers,
    /// ledger, points, order actions) traps. The default proposes none.
    ///
    /// ```
    /// use baseplate_sdk::{Plugin, PriceStage, testing};
    /// struct Nothing;
    /// impl Plugin for Nothing {}
    /// let host = testing::MockHost::install();
    /// let cart = testing::cart(None, vec![testing::cart_line(0, "tea", 1, 100)], None);
    /// assert!(Nothing::price(&host.context("{}"), PriceStage::Item, &cart)?.is_empty());
    /// # Ok::<(), baseplate_sdk::PluginError>(())
    /// ```
    fn price(ctx: &CallContext, stage: PriceStage, cart: &Cart) -> Result<Vec<Adjustment>> {
        let _ = (ctx, stage, cart);
        Ok(Vec::new())
    }

    /// May refuse a checkout with a reason the buyer reads. The default accepts.
    ///
    /// ```
    /// use baseplate_sdk::{Cart, CallContext, Plugin, PluginError, Result, testing};
    /// struct MembersOnly;
    /// impl Plugin for MembersOnly {
    ///     fn validate_checkout(_ctx: &CallContext, cart: &Cart) -> Result<()> {
    ///         cart.member_id.as_ref().map(drop).ok_or_else(|| PluginError::refused("sign in first"))
    ///     }
    /// }
    /// let host = testing::MockHost::install();
    /// let cart = testing::cart(None, vec![], None);
    /// assert!(MembersOnly::validate_checkout(&host.context("{}"), &cart).is_err());
    /// ```
    fn validate_checkout(ctx: &CallContext, cart: &Cart) -> Result<()> {
        let _ = (ctx, cart);
        Ok(())
    }

    /// Runs in the checkout's transaction once `order` exists; `input` is what the buyer
    /// passed to this plugin. The returned attributes (keys without a prefix) are
    /// snapshotted on the order as `<plugin>.<key>`. The default does nothing and returns
    /// none.
    ///
    /// ```
    /// use baseplate_sdk::{Attribute, CallContext, Order, Plugin, Result, testing};
    /// struct Tagger;
    /// impl Plugin for Tagger {
    ///     fn order_created(_ctx: &CallContext, _order: &Order, input: Option<&str>) -> Result<Vec<Attribute>> {
    ///         Ok(input.map(|i| Attribute { key: "input".into(), value: i.into() }).into_iter().collect())
    ///     }
    /// }
    /// let host = testing::MockHost::install();
    /// let order = testing::order("o_1", None, &[]);
    /// assert_eq!(Tagger::order_created(&host.context("{}"), &order, Some("x"))?[0].key, "input");
    /// # Ok::<(), baseplate_sdk::PluginError>(())
    /// ```
    fn order_created(
        ctx: &CallContext,
        order: &Order,
        input: Option<&str>,
    ) -> Result<Vec<Attribute>> {
        let _ = (ctx, order, input);
        Ok(Vec::new())
    }

    /// Reacts to a subscribed event; its effects commit with the delivery, once. The
    /// default ignores it.
    ///
    /// ```
    /// use baseplate_sdk::{CallContext, Event, Plugin, Result, log, testing};
    /// struct Logger;
    /// impl Plugin for Logger {
    ///     fn handle_event(_ctx: &CallContext, event: &Event) -> Result<()> {
    ///         if let Event::OrderPaid(o) = event { log::info(&format!("{} paid", o.id)); }
    ///         Ok(())
    ///     }
    /// }
    /// let host = testing::MockHost::install();
    /// let paid = testing::paid_order("o_1", None, &[testing::cart_line(0, "tea", 1, 100)]);
    /// Logger::handle_event(&host.context("{}"), &Event::OrderPaid(paid))?;
    /// assert_eq!(host.logs()[0].message, "o_1 paid");
    /// # Ok::<(), baseplate_sdk::PluginError>(())
    /// ```
    fn handle_event(ctx: &CallContext, event: &Event) -> Result<()> {
        let _ = (ctx, event);
        Ok(())
    }

    /// Runs the plugin's own action `name` with JSON `input`, returning JSON. The default
    /// knows no actions.
    ///
    /// ```
    /// use baseplate_sdk::{Actor, Plugin, testing};
    /// struct NoActions;
    /// impl Plugin for NoActions {}
    /// let host = testing::MockHost::install();
    /// let err = NoActions::handle_action(&host.context("{}"), &Actor::System, "x", "{}").unwrap_err();
    /// assert_eq!(err.kind(), "not-found");
    /// ```
    fn handle_action(ctx: &CallContext, actor: &Actor, name: &str, input: &str) -> Result<String> {
        let _ = (ctx, actor, input);
        Err(PluginError::unknown_action(name))
    }

    /// A timer scheduled with [`timers::schedule`] is due. The default ignores it.
    ///
    /// ```
    /// use baseplate_sdk::{Plugin, testing};
    /// struct Quiet;
    /// impl Plugin for Quiet {}
    /// let host = testing::MockHost::install();
    /// assert!(Quiet::fire_timer(&host.context("{}"), "expire/g_1", b"").is_ok());
    /// ```
    fn fire_timer(ctx: &CallContext, name: &str, payload: &[u8]) -> Result<()> {
        let _ = (ctx, name, payload);
        Ok(())
    }
}

/// Registers a [`Plugin`] implementation as the component's plugin. Invoke it once, at the
/// crate root of a `cdylib` plugin crate.
///
/// It only registers the type: the SDK itself implements and exports the contract's
/// `hooks` interface (`baseplate:plugin/hooks@0.2.0`) and forwards each call to the
/// registered plugin, so the generated bindings stay private to the SDK. A component that
/// never invokes it fails to link, naming `__baseplate_sdk_plugin_hooks_v0_2`; invoking it
/// twice is a duplicate-symbol error. On native targets (unit tests) it only checks the
/// type implements [`Plugin`].
///
/// ```no_run
/// struct MyPlugin;
/// impl baseplate_sdk::Plugin for MyPlugin {}
/// baseplate_sdk::register_plugin!(MyPlugin);
/// ```
#[macro_export]
macro_rules! register_plugin {
    ($plugin:ty) => {
        #[cfg(target_arch = "wasm32")]
        #[unsafe(export_name = "__baseplate_sdk_plugin_hooks_v0_2")]
        static __BASEPLATE_SDK_PLUGIN_HOOKS: $crate::__private::Hooks =
            $crate::__private::Hooks::of::<$plugin>();

        #[cfg(not(target_arch = "wasm32"))]
        const _: $crate::__private::Hooks = $crate::__private::Hooks::of::<$plugin>();
    };
}

impl PluginError {
    /// The input is wrong; `msg` says what to fix.
    ///
    /// ```
    /// # use baseplate_sdk::PluginError;
    /// let e = PluginError::invalid("`name` must not be empty");
    /// assert_eq!(e.kind(), "invalid");
    /// assert_eq!(e.message(), "`name` must not be empty");
    /// ```
    pub fn invalid(msg: impl Into<String>) -> Self {
        PluginError::Invalid(msg.into())
    }

    /// A business rule refuses the request (sold out, expired, limit reached, ...).
    ///
    /// ```
    /// # use baseplate_sdk::PluginError;
    /// assert_eq!(PluginError::refused("sold out"), PluginError::Refused("sold out".into()));
    /// ```
    pub fn refused(msg: impl Into<String>) -> Self {
        PluginError::Refused(msg.into())
    }

    /// Something the request names does not exist.
    ///
    /// ```
    /// # use baseplate_sdk::PluginError;
    /// assert_eq!(PluginError::not_found("no coupon cpn_1").kind(), "not-found");
    /// ```
    pub fn not_found(msg: impl Into<String>) -> Self {
        PluginError::NotFound(msg.into())
    }

    /// The state changed under the request; retrying may succeed.
    ///
    /// ```
    /// # use baseplate_sdk::PluginError;
    /// assert_eq!(PluginError::conflict("the group just filled").kind(), "conflict");
    /// ```
    pub fn conflict(msg: impl Into<String>) -> Self {
        PluginError::Conflict(msg.into())
    }

    /// The plugin could not do its work.
    ///
    /// ```
    /// # use baseplate_sdk::PluginError;
    /// assert_eq!(PluginError::internal("corrupt state").kind(), "internal");
    /// ```
    pub fn internal(msg: impl Into<String>) -> Self {
        PluginError::Internal(msg.into())
    }

    /// The answer to an action the plugin does not know: not-found, "unknown action
    /// `name`" (what the default [`Plugin::handle_action`] returns).
    ///
    /// ```
    /// # use baseplate_sdk::PluginError;
    /// assert_eq!(PluginError::unknown_action("fly").message(), "unknown action `fly`");
    /// ```
    pub fn unknown_action(name: &str) -> Self {
        PluginError::not_found(format!("unknown action `{name}`"))
    }

    /// The human-readable message, whatever the kind.
    ///
    /// ```
    /// # use baseplate_sdk::PluginError;
    /// assert_eq!(PluginError::conflict("retry").message(), "retry");
    /// ```
    pub fn message(&self) -> &str {
        match self {
            PluginError::Invalid(m)
            | PluginError::Refused(m)
            | PluginError::NotFound(m)
            | PluginError::Conflict(m)
            | PluginError::Internal(m) => m,
        }
    }

    /// The kind as the WIT names it: `invalid`, `refused`, `not-found`, `conflict` or
    /// `internal`.
    ///
    /// ```
    /// # use baseplate_sdk::PluginError;
    /// assert_eq!(PluginError::not_found("x").kind(), "not-found");
    /// ```
    pub fn kind(&self) -> &'static str {
        match self {
            PluginError::Invalid(_) => "invalid",
            PluginError::Refused(_) => "refused",
            PluginError::NotFound(_) => "not-found",
            PluginError::Conflict(_) => "conflict",
            PluginError::Internal(_) => "internal",
        }
    }
}

impl PriceStage {
    /// Runs `price` when this is `stage` and proposes nothing at the other stages: the body
    /// of [`Plugin::price`] for a plugin that prices at one stage.
    ///
    /// ```
    /// use baseplate_sdk::{Adjustment, PriceStage};
    /// let at_item = |stage: PriceStage| stage.only(PriceStage::Item, || {
    ///     Ok(vec![Adjustment { line: 0, amount: 1, label: "1 off".into(), reference: None }])
    /// });
    /// assert_eq!(at_item(PriceStage::Item)?.len(), 1);
    /// assert!(at_item(PriceStage::Coupon)?.is_empty());
    /// # Ok::<(), baseplate_sdk::PluginError>(())
    /// ```
    pub fn only(
        self,
        stage: PriceStage,
        price: impl FnOnce() -> Result<Vec<Adjustment>>,
    ) -> Result<Vec<Adjustment>> {
        if self == stage {
            price()
        } else {
            Ok(Vec::new())
        }
    }
}

impl Actor {
    /// The member id if a member is acting.
    ///
    /// ```
    /// # use baseplate_sdk::Actor;
    /// assert_eq!(Actor::Member("m1".into()).member_id(), Some("m1"));
    /// assert_eq!(Actor::System.member_id(), None);
    /// ```
    pub fn member_id(&self) -> Option<&str> {
        match self {
            Actor::Member(id) => Some(id),
            _ => None,
        }
    }

    /// True for shop staff and for the platform itself: the actors a merchant-only action
    /// accepts.
    ///
    /// ```
    /// # use baseplate_sdk::Actor;
    /// assert!(Actor::System.is_trusted());
    /// assert!(!Actor::Member("m1".into()).is_trusted());
    /// ```
    pub fn is_trusted(&self) -> bool {
        matches!(self, Actor::Staff(_) | Actor::System)
    }

    /// Refuses anyone but shop staff and the platform, with "only shop staff can
    /// `what`". The manifest's `actors` already keep members out of staff actions; this is
    /// the plugin's own check, for actions open to both that do more for staff.
    ///
    /// # Errors
    /// [`PluginError::Refused`] for a member.
    ///
    /// ```
    /// # use baseplate_sdk::Actor;
    /// assert!(Actor::Staff("key_1".into()).staff_only("create templates").is_ok());
    /// let err = Actor::Member("m1".into()).staff_only("create templates").unwrap_err();
    /// assert_eq!(err.message(), "only shop staff can create templates");
    /// ```
    pub fn staff_only(&self, what: &str) -> Result<()> {
        if self.is_trusted() {
            Ok(())
        } else {
            Err(PluginError::refused(format!("only shop staff can {what}")))
        }
    }

    /// The acting member's id, for actions a member does for themselves; refuses staff
    /// and the platform with "only a member can `what`".
    ///
    /// # Errors
    /// [`PluginError::Refused`] for staff or the platform.
    ///
    /// ```
    /// # use baseplate_sdk::Actor;
    /// assert_eq!(Actor::Member("m1".into()).member_only("start a bargain").unwrap(), "m1");
    /// let err = Actor::System.member_only("start a bargain").unwrap_err();
    /// assert_eq!(err.message(), "only a member can start a bargain");
    /// ```
    pub fn member_only(&self, what: &str) -> Result<&str> {
        self.member_id()
            .ok_or_else(|| PluginError::refused(format!("only a member can {what}")))
    }

    /// The member an action is for: a member acts for themselves (naming nobody, or
    /// themselves); staff and the platform name one with `named` (usually the input's
    /// `member_id`), who must be a member of this shop. Needs the `shop-data` capability
    /// for staff calls.
    ///
    /// # Errors
    /// [`PluginError::Refused`] when a member names someone else,
    /// [`PluginError::Invalid`] when staff name nobody, [`PluginError::NotFound`] when
    /// staff name someone who is not a member of this shop.
    ///
    /// ```
    /// # use baseplate_sdk::{Actor, testing};
    /// let host = testing::MockHost::install();
    /// host.add_member(testing::member("m_1"));
    /// let staff = Actor::Staff("key_1".into());
    /// assert_eq!(staff.member_for(Some("m_1".into())).unwrap(), "m_1");
    /// assert_eq!(
    ///     staff.member_for(Some("m_404".into())).unwrap_err().message(),
    ///     "member m_404 is not a member of this shop"
    /// );
    /// assert_eq!(Actor::Member("m_2".into()).member_for(None).unwrap(), "m_2");
    /// assert!(Actor::Member("m_2".into()).member_for(Some("m_1".into())).is_err());
    /// ```
    pub fn member_for(&self, named: Option<String>) -> Result<String> {
        match (self, named) {
            (Actor::Member(me), None) => Ok(me.clone()),
            (Actor::Member(me), Some(other)) if *me == other => Ok(other),
            (Actor::Member(_), Some(_)) => {
                Err(PluginError::refused("members can only act for themselves"))
            }
            (_, Some(member)) => {
                if shop::member(&member).is_none() {
                    return Err(PluginError::not_found(format!(
                        "member {member} is not a member of this shop"
                    )));
                }
                Ok(member)
            }
            (_, None) => Err(PluginError::invalid(
                "`member_id` is required when staff act for a member",
            )),
        }
    }
}

/// Reads the merchant's configuration from `ctx` into `T`. An empty config reads as `{}`.
///
/// # Errors
/// [`PluginError::Invalid`] carrying serde's message (which names the offending field).
///
/// ```
/// # use baseplate_sdk::{ctx_config, CallContext};
/// #[derive(serde::Deserialize)]
/// #[serde(deny_unknown_fields)]
/// struct Config { min_amount: i64 }
///
/// let ctx = baseplate_sdk::testing::MockHost::install().context(r#"{"min_amount": 100}"#);
/// assert_eq!(ctx_config::<Config>(&ctx).unwrap().min_amount, 100);
/// ```
pub fn ctx_config<T: DeserializeOwned>(ctx: &CallContext) -> Result<T> {
    parse_config(&ctx.config)
}

/// Parses configuration JSON into `T`, as [`ctx_config`] does; for
/// [`Plugin::validate_config`], which gets the text beside a [`ConfigContext`].
///
/// # Errors
/// [`PluginError::Invalid`] with `invalid config: ` and serde's message.
///
/// ```
/// # use baseplate_sdk::parse_config;
/// #[derive(serde::Deserialize, Debug)]
/// #[serde(deny_unknown_fields)]
/// struct Config { min_amount: i64 }
///
/// let err = parse_config::<Config>(r#"{"minimum": 1}"#).unwrap_err();
/// assert!(err.message().starts_with("invalid config: unknown field `minimum`"));
/// ```
pub fn parse_config<T: DeserializeOwned>(config: &str) -> Result<T> {
    from_json(config).map_err(|e| PluginError::invalid(format!("invalid config: {e}")))
}

/// Parses an action's or checkout's JSON `input` into `T`. An empty input reads as `{}`, so
/// actions without parameters accept an empty body.
///
/// # Errors
/// [`PluginError::Invalid`] with `invalid input: ` and serde's message.
///
/// ```
/// # use baseplate_sdk::parse_json;
/// #[derive(serde::Deserialize, Debug)]
/// struct Claim { template_id: String }
///
/// assert_eq!(parse_json::<Claim>(r#"{"template_id":"tpl_1"}"#).unwrap().template_id, "tpl_1");
/// let err = parse_json::<Claim>("{}").unwrap_err();
/// assert!(err.message().contains("missing field `template_id`"));
/// ```
pub fn parse_json<T: DeserializeOwned>(input: &str) -> Result<T> {
    from_json(input).map_err(|e| PluginError::invalid(format!("invalid input: {e}")))
}

/// Serializes an action's output to JSON.
///
/// # Errors
/// [`PluginError::Internal`] if `value` cannot be represented as JSON (e.g. a map with
/// non-string keys).
///
/// ```
/// assert_eq!(baseplate_sdk::to_json(&[1, 2]).unwrap(), "[1,2]");
/// ```
pub fn to_json<T: Serialize + ?Sized>(value: &T) -> Result<String> {
    serde_json::to_string(value)
        .map_err(|e| PluginError::internal(format!("cannot encode output: {e}")))
}

fn from_json<T: DeserializeOwned>(text: &str) -> serde_json::Result<T> {
    let text = if text.trim().is_empty() { "{}" } else { text };
    serde_json::from_str(text)
}

#[cfg(test)]
mod tests {
    use super::*;

    struct Defaults;
    impl Plugin for Defaults {}
    register_plugin!(Defaults);

    #[test]
    fn defaults() {
        let host = testing::MockHost::install();
        let ctx = host.context("{}");
        let cfg = host.config_context(None);
        assert!(Defaults::validate_config(&cfg, r#"{"a":1}"#).is_ok());
        assert_eq!(
            Defaults::validate_config(&cfg, "{").unwrap_err().kind(),
            "invalid"
        );
        let cart = Cart {
            member_id: None,
            lines: Vec::new(),
            input: None,
        };
        assert!(
            Defaults::price(&ctx, PriceStage::Item, &cart)
                .unwrap()
                .is_empty()
        );
        let err = Defaults::handle_action(&ctx, &Actor::System, "nope", "{}").unwrap_err();
        assert_eq!(err, PluginError::NotFound("unknown action `nope`".into()));
        assert!(Defaults::fire_timer(&ctx, "t", b"").is_ok());
    }

    #[test]
    fn config_and_input_errors_name_the_field() {
        #[derive(serde::Deserialize, Debug)]
        #[serde(deny_unknown_fields)]
        #[allow(dead_code)]
        struct Cfg {
            limit: Option<u32>,
        }
        let mut ctx = testing::MockHost::install().context("");
        assert!(ctx_config::<Cfg>(&ctx).is_ok());
        ctx.config = r#"{"limt": 3}"#.into();
        let err = ctx_config::<Cfg>(&ctx).unwrap_err();
        assert_eq!(err.kind(), "invalid");
        assert!(err.message().contains("unknown field `limt`"), "{err:?}");
        assert!(
            parse_json::<Cfg>("[")
                .unwrap_err()
                .message()
                .starts_with("invalid input:")
        );
    }

    #[test]
    fn actor_checks() {
        let member = Actor::Member("m1".into());
        assert_eq!(member.member_only("help").unwrap(), "m1");
        assert_eq!(
            Actor::Staff("k".into()).member_only("help").unwrap_err(),
            PluginError::refused("only a member can help")
        );
        assert_eq!(
            member.staff_only("end activities").unwrap_err(),
            PluginError::refused("only shop staff can end activities")
        );
        assert!(Actor::System.staff_only("x").is_ok());
    }

    /// The crate carries its own copy of the contract so it can be published; in this
    /// repository that copy must be the frozen `wit/v0.2.0` folder, byte for byte.
    #[test]
    fn the_wit_inside_the_crate_is_the_frozen_contract() {
        let repo = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../wit/v0.2.0");
        if !repo.is_dir() {
            return; // packaged crate: no repository around it
        }
        let ours = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("wit");
        let names = |dir: &std::path::Path| {
            let mut names: Vec<_> = std::fs::read_dir(dir)
                .unwrap()
                .map(|e| e.unwrap().file_name())
                .collect();
            names.sort();
            names
        };
        assert_eq!(
            names(&ours),
            names(&repo),
            "sdk/wit and wit/v0.2.0 list other files"
        );
        for name in names(&repo) {
            let a = std::fs::read(ours.join(&name)).unwrap();
            let b = std::fs::read(repo.join(&name)).unwrap();
            assert!(
                a == b,
                "sdk/wit/{} differs from wit/v0.2.0/{0}: copy it again (cp wit/v0.2.0/* sdk/wit/)",
                name.to_string_lossy()
            );
        }
    }
}
