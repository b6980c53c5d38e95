//! The plugin's rules, run natively against the SDK's mock host, which enforces this
//! plugin's `plugin.toml` (declared hooks, stages and capabilities).

use super::{{type}};
use baseplate_sdk::testing::{self, MockHost, assert_invalid};
use baseplate_sdk::{CartLine, PriceStage};

fn host() -> MockHost {
    MockHost::from_manifest(include_str!("../plugin.toml"))
}

fn tea_and_cup() -> Vec<CartLine> {
    vec![
        testing::cart_line(0, "tea", 3, 2000),
        testing::cart_line(1, "cup", 1, 6000),
    ]
}

#[test]
fn five_percent_off_at_or_above_the_minimum() {
    let host = host();
    let cart = testing::cart(Some("m1"), tea_and_cup(), None);
    let adj = host.price::<{{type}}>(PriceStage::Order, &cart).unwrap();
    let got: Vec<(u32, i64)> = adj.iter().map(|a| (a.line, a.amount)).collect();
    assert_eq!(got, [(0, 300), (1, 300)]);

    host.set_config(r#"{"min_amount": 12001}"#);
    assert!(host.price::<{{type}}>(PriceStage::Order, &cart).unwrap().is_empty());
}

#[test]
fn a_bad_minimum_is_refused_with_a_message() {
    let host = host();
    assert_invalid(
        host.validate_config::<{{type}}>(r#"{"min_amount": -1}"#),
        "min_amount",
    );
    assert!(host.validate_config::<{{type}}>("{}").is_ok());
}
