//! Loyalty points (积分), a teaching example on the public SDK: members earn points on what
//! they pay (`order-paid`), spend them at checkout for a discount (pricing reads the
//! checkout input, `order-created` spends through `points::adjust`), and get them back when
//! the order is refunded or closes unpaid; earned points follow refunds too. The points
//! live in the host's points ledger, so `member.points` is always the balance.
//!
//! Config: `{"earn_per_yuan": 1, "point_value": 1, "max_share_bp": 5000}` — points per 1.00
//! paid, 分 a point is worth, the largest share of an order points may pay (basis points).
//! Checkout input: `"plugins": {"loyalty-points": {"points": 500}}`.

use baseplate_sdk::money::spread_discount;
use baseplate_sdk::{
    Actor, Adjustment, Attribute, CallContext, Cart, ConfigContext, Event, Order, PaymentStatus,
    Plugin, PluginError, PriceStage, Result, parse_config, parse_json, points, shop, state,
};
use serde::{Deserialize, Serialize};

#[derive(Deserialize)]
#[serde(default, deny_unknown_fields)]
struct Config {
    earn_per_yuan: i64,
    point_value: i64,
    max_share_bp: i64,
}

impl Default for Config {
    fn default() -> Self {
        Config { earn_per_yuan: 1, point_value: 1, max_share_bp: 5000 }
    }
}

fn config(text: &str) -> Result<Config> {
    let c: Config = parse_config(text)?;
    let ok = (0..=100).contains(&c.earn_per_yuan) && (1..=10_000).contains(&c.point_value);
    if !ok || !(0..=10_000).contains(&c.max_share_bp) {
        return Err(PluginError::invalid(
            "invalid config: `earn_per_yuan` 0..=100, `point_value` 1..=10000 (分), `max_share_bp` 0..=10000",
        ));
    }
    Ok(c)
}

/// The buyer's checkout input, `{"points": n}`.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Spend {
    points: u32,
}

/// What one order did with points; every event books only the difference to it, so a
/// duplicated or late delivery changes nothing.
#[derive(Default, Serialize, Deserialize)]
struct Record {
    spent: i64,
    returned: i64,
    earned: i64,
}

pub struct LoyaltyPoints;

impl Plugin for LoyaltyPoints {
    fn validate_config(_ctx: &ConfigContext, text: &str) -> Result<()> {
        config(text).map(drop)
    }

    fn price(ctx: &CallContext, stage: PriceStage, cart: &Cart) -> Result<Vec<Adjustment>> {
        let Some(input) = cart.input.as_deref().filter(|_| stage == PriceStage::Coupon) else {
            return Ok(Vec::new());
        };
        let wanted = i64::from(parse_json::<Spend>(input)?.points);
        let member = cart.member_id.as_deref();
        let balance = member.and_then(shop::member).map_or(0, |m| m.points);
        if member.is_none() || wanted > balance {
            return Err(PluginError::refused(format!("you have {balance} points, not {wanted}")));
        }
        let c = config(&ctx.config)?;
        let total: i64 = cart.lines.iter().map(|l| l.amount).sum();
        let used = wanted.min(total * c.max_share_bp / 10_000 / c.point_value);
        Ok(spread_discount(cart, used * c.point_value, &format!("{used} points"), None))
    }

    fn order_created(ctx: &CallContext, order: &Order, _: Option<&str>) -> Result<Vec<Attribute>> {
        // Spend what pricing actually took (the host may have clamped it), never more.
        let adjustments = order.lines.iter().flat_map(|l| &l.adjustments);
        let taken: i64 = adjustments.filter(|a| a.plugin == ctx.plugin).map(|a| a.amount).sum();
        let (Some(member), true) = (order.member_id.as_deref(), taken > 0) else {
            return Ok(Vec::new());
        };
        let spent = (taken as u64).div_ceil(config(&ctx.config)?.point_value as u64) as i64;
        points::adjust(member, -spent, &format!("spent on order {}", order.id), Some(&order.id))?;
        state::set_json(&format!("order/{}", order.id), &Record { spent, ..Record::default() })?;
        Ok(vec![Attribute { key: "points_spent".into(), value: spent.to_string() }])
    }

    fn handle_event(ctx: &CallContext, event: &Event) -> Result<()> {
        match event {
            Event::OrderPaid(o) | Event::OrderClosed(o) => reconcile(ctx, o),
            Event::OrderRefunded(r) => reconcile(ctx, &r.order),
            _ => Ok(()),
        }
    }

    fn handle_action(_: &CallContext, actor: &Actor, _: &str, _: &str) -> Result<String> {
        let member = actor.member_only("see their points")?;
        Ok(format!(r#"{{"points":{}}}"#, shop::member(member).map_or(0, |m| m.points)))
    }
}

/// Brings the order's points to what its current state gives: spent points come back in
/// the share refunded (all of them if it closed unpaid); earned points follow what the
/// buyer kept. The order is read fresh, so a late event never undoes a later one.
fn reconcile(ctx: &CallContext, event_order: &Order) -> Result<()> {
    let order = shop::order(&event_order.id).unwrap_or_else(|| event_order.clone());
    let Some(member) = order.member_id.as_deref() else {
        return Ok(());
    };
    let key = format!("order/{}", order.id);
    let mut r: Record = state::get_json(&key)?.unwrap_or_default();
    let (back, earn) = match order.payment_status {
        PaymentStatus::Paid if order.paid_amount > 0 => {
            let kept = order.paid_amount - order.refunded_amount;
            let rate = config(&ctx.config)?.earn_per_yuan;
            (r.spent * order.refunded_amount / order.paid_amount, kept / 100 * rate)
        }
        _ => (r.spent, 0),
    };
    let returning = back - r.returned;
    // Points the member already spent are not taken below zero; the rest stays owed.
    let balance = shop::member(member).map_or(0, |m| m.points);
    let delta = (returning + earn - r.earned).max(-balance);
    if delta != 0 {
        points::adjust(member, delta, &format!("order {}", order.id), Some(&order.id))?;
    }
    r.earned += delta - returning;
    r.returned = back;
    match (r.spent, r.earned) {
        (0, 0) => drop(state::delete(&key)),
        _ => state::set_json(&key, &r)?,
    }
    Ok(())
}

baseplate_sdk::register_plugin!(LoyaltyPoints);

#[cfg(test)]
mod tests;
