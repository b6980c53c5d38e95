//! The live-sale rules, run natively against the SDK's mock host.

use crate::LiveSale;
use crate::checkout::{UNPAID_REASON, unpaid_timer};
use baseplate_sdk::testing::{
    self, MockHost, OrderAction, assert_invalid, assert_not_found, assert_refused, buyer as member,
    staff,
};
use baseplate_sdk::{
    Actor, Adjustment, Attribute, Cart, CartLine, Event, Order, OrderRefunded, OrderStatus,
    PaymentStatus, Plugin, PluginError, PriceStage, Refund, RefundState, Result,
};
use serde_json::{Value, json};

/// The mock host enforces this plugin's manifest, as the real host does.
const MANIFEST: &str = include_str!("../plugin.toml");

const MIN: i64 = 60_000;

/// Runs an action as the host does under `config`: declared, open to the actor, atomic.
#[track_caller]
fn act_with(config: &str, actor: &Actor, name: &str, input: Value) -> Result<Value> {
    MockHost::current()
        .set_config(config)
        .act::<LiveSale>(actor, name, input)
}

/// What the plugin itself answers a call the host refuses before the plugin runs (an
/// undeclared action, an actor the action is not open to): its own guard.
fn guard(actor: &Actor, name: &str, input: Value) -> Result<Value> {
    MockHost::current()
        .set_config("{}")
        .act_unchecked::<LiveSale>(actor, name, input)
}

#[track_caller]
fn act(actor: &Actor, name: &str, input: Value) -> Result<Value> {
    act_with("{}", actor, name, input)
}

fn now() -> i64 {
    MockHost::current().now()
}

/// A session from `start` to `end` minutes from now.
fn session_at(start: i64, end: i64) -> String {
    let out = act(
        &staff(),
        "create-session",
        json!({ "title": "Spring tea live", "starts_at": now() + start * MIN, "ends_at": now() + end * MIN }),
    )
    .unwrap();
    out["session_id"].as_str().unwrap().to_string()
}

/// A session scheduled an hour from now that staff started early: live now.
fn live_session() -> String {
    let id = session_at(60, 180);
    act(&staff(), "start-session", json!({ "session_id": id })).unwrap();
    id
}

/// Adds SKU `<product>-sku` at `live_price`, on the shelf.
fn add_item(session: &str, product: &str, live_price: i64, stock: i64, limit: i64) -> Value {
    act(
        &staff(),
        "add-item",
        json!({
            "session_id": session,
            "sku_id": format!("{product}-sku"),
            "live_price": live_price,
            "live_stock": stock,
            "per_member_limit": limit,
            "on_shelf": true,
        }),
    )
    .unwrap()
}

fn input(session: &str) -> String {
    json!({ "session_id": session }).to_string()
}

fn cart(member_id: Option<&str>, lines: Vec<CartLine>, session: &str) -> Cart {
    testing::cart(member_id, lines, Some(&input(session)))
}

fn price(cart: &Cart) -> Result<Vec<Adjustment>> {
    MockHost::current()
        .set_config("{}")
        .price::<LiveSale>(PriceStage::Item, cart)
}

/// Creates order `order_id` for `member_id` buying `qty` of `<product>-sku` at 1000 each,
/// as the host does: the order exists, then the hook runs, rolled back if it fails.
fn checkout_with(
    config: &str,
    order_id: &str,
    member_id: &str,
    lines: &[CartLine],
    session: &str,
) -> Result<Vec<Attribute>> {
    let order = testing::order(order_id, Some(member_id), lines);
    let host = MockHost::current().set_config(config);
    host.order_created::<LiveSale>(&order, Some(&input(session)))
}

fn checkout(order_id: &str, member_id: &str, qty: u32, session: &str) -> Result<Vec<Attribute>> {
    let lines = [testing::cart_line(0, "tea", qty, 1000)];
    checkout_with("{}", order_id, member_id, &lines, session)
}

fn event(event: Event) {
    let host = MockHost::current().set_config("{}");
    host.handle_event::<LiveSale>(&event).unwrap();
}

fn fire(name: &str) {
    let host = MockHost::current().set_config("{}");
    host.fire_timer::<LiveSale>(name, b"").unwrap();
}

/// Fires every due timer, as the host's worker does.
fn fire_due() {
    for t in MockHost::current().take_due_timers() {
        fire(&t.name);
    }
}

fn order_now(id: &str) -> Order {
    MockHost::current().order(id).unwrap()
}

fn pay(id: &str) -> Order {
    let mut o = order_now(id);
    o.status = OrderStatus::ToShip;
    o.payment_status = PaymentStatus::Paid;
    o.paid_amount = o.payable_amount;
    o.paid_at = Some(now());
    MockHost::current().add_order(o.clone());
    o
}

fn refund_event(order: &Order, refund_id: &str, amount: i64) -> Event {
    let mut order = order.clone();
    order.refunded_amount += amount;
    order.refund_state = if order.refunded_amount >= order.paid_amount {
        RefundState::Full
    } else {
        RefundState::Partial
    };
    Event::OrderRefunded(OrderRefunded {
        order,
        refund: Refund {
            id: refund_id.into(),
            amount,
            lines: Vec::new(),
            reason: "changed mind".into(),
            created_at: MockHost::current().now(),
        },
    })
}

fn item(session: &str, product: &str) -> Value {
    let out = act(&staff(), "list-items", json!({ "session_id": session })).unwrap();
    out["items"]
        .as_array()
        .unwrap()
        .iter()
        .find(|i| i["sku_id"] == format!("{product}-sku"))
        .cloned()
        .expect("the item is listed")
}

fn remaining(session: &str, product: &str) -> i64 {
    item(session, product)["remaining"].as_i64().unwrap()
}

fn stats(session: &str) -> Value {
    act(&staff(), "stats", json!({ "session_id": session })).unwrap()
}

#[test]
fn config_is_validated() {
    assert!(
        MockHost::current()
            .validate_config::<LiveSale>("{}")
            .is_ok()
    );
    assert!(MockHost::current().validate_config::<LiveSale>("").is_ok());
    assert!(
        MockHost::current()
            .validate_config::<LiveSale>(r#"{"unpaid_timeout_secs": 30}"#)
            .is_ok()
    );
    assert!(
        MockHost::current()
            .validate_config::<LiveSale>(r#"{"unpaid_timeout_secs": 3600}"#)
            .is_ok()
    );
    for bad in ["29", "3601", "\"300\"", "1.5", "-1"] {
        assert_invalid(
            MockHost::current()
                .validate_config::<LiveSale>(&format!(r#"{{"unpaid_timeout_secs": {bad}}}"#)),
            "invalid config: `unpaid_timeout_secs` must be an integer 30..=3600 (seconds)",
        );
    }
    assert_invalid(
        MockHost::current().validate_config::<LiveSale>(r#"{"unpaid_timeout": 60}"#),
        "unknown field `unpaid_timeout`; allowed: unpaid_timeout_secs",
    );
    assert_invalid(
        MockHost::current().validate_config::<LiveSale>("["),
        "not valid JSON",
    );
    assert_invalid(
        MockHost::current().validate_config::<LiveSale>("[]"),
        "must be a JSON object",
    );
}

#[test]
fn create_session_names_every_bad_field() {
    MockHost::from_manifest(MANIFEST);
    let base = json!({ "title": "Live", "starts_at": now() + MIN, "ends_at": now() + 60 * MIN });
    let with = |k: &str, v: Value| {
        let mut input = base.clone();
        input[k] = v;
        act(&staff(), "create-session", input)
    };
    assert_invalid(
        with("title", json!("  ")),
        "`title` must be a title of 1..=100 characters",
    );
    assert_invalid(with("title", json!("x".repeat(101))), "`title`");
    assert_invalid(
        with("starts_at", json!(-1)),
        "`starts_at` must be a time in ms since the epoch",
    );
    assert_invalid(
        with("ends_at", base["starts_at"].clone()),
        "`ends_at` must be a time in ms after `starts_at`",
    );
    assert_invalid(
        with("ends_at", json!(now() + MIN + 7 * 86_400_000 + 1)),
        "at most 7 days after it",
    );
    // A session that is over before it is created sells nothing.
    assert_invalid(
        act(
            &staff(),
            "create-session",
            json!({ "title": "Past", "starts_at": now() - 60 * MIN, "ends_at": now() - MIN }),
        ),
        "in the future",
    );
    assert_invalid(
        with("host", json!("Li")),
        "unknown field `host`; allowed: title, starts_at, ends_at",
    );
    assert_invalid(
        act(&staff(), "create-session", json!({ "title": "x" })),
        "`starts_at` is required",
    );
    assert_refused(
        guard(&member("m1"), "create-session", base.clone()),
        "only shop staff can schedule live sessions",
    );
    let out = act(&staff(), "create-session", base).unwrap();
    assert_eq!(out["status"], "scheduled");
    assert!(out["session_id"].as_str().unwrap().starts_with("ls_"));
    assert_eq!(stats(out["session_id"].as_str().unwrap())["viewers"], 0);
}

#[test]
fn status_follows_the_clock_and_staff() {
    let host = MockHost::from_manifest(MANIFEST);
    let id = session_at(10, 70);
    let get = || act(&member("m1"), "get-session", json!({ "session_id": id })).unwrap();
    assert_eq!(get()["status"], "scheduled");
    host.advance(10 * MIN);
    assert_eq!(get()["status"], "live", "live from starts_at");
    host.advance(60 * MIN);
    assert_eq!(get()["status"], "ended", "ended at ends_at");
    assert_refused(
        act(&staff(), "start-session", json!({ "session_id": id })),
        "has ended",
    );

    // Staff go live early, and end early; ending twice changes nothing; no reopening.
    let early = session_at(30, 90);
    let started = act(&staff(), "start-session", json!({ "session_id": early })).unwrap();
    assert_eq!(started["status"], "live");
    assert_eq!(started["started_at"], now());
    host.advance(MIN);
    let again = act(&staff(), "start-session", json!({ "session_id": early })).unwrap();
    assert_eq!(again["started_at"], started["started_at"]);
    let ended = act(&staff(), "end-session", json!({ "session_id": early })).unwrap();
    assert_eq!(ended["status"], "ended");
    host.advance(MIN);
    let twice = act(&staff(), "end-session", json!({ "session_id": early })).unwrap();
    assert_eq!(twice["ended_at"], ended["ended_at"]);
    assert_refused(
        act(&staff(), "start-session", json!({ "session_id": early })),
        "has ended; schedule a new one",
    );
    assert_refused(
        guard(&member("m1"), "end-session", json!({ "session_id": early })),
        "only shop staff",
    );
    assert_not_found(
        act(
            &staff(),
            "start-session",
            json!({ "session_id": "ls_nope" }),
        ),
        "live session ls_nope does not exist",
    );
    assert_invalid(
        act(&staff(), "end-session", json!({ "session_id": "a/b" })),
        "`session_id` must be a live session id",
    );

    let upcoming = session_at(5, 50);
    let list = |status: &str| {
        let out = act(&member("m1"), "list-sessions", json!({ "status": status })).unwrap();
        out["sessions"]
            .as_array()
            .unwrap()
            .iter()
            .map(|s| s["session_id"].as_str().unwrap().to_string())
            .collect::<Vec<_>>()
    };
    assert_eq!(list("scheduled"), [upcoming]);
    assert_eq!(list("ended"), [id.clone(), early.clone()]);
    assert!(list("live").is_empty());
    let all = act(&staff(), "list-sessions", json!({})).unwrap();
    assert_eq!(all["sessions"].as_array().unwrap().len(), 3);
    assert_invalid(
        act(&staff(), "list-sessions", json!({ "status": "paused" })),
        "`status` must be \"scheduled\", \"live\" or \"ended\"",
    );
}

#[test]
fn add_item_checks_its_input_and_the_session() {
    let host = MockHost::from_manifest(MANIFEST);
    host.add_product(testing::product("tea", 1000));
    let sid = session_at(10, 70);
    let base = json!({
        "session_id": sid, "sku_id": "tea-sku", "live_price": 600,
        "live_stock": 5, "per_member_limit": 1,
    });
    let with = |k: &str, v: Value| {
        let mut input = base.clone();
        input[k] = v;
        act(&staff(), "add-item", input)
    };
    assert_invalid(
        with("live_price", json!(0)),
        "`live_price` must be an integer > 0 (分)",
    );
    assert_invalid(
        with("live_stock", json!(0)),
        "`live_stock` must be an integer 1..=1000000",
    );
    assert_invalid(
        with("per_member_limit", json!(1000)),
        "`per_member_limit` must be an integer 1..=999",
    );
    assert_invalid(with("sku_id", json!("")), "`sku_id` must be a SKU id");
    assert_invalid(
        with("on_shelf", json!("yes")),
        "`on_shelf` must be true or false",
    );
    assert_invalid(with("price", json!(1)), "unknown field `price`");
    assert_not_found(
        with("session_id", json!("ls_missing")),
        "live session ls_missing does not exist",
    );
    // With a product id the SKU and the discount are checked.
    assert_not_found(
        with("product_id", json!("nope")),
        "product nope does not exist",
    );
    let mut wrong_sku = base.clone();
    wrong_sku["product_id"] = json!("tea");
    wrong_sku["sku_id"] = json!("cup-sku");
    assert_invalid(
        act(&staff(), "add-item", wrong_sku),
        "`sku_id`: SKU cup-sku is not a SKU of tea",
    );
    let mut no_discount = base.clone();
    no_discount["product_id"] = json!("tea");
    no_discount["live_price"] = json!(1000);
    assert_invalid(
        act(&staff(), "add-item", no_discount),
        "`live_price` must be below the SKU's price 1000",
    );
    assert_refused(
        guard(&member("m1"), "add-item", base.clone()),
        "only shop staff can add live items",
    );

    let mut good = base.clone();
    good["product_id"] = json!("tea");
    let out = act(&staff(), "add-item", good).unwrap();
    assert_eq!(out["remaining"], 5);
    assert_eq!(out["on_shelf"], false, "items start off the shelf");
    match act(&staff(), "add-item", base.clone()) {
        Err(PluginError::Conflict(m)) => assert!(m.contains("already in live session")),
        other => panic!("{other:?}"),
    }
    act(&staff(), "end-session", json!({ "session_id": sid })).unwrap();
    let mut other = base.clone();
    other["sku_id"] = json!("cup-sku");
    assert_refused(act(&staff(), "add-item", other), "has ended");
}

#[test]
fn shelf_decides_what_members_see_and_buy() {
    MockHost::from_manifest(MANIFEST);
    let sid = live_session();
    add_item(&sid, "tea", 600, 5, 2);
    act(
        &staff(),
        "add-item",
        json!({ "session_id": sid, "sku_id": "cup-sku", "live_price": 300, "live_stock": 5, "per_member_limit": 2 }),
    )
    .unwrap();
    let member_items = || {
        let out = act(&member("m1"), "list-items", json!({ "session_id": sid })).unwrap();
        out["items"]
            .as_array()
            .unwrap()
            .iter()
            .map(|i| i["sku_id"].as_str().unwrap().to_string())
            .collect::<Vec<_>>()
    };
    assert_eq!(member_items(), ["tea-sku"]);
    let staff_view = act(&staff(), "get-session", json!({ "session_id": sid })).unwrap();
    assert_eq!(staff_view["items"].as_array().unwrap().len(), 2);
    let member_view = act(&member("m1"), "get-session", json!({ "session_id": sid })).unwrap();
    assert_eq!(member_view["items"].as_array().unwrap().len(), 1);

    let cup_cart = cart(Some("m1"), vec![testing::cart_line(0, "cup", 1, 500)], &sid);
    assert_refused(price(&cup_cart), "item cup-sku is not on the shelf");
    let on = act(
        &staff(),
        "shelve",
        json!({ "session_id": sid, "sku_id": "cup-sku", "on": true }),
    )
    .unwrap();
    assert_eq!(on["on_shelf"], true);
    assert_eq!(member_items(), ["cup-sku", "tea-sku"]);
    assert_eq!(price(&cup_cart).unwrap()[0].amount, 200);
    act(
        &staff(),
        "shelve",
        json!({ "session_id": sid, "sku_id": "tea-sku", "on": false }),
    )
    .unwrap();
    assert_eq!(member_items(), ["cup-sku"]);
    assert_refused(checkout("o1", "m1", 1, &sid), "not on the shelf");

    assert_invalid(
        act(
            &staff(),
            "shelve",
            json!({ "session_id": sid, "sku_id": "tea-sku" }),
        ),
        "`on` is required: true (on the shelf) or false (off it)",
    );
    assert_not_found(
        act(
            &staff(),
            "shelve",
            json!({ "session_id": sid, "sku_id": "pot-sku", "on": true }),
        ),
        "SKU pot-sku is not in live session",
    );
    assert_refused(
        guard(
            &member("m1"),
            "shelve",
            json!({ "session_id": sid, "sku_id": "tea-sku", "on": true }),
        ),
        "only shop staff",
    );
}

#[test]
fn viewers_are_unique_members() {
    MockHost::from_manifest(MANIFEST);
    let sid = session_at(10, 70);
    let enter = |m: &str| act(&member(m), "enter-room", json!({ "session_id": sid }));
    let first = enter("m1").unwrap();
    assert_eq!(
        (first["viewers"].as_u64(), first["first_visit"].as_bool()),
        (Some(1), Some(true))
    );
    let again = enter("m1").unwrap();
    assert_eq!(
        (again["viewers"].as_u64(), again["first_visit"].as_bool()),
        (Some(1), Some(false))
    );
    assert_eq!(enter("m2").unwrap()["viewers"], 2);
    assert_eq!(stats(&sid)["viewers"], 2);
    assert_refused(
        guard(&staff(), "enter-room", json!({ "session_id": sid })),
        "only members enter live rooms",
    );
    assert_invalid(
        act(&member("m3"), "enter-room", json!({})),
        "`session_id` is required",
    );
    act(&staff(), "end-session", json!({ "session_id": sid })).unwrap();
    assert_refused(enter("m3"), "has ended");
    assert_eq!(stats(&sid)["viewers"], 2);
}

#[test]
fn live_price_is_an_item_stage_adjustment() {
    MockHost::from_manifest(MANIFEST);
    let sid = live_session();
    add_item(&sid, "tea", 600, 10, 5);
    add_item(&sid, "pricey", 2000, 10, 5);
    let c = cart(
        Some("m1"),
        vec![
            testing::cart_line(0, "tea", 2, 1000),
            testing::cart_line(1, "cup", 1, 500),
            testing::cart_line(2, "pricey", 1, 1500),
        ],
        &sid,
    );
    let adjustments = price(&c).unwrap();
    // Only the tea line: the cup is not a live item, and a live price above the catalog
    // price takes nothing off (nor adds).
    assert_eq!(
        adjustments,
        [Adjustment {
            line: 0,
            amount: 800,
            label: "Live price 6.00 CNY".into(),
            reference: Some(sid.clone()),
        }]
    );
    let ctx = MockHost::current().context("{}");
    assert!(
        LiveSale::price(&ctx, PriceStage::Order, &c)
            .unwrap()
            .is_empty()
    );
    assert!(
        LiveSale::price(&ctx, PriceStage::Coupon, &c)
            .unwrap()
            .is_empty()
    );
    // Without the plugin's input the cart is not from a live room.
    let plain = testing::cart(
        Some("m1"),
        vec![testing::cart_line(0, "tea", 1, 1000)],
        None,
    );
    assert!(price(&plain).unwrap().is_empty());
    // Pricing writes nothing.
    let before = MockHost::current().state_snapshot();
    price(&c).unwrap();
    assert_eq!(MockHost::current().state_snapshot(), before);
}

#[test]
fn checkout_input_and_session_state_are_checked() {
    let host = MockHost::from_manifest(MANIFEST);
    let later = session_at(10, 70);
    add_item(&later, "tea", 600, 10, 5);
    let line = || vec![testing::cart_line(0, "tea", 1, 1000)];
    assert_refused(
        price(&cart(Some("m1"), line(), &later)),
        "has not started yet",
    );
    assert_refused(checkout("o1", "m1", 1, &later), "has not started yet");
    assert_refused(price(&cart(None, line(), &later)), "has not started yet");
    host.advance(10 * MIN);
    assert_refused(
        price(&cart(None, line(), &later)),
        "sign in as a member to buy in a live room",
    );
    assert_eq!(price(&cart(Some("m1"), line(), &later)).unwrap().len(), 1);
    assert_not_found(
        price(&cart(Some("m1"), line(), "ls_gone")),
        "live session ls_gone does not exist",
    );
    let bad = |input: &str| price(&testing::cart(Some("m1"), line(), Some(input)));
    assert_invalid(bad("{}"), "`session_id` is required: a live session id");
    assert_invalid(
        bad(r#"{"session_id": 7}"#),
        "`session_id` must be a live session id",
    );
    assert_invalid(
        bad(&format!(r#"{{"session_id": "{later}", "room": 1}}"#)),
        "unknown field `room`; allowed: session_id",
    );
    assert_invalid(bad("null"), "must be a JSON object");
    host.advance(60 * MIN);
    assert_refused(price(&cart(Some("m1"), line(), &later)), "has ended");
    assert_refused(checkout("o2", "m1", 1, &later), "has ended");
    assert!(host.timers().is_empty());
}

#[test]
fn order_created_takes_stock_attributes_and_starts_the_timer() {
    let host = MockHost::from_manifest(MANIFEST);
    let sid = live_session();
    add_item(&sid, "tea", 600, 5, 3);
    let attrs = checkout_with(
        r#"{"unpaid_timeout_secs": 60}"#,
        "o1",
        "m1",
        // Two lines of the same SKU count together.
        &[
            testing::cart_line(0, "tea", 1, 1000),
            testing::cart_line(1, "tea", 1, 1000),
            testing::cart_line(2, "cup", 4, 500),
        ],
        &sid,
    )
    .unwrap();
    assert_eq!(
        attrs,
        [Attribute {
            key: "session_id".into(),
            value: sid.clone(),
        }]
    );
    assert_eq!(remaining(&sid, "tea"), 3);
    assert_eq!(item(&sid, "tea")["sold"], 2);
    let timers = host.timers();
    assert_eq!(timers.len(), 1);
    assert_eq!(timers[0].name, unpaid_timer("o1"));
    assert_eq!(timers[0].at, now() + 60_000);
    assert_eq!(stats(&sid)["orders"], 1);

    // The host retrying the order's creation takes nothing more.
    checkout_with(
        "{}",
        "o1",
        "m1",
        &[testing::cart_line(0, "tea", 2, 1000)],
        &sid,
    )
    .unwrap();
    assert_eq!(remaining(&sid, "tea"), 3);
    assert_eq!(stats(&sid)["orders"], 1);

    // No input: not a live order.
    let order = testing::order("o9", Some("m1"), &[testing::cart_line(0, "tea", 1, 1000)]);
    let ctx = host.context("{}");
    assert!(
        LiveSale::order_created(&ctx, &order, None)
            .unwrap()
            .is_empty()
    );
    assert_eq!(remaining(&sid, "tea"), 3);

    // An order attributed to the session without live items is counted, takes nothing.
    checkout_with(
        "{}",
        "o2",
        "m2",
        &[testing::cart_line(0, "cup", 1, 500)],
        &sid,
    )
    .unwrap();
    assert_eq!(stats(&sid)["orders"], 2);
    assert_eq!(remaining(&sid, "tea"), 3);

    // Default timeout: 300 s.
    checkout("o3", "m3", 1, &sid).unwrap();
    let t = host
        .timers()
        .into_iter()
        .find(|t| t.name == unpaid_timer("o3"))
        .unwrap();
    assert_eq!(t.at, now() + 300_000);
}

#[test]
fn flash_sale_sells_out_exactly() {
    let host = MockHost::from_manifest(MANIFEST);
    let sid = live_session();
    add_item(&sid, "tea", 600, 5, 1);
    let mut sold = 0;
    for i in 0..8 {
        let buyer = format!("m{i}");
        match checkout(&format!("o{i}"), &buyer, 1, &sid) {
            Ok(_) => sold += 1,
            Err(e) => {
                assert!(i >= 5, "buyer {i} refused: {e:?}");
                assert_refused(
                    Err::<(), _>(e),
                    "sold out: item tea-sku has no live stock left",
                );
            }
        }
    }
    assert_eq!(sold, 5);
    assert_eq!(remaining(&sid, "tea"), 0);
    assert_eq!(stats(&sid)["orders"], 5);
    // A refused checkout left nothing behind (no timer, no quota).
    assert_eq!(host.timers().len(), 5);
    assert_refused(
        price(&cart(
            Some("m7"),
            vec![testing::cart_line(0, "tea", 1, 1000)],
            &sid,
        )),
        "sold out",
    );
}

#[test]
fn asking_more_than_is_left_names_what_is_left() {
    MockHost::from_manifest(MANIFEST);
    let sid = live_session();
    add_item(&sid, "tea", 600, 3, 10);
    checkout("o1", "m1", 2, &sid).unwrap();
    assert_refused(
        checkout("o2", "m2", 2, &sid),
        "sold out: item tea-sku has 1 live units left in session",
    );
    checkout("o3", "m2", 1, &sid).unwrap();
    assert_eq!(remaining(&sid, "tea"), 0);
}

#[test]
fn per_member_limit_holds_per_session() {
    MockHost::from_manifest(MANIFEST);
    let sid = live_session();
    add_item(&sid, "tea", 600, 100, 2);
    checkout("o1", "m1", 1, &sid).unwrap();
    assert_refused(
        checkout("o2", "m1", 2, &sid),
        "limit reached: each member may buy 2 of item tea-sku in live session",
    );
    assert_refused(
        price(&cart(
            Some("m1"),
            vec![testing::cart_line(0, "tea", 2, 1000)],
            &sid,
        )),
        "you hold 1 and asked for 2",
    );
    checkout("o3", "m1", 1, &sid).unwrap();
    assert_refused(checkout("o4", "m1", 1, &sid), "limit reached");
    // Another member, and the same member in another session, have their own quota.
    checkout("o5", "m2", 2, &sid).unwrap();
    let other = live_session();
    add_item(&other, "tea", 600, 100, 2);
    checkout("o6", "m1", 2, &other).unwrap();
    assert_eq!(remaining(&sid, "tea"), 96);
}

#[test]
fn unpaid_timer_cancels_and_the_close_returns_stock_once() {
    let host = MockHost::from_manifest(MANIFEST);
    let sid = live_session();
    add_item(&sid, "tea", 600, 1, 1);
    checkout("o1", "m1", 1, &sid).unwrap();
    assert_refused(checkout("o2", "m2", 1, &sid), "sold out");

    host.advance(300_000 - 1);
    assert!(host.take_due_timers().is_empty(), "not before the timeout");
    host.advance(1);
    fire_due();
    assert_eq!(
        host.order_actions(),
        [OrderAction::Cancel {
            order_id: "o1".into(),
            reason: UNPAID_REASON.into(),
        }]
    );
    let closed = order_now("o1");
    assert_eq!(closed.status, OrderStatus::Closed);
    // The stock comes back with the order-closed event, not with the timer.
    assert_eq!(remaining(&sid, "tea"), 0);
    event(Event::OrderClosed(closed.clone()));
    assert_eq!(remaining(&sid, "tea"), 1);
    // Delivered twice, and a late or repeated timer: nothing more comes back.
    event(Event::OrderClosed(closed));
    fire(&unpaid_timer("o1"));
    assert_eq!(remaining(&sid, "tea"), 1);
    assert_eq!(host.order_actions().len(), 1);
    let s = stats(&sid);
    assert_eq!(
        (s["orders"].as_u64(), s["closed_unpaid"].as_u64()),
        (Some(1), Some(1))
    );

    // The unit and the member's quota are back: m1 may buy again, once.
    checkout("o3", "m1", 1, &sid).unwrap();
    assert_refused(checkout("o4", "m2", 1, &sid), "sold out");
}

#[test]
fn a_close_by_other_means_also_returns_stock_and_stops_the_timer() {
    let host = MockHost::from_manifest(MANIFEST);
    let sid = live_session();
    add_item(&sid, "tea", 600, 2, 2);
    checkout("o1", "m1", 2, &sid).unwrap();
    // The buyer cancels (or the shop's own payment timeout closes it) first.
    let mut o = order_now("o1");
    o.status = OrderStatus::Closed;
    o.close_reason = Some("cancelled".into());
    host.add_order(o.clone());
    event(Event::OrderClosed(o));
    assert_eq!(remaining(&sid, "tea"), 2);
    assert!(host.timers().is_empty(), "the timer has nothing left to do");
    // Should it still fire (already claimed by a worker), it does nothing.
    fire(&unpaid_timer("o1"));
    assert!(host.order_actions().is_empty());
    assert_eq!(remaining(&sid, "tea"), 2);
}

#[test]
fn a_paid_order_is_never_cancelled_by_the_timer() {
    let host = MockHost::from_manifest(MANIFEST);
    let sid = live_session();
    add_item(&sid, "tea", 600, 2, 2);
    checkout("o1", "m1", 1, &sid).unwrap();
    checkout("o2", "m2", 1, &sid).unwrap();
    // o1 paid, and its event arrived: the timer is gone.
    let paid = pay("o1");
    event(Event::OrderPaid(paid));
    assert_eq!(host.timers().len(), 1);
    // o2 paid, but its event is late: the timer fires first and reads the order.
    pay("o2");
    host.advance(300_000);
    fire_due();
    fire(&unpaid_timer("o1"));
    assert!(host.order_actions().is_empty());
    assert_eq!(remaining(&sid, "tea"), 0);
    // Timers for orders the plugin never saw, and unknown timers, are ignored.
    fire(&unpaid_timer("o_unknown"));
    fire("something/else");
    assert!(host.order_actions().is_empty());
}

#[test]
fn stats_count_each_event_once() {
    MockHost::from_manifest(MANIFEST);
    let sid = live_session();
    add_item(&sid, "tea", 600, 10, 5);
    act(&member("m1"), "enter-room", json!({ "session_id": sid })).unwrap();
    checkout("o1", "m1", 2, &sid).unwrap();
    checkout("o2", "m2", 1, &sid).unwrap();
    // The mock's order keeps the cart amount (1000 a unit); the host's would be 600.
    let o1 = pay("o1");
    event(Event::OrderPaid(o1.clone()));
    event(Event::OrderPaid(o1.clone()));
    let o2 = pay("o2");
    event(Event::OrderPaid(o2.clone()));
    let s = stats(&sid);
    assert_eq!(s["paid_orders"], 2);
    assert_eq!(s["paid_amount"], 3000);

    event(refund_event(&o1, "r1", 500));
    event(refund_event(&o1, "r1", 500));
    event(refund_event(&o1, "r2", 700));
    let s = stats(&sid);
    assert_eq!(
        (s["refunds"].as_u64(), s["refund_amount"].as_i64()),
        (Some(2), Some(1200))
    );
    assert_eq!(s["net_amount"], 1800);

    // A paid order closing (cancelled with a full refund) keeps its stock sold: that is
    // after-sale, counted by its refund event.
    let mut closed = o2.clone();
    closed.status = OrderStatus::Closed;
    closed.refund_state = RefundState::Full;
    closed.refunded_amount = closed.paid_amount;
    event(Event::OrderClosed(closed.clone()));
    event(refund_event(&o2, "cancel-o2", 1000));
    let s = stats(&sid);
    assert_eq!(s["closed_unpaid"], 0);
    assert_eq!(s["refunds"], 3);
    assert_eq!(s["refund_amount"], 2200);
    assert_eq!(remaining(&sid, "tea"), 7);
    assert_eq!(s["viewers"], 1);
    assert_eq!(s["orders"], 2);
    assert_eq!(
        s["items"][0],
        json!({ "sku_id": "tea-sku", "sold": 3, "remaining": 7 })
    );

    // Orders that did not come from a live room are not this plugin's business.
    let other = testing::order("x1", Some("m1"), &[testing::cart_line(0, "tea", 1, 1000)]);
    event(Event::OrderPaid(other.clone()));
    event(refund_event(&other, "rx", 100));
    event(Event::OrderClosed(other));
    assert_eq!(stats(&sid)["paid_orders"], 2);
    assert_eq!(stats(&sid)["refunds"], 3);

    assert_refused(
        guard(&member("m1"), "stats", json!({ "session_id": sid })),
        "only shop staff can see live session stats",
    );
    assert_not_found(
        act(&staff(), "stats", json!({ "session_id": "ls_x" })),
        "does not exist",
    );
}

#[test]
fn unknown_actions_and_bad_inputs() {
    MockHost::from_manifest(MANIFEST);
    assert_not_found(
        guard(&staff(), "go-live", json!({})),
        "unknown action `go-live`",
    );
    let sid = live_session();
    assert_invalid(
        act(
            &member("m1"),
            "list-items",
            json!({ "session_id": sid, "all": true }),
        ),
        "unknown field `all`; allowed: session_id",
    );
    let ctx = MockHost::current().context("{}");
    assert_invalid(
        LiveSale::handle_action(&ctx, &staff(), "get-session", "{"),
        "not valid JSON",
    );
    assert_invalid(
        LiveSale::handle_action(&ctx, &staff(), "list-sessions", "[1]"),
        "must be a JSON object",
    );
    // An empty body reads as `{}`.
    assert!(LiveSale::handle_action(&ctx, &member("m1"), "list-sessions", "").is_ok());
}
