//! Performance insurance (履约保证保险) and claims (理赔, 追偿), black-box over HTTP and driven by
//! the clock: the whole chain from a quote to the parcel listed again after a `rent_default`
//! termination, the Haimen 2017 premium figures, activation with and without required
//! insurance, every refusal, the policy calendar (worker and read), insurer scoping, the mails
//! and the contract's audit stream.

use serde_json::{json, Value};

use crate::support::insurance::*;
use crate::support::internals::verify_audit;
use crate::support::*;

/// An audit record the chain must leave: action, entity, from, to, amount.
type Expected<'a> = (&'a str, &'a str, Option<&'a str>, &'a str, Option<i64>);

fn i64_of(v: &Value) -> i64 {
    v.as_i64().unwrap_or_else(|| panic!("not an integer: {v}"))
}

/// Asserts an installment's money and status.
fn assert_inst(i: &Value, paid: i64, insurer_paid: i64, outstanding: i64, status: &str) {
    assert_eq!(
        (
            i64_of(&i["paid_fen"]),
            i64_of(&i["insurer_paid_fen"]),
            i64_of(&i["outstanding_fen"]),
            i["status"].as_str().unwrap_or_default()
        ),
        (paid, insurer_paid, outstanding, status),
        "{i}"
    );
}

/// Runs alone in its own process with an audit key (as in production), so the contract's
/// stream carries the money of each transition; prints that stream.
#[test]
fn the_whole_chain_from_quote_to_claim_recovery_termination_and_relisting() {
    alone(
        "insurance::the_whole_chain_from_quote_to_claim_recovery_termination_and_relisting",
        whole_chain,
    );
}

fn whole_chain() {
    let app = start_keyed();
    let w = World::new(&app);
    let axny = company_of(&app, &w.insurer);
    let c = certified_contract(&app, &w, w.cj(), Terms::standard());
    let (inv, ht, staff, uw) = (&c.investor, &c.owner, &c.staff, &w.insurer);
    assert_eq!(c.body["status"], "certified", "{}", c.body);
    assert_eq!(c.body["insurance_required"], true);
    assert!(c.body["activated_at"].is_null());
    assert_eq!(c.body["years"], 3);
    assert_eq!(c.body["annual_rent_fen"], 6_000_000);
    let i1 = installment(&app, &inv.token, &c.id, 1);
    let i1_id = s(&i1["id"]);
    assert_eq!(i1["amount_fen"], 6_000_000);
    assert_eq!(i1["period_start"], "2027-03-01");
    assert_eq!(i1["period_end"], "2028-02-29");
    assert_eq!(i1["due_date"], "2027-01-30");
    assert_inst(&i1, 100_000, 0, 5_900_000, "scheduled");

    // Quote → issue: year 1's policy activates the contract.
    let p1 = quote_ok(&app, &inv.token, &c.id, 1, &axny);
    let p1_id = s(&p1["id"]);
    assert_eq!(p1["contract_id"], c.id.as_str());
    assert_eq!(p1["installment_id"], i1_id.as_str());
    assert_eq!(p1["insurer_id"], axny.as_str());
    assert_eq!(p1["year"], 1);
    assert_eq!(p1["period_start"], "2027-03-01");
    assert_eq!(p1["period_end"], "2028-02-29");
    assert_eq!(
        p1["sum_insured_fen"], 6_000_000,
        "the deposit doesn't lower it"
    );
    assert_eq!(p1["premium_rate_bp"], 300);
    assert_eq!(p1["premium_fen"], 180_000);
    assert_eq!(p1["subsidy_share_bp"], 5_000);
    assert_eq!(p1["subsidy_fen"], 90_000);
    assert_eq!(p1["holder_premium_fen"], 90_000);
    assert!(p1["issued_at"].is_null());
    assert_eq!(ok(app.get(&c.path(""), inv.t()))["status"], "certified");

    let r = ok(issue(&app, &uw.token, &p1_id, "AXNY-LYBZ-2027-000118"));
    assert_eq!(r["status"], "issued", "its period starts 2027-03-01: {r}");
    assert_eq!(r["policy_no"], "AXNY-LYBZ-2027-000118");
    assert!(r["issued_at"].is_string());
    let k = ok(app.get(&c.path(""), inv.t()));
    assert_eq!(k["status"], "active");
    assert!(k["activated_at"].is_string());
    for to in [&inv.email, &ht.email] {
        assert_eq!(mails_ending(&app, to, "Policy issued"), 1, "{to}");
    }

    // A partial payment, then overdue and defaulted by the worker.
    let r = pay_rent(&app, &ht.token, &i1_id, 2_000_000, "2027-01-22");
    assert_eq!(r.status, 201, "{}", r.text);
    assert_inst(&r.body["installment"], 2_100_000, 0, 3_900_000, "scheduled");
    day(&app, "2027-01-31");
    assert_inst(
        &installment(&app, &inv.token, &c.id, 1),
        2_100_000,
        0,
        3_900_000,
        "overdue",
    );
    assert_eq!(mails_ending(&app, &inv.email, "Rent overdue"), 1);
    day(&app, "2027-03-01");
    assert_eq!(stored_policy_status(&app, &p1_id), "active");
    assert_eq!(
        installment(&app, &inv.token, &c.id, 1)["status"],
        "overdue",
        "grace runs to the end of 2027-03-01"
    );
    day(&app, "2027-03-02");
    assert_inst(
        &installment(&app, &inv.token, &c.id, 1),
        2_100_000,
        0,
        3_900_000,
        "defaulted",
    );
    assert_eq!(mails_ending(&app, &ht.email, "Rent in default"), 1);
    assert_eq!(policy_status(&app, &inv.token, &p1_id), "active");
    quote(&app, &inv.token, &c.id, 1, &axny).assert_problem(409, "invalid_state");

    // The claim: filed by the collective (not the investor, not the insurer).
    file_claim(&app, &inv.token, &i1_id).assert_problem(403, "forbidden");
    file_claim(&app, &uw.token, &i1_id).assert_problem(403, "forbidden");
    let r = file_claim(&app, &ht.token, &i1_id);
    assert_eq!(r.status, 201, "{}", r.text);
    let claim = r.id();
    assert_eq!(
        r.header("location").map(String::from),
        Some(format!("/api/v1/claims/{claim}"))
    );
    let cl = &r.body;
    assert_eq!(cl["claim_no"], "LP-AXNY-2027-0001");
    assert_eq!(cl["status"], "filed");
    assert_eq!(cl["policy_id"], p1_id.as_str());
    assert_eq!(cl["installment_id"], i1_id.as_str());
    assert_eq!(cl["contract_id"], c.id.as_str());
    assert_eq!(cl["insurer_id"], axny.as_str());
    assert_eq!(cl["claimed_fen"], 3_900_000, "what is outstanding");
    assert!(cl["approved_fen"].is_null());
    assert_eq!(cl["paid_fen"], 0);
    assert_eq!(cl["recovered_fen"], 0);
    assert_eq!(policy_status(&app, &inv.token, &p1_id), "claimed");
    assert_eq!(mails_ending(&app, &inv.email, "Claim filed"), 1);

    // One open claim per installment; no payment while it is open.
    file_claim(&app, &staff.token, &i1_id).assert_problem(409, "conflict");
    pay_rent(&app, &ht.token, &i1_id, 1, "2027-03-02").assert_problem(409, "invalid_state");

    // Review → approve (never above the claim, never 0) → pay.
    let r = ok(decide(&app, &uw.token, &claim, "review", json!({})));
    assert_eq!(r["status"], "under_review");
    decide(
        &app,
        &uw.token,
        &claim,
        "approve",
        json!({"approved_fen": 3_900_001}),
    )
    .assert_field("approved_fen");
    decide(
        &app,
        &uw.token,
        &claim,
        "approve",
        json!({"approved_fen": 0}),
    )
    .assert_field("approved_fen");
    let r = ok(decide(&app, &uw.token, &claim, "approve", json!({})));
    assert_eq!(r["status"], "approved");
    assert_eq!(
        r["approved_fen"], 3_900_000,
        "defaults to the claimed amount"
    );
    pay_rent(&app, &ht.token, &i1_id, 1, "2027-03-02").assert_problem(409, "invalid_state");
    recover(&app, &uw.token, &claim, 1, "2027-03-02").assert_problem(409, "invalid_state");
    let r = ok(decide(
        &app,
        &uw.token,
        &claim,
        "pay",
        json!({"payment_ref": "AXNY-LP-PAY-20270302-01"}),
    ));
    assert_eq!(r["status"], "paid");
    assert_eq!(r["paid_fen"], 3_900_000);
    assert_inst(
        &installment(&app, &inv.token, &c.id, 1),
        2_100_000,
        3_900_000,
        0,
        "covered",
    );
    assert_eq!(mails_ending(&app, &ht.email, "Claim paid"), 1);
    pay_rent(&app, &ht.token, &i1_id, 1, "2027-03-02").assert_problem(409, "invalid_state");
    quote(&app, &inv.token, &c.id, 1, &axny).assert_problem(409, "invalid_state");

    // Recoveries from the operator, never above the payout.
    recover(&app, &uw.token, &claim, 3_900_001, "2027-03-02").assert_field("amount_fen");
    let r = recover(&app, &uw.token, &claim, 1_000_000, "2027-03-02");
    assert_eq!(r.status, 201, "{}", r.text);
    assert_eq!(r.body["amount_fen"], 1_000_000);
    assert_eq!(r.body["ref"], "ZC-1000000");
    assert_eq!(r.body["claim_id"], claim.as_str());
    assert_eq!(r.body["claim"]["status"], "recovery_open");
    assert_eq!(r.body["claim"]["recovered_fen"], 1_000_000);
    assert_eq!(mails_ending(&app, &inv.email, "Recovery recorded"), 1);
    recover(&app, &uw.token, &claim, 2_900_001, "2027-03-02").assert_field("amount_fen");
    let r = recover(&app, &uw.token, &claim, 2_900_000, "2027-03-02");
    assert_eq!(r.status, 201, "{}", r.text);
    assert_eq!(r.body["claim"]["status"], "recovered");
    assert_eq!(r.body["claim"]["recovered_fen"], 3_900_000);
    assert_eq!(mails_ending(&app, &inv.email, "Recovery recorded"), 2);
    recover(&app, &uw.token, &claim, 1, "2027-03-02").assert_problem(409, "invalid_state");
    let seen = ok(get_claim(&app, &ht.token, &claim));
    assert_eq!(
        (&seen["status"], &seen["paid_fen"], &seen["recovered_fen"]),
        (&json!("recovered"), &json!(3_900_000), &json!(3_900_000))
    );

    // Later years: year 2 issued (its period not started), year 3 only quoted.
    let p2 = s(&quote_ok(&app, &inv.token, &c.id, 2, &axny)["id"]);
    assert_eq!(
        ok(issue(&app, &uw.token, &p2, "AXNY-LYBZ-2028-000007"))["status"],
        "issued"
    );
    let p3 = s(&quote_ok(&app, &staff.token, &c.id, 3, &axny)["id"]);

    // The parcels are still the contract's: a new listing of them can't be submitted.
    let (relisting, r) = relist(&app, ht, &c.parcel);
    r.assert_field("parcel_ids");

    // Termination for rent default (the default is covered by now).
    let k = ok(app.post(
        &c.path("/terminate"),
        ht.t(),
        json!({"ground": "rent_default", "note": "乙方拖欠2027年度租金，由保险公司代为赔付后解除合同。"}),
    ));
    assert_eq!(k["status"], "terminated");
    assert_eq!(k["termination_ground"], "rent_default");
    assert!(k["terminated_at"].is_string());
    let all = installments(&app, &inv.token, &c.id);
    let statuses: Vec<&str> = all.iter().map(|i| i["status"].as_str().unwrap()).collect();
    assert_eq!(statuses, ["covered", "cancelled", "cancelled"]);
    assert_eq!(policy_status(&app, &inv.token, &p1_id), "claimed");
    assert_eq!(policy_status(&app, &inv.token, &p2), "cancelled");
    assert_eq!(policy_status(&app, &inv.token, &p3), "cancelled");
    quote(&app, &inv.token, &c.id, 2, &axny).assert_problem(409, "invalid_state");

    // The parcel is free: the same listing now submits.
    let r = submit(&app, ht, &relisting);
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(r.body["status"], "submitted");

    // The contract's audit stream holds every transition with its money.
    let stream = contract_stream(&app, &c.id);
    eprintln!(
        "audit stream contract:{} (action | entity | from → to | amount_fen | role)",
        c.id
    );
    for (n, m) in stream.iter().enumerate() {
        eprintln!(
            "{:>2} {:<32} {:<11} {:>14} → {:<14} {:>9} {}",
            n + 1,
            m.action,
            m.entity_type,
            m.from_state.as_deref().unwrap_or("-"),
            m.to_state.as_deref().unwrap_or("-"),
            m.amount_fen.map_or("-".to_string(), |a| a.to_string()),
            m.actor_role.as_deref().unwrap_or("system"),
        );
    }
    let (i2, i3) = (s(&all[1]["id"]), s(&all[2]["id"]));
    let (cid, i1_id, p1_id, claim, p2, p3, i2, i3) = (
        c.id.as_str(),
        i1_id.as_str(),
        p1_id.as_str(),
        claim.as_str(),
        p2.as_str(),
        p3.as_str(),
        i2.as_str(),
        i3.as_str(),
    );
    let expected: Vec<Expected> = vec![
        ("contract.certified", cid, Some("signed"), "certified", None),
        ("policy.quoted", p1_id, None, "quoted", Some(180_000)),
        (
            "policy.issued",
            p1_id,
            Some("quoted"),
            "issued",
            Some(6_000_000),
        ),
        ("contract.activated", cid, Some("certified"), "active", None),
        (
            "installment.dated",
            i1_id,
            Some("scheduled"),
            "overdue",
            Some(3_900_000),
        ),
        ("policy.dated", p1_id, Some("issued"), "active", None),
        (
            "installment.dated",
            i1_id,
            Some("overdue"),
            "defaulted",
            Some(3_900_000),
        ),
        ("claim.filed", claim, None, "filed", Some(3_900_000)),
        ("policy.claimed", p1_id, Some("active"), "claimed", None),
        (
            "claim.under_review",
            claim,
            Some("filed"),
            "under_review",
            None,
        ),
        (
            "claim.approved",
            claim,
            Some("under_review"),
            "approved",
            Some(3_900_000),
        ),
        (
            "claim.paid",
            claim,
            Some("approved"),
            "paid",
            Some(3_900_000),
        ),
        (
            "installment.covered",
            i1_id,
            Some("defaulted"),
            "covered",
            Some(3_900_000),
        ),
        (
            "claim.recovery",
            claim,
            Some("paid"),
            "recovery_open",
            Some(1_000_000),
        ),
        (
            "claim.recovery",
            claim,
            Some("recovery_open"),
            "recovered",
            Some(2_900_000),
        ),
        (
            "contract.terminated",
            cid,
            Some("active"),
            "terminated",
            None,
        ),
        ("policy.cancelled", p2, Some("issued"), "cancelled", None),
        ("policy.cancelled", p3, Some("quoted"), "cancelled", None),
        (
            "installment.cancelled",
            i2,
            Some("scheduled"),
            "cancelled",
            Some(6_000_000),
        ),
        (
            "installment.cancelled",
            i3,
            Some("scheduled"),
            "cancelled",
            Some(6_000_000),
        ),
    ];
    for (action, entity, from, to, amount) in expected {
        assert!(
            has_move(&stream, action, entity, from, to, amount),
            "missing {action} {entity} {from:?} → {to} {amount:?}"
        );
    }
    for (action, amount) in [
        ("payment.deposit_applied", 100_000),
        ("payment.recorded", 2_000_000),
    ] {
        assert!(
            stream
                .iter()
                .any(|m| m.action == action && m.amount_fen == Some(amount)),
            "missing {action} {amount}"
        );
    }
    // In the order they happened.
    let pos = |action: &str| stream.iter().position(|m| m.action == action).unwrap();
    assert!(pos("contract.activated") < pos("claim.filed"));
    assert!(pos("claim.paid") < pos("claim.recovery"));
    assert!(pos("claim.recovery") < pos("contract.terminated"));

    // The log verifies, in the library and through `landx audit verify`.
    let n = verify_audit(app.pool()).expect("the audit log verifies after the whole chain");
    assert!(n as usize >= stream.len());
    let (code, out) = audit_verify_keyed(&app);
    assert_eq!(code, 0, "{out}");
    assert!(out.contains("intact"), "{out}");
    eprintln!("landx audit verify: {}", out.trim());
}

#[test]
fn haimen_2017_figures_through_http() {
    let app = start();
    let w = World::new(&app);
    let axny = company_of(&app, &w.insurer);
    let c = certified_contract(&app, &w, w.cj(), Terms::haimen());
    assert_eq!(c.body["total_area_mu"], "158.31");
    assert_eq!(c.body["price_fen"], 90_000);
    assert_eq!(c.body["annual_rent_fen"], 14_247_900);
    let i1 = installment(&app, &c.staff.token, &c.id, 1);
    assert_eq!(i1["paid_fen"], 100_000, "the deposit is applied to year 1");

    // Staff quote for the operator.
    let p = quote_ok(&app, &c.staff.token, &c.id, 1, &axny);
    let figures = |p: &Value| {
        [
            "sum_insured_fen",
            "premium_rate_bp",
            "premium_fen",
            "subsidy_share_bp",
            "subsidy_fen",
            "holder_premium_fen",
        ]
        .map(|k| i64_of(&p[k]))
    };
    assert_eq!(
        figures(&p),
        [14_247_900, 300, 427_437, 5_000, 213_719, 213_718],
        "{p}"
    );
    // The same snapshot for the holder, the collective and the insurer.
    for u in [&c.investor, &c.owner, &w.insurer] {
        let seen = ok(get_policy(&app, &u.token, &s(&p["id"])));
        assert_eq!(figures(&seen), figures(&p), "{}", u.email);
    }
    let r = ok(issue(
        &app,
        &w.insurer.token,
        &s(&p["id"]),
        "3101-LYBZ-2017-0001",
    ));
    assert_eq!(figures(&r), figures(&p));
    assert_eq!(ok(app.get(&c.path(""), c.investor.t()))["status"], "active");
}

#[test]
fn without_required_insurance_a_contract_is_active_at_certification() {
    let app = start();
    let w = World::new(&app);
    let axny = company_of(&app, &w.insurer);
    let t = ok(app.patch(
        &format!("/api/v1/townships/{}", w.sy),
        w.admin(),
        json!({"insurance_required": false}),
    ));
    assert_eq!(t["insurance_required"], false);
    let c = certified_contract(&app, &w, w.sy(), Terms::standard());
    assert_eq!(c.body["status"], "active", "{}", c.body);
    assert_eq!(c.body["insurance_required"], false);
    assert!(c.body["activated_at"].is_string());
    assert_eq!(c.body["activated_at"], c.body["certified_at"]);

    // No staff reminder for an uninsured year of it.
    let i1 = s(&installment(&app, &c.owner.token, &c.id, 1)["id"]);
    day(&app, "2027-02-01");
    let r = pay_rent(&app, &c.owner.token, &i1, 5_900_000, "2027-02-01");
    assert_eq!(r.status, 201, "{}", r.text);
    assert_eq!(r.body["installment"]["status"], "paid");
    day(&app, "2028-02-01");
    assert_eq!(
        mails_ending(&app, &w.sy_staff.email, "Insurance missing"),
        0
    );

    // Insurance stays possible; a year already ended can't be quoted.
    at_day(&app, "2028-03-01");
    quote(&app, &c.investor.token, &c.id, 1, &axny).assert_problem(409, "invalid_state");
    let p2 = quote_ok(&app, &c.investor.token, &c.id, 2, &axny);
    let r = ok(issue(
        &app,
        &w.insurer.token,
        &s(&p2["id"]),
        "AXNY-2028-SY-1",
    ));
    assert_eq!(r["status"], "active", "its period started today");
    assert_eq!(ok(app.get(&c.path(""), c.investor.t()))["status"], "active");
}

#[test]
fn quote_and_claim_refusals() {
    let app = start();
    let w = World::new(&app);
    let axny = company_of(&app, &w.insurer);
    let c = certified_contract(&app, &w, w.cj(), Terms::standard());
    let (inv, ht, staff) = (&c.investor, &c.owner, &c.staff);

    // Who may quote: the transferee and the township's staff.
    quote(&app, &ht.token, &c.id, 1, &axny).assert_problem(403, "forbidden");
    quote(&app, &w.insurer.token, &c.id, 1, &axny).assert_problem(403, "forbidden");
    // A contract the caller can't read is named like an unknown one.
    quote(&app, &w.investor.token, &c.id, 1, &axny).assert_field("contract_id");
    quote(&app, &w.sy_staff.token, &c.id, 1, &axny).assert_field("contract_id");
    quote(
        &app,
        &inv.token,
        &uuid::Uuid::new_v4().to_string(),
        1,
        &axny,
    )
    .assert_field("contract_id");
    // Unknown year or insurer.
    for year in [0, 4] {
        quote(&app, &inv.token, &c.id, year, &axny).assert_field("year");
    }
    quote(
        &app,
        &inv.token,
        &c.id,
        1,
        &uuid::Uuid::new_v4().to_string(),
    )
    .assert_field("insurer_id");

    // One live policy per contract year, whoever quotes and with whichever insurer.
    let p1 = s(&quote_ok(&app, &inv.token, &c.id, 1, &axny)["id"]);
    quote(&app, &staff.token, &c.id, 1, &axny).assert_problem(409, "conflict");
    let (zhlh, _) = other_insurer(&app, &w);
    quote(&app, &inv.token, &c.id, 1, &zhlh).assert_problem(409, "conflict");

    // Year 2 insured; a claim on its (not defaulted) installment is refused.
    let p2 = s(&quote_ok(&app, &inv.token, &c.id, 2, &axny)["id"]);
    ok(issue(&app, &w.insurer.token, &p2, "AXNY-Q-0002"));
    let i2 = s(&installment(&app, &ht.token, &c.id, 2)["id"]);
    file_claim(&app, &ht.token, &i2).assert_problem(409, "invalid_state");

    // Year 1 was only quoted when it defaulted: no claim.
    day(&app, "2027-03-02");
    let i1 = installment(&app, &ht.token, &c.id, 1);
    assert_eq!(i1["status"], "defaulted");
    let i1 = s(&i1["id"]);
    file_claim(&app, &ht.token, &i1).assert_problem(409, "invalid_state");
    file_claim(&app, &staff.token, &i1).assert_problem(409, "invalid_state");
    // Issued after the default (an hour later), it doesn't cover that default.
    app.advance(chrono::Duration::hours(1));
    assert_eq!(
        ok(issue(&app, &w.insurer.token, &p1, "AXNY-Q-0001"))["status"],
        "active"
    );
    file_claim(&app, &ht.token, &i1).assert_problem(409, "invalid_state");
    // A defaulted installment is not quoted.
    quote(&app, &inv.token, &c.id, 1, &axny).assert_problem(409, "invalid_state");
    // Smuggled fields are named.
    let r = app.post(
        "/api/v1/policies",
        inv.t(),
        json!({"contract_id": c.id, "year": 3, "insurer_id": axny, "status": "issued"}),
    );
    r.assert_field("status");
    let r = app.post(
        "/api/v1/claims",
        ht.t(),
        json!({"installment_id": i1, "note": "欠租", "claimed_fen": 1}),
    );
    r.assert_field("claimed_fen");
    // Claims by the wrong roles, and on an installment the caller can't read.
    file_claim(&app, &inv.token, &i1).assert_problem(403, "forbidden");
    file_claim(&app, &w.insurer.token, &i1).assert_problem(403, "forbidden");
    file_claim(&app, &w.cx.token, &i1).assert_field("installment_id");
    file_claim(&app, &w.sy_staff.token, &i1).assert_field("installment_id");
    assert_eq!(
        listed(&app, &w.admin, "/api/v1/claims"),
        Vec::<String>::new()
    );
}

#[test]
fn issuing_is_the_policys_insurers_alone_and_numbers_are_unique_per_insurer() {
    let app = start();
    let w = World::new(&app);
    let axny = company_of(&app, &w.insurer);
    let (zhlh, hebin) = other_insurer(&app, &w);
    let c = certified_contract(&app, &w, w.cj(), Terms::standard());
    let uw = &w.insurer;
    let p1 = s(&quote_ok(&app, &c.investor.token, &c.id, 1, &axny)["id"]);

    // Another company's underwriter doesn't know it exists.
    get_policy(&app, &hebin.token, &p1).assert_problem(404, "not_found");
    issue(&app, &hebin.token, &p1, "ZHLH-1").assert_problem(404, "not_found");
    // Those who may read it but not issue it.
    for t in [&c.investor.token, &c.owner.token, &c.staff.token, &w.admin] {
        issue(&app, t, &p1, "X-1").assert_problem(403, "forbidden");
    }
    issue(&app, &uw.token, &p1, "").assert_field("policy_no");
    issue(&app, &uw.token, &p1, &"9".repeat(65)).assert_field("policy_no");
    assert_eq!(policy_status(&app, &uw.token, &p1), "quoted");

    let r = ok(issue(&app, &uw.token, &p1, "AXNY-2027-0001"));
    assert_eq!(r["status"], "issued");
    issue(&app, &uw.token, &p1, "AXNY-2027-0009").assert_problem(409, "invalid_state");

    // The same number again for this insurer: conflict, the quote stays a quote.
    let p2 = s(&quote_ok(&app, &c.investor.token, &c.id, 2, &axny)["id"]);
    issue(&app, &uw.token, &p2, "AXNY-2027-0001").assert_problem(409, "conflict");
    assert_eq!(policy_status(&app, &uw.token, &p2), "quoted");
    // Another insurer may use it.
    let p3 = s(&quote_ok(&app, &c.investor.token, &c.id, 3, &zhlh)["id"]);
    get_policy(&app, &uw.token, &p3).assert_problem(404, "not_found");
    let r = ok(issue(&app, &hebin.token, &p3, "AXNY-2027-0001"));
    assert_eq!(r["status"], "issued");
    assert_eq!(r["policy_no"], "AXNY-2027-0001");
    ok(issue(&app, &uw.token, &p2, "AXNY-2027-0002"));
}

#[test]
fn quotes_are_withdrawn_by_the_holder_or_staff_until_issued() {
    let app = start();
    let w = World::new(&app);
    let axny = company_of(&app, &w.insurer);
    let c = certified_contract(&app, &w, w.cj(), Terms::standard());
    let p = s(&quote_ok(&app, &c.investor.token, &c.id, 1, &axny)["id"]);
    withdraw(&app, &c.owner.token, &p).assert_problem(403, "forbidden");
    withdraw(&app, &w.insurer.token, &p).assert_problem(403, "forbidden");
    withdraw(&app, &w.investor.token, &p).assert_problem(404, "not_found");
    let r = ok(withdraw(&app, &c.investor.token, &p));
    assert_eq!(r["status"], "cancelled");
    withdraw(&app, &c.investor.token, &p).assert_problem(409, "invalid_state");

    // A withdrawn quote isn't live: the year may be quoted again.
    let p2 = s(&quote_ok(&app, &c.investor.token, &c.id, 1, &axny)["id"]);
    assert_eq!(
        ok(withdraw(&app, &c.staff.token, &p2))["status"],
        "cancelled"
    );
    let p3 = s(&quote_ok(&app, &c.staff.token, &c.id, 1, &axny)["id"]);
    ok(issue(&app, &w.insurer.token, &p3, "AXNY-W-1"));
    withdraw(&app, &c.investor.token, &p3).assert_problem(409, "invalid_state");
    withdraw(&app, &c.staff.token, &p3).assert_problem(409, "invalid_state");

    let mut seen: Vec<(String, String)> = ok(app.get(
        &format!("/api/v1/policies?contract_id={}", c.id),
        c.investor.t(),
    ))["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| (s(&p["id"]), s(&p["status"])))
        .collect();
    seen.sort();
    let mut want = vec![
        (p, "cancelled".to_string()),
        (p2, "cancelled".to_string()),
        (p3.clone(), "issued".to_string()),
    ];
    want.sort();
    assert_eq!(seen, want);
    assert_eq!(
        listed(&app, &c.staff.token, "/api/v1/policies?status=issued"),
        [p3]
    );
}

#[test]
fn policies_move_issued_active_expired_by_the_worker_and_by_a_read() {
    let app = start();
    let w = World::new(&app);
    let axny = company_of(&app, &w.insurer);
    let c = certified_contract(&app, &w, w.cj(), Terms::standard());
    let uw = &w.insurer;
    let p1 = s(&quote_ok(&app, &c.investor.token, &c.id, 1, &axny)["id"]);
    let p2 = s(&quote_ok(&app, &c.investor.token, &c.id, 2, &axny)["id"]);
    ok(issue(&app, &uw.token, &p1, "AXNY-D-1"));
    ok(issue(&app, &uw.token, &p2, "AXNY-D-2"));

    // The test clock route: to 10:00 on 2027-02-28, then a day on.
    let now = ok(app.get("/api/v1/admin/clock", w.admin()));
    let jump = (sh("2027-02-28") - ts(&now["now"])).num_seconds();
    ok(app.post(
        "/api/v1/admin/clock/advance",
        w.admin(),
        json!({ "seconds": jump }),
    ));
    app.run_jobs();
    assert_eq!(stored_policy_status(&app, &p1), "issued", "the day before");
    let r = ok(app.post(
        "/api/v1/admin/clock/advance",
        w.admin(),
        json!({ "seconds": 86_400 }),
    ));
    assert_eq!(ts(&r["now"]), sh("2027-03-01"));
    // Issued → active at the period's start, by the worker (before any read).
    app.run_jobs();
    assert_eq!(stored_policy_status(&app, &p1), "active");
    assert_eq!(stored_policy_status(&app, &p2), "issued");

    // Active → expired after the period's end, by a read (no worker pass).
    at_day(&app, "2028-02-29");
    assert_eq!(
        policy_status(&app, &uw.token, &p1),
        "active",
        "its last day"
    );
    at_day(&app, "2028-03-01");
    assert_eq!(stored_policy_status(&app, &p1), "active");
    assert_eq!(policy_status(&app, &uw.token, &p1), "expired");
    // That read settled the whole contract: year 2's period started today.
    assert_eq!(stored_policy_status(&app, &p2), "active");

    // Year 2 expires by the worker.
    day(&app, "2029-03-01");
    assert_eq!(stored_policy_status(&app, &p2), "expired");
    let moves: Vec<(String, String)> = contract_stream(&app, &c.id)
        .into_iter()
        .filter(|m| m.action == "policy.dated")
        .map(|m| (m.from_state.unwrap(), m.to_state.unwrap()))
        .collect();
    assert_eq!(moves.len(), 4, "{moves:?}");
}

#[test]
fn staff_are_told_once_30_days_before_an_uninsured_year_starts() {
    let app = start();
    let w = World::new(&app);
    let axny = company_of(&app, &w.insurer);
    let c = certified_contract(&app, &w, w.cj(), Terms::standard());
    let to = &w.cj_staff.email;
    // Year 1 starts 2027-03-01: the reminder is due on 2027-01-30. A quote isn't insurance.
    quote_ok(&app, &c.investor.token, &c.id, 1, &axny);
    day(&app, "2027-01-29");
    assert_eq!(mails_ending(&app, to, "Insurance missing"), 0);
    day(&app, "2027-01-30");
    assert_eq!(mails_ending(&app, to, "Insurance missing"), 1);
    day(&app, "2027-01-31");
    assert_eq!(mails_ending(&app, to, "Insurance missing"), 1, "once");
    assert_eq!(
        mails_ending(&app, &c.owner.email, "Insurance missing"),
        0,
        "staff only"
    );

    // Year 3 is insured in time; year 2 (starting 2028-03-01) is not.
    let p3 = s(&quote_ok(&app, &c.investor.token, &c.id, 3, &axny)["id"]);
    ok(issue(&app, &w.insurer.token, &p3, "AXNY-M-3"));
    day(&app, "2028-01-30");
    assert_eq!(mails_ending(&app, to, "Insurance missing"), 1);
    day(&app, "2028-01-31");
    assert_eq!(mails_ending(&app, to, "Insurance missing"), 2);
    day(&app, "2029-02-15");
    assert_eq!(mails_ending(&app, to, "Insurance missing"), 2);
}

#[test]
fn a_partial_payout_leaves_the_installment_defaulted_and_the_rest_payable() {
    let app = start();
    let w = World::new(&app);
    let axny = company_of(&app, &w.insurer);
    let c = certified_contract(&app, &w, w.cj(), Terms::standard());
    let uw = &w.insurer;
    let p1 = s(&quote_ok(&app, &c.investor.token, &c.id, 1, &axny)["id"]);
    ok(issue(&app, &uw.token, &p1, "AXNY-P-1"));
    day(&app, "2027-03-02");
    let i1 = s(&installment(&app, &c.owner.token, &c.id, 1)["id"]);
    let r = file_claim(&app, &c.staff.token, &i1);
    assert_eq!(r.status, 201, "{}", r.text);
    assert_eq!(r.body["claimed_fen"], 5_900_000);
    let claim = r.id();
    let r = ok(decide(
        &app,
        &uw.token,
        &claim,
        "approve",
        json!({"approved_fen": 4_000_000}),
    ));
    assert_eq!(r["status"], "approved", "approved straight from filed");
    decide(&app, &uw.token, &claim, "approve", json!({})).assert_problem(409, "invalid_state");
    decide(&app, &uw.token, &claim, "review", json!({})).assert_problem(409, "invalid_state");
    decide(&app, &uw.token, &claim, "pay", json!({})).assert_field("payment_ref");
    let r = ok(decide(
        &app,
        &uw.token,
        &claim,
        "pay",
        json!({"payment_ref": "AXNY-PAY-7"}),
    ));
    assert_eq!(r["paid_fen"], 4_000_000);
    assert_inst(
        &installment(&app, &c.owner.token, &c.id, 1),
        100_000,
        4_000_000,
        1_900_000,
        "defaulted",
    );
    // The rest is payable by the operator, never more.
    pay_rent(&app, &c.owner.token, &i1, 1_900_001, "2027-03-02").assert_field("amount_fen");
    let r = pay_rent(&app, &c.owner.token, &i1, 1_900_000, "2027-03-02");
    assert_eq!(r.status, 201, "{}", r.text);
    assert_inst(&r.body["installment"], 2_000_000, 4_000_000, 0, "paid");
    file_claim(&app, &c.owner.token, &i1).assert_problem(409, "invalid_state");

    // A part recovered, the rest written off.
    recover(&app, &uw.token, &claim, 1, "2027-03-03").assert_field("received_on");
    recover(&app, &uw.token, &claim, 0, "2027-03-02").assert_field("amount_fen");
    let r = recover(&app, &uw.token, &claim, 500_000, "2027-03-02");
    assert_eq!(r.status, 201, "{}", r.text);
    assert_eq!(r.body["claim"]["status"], "recovery_open");
    decide(&app, &uw.token, &claim, "write-off", json!({})).assert_field("reason");
    let r = ok(decide(
        &app,
        &uw.token,
        &claim,
        "write-off",
        json!({"reason": "乙方已注销，无可追偿财产。"}),
    ));
    assert_eq!(r["status"], "written_off");
    assert_eq!(r["recovered_fen"], 500_000);
    recover(&app, &uw.token, &claim, 1, "2027-03-02").assert_problem(409, "invalid_state");

    // Paid in the end (not `covered`): no ground for a rent-default termination any more.
    app.post(
        &c.path("/terminate"),
        c.staff.t(),
        json!({"ground": "rent_default", "note": "乙方违约。"}),
    )
    .assert_field("ground");
}

#[test]
fn a_rejected_claim_returns_the_policy_to_the_state_its_dates_give() {
    let app = start();
    let w = World::new(&app);
    let axny = company_of(&app, &w.insurer);
    let c = certified_contract(&app, &w, w.cj(), Terms::standard());
    let uw = &w.insurer;
    let p1 = s(&quote_ok(&app, &c.investor.token, &c.id, 1, &axny)["id"]);
    ok(issue(&app, &uw.token, &p1, "AXNY-R-1"));
    day(&app, "2027-03-02");
    let i1 = s(&installment(&app, &c.owner.token, &c.id, 1)["id"]);

    let claim = file_claim(&app, &c.owner.token, &i1).id();
    assert_eq!(policy_status(&app, &uw.token, &p1), "claimed");
    decide(&app, &uw.token, &claim, "reject", json!({})).assert_field("reason");
    let r = ok(decide(
        &app,
        &uw.token,
        &claim,
        "reject",
        json!({"reason": "欠租系双方租金争议，不属于保险责任。"}),
    ));
    assert_eq!(r["status"], "rejected");
    assert_eq!(r["decided_reason"], "欠租系双方租金争议，不属于保险责任。");
    assert_eq!(policy_status(&app, &uw.token, &p1), "active");
    decide(&app, &uw.token, &claim, "approve", json!({})).assert_problem(409, "invalid_state");
    decide(&app, &uw.token, &claim, "pay", json!({"payment_ref": "X"}))
        .assert_problem(409, "invalid_state");
    // Nothing open: a payment is recorded again.
    let r = pay_rent(&app, &c.owner.token, &i1, 900_000, "2027-03-02");
    assert_eq!(r.status, 201, "{}", r.text);
    assert_inst(&r.body["installment"], 1_000_000, 0, 5_000_000, "defaulted");

    // After the period: a new claim (numbered in its own year), rejected → expired.
    day(&app, "2028-03-01");
    assert_eq!(policy_status(&app, &uw.token, &p1), "expired");
    let r = file_claim(&app, &c.owner.token, &i1);
    assert_eq!(r.status, 201, "{}", r.text);
    assert_eq!(r.body["claim_no"], "LP-AXNY-2028-0001");
    assert_eq!(r.body["claimed_fen"], 5_000_000);
    let claim2 = r.id();
    assert_eq!(policy_status(&app, &uw.token, &p1), "claimed");
    ok(decide(&app, &uw.token, &claim2, "review", json!({})));
    let r = ok(decide(
        &app,
        &uw.token,
        &claim2,
        "reject",
        json!({"reason": "材料不全。"}),
    ));
    assert_eq!(r["status"], "rejected");
    assert_eq!(policy_status(&app, &uw.token, &p1), "expired");
}

#[test]
fn an_insurer_sees_only_its_companys_policies_claims_and_what_they_cover() {
    let app = start();
    let w = World::new(&app);
    let axny = company_of(&app, &w.insurer);
    let (zhlh, hebin) = other_insurer(&app, &w);
    let uw = &w.insurer;
    let pa = prepare(&app, &w, w.cj(), Terms::standard());
    let pb = prepare(&app, &w, w.cj(), Terms::standard());
    let a = finish(&app, &w, pa);
    let b = finish(&app, &w, pb);
    let a1 = s(&quote_ok(&app, &a.investor.token, &a.id, 1, &axny)["id"]);
    ok(issue(&app, &uw.token, &a1, "AXNY-S-1"));
    let b1 = s(&quote_ok(&app, &b.investor.token, &b.id, 1, &zhlh)["id"]);
    ok(issue(&app, &hebin.token, &b1, "ZHLH-S-1"));
    let b2 = s(&quote_ok(&app, &b.investor.token, &b.id, 2, &zhlh)["id"]);
    let ia = installments(&app, &a.owner.token, &a.id);
    let ib = installments(&app, &b.owner.token, &b.id);

    // Contracts: only those its company's policies cover.
    assert_eq!(
        listed(&app, &uw.token, "/api/v1/contracts"),
        vec![a.id.clone()]
    );
    assert_eq!(
        listed(&app, &hebin.token, "/api/v1/contracts"),
        vec![b.id.clone()]
    );
    ok(app.get(&a.path(""), uw.t()));
    app.get(&b.path(""), uw.t())
        .assert_problem(404, "not_found");
    app.get(&b.path("/installments"), uw.t())
        .assert_problem(404, "not_found");
    // Within a contract it reads, only the installments its policies cover.
    let seen: Vec<String> = installments(&app, &uw.token, &a.id)
        .iter()
        .map(|i| s(&i["id"]))
        .collect();
    assert_eq!(seen, [s(&ia[0]["id"])]);
    app.get(
        &format!("/api/v1/installments/{}/payments", s(&ia[1]["id"])),
        uw.t(),
    )
    .assert_problem(404, "not_found");
    // Installments: only the covered ones; B's two policies cover two.
    assert_eq!(
        listed(&app, &uw.token, "/api/v1/installments"),
        [s(&ia[0]["id"])]
    );
    let mut hb = listed(&app, &hebin.token, "/api/v1/installments");
    hb.sort();
    let mut want = vec![s(&ib[0]["id"]), s(&ib[1]["id"])];
    want.sort();
    assert_eq!(hb, want);
    // Policies.
    assert_eq!(
        listed(&app, &uw.token, "/api/v1/policies"),
        vec![a1.clone()]
    );
    let mut hp = listed(&app, &hebin.token, "/api/v1/policies");
    hp.sort();
    let mut want = vec![b1.clone(), b2.clone()];
    want.sort();
    assert_eq!(hp, want);
    get_policy(&app, &uw.token, &b1).assert_problem(404, "not_found");
    // Nor do another contract's investor, another village's collective, another township's staff.
    for t in [&a.investor.token, &w.jg.token, &w.sy_staff.token] {
        get_policy(&app, t, &b1).assert_problem(404, "not_found");
    }
    for t in [&b.investor.token, &b.owner.token, &b.staff.token, &w.admin] {
        ok(get_policy(&app, t, &b1));
    }
    issue(&app, &uw.token, &b2, "AXNY-S-2").assert_problem(404, "not_found");
    withdraw(&app, &uw.token, &b2).assert_problem(404, "not_found");

    // Claims.
    day(&app, "2027-03-02");
    let ca = file_claim(&app, &a.owner.token, &s(&ia[0]["id"]));
    assert_eq!(ca.body["claim_no"], "LP-AXNY-2027-0001", "{}", ca.text);
    let cb = file_claim(&app, &b.owner.token, &s(&ib[0]["id"]));
    assert_eq!(cb.body["claim_no"], "LP-ZHLH-2027-0001", "{}", cb.text);
    let (ca, cb) = (ca.id(), cb.id());
    assert_eq!(listed(&app, &uw.token, "/api/v1/claims"), vec![ca.clone()]);
    assert_eq!(
        listed(&app, &hebin.token, "/api/v1/claims"),
        vec![cb.clone()]
    );
    get_claim(&app, &uw.token, &cb).assert_problem(404, "not_found");
    for (action, body) in [
        ("review", json!({})),
        ("approve", json!({})),
        ("reject", json!({"reason": "x"})),
        ("pay", json!({"payment_ref": "x"})),
        ("write-off", json!({"reason": "x"})),
    ] {
        decide(&app, &uw.token, &cb, action, body).assert_problem(404, "not_found");
    }
    recover(&app, &uw.token, &cb, 1, "2027-03-02").assert_problem(404, "not_found");
    // Those who may read a claim but not decide it: the parties, staff, admins.
    for t in [&b.owner.token, &b.investor.token, &b.staff.token, &w.admin] {
        ok(get_claim(&app, t, &cb));
        decide(&app, t, &cb, "review", json!({})).assert_problem(403, "forbidden");
    }
    // The other investor sees neither.
    get_claim(&app, &a.investor.token, &cb).assert_problem(404, "not_found");
    assert_eq!(
        listed(&app, &a.investor.token, "/api/v1/claims"),
        vec![ca.clone()]
    );
    assert_eq!(
        ok(decide(&app, &hebin.token, &cb, "review", json!({})))["status"],
        "under_review"
    );
    assert_eq!(
        listed(&app, &hebin.token, "/api/v1/claims?status=under_review"),
        vec![cb.clone()]
    );
    assert_eq!(
        listed(&app, &hebin.token, "/api/v1/claims?status=filed"),
        Vec::<String>::new()
    );
    // The payments of a covered installment (the applied deposit).
    let pays = listed(
        &app,
        &uw.token,
        &format!("/api/v1/installments/{}/payments", s(&ia[0]["id"])),
    );
    assert_eq!(pays.len(), 1);
    // The overview of defaults, as the insurer sees it.
    assert_eq!(
        listed(&app, &uw.token, "/api/v1/installments?status=defaulted"),
        [s(&ia[0]["id"])]
    );
}

#[test]
fn claims_and_recoveries_go_on_after_a_rent_default_termination() {
    let app = start();
    let w = World::new(&app);
    let axny = company_of(&app, &w.insurer);
    let c = certified_contract(&app, &w, w.cj(), Terms::standard());
    let uw = &w.insurer;
    let p1 = s(&quote_ok(&app, &c.investor.token, &c.id, 1, &axny)["id"]);
    ok(issue(&app, &uw.token, &p1, "AXNY-T-1"));
    let p2 = s(&quote_ok(&app, &c.investor.token, &c.id, 2, &axny)["id"]);
    day(&app, "2027-03-02");
    let k = ok(app.post(
        &c.path("/terminate"),
        c.staff.t(),
        json!({"ground": "rent_default", "note": "乙方欠缴2027年度租金。"}),
    ));
    assert_eq!(k["status"], "terminated");
    assert_eq!(policy_status(&app, &uw.token, &p2), "cancelled");
    let all = installments(&app, &c.owner.token, &c.id);
    let statuses: Vec<&str> = all.iter().map(|i| i["status"].as_str().unwrap()).collect();
    assert_eq!(statuses, ["defaulted", "cancelled", "cancelled"]);
    // The year begun before the termination stays owed and insured.
    assert_eq!(policy_status(&app, &uw.token, &p1), "active");
    let i1 = s(&all[0]["id"]);
    let r = file_claim(&app, &c.owner.token, &i1);
    assert_eq!(r.status, 201, "{}", r.text);
    let claim = r.id();
    ok(decide(&app, &uw.token, &claim, "approve", json!({})));
    let r = ok(decide(
        &app,
        &uw.token,
        &claim,
        "pay",
        json!({"payment_ref": "AXNY-T-PAY"}),
    ));
    assert_eq!(r["paid_fen"], 5_900_000);
    assert_inst(
        &installment(&app, &c.owner.token, &c.id, 1),
        100_000,
        5_900_000,
        0,
        "covered",
    );
    let r = recover(&app, &uw.token, &claim, 5_900_000, "2027-03-02");
    assert_eq!(r.status, 201, "{}", r.text);
    assert_eq!(
        r.body["claim"]["status"], "recovered",
        "one recovery of it all"
    );
    // A cancelled year isn't quoted or claimed.
    quote(&app, &c.investor.token, &c.id, 2, &axny).assert_problem(409, "invalid_state");
    file_claim(&app, &c.owner.token, &s(&all[1]["id"])).assert_problem(409, "invalid_state");
    pay_rent(&app, &c.owner.token, &s(&all[1]["id"]), 1, "2027-03-02")
        .assert_problem(409, "invalid_state");
}

#[test]
fn a_contract_past_its_term_completes_only_once_its_open_claim_is_paid() {
    let app = start();
    let w = World::new(&app);
    let axny = company_of(&app, &w.insurer);
    let c = certified_contract(&app, &w, w.cj(), Terms::standard());
    let uw = &w.insurer;
    let all = installments(&app, &c.owner.token, &c.id);
    for (i, amount) in [(&all[0], 5_900_000), (&all[1], 6_000_000)] {
        let r = pay_rent(&app, &c.owner.token, &s(&i["id"]), amount, "2027-01-22");
        assert_eq!(r.status, 201, "{}", r.text);
        assert_eq!(r.body["installment"]["status"], "paid");
    }
    let p3 = s(&quote_ok(&app, &c.investor.token, &c.id, 3, &axny)["id"]);
    ok(issue(&app, &uw.token, &p3, "AXNY-C-3"));
    day(&app, "2029-03-02");
    let i3 = s(&all[2]["id"]);
    assert_eq!(
        installment(&app, &c.owner.token, &c.id, 3)["status"],
        "defaulted"
    );
    let claim = file_claim(&app, &c.owner.token, &i3).id();

    // The term has ended; the claim is still open: not completed.
    day(&app, "2030-03-01");
    let k = ok(app.get(&c.path(""), c.owner.t()));
    assert_eq!(k["status"], "certified", "year 1 was never insured: {k}");
    assert!(k["completed_at"].is_null());
    ok(decide(&app, &uw.token, &claim, "approve", json!({})));
    day(&app, "2030-03-02");
    assert_eq!(ok(app.get(&c.path(""), c.owner.t()))["status"], "certified");

    // Paid: nothing outstanding, nothing open → completed at once.
    let r = ok(decide(
        &app,
        &uw.token,
        &claim,
        "pay",
        json!({"payment_ref": "AXNY-C-PAY"}),
    ));
    assert_eq!(r["paid_fen"], 6_000_000);
    let k = ok(app.get(&c.path(""), c.owner.t()));
    assert_eq!(k["status"], "completed", "{k}");
    assert!(k["completed_at"].is_string());
    assert_eq!(policy_status(&app, &uw.token, &p3), "claimed");
}
