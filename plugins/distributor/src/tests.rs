//! The distributor rules, run natively against the SDK's mock host.

use crate::Distributor as Plugin_;
use crate::config::{Config, Rate};
use crate::model::DAY_MS;
use baseplate_sdk::testing::{
    self, MockHost, assert_invalid, assert_not_found, assert_refused, buyer as member, staff,
};
use baseplate_sdk::{
    Actor, Attribute, Balance, CartLine, Event, Order, OrderRefunded, OrderStatus, Party,
    PaymentStatus, Plugin, PluginError, Refund, RefundState, Result,
};
use serde_json::{Value, json};

/// The mock host enforces this plugin's manifest, as the real host does.
const MANIFEST: &str = include_str!("../plugin.toml");

/// Everyone may promote, share links bind, 10% + 5%, 7 days' freeze, withdraw ≥ 10.00.
const BASE: &str = r#"{"promoters":"everyone","binding":"first_touch","level1_bp":1000,"level2_bp":500,"freeze_days":7,"min_withdrawal":1000}"#;

fn with(overrides: Value) -> String {
    let mut config: Value = serde_json::from_str(BASE).unwrap();
    for (k, v) in overrides.as_object().unwrap() {
        config[k] = v.clone();
    }
    config.to_string()
}

/// Runs an action as the host does under `config`: declared, open to the actor, atomic.
#[track_caller]
fn act_with(config: &str, actor: &Actor, name: &str, input: Value) -> Result<Value> {
    MockHost::current()
        .set_config(config)
        .act::<Plugin_>(actor, name, input)
}

#[track_caller]
fn act(actor: &Actor, name: &str, input: Value) -> Result<Value> {
    act_with(BASE, actor, name, input)
}

/// What the plugin itself answers a call the host refuses before the plugin runs (an
/// undeclared action, an actor the action is not open to): its own guard.
fn guard(actor: &Actor, name: &str, input: Value) -> Result<Value> {
    MockHost::current()
        .set_config(BASE)
        .act_unchecked::<Plugin_>(actor, name, input)
}

fn event_with(config: &str, event: Event) {
    let host = MockHost::current();
    host.set_config(config);
    host.handle_event::<Plugin_>(&event).unwrap();
}

fn event(event: Event) {
    event_with(BASE, event)
}

/// Members `ids` exist in the shop, apply (approved at once under BASE) and, in order,
/// each binds to the previous one: `chain(&["a", "b", "c"])` makes c → b → a.
fn chain(ids: &[&str]) {
    let host = MockHost::current();
    for (i, id) in ids.iter().enumerate() {
        host.add_member(testing::member(id));
        act(&member(id), "apply", json!({})).unwrap();
        if i > 0 {
            bind(id, ids[i - 1]).unwrap();
        }
    }
}

fn bind(who: &str, to: &str) -> Result<Value> {
    act(&member(who), "bind", json!({ "distributor_id": to }))
}

fn balance(id: &str) -> Balance {
    baseplate_sdk::ledger::balance(&Party::Member(id.into()), "commission")
}

/// A created order with `lines` (product, quantity, unit price), snapshotted by the plugin.
fn create_with(config: &str, id: &str, buyer: &str, lines: &[(&str, u32, i64)]) -> Order {
    let host = MockHost::current();
    let cart: Vec<CartLine> = lines
        .iter()
        .enumerate()
        .map(|(i, (p, q, price))| testing::cart_line(i as u32, p, *q, *price))
        .collect();
    let order = testing::order(id, Some(buyer), &cart);
    host.set_config(config);
    host.order_created::<Plugin_>(&order, None).unwrap();
    order
}

/// Marks the order paid now and delivers order-paid.
fn pay_with(config: &str, id: &str) -> Order {
    let host = MockHost::current();
    let mut order = host.order(id).unwrap();
    order.payment_status = PaymentStatus::Paid;
    order.status = OrderStatus::ToShip;
    order.paid_amount = order.payable_amount;
    order.paid_at = Some(host.now());
    host.add_order(order.clone());
    event_with(config, Event::OrderPaid(order.clone()));
    order
}

fn buy(id: &str, buyer: &str, lines: &[(&str, u32, i64)]) -> Order {
    create_with(BASE, id, buyer, lines);
    pay_with(BASE, id)
}

/// Refunds `amount` of line `line` on the host's order and delivers order-refunded.
fn refund_with(config: &str, id: &str, line: usize, amount: i64) -> Order {
    refund_made_at(config, id, line, amount, MockHost::current().now())
}

/// [`refund_with`] for a refund made at `created_at`, delivered now.
fn refund_made_at(config: &str, id: &str, line: usize, amount: i64, created_at: i64) -> Order {
    let host = MockHost::current();
    let mut order = host.order(id).unwrap();
    order.lines[line].refunded_amount += amount;
    order.refunded_amount += amount;
    order.refund_state = if order.refunded_amount == order.paid_amount {
        order.status = OrderStatus::Closed;
        RefundState::Full
    } else {
        RefundState::Partial
    };
    host.add_order(order.clone());
    let refund = Refund {
        id: format!("r{}", host.ledger_postings().len()),
        amount,
        lines: Vec::new(),
        reason: "after-sale".into(),
        created_at,
    };
    event_with(
        config,
        Event::OrderRefunded(OrderRefunded {
            order: order.clone(),
            refund,
        }),
    );
    order
}

fn refund(id: &str, line: usize, amount: i64) -> Order {
    refund_with(BASE, id, line, amount)
}

fn commissions(who: &str) -> Vec<Value> {
    act(&member(who), "my-commissions", json!({})).unwrap()["commissions"]
        .as_array()
        .unwrap()
        .clone()
}

fn only_commission(who: &str) -> Value {
    let all = commissions(who);
    assert_eq!(all.len(), 1, "{all:?}");
    all[0].clone()
}

// ---- configuration ----------------------------------------------------------------------

#[test]
fn config_defaults_match_the_manifest_default() {
    let manifest = include_str!("../plugin.toml");
    let default = manifest
        .lines()
        .find_map(|l| l.strip_prefix("default = '"))
        .and_then(|l| l.strip_suffix('\''))
        .expect("plugin.toml has a default config");
    assert!(
        MockHost::current()
            .validate_config::<Plugin_>(default)
            .is_ok()
    );
    assert_eq!(
        Config::parse(default).unwrap(),
        Config::parse("{}").unwrap()
    );
    let c = Config::parse("").unwrap();
    assert_eq!((c.level1_bp, c.level2_bp, c.freeze_days), (1000, 0, 7));
    assert!(MockHost::current().validate_config::<Plugin_>(BASE).is_ok());
}

#[test]
fn config_names_every_bad_field() {
    let cases = [
        (
            json!({"promoters": "anyone"}),
            "`promoters` must be \"everyone\" or \"approved\"",
        ),
        (
            json!({"binding": "scan"}),
            "`binding` must be \"first_touch\" or \"registration\"",
        ),
        (
            json!({"level1_bp": 10001}),
            "`level1_bp` must be an integer 0..=10000",
        ),
        (
            json!({"level2_bp": -1}),
            "`level2_bp` must be an integer 0..=10000",
        ),
        (json!({"level1_bp": "10"}), "`level1_bp` must be"),
        (
            json!({"level1_bp": 6000, "level2_bp": 5000}),
            "`level1_bp` + `level2_bp` must be at most 10000",
        ),
        (
            json!({"freeze_days": 366}),
            "`freeze_days` must be an integer 0..=365",
        ),
        (
            json!({"min_withdrawal": 0}),
            "`min_withdrawal` must be an integer 1..=",
        ),
        (
            json!({"levels": 3}),
            "unknown field `levels`; allowed: promoters, binding",
        ),
        (json!({"overrides": []}), "`overrides` must be an object"),
        (
            json!({"overrides": {"p1": 5}}),
            "`overrides.p1` must be a JSON object",
        ),
        (
            json!({"overrides": {"p1": {"type": "bonus"}}}),
            "`overrides.p1.type` must be \"percent\" or \"fixed\"",
        ),
        (
            json!({"overrides": {"p1": {"type": "percent"}}}),
            "`overrides.p1.level1_bp` is required",
        ),
        (
            json!({"overrides": {"p1": {"type": "percent", "level1_bp": 9000, "level2_bp": 2000}}}),
            "`overrides.p1.level1_bp` + `overrides.p1.level2_bp` must be at most 10000",
        ),
        (
            json!({"overrides": {"p1": {"type": "percent", "level1_bp": 100, "level1": 5}}}),
            "unknown field `overrides.p1.level1`; allowed: type, level1_bp, level2_bp",
        ),
        (
            json!({"overrides": {"p1": {"type": "fixed", "level1": -5}}}),
            "`overrides.p1.level1` must be an integer 0..=1000000000",
        ),
        (
            json!({"overrides": {"p1": {"type": "fixed", "level1": 5, "level2_bp": 5}}}),
            "unknown field `overrides.p1.level2_bp`; allowed: type, level1, level2",
        ),
        (
            json!({"overrides": {"a/b": {"type": "fixed", "level1": 5}}}),
            "`overrides` keys must be product ids",
        ),
    ];
    for (config, needle) in cases {
        let err = MockHost::current()
            .validate_config::<Plugin_>(&config.to_string())
            .unwrap_err();
        match err {
            PluginError::Invalid(m) if m.starts_with("invalid config: ") && m.contains(needle) => {}
            other => panic!("{config}: expected ..{needle}.., got {other:?}"),
        }
    }
    assert_invalid(
        MockHost::current().validate_config::<Plugin_>("{"),
        "not valid JSON",
    );
    assert_invalid(
        MockHost::current().validate_config::<Plugin_>("[]"),
        "must be a JSON object",
    );
    let ok = json!({"overrides": {"p1": {"type": "fixed", "level1": 300, "level2": 100}, "p2": {"type": "percent", "level1_bp": 2000}}});
    let c = Config::parse(&ok.to_string()).unwrap();
    assert_eq!(
        c.rate_for("p1"),
        Rate::Fixed {
            level1: 300,
            level2: 100
        }
    );
    assert_eq!(
        c.rate_for("p2"),
        Rate::Percent {
            level1_bp: 2000,
            level2_bp: 0
        }
    );
    assert_eq!(
        c.rate_for("p3"),
        Rate::Percent {
            level1_bp: 1000,
            level2_bp: 0
        }
    );
}

#[test]
fn rates_round_down_on_the_net() {
    let pct = Rate::Percent {
        level1_bp: 1000,
        level2_bp: 333,
    };
    // floor(1009 × 10%) = 100, floor(1009 × 3.33%) = 33.
    assert_eq!(pct.split(1, 1009, 1009), [100, 33]);
    assert_eq!(pct.split(1, 1009, 999), [99, 33]);
    assert_eq!(pct.split(1, 1009, 0), [0, 0]);
    // Never more than what was paid, never below zero.
    assert_eq!(pct.split(1, 1009, 5000), [100, 33]);
    assert_eq!(pct.split(1, 1009, -5), [0, 0]);
    let fixed = Rate::Fixed {
        level1: 300,
        level2: 100,
    };
    // Fixed per unit: 3 × 300 and 3 × 100.
    assert_eq!(fixed.split(3, 6000, 6000), [900, 300]);
    // Scaled to the share still paid, rounded down: 900 × 5000 / 6000 = 750, 300 → 250.
    assert_eq!(fixed.split(3, 6000, 5000), [750, 250]);
    assert_eq!(fixed.split(3, 6000, 1), [0, 0]);
    // A free line pays nothing; capped at what the buyer paid, level 2 at what is left.
    assert_eq!(fixed.split(3, 0, 0), [0, 0]);
    assert_eq!(fixed.split(3, 1000, 1000), [900, 100]);
    assert_eq!(fixed.split(3, 500, 500), [500, 0]);
}

// ---- distributors --------------------------------------------------------------------------

#[test]
fn apply_is_instant_for_everyone_and_waits_in_approved_mode() {
    MockHost::from_manifest(MANIFEST);
    let approved = with(json!({"promoters": "approved"}));
    let out = act(&member("m1"), "apply", json!({})).unwrap();
    assert_eq!(out["status"], "approved");
    let out = act_with(&approved, &member("m2"), "apply", json!({})).unwrap();
    assert_eq!(out["status"], "pending");
    // Applying again changes nothing.
    let out = act_with(&approved, &member("m2"), "apply", json!({})).unwrap();
    assert_eq!(out["status"], "pending");
    assert_refused(guard(&staff(), "apply", json!({})), "only a member");
    assert_invalid(
        act(&member("m3"), "apply", json!({"x": 1})),
        "unknown field `x`; allowed: none",
    );

    // A rejection sticks even in "everyone" mode: the new application waits for staff.
    act(
        &staff(),
        "reject",
        json!({"member_id": "m1", "reason": "spam"}),
    )
    .unwrap();
    let out = act(&member("m1"), "apply", json!({})).unwrap();
    assert_eq!(out["status"], "pending");
    let out = act(&staff(), "approve", json!({"member_id": "m1"})).unwrap();
    assert_eq!(out["status"], "approved");
}

#[test]
fn only_staff_decide_and_they_name_real_members() {
    let host = MockHost::from_manifest(MANIFEST);
    let approved = with(json!({"promoters": "approved"}));
    act_with(&approved, &member("m1"), "apply", json!({})).unwrap();
    assert_refused(
        guard(&member("m1"), "approve", json!({"member_id": "m1"})),
        "only shop staff",
    );
    assert_refused(
        guard(&member("m2"), "reject", json!({"member_id": "m1"})),
        "only shop staff",
    );
    assert_invalid(
        act(&staff(), "approve", json!({})),
        "`member_id` is required",
    );
    assert_invalid(
        act(&staff(), "approve", json!({"member_id": "a/b"})),
        "`member_id` must be a member id",
    );
    assert_invalid(
        act(
            &staff(),
            "approve",
            json!({"member_id": "m1", "reason": "x"}),
        ),
        "unknown field `reason`",
    );
    assert_not_found(
        act(&staff(), "reject", json!({"member_id": "m9"})),
        "has not applied",
    );
    assert_not_found(
        act(&staff(), "approve", json!({"member_id": "m9"})),
        "does not exist",
    );
    // Staff may appoint an existing member who never applied.
    host.add_member(testing::member("m9"));
    assert_eq!(
        act(&staff(), "approve", json!({"member_id": "m9"})).unwrap()["status"],
        "approved"
    );
    let out = act(&Actor::System, "approve", json!({"member_id": "m1"})).unwrap();
    assert_eq!(
        (out["status"].as_str(), out["decided_at"].as_i64()),
        (Some("approved"), Some(host.now()))
    );
    let out = act(
        &staff(),
        "reject",
        json!({"member_id": "m1", "reason": "fraud"}),
    )
    .unwrap();
    assert_eq!(
        (out["status"].as_str(), out["reason"].as_str()),
        (Some("rejected"), Some("fraud"))
    );
}

#[test]
fn list_distributors_filters_and_pages() {
    MockHost::from_manifest(MANIFEST);
    let approved = with(json!({"promoters": "approved"}));
    for i in 0..5 {
        act_with(&approved, &member(&format!("m{i}")), "apply", json!({})).unwrap();
    }
    act(&staff(), "approve", json!({"member_id": "m1"})).unwrap();
    act(&staff(), "approve", json!({"member_id": "m3"})).unwrap();
    assert_refused(
        guard(&member("m1"), "list-distributors", json!({})),
        "only shop staff",
    );
    let all = act(&staff(), "list-distributors", json!({})).unwrap();
    assert_eq!(all["distributors"].as_array().unwrap().len(), 5);
    let approved = act(&staff(), "list-distributors", json!({"status": "approved"})).unwrap();
    let ids: Vec<&str> = approved["distributors"]
        .as_array()
        .unwrap()
        .iter()
        .map(|d| d["member_id"].as_str().unwrap())
        .collect();
    assert_eq!(ids, ["m1", "m3"]);
    let page = act(
        &staff(),
        "list-distributors",
        json!({"status": "pending", "limit": 2}),
    )
    .unwrap();
    assert_eq!(page["distributors"].as_array().unwrap().len(), 2);
    assert_eq!(page["next_after"], "m2");
    let rest = act(
        &staff(),
        "list-distributors",
        json!({"status": "pending", "limit": 2, "after": "m2"}),
    )
    .unwrap();
    let ids: Vec<&str> = rest["distributors"]
        .as_array()
        .unwrap()
        .iter()
        .map(|d| d["member_id"].as_str().unwrap())
        .collect();
    assert_eq!(ids, ["m4"]);
    assert_invalid(
        act(&staff(), "list-distributors", json!({"status": "gone"})),
        "`status` must be",
    );
    assert_invalid(
        act(&staff(), "list-distributors", json!({"limit": 0})),
        "`limit` must be an integer 1..=200",
    );
}

// ---- binding -------------------------------------------------------------------------------

#[test]
fn bind_refuses_self_strangers_and_unapproved() {
    let host = MockHost::from_manifest(MANIFEST);
    chain(&["d1"]);
    assert_refused(bind("d1", "d1"), "cannot bind to yourself");
    assert_not_found(bind("m1", "nobody"), "not a distributor");
    let approved = with(json!({"promoters": "approved"}));
    act_with(&approved, &member("d2"), "apply", json!({})).unwrap();
    assert_refused(bind("m1", "d2"), "not an approved distributor");
    assert_refused(
        guard(&staff(), "bind", json!({"distributor_id": "d1"})),
        "only a member",
    );
    assert_invalid(
        act(&member("m1"), "bind", json!({})),
        "`distributor_id` is required",
    );
    assert_invalid(
        act(
            &member("m1"),
            "bind",
            json!({"distributor_id": "d1", "x": 1}),
        ),
        "unknown field `x`",
    );
    let registration = with(json!({"binding": "registration"}));
    assert_refused(
        act_with(
            &registration,
            &member("m1"),
            "bind",
            json!({"distributor_id": "d1"}),
        ),
        "share links do not bind",
    );
    assert!(act(&member("m1"), "me", json!({})).unwrap()["upline"].is_null());
    assert!(host.ledger_postings().is_empty());
}

#[test]
fn first_touch_wins_and_binding_pays_nobody() {
    let host = MockHost::from_manifest(MANIFEST);
    chain(&["d1"]);
    chain(&["d2"]);
    let out = bind("m1", "d1").unwrap();
    assert_eq!(
        (out["distributor_id"].as_str(), out["new"].as_bool()),
        (Some("d1"), Some(true))
    );
    // Opening the same link again is harmless; another distributor's link does not move them.
    assert_eq!(bind("m1", "d1").unwrap()["new"], false);
    assert_refused(bind("m1", "d2"), "already bound to distributor d1");
    let me = act(&member("m1"), "me", json!({})).unwrap();
    assert_eq!(me["upline"], "d1");
    assert_eq!(act(&member("d1"), "me", json!({})).unwrap()["team_size"], 1);
    // Never paid for recruiting.
    assert!(host.ledger_postings().is_empty());
    assert_eq!(balance("d1").total, 0);
}

#[test]
fn binding_loops_are_refused() {
    MockHost::from_manifest(MANIFEST);
    // c → b → a.
    chain(&["a", "b", "c"]);
    assert_refused(bind("a", "b"), "would make a loop");
    assert_refused(bind("a", "c"), "would make a loop");
    // b is already bound, so it cannot bind anywhere anyway; a fresh chain top can.
    chain(&["x"]);
    assert_eq!(bind("a", "x").unwrap()["new"], true);
    // Now x → ... nothing; x binding to c would close c → b → a → x → c.
    assert_refused(bind("x", "c"), "would make a loop");
}

fn joined(id: &str, inviter: Option<&str>) -> Event {
    let mut m = testing::member(id);
    m.inviter_id = inviter.map(Into::into);
    Event::MemberJoined(m)
}

#[test]
fn registration_binds_to_the_inviter_once() {
    let host = MockHost::from_manifest(MANIFEST);
    let registration = with(json!({"binding": "registration", "promoters": "approved"}));
    event_with(&registration, joined("m1", Some("inv")));
    // A redelivered event, or a second inviter, changes nothing.
    event_with(&registration, joined("m1", Some("inv")));
    event_with(&registration, joined("m1", Some("other")));
    let me = act_with(&registration, &member("m1"), "me", json!({})).unwrap();
    assert_eq!(me["upline"], "inv");
    assert_eq!(
        act_with(&registration, &member("inv"), "me", json!({})).unwrap()["team_size"],
        1
    );
    // No inviter, self-invited or a loop: not bound.
    event_with(&registration, joined("m2", None));
    event_with(&registration, joined("m3", Some("m3")));
    event_with(&registration, joined("inv", Some("m1")));
    for id in ["m2", "m3", "inv"] {
        assert!(
            act_with(&registration, &member(id), "me", json!({})).unwrap()["upline"].is_null(),
            "{id}"
        );
    }
    // First-touch shops ignore the inviter.
    event(joined("m4", Some("inv")));
    assert!(act(&member("m4"), "me", json!({})).unwrap()["upline"].is_null());
    assert!(host.ledger_postings().is_empty());
}

// ---- commissions -----------------------------------------------------------------------------

#[test]
fn order_created_snapshots_the_chain() {
    let host = MockHost::from_manifest(MANIFEST);
    chain(&["a", "b"]);
    host.add_member(testing::member("buyer"));
    bind("buyer", "b").unwrap();
    let lines = [testing::cart_line(0, "p1", 1, 1000)];
    let order = testing::order("o1", Some("buyer"), &lines);
    let ctx = host.context(BASE);
    let attrs = Plugin_::order_created(&ctx, &order, None).unwrap();
    let attr = |k: &str, v: &str| Attribute {
        key: k.into(),
        value: v.into(),
    };
    assert_eq!(attrs, [attr("level1", "b"), attr("level2", "a")]);
    assert!(host.state_snapshot().contains_key("s/o1"));
    // An empty input is fine; anything else is not for this plugin.
    assert!(Plugin_::order_created(&ctx, &order, Some("{}")).is_ok());
    assert_invalid(
        Plugin_::order_created(&ctx, &order, Some(r#"{"ref":"a"}"#)),
        "unknown field `ref`",
    );
    // Guests and unbound buyers get nothing.
    let guest = testing::order("o2", None, &lines);
    assert!(
        Plugin_::order_created(&ctx, &guest, None)
            .unwrap()
            .is_empty()
    );
    let unbound = testing::order("o3", Some("a"), &lines);
    assert!(
        Plugin_::order_created(&ctx, &unbound, None)
            .unwrap()
            .is_empty()
    );
    assert!(!host.state_snapshot().contains_key("s/o3"));
    // An order closed unpaid drops its snapshot.
    event(Event::OrderClosed(order.clone()));
    assert!(!host.state_snapshot().contains_key("s/o1"));
}

#[test]
fn two_levels_are_paid_and_never_a_third() {
    let host = MockHost::from_manifest(MANIFEST);
    // buyer → c → b → a.
    chain(&["a", "b", "c"]);
    host.add_member(testing::member("buyer"));
    bind("buyer", "c").unwrap();
    let paid_at = host.now();
    // 10% and 5% of 1009 + 2×2500 = 6009: floor per line: 100 + 500, 50 + 250.
    buy("o1", "buyer", &[("p1", 1, 1009), ("p2", 2, 2500)]);
    assert_eq!(
        balance("c"),
        Balance {
            total: 600,
            available: 0
        }
    );
    assert_eq!(
        balance("b"),
        Balance {
            total: 250 + 50,
            available: 0
        }
    );
    assert_eq!(balance("a").total, 0);
    assert!(commissions("a").is_empty());
    let c = only_commission("c");
    assert_eq!(
        (
            c["level"].as_i64(),
            c["amount"].as_i64(),
            c["status"].as_str()
        ),
        (Some(1), Some(600), Some("pending"))
    );
    assert_eq!(c["available_at"].as_i64(), Some(paid_at + 7 * DAY_MS));
    assert_eq!(only_commission("b")["level"], 2);
    // Each posting takes from the shop's commission account: the books balance.
    let postings = host.ledger_postings();
    assert_eq!(postings.len(), 2);
    for p in &postings {
        assert_eq!(p.entries[0].party, Party::Shop);
        assert_eq!(p.entries[0].account, "commission");
        assert_eq!(p.entries[1].available_at, Some(paid_at + 7 * DAY_MS));
    }
    assert_eq!(
        baseplate_sdk::ledger::balance(&Party::Shop, "commission").total,
        -900
    );
    // The buyer's own distributor buying pays their upline, never themselves.
    buy("o2", "c", &[("p1", 1, 1000)]);
    assert_eq!(balance("c").total, 600);
    assert_eq!(balance("b").total, 300 + 100);
    assert_eq!(balance("a").total, 50);
}

#[test]
fn one_level_when_level2_is_zero() {
    let host = MockHost::from_manifest(MANIFEST);
    let one = with(json!({"level2_bp": 0}));
    chain(&["a", "b"]);
    host.add_member(testing::member("buyer"));
    bind("buyer", "b").unwrap();
    create_with(&one, "o1", "buyer", &[("p1", 1, 1000)]);
    pay_with(&one, "o1");
    assert_eq!(balance("b").total, 100);
    assert_eq!(balance("a").total, 0);
    assert!(commissions("a").is_empty());
}

#[test]
fn only_approved_distributors_earn() {
    let host = MockHost::from_manifest(MANIFEST);
    chain(&["a", "b"]);
    host.add_member(testing::member("buyer"));
    bind("buyer", "b").unwrap();
    // The upline is rejected: the direct distributor alone earns.
    act(&staff(), "reject", json!({"member_id": "a"})).unwrap();
    buy("o1", "buyer", &[("p1", 1, 1000)]);
    assert_eq!((balance("b").total, balance("a").total), (100, 0));
    // The direct distributor is rejected: nobody earns, not even the (re-approved) upline.
    act(&staff(), "approve", json!({"member_id": "a"})).unwrap();
    act(&staff(), "reject", json!({"member_id": "b"})).unwrap();
    buy("o2", "buyer", &[("p1", 1, 1000)]);
    assert_eq!((balance("b").total, balance("a").total), (100, 0));
    // Approval after payment does not reach back: a refund of o2 books nothing for b.
    act(&staff(), "approve", json!({"member_id": "b"})).unwrap();
    refund("o2", 0, 100);
    assert_eq!((balance("b").total, balance("a").total), (100, 0));
    assert_eq!(commissions("b").len(), 1);
}

#[test]
fn product_overrides_set_the_rate() {
    let host = MockHost::from_manifest(MANIFEST);
    let config = with(json!({"overrides": {
        "tea": {"type": "fixed", "level1": 300, "level2": 100},
        "cup": {"type": "percent", "level1_bp": 2000},
    }}));
    chain(&["a", "b"]);
    host.add_member(testing::member("buyer"));
    bind("buyer", "b").unwrap();
    create_with(
        &config,
        "o1",
        "buyer",
        &[("tea", 3, 2000), ("cup", 1, 1555), ("pen", 1, 1000)],
    );
    pay_with(&config, "o1");
    // b: 3 × 300 + floor(1555 × 20%) + 10% of 1000; a: 3 × 100 + 0 + 5% of 1000.
    assert_eq!(balance("b").total, 900 + 311 + 100);
    assert_eq!(balance("a").total, 300 + 50);
    // Rates are fixed at payment: a later config change does not re-price a refund.
    refund_with(BASE, "o1", 0, 3000);
    assert_eq!(balance("b").total, 450 + 311 + 100);
    assert_eq!(balance("a").total, 150 + 50);
}

#[test]
fn repeated_and_late_order_events_book_once() {
    let host = MockHost::from_manifest(MANIFEST);
    chain(&["b"]);
    host.add_member(testing::member("buyer"));
    bind("buyer", "b").unwrap();
    let order = buy("o1", "buyer", &[("p1", 1, 10_000)]);
    event(Event::OrderPaid(order.clone()));
    event(Event::OrderPaid(order.clone()));
    assert_eq!(balance("b").total, 1000);
    assert_eq!(host.ledger_postings().len(), 1);
    // A refund, then its event again, then the stale order-paid: reversed once.
    let refunded = refund("o1", 0, 2500);
    event(Event::OrderRefunded(OrderRefunded {
        order: refunded,
        refund: Refund {
            id: "r".into(),
            amount: 2500,
            lines: Vec::new(),
            reason: "x".into(),
            created_at: MockHost::current().now(),
        },
    }));
    event(Event::OrderPaid(order));
    assert_eq!(balance("b").total, 750);
    assert_eq!(host.ledger_postings().len(), 2);
}

#[test]
fn a_refund_delivered_before_its_payment_is_counted_once() {
    let host = MockHost::from_manifest(MANIFEST);
    chain(&["b"]);
    host.add_member(testing::member("buyer"));
    bind("buyer", "b").unwrap();
    create_with(BASE, "o1", "buyer", &[("p1", 1, 10_000)]);
    let mut order = host.order("o1").unwrap();
    order.payment_status = PaymentStatus::Paid;
    order.paid_amount = 10_000;
    order.paid_at = Some(host.now());
    host.add_order(order.clone());
    // The refund's event arrives first: no book yet, nothing to reverse.
    refund("o1", 0, 4000);
    assert!(host.ledger_postings().is_empty());
    // The late order-paid carries the order as it was at payment, but books on today's net.
    host.advance(DAY_MS);
    event(Event::OrderPaid(order));
    assert_eq!(balance("b").total, 600);
    assert_eq!(only_commission("b")["gross"], 1000);
    assert_eq!(
        only_commission("b")["available_at"].as_i64(),
        Some(host.now() - DAY_MS + 7 * DAY_MS)
    );
    // A refund of an order paid before the plugin knew it books nothing either.
    let mut stranger = testing::order("o9", Some("buyer"), &[testing::cart_line(0, "p1", 1, 100)]);
    stranger.payment_status = PaymentStatus::Paid;
    host.add_order(stranger);
    refund("o9", 0, 50);
    assert_eq!(host.ledger_postings().len(), 1);
}

#[test]
fn refunds_before_settlement_reduce_then_cancel_without_drift() {
    let host = MockHost::from_manifest(MANIFEST);
    chain(&["a", "b"]);
    host.add_member(testing::member("buyer"));
    bind("buyer", "b").unwrap();
    buy("o1", "buyer", &[("p1", 1, 1009), ("p2", 1, 5000)]);
    let available_at = host.now() + 7 * DAY_MS;
    assert_eq!((balance("b").total, balance("a").total), (600, 300));
    host.advance(DAY_MS);
    // Many small refunds on p1: each time the commission is floor(net × rate) on the net.
    let mut net = 1009;
    for amount in [9, 1, 1, 3, 95] {
        refund("o1", 0, amount);
        net -= amount;
        assert_eq!(balance("b").total, net * 1000 / 10_000 + 500, "net {net}");
        assert_eq!(balance("a").total, net * 500 / 10_000 + 250, "net {net}");
    }
    // Reversals before settlement keep the commission's settlement time: still all pending.
    for p in host.ledger_postings().iter().skip(2) {
        assert!(p.entries[1].amount < 0);
        assert_eq!(p.entries[1].available_at, Some(available_at));
    }
    assert_eq!(balance("b").available, 0);
    let c = only_commission("b");
    assert_eq!(
        (
            c["status"].as_str(),
            c["gross"].as_i64(),
            c["amount"].as_i64()
        ),
        (Some("pending"), Some(600), Some(590))
    );
    // Refunding the rest cancels it; after the freeze nothing is withdrawable.
    refund("o1", 0, 900);
    refund("o1", 1, 5000);
    assert_eq!((balance("b").total, balance("a").total), (0, 0));
    assert_eq!(only_commission("b")["status"], "cancelled");
    assert_eq!(only_commission("a")["reversed"], 300);
    host.set_now(available_at);
    assert_eq!(
        balance("b"),
        Balance {
            total: 0,
            available: 0
        }
    );
    assert_eq!(only_commission("b")["status"], "cancelled");
    assert_eq!(only_commission("b")["reversed_after_settlement"], 0);
}

#[test]
fn a_refund_made_before_settlement_but_delivered_after_it_reduces_the_pending_commission() {
    let host = MockHost::from_manifest(MANIFEST);
    chain(&["b"]);
    host.add_member(testing::member("buyer"));
    bind("buyer", "b").unwrap();
    buy("o1", "buyer", &[("p1", 1, 20_000)]);
    let settles_at = host.now() + 7 * DAY_MS;
    let made_at = host.now() + 3 * DAY_MS;
    // The refund is made on day 3; its event arrives after the freeze ended (day 8).
    host.advance(8 * DAY_MS);
    refund_made_at(BASE, "o1", 0, 15_000, made_at);
    let reversal = host.ledger_postings().last().unwrap().clone();
    assert_eq!(reversal.entries[1].amount, -1500);
    assert_eq!(
        reversal.entries[1].available_at,
        Some(settles_at),
        "a reversal before settlement keeps the commission's settlement time"
    );
    assert_eq!(reversal.order_id.as_deref(), Some("o1"));
    let c = only_commission("b");
    assert_eq!(
        (
            c["amount"].as_i64(),
            c["reversed_after_settlement"].as_i64()
        ),
        (Some(500), Some(0))
    );
    assert_eq!(
        balance("b"),
        Balance {
            total: 500,
            available: 500
        }
    );
}

#[test]
fn a_refund_after_settlement_nets_against_the_next_payout() {
    let host = MockHost::from_manifest(MANIFEST);
    chain(&["b"]);
    host.add_member(testing::member("buyer"));
    bind("buyer", "b").unwrap();
    buy("o1", "buyer", &[("p1", 1, 20_000)]);
    let settles_at = host.now() + 7 * DAY_MS;
    host.advance(7 * DAY_MS + 3_600_000);
    assert_eq!(only_commission("b")["status"], "settled");
    assert_eq!(
        balance("b"),
        Balance {
            total: 2000,
            available: 2000
        }
    );
    act(&member("b"), "withdraw", json!({"amount": 2000})).unwrap();
    assert_eq!(
        balance("b"),
        Balance {
            total: 0,
            available: 0
        }
    );
    // The buyer returns it after settlement: the reversal is available at once.
    refund("o1", 0, 15_000);
    let reversal = host.ledger_postings().last().unwrap().clone();
    assert_eq!(reversal.entries[1].amount, -1500);
    assert_eq!(reversal.entries[1].available_at, Some(host.now()));
    assert!(host.now() > settles_at);
    assert_eq!(
        balance("b"),
        Balance {
            total: -1500,
            available: -1500
        }
    );
    let c = only_commission("b");
    assert_eq!(
        (
            c["status"].as_str(),
            c["amount"].as_i64(),
            c["reversed_after_settlement"].as_i64()
        ),
        (Some("settled"), Some(500), Some(1500))
    );
    assert_refused(
        act(&member("b"), "withdraw", json!({"amount": 1000})),
        "only 0.00 CNY is available",
    );
    // The next commission settles into the hole first.
    buy("o2", "buyer", &[("p1", 1, 30_000)]);
    assert_eq!(
        balance("b"),
        Balance {
            total: 1500,
            available: -1500
        }
    );
    host.advance(7 * DAY_MS);
    assert_eq!(
        balance("b"),
        Balance {
            total: 1500,
            available: 1500
        }
    );
    assert_refused(
        act(&member("b"), "withdraw", json!({"amount": 1501})),
        "only 15.00 CNY",
    );
    act(&member("b"), "withdraw", json!({"amount": 1500})).unwrap();
    assert_eq!(balance("b").total, 0);
}

// ---- withdrawals -------------------------------------------------------------------------------

#[test]
fn withdrawals_respect_the_minimum_and_the_available_balance() {
    let host = MockHost::from_manifest(MANIFEST);
    chain(&["b"]);
    host.add_member(testing::member("buyer"));
    bind("buyer", "b").unwrap();
    buy("o1", "buyer", &[("p1", 1, 50_000)]);
    // Pending is not withdrawable.
    assert_refused(
        act(&member("b"), "withdraw", json!({"amount": 1000})),
        "only 0.00 CNY is available",
    );
    host.advance(7 * DAY_MS);
    assert_refused(
        act(&member("b"), "withdraw", json!({"amount": 999})),
        "the minimum withdrawal is 10.00 CNY",
    );
    assert_refused(
        act(&member("b"), "withdraw", json!({"amount": 5001})),
        "only 50.00 CNY is available",
    );
    assert_refused(
        guard(&staff(), "withdraw", json!({"amount": 1000})),
        "only a member",
    );
    assert_invalid(
        act(&member("b"), "withdraw", json!({})),
        "`amount` is required",
    );
    assert_invalid(
        act(&member("b"), "withdraw", json!({"amount": 0})),
        "`amount` must be an integer > 0",
    );
    assert_invalid(
        act(&member("b"), "withdraw", json!({"amount": 10.5})),
        "`amount` must be an integer > 0",
    );
    assert_invalid(
        act(
            &member("b"),
            "withdraw",
            json!({"amount": 1000, "to": "bank"}),
        ),
        "unknown field `to`",
    );

    let out = act(
        &member("b"),
        "withdraw",
        json!({"amount": 3000, "request_id": "req-1"}),
    )
    .unwrap();
    assert!(out["withdrawal_id"].as_str().unwrap().starts_with("wd_"));
    assert_eq!(out["balances"]["commission_available"], 2000);
    assert_eq!(out["balances"]["withdrawn"], 3000);
    // A retried request applies once; the same id for another amount is a conflict.
    let again = act(
        &member("b"),
        "withdraw",
        json!({"amount": 3000, "request_id": "req-1"}),
    )
    .unwrap();
    assert_eq!(again["withdrawal_id"], out["withdrawal_id"]);
    assert!(matches!(
        act(
            &member("b"),
            "withdraw",
            json!({"amount": 1000, "request_id": "req-1"})
        ),
        Err(PluginError::Conflict(_))
    ));
    let p = host.ledger_postings().last().unwrap().clone();
    assert_eq!(p.entries.len(), 2);
    assert_eq!(
        (p.entries[0].account.as_str(), p.entries[0].amount),
        ("commission", -3000)
    );
    assert_eq!(
        (p.entries[1].account.as_str(), p.entries[1].amount),
        ("withdrawn", 3000)
    );
    assert_eq!(p.entries[1].party, Party::Member("b".into()));
    act(&member("b"), "withdraw", json!({"amount": 2000})).unwrap();
    assert_eq!(
        balance("b"),
        Balance {
            total: 0,
            available: 0
        }
    );
    let me = act(&member("b"), "me", json!({})).unwrap();
    assert_eq!(me["balances"]["withdrawn"], 5000);
    assert_eq!(me["min_withdrawal"], 1000);
}

#[test]
fn me_and_my_commissions_are_private_to_the_member_and_open_to_staff() {
    let host = MockHost::from_manifest(MANIFEST);
    chain(&["b"]);
    host.add_member(testing::member("buyer"));
    bind("buyer", "b").unwrap();
    buy("o1", "buyer", &[("p1", 1, 10_000)]);
    host.advance(1);
    buy("o2", "buyer", &[("p1", 1, 20_000)]);
    assert_refused(
        act(
            &member("buyer"),
            "my-commissions",
            json!({"member_id": "b"}),
        ),
        "only act for themselves",
    );
    assert_refused(
        act(&member("buyer"), "me", json!({"member_id": "b"})),
        "only act for themselves",
    );
    let ghost = act(&staff(), "me", json!({"member_id": "ghost"})).unwrap_err();
    assert!(
        ghost.message().contains("not a member of this shop"),
        "{ghost:?}"
    );
    assert_invalid(act(&staff(), "me", json!({})), "`member_id` is required");
    let me = act(&staff(), "me", json!({"member_id": "b"})).unwrap();
    assert_eq!(me["distributor"]["status"], "approved");
    assert_eq!(me["team_size"], 1);
    assert_eq!(me["balances"]["commission_pending"], 3000);
    let buyer = act(&member("buyer"), "me", json!({})).unwrap();
    assert!(buyer["distributor"].is_null());
    assert_eq!(buyer["upline"], "b");
    let page = act(
        &staff(),
        "my-commissions",
        json!({"member_id": "b", "limit": 1}),
    )
    .unwrap();
    assert_eq!(page["commissions"].as_array().unwrap().len(), 1);
    assert_eq!(page["commissions"][0]["order_id"], "o1");
    let rest = act(
        &staff(),
        "my-commissions",
        json!({"member_id": "b", "after": page["next_after"]}),
    )
    .unwrap();
    assert_eq!(rest["commissions"][0]["order_id"], "o2");
    assert!(rest["next_after"].is_null());
    // o1 settles a moment before o2.
    host.advance(7 * DAY_MS - 1);
    let statuses: Vec<String> = commissions("b")
        .iter()
        .map(|c| c["status"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(statuses, ["settled", "pending"]);
}

#[test]
fn a_failing_hook_leaves_nothing_behind() {
    let host = MockHost::from_manifest(MANIFEST);
    chain(&["b"]);
    host.add_member(testing::member("buyer"));
    bind("buyer", "b").unwrap();
    create_with(BASE, "o1", "buyer", &[("p1", 1, 1000)]);
    // A config that no longer parses fails the delivery; it is retried later, whole.
    let mut order = host.order("o1").unwrap();
    order.payment_status = PaymentStatus::Paid;
    order.paid_at = Some(host.now());
    host.add_order(order.clone());
    let ctx = host.context(r#"{"level1_bp": "lots"}"#);
    assert!(
        host.atomic(|| Plugin_::handle_event(&ctx, &Event::OrderPaid(order.clone())))
            .is_err()
    );
    assert!(host.ledger_postings().is_empty());
    assert!(host.state_snapshot().contains_key("s/o1"));
    event(Event::OrderPaid(order));
    assert_eq!(balance("b").total, 100);
    assert!(!host.state_snapshot().contains_key("s/o1"));
}
