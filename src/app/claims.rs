//! Claims (理赔) on a defaulted installment and the recovery (追偿) from the operator: filed by
//! the collective or the township's staff, decided and paid by the insurer, whose payout
//! covers the installment; recoveries accumulate up to the payout.

use chrono::{DateTime, NaiveDate, Utc};

use super::contracts::{audit_contract, may_read};
use super::policies::scope_of;
use super::Ctx;
use crate::audit::Actor;
use crate::db::contracts as cq;
use crate::db::insurance as iq;
use crate::db::listings as lq;
use crate::db::models::{Claim, Contract, Installment, Recovery};
use crate::db::queries::{self, PageReq};
use crate::db::{self, write_tx, DbConn};
use crate::domain::access::Caller;
use crate::domain::calendar::{shanghai_date, shanghai_year};
use crate::domain::claim::{approvable, claimable, recoverable, ClaimEvent, ClaimStatus};
use crate::domain::installment::InstallmentStatus;
use crate::domain::numbering::{claim_counter, claim_no};
use crate::domain::policy::PolicyEvent;
use crate::domain::roles::Role;
use crate::domain::validate;
use crate::error::{ApiError, FieldError};
use crate::notify::{self, templates::insurance as mail};

/// May the caller read this claim: the insurer its company's; the others when they may read
/// the contract (the collective its village's, staff their township's, the investor its own).
pub(crate) fn may_read_claim(
    conn: &mut DbConn,
    caller: &Caller,
    c: &Claim,
) -> Result<bool, ApiError> {
    if caller.is(Role::Insurer) {
        return Ok(caller.insurer_id.as_deref() == Some(c.insurer_id.as_str()));
    }
    let Some(contract) = cq::find_contract(conn, &c.contract_id)? else {
        return Ok(false);
    };
    may_read(conn, caller, &contract)
}

fn readable(ctx: &Ctx, conn: &mut DbConn, id: &str) -> Result<Claim, ApiError> {
    let caller = ctx.caller()?;
    let c = iq::find_claim(conn, id)?.ok_or(ApiError::NotFound)?;
    if !may_read_claim(conn, caller, &c)? {
        return Err(ApiError::NotFound);
    }
    Ok(c)
}

pub fn get(ctx: &Ctx, conn: &mut DbConn, id: &str) -> Result<Claim, ApiError> {
    readable(ctx, conn, id)
}

/// The caller's claims (scoped by role); `limit + 1` rows.
pub fn list(
    ctx: &Ctx,
    conn: &mut DbConn,
    statuses: &[ClaimStatus],
    page: &PageReq,
) -> Result<Vec<Claim>, ApiError> {
    let caller = ctx.caller()?;
    Ok(iq::list_claims(
        conn,
        &scope_of(caller),
        statuses,
        page.after.as_deref(),
        page.limit,
    )?)
}

/// A claim to file.
#[derive(Debug, Clone)]
pub struct NewClaim {
    pub installment_id: String,
    pub note: String,
}

/// The owner collective or the township's staff file a claim on a defaulted installment
/// whose year's policy was issued before the default. Checks: 403 (investor, insurer) → 422
/// body (an installment the caller may not read) → 409 not defaulted → 409 `conflict` an
/// open claim already (checked before the policy, which that claim has made `claimed`) → 409
/// no such policy.
pub fn file(
    ctx: &Ctx,
    conn: &mut DbConn,
    body: Result<NewClaim, ApiError>,
) -> Result<Claim, ApiError> {
    let caller = ctx.caller()?;
    if !caller.has_role(&[Role::Collective, Role::Staff, Role::Admin]) {
        return Err(ApiError::Forbidden(
            "only the owner collective and the township's staff file claims".into(),
        ));
    }
    let b = body?;
    let installment_id = uuid::Uuid::parse_str(&b.installment_id)
        .map(|u| u.to_string())
        .map_err(|_| ApiError::field("installment_id", "must be a UUID"))?;
    let contract = match cq::find_installment(conn, &installment_id)? {
        Some(i) => cq::find_contract(conn, &i.contract_id)?,
        None => None,
    };
    let contract = match contract {
        Some(c) if may_read(conn, caller, &c)? => c,
        _ => return Err(ApiError::field("installment_id", "no such installment")),
    };
    if let Err(m) = validate::multiline_text(&b.note, 2000) {
        return Err(ApiError::field("note", m));
    }
    let (actor, now, rules) = (ctx.actor(), ctx.now, ctx.rules());
    write_tx(conn, |conn| {
        let mut c = cq::find_contract_for_update(conn, &contract.id)?.ok_or(ApiError::NotFound)?;
        super::rent::settle_locked(conn, &mut c, now, rules)?;
        let i = cq::find_installment(conn, &installment_id)?.ok_or(ApiError::NotFound)?;
        if i.status != InstallmentStatus::Defaulted {
            return Err(ApiError::InvalidState(format!(
                "the installment is {}; only a defaulted one is claimed",
                i.status
            )));
        }
        // Before the policy check: the open claim has moved the policy to `claimed`.
        if iq::open_claim_on(conn, &i.id)?.is_some() {
            return Err(ApiError::Conflict(
                "this installment has an open claim already".into(),
            ));
        }
        let policy = iq::live_policy(conn, &c.id, i.year)?
            .filter(|p| {
                p.status.next(PolicyEvent::Claim).is_some()
                    && match (p.issued_at, i.defaulted_at) {
                        (Some(issued), Some(defaulted)) => issued <= defaulted,
                        (Some(_), None) => true,
                        _ => false,
                    }
            })
            .ok_or_else(|| {
                ApiError::InvalidState(format!(
                    "year {} has no policy issued before the default",
                    i.year
                ))
            })?;
        let insurer = queries::find_insurer(conn, &policy.insurer_id)?
            .ok_or_else(|| ApiError::internal("insurer vanished"))?;
        let year = shanghai_year(now);
        let seq = lq::next_counter(conn, &claim_counter(&insurer.id, year))?;
        let at = now.naive_utc();
        let claim = Claim {
            id: uuid::Uuid::now_v7().to_string(),
            claim_no: claim_no(&insurer.code, year, seq),
            policy_id: policy.id.clone(),
            installment_id: i.id.clone(),
            contract_id: c.id.clone(),
            insurer_id: insurer.id.clone(),
            village_id: c.village_id.clone(),
            township_id: c.township_id.clone(),
            investor_id: c.investor_id.clone(),
            status: ClaimStatus::Filed,
            claimed_fen: claimable(i.outstanding_fen(), policy.sum_insured_fen),
            approved_fen: None,
            paid_fen: 0,
            recovered_fen: 0,
            note: b.note.trim().to_string(),
            decided_reason: None,
            payment_ref: None,
            filed_by: Some(caller.id.clone()),
            created_at: at,
            updated_at: at,
        };
        iq::insert_claim(conn, &claim).map_err(db::unique_or(|| {
            ApiError::Conflict("this installment has an open claim already".into())
        }))?;
        audit_contract(
            conn,
            actor,
            &c.id,
            "claim.filed",
            "claim",
            &claim.id,
            None,
            Some(claim.status.as_str()),
            Some(&claim.claim_no),
            Some(claim.claimed_fen),
            now,
        )?;
        let mut policy = policy;
        let pfrom = policy.status;
        if let Some(to) = pfrom.next(PolicyEvent::Claim) {
            policy.status = to;
            policy.updated_at = at;
            iq::save_policy(conn, &policy)?;
            audit_contract(
                conn,
                actor,
                &c.id,
                "policy.claimed",
                "policy",
                &policy.id,
                Some(pfrom.as_str()),
                Some(to.as_str()),
                Some(&claim.claim_no),
                None,
                now,
            )?;
        }
        tell_operator(
            conn,
            &c,
            &claim,
            &i,
            mail::ClaimNotice::Filed,
            claim.claimed_fen,
            now,
        )?;
        Ok(claim)
    })
}

fn tell_operator(
    conn: &mut DbConn,
    c: &Contract,
    claim: &Claim,
    i: &Installment,
    notice: mail::ClaimNotice,
    amount_fen: i64,
    now: DateTime<Utc>,
) -> Result<(), ApiError> {
    if let Some(u) = queries::find_user(conn, &c.investor_id)? {
        let m = mail::ClaimMail {
            notice,
            name: c.transferee_legal_name.clone(),
            claim_no: claim.claim_no.clone(),
            year: i.year,
            amount_fen,
        };
        notify::send(conn, &u.email, &m, now)?;
    }
    Ok(())
}

/// An insurer decision on a claim.
#[derive(Debug, Clone)]
pub enum Decision {
    Review,
    Approve { approved_fen: Option<i64> },
    Reject { reason: String },
    Pay { payment_ref: String },
    WriteOff { reason: String },
}

/// The claim's insurer decides: review, approve (1 ≤ approved ≤ claimed, default claimed),
/// reject (the policy returns to the state its dates give), pay (the installment's
/// `insurer_paid_fen`; `covered` when nothing is left), write off. Checks: 404 → 403 (not
/// the claim's insurer) → 422 body → 409 state.
pub fn decide(
    ctx: &Ctx,
    conn: &mut DbConn,
    id: &str,
    decision: Result<Decision, ApiError>,
) -> Result<Claim, ApiError> {
    let caller = ctx.caller()?;
    let claim = readable(ctx, conn, id)?;
    require_insurer(caller, &claim)?;
    let d = decision?;
    match &d {
        Decision::Reject { reason } | Decision::WriteOff { reason } => {
            if let Err(m) = validate::multiline_text(reason, 2000) {
                return Err(ApiError::field("reason", m));
            }
        }
        Decision::Pay { payment_ref } => {
            if let Err(m) = validate::text(payment_ref, 100) {
                return Err(ApiError::field("payment_ref", m));
            }
        }
        Decision::Approve {
            approved_fen: Some(a),
        } if !approvable(*a, claim.claimed_fen) => {
            return Err(ApiError::field(
                "approved_fen",
                format!(
                    "must be between 1 and the claimed {} fen",
                    claim.claimed_fen
                ),
            ));
        }
        _ => {}
    }
    let (actor, now, rules) = (ctx.actor(), ctx.now, ctx.rules());
    write_tx(conn, |conn| {
        let mut c =
            cq::find_contract_for_update(conn, &claim.contract_id)?.ok_or(ApiError::NotFound)?;
        super::rent::settle_locked(conn, &mut c, now, rules)?;
        let mut claim = iq::find_claim(conn, id)?.ok_or(ApiError::NotFound)?;
        let from = claim.status;
        let (event, action) = match &d {
            Decision::Review => (ClaimEvent::Review, "claim.under_review"),
            Decision::Approve { .. } => (ClaimEvent::Approve, "claim.approved"),
            Decision::Reject { .. } => (ClaimEvent::Reject, "claim.rejected"),
            Decision::Pay { .. } => (ClaimEvent::Pay, "claim.paid"),
            Decision::WriteOff { .. } => (ClaimEvent::WriteOff, "claim.written_off"),
        };
        claim.status = from
            .next(event)
            .ok_or_else(|| ApiError::InvalidState(format!("the claim is {from}")))?;
        let mut amount = None;
        match d {
            Decision::Review => {}
            Decision::Approve { approved_fen } => {
                let a = approved_fen.unwrap_or(claim.claimed_fen);
                claim.approved_fen = Some(a);
                amount = Some(a);
            }
            Decision::Reject { reason } => {
                claim.decided_reason = Some(reason.trim().to_string());
                restore_policy(conn, &c, &claim, actor, now)?;
            }
            Decision::WriteOff { reason } => {
                claim.decided_reason = Some(reason.trim().to_string());
            }
            Decision::Pay { payment_ref } => {
                claim.payment_ref = Some(payment_ref.trim().to_string());
                let paid = pay_out(conn, &c, &claim, actor, now)?;
                claim.paid_fen = paid;
                amount = Some(paid);
            }
        }
        claim.updated_at = now.naive_utc();
        iq::save_claim(conn, &claim)?;
        audit_contract(
            conn,
            actor,
            &c.id,
            action,
            "claim",
            &claim.id,
            Some(from.as_str()),
            Some(claim.status.as_str()),
            claim
                .decided_reason
                .as_deref()
                .or(claim.payment_ref.as_deref()),
            amount,
            now,
        )?;
        if claim.status == ClaimStatus::Paid {
            let i = cq::find_installment(conn, &claim.installment_id)?
                .ok_or_else(|| ApiError::internal("installment vanished"))?;
            for u in
                queries::org_members(conn, Role::Collective.as_str(), Some(&c.village_id), None)?
            {
                let m = mail::ClaimMail {
                    notice: mail::ClaimNotice::Paid,
                    name: u.display_name.clone(),
                    claim_no: claim.claim_no.clone(),
                    year: i.year,
                    amount_fen: claim.paid_fen,
                };
                notify::send(conn, &u.email, &m, now)?;
            }
            // A contract past its term completes once nothing is outstanding.
            super::rent::settle_locked(conn, &mut c, now, rules)?;
        }
        Ok(claim)
    })
}

fn require_insurer(caller: &Caller, claim: &Claim) -> Result<(), ApiError> {
    if caller.is(Role::Insurer) && caller.insurer_id.as_deref() == Some(claim.insurer_id.as_str()) {
        Ok(())
    } else {
        Err(ApiError::Forbidden(
            "only the claim's insurer decides it".into(),
        ))
    }
}

/// A rejected claim returns its policy to the state its dates give.
fn restore_policy(
    conn: &mut DbConn,
    c: &Contract,
    claim: &Claim,
    actor: Actor<'_>,
    now: DateTime<Utc>,
) -> Result<(), ApiError> {
    let Some(mut p) = iq::find_policy(conn, &claim.policy_id)? else {
        return Ok(());
    };
    let from = p.status;
    let to = crate::domain::policy::PolicyStatus::Issued.by_date(
        shanghai_date(now),
        p.period_start,
        p.period_end,
    );
    if from == to {
        return Ok(());
    }
    p.status = to;
    p.updated_at = now.naive_utc();
    iq::save_policy(conn, &p)?;
    audit_contract(
        conn,
        actor,
        &c.id,
        "policy.claim_rejected",
        "policy",
        &p.id,
        Some(from.as_str()),
        Some(to.as_str()),
        Some(&claim.claim_no),
        None,
        now,
    )
}

/// Pays the approved amount onto the installment (never more than is outstanding); returns
/// what was paid.
fn pay_out(
    conn: &mut DbConn,
    c: &Contract,
    claim: &Claim,
    actor: Actor<'_>,
    now: DateTime<Utc>,
) -> Result<i64, ApiError> {
    let mut i = cq::find_installment(conn, &claim.installment_id)?
        .ok_or_else(|| ApiError::internal("installment vanished"))?;
    let approved = claim.approved_fen.unwrap_or(claim.claimed_fen);
    let paid = approved.min(i.outstanding_fen()).max(0);
    i.insurer_paid_fen = i
        .insurer_paid_fen
        .checked_add(paid)
        .ok_or_else(|| ApiError::internal("payout overflow"))?;
    let from = i.status;
    i.status = from.after_money(i.outstanding_fen(), true);
    i.updated_at = now.naive_utc();
    cq::save_installment(conn, &i)?;
    if i.status != from {
        audit_contract(
            conn,
            actor,
            &c.id,
            "installment.covered",
            "installment",
            &i.id,
            Some(from.as_str()),
            Some(i.status.as_str()),
            Some(&claim.claim_no),
            Some(i.insurer_paid_fen),
            now,
        )?;
    }
    Ok(paid)
}

/// A recovery to record.
#[derive(Debug, Clone)]
pub struct NewRecovery {
    pub amount_fen: i64,
    pub received_on: NaiveDate,
    pub reference: String,
}

/// The claim's insurer records money recovered from the operator: ≥ 1 and at most what is
/// still unrecovered (422 naming `amount_fen`). Checks: 404 → 403 → 422 body → 409 not paid
/// or recovery_open → 422 above the payout.
pub fn record_recovery(
    ctx: &Ctx,
    conn: &mut DbConn,
    id: &str,
    body: Result<NewRecovery, ApiError>,
) -> Result<(Recovery, Claim), ApiError> {
    let caller = ctx.caller()?;
    let claim = readable(ctx, conn, id)?;
    require_insurer(caller, &claim)?;
    let b = body?;
    let mut errors = Vec::new();
    if b.amount_fen < 1 {
        errors.push(FieldError::new("amount_fen", "must be at least 1 fen"));
    }
    if b.received_on > shanghai_date(ctx.now) {
        errors.push(FieldError::new("received_on", "must not be in the future"));
    }
    if let Err(m) = validate::text(&b.reference, 100) {
        errors.push(FieldError::new("ref", m));
    }
    if !errors.is_empty() {
        return Err(ApiError::Validation(errors));
    }
    let (actor, now) = (ctx.actor(), ctx.now);
    write_tx(conn, |conn| {
        let c =
            cq::find_contract_for_update(conn, &claim.contract_id)?.ok_or(ApiError::NotFound)?;
        let mut claim = iq::find_claim(conn, id)?.ok_or(ApiError::NotFound)?;
        let from = claim.status;
        if !matches!(from, ClaimStatus::Paid | ClaimStatus::RecoveryOpen) {
            return Err(ApiError::InvalidState(format!("the claim is {from}")));
        }
        if !recoverable(b.amount_fen, claim.paid_fen, claim.recovered_fen) {
            return Err(ApiError::field(
                "amount_fen",
                format!(
                    "must not exceed what is still unrecovered ({} fen)",
                    claim.paid_fen - claim.recovered_fen
                ),
            ));
        }
        claim.recovered_fen += b.amount_fen;
        claim.status = from
            .next(ClaimEvent::Recover {
                complete: claim.recovered_fen == claim.paid_fen,
            })
            .ok_or_else(|| ApiError::InvalidState(format!("the claim is {from}")))?;
        claim.updated_at = now.naive_utc();
        iq::save_claim(conn, &claim)?;
        let r = Recovery {
            id: uuid::Uuid::now_v7().to_string(),
            claim_id: claim.id.clone(),
            amount_fen: b.amount_fen,
            received_on: b.received_on,
            reference: b.reference.trim().to_string(),
            recorded_by: Some(caller.id.clone()),
            created_at: now.naive_utc(),
        };
        iq::insert_recovery(conn, &r)?;
        audit_contract(
            conn,
            actor,
            &c.id,
            "claim.recovery",
            "claim",
            &claim.id,
            Some(from.as_str()),
            Some(claim.status.as_str()),
            Some(&r.reference),
            Some(r.amount_fen),
            now,
        )?;
        let i = cq::find_installment(conn, &claim.installment_id)?
            .ok_or_else(|| ApiError::internal("installment vanished"))?;
        tell_operator(
            conn,
            &c,
            &claim,
            &i,
            mail::ClaimNotice::Recovery,
            r.amount_fen,
            now,
        )?;
        Ok((r, claim))
    })
}
