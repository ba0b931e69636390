//! Use cases of parcels (地块), the village land register ("one plot one code", 一地一码):
//! register, read, list and edit. An edit also refreshes the draft listings holding the parcel.

use chrono::NaiveDate;

use super::Ctx;
use crate::db::listings::{self as q, ParcelScope};
use crate::db::models::Parcel;
use crate::db::{self, queries, DbConn};
use crate::domain::access::Caller;
use crate::domain::parcel::{
    check_area_mu, check_code, check_households, check_polygon, check_quality_grade, LandType,
    MAX_LOCATION_CHARS,
};
use crate::domain::roles::Role;
use crate::domain::validate;
use crate::error::{ApiError, FieldError};

/// The register's fields: those given are checked and set.
#[derive(Debug, Clone, Default)]
pub struct ParcelFields {
    pub code: Option<String>,
    pub area_mu: Option<String>,
    pub land_type: Option<LandType>,
    pub permanent_basic_farmland: Option<bool>,
    /// `Some(None)` clears it.
    pub quality_grade: Option<Option<i64>>,
    pub households: Option<i64>,
    pub household_contract_end: Option<NaiveDate>,
    pub location: Option<String>,
    /// `Some(None)` (or a JSON `null`) clears it.
    pub boundary_geojson: Option<Option<serde_json::Value>>,
}

/// A new parcel: the fields without a default, and the rest.
#[derive(Debug, Clone)]
pub struct NewParcelFields {
    pub land_type: LandType,
    pub household_contract_end: NaiveDate,
    pub fields: ParcelFields,
}

/// A parcel and whether a live listing or an unfinished contract holds it.
#[derive(Debug, Clone)]
pub struct ParcelView {
    pub parcel: Parcel,
    pub locked: bool,
}

/// Which parcels to list, and from where.
#[derive(Debug, Clone, Default)]
pub struct ParcelList {
    pub village_id: Option<String>,
    pub after: Option<String>,
    pub limit: i64,
}

/// The register's field rules (domain::parcel) for the fields given, shared by register and
/// edit; sets the values on `p`. One error per failed field.
fn apply_fields(p: &mut Parcel, f: ParcelFields) -> Result<(), ApiError> {
    let mut errors = Vec::new();
    if let Some(code) = f.code {
        match check_code(&code) {
            Ok(()) => p.code = code,
            Err(m) => errors.push(FieldError::new("code", m)),
        }
    }
    if let Some(a) = f.area_mu {
        match check_area_mu(&a) {
            Ok(c) => p.area_centimu = c,
            Err(m) => errors.push(FieldError::new("area_mu", m)),
        }
    }
    if let Some(t) = f.land_type {
        p.land_type = t;
    }
    if let Some(b) = f.permanent_basic_farmland {
        p.permanent_basic_farmland = b;
    }
    if let Some(g) = f.quality_grade {
        match check_quality_grade(g) {
            Ok(()) => p.quality_grade = g,
            Err(m) => errors.push(FieldError::new("quality_grade", m)),
        }
    }
    if let Some(h) = f.households {
        match check_households(h) {
            Ok(()) => p.households = h,
            Err(m) => errors.push(FieldError::new("households", m)),
        }
    }
    if let Some(d) = f.household_contract_end {
        p.household_contract_end = d;
    }
    if let Some(l) = f.location {
        match validate::text(&l, MAX_LOCATION_CHARS) {
            Ok(()) => p.location = l.trim().to_string(),
            Err(m) => errors.push(FieldError::new("location", m)),
        }
    }
    if let Some(g) = f.boundary_geojson {
        match g {
            None | Some(serde_json::Value::Null) => p.boundary_geojson = None,
            Some(v) => match check_polygon(&v) {
                Ok(()) => p.boundary_geojson = Some(v.to_string()),
                Err(m) => errors.push(FieldError::new("boundary_geojson", m)),
            },
        }
    }
    if errors.is_empty() {
        Ok(())
    } else {
        Err(ApiError::Validation(errors))
    }
}

fn code_taken() -> ApiError {
    ApiError::Conflict("a parcel with this code exists".into())
}

/// Registers a parcel of the caller's village (collective). `input` is read only once the
/// caller's role is checked (API.md's check order).
pub fn create(
    ctx: &Ctx,
    conn: &mut DbConn,
    input: impl FnOnce() -> Result<NewParcelFields, ApiError>,
) -> Result<ParcelView, ApiError> {
    let caller = ctx.caller()?;
    caller.require(&[Role::Collective])?;
    let n = input()?;
    let village_id = caller
        .village_id
        .clone()
        .ok_or_else(|| ApiError::internal("collective without village"))?;
    let mut p = Parcel::registered(
        village_id.clone(),
        String::new(),
        n.land_type,
        n.household_contract_end,
        ctx.now.naive_utc(),
    );
    apply_fields(&mut p, n.fields)?;
    db::write_tx(conn, |conn| {
        let v = queries::find_village(conn, &village_id)?
            .ok_or_else(|| ApiError::internal("village vanished"))?;
        p.township_id = v.township_id;
        q::insert_parcel(conn, &p).map_err(db::unique_or(code_taken))?;
        Ok(ParcelView {
            parcel: p,
            locked: false,
        })
    })
}

/// Parcels the caller may see: a collective its village's, staff their township's, admins
/// all. Asking for a village the caller can't see → 404. Returns up to `limit + 1` rows.
/// `query` is read only once the caller's role is checked.
pub fn list(
    ctx: &Ctx,
    conn: &mut DbConn,
    query: impl FnOnce() -> Result<ParcelList, ApiError>,
) -> Result<Vec<ParcelView>, ApiError> {
    let caller = ctx.caller()?;
    caller.require(&[Role::Collective, Role::Staff, Role::Admin])?;
    let l = query()?;
    let mut scope = ParcelScope {
        village_id: l.village_id.clone(),
        township_id: None,
    };
    match caller.role {
        Role::Collective => {
            if l.village_id.is_some() && l.village_id != caller.village_id {
                return Err(ApiError::NotFound);
            }
            scope.village_id = caller.village_id.clone();
        }
        Role::Staff => {
            if let Some(v) = &l.village_id {
                let village = queries::find_village(conn, v)?.ok_or(ApiError::NotFound)?;
                if Some(&village.township_id) != caller.township_id.as_ref() {
                    return Err(ApiError::NotFound);
                }
            }
            scope.township_id = caller.township_id.clone();
        }
        Role::Admin | Role::Investor | Role::Insurer => {}
    }
    let rows = q::list_parcels(conn, &scope, l.after.as_deref(), l.limit)?;
    let ids: Vec<String> = rows.iter().map(|p| p.id.clone()).collect();
    let locked = q::locked_parcels(conn, &ids, None)?;
    Ok(rows
        .into_iter()
        .map(|p| ParcelView {
            locked: locked.contains(&p.id),
            parcel: p,
        })
        .collect())
}

/// Loads a parcel the caller may see (else 404) and whether it is locked.
fn visible(conn: &mut DbConn, caller: &Caller, id: &str) -> Result<ParcelView, ApiError> {
    let p = q::find_parcel(conn, id)?.ok_or(ApiError::NotFound)?;
    if !caller.sees_village(&p.village_id, &p.township_id) {
        return Err(ApiError::NotFound);
    }
    let locked = !q::locked_parcels(conn, std::slice::from_ref(&p.id), None)?.is_empty();
    Ok(ParcelView { parcel: p, locked })
}

/// One parcel (its village's collective, its township's staff, admins).
pub fn get(ctx: &Ctx, conn: &mut DbConn, id: &str) -> Result<ParcelView, ApiError> {
    visible(conn, ctx.caller()?, id)
}

/// Edits a parcel of the caller's village while it is not locked (collective), then
/// refreshes the draft and returned listings holding it.
pub fn patch(
    ctx: &Ctx,
    conn: &mut DbConn,
    id: &str,
    input: impl FnOnce() -> Result<ParcelFields, ApiError>,
) -> Result<ParcelView, ApiError> {
    let caller = ctx.caller()?;
    let p = db::write_tx(conn, |conn| {
        // Take the parcel's row lock before the lock check, as submit does, so a submit
        // racing this edit either sees the edit or makes it wait and fail the check.
        q::lock_parcels(conn, &[id.to_string()])?;
        let ParcelView {
            parcel: mut p,
            locked,
        } = visible(conn, caller, id)?;
        if !caller.is_collective_of(&p.village_id) {
            return Err(ApiError::Forbidden(
                "only the village collective edits its parcels".into(),
            ));
        }
        let fields = input()?;
        if locked {
            return Err(ApiError::InvalidState(
                "the parcel is in a live listing or contract".into(),
            ));
        }
        apply_fields(&mut p, fields)?;
        p.updated_at = ctx.now.naive_utc();
        q::update_parcel(conn, &p).map_err(db::unique_or(code_taken))?;
        Ok(p)
    })?;
    super::listings::refresh_holders(ctx, conn, &p.id)?;
    Ok(ParcelView {
        parcel: p,
        locked: false,
    })
}
