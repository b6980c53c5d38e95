//! The mock host's own rules.

use super::*;
use crate::{Party, ledger, log, orders, points, shop, state, timers};

fn entry(
    party: Party,
    account: &str,
    amount: Money,
    available_at: Option<Timestamp>,
) -> LedgerEntry {
    LedgerEntry {
        party,
        account: account.into(),
        amount,
        available_at,
    }
}

#[test]
fn ledger_checks_postings_and_computes_balances() {
    let host = MockHost::install();
    let emp = Party::Employee("e1".into());
    let later = DEFAULT_NOW + 1000;
    let id = ledger::post(
        "reward",
        &[
            entry(Party::Shop, "sales", -500, None),
            entry(emp.clone(), "reward", 500, Some(later)),
        ],
        None,
    )
    .unwrap();
    assert_eq!(id, "pst_1");
    assert_eq!(
        ledger::balance(&emp, "reward"),
        crate::Balance {
            total: 500,
            available: 0
        }
    );
    host.advance(1000);
    assert_eq!(ledger::balance(&emp, "reward").available, 500);
    let unbalanced = [
        entry(Party::Shop, "a", -5, None),
        entry(emp.clone(), "b", 4, None),
    ];
    assert!(
        ledger::post("x", &unbalanced, None)
            .unwrap_err()
            .message()
            .contains("sum to -1")
    );
    let single = [entry(Party::Shop, "a", 0, None)];
    assert!(
        ledger::post("x", &single, None)
            .unwrap_err()
            .message()
            .contains("two entries")
    );
    let huge = [
        entry(Party::Shop, "a", -MAX_ENTRY_AMOUNT - 1, None),
        entry(emp, "a", MAX_ENTRY_AMOUNT + 1, None),
    ];
    assert!(
        ledger::post("x", &huge, None)
            .unwrap_err()
            .message()
            .contains("10^15")
    );
    assert_eq!(host.ledger_postings().len(), 1);
}

#[test]
fn order_actions_follow_the_state_machine() {
    let host = MockHost::install();
    host.add_order(paid_order("o1", Some("m1"), &[cart_line(0, "p", 1, 100)]));
    orders::hold("o1").unwrap();
    assert_eq!(
        shop::order("o1").unwrap().status,
        OrderStatus::AwaitingConfirmation
    );
    orders::confirm("o1").unwrap();
    // Confirming again is a no-op, as on the host.
    orders::confirm("o1").unwrap();
    assert_eq!(shop::order("o1").unwrap().status, OrderStatus::ToShip);
    assert_eq!(orders::cancel("o1", "").unwrap_err().kind(), "invalid");
    orders::cancel("o1", "group failed").unwrap();
    assert_eq!(orders::confirm("o1").unwrap_err().kind(), "conflict");
    let o = host.order("o1").unwrap();
    assert_eq!(
        (o.status, o.refund_state, o.refunded_amount),
        (OrderStatus::Closed, RefundState::Full, 100)
    );
    assert_eq!(orders::hold("nope").unwrap_err().kind(), "not-found");
    assert_eq!(host.order_actions().len(), 4);
}

#[test]
fn timers_logs_fixtures_and_rollback() {
    let host = MockHost::install();
    timers::schedule("b", DEFAULT_NOW + 10, b"2");
    timers::schedule("a", DEFAULT_NOW + 5, b"1");
    timers::schedule("b", DEFAULT_NOW + 20, b"3");
    assert_eq!(
        host.timers()
            .iter()
            .map(|t| t.at - DEFAULT_NOW)
            .collect::<Vec<_>>(),
        [5, 20]
    );
    host.advance(5);
    assert_eq!(host.take_due_timers()[0].name, "a");
    assert!(host.take_due_timers().is_empty());
    assert!(timers::cancel("b") && !timers::cancel("b"));
    log::warn("careful");
    assert_eq!(
        host.logs(),
        [LogRecord {
            level: Level::Warn,
            message: "careful".into()
        }]
    );
    host.add_member(member("m1"));
    host.add_product(product("p1", 990));
    assert_eq!(shop::member("m1").unwrap().joined_at, DEFAULT_NOW + 5);
    assert_eq!(shop::product("p1").unwrap().skus[0].price, 990);
    let r = host.atomic(|| {
        timers::schedule("x", 0, b"");
        state::set("k", b"v");
        Err::<(), _>(PluginError::refused("no"))
    });
    assert!(r.is_err() && host.timers().is_empty() && host.state_snapshot().is_empty());
    host.reset();
    assert!(host.logs().is_empty() && shop::member("m1").is_none());
}

const MANIFEST: &str = r#"
name = "tester"
version = "1.2.3"
wit = "0.2.0"
title = "Tester"
description = "A plugin for the mock's own tests."
category = "tools"
capabilities = ["state", "ledger", "logging"]

[hooks]
validate_config = false
price = ["order"]
order_created = true
events = ["order-paid"]

[[actions]]
name = "write"
actors = ["staff"]

[config]
default = '{"n": 1}'
"#;

/// Writes wherever it is called, so every runner's rules show.
struct Writer;

impl Plugin for Writer {
    fn price(_: &CallContext, _: PriceStage, _: &Cart) -> Result<Vec<Adjustment>> {
        state::set("price", b"");
        Ok(Vec::new())
    }

    fn order_created(_: &CallContext, _: &Order, input: Option<&str>) -> Result<Vec<Attribute>> {
        let n: usize = input.unwrap_or("0").parse().unwrap();
        Ok((0..n)
            .map(|i| Attribute {
                key: format!("k{i}"),
                value: String::new(),
            })
            .collect())
    }

    fn handle_event(_: &CallContext, _: &Event) -> Result<()> {
        let e = |party, amount| entry(party, "reward", amount, None);
        ledger::post("paid", &[e(Party::Shop, -1), e(Party::Platform, 1)], None)?;
        Ok(())
    }

    fn handle_action(ctx: &CallContext, _: &Actor, _: &str, input: &str) -> Result<String> {
        state::set("config", ctx.config.as_bytes());
        match input {
            "fail" => Err(PluginError::refused("no")),
            "timer" => {
                timers::schedule("t", 0, b"");
                Ok("{}".into())
            }
            _ => Ok("{}".into()),
        }
    }
}

#[test]
fn the_manifest_names_the_plugin_and_its_default_config() {
    let host = MockHost::from_manifest(MANIFEST);
    let ctx = host.context_now();
    assert_eq!(
        (
            ctx.plugin.as_str(),
            ctx.version.as_str(),
            ctx.config.as_str()
        ),
        ("tester", "1.2.3", r#"{"n": 1}"#)
    );
    host.action::<Writer>(&staff(), "write", "").unwrap();
    assert_eq!(host.state_snapshot()["config"], br#"{"n": 1}"#);
    host.set_config("{}");
    host.action::<Writer>(&staff(), "write", "").unwrap();
    assert_eq!(host.state_snapshot()["config"], b"{}");
}

#[test]
fn a_failed_action_keeps_nothing() {
    let host = MockHost::from_manifest(MANIFEST);
    assert_refused(host.action::<Writer>(&staff(), "write", "fail"), "no");
    assert!(host.state_snapshot().is_empty());
}

#[test]
#[should_panic(expected = "is not open to member")]
fn actors_the_manifest_does_not_allow_are_refused() {
    let host = MockHost::from_manifest(MANIFEST);
    assert!(!host.action_allowed("write", &buyer("m1")));
    let _ = host.action::<Writer>(&buyer("m1"), "write", "");
}

#[test]
#[should_panic(expected = "action `nope` is not declared")]
fn undeclared_actions_are_refused() {
    let host = MockHost::from_manifest(MANIFEST);
    let _ = host.action::<Writer>(&staff(), "nope", "");
}

#[test]
#[should_panic(expected = "does not declare the `timers` capability")]
fn undeclared_capabilities_are_refused() {
    let host = MockHost::from_manifest(MANIFEST);
    let _ = host.action::<Writer>(&staff(), "write", "timer");
}

#[test]
#[should_panic(expected = "hooks.price does not list the `item` stage")]
fn undeclared_stages_are_refused() {
    let host = MockHost::from_manifest(MANIFEST);
    let _ = host.price::<Writer>(PriceStage::Item, &cart(None, vec![], None));
}

#[test]
#[should_panic(expected = "state.set during price: the pricing hook is read-only")]
fn pricing_is_read_only() {
    let host = MockHost::from_manifest(MANIFEST);
    let _ = host.price::<Writer>(PriceStage::Order, &cart(None, vec![], None));
}

#[test]
#[should_panic(expected = "hooks.events does not list `order-closed`")]
fn undeclared_events_are_refused() {
    let host = MockHost::from_manifest(MANIFEST);
    let o = order("o1", None, &[]);
    let _ = host.handle_event::<Writer>(&Event::OrderClosed(o));
}

#[test]
#[should_panic(expected = "hooks.timers is not set")]
fn undeclared_timers_hook_is_refused() {
    let host = MockHost::from_manifest(MANIFEST);
    let _ = host.fire_timer::<Writer>("t", b"");
}

#[test]
#[should_panic(expected = "set wit = \"0.2.0\"")]
fn an_old_contract_is_refused() {
    MockHost::from_manifest(&MANIFEST.replace("wit = \"0.2.0\"", "wit = \"0.1.0\""));
}

#[test]
#[should_panic(expected = "`capabilities` has `network`")]
fn unknown_capabilities_are_refused() {
    MockHost::from_manifest(&MANIFEST.replace("\"state\", ", "\"network\", "));
}

#[test]
fn event_postings_are_booked_against_the_events_order() {
    let host = MockHost::from_manifest(MANIFEST);
    let paid = paid_order("o9", None, &[cart_line(0, "p", 1, 100)]);
    host.handle_event::<Writer>(&Event::OrderPaid(paid))
        .unwrap();
    assert_eq!(host.ledger_postings()[0].order_id.as_deref(), Some("o9"));
}

#[test]
#[should_panic(expected = "at most 32")]
fn attributes_are_bounded() {
    let host = MockHost::from_manifest(MANIFEST);
    let _ = host.order_created::<Writer>(&order("o1", None, &[]), Some("33"));
}

#[test]
fn state_quota_ends_the_call_refused_and_keeps_nothing() {
    let host = MockHost::from_manifest(MANIFEST);
    host.set_quotas(1, 1 << 20, 10);
    host.action::<Writer>(&staff(), "write", "").unwrap();
    state::set("config", b"replaced: still one key");
    // A second key passes the bound of one.
    struct Two;
    impl Plugin for Two {
        fn handle_action(_: &CallContext, _: &Actor, _: &str, _: &str) -> Result<String> {
            state::set("second", b"");
            Ok("{}".into())
        }
    }
    assert_refused(host.action::<Two>(&staff(), "write", ""), "state quota");
    assert_eq!(host.state_snapshot().len(), 1);
    // Bytes count too: keys and values.
    host.set_quotas(10, 30, 10);
    assert_refused(host.action::<Two>(&staff(), "write", ""), "bytes");
}

#[test]
#[should_panic(expected = "timer name is 129 bytes")]
fn timer_names_are_bounded() {
    MockHost::install();
    timers::schedule(&"t".repeat(129), 0, b"");
}

#[test]
fn timer_quota_ends_the_call_refused() {
    let host = MockHost::install();
    host.set_quotas(10, 1 << 20, 1);
    struct Sched;
    impl Plugin for Sched {
        fn fire_timer(_: &CallContext, name: &str, _: &[u8]) -> Result<()> {
            timers::schedule(&format!("{name}-1"), 0, b"");
            timers::schedule(&format!("{name}-2"), 0, b"");
            Ok(())
        }
    }
    timers::schedule("a", 0, b"");
    assert_refused(host.fire_timer::<Sched>("a", b""), "timer quota");
    // Failing timers stay pending, to be retried.
    assert_refused(host.fire_due_timers::<Sched>(), "timer quota");
    assert_eq!(host.timers().len(), 1);
}

#[test]
fn logs_are_cut_like_the_hosts() {
    let host = MockHost::install();
    struct Chatty;
    impl Plugin for Chatty {
        fn fire_timer(_: &CallContext, _: &str, _: &[u8]) -> Result<()> {
            for _ in 0..150 {
                log::info(&"é".repeat(2000));
            }
            Ok(())
        }
    }
    host.fire_timer::<Chatty>("t", b"").unwrap();
    let logs = host.logs();
    assert_eq!(logs.len(), 100);
    assert_eq!(logs[0].message.len(), 2048);
}

#[test]
fn points_never_go_below_zero() {
    let host = MockHost::install();
    assert_not_found(points::adjust("ghost", 1, "x", None), "ghost");
    host.add_member(member("m1"));
    assert_invalid(points::adjust("m1", 0, "x", None), "zero");
    assert_invalid(points::adjust("m1", 1, "", None), "reason");
    assert_eq!(
        points::adjust("m1", 30, "earn", Some("o1"))
            .unwrap()
            .balance,
        30
    );
    assert_refused(points::adjust("m1", -31, "spend", None), "has 30 points");
    assert_eq!(shop::member("m1").unwrap().points, 30);
    let r = host.atomic(|| {
        points::adjust("m1", -30, "spend", None)?;
        Err::<(), _>(PluginError::conflict("later failure"))
    });
    assert!(r.is_err());
    assert_eq!(host.points_balance("m1"), 30, "rolled back with the call");
    assert_eq!(host.points_entries().len(), 1);
}

#[test]
fn refunds_and_cancels_follow_the_contract() {
    let host = MockHost::install();
    let lines = [cart_line(0, "a", 1, 600), cart_line(1, "b", 2, 200)];
    host.add_order(order("o1", Some("m1"), &lines));
    let paid = host.pay("o1");
    assert_eq!((paid.paid_amount, paid.status), (1000, OrderStatus::ToShip));
    let first = host.refund("o1", "r1", 500, "damaged");
    assert_eq!(
        first
            .refund
            .lines
            .iter()
            .map(|l| l.amount)
            .collect::<Vec<_>>(),
        [300, 200]
    );
    assert_eq!(first.order.refund_state, RefundState::Partial);
    match host.cancel("o1", "cancelled") {
        Event::OrderRefunded(r) => {
            assert_eq!(r.refund.amount, 500);
            assert_eq!(r.refund.id, "cancel-o1");
            assert_eq!(
                (
                    r.order.status,
                    r.order.refund_state,
                    r.order.refunded_amount
                ),
                (OrderStatus::Closed, RefundState::Full, 1000)
            );
            assert_eq!(r.order.close_reason.as_deref(), Some("cancelled"));
        }
        other => panic!("{other:?}"),
    }
    let done = completed(&paid_order("o2", None, &lines));
    let r = refunded(&done, "r2", 1000, "after delivery");
    assert_eq!(
        (r.order.status, r.order.refund_state),
        (OrderStatus::Completed, RefundState::Full)
    );
}

#[test]
fn price_cart_runs_the_declared_stages_in_order_and_clamps() {
    let host = MockHost::from_manifest(
        &MANIFEST.replace("price = [\"order\"]", "price = [\"coupon\", \"item\"]"),
    );
    struct Half;
    impl Plugin for Half {
        fn price(_: &CallContext, stage: PriceStage, cart: &Cart) -> Result<Vec<Adjustment>> {
            Ok(cart
                .lines
                .iter()
                .filter(|l| l.amount > 0)
                .map(|l| Adjustment {
                    line: l.index,
                    amount: (l.amount + 1) / 2,
                    label: format!("{stage:?}"),
                    reference: None,
                })
                .collect())
        }
    }
    let cart = cart(Some("m1"), vec![cart_line(0, "a", 1, 101)], None);
    let priced = host.price_cart::<Half>(&cart).unwrap();
    let stages: Vec<_> = priced.adjustments[0]
        .iter()
        .map(|a| (a.stage, a.amount))
        .collect();
    assert_eq!(stages, [(PriceStage::Item, 51), (PriceStage::Coupon, 25)]);
    assert_eq!(priced.total(), 25);
    let order = priced.order("o1");
    assert_eq!((order.discount, order.payable_amount), (76, 25));
    assert_eq!(order.lines[0].adjustments[0].plugin, "tester");
}

#[test]
#[should_panic(expected = "bad pricing output")]
fn bad_pricing_output_fails_the_plugin() {
    let host = MockHost::install();
    struct Zero;
    impl Plugin for Zero {
        fn price(_: &CallContext, _: PriceStage, _: &Cart) -> Result<Vec<Adjustment>> {
            Ok(vec![Adjustment {
                line: 0,
                amount: 0,
                label: "nothing".into(),
                reference: None,
            }])
        }
    }
    let _ = host.price::<Zero>(
        PriceStage::Item,
        &cart(None, vec![cart_line(0, "a", 1, 1)], None),
    );
}

#[test]
fn failed_order_created_rolls_the_order_back() {
    let host = MockHost::install();
    struct Refuse;
    impl Plugin for Refuse {
        fn order_created(_: &CallContext, _: &Order, _: Option<&str>) -> Result<Vec<Attribute>> {
            state::set("reserved", b"1");
            Err(PluginError::refused("sold out"))
        }
    }
    let o = order("o1", None, &[cart_line(0, "a", 1, 1)]);
    assert_refused(host.order_created::<Refuse>(&o, None), "sold out");
    assert_eq!(host.order("o1").unwrap().status, OrderStatus::Closed);
    assert!(host.state_snapshot().is_empty());
}

#[test]
fn get_sku_finds_the_product() {
    let host = MockHost::install();
    let mut p = product("tea", 990);
    p.tags = vec!["gift".into()];
    host.add_product(p);
    let sku = shop::sku("tea-sku").unwrap();
    assert_eq!(
        (
            sku.product_id.as_str(),
            sku.product_name.as_str(),
            sku.tags.clone()
        ),
        ("tea", "tea", vec!["gift".to_string()])
    );
    assert!(shop::sku("nope").is_none());
}
