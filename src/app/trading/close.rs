//! Closing a listing on time: registration close (→ auction, negotiated award or failed) and
//! auction close (→ awarded or failed), with the award of round 1's deal.

use chrono::{DateTime, Utc};

use super::{deals, notify_parties, registration_eligible, save, standings, transition};
use crate::app::audit::audit_listing;
use crate::app::deposits;
use crate::app::deposits::notify_investor;
use crate::audit::Actor;
use crate::config::Rules;
use crate::db::auction as aq;
use crate::db::models::{Listing, Registration};
use crate::db::registrations as rq;
use crate::db::DbConn;
use crate::domain::listing::{ListingEvent, ListingStatus};
use crate::domain::registration::DepositEvent;
use crate::error::ApiError;
use crate::notify::templates::trading::{
    AuctionScheduled, BidderAuctionScheduled, DealAwarded, FailCause, ListingAwarded, ListingFailed,
};

/// Registration closed: two or more eligible bidders → auction, one → negotiated deal at the
/// reserve price, none → failed.
pub(super) fn close_registration(
    conn: &mut DbConn,
    l: &mut Listing,
    now: DateTime<Utc>,
    rules: &Rules,
) -> Result<(), ApiError> {
    let regs = rq::for_listing(conn, &l.id)?;
    let eligible: Vec<&Registration> = regs.iter().filter(|r| registration_eligible(r)).collect();
    let from = transition(
        l,
        ListingEvent::CloseRegistration {
            eligible: eligible.len() as u32,
        },
    )?;
    let at = l.registration_closes_at.and_utc();
    l.eligible_bidders = Some(eligible.len() as i64);
    let reason = format!("{} eligible bidder(s)", eligible.len());
    // An auction runs to its announced end; otherwise the listing closes at registration close.
    if l.status == ListingStatus::Auction {
        l.current_ends_at = Some(l.auction_ends_at);
    } else {
        l.closed_at = Some(at.naive_utc());
    }
    save(conn, l, now)?;
    audit_listing(
        conn,
        Actor::SYSTEM,
        l,
        "listing.registration_closed",
        Some(from.as_str()),
        Some(&reason),
        now,
    )?;
    match l.status {
        ListingStatus::Failed => {
            deposits::release_all(conn, &l.id, Actor::SYSTEM, "listing failed", now)?;
            notify_parties(
                conn,
                l,
                |party| ListingFailed {
                    party,
                    cause: FailCause::NoEligibleBidder,
                },
                now,
            )?;
        }
        ListingStatus::Awarded => {
            // One eligible bidder: negotiated deal (协议转让) at the reserve price.
            let winner = eligible[0].clone();
            let price = l.reserve_price_fen;
            let award = Award {
                winner: &winner,
                runner_up: None,
                price_fen: price,
                bidder_no: 1,
                negotiated: true,
                at,
            };
            award_deal(conn, l, award, now, rules)?;
        }
        _ => {
            notify_parties(conn, l, |party| AuctionScheduled { party }, now)?;
            for r in eligible {
                let mail = BidderAuctionScheduled {
                    name: r.legal_name.clone(),
                    title: l.title.clone(),
                    starts_at: l.auction_starts_at.and_utc(),
                };
                notify_investor(conn, r, &mail, now)?;
            }
        }
    }
    Ok(())
}

/// The auction ended: the best bid wins (the runner-up keeps its deposit until the deal is
/// confirmed); no bid → failed.
pub(super) fn close_auction(
    conn: &mut DbConn,
    l: &mut Listing,
    now: DateTime<Utc>,
    rules: &Rules,
) -> Result<(), ApiError> {
    let at = l.current_ends_at.unwrap_or(l.auction_ends_at).and_utc();
    let bids = aq::all_bids(conn, &l.id)?;
    let from = transition(
        l,
        ListingEvent::CloseAuction {
            any_bid: !bids.is_empty(),
        },
    )?;
    l.closed_at = Some(at.naive_utc());
    save(conn, l, now)?;
    if bids.is_empty() {
        audit_listing(
            conn,
            Actor::SYSTEM,
            l,
            "listing.auction_closed",
            Some(from.as_str()),
            Some("no bid"),
            now,
        )?;
        deposits::release_all(conn, &l.id, Actor::SYSTEM, "listing failed", now)?;
        return notify_parties(
            conn,
            l,
            |party| ListingFailed {
                party,
                cause: FailCause::NoBid,
            },
            now,
        );
    }
    let ranked = standings(&bids);
    let leader = l
        .leading_registration_id
        .clone()
        .ok_or_else(|| ApiError::internal("auction with bids but no leader"))?;
    debug_assert_eq!(
        ranked[0].registration_id, leader,
        "the leader is the best-ranked bidder"
    );
    let winner = rq::find(conn, &leader)?.ok_or_else(|| ApiError::internal("leader vanished"))?;
    let runner_up = ranked.get(1).map(|s| s.registration_id.clone());
    let price = l
        .current_price_fen
        .ok_or_else(|| ApiError::internal("auction with bids but no price"))?;
    audit_listing(
        conn,
        Actor::SYSTEM,
        l,
        "listing.auction_closed",
        Some(from.as_str()),
        Some(&format!("won at {price} fen/mu/year")),
        now,
    )?;
    let bidder_no = bids
        .iter()
        .find(|b| b.registration_id == leader)
        .map(|b| b.bidder_no)
        .unwrap_or(1);
    let award = Award {
        winner: &winner,
        runner_up: runner_up.as_deref(),
        price_fen: price,
        bidder_no,
        negotiated: false,
        at,
    };
    award_deal(conn, l, award, now, rules)
}

/// Who won what, and when.
struct Award<'a> {
    winner: &'a Registration,
    runner_up: Option<&'a str>,
    price_fen: i64,
    bidder_no: i64,
    negotiated: bool,
    at: DateTime<Utc>,
}

/// Creates round 1's deal and releases the deposits of everyone but the winner and the
/// runner-up.
fn award_deal(
    conn: &mut DbConn,
    l: &Listing,
    a: Award<'_>,
    now: DateTime<Utc>,
    rules: &Rules,
) -> Result<(), ApiError> {
    let offer = deals::Offer {
        holder: a.winner,
        round: 1,
        negotiated: a.negotiated,
        price_fen: a.price_fen,
        bidder_no: a.bidder_no,
        at: a.at,
    };
    let deal = deals::create_deal(conn, l, offer, now, rules)?;
    for mut r in rq::for_listing(conn, &l.id)? {
        if r.id == a.winner.id || Some(r.id.as_str()) == a.runner_up {
            continue;
        }
        deposits::move_deposit(
            conn,
            &mut r,
            DepositEvent::Release,
            Actor::SYSTEM,
            Some("not awarded"),
            now,
        )?;
    }
    let won = DealAwarded {
        name: a.winner.legal_name.clone(),
        title: l.title.clone(),
        price_fen: a.price_fen,
        negotiated: a.negotiated,
        confirmation_no: deal.confirmation_no.clone(),
        confirm_by: deal.confirm_by.and_utc(),
    };
    notify_investor(conn, a.winner, &won, now)?;
    notify_parties(
        conn,
        l,
        |party| ListingAwarded {
            party,
            price_fen: a.price_fen,
            negotiated: a.negotiated,
            confirmation_no: deal.confirmation_no.clone(),
        },
        now,
    )
}
