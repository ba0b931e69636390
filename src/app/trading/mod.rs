//! The trading engine: time-driven transitions of listings (registration close, auction
//! close, deal time-outs), bid placement and deal confirmation. Shared by the background
//! worker, by reads that find a transition due, and by the bid and deal handlers.
//!
//! Every transition runs with the listing row locked (PostgreSQL `FOR UPDATE`; SQLite's
//! immediate transaction) and re-checks the state it expects, so several instances — or a
//! worker and a read — racing on one listing make each transition exactly once.

use chrono::{DateTime, Duration, Utc};

use super::audit::audit_listing;
use crate::app::deposits;
use crate::audit::{self, Entry};
use crate::audit::{listing_stream, Actor};
use crate::config::Rules;
use crate::db::auction as aq;
use crate::db::listings as q;
use crate::db::models::{Bid, Deal, Listing, Registration};
use crate::db::registrations as rq;
use crate::db::{queries, write_tx, DbConn};
use crate::domain::auction::{self, AuctionState, BidRefusal, Bidder, Leader, Standing};
use crate::domain::deal::DealStatus;
use crate::domain::listing::{ListingEvent, ListingStatus};
use crate::domain::money::annual_rent_fen;
use crate::domain::numbering::{deal_counter, deal_no, shanghai_year};
use crate::domain::registration::{is_eligible, DepositEvent, DepositStatus};
use crate::error::ApiError;
use crate::notify::{self, Message};

/// Eligible bidders of a listing: qualified and deposit confirmed.
pub fn eligible_bidders(conn: &mut DbConn, listing_id: &str) -> Result<u32, ApiError> {
    Ok(rq::count_eligible(conn, listing_id)? as u32)
}

fn registration_eligible(r: &Registration) -> bool {
    is_eligible(r.status, r.deposit_status)
}

pub(crate) fn status_of(l: &Listing) -> Result<ListingStatus, ApiError> {
    Ok(l.status)
}

/// Cheap check (no lock) whether anything is due for this listing at `now`.
fn is_due(conn: &mut DbConn, l: &Listing, now: DateTime<Utc>) -> Result<bool, ApiError> {
    let n = now.naive_utc();
    Ok(match l.status.as_str() {
        "announced" => l.registration_closes_at <= n,
        "auction" => l.current_ends_at.is_some_and(|t| t <= n),
        "awarded" => aq::newest_deal(conn, &l.id)?.is_some_and(|d| deal_due(&d, now)),
        _ => false,
    })
}

fn deal_due(d: &Deal, now: DateTime<Utc>) -> bool {
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
    write_tx(conn, |conn| {
        let Some(mut l) = q::find_listing_for_update(conn, listing_id)? else {
            return Ok(None);
        };
        settle_locked(conn, &mut l, now, rules)?;
        Ok(Some(l))
    })
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
        match l.status.as_str() {
            "announced" if l.registration_closes_at <= n => {
                close_registration(conn, l, now, rules)?
            }
            "auction" if l.current_ends_at.is_some_and(|t| t <= n) => {
                close_auction(conn, l, now, rules)?
            }
            "awarded" => {
                let Some(d) = aq::newest_deal(conn, &l.id)? else {
                    return Ok(());
                };
                if !deal_due(&d, now) {
                    return Ok(());
                }
                deal_timeout(conn, l, d, now, rules)?;
            }
            _ => return Ok(()),
        }
    }
    Ok(())
}

/// E-mails the accounts of the listing's village (collective) and township (staff).
fn notify_parties(
    conn: &mut DbConn,
    l: &Listing,
    subject: &str,
    body: &str,
    now: DateTime<Utc>,
) -> Result<(), ApiError> {
    let mut people = queries::org_members(conn, "collective", Some(&l.village_id), None)?;
    people.extend(queries::org_members(
        conn,
        "staff",
        None,
        Some(&l.township_id),
    )?);
    for u in people {
        notify::enqueue(
            conn,
            Message {
                to: u.email,
                subject: format!(
                    "【landx】{} {}",
                    l.listing_no.as_deref().unwrap_or(""),
                    subject
                ),
                body: format!(
                    "{}，您好：\n\n挂牌项目“{}”：{}\n",
                    u.display_name, l.title, body
                ),
            },
            now,
        )?;
    }
    Ok(())
}

fn transition(l: &mut Listing, event: ListingEvent) -> Result<ListingStatus, ApiError> {
    let from = l.status;
    let next = status_of(l)?.next(event).ok_or_else(|| {
        ApiError::internal(format!("transition {event:?} from {from} not allowed"))
    })?;
    l.status = next;
    Ok(from)
}

fn close_registration(
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
    l.updated_at = now.naive_utc();
    let reason = format!("{} eligible bidder(s)", eligible.len());
    // An auction runs to its announced end; otherwise the listing closes at registration close.
    if l.status == ListingStatus::Auction {
        l.current_ends_at = Some(l.auction_ends_at);
    } else {
        l.closed_at = Some(at.naive_utc());
    }
    q::save_listing(conn, l)?;
    audit_listing(
        conn,
        Actor::SYSTEM,
        l,
        "listing.registration_closed",
        Some(from.as_str()),
        Some(&reason),
        now,
    )?;
    match l.status.as_str() {
        "failed" => {
            deposits::release_all(conn, &l.id, Actor::SYSTEM, "listing failed", now)?;
            notify_parties(
                conn,
                l,
                "流拍 Listing failed",
                "报名截止时无符合条件的竞买人，项目流拍。No eligible bidder: the listing failed.",
                now,
            )?;
        }
        "awarded" => {
            // One eligible bidder: negotiated deal (协议转让) at the reserve price.
            let winner = eligible[0].clone();
            let price = l.reserve_price_fen;
            award(conn, l, &winner, None, price, 1, true, at, now, rules)?;
        }
        _ => {
            notify_parties(
                conn,
                l,
                "进入网络竞价 Auction scheduled",
                "报名已截止，项目将按公告时间进行网络竞价。The auction will run as announced.",
                now,
            )?;
            for r in eligible {
                deposits::mail_investor(
                    conn,
                    r,
                    "竞价即将开始 Auction scheduled",
                    &format!(
                        "“{}”将于 {} 开始网络竞价。The auction starts at the announced time.",
                        l.title,
                        l.auction_starts_at.and_utc().to_rfc3339()
                    ),
                    now,
                )?;
            }
        }
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

fn close_auction(
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
    l.updated_at = now.naive_utc();
    q::save_listing(conn, l)?;
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
        notify_parties(
            conn,
            l,
            "流拍 Listing failed",
            "竞价期内无人出价，项目流拍。No bid: the listing failed.",
            now,
        )?;
        return Ok(());
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
    award(
        conn,
        l,
        &winner,
        runner_up.as_deref(),
        price,
        bidder_no,
        false,
        at,
        now,
        rules,
    )
}

/// Creates round 1's deal and releases the deposits of everyone but the winner and the
/// runner-up.
#[allow(clippy::too_many_arguments)]
fn award(
    conn: &mut DbConn,
    l: &Listing,
    winner: &Registration,
    runner_up: Option<&str>,
    price: i64,
    bidder_no: i64,
    negotiated: bool,
    at: DateTime<Utc>,
    now: DateTime<Utc>,
    rules: &Rules,
) -> Result<(), ApiError> {
    let deal = create_deal(
        conn, l, winner, 1, negotiated, price, bidder_no, at, now, rules,
    )?;
    for mut r in rq::for_listing(conn, &l.id)? {
        if r.id == winner.id || Some(r.id.as_str()) == runner_up {
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
    let how = if negotiated {
        "协议转让成交 negotiated deal"
    } else {
        "竞价成交 auction won"
    };
    deposits::mail_investor(
        conn,
        winner,
        "成交通知 You won",
        &format!(
            "您以 {} 分/亩/年 取得“{}”（{}），成交确认书编号 {}。请于 {} 前确认成交。Please confirm the deal by the date above.",
            price, l.title, how, deal.confirmation_no, deal.confirm_by.and_utc().to_rfc3339()
        ),
        now,
    )?;
    notify_parties(
        conn,
        l,
        "成交 Listing awarded",
        &format!(
            "{how}，成交价 {price} 分/亩/年，成交确认书编号 {}。",
            deal.confirmation_no
        ),
        now,
    )
}

#[allow(clippy::too_many_arguments)]
fn create_deal(
    conn: &mut DbConn,
    l: &Listing,
    r: &Registration,
    round: i64,
    negotiated: bool,
    price: i64,
    bidder_no: i64,
    at: DateTime<Utc>,
    now: DateTime<Utc>,
    rules: &Rules,
) -> Result<Deal, ApiError> {
    let township = queries::find_township(conn, &l.township_id)?
        .ok_or_else(|| ApiError::internal("township vanished"))?;
    let year = shanghai_year(at);
    let seq = q::next_counter(conn, &deal_counter(&township.id, year))?;
    let d = Deal {
        id: uuid::Uuid::now_v7().to_string(),
        listing_id: l.id.clone(),
        registration_id: r.id.clone(),
        round,
        negotiated,
        confirmation_no: deal_no(&township.code, year, seq),
        bidder_no,
        price_fen: price,
        annual_rent_fen: annual_rent_fen(price, l.total_area_centimu)
            .ok_or_else(|| ApiError::internal("rent overflow"))?,
        status: DealStatus::PendingConfirmation,
        awarded_at: at.naive_utc(),
        confirm_by: (at + Duration::days(rules.deal_confirm_days)).naive_utc(),
        publicity_ends_at: (at + Duration::days(rules.publicity_days)).naive_utc(),
        winner_confirmed_at: None,
        collective_confirmed_at: None,
        fell_through_at: None,
        fall_reason: None,
        staff_reminded_at: None,
        created_at: now.naive_utc(),
        updated_at: now.naive_utc(),
    };
    aq::insert_deal(conn, &d)?;
    audit::append(
        conn,
        &Entry {
            stream: &listing_stream(&l.id),
            action: "deal.created",
            entity_type: "deal",
            entity_id: &d.id,
            to_state: Some("pending_confirmation"),
            reason: Some(&format!("round {round}, {price} fen/mu/year")),
            ..Default::default()
        },
        now,
    )?;
    Ok(d)
}

fn deal_timeout(
    conn: &mut DbConn,
    l: &mut Listing,
    mut d: Deal,
    now: DateTime<Utc>,
    rules: &Rules,
) -> Result<(), ApiError> {
    if d.winner_confirmed_at.is_none() {
        let at = d.confirm_by.and_utc();
        return fall_through(
            conn,
            l,
            d,
            Actor::SYSTEM,
            "not confirmed by confirm_by",
            at,
            now,
            rules,
        );
    }
    // The investor confirmed, the collective hasn't: tell the township's staff, once.
    d.staff_reminded_at = Some(now.naive_utc());
    d.updated_at = now.naive_utc();
    aq::save_deal(conn, &d)?;
    for u in queries::org_members(conn, "staff", None, Some(&l.township_id))? {
        notify::enqueue(
            conn,
            Message {
                to: u.email,
                subject: format!(
                    "【landx】{} 村集体未确认成交 Collective has not confirmed",
                    d.confirmation_no
                ),
                body: format!(
                    "{}，您好：\n\n“{}”的成交（{}）已过确认期限，村集体尚未确认，请跟进。\n",
                    u.display_name, l.title, d.confirmation_no
                ),
            },
            now,
        )?;
    }
    Ok(())
}

/// The offer holder declined or timed out: round 1 forfeits its deposit and the runner-up is
/// offered a deal at its own best bid; round 2 (or a negotiated deal) ends in `failed`.
#[allow(clippy::too_many_arguments)]
fn fall_through(
    conn: &mut DbConn,
    l: &mut Listing,
    mut d: Deal,
    actor: Actor<'_>,
    reason: &str,
    at: DateTime<Utc>,
    now: DateTime<Utc>,
    rules: &Rules,
) -> Result<(), ApiError> {
    d.status = DealStatus::FallenThrough;
    d.fell_through_at = Some(at.naive_utc());
    d.fall_reason = Some(reason.into());
    d.updated_at = now.naive_utc();
    aq::save_deal(conn, &d)?;
    audit::append(
        conn,
        &Entry {
            stream: &listing_stream(&l.id),
            actor_id: actor.id,
            actor_role: actor.role,
            action: "deal.fell_through",
            entity_type: "deal",
            entity_id: &d.id,
            from_state: Some("pending_confirmation"),
            to_state: Some("fallen_through"),
            reason: Some(reason),
        },
        now,
    )?;
    let mut holder = rq::find(conn, &d.registration_id)?
        .ok_or_else(|| ApiError::internal("deal holder vanished"))?;
    let runner_up = if d.round == 1 && !d.negotiated {
        deposits::move_deposit(
            conn,
            &mut holder,
            DepositEvent::Forfeit,
            actor,
            Some(reason),
            now,
        )?;
        let bids = aq::all_bids(conn, &l.id)?;
        standings(&bids)
            .into_iter()
            .find(|s| s.registration_id != holder.id)
    } else {
        if d.round == 1 {
            deposits::move_deposit(
                conn,
                &mut holder,
                DepositEvent::Forfeit,
                actor,
                Some(reason),
                now,
            )?;
        } else {
            // The runner-up never won: its deposit is simply returned.
            deposits::move_deposit(
                conn,
                &mut holder,
                DepositEvent::Release,
                actor,
                Some(reason),
                now,
            )?;
        }
        None
    };
    match runner_up {
        Some(s) => {
            let r = rq::find(conn, &s.registration_id)?
                .ok_or_else(|| ApiError::internal("runner-up vanished"))?;
            let bidder_no = aq::bidder_no(conn, &l.id, &r.id)?.unwrap_or(2);
            let nd = create_deal(
                conn,
                l,
                &r,
                2,
                false,
                s.amount_fen,
                bidder_no,
                at,
                now,
                rules,
            )?;
            deposits::mail_investor(
                conn,
                &r,
                "递补成交通知 Runner-up offer",
                &format!("原竞得人未确认成交，您以自己的最高报价 {} 分/亩/年 获得递补成交资格（{}），请于 {} 前确认。", s.amount_fen, nd.confirmation_no, nd.confirm_by.and_utc().to_rfc3339()),
                now,
            )?;
            notify_parties(
                conn,
                l,
                "递补成交 Runner-up offered",
                &format!(
                    "原竞得人未确认，已向第二名发出递补成交（{}）。",
                    nd.confirmation_no
                ),
                now,
            )
        }
        None => {
            let from = transition(l, ListingEvent::DealFellThrough)?;
            l.updated_at = now.naive_utc();
            q::save_listing(conn, l)?;
            audit_listing(
                conn,
                actor,
                l,
                "listing.deal_fell_through",
                Some(from.as_str()),
                Some(reason),
                now,
            )?;
            deposits::release_all(conn, &l.id, actor, "listing failed", now)?;
            notify_parties(conn, l, "流拍 Listing failed", "成交未获确认且无递补人，项目流拍，可重新挂牌。The deal fell through; the listing failed.", now)
        }
    }
}

/// One worker pass: settles every listing with a transition due.
pub fn settle_due(conn: &mut DbConn, now: DateTime<Utc>, rules: &Rules) -> Result<usize, ApiError> {
    let mut ids = q::due_listing_ids(conn, now.naive_utc(), 100)?;
    ids.extend(aq::listings_with_due_deals(conn, now.naive_utc(), 100)?);
    ids.sort();
    ids.dedup();
    let n = ids.len();
    for id in ids {
        settle(conn, &id, now, rules)?;
    }
    Ok(n)
}

// ---- bids ----------------------------------------------------------------------------------

/// An accepted bid and the auction after it.
#[derive(Debug, Clone)]
pub struct PlacedBid {
    pub bid: Bid,
    pub listing: Listing,
    pub extended: bool,
}

/// Places a bid: one transaction that locks the listing, reads `now` from `clock` only then
/// (so acceptance order and time order agree), settles what is due, checks the bid with the
/// domain rules and records it.
pub fn place_bid(
    conn: &mut DbConn,
    listing_id: &str,
    investor_id: &str,
    amount_fen: i64,
    clock: &dyn crate::clock::Clock,
    rules: &Rules,
) -> Result<PlacedBid, ApiError> {
    write_tx(conn, |conn| {
        let mut l = q::find_listing_for_update(conn, listing_id)?.ok_or(ApiError::NotFound)?;
        // Only investors bid, and they see public listings only.
        if !l.status.is_public() {
            return Err(ApiError::NotFound);
        }
        let now = clock.now();
        settle_locked(conn, &mut l, now, rules)?;
        let reg = rq::find_by_investor(conn, &l.id, investor_id)?;
        let leader = match &l.leading_registration_id {
            Some(id) => rq::find(conn, id)?.map(|r| Leader {
                registration_id: r.id,
                member_verified: r.member_verified,
            }),
            None => None,
        };
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
            eligible: reg.as_ref().is_some_and(registration_eligible),
            member_verified: reg.as_ref().is_some_and(|r| r.member_verified),
        };
        let accepted = auction::place_bid(&state, &bidder, amount_fen, now).map_err(|e| match e {
            BidRefusal::Closed => ApiError::AuctionClosed("the auction is not open for bids".into()),
            BidRefusal::NotEligible => ApiError::NotEligible("you are not an eligible bidder for this listing (qualified, with a confirmed deposit)".into()),
            BidRefusal::AlreadyLeading => ApiError::AlreadyLeading,
            BidRefusal::TooLow(m) => ApiError::BidTooLow(format!("bid too low: {m}")),
        })?;
        let reg = reg.ok_or_else(|| ApiError::internal("accepted bid without registration"))?;
        let bidder_no = match aq::bidder_no(conn, &l.id, &reg.id)? {
            Some(n) => n,
            None => aq::max_bidder_no(conn, &l.id)? + 1,
        };
        let bid = Bid {
            id: uuid::Uuid::now_v7().to_string(),
            listing_id: l.id.clone(),
            registration_id: reg.id.clone(),
            seq: l.bid_count + 1,
            bidder_no,
            amount_fen: accepted.price_fen,
            priority: accepted.priority,
            placed_at: now.naive_utc(),
            extended_to: accepted
                .extended
                .then(|| accepted.current_ends_at.naive_utc()),
        };
        aq::insert_bid(conn, &bid)?;
        l.current_price_fen = Some(accepted.price_fen);
        l.leading_registration_id = Some(reg.id.clone());
        l.current_ends_at = Some(accepted.current_ends_at.naive_utc());
        l.bid_count += 1;
        l.updated_at = now.naive_utc();
        q::save_listing(conn, &l)?;
        audit::append(
            conn,
            &Entry {
                stream: &listing_stream(&l.id),
                actor_id: Some(investor_id),
                actor_role: Some("investor"),
                action: if accepted.priority {
                    "bid.placed_priority"
                } else {
                    "bid.placed"
                },
                entity_type: "bid",
                entity_id: &bid.id,
                from_state: None,
                to_state: Some("accepted"),
                reason: Some(&format!("{} fen/mu/year", bid.amount_fen)),
            },
            now,
        )?;
        Ok(PlacedBid {
            bid,
            listing: l,
            extended: accepted.extended,
        })
    })
}

// ---- deals ---------------------------------------------------------------------------------

/// Who is confirming a deal.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DealParty {
    Winner,
    Collective,
}

/// Records a party's confirmation; both → `confirmed`, and the runner-up's deposit is released.
pub fn confirm_deal(
    conn: &mut DbConn,
    deal_id: &str,
    party: DealParty,
    actor: Actor<'_>,
    now: DateTime<Utc>,
    rules: &Rules,
) -> Result<Deal, ApiError> {
    write_tx(conn, |conn| {
        let d = aq::find_deal(conn, deal_id)?.ok_or(ApiError::NotFound)?;
        let mut l = q::find_listing_for_update(conn, &d.listing_id)?.ok_or(ApiError::NotFound)?;
        settle_locked(conn, &mut l, now, rules)?;
        let mut d = aq::find_deal(conn, deal_id)?.ok_or(ApiError::NotFound)?;
        if !d.status.is_open() {
            return Err(ApiError::InvalidState(format!("the deal is {}", d.status)));
        }
        match party {
            DealParty::Winner if d.winner_confirmed_at.is_none() => {
                d.winner_confirmed_at = Some(now.naive_utc())
            }
            DealParty::Collective if d.collective_confirmed_at.is_none() => {
                d.collective_confirmed_at = Some(now.naive_utc())
            }
            _ => return Ok(d),
        }
        let both = d.winner_confirmed_at.is_some() && d.collective_confirmed_at.is_some();
        if both {
            d.status = DealStatus::Confirmed;
        }
        d.updated_at = now.naive_utc();
        aq::save_deal(conn, &d)?;
        audit::append(
            conn,
            &Entry {
                stream: &listing_stream(&l.id),
                actor_id: actor.id,
                actor_role: actor.role,
                action: if party == DealParty::Winner {
                    "deal.winner_confirmed"
                } else {
                    "deal.collective_confirmed"
                },
                entity_type: "deal",
                entity_id: &d.id,
                from_state: Some("pending_confirmation"),
                to_state: Some(d.status.as_str()),
                reason: None,
            },
            now,
        )?;
        if both {
            // The runner-up's offer is no longer needed.
            for mut r in rq::for_listing(conn, &l.id)? {
                if r.id != d.registration_id && r.deposit_status == DepositStatus::Confirmed {
                    deposits::move_deposit(
                        conn,
                        &mut r,
                        DepositEvent::Release,
                        actor,
                        Some("deal confirmed by the winner"),
                        now,
                    )?;
                }
            }
            notify_parties(
                conn,
                &l,
                "成交已确认 Deal confirmed",
                &format!(
                    "成交（{}）已由双方确认，进入合同签订与鉴证。",
                    d.confirmation_no
                ),
                now,
            )?;
            let winner = rq::find(conn, &d.registration_id)?
                .ok_or_else(|| ApiError::internal("winner vanished"))?;
            deposits::mail_investor(
                conn,
                &winner,
                "成交已确认 Deal confirmed",
                &format!(
                    "成交（{}）已由双方确认。The deal is confirmed.",
                    d.confirmation_no
                ),
                now,
            )?;
        }
        Ok(d)
    })
}

/// The offer holder declines: deposit forfeited (round 1), runner-up offered or listing failed.
pub fn decline_deal(
    conn: &mut DbConn,
    deal_id: &str,
    actor: Actor<'_>,
    now: DateTime<Utc>,
    rules: &Rules,
) -> Result<Deal, ApiError> {
    write_tx(conn, |conn| {
        let d = aq::find_deal(conn, deal_id)?.ok_or(ApiError::NotFound)?;
        let mut l = q::find_listing_for_update(conn, &d.listing_id)?.ok_or(ApiError::NotFound)?;
        settle_locked(conn, &mut l, now, rules)?;
        let d = aq::find_deal(conn, deal_id)?.ok_or(ApiError::NotFound)?;
        if !d.status.is_open() || d.winner_confirmed_at.is_some() {
            return Err(ApiError::InvalidState(
                "this offer can no longer be declined".into(),
            ));
        }
        let id = d.id.clone();
        fall_through(
            conn,
            &mut l,
            d,
            actor,
            "declined by the winner",
            now,
            now,
            rules,
        )?;
        aq::find_deal(conn, &id)?.ok_or(ApiError::NotFound)
    })
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
