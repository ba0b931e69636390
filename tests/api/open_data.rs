//! Open data and statistics (issue 13): what the public sees of completed and failed trades,
//! as JSON, CSV and a change feed, and the year's figures, checked against values worked out
//! by hand from a known scenario in two townships.

use serde_json::{json, Value};

use crate::support::contracts::{certified, confirmed_deals, start, Deal, ANNUAL, TERM};
use crate::support::trading::{make_listing, schedule, view, Auction, Stage, INCREMENT, RESERVE};
use crate::support::*;

/// The scenario: in 漕泾镇 two auctions won by 张伟-like bidders at reserve + 1 increment over
/// 李娜-like runners-up at the reserve, both confirmed, the first contract certified; in 山阳镇
/// one listing nobody registered for (流拍).
struct Scenario {
    app: TestApp,
    w: World,
    deals: Vec<Deal>,
    lonely: Auction,
}

fn scenario() -> Scenario {
    let app = start();
    let w = World::new(&app);
    let lonely = make_listing(
        &app,
        &w,
        w.sy(),
        "20.00",
        RESERVE,
        schedule(&app),
        Stage::Announced,
    );
    let deals = confirmed_deals(&app, &w, w.cj(), 2, TERM);
    // Reading the lonely listing settles it: registration closed with no eligible bidder.
    assert_eq!(view(&app, &lonely)["status"], "failed");
    Scenario {
        app,
        w,
        deals,
        lonely,
    }
}

fn deals_page(app: &TestApp, query: &str) -> Value {
    ok(app.get(&format!("/api/v1/open-data/deals{query}"), None))
}

fn item<'a>(page: &'a Value, listing: &str) -> &'a Value {
    page["items"]
        .as_array()
        .unwrap()
        .iter()
        .find(|i| i["listing_id"] == listing)
        .unwrap_or_else(|| panic!("{listing} not in {page}"))
}

/// Every personal datum of the scenario's registrations, as staff see them.
fn personal_data(s: &Scenario) -> Vec<String> {
    let mut out = Vec::new();
    for d in &s.deals {
        for b in [&d.winner, &d.runner_up] {
            let r = ok(s.app.get(
                &format!("/api/v1/registrations/{}", b.reg),
                s.w.cj_staff.t(),
            ));
            for f in ["id_number", "phone", "legal_name"] {
                let v = r[f].as_str().unwrap_or_else(|| panic!("{f} in {r}"));
                assert!(!v.contains('*'), "staff see {f} in full: {r}");
                out.push(v.to_string());
            }
        }
    }
    out
}

fn assert_no_personal_data(text: &str, personal: &[String]) {
    for p in personal {
        assert!(!text.contains(p.as_str()), "{p:?} is public: {text}");
    }
}

#[test]
fn open_data_publishes_outcomes_without_personal_data() {
    let s = scenario();
    let (app, w) = (&s.app, &s.w);
    let personal = personal_data(&s);
    let contract = certified(app, w, &s.deals[0]);
    let cert_no = contract["certification_no"].as_str().unwrap().to_string();

    let page = deals_page(app, "");
    assert_eq!(page["items"].as_array().unwrap().len(), 3, "{page}");
    assert!(page["next_cursor"].is_null());
    assert_no_personal_data(&page.to_string(), &personal);

    let first = item(&page, &s.deals[0].a.id);
    let listing = view(app, &s.deals[0].a);
    assert_eq!(first["outcome"], "contracted");
    assert_eq!(first["method"], "auction");
    assert!(first["failure"].is_null());
    assert_eq!(first["listing_no"], listing["listing_no"]);
    assert_eq!(first["township"]["name"], "漕泾镇");
    assert_eq!(first["village"]["name"], "护塘村");
    assert_eq!(first["total_area_mu"], "50.00");
    assert_eq!(first["parcels"][0]["area_mu"], "50.00");
    assert_eq!(first["parcels"][0]["land_type"], "arable");
    assert_eq!(first["intended_use"], "grain");
    assert_eq!(first["term_start"], TERM.0);
    assert_eq!(first["term_end"], TERM.1);
    assert_eq!(first["reserve_price_fen"], RESERVE);
    assert_eq!(first["final_price_fen"], RESERVE + INCREMENT);
    assert_eq!(first["annual_rent_fen"], ANNUAL);
    assert_eq!(first["eligible_bidders"], 2);
    assert_eq!(first["bid_count"], 2);
    assert_eq!(first["attempt"], 1);
    assert_eq!(first["year"], 2027);
    assert_eq!(first["deal"]["status"], "confirmed");
    assert_eq!(first["deal"]["round"], 1);
    assert!(first["deal"]["confirmation_no"]
        .as_str()
        .unwrap()
        .starts_with("DL-CJ-2027-"));
    assert!(first["deal"]["confirmed_on"].is_string());
    assert_eq!(first["contract"]["status"], "certified");
    assert_eq!(first["contract"]["certification_no"], cert_no.as_str());
    assert!(first["contract"]["certified_on"].is_string());
    // A natural person is masked to the first character of the family name.
    assert_eq!(first["winner"], json!({"kind": "person", "name": "张*"}));

    let second = item(&page, &s.deals[1].a.id);
    assert_eq!(second["outcome"], "awarded");
    assert_eq!(second["contract"]["status"], "draft");
    assert!(second["contract"]["certification_no"].is_null());

    let failed = item(&page, &s.lonely.id);
    assert_eq!(failed["outcome"], "failed");
    assert_eq!(failed["failure"], "no_eligible_bidders");
    assert!(failed["method"].is_null());
    assert!(failed["winner"].is_null());
    assert!(failed["deal"].is_null());
    assert!(failed["final_price_fen"].is_null());
    assert_eq!(failed["township"]["name"], "山阳镇");
    assert_eq!(failed["eligible_bidders"], 0);

    // One record, by listing; a listing without an outcome is not published.
    let one = ok(app.get(&format!("/api/v1/open-data/deals/{}", s.lonely.id), None));
    assert_eq!(one["listing_id"], s.lonely.id.as_str());
    let draft = make_listing(
        app,
        w,
        w.cj(),
        "10.00",
        RESERVE,
        schedule(app),
        Stage::Draft,
    );
    app.get(&format!("/api/v1/open-data/deals/{}", draft.id), None)
        .assert_problem(404, "not_found");
    app.get("/api/v1/open-data/deals/not-a-uuid", None)
        .assert_problem(400, "bad_request");

    // Filters.
    let sy = deals_page(app, &format!("?township_id={}", w.sy));
    assert_eq!(ids(&sy), vec![s.lonely.id.clone()]);
    let hutang = deals_page(app, &format!("?village_id={}", w.hutang));
    assert_eq!(hutang["items"].as_array().unwrap().len(), 2);
    let failed_only = deals_page(app, "?outcome=failed");
    assert_eq!(ids(&failed_only), vec![s.lonely.id.clone()]);
    let done = deals_page(app, "?outcome=awarded,contracted&year=2027");
    assert_eq!(done["items"].as_array().unwrap().len(), 2);
    assert!(deals_page(app, "?year=2026")["items"]
        .as_array()
        .unwrap()
        .is_empty());
    app.get("/api/v1/open-data/deals?outcome=draft", None)
        .assert_problem(400, "bad_request");
    app.get("/api/v1/open-data/deals?year=12", None)
        .assert_problem(400, "bad_request");
    app.get("/api/v1/open-data/deals?township_id=x", None)
        .assert_problem(400, "bad_request");
    app.get("/api/v1/open-data/deals?limit=0", None)
        .assert_field("limit");
    app.get("/api/v1/open-data/deals?limit=201", None)
        .assert_field("limit");

    // Pages in listing order, each record once.
    let mut seen = Vec::new();
    let mut cursor: Option<String> = None;
    loop {
        let q = match &cursor {
            Some(c) => format!("?limit=2&cursor={c}"),
            None => "?limit=2".to_string(),
        };
        let p = deals_page(app, &q);
        seen.extend(ids(&p));
        match p["next_cursor"].as_str() {
            Some(c) => cursor = Some(c.to_string()),
            None => break,
        }
    }
    let mut all = ids(&page);
    all.sort();
    assert_eq!(seen, all);
}

fn ids(page: &Value) -> Vec<String> {
    page["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| i["listing_id"].as_str().unwrap().to_string())
        .collect()
}

#[test]
fn the_change_feed_misses_nothing_and_repeats_nothing() {
    let s = scenario();
    let (app, w) = (&s.app, &s.w);
    let feed = |since: i64, limit: i64| {
        ok(app.get(
            &format!("/api/v1/open-data/changes?since={since}&limit={limit}"),
            None,
        ))
    };
    // Read one change at a time: positions only grow, and every record comes once.
    let mut since = 0;
    let mut seen = Vec::new();
    loop {
        let p = feed(since, 1);
        let items = p["items"].as_array().unwrap();
        if items.is_empty() {
            assert_eq!(p["next_since"], since);
            assert_eq!(p["more"], false);
            break;
        }
        let seq = items[0]["seq"].as_i64().unwrap();
        assert!(seq > since, "{p}");
        assert_eq!(p["next_since"], seq);
        seen.push(items[0]["listing_id"].as_str().unwrap().to_string());
        since = seq;
    }
    let mut expected = vec![
        s.deals[0].a.id.clone(),
        s.deals[1].a.id.clone(),
        s.lonely.id.clone(),
    ];
    expected.sort();
    let mut got = seen.clone();
    got.sort();
    assert_eq!(got, expected, "each published record once: {seen:?}");

    // Nothing changed: nothing new (a read that settles nothing writes no entry).
    view(app, &s.deals[1].a);
    assert!(feed(since, 100)["items"].as_array().unwrap().is_empty());

    // Certification changes one record: exactly it comes next, in its new version.
    let contract = certified(app, w, &s.deals[0]);
    let p = feed(since, 100);
    let items = p["items"].as_array().unwrap();
    assert_eq!(items.len(), 1, "{p}");
    assert_eq!(items[0]["listing_id"], s.deals[0].a.id.as_str());
    assert_eq!(items[0]["outcome"], "contracted");
    assert_eq!(
        items[0]["contract"]["certification_no"],
        contract["certification_no"]
    );
    assert!(items[0]["seq"].as_i64().unwrap() > since);
    // The whole feed from the start now holds each record once, in its latest version.
    let whole = feed(0, 200);
    assert_eq!(whole["items"].as_array().unwrap().len(), 3);
    assert_eq!(whole["more"], false);
    let seqs: Vec<i64> = whole["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| i["seq"].as_i64().unwrap())
        .collect();
    assert!(seqs.windows(2).all(|p| p[0] < p[1]), "{seqs:?}");
    app.get("/api/v1/open-data/changes?since=-1", None)
        .assert_field("since");
    app.get("/api/v1/open-data/changes?limit=500", None)
        .assert_field("limit");
    // The feed agrees with the list.
    let page = deals_page(app, "");
    for i in whole["items"].as_array().unwrap() {
        let listed = item(&page, i["listing_id"].as_str().unwrap());
        assert_eq!(listed, i);
    }
}

#[test]
fn the_csv_opens_in_a_spreadsheet() {
    let s = scenario();
    let (app, w) = (&s.app, &s.w);
    let personal = personal_data(&s);
    certified(app, w, &s.deals[0]);
    for r in [
        app.get("/api/v1/open-data/deals.csv", None),
        app.get(
            &format!("/api/v1/open-data/deals.csv?limit=10000&year=2027&outcome=awarded,contracted,failed&township_id={}", w.cj),
            None,
        ),
    ] {
        assert_eq!(r.status, 200, "{}", r.text);
        assert_eq!(r.header("content-type"), Some("text/csv; charset=utf-8"));
        assert!(r.text.starts_with('\u{feff}'), "UTF-8 BOM first");
        assert_no_personal_data(&r.text, &personal);
        let mut reader = csv::Reader::from_reader(r.text.trim_start_matches('\u{feff}').as_bytes());
        let header: Vec<String> = reader
            .headers()
            .unwrap()
            .iter()
            .map(str::to_string)
            .collect();
        assert_eq!(header[0], "listing_no");
        let col = |name: &str| header.iter().position(|h| h == name).unwrap();
        let rows: Vec<csv::StringRecord> = reader.records().map(|r| r.unwrap()).collect();
        assert_eq!(rows.len(), if r.text.contains("山阳镇") { 3 } else { 2 });
        let first_no = view(app, &s.deals[0].a)["listing_no"]
            .as_str()
            .unwrap()
            .to_string();
        let row = rows
            .iter()
            .find(|r| r[col("listing_no")] == *first_no)
            .unwrap();
        assert_eq!(&row[col("township")], "漕泾镇");
        assert_eq!(&row[col("village")], "护塘村");
        assert_eq!(&row[col("winner")], "张*");
        assert_eq!(&row[col("winner_kind")], "person");
        assert_eq!(&row[col("outcome")], "contracted");
        assert_eq!(&row[col("total_area_mu")], "50.00");
        assert_eq!(
            row[col("final_price_fen")],
            (RESERVE + INCREMENT).to_string()
        );
        assert_eq!(row[col("annual_rent_fen")], ANNUAL.to_string());
        assert_eq!(&row[col("land_types")], "arable");
        if let Some(failed) = rows
            .iter()
            .find(|r| &r[col("listing_id")] == s.lonely.id.as_str())
        {
            assert_eq!(&failed[col("township")], "山阳镇");
            assert_eq!(&failed[col("failure")], "no_eligible_bidders");
            assert_eq!(&failed[col("winner")], "");
        }
    }
    assert!(app
        .get("/api/v1/open-data/deals.csv", None)
        .text
        .contains("山阳镇"));
    // CSV pages too, with the cursor in a header.
    let r = app.get("/api/v1/open-data/deals.csv?limit=2", None);
    assert_eq!(r.status, 200);
    let next = r.header("x-next-cursor").expect("next cursor").to_string();
    let r2 = app.get(
        &format!("/api/v1/open-data/deals.csv?limit=2&cursor={next}"),
        None,
    );
    let rows = csv::Reader::from_reader(r2.text.trim_start_matches('\u{feff}').as_bytes())
        .records()
        .count();
    assert_eq!(rows, 1);
    assert!(r2.header("x-next-cursor").is_none());
    app.get("/api/v1/open-data/deals.csv?limit=10001", None)
        .assert_field("limit");
    app.get("/api/v1/open-data/deals.csv?outcome=cancelled", None)
        .assert_problem(400, "bad_request");
}

#[test]
fn statistics_match_the_figures_worked_out_by_hand() {
    let s = scenario();
    let (app, w) = (&s.app, &s.w);
    certified(app, w, &s.deals[0]);
    let stats = |q: &str, token: Option<&str>| ok(app.get(&format!("/api/v1/stats{q}"), token));

    // 漕泾镇, 2027: two auctions ended (2 eligible bidders and 2 bids each), one awarded and
    // one contracted; one contract certified: 50 mu at reserve + 1 increment.
    let cj = stats(&format!("?year=2027&township_id={}", w.cj), None);
    assert_eq!(cj["year"], 2027);
    assert_eq!(
        cj["listings"],
        json!({"closed": 2, "awarded": 1, "contracted": 1, "failed": 0, "cancelled": 0})
    );
    assert_eq!(
        cj["transfers"],
        json!({"contracts_certified": 1, "area_mu": "50.00", "annual_rent_fen": ANNUAL})
    );
    assert_eq!(
        cj["rent_per_mu"],
        json!([{"land_type": "arable", "intended_use": "grain", "contracts": 1,
                "average_fen": RESERVE + INCREMENT, "median_fen": RESERVE + INCREMENT}])
    );
    assert_eq!(
        cj["auctions"],
        json!({"held": 2, "eligible_bidders": 4, "bids": 4, "average_bidders": 2.0})
    );
    let bp = INCREMENT * 10_000 / RESERVE;
    assert_eq!(
        cj["price_over_reserve"],
        json!({"deals": 2, "negotiated": 0, "average_bp": bp, "median_bp": bp})
    );
    assert_eq!(
        cj["deposits_forfeited"],
        json!({"count": 0, "amount_fen": 0})
    );
    assert_eq!(cj["insurance"]["policies"], 0);
    // The first installment falls due in 2028.
    assert_eq!(cj["installments"]["due"], 0);
    assert_eq!(cj["claims"]["filed"], 0);
    // The public sees no per-village detail; the township's staff and admins do.
    assert!(cj["villages"].is_null());
    assert!(
        stats(&format!("?year=2027&township_id={}", w.cj), w.sy_staff.t())["villages"].is_null()
    );
    for token in [w.cj_staff.t(), w.admin()] {
        let detail = stats(&format!("?year=2027&township_id={}", w.cj), token);
        let villages = detail["villages"].as_array().unwrap();
        let ht = villages.iter().find(|v| v["name"] == "护塘村").unwrap();
        assert_eq!(ht["listings_closed"], 2);
        assert_eq!(ht["contracts_certified"], 1);
        assert_eq!(ht["area_mu"], "50.00");
        let jg = villages.iter().find(|v| v["name"] == "金光村").unwrap();
        assert_eq!(jg["listings_closed"], 0);
        assert_eq!(jg["area_mu"], "0.00");
    }

    // 山阳镇: one listing failed without a bidder.
    let sy = stats(&format!("?year=2027&township_id={}", w.sy), None);
    assert_eq!(
        sy["listings"],
        json!({"closed": 1, "awarded": 0, "contracted": 0, "failed": 1, "cancelled": 0})
    );
    assert_eq!(sy["auctions"]["held"], 0);
    assert!(sy["auctions"]["average_bidders"].is_null());
    assert!(sy["price_over_reserve"]["average_bp"].is_null());

    // The district: both townships.
    let all = stats("?year=2027", None);
    assert!(all["township_id"].is_null());
    assert_eq!(all["listings"]["closed"], 3);
    assert_eq!(all["listings"]["failed"], 1);
    assert_eq!(all["transfers"]["contracts_certified"], 1);
    // Another year is empty; the default year is the clock's.
    assert_eq!(stats("?year=2026", None)["listings"]["closed"], 0);
    assert_eq!(stats("", None)["year"], 2027);
    app.get("/api/v1/stats?year=1800", None)
        .assert_problem(400, "bad_request");
    app.get(
        &format!("/api/v1/stats?township_id={}", uuid::Uuid::now_v7()),
        None,
    )
    .assert_problem(404, "not_found");
}

/// The second half's figures: three negotiated contracts in 漕泾镇, each year-1 installment
/// insured and due 2027-01-30; one paid on time, one paid late, one defaulted, claimed, paid
/// out by the insurer and partly recovered.
#[test]
fn statistics_of_rent_insurance_and_claims_match_the_hand_figures() {
    use crate::support::insurance::{
        company_of, day, decide, file_claim, finish, installment, issue, pay_rent, prepare,
        quote_ok, recover, start, Terms,
    };
    let app = start();
    let w = World::new(&app);
    let axny = company_of(&app, &w.insurer);
    let terms = [
        // 50 mu at 1 200 元: 6 000 000 a year; it defaults.
        Terms::standard(),
        // 30 mu at 1 000 元: 3 000 000; paid on time.
        Terms {
            area_mu: "30.00",
            price_fen: 100_000,
            ..Terms::standard()
        },
        // 10 mu at 1 040 元: 1 040 000; paid late.
        Terms {
            area_mu: "10.00",
            price_fen: 104_000,
            ..Terms::standard()
        },
    ];
    let pending: Vec<_> = terms
        .iter()
        .map(|t| prepare(&app, &w, w.cj(), *t))
        .collect();
    let contracts: Vec<_> = pending.into_iter().map(|p| finish(&app, &w, p)).collect();
    let inv = |k: usize| contracts[k].investor.token.clone();
    for (k, c) in contracts.iter().enumerate() {
        let p = quote_ok(&app, &inv(k), &c.id, 1, &axny);
        let r = issue(
            &app,
            &w.insurer.token,
            p["id"].as_str().unwrap(),
            &format!("AXNY-LYBZ-2027-00011{k}"),
        );
        assert_eq!(r.status, 200, "{}", r.text);
    }
    let inst = |k: usize| {
        installment(&app, &inv(k), &contracts[k].id, 1)["id"]
            .as_str()
            .unwrap()
            .to_string()
    };
    let ht = &w.ht.token;
    // The deposit (100 000) was applied to each first installment.
    day(&app, "2027-01-25");
    assert_eq!(
        pay_rent(&app, ht, &inst(1), 2_900_000, "2027-01-25").status,
        201
    );
    day(&app, "2027-02-05");
    assert_eq!(
        pay_rent(&app, ht, &inst(2), 940_000, "2027-02-05").status,
        201
    );
    assert_eq!(
        installment(&app, &inv(2), &contracts[2].id, 1)["status"],
        "paid"
    );
    day(&app, "2027-03-02");
    assert_eq!(
        installment(&app, &inv(0), &contracts[0].id, 1)["status"],
        "defaulted"
    );
    let claim = file_claim(&app, ht, &inst(0)).id();
    let uw = &w.insurer.token;
    ok(decide(&app, uw, &claim, "review", json!({})));
    ok(decide(&app, uw, &claim, "approve", json!({})));
    ok(decide(
        &app,
        uw,
        &claim,
        "pay",
        json!({"payment_ref": "AXNY-LP-PAY-01"}),
    ));
    day(&app, "2027-03-10");
    assert_eq!(
        recover(&app, uw, &claim, 1_000_000, "2027-03-10").status,
        201
    );

    let st = ok(app.get(
        &format!("/api/v1/stats?year=2027&township_id={}", w.cj),
        w.cj_staff.t(),
    ));
    assert_eq!(
        st["listings"],
        json!({"closed": 3, "awarded": 0, "contracted": 3, "failed": 0, "cancelled": 0})
    );
    assert_eq!(
        st["transfers"],
        json!({"contracts_certified": 3, "area_mu": "90.00",
               "annual_rent_fen": 6_000_000 + 3_000_000 + 1_040_000})
    );
    // (120 000 + 100 000 + 104 000) / 3 = 108 000; the middle one is 104 000.
    assert_eq!(
        st["rent_per_mu"],
        json!([{"land_type": "arable", "intended_use": "grain", "contracts": 3,
                "average_fen": 108_000, "median_fen": 104_000}])
    );
    assert_eq!(
        st["auctions"],
        json!({"held": 0, "eligible_bidders": 0, "bids": 0, "average_bidders": null})
    );
    // Negotiated deals are at the reserve.
    assert_eq!(
        st["price_over_reserve"],
        json!({"deals": 3, "negotiated": 3, "average_bp": 0, "median_bp": 0})
    );
    // 3 % of each year's rent, half of it subsidised.
    assert_eq!(
        st["insurance"],
        json!({"policies": 3, "premium_fen": 180_000 + 90_000 + 31_200,
               "subsidy_fen": 90_000 + 45_000 + 15_600,
               "holder_premium_fen": 90_000 + 45_000 + 15_600})
    );
    assert_eq!(
        st["installments"],
        json!({"due": 3, "amount_fen": 10_040_000, "paid_on_time": 1, "paid_late": 1,
               "covered": 1, "overdue": 0, "defaulted": 0, "open": 0})
    );
    // 6 000 000 − the deposit 100 000 outstanding.
    assert_eq!(
        st["claims"],
        json!({"filed": 1, "claimed_fen": 5_900_000, "approved_fen": 5_900_000,
               "paid_fen": 5_900_000})
    );
    assert_eq!(
        st["recoveries"],
        json!({"count": 1, "amount_fen": 1_000_000})
    );
    assert_eq!(
        st["deposits_forfeited"],
        json!({"count": 0, "amount_fen": 0})
    );
    let villages = st["villages"].as_array().unwrap();
    let hutang = villages.iter().find(|v| v["name"] == "护塘村").unwrap();
    assert_eq!(hutang["contracts_certified"], 3);
    assert_eq!(hutang["area_mu"], "90.00");
    assert_eq!(
        hutang["installments_defaulted"], 0,
        "covered by the insurer"
    );
    // 山阳镇 had none of it; 2028 neither (its installments fall due then, not paid yet).
    let sy = ok(app.get(
        &format!("/api/v1/stats?year=2027&township_id={}", w.sy),
        None,
    ));
    assert_eq!(sy["installments"]["due"], 0);
    assert_eq!(sy["insurance"]["policies"], 0);
    let next = ok(app.get("/api/v1/stats?year=2028", None));
    assert_eq!(next["claims"]["filed"], 0);
    assert_eq!(next["installments"]["due"], 3);
    assert_eq!(next["installments"]["open"], 3);
}
