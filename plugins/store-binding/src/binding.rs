//! The binding rules, in one place for the `bind` action and the membership checkout.
//!
//! A (re)binding starts a new validity and protection period from now. The host runs one
//! call of this plugin per shop at a time, so deciding from the stored binding and writing
//! the new one cannot interleave with another binding of the same member: of two employees
//! racing for one member, the second finds the first's binding and is judged against it.

use crate::model::{Binding, DAY_MS, Employee, EmployeeStatus, Stats, Via, bind_key, emp_bind_key};
use crate::{Config, Takeover};
use baseplate_sdk::{PluginError, Result, Timestamp, log, state};

/// What a binding attempt does.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Decision {
    /// No valid binding: the member is bound afresh.
    New,
    /// Bound to the same employee: validity and protection start again from now.
    Refresh,
    /// Bound to another employee whom the policy lets this one replace.
    TakeOver { from: String },
    /// Bound to another employee who keeps the member; the reason says why and until when.
    Keep(String),
}

impl Decision {
    pub fn name(&self) -> &'static str {
        match self {
            Decision::New => "new",
            Decision::Refresh => "refreshed",
            Decision::TakeOver { .. } => "taken_over",
            Decision::Keep(_) => "kept",
        }
    }
}

/// Judges binding `member` to `employee` at `now` against the member's `current` binding.
///
/// # Errors
/// [`PluginError::Refused`] if the employee is dismissed: a dismissed employee gets no new
/// bindings and no refreshes (their existing bindings stay until they lapse or another
/// employee takes them over under the usual rules).
pub fn decide(
    config: &Config,
    now: Timestamp,
    current: Option<&Binding>,
    employee: &Employee,
) -> Result<Decision> {
    if employee.status == EmployeeStatus::Dismissed {
        return Err(PluginError::refused(format!(
            "employee {} has been dismissed and takes no new bindings",
            employee.employee_id
        )));
    }
    let Some(current) = current.filter(|b| b.active_at(now)) else {
        // Never bound, or the binding lapsed: anyone may bind the member.
        return Ok(Decision::New);
    };
    if current.employee_id == employee.employee_id {
        return Ok(Decision::Refresh);
    }
    if current.protected_at(now) {
        return Ok(Decision::Keep(format!(
            "the member is bound to employee {} and protected until {} (ms since the epoch)",
            current.employee_id, current.protected_until
        )));
    }
    match config.takeover {
        Takeover::Never => Ok(Decision::Keep(match current.expires_at {
            Some(end) => format!(
                "the member is bound to employee {} until {end} (ms since the epoch) and this \
                 shop does not allow takeovers",
                current.employee_id
            ),
            None => format!(
                "the member is bound to employee {} permanently and this shop does not allow \
                 takeovers",
                current.employee_id
            ),
        })),
        Takeover::Anytime | Takeover::AfterProtection => Ok(Decision::TakeOver {
            from: current.employee_id.clone(),
        }),
    }
}

/// Binds `member_id` to `employee` at `now` if the rules allow it; `Keep` comes back as it
/// is, with nothing written, for the caller to refuse or to note.
pub fn bind(
    config: &Config,
    now: Timestamp,
    member_id: &str,
    employee: &Employee,
    via: Via,
) -> Result<(Decision, Binding)> {
    let current = Binding::load(member_id)?;
    let decision = decide(config, now, current.as_ref(), employee)?;
    if let Decision::Keep(_) = decision {
        let current = current.expect("Keep is only decided against a binding");
        return Ok((decision, current));
    }
    let first_bound_at = match (&decision, &current) {
        (Decision::Refresh, Some(c)) => c.first_bound_at,
        _ => now,
    };
    let previous_employee_id = match (&decision, &current) {
        (Decision::TakeOver { from }, _) => Some(from.clone()),
        (Decision::Refresh, Some(c)) => c.previous_employee_id.clone(),
        _ => None,
    };
    let binding = Binding {
        member_id: member_id.to_string(),
        employee_id: employee.employee_id.clone(),
        outlet_id: employee.outlet_id.clone(),
        via,
        first_bound_at,
        bound_at: now,
        expires_at: (config.validity_days > 0).then(|| now + config.validity_days * DAY_MS),
        protected_until: now + config.protection_days * DAY_MS,
        previous_employee_id,
    };
    // The old employee's index entry goes whether the binding lapsed or was taken over.
    if let Some(old) = current.as_ref()
        && old.employee_id != binding.employee_id
    {
        state::delete(&emp_bind_key(&old.employee_id, member_id));
    }
    state::set_json(&bind_key(member_id), &binding)?;
    // The index carries the expiry, so counting an employee's active members reads only it.
    state::set_json(
        &emp_bind_key(&binding.employee_id, member_id),
        &binding.expires_at,
    )?;
    if decision != Decision::Refresh {
        Stats::update(&binding.employee_id, |s| s.bindings += 1)?;
    }
    log::info(&format!(
        "member {member_id} {} to employee {} (outlet {}) via {via:?}{}",
        match decision {
            Decision::Refresh => "re-bound",
            _ => "bound",
        },
        binding.employee_id,
        binding.outlet_id,
        match &decision {
            Decision::TakeOver { from } => format!(", taken over from employee {from}"),
            _ => String::new(),
        }
    ));
    Ok((decision, binding))
}
