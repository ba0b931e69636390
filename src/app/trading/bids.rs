//! Bids: placing one (the hot path), the public bid history and the live feed's polls.

use chrono::NaiveDateTime;

use super::settle::{settle_for_read, settle_locked};
use crate::app::Ctx;
use crate::audit::{self, listing_stream, Entry};
use crate::auth::tokens::Claims;
use crate::auth::{caller_of, caller_on};
use crate::db::auction as aq;
use crate::db::listings as q;
use crate::db::models::{Bid, Listing};
use crate::db::registrations as rq;
use crate::db::{write_tx, DbConn};
use crate::domain::access::listing_visible;
use crate::domain::auction::{self, AuctionState, BidRefusal, Bidder, Leader, BID_ACCEPTED};
use crate::domain::listing::ListingStatus;
use crate::domain::registration::is_eligible;
use crate::domain::roles::Role;
use crate::error::ApiError;

/// An accepted bid and the auction after it.
#[derive(Debug, Clone)]
pub struct PlacedBid {
    pub bid: Bid,
    pub listing: Listing,
    pub extended: bool,
}

/// Places a bid for the calling investor: one transaction that locks the listing, reads the
/// clock only then (so acceptance order and time order agree), settles what is due, checks
/// the bid with the domain rules (API.md's order: role, 404 not visible, window,
/// eligibility, leader, amount) and records it.
pub fn place_bid(
    ctx: &Ctx,
    conn: &mut DbConn,
    listing_id: &str,
    amount_fen: i64,
) -> Result<PlacedBid, ApiError> {
    let caller = ctx.caller()?;
    caller.require(&[Role::Investor])?;
    write_tx(conn, |conn| {
        let l = q::find_listing_for_update(conn, listing_id)?.ok_or(ApiError::NotFound)?;
        bid_on_locked(ctx, conn, l, amount_fen)
    })
}

/// The bid as `POST /listings/{id}/bids` places it, its caller known by a signed token whose
/// account is not checked yet (`ctx` without a caller): the account is read with the listing's
/// lock, on PostgreSQL in the same round trip. The checks keep the order of every route: the
/// account (401), the role (403), the body (`amount`, 422), then [`place_bid`]'s.
pub fn place_signed_bid(
    mut ctx: Ctx,
    conn: &mut DbConn,
    claims: &Claims,
    listing_id: &str,
    amount: impl FnOnce() -> Result<i64, ApiError>,
) -> Result<PlacedBid, ApiError> {
    write_tx(conn, |conn| {
        let locked = match conn {
            DbConn::Pg(c) => q::lock_listing_with_account(c, listing_id, &claims.sub)?,
            DbConn::Sqlite(_) => None,
        };
        let (caller, listing) = match locked {
            Some((l, account)) => (caller_of(Some(account), claims)?, Some(l)),
            // SQLite, or a missing account or listing: which one, in the routes' order.
            None => (caller_on(conn, claims)?, None),
        };
        caller.require(&[Role::Investor])?;
        let amount_fen = amount()?;
        let l = match listing {
            Some(l) => l,
            None => q::find_listing_for_update(conn, listing_id)?.ok_or(ApiError::NotFound)?,
        };
        ctx.caller = Some(caller);
        bid_on_locked(&ctx, conn, l, amount_fen)
    })
}

/// The bid on the locked listing `l`, inside the transaction holding the lock.
fn bid_on_locked(
    ctx: &Ctx,
    conn: &mut DbConn,
    mut l: Listing,
    amount_fen: i64,
) -> Result<PlacedBid, ApiError> {
    let caller = ctx.caller()?;
    let actor = ctx.actor();
    // Only investors bid, and they see public listings only.
    if !l.status.is_public() {
        return Err(ApiError::NotFound);
    }
    // The body (an amount above the maximum price) before the auction's state.
    auction::check_bid_amount(amount_fen, ctx.rules().max_price_fen)
        .map_err(|e| ApiError::Validation(vec![e]))?;
    let now = ctx.clock.now();
    settle_locked(conn, &mut l, now, ctx.rules())?;
    let stream = listing_stream(&l.id);
    let rq::BidderAndLeader { mine, leader, head } = rq::find_bidder_and_leader(
        conn,
        &l.id,
        &caller.id,
        l.leading_registration_id.as_deref(),
        &stream,
    )?;
    let (reg, bidder_no) = match mine {
        Some(m) => (
            Some(m.registration),
            auction::bidder_number(m.earlier_no, m.highest_no),
        ),
        None => (None, 0),
    };
    let leader = leader.map(|r| Leader {
        registration_id: r.id,
        member_verified: r.member_verified,
    });
    let state = AuctionState {
        reserve_fen: l.reserve_price_fen,
        increment_fen: l.min_increment_fen,
        starts_at: l.auction_starts_at.and_utc(),
        current_ends_at: l.current_ends_at.unwrap_or(l.auction_ends_at).and_utc(),
        extension_secs: l.extension_secs,
        current_price_fen: l.current_price_fen,
        leader,
        open: l.status == ListingStatus::Auction,
    };
    let bidder = Bidder {
        registration_id: reg.as_ref().map(|r| r.id.clone()),
        eligible: reg
            .as_ref()
            .is_some_and(|r| is_eligible(r.status, r.deposit_status)),
        member_verified: reg.as_ref().is_some_and(|r| r.member_verified),
    };
    let accepted = auction::place_bid(&state, &bidder, amount_fen, now).map_err(|e| match e {
        BidRefusal::Closed => ApiError::AuctionClosed("the auction is not open for bids".into()),
        BidRefusal::NotEligible => ApiError::NotEligible(
            "you are not an eligible bidder for this listing (qualified, with a confirmed deposit)"
                .into(),
        ),
        BidRefusal::AlreadyLeading => ApiError::AlreadyLeading,
        BidRefusal::TooLow(m) => ApiError::BidTooLow(format!("bid too low: {m}")),
    })?;
    let reg = reg.ok_or_else(|| ApiError::internal("accepted bid without registration"))?;
    let bid = Bid::accepted(&l.id, &reg.id, l.bid_count + 1, bidder_no, &accepted, now);
    l.current_price_fen = Some(accepted.price_fen);
    l.leading_registration_id = Some(reg.id.clone());
    l.current_ends_at = Some(accepted.current_ends_at.naive_utc());
    l.bid_count += 1;
    l.updated_at = now.naive_utc();
    let reason = format!("{} fen/mu/year", bid.amount_fen);
    let entry = Entry {
        stream: &stream,
        actor_id: actor.id,
        actor_role: actor.role,
        action: if accepted.priority {
            "bid.placed_priority"
        } else {
            "bid.placed"
        },
        entity_type: "bid",
        entity_id: &bid.id,
        from_state: None,
        to_state: Some(BID_ACCEPTED),
        reason: Some(&reason),
        amount_fen: Some(bid.amount_fen),
    };
    // The stream's head as the registrations' read locked it (PostgreSQL), else locked now.
    let record = match head {
        Some(head) => audit::record_after(head, &entry, now),
        None => audit::next_record(conn, &entry, now)?,
    };
    // The bid, the listing's new state and the audit record: one write.
    aq::record_bid(conn, &bid, &l, &record)?;
    Ok(PlacedBid {
        bid,
        listing: l,
        extended: accepted.extended,
    })
}

/// One page of a listing's bid history, newest first.
#[derive(Debug, Clone)]
pub struct BidList {
    pub bids: Vec<Bid>,
    pub next_cursor: Option<String>,
    /// The caller oversees the listing's township: it sees who bid.
    pub staff: bool,
}

/// The bid history before `before_seq` (settling what is due first); 404 when the caller
/// can't see the listing.
pub fn list_bids(
    ctx: &Ctx,
    conn: &mut DbConn,
    listing_id: &str,
    before_seq: Option<i64>,
    limit: i64,
) -> Result<BidList, ApiError> {
    let l = visible_listing(ctx, conn, listing_id)?;
    let staff = ctx
        .caller
        .as_ref()
        .is_some_and(|c| c.oversees_township(&l.township_id));
    let mut bids = aq::list_bids(conn, &l.id, before_seq, limit + 1)?;
    let more = bids.len() as i64 > limit;
    bids.truncate(limit as usize);
    let next_cursor = if more {
        bids.last().map(|b| b.seq.to_string())
    } else {
        None
    };
    Ok(BidList {
        bids,
        next_cursor,
        staff,
    })
}

/// The listing, settled, if the caller may see it (else 404).
fn visible_listing(ctx: &Ctx, conn: &mut DbConn, listing_id: &str) -> Result<Listing, ApiError> {
    let l = settle_for_read(conn, listing_id, ctx.now, ctx.rules())?.ok_or(ApiError::NotFound)?;
    if !listing_visible(ctx.caller.as_ref(), l.status, &l.village_id, &l.township_id) {
        return Err(ApiError::NotFound);
    }
    Ok(l)
}

/// At most this many bids per read of the live feed (a reader that gets a full page reads
/// again at once).
pub const FEED_PAGE: i64 = 100;

/// What one watcher's read of the live feed found.
#[derive(Debug, Clone)]
pub struct FeedPoll {
    /// Bids after the last one sent, oldest first (at most [`FEED_PAGE`]).
    pub bids: Vec<Bid>,
    pub listing: Option<Listing>,
    /// The auction's end before the first of `bids`.
    pub ends: Option<NaiveDateTime>,
}

/// May the caller follow this listing's live feed? (404 if it can't see the listing.) If so,
/// the feed's first read: the bids after `last_seq` and the auction's end after it.
pub fn watch(
    ctx: &Ctx,
    conn: &mut DbConn,
    listing_id: &str,
    last_seq: i64,
) -> Result<FeedPoll, ApiError> {
    let listing = visible_listing(ctx, conn, listing_id)?;
    read_feed(conn, listing_id, Some(listing), last_seq, None)
}

/// One watcher's own read of the live feed (catching up after it fell behind the shared
/// stream): new bids after `last_seq` (with their extensions) and the listing (settled), for
/// the close. `ends`: the end the feed knows, if any.
pub fn poll_feed(
    ctx: &Ctx,
    conn: &mut DbConn,
    listing_id: &str,
    last_seq: i64,
    ends: Option<NaiveDateTime>,
) -> Result<FeedPoll, ApiError> {
    let listing = settle_for_read(conn, listing_id, ctx.now, ctx.rules())?;
    read_feed(conn, listing_id, listing, last_seq, ends)
}

fn read_feed(
    conn: &mut DbConn,
    listing_id: &str,
    listing: Option<Listing>,
    last_seq: i64,
    ends: Option<NaiveDateTime>,
) -> Result<FeedPoll, ApiError> {
    let bids = aq::bids_after(conn, listing_id, last_seq, FEED_PAGE)?;
    // Extensions only ever move the end later, so the end after bid n is the newest
    // extension up to n, else the scheduled end.
    let ends = match ends {
        Some(t) => Some(t),
        None => aq::extended_to_at(conn, listing_id, last_seq)?
            .or(listing.as_ref().map(|l| l.auction_ends_at)),
    };
    Ok(FeedPoll {
        bids,
        listing,
        ends,
    })
}

/// What one poll of a listing's shared live feed found.
#[derive(Debug, Clone)]
pub struct SharedPoll {
    pub listing: Option<Listing>,
    /// The bids were read after this one.
    pub after_seq: i64,
    /// Bids after `after_seq`, oldest first (at most [`FEED_PAGE`]).
    pub bids: Vec<Bid>,
}

/// One poll of a listing's shared live feed (the one poller of the listing on an instance):
/// the listing, settled, and the bids after `after_seq`; `None` (a poller starting now): after
/// the bids the listing counts.
pub fn poll_shared_feed(
    ctx: &Ctx,
    conn: &mut DbConn,
    listing_id: &str,
    after_seq: Option<i64>,
) -> Result<SharedPoll, ApiError> {
    let listing = settle_for_read(conn, listing_id, ctx.now, ctx.rules())?;
    let after_seq = after_seq.unwrap_or_else(|| listing.as_ref().map_or(0, |l| l.bid_count));
    let bids = aq::bids_after(conn, listing_id, after_seq, FEED_PAGE)?;
    Ok(SharedPoll {
        listing,
        after_seq,
        bids,
    })
}
