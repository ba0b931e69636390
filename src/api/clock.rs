//! The test clock (`clock.travel`, never in production): admins read and advance the
//! server's time. Without the setting both routes are 404, whatever the token.

use actix_web::http::Method;
use actix_web::{web, FromRequest, HttpRequest, HttpResponse};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::{parse_body, Routes};
use crate::app::clock::{self, ClockView};
use crate::auth::Caller;
use crate::db;
use crate::error::ApiError;
use crate::state::AppState;

pub fn routes(r: &mut Routes) {
    r.add(Method::GET, "/api/v1/admin/clock", get_clock).add(
        Method::POST,
        "/api/v1/admin/clock/advance",
        advance_clock,
    );
}

/// The server's time.
#[derive(Debug, Serialize, ToSchema)]
pub struct ClockOut {
    /// The server's now: the system time plus `offset_secs`.
    pub now: DateTime<Utc>,
    /// Seconds the clock has been moved forward in total.
    pub offset_secs: i64,
}

impl From<ClockView> for ClockOut {
    fn from(v: ClockView) -> Self {
        ClockOut {
            now: v.now,
            offset_secs: v.offset_secs,
        }
    }
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct AdvanceBody {
    /// Seconds to move forward: 1 ‥ 315 360 000 (3 650 days).
    #[schema(minimum = 1, maximum = 315_360_000)]
    pub seconds: i64,
}

/// The admin calling, when the test clock is on: 404 first (the routes don't exist without
/// `clock.travel`, so no token is even looked at), then 401, then 403.
async fn admin(state: &AppState, req: &HttpRequest) -> Result<Caller, ApiError> {
    if state.clock.travel().is_none() {
        return Err(ApiError::NotFound);
    }
    let caller = Caller::extract(req).await?;
    caller.require_admin()?;
    Ok(caller)
}

/// The server's time and offset (admin; only with `clock.travel`).
#[utoipa::path(get, path = "/api/v1/admin/clock", tag = "test clock", security(("bearer" = [])),
    responses((status = 200, body = ClockOut),
        (status = 404, description = "`clock.travel` is off", body = crate::error::Problem)))]
pub async fn get_clock(
    state: web::Data<AppState>,
    req: HttpRequest,
) -> Result<HttpResponse, ApiError> {
    let caller = admin(&state, &req).await?;
    let ctx = state.ctx(Some(caller));
    let v = db::run(&state.pool, move |conn| clock::get(&ctx, conn)).await?;
    Ok(HttpResponse::Ok().json(ClockOut::from(v)))
}

/// Move the server's time forward for everything (deadlines, the worker, stored times);
/// every instance follows within one `jobs.tick_ms` (admin; only with `clock.travel`).
#[utoipa::path(post, path = "/api/v1/admin/clock/advance", tag = "test clock",
    security(("bearer" = [])), request_body = AdvanceBody,
    responses((status = 200, body = ClockOut),
        (status = 404, description = "`clock.travel` is off", body = crate::error::Problem),
        (status = 422, description = "`seconds` out of range", body = crate::error::Problem)))]
pub async fn advance_clock(
    state: web::Data<AppState>,
    req: HttpRequest,
    body: web::Bytes,
) -> Result<HttpResponse, ApiError> {
    let caller = admin(&state, &req).await?;
    let b: AdvanceBody = parse_body(&body)?;
    let ctx = state.ctx(Some(caller));
    let v = db::run(&state.pool, move |conn| {
        clock::advance(&ctx, conn, b.seconds)
    })
    .await?;
    Ok(HttpResponse::Ok().json(ClockOut::from(v)))
}
