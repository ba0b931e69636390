//! Contracts, their frozen parcels, installments and payments: rows in, rows out.

use chrono::{NaiveDate, NaiveDateTime};
use diesel::prelude::*;

use super::models::{Contract, ContractParcel, Installment, Payment};
use super::schema::{contract_parcels, contracts, installments, payments, policies};
use super::{DbConn, QResult};
use crate::domain::contract::ContractStatus;
use crate::domain::installment::InstallmentStatus;

/// Whose contracts (or installments) a list shows; `None` fields don't filter. `nothing`:
/// the caller may see none.
#[derive(Debug, Clone, Default)]
pub struct Scope {
    pub village_id: Option<String>,
    pub township_id: Option<String>,
    pub investor_id: Option<String>,
    /// An insurer: only what its company's policies (any state) cover.
    pub insurer_id: Option<String>,
    pub nothing: bool,
}

pub fn insert_contract(conn: &mut DbConn, c: &Contract, parcels: &[ContractParcel]) -> QResult<()> {
    diesel::insert_into(contracts::table)
        .values(c.clone())
        .execute(conn)?;
    for p in parcels {
        diesel::insert_into(contract_parcels::table)
            .values(p.clone())
            .execute(conn)?;
    }
    Ok(())
}

pub fn find_contract(conn: &mut DbConn, id: &str) -> QResult<Option<Contract>> {
    contracts::table
        .find(id)
        .select(Contract::as_select())
        .get_result(conn)
        .optional()
}

/// The contract row locked for update (PostgreSQL); SQLite's immediate transaction already
/// serialises writers. Every change of a contract, its installments and payments takes it.
pub fn find_contract_for_update(conn: &mut DbConn, id: &str) -> QResult<Option<Contract>> {
    match conn {
        DbConn::Pg(c) => contracts::table
            .find(id)
            .select(Contract::as_select())
            .for_update()
            .get_result(c)
            .optional(),
        DbConn::Sqlite(_) => find_contract(conn, id),
    }
}

pub fn contract_of_deal(conn: &mut DbConn, deal_id: &str) -> QResult<Option<Contract>> {
    contracts::table
        .filter(contracts::deal_id.eq(deal_id))
        .select(Contract::as_select())
        .first(conn)
        .optional()
}

pub fn contract_of_listing(conn: &mut DbConn, listing_id: &str) -> QResult<Option<Contract>> {
    contracts::table
        .filter(contracts::listing_id.eq(listing_id))
        .select(Contract::as_select())
        .first(conn)
        .optional()
}

pub fn save_contract(conn: &mut DbConn, c: &Contract) -> QResult<()> {
    diesel::update(contracts::table.find(&c.id))
        .set(c.clone())
        .execute(conn)?;
    Ok(())
}

pub fn contract_parcels(conn: &mut DbConn, contract_id: &str) -> QResult<Vec<ContractParcel>> {
    contract_parcels::table
        .filter(contract_parcels::contract_id.eq(contract_id))
        .select(ContractParcel::as_select())
        .order(contract_parcels::code)
        .load(conn)
}

/// `limit + 1` contracts of the scope after `after`, by id.
pub fn list_contracts(
    conn: &mut DbConn,
    scope: &Scope,
    statuses: &[ContractStatus],
    listing_id: Option<&str>,
    after: Option<&str>,
    limit: i64,
) -> QResult<Vec<Contract>> {
    if scope.nothing {
        return Ok(Vec::new());
    }
    let mut q = contracts::table
        .select(Contract::as_select())
        .order(contracts::id)
        .limit(limit + 1)
        .into_boxed();
    if let Some(v) = &scope.village_id {
        q = q.filter(contracts::village_id.eq(v.clone()));
    }
    if let Some(t) = &scope.township_id {
        q = q.filter(contracts::township_id.eq(t.clone()));
    }
    if let Some(i) = &scope.investor_id {
        q = q.filter(contracts::investor_id.eq(i.clone()));
    }
    if let Some(i) = &scope.insurer_id {
        q = q.filter(
            contracts::id.eq_any(
                policies::table
                    .filter(policies::insurer_id.eq(i.clone()))
                    .select(policies::contract_id),
            ),
        );
    }
    if !statuses.is_empty() {
        let words: Vec<&str> = statuses.iter().map(|s| s.as_str()).collect();
        q = q.filter(contracts::status.eq_any(words));
    }
    if let Some(l) = listing_id {
        q = q.filter(contracts::listing_id.eq(l.to_string()));
    }
    if let Some(a) = after {
        q = q.filter(contracts::id.gt(a.to_string()));
    }
    q.load(conn)
}

/// Contracts left in `status` since before `before` whose reminder hasn't gone out: drafts
/// by creation, signed ones by the second signature.
pub fn contracts_to_remind(
    conn: &mut DbConn,
    status: ContractStatus,
    before: NaiveDateTime,
    limit: i64,
) -> QResult<Vec<String>> {
    let q = contracts::table
        .filter(contracts::status.eq(status.as_str()))
        .select(contracts::id)
        .order(contracts::id)
        .limit(limit)
        .into_boxed();
    match status {
        ContractStatus::Draft => q
            .filter(contracts::created_at.le(before))
            .filter(contracts::draft_reminded_at.is_null())
            .load(conn),
        _ => q
            .filter(contracts::signed_at.le(before))
            .filter(contracts::signed_reminded_at.is_null())
            .load(conn),
    }
}

/// In-force contracts of the scope whose term ended before `today`: candidates for
/// completion.
pub fn contracts_past_term(
    conn: &mut DbConn,
    scope: &Scope,
    today: NaiveDate,
    limit: i64,
) -> QResult<Vec<String>> {
    if scope.nothing {
        return Ok(Vec::new());
    }
    let words: Vec<&str> = [ContractStatus::Certified, ContractStatus::Active]
        .iter()
        .map(|s| s.as_str())
        .collect();
    let mut q = contracts::table
        .filter(contracts::status.eq_any(words))
        .filter(contracts::term_end.lt(today))
        .select(contracts::id)
        .order(contracts::id)
        .limit(limit)
        .into_boxed();
    if let Some(v) = &scope.village_id {
        q = q.filter(contracts::village_id.eq(v.clone()));
    }
    if let Some(t) = &scope.township_id {
        q = q.filter(contracts::township_id.eq(t.clone()));
    }
    if let Some(i) = &scope.investor_id {
        q = q.filter(contracts::investor_id.eq(i.clone()));
    }
    q.load(conn)
}

// ---- installments ---------------------------------------------------------------------------

pub fn insert_installments(conn: &mut DbConn, rows: &[Installment]) -> QResult<()> {
    for r in rows {
        diesel::insert_into(installments::table)
            .values(r.clone())
            .execute(conn)?;
    }
    Ok(())
}

pub fn installments_of(conn: &mut DbConn, contract_id: &str) -> QResult<Vec<Installment>> {
    installments::table
        .filter(installments::contract_id.eq(contract_id))
        .select(Installment::as_select())
        .order(installments::year)
        .load(conn)
}

pub fn find_installment(conn: &mut DbConn, id: &str) -> QResult<Option<Installment>> {
    installments::table
        .find(id)
        .select(Installment::as_select())
        .get_result(conn)
        .optional()
}

pub fn save_installment(conn: &mut DbConn, i: &Installment) -> QResult<()> {
    diesel::update(installments::table.find(&i.id))
        .set(i.clone())
        .execute(conn)?;
    Ok(())
}

/// `limit + 1` installments of the scope after `after`, by id.
pub fn list_installments(
    conn: &mut DbConn,
    scope: &Scope,
    statuses: &[InstallmentStatus],
    township_id: Option<&str>,
    village_id: Option<&str>,
    after: Option<&str>,
    limit: i64,
) -> QResult<Vec<Installment>> {
    if scope.nothing {
        return Ok(Vec::new());
    }
    let mut q = installments::table
        .select(Installment::as_select())
        .order(installments::id)
        .limit(limit + 1)
        .into_boxed();
    if let Some(v) = &scope.village_id {
        q = q.filter(installments::village_id.eq(v.clone()));
    }
    if let Some(t) = &scope.township_id {
        q = q.filter(installments::township_id.eq(t.clone()));
    }
    if let Some(i) = &scope.investor_id {
        q = q.filter(installments::investor_id.eq(i.clone()));
    }
    if let Some(i) = &scope.insurer_id {
        q = q.filter(
            installments::id.eq_any(
                policies::table
                    .filter(policies::insurer_id.eq(i.clone()))
                    .select(policies::installment_id),
            ),
        );
    }
    if let Some(t) = township_id {
        q = q.filter(installments::township_id.eq(t.to_string()));
    }
    if let Some(v) = village_id {
        q = q.filter(installments::village_id.eq(v.to_string()));
    }
    if !statuses.is_empty() {
        let words: Vec<&str> = statuses.iter().map(|s| s.as_str()).collect();
        q = q.filter(installments::status.eq_any(words));
    }
    if let Some(a) = after {
        q = q.filter(installments::id.gt(a.to_string()));
    }
    q.load(conn)
}

/// Contracts of the scope (and the filters) with an installment the calendar has moved on
/// since it was stored (due, overdue or defaulted by `today`), at most `limit`: a list
/// filtered by status settles them first, so it answers by the calendar.
pub fn contracts_with_stale_installments(
    conn: &mut DbConn,
    scope: &Scope,
    township_id: Option<&str>,
    village_id: Option<&str>,
    today: NaiveDate,
    grace_days: u32,
    limit: i64,
) -> QResult<Vec<String>> {
    use installments::dsl as i;
    if scope.nothing {
        return Ok(Vec::new());
    }
    let default_cutoff = today - chrono::Days::new(u64::from(grace_days));
    let mut q = installments::table
        .filter(
            (i::status
                .eq(InstallmentStatus::Scheduled.as_str())
                .and(i::due_date.le(today)))
            .or(i::status
                .eq(InstallmentStatus::Due.as_str())
                .and(i::due_date.lt(today)))
            .or(i::status
                .eq(InstallmentStatus::Overdue.as_str())
                .and(i::due_date.lt(default_cutoff))),
        )
        .select(i::contract_id)
        .distinct()
        .limit(limit)
        .into_boxed();
    if let Some(v) = &scope.village_id {
        q = q.filter(i::village_id.eq(v.clone()));
    }
    if let Some(t) = &scope.township_id {
        q = q.filter(i::township_id.eq(t.clone()));
    }
    if let Some(inv) = &scope.investor_id {
        q = q.filter(i::investor_id.eq(inv.clone()));
    }
    if let Some(t) = township_id {
        q = q.filter(i::township_id.eq(t.to_string()));
    }
    if let Some(v) = village_id {
        q = q.filter(i::village_id.eq(v.to_string()));
    }
    q.load(conn)
}

/// Contracts with an installment that has something to do on `today`: a date-driven move
/// (due, overdue, defaulted after `grace_days`) or a reminder not yet sent.
pub fn contracts_with_due_installments(
    conn: &mut DbConn,
    today: NaiveDate,
    grace_days: u32,
    limit: i64,
) -> QResult<Vec<String>> {
    use installments::dsl as i;
    let week = today + chrono::Days::new(7);
    let default_cutoff = today - chrono::Days::new(u64::from(grace_days));
    let (sched, due, overdue, defaulted) = (
        InstallmentStatus::Scheduled.as_str(),
        InstallmentStatus::Due.as_str(),
        InstallmentStatus::Overdue.as_str(),
        InstallmentStatus::Defaulted.as_str(),
    );
    let mut ids: Vec<String> = installments::table
        .filter(
            (i::status.eq(sched).and(i::due_date.le(today)))
                .or(i::status
                    .eq(sched)
                    .and(i::due_date.le(week))
                    .and(i::reminded_week_before_at.is_null()))
                .or(i::status.eq(due).and(i::due_date.lt(today)))
                .or(i::status
                    .eq_any([due, overdue])
                    .and(i::reminded_due_at.is_null()))
                .or(i::status.eq(overdue).and(i::reminded_overdue_at.is_null()))
                .or(i::status.eq(overdue).and(i::due_date.lt(default_cutoff)))
                .or(i::status
                    .eq(defaulted)
                    .and(i::default_notified_at.is_null())),
        )
        .select(i::contract_id)
        .distinct()
        .limit(limit)
        .load(conn)?;
    ids.sort();
    Ok(ids)
}

// ---- payments -------------------------------------------------------------------------------

pub fn insert_payment(conn: &mut DbConn, p: &Payment) -> QResult<()> {
    diesel::insert_into(payments::table)
        .values(p.clone())
        .execute(conn)?;
    Ok(())
}

/// `limit + 1` payments of an installment after `after` (by id, i.e. recording order).
pub fn payments_of(
    conn: &mut DbConn,
    installment_id: &str,
    after: Option<&str>,
    limit: i64,
) -> QResult<Vec<Payment>> {
    let mut q = payments::table
        .filter(payments::installment_id.eq(installment_id))
        .select(Payment::as_select())
        .order(payments::id)
        .limit(limit + 1)
        .into_boxed();
    if let Some(a) = after {
        q = q.filter(payments::id.gt(a.to_string()));
    }
    q.load(conn)
}
