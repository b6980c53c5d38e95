use crate::{Error, expected_list};

names! {
    /// Where a published version is in review and after. The lifecycle:
    /// `submitted → approved | rejected`; `approved → yanked | revoked`;
    /// `yanked → approved` (un-yank) `| revoked`. Rejected and revoked are final.
    pub enum VersionState as "version state" {
        /// Published, waiting for the operator's review.
        Submitted = "submitted",
        /// Reviewed and installable.
        Approved = "approved",
        /// Refused at review.
        Rejected = "rejected",
        /// No new installs; shops pinned to it keep running it.
        Yanked = "yanked",
        /// Pulled for security: it runs nowhere.
        Revoked = "revoked",
    }
}

impl VersionState {
    /// Whether a shop may newly install (or upgrade to) a version in this state.
    pub fn can_install(self) -> bool {
        self == VersionState::Approved
    }

    /// Whether shops that already have this version installed may keep running it.
    pub fn runs(self) -> bool {
        matches!(self, VersionState::Approved | VersionState::Yanked)
    }

    /// The states this one may move to.
    pub fn next_states(self) -> &'static [VersionState] {
        use VersionState::*;
        match self {
            Submitted => &[Approved, Rejected],
            Approved => &[Yanked, Revoked],
            Yanked => &[Approved, Revoked],
            Rejected | Revoked => &[],
        }
    }

    /// Whether moving to `to` is allowed.
    pub fn can_become(self, to: VersionState) -> bool {
        self.next_states().contains(&to)
    }

    /// `to`, if the lifecycle allows moving there from `self`.
    pub fn transition(self, to: VersionState) -> Result<VersionState, Error> {
        if self.can_become(to) {
            return Ok(to);
        }
        let next = self.next_states();
        Err(Error::Transition {
            from: self,
            to,
            allowed: if next.is_empty() {
                "nothing, it is final".to_owned()
            } else {
                expected_list(next)
            },
        })
    }
}

#[cfg(test)]
mod tests {
    use super::VersionState::*;
    use super::*;

    #[test]
    fn only_approved_installs() {
        for state in VersionState::ALL {
            assert_eq!(state.can_install(), *state == Approved, "{state}");
        }
    }

    #[test]
    fn yanked_keeps_running_and_revoked_runs_nowhere() {
        assert!(Approved.runs());
        assert!(Yanked.runs());
        assert!(!Revoked.runs());
        assert!(!Submitted.runs());
        assert!(!Rejected.runs());
    }

    #[test]
    fn allowed_transitions_are_exactly_the_lifecycle() {
        let allowed = [
            (Submitted, Approved),
            (Submitted, Rejected),
            (Approved, Yanked),
            (Approved, Revoked),
            (Yanked, Approved),
            (Yanked, Revoked),
        ];
        for &from in VersionState::ALL {
            for &to in VersionState::ALL {
                let expected = allowed.contains(&(from, to));
                assert_eq!(from.can_become(to), expected, "{from} -> {to}");
                assert_eq!(from.transition(to).is_ok(), expected, "{from} -> {to}");
            }
        }
    }

    #[test]
    fn refused_transitions_say_what_is_allowed() {
        let e = Yanked.transition(Submitted).unwrap_err().to_string();
        assert!(
            e.contains("yanked") && e.contains("`approved`, `revoked`"),
            "{e}"
        );
        let e = Revoked.transition(Approved).unwrap_err().to_string();
        assert!(e.contains("final"), "{e}");
        assert_eq!(Submitted.transition(Approved).unwrap(), Approved);
    }

    #[test]
    fn states_parse_from_their_names() {
        assert_eq!("yanked".parse::<VersionState>().unwrap(), Yanked);
        assert!("deleted".parse::<VersionState>().is_err());
        assert_eq!(serde_json::to_value(Revoked).unwrap(), "revoked");
    }
}
