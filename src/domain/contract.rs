//! Contracts (流转合同): the state machine, the parties and the grounds of termination.

crate::text_enum! {
    /// `draft → signed → certified → active → completed | terminated`, and `cancelled`
    /// before certification; decided by [`ContractStatus::next`].
    pub enum ContractStatus {
        Draft = "draft",
        Signed = "signed",
        Certified = "certified",
        Active = "active",
        Completed = "completed",
        Terminated = "terminated",
        Cancelled = "cancelled",
    }
}

crate::text_enum! {
    /// Grounds for terminating (解除) a certified or active contract.
    pub enum TerminationGround {
        RentDefault = "rent_default",
        ChangeOfUse = "change_of_use",
        IdleLand = "idle_land",
        LandDamage = "land_damage",
        MutualAgreement = "mutual_agreement",
    }
}

/// The two parties who sign.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Party {
    /// 甲方: the village collective economic organisation that owns the land.
    Transferor,
    /// 乙方: the winning investor.
    Transferee,
}

/// What may happen to a contract.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ContractEvent {
    /// A party signed; `both`: the other party had signed already.
    Sign {
        both: bool,
    },
    /// Staff certified (鉴证); `insurance_required` is the township's setting at that moment.
    Certify {
        insurance_required: bool,
    },
    /// Year 1's policy was issued.
    Activate,
    /// The term has passed and nothing is outstanding.
    Complete,
    Terminate,
    Cancel,
}

impl ContractStatus {
    /// The one place deciding contract transitions. `None`: not allowed now.
    pub fn next(self, e: ContractEvent) -> Option<ContractStatus> {
        use ContractEvent as E;
        use ContractStatus as S;
        Some(match (self, e) {
            (S::Draft, E::Sign { both: false }) => S::Draft,
            (S::Draft, E::Sign { both: true }) => S::Signed,
            (S::Signed, E::Certify { insurance_required }) => {
                if insurance_required {
                    S::Certified
                } else {
                    S::Active
                }
            }
            (S::Certified, E::Activate) => S::Active,
            (S::Certified | S::Active, E::Complete) => S::Completed,
            (S::Certified | S::Active, E::Terminate) => S::Terminated,
            (S::Draft | S::Signed, E::Cancel) => S::Cancelled,
            _ => return None,
        })
    }

    /// Holds its parcels: they can't be edited or listed again.
    pub fn locks_parcels(self) -> bool {
        matches!(
            self,
            ContractStatus::Draft
                | ContractStatus::Signed
                | ContractStatus::Certified
                | ContractStatus::Active
        )
    }

    /// Certified or later and not ended: rent is collected, policies may be quoted.
    pub fn in_force(self) -> bool {
        matches!(self, ContractStatus::Certified | ContractStatus::Active)
    }

    pub fn locking_statuses() -> Vec<&'static str> {
        Self::ALL
            .iter()
            .copied()
            .filter(|s| s.locks_parcels())
            .map(|s| s.as_str())
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use ContractEvent as E;
    use ContractStatus as S;

    #[test]
    fn signing_needs_both_parties() {
        assert_eq!(S::Draft.next(E::Sign { both: false }), Some(S::Draft));
        assert_eq!(S::Draft.next(E::Sign { both: true }), Some(S::Signed));
        assert_eq!(S::Signed.next(E::Sign { both: true }), None);
    }

    #[test]
    fn certification_activates_unless_insurance_is_required() {
        let c = |r| E::Certify {
            insurance_required: r,
        };
        assert_eq!(S::Signed.next(c(false)), Some(S::Active));
        assert_eq!(S::Signed.next(c(true)), Some(S::Certified));
        assert_eq!(S::Draft.next(c(false)), None);
        assert_eq!(S::Certified.next(E::Activate), Some(S::Active));
        assert_eq!(S::Active.next(E::Activate), None);
    }

    #[test]
    fn only_an_uncertified_contract_is_cancelled_and_only_a_certified_one_terminated() {
        for s in S::ALL.iter().copied() {
            assert_eq!(
                s.next(E::Cancel).is_some(),
                matches!(s, S::Draft | S::Signed)
            );
            assert_eq!(s.next(E::Terminate).is_some(), s.in_force());
            assert_eq!(s.next(E::Complete).is_some(), s.in_force());
        }
        assert!(!S::Completed.locks_parcels() && !S::Terminated.locks_parcels());
        assert!(!S::Cancelled.locks_parcels() && S::Draft.locks_parcels());
    }
}
