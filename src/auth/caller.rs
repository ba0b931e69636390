//! The authenticated caller and the role check every handler uses. The caller comes from the
//! request through the extractors in `api::extract`; scopes are `domain::access` predicates.

use crate::auth::tokens::Claims;
use crate::db::models::{Account, Listing};
use crate::domain::roles::Role;
use crate::error::ApiError;

pub use crate::domain::access::Caller;

impl Caller {
    /// 403 unless the caller has one of `roles`.
    pub fn require(&self, roles: &[Role]) -> Result<(), ApiError> {
        if self.has_role(roles) {
            Ok(())
        } else {
            Err(ApiError::Forbidden(format!(
                "role `{}` may not do this",
                self.role.as_str()
            )))
        }
    }

    pub fn require_admin(&self) -> Result<(), ApiError> {
        self.require(&[Role::Admin])
    }
}

/// May `caller` (or the public, `None`) see this listing at all?
pub fn listing_visible(caller: Option<&Caller>, l: &Listing) -> bool {
    crate::domain::access::listing_visible(caller, l.status, &l.village_id, &l.township_id)
}

/// The caller a signed token stands for, given its account as read now: the account must exist,
/// not be disabled, and still have the token version the token was issued for (else 401).
pub fn caller_of(account: Option<Account>, claims: &Claims) -> Result<Caller, ApiError> {
    match account {
        Some(u) if !u.disabled && u.token_version == claims.ver => Ok(Caller {
            id: u.id,
            role: u.role,
            email: u.email,
            village_id: u.village_id,
            township_id: u.township_id,
            insurer_id: u.insurer_id,
            email_verified: u.email_verified,
        }),
        _ => Err(ApiError::Unauthorized(
            "invalid or expired access token".into(),
        )),
    }
}

/// The account check of a signed token (`api::extract::authenticate`) on a connection the
/// request already holds.
pub fn caller_on(conn: &mut crate::db::DbConn, claims: &Claims) -> Result<Caller, ApiError> {
    caller_of(crate::db::queries::find_account(conn, &claims.sub)?, claims)
}
