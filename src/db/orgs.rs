//! Townships, villages and insurers: rows in, rows out.

use chrono::{DateTime, Utc};
use diesel::prelude::*;

use super::models::*;
use super::queries::PageReq;
use super::schema::*;
use super::{DbConn, QResult};

impl Township {
    /// The one place a township row is built.
    pub fn new(code: &str, name: &str, insurance_required: bool, now: DateTime<Utc>) -> Self {
        Township {
            id: uuid::Uuid::now_v7().to_string(),
            code: code.into(),
            name: name.into(),
            insurance_required,
            created_at: now.naive_utc(),
        }
    }
}

impl Village {
    /// The one place a village row is built.
    pub fn new(township_id: &str, code: &str, name: &str, now: DateTime<Utc>) -> Self {
        Village {
            id: uuid::Uuid::now_v7().to_string(),
            township_id: township_id.into(),
            code: code.into(),
            name: name.into(),
            created_at: now.naive_utc(),
            legal_name: None,
            unified_social_credit_code: None,
            legal_representative: None,
        }
    }
}

impl Insurer {
    /// The one place an insurer row is built.
    pub fn new(code: &str, name: &str, now: DateTime<Utc>) -> Self {
        Insurer {
            id: uuid::Uuid::now_v7().to_string(),
            code: code.into(),
            name: name.into(),
            created_at: now.naive_utc(),
        }
    }
}

pub fn insert_township(conn: &mut DbConn, t: &Township) -> QResult<()> {
    diesel::insert_into(townships::table)
        .values(t)
        .execute(conn)?;
    Ok(())
}

pub fn find_township(conn: &mut DbConn, id: &str) -> QResult<Option<Township>> {
    townships::table
        .find(id)
        .select(Township::as_select())
        .get_result(conn)
        .optional()
}

pub fn list_townships(conn: &mut DbConn, page: &PageReq) -> QResult<Vec<Township>> {
    let mut q = townships::table
        .select(Township::as_select())
        .order(townships::id)
        .limit(page.limit + 1)
        .into_boxed();
    if let Some(after) = &page.after {
        q = q.filter(townships::id.gt(after.clone()));
    }
    q.load(conn)
}

pub fn insert_village(conn: &mut DbConn, v: &Village) -> QResult<()> {
    diesel::insert_into(villages::table)
        .values(v)
        .execute(conn)?;
    Ok(())
}

pub fn save_village(conn: &mut DbConn, v: &Village) -> QResult<()> {
    diesel::update(villages::table.find(&v.id))
        .set((
            villages::legal_name.eq(&v.legal_name),
            villages::unified_social_credit_code.eq(&v.unified_social_credit_code),
            villages::legal_representative.eq(&v.legal_representative),
        ))
        .execute(conn)?;
    Ok(())
}

pub fn save_township(conn: &mut DbConn, t: &Township) -> QResult<()> {
    diesel::update(townships::table.find(&t.id))
        .set((
            townships::name.eq(&t.name),
            townships::insurance_required.eq(t.insurance_required),
        ))
        .execute(conn)?;
    Ok(())
}

pub fn find_village(conn: &mut DbConn, id: &str) -> QResult<Option<Village>> {
    villages::table
        .find(id)
        .select(Village::as_select())
        .get_result(conn)
        .optional()
}

pub fn list_villages(conn: &mut DbConn, township: &str, page: &PageReq) -> QResult<Vec<Village>> {
    let mut q = villages::table
        .filter(villages::township_id.eq(township.to_string()))
        .select(Village::as_select())
        .order(villages::id)
        .limit(page.limit + 1)
        .into_boxed();
    if let Some(after) = &page.after {
        q = q.filter(villages::id.gt(after.clone()));
    }
    q.load(conn)
}

pub fn insert_insurer(conn: &mut DbConn, i: &Insurer) -> QResult<()> {
    diesel::insert_into(insurers::table)
        .values(i)
        .execute(conn)?;
    Ok(())
}

pub fn find_insurer(conn: &mut DbConn, id: &str) -> QResult<Option<Insurer>> {
    insurers::table
        .find(id)
        .select(Insurer::as_select())
        .get_result(conn)
        .optional()
}

pub fn list_insurers(conn: &mut DbConn, page: &PageReq) -> QResult<Vec<Insurer>> {
    let mut q = insurers::table
        .select(Insurer::as_select())
        .order(insurers::id)
        .limit(page.limit + 1)
        .into_boxed();
    if let Some(after) = &page.after {
        q = q.filter(insurers::id.gt(after.clone()));
    }
    q.load(conn)
}
