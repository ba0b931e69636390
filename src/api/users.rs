//! `/api/v1/users`: accounts managed by admins (staff, collectives, insurers, admins).

use actix_web::http::Method;
use actix_web::{web, HttpResponse};
use chrono::{DateTime, Duration, Utc};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use super::auth::new_one_time_token;
use super::{created, parse_body, parse_id, parse_json, query_id, Page, PageQuery, Routes};
use crate::audit::{self, Entry, SYSTEM_STREAM};
use crate::auth::password::{check_password_rule, hash_password};
use crate::auth::Caller;
use crate::db::models::User;
use crate::db::{self, queries};
use crate::domain::roles::{org_mismatches, Role};
use crate::domain::validate;
use crate::error::{ApiError, FieldError};
use crate::notify::{self, templates};
use crate::state::AppState;

pub fn routes(r: &mut Routes) {
    r.add(Method::POST, "/api/v1/users", create_user)
        .add(Method::GET, "/api/v1/users", list_users)
        .add(Method::GET, "/api/v1/users/{id}", get_user)
        .add(Method::POST, "/api/v1/users/{id}/disable", disable_user);
}

/// An account as the API shows it (never the password hash).
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct UserOut {
    pub id: String,
    pub email: String,
    pub display_name: String,
    pub phone: Option<String>,
    pub role: Role,
    pub village_id: Option<String>,
    pub township_id: Option<String>,
    pub insurer_id: Option<String>,
    pub email_verified: bool,
    pub disabled: bool,
    pub created_at: DateTime<Utc>,
}

impl From<User> for UserOut {
    fn from(u: User) -> Self {
        UserOut {
            role: u.role,
            id: u.id,
            email: u.email,
            display_name: u.display_name,
            phone: u.phone,
            village_id: u.village_id,
            township_id: u.township_id,
            insurer_id: u.insurer_id,
            email_verified: u.email_verified,
            disabled: u.disabled,
            created_at: u.created_at.and_utc(),
        }
    }
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateUserBody {
    #[schema(format = Email, max_length = 254)]
    pub email: String,
    /// Without a password an invitation e-mail with a set-password link is sent.
    #[schema(min_length = 10, max_length = 128)]
    pub password: Option<String>,
    #[schema(min_length = 1, max_length = 100, pattern = r"\S")]
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
    caller.require_admin()?;
    let b: CreateUserBody = parse_body(&body)?;
    let email = validate::normalize_email(&b.email);
    let mut errors = Vec::new();
    if !validate::is_email(&email) {
        errors.push(FieldError::new("email", "must be a valid e-mail address"));
    }
    if let Some(p) = &b.password {
        if let Err(m) = check_password_rule(p, &b.email) {
            errors.push(FieldError::new("password", m));
        }
    }
    if let Err(m) = validate::text(&b.display_name, 100) {
        errors.push(FieldError::new("display_name", m));
    }
    if let Some(p) = &b.phone {
        if let Err(m) = validate::phone(p) {
            errors.push(FieldError::new("phone", m));
        }
    }
    for field in org_mismatches(
        b.role,
        b.village_id.is_some(),
        b.township_id.is_some(),
        b.insurer_id.is_some(),
    ) {
        let msg = if b.role.required_org().map(|o| o.field()) == Some(field) {
            format!("required for role `{}`", b.role.as_str())
        } else {
            format!("not allowed for role `{}`", b.role.as_str())
        };
        errors.push(FieldError::new(field, msg));
    }
    if !errors.is_empty() {
        return Err(ApiError::Validation(errors));
    }
    let phc = match b.password.clone() {
        Some(p) => Some(
            web::block(move || hash_password(&p))
                .await
                .map_err(|e| ApiError::internal(format!("hashing: {e}")))?,
        ),
        None => None,
    };
    let now = state.clock.now();
    let st = state.clone();
    let user = db::run_tx(&state.pool, move |conn| {
        // The organisation must exist.
        let missing = match b.role {
            Role::Collective => {
                queries::find_village(conn, b.village_id.as_deref().unwrap_or_default())?
                    .is_none()
                    .then_some("village_id")
            }
            Role::Staff => {
                queries::find_township(conn, b.township_id.as_deref().unwrap_or_default())?
                    .is_none()
                    .then_some("township_id")
            }
            Role::Insurer => {
                queries::find_insurer(conn, b.insurer_id.as_deref().unwrap_or_default())?
                    .is_none()
                    .then_some("insurer_id")
            }
            _ => None,
        };
        if let Some(field) = missing {
            return Err(ApiError::field(field, "no such organisation"));
        }
        if queries::email_taken(conn, &email)? {
            return Err(ApiError::Conflict(
                "an account with this e-mail exists".into(),
            ));
        }
        let invited = phc.is_none();
        let user = User {
            id: uuid::Uuid::now_v7().to_string(),
            email: email.clone(),
            password_hash: phc,
            display_name: b.display_name.trim().to_string(),
            phone: b.phone,
            role: b.role,
            village_id: b.village_id,
            township_id: b.township_id,
            insurer_id: b.insurer_id,
            // An admin vouches for the address it typed; an invitation proves it on accept.
            email_verified: !invited,
            disabled: false,
            token_version: 0,
            failed_logins: 0,
            locked_until: None,
            created_at: now.naive_utc(),
            updated_at: now.naive_utc(),
        };
        queries::insert_user(conn, &user)?;
        if invited {
            let token = new_one_time_token(
                conn,
                &user.id,
                "invitation",
                Duration::days(st.settings.auth.invitation_days),
                now,
            )?;
            notify::enqueue(
                conn,
                templates::invitation(
                    &st.settings.server.public_url,
                    &user.email,
                    &user.display_name,
                    templates::role_zh(b.role),
                    &token,
                ),
                now,
            )?;
        }
        audit::append(
            conn,
            &Entry {
                stream: SYSTEM_STREAM,
                actor_id: Some(&caller.id),
                actor_role: Some(caller.role_str()),
                action: if invited {
                    "user.invited"
                } else {
                    "user.created"
                },
                entity_type: "user",
                entity_id: &user.id,
                to_state: Some("active"),
                ..Default::default()
            },
            now,
        )?;
        Ok(user)
    })
    .await?;
    Ok(created(
        format!("/api/v1/users/{}", user.id),
        &UserOut::from(user),
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
    let filter = queries::UserFilter {
        role: q.role.map(|r| r.as_str().to_string()),
        village_id: query_id(q.village_id, "village_id")?,
        township_id: query_id(q.township_id, "township_id")?,
        insurer_id: query_id(q.insurer_id, "insurer_id")?,
    };
    let limit = page.limit;
    let rows = db::run(&state.pool, move |conn| {
        Ok(queries::list_users(conn, &filter, &page)?)
    })
    .await?;
    Ok(HttpResponse::Ok().json(Page::from_rows(
        rows,
        limit,
        |u| u.id.clone(),
        UserOut::from,
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
    if !caller.is(Role::Admin) && caller.id != id {
        return Err(ApiError::NotFound);
    }
    let user = db::run(&state.pool, move |conn| Ok(queries::find_user(conn, &id)?))
        .await?
        .ok_or(ApiError::NotFound)?;
    Ok(HttpResponse::Ok().json(UserOut::from(user)))
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
    if !caller.is(Role::Admin) {
        // Non-admins may know only their own account exists.
        return Err(if caller.id == id {
            ApiError::Forbidden("only an admin may disable accounts".into())
        } else {
            ApiError::NotFound
        });
    }
    // No parameters: an empty body or `{}`; any field is 422 (API.md, Conventions).
    #[derive(Deserialize)]
    #[serde(deny_unknown_fields)]
    struct NoParams {}
    let _: NoParams = parse_json(&body)?;
    if caller.id == id {
        return Err(ApiError::InvalidState(
            "an admin cannot disable its own account".into(),
        ));
    }
    let now = state.clock.now();
    let user = db::run_tx(&state.pool, move |conn| {
        let user = queries::find_user(conn, &id)?.ok_or(ApiError::NotFound)?;
        if user.disabled {
            return Ok(user);
        }
        queries::disable_user(conn, &id, now.naive_utc())?;
        queries::revoke_user_refresh_tokens(conn, &id, now.naive_utc())?;
        audit::append(
            conn,
            &Entry {
                stream: SYSTEM_STREAM,
                actor_id: Some(&caller.id),
                actor_role: Some(caller.role_str()),
                action: "user.disabled",
                entity_type: "user",
                entity_id: &id,
                from_state: Some("active"),
                to_state: Some("disabled"),
                ..Default::default()
            },
            now,
        )?;
        queries::find_user(conn, &id)?.ok_or(ApiError::NotFound)
    })
    .await?;
    Ok(HttpResponse::Ok().json(UserOut::from(user)))
}
