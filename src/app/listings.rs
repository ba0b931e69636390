//! Use cases of listings (挂牌): the draft and its edits, the review steps (submit, approve,
//! return, cancel), relisting a failed listing, and reading listings (one, or the search).
//!
//! Every action on an existing listing runs in [`with_listing`]'s frame (load locked and
//! settled → 404 if not visible → 403 if not allowed); the review steps add
//! [`transition`]'s (input → state machine → step rules → conditional save → audit → mails).

use chrono::{DateTime, NaiveDate, Utc};

use super::audit::audit_listing;
use super::trading::settle::is_due;
use super::trading::{settle_for_read, settle_locked};
use super::Ctx;
use crate::clock::truncate_micros;
use crate::db::listings::{self as q, ListingSearch, NewListing};
use crate::db::models::{Listing, Parcel};
use crate::db::{self, queries, DbConn};
use crate::domain::access::{listing_visible, Caller};
use crate::domain::document::{check_listing_documents, OwnerType};
use crate::domain::listing as domain;
use crate::domain::listing::{
    announcement_too_short, check_relist_price, check_submit, Consent, IntendedUse, ListingEvent,
    ListingStatus, ParcelFacts,
};
use crate::domain::money::annual_rent_fen;
use crate::domain::numbering::{listing_counter, listing_no, shanghai_year};
use crate::domain::roles::Role;
use crate::error::ApiError;
use crate::notify;
use crate::notify::templates::listings::{
    ListingApproved, ListingCancelled, ListingMail, ListingReturned, ListingSubmitted,
    RegisteredListingCancelled,
};

/// A listing with its parcels, as the use cases hand it back.
#[derive(Debug, Clone)]
pub struct ListingView {
    pub listing: Listing,
    pub parcels: Vec<Parcel>,
}

/// A new draft as the collective describes it.
#[derive(Debug, Clone)]
pub struct ListingDraft {
    pub title: String,
    pub description: String,
    pub parcel_ids: Vec<uuid::Uuid>,
    pub intended_use: IntendedUse,
    pub term_start: NaiveDate,
    pub term_end: NaiveDate,
    pub reserve_price_fen: i64,
    pub min_increment_fen: i64,
    pub deposit_fen: i64,
    pub registration_closes_at: DateTime<Utc>,
    pub auction_starts_at: DateTime<Utc>,
    pub auction_ends_at: DateTime<Utc>,
    /// `None`: the configured default.
    pub extension_secs: Option<i64>,
    pub consent: Consent,
}

/// An edit of a draft or returned listing: the fields given change.
#[derive(Debug, Clone, Default)]
pub struct ListingChanges {
    pub title: Option<String>,
    pub description: Option<String>,
    pub parcel_ids: Option<Vec<uuid::Uuid>>,
    pub intended_use: Option<IntendedUse>,
    pub term_start: Option<NaiveDate>,
    pub term_end: Option<NaiveDate>,
    pub reserve_price_fen: Option<i64>,
    pub min_increment_fen: Option<i64>,
    pub deposit_fen: Option<i64>,
    pub registration_closes_at: Option<DateTime<Utc>>,
    pub auction_starts_at: Option<DateTime<Utc>>,
    pub auction_ends_at: Option<DateTime<Utc>>,
    pub extension_secs: Option<i64>,
    pub consent: Option<Consent>,
}

/// The new schedule (and possibly lower reserve price and new term) of a relisted failed
/// listing.
#[derive(Debug, Clone)]
pub struct Relisting {
    pub reserve_price_fen: Option<i64>,
    /// `None`: the failed listing's.
    pub term_start: Option<NaiveDate>,
    /// `None`: the failed listing's.
    pub term_end: Option<NaiveDate>,
    pub registration_closes_at: DateTime<Utc>,
    pub auction_starts_at: DateTime<Utc>,
    pub auction_ends_at: DateTime<Utc>,
}

/// A search: the filters (their `statuses` are decided here), the status asked for, whether
/// the caller asks for its own non-public listings too, and the previous page's cursor.
#[derive(Debug, Clone, Default)]
pub struct Search {
    pub filter: ListingSearch,
    pub status: Option<ListingStatus>,
    pub mine: bool,
    pub cursor: Option<String>,
}

#[derive(Debug, Clone)]
pub struct SearchPage {
    pub items: Vec<ListingView>,
    pub next_cursor: Option<String>,
}

// ---- who may act ---------------------------------------------------------------------------

/// Who may take an action on a listing the caller can see (else 403).
type Allowed = fn(&Caller, &Listing) -> bool;

fn is_owner(caller: &Caller, l: &Listing) -> bool {
    caller.is_collective_of(&l.village_id)
}

fn is_township_staff(caller: &Caller, l: &Listing) -> bool {
    caller.is_staff_of(&l.township_id)
}

/// The owner before announcement; the township's staff and admins (states decide the rest).
fn may_cancel(c: &Caller, l: &Listing) -> bool {
    is_owner(c, l) || is_township_staff(c, l) || c.is(Role::Admin)
}

fn invalid_state(l: &Listing, what: &str) -> ApiError {
    ApiError::InvalidState(format!("cannot {what} a listing in status `{}`", l.status))
}

// ---- the frames ----------------------------------------------------------------------------

/// The frame every action on an existing listing shares: one write transaction that loads
/// the listing locked and settled, answers 404 if the caller can't see it and 403 if
/// `allowed` says no, then runs `act`.
fn with_listing<T>(
    ctx: &Ctx,
    conn: &mut DbConn,
    id: &str,
    allowed: Allowed,
    act: impl FnOnce(&mut DbConn, &Caller, Listing) -> Result<T, ApiError>,
) -> Result<T, ApiError> {
    let caller = ctx.caller()?;
    db::write_tx(conn, |conn| {
        let mut l = q::find_listing_for_update(conn, id)?.ok_or(ApiError::NotFound)?;
        settle_locked(conn, &mut l, ctx.now, ctx.rules())?;
        if !listing_visible(Some(caller), l.status, &l.village_id, &l.township_id) {
            return Err(ApiError::NotFound);
        }
        if !allowed(caller, &l) {
            return Err(ApiError::Forbidden(format!(
                "role `{}` may not do this to this listing",
                caller.role_str()
            )));
        }
        act(conn, caller, l)
    })
}

/// A review step: who may take it, the verb of its 409 answer and its audit action.
struct Step {
    allowed: Allowed,
    verb: &'static str,
    audit: &'static str,
}

/// What a step's own rules did besides moving the status.
#[derive(Default)]
struct Applied {
    /// Recorded with the audit entry.
    audit_reason: Option<String>,
    /// The parcels to show, if the step loaded them (else they are read afterwards).
    parcels: Option<Vec<Parcel>>,
}

/// The frame of the review steps, inside [`with_listing`]: read the request's input
/// (400/422), ask the state machine about `event` (409), run the step's own rules and fields
/// (`apply`), save only if nobody moved the listing meanwhile (409), audit the step and run
/// `after` (its mails and other effects).
#[allow(clippy::too_many_arguments)]
fn transition<I>(
    ctx: &Ctx,
    conn: &mut DbConn,
    id: &str,
    step: Step,
    input: impl FnOnce() -> Result<I, ApiError>,
    event: impl FnOnce(&Caller, &Listing) -> ListingEvent,
    apply: impl FnOnce(&mut DbConn, &mut Listing, &I) -> Result<Applied, ApiError>,
    after: impl FnOnce(&mut DbConn, &Caller, &Listing, ListingStatus, I) -> Result<(), ApiError>,
) -> Result<ListingView, ApiError> {
    with_listing(ctx, conn, id, step.allowed, |conn, caller, mut l| {
        let input = input()?;
        let from = l.status;
        let next = from
            .next(event(caller, &l))
            .ok_or_else(|| invalid_state(&l, step.verb))?;
        let applied = apply(conn, &mut l, &input)?;
        l.status = next;
        l.updated_at = ctx.now.naive_utc();
        if !q::save_listing_if(conn, &l, from)? {
            return Err(invalid_state(&l, step.verb));
        }
        audit_listing(
            conn,
            ctx.actor(),
            &l,
            step.audit,
            Some(from.as_str()),
            applied.audit_reason.as_deref(),
            ctx.now,
        )?;
        after(conn, caller, &l, from, input)?;
        let parcels = match applied.parcels {
            Some(p) => p,
            None => q::listing_parcels(conn, &l.id)?,
        };
        Ok(ListingView {
            listing: l,
            parcels,
        })
    })
}

// ---- rules of the input --------------------------------------------------------------------

fn check_parcel_ids(ids: &[uuid::Uuid]) -> Result<Vec<String>, ApiError> {
    domain::check_parcel_ids(ids.iter().map(|u| u.to_string()).collect())
        .map_err(|e| ApiError::Validation(vec![e]))
}

fn load_parcels_for(conn: &mut DbConn, ids: &[String]) -> Result<Vec<Parcel>, ApiError> {
    let parcels = q::find_parcels(conn, ids)?;
    if parcels.len() != ids.len() {
        return Err(ApiError::field("parcel_ids", "unknown parcel"));
    }
    Ok(parcels)
}

fn check_text_fields(title: Option<&str>, description: Option<&str>) -> Result<(), ApiError> {
    let errors = domain::check_texts(title, description);
    if errors.is_empty() {
        Ok(())
    } else {
        Err(ApiError::Validation(errors))
    }
}

/// A return or cancel reason, trimmed.
fn check_reason(reason: String) -> Result<String, ApiError> {
    domain::check_reason(&reason).map_err(|e| ApiError::Validation(vec![e]))
}

/// Recomputes area, rent and land types from the current parcels.
/// Parcels of other villages (which submit refuses) count for nothing and are never shown:
/// nobody reads another village's register through a draft.
pub fn refresh_parcels(l: &mut Listing, parcels: &[Parcel]) -> Result<(), ApiError> {
    let parcels: Vec<&Parcel> = parcels
        .iter()
        .filter(|p| p.village_id == l.village_id)
        .collect();
    l.total_area_centimu = parcels.iter().map(|p| p.area_centimu).sum();
    l.annual_reserve_rent_fen = annual_rent_fen(l.reserve_price_fen.max(0), l.total_area_centimu)
        .ok_or_else(|| ApiError::field("reserve_price_fen", "too large"))?;
    let mut types: Vec<&str> = parcels.iter().map(|p| p.land_type.as_str()).collect();
    types.sort();
    types.dedup();
    l.land_types = format!(",{},", types.join(","));
    Ok(())
}

// ---- mails ---------------------------------------------------------------------------------

/// Who hears of a review step: the village's collective or the township's staff.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Audience {
    Village,
    Township,
}

/// The review step a mail reports.
#[derive(Debug, Clone, Copy)]
enum ReviewMail<'a> {
    Submitted,
    Approved,
    Returned { reason: &'a str },
    Cancelled { reason: &'a str },
}

/// E-mails every active account of the audience about `l`.
fn mail_audience(
    ctx: &Ctx,
    conn: &mut DbConn,
    l: &Listing,
    to: Audience,
    event: ReviewMail<'_>,
) -> Result<(), ApiError> {
    let members = match to {
        Audience::Village => {
            queries::org_members(conn, Role::Collective.as_str(), Some(&l.village_id), None)?
        }
        Audience::Township => {
            queries::org_members(conn, Role::Staff.as_str(), None, Some(&l.township_id))?
        }
    };
    let link = format!(
        "{}/listings/{}",
        ctx.settings.server.public_url.trim_end_matches('/'),
        l.id
    );
    for u in members {
        let mail = ListingMail {
            recipient: &u.display_name,
            listing_no: l.listing_no.as_deref(),
            title: &l.title,
            link: &link,
        };
        match event {
            ReviewMail::Submitted => {
                notify::send(conn, &u.email, &ListingSubmitted { mail }, ctx.now)?
            }
            ReviewMail::Approved => {
                notify::send(conn, &u.email, &ListingApproved { mail }, ctx.now)?
            }
            ReviewMail::Returned { reason } => {
                notify::send(conn, &u.email, &ListingReturned { mail, reason }, ctx.now)?
            }
            ReviewMail::Cancelled { reason } => {
                notify::send(conn, &u.email, &ListingCancelled { mail, reason }, ctx.now)?
            }
        }
    }
    Ok(())
}

// ---- use cases -----------------------------------------------------------------------------

/// Creates a draft listing of the caller's village (collective). Rules are checked on submit.
/// `draft` is read only once the caller's role is checked (API.md's check order).
pub fn create(
    ctx: &Ctx,
    conn: &mut DbConn,
    draft: impl FnOnce() -> Result<ListingDraft, ApiError>,
) -> Result<ListingView, ApiError> {
    let caller = ctx.caller()?;
    caller.require(&[Role::Collective])?;
    let d = draft()?;
    check_text_fields(Some(&d.title), Some(&d.description))?;
    let parcel_ids = check_parcel_ids(&d.parcel_ids)?;
    let village_id = caller
        .village_id
        .clone()
        .ok_or_else(|| ApiError::internal("collective without village"))?;
    db::write_tx(conn, |conn| {
        let village = queries::find_village(conn, &village_id)?
            .ok_or_else(|| ApiError::internal("village vanished"))?;
        let parcels = load_parcels_for(conn, &parcel_ids)?;
        let mut l = Listing::draft(
            NewListing {
                village_id: village.id,
                township_id: village.township_id,
                created_by: caller.id.clone(),
                title: d.title.trim().to_string(),
                description: d.description,
                intended_use: d.intended_use,
                term_start: d.term_start,
                term_end: d.term_end,
                reserve_price_fen: d.reserve_price_fen,
                min_increment_fen: d.min_increment_fen,
                deposit_fen: d.deposit_fen,
                registration_closes_at: truncate_micros(d.registration_closes_at).naive_utc(),
                auction_starts_at: truncate_micros(d.auction_starts_at).naive_utc(),
                auction_ends_at: truncate_micros(d.auction_ends_at).naive_utc(),
                extension_secs: d.extension_secs.unwrap_or(ctx.rules().extension_secs),
                consent: d.consent,
                attempt: 1,
                previous_listing_id: None,
            },
            ctx.now.naive_utc(),
        );
        refresh_parcels(&mut l, &parcels)?;
        q::insert_listing(conn, &l, &parcel_ids)?;
        audit_listing(
            conn,
            ctx.actor(),
            &l,
            "listing.created",
            None,
            None,
            ctx.now,
        )?;
        let parcels = q::listing_parcels(conn, &l.id)?;
        Ok(ListingView {
            listing: l,
            parcels,
        })
    })
}

/// Edits a draft or returned listing (owner collective).
pub fn patch(
    ctx: &Ctx,
    conn: &mut DbConn,
    id: &str,
    changes: impl FnOnce() -> Result<ListingChanges, ApiError>,
) -> Result<ListingView, ApiError> {
    with_listing(ctx, conn, id, is_owner, |conn, _, mut l| {
        let c = changes()?;
        l.status
            .next(ListingEvent::Edit)
            .ok_or_else(|| invalid_state(&l, "edit"))?;
        check_text_fields(c.title.as_deref(), c.description.as_deref())?;
        if let Some(ids) = &c.parcel_ids {
            let ids = check_parcel_ids(ids)?;
            load_parcels_for(conn, &ids)?;
            q::set_listing_parcels(conn, &l.id, &ids)?;
        }
        if let Some(v) = c.title {
            l.title = v.trim().to_string();
        }
        if let Some(v) = c.description {
            l.description = v;
        }
        if let Some(v) = c.intended_use {
            l.intended_use = v;
        }
        if let Some(v) = c.term_start {
            l.term_start = v;
        }
        if let Some(v) = c.term_end {
            l.term_end = v;
        }
        if let Some(v) = c.reserve_price_fen {
            l.reserve_price_fen = v;
        }
        if let Some(v) = c.min_increment_fen {
            l.min_increment_fen = v;
        }
        if let Some(v) = c.deposit_fen {
            l.deposit_fen = v;
        }
        if let Some(v) = c.registration_closes_at {
            l.registration_closes_at = truncate_micros(v).naive_utc();
        }
        if let Some(v) = c.auction_starts_at {
            l.auction_starts_at = truncate_micros(v).naive_utc();
        }
        if let Some(v) = c.auction_ends_at {
            l.auction_ends_at = truncate_micros(v).naive_utc();
        }
        if let Some(v) = c.extension_secs {
            l.extension_secs = v;
        }
        if let Some(v) = c.consent {
            l.set_consent(v);
        }
        let parcels = q::listing_parcels(conn, &l.id)?;
        refresh_parcels(&mut l, &parcels)?;
        l.updated_at = ctx.now.naive_utc();
        q::save_listing(conn, &l)?;
        audit_listing(
            conn,
            ctx.actor(),
            &l,
            "listing.edited",
            Some(l.status.as_str()),
            None,
            ctx.now,
        )?;
        Ok(ListingView {
            listing: l,
            parcels,
        })
    })
}

/// Submits for review (owner): every rule of public trading is checked here; the first
/// submit numbers the listing. The township's staff are mailed.
pub fn submit(
    ctx: &Ctx,
    conn: &mut DbConn,
    id: &str,
    input: impl FnOnce() -> Result<(), ApiError>,
) -> Result<ListingView, ApiError> {
    transition(
        ctx,
        conn,
        id,
        Step {
            allowed: is_owner,
            verb: "submit",
            audit: "listing.submitted",
        },
        input,
        |_, _| ListingEvent::Submit,
        |conn, l, _| {
            let parcel_ids = q::listing_parcel_ids(conn, &l.id)?;
            q::lock_parcels(conn, &parcel_ids)?;
            let parcels = q::find_parcels(conn, &parcel_ids)?;
            let locked = q::locked_parcels(conn, &parcel_ids, Some(&l.id))?;
            refresh_parcels(l, &parcels)?;
            let facts: Vec<ParcelFacts> = parcels
                .iter()
                .map(|p| ParcelFacts {
                    id: p.id.clone(),
                    village_id: p.village_id.clone(),
                    area_centimu: p.area_centimu,
                    households: p.households,
                    household_contract_end: p.household_contract_end,
                    permanent_basic_farmland: p.permanent_basic_farmland,
                    locked_elsewhere: locked.contains(&p.id),
                })
                .collect();
            let mut errors =
                check_submit(&l.terms(), &facts, ctx.now, &ctx.rules().submit_limits());
            let kinds = super::documents::kinds_of(conn, OwnerType::Listing, &l.id)?;
            errors.extend(check_listing_documents(&kinds));
            if !errors.is_empty() {
                return Err(ApiError::Validation(errors));
            }
            if l.listing_no.is_none() {
                let township = queries::find_township(conn, &l.township_id)?
                    .ok_or_else(|| ApiError::internal("township vanished"))?;
                let year = shanghai_year(ctx.now);
                let seq = q::next_counter(conn, &listing_counter(&township.id, year))?;
                l.listing_no = Some(listing_no(&township.code, year, seq));
            }
            l.submitted_at = Some(ctx.now.naive_utc());
            Ok(Applied {
                audit_reason: None,
                parcels: Some(parcels),
            })
        },
        |conn, _, l, _, _| mail_audience(ctx, conn, l, Audience::Township, ReviewMail::Submitted),
    )
}

/// Approves (township staff): the listing is announced publicly; the collective is mailed.
pub fn approve(
    ctx: &Ctx,
    conn: &mut DbConn,
    id: &str,
    input: impl FnOnce() -> Result<(), ApiError>,
) -> Result<ListingView, ApiError> {
    transition(
        ctx,
        conn,
        id,
        Step {
            allowed: is_township_staff,
            verb: "approve",
            audit: "listing.approved",
        },
        input,
        |_, _| ListingEvent::Approve,
        |_, l, _| {
            if let Some(msg) = announcement_too_short(
                l.registration_closes_at.and_utc(),
                ctx.now,
                ctx.rules().min_announcement_days,
            ) {
                return Err(ApiError::field("registration_closes_at", msg));
            }
            l.announced_at = Some(ctx.now.naive_utc());
            Ok(Applied::default())
        },
        |conn, _, l, _, _| mail_audience(ctx, conn, l, Audience::Village, ReviewMail::Approved),
    )
}

/// Returns the listing to the collective for changes, with a reason (township staff).
pub fn return_for_changes(
    ctx: &Ctx,
    conn: &mut DbConn,
    id: &str,
    reason: impl FnOnce() -> Result<String, ApiError>,
) -> Result<ListingView, ApiError> {
    transition(
        ctx,
        conn,
        id,
        Step {
            allowed: is_township_staff,
            verb: "return",
            audit: "listing.returned",
        },
        || reason().and_then(check_reason),
        |_, _| ListingEvent::Return,
        |_, l, reason| {
            l.return_reason = Some(reason.clone());
            Ok(Applied {
                audit_reason: Some(reason.clone()),
                parcels: None,
            })
        },
        |conn, _, l, _, reason| {
            mail_audience(
                ctx,
                conn,
                l,
                Audience::Village,
                ReviewMail::Returned { reason: &reason },
            )
        },
    )
}

/// Cancels with a reason: the owner before announcement; township staff or an admin also
/// while announced. The other side of the review is mailed; cancelling an announced listing
/// mails its registrants and releases their deposits.
pub fn cancel(
    ctx: &Ctx,
    conn: &mut DbConn,
    id: &str,
    reason: impl FnOnce() -> Result<String, ApiError>,
) -> Result<ListingView, ApiError> {
    transition(
        ctx,
        conn,
        id,
        Step {
            allowed: may_cancel,
            verb: "cancel",
            audit: "listing.cancelled",
        },
        || reason().and_then(check_reason),
        |caller, l| {
            if is_owner(caller, l) {
                ListingEvent::CancelByOwner
            } else {
                ListingEvent::CancelByOverseer
            }
        },
        |_, l, reason| {
            l.cancel_reason = Some(reason.clone());
            l.closed_at = Some(ctx.now.naive_utc());
            Ok(Applied {
                audit_reason: Some(reason.clone()),
                parcels: None,
            })
        },
        |conn, caller, l, from, reason| {
            if from != ListingStatus::Draft {
                let to = if is_owner(caller, l) {
                    Audience::Township
                } else {
                    Audience::Village
                };
                mail_audience(ctx, conn, l, to, ReviewMail::Cancelled { reason: &reason })?;
            }
            if from == ListingStatus::Announced {
                // Registrants learn of it; confirmed deposits become due for refund.
                for r in crate::db::registrations::for_listing(conn, &l.id)? {
                    let mail = RegisteredListingCancelled {
                        legal_name: &r.legal_name,
                        reason: &reason,
                    };
                    super::deposits::notify_investor(conn, &r, &mail, ctx.now)?;
                }
                super::deposits::release_all(
                    conn,
                    &l.id,
                    ctx.actor(),
                    "listing cancelled",
                    ctx.now,
                )?;
            }
            Ok(())
        },
    )
}

/// Relists a failed listing as a new draft (owner, once per failed listing).
pub fn relist(
    ctx: &Ctx,
    conn: &mut DbConn,
    id: &str,
    input: impl FnOnce() -> Result<Relisting, ApiError>,
) -> Result<ListingView, ApiError> {
    with_listing(ctx, conn, id, is_owner, |conn, caller, mut old| {
        let r = input()?;
        old.status
            .next(ListingEvent::Relist)
            .ok_or_else(|| invalid_state(&old, "relist"))?;
        if old.relisted_as_id.is_some() {
            return Err(ApiError::InvalidState(
                "this failed listing was already relisted".into(),
            ));
        }
        let reserve = r.reserve_price_fen.unwrap_or(old.reserve_price_fen);
        check_relist_price(old.reserve_price_fen, reserve)
            .map_err(|m| ApiError::field("reserve_price_fen", m))?;
        let parcel_ids = q::listing_parcel_ids(conn, &old.id)?;
        let parcels = q::find_parcels(conn, &parcel_ids)?;
        let mut l = Listing::draft(
            NewListing {
                village_id: old.village_id.clone(),
                township_id: old.township_id.clone(),
                created_by: caller.id.clone(),
                title: old.title.clone(),
                description: old.description.clone(),
                intended_use: old.intended_use,
                term_start: r.term_start.unwrap_or(old.term_start),
                term_end: r.term_end.unwrap_or(old.term_end),
                reserve_price_fen: reserve,
                min_increment_fen: old.min_increment_fen,
                deposit_fen: old.deposit_fen,
                registration_closes_at: truncate_micros(r.registration_closes_at).naive_utc(),
                auction_starts_at: truncate_micros(r.auction_starts_at).naive_utc(),
                auction_ends_at: truncate_micros(r.auction_ends_at).naive_utc(),
                extension_secs: old.extension_secs,
                consent: old.consent(),
                attempt: old.attempt + 1,
                previous_listing_id: Some(old.id.clone()),
            },
            ctx.now.naive_utc(),
        );
        refresh_parcels(&mut l, &parcels)?;
        q::insert_listing(conn, &l, &parcel_ids).map_err(db::unique_or(|| {
            ApiError::InvalidState("this failed listing was already relisted".into())
        }))?;
        super::documents::copy_to_relisted(conn, caller, ctx.actor(), &old.id, &l.id, ctx.now)?;
        old.relisted_as_id = Some(l.id.clone());
        old.updated_at = ctx.now.naive_utc();
        q::save_listing(conn, &old)?;
        audit_listing(
            conn,
            ctx.actor(),
            &old,
            "listing.relisted",
            Some(old.status.as_str()),
            Some(&format!("relisted as {}", l.id)),
            ctx.now,
        )?;
        audit_listing(
            conn,
            ctx.actor(),
            &l,
            "listing.created",
            None,
            Some(&format!("relist of {}", old.id)),
            ctx.now,
        )?;
        Ok(ListingView {
            listing: l,
            parcels,
        })
    })
}

/// Draft and returned listings holding `parcel_id` show its edited area, rent and land type.
/// A transaction of its own that locks listing rows only: submit locks the listing and then
/// its parcels, so taking a listing lock while holding the parcel's would deadlock.
pub fn refresh_holders(ctx: &Ctx, conn: &mut DbConn, parcel_id: &str) -> Result<(), ApiError> {
    db::write_tx(conn, |conn| {
        let editable: Vec<ListingStatus> = ListingStatus::ALL
            .iter()
            .copied()
            .filter(|s| s.next(ListingEvent::Edit).is_some())
            .collect();
        for held in q::listings_with_parcel(conn, parcel_id, &editable)? {
            let Some(mut l) = q::find_listing_for_update(conn, &held.id)? else {
                continue;
            };
            if l.status.next(ListingEvent::Edit).is_none() {
                continue; // submitted meanwhile: the submit recomputed it
            }
            let parcels = q::listing_parcels(conn, &l.id)?;
            if refresh_parcels(&mut l, &parcels).is_err() {
                continue; // out of range: the submit names the field
            }
            l.updated_at = ctx.now.naive_utc();
            q::save_listing(conn, &l)?;
        }
        Ok(())
    })
}

/// One listing, after any transition due. Public states are public; the others only for the
/// owner collective, the township's staff and admins (else 404).
pub fn get(ctx: &Ctx, conn: &mut DbConn, id: &str) -> Result<ListingView, ApiError> {
    let l = settle_for_read(conn, id, ctx.now, ctx.rules())?.ok_or(ApiError::NotFound)?;
    if !listing_visible(ctx.caller.as_ref(), l.status, &l.village_id, &l.township_id) {
        return Err(ApiError::NotFound);
    }
    let parcels = q::listing_parcels(conn, &l.id)?;
    Ok(ListingView {
        listing: as_seen_by(ctx.caller.as_ref(), l),
        parcels,
    })
}

/// What `caller` (or the public, `None`) reads of a listing it may see: the review's internal
/// notes (the return reason) only for those who see the listing's village (the owner
/// collective, the township's staff, admins), never in a public view.
fn as_seen_by(caller: Option<&Caller>, mut l: Listing) -> Listing {
    if !caller.is_some_and(|c| c.sees_village(&l.village_id, &l.township_id)) {
        l.return_reason = None;
    }
    l
}

/// The statuses a search may show: the public ones, or with `mine` the caller's own
/// non-public listings too (a collective: its village's; staff: its township's, drafts
/// excepted; admin: all), narrowing the filter to the caller's village or township.
fn scope_search(caller: Option<&Caller>, mine: bool, s: &mut ListingSearch) {
    s.statuses = ListingStatus::ALL
        .iter()
        .copied()
        .filter(|x| x.is_public())
        .collect();
    let Some(c) = caller.filter(|_| mine) else {
        return;
    };
    match c.role {
        Role::Collective => {
            s.statuses = ListingStatus::ALL.to_vec();
            // Never another village's, whatever `village_id` asked for.
            s.village_id = c.village_id.clone();
        }
        Role::Staff => {
            s.statuses = ListingStatus::ALL
                .iter()
                .copied()
                .filter(|x| *x != ListingStatus::Draft)
                .collect();
            s.township_id = c.township_id.clone();
        }
        Role::Admin => s.statuses = ListingStatus::ALL.to_vec(),
        Role::Investor | Role::Insurer => {}
    }
}

/// Searches listings, after performing the transitions due on the listings of the page (and
/// on no other: an anonymous request never settles what it doesn't return).
pub fn search(ctx: &Ctx, conn: &mut DbConn, search: Search) -> Result<SearchPage, ApiError> {
    let caller = ctx.caller.as_ref();
    let mut s = search.filter;
    scope_search(caller, search.mine, &mut s);
    if let Some(st) = search.status {
        s.statuses.retain(|x| *x == st);
    }
    if let Some(c) = search.cursor {
        // A cursor positions the page only as a listing the caller may see: any other id
        // (a draft, a submission) reads as unknown, so it can't narrow the results or reveal
        // what it is sorted by.
        s.after = Some(
            q::find_listing(conn, &c)?
                .filter(|l| listing_visible(caller, l.status, &l.village_id, &l.township_id))
                .ok_or_else(|| ApiError::BadRequest("invalid cursor".into()))?,
        );
    }
    if s.statuses.is_empty() {
        return Ok(SearchPage {
            items: Vec::new(),
            next_cursor: None,
        });
    }
    let rows = settled_page(ctx, conn, &s)?;
    let more = rows.len() as i64 > s.limit;
    let rows: Vec<Listing> = rows.into_iter().take(s.limit as usize).collect();
    let next_cursor = if more {
        rows.last().map(|l| l.id.clone())
    } else {
        None
    };
    let ids: Vec<String> = rows.iter().map(|l| l.id.clone()).collect();
    let mut by_listing = q::parcels_by_listing(conn, &ids)?;
    let items = rows
        .into_iter()
        .map(|l| {
            let parcels = by_listing.remove(&l.id).unwrap_or_default();
            ListingView {
                listing: as_seen_by(caller, l),
                parcels,
            }
        })
        .collect();
    Ok(SearchPage { items, next_cursor })
}

/// How many times a search reads its page again because a transition moved a listing of the
/// page out of the statuses asked for.
const SEARCH_SETTLE_PASSES: usize = 4;

/// The rows of `s` (up to `limit + 1`), the listings of the page settled. A transition can
/// take a listing out of the statuses asked for (`status=announced`), so the page is read again
/// until it holds only settled listings that still match; each pass settles only listings on
/// its page.
fn settled_page(ctx: &Ctx, conn: &mut DbConn, s: &ListingSearch) -> Result<Vec<Listing>, ApiError> {
    let mut pass = 0;
    loop {
        pass += 1;
        let mut rows = q::search_listings(conn, s)?;
        let mut left = false;
        for l in rows.iter_mut().take(s.limit as usize) {
            if !is_due(conn, l, ctx.now)? {
                continue;
            }
            if let Some(now) = settle_for_read(conn, &l.id, ctx.now, ctx.rules())? {
                left |= !s.statuses.contains(&now.status);
                *l = now;
            }
        }
        if !left || pass == SEARCH_SETTLE_PASSES {
            rows.retain(|l| s.statuses.contains(&l.status));
            return Ok(rows);
        }
    }
}
