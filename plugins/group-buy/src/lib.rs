//! The group-buy plugin (拼团). Staff create activities on a SKU: group size, validity,
//! group price (and an optional leader price), a window, per-order and per-buyer limits,
//! activity stock, whether the SKU may still be bought alone, new-customers-only joiners
//! (老带新) and virtual completion (模拟成团).
//!
//! A buyer opens a group by checking out with `"plugins": {"group-buy": {"activity_id": …}}`
//! and paying: the leader's payment starts the group's clock. Others join with
//! `{"activity_id": …, "group_id": …}`. Every member's order is held by the host: once paid
//! it waits in awaiting_confirmation. When the last slot is paid every order is confirmed at
//! once; when the group expires unfilled every paid member is refunded ("group failed") and
//! every unpaid order closed — unless enough members paid for a virtual completion.
//!
//! Slots are taken when the order is created (in the checkout's transaction, which the host
//! serializes per shop and plugin), so a group never has more members than its size; a
//! closed unpaid order gives its slot back.
//!
//! Actions, inputs and outputs are JSON; see `plugin.toml` and the tests for the shapes.

mod actions;
mod checkout;
/// Field-by-field input reading, from the SDK.
use baseplate_sdk::fields;
mod groups;
mod model;
#[cfg(test)]
mod tests;

use baseplate_sdk::{
    Actor, Adjustment, Attribute, CallContext, Cart, ConfigContext, Event, Order, Plugin,
    PriceStage, Result,
};
use fields::{int_in, read_config};

/// The plugin, as the host sees it.
pub struct GroupBuy;

/// The merchant's configuration.
struct Config {
    /// Validity of a group, in hours, for activities that do not set their own (default 24).
    default_validity_hours: u32,
}

impl Config {
    fn parse(text: &str) -> Result<Config> {
        let hours = read_config(text, &["default_validity_hours"], |f| {
            f.get(
                "default_validity_hours",
                "an integer 1..=720 (hours)",
                int_in(1..=720),
            )
        })?;
        Ok(Config {
            default_validity_hours: hours.unwrap_or(24) as u32,
        })
    }

    fn from_ctx(ctx: &CallContext) -> Result<Config> {
        Config::parse(&ctx.config)
    }
}

impl Plugin for GroupBuy {
    fn validate_config(_ctx: &ConfigContext, config: &str) -> Result<()> {
        Config::parse(config).map(drop)
    }

    fn price(ctx: &CallContext, stage: PriceStage, cart: &Cart) -> Result<Vec<Adjustment>> {
        stage.only(PriceStage::Item, || checkout::price(ctx, cart))
    }

    fn validate_checkout(ctx: &CallContext, cart: &Cart) -> Result<()> {
        checkout::validate_checkout(ctx, cart)
    }

    fn order_created(
        ctx: &CallContext,
        order: &Order,
        input: Option<&str>,
    ) -> Result<Vec<Attribute>> {
        checkout::order_created(ctx, order, input)
    }

    fn handle_event(ctx: &CallContext, event: &Event) -> Result<()> {
        groups::handle_event(ctx, event)
    }

    fn handle_action(ctx: &CallContext, actor: &Actor, name: &str, input: &str) -> Result<String> {
        actions::handle(ctx, actor, name, input)
    }

    fn fire_timer(ctx: &CallContext, name: &str, _payload: &[u8]) -> Result<()> {
        groups::fire_timer(ctx, name)
    }
}

baseplate_sdk::register_plugin!(GroupBuy);
