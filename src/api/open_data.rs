//! Open data (公开数据, no token): every listing that reached an outcome (awarded, contracted
//! or failed), as JSON or CSV, and a change feed a mirror can follow.

use actix_web::http::{header, Method};
use actix_web::{web, HttpResponse};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use super::extract::Anonymous;
use super::{
    bad_year, decode_cursor, encode_cursor, parse_id, query_id, word_list, Page, PageQuery, Routes,
};
use crate::app::open_data::{self, Published};
use crate::db::open_data::OpenFilter;
use crate::domain::listing::ListingStatus;
use crate::domain::open_data::{business_year, is_published, OpenDeal};
use crate::error::ApiError;
use crate::state::AppState;

pub fn routes(r: &mut Routes) {
    r.add(Method::GET, "/api/v1/open-data/deals", list_deals)
        .add(Method::GET, "/api/v1/open-data/deals.csv", list_deals_csv)
        .add(
            Method::GET,
            "/api/v1/open-data/deals/{listing_id}",
            get_deal,
        )
        .add(Method::GET, "/api/v1/open-data/changes", changes);
}

/// A published record with its place on the change feed.
#[derive(Debug, Serialize, ToSchema)]
pub struct OpenDealOut {
    #[serde(flatten)]
    pub record: OpenDeal,
    /// Position on the change feed of the record's latest version.
    pub seq: i64,
    pub published_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

impl From<Published> for OpenDealOut {
    fn from(p: Published) -> Self {
        OpenDealOut {
            record: p.record,
            seq: p.seq,
            published_at: p.published_at,
            updated_at: p.updated_at,
        }
    }
}

#[derive(Debug, Serialize, ToSchema)]
pub struct ChangesOut {
    /// The records changed after `since`, oldest change first; each appears once, in its
    /// latest version (a record changed twice moves to its later position).
    pub items: Vec<OpenDealOut>,
    /// Pass as `since` next time: the position of the last change read.
    pub next_since: i64,
    /// More changes follow right away (ask again with `next_since`).
    pub more: bool,
}

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct CsvPageQuery {
    /// Rows per file: 1–10 000, default 10 000.
    #[param(minimum = 1, maximum = 10000)]
    pub limit: Option<i64>,
    /// Cursor from the previous file's `X-Next-Cursor` header.
    #[param(format = Uuid)]
    pub cursor: Option<String>,
}

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct OpenDealsFilter {
    #[param(format = Uuid)]
    pub township_id: Option<String>,
    #[param(format = Uuid)]
    pub village_id: Option<String>,
    /// Shanghai calendar year trading ended in.
    #[param(minimum = 1900, maximum = 9998)]
    pub year: Option<i64>,
    /// Comma-separated: `awarded,contracted,failed`.
    #[param(pattern = r"^((awarded|contracted|failed)(,(awarded|contracted|failed)){0,2})?$")]
    pub outcome: Option<String>,
}

impl OpenDealsFilter {
    fn to_filter(&self) -> Result<OpenFilter, ApiError> {
        if let Some(y) = self.year {
            business_year(y).ok_or_else(bad_year)?;
        }
        let outcomes = word_list(self.outcome.as_deref(), "outcome", |w| {
            ListingStatus::parse(w).filter(|s| is_published(*s))
        })?;
        Ok(OpenFilter {
            township_id: query_id(self.township_id.clone(), "township_id")?,
            village_id: query_id(self.village_id.clone(), "village_id")?,
            year: self.year,
            outcomes: outcomes.iter().map(|s| s.as_str().to_string()).collect(),
        })
    }
}

/// A page of published records and the cursor of the next one.
async fn load_page(
    state: &AppState,
    anonymous: bool,
    filter: &OpenDealsFilter,
    limit: Option<i64>,
    cursor: Option<&str>,
    (default, max): (i64, i64),
) -> Result<(Vec<OpenDealOut>, Option<String>), ApiError> {
    let limit = limit.unwrap_or(default);
    if !(1..=max).contains(&limit) {
        return Err(ApiError::field(
            "limit",
            format!("must be between 1 and {max}"),
        ));
    }
    let filter = filter.to_filter()?;
    let after = cursor.map(decode_cursor).transpose()?;
    let mut rows = state
        .public_read(anonymous, move |conn| {
            open_data::list(conn, &filter, after.as_deref(), limit)
        })
        .await?;
    let more = rows.len() as i64 > limit;
    rows.truncate(usize::try_from(limit).unwrap_or(0));
    let next_cursor = more
        .then(|| rows.last().map(|(id, _)| encode_cursor(id)))
        .flatten();
    Ok((
        rows.into_iter().map(|(_, p)| p.into()).collect(),
        next_cursor,
    ))
}

/// Completed and failed trades (public): one record per listing that reached an outcome, in
/// publication (listing) order. Winners that are companies are named; natural persons are
/// masked (`张*`); no ID number or phone ever appears.
#[utoipa::path(get, path = "/api/v1/open-data/deals", tag = "open data",
    params(PageQuery, OpenDealsFilter),
    responses(
        (status = 200, body = Page<OpenDealOut>),
        (status = 400, description = "bad query string"),
        (status = 422, description = "limit out of range"),
    ))]
pub async fn list_deals(
    state: web::Data<AppState>,
    anonymous: Anonymous,
    q: web::Query<PageQuery>,
    f: web::Query<OpenDealsFilter>,
) -> Result<HttpResponse, ApiError> {
    let (items, next_cursor) = load_page(
        &state,
        anonymous.0,
        &f,
        q.limit,
        q.cursor.as_deref(),
        (50, 200),
    )
    .await?;
    Ok(HttpResponse::Ok().json(Page { items, next_cursor }))
}

/// The same records as CSV (public): `text/csv; charset=utf-8`, UTF-8 with a BOM so
/// spreadsheet programs read Chinese correctly, one row per record with the column names
/// first; up to 10 000 rows per file, the next file's cursor in `X-Next-Cursor`.
#[utoipa::path(get, path = "/api/v1/open-data/deals.csv", tag = "open data",
    params(CsvPageQuery, OpenDealsFilter),
    responses(
        (status = 200, description = "CSV", content_type = "text/csv", body = String,
            headers(("X-Next-Cursor" = String, description = "cursor of the next file, when more follow"))),
        (status = 400, description = "bad query string"),
        (status = 422, description = "limit out of range"),
    ))]
pub async fn list_deals_csv(
    state: web::Data<AppState>,
    anonymous: Anonymous,
    q: web::Query<CsvPageQuery>,
    f: web::Query<OpenDealsFilter>,
) -> Result<HttpResponse, ApiError> {
    let (items, next_cursor) = load_page(
        &state,
        anonymous.0,
        &f,
        q.limit,
        q.cursor.as_deref(),
        (10_000, 10_000),
    )
    .await?;
    let body = to_csv(&items)?;
    let mut resp = HttpResponse::Ok();
    resp.insert_header((header::CONTENT_TYPE, "text/csv; charset=utf-8"))
        .insert_header((
            header::CONTENT_DISPOSITION,
            "attachment; filename=\"landx-open-deals.csv\"",
        ));
    if let Some(c) = &next_cursor {
        resp.insert_header(("X-Next-Cursor", c.as_str()));
    }
    Ok(resp.body(body))
}

/// One published record (public); 404 while the listing has no outcome.
#[utoipa::path(get, path = "/api/v1/open-data/deals/{listing_id}", operation_id = "get_open_deal", tag = "open data",
    params(("listing_id" = uuid::Uuid, Path, description = "listing id")),
    responses((status = 200, body = OpenDealOut), (status = 404, description = "not published")))]
pub async fn get_deal(
    state: web::Data<AppState>,
    anonymous: Anonymous,
    id: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let id = parse_id(&id)?;
    let p = state
        .public_read(anonymous.0, move |conn| open_data::get(conn, &id))
        .await?;
    Ok(HttpResponse::Ok().json(OpenDealOut::from(p)))
}

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct ChangesQuery {
    /// The last position already read (`next_since` of the previous answer); 0 or absent
    /// reads from the beginning.
    #[param(minimum = 0)]
    pub since: Option<i64>,
    /// 1–200, default 100.
    #[param(minimum = 1, maximum = 200)]
    pub limit: Option<i64>,
}

/// The change feed of open data (public): records created or changed after position `since`,
/// in commit order, so a mirror that stores `next_since` and asks again misses nothing.
/// Positions only grow; a record's latest version replaces its earlier ones.
#[utoipa::path(get, path = "/api/v1/open-data/changes", tag = "open data",
    params(ChangesQuery),
    responses((status = 200, body = ChangesOut), (status = 422, description = "limit or since out of range")))]
pub async fn changes(
    state: web::Data<AppState>,
    anonymous: Anonymous,
    q: web::Query<ChangesQuery>,
) -> Result<HttpResponse, ApiError> {
    let since = q.since.unwrap_or(0);
    if since < 0 {
        return Err(ApiError::field("since", "must be 0 or more"));
    }
    let limit = q.limit.unwrap_or(100);
    if !(1..=200).contains(&limit) {
        return Err(ApiError::field("limit", "must be between 1 and 200"));
    }
    let page = state
        .public_read(anonymous.0, move |conn| {
            open_data::changes(conn, since, limit)
        })
        .await?;
    Ok(HttpResponse::Ok().json(ChangesOut {
        items: page.items.into_iter().map(Into::into).collect(),
        next_since: page.next_since,
        more: page.more,
    }))
}

/// The CSV columns, in order.
pub const CSV_COLUMNS: &[&str] = &[
    "listing_no",
    "outcome",
    "method",
    "failure",
    "attempt",
    "previous_listing_no",
    "township_code",
    "township",
    "village_code",
    "village",
    "parcel_codes",
    "land_types",
    "total_area_mu",
    "intended_use",
    "term_start",
    "term_end",
    "reserve_price_fen",
    "final_price_fen",
    "annual_rent_fen",
    "eligible_bidders",
    "bid_count",
    "year",
    "confirmation_no",
    "deal_status",
    "awarded_on",
    "confirmed_on",
    "certification_no",
    "certified_on",
    "contract_status",
    "winner_kind",
    "winner",
    "listing_id",
    "seq",
    "updated_at",
];

/// A text cell a spreadsheet must not read as a formula (CSV injection): a leading `=`, `+`,
/// `-`, `@`, tab or carriage return gets a `'` before it.
pub fn text_cell(s: String) -> String {
    if s.starts_with(['=', '+', '-', '@', '\t', '\r']) {
        format!("'{s}")
    } else {
        s
    }
}

fn to_csv(items: &[OpenDealOut]) -> Result<Vec<u8>, ApiError> {
    let fail = |e: csv::Error| ApiError::internal(format!("csv: {e}"));
    // The BOM makes spreadsheet programs read the file as UTF-8.
    let mut w = csv::Writer::from_writer(b"\xEF\xBB\xBF".to_vec());
    w.write_record(CSV_COLUMNS).map_err(fail)?;
    let opt = |v: Option<String>| v.unwrap_or_default();
    for it in items {
        let r = &it.record;
        let mut land_types: Vec<&str> = r.parcels.iter().map(|p| p.land_type.as_str()).collect();
        land_types.sort_unstable();
        land_types.dedup();
        let row: Vec<String> = vec![
            text_cell(opt(r.listing_no.clone())),
            r.outcome.as_str().into(),
            opt(r.method.map(|m| m.as_str().into())),
            opt(r.failure.map(|f| f.as_str().into())),
            r.attempt.to_string(),
            text_cell(opt(r.previous_listing_no.clone())),
            text_cell(r.township.code.clone()),
            text_cell(r.township.name.clone()),
            text_cell(r.village.code.clone()),
            text_cell(r.village.name.clone()),
            text_cell(
                r.parcels
                    .iter()
                    .map(|p| p.code.as_str())
                    .collect::<Vec<_>>()
                    .join(";"),
            ),
            land_types.join(";"),
            r.total_area_mu.clone(),
            r.intended_use.as_str().into(),
            r.term_start.to_string(),
            r.term_end.to_string(),
            r.reserve_price_fen.to_string(),
            opt(r.final_price_fen.map(|v| v.to_string())),
            opt(r.annual_rent_fen.map(|v| v.to_string())),
            r.eligible_bidders.to_string(),
            r.bid_count.to_string(),
            r.year.to_string(),
            opt(r.deal.as_ref().map(|d| d.confirmation_no.clone())),
            opt(r.deal.as_ref().map(|d| d.status.as_str().into())),
            opt(r.deal.as_ref().map(|d| d.awarded_on.to_string())),
            opt(r
                .deal
                .as_ref()
                .and_then(|d| d.confirmed_on)
                .map(|d| d.to_string())),
            opt(r.contract.as_ref().and_then(|c| c.certification_no.clone())),
            opt(r
                .contract
                .as_ref()
                .and_then(|c| c.certified_on)
                .map(|d| d.to_string())),
            opt(r.contract.as_ref().map(|c| c.status.as_str().into())),
            opt(r.winner.as_ref().map(|w| w.kind.as_str().into())),
            text_cell(opt(r.winner.as_ref().map(|w| w.name.clone()))),
            r.listing_id.clone(),
            it.seq.to_string(),
            it.updated_at
                .to_rfc3339_opts(chrono::SecondsFormat::Micros, true),
        ];
        w.write_record(&row).map_err(fail)?;
    }
    w.into_inner()
        .map_err(|e| ApiError::internal(format!("csv: {e}")))
}
