//! `points` (contract 0.2.0): member points through the host's points ledger. The change
//! is checked against the balance the operation sees and buffered; the platform books it
//! in the operation's write, where the balance is checked again.

use crate::contract::convert;
use crate::contract::v0_2;
use crate::limits::MAX_REASON_BYTES;
use crate::overlay::PointsIntent;
use crate::sandbox::Sandbox;
use crate::types::PluginError;
use baseplate_domain::Money;

impl v0_2::baseplate::plugin::points::Host for Sandbox {
    fn adjust(
        &mut self,
        member_id: String,
        delta: i64,
        reason: String,
        reference: Option<String>,
    ) -> wasmtime::Result<
        Result<
            v0_2::baseplate::plugin::types::PointsChange,
            v0_2::baseplate::plugin::types::PluginError,
        >,
    > {
        self.tick()?;
        self.writable("points.adjust")?;
        let refuse = |e: PluginError| Ok(Err(convert::v0_2::to_plugin_error(e)));
        if delta == 0 || !Money(delta).in_range() {
            return refuse(PluginError::Invalid(
                "points delta must be non-zero and within ±10^15".into(),
            ));
        }
        if reason.is_empty() || reason.len() > MAX_REASON_BYTES {
            return refuse(PluginError::Invalid(format!(
                "points reason must be 1..={MAX_REASON_BYTES} bytes"
            )));
        }
        if reference
            .as_ref()
            .is_some_and(|r| r.len() > MAX_REASON_BYTES)
        {
            return refuse(PluginError::Invalid(format!(
                "points reference must be at most {MAX_REASON_BYTES} bytes"
            )));
        }
        let until = self.until;
        let r = self.overlay.points(&member_id, until);
        let Some(balance) = self.data(r)? else {
            return refuse(PluginError::NotFound(format!(
                "member {member_id} not found"
            )));
        };
        let Some(after) = balance.checked_add(delta).filter(|b| *b >= 0) else {
            return refuse(PluginError::Refused(format!(
                "member {member_id} has {balance} points; {delta} would take them below zero"
            )));
        };
        let id = self.new_id("pts");
        self.overlay.effects.points.push(PointsIntent {
            id: id.clone(),
            member_id,
            delta,
            reason,
            reference,
        });
        Ok(Ok(v0_2::baseplate::plugin::types::PointsChange {
            balance: after,
            entry_id: id,
        }))
    }
}
