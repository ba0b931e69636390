//! Deals (成交): creating an offer, its time-out (staff reminder or fall-through), the
//! runner-up fallback, and the parties' reads and actions (get, confirm, decline).

use chrono::{DateTime, Duration, Utc};

use super::settle::{settle_for_read, settle_locked};
use super::{notify_parties, save, standings, transition};
use crate::app::audit::audit_listing;
use crate::app::deposits::notify_investor;
use crate::app::{deposits, Ctx};
use crate::audit::{self, listing_stream, Actor, Entry};
use crate::config::Rules;
use crate::db::auction::{self as aq, DealTerms};
use crate::db::listings as q;
use crate::db::models::{Deal, Listing, Registration};
use crate::db::registrations as rq;
use crate::db::{queries, write_tx, DbConn};
use crate::domain::access::{listing_visible, Caller};
use crate::domain::deal::DealEvent;
use crate::domain::listing::ListingEvent;
use crate::domain::money::annual_rent_fen;
use crate::domain::numbering::{deal_counter, deal_no, shanghai_year};
use crate::domain::registration::{DepositEvent, DepositStatus};
use crate::domain::roles::Role;
use crate::error::ApiError;
use crate::notify::{self, templates::trading as mail};

/// Who is confirming a deal.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DealParty {
    Winner,
    Collective,
}

/// A deal with the registration holding it, and whether the caller is one of its parties
/// (who see the full record).
#[derive(Debug, Clone)]
pub struct DealView {
    pub deal: Deal,
    pub holder: Registration,
    pub party: bool,
    /// The contract, once the deal is confirmed.
    pub contract_id: Option<String>,
}

/// An offer to make: to whom, in which round, at what price.
pub(super) struct Offer<'a> {
    pub holder: &'a Registration,
    pub round: i64,
    pub negotiated: bool,
    pub price_fen: i64,
    pub bidder_no: i64,
    /// When the offer was won (auction end, registration close, or the fall-through).
    pub at: DateTime<Utc>,
}

/// Records a new deal offer with the next confirmation number of the township's year.
pub(super) fn create_deal(
    conn: &mut DbConn,
    l: &Listing,
    o: Offer<'_>,
    now: DateTime<Utc>,
    rules: &Rules,
) -> Result<Deal, ApiError> {
    let township = queries::find_township(conn, &l.township_id)?
        .ok_or_else(|| ApiError::internal("township vanished"))?;
    let year = shanghai_year(o.at);
    let seq = q::next_counter(conn, &deal_counter(&township.id, year))?;
    let d = Deal::offer(
        DealTerms {
            listing_id: l.id.clone(),
            registration_id: o.holder.id.clone(),
            round: o.round,
            negotiated: o.negotiated,
            confirmation_no: deal_no(&township.code, year, seq),
            bidder_no: o.bidder_no,
            price_fen: o.price_fen,
            annual_rent_fen: annual_rent_fen(o.price_fen, l.total_area_centimu)
                .ok_or_else(|| ApiError::internal("rent overflow"))?,
            awarded_at: o.at,
            confirm_by: o.at + Duration::days(rules.deal_confirm_days),
            publicity_ends_at: o.at + Duration::days(rules.publicity_days),
        },
        now,
    );
    aq::insert_deal(conn, &d)?;
    audit::append(
        conn,
        &Entry {
            stream: &listing_stream(&l.id),
            action: "deal.created",
            entity_type: "deal",
            entity_id: &d.id,
            to_state: Some(d.status.as_str()),
            reason: Some(&format!("round {}, {} fen/mu/year", o.round, o.price_fen)),
            ..Default::default()
        },
        now,
    )?;
    Ok(d)
}

/// `confirm_by` passed: the holder never confirmed → fall-through; the collective hasn't →
/// the township's staff are reminded, once.
pub(super) fn deal_timeout(
    conn: &mut DbConn,
    l: &mut Listing,
    mut d: Deal,
    now: DateTime<Utc>,
    rules: &Rules,
) -> Result<(), ApiError> {
    if d.winner_confirmed_at.is_none() {
        let at = d.confirm_by.and_utc();
        let why = FallThrough {
            actor: Actor::SYSTEM,
            reason: "not confirmed by confirm_by",
            at,
        };
        return fall_through(conn, l, d, why, now, rules);
    }
    d.staff_reminded_at = Some(now.naive_utc());
    d.updated_at = now.naive_utc();
    aq::save_deal(conn, &d)?;
    for u in queries::org_members(conn, Role::Staff.as_str(), None, Some(&l.township_id))? {
        let reminder = mail::CollectiveNotConfirmed {
            name: u.display_name,
            title: l.title.clone(),
            confirmation_no: d.confirmation_no.clone(),
        };
        notify::send(conn, &u.email, &reminder, now)?;
    }
    Ok(())
}

/// Who ended an offer, why and when.
struct FallThrough<'a> {
    actor: Actor<'a>,
    reason: &'a str,
    at: DateTime<Utc>,
}

/// The offer holder declined or timed out: round 1 forfeits its deposit and the runner-up is
/// offered a deal at its own best bid; round 2 (or a negotiated deal) ends in `failed`.
fn fall_through(
    conn: &mut DbConn,
    l: &mut Listing,
    mut d: Deal,
    why: FallThrough<'_>,
    now: DateTime<Utc>,
    rules: &Rules,
) -> Result<(), ApiError> {
    let FallThrough { actor, reason, at } = why;
    let from = d.status;
    d.status = from
        .next(DealEvent::FallThrough)
        .ok_or_else(|| ApiError::internal(format!("a {from} deal cannot fall through")))?;
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
            from_state: Some(from.as_str()),
            to_state: Some(d.status.as_str()),
            reason: Some(reason),
            amount_fen: None,
        },
        now,
    )?;
    let mut holder = rq::find(conn, &d.registration_id)?
        .ok_or_else(|| ApiError::internal("deal holder vanished"))?;
    // Round 1 forfeits; the runner-up (round 2) never won, so its deposit is simply returned.
    let deposit_event = if d.round == 1 {
        DepositEvent::Forfeit
    } else {
        DepositEvent::Release
    };
    deposits::move_deposit(conn, &mut holder, deposit_event, actor, Some(reason), now)?;
    let runner_up = if d.round == 1 && !d.negotiated {
        let bids = aq::all_bids(conn, &l.id)?;
        standings(&bids)
            .into_iter()
            .find(|s| s.registration_id != holder.id)
    } else {
        None
    };
    match runner_up {
        Some(s) => {
            let r = rq::find(conn, &s.registration_id)?
                .ok_or_else(|| ApiError::internal("runner-up vanished"))?;
            let bidder_no = aq::bidder_no(conn, &l.id, &r.id)?.unwrap_or(2);
            let offer = Offer {
                holder: &r,
                round: 2,
                negotiated: false,
                price_fen: s.amount_fen,
                bidder_no,
                at,
            };
            let nd = create_deal(conn, l, offer, now, rules)?;
            let offer_mail = mail::RunnerUpOffer {
                name: r.legal_name.clone(),
                price_fen: s.amount_fen,
                confirmation_no: nd.confirmation_no.clone(),
                confirm_by: nd.confirm_by.and_utc(),
            };
            notify_investor(conn, &r, &offer_mail, now)?;
            notify_parties(
                conn,
                l,
                |party| mail::RunnerUpOffered {
                    party,
                    confirmation_no: nd.confirmation_no.clone(),
                },
                now,
            )
        }
        None => {
            let from = transition(l, ListingEvent::DealFellThrough)?;
            save(conn, l, now)?;
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
            notify_parties(
                conn,
                l,
                |party| mail::ListingFailed {
                    party,
                    cause: mail::FailCause::DealFellThrough,
                },
                now,
            )
        }
    }
}

/// The deal with its holder's registration.
fn view(conn: &mut DbConn, deal: Deal, party: bool) -> Result<DealView, ApiError> {
    let holder = rq::find(conn, &deal.registration_id)?
        .ok_or_else(|| ApiError::internal("deal registration vanished"))?;
    let contract_id = crate::db::contracts::contract_of_deal(conn, &deal.id)?.map(|c| c.id);
    Ok(DealView {
        deal,
        holder,
        party,
        contract_id,
    })
}

/// The listing's newest deal (settling what is due first): 404 when the caller can't see the
/// listing or it has no deal.
pub fn get_deal(ctx: &Ctx, conn: &mut DbConn, listing_id: &str) -> Result<DealView, ApiError> {
    let l = settle_for_read(conn, listing_id, ctx.now, ctx.rules())?.ok_or(ApiError::NotFound)?;
    let caller = ctx.caller.as_ref();
    if !listing_visible(caller, l.status, &l.village_id, &l.township_id) {
        return Err(ApiError::NotFound);
    }
    let d = aq::newest_deal(conn, &l.id)?.ok_or(ApiError::NotFound)?;
    let mut v = view(conn, d, false)?;
    v.party = caller.is_some_and(|c| {
        c.oversees_township(&l.township_id)
            || c.is_collective_of(&l.village_id)
            || (c.is(Role::Investor) && v.holder.investor_id == c.id)
    });
    Ok(v)
}

/// Who the caller is to this deal: the offer holder, the owner collective, or nobody who may
/// act (the caller may see the deal: the 403 is the caller's to give). 404 if it may not see it.
fn deal_role(
    conn: &mut DbConn,
    caller: &Caller,
    deal_id: &str,
) -> Result<Option<DealParty>, ApiError> {
    let d = aq::find_deal(conn, deal_id)?.ok_or(ApiError::NotFound)?;
    let l = q::find_listing(conn, &d.listing_id)?.ok_or(ApiError::NotFound)?;
    if !listing_visible(Some(caller), l.status, &l.village_id, &l.township_id) {
        return Err(ApiError::NotFound);
    }
    let holder = rq::find(conn, &d.registration_id)?.is_some_and(|r| r.investor_id == caller.id);
    Ok(if caller.is(Role::Investor) && holder {
        Some(DealParty::Winner)
    } else if caller.is_collective_of(&l.village_id) {
        Some(DealParty::Collective)
    } else {
        None
    })
}

/// A party (the winning investor or the owner collective) confirms; both → `confirmed`, and
/// the runner-up's deposit is released. Checks: 404 not visible → 403 not a party →
/// `valid_body` (the request body's verdict) → 409 not pending.
pub fn confirm_deal(
    ctx: &Ctx,
    conn: &mut DbConn,
    deal_id: &str,
    valid_body: Result<(), ApiError>,
) -> Result<DealView, ApiError> {
    let caller = ctx.caller()?;
    let party = deal_role(conn, caller, deal_id)?.ok_or_else(|| {
        ApiError::Forbidden("only the winner and the owner collective confirm a deal".into())
    })?;
    valid_body?;
    let (actor, now, rules) = (ctx.actor(), ctx.now, ctx.rules());
    let d = write_tx(conn, |conn| {
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
        let from = d.status;
        let both = d.winner_confirmed_at.is_some() && d.collective_confirmed_at.is_some();
        if both {
            d.status = from
                .next(DealEvent::BothConfirmed)
                .ok_or_else(|| ApiError::internal(format!("a {from} deal cannot be confirmed")))?;
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
                from_state: Some(from.as_str()),
                to_state: Some(d.status.as_str()),
                reason: None,
                amount_fen: None,
            },
            now,
        )?;
        if party == DealParty::Winner {
            release_others(conn, &l, &d, actor, now)?;
        }
        if both {
            deal_confirmed(conn, &l, &d, actor, now, rules)?;
        }
        Ok(d)
    })?;
    view(conn, d, true)
}

/// The winner confirmed: the runner-up (and anyone else still holding a confirmed deposit)
/// will not be offered the deal, so their deposits become `refund_due` at once.
fn release_others(
    conn: &mut DbConn,
    l: &Listing,
    d: &Deal,
    actor: Actor<'_>,
    now: DateTime<Utc>,
) -> Result<(), ApiError> {
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
    Ok(())
}

/// Both parties confirmed: the contract is created (draft, frozen from the deal); everyone
/// is told.
fn deal_confirmed(
    conn: &mut DbConn,
    l: &Listing,
    d: &Deal,
    actor: Actor<'_>,
    now: DateTime<Utc>,
    rules: &Rules,
) -> Result<(), ApiError> {
    let winner =
        rq::find(conn, &d.registration_id)?.ok_or_else(|| ApiError::internal("winner vanished"))?;
    crate::app::contracts::create_for_deal(conn, l, d, &winner, actor, now, rules)?;
    notify_parties(
        conn,
        l,
        |party| mail::DealConfirmed {
            party,
            confirmation_no: d.confirmation_no.clone(),
        },
        now,
    )?;
    let confirmed = mail::WinnerDealConfirmed {
        name: winner.legal_name.clone(),
        confirmation_no: d.confirmation_no.clone(),
    };
    notify_investor(conn, &winner, &confirmed, now)
}

/// The offer holder declines: deposit forfeited (round 1), runner-up offered or listing
/// failed. Checks: 404 not visible → 403 not the holder → `valid_body` → 409 not pending.
pub fn decline_deal(
    ctx: &Ctx,
    conn: &mut DbConn,
    deal_id: &str,
    valid_body: Result<(), ApiError>,
) -> Result<DealView, ApiError> {
    let caller = ctx.caller()?;
    if deal_role(conn, caller, deal_id)? != Some(DealParty::Winner) {
        return Err(ApiError::Forbidden(
            "only the winning investor may decline".into(),
        ));
    }
    valid_body?;
    let (actor, now, rules) = (ctx.actor(), ctx.now, ctx.rules());
    let d = write_tx(conn, |conn| {
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
        let why = FallThrough {
            actor,
            reason: "declined by the winner",
            at: now,
        };
        fall_through(conn, &mut l, d, why, now, rules)?;
        aq::find_deal(conn, &id)?.ok_or(ApiError::NotFound)
    })?;
    view(conn, d, true)
}
