//! What the plugin stores, and where.
//!
//! Keys (one plugin's state in one shop):
//! - `session/<session_id>` → [`Session`]
//! - `item/<session_id>/<sku_id>` → [`Item`] (its `sold` counter is the live stock taken)
//! - `bought/<session_id>/<sku_id>/<member_id>` → units that member holds of the item (u32)
//! - `viewer/<session_id>/<member_id>` → when the member first entered the room
//! - `stats/<session_id>` → [`Stats`]
//! - `order/<order_id>` → [`LiveOrder`], what an order took, so events and the unpaid timer
//!   can undo exactly that, once
//!
//! Every id inside a key is 1..=64 characters without `/` (checked on input, or made by us
//! or the host), so the longest key stays far below the host's 256 bytes.

/// Shared with every plugin: from the SDK.
pub use baseplate_sdk::money::display as money;
use baseplate_sdk::{PluginError, Result, Timestamp, state};
use serde::{Deserialize, Serialize};

/// Where a session is, from its explicit start/end and the clock.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Status {
    Scheduled,
    Live,
    Ended,
}

impl Status {
    pub fn parse(s: &str) -> Option<Status> {
        match s {
            "scheduled" => Some(Status::Scheduled),
            "live" => Some(Status::Live),
            "ended" => Some(Status::Ended),
            _ => None,
        }
    }
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Session {
    pub session_id: String,
    pub title: String,
    pub starts_at: Timestamp,
    pub ends_at: Timestamp,
    /// Set by `start-session` (going live early, or before the clock gets there).
    pub started_at: Option<Timestamp>,
    /// Set by `end-session` (ending early, or cancelling a scheduled session).
    pub ended_at: Option<Timestamp>,
    pub created_at: Timestamp,
}

impl Session {
    /// The clock drives a session as scheduled (live from `starts_at`, ended at `ends_at`);
    /// staff can go live early and end early, never reopen. Ended wins over everything, so
    /// a session past its end sells nothing whoever forgot to press "end".
    pub fn status_at(&self, now: Timestamp) -> Status {
        if self.ended_at.is_some() || now >= self.ends_at {
            Status::Ended
        } else if self.started_at.is_some() || now >= self.starts_at {
            Status::Live
        } else {
            Status::Scheduled
        }
    }

    pub fn load(id: &str) -> Result<Session> {
        state::get_json(&session_key(id))?
            .ok_or_else(|| PluginError::not_found(format!("live session {id} does not exist")))
    }

    pub fn save(&self) -> Result<()> {
        state::set_json(&session_key(&self.session_id), self)
    }

    /// What actions return: the session with its status at `now`.
    pub fn view(&self, now: Timestamp) -> serde_json::Value {
        let mut v = serde_json::to_value(self).unwrap_or_default();
        v["status"] = serde_json::to_value(self.status_at(now)).unwrap_or_default();
        v
    }
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Item {
    pub session_id: String,
    pub sku_id: String,
    /// The product the merchant named when adding the item, if any (checked then).
    pub product_id: Option<String>,
    /// The price of one unit in the live room.
    pub live_price: i64,
    /// Units the session may sell in total.
    pub live_stock: i64,
    /// Units taken by orders that have not closed unpaid.
    pub sold: i64,
    /// Units one member may hold in this session.
    pub per_member_limit: u32,
    pub on_shelf: bool,
    pub added_at: Timestamp,
}

impl Item {
    pub fn remaining(&self) -> i64 {
        (self.live_stock - self.sold).max(0)
    }

    pub fn load(session_id: &str, sku_id: &str) -> Result<Option<Item>> {
        state::get_json(&item_key(session_id, sku_id))
    }

    pub fn save(&self) -> Result<()> {
        state::set_json(&item_key(&self.session_id, &self.sku_id), self)
    }

    /// Every item of a session, in SKU order.
    pub fn all(session_id: &str) -> Result<Vec<Item>> {
        Ok(state::scan_all_json(&item_key(session_id, ""))?
            .into_iter()
            .map(|(_, item)| item)
            .collect())
    }

    /// What actions return: the item with what is left.
    pub fn view(&self) -> serde_json::Value {
        let mut v = serde_json::to_value(self).unwrap_or_default();
        v["remaining"] = self.remaining().into();
        v
    }
}

/// Per-session counters. Each is moved by one kind of event for one order (or refund id)
/// at most once; see [`LiveOrder`].
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Stats {
    /// Unique members who entered the room.
    pub viewers: u64,
    /// Orders attributed to the session at creation.
    pub orders: u64,
    pub paid_orders: u64,
    /// What those orders paid, before refunds.
    pub paid_amount: i64,
    /// Refunds (by refund id) on the session's orders, and their total.
    pub refunds: u64,
    pub refund_amount: i64,
    /// Orders that closed unpaid (timeout or cancel) and gave their live stock back.
    pub closed_unpaid: u64,
}

impl Stats {
    pub fn load(session_id: &str) -> Result<Stats> {
        Ok(state::get_json(&stats_key(session_id))?.unwrap_or_default())
    }

    pub fn save(&self, session_id: &str) -> Result<()> {
        state::set_json(&stats_key(session_id), self)
    }

    /// Loads, changes and saves a session's counters.
    pub fn update(session_id: &str, change: impl FnOnce(&mut Stats)) -> Result<()> {
        let mut stats = Stats::load(session_id)?;
        change(&mut stats);
        stats.save(session_id)
    }
}

/// What one live order took and which of its events were already counted, so a timer or an
/// event delivered twice (or late) changes nothing the second time.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct LiveOrder {
    pub order_id: String,
    pub session_id: String,
    pub member_id: String,
    /// (sku id, units) of live stock taken, one entry per SKU.
    pub taken: Vec<(String, u32)>,
    pub paid: bool,
    /// The order closed unpaid and its stock went back.
    pub released: bool,
    /// Refund ids already counted.
    pub refunds: Vec<String>,
}

impl LiveOrder {
    pub fn load(order_id: &str) -> Result<Option<LiveOrder>> {
        state::get_json(&order_key(order_id))
    }

    pub fn save(&self) -> Result<()> {
        state::set_json(&order_key(&self.order_id), self)
    }
}

pub fn session_key(id: &str) -> String {
    format!("session/{id}")
}

pub fn item_key(session_id: &str, sku_id: &str) -> String {
    format!("item/{session_id}/{sku_id}")
}

pub fn bought_key(session_id: &str, sku_id: &str, member_id: &str) -> String {
    format!("bought/{session_id}/{sku_id}/{member_id}")
}

pub fn viewer_key(session_id: &str, member_id: &str) -> String {
    format!("viewer/{session_id}/{member_id}")
}

pub fn stats_key(session_id: &str) -> String {
    format!("stats/{session_id}")
}

pub fn order_key(order_id: &str) -> String {
    format!("order/{order_id}")
}

/// Units `member_id` holds of a session's item.
pub fn bought(session_id: &str, sku_id: &str, member_id: &str) -> Result<u32> {
    Ok(state::get_json(&bought_key(session_id, sku_id, member_id))?.unwrap_or(0))
}

pub fn set_bought(session_id: &str, sku_id: &str, member_id: &str, units: u32) -> Result<()> {
    let key = bought_key(session_id, sku_id, member_id);
    if units == 0 {
        state::delete(&key);
        Ok(())
    } else {
        state::set_json(&key, &units)
    }
}

/// A fresh session id `ls_<16 hex>` from the host's randomness, not in use (sessions are
/// stored under `session/`).
pub fn new_session_id() -> String {
    baseplate_sdk::ids::new_id("ls", "session")
}
