//! Free gift against the SDK's mock host, which enforces `plugin.toml`.

use super::FreeGift;
use baseplate_sdk::testing::{self, MockHost, assert_invalid};
use baseplate_sdk::{CartLine, PriceStage};

const CONFIG: &str = r#"{"gift_sku_id": "mug-sku", "threshold": 20000}"#;

fn host() -> MockHost {
    let host = MockHost::from_manifest(include_str!("../plugin.toml"));
    host.add_product(testing::product("mug", 3_000));
    host.set_config(CONFIG);
    host
}

/// (payable, gift line discount) once the host priced `lines`.
fn priced(host: &MockHost, lines: Vec<CartLine>) -> (i64, i64) {
    let cart = testing::cart(Some("m1"), lines, None);
    let priced = host.price_cart::<FreeGift>(&cart).unwrap();
    let order = priced.order("o1");
    let gift = order
        .lines
        .iter()
        .find(|l| l.sku_id == "mug-sku")
        .map_or(0, |l| l.discount);
    (order.payable_amount, gift)
}

#[test]
fn the_gift_is_free_at_the_threshold() {
    let host = host();
    let lines = vec![
        testing::cart_line(0, "tea", 2, 10_000),
        testing::cart_line(1, "mug", 1, 3_000),
    ];
    assert_eq!(priced(&host, lines), (20_000, 3_000));
}

#[test]
fn below_the_threshold_the_gift_is_paid_for() {
    let host = host();
    let lines = vec![
        testing::cart_line(0, "tea", 1, 19_999),
        testing::cart_line(1, "mug", 1, 3_000),
    ];
    assert_eq!(priced(&host, lines), (22_999, 0));
}

#[test]
fn only_max_units_are_free() {
    let host = host();
    let lines = vec![
        testing::cart_line(0, "tea", 3, 10_000),
        testing::cart_line(1, "mug", 3, 3_000),
    ];
    assert_eq!(priced(&host, lines), (36_000, 3_000));
    host.set_config(r#"{"gift_sku_id": "mug-sku", "threshold": 20000, "max_units": 2}"#);
    let lines = vec![
        testing::cart_line(0, "tea", 3, 10_000),
        testing::cart_line(1, "mug", 3, 3_000),
    ];
    assert_eq!(priced(&host, lines), (33_000, 6_000));
}

#[test]
fn the_gift_alone_does_not_reach_the_threshold() {
    let host = host();
    let lines = vec![testing::cart_line(0, "mug", 10, 3_000)];
    assert_eq!(priced(&host, lines), (30_000, 0));
}

#[test]
fn without_a_gift_sku_nothing_happens() {
    let host = host();
    host.set_config("{}");
    let cart = testing::cart(None, vec![testing::cart_line(0, "mug", 1, 3_000)], None);
    assert!(
        host.price::<FreeGift>(PriceStage::Order, &cart)
            .unwrap()
            .is_empty()
    );
}

#[test]
fn the_gift_sku_must_exist() {
    let host = host();
    assert!(host.validate_config::<FreeGift>(CONFIG).is_ok());
    assert_invalid(
        host.validate_config::<FreeGift>(r#"{"gift_sku_id": "vase-sku"}"#),
        "`gift_sku_id` vase-sku is not a SKU of this shop",
    );
    assert_invalid(
        host.validate_config::<FreeGift>(r#"{"gift_sku_id": "mug-sku", "max_units": 0}"#),
        "`max_units`",
    );
}
