//! The Baseplate guest SDK: everything a plugin author needs to write a Baseplate plugin, a
//! WebAssembly component that implements the `baseplate:plugin@0.1.0` contract (`wit/`).
//!
//! Implement [`Plugin`] (every hook has a sensible default), register it with
//! [`register_plugin!`], and talk to the host through the helper modules: [`state`],
//! [`timers`], [`shop`], [`orders`], [`ledger`], [`log`] and [`host`]. Build with
//! `cargo build --target wasm32-wasip2 --release`.
//!
//! On native targets the helpers run against an in-memory [`testing::MockHost`] instead of
//! the real host, so a plugin's logic is unit-tested with plain `cargo test`, against
//! fixtures, without a server.
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

#![warn(missing_docs)]

pub mod fields;
pub mod host;
pub mod ledger;
pub mod log;
pub mod money;
pub mod orders;
pub mod shop;
pub mod state;
mod sys;
#[cfg(not(target_arch = "wasm32"))]
pub mod testing;
pub mod timers;

/// The raw bindings generated from the WIT contract. Plugins use the re-exported types and
/// the helper modules instead; [`register_plugin!`] uses the export macro in here.
#[doc(hidden)]
#[allow(missing_docs)]
pub mod bindings {
    wit_bindgen::generate!({
        path: "../wit/v0.1.0",
        world: "plugin",
        pub_export_macro: true,
        export_macro_name: "export_plugin_bindings",
        default_bindings_module: "baseplate_sdk::bindings",
        additional_derives: [PartialEq, Eq],
    });
}

pub use bindings::baseplate::plugin::types::{
    Actor, Adjustment, Attribute, Balance, CallContext, Cart, CartLine, Event, LedgerEntry,
    LineAdjustment, LineRefund, Member, Money, Order, OrderLine, OrderRefunded, OrderStatus, Party,
    PaymentStatus, PluginError, PriceStage, Product, Refund, RefundState, Sku, Timestamp,
};
pub use money::apportion;

use serde::Serialize;
use serde::de::DeserializeOwned;

/// The result of every hook and fallible helper.
pub type Result<T, E = PluginError> = core::result::Result<T, E>;

/// A Baseplate plugin: one associated function per hook of the contract's `hooks`
/// interface. Override the hooks your manifest declares; the host never calls the others,
/// and the defaults are harmless if it did.
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
    /// Checks the merchant's configuration before the host saves it. The default accepts
    /// any valid JSON.
    fn validate_config(config: &str) -> Result<()> {
        serde_json::from_str::<serde::de::IgnoredAny>(config)
            .map(drop)
            .map_err(|e| PluginError::invalid(format!("config is not valid JSON: {e}")))
    }

    /// Proposes discounts for `cart` at `stage`; must not write state. The default proposes
    /// none.
    fn price(ctx: &CallContext, stage: PriceStage, cart: &Cart) -> Result<Vec<Adjustment>> {
        let _ = (ctx, stage, cart);
        Ok(Vec::new())
    }

    /// May refuse a checkout with a reason the buyer reads. The default accepts.
    fn validate_checkout(ctx: &CallContext, cart: &Cart) -> Result<()> {
        let _ = (ctx, cart);
        Ok(())
    }

    /// Runs in the checkout's transaction once `order` exists; `input` is what the buyer
    /// passed to this plugin. The returned attributes are snapshotted on the order. The
    /// default does nothing and returns none.
    fn order_created(
        ctx: &CallContext,
        order: &Order,
        input: Option<&str>,
    ) -> Result<Vec<Attribute>> {
        let _ = (ctx, order, input);
        Ok(Vec::new())
    }

    /// Reacts to a subscribed event. The default ignores it.
    fn handle_event(ctx: &CallContext, event: &Event) -> Result<()> {
        let _ = (ctx, event);
        Ok(())
    }

    /// Runs the plugin's own action `name` with JSON `input`, returning JSON. The default
    /// knows no actions.
    fn handle_action(ctx: &CallContext, actor: &Actor, name: &str, input: &str) -> Result<String> {
        let _ = (ctx, actor, input);
        Err(PluginError::not_found(format!("unknown action `{name}`")))
    }

    /// A timer scheduled with [`timers::schedule`] is due. The default ignores it.
    fn fire_timer(ctx: &CallContext, name: &str, payload: &[u8]) -> Result<()> {
        let _ = (ctx, name, payload);
        Ok(())
    }
}

/// Exports a [`Plugin`] implementation as the component's `hooks`. Invoke it once, at the
/// crate root of a `cdylib` plugin crate.
///
/// ```no_run
/// struct MyPlugin;
/// impl baseplate_sdk::Plugin for MyPlugin {}
/// baseplate_sdk::register_plugin!(MyPlugin);
/// ```
#[macro_export]
macro_rules! register_plugin {
    ($plugin:ty) => {
        const _: () = {
            struct BaseplateExports;

            impl $crate::bindings::exports::baseplate::plugin::hooks::Guest for BaseplateExports {
                fn validate_config(config: ::std::string::String) -> $crate::Result<()> {
                    <$plugin as $crate::Plugin>::validate_config(&config)
                }
                fn price(
                    ctx: $crate::CallContext,
                    stage: $crate::PriceStage,
                    cart: $crate::Cart,
                ) -> $crate::Result<::std::vec::Vec<$crate::Adjustment>> {
                    <$plugin as $crate::Plugin>::price(&ctx, stage, &cart)
                }
                fn validate_checkout(ctx: $crate::CallContext, cart: $crate::Cart) -> $crate::Result<()> {
                    <$plugin as $crate::Plugin>::validate_checkout(&ctx, &cart)
                }
                fn order_created(
                    ctx: $crate::CallContext,
                    order: $crate::Order,
                    input: ::std::option::Option<::std::string::String>,
                ) -> $crate::Result<::std::vec::Vec<$crate::Attribute>> {
                    <$plugin as $crate::Plugin>::order_created(&ctx, &order, input.as_deref())
                }
                fn handle_event(ctx: $crate::CallContext, event: $crate::Event) -> $crate::Result<()> {
                    <$plugin as $crate::Plugin>::handle_event(&ctx, &event)
                }
                fn handle_action(
                    ctx: $crate::CallContext,
                    actor: $crate::Actor,
                    name: ::std::string::String,
                    input: ::std::string::String,
                ) -> $crate::Result<::std::string::String> {
                    <$plugin as $crate::Plugin>::handle_action(&ctx, &actor, &name, &input)
                }
                fn fire_timer(
                    ctx: $crate::CallContext,
                    name: ::std::string::String,
                    payload: ::std::vec::Vec<u8>,
                ) -> $crate::Result<()> {
                    <$plugin as $crate::Plugin>::fire_timer(&ctx, &name, &payload)
                }
            }

            // Natively there is no component to export to (and the linker rejects the
            // exports' names), but the impl above still type-checks the plugin.
            #[cfg(target_arch = "wasm32")]
            $crate::bindings::export_plugin_bindings!(BaseplateExports with_types_in $crate::bindings);

            // Marks the hooks as used natively, where nothing exports them.
            use $crate::bindings::exports::baseplate::plugin::hooks::Guest as _;
            let _ = (
                BaseplateExports::validate_config,
                BaseplateExports::price,
                BaseplateExports::validate_checkout,
                BaseplateExports::order_created,
                BaseplateExports::handle_event,
                BaseplateExports::handle_action,
                BaseplateExports::fire_timer,
            );
        };
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
    pub fn refused(msg: impl Into<String>) -> Self {
        PluginError::Refused(msg.into())
    }

    /// Something the request names does not exist.
    pub fn not_found(msg: impl Into<String>) -> Self {
        PluginError::NotFound(msg.into())
    }

    /// The state changed under the request; retrying may succeed.
    pub fn conflict(msg: impl Into<String>) -> Self {
        PluginError::Conflict(msg.into())
    }

    /// The plugin could not do its work.
    pub fn internal(msg: impl Into<String>) -> Self {
        PluginError::Internal(msg.into())
    }

    /// The human-readable message, whatever the kind.
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
    pub fn is_trusted(&self) -> bool {
        matches!(self, Actor::Staff(_) | Actor::System)
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
/// let ctx = CallContext {
///     shop_id: "s".into(), plugin: "p".into(), version: "0.1.0".into(),
///     config: r#"{"min_amount": 100}"#.into(), now: 0, currency: "CNY".into(),
/// };
/// assert_eq!(ctx_config::<Config>(&ctx).unwrap().min_amount, 100);
/// ```
pub fn ctx_config<T: DeserializeOwned>(ctx: &CallContext) -> Result<T> {
    parse_config(&ctx.config)
}

/// Parses configuration JSON into `T`, as [`ctx_config`] does; for
/// [`Plugin::validate_config`], which gets the text without a context.
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

    #[test]
    fn defaults() {
        let ctx = testing::MockHost::install().context("{}");
        assert!(Defaults::validate_config(r#"{"a":1}"#).is_ok());
        assert_eq!(
            Defaults::validate_config("{").unwrap_err().kind(),
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
}
