//! The auction (网络竞价) and deals (成交): bids, the public bid history, the live feed and
//! deal confirmation.

use std::time::Duration;

use actix_web::http::Method;
use actix_web::{web, HttpRequest, HttpResponse};
use chrono::{DateTime, NaiveDateTime, Utc};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use super::{parse_body, parse_id, Routes};
use crate::app::trading::{self, settle, DealParty};
use crate::audit::Actor;
use crate::auth::{listing_visible, Caller, MaybeCaller};
use crate::db::auction as aq;
use crate::db::listings as lq;
use crate::db::models::{Bid, Deal, Listing};
use crate::db::registrations as rq;
use crate::db::{self, DbConn};
use crate::domain::registration::{mask_person_name, IdType};
use crate::domain::roles::Role;
use crate::error::ApiError;
use crate::state::AppState;

pub fn routes(r: &mut Routes) {
    r.add(Method::POST, "/api/v1/listings/{id}/bids", place_bid)
        .add(Method::GET, "/api/v1/listings/{id}/bids", list_bids)
        .add(Method::GET, "/api/v1/listings/{id}/events", events)
        .add(Method::GET, "/api/v1/listings/{id}/deal", get_deal)
        .add(Method::POST, "/api/v1/deals/{id}/confirm", confirm_deal)
        .add(Method::POST, "/api/v1/deals/{id}/decline", decline_deal);
}

pub fn alias(bidder_no: i64) -> String {
    format!("竞买人 {bidder_no}")
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct BidBody {
    /// Fen per mu per year: the reserve plus a whole number of increments.
    pub amount_fen: i64,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct PlacedBidOut {
    pub id: String,
    pub listing_id: String,
    pub amount_fen: i64,
    /// `竞买人 n`, stable per listing.
    pub bidder_alias: String,
    pub placed_at: DateTime<Utc>,
    pub is_leading: bool,
    /// A collective member's priority bid (优先权) matching the current price.
    pub priority: bool,
    pub current_price_fen: i64,
    pub current_ends_at: DateTime<Utc>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct BidOut {
    pub amount_fen: i64,
    pub bidder_alias: String,
    pub placed_at: DateTime<Utc>,
    pub priority: bool,
    /// Staff of the township and admins only.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub registration_id: Option<String>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct BidPage {
    pub items: Vec<BidOut>,
    pub next_cursor: Option<String>,
}

/// Place a bid (eligible investor). Checks in order: role (403), window (409
/// `auction_closed`), eligibility (403 `not_eligible`), leader (409 `already_leading`),
/// amount (422 `bid_too_low`).
#[utoipa::path(post, path = "/api/v1/listings/{id}/bids", tag = "auction", security(("bearer" = [])),
    params(("id" = uuid::Uuid, Path, description = "listing id"),
        ("Idempotency-Key" = Option<String>, Header, description = "retry-safe key (≤ 255 chars)")),
    request_body = BidBody,
    responses((status = 201, body = PlacedBidOut),
        (status = 409, description = "auction_closed or already_leading", body = crate::error::Problem)))]
pub async fn place_bid(
    state: web::Data<AppState>,
    caller: Caller,
    id: web::Path<String>,
    body: web::Bytes,
) -> Result<HttpResponse, ApiError> {
    let listing_id = parse_id(&id)?;
    caller.require(&[Role::Investor])?;
    let b: BidBody = parse_body(&body)?;
    let st = state.clone();
    let placed = db::run(&state.pool, move |conn| {
        // Visibility is checked inside the bid's transaction, on the locked row.
        trading::place_bid(
            conn,
            &listing_id,
            &caller.id,
            b.amount_fen,
            st.clock.as_ref(),
            &st.settings.rules,
        )
    })
    .await?;
    let l = &placed.listing;
    let out = PlacedBidOut {
        id: placed.bid.id.clone(),
        listing_id: l.id.clone(),
        amount_fen: placed.bid.amount_fen,
        bidder_alias: alias(placed.bid.bidder_no),
        placed_at: placed.bid.placed_at.and_utc(),
        is_leading: true,
        priority: placed.bid.priority,
        current_price_fen: l.current_price_fen.unwrap_or(placed.bid.amount_fen),
        current_ends_at: l.current_ends_at.unwrap_or(l.auction_ends_at).and_utc(),
    };
    Ok(super::created(
        format!("/api/v1/listings/{}/bids", l.id),
        &out,
    ))
}

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct BidListQuery {
    #[param(minimum = 1, maximum = 200)]
    pub limit: Option<i64>,
    /// The `next_cursor` of the previous page.
    #[param(pattern = r"^[0-9]{1,18}$")]
    pub cursor: Option<String>,
}

/// Bid history, newest first (public; staff and admins also get `registration_id`).
#[utoipa::path(get, path = "/api/v1/listings/{id}/bids", tag = "auction",
    params(("id" = uuid::Uuid, Path, description = "listing id"), BidListQuery),
    responses((status = 200, body = BidPage)))]
pub async fn list_bids(
    state: web::Data<AppState>,
    caller: MaybeCaller,
    id: web::Path<String>,
    qs: web::Query<BidListQuery>,
) -> Result<HttpResponse, ApiError> {
    let listing_id = parse_id(&id)?;
    let limit = qs.limit.unwrap_or(50);
    if !(1..=200).contains(&limit) {
        return Err(ApiError::field("limit", "must be between 1 and 200"));
    }
    let before = qs
        .cursor
        .as_deref()
        .map(|c| {
            c.parse::<i64>()
                .map_err(|_| ApiError::BadRequest("invalid cursor".into()))
        })
        .transpose()?;
    let now = state.clock.now();
    let rules = state.settings.rules.clone();
    let page = db::run(&state.pool, move |conn| {
        let l = settle(conn, &listing_id, now, &rules)?.ok_or(ApiError::NotFound)?;
        let caller = caller.0;
        if !listing_visible(caller.as_ref(), &l) {
            return Err(ApiError::NotFound);
        }
        let staff = caller
            .as_ref()
            .is_some_and(|c| c.oversees_township(&l.township_id));
        let mut rows = aq::list_bids(conn, &l.id, before, limit + 1)?;
        let more = rows.len() as i64 > limit;
        rows.truncate(limit as usize);
        let next_cursor = if more {
            rows.last().map(|b| b.seq.to_string())
        } else {
            None
        };
        Ok(BidPage {
            items: rows.into_iter().map(|b| bid_out(b, staff)).collect(),
            next_cursor,
        })
    })
    .await?;
    Ok(HttpResponse::Ok().json(page))
}

fn bid_out(b: Bid, staff: bool) -> BidOut {
    BidOut {
        amount_fen: b.amount_fen,
        bidder_alias: alias(b.bidder_no),
        placed_at: b.placed_at.and_utc(),
        priority: b.priority,
        registration_id: staff.then_some(b.registration_id),
    }
}

// ---- live feed -----------------------------------------------------------------------------

struct Feed {
    state: web::Data<AppState>,
    listing_id: String,
    last_seq: i64,
    /// The auction's end after bid `last_seq` (`None` until the first poll finds it).
    ends: Option<NaiveDateTime>,
    closed_sent: bool,
    first: bool,
    /// Polls since something was sent; a keep-alive comment goes out every 30 (15 s).
    idle: u32,
}

fn sse(event: &str, id: Option<&str>, data: &serde_json::Value) -> String {
    let mut s = String::new();
    if let Some(id) = id {
        s.push_str(&format!("id: {id}\n"));
    }
    s.push_str(&format!("event: {event}\ndata: {data}\n\n"));
    s
}

/// What one poll found: new bids, the listing, and the auction's end before the first of
/// those bids.
type Polled = (Vec<Bid>, Option<Listing>, Option<NaiveDateTime>);

/// One poll of the database: new bids (with their extensions) and the close.
fn poll(
    conn: &mut DbConn,
    f_listing: &str,
    last_seq: i64,
    ends: Option<NaiveDateTime>,
    now: DateTime<Utc>,
    rules: &crate::config::Rules,
) -> Result<Polled, ApiError> {
    let l = settle(conn, f_listing, now, rules)?;
    let bids = aq::bids_after(conn, f_listing, last_seq, 100)?;
    // Extensions only ever move the end later, so the end after bid n is the newest
    // extension up to n, else the scheduled end.
    let ends = match ends {
        Some(t) => Some(t),
        None => {
            aq::extended_to_at(conn, f_listing, last_seq)?.or(l.as_ref().map(|l| l.auction_ends_at))
        }
    };
    Ok((bids, l, ends))
}

/// Server-Sent Events for one listing: `bid`, `extended`, `closed`. Each bid event carries
/// `id: <n>` (its acceptance order) so a reconnecting client resumes with `Last-Event-ID`.
/// The feed reads the database, so it shows bids placed through any instance.
#[utoipa::path(get, path = "/api/v1/listings/{id}/events", tag = "auction",
    params(("id" = uuid::Uuid, Path, description = "listing id"),
        ("Last-Event-ID" = Option<String>, Header, description = "resume after this bid")),
    responses((status = 200, description = "text/event-stream", content_type = "text/event-stream", body = String)))]
pub async fn events(
    state: web::Data<AppState>,
    caller: MaybeCaller,
    req: HttpRequest,
    id: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let listing_id = parse_id(&id)?;
    let last_seq = req
        .headers()
        .get("last-event-id")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.trim().parse::<i64>().ok())
        .unwrap_or(0);
    let now = state.clock.now();
    let rules = state.settings.rules.clone();
    let lid = listing_id.clone();
    db::run(&state.pool, move |conn| {
        let l = settle(conn, &lid, now, &rules)?.ok_or(ApiError::NotFound)?;
        if !listing_visible(caller.0.as_ref(), &l) {
            return Err(ApiError::NotFound);
        }
        Ok(())
    })
    .await?;
    let feed = Feed {
        state: state.clone(),
        listing_id,
        last_seq,
        ends: None,
        closed_sent: false,
        first: true,
        idle: 0,
    };
    let stream = futures_util::stream::unfold(feed, |mut f| async move {
        if f.closed_sent {
            return None;
        }
        if !f.first {
            actix_web::rt::time::sleep(Duration::from_millis(500)).await;
        }
        f.first = false;
        let now = f.state.clock.now();
        let rules = f.state.settings.rules.clone();
        let (lid, last, ends) = (f.listing_id.clone(), f.last_seq, f.ends);
        let polled = db::run(&f.state.pool, move |conn| {
            poll(conn, &lid, last, ends, now, &rules)
        })
        .await;
        let mut out = String::new();
        match polled {
            Ok((bids, listing, ends)) => {
                f.ends = ends;
                for b in bids {
                    f.last_seq = b.seq;
                    if b.extended_to.is_some() {
                        f.ends = b.extended_to;
                    }
                    let data = serde_json::json!({
                        "amount_fen": b.amount_fen,
                        "bidder_alias": alias(b.bidder_no),
                        "placed_at": b.placed_at.and_utc(),
                        "priority": b.priority,
                        "current_price_fen": b.amount_fen,
                        "current_ends_at": f.ends.map(|t| t.and_utc()),
                    });
                    out.push_str(&sse("bid", Some(&b.seq.to_string()), &data));
                    if let Some(t) = b.extended_to {
                        out.push_str(&sse(
                            "extended",
                            None,
                            &serde_json::json!({"current_ends_at": t.and_utc()}),
                        ));
                    }
                }
                if let Some(l) = listing {
                    let done = matches!(
                        l.status.as_str(),
                        "awarded" | "failed" | "contracted" | "cancelled"
                    );
                    if done && l.bid_count <= f.last_seq {
                        let outcome = if matches!(
                            l.status,
                            crate::domain::listing::ListingStatus::Failed
                                | crate::domain::listing::ListingStatus::Cancelled
                        ) {
                            "failed"
                        } else {
                            "awarded"
                        };
                        out.push_str(&sse("closed", Some(&f.last_seq.to_string()), &serde_json::json!({"outcome": outcome, "winning_price_fen": l.current_price_fen.or((outcome == "awarded").then_some(l.reserve_price_fen))})));
                        f.closed_sent = true;
                    }
                }
            }
            Err(_) => out.push_str(": database unavailable, retrying\n\n"),
        }
        if out.is_empty() {
            f.idle += 1;
            if f.idle >= 30 {
                f.idle = 0;
                out.push_str(": keep-alive\n\n");
            }
        } else {
            f.idle = 0;
        }
        Some((Ok::<_, actix_web::Error>(web::Bytes::from(out)), f))
    });
    Ok(HttpResponse::Ok()
        .content_type("text/event-stream")
        .insert_header(("Cache-Control", "no-cache"))
        .insert_header(("X-Accel-Buffering", "no"))
        .streaming(stream))
}

// ---- deals ---------------------------------------------------------------------------------

#[derive(Debug, Serialize, ToSchema)]
pub struct DealOut {
    pub id: String,
    pub listing_id: String,
    /// 成交确认书编号 `DL-<township>-<year>-<seq4>`.
    pub confirmation_no: String,
    pub winner_alias: String,
    /// Company names in full; natural persons masked (`张*`) except to the parties.
    pub winner_name: String,
    /// Price per mu per year.
    pub price_fen: i64,
    pub annual_rent_fen: i64,
    /// `pending_confirmation`, `confirmed` or `fallen_through`.
    pub status: String,
    /// 1: the winner; 2: the runner-up's offer.
    pub round: i64,
    /// A negotiated deal (协议转让): one eligible bidder, at the reserve price.
    pub negotiated: bool,
    pub awarded_at: DateTime<Utc>,
    pub confirm_by: DateTime<Utc>,
    pub publicity_ends_at: DateTime<Utc>,
    pub winner_confirmed_at: Option<DateTime<Utc>>,
    pub collective_confirmed_at: Option<DateTime<Utc>>,
    /// Parties only (the winner, the owner collective, the township's staff, admins).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub registration_id: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub winner_id_number_masked: Option<String>,
}

fn deal_out(conn: &mut DbConn, d: Deal, party: bool) -> Result<DealOut, ApiError> {
    let r = rq::find(conn, &d.registration_id)?
        .ok_or_else(|| ApiError::internal("deal registration vanished"))?;
    let company = r.id_type == IdType::UnifiedSocialCreditCode;
    Ok(DealOut {
        winner_alias: alias(d.bidder_no),
        winner_name: if company || party {
            r.legal_name.clone()
        } else {
            mask_person_name(&r.legal_name)
        },
        awarded_at: d.awarded_at.and_utc(),
        confirm_by: d.confirm_by.and_utc(),
        publicity_ends_at: d.publicity_ends_at.and_utc(),
        winner_confirmed_at: d.winner_confirmed_at.map(|t| t.and_utc()),
        collective_confirmed_at: d.collective_confirmed_at.map(|t| t.and_utc()),
        registration_id: party.then(|| d.registration_id.clone()),
        winner_id_number_masked: party.then(|| r.id_number_masked.clone()),
        id: d.id,
        listing_id: d.listing_id,
        confirmation_no: d.confirmation_no,
        price_fen: d.price_fen,
        annual_rent_fen: d.annual_rent_fen,
        status: d.status.as_str().to_string(),
        round: d.round,
        negotiated: d.negotiated,
    })
}

fn is_party(
    conn: &mut DbConn,
    caller: Option<&Caller>,
    l: &Listing,
    d: &Deal,
) -> Result<bool, ApiError> {
    let Some(c) = caller else { return Ok(false) };
    if c.oversees_township(&l.township_id) || c.is_collective_of(&l.village_id) {
        return Ok(true);
    }
    Ok(c.is(Role::Investor)
        && rq::find(conn, &d.registration_id)?.is_some_and(|r| r.investor_id == c.id))
}

/// The listing's newest deal: a public summary; the parties see everything.
#[utoipa::path(get, path = "/api/v1/listings/{id}/deal", tag = "deals",
    params(("id" = uuid::Uuid, Path, description = "listing id")),
    responses((status = 200, body = DealOut)))]
pub async fn get_deal(
    state: web::Data<AppState>,
    caller: MaybeCaller,
    id: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let listing_id = parse_id(&id)?;
    let now = state.clock.now();
    let rules = state.settings.rules.clone();
    let out = db::run(&state.pool, move |conn| {
        let l = settle(conn, &listing_id, now, &rules)?.ok_or(ApiError::NotFound)?;
        if !listing_visible(caller.0.as_ref(), &l) {
            return Err(ApiError::NotFound);
        }
        let d = aq::newest_deal(conn, &l.id)?.ok_or(ApiError::NotFound)?;
        let party = is_party(conn, caller.0.as_ref(), &l, &d)?;
        deal_out(conn, d, party)
    })
    .await?;
    Ok(HttpResponse::Ok().json(out))
}

/// Who the caller is to this deal: the offer holder, the owner collective, or nobody who may
/// act (403 if it may see the deal, else 404).
fn deal_role(
    conn: &mut DbConn,
    caller: &Caller,
    deal_id: &str,
) -> Result<(Deal, Option<DealParty>), ApiError> {
    let d = aq::find_deal(conn, deal_id)?.ok_or(ApiError::NotFound)?;
    let l = lq::find_listing(conn, &d.listing_id)?.ok_or(ApiError::NotFound)?;
    if !listing_visible(Some(caller), &l) {
        return Err(ApiError::NotFound);
    }
    let holder = rq::find(conn, &d.registration_id)?.is_some_and(|r| r.investor_id == caller.id);
    let party = if caller.is(Role::Investor) && holder {
        Some(DealParty::Winner)
    } else if caller.is_collective_of(&l.village_id) {
        Some(DealParty::Collective)
    } else {
        None
    };
    Ok((d, party))
}

/// Confirm the deal (the winning investor or the owner collective); both → `confirmed`.
#[utoipa::path(post, path = "/api/v1/deals/{id}/confirm", tag = "deals", security(("bearer" = [])),
    params(("id" = uuid::Uuid, Path, description = "deal id")),
    responses((status = 200, body = DealOut), (status = 409, description = "deal not pending", body = crate::error::Problem)))]
pub async fn confirm_deal(
    state: web::Data<AppState>,
    caller: Caller,
    id: web::Path<String>,
    body: web::Bytes,
) -> Result<HttpResponse, ApiError> {
    let deal_id = parse_id(&id)?;
    let now = state.clock.now();
    let st = state.clone();
    let out = db::run(&state.pool, move |conn| {
        let (_, party) = deal_role(conn, &caller, &deal_id)?;
        let party = party.ok_or_else(|| {
            ApiError::Forbidden("only the winner and the owner collective confirm a deal".into())
        })?;
        super::parse_empty(&body)?;
        let actor = Actor::of(&caller);
        let d = trading::confirm_deal(conn, &deal_id, party, actor, now, &st.settings.rules)?;
        deal_out(conn, d, true)
    })
    .await?;
    Ok(HttpResponse::Ok().json(out))
}

/// Decline the deal (the winning investor): its deposit is forfeited and the runner-up is
/// offered a deal, or the listing fails.
#[utoipa::path(post, path = "/api/v1/deals/{id}/decline", tag = "deals", security(("bearer" = [])),
    params(("id" = uuid::Uuid, Path, description = "deal id")),
    responses((status = 200, body = DealOut), (status = 409, description = "deal not pending", body = crate::error::Problem)))]
pub async fn decline_deal(
    state: web::Data<AppState>,
    caller: Caller,
    id: web::Path<String>,
    body: web::Bytes,
) -> Result<HttpResponse, ApiError> {
    let deal_id = parse_id(&id)?;
    let now = state.clock.now();
    let st = state.clone();
    let out = db::run(&state.pool, move |conn| {
        let (_, party) = deal_role(conn, &caller, &deal_id)?;
        if party != Some(DealParty::Winner) {
            return Err(ApiError::Forbidden(
                "only the winning investor may decline".into(),
            ));
        }
        super::parse_empty(&body)?;
        let actor = Actor::of(&caller);
        let d = trading::decline_deal(conn, &deal_id, actor, now, &st.settings.rules)?;
        deal_out(conn, d, true)
    })
    .await?;
    Ok(HttpResponse::Ok().json(out))
}
