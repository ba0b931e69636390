//! Documents (scans) filed with a listing, a registration, a contract or a claim: which kinds
//! each owner takes, which file types are accepted (decided by the file's first bytes, never
//! by what the client claims), file names, when an owner's documents may still change, and
//! the rules that need documents (a listing's submit, a contract's certification).

use super::claim::ClaimStatus;
use super::contract::ContractStatus;
use super::listing::{ListingEvent, ListingStatus};
use super::registration::RegistrationStatus;
use super::FieldError;

crate::text_enum! {
    /// What a document is filed with.
    pub enum OwnerType {
        Listing = "listing",
        Registration = "registration",
        Contract = "contract",
        Claim = "claim",
    }
}

impl OwnerType {
    /// The owner named by a path's collection segment (`listings` → listing).
    pub fn from_collection(segment: &str) -> Option<OwnerType> {
        OwnerType::ALL
            .iter()
            .copied()
            .find(|o| o.collection() == segment)
    }

    /// The collection segment of the owner's routes.
    pub fn collection(self) -> &'static str {
        match self {
            OwnerType::Listing => "listings",
            OwnerType::Registration => "registrations",
            OwnerType::Contract => "contracts",
            OwnerType::Claim => "claims",
        }
    }
}

crate::text_enum! {
    /// What a document is. Each kind belongs to one owner type ([`DocumentKind::owner`]).
    pub enum DocumentKind {
        /// 村民会议（代表会议）决议: the villagers' resolution to transfer.
        Resolution = "resolution",
        /// 委托书: the households' commission letters.
        Commission = "commission",
        ParcelMap = "parcel_map",
        IdCopy = "id_copy",
        BusinessLicence = "business_licence",
        Qualification = "qualification",
        /// The scan of the signed paper contract.
        SignedScan = "signed_scan",
        Evidence = "evidence",
    }
}

impl DocumentKind {
    pub fn owner(self) -> OwnerType {
        use DocumentKind as K;
        match self {
            K::Resolution | K::Commission | K::ParcelMap => OwnerType::Listing,
            K::IdCopy | K::BusinessLicence | K::Qualification => OwnerType::Registration,
            K::SignedScan => OwnerType::Contract,
            K::Evidence => OwnerType::Claim,
        }
    }

    /// The kinds an owner type takes.
    pub fn of(owner: OwnerType) -> Vec<DocumentKind> {
        DocumentKind::ALL
            .iter()
            .copied()
            .filter(|k| k.owner() == owner)
            .collect()
    }
}

/// The accepted file types. The stored `content_type` is the one the bytes show.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MediaType {
    Pdf,
    Jpeg,
    Png,
}

impl MediaType {
    pub const ALL: [MediaType; 3] = [MediaType::Pdf, MediaType::Jpeg, MediaType::Png];

    pub fn mime(self) -> &'static str {
        match self {
            MediaType::Pdf => "application/pdf",
            MediaType::Jpeg => "image/jpeg",
            MediaType::Png => "image/png",
        }
    }

    /// A `Content-Type` header value (parameters and case ignored).
    pub fn from_header(value: &str) -> Option<MediaType> {
        let essence = value.split(';').next().unwrap_or_default().trim();
        MediaType::ALL
            .into_iter()
            .find(|m| m.mime().eq_ignore_ascii_case(essence))
    }

    fn magic(self) -> &'static [u8] {
        match self {
            MediaType::Pdf => b"%PDF-",
            MediaType::Jpeg => &[0xFF, 0xD8, 0xFF],
            MediaType::Png => &[0x89, b'P', b'N', b'G', 0x0D, 0x0A, 0x1A, 0x0A],
        }
    }

    /// Bytes needed to recognise any accepted type.
    pub const SNIFF_LEN: usize = 8;

    /// The type the file's first bytes show, if accepted.
    pub fn sniff(head: &[u8]) -> Option<MediaType> {
        MediaType::ALL
            .into_iter()
            .find(|m| head.starts_with(m.magic()))
    }
}

/// Whether the declared type and the file's first bytes agree on an accepted type.
pub fn check_media(declared: MediaType, head: &[u8]) -> Result<MediaType, String> {
    match MediaType::sniff(head) {
        Some(m) if m == declared => Ok(m),
        Some(m) => Err(format!(
            "the file is {} but was sent as {}",
            m.mime(),
            declared.mime()
        )),
        None => Err(format!(
            "the file is not a {} (accepted: PDF, JPEG, PNG)",
            declared.mime()
        )),
    }
}

/// Longest file name kept, characters.
pub const MAX_FILENAME_CHARS: usize = 255;

/// A file name as shown and offered for download: 1–255 characters, no control or
/// bidirectional characters, no path (`/`, `\`), not `.` or `..`. Trimmed.
pub fn check_filename(raw: &str) -> Result<String, String> {
    let name = raw.trim();
    super::validate::text(name, MAX_FILENAME_CHARS)?;
    if name.contains(['/', '\\']) {
        return Err("must be a file name, not a path".into());
    }
    if name == "." || name == ".." {
        return Err("must be a file name".into());
    }
    Ok(name.to_string())
}

/// The owner's state as far as its documents care.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OwnerState {
    Listing(ListingStatus),
    Registration(RegistrationStatus),
    Contract(ContractStatus),
    Claim(ClaimStatus),
}

impl OwnerState {
    pub fn owner_type(self) -> OwnerType {
        match self {
            OwnerState::Listing(_) => OwnerType::Listing,
            OwnerState::Registration(_) => OwnerType::Registration,
            OwnerState::Contract(_) => OwnerType::Contract,
            OwnerState::Claim(_) => OwnerType::Claim,
        }
    }

    /// Whether the owner is still editable, so its documents may be removed: a draft (or
    /// returned) listing, an applied registration, a draft contract, a filed claim. After that
    /// the documents are part of what was reviewed and never change.
    pub fn editable(self) -> bool {
        match self {
            OwnerState::Listing(s) => s.next(ListingEvent::Edit).is_some(),
            OwnerState::Registration(s) => s == RegistrationStatus::Applied,
            OwnerState::Contract(s) => s == ContractStatus::Draft,
            OwnerState::Claim(s) => s == ClaimStatus::Filed,
        }
    }

    /// Whether documents may be added: while editable, and also a signed contract (the scan
    /// of the signed paper comes before certification) and a claim under review (evidence
    /// the insurer asks for).
    pub fn accepts_uploads(self) -> bool {
        self.editable()
            || matches!(
                self,
                OwnerState::Contract(ContractStatus::Signed)
                    | OwnerState::Claim(ClaimStatus::UnderReview)
            )
    }

    pub fn status_word(self) -> &'static str {
        match self {
            OwnerState::Listing(s) => s.as_str(),
            OwnerState::Registration(s) => s.as_str(),
            OwnerState::Contract(s) => s.as_str(),
            OwnerState::Claim(s) => s.as_str(),
        }
    }
}

/// The submit rule on documents: a listing needs at least one `resolution` (村民会议决议) and
/// one `commission` (委托书) document.
pub fn check_listing_documents(kinds: &[DocumentKind]) -> Option<FieldError> {
    let missing: Vec<&str> = [DocumentKind::Resolution, DocumentKind::Commission]
        .into_iter()
        .filter(|k| !kinds.contains(k))
        .map(DocumentKind::as_str)
        .collect();
    (!missing.is_empty()).then(|| {
        FieldError::new(
            "documents",
            format!(
                "upload at least one document of kind {} before submitting",
                missing.join(" and ")
            ),
        )
    })
}

/// The certification rule on documents, when `documents.require_signed_scan` is on.
pub fn check_certification_documents(kinds: &[DocumentKind], required: bool) -> Option<FieldError> {
    (required && !kinds.contains(&DocumentKind::SignedScan)).then(|| {
        FieldError::new(
            "documents",
            "upload the scan of the signed contract (kind signed_scan) before certifying",
        )
    })
}

/// `Content-Disposition` for a download: an ASCII fallback name and the UTF-8 name
/// (RFC 6266 / RFC 5987 `filename*`).
pub fn content_disposition(filename: &str) -> String {
    let fallback: String = filename
        .chars()
        .map(|c| {
            if c.is_ascii_graphic() && c != '"' && c != '\\' && c != '%' || c == ' ' {
                c
            } else {
                '_'
            }
        })
        .collect();
    let encoded: String = filename
        .bytes()
        .map(|b| {
            if b.is_ascii_alphanumeric() || b"!#$&+-.^_`|~".contains(&b) {
                (b as char).to_string()
            } else {
                format!("%{b:02X}")
            }
        })
        .collect();
    format!("attachment; filename=\"{fallback}\"; filename*=UTF-8''{encoded}")
}

/// A byte range of a `size`-byte file asked by a `Range` header, as (first, last) inclusive.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RangeAsk {
    /// No usable single range: the whole file (RFC 9110 lets a server ignore a Range).
    Whole,
    Part(u64, u64),
    /// A range starting at or after the end of the file: 416.
    Unsatisfiable,
}

/// Parses one `bytes=a-b`, `bytes=a-` or `bytes=-n` range. Several ranges, other units or a
/// malformed header read as the whole file.
pub fn parse_range(header: &str, size: u64) -> RangeAsk {
    let Some(spec) = header.trim().strip_prefix("bytes=") else {
        return RangeAsk::Whole;
    };
    if spec.contains(',') {
        return RangeAsk::Whole;
    }
    let Some((a, b)) = spec.trim().split_once('-') else {
        return RangeAsk::Whole;
    };
    let (a, b) = (a.trim(), b.trim());
    let num = |s: &str| -> Option<u64> {
        (!s.is_empty() && s.bytes().all(|c| c.is_ascii_digit()))
            .then(|| s.parse().ok())
            .flatten()
    };
    match (num(a), num(b)) {
        (Some(first), last) if a.len() <= 20 => {
            if let Some(l) = last {
                if l < first {
                    return RangeAsk::Whole;
                }
            } else if !b.is_empty() {
                return RangeAsk::Whole;
            }
            if first >= size {
                return RangeAsk::Unsatisfiable;
            }
            let last = last.map_or(size - 1, |l| l.min(size - 1));
            RangeAsk::Part(first, last)
        }
        (None, Some(n)) if a.is_empty() => {
            if n == 0 || size == 0 {
                return RangeAsk::Unsatisfiable;
            }
            RangeAsk::Part(size - n.min(size), size - 1)
        }
        _ => RangeAsk::Whole,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kinds_belong_to_one_owner() {
        assert_eq!(
            DocumentKind::of(OwnerType::Listing),
            vec![
                DocumentKind::Resolution,
                DocumentKind::Commission,
                DocumentKind::ParcelMap
            ]
        );
        assert_eq!(
            DocumentKind::of(OwnerType::Claim),
            vec![DocumentKind::Evidence]
        );
        for o in OwnerType::ALL {
            assert_eq!(OwnerType::from_collection(o.collection()), Some(*o));
        }
    }

    #[test]
    fn media_types_are_decided_by_the_bytes() {
        assert_eq!(MediaType::sniff(b"%PDF-1.7\n"), Some(MediaType::Pdf));
        assert_eq!(
            MediaType::sniff(&[0xFF, 0xD8, 0xFF, 0xE0]),
            Some(MediaType::Jpeg)
        );
        assert_eq!(
            MediaType::sniff(b"\x89PNG\r\n\x1a\n...."),
            Some(MediaType::Png)
        );
        assert_eq!(MediaType::sniff(b"GIF89a"), None);
        assert!(check_media(MediaType::Pdf, b"\x89PNG\r\n\x1a\n").is_err());
        assert!(check_media(MediaType::Pdf, b"%PD").is_err());
        assert_eq!(
            MediaType::from_header("Application/PDF; charset=binary"),
            Some(MediaType::Pdf)
        );
        assert_eq!(MediaType::from_header("text/plain"), None);
    }

    #[test]
    fn file_names_are_names_not_paths() {
        assert_eq!(
            check_filename(" 村民会议决议.pdf ").unwrap(),
            "村民会议决议.pdf"
        );
        assert!(check_filename("../etc/passwd").is_err());
        assert!(check_filename("a\\b.pdf").is_err());
        assert!(check_filename("..").is_err());
        assert!(check_filename("").is_err());
        assert!(check_filename("a\u{202e}fdp.exe").is_err());
        assert!(check_filename(&"名".repeat(256)).is_err());
        assert!(check_filename(&"名".repeat(255)).is_ok());
    }

    #[test]
    fn documents_change_only_while_the_owner_is_editable() {
        use OwnerState as O;
        assert!(O::Listing(ListingStatus::Draft).editable());
        assert!(O::Listing(ListingStatus::Returned).editable());
        assert!(!O::Listing(ListingStatus::Submitted).editable());
        assert!(!O::Listing(ListingStatus::Submitted).accepts_uploads());
        assert!(!O::Contract(ContractStatus::Signed).editable());
        assert!(O::Contract(ContractStatus::Signed).accepts_uploads());
        assert!(!O::Contract(ContractStatus::Certified).accepts_uploads());
        assert!(O::Claim(ClaimStatus::UnderReview).accepts_uploads());
        assert!(!O::Claim(ClaimStatus::UnderReview).editable());
        assert!(O::Registration(RegistrationStatus::Applied).editable());
        assert!(!O::Registration(RegistrationStatus::Qualified).accepts_uploads());
    }

    #[test]
    fn a_listing_needs_its_resolution_and_commissions() {
        let e = check_listing_documents(&[DocumentKind::ParcelMap]).unwrap();
        assert_eq!(e.field, "documents");
        assert!(e.message.contains("resolution and commission"));
        assert!(check_listing_documents(&[DocumentKind::Resolution]).is_some());
        assert!(
            check_listing_documents(&[DocumentKind::Commission, DocumentKind::Resolution])
                .is_none()
        );
        assert!(check_certification_documents(&[], true).is_some());
        assert!(check_certification_documents(&[], false).is_none());
        assert!(check_certification_documents(&[DocumentKind::SignedScan], true).is_none());
    }

    #[test]
    fn content_disposition_carries_the_utf8_name() {
        assert_eq!(
            content_disposition("决议 1.pdf"),
            "attachment; filename=\"__ 1.pdf\"; filename*=UTF-8''%E5%86%B3%E8%AE%AE%201.pdf"
        );
        assert_eq!(
            content_disposition("a\"b.pdf"),
            "attachment; filename=\"a_b.pdf\"; filename*=UTF-8''a%22b.pdf"
        );
    }

    #[test]
    fn ranges() {
        assert_eq!(parse_range("bytes=0-9", 100), RangeAsk::Part(0, 9));
        assert_eq!(parse_range("bytes=90-", 100), RangeAsk::Part(90, 99));
        assert_eq!(parse_range("bytes=90-500", 100), RangeAsk::Part(90, 99));
        assert_eq!(parse_range("bytes=-10", 100), RangeAsk::Part(90, 99));
        assert_eq!(parse_range("bytes=-500", 100), RangeAsk::Part(0, 99));
        assert_eq!(parse_range("bytes=100-", 100), RangeAsk::Unsatisfiable);
        assert_eq!(parse_range("bytes=-0", 100), RangeAsk::Unsatisfiable);
        assert_eq!(parse_range("bytes=5-1", 100), RangeAsk::Whole);
        assert_eq!(parse_range("bytes=0-1,3-4", 100), RangeAsk::Whole);
        assert_eq!(parse_range("items=0-1", 100), RangeAsk::Whole);
        assert_eq!(parse_range("bytes=x-1", 100), RangeAsk::Whole);
    }
}
