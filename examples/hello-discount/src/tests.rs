//! Hello discount's rules, run natively against the SDK's mock host, which enforces this
//! plugin's `plugin.toml`.

use super::HelloDiscount;
use baseplate_sdk::testing::{self, MockHost, assert_invalid};
use baseplate_sdk::{CartLine, Plugin, PriceStage, Result};

fn host() -> MockHost {
    MockHost::from_manifest(include_str!("../plugin.toml"))
}

/// (line, amount) of each adjustment the order stage proposes under `config`.
fn price(config: &str, lines: Vec<CartLine>) -> Result<Vec<(u32, i64)>> {
    let host = host();
    host.set_config(config);
    let cart = testing::cart(Some("m1"), lines, None);
    Ok(host
        .price::<HelloDiscount>(PriceStage::Order, &cart)?
        .iter()
        .map(|a| (a.line, a.amount))
        .collect())
}

fn tea_and_cup() -> Vec<CartLine> {
    vec![
        testing::cart_line(0, "tea", 3, 2000),
        testing::cart_line(1, "cup", 1, 4000),
    ]
}

#[test]
fn five_percent_off_at_or_above_the_minimum() {
    assert_eq!(price("{}", tea_and_cup()).unwrap(), [(0, 300), (1, 200)]);
    assert_eq!(
        price(r#"{"min_amount": 10001}"#, tea_and_cup()).unwrap(),
        []
    );
}

#[test]
fn only_the_order_stage_discounts() {
    let host = host();
    let cart = testing::cart(Some("m1"), tea_and_cup(), None);
    let item = HelloDiscount::price(&host.context("{}"), PriceStage::Item, &cart).unwrap();
    assert!(item.is_empty());
}

#[test]
fn odd_amounts_round_down_and_still_sum() {
    let lines = vec![
        testing::cart_line(0, "a", 1, 3333),
        testing::cart_line(1, "b", 1, 6667),
    ];
    let cuts = price(r#"{"min_amount": 0}"#, lines).unwrap();
    assert_eq!(cuts.iter().map(|c| c.1).sum::<i64>(), 500);
}

#[test]
fn the_host_applies_it_at_the_order_stage() {
    let host = host();
    let cart = testing::cart(Some("m1"), tea_and_cup(), None);
    let priced = host.price_cart::<HelloDiscount>(&cart).unwrap();
    assert_eq!(priced.total(), 9_500);
    assert_eq!(priced.order("o1").discount, 500);
}

#[test]
fn config_is_checked() {
    let host = host();
    assert!(
        host.validate_config::<HelloDiscount>(r#"{"min_amount": 5000}"#)
            .is_ok()
    );
    assert_invalid(
        host.validate_config::<HelloDiscount>(r#"{"min_amount": -1}"#),
        "`min_amount` must be an amount ≥ 0",
    );
    assert_invalid(
        host.validate_config::<HelloDiscount>(r#"{"minimum": 1}"#),
        "unknown field `minimum`",
    );
}
