//! When transitions are due, and performing them: one listing (`settle`, `settle_locked`) or
//! every due listing (`settle_due`, the worker pass).

use chrono::{DateTime, Utc};

use super::{close, deals};
use crate::config::Rules;
use crate::db::auction as aq;
use crate::db::listings as q;
use crate::db::models::{Deal, Listing};
use crate::db::{side_tx, DbConn};
use crate::domain::listing::ListingStatus;
use crate::error::ApiError;

/// Cheap check (no lock) whether anything is due for this listing at `now`.
pub fn is_due(conn: &mut DbConn, l: &Listing, now: DateTime<Utc>) -> Result<bool, ApiError> {
    let n = now.naive_utc();
    Ok(match l.status {
        ListingStatus::Announced => l.registration_closes_at <= n,
        ListingStatus::Auction => l.current_ends_at.is_some_and(|t| t <= n),
        ListingStatus::Awarded => aq::newest_deal(conn, &l.id)?.is_some_and(|d| deal_due(&d, now)),
        _ => false,
    })
}

/// The offer timed out: the holder never confirmed, or the collective hasn't and the staff
/// were not reminded yet.
pub(super) fn deal_due(d: &Deal, now: DateTime<Utc>) -> bool {
    d.status.is_open()
        && d.confirm_by <= now.naive_utc()
        && (d.winner_confirmed_at.is_none()
            || (d.collective_confirmed_at.is_none() && d.staff_reminded_at.is_none()))
}

/// Performs every transition due at `now` for one listing, each in the same transaction with
/// the listing locked. Returns the listing as it is afterwards.
pub fn settle(
    conn: &mut DbConn,
    listing_id: &str,
    now: DateTime<Utc>,
    rules: &Rules,
) -> Result<Option<Listing>, ApiError> {
    let Some(l) = q::find_listing(conn, listing_id)? else {
        return Ok(None);
    };
    if !is_due(conn, &l, now)? {
        return Ok(Some(l));
    }
    // What fell due is the platform's doing, not the action of a request that reads or acts
    // on the listing: it never marks that request's Idempotency-Key as performed.
    side_tx(conn, |conn| {
        let Some(mut l) = q::find_listing_for_update(conn, listing_id)? else {
            return Ok(None);
        };
        settle_locked(conn, &mut l, now, rules)?;
        Ok(Some(l))
    })
}

/// [`settle`] for a read: a listing whose due transition fails (a corrupt row, a bug) is
/// logged and returned as it is stored, so one bad record never breaks a page, a search or
/// the reads of its own bids and deal. A database that is unavailable still answers 503.
pub fn settle_for_read(
    conn: &mut DbConn,
    listing_id: &str,
    now: DateTime<Utc>,
    rules: &Rules,
) -> Result<Option<Listing>, ApiError> {
    match settle(conn, listing_id, now, rules) {
        Ok(l) => Ok(l),
        Err(e @ (ApiError::Unavailable | ApiError::PrimaryRequired)) => Err(e),
        Err(e) => {
            tracing::error!(listing_id, error = %e, "settling a listing failed; read as stored");
            Ok(q::find_listing(conn, listing_id)?)
        }
    }
}

/// `settle` inside an open transaction on a locked listing row.
pub fn settle_locked(
    conn: &mut DbConn,
    l: &mut Listing,
    now: DateTime<Utc>,
    rules: &Rules,
) -> Result<(), ApiError> {
    // A listing can pass several steps at once (registration closed and auction over).
    for _ in 0..6 {
        let n = now.naive_utc();
        match l.status {
            ListingStatus::Announced if l.registration_closes_at <= n => {
                close::close_registration(conn, l, now, rules)?
            }
            ListingStatus::Auction if l.current_ends_at.is_some_and(|t| t <= n) => {
                close::close_auction(conn, l, now, rules)?
            }
            ListingStatus::Awarded => {
                let Some(d) = aq::newest_deal(conn, &l.id)? else {
                    return Ok(());
                };
                if !deal_due(&d, now) {
                    return Ok(());
                }
                deals::deal_timeout(conn, l, d, now, rules)?;
            }
            _ => return Ok(()),
        }
    }
    Ok(())
}

/// What one worker pass did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct SettlePass {
    /// Listings looked at (something was due).
    pub due: usize,
    /// Listings whose settlement failed (rolled back; logged; tried again next pass).
    pub failed: usize,
}

/// One worker pass: settles every listing with a transition due. Each listing settles in its
/// own transaction; one that fails is logged and skipped, so it never stops the others (the
/// caller counts `failed`).
pub fn settle_due(
    conn: &mut DbConn,
    now: DateTime<Utc>,
    rules: &Rules,
) -> Result<SettlePass, ApiError> {
    let mut ids = q::due_listing_ids(conn, now.naive_utc(), 100)?;
    ids.extend(aq::listings_with_due_deals(conn, now.naive_utc(), 100)?);
    ids.sort();
    ids.dedup();
    let mut pass = SettlePass {
        due: ids.len(),
        failed: 0,
    };
    for id in ids {
        if let Err(e) = settle(conn, &id, now, rules) {
            tracing::error!(listing_id = %id, error = %e, "settling a listing failed");
            pass.failed += 1;
        }
    }
    Ok(pass)
}
