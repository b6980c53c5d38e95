//! Group-buy at checkout: the group (or leader) price at the item stage, the no-solo rule,
//! and — in the checkout's transaction — opening or joining the group: window, limits,
//! stock, the group's slots and the new-customer rule are checked there, against current
//! state, because two checkouts may race for the same last slot or unit.

use crate::fields::{Fields, text};
use crate::groups::sync;
use crate::model::{
    Activity, Group, GroupStatus, MemberStatus, Membership, OrderLink, Role, add_counter, agrp_key,
    counter, held_key, money, new_id, order_key, taken_key, units_key,
};
use baseplate_sdk::{
    Adjustment, Attribute, CallContext, Cart, Order, PluginError, Result, log, orders, shop, state,
};

/// The buyer's input: `{"activity_id": …}` opens a group as its leader,
/// `{"activity_id": …, "group_id": …}` joins one.
pub struct Input {
    pub activity_id: String,
    pub group_id: Option<String>,
}

impl Input {
    pub fn parse(input: Option<&str>) -> Result<Option<Input>> {
        let Some(input) = input else {
            return Ok(None);
        };
        let read = || {
            let mut f = Fields::parse(input, &["activity_id", "group_id"])?;
            let activity_id = f.req("activity_id", "a group-buy activity id", text(64))?;
            let group_id = f.get(
                "group_id",
                "a group id to join (leave it out to open a new group)",
                text(64),
            )?;
            f.finish()?;
            Ok(Input {
                activity_id,
                group_id,
            })
        };
        read().map(Some).map_err(|e: PluginError| {
            PluginError::invalid(format!("plugins.group-buy: {}", e.message()))
        })
    }

    fn leader(&self) -> bool {
        self.group_id.is_none()
    }
}

fn no_item(activity: &Activity) -> PluginError {
    PluginError::refused(format!(
        "the cart has no item of SKU {} for group-buy activity {}",
        activity.sku_id, activity.activity_id
    ))
}

/// The item stage: each line of the activity's SKU costs the group price per unit (the
/// leader price for a leader). A line already at or below that price is left alone — a
/// group price never raises a price.
pub fn price(ctx: &CallContext, cart: &Cart) -> Result<Vec<Adjustment>> {
    let Some(input) = Input::parse(cart.input.as_deref())? else {
        return Ok(Vec::new());
    };
    let activity = Activity::load(&input.activity_id)?;
    let unit = activity.unit_price(input.leader());
    let label = if input.leader() && activity.leader_price.is_some() {
        format!("Group leader price {}", money(unit, &ctx.currency))
    } else {
        format!("Group price {}", money(unit, &ctx.currency))
    };
    let mut adjustments = Vec::new();
    let mut found = false;
    for line in cart.lines.iter().filter(|l| l.sku_id == activity.sku_id) {
        found = true;
        let target = unit.saturating_mul(i64::from(line.quantity));
        let off = line.amount.saturating_sub(target);
        if off > 0 {
            adjustments.push(Adjustment {
                line: line.index,
                amount: off,
                label: label.clone(),
                reference: Some(
                    input
                        .group_id
                        .clone()
                        .unwrap_or_else(|| activity.activity_id.clone()),
                ),
            });
        }
    }
    if !found {
        return Err(no_item(&activity));
    }
    Ok(adjustments)
}

/// The activity-level rules of a checkout of `units` by `member_id`: window, per-order and
/// per-buyer limits, stock. Reads only.
fn check_activity(
    ctx: &CallContext,
    activity: &Activity,
    member_id: &str,
    units: i64,
) -> Result<()> {
    let id = &activity.activity_id;
    if !activity.running_at(ctx.now) {
        return Err(PluginError::refused(if ctx.now < activity.start_at {
            format!("group-buy activity {id} has not started yet")
        } else {
            format!("group-buy activity {id} has ended")
        }));
    }
    if let Some(limit) = activity.per_order_limit
        && units > i64::from(limit)
    {
        return Err(PluginError::refused(format!(
            "group-buy activity {id} allows at most {limit} per order ({units} in the cart)"
        )));
    }
    if let Some(limit) = activity.per_buyer_limit {
        let had = counter(&units_key(id, member_id))?;
        if had + units > i64::from(limit) {
            return Err(PluginError::refused(format!(
                "group-buy activity {id} allows at most {limit} per buyer; you already have {had}"
            )));
        }
    }
    let left = activity.stock - activity.taken()?;
    if units > left {
        return Err(PluginError::refused(format!(
            "group-buy activity {id} has {} left, {units} asked",
            left.max(0)
        )));
    }
    Ok(())
}

fn units_in(sku_id: &str, quantities: impl Iterator<Item = (String, u32)>) -> i64 {
    quantities
        .filter(|(s, _)| s == sku_id)
        .map(|(_, q)| i64::from(q))
        .sum()
}

/// Refuses a line bought outside a group while a no-solo activity of its SKU is running.
fn check_solo(ctx: &CallContext, sku_id: &str) -> Result<()> {
    let prefix = format!("sku/{sku_id}/");
    for (key, _) in state::scan_all(&prefix) {
        let Ok(activity) = Activity::load(&key[prefix.len()..]) else {
            continue;
        };
        if activity.sku_id == sku_id && !activity.allow_solo && activity.running_at(ctx.now) {
            return Err(PluginError::refused(format!(
                "SKU {sku_id} is sold only in groups during group-buy activity {} ({}); \
                 open or join a group with plugins.group-buy",
                activity.activity_id, activity.name
            )));
        }
    }
    Ok(())
}

/// Refuses early what can be known before the order exists: bad input, solo purchases of
/// a group-only SKU, an activity outside its window, limits and stock. The group itself
/// is checked in [`order_created`], under the same transaction that takes its slot.
pub fn validate_checkout(ctx: &CallContext, cart: &Cart) -> Result<()> {
    let input = Input::parse(cart.input.as_deref())?;
    let activity = match &input {
        Some(i) => Some(Activity::load(&i.activity_id)?),
        None => None,
    };
    for line in &cart.lines {
        if activity.as_ref().is_some_and(|a| a.sku_id == line.sku_id) {
            continue;
        }
        check_solo(ctx, &line.sku_id)?;
    }
    let Some(activity) = activity else {
        return Ok(());
    };
    let Some(member_id) = cart.member_id.as_deref() else {
        return Err(PluginError::refused(
            "sign in as a member to take part in a group-buy",
        ));
    };
    let units = units_in(
        &activity.sku_id,
        cart.lines.iter().map(|l| (l.sku_id.clone(), l.quantity)),
    );
    if units == 0 {
        return Err(no_item(&activity));
    }
    check_activity(ctx, &activity, member_id, units)
}

fn attributes(link: &OrderLink) -> Vec<Attribute> {
    let role = match link.role {
        Role::Leader => "leader",
        Role::Joiner => "joiner",
    };
    vec![
        Attribute {
            key: "group_id".into(),
            value: link.group_id.clone(),
        },
        Attribute {
            key: "activity_id".into(),
            value: link.activity_id.clone(),
        },
        Attribute {
            key: "role".into(),
            value: role.into(),
        },
    ]
}

/// The buyer's live group in the activity, if any (after bringing it up to date).
fn live_group_of(ctx: &CallContext, activity_id: &str, member_id: &str) -> Result<Option<Group>> {
    let key = held_key(activity_id, member_id);
    let Some(group_id) = state::get_json::<String>(&key)? else {
        return Ok(None);
    };
    let Some(mut group) = Group::find(&group_id)? else {
        state::delete(&key);
        return Ok(None);
    };
    sync(&mut group, ctx.now)?;
    group.save()?;
    if group.status.live() && group.member(member_id).is_some() {
        Ok(Some(group))
    } else {
        // A stale mark (the member left or the group settled): forget it.
        state::delete(&key);
        Ok(None)
    }
}

/// The group `group_id` of `activity`, if a new member can join it now.
fn joinable(ctx: &CallContext, activity: &Activity, group_id: &str) -> Result<Group> {
    let mut group = Group::load(group_id)?;
    if group.activity_id != activity.activity_id {
        return Err(PluginError::invalid(format!(
            "plugins.group-buy: group {group_id} belongs to activity {}, not {}",
            group.activity_id, activity.activity_id
        )));
    }
    // Orders that closed since the last event free their slots before we count them.
    sync(&mut group, ctx.now)?;
    let refuse = |why: &str| Err(PluginError::refused(format!("group {group_id} {why}")));
    match group.status {
        GroupStatus::Open => {}
        GroupStatus::Forming => return refuse("is not open yet: its leader has not paid"),
        GroupStatus::Succeeded => return refuse("is already complete"),
        GroupStatus::Failed => return refuse("has failed"),
        GroupStatus::Cancelled => return refuse("was cancelled"),
    }
    if group.expires_at.is_none_or(|t| ctx.now >= t) {
        return refuse("has expired");
    }
    if group.slots_left() == 0 {
        return Err(PluginError::refused(format!(
            "group {group_id} is full ({} of {} places taken)",
            group.size, group.size
        )));
    }
    Ok(group)
}

/// In the checkout's transaction: opens a group (no `group_id`) or joins one, takes the
/// slot and the activity stock, and holds the order so that, once paid, it waits in
/// awaiting_confirmation until the group settles. Refusing here rolls the order back.
pub fn order_created(
    ctx: &CallContext,
    order: &Order,
    input: Option<&str>,
) -> Result<Vec<Attribute>> {
    let Some(input) = Input::parse(input)? else {
        return Ok(Vec::new());
    };
    // The host may retry a whole checkout; an order already recorded keeps its group.
    if let Some(link) = OrderLink::find(&order.id)? {
        return Ok(attributes(&link));
    }
    let activity = Activity::load(&input.activity_id)?;
    let Some(member_id) = order.member_id.clone() else {
        return Err(PluginError::refused(
            "sign in as a member to take part in a group-buy",
        ));
    };
    let units = units_in(
        &activity.sku_id,
        order.lines.iter().map(|l| (l.sku_id.clone(), l.quantity)),
    );
    if units == 0 {
        return Err(no_item(&activity));
    }
    check_activity(ctx, &activity, &member_id, units)?;
    if let Some(live) = live_group_of(ctx, &activity.activity_id, &member_id)? {
        return Err(PluginError::refused(format!(
            "you are already in group {} of activity {}; finish it before starting or joining another",
            live.group_id, activity.activity_id
        )));
    }
    let (mut group, role) = match &input.group_id {
        None => {
            let group_id = new_id("grp", "grp");
            let group = Group {
                group_id: group_id.clone(),
                activity_id: activity.activity_id.clone(),
                size: activity.group_size,
                validity_hours: activity.validity_hours,
                virtual_completion_bp: activity.virtual_completion_bp,
                leader_id: member_id.clone(),
                status: GroupStatus::Forming,
                virtual_completion: false,
                created_at: ctx.now,
                opened_at: None,
                expires_at: None,
                settled_at: None,
                members: Vec::new(),
            };
            state::set(&agrp_key(&activity.activity_id, &group_id), b"[]");
            (group, Role::Leader)
        }
        Some(group_id) => {
            let group = joinable(ctx, &activity, group_id)?;
            if group.members.iter().any(|m| m.member_id == member_id) {
                return Err(PluginError::refused(format!(
                    "you have already taken part in group {group_id}"
                )));
            }
            if activity.new_customers_only {
                let member = shop::member(&member_id).ok_or_else(|| {
                    PluginError::not_found(format!("member {member_id} does not exist"))
                })?;
                if member.paid_orders > 0 {
                    return Err(PluginError::refused(format!(
                        "group-buy activity {} is for new customers only: \
                         joiners must not have paid an order in this shop before",
                        activity.activity_id
                    )));
                }
            }
            (group, Role::Joiner)
        }
    };
    group.members.push(Membership {
        member_id: member_id.clone(),
        order_id: order.id.clone(),
        role,
        units,
        status: MemberStatus::Pending,
        joined_at: ctx.now,
        paid_at: None,
    });
    add_counter(&taken_key(&activity.activity_id), units)?;
    add_counter(&units_key(&activity.activity_id, &member_id), units)?;
    state::set_json(
        &held_key(&activity.activity_id, &member_id),
        &group.group_id,
    )?;
    let link = OrderLink {
        group_id: group.group_id.clone(),
        activity_id: activity.activity_id.clone(),
        member_id: member_id.clone(),
        role,
    };
    state::set_json(&order_key(&order.id), &link)?;
    group.save()?;
    orders::hold(&order.id)?;
    log::info(&format!(
        "order {} {} group {} ({units} units)",
        order.id,
        if role == Role::Leader {
            "opens"
        } else {
            "joins"
        },
        group.group_id
    ));
    Ok(attributes(&link))
}
