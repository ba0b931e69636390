//! Collusion signals (围标、串标): hints for the township's staff and admins, per listing and
//! per township, each with its evidence. Reading them changes nothing.

use actix_web::http::Method;
use actix_web::{web, HttpRequest, HttpResponse};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use super::{parse_id, PageQuery, Routes};
use crate::app;
use crate::app::signals::{SignalPage, SignalQuery};
use crate::auth::Caller;
use crate::db;
use crate::domain::signals::{Signal, SignalWindow};
use crate::error::ApiError;
use crate::state::AppState;

pub fn routes(r: &mut Routes) {
    r.add(
        Method::GET,
        "/api/v1/listings/{id}/signals",
        list_listing_signals,
    )
    .add(
        Method::GET,
        "/api/v1/townships/{id}/signals",
        list_township_signals,
    );
}

/// `?since=&until=&limit=&cursor=`
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct SignalsQuery {
    /// The window: listings whose registration closes at or after this time (RFC 3339).
    /// Default: 365 days ago.
    pub since: Option<DateTime<Utc>>,
    /// … and before this time (RFC 3339, after `since`, else 422). Default: no end.
    pub until: Option<DateTime<Utc>>,
    /// 1–200, default 50.
    #[param(minimum = 1, maximum = 200)]
    pub limit: Option<i64>,
    /// Cursor from the previous page's `next_cursor` (treat it as opaque).
    #[param(format = Uuid)]
    pub cursor: Option<String>,
}

/// The query string as the use case takes it, read only after its access checks (the
/// contract's order): 400 for a malformed string or cursor, 422 for a bad limit.
fn input(query_string: String) -> impl FnOnce() -> Result<SignalQuery, ApiError> {
    move || {
        let q = web::Query::<SignalsQuery>::from_query(&query_string)
            .map_err(|e| ApiError::BadRequest(format!("bad query string: {e}")))?
            .into_inner();
        let page = PageQuery {
            limit: q.limit,
            cursor: q.cursor,
        }
        .to_req()?;
        Ok(SignalQuery {
            since: q.since,
            until: q.until,
            page,
        })
    }
}

/// A page of signals, newest first.
#[derive(Debug, Serialize, ToSchema)]
pub struct SignalPageOut {
    pub items: Vec<Signal>,
    /// Pass as `cursor` to get the next page; null on the last page.
    pub next_cursor: Option<String>,
    /// The listings the signals were looked for in.
    pub window: SignalWindow,
}

impl From<SignalPage> for SignalPageOut {
    fn from(p: SignalPage) -> Self {
        SignalPageOut {
            items: p.items,
            next_cursor: p.next_cursor,
            window: p.window,
        }
    }
}

/// Collusion signals that name one listing (the township's staff, admins).
///
/// Signals (围标、串标 hints) are for a person to look into, **never a finding and never an
/// automatic action**: every pattern also has innocent explanations (one family farm behind
/// two accounts, relatives sharing a phone, two operators wanting the same kind of land, a bank
/// loan that fell through). They are computed when asked from the listings of the township
/// whose registration closes in the window (`since`/`until`, by default the last 365 days; at
/// most the 200 closing last, see `window.truncated`), plus this listing; this route returns
/// those whose evidence names this listing. Evidence shows registration ids, listing numbers,
/// account and legal names and masked ID numbers, never a phone or a full ID number.
///
/// Kinds (`kind`) and when each is raised:
/// - `shared_identity`: one legal person (the same ID number, compared by its keyed hash)
///   registered from ≥ 2 investor accounts. `high` when two of those accounts registered on
///   one listing (one person may be bidding against itself), else `medium`.
/// - `shared_phone`: registrations of ≥ 2 different legal persons gave the same contact phone
///   (compared by a keyed hash of its digits). `high` when two of them did so on one listing,
///   else `medium`.
/// - `recurring_bidder_pair`: two legal persons were both eligible bidders (qualified, deposit
///   confirmed) on ≥ 3 listings. `high` from 6, else `medium`.
/// - `low_win_few_bidders` (per listing): the winning (round-1) price is the reserve or one
///   increment above it, with ≤ 2 eligible bidders or ≤ 2 of them bidding. `high` at the
///   reserve, `medium` one increment above, `low` for a negotiated deal (one eligible bidder).
/// - `cover_bidding` (陪标, per listing): an auction was held (closed with ≥ 2 eligible
///   bidders) and eligible bidders never bid. By the most held auctions of the window one of
///   them stayed silent in: 1 `low`, 2 `medium`, ≥ 3 `high`.
/// - `rotation_decline` (per listing): the winner declined or let `confirm_by` pass, and the
///   runner-up offered the deal did the same. `high` when the listing was then relisted,
///   else `medium`.
///
/// Township-wide kinds have `listing_id` null; `listing_ids` names every listing of the
/// evidence. Staff of another township get 404; collectives, investors and insurers 403 on a
/// listing they may see (404 on one they may not).
#[utoipa::path(get, path = "/api/v1/listings/{id}/signals", tag = "signals", security(("bearer" = [])),
    params(("id" = uuid::Uuid, Path, description = "listing id"), SignalsQuery),
    responses((status = 200, body = SignalPageOut)))]
pub async fn list_listing_signals(
    state: web::Data<AppState>,
    caller: Caller,
    id: web::Path<String>,
    req: HttpRequest,
) -> Result<HttpResponse, ApiError> {
    let listing_id = parse_id(&id)?;
    let input = input(req.query_string().to_string());
    let ctx = state.ctx(Some(caller));
    let page = db::run(&state.pool, move |conn| {
        app::signals::for_listing(&ctx, conn, &listing_id, input)
    })
    .await?;
    Ok(HttpResponse::Ok().json(SignalPageOut::from(page)))
}

/// Collusion signals of a township (its staff, admins).
///
/// Every signal found among the township's listings whose registration closes in the window
/// (`since`/`until`, by default the last 365 days; at most the 200 closing last, see
/// `window.truncated`), newest first (`at`, the time of the newest fact a signal rests on).
/// The kinds, their rules and severities are those of `GET /api/v1/listings/{id}/signals`;
/// signals are hints for a person to look into, never a finding and never an automatic
/// action. A listing whose close fell due after the worker's last pass is read as stored
/// until the worker settles it (within one `jobs.tick_ms`); a listing's own route settles it
/// first. Staff of another township get 404; collectives, investors and insurers 403.
#[utoipa::path(get, path = "/api/v1/townships/{id}/signals", tag = "signals", security(("bearer" = [])),
    params(("id" = uuid::Uuid, Path, description = "township id"), SignalsQuery),
    responses((status = 200, body = SignalPageOut)))]
pub async fn list_township_signals(
    state: web::Data<AppState>,
    caller: Caller,
    id: web::Path<String>,
    req: HttpRequest,
) -> Result<HttpResponse, ApiError> {
    let township_id = parse_id(&id)?;
    let input = input(req.query_string().to_string());
    let ctx = state.ctx(Some(caller));
    let page = db::run(&state.pool, move |conn| {
        app::signals::for_township(&ctx, conn, &township_id, input)
    })
    .await?;
    Ok(HttpResponse::Ok().json(SignalPageOut::from(page)))
}
