//! Statistics (public aggregates; per village for the township's staff and admins).

use actix_web::http::Method;
use actix_web::{web, HttpResponse};
use serde::Deserialize;
use utoipa::IntoParams;

use super::extract::MaybeCaller;
use super::{bad_year, query_id, Routes};
use crate::app::stats::{self, Stats};
use crate::domain::calendar::shanghai_year;
use crate::domain::open_data::business_year;
use crate::error::ApiError;
use crate::state::AppState;

pub fn routes(r: &mut Routes) {
    r.add(Method::GET, "/api/v1/stats", get_stats);
}

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct StatsQuery {
    /// Shanghai calendar year; default the current one.
    #[param(minimum = 1900, maximum = 9998)]
    pub year: Option<i64>,
    /// One township; absent for the whole district.
    #[param(format = Uuid)]
    pub township_id: Option<String>,
}

/// Statistics of a Shanghai calendar year, for one township or every township (public).
/// Each figure counts the events of the year: listings by the time trading ended, contracts
/// by certification, deals by award, installments by due date, policies by issue, claims by
/// filing, recoveries by receipt. With `township_id`, the township's staff and admins also
/// get `villages`.
#[utoipa::path(get, path = "/api/v1/stats", tag = "open data",
    params(StatsQuery),
    responses(
        (status = 200, body = Stats),
        (status = 400, description = "bad query string (year out of range, malformed id)"),
        (status = 404, description = "no such township"),
    ))]
pub async fn get_stats(
    state: web::Data<AppState>,
    caller: MaybeCaller,
    q: web::Query<StatsQuery>,
) -> Result<HttpResponse, ApiError> {
    let q = q.into_inner();
    let anonymous = caller.0.is_none();
    let ctx = state.ctx(caller.0);
    let year = match q.year {
        Some(y) => business_year(y).ok_or_else(bad_year)?,
        None => shanghai_year(ctx.now),
    };
    let township = query_id(q.township_id, "township_id")?;
    let s = state
        .public_read(anonymous, move |conn| {
            stats::compute(&ctx, conn, year, township.as_deref())
        })
        .await?;
    Ok(HttpResponse::Ok().json(s))
}
