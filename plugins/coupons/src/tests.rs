//! The coupon rules, run natively against the SDK's mock host.

use crate::Coupons;
use crate::model::{Coupon, DAY_MS, Status};
use baseplate_sdk::testing::{
    self, MockHost, assert_invalid, assert_refused, buyer as member, staff,
};
use baseplate_sdk::{
    Actor, Adjustment, Attribute, Cart, CartLine, Event, Order, OrderRefunded, Plugin, PluginError,
    PriceStage, Refund, RefundState, Result,
};
use serde_json::{Value, json};

/// The mock host enforces this plugin's manifest, as the real host does.
const MANIFEST: &str = include_str!("../plugin.toml");

/// Runs an action as the host does under `config`: declared, open to the actor, atomic.
#[track_caller]
fn act_with(config: &str, actor: &Actor, name: &str, input: Value) -> Result<Value> {
    MockHost::current()
        .set_config(config)
        .act::<Coupons>(actor, name, input)
}

/// What the plugin itself answers a call the host refuses before the plugin runs (an
/// undeclared action, an actor the action is not open to): its own guard.
fn guard(actor: &Actor, name: &str, input: Value) -> Result<Value> {
    MockHost::current()
        .set_config("{}")
        .act_unchecked::<Coupons>(actor, name, input)
}

#[track_caller]
fn act(actor: &Actor, name: &str, input: Value) -> Result<Value> {
    act_with("{}", actor, name, input)
}

/// A template: 5.00 off, no threshold, 30 days, stock 100, 5 per member, plus `overrides`.
fn template(overrides: Value) -> String {
    let mut input = json!({
        "name": "5 off",
        "discount": {"type": "fixed", "amount": 500},
        "validity": {"type": "relative", "days": 30},
        "total_stock": 100,
        "per_member_limit": 5,
    });
    for (k, v) in overrides.as_object().unwrap() {
        input[k] = v.clone();
    }
    let out = act(&staff(), "create-template", input).unwrap();
    out["template_id"].as_str().unwrap().to_string()
}

fn claim(member_id: &str, template_id: &str) -> Result<String> {
    let out = act(
        &member(member_id),
        "claim",
        json!({ "template_id": template_id }),
    )?;
    Ok(out["coupon_id"].as_str().unwrap().to_string())
}

fn cart(member_id: &str, lines: Vec<CartLine>, coupons: &[&str]) -> Cart {
    let input = json!({ "coupon_ids": coupons }).to_string();
    testing::cart(Some(member_id), lines, Some(&input))
}

fn price_with(config: &str, cart: &Cart) -> Result<Vec<Adjustment>> {
    MockHost::current()
        .set_config(config)
        .price::<Coupons>(PriceStage::Coupon, cart)
}

fn price(cart: &Cart) -> Result<Vec<Adjustment>> {
    price_with("{}", cart)
}

/// (line, amount) of each adjustment.
fn cuts(adjustments: &[Adjustment]) -> Vec<(u32, i64)> {
    adjustments.iter().map(|a| (a.line, a.amount)).collect()
}

fn status(coupon_id: &str) -> Status {
    let coupon = Coupon::load(coupon_id).unwrap().unwrap();
    coupon.status_at(MockHost::current().now())
}

fn checkout(order_id: &str, member_id: &str, coupons: &[&str]) -> Result<Vec<Attribute>> {
    let lines = [testing::cart_line(0, "p1", 1, 10_000)];
    let order = testing::order(order_id, Some(member_id), &lines);
    let input = json!({ "coupon_ids": coupons }).to_string();
    Coupons::order_created(&MockHost::current().context("{}"), &order, Some(&input))
}

/// An event the manifest does not subscribe to, handed to the hook directly (the host never
/// delivers it): the plugin must ignore it.
fn undeclared_event(event: Event) {
    let ctx = MockHost::current().context("{}");
    Coupons::handle_event(&ctx, &event).unwrap();
}

#[track_caller]
fn event(event: Event) {
    let host = MockHost::current().set_config("{}");
    host.handle_event::<Coupons>(&event).unwrap();
}

fn order_with(id: &str, refund_state: RefundState) -> Order {
    let mut order = testing::order(id, Some("m1"), &[testing::cart_line(0, "p1", 1, 10_000)]);
    order.refund_state = refund_state;
    order
}

fn refunded(id: &str, refund_state: RefundState) -> Event {
    Event::OrderRefunded(OrderRefunded {
        order: order_with(id, refund_state),
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
    assert!(MockHost::current().validate_config::<Coupons>("{}").is_ok());
    assert!(
        MockHost::current()
            .validate_config::<Coupons>(r#"{"max_coupons_per_order": 2}"#)
            .is_ok()
    );
    assert_invalid(
        MockHost::current().validate_config::<Coupons>(r#"{"max_coupons_per_order": 4}"#),
        "`max_coupons_per_order` must be an integer 1..=3",
    );
    assert_invalid(
        MockHost::current().validate_config::<Coupons>(r#"{"max_coupons_per_order": "2"}"#),
        "`max_coupons_per_order`",
    );
    assert_invalid(
        MockHost::current().validate_config::<Coupons>(r#"{"max_coupon": 2}"#),
        "unknown field `max_coupon`",
    );
    assert_invalid(
        MockHost::current().validate_config::<Coupons>("{"),
        "not valid JSON",
    );
}

#[test]
fn create_template_names_every_bad_field() {
    MockHost::from_manifest(MANIFEST);
    let base = json!({
        "name": "10 off",
        "discount": {"type": "fixed", "amount": 1000},
        "validity": {"type": "relative", "days": 7},
        "total_stock": 10,
    });
    let with = |k: &str, v: Value| {
        let mut input = base.clone();
        input[k] = v;
        act(&staff(), "create-template", input)
    };
    assert_invalid(
        with("name", json!("")),
        "`name` must be a name of 1..=100 characters",
    );
    assert_invalid(
        with("discount", json!({"type": "bogus"})),
        "`discount.type` must be \"fixed\", \"percent\" or \"random\"",
    );
    assert_invalid(
        with("discount", json!({"type": "fixed", "amount": 0})),
        "`discount.amount` must be an integer > 0",
    );
    assert_invalid(
        with(
            "discount",
            json!({"type": "fixed", "amount": 5, "off_bp": 1}),
        ),
        "unknown field `discount.off_bp`",
    );
    assert_invalid(
        with("discount", json!({"type": "percent", "off_bp": 10_000})),
        "`discount.off_bp` must be an integer 1..=9999",
    );
    assert_invalid(
        with(
            "discount",
            json!({"type": "percent", "off_bp": 2000, "cap": 0}),
        ),
        "`discount.cap`",
    );
    assert_invalid(
        with(
            "discount",
            json!({"type": "random", "min": 500, "max": 100}),
        ),
        "`discount.max` must be an integer ≥ `discount.min`",
    );
    assert_invalid(
        with("threshold", json!({"type": "amount", "min": -1})),
        "`threshold.min` must be an integer > 0",
    );
    assert_invalid(
        with("threshold", json!({"type": "items"})),
        "`threshold.min` is required",
    );
    assert_invalid(
        with("threshold", json!({"type": "weight", "min": 1})),
        "`threshold.type`",
    );
    assert_invalid(
        with(
            "validity",
            json!({"type": "absolute", "start": 10, "end": 10}),
        ),
        "`validity.end` must be a time in ms after `validity.start`",
    );
    assert_invalid(
        with("validity", json!({"type": "relative", "days": 3651})),
        "`validity.days` must be an integer 1..=3650",
    );
    assert_invalid(
        with("total_stock", json!(0)),
        "`total_stock` must be an integer > 0",
    );
    assert_invalid(
        with("per_member_limit", json!(1001)),
        "`per_member_limit` must be an integer 1..=1000",
    );
    assert_invalid(
        with("applicable_products", json!([])),
        "`applicable_products` must be null (every product)",
    );
    assert_invalid(
        with("stackable", json!("yes")),
        "`stackable` must be true or false",
    );
    assert_invalid(
        with("colour", json!("red")),
        "unknown field `colour`; allowed: name, discount",
    );
    let mut no_stock = base.clone();
    no_stock.as_object_mut().unwrap().remove("total_stock");
    assert_invalid(
        act(&staff(), "create-template", no_stock),
        "`total_stock` is required",
    );
    assert_refused(
        guard(&member("m1"), "create-template", base.clone()),
        "only shop staff",
    );

    let out = act(&Actor::System, "create-template", base).unwrap();
    assert!(out["template_id"].as_str().unwrap().starts_with("tpl_"));
    assert_eq!(
        (out["issued"].as_i64(), out["remaining_stock"].as_i64()),
        (Some(0), Some(10))
    );
    assert_eq!(
        (out["per_member_limit"].as_i64(), out["stackable"].as_bool()),
        (Some(1), Some(false))
    );
    assert_eq!(out["threshold"], Value::Null);
}

#[test]
fn stock_of_ten_claimed_eleven_times_issues_ten() {
    MockHost::from_manifest(MANIFEST);
    let tpl = template(json!({ "total_stock": 10 }));
    let mut issued = 0;
    for i in 0..11 {
        match claim(&format!("m{i}"), &tpl) {
            Ok(_) => issued += 1,
            Err(e) => assert_eq!(
                e,
                PluginError::refused(format!("coupon template {tpl} is out of stock"))
            ),
        }
    }
    assert_eq!(issued, 10);
    let view = act(&member("m1"), "get-template", json!({ "template_id": tpl })).unwrap();
    assert_eq!(
        (view["issued"].as_i64(), view["remaining_stock"].as_i64()),
        (Some(10), Some(0))
    );
}

#[test]
fn per_member_limit_holds() {
    MockHost::from_manifest(MANIFEST);
    let tpl = template(json!({ "per_member_limit": 2 }));
    claim("m1", &tpl).unwrap();
    claim("m1", &tpl).unwrap();
    assert_refused(claim("m1", &tpl), "already claimed 2");
    claim("m2", &tpl).unwrap();
}

#[test]
fn claim_rules_for_actors_and_templates() {
    let host = MockHost::from_manifest(MANIFEST);
    let tpl = template(json!({}));
    assert_invalid(
        act(&staff(), "claim", json!({ "template_id": tpl })),
        "`member_id` is required",
    );
    let ghost = act(
        &staff(),
        "claim",
        json!({ "template_id": tpl, "member_id": "m7" }),
    );
    assert!(
        ghost
            .unwrap_err()
            .message()
            .contains("not a member of this shop"),
        "staff cannot grant a coupon to someone who is not a member"
    );
    host.add_member(testing::member("m7"));
    let out = act(
        &staff(),
        "claim",
        json!({ "template_id": tpl, "member_id": "m7" }),
    )
    .unwrap();
    assert_eq!(out["member_id"], "m7");
    assert_eq!(out["status"], "available");
    assert_eq!(out["valid_from"].as_i64(), Some(host.now()));
    assert_eq!(out["valid_until"].as_i64(), Some(host.now() + 30 * DAY_MS));
    assert_refused(
        act(
            &member("m1"),
            "claim",
            json!({ "template_id": tpl, "member_id": "m7" }),
        ),
        "only act for themselves",
    );
    assert_invalid(
        act(
            &member("m1"),
            "claim",
            json!({ "template_id": tpl, "extra": 1 }),
        ),
        "unknown field `extra`",
    );
    assert_eq!(claim("m1", "tpl_missing").unwrap_err().kind(), "not-found");

    let ended =
        template(json!({ "validity": {"type": "absolute", "start": 0, "end": host.now() + 10} }));
    claim("m1", &ended).unwrap();
    host.advance(11);
    assert_refused(claim("m1", &ended), "has ended");

    assert_refused(
        guard(
            &member("m1"),
            "disable-template",
            json!({ "template_id": tpl }),
        ),
        "only shop staff",
    );
    let c = claim("m1", &tpl).unwrap();
    let out = act(&staff(), "disable-template", json!({ "template_id": tpl })).unwrap();
    assert_eq!(out["enabled"], false);
    assert_refused(claim("m2", &tpl), "is disabled");
    // Claimed coupons of a disabled template stay usable.
    let adjustments = price(&cart(
        "m1",
        vec![testing::cart_line(0, "p1", 1, 1000)],
        &[&c],
    ))
    .unwrap();
    assert_eq!(cuts(&adjustments), [(0, 500)]);
    assert_eq!(
        guard(&staff(), "nope", json!({})).unwrap_err().kind(),
        "not-found"
    );
}

#[test]
fn fixed_discount_is_apportioned_by_line_amount() {
    MockHost::from_manifest(MANIFEST);
    let c = claim("m1", &template(json!({}))).unwrap();
    let lines = vec![
        testing::cart_line(0, "p1", 3, 1000),
        testing::cart_line(1, "p2", 1, 1000),
    ];
    let adjustments = price(&cart("m1", lines, &[&c])).unwrap();
    assert_eq!(cuts(&adjustments), [(0, 375), (1, 125)]);
    assert_eq!(adjustments[0].label, "Coupon 5 off");
    assert_eq!(adjustments[0].reference.as_deref(), Some(c.as_str()));
    // Never more than the eligible lines are worth.
    let small = price(&cart(
        "m1",
        vec![testing::cart_line(0, "p1", 1, 300)],
        &[&c],
    ))
    .unwrap();
    assert_eq!(cuts(&small), [(0, 300)]);
}

#[test]
fn amount_threshold_uses_the_amount_after_earlier_stages() {
    MockHost::from_manifest(MANIFEST);
    let c = claim(
        "m1",
        &template(json!({ "threshold": {"type": "amount", "min": 5000} })),
    )
    .unwrap();
    let mut line = testing::cart_line(0, "p1", 1, 6000);
    line.amount = 4900; // an item-stage promotion already took 11.00 off
    let err = price(&cart("m1", vec![line.clone()], &[&c])).unwrap_err();
    assert_eq!(
        err,
        PluginError::refused(format!(
            "coupon {c} needs eligible items worth at least 50.00 CNY (the cart has 49.00 CNY)"
        ))
    );
    line.amount = 5000;
    assert_eq!(
        cuts(&price(&cart("m1", vec![line], &[&c])).unwrap()),
        [(0, 500)]
    );
}

#[test]
fn items_threshold_counts_quantities() {
    MockHost::from_manifest(MANIFEST);
    let c = claim(
        "m1",
        &template(json!({ "threshold": {"type": "items", "min": 3} })),
    )
    .unwrap();
    let two = vec![
        testing::cart_line(0, "p1", 1, 1000),
        testing::cart_line(1, "p2", 1, 1000),
    ];
    assert_refused(
        price(&cart("m1", two, &[&c])),
        "needs at least 3 eligible items (the cart has 2)",
    );
    let three = vec![
        testing::cart_line(0, "p1", 2, 1000),
        testing::cart_line(1, "p2", 1, 1000),
    ];
    assert_eq!(
        price(&cart("m1", three, &[&c]))
            .unwrap()
            .iter()
            .map(|a| a.amount)
            .sum::<i64>(),
        500
    );
}

#[test]
fn percent_rounds_down_and_respects_the_cap() {
    MockHost::from_manifest(MANIFEST);
    let capped = claim(
        "m1",
        &template(json!({ "discount": {"type": "percent", "off_bp": 2000, "cap": 1500} })),
    )
    .unwrap();
    let lines = vec![testing::cart_line(0, "p1", 1, 10_000)];
    assert_eq!(
        cuts(&price(&cart("m1", lines, &[&capped])).unwrap()),
        [(0, 1500)]
    );
    let open = claim(
        "m1",
        &template(json!({ "discount": {"type": "percent", "off_bp": 1250} })),
    )
    .unwrap();
    // 12.5% of 9.99 is 1.24875: rounded down to 1.24.
    let lines = vec![testing::cart_line(0, "p1", 1, 999)];
    assert_eq!(
        cuts(&price(&cart("m1", lines, &[&open])).unwrap()),
        [(0, 124)]
    );
}

#[test]
fn random_amount_is_drawn_at_claim() {
    MockHost::from_manifest(MANIFEST).set_seed(99);
    let tpl = template(json!({ "discount": {"type": "random", "min": 100, "max": 300} }));
    for _ in 0..5 {
        let out = act(&member("m1"), "claim", json!({ "template_id": tpl })).unwrap();
        let amount = out["amount"].as_i64().unwrap();
        assert!((100..=300).contains(&amount));
        let c = out["coupon_id"].as_str().unwrap();
        let adjustments = price(&cart(
            "m1",
            vec![testing::cart_line(0, "p1", 1, 10_000)],
            &[c],
        ))
        .unwrap();
        assert_eq!(cuts(&adjustments), [(0, amount)]);
    }
}

#[test]
fn only_applicable_products_are_discounted() {
    MockHost::from_manifest(MANIFEST);
    let c = claim(
        "m1",
        &template(
            json!({ "applicable_products": ["p1"], "threshold": {"type": "amount", "min": 2000} }),
        ),
    )
    .unwrap();
    let lines = vec![
        testing::cart_line(0, "p1", 1, 2000),
        testing::cart_line(1, "p2", 1, 3000),
    ];
    assert_eq!(cuts(&price(&cart("m1", lines, &[&c])).unwrap()), [(0, 500)]);
    // p2 does not count toward the threshold.
    let lines = vec![
        testing::cart_line(0, "p1", 1, 1500),
        testing::cart_line(1, "p2", 1, 3000),
    ];
    assert_refused(
        price(&cart("m1", lines, &[&c])),
        "needs eligible items worth at least 20.00 CNY",
    );
    let lines = vec![testing::cart_line(0, "p2", 1, 3000)];
    assert_refused(
        price(&cart("m1", lines, &[&c])),
        "does not apply to any item",
    );
}

#[test]
fn stacking_rules() {
    MockHost::from_manifest(MANIFEST);
    let stackable = template(json!({ "stackable": true }));
    let single = template(json!({ "stackable": false }));
    let s: Vec<String> = (0..4).map(|_| claim("m1", &stackable).unwrap()).collect();
    let lone = claim("m1", &single).unwrap();
    let lines = || {
        vec![
            testing::cart_line(0, "p1", 1, 800),
            testing::cart_line(1, "p2", 1, 200),
        ]
    };

    assert_eq!(
        cuts(&price(&cart("m1", lines(), &[&lone])).unwrap()),
        [(0, 400), (1, 100)]
    );
    assert_refused(
        price(&cart("m1", lines(), &[&s[0], &lone])),
        &format!("coupon {lone} cannot be combined"),
    );
    // Each coupon takes its share of what the earlier ones left: 5.00 + 5.00 off 10.00.
    let two = price(&cart("m1", lines(), &[&s[0], &s[1]])).unwrap();
    assert_eq!(cuts(&two), [(0, 400), (1, 100), (0, 400), (1, 100)]);
    // The third finds nothing left and proposes nothing; no line goes negative.
    let three = price(&cart("m1", lines(), &[&s[0], &s[1], &s[2]])).unwrap();
    assert_eq!(three.iter().map(|a| a.amount).sum::<i64>(), 1000);
    assert_refused(
        price(&cart("m1", lines(), &[&s[0], &s[1], &s[2], &s[3]])),
        "at most 3 coupons",
    );
    assert_refused(
        price_with(
            r#"{"max_coupons_per_order": 2}"#,
            &cart("m1", lines(), &[&s[0], &s[1], &s[2]]),
        ),
        "at most 2 coupons",
    );
    assert_invalid(
        price(&cart("m1", lines(), &[&s[0], &s[0]])),
        &format!("coupon {} is listed twice", s[0]),
    );
}

#[test]
fn price_checks_owner_validity_and_input() {
    let host = MockHost::from_manifest(MANIFEST);
    let c = claim(
        "m1",
        &template(json!({ "validity": {"type": "relative", "days": 1} })),
    )
    .unwrap();
    let lines = || vec![testing::cart_line(0, "p1", 1, 1000)];
    let ctx = host.context("{}");
    for stage in [PriceStage::Item, PriceStage::Order] {
        assert!(
            Coupons::price(&ctx, stage, &cart("m1", lines(), &[&c]))
                .unwrap()
                .is_empty()
        );
    }
    assert!(
        price(&testing::cart(Some("m1"), lines(), None))
            .unwrap()
            .is_empty()
    );
    assert!(price(&cart("m1", lines(), &[])).unwrap().is_empty());
    assert_refused(
        price(&cart("m2", lines(), &[&c])),
        "is not one of your coupons",
    );
    assert_refused(
        price(&cart("m1", lines(), &["cpn_nope"])),
        "coupon cpn_nope is not one of your coupons",
    );
    assert_refused(
        price(&testing::cart(
            None,
            lines(),
            Some(&json!({ "coupon_ids": [c] }).to_string()),
        )),
        "sign in",
    );
    assert_invalid(
        price(&testing::cart(
            Some("m1"),
            lines(),
            Some(r#"{"coupons": []}"#),
        )),
        "unknown field `coupons`",
    );
    assert_invalid(
        price(&testing::cart(
            Some("m1"),
            lines(),
            Some(r#"{"coupon_ids": "x"}"#),
        )),
        "`coupon_ids` must be a list",
    );
    host.advance(DAY_MS + 1);
    assert_refused(price(&cart("m1", lines(), &[&c])), "has expired");

    let later = template(
        json!({ "validity": {"type": "absolute", "start": host.now() + 1000, "end": host.now() + 2000} }),
    );
    let early = claim("m1", &later).unwrap();
    assert_refused(price(&cart("m1", lines(), &[&early])), "is not valid yet");
    host.advance(1000);
    assert_eq!(price(&cart("m1", lines(), &[&early])).unwrap().len(), 1);
}

#[test]
fn order_created_reserves_once() {
    MockHost::from_manifest(MANIFEST);
    let tpl = template(json!({ "stackable": true }));
    let (a, b) = (claim("m1", &tpl).unwrap(), claim("m1", &tpl).unwrap());
    let attrs = checkout("o1", "m1", &[&a, &b]).unwrap();
    assert_eq!(
        attrs,
        [Attribute {
            key: "coupon_ids".into(),
            value: format!("{a},{b}")
        }]
    );
    assert_eq!(
        (status(&a), status(&b)),
        (Status::Reserved, Status::Reserved)
    );
    // The same order again (a retried creation) is fine; another order is refused.
    checkout("o1", "m1", &[&a, &b]).unwrap();
    assert_eq!(
        checkout("o2", "m1", &[&a]).unwrap_err(),
        PluginError::refused(format!("coupon {a} is already used"))
    );
    assert_refused(
        price(&cart(
            "m1",
            vec![testing::cart_line(0, "p1", 1, 1000)],
            &[&b],
        )),
        "is already used",
    );
    assert!(checkout("o3", "m1", &[]).unwrap().is_empty());
    let ctx = MockHost::current().context("{}");
    let order = testing::order("o4", Some("m1"), &[]);
    assert!(
        Coupons::order_created(&ctx, &order, None)
            .unwrap()
            .is_empty()
    );
}

#[test]
fn paid_uses_and_duplicate_events_change_nothing() {
    let host = MockHost::from_manifest(MANIFEST);
    let c = claim("m1", &template(json!({}))).unwrap();
    checkout("o1", "m1", &[&c]).unwrap();
    event(Event::OrderPaid(order_with("o1", RefundState::None)));
    assert_eq!(status(&c), Status::Used);
    let before = host.state_snapshot();
    event(Event::OrderPaid(order_with("o1", RefundState::None)));
    assert_eq!(host.state_snapshot(), before);
    // Events for orders without coupons are ignored.
    event(Event::OrderPaid(order_with("o9", RefundState::None)));
    undeclared_event(Event::OrderCompleted(order_with("o1", RefundState::None)));
    assert_eq!(host.state_snapshot(), before);
}

#[test]
fn closed_returns_the_coupon_or_expires_it() {
    let host = MockHost::from_manifest(MANIFEST);
    let tpl = template(json!({ "validity": {"type": "relative", "days": 1} }));
    let c = claim("m1", &tpl).unwrap();
    checkout("o1", "m1", &[&c]).unwrap();
    event(Event::OrderClosed(order_with("o1", RefundState::None)));
    assert_eq!(status(&c), Status::Available);
    // Reserved again by o2; a late duplicate close of o1 must not free it.
    checkout("o2", "m1", &[&c]).unwrap();
    event(Event::OrderClosed(order_with("o1", RefundState::None)));
    assert_eq!(status(&c), Status::Reserved);
    host.advance(DAY_MS + 1);
    event(Event::OrderClosed(order_with("o2", RefundState::None)));
    let coupon = Coupon::load(&c).unwrap().unwrap();
    assert_eq!((coupon.status, coupon.order_id), (Status::Expired, None));
}

#[test]
fn full_refund_returns_partial_keeps_used() {
    MockHost::from_manifest(MANIFEST);
    let tpl = template(json!({}));
    let (a, b) = (claim("m1", &tpl).unwrap(), claim("m1", &tpl).unwrap());
    checkout("o1", "m1", &[&a]).unwrap();
    checkout("o2", "m1", &[&b]).unwrap();
    event(Event::OrderPaid(order_with("o1", RefundState::None)));
    event(Event::OrderPaid(order_with("o2", RefundState::None)));
    event(refunded("o1", RefundState::Partial));
    assert_eq!(status(&a), Status::Used);
    event(refunded("o1", RefundState::Full));
    assert_eq!(status(&a), Status::Available);
    event(refunded("o1", RefundState::Full));
    assert_eq!(status(&a), Status::Available);
    // Cancelled after payment: closed returns a used coupon too.
    event(Event::OrderClosed(order_with("o2", RefundState::Full)));
    assert_eq!(status(&b), Status::Available);
}

#[test]
fn list_coupons_shows_computed_status() {
    let host = MockHost::from_manifest(MANIFEST);
    let short = template(json!({ "validity": {"type": "relative", "days": 1} }));
    let long = template(json!({}));
    let expiring = claim("m1", &short).unwrap();
    let used = claim("m1", &long).unwrap();
    let reserved = claim("m1", &long).unwrap();
    claim("m2", &long).unwrap();
    checkout("o1", "m1", &[&used]).unwrap();
    event(Event::OrderPaid(order_with("o1", RefundState::None)));
    checkout("o2", "m1", &[&reserved]).unwrap();
    host.advance(DAY_MS + 1);

    let out = act(&member("m1"), "list-coupons", json!({})).unwrap();
    let statuses: Vec<(&str, &str)> = out["coupons"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| {
            (
                c["coupon_id"].as_str().unwrap(),
                c["status"].as_str().unwrap(),
            )
        })
        .collect();
    assert_eq!(statuses.len(), 3);
    for (id, status) in [
        (&expiring, "expired"),
        (&used, "used"),
        (&reserved, "reserved"),
    ] {
        assert!(statuses.contains(&(id.as_str(), status)), "{statuses:?}");
    }
    MockHost::current().add_member(testing::member("m2"));
    let theirs = act(&staff(), "list-coupons", json!({ "member_id": "m2" })).unwrap();
    assert_eq!(theirs["coupons"].as_array().unwrap().len(), 1);
    assert_invalid(
        act(&staff(), "list-coupons", json!({})),
        "`member_id` is required",
    );
    assert_refused(
        act(&member("m1"), "list-coupons", json!({ "member_id": "m2" })),
        "only act for themselves",
    );
}

#[test]
fn templates_are_listed_and_read_by_anyone() {
    let host = MockHost::from_manifest(MANIFEST);
    let a = template(json!({ "name": "first" }));
    host.advance(1);
    let b = template(json!({ "name": "second", "applicable_products": ["p1", "p2"] }));
    claim("m1", &b).unwrap();
    let out = act(&member("m1"), "list-templates", json!({})).unwrap();
    let listed: Vec<&str> = out["templates"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["template_id"].as_str().unwrap())
        .collect();
    assert_eq!(listed, [a.as_str(), b.as_str()]);
    let got = act(&Actor::System, "get-template", json!({ "template_id": b })).unwrap();
    assert_eq!(
        (got["issued"].as_i64(), got["remaining_stock"].as_i64()),
        (Some(1), Some(99))
    );
    assert_eq!(got["applicable_products"], json!(["p1", "p2"]));
    assert_eq!(got["discount"], json!({"type": "fixed", "amount": 500}));
    assert_invalid(
        act(&member("m1"), "get-template", json!({})),
        "`template_id` is required",
    );
}

#[test]
fn discounts_always_sum_exactly_and_never_overdraw_a_line() {
    let host = MockHost::from_manifest(MANIFEST);
    host.set_seed(3);
    let tpl = template(
        json!({ "discount": {"type": "percent", "off_bp": 3333}, "stackable": true, "per_member_limit": 1000, "total_stock": 1000 }),
    );
    let fixed = template(
        json!({ "discount": {"type": "fixed", "amount": 777}, "stackable": true, "per_member_limit": 1000, "total_stock": 1000 }),
    );
    for round in 0..200 {
        let lines: Vec<CartLine> = (0..1 + round % 5)
            .map(|i| {
                testing::cart_line(
                    i,
                    &format!("p{i}"),
                    1 + (i % 3),
                    baseplate_sdk::host::random_range(1, 5000),
                )
            })
            .collect();
        let (p, f) = (claim("m1", &tpl).unwrap(), claim("m1", &fixed).unwrap());
        let adjustments = price(&cart("m1", lines.clone(), &[&p, &f])).unwrap();
        let total: i64 = lines.iter().map(|l| l.amount).sum();
        let expected_p = total * 3333 / 10_000;
        let expected = expected_p + 777.min(total - expected_p);
        assert_eq!(
            adjustments.iter().map(|a| a.amount).sum::<i64>(),
            expected,
            "{lines:?}"
        );
        for line in &lines {
            let off: i64 = adjustments
                .iter()
                .filter(|a| a.line == line.index)
                .map(|a| a.amount)
                .sum();
            assert!(off <= line.amount);
        }
    }
}

#[test]
fn hooks_roll_back_on_refusal() {
    let host = MockHost::from_manifest(MANIFEST);
    let tpl = template(json!({ "stackable": true }));
    let (a, b) = (claim("m1", &tpl).unwrap(), claim("m1", &tpl).unwrap());
    checkout("o1", "m1", &[&b]).unwrap();
    // b is taken, so reserving [a, b] fails and must leave a untouched.
    let r = host.atomic(|| checkout("o2", "m1", &[&a, &b]));
    assert_refused(r, "is already used");
    assert_eq!(status(&a), Status::Available);
}
