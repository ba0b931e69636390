//! The trading engine: time-driven transitions of listings (registration close, auction
//! close, deal time-outs), bid placement and deal confirmation. Shared by the background
//! worker, by reads that find a transition due, and by the bid and deal handlers.
//!
//! Every transition runs with the listing row locked (PostgreSQL `FOR UPDATE`; SQLite's
//! immediate transaction) and re-checks the state it expects, so several instances — or a
//! worker and a read — racing on one listing make each transition exactly once.
//!
//! - [`settle`]: what is due and when (the worker pass, reads that settle first);
//! - [`close`]: registration close and auction close, the award;
//! - [`deals`]: deal offers, time-outs, the runner-up fallback, confirm and decline;
//! - [`bids`]: placing bids, the bid history and the live feed.

pub mod bids;
pub mod close;
pub mod deals;
pub mod settle;

pub use bids::{
    list_bids, place_bid, place_signed_bid, poll_feed, poll_shared_feed, watch, BidList, FeedPoll,
    PlacedBid, SharedPoll, FEED_PAGE,
};
pub use deals::{confirm_deal, decline_deal, get_deal, DealParty, DealView};
pub use settle::{settle, settle_due, settle_for_read, settle_locked};

use chrono::{DateTime, Utc};

use crate::db::listings as q;
use crate::db::models::{Bid, Listing, Registration};
use crate::db::registrations as rq;
use crate::db::{queries, DbConn};
use crate::domain::auction::{self, Standing};
use crate::domain::listing::{ListingEvent, ListingStatus};
use crate::domain::registration::is_eligible;
use crate::domain::roles::Role;
use crate::error::ApiError;
use crate::notify::{self, templates::trading::ListingParty, templates::Template};

/// Eligible bidders of a listing: qualified and deposit confirmed.
pub fn eligible_bidders(conn: &mut DbConn, listing_id: &str) -> Result<u32, ApiError> {
    Ok(rq::count_eligible(conn, listing_id)? as u32)
}

pub(crate) fn status_of(l: &Listing) -> Result<ListingStatus, ApiError> {
    Ok(l.status)
}

fn registration_eligible(r: &Registration) -> bool {
    is_eligible(r.status, r.deposit_status)
}

/// Moves the listing by `event`; returns the status it left.
fn transition(l: &mut Listing, event: ListingEvent) -> Result<ListingStatus, ApiError> {
    let from = l.status;
    let next = status_of(l)?.next(event).ok_or_else(|| {
        ApiError::internal(format!("transition {event:?} from {from} not allowed"))
    })?;
    l.status = next;
    Ok(from)
}

/// Saves the listing after a change at `now`.
fn save(conn: &mut DbConn, l: &mut Listing, now: DateTime<Utc>) -> Result<(), ApiError> {
    l.updated_at = now.naive_utc();
    Ok(q::save_listing(conn, l)?)
}

/// E-mails the accounts of the listing's village (collective) and township (staff).
fn notify_parties<T: Template>(
    conn: &mut DbConn,
    l: &Listing,
    mail: impl Fn(ListingParty) -> T,
    now: DateTime<Utc>,
) -> Result<(), ApiError> {
    let mut people =
        queries::org_members(conn, Role::Collective.as_str(), Some(&l.village_id), None)?;
    people.extend(queries::org_members(
        conn,
        Role::Staff.as_str(),
        None,
        Some(&l.township_id),
    )?);
    for u in people {
        let party = ListingParty {
            name: u.display_name,
            listing_no: l.listing_no.clone().unwrap_or_default(),
            title: l.title.clone(),
        };
        notify::send(conn, &u.email, &mail(party), now)?;
    }
    Ok(())
}

/// Each bidder's best bid, ranked.
fn standings(bids: &[Bid]) -> Vec<Standing> {
    let mut best: Vec<Standing> = Vec::new();
    for b in bids {
        match best
            .iter_mut()
            .find(|s| s.registration_id == b.registration_id)
        {
            Some(s)
                if b.amount_fen > s.amount_fen
                    || (b.amount_fen == s.amount_fen && b.priority && !s.priority) =>
            {
                s.amount_fen = b.amount_fen;
                s.priority = b.priority;
                s.seq = b.seq;
            }
            Some(_) => {}
            None => best.push(Standing {
                registration_id: b.registration_id.clone(),
                amount_fen: b.amount_fen,
                priority: b.priority,
                seq: b.seq,
            }),
        }
    }
    auction::rank(best)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn bid(reg: &str, seq: i64, amount: i64, priority: bool) -> Bid {
        Bid {
            id: format!("b{seq}"),
            listing_id: "l".into(),
            registration_id: reg.into(),
            seq,
            bidder_no: 0,
            amount_fen: amount,
            priority,
            placed_at: chrono::DateTime::UNIX_EPOCH.naive_utc(),
            extended_to: None,
        }
    }

    #[test]
    fn standings_use_each_bidders_best_bid() {
        let s = standings(&[
            bid("a", 1, 100, false),
            bid("b", 2, 110, false),
            bid("a", 3, 120, false),
            bid("c", 4, 120, true),
        ]);
        let ids: Vec<&str> = s.iter().map(|x| x.registration_id.as_str()).collect();
        assert_eq!(ids, ["c", "a", "b"]);
        assert_eq!(s[2].amount_fen, 110);
    }
}
