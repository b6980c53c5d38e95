//! Live sale (直播带货): staff schedule live sessions and stock them with live-only items
//! (live price, live stock, a per-member limit per session) that they put on and off the
//! shelf during the stream; members enter the room (counted as viewers) and buy with
//! `"plugins": {"live-sale": {"session_id": …}}` at checkout.
//!
//! - Item price stage: a shelved live item of a live session costs its live price.
//! - Order creation attributes the order to the session (`live-sale.session_id`), takes the
//!   live stock (flash-sale stock is taken at order time, so the last unit sells once) and
//!   the member's quota, and schedules an unpaid timer (`unpaid_timeout_secs`).
//! - The timer cancels a still-unpaid order; the order-closed event then returns its stock
//!   and quota, once.
//! - Order paid / refunded / closed events feed per-session stats, each counted once.
//!
//! A session's status comes from the clock (live from `starts_at`, ended at `ends_at`) and
//! from staff, who may start early and end early but never reopen. See `plugin.toml` for
//! the actions and the tests for their JSON shapes.

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
use fields::{int_in, read_config};

/// The plugin, as the host sees it.
pub struct LiveSale;

/// The merchant's configuration.
struct Config {
    /// An order from a live room that is still unpaid this long after creation is cancelled
    /// and its live stock returned (30..=3600, default 300): short, so stock held by
    /// hesitant buyers goes back on sale while the stream is still running.
    unpaid_timeout_secs: i64,
}

impl Config {
    fn parse(text: &str) -> Result<Config> {
        let secs = read_config(text, &["unpaid_timeout_secs"], |f| {
            f.get(
                "unpaid_timeout_secs",
                "an integer 30..=3600 (seconds)",
                int_in(30..=3600),
            )
        })?;
        Ok(Config {
            unpaid_timeout_secs: secs.unwrap_or(300),
        })
    }

    fn from_ctx(ctx: &CallContext) -> Result<Config> {
        Config::parse(&ctx.config)
    }
}

impl Plugin for LiveSale {
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

    fn fire_timer(_ctx: &CallContext, name: &str, _payload: &[u8]) -> Result<()> {
        checkout::fire_timer(name)
    }
}

baseplate_sdk::register_plugin!(LiveSale);
