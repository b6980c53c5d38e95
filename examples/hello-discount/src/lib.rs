//! Hello discount: the smallest useful Baseplate plugin, written against the public SDK
//! only. At the order stage it takes 5% off every order worth at least `min_amount` 分
//! (after item-level promotions), spread over the lines in proportion to their amounts.
//!
//! Build the component with
//! `cargo build -p baseplate-hello-discount --target wasm32-wasip2 --release`;
//! test it natively with `cargo test -p baseplate-hello-discount`.

use baseplate_sdk::{
    Adjustment, CallContext, Cart, Plugin, PluginError, PriceStage, Result, apportion, parse_config,
};
use serde::Deserialize;

/// 5% in basis points.
const OFF_BP: i64 = 500;

/// The merchant's configuration, e.g. `{"min_amount": 10000}` (orders of 100.00 and up).
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Config {
    #[serde(default = "default_min_amount")]
    min_amount: i64,
}

fn default_min_amount() -> i64 {
    10_000
}

fn config(text: &str) -> Result<Config> {
    let config: Config = parse_config(text)?;
    if config.min_amount < 0 {
        return Err(PluginError::invalid("`min_amount` must be ≥ 0 (分)"));
    }
    Ok(config)
}

pub struct HelloDiscount;

impl Plugin for HelloDiscount {
    fn validate_config(text: &str) -> Result<()> {
        config(text).map(drop)
    }

    fn price(ctx: &CallContext, stage: PriceStage, cart: &Cart) -> Result<Vec<Adjustment>> {
        if stage != PriceStage::Order {
            return Ok(Vec::new());
        }
        let Config { min_amount } = config(&ctx.config)?;
        let amounts: Vec<i64> = cart.lines.iter().map(|l| l.amount).collect();
        let total: i64 = amounts.iter().sum();
        if total < min_amount {
            return Ok(Vec::new());
        }
        // Rounded down, so the shop never gives away a fraction of a 分.
        let discount = total * OFF_BP / 10_000;
        let parts = apportion(discount, &amounts);
        Ok(cart
            .lines
            .iter()
            .zip(parts)
            .filter(|(_, part)| *part > 0)
            .map(|(line, part)| Adjustment {
                line: line.index,
                amount: part,
                label: "Hello: 5% off".into(),
                reference: None,
            })
            .collect())
    }
}

baseplate_sdk::register_plugin!(HelloDiscount);

#[cfg(test)]
mod tests {
    use super::*;
    use baseplate_sdk::testing::{self, MockHost};

    fn price(
        config: &str,
        stage: PriceStage,
        lines: Vec<baseplate_sdk::CartLine>,
    ) -> Result<Vec<(u32, i64)>> {
        let ctx = MockHost::install().context(config);
        let cart = testing::cart(Some("m1"), lines, None);
        Ok(HelloDiscount::price(&ctx, stage, &cart)?
            .iter()
            .map(|a| (a.line, a.amount))
            .collect())
    }

    #[test]
    fn five_percent_off_at_or_above_the_minimum() {
        let lines = || {
            vec![
                testing::cart_line(0, "tea", 3, 2000),
                testing::cart_line(1, "cup", 1, 4000),
            ]
        };
        assert_eq!(
            price("{}", PriceStage::Order, lines()).unwrap(),
            [(0, 300), (1, 200)]
        );
        assert_eq!(
            price(r#"{"min_amount": 10001}"#, PriceStage::Order, lines()).unwrap(),
            []
        );
        assert_eq!(price("{}", PriceStage::Item, lines()).unwrap(), []);
    }

    #[test]
    fn odd_amounts_round_down_and_still_sum() {
        let lines = vec![
            testing::cart_line(0, "a", 1, 3333),
            testing::cart_line(1, "b", 1, 6667),
        ];
        let cuts = price(r#"{"min_amount": 0}"#, PriceStage::Order, lines).unwrap();
        assert_eq!(cuts.iter().map(|c| c.1).sum::<i64>(), 500);
    }

    #[test]
    fn config_is_checked() {
        assert!(HelloDiscount::validate_config(r#"{"min_amount": 5000}"#).is_ok());
        assert!(HelloDiscount::validate_config(r#"{"min_amount": -1}"#).is_err());
        let err = HelloDiscount::validate_config(r#"{"minimum": 1}"#).unwrap_err();
        assert!(err.message().contains("unknown field `minimum`"), "{err:?}");
    }
}
