//! The pages behind the links the platform e-mails: `/verify-email`, `/reset-password` and
//! `/accept-invitation` (`?token=T`). Small server-rendered Chinese HTML with an English line,
//! no script and no external asset, so they work in any mail client's browser. They call the
//! same use cases as `/api/v1/auth/*` (`crate::app::accounts`); every outcome (done, expired,
//! used, invalid, a field error, too many attempts) is a page, never JSON.
//!
//! Opening a link changes nothing (mail scanners open links): verification is one button,
//! the password pages are a form. The forms post the token in a hidden field to the same
//! path. Answers are `no-store`, never framed, send no referrer (the token is in the URL),
//! and a Content-Security-Policy allows nothing but the page's own inline style (by hash)
//! and posting to itself. Everything shown is escaped.

use std::sync::LazyLock;

use actix_web::http::header::{self, HeaderValue};
use actix_web::http::{Method, StatusCode};
use actix_web::{web, HttpRequest, HttpResponse};
use base64::Engine;
use serde::Deserialize;
use sha2::{Digest, Sha256};

use super::Routes;
use crate::app::{accounts, limits};
use crate::auth::ratelimit::request_client;
use crate::db;
use crate::domain::account::{LinkState, TokenPurpose};
use crate::error::ApiError;
use crate::state::AppState;

pub fn routes(r: &mut Routes) {
    r.add(Method::GET, "/verify-email", show_verify)
        .add(Method::POST, "/verify-email", use_verify)
        .add(Method::GET, "/reset-password", show_reset)
        .add(Method::POST, "/reset-password", use_reset)
        .add(Method::GET, "/accept-invitation", show_invitation)
        .add(Method::POST, "/accept-invitation", use_invitation);
}

/// The paths of these pages (not part of the JSON API, nor of its OpenAPI document).
pub const PATHS: [&str; 3] = ["/verify-email", "/reset-password", "/accept-invitation"];

/// Which mailed link a page serves.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Link {
    Verify,
    Reset,
    Invitation,
}

impl Link {
    fn purpose(self) -> TokenPurpose {
        match self {
            Link::Verify => TokenPurpose::VerifyEmail,
            Link::Reset => TokenPurpose::PasswordReset,
            Link::Invitation => TokenPurpose::Invitation,
        }
    }

    /// The form's target, relative to the page (the same path).
    fn action(self) -> &'static str {
        match self {
            Link::Verify => "verify-email",
            Link::Reset => "reset-password",
            Link::Invitation => "accept-invitation",
        }
    }

    fn title(self) -> &'static str {
        match self {
            Link::Verify => "验证邮箱",
            Link::Reset => "重置密码",
            Link::Invitation => "设置密码",
        }
    }

    /// The use case's name for the password field (its field errors name it).
    fn password_field(self) -> &'static str {
        match self {
            Link::Reset => "new_password",
            Link::Verify | Link::Invitation => "password",
        }
    }
}

// ---- the pages' frame ------------------------------------------------------------------------

const CSS: &str = "body{margin:0;background:#f4f6f3;color:#1f2a1f;font:16px/1.6 system-ui,-apple-system,\"PingFang SC\",\"Noto Sans CJK SC\",\"Noto Sans SC\",\"Microsoft YaHei\",sans-serif}\
main{max-width:30rem;margin:3rem auto;padding:2rem;background:#fff;border-radius:8px;box-shadow:0 1px 4px rgba(0,0,0,.12)}\
.brand{margin:0 0 1rem;color:#3d6b35;font-weight:600;font-size:.9rem}\
h1{margin:0 0 1rem;font-size:1.5rem}\
.en{color:#5d665d;font-size:.9rem}\
.done h1{color:#2e7d32}.refused h1{color:#b3261e}\
label{display:block;margin:1rem 0 .25rem;font-weight:600}\
input[type=password]{box-sizing:border-box;width:100%;padding:.6rem;font-size:1rem;border:1px solid #9aa59a;border-radius:4px}\
button{margin-top:1.25rem;padding:.6rem 1.5rem;font-size:1rem;color:#fff;background:#3d6b35;border:0;border-radius:4px;cursor:pointer}\
.rules{color:#5d665d;font-size:.9rem;margin:.25rem 0 0}\
.error{color:#b3261e;margin:.25rem 0 0}\
.alert{padding:.75rem;background:#fdecea;border-radius:4px;color:#b3261e}";

/// The policy of every page: nothing loads, only the inline style above (by its hash), forms
/// post only to this origin, no framing, no `<base>`.
static CSP: LazyLock<String> = LazyLock::new(|| {
    let hash = base64::engine::general_purpose::STANDARD.encode(Sha256::digest(CSS.as_bytes()));
    format!(
        "default-src 'none'; style-src 'sha256-{hash}'; form-action 'self'; base-uri 'none'; \
         frame-ancestors 'none'"
    )
});

/// HTML-escapes text for element content and quoted attribute values.
fn esc(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

/// A whole page: `class` marks the outcome (`form`, `done`, `refused`) for people and tests;
/// `body` is HTML already escaped.
fn page(status: StatusCode, class: &str, title: &str, body: &str) -> HttpResponse {
    let html = format!(
        "<!DOCTYPE html>\n<html lang=\"zh-CN\"><head><meta charset=\"utf-8\">\
         <meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\
         <meta name=\"referrer\" content=\"no-referrer\">\
         <title>{t} · landx</title><style>{CSS}</style></head>\n<body><main class=\"{class}\">\
         <p class=\"brand\">landx 农村土地经营权流转交易平台</p><h1>{t}</h1>\n{body}\n</main></body></html>\n",
        t = esc(title),
    );
    let mut res = HttpResponse::build(status)
        .content_type("text/html; charset=utf-8")
        .body(html);
    let headers = res.headers_mut();
    for (name, value) in [
        (header::CACHE_CONTROL, "no-store"),
        (header::X_CONTENT_TYPE_OPTIONS, "nosniff"),
        (header::REFERRER_POLICY, "no-referrer"),
        (header::X_FRAME_OPTIONS, "DENY"),
    ] {
        headers.insert(name, HeaderValue::from_static(value));
    }
    if let Ok(v) = HeaderValue::from_str(&CSP) {
        headers.insert(header::CONTENT_SECURITY_POLICY, v);
    }
    res
}

fn paragraph(zh: &str, en: &str) -> String {
    format!("<p>{}</p><p class=\"en\">{}</p>", esc(zh), esc(en))
}

// ---- what each outcome says -----------------------------------------------------------------

/// The page for a link that can't be used (any more), by why; lifetimes as configured.
fn unusable(link: Link, state: LinkState, auth: &crate::config::Auth) -> HttpResponse {
    let (status, title, zh, en) = match (state, link) {
        (LinkState::Used, Link::Verify) => (
            StatusCode::GONE,
            "此链接已使用",
            "该验证链接已经使用过，您的邮箱已完成验证，可以直接登录。".to_string(),
            "This verification link was used already: your e-mail address is verified.".to_string(),
        ),
        (LinkState::Used, Link::Reset) => (
            StatusCode::GONE,
            "此链接已使用",
            "该重置链接已经使用过（或之后密码已被修改）。如需再次重置，请重新申请重置密码。".into(),
            "This reset link was used already. Ask for a new one to reset your password again."
                .into(),
        ),
        (LinkState::Used, Link::Invitation) => (
            StatusCode::GONE,
            "此链接已使用",
            "该邀请链接已经使用过，账户密码已设置。如忘记密码，请使用“忘记密码”重新设置。".into(),
            "This invitation was accepted already. If you forgot the password, reset it.".into(),
        ),
        (LinkState::Expired, Link::Verify) => (
            StatusCode::GONE,
            "此链接已过期",
            format!(
                "验证链接的有效期为 {} 小时，现已过期。请联系平台工作人员重新发送验证邮件。",
                auth.verify_email_hours
            ),
            format!(
                "This verification link has expired (links are valid for {} hours).",
                auth.verify_email_hours
            ),
        ),
        (LinkState::Expired, Link::Reset) => (
            StatusCode::GONE,
            "此链接已过期",
            format!(
                "重置链接的有效期为 {} 分钟，现已过期。请重新申请重置密码。",
                auth.password_reset_minutes
            ),
            format!(
                "This reset link has expired (links are valid for {} minutes). Ask for a new one.",
                auth.password_reset_minutes
            ),
        ),
        (LinkState::Expired, Link::Invitation) => (
            StatusCode::GONE,
            "此链接已过期",
            format!(
                "邀请链接的有效期为 {} 天，现已过期。请联系平台管理员重新发送邀请。",
                auth.invitation_days
            ),
            "This invitation has expired. Ask the platform's administrator for a new one.".into(),
        ),
        (LinkState::Unknown | LinkState::Live, _) => (
            StatusCode::NOT_FOUND,
            "链接无效",
            "链接不完整或无效。请确认打开的是邮件中的完整链接。".into(),
            "This link is not valid. Open the whole link from the e-mail.".into(),
        ),
    };
    page(status, "refused", title, &paragraph(&zh, &en))
}

fn too_many(retry_after_secs: u64) -> HttpResponse {
    let mut res = page(
        StatusCode::TOO_MANY_REQUESTS,
        "refused",
        "尝试次数过多",
        &paragraph(
            "尝试次数过多，请稍后再试。",
            "Too many attempts; please try again later.",
        ),
    );
    if let Ok(v) = HeaderValue::from_str(&retry_after_secs.max(1).to_string()) {
        res.headers_mut().insert(header::RETRY_AFTER, v);
    }
    res
}

/// A failure that isn't about the link: the database, the server, a request not sent by
/// the page's own form.
fn trouble(e: &ApiError) -> HttpResponse {
    match e {
        ApiError::RateLimited { retry_after_secs } => too_many(*retry_after_secs),
        ApiError::Forbidden(_) => page(
            StatusCode::FORBIDDEN,
            "refused",
            "请求被拒绝",
            &paragraph(
                "请从邮件中的链接打开本页面后再提交。",
                "Submit the form from the page the e-mailed link opens.",
            ),
        ),
        ApiError::BadRequest(_) => page(
            StatusCode::BAD_REQUEST,
            "refused",
            "请求无效",
            &paragraph(
                "提交的内容无法读取，请从邮件中的链接重新打开本页面。",
                "The request could not be read; open the e-mailed link again.",
            ),
        ),
        ApiError::Unavailable => page(
            StatusCode::SERVICE_UNAVAILABLE,
            "refused",
            "服务暂时不可用",
            &paragraph(
                "服务暂时不可用，请稍后再试。",
                "The service is unavailable; try again later.",
            ),
        ),
        other => {
            if let ApiError::Internal(cause) = other {
                tracing::error!(%cause, "internal error on an e-mail link page");
            }
            page(
                StatusCode::INTERNAL_SERVER_ERROR,
                "refused",
                "出错了",
                &paragraph(
                    "服务器出错了，请稍后再试。",
                    "Something went wrong on our side; try again later.",
                ),
            )
        }
    }
}

/// A password rule broken, in Chinese first (the server's own words after it).
fn password_message(server: &str) -> String {
    let zh = if server.contains("10 to 128") {
        "密码须为 10–128 个字符。"
    } else if server.contains("e-mail") {
        "密码不能与邮箱地址相同。"
    } else {
        "密码不符合要求。"
    };
    format!("{zh}（{server}）")
}

/// The page of a live link: verification's button, or the password form with its rules and
/// the field errors of a previous try.
fn live_page(link: Link, token: &str, errors: &[String]) -> HttpResponse {
    let hidden = format!(
        "<input type=\"hidden\" name=\"token\" value=\"{}\">",
        esc(token)
    );
    let body = match link {
        Link::Verify => format!(
            "{}<form method=\"post\" action=\"{}\">{hidden}<button type=\"submit\">验证邮箱</button></form>",
            paragraph(
                "请点击下面的按钮，确认这是您的邮箱地址。",
                "Press the button to confirm this is your e-mail address.",
            ),
            link.action(),
        ),
        Link::Reset | Link::Invitation => {
            let intro = if link == Link::Reset {
                paragraph(
                    "请为您的 landx 账户设置新密码。设置后，所有已登录的设备都需要重新登录。",
                    "Choose a new password. Every device signed in will have to sign in again.",
                )
            } else {
                paragraph(
                    "平台管理员已为您开通 landx 账户。请设置登录密码。",
                    "An account has been created for you. Choose your password.",
                )
            };
            let alert = if errors.is_empty() {
                String::new()
            } else {
                format!(
                    "<div class=\"alert\" role=\"alert\">{}</div>",
                    errors
                        .iter()
                        .map(|e| format!("<p class=\"error\">{}</p>", esc(e)))
                        .collect::<String>()
                )
            };
            format!(
                "{intro}{alert}<form method=\"post\" action=\"{action}\">{hidden}\
                 <label for=\"password\">新密码 New password</label>\
                 <input type=\"password\" id=\"password\" name=\"password\" required minlength=\"10\" maxlength=\"128\" autocomplete=\"new-password\" aria-describedby=\"rules\">\
                 <p class=\"rules\" id=\"rules\">密码规则：10–128 个字符，不能与邮箱地址相同。<br>10 to 128 characters, not your e-mail address.</p>\
                 <label for=\"password_confirm\">再次输入新密码 Repeat it</label>\
                 <input type=\"password\" id=\"password_confirm\" name=\"password_confirm\" required minlength=\"10\" maxlength=\"128\" autocomplete=\"new-password\">\
                 <button type=\"submit\">{title}</button></form>",
                action = link.action(),
                title = link.title(),
            )
        }
    };
    let status = if errors.is_empty() {
        StatusCode::OK
    } else {
        StatusCode::UNPROCESSABLE_ENTITY
    };
    page(status, "form", link.title(), &body)
}

fn done(link: Link, email: Option<&str>) -> HttpResponse {
    let (title, body) = match link {
        Link::Verify => (
            "邮箱已验证",
            paragraph(
                &format!(
                    "您的邮箱 {} 已验证。现在可以登录，报名参加土地经营权流转竞价。",
                    email.unwrap_or_default()
                ),
                "Your e-mail address is verified. You can now sign in and register for listings.",
            ),
        ),
        Link::Reset => (
            "密码已重置",
            paragraph(
                "新密码已生效，请使用新密码登录。之前登录的设备都已退出。",
                "Your new password is set; sign in with it. Every other session was signed out.",
            ),
        ),
        Link::Invitation => (
            "密码已设置",
            paragraph(
                "您的账户已开通，请使用邮箱地址和刚设置的密码登录。",
                "Your password is set; sign in with your e-mail address and this password.",
            ),
        ),
    };
    page(StatusCode::OK, "done", title, &body)
}

// ---- handlers --------------------------------------------------------------------------------

#[derive(Debug, Default, Deserialize)]
struct LinkQuery {
    token: Option<String>,
}

#[derive(Debug, Default, Deserialize)]
struct LinkForm {
    token: Option<String>,
    password: Option<String>,
    password_confirm: Option<String>,
}

/// Whether `token` can be a token this server mails (base64url, bounded): anything else is
/// an invalid link without asking the database.
fn plausible(token: &str) -> bool {
    (1..=128).contains(&token.len())
        && token
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
}

async fn state_of(state: &AppState, link: Link, token: &str) -> Result<LinkState, ApiError> {
    if !plausible(token) {
        return Ok(LinkState::Unknown);
    }
    let ctx = state.ctx(None);
    let token = token.to_string();
    db::run(&state.pool, move |conn| {
        accounts::link_state(&ctx, conn, link.purpose(), &token)
    })
    .await
}

/// GET: says what the link is worth; changes nothing.
async fn show(state: &AppState, req: &HttpRequest, link: Link) -> HttpResponse {
    let token = web::Query::<LinkQuery>::from_query(req.query_string())
        .map(|q| q.into_inner().token.unwrap_or_default())
        .unwrap_or_default();
    match state_of(state, link, &token).await {
        Ok(LinkState::Live) => live_page(link, &token, &[]),
        Ok(other) => unusable(link, other, &state.settings.auth),
        Err(e) => trouble(&e),
    }
}

/// Forms are only taken from this origin. A browser says where a form was posted from in
/// `Sec-Fetch-Site` (every current one); without it, in `Origin` unless that is `null`
/// (which the pages' `no-referrer` policy makes it). The token in the hidden field is what
/// authorises the use; this keeps other sites from posting a token they hold in a visitor's
/// name.
fn same_origin(state: &AppState, req: &HttpRequest) -> bool {
    let h = req.headers();
    if let Some(site) = h.get("sec-fetch-site").and_then(|v| v.to_str().ok()) {
        return site == "same-origin" || site == "none";
    }
    let Some(origin) = h
        .get(header::ORIGIN)
        .and_then(|v| v.to_str().ok())
        .filter(|o| *o != "null")
    else {
        return true; // not a browser's cross-site post (curl, an old browser)
    };
    let public = state.settings.server.public_url.trim_end_matches('/');
    let public_origin = public
        .split_once("://")
        .map(|(scheme, rest)| format!("{scheme}://{}", rest.split('/').next().unwrap_or("")));
    let host = h.get(header::HOST).and_then(|v| v.to_str().ok());
    public_origin.as_deref() == Some(origin)
        || host.is_some_and(|host| origin.split_once("://").map(|(_, a)| a) == Some(host))
}

/// POST: uses the link through the same use case as the API.
async fn submit(state: &AppState, req: &HttpRequest, body: &[u8], link: Link) -> HttpResponse {
    if !same_origin(state, req) {
        return trouble(&ApiError::Forbidden("cross-origin form".into()));
    }
    let form = match std::str::from_utf8(body)
        .ok()
        .and_then(|b| web::Query::<LinkForm>::from_query(b).ok())
    {
        Some(f) => f.into_inner(),
        None => return trouble(&ApiError::BadRequest("unreadable form".into())),
    };
    let token = form.token.unwrap_or_default();
    if !plausible(&token) {
        return unusable(link, LinkState::Unknown, &state.settings.auth);
    }
    let ctx = state.ctx(None);
    let result = match link {
        Link::Verify => {
            let t = token.clone();
            db::run(&state.pool, move |conn| {
                accounts::verify_email(&ctx, conn, &t)
            })
            .await
            .map(|user| Some(user.email))
        }
        Link::Reset | Link::Invitation => {
            let password = form.password.unwrap_or_default();
            if form.password_confirm.as_deref() != Some(password.as_str()) {
                // Only when the link is still good is the form worth showing again.
                return match state_of(state, link, &token).await {
                    Ok(LinkState::Live) => live_page(
                        link,
                        &token,
                        &["两次输入的密码不一致。（The two passwords differ.）".into()],
                    ),
                    Ok(other) => unusable(link, other, &state.settings.auth),
                    Err(e) => trouble(&e),
                };
            }
            if link == Link::Reset {
                // The same per-client limit as POST /api/v1/auth/password-reset/confirm.
                let client = request_client(req, &state.settings.server.trusted_proxies);
                let (keys, c) = (state.limit_keys.clone(), ctx.clone());
                if let Err(e) = db::run(&state.pool, move |conn| {
                    limits::admit_client(&c, conn, &keys, &client)
                })
                .await
                {
                    return trouble(&e);
                }
            }
            let (gate, t) = (state.argon2.clone(), token.clone());
            db::run(&state.pool, move |conn| match link {
                Link::Reset => accounts::confirm_password_reset(&ctx, conn, &gate, &t, &password),
                _ => accounts::accept_invitation(&ctx, conn, &gate, &t, &password),
            })
            .await
            .map(|()| None)
        }
    };
    match result {
        Ok(email) => done(link, email.as_deref()),
        Err(ApiError::Validation(fields)) => {
            let password_errors: Vec<String> = fields
                .iter()
                .filter(|f| f.field == link.password_field())
                .map(|f| password_message(&f.message))
                .collect();
            if !password_errors.is_empty() {
                return live_page(link, &token, &password_errors);
            }
            // The token was refused: say why.
            match state_of(state, link, &token).await {
                Ok(s) => unusable(link, s, &state.settings.auth),
                Err(e) => trouble(&e),
            }
        }
        Err(e) => trouble(&e),
    }
}

async fn show_verify(state: web::Data<AppState>, req: HttpRequest) -> HttpResponse {
    show(&state, &req, Link::Verify).await
}

async fn use_verify(
    state: web::Data<AppState>,
    req: HttpRequest,
    body: web::Bytes,
) -> HttpResponse {
    submit(&state, &req, &body, Link::Verify).await
}

async fn show_reset(state: web::Data<AppState>, req: HttpRequest) -> HttpResponse {
    show(&state, &req, Link::Reset).await
}

async fn use_reset(state: web::Data<AppState>, req: HttpRequest, body: web::Bytes) -> HttpResponse {
    submit(&state, &req, &body, Link::Reset).await
}

async fn show_invitation(state: web::Data<AppState>, req: HttpRequest) -> HttpResponse {
    show(&state, &req, Link::Invitation).await
}

async fn use_invitation(
    state: web::Data<AppState>,
    req: HttpRequest,
    body: web::Bytes,
) -> HttpResponse {
    submit(&state, &req, &body, Link::Invitation).await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escaping_covers_markup_and_quotes() {
        assert_eq!(
            esc(r#"<a href="x" onclick='y'>&</a>"#),
            "&lt;a href=&quot;x&quot; onclick=&#39;y&#39;&gt;&amp;&lt;/a&gt;"
        );
        assert_eq!(esc("护塘村"), "护塘村");
    }

    #[test]
    fn only_base64url_tokens_are_looked_up() {
        assert!(plausible("AbC-_09"));
        assert!(!plausible(""));
        assert!(!plausible("a b"));
        assert!(!plausible("<script>"));
        assert!(!plausible(&"a".repeat(129)));
    }

    #[test]
    fn the_policy_allows_exactly_the_page_style() {
        let digest = base64::engine::general_purpose::STANDARD.encode(Sha256::digest(CSS));
        assert!(CSP.contains(&format!("style-src 'sha256-{digest}'")));
        assert!(CSP.starts_with("default-src 'none';"));
    }
}
