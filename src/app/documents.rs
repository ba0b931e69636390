//! Documents (scans) filed with listings, registrations, contracts and claims: who may upload,
//! read and remove them (the owner's own scope rules), storing their bytes content-addressed
//! (see [`super::document_store`]), and the audit record of every upload and removal, which
//! carries the content's SHA-256 so a file swapped behind the server's back is detected
//! (`landx documents verify`).
//!
//! Check order of an upload: 404 (an owner the caller may not read) → 403 (may read, may not
//! file documents on it) → 413 (`Content-Length` over `documents.max_bytes`) → 415 (declared
//! type) → 422 (kind, file name) → 409 (the owner no longer takes documents): all before a
//! byte of the body is read. Then, while the body streams in: 415 (the first bytes are not
//! the declared type), 413 (the body grows past the limit); and in the transaction that
//! stores it the owner's state is checked again under its row lock.

use chrono::{DateTime, Utc};

use super::document_store::{self, Spooled};
use super::Ctx;
use crate::audit::{self, contract_stream, listing_stream, Actor, Entry};
use crate::config::Documents as DocumentSettings;
use crate::db::contracts as cq;
use crate::db::documents::{self as dq, Blob, Document};
use crate::db::insurance as iq;
use crate::db::listings as lq;
use crate::db::queries::PageReq;
use crate::db::registrations as rq;
use crate::db::{self, DbConn};
use crate::domain::access::{listing_visible, Caller};
use crate::domain::document::{
    check_filename, check_media, DocumentKind, MediaType, OwnerState, OwnerType,
};
use crate::error::ApiError;

/// An owner as its documents see it: its state, its audit stream and what the caller may do.
struct Owner {
    owner_type: OwnerType,
    id: String,
    state: OwnerState,
    stream: String,
    may_upload: bool,
}

/// Loads the owner for `caller` (the public when `None`): 404 when it doesn't exist or the
/// caller may not read it, by the same rules as the owner's own routes. `locked`: inside a
/// write transaction, the owner's row (a registration's and a claim's: their listing's or
/// contract's) is locked as every change of that owner locks it.
fn load_owner(
    conn: &mut DbConn,
    caller: Option<&Caller>,
    owner_type: OwnerType,
    id: &str,
    locked: bool,
) -> Result<Owner, ApiError> {
    let listing = |conn: &mut DbConn, id: &str| {
        if locked {
            lq::find_listing_for_update(conn, id)
        } else {
            lq::find_listing(conn, id)
        }
    };
    let contract = |conn: &mut DbConn, id: &str| {
        if locked {
            cq::find_contract_for_update(conn, id)
        } else {
            cq::find_contract(conn, id)
        }
    };
    match owner_type {
        OwnerType::Listing => {
            let l = listing(conn, id)?.ok_or(ApiError::NotFound)?;
            if !listing_visible(caller, l.status, &l.village_id, &l.township_id) {
                return Err(ApiError::NotFound);
            }
            Ok(Owner {
                owner_type,
                id: l.id.clone(),
                state: OwnerState::Listing(l.status),
                stream: listing_stream(&l.id),
                may_upload: caller.is_some_and(|c| c.is_collective_of(&l.village_id)),
            })
        }
        OwnerType::Registration => {
            let caller = caller.ok_or(ApiError::NotFound)?;
            let r = rq::find(conn, id)?.ok_or(ApiError::NotFound)?;
            let l = listing(conn, &r.listing_id)?.ok_or(ApiError::NotFound)?;
            // Personal data: the registrant, its township's staff and admins only.
            let registrant = r.investor_id == caller.id;
            if !registrant && !caller.oversees_township(&l.township_id) {
                return Err(ApiError::NotFound);
            }
            let r = if locked {
                rq::find(conn, id)?.ok_or(ApiError::NotFound)?
            } else {
                r
            };
            Ok(Owner {
                owner_type,
                id: r.id.clone(),
                state: OwnerState::Registration(r.status),
                stream: listing_stream(&r.listing_id),
                may_upload: registrant,
            })
        }
        OwnerType::Contract => {
            let caller = caller.ok_or(ApiError::NotFound)?;
            let c = contract(conn, id)?.ok_or(ApiError::NotFound)?;
            if !super::contracts::may_read(conn, caller, &c)? {
                return Err(ApiError::NotFound);
            }
            let party = caller.is_collective_of(&c.village_id) || caller.id == c.investor_id;
            Ok(Owner {
                owner_type,
                id: c.id.clone(),
                state: OwnerState::Contract(c.status),
                stream: contract_stream(&c.id),
                may_upload: party || caller.oversees_township(&c.township_id),
            })
        }
        OwnerType::Claim => {
            let caller = caller.ok_or(ApiError::NotFound)?;
            let claim = iq::find_claim(conn, id)?.ok_or(ApiError::NotFound)?;
            if !super::claims::may_read_claim(conn, caller, &claim)? {
                return Err(ApiError::NotFound);
            }
            let c = contract(conn, &claim.contract_id)?.ok_or(ApiError::NotFound)?;
            let claim = if locked {
                iq::find_claim(conn, id)?.ok_or(ApiError::NotFound)?
            } else {
                claim
            };
            // Those who file claims file their evidence.
            let claimant =
                caller.is_collective_of(&c.village_id) || caller.oversees_township(&c.township_id);
            Ok(Owner {
                owner_type,
                id: claim.id.clone(),
                state: OwnerState::Claim(claim.status),
                stream: contract_stream(&claim.contract_id),
                may_upload: claimant,
            })
        }
    }
}

/// What an upload request says before its body is read.
#[derive(Debug, Clone, Default)]
pub struct UploadRequest {
    pub kind: Option<String>,
    pub filename: Option<String>,
    pub content_type: Option<String>,
    pub content_length: Option<u64>,
}

/// An upload that passed every check that doesn't need its body.
#[derive(Debug, Clone)]
pub struct Accepted {
    pub owner_type: OwnerType,
    pub owner_id: String,
    pub kind: DocumentKind,
    pub filename: String,
    pub media: MediaType,
    pub max_bytes: u64,
}

fn too_large(max: u64) -> ApiError {
    ApiError::TooLarge(format!("a document may have at most {max} bytes"))
}

/// The checks of an upload that need no body (see the module's check order).
pub fn accept_upload(
    ctx: &Ctx,
    conn: &mut DbConn,
    owner_type: OwnerType,
    owner_id: &str,
    req: UploadRequest,
) -> Result<Accepted, ApiError> {
    let caller = ctx.caller()?;
    let owner = load_owner(conn, Some(caller), owner_type, owner_id, false)?;
    if !owner.may_upload {
        return Err(ApiError::Forbidden(format!(
            "role `{}` may not file documents on this {owner_type}",
            caller.role_str()
        )));
    }
    let max_bytes = ctx.settings.documents.max_bytes;
    if req.content_length.is_some_and(|n| n > max_bytes) {
        return Err(too_large(max_bytes));
    }
    let media = req
        .content_type
        .as_deref()
        .and_then(MediaType::from_header)
        .ok_or_else(|| {
            ApiError::UnsupportedMediaType(
                "send the file as application/pdf, image/jpeg or image/png".into(),
            )
        })?;
    let mut errors = Vec::new();
    let kinds = DocumentKind::of(owner_type);
    let words = kinds
        .iter()
        .map(|k| k.as_str())
        .collect::<Vec<_>>()
        .join(", ");
    let kind = match req.kind.as_deref().map(|k| (k, DocumentKind::parse(k))) {
        Some((_, Some(k))) if k.owner() == owner_type => Some(k),
        Some(_) => {
            errors.push(crate::error::FieldError::new(
                "kind",
                format!("must be one of {words} for a {owner_type}"),
            ));
            None
        }
        None => {
            errors.push(crate::error::FieldError::new("kind", "missing"));
            None
        }
    };
    let filename = match req.filename.as_deref().map(check_filename) {
        Some(Ok(f)) => Some(f),
        Some(Err(m)) => {
            errors.push(crate::error::FieldError::new("filename", m));
            None
        }
        None => {
            errors.push(crate::error::FieldError::new("filename", "missing"));
            None
        }
    };
    let (Some(kind), Some(filename)) = (kind, filename) else {
        return Err(ApiError::Validation(errors));
    };
    require_uploads(&owner)?;
    Ok(Accepted {
        owner_type,
        owner_id: owner.id,
        kind,
        filename,
        media,
        max_bytes,
    })
}

fn require_uploads(owner: &Owner) -> Result<(), ApiError> {
    if owner.state.accepts_uploads() {
        Ok(())
    } else {
        Err(ApiError::InvalidState(format!(
            "a {} in status `{}` takes no more documents",
            owner.owner_type,
            owner.state.status_word()
        )))
    }
}

/// The first bytes of an upload against its declared type (415 when they disagree).
pub fn check_head(a: &Accepted, head: &[u8]) -> Result<(), ApiError> {
    check_media(a.media, head)
        .map(drop)
        .map_err(ApiError::UnsupportedMediaType)
}

/// The body grew past the limit (413).
pub fn over_limit(a: &Accepted) -> ApiError {
    too_large(a.max_bytes)
}

/// Stores a received upload: its content (once per distinct content), its metadata and its
/// audit record, in one transaction that checks the owner's state again under its lock.
pub fn store(
    ctx: &Ctx,
    conn: &mut DbConn,
    a: &Accepted,
    spooled: Spooled,
) -> Result<Document, ApiError> {
    let caller = ctx.caller()?;
    check_head(a, spooled.head())?;
    if spooled.size() > a.max_bytes {
        return Err(over_limit(a));
    }
    let settings = &ctx.settings.documents;
    // A file lands in `documents.dir` before the transaction names it (an orphan file, never
    // a row without its file, when the transaction fails).
    let file_stored = document_store::place_file(settings, &spooled)?;
    db::write_tx(conn, |conn| {
        let owner = load_owner(conn, Some(caller), a.owner_type, &a.owner_id, true)?;
        require_uploads(&owner)?;
        document_store::store_blob(conn, &spooled, file_stored, ctx.now)?;
        let d = Document {
            id: uuid::Uuid::now_v7().to_string(),
            owner_type: a.owner_type,
            owner_id: owner.id.clone(),
            kind: a.kind,
            filename: a.filename.clone(),
            content_type: a.media.mime().to_string(),
            size_bytes: spooled.size() as i64,
            sha256: spooled.sha256().to_string(),
            uploaded_by: caller.id.clone(),
            created_at: ctx.now.naive_utc(),
        };
        dq::insert(conn, &d)?;
        audit_document(conn, ctx.actor(), &owner, &d, "document.uploaded", ctx.now)?;
        Ok(d)
    })
}

/// Records an upload or removal on the owner's stream, with the content's SHA-256.
fn audit_document(
    conn: &mut DbConn,
    actor: Actor<'_>,
    owner: &Owner,
    d: &Document,
    action: &str,
    now: DateTime<Utc>,
) -> Result<(), ApiError> {
    audit::append(
        conn,
        &Entry {
            stream: &owner.stream,
            actor_id: actor.id,
            actor_role: actor.role,
            action,
            entity_type: "document",
            entity_id: &d.id,
            from_state: None,
            to_state: None,
            reason: Some(&audit_reason(d)),
            amount_fen: None,
        },
        now,
    )
}

/// What an audit record of a document says: content hash, kind and owner (never the file
/// name, which may name a person).
pub fn audit_reason(d: &Document) -> String {
    format!(
        "sha256={} kind={} owner={}:{}",
        d.sha256, d.kind, d.owner_type, d.owner_id
    )
}

/// The documents of an owner the caller may read, `limit + 1` rows.
pub fn list(
    ctx: &Ctx,
    conn: &mut DbConn,
    owner_type: OwnerType,
    owner_id: &str,
    page: &PageReq,
) -> Result<Vec<Document>, ApiError> {
    let owner = load_owner(conn, ctx.caller.as_ref(), owner_type, owner_id, false)?;
    Ok(dq::list_for_owner(
        conn,
        owner_type,
        &owner.id,
        page.after.as_deref(),
        page.limit,
    )?)
}

/// One document, if the caller may read its owner (else 404).
pub fn get(ctx: &Ctx, conn: &mut DbConn, id: &str) -> Result<Document, ApiError> {
    let d = dq::find(conn, id)?.ok_or(ApiError::NotFound)?;
    load_owner(conn, ctx.caller.as_ref(), d.owner_type, &d.owner_id, false)?;
    Ok(d)
}

/// A document and where its bytes are, for a download.
pub fn content(ctx: &Ctx, conn: &mut DbConn, id: &str) -> Result<(Document, Blob), ApiError> {
    let d = get(ctx, conn, id)?;
    let blob = dq::find_blob(conn, &d.sha256)?
        .ok_or_else(|| ApiError::internal(format!("document {} has no blob", d.id)))?;
    Ok((d, blob))
}

/// Up to `len` bytes of a blob from `offset` (one chunk's worth at most).
pub fn read_piece(
    settings: &DocumentSettings,
    conn: &mut DbConn,
    blob: &Blob,
    offset: u64,
    len: u64,
) -> Result<Vec<u8>, ApiError> {
    document_store::read_piece(settings, conn, blob, offset, len)
}

/// Removes a document: only its uploader, only while the owner is editable (404 → 403 →
/// 409). The content goes too when no other document names it.
pub fn delete(ctx: &Ctx, conn: &mut DbConn, id: &str) -> Result<(), ApiError> {
    let caller = ctx.caller()?;
    let d = dq::find(conn, id)?.ok_or(ApiError::NotFound)?;
    db::write_tx(conn, |conn| {
        let owner = load_owner(conn, Some(caller), d.owner_type, &d.owner_id, true)?;
        let d = dq::find(conn, id)?.ok_or(ApiError::NotFound)?;
        if d.uploaded_by != caller.id {
            return Err(ApiError::Forbidden(
                "only the uploader may remove a document".into(),
            ));
        }
        if !owner.state.editable() {
            return Err(ApiError::InvalidState(format!(
                "the {} is `{}`: its documents are final",
                owner.owner_type,
                owner.state.status_word()
            )));
        }
        dq::delete(conn, &d.id)?;
        dq::delete_blob_if_unused(conn, &d.sha256)?;
        audit_document(conn, ctx.actor(), &owner, &d, "document.deleted", ctx.now)
    })
}

/// A relisted draft starts with the failed listing's documents (the same contents: nothing
/// is copied but the metadata), filed by the collective user who relisted it.
pub fn copy_to_relisted(
    conn: &mut DbConn,
    caller: &Caller,
    actor: Actor<'_>,
    from_listing: &str,
    to_listing: &str,
    now: DateTime<Utc>,
) -> Result<(), ApiError> {
    let owner = Owner {
        owner_type: OwnerType::Listing,
        id: to_listing.to_string(),
        state: OwnerState::Listing(crate::domain::listing::ListingStatus::Draft),
        stream: listing_stream(to_listing),
        may_upload: true,
    };
    for old in dq::all_for_owner(conn, OwnerType::Listing, from_listing)? {
        let d = Document {
            id: uuid::Uuid::now_v7().to_string(),
            owner_id: to_listing.to_string(),
            uploaded_by: caller.id.clone(),
            created_at: now.naive_utc(),
            ..old
        };
        dq::insert(conn, &d)?;
        audit_document(conn, actor, &owner, &d, "document.copied", now)?;
    }
    Ok(())
}

/// The kinds of documents an owner has (for the rules that need some).
pub fn kinds_of(
    conn: &mut DbConn,
    owner_type: OwnerType,
    owner_id: &str,
) -> Result<Vec<DocumentKind>, ApiError> {
    Ok(dq::kinds_of(conn, owner_type, owner_id)?)
}

/// A document whose stored content no longer is what was filed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Tampered {
    pub document_id: String,
    pub problem: String,
}

/// Checks every document: its content's bytes still hash to the SHA-256 it was filed with
/// and have its size, and the audit record of its filing carries that SHA-256 (so editing
/// the row's hash to match swapped bytes is caught too, the audit chain itself being checked
/// by `landx audit verify`). Returns the documents found wrong and how many were checked.
pub fn verify(
    settings: &DocumentSettings,
    conn: &mut DbConn,
) -> Result<(Vec<Tampered>, usize), ApiError> {
    let mut found = Vec::new();
    let mut blobs: std::collections::HashMap<String, Option<String>> = Default::default();
    let mut checked = 0;
    let mut after = String::new();
    loop {
        let page = dq::documents_after(conn, &after, 500)?;
        let Some(last) = page.last() else { break };
        after = last.id.clone();
        for d in page {
            checked += 1;
            if !blobs.contains_key(&d.sha256) {
                let verdict = match dq::find_blob(conn, &d.sha256)? {
                    None => Some("its content is missing".to_string()),
                    Some(b) => match document_store::rehash(settings, conn, &b)? {
                        None => Some("its content is missing".to_string()),
                        Some((sha, size)) if sha != b.sha256 || size as i64 != b.size_bytes => {
                            Some(format!(
                                "its content changed: {size} bytes with SHA-256 {sha}, filed as {} bytes with SHA-256 {}",
                                b.size_bytes, b.sha256
                            ))
                        }
                        Some(_) => None,
                    },
                };
                blobs.insert(d.sha256.clone(), verdict);
            }
            if let Some(Some(problem)) = blobs.get(&d.sha256) {
                found.push(Tampered {
                    document_id: d.id.clone(),
                    problem: problem.clone(),
                });
                continue;
            }
            let reasons = dq::filing_reasons(conn, &d.id)?;
            let want = format!("sha256={} ", d.sha256);
            if !reasons
                .iter()
                .any(|r| r.as_deref().is_some_and(|r| r.starts_with(&want)))
            {
                found.push(Tampered {
                    document_id: d.id.clone(),
                    problem: "its SHA-256 differs from the one its filing's audit record carries"
                        .into(),
                });
            }
        }
    }
    Ok((found, checked))
}
