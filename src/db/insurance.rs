//! Policies, claims and recoveries: rows in, rows out.

use chrono::NaiveDate;
use diesel::prelude::*;

use super::models::{Claim, Policy, Recovery};
use super::schema::{claims, policies, recoveries};
use super::{DbConn, QResult};
use crate::domain::claim::ClaimStatus;
use crate::domain::policy::PolicyStatus;

/// Whose policies or claims a list shows: the same scope as contracts'.
pub use super::contracts::Scope;

pub fn insert_policy(conn: &mut DbConn, p: &Policy) -> QResult<()> {
    diesel::insert_into(policies::table)
        .values(p.clone())
        .execute(conn)?;
    Ok(())
}

pub fn save_policy(conn: &mut DbConn, p: &Policy) -> QResult<()> {
    diesel::update(policies::table.find(&p.id))
        .set(p.clone())
        .execute(conn)?;
    Ok(())
}

pub fn find_policy(conn: &mut DbConn, id: &str) -> QResult<Option<Policy>> {
    policies::table
        .find(id)
        .select(Policy::as_select())
        .get_result(conn)
        .optional()
}

pub fn policies_of_contract(conn: &mut DbConn, contract_id: &str) -> QResult<Vec<Policy>> {
    policies::table
        .filter(policies::contract_id.eq(contract_id))
        .select(Policy::as_select())
        .order((policies::year, policies::id))
        .load(conn)
}

/// The live (not cancelled) policy of a contract year.
pub fn live_policy(conn: &mut DbConn, contract_id: &str, year: i64) -> QResult<Option<Policy>> {
    policies::table
        .filter(policies::contract_id.eq(contract_id))
        .filter(policies::year.eq(year))
        .filter(policies::status.ne(PolicyStatus::Cancelled.as_str()))
        .select(Policy::as_select())
        .first(conn)
        .optional()
}

/// Whether the insurer has any policy (any state) on the contract.
pub fn insurer_covers_contract(
    conn: &mut DbConn,
    insurer_id: &str,
    contract_id: &str,
) -> QResult<bool> {
    let n: i64 = policies::table
        .filter(policies::insurer_id.eq(insurer_id))
        .filter(policies::contract_id.eq(contract_id))
        .count()
        .get_result(conn)?;
    Ok(n > 0)
}

/// Whether the insurer has a policy (any state) on the installment.
pub fn insurer_covers_installment(
    conn: &mut DbConn,
    insurer_id: &str,
    installment_id: &str,
) -> QResult<bool> {
    let n: i64 = policies::table
        .filter(policies::insurer_id.eq(insurer_id))
        .filter(policies::installment_id.eq(installment_id))
        .count()
        .get_result(conn)?;
    Ok(n > 0)
}

/// `limit + 1` policies of the scope, by id.
pub fn list_policies(
    conn: &mut DbConn,
    scope: &Scope,
    contract_id: Option<&str>,
    statuses: &[PolicyStatus],
    after: Option<&str>,
    limit: i64,
) -> QResult<Vec<Policy>> {
    if scope.nothing {
        return Ok(Vec::new());
    }
    let mut q = policies::table
        .select(Policy::as_select())
        .order(policies::id)
        .limit(limit + 1)
        .into_boxed();
    if let Some(v) = &scope.village_id {
        q = q.filter(policies::village_id.eq(v.clone()));
    }
    if let Some(t) = &scope.township_id {
        q = q.filter(policies::township_id.eq(t.clone()));
    }
    if let Some(i) = &scope.investor_id {
        q = q.filter(policies::investor_id.eq(i.clone()));
    }
    if let Some(i) = &scope.insurer_id {
        q = q.filter(policies::insurer_id.eq(i.clone()));
    }
    if let Some(c) = contract_id {
        q = q.filter(policies::contract_id.eq(c.to_string()));
    }
    if !statuses.is_empty() {
        let words: Vec<&str> = statuses.iter().map(|s| s.as_str()).collect();
        q = q.filter(policies::status.eq_any(words));
    }
    if let Some(a) = after {
        q = q.filter(policies::id.gt(a.to_string()));
    }
    q.load(conn)
}

/// Contracts with an issued policy whose dates move it (`issued` from its start, `active`
/// after its end) on `today`.
pub fn contracts_with_dated_policies(
    conn: &mut DbConn,
    today: NaiveDate,
    limit: i64,
) -> QResult<Vec<String>> {
    let (issued, active) = (PolicyStatus::Issued.as_str(), PolicyStatus::Active.as_str());
    policies::table
        .filter(
            (policies::status
                .eq(issued)
                .and(policies::period_start.le(today)))
            .or(policies::status
                .eq(active)
                .and(policies::period_end.lt(today))),
        )
        .select(policies::contract_id)
        .distinct()
        .limit(limit)
        .load(conn)
}

// ---- claims -----------------------------------------------------------------------------

pub fn insert_claim(conn: &mut DbConn, c: &Claim) -> QResult<()> {
    diesel::insert_into(claims::table)
        .values(c.clone())
        .execute(conn)?;
    Ok(())
}

pub fn save_claim(conn: &mut DbConn, c: &Claim) -> QResult<()> {
    diesel::update(claims::table.find(&c.id))
        .set(c.clone())
        .execute(conn)?;
    Ok(())
}

pub fn find_claim(conn: &mut DbConn, id: &str) -> QResult<Option<Claim>> {
    claims::table
        .find(id)
        .select(Claim::as_select())
        .get_result(conn)
        .optional()
}

/// The open claim (filed, under review, approved) on an installment.
pub fn open_claim_on(conn: &mut DbConn, installment_id: &str) -> QResult<Option<Claim>> {
    claims::table
        .filter(claims::installment_id.eq(installment_id))
        .filter(claims::status.eq_any(ClaimStatus::open_statuses()))
        .select(Claim::as_select())
        .first(conn)
        .optional()
}

/// Whether any claim on the contract is open.
pub fn contract_has_open_claim(conn: &mut DbConn, contract_id: &str) -> QResult<bool> {
    let n: i64 = claims::table
        .filter(claims::contract_id.eq(contract_id))
        .filter(claims::status.eq_any(ClaimStatus::open_statuses()))
        .count()
        .get_result(conn)?;
    Ok(n > 0)
}

/// `limit + 1` claims of the scope, by id.
pub fn list_claims(
    conn: &mut DbConn,
    scope: &Scope,
    statuses: &[ClaimStatus],
    after: Option<&str>,
    limit: i64,
) -> QResult<Vec<Claim>> {
    if scope.nothing {
        return Ok(Vec::new());
    }
    let mut q = claims::table
        .select(Claim::as_select())
        .order(claims::id)
        .limit(limit + 1)
        .into_boxed();
    if let Some(v) = &scope.village_id {
        q = q.filter(claims::village_id.eq(v.clone()));
    }
    if let Some(t) = &scope.township_id {
        q = q.filter(claims::township_id.eq(t.clone()));
    }
    if let Some(i) = &scope.investor_id {
        q = q.filter(claims::investor_id.eq(i.clone()));
    }
    if let Some(i) = &scope.insurer_id {
        q = q.filter(claims::insurer_id.eq(i.clone()));
    }
    if !statuses.is_empty() {
        let words: Vec<&str> = statuses.iter().map(|s| s.as_str()).collect();
        q = q.filter(claims::status.eq_any(words));
    }
    if let Some(a) = after {
        q = q.filter(claims::id.gt(a.to_string()));
    }
    q.load(conn)
}

pub fn insert_recovery(conn: &mut DbConn, r: &Recovery) -> QResult<()> {
    diesel::insert_into(recoveries::table)
        .values(r.clone())
        .execute(conn)?;
    Ok(())
}

/// Installments (with their contract) of insurance-requiring, in-force contracts whose year
/// starts by `horizon` and hasn't ended on `today`, with no issued policy and no reminder
/// sent yet.
pub fn uninsured_years(
    conn: &mut DbConn,
    today: NaiveDate,
    horizon: NaiveDate,
    limit: i64,
) -> QResult<Vec<(String, String)>> {
    use super::schema::{contracts, installments};
    let in_force: Vec<&str> = [
        crate::domain::contract::ContractStatus::Certified,
        crate::domain::contract::ContractStatus::Active,
    ]
    .iter()
    .map(|s| s.as_str())
    .collect();
    let insuring: Vec<&str> = PolicyStatus::ALL
        .iter()
        .copied()
        .filter(|s| s.insures())
        .map(|s| s.as_str())
        .collect();
    installments::table
        .inner_join(contracts::table)
        .filter(contracts::insurance_required.eq(true))
        .filter(contracts::status.eq_any(in_force))
        .filter(
            installments::status
                .ne(crate::domain::installment::InstallmentStatus::Cancelled.as_str()),
        )
        .filter(installments::policy_reminded_at.is_null())
        .filter(installments::period_start.le(horizon))
        .filter(installments::period_end.ge(today))
        .filter(diesel::dsl::not(diesel::dsl::exists(
            policies::table
                .filter(policies::installment_id.eq(installments::id))
                .filter(policies::status.eq_any(insuring)),
        )))
        .select((installments::id, installments::contract_id))
        .limit(limit)
        .load(conn)
}
