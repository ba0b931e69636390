//! Deals (成交): the offer to the winner (or runner-up) and its confirmation.

crate::text_enum! {
    /// `pending_confirmation → confirmed | fallen_through`, decided by [`DealStatus::next`].
    pub enum DealStatus {
        PendingConfirmation = "pending_confirmation",
        Confirmed = "confirmed",
        FallenThrough = "fallen_through",
    }
}

/// What may happen to a deal.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DealEvent {
    /// The second of the two parties confirmed.
    BothConfirmed,
    /// The investor holding the offer declined or missed `confirm_by`.
    FallThrough,
}

impl DealStatus {
    /// The one place deciding deal transitions. `None`: not allowed now.
    pub fn next(self, e: DealEvent) -> Option<DealStatus> {
        use DealEvent as E;
        use DealStatus as S;
        Some(match (self, e) {
            (S::PendingConfirmation, E::BothConfirmed) => S::Confirmed,
            (S::PendingConfirmation, E::FallThrough) => S::FallenThrough,
            _ => return None,
        })
    }

    /// The offer is still open: parties may confirm, the holder may decline.
    pub fn is_open(self) -> bool {
        self == DealStatus::PendingConfirmation
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_a_pending_deal_moves() {
        use DealEvent as E;
        use DealStatus as S;
        assert_eq!(
            S::PendingConfirmation.next(E::BothConfirmed),
            Some(S::Confirmed)
        );
        assert_eq!(
            S::PendingConfirmation.next(E::FallThrough),
            Some(S::FallenThrough)
        );
        for s in [S::Confirmed, S::FallenThrough] {
            assert_eq!(s.next(E::BothConfirmed), None);
            assert_eq!(s.next(E::FallThrough), None);
            assert!(!s.is_open());
        }
    }
}
