//! The audit trail API (`GET /api/v1/audit/streams/{stream}`) and the business counts of
//! `/metrics` (issue 13), black-box: a listing's and a contract's stream in order with their
//! amounts and a verified chain, pages, who may read which stream (everyone else: 404, as for
//! a stream that doesn't exist), a tampered or shortened stream, and the counts after a known
//! scenario, a failing count leaving the rest of `/metrics` alone.

use serde_json::{json, Value};

use crate::support::contracts::{
    self as contracts, certified, confirmed_deal, keyed, start_keyed, Rec, TERM,
};
use crate::support::db::{self, lit, Audit};
use crate::support::http::{ids, ok, s, ts, walk};
use crate::support::insurance::{self, certified_contract, company_of, day, Terms};
use crate::support::internals::verify_audit;
use crate::support::trading::{
    bid_ok, enrol, listing, listing_in, Plan, Stage, INCREMENT, RESERVE,
};
use crate::support::*;

const NO_SUCH: &str = "0190c7a0-0000-7000-8000-000000000000";

fn stream_path(stream: &str) -> String {
    format!("/api/v1/audit/streams/{stream}")
}

/// The stored records of `stream` in order: every column the API shows but the amount and
/// the key id ([`Audit`]), and the amounts ([`Rec`]).
fn stored(app: &TestApp, stream: &str) -> Vec<(Audit, Rec)> {
    let all = db::audit_stream(app.pool(), stream);
    let money: Vec<Rec> = db::load(
        app.pool(),
        &format!(
            "SELECT seq, action, entity_type, entity_id, from_state, to_state, actor_role, \
             amount_fen, prev_hash, hash FROM audit_log WHERE stream = {} ORDER BY seq",
            lit(stream)
        ),
    );
    assert_eq!(all.len(), money.len());
    all.into_iter().zip(money).collect()
}

/// Every item of a page is the stored record, field by field; `amount_fen` only where the
/// record has one.
fn assert_items_are_stored(items: &[Value], stored: &[(Audit, Rec)]) {
    assert_eq!(items.len(), stored.len(), "{items:?}");
    for (i, (item, (a, r))) in items.iter().zip(stored).enumerate() {
        assert_eq!(item["seq"], i as i64 + 1, "in stream order: {item}");
        assert_eq!(item["seq"], a.seq);
        assert_eq!(item["id"], a.id.as_str());
        assert_eq!(item["action"], a.action.as_str());
        assert_eq!(item["entity_type"], a.entity_type.as_str());
        assert_eq!(item["entity_id"], a.entity_id.as_str());
        assert_eq!(item["from_state"].as_str(), a.from_state.as_deref());
        assert_eq!(item["to_state"].as_str(), a.to_state.as_deref());
        assert_eq!(item["reason"].as_str(), a.reason.as_deref());
        assert_eq!(item["actor_id"].as_str(), a.actor_id.as_deref());
        assert_eq!(item["actor_role"].as_str(), a.actor_role.as_deref());
        assert_eq!(ts(&item["created_at"]), a.created_at.and_utc());
        match r.amount_fen {
            Some(n) => assert_eq!(item["amount_fen"], n, "{item}"),
            None => assert!(item.get("amount_fen").is_none(), "no amount: {item}"),
        }
    }
}

fn assert_verified(page: &Value) {
    assert_eq!(page["verified"], true, "{page}");
    assert!(page["broken_at_seq"].is_null(), "{page}");
    assert!(page["problem"].is_null(), "{page}");
}

// ---- reading streams -------------------------------------------------------------------------

/// With an audit key (so records carry their money): the township's staff read the listing's
/// stream in order, its two bids with their amounts and bidders, and the contract's stream
/// with the term's rent and each installment's amount; both chains verify under key `a1`;
/// an admin reads the same.
#[test]
fn staff_read_a_listing_and_a_contract_stream_in_order_with_their_amounts() {
    keyed(
        "audit_trail::staff_read_a_listing_and_a_contract_stream_in_order_with_their_amounts",
        || {
            let app = start_keyed();
            let w = World::new(&app);
            let d = confirmed_deal(&app, &w, TERM);
            certified(&app, &w, &d);
            let staff = w.cj_staff.t();

            let listing = format!("listing:{}", d.a.id);
            let page = ok(app.get(&format!("{}?limit=200", stream_path(&listing)), staff));
            assert_eq!(page["stream"], listing.as_str());
            assert_verified(&page);
            assert_eq!(page["key_ids"], json!(["a1"]));
            assert!(page["next_cursor"].is_null());
            let items = page["items"].as_array().unwrap();
            assert_items_are_stored(items, &stored(&app, &listing));
            assert_eq!(items[0]["action"], "listing.created");
            assert_eq!(items[0]["actor_role"], "collective");
            assert_eq!(items[0]["actor_id"], w.ht.id.as_str());
            assert_eq!(items[0]["to_state"], "draft");
            assert!(items[0].get("amount_fen").is_none());
            let bids: Vec<(String, i64)> = items
                .iter()
                .filter(|i| i["entity_type"] == "bid")
                .map(|i| (s(&i["actor_id"]), i["amount_fen"].as_i64().unwrap()))
                .collect();
            assert_eq!(
                bids,
                vec![
                    (d.runner_up.inv.id.clone(), RESERVE),
                    (d.winner().id.clone(), RESERVE + INCREMENT),
                ]
            );
            let times: Vec<_> = items.iter().map(|i| ts(&i["created_at"])).collect();
            assert!(times.windows(2).all(|t| t[0] <= t[1]), "{times:?}");
            let admin = ok(app.get(&format!("{}?limit=200", stream_path(&listing)), w.admin()));
            assert_eq!(admin, page, "an admin reads the same");

            let contract = format!("contract:{}", d.contract);
            let page = ok(app.get(&format!("{}?limit=200", stream_path(&contract)), staff));
            assert_eq!(page["stream"], contract.as_str());
            assert_verified(&page);
            assert_eq!(page["key_ids"], json!(["a1"]));
            let items = page["items"].as_array().unwrap();
            let recs = stored(&app, &contract);
            assert_items_are_stored(items, &recs);
            assert_eq!(items[0]["action"], "contract.created");
            assert!(
                items[0]["amount_fen"].as_i64().is_some_and(|n| n > 0),
                "the term's rent: {}",
                items[0]
            );
            let scheduled: Vec<i64> = items
                .iter()
                .filter(|i| i["action"] == "installment.scheduled")
                .map(|i| i["amount_fen"].as_i64().expect("an installment's amount"))
                .collect();
            assert_eq!(scheduled.len(), 10, "{items:?}");
            let certify = items
                .iter()
                .find(|i| i["action"] == "contract.certified")
                .unwrap();
            assert_eq!(certify["actor_id"], w.cj_staff.id.as_str());
            assert_eq!(certify["from_state"], "signed");
            assert_eq!(certify["to_state"], "certified");
            assert!(certify.get("amount_fen").is_none());
            assert_eq!(
                ok(app.get(&stream_path(&contract), w.admin()))["items"],
                page["items"]
            );
        },
    );
}

/// Pages of a stream follow its order to the end (every page but the last full, the cursor
/// null on the last), each page saying whether the whole stream verifies; the first page of
/// the default size holds everything here.
#[test]
fn a_stream_reads_page_by_page_in_order() {
    let app = TestApp::start_for_trading();
    let w = World::new(&app);
    let a = listing(&app, &w, "50.00", RESERVE);
    for name in ["张伟", "李娜", "王军"] {
        enrol(&app, &w, &a, Plan::person(name));
    }
    let stream = format!("listing:{}", a.id);
    let want: Vec<String> = db::audit_stream(app.pool(), &stream)
        .into_iter()
        .map(|r| r.id)
        .collect();
    assert!(want.len() >= 12, "{want:?}");
    let path = stream_path(&stream);
    assert_eq!(walk(&app, w.cj_staff.t(), &path, 4), want);
    assert_eq!(walk(&app, w.admin(), &path, 5), want);
    let first = ok(app.get(&format!("{path}?limit=4"), w.cj_staff.t()));
    assert_verified(&first);
    assert_eq!(
        first["key_ids"],
        json!([]),
        "first-release links name no key"
    );
    assert_eq!(first["next_cursor"], "4");
    let second = ok(app.get(&format!("{path}?limit=4&cursor=4"), w.cj_staff.t()));
    assert_eq!(second["items"][0]["seq"], 5);
    assert_verified(&second);
    let all = ok(app.get(&path, w.cj_staff.t()));
    assert_eq!(ids(&all["items"]), want);
    assert!(all["next_cursor"].is_null());
    let past = ok(app.get(&format!("{path}?cursor=1000"), w.cj_staff.t()));
    assert_eq!(past["items"], json!([]));
    assert!(past["next_cursor"].is_null());

    // Like every read, it first performs what fell due: registration closed, by the system.
    app.set_now(a.closes + chrono::Duration::seconds(1));
    let after = ok(app.get(&format!("{path}?cursor={}", want.len()), w.cj_staff.t()));
    let moved = &after["items"][0];
    assert_eq!(moved["action"], "listing.registration_closed", "{after}");
    assert_eq!(moved["from_state"], "announced");
    assert_eq!(moved["to_state"], "auction");
    assert!(moved["actor_id"].is_null() && moved["actor_role"].is_null());
    assert_verified(&after);
}

/// Staff of the township and admins read a listing's and a contract's stream; admins alone
/// the `system` stream. Everyone else (staff of another township, the owner collective, the
/// winning investor, an insurer) gets the same 404 as for a stream that doesn't exist; no
/// token is 401 first; a name of another form 400; a bad page size 422, a bad cursor 400.
#[test]
fn who_may_read_which_stream() {
    let app = contracts::start();
    let w = World::new(&app);
    let d = confirmed_deal(&app, &w, TERM);
    let listing = stream_path(&format!("listing:{}", d.a.id));
    let contract = stream_path(&format!("contract:{}", d.contract));
    let system = stream_path("system");
    let winner = d.winner().clone();

    for path in [&listing, &contract, &system] {
        app.get(path, None).assert_problem(401, "unauthorized");
        app.get(path, Some("not-a-token"))
            .assert_problem(401, "unauthorized");
    }
    app.get(&stream_path("nonsense"), None)
        .assert_problem(401, "unauthorized");

    for path in [&listing, &contract] {
        let page = ok(app.get(path, w.cj_staff.t()));
        assert_verified(&page);
        assert!(!page["items"].as_array().unwrap().is_empty());
        ok(app.get(path, w.admin()));
    }
    let sys = ok(app.get(&format!("{system}?limit=200"), w.admin()));
    assert_eq!(sys["stream"], "system");
    assert_verified(&sys);
    let users: Vec<&Value> = sys["items"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|i| i["entity_type"] == "user" && i["entity_id"] == w.cj_staff.id.as_str())
        .collect();
    assert!(!users.is_empty(), "the staff account's creation: {sys}");

    let unknown = app.get(&stream_path(&format!("listing:{NO_SUCH}")), w.admin());
    unknown.assert_problem(404, "not_found");
    app.get(&stream_path(&format!("contract:{NO_SUCH}")), w.cj_staff.t())
        .assert_problem(404, "not_found");
    let outsiders: [(&str, Option<&str>); 6] = [
        ("staff of another township", w.sy_staff.t()),
        ("the owner collective", w.ht.t()),
        ("another collective", w.jg.t()),
        ("the winning investor", winner.t()),
        ("another investor", w.investor.t()),
        ("an insurer", w.insurer.t()),
    ];
    for (who, token) in outsiders {
        for path in [&listing, &contract, &system] {
            let r = app.get(path, token);
            r.assert_problem(404, "not_found");
            assert_eq!(
                r.body, unknown.body,
                "{who} on {path}: as if it didn't exist"
            );
        }
    }
    app.get(&system, w.cj_staff.t())
        .assert_problem(404, "not_found");

    // Names: any UUID spelling reads the canonical stream; other forms are 400.
    let upper = stream_path(&format!("listing:{}", d.a.id.to_uppercase()));
    assert_eq!(
        ok(app.get(&upper, w.cj_staff.t()))["stream"],
        format!("listing:{}", d.a.id)
    );
    let too_long = format!("listing:{}", "0".repeat(300));
    for bad in [
        "nonsense",
        "SYSTEM",
        "listing:42",
        "listing:",
        &format!("deal:{}", d.deal),
        &format!("listing:{}:1", d.a.id),
        &too_long,
    ] {
        app.get(&stream_path(bad), w.admin())
            .assert_problem(400, "bad_request");
        app.get(&stream_path(bad), w.investor.t())
            .assert_problem(400, "bad_request");
    }
    for limit in ["0", "201", "-1"] {
        app.get(&format!("{listing}?limit={limit}"), w.cj_staff.t())
            .assert_field("limit");
    }
    for cursor in ["x", "-1", "1.5", "", "1234567890123456789"] {
        app.get(&format!("{listing}?cursor={cursor}"), w.cj_staff.t())
            .assert_problem(400, "bad_request");
    }
    app.post(&listing, w.cj_staff.t(), json!({}))
        .assert_problem(405, "method_not_allowed");
}

// ---- tampering -------------------------------------------------------------------------------

/// A record edited in the database (without recomputing its link) makes its stream fail
/// verification at that record, on every page; the edited content shows as stored; other
/// streams still verify; a record removed from the end is reported too. The API and `landx
/// audit verify` agree on the record.
#[test]
fn a_tampered_or_shortened_stream_does_not_verify() {
    let app = TestApp::start_for_trading();
    let w = World::new(&app);
    let a = listing(&app, &w, "50.00", RESERVE);
    enrol(&app, &w, &a, Plan::person("张伟"));
    let b = listing_in(&app, &w, Stage::Announced);
    let (sa, sb) = (format!("listing:{}", a.id), format!("listing:{b}"));
    let staff = w.cj_staff.t();
    assert_verified(&ok(app.get(&stream_path(&sa), staff)));
    assert_eq!(verify_audit(app.pool()).map(|_| ()), Ok(()));

    app.exec_sql(&format!(
        "UPDATE audit_log SET reason = 'nothing happened' WHERE stream = {} AND seq = 2",
        lit(&sa)
    ));
    for path in [
        stream_path(&sa),
        format!("{}?limit=1&cursor=3", stream_path(&sa)),
    ] {
        let page = ok(app.get(&path, staff));
        assert_eq!(page["verified"], false, "{page}");
        assert_eq!(page["broken_at_seq"], 2, "{page}");
        assert_eq!(page["problem"], "content does not match its hash");
    }
    let page = ok(app.get(&stream_path(&sa), w.admin()));
    assert_eq!(page["items"][1]["reason"], "nothing happened");
    assert_eq!(page["broken_at_seq"], 2);
    let cli = verify_audit(app.pool()).unwrap_err();
    assert_eq!((cli.stream.as_str(), cli.seq), (sa.as_str(), 2));
    assert_verified(&ok(app.get(&stream_path(&sb), staff)));

    let last = db::audit_stream(app.pool(), &sb).len();
    assert!(last >= 2);
    app.exec_sql(&format!(
        "DELETE FROM audit_log WHERE stream = {} AND seq = {last}",
        lit(&sb)
    ));
    let page = ok(app.get(&stream_path(&sb), staff));
    assert_eq!(page["verified"], false, "{page}");
    assert_eq!(
        page["broken_at_seq"],
        last as i64 - 1,
        "the last record that still verifies"
    );
    assert!(s(&page["problem"]).contains("records removed"), "{page}");
    assert_eq!(page["items"].as_array().unwrap().len(), last - 1);

    // A record slipped in below seq 1 (a copy of the first) is outside the chain.
    let c = format!("listing:{}", listing_in(&app, &w, Stage::Announced));
    assert_verified(&ok(app.get(&stream_path(&c), staff)));
    app.exec_sql(&format!(
        "INSERT INTO audit_log (id, stream, seq, prev_hash, hash, actor_id, actor_role, action, \
         entity_type, entity_id, from_state, to_state, reason, created_at, key_id, amount_fen) \
         SELECT {}, stream, 0, prev_hash, hash, actor_id, actor_role, action, entity_type, \
         entity_id, from_state, to_state, reason, created_at, key_id, amount_fen \
         FROM audit_log WHERE stream = {} AND seq = 1",
        lit(NO_SUCH),
        lit(&c)
    ));
    let page = ok(app.get(&stream_path(&c), staff));
    assert_eq!(page["verified"], false, "{page}");
    assert_eq!(page["broken_at_seq"], 0);
    assert_eq!(page["problem"], "record outside every hash chain");
}

// ---- /metrics ----------------------------------------------------------------------------------

/// After a known history: a contract certified, insured, its year 1 defaulted and claimed; an
/// auction running with two bids; a draft. `/metrics` counts listings, bids, deals, defaulted
/// installments and claims by state from the database, every state shown (0 included), and
/// another instance on the same database says the same.
#[test]
fn metrics_count_the_business_from_the_database() {
    let app = insurance::start();
    let w = World::new(&app);
    let c = certified_contract(&app, &w, w.cj(), Terms::standard());
    let axny = company_of(&app, &w.insurer);
    let p = insurance::quote_ok(&app, &c.investor.token, &c.id, 1, &axny);
    ok(insurance::issue(
        &app,
        &w.insurer.token,
        &s(&p["id"]),
        "AXNY-LYBZ-2027-000201",
    ));
    day(&app, "2027-03-02");
    let i1 = insurance::installment(&app, &c.investor.token, &c.id, 1);
    assert_eq!(i1["status"], "defaulted");
    let claim = insurance::file_claim(&app, &c.owner.token, &s(&i1["id"]));
    assert_eq!(claim.status, 201, "{}", claim.text);
    listing_in(&app, &w, Stage::Draft);
    let a = listing(&app, &w, "20.00", RESERVE);
    let (b1, b2) = (
        enrol(&app, &w, &a, Plan::person("张伟")),
        enrol(&app, &w, &a, Plan::person("李娜")),
    );
    app.set_now(a.starts + chrono::Duration::minutes(1));
    bid_ok(&app, &b1, &a, RESERVE);
    bid_ok(&app, &b2, &a, RESERVE + INCREMENT);

    let text = app.scrape();
    let listings = [
        ("draft", 1),
        ("submitted", 0),
        ("returned", 0),
        ("announced", 0),
        ("auction", 1),
        ("awarded", 0),
        ("contracted", 1),
        ("failed", 0),
        ("cancelled", 0),
    ];
    for (state, n) in listings {
        let series = format!("landx_listings{{state=\"{state}\"}}");
        assert_eq!(metric(&text, &series), Some(n), "{series}\n{text}");
    }
    assert_eq!(metric(&text, "landx_bids_total"), Some(2), "{text}");
    assert!(text.contains("# TYPE landx_bids_total counter\n"), "{text}");
    for (state, n) in [
        ("pending_confirmation", 0),
        ("confirmed", 1),
        ("fallen_through", 0),
    ] {
        let series = format!("landx_deals{{state=\"{state}\"}}");
        assert_eq!(metric(&text, &series), Some(n), "{series}\n{text}");
    }
    assert_eq!(metric(&text, "landx_installments_defaulted"), Some(1));
    assert_eq!(metric(&text, "landx_claims{state=\"filed\"}"), Some(1));
    assert_eq!(metric(&text, "landx_claims{state=\"paid\"}"), Some(0));
    for family in ["claims", "deals", "installments", "listings"] {
        let series = format!("landx_business_metrics_ok{{family=\"{family}\"}}");
        assert_eq!(metric(&text, &series), Some(1), "{series}");
    }
    // The pre-existing series are still there.
    assert!(text.contains("landx_settle_failures_total 0\n"), "{text}");
    assert!(text.contains("landx_db_pool_max "), "{text}");
    // Another instance aggregates the same database.
    let twin = app.second_instance();
    let other = twin.scrape();
    for series in [
        "landx_bids_total",
        "landx_installments_defaulted",
        "landx_listings{state=\"contracted\"}",
        "landx_claims{state=\"filed\"}",
    ] {
        assert_eq!(metric(&other, series), metric(&text, series), "{series}");
    }
}

/// A count whose query fails (its table gone) is left out and flagged; the other counts and
/// the rest of `/metrics` answer as usual.
#[test]
fn a_failing_count_leaves_the_rest_of_metrics_alone() {
    let app = TestApp::start();
    app.exec_sql("ALTER TABLE claims RENAME TO claims_away");
    let text = app.scrape();
    assert!(!text.contains("landx_claims{"), "{text}");
    assert_eq!(
        metric(&text, "landx_business_metrics_ok{family=\"claims\"}"),
        Some(0),
        "{text}"
    );
    assert_eq!(
        metric(&text, "landx_business_metrics_ok{family=\"listings\"}"),
        Some(1)
    );
    assert_eq!(metric(&text, "landx_listings{state=\"draft\"}"), Some(0));
    assert_eq!(metric(&text, "landx_bids_total"), Some(0));
    assert_eq!(metric(&text, "landx_installments_defaulted"), Some(0));
    assert!(text.contains("landx_settle_failures_total 0\n"), "{text}");
    assert!(text.contains("landx_db_pool_max "), "{text}");
    app.exec_sql("ALTER TABLE claims_away RENAME TO claims");
}
