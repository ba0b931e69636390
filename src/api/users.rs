//! `/api/v1/users`: accounts managed by admins (staff, collectives, insurers, admins).

use actix_web::http::Method;
use actix_web::{web, HttpResponse};
use serde::Deserialize;
use utoipa::{IntoParams, ToSchema};

use super::{
    created, parse_body, parse_empty, parse_id, query_id, Page, PageQuery, Routes, UserOut,
};
use crate::app::accounts::{self, NewAccount};
use crate::auth::Caller;
use crate::db::{self, queries::UserFilter};
use crate::domain::roles::Role;
use crate::error::ApiError;
use crate::state::AppState;

pub fn routes(r: &mut Routes) {
    r.add(Method::POST, "/api/v1/users", create_user)
        .add(Method::GET, "/api/v1/users", list_users)
        .add(Method::GET, "/api/v1/users/{id}", get_user)
        .add(Method::POST, "/api/v1/users/{id}/disable", disable_user);
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateUserBody {
    #[schema(format = Email, max_length = 254)]
    pub email: String,
    /// Without a password an invitation e-mail with a set-password link is sent.
    #[schema(min_length = 10, max_length = 128)]
    pub password: Option<String>,
    #[schema(
        min_length = 1,
        max_length = 100,
        pattern = r"^[^\u0000-\u001F\u007F-\u009F\u061C\u200E\u200F\u202A-\u202E\u2066-\u2069]*[^\s\u0000-\u001F\u007F-\u009F\u061C\u200E\u200F\u202A-\u202E\u2066-\u2069][^\u0000-\u001F\u007F-\u009F\u061C\u200E\u200F\u202A-\u202E\u2066-\u2069]*$"
    )]
    pub display_name: String,
    pub role: Role,
    #[schema(pattern = r"^\+?[0-9][0-9-]{3,18}[0-9]$")]
    pub phone: Option<String>,
    /// Required for `collective`, refused otherwise.
    #[schema(format = Uuid)]
    pub village_id: Option<String>,
    /// Required for `staff`, refused otherwise.
    #[schema(format = Uuid)]
    pub township_id: Option<String>,
    /// Required for `insurer`, refused otherwise.
    #[schema(format = Uuid)]
    pub insurer_id: Option<String>,
}

/// Create an account (admin).
#[utoipa::path(post, path = "/api/v1/users", tag = "users", security(("bearer" = [])),
    request_body = CreateUserBody,
    responses((status = 201, body = UserOut), (status = 409, description = "e-mail taken", body = crate::error::Problem)))]
pub async fn create_user(
    state: web::Data<AppState>,
    caller: Caller,
    body: web::Bytes,
) -> Result<HttpResponse, ApiError> {
    // 403 before the body is read (API.md, check order).
    caller.require_admin()?;
    let b: CreateUserBody = parse_body(&body)?;
    let ctx = state.ctx(Some(caller));
    let account = NewAccount {
        email: b.email,
        password: b.password,
        display_name: b.display_name,
        role: b.role,
        phone: b.phone,
        village_id: b.village_id,
        township_id: b.township_id,
        insurer_id: b.insurer_id,
        reason: None,
    };
    let user = db::run(&state.pool, move |conn| {
        accounts::create_user(&ctx, conn, account)
    })
    .await?;
    Ok(created(
        format!("/api/v1/users/{}", user.id),
        &UserOut::new(user, &state.data_key),
    ))
}

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct UserListQuery {
    /// 1–200, default 50.
    #[param(minimum = 1, maximum = 200)]
    pub limit: Option<i64>,
    /// Cursor from the previous page's `next_cursor`.
    #[param(format = Uuid)]
    pub cursor: Option<String>,
    pub role: Option<Role>,
    #[param(format = Uuid)]
    pub village_id: Option<String>,
    #[param(format = Uuid)]
    pub township_id: Option<String>,
    #[param(format = Uuid)]
    pub insurer_id: Option<String>,
}

/// List accounts (admin), oldest first.
#[utoipa::path(get, path = "/api/v1/users", tag = "users", security(("bearer" = [])),
    params(UserListQuery),
    responses((status = 200, body = Page<UserOut>)))]
pub async fn list_users(
    state: web::Data<AppState>,
    caller: Caller,
    q: web::Query<UserListQuery>,
) -> Result<HttpResponse, ApiError> {
    caller.require_admin()?;
    let q = q.into_inner();
    let page = PageQuery {
        limit: q.limit,
        cursor: q.cursor.clone(),
    }
    .to_req()?;
    let filter = UserFilter {
        role: q.role,
        village_id: query_id(q.village_id, "village_id")?,
        township_id: query_id(q.township_id, "township_id")?,
        insurer_id: query_id(q.insurer_id, "insurer_id")?,
    };
    let limit = page.limit;
    let ctx = state.ctx(Some(caller));
    let rows = db::run(&state.pool, move |conn| {
        accounts::list_users(&ctx, conn, &filter, &page)
    })
    .await?;
    Ok(HttpResponse::Ok().json(Page::from_rows(
        rows,
        limit,
        |u| u.id.clone(),
        |u| UserOut::new(u, &state.data_key),
    )))
}

/// One account (admin, or the account itself).
#[utoipa::path(get, path = "/api/v1/users/{id}", tag = "users", security(("bearer" = [])),
    params(("id" = uuid::Uuid, Path, description = "user id")),
    responses((status = 200, body = UserOut)))]
pub async fn get_user(
    state: web::Data<AppState>,
    caller: Caller,
    id: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let id = parse_id(&id)?;
    let ctx = state.ctx(Some(caller));
    let user = db::run(&state.pool, move |conn| accounts::get_user(&ctx, conn, &id)).await?;
    Ok(HttpResponse::Ok().json(UserOut::new(user, &state.data_key)))
}

/// Disable an account (admin): its tokens stop working at once.
#[utoipa::path(post, path = "/api/v1/users/{id}/disable", tag = "users", security(("bearer" = [])),
    params(("id" = uuid::Uuid, Path, description = "user id")),
    responses((status = 200, body = UserOut), (status = 409, description = "own account", body = crate::error::Problem)))]
pub async fn disable_user(
    state: web::Data<AppState>,
    caller: Caller,
    id: web::Path<String>,
    body: web::Bytes,
) -> Result<HttpResponse, ApiError> {
    let id = parse_id(&id)?;
    let ctx = state.ctx(Some(caller));
    // Who may act is decided before the body is read (API.md, check order).
    accounts::may_disable(&ctx, &id)?;
    // No parameters: an empty body or `{}`; any field is 422 (API.md, Conventions).
    parse_empty(&body)?;
    let user = db::run(&state.pool, move |conn| {
        accounts::disable_user(&ctx, conn, &id)
    })
    .await?;
    Ok(HttpResponse::Ok().json(UserOut::new(user, &state.data_key)))
}
