//! Free gift (满赠), a teaching example on the public SDK: when the rest of the order
//! reaches `threshold` 分 (after item-level promotions), up to `max_units` of the gift SKU in
//! the cart cost nothing — an order-stage adjustment on the gift line.
//!
//! Config: `{"gift_sku_id": "mug-sku", "threshold": 20000, "max_units": 1}`; without a gift
//! SKU the plugin does nothing. The SKU must exist in the shop (checked with
//! `shop::sku` when the merchant saves the config).

use baseplate_sdk::fields::{int_in, read_config, text};
use baseplate_sdk::{
    Adjustment, CallContext, Cart, ConfigContext, Plugin, PluginError, PriceStage, Result, shop,
};

struct Config {
    gift_sku_id: Option<String>,
    threshold: i64,
    max_units: i64,
}

fn config(text_: &str) -> Result<Config> {
    read_config(text_, &["gift_sku_id", "threshold", "max_units"], |f| {
        Ok(Config {
            gift_sku_id: f.get("gift_sku_id", "a SKU id", text(64))?,
            threshold: f
                .get("threshold", "an amount ≥ 0 (分)", int_in(0..=i64::MAX / 2))?
                .unwrap_or(0),
            max_units: f
                .get("max_units", "an integer 1..=100", int_in(1..=100))?
                .unwrap_or(1),
        })
    })
}

pub struct FreeGift;

impl Plugin for FreeGift {
    fn validate_config(_ctx: &ConfigContext, text: &str) -> Result<()> {
        match config(text)?.gift_sku_id {
            Some(sku) if shop::sku(&sku).is_none() => Err(PluginError::invalid(format!(
                "invalid config: `gift_sku_id` {sku} is not a SKU of this shop"
            ))),
            _ => Ok(()),
        }
    }

    fn price(ctx: &CallContext, stage: PriceStage, cart: &Cart) -> Result<Vec<Adjustment>> {
        let c = config(&ctx.config)?;
        let Some(gift) = c.gift_sku_id.filter(|_| stage == PriceStage::Order) else {
            return Ok(Vec::new());
        };
        let rest: i64 = cart
            .lines
            .iter()
            .filter(|l| l.sku_id != gift)
            .map(|l| l.amount)
            .sum();
        if rest < c.threshold {
            return Ok(Vec::new());
        }
        // The first gift line gets up to `max_units` units free, at what is left of them.
        let Some(line) = cart.lines.iter().find(|l| l.sku_id == gift && l.amount > 0) else {
            return Ok(Vec::new());
        };
        let units = i64::from(line.quantity).min(c.max_units);
        let amount = (line.unit_price * units).min(line.amount);
        let label = format!("Free gift ({units} × {})", line.product_id);
        Ok(vec![Adjustment {
            line: line.index,
            amount,
            label,
            reference: Some(gift),
        }])
    }
}

baseplate_sdk::register_plugin!(FreeGift);

#[cfg(test)]
mod tests;
