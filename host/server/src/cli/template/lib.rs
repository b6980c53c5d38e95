//! {{title}}: 5% off every order worth at least `min_amount` 分 (after item-level
//! promotions), spread over the lines in proportion to their amounts.

use baseplate_sdk::fields::{int_in, read_config};
use baseplate_sdk::money::spread_discount;
use baseplate_sdk::{Adjustment, CallContext, Cart, ConfigContext, Plugin, PriceStage, Result};

/// `{"min_amount": 10000}`: orders of 100.00 and up (the default).
fn min_amount(config: &str) -> Result<i64> {
    read_config(config, &["min_amount"], |f| {
        let min = f.get("min_amount", "an amount ≥ 0 (分)", int_in(0..=i64::MAX))?;
        Ok(min.unwrap_or(10_000))
    })
}

pub struct {{type}};

impl Plugin for {{type}} {
    fn validate_config(_ctx: &ConfigContext, config: &str) -> Result<()> {
        min_amount(config).map(drop)
    }

    fn price(ctx: &CallContext, stage: PriceStage, cart: &Cart) -> Result<Vec<Adjustment>> {
        let total: i64 = cart.lines.iter().map(|l| l.amount).sum();
        if stage != PriceStage::Order || total < min_amount(&ctx.config)? {
            return Ok(Vec::new());
        }
        // 5%, rounded down: the shop never gives away a fraction of a 分.
        Ok(spread_discount(cart, total / 20, "{{title}}: 5% off", None))
    }
}

baseplate_sdk::register_plugin!({{type}});

#[cfg(test)]
mod tests;
