//! What the plugin stores, and where.
//!
//! Keys (one plugin's state in one shop):
//! - `d/<member_id>` → [`Distributor`]: an application and its status
//! - `b/<member_id>` → [`Binding`]: the distributor the member is bound to (once, for good)
//! - `n/<distributor_id>` → how many members are bound to them (i64)
//! - `s/<order_id>` → [`Chain`]: the chain snapshotted when the order was created, until it
//!   is paid or closed
//! - `o/<order_id>` → [`Book`]: a paid order's commission terms and what has been booked
//! - `e/<distributor_id>/<order_id>` → `1`: the index `my-commissions` scans
//! - `w/<member_id>/<withdrawal_id>` → [`Withdrawal`]
//! - `r/<member_id>/<request_id>` → the withdrawal id a `request_id` made, so a retried
//!   withdrawal applies once
//!
//! Balances are never stored here: the ledger is the one source of money.

use crate::config::Rate;
use baseplate_sdk::{PluginError, Result, Timestamp, state};
/// Shared with every plugin: from the SDK.
pub use baseplate_sdk::{ids::new_id, money::display as money};
use serde::{Deserialize, Serialize};

pub const DAY_MS: i64 = 86_400_000;
/// How far up a binding chain the loop check walks. Chains are loop-free by construction,
/// so this is only a bound on host calls; a deeper chain is refused rather than guessed at.
pub const MAX_CHAIN_WALK: usize = 1000;

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Status {
    Pending,
    Approved,
    Rejected,
}

impl Status {
    pub fn as_str(self) -> &'static str {
        match self {
            Status::Pending => "pending",
            Status::Approved => "approved",
            Status::Rejected => "rejected",
        }
    }
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Distributor {
    pub member_id: String,
    pub status: Status,
    pub applied_at: Timestamp,
    #[serde(default)]
    pub decided_at: Option<Timestamp>,
    /// Why staff rejected the application, if they said.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
}

impl Distributor {
    pub fn load(member_id: &str) -> Result<Option<Distributor>> {
        state::get_json(&format!("d/{member_id}"))
    }

    pub fn save(&self) -> Result<()> {
        state::set_json(&format!("d/{}", self.member_id), self)
    }

    /// Whether `member_id` is an approved distributor now.
    pub fn is_approved(member_id: &str) -> Result<bool> {
        Ok(Distributor::load(member_id)?.is_some_and(|d| d.status == Status::Approved))
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Via {
    /// The member opened the distributor's share link (`bind`).
    Link,
    /// The distributor invited the member (member-joined).
    Registration,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Binding {
    pub distributor_id: String,
    pub bound_at: Timestamp,
    pub via: Via,
}

impl Binding {
    pub fn load(member_id: &str) -> Result<Option<Binding>> {
        state::get_json(&format!("b/{member_id}"))
    }

    /// Binds `member_id` for good, and counts them in the distributor's team.
    pub fn create(member_id: &str, binding: &Binding) -> Result<()> {
        state::set_json(&format!("b/{member_id}"), binding)?;
        let key = team_key(&binding.distributor_id);
        let n: i64 = state::get_json(&key)?.unwrap_or(0);
        state::set_json(&key, &(n + 1))
    }
}

pub fn team_size(distributor_id: &str) -> Result<i64> {
    Ok(state::get_json(&team_key(distributor_id))?.unwrap_or(0))
}

fn team_key(distributor_id: &str) -> String {
    format!("n/{distributor_id}")
}

/// The distributor `member_id` is bound to.
pub fn upline(member_id: &str) -> Result<Option<String>> {
    Ok(Binding::load(member_id)?.map(|b| b.distributor_id))
}

/// Whether binding `member_id` to `distributor_id` would close a loop: true when
/// `member_id` is `distributor_id` or anywhere above it.
pub fn would_loop(member_id: &str, distributor_id: &str) -> Result<bool> {
    let mut current = Some(distributor_id.to_string());
    for _ in 0..MAX_CHAIN_WALK {
        match current {
            None => return Ok(false),
            Some(ref id) if id == member_id => return Ok(true),
            Some(id) => current = upline(&id)?,
        }
    }
    Err(PluginError::refused(format!(
        "the binding chain above {distributor_id} is deeper than {MAX_CHAIN_WALK}; refusing to bind"
    )))
}

/// The two members above a buyer: the distributor they are bound to, and that
/// distributor's own upline. Never more: commissions stop at two levels.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Chain {
    pub level1: Option<String>,
    pub level2: Option<String>,
}

impl Chain {
    /// The buyer's chain as the bindings are now.
    pub fn of(buyer: &str) -> Result<Chain> {
        let level1 = upline(buyer)?;
        let level2 = match &level1 {
            Some(l1) => upline(l1)?,
            None => None,
        };
        Ok(Chain { level1, level2 })
    }

    pub fn snapshot_key(order_id: &str) -> String {
        format!("s/{order_id}")
    }
}

/// One line of a paid order, as commission is computed on it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct LineTerms {
    pub line_id: String,
    pub product_id: String,
    pub quantity: u32,
    /// What the buyer paid for the line.
    pub final_amount: i64,
    /// The rate in force when the order was paid.
    pub rate: Rate,
}

/// A distributor's share of one order.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Earner {
    /// 1 (the buyer's distributor) or 2 (that distributor's upline).
    pub level: u8,
    pub distributor_id: String,
    /// The commission on the whole order, before any refund.
    pub gross: i64,
    /// What the ledger holds for this share now (gross less refunds' reversals).
    pub booked: i64,
    /// Reversals booked after the commission had settled (available at once, netted
    /// against the next payout).
    pub reversed_after_settlement: i64,
    /// How many ledger postings this share has had, and the latest one's id (the ledger
    /// keeps them all; this stays small however many partial refunds an order gets).
    pub postings: u32,
    #[serde(default)]
    pub last_posting: Option<String>,
}

/// A paid order's commissions: the terms fixed at payment, and what has been booked.
/// Every order event reconciles `booked` with what the terms give on the order's current
/// refunds, so events are idempotent and may arrive in any order.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Book {
    pub order_id: String,
    pub buyer_id: Option<String>,
    pub paid_at: Timestamp,
    /// When the commission settles: paid time + freeze days.
    pub available_at: Timestamp,
    /// Empty when nobody earns on the order.
    pub lines: Vec<LineTerms>,
    pub earners: Vec<Earner>,
}

impl Book {
    pub fn key(order_id: &str) -> String {
        format!("o/{order_id}")
    }

    pub fn load(order_id: &str) -> Result<Option<Book>> {
        state::get_json(&Book::key(order_id))
    }

    pub fn save(&self) -> Result<()> {
        state::set_json(&Book::key(&self.order_id), self)
    }
}

pub fn earning_key(distributor_id: &str, order_id: &str) -> String {
    format!("e/{distributor_id}/{order_id}")
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Withdrawal {
    pub withdrawal_id: String,
    pub member_id: String,
    pub amount: i64,
    pub at: Timestamp,
    pub posting_id: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub request_id: Option<String>,
}

impl Withdrawal {
    pub fn key(member_id: &str, withdrawal_id: &str) -> String {
        format!("w/{member_id}/{withdrawal_id}")
    }

    pub fn request_key(member_id: &str, request_id: &str) -> String {
        format!("r/{member_id}/{request_id}")
    }
}
