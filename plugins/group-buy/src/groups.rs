//! A group's life after checkout: the leader's payment opens it and starts its clock, the
//! payment that fills it confirms every member's order at once, its expiry refunds every
//! paid member (or completes it virtually), and orders that close free their slot.
//!
//! Events and timers can come late, twice, or in any order relative to each other, so no
//! handler trusts the plugin's own idea of an order: before deciding anything, [`sync`]
//! re-reads every active member's order from the host. The outcome of a group depends
//! only on *when its members paid* (before or after `expires_at`), never on when the
//! timer or an event happened to be delivered.

use crate::model::{
    Group, GroupStatus, HOUR_MS, MemberStatus, Membership, OrderLink, Role, add_counter,
    expiry_timer, held_key, open_key, taken_key, units_key,
};
use baseplate_sdk::{
    CallContext, Event, Order, OrderStatus, PaymentStatus, RefundState, Result, Timestamp, log,
    orders, shop, state, timers,
};

/// The close reason when a group expires unfilled (the host shows it as
/// `plugin:group-buy:group failed`).
pub const REASON_FAILED: &str = "group failed";
/// An unpaid order of a group that completed virtually without it.
pub const REASON_UNPAID: &str = "group completed without this unpaid order";
/// A payment for a group that already filled.
pub const REASON_FULL: &str = "group full";
/// A payment for a live group the order is no longer part of.
pub const REASON_LEFT: &str = "order no longer in the group";
/// A payment for a group whose members all left before it opened.
pub const REASON_CANCELLED: &str = "group cancelled";

/// What the host says about a member's order right now.
enum Truth {
    Unpaid,
    Paid(Timestamp),
    /// Closed (unpaid close or full refund) or gone: the member has left.
    Gone,
}

fn truth(order_id: &str, fallback_paid_at: Timestamp) -> Truth {
    match shop::order(order_id) {
        None => Truth::Gone,
        Some(o) => read_truth(&o, fallback_paid_at),
    }
}

fn read_truth(o: &Order, fallback_paid_at: Timestamp) -> Truth {
    match (o.status, o.payment_status) {
        (OrderStatus::Closed, _) => Truth::Gone,
        // A completed order can't belong to an unsettled group; count it as paid.
        (_, PaymentStatus::Paid) => Truth::Paid(o.paid_at.unwrap_or(fallback_paid_at)),
        (_, PaymentStatus::Unpaid) => Truth::Unpaid,
    }
}

/// Gives back what a membership holds: activity stock, the buyer's per-activity units and
/// the buyer's "live group" mark.
pub fn release(group: &Group, m: &Membership) -> Result<()> {
    add_counter(&taken_key(&group.activity_id), -m.units)?;
    add_counter(&units_key(&group.activity_id, &m.member_id), -m.units)?;
    clear_held(&group.activity_id, &m.member_id, &group.group_id)
}

/// Forgets that the buyer holds `group_id` in the activity (only if that's what it says).
fn clear_held(activity_id: &str, member_id: &str, group_id: &str) -> Result<()> {
    let key = held_key(activity_id, member_id);
    if state::get_json::<String>(&key)?.as_deref() == Some(group_id) {
        state::delete(&key);
    }
    Ok(())
}

/// Brings the group's active memberships in line with their orders: a member whose order
/// closed (unpaid timeout, cancel, full refund) leaves and frees its slot and stock; a
/// member whose order is paid is marked paid. A live group left with nobody is cancelled.
/// It writes the released counters, so the caller must save `group` in the same call.
pub fn sync(group: &mut Group, now: Timestamp) -> Result<()> {
    if !group.status.live() {
        return Ok(());
    }
    let mut kept = Vec::with_capacity(group.members.len());
    for mut m in std::mem::take(&mut group.members) {
        if m.status.active() {
            match truth(&m.order_id, now) {
                Truth::Gone => {
                    log::info(&format!(
                        "group {}: member {} left (order {} closed)",
                        group.group_id, m.member_id, m.order_id
                    ));
                    release(group, &m)?;
                    continue;
                }
                Truth::Paid(at) => {
                    m.status = MemberStatus::Paid;
                    m.paid_at = Some(at);
                }
                Truth::Unpaid => m.status = MemberStatus::Pending,
            }
        }
        kept.push(m);
    }
    group.members = kept;
    if group.active().next().is_none() {
        finish(group, GroupStatus::Cancelled, now)?;
        log::info(&format!(
            "group {} cancelled: every member left",
            group.group_id
        ));
    }
    Ok(())
}

/// Marks a group settled: off the open list, its members free to start another group, its
/// expiry timer gone.
fn finish(group: &mut Group, status: GroupStatus, now: Timestamp) -> Result<()> {
    group.status = status;
    group.settled_at = Some(now);
    state::delete(&open_key(&group.activity_id, &group.group_id));
    for m in &group.members {
        clear_held(&group.activity_id, &m.member_id, &group.group_id)?;
    }
    // From the timer itself this deletes the row being fired; the host's own removal then
    // finds nothing, which is fine.
    timers::cancel(&expiry_timer(&group.group_id));
    Ok(())
}

/// The leader paid: the clock starts at the payment.
fn open(ctx: &CallContext, group: &mut Group, paid_at: Timestamp) -> Result<()> {
    let expires_at = paid_at.saturating_add(i64::from(group.validity_hours) * HOUR_MS);
    group.status = GroupStatus::Open;
    group.opened_at = Some(paid_at);
    group.expires_at = Some(expires_at);
    state::set(&open_key(&group.activity_id, &group.group_id), b"[]");
    timers::schedule(
        &expiry_timer(&group.group_id),
        expires_at,
        group.group_id.as_bytes(),
    );
    log::info(&format!(
        "group {} opened by {}; expires at {expires_at}",
        group.group_id, group.leader_id
    ));
    // A leader's payment event delivered after the whole validity: settle right away.
    if ctx.now >= expires_at {
        settle_expired(ctx, group)?;
    }
    Ok(())
}

/// Confirms every paid member's order at once.
fn succeed(group: &mut Group, now: Timestamp, virtual_completion: bool) -> Result<()> {
    for m in group
        .members
        .iter_mut()
        .filter(|m| m.status == MemberStatus::Paid)
    {
        confirm(&m.order_id)?;
        m.status = MemberStatus::Confirmed;
    }
    group.virtual_completion = virtual_completion;
    finish(group, GroupStatus::Succeeded, now)?;
    log::info(&format!(
        "group {} succeeded{}",
        group.group_id,
        if virtual_completion {
            " by virtual completion"
        } else {
            ""
        }
    ));
    Ok(())
}

fn confirm(order_id: &str) -> Result<()> {
    // Only a held order needs confirming; anything else is already where it should be.
    match shop::order(order_id) {
        Some(o) if o.status == OrderStatus::AwaitingConfirmation => orders::confirm(order_id),
        _ => Ok(()),
    }
}

/// Refunds (paid) or closes (unpaid) an order, unless the host has already closed it —
/// `cancel` on a closed order is refused, and asking twice is harmless anyway because the
/// host refunds a cancelled order once.
fn cancel(order_id: &str, reason: &str) -> Result<()> {
    match shop::order(order_id) {
        Some(o) if !matches!(o.status, OrderStatus::Closed | OrderStatus::Completed) => {
            orders::cancel(order_id, reason)
        }
        _ => Ok(()),
    }
}

/// Takes a member out of a settling group: refund or close its order, give back its stock.
fn drop_member(group: &Group, m: &mut Membership, reason: &str) -> Result<()> {
    cancel(&m.order_id, reason)?;
    release(group, m)?;
    m.status = if m.status == MemberStatus::Paid {
        MemberStatus::Refunded
    } else {
        MemberStatus::Closed
    };
    Ok(())
}

/// Whether `paid` in-time members complete a group of `size` virtually: paid ≥ ratio ×
/// size, compared exactly in basis points (no rounding), and never with nobody.
pub fn virtually_complete(paid: u32, size: u32, ratio_bp: Option<u32>) -> bool {
    ratio_bp
        .is_some_and(|bp| paid > 0 && u64::from(paid) * 10_000 >= u64::from(bp) * u64::from(size))
}

/// The group's time is up. Whether it succeeded is decided by the members who paid
/// *before* `expires_at` only, so a late or early timer, or a late event, never changes the
/// outcome: all of them (filled) or enough for a virtual completion → every paid member's
/// order is confirmed, a payment that slipped in after the expiry included (never a success
/// with one paying member refunded), and unpaid orders are closed. Otherwise the group
/// failed: every paid member is refunded and every unpaid order closed — "group failed".
pub fn settle_expired(ctx: &CallContext, group: &mut Group) -> Result<()> {
    sync(group, ctx.now)?;
    if group.status != GroupStatus::Open {
        return Ok(());
    }
    let expires_at = group.expires_at.unwrap_or(ctx.now);
    let paid_in_time = group
        .members
        .iter()
        .filter(|m| m.status == MemberStatus::Paid && m.paid_at.is_some_and(|t| t < expires_at))
        .count() as u32;
    let filled = paid_in_time >= group.size;
    let success =
        filled || virtually_complete(paid_in_time, group.size, group.virtual_completion_bp);
    let snapshot = group.clone();
    for m in group.members.iter_mut().filter(|m| m.status.active()) {
        if success && m.status == MemberStatus::Paid {
            continue;
        }
        let reason = if success {
            REASON_UNPAID
        } else {
            REASON_FAILED
        };
        drop_member(&snapshot, m, reason)?;
    }
    if success {
        succeed(group, ctx.now, !filled)?;
    } else {
        finish(group, GroupStatus::Failed, ctx.now)?;
        log::info(&format!(
            "group {} failed: {paid_in_time} of {} paid in time",
            group.group_id, group.size
        ));
    }
    Ok(())
}

/// After a payment in an open group before its expiry: all slots paid → success.
fn check_filled(ctx: &CallContext, group: &mut Group) -> Result<()> {
    sync(group, ctx.now)?;
    if group.status != GroupStatus::Open {
        return Ok(());
    }
    let paid = group
        .active()
        .filter(|m| m.status == MemberStatus::Paid)
        .count() as u32;
    if paid >= group.size {
        succeed(group, ctx.now, false)?;
    }
    Ok(())
}

fn on_paid(ctx: &CallContext, order: &Order) -> Result<()> {
    let Some(link) = OrderLink::find(&order.id)? else {
        return Ok(());
    };
    let Some(mut group) = Group::find(&link.group_id)? else {
        return Ok(());
    };
    let paid_at = order.paid_at.unwrap_or(ctx.now);
    match group.status {
        GroupStatus::Forming => {
            sync(&mut group, ctx.now)?;
            let leader_paid = group.members.iter().any(|m| {
                m.order_id == order.id && m.role == Role::Leader && m.status == MemberStatus::Paid
            });
            if group.status == GroupStatus::Forming && leader_paid {
                open(ctx, &mut group, paid_at)?;
            }
        }
        GroupStatus::Open => {
            if group.expires_at.is_some_and(|t| ctx.now >= t) {
                // The timer has not fired yet (it may be late): settle now, by payment times.
                settle_expired(ctx, &mut group)?;
            } else {
                check_filled(ctx, &mut group)?;
            }
        }
        GroupStatus::Succeeded | GroupStatus::Failed | GroupStatus::Cancelled => {}
    }
    // Whatever happened above, a paid order that is neither a member in good standing nor
    // already being refunded must not keep the buyer's money: it paid for a group that
    // failed, filled or no longer has it.
    let handled = group
        .members
        .iter()
        .find(|m| m.order_id == order.id)
        .is_some_and(|m| m.status != MemberStatus::Closed);
    if !handled {
        let reason = match group.status {
            GroupStatus::Succeeded => REASON_FULL,
            GroupStatus::Cancelled => REASON_CANCELLED,
            GroupStatus::Forming | GroupStatus::Open => REASON_LEFT,
            GroupStatus::Failed => REASON_FAILED,
        };
        if let Some(live) = shop::order(&order.id)
            && matches!(read_truth(&live, paid_at), Truth::Paid(_))
        {
            log::warn(&format!(
                "order {} paid for group {} ({:?}); refunding: {reason}",
                order.id, group.group_id, group.status
            ));
            orders::cancel(&order.id, reason)?;
        }
    }
    group.save()
}

/// An order closed or was fully refunded: if its member had not settled, it leaves.
fn on_gone(ctx: &CallContext, order_id: &str) -> Result<()> {
    let Some(link) = OrderLink::find(order_id)? else {
        return Ok(());
    };
    let Some(mut group) = Group::find(&link.group_id)? else {
        return Ok(());
    };
    if !group.status.live() {
        return Ok(());
    }
    sync(&mut group, ctx.now)?;
    group.save()
}

pub fn handle_event(ctx: &CallContext, event: &Event) -> Result<()> {
    match event {
        Event::OrderPaid(order) => on_paid(ctx, order),
        Event::OrderClosed(order) => on_gone(ctx, &order.id),
        Event::OrderRefunded(r) if r.order.refund_state == RefundState::Full => {
            on_gone(ctx, &r.order.id)
        }
        _ => Ok(()),
    }
}

/// `expire/<group_id>`: settle the group if it is still open and its time is up. A late,
/// repeated or early firing is harmless.
pub fn fire_timer(ctx: &CallContext, name: &str) -> Result<()> {
    let Some(group_id) = name.strip_prefix("expire/") else {
        log::warn(&format!("unknown timer {name}; ignored"));
        return Ok(());
    };
    let Some(mut group) = Group::find(group_id)? else {
        return Ok(());
    };
    if group.status != GroupStatus::Open {
        return Ok(());
    }
    match group.expires_at {
        Some(at) if ctx.now < at => {
            timers::schedule(name, at, group_id.as_bytes());
            Ok(())
        }
        _ => {
            settle_expired(ctx, &mut group)?;
            group.save()
        }
    }
}
