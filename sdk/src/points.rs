//! Member points (the `points` capability), kept by the host in a points ledger:
//! [`Member::points`](crate::Member) is always the sum of the member's entries and never
//! goes below zero. Part of the hook's transaction, like every write.
//!
//! ```no_run
//! use baseplate_sdk::points;
//! // Earn 1 point per 1.00 paid on order o_1.
//! let change = points::adjust("m_1", 128, "order o_1 paid", Some("o_1"))?;
//! baseplate_sdk::log::info(&format!("m_1 now has {} points", change.balance));
//! # Ok::<(), baseplate_sdk::PluginError>(())
//! ```

use crate::{PointsChange, Result, sys};

/// Adds `delta` points (negative spends them) to member `member_id` of this shop, with a
/// `reason` the merchant and the member read (1..=200 bytes) and the plugin's own
/// `reference` (an order id, a campaign id, ...). Returns the balance after the change.
///
/// # Errors
/// - [`PluginError::Refused`](crate::PluginError::Refused) if the balance would go below
///   zero (nothing changes);
/// - [`PluginError::NotFound`](crate::PluginError::NotFound) if the member is not a member
///   of this shop;
/// - [`PluginError::Invalid`](crate::PluginError::Invalid) for a zero `delta` or a reason
///   outside 1..=200 bytes.
///
/// ```
/// use baseplate_sdk::{points, testing};
/// let host = testing::MockHost::install();
/// host.add_member(testing::member("m_1"));
/// assert_eq!(points::adjust("m_1", 100, "welcome gift", None)?.balance, 100);
/// assert_eq!(points::adjust("m_1", -30, "spent at checkout", Some("o_1"))?.balance, 70);
/// assert_eq!(points::adjust("m_1", -71, "too much", None).unwrap_err().kind(), "refused");
/// assert_eq!(host.points_balance("m_1"), 70);
/// # Ok::<(), baseplate_sdk::PluginError>(())
/// ```
pub fn adjust(
    member_id: &str,
    delta: i64,
    reason: &str,
    reference: Option<&str>,
) -> Result<PointsChange> {
    sys::points::adjust(member_id, delta, reason, reference)
}
