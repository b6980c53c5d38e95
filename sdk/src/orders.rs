//! Order actions (the `order-control` capability), part of the hook's transaction.
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

/// Keeps a paid order awaiting confirmation instead of moving on to shipping.
pub fn hold(order_id: &str) -> Result<()> {
    sys::order_control::hold_order(order_id)
}

/// Moves a held order on to shipping.
pub fn confirm(order_id: &str) -> Result<()> {
    sys::order_control::confirm_order(order_id)
}

/// Closes an unpaid order, or cancels a paid one and refunds it in full, with `reason`.
pub fn cancel(order_id: &str, reason: &str) -> Result<()> {
    sys::order_control::cancel_order(order_id, reason)
}
