//! Commissions: the chain is snapshotted when an order is created, the terms are fixed and
//! the commission booked when it is paid, and every later refund books the difference.
//!
//! Every order event runs the same reconciliation: what each earner *should* hold on the
//! order's current net (final − refunded, read fresh from the host) minus what the ledger
//! already holds for them is booked, usually nothing. So a duplicated or late delivery
//! books nothing twice, and a refund delivered before the order-paid event it follows is
//! simply already counted when order-paid books on the net.

use crate::config::{BindingMode, Config};
use crate::fields::Fields;
use crate::model::{
    Binding, Book, Chain, DAY_MS, Distributor, Earner, LineTerms, Via, earning_key, money,
    would_loop,
};
use baseplate_sdk::{
    Attribute, CallContext, Event, LedgerEntry, Member, Order, Party, PaymentStatus, Result,
    Timestamp, ledger, log, shop, state,
};

/// The ledger account commissions live on, for the shop (its expense) and the distributor.
pub const ACCOUNT: &str = "commission";

/// Snapshots the buyer's chain on the order in the checkout's transaction, so the order is
/// attributed to the distributors the buyer was bound to when they ordered. Takes no
/// checkout input.
pub fn order_created(order: &Order, input: Option<&str>) -> Result<Vec<Attribute>> {
    if let Some(input) = input {
        Fields::parse(input, &[])?.finish()?;
    }
    let Some(buyer) = order.member_id.as_deref() else {
        return Ok(Vec::new());
    };
    let chain = Chain::of(buyer)?;
    let Some(level1) = chain.level1.clone() else {
        return Ok(Vec::new());
    };
    state::set_json(&Chain::snapshot_key(&order.id), &chain)?;
    let mut attributes = vec![Attribute {
        key: "level1".into(),
        value: level1,
    }];
    if let Some(level2) = &chain.level2 {
        attributes.push(Attribute {
            key: "level2".into(),
            value: level2.clone(),
        });
    }
    Ok(attributes)
}

pub fn handle_event(ctx: &CallContext, event: &Event) -> Result<()> {
    match event {
        Event::OrderPaid(order) => reconcile_order(ctx, order, true, ctx.now),
        // When the refund was made, not when its event arrived, says whether it came
        // before or after settlement.
        Event::OrderRefunded(refunded) => {
            reconcile_order(ctx, &refunded.order, false, refunded.refund.created_at)
        }
        Event::OrderClosed(order) if order.payment_status == PaymentStatus::Unpaid => {
            // Never paid, never will be: the snapshot has nothing left to attribute.
            state::delete(&Chain::snapshot_key(&order.id));
            Ok(())
        }
        Event::MemberJoined(member) => bind_on_registration(ctx, member),
        _ => Ok(()),
    }
}

/// Registration binding: a member who joined through an inviter is bound to them, once.
/// A redelivered event finds the binding made and does nothing; nobody is paid for it.
fn bind_on_registration(ctx: &CallContext, member: &Member) -> Result<()> {
    if Config::from_ctx(ctx)?.binding != BindingMode::Registration {
        return Ok(());
    }
    let Some(inviter) = member.inviter_id.as_deref() else {
        return Ok(());
    };
    if Binding::load(&member.id)?.is_some() {
        return Ok(());
    }
    if inviter == member.id || would_loop(&member.id, inviter)? {
        log::warn(&format!(
            "member {} was invited by {inviter}, which would bind them to their own downline; not bound",
            member.id
        ));
        return Ok(());
    }
    Binding::create(
        &member.id,
        &Binding {
            distributor_id: inviter.to_string(),
            bound_at: ctx.now,
            via: Via::Registration,
        },
    )?;
    log::info(&format!(
        "member {} bound to inviter {inviter} on registration",
        member.id
    ));
    Ok(())
}

/// Books what the order's commissions should be now. `create`: the order-paid event, the
/// only one that opens a book; a refund of an order never seen paid waits for its
/// order-paid, which books on the net. `at`: when what the event reports happened.
fn reconcile_order(
    ctx: &CallContext,
    event_order: &Order,
    create: bool,
    at: Timestamp,
) -> Result<()> {
    // The host's current view, not the event's snapshot: a late event must not undo what a
    // later one already booked.
    let order = shop::order(&event_order.id).unwrap_or_else(|| event_order.clone());
    let mut book = match Book::load(&order.id)? {
        Some(book) => book,
        None if create => open_book(ctx, &order)?,
        None => return Ok(()),
    };
    if reconcile(ctx, &mut book, &order, at)? {
        book.save()?;
    }
    Ok(())
}

/// Fixes a paid order's terms: who earns (approved distributors of the snapshotted chain,
/// never the buyer, never a third level), at which rates, and when it settles.
fn open_book(ctx: &CallContext, order: &Order) -> Result<Book> {
    let config = Config::from_ctx(ctx)?;
    let paid_at = order.paid_at.unwrap_or(ctx.now);
    let snapshot_key = Chain::snapshot_key(&order.id);
    let chain = match state::get_json::<Chain>(&snapshot_key)? {
        Some(chain) => chain,
        // Created while the plugin was off: attribute by the bindings at payment.
        None => match order.member_id.as_deref() {
            Some(buyer) => Chain::of(buyer)?,
            None => Chain::default(),
        },
    };
    state::delete(&snapshot_key);

    let buyer = order.member_id.clone();
    let earns = |id: &Option<String>| -> Result<Option<String>> {
        Ok(match id {
            Some(id) if Some(id) != buyer.as_ref() && Distributor::is_approved(id)? => {
                Some(id.clone())
            }
            _ => None,
        })
    };
    // Level 2 is paid for a sale through a distributor the upline brought in: without an
    // approved level-1 distributor there is no such sale.
    let level1 = earns(&chain.level1)?;
    let level2 = match &level1 {
        Some(l1) => earns(&chain.level2)?.filter(|l2| l2 != l1),
        None => None,
    };

    let lines: Vec<LineTerms> = order
        .lines
        .iter()
        .map(|l| LineTerms {
            line_id: l.id.clone(),
            product_id: l.product_id.clone(),
            quantity: l.quantity,
            final_amount: l.final_amount,
            rate: config.rate_for(&l.product_id),
        })
        .collect();
    let mut earners = Vec::new();
    for (level, id) in [(1u8, level1), (2u8, level2)] {
        let Some(distributor_id) = id else { continue };
        let gross = commission(&lines, level, |l| l.final_amount);
        if gross > 0 {
            state::set(&earning_key(&distributor_id, &order.id), b"1");
            earners.push(Earner {
                level,
                distributor_id,
                gross,
                booked: 0,
                reversed_after_settlement: 0,
                postings: 0,
                last_posting: None,
            });
        }
    }
    let book = Book {
        order_id: order.id.clone(),
        buyer_id: buyer,
        paid_at,
        available_at: paid_at.saturating_add(config.freeze_days.saturating_mul(DAY_MS)),
        lines: if earners.is_empty() {
            Vec::new()
        } else {
            lines
        },
        earners,
    };
    // Saved even with nobody earning, so a later event never attributes an order paid
    // before its distributor was approved.
    book.save()?;
    Ok(book)
}

/// The commission at `level` over `lines`, each line's base given by `base`.
fn commission(lines: &[LineTerms], level: u8, base: impl Fn(&LineTerms) -> i64) -> i64 {
    lines
        .iter()
        .map(|l| l.rate.split(l.quantity, l.final_amount, base(l))[usize::from(level - 1)])
        .sum()
}

/// Books each earner's difference between what the order's net now gives and what is
/// booked. Returns whether anything was booked.
///
/// A reversal before settlement keeps the commission's `available_at`, so it cancels or
/// reduces the pending amount; after settlement it is available at once and so nets
/// against the distributor's next payout (their balance may go negative). Before or after
/// is decided at `at`, when the refund was made: a refund made inside the freeze window
/// but delivered after it still only reduces the pending commission.
fn reconcile(ctx: &CallContext, book: &mut Book, order: &Order, at: Timestamp) -> Result<bool> {
    let net = |l: &LineTerms| -> i64 {
        order
            .lines
            .iter()
            .find(|o| o.id == l.line_id)
            .map_or(l.final_amount, |o| o.final_amount - o.refunded_amount)
    };
    let mut changed = false;
    for i in 0..book.earners.len() {
        let earner = &book.earners[i];
        let target = commission(&book.lines, earner.level, net);
        let delta = target - earner.booked;
        if delta == 0 {
            continue;
        }
        let settled = at >= book.available_at;
        let available_at = if delta < 0 && settled {
            ctx.now
        } else {
            book.available_at
        };
        let what = if delta > 0 { "commission" } else { "reversal" };
        let memo = format!(
            "distributor {what} L{} order {}",
            earner.level, book.order_id
        );
        let posting = ledger::post(
            &memo,
            &[
                LedgerEntry {
                    party: Party::Shop,
                    account: ACCOUNT.into(),
                    amount: -delta,
                    available_at: None,
                },
                LedgerEntry {
                    party: Party::Member(earner.distributor_id.clone()),
                    account: ACCOUNT.into(),
                    amount: delta,
                    available_at: Some(available_at),
                },
            ],
            // Named, not left to the event: the merchant finds every commission by order.
            Some(&book.order_id),
        )?;
        log::info(&format!(
            "{memo}: {} to {} ({posting})",
            money(delta, &ctx.currency),
            earner.distributor_id
        ));
        let earner = &mut book.earners[i];
        earner.booked = target;
        if delta < 0 && settled {
            earner.reversed_after_settlement -= delta;
        }
        earner.postings += 1;
        earner.last_posting = Some(posting);
        changed = true;
    }
    Ok(changed)
}
