//! The business counts `/metrics` shows, aggregated in the database at scrape time so every
//! instance reports the same numbers. Each is one statement, so one can fail alone.

use diesel::dsl::{count_star, sql};
use diesel::prelude::*;
use diesel::sql_types::BigInt;

use super::schema::{claims, deals, installments, listings};
use super::{DbConn, QResult};
use crate::domain::installment::InstallmentStatus;

/// Listings per stored status word: `(status, listings, accepted bids)`. The bids are the
/// listings' `bid_count`s (one per accepted bid), which spares counting the bids table.
pub fn listings_by_status(conn: &mut DbConn) -> QResult<Vec<(String, i64, i64)>> {
    listings::table
        .group_by(listings::status)
        .select((
            listings::status,
            count_star(),
            sql::<BigInt>("CAST(COALESCE(SUM(bid_count), 0) AS BIGINT)"),
        ))
        .load(conn)
}

/// Deals (one offer to one bidder) per stored status word.
pub fn deals_by_status(conn: &mut DbConn) -> QResult<Vec<(String, i64)>> {
    deals::table
        .group_by(deals::status)
        .select((deals::status, count_star()))
        .load(conn)
}

/// Installments in default.
pub fn installments_defaulted(conn: &mut DbConn) -> QResult<i64> {
    installments::table
        .filter(installments::status.eq(InstallmentStatus::Defaulted.as_str()))
        .count()
        .get_result(conn)
}

/// Claims per stored status word.
pub fn claims_by_status(conn: &mut DbConn) -> QResult<Vec<(String, i64)>> {
    claims::table
        .group_by(claims::status)
        .select((claims::status, count_star()))
        .load(conn)
}
