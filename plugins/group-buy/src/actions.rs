//! The plugin's actions: activities (staff create, list, read and end them) and groups
//! (members find open groups to join; staff see every group).

use crate::Config;
use crate::fields::{Fields, boolean, int_in, text};
use crate::model::{Activity, ActivityStatus, Group, GroupStatus, act_key, new_id, sku_key};
use baseplate_sdk::{Actor, CallContext, PluginError, Result, log, state, to_json};
use serde_json::{Value, json};

/// Prices are capped so `price × quantity` can never overflow.
const PRICE: std::ops::RangeInclusive<i64> = 1..=1_000_000_000_000;

pub fn handle(ctx: &CallContext, actor: &Actor, name: &str, input: &str) -> Result<String> {
    let output = match name {
        "create-activity" => {
            actor.staff_only("create group-buy activities")?;
            create_activity(ctx, input)?
        }
        "list-activities" => {
            Fields::parse(input, &[])?.finish()?;
            list_activities(ctx)?
        }
        "get-activity" => Activity::load(&required_id(input, "activity_id")?)?.view(ctx.now)?,
        "end-activity" => {
            actor.staff_only("end group-buy activities")?;
            end_activity(ctx, &required_id(input, "activity_id")?)?
        }
        "get-group" => {
            Group::load(&required_id(input, "group_id")?)?.view(ctx.now, actor.is_trusted())
        }
        "list-groups" => list_groups(ctx, actor, input)?,
        _ => return Err(PluginError::unknown_action(name)),
    };
    to_json(&output)
}

fn required_id(input: &str, key: &'static str) -> Result<String> {
    let mut f = Fields::parse(input, &[key])?;
    let id = f.req(key, "an id", text(64))?;
    f.finish()?;
    Ok(id)
}

fn create_activity(ctx: &CallContext, input: &str) -> Result<Value> {
    let config = Config::from_ctx(ctx)?;
    let mut f = Fields::parse(
        input,
        &[
            "name",
            "sku_id",
            "group_size",
            "validity_hours",
            "group_price",
            "leader_price",
            "start_at",
            "end_at",
            "per_order_limit",
            "per_buyer_limit",
            "stock",
            "allow_solo",
            "new_customers_only",
            "virtual_completion_bp",
        ],
    )?;
    let name = f.req("name", "a name of 1..=100 characters", text(100))?;
    let sku_id = f.req("sku_id", "the SKU id the activity sells", text(64))?;
    let group_size = f.req(
        "group_size",
        "an integer 2..=100 (members)",
        int_in(2..=100),
    )?;
    let validity_hours = f
        .get(
            "validity_hours",
            "an integer 1..=720 (hours)",
            int_in(1..=720),
        )?
        .unwrap_or(i64::from(config.default_validity_hours));
    let group_price = f.req("group_price", "an integer > 0 (分 per unit)", int_in(PRICE))?;
    let leader_price = f.get(
        "leader_price",
        "null or an integer 1..=`group_price` (分 per unit; the leader never pays more)",
        int_in(1..=group_price),
    )?;
    let start_at = f.req(
        "start_at",
        "a time in ms since the epoch",
        int_in(0..=i64::MAX),
    )?;
    let end_at = f.req(
        "end_at",
        "a time in ms after `start_at` and after now",
        int_in(start_at.max(ctx.now).saturating_add(1)..=i64::MAX),
    )?;
    let per_order_limit = f.get(
        "per_order_limit",
        "null (no limit) or an integer 1..=999 (units)",
        int_in(1..=999),
    )?;
    let per_buyer_limit = f.get(
        "per_buyer_limit",
        "null (no limit) or an integer ≥ `per_order_limit`, up to 100000 (units)",
        int_in(per_order_limit.unwrap_or(1)..=100_000),
    )?;
    let stock = f.req(
        "stock",
        "an integer 1..=100000000 (units)",
        int_in(1..=100_000_000),
    )?;
    let allow_solo = f
        .get("allow_solo", "true or false", boolean)?
        .unwrap_or(true);
    let new_customers_only = f
        .get("new_customers_only", "true or false", boolean)?
        .unwrap_or(false);
    let virtual_completion_bp = f.get(
        "virtual_completion_bp",
        "null (off) or an integer 1..=9999 (basis points of the group size that must have paid)",
        int_in(1..=9999),
    )?;
    f.finish()?;

    // Two live activities on one SKU at once would make the solo rule and the buyer's
    // choice ambiguous.
    let prefix = format!("sku/{sku_id}/");
    for (key, _) in state::scan_all(&prefix) {
        let Some(other) = state::get_json::<Activity>(&act_key(&key[prefix.len()..]))? else {
            continue;
        };
        if other.sku_id == sku_id
            && other.status == ActivityStatus::Active
            && other.start_at < end_at
            && start_at < other.end_at
        {
            return Err(PluginError::refused(format!(
                "SKU {sku_id} already has group-buy activity {} in an overlapping window; end it or pick another window",
                other.activity_id
            )));
        }
    }

    let activity = Activity {
        activity_id: new_id("act", "act"),
        name,
        sku_id,
        group_size: group_size as u32,
        validity_hours: validity_hours as u32,
        group_price,
        leader_price,
        start_at,
        end_at,
        per_order_limit: per_order_limit.map(|n| n as u32),
        per_buyer_limit: per_buyer_limit.map(|n| n as u32),
        stock,
        allow_solo,
        new_customers_only,
        virtual_completion_bp: virtual_completion_bp.map(|n| n as u32),
        status: ActivityStatus::Active,
        created_at: ctx.now,
        ended_at: None,
    };
    activity.save()?;
    state::set(&sku_key(&activity.sku_id, &activity.activity_id), b"[]");
    log::info(&format!(
        "created group-buy activity {} ({}) on SKU {}",
        activity.activity_id, activity.name, activity.sku_id
    ));
    activity.view(ctx.now)
}

fn list_activities(ctx: &CallContext) -> Result<Value> {
    let mut activities: Vec<Activity> = state::scan_all_json("act/")?
        .into_iter()
        .map(|(_, a)| a)
        .collect();
    activities.sort_by(|a, b| (a.created_at, &a.activity_id).cmp(&(b.created_at, &b.activity_id)));
    let views = activities
        .iter()
        .map(|a| a.view(ctx.now))
        .collect::<Result<Vec<_>>>()?;
    Ok(json!({ "activities": views }))
}

/// Stops new checkouts now. Groups already open run to their own expiry: their members
/// paid in good faith and keep their chance to fill (or complete virtually).
fn end_activity(ctx: &CallContext, id: &str) -> Result<Value> {
    let mut activity = Activity::load(id)?;
    if activity.status != ActivityStatus::Ended {
        activity.status = ActivityStatus::Ended;
        activity.ended_at = Some(ctx.now);
        activity.save()?;
        log::info(&format!("ended group-buy activity {id}"));
    }
    activity.view(ctx.now)
}

const STATUSES: &str = "\"open\", \"forming\", \"succeeded\", \"failed\", \"cancelled\" or \"all\"";

/// Members get the groups they can join now (open, not expired, with a free slot);
/// staff may ask for any status.
fn list_groups(ctx: &CallContext, actor: &Actor, input: &str) -> Result<Value> {
    let mut f = Fields::parse(input, &["activity_id", "status"])?;
    let activity_id = f.req("activity_id", "a group-buy activity id", text(64))?;
    let status = f
        .get("status", STATUSES, text(16))?
        .unwrap_or_else(|| "open".into());
    f.finish()?;
    let wanted: Option<GroupStatus> = match status.as_str() {
        "all" => None,
        s => Some(
            serde_json::from_value(Value::String(s.into()))
                .map_err(|_| PluginError::invalid(format!("`status` must be {STATUSES}")))?,
        ),
    };
    if !actor.is_trusted() && wanted != Some(GroupStatus::Open) {
        return Err(PluginError::refused(
            "members can list open groups only (`status`: \"open\")",
        ));
    }
    Activity::load(&activity_id)?;
    // Open groups have their own index, so the member listing never scans settled ones.
    let index = if wanted == Some(GroupStatus::Open) {
        format!("open/{activity_id}/")
    } else {
        format!("agrp/{activity_id}/")
    };
    let mut groups = Vec::new();
    for (key, _) in state::scan_all(&index) {
        let Some(group) = Group::find(&key[index.len()..])? else {
            continue;
        };
        if group.activity_id != activity_id || wanted.is_some_and(|w| w != group.status) {
            continue;
        }
        let view = group.view(ctx.now, actor.is_trusted());
        if wanted == Some(GroupStatus::Open) && !actor.is_trusted() && view["joinable"] != true {
            continue;
        }
        groups.push((group.expires_at, group.created_at, view));
    }
    // Soonest to expire first: those are the groups a buyer can help finish.
    groups.sort_by(|a, b| (a.0.unwrap_or(i64::MAX), a.1).cmp(&(b.0.unwrap_or(i64::MAX), b.1)));
    Ok(json!({ "groups": groups.into_iter().map(|g| g.2).collect::<Vec<_>>() }))
}
