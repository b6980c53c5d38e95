//! Split coupons (瓜分券), run natively against the SDK's mock host: share arithmetic for
//! many seeds and edge cases, the template's validation, launch limits, the join rules
//! (self, duplicate, full, window), settlement by timer and by later access, and the
//! issued coupons at checkout.

use crate::Coupons;
use crate::model::{Coupon, MINUTE_MS, Split, SplitStatus, Status};
use crate::split::{equal_shares, random_shares};
use baseplate_sdk::testing::{
    self, MockHost, assert_invalid, assert_refused, buyer as member, staff,
};
use baseplate_sdk::{Actor, Adjustment, Cart, Event, Plugin, PriceStage, Result};
use serde_json::{Value, json};

/// The mock host enforces this plugin's manifest, as the real host does.
const MANIFEST: &str = include_str!("../plugin.toml");

/// What the plugin itself answers a call the host refuses before the plugin runs (an
/// undeclared action, an actor the action is not open to): its own guard.
fn guard(actor: &Actor, name: &str, input: Value) -> Result<Value> {
    MockHost::current()
        .set_config("{}")
        .act_unchecked::<Coupons>(actor, name, input)
}

/// Runs an action as the host does: declared, open to the actor, atomic.
/// Runs an action as the host does: declared, open to the actor, atomic.
#[track_caller]
fn act(actor: &Actor, name: &str, input: Value) -> Result<Value> {
    MockHost::current()
        .set_config("{}")
        .act::<Coupons>(actor, name, input)
}

/// Runs an action like the host does: a refused call leaves no trace.
fn act_atomic(actor: &Actor, name: &str, input: Value) -> Result<Value> {
    MockHost::current().atomic(|| act(actor, name, input))
}

fn base_template() -> Value {
    json!({
        "name": "Split 10",
        "total": 1000,
        "participants": 3,
        "split": "equal",
        "window_minutes": 60,
        "validity": {"type": "relative", "days": 7},
        "total_stock": 10,
        "per_member_limit": 1,
    })
}

/// A split template: 10.00 among 3, equal, 60 minutes, plus `overrides`.
fn template(overrides: Value) -> String {
    let mut input = base_template();
    for (k, v) in overrides.as_object().unwrap() {
        input[k] = v.clone();
    }
    let out = act(&staff(), "create-split-template", input).unwrap();
    out["template_id"].as_str().unwrap().to_string()
}

fn launch(member_id: &str, template_id: &str) -> Result<Value> {
    act_atomic(
        &member(member_id),
        "launch-split",
        json!({ "template_id": template_id }),
    )
}

fn launched(member_id: &str, template_id: &str) -> String {
    launch(member_id, template_id).unwrap()["split_id"]
        .as_str()
        .unwrap()
        .to_string()
}

fn join(member_id: &str, split_id: &str) -> Result<Value> {
    act_atomic(
        &member(member_id),
        "join-split",
        json!({ "split_id": split_id }),
    )
}

fn get(split_id: &str) -> Value {
    act(&staff(), "get-split", json!({ "split_id": split_id })).unwrap()
}

fn stored(split_id: &str) -> Split {
    Split::load(split_id).unwrap().unwrap()
}

fn coupons_of(member_id: &str) -> Vec<Value> {
    act(&member(member_id), "list-coupons", json!({})).unwrap()["coupons"]
        .as_array()
        .unwrap()
        .clone()
}

fn remaining_stock(template_id: &str) -> i64 {
    act(
        &staff(),
        "get-template",
        json!({ "template_id": template_id }),
    )
    .unwrap()["remaining_stock"]
        .as_i64()
        .unwrap()
}

fn fire_due_timers() {
    let host = MockHost::current().set_config("{}");
    host.fire_due_timers::<Coupons>().unwrap();
}

fn assert_shares(shares: &[i64], total: i64, n: usize) {
    assert_eq!(shares.len(), n, "{shares:?}");
    assert_eq!(shares.iter().sum::<i64>(), total, "{shares:?}");
    assert!(shares.iter().all(|&s| s >= 1), "{shares:?}");
}

#[test]
fn equal_shares_floor_and_spread_the_remainder_to_the_first() {
    assert_eq!(equal_shares(1000, 4), [250, 250, 250, 250]);
    assert_eq!(equal_shares(1001, 4), [251, 250, 250, 250]);
    assert_eq!(equal_shares(1003, 4), [251, 251, 251, 250]);
    assert_eq!(equal_shares(3, 3), [1, 1, 1]);
    assert_eq!(equal_shares(51, 50)[0], 2);
    for n in 2..=50usize {
        for total in [n as i64, n as i64 + 1, 2 * n as i64 - 1, 99_999, i64::MAX] {
            let shares = equal_shares(total, n);
            assert_shares(&shares, total, n);
            let (lo, hi) = (shares.iter().min().unwrap(), shares.iter().max().unwrap());
            assert!(hi - lo <= 1, "{shares:?}");
            // Never increasing: the extra 分 go to the first members.
            assert!(shares.windows(2).all(|w| w[0] >= w[1]), "{shares:?}");
        }
    }
}

#[test]
fn random_shares_sum_exactly_and_are_at_least_one_for_many_seeds() {
    let host = MockHost::from_manifest(MANIFEST);
    for seed in 0..300u64 {
        host.set_seed(seed);
        for n in [2usize, 3, 7, 50] {
            let n64 = n as i64;
            for total in [n64, n64 + 1, 2 * n64, 1000, 123_457, i64::MAX / 2] {
                assert_shares(&random_shares(total, n), total, n);
            }
        }
    }
    // total = N leaves nothing to draw: one 分 each.
    assert_eq!(random_shares(50, 50), vec![1; 50]);
}

#[test]
fn random_shares_are_random_and_favour_no_place() {
    let host = MockHost::from_manifest(MANIFEST);
    host.set_seed(11);
    let rounds = 4000;
    let (n, total) = (5usize, 10_000i64);
    let mut sums = vec![0i64; n];
    let mut distinct = std::collections::BTreeSet::new();
    for _ in 0..rounds {
        let shares = random_shares(total, n);
        for (sum, s) in sums.iter_mut().zip(&shares) {
            *sum += s;
        }
        distinct.insert(shares);
    }
    assert!(distinct.len() > rounds * 9 / 10, "the shares vary");
    // Every place averages total / n (2000) within 5%: the launcher and the last friend
    // are treated alike.
    for sum in sums {
        let mean = sum / rounds as i64;
        assert!((1900..=2100).contains(&mean), "mean share {mean}");
    }
}

#[test]
fn create_split_template_names_every_bad_field() {
    MockHost::from_manifest(MANIFEST);
    let with = |k: &str, v: Value| {
        let mut input = base_template();
        input[k] = v;
        act(&staff(), "create-split-template", input)
    };
    assert_invalid(
        with("participants", json!(1)),
        "`participants` must be an integer 2..=50",
    );
    assert_invalid(with("participants", json!(51)), "`participants`");
    assert_invalid(
        with("total", json!(2)),
        "`total` must be an integer ≥ `participants`",
    );
    assert_invalid(with("total", json!("1000")), "`total`");
    assert_invalid(
        with("split", json!("fair")),
        "`split` must be \"equal\" or \"random\"",
    );
    assert_invalid(
        with("window_minutes", json!(0)),
        "`window_minutes` must be an integer 1..=43200",
    );
    assert_invalid(with("window_minutes", json!(43_201)), "`window_minutes`");
    assert_invalid(
        with("threshold", json!({"type": "amount", "min": 0})),
        "`threshold.min` must be an integer > 0",
    );
    assert_invalid(
        with("validity", json!({"type": "relative", "days": 0})),
        "`validity.days`",
    );
    assert_invalid(
        with("total_stock", json!(0)),
        "`total_stock` must be an integer > 0",
    );
    assert_invalid(
        with("discount", json!({"type": "fixed", "amount": 1})),
        "unknown field `discount`; allowed: name, total, participants",
    );
    let mut missing = base_template();
    missing.as_object_mut().unwrap().remove("window_minutes");
    assert_invalid(
        act(&staff(), "create-split-template", missing),
        "`window_minutes` is required",
    );
    assert_refused(
        guard(&member("m1"), "create-split-template", base_template()),
        "only shop staff",
    );
    // A split cannot be made through create-template's discount either.
    let mut through = base_template();
    for k in ["total", "participants", "split", "window_minutes"] {
        through.as_object_mut().unwrap().remove(k);
    }
    through["discount"] = json!({"type": "split"});
    assert_invalid(
        act(&staff(), "create-template", through),
        "`discount.type` must be",
    );

    let mut full = base_template();
    full["applicable_products"] = json!(["p1"]);
    full["stackable"] = json!(true);
    full["threshold"] = json!({"type": "amount", "min": 5000});
    let out = act(&Actor::System, "create-split-template", full).unwrap();
    assert!(out["template_id"].as_str().unwrap().starts_with("tpl_"));
    assert_eq!(
        out["discount"],
        json!({"type": "split", "total": 1000, "participants": 3, "split": "equal", "window_minutes": 60})
    );
    assert_eq!(
        (out["issued"].as_i64(), out["remaining_stock"].as_i64()),
        (Some(0), Some(10))
    );
    assert_eq!(out["stackable"], true);
    assert_eq!(out["applicable_products"], json!(["p1"]));
}

#[test]
fn launch_opens_a_split_with_the_launcher_as_first_member() {
    let host = MockHost::from_manifest(MANIFEST);
    let tpl = template(json!({}));
    let out = launch("m1", &tpl).unwrap();
    let id = out["split_id"].as_str().unwrap();
    assert!(id.starts_with("spl_"));
    assert_eq!(
        out["expires_at"].as_i64(),
        Some(host.now() + 60 * MINUTE_MS)
    );
    assert_eq!(
        (out["joined"].as_i64(), out["needed"].as_i64()),
        (Some(1), Some(2))
    );
    assert_eq!(out["status"], "open");
    assert_eq!(out["launcher_id"], "m1");
    assert_eq!(out["members"][0]["member_id"], "m1");
    assert_eq!(remaining_stock(&tpl), 9);
    // The window's timer is set.
    let timers = host.timers();
    assert_eq!(timers.len(), 1);
    assert_eq!(
        (timers[0].name.as_str(), timers[0].at),
        (format!("split/{id}").as_str(), host.now() + 60 * MINUTE_MS)
    );
    // Anyone in the shop can look at it (friends open the shared link first).
    assert_eq!(
        act(&member("m9"), "get-split", json!({ "split_id": id })).unwrap()["joined"],
        1
    );
    assert_eq!(
        act(
            &member("m9"),
            "get-split",
            json!({ "split_id": "spl_nope" })
        )
        .unwrap_err()
        .kind(),
        "not-found"
    );
    assert_invalid(
        act(&member("m9"), "get-split", json!({})),
        "`split_id` is required",
    );
}

#[test]
fn launch_rules() {
    let host = MockHost::from_manifest(MANIFEST);
    let tpl = template(json!({ "total_stock": 2, "per_member_limit": 1 }));
    assert_refused(
        guard(&staff(), "launch-split", json!({ "template_id": tpl })),
        "only members can launch splits",
    );
    assert_invalid(
        act(
            &member("m1"),
            "launch-split",
            json!({ "template_id": tpl, "size": 3 }),
        ),
        "unknown field `size`",
    );
    assert_eq!(launch("m1", "tpl_nope").unwrap_err().kind(), "not-found");
    launched("m1", &tpl);
    assert_refused(
        launch("m1", &tpl),
        "member m1 has already launched 1 splits",
    );
    launched("m2", &tpl);
    assert_refused(launch("m3", &tpl), "is out of stock");

    // An ordinary template is claimed, not split; a split template is not claimed.
    let ordinary = act(
        &staff(),
        "create-template",
        json!({
            "name": "5 off",
            "discount": {"type": "fixed", "amount": 500},
            "validity": {"type": "relative", "days": 7},
            "total_stock": 10,
        }),
    )
    .unwrap()["template_id"]
        .as_str()
        .unwrap()
        .to_string();
    assert_refused(launch("m1", &ordinary), "is not a split template");
    assert_refused(
        act(&member("m1"), "claim", json!({ "template_id": tpl })),
        "is a split template",
    );

    let other = template(json!({}));
    let open = launched("m1", &other);
    act(
        &staff(),
        "disable-template",
        json!({ "template_id": other }),
    )
    .unwrap();
    assert_refused(launch("m2", &other), "is disabled");
    // A split launched before the template was disabled can still fill.
    join("m2", &open).unwrap();
    assert_eq!(join("m3", &open).unwrap()["status"], "completed");

    // Absolute validity: the window never runs past the template's end.
    let end = host.now() + 30 * MINUTE_MS;
    let ending = template(json!({ "validity": {"type": "absolute", "start": 0, "end": end} }));
    assert_eq!(
        launch("m1", &ending).unwrap()["expires_at"].as_i64(),
        Some(end)
    );
    host.set_now(end);
    assert_refused(launch("m2", &ending), "has ended");
}

#[test]
fn join_rules_self_duplicate_and_full() {
    let host = MockHost::from_manifest(MANIFEST);
    let tpl = template(json!({}));
    let id = launched("m1", &tpl);
    assert_refused(join("m1", &id), "cannot join your own split");
    assert_refused(
        guard(&staff(), "join-split", json!({ "split_id": id })),
        "only members can join splits",
    );
    assert_invalid(
        act(&member("m2"), "join-split", json!({ "split": id })),
        "unknown field `split`",
    );
    assert_eq!(join("m2", "spl_nope").unwrap_err().kind(), "not-found");

    let out = join("m2", &id).unwrap();
    assert_eq!(
        (out["joined"].as_i64(), out["needed"].as_i64()),
        (Some(2), Some(1))
    );
    assert_eq!(out["status"], "open");
    assert_refused(join("m2", &id), "already joined");
    assert!(
        coupons_of("m1").is_empty(),
        "no coupon before the split fills"
    );

    let out = join("m3", &id).unwrap();
    assert_eq!(out["status"], "completed");
    assert_eq!(
        (out["joined"].as_i64(), out["needed"].as_i64()),
        (Some(3), Some(0))
    );
    assert_eq!(out["completed_at"].as_i64(), Some(host.now()));
    assert_refused(join("m4", &id), "is full");
    assert_refused(join("m2", &id), "already joined");
    let split = stored(&id);
    assert_eq!(split.members.len(), 3);
    // Completion removed the window's timer and the open index entry.
    assert!(host.timers().is_empty());
    assert!(!host.state_snapshot().keys().any(|k| k.starts_with("open/")));
}

#[test]
fn completion_issues_each_member_a_coupon_of_their_share() {
    let host = MockHost::from_manifest(MANIFEST);
    let tpl = template(json!({ "total": 1001, "participants": 4 }));
    let id = launched("m1", &tpl);
    for m in ["m2", "m3", "m4"] {
        join(m, &id).unwrap();
    }
    let view = get(&id);
    let members = view["members"].as_array().unwrap();
    let shares: Vec<i64> = members
        .iter()
        .map(|m| m["share"].as_i64().unwrap())
        .collect();
    // Equal: 250 each and the remainder 分 to the launcher, the first member.
    assert_eq!(shares, [251, 250, 250, 250]);
    for (m, expected) in members.iter().zip(["m1", "m2", "m3", "m4"]) {
        assert_eq!(m["member_id"], expected);
        let coupons = coupons_of(expected);
        assert_eq!(coupons.len(), 1, "one coupon per member");
        let c = &coupons[0];
        assert_eq!(c["coupon_id"], m["coupon_id"]);
        assert_eq!(c["amount"], m["share"]);
        assert_eq!(c["split_id"], id.as_str());
        assert_eq!(c["template_id"], tpl.as_str());
        assert_eq!(c["status"], "available");
        assert_eq!(c["valid_from"].as_i64(), Some(host.now()));
        assert_eq!(
            c["valid_until"].as_i64(),
            Some(host.now() + 7 * crate::model::DAY_MS)
        );
    }
    // The stock counted the split, not its coupons.
    assert_eq!(remaining_stock(&tpl), 9);
    // A late timer (cancelled in the real host, but say it fires) changes nothing.
    let before = host.state_snapshot();
    Coupons::fire_timer(&host.context("{}"), &format!("split/{id}"), b"").unwrap();
    assert_eq!(host.state_snapshot(), before);
}

#[test]
fn random_split_shares_sum_exactly_at_completion() {
    let host = MockHost::from_manifest(MANIFEST);
    for seed in 0..40u64 {
        host.set_seed(seed);
        let (total, n) = if seed % 4 == 0 { (5, 5) } else { (997, 5) };
        let tpl = template(json!({ "total": total, "participants": n, "split": "random" }));
        let id = launched("m0", &tpl);
        for i in 1..n {
            join(&format!("m{i}"), &id).unwrap();
        }
        let split = stored(&id);
        assert_eq!(split.status, SplitStatus::Completed);
        let shares: Vec<i64> = split.members.iter().map(|m| m.share.unwrap()).collect();
        assert_shares(&shares, total, n as usize);
        for m in &split.members {
            let coupon = Coupon::load(m.coupon_id.as_ref().unwrap())
                .unwrap()
                .unwrap();
            assert_eq!(
                (coupon.member_id.as_str(), coupon.amount),
                (m.member_id.as_str(), m.share)
            );
        }
    }
}

#[test]
fn a_split_not_filled_in_its_window_fails_and_issues_nothing() {
    let host = MockHost::from_manifest(MANIFEST);
    let tpl = template(json!({ "total_stock": 1, "per_member_limit": 1 }));
    let id = launched("m1", &tpl);
    host.advance(60 * MINUTE_MS - 1);
    join("m2", &id).unwrap();
    host.advance(1);
    // At the window's end, before anything settled it: the clock alone refuses the join.
    assert_refused(join("m3", &id), "has expired");
    assert_eq!(stored(&id).status, SplitStatus::Open);
    assert_eq!(get(&id)["status"], "failed");
    // get-split settled it: stored failed, stock and the launch given back.
    assert_eq!(stored(&id).status, SplitStatus::Failed);
    assert_eq!(remaining_stock(&tpl), 1);
    assert_refused(join("m3", &id), "has expired");
    for m in ["m1", "m2", "m3"] {
        assert!(coupons_of(m).is_empty(), "{m} got nothing");
    }
    // The timer finds it settled and changes nothing.
    let before = host.state_snapshot();
    fire_due_timers();
    assert_eq!(host.state_snapshot(), before);
    // With its launch given back, the launcher may try again.
    launched("m1", &tpl);
}

#[test]
fn the_timer_settles_a_failed_split_once() {
    let host = MockHost::from_manifest(MANIFEST);
    let tpl = template(json!({ "total_stock": 3 }));
    let id = launched("m1", &tpl);
    join("m2", &id).unwrap();
    fire_due_timers();
    assert_eq!(stored(&id).status, SplitStatus::Open, "not due yet");
    host.advance(60 * MINUTE_MS);
    fire_due_timers();
    assert_eq!(stored(&id).status, SplitStatus::Failed);
    assert_eq!(remaining_stock(&tpl), 3);
    assert!(host.timers().is_empty());
    // Fired again (a retried delivery): nothing changes, counters never go below zero.
    let before = host.state_snapshot();
    let ctx = host.context("{}");
    Coupons::fire_timer(&ctx, &format!("split/{id}"), b"").unwrap();
    Coupons::fire_timer(&ctx, "split/spl_gone", b"").unwrap();
    Coupons::fire_timer(&ctx, "something/else", b"").unwrap();
    assert_eq!(host.state_snapshot(), before);
}

#[test]
fn an_early_timer_waits_for_the_window() {
    let host = MockHost::from_manifest(MANIFEST);
    let tpl = template(json!({}));
    let id = launched("m1", &tpl);
    let expires_at = stored(&id).expires_at;
    let ctx = host.context("{}");
    host.atomic(|| Coupons::fire_timer(&ctx, &format!("split/{id}"), b""))
        .unwrap();
    assert_eq!(stored(&id).status, SplitStatus::Open);
    assert_eq!(remaining_stock(&tpl), 9);
    let timers = host.timers();
    assert_eq!(timers.len(), 1);
    assert_eq!(
        (timers[0].name.clone(), timers[0].at),
        (format!("split/{id}"), expires_at)
    );
}

#[test]
fn a_launch_short_of_stock_settles_splits_whose_timer_is_late() {
    let host = MockHost::from_manifest(MANIFEST);
    let tpl = template(json!({ "total_stock": 2, "per_member_limit": 1, "window_minutes": 10 }));
    let first = launched("m1", &tpl);
    host.advance(5 * MINUTE_MS);
    let second = launched("m2", &tpl);
    assert_refused(launch("m3", &tpl), "is out of stock");
    // The first window ends; its timer has not run.
    host.advance(5 * MINUTE_MS);
    launched("m3", &tpl);
    assert_eq!(stored(&first).status, SplitStatus::Failed);
    assert_eq!(stored(&second).status, SplitStatus::Open);
    assert_refused(launch("m4", &tpl), "is out of stock");
    // The launcher of the failed split has their launch back too.
    host.advance(5 * MINUTE_MS);
    launched("m1", &tpl);
    assert_eq!(stored(&second).status, SplitStatus::Failed);
}

#[test]
fn split_coupons_work_at_checkout_with_the_template_terms() {
    MockHost::from_manifest(MANIFEST);
    let tpl = template(json!({
        "total": 900,
        "participants": 2,
        "threshold": {"type": "amount", "min": 2000},
        "applicable_products": ["p1"],
    }));
    let id = launched("m1", &tpl);
    join("m2", &id).unwrap();
    let coupon = stored(&id).members[0].coupon_id.clone().unwrap();
    let cart = |lines| -> Cart {
        let input = json!({ "coupon_ids": [coupon] }).to_string();
        testing::cart(Some("m1"), lines, Some(&input))
    };
    let price = |cart: &Cart| -> Result<Vec<Adjustment>> {
        Coupons::price(&MockHost::current().context("{}"), PriceStage::Coupon, cart)
    };
    let adjustments = price(&cart(vec![
        testing::cart_line(0, "p1", 1, 2000),
        testing::cart_line(1, "p2", 1, 5000),
    ]))
    .unwrap();
    let cuts: Vec<(u32, i64)> = adjustments.iter().map(|a| (a.line, a.amount)).collect();
    assert_eq!(cuts, [(0, 450)]);
    assert_eq!(adjustments[0].label, "Coupon Split 10");
    assert_refused(
        price(&cart(vec![testing::cart_line(0, "p1", 1, 1999)])),
        "needs eligible items worth at least 20.00 CNY",
    );
    // Reserved with the order and used when it is paid, like any coupon.
    let lines = [testing::cart_line(0, "p1", 1, 2000)];
    let order = testing::order("o1", Some("m1"), &lines);
    let input = json!({ "coupon_ids": [coupon] }).to_string();
    let ctx = MockHost::current().context("{}");
    Coupons::order_created(&ctx, &order, Some(&input)).unwrap();
    Coupons::handle_event(&ctx, &Event::OrderPaid(order)).unwrap();
    assert_eq!(Coupon::load(&coupon).unwrap().unwrap().status, Status::Used);
    // Another member cannot use it.
    let theirs = testing::cart(
        Some("m2"),
        vec![testing::cart_line(0, "p1", 1, 5000)],
        Some(&input),
    );
    assert_refused(price(&theirs), "is not one of your coupons");
}
