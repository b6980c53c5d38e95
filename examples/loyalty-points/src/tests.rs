//! Loyalty points against the SDK's mock host, which enforces `plugin.toml` and keeps a
//! points ledger per member that never goes below zero.

use super::LoyaltyPoints;
use baseplate_sdk::testing::{self, MockHost, assert_invalid, assert_refused, buyer};
use baseplate_sdk::{Event, Order, PriceStage, RefundState};
use serde_json::json;

/// A host with member `m1` holding `points`.
fn host_with(points: i64) -> MockHost {
    let host = MockHost::from_manifest(include_str!("../plugin.toml"));
    let mut m = testing::member("m1");
    m.points = points;
    host.add_member(m);
    host
}

/// Prices a 100.00 tea order asking for `points`, creates it and runs `order-created`, as
/// the host does at checkout.
fn checkout(host: &MockHost, id: &str, points: i64) -> baseplate_sdk::Result<Order> {
    let input = json!({ "points": points }).to_string();
    let lines = vec![testing::cart_line(0, "tea", 2, 5_000)];
    let cart = testing::cart(Some("m1"), lines, Some(&input));
    let order = host.price_cart::<LoyaltyPoints>(&cart)?.order(id);
    host.order_created::<LoyaltyPoints>(&order, Some(&input))?;
    Ok(order)
}

fn event(host: &MockHost, e: Event) {
    host.handle_event::<LoyaltyPoints>(&e).unwrap();
}

#[test]
fn points_pay_part_of_the_order_and_are_spent_with_it() {
    let host = host_with(800);
    let order = checkout(&host, "o1", 300).unwrap();
    assert_eq!((order.discount, order.payable_amount), (300, 9_700));
    assert_eq!(order.lines[0].adjustments[0].label, "300 points");
    assert_eq!(host.points_balance("m1"), 500);
    let spent = &host.points_entries()[0];
    assert_eq!((spent.delta, spent.reference.as_deref()), (-300, Some("o1")));
}

#[test]
fn spending_is_capped_at_the_configured_share() {
    let host = host_with(20_000);
    // 50% of 100.00 at 1 分 a point: at most 5,000 points.
    let order = checkout(&host, "o1", 9_000).unwrap();
    assert_eq!(order.discount, 5_000);
    assert_eq!(host.points_balance("m1"), 15_000);
}

#[test]
fn nobody_spends_points_they_do_not_have() {
    let host = host_with(100);
    assert_refused(checkout(&host, "o1", 101), "you have 100 points");
    assert_eq!(host.points_balance("m1"), 100);
    let guest =
        testing::cart(None, vec![testing::cart_line(0, "tea", 1, 100)], Some(r#"{"points":1}"#));
    assert_refused(host.price::<LoyaltyPoints>(PriceStage::Coupon, &guest), "you have 0 points");
    let bad = testing::cart(Some("m1"), vec![], Some(r#"{"points":-1}"#));
    assert_invalid(host.price::<LoyaltyPoints>(PriceStage::Coupon, &bad), "invalid input");
}

#[test]
fn paying_earns_points_once() {
    let host = host_with(0);
    checkout(&host, "o1", 0).unwrap();
    let paid = host.pay("o1");
    event(&host, Event::OrderPaid(paid.clone()));
    event(&host, Event::OrderPaid(paid)); // redelivered: nothing more
    assert_eq!(host.points_balance("m1"), 100, "1 point per 1.00 of 100.00");
}

#[test]
fn refunds_return_spent_points_and_take_back_earned_ones() {
    let host = host_with(1_000);
    checkout(&host, "o1", 1_000).unwrap();
    event(&host, Event::OrderPaid(host.pay("o1")));
    // Paid 90.00: 90 points earned on top of the 0 left.
    assert_eq!(host.points_balance("m1"), 90);
    let half = host.refund("o1", "r1", 4_500, "one tin damaged");
    assert_eq!(half.order.refund_state, RefundState::Partial);
    event(&host, Event::OrderRefunded(half));
    // Half the spent points back (500), half the earned ones taken (45).
    assert_eq!(host.points_balance("m1"), 90 + 500 - 45);
    let rest = host.refund("o1", "r2", 4_500, "the other one too");
    event(&host, Event::OrderRefunded(rest.clone()));
    event(&host, Event::OrderRefunded(rest));
    assert_eq!(host.points_balance("m1"), 1_000, "back where it started");
}

#[test]
fn a_cancelled_paid_order_arrives_as_a_full_refund() {
    let host = host_with(300);
    checkout(&host, "o1", 300).unwrap();
    event(&host, Event::OrderPaid(host.pay("o1")));
    match host.cancel("o1", "cancelled") {
        e @ Event::OrderRefunded(_) => event(&host, e),
        other => panic!("a paid order never closes without a refund: {other:?}"),
    }
    assert_eq!(host.points_balance("m1"), 300);
}

#[test]
fn an_unpaid_order_that_closes_gives_the_points_back() {
    let host = host_with(300);
    checkout(&host, "o1", 200).unwrap();
    assert_eq!(host.points_balance("m1"), 100);
    let closed = host.cancel("o1", "payment_timeout");
    event(&host, closed);
    assert_eq!(host.points_balance("m1"), 300);
    assert!(host.state_snapshot().values().all(|v| !v.is_empty()));
}

#[test]
fn points_already_spent_elsewhere_are_not_taken_below_zero() {
    let host = host_with(0);
    checkout(&host, "o1", 0).unwrap();
    event(&host, Event::OrderPaid(host.pay("o1")));
    baseplate_sdk::points::adjust("m1", -60, "spent elsewhere", None).unwrap();
    event(&host, Event::OrderRefunded(host.refund("o1", "r1", 10_000, "returned")));
    assert_eq!(host.points_balance("m1"), 0);
}

#[test]
fn members_read_their_balance() {
    let host = host_with(42);
    let out = host.act::<LoyaltyPoints>(&buyer("m1"), "balance", json!({})).unwrap();
    assert_eq!(out["points"], 42);
}

#[test]
fn config_is_checked_and_sets_the_point_value() {
    let host = host_with(1_000);
    assert_invalid(
        host.validate_config::<LoyaltyPoints>(r#"{"max_share_bp": 10001}"#),
        "`max_share_bp`",
    );
    host.configure::<LoyaltyPoints>(r#"{"point_value": 10}"#).unwrap();
    // Worth 10 分 a point: 300 points take 30.00 off.
    let order = checkout(&host, "o1", 300).unwrap();
    assert_eq!(order.discount, 3_000);
    assert_eq!(host.points_balance("m1"), 700);
}
