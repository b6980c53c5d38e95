//! The runtime on its own: real compiled components against `MemoryData` (the shop's data
//! behind the `HostData` trait), no database and no HTTP. What a call may do to the data,
//! how fast it must give up, and that a call is a function of its inputs.

use baseplate_domain::PriceStage;
use baseplate_runtime::{
    Actor, CallEnv, CallError, Capability, Cart, CartLine, FailureKind, Grants, Hook, HookOutput,
    Limits, LoadedPlugin, MemoryData, Overlay, Runtime,
};
use baseplate_tests::artifacts as fixtures;
use std::sync::Arc;
use std::time::{Duration, Instant};

fn runtime() -> Runtime {
    Runtime::new(Limits::default(), None).expect("runtime")
}

fn load(rt: &Runtime, bytes: Vec<u8>, manifest: &str) -> Arc<LoadedPlugin> {
    let m = baseplate_marketplace::Manifest::parse(manifest).expect("manifest");
    let grants = Grants::of(
        m.capabilities
            .iter()
            .map(|c| Capability::parse(c.as_str()).expect("capability")),
    );
    let digest = Runtime::digest(&bytes);
    rt.load(&digest, grants, || Some(bytes)).expect("load")
}

fn env(plugin: &str, seed: u64) -> CallEnv {
    CallEnv {
        shop_id: "shop_1".into(),
        currency: "CNY".into(),
        plugin: plugin.into(),
        version: "0.1.0".into(),
        config: "{}".into(),
        now: 1_700_000_000_000,
        seed,
        order_context: None,
    }
}

fn action(name: &str, input: &str) -> Hook {
    Hook::Action {
        actor: Actor::Staff("key_1".into()),
        name: name.into(),
        input: input.into(),
    }
}

fn cart(input: Option<&str>) -> Cart {
    Cart {
        member_id: None,
        lines: (0..10)
            .map(|i| CartLine {
                index: i,
                product_id: format!("p{i}"),
                sku_id: format!("s{i}"),
                quantity: 1,
                unit_price: 1_000,
                amount: 1_000,
                tags: vec![],
            })
            .collect(),
        input: input.map(str::to_string),
    }
}

fn hostile(rt: &Runtime) -> Arc<LoadedPlugin> {
    load(rt, fixtures::hostile_wasm(), fixtures::hostile_manifest())
}

fn fault_kind(e: &Result<HookOutput, CallError>) -> Option<FailureKind> {
    match e {
        Err(CallError::Fault { kind, .. }) => Some(*kind),
        _ => None,
    }
}

#[test]
fn an_actions_writes_are_buffered_and_the_data_is_untouched() {
    let rt = runtime();
    let p = hostile(&rt);
    let data = Arc::new(MemoryData::default());
    let mut overlay = Overlay::new("shop_1", "hostile", data.clone());
    let r = rt.call(
        &p,
        &env("hostile", 1),
        action("write-ok", "\"v\""),
        &mut overlay,
    );
    assert!(r.outcome.is_ok(), "{:?}", r.outcome);
    let effects = overlay.into_effects();
    assert_eq!(
        effects.state_writes.get("ok"),
        Some(&Some(b"\"v\"".to_vec()))
    );
    assert!(
        data.state.is_empty(),
        "nothing reaches the data before commit"
    );
}

#[test]
fn a_trap_after_writes_leaves_no_effect() {
    let rt = runtime();
    let p = hostile(&rt);
    let mut overlay = Overlay::new("shop_1", "hostile", Arc::new(MemoryData::default()));
    let r = rt.call(
        &p,
        &env("hostile", 1),
        action("write-then-trap", "\"x\""),
        &mut overlay,
    );
    assert_eq!(
        fault_kind(&r.outcome),
        Some(FailureKind::Trap),
        "{:?}",
        r.outcome
    );
    assert!(overlay.effects().state_writes.is_empty());
}

#[test]
fn sleeping_and_spinning_guests_end_at_the_deadline() {
    let rt = runtime();
    let p = hostile(&rt);
    let deadline = rt.limits().deadline;
    // A blocking sleep returns at once (WASI polls are always ready) and reports what
    // the guest's clock said; a loop of sleeps and a CPU spin run into the deadline.
    let mut overlay = Overlay::new("shop_1", "hostile", Arc::new(MemoryData::default()));
    let started = Instant::now();
    let r = rt.call(&p, &env("hostile", 1), action("sleep", "{}"), &mut overlay);
    assert!(started.elapsed() < deadline + Duration::from_millis(10));
    assert!(r.outcome.is_ok(), "{:?}", r.outcome);
    for name in ["sleep-loop", "spin"] {
        let mut overlay = Overlay::new("shop_1", "hostile", Arc::new(MemoryData::default()));
        let started = Instant::now();
        let r = rt.call(&p, &env("hostile", 1), action(name, "{}"), &mut overlay);
        let took = started.elapsed();
        // A loop of sleeps may run out of host calls (each sleep is one) before its time.
        let kind = fault_kind(&r.outcome);
        assert!(
            matches!(
                kind,
                Some(FailureKind::Timeout | FailureKind::HostCallLimit)
            ),
            "{name}: {:?}",
            r.outcome
        );
        assert!(
            took < deadline + Duration::from_millis(10),
            "{name} took {took:?} (deadline {deadline:?})"
        );
    }
}

#[test]
fn memory_and_stack_bombs_fail_alone() {
    let rt = runtime();
    let p = hostile(&rt);
    for (name, kinds) in [
        ("alloc", &[FailureKind::MemoryLimit, FailureKind::Trap][..]),
        ("recurse", &[FailureKind::Trap][..]),
    ] {
        let mut overlay = Overlay::new("shop_1", "hostile", Arc::new(MemoryData::default()));
        let r = rt.call(&p, &env("hostile", 1), action(name, "{}"), &mut overlay);
        let kind = fault_kind(&r.outcome);
        assert!(
            kind.is_some_and(|k| kinds.contains(&k)),
            "{name}: {:?}",
            r.outcome
        );
    }
    // The same plugin still answers afterwards.
    let mut overlay = Overlay::new("shop_1", "hostile", Arc::new(MemoryData::default()));
    let r = rt.call(
        &p,
        &env("hostile", 1),
        action("echo", "{\"a\":1}"),
        &mut overlay,
    );
    assert!(matches!(r.outcome, Ok(HookOutput::Json(ref s)) if s == "{\"a\":1}"));
}

#[test]
fn a_call_is_a_function_of_its_clock_and_seed() {
    let rt = runtime();
    let p = hostile(&rt);
    let run = |seed: u64| {
        let mut overlay = Overlay::new("shop_1", "hostile", Arc::new(MemoryData::default()));
        match rt
            .call(
                &p,
                &env("hostile", seed),
                action("clocks", "{}"),
                &mut overlay,
            )
            .outcome
        {
            Ok(HookOutput::Json(s)) => serde_json::from_str::<serde_json::Value>(&s).unwrap(),
            other => panic!("{other:?}"),
        }
    };
    let (a, b, c) = (run(7), run(7), run(8));
    assert_eq!(a, b, "same clock and seed: same answers");
    assert_eq!(
        a["wall_ms"], 1_700_000_000_000u64,
        "WASI's wall clock is the operation's"
    );
    assert_ne!(a["random"], c["random"], "another seed, other randomness");
}

#[test]
fn pricing_may_not_write_and_its_effects_stay_empty() {
    let rt = runtime();
    let p = load(&rt, fixtures::coupons_wasm(), fixtures::coupons_manifest());
    let mut overlay = Overlay::new("shop_1", "coupons", Arc::new(MemoryData::default()));
    let r = rt.call(
        &p,
        &env("coupons", 1),
        Hook::Price {
            stage: PriceStage::Coupon,
            cart: cart(None),
        },
        &mut overlay,
    );
    assert!(
        matches!(r.outcome, Ok(HookOutput::Adjustments(ref a)) if a.is_empty()),
        "{:?}",
        r.outcome
    );
    assert!(overlay.effects().writes_nothing());
    // A coupon the member does not hold is the buyer's mistake, said in words.
    let mut overlay = Overlay::new("shop_1", "coupons", Arc::new(MemoryData::default()));
    let r = rt.call(
        &p,
        &env("coupons", 1),
        Hook::Price {
            stage: PriceStage::Coupon,
            cart: cart(Some(r#"{"coupon_ids":["c_missing"]}"#)),
        },
        &mut overlay,
    );
    assert!(
        matches!(r.outcome, Err(CallError::Plugin(_))),
        "{:?}",
        r.outcome
    );
}

#[test]
fn hooks_of_one_operation_share_an_instance_and_a_fault_drops_it() {
    let rt = runtime();
    let p = hostile(&rt);
    let mut warm = None;
    let mut overlay = Overlay::new("shop_1", "hostile", Arc::new(MemoryData::default()));
    let e = env("hostile", 1);
    let r = rt.call_in(&p, &e, action("echo", "1"), &mut overlay, &mut warm);
    assert!(r.outcome.is_ok());
    assert!(
        warm.is_some(),
        "a clean call keeps its instance for the operation"
    );
    let r = rt.call_in(
        &p,
        &e,
        action("write-then-trap", "1"),
        &mut overlay,
        &mut warm,
    );
    assert_eq!(fault_kind(&r.outcome), Some(FailureKind::Trap));
    assert!(warm.is_none(), "a trapped instance is never reused");
    let r = rt.call_in(&p, &e, action("echo", "2"), &mut overlay, &mut warm);
    assert!(matches!(r.outcome, Ok(HookOutput::Json(ref s)) if s == "2"));
}
