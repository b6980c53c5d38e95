//! The shop's double-entry ledger (the `ledger` capability). A posting's entries sum to
//! zero: money only moves, it is never created.
//!
//! ```
//! use baseplate_sdk::{ledger, LedgerEntry, Party};
//! # let _host = baseplate_sdk::testing::MockHost::install();
//! let id = ledger::post("commission o_1", &[
//!     LedgerEntry { party: Party::Shop, account: "sales".into(), amount: -500, available_at: None },
//!     LedgerEntry { party: Party::Member("m_1".into()), account: "commission".into(), amount: 500, available_at: Some(1_700_000_000_000) },
//! ], Some("o_1"))?;
//! let balance = ledger::balance(&Party::Member("m_1".into()), "commission");
//! # Ok::<(), baseplate_sdk::PluginError>(())
//! ```

use crate::{Balance, LedgerEntry, Party, Result, sys};

/// Books a balanced posting and returns its id. `order_id` (an order of this shop) lets
/// the merchant find the posting by order; while handling an order's event, a posting
/// without one is booked against that order.
///
/// # Errors
/// [`PluginError::Invalid`](crate::PluginError::Invalid) if the posting has fewer than two
/// or more than [`MAX_POSTING_ENTRIES`](crate::limits::MAX_POSTING_ENTRIES) entries, does
/// not sum to zero, has a zero amount or one beyond
/// ±[`MAX_ENTRY_AMOUNT`](crate::limits::MAX_ENTRY_AMOUNT), a bad account name, or a memo
/// over [`MAX_MEMO_CHARS`](crate::limits::MAX_MEMO_CHARS).
///
/// ```
/// use baseplate_sdk::{ledger, LedgerEntry, Party};
/// let host = baseplate_sdk::testing::MockHost::install();
/// let entry = |party, amount| LedgerEntry { party, account: "reward".into(), amount, available_at: None };
/// ledger::post("reward emp_1", &[entry(Party::Shop, -500), entry(Party::Employee("emp_1".into()), 500)], Some("o_1"))?;
/// assert_eq!(host.ledger_postings()[0].order_id.as_deref(), Some("o_1"));
/// let err = ledger::post("lopsided", &[entry(Party::Shop, -5), entry(Party::Platform, 4)], None).unwrap_err();
/// assert_eq!(err.kind(), "invalid");
/// # Ok::<(), baseplate_sdk::PluginError>(())
/// ```
pub fn post(memo: &str, entries: &[LedgerEntry], order_id: Option<&str>) -> Result<String> {
    sys::ledger::post(memo, entries, order_id)
}

/// `party`'s balance on `account`.
///
/// ```
/// use baseplate_sdk::{ledger, Party};
/// let _host = baseplate_sdk::testing::MockHost::install();
/// assert_eq!(ledger::balance(&Party::Member("m_1".into()), "commission").total, 0);
/// ```
pub fn balance(party: &Party, account: &str) -> Balance {
    sys::ledger::get_balance(party, account)
}
