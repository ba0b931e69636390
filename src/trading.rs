//! Time-driven transitions of listings, shared by the background worker and by reads that
//! find a transition due ("a read that finds a transition due performs it first"). Each one is
//! a conditional update on the listing's current status, so two instances (or a worker and a
//! read) racing on one listing make it exactly once.

use chrono::{DateTime, Utc};

use crate::audit::{self, Entry};
use crate::db::listings as q;
use crate::db::models::Listing;
use crate::db::{write_tx, DbConn};
use crate::domain::listing::{ListingEvent, ListingStatus};
use crate::error::ApiError;

pub fn listing_stream(id: &str) -> String {
    format!("listing:{id}")
}

/// Eligible bidders of a listing: qualified and deposit confirmed.
pub fn eligible_bidders(conn: &mut DbConn, listing_id: &str) -> Result<u32, ApiError> {
    Ok(crate::db::registrations::count_eligible(conn, listing_id)? as u32)
}

/// Performs the transition due at `now` for one listing, if any, in its own transaction.
/// Returns the listing as it is afterwards.
pub fn settle(
    conn: &mut DbConn,
    listing_id: &str,
    now: DateTime<Utc>,
) -> Result<Option<Listing>, ApiError> {
    let Some(l) = q::find_listing(conn, listing_id)? else {
        return Ok(None);
    };
    if !is_due(&l, now) {
        return Ok(Some(l));
    }
    write_tx(conn, |conn| {
        let Some(mut l) = q::find_listing_for_update(conn, listing_id)? else {
            return Ok(None);
        };
        if !is_due(&l, now) {
            return Ok(Some(l));
        }
        let from = l.status.clone();
        let status = ListingStatus::parse(&from).ok_or_else(|| ApiError::internal("bad status"))?;
        if status == ListingStatus::Announced {
            let eligible = eligible_bidders(conn, &l.id)?;
            let next = status
                .next(ListingEvent::CloseRegistration { eligible })
                .ok_or_else(|| ApiError::internal("close registration not allowed"))?;
            l.eligible_bidders = Some(eligible as i64);
            l.status = next.as_str().into();
            if next == ListingStatus::Failed {
                l.closed_at = Some(l.registration_closes_at);
            }
            l.updated_at = now.naive_utc();
            if q::save_listing_if(conn, &l, &from)? {
                audit::append(
                    conn,
                    &Entry {
                        stream: &listing_stream(&l.id),
                        action: "listing.registration_closed",
                        entity_type: "listing",
                        entity_id: &l.id,
                        from_state: Some(&from),
                        to_state: Some(&l.status),
                        reason: Some(&format!("{eligible} eligible bidder(s)")),
                        ..Default::default()
                    },
                    now,
                )?;
            }
        }
        q::find_listing(conn, listing_id)
    })
}

fn is_due(l: &Listing, now: DateTime<Utc>) -> bool {
    let now = now.naive_utc();
    match l.status.as_str() {
        "announced" => l.registration_closes_at <= now,
        "auction" => l.current_ends_at.is_some_and(|t| t <= now),
        _ => false,
    }
}

/// One worker pass: settles every listing with a transition due.
pub fn settle_due(conn: &mut DbConn, now: DateTime<Utc>) -> Result<usize, ApiError> {
    let ids = q::due_listing_ids(conn, now.naive_utc(), 100)?;
    let n = ids.len();
    for id in ids {
        settle(conn, &id, now)?;
    }
    Ok(n)
}
