//! The plugin's actions: activities (staff), and starting, helping and reading bargains
//! (members).

use crate::checkout::release_order;
use crate::fields::{Fields, boolean, int_in, text};
use crate::model::{
    Activity, Bargain, Cut, HOUR_MS, Help, Status, bargain_key, bought_key, counter, helped_key,
    live_key, member_index_key, money, new_id,
};
use baseplate_sdk::{
    Actor, CallContext, OrderStatus, PaymentStatus, PluginError, Result, host, log, shop, state,
    to_json,
};
use serde_json::{Value, json};

/// The most helpers a bargain may need: its helps are stored inline, and this keeps the
/// record far below the host's 64 KiB value limit.
pub const MAX_HELPERS: i64 = 200;

pub fn handle(ctx: &CallContext, actor: &Actor, name: &str, input: &str) -> Result<String> {
    let output = match name {
        "create-activity" => {
            actor.staff_only("create bargain activities")?;
            create_activity(ctx, input)?
        }
        "list-activities" => {
            Fields::parse(input, &[])?.finish()?;
            list_activities()?
        }
        "get-activity" => Activity::load(&activity_id(input)?)?.view()?,
        "end-activity" => {
            actor.staff_only("end bargain activities")?;
            end_activity(ctx, &activity_id(input)?)?
        }
        "start" => start(ctx, actor, input)?,
        "help" => help(ctx, actor, input)?,
        "get-bargain" => {
            let mut f = Fields::parse(input, &["bargain_id"])?;
            let id = f.req("bargain_id", "a bargain id", text(64))?;
            Bargain::load(&id)?.view(ctx.now)
        }
        "my-bargains" => my_bargains(ctx, actor, input)?,
        _ => return Err(PluginError::unknown_action(name)),
    };
    to_json(&output)
}

fn activity_id(input: &str) -> Result<String> {
    let mut f = Fields::parse(input, &["activity_id"])?;
    f.req("activity_id", "an activity id", text(64))
}

fn create_activity(ctx: &CallContext, input: &str) -> Result<Value> {
    let mut f = Fields::parse(
        input,
        &[
            "name",
            "product_id",
            "sku_id",
            "start_price",
            "floor_price",
            "helpers_needed",
            "cut",
            "helps_per_helper",
            "validity_hours",
            "buy_at_current_price",
            "stock",
            "per_buyer_limit",
        ],
    )?;
    let name = f.req("name", "a name of 1..=100 characters", text(100))?;
    let product_id = f.req("product_id", "a product id", text(64))?;
    let sku_id = f.req("sku_id", "a SKU id of `product_id`", text(64))?;
    let start_price = f.req(
        "start_price",
        "an integer ≥ 2 (分), at most the SKU's price",
        int_in(2..=i64::MAX),
    )?;
    let floor_price = f.req(
        "floor_price",
        &format!(
            "an integer 1..={} (分), below `start_price`",
            start_price - 1
        ),
        int_in(1..=start_price - 1),
    )?;
    // Every help cuts at least 1 分, so this many helpers always fit in the gap.
    let gap = start_price - floor_price;
    let most_helpers = gap.min(MAX_HELPERS);
    let helpers_needed = f.req(
        "helpers_needed",
        &format!("an integer 1..={most_helpers} (at most {MAX_HELPERS}, and at most `start_price` - `floor_price`)"),
        int_in(1..=most_helpers),
    )?;
    let cut = cut(f.req_object("cut", &["type", "min", "max", "amount"])?, gap)?;
    let helps_per_helper = f
        .get("helps_per_helper", "an integer 1..=100", int_in(1..=100))?
        .unwrap_or(1);
    let validity_hours = f.req("validity_hours", "an integer 1..=720", int_in(1..=720))?;
    let buy_at_current_price = f
        .get("buy_at_current_price", "true or false", boolean)?
        .unwrap_or(false);
    let stock = f.req("stock", "an integer 1..=1000000", int_in(1..=1_000_000))?;
    let per_buyer_limit = f
        .get("per_buyer_limit", "an integer 1..=100", int_in(1..=100))?
        .unwrap_or(1);
    f.finish()?;

    // The bargain price replaces the line's price at the item stage, which can only take
    // money off: the start price must not be above what the SKU sells for.
    let product = shop::product(&product_id).ok_or_else(|| {
        PluginError::invalid(format!(
            "`product_id`: product {product_id} does not exist in this shop"
        ))
    })?;
    let sku = product
        .skus
        .iter()
        .find(|s| s.id == sku_id)
        .ok_or_else(|| {
            let ids: Vec<&str> = product.skus.iter().map(|s| s.id.as_str()).collect();
            PluginError::invalid(format!(
                "`sku_id` must be a SKU of product {product_id}: {}",
                ids.join(", ")
            ))
        })?;
    if start_price > sku.price {
        return Err(PluginError::invalid(format!(
            "`start_price` must be at most the SKU's price, {} ({})",
            sku.price,
            money(sku.price, &ctx.currency)
        )));
    }

    let activity = Activity {
        activity_id: new_id("bgn", "act"),
        name,
        product_id,
        sku_id,
        start_price,
        floor_price,
        helpers_needed: helpers_needed as u32,
        cut,
        helps_per_helper: helps_per_helper as u32,
        validity_hours,
        buy_at_current_price,
        stock,
        per_buyer_limit: per_buyer_limit as u32,
        created_at: ctx.now,
        ended_at: None,
    };
    activity.save()?;
    log::info(&format!(
        "created bargain activity {} ({}) on sku {}",
        activity.activity_id, activity.name, activity.sku_id
    ));
    activity.view()
}

/// `cut` is `{"type":"random","min","max"}` or `{"type":"fixed","amount"}`; no cut may be
/// larger than the whole way from start to floor (`gap`).
fn cut(mut f: Fields, gap: i64) -> Result<Cut> {
    let kind = f.req("type", "\"random\" or \"fixed\"", |v| {
        v.as_str().map(String::from)
    })?;
    let cut = match kind.as_str() {
        "random" => {
            let min = f.req(
                "min",
                &format!("an integer 1..={gap} (分; at most `start_price` - `floor_price`)"),
                int_in(1..=gap),
            )?;
            let max = f.req(
                "max",
                &format!(
                    "an integer {min}..={gap} (分; from `cut.min` to `start_price` - `floor_price`)"
                ),
                int_in(min..=gap),
            )?;
            Cut::Random { min, max }
        }
        "fixed" => Cut::Fixed {
            amount: f.req(
                "amount",
                &format!("an integer 1..={gap} (分; at most `start_price` - `floor_price`)"),
                int_in(1..=gap),
            )?,
        },
        _ => {
            return Err(PluginError::invalid(
                "`cut.type` must be \"random\" or \"fixed\"",
            ));
        }
    };
    f.finish()?;
    Ok(cut)
}

fn list_activities() -> Result<Value> {
    let mut activities: Vec<Activity> = state::scan_all_json("act/")?
        .into_iter()
        .map(|(_, a)| a)
        .collect();
    activities.sort_by(|a, b| (a.created_at, &a.activity_id).cmp(&(b.created_at, &b.activity_id)));
    let views = activities
        .iter()
        .map(Activity::view)
        .collect::<Result<Vec<_>>>()?;
    Ok(json!({ "activities": views }))
}

fn end_activity(ctx: &CallContext, id: &str) -> Result<Value> {
    let mut activity = Activity::load(id)?;
    if !activity.ended() {
        activity.ended_at = Some(ctx.now);
        activity.save()?;
        log::info(&format!("ended bargain activity {id}"));
    }
    activity.view()
}

/// The member's current bargain in the activity, if it is still live: bargaining or
/// succeeded and unexpired, or held by an order not yet paid (which may close and give it
/// back). An order that closed without its event having arrived yet is settled here, so a
/// late event can never leave the member with two live bargains.
fn live_bargain(ctx: &CallContext, activity_id: &str, member_id: &str) -> Result<Option<Bargain>> {
    let Some(id) = state::get_json::<String>(&live_key(activity_id, member_id))? else {
        return Ok(None);
    };
    let mut bargain = Bargain::load(&id)?;
    if bargain.status == Status::Ordered
        && let Some(order_id) = bargain.order_id.clone()
    {
        match shop::order(&order_id) {
            Some(o) if o.payment_status == PaymentStatus::Paid => return Ok(None),
            Some(o) if o.status == OrderStatus::Closed => {
                release_order(&order_id, false)?;
                bargain = Bargain::load(&id)?;
            }
            Some(_) => return Ok(Some(bargain)),
            None => return Ok(None),
        }
    }
    Ok(match bargain.status_at(ctx.now) {
        Status::Bargaining | Status::Succeeded | Status::Ordered => Some(bargain),
        Status::Expired => None,
    })
}

fn start(ctx: &CallContext, actor: &Actor, input: &str) -> Result<Value> {
    let member_id = actor.member_only("start a bargain")?.to_string();
    let id = activity_id(input)?;
    let activity = Activity::load(&id)?;
    if activity.ended() {
        return Err(PluginError::refused(format!(
            "bargain activity {id} has ended"
        )));
    }
    if activity.sold()? >= activity.stock {
        return Err(PluginError::refused(format!(
            "bargain activity {id} is sold out"
        )));
    }
    if let Some(live) = live_bargain(ctx, &id, &member_id)? {
        let why = match &live.order_id {
            Some(order) => format!("is held by unpaid order {order}; pay or cancel it first"),
            None => "is still live; finish it first".to_string(),
        };
        return Err(PluginError::refused(format!(
            "your bargain {} on activity {id} {why}",
            live.bargain_id
        )));
    }
    let bought = counter(&bought_key(&id, &member_id))?;
    if bought >= activity.per_buyer_limit {
        return Err(PluginError::refused(format!(
            "you have already bought {bought} in bargain activity {id} (limit {})",
            activity.per_buyer_limit
        )));
    }

    let bargain = Bargain {
        bargain_id: new_id("brg", "brg"),
        activity_id: id.clone(),
        member_id: member_id.clone(),
        sku_id: activity.sku_id.clone(),
        start_price: activity.start_price,
        floor_price: activity.floor_price,
        helpers_needed: activity.helpers_needed,
        price: activity.start_price,
        helps: Vec::new(),
        status: Status::Bargaining,
        started_at: ctx.now,
        expires_at: ctx.now.saturating_add(activity.validity_hours * HOUR_MS),
        succeeded_at: None,
        order_id: None,
    };
    bargain.save()?;
    state::set_json(&live_key(&id, &member_id), &bargain.bargain_id)?;
    state::set(&member_index_key(&member_id, &bargain.bargain_id), b"[]");
    activity.set_started(activity.started()? + 1)?;
    log::info(&format!(
        "member {member_id} started bargain {} on activity {id}",
        bargain.bargain_id
    ));
    Ok(bargain.view(ctx.now))
}

/// The cut of the next help on a bargain at `price` that already has `helpers` helps.
/// The last of `helpers_needed` helpers cuts straight to the floor (so reaching the helper
/// count is reaching the floor); any other cut is drawn from the host's randomness (or
/// fixed) and clamped to 1..=what is left, so the price never passes the floor and every
/// help cuts something. Cuts are whole 分: nothing to round.
pub fn next_cut(cut: &Cut, price: i64, floor: i64, helpers: usize, helpers_needed: u32) -> i64 {
    let left = price - floor;
    if helpers + 1 >= helpers_needed as usize {
        return left;
    }
    let drawn = match *cut {
        Cut::Random { min, max } => host::random_range(min, max),
        Cut::Fixed { amount } => amount,
    };
    drawn.clamp(1, left)
}

fn help(ctx: &CallContext, actor: &Actor, input: &str) -> Result<Value> {
    let helper = actor.member_only("help a bargain")?.to_string();
    let mut f = Fields::parse(input, &["bargain_id"])?;
    let id = f.req("bargain_id", "a bargain id", text(64))?;
    // The host runs one call of this plugin per shop at a time, so everything from here to
    // the save is one atomic read-check-write: concurrent helps never double count.
    let mut bargain = Bargain::load(&id)?;
    if bargain.member_id == helper {
        return Err(PluginError::refused("you cannot help your own bargain"));
    }
    if bargain.helped_by(&helper) {
        return Err(PluginError::refused(format!(
            "you have already helped bargain {id}"
        )));
    }
    match bargain.status_at(ctx.now) {
        Status::Bargaining => {}
        Status::Succeeded => {
            return Err(PluginError::refused(format!(
                "bargain {id} has already reached its floor price"
            )));
        }
        Status::Ordered => {
            return Err(PluginError::refused(format!(
                "bargain {id} has already been ordered"
            )));
        }
        Status::Expired => {
            return Err(PluginError::refused(format!("bargain {id} has expired")));
        }
    }
    let activity = Activity::load(&bargain.activity_id)?;
    if activity.ended() {
        return Err(PluginError::refused(format!(
            "bargain activity {} has ended",
            activity.activity_id
        )));
    }
    let helped_key = helped_key(&activity.activity_id, &helper);
    let helped = counter(&helped_key)?;
    if helped >= activity.helps_per_helper {
        return Err(PluginError::refused(format!(
            "you have used all {} of your helps in bargain activity {}",
            activity.helps_per_helper, activity.activity_id
        )));
    }

    let cut = next_cut(
        &activity.cut,
        bargain.price,
        bargain.floor_price,
        bargain.helps.len(),
        bargain.helpers_needed,
    );
    bargain.price -= cut;
    bargain.helps.push(Help {
        helper_id: helper.clone(),
        cut,
        at: ctx.now,
    });
    if bargain.price <= bargain.floor_price {
        bargain.status = Status::Succeeded;
        bargain.succeeded_at = Some(ctx.now);
    }
    bargain.save()?;
    state::set_json(&helped_key, &(helped + 1))?;
    log::info(&format!(
        "member {helper} cut {cut} off bargain {id} (now {})",
        bargain.price
    ));
    let mut view = bargain.view(ctx.now);
    view["cut"] = cut.into();
    Ok(view)
}

/// A member reads their own bargains; staff name one with `member_id`.
fn my_bargains(ctx: &CallContext, actor: &Actor, input: &str) -> Result<Value> {
    let mut f = Fields::parse(input, &["member_id", "activity_id"])?;
    let named = f.get("member_id", "a member id", text(64))?;
    let activity = f.get("activity_id", "an activity id", text(64))?;
    let member_id = actor.member_for(named)?;
    let prefix = member_index_key(&member_id, "");
    let mut bargains = Vec::new();
    for (key, _) in state::scan_all(&prefix) {
        let Some(bargain) = state::get_json::<Bargain>(&bargain_key(&key[prefix.len()..]))? else {
            continue;
        };
        // A member id that extends this one (`m1/x` after `m1`) shares the prefix.
        if bargain.member_id == member_id
            && activity.as_ref().is_none_or(|a| *a == bargain.activity_id)
        {
            bargains.push(bargain);
        }
    }
    bargains.sort_by(|a, b| (a.started_at, &a.bargain_id).cmp(&(b.started_at, &b.bargain_id)));
    let views: Vec<Value> = bargains.iter().map(|b| b.view(ctx.now)).collect();
    Ok(json!({ "bargains": views }))
}
