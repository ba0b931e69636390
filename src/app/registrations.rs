//! Registration use cases: an investor registers for an announced listing (报名); the
//! township's staff review it (资格审查: qualify or reject) and record the deposit (保证金) and
//! its refund. Personal data is encrypted here, before it reaches a row.
//!
//! The contract checks access before the request's input (404 → 403 → 400/422 → 409), and
//! access needs the loaded rows, so the use cases that take input receive it as `input`, a
//! closure they call once the caller has passed the scope and role checks.

use chrono::{DateTime, Utc};

use super::audit::audit_registration;
use super::deposits::{move_deposit, notify_investor};
use super::trading::{settle, settle_for_read};
use super::Ctx;
use crate::crypto::DataKey;
use crate::db::listings as lq;
use crate::db::models::{Listing, Registration};
use crate::db::queries::PageReq;
use crate::db::registrations::{self as rq, Applicant, RegistrationFilter};
use crate::db::{self, DbConn};
use crate::domain::access::{listing_visible, Caller};
use crate::domain::registration::{
    check_application, may_record_deposit, may_verify_membership, registration_open, DepositEvent,
    DepositStatus, IdType, RegistrationEvent, RegistrationStatus,
};
use crate::domain::roles::Role;
use crate::domain::validate;
use crate::error::{ApiError, FieldError};
use crate::notify::templates::registrations as mails;

/// What an investor submits to register, as received.
#[derive(Debug, Clone)]
pub struct RegisterInput {
    pub legal_name: String,
    pub id_type: IdType,
    pub id_number: String,
    pub phone: String,
    pub experience: String,
    pub business_plan: String,
    pub claims_membership: bool,
}

#[derive(Debug, Clone, Default)]
pub struct QualifyInput {
    /// Only if the investor claimed membership.
    pub member_verified: Option<bool>,
}

#[derive(Debug, Clone)]
pub struct RejectInput {
    pub reason: String,
}

#[derive(Debug, Clone)]
pub struct DepositInput {
    pub amount_fen: i64,
    pub receipt_ref: String,
}

#[derive(Debug, Clone)]
pub struct RefundInput {
    pub receipt_ref: String,
}

/// How much of a listing's registrations the caller may see.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Detail {
    /// The township's staff and admins: everything.
    Full,
    /// The owner collective: `{id, status, deposit_status}` only.
    Summary,
}

/// A page of a listing's registrations (`limit + 1` rows) and how much of them to show.
#[derive(Debug)]
pub struct ListingRegistrations {
    pub rows: Vec<Registration>,
    pub detail: Detail,
}

/// Registers the caller (an investor with a verified e-mail) for an announced listing whose
/// registration is open.
pub fn register(
    ctx: &Ctx,
    conn: &mut DbConn,
    listing_id: &str,
    input: impl FnOnce() -> Result<RegisterInput, ApiError>,
) -> Result<Registration, ApiError> {
    let caller = ctx.caller()?;
    let now = ctx.now;
    let l = settle(conn, listing_id, now, ctx.rules())?.ok_or(ApiError::NotFound)?;
    if !sees_listing(caller, &l) {
        return Err(ApiError::NotFound);
    }
    caller.require(&[Role::Investor])?;
    if !caller.email_verified {
        return Err(ApiError::Forbidden(
            "verify your e-mail address before registering".into(),
        ));
    }
    require_open(&l, now, "registration is not open for this listing")?;
    if rq::find_by_investor(conn, &l.id, &caller.id)?.is_some() {
        return Err(already_registered());
    }
    let applicant = applicant(input()?)?;
    let r = Registration::applied(&l.id, &caller.id, applicant, &ctx.data_key, now);
    db::write_tx(conn, |conn| {
        // Re-read inside the write lock: registration may have closed meanwhile.
        let l = lq::find_listing_for_update(conn, &l.id)?.ok_or(ApiError::NotFound)?;
        require_open(&l, now, "registration is not open for this listing")?;
        // One registration per legal person per listing, whichever account registers it.
        let hash = r.id_number_hash.as_deref().unwrap_or_default();
        if rq::find_by_id_hash(conn, &l.id, hash)?.is_some() {
            return Err(id_number_registered());
        }
        rq::insert(conn, &r).map_err(db::unique_or(already_registered))?;
        audit_registration(
            conn,
            ctx.actor(),
            &r,
            "registration.applied",
            "registration",
            "none",
            r.status.as_str(),
            None,
            now,
        )?;
        notify_investor(
            conn,
            &r,
            &mails::RegistrationReceived {
                legal_name: &r.legal_name,
                listing_title: &l.title,
            },
            now,
        )
    })?;
    Ok(r)
}

/// A listing's registrations, filtered: the township's staff and admins see them in full,
/// the owner collective in summary; anyone else who sees the listing gets 403.
pub fn list_for_listing(
    ctx: &Ctx,
    conn: &mut DbConn,
    listing_id: &str,
    status: Option<RegistrationStatus>,
    deposit_status: Option<DepositStatus>,
    page: &PageReq,
) -> Result<ListingRegistrations, ApiError> {
    let caller = ctx.caller()?;
    let l = settle_for_read(conn, listing_id, ctx.now, ctx.rules())?.ok_or(ApiError::NotFound)?;
    if !sees_listing(caller, &l) {
        return Err(ApiError::NotFound);
    }
    let detail = if caller.oversees_township(&l.township_id) {
        Detail::Full
    } else if caller.is_collective_of(&l.village_id) {
        Detail::Summary
    } else {
        return Err(ApiError::Forbidden(
            "only the township's staff, admins and the owner collective see registrations".into(),
        ));
    };
    let f = RegistrationFilter {
        listing_id: Some(l.id),
        status,
        deposit_status,
        ..Default::default()
    };
    let rows = rq::list(conn, &f, page.after.as_deref(), page.limit)?;
    Ok(ListingRegistrations { rows, detail })
}

/// One registration, for its investor, the township's staff and admins (else 404).
pub fn get(ctx: &Ctx, conn: &mut DbConn, id: &str) -> Result<Registration, ApiError> {
    let (r, _) = visible_registration(conn, ctx.caller()?, id)?;
    Ok(r)
}

/// The caller's own registrations (investors), `limit + 1` rows of the page.
pub fn mine(
    ctx: &Ctx,
    conn: &mut DbConn,
    page: impl FnOnce() -> Result<PageReq, ApiError>,
) -> Result<Vec<Registration>, ApiError> {
    let caller = ctx.caller()?;
    caller.require(&[Role::Investor])?;
    let page = page()?;
    let f = RegistrationFilter {
        investor_id: Some(caller.id.clone()),
        ..Default::default()
    };
    Ok(rq::list(conn, &f, page.after.as_deref(), page.limit)?)
}

/// Qualifies an applied registration while registration is open, optionally verifying the
/// investor's membership claim (township staff).
pub fn qualify(
    ctx: &Ctx,
    conn: &mut DbConn,
    id: &str,
    input: impl FnOnce() -> Result<QualifyInput, ApiError>,
) -> Result<Registration, ApiError> {
    staff_action(ctx, conn, id, input, |conn, r, l, input| {
        let now = ctx.now;
        let from = r.status;
        let to = review(r, RegistrationEvent::Qualify)?;
        review_open(l, now)?;
        let verified = input.member_verified.unwrap_or(false);
        if !may_verify_membership(r.claims_membership, verified) {
            return Err(ApiError::field(
                "member_verified",
                "the investor did not claim membership",
            ));
        }
        r.status = to;
        r.member_verified = verified;
        r.reviewed_at = Some(now.naive_utc());
        r.updated_at = now.naive_utc();
        rq::save(conn, r)?;
        audit_registration(
            conn,
            ctx.actor(),
            r,
            "registration.qualified",
            "registration",
            from.as_str(),
            to.as_str(),
            None,
            now,
        )?;
        notify_investor(
            conn,
            r,
            &mails::RegistrationQualified {
                legal_name: &r.legal_name,
                listing_title: &l.title,
            },
            now,
        )
    })
}

/// Rejects an applied registration with a reason while registration is open (township
/// staff); a confirmed deposit becomes due for refund.
pub fn reject(
    ctx: &Ctx,
    conn: &mut DbConn,
    id: &str,
    input: impl FnOnce() -> Result<RejectInput, ApiError>,
) -> Result<Registration, ApiError> {
    staff_action(ctx, conn, id, input, |conn, r, l, input| {
        let now = ctx.now;
        validate::multiline_text(&input.reason, 2000).map_err(|m| ApiError::field("reason", m))?;
        let reason = input.reason.trim();
        let from = r.status;
        let to = review(r, RegistrationEvent::Reject)?;
        review_open(l, now)?;
        r.status = to;
        r.reject_reason = Some(reason.to_string());
        r.reviewed_at = Some(now.naive_utc());
        r.updated_at = now.naive_utc();
        rq::save(conn, r)?;
        audit_registration(
            conn,
            ctx.actor(),
            r,
            "registration.rejected",
            "registration",
            from.as_str(),
            to.as_str(),
            Some(reason),
            now,
        )?;
        notify_investor(
            conn,
            r,
            &mails::RegistrationRejected {
                legal_name: &r.legal_name,
                listing_title: &l.title,
                reason,
            },
            now,
        )?;
        move_deposit(
            conn,
            r,
            DepositEvent::Release,
            ctx.actor(),
            Some("registration rejected"),
            now,
        )?;
        Ok(())
    })
}

/// Records the deposit from the bank receipt while registration is open (township staff);
/// the amount must equal the listing's deposit.
pub fn confirm_deposit(
    ctx: &Ctx,
    conn: &mut DbConn,
    id: &str,
    input: impl FnOnce() -> Result<DepositInput, ApiError>,
) -> Result<Registration, ApiError> {
    staff_action(ctx, conn, id, input, |conn, r, l, input| {
        let now = ctx.now;
        if !may_record_deposit(r.status, r.deposit_status) {
            return Err(ApiError::InvalidState(format!(
                "cannot record a deposit: registration {}, deposit {}",
                r.status, r.deposit_status
            )));
        }
        review_open(l, now)?;
        let mut errors = Vec::new();
        if input.amount_fen != l.deposit_fen {
            errors.push(FieldError::new(
                "amount_fen",
                format!("must equal the listing's deposit ({} fen)", l.deposit_fen),
            ));
        }
        if let Err(m) = validate::text(&input.receipt_ref, 200) {
            errors.push(FieldError::new("receipt_ref", m));
        }
        if !errors.is_empty() {
            return Err(ApiError::Validation(errors));
        }
        r.deposit_amount_fen = Some(input.amount_fen);
        r.deposit_receipt_ref = Some(input.receipt_ref.trim().to_string());
        r.deposit_confirmed_at = Some(now.naive_utc());
        move_deposit(conn, r, DepositEvent::Confirm, ctx.actor(), None, now)?;
        Ok(())
    })
}

/// Marks a `refund_due` deposit refunded with the bank receipt (township staff).
pub fn refund(
    ctx: &Ctx,
    conn: &mut DbConn,
    id: &str,
    input: impl FnOnce() -> Result<RefundInput, ApiError>,
) -> Result<Registration, ApiError> {
    staff_action(ctx, conn, id, input, |conn, r, _l, input| {
        let now = ctx.now;
        validate::text(&input.receipt_ref, 200).map_err(|m| ApiError::field("receipt_ref", m))?;
        if r.deposit_status.next(DepositEvent::Refund).is_none() {
            return Err(ApiError::InvalidState(format!(
                "deposit is {}, not {}",
                r.deposit_status,
                DepositStatus::RefundDue
            )));
        }
        r.refund_receipt_ref = Some(input.receipt_ref.trim().to_string());
        r.refunded_at = Some(now.naive_utc());
        move_deposit(conn, r, DepositEvent::Refund, ctx.actor(), None, now)?;
        Ok(())
    })
}

/// The frame of the staff actions: the registration must be visible (404), its listing
/// settled; then, in one write transaction on the locked listing, the caller must be the
/// township's staff (403) before the input is read and `act` runs on the fresh row.
fn staff_action<I>(
    ctx: &Ctx,
    conn: &mut DbConn,
    id: &str,
    input: impl FnOnce() -> Result<I, ApiError>,
    act: impl FnOnce(&mut DbConn, &mut Registration, &Listing, I) -> Result<(), ApiError>,
) -> Result<Registration, ApiError> {
    let caller = ctx.caller()?;
    let (r, _) = visible_registration(conn, caller, id)?;
    settle(conn, &r.listing_id, ctx.now, ctx.rules())?;
    db::write_tx(conn, |conn| {
        let l = lq::find_listing_for_update(conn, &r.listing_id)?.ok_or(ApiError::NotFound)?;
        let mut r = rq::find(conn, id)?.ok_or(ApiError::NotFound)?;
        if !caller.is_staff_of(&l.township_id) {
            return Err(ApiError::Forbidden(
                "only the township's staff may do this".into(),
            ));
        }
        let input = input()?;
        act(conn, &mut r, &l, input)?;
        Ok(r)
    })
}

/// Loads a registration and its listing for `caller`: its investor, the township's staff and
/// admins may see it (else 404).
fn visible_registration(
    conn: &mut DbConn,
    caller: &Caller,
    id: &str,
) -> Result<(Registration, Listing), ApiError> {
    let r = rq::find(conn, id)?.ok_or(ApiError::NotFound)?;
    let l = lq::find_listing(conn, &r.listing_id)?.ok_or(ApiError::NotFound)?;
    if r.investor_id != caller.id && !caller.oversees_township(&l.township_id) {
        return Err(ApiError::NotFound);
    }
    Ok((r, l))
}

fn sees_listing(caller: &Caller, l: &Listing) -> bool {
    listing_visible(Some(caller), l.status, &l.village_id, &l.township_id)
}

fn already_registered() -> ApiError {
    ApiError::Conflict("you already registered for this listing".into())
}

fn id_number_registered() -> ApiError {
    ApiError::Conflict("this ID number is already registered for this listing".into())
}

/// The review's transition, or 409 if the registration was already reviewed.
fn review(r: &Registration, event: RegistrationEvent) -> Result<RegistrationStatus, ApiError> {
    r.status
        .next(event)
        .ok_or_else(|| ApiError::InvalidState(format!("registration is already {}", r.status)))
}

fn require_open(l: &Listing, now: DateTime<Utc>, closed: &str) -> Result<(), ApiError> {
    if registration_open(l.status, l.registration_closes_at.and_utc(), now) {
        Ok(())
    } else {
        Err(ApiError::InvalidState(closed.into()))
    }
}

/// Reviews and deposits are possible only while registration is open.
fn review_open(l: &Listing, now: DateTime<Utc>) -> Result<(), ApiError> {
    require_open(
        l,
        now,
        "registration has closed: the eligible bidders are fixed",
    )
}

/// What `landx crypto rehash` did.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Rehashed {
    /// Rows whose ID hash or phone ciphertext was rewritten.
    pub updated: usize,
    /// Rows whose ID number no key of the keyring decrypts (left as they are).
    pub unreadable: usize,
}

/// Brings every registration up to the current keys: the ID hash recomputed from the
/// decrypted number (rows written before the hash existed, or after the root key changed),
/// and a phone stored in clear (first release) or under another key id re-encrypted. One
/// write transaction; two rows of one listing with the same number → 409 `conflict`.
pub fn rehash(conn: &mut DbConn, key: &DataKey) -> Result<Rehashed, ApiError> {
    db::write_tx(conn, |conn| {
        let mut done = Rehashed::default();
        for id in rq::all_ids(conn)? {
            let Some(r) = rq::find(conn, &id)? else {
                continue;
            };
            let Some(number) = key.decrypt(&r.id_number_enc) else {
                done.unreadable += 1;
                continue;
            };
            let hash = key.id_hash(&number);
            let phone = if key.is_stale(&r.phone) {
                key.encrypt(&r.phone_in_clear(key))
            } else {
                r.phone.clone()
            };
            if r.id_number_hash.as_deref() != Some(hash.as_str()) || phone != r.phone {
                rq::set_protected(conn, &r.id, &hash, &phone).map_err(db::unique_or(|| {
                    ApiError::Conflict(format!(
                        "listing {} has two registrations with the same ID number",
                        r.listing_id
                    ))
                }))?;
                done.updated += 1;
            }
        }
        Ok(done)
    })
}

/// Validates the submitted data (422 naming every bad field) into an [`Applicant`].
fn applicant(input: RegisterInput) -> Result<Applicant, ApiError> {
    let id_number = input.id_number.trim().to_ascii_uppercase();
    let errors = check_application(
        &input.legal_name,
        input.id_type,
        &id_number,
        &input.phone,
        &input.experience,
        &input.business_plan,
    );
    if !errors.is_empty() {
        return Err(ApiError::Validation(errors));
    }
    Ok(Applicant {
        legal_name: input.legal_name.trim().to_string(),
        id_type: input.id_type,
        id_number,
        phone: input.phone,
        experience: input.experience,
        business_plan: input.business_plan,
        claims_membership: input.claims_membership,
    })
}
