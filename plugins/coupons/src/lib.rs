//! The coupons plugin (优惠券): merchants define coupon templates (fixed, percentage with a
//! cap, or random amount; amount or item-count thresholds; absolute or relative validity;
//! stock, per-member limits, applicable products, stacking), members claim coupons, and
//! checkout applies them at the coupon price stage, reserves them when the order is created,
//! uses them when it is paid and gives them back when it closes or is fully refunded.
//!
//! Split coupons (瓜分券, `split.rs`): a member launches a split of a split template, friends
//! join within its window, and when the last place fills the template's total is divided
//! (equally or at random, summing exactly, every share ≥ 1 分) into one ordinary
//! fixed-amount coupon per member. A split that does not fill in time fails and issues
//! nothing; a timer settles it at the window's end, and every access checks the clock too.
//!
//! Actions, inputs and outputs are JSON; see `plugin.toml` and the tests for the shapes.

mod actions;
mod checkout;
/// Field-by-field input reading, from the SDK.
use baseplate_sdk::fields;
mod model;
mod split;
#[cfg(test)]
mod split_tests;
#[cfg(test)]
mod tests;

use baseplate_sdk::{
    Actor, Adjustment, Attribute, CallContext, Cart, ConfigContext, Event, Order, Plugin,
    PriceStage, Result,
};
use fields::{int_in, read_config};

/// The plugin, as the host sees it.
pub struct Coupons;

/// The merchant's configuration.
struct Config {
    /// At most this many coupons on one order (1..=3, default 3).
    max_coupons_per_order: u32,
}

impl Config {
    fn parse(text: &str) -> Result<Config> {
        let max = read_config(text, &["max_coupons_per_order"], |f| {
            f.get("max_coupons_per_order", "an integer 1..=3", int_in(1..=3))
        })?;
        Ok(Config {
            max_coupons_per_order: max.unwrap_or(3) as u32,
        })
    }

    fn from_ctx(ctx: &CallContext) -> Result<Config> {
        Config::parse(&ctx.config)
    }
}

impl Plugin for Coupons {
    fn validate_config(_ctx: &ConfigContext, config: &str) -> Result<()> {
        Config::parse(config).map(drop)
    }

    fn price(ctx: &CallContext, stage: PriceStage, cart: &Cart) -> Result<Vec<Adjustment>> {
        stage.only(PriceStage::Coupon, || checkout::price(ctx, cart))
    }

    fn order_created(
        ctx: &CallContext,
        order: &Order,
        input: Option<&str>,
    ) -> Result<Vec<Attribute>> {
        checkout::order_created(ctx, order, input)
    }

    fn handle_event(ctx: &CallContext, event: &Event) -> Result<()> {
        checkout::handle_event(ctx, event)
    }

    fn handle_action(ctx: &CallContext, actor: &Actor, name: &str, input: &str) -> Result<String> {
        actions::handle(ctx, actor, name, input)
    }

    fn fire_timer(ctx: &CallContext, name: &str, _payload: &[u8]) -> Result<()> {
        split::fire_timer(ctx, name)
    }
}

baseplate_sdk::register_plugin!(Coupons);
