//! Order actions (the `order-control` capability), part of the hook's transaction.
//!
//! Cancelling a *paid* order refunds it in full: plugins then receive `order-refunded`
//! (refund state full, status closed), not `order-closed`.
//!
//! ```no_run
//! use baseplate_sdk::orders;
//! // The group filled: release every held order.
//! for id in ["o_1", "o_2"] {
//!     orders::confirm(id)?;
//! }
//! # Ok::<(), baseplate_sdk::PluginError>(())
//! ```

use crate::{Result, sys};

/// Keeps a paid order awaiting confirmation instead of moving on to shipping. An unpaid
/// order is marked to wait once it is paid.
///
/// ```
/// use baseplate_sdk::{orders, shop, testing, OrderStatus};
/// let host = testing::MockHost::install();
/// host.add_order(testing::paid_order("o_1", None, &[testing::cart_line(0, "tea", 1, 100)]));
/// orders::hold("o_1")?;
/// assert_eq!(shop::order("o_1").unwrap().status, OrderStatus::AwaitingConfirmation);
/// # Ok::<(), baseplate_sdk::PluginError>(())
/// ```
pub fn hold(order_id: &str) -> Result<()> {
    sys::order_control::hold_order(order_id)
}

/// Moves a held order on to shipping (an unpaid one ships once paid; confirming twice
/// changes nothing).
///
/// ```
/// use baseplate_sdk::{orders, shop, testing, OrderStatus};
/// let host = testing::MockHost::install();
/// host.add_order(testing::paid_order("o_1", None, &[testing::cart_line(0, "tea", 1, 100)]));
/// orders::hold("o_1")?;
/// orders::confirm("o_1")?;
/// assert_eq!(shop::order("o_1").unwrap().status, OrderStatus::ToShip);
/// # Ok::<(), baseplate_sdk::PluginError>(())
/// ```
pub fn confirm(order_id: &str) -> Result<()> {
    sys::order_control::confirm_order(order_id)
}

/// Closes an unpaid order, or cancels a paid one and refunds it in full, with `reason`
/// (1..=200 bytes).
///
/// ```
/// use baseplate_sdk::{orders, shop, testing, RefundState};
/// let host = testing::MockHost::install();
/// host.add_order(testing::paid_order("o_1", None, &[testing::cart_line(0, "tea", 1, 100)]));
/// orders::cancel("o_1", "group failed")?;
/// assert_eq!(shop::order("o_1").unwrap().refund_state, RefundState::Full);
/// # Ok::<(), baseplate_sdk::PluginError>(())
/// ```
pub fn cancel(order_id: &str, reason: &str) -> Result<()> {
    sys::order_control::cancel_order(order_id, reason)
}
