//! Money is integer minor units (分) of the shop's currency; arithmetic is checked and every
//! rounding says which way it goes.

use serde::{Deserialize, Serialize};
use std::fmt;

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum MoneyError {
    #[error("amount overflow")]
    Overflow,
    #[error("amount must not be negative")]
    Negative,
}

/// An amount in minor units (分). Signed so ledger debits can be negative; amounts a buyer
/// pays are checked to be ≥ 0 where they enter.
#[derive(
    Clone,
    Copy,
    Debug,
    Default,
    PartialEq,
    Eq,
    PartialOrd,
    Ord,
    Hash,
    Serialize,
    Deserialize,
    utoipa::ToSchema,
)]
#[serde(transparent)]
pub struct Money(pub i64);

impl Money {
    pub const ZERO: Money = Money(0);

    /// Bound on every amount the API or a plugin supplies: |amount| ≤ 10^15 minor units
    /// (ten trillion yuan). Far above any real amount, and far enough below i64::MAX that
    /// sums of bounded amounts are checked rather than trusted.
    pub const MAX: i64 = 1_000_000_000_000_000;

    /// Whether this amount is within ±`Money::MAX`.
    pub fn in_range(self) -> bool {
        self.0.unsigned_abs() <= Self::MAX as u64
    }

    pub fn minor(self) -> i64 {
        self.0
    }

    pub fn checked_add(self, other: Money) -> Result<Money, MoneyError> {
        self.0
            .checked_add(other.0)
            .map(Money)
            .ok_or(MoneyError::Overflow)
    }

    pub fn checked_sub(self, other: Money) -> Result<Money, MoneyError> {
        self.0
            .checked_sub(other.0)
            .map(Money)
            .ok_or(MoneyError::Overflow)
    }

    pub fn checked_mul(self, n: i64) -> Result<Money, MoneyError> {
        self.0.checked_mul(n).map(Money).ok_or(MoneyError::Overflow)
    }

    /// `self × bp / 10000`, rounded down (toward zero): commissions and percentage
    /// discounts never pay out a fraction of a 分 the shop did not receive.
    pub fn mul_bp_floor(self, bp: i64) -> Result<Money, MoneyError> {
        let v = (self.0 as i128) * (bp as i128) / 10_000;
        i64::try_from(v)
            .map(Money)
            .map_err(|_| MoneyError::Overflow)
    }

    pub fn sum<I: IntoIterator<Item = Money>>(it: I) -> Result<Money, MoneyError> {
        it.into_iter()
            .try_fold(Money::ZERO, |a, b| a.checked_add(b))
    }
}

impl fmt::Display for Money {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let sign = if self.0 < 0 { "-" } else { "" };
        let abs = self.0.unsigned_abs();
        write!(f, "{sign}{}.{:02}", abs / 100, abs % 100)
    }
}

/// Splits `total` over `weights` in proportion, by the largest-remainder method, so the parts
/// sum to exactly `total`. Parts are rounded down first; the leftover 分 go to the largest
/// remainders (ties to the earlier line). With `0 ≤ total ≤ Σweights` no part exceeds its
/// weight, which is what keeps a discounted line from going negative. All-zero weights give
/// everything to the first part.
pub fn apportion(total: i64, weights: &[i64]) -> Vec<i64> {
    if weights.is_empty() {
        return Vec::new();
    }
    let sum: i128 = weights.iter().map(|w| (*w).max(0) as i128).sum();
    if sum == 0 {
        let mut out = vec![0; weights.len()];
        out[0] = total;
        return out;
    }
    let mut parts = Vec::with_capacity(weights.len());
    let mut rems = Vec::with_capacity(weights.len());
    let mut assigned: i128 = 0;
    for (i, w) in weights.iter().enumerate() {
        let exact = total as i128 * (*w).max(0) as i128;
        let part = exact.div_euclid(sum);
        parts.push(part);
        rems.push((exact.rem_euclid(sum), i));
        assigned += part;
    }
    let mut left = total as i128 - assigned;
    rems.sort_by(|a, b| b.0.cmp(&a.0).then(a.1.cmp(&b.1)));
    let mut k = 0;
    while left > 0 {
        parts[rems[k % rems.len()].1] += 1;
        left -= 1;
        k += 1;
    }
    parts.into_iter().map(|p| p as i64).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn apportion_sums_exactly_and_respects_weights() {
        for (total, weights) in [
            (100, vec![1, 1, 1]),
            (1, vec![5, 5]),
            (999, vec![1000, 3, 7]),
            (0, vec![4, 4]),
            (10, vec![10]),
            (7, vec![0, 7, 0]),
        ] {
            let parts = apportion(total, &weights);
            assert_eq!(parts.iter().sum::<i64>(), total, "{total} over {weights:?}");
            let fits = total <= weights.iter().sum::<i64>();
            for (p, w) in parts.iter().zip(&weights) {
                assert!(*p >= 0 && (!fits || *p <= *w), "{parts:?} over {weights:?}");
            }
        }
        assert_eq!(apportion(100, &[1, 1, 1]), vec![34, 33, 33]);
        assert_eq!(apportion(5, &[0, 0]), vec![5, 0]);
    }

    #[test]
    fn bp_rounds_down_and_display() {
        assert_eq!(Money(999).mul_bp_floor(1000).unwrap(), Money(99));
        assert_eq!(Money(990).to_string(), "9.90");
        assert_eq!(Money(-5).to_string(), "-0.05");
        assert!(Money(i64::MAX).checked_add(Money(1)).is_err());
    }
}
