//! The authenticated caller and the role check every handler uses. The caller comes from the
//! request through the extractors in `api::extract`; scopes are `domain::access` predicates.

use crate::db::models::Listing;
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
