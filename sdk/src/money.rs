//! Money helpers. Money is integer minor units (分, `i64`); never use floats for it.
//!
//! ```
//! use baseplate_sdk::money;
//! assert_eq!(money::apportion(100, &[1, 1, 1]), vec![34, 33, 33]);
//! assert_eq!(money::display(-1250, "CNY"), "-12.50 CNY");
//! ```

use crate::{Adjustment, Cart};

/// Splits `total` over `weights` in proportion, by the largest-remainder method, so the
/// parts sum to exactly `total`.
///
/// Rounding: each part is first `floor(total × weight / Σweights)`; the 分 left over go one
/// each to the parts with the largest remainders, ties to the earlier part. So with
/// `0 ≤ total ≤ Σweights` no part exceeds its weight — apportion a discount by line amount
/// and no line goes negative. Negative weights count as zero; if every weight is zero the
/// whole `total` goes to the first part; no weights give no parts. This matches the host's
/// own apportioning, so plugin and host agree to the 分.
///
/// ```
/// use baseplate_sdk::apportion;
/// assert_eq!(apportion(100, &[1, 1, 1]), vec![34, 33, 33]);
/// assert_eq!(apportion(1000, &[3000, 1000]), vec![750, 250]);
/// assert_eq!(apportion(5, &[0, 0]), vec![5, 0]);
/// ```
pub fn apportion(total: i64, weights: &[i64]) -> Vec<i64> {
    if weights.is_empty() {
        return Vec::new();
    }
    let sum: i128 = weights.iter().map(|w| i128::from((*w).max(0))).sum();
    if sum == 0 {
        let mut parts = vec![0; weights.len()];
        parts[0] = total;
        return parts;
    }
    let mut parts = Vec::with_capacity(weights.len());
    let mut remainders = Vec::with_capacity(weights.len());
    for (i, w) in weights.iter().enumerate() {
        let exact = i128::from(total) * i128::from((*w).max(0));
        parts.push(exact.div_euclid(sum));
        remainders.push((exact.rem_euclid(sum), i));
    }
    // Every remainder is < sum, so fewer than weights.len() 分 are left over.
    let left = i128::from(total) - parts.iter().sum::<i128>();
    remainders.sort_by(|a, b| b.0.cmp(&a.0).then(a.1.cmp(&b.1)));
    for (_, i) in remainders.iter().take(left as usize) {
        parts[*i] += 1;
    }
    // Each part lies between 0 and total (or total and 0), so it fits in i64.
    parts.into_iter().map(|p| p as i64).collect()
}

/// A discount of `total` spread over the cart's lines in proportion to what is left of
/// each ([`CartLine::amount`](crate::CartLine)), by [`apportion`]: the adjustments sum to
/// exactly `total` when `total` ≤ the cart's amount, no line gets more than is left of it,
/// and lines that get nothing are left out. For order-level discounts and coupons, whose
/// per-line split refunds and commissions depend on.
///
/// ```
/// use baseplate_sdk::{money::spread_discount, testing};
/// let cart = testing::cart(None, vec![testing::cart_line(0, "tea", 3, 2000), testing::cart_line(1, "cup", 1, 4000)], None);
/// let cuts = spread_discount(&cart, 500, "5% off", Some("promo_1"));
/// assert_eq!(cuts.iter().map(|a| (a.line, a.amount)).collect::<Vec<_>>(), [(0, 300), (1, 200)]);
/// assert_eq!(cuts[0].reference.as_deref(), Some("promo_1"));
/// ```
pub fn spread_discount(
    cart: &Cart,
    total: i64,
    label: &str,
    reference: Option<&str>,
) -> Vec<Adjustment> {
    let amounts: Vec<i64> = cart.lines.iter().map(|l| l.amount).collect();
    cart.lines
        .iter()
        .zip(apportion(total, &amounts))
        .filter(|(_, amount)| *amount > 0)
        .map(|(line, amount)| Adjustment {
            line: line.index,
            amount,
            label: label.into(),
            reference: reference.map(Into::into),
        })
        .collect()
}

/// Money for people to read: `12.50 CNY` (two decimals, a `-` for negative amounts),
/// as plugins write it in messages and logs.
///
/// ```
/// use baseplate_sdk::money::display;
/// assert_eq!(display(1250, "CNY"), "12.50 CNY");
/// assert_eq!(display(5, "CNY"), "0.05 CNY");
/// assert_eq!(display(-100, "USD"), "-1.00 USD");
/// ```
pub fn display(amount: i64, currency: &str) -> String {
    let sign = if amount < 0 { "-" } else { "" };
    let abs = amount.unsigned_abs();
    format!("{sign}{}.{:02} {currency}", abs / 100, abs % 100)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn display_handles_the_extremes() {
        assert_eq!(display(0, "CNY"), "0.00 CNY");
        assert_eq!(display(i64::MIN, "X"), "-92233720368547758.08 X");
    }

    #[test]
    fn sums_exactly_and_never_exceeds_a_weight() {
        let cases: &[(i64, &[i64])] = &[
            (100, &[1, 1, 1]),
            (1, &[5, 5]),
            (999, &[1000, 3, 7]),
            (0, &[4, 4]),
            (10, &[10]),
            (7, &[0, 7, 0]),
            (1234, &[333, 333, 334, 1]),
            (i64::MAX / 2, &[i64::MAX / 4, i64::MAX / 4, 1]),
            (3, &[-5, 2, 2]),
        ];
        for &(total, weights) in cases {
            let parts = apportion(total, weights);
            assert_eq!(parts.len(), weights.len());
            assert_eq!(parts.iter().sum::<i64>(), total, "{total} over {weights:?}");
            let fits = total <= weights.iter().map(|w| (*w).max(0)).sum::<i64>();
            for (p, w) in parts.iter().zip(weights) {
                assert!(
                    *p >= 0 && (!fits || *p <= (*w).max(0)),
                    "{parts:?} over {weights:?}"
                );
            }
        }
    }

    #[test]
    fn rounding_is_documented() {
        assert_eq!(apportion(100, &[1, 1, 1]), vec![34, 33, 33]);
        assert_eq!(apportion(2, &[1, 1, 1]), vec![1, 1, 0]);
        assert_eq!(apportion(10, &[1, 2]), vec![3, 7]);
        assert_eq!(apportion(5, &[0, 0]), vec![5, 0]);
        assert_eq!(apportion(-10, &[1, 2]), vec![-3, -7]);
        assert_eq!(apportion(0, &[]), Vec::<i64>::new());
    }

    #[test]
    fn exhaustive_small_cases() {
        for total in 0..=20 {
            for a in 0..=6 {
                for b in 0..=6 {
                    for c in 0..=6 {
                        let w = [a, b, c];
                        let parts = apportion(total, &w);
                        assert_eq!(parts.iter().sum::<i64>(), total);
                        if total <= a + b + c {
                            assert!(
                                parts.iter().zip(&w).all(|(p, w)| 0 <= *p && p <= w),
                                "{total} {w:?} {parts:?}"
                            );
                        }
                    }
                }
            }
        }
    }
}
