//! The review and rollout rules that sit on top of the version states: what changed between
//! two versions' capabilities (what an operator reviews and a merchant accepts), where an
//! approved version is in its rollout, which shops a percentage canary picks, and which
//! version numbers a publisher may still use.

use std::collections::BTreeSet;

use semver::Version;
use serde::Serialize;

use crate::{Capability, Error, VersionState};

names! {
    /// Where an approved version is in its rollout. Only `released` versions are what
    /// every shop's requirement resolves to; a `canary` version resolves only for the
    /// shops of its canary; `staged` and `halted` versions resolve for nobody.
    pub enum Rollout as "rollout" {
        /// Approved, held back for a canary (the operator approved it staged).
        Staged = "staged",
        /// Running in the shops of its canary while its failure rate is watched.
        Canary = "canary",
        /// What everyone's requirement resolves to.
        Released = "released",
        /// Its canary was stopped: the shops on it went back to their previous version.
        Halted = "halted",
    }
}

impl Rollout {
    /// Whether a shop outside any canary may newly resolve to a version in this stage.
    pub fn resolves_for_everyone(self) -> bool {
        self == Rollout::Released
    }

    /// Whether a canary may start from this stage.
    pub fn can_start_canary(self) -> bool {
        matches!(self, Rollout::Staged | Rollout::Halted)
    }
}

/// How a version's capabilities differ from a baseline (the previous approved version, at
/// review; the capabilities a shop accepted, at upgrade).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct CapabilityDiff {
    /// Asked for now, not in the baseline.
    pub added: Vec<Capability>,
    /// In the baseline, no longer asked for.
    pub removed: Vec<Capability>,
    /// In both.
    pub unchanged: Vec<Capability>,
}

impl CapabilityDiff {
    /// `new` against `old`.
    pub fn between(old: &[Capability], new: &[Capability]) -> CapabilityDiff {
        let old: BTreeSet<Capability> = old.iter().copied().collect();
        let new: BTreeSet<Capability> = new.iter().copied().collect();
        CapabilityDiff {
            added: new.difference(&old).copied().collect(),
            removed: old.difference(&new).copied().collect(),
            unchanged: old.intersection(&new).copied().collect(),
        }
    }

    /// Whether the new set asks for anything the baseline did not have.
    pub fn widens(&self) -> bool {
        !self.added.is_empty()
    }
}

/// Whether two capability lists name the same set (order and repeats aside).
pub fn same_capabilities(a: &[Capability], b: &[Capability]) -> bool {
    let a: BTreeSet<_> = a.iter().collect();
    let b: BTreeSet<_> = b.iter().collect();
    a == b
}

/// Checks that `version` may be published next to `published` (every version of the name
/// so far, with its state): it must be new, and higher than the latest version that was not
/// rejected — shops resolve "the highest", so a late lower version would never be picked
/// and would only confuse. A rejected version's number stays used.
pub fn check_next_version(
    version: &Version,
    published: &[(Version, VersionState)],
) -> Result<(), Error> {
    if published.iter().any(|(v, _)| v == version) {
        return Err(Error::VersionExists {
            version: version.to_string(),
        });
    }
    let latest = published
        .iter()
        .filter(|(_, state)| *state != VersionState::Rejected)
        .map(|(v, _)| v)
        .max();
    match latest {
        Some(latest) if version < latest => Err(Error::VersionNotNewer {
            version: version.to_string(),
            latest: latest.to_string(),
        }),
        _ => Ok(()),
    }
}

/// The shops a percentage canary takes: `percent` of `eligible` (rounded up, at least one
/// when any is eligible), chosen by a stable hash of (shop, plugin, version) — so the same
/// canary picks the same shops on every node and every retry, and different versions
/// spread over different shops.
pub fn canary_pick(
    eligible: &[String],
    percent: u8,
    plugin: &str,
    version: &Version,
) -> Vec<String> {
    if eligible.is_empty() || percent == 0 {
        return Vec::new();
    }
    let percent = usize::from(percent.min(100));
    let take = (eligible.len() * percent).div_ceil(100).max(1);
    let mut ranked: Vec<(crate::Digest, &String)> = eligible
        .iter()
        .map(|shop| {
            let key = format!("{shop}\0{plugin}\0{version}");
            (crate::digest(key.as_bytes()), shop)
        })
        .collect();
    ranked.sort();
    let mut picked: Vec<String> = ranked
        .into_iter()
        .take(take)
        .map(|(_, s)| s.clone())
        .collect();
    picked.sort();
    picked
}

#[cfg(test)]
mod tests {
    use super::*;
    use Capability::*;

    fn v(s: &str) -> Version {
        Version::parse(s).unwrap()
    }

    #[test]
    fn diff_names_what_was_added_and_removed() {
        let d = CapabilityDiff::between(&[State, Logging], &[State, Timers, Logging, Ledger]);
        assert_eq!(d.added, vec![Timers, Ledger]);
        assert!(d.removed.is_empty());
        assert_eq!(d.unchanged, vec![State, Logging]);
        assert!(d.widens());
        let d = CapabilityDiff::between(&[State, Logging], &[State]);
        assert_eq!(d.removed, vec![Logging]);
        assert!(!d.widens());
        assert!(same_capabilities(&[State, Host], &[Host, State]));
        assert!(!same_capabilities(&[State], &[State, Host]));
    }

    #[test]
    fn versions_must_be_new_and_not_lower_than_the_latest() {
        let published = [
            (v("1.0.0"), VersionState::Approved),
            (v("1.2.0"), VersionState::Submitted),
            (v("2.0.0"), VersionState::Rejected),
        ];
        assert!(matches!(
            check_next_version(&v("1.2.0"), &published),
            Err(Error::VersionExists { .. })
        ));
        assert!(matches!(
            check_next_version(&v("2.0.0"), &published),
            Err(Error::VersionExists { .. })
        ));
        let e = check_next_version(&v("1.1.0"), &published).unwrap_err();
        assert!(e.to_string().contains("1.2.0"), "{e}");
        // The rejected 2.0.0 does not raise the bar.
        check_next_version(&v("1.3.0"), &published).unwrap();
        check_next_version(&v("0.1.0"), &[]).unwrap();
    }

    #[test]
    fn canary_picks_a_stable_share() {
        let shops: Vec<String> = (0..10).map(|i| format!("shop_{i}")).collect();
        let a = canary_pick(&shops, 30, "tea", &v("1.1.0"));
        assert_eq!(a.len(), 3);
        assert_eq!(a, canary_pick(&shops, 30, "tea", &v("1.1.0")));
        assert_eq!(canary_pick(&shops[..2], 50, "tea", &v("1.1.0")).len(), 1);
        assert_eq!(canary_pick(&shops[..2], 1, "tea", &v("1.1.0")).len(), 1);
        assert_eq!(canary_pick(&shops, 100, "tea", &v("1.1.0")).len(), 10);
        assert!(canary_pick(&[], 50, "tea", &v("1.1.0")).is_empty());
    }

    #[test]
    fn only_released_versions_resolve_for_everyone() {
        for r in Rollout::ALL {
            assert_eq!(r.resolves_for_everyone(), *r == Rollout::Released);
        }
        assert!(Rollout::Staged.can_start_canary());
        assert!(!Rollout::Released.can_start_canary());
    }
}
