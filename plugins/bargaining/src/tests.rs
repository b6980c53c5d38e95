//! The bargaining rules, run natively against the SDK's mock host.

use crate::Bargaining;
use crate::model::HOUR_MS;
use baseplate_sdk::testing::{
    self, MockHost, assert_invalid, assert_refused, buyer as member, staff,
};
use baseplate_sdk::{
    Actor, Adjustment, Attribute, Cart, CartLine, Event, Order, OrderRefunded, OrderStatus,
    PaymentStatus, Plugin, PriceStage, Refund, RefundState, Result, host,
};
use serde_json::{Value, json};

/// The mock host enforces this plugin's manifest, as the real host does.
const MANIFEST: &str = include_str!("../plugin.toml");

const SKU: &str = "p1-sku";

/// What the plugin itself answers a call the host refuses before the plugin runs (an
/// undeclared action, an actor the action is not open to): its own guard.
fn guard(actor: &Actor, name: &str, input: Value) -> Result<Value> {
    MockHost::current()
        .set_config("{}")
        .act_unchecked::<Bargaining>(actor, name, input)
}

/// Runs an action as the host does: declared, open to the actor, atomic.
#[track_caller]
fn act(actor: &Actor, name: &str, input: Value) -> Result<Value> {
    MockHost::current()
        .set_config("{}")
        .act::<Bargaining>(actor, name, input)
}

/// A fresh host with product `p1` (SKU `p1-sku` at 100.00 CNY).
fn setup() -> MockHost {
    let host = MockHost::from_manifest(MANIFEST);
    host.add_product(testing::product("p1", 10_000));
    host
}

/// An activity on `p1-sku`: 100.00 → 50.00, 5 helpers, random cut 5.00..=15.00, one help
/// per helper, 24 h, must reach the floor, stock 10, one per buyer; plus `overrides`.
fn activity(overrides: Value) -> String {
    let mut input = json!({
        "name": "Tea bargain",
        "product_id": "p1",
        "sku_id": SKU,
        "start_price": 10_000,
        "floor_price": 5_000,
        "helpers_needed": 5,
        "cut": {"type": "random", "min": 500, "max": 1_500},
        "validity_hours": 24,
        "stock": 10,
    });
    for (k, v) in overrides.as_object().unwrap() {
        input[k] = v.clone();
    }
    let out = act(&staff(), "create-activity", input).unwrap();
    out["activity_id"].as_str().unwrap().to_string()
}

fn start(member_id: &str, activity_id: &str) -> Result<Value> {
    act(
        &member(member_id),
        "start",
        json!({ "activity_id": activity_id }),
    )
}

fn started(member_id: &str, activity_id: &str) -> String {
    start(member_id, activity_id).unwrap()["bargain_id"]
        .as_str()
        .unwrap()
        .to_string()
}

fn help(helper: &str, bargain_id: &str) -> Result<Value> {
    act(&member(helper), "help", json!({ "bargain_id": bargain_id }))
}

fn bargain(id: &str) -> Value {
    act(&staff(), "get-bargain", json!({ "bargain_id": id })).unwrap()
}

fn get_activity(id: &str) -> Value {
    act(&staff(), "get-activity", json!({ "activity_id": id })).unwrap()
}

/// Helps from fresh friends (`<bargain>-f1`, …) until the bargain succeeds; returns the cuts.
fn help_to_floor(bargain_id: &str) -> Vec<i64> {
    let mut cuts = Vec::new();
    for i in 1.. {
        let out = help(&format!("{bargain_id}-f{i}"), bargain_id).unwrap();
        cuts.push(out["cut"].as_i64().unwrap());
        if out["status"] == "succeeded" {
            return cuts;
        }
    }
    unreachable!()
}

fn input(bargain_id: &str) -> String {
    json!({ "bargain_id": bargain_id }).to_string()
}

fn cart_for(member_id: Option<&str>, lines: Vec<CartLine>, bargain_id: &str) -> Cart {
    testing::cart(member_id, lines, Some(&input(bargain_id)))
}

/// A cart line for `p1-sku` at 100.00.
fn line(index: u32, quantity: u32) -> CartLine {
    testing::cart_line(index, "p1", quantity, 10_000)
}

fn price_with(config: &str, cart: &Cart) -> Result<Vec<Adjustment>> {
    MockHost::current()
        .set_config(config)
        .price::<Bargaining>(PriceStage::Item, cart)
}

fn price(member_id: &str, bargain_id: &str) -> Result<Vec<Adjustment>> {
    price_with(
        "{}",
        &cart_for(Some(member_id), vec![line(0, 1)], bargain_id),
    )
}

/// The order the host would create from a one-line cart, with the `order-created` hook run
/// as the host runs it (the order exists in the mock while it runs, and is gone if it fails).
fn create_order(order_id: &str, member_id: &str, bargain_id: &str) -> Result<Vec<Attribute>> {
    let order = testing::order(order_id, Some(member_id), &[line(0, 1)]);
    let host = MockHost::current().set_config("{}");
    host.order_created::<Bargaining>(&order, Some(&input(bargain_id)))
}

/// An event the manifest does not subscribe to, handed to the hook directly (the host never
/// delivers it): the plugin must ignore it.
fn undeclared_event(event: Event) {
    let ctx = MockHost::current().context("{}");
    Bargaining::handle_event(&ctx, &event).unwrap();
}

#[track_caller]
fn event(event: Event) {
    let host = MockHost::current().set_config("{}");
    host.handle_event::<Bargaining>(&event).unwrap();
}

fn order_in(id: &str, status: OrderStatus, paid: bool, refund: RefundState) -> Order {
    let mut order = testing::order(id, Some("m1"), &[line(0, 1)]);
    order.status = status;
    if paid {
        order.payment_status = PaymentStatus::Paid;
        order.paid_amount = order.payable_amount;
    }
    order.refund_state = refund;
    order
}

fn closed_unpaid(id: &str) -> Order {
    order_in(id, OrderStatus::Closed, false, RefundState::None)
}

fn refunded(id: &str, state: RefundState) -> Event {
    Event::OrderRefunded(OrderRefunded {
        order: order_in(id, OrderStatus::Closed, true, state),
        refund: Refund {
            id: "r1".into(),
            amount: 100,
            lines: Vec::new(),
            reason: "changed mind".into(),
            created_at: MockHost::current().now(),
        },
    })
}

#[test]
fn config_is_validated() {
    assert!(
        MockHost::current()
            .validate_config::<Bargaining>("{}")
            .is_ok()
    );
    assert!(
        MockHost::current()
            .validate_config::<Bargaining>("")
            .is_ok()
    );
    assert!(
        MockHost::current()
            .validate_config::<Bargaining>(r#"{"label": "砍后价"}"#)
            .is_ok()
    );
    assert_invalid(
        MockHost::current().validate_config::<Bargaining>(r#"{"label": ""}"#),
        "invalid config: `label` must be a label of 1..=40 characters",
    );
    assert_invalid(
        MockHost::current().validate_config::<Bargaining>(r#"{"label": 5}"#),
        "`label` must be a label of 1..=40 characters",
    );
    assert_invalid(
        MockHost::current().validate_config::<Bargaining>(r#"{"lable": "x"}"#),
        "unknown field `lable`; allowed: label",
    );
    assert_invalid(
        MockHost::current().validate_config::<Bargaining>("{"),
        "not valid JSON",
    );
}

#[test]
fn create_activity_names_every_bad_field() {
    setup();
    let base = json!({
        "name": "Tea bargain",
        "product_id": "p1",
        "sku_id": SKU,
        "start_price": 10_000,
        "floor_price": 5_000,
        "helpers_needed": 5,
        "cut": {"type": "fixed", "amount": 1_000},
        "validity_hours": 24,
        "stock": 10,
    });
    let with = |k: &str, v: Value| {
        let mut input = base.clone();
        input[k] = v;
        act(&staff(), "create-activity", input)
    };
    assert_invalid(
        with("name", json!(" ")),
        "`name` must be a name of 1..=100 characters",
    );
    assert_invalid(
        with("start_price", json!(1)),
        "`start_price` must be an integer ≥ 2",
    );
    assert_invalid(
        with("floor_price", json!(10_000)),
        "`floor_price` must be an integer 1..=9999 (分), below `start_price`",
    );
    assert_invalid(with("floor_price", json!(0)), "`floor_price` must be");
    assert_invalid(
        with("helpers_needed", json!(0)),
        "`helpers_needed` must be an integer 1..=200",
    );
    assert_invalid(
        with("helpers_needed", json!(201)),
        "`helpers_needed` must be an integer 1..=200",
    );
    assert_invalid(
        with("cut", json!({"type": "half"})),
        "`cut.type` must be \"random\" or \"fixed\"",
    );
    assert_invalid(
        with("cut", json!({"type": "fixed", "amount": 5_001})),
        "`cut.amount` must be an integer 1..=5000",
    );
    assert_invalid(
        with("cut", json!({"type": "fixed", "amount": 10, "min": 1})),
        "unknown field `cut.min`",
    );
    assert_invalid(
        with("cut", json!({"type": "random", "min": 0, "max": 10})),
        "`cut.min` must be an integer 1..=5000",
    );
    assert_invalid(
        with("cut", json!({"type": "random", "min": 50, "max": 10})),
        "`cut.max` must be an integer 50..=5000",
    );
    assert_invalid(with("cut", json!(5)), "`cut` must be an object");
    assert_invalid(
        with("helps_per_helper", json!(0)),
        "`helps_per_helper` must be an integer 1..=100",
    );
    assert_invalid(
        with("validity_hours", json!(721)),
        "`validity_hours` must be an integer 1..=720",
    );
    assert_invalid(
        with("buy_at_current_price", json!("yes")),
        "`buy_at_current_price` must be true or false",
    );
    assert_invalid(
        with("stock", json!(0)),
        "`stock` must be an integer 1..=1000000",
    );
    assert_invalid(
        with("per_buyer_limit", json!(-1)),
        "`per_buyer_limit` must be an integer 1..=100",
    );
    assert_invalid(
        with("colour", json!("red")),
        "unknown field `colour`; allowed: name, product_id",
    );
    let mut no_stock = base.clone();
    no_stock.as_object_mut().unwrap().remove("stock");
    assert_invalid(
        act(&staff(), "create-activity", no_stock),
        "`stock` is required",
    );
    // The catalog is checked: the SKU exists in the product, and starts at or below its price.
    assert_invalid(
        with("product_id", json!("p9")),
        "`product_id`: product p9 does not exist",
    );
    assert_invalid(
        with("sku_id", json!("other-sku")),
        "`sku_id` must be a SKU of product p1: p1-sku",
    );
    assert_invalid(
        with("start_price", json!(10_001)),
        "`start_price` must be at most the SKU's price, 10000 (100.00 CNY)",
    );
    assert_refused(
        guard(&member("m1"), "create-activity", base.clone()),
        "only shop staff",
    );
    assert!(
        act(&staff(), "list-activities", json!({})).unwrap()["activities"]
            .as_array()
            .unwrap()
            .is_empty()
    );

    let out = act(&Actor::System, "create-activity", base).unwrap();
    assert!(out["activity_id"].as_str().unwrap().starts_with("bgn_"));
    assert_eq!(out["status"], "active");
    assert_eq!(out["helps_per_helper"], 1);
    assert_eq!(out["per_buyer_limit"], 1);
    assert_eq!(out["buy_at_current_price"], false);
    assert_eq!(out["remaining_stock"], 10);
    assert_eq!(out["cut"], json!({"type": "fixed", "amount": 1_000}));
}

#[test]
fn start_gives_the_start_price_and_the_expiry() {
    let host = setup();
    let a = activity(json!({ "validity_hours": 2 }));
    let out = start("m1", &a).unwrap();
    assert!(out["bargain_id"].as_str().unwrap().starts_with("brg_"));
    assert_eq!(out["price"], 10_000);
    assert_eq!(out["status"], "bargaining");
    assert_eq!(out["helpers"], 0);
    assert_eq!(out["helpers_needed"], 5);
    assert_eq!(out["expires_at"].as_i64(), Some(host.now() + 2 * HOUR_MS));
    assert_eq!(get_activity(&a)["bargains_started"], 1);
    assert_refused(
        guard(&staff(), "start", json!({ "activity_id": a })),
        "only a member can start",
    );
    assert_eq!(start("m1", "bgn_missing").unwrap_err().kind(), "not-found");
    assert_invalid(
        act(&member("m1"), "start", json!({ "activity": a })),
        "unknown field `activity`",
    );
}

#[test]
fn one_live_bargain_per_member_per_activity() {
    let host = setup();
    let a = activity(json!({}));
    let b = activity(json!({}));
    let first = started("m1", &a);
    assert_refused(
        start("m1", &a),
        &format!("your bargain {first} on activity {a} is still live"),
    );
    // Another activity, another member: fine.
    started("m1", &b);
    started("m2", &a);
    // Succeeded but not ordered is still live.
    help_to_floor(&first);
    assert_refused(start("m1", &a), "is still live");
    // Expired is not.
    host.advance(24 * HOUR_MS);
    let second = started("m1", &a);
    assert_ne!(first, second);
}

#[test]
fn ending_an_activity_stops_starts_and_helps_but_not_orders() {
    setup();
    let a = activity(json!({}));
    let b1 = started("m1", &a);
    help_to_floor(&b1);
    let b2 = started("m2", &a);
    assert_refused(
        guard(&member("m1"), "end-activity", json!({ "activity_id": a })),
        "only shop staff",
    );
    let out = act(&staff(), "end-activity", json!({ "activity_id": a })).unwrap();
    assert_eq!(out["status"], "ended");
    let ended_at = out["ended_at"].clone();
    // Ending twice changes nothing.
    assert_eq!(
        act(&staff(), "end-activity", json!({ "activity_id": a })).unwrap()["ended_at"],
        ended_at
    );
    assert_refused(start("m3", &a), "has ended");
    assert_refused(help("f9", &b2), "has ended");
    create_order("o1", "m1", &b1).unwrap();
}

#[test]
fn no_self_help_and_one_help_per_helper_per_bargain() {
    setup();
    let a = activity(json!({ "helps_per_helper": 5 }));
    let b = started("m1", &a);
    assert_refused(help("m1", &b), "you cannot help your own bargain");
    help("f1", &b).unwrap();
    assert_refused(
        help("f1", &b),
        &format!("you have already helped bargain {b}"),
    );
    let view = bargain(&b);
    assert_eq!(view["helpers"], 1);
    assert_eq!(view["helps"][0]["helper_id"], "f1");
    assert_refused(
        guard(&staff(), "help", json!({ "bargain_id": b })),
        "only a member can help",
    );
    assert_eq!(help("f2", "brg_missing").unwrap_err().kind(), "not-found");
}

#[test]
fn a_helpers_helps_are_capped_per_activity() {
    setup();
    let a = activity(json!({ "helps_per_helper": 2 }));
    let other = activity(json!({}));
    let bargains: Vec<String> = (1..=3).map(|i| started(&format!("m{i}"), &a)).collect();
    help("f1", &bargains[0]).unwrap();
    help("f1", &bargains[1]).unwrap();
    assert_refused(
        help("f1", &bargains[2]),
        &format!("you have used all 2 of your helps in bargain activity {a}"),
    );
    // Nothing of the refused help stuck; other helpers and other activities are separate.
    assert_eq!(bargain(&bargains[2])["helpers"], 0);
    help("f2", &bargains[2]).unwrap();
    help("f1", &started("m1", &other)).unwrap();
}

#[test]
fn cuts_are_drawn_by_the_hosts_randomness_within_the_range() {
    let host = setup();
    let a = activity(json!({
        "start_price": 10_000, "floor_price": 100, "helpers_needed": 200,
        "cut": {"type": "random", "min": 10, "max": 40},
        "helps_per_helper": 100,
    }));
    let b = started("m1", &a);
    let mut seen = std::collections::BTreeSet::new();
    for i in 0..150 {
        // The cut is exactly the host's draw: reseed, draw, reseed, help.
        host.set_seed(1000 + i);
        let expected = host::random_range(10, 40);
        host.set_seed(1000 + i);
        let cut = help(&format!("f{i}"), &b).unwrap()["cut"].as_i64().unwrap();
        assert_eq!(cut, expected);
        assert!((10..=40).contains(&cut));
        seen.insert(cut);
    }
    assert!(seen.len() > 20, "cuts vary: {seen:?}");
    let view = bargain(&b);
    let total: i64 = view["helps"]
        .as_array()
        .unwrap()
        .iter()
        .map(|h| h["cut"].as_i64().unwrap())
        .sum();
    assert_eq!(view["price"].as_i64(), Some(10_000 - total));
    assert_eq!(view["helpers"], 150);
}

#[test]
fn cuts_are_clamped_at_the_floor_and_the_last_remaining_fen_is_cut() {
    setup();
    // 300 off each, 601 to go: 300, 300, then the last 1 分.
    let a = activity(json!({
        "start_price": 10_000, "floor_price": 9_399, "helpers_needed": 10,
        "cut": {"type": "fixed", "amount": 300},
    }));
    let b = started("m1", &a);
    assert_eq!(help_to_floor(&b), [300, 300, 1]);
    let view = bargain(&b);
    assert_eq!(view["price"], 9_399);
    assert_eq!(view["status"], "succeeded");
    assert_eq!(view["left_to_floor"], 0);
    assert_refused(help("f9", &b), "has already reached its floor price");

    // A random cut larger than what is left is clamped too, never below the floor.
    let a = activity(json!({
        "start_price": 10_000, "floor_price": 9_000, "helpers_needed": 50,
        "cut": {"type": "random", "min": 400, "max": 1_000},
    }));
    let b = started("m1", &a);
    let cuts = help_to_floor(&b);
    assert_eq!(cuts.iter().sum::<i64>(), 1_000);
    assert!(cuts.iter().all(|c| *c >= 1));
    assert_eq!(bargain(&b)["price"], 9_000);
}

#[test]
fn the_last_needed_helper_cuts_to_the_floor() {
    let host = setup();
    let a = activity(json!({
        "helpers_needed": 3, "cut": {"type": "random", "min": 10, "max": 20},
    }));
    let b = started("m1", &a);
    let c1 = help("f1", &b).unwrap();
    let c2 = help("f2", &b).unwrap();
    assert_eq!(c2["status"], "bargaining");
    for c in [&c1, &c2] {
        assert!((10..=20).contains(&c["cut"].as_i64().unwrap()));
    }
    let last = help("f3", &b).unwrap();
    let cut = last["cut"].as_i64().unwrap();
    assert_eq!(
        cut,
        5_000 - c1["cut"].as_i64().unwrap() - c2["cut"].as_i64().unwrap()
    );
    assert_eq!(last["price"], 5_000);
    assert_eq!(last["status"], "succeeded");
    assert_eq!(last["helpers"], 3);
    assert_eq!(last["succeeded_at"].as_i64(), Some(host.now()));

    // One helper needed: the first help goes straight to the floor.
    let a = activity(json!({ "helpers_needed": 1 }));
    let b = started("m1", &a);
    assert_eq!(help("f1", &b).unwrap()["cut"], 5_000);
}

#[test]
fn an_expired_bargain_cannot_be_helped_or_ordered() {
    let host = setup();
    let a = activity(json!({ "validity_hours": 1, "buy_at_current_price": true }));
    let b = started("m1", &a);
    host.advance(HOUR_MS - 1);
    help("f1", &b).unwrap();
    assert!(price("m1", &b).is_ok());
    host.advance(1);
    assert_eq!(bargain(&b)["status"], "expired");
    assert_refused(help("f2", &b), &format!("bargain {b} has expired"));
    assert_refused(price("m1", &b), &format!("bargain {b} has expired"));
    assert_refused(create_order("o1", "m1", &b), "has expired");
    assert_eq!(get_activity(&a)["sold"], 0);
}

#[test]
fn checkout_sets_the_bargain_line_to_the_bargained_price() {
    setup();
    let a = activity(json!({}));
    let b = started("m1", &a);
    help_to_floor(&b);
    let lines = vec![testing::cart_line(0, "p2", 2, 3_000), line(1, 1)];
    let adjustments = price_with("{}", &cart_for(Some("m1"), lines.clone(), &b)).unwrap();
    assert_eq!(
        adjustments,
        [Adjustment {
            line: 1,
            amount: 5_000,
            label: "Bargain price".into(),
            reference: Some(b.clone()),
        }]
    );
    let labelled = price_with(r#"{"label": "砍后价"}"#, &cart_for(Some("m1"), lines, &b)).unwrap();
    assert_eq!(labelled[0].label, "砍后价");
    // A line already at or below the bargained price is left alone.
    let mut cheap = line(0, 1);
    cheap.amount = 4_000;
    assert!(
        price_with("{}", &cart_for(Some("m1"), vec![cheap], &b))
            .unwrap()
            .is_empty()
    );
    // Other stages, and carts without bargain input, are not touched.
    let ctx = MockHost::current().context("{}");
    let plain = testing::cart(Some("m1"), vec![line(0, 1)], None);
    assert!(
        Bargaining::price(&ctx, PriceStage::Item, &plain)
            .unwrap()
            .is_empty()
    );
    let with_input = cart_for(Some("m1"), vec![line(0, 1)], &b);
    assert!(
        Bargaining::price(&ctx, PriceStage::Coupon, &with_input)
            .unwrap()
            .is_empty()
    );
}

#[test]
fn checkout_needs_one_unit_of_the_sku_by_the_bargains_owner() {
    setup();
    let a = activity(json!({}));
    let b = started("m1", &a);
    help_to_floor(&b);
    let try_lines = |lines: Vec<CartLine>| price_with("{}", &cart_for(Some("m1"), lines, &b));
    assert_refused(
        try_lines(vec![line(0, 2)]),
        "a bargain buys exactly one unit: lines[0].quantity is 2, set it to 1",
    );
    assert_refused(
        try_lines(vec![testing::cart_line(0, "p2", 1, 100)]),
        &format!("the cart has no line for sku {SKU} of bargain {b}"),
    );
    assert_refused(
        try_lines(vec![line(0, 1), line(1, 1)]),
        "is on more than one line",
    );
    assert_refused(price("m2", &b), &format!("bargain {b} is not yours"));
    assert_refused(
        price_with("{}", &cart_for(None, vec![line(0, 1)], &b)),
        "sign in as the member who started",
    );
    assert_eq!(price("m1", "brg_missing").unwrap_err().kind(), "not-found");
    let bad = testing::cart(Some("m1"), vec![line(0, 1)], Some(r#"{"bargain": "x"}"#));
    assert_invalid(price_with("{}", &bad), "unknown field `bargain`");
    let missing = testing::cart(Some("m1"), vec![line(0, 1)], Some("{}"));
    assert_invalid(price_with("{}", &missing), "`bargain_id` is required");
}

#[test]
fn must_reach_floor_activities_refuse_before_success() {
    setup();
    let a = activity(json!({}));
    let b = started("m1", &a);
    help("f1", &b).unwrap();
    assert_refused(
        price("m1", &b),
        &format!("bargain {b} must reach its floor price of 50.00 CNY before it can be ordered"),
    );
    assert_refused(create_order("o1", "m1", &b), "must reach its floor price");
    help_to_floor(&b);
    assert_eq!(price("m1", &b).unwrap()[0].amount, 5_000);
}

#[test]
fn buy_at_current_price_orders_before_the_floor() {
    setup();
    let a = activity(json!({ "buy_at_current_price": true }));
    let b = started("m1", &a);
    // Not even helped yet: the current price is the start price, nothing to take off.
    assert!(price("m1", &b).unwrap().is_empty());
    let cut = help("f1", &b).unwrap()["cut"].as_i64().unwrap();
    assert_eq!(price("m1", &b).unwrap()[0].amount, cut);
    let attrs = create_order("o1", "m1", &b).unwrap();
    assert!(attrs.contains(&Attribute {
        key: "price".into(),
        value: (10_000 - cut).to_string()
    }));
    // Ordered: no more helps.
    assert_refused(help("f2", &b), "has already been ordered");
}

#[test]
fn a_bargain_is_ordered_once() {
    setup();
    let a = activity(json!({ "per_buyer_limit": 5 }));
    let b = started("m1", &a);
    help_to_floor(&b);
    let attrs = create_order("o1", "m1", &b).unwrap();
    assert_eq!(
        attrs,
        [
            Attribute {
                key: "bargain_id".into(),
                value: b.clone()
            },
            Attribute {
                key: "activity_id".into(),
                value: a.clone()
            },
            Attribute {
                key: "price".into(),
                value: "5000".into()
            },
        ]
    );
    let view = bargain(&b);
    assert_eq!(view["status"], "ordered");
    assert_eq!(view["order_id"], "o1");
    assert_eq!(get_activity(&a)["sold"], 1);
    // A second order is refused, at pricing and at creation.
    assert_refused(price("m1", &b), "has already been ordered (order o1)");
    assert_refused(create_order("o2", "m1", &b), "has already been ordered");
    // The host running the hook again for the same order takes nothing twice.
    create_order("o1", "m1", &b).unwrap();
    assert_eq!(get_activity(&a)["sold"], 1);
    // An ordered bargain no longer expires.
    MockHost::current().advance(48 * HOUR_MS);
    assert_eq!(bargain(&b)["status"], "ordered");
}

#[test]
fn activity_stock_is_taken_by_orders_and_checked_at_start() {
    setup();
    let a = activity(json!({ "stock": 1 }));
    let b1 = started("m1", &a);
    let b2 = started("m2", &a);
    help_to_floor(&b1);
    for i in 1..=5 {
        help(&format!("g{i}"), &b2).unwrap();
    }
    create_order("o1", "m1", &b1).unwrap();
    let view = get_activity(&a);
    assert_eq!(
        (view["sold"].as_i64(), view["remaining_stock"].as_i64()),
        (Some(1), Some(0))
    );
    assert_refused(
        price("m2", &b2),
        &format!("bargain activity {a} is sold out"),
    );
    assert_refused(create_order("o2", "m2", &b2), "is sold out");
    assert_refused(start("m3", &a), "is sold out");
    // The unit comes back when the order closes unpaid.
    event(Event::OrderClosed(closed_unpaid("o1")));
    create_order("o2", "m2", &b2).unwrap();
}

#[test]
fn the_per_buyer_limit_counts_orders_that_did_not_close_unpaid() {
    let host = setup();
    let a = activity(json!({ "per_buyer_limit": 2, "helpers_needed": 1 }));
    for (n, order) in ["o1", "o2"].into_iter().enumerate() {
        let b = started("m1", &a);
        help(&format!("f{n}"), &b).unwrap();
        create_order(order, "m1", &b).unwrap();
        host.add_order(order_in(
            order,
            OrderStatus::ToShip,
            true,
            RefundState::None,
        ));
    }
    assert_refused(
        start("m1", &a),
        &format!("you have already bought 2 in bargain activity {a} (limit 2)"),
    );
    // A full refund returns the unit but the purchase still counts.
    event(refunded("o2", RefundState::Full));
    assert_eq!(get_activity(&a)["sold"], 1);
    assert_refused(start("m1", &a), "already bought 2");
    started("m2", &a);
}

#[test]
fn an_order_closing_unpaid_gives_the_bargain_back_once() {
    setup();
    let a = activity(json!({}));
    let b = started("m1", &a);
    help_to_floor(&b);
    create_order("o1", "m1", &b).unwrap();
    // Events about other orders and partial refunds change nothing.
    event(Event::OrderClosed(closed_unpaid("o-other")));
    event(refunded("o1", RefundState::Partial));
    undeclared_event(Event::OrderPaid(order_in(
        "o1",
        OrderStatus::ToShip,
        true,
        RefundState::None,
    )));
    assert_eq!(bargain(&b)["status"], "ordered");

    event(Event::OrderClosed(closed_unpaid("o1")));
    let view = bargain(&b);
    assert_eq!(view["status"], "succeeded");
    assert_eq!(view["order_id"], Value::Null);
    assert_eq!(get_activity(&a)["sold"], 0);
    // Delivered again: nothing more comes back.
    event(Event::OrderClosed(closed_unpaid("o1")));
    event(refunded("o1", RefundState::Full));
    assert_eq!(get_activity(&a)["sold"], 0);
    // Ordered again at the same price.
    assert_eq!(price("m1", &b).unwrap()[0].amount, 5_000);
    create_order("o2", "m1", &b).unwrap();
    assert_eq!(get_activity(&a)["sold"], 1);
    // The old order's late events do not touch the new order's hold.
    event(Event::OrderClosed(closed_unpaid("o1")));
    assert_eq!(bargain(&b)["order_id"], "o2");
}

#[test]
fn a_full_refund_returns_the_unit_but_not_the_bargain() {
    setup();
    let a = activity(json!({}));
    let b = started("m1", &a);
    help_to_floor(&b);
    create_order("o1", "m1", &b).unwrap();
    event(refunded("o1", RefundState::Full));
    event(refunded("o1", RefundState::Full));
    assert_eq!(get_activity(&a)["sold"], 0);
    assert_eq!(bargain(&b)["status"], "ordered");
    assert_refused(price("m1", &b), "has already been ordered");
}

#[test]
fn start_settles_the_previous_bargains_order() {
    let host = setup();
    let a = activity(json!({ "per_buyer_limit": 3 }));
    // m2's order holds a unit throughout, so a unit returned twice would show.
    let other = started("m2", &a);
    help_to_floor(&other);
    create_order("o-m2", "m2", &other).unwrap();

    let b = started("m1", &a);
    help_to_floor(&b);
    create_order("o1", "m1", &b).unwrap();
    // Pending payment: still live (it may come back).
    assert_refused(
        start("m1", &a),
        "is held by unpaid order o1; pay or cancel it first",
    );
    // Closed unpaid, event not delivered yet: the bargain comes back, so it is still live.
    // (The refusal rolls that settling back; the event does it for good.)
    host.add_order(closed_unpaid("o1"));
    assert_refused(
        start("m1", &a),
        &format!("your bargain {b} on activity {a} is still live"),
    );
    event(Event::OrderClosed(closed_unpaid("o1")));
    assert_eq!(bargain(&b)["status"], "succeeded");
    assert_eq!(get_activity(&a)["sold"], 1);

    // Ordered again; that order closes unpaid after the bargain's validity: a new bargain
    // may start, and the start itself settles the old order.
    create_order("o2", "m1", &b).unwrap();
    assert_eq!(get_activity(&a)["sold"], 2);
    host.add_order(closed_unpaid("o2"));
    host.advance(24 * HOUR_MS);
    let next = started("m1", &a);
    assert_eq!(bargain(&b)["status"], "expired");
    assert_eq!(get_activity(&a)["sold"], 1);
    event(Event::OrderClosed(closed_unpaid("o2")));
    assert_eq!(get_activity(&a)["sold"], 1);

    // Paid: no longer live, another bargain may start (the limit allows 3).
    help_to_floor(&next);
    create_order("o3", "m1", &next).unwrap();
    host.add_order(order_in("o3", OrderStatus::ToShip, true, RefundState::None));
    let third = started("m1", &a);
    assert_ne!(third, next);
}

#[test]
fn my_bargains_and_get_bargain() {
    let host = setup();
    let a = activity(json!({}));
    let other = activity(json!({}));
    let b1 = started("m1", &a);
    host.advance(1);
    let b2 = started("m1", &other);
    started("m2", &a);
    started("m1/x", &a);
    let mine = act(&member("m1"), "my-bargains", json!({})).unwrap();
    let ids: Vec<&str> = mine["bargains"]
        .as_array()
        .unwrap()
        .iter()
        .map(|b| b["bargain_id"].as_str().unwrap())
        .collect();
    assert_eq!(ids, [b1.as_str(), b2.as_str()]);
    let filtered = act(
        &member("m1"),
        "my-bargains",
        json!({ "activity_id": other }),
    )
    .unwrap();
    assert_eq!(filtered["bargains"][0]["bargain_id"], b2.as_str());
    assert_eq!(filtered["bargains"].as_array().unwrap().len(), 1);
    assert_refused(
        act(&member("m2"), "my-bargains", json!({ "member_id": "m1" })),
        "only act for themselves",
    );
    assert_invalid(
        act(&staff(), "my-bargains", json!({})),
        "`member_id` is required",
    );
    MockHost::current().add_member(testing::member("m1"));
    let theirs = act(&staff(), "my-bargains", json!({ "member_id": "m1" })).unwrap();
    assert_eq!(theirs, mine);
    // Staff naming someone who is not a member get a 404, not an empty list.
    let ghost = act(&staff(), "my-bargains", json!({ "member_id": "m_ghost" })).unwrap_err();
    assert!(
        ghost.message().contains("not a member of this shop"),
        "{ghost:?}"
    );
    // Anyone in the shop may look at a bargain (a friend opening the share link).
    let seen = act(&member("f1"), "get-bargain", json!({ "bargain_id": b1 })).unwrap();
    assert_eq!(seen["member_id"], "m1");
    assert_eq!(seen["activity_id"], a.as_str());
    assert_eq!(
        act(
            &member("f1"),
            "get-bargain",
            json!({ "bargain_id": "brg_x" })
        )
        .unwrap_err()
        .kind(),
        "not-found"
    );
    let listed = act(&member("m1"), "list-activities", json!({})).unwrap();
    assert_eq!(listed["activities"].as_array().unwrap().len(), 2);
    assert_eq!(listed["activities"][0]["bargains_started"], 3);
    assert_eq!(
        guard(&staff(), "nope", json!({})).unwrap_err().kind(),
        "not-found"
    );
}
