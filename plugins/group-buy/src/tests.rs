//! The group-buy rules, run natively against the SDK's mock host, which enforces the
//! plugin's manifest and, like the real host, lets `order_created` hold a pending order
//! (it then waits in awaiting_confirmation once paid).

use crate::GroupBuy;
use crate::groups::virtually_complete;
use crate::model::HOUR_MS;
use baseplate_sdk::testing::{
    self, MockHost, OrderAction, assert_invalid, assert_refused, buyer as member, staff,
};
use baseplate_sdk::{
    Actor, Attribute, Event, Order, OrderRefunded, OrderStatus, PaymentStatus, Plugin, PriceStage,
    Refund, RefundState, Result,
};
use serde_json::{Value, json};

/// The mock host enforces this plugin's manifest, as the real host does.
const MANIFEST: &str = include_str!("../plugin.toml");

const PRICE: i64 = 10_000;
const SKU: &str = "p1-sku";

fn host() -> MockHost {
    MockHost::current()
}

/// What the plugin itself answers a call the host refuses before the plugin runs (an
/// undeclared action, an actor the action is not open to): its own guard.
fn guard(actor: &Actor, name: &str, input: Value) -> Result<Value> {
    MockHost::current()
        .set_config("{}")
        .act_unchecked::<GroupBuy>(actor, name, input)
}

/// Runs an action as the host does: declared, open to the actor, atomic.
#[track_caller]
fn act(actor: &Actor, name: &str, input: Value) -> Result<Value> {
    MockHost::current()
        .set_config("{}")
        .act::<GroupBuy>(actor, name, input)
}

/// An activity on SKU `p1-sku`: groups of 3, 24 h, group price 60.00, leader price 50.00,
/// running from an hour ago for a week, stock 100, plus `overrides`.
fn activity(overrides: Value) -> String {
    let now = host().now();
    let mut input = json!({
        "name": "Longjing for three",
        "sku_id": SKU,
        "group_size": 3,
        "validity_hours": 24,
        "group_price": 6_000,
        "leader_price": 5_000,
        "start_at": now - HOUR_MS,
        "end_at": now + 7 * 24 * HOUR_MS,
        "stock": 100,
    });
    for (k, v) in overrides.as_object().unwrap() {
        input[k] = v.clone();
    }
    let out = act(&staff(), "create-activity", input).unwrap();
    out["activity_id"].as_str().unwrap().to_string()
}

fn input(activity: &str, group: Option<&str>) -> String {
    match group {
        None => json!({ "activity_id": activity }),
        Some(g) => json!({ "activity_id": activity, "group_id": g }),
    }
    .to_string()
}

fn ensure_member(id: &str, paid_orders: u32) {
    let mut m = testing::member(id);
    m.paid_orders = paid_orders;
    host().add_member(m);
}

/// Creates order `order_id` for `qty` units and runs `order_created` as the host would:
/// on success the order exists (pending payment), on refusal it never did.
fn checkout_qty(
    order_id: &str,
    member_id: &str,
    activity: &str,
    group: Option<&str>,
    qty: u32,
) -> Result<Vec<Attribute>> {
    if baseplate_sdk::shop::member(member_id).is_none() {
        ensure_member(member_id, 0);
    }
    let lines = [testing::cart_line(0, "p1", qty, PRICE)];
    let pending = testing::order(order_id, Some(member_id), &lines);
    // On a refusal the host rolls the order back with it: to the plugin it is gone.
    let host = host().set_config("{}");
    host.order_created::<GroupBuy>(&pending, Some(&input(activity, group)))
}

fn checkout(order_id: &str, member_id: &str, activity: &str, group: Option<&str>) -> Result<()> {
    checkout_qty(order_id, member_id, activity, group, 1).map(drop)
}

/// Opens a group: leader `m_lead` checks out and pays. Returns the group id.
fn open_group(activity: &str, leader: &str, order_id: &str) -> String {
    let attrs = checkout_qty(order_id, leader, activity, None, 1).unwrap();
    pay(order_id);
    attr(&attrs, "group_id")
}

fn attr(attrs: &[Attribute], key: &str) -> String {
    attrs.iter().find(|a| a.key == key).unwrap().value.clone()
}

fn event(e: Event) {
    host()
        .set_config("{}")
        .handle_event::<GroupBuy>(&e)
        .unwrap();
}

/// The buyer pays: the order moves to awaiting_confirmation (it is held) and the plugin
/// gets order-paid.
fn pay(order_id: &str) {
    let o = mark_paid(order_id);
    event(Event::OrderPaid(o));
}

/// The payment lands on the order without the event being delivered (yet).
fn mark_paid(order_id: &str) -> Order {
    let mut o = host().order(order_id).unwrap();
    assert_eq!(o.status, OrderStatus::PendingPayment, "{order_id}");
    o.status = OrderStatus::AwaitingConfirmation;
    o.payment_status = PaymentStatus::Paid;
    o.paid_amount = o.payable_amount;
    o.paid_at = Some(host().now());
    host().add_order(o.clone());
    o
}

/// The host closes an unpaid order (payment timeout) without telling the plugin yet.
fn mark_closed(order_id: &str) -> Order {
    let mut o = host().order(order_id).unwrap();
    o.status = OrderStatus::Closed;
    o.close_reason = Some("payment_timeout".into());
    host().add_order(o.clone());
    o
}

fn close_unpaid(order_id: &str) {
    let o = mark_closed(order_id);
    event(Event::OrderClosed(o));
}

fn fire_due() -> usize {
    host()
        .set_config("{}")
        .fire_due_timers::<GroupBuy>()
        .unwrap()
}

fn status(order_id: &str) -> OrderStatus {
    host().order(order_id).unwrap().status
}

fn group(id: &str) -> Value {
    act(&staff(), "get-group", json!({ "group_id": id })).unwrap()
}

fn stock_taken(activity: &str) -> i64 {
    act(&staff(), "get-activity", json!({ "activity_id": activity })).unwrap()["stock_taken"]
        .as_i64()
        .unwrap()
}

fn cancels() -> Vec<(String, String)> {
    host()
        .order_actions()
        .into_iter()
        .filter_map(|a| match a {
            OrderAction::Cancel { order_id, reason } => Some((order_id, reason)),
            _ => None,
        })
        .collect()
}

fn confirms() -> Vec<String> {
    host()
        .order_actions()
        .into_iter()
        .filter_map(|a| match a {
            OrderAction::Confirm { order_id } => Some(order_id),
            _ => None,
        })
        .collect()
}

#[test]
fn config_is_validated() {
    assert!(
        MockHost::current()
            .validate_config::<GroupBuy>("{}")
            .is_ok()
    );
    assert!(MockHost::current().validate_config::<GroupBuy>("").is_ok());
    assert!(
        MockHost::current()
            .validate_config::<GroupBuy>(r#"{"default_validity_hours": 48}"#)
            .is_ok()
    );
    assert_invalid(
        MockHost::current().validate_config::<GroupBuy>(r#"{"default_validity_hours": 0}"#),
        "invalid config: `default_validity_hours` must be an integer 1..=720",
    );
    assert_invalid(
        MockHost::current().validate_config::<GroupBuy>(r#"{"default_validity_hours": "24"}"#),
        "`default_validity_hours`",
    );
    assert_invalid(
        MockHost::current().validate_config::<GroupBuy>(r#"{"group_size": 3}"#),
        "unknown field `group_size`; allowed: default_validity_hours",
    );
    assert_invalid(
        MockHost::current().validate_config::<GroupBuy>("{"),
        "not valid JSON",
    );
}

#[test]
fn create_activity_names_every_bad_field() {
    MockHost::from_manifest(MANIFEST);
    let now = host().now();
    let base = json!({
        "name": "Tea", "sku_id": SKU, "group_size": 3, "group_price": 6_000,
        "start_at": now, "end_at": now + HOUR_MS, "stock": 10,
    });
    let with = |k: &str, v: Value| {
        let mut input = base.clone();
        input[k] = v;
        act(&staff(), "create-activity", input)
    };
    assert_invalid(with("name", json!("")), "`name` must be a name of 1..=100");
    assert_invalid(
        with("group_size", json!(1)),
        "`group_size` must be an integer 2..=100",
    );
    assert_invalid(with("group_size", json!(101)), "`group_size`");
    assert_invalid(
        with("validity_hours", json!(0)),
        "`validity_hours` must be an integer 1..=720",
    );
    assert_invalid(
        with("group_price", json!(0)),
        "`group_price` must be an integer > 0",
    );
    assert_invalid(
        with("leader_price", json!(6_001)),
        "`leader_price` must be null or an integer 1..=`group_price`",
    );
    assert_invalid(
        with("end_at", json!(now)),
        "`end_at` must be a time in ms after `start_at`",
    );
    assert_invalid(with("start_at", json!(-1)), "`start_at`");
    assert_invalid(with("per_order_limit", json!(0)), "`per_order_limit`");
    let mut limits = base.clone();
    limits["per_order_limit"] = json!(3);
    limits["per_buyer_limit"] = json!(2);
    assert_invalid(
        act(&staff(), "create-activity", limits),
        "`per_buyer_limit` must be null (no limit) or an integer ≥ `per_order_limit`",
    );
    assert_invalid(
        with("stock", json!(0)),
        "`stock` must be an integer 1..=100000000",
    );
    assert_invalid(
        with("allow_solo", json!("no")),
        "`allow_solo` must be true or false",
    );
    assert_invalid(
        with("virtual_completion_bp", json!(10_000)),
        "`virtual_completion_bp`",
    );
    assert_invalid(with("colour", json!("red")), "unknown field `colour`");
    let mut missing = base.clone();
    missing.as_object_mut().unwrap().remove("sku_id");
    assert_invalid(
        act(&staff(), "create-activity", missing),
        "`sku_id` is required",
    );
    assert_refused(
        guard(&member("m1"), "create-activity", base.clone()),
        "only shop staff",
    );

    // Defaults: the config's validity, solo allowed, everyone may join, no virtual completion.
    let ctx = host().context(r#"{"default_validity_hours": 12}"#);
    let out =
        GroupBuy::handle_action(&ctx, &staff(), "create-activity", &base.to_string()).unwrap();
    let out: Value = serde_json::from_str(&out).unwrap();
    assert_eq!(out["validity_hours"], 12);
    assert_eq!(out["allow_solo"], true);
    assert_eq!(out["new_customers_only"], false);
    assert_eq!(out["virtual_completion_bp"], Value::Null);
    assert_eq!(out["stock_left"], 10);
    assert_eq!(out["phase"], "running");
    // A second live activity on the same SKU in an overlapping window is refused.
    assert_refused(
        act(&staff(), "create-activity", base.clone()),
        "overlapping window",
    );
    let mut later = base.clone();
    later["start_at"] = json!(now + HOUR_MS);
    later["end_at"] = json!(now + 2 * HOUR_MS);
    assert!(act(&staff(), "create-activity", later).is_ok());
}

#[test]
fn activities_are_listed_read_and_ended() {
    MockHost::from_manifest(MANIFEST);
    let a = activity(json!({}));
    let list = act(&member("m1"), "list-activities", json!({})).unwrap();
    assert_eq!(list["activities"][0]["activity_id"], a.as_str());
    let got = act(&member("m1"), "get-activity", json!({ "activity_id": a })).unwrap();
    assert_eq!(got["group_size"], 3);
    assert_eq!(got["status"], "active");
    assert_eq!(
        act(&staff(), "get-activity", json!({ "activity_id": "act_x" }))
            .unwrap_err()
            .kind(),
        "not-found"
    );
    assert_invalid(
        act(&staff(), "get-activity", json!({ "id": a })),
        "unknown field `id`",
    );
    assert_refused(
        guard(&member("m1"), "end-activity", json!({ "activity_id": a })),
        "only shop staff",
    );
    let ended = act(&staff(), "end-activity", json!({ "activity_id": a })).unwrap();
    assert_eq!(
        (ended["status"].clone(), ended["phase"].clone()),
        (json!("ended"), json!("ended"))
    );
    let at = ended["ended_at"].clone();
    host().advance(1000);
    let again = act(&staff(), "end-activity", json!({ "activity_id": a })).unwrap();
    assert_eq!(again["ended_at"], at, "ending twice changes nothing");
    assert_refused(checkout("o1", "m1", &a, None), "has ended");
}

#[test]
fn price_gives_the_group_price_and_the_leader_price() {
    MockHost::from_manifest(MANIFEST);
    let a = activity(json!({}));
    let ctx = host().context("{}");
    let lines = vec![
        testing::cart_line(0, "p1", 2, PRICE),
        testing::cart_line(1, "p2", 1, 3_000),
    ];
    let leader = testing::cart(Some("m1"), lines.clone(), Some(&input(&a, None)));
    let adj = GroupBuy::price(&ctx, PriceStage::Item, &leader).unwrap();
    assert_eq!(adj.len(), 1);
    assert_eq!((adj[0].line, adj[0].amount), (0, 2 * (PRICE - 5_000)));
    assert!(adj[0].label.contains("leader"), "{}", adj[0].label);
    let joiner = testing::cart(Some("m2"), lines.clone(), Some(&input(&a, Some("grp_1"))));
    let adj = GroupBuy::price(&ctx, PriceStage::Item, &joiner).unwrap();
    assert_eq!((adj[0].line, adj[0].amount), (0, 2 * (PRICE - 6_000)));
    assert_eq!(adj[0].reference.as_deref(), Some("grp_1"));
    // Only the item stage; no input, no adjustment.
    assert!(
        GroupBuy::price(&ctx, PriceStage::Coupon, &joiner)
            .unwrap()
            .is_empty()
    );
    let plain = testing::cart(Some("m1"), lines.clone(), None);
    assert!(
        GroupBuy::price(&ctx, PriceStage::Item, &plain)
            .unwrap()
            .is_empty()
    );
    // A line already below the group price is not raised.
    let mut cheap = testing::cart_line(0, "p1", 1, PRICE);
    cheap.amount = 4_000;
    let c = testing::cart(Some("m1"), vec![cheap], Some(&input(&a, Some("grp_1"))));
    assert!(
        GroupBuy::price(&ctx, PriceStage::Item, &c)
            .unwrap()
            .is_empty()
    );
    // The cart must hold the activity's SKU; the activity must exist; the input is checked.
    let other = testing::cart(
        Some("m1"),
        vec![testing::cart_line(0, "p2", 1, 3_000)],
        Some(&input(&a, None)),
    );
    assert_refused(
        GroupBuy::price(&ctx, PriceStage::Item, &other),
        "no item of SKU p1-sku",
    );
    let missing = testing::cart(Some("m1"), lines.clone(), Some(&input("act_nope", None)));
    assert_eq!(
        GroupBuy::price(&ctx, PriceStage::Item, &missing)
            .unwrap_err()
            .kind(),
        "not-found"
    );
    let bad = testing::cart(Some("m1"), lines, Some(r#"{"activity": "x"}"#));
    assert_invalid(
        GroupBuy::price(&ctx, PriceStage::Item, &bad),
        "plugins.group-buy: unknown field `activity`",
    );
}

#[test]
fn solo_purchase_is_refused_only_while_a_group_only_activity_runs() {
    MockHost::from_manifest(MANIFEST);
    let now = host().now();
    activity(
        json!({ "allow_solo": false, "start_at": now + HOUR_MS, "end_at": now + 2 * HOUR_MS }),
    );
    let solo = testing::cart(
        Some("m1"),
        vec![testing::cart_line(0, "p1", 1, PRICE)],
        None,
    );
    let check = || GroupBuy::validate_checkout(&host().context("{}"), &solo);
    assert!(check().is_ok(), "before the window the SKU sells alone");
    host().advance(HOUR_MS);
    assert_refused(check(), "SKU p1-sku is sold only in groups");
    // Other SKUs are not affected.
    let tea = testing::cart(
        Some("m1"),
        vec![testing::cart_line(0, "p2", 1, PRICE)],
        None,
    );
    assert!(GroupBuy::validate_checkout(&host().context("{}"), &tea).is_ok());
    host().advance(HOUR_MS);
    assert!(
        check().is_ok(),
        "after the window the SKU sells alone again"
    );

    // An allow-solo activity never refuses; a group-only one stops refusing once ended.
    MockHost::from_manifest(MANIFEST);
    activity(json!({}));
    assert!(check().is_ok());
    MockHost::from_manifest(MANIFEST);
    let a = activity(json!({ "allow_solo": false }));
    assert_refused(check(), "sold only in groups");
    // Through the group the same SKU is fine.
    let grouped = testing::cart(
        Some("m1"),
        vec![testing::cart_line(0, "p1", 1, PRICE)],
        Some(&input(&a, None)),
    );
    assert!(GroupBuy::validate_checkout(&host().context("{}"), &grouped).is_ok());
    let anonymous = testing::cart(None, grouped.lines.clone(), grouped.input.as_deref());
    assert_refused(
        GroupBuy::validate_checkout(&host().context("{}"), &anonymous),
        "sign in as a member",
    );
    act(&staff(), "end-activity", json!({ "activity_id": a })).unwrap();
    assert!(check().is_ok());
}

#[test]
fn validate_checkout_refuses_window_limits_and_stock_early() {
    MockHost::from_manifest(MANIFEST);
    let a = activity(json!({ "per_order_limit": 2, "stock": 3 }));
    let cart = |qty| {
        testing::cart(
            Some("m1"),
            vec![testing::cart_line(0, "p1", qty, PRICE)],
            Some(&input(&a, None)),
        )
    };
    let check = |qty| GroupBuy::validate_checkout(&host().context("{}"), &cart(qty));
    assert!(check(2).is_ok());
    assert_refused(check(3), "at most 2 per order");
    checkout_qty("o1", "m9", &a, None, 2).unwrap();
    assert_refused(check(2), "has 1 left, 2 asked");
    host().advance(8 * 24 * HOUR_MS);
    assert_refused(check(1), "has ended");
}

#[test]
fn leader_checkout_forms_a_group_and_holds_the_order() {
    MockHost::from_manifest(MANIFEST);
    let a = activity(json!({}));
    let attrs = checkout_qty("o1", "m1", &a, None, 2).unwrap();
    let g = attr(&attrs, "group_id");
    assert_eq!(attr(&attrs, "activity_id"), a);
    assert_eq!(attr(&attrs, "role"), "leader");
    assert!(host().order_actions().contains(&OrderAction::Hold {
        order_id: "o1".into()
    }));
    assert_eq!(stock_taken(&a), 2);
    let view = group(&g);
    assert_eq!(view["status"], "forming");
    assert_eq!(
        view["expires_at"],
        Value::Null,
        "the clock starts at the leader's payment"
    );
    assert_eq!(view["members"][0]["order_id"], "o1");
    // Not joinable and not listed before the leader pays.
    assert_refused(checkout("o2", "m2", &a, Some(&g)), "is not open yet");
    let listed = act(&member("m2"), "list-groups", json!({ "activity_id": a })).unwrap();
    assert_eq!(listed["groups"], json!([]));
    // One live group per buyer per activity: no second group while this one forms.
    assert_refused(checkout("o3", "m1", &a, None), "already in group");
}

#[test]
fn the_leaders_payment_opens_the_group_and_starts_its_clock() {
    MockHost::from_manifest(MANIFEST);
    let a = activity(json!({ "validity_hours": 2 }));
    checkout("o1", "m1", &a, None).unwrap();
    host().advance(60_000);
    let paid_at = host().now();
    pay("o1");
    let g = act(
        &staff(),
        "list-groups",
        json!({ "activity_id": a, "status": "all" }),
    )
    .unwrap()["groups"][0]["group_id"]
        .as_str()
        .unwrap()
        .to_string();
    let view = group(&g);
    assert_eq!(view["status"], "open");
    assert_eq!(view["expires_at"], paid_at + 2 * HOUR_MS);
    assert_eq!(view["slots_left"], 2);
    assert_eq!(status("o1"), OrderStatus::AwaitingConfirmation);
    let timers = host().timers();
    assert_eq!(timers.len(), 1);
    assert_eq!(timers[0].name, format!("expire/{g}"));
    assert_eq!(timers[0].at, paid_at + 2 * HOUR_MS);
    // Members see it, without order ids.
    let listed = act(&member("m2"), "list-groups", json!({ "activity_id": a })).unwrap();
    assert_eq!(listed["groups"][0]["group_id"], g.as_str());
    assert_eq!(listed["groups"][0]["joinable"], true);
    assert_eq!(listed["groups"][0]["members"][0].get("order_id"), None);
    assert_refused(
        act(
            &member("m2"),
            "list-groups",
            json!({ "activity_id": a, "status": "failed" }),
        ),
        "members can list open groups only",
    );
    assert_invalid(
        act(
            &staff(),
            "list-groups",
            json!({ "activity_id": a, "status": "done" }),
        ),
        "`status` must be",
    );
    // A joiner's checkout inherits the group's expiry.
    checkout("o2", "m2", &a, Some(&g)).unwrap();
    assert_eq!(group(&g)["expires_at"], paid_at + 2 * HOUR_MS);
}

#[test]
fn the_group_fills_and_every_order_is_confirmed_at_once() {
    MockHost::from_manifest(MANIFEST);
    let a = activity(json!({}));
    let g = open_group(&a, "m1", "o1");
    checkout("o2", "m2", &a, Some(&g)).unwrap();
    checkout("o3", "m3", &a, Some(&g)).unwrap();
    pay("o2");
    assert!(confirms().is_empty(), "two of three paid: everyone waits");
    assert_eq!(status("o1"), OrderStatus::AwaitingConfirmation);
    assert_eq!(status("o2"), OrderStatus::AwaitingConfirmation);
    pay("o3");
    let mut confirmed = confirms();
    confirmed.sort();
    assert_eq!(confirmed, ["o1", "o2", "o3"]);
    for o in ["o1", "o2", "o3"] {
        assert_eq!(status(o), OrderStatus::ToShip);
    }
    let view = group(&g);
    assert_eq!(view["status"], "succeeded");
    assert_eq!(view["virtual_completion"], false);
    assert_eq!(view["paid_count"], 3);
    assert!(
        host().timers().is_empty(),
        "a filled group's expiry timer is cancelled"
    );
    assert_eq!(stock_taken(&a), 3, "sold units stay taken");
    // The group is done: nobody else gets in; its members may start new groups.
    assert_refused(checkout("o4", "m4", &a, Some(&g)), "is already complete");
    checkout("o5", "m1", &a, None).unwrap();
    // A duplicate payment event changes nothing.
    let o3 = host().order("o3").unwrap();
    event(Event::OrderPaid(o3));
    assert_eq!(confirms().len(), 3);
    assert!(cancels().is_empty());
}

#[test]
fn the_last_slot_is_taken_at_checkout_and_freed_when_the_order_closes() {
    MockHost::from_manifest(MANIFEST);
    let a = activity(json!({ "group_size": 2 }));
    let g = open_group(&a, "m1", "o1");
    checkout("o2", "m2", &a, Some(&g)).unwrap();
    // The slot is reserved for o2 while it is unpaid: a second joiner is refused.
    assert_refused(checkout("o3", "m3", &a, Some(&g)), "is full (2 of 2");
    assert_eq!(stock_taken(&a), 2);
    // o2 times out: its slot and stock come back.
    close_unpaid("o2");
    assert_eq!(group(&g)["slots_left"], 1);
    assert_eq!(stock_taken(&a), 1);
    checkout("o3", "m3", &a, Some(&g)).unwrap();
    pay("o3");
    assert_eq!(group(&g)["status"], "succeeded");
    // The closed order's duplicate event is harmless.
    let o2 = host().order("o2").unwrap();
    event(Event::OrderClosed(o2));
    assert_eq!(stock_taken(&a), 2);
}

#[test]
fn a_closed_order_frees_its_slot_even_before_its_event_arrives() {
    MockHost::from_manifest(MANIFEST);
    let a = activity(json!({ "group_size": 2 }));
    let g = open_group(&a, "m1", "o1");
    checkout("o2", "m2", &a, Some(&g)).unwrap();
    mark_closed("o2");
    // The join re-reads the members' orders, so the closed one no longer holds the slot.
    checkout("o3", "m3", &a, Some(&g)).unwrap();
    assert_eq!(stock_taken(&a), 2);
    // The late order-closed event then finds nothing to release twice.
    let o2 = host().order("o2").unwrap();
    event(Event::OrderClosed(o2));
    assert_eq!(stock_taken(&a), 2);
    assert_eq!(group(&g)["members"].as_array().unwrap().len(), 2);
}

#[test]
fn expiry_refunds_every_paid_member_and_closes_unpaid_orders() {
    MockHost::from_manifest(MANIFEST);
    let a = activity(json!({ "group_size": 4, "per_buyer_limit": 1 }));
    let g = open_group(&a, "m1", "o1");
    checkout("o2", "m2", &a, Some(&g)).unwrap();
    checkout("o3", "m3", &a, Some(&g)).unwrap();
    pay("o2");
    assert_eq!(stock_taken(&a), 3);
    host().advance(24 * HOUR_MS - 1);
    assert_eq!(fire_due(), 0, "not due yet");
    host().advance(1);
    assert_eq!(fire_due(), 1);
    let mut c = cancels();
    c.sort();
    assert_eq!(
        c,
        [
            ("o1".to_string(), "group failed".to_string()),
            ("o2".to_string(), "group failed".to_string()),
            ("o3".to_string(), "group failed".to_string()),
        ]
    );
    let o1 = host().order("o1").unwrap();
    assert_eq!(
        (o1.status, o1.refund_state),
        (OrderStatus::Closed, RefundState::Full)
    );
    let o3 = host().order("o3").unwrap();
    assert_eq!(
        (o3.status, o3.refund_state),
        (OrderStatus::Closed, RefundState::None)
    );
    assert!(
        confirms().is_empty(),
        "never a success with one member refunded"
    );
    let view = group(&g);
    assert_eq!(view["status"], "failed");
    assert_eq!(view["members"][0]["status"], "refunded");
    assert_eq!(view["members"][2]["status"], "closed");
    assert_eq!(stock_taken(&a), 0, "a failed group gives its stock back");
    // The members may try again (per-buyer limit 1: the failed unit no longer counts).
    checkout("o9", "m1", &a, None).unwrap();
    // The refund and close events that follow, and a second firing, change nothing.
    for o in ["o1", "o2"] {
        let order = host().order(o).unwrap();
        event(Event::OrderRefunded(OrderRefunded {
            order,
            refund: Refund {
                id: format!("cancel-{o}"),
                amount: 5_000,
                lines: Vec::new(),
                reason: "plugin:group-buy:group failed".into(),
                created_at: MockHost::current().now(),
            },
        }));
    }
    event(Event::OrderClosed(host().order("o3").unwrap()));
    let ctx = host().context("{}");
    GroupBuy::fire_timer(&ctx, &format!("expire/{g}"), g.as_bytes()).unwrap();
    assert_eq!(cancels().len(), 3, "no double refund");
    assert_eq!(stock_taken(&a), 1);
}

#[test]
fn timers_that_fire_early_late_or_twice_are_harmless() {
    MockHost::from_manifest(MANIFEST);
    let a = activity(json!({}));
    let g = open_group(&a, "m1", "o1");
    let name = format!("expire/{g}");
    let expires_at = group(&g)["expires_at"].as_i64().unwrap();
    // Early: nothing happens, the timer is put back for the expiry.
    let ctx = host().context("{}");
    host()
        .atomic(|| GroupBuy::fire_timer(&ctx, &name, g.as_bytes()))
        .unwrap();
    assert_eq!(group(&g)["status"], "open");
    assert_eq!(host().timers()[0].at, expires_at);
    // Late by a day: the same outcome as on time.
    host().advance(48 * HOUR_MS);
    assert_eq!(fire_due(), 1);
    assert_eq!(cancels(), [("o1".to_string(), "group failed".to_string())]);
    // Twice: nothing more.
    let ctx = host().context("{}");
    GroupBuy::fire_timer(&ctx, &name, g.as_bytes()).unwrap();
    GroupBuy::fire_timer(&ctx, "expire/grp_missing", b"").unwrap();
    GroupBuy::fire_timer(&ctx, "something-else", b"").unwrap();
    assert_eq!(cancels().len(), 1);
}

#[test]
fn virtual_completion_confirms_the_paid_members() {
    MockHost::from_manifest(MANIFEST);
    // Groups of 3 complete virtually when 60% (1.8 → 2 members) paid.
    let a = activity(json!({ "virtual_completion_bp": 6_000 }));
    let g = open_group(&a, "m1", "o1");
    checkout("o2", "m2", &a, Some(&g)).unwrap();
    checkout("o3", "m3", &a, Some(&g)).unwrap();
    pay("o2");
    host().advance(24 * HOUR_MS);
    fire_due();
    let mut c = confirms();
    c.sort();
    assert_eq!(c, ["o1", "o2"]);
    assert_eq!(
        cancels(),
        [(
            "o3".to_string(),
            "group completed without this unpaid order".to_string()
        )]
    );
    assert_eq!(status("o3"), OrderStatus::Closed);
    let view = group(&g);
    assert_eq!(
        (view["status"].clone(), view["virtual_completion"].clone()),
        (json!("succeeded"), json!(true))
    );
    assert_eq!(stock_taken(&a), 2);

    // Below the ratio the group fails.
    MockHost::from_manifest(MANIFEST);
    let a = activity(json!({ "virtual_completion_bp": 6_000 }));
    let g = open_group(&a, "m1", "o1");
    checkout("o2", "m2", &a, Some(&g)).unwrap();
    host().advance(24 * HOUR_MS);
    fire_due();
    assert!(confirms().is_empty());
    assert_eq!(cancels().len(), 2);
    assert_eq!(group(&g)["status"], "failed");
}

#[test]
fn the_virtual_completion_ratio_is_exact() {
    assert!(virtually_complete(2, 3, Some(6_000)));
    assert!(!virtually_complete(1, 3, Some(6_000)));
    assert!(virtually_complete(2, 3, Some(6_667)) == (2 * 10_000 >= 6_667 * 3));
    assert!(
        virtually_complete(5, 10, Some(5_000)),
        "exactly the ratio is enough"
    );
    assert!(!virtually_complete(4, 10, Some(5_000)));
    assert!(!virtually_complete(0, 2, Some(1)), "never with nobody");
    assert!(!virtually_complete(2, 3, None));
    assert!(virtually_complete(1, 100, Some(100)));
}

#[test]
fn a_payment_after_the_expiry_is_refunded_even_before_the_timer_fires() {
    MockHost::from_manifest(MANIFEST);
    let a = activity(json!({ "group_size": 2 }));
    let g = open_group(&a, "m1", "o1");
    checkout("o2", "m2", &a, Some(&g)).unwrap();
    // The timer is late; o2's payment arrives after the expiry and would fill the group.
    host().advance(24 * HOUR_MS);
    pay("o2");
    assert!(
        confirms().is_empty(),
        "a late payment never completes a group"
    );
    let mut c = cancels();
    c.sort();
    assert_eq!(
        c,
        [
            ("o1".to_string(), "group failed".to_string()),
            ("o2".to_string(), "group failed".to_string()),
        ]
    );
    assert_eq!(group(&g)["status"], "failed");
    // The timer then fires: nothing more.
    fire_due();
    assert_eq!(cancels().len(), 2);
}

#[test]
fn a_payment_made_in_time_counts_even_when_its_event_comes_after_the_expiry() {
    MockHost::from_manifest(MANIFEST);
    let a = activity(json!({ "group_size": 2 }));
    let g = open_group(&a, "m1", "o1");
    checkout("o2", "m2", &a, Some(&g)).unwrap();
    host().advance(24 * HOUR_MS - 1);
    let o2 = mark_paid("o2");
    host().advance(1);
    // The timer fires before order-paid is delivered: it reads o2's order and sees it paid
    // in time, so the group filled.
    fire_due();
    let mut c = confirms();
    c.sort();
    assert_eq!(c, ["o1", "o2"]);
    event(Event::OrderPaid(o2));
    assert!(cancels().is_empty());
    assert_eq!(group(&g)["status"], "succeeded");
}

#[test]
fn a_payment_for_a_failed_or_dead_group_is_refunded() {
    MockHost::from_manifest(MANIFEST);
    let a = activity(json!({}));
    let g = open_group(&a, "m1", "o1");
    checkout("o2", "m2", &a, Some(&g)).unwrap();
    host().advance(24 * HOUR_MS);
    fire_due();
    assert_eq!(status("o2"), OrderStatus::Closed);
    // Suppose the buyer's money still landed on o2 (a provider racing the close): the
    // order-paid that follows must not keep it.
    let mut o2 = host().order("o2").unwrap();
    o2.status = OrderStatus::AwaitingConfirmation;
    o2.payment_status = PaymentStatus::Paid;
    o2.paid_amount = o2.payable_amount;
    o2.paid_at = Some(host().now());
    host().add_order(o2.clone());
    event(Event::OrderPaid(o2));
    assert_eq!(
        cancels().last().unwrap(),
        &("o2".to_string(), "group failed".to_string())
    );
    assert_eq!(host().order("o2").unwrap().refund_state, RefundState::Full);
    // An order the plugin knows nothing about is none of its business.
    let stranger = testing::order("o_x", Some("m9"), &[testing::cart_line(0, "p1", 1, PRICE)]);
    event(Event::OrderPaid(stranger));
    assert_eq!(cancels().len(), 3);
}

#[test]
fn joining_checks_the_group_the_buyer_and_the_activity() {
    MockHost::from_manifest(MANIFEST);
    let a = activity(json!({ "per_order_limit": 2, "per_buyer_limit": 3, "stock": 6 }));
    let b = activity(json!({ "sku_id": "p2-sku" }));
    let g = open_group(&a, "m1", "o1");
    // The leader can't join their own group or open a second one.
    assert_refused(checkout("o2", "m1", &a, Some(&g)), "already in group");
    assert_refused(checkout("o2", "m1", &a, None), "already in group");
    // But the same buyer may lead a group in another activity.
    let lines = [testing::cart_line(0, "p2", 1, PRICE)];
    let order = testing::order("ob", Some("m1"), &lines);
    let mut copy = order.clone();
    copy.status = OrderStatus::ToShip;
    copy.payment_status = PaymentStatus::Paid;
    host().add_order(copy);
    GroupBuy::order_created(&host().context("{}"), &order, Some(&input(&b, None))).unwrap();
    host().add_order(order);
    // Unknown and mismatched groups.
    assert_eq!(
        checkout("o3", "m3", &a, Some("grp_nope"))
            .unwrap_err()
            .kind(),
        "not-found"
    );
    let gb = act(
        &staff(),
        "list-groups",
        json!({ "activity_id": b, "status": "all" }),
    )
    .unwrap()["groups"][0]["group_id"]
        .as_str()
        .unwrap()
        .to_string();
    assert_invalid(checkout("o3", "m3", &a, Some(&gb)), "belongs to activity");
    // Per-order, per-buyer and stock limits (units).
    assert_refused(
        checkout_qty("o3", "m3", &a, Some(&g), 3),
        "at most 2 per order",
    );
    checkout_qty("o3", "m3", &a, Some(&g), 2).unwrap();
    close_unpaid("o3");
    checkout_qty("o4", "m3", &a, Some(&g), 2).unwrap();
    pay("o4");
    // m3 is in group g (paid, waiting): no second group in the activity at the same time.
    let g2 = open_group(&a, "m5", "o5");
    assert_refused(
        checkout_qty("o6", "m3", &a, Some(&g2), 1),
        "already in group",
    );
    // m3 holds 2 of their 3 units: 2 more would pass the per-buyer limit.
    assert_refused(
        checkout_qty("o6", "m3", &a, Some(&g2), 2),
        "at most 3 per buyer; you already have 2",
    );
    // Stock: 6 − (1 + 2 + 1) = 2 left.
    assert_eq!(stock_taken(&a), 4);
    checkout_qty("o7", "m7", &a, Some(&g2), 2).unwrap();
    assert_refused(checkout("o8", "m8", &a, Some(&g2)), "has 0 left, 1 asked");
}

#[test]
fn per_buyer_limit_and_stock_hold_across_groups() {
    MockHost::from_manifest(MANIFEST);
    let a = activity(json!({ "group_size": 2, "per_buyer_limit": 2, "stock": 3 }));
    let g = open_group(&a, "m1", "o1");
    checkout("o2", "m2", &a, Some(&g)).unwrap();
    pay("o2");
    assert_eq!(group(&g)["status"], "succeeded");
    // m1 bought 1 of 2: another group of 1 is fine, of 2 is not.
    assert_refused(
        checkout_qty("o3", "m1", &a, None, 2),
        "at most 2 per buyer; you already have 1",
    );
    // Stock 3, 2 sold: one unit left.
    assert_refused(checkout_qty("o3", "m3", &a, None, 2), "has 1 left, 2 asked");
    checkout("o3", "m1", &a, None).unwrap();
    assert_refused(checkout("o4", "m4", &a, None), "has 0 left, 1 asked");
}

#[test]
fn new_customers_only_refuses_joiners_who_have_paid_before() {
    MockHost::from_manifest(MANIFEST);
    let a = activity(json!({ "new_customers_only": true }));
    // The leader may be an old customer (老带新: the old bring the new).
    ensure_member("m1", 5);
    let g = open_group(&a, "m1", "o1");
    ensure_member("m2", 1);
    assert_refused(checkout("o2", "m2", &a, Some(&g)), "for new customers only");
    assert_eq!(stock_taken(&a), 1, "the refused join took nothing");
    ensure_member("m3", 0);
    checkout("o3", "m3", &a, Some(&g)).unwrap();
}

#[test]
fn expired_and_failed_groups_cannot_be_joined() {
    MockHost::from_manifest(MANIFEST);
    let a = activity(json!({}));
    let g = open_group(&a, "m1", "o1");
    host().advance(24 * HOUR_MS);
    // The timer has not fired yet, but the group's time is up.
    assert_refused(checkout("o2", "m2", &a, Some(&g)), "has expired");
    fire_due();
    assert_refused(checkout("o2", "m2", &a, Some(&g)), "has failed");
    assert!(
        act(&member("m2"), "list-groups", json!({ "activity_id": a })).unwrap()["groups"]
            .as_array()
            .unwrap()
            .is_empty()
    );
}

#[test]
fn a_leader_who_never_pays_cancels_the_group() {
    MockHost::from_manifest(MANIFEST);
    let a = activity(json!({}));
    let attrs = checkout_qty("o1", "m1", &a, None, 1).unwrap();
    let g = attr(&attrs, "group_id");
    close_unpaid("o1");
    let view = group(&g);
    assert_eq!(view["status"], "cancelled");
    assert_eq!(stock_taken(&a), 0);
    assert!(cancels().is_empty() && host().timers().is_empty());
    // Free to open another group.
    checkout("o2", "m1", &a, None).unwrap();
}

#[test]
fn a_refunded_member_leaves_an_open_group() {
    MockHost::from_manifest(MANIFEST);
    let a = activity(json!({ "group_size": 2 }));
    let g = open_group(&a, "m1", "o1");
    checkout("o2", "m2", &a, Some(&g)).unwrap();
    // A partial refund changes nothing.
    let mut o1 = host().order("o1").unwrap();
    o1.refund_state = RefundState::Partial;
    let refund = Refund {
        id: "r1".into(),
        amount: 100,
        lines: Vec::new(),
        reason: "scratched box".into(),
        created_at: MockHost::current().now(),
    };
    event(Event::OrderRefunded(OrderRefunded {
        order: o1.clone(),
        refund: refund.clone(),
    }));
    assert_eq!(group(&g)["members"].as_array().unwrap().len(), 2);
    // The merchant refunds the leader in full: the leader leaves, the group goes on.
    o1.refund_state = RefundState::Full;
    o1.status = OrderStatus::Closed;
    host().add_order(o1.clone());
    event(Event::OrderRefunded(OrderRefunded { order: o1, refund }));
    let view = group(&g);
    assert_eq!(view["status"], "open");
    assert_eq!(view["slots_left"], 1);
    assert_eq!(stock_taken(&a), 1);
    // If everybody leaves, the group is cancelled and its timer dropped.
    close_unpaid("o2");
    assert_eq!(group(&g)["status"], "cancelled");
    assert!(host().timers().is_empty());
}

#[test]
fn a_refused_checkout_leaves_no_trace() {
    MockHost::from_manifest(MANIFEST);
    let a = activity(json!({ "group_size": 2 }));
    let g = open_group(&a, "m1", "o1");
    checkout("o2", "m2", &a, Some(&g)).unwrap();
    let before = host().state_snapshot();
    assert_refused(checkout("o3", "m3", &a, Some(&g)), "is full");
    assert_eq!(host().state_snapshot(), before);
}

#[test]
fn order_created_is_idempotent_per_order() {
    MockHost::from_manifest(MANIFEST);
    let a = activity(json!({}));
    let attrs = checkout_qty("o1", "m1", &a, None, 1).unwrap();
    // The host retrying the same order's creation gets the same group, not a second one.
    let order = host().order("o1").unwrap();
    let again =
        GroupBuy::order_created(&host().context("{}"), &order, Some(&input(&a, None))).unwrap();
    assert_eq!(again, attrs);
    assert_eq!(stock_taken(&a), 1);
    // Orders without group-buy input are ignored.
    assert!(
        GroupBuy::order_created(&host().context("{}"), &order, None)
            .unwrap()
            .is_empty()
    );
}

#[test]
fn a_leader_payment_event_delivered_after_the_whole_validity_settles_at_once() {
    MockHost::from_manifest(MANIFEST);
    let a = activity(json!({}));
    let attrs = checkout_qty("o1", "m1", &a, None, 1).unwrap();
    let g = attr(&attrs, "group_id");
    let o1 = mark_paid("o1");
    // The order-paid delivery kept failing for a day: the group's clock ran out meanwhile.
    host().advance(25 * HOUR_MS);
    event(Event::OrderPaid(o1));
    assert_eq!(cancels(), [("o1".to_string(), "group failed".to_string())]);
    let view = group(&g);
    assert_eq!(view["status"], "failed");
    assert_eq!(
        view["expires_at"],
        host().now() - 25 * HOUR_MS + 24 * HOUR_MS
    );
    assert!(host().timers().is_empty());
}

#[test]
fn a_virtual_success_keeps_a_member_who_paid_after_the_expiry() {
    MockHost::from_manifest(MANIFEST);
    let a = activity(json!({ "group_size": 4, "virtual_completion_bp": 5_000 }));
    let g = open_group(&a, "m1", "o1");
    checkout("o2", "m2", &a, Some(&g)).unwrap();
    checkout("o3", "m3", &a, Some(&g)).unwrap();
    checkout("o4", "m4", &a, Some(&g)).unwrap();
    pay("o2");
    // o3 pays after the expiry, before the (late) timer: 2 of 4 paid in time decide the
    // virtual success, and o3 ships with them rather than being refunded out of it.
    host().advance(24 * HOUR_MS);
    mark_paid("o3");
    fire_due();
    let mut c = confirms();
    c.sort();
    assert_eq!(c, ["o1", "o2", "o3"]);
    assert_eq!(
        cancels(),
        [(
            "o4".to_string(),
            "group completed without this unpaid order".to_string()
        )]
    );
    let view = group(&g);
    assert_eq!(view["status"], "succeeded");
    assert_eq!(view["virtual_completion"], true);
    // Its order-paid event, arriving last, changes nothing.
    event(Event::OrderPaid(host().order("o3").unwrap()));
    assert_eq!(cancels().len(), 1);

    // Without the two in-time payers, the late one alone does not make a success.
    MockHost::from_manifest(MANIFEST);
    let a = activity(json!({ "group_size": 4, "virtual_completion_bp": 5_000 }));
    let g = open_group(&a, "m1", "o1");
    checkout("o2", "m2", &a, Some(&g)).unwrap();
    host().advance(24 * HOUR_MS);
    pay("o2");
    assert!(confirms().is_empty());
    assert_eq!(group(&g)["status"], "failed");
    assert_eq!(cancels().len(), 2);
}
