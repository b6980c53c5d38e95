//! What the plugin stores, and where.
//!
//! Keys (one plugin's state in one shop):
//! - `act/<activity_id>` → [`Activity`]
//! - `taken/<activity_id>` → activity stock (units) held by live or successful memberships
//! - `sku/<sku_id>/<activity_id>` → `[]`: the activities of a SKU (solo-purchase check)
//! - `grp/<group_id>` → [`Group`], its memberships inline (never more than its size)
//! - `agrp/<activity_id>/<group_id>` → `[]`: every group of an activity (staff listing)
//! - `open/<activity_id>/<group_id>` → `[]`: the groups open to join (member listing)
//! - `held/<activity_id>/<member_id>` → the id of the buyer's live group in the activity
//! - `units/<activity_id>/<member_id>` → units the buyer holds or bought (per-buyer limit)
//! - `order/<order_id>` → [`OrderLink`]: which group an order belongs to, for events
//!
//! Counters live in their own keys so the activity record is never rewritten by a checkout,
//! and the host serializes this plugin's calls per shop, so read-check-write on them is
//! atomic within one call.

use baseplate_sdk::{PluginError, Result, Timestamp, state};
/// Shared with every plugin: from the SDK.
pub use baseplate_sdk::{ids::new_id, money::display as money};
use serde::{Deserialize, Serialize};

pub const HOUR_MS: i64 = 3_600_000;

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ActivityStatus {
    Active,
    /// Ended early by staff: no new checkouts; groups already open run to their expiry.
    Ended,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Activity {
    pub activity_id: String,
    pub name: String,
    pub sku_id: String,
    /// Members (orders, not units) a group needs: 2..=100.
    pub group_size: u32,
    pub validity_hours: u32,
    /// What a joiner pays per unit (分).
    pub group_price: i64,
    /// What the leader pays per unit, if it differs.
    pub leader_price: Option<i64>,
    /// Checkouts are accepted in `start_at..end_at`.
    pub start_at: Timestamp,
    pub end_at: Timestamp,
    /// Units of the SKU in one order; `None`: no limit.
    pub per_order_limit: Option<u32>,
    /// Units one buyer may hold or have bought in this activity; `None`: no limit.
    pub per_buyer_limit: Option<u32>,
    /// Units the activity sells in all.
    pub stock: i64,
    /// False: during the window the SKU can only be bought through a group.
    pub allow_solo: bool,
    /// Joiners must not have paid an order in the shop before (老带新).
    pub new_customers_only: bool,
    /// 模拟成团: at expiry a group succeeds if paid members ≥ this ratio (basis points) of
    /// its size.
    pub virtual_completion_bp: Option<u32>,
    pub status: ActivityStatus,
    pub created_at: Timestamp,
    pub ended_at: Option<Timestamp>,
}

impl Activity {
    pub fn load(id: &str) -> Result<Activity> {
        state::get_json(&act_key(id))?.ok_or_else(|| {
            PluginError::not_found(format!("group-buy activity {id} does not exist"))
        })
    }

    pub fn save(&self) -> Result<()> {
        state::set_json(&act_key(&self.activity_id), self)
    }

    /// Whether checkouts are accepted at `now`.
    pub fn running_at(&self, now: Timestamp) -> bool {
        self.status == ActivityStatus::Active && self.start_at <= now && now < self.end_at
    }

    /// The unit price for the leader or a joiner.
    pub fn unit_price(&self, leader: bool) -> i64 {
        match (leader, self.leader_price) {
            (true, Some(p)) => p,
            _ => self.group_price,
        }
    }

    pub fn taken(&self) -> Result<i64> {
        counter(&taken_key(&self.activity_id))
    }

    /// What actions return: the activity, where it is in its life, and its stock.
    pub fn view(&self, now: Timestamp) -> Result<serde_json::Value> {
        let taken = self.taken()?;
        let mut view =
            serde_json::to_value(self).map_err(|e| PluginError::internal(e.to_string()))?;
        let phase = match self.status {
            ActivityStatus::Ended => "ended",
            ActivityStatus::Active if now < self.start_at => "scheduled",
            ActivityStatus::Active if now < self.end_at => "running",
            ActivityStatus::Active => "over",
        };
        view["phase"] = phase.into();
        view["stock_taken"] = taken.into();
        view["stock_left"] = (self.stock - taken).max(0).into();
        Ok(view)
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum GroupStatus {
    /// The leader's order exists but is unpaid: the clock has not started, nobody can join.
    Forming,
    /// The leader paid: joinable until `expires_at` while slots are left.
    Open,
    /// Filled (or virtually completed): every member's order was confirmed.
    Succeeded,
    /// Expired unfilled: every paid member was refunded, every unpaid order closed.
    Failed,
    /// Everybody left before the group settled (e.g. the leader never paid).
    Cancelled,
}

impl GroupStatus {
    pub fn live(self) -> bool {
        matches!(self, GroupStatus::Forming | GroupStatus::Open)
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Role {
    Leader,
    Joiner,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum MemberStatus {
    /// The order exists, unpaid; the slot and the stock are reserved for it.
    Pending,
    /// Paid, the order waits in awaiting_confirmation.
    Paid,
    /// The group succeeded; the order was confirmed.
    Confirmed,
    /// The group settled without this member; its paid order was refunded.
    Refunded,
    /// The group settled without this member; its unpaid order was closed.
    Closed,
}

impl MemberStatus {
    /// Holding a slot in a group that has not settled.
    pub fn active(self) -> bool {
        matches!(self, MemberStatus::Pending | MemberStatus::Paid)
    }
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Membership {
    pub member_id: String,
    pub order_id: String,
    pub role: Role,
    /// Units of the activity's SKU in the order.
    pub units: i64,
    pub status: MemberStatus,
    pub joined_at: Timestamp,
    pub paid_at: Option<Timestamp>,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Group {
    pub group_id: String,
    pub activity_id: String,
    /// Copied from the activity when the group is created, so the group's rules never
    /// change under its members.
    pub size: u32,
    pub validity_hours: u32,
    pub virtual_completion_bp: Option<u32>,
    pub leader_id: String,
    pub status: GroupStatus,
    /// Succeeded by virtual completion rather than by filling.
    #[serde(default)]
    pub virtual_completion: bool,
    pub created_at: Timestamp,
    pub opened_at: Option<Timestamp>,
    pub expires_at: Option<Timestamp>,
    pub settled_at: Option<Timestamp>,
    /// Members holding a slot, and, once settled, how each ended. A member who left
    /// before the group settled (order closed or refunded) is removed.
    pub members: Vec<Membership>,
}

impl Group {
    pub fn load(id: &str) -> Result<Group> {
        Group::find(id)?.ok_or_else(|| PluginError::not_found(format!("group {id} does not exist")))
    }

    pub fn find(id: &str) -> Result<Option<Group>> {
        state::get_json(&grp_key(id))
    }

    pub fn save(&self) -> Result<()> {
        state::set_json(&grp_key(&self.group_id), self)
    }

    /// Memberships holding a slot.
    pub fn active(&self) -> impl Iterator<Item = &Membership> {
        self.members.iter().filter(|m| m.status.active())
    }

    pub fn slots_left(&self) -> u32 {
        self.size.saturating_sub(self.active().count() as u32)
    }

    pub fn member(&self, member_id: &str) -> Option<&Membership> {
        self.active().find(|m| m.member_id == member_id)
    }

    /// What actions return. Staff also see order ids; members see who is in and how far.
    pub fn view(&self, now: Timestamp, staff: bool) -> serde_json::Value {
        let members: Vec<serde_json::Value> = self
            .members
            .iter()
            .map(|m| {
                let mut v = serde_json::json!({
                    "member_id": m.member_id,
                    "role": m.role,
                    "status": m.status,
                    "joined_at": m.joined_at,
                    "paid_at": m.paid_at,
                });
                if staff {
                    v["order_id"] = m.order_id.clone().into();
                    v["units"] = m.units.into();
                }
                v
            })
            .collect();
        let joinable = self.status == GroupStatus::Open
            && self.expires_at.is_some_and(|t| now < t)
            && self.slots_left() > 0;
        serde_json::json!({
            "group_id": self.group_id,
            "activity_id": self.activity_id,
            "status": self.status,
            "virtual_completion": self.virtual_completion,
            "size": self.size,
            "leader_id": self.leader_id,
            "members_count": self.active().count() + self.members.iter().filter(|m| m.status == MemberStatus::Confirmed).count(),
            "paid_count": self.members.iter().filter(|m| matches!(m.status, MemberStatus::Paid | MemberStatus::Confirmed)).count(),
            "slots_left": if self.status.live() { self.slots_left() } else { 0 },
            "joinable": joinable,
            "created_at": self.created_at,
            "opened_at": self.opened_at,
            "expires_at": self.expires_at,
            "settled_at": self.settled_at,
            "members": members,
        })
    }
}

/// Which group an order belongs to, written when the order is created.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct OrderLink {
    pub group_id: String,
    pub activity_id: String,
    pub member_id: String,
    pub role: Role,
}

impl OrderLink {
    pub fn find(order_id: &str) -> Result<Option<OrderLink>> {
        state::get_json(&order_key(order_id))
    }
}

pub fn act_key(id: &str) -> String {
    format!("act/{id}")
}

pub fn taken_key(activity_id: &str) -> String {
    format!("taken/{activity_id}")
}

pub fn sku_key(sku_id: &str, activity_id: &str) -> String {
    format!("sku/{sku_id}/{activity_id}")
}

pub fn grp_key(id: &str) -> String {
    format!("grp/{id}")
}

pub fn agrp_key(activity_id: &str, group_id: &str) -> String {
    format!("agrp/{activity_id}/{group_id}")
}

pub fn open_key(activity_id: &str, group_id: &str) -> String {
    format!("open/{activity_id}/{group_id}")
}

pub fn held_key(activity_id: &str, member_id: &str) -> String {
    format!("held/{activity_id}/{member_id}")
}

pub fn units_key(activity_id: &str, member_id: &str) -> String {
    format!("units/{activity_id}/{member_id}")
}

pub fn order_key(order_id: &str) -> String {
    format!("order/{order_id}")
}

/// The timer that settles a group at its expiry.
pub fn expiry_timer(group_id: &str) -> String {
    format!("expire/{group_id}")
}

/// An integer counter; absent reads as 0.
pub fn counter(key: &str) -> Result<i64> {
    Ok(state::get_json(key)?.unwrap_or(0))
}

/// Adds `delta` to a counter, never below zero (a release can't free more than was taken);
/// a counter back at zero is deleted so state does not grow with every buyer.
pub fn add_counter(key: &str, delta: i64) -> Result<i64> {
    let next = counter(key)?.saturating_add(delta).max(0);
    if next == 0 {
        state::delete(key);
    } else {
        state::set_json(key, &next)?;
    }
    Ok(next)
}
