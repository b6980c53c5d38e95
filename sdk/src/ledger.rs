//! The shop's double-entry ledger (the `ledger` capability). A posting's entries sum to
//! zero: money only moves, it is never created.
//!
//! ```no_run
//! use baseplate_sdk::{ledger, LedgerEntry, Party};
//! let id = ledger::post("commission o_1", &[
//!     LedgerEntry { party: Party::Shop, account: "sales".into(), amount: -500, available_at: None },
//!     LedgerEntry { party: Party::Member("m_1".into()), account: "commission".into(), amount: 500, available_at: Some(1_700_000_000_000) },
//! ])?;
//! let balance = ledger::balance(&Party::Member("m_1".into()), "commission");
//! # Ok::<(), baseplate_sdk::PluginError>(())
//! ```

use crate::{Balance, LedgerEntry, Party, Result, sys};

/// Books a balanced posting and returns its id.
///
/// # Errors
/// [`PluginError::Invalid`](crate::PluginError::Invalid) if the posting has fewer than two
/// entries, does not sum to zero, or breaks the host's other posting rules.
pub fn post(memo: &str, entries: &[LedgerEntry]) -> Result<String> {
    sys::ledger::post(memo, entries)
}

/// `party`'s balance on `account`.
pub fn balance(party: &Party, account: &str) -> Balance {
    sys::ledger::get_balance(party, account)
}
