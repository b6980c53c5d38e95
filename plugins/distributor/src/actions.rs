//! The plugin's actions: applying and binding (members), approving and listing (staff),
//! and a member's own view, commissions and withdrawals.

use crate::commission::ACCOUNT;
use crate::config::{BindingMode, Config, Promoters};
use crate::fields::{Fields, id, int_in, one_of, text};
use crate::model::{
    Binding, Book, Distributor, Status, Via, Withdrawal, earning_key, money, new_id, team_size,
    would_loop,
};
use baseplate_sdk::{
    Actor, CallContext, LedgerEntry, Party, PluginError, Result, ledger, log, shop, state, to_json,
};
use serde_json::{Value, json};

/// The ledger account withdrawn commission moves to.
pub const WITHDRAWN: &str = "withdrawn";
const MAX_PAGE: i64 = 200;
const DEFAULT_PAGE: i64 = 50;

pub fn handle(ctx: &CallContext, actor: &Actor, name: &str, input: &str) -> Result<String> {
    let output = match name {
        "apply" => apply(ctx, actor, input)?,
        "bind" => bind(ctx, actor, input)?,
        "approve" => decide(ctx, actor, input, Status::Approved)?,
        "reject" => decide(ctx, actor, input, Status::Rejected)?,
        "list-distributors" => list_distributors(actor, input)?,
        "me" => me(ctx, actor, input)?,
        "my-commissions" => my_commissions(ctx, actor, input)?,
        "withdraw" => withdraw(ctx, actor, input)?,
        _ => return Err(PluginError::unknown_action(name)),
    };
    to_json(&output)
}

fn distributor_view(d: &Distributor) -> Result<Value> {
    Ok(json!({
        "member_id": d.member_id,
        "status": d.status.as_str(),
        "applied_at": d.applied_at,
        "decided_at": d.decided_at,
        "reason": d.reason,
        "team_size": team_size(&d.member_id)?,
    }))
}

/// A member applies to promote: approved at once when everyone may promote, otherwise
/// pending until staff decide. Applying again changes nothing, except after a rejection,
/// when the new application always waits for staff (so a rejection sticks in "everyone"
/// mode too).
fn apply(ctx: &CallContext, actor: &Actor, input: &str) -> Result<Value> {
    Fields::parse(input, &[])?.finish()?;
    let member = actor.member_only("apply to become a distributor")?;
    let config = Config::from_ctx(ctx)?;
    let existing = Distributor::load(member)?;
    let status = match (&existing, config.promoters) {
        (Some(d), _) if d.status != Status::Rejected => return distributor_view(d),
        (Some(_), _) | (None, Promoters::Approved) => Status::Pending,
        (None, Promoters::Everyone) => Status::Approved,
    };
    let d = Distributor {
        member_id: member.to_string(),
        status,
        applied_at: ctx.now,
        decided_at: (status == Status::Approved).then_some(ctx.now),
        reason: None,
    };
    d.save()?;
    log::info(&format!(
        "member {member} applied to distribute: {}",
        status.as_str()
    ));
    distributor_view(&d)
}

/// Staff approve or reject a member. Approving a member who never applied appoints them;
/// rejecting an approved distributor stops their future earnings (what is booked stays).
fn decide(ctx: &CallContext, actor: &Actor, input: &str, to: Status) -> Result<Value> {
    let allowed: &[&str] = if to == Status::Rejected {
        &["member_id", "reason"]
    } else {
        &["member_id"]
    };
    let mut f = Fields::parse(input, allowed)?;
    let member = f.req("member_id", "a member id", id)?;
    let reason = if to == Status::Rejected {
        f.get("reason", "a reason of 1..=200 characters", text(200))?
    } else {
        None
    };
    f.finish()?;
    actor.staff_only("approve or reject distributors")?;
    let mut d = match Distributor::load(&member)? {
        Some(d) => d,
        None if to == Status::Approved => {
            if shop::member(&member).is_none() {
                return Err(PluginError::not_found(format!(
                    "member {member} does not exist in this shop"
                )));
            }
            Distributor {
                member_id: member.clone(),
                status: Status::Pending,
                applied_at: ctx.now,
                decided_at: None,
                reason: None,
            }
        }
        None => {
            return Err(PluginError::not_found(format!(
                "member {member} has not applied to become a distributor"
            )));
        }
    };
    if d.status != to {
        d.status = to;
        d.decided_at = Some(ctx.now);
        d.reason = reason;
        d.save()?;
        log::info(&format!("distributor {member} {}", to.as_str()));
    }
    distributor_view(&d)
}

/// A member opens a distributor's share link: the first one binds them for good.
fn bind(ctx: &CallContext, actor: &Actor, input: &str) -> Result<Value> {
    let mut f = Fields::parse(input, &["distributor_id"])?;
    let distributor = f.req("distributor_id", "a distributor's member id", id)?;
    f.finish()?;
    let member = actor.member_only("bind to a distributor")?;
    if Config::from_ctx(ctx)?.binding != BindingMode::FirstTouch {
        return Err(PluginError::refused(
            "this shop binds members to the distributor who invited them when they join; share links do not bind",
        ));
    }
    if distributor == member {
        return Err(PluginError::refused("you cannot bind to yourself"));
    }
    if let Some(b) = Binding::load(member)? {
        if b.distributor_id == distributor {
            return binding_view(member, &b, false);
        }
        return Err(PluginError::refused(format!(
            "you are already bound to distributor {} (the first link you opened wins)",
            b.distributor_id
        )));
    }
    match Distributor::load(&distributor)? {
        Some(d) if d.status == Status::Approved => {}
        Some(_) => {
            return Err(PluginError::refused(format!(
                "{distributor} is not an approved distributor"
            )));
        }
        None => {
            return Err(PluginError::not_found(format!(
                "{distributor} is not a distributor in this shop"
            )));
        }
    }
    if would_loop(member, &distributor)? {
        return Err(PluginError::refused(format!(
            "{distributor} is in your own team; binding to them would make a loop"
        )));
    }
    let b = Binding {
        distributor_id: distributor.clone(),
        bound_at: ctx.now,
        via: Via::Link,
    };
    Binding::create(member, &b)?;
    log::info(&format!(
        "member {member} bound to distributor {distributor}"
    ));
    binding_view(member, &b, true)
}

fn binding_view(member: &str, b: &Binding, new: bool) -> Result<Value> {
    Ok(json!({
        "member_id": member,
        "distributor_id": b.distributor_id,
        "bound_at": b.bound_at,
        "via": b.via,
        "new": new,
    }))
}

/// A page size from `limit`, and the key to start after from `after`.
fn page(f: &mut Fields) -> Result<(u32, Option<String>)> {
    let limit = f
        .get("limit", "an integer 1..=200", int_in(1..=MAX_PAGE))?
        .unwrap_or(DEFAULT_PAGE);
    let after = f.get("after", "an id from `next_after`", id)?;
    Ok((limit as u32, after))
}

fn list_distributors(actor: &Actor, input: &str) -> Result<Value> {
    const ALLOWED: &[&str] = &["status", "limit", "after"];
    let mut f = Fields::parse(input, ALLOWED)?;
    let status = f.get(
        "status",
        "\"pending\", \"approved\" or \"rejected\"",
        one_of(&["pending", "approved", "rejected"]),
    )?;
    let (limit, after) = page(&mut f)?;
    f.finish()?;
    actor.staff_only("list distributors")?;
    let mut out = Vec::new();
    let mut cursor = after.map(|a| format!("d/{a}"));
    let mut next_after = None;
    // Filtering by status may skip entries, so page through the scan until the page fills.
    'scan: loop {
        let batch = state::scan_json::<Distributor>("d/", cursor.as_deref(), limit)?;
        let done = batch.len() < limit as usize;
        for (key, d) in batch {
            cursor = Some(key);
            if status.is_none_or(|s| s == d.status.as_str()) {
                out.push(distributor_view(&d)?);
                if out.len() == limit as usize {
                    next_after = Some(d.member_id);
                    break 'scan;
                }
            }
        }
        if done {
            break;
        }
    }
    Ok(json!({ "distributors": out, "next_after": next_after }))
}

fn balances(member: &str) -> Value {
    let party = Party::Member(member.to_string());
    let commission = ledger::balance(&party, ACCOUNT);
    let withdrawn = ledger::balance(&party, WITHDRAWN);
    json!({
        "commission_total": commission.total,
        "commission_available": commission.available,
        "commission_pending": commission.total - commission.available,
        "withdrawn": withdrawn.total,
    })
}

fn me(ctx: &CallContext, actor: &Actor, input: &str) -> Result<Value> {
    let mut f = Fields::parse(input, &["member_id"])?;
    let member = actor.member_for(f.get("member_id", "a member id", id)?)?;
    f.finish()?;
    let config = Config::from_ctx(ctx)?;
    let distributor = match Distributor::load(&member)? {
        Some(d) => distributor_view(&d)?,
        None => Value::Null,
    };
    let binding = Binding::load(&member)?;
    Ok(json!({
        "member_id": member,
        "distributor": distributor,
        "upline": binding.as_ref().map(|b| b.distributor_id.clone()),
        "bound_at": binding.as_ref().map(|b| b.bound_at),
        "team_size": team_size(&member)?,
        "balances": balances(&member),
        "min_withdrawal": config.min_withdrawal,
    }))
}

/// One entry per order the member earns on: the amount now (net of refunds) and its status.
/// `cancelled`: refunds took all of it; `pending`: not withdrawable before `available_at`;
/// `settled`: withdrawable (reversals booked after that are listed with the entry).
fn my_commissions(ctx: &CallContext, actor: &Actor, input: &str) -> Result<Value> {
    const ALLOWED: &[&str] = &["member_id", "limit", "after"];
    let mut f = Fields::parse(input, ALLOWED)?;
    let member = actor.member_for(f.get("member_id", "a member id", id)?)?;
    let (limit, after) = page(&mut f)?;
    f.finish()?;
    let prefix = earning_key(&member, "");
    let start = after.map(|a| earning_key(&member, &a));
    let keys = state::scan(&prefix, start.as_deref(), limit);
    let full = keys.len() == limit as usize;
    let mut entries = Vec::new();
    let mut last = None;
    for (key, _) in keys {
        let order_id = key[prefix.len()..].to_string();
        last = Some(order_id.clone());
        let Some(book) = Book::load(&order_id)? else {
            continue;
        };
        for e in book.earners.iter().filter(|e| e.distributor_id == member) {
            let status = if e.booked == 0 {
                "cancelled"
            } else if ctx.now < book.available_at {
                "pending"
            } else {
                "settled"
            };
            entries.push(json!({
                "order_id": book.order_id,
                "buyer_id": book.buyer_id,
                "level": e.level,
                "gross": e.gross,
                "amount": e.booked,
                "reversed": e.gross - e.booked,
                "reversed_after_settlement": e.reversed_after_settlement,
                "paid_at": book.paid_at,
                "available_at": book.available_at,
                "status": status,
            }));
        }
    }
    Ok(json!({
        "member_id": member,
        "commissions": entries,
        "next_after": if full { last } else { None },
    }))
}

/// Pays out settled commission: at least `min_withdrawal`, at most what is available now
/// (settled commission less withdrawals and reversals after settlement). An optional
/// `request_id` makes a retried request apply once.
fn withdraw(ctx: &CallContext, actor: &Actor, input: &str) -> Result<Value> {
    const ALLOWED: &[&str] = &["amount", "request_id"];
    let mut f = Fields::parse(input, ALLOWED)?;
    let amount = f.req("amount", "an integer > 0 (分)", int_in(1..=i64::MAX))?;
    let request_id = f.get("request_id", "an id of 1..=64 bytes", id)?;
    f.finish()?;
    let member = actor.member_only("withdraw commission")?;
    if let Some(rid) = &request_id
        && let Some(wid) = state::get_json::<String>(&Withdrawal::request_key(member, rid))?
    {
        let w: Withdrawal = state::get_json(&Withdrawal::key(member, &wid))?
            .ok_or_else(|| PluginError::internal(format!("withdrawal {wid} is missing")))?;
        if w.amount != amount {
            return Err(PluginError::conflict(format!(
                "request_id {rid} was already used for a withdrawal of {}",
                money(w.amount, &ctx.currency)
            )));
        }
        return Ok(withdrawal_view(&w, member));
    }
    let config = Config::from_ctx(ctx)?;
    if amount < config.min_withdrawal {
        return Err(PluginError::refused(format!(
            "the minimum withdrawal is {}",
            money(config.min_withdrawal, &ctx.currency)
        )));
    }
    let party = Party::Member(member.to_string());
    let available = ledger::balance(&party, ACCOUNT).available;
    if amount > available {
        return Err(PluginError::refused(format!(
            "only {} is available to withdraw",
            money(available.max(0), &ctx.currency)
        )));
    }
    let withdrawal_id = new_id("wd", &format!("w/{member}"));
    let posting_id = ledger::post(
        &format!("distributor withdrawal {withdrawal_id}"),
        &[
            LedgerEntry {
                party: party.clone(),
                account: ACCOUNT.into(),
                amount: -amount,
                available_at: None,
            },
            LedgerEntry {
                party,
                account: WITHDRAWN.into(),
                amount,
                available_at: None,
            },
        ],
        // A payout belongs to no order.
        None,
    )?;
    let w = Withdrawal {
        withdrawal_id,
        member_id: member.to_string(),
        amount,
        at: ctx.now,
        posting_id,
        request_id: request_id.clone(),
    };
    state::set_json(&Withdrawal::key(member, &w.withdrawal_id), &w)?;
    if let Some(rid) = &request_id {
        state::set_json(&Withdrawal::request_key(member, rid), &w.withdrawal_id)?;
    }
    log::info(&format!(
        "distributor {member} withdrew {} ({})",
        money(amount, &ctx.currency),
        w.withdrawal_id
    ));
    Ok(withdrawal_view(&w, member))
}

fn withdrawal_view(w: &Withdrawal, member: &str) -> Value {
    json!({
        "withdrawal_id": w.withdrawal_id,
        "amount": w.amount,
        "at": w.at,
        "posting_id": w.posting_id,
        "request_id": w.request_id,
        "balances": balances(member),
    })
}
