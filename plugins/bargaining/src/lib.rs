//! The bargaining plugin (砍价): the merchant sets up activities on a SKU (start price →
//! floor price, helpers needed, a random or fixed cut, helps per helper, validity, stock,
//! per-buyer limit); a member starts a bargain and shares it; friends help, each cutting a
//! random amount drawn from the host's randomness and clamped so the price never goes below
//! the floor; the buyer then orders the SKU once at the bargained price (item price stage).
//!
//! Rules the product brief leaves open, decided here:
//! - Reaching `helpers_needed` is reaching the floor: the last needed helper cuts whatever
//!   is left, so "success" always means "at the floor price".
//! - Expiry is computed from the clock wherever a bargain is used (no timers): validity
//!   runs from the start; an ordered bargain no longer expires.
//! - An order that closes unpaid gives the bargain back (orderable again until it
//!   expires), with its unit of activity stock and the buyer's purchase; a full refund
//!   gives back the unit only.
//! - Ending an activity stops new bargains and helps; bargains already started may still
//!   be ordered within their validity.
//!
//! Actions, inputs and outputs are JSON; see `plugin.toml` and the tests for the shapes.

mod actions;
mod checkout;
/// Field-by-field input reading, from the SDK.
use baseplate_sdk::fields;
mod model;
#[cfg(test)]
mod tests;

use baseplate_sdk::{
    Actor, Adjustment, Attribute, CallContext, Cart, ConfigContext, Event, Order, Plugin,
    PriceStage, Result,
};
use fields::{read_config, text};

/// The plugin, as the host sees it.
pub struct Bargaining;

/// The merchant's configuration.
struct Config {
    /// The label of the bargain price on order lines (1..=40 characters).
    label: String,
}

const DEFAULT_LABEL: &str = "Bargain price";

impl Config {
    fn parse(config: &str) -> Result<Config> {
        let label = read_config(config, &["label"], |f| {
            f.get("label", "a label of 1..=40 characters", text(40))
        })?;
        Ok(Config {
            label: label.unwrap_or_else(|| DEFAULT_LABEL.into()),
        })
    }

    fn from_ctx(ctx: &CallContext) -> Result<Config> {
        Config::parse(&ctx.config)
    }
}

impl Plugin for Bargaining {
    fn validate_config(_ctx: &ConfigContext, config: &str) -> Result<()> {
        Config::parse(config).map(drop)
    }

    fn price(ctx: &CallContext, stage: PriceStage, cart: &Cart) -> Result<Vec<Adjustment>> {
        stage.only(PriceStage::Item, || checkout::price(ctx, cart))
    }

    fn order_created(
        ctx: &CallContext,
        order: &Order,
        input: Option<&str>,
    ) -> Result<Vec<Attribute>> {
        checkout::order_created(ctx, order, input)
    }

    fn handle_event(_ctx: &CallContext, event: &Event) -> Result<()> {
        checkout::handle_event(event)
    }

    fn handle_action(ctx: &CallContext, actor: &Actor, name: &str, input: &str) -> Result<String> {
        actions::handle(ctx, actor, name, input)
    }
}

baseplate_sdk::register_plugin!(Bargaining);
