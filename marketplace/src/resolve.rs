use semver::{Version, VersionReq};

use crate::VersionState;

/// The version a shop gets for `requirement`: the highest candidate that matches it, is
/// installable ([`VersionState::can_install`]: approved, not submitted, rejected, yanked or
/// revoked) and targets a WIT version in `host_wit`. Candidates are
/// `(version, state, targeted WIT version)`, in any order.
///
/// Pre-releases follow the `semver` crate: they match only a requirement that names a
/// pre-release of the same `major.minor.patch` (`^1.2.0-beta.1` matches `1.2.0-beta.3`,
/// `^1.0` matches no pre-release).
pub fn resolve(
    requirement: &VersionReq,
    candidates: &[(Version, VersionState, Version)],
    host_wit: &[Version],
) -> Option<Version> {
    candidates
        .iter()
        .filter(|(version, state, wit)| {
            state.can_install() && requirement.matches(version) && host_wit.contains(wit)
        })
        .map(|(version, _, _)| version)
        .max()
        .cloned()
}

#[cfg(test)]
mod tests {
    use super::VersionState::*;
    use super::*;
    use crate::SUPPORTED_WIT;

    fn v(text: &str) -> Version {
        Version::parse(text).unwrap()
    }

    fn req(text: &str) -> VersionReq {
        VersionReq::parse(text).unwrap()
    }

    fn candidates(list: &[(&str, VersionState)]) -> Vec<(Version, VersionState, Version)> {
        list.iter()
            .map(|&(version, state)| (v(version), state, v("0.1.0")))
            .collect()
    }

    #[test]
    fn picks_the_highest_approved_match() {
        let c = candidates(&[
            ("1.0.0", Approved),
            ("1.2.0", Approved),
            ("1.1.0", Approved),
            ("2.0.0", Approved),
        ]);
        assert_eq!(resolve(&req("^1"), &c, SUPPORTED_WIT), Some(v("1.2.0")));
        assert_eq!(resolve(&req("*"), &c, SUPPORTED_WIT), Some(v("2.0.0")));
        assert_eq!(resolve(&req("=1.1.0"), &c, SUPPORTED_WIT), Some(v("1.1.0")));
        assert_eq!(resolve(&req("^3"), &c, SUPPORTED_WIT), None);
        assert_eq!(resolve(&req("*"), &[], SUPPORTED_WIT), None);
    }

    #[test]
    fn skips_versions_that_are_not_installable() {
        let c = candidates(&[
            ("1.0.0", Approved),
            ("1.1.0", Yanked),
            ("1.2.0", Revoked),
            ("1.3.0", Submitted),
            ("1.4.0", Rejected),
        ]);
        assert_eq!(resolve(&req("^1"), &c, SUPPORTED_WIT), Some(v("1.0.0")));
        // Even an exact pin does not newly install a yanked version.
        assert_eq!(resolve(&req("=1.1.0"), &c, SUPPORTED_WIT), None);
    }

    #[test]
    fn skips_versions_built_for_a_wit_the_host_does_not_serve() {
        let c = vec![
            (v("1.0.0"), Approved, v("0.1.0")),
            (v("1.1.0"), Approved, v("0.2.0")),
        ];
        assert_eq!(resolve(&req("^1"), &c, &[v("0.1.0")]), Some(v("1.0.0")));
        assert_eq!(
            resolve(&req("^1"), &c, &[v("0.1.0"), v("0.2.0")]),
            Some(v("1.1.0"))
        );
        assert_eq!(resolve(&req("^1"), &c, &[]), None);
    }

    #[test]
    fn pre_releases_only_when_the_requirement_names_one() {
        let c = candidates(&[
            ("1.0.0", Approved),
            ("1.1.0-beta.1", Approved),
            ("1.1.0-beta.2", Approved),
            ("2.0.0-rc.1", Approved),
        ]);
        assert_eq!(resolve(&req("^1"), &c, SUPPORTED_WIT), Some(v("1.0.0")));
        assert_eq!(resolve(&req("*"), &c, SUPPORTED_WIT), Some(v("1.0.0")));
        assert_eq!(
            resolve(&req(">=1.0.0"), &c, SUPPORTED_WIT),
            Some(v("1.0.0"))
        );
        assert_eq!(
            resolve(&req("^1.1.0-beta.1"), &c, SUPPORTED_WIT),
            Some(v("1.1.0-beta.2"))
        );
        assert_eq!(
            resolve(&req("=2.0.0-rc.1"), &c, SUPPORTED_WIT),
            Some(v("2.0.0-rc.1"))
        );
        // A released 1.1.0 outranks its pre-releases.
        let mut c = c;
        c.push((v("1.1.0"), Approved, v("0.1.0")));
        assert_eq!(
            resolve(&req("^1.1.0-beta.1"), &c, SUPPORTED_WIT),
            Some(v("1.1.0"))
        );
    }
}
