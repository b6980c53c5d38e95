//! Coupons at checkout: pricing, reserving on order creation, and the order events that
//! use or return them.

use crate::Config;
use crate::fields::{Fields, ids};
use crate::model::{Coupon, Discount, Status, Template, Threshold, money, order_key};
use baseplate_sdk::{
    Adjustment, Attribute, CallContext, Cart, Event, Order, PluginError, RefundState, Result,
    apportion, log, state,
};

/// No order takes more than this many coupons, whatever the config says.
const MAX_STACKED: usize = 3;

/// The coupon ids in a checkout input `{ "coupon_ids": [...] }`.
fn coupon_ids(input: Option<&str>) -> Result<Vec<String>> {
    let Some(input) = input else {
        return Ok(Vec::new());
    };
    let mut f = Fields::parse(input, &["coupon_ids"])?;
    Ok(f.get("coupon_ids", "a list of coupon ids", ids(0..=100))?
        .unwrap_or_default())
}

/// The coupons `ids` names, each checked usable by `member` at `ctx.now` (or already
/// reserved by `order_id`, when the host retries an order's creation), in the given order.
fn usable(
    ctx: &CallContext,
    member: Option<&str>,
    ids: &[String],
    order_id: Option<&str>,
) -> Result<Vec<(Coupon, Template)>> {
    let config = Config::from_ctx(ctx)?;
    let Some(member) = member else {
        return Err(PluginError::refused("sign in as a member to use coupons"));
    };
    for (i, id) in ids.iter().enumerate() {
        if ids[..i].contains(id) {
            return Err(PluginError::invalid(format!("coupon {id} is listed twice")));
        }
    }
    let limit = MAX_STACKED.min(config.max_coupons_per_order as usize);
    if ids.len() > limit {
        return Err(PluginError::refused(format!(
            "at most {limit} coupons can be used on one order"
        )));
    }
    let mut picked = Vec::with_capacity(ids.len());
    for id in ids {
        let refuse = |why: &str| Err(PluginError::refused(format!("coupon {id} {why}")));
        let Some(coupon) = Coupon::load(id)?.filter(|c| c.member_id == member) else {
            return refuse("is not one of your coupons");
        };
        let reserved_here =
            coupon.status == Status::Reserved && coupon.order_id.as_deref() == order_id;
        match coupon.status_at(ctx.now) {
            Status::Reserved | Status::Used if !reserved_here => return refuse("is already used"),
            Status::Expired => return refuse("has expired"),
            _ if ctx.now > coupon.valid_until => return refuse("has expired"),
            _ if ctx.now < coupon.valid_from => return refuse("is not valid yet"),
            _ => {}
        }
        let template = Template::load(&coupon.template_id)
            .map_err(|_| PluginError::internal(format!("coupon {id} names a missing template")))?;
        picked.push((coupon, template));
    }
    if picked.len() > 1
        && let Some((c, _)) = picked.iter().find(|(_, t)| !t.stackable)
    {
        return Err(PluginError::refused(format!(
            "coupon {} cannot be combined with other coupons",
            c.coupon_id
        )));
    }
    Ok(picked)
}

/// The coupon stage: each coupon in the buyer's order takes its discount off its eligible
/// lines, apportioned by what is left of each line, so a later coupon sees the earlier
/// ones' discounts and no line goes negative. Thresholds look at the lines as they came
/// into this stage (after item and order promotions).
pub fn price(ctx: &CallContext, cart: &Cart) -> Result<Vec<Adjustment>> {
    let ids = coupon_ids(cart.input.as_deref())?;
    if ids.is_empty() {
        return Ok(Vec::new());
    }
    let mut left: Vec<i64> = cart.lines.iter().map(|l| l.amount).collect();
    let mut adjustments = Vec::new();
    for (coupon, template) in usable(ctx, cart.member_id.as_deref(), &ids, None)? {
        let id = &coupon.coupon_id;
        let eligible: Vec<usize> = (0..cart.lines.len())
            .filter(|&i| template.applies_to(&cart.lines[i].product_id))
            .collect();
        if eligible.is_empty() {
            return Err(PluginError::refused(format!(
                "coupon {id} does not apply to any item in the cart"
            )));
        }
        match template.threshold {
            Some(Threshold::Amount { min }) => {
                let total: i64 = eligible.iter().map(|&i| cart.lines[i].amount).sum();
                if total < min {
                    return Err(PluginError::refused(format!(
                        "coupon {id} needs eligible items worth at least {} (the cart has {})",
                        money(min, &ctx.currency),
                        money(total, &ctx.currency)
                    )));
                }
            }
            Some(Threshold::Items { min }) => {
                let count: u64 = eligible
                    .iter()
                    .map(|&i| u64::from(cart.lines[i].quantity))
                    .sum();
                if count < u64::from(min) {
                    return Err(PluginError::refused(format!(
                        "coupon {id} needs at least {min} eligible items (the cart has {count})"
                    )));
                }
            }
            None => {}
        }
        let weights: Vec<i64> = eligible.iter().map(|&i| left[i]).collect();
        let base: i64 = weights.iter().sum();
        let discount = match template.discount {
            Discount::Fixed { amount } => amount.min(base),
            Discount::Percent { off_bp, cap } => {
                // Rounded down: the buyer never gets a fraction of a 分.
                let off = (i128::from(base) * i128::from(off_bp) / 10_000) as i64;
                cap.map_or(off, |cap| off.min(cap))
            }
            // The amount drawn at claim, or the member's share of the split.
            Discount::Random { .. } | Discount::Split { .. } => {
                coupon.amount.unwrap_or(0).min(base)
            }
        };
        for (&i, part) in eligible.iter().zip(apportion(discount, &weights)) {
            if part > 0 {
                left[i] -= part;
                adjustments.push(Adjustment {
                    line: cart.lines[i].index,
                    amount: part,
                    label: format!("Coupon {}", template.name),
                    reference: Some(id.clone()),
                });
            }
        }
    }
    Ok(adjustments)
}

/// Reserves the order's coupons in the checkout's transaction: a second checkout racing for
/// the same coupon finds it reserved and fails.
pub fn order_created(
    ctx: &CallContext,
    order: &Order,
    input: Option<&str>,
) -> Result<Vec<Attribute>> {
    let ids = coupon_ids(input)?;
    if ids.is_empty() {
        return Ok(Vec::new());
    }
    for (mut coupon, _) in usable(ctx, order.member_id.as_deref(), &ids, Some(&order.id))? {
        coupon.status = Status::Reserved;
        coupon.order_id = Some(order.id.clone());
        coupon.save()?;
    }
    state::set_json(&order_key(&order.id), &ids)?;
    log::info(&format!(
        "order {} reserved coupons {}",
        order.id,
        ids.join(", ")
    ));
    Ok(vec![Attribute {
        key: "coupon_ids".into(),
        value: ids.join(","),
    }])
}

/// Paid orders use their coupons; closed and fully refunded ones give them back. Each step
/// only touches coupons still tied to the order in the expected status, so a redelivered
/// event changes nothing.
pub fn handle_event(ctx: &CallContext, event: &Event) -> Result<()> {
    match event {
        Event::OrderPaid(order) => {
            for_order_coupons(&order.id, |coupon| {
                if coupon.status != Status::Reserved {
                    return false;
                }
                coupon.status = Status::Used;
                true
            })?;
        }
        Event::OrderClosed(order) => give_back(ctx, &order.id)?,
        Event::OrderRefunded(refunded) if refunded.order.refund_state == RefundState::Full => {
            give_back(ctx, &refunded.order.id)?
        }
        _ => {}
    }
    Ok(())
}

fn give_back(ctx: &CallContext, order_id: &str) -> Result<()> {
    for_order_coupons(order_id, |coupon| {
        coupon.give_back(ctx.now);
        true
    })?;
    state::delete(&order_key(order_id));
    Ok(())
}

/// Applies `change` to each coupon the order still holds, saving those it changed.
fn for_order_coupons(order_id: &str, mut change: impl FnMut(&mut Coupon) -> bool) -> Result<()> {
    let ids: Vec<String> = state::get_json(&order_key(order_id))?.unwrap_or_default();
    for id in ids {
        let Some(mut coupon) = Coupon::load(&id)? else {
            continue;
        };
        if coupon.order_id.as_deref() != Some(order_id) {
            continue;
        }
        let before = coupon.status;
        if change(&mut coupon) {
            coupon.save()?;
            log::info(&format!(
                "coupon {id}: {before:?} → {:?} (order {order_id})",
                coupon.status
            ));
        }
    }
    Ok(())
}
