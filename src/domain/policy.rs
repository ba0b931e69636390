//! Performance insurance (履约保证保险): the policy of one contract year, its premium and the
//! government's subsidy, and its states.

use chrono::NaiveDate;

use super::money::apply_basis_points;

crate::text_enum! {
    /// `quoted → issued → active → expired`, `claimed`, `cancelled`; decided by
    /// [`PolicyStatus::next`] and, for the dates, [`PolicyStatus::by_date`].
    pub enum PolicyStatus {
        Quoted = "quoted",
        Issued = "issued",
        Active = "active",
        Expired = "expired",
        Claimed = "claimed",
        Cancelled = "cancelled",
    }
}

/// What may happen to a policy (besides its dates).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PolicyEvent {
    /// The insurer issued it under its policy number.
    Issue,
    /// The holder or staff withdrew the quote, or the contract was terminated.
    Withdraw,
    /// The contract was terminated before the period started.
    TerminateBeforeStart,
    /// A claim was filed against its year.
    Claim,
}

/// The premium of a sum insured: `round_half_up(sum × rate_bp / 10 000)`; the subsidy
/// `round_half_up(premium × share_bp / 10 000)`; the holder pays the rest.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Premium {
    pub premium_fen: i64,
    pub subsidy_fen: i64,
    pub holder_fen: i64,
}

/// `None` for a negative input, a share above 100 % or an overflow.
pub fn premium(sum_insured_fen: i64, rate_bp: i64, subsidy_share_bp: i64) -> Option<Premium> {
    if !(0..=10_000).contains(&subsidy_share_bp) {
        return None;
    }
    let premium_fen = apply_basis_points(sum_insured_fen, rate_bp)?;
    let subsidy_fen = apply_basis_points(premium_fen, subsidy_share_bp)?;
    Some(Premium {
        premium_fen,
        subsidy_fen,
        holder_fen: premium_fen - subsidy_fen,
    })
}

impl PolicyStatus {
    /// The one place deciding policy transitions. `None`: not allowed now.
    pub fn next(self, e: PolicyEvent) -> Option<PolicyStatus> {
        use PolicyEvent as E;
        use PolicyStatus as S;
        Some(match (self, e) {
            (S::Quoted, E::Issue) => S::Issued,
            (S::Quoted, E::Withdraw) => S::Cancelled,
            (S::Quoted | S::Issued, E::TerminateBeforeStart) => S::Cancelled,
            (S::Issued | S::Active | S::Expired, E::Claim) => S::Claimed,
            _ => return None,
        })
    }

    /// Counts as the year's one policy (everything but `cancelled`).
    pub fn is_live(self) -> bool {
        self != PolicyStatus::Cancelled
    }

    /// Issued by the insurer and not cancelled: it insures its year.
    pub fn insures(self) -> bool {
        matches!(
            self,
            PolicyStatus::Issued
                | PolicyStatus::Active
                | PolicyStatus::Expired
                | PolicyStatus::Claimed
        )
    }

    /// The state the calendar gives an issued policy on `today` (a claimed, quoted or
    /// cancelled one doesn't move with time).
    pub fn by_date(self, today: NaiveDate, start: NaiveDate, end: NaiveDate) -> PolicyStatus {
        use PolicyStatus as S;
        match self {
            S::Issued | S::Active | S::Expired => {
                if today > end {
                    S::Expired
                } else if today >= start {
                    S::Active
                } else {
                    S::Issued
                }
            }
            other => other,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn haimen_2017() {
        // 158.31 mu at 900 元/mu/year: sum insured 142,479.00元.
        let p = premium(14_247_900, 300, 5_000).unwrap();
        assert_eq!(p.premium_fen, 427_437);
        assert_eq!(p.subsidy_fen, 213_719);
        assert_eq!(p.holder_fen, 213_718);
    }

    #[test]
    fn dates_move_issued_policies_only() {
        let d = |m, dd| NaiveDate::from_ymd_opt(2027, m, dd).unwrap();
        let (s, e) = (d(3, 1), d(12, 31));
        assert_eq!(
            PolicyStatus::Issued.by_date(d(2, 28), s, e),
            PolicyStatus::Issued
        );
        assert_eq!(
            PolicyStatus::Issued.by_date(d(3, 1), s, e),
            PolicyStatus::Active
        );
        assert_eq!(
            PolicyStatus::Active.by_date(d(12, 31), s, e),
            PolicyStatus::Active
        );
        let next_year = NaiveDate::from_ymd_opt(2028, 1, 1).unwrap();
        assert_eq!(
            PolicyStatus::Active.by_date(next_year, s, e),
            PolicyStatus::Expired
        );
        assert_eq!(
            PolicyStatus::Quoted.by_date(next_year, s, e),
            PolicyStatus::Quoted
        );
        assert_eq!(
            PolicyStatus::Claimed.by_date(next_year, s, e),
            PolicyStatus::Claimed
        );
    }

    #[test]
    fn transitions() {
        use PolicyEvent as E;
        use PolicyStatus as S;
        assert_eq!(S::Quoted.next(E::Issue), Some(S::Issued));
        assert_eq!(S::Issued.next(E::Issue), None);
        assert_eq!(S::Issued.next(E::Withdraw), None);
        assert_eq!(S::Active.next(E::TerminateBeforeStart), None);
        assert_eq!(S::Expired.next(E::Claim), Some(S::Claimed));
        assert_eq!(S::Quoted.next(E::Claim), None);
    }

    proptest! {
        #[test]
        fn premium_is_subsidy_plus_holder_share(
            sum in 0i64..=i64::MAX,
            rate in 0i64..=10_000,
            share in 0i64..=10_000,
        ) {
            if let Some(p) = premium(sum, rate, share) {
                prop_assert_eq!(p.premium_fen, p.subsidy_fen + p.holder_fen);
                prop_assert!(p.subsidy_fen >= 0 && p.holder_fen >= 0);
                prop_assert!(p.subsidy_fen <= p.premium_fen);
                prop_assert!(p.premium_fen <= sum);
            } else {
                // Only an overflow of the i64 range may refuse.
                prop_assert!((sum as i128) * (rate as i128) / 10_000 > i64::MAX as i128 - 1);
            }
        }
    }
}
