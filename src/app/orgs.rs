//! Use cases of organisations: townships (镇), their villages (村) and insurers. Anyone may
//! read them; only admins create them.

use super::accounts::audit_system;
use super::Ctx;
use crate::db::models::{Insurer, Township, Village};
use crate::db::queries::{self, PageReq};
use crate::db::{self, DbConn};
use crate::domain::account::AccountState;
use crate::domain::validate;
use crate::error::{ApiError, FieldError};

/// A township to create.
#[derive(Debug, Clone)]
pub struct NewTownship {
    pub code: String,
    pub name: String,
    /// Default true.
    pub insurance_required: Option<bool>,
}

/// A village to create in a township.
#[derive(Debug, Clone)]
pub struct NewVillage {
    pub township_id: String,
    pub code: String,
    pub name: String,
}

/// An insurer to create.
#[derive(Debug, Clone)]
pub struct NewInsurer {
    pub code: String,
    pub name: String,
}

fn check_code_name(code: &str, name: &str) -> Result<(), ApiError> {
    let mut errors = Vec::new();
    if let Err(m) = validate::org_code(code) {
        errors.push(FieldError::new("code", m));
    }
    if let Err(m) = validate::text(name, 100) {
        errors.push(FieldError::new("name", m));
    }
    if errors.is_empty() {
        Ok(())
    } else {
        Err(ApiError::Validation(errors))
    }
}

/// 403 unless the caller is an admin; the platform itself (no caller) may.
fn require_admin(ctx: &Ctx) -> Result<(), ApiError> {
    match &ctx.caller {
        Some(c) => c.require_admin(),
        None => Ok(()),
    }
}

/// Records the creation of an organisation on the `system` stream.
fn audit_created(
    ctx: &Ctx,
    conn: &mut DbConn,
    action: &str,
    entity_type: &str,
    id: &str,
) -> Result<(), ApiError> {
    audit_system(
        conn,
        ctx.actor(),
        action,
        entity_type,
        id,
        None,
        Some(AccountState::Active),
        None,
        ctx,
    )
}

/// Creates a township (admin); its code is unique (409).
pub fn create_township(ctx: &Ctx, conn: &mut DbConn, t: NewTownship) -> Result<Township, ApiError> {
    require_admin(ctx)?;
    check_code_name(&t.code, &t.name)?;
    let t = Township::new(
        &t.code,
        t.name.trim(),
        t.insurance_required.unwrap_or(true),
        ctx.now,
    );
    db::write_tx(conn, |conn| {
        queries::insert_township(conn, &t).map_err(db::unique_or(|| {
            ApiError::Conflict("township code already exists".into())
        }))?;
        audit_created(ctx, conn, "township.created", "township", &t.id)?;
        Ok(t)
    })
}

/// Creates a village in an existing township (admin); its code is unique in the township.
pub fn create_village(ctx: &Ctx, conn: &mut DbConn, v: NewVillage) -> Result<Village, ApiError> {
    require_admin(ctx)?;
    check_code_name(&v.code, &v.name)?;
    let township_id = uuid::Uuid::parse_str(&v.township_id)
        .map(|u| u.to_string())
        .map_err(|_| ApiError::field("township_id", "must be a UUID"))?;
    let v = Village::new(&township_id, &v.code, v.name.trim(), ctx.now);
    db::write_tx(conn, |conn| {
        if queries::find_township(conn, &v.township_id)?.is_none() {
            return Err(ApiError::field("township_id", "no such township"));
        }
        queries::insert_village(conn, &v).map_err(db::unique_or(|| {
            ApiError::Conflict("village code already exists in this township".into())
        }))?;
        audit_created(ctx, conn, "village.created", "village", &v.id)?;
        Ok(v)
    })
}

/// Creates an insurer (admin); its code is unique (409).
pub fn create_insurer(ctx: &Ctx, conn: &mut DbConn, i: NewInsurer) -> Result<Insurer, ApiError> {
    require_admin(ctx)?;
    check_code_name(&i.code, &i.name)?;
    let i = Insurer::new(&i.code, i.name.trim(), ctx.now);
    db::write_tx(conn, |conn| {
        queries::insert_insurer(conn, &i).map_err(db::unique_or(|| {
            ApiError::Conflict("insurer code already exists".into())
        }))?;
        audit_created(ctx, conn, "insurer.created", "insurer", &i.id)?;
        Ok(i)
    })
}

/// Townships (public): `limit + 1` rows of the page.
pub fn list_townships(conn: &mut DbConn, page: &PageReq) -> Result<Vec<Township>, ApiError> {
    Ok(queries::list_townships(conn, page)?)
}

/// One township (public).
pub fn get_township(conn: &mut DbConn, id: &str) -> Result<Township, ApiError> {
    queries::find_township(conn, id)?.ok_or(ApiError::NotFound)
}

/// Villages of a township (public; 404 for an unknown township).
pub fn list_villages(
    conn: &mut DbConn,
    township_id: &str,
    page: &PageReq,
) -> Result<Vec<Village>, ApiError> {
    queries::find_township(conn, township_id)?.ok_or(ApiError::NotFound)?;
    Ok(queries::list_villages(conn, township_id, page)?)
}

/// One village (public).
pub fn get_village(conn: &mut DbConn, id: &str) -> Result<Village, ApiError> {
    queries::find_village(conn, id)?.ok_or(ApiError::NotFound)
}

/// Insurers (public): `limit + 1` rows of the page.
pub fn list_insurers(conn: &mut DbConn, page: &PageReq) -> Result<Vec<Insurer>, ApiError> {
    Ok(queries::list_insurers(conn, page)?)
}

/// Changes to a village's legal identity (the contracts' 甲方); `None` leaves a field as is.
#[derive(Debug, Clone, Default)]
pub struct VillagePatch {
    pub legal_name: Option<String>,
    pub unified_social_credit_code: Option<String>,
    pub legal_representative: Option<String>,
}

/// An admin, or a collective user of that village, sets its legal identity. Checks: 404 →
/// 403 → 422 (text rules; the code is a valid GB 32100 code).
pub fn patch_village(
    ctx: &Ctx,
    conn: &mut DbConn,
    id: &str,
    body: Result<VillagePatch, ApiError>,
) -> Result<Village, ApiError> {
    let caller = ctx.caller()?;
    let v = queries::find_village(conn, id)?.ok_or(ApiError::NotFound)?;
    if !(caller.is(crate::domain::roles::Role::Admin) || caller.is_collective_of(&v.id)) {
        return Err(ApiError::Forbidden(
            "only an admin or the village's collective edit its legal identity".into(),
        ));
    }
    let p = body?;
    let mut errors = Vec::new();
    if let Some(n) = &p.legal_name {
        if let Err(m) = validate::text(n, 200) {
            errors.push(FieldError::new("legal_name", m));
        }
    }
    if let Some(c) = &p.unified_social_credit_code {
        if !crate::domain::registration::valid_uscc(c.trim()) {
            errors.push(FieldError::new(
                "unified_social_credit_code",
                "must be a valid unified social credit code (GB 32100: 18 characters with its check character)",
            ));
        }
    }
    if let Some(r) = &p.legal_representative {
        if let Err(m) = validate::text(r, 100) {
            errors.push(FieldError::new("legal_representative", m));
        }
    }
    if !errors.is_empty() {
        return Err(ApiError::Validation(errors));
    }
    db::write_tx(conn, |conn| {
        let mut v = queries::find_village(conn, id)?.ok_or(ApiError::NotFound)?;
        if let Some(n) = p.legal_name {
            v.legal_name = Some(n.trim().to_string());
        }
        if let Some(c) = p.unified_social_credit_code {
            v.unified_social_credit_code = Some(c.trim().to_string());
        }
        if let Some(r) = p.legal_representative {
            v.legal_representative = Some(r.trim().to_string());
        }
        queries::save_village(conn, &v)?;
        audit_system(
            conn,
            ctx.actor(),
            "village.updated",
            "village",
            &v.id,
            Some(AccountState::Active),
            Some(AccountState::Active),
            Some("legal identity"),
            ctx,
        )?;
        Ok(v)
    })
}

/// Changes to a township; `None` leaves a field as is.
#[derive(Debug, Clone, Default)]
pub struct TownshipPatch {
    pub name: Option<String>,
    pub insurance_required: Option<bool>,
}

/// An admin renames a township or changes whether its contracts need insurance (contracts
/// snapshot the setting when certified). Checks: 404 → 403 → 422.
pub fn patch_township(
    ctx: &Ctx,
    conn: &mut DbConn,
    id: &str,
    body: Result<TownshipPatch, ApiError>,
) -> Result<Township, ApiError> {
    let caller = ctx.caller()?;
    queries::find_township(conn, id)?.ok_or(ApiError::NotFound)?;
    caller.require_admin()?;
    let p = body?;
    if let Some(n) = &p.name {
        if let Err(m) = validate::text(n, 100) {
            return Err(ApiError::field("name", m));
        }
    }
    db::write_tx(conn, |conn| {
        let mut t = queries::find_township(conn, id)?.ok_or(ApiError::NotFound)?;
        if let Some(n) = p.name {
            t.name = n.trim().to_string();
        }
        if let Some(r) = p.insurance_required {
            t.insurance_required = r;
        }
        queries::save_township(conn, &t)?;
        audit_system(
            conn,
            ctx.actor(),
            "township.updated",
            "township",
            &t.id,
            Some(AccountState::Active),
            Some(AccountState::Active),
            Some(if t.insurance_required {
                "insurance required"
            } else {
                "insurance not required"
            }),
            ctx,
        )?;
        Ok(t)
    })
}
