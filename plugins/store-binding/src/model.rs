//! What the plugin stores, and where.
//!
//! Keys (one plugin's state in one shop):
//! - `outlet/<outlet_id>` → [`Outlet`]
//! - `emp/<employee_id>` → [`Employee`]
//! - `code/<CODE>` → the employee id the code belongs to (kept after dismissal, so a
//!   dismissed employee's code is refused by name rather than reported unknown)
//! - `bind/<member_id>` → the member's current (or last, lapsed) [`Binding`]
//! - `emp-bind/<employee_id>/<member_id>` → the binding's `expires_at` (null: permanent),
//!   the index `list-bindings` and `employee-stats` scan for one employee; it moves with
//!   the binding, so it only ever lists the employee a member is (or was last) bound to
//! - `order/<order_id>` → [`OrderRecord`] of an attributed order, so payment and refund
//!   events find its attribution and reward progress
//! - `stats/<employee_id>` → [`Stats`]
//!
//! Employee and outlet ids are ours (`emp_…`, `out_…`, no `/`), so the prefix scans under
//! them never pick up another employee's entries.

/// Shared with every plugin: from the SDK.
pub use baseplate_sdk::ids::new_id;
use baseplate_sdk::{PluginError, Result, Timestamp, host, state};
use serde::{Deserialize, Serialize};

pub const DAY_MS: i64 = 86_400_000;

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Outlet {
    pub outlet_id: String,
    pub name: String,
    pub created_at: Timestamp,
}

impl Outlet {
    pub fn load(id: &str) -> Result<Outlet> {
        state::get_json(&format!("outlet/{id}"))?
            .ok_or_else(|| PluginError::not_found(format!("outlet {id} does not exist")))
    }

    pub fn save(&self) -> Result<()> {
        state::set_json(&format!("outlet/{}", self.outlet_id), self)
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum EmployeeStatus {
    Active,
    Dismissed,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Employee {
    pub employee_id: String,
    pub outlet_id: String,
    pub name: String,
    /// The short code printed in the employee's QR code and share links.
    pub code: String,
    pub status: EmployeeStatus,
    pub created_at: Timestamp,
    #[serde(default)]
    pub dismissed_at: Option<Timestamp>,
}

impl Employee {
    pub fn find(id: &str) -> Result<Option<Employee>> {
        state::get_json(&format!("emp/{id}"))
    }

    pub fn load(id: &str) -> Result<Employee> {
        Employee::find(id)?
            .ok_or_else(|| PluginError::not_found(format!("employee {id} does not exist")))
    }

    /// The employee whose code is `code` (case and surrounding spaces ignored).
    pub fn by_code(code: &str) -> Result<Employee> {
        let code = normalize_code(code);
        let id: Option<String> = state::get_json(&code_key(&code))?;
        match id {
            Some(id) => Employee::load(&id),
            None => Err(PluginError::not_found(format!(
                "no employee has the code {code}"
            ))),
        }
    }

    pub fn save(&self) -> Result<()> {
        state::set_json(&format!("emp/{}", self.employee_id), self)
    }
}

/// How a member became bound.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Via {
    /// Scanned the employee's code.
    Code,
    /// Opened the employee's share link.
    Link,
    /// Bought the paid membership with the employee's code.
    Membership,
}

/// A member's binding to an employee (and the employee's outlet).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Binding {
    pub member_id: String,
    pub employee_id: String,
    pub outlet_id: String,
    /// How the last (re)binding happened.
    pub via: Via,
    /// When this employee first bound the member (kept across refreshes).
    pub first_bound_at: Timestamp,
    /// The last (re)binding: validity and protection run from here.
    pub bound_at: Timestamp,
    /// `None`: permanent.
    pub expires_at: Option<Timestamp>,
    /// Until then no other employee can take the member.
    pub protected_until: Timestamp,
    /// The employee this one took the member over from, if any.
    #[serde(default)]
    pub previous_employee_id: Option<String>,
}

impl Binding {
    pub fn load(member_id: &str) -> Result<Option<Binding>> {
        state::get_json(&bind_key(member_id))
    }

    /// Valid at `now`: the order attribution and the takeover rules see only these.
    pub fn active_at(&self, now: Timestamp) -> bool {
        self.expires_at.is_none_or(|end| now < end)
    }

    pub fn protected_at(&self, now: Timestamp) -> bool {
        now < self.protected_until
    }

    /// The binding as actions return it, with its status at `now`.
    pub fn view(&self, now: Timestamp) -> serde_json::Value {
        let mut v = serde_json::to_value(self).unwrap_or_default();
        v["status"] = if self.active_at(now) {
            "active"
        } else {
            "expired"
        }
        .into();
        v["protected"] = (self.active_at(now) && self.protected_at(now)).into();
        v
    }
}

/// The paid membership an attributed order bought, with the terms in force when it was
/// created and how far its reward has been booked.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct MembershipTerms {
    pub sku_id: String,
    /// The order's lines of the membership SKU.
    pub line_ids: Vec<String>,
    pub quantity: u32,
    /// The SKU's price when the order was created.
    pub unit_price: i64,
    /// What the buyer pays for those lines: the base refunds are measured against.
    pub base: i64,
    /// Per membership, 分.
    pub employee_share: i64,
    pub outlet_share: i64,
    /// Booked on payment (shares × quantity); 0 before.
    #[serde(default)]
    pub rewarded_employee: i64,
    #[serde(default)]
    pub rewarded_outlet: i64,
    /// Refunded so far on the membership lines.
    #[serde(default)]
    pub refunded_base: i64,
    #[serde(default)]
    pub reversed_employee: i64,
    #[serde(default)]
    pub reversed_outlet: i64,
    /// Why no reward was booked (e.g. the shares exceed the SKU price).
    #[serde(default)]
    pub skipped: Option<String>,
}

/// An order attributed to an employee, as `order-created` saw it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct OrderRecord {
    pub order_id: String,
    pub member_id: String,
    pub employee_id: String,
    pub outlet_id: String,
    pub created_at: Timestamp,
    /// Why the checkout's `employee_code` did not (re)bind the member, if it did not.
    #[serde(default)]
    pub bind_refused: Option<String>,
    #[serde(default)]
    pub membership: Option<MembershipTerms>,
    #[serde(default)]
    pub paid: bool,
    #[serde(default)]
    pub paid_amount: i64,
    /// Refunds already applied: a redelivered refund event is recognised by its id.
    #[serde(default)]
    pub refund_ids: Vec<String>,
    #[serde(default)]
    pub refunded_amount: i64,
}

impl OrderRecord {
    pub fn load(order_id: &str) -> Result<Option<OrderRecord>> {
        state::get_json(&format!("order/{order_id}"))
    }

    pub fn save(&self) -> Result<()> {
        state::set_json(&format!("order/{}", self.order_id), self)
    }
}

/// Counters per employee, for `employee-stats`.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Stats {
    /// Members newly bound or taken over (refreshes not counted).
    pub bindings: u64,
    /// Orders attributed at creation.
    pub orders: u64,
    pub paid_orders: u64,
    pub paid_amount: i64,
    pub refunded_amount: i64,
    /// Memberships sold (paid), by quantity.
    pub memberships: u64,
}

impl Stats {
    pub fn update(employee_id: &str, change: impl FnOnce(&mut Stats)) -> Result<()> {
        let key = format!("stats/{employee_id}");
        let mut stats: Stats = state::get_json(&key)?.unwrap_or_default();
        change(&mut stats);
        state::set_json(&key, &stats)
    }

    pub fn load(employee_id: &str) -> Result<Stats> {
        Ok(state::get_json(&format!("stats/{employee_id}"))?.unwrap_or_default())
    }
}

pub fn bind_key(member_id: &str) -> String {
    format!("bind/{member_id}")
}

pub fn emp_bind_key(employee_id: &str, member_id: &str) -> String {
    format!("emp-bind/{employee_id}/{member_id}")
}

pub fn code_key(code: &str) -> String {
    format!("code/{code}")
}

/// Codes avoid look-alikes (0/O, 1/I/L) so a code read aloud or typed is right first time.
pub const CODE_ALPHABET: &[u8] = b"23456789ABCDEFGHJKMNPQRSTUVWXYZ";
/// 31⁶ ≈ 887 million codes: short enough to type, sparse enough that guessing one is rare.
pub const CODE_LEN: usize = 6;

pub fn normalize_code(code: &str) -> String {
    code.trim().to_ascii_uppercase()
}

/// A fresh employee code from the host's randomness, unused in this shop.
pub fn new_code() -> String {
    loop {
        let code: String = (0..CODE_LEN)
            .map(|_| {
                let i = host::random_range(0, CODE_ALPHABET.len() as i64 - 1) as usize;
                CODE_ALPHABET[i] as char
            })
            .collect();
        if state::get(&code_key(&code)).is_none() {
            return code;
        }
    }
}
