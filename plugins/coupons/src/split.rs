//! Split coupons (瓜分券). Staff create a split template (`create-split-template`); a member
//! launches a split of it (`launch-split`) and shares it; friends join (`join-split`) while
//! its window is open. When the last place fills, in that same call, the total is divided
//! among the members and each gets an ordinary coupon of their share, with the template's
//! threshold, validity, applicable products and stacking, used at checkout like any other.
//!
//! Failure: a split that has not filled when its window ends has failed and issues nothing.
//! The clock decides (see [`Split::status_at`]), so a join after the window is refused even
//! if nothing has run since; a timer at the window's end, a `get-split`, or a launch short
//! of stock then settles it: the split is stored as failed and gives back its unit of stock
//! and the launcher's launch, since it issued nothing. Settling only touches an open split,
//! so a late or repeated timer changes nothing.
//!
//! Concurrency: the host runs one call of this plugin per shop at a time, so a join's
//! check-then-write cannot interleave with another's: joins racing for the last place make
//! exactly `participants` members, and the call that fills the split issues the coupons, once.

use crate::actions::{Terms, save_template};
use crate::fields::{Fields, int_in, text};
use crate::model::{
    Coupon, Discount, MINUTE_MS, Split, SplitMember, SplitMode, SplitStatus, Status, Template,
    Validity, issued_key, launches_key, member_index_key, new_id, open_prefix,
};
use baseplate_sdk::{Actor, CallContext, PluginError, Result, Timestamp, host, log, state, timers};
use serde_json::Value;

/// The longest window a split may stay open: 30 days.
const MAX_WINDOW_MINUTES: i64 = 30 * 24 * 60;

/// At most this many expired splits are settled by one launch, so a backlog (timers far
/// behind) cannot push the launch past its deadline; the rest are settled by later calls.
const MAX_SETTLE_PER_CALL: usize = 100;

/// `create-split-template`: {name, total, participants, split, window_minutes} plus the
/// terms of an ordinary template (threshold, validity, total_stock, per_member_limit,
/// applicable_products, stackable). `total_stock` counts splits that may be launched;
/// `per_member_limit` counts a member's launches.
pub fn create_template(ctx: &CallContext, input: &str) -> Result<Value> {
    let mut f = Fields::parse(
        input,
        &[
            "name",
            "total",
            "participants",
            "split",
            "window_minutes",
            "threshold",
            "validity",
            "total_stock",
            "per_member_limit",
            "applicable_products",
            "stackable",
        ],
    )?;
    let name = f.req("name", "a name of 1..=100 characters", text(100))?;
    let participants = f.req(
        "participants",
        "an integer 2..=50 (members per split, the launcher included)",
        int_in(2..=50),
    )?;
    let total = f.req(
        "total",
        "an integer ≥ `participants` (分 shared by a split; every share is at least 1 分)",
        int_in(participants..=i64::MAX),
    )?;
    let split = f.req("split", "\"equal\" or \"random\"", |v| {
        match v.as_str()? {
            "equal" => Some(SplitMode::Equal),
            "random" => Some(SplitMode::Random),
            _ => None,
        }
    })?;
    let window_minutes = f.req(
        "window_minutes",
        "an integer 1..=43200 (minutes a split stays open; at most 30 days)",
        int_in(1..=MAX_WINDOW_MINUTES),
    )?;
    let terms = Terms::read(&mut f)?;
    f.finish()?;
    let discount = Discount::Split {
        total,
        participants: participants as u32,
        split,
        window_minutes,
    };
    save_template(ctx, name, discount, terms)
}

/// The acting member: splits are launched and joined by members themselves, never by staff
/// on their behalf (a join is a friend's own act).
fn member_only<'a>(actor: &'a Actor, what: &str) -> Result<&'a str> {
    actor
        .member_id()
        .ok_or_else(|| PluginError::refused(format!("only members can {what}")))
}

fn split_id(input: &str) -> Result<String> {
    let mut f = Fields::parse(input, &["split_id"])?;
    f.req("split_id", "a split id", text(64))
}

fn load(id: &str) -> Result<Split> {
    Split::load(id)?.ok_or_else(|| PluginError::not_found(format!("split {id} does not exist")))
}

/// `launch-split` {template_id}: opens a split with the launcher as its first member.
pub fn launch(ctx: &CallContext, actor: &Actor, input: &str) -> Result<Value> {
    let member = member_only(actor, "launch splits")?;
    let mut f = Fields::parse(input, &["template_id"])?;
    let template_id = f.req("template_id", "a template id", text(64))?;
    f.finish()?;

    let template = Template::load(&template_id)?;
    let Discount::Split {
        total,
        participants,
        split,
        window_minutes,
    } = template.discount
    else {
        return Err(PluginError::refused(format!(
            "coupon template {template_id} is not a split template; claim its coupons instead"
        )));
    };
    if !template.enabled {
        return Err(PluginError::refused(format!(
            "coupon template {template_id} is disabled"
        )));
    }
    let mut expires_at = ctx.now.saturating_add(window_minutes * MINUTE_MS);
    if let Validity::Absolute { end, .. } = template.validity {
        // A split cannot outlive its template, so its coupons are never born expired.
        if ctx.now >= end {
            return Err(PluginError::refused(format!(
                "coupon template {template_id} has ended"
            )));
        }
        expires_at = expires_at.min(end);
    }

    let launches_key = launches_key(&template_id, member);
    let counts = || -> Result<(i64, u32)> {
        Ok((
            template.issued()?,
            state::get_json(&launches_key)?.unwrap_or(0),
        ))
    };
    let (mut issued, mut launches) = counts()?;
    if issued >= template.total_stock || launches >= template.per_member_limit {
        // Expired splits whose timer has not run yet still hold stock and launches.
        settle_expired(&template_id, ctx.now)?;
        (issued, launches) = counts()?;
    }
    if issued >= template.total_stock {
        return Err(PluginError::refused(format!(
            "coupon template {template_id} is out of stock"
        )));
    }
    if launches >= template.per_member_limit {
        return Err(PluginError::refused(format!(
            "member {member} has already launched {launches} splits of coupon template {template_id} (limit {})",
            template.per_member_limit
        )));
    }

    let split = Split {
        split_id: new_id("spl", "split"),
        template_id: template_id.clone(),
        name: template.name.clone(),
        launcher_id: member.to_string(),
        total,
        participants,
        split,
        status: SplitStatus::Open,
        members: vec![SplitMember {
            member_id: member.to_string(),
            joined_at: ctx.now,
            share: None,
            coupon_id: None,
        }],
        created_at: ctx.now,
        expires_at,
        completed_at: None,
    };
    split.save()?;
    state::set_json(&issued_key(&template_id), &(issued + 1))?;
    state::set_json(&launches_key, &(launches + 1))?;
    state::set(&split.open_key(), b"[]");
    timers::schedule(&split.timer_name(), expires_at, b"");
    log::info(&format!(
        "member {member} launched split {} of template {template_id} (until {expires_at})",
        split.split_id
    ));
    split.view(ctx.now)
}

/// `join-split` {split_id}: a friend takes a place; the last place completes the split.
pub fn join(ctx: &CallContext, actor: &Actor, input: &str) -> Result<Value> {
    let member = member_only(actor, "join splits")?;
    let id = split_id(input)?;
    let mut split = load(&id)?;
    if split.launcher_id == member {
        return Err(PluginError::refused(format!(
            "you cannot join your own split {id}; share it with friends"
        )));
    }
    if split.members.iter().any(|m| m.member_id == member) {
        return Err(PluginError::refused(format!(
            "you have already joined split {id}"
        )));
    }
    match split.status_at(ctx.now) {
        SplitStatus::Open => {}
        SplitStatus::Completed => {
            return Err(PluginError::refused(format!("split {id} is full")));
        }
        SplitStatus::Failed => {
            return Err(PluginError::refused(format!(
                "split {id} has expired: it did not fill within its window"
            )));
        }
    }
    // Unreachable while the last join completes the split; kept so a corrupt record can
    // never take more members than its size.
    if split.members.len() >= split.participants as usize {
        return Err(PluginError::refused(format!("split {id} is full")));
    }
    split.members.push(SplitMember {
        member_id: member.to_string(),
        joined_at: ctx.now,
        share: None,
        coupon_id: None,
    });
    log::info(&format!(
        "member {member} joined split {id} ({}/{})",
        split.members.len(),
        split.participants
    ));
    if split.members.len() == split.participants as usize {
        complete(ctx, &mut split)?;
    }
    split.save()?;
    split.view(ctx.now)
}

/// Divides the total and issues each member a coupon of their share. Runs once: in the
/// join that fills the split, which also stores it as completed.
fn complete(ctx: &CallContext, split: &mut Split) -> Result<()> {
    let template = Template::load(&split.template_id).map_err(|_| {
        PluginError::internal(format!("split {} names a missing template", split.split_id))
    })?;
    let n = split.members.len();
    let shares = match split.split {
        SplitMode::Equal => equal_shares(split.total, n),
        SplitMode::Random => random_shares(split.total, n),
    };
    let (valid_from, valid_until) = template.validity.window(ctx.now);
    for (m, share) in split.members.iter_mut().zip(shares) {
        let coupon = Coupon {
            coupon_id: new_id("cpn", "cpn"),
            template_id: split.template_id.clone(),
            member_id: m.member_id.clone(),
            name: template.name.clone(),
            status: Status::Available,
            valid_from,
            valid_until,
            amount: Some(share),
            claimed_at: ctx.now,
            order_id: None,
            split_id: Some(split.split_id.clone()),
        };
        coupon.save()?;
        state::set(&member_index_key(&m.member_id, &coupon.coupon_id), b"[]");
        m.share = Some(share);
        m.coupon_id = Some(coupon.coupon_id);
    }
    split.status = SplitStatus::Completed;
    split.completed_at = Some(ctx.now);
    state::delete(&split.open_key());
    timers::cancel(&split.timer_name());
    log::info(&format!(
        "split {} completed: {} 分 shared by {n} members",
        split.split_id, split.total
    ));
    Ok(())
}

/// `get-split` {split_id}: anyone in the shop may look (friends open a shared split before
/// joining). An expired open split is settled here.
pub fn get(ctx: &CallContext, input: &str) -> Result<Value> {
    let mut split = load(&split_id(input)?)?;
    settle(&mut split, ctx.now)?;
    split.view(ctx.now)
}

/// The timer `split/<split_id>` at the window's end.
pub fn fire_timer(ctx: &CallContext, name: &str) -> Result<()> {
    let Some(id) = name.strip_prefix("split/") else {
        log::warn(&format!("ignoring unknown timer {name}"));
        return Ok(());
    };
    let Some(mut split) = Split::load(id)? else {
        return Ok(());
    };
    if split.status == SplitStatus::Open && ctx.now < split.expires_at {
        // Fired early (never expected): look again at the window's end.
        timers::schedule(name, split.expires_at, b"");
        return Ok(());
    }
    settle(&mut split, ctx.now)?;
    Ok(())
}

/// Stores an open split whose window has passed as failed and gives back its unit of stock
/// and its launcher's launch. True if it changed anything; only an open split changes, so
/// settling twice (a late timer after a `get-split`) is harmless.
fn settle(split: &mut Split, now: Timestamp) -> Result<bool> {
    if split.status != SplitStatus::Open || now < split.expires_at {
        return Ok(false);
    }
    split.status = SplitStatus::Failed;
    split.save()?;
    decrement(&issued_key(&split.template_id))?;
    decrement(&launches_key(&split.template_id, &split.launcher_id))?;
    state::delete(&split.open_key());
    timers::cancel(&split.timer_name());
    log::info(&format!(
        "split {} failed: {}/{} members when its window ended",
        split.split_id,
        split.members.len(),
        split.participants
    ));
    Ok(true)
}

/// Takes one off a counter (`issued/…` or `launches/…`), never below zero.
fn decrement(key: &str) -> Result<()> {
    let n: i64 = state::get_json(key)?.unwrap_or(0);
    if n > 0 {
        state::set_json(key, &(n - 1))?;
    }
    Ok(())
}

/// Settles the template's splits whose window has passed, oldest first. The index is in
/// expiry order, so the scan stops at the first split still open.
fn settle_expired(template_id: &str, now: Timestamp) -> Result<()> {
    let prefix = open_prefix(template_id);
    let mut done = 0;
    while done < MAX_SETTLE_PER_CALL {
        // Each entry looked at is deleted below, so every page starts at the front.
        let page = state::scan(&prefix, None, 20);
        if page.is_empty() {
            return Ok(());
        }
        for (key, _) in page {
            let (at, id) = key[prefix.len()..].split_once('/').unwrap_or(("", ""));
            let at: Timestamp = at
                .parse()
                .map_err(|_| PluginError::internal(format!("corrupt index key `{key}`")))?;
            if now < at {
                return Ok(());
            }
            let settled = match Split::load(id)? {
                Some(mut split) => settle(&mut split, now)?,
                None => false,
            };
            if !settled {
                // Completed or gone: a stale entry.
                state::delete(&key);
            }
            done += 1;
        }
    }
    Ok(())
}

/// Equal shares of `total` among `n` (total ≥ n ≥ 1): floor division, and the remainder
/// goes 1 分 each to the first members (the launcher first), so they sum to `total` and
/// differ by at most 1 分.
pub fn equal_shares(total: i64, n: usize) -> Vec<i64> {
    let n64 = n as i64;
    let (base, rest) = (total / n64, total % n64);
    (0..n64).map(|i| base + i64::from(i < rest)).collect()
}

/// Random shares of `total` among `n` (total ≥ n ≥ 1), each ≥ 1 分, summing exactly.
///
/// Algorithm: every member first gets 1 分; the remaining `total - n` 分 is cut at `n - 1`
/// points drawn uniformly (with repeats) from `0..=total - n` with the host's randomness;
/// sorted, the cuts split it into `n` pieces (possibly 0) that are added to the 1 分 each.
/// The pieces sum to the remainder by construction, so the shares sum to `total`; and the
/// pieces of sorted uniform cuts are exchangeable, so no place in the join order is favoured
/// (unlike "twice the mean" draws, where the last member takes what is left).
pub fn random_shares(total: i64, n: usize) -> Vec<i64> {
    let rest = total - n as i64;
    let mut cuts: Vec<i64> = (1..n).map(|_| host::random_range(0, rest)).collect();
    cuts.sort_unstable();
    let mut shares = Vec::with_capacity(n);
    let mut prev = 0;
    for cut in cuts.into_iter().chain([rest]) {
        shares.push(1 + (cut - prev));
        prev = cut;
    }
    shares
}
