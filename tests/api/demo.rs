//! `landx demo seed`: the Caojing pilot data set on an empty database, refused on a used one
//! (with the reason, changing nothing).

use std::collections::BTreeMap;

use serde_json::{json, Value};

use crate::support::db::{count, tables};
use crate::support::internals::{demo_seed, verify_audit, Refusal, DEMO_PASSWORD};
use crate::support::{ok, register, s, TestApp};

/// Rows of every table of the application.
fn row_counts(app: &TestApp) -> BTreeMap<String, i64> {
    tables(app.pool())
        .into_iter()
        .map(|t| {
            let n = count(app.pool(), &t, "1 = 1");
            (t, n)
        })
        .collect()
}

/// Asserts that seeding is refused because the database holds data, and changes nothing.
fn assert_refused(app: &TestApp) {
    let before = row_counts(app);
    let refusal = demo_seed(app).expect_err("seeding a used database");
    assert_eq!(
        refusal,
        Refusal {
            code: "invalid_state".into(),
            message: "the database already holds data; demo seed runs only on an empty one".into(),
        }
    );
    assert_eq!(row_counts(app), before, "a refused seed changed rows");
}

#[test]
fn demo_seed_fills_an_empty_database_once() {
    let app = TestApp::start();
    let accounts = demo_seed(&app).expect("seeding an empty database");
    assert_eq!(accounts.len(), 6);
    let seeded = row_counts(&app);
    for table in [
        "townships",
        "villages",
        "users",
        "parcels",
        "listings",
        "contracts",
        "installments",
        "payments",
        "policies",
        "claims",
    ] {
        assert!(seeded[table] > 0, "{table}: {seeded:?}");
    }
    // Seeding again is refused and changes nothing.
    assert_refused(&app);
    // Every role can log in with the documented demo password.
    for (email, role) in &accounts {
        let token = app.login(email, DEMO_PASSWORD);
        assert_eq!(
            app.get("/api/v1/me", Some(&token)).body["role"],
            role.as_str()
        );
    }
    // The public sees the announced, auction and failed listings (the auction one turns from
    // announced into `auction` on the first read), never the drafts.
    let list = app.get("/api/v1/listings", None);
    let statuses: Vec<&str> = list.body["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|l| l["status"].as_str().unwrap())
        .collect();
    assert!(statuses.contains(&"announced"));
    assert!(statuses.contains(&"auction"));
    assert!(statuses.contains(&"failed"));
    assert!(statuses.contains(&"awarded"));
    assert!(statuses.contains(&"contracted"));
    assert!(!statuses
        .iter()
        .any(|s| ["draft", "submitted", "returned", "cancelled"].contains(s)));
    // The collective sees its drafts with mine=true.
    let coll = app.login("hutang@demo.landx.cn", DEMO_PASSWORD);
    let mine = app.get("/api/v1/listings?mine=true", Some(&coll));
    assert_eq!(mine.body["items"].as_array().unwrap().len(), 10);
    // The investors may bid once the auction opens.
    let farm = app.login("farm@demo.landx.cn", DEMO_PASSWORD);
    let auction = list.body["items"]
        .as_array()
        .unwrap()
        .iter()
        .find(|l| l["status"] == "auction")
        .unwrap();
    let id = auction["id"].as_str().unwrap();
    let r = app.post(
        &format!("/api/v1/listings/{id}/bids"),
        Some(&farm),
        json!({"amount_fen": auction["reserve_price_fen"]}),
    );
    assert_eq!(r.status, 201, "{}", r.text);
}

#[test]
fn demo_seed_refuses_a_database_with_data() {
    // A township is data.
    let app = TestApp::start();
    let admin = app.admin_token();
    let r = app.post(
        "/api/v1/townships",
        Some(&admin),
        json!({"code": "CJ", "name": "漕泾镇"}),
    );
    assert_eq!(r.status, 201, "{}", r.text);
    assert_refused(&app);

    // So is one account that isn't an admin.
    let app = TestApp::start();
    register(&app, "zhangwei@example.cn", "张伟");
    assert_refused(&app);

    // An admin alone is not (`landx admin create` comes before the seed).
    let app = TestApp::start();
    app.admin_token();
    assert_eq!(demo_seed(&app).expect("admins only").len(), 6);
}

/// The items of a list the caller reads.
fn items(app: &TestApp, path: &str, token: &str) -> Vec<Value> {
    ok(app.get(path, Some(token)))["items"]
        .as_array()
        .unwrap()
        .clone()
}

/// The one item with `status`.
fn with_status<'v>(items: &'v [Value], status: &str) -> &'v Value {
    let found: Vec<&Value> = items.iter().filter(|i| i["status"] == status).collect();
    assert_eq!(found.len(), 1, "one {status} in {items:?}");
    found[0]
}

#[test]
fn demo_seed_shows_contracts_insurance_and_a_claim() {
    let app = TestApp::start();
    demo_seed(&app).expect("seeding an empty database");
    // Everything went through the use cases: every audit chain verifies.
    verify_audit(app.pool()).expect("audit chains intact after seeding");
    let login = |email: &str| app.login(email, DEMO_PASSWORD);
    let (coll, staff, insurer) = (
        login("hutang@demo.landx.cn"),
        login("staff.cj@demo.landx.cn"),
        login("axny@demo.landx.cn"),
    );
    let (farm, coop) = (login("farm@demo.landx.cn"), login("coop@demo.landx.cn"));

    // Every village of 漕泾镇 has its collective's legal identity.
    let townships = items(&app, "/api/v1/townships", &coll);
    let cj = townships.iter().find(|t| t["code"] == "CJ").unwrap();
    let villages = items(
        &app,
        &format!("/api/v1/townships/{}/villages", s(&cj["id"])),
        &coll,
    );
    assert_eq!(villages.len(), 6);
    for v in &villages {
        let name = s(&v["name"]);
        assert_eq!(
            s(&v["legal_name"]),
            format!("上海市金山区漕泾镇{name}股份经济合作社")
        );
        let code = s(&v["unified_social_credit_code"]);
        assert!(code.starts_with("N2310116") && code.len() == 18, "{code}");
        assert!(!s(&v["legal_representative"]).is_empty());
    }

    // The collective's three contracts: signed, certified, active; 甲方 frozen at signing.
    let contracts = items(&app, "/api/v1/contracts", &coll);
    assert_eq!(contracts.len(), 3, "{contracts:?}");
    for c in &contracts {
        assert_eq!(
            c["transferor"],
            json!({
                "name": "上海市金山区漕泾镇护塘村股份经济合作社",
                "unified_social_credit_code": "N2310116MF0341272T",
                "legal_representative": "王建华",
            })
        );
        assert!(c["transferor_signed_at"].is_string() && c["transferee_signed_at"].is_string());
    }
    let signed = with_status(&contracts, "signed");
    let certified = with_status(&contracts, "certified");
    let active = with_status(&contracts, "active");
    assert!(signed["certification_no"].is_null());
    assert_eq!(signed["transferee"]["legal_name"], "李建国");
    assert!(s(&certified["certification_no"]).starts_with("JD-CJ-"));
    assert_eq!(certified["insurance_required"], true);
    assert!(certified["activated_at"].is_null());
    assert_eq!(certified["transferee"]["legal_name"], "李建国");
    assert!(s(&active["certification_no"]).starts_with("JD-CJ-"));
    assert_eq!(
        active["transferee"]["legal_name"],
        "上海漕泾丰收农业专业合作社"
    );
    let (signed_id, certified_id, active_id) =
        (s(&signed["id"]), s(&certified["id"]), s(&active["id"]));

    // Each party sees its own; the staff all three; the insurer those it quoted or insures.
    let ids = |token: &str| {
        let mut v: Vec<String> = items(&app, "/api/v1/contracts", token)
            .iter()
            .map(|c| s(&c["id"]))
            .collect();
        v.sort();
        v
    };
    let sorted = |mut v: Vec<String>| {
        v.sort();
        v
    };
    assert_eq!(
        ids(&farm),
        sorted(vec![signed_id.clone(), certified_id.clone()])
    );
    assert_eq!(ids(&coop), vec![active_id.clone()]);
    assert_eq!(ids(&staff).len(), 3);
    assert_eq!(
        ids(&insurer),
        sorted(vec![certified_id.clone(), active_id.clone()])
    );

    // No schedule before certification.
    let path = |id: &str| format!("/api/v1/contracts/{id}/installments");
    assert!(items(&app, &path(&signed_id), &coll).is_empty());
    // The certified contract: year 1 not due yet, the deposit applied and a partial payment.
    let schedule = items(&app, &path(&certified_id), &coll);
    let year1 = schedule.iter().find(|i| i["year"] == 1).unwrap();
    assert_eq!(year1["status"], "scheduled");
    assert_eq!(year1["paid_fen"], 200_000 + 5_000_000);
    let amount = year1["amount_fen"].as_i64().unwrap();
    assert_eq!(year1["outstanding_fen"], amount - 5_200_000);
    let payments = items(
        &app,
        &format!("/api/v1/installments/{}/payments", s(&year1["id"])),
        &coll,
    );
    let kinds: Vec<(&str, i64)> = payments
        .iter()
        .map(|p| {
            (
                p["kind"].as_str().unwrap(),
                p["amount_fen"].as_i64().unwrap(),
            )
        })
        .collect();
    assert_eq!(kinds.len(), 2, "{payments:?}");
    assert!(kinds.contains(&("deposit", 200_000)) && kinds.contains(&("payment", 5_000_000)));
    // The active contract: year 1 in default, only the deposit received.
    let defaulted = items(&app, &path(&active_id), &coll)
        .into_iter()
        .find(|i| i["year"] == 1)
        .unwrap();
    assert_eq!(defaulted["status"], "defaulted");
    assert_eq!(defaulted["paid_fen"], 200_000);

    // The insurer: year 1 of the certified contract quoted (the premium half subsidised), year
    // 1 of the active one issued (and now claimed), one filed claim.
    let policies = items(&app, "/api/v1/policies", &insurer);
    assert_eq!(policies.len(), 2, "{policies:?}");
    let quoted = with_status(&policies, "quoted");
    assert_eq!(quoted["contract_id"], certified_id.as_str());
    assert_eq!(quoted["year"], 1);
    assert_eq!(quoted["sum_insured_fen"], amount);
    assert!(quoted["policy_no"].is_null());
    let premium = quoted["premium_fen"].as_i64().unwrap();
    assert_eq!(premium, (amount * 300 + 5_000) / 10_000);
    assert_eq!(
        quoted["subsidy_fen"].as_i64().unwrap() + quoted["holder_premium_fen"].as_i64().unwrap(),
        premium
    );
    let claimed = with_status(&policies, "claimed");
    assert_eq!(claimed["contract_id"], active_id.as_str());
    assert!(claimed["policy_no"].is_string() && claimed["issued_at"].is_string());
    let claims = items(&app, "/api/v1/claims", &insurer);
    assert_eq!(claims.len(), 1, "{claims:?}");
    let claim = with_status(&claims, "filed");
    assert!(s(&claim["claim_no"]).starts_with("LP-AXNY-"));
    assert_eq!(claim["contract_id"], active_id.as_str());
    assert_eq!(claim["installment_id"], defaulted["id"]);
    assert_eq!(claim["claimed_fen"], defaulted["outstanding_fen"]);
    assert_eq!(claim["policy_id"], claimed["id"]);

    // What the demo invites: the insurer issues the quote (the certified contract becomes
    // active) and takes up the claim; the staff certify the signed contract.
    let r = app.post(
        &format!("/api/v1/policies/{}/issue", s(&quoted["id"])),
        Some(&insurer),
        json!({"policy_no": "AXNY-LYBX-2027-00342"}),
    );
    assert_eq!(ok(r)["status"], "issued");
    let c = ok(app.get(&format!("/api/v1/contracts/{certified_id}"), Some(&coll)));
    assert_eq!(c["status"], "active");
    let r = app.post(
        &format!("/api/v1/claims/{}/review", s(&claim["id"])),
        Some(&insurer),
        json!({}),
    );
    assert_eq!(ok(r)["status"], "under_review");
    let r = app.post(
        &format!("/api/v1/contracts/{signed_id}/certify"),
        Some(&staff),
        json!({}),
    );
    let c = ok(r);
    assert_eq!(c["status"], "certified");
    assert!(s(&c["certification_no"]).starts_with("JD-CJ-"));
    verify_audit(app.pool()).expect("audit chains intact after the demo's next steps");
}
