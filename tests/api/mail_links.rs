//! The links the platform e-mails lead to pages (issue 16): `/verify-email`, `/reset-password`
//! and `/accept-invitation` answer HTML for every outcome (never JSON), change nothing when
//! opened, and complete through their form with the same rules as the API. Mail files are
//! readable text, and `landx mail list` prints the outbox's links.

use serde_json::json;

use crate::support::harness::Resp;
use crate::support::process::{in_own_process, landx_with_env};
use crate::support::{register_investor, township, TestApp};

const FORM: (&str, &str) = ("Content-Type", "application/x-www-form-urlencoded");

fn page(r: &Resp, status: u16, h1: &str) {
    assert_eq!(r.status, status, "{}", r.text);
    assert_eq!(r.header("content-type"), Some("text/html; charset=utf-8"));
    assert_eq!(r.header("cache-control"), Some("no-store"));
    assert_eq!(r.header("x-content-type-options"), Some("nosniff"));
    assert_eq!(r.header("referrer-policy"), Some("no-referrer"));
    assert_eq!(r.header("x-frame-options"), Some("DENY"));
    let csp = r.header("content-security-policy").expect("CSP");
    assert!(
        csp.starts_with("default-src 'none'; style-src 'sha256-")
            && csp.contains("form-action 'self'")
            && csp.contains("frame-ancestors 'none'")
            && !csp.contains("script"),
        "{csp}"
    );
    assert!(
        r.text.contains(&format!("<h1>{h1}</h1>")),
        "expected <h1>{h1}</h1> in {}",
        r.text
    );
    assert!(!r.text.contains("<script"), "{}", r.text);
}

fn form(fields: &[(&str, &str)]) -> String {
    fields
        .iter()
        .map(|(k, v)| format!("{k}={}", crate::support::enc(v)))
        .collect::<Vec<_>>()
        .join("&")
}

fn submit(app: &TestApp, path: &str, fields: &[(&str, &str)]) -> Resp {
    app.call_raw("POST", path, None, Some(form(fields)), &[FORM])
}

fn verified(app: &TestApp, token: &str) -> bool {
    app.get("/api/v1/me", Some(token)).body["email_verified"] == true
}

#[test]
fn verification_page_needs_its_button_and_says_when_the_link_is_used() {
    let app = TestApp::start();
    let u = register_investor(&app, "farm@example.cn", "金山绿野家庭农场");
    let token = app.mailed_token("farm@example.cn", "Verify your e-mail");
    let link = format!("/verify-email?token={token}");

    // Opening the link (as a mail scanner would) changes nothing.
    let r = app.get(&link, None);
    page(&r, 200, "验证邮箱");
    assert!(r.text.contains(&format!(
        "<input type=\"hidden\" name=\"token\" value=\"{token}\">"
    )));
    assert!(r
        .text
        .contains("<form method=\"post\" action=\"verify-email\">"));
    assert!(!verified(&app, &u.token));

    let r = submit(&app, "/verify-email", &[("token", &token)]);
    page(&r, 200, "邮箱已验证");
    assert!(r.text.contains("farm@example.cn"));
    assert!(verified(&app, &u.token));

    page(&app.get(&link, None), 410, "此链接已使用");
    page(
        &submit(&app, "/verify-email", &[("token", &token)]),
        410,
        "此链接已使用",
    );
    // The API says the same about the used token.
    app.post("/api/v1/auth/verify-email", None, json!({"token": token}))
        .assert_field("token");
}

#[test]
fn reset_page_shows_the_rules_and_the_servers_field_errors_without_burning_the_token() {
    let app = TestApp::start();
    register_investor(&app, "reset@example.cn", "漕泾丰收合作社");
    let r = app.post(
        "/api/v1/auth/password-reset/request",
        None,
        json!({"email": "reset@example.cn"}),
    );
    assert_eq!(r.status, 202);
    let token = app.mailed_token("reset@example.cn", "Reset your password");
    let link = format!("/reset-password?token={token}");

    let r = app.get(&link, None);
    page(&r, 200, "重置密码");
    assert!(r.text.contains("10–128 个字符"));
    assert!(r.text.contains("minlength=\"10\" maxlength=\"128\""));

    // The two fields differ: the form again, nothing done.
    let r = submit(
        &app,
        "/reset-password",
        &[
            ("token", &token),
            ("password", "new-password-2027"),
            ("password_confirm", "new-password-2028"),
        ],
    );
    page(&r, 422, "重置密码");
    assert!(r.text.contains("两次输入的密码不一致"));
    // A rule of the use case: the server's field error, the token still good.
    for (pw, says) in [
        ("reset@example.cn", "密码不能与邮箱地址相同"),
        ("short", "密码须为 10–128 个字符"),
    ] {
        let r = submit(
            &app,
            "/reset-password",
            &[
                ("token", &token),
                ("password", pw),
                ("password_confirm", pw),
            ],
        );
        page(&r, 422, "重置密码");
        assert!(r.text.contains(says), "{pw}: {}", r.text);
        assert!(r.text.contains("role=\"alert\""));
    }
    page(&app.get(&link, None), 200, "重置密码");

    let r = submit(
        &app,
        "/reset-password",
        &[
            ("token", &token),
            ("password", "new-password-2027"),
            ("password_confirm", "new-password-2027"),
        ],
    );
    page(&r, 200, "密码已重置");
    app.login("reset@example.cn", "new-password-2027");
    page(&app.get(&link, None), 410, "此链接已使用");
}

#[test]
fn invitation_page_sets_the_first_password() {
    let app = TestApp::start();
    let admin = app.admin_token();
    let ts = township(&app, &admin, "CJ", "漕泾镇");
    let r = app.post(
        "/api/v1/users",
        Some(&admin),
        json!({"email": "liqiang@caojing.gov.cn", "display_name": "李强", "role": "staff",
               "township_id": ts}),
    );
    assert_eq!(r.status, 201, "{}", r.text);
    let token = app.mailed_token("liqiang@caojing.gov.cn", "Set your password");
    page(
        &app.get(&format!("/accept-invitation?token={token}"), None),
        200,
        "设置密码",
    );
    let r = submit(
        &app,
        "/accept-invitation",
        &[
            ("token", &token),
            ("password", "caojing-staff-2027"),
            ("password_confirm", "caojing-staff-2027"),
        ],
    );
    page(&r, 200, "密码已设置");
    let pair = app.login_pair("liqiang@caojing.gov.cn", "caojing-staff-2027");
    assert_eq!(pair["user"]["email_verified"], true);
    page(
        &app.get(&format!("/accept-invitation?token={token}"), None),
        410,
        "此链接已使用",
    );
}

#[test]
fn expired_invalid_and_foreign_links_each_have_their_page() {
    let app = TestApp::start();
    let u = register_investor(&app, "late@example.cn", "迟到的农场");
    let token = app.mailed_token("late@example.cn", "Verify your e-mail");

    // A form posted from another site is refused, and the token is still good.
    let r = app.call_raw(
        "POST",
        "/verify-email",
        None,
        Some(form(&[("token", &token)])),
        &[FORM, ("Origin", "https://evil.example")],
    );
    page(&r, 403, "请求被拒绝");
    let r = app.call_raw(
        "POST",
        "/verify-email",
        None,
        Some(form(&[("token", &token)])),
        &[FORM, ("Sec-Fetch-Site", "cross-site"), ("Origin", "null")],
    );
    page(&r, 403, "请求被拒绝");
    assert!(!verified(&app, &u.token));

    app.advance(chrono::Duration::hours(49));
    page(
        &app.get(&format!("/verify-email?token={token}"), None),
        410,
        "此链接已过期",
    );
    page(
        &submit(&app, "/verify-email", &[("token", &token)]),
        410,
        "此链接已过期",
    );

    for path in [
        "/verify-email",
        "/verify-email?token=",
        "/reset-password?token=not-a-token-we-sent",
        "/accept-invitation?token=%3Cscript%3Ealert(1)%3C%2Fscript%3E",
    ] {
        let r = app.get(path, None);
        page(&r, 404, "链接无效");
    }
    // A token of another purpose is no token here.
    let r = app.get(&format!("/reset-password?token={token}"), None);
    page(&r, 404, "链接无效");
    // Not a form at all.
    let r = app.call_raw(
        "POST",
        "/reset-password",
        None,
        Some("%ff%fe=\u{1}".into()),
        &[FORM],
    );
    assert!(r.status == 400 || r.status == 404, "{}", r.text);
    assert_eq!(r.header("content-type"), Some("text/html; charset=utf-8"));
    // Methods the pages don't take are the API's 405.
    app.call_raw("PUT", "/verify-email", None, None, &[])
        .assert_problem(405, "method_not_allowed");
}

#[test]
fn mail_files_are_readable_text_and_mail_list_prints_the_links() {
    // The outbox is sealed with the key installed last in the process: alone, that is this
    // app's, which `landx mail list` is given.
    in_own_process(
        "mail_links::mail_files_are_readable_text_and_mail_list_prints_the_links",
        mail_files_and_mail_list,
    );
}

fn mail_files_and_mail_list() {
    let key = "mail-list-test-key-0123456789abcdef0123456789";
    let app = TestApp::start_with(|s| s.crypto.key = secrecy::SecretString::from(key));
    register_investor(&app, "farm@example.cn", "金山绿野家庭农场");
    let token = app.mailed_token("farm@example.cn", "Verify your e-mail");
    app.run_jobs();

    // The file transport's mail: the body as UTF-8 text, the link as it is.
    let dir = std::path::Path::new(&app.settings.mail.file_dir);
    let files: Vec<_> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|x| x == "eml"))
        .collect();
    assert_eq!(files.len(), 1, "{files:?}");
    let raw = std::fs::read_to_string(&files[0]).unwrap();
    assert!(
        raw.to_ascii_lowercase()
            .contains("content-transfer-encoding: 8bit"),
        "{raw}"
    );
    assert!(raw.contains(&format!("http://landx.test/verify-email?token={token}")));
    assert!(raw.contains("请在 48 小时内打开以下链接验证邮箱"), "{raw}");

    // `landx mail list`, as a developer runs it beside the server (same data key).
    let db = app.settings.database.url.clone();
    let env = [
        ("LANDX_DATABASE__URL", db.as_str()),
        ("LANDX_CRYPTO__KEY", key),
        ("LANDX_ENV", "test"),
    ];
    let out = landx_with_env(&["mail", "list", "--to", "FARM@example.cn"], &env);
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{text}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let first = text.lines().next().expect("a mail");
    let cols: Vec<&str> = first.split('\t').collect();
    assert_eq!(cols.len(), 4, "{first}");
    assert_eq!(cols[1], "sent");
    assert_eq!(cols[2], "farm@example.cn");
    assert!(cols[3].ends_with("Verify your e-mail"), "{first}");
    assert!(
        text.lines()
            .any(|l| l == format!("  http://landx.test/verify-email?token={token}")),
        "{text}"
    );
    let none = landx_with_env(&["mail", "list", "--to", "nobody@example.cn"], &env);
    assert!(none.status.success());
    assert!(
        none.stdout.is_empty(),
        "{}",
        String::from_utf8_lossy(&none.stdout)
    );
}
