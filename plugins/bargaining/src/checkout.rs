//! Bargains at checkout: the item-stage price, taking the bargain (and a unit of activity
//! stock) when the order is created, and giving them back when the order closes unpaid or
//! is refunded in full.

use crate::Config;
use crate::fields::{Fields, text};
use crate::model::{Activity, Bargain, LinkState, OrderLink, Status, bought_key, counter, money};
use baseplate_sdk::{
    Adjustment, Attribute, CallContext, Cart, Event, Order, PaymentStatus, PluginError,
    RefundState, Result, log, state,
};

/// The bargain named by a checkout input `{"bargain_id": …}`; `None` without input.
fn bargain_input(input: Option<&str>) -> Result<Option<String>> {
    let Some(input) = input else {
        return Ok(None);
    };
    let mut f = Fields::parse(input, &["bargain_id"])?;
    Ok(Some(f.req("bargain_id", "a bargain id", text(64))?))
}

/// The bargain `id` with its activity, checked orderable by `member` at `ctx.now`.
/// `order_id` is the order being created: a bargain that order already holds passes (the
/// host may run the hook again for the same order), any other order is refused.
fn orderable(
    ctx: &CallContext,
    id: &str,
    member: Option<&str>,
    order_id: Option<&str>,
) -> Result<(Bargain, Activity)> {
    let bargain = Bargain::load(id)?;
    let Some(member) = member else {
        return Err(PluginError::refused(format!(
            "sign in as the member who started bargain {id} to order it"
        )));
    };
    if bargain.member_id != member {
        return Err(PluginError::refused(format!("bargain {id} is not yours")));
    }
    let activity = Activity::load(&bargain.activity_id)?;
    let held_here = order_id.is_some() && bargain.order_id.as_deref() == order_id;
    match bargain.status_at(ctx.now) {
        Status::Ordered if held_here => return Ok((bargain, activity)),
        Status::Ordered => {
            return Err(PluginError::refused(format!(
                "bargain {id} has already been ordered (order {}); a bargain is ordered once",
                bargain.order_id.as_deref().unwrap_or("?")
            )));
        }
        Status::Expired => {
            return Err(PluginError::refused(format!("bargain {id} has expired")));
        }
        Status::Bargaining if !activity.buy_at_current_price => {
            return Err(PluginError::refused(format!(
                "bargain {id} must reach its floor price of {} before it can be ordered (it is at {})",
                money(bargain.floor_price, &ctx.currency),
                money(bargain.price, &ctx.currency)
            )));
        }
        Status::Bargaining | Status::Succeeded => {}
    }
    if activity.sold()? >= activity.stock {
        return Err(PluginError::refused(format!(
            "bargain activity {} is sold out",
            activity.activity_id
        )));
    }
    let bought = counter(&bought_key(&activity.activity_id, member))?;
    if bought >= activity.per_buyer_limit {
        return Err(PluginError::refused(format!(
            "you have already bought {bought} in bargain activity {} (limit {})",
            activity.activity_id, activity.per_buyer_limit
        )));
    }
    Ok((bargain, activity))
}

/// The index of the one line (index, sku, quantity) that buys the bargain's SKU; it must
/// buy exactly one unit.
fn bargain_line(bargain: &Bargain, lines: &[(u32, &str, u32)]) -> Result<u32> {
    let (id, sku) = (&bargain.bargain_id, &bargain.sku_id);
    let matching: Vec<&(u32, &str, u32)> = lines.iter().filter(|l| l.1 == sku).collect();
    match matching.as_slice() {
        [] => Err(PluginError::refused(format!(
            "the cart has no line for sku {sku} of bargain {id}"
        ))),
        [(index, _, 1)] => Ok(*index),
        [(index, _, quantity)] => Err(PluginError::refused(format!(
            "a bargain buys exactly one unit: lines[{index}].quantity is {quantity}, set it to 1"
        ))),
        _ => Err(PluginError::refused(format!(
            "sku {sku} of bargain {id} is on more than one line; buy it on one line with quantity 1"
        ))),
    }
}

/// The item stage: the bargain's line costs the bargained price. A line already cheaper
/// (the catalog price dropped, another promotion ran first) is left alone.
pub fn price(ctx: &CallContext, cart: &Cart) -> Result<Vec<Adjustment>> {
    let Some(id) = bargain_input(cart.input.as_deref())? else {
        return Ok(Vec::new());
    };
    let config = Config::from_ctx(ctx)?;
    let (bargain, _) = orderable(ctx, &id, cart.member_id.as_deref(), None)?;
    let lines: Vec<(u32, &str, u32)> = cart
        .lines
        .iter()
        .map(|l| (l.index, l.sku_id.as_str(), l.quantity))
        .collect();
    let index = bargain_line(&bargain, &lines)?;
    let amount = cart
        .lines
        .iter()
        .find(|l| l.index == index)
        .map_or(0, |l| l.amount - bargain.price);
    if amount <= 0 {
        return Ok(Vec::new());
    }
    Ok(vec![Adjustment {
        line: index,
        amount,
        label: config.label,
        reference: Some(id),
    }])
}

/// In the checkout's transaction: the order takes the bargain and a unit of activity
/// stock. A second checkout with the same bargain (even one racing this one) finds it
/// ordered and is refused, since the host serializes this plugin's calls per shop.
pub fn order_created(
    ctx: &CallContext,
    order: &Order,
    input: Option<&str>,
) -> Result<Vec<Attribute>> {
    let Some(id) = bargain_input(input)? else {
        return Ok(Vec::new());
    };
    let (mut bargain, activity) = orderable(ctx, &id, order.member_id.as_deref(), Some(&order.id))?;
    let lines: Vec<(u32, &str, u32)> = order
        .lines
        .iter()
        .map(|l| (l.index, l.sku_id.as_str(), l.quantity))
        .collect();
    bargain_line(&bargain, &lines)?;
    if bargain.status != Status::Ordered {
        activity.set_sold(activity.sold()? + 1)?;
        let bought_key = bought_key(&activity.activity_id, &bargain.member_id);
        state::set_json(&bought_key, &(counter(&bought_key)? + 1))?;
        bargain.status = Status::Ordered;
        bargain.order_id = Some(order.id.clone());
        bargain.save()?;
        OrderLink {
            bargain_id: id.clone(),
            activity_id: activity.activity_id.clone(),
            member_id: bargain.member_id.clone(),
            state: LinkState::Open,
        }
        .save(&order.id)?;
        log::info(&format!(
            "order {} took bargain {id} at {}",
            order.id, bargain.price
        ));
    }
    Ok(vec![
        Attribute {
            key: "bargain_id".into(),
            value: id,
        },
        Attribute {
            key: "activity_id".into(),
            value: activity.activity_id,
        },
        Attribute {
            key: "price".into(),
            value: bargain.price.to_string(),
        },
    ])
}

/// An order that closed unpaid gives its bargain back (orderable again until it expires)
/// with its unit of stock and the buyer's purchase; a fully refunded order gives back only
/// the unit (the bargain stays used). Only an order still holding its unit (`Open`) changes
/// anything, so a redelivered event, or one arriving after `start` already settled the
/// order, is a no-op.
pub fn release_order(order_id: &str, paid: bool) -> Result<()> {
    let Some(mut link) = OrderLink::load(order_id)? else {
        return Ok(());
    };
    if link.state != LinkState::Open {
        return Ok(());
    }
    let activity = Activity::load(&link.activity_id)?;
    activity.set_sold((activity.sold()? - 1).max(0))?;
    if paid {
        link.state = LinkState::Refunded;
    } else {
        let bought_key = bought_key(&link.activity_id, &link.member_id);
        state::set_json(&bought_key, &counter(&bought_key)?.saturating_sub(1))?;
        let mut bargain = Bargain::load(&link.bargain_id)?;
        if bargain.status == Status::Ordered && bargain.order_id.as_deref() == Some(order_id) {
            bargain.reopen();
            bargain.save()?;
        }
        link.state = LinkState::Closed;
    }
    link.save(order_id)?;
    log::info(&format!(
        "order {order_id} gave back bargain {} ({:?})",
        link.bargain_id, link.state
    ));
    Ok(())
}

pub fn handle_event(event: &Event) -> Result<()> {
    match event {
        Event::OrderClosed(order) => {
            release_order(&order.id, order.payment_status == PaymentStatus::Paid)
        }
        Event::OrderRefunded(r) if r.order.refund_state == RefundState::Full => {
            release_order(&r.order.id, true)
        }
        _ => Ok(()),
    }
}
