//! Bidder registration (报名), qualification (资格审查) and deposits (保证金).

use super::{validate, FieldError};

crate::text_enum! {
    pub enum IdType {
        /// 居民身份证 (GB 11643)
        ResidentId = "resident_id",
        /// 统一社会信用代码 (GB 32100)
        UnifiedSocialCreditCode = "unified_social_credit_code",
    }
}

crate::text_enum! {
    /// `applied → qualified | rejected`, both final; decided by [`RegistrationStatus::next`].
    pub enum RegistrationStatus {
        Applied = "applied",
        Qualified = "qualified",
        Rejected = "rejected",
    }
}

/// Why a registration moves: the township's qualification review (资格审查).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RegistrationEvent {
    Qualify,
    Reject,
}

impl RegistrationStatus {
    /// The one place deciding registration transitions.
    pub fn next(self, e: RegistrationEvent) -> Option<RegistrationStatus> {
        use RegistrationEvent as E;
        use RegistrationStatus as S;
        Some(match (self, e) {
            (S::Applied, E::Qualify) => S::Qualified,
            (S::Applied, E::Reject) => S::Rejected,
            _ => return None,
        })
    }
}

crate::text_enum! {
    /// Deposit states; transitions are decided by [`DepositStatus::next`].
    pub enum DepositStatus {
        Unpaid = "unpaid",
        Confirmed = "confirmed",
        RefundDue = "refund_due",
        Refunded = "refunded",
        Forfeited = "forfeited",
        AppliedToRent = "applied_to_rent",
    }
}

/// Why a deposit moves.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DepositEvent {
    /// Staff recorded the bank receipt.
    Confirm,
    /// Rejected registration, cancelled or failed listing, lost auction, runner-up released.
    Release,
    /// Winner declined or missed `confirm_by`.
    Forfeit,
    /// The winner's contract was certified.
    ApplyToRent,
    /// Staff paid it back.
    Refund,
}

impl DepositStatus {
    /// The one place deciding deposit transitions.
    pub fn next(self, e: DepositEvent) -> Option<DepositStatus> {
        use DepositEvent as E;
        use DepositStatus as D;
        Some(match (self, e) {
            (D::Unpaid, E::Confirm) => D::Confirmed,
            (D::Confirmed, E::Release) => D::RefundDue,
            (D::Confirmed, E::Forfeit) => D::Forfeited,
            (D::Confirmed, E::ApplyToRent) => D::AppliedToRent,
            (D::RefundDue, E::Refund) => D::Refunded,
            _ => return None,
        })
    }
}

/// Registration (and with it qualification and deposits) is open while the listing is
/// announced and `now` is before `registration_closes_at`: the eligible bidders are fixed at
/// the close.
pub fn registration_open(
    listing_status: crate::domain::listing::ListingStatus,
    closes_at: chrono::DateTime<chrono::Utc>,
    now: chrono::DateTime<chrono::Utc>,
) -> bool {
    listing_status == crate::domain::listing::ListingStatus::Announced && now < closes_at
}

/// Checks what an investor submits to register (`id_number` already trimmed and upper-cased):
/// every bad field, in the form's order.
pub fn check_application(
    legal_name: &str,
    id_type: IdType,
    id_number: &str,
    phone: &str,
    experience: &str,
    business_plan: &str,
) -> Vec<FieldError> {
    let mut errors = Vec::new();
    if let Err(m) = validate::text(legal_name, 200) {
        errors.push(FieldError::new("legal_name", m));
    }
    if !valid_id_number(id_type, id_number) {
        errors.push(FieldError::new(
            "id_number",
            format!("is not a valid {}", id_type.as_str()),
        ));
    }
    if let Err(m) = validate::phone(phone) {
        errors.push(FieldError::new("phone", m));
    }
    // Free text that reaches staff screens and e-mails: several lines, but no control or
    // bidirectional formatting characters. Either may be left empty.
    if let Err(m) = optional_multiline(experience, 5000) {
        errors.push(FieldError::new("experience", m));
    }
    if let Err(m) = optional_multiline(business_plan, 10000) {
        errors.push(FieldError::new("business_plan", m));
    }
    errors
}

/// [`validate::multiline_text`] for a field that may be left empty.
fn optional_multiline(s: &str, max: usize) -> Result<(), String> {
    if s.is_empty() {
        Ok(())
    } else {
        validate::multiline_text(s, max)
    }
}

/// Staff may verify membership only when the investor claimed it.
pub fn may_verify_membership(claims_membership: bool, verified: bool) -> bool {
    !verified || claims_membership
}

/// Staff may record a deposit for a registration that isn't rejected and whose deposit is
/// still unpaid.
pub fn may_record_deposit(status: RegistrationStatus, deposit: DepositStatus) -> bool {
    status != RegistrationStatus::Rejected && deposit.next(DepositEvent::Confirm).is_some()
}

/// An eligible bidder is qualified **and** has a confirmed deposit.
pub fn is_eligible(status: RegistrationStatus, deposit: DepositStatus) -> bool {
    status == RegistrationStatus::Qualified && deposit == DepositStatus::Confirmed
}

/// GB 11643: 17 digits and a check character 0-9/X.
pub fn valid_resident_id(s: &str) -> bool {
    const W: [u32; 17] = [7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2];
    const C: [u8; 11] = *b"10X98765432";
    let b = s.as_bytes();
    if b.len() != 18 || !b[..17].iter().all(u8::is_ascii_digit) {
        return false;
    }
    let sum: u32 = b[..17]
        .iter()
        .zip(W)
        .map(|(d, w)| (d - b'0') as u32 * w)
        .sum();
    b[17].to_ascii_uppercase() == C[(sum % 11) as usize]
}

/// GB 32100: 18 characters of `0-9A-HJ-NP-RTUWXY`, the last a mod-31 check character.
pub fn valid_uscc(s: &str) -> bool {
    const CHARS: &[u8] = b"0123456789ABCDEFGHJKLMNPQRTUWXY";
    const W: [u32; 17] = [
        1, 3, 9, 27, 19, 26, 16, 17, 20, 29, 25, 13, 8, 24, 10, 30, 28,
    ];
    let b = s.as_bytes();
    if b.len() != 18 {
        return false;
    }
    let mut vals = Vec::with_capacity(18);
    for c in b {
        match CHARS.iter().position(|x| x == c) {
            Some(v) => vals.push(v as u32),
            None => return false,
        }
    }
    let sum: u32 = vals[..17].iter().zip(W).map(|(v, w)| v * w).sum();
    let check = (31 - sum % 31) % 31;
    vals[17] == check
}

pub fn valid_id_number(t: IdType, s: &str) -> bool {
    match t {
        IdType::ResidentId => valid_resident_id(s),
        IdType::UnifiedSocialCreditCode => valid_uscc(s),
    }
}

/// `3101**********1234`: the first four and last four characters, the rest starred. The
/// one masking function for ID numbers.
pub fn mask_id(s: &str) -> String {
    let chars: Vec<char> = s.chars().collect();
    if chars.len() <= 8 {
        return "*".repeat(chars.len());
    }
    let n = chars.len();
    let mut out: String = chars[..4].iter().collect();
    out.push_str(&"*".repeat(n - 8));
    out.extend(&chars[n - 4..]);
    out
}

/// A phone shown to those who may not see it in full: `138****8000`.
pub fn mask_phone(s: &str) -> String {
    let chars: Vec<char> = s.chars().collect();
    if chars.len() <= 7 {
        return "*".repeat(chars.len());
    }
    let n = chars.len();
    let mut out: String = chars[..3].iter().collect();
    out.push_str(&"*".repeat(n - 7));
    out.extend(&chars[n - 4..]);
    out
}

/// A person's name in public: the family name and stars (`张**`).
pub fn mask_person_name(s: &str) -> String {
    let mut chars = s.chars();
    match chars.next() {
        Some(first) => {
            let rest = chars.count().max(1);
            format!("{first}{}", "*".repeat(rest))
        }
        None => String::new(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn free_text_of_an_application_refuses_control_and_bidi_characters() {
        let fields = |name: &str, exp: &str, plan: &str| -> Vec<String> {
            check_application(
                name,
                IdType::ResidentId,
                "11010519491231002X",
                "13800138000",
                exp,
                plan,
            )
            .into_iter()
            .map(|e| e.field.to_string())
            .collect()
        };
        assert!(fields("张伟", "十年\n水稻", "稻麦轮作\r\n烘干").is_empty());
        assert!(fields("张伟", "", "").is_empty());
        assert_eq!(fields("张\u{202E}伟", "", ""), ["legal_name"]);
        assert_eq!(
            fields("张伟", "a\u{2066}b", "x\u{0007}"),
            ["experience", "business_plan"]
        );
    }

    #[test]
    fn resident_ids() {
        assert!(valid_resident_id("11010519491231002X"));
        assert!(!valid_resident_id("110105194912310021"));
        assert!(!valid_resident_id("1101051949123100"));
        assert!(!valid_resident_id("A1010519491231002X"));
    }

    #[test]
    fn uscc() {
        assert!(valid_uscc("91350100M000100Y43"));
        assert!(!valid_uscc("91350100M000100Y44"));
        assert!(
            !valid_uscc("91350100M000100YI3"),
            "I is not in the alphabet"
        );
        assert!(!valid_uscc("9135"));
    }

    #[test]
    fn masking() {
        assert_eq!(mask_id("310101199001011234"), "3101**********1234");
        assert_eq!(mask_phone("13800138000"), "138****8000");
        assert_eq!(mask_person_name("张伟"), "张*");
        assert_eq!(mask_person_name("欧阳娜娜"), "欧***");
    }

    #[test]
    fn registration_window_and_membership() {
        use crate::domain::listing::ListingStatus as S;
        let close = chrono::DateTime::UNIX_EPOCH + chrono::Duration::days(10);
        assert!(registration_open(
            S::Announced,
            close,
            close - chrono::Duration::seconds(1)
        ));
        assert!(!registration_open(S::Announced, close, close));
        assert!(!registration_open(
            S::Submitted,
            close,
            close - chrono::Duration::days(1)
        ));
        assert!(may_verify_membership(true, true));
        assert!(may_verify_membership(false, false));
        assert!(!may_verify_membership(false, true));
    }

    #[test]
    fn registration_transitions() {
        use RegistrationEvent as E;
        use RegistrationStatus as S;
        assert_eq!(S::Applied.next(E::Qualify), Some(S::Qualified));
        assert_eq!(S::Applied.next(E::Reject), Some(S::Rejected));
        for s in [S::Qualified, S::Rejected] {
            assert_eq!(s.next(E::Qualify), None);
            assert_eq!(s.next(E::Reject), None);
        }
        assert!(may_record_deposit(S::Applied, DepositStatus::Unpaid));
        assert!(may_record_deposit(S::Qualified, DepositStatus::Unpaid));
        assert!(!may_record_deposit(S::Rejected, DepositStatus::Unpaid));
        assert!(!may_record_deposit(S::Qualified, DepositStatus::Confirmed));
    }

    #[test]
    fn deposits() {
        use DepositEvent as E;
        use DepositStatus as D;
        assert_eq!(D::Unpaid.next(E::Confirm), Some(D::Confirmed));
        assert_eq!(D::Unpaid.next(E::Refund), None);
        assert_eq!(D::Confirmed.next(E::Release), Some(D::RefundDue));
        assert_eq!(D::RefundDue.next(E::Refund), Some(D::Refunded));
        assert_eq!(D::Refunded.next(E::Refund), None);
        assert!(is_eligible(RegistrationStatus::Qualified, D::Confirmed));
        assert!(!is_eligible(RegistrationStatus::Applied, D::Confirmed));
        assert!(!is_eligible(RegistrationStatus::Qualified, D::Unpaid));
    }
}
