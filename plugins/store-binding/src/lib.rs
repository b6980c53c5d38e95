//! Store-binding referral (门店导购): shop staff register outlets (physical stores, 门店)
//! and their employees (导购); a member becomes bound to one employee — and so to that
//! employee's outlet — by scanning the employee's code, opening the employee's share link,
//! or buying the shop's paid membership with the employee's code. Every order is attributed
//! to the employee and outlet the member is bound to when the order is created; the host
//! snapshots that attribution on the order, so later rebinding never moves old orders. A
//! paid membership credits the employee's and the outlet's `reward` accounts in the ledger
//! when it is paid, and a refund reverses that in proportion.
//!
//! The binding rules (see [`binding`]): re-binding to the same employee refreshes the
//! binding; another employee can never take a member inside the protection period; after
//! it, the `takeover` policy decides (`never` keeps the member until the binding lapses);
//! a lapsed binding can always be replaced; a dismissed employee gets no new bindings (and
//! no refreshes), while the bindings they have stay — and keep attributing orders — until
//! they lapse or another employee takes the member over under the usual rules. A binding's
//! validity and protection are fixed when it is made; a config change applies to later
//! (re)bindings, while the takeover policy is read at each attempt.
//!
//! Actions, checkout input and config are JSON; `plugin.toml` lists the actions and the
//! tests show every shape.

mod actions;
mod binding;
/// Field-by-field input reading, from the SDK.
use baseplate_sdk::fields;
mod model;
mod orders;
#[cfg(test)]
mod tests;

use baseplate_sdk::{
    Actor, Attribute, CallContext, ConfigContext, Event, Order, Plugin, PluginError, Result,
};
use fields::{Fields, int_in, read_config, text};

/// The plugin, as the host sees it.
pub struct StoreBinding;

/// The most days a binding's validity or protection can span (ten years).
const MAX_DAYS: i64 = 3650;
/// The largest reward share, in 分 (one million yuan): far above any membership price, low
/// enough that shares × quantity can never overflow.
const MAX_SHARE: i64 = 100_000_000;

/// What may happen when another employee tries to bind a member who is still bound.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Takeover {
    /// Never while the binding is valid: the member changes employee only after it lapses.
    Never,
    /// Whenever the member is not protected. Protection always holds (PRODUCT.md: "inside
    /// the protection period another employee cannot take the member"), so after the
    /// protection period this behaves like `AfterProtection`; it reads as the merchant's
    /// intent to have no lock beyond `protection_days`.
    Anytime,
    /// Once the protection period has passed.
    AfterProtection,
}

/// The shop's paid membership: buying `sku_id` through an employee credits the employee
/// and the employee's outlet (per unit, in 分).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Membership {
    pub sku_id: String,
    pub employee_share: i64,
    pub outlet_share: i64,
}

/// The merchant's configuration.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Config {
    /// How long a binding lasts from its last (re)binding; 0 = permanent.
    pub validity_days: i64,
    /// How long from its last (re)binding no other employee can take the member.
    pub protection_days: i64,
    pub takeover: Takeover,
    pub membership: Option<Membership>,
}

impl Config {
    fn parse(text: &str) -> Result<Config> {
        let fields = ["validity_days", "protection_days", "takeover", "membership"];
        read_config(text, &fields, Config::read)
    }

    fn read(f: &mut Fields) -> Result<Config> {
        let validity_days = f
            .get(
                "validity_days",
                "an integer 0..=3650 (days; 0 = permanent)",
                int_in(0..=MAX_DAYS),
            )?
            .unwrap_or(0);
        let protection_days = f
            .get(
                "protection_days",
                "an integer 0..=3650 (days)",
                int_in(0..=MAX_DAYS),
            )?
            .unwrap_or(0);
        if validity_days > 0 && protection_days > validity_days {
            return Err(PluginError::invalid(format!(
                "`protection_days` must be at most `validity_days` ({validity_days}): a binding \
                 cannot stay protected after it lapses"
            )));
        }
        let takeover = f
            .get(
                "takeover",
                "\"never\", \"anytime\" or \"after_protection\"",
                |v| match v.as_str()? {
                    "never" => Some(Takeover::Never),
                    "anytime" => Some(Takeover::Anytime),
                    "after_protection" => Some(Takeover::AfterProtection),
                    _ => None,
                },
            )?
            .unwrap_or(Takeover::Never);
        let membership = match f.get("membership", "null or an object", |v| {
            v.is_object().then(|| v.clone())
        })? {
            None => None,
            Some(v) => {
                let mut m = Fields::object(
                    "membership",
                    v,
                    &["sku_id", "employee_share", "outlet_share"],
                )?;
                let sku_id = m.req("sku_id", "the membership SKU's id", text(64))?;
                let share = "an integer 0..=100000000 (分 per membership sold)";
                let employee_share = m.req("employee_share", share, int_in(0..=MAX_SHARE))?;
                let outlet_share = m.req("outlet_share", share, int_in(0..=MAX_SHARE))?;
                m.finish()?;
                Some(Membership {
                    sku_id,
                    employee_share,
                    outlet_share,
                })
            }
        };
        Ok(Config {
            validity_days,
            protection_days,
            takeover,
            membership,
        })
    }

    fn from_ctx(ctx: &CallContext) -> Result<Config> {
        Config::parse(&ctx.config)
    }
}

impl Plugin for StoreBinding {
    fn validate_config(_ctx: &ConfigContext, config: &str) -> Result<()> {
        Config::parse(config).map(drop)
    }

    fn order_created(
        ctx: &CallContext,
        order: &Order,
        input: Option<&str>,
    ) -> Result<Vec<Attribute>> {
        orders::order_created(ctx, order, input)
    }

    fn handle_event(ctx: &CallContext, event: &Event) -> Result<()> {
        orders::handle_event(ctx, event)
    }

    fn handle_action(ctx: &CallContext, actor: &Actor, name: &str, input: &str) -> Result<String> {
        actions::handle(ctx, actor, name, input)
    }
}

baseplate_sdk::register_plugin!(StoreBinding);
