//! Claims (理赔) on a defaulted installment, the insurer's decision and payout, and the
//! recovery (追偿) from the operator.

crate::text_enum! {
    /// `filed → under_review → approved | rejected → paid → recovery_open → recovered |
    /// written_off`; decided by [`ClaimStatus::next`].
    pub enum ClaimStatus {
        Filed = "filed",
        UnderReview = "under_review",
        Approved = "approved",
        Rejected = "rejected",
        Paid = "paid",
        RecoveryOpen = "recovery_open",
        Recovered = "recovered",
        WrittenOff = "written_off",
    }
}

/// What may happen to a claim.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ClaimEvent {
    Review,
    Approve,
    Reject,
    Pay,
    /// A recovery arrived; `complete`: the recoveries now equal the payout.
    Recover {
        complete: bool,
    },
    WriteOff,
}

impl ClaimStatus {
    /// The one place deciding claim transitions. `None`: not allowed now.
    pub fn next(self, e: ClaimEvent) -> Option<ClaimStatus> {
        use ClaimEvent as E;
        use ClaimStatus as S;
        Some(match (self, e) {
            (S::Filed, E::Review) => S::UnderReview,
            (S::Filed | S::UnderReview, E::Approve) => S::Approved,
            (S::Filed | S::UnderReview, E::Reject) => S::Rejected,
            (S::Approved, E::Pay) => S::Paid,
            (S::Paid | S::RecoveryOpen, E::Recover { complete: true }) => S::Recovered,
            (S::Paid | S::RecoveryOpen, E::Recover { complete: false }) => S::RecoveryOpen,
            (S::Paid | S::RecoveryOpen, E::WriteOff) => S::WrittenOff,
            _ => return None,
        })
    }

    /// Open: filed, under review or approved (one per installment; payments wait for it).
    pub fn is_open(self) -> bool {
        matches!(
            self,
            ClaimStatus::Filed | ClaimStatus::UnderReview | ClaimStatus::Approved
        )
    }

    pub fn open_statuses() -> Vec<&'static str> {
        Self::ALL
            .iter()
            .copied()
            .filter(|s| s.is_open())
            .map(|s| s.as_str())
            .collect()
    }
}

/// What may be claimed: what is outstanding, capped at the sum insured.
pub fn claimable(outstanding_fen: i64, sum_insured_fen: i64) -> i64 {
    outstanding_fen.min(sum_insured_fen).max(0)
}

/// Whether `approved` is allowed for a claim of `claimed`: 1 ≤ approved ≤ claimed.
pub fn approvable(approved_fen: i64, claimed_fen: i64) -> bool {
    (1..=claimed_fen).contains(&approved_fen)
}

/// Whether a recovery of `amount` fits: ≥ 1 and at most what is still unrecovered.
pub fn recoverable(amount_fen: i64, paid_fen: i64, recovered_fen: i64) -> bool {
    amount_fen >= 1 && amount_fen <= paid_fen - recovered_fen
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn the_claim_lifecycle() {
        use ClaimEvent as E;
        use ClaimStatus as S;
        assert_eq!(S::Filed.next(E::Review), Some(S::UnderReview));
        assert_eq!(S::UnderReview.next(E::Approve), Some(S::Approved));
        assert_eq!(S::Approved.next(E::Reject), None);
        assert_eq!(S::Approved.next(E::Pay), Some(S::Paid));
        assert_eq!(
            S::Paid.next(E::Recover { complete: false }),
            Some(S::RecoveryOpen)
        );
        assert_eq!(
            S::RecoveryOpen.next(E::Recover { complete: true }),
            Some(S::Recovered)
        );
        assert_eq!(
            S::Paid.next(E::Recover { complete: true }),
            Some(S::Recovered)
        );
        assert_eq!(S::Recovered.next(E::WriteOff), None);
        assert_eq!(S::RecoveryOpen.next(E::WriteOff), Some(S::WrittenOff));
        assert!(S::Approved.is_open() && !S::Paid.is_open());
    }

    proptest! {
        /// Whatever sequence of recoveries is offered, accepting only those that fit keeps
        /// the recovered total within the payout, and a payout within what was claimed keeps
        /// the installment's money within its amount.
        #[test]
        fn payouts_and_recoveries_stay_within_their_caps(
            amount in 1i64..=1_000_000_000_000,
            paid_by_operator_share in 0u32..=100,
            approve_share in 0u32..=100,
            offers in proptest::collection::vec(0i64..=2_000_000_000_000, 0..20),
        ) {
            let paid = amount * i64::from(paid_by_operator_share) / 100;
            let outstanding = amount - paid;
            let claimed = claimable(outstanding, amount);
            prop_assume!(claimed >= 1);
            let approved = (claimed * i64::from(approve_share) / 100).max(1);
            prop_assert!(approvable(approved, claimed));
            prop_assert!(!approvable(claimed + 1, claimed));
            prop_assert!(paid + approved <= amount);
            let mut recovered = 0;
            for o in offers {
                if recoverable(o, approved, recovered) {
                    recovered += o;
                }
                prop_assert!(recovered <= approved);
            }
        }
    }
}
