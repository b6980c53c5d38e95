//! What the plugin stores, and where.
//!
//! Keys (one plugin's state in one shop):
//! - `act/<activity_id>` → [`Activity`] (written at creation and when it ends, never by a help)
//! - `sold/<activity_id>` → units taken by live bargain orders (i64)
//! - `started/<activity_id>` → bargains started (u64), for the merchant's view
//! - `brg/<bargain_id>` → [`Bargain`], with its helps inline (bounded by `helpers_needed`)
//! - `live/<activity_id>/<member_id>` → the member's latest bargain id in the activity, so
//!   "one live bargain per member per activity" is one read
//! - `helped/<activity_id>/<helper_id>` → the helper's helps in the activity (u32)
//! - `bought/<activity_id>/<member_id>` → the member's bargain orders in the activity that
//!   did not close unpaid (u32), for the per-buyer limit
//! - `member/<member_id>/<bargain_id>` → `[]`, the index `my-bargains` scans
//! - `order/<order_id>` → [`OrderLink`], so order events find their bargain
//!
//! Counters live in their own keys so an activity is never rewritten by a help or an order.

use baseplate_sdk::{PluginError, Result, Timestamp, state};
/// Shared with every plugin: from the SDK.
pub use baseplate_sdk::{ids::new_id, money::display as money};
use serde::{Deserialize, Serialize};

pub const HOUR_MS: i64 = 3_600_000;

/// How much one help takes off.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "lowercase")]
pub enum Cut {
    /// A cut drawn uniformly in `min..=max` by the host's randomness.
    Random { min: i64, max: i64 },
    /// The same cut every time.
    Fixed { amount: i64 },
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Activity {
    pub activity_id: String,
    pub name: String,
    pub product_id: String,
    pub sku_id: String,
    pub start_price: i64,
    pub floor_price: i64,
    pub helpers_needed: u32,
    pub cut: Cut,
    /// How many bargains of this activity one member may help.
    pub helps_per_helper: u32,
    pub validity_hours: i64,
    /// true: the buyer may order at the current price at any time; false: only at the floor.
    pub buy_at_current_price: bool,
    /// Units the activity sells at bargained prices.
    pub stock: i64,
    /// Bargain orders one member may place in the activity.
    pub per_buyer_limit: u32,
    pub created_at: Timestamp,
    /// Set by `end-activity`: no new bargains or helps after it.
    #[serde(default)]
    pub ended_at: Option<Timestamp>,
}

impl Activity {
    pub fn load(id: &str) -> Result<Activity> {
        state::get_json(&format!("act/{id}"))?
            .ok_or_else(|| PluginError::not_found(format!("bargain activity {id} does not exist")))
    }

    pub fn save(&self) -> Result<()> {
        state::set_json(&format!("act/{}", self.activity_id), self)
    }

    pub fn sold(&self) -> Result<i64> {
        Ok(state::get_json(&sold_key(&self.activity_id))?.unwrap_or(0))
    }

    pub fn set_sold(&self, sold: i64) -> Result<()> {
        state::set_json(&sold_key(&self.activity_id), &sold)
    }

    pub fn started(&self) -> Result<u64> {
        Ok(state::get_json(&format!("started/{}", self.activity_id))?.unwrap_or(0))
    }

    pub fn set_started(&self, started: u64) -> Result<()> {
        state::set_json(&format!("started/{}", self.activity_id), &started)
    }

    pub fn ended(&self) -> bool {
        self.ended_at.is_some()
    }

    /// What actions return: the activity with its counters.
    pub fn view(&self) -> Result<serde_json::Value> {
        let sold = self.sold()?;
        let mut view =
            serde_json::to_value(self).map_err(|e| PluginError::internal(e.to_string()))?;
        view["status"] = if self.ended() { "ended" } else { "active" }.into();
        view["sold"] = sold.into();
        view["remaining_stock"] = (self.stock - sold).max(0).into();
        view["bargains_started"] = self.started()?.into();
        Ok(view)
    }
}

/// The stored part of a bargain's status; `expired` is derived from the clock (see
/// [`Bargain::status_at`]), so nothing has to run at the deadline.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Status {
    /// Above the floor, friends still cutting.
    Bargaining,
    /// At the floor (reached by cuts, or by the last of `helpers_needed` helpers).
    Succeeded,
    /// An order holds it (pending payment or paid); see `order_id`.
    Ordered,
    /// Past `expires_at` without an order. Only ever computed.
    Expired,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Help {
    pub helper_id: String,
    pub cut: i64,
    pub at: Timestamp,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Bargain {
    pub bargain_id: String,
    pub activity_id: String,
    pub member_id: String,
    pub sku_id: String,
    /// The activity's prices and helper count at the start, so the bargain reads alone.
    pub start_price: i64,
    pub floor_price: i64,
    pub helpers_needed: u32,
    /// The current price: `start_price` minus every cut, never below `floor_price`.
    pub price: i64,
    pub helps: Vec<Help>,
    pub status: Status,
    pub started_at: Timestamp,
    pub expires_at: Timestamp,
    #[serde(default)]
    pub succeeded_at: Option<Timestamp>,
    /// The order holding the bargain while `status` is `ordered`.
    #[serde(default)]
    pub order_id: Option<String>,
}

impl Bargain {
    pub fn load(id: &str) -> Result<Bargain> {
        state::get_json(&bargain_key(id))?
            .ok_or_else(|| PluginError::not_found(format!("bargain {id} does not exist")))
    }

    pub fn save(&self) -> Result<()> {
        state::set_json(&bargain_key(&self.bargain_id), self)
    }

    /// Expiry is checked by the clock wherever a bargain is used: validity runs from the
    /// start, and an ordered bargain no longer expires (its order decides its fate).
    pub fn status_at(&self, now: Timestamp) -> Status {
        match self.status {
            Status::Bargaining | Status::Succeeded if now >= self.expires_at => Status::Expired,
            s => s,
        }
    }

    pub fn helped_by(&self, member_id: &str) -> bool {
        self.helps.iter().any(|h| h.helper_id == member_id)
    }

    /// Back from an order that closed unpaid: orderable again (until it expires).
    pub fn reopen(&mut self) {
        self.status = if self.price <= self.floor_price {
            Status::Succeeded
        } else {
            Status::Bargaining
        };
        self.order_id = None;
    }

    /// The bargain as actions return it, with its status at `now`.
    pub fn view(&self, now: Timestamp) -> serde_json::Value {
        let mut view = serde_json::to_value(self).unwrap_or(serde_json::Value::Null);
        view["status"] = serde_json::to_value(self.status_at(now)).unwrap_or_default();
        view["helpers"] = self.helps.len().into();
        view["left_to_floor"] = (self.price - self.floor_price).into();
        view
    }
}

/// Whether an order's bargain unit is still out (open), or came back.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum LinkState {
    /// The order holds the unit and counts toward the buyer's limit.
    Open,
    /// Closed unpaid: unit returned, bargain orderable again.
    Closed,
    /// Fully refunded: unit returned; the bargain stays used.
    Refunded,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct OrderLink {
    pub bargain_id: String,
    pub activity_id: String,
    pub member_id: String,
    pub state: LinkState,
}

impl OrderLink {
    pub fn load(order_id: &str) -> Result<Option<OrderLink>> {
        state::get_json(&order_key(order_id))
    }

    pub fn save(&self, order_id: &str) -> Result<()> {
        state::set_json(&order_key(order_id), self)
    }
}

pub fn bargain_key(id: &str) -> String {
    format!("brg/{id}")
}

pub fn sold_key(activity_id: &str) -> String {
    format!("sold/{activity_id}")
}

pub fn live_key(activity_id: &str, member_id: &str) -> String {
    format!("live/{activity_id}/{member_id}")
}

pub fn helped_key(activity_id: &str, helper_id: &str) -> String {
    format!("helped/{activity_id}/{helper_id}")
}

pub fn bought_key(activity_id: &str, member_id: &str) -> String {
    format!("bought/{activity_id}/{member_id}")
}

pub fn member_index_key(member_id: &str, bargain_id: &str) -> String {
    format!("member/{member_id}/{bargain_id}")
}

pub fn order_key(order_id: &str) -> String {
    format!("order/{order_id}")
}

/// A counter stored as JSON, 0 when absent.
pub fn counter(key: &str) -> Result<u32> {
    Ok(state::get_json(key)?.unwrap_or(0))
}
