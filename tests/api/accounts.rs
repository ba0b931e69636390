//! Accounts and tokens: roles per route, bad tokens, refresh rotation and reuse, logout,
//! password reset, e-mail verification, invitations, disabling, races, mass assignment,
//! registration rules, login timing, organisation membership of accounts, `landx admin
//! create`, and `Idempotency-Key` on the auth routes.

use std::collections::HashSet;

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use chrono::Duration;
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use serde_json::{json, Value};

use crate::support::db;
use crate::support::harness::SECRET;
use crate::support::internals::password_verifications;
use crate::support::process::{in_own_process, landx_cli};
use crate::support::records::{audit_actions, count_mail, mails_about};
use crate::support::*;

const NEW_PW: &str = "huangpu-river-2028";

/// A token signed like the server's, with these claims.
fn jwt(secret: &[u8], alg: Algorithm, claims: &Value) -> String {
    jsonwebtoken::encode(&Header::new(alg), claims, &EncodingKey::from_secret(secret)).unwrap()
}

fn claims(app: &TestApp, sub: &str, role: &str) -> Value {
    let now = app.now().timestamp();
    json!({
        "sub": sub, "iss": "landx", "aud": "landx-api",
        "exp": now + 600, "iat": now, "role": role, "ver": 0
    })
}

#[test]
fn every_route_admits_only_its_roles() {
    let app = TestApp::start();
    let admin = app.admin_token();
    let o = orgs(&app, &admin);
    let ps = people(&app, &admin, &o);
    let admin_id = ps[0].id.clone();
    let investor_id = ps[4].id.clone();

    for (n, p) in ps.iter().enumerate() {
        let tok = Some(p.token.as_str());
        let is_admin = p.role == "admin";
        let ctx = p.role.as_str();

        // GET /me: every role, its own account and organisation.
        let me = app.get("/api/v1/me", tok);
        assert_eq!(me.status, 200, "{ctx}: {}", me.text);
        assert_eq!(me.body["id"], p.id.as_str());
        assert_eq!(me.body["role"], p.role);
        assert_eq!(me.body["email"], p.email.as_str());
        assert!(me.body.get("password_hash").is_none(), "{}", me.text);
        let org = |f: &str| me.body[f].as_str().map(str::to_string);
        match p.role.as_str() {
            "staff" => assert_eq!(org("township_id"), Some(o.township.clone())),
            "collective" => assert_eq!(org("village_id"), Some(o.villages[0].clone())),
            "insurer" => assert_eq!(org("insurer_id"), Some(o.insurer.clone())),
            _ => {
                for f in ["township_id", "village_id", "insurer_id"] {
                    assert!(me.body[f].is_null(), "{ctx} {f}: {}", me.text);
                }
            }
        }

        // GET /users/{own id}: everyone; someone else's: admin only, others 404 (no leak).
        let own = app.get(&format!("/api/v1/users/{}", p.id), tok);
        assert_eq!(own.status, 200, "{ctx}: {}", own.text);
        assert_eq!(own.body["id"], p.id.as_str());
        for other in ps.iter().filter(|q| q.id != p.id) {
            let r = app.get(&format!("/api/v1/users/{}", other.id), tok);
            if is_admin {
                assert_eq!(r.status, 200, "{}", r.text);
                assert_eq!(r.body["role"], other.role);
            } else {
                r.assert_problem(404, "not_found");
            }
        }
        // An id that doesn't exist answers exactly like one that does but is hidden.
        let ghost = uuid::Uuid::new_v4();
        app.get(&format!("/api/v1/users/{ghost}"), tok)
            .assert_problem(404, "not_found");

        // GET /users: admin only.
        let r = app.get("/api/v1/users", tok);
        if is_admin {
            assert_eq!(r.status, 200, "{}", r.text);
            assert_eq!(r.body["items"].as_array().unwrap().len(), ps.len());
        } else {
            r.assert_problem(403, "forbidden");
        }

        // POST /users: admin only.
        let body = json!({
            "email": format!("xinyonghu{n}@example.cn"), "password": PW,
            "display_name": "刘洋", "role": "staff", "township_id": o.township
        });
        let r = app.post("/api/v1/users", tok, body);
        if is_admin {
            assert_eq!(r.status, 201, "{}", r.text);
            assert_eq!(
                r.header("location"),
                Some(format!("/api/v1/users/{}", r.id()).as_str())
            );
        } else {
            r.assert_problem(403, "forbidden");
        }

        // Creating organisations: admin only.
        let r = app.post(
            "/api/v1/townships",
            tok,
            json!({"code": format!("T{n}"), "name": "金山卫镇"}),
        );
        if is_admin {
            assert_eq!(r.status, 201, "{}", r.text);
            assert_eq!(
                r.header("location"),
                Some(format!("/api/v1/townships/{}", r.id()).as_str())
            );
        } else {
            r.assert_problem(403, "forbidden");
        }
        let r = app.post(
            "/api/v1/villages",
            tok,
            json!({"township_id": o.township, "code": format!("V{n}"), "name": "花园村"}),
        );
        if is_admin {
            assert_eq!(r.status, 201, "{}", r.text);
        } else {
            r.assert_problem(403, "forbidden");
        }
        let r = app.post(
            "/api/v1/insurers",
            tok,
            json!({"code": format!("I{n}"), "name": "中华联合财产保险"}),
        );
        if is_admin {
            assert_eq!(r.status, 201, "{}", r.text);
        } else {
            r.assert_problem(403, "forbidden");
        }

        // Public organisation routes: every role (and anonymous, below).
        for path in [
            "/api/v1/townships".to_string(),
            format!("/api/v1/townships/{}", o.township),
            format!("/api/v1/townships/{}/villages", o.township),
            format!("/api/v1/villages/{}", o.villages[1]),
            "/api/v1/insurers".to_string(),
        ] {
            let r = app.get(&path, tok);
            assert_eq!(r.status, 200, "{ctx} {path}: {}", r.text);
        }

        // Refresh and password-reset request work for every role.
        if !p.refresh.is_empty() {
            let r = refresh(&app, &p.refresh);
            assert_eq!(r.status, 200, "{ctx}: {}", r.text);
            assert_eq!(r.body["user"]["role"], p.role);
        }
        let before = count_mail(&app, &p.email, "Reset your password");
        let r = app.post(
            "/api/v1/auth/password-reset/request",
            None,
            json!({"email": p.email}),
        );
        assert_eq!(r.status, 202, "{ctx}: {}", r.text);
        assert_eq!(
            count_mail(&app, &p.email, "Reset your password"),
            before + 1
        );
    }
    for path in [
        "/api/v1/townships".to_string(),
        format!("/api/v1/townships/{}", o.township),
        format!("/api/v1/townships/{}/villages", o.township),
        format!("/api/v1/villages/{}", o.villages[1]),
        "/api/v1/insurers".to_string(),
    ] {
        assert_eq!(app.get(&path, None).status, 200, "anonymous {path}");
    }
    // Non-admins made nothing: 1 + the admin's township, 3 + 1 villages, 1 + 1 insurers.
    assert_eq!(
        app.get("/api/v1/townships", None).body["items"]
            .as_array()
            .unwrap()
            .len(),
        2
    );
    assert_eq!(
        app.get(&format!("/api/v1/townships/{}/villages", o.township), None)
            .body["items"]
            .as_array()
            .unwrap()
            .len(),
        4
    );
    assert_eq!(
        app.get("/api/v1/insurers", None).body["items"]
            .as_array()
            .unwrap()
            .len(),
        2
    );

    // Disabling: a non-admin may not (403 on itself, 404 on anyone else); an admin may,
    // except its own account.
    for p in ps.iter().filter(|p| p.role != "admin") {
        let tok = Some(p.token.as_str());
        app.post(&format!("/api/v1/users/{}/disable", p.id), tok, json!({}))
            .assert_problem(403, "forbidden");
        let victim = if p.id == investor_id {
            &admin_id
        } else {
            &investor_id
        };
        app.post(&format!("/api/v1/users/{victim}/disable"), tok, json!({}))
            .assert_problem(404, "not_found");
        app.post(
            &format!("/api/v1/users/{}/disable", uuid::Uuid::new_v4()),
            tok,
            json!({}),
        )
        .assert_problem(404, "not_found");
    }
    assert_eq!(
        app.get("/api/v1/me", Some(&ps[4].token)).body["disabled"],
        false
    );
    app.post(
        &format!("/api/v1/users/{admin_id}/disable"),
        Some(&admin),
        json!({}),
    )
    .assert_problem(409, "invalid_state");
    app.post(
        &format!("/api/v1/users/{}/disable", uuid::Uuid::new_v4()),
        Some(&admin),
        json!({}),
    )
    .assert_problem(404, "not_found");
    for p in ps.iter().filter(|p| p.role != "admin") {
        let r = app.post(
            &format!("/api/v1/users/{}/disable", p.id),
            Some(&admin),
            json!({}),
        );
        assert_eq!(r.status, 200, "{}: {}", p.role, r.text);
        assert_eq!(r.body["disabled"], true);
        app.get("/api/v1/me", Some(&p.token))
            .assert_problem(401, "unauthorized");
    }
}

#[test]
fn protected_routes_refuse_missing_and_bad_tokens() {
    let app = TestApp::start();
    let admin = app.admin_token();
    let admin_id = me(&app, &admin).id;
    let o = orgs(&app, &admin);
    let other = |p: &str| p.replace("{id}", &admin_id);
    let protected: Vec<(&str, String, Option<Value>)> = vec![
        ("GET", "/api/v1/me".into(), None),
        ("GET", "/api/v1/users".into(), None),
        ("GET", other("/api/v1/users/{id}"), None),
        (
            "POST",
            "/api/v1/users".into(),
            Some(json!({"email": "a@example.cn", "display_name": "张伟", "role": "investor"})),
        ),
        ("POST", other("/api/v1/users/{id}/disable"), Some(json!({}))),
        (
            "POST",
            "/api/v1/townships".into(),
            Some(json!({"code": "JSW", "name": "金山卫镇"})),
        ),
        (
            "POST",
            "/api/v1/villages".into(),
            Some(json!({"township_id": o.township, "code": "HY", "name": "花园村"})),
        ),
        (
            "POST",
            "/api/v1/insurers".into(),
            Some(json!({"code": "ZHLH", "name": "中华联合财产保险"})),
        ),
    ];

    // A token built here the way the server builds them is accepted: so the refusals below
    // are about the one thing each token gets wrong.
    let good = jwt(SECRET, Algorithm::HS256, &claims(&app, &admin_id, "admin"));
    assert_eq!(app.get("/api/v1/me", Some(&good)).status, 200);

    let forged = jwt(
        b"another-secret-another-secret-another-1",
        Algorithm::HS256,
        &claims(&app, &admin_id, "admin"),
    );
    let mut c = claims(&app, &admin_id, "admin");
    c["aud"] = json!("landx-mobile");
    let wrong_aud = jwt(SECRET, Algorithm::HS256, &c);
    let mut c = claims(&app, &admin_id, "admin");
    c["iss"] = json!("someone-else");
    let wrong_iss = jwt(SECRET, Algorithm::HS256, &c);
    let mut c = claims(&app, &admin_id, "admin");
    c["exp"] = json!(app.now().timestamp() - 1);
    let past_exp = jwt(SECRET, Algorithm::HS256, &c);
    let mut c = claims(&app, &admin_id, "admin");
    c["ver"] = json!(7);
    let stale_version = jwt(SECRET, Algorithm::HS256, &c);
    let ghost = jwt(
        SECRET,
        Algorithm::HS256,
        &claims(&app, &uuid::Uuid::new_v4().to_string(), "admin"),
    );
    let hs384 = jwt(SECRET, Algorithm::HS384, &claims(&app, &admin_id, "admin"));
    let none_header = URL_SAFE_NO_PAD.encode(br#"{"alg":"none","typ":"JWT"}"#);
    let none_body = URL_SAFE_NO_PAD.encode(claims(&app, &admin_id, "admin").to_string());
    let alg_none = format!("{none_header}.{none_body}.");
    // A valid signature spliced onto a payload claiming a different role.
    let parts: Vec<&str> = good.split('.').collect();
    let mut c = claims(&app, &admin_id, "admin");
    c["sub"] = json!(uuid::Uuid::new_v4().to_string());
    let spliced = format!(
        "{}.{}.{}",
        parts[0],
        URL_SAFE_NO_PAD.encode(c.to_string()),
        parts[2]
    );

    let bad_tokens: Vec<(&str, Vec<(&str, String)>)> = vec![
        ("no token", vec![]),
        (
            "forged",
            vec![("Authorization", format!("Bearer {forged}"))],
        ),
        (
            "wrong audience",
            vec![("Authorization", format!("Bearer {wrong_aud}"))],
        ),
        (
            "wrong issuer",
            vec![("Authorization", format!("Bearer {wrong_iss}"))],
        ),
        (
            "expired claim",
            vec![("Authorization", format!("Bearer {past_exp}"))],
        ),
        (
            "stale token version",
            vec![("Authorization", format!("Bearer {stale_version}"))],
        ),
        (
            "unknown subject",
            vec![("Authorization", format!("Bearer {ghost}"))],
        ),
        ("HS384", vec![("Authorization", format!("Bearer {hs384}"))]),
        (
            "alg none",
            vec![("Authorization", format!("Bearer {alg_none}"))],
        ),
        (
            "spliced payload",
            vec![("Authorization", format!("Bearer {spliced}"))],
        ),
        (
            "garbage",
            vec![("Authorization", "Bearer not.a.jwt".to_string())],
        ),
        ("empty bearer", vec![("Authorization", "Bearer ".into())]),
        (
            "basic scheme",
            vec![("Authorization", format!("Basic {good}"))],
        ),
    ];
    for (what, headers) in &bad_tokens {
        for (method, path, body) in &protected {
            let h: Vec<(&str, &str)> = headers.iter().map(|(k, v)| (*k, v.as_str())).collect();
            let r = app.call_raw(method, path, None, body.as_ref().map(|b| b.to_string()), &h);
            r.assert_problem(401, "unauthorized");
            assert_eq!(
                r.header("www-authenticate"),
                Some("Bearer"),
                "{what} {method} {path}"
            );
        }
        // Public routes treat a bad token as none: never 401.
        let h: Vec<(&str, &str)> = headers.iter().map(|(k, v)| (*k, v.as_str())).collect();
        for path in [
            "/api/v1/townships".to_string(),
            format!("/api/v1/townships/{}/villages", o.township),
            "/api/v1/insurers".to_string(),
        ] {
            let r = app.call_raw("GET", &path, None, None, &h);
            assert_eq!(r.status, 200, "{what} on public {path}: {}", r.text);
        }
    }
    // Nothing was created by any of those.
    assert_eq!(
        app.get("/api/v1/townships", None).body["items"]
            .as_array()
            .unwrap()
            .len(),
        1
    );
    assert_eq!(
        app.get("/api/v1/users", Some(&admin)).body["items"]
            .as_array()
            .unwrap()
            .len(),
        1
    );

    // A real access token dies after 15 minutes (by the app's clock).
    let pair = app.login_pair(
        &s(&app.get("/api/v1/me", Some(&admin)).body["email"]),
        "admin-password-1",
    );
    assert_eq!(pair["expires_in"], 900);
    assert_eq!(pair["token_type"], "Bearer");
    let access = s(&pair["access_token"]);
    app.advance(Duration::minutes(14));
    assert_eq!(app.get("/api/v1/me", Some(&access)).status, 200);
    app.advance(Duration::seconds(61));
    for (method, path, body) in &protected {
        app.call(method, path, Some(&access), body.clone())
            .assert_problem(401, "unauthorized");
    }
    // ... and the refresh token still gets a fresh one.
    let r = refresh(&app, &s(&pair["refresh_token"]));
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(
        app.get("/api/v1/me", Some(&s(&r.body["access_token"])))
            .status,
        200
    );
}

#[test]
fn refresh_rotates_and_reuse_revokes_the_family() {
    let app = TestApp::start();
    register_ok(&app, "zhangwei@example.cn", "张伟");
    let first = app.login_pair("zhangwei@example.cn", PW);
    let other_login = app.login_pair("zhangwei@example.cn", PW);
    assert_eq!(first["user"]["email"], "zhangwei@example.cn");
    let r0 = s(&first["refresh_token"]);

    let p1 = refresh(&app, &r0);
    assert_eq!(p1.status, 200, "{}", p1.text);
    assert_eq!(p1.body["token_type"], "Bearer");
    assert_eq!(p1.body["expires_in"], 900);
    assert_eq!(p1.body["user"]["email"], "zhangwei@example.cn");
    let r1 = s(&p1.body["refresh_token"]);
    assert_ne!(r1, r0);
    assert_eq!(
        app.get("/api/v1/me", Some(&s(&p1.body["access_token"])))
            .status,
        200
    );
    let p2 = refresh(&app, &r1);
    assert_eq!(p2.status, 200, "{}", p2.text);
    let r2 = s(&p2.body["refresh_token"]);

    // The rotated token is dead; presenting it means theft: the whole login is revoked.
    refresh(&app, &r0).assert_problem(401, "unauthorized");
    refresh(&app, &r2).assert_problem(401, "unauthorized");
    refresh(&app, &r1).assert_problem(401, "unauthorized");
    // The other login (another family) is untouched.
    let o = refresh(&app, &s(&other_login["refresh_token"]));
    assert_eq!(o.status, 200, "{}", o.text);
    // Issued access tokens live out their 15 minutes.
    assert_eq!(
        app.get("/api/v1/me", Some(&s(&p2.body["access_token"])))
            .status,
        200
    );

    // Unknown and malformed refresh requests.
    refresh(&app, "bm90LWEtcmVhbC10b2tlbg").assert_problem(401, "unauthorized");
    app.post("/api/v1/auth/refresh", None, json!({}))
        .assert_field("refresh_token");
    app.post(
        "/api/v1/auth/refresh",
        None,
        json!({"refresh_token": r2, "family": "x"}),
    )
    .assert_field("family");

    // Refresh tokens expire (30 days).
    let fresh = app.login_pair("zhangwei@example.cn", PW);
    app.advance(Duration::days(30) + Duration::seconds(1));
    refresh(&app, &s(&fresh["refresh_token"])).assert_problem(401, "unauthorized");
}

#[test]
fn logout_ends_the_login() {
    let app = TestApp::start();
    register_ok(&app, "zhangwei@example.cn", "张伟");
    let pair = app.login_pair("zhangwei@example.cn", PW);
    let rotated = refresh(&app, &s(&pair["refresh_token"]));
    assert_eq!(rotated.status, 200);
    let newest = s(&rotated.body["refresh_token"]);
    let r = app.post(
        "/api/v1/auth/logout",
        None,
        json!({"refresh_token": newest}),
    );
    assert_eq!(r.status, 204, "{}", r.text);
    assert!(r.text.is_empty());
    refresh(&app, &newest).assert_problem(401, "unauthorized");
    // Logging out twice, or with a token nobody knows, is still 204.
    let r = app.post(
        "/api/v1/auth/logout",
        None,
        json!({"refresh_token": newest}),
    );
    assert_eq!(r.status, 204);
    let r = app.post(
        "/api/v1/auth/logout",
        None,
        json!({"refresh_token": "unknown-token"}),
    );
    assert_eq!(r.status, 204);
    app.post("/api/v1/auth/logout", None, json!({}))
        .assert_field("refresh_token");
    // Logging in again works.
    app.login_pair("zhangwei@example.cn", PW);
}

#[test]
fn password_reset_is_single_use_and_kills_old_tokens() {
    let app = TestApp::start();
    let id = register_ok(&app, "zhangwei@example.cn", "张伟");
    let old = app.login_pair("zhangwei@example.cn", PW);
    let old_access = s(&old["access_token"]);
    let old_refresh = s(&old["refresh_token"]);

    // Unknown address: the same 202, and no mail.
    let before = app.outbox().len();
    let r = app.post(
        "/api/v1/auth/password-reset/request",
        None,
        json!({"email": "nobody@example.cn"}),
    );
    assert_eq!(r.status, 202, "{}", r.text);
    assert_eq!(app.outbox().len(), before);
    // "202 always" (API.md): a malformed address matches no account either.
    let r = app.post(
        "/api/v1/auth/password-reset/request",
        None,
        json!({"email": "zhangwei"}),
    );
    assert_eq!(r.status, 202, "{}", r.text);
    assert_eq!(app.outbox().len(), before);
    // A body of the wrong shape is still 422.
    app.post(
        "/api/v1/auth/password-reset/request",
        None,
        json!({"email": 7}),
    )
    .assert_field("email");

    // Known address (any case): 202 and one mail with a reset link.
    let r = app.post(
        "/api/v1/auth/password-reset/request",
        None,
        json!({"email": "ZhangWei@Example.CN"}),
    );
    assert_eq!(r.status, 202, "{}", r.text);
    let outbox = app.outbox();
    assert_eq!(outbox.len(), before + 1);
    let mail = outbox.last().unwrap();
    assert_eq!(mail.to_addr, "zhangwei@example.cn");
    assert!(
        mail.subject.ends_with("Reset your password"),
        "{}",
        mail.subject
    );
    let token = app.mailed_token("zhangwei@example.cn", "Reset your password");
    assert!(
        mail.body
            .contains(&format!("http://landx.test/reset-password?token={token}")),
        "{}",
        mail.body
    );
    assert!(token.len() >= 43 && !token.contains('='));

    // A token meant for something else is refused and not consumed.
    app.post(
        "/api/v1/auth/accept-invitation",
        None,
        json!({"token": token, "password": NEW_PW}),
    )
    .assert_field("token");
    app.post("/api/v1/auth/verify-email", None, json!({"token": token}))
        .assert_field("token");
    // A bad new password doesn't burn the token either.
    app.post(
        "/api/v1/auth/password-reset/confirm",
        None,
        json!({"token": token, "new_password": "short"}),
    )
    .assert_field("new_password");
    app.post(
        "/api/v1/auth/password-reset/confirm",
        None,
        json!({"token": token, "new_password": "zhangwei@example.cn"}),
    )
    .assert_field("new_password");

    let r = app.post(
        "/api/v1/auth/password-reset/confirm",
        None,
        json!({"token": token, "new_password": NEW_PW}),
    );
    assert_eq!(r.status, 204, "{}", r.text);

    // Every existing token of the account stops working.
    app.get("/api/v1/me", Some(&old_access))
        .assert_problem(401, "unauthorized");
    refresh(&app, &old_refresh).assert_problem(401, "unauthorized");
    login_status(&app, "zhangwei@example.cn", PW).assert_problem(401, "unauthorized");
    let new = app.login_pair("zhangwei@example.cn", NEW_PW);
    assert_eq!(
        app.get("/api/v1/me", Some(&s(&new["access_token"]))).status,
        200
    );

    // Single use; unknown tokens are the same 422.
    app.post(
        "/api/v1/auth/password-reset/confirm",
        None,
        json!({"token": token, "new_password": "yet-another-pw-2029"}),
    )
    .assert_field("token");
    app.post(
        "/api/v1/auth/password-reset/confirm",
        None,
        json!({"token": "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA", "new_password": "yet-another-pw-2029"}),
    )
    .assert_field("token");
    app.login_pair("zhangwei@example.cn", NEW_PW);

    // A reset link is valid for one hour.
    let r = app.post(
        "/api/v1/auth/password-reset/request",
        None,
        json!({"email": "zhangwei@example.cn"}),
    );
    assert_eq!(r.status, 202);
    let late = app.mailed_token("zhangwei@example.cn", "Reset your password");
    assert_ne!(late, token);
    app.advance(Duration::minutes(61));
    app.post(
        "/api/v1/auth/password-reset/confirm",
        None,
        json!({"token": late, "new_password": "yet-another-pw-2029"}),
    )
    .assert_field("token");
    app.login_pair("zhangwei@example.cn", NEW_PW);

    let acts = audit_actions(&app, &id);
    assert_eq!(
        acts.iter().filter(|a| *a == "user.password_reset").count(),
        1,
        "{acts:?}"
    );
    let rec = app
        .audit_for(&id)
        .into_iter()
        .find(|a| a.action == "user.password_reset")
        .unwrap();
    assert_eq!(rec.stream, "system");
    assert_eq!(rec.actor_id.as_deref(), Some(id.as_str()));
}

#[test]
fn email_verification() {
    let app = TestApp::start();
    let r = register(&app, "Zhang.Wei@Example.CN", "张伟");
    assert_eq!(r.status, 201, "{}", r.text);
    let id = r.id();
    assert_eq!(
        r.header("location"),
        Some(format!("/api/v1/users/{id}").as_str())
    );
    assert_eq!(r.body["email"], "zhang.wei@example.cn");
    assert_eq!(r.body["role"], "investor");
    assert_eq!(r.body["email_verified"], false);
    assert_eq!(r.body["display_name"], "张伟");
    assert!(r.body.get("password_hash").is_none());
    assert!(r.body.get("password").is_none());

    let mine = mails_about(&app, "zhang.wei@example.cn", "Verify your e-mail");
    assert_eq!(mine.len(), 1, "{:?}", app.outbox());
    let token = app.mailed_token("zhang.wei@example.cn", "Verify your e-mail");
    assert!(mine[0]
        .body
        .contains(&format!("http://landx.test/verify-email?token={token}")));
    assert!(mine[0].body.contains("张伟"));

    // An unverified investor can log in.
    let pair = app.login_pair("zhang.wei@example.cn", PW);
    assert_eq!(pair["user"]["email_verified"], false);
    let access = s(&pair["access_token"]);
    assert_eq!(
        app.get("/api/v1/me", Some(&access)).body["email_verified"],
        false
    );

    let r = app.post("/api/v1/auth/verify-email", None, json!({"token": token}));
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(r.body["id"], id.as_str());
    assert_eq!(r.body["email_verified"], true);
    let me = app.get("/api/v1/me", Some(&access));
    assert_eq!(me.status, 200);
    assert_eq!(me.body["email_verified"], true);

    app.post("/api/v1/auth/verify-email", None, json!({"token": token}))
        .assert_field("token");
    app.post(
        "/api/v1/auth/verify-email",
        None,
        json!({"token": "no-such-token"}),
    )
    .assert_field("token");
    app.post("/api/v1/auth/verify-email", None, json!({}))
        .assert_field("token");

    assert_eq!(
        audit_actions(&app, &id),
        vec!["user.registered", "user.email_verified"]
    );
    let recs = app.audit_for(&id);
    assert_eq!(recs[0].actor_id.as_deref(), Some(id.as_str()));
    assert_eq!(recs[0].actor_role.as_deref(), Some("investor"));
    assert_eq!(recs[0].entity_type, "user");
    assert!(recs.iter().all(|r| r.stream == "system"));

    // The link is valid for 48 hours.
    let late_id = register_ok(&app, "lina@example.cn", "李娜");
    let late = app.mailed_token("lina@example.cn", "Verify your e-mail");
    app.advance(Duration::hours(48) + Duration::seconds(1));
    app.post("/api/v1/auth/verify-email", None, json!({"token": late}))
        .assert_field("token");
    let admin = app.admin_token();
    assert_eq!(
        app.get(&format!("/api/v1/users/{late_id}"), Some(&admin))
            .body["email_verified"],
        false
    );
}

#[test]
fn invitation_sets_the_first_password() {
    let app = TestApp::start();
    let admin = app.admin_token();
    let admin_id = me(&app, &admin).id;
    let o = orgs(&app, &admin);
    let before = app.outbox().len();

    let r = app.post(
        "/api/v1/users",
        Some(&admin),
        json!({"email": "liqiang@caojing.gov.cn", "display_name": "李强", "role": "staff",
               "township_id": o.township, "phone": "021-57211234"}),
    );
    assert_eq!(r.status, 201, "{}", r.text);
    let id = r.id();
    assert_eq!(r.body["role"], "staff");
    assert_eq!(r.body["township_id"], o.township.as_str());
    assert_eq!(r.body["email_verified"], false);

    let outbox = app.outbox();
    assert_eq!(outbox.len(), before + 1);
    let mail = outbox.last().unwrap();
    assert_eq!(mail.to_addr, "liqiang@caojing.gov.cn");
    assert!(
        mail.subject.ends_with("Set your password"),
        "{}",
        mail.subject
    );
    let token = app.mailed_token("liqiang@caojing.gov.cn", "Set your password");
    assert!(mail.body.contains(&format!(
        "http://landx.test/accept-invitation?token={token}"
    )));

    // No password yet: nothing logs in (and the answer is the usual 401).
    login_status(&app, "liqiang@caojing.gov.cn", "").assert_problem(401, "unauthorized");
    login_status(&app, "liqiang@caojing.gov.cn", PW).assert_problem(401, "unauthorized");

    app.post(
        "/api/v1/auth/accept-invitation",
        None,
        json!({"token": token, "password": "short"}),
    )
    .assert_field("password");
    app.post(
        "/api/v1/auth/password-reset/confirm",
        None,
        json!({"token": token, "new_password": PW}),
    )
    .assert_field("token");
    let r = app.post(
        "/api/v1/auth/accept-invitation",
        None,
        json!({"token": token, "password": PW}),
    );
    assert_eq!(r.status, 204, "{}", r.text);
    app.post(
        "/api/v1/auth/accept-invitation",
        None,
        json!({"token": token, "password": NEW_PW}),
    )
    .assert_field("token");
    app.post(
        "/api/v1/auth/accept-invitation",
        None,
        json!({"token": "nope", "password": NEW_PW}),
    )
    .assert_field("token");

    let pair = app.login_pair("liqiang@caojing.gov.cn", PW);
    assert_eq!(pair["user"]["role"], "staff");
    let me = app.get("/api/v1/me", Some(&s(&pair["access_token"])));
    assert_eq!(me.body["township_id"], o.township.as_str());
    assert_eq!(me.body["email_verified"], true);

    let recs = app.audit_for(&id);
    let acts: Vec<&str> = recs.iter().map(|r| r.action.as_str()).collect();
    assert_eq!(acts, vec!["user.invited", "user.invitation_accepted"]);
    assert_eq!(recs[0].actor_id.as_deref(), Some(admin_id.as_str()));
    assert_eq!(recs[0].actor_role.as_deref(), Some("admin"));
    assert_eq!(recs[1].actor_id.as_deref(), Some(id.as_str()));

    // An account created with a password gets no mail and is verified by the admin.
    let before = app.outbox().len();
    let r = app.post(
        "/api/v1/users",
        Some(&admin),
        json!({"email": "chenjing@axny.com.cn", "password": PW, "display_name": "陈静",
               "role": "insurer", "insurer_id": o.insurer}),
    );
    assert_eq!(r.status, 201, "{}", r.text);
    assert_eq!(r.body["email_verified"], true);
    assert_eq!(app.outbox().len(), before);
    assert_eq!(audit_actions(&app, &r.id()), vec!["user.created"]);

    // Invitations expire after 7 days.
    let r = app.post(
        "/api/v1/users",
        Some(&admin),
        json!({"email": "wangfang@hutang.cn", "display_name": "王芳", "role": "collective",
               "village_id": o.villages[0]}),
    );
    assert_eq!(r.status, 201, "{}", r.text);
    let late = app.mailed_token("wangfang@hutang.cn", "Set your password");
    app.advance(Duration::days(7) + Duration::seconds(1));
    app.post(
        "/api/v1/auth/accept-invitation",
        None,
        json!({"token": late, "password": PW}),
    )
    .assert_field("token");
}

#[test]
fn disabling_stops_the_account_at_once() {
    let app = TestApp::start();
    let admin = app.admin_token();
    let admin_id = me(&app, &admin).id;
    let id = register_ok(&app, "zhangwei@example.cn", "张伟");
    let pair = app.login_pair("zhangwei@example.cn", PW);
    let access = s(&pair["access_token"]);
    assert_eq!(app.get("/api/v1/me", Some(&access)).status, 200);

    // An action without parameters takes `{}` or nothing: other fields are 422, broken
    // JSON 400, and neither disables anything.
    app.post(
        &format!("/api/v1/users/{id}/disable"),
        Some(&admin),
        json!({"reason": "离职"}),
    )
    .assert_field("reason");
    app.call_raw(
        "POST",
        &format!("/api/v1/users/{id}/disable"),
        Some(&admin),
        Some("{oops".into()),
        &[],
    )
    .assert_problem(400, "bad_request");
    assert_eq!(app.get("/api/v1/me", Some(&access)).status, 200);

    let r = app.post(
        &format!("/api/v1/users/{id}/disable"),
        Some(&admin),
        json!({}),
    );
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(r.body["disabled"], true);
    assert_eq!(r.body["id"], id.as_str());

    app.get("/api/v1/me", Some(&access))
        .assert_problem(401, "unauthorized");
    let wrong = login_status(&app, "zhangwei@example.cn", "wrong-password-1");
    wrong.assert_problem(401, "unauthorized");
    let right = login_status(&app, "zhangwei@example.cn", PW);
    right.assert_problem(401, "unauthorized");
    assert_eq!(
        right.body, wrong.body,
        "a disabled account looks like a wrong password"
    );
    refresh(&app, &s(&pair["refresh_token"])).assert_problem(401, "unauthorized");

    // No reset mail for a disabled account (still 202).
    let before = app.outbox().len();
    let r = app.post(
        "/api/v1/auth/password-reset/request",
        None,
        json!({"email": "zhangwei@example.cn"}),
    );
    assert_eq!(r.status, 202);
    assert_eq!(app.outbox().len(), before);

    // Disabling again changes nothing and writes no second record; an empty body is fine.
    let r = app.call_raw(
        "POST",
        &format!("/api/v1/users/{id}/disable"),
        Some(&admin),
        None,
        &[],
    );
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(r.body["disabled"], true);
    let u = app.get(&format!("/api/v1/users/{id}"), Some(&admin));
    assert_eq!(u.body["disabled"], true);

    let recs = app.audit_for(&id);
    let dis: Vec<_> = recs
        .iter()
        .filter(|r| r.action == "user.disabled")
        .collect();
    assert_eq!(dis.len(), 1, "{recs:?}");
    assert_eq!(dis[0].actor_id.as_deref(), Some(admin_id.as_str()));
    assert_eq!(dis[0].actor_role.as_deref(), Some("admin"));
    assert_eq!(dis[0].from_state.as_deref(), Some("active"));
    assert_eq!(dis[0].to_state.as_deref(), Some("disabled"));
    assert_eq!(dis[0].stream, "system");

    // The e-mail stays taken.
    register(&app, "zhangwei@example.cn", "张伟").assert_problem(409, "conflict");
}

#[test]
fn racing_requests_keep_accounts_and_tokens_single() {
    let app = TestApp::start();
    // The same address registered four times at once: one account, the rest 409.
    let statuses: Vec<u16> = std::thread::scope(|s| {
        let hs: Vec<_> = (0..4)
            .map(|_| s.spawn(|| register(&app, "zhangwei@example.cn", "张伟").status))
            .collect();
        hs.into_iter().map(|h| h.join().unwrap()).collect()
    });
    assert_eq!(
        statuses.iter().filter(|s| **s == 201).count(),
        1,
        "{statuses:?}"
    );
    assert_eq!(
        statuses.iter().filter(|s| **s == 409).count(),
        3,
        "{statuses:?}"
    );
    assert_eq!(app.outbox().len(), 1);

    // One reset token confirmed twice at once: exactly one new password wins.
    app.post(
        "/api/v1/auth/password-reset/request",
        None,
        json!({"email": "zhangwei@example.cn"}),
    );
    let token = app.mailed_token("zhangwei@example.cn", "Reset your password");
    let pws = ["first-new-password-1", "second-new-password-2"];
    let statuses: Vec<u16> = std::thread::scope(|s| {
        let hs: Vec<_> = pws
            .iter()
            .map(|pw| {
                let token = token.clone();
                let app = &app;
                s.spawn(move || {
                    app.post(
                        "/api/v1/auth/password-reset/confirm",
                        None,
                        json!({"token": token, "new_password": pw}),
                    )
                    .status
                })
            })
            .collect();
        hs.into_iter().map(|h| h.join().unwrap()).collect()
    });
    let mut sorted = statuses.clone();
    sorted.sort();
    assert_eq!(sorted, vec![204, 422], "{statuses:?}");
    let winner = pws[statuses.iter().position(|s| *s == 204).unwrap()];
    let loser = pws[statuses.iter().position(|s| *s == 422).unwrap()];
    app.login_pair("zhangwei@example.cn", winner);
    login_status(&app, "zhangwei@example.cn", loser).assert_problem(401, "unauthorized");

    // One refresh token presented twice at once: never two live successors.
    let pair = app.login_pair("zhangwei@example.cn", winner);
    let rt = s(&pair["refresh_token"]);
    let results: Vec<Resp> = std::thread::scope(|sc| {
        let hs: Vec<_> = (0..2).map(|_| sc.spawn(|| refresh(&app, &rt))).collect();
        hs.into_iter().map(|h| h.join().unwrap()).collect()
    });
    let mut statuses: Vec<u16> = results.iter().map(|r| r.status).collect();
    statuses.sort();
    assert_eq!(
        statuses,
        [200, 401],
        "exactly one successor of one refresh token: {:?}",
        results.iter().map(|r| &r.text).collect::<Vec<_>>()
    );
    let loser = results.iter().find(|r| r.status == 401).unwrap();
    loser.assert_problem(401, "unauthorized");
    // The winner's access token works (issued access tokens live out their 15 minutes even
    // if the loser's attempt counted as reuse and revoked the family).
    let winner = results.iter().find(|r| r.status == 200).unwrap();
    assert_eq!(
        app.get("/api/v1/me", Some(&s(&winner.body["access_token"])))
            .status,
        200
    );
}

#[test]
fn mass_assignment_is_refused() {
    let app = TestApp::start();
    let admin = app.admin_token();
    let o = orgs(&app, &admin);
    let base = json!({"email": "zhangwei@example.cn", "password": PW, "display_name": "张伟"});
    let smuggled = [
        ("role", json!("admin")),
        ("email_verified", json!(true)),
        ("id", json!(uuid::Uuid::new_v4().to_string())),
        ("disabled", json!(false)),
        ("token_version", json!(9)),
        ("township_id", json!(o.township)),
    ];
    for (field, value) in &smuggled {
        let mut b = base.clone();
        b[*field] = value.clone();
        app.post("/api/v1/auth/register", None, b)
            .assert_field(field);
    }
    // Nothing was created by those: the address is still free.
    assert!(app.outbox().is_empty());
    let r = app.post("/api/v1/auth/register", None, base);
    assert_eq!(r.status, 201, "{}", r.text);
    assert_eq!(r.body["role"], "investor");
    assert_eq!(r.body["email_verified"], false);

    // POST /users refuses unknown fields too.
    let user = json!({"email": "liqiang@caojing.gov.cn", "password": PW, "display_name": "李强",
                      "role": "staff", "township_id": o.township});
    for (field, value) in [
        ("email_verified", json!(false)),
        ("disabled", json!(true)),
        ("id", json!(uuid::Uuid::new_v4().to_string())),
        ("password_hash", json!("$argon2id$v=19$m=19456,t=2,p=1$x$y")),
    ] {
        let mut b = user.clone();
        b[field] = value;
        app.post("/api/v1/users", Some(&admin), b)
            .assert_field(field);
    }
    // A role that doesn't exist, wrong types.
    let mut b = user.clone();
    b["role"] = json!("superuser");
    app.post("/api/v1/users", Some(&admin), b)
        .assert_field("role");
    let mut b = user.clone();
    b["display_name"] = json!(42);
    app.post("/api/v1/users", Some(&admin), b)
        .assert_field("display_name");
    assert_eq!(app.post("/api/v1/users", Some(&admin), user).status, 201);
    // Organisation bodies too.
    app.post(
        "/api/v1/townships",
        Some(&admin),
        json!({"code": "JSW", "name": "金山卫镇", "id": uuid::Uuid::new_v4().to_string()}),
    )
    .assert_field("id");
    app.post(
        "/api/v1/villages",
        Some(&admin),
        json!({"township_id": o.township, "code": "HY", "name": "花园村", "created_at": "2027-01-01T00:00:00Z"}),
    )
    .assert_field("created_at");
}

#[test]
fn register_validates_and_refuses_duplicates() {
    let app = TestApp::start();
    for (body, field) in [
        (
            json!({"email": "zhangwei", "password": PW, "display_name": "张伟"}),
            "email",
        ),
        (
            json!({"email": "zhangwei@example.cn", "password": "short", "display_name": "张伟"}),
            "password",
        ),
        (
            json!({"email": "zhangwei@example.cn", "password": "x".repeat(129), "display_name": "张伟"}),
            "password",
        ),
        (
            json!({"email": "zhangwei@example.cn", "password": "zhangwei@example.cn", "display_name": "张伟"}),
            "password",
        ),
        (
            json!({"email": "zhangwei@example.cn", "password": PW, "display_name": "  "}),
            "display_name",
        ),
        (
            json!({"email": "zhangwei@example.cn", "password": PW, "display_name": "张伟", "phone": "call me"}),
            "phone",
        ),
        (
            json!({"email": "zhangwei@example.cn", "password": PW}),
            "display_name",
        ),
    ] {
        app.post("/api/v1/auth/register", None, body)
            .assert_field(field);
    }
    // A 10-character Chinese password is long enough.
    let r = app.post(
        "/api/v1/auth/register",
        None,
        json!({"email": "zhangwei@example.cn", "password": "土地流转密码二零二七", "display_name": "张伟"}),
    );
    assert_eq!(r.status, 201, "{}", r.text);
    app.login_pair("zhangwei@example.cn", "土地流转密码二零二七");
    // The same address in another case is taken.
    register(&app, "ZHANGWEI@example.cn", "张伟").assert_problem(409, "conflict");
    app.call_raw(
        "POST",
        "/api/v1/auth/register",
        None,
        Some("{\"email\":".into()),
        &[],
    )
    .assert_problem(400, "bad_request");
}

/// "Wrong e-mail or password → 401 (same answer and similar time for both)": every login
/// costs exactly one password verification, a dummy one when the e-mail is unknown or the
/// account has no password yet. The verification counter is process-wide, so the test runs
/// in a process of its own where no other test logs in.
#[test]
fn unknown_email_and_wrong_password_look_the_same() {
    in_own_process(
        "accounts::unknown_email_and_wrong_password_look_the_same",
        || {
            let app = TestApp::start();
            let admin = app.admin_token();
            let o = orgs(&app, &admin);
            register_ok(&app, "zhangwei@example.cn", "张伟");
            // An invited account has no password hash at all.
            let r = app.post(
                "/api/v1/users",
                Some(&admin),
                json!({"email": "liqiang@caojing.gov.cn", "display_name": "李强", "role": "staff",
                   "township_id": o.township}),
            );
            assert_eq!(r.status, 201, "{}", r.text);
            // One login, and how many verifications it cost.
            let login = |email: &str, password: &str| {
                let before = password_verifications();
                let r = login_status(&app, email, password);
                (r, password_verifications() - before)
            };

            let (right, n) = login("zhangwei@example.cn", PW);
            assert_eq!(right.status, 200, "{}", right.text);
            assert_eq!(n, 1, "a successful login verifies once");
            let (wrong, n) = login("zhangwei@example.cn", "wrong-password-1");
            wrong.assert_problem(401, "unauthorized");
            assert_eq!(n, 1, "a wrong password verifies once");

            let (unknown, n) = login("nobody@example.cn", "wrong-password-1");
            unknown.assert_problem(401, "unauthorized");
            assert_eq!(n, 1, "an unknown e-mail costs one (dummy) verification too");
            assert_eq!(unknown.body, wrong.body);
            assert_eq!(
                unknown.header("www-authenticate"),
                wrong.header("www-authenticate")
            );

            let (invited, n) = login("liqiang@caojing.gov.cn", "wrong-password-1");
            invited.assert_problem(401, "unauthorized");
            assert_eq!(
                n, 1,
                "an account without a password costs one verification too"
            );
            assert_eq!(invited.body, wrong.body);

            // Malformed e-mail in login is still the same 401, not a hint (nor faster).
            let (odd, n) = login("not-an-email", "wrong-password-1");
            odd.assert_problem(401, "unauthorized");
            assert_eq!(odd.body, wrong.body);
            assert_eq!(n, 1, "a malformed e-mail costs one verification too");
        },
    );
}

#[test]
fn accounts_must_carry_exactly_their_organisation() {
    let app = TestApp::start();
    let admin = app.admin_token();
    let o = orgs(&app, &admin);
    let user = |role: &str, extra: Value| {
        let mut b = json!({"email": "liqiang@caojing.gov.cn", "password": PW,
                           "display_name": "李强", "role": role});
        for (k, v) in extra.as_object().unwrap() {
            b[k] = v.clone();
        }
        app.post("/api/v1/users", Some(&admin), b)
    };
    user("collective", json!({})).assert_field("village_id");
    user("collective", json!({"township_id": o.township})).assert_field("village_id");
    user("staff", json!({"village_id": o.villages[0]})).assert_field("village_id");
    user(
        "staff",
        json!({"village_id": o.villages[0], "township_id": o.township}),
    )
    .assert_field("village_id");
    user("staff", json!({})).assert_field("township_id");
    user("insurer", json!({})).assert_field("insurer_id");
    user(
        "insurer",
        json!({"insurer_id": o.insurer, "village_id": o.villages[0]}),
    )
    .assert_field("village_id");
    user("investor", json!({"insurer_id": o.insurer})).assert_field("insurer_id");
    user("admin", json!({"township_id": o.township})).assert_field("township_id");
    // Organisations that don't exist.
    let ghost = uuid::Uuid::new_v4().to_string();
    user("collective", json!({"village_id": ghost})).assert_field("village_id");
    user("staff", json!({"township_id": ghost})).assert_field("township_id");
    user("insurer", json!({"insurer_id": ghost})).assert_field("insurer_id");
    // A village id is not a township id.
    user("staff", json!({"township_id": o.villages[0]})).assert_field("township_id");
    user(
        "staff",
        json!({"township_id": o.township, "password": "short"}),
    )
    .assert_field("password");
    user("staff", json!({"township_id": o.township, "email": "bad"})).assert_field("email");

    let r = user("collective", json!({"village_id": o.villages[1]}));
    assert_eq!(r.status, 201, "{}", r.text);
    assert_eq!(r.body["village_id"], o.villages[1].as_str());
    assert!(r.body["township_id"].is_null());
    let collective = r.id();
    user("staff", json!({"township_id": o.township})).assert_problem(409, "conflict");
    let b = json!({"email": "LiQiang@CaoJing.gov.cn", "password": PW,
                   "display_name": "李强", "role": "investor"});
    app.post("/api/v1/users", Some(&admin), b)
        .assert_problem(409, "conflict");
    register(&app, "liqiang@caojing.gov.cn", "李强").assert_problem(409, "conflict");

    // Listing with filters.
    for (email, role, org) in [
        (
            "zhaolei@caojing.gov.cn",
            "staff",
            json!({"township_id": o.township}),
        ),
        (
            "sunli@axny.com.cn",
            "insurer",
            json!({"insurer_id": o.insurer}),
        ),
    ] {
        let mut b = json!({"email": email, "password": PW, "display_name": "赵磊", "role": role});
        for (k, v) in org.as_object().unwrap() {
            b[k] = v.clone();
        }
        assert_eq!(app.post("/api/v1/users", Some(&admin), b).status, 201);
    }
    let staff = app.get("/api/v1/users?role=staff", Some(&admin));
    let items = staff.body["items"].as_array().unwrap();
    assert_eq!(items.len(), 1);
    assert_eq!(items[0]["email"], "zhaolei@caojing.gov.cn");
    let by_village = app.get(
        &format!("/api/v1/users?village_id={}", o.villages[1]),
        Some(&admin),
    );
    let items = by_village.body["items"].as_array().unwrap();
    assert_eq!(items.len(), 1);
    assert_eq!(items[0]["id"], collective.as_str());
    // Paginating the accounts walks each exactly once.
    let seen = walk(&app, Some(&admin), "/api/v1/users", 1);
    assert_eq!(seen.len(), 4, "admin + collective + staff + insurer");
    assert_eq!(seen.iter().collect::<HashSet<_>>().len(), 4);
    app.get("/api/v1/users?role=boss", Some(&admin))
        .assert_problem(400, "bad_request");

    let recs = app.audit_for(&collective);
    assert_eq!(recs.len(), 1);
    assert_eq!(recs[0].action, "user.created");
}

#[test]
fn admin_create_cli_refuses_a_taken_email() {
    let app = TestApp::start();
    let args = [
        "admin",
        "create",
        "--email",
        "zhouming@landx.gov.cn",
        "--password",
        "platform-admin-2027",
        "--display-name",
        "周明",
    ];
    let out = landx_cli(&app, &args);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(
        out.status.code(),
        Some(0),
        "{stdout} {}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(stdout.contains("zhouming@landx.gov.cn"), "{stdout}");
    let token = app.login("zhouming@landx.gov.cn", "platform-admin-2027");
    let me = app.get("/api/v1/me", Some(&token));
    assert_eq!(me.body["role"], "admin");
    assert_eq!(me.body["display_name"], "周明");
    let recs = app.audit_for(&me.id());
    assert_eq!(recs.len(), 1);
    assert_eq!(recs[0].action, "user.created");

    let mut again = args;
    again[3] = "ZhouMing@landx.gov.cn";
    let out = landx_cli(&app, &again);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(stderr.contains("already exists"), "{stderr}");
    assert!(stderr.contains("zhouming@landx.gov.cn"), "{stderr}");
    assert!(!stderr.contains("Conflict("), "no debug output: {stderr}");

    let out = landx_cli(
        &app,
        &[
            "admin",
            "create",
            "--email",
            "x@landx.gov.cn",
            "--password",
            "short",
        ],
    );
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).contains("--password"));

    let users = app.get("/api/v1/users?role=admin", Some(&token));
    assert_eq!(users.body["items"].as_array().unwrap().len(), 1);
}

#[test]
fn auth_routes_ignore_idempotency_keys_even_with_a_token() {
    let app = TestApp::start();
    let admin = app.admin_token();
    let r = app.call_raw(
        "POST",
        "/api/v1/auth/password-reset/request",
        Some(&admin),
        Some(serde_json::json!({"email": "nobody@landx.test"}).to_string()),
        &[("Idempotency-Key", "same-key")],
    );
    assert_eq!(r.status, 202);
    let r = app.call_raw(
        "POST",
        "/api/v1/auth/password-reset/request",
        Some(&admin),
        Some(serde_json::json!({"email": "other@landx.test"}).to_string()),
        &[("Idempotency-Key", "same-key")],
    );
    assert_eq!(
        r.status, 202,
        "a different body with the same key is not refused: nothing was stored"
    );
    assert_eq!(
        db::count(app.pool(), "idempotency_keys", "1 = 1"),
        0,
        "nothing stored for /auth/*"
    );
}
