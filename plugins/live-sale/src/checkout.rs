//! Live sale at checkout: the live price at the item stage, taking live stock and the
//! member's quota when the order is created, the unpaid-order timer, and the order events
//! that give stock back and feed the session's stats.
//!
//! The host runs one call of this plugin per shop at a time and commits each call's writes
//! with its operation, so the check-then-take in [`order_created`] cannot interleave with
//! another checkout: the last live unit is sold once. Separate calls (a checkout, the
//! timer, an event) interleave, so each re-reads what it acts on; and each undo is recorded
//! on the [`LiveOrder`], so a timer or event that comes twice, or late, does nothing more.

use crate::Config;
use crate::fields::{Fields, id};
use crate::model::{Item, LiveOrder, Session, Stats, Status, bought, money, set_bought};
use baseplate_sdk::{
    Adjustment, Attribute, CallContext, Cart, Event, Order, OrderStatus, PaymentStatus,
    PluginError, Refund, Result, log, orders, shop, timers,
};
use std::collections::BTreeMap;

/// The reason the unpaid timer cancels with; the host records the order as closed with
/// `plugin:live-sale:unpaid live order`.
pub const UNPAID_REASON: &str = "unpaid live order";

/// The attribute the order carries (as `live-sale.session_id`).
pub const SESSION_ATTRIBUTE: &str = "session_id";

/// The unpaid timer of an order. One per order: scheduling again replaces it.
pub fn unpaid_timer(order_id: &str) -> String {
    format!("unpaid/{order_id}")
}

/// The session a checkout input `{ "session_id": "ls_…" }` names.
pub fn session_input(input: &str) -> Result<String> {
    let mut f = Fields::parse(input, &["session_id"])?;
    let session_id = f.req("session_id", "a live session id", id)?;
    f.finish()?;
    Ok(session_id)
}

/// The session, if it is live now: buying from a room that has not opened or has closed is
/// refused rather than silently charged the catalog price.
fn live_session(ctx: &CallContext, session_id: &str) -> Result<Session> {
    let session = Session::load(session_id)?;
    match session.status_at(ctx.now) {
        Status::Live => Ok(session),
        Status::Scheduled => Err(PluginError::refused(format!(
            "live session {session_id} has not started yet"
        ))),
        Status::Ended => Err(PluginError::refused(format!(
            "live session {session_id} has ended"
        ))),
    }
}

/// Per-member limits need a member: an anonymous order could never be counted.
fn member_of(member_id: Option<&str>) -> Result<&str> {
    member_id.ok_or_else(|| PluginError::refused("sign in as a member to buy in a live room"))
}

/// A live item a cart buys: the item, the units wanted (all lines of the SKU together) and
/// the units the member already holds.
pub struct Wanted {
    pub item: Item,
    pub units: u32,
    pub held: u32,
}

/// The session's items among `lines` (sku, quantity), each checked: on the shelf, enough
/// live stock, within the member's limit. SKUs the session does not sell are left out —
/// they keep the catalog price.
fn wanted<'a>(
    session: &Session,
    member_id: &str,
    lines: impl Iterator<Item = (&'a str, u32)>,
) -> Result<BTreeMap<String, Wanted>> {
    let mut units: BTreeMap<&str, u64> = BTreeMap::new();
    for (sku, quantity) in lines {
        *units.entry(sku).or_default() += u64::from(quantity);
    }
    let sid = &session.session_id;
    let mut found = BTreeMap::new();
    for (sku, units) in units {
        let Some(item) = Item::load(sid, sku)? else {
            continue;
        };
        if !item.on_shelf {
            return Err(PluginError::refused(format!(
                "item {sku} is not on the shelf in live session {sid}"
            )));
        }
        let remaining = item.remaining();
        if (remaining as u64) < units {
            return Err(PluginError::refused(if remaining == 0 {
                format!("sold out: item {sku} has no live stock left in session {sid}")
            } else {
                format!(
                    "sold out: item {sku} has {remaining} live units left in session {sid}, {units} asked"
                )
            }));
        }
        let held = bought(sid, sku, member_id)?;
        if u64::from(held) + units > u64::from(item.per_member_limit) {
            return Err(PluginError::refused(format!(
                "limit reached: each member may buy {} of item {sku} in live session {sid}; you hold {held} and asked for {units}",
                item.per_member_limit
            )));
        }
        // Fits in u32: it is at most the per-member limit.
        let units = units as u32;
        found.insert(sku.to_string(), Wanted { item, units, held });
    }
    Ok(found)
}

/// The item stage: a line of a shelved live item costs `live_price × quantity`. A live
/// price at or above what the line already costs takes nothing off (a live room never
/// raises a price). Checks the same rules as order creation, so a quote already says
/// "sold out"; read-only, as pricing must be.
pub fn price(ctx: &CallContext, cart: &Cart) -> Result<Vec<Adjustment>> {
    let Some(input) = cart.input.as_deref() else {
        return Ok(Vec::new());
    };
    let session_id = session_input(input)?;
    let session = live_session(ctx, &session_id)?;
    let member = member_of(cart.member_id.as_deref())?;
    let items = wanted(
        &session,
        member,
        cart.lines.iter().map(|l| (l.sku_id.as_str(), l.quantity)),
    )?;
    let mut adjustments = Vec::new();
    for line in &cart.lines {
        let Some(w) = items.get(&line.sku_id) else {
            continue;
        };
        let live_total = w
            .item
            .live_price
            .checked_mul(i64::from(line.quantity))
            .ok_or_else(|| PluginError::invalid("the live price × quantity overflows"))?;
        let cut = line.amount - live_total;
        if cut > 0 {
            adjustments.push(Adjustment {
                line: line.index,
                amount: cut,
                label: format!("Live price {}", money(w.item.live_price, &ctx.currency)),
                reference: Some(session_id.clone()),
            });
        }
    }
    Ok(adjustments)
}

/// In the checkout's transaction: attributes the order to the session, takes its live stock
/// and the member's quota, and starts the unpaid timer. A second call for the same order
/// (the host retrying its creation) takes nothing more.
pub fn order_created(
    ctx: &CallContext,
    order: &Order,
    input: Option<&str>,
) -> Result<Vec<Attribute>> {
    let Some(input) = input else {
        return Ok(Vec::new());
    };
    let session_id = session_input(input)?;
    let attributes = vec![Attribute {
        key: SESSION_ATTRIBUTE.into(),
        value: session_id.clone(),
    }];
    if LiveOrder::load(&order.id)?.is_some() {
        return Ok(attributes);
    }
    let config = Config::from_ctx(ctx)?;
    let session = live_session(ctx, &session_id)?;
    let member = member_of(order.member_id.as_deref())?;
    let items = wanted(
        &session,
        member,
        order.lines.iter().map(|l| (l.sku_id.as_str(), l.quantity)),
    )?;
    let mut taken = Vec::with_capacity(items.len());
    for (sku, mut w) in items {
        w.item.sold += i64::from(w.units);
        w.item.save()?;
        set_bought(&session_id, &sku, member, w.held + w.units)?;
        taken.push((sku, w.units));
    }
    LiveOrder {
        order_id: order.id.clone(),
        session_id: session_id.clone(),
        member_id: member.to_string(),
        taken: taken.clone(),
        paid: false,
        released: false,
        refunds: Vec::new(),
    }
    .save()?;
    Stats::update(&session_id, |s| s.orders += 1)?;
    let due = ctx
        .now
        .saturating_add(config.unpaid_timeout_secs.saturating_mul(1000));
    timers::schedule(&unpaid_timer(&order.id), due, order.id.as_bytes());
    log::info(&format!(
        "order {} attributed to live session {session_id}, took {taken:?}",
        order.id
    ));
    Ok(attributes)
}

/// The unpaid timer: an order still unpaid is cancelled; the host closes it and the
/// order-closed event gives the stock back (see [`handle_event`]). An order paid, closed or
/// gone by now is left alone, so a late or repeated timer is harmless.
pub fn fire_timer(name: &str) -> Result<()> {
    let Some(order_id) = name.strip_prefix("unpaid/") else {
        log::warn(&format!("ignoring unknown timer {name}"));
        return Ok(());
    };
    let Some(live) = LiveOrder::load(order_id)? else {
        return Ok(());
    };
    if live.paid || live.released {
        return Ok(());
    }
    // The events may not have arrived yet: the order itself says whether it is still unpaid.
    let Some(order) = shop::order(order_id) else {
        return Ok(());
    };
    if order.status != OrderStatus::PendingPayment || order.payment_status != PaymentStatus::Unpaid
    {
        return Ok(());
    }
    match orders::cancel(order_id, UNPAID_REASON) {
        Ok(()) => log::info(&format!("cancelled unpaid live order {order_id}")),
        // The order moved on in between; nothing to undo, and retrying would not help.
        Err(e) => log::warn(&format!(
            "could not cancel unpaid live order {order_id}: {}",
            e.message()
        )),
    }
    Ok(())
}

/// Paid, refunded and closed orders feed the stats; an order that closed unpaid gives its
/// live stock and the member's quota back. Each is applied once per order (or refund id).
pub fn handle_event(event: &Event) -> Result<()> {
    match event {
        Event::OrderPaid(order) => paid(order),
        Event::OrderClosed(order) => closed(order),
        Event::OrderRefunded(r) => refunded(&r.order, &r.refund),
        _ => Ok(()),
    }
}

fn paid(order: &Order) -> Result<()> {
    let Some(mut live) = LiveOrder::load(&order.id)? else {
        return Ok(());
    };
    if live.paid {
        return Ok(());
    }
    live.paid = true;
    live.save()?;
    Stats::update(&live.session_id, |s| {
        s.paid_orders += 1;
        s.paid_amount = s.paid_amount.saturating_add(order.paid_amount);
    })?;
    timers::cancel(&unpaid_timer(&order.id));
    Ok(())
}

fn closed(order: &Order) -> Result<()> {
    let Some(mut live) = LiveOrder::load(&order.id)? else {
        return Ok(());
    };
    timers::cancel(&unpaid_timer(&order.id));
    // A paid order that closes was refunded in full: after-sale, counted by the refund
    // event; its live stock stays sold (the flash sale does not reopen).
    if live.released || order.payment_status == PaymentStatus::Paid {
        return Ok(());
    }
    for (sku, units) in &live.taken {
        if let Some(mut item) = Item::load(&live.session_id, sku)? {
            item.sold = (item.sold - i64::from(*units)).max(0);
            item.save()?;
        }
        let held = bought(&live.session_id, sku, &live.member_id)?;
        set_bought(
            &live.session_id,
            sku,
            &live.member_id,
            held.saturating_sub(*units),
        )?;
    }
    live.released = true;
    live.save()?;
    Stats::update(&live.session_id, |s| s.closed_unpaid += 1)?;
    log::info(&format!(
        "order {} closed unpaid; returned {:?} to live session {}",
        order.id, live.taken, live.session_id
    ));
    Ok(())
}

fn refunded(order: &Order, refund: &Refund) -> Result<()> {
    let Some(mut live) = LiveOrder::load(&order.id)? else {
        return Ok(());
    };
    if live.refunds.contains(&refund.id) {
        return Ok(());
    }
    live.refunds.push(refund.id.clone());
    live.save()?;
    Stats::update(&live.session_id, |s| {
        s.refunds += 1;
        s.refund_amount = s.refund_amount.saturating_add(refund.amount);
    })
}
