//! Issue 3 "Identity and access": accounts, tokens, roles, organisations, throttling, mail
//! and the audit trail of account changes, black-box over HTTP (plus the `landx` binary).

mod common;

use std::collections::HashSet;
use std::io::{BufRead, BufReader, Write};
use std::net::{TcpListener, TcpStream};
use std::sync::atomic::Ordering;
use std::sync::{Arc, Mutex};

use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use base64::Engine;
use chrono::Duration;
use common::*;
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use landx::clock::Clock;
use serde_json::{json, Value};

const PW: &str = "caojing-land-2027";
const NEW_PW: &str = "huangpu-river-2028";

// ---- helpers -------------------------------------------------------------------------------

fn register(app: &TestApp, email: &str, name: &str) -> Resp {
    app.post(
        "/api/v1/auth/register",
        None,
        json!({"email": email, "password": PW, "display_name": name, "phone": "13812345678"}),
    )
}

/// Registers an investor and returns its id.
fn register_ok(app: &TestApp, email: &str, name: &str) -> String {
    let r = register(app, email, name);
    assert_eq!(r.status, 201, "register {email}: {}", r.text);
    r.id()
}

/// Logs in and returns the whole token pair.
fn login_pair(app: &TestApp, email: &str, password: &str) -> Value {
    let r = app.post(
        "/api/v1/auth/login",
        None,
        json!({"email": email, "password": password}),
    );
    assert_eq!(r.status, 200, "login {email}: {}", r.text);
    r.body
}

fn login_status(app: &TestApp, email: &str, password: &str) -> Resp {
    app.post(
        "/api/v1/auth/login",
        None,
        json!({"email": email, "password": password}),
    )
}

fn refresh(app: &TestApp, refresh_token: &str) -> Resp {
    app.post(
        "/api/v1/auth/refresh",
        None,
        json!({"refresh_token": refresh_token}),
    )
}

fn s(v: &Value) -> String {
    v.as_str()
        .unwrap_or_else(|| panic!("not a string: {v}"))
        .to_string()
}

fn me_id(app: &TestApp, token: &str) -> String {
    let r = app.get("/api/v1/me", Some(token));
    assert_eq!(r.status, 200, "{}", r.text);
    r.id()
}

fn actions(app: &TestApp, entity: &str) -> Vec<String> {
    app.audit_for(entity)
        .into_iter()
        .map(|a| a.action)
        .collect()
}

fn mails_to<'a>(
    outbox: &'a [landx::db::models::OutboxMail],
    to: &str,
    subject_end: &str,
) -> Vec<&'a landx::db::models::OutboxMail> {
    outbox
        .iter()
        .filter(|m| m.to_addr == to && m.subject.ends_with(subject_end))
        .collect()
}

struct Orgs {
    township: String,
    villages: Vec<String>,
    insurer: String,
}

/// 漕泾镇 with three villages and one insurer, created by `admin`.
fn orgs(app: &TestApp, admin: &str) -> Orgs {
    let t = app.post(
        "/api/v1/townships",
        Some(admin),
        json!({"code": "CJ", "name": "漕泾镇"}),
    );
    assert_eq!(t.status, 201, "{}", t.text);
    let township = t.id();
    let villages = [("HT", "护塘村"), ("JG", "金光村"), ("RX", "阮巷村")]
        .iter()
        .map(|(code, name)| {
            let v = app.post(
                "/api/v1/villages",
                Some(admin),
                json!({"township_id": township, "code": code, "name": name}),
            );
            assert_eq!(v.status, 201, "{}", v.text);
            v.id()
        })
        .collect();
    let i = app.post(
        "/api/v1/insurers",
        Some(admin),
        json!({"code": "AXNY", "name": "安信农业保险"}),
    );
    assert_eq!(i.status, 201, "{}", i.text);
    Orgs {
        township,
        villages,
        insurer: i.id(),
    }
}

struct Person {
    role: &'static str,
    id: String,
    email: String,
    access: String,
    refresh: String,
}

/// One account of each role: the admin (made directly), staff / collective / insurer made
/// through the admin API, and a self-registered investor.
fn people(app: &TestApp, admin: &str, o: &Orgs) -> Vec<Person> {
    let admin_id = me_id(app, admin);
    let admin_email = s(&app.get("/api/v1/me", Some(admin)).body["email"]);
    let mut out = vec![Person {
        role: "admin",
        id: admin_id,
        email: admin_email,
        access: admin.to_string(),
        refresh: String::new(),
    }];
    let specs = [
        (
            "staff",
            "liqiang@caojing.gov.cn",
            "李强",
            json!({"township_id": o.township}),
        ),
        (
            "collective",
            "wangfang@hutang.cn",
            "王芳",
            json!({"village_id": o.villages[0]}),
        ),
        (
            "insurer",
            "chenjing@axny.com.cn",
            "陈静",
            json!({"insurer_id": o.insurer}),
        ),
    ];
    for (role, email, name, org) in specs {
        let mut body = json!({"email": email, "password": PW, "display_name": name, "role": role});
        for (k, v) in org.as_object().unwrap() {
            body[k] = v.clone();
        }
        let r = app.post("/api/v1/users", Some(admin), body);
        assert_eq!(r.status, 201, "{role}: {}", r.text);
        assert_eq!(r.body["role"], role);
        assert_eq!(r.body["email_verified"], true);
        let pair = login_pair(app, email, PW);
        out.push(Person {
            role,
            id: r.id(),
            email: email.into(),
            access: s(&pair["access_token"]),
            refresh: s(&pair["refresh_token"]),
        });
    }
    let id = register_ok(app, "zhangwei@example.cn", "张伟");
    let pair = login_pair(app, "zhangwei@example.cn", PW);
    out.push(Person {
        role: "investor",
        id,
        email: "zhangwei@example.cn".into(),
        access: s(&pair["access_token"]),
        refresh: s(&pair["refresh_token"]),
    });
    out
}

fn jwt(secret: &[u8], alg: Algorithm, claims: &Value) -> String {
    jsonwebtoken::encode(&Header::new(alg), claims, &EncodingKey::from_secret(secret)).unwrap()
}

fn claims(app: &TestApp, sub: &str, role: &str) -> Value {
    let now = app.clock.now().timestamp();
    json!({
        "sub": sub, "iss": "landx", "aud": "landx-api",
        "exp": now + 600, "iat": now, "role": role, "ver": 0
    })
}

// ---- roles and tokens ----------------------------------------------------------------------

#[test]
fn every_route_admits_only_its_roles() {
    let app = TestApp::start();
    let admin = app.admin_token();
    let o = orgs(&app, &admin);
    let ps = people(&app, &admin, &o);
    let admin_id = ps[0].id.clone();
    let investor_id = ps[4].id.clone();

    for (n, p) in ps.iter().enumerate() {
        let tok = Some(p.access.as_str());
        let is_admin = p.role == "admin";
        let ctx = p.role;

        // GET /me: every role, its own account and organisation.
        let me = app.get("/api/v1/me", tok);
        assert_eq!(me.status, 200, "{ctx}: {}", me.text);
        assert_eq!(me.body["id"], p.id.as_str());
        assert_eq!(me.body["role"], p.role);
        assert_eq!(me.body["email"], p.email.as_str());
        assert!(me.body.get("password_hash").is_none(), "{}", me.text);
        let org = |f: &str| me.body[f].as_str().map(str::to_string);
        match p.role {
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
        let before = mails_to(&app.outbox(), &p.email, "Reset your password").len();
        let r = app.post(
            "/api/v1/auth/password-reset/request",
            None,
            json!({"email": p.email}),
        );
        assert_eq!(r.status, 202, "{ctx}: {}", r.text);
        assert_eq!(
            mails_to(&app.outbox(), &p.email, "Reset your password").len(),
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
        let tok = Some(p.access.as_str());
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
        app.get("/api/v1/me", Some(&ps[4].access)).body["disabled"],
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
        app.get("/api/v1/me", Some(&p.access))
            .assert_problem(401, "unauthorized");
    }
}

#[test]
fn protected_routes_refuse_missing_and_bad_tokens() {
    let app = TestApp::start();
    let admin = app.admin_token();
    let admin_id = me_id(&app, &admin);
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
    c["exp"] = json!(app.clock.now().timestamp() - 1);
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
    let pair = login_pair(
        &app,
        &s(&app.get("/api/v1/me", Some(&admin)).body["email"]),
        "admin-password-1",
    );
    assert_eq!(pair["expires_in"], 900);
    assert_eq!(pair["token_type"], "Bearer");
    let access = s(&pair["access_token"]);
    app.clock.advance(Duration::minutes(14));
    assert_eq!(app.get("/api/v1/me", Some(&access)).status, 200);
    app.clock.advance(Duration::seconds(61));
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

// ---- refresh, logout, reset, verification, invitation, disabling ---------------------------

#[test]
fn refresh_rotates_and_reuse_revokes_the_family() {
    let app = TestApp::start();
    register_ok(&app, "zhangwei@example.cn", "张伟");
    let first = login_pair(&app, "zhangwei@example.cn", PW);
    let other_login = login_pair(&app, "zhangwei@example.cn", PW);
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
    let fresh = login_pair(&app, "zhangwei@example.cn", PW);
    app.clock.advance(Duration::days(30) + Duration::seconds(1));
    refresh(&app, &s(&fresh["refresh_token"])).assert_problem(401, "unauthorized");
}

#[test]
fn logout_ends_the_login() {
    let app = TestApp::start();
    register_ok(&app, "zhangwei@example.cn", "张伟");
    let pair = login_pair(&app, "zhangwei@example.cn", PW);
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
    login_pair(&app, "zhangwei@example.cn", PW);
}

#[test]
fn password_reset_is_single_use_and_kills_old_tokens() {
    let app = TestApp::start();
    let id = register_ok(&app, "zhangwei@example.cn", "张伟");
    let old = login_pair(&app, "zhangwei@example.cn", PW);
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
    let new = login_pair(&app, "zhangwei@example.cn", NEW_PW);
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
    login_pair(&app, "zhangwei@example.cn", NEW_PW);

    // A reset link is valid for one hour.
    let r = app.post(
        "/api/v1/auth/password-reset/request",
        None,
        json!({"email": "zhangwei@example.cn"}),
    );
    assert_eq!(r.status, 202);
    let late = app.mailed_token("zhangwei@example.cn", "Reset your password");
    assert_ne!(late, token);
    app.clock.advance(Duration::minutes(61));
    app.post(
        "/api/v1/auth/password-reset/confirm",
        None,
        json!({"token": late, "new_password": "yet-another-pw-2029"}),
    )
    .assert_field("token");
    login_pair(&app, "zhangwei@example.cn", NEW_PW);

    let acts = actions(&app, &id);
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

    let mails = app.outbox();
    let mine = mails_to(&mails, "zhang.wei@example.cn", "Verify your e-mail");
    assert_eq!(mine.len(), 1, "{mails:?}");
    let token = app.mailed_token("zhang.wei@example.cn", "Verify your e-mail");
    assert!(mine[0]
        .body
        .contains(&format!("http://landx.test/verify-email?token={token}")));
    assert!(mine[0].body.contains("张伟"));

    // An unverified investor can log in.
    let pair = login_pair(&app, "zhang.wei@example.cn", PW);
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
        actions(&app, &id),
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
    app.clock
        .advance(Duration::hours(48) + Duration::seconds(1));
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
    let admin_id = me_id(&app, &admin);
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

    let pair = login_pair(&app, "liqiang@caojing.gov.cn", PW);
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
    assert_eq!(actions(&app, &r.id()), vec!["user.created"]);

    // Invitations expire after 7 days.
    let r = app.post(
        "/api/v1/users",
        Some(&admin),
        json!({"email": "wangfang@hutang.cn", "display_name": "王芳", "role": "collective",
               "village_id": o.villages[0]}),
    );
    assert_eq!(r.status, 201, "{}", r.text);
    let late = app.mailed_token("wangfang@hutang.cn", "Set your password");
    app.clock.advance(Duration::days(7) + Duration::seconds(1));
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
    let admin_id = me_id(&app, &admin);
    let id = register_ok(&app, "zhangwei@example.cn", "张伟");
    let pair = login_pair(&app, "zhangwei@example.cn", PW);
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
    login_pair(&app, "zhangwei@example.cn", winner);
    login_status(&app, "zhangwei@example.cn", loser).assert_problem(401, "unauthorized");

    // One refresh token presented twice at once: never two live successors.
    let pair = login_pair(&app, "zhangwei@example.cn", winner);
    let rt = s(&pair["refresh_token"]);
    let results: Vec<Resp> = std::thread::scope(|sc| {
        let hs: Vec<_> = (0..2).map(|_| sc.spawn(|| refresh(&app, &rt))).collect();
        hs.into_iter().map(|h| h.join().unwrap()).collect()
    });
    let ok: Vec<&Resp> = results.iter().filter(|r| r.status == 200).collect();
    assert!(ok.len() <= 1, "two successors of one refresh token");
    assert!(results.iter().all(|r| r.status == 200 || r.status == 401));
}

// ---- input hygiene, enumeration --------------------------------------------------------------

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
    login_pair(&app, "zhangwei@example.cn", "土地流转密码二零二七");
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

#[test]
fn unknown_email_and_wrong_password_look_the_same() {
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

    let wrong = login_status(&app, "zhangwei@example.cn", "wrong-password-1");
    wrong.assert_problem(401, "unauthorized");

    let before = landx::auth::password::VERIFICATIONS.load(Ordering::SeqCst);
    let unknown = login_status(&app, "nobody@example.cn", "wrong-password-1");
    let after = landx::auth::password::VERIFICATIONS.load(Ordering::SeqCst);
    unknown.assert_problem(401, "unauthorized");
    assert!(
        after > before,
        "an unknown e-mail must cost a password verification too"
    );
    assert_eq!(unknown.body, wrong.body);
    assert_eq!(
        unknown.header("www-authenticate"),
        wrong.header("www-authenticate")
    );

    let before = landx::auth::password::VERIFICATIONS.load(Ordering::SeqCst);
    let invited = login_status(&app, "liqiang@caojing.gov.cn", "wrong-password-1");
    let after = landx::auth::password::VERIFICATIONS.load(Ordering::SeqCst);
    invited.assert_problem(401, "unauthorized");
    assert!(after > before);
    assert_eq!(invited.body, wrong.body);

    // Malformed e-mail in login is still the same 401, not a hint.
    let odd = login_status(&app, "not-an-email", "wrong-password-1");
    odd.assert_problem(401, "unauthorized");
    assert_eq!(odd.body, wrong.body);
}

// ---- mail through a real SMTP server -------------------------------------------------------

/// A minimal SMTP server: answers 220/250/354/221 and keeps each DATA block.
fn start_smtp(port: u16) -> Arc<Mutex<Vec<String>>> {
    let listener = TcpListener::bind(("127.0.0.1", port)).expect("bind smtp port");
    let got = Arc::new(Mutex::new(Vec::new()));
    let g = got.clone();
    std::thread::spawn(move || {
        for stream in listener.incoming() {
            let Ok(stream) = stream else { break };
            let g = g.clone();
            std::thread::spawn(move || {
                let _ = smtp_session(stream, &g);
            });
        }
    });
    got
}

fn smtp_session(stream: TcpStream, got: &Mutex<Vec<String>>) -> std::io::Result<()> {
    stream.set_read_timeout(Some(std::time::Duration::from_secs(20)))?;
    let mut w = stream.try_clone()?;
    let mut r = BufReader::new(stream);
    w.write_all(b"220 mx.landx.test ESMTP\r\n")?;
    let mut line = Vec::new();
    loop {
        line.clear();
        if r.read_until(b'\n', &mut line)? == 0 {
            return Ok(());
        }
        let cmd = String::from_utf8_lossy(&line)
            .trim_end()
            .to_ascii_uppercase();
        if cmd.starts_with("EHLO") || cmd.starts_with("HELO") {
            w.write_all(b"250 mx.landx.test\r\n")?;
        } else if cmd == "DATA" {
            w.write_all(b"354 end data with <CR><LF>.<CR><LF>\r\n")?;
            let mut data = Vec::new();
            loop {
                line.clear();
                if r.read_until(b'\n', &mut line)? == 0 {
                    return Ok(());
                }
                let l = line.strip_suffix(b"\n").unwrap_or(&line);
                let l = l.strip_suffix(b"\r").unwrap_or(l);
                if l == b"." {
                    break;
                }
                // Undo dot-stuffing.
                let l = l.strip_prefix(b".").unwrap_or(l);
                data.extend_from_slice(l);
                data.extend_from_slice(b"\r\n");
            }
            got.lock()
                .unwrap()
                .push(String::from_utf8_lossy(&data).into_owned());
            w.write_all(b"250 2.0.0 queued\r\n")?;
        } else if cmd == "QUIT" {
            w.write_all(b"221 2.0.0 bye\r\n")?;
            return Ok(());
        } else {
            w.write_all(b"250 2.0.0 ok\r\n")?;
        }
    }
}

/// Headers (unfolded) and the body of a message.
fn parse_message(raw: &str) -> (Vec<(String, String)>, String) {
    let (head, body) = raw.split_once("\r\n\r\n").expect("header/body separator");
    let unfolded = head.replace("\r\n ", " ").replace("\r\n\t", " ");
    let headers = unfolded
        .split("\r\n")
        .filter_map(|l| l.split_once(':'))
        .map(|(k, v)| (k.trim().to_ascii_lowercase(), v.trim().to_string()))
        .collect();
    (headers, body.to_string())
}

fn header<'a>(headers: &'a [(String, String)], name: &str) -> Option<&'a str> {
    headers
        .iter()
        .find(|(k, _)| k == name)
        .map(|(_, v)| v.as_str())
}

fn hex_byte(h: &[u8]) -> Option<u8> {
    u8::from_str_radix(std::str::from_utf8(h).ok()?, 16).ok()
}

/// Decodes RFC 2047 encoded-words (`=?charset?B|Q?text?=`); whitespace between adjacent
/// encoded words is dropped.
fn decode_rfc2047(s: &str) -> String {
    let mut out: Vec<u8> = Vec::new();
    let mut rest = s;
    let mut prev_encoded = false;
    while let Some(start) = rest.find("=?") {
        let before = &rest[..start];
        let word = &rest[start + 2..];
        let mut parts = word.splitn(3, '?');
        let (Some(_charset), Some(enc), Some(tail)) = (parts.next(), parts.next(), parts.next())
        else {
            break;
        };
        let Some(end) = tail.find("?=") else { break };
        let text = &tail[..end];
        if !(prev_encoded && before.trim().is_empty()) {
            out.extend_from_slice(before.as_bytes());
        }
        match enc.to_ascii_uppercase().as_str() {
            "B" => out.extend(STANDARD.decode(text).expect("base64 encoded-word")),
            "Q" => {
                let b = text.as_bytes();
                let mut i = 0;
                while i < b.len() {
                    match b[i] {
                        b'_' => out.push(b' '),
                        b'=' if i + 2 < b.len() => {
                            out.push(hex_byte(&b[i + 1..i + 3]).expect("Q hex"));
                            i += 2;
                        }
                        c => out.push(c),
                    }
                    i += 1;
                }
            }
            other => panic!("unknown encoding {other}"),
        }
        prev_encoded = true;
        rest = &tail[end + 2..];
    }
    out.extend_from_slice(rest.as_bytes());
    String::from_utf8(out).expect("utf-8 subject")
}

fn decode_body(headers: &[(String, String)], body: &str) -> String {
    let cte = header(headers, "content-transfer-encoding")
        .unwrap_or("7bit")
        .to_ascii_lowercase();
    match cte.as_str() {
        "base64" => {
            let compact: String = body.chars().filter(|c| !c.is_whitespace()).collect();
            String::from_utf8(STANDARD.decode(compact).expect("base64 body")).unwrap()
        }
        "quoted-printable" => {
            let joined = body.replace("=\r\n", "");
            let b = joined.as_bytes();
            let mut out = Vec::new();
            let mut i = 0;
            while i < b.len() {
                if b[i] == b'=' && i + 2 < b.len() {
                    out.push(hex_byte(&b[i + 1..i + 3]).expect("QP hex"));
                    i += 3;
                } else {
                    out.push(b[i]);
                    i += 1;
                }
            }
            String::from_utf8(out).unwrap()
        }
        _ => body.to_string(),
    }
}

#[test]
fn rfc2047_decoder_understands_both_encodings() {
    assert_eq!(
        decode_rfc2047("=?utf-8?b?5byg5LyfIA==?= =?utf-8?q?Verify_your_e-mail?="),
        "张伟 Verify your e-mail"
    );
    assert_eq!(decode_rfc2047("plain subject"), "plain subject");
    assert_eq!(decode_rfc2047("=?UTF-8?Q?a=3Db?= tail"), "a=b tail");
}

#[test]
fn mail_is_relayed_over_smtp_with_retry() {
    let port = {
        let l = TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap().port()
    };
    let app = TestApp::start_with(|s| {
        s.mail.transport = "smtp".into();
        s.mail.smtp_host = "127.0.0.1".into();
        s.mail.smtp_port = port;
    });
    let id = register_ok(&app, "zhangwei@example.cn", "张伟");
    let token = app.mailed_token("zhangwei@example.cn", "Verify your e-mail");

    // Nobody listens yet: the attempt fails and is scheduled again.
    app.run_jobs();
    let outbox = app.outbox();
    assert_eq!(outbox.len(), 1);
    assert_eq!(outbox[0].attempts, 1);
    assert!(outbox[0].sent_at.is_none());
    assert!(outbox[0].last_error.is_some());

    let got = start_smtp(port);
    // Not yet due (5 s backoff).
    app.run_jobs();
    assert!(got.lock().unwrap().is_empty());
    assert!(app.outbox()[0].sent_at.is_none());

    app.clock.advance(Duration::seconds(6));
    app.run_jobs();
    assert_eq!(got.lock().unwrap().len(), 1);
    let sent = &app.outbox()[0];
    assert!(sent.sent_at.is_some());
    assert_eq!(sent.attempts, 2);

    app.clock.advance(Duration::minutes(10));
    app.run_jobs();
    let msgs = got.lock().unwrap().clone();
    assert_eq!(msgs.len(), 1, "sent exactly once");

    let (headers, body) = parse_message(&msgs[0]);
    let to = header(&headers, "to").expect("To header");
    assert!(to.contains("zhangwei@example.cn"), "{to}");
    let from = header(&headers, "from").expect("From header");
    assert!(from.contains("noreply@landx.local"), "{from}");
    let raw_subject = header(&headers, "subject").expect("Subject header");
    assert!(raw_subject.is_ascii(), "encoded on the wire: {raw_subject}");
    let subject = decode_rfc2047(raw_subject);
    assert!(subject.ends_with("Verify your e-mail"), "{subject}");
    assert_eq!(subject, sent.subject);
    let text = decode_body(&headers, &body);
    assert!(
        text.contains(&format!("/verify-email?token={token}")),
        "{text}"
    );
    assert!(text.contains("张伟"), "{text}");

    // And the delivered token works.
    let r = app.post("/api/v1/auth/verify-email", None, json!({"token": token}));
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(r.body["id"], id.as_str());
}

// ---- the command line ----------------------------------------------------------------------

fn landx_cli(app: &TestApp, args: &[&str]) -> std::process::Output {
    let dir = tempfile::tempdir().unwrap();
    std::process::Command::new(env!("CARGO_BIN_EXE_landx"))
        .args(args)
        .env("LANDX_DATABASE__URL", &app.settings.database.url)
        .env("LANDX_ENV", "test")
        .env_remove("RUST_LOG")
        .current_dir(dir.path())
        .output()
        .expect("run landx")
}

#[test]
fn audit_verify_detects_tampering() {
    let app = TestApp::start();
    let admin = app.admin_token();
    let o = orgs(&app, &admin);
    register_ok(&app, "zhangwei@example.cn", "张伟");
    let out = landx_cli(&app, &["audit", "verify"]);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(
        out.status.code(),
        Some(0),
        "{stdout} {}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(stdout.contains("intact"), "{stdout}");
    // admin + township + 3 villages + insurer + registration
    assert!(stdout.contains("7 record"), "{stdout}");

    let rec = app.audit_for(&o.villages[1]).remove(0);
    assert_eq!(rec.action, "village.created");
    app.exec_sql(&format!(
        "UPDATE audit_log SET reason = 'x' WHERE id = '{}'",
        rec.id
    ));
    let out = landx_cli(&app, &["audit", "verify"]);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(1), "{stdout}");
    assert!(stdout.contains(&rec.id), "names the record: {stdout}");
    assert!(!stdout.contains("intact"));

    // Appending after tampering doesn't hide it.
    register_ok(&app, "lina@example.cn", "李娜");
    let out = landx_cli(&app, &["audit", "verify"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stdout).contains(&rec.id));
}

#[test]
fn audit_verify_detects_a_deleted_record() {
    let app = TestApp::start();
    let admin = app.admin_token();
    let o = orgs(&app, &admin);
    let rec = app.audit_for(&o.insurer).remove(0);
    app.exec_sql(&format!("DELETE FROM audit_log WHERE id = '{}'", rec.id));
    let out = landx_cli(&app, &["audit", "verify"]);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(1), "{stdout}");
    assert!(stdout.contains("BROKEN"), "{stdout}");
}

#[test]
fn audit_verify_finds_records_outside_every_chain() {
    let app = TestApp::start();
    let admin = app.admin_token();
    orgs(&app, &admin);
    let forged = uuid::Uuid::now_v7().to_string();
    app.exec_sql(&format!(
        "INSERT INTO audit_log (id, stream, seq, prev_hash, hash, actor_id, actor_role, action, \
         entity_type, entity_id, from_state, to_state, reason, created_at) VALUES \
         ('{forged}', 'listing-0001', 1, '{g}', '{g}', NULL, NULL, 'deal.confirmed', 'deal', \
         'd-1', NULL, 'confirmed', NULL, '2027-01-10 02:00:00')",
        g = landx::audit::GENESIS_HASH
    ));
    let out = landx_cli(&app, &["audit", "verify"]);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(1), "{stdout}");
    assert!(
        stdout.contains(&forged),
        "names the forged record: {stdout}"
    );
}

#[test]
fn audit_verify_is_not_fooled_by_concurrent_writes() {
    // Verifying a live system: records committed while the chains are walked are not
    // tampering.
    let app = TestApp::start();
    let admin = app.admin_token();
    let stop = std::sync::atomic::AtomicBool::new(false);
    let mut failures = Vec::new();
    std::thread::scope(|s| {
        let writer = s.spawn(|| {
            let mut n = 0;
            while !stop.load(Ordering::SeqCst) {
                n += 1;
                let r = app.post(
                    "/api/v1/insurers",
                    Some(&admin),
                    json!({"code": format!("BX{n}"), "name": "中原农业保险"}),
                );
                assert_eq!(r.status, 201, "{}", r.text);
            }
            n
        });
        for _ in 0..150 {
            let mut conn = app.pool().get().unwrap();
            if let Err(b) = landx::audit::verify(&mut conn).unwrap() {
                failures.push(format!("{b:?}"));
            }
        }
        for _ in 0..3 {
            let out = landx_cli(&app, &["audit", "verify"]);
            if out.status.code() != Some(0) {
                failures.push(String::from_utf8_lossy(&out.stdout).into_owned());
            }
        }
        stop.store(true, Ordering::SeqCst);
        assert!(writer.join().unwrap() > 1, "writes overlapped the checks");
    });
    assert!(failures.is_empty(), "{failures:#?}");
    let out = landx_cli(&app, &["audit", "verify"]);
    assert_eq!(out.status.code(), Some(0));
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

// ---- throttling ----------------------------------------------------------------------------

#[test]
fn repeated_failures_lock_the_account_for_a_while() {
    let app = TestApp::start();
    register_ok(&app, "zhangwei@example.cn", "张伟");
    for _ in 0..5 {
        login_status(&app, "zhangwei@example.cn", "wrong-password-1")
            .assert_problem(401, "unauthorized");
    }
    let r = login_status(&app, "zhangwei@example.cn", PW);
    r.assert_problem(429, "rate_limited");
    let secs: u64 = r
        .header("retry-after")
        .expect("Retry-After")
        .parse()
        .expect("seconds");
    assert!((1..=60).contains(&secs), "{secs}");
    // Other accounts are not affected.
    register_ok(&app, "lina@example.cn", "李娜");
    login_pair(&app, "lina@example.cn", PW);

    app.clock.advance(Duration::seconds(secs as i64 + 1));
    login_pair(&app, "zhangwei@example.cn", PW);

    // Success resets the count: four more failures don't lock.
    for _ in 0..4 {
        login_status(&app, "zhangwei@example.cn", "wrong-password-1")
            .assert_problem(401, "unauthorized");
    }
    login_pair(&app, "zhangwei@example.cn", PW);

    // After the lock, failing again locks for longer.
    for _ in 0..5 {
        login_status(&app, "zhangwei@example.cn", "wrong-password-1")
            .assert_problem(401, "unauthorized");
    }
    let first = login_status(&app, "zhangwei@example.cn", PW);
    first.assert_problem(429, "rate_limited");
    app.clock.advance(Duration::seconds(61));
    login_status(&app, "zhangwei@example.cn", "wrong-password-1")
        .assert_problem(401, "unauthorized");
    let second = login_status(&app, "zhangwei@example.cn", PW);
    second.assert_problem(429, "rate_limited");
    let secs2: u64 = second.header("retry-after").unwrap().parse().unwrap();
    assert!(secs2 > 60, "lock doubles: {secs2}");

    // A password reset clears the lock.
    app.post(
        "/api/v1/auth/password-reset/request",
        None,
        json!({"email": "zhangwei@example.cn"}),
    );
    let t = app.mailed_token("zhangwei@example.cn", "Reset your password");
    let r = app.post(
        "/api/v1/auth/password-reset/confirm",
        None,
        json!({"token": t, "new_password": NEW_PW}),
    );
    assert_eq!(r.status, 204, "{}", r.text);
    login_pair(&app, "zhangwei@example.cn", NEW_PW);
}

#[test]
fn per_ip_limit_uses_a_sliding_minute() {
    let app = TestApp::start_with(|s| s.auth.ip_attempts_per_minute = 5);
    register_ok(&app, "zhangwei@example.cn", "张伟");
    register_ok(&app, "lina@example.cn", "李娜");
    login_pair(&app, "zhangwei@example.cn", PW);
    app.clock.advance(Duration::seconds(30));
    login_pair(&app, "lina@example.cn", PW);
    login_status(&app, "nobody@example.cn", "wrong-password-1").assert_problem(401, "unauthorized");
    // The sixth attempt within the minute, whatever the route.
    let r = login_status(&app, "zhangwei@example.cn", PW);
    r.assert_problem(429, "rate_limited");
    let secs: u64 = r.header("retry-after").unwrap().parse().unwrap();
    assert!((1..=60).contains(&secs), "{secs}");
    register(&app, "wangfang@example.cn", "王芳").assert_problem(429, "rate_limited");
    app.post(
        "/api/v1/auth/password-reset/request",
        None,
        json!({"email": "lina@example.cn"}),
    )
    .assert_problem(429, "rate_limited");
    // Routes outside the limit are unaffected.
    assert_eq!(app.get("/api/v1/townships", None).status, 200);

    // 31 s later the first three attempts have left the window.
    app.clock.advance(Duration::seconds(31));
    login_pair(&app, "zhangwei@example.cn", PW);
    register_ok(&app, "wangfang@example.cn", "王芳");
    login_pair(&app, "wangfang@example.cn", PW);
    login_status(&app, "zhangwei@example.cn", PW).assert_problem(429, "rate_limited");
    app.clock.advance(Duration::seconds(61));
    login_pair(&app, "lina@example.cn", PW);
}

#[test]
fn forwarded_for_is_believed_only_from_trusted_proxies() {
    // Untrusted clients can't dodge the per-IP limit by inventing X-Forwarded-For.
    let app = TestApp::start_with(|s| s.auth.ip_attempts_per_minute = 3);
    for i in 0..3 {
        let xff = format!("203.0.113.{i}");
        let r = app.call_raw(
            "POST",
            "/api/v1/auth/login",
            None,
            Some(json!({"email": "nobody@example.cn", "password": "wrong-password-1"}).to_string()),
            &[("X-Forwarded-For", &xff)],
        );
        r.assert_problem(401, "unauthorized");
    }
    app.call_raw(
        "POST",
        "/api/v1/auth/login",
        None,
        Some(json!({"email": "nobody@example.cn", "password": "wrong-password-1"}).to_string()),
        &[("X-Forwarded-For", "198.51.100.7")],
    )
    .assert_problem(429, "rate_limited");

    // Behind a trusted proxy, each client has its own window.
    let app = TestApp::start_with(|s| {
        s.auth.ip_attempts_per_minute = 3;
        s.server.trusted_proxies = vec!["127.0.0.1".into()];
    });
    let attempt = |client: &str| {
        app.call_raw(
            "POST",
            "/api/v1/auth/login",
            None,
            Some(json!({"email": "nobody@example.cn", "password": "wrong-password-1"}).to_string()),
            &[("X-Forwarded-For", client)],
        )
    };
    for _ in 0..3 {
        attempt("203.0.113.5").assert_problem(401, "unauthorized");
    }
    attempt("203.0.113.5").assert_problem(429, "rate_limited");
    // A client can't pick its bucket by prepending a forged hop: the right-most untrusted
    // address counts.
    attempt("198.51.100.1, 203.0.113.5").assert_problem(429, "rate_limited");
    attempt("203.0.113.6").assert_problem(401, "unauthorized");
}

#[test]
fn a_dozen_logins_a_minute_are_never_throttled() {
    let app = TestApp::start();
    register_ok(&app, "zhangwei@example.cn", "张伟");
    for i in 0..12 {
        let r = login_status(&app, "zhangwei@example.cn", PW);
        assert_eq!(r.status, 200, "login {i}: {}", r.text);
    }
}

#[test]
fn parallel_failed_logins_are_all_counted() {
    // A burst of guesses sent at once must count like the same guesses sent one by one
    // (a lost update of the counter would let bursts slip past the lock).
    let app = TestApp::start();
    register_ok(&app, "zhangwei@example.cn", "张伟");
    // Exactly the limit each time, so a single lost update shows.
    for round in 0..8 {
        if round > 0 {
            app.clock.advance(Duration::hours(2));
            login_pair(&app, "zhangwei@example.cn", PW);
        }
        std::thread::scope(|s| {
            for _ in 0..5 {
                s.spawn(|| {
                    let r = login_status(&app, "zhangwei@example.cn", "wrong-password-1");
                    assert!(r.status == 401 || r.status == 429, "{}", r.text);
                });
            }
        });
        login_status(&app, "zhangwei@example.cn", PW).assert_problem(429, "rate_limited");
    }
}

// ---- organisations -------------------------------------------------------------------------

/// Follows `next_cursor` with `limit=1`; returns the ids in order.
fn walk(app: &TestApp, path: &str) -> Vec<String> {
    let mut ids = Vec::new();
    let mut cursor: Option<String> = None;
    for _ in 0..50 {
        let url = match &cursor {
            Some(c) => format!("{path}?limit=1&cursor={c}"),
            None => format!("{path}?limit=1"),
        };
        let r = app.get(&url, None);
        assert_eq!(r.status, 200, "{url}: {}", r.text);
        let items = r.body["items"].as_array().unwrap();
        assert!(items.len() <= 1);
        ids.extend(items.iter().map(|i| s(&i["id"])));
        match r.body["next_cursor"].as_str() {
            Some(c) => {
                assert!(!items.is_empty(), "a cursor after an empty page");
                cursor = Some(c.to_string());
            }
            None => {
                assert!(r.body.get("next_cursor").is_some(), "next_cursor present");
                return ids;
            }
        }
    }
    panic!("pagination of {path} never ends");
}

#[test]
fn organisations_are_public_and_paginate() {
    let app = TestApp::start();
    let admin = app.admin_token();
    let o = orgs(&app, &admin);
    let mut townships = vec![o.township.clone()];
    for (code, name) in [("JSW", "金山卫镇"), ("LX", "廊下镇"), ("ZJ", "张堰镇")] {
        let r = app.post(
            "/api/v1/townships",
            Some(&admin),
            json!({"code": code, "name": name, "insurance_required": false}),
        );
        assert_eq!(r.status, 201, "{}", r.text);
        assert_eq!(r.body["insurance_required"], false);
        townships.push(r.id());
    }
    let other_village = app.post(
        "/api/v1/villages",
        Some(&admin),
        json!({"township_id": townships[2], "code": "HT", "name": "中华村"}),
    );
    assert_eq!(
        other_village.status, 201,
        "same code in another township is fine: {}",
        other_village.text
    );
    let r = app.post(
        "/api/v1/insurers",
        Some(&admin),
        json!({"code": "ZHLH", "name": "中华联合财产保险"}),
    );
    assert_eq!(r.status, 201);
    let insurers = [o.insurer.clone(), r.id()];

    let all = app.get("/api/v1/townships", None);
    assert_eq!(all.status, 200);
    assert!(all.body["next_cursor"].is_null());
    let items = all.body["items"].as_array().unwrap();
    assert_eq!(items.len(), 4);
    let cj = items.iter().find(|t| t["code"] == "CJ").unwrap();
    assert_eq!(cj["name"], "漕泾镇");
    assert_eq!(cj["insurance_required"], true);
    assert!(cj["created_at"].as_str().unwrap().ends_with('Z'));

    let walked = walk(&app, "/api/v1/townships");
    assert_eq!(walked.len(), 4, "{walked:?}");
    assert_eq!(
        walked.iter().collect::<HashSet<_>>(),
        townships.iter().collect::<HashSet<_>>()
    );
    let walked = walk(&app, &format!("/api/v1/townships/{}/villages", o.township));
    assert_eq!(walked.len(), 3);
    assert_eq!(
        walked.iter().collect::<HashSet<_>>(),
        o.villages.iter().collect::<HashSet<_>>()
    );
    let walked = walk(&app, "/api/v1/insurers");
    assert_eq!(
        walked.iter().collect::<HashSet<_>>(),
        insurers.iter().collect::<HashSet<_>>()
    );
    assert_eq!(walked.len(), 2);

    let villages = app.get(&format!("/api/v1/townships/{}/villages", o.township), None);
    let names: HashSet<&str> = villages.body["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v["name"].as_str().unwrap())
        .collect();
    assert_eq!(names, HashSet::from(["护塘村", "金光村", "阮巷村"]));
    assert!(villages.body["items"]
        .as_array()
        .unwrap()
        .iter()
        .all(|v| v["township_id"] == o.township.as_str()));
    let there = app.get(
        &format!("/api/v1/townships/{}/villages", townships[2]),
        None,
    );
    assert_eq!(there.body["items"].as_array().unwrap().len(), 1);
    let empty = app.get(
        &format!("/api/v1/townships/{}/villages", townships[1]),
        None,
    );
    assert_eq!(empty.status, 200);
    assert!(empty.body["items"].as_array().unwrap().is_empty());
    assert!(empty.body["next_cursor"].is_null());

    let v = app.get(&format!("/api/v1/villages/{}", o.villages[2]), None);
    assert_eq!(v.body["name"], "阮巷村");
    assert_eq!(v.body["code"], "RX");
    let t = app.get(&format!("/api/v1/townships/{}", o.township), None);
    assert_eq!(t.body["code"], "CJ");

    let ghost = uuid::Uuid::new_v4();
    app.get(&format!("/api/v1/townships/{ghost}/villages"), None)
        .assert_problem(404, "not_found");
    app.get(&format!("/api/v1/townships/{ghost}"), None)
        .assert_problem(404, "not_found");
    app.get(&format!("/api/v1/villages/{ghost}"), None)
        .assert_problem(404, "not_found");
    app.get("/api/v1/townships/CJ/villages", None)
        .assert_problem(400, "bad_request");
    app.get("/api/v1/insurers?limit=0", None)
        .assert_field("limit");
}

#[test]
fn organisation_rules() {
    let app = TestApp::start();
    let admin = app.admin_token();
    let o = orgs(&app, &admin);

    app.post(
        "/api/v1/townships",
        Some(&admin),
        json!({"code": "CJ", "name": "漕泾镇（重复）"}),
    )
    .assert_problem(409, "conflict");
    app.post(
        "/api/v1/insurers",
        Some(&admin),
        json!({"code": "AXNY", "name": "安信农业保险"}),
    )
    .assert_problem(409, "conflict");
    app.post(
        "/api/v1/villages",
        Some(&admin),
        json!({"township_id": o.township, "code": "HT", "name": "护塘村"}),
    )
    .assert_problem(409, "conflict");
    app.post(
        "/api/v1/villages",
        Some(&admin),
        json!({"township_id": uuid::Uuid::new_v4().to_string(), "code": "HY", "name": "花园村"}),
    )
    .assert_field("township_id");
    app.post(
        "/api/v1/villages",
        Some(&admin),
        json!({"township_id": "CJ", "code": "HY", "name": "花园村"}),
    )
    .assert_field("township_id");
    app.post(
        "/api/v1/townships",
        Some(&admin),
        json!({"code": "漕泾", "name": "漕泾镇"}),
    )
    .assert_field("code");
    app.post(
        "/api/v1/townships",
        Some(&admin),
        json!({"code": "JSW", "name": ""}),
    )
    .assert_field("name");
    app.post("/api/v1/insurers", Some(&admin), json!({"code": "ZHLH"}))
        .assert_field("name");
    // Nothing of that was created.
    assert_eq!(
        app.get("/api/v1/townships", None).body["items"]
            .as_array()
            .unwrap()
            .len(),
        1
    );
    assert_eq!(
        app.get(&format!("/api/v1/townships/{}/villages", o.township), None)
            .body["items"]
            .as_array()
            .unwrap()
            .len(),
        3
    );

    // Every creation is audited, by the admin, on the system stream.
    let admin_id = me_id(&app, &admin);
    for (id, action, ty) in [
        (&o.township, "township.created", "township"),
        (&o.villages[0], "village.created", "village"),
        (&o.villages[1], "village.created", "village"),
        (&o.villages[2], "village.created", "village"),
        (&o.insurer, "insurer.created", "insurer"),
    ] {
        let recs = app.audit_for(id);
        assert_eq!(recs.len(), 1, "{id}");
        assert_eq!(recs[0].action, action);
        assert_eq!(recs[0].entity_type, ty);
        assert_eq!(recs[0].stream, "system");
        assert_eq!(recs[0].actor_id.as_deref(), Some(admin_id.as_str()));
        assert_eq!(recs[0].actor_role.as_deref(), Some("admin"));
    }
    // The system stream is one gapless chain.
    let mut seqs: Vec<i64> = [&o.township, &o.villages[0], &o.insurer]
        .iter()
        .map(|id| app.audit_for(id)[0].seq)
        .collect();
    seqs.sort();
    assert!(seqs.windows(2).all(|w| w[0] < w[1]));
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
    let mut seen = Vec::new();
    let mut cursor: Option<String> = None;
    loop {
        let url = match &cursor {
            Some(c) => format!("/api/v1/users?limit=1&cursor={c}"),
            None => "/api/v1/users?limit=1".to_string(),
        };
        let r = app.get(&url, Some(&admin));
        assert_eq!(r.status, 200, "{}", r.text);
        seen.extend(
            r.body["items"]
                .as_array()
                .unwrap()
                .iter()
                .map(|u| s(&u["id"])),
        );
        match r.body["next_cursor"].as_str() {
            Some(c) => cursor = Some(c.to_string()),
            None => break,
        }
        assert!(seen.len() < 20);
    }
    assert_eq!(seen.len(), 4, "admin + collective + staff + insurer");
    assert_eq!(seen.iter().collect::<HashSet<_>>().len(), 4);
    app.get("/api/v1/users?role=boss", Some(&admin))
        .assert_problem(400, "bad_request");

    let recs = app.audit_for(&collective);
    assert_eq!(recs.len(), 1);
    assert_eq!(recs[0].action, "user.created");
}

#[test]
fn unknown_addresses_are_throttled_like_real_accounts() {
    let app = TestApp::start();
    let admin = app.admin_token();
    let r = app.post(
        "/api/v1/users",
        Some(&admin),
        serde_json::json!({"email": "real@landx.test", "password": "real-password-1", "display_name": "王芳", "role": "investor"}),
    );
    assert_eq!(r.status, 201, "{}", r.text);
    for email in ["real@landx.test", "ghost@landx.test"] {
        for _ in 0..5 {
            let r = app.post(
                "/api/v1/auth/login",
                None,
                serde_json::json!({"email": email, "password": "wrong-password-x"}),
            );
            r.assert_problem(401, "unauthorized");
        }
        let r = app.post(
            "/api/v1/auth/login",
            None,
            serde_json::json!({"email": email, "password": "wrong-password-x"}),
        );
        r.assert_problem(429, "rate_limited");
        assert!(r.header("retry-after").is_some(), "{email}");
    }
}

#[test]
fn auth_routes_ignore_idempotency_keys_even_with_a_token() {
    use diesel::prelude::*;
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
    let mut conn = app.pool().get().unwrap();
    let n: i64 = landx::db::schema::idempotency_keys::table
        .count()
        .get_result(&mut conn)
        .unwrap();
    assert_eq!(n, 0);
}
