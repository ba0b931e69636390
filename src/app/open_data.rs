//! Open data (公开数据): every listing that reached an outcome is published as one record,
//! rewritten in the same transaction as each change that alters it (award, confirmation,
//! fall-through, certification, termination…), and numbered on a change feed so a mirror can
//! follow it. The public sees no ID number, phone or natural person's name.

use chrono::{DateTime, Utc};

use crate::db::listings as lq;
use crate::db::open_data::{self as oq, OpenDealRow, OpenFilter, FEED_COUNTER};
use crate::db::{auction as aq, contracts as cq, queries, registrations as rq, DbConn};
use crate::domain::calendar::{shanghai_date, shanghai_year};
use crate::domain::deal::DealStatus;
use crate::domain::listing::ListingStatus;
use crate::domain::money::format_mu;
use crate::domain::open_data::{
    failure_reason, is_published, public_winner, trade_method, OpenContractFacts, OpenDeal,
    OpenDealFacts, OpenParcel, OrgRef,
};
use crate::error::ApiError;

/// Brings the published record of a listing up to date, in the caller's transaction: written
/// when the listing has an outcome and the record would change, with the next feed position.
/// Cheap when nothing changed (no feed entry).
pub fn touch(conn: &mut DbConn, listing_id: &str, now: DateTime<Utc>) -> Result<(), ApiError> {
    let Some(record) = build(conn, listing_id)? else {
        return Ok(());
    };
    let body = serde_json::to_string(&record)
        .map_err(|e| ApiError::internal(format!("open data record: {e}")))?;
    let existing = oq::find(conn, listing_id)?;
    if existing.as_ref().is_some_and(|e| e.body == body) {
        return Ok(());
    }
    let seq = lq::next_counter(conn, FEED_COUNTER)?;
    let now = now.naive_utc();
    let row = OpenDealRow {
        listing_id: listing_id.to_string(),
        feed_seq: seq,
        township_id: record.township.id.clone(),
        village_id: record.village.id.clone(),
        outcome: record.outcome.as_str().to_string(),
        year: i64::from(record.year),
        body,
        published_at: existing.as_ref().map_or(now, |e| e.published_at),
        updated_at: now,
    };
    if existing.is_some() {
        oq::save(conn, &row)?;
    } else {
        oq::insert(conn, &row)?;
    }
    Ok(())
}

/// Same, for the listing a contract belongs to.
pub fn touch_contract(
    conn: &mut DbConn,
    contract_id: &str,
    now: DateTime<Utc>,
) -> Result<(), ApiError> {
    match cq::find_contract(conn, contract_id)? {
        Some(c) => touch(conn, &c.listing_id, now),
        None => Ok(()),
    }
}

/// The commit hook (see [`crate::db::commit_hook`]): a listing or contract stream changed.
pub fn on_change(conn: &mut DbConn, stream: &str, at: DateTime<Utc>) -> Result<(), ApiError> {
    if let Some(id) = stream.strip_prefix("listing:") {
        touch(conn, id, at)
    } else if let Some(id) = stream.strip_prefix("contract:") {
        touch_contract(conn, id, at)
    } else {
        Ok(())
    }
}

/// The record as it stands now, or `None` while the listing has no outcome.
fn build(conn: &mut DbConn, listing_id: &str) -> Result<Option<OpenDeal>, ApiError> {
    let Some(l) = lq::find_listing(conn, listing_id)? else {
        return Ok(None);
    };
    if !is_published(l.status) {
        return Ok(None);
    }
    let (Some(t), Some(v)) = (
        queries::find_township(conn, &l.township_id)?,
        queries::find_village(conn, &l.village_id)?,
    ) else {
        return Err(ApiError::internal(
            "listing without its township or village",
        ));
    };
    let parcels = lq::listing_parcels(conn, &l.id)?
        .into_iter()
        .map(|p| OpenParcel {
            code: p.code,
            area_mu: format_mu(p.area_centimu),
            land_type: p.land_type,
        })
        .collect();
    let previous_listing_no = match &l.previous_listing_id {
        Some(p) => lq::find_listing(conn, p)?.and_then(|p| p.listing_no),
        None => None,
    };
    let deal = aq::newest_deal(conn, &l.id)?;
    let eligible = l.eligible_bidders.unwrap_or(0);
    let mut winner = None;
    if let Some(d) = deal
        .as_ref()
        .filter(|d| d.status != DealStatus::FallenThrough)
    {
        if let Some(r) = rq::find(conn, &d.registration_id)? {
            winner = Some(public_winner(r.id_type, &r.legal_name));
        }
    }
    let contract = cq::contract_of_listing(conn, &l.id)?.map(|c| OpenContractFacts {
        status: c.status,
        certification_no: c.certification_no,
        certified_on: c.certified_at.map(|t| shanghai_date(t.and_utc())),
    });
    let closed = l.closed_at.unwrap_or(l.updated_at).and_utc();
    Ok(Some(OpenDeal {
        listing_id: l.id.clone(),
        listing_no: l.listing_no.clone(),
        outcome: l.status,
        method: trade_method(eligible),
        failure: (l.status == ListingStatus::Failed)
            .then(|| failure_reason(eligible, deal.is_some())),
        attempt: l.attempt,
        previous_listing_no,
        township: OrgRef {
            id: t.id,
            code: t.code,
            name: t.name,
        },
        village: OrgRef {
            id: v.id,
            code: v.code,
            name: v.name,
        },
        parcels,
        total_area_mu: format_mu(l.total_area_centimu),
        intended_use: l.intended_use,
        term_start: l.term_start,
        term_end: l.term_end,
        reserve_price_fen: l.reserve_price_fen,
        final_price_fen: deal.as_ref().map(|d| d.price_fen),
        annual_rent_fen: deal.as_ref().map(|d| d.annual_rent_fen),
        eligible_bidders: eligible,
        bid_count: l.bid_count,
        closed_at: l.closed_at.map(|t| t.and_utc()),
        year: shanghai_year(closed),
        deal: deal.map(|d| OpenDealFacts {
            confirmation_no: d.confirmation_no,
            round: d.round,
            status: d.status,
            awarded_on: shanghai_date(d.awarded_at.and_utc()),
            confirmed_on: match (d.status, d.winner_confirmed_at, d.collective_confirmed_at) {
                (DealStatus::Confirmed, Some(a), Some(b)) => {
                    Some(shanghai_date(a.max(b).and_utc()))
                }
                _ => None,
            },
        }),
        contract,
        winner,
    }))
}

/// A published record as served.
#[derive(Debug, Clone)]
pub struct Published {
    pub seq: i64,
    pub record: OpenDeal,
    pub published_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

fn published(row: OpenDealRow) -> Result<Published, ApiError> {
    let record: OpenDeal = serde_json::from_str(&row.body).map_err(|e| {
        ApiError::internal(format!(
            "open data record {} unreadable: {e}",
            row.listing_id
        ))
    })?;
    Ok(Published {
        seq: row.feed_seq,
        record,
        published_at: row.published_at.and_utc(),
        updated_at: row.updated_at.and_utc(),
    })
}

/// A page of the public list (`limit + 1` rows, listing-id order). A record that can't be
/// read is logged and left out: one bad row never stops the public page.
pub fn list(
    conn: &mut DbConn,
    filter: &OpenFilter,
    after: Option<&str>,
    limit: i64,
) -> Result<Vec<(String, Published)>, ApiError> {
    Ok(readable(oq::list(conn, filter, after, limit)?))
}

/// One published record; 404 while the listing has none.
pub fn get(conn: &mut DbConn, listing_id: &str) -> Result<Published, ApiError> {
    let row = oq::find(conn, listing_id)?.ok_or(ApiError::NotFound)?;
    published(row)
}

/// One page of the change feed.
#[derive(Debug, Clone)]
pub struct FeedPage {
    pub items: Vec<Published>,
    /// Pass as `since` for the next page: the last position read (or `since` again).
    pub next_since: i64,
    /// Whether more changes follow right away.
    pub more: bool,
}

/// The change feed after position `since`, in feed order.
pub fn changes(conn: &mut DbConn, since: i64, limit: i64) -> Result<FeedPage, ApiError> {
    let mut rows = oq::changes(conn, since, limit)?;
    let more = rows.len() as i64 > limit;
    rows.truncate(usize::try_from(limit).unwrap_or(0));
    let next_since = rows.last().map_or(since, |r| r.feed_seq);
    Ok(FeedPage {
        items: readable(rows).into_iter().map(|(_, p)| p).collect(),
        next_since,
        more,
    })
}

fn readable(rows: Vec<OpenDealRow>) -> Vec<(String, Published)> {
    rows.into_iter()
        .filter_map(|row| {
            let id = row.listing_id.clone();
            match published(row) {
                Ok(p) => Some((id, p)),
                Err(e) => {
                    tracing::error!(listing_id = %id, error = %e, "open data record skipped");
                    None
                }
            }
        })
        .collect()
}

/// Publishes every listing with an outcome that has no record yet (a database from before
/// open data, or rows written by hand). Returns how many were written.
pub fn backfill(conn: &mut DbConn, now: DateTime<Utc>) -> Result<usize, ApiError> {
    let ids = oq::unpublished_outcomes(conn)?;
    let n = ids.len();
    for id in ids {
        crate::db::write_tx(conn, |conn| touch(conn, &id, now))?;
    }
    Ok(n)
}
