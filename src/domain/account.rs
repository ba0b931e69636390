//! Accounts (DOMAIN.md "Parties"): the life of an account and the one-time tokens mailed to
//! its owner.

crate::text_enum! {
    /// An account's state as the audit trail records it (the row keeps `disabled`).
    pub enum AccountState {
        Active = "active",
        Disabled = "disabled",
    }
}

crate::text_enum! {
    /// What a mailed one-time token lets its holder do.
    pub enum TokenPurpose {
        VerifyEmail = "verify_email",
        PasswordReset = "password_reset",
        Invitation = "invitation",
    }
}

/// What a mailed link's token is worth now (the pages behind the links say which).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LinkState {
    /// Unused and unexpired: the link can still be used.
    Live,
    /// Used already (its purpose done, or a later password change used it up).
    Used,
    /// Past its expiry, never used.
    Expired,
    /// No token of this purpose has this value.
    Unknown,
}

impl LinkState {
    /// The state of a token found with `expires_at` and `used_at` (`None`: not found) at `now`.
    /// A used token reads as used even after it expired: that is what happened to it.
    pub fn of<T: PartialOrd>(found: Option<(T, Option<T>)>, now: T) -> LinkState {
        match found {
            None => LinkState::Unknown,
            Some((_, Some(_))) => LinkState::Used,
            Some((expires_at, None)) if expires_at <= now => LinkState::Expired,
            Some(_) => LinkState::Live,
        }
    }
}

impl AccountState {
    /// The state of an account whose row says `disabled`.
    pub fn of(disabled: bool) -> Self {
        if disabled {
            AccountState::Disabled
        } else {
            AccountState::Active
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn link_states() {
        assert_eq!(LinkState::of::<i64>(None, 5), LinkState::Unknown);
        assert_eq!(LinkState::of(Some((10, None)), 5), LinkState::Live);
        assert_eq!(LinkState::of(Some((10, None)), 10), LinkState::Expired);
        assert_eq!(LinkState::of(Some((10, Some(3))), 5), LinkState::Used);
        assert_eq!(LinkState::of(Some((10, Some(3))), 50), LinkState::Used);
    }
}
