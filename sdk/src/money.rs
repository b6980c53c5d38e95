//! Money helpers. Money is integer minor units (分, `i64`); never use floats for it.

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

#[cfg(test)]
mod tests {
    use super::*;

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
