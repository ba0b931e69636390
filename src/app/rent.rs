//! The rent schedule (租金): installments created at certification, moved by the calendar
//! (due, overdue, defaulted) by the worker and by any read that finds them due, payments
//! recorded by the collective or the township's staff, the reminders (each once), and the
//! completion of a contract whose term has passed with nothing outstanding.

use chrono::{DateTime, NaiveDate, Utc};

use super::contracts::{audit_contract, may_read, scope_of};
use super::Ctx;
use crate::audit::Actor;
use crate::config::Rules;
use crate::db::contracts as cq;
use crate::db::insurance as iq;
use crate::db::models::{Contract, Installment, Payment};
use crate::db::queries::{self, PageReq};
use crate::db::{self, write_tx, DbConn};
use crate::domain::calendar::shanghai_date;
use crate::domain::contract::ContractEvent;
use crate::domain::installment::{self, InstallmentStatus, PaymentKind, Reminder};
use crate::domain::roles::Role;
use crate::domain::validate;
use crate::error::{ApiError, FieldError};
use crate::notify::{self, templates::contracts as mail};

/// The schedule of a contract certified on `certified_on`, inserted `scheduled`.
pub(crate) fn create_schedule(
    conn: &mut DbConn,
    c: &Contract,
    certified_on: NaiveDate,
    actor: Actor<'_>,
    now: DateTime<Utc>,
) -> Result<Vec<Installment>, ApiError> {
    let due_days = u32::try_from(c.rent_due_days_before_year.max(0)).unwrap_or(u32::MAX);
    let periods = installment::schedule(
        c.term_start,
        c.term_end,
        c.annual_rent_fen,
        due_days,
        certified_on,
    )
    .ok_or_else(|| ApiError::internal("the rent schedule does not fit"))?;
    let at = now.naive_utc();
    let rows: Vec<Installment> = periods
        .iter()
        .map(|p| Installment {
            id: uuid::Uuid::now_v7().to_string(),
            contract_id: c.id.clone(),
            village_id: c.village_id.clone(),
            township_id: c.township_id.clone(),
            investor_id: c.investor_id.clone(),
            year: i64::from(p.year),
            period_start: p.start,
            period_end: p.end,
            due_date: p.due,
            amount_fen: p.amount_fen,
            paid_fen: 0,
            insurer_paid_fen: 0,
            status: InstallmentStatus::Scheduled,
            reminded_week_before_at: None,
            reminded_due_at: None,
            reminded_overdue_at: None,
            default_notified_at: None,
            defaulted_at: None,
            policy_reminded_at: None,
            created_at: at,
            updated_at: at,
        })
        .collect();
    cq::insert_installments(conn, &rows)?;
    for i in &rows {
        audit_contract(
            conn,
            actor,
            &c.id,
            "installment.scheduled",
            "installment",
            &i.id,
            None,
            Some(i.status.as_str()),
            Some(&format!(
                "year {}: {}..{}, due {}",
                i.year, i.period_start, i.period_end, i.due_date
            )),
            Some(i.amount_fen),
            now,
        )?;
    }
    Ok(rows)
}

/// Records money received on an installment (a payment or the applied deposit): the payment
/// row, `paid_fen`, and `paid` when nothing is left outstanding. The caller checked the
/// amount against what is outstanding.
pub(crate) fn record_money(
    conn: &mut DbConn,
    c: &Contract,
    i: &mut Installment,
    p: &Payment,
    actor: Actor<'_>,
    now: DateTime<Utc>,
) -> Result<(), ApiError> {
    cq::insert_payment(conn, p)?;
    i.paid_fen = i
        .paid_fen
        .checked_add(p.amount_fen)
        .ok_or_else(|| ApiError::internal("payment overflow"))?;
    let from = i.status;
    i.status = from.after_money(i.outstanding_fen(), false);
    i.updated_at = now.naive_utc();
    cq::save_installment(conn, i)?;
    audit_contract(
        conn,
        actor,
        &c.id,
        match p.kind {
            PaymentKind::Deposit => "payment.deposit_applied",
            PaymentKind::Payment => "payment.recorded",
        },
        "payment",
        &p.id,
        None,
        None,
        Some(&format!("year {}, receipt {}", i.year, p.receipt_ref)),
        Some(p.amount_fen),
        now,
    )?;
    if i.status != from {
        audit_contract(
            conn,
            actor,
            &c.id,
            "installment.paid",
            "installment",
            &i.id,
            Some(from.as_str()),
            Some(i.status.as_str()),
            None,
            Some(i.paid_fen),
            now,
        )?;
    }
    Ok(())
}

/// Whether anything on this contract is due on `today` (a date move, a reminder, the
/// completion): reads settle only when it is.
fn anything_due(c: &Contract, schedule: &[Installment], today: NaiveDate, rules: &Rules) -> bool {
    let grace = grace_days(rules);
    let certified_on = c.certified_at.map(|t| shanghai_date(t.and_utc()));
    let moves = schedule.iter().any(|i| {
        i.status
            .by_date(today, i.due_date, i.outstanding_fen(), grace)
            != i.status
            || certified_on.is_some_and(|on| !owed_reminders(i, today, on).is_empty())
    });
    moves || completes(c, schedule, today)
}

fn grace_days(rules: &Rules) -> u32 {
    u32::try_from(rules.grace_days.max(0)).unwrap_or(u32::MAX)
}

/// In force, the term passed, and every installment settled.
fn completes(c: &Contract, schedule: &[Installment], today: NaiveDate) -> bool {
    c.status.in_force()
        && today > c.term_end
        && schedule.iter().all(|i| {
            matches!(
                i.status,
                InstallmentStatus::Paid | InstallmentStatus::Covered | InstallmentStatus::Cancelled
            )
        })
}

/// The reminders owed now and not sent yet, and those whose date passed before the
/// certification (never sent; marked handled).
fn owed_reminders(
    i: &Installment,
    today: NaiveDate,
    certified_on: NaiveDate,
) -> Vec<(Reminder, bool)> {
    Reminder::ALL
        .iter()
        .copied()
        .filter(|r| sent_at(i, *r).is_none())
        .filter_map(|r| {
            if r.owed(i.status, today, i.due_date, certified_on) {
                Some((r, true))
            } else if r == Reminder::WeekBefore
                && i.status.is_open()
                && i.due_date
                    .checked_sub_days(chrono::Days::new(7))
                    .is_some_and(|d| d < certified_on)
            {
                Some((r, false))
            } else {
                None
            }
        })
        .collect()
}

fn sent_at(i: &Installment, r: Reminder) -> Option<chrono::NaiveDateTime> {
    match r {
        Reminder::WeekBefore => i.reminded_week_before_at,
        Reminder::DueToday => i.reminded_due_at,
        Reminder::Overdue => i.reminded_overdue_at,
        Reminder::Default => i.default_notified_at,
    }
}

fn mark_sent(i: &mut Installment, r: Reminder, at: chrono::NaiveDateTime) {
    let slot = match r {
        Reminder::WeekBefore => &mut i.reminded_week_before_at,
        Reminder::DueToday => &mut i.reminded_due_at,
        Reminder::Overdue => &mut i.reminded_overdue_at,
        Reminder::Default => &mut i.default_notified_at,
    };
    *slot = Some(at);
}

/// Performs everything due on a contract whose row the caller holds locked: installments
/// moved by the calendar, the reminders owed (each once), and the completion.
pub(crate) fn settle_locked(
    conn: &mut DbConn,
    c: &mut Contract,
    now: DateTime<Utc>,
    rules: &Rules,
) -> Result<(), ApiError> {
    let today = shanghai_date(now);
    let Some(certified_at) = c.certified_at else {
        return Ok(());
    };
    let certified_on = shanghai_date(certified_at.and_utc());
    let grace = grace_days(rules);
    super::policies::settle_dates(conn, c, now)?;
    let mut schedule = cq::installments_of(conn, &c.id)?;
    for i in schedule.iter_mut() {
        let mut changed = false;
        let to = i
            .status
            .by_date(today, i.due_date, i.outstanding_fen(), grace);
        if to != i.status {
            let from = i.status;
            i.status = to;
            if to == InstallmentStatus::Defaulted {
                i.defaulted_at = Some(now.naive_utc());
            }
            changed = true;
            audit_contract(
                conn,
                Actor::SYSTEM,
                &c.id,
                "installment.dated",
                "installment",
                &i.id,
                Some(from.as_str()),
                Some(to.as_str()),
                Some(&format!("due {}", i.due_date)),
                Some(i.outstanding_fen()),
                now,
            )?;
        }
        for (r, send) in owed_reminders(i, today, certified_on) {
            mark_sent(i, r, now.naive_utc());
            changed = true;
            if send {
                send_reminder(conn, c, i, r, now)?;
            }
        }
        if changed {
            i.updated_at = now.naive_utc();
            cq::save_installment(conn, i)?;
        }
    }
    if completes(c, &schedule, today) && !iq::contract_has_open_claim(conn, &c.id)? {
        let from = c.status;
        c.status = from
            .next(ContractEvent::Complete)
            .ok_or_else(|| ApiError::internal(format!("a {from} contract cannot complete")))?;
        c.completed_at = Some(now.naive_utc());
        c.updated_at = now.naive_utc();
        cq::save_contract(conn, c)?;
        audit_contract(
            conn,
            Actor::SYSTEM,
            &c.id,
            "contract.completed",
            "contract",
            &c.id,
            Some(from.as_str()),
            Some(c.status.as_str()),
            None,
            None,
            now,
        )?;
    }
    Ok(())
}

fn send_reminder(
    conn: &mut DbConn,
    c: &Contract,
    i: &Installment,
    r: Reminder,
    now: DateTime<Utc>,
) -> Result<(), ApiError> {
    let notice = match r {
        Reminder::WeekBefore => mail::RentNotice::DueInWeek,
        Reminder::DueToday => mail::RentNotice::DueToday,
        Reminder::Overdue => mail::RentNotice::Overdue,
        Reminder::Default => mail::RentNotice::Default,
    };
    let make = |name: String| mail::RentReminder {
        notice,
        name,
        certification_no: c.certification_no.clone().unwrap_or_default(),
        year: i.year,
        due_date: i.due_date,
        outstanding_fen: i.outstanding_fen(),
    };
    if r == Reminder::Default {
        let mut people =
            queries::org_members(conn, Role::Collective.as_str(), Some(&c.village_id), None)?;
        people.extend(queries::org_members(
            conn,
            Role::Staff.as_str(),
            None,
            Some(&c.township_id),
        )?);
        for u in people {
            notify::send(conn, &u.email, &make(u.display_name.clone()), now)?;
        }
    } else if let Some(u) = queries::find_user(conn, &c.investor_id)? {
        notify::send(conn, &u.email, &make(c.transferee_legal_name.clone()), now)?;
    }
    Ok(())
}

/// The contract brought up to date for a read: settles (under the row lock) only when
/// something is due; a failure is logged and the contract read as stored, so one bad record
/// never breaks a page.
pub(crate) fn settle_for_read(
    ctx: &Ctx,
    conn: &mut DbConn,
    c: Contract,
) -> Result<Contract, ApiError> {
    if c.certified_at.is_none() {
        return Ok(c);
    }
    let today = shanghai_date(ctx.now);
    let schedule = cq::installments_of(conn, &c.id)?;
    let policies = iq::policies_of_contract(conn, &c.id)?;
    if !anything_due(&c, &schedule, today, ctx.rules())
        && !super::policies::dates_due(&policies, today)
    {
        return Ok(c);
    }
    let (now, rules) = (ctx.now, ctx.rules());
    let id = c.id.clone();
    // Not the request's action: a side transaction, so an Idempotency-Key claim isn't marked.
    match db::side_tx(conn, |conn| {
        let mut c = cq::find_contract_for_update(conn, &id)?.ok_or(ApiError::NotFound)?;
        settle_locked(conn, &mut c, now, rules)?;
        Ok(c)
    }) {
        Ok(c) => Ok(c),
        Err(e) => {
            tracing::warn!(contract = %id, error = %e, "settling a contract for a read failed");
            Ok(c)
        }
    }
}

/// What a worker pass did.
#[derive(Debug, Default, Clone, Copy)]
pub struct Pass {
    pub due: usize,
    pub failed: usize,
}

/// The worker's pass: every contract with something due (installment dates, reminders,
/// completion), each in its own transaction; one failing contract never stops the others.
pub fn settle_due(conn: &mut DbConn, now: DateTime<Utc>, rules: &Rules) -> Result<Pass, ApiError> {
    let today = shanghai_date(now);
    let mut ids = cq::contracts_with_due_installments(conn, today, grace_days(rules), 500)?;
    ids.extend(cq::contracts_past_term(
        conn,
        &cq::Scope::default(),
        today,
        500,
    )?);
    ids.sort();
    ids.dedup();
    let mut pass = Pass::default();
    for id in ids {
        pass.due += 1;
        let r = write_tx(conn, |conn| {
            if let Some(mut c) = cq::find_contract_for_update(conn, &id)? {
                settle_locked(conn, &mut c, now, rules)?;
            }
            Ok(())
        });
        if let Err(e) = r {
            pass.failed += 1;
            tracing::warn!(contract = %id, error = %e, "settling a contract failed");
        }
    }
    Ok(pass)
}

/// The installments of a contract the caller may read (empty before certification).
pub fn installments_of_contract(
    ctx: &Ctx,
    conn: &mut DbConn,
    contract_id: &str,
) -> Result<Vec<Installment>, ApiError> {
    let c = super::contracts::readable(ctx, conn, contract_id)?;
    let mut rows = cq::installments_of(conn, &c.id)?;
    if let Some(ins) = ctx.caller()?.insurer_id.clone() {
        // An insurer sees the years its company's policies cover.
        let covered: Vec<String> = crate::db::insurance::policies_of_contract(conn, &c.id)?
            .into_iter()
            .filter(|p| p.insurer_id == ins)
            .map(|p| p.installment_id)
            .collect();
        rows.retain(|i| covered.contains(&i.id));
    }
    Ok(rows)
}

/// An installment and its contract, if the caller may read the contract (settled first).
fn readable_installment(
    ctx: &Ctx,
    conn: &mut DbConn,
    id: &str,
) -> Result<(Contract, Installment), ApiError> {
    let caller = ctx.caller()?;
    let i = cq::find_installment(conn, id)?.ok_or(ApiError::NotFound)?;
    let c = cq::find_contract(conn, &i.contract_id)?.ok_or(ApiError::NotFound)?;
    let visible = match (&caller.role, &caller.insurer_id) {
        // An insurer sees only the installments its company's policies cover.
        (Role::Insurer, Some(ins)) => {
            crate::db::insurance::insurer_covers_installment(conn, ins, &i.id)?
        }
        (Role::Insurer, None) => false,
        _ => may_read(conn, caller, &c)?,
    };
    if !visible {
        return Err(ApiError::NotFound);
    }
    let c = settle_for_read(ctx, conn, c)?;
    let i = cq::find_installment(conn, id)?.ok_or(ApiError::NotFound)?;
    Ok((c, i))
}

/// The caller's installments (scoped by role), filtered; `limit + 1` rows.
pub fn list_installments(
    ctx: &Ctx,
    conn: &mut DbConn,
    statuses: &[InstallmentStatus],
    township_id: Option<&str>,
    village_id: Option<&str>,
    page: &PageReq,
) -> Result<Vec<Installment>, ApiError> {
    let caller = ctx.caller()?;
    let scope = scope_of(caller);
    // A filter on a state the calendar moves installments into (the overdue overview) first
    // settles the contracts whose installments it has moved on since they were stored, so
    // the list answers by the calendar even before the worker's next pass.
    if statuses.iter().any(|s| {
        matches!(
            s,
            InstallmentStatus::Due | InstallmentStatus::Overdue | InstallmentStatus::Defaulted
        )
    }) {
        let stale = cq::contracts_with_stale_installments(
            conn,
            &scope,
            township_id,
            village_id,
            shanghai_date(ctx.now),
            grace_days(ctx.rules()),
            page.limit + 1,
        )?;
        for id in stale {
            if let Some(c) = cq::find_contract(conn, &id)? {
                settle_for_read(ctx, conn, c)?;
            }
        }
    }
    let rows = cq::list_installments(
        conn,
        &scope,
        statuses,
        township_id,
        village_id,
        page.after.as_deref(),
        page.limit,
    )?;
    // Bring each page row's contract up to date (reads settle only what they return).
    let mut seen = std::collections::BTreeSet::new();
    let mut out = Vec::with_capacity(rows.len());
    for i in rows {
        if seen.insert(i.contract_id.clone()) {
            if let Some(c) = cq::find_contract(conn, &i.contract_id)? {
                settle_for_read(ctx, conn, c)?;
            }
        }
        out.push(cq::find_installment(conn, &i.id)?.unwrap_or(i));
    }
    // A row the calendar just moved out of the statuses asked for is not shown.
    out.retain(|i| statuses.is_empty() || statuses.contains(&i.status));
    Ok(out)
}

/// The payments of an installment the caller may read; `limit + 1` rows.
pub fn payments_of(
    ctx: &Ctx,
    conn: &mut DbConn,
    installment_id: &str,
    page: &PageReq,
) -> Result<Vec<Payment>, ApiError> {
    let (_, i) = readable_installment(ctx, conn, installment_id)?;
    Ok(cq::payments_of(
        conn,
        &i.id,
        page.after.as_deref(),
        page.limit,
    )?)
}

/// A payment to record.
#[derive(Debug, Clone)]
pub struct NewPayment {
    pub amount_fen: i64,
    pub received_on: NaiveDate,
    pub receipt_ref: String,
}

/// The owner collective or the township's staff record rent received. Checks: 404 → 403 →
/// 422 body (amount ≥ 1, date not in the future, receipt) → 409 paid, covered or cancelled
/// → 422 `amount_fen` above what is outstanding.
pub fn record_payment(
    ctx: &Ctx,
    conn: &mut DbConn,
    installment_id: &str,
    body: Result<NewPayment, ApiError>,
) -> Result<(Payment, Installment), ApiError> {
    let caller = ctx.caller()?;
    let (c, _) = readable_installment(ctx, conn, installment_id)?;
    if !(caller.is_collective_of(&c.village_id) || caller.oversees_township(&c.township_id)) {
        return Err(ApiError::Forbidden(
            "only the owner collective and the township's staff record payments".into(),
        ));
    }
    let body = body?;
    let mut errors = Vec::new();
    if body.amount_fen < 1 {
        errors.push(FieldError::new("amount_fen", "must be at least 1 fen"));
    }
    if body.received_on > shanghai_date(ctx.now) {
        errors.push(FieldError::new("received_on", "must not be in the future"));
    }
    if let Err(m) = validate::text(&body.receipt_ref, 100) {
        errors.push(FieldError::new("receipt_ref", m));
    }
    if !errors.is_empty() {
        return Err(ApiError::Validation(errors));
    }
    let (actor, now, rules) = (ctx.actor(), ctx.now, ctx.rules());
    write_tx(conn, |conn| {
        let mut c = cq::find_contract_for_update(conn, &c.id)?.ok_or(ApiError::NotFound)?;
        settle_locked(conn, &mut c, now, rules)?;
        let mut i = cq::find_installment(conn, installment_id)?.ok_or(ApiError::NotFound)?;
        if !i.status.is_open() {
            return Err(ApiError::InvalidState(format!(
                "the installment is {}",
                i.status
            )));
        }
        if iq::open_claim_on(conn, &i.id)?.is_some() {
            return Err(ApiError::InvalidState(
                "a claim on this installment is open".into(),
            ));
        }
        if body.amount_fen > i.outstanding_fen() {
            return Err(ApiError::field(
                "amount_fen",
                format!(
                    "must not exceed what is outstanding ({} fen)",
                    i.outstanding_fen()
                ),
            ));
        }
        let p = Payment {
            id: uuid::Uuid::now_v7().to_string(),
            installment_id: i.id.clone(),
            contract_id: c.id.clone(),
            amount_fen: body.amount_fen,
            received_on: body.received_on,
            receipt_ref: body.receipt_ref.trim().to_string(),
            kind: PaymentKind::Payment,
            recorded_by: Some(caller.id.clone()),
            created_at: now.naive_utc(),
        };
        record_money(conn, &c, &mut i, &p, actor, now)?;
        settle_locked(conn, &mut c, now, rules)?;
        let i = cq::find_installment(conn, installment_id)?.ok_or(ApiError::NotFound)?;
        Ok((p, i))
    })
}
