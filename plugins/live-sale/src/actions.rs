//! The plugin's actions: staff schedule sessions, run them and stock them with live items;
//! members enter the room and browse its shelf. Inputs and outputs are JSON; every input is
//! an object whose unknown fields are refused, and every error names the field.

use crate::fields::{Fields, boolean, id, int_in, text};
use crate::model::{
    Item, Session, Stats, Status, new_session_id, session_key, stats_key, viewer_key,
};
use baseplate_sdk::{Actor, CallContext, PluginError, Result, log, shop, state, to_json};
use serde_json::{Value, json};

/// The longest session: a marathon stream, not a month-long "session" that would keep an
/// item on sale forever.
pub const MAX_SESSION_MS: i64 = 7 * 86_400_000;

/// The most items one session sells (one state scan lists them all).
pub const MAX_ITEMS: usize = 200;

pub fn handle(ctx: &CallContext, actor: &Actor, name: &str, input: &str) -> Result<String> {
    let output = match name {
        "create-session" => {
            actor.staff_only("schedule live sessions")?;
            create_session(ctx, input)?
        }
        "start-session" => {
            actor.staff_only("start live sessions")?;
            start_session(ctx, input)?
        }
        "end-session" => {
            actor.staff_only("end live sessions")?;
            end_session(ctx, input)?
        }
        "add-item" => {
            actor.staff_only("add live items")?;
            add_item(ctx, input)?
        }
        "shelve" => {
            actor.staff_only("put live items on or off the shelf")?;
            shelve(ctx, input)?
        }
        "stats" => {
            actor.staff_only("see live session stats")?;
            stats(ctx, input)?
        }
        "list-sessions" => list_sessions(ctx, input)?,
        "get-session" => get_session(ctx, actor, input)?,
        "list-items" => list_items(actor, input)?,
        "enter-room" => enter_room(ctx, actor, input)?,
        _ => return Err(PluginError::unknown_action(name)),
    };
    to_json(&output)
}

/// The session an input `{ "session_id": … }` names.
fn session_id_only(input: &str) -> Result<String> {
    let mut f = Fields::parse(input, &["session_id"])?;
    let session_id = f.req("session_id", "a live session id", id)?;
    f.finish()?;
    Ok(session_id)
}

fn create_session(ctx: &CallContext, input: &str) -> Result<Value> {
    let mut f = Fields::parse(input, &["title", "starts_at", "ends_at"])?;
    let title = f.req("title", "a title of 1..=100 characters", text(100))?;
    let starts_at = f.req(
        "starts_at",
        "a time in ms since the epoch",
        int_in(0..=i64::MAX - MAX_SESSION_MS),
    )?;
    let ends_at = f.req(
        "ends_at",
        "a time in ms after `starts_at`, at most 7 days after it, and in the future",
        int_in(starts_at.max(ctx.now).saturating_add(1)..=starts_at + MAX_SESSION_MS),
    )?;
    f.finish()?;
    let session = Session {
        session_id: new_session_id(),
        title,
        starts_at,
        ends_at,
        started_at: None,
        ended_at: None,
        created_at: ctx.now,
    };
    session.save()?;
    Stats::default().save(&session.session_id)?;
    log::info(&format!(
        "scheduled live session {} ({})",
        session.session_id, session.title
    ));
    Ok(session.view(ctx.now))
}

/// Goes live now, even before `starts_at`. Starting a live session again changes nothing;
/// an ended one cannot reopen (its orders and stats are final).
fn start_session(ctx: &CallContext, input: &str) -> Result<Value> {
    let mut session = Session::load(&session_id_only(input)?)?;
    match session.status_at(ctx.now) {
        Status::Ended => {
            return Err(PluginError::refused(format!(
                "live session {} has ended; schedule a new one",
                session.session_id
            )));
        }
        Status::Live if session.started_at.is_some() => {}
        Status::Scheduled | Status::Live => {
            session.started_at = Some(ctx.now);
            session.save()?;
            log::info(&format!("live session {} started", session.session_id));
        }
    }
    Ok(session.view(ctx.now))
}

/// Ends now (also cancels a scheduled session). Ending twice changes nothing. Unpaid
/// orders from the session keep their timers: they can still be paid until then.
fn end_session(ctx: &CallContext, input: &str) -> Result<Value> {
    let mut session = Session::load(&session_id_only(input)?)?;
    if session.ended_at.is_none() && session.status_at(ctx.now) != Status::Ended {
        session.ended_at = Some(ctx.now);
        session.save()?;
        log::info(&format!("live session {} ended", session.session_id));
    }
    Ok(session.view(ctx.now))
}

fn add_item(ctx: &CallContext, input: &str) -> Result<Value> {
    let mut f = Fields::parse(
        input,
        &[
            "session_id",
            "sku_id",
            "product_id",
            "live_price",
            "live_stock",
            "per_member_limit",
            "on_shelf",
        ],
    )?;
    let session_id = f.req("session_id", "a live session id", id)?;
    let sku_id = f.req("sku_id", "a SKU id", id)?;
    let product_id = f.get("product_id", "a product id", id)?;
    let live_price = f.req("live_price", "an integer > 0 (分)", int_in(1..=i64::MAX))?;
    let live_stock = f.req(
        "live_stock",
        "an integer 1..=1000000 (units)",
        int_in(1..=1_000_000),
    )?;
    let per_member_limit = f.req(
        "per_member_limit",
        "an integer 1..=999 (units per member in this session)",
        int_in(1..=999),
    )?;
    let on_shelf = f
        .get("on_shelf", "true or false", boolean)?
        .unwrap_or(false);
    f.finish()?;

    let session = Session::load(&session_id)?;
    if session.status_at(ctx.now) == Status::Ended {
        return Err(PluginError::refused(format!(
            "live session {session_id} has ended"
        )));
    }
    if Item::load(&session_id, &sku_id)?.is_some() {
        return Err(PluginError::conflict(format!(
            "SKU {sku_id} is already in live session {session_id}"
        )));
    }
    if Item::all(&session_id)?.len() >= MAX_ITEMS {
        return Err(PluginError::refused(format!(
            "a live session sells at most {MAX_ITEMS} items"
        )));
    }
    // Without a product id there is no way to look a SKU up; with one, catch typos and a
    // "live price" that is no discount.
    if let Some(pid) = &product_id {
        let product = shop::product(pid)
            .ok_or_else(|| PluginError::not_found(format!("product {pid} does not exist")))?;
        let sku = product
            .skus
            .iter()
            .find(|s| s.id == sku_id)
            .ok_or_else(|| {
                PluginError::invalid(format!("`sku_id`: SKU {sku_id} is not a SKU of {pid}"))
            })?;
        if live_price >= sku.price {
            return Err(PluginError::invalid(format!(
                "`live_price` must be below the SKU's price {} (分)",
                sku.price
            )));
        }
    }
    let item = Item {
        session_id,
        sku_id,
        product_id,
        live_price,
        live_stock,
        sold: 0,
        per_member_limit: per_member_limit as u32,
        on_shelf,
        added_at: ctx.now,
    };
    item.save()?;
    log::info(&format!(
        "added SKU {} to live session {} at {} (stock {})",
        item.sku_id, item.session_id, item.live_price, item.live_stock
    ));
    Ok(item.view())
}

fn shelve(ctx: &CallContext, input: &str) -> Result<Value> {
    let mut f = Fields::parse(input, &["session_id", "sku_id", "on"])?;
    let session_id = f.req("session_id", "a live session id", id)?;
    let sku_id = f.req("sku_id", "a SKU id", id)?;
    let on = f.req("on", "true (on the shelf) or false (off it)", boolean)?;
    f.finish()?;
    let session = Session::load(&session_id)?;
    if session.status_at(ctx.now) == Status::Ended {
        return Err(PluginError::refused(format!(
            "live session {session_id} has ended"
        )));
    }
    let mut item = Item::load(&session_id, &sku_id)?.ok_or_else(|| {
        PluginError::not_found(format!("SKU {sku_id} is not in live session {session_id}"))
    })?;
    if item.on_shelf != on {
        item.on_shelf = on;
        item.save()?;
        log::info(&format!(
            "SKU {sku_id} {} the shelf in live session {session_id}",
            if on { "on" } else { "off" }
        ));
    }
    Ok(item.view())
}

fn list_sessions(ctx: &CallContext, input: &str) -> Result<Value> {
    let mut f = Fields::parse(input, &["status"])?;
    let status = f.get(
        "status",
        "\"scheduled\", \"live\" or \"ended\"",
        |v: &Value| v.as_str().and_then(Status::parse),
    )?;
    f.finish()?;
    let mut sessions: Vec<Session> = state::scan_all_json(&session_key(""))?
        .into_iter()
        .map(|(_, s)| s)
        .filter(|s: &Session| status.is_none_or(|st| s.status_at(ctx.now) == st))
        .collect();
    sessions.sort_by(|a, b| (a.starts_at, &a.session_id).cmp(&(b.starts_at, &b.session_id)));
    let views: Vec<Value> = sessions.iter().map(|s| s.view(ctx.now)).collect();
    Ok(json!({ "sessions": views }))
}

/// Members see what is on the shelf; staff see every item, on or off.
fn visible_items(actor: &Actor, session_id: &str) -> Result<Vec<Value>> {
    Ok(Item::all(session_id)?
        .iter()
        .filter(|i| actor.is_trusted() || i.on_shelf)
        .map(Item::view)
        .collect())
}

fn get_session(ctx: &CallContext, actor: &Actor, input: &str) -> Result<Value> {
    let session = Session::load(&session_id_only(input)?)?;
    let mut view = session.view(ctx.now);
    view["items"] = visible_items(actor, &session.session_id)?.into();
    view["viewers"] = Stats::load(&session.session_id)?.viewers.into();
    Ok(view)
}

fn list_items(actor: &Actor, input: &str) -> Result<Value> {
    let session = Session::load(&session_id_only(input)?)?;
    Ok(json!({
        "session_id": session.session_id,
        "items": visible_items(actor, &session.session_id)?,
    }))
}

/// A member enters the room; viewers count unique members per session, so coming back
/// (or a retried request) counts once. The room is open from scheduling until it ends.
fn enter_room(ctx: &CallContext, actor: &Actor, input: &str) -> Result<Value> {
    let Actor::Member(member_id) = actor else {
        return Err(PluginError::refused("only members enter live rooms"));
    };
    let session = Session::load(&session_id_only(input)?)?;
    let sid = &session.session_id;
    if session.status_at(ctx.now) == Status::Ended {
        return Err(PluginError::refused(format!(
            "live session {sid} has ended"
        )));
    }
    let key = viewer_key(sid, member_id);
    let first_visit = state::get(&key).is_none();
    let mut stats = Stats::load(sid)?;
    if first_visit {
        state::set_json(&key, &ctx.now)?;
        stats.viewers += 1;
        state::set_json(&stats_key(sid), &stats)?;
    }
    Ok(json!({
        "session": session.view(ctx.now),
        "viewers": stats.viewers,
        "first_visit": first_visit,
    }))
}

fn stats(ctx: &CallContext, input: &str) -> Result<Value> {
    let session = Session::load(&session_id_only(input)?)?;
    let stats = Stats::load(&session.session_id)?;
    let items: Vec<Value> = Item::all(&session.session_id)?
        .iter()
        .map(|i| json!({ "sku_id": i.sku_id, "sold": i.sold, "remaining": i.remaining() }))
        .collect();
    let mut view =
        serde_json::to_value(&stats).map_err(|e| PluginError::internal(e.to_string()))?;
    view["session_id"] = session.session_id.clone().into();
    view["status"] = serde_json::to_value(session.status_at(ctx.now)).unwrap_or_default();
    view["net_amount"] = stats.paid_amount.saturating_sub(stats.refund_amount).into();
    view["items"] = items.into();
    Ok(view)
}
