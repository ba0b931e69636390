//! Who may see or act on what: the caller's role and organisation against the village,
//! township or owner of a resource. Handlers and use cases ask these predicates; nobody
//! compares roles or organisation ids by hand.

use super::listing::ListingStatus;
use super::roles::Role;

/// The authenticated person making a request (the account as it is now, not as the token
/// was issued).
#[derive(Debug, Clone)]
pub struct Caller {
    pub id: String,
    pub role: Role,
    pub email: String,
    pub village_id: Option<String>,
    pub township_id: Option<String>,
    pub insurer_id: Option<String>,
    pub email_verified: bool,
}

impl Caller {
    pub fn is(&self, role: Role) -> bool {
        self.role == role
    }

    pub fn has_role(&self, roles: &[Role]) -> bool {
        roles.contains(&self.role)
    }

    pub fn role_str(&self) -> &'static str {
        self.role.as_str()
    }

    /// May the caller read things of this village (in this township)?
    pub fn sees_village(&self, village_id: &str, township_id: &str) -> bool {
        match self.role {
            Role::Admin => true,
            Role::Collective => self.village_id.as_deref() == Some(village_id),
            Role::Staff => self.township_id.as_deref() == Some(township_id),
            Role::Investor | Role::Insurer => false,
        }
    }

    /// The collective of this village.
    pub fn is_collective_of(&self, village_id: &str) -> bool {
        self.role == Role::Collective && self.village_id.as_deref() == Some(village_id)
    }

    /// Staff of this township (admins are not staff).
    pub fn is_staff_of(&self, township_id: &str) -> bool {
        self.role == Role::Staff && self.township_id.as_deref() == Some(township_id)
    }

    /// May the caller act for this township (staff of it, or an admin)?
    pub fn oversees_township(&self, township_id: &str) -> bool {
        match self.role {
            Role::Admin => true,
            Role::Staff => self.township_id.as_deref() == Some(township_id),
            _ => false,
        }
    }
}

/// May `caller` (or the public, `None`) see a listing at all? Public states: everyone; the
/// others only the owner collective, the township's staff and admins.
pub fn listing_visible(
    caller: Option<&Caller>,
    status: ListingStatus,
    village_id: &str,
    township_id: &str,
) -> bool {
    status.is_public() || caller.is_some_and(|c| c.sees_village(village_id, township_id))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn caller(role: Role, village: Option<&str>, township: Option<&str>) -> Caller {
        Caller {
            id: "u".into(),
            role,
            email: "u@example.cn".into(),
            village_id: village.map(Into::into),
            township_id: township.map(Into::into),
            insurer_id: None,
            email_verified: true,
        }
    }

    #[test]
    fn drafts_are_seen_only_by_their_village_township_and_admins() {
        let own = caller(Role::Collective, Some("v1"), None);
        let other = caller(Role::Collective, Some("v2"), None);
        let staff = caller(Role::Staff, None, Some("t1"));
        let far_staff = caller(Role::Staff, None, Some("t2"));
        let admin = caller(Role::Admin, None, None);
        let investor = caller(Role::Investor, None, None);
        let draft = |c: Option<&Caller>| listing_visible(c, ListingStatus::Draft, "v1", "t1");
        assert!(draft(Some(&own)) && draft(Some(&staff)) && draft(Some(&admin)));
        assert!(!draft(Some(&other)) && !draft(Some(&far_staff)) && !draft(Some(&investor)));
        assert!(!draft(None));
        assert!(listing_visible(None, ListingStatus::Announced, "v1", "t1"));
        assert!(!admin.is_staff_of("t1") && admin.oversees_township("t1"));
        assert!(!far_staff.oversees_township("t1"));
    }
}
