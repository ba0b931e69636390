//! The auction (网络竞价) and deals (成交): bids, the public bid history, the live feed and
//! deal confirmation.

use std::time::{Duration, Instant};

use actix_web::http::Method;
use actix_web::{web, HttpRequest, HttpResponse};
use chrono::{DateTime, NaiveDateTime, Utc};
use serde::{Deserialize, Serialize};
use tokio::sync::broadcast::error::RecvError;
use utoipa::{IntoParams, ToSchema};

use super::extract::{MaybeCaller, SignedToken};
use super::{parse_body, parse_empty, parse_id, Routes};
use crate::app::trading::{self, DealView};
use crate::auth::Caller;
use crate::db;
use crate::db::models::{Bid, Listing};
use crate::domain::listing::ListingStatus;
use crate::domain::registration::{mask_person_name, IdType};
use crate::error::ApiError;
use crate::live_feed;
use crate::state::AppState;

pub fn routes(r: &mut Routes) {
    r.add(Method::POST, "/api/v1/listings/{id}/bids", place_bid)
        .add(Method::GET, "/api/v1/listings/{id}/bids", list_bids)
        .add(
            Method::GET,
            "/api/v1/listings/{id}/events",
            stream_listing_events,
        )
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
    token: SignedToken,
    id: web::Path<String>,
    body: web::Bytes,
) -> Result<HttpResponse, ApiError> {
    let listing_id = parse_id(&id)?;
    let ctx = state.ctx(None);
    // The hot path: the account check, the rules and the bid on one connection in one trip to
    // the blocking pool (on PostgreSQL the account comes with the listing's lock), in the order
    // of the other routes (401, 403, 422, then the auction's own checks; visibility inside the
    // bid's transaction, on the locked row).
    let placed = db::run(&state.pool, move |conn| {
        let amount = || parse_body::<BidBody>(&body).map(|b| b.amount_fen);
        trading::place_signed_bid(ctx, conn, &token.0, &listing_id, amount)
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
    let anonymous = caller.0.is_none();
    let ctx = state.ctx(caller.0);
    let list = state
        .public_read(anonymous, move |conn| {
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

/// One client's live feed. It follows its listing's shared poller on this instance
/// ([`crate::live_feed`]) and reads the database itself only on connect and when it can't
/// follow: more bids than one read returns, a gap in what it was handed (it joined after
/// them), or a buffer it fell behind (a slow client). Bids go out in acceptance order, each
/// once: what the stream hands it again is skipped by `last_seq`.
struct Feed {
    _slot: FeedSlot,
    /// The server ends the feed then (`server.feed_max_lifetime_secs`).
    deadline: Instant,
    state: web::Data<AppState>,
    listing_id: String,
    last_seq: i64,
    /// The auction's end after bid `last_seq`.
    ends: Option<NaiveDateTime>,
    closed_sent: bool,
    /// Read the database before following the shared stream again.
    behind: bool,
    /// The last read of the database failed: wait a tick before the next.
    failed: bool,
    /// The listing's shared stream (`None` after a close found on connect, or when its poller
    /// went away).
    updates: Option<live_feed::Subscription>,
    /// What the first read found, sent first.
    first: Option<String>,
    /// When something was last sent: a keep-alive comment follows [`KEEP_ALIVE`] of silence.
    last_sent: Instant,
}

/// Silence after which a feed sends a keep-alive comment.
const KEEP_ALIVE: Duration = Duration::from_secs(15);

fn sse(event: &str, id: Option<&str>, data: &serde_json::Value) -> String {
    let mut s = String::new();
    if let Some(id) = id {
        s.push_str(&format!("id: {id}\n"));
    }
    s.push_str(&format!("event: {event}\ndata: {data}\n\n"));
    s
}

/// The `bid` event of `b` (and its `extended`); `ends`, the auction's end before it, becomes
/// the end after it.
fn bid_event(b: &Bid, ends: &mut Option<NaiveDateTime>) -> String {
    if b.extended_to.is_some() {
        *ends = b.extended_to;
    }
    let data = serde_json::json!({
        "amount_fen": b.amount_fen,
        "bidder_alias": alias(b.bidder_no),
        "placed_at": b.placed_at.and_utc(),
        "priority": b.priority,
        "current_price_fen": b.amount_fen,
        "current_ends_at": ends.map(|t| t.and_utc()),
    });
    let mut text = sse("bid", Some(&b.seq.to_string()), &data);
    if let Some(t) = b.extended_to {
        text.push_str(&sse(
            "extended",
            None,
            &serde_json::json!({"current_ends_at": t.and_utc()}),
        ));
    }
    text
}

impl Feed {
    /// The next chunk of the stream; `None` ends it (after the close, or at its lifetime's
    /// end: the client reconnects with `Last-Event-ID`).
    async fn next_chunk(&mut self) -> Option<String> {
        if let Some(first) = self.first.take() {
            return Some(self.sent(first));
        }
        if self.closed_sent || Instant::now() >= self.deadline {
            return None;
        }
        let mut out = String::new();
        if self.updates.is_none() {
            // Its poller went away (stopped with its runtime): follow a new one, and read what
            // may have gone by in between from the database.
            self.follow(&mut out);
            self.behind = true;
        }
        if self.behind {
            if self.failed {
                actix_web::rt::time::sleep(live_feed::POLL_EVERY).await;
            }
            self.catch_up(&mut out).await;
        } else {
            let wake = self.deadline.min(self.last_sent + KEEP_ALIVE);
            let updates = &mut self.updates.as_mut()?.updates;
            match tokio::time::timeout_at(wake.into(), updates.recv()).await {
                Ok(Ok(live_feed::Update::Polled(tick))) => self.write_tick(&tick, &mut out),
                Ok(Ok(live_feed::Update::Unavailable)) => {
                    out.push_str(": database unavailable, retrying\n\n")
                }
                // It fell behind the buffer, or the poller went away: the database has it all.
                Ok(Err(RecvError::Lagged(_))) => self.behind = true,
                Ok(Err(RecvError::Closed)) => self.updates = None,
                Err(_) if Instant::now() >= self.deadline => return None,
                Err(_) => out.push_str(": keep-alive\n\n"),
            }
        }
        Some(self.sent(out))
    }

    fn sent(&mut self, out: String) -> String {
        if !out.is_empty() {
            self.last_sent = Instant::now();
        }
        out
    }

    /// Follows the listing's poller, starting with what it handed out last: that tells
    /// whether bids went by between this feed's last read and now.
    fn follow(&mut self, out: &mut String) {
        let sub = self.state.live_feed.subscribe(&self.listing_id);
        if let Some(tick) = sub.latest.clone() {
            self.write_tick(&tick, out);
        }
        self.updates = Some(sub);
    }

    /// One read of the database after `last_seq`.
    async fn catch_up(&mut self, out: &mut String) {
        let ctx = self.state.ctx(None);
        let (lid, last, ends) = (self.listing_id.clone(), self.last_seq, self.ends);
        let read = db::run(&self.state.pool, move |conn| {
            trading::poll_feed(&ctx, conn, &lid, last, ends)
        })
        .await;
        self.state.metrics.feed_caught_up();
        match read {
            Ok(read) => {
                self.failed = false;
                self.write_read(read, out);
            }
            Err(_) => {
                self.failed = true;
                out.push_str(": database unavailable, retrying\n\n");
            }
        }
    }

    /// What a read of the database found; still behind after a full page.
    fn write_read(&mut self, read: trading::FeedPoll, out: &mut String) {
        self.behind = read.bids.len() as i64 >= trading::FEED_PAGE;
        self.ends = read.ends;
        for b in &read.bids {
            self.write_bid(b, out);
        }
        if !self.behind {
            if let Some(l) = &read.listing {
                self.write_close(l, out);
            }
        }
    }

    /// What the poller handed out: the bids after `last_seq`, if they follow on from it
    /// (else the database fills the gap), then the close.
    fn write_tick(&mut self, tick: &live_feed::Tick, out: &mut String) {
        let (bids, complete) = tick.after(self.last_seq);
        let start = self.ends;
        // Every bid of the read: the text the first watcher wrote for them all, if it started
        // from the same end (always, but for a schedule that moved in between).
        let shared = (!bids.is_empty() && bids.len() == tick.bids.len())
            .then(|| {
                tick.rendered.get_or_init(|| {
                    let mut ends = start;
                    (
                        start,
                        bids.iter().map(|b| bid_event(b, &mut ends)).collect(),
                    )
                })
            })
            .filter(|(from, _)| *from == start);
        match shared {
            Some((_, text)) => {
                out.push_str(text);
                for b in bids {
                    self.last_seq = b.seq;
                    self.ends = b.extended_to.or(self.ends);
                }
            }
            None => {
                for b in bids {
                    self.write_bid(b, out);
                }
            }
        }
        if !complete {
            self.behind = true;
        } else if let Some(l) = &tick.listing {
            self.write_close(l, out);
        }
    }

    /// Bid `last_seq + 1` (with its extension).
    fn write_bid(&mut self, b: &Bid, out: &mut String) {
        self.last_seq = b.seq;
        out.push_str(&bid_event(b, &mut self.ends));
    }

    /// The close, once the listing is decided and every bid it counts was sent.
    fn write_close(&mut self, l: &Listing, out: &mut String) {
        let outcome = match l.status {
            ListingStatus::Failed | ListingStatus::Cancelled => Some(ListingStatus::Failed),
            ListingStatus::Awarded | ListingStatus::Contracted => Some(ListingStatus::Awarded),
            _ => None,
        };
        if let Some(outcome) = outcome.filter(|_| l.bid_count <= self.last_seq) {
            let awarded = outcome == ListingStatus::Awarded;
            let data = serde_json::json!({
                "outcome": outcome.as_str(),
                "winning_price_fen": l
                    .current_price_fen
                    .or(awarded.then_some(l.reserve_price_fen)),
            });
            out.push_str(&sse("closed", Some(&self.last_seq.to_string()), &data));
            self.closed_sent = true;
        }
    }
}

/// One Server-Sent Event of a listing's live feed, as an SSE parser reads it.
#[derive(Serialize, ToSchema)]
pub struct SseEvent {
    /// The bid's acceptance order (`bid`); `Last-Event-ID` resumes after it.
    pub id: Option<String>,
    /// `bid`, `extended` or `closed`.
    pub event: String,
    /// The event's JSON object, as text: a bid (`amount_fen`, `bidder_alias`, `placed_at`,
    /// `current_ends_at`, …), the new end, or the outcome (`outcome`, `winning_price_fen`).
    pub data: String,
}

/// Server-Sent Events for one listing: `bid`, `extended`, `closed`. Each bid event carries
/// `id: <n>` (its acceptance order) so a reconnecting client resumes with `Last-Event-ID`.
/// The feed reads the database, so it shows bids placed through any instance.
#[utoipa::path(get, path = "/api/v1/listings/{id}/events", tag = "auction",
    params(("id" = uuid::Uuid, Path, description = "listing id"),
        ("Last-Event-ID" = Option<String>, Header, description = "resume after this bid")),
    responses((status = 200, description = "text/event-stream: one `SseEvent` per event", content_type = "text/event-stream", body = SseEvent),
        (status = 429, description = "too many live feeds open from this client", body = crate::error::Problem)))]
pub async fn stream_listing_events(
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
    let read = db::run(&state.pool, move |conn| {
        trading::watch(&ctx, conn, &lid, last_seq)
    })
    .await?;
    state.metrics.feed_caught_up();
    let client = crate::auth::ratelimit::client_ip(
        req.peer_addr().map(|a| a.ip()),
        req.headers()
            .get("x-forwarded-for")
            .and_then(|v| v.to_str().ok()),
        &state.settings.server.trusted_proxies,
    );
    let lifetime = Duration::from_secs(state.settings.server.feed_max_lifetime_secs);
    let mut feed = Feed {
        _slot: FeedSlot::take(&state, client)?,
        deadline: Instant::now() + lifetime,
        state: state.clone(),
        listing_id,
        last_seq,
        ends: None,
        closed_sent: false,
        behind: false,
        failed: false,
        updates: None,
        first: None,
        last_sent: Instant::now(),
    };
    let mut first = String::new();
    feed.write_read(read, &mut first);
    if !feed.closed_sent {
        // From here on, the poller hands it every bid after the ones just read.
        feed.follow(&mut first);
    }
    feed.first = Some(first);
    let stream = futures_util::stream::unfold(feed, |mut f| async move {
        let chunk = f.next_chunk().await?;
        Some((Ok::<_, actix_web::Error>(web::Bytes::from(chunk)), f))
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
