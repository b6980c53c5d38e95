//! The store-binding rules, run natively against the SDK's mock host.

use crate::StoreBinding;
use crate::model::{CODE_ALPHABET, CODE_LEN, DAY_MS};
use baseplate_sdk::testing::{
    self, MockHost, assert_invalid, assert_not_found, assert_refused, buyer as member, staff,
};
use baseplate_sdk::{
    Actor, Attribute, Event, LineRefund, Order, OrderRefunded, Party, PaymentStatus, Refund,
    RefundState, Result, ledger,
};
use serde_json::{Value, json};

/// The mock host enforces this plugin's manifest, as the real host does.
const MANIFEST: &str = include_str!("../plugin.toml");

/// 30-day bindings, 7 days protected, takeover after protection, a 990 分 membership
/// (SKU `vip-sku`) paying 500 to the employee and 490 to the outlet.
const CONFIG: &str = r#"{"validity_days": 30, "protection_days": 7, "takeover": "after_protection",
    "membership": {"sku_id": "vip-sku", "employee_share": 500, "outlet_share": 490}}"#;

/// Runs an action as the host does under `config`: declared, open to the actor, atomic.
#[track_caller]
fn act_with(config: &str, actor: &Actor, name: &str, input: Value) -> Result<Value> {
    MockHost::current()
        .set_config(config)
        .act::<StoreBinding>(actor, name, input)
}

/// What the plugin itself answers a call the host refuses before the plugin runs (an
/// undeclared action, an actor the action is not open to): its own guard.
fn guard(actor: &Actor, name: &str, input: Value) -> Result<Value> {
    MockHost::current()
        .set_config(CONFIG)
        .act_unchecked::<StoreBinding>(actor, name, input)
}

#[track_caller]
fn act(actor: &Actor, name: &str, input: Value) -> Result<Value> {
    act_with(CONFIG, actor, name, input)
}

fn outlet(name: &str) -> String {
    let out = act(&staff(), "create-outlet", json!({ "name": name })).unwrap();
    out["outlet_id"].as_str().unwrap().to_string()
}

/// (employee id, code).
fn employee(outlet_id: &str, name: &str) -> (String, String) {
    let out = act(
        &staff(),
        "create-employee",
        json!({ "outlet_id": outlet_id, "name": name }),
    )
    .unwrap();
    (
        out["employee_id"].as_str().unwrap().to_string(),
        out["code"].as_str().unwrap().to_string(),
    )
}

fn bind_code_with(config: &str, member_id: &str, code: &str) -> Result<Value> {
    act_with(
        config,
        &member(member_id),
        "bind",
        json!({ "via": "code", "code": code }),
    )
}

fn bind_link_with(config: &str, member_id: &str, employee_id: &str) -> Result<Value> {
    act_with(
        config,
        &member(member_id),
        "bind",
        json!({ "via": "link", "employee_id": employee_id }),
    )
}

fn bind_link(member_id: &str, employee_id: &str) -> Result<Value> {
    bind_link_with(CONFIG, member_id, employee_id)
}

fn my_binding(member_id: &str) -> Value {
    act(&member(member_id), "my-binding", json!({})).unwrap()["binding"].clone()
}

fn attr(attrs: &[Attribute], key: &str) -> Option<String> {
    attrs.iter().find(|a| a.key == key).map(|a| a.value.clone())
}

fn tea_order(id: &str, member_id: Option<&str>) -> Order {
    testing::order(id, member_id, &[testing::cart_line(0, "tea", 1, 6000)])
}

/// A membership (990) and a tea (6000) line.
fn vip_order(id: &str, member_id: &str, vip_qty: u32) -> Order {
    testing::order(
        id,
        Some(member_id),
        &[
            testing::cart_line(0, "vip", vip_qty, 990),
            testing::cart_line(1, "tea", 1, 6000),
        ],
    )
}

fn create_with(config: &str, order: &Order, input: Option<Value>) -> Result<Vec<Attribute>> {
    let input = input.map(|v| v.to_string());
    let host = MockHost::current().set_config(config);
    host.order_created::<StoreBinding>(order, input.as_deref())
}

fn create(order: &Order, input: Option<Value>) -> Result<Vec<Attribute>> {
    create_with(CONFIG, order, input)
}

fn event(event: Event) {
    let host = MockHost::current().set_config(CONFIG);
    host.handle_event::<StoreBinding>(&event).unwrap();
}

fn paid(mut order: Order) -> Order {
    order.payment_status = PaymentStatus::Paid;
    order.paid_amount = order.payable_amount;
    event(Event::OrderPaid(order.clone()));
    order
}

/// Refunds `amounts` (line index → 分) of `order` as refund `id` and delivers the event.
fn refund(order: &mut Order, id: &str, amounts: &[(usize, i64)]) -> Event {
    let mut lines = Vec::new();
    for &(i, amount) in amounts {
        order.lines[i].refunded_amount += amount;
        lines.push(LineRefund {
            line_id: order.lines[i].id.clone(),
            amount,
        });
    }
    let total: i64 = amounts.iter().map(|(_, a)| a).sum();
    order.refunded_amount += total;
    order.refund_state = if order.refunded_amount == order.paid_amount {
        RefundState::Full
    } else {
        RefundState::Partial
    };
    let e = Event::OrderRefunded(OrderRefunded {
        order: order.clone(),
        refund: Refund {
            id: id.into(),
            amount: total,
            lines,
            reason: "changed mind".into(),
            created_at: MockHost::current().now(),
        },
    });
    event(e.clone());
    e
}

fn reward(party: Party) -> i64 {
    ledger::balance(&party, "reward").total
}

fn sales() -> i64 {
    ledger::balance(&Party::Shop, "sales").total
}

fn emp(id: &str) -> Party {
    Party::Employee(id.into())
}

fn out(id: &str) -> Party {
    Party::Outlet(id.into())
}

#[test]
fn config_is_validated_field_by_field() {
    assert!(
        MockHost::current()
            .validate_config::<StoreBinding>("{}")
            .is_ok()
    );
    assert!(
        MockHost::current()
            .validate_config::<StoreBinding>(CONFIG)
            .is_ok()
    );
    let default = include_str!("../plugin.toml")
        .lines()
        .find_map(|l| l.strip_prefix("default = '"))
        .unwrap()
        .trim_end_matches('\'');
    assert!(
        MockHost::current()
            .validate_config::<StoreBinding>(default)
            .is_ok()
    );
    assert!(
        MockHost::current()
            .validate_config::<StoreBinding>(r#"{"membership": null, "takeover": "anytime"}"#)
            .is_ok()
    );
    let bad = |config: &str, needle: &str| {
        assert_invalid(
            MockHost::current().validate_config::<StoreBinding>(config),
            needle,
        )
    };
    bad(
        r#"{"validity_days": -1}"#,
        "invalid config: `validity_days` must be an integer 0..=3650 (days; 0 = permanent)",
    );
    bad(r#"{"validity_days": 3651}"#, "`validity_days`");
    bad(r#"{"validity_days": "30"}"#, "`validity_days`");
    bad(
        r#"{"protection_days": 1.5}"#,
        "`protection_days` must be an integer 0..=3650",
    );
    bad(
        r#"{"validity_days": 7, "protection_days": 8}"#,
        "`protection_days` must be at most `validity_days` (7)",
    );
    // Permanent bindings may be protected for any period.
    assert!(
        MockHost::current()
            .validate_config::<StoreBinding>(r#"{"validity_days": 0, "protection_days": 90}"#)
            .is_ok()
    );
    bad(
        r#"{"takeover": "sometimes"}"#,
        "`takeover` must be \"never\", \"anytime\" or \"after_protection\"",
    );
    bad(
        r#"{"membership": 990}"#,
        "`membership` must be null or an object",
    );
    bad(
        r#"{"membership": {"employee_share": 1, "outlet_share": 1}}"#,
        "`membership.sku_id` is required",
    );
    bad(
        r#"{"membership": {"sku_id": "s", "employee_share": -1, "outlet_share": 1}}"#,
        "`membership.employee_share` must be an integer 0..=100000000",
    );
    bad(
        r#"{"membership": {"sku_id": "s", "employee_share": 1}}"#,
        "`membership.outlet_share` is required",
    );
    bad(
        r#"{"membership": {"sku_id": "s", "employee_share": 1, "outlet_share": 1, "price": 9}}"#,
        "unknown field `membership.price`",
    );
    bad(
        r#"{"protect_days": 1}"#,
        "unknown field `protect_days`; allowed: validity_days",
    );
    bad("[1]", "`the input` must be a JSON object");
    bad("{", "not valid JSON");
}

#[test]
fn outlets_and_employees_are_staff_business() {
    MockHost::from_manifest(MANIFEST);
    assert_refused(
        guard(&member("m1"), "create-outlet", json!({ "name": "X" })),
        "only shop staff can create outlets",
    );
    assert_invalid(
        act(&staff(), "create-outlet", json!({ "name": "  " })),
        "`name` must be a name of 1..=100 characters",
    );
    assert_invalid(
        act(
            &staff(),
            "create-outlet",
            json!({ "name": "X", "city": "HZ" }),
        ),
        "unknown field `city`",
    );
    let o = outlet("West Lake");
    assert!(o.starts_with("out_"));
    let out = act(
        &Actor::System,
        "create-outlet",
        json!({ "name": "Binjiang" }),
    )
    .unwrap();
    let o2 = out["outlet_id"].as_str().unwrap().to_string();
    let outlets = act(&staff(), "list-outlets", json!({})).unwrap();
    assert_eq!(outlets["outlets"].as_array().unwrap().len(), 2);

    assert_not_found(
        act(
            &staff(),
            "create-employee",
            json!({ "outlet_id": "out_nope", "name": "A" }),
        ),
        "outlet out_nope does not exist",
    );
    assert_invalid(
        act(&staff(), "create-employee", json!({ "name": "A" })),
        "`outlet_id` is required",
    );
    assert_refused(
        guard(
            &member("m1"),
            "create-employee",
            json!({ "outlet_id": o, "name": "A" }),
        ),
        "only shop staff",
    );
    let (a, code_a) = employee(&o, "Ada");
    let (b, code_b) = employee(&o2, "Bo");
    assert!(a.starts_with("emp_"));
    for code in [&code_a, &code_b] {
        assert_eq!(code.len(), CODE_LEN);
        assert!(code.bytes().all(|c| CODE_ALPHABET.contains(&c)), "{code}");
    }
    assert_ne!(code_a, code_b);
    // Codes stay unique over many employees.
    let mut codes: Vec<String> = (0..200).map(|i| employee(&o, &format!("e{i}")).1).collect();
    codes.sort();
    codes.dedup();
    assert_eq!(codes.len(), 200);

    assert_refused(
        guard(
            &member("m1"),
            "dismiss-employee",
            json!({ "employee_id": a }),
        ),
        "only shop staff",
    );
    let d = act(&staff(), "dismiss-employee", json!({ "employee_id": a })).unwrap();
    assert_eq!(d["status"], "dismissed");
    let at = d["dismissed_at"].clone();
    MockHost::current().advance(1000);
    let again = act(&staff(), "dismiss-employee", json!({ "employee_id": a })).unwrap();
    assert_eq!(
        again["dismissed_at"], at,
        "dismissing twice keeps the first time"
    );
    assert_not_found(
        act(
            &staff(),
            "dismiss-employee",
            json!({ "employee_id": "emp_x" }),
        ),
        "employee emp_x does not exist",
    );

    let at_o2 = act(&staff(), "list-employees", json!({ "outlet_id": o2 })).unwrap();
    let ids: Vec<&str> = at_o2["employees"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["employee_id"].as_str().unwrap())
        .collect();
    assert_eq!(ids, [b.as_str()]);
    let dismissed = act(&staff(), "list-employees", json!({ "status": "dismissed" })).unwrap();
    assert_eq!(dismissed["employees"][0]["employee_id"], a.as_str());
    assert_eq!(dismissed["employees"].as_array().unwrap().len(), 1);
    assert_eq!(
        act(&staff(), "list-employees", json!({})).unwrap()["employees"]
            .as_array()
            .unwrap()
            .len(),
        202
    );
    assert_invalid(
        act(&staff(), "list-employees", json!({ "status": "gone" })),
        "`status` must be \"active\" or \"dismissed\"",
    );
    assert_refused(
        guard(&member("m1"), "list-employees", json!({})),
        "only shop staff",
    );
    assert_eq!(
        guard(&staff(), "nope", json!({})).unwrap_err().kind(),
        "not-found"
    );
}

#[test]
fn bind_input_and_actor_are_checked() {
    let host = MockHost::from_manifest(MANIFEST);
    let o = outlet("West Lake");
    let (a, code) = employee(&o, "Ada");
    let bind = |actor: &Actor, input: Value| act(actor, "bind", input);
    assert_invalid(
        bind(&member("m1"), json!({ "code": code })),
        "`via` is required",
    );
    assert_invalid(
        bind(&member("m1"), json!({ "via": "membership", "code": code })),
        "`via` must be \"code\" or \"link\"",
    );
    assert_invalid(
        bind(&member("m1"), json!({ "via": "code" })),
        "`code` is required",
    );
    assert_invalid(
        bind(&member("m1"), json!({ "via": "link", "code": code })),
        "`employee_id` is required",
    );
    assert_invalid(
        bind(
            &member("m1"),
            json!({ "via": "code", "code": code, "employee_id": a }),
        ),
        "`employee_id` is for `via: \"link\"`",
    );
    assert_invalid(
        bind(
            &member("m1"),
            json!({ "via": "link", "employee_id": a, "code": code }),
        ),
        "`code` is for `via: \"code\"`",
    );
    assert_invalid(
        bind(
            &member("m1"),
            json!({ "via": "code", "code": code, "shop": 1 }),
        ),
        "unknown field `shop`",
    );
    assert_not_found(
        bind(&member("m1"), json!({ "via": "code", "code": "ZZZZZZ" })),
        "no employee has the code ZZZZZZ",
    );
    assert_not_found(
        bind(
            &member("m1"),
            json!({ "via": "link", "employee_id": "emp_x" }),
        ),
        "employee emp_x does not exist",
    );
    assert_refused(
        bind(
            &member("m1"),
            json!({ "via": "link", "employee_id": a, "member_id": "m2" }),
        ),
        "members can only act for themselves",
    );
    assert_invalid(
        bind(&staff(), json!({ "via": "link", "employee_id": a })),
        "`member_id` is required when staff act for a member",
    );
    assert_not_found(
        bind(
            &staff(),
            json!({ "via": "link", "employee_id": a, "member_id": "ghost" }),
        ),
        "member ghost is not a member of this shop",
    );
    assert!(
        host.state_snapshot()
            .keys()
            .all(|k| !k.starts_with("bind/"))
    );

    // A code is read case- and space-insensitively.
    let out = bind(
        &member("m1"),
        json!({ "via": "code", "code": format!(" {} ", code.to_lowercase()) }),
    )
    .unwrap();
    assert_eq!(out["result"], "new");
    assert_eq!(out["binding"]["employee_id"], a.as_str());
    assert_eq!(out["binding"]["outlet_id"], o.as_str());
    assert_eq!(out["binding"]["via"], "code");
    host.add_member(testing::member("m2"));
    let out = bind(
        &staff(),
        json!({ "via": "link", "employee_id": a, "member_id": "m2" }),
    )
    .unwrap();
    assert_eq!(out["binding"]["member_id"], "m2");
    assert_eq!(out["binding"]["via"], "link");
}

#[test]
fn binding_has_validity_and_protection_and_rebinding_refreshes_it() {
    let host = MockHost::from_manifest(MANIFEST);
    let o = outlet("West Lake");
    let (a, _) = employee(&o, "Ada");
    let t0 = host.now();
    let out = bind_link("m1", &a).unwrap();
    let b = &out["binding"];
    assert_eq!(b["bound_at"].as_i64(), Some(t0));
    assert_eq!(b["expires_at"].as_i64(), Some(t0 + 30 * DAY_MS));
    assert_eq!(b["protected_until"].as_i64(), Some(t0 + 7 * DAY_MS));
    assert_eq!(
        (b["status"].as_str(), b["protected"].as_bool()),
        (Some("active"), Some(true))
    );

    host.advance(20 * DAY_MS);
    let out = bind_link("m1", &a).unwrap();
    assert_eq!(out["result"], "refreshed");
    let b = &out["binding"];
    assert_eq!(b["first_bound_at"].as_i64(), Some(t0));
    assert_eq!(b["bound_at"].as_i64(), Some(t0 + 20 * DAY_MS));
    assert_eq!(b["expires_at"].as_i64(), Some(t0 + 50 * DAY_MS));
    assert_eq!(b["protected_until"].as_i64(), Some(t0 + 27 * DAY_MS));
    // Without the refresh it would have lapsed at day 30; it holds until day 50.
    let active = || {
        act(&staff(), "employee-stats", json!({ "employee_id": a })).unwrap()["active_bindings"]
            .as_i64()
            .unwrap()
    };
    host.advance(15 * DAY_MS);
    assert_eq!(my_binding("m1")["status"], "active");
    assert_eq!(active(), 1);
    host.advance(15 * DAY_MS);
    assert_eq!(active(), 0);
    let b = my_binding("m1");
    assert_eq!(
        (b["status"].as_str(), b["protected"].as_bool()),
        (Some("expired"), Some(false))
    );

    // Permanent bindings never lapse.
    let permanent = r#"{"validity_days": 0, "protection_days": 1, "takeover": "never"}"#;
    let out = bind_link_with(permanent, "m9", &a).unwrap();
    assert_eq!(out["binding"]["expires_at"], Value::Null);
    host.advance(3650 * DAY_MS);
    assert_eq!(my_binding("m9")["status"], "active");
}

#[test]
fn another_employee_is_refused_inside_protection_and_takes_over_after_it() {
    let host = MockHost::from_manifest(MANIFEST);
    let o1 = outlet("West Lake");
    let o2 = outlet("Binjiang");
    let (a, _) = employee(&o1, "Ada");
    let (b, code_b) = employee(&o2, "Bo");
    bind_link("m1", &a).unwrap();
    let before = host.state_snapshot();
    assert_refused(
        bind_code_with(CONFIG, "m1", &code_b),
        &format!("bound to employee {a} and protected until"),
    );
    assert_eq!(
        host.state_snapshot(),
        before,
        "a refused bind writes nothing"
    );
    // Protection holds whatever the takeover policy.
    let anytime = r#"{"validity_days": 30, "protection_days": 7, "takeover": "anytime"}"#;
    assert_refused(bind_link_with(anytime, "m1", &b), "protected until");

    host.advance(7 * DAY_MS - 1);
    assert_refused(bind_link("m1", &b), "protected until");
    host.advance(1);
    let out = bind_code_with(CONFIG, "m1", &code_b).unwrap();
    assert_eq!(out["result"], "taken_over");
    assert_eq!(out["binding"]["employee_id"], b.as_str());
    assert_eq!(out["binding"]["outlet_id"], o2.as_str());
    assert_eq!(out["binding"]["previous_employee_id"], a.as_str());
    // The new employee's binding is protected in turn.
    assert_refused(bind_link("m1", &a), &format!("bound to employee {b}"));

    // `anytime` takes over once nothing protects the member.
    host.advance(7 * DAY_MS);
    let out = bind_link_with(anytime, "m1", &a).unwrap();
    assert_eq!(out["result"], "taken_over");
    // Protection is fixed when a binding is made; without it `anytime` takes over at once.
    assert_refused(bind_link_with(anytime, "m1", &b), "protected until");
    let unprotected = r#"{"validity_days": 30, "protection_days": 0, "takeover": "anytime"}"#;
    bind_link_with(unprotected, "m2", &a).unwrap();
    assert_eq!(
        bind_link_with(unprotected, "m2", &b).unwrap()["result"],
        "taken_over"
    );
    assert_eq!(
        bind_link_with(unprotected, "m2", &a).unwrap()["result"],
        "taken_over"
    );
}

#[test]
fn takeover_never_keeps_the_member_until_the_binding_lapses() {
    let host = MockHost::from_manifest(MANIFEST);
    let o = outlet("West Lake");
    let (a, _) = employee(&o, "Ada");
    let (b, _) = employee(&o, "Bo");
    let never = r#"{"validity_days": 10, "protection_days": 2, "takeover": "never"}"#;
    bind_link_with(never, "m1", &a).unwrap();
    host.advance(5 * DAY_MS);
    assert_refused(
        bind_link_with(never, "m1", &b),
        "until 1700864000000 (ms since the epoch) and this shop does not allow takeovers",
    );
    host.advance(5 * DAY_MS - 1);
    assert_refused(bind_link_with(never, "m1", &b), "does not allow takeovers");
    host.advance(1);
    // Lapsed: anyone may bind the member again.
    let out = bind_link_with(never, "m1", &b).unwrap();
    assert_eq!(out["result"], "new");
    assert_eq!(out["binding"]["previous_employee_id"], Value::Null);

    let forever = r#"{"takeover": "never"}"#;
    bind_link_with(forever, "m2", &a).unwrap();
    host.advance(365 * DAY_MS);
    assert_refused(bind_link_with(forever, "m2", &b), "permanently");
}

#[test]
fn two_employees_racing_for_one_member_leave_one_binding() {
    // The host serializes calls per shop and plugin, so a race is two binds in some order:
    // whichever comes second is judged against the first.
    for config in [
        CONFIG,
        r#"{"takeover": "never"}"#,
        r#"{"validity_days": 30, "protection_days": 1, "takeover": "anytime"}"#,
    ] {
        let host = MockHost::from_manifest(MANIFEST);
        let o = outlet("West Lake");
        let (a, _) = employee(&o, "Ada");
        let (b, _) = employee(&o, "Bo");
        bind_link_with(config, "m1", &a).unwrap();
        assert_refused(bind_link_with(config, "m1", &b), "bound to employee");
        let bindings = act(&staff(), "list-bindings", json!({})).unwrap();
        assert_eq!(bindings["bindings"].as_array().unwrap().len(), 1);
        assert_eq!(bindings["bindings"][0]["employee_id"], a.as_str());
        let indexed: Vec<String> = host
            .state_snapshot()
            .into_keys()
            .filter(|k| k.starts_with("emp-bind/"))
            .collect();
        assert_eq!(indexed, [format!("emp-bind/{a}/m1")]);
    }
}

#[test]
fn a_dismissed_employee_gets_no_new_bindings_but_keeps_existing_ones() {
    let host = MockHost::from_manifest(MANIFEST);
    let o = outlet("West Lake");
    let (a, code_a) = employee(&o, "Ada");
    let (b, _) = employee(&o, "Bo");
    bind_link("m1", &a).unwrap();
    act(&staff(), "dismiss-employee", json!({ "employee_id": a })).unwrap();
    assert_refused(
        bind_code_with(CONFIG, "m2", &code_a),
        &format!("employee {a} has been dismissed and takes no new bindings"),
    );
    assert_refused(bind_link("m2", &a), "has been dismissed");
    // No refresh either.
    assert_refused(bind_link("m1", &a), "has been dismissed");
    assert_eq!(my_binding("m2"), Value::Null);
    // The existing binding stays, and still attributes orders, until it lapses …
    let mine = my_binding("m1");
    assert_eq!(mine["employee_id"], a.as_str());
    assert_eq!(mine["employee_status"], "dismissed");
    assert_eq!(mine["status"], "active");
    let attrs = create(&tea_order("o1", Some("m1")), None).unwrap();
    assert_eq!(attr(&attrs, "employee_id"), Some(a.clone()));
    // … or another employee takes the member over under the usual rules.
    assert_refused(bind_link("m1", &b), "protected until");
    host.advance(7 * DAY_MS);
    assert_eq!(bind_link("m1", &b).unwrap()["result"], "taken_over");
}

#[test]
fn orders_are_attributed_to_the_binding_at_creation() {
    let host = MockHost::from_manifest(MANIFEST);
    let o1 = outlet("West Lake");
    let o2 = outlet("Binjiang");
    let (a, _) = employee(&o1, "Ada");
    let (b, _) = employee(&o2, "Bo");
    // Unbound and anonymous orders carry no attribution.
    assert_eq!(create(&tea_order("o0", Some("m1")), None).unwrap(), []);
    assert_eq!(create(&tea_order("o00", None), None).unwrap(), []);

    bind_link("m1", &a).unwrap();
    let attrs1 = create(&tea_order("o1", Some("m1")), None).unwrap();
    assert_eq!(attr(&attrs1, "employee_id"), Some(a.clone()));
    assert_eq!(attr(&attrs1, "outlet_id"), Some(o1.clone()));
    assert_eq!(attrs1.len(), 2);
    assert_invalid(
        create(&tea_order("o1x", Some("m1")), Some(json!({ "coupon": 1 }))),
        "unknown field `coupon`; allowed: employee_code",
    );

    host.advance(7 * DAY_MS);
    bind_link("m1", &b).unwrap();
    let attrs2 = create(&tea_order("o2", Some("m1")), None).unwrap();
    assert_eq!(attr(&attrs2, "employee_id"), Some(b.clone()));
    assert_eq!(attr(&attrs2, "outlet_id"), Some(o2.clone()));
    // Order 1 keeps A: a repeated creation hook returns what it first returned.
    assert_eq!(create(&tea_order("o1", Some("m1")), None).unwrap(), attrs1);

    // Paid orders count for the employee they were attributed to.
    let mut order1 = tea_order("o1", Some("m1"));
    order1.attributes = attrs1;
    paid(order1.clone());
    paid(order1);
    let stats_a = act(&staff(), "employee-stats", json!({ "employee_id": a })).unwrap();
    assert_eq!(stats_a["stats"]["orders"], 1);
    assert_eq!(
        stats_a["stats"]["paid_orders"], 1,
        "a redelivered payment counts once"
    );
    assert_eq!(stats_a["stats"]["paid_amount"], 6000);
    assert_eq!(stats_a["active_bindings"], 0);
    let stats_b = act(&staff(), "employee-stats", json!({ "employee_id": b })).unwrap();
    assert_eq!(
        (
            stats_b["stats"]["orders"].as_i64(),
            stats_b["active_bindings"].as_i64()
        ),
        (Some(1), Some(1))
    );

    // A lapsed binding attributes nothing.
    host.advance(30 * DAY_MS);
    assert_eq!(create(&tea_order("o3", Some("m1")), None).unwrap(), []);
}

#[test]
fn buying_the_membership_with_a_code_binds_and_rewards_on_payment() {
    let host = MockHost::from_manifest(MANIFEST);
    let o = outlet("West Lake");
    let (a, code_a) = employee(&o, "Ada");
    let order = vip_order("o1", "m1", 1);
    let attrs = create(&order, Some(json!({ "employee_code": code_a }))).unwrap();
    assert_eq!(attr(&attrs, "employee_id"), Some(a.clone()));
    assert_eq!(attr(&attrs, "outlet_id"), Some(o.clone()));
    let b = my_binding("m1");
    assert_eq!(
        (b["employee_id"].as_str(), b["via"].as_str()),
        (Some(a.as_str()), Some("membership"))
    );
    assert!(
        host.ledger_postings().is_empty(),
        "nothing is booked before payment"
    );

    let mut order = paid(order);
    let postings = host.ledger_postings();
    assert_eq!(postings.len(), 1);
    let amounts: Vec<(Party, &str, i64)> = postings[0]
        .entries
        .iter()
        .map(|e| (e.party.clone(), e.account.as_str(), e.amount))
        .collect();
    assert_eq!(
        amounts,
        [
            (Party::Shop, "sales", -990),
            (emp(&a), "reward", 500),
            (out(&o), "reward", 490)
        ]
    );
    // A redelivered payment books nothing more.
    event(Event::OrderPaid(order.clone()));
    assert_eq!(host.ledger_postings().len(), 1);
    let stats = act(&staff(), "employee-stats", json!({ "employee_id": a })).unwrap();
    assert_eq!(stats["stats"]["memberships"], 1);
    assert_eq!(stats["reward"]["total"], 500);

    // Refunding only the tea reverses nothing.
    refund(&mut order, "r-tea", &[(1, 6000)]);
    assert_eq!(host.ledger_postings().len(), 1);
    // A full refund of the membership line reverses it all, once.
    let again = refund(&mut order, "r-vip", &[(0, 990)]);
    assert_eq!((reward(emp(&a)), reward(out(&o)), sales()), (0, 0, 0));
    event(again);
    assert_eq!(host.ledger_postings().len(), 2);
    assert_eq!(
        host.ledger_postings()[1].memo,
        "membership reward reversed, order o1 refund r-vip"
    );
}

#[test]
fn partial_refunds_reverse_in_proportion_rounding_down_and_end_exact() {
    let host = MockHost::from_manifest(MANIFEST);
    let o = outlet("West Lake");
    let (a, code_a) = employee(&o, "Ada");
    let order = vip_order("o1", "m1", 1);
    create(&order, Some(json!({ "employee_code": code_a }))).unwrap();
    let mut order = paid(order);
    // 333 of 990 back: floor(500 × 333 / 990) = 168, floor(490 × 333 / 990) = 164.
    let r1 = refund(&mut order, "r1", &[(0, 333)]);
    assert_eq!((reward(emp(&a)), reward(out(&o))), (500 - 168, 490 - 164));
    event(r1);
    assert_eq!(
        reward(emp(&a)),
        500 - 168,
        "the same refund id applies once"
    );
    // 333 more (666): 336 and 329 reversed in total.
    refund(&mut order, "r2", &[(0, 333)]);
    assert_eq!((reward(emp(&a)), reward(out(&o))), (500 - 336, 490 - 329));
    // The rest: the reversal ends exact.
    refund(&mut order, "r3", &[(0, 324), (1, 6000)]);
    assert_eq!((reward(emp(&a)), reward(out(&o)), sales()), (0, 0, 0));
    assert_eq!(host.ledger_postings().len(), 4);
}

#[test]
fn refund_delivered_before_payment_is_reversed_when_the_reward_is_booked() {
    let host = MockHost::from_manifest(MANIFEST);
    let o = outlet("West Lake");
    let (a, code_a) = employee(&o, "Ada");
    let mut order = vip_order("o1", "m1", 1);
    create(&order, Some(json!({ "employee_code": code_a }))).unwrap();
    order.payment_status = PaymentStatus::Paid;
    order.paid_amount = order.payable_amount;
    // The payment's delivery failed and is retried after the refund's.
    refund(&mut order, "r1", &[(0, 495)]);
    assert!(host.ledger_postings().is_empty());
    event(Event::OrderPaid(order.clone()));
    assert_eq!((reward(emp(&a)), reward(out(&o))), (250, 245));
    assert_eq!(sales(), -495);
}

#[test]
fn membership_quantity_multiplies_the_reward() {
    let host = MockHost::from_manifest(MANIFEST);
    let o = outlet("West Lake");
    let (a, code_a) = employee(&o, "Ada");
    let order = vip_order("o1", "m1", 2);
    create(&order, Some(json!({ "employee_code": code_a }))).unwrap();
    let mut order = paid(order);
    assert_eq!((reward(emp(&a)), reward(out(&o))), (1000, 980));
    refund(&mut order, "r1", &[(0, 990)]);
    assert_eq!((reward(emp(&a)), reward(out(&o))), (500, 490));
    assert_eq!(host.ledger_postings().len(), 2);
}

#[test]
fn shares_above_the_price_book_nothing_and_are_logged() {
    let host = MockHost::from_manifest(MANIFEST);
    let o = outlet("West Lake");
    let (_, code_a) = employee(&o, "Ada");
    let greedy =
        r#"{"membership": {"sku_id": "vip-sku", "employee_share": 600, "outlet_share": 391}}"#;
    let order = vip_order("o1", "m1", 1);
    create_with(greedy, &order, Some(json!({ "employee_code": code_a }))).unwrap();
    let mut order = order;
    order.payment_status = PaymentStatus::Paid;
    order.paid_amount = order.payable_amount;
    event(Event::OrderPaid(order));
    assert!(host.ledger_postings().is_empty());
    assert!(host.logs().iter().any(|l| {
        l.message
            .contains("600 + 391 = 991 exceed the SKU vip-sku price 990")
    }));
    // Shares equal to the price are fine; zero shares book nothing.
    let exact =
        r#"{"membership": {"sku_id": "vip-sku", "employee_share": 990, "outlet_share": 0}}"#;
    let order = vip_order("o2", "m1", 1);
    create_with(exact, &order, None).unwrap();
    paid(order);
    assert_eq!(host.ledger_postings().len(), 1);
    assert_eq!(host.ledger_postings()[0].entries.len(), 2);
    let nothing =
        r#"{"membership": {"sku_id": "vip-sku", "employee_share": 0, "outlet_share": 0}}"#;
    let order = vip_order("o3", "m1", 1);
    create_with(nothing, &order, None).unwrap();
    paid(order);
    assert_eq!(host.ledger_postings().len(), 1);
}

#[test]
fn membership_checkout_input_is_checked() {
    let host = MockHost::from_manifest(MANIFEST);
    let o = outlet("West Lake");
    let (a, code_a) = employee(&o, "Ada");
    let (b, code_b) = employee(&o, "Bo");
    let with_code = |code: &str| Some(json!({ "employee_code": code }));
    assert_invalid(
        create_with(r#"{}"#, &vip_order("o1", "m1", 1), with_code(&code_a)),
        "this shop has none configured",
    );
    assert_invalid(
        create(&tea_order("o1", Some("m1")), with_code(&code_a)),
        "`employee_code` binds only with the paid membership (SKU vip-sku) in the cart",
    );
    assert_invalid(
        create(&tea_order("o1", None), with_code(&code_a)),
        "check out as a member",
    );
    assert_invalid(
        create(
            &vip_order("o1", "m1", 1),
            Some(json!({ "employee_code": 7 })),
        ),
        "`employee_code` must be an employee code",
    );
    assert_not_found(
        create(&vip_order("o1", "m1", 1), with_code("QQQQQQ")),
        "no employee has the code QQQQQQ",
    );
    act(&staff(), "dismiss-employee", json!({ "employee_id": b })).unwrap();
    assert_refused(
        create(&vip_order("o1", "m1", 1), with_code(&code_b)),
        "has been dismissed",
    );
    assert!(
        host.state_snapshot()
            .keys()
            .all(|k| !k.starts_with("bind/") && !k.starts_with("order/"))
    );

    // Without a code, a membership bought by a bound member rewards the bound employee.
    bind_link("m2", &a).unwrap();
    let order = vip_order("o2", "m2", 1);
    let attrs = create(&order, None).unwrap();
    assert_eq!(attr(&attrs, "employee_id"), Some(a.clone()));
    paid(order);
    assert_eq!(reward(emp(&a)), 500);
    // An unbound member's membership rewards nobody.
    let order = vip_order("o3", "m3", 1);
    assert_eq!(create(&order, None).unwrap(), []);
    paid(order);
    assert_eq!(host.ledger_postings().len(), 1);
}

#[test]
fn a_protected_member_buying_with_another_code_stays_with_their_employee() {
    let host = MockHost::from_manifest(MANIFEST);
    let o1 = outlet("West Lake");
    let o2 = outlet("Binjiang");
    let (a, _) = employee(&o1, "Ada");
    let (b, code_b) = employee(&o2, "Bo");
    bind_link("m1", &a).unwrap();
    let order = vip_order("o1", "m1", 1);
    let attrs = create(&order, Some(json!({ "employee_code": code_b }))).unwrap();
    assert_eq!(attr(&attrs, "employee_id"), Some(a.clone()));
    assert_eq!(attr(&attrs, "outlet_id"), Some(o1.clone()));
    assert!(
        attr(&attrs, "bind_refused")
            .unwrap()
            .contains("protected until")
    );
    assert_eq!(my_binding("m1")["employee_id"], a.as_str());
    paid(order);
    assert_eq!((reward(emp(&a)), reward(out(&o1))), (500, 490));
    assert_eq!((reward(emp(&b)), reward(out(&o2))), (0, 0));

    // After protection the same purchase takes the member over, and B is rewarded.
    host.advance(7 * DAY_MS);
    let order = vip_order("o2", "m1", 1);
    let attrs = create(&order, Some(json!({ "employee_code": code_b }))).unwrap();
    assert_eq!(attr(&attrs, "employee_id"), Some(b.clone()));
    assert_eq!(attr(&attrs, "bind_refused"), None);
    paid(order);
    assert_eq!((reward(emp(&b)), reward(out(&o2))), (500, 490));
}

#[test]
fn rebinding_never_moves_an_earlier_orders_reward() {
    let host = MockHost::from_manifest(MANIFEST);
    let o1 = outlet("West Lake");
    let o2 = outlet("Binjiang");
    let (a, code_a) = employee(&o1, "Ada");
    let (b, _) = employee(&o2, "Bo");
    let order = vip_order("o1", "m1", 1);
    create(&order, Some(json!({ "employee_code": code_a }))).unwrap();
    host.advance(8 * DAY_MS);
    bind_link("m1", &b).unwrap();
    // Paid and refunded after the member moved to B: the money still follows A.
    let mut order = paid(order);
    assert_eq!((reward(emp(&a)), reward(emp(&b))), (500, 0));
    refund(&mut order, "r1", &[(0, 990)]);
    assert_eq!((reward(emp(&a)), reward(out(&o1))), (0, 0));
}

#[test]
fn my_binding_and_list_bindings() {
    let host = MockHost::from_manifest(MANIFEST);
    let o1 = outlet("West Lake");
    let o2 = outlet("Binjiang");
    let (a, _) = employee(&o1, "Ada");
    let (b, _) = employee(&o2, "Bo");
    assert_eq!(my_binding("m1"), Value::Null);
    bind_link("m1", &a).unwrap();
    let mine = my_binding("m1");
    assert_eq!(mine["employee_name"], "Ada");
    assert_eq!(mine["outlet_name"], "West Lake");
    assert_eq!(mine["status"], "active");
    assert_refused(
        act(&member("m2"), "my-binding", json!({ "member_id": "m1" })),
        "members can only act for themselves",
    );
    host.add_member(testing::member("m1"));
    let seen = act(&staff(), "my-binding", json!({ "member_id": "m1" })).unwrap();
    assert_eq!(seen["binding"]["employee_id"], a.as_str());

    for i in 2..=5 {
        bind_link(&format!("m{i}"), &b).unwrap();
    }
    host.advance(31 * DAY_MS);
    bind_link("m6", &b).unwrap();
    let list = |input: Value| act(&staff(), "list-bindings", input).unwrap();
    let members = |v: &Value| -> Vec<String> {
        v["bindings"]
            .as_array()
            .unwrap()
            .iter()
            .map(|b| b["member_id"].as_str().unwrap().to_string())
            .collect()
    };
    assert_eq!(members(&list(json!({}))).len(), 6);
    assert_eq!(members(&list(json!({ "employee_id": a }))), ["m1"]);
    assert_eq!(members(&list(json!({ "outlet_id": o2 }))).len(), 5);
    assert_eq!(
        members(&list(json!({ "employee_id": b, "status": "active" }))),
        ["m6"]
    );
    assert_eq!(members(&list(json!({ "status": "expired" }))).len(), 5);
    let page1 = list(json!({ "employee_id": b, "limit": 2 }));
    assert_eq!(members(&page1), ["m2", "m3"]);
    assert_eq!(page1["next_after"], "m3");
    let page2 = list(json!({ "employee_id": b, "limit": 2, "after": "m3" }));
    assert_eq!(members(&page2), ["m4", "m5"]);
    let page3 = list(json!({ "employee_id": b, "limit": 2, "after": "m5" }));
    assert_eq!(members(&page3), ["m6"]);
    assert_eq!(page3["next_after"], Value::Null);
    assert_invalid(
        act(&staff(), "list-bindings", json!({ "limit": 0 })),
        "`limit` must be an integer 1..=1000",
    );
    assert_invalid(
        act(&staff(), "list-bindings", json!({ "status": "lapsed" })),
        "`status` must be \"active\" or \"expired\"",
    );
    assert_not_found(
        act(&staff(), "list-bindings", json!({ "employee_id": "emp_x" })),
        "employee emp_x does not exist",
    );
    assert_refused(
        guard(&member("m1"), "list-bindings", json!({})),
        "only shop staff",
    );
    assert_refused(
        guard(&member("m1"), "employee-stats", json!({ "employee_id": a })),
        "only shop staff",
    );

    // A takeover moves the member between the employees' indexes.
    bind_link("m1", &b).unwrap();
    assert_eq!(
        members(&list(json!({ "employee_id": a }))),
        Vec::<String>::new()
    );
    assert_eq!(members(&list(json!({ "employee_id": b }))).len(), 6);
    let stats = act(&staff(), "employee-stats", json!({ "employee_id": b })).unwrap();
    assert_eq!(stats["stats"]["bindings"], 6);
    assert_eq!(stats["active_bindings"], 2);
}
