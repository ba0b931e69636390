//! World builders: organisations and accounts, made through the API like a client would.
//! [`World`] is the standard cast of the trading tests; [`orgs`] and [`people`] the smaller
//! one of the account tests.

use std::sync::atomic::{AtomicU32, Ordering};

use serde_json::{json, Value};

use super::harness::{Client, Resp, TestApp};
use super::http::{created, s};

/// The password of every account the builders make.
pub const PW: &str = "caojing-land-2027";

/// An account and its current tokens (access tokens last 15 minutes of the test clock unless
/// the app was started with longer ones: [`World::relogin`] after moving the clock).
#[derive(Debug, Clone)]
pub struct User {
    pub id: String,
    pub email: String,
    pub role: String,
    pub token: String,
    /// Empty for accounts made directly in the database.
    pub refresh: String,
}

impl User {
    pub fn t(&self) -> Option<&str> {
        Some(self.token.as_str())
    }
}

// ---- organisations ----------------------------------------------------------------------------

pub fn township(c: &Client, admin: &str, code: &str, name: &str) -> String {
    created(
        &c.post(
            "/api/v1/townships",
            Some(admin),
            json!({"code": code, "name": name}),
        ),
        name,
    )
}

pub fn village(c: &Client, admin: &str, township_id: &str, code: &str, name: &str) -> String {
    created(
        &c.post(
            "/api/v1/villages",
            Some(admin),
            json!({"township_id": township_id, "code": code, "name": name}),
        ),
        name,
    )
}

pub fn insurer(c: &Client, admin: &str, code: &str, name: &str) -> String {
    created(
        &c.post(
            "/api/v1/insurers",
            Some(admin),
            json!({"code": code, "name": name}),
        ),
        name,
    )
}

// ---- accounts -----------------------------------------------------------------------------------

/// An account made by `admin` with password [`PW`] (its e-mail counts as verified), logged
/// in. `org` holds its `village_id`, `township_id` or `insurer_id`.
pub fn user(c: &Client, admin: &str, email: &str, name: &str, role: &str, org: Value) -> User {
    let mut body = json!({"email": email, "password": PW, "display_name": name, "role": role});
    for (k, v) in org.as_object().expect("org object") {
        body[k] = v.clone();
    }
    let r = c.post("/api/v1/users", Some(admin), body);
    let id = created(&r, email);
    assert_eq!(r.body["role"], role);
    assert_eq!(r.body["email_verified"], true);
    logged_in(c, id, email, role)
}

fn logged_in(c: &Client, id: String, email: &str, role: &str) -> User {
    let pair = c.login_pair(email, PW);
    User {
        id,
        email: email.to_string(),
        role: role.to_string(),
        token: s(&pair["access_token"]),
        refresh: s(&pair["refresh_token"]),
    }
}

/// `POST /auth/register` with [`PW`] and a phone number.
pub fn register(c: &Client, email: &str, name: &str) -> Resp {
    c.post(
        "/api/v1/auth/register",
        None,
        json!({"email": email, "password": PW, "display_name": name, "phone": "13812345678"}),
    )
}

/// [`register`], asserting 201; the new account's id.
pub fn register_ok(c: &Client, email: &str, name: &str) -> String {
    let r = register(c, email, name);
    let id = created(&r, email);
    assert_eq!(r.body["email_verified"], false);
    id
}

/// A self-registered investor whose e-mail is not verified yet, logged in.
pub fn register_investor(c: &Client, email: &str, name: &str) -> User {
    let id = register_ok(c, email, name);
    logged_in(c, id, email, "investor")
}

/// `POST /auth/login`, whatever the answer.
pub fn login_status(c: &Client, email: &str, password: &str) -> Resp {
    c.post(
        "/api/v1/auth/login",
        None,
        json!({"email": email, "password": password}),
    )
}

/// `POST /auth/refresh`, whatever the answer.
pub fn refresh(c: &Client, refresh_token: &str) -> Resp {
    c.post(
        "/api/v1/auth/refresh",
        None,
        json!({"refresh_token": refresh_token}),
    )
}

/// Follows the verification link mailed to `u`.
pub fn verify_email(app: &TestApp, u: &User) {
    let token = app.mailed_token(&u.email, "Verify your e-mail");
    let r = app.post("/api/v1/auth/verify-email", None, json!({"token": token}));
    assert_eq!(r.status, 200, "verify {}: {}", u.email, r.text);
}

/// A self-registered investor with a verified e-mail, logged in.
pub fn verified_investor(app: &TestApp, email: &str, name: &str) -> User {
    let u = register_investor(app, email, name);
    verify_email(app, &u);
    u
}

/// The admin's own account (made directly, so without a refresh token).
pub fn me(c: &Client, token: &str) -> User {
    let r = c.get("/api/v1/me", Some(token));
    assert_eq!(r.status, 200, "{}", r.text);
    User {
        id: r.id(),
        email: s(&r.body["email"]),
        role: s(&r.body["role"]),
        token: token.to_string(),
        refresh: String::new(),
    }
}

// ---- the account tests' cast ------------------------------------------------------------------

pub struct Orgs {
    pub township: String,
    pub villages: Vec<String>,
    pub insurer: String,
}

/// 漕泾镇 (CJ) with three villages (护塘村 HT, 金光村 JG, 阮巷村 RX) and one insurer
/// (安信农业保险 AXNY), created by `admin`.
pub fn orgs(c: &Client, admin: &str) -> Orgs {
    let township = township(c, admin, "CJ", "漕泾镇");
    let villages = [("HT", "护塘村"), ("JG", "金光村"), ("RX", "阮巷村")]
        .iter()
        .map(|(code, name)| village(c, admin, &township, code, name))
        .collect();
    Orgs {
        insurer: insurer(c, admin, "AXNY", "安信农业保险"),
        township,
        villages,
    }
}

/// One account of each role, in this order: the admin (`admin`'s own), staff, collective and
/// insurer made through the admin API, and a self-registered investor (unverified).
pub fn people(c: &Client, admin: &str, o: &Orgs) -> Vec<User> {
    vec![
        me(c, admin),
        user(
            c,
            admin,
            "liqiang@caojing.gov.cn",
            "李强",
            "staff",
            json!({"township_id": o.township}),
        ),
        user(
            c,
            admin,
            "wangfang@hutang.cn",
            "王芳",
            "collective",
            json!({"village_id": o.villages[0]}),
        ),
        user(
            c,
            admin,
            "chenjing@axny.com.cn",
            "陈静",
            "insurer",
            json!({"insurer_id": o.insurer}),
        ),
        register_investor(c, "zhangwei@example.cn", "张伟"),
    ]
}

// ---- the trading tests' cast ------------------------------------------------------------------

/// 漕泾镇 (CJ) with 护塘村 (HT) and 金光村 (JG), 山阳镇 (SY) with 长兴村 (CX), an insurer
/// (AXNY); a collective account per village, a staff account per township, an insurer
/// account and an investor made by the admin.
pub struct World {
    pub admin: String,
    pub cj: String,
    pub sy: String,
    pub hutang: String,
    pub jinguang: String,
    pub changxing: String,
    /// 护塘村 collective: owns the listings of the trading tests.
    pub ht: User,
    /// 金光村 collective: same township, not the owner.
    pub jg: User,
    /// 长兴村 collective (山阳镇).
    pub cx: User,
    pub cj_staff: User,
    pub sy_staff: User,
    pub insurer: User,
    pub investor: User,
    seq: AtomicU32,
}

/// One township's side of a listing: who owns it and who reviews it.
#[derive(Clone, Copy)]
pub struct Town<'a> {
    pub code: &'static str,
    pub owner: &'a User,
    pub staff: &'a User,
}

impl World {
    pub fn new(app: &TestApp) -> World {
        let admin = app.admin_token();
        let a = admin.as_str();
        let cj = township(app, a, "CJ", "漕泾镇");
        let sy = township(app, a, "SY", "山阳镇");
        let hutang = village(app, a, &cj, "HT", "护塘村");
        let jinguang = village(app, a, &cj, "JG", "金光村");
        let changxing = village(app, a, &sy, "CX", "长兴村");
        let insurer_org = insurer(app, a, "AXNY", "安信农业保险");
        let u =
            |email: &str, name: &str, role: &str, org: Value| user(app, a, email, name, role, org);
        let ht = u(
            "hutang@cj.landx.test",
            "护塘村股份经济合作社 陆建华",
            "collective",
            json!({"village_id": hutang}),
        );
        let jg = u(
            "jinguang@cj.landx.test",
            "金光村股份经济合作社 张卫东",
            "collective",
            json!({"village_id": jinguang}),
        );
        let cx = u(
            "changxing@sy.landx.test",
            "长兴村股份经济合作社 沈国强",
            "collective",
            json!({"village_id": changxing}),
        );
        let cj_staff = u(
            "nongjing@cj.landx.test",
            "漕泾镇农村产权交易服务中心 顾敏",
            "staff",
            json!({"township_id": cj}),
        );
        let sy_staff = u(
            "nongjing@sy.landx.test",
            "山阳镇农村产权交易服务中心 朱丽",
            "staff",
            json!({"township_id": sy}),
        );
        let insurer = u(
            "chenjing@axny.com.cn",
            "安信农业保险 陈静",
            "insurer",
            json!({"insurer_id": insurer_org}),
        );
        let investor = u(
            "farm@jinshan-nongye.test",
            "金山绿野家庭农场 王海",
            "investor",
            json!({}),
        );
        World {
            admin,
            cj,
            sy,
            hutang,
            jinguang,
            changxing,
            ht,
            jg,
            cx,
            cj_staff,
            sy_staff,
            insurer,
            investor,
            seq: AtomicU32::new(0),
        }
    }

    pub fn admin(&self) -> Option<&str> {
        Some(self.admin.as_str())
    }

    /// 漕泾镇: 护塘村 owns, 漕泾镇's staff review.
    pub fn cj(&self) -> Town<'_> {
        Town {
            code: "CJ",
            owner: &self.ht,
            staff: &self.cj_staff,
        }
    }

    /// 山阳镇: 长兴村 owns, 山阳镇's staff review.
    pub fn sy(&self) -> Town<'_> {
        Town {
            code: "SY",
            owner: &self.cx,
            staff: &self.sy_staff,
        }
    }

    /// A number unique within this world (parcel codes, e-mail addresses, ID numbers).
    pub fn next(&self) -> u32 {
        self.seq.fetch_add(1, Ordering::Relaxed) + 1
    }

    /// Fresh tokens for everyone at the clock's current time.
    pub fn relogin(&mut self, app: &TestApp) {
        for a in [
            &mut self.ht,
            &mut self.jg,
            &mut self.cx,
            &mut self.cj_staff,
            &mut self.sy_staff,
            &mut self.insurer,
            &mut self.investor,
        ] {
            let pair = app.login_pair(&a.email, PW);
            a.token = s(&pair["access_token"]);
            a.refresh = s(&pair["refresh_token"]);
        }
        self.admin = app.admin_token();
    }
}
