//! What the plugin stores, and where.
//!
//! Keys (one plugin's state in one shop):
//! - `tpl/<template_id>` → [`Template`]
//! - `issued/<template_id>` → coupons issued so far (i64)
//! - `claims/<template_id>/<member_id>` → that member's claims of the template (u32)
//! - `cpn/<coupon_id>` → [`Coupon`]
//! - `member/<member_id>/<coupon_id>` → `[]`, the index `list-coupons` scans
//! - `order/<order_id>` → the coupon ids the order reserved, so events find them
//! - `split/<split_id>` → [`Split`], one launched split (瓜分) with its members and shares
//! - `launches/<template_id>/<member_id>` → that member's splits of the template that have
//!   not failed (u32), what a split template's `per_member_limit` counts
//! - `open/<template_id>/<expires_at, 19 digits>/<split_id>` → `[]`, the template's open
//!   splits in expiry order, so a launch can settle the expired ones whose timer is late
//!
//! For a split template `issued/<template_id>` counts splits launched and not failed (its
//! `total_stock` is the number of splits that may be launched), not coupons.
//!
//! Counters live in their own keys so a template (and its product list) is never rewritten
//! by a claim.

use baseplate_sdk::{PluginError, Result, Timestamp, state};
/// Shared with every plugin: from the SDK.
pub use baseplate_sdk::{ids::new_id, money::display as money};
use serde::{Deserialize, Serialize};

pub const DAY_MS: i64 = 86_400_000;
pub const MINUTE_MS: i64 = 60_000;

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "lowercase")]
pub enum Discount {
    Fixed {
        amount: i64,
    },
    /// `off_bp` basis points off (2000 = 20% off), rounded down, at most `cap`.
    Percent {
        off_bp: i64,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        cap: Option<i64>,
    },
    /// An amount drawn in `min..=max` when the coupon is claimed.
    Random {
        min: i64,
        max: i64,
    },
    /// A split template (瓜分券): `participants` members (the launcher included) share
    /// `total` 分 once a split fills within `window_minutes`; each coupon is worth its
    /// member's share. Never claimed, only launched and joined (see `split.rs`).
    Split {
        total: i64,
        participants: u32,
        split: SplitMode,
        window_minutes: i64,
    },
}

/// How a split's total is divided among its members.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum SplitMode {
    /// Floor division; the remainder goes 1 分 each to the first members.
    Equal,
    /// Random shares of at least 1 分 each (see `split::random_shares`).
    Random,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "lowercase")]
pub enum Threshold {
    /// The eligible lines' amount must reach `min`.
    Amount { min: i64 },
    /// The eligible lines' quantities must reach `min`.
    Items { min: u32 },
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "lowercase")]
pub enum Validity {
    /// Usable from `start` to `end` (inclusive); no claims after `end`.
    Absolute { start: Timestamp, end: Timestamp },
    /// Usable for `days` days from the claim.
    Relative { days: i64 },
}

impl Validity {
    /// (valid from, valid until) of a coupon issued at `now`.
    pub fn window(&self, now: Timestamp) -> (Timestamp, Timestamp) {
        match *self {
            Validity::Absolute { start, end } => (start, end),
            Validity::Relative { days } => (now, now.saturating_add(days * DAY_MS)),
        }
    }
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Template {
    pub template_id: String,
    pub name: String,
    pub discount: Discount,
    pub threshold: Option<Threshold>,
    pub validity: Validity,
    pub total_stock: i64,
    pub per_member_limit: u32,
    /// `None`: every product.
    pub applicable_products: Option<Vec<String>>,
    pub stackable: bool,
    pub enabled: bool,
    pub created_at: Timestamp,
}

impl Template {
    pub fn applies_to(&self, product_id: &str) -> bool {
        self.applicable_products
            .as_ref()
            .is_none_or(|ids| ids.iter().any(|id| id == product_id))
    }

    pub fn load(id: &str) -> Result<Template> {
        state::get_json(&tpl_key(id))?
            .ok_or_else(|| PluginError::not_found(format!("coupon template {id} does not exist")))
    }

    pub fn save(&self) -> Result<()> {
        state::set_json(&tpl_key(&self.template_id), self)
    }

    pub fn issued(&self) -> Result<i64> {
        Ok(state::get_json(&issued_key(&self.template_id))?.unwrap_or(0))
    }

    /// What actions return: the template with its stock counters.
    pub fn view(&self) -> Result<serde_json::Value> {
        let issued = self.issued()?;
        let mut view =
            serde_json::to_value(self).map_err(|e| PluginError::internal(e.to_string()))?;
        view["issued"] = issued.into();
        view["remaining_stock"] = (self.total_stock - issued).max(0).into();
        Ok(view)
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Status {
    Available,
    /// Held by an unpaid order.
    Reserved,
    Used,
    /// Stored when a coupon comes back from an order after its validity; otherwise
    /// computed (see [`Coupon::status_at`]).
    Expired,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Coupon {
    pub coupon_id: String,
    pub template_id: String,
    pub member_id: String,
    /// The template's name at claim, for display.
    pub name: String,
    pub status: Status,
    pub valid_from: Timestamp,
    pub valid_until: Timestamp,
    /// The drawn amount of a random-amount coupon, or the member's share of a split.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub amount: Option<i64>,
    pub claimed_at: Timestamp,
    /// The order holding (reserved) or having used the coupon.
    #[serde(default)]
    pub order_id: Option<String>,
    /// The split that issued the coupon.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub split_id: Option<String>,
}

impl Coupon {
    /// The status the buyer sees: an available coupon past its validity is expired.
    pub fn status_at(&self, now: Timestamp) -> Status {
        match self.status {
            Status::Available if now > self.valid_until => Status::Expired,
            s => s,
        }
    }

    /// The coupon as actions return it, with its status at `now`.
    pub fn view(&self, now: Timestamp) -> Coupon {
        Coupon {
            status: self.status_at(now),
            ..self.clone()
        }
    }

    pub fn load(id: &str) -> Result<Option<Coupon>> {
        state::get_json(&format!("cpn/{id}"))
    }

    pub fn save(&self) -> Result<()> {
        state::set_json(&format!("cpn/{}", self.coupon_id), self)
    }

    /// Back from an order that will not be paid for: usable again unless its time is up.
    pub fn give_back(&mut self, now: Timestamp) {
        self.status = if now > self.valid_until {
            Status::Expired
        } else {
            Status::Available
        };
        self.order_id = None;
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum SplitStatus {
    /// Waiting for friends to join.
    Open,
    /// Filled: every member has a coupon of their share.
    Completed,
    /// Did not fill within its window; nobody got a coupon. Stored when the split is
    /// settled (by its timer or a later access); until then computed from the clock (see
    /// [`Split::status_at`]), so a late timer never lets a late join in.
    Failed,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct SplitMember {
    pub member_id: String,
    pub joined_at: Timestamp,
    /// Set when the split completes.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub share: Option<i64>,
    /// The coupon of `share`, set when the split completes.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub coupon_id: Option<String>,
}

/// One launched split. Its rule is copied from the template at launch, so the split reads
/// on its own.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Split {
    pub split_id: String,
    pub template_id: String,
    /// The template's name at launch, for display.
    pub name: String,
    pub launcher_id: String,
    pub total: i64,
    /// How many members fill it, the launcher included.
    pub participants: u32,
    pub split: SplitMode,
    pub status: SplitStatus,
    /// The launcher first, then friends in join order (the order equal remainders follow).
    pub members: Vec<SplitMember>,
    pub created_at: Timestamp,
    /// Joins are accepted while `now < expires_at`.
    pub expires_at: Timestamp,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub completed_at: Option<Timestamp>,
}

impl Split {
    /// The status at `now`: an open split whose window has passed has failed.
    pub fn status_at(&self, now: Timestamp) -> SplitStatus {
        match self.status {
            SplitStatus::Open if now >= self.expires_at => SplitStatus::Failed,
            s => s,
        }
    }

    /// What actions return: the split at `now`, with `joined` (members so far, the
    /// launcher included) and `needed` (places still open).
    pub fn view(&self, now: Timestamp) -> Result<serde_json::Value> {
        let split = Split {
            status: self.status_at(now),
            ..self.clone()
        };
        let mut view =
            serde_json::to_value(&split).map_err(|e| PluginError::internal(e.to_string()))?;
        let joined = self.members.len() as u32;
        view["joined"] = joined.into();
        view["needed"] = self.participants.saturating_sub(joined).into();
        Ok(view)
    }

    pub fn load(id: &str) -> Result<Option<Split>> {
        state::get_json(&split_key(id))
    }

    pub fn save(&self) -> Result<()> {
        state::set_json(&split_key(&self.split_id), self)
    }

    /// Its entry in the template's index of open splits.
    pub fn open_key(&self) -> String {
        format!(
            "{}{:019}/{}",
            open_prefix(&self.template_id),
            self.expires_at.max(0),
            self.split_id
        )
    }

    /// The name of the timer that settles it when its window ends.
    pub fn timer_name(&self) -> String {
        split_key(&self.split_id)
    }
}

pub fn split_key(id: &str) -> String {
    format!("split/{id}")
}

pub fn launches_key(template_id: &str, member_id: &str) -> String {
    format!("launches/{template_id}/{member_id}")
}

pub fn open_prefix(template_id: &str) -> String {
    format!("open/{template_id}/")
}

pub fn tpl_key(id: &str) -> String {
    format!("tpl/{id}")
}

pub fn issued_key(template_id: &str) -> String {
    format!("issued/{template_id}")
}

pub fn claims_key(template_id: &str, member_id: &str) -> String {
    format!("claims/{template_id}/{member_id}")
}

pub fn member_index_key(member_id: &str, coupon_id: &str) -> String {
    format!("member/{member_id}/{coupon_id}")
}

pub fn order_key(order_id: &str) -> String {
    format!("order/{order_id}")
}
