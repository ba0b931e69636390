//! The auction (网络竞价) and deals (成交): bids, the public bid history, the live feed and
//! deal confirmation.

use std::time::Duration;

use actix_web::http::Method;
use actix_web::{web, HttpRequest, HttpResponse};
use chrono::{DateTime, NaiveDateTime, Utc};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use super::extract::MaybeCaller;
use super::{parse_body, parse_empty, parse_id, Routes};
use crate::app::trading::{self, DealView};
use crate::auth::Caller;
use crate::db;
use crate::db::models::Bid;
use crate::domain::listing::ListingStatus;
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
    let ctx = state.ctx(Some(caller));
    // Visibility is checked inside the bid's transaction, on the locked row.
    let placed = db::run(&state.pool, move |conn| {
        trading::place_bid(&ctx, conn, &listing_id, b.amount_fen)
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
    let ctx = state.ctx(caller.0);
    let list = db::run(&state.pool, move |conn| {
        trading::list_bids(&ctx, conn, &listing_id, before, limit)
    })
    .await?;
    let page = BidPage {
        items: list
            .bids
            .into_iter()
            .map(|b| bid_out(b, list.staff))
            .collect(),
        next_cursor: list.next_cursor,
    };
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

/// A live feed's place in the bounds (`server.feeds_per_client`, `server.feeds_total`), given
/// back when the feed ends or its client goes away.
struct FeedSlot {
    state: web::Data<AppState>,
    client: String,
}

impl FeedSlot {
    /// Takes a place for `client`: 429 `rate_limited` over the per-client bound, 503
    /// `unavailable` over the total.
    fn take(state: &web::Data<AppState>, client: String) -> Result<FeedSlot, ApiError> {
        let server = &state.settings.server;
        let mut open = state.feeds.lock().unwrap_or_else(|e| e.into_inner());
        if open.get(&client).copied().unwrap_or(0) >= server.feeds_per_client {
            return Err(ApiError::RateLimited {
                retry_after_secs: 30,
            });
        }
        if open.values().sum::<usize>() >= server.feeds_total {
            return Err(ApiError::Unavailable);
        }
        *open.entry(client.clone()).or_insert(0) += 1;
        Ok(FeedSlot {
            state: state.clone(),
            client,
        })
    }
}

impl Drop for FeedSlot {
    fn drop(&mut self) {
        let mut open = self.state.feeds.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(n) = open.get_mut(&self.client) {
            *n = n.saturating_sub(1);
            if *n == 0 {
                open.remove(&self.client);
            }
        }
    }
}

struct Feed {
    _slot: FeedSlot,
    /// The server ends the feed then (`server.feed_max_lifetime_secs`).
    deadline: std::time::Instant,
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
    let ctx = state.ctx(caller.0);
    let lid = listing_id.clone();
    db::run(&state.pool, move |conn| trading::watch(&ctx, conn, &lid)).await?;
    let client = crate::auth::ratelimit::client_ip(
        req.peer_addr().map(|a| a.ip()),
        req.headers()
            .get("x-forwarded-for")
            .and_then(|v| v.to_str().ok()),
        &state.settings.server.trusted_proxies,
    );
    let lifetime = Duration::from_secs(state.settings.server.feed_max_lifetime_secs);
    let feed = Feed {
        _slot: FeedSlot::take(&state, client)?,
        deadline: std::time::Instant::now() + lifetime,
        state: state.clone(),
        listing_id,
        last_seq,
        ends: None,
        closed_sent: false,
        first: true,
        idle: 0,
    };
    let stream = futures_util::stream::unfold(feed, |mut f| async move {
        // Closed, or at the end of its lifetime (the client reconnects with `Last-Event-ID`).
        if f.closed_sent || std::time::Instant::now() >= f.deadline {
            return None;
        }
        if !f.first {
            actix_web::rt::time::sleep(Duration::from_millis(500)).await;
        }
        f.first = false;
        let ctx = f.state.ctx(None);
        let (lid, last, ends) = (f.listing_id.clone(), f.last_seq, f.ends);
        let polled = db::run(&f.state.pool, move |conn| {
            trading::poll_feed(&ctx, conn, &lid, last, ends)
        })
        .await;
        let mut out = String::new();
        match polled {
            Ok(trading::FeedPoll {
                bids,
                listing,
                ends,
            }) => {
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
                    let outcome = match l.status {
                        ListingStatus::Failed | ListingStatus::Cancelled => {
                            Some(ListingStatus::Failed)
                        }
                        ListingStatus::Awarded | ListingStatus::Contracted => {
                            Some(ListingStatus::Awarded)
                        }
                        _ => None,
                    };
                    if let Some(outcome) = outcome.filter(|_| l.bid_count <= f.last_seq) {
                        let awarded = outcome == ListingStatus::Awarded;
                        let data = serde_json::json!({
                            "outcome": outcome.as_str(),
                            "winning_price_fen": l
                                .current_price_fen
                                .or(awarded.then_some(l.reserve_price_fen)),
                        });
                        out.push_str(&sse("closed", Some(&f.last_seq.to_string()), &data));
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
    /// The contract (流转合同) created when the deal was confirmed; null until then.
    pub contract_id: Option<String>,
    /// Parties only (the winner, the owner collective, the township's staff, admins).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub registration_id: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub winner_id_number_masked: Option<String>,
}

impl From<DealView> for DealOut {
    fn from(v: DealView) -> Self {
        let DealView {
            deal: d,
            holder: r,
            party,
            contract_id,
        } = v;
        let company = r.id_type == IdType::UnifiedSocialCreditCode;
        DealOut {
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
            contract_id,
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
        }
    }
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
    let ctx = state.ctx(caller.0);
    let view = db::run(&state.pool, move |conn| {
        trading::get_deal(&ctx, conn, &listing_id)
    })
    .await?;
    let out = DealOut::from(view);
    Ok(HttpResponse::Ok().json(out))
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
    let ctx = state.ctx(Some(caller));
    // The body is judged after the caller's right to act (404 → 403 → 400/422 → 409).
    let valid_body = parse_empty(&body);
    let view = db::run(&state.pool, move |conn| {
        trading::confirm_deal(&ctx, conn, &deal_id, valid_body)
    })
    .await?;
    let out = DealOut::from(view);
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
    let ctx = state.ctx(Some(caller));
    // The body is judged after the caller's right to act (404 → 403 → 400/422 → 409).
    let valid_body = parse_empty(&body);
    let view = db::run(&state.pool, move |conn| {
        trading::decline_deal(&ctx, conn, &deal_id, valid_body)
    })
    .await?;
    let out = DealOut::from(view);
    Ok(HttpResponse::Ok().json(out))
}
