//! Double-entry postings: money moves between parties (platform, shop, outlet, employee,
//! member) only as a set of entries that sum to zero. Positive credits a party's account,
//! negative debits it.

use crate::Timestamp;
use crate::money::Money;
use serde::{Deserialize, Serialize};

/// Who holds money in a shop's ledger.
#[derive(
    Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize, utoipa::ToSchema,
)]
#[serde(tag = "kind", content = "id", rename_all = "snake_case")]
pub enum Party {
    Shop,
    Platform,
    /// The outside world's money (the payment provider); payments come in through it.
    External,
    Member(String),
    Employee(String),
    /// A physical store (门店) of the shop.
    Outlet(String),
}

impl Party {
    /// (kind, id) as stored.
    pub fn to_db(&self) -> (&'static str, &str) {
        match self {
            Party::Shop => ("shop", ""),
            Party::Platform => ("platform", ""),
            Party::External => ("external", ""),
            Party::Member(id) => ("member", id),
            Party::Employee(id) => ("employee", id),
            Party::Outlet(id) => ("outlet", id),
        }
    }

    pub fn from_db(kind: &str, id: &str) -> Option<Party> {
        Some(match kind {
            "shop" => Party::Shop,
            "platform" => Party::Platform,
            "external" => Party::External,
            "member" => Party::Member(id.to_string()),
            "employee" => Party::Employee(id.to_string()),
            "outlet" => Party::Outlet(id.to_string()),
            _ => return None,
        })
    }
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct LedgerEntry {
    pub party: Party,
    pub account: String,
    pub amount: Money,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub available_at: Option<Timestamp>,
}

/// A checked, balanced set of entries.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Posting {
    pub memo: String,
    pub entries: Vec<LedgerEntry>,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum LedgerError {
    #[error("a posting needs at least two entries")]
    TooFewEntries,
    #[error("a posting has at most 50 entries")]
    TooManyEntries,
    #[error("entries sum to {0}, not zero: a posting must balance")]
    Unbalanced(Money),
    #[error("an entry's amount must not be zero")]
    ZeroAmount,
    #[error("account names are 1..=64 characters of a-z, 0-9, '-', '_' or ':'")]
    BadAccount,
    #[error("memo is at most 200 characters")]
    BadMemo,
    #[error("amount overflow")]
    Overflow,
    #[error("an entry's amount is beyond ±10^15 minor units")]
    OutOfRange,
}

impl Posting {
    pub fn new(memo: impl Into<String>, entries: Vec<LedgerEntry>) -> Result<Posting, LedgerError> {
        let memo = memo.into();
        if memo.chars().count() > 200 {
            return Err(LedgerError::BadMemo);
        }
        if entries.len() < 2 {
            return Err(LedgerError::TooFewEntries);
        }
        if entries.len() > 50 {
            return Err(LedgerError::TooManyEntries);
        }
        let mut sum: i64 = 0;
        for e in &entries {
            if e.amount.0 == 0 {
                return Err(LedgerError::ZeroAmount);
            }
            if !e.amount.in_range() {
                return Err(LedgerError::OutOfRange);
            }
            let ok = !e.account.is_empty()
                && e.account.len() <= 64
                && e.account
                    .bytes()
                    .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b"-_:".contains(&b));
            if !ok {
                return Err(LedgerError::BadAccount);
            }
            sum = sum.checked_add(e.amount.0).ok_or(LedgerError::Overflow)?;
        }
        if sum != 0 {
            return Err(LedgerError::Unbalanced(Money(sum)));
        }
        Ok(Posting { memo, entries })
    }

    /// Two entries moving `amount` from one party's account to another's.
    pub fn transfer(
        memo: impl Into<String>,
        from: (Party, &str),
        to: (Party, &str),
        amount: Money,
        available_at: Option<Timestamp>,
    ) -> Result<Posting, LedgerError> {
        Posting::new(
            memo,
            vec![
                LedgerEntry {
                    party: from.0,
                    account: from.1.into(),
                    amount: Money(-amount.0),
                    available_at: None,
                },
                LedgerEntry {
                    party: to.0,
                    account: to.1.into(),
                    amount,
                    available_at,
                },
            ],
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn e(amount: i64) -> LedgerEntry {
        LedgerEntry {
            party: Party::Shop,
            account: "sales".into(),
            amount: Money(amount),
            available_at: None,
        }
    }

    #[test]
    fn postings_must_balance() {
        assert!(Posting::new("ok", vec![e(100), e(-60), e(-40)]).is_ok());
        assert_eq!(
            Posting::new("x", vec![e(100), e(-99)]),
            Err(LedgerError::Unbalanced(Money(1)))
        );
        assert_eq!(
            Posting::new("x", vec![e(0), e(0)]),
            Err(LedgerError::ZeroAmount)
        );
        assert_eq!(
            Posting::new("x", vec![e(1)]),
            Err(LedgerError::TooFewEntries)
        );
        let bad = LedgerEntry {
            account: "Bad Name".into(),
            ..e(1)
        };
        assert_eq!(
            Posting::new("x", vec![bad, e(-1)]),
            Err(LedgerError::BadAccount)
        );
        let t = Posting::transfer(
            "pay",
            (Party::External, "payments"),
            (Party::Shop, "sales"),
            Money(990),
            None,
        )
        .unwrap();
        assert_eq!(t.entries[0].amount, Money(-990));
    }

    #[test]
    fn party_round_trips() {
        for p in [
            Party::Shop,
            Party::Member("m".into()),
            Party::Outlet("o".into()),
        ] {
            let (k, id) = p.to_db();
            assert_eq!(Party::from_db(k, id), Some(p.clone()));
        }
    }
}
