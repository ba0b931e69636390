//! The five roles of DOMAIN.md ("Parties") and the organisation each one belongs to.

crate::text_enum! {
    pub enum Role {
        Admin = "admin",
        Staff = "staff",
        Collective = "collective",
        Investor = "investor",
        Insurer = "insurer",
    }
}

/// The organisation field a role requires.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OrgKind {
    Village,
    Township,
    Insurer,
}

impl Role {
    pub fn required_org(self) -> Option<OrgKind> {
        match self {
            Role::Collective => Some(OrgKind::Village),
            Role::Staff => Some(OrgKind::Township),
            Role::Insurer => Some(OrgKind::Insurer),
            Role::Admin | Role::Investor => None,
        }
    }
}

impl OrgKind {
    pub fn field(self) -> &'static str {
        match self {
            OrgKind::Village => "village_id",
            OrgKind::Township => "township_id",
            OrgKind::Insurer => "insurer_id",
        }
    }
}

/// Checks that exactly the organisation the role needs is given: returns the offending field
/// names (a missing required one, or one the role must not carry).
pub fn org_mismatches(
    role: Role,
    village: bool,
    township: bool,
    insurer: bool,
) -> Vec<&'static str> {
    let given = [
        (OrgKind::Village, village),
        (OrgKind::Township, township),
        (OrgKind::Insurer, insurer),
    ];
    given
        .iter()
        .filter(|(kind, present)| (role.required_org() == Some(*kind)) != *present)
        .map(|(kind, _)| kind.field())
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip() {
        for r in [
            Role::Admin,
            Role::Staff,
            Role::Collective,
            Role::Investor,
            Role::Insurer,
        ] {
            assert_eq!(Role::parse(r.as_str()), Some(r));
        }
        assert_eq!(Role::parse("root"), None);
    }

    #[test]
    fn org_pairing() {
        assert!(org_mismatches(Role::Collective, true, false, false).is_empty());
        assert_eq!(
            org_mismatches(Role::Collective, false, false, false),
            vec!["village_id"]
        );
        assert_eq!(
            org_mismatches(Role::Staff, true, true, false),
            vec!["village_id"]
        );
        assert_eq!(
            org_mismatches(Role::Admin, false, false, true),
            vec!["insurer_id"]
        );
        assert!(org_mismatches(Role::Investor, false, false, false).is_empty());
    }
}
