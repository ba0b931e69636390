//! Registration queries.

use diesel::prelude::*;

use super::models::Registration;
use super::schema::registrations;
use super::DbConn;
use crate::domain::registration::{DepositStatus, RegistrationStatus};

use super::QResult;

pub fn insert(conn: &mut DbConn, r: &Registration) -> QResult<()> {
    diesel::insert_into(registrations::table)
        .values(r.clone())
        .execute(conn)?;
    Ok(())
}

pub fn save(conn: &mut DbConn, r: &Registration) -> QResult<()> {
    diesel::update(registrations::table.find(&r.id))
        .set(r.clone())
        .execute(conn)?;
    Ok(())
}

pub fn find(conn: &mut DbConn, id: &str) -> QResult<Option<Registration>> {
    Ok(registrations::table
        .find(id)
        .select(Registration::as_select())
        .first(conn)
        .optional()?)
}

pub fn find_by_investor(
    conn: &mut DbConn,
    listing_id: &str,
    investor_id: &str,
) -> QResult<Option<Registration>> {
    Ok(registrations::table
        .filter(registrations::listing_id.eq(listing_id))
        .filter(registrations::investor_id.eq(investor_id))
        .select(Registration::as_select())
        .first(conn)
        .optional()?)
}

pub fn for_listing(conn: &mut DbConn, listing_id: &str) -> QResult<Vec<Registration>> {
    Ok(registrations::table
        .filter(registrations::listing_id.eq(listing_id))
        .order(registrations::id)
        .select(Registration::as_select())
        .load(conn)?)
}

pub struct RegistrationFilter {
    pub listing_id: Option<String>,
    pub investor_id: Option<String>,
    pub status: Option<String>,
    pub deposit_status: Option<String>,
}

pub fn list(
    conn: &mut DbConn,
    f: &RegistrationFilter,
    after: Option<&str>,
    limit: i64,
) -> QResult<Vec<Registration>> {
    let mut q = registrations::table
        .select(Registration::as_select())
        .order(registrations::id)
        .limit(limit + 1)
        .into_boxed();
    if let Some(v) = &f.listing_id {
        q = q.filter(registrations::listing_id.eq(v.clone()));
    }
    if let Some(v) = &f.investor_id {
        q = q.filter(registrations::investor_id.eq(v.clone()));
    }
    if let Some(v) = &f.status {
        q = q.filter(registrations::status.eq(v.clone()));
    }
    if let Some(v) = &f.deposit_status {
        q = q.filter(registrations::deposit_status.eq(v.clone()));
    }
    if let Some(a) = after {
        q = q.filter(registrations::id.gt(a.to_string()));
    }
    Ok(q.load(conn)?)
}

/// Qualified registrations with a confirmed deposit.
pub fn count_eligible(conn: &mut DbConn, listing_id: &str) -> QResult<i64> {
    Ok(registrations::table
        .filter(registrations::listing_id.eq(listing_id))
        .filter(registrations::status.eq(RegistrationStatus::Qualified.as_str()))
        .filter(registrations::deposit_status.eq(DepositStatus::Confirmed.as_str()))
        .count()
        .get_result(conn)?)
}
