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
