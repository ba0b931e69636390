//! Performance insurance policies (履约保证保险), one per contract year: quoted by the
//! operator or the township's staff with the premium and subsidy snapshotted, issued by the
//! insurer, moved by the calendar (`issued → active → expired`), withdrawn while quoted.
//! Issuing year 1 activates a certified contract that requires insurance.

use chrono::{DateTime, Duration, Utc};

use super::contracts::{audit_contract, may_read};
use super::Ctx;
use crate::audit::Actor;
use crate::config::Rules;
use crate::db::contracts as cq;
use crate::db::insurance as iq;
use crate::db::models::{Contract, Policy};
use crate::db::queries::{self, PageReq};
use crate::db::{self, write_tx, DbConn};
use crate::domain::access::Caller;
use crate::domain::calendar::shanghai_date;
use crate::domain::contract::{ContractEvent, ContractStatus};
use crate::domain::installment::InstallmentStatus;
use crate::domain::policy::{premium, PolicyEvent, PolicyStatus};
use crate::domain::roles::Role;
use crate::domain::validate;
use crate::error::{ApiError, FieldError};
use crate::notify::{self, templates::insurance as mail};

/// The scope of the caller's policy and claim lists: the one of its contracts.
pub use super::contracts::scope_of;

/// May the caller read this policy: an insurer its company's (any state); everyone else
/// when they may read its contract.
fn may_read_policy(conn: &mut DbConn, caller: &Caller, p: &Policy) -> Result<bool, ApiError> {
    if caller.is(Role::Insurer) {
        return Ok(caller.insurer_id.as_deref() == Some(p.insurer_id.as_str()));
    }
    let Some(c) = cq::find_contract(conn, &p.contract_id)? else {
        return Ok(false);
    };
    may_read(conn, caller, &c)
}

/// The policy if the caller may read it (its contract settled first), else 404.
fn readable(ctx: &Ctx, conn: &mut DbConn, id: &str) -> Result<Policy, ApiError> {
    let caller = ctx.caller()?;
    let p = iq::find_policy(conn, id)?.ok_or(ApiError::NotFound)?;
    if !may_read_policy(conn, caller, &p)? {
        return Err(ApiError::NotFound);
    }
    if let Some(c) = cq::find_contract(conn, &p.contract_id)? {
        super::rent::settle_for_read(ctx, conn, c)?;
    }
    iq::find_policy(conn, id)?.ok_or(ApiError::NotFound)
}

pub fn get(ctx: &Ctx, conn: &mut DbConn, id: &str) -> Result<Policy, ApiError> {
    readable(ctx, conn, id)
}

/// The caller's policies (scoped by role); `limit + 1` rows.
pub fn list(
    ctx: &Ctx,
    conn: &mut DbConn,
    contract_id: Option<&str>,
    statuses: &[PolicyStatus],
    page: &PageReq,
) -> Result<Vec<Policy>, ApiError> {
    let caller = ctx.caller()?;
    let rows = iq::list_policies(
        conn,
        &scope_of(caller),
        contract_id,
        statuses,
        page.after.as_deref(),
        page.limit,
    )?;
    let mut settled = std::collections::BTreeSet::new();
    let mut out = Vec::with_capacity(rows.len());
    for p in rows {
        if settled.insert(p.contract_id.clone()) {
            if let Some(c) = cq::find_contract(conn, &p.contract_id)? {
                super::rent::settle_for_read(ctx, conn, c)?;
            }
        }
        out.push(iq::find_policy(conn, &p.id)?.unwrap_or(p));
    }
    Ok(out)
}

/// A quote to request.
#[derive(Debug, Clone)]
pub struct NewQuote {
    pub contract_id: String,
    pub year: i64,
    pub insurer_id: String,
}

fn uuid_field(raw: &str, field: &str) -> Result<String, ApiError> {
    uuid::Uuid::parse_str(raw)
        .map(|u| u.to_string())
        .map_err(|_| ApiError::field(field, "must be a UUID"))
}

/// The transferee investor or the township's staff request a quote for a contract year.
/// Checks: 403 (collective, insurer) → 422 body (a contract the caller may not read, an
/// unknown year or insurer) → 409 contract not certified/active, the year ended, its
/// installment defaulted/covered/cancelled → 409 `conflict` a live policy for the year.
pub fn quote(
    ctx: &Ctx,
    conn: &mut DbConn,
    body: Result<NewQuote, ApiError>,
) -> Result<Policy, ApiError> {
    let caller = ctx.caller()?;
    if !caller.has_role(&[Role::Investor, Role::Staff, Role::Admin]) {
        return Err(ApiError::Forbidden(
            "only the transferee and the township's staff request quotes".into(),
        ));
    }
    let q = body?;
    let contract_id = uuid_field(&q.contract_id, "contract_id")?;
    let insurer_id = uuid_field(&q.insurer_id, "insurer_id")?;
    let c = cq::find_contract(conn, &contract_id)?;
    let c = match c {
        Some(c) if may_read(conn, caller, &c)? => c,
        _ => return Err(ApiError::field("contract_id", "no such contract")),
    };
    let mut errors = Vec::new();
    if !(1..=c.years).contains(&q.year) {
        errors.push(FieldError::new(
            "year",
            format!("must be a contract year between 1 and {}", c.years),
        ));
    }
    let insurer = queries::find_insurer(conn, &insurer_id)?;
    if insurer.is_none() {
        errors.push(FieldError::new("insurer_id", "no such insurer"));
    }
    if !errors.is_empty() {
        return Err(ApiError::Validation(errors));
    }
    let (actor, now, rules) = (ctx.actor(), ctx.now, ctx.rules());
    write_tx(conn, |conn| {
        let mut c = cq::find_contract_for_update(conn, &contract_id)?.ok_or(ApiError::NotFound)?;
        super::rent::settle_locked(conn, &mut c, now, rules)?;
        if !c.status.in_force() {
            return Err(ApiError::InvalidState(format!(
                "the contract is {}",
                c.status
            )));
        }
        let i = cq::installments_of(conn, &c.id)?
            .into_iter()
            .find(|i| i.year == q.year)
            .ok_or_else(|| ApiError::InvalidState("the contract has no such year yet".into()))?;
        if matches!(
            i.status,
            InstallmentStatus::Defaulted
                | InstallmentStatus::Covered
                | InstallmentStatus::Cancelled
        ) {
            return Err(ApiError::InvalidState(format!(
                "year {}'s installment is {}",
                i.year, i.status
            )));
        }
        if shanghai_date(now) > i.period_end {
            return Err(ApiError::InvalidState(format!(
                "contract year {} has already ended",
                i.year
            )));
        }
        if iq::live_policy(conn, &c.id, i.year)?.is_some() {
            return Err(ApiError::Conflict(format!(
                "year {} already has a policy",
                i.year
            )));
        }
        let p = premium(i.amount_fen, rules.premium_rate_bp, rules.subsidy_share_bp)
            .ok_or_else(|| ApiError::internal("premium overflow"))?;
        let at = now.naive_utc();
        let policy = Policy {
            id: uuid::Uuid::now_v7().to_string(),
            policy_no: None,
            contract_id: c.id.clone(),
            installment_id: i.id.clone(),
            year: i.year,
            insurer_id: insurer_id.clone(),
            village_id: c.village_id.clone(),
            township_id: c.township_id.clone(),
            investor_id: c.investor_id.clone(),
            status: PolicyStatus::Quoted,
            period_start: i.period_start,
            period_end: i.period_end,
            sum_insured_fen: i.amount_fen,
            premium_rate_bp: rules.premium_rate_bp,
            premium_fen: p.premium_fen,
            subsidy_share_bp: rules.subsidy_share_bp,
            subsidy_fen: p.subsidy_fen,
            holder_premium_fen: p.holder_fen,
            quoted_by: Some(caller.id.clone()),
            issued_by: None,
            issued_at: None,
            cancelled_at: None,
            created_at: at,
            updated_at: at,
        };
        iq::insert_policy(conn, &policy).map_err(db::unique_or(|| {
            ApiError::Conflict(format!("year {} already has a policy", policy.year))
        }))?;
        audit_contract(
            conn,
            actor,
            &c.id,
            "policy.quoted",
            "policy",
            &policy.id,
            None,
            Some(policy.status.as_str()),
            Some(&format!(
                "year {}: sum insured {} fen, premium {} fen (subsidy {} fen)",
                policy.year, policy.sum_insured_fen, policy.premium_fen, policy.subsidy_fen
            )),
            Some(policy.premium_fen),
            now,
        )?;
        Ok(policy)
    })
}

/// An insurer user of the policy's company issues it under its policy number (1–64
/// characters, unique per insurer). → `issued`, or `active` once its period has started;
/// year 1 activates a certified contract. Checks: 404 → 403 → 422 → 409 not quoted → 409
/// `conflict` number taken.
pub fn issue(
    ctx: &Ctx,
    conn: &mut DbConn,
    id: &str,
    policy_no: Result<String, ApiError>,
) -> Result<Policy, ApiError> {
    let caller = ctx.caller()?;
    let p = readable(ctx, conn, id)?;
    if !(caller.is(Role::Insurer) && caller.insurer_id.as_deref() == Some(p.insurer_id.as_str())) {
        return Err(ApiError::Forbidden(
            "only the policy's insurer issues it".into(),
        ));
    }
    let policy_no = policy_no?;
    if let Err(m) = validate::text(&policy_no, 64) {
        return Err(ApiError::field("policy_no", m));
    }
    let (actor, now, rules) = (ctx.actor(), ctx.now, ctx.rules());
    write_tx(conn, |conn| {
        let mut c =
            cq::find_contract_for_update(conn, &p.contract_id)?.ok_or(ApiError::NotFound)?;
        super::rent::settle_locked(conn, &mut c, now, rules)?;
        let mut p = iq::find_policy(conn, id)?.ok_or(ApiError::NotFound)?;
        let from = p.status;
        let issued = from
            .next(PolicyEvent::Issue)
            .ok_or_else(|| ApiError::InvalidState(format!("the policy is {from}")))?;
        let today = shanghai_date(now);
        p.status = issued.by_date(today, p.period_start, p.period_end);
        p.policy_no = Some(policy_no.trim().to_string());
        p.issued_at = Some(now.naive_utc());
        p.issued_by = Some(caller.id.clone());
        p.updated_at = now.naive_utc();
        iq::save_policy(conn, &p).map_err(db::unique_or(|| {
            ApiError::Conflict("this insurer has used that policy number already".into())
        }))?;
        audit_contract(
            conn,
            actor,
            &c.id,
            "policy.issued",
            "policy",
            &p.id,
            Some(from.as_str()),
            Some(p.status.as_str()),
            p.policy_no.as_deref(),
            Some(p.sum_insured_fen),
            now,
        )?;
        if p.year == 1 && c.status == ContractStatus::Certified {
            activate(conn, &mut c, actor, now)?;
        }
        notify_issued(conn, &c, &p, now)?;
        Ok(p)
    })
}

/// Year 1's policy was issued: a certified contract becomes `active`.
fn activate(
    conn: &mut DbConn,
    c: &mut Contract,
    actor: Actor<'_>,
    now: DateTime<Utc>,
) -> Result<(), ApiError> {
    let from = c.status;
    c.status = from
        .next(ContractEvent::Activate)
        .ok_or_else(|| ApiError::internal(format!("a {from} contract cannot activate")))?;
    c.activated_at = Some(now.naive_utc());
    c.updated_at = now.naive_utc();
    cq::save_contract(conn, c)?;
    audit_contract(
        conn,
        actor,
        &c.id,
        "contract.activated",
        "contract",
        &c.id,
        Some(from.as_str()),
        Some(c.status.as_str()),
        Some("year 1's policy issued"),
        None,
        now,
    )
}

fn notify_issued(
    conn: &mut DbConn,
    c: &Contract,
    p: &Policy,
    now: DateTime<Utc>,
) -> Result<(), ApiError> {
    let make = |name: String| mail::PolicyIssued {
        name,
        policy_no: p.policy_no.clone().unwrap_or_default(),
        certification_no: c.certification_no.clone().unwrap_or_default(),
        year: p.year,
        sum_insured_fen: p.sum_insured_fen,
    };
    if let Some(u) = queries::find_user(conn, &c.investor_id)? {
        notify::send(conn, &u.email, &make(c.transferee_legal_name.clone()), now)?;
    }
    for u in queries::org_members(conn, Role::Collective.as_str(), Some(&c.village_id), None)? {
        notify::send(conn, &u.email, &make(u.display_name.clone()), now)?;
    }
    Ok(())
}

/// The holder (the transferee) or the township's staff withdraw a quote. Checks: 404 → 403
/// → body → 409 not quoted.
pub fn cancel(
    ctx: &Ctx,
    conn: &mut DbConn,
    id: &str,
    valid_body: Result<(), ApiError>,
) -> Result<Policy, ApiError> {
    let caller = ctx.caller()?;
    let p = readable(ctx, conn, id)?;
    let holder = caller.is(Role::Investor) && caller.id == p.investor_id;
    if !(holder || caller.oversees_township(&p.township_id)) {
        return Err(ApiError::Forbidden(
            "only the holder and the township's staff withdraw a quote".into(),
        ));
    }
    valid_body?;
    let (actor, now) = (ctx.actor(), ctx.now);
    write_tx(conn, |conn| {
        let c = cq::find_contract_for_update(conn, &p.contract_id)?.ok_or(ApiError::NotFound)?;
        let mut p = iq::find_policy(conn, id)?.ok_or(ApiError::NotFound)?;
        let from = p.status;
        p.status = from
            .next(PolicyEvent::Withdraw)
            .ok_or_else(|| ApiError::InvalidState(format!("the policy is {from}")))?;
        p.cancelled_at = Some(now.naive_utc());
        p.updated_at = now.naive_utc();
        iq::save_policy(conn, &p)?;
        audit_contract(
            conn,
            actor,
            &c.id,
            "policy.withdrawn",
            "policy",
            &p.id,
            Some(from.as_str()),
            Some(p.status.as_str()),
            None,
            None,
            now,
        )?;
        Ok(p)
    })
}

/// Whether a policy of the contract moves with the calendar on `today`.
pub(crate) fn dates_due(policies: &[Policy], today: chrono::NaiveDate) -> bool {
    policies
        .iter()
        .any(|p| p.status.by_date(today, p.period_start, p.period_end) != p.status)
}

/// Moves the contract's issued policies by the calendar (`issued → active → expired`); the
/// caller holds the contract's lock.
pub(crate) fn settle_dates(
    conn: &mut DbConn,
    c: &Contract,
    now: DateTime<Utc>,
) -> Result<(), ApiError> {
    let today = shanghai_date(now);
    for mut p in iq::policies_of_contract(conn, &c.id)? {
        let to = p.status.by_date(today, p.period_start, p.period_end);
        if to != p.status {
            let from = p.status;
            p.status = to;
            p.updated_at = now.naive_utc();
            iq::save_policy(conn, &p)?;
            audit_contract(
                conn,
                Actor::SYSTEM,
                &c.id,
                "policy.dated",
                "policy",
                &p.id,
                Some(from.as_str()),
                Some(to.as_str()),
                Some(&format!("period {}..{}", p.period_start, p.period_end)),
                None,
                now,
            )?;
        }
    }
    Ok(())
}

/// Cancels, at a termination, the contract's quotes and the issued policies whose period
/// hasn't started; the caller holds the contract's lock.
pub(crate) fn cancel_on_termination(
    conn: &mut DbConn,
    c: &Contract,
    actor: Actor<'_>,
    now: DateTime<Utc>,
) -> Result<(), ApiError> {
    let today = shanghai_date(now);
    for mut p in iq::policies_of_contract(conn, &c.id)? {
        let event = match p.status {
            PolicyStatus::Quoted => PolicyEvent::Withdraw,
            PolicyStatus::Issued if p.period_start > today => PolicyEvent::TerminateBeforeStart,
            _ => continue,
        };
        let from = p.status;
        let Some(to) = from.next(event) else { continue };
        p.status = to;
        p.cancelled_at = Some(now.naive_utc());
        p.updated_at = now.naive_utc();
        iq::save_policy(conn, &p)?;
        audit_contract(
            conn,
            actor,
            &c.id,
            "policy.cancelled",
            "policy",
            &p.id,
            Some(from.as_str()),
            Some(to.as_str()),
            Some("contract terminated"),
            None,
            now,
        )?;
    }
    Ok(())
}

/// The worker's insurance pass: policies moved by the calendar, and the staff reminders
/// about insurance-requiring contract years starting within `policy_reminder_days` without
/// an issued policy (each once).
pub fn settle_due(conn: &mut DbConn, now: DateTime<Utc>, rules: &Rules) -> Result<usize, ApiError> {
    let today = shanghai_date(now);
    let mut failed = 0;
    for id in iq::contracts_with_dated_policies(conn, today, 500)? {
        let r = write_tx(conn, |conn| {
            if let Some(mut c) = cq::find_contract_for_update(conn, &id)? {
                super::rent::settle_locked(conn, &mut c, now, rules)?;
            }
            Ok(())
        });
        if let Err(e) = r {
            failed += 1;
            tracing::warn!(contract = %id, error = %e, "settling a contract's policies failed");
        }
    }
    let horizon = today + Duration::days(rules.policy_reminder_days.max(0));
    for (installment_id, contract_id) in iq::uninsured_years(conn, today, horizon, 500)? {
        let r = write_tx(conn, |conn| {
            let Some(c) = cq::find_contract_for_update(conn, &contract_id)? else {
                return Ok(());
            };
            let Some(mut i) = cq::find_installment(conn, &installment_id)? else {
                return Ok(());
            };
            let insured = iq::live_policy(conn, &c.id, i.year)?.is_some_and(|p| p.status.insures());
            if i.policy_reminded_at.is_some()
                || insured
                || !c.insurance_required
                || !c.status.in_force()
            {
                return Ok(());
            }
            i.policy_reminded_at = Some(now.naive_utc());
            i.updated_at = now.naive_utc();
            cq::save_installment(conn, &i)?;
            for u in queries::org_members(conn, Role::Staff.as_str(), None, Some(&c.township_id))? {
                let m = mail::InsuranceMissing {
                    name: u.display_name,
                    certification_no: c.certification_no.clone().unwrap_or_default(),
                    year: i.year,
                    period_start: i.period_start,
                };
                notify::send(conn, &u.email, &m, now)?;
            }
            Ok(())
        });
        if let Err(e) = r {
            failed += 1;
            tracing::warn!(installment = %installment_id, error = %e, "insurance reminder failed");
        }
    }
    Ok(failed)
}
