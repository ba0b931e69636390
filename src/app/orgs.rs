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
