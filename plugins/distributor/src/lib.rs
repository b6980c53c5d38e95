//! The distributor commissions plugin (分销): members apply to promote the shop (approved at
//! once, or by staff), buyers bind to a distributor by the first share link they open or by
//! the inviter they joined through, and every paid order pays its buyer's distributor and
//! that distributor's own upline — at most two levels, never for recruiting — a commission
//! on what the buyer actually paid. Commission is pending during the freeze (the after-sale
//! window) and settled after it; refunds reverse it on the net, cancelling pending
//! commission or, once settled, netting against the next payout. Settled commission is
//! withdrawn through the shop's ledger.
//!
//! Money moves only through the ledger (account `commission` for the shop and the
//! distributor, `withdrawn` for payouts); this plugin's state holds the bindings and each
//! paid order's terms. Actions, inputs and outputs are JSON; see `plugin.toml`, the
//! modules and the tests for the shapes.

mod actions;
mod commission;
mod config;
/// Field-by-field input reading, from the SDK.
use baseplate_sdk::fields;
mod model;
#[cfg(test)]
mod tests;

use baseplate_sdk::{Actor, Attribute, CallContext, ConfigContext, Event, Order, Plugin, Result};

/// The plugin, as the host sees it.
pub struct Distributor;

impl Plugin for Distributor {
    fn validate_config(_ctx: &ConfigContext, config: &str) -> Result<()> {
        config::Config::parse(config).map(drop)
    }

    fn order_created(
        _ctx: &CallContext,
        order: &Order,
        input: Option<&str>,
    ) -> Result<Vec<Attribute>> {
        commission::order_created(order, input)
    }

    fn handle_event(ctx: &CallContext, event: &Event) -> Result<()> {
        commission::handle_event(ctx, event)
    }

    fn handle_action(ctx: &CallContext, actor: &Actor, name: &str, input: &str) -> Result<String> {
        actions::handle(ctx, actor, name, input)
    }
}

baseplate_sdk::register_plugin!(Distributor);
