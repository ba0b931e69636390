//! Contracts (流转合同): created frozen when a deal is confirmed, signed by both parties,
//! certified (鉴证) by the township's staff, cancelled before certification, terminated (解除)
//! or completed after; the rent schedule is created at certification (see [`super::rent`]).
//!
//! Every change locks the contract row and writes an audit record on the contract's stream
//! (`contract:<id>`), in the same transaction as the change.

use chrono::{DateTime, Duration, Utc};

use super::rent;
use super::{deposits, Ctx};
use crate::app::audit::audit_listing;
use crate::audit::{self, contract_stream, Actor, Entry};
use crate::config::Rules;
use crate::db::contracts::{self as cq, Scope};
use crate::db::listings as lq;
use crate::db::models::{
    Contract, ContractParcel, Deal, Installment, Listing, Payment, Registration,
};
use crate::db::queries::{self, PageReq};
use crate::db::registrations as rq;
use crate::db::{write_tx, DbConn};
use crate::domain::access::Caller;
use crate::domain::calendar::{shanghai_date, shanghai_year};
use crate::domain::contract::{ContractEvent, ContractStatus, Party, TerminationGround};
use crate::domain::document::{check_certification_documents, OwnerType};
use crate::domain::installment::{self, InstallmentStatus, PaymentKind};
use crate::domain::listing::ListingEvent;
use crate::domain::numbering::{certification_counter, certification_no};
use crate::domain::registration::DepositEvent;
use crate::domain::roles::Role;
use crate::domain::validate;
use crate::error::{ApiError, FieldError};
use crate::notify::{self, templates::contracts as mail};

/// A contract with its frozen parcels.
#[derive(Debug, Clone)]
pub struct ContractView {
    pub contract: Contract,
    pub parcels: Vec<ContractParcel>,
}

/// May `caller` read this contract? Its village's collective, the transferee, the township's
/// staff, admins; an insurer when its company has a policy (any state) on it.
pub fn may_read(conn: &mut DbConn, caller: &Caller, c: &Contract) -> Result<bool, ApiError> {
    Ok(match caller.role {
        Role::Admin => true,
        Role::Collective => caller.is_collective_of(&c.village_id),
        Role::Investor => caller.id == c.investor_id,
        Role::Staff => caller.is_staff_of(&c.township_id),
        Role::Insurer => match &caller.insurer_id {
            Some(i) => crate::db::insurance::insurer_covers_contract(conn, i, &c.id)?,
            None => false,
        },
    })
}

/// The scope of the caller's lists.
pub fn scope_of(caller: &Caller) -> Scope {
    match caller.role {
        Role::Admin => Scope::default(),
        Role::Collective => Scope {
            village_id: caller.village_id.clone(),
            nothing: caller.village_id.is_none(),
            ..Default::default()
        },
        Role::Staff => Scope {
            township_id: caller.township_id.clone(),
            nothing: caller.township_id.is_none(),
            ..Default::default()
        },
        Role::Investor => Scope {
            investor_id: Some(caller.id.clone()),
            ..Default::default()
        },
        Role::Insurer => Scope {
            insurer_id: caller.insurer_id.clone(),
            nothing: caller.insurer_id.is_none(),
            ..Default::default()
        },
    }
}

/// The contract if the caller may read it (after performing what is due on it), else 404.
pub fn readable(ctx: &Ctx, conn: &mut DbConn, id: &str) -> Result<Contract, ApiError> {
    let caller = ctx.caller()?;
    let c = cq::find_contract(conn, id)?.ok_or(ApiError::NotFound)?;
    if !may_read(conn, caller, &c)? {
        return Err(ApiError::NotFound);
    }
    rent::settle_for_read(ctx, conn, c)
}

fn view(conn: &mut DbConn, contract: Contract) -> Result<ContractView, ApiError> {
    let parcels = cq::contract_parcels(conn, &contract.id)?;
    Ok(ContractView { contract, parcels })
}

/// Records a contract change on its stream.
#[allow(clippy::too_many_arguments)]
pub(crate) fn audit_contract(
    conn: &mut DbConn,
    actor: Actor<'_>,
    contract_id: &str,
    action: &str,
    entity_type: &str,
    entity_id: &str,
    from: Option<&str>,
    to: Option<&str>,
    reason: Option<&str>,
    amount_fen: Option<i64>,
    now: DateTime<Utc>,
) -> Result<(), ApiError> {
    audit::append(
        conn,
        &Entry {
            stream: &contract_stream(contract_id),
            actor_id: actor.id,
            actor_role: actor.role,
            action,
            entity_type,
            entity_id,
            from_state: from,
            to_state: to,
            reason,
            amount_fen,
        },
        now,
    )
}

/// Moves the contract by `event` (the one transition function); returns the state it left.
fn transition(c: &mut Contract, event: ContractEvent) -> Result<ContractStatus, ApiError> {
    let from = c.status;
    c.status = from
        .next(event)
        .ok_or_else(|| ApiError::InvalidState(format!("the contract is {from}")))?;
    Ok(from)
}

fn save(conn: &mut DbConn, c: &mut Contract, now: DateTime<Utc>) -> Result<(), ApiError> {
    c.updated_at = now.naive_utc();
    Ok(cq::save_contract(conn, c)?)
}

/// Creates the contract of a deal both parties just confirmed, in the confirming
/// transaction, frozen from the deal, the listing, its parcels and the winner's registration.
pub(crate) fn create_for_deal(
    conn: &mut DbConn,
    l: &Listing,
    d: &Deal,
    winner: &Registration,
    actor: Actor<'_>,
    now: DateTime<Utc>,
    rules: &Rules,
) -> Result<Contract, ApiError> {
    let township = queries::find_township(conn, &l.township_id)?
        .ok_or_else(|| ApiError::internal("township vanished"))?;
    let parcel_ids = lq::listing_parcel_ids(conn, &l.id)?;
    let (years, total_rent_fen) = installment::totals(l.term_start, l.term_end, d.annual_rent_fen)
        .ok_or_else(|| ApiError::internal("the term's total rent does not fit"))?;
    let id = uuid::Uuid::now_v7().to_string();
    let parcels: Vec<ContractParcel> = lq::find_parcels(conn, &parcel_ids)?
        .into_iter()
        .map(|p| ContractParcel {
            contract_id: id.clone(),
            parcel_id: p.id,
            code: p.code,
            location: p.location,
            area_centimu: p.area_centimu,
            land_type: p.land_type,
            quality_grade: p.quality_grade,
        })
        .collect();
    let at = now.naive_utc();
    let c = Contract {
        id: id.clone(),
        listing_id: l.id.clone(),
        deal_id: d.id.clone(),
        registration_id: winner.id.clone(),
        village_id: l.village_id.clone(),
        township_id: l.township_id.clone(),
        status: ContractStatus::Draft,
        certification_no: None,
        transferor_name: None,
        transferor_credit_code: None,
        transferor_legal_representative: None,
        investor_id: winner.investor_id.clone(),
        transferee_legal_name: winner.legal_name.clone(),
        transferee_id_type: winner.id_type,
        transferee_id_number_enc: winner.id_number_enc.clone(),
        transferee_id_number_masked: winner.id_number_masked.clone(),
        total_area_centimu: l.total_area_centimu,
        intended_use: l.intended_use,
        term_start: l.term_start,
        term_end: l.term_end,
        years: i64::from(years),
        price_fen: d.price_fen,
        annual_rent_fen: d.annual_rent_fen,
        total_rent_fen,
        deposit_fen: winner.deposit_amount_fen.unwrap_or(l.deposit_fen),
        rent_due_days_before_year: rules.rent_due_days_before_year,
        insurance_required: township.insurance_required,
        transferor_signed_by: None,
        transferor_signed_at: None,
        transferee_signed_by: None,
        transferee_signed_at: None,
        signed_at: None,
        certified_by: None,
        certified_at: None,
        activated_at: None,
        completed_at: None,
        terminated_by: None,
        terminated_at: None,
        terminated_on: None,
        termination_ground: None,
        termination_note: None,
        cancelled_by: None,
        cancelled_at: None,
        cancel_reason: None,
        forfeit: None,
        draft_reminded_at: None,
        signed_reminded_at: None,
        created_at: at,
        updated_at: at,
    };
    cq::insert_contract(conn, &c, &parcels)?;
    audit_contract(
        conn,
        actor,
        &c.id,
        "contract.created",
        "contract",
        &c.id,
        None,
        Some(c.status.as_str()),
        Some(&format!("deal {}", d.confirmation_no)),
        Some(total_rent_fen),
        now,
    )?;
    Ok(c)
}

/// The caller's contracts (scoped by role), filtered by status and listing; `limit + 1`
/// rows. Each is brought up to date before it is shown.
pub fn list(
    ctx: &Ctx,
    conn: &mut DbConn,
    statuses: &[ContractStatus],
    listing_id: Option<&str>,
    page: &PageReq,
) -> Result<Vec<ContractView>, ApiError> {
    let caller = ctx.caller()?;
    let scope = scope_of(caller);
    // `status=completed` first settles the caller's contracts whose term has passed, so the
    // list answers by the calendar even before the worker's next pass.
    if statuses.contains(&ContractStatus::Completed) {
        let today = shanghai_date(ctx.now);
        for id in cq::contracts_past_term(conn, &scope, today, page.limit + 1)? {
            if let Some(c) = cq::find_contract(conn, &id)? {
                rent::settle_for_read(ctx, conn, c)?;
            }
        }
    }
    let rows = cq::list_contracts(
        conn,
        &scope,
        statuses,
        listing_id,
        page.after.as_deref(),
        page.limit,
    )?;
    let mut out = Vec::with_capacity(rows.len());
    for c in rows {
        let c = rent::settle_for_read(ctx, conn, c)?;
        // A contract a settlement just moved out of the statuses asked for is not shown.
        if statuses.is_empty() || statuses.contains(&c.status) {
            out.push(view(conn, c)?);
        }
    }
    Ok(out)
}

pub fn get(ctx: &Ctx, conn: &mut DbConn, id: &str) -> Result<ContractView, ApiError> {
    let c = readable(ctx, conn, id)?;
    view(conn, c)
}

/// The contract and whether the caller may see the transferee's full ID number (the parties,
/// the township's staff, admins; not an insurer), for the printable document.
pub fn for_document(
    ctx: &Ctx,
    conn: &mut DbConn,
    id: &str,
) -> Result<(ContractView, Option<String>), ApiError> {
    let caller = ctx.caller()?;
    let c = readable(ctx, conn, id)?;
    let full = if caller.is(Role::Insurer) {
        None
    } else {
        ctx.data_key.decrypt(&c.transferee_id_number_enc)
    };
    Ok((view(conn, c)?, full))
}

/// Which party the caller signs as, if any.
fn party_of(caller: &Caller, c: &Contract) -> Option<Party> {
    if caller.is_collective_of(&c.village_id) {
        Some(Party::Transferor)
    } else if caller.is(Role::Investor) && caller.id == c.investor_id {
        Some(Party::Transferee)
    } else {
        None
    }
}

/// A party signs (the collective as 甲方, freezing the village's legal identity; the winning
/// investor as 乙方). Checks: 404 → 403 not a party → `valid_body` → 422 `transferor` (the
/// village lacks its legal identity) → 409 not a draft or already signed by this party.
pub fn sign(
    ctx: &Ctx,
    conn: &mut DbConn,
    id: &str,
    valid_body: Result<(), ApiError>,
) -> Result<ContractView, ApiError> {
    let caller = ctx.caller()?;
    let c = readable(ctx, conn, id)?;
    let party = party_of(caller, &c).ok_or_else(|| {
        ApiError::Forbidden("only the owner collective and the transferee sign".into())
    })?;
    valid_body?;
    let (actor, now) = (ctx.actor(), ctx.now);
    let c = write_tx(conn, |conn| {
        let mut c = cq::find_contract_for_update(conn, id)?.ok_or(ApiError::NotFound)?;
        if party == Party::Transferor {
            let v = queries::find_village(conn, &c.village_id)?
                .ok_or_else(|| ApiError::internal("village vanished"))?;
            match (v.legal_name, v.unified_social_credit_code, v.legal_representative) {
                (Some(name), Some(code), Some(rep)) => {
                    if c.status == ContractStatus::Draft && c.transferor_signed_at.is_none() {
                        c.transferor_name = Some(name);
                        c.transferor_credit_code = Some(code);
                        c.transferor_legal_representative = Some(rep);
                    }
                }
                _ => {
                    return Err(ApiError::field(
                        "transferor",
                        "the village's legal name, unified social credit code and legal representative must be set before it signs (PATCH /api/v1/villages/{id})",
                    ))
                }
            }
        }
        if c.status != ContractStatus::Draft {
            return Err(ApiError::InvalidState(format!(
                "the contract is {}",
                c.status
            )));
        }
        let at = Some(now.naive_utc());
        let signer = Some(caller.id.clone());
        match party {
            Party::Transferor if c.transferor_signed_at.is_none() => {
                c.transferor_signed_at = at;
                c.transferor_signed_by = signer;
            }
            Party::Transferee if c.transferee_signed_at.is_none() => {
                c.transferee_signed_at = at;
                c.transferee_signed_by = signer;
            }
            _ => {
                return Err(ApiError::InvalidState(
                    "this party has signed already".into(),
                ))
            }
        }
        let both = c.transferor_signed_at.is_some() && c.transferee_signed_at.is_some();
        let from = transition(&mut c, ContractEvent::Sign { both })?;
        if both {
            c.signed_at = at;
        }
        save(conn, &mut c, now)?;
        audit_contract(
            conn,
            actor,
            &c.id,
            match party {
                Party::Transferor => "contract.signed_by_transferor",
                Party::Transferee => "contract.signed_by_transferee",
            },
            "contract",
            &c.id,
            Some(from.as_str()),
            Some(c.status.as_str()),
            None,
            None,
            now,
        )?;
        Ok(c)
    })?;
    view(conn, c)
}

/// 403 unless the caller is staff of the contract's township or an admin.
fn require_overseer(caller: &Caller, c: &Contract, what: &str) -> Result<(), ApiError> {
    if caller.oversees_township(&c.township_id) {
        Ok(())
    } else {
        Err(ApiError::Forbidden(format!(
            "only the township's staff {what} a contract"
        )))
    }
}

/// Staff certify (鉴证) a signed contract: the certification number, the rent schedule, the
/// deposit applied to installment 1, the listing `contracted` and the parcels' lock passed to
/// the contract, all in one transaction. Checks: 404 → 403 → `valid_body` → 409 not signed
/// or its term already ended.
pub fn certify(
    ctx: &Ctx,
    conn: &mut DbConn,
    id: &str,
    valid_body: Result<(), ApiError>,
) -> Result<ContractView, ApiError> {
    let caller = ctx.caller()?;
    let c = readable(ctx, conn, id)?;
    require_overseer(caller, &c, "certify")?;
    valid_body?;
    let kinds = super::documents::kinds_of(conn, OwnerType::Contract, &c.id)?;
    let required = ctx.settings.documents.require_signed_scan;
    if let Some(e) = check_certification_documents(&kinds, required) {
        return Err(ApiError::Validation(vec![e]));
    }
    let (actor, now, rules) = (ctx.actor(), ctx.now, ctx.rules());
    let c = write_tx(conn, |conn| {
        let mut c = cq::find_contract_for_update(conn, id)?.ok_or(ApiError::NotFound)?;
        let mut l = lq::find_listing_for_update(conn, &c.listing_id)?
            .ok_or_else(|| ApiError::internal("listing vanished"))?;
        if c.status != ContractStatus::Signed {
            return Err(ApiError::InvalidState(format!(
                "the contract is {}; only a signed contract is certified",
                c.status
            )));
        }
        let today = shanghai_date(now);
        if today > c.term_end {
            return Err(ApiError::InvalidState(
                "the contract's term has already ended".into(),
            ));
        }
        let township = queries::find_township(conn, &c.township_id)?
            .ok_or_else(|| ApiError::internal("township vanished"))?;
        let year = shanghai_year(now);
        let seq = lq::next_counter(conn, &certification_counter(&township.id, year))?;
        c.certification_no = Some(certification_no(&township.code, year, seq));
        c.certified_at = Some(now.naive_utc());
        c.certified_by = Some(caller.id.clone());
        c.insurance_required = township.insurance_required;
        let insurance_required = c.insurance_required;
        let from = transition(&mut c, ContractEvent::Certify { insurance_required })?;
        if c.status == ContractStatus::Active {
            c.activated_at = Some(now.naive_utc());
        }
        save(conn, &mut c, now)?;
        audit_contract(
            conn,
            actor,
            &c.id,
            "contract.certified",
            "contract",
            &c.id,
            Some(from.as_str()),
            Some(c.status.as_str()),
            c.certification_no.as_deref(),
            None,
            now,
        )?;
        // The listing's lock passes to the contract in this transaction.
        let lfrom = l.status;
        l.status = lfrom
            .next(ListingEvent::ContractCertified)
            .ok_or_else(|| ApiError::internal(format!("a {lfrom} listing cannot be contracted")))?;
        l.updated_at = now.naive_utc();
        lq::save_listing(conn, &l)?;
        audit_listing(
            conn,
            actor,
            &l,
            "listing.contracted",
            Some(lfrom.as_str()),
            c.certification_no.as_deref(),
            now,
        )?;
        let mut schedule = rent::create_schedule(conn, &c, today, actor, now)?;
        apply_deposit(conn, &c, &mut schedule, caller, actor, now)?;
        rent::settle_locked(conn, &mut c, now, rules)?;
        Ok(c)
    })?;
    view(conn, c)
}

/// The winner's deposit → `applied_to_rent`, recorded as installment 1's first payment.
fn apply_deposit(
    conn: &mut DbConn,
    c: &Contract,
    schedule: &mut [Installment],
    caller: &Caller,
    actor: Actor<'_>,
    now: DateTime<Utc>,
) -> Result<(), ApiError> {
    let mut winner =
        rq::find(conn, &c.registration_id)?.ok_or_else(|| ApiError::internal("winner vanished"))?;
    let moved = deposits::move_deposit(
        conn,
        &mut winner,
        DepositEvent::ApplyToRent,
        actor,
        Some("applied to the first year's rent"),
        now,
    )?;
    let Some(first) = schedule.first_mut() else {
        return Ok(());
    };
    let amount = winner
        .deposit_amount_fen
        .unwrap_or(c.deposit_fen)
        .min(first.amount_fen);
    if !moved || amount <= 0 {
        return Ok(());
    }
    let p = Payment {
        id: uuid::Uuid::now_v7().to_string(),
        installment_id: first.id.clone(),
        contract_id: c.id.clone(),
        amount_fen: amount,
        received_on: shanghai_date(now),
        receipt_ref: winner
            .deposit_receipt_ref
            .clone()
            .unwrap_or_else(|| "deposit".into()),
        kind: PaymentKind::Deposit,
        recorded_by: Some(caller.id.clone()),
        created_at: now.naive_utc(),
    };
    rent::record_money(conn, c, first, &p, actor, now)
}

/// Body of a cancellation.
#[derive(Debug, Clone)]
pub struct Cancellation {
    pub reason: String,
    /// The transferee refused to sign: its deposit is forfeited instead of refunded.
    pub forfeit: bool,
}

/// Staff cancel a contract before certification: the listing fails (it may be relisted), the
/// parcels unlock, and the winner's deposit is refunded (or forfeited). Checks: 404 → 403 →
/// 422 body → 409 not draft or signed.
pub fn cancel(
    ctx: &Ctx,
    conn: &mut DbConn,
    id: &str,
    body: Result<Cancellation, ApiError>,
) -> Result<ContractView, ApiError> {
    let caller = ctx.caller()?;
    let c = readable(ctx, conn, id)?;
    require_overseer(caller, &c, "cancel")?;
    let body = body?;
    if let Err(m) = validate::multiline_text(&body.reason, 2000) {
        return Err(ApiError::field("reason", m));
    }
    let (actor, now) = (ctx.actor(), ctx.now);
    let c = write_tx(conn, |conn| {
        let mut c = cq::find_contract_for_update(conn, id)?.ok_or(ApiError::NotFound)?;
        let mut l = lq::find_listing_for_update(conn, &c.listing_id)?
            .ok_or_else(|| ApiError::internal("listing vanished"))?;
        let from = transition(&mut c, ContractEvent::Cancel)?;
        c.cancelled_at = Some(now.naive_utc());
        c.cancelled_by = Some(caller.id.clone());
        c.cancel_reason = Some(body.reason.trim().to_string());
        c.forfeit = Some(body.forfeit);
        save(conn, &mut c, now)?;
        audit_contract(
            conn,
            actor,
            &c.id,
            "contract.cancelled",
            "contract",
            &c.id,
            Some(from.as_str()),
            Some(c.status.as_str()),
            c.cancel_reason.as_deref(),
            None,
            now,
        )?;
        let lfrom = l.status;
        l.status = lfrom
            .next(ListingEvent::ContractCancelled)
            .ok_or_else(|| ApiError::internal(format!("a {lfrom} listing cannot fail")))?;
        l.updated_at = now.naive_utc();
        lq::save_listing(conn, &l)?;
        audit_listing(
            conn,
            actor,
            &l,
            "listing.contract_cancelled",
            Some(lfrom.as_str()),
            c.cancel_reason.as_deref(),
            now,
        )?;
        let mut winner = rq::find(conn, &c.registration_id)?
            .ok_or_else(|| ApiError::internal("winner vanished"))?;
        let event = if body.forfeit {
            DepositEvent::Forfeit
        } else {
            DepositEvent::Release
        };
        deposits::move_deposit(
            conn,
            &mut winner,
            event,
            actor,
            c.cancel_reason.as_deref(),
            now,
        )?;
        Ok(c)
    })?;
    view(conn, c)
}

/// Body of a termination.
#[derive(Debug, Clone)]
pub struct Termination {
    pub ground: TerminationGround,
    pub note: String,
}

/// The owner collective, the township's staff or an admin terminate (解除) a certified or
/// active contract: installments of periods starting after today are cancelled (unless
/// paid), the parcels unlock at once; what is owed for periods begun stays owed. Checks:
/// 404 → 403 → 422 body → 409 not in force → 422 `ground` (rent_default without a default).
pub fn terminate(
    ctx: &Ctx,
    conn: &mut DbConn,
    id: &str,
    body: Result<Termination, ApiError>,
) -> Result<ContractView, ApiError> {
    let caller = ctx.caller()?;
    let c = readable(ctx, conn, id)?;
    if !(caller.is_collective_of(&c.village_id) || caller.oversees_township(&c.township_id)) {
        return Err(ApiError::Forbidden(
            "only the owner collective and the township's staff terminate a contract".into(),
        ));
    }
    let body = body?;
    if let Err(m) = validate::multiline_text(&body.note, 2000) {
        return Err(ApiError::field("note", m));
    }
    let (actor, now, rules) = (ctx.actor(), ctx.now, ctx.rules());
    let c = write_tx(conn, |conn| {
        let mut c = cq::find_contract_for_update(conn, id)?.ok_or(ApiError::NotFound)?;
        rent::settle_locked(conn, &mut c, now, rules)?;
        if !c.status.in_force() {
            return Err(ApiError::InvalidState(format!(
                "the contract is {}",
                c.status
            )));
        }
        let schedule = cq::installments_of(conn, &c.id)?;
        if body.ground == TerminationGround::RentDefault
            && !schedule.iter().any(|i| {
                i.status == InstallmentStatus::Defaulted
                    || (i.status == InstallmentStatus::Covered && i.defaulted_at.is_some())
            })
        {
            return Err(ApiError::Validation(vec![FieldError::new(
                "ground",
                "rent_default needs an installment in default (or covered by the insurer)",
            )]));
        }
        let today = shanghai_date(now);
        let from = transition(&mut c, ContractEvent::Terminate)?;
        c.terminated_at = Some(now.naive_utc());
        c.terminated_on = Some(today);
        c.terminated_by = Some(caller.id.clone());
        c.termination_ground = Some(body.ground.as_str().to_string());
        c.termination_note = Some(body.note.trim().to_string());
        save(conn, &mut c, now)?;
        audit_contract(
            conn,
            actor,
            &c.id,
            "contract.terminated",
            "contract",
            &c.id,
            Some(from.as_str()),
            Some(c.status.as_str()),
            Some(body.ground.as_str()),
            None,
            now,
        )?;
        super::policies::cancel_on_termination(conn, &c, actor, now)?;
        for mut i in schedule {
            if i.period_start > today
                && !matches!(
                    i.status,
                    InstallmentStatus::Paid | InstallmentStatus::Cancelled
                )
            {
                let ifrom = i.status;
                i.status = InstallmentStatus::Cancelled;
                i.updated_at = now.naive_utc();
                cq::save_installment(conn, &i)?;
                audit_contract(
                    conn,
                    actor,
                    &c.id,
                    "installment.cancelled",
                    "installment",
                    &i.id,
                    Some(ifrom.as_str()),
                    Some(i.status.as_str()),
                    Some("contract terminated"),
                    Some(i.outstanding_fen()),
                    now,
                )?;
            }
        }
        Ok(c)
    })?;
    view(conn, c)
}

/// Staff reminders about contracts left `draft` or `signed` for `contract_reminder_days`,
/// each sent once (the row is updated under its lock, so two instances send it once).
pub fn remind_stalled(
    conn: &mut DbConn,
    now: DateTime<Utc>,
    rules: &Rules,
) -> Result<usize, ApiError> {
    let days = rules.contract_reminder_days;
    let before = (now - Duration::days(days)).naive_utc();
    let mut sent = 0;
    for status in [ContractStatus::Draft, ContractStatus::Signed] {
        for id in cq::contracts_to_remind(conn, status, before, 200)? {
            sent += write_tx(conn, |conn| {
                let Some(mut c) = cq::find_contract_for_update(conn, &id)? else {
                    return Ok(0);
                };
                let due = match c.status {
                    ContractStatus::Draft => {
                        c.draft_reminded_at.is_none() && c.created_at <= before
                    }
                    ContractStatus::Signed => {
                        c.signed_reminded_at.is_none() && c.signed_at.is_some_and(|t| t <= before)
                    }
                    _ => false,
                };
                if !due {
                    return Ok(0);
                }
                let signed = c.status == ContractStatus::Signed;
                if signed {
                    c.signed_reminded_at = Some(now.naive_utc());
                } else {
                    c.draft_reminded_at = Some(now.naive_utc());
                }
                save(conn, &mut c, now)?;
                let confirmation_no = crate::db::auction::find_deal(conn, &c.deal_id)?
                    .map(|d| d.confirmation_no)
                    .unwrap_or_default();
                for u in
                    queries::org_members(conn, Role::Staff.as_str(), None, Some(&c.township_id))?
                {
                    let m = mail::ContractStalled {
                        name: u.display_name,
                        confirmation_no: confirmation_no.clone(),
                        signed,
                        days,
                    };
                    notify::send(conn, &u.email, &m, now)?;
                }
                Ok(1)
            })?;
        }
    }
    Ok(sent)
}
