//! The host's clock and randomness. Use these, never the guest's own clock or entropy, so
//! the host can replay an operation. Within a hook, prefer
//! [`CallContext::now`](crate::CallContext): it is the clock at the start of the operation,
//! the same for every hook of it.
//!
//! Needs the `host` capability.
//!
//! ```
//! use baseplate_sdk::host;
//! # let _mock = baseplate_sdk::testing::MockHost::install();
//! let cut = host::random_range(100, 500); // 100..=500 分
//! assert!((100..=500).contains(&cut));
//! ```

use crate::{Timestamp, sys};

/// The host clock, in milliseconds since the Unix epoch.
///
/// ```
/// let mock = baseplate_sdk::testing::MockHost::install();
/// mock.set_now(42);
/// assert_eq!(baseplate_sdk::host::now(), 42);
/// ```
pub fn now() -> Timestamp {
    sys::host::now()
}

/// A uniformly random `u64` from the host's per-call generator.
///
/// ```
/// let mock = baseplate_sdk::testing::MockHost::install();
/// mock.set_seed(7);
/// let a = baseplate_sdk::host::random();
/// mock.set_seed(7);
/// assert_eq!(baseplate_sdk::host::random(), a);
/// ```
pub fn random() -> u64 {
    sys::host::random()
}

/// A uniformly random integer in `lo..=hi`, without modulo bias.
///
/// # Panics
/// If `lo > hi`.
///
/// ```
/// let _mock = baseplate_sdk::testing::MockHost::install();
/// assert_eq!(baseplate_sdk::host::random_range(3, 3), 3);
/// ```
pub fn random_range(lo: i64, hi: i64) -> i64 {
    assert!(lo <= hi, "random_range: empty range {lo}..={hi}");
    let span = hi.abs_diff(lo).wrapping_add(1);
    if span == 0 {
        // lo..=hi covers all of i64.
        return random() as i64;
    }
    lo.wrapping_add(below(span, random) as i64)
}

/// Lemire's multiply-and-reject: uniform in `0..span` from uniform 64-bit draws.
fn below(span: u64, mut draw: impl FnMut() -> u64) -> u64 {
    let threshold = span.wrapping_neg() % span;
    loop {
        let m = u128::from(draw()) * u128::from(span);
        if (m as u64) >= threshold {
            return (m >> 64) as u64;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::MockHost;

    #[test]
    fn random_range_stays_inside_and_covers() {
        MockHost::install().set_seed(7);
        let mut seen = [false; 5];
        for _ in 0..1000 {
            let v = random_range(-2, 2);
            assert!((-2..=2).contains(&v));
            seen[(v + 2) as usize] = true;
        }
        assert!(seen.iter().all(|s| *s));
        assert_eq!(random_range(9, 9), 9);
        let _ = random_range(i64::MIN, i64::MAX);
    }

    #[test]
    fn seeded_randomness_repeats() {
        let host = MockHost::install();
        host.set_seed(42);
        let a: Vec<u64> = (0..4).map(|_| random()).collect();
        host.set_seed(42);
        let b: Vec<u64> = (0..4).map(|_| random()).collect();
        assert_eq!(a, b);
    }

    #[test]
    fn below_rejects_the_biased_zone() {
        // span 3: threshold = 2^64 mod 3 = 1, so a draw whose low product is 0 is retried.
        let mut draws = [0u64, u64::MAX].into_iter();
        assert_eq!(below(3, || draws.next().unwrap()), 2);
    }

    #[test]
    #[should_panic(expected = "empty range")]
    fn empty_range_panics() {
        random_range(2, 1);
    }
}
