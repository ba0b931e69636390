//! Open data and statistics benchmark (issue 13): seeds BENCH_DEALS (default 100 000) listings
//! with an outcome (contracted, awarded, failed) over 3 townships × 6 villages and the
//! Shanghai years 2025–2027, with their registrations, deals, certified contracts, one rent
//! installment each (paid, overdue, defaulted, scheduled), payments, policies, claims and
//! recoveries, and their published records (built from the seed with the domain's types and
//! checked byte for byte against `app::open_data::touch` on a sample; BENCH_BACKFILL=1 runs
//! `app::open_data::backfill` instead, minutes on PostgreSQL). Then measures p50/p99 over
//! BENCH_ROUNDS (default 200) requests through HTTP of the open-data list, its CSV, the change
//! feed and the statistics, and prints the plan of the main queries (PostgreSQL:
//! `EXPLAIN (ANALYZE, BUFFERS)`; SQLite: `EXPLAIN QUERY PLAN`), captured from the
//! application's own query code by diesel's instrumentation. BENCH_KEEP=1 leaves the database
//! behind. Results: docs/perf/open_data.md.
//!
//!     cargo bench --bench open_data
//!     LANDX_TEST_DATABASE_URL=postgres://postgres@127.0.0.1:5432/postgres cargo bench --bench open_data

#[path = "../tests/common/mod.rs"]
mod common;

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use chrono::{NaiveDate, NaiveDateTime};
use diesel::connection::{InstrumentationEvent, SimpleConnection};
use diesel::prelude::*;
use diesel::r2d2::ManageConnection;
use diesel::sql_types::{BigInt, Text};
use landx::db::models::{Listing, Parcel};
use landx::db::open_data::{OpenDealRow, FEED_COUNTER};
use landx::db::schema::{listing_parcels, listings, open_deals, parcels};
use landx::db::DbConn;
use landx::domain::calendar::{shanghai_date, shanghai_year};
use landx::domain::contract::ContractStatus;
use landx::domain::deal::DealStatus;
use landx::domain::listing::{IntendedUse, ListingStatus};
use landx::domain::money::{annual_rent_fen, format_mu};
use landx::domain::open_data::{
    failure_reason, public_winner, trade_method, OpenContractFacts, OpenDeal, OpenDealFacts,
    OpenParcel, OrgRef,
};
use landx::domain::parcel::LandType;
use landx::domain::registration::IdType;
use serde_json::json;

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    sorted[((sorted.len() as f64 - 1.0) * p).round() as usize]
}

fn env_num(name: &str, default: usize) -> usize {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

/// `expr` plus `days` days, as a timestamp (`date` false) or a date.
fn plus_days(pg: bool, expr: &str, days: i64, date: bool) -> String {
    match (pg, date) {
        (true, false) => format!("({expr} + INTERVAL '1 day' * {days})"),
        (true, true) => format!("CAST({expr} + INTERVAL '1 day' * {days} AS DATE)"),
        (false, false) => format!("datetime({expr}, '{days:+} days')"),
        (false, true) => format!("date({expr}, '{days:+} days')"),
    }
}

#[derive(QueryableByName)]
struct Count {
    #[diesel(sql_type = BigInt)]
    n: i64,
}

fn count(conn: &mut DbConn, sql: &str) -> i64 {
    let rows: Vec<Count> = landx::db_run!(conn: { diesel::sql_query(sql).load(conn) }).unwrap();
    rows[0].n
}

/// One GET, timed from the request to the last byte of the answer (the body is parsed
/// after the clock stops).
fn fetch(base: &str, path: &str, token: Option<&str>) -> (u16, String, Option<String>, Duration) {
    let mut req = ureq::get(&format!("{base}{path}")).timeout(Duration::from_secs(120));
    if let Some(t) = token {
        req = req.set("Authorization", &format!("Bearer {t}"));
    }
    let t = Instant::now();
    let res = match req.call() {
        Ok(r) => r,
        Err(ureq::Error::Status(_, r)) => r,
        Err(e) => panic!("GET {path}: {e}"),
    };
    let status = res.status();
    let cursor = res.header("X-Next-Cursor").map(str::to_string);
    let text = res.into_string().unwrap();
    (status, text, cursor, t.elapsed())
}

struct Case {
    name: &'static str,
    path: String,
    token: Option<String>,
    rounds: usize,
}

/// One seeded listing: everything its rows and its published record are made of.
struct Seed {
    id: String,
    listing_no: String,
    parcel_code: String,
    township: usize,
    /// Index into the 18 villages (6 per township).
    village: usize,
    year: i32,
    closed: NaiveDateTime,
    status: ListingStatus,
    eligible: i64,
    had_deal: bool,
    bids: i64,
    reserve: i64,
    price: i64,
    area: i64,
    land_type: LandType,
    intended_use: IntendedUse,
    term_start: NaiveDate,
    term_end: NaiveDate,
}

impl Seed {
    /// Listing `i` of `n`: created and closed in time order over 2025–2027 as real ones are,
    /// so a year's records sit together in listing-id (UUIDv7) order; townships and villages
    /// interleaved; 40 % contracted, 20 % awarded, 40 % failed.
    fn new(i: usize, n: usize) -> Seed {
        let types = ["arable", "garden", "forest", "aquaculture", "facility"];
        let uses = [
            "grain",
            "vegetables",
            "fruit",
            "aquaculture",
            "mixed_farming",
        ];
        let township = i % 3;
        let village = township * 6 + (i / 3) % 6;
        let block = n.div_ceil(3);
        let year = 2025 + (i / block) as i32;
        // Closed between 1 January and 26 November (Shanghai time), 09:00–19:00.
        let day = ((i % block) * 330 / block) as u64;
        let closed = NaiveDate::from_ymd_opt(year, 1, 1)
            .unwrap()
            .checked_add_days(chrono::Days::new(day))
            .unwrap()
            .and_hms_opt(1, 0, 0)
            .unwrap()
            + chrono::Duration::minutes((i % 600) as i64);
        let status = match i % 10 {
            0..=3 => ListingStatus::Contracted,
            4 | 5 => ListingStatus::Awarded,
            _ => ListingStatus::Failed,
        };
        let failed = status == ListingStatus::Failed;
        let eligible = ((i / 10) % 4) as i64 + i64::from(!failed);
        // Half of the failed listings with a bidder had a deal that fell through.
        let had_deal = !failed || (eligible >= 1 && (i / 40) % 2 == 0);
        let bids = if eligible >= 2 && had_deal {
            1 + (i as i64 * 13) % 25
        } else {
            0
        };
        let reserve = 80_000 + (i as i64 * 104_729) % 100_000 / 1000 * 1000;
        let term_start = closed.date() + chrono::Duration::days(60);
        let tcode = ["CJ", "JS", "TL"][township];
        Seed {
            id: uuid::Uuid::now_v7().to_string(),
            listing_no: format!("{tcode}-{year}-{i:06}"),
            parcel_code: format!("{tcode}-{i:07}"),
            township,
            village,
            year,
            closed,
            status,
            eligible,
            had_deal,
            bids,
            reserve,
            price: reserve + bids * 1000,
            area: 500 + (i as i64 * 7919) % 50_000,
            land_type: LandType::parse(types[i % types.len()]).unwrap(),
            intended_use: IntendedUse::parse(uses[i % uses.len()]).unwrap(),
            term_start,
            term_end: term_start + chrono::Duration::days(3652),
        }
    }

    /// The published record as `app::open_data` builds it from the rows the set-based SQL in
    /// `main` derives from the listing (same rules: `area % 2 == 0` makes the winner a
    /// company, `area % 3 == 0` leaves an awarded deal unconfirmed, dates offset from
    /// `closed_at`).
    fn record(&self, township: &OrgRef, village: &OrgRef) -> OpenDeal {
        let at = |days: i64| shanghai_date((self.closed + chrono::Duration::days(days)).and_utc());
        let deal_status = if self.status == ListingStatus::Failed {
            DealStatus::FallenThrough
        } else if self.status == ListingStatus::Awarded && self.area % 3 == 0 {
            DealStatus::PendingConfirmation
        } else {
            DealStatus::Confirmed
        };
        let winner = (self.had_deal && deal_status != DealStatus::FallenThrough).then(|| {
            if self.area % 2 == 0 {
                public_winner(
                    IdType::UnifiedSocialCreditCode,
                    &format!("上海{}农业专业合作社", self.listing_no),
                )
            } else {
                public_winner(IdType::ResidentId, "张三丰")
            }
        });
        OpenDeal {
            listing_id: self.id.clone(),
            listing_no: Some(self.listing_no.clone()),
            outcome: self.status,
            method: trade_method(self.eligible),
            failure: (self.status == ListingStatus::Failed)
                .then(|| failure_reason(self.eligible, self.had_deal)),
            attempt: 1,
            previous_listing_no: None,
            township: township.clone(),
            village: village.clone(),
            parcels: vec![OpenParcel {
                code: self.parcel_code.clone(),
                area_mu: format_mu(self.area),
                land_type: self.land_type,
            }],
            total_area_mu: format_mu(self.area),
            intended_use: self.intended_use,
            term_start: self.term_start,
            term_end: self.term_end,
            reserve_price_fen: self.reserve,
            final_price_fen: self.had_deal.then_some(self.price),
            annual_rent_fen: self
                .had_deal
                .then(|| annual_rent_fen(self.price, self.area).unwrap()),
            eligible_bidders: self.eligible,
            bid_count: self.bids,
            closed_at: Some(self.closed.and_utc()),
            year: shanghai_year(self.closed.and_utc()),
            deal: self.had_deal.then(|| OpenDealFacts {
                confirmation_no: format!("QR-{}", self.listing_no),
                round: 1,
                status: deal_status,
                awarded_on: at(0),
                confirmed_on: (deal_status == DealStatus::Confirmed).then(|| at(2)),
            }),
            contract: (self.status == ListingStatus::Contracted).then(|| OpenContractFacts {
                status: ContractStatus::Certified,
                certification_no: Some(format!("JZ-{}", self.listing_no)),
                certified_on: Some(at(12)),
            }),
            winner,
        }
    }
}

fn main() {
    let n = env_num("BENCH_DEALS", 100_000);
    let rounds = env_num("BENCH_ROUNDS", 200);
    let app = common::TestApp::start_with(|s| s.database.pool_size = 16);
    // Early 2028: every seeded record is in the past.
    app.set_now(chrono::TimeZone::with_ymd_and_hms(&chrono::Utc, 2028, 1, 10, 2, 0, 0).unwrap());
    let pg = app.db.is_postgres();
    let backend = if pg { "postgres" } else { "sqlite" };
    let admin = app.admin_token();
    let admin_id = app.get("/api/v1/me", Some(&admin)).id();

    // ---- organisations: 3 townships × 6 villages, an insurer, an investor ----
    let township_names = [("CJ", "漕泾镇"), ("JS", "金山卫镇"), ("TL", "亭林镇")];
    let village_names = ["一村", "二村", "三村", "四村", "五村", "六村"];
    let mut townships: Vec<OrgRef> = Vec::new();
    let mut villages: Vec<OrgRef> = Vec::new();
    for (code, name) in township_names {
        let ts = app
            .post(
                "/api/v1/townships",
                Some(&admin),
                json!({"code": code, "name": name}),
            )
            .id();
        for (k, v) in village_names.iter().enumerate() {
            let (vcode, vname) = (format!("{code}{k}"), format!("{name}{v}"));
            let id = app
                .post(
                    "/api/v1/villages",
                    Some(&admin),
                    json!({"township_id": ts, "code": vcode, "name": vname}),
                )
                .id();
            villages.push(OrgRef {
                id,
                code: vcode,
                name: vname,
            });
        }
        townships.push(OrgRef {
            id: ts,
            code: code.to_string(),
            name: name.to_string(),
        });
    }
    let insurer = app
        .post(
            "/api/v1/insurers",
            Some(&admin),
            json!({"code": "PICC", "name": "中国人保财险上海分公司"}),
        )
        .id();
    let investor = uuid::Uuid::now_v7().to_string();
    app.exec_sql(&format!(
        "INSERT INTO users (id, email, password_hash, display_name, phone, role, email_verified, \
         disabled, token_version, failed_logins, created_at, updated_at) VALUES ('{investor}', \
         'bench-investor@landx.test', NULL, '基准投资人', NULL, 'investor', TRUE, FALSE, 0, 0, \
         '2027-01-10 02:00:00', '2027-01-10 02:00:00')"
    ));

    // ---- listings and parcels, batch-inserted ----
    let started = Instant::now();
    let mut conn = app.pool().get().unwrap();
    // A benchmark's seed needs no durability: commits without waiting for the disk.
    conn.batch_execute(if pg {
        "SET synchronous_commit = off"
    } else {
        "PRAGMA synchronous = OFF"
    })
    .unwrap();
    let mut seeds: Vec<Seed> = Vec::with_capacity(n);
    let batch = 400;
    for start in (0..n).step_by(batch) {
        let end = (start + batch).min(n);
        let mut ps = Vec::with_capacity(end - start);
        let mut ls = Vec::with_capacity(end - start);
        let mut links = Vec::with_capacity(end - start);
        for i in start..end {
            let sd = Seed::new(i, n);
            let (ts, v) = (&townships[sd.township], &villages[sd.village]);
            let pid = uuid::Uuid::now_v7().to_string();
            ps.push(Parcel {
                id: pid.clone(),
                code: sd.parcel_code.clone(),
                village_id: v.id.clone(),
                township_id: ts.id.clone(),
                area_centimu: sd.area,
                land_type: sd.land_type,
                permanent_basic_farmland: i % 3 == 0,
                quality_grade: Some((i % 10) as i64 + 1),
                households: 5 + (i % 20) as i64,
                household_contract_end: NaiveDate::from_ymd_opt(2057, 12, 31).unwrap(),
                location: format!("{}第{}组", ts.name, i % 30),
                boundary_geojson: None,
                created_at: sd.closed - chrono::Duration::days(40),
                updated_at: sd.closed - chrono::Duration::days(40),
            });
            ls.push(Listing {
                id: sd.id.clone(),
                listing_no: Some(sd.listing_no.clone()),
                village_id: v.id.clone(),
                township_id: ts.id.clone(),
                created_by: admin_id.clone(),
                status: sd.status,
                title: format!("{}年第{i}批土地经营权流转", sd.year),
                description: "基准测试数据".into(),
                intended_use: sd.intended_use,
                land_types: format!(",{},", sd.land_type.as_str()),
                term_start: sd.term_start,
                term_end: sd.term_end,
                reserve_price_fen: sd.reserve,
                min_increment_fen: 1000,
                deposit_fen: 100_000,
                total_area_centimu: sd.area,
                annual_reserve_rent_fen: annual_rent_fen(sd.reserve, sd.area).unwrap(),
                registration_closes_at: sd.closed - chrono::Duration::hours(2),
                auction_starts_at: sd.closed - chrono::Duration::hours(1),
                auction_ends_at: sd.closed,
                extension_secs: 300,
                consent_resolution_date: sd.closed.date() - chrono::Duration::days(60),
                consent_members_agreeing: 20,
                consent_members_total: 30,
                consent_commissions_received: 10,
                attempt: 1,
                previous_listing_id: None,
                relisted_as_id: None,
                return_reason: None,
                cancel_reason: None,
                submitted_at: Some(sd.closed - chrono::Duration::days(35)),
                announced_at: Some(sd.closed - chrono::Duration::days(30)),
                closed_at: Some(sd.closed),
                eligible_bidders: Some(sd.eligible),
                current_price_fen: sd.had_deal.then_some(sd.price),
                current_ends_at: None,
                leading_registration_id: sd.had_deal.then(|| format!("r{}", sd.id)),
                bid_count: sd.bids,
                created_at: sd.closed - chrono::Duration::days(40),
                updated_at: sd.closed,
            });
            links.push((
                listing_parcels::listing_id.eq(sd.id.clone()),
                listing_parcels::parcel_id.eq(pid),
            ));
            seeds.push(sd);
        }
        landx::db::write_tx(&mut conn, |c| {
            landx::db_run!(c: {
                diesel::insert_into(parcels::table).values(ps.clone()).execute(c)?;
                diesel::insert_into(listings::table).values(ls.clone()).execute(c)?;
                diesel::insert_into(listing_parcels::table).values(&links).execute(c)?;
            });
            Ok(())
        })
        .unwrap();
    }
    println!(
        "[{backend}] seeded {n} listings and parcels in {:.1} s",
        started.elapsed().as_secs_f64()
    );

    // ---- the rest, set-based from the listings ----
    let p = |e: &str, d: i64| plus_days(pg, e, d, false);
    let pd = |e: &str, d: i64| plus_days(pg, e, d, true);
    let steps: Vec<(&str, String)> = vec![
        (
            "registrations",
            format!(
                "INSERT INTO registrations (id, listing_id, investor_id, legal_name, id_type, \
                 id_number_enc, id_number_masked, phone, experience, business_plan, \
                 claims_membership, member_verified, status, reviewed_at, deposit_status, \
                 deposit_amount_fen, deposit_receipt_ref, deposit_confirmed_at, created_at, \
                 updated_at) \
                 SELECT 'r' || l.id, l.id, '{investor}', \
                 CASE WHEN l.total_area_centimu % 2 = 0 THEN '上海' || l.listing_no || '农业专业合作社' ELSE '张三丰' END, \
                 CASE WHEN l.total_area_centimu % 2 = 0 THEN 'unified_social_credit_code' ELSE 'resident_id' END, \
                 'bench', '****', 'bench', '基准', '基准', FALSE, FALSE, 'qualified', {reviewed}, \
                 CASE l.status WHEN 'failed' THEN 'forfeited' WHEN 'contracted' THEN 'applied_to_rent' ELSE 'confirmed' END, \
                 l.deposit_fen, 'BZJ-' || l.listing_no, {deposit}, {created}, l.closed_at \
                 FROM listings l WHERE l.current_price_fen IS NOT NULL",
                reviewed = p("l.closed_at", -10),
                deposit = p("l.closed_at", -5),
                created = p("l.closed_at", -12),
            ),
        ),
        (
            "deals",
            format!(
                "INSERT INTO deals (id, listing_id, registration_id, round, negotiated, \
                 confirmation_no, bidder_no, price_fen, annual_rent_fen, status, awarded_at, \
                 confirm_by, publicity_ends_at, winner_confirmed_at, collective_confirmed_at, \
                 fell_through_at, fall_reason, created_at, updated_at) \
                 SELECT 'd' || l.id, l.id, 'r' || l.id, 1, (l.eligible_bidders = 1), \
                 'QR-' || l.listing_no, 1, l.current_price_fen, \
                 (l.current_price_fen * l.total_area_centimu + 50) / 100, \
                 CASE WHEN l.status = 'failed' THEN 'fallen_through' \
                   WHEN l.status = 'awarded' AND l.total_area_centimu % 3 = 0 THEN 'pending_confirmation' \
                   ELSE 'confirmed' END, \
                 l.closed_at, {p5}, {p5}, \
                 CASE WHEN l.status = 'contracted' OR (l.status = 'awarded' AND l.total_area_centimu % 3 <> 0) THEN {p2} END, \
                 CASE WHEN l.status = 'contracted' OR (l.status = 'awarded' AND l.total_area_centimu % 3 <> 0) THEN {p2} END, \
                 CASE WHEN l.status = 'failed' THEN {p5} END, \
                 CASE WHEN l.status = 'failed' THEN '中标人放弃' END, l.closed_at, l.closed_at \
                 FROM listings l WHERE l.current_price_fen IS NOT NULL",
                p5 = p("l.closed_at", 5),
                p2 = p("l.closed_at", 2),
            ),
        ),
        (
            "contracts",
            format!(
                "INSERT INTO contracts (id, listing_id, deal_id, registration_id, village_id, \
                 township_id, status, certification_no, transferor_name, transferor_credit_code, \
                 transferor_legal_representative, investor_id, transferee_legal_name, \
                 transferee_id_type, transferee_id_number_enc, transferee_id_number_masked, \
                 total_area_centimu, intended_use, term_start, term_end, years, price_fen, \
                 annual_rent_fen, total_rent_fen, deposit_fen, rent_due_days_before_year, \
                 insurance_required, transferor_signed_by, transferor_signed_at, \
                 transferee_signed_by, transferee_signed_at, signed_at, certified_by, \
                 certified_at, created_at, updated_at) \
                 SELECT 'c' || l.id, l.id, d.id, d.registration_id, l.village_id, l.township_id, \
                 'certified', 'JZ-' || l.listing_no, v.name || '股份经济合作社', '00000000000000000X', '王五', \
                 r.investor_id, r.legal_name, r.id_type, r.id_number_enc, r.id_number_masked, \
                 l.total_area_centimu, l.intended_use, l.term_start, l.term_end, 10, d.price_fen, \
                 d.annual_rent_fen, d.annual_rent_fen * 10, l.deposit_fen, 30, FALSE, \
                 '{admin_id}', {p9}, '{investor}', {p10}, {p10}, '{admin_id}', {p12}, {p8}, {p12} \
                 FROM listings l JOIN deals d ON d.listing_id = l.id \
                 JOIN registrations r ON r.id = d.registration_id \
                 JOIN villages v ON v.id = l.village_id WHERE l.status = 'contracted'",
                p8 = p("l.closed_at", 8),
                p9 = p("l.closed_at", 9),
                p10 = p("l.closed_at", 10),
                p12 = p("l.closed_at", 12),
            ),
        ),
        (
            "contract_parcels",
            "INSERT INTO contract_parcels (contract_id, parcel_id, code, location, area_centimu, \
             land_type, quality_grade) \
             SELECT c.id, pa.id, pa.code, pa.location, pa.area_centimu, pa.land_type, pa.quality_grade \
             FROM contracts c JOIN listing_parcels lp ON lp.listing_id = c.listing_id \
             JOIN parcels pa ON pa.id = lp.parcel_id"
                .to_string(),
        ),
        (
            "installments",
            format!(
                "INSERT INTO installments (id, contract_id, village_id, township_id, investor_id, \
                 year, period_start, period_end, due_date, amount_fen, paid_fen, \
                 insurer_paid_fen, status, defaulted_at, created_at, updated_at) \
                 SELECT 'i' || l.id, c.id, c.village_id, c.township_id, c.investor_id, 1, \
                 c.term_start, {end}, {due}, c.annual_rent_fen, \
                 CASE WHEN c.total_area_centimu % 4 = 0 THEN c.annual_rent_fen ELSE 0 END, 0, \
                 CASE c.total_area_centimu % 4 WHEN 0 THEN 'paid' WHEN 1 THEN 'overdue' \
                   WHEN 2 THEN 'defaulted' ELSE 'scheduled' END, \
                 CASE WHEN c.total_area_centimu % 4 = 2 THEN {p40} END, c.certified_at, c.certified_at \
                 FROM contracts c JOIN listings l ON l.id = c.listing_id",
                end = pd("c.term_start", 364),
                due = pd("l.closed_at", 15),
                p40 = p("l.closed_at", 40),
            ),
        ),
        (
            "payments",
            format!(
                "INSERT INTO payments (id, installment_id, contract_id, amount_fen, received_on, \
                 receipt_ref, kind, created_at) \
                 SELECT 'p' || i.id, i.id, i.contract_id, i.amount_fen, \
                 CASE WHEN c.total_area_centimu % 8 = 0 THEN {early} ELSE {late} END, \
                 'SK-' || i.id, 'payment', i.created_at \
                 FROM installments i JOIN contracts c ON c.id = i.contract_id WHERE i.status = 'paid'",
                early = pd("i.due_date", -3),
                late = pd("i.due_date", 5),
            ),
        ),
        (
            "policies",
            format!(
                "INSERT INTO policies (id, policy_no, contract_id, installment_id, year, \
                 insurer_id, village_id, township_id, investor_id, status, period_start, \
                 period_end, sum_insured_fen, premium_rate_bp, premium_fen, subsidy_share_bp, \
                 subsidy_fen, holder_premium_fen, quoted_by, issued_by, issued_at, created_at, \
                 updated_at) \
                 SELECT 'po' || i.id, 'BD-' || i.id, i.contract_id, i.id, 1, '{insurer}', \
                 i.village_id, i.township_id, i.investor_id, 'issued', i.period_start, \
                 i.period_end, i.amount_fen, 150, i.amount_fen * 150 / 10000, 6000, \
                 i.amount_fen * 150 / 10000 * 6000 / 10000, \
                 i.amount_fen * 150 / 10000 - i.amount_fen * 150 / 10000 * 6000 / 10000, \
                 '{investor}', NULL, {p1}, c.certified_at, c.certified_at \
                 FROM installments i JOIN contracts c ON c.id = i.contract_id \
                 WHERE c.total_area_centimu % 3 = 0",
                p1 = p("c.certified_at", 1),
            ),
        ),
        (
            "claims",
            format!(
                "INSERT INTO claims (id, claim_no, policy_id, installment_id, contract_id, \
                 insurer_id, village_id, township_id, investor_id, status, claimed_fen, \
                 approved_fen, paid_fen, recovered_fen, note, created_at, updated_at) \
                 SELECT 'cl' || i.id, 'LP-' || i.id, po.id, i.id, i.contract_id, po.insurer_id, \
                 i.village_id, i.township_id, i.investor_id, \
                 CASE i.amount_fen % 3 WHEN 0 THEN 'recovery_open' WHEN 1 THEN 'paid' ELSE 'filed' END, \
                 i.amount_fen, \
                 CASE WHEN i.amount_fen % 3 = 2 THEN NULL ELSE i.amount_fen END, \
                 CASE WHEN i.amount_fen % 3 = 2 THEN 0 ELSE i.amount_fen END, \
                 CASE WHEN i.amount_fen % 3 = 0 THEN i.amount_fen / 10 ELSE 0 END, \
                 '基准测试', {p1}, {p1} \
                 FROM installments i JOIN policies po ON po.installment_id = i.id \
                 WHERE i.status = 'defaulted'",
                p1 = p("i.defaulted_at", 1),
            ),
        ),
        (
            "recoveries",
            format!(
                "INSERT INTO recoveries (id, claim_id, amount_fen, received_on, ref, created_at) \
                 SELECT 'rc' || c.id, c.id, c.recovered_fen, {on}, 'ZC-' || c.id, c.created_at \
                 FROM claims c WHERE c.recovered_fen > 0",
                on = pd("c.created_at", 10),
            ),
        ),
    ];
    for (table, sql) in &steps {
        let t = Instant::now();
        landx::db::write_tx(&mut conn, |c| {
            c.batch_execute(sql)?;
            Ok(())
        })
        .unwrap_or_else(|e| panic!("{table}: {e:?}\n{sql}"));
        let rows = count(&mut conn, &format!("SELECT COUNT(*) AS n FROM {table}"));
        println!(
            "[{backend}] {table:<17} {rows:>7} rows in {:>6.1} s",
            t.elapsed().as_secs_f64()
        );
    }

    // ---- publication ----
    let now = app.now();
    let t = Instant::now();
    if std::env::var("BENCH_BACKFILL").is_ok_and(|v| v == "1") {
        // The application's own code for every record: one transaction and ~12 statements
        // per listing.
        let published = landx::app::open_data::backfill(&mut conn, now).unwrap();
        assert_eq!(published, n, "every listing has an outcome");
        println!(
            "[{backend}] open_deals        {published:>7} rows in {:>6.1} s (app::open_data::backfill)",
            t.elapsed().as_secs_f64()
        );
    } else {
        // The records built here from what was seeded, serialized by the application's own
        // types, batch-inserted in listing order with feed positions 1..n; then the
        // application's `touch` runs on a sample and must find every one up to date (it
        // writes a record, at a new feed position, only when the body it builds differs).
        let mut order: Vec<usize> = (0..n).collect();
        order.sort_by(|a, b| seeds[*a].id.cmp(&seeds[*b].id));
        for (k, chunk) in order.chunks(batch).enumerate() {
            let rows: Vec<OpenDealRow> = chunk
                .iter()
                .enumerate()
                .map(|(j, i)| {
                    let sd = &seeds[*i];
                    let record = sd.record(&townships[sd.township], &villages[sd.village]);
                    OpenDealRow {
                        listing_id: sd.id.clone(),
                        feed_seq: (k * batch + j + 1) as i64,
                        township_id: record.township.id.clone(),
                        village_id: record.village.id.clone(),
                        outcome: record.outcome.as_str().to_string(),
                        year: i64::from(record.year),
                        body: serde_json::to_string(&record).unwrap(),
                        published_at: now.naive_utc(),
                        updated_at: now.naive_utc(),
                    }
                })
                .collect();
            landx::db::write_tx(&mut conn, |c| {
                landx::db_run!(c: {
                    diesel::insert_into(open_deals::table).values(&rows).execute(c)?;
                });
                Ok(())
            })
            .unwrap();
        }
        conn.batch_execute(&format!(
            "INSERT INTO counters (scope, value) VALUES ('{FEED_COUNTER}', {n})"
        ))
        .unwrap();
        println!(
            "[{backend}] open_deals        {n:>7} rows in {:>6.1} s (built from the seed)",
            t.elapsed().as_secs_f64()
        );
        let sample: Vec<&str> = order
            .iter()
            .step_by((n / 300).max(1))
            .map(|i| seeds[*i].id.as_str())
            .collect();
        for id in &sample {
            landx::db::write_tx(&mut conn, |c| landx::app::open_data::touch(c, id, now)).unwrap();
        }
        let rewritten = count(
            &mut conn,
            &format!("SELECT COUNT(*) AS n FROM open_deals WHERE feed_seq > {n}"),
        );
        assert_eq!(
            rewritten, 0,
            "app::open_data::touch rewrote records built here: their bodies differ from the app's"
        );
        println!(
            "[{backend}] app::open_data::touch on {} sampled listings: every record already up to date",
            sample.len()
        );
    }
    assert_eq!(
        count(
            &mut conn,
            "SELECT COUNT(DISTINCT feed_seq) AS n FROM open_deals"
        ),
        n as i64
    );
    // Fresh statistics, as PostgreSQL's autovacuum and landx's startup and hourly
    // `PRAGMA optimize` on SQLite keep them.
    conn.batch_execute(if pg {
        "ANALYZE"
    } else {
        "PRAGMA optimize=0x10002"
    })
    .unwrap();
    conn.batch_execute(if pg {
        "SET synchronous_commit = on"
    } else {
        "PRAGMA synchronous = FULL"
    })
    .unwrap();
    drop(conn);
    println!(
        "[{backend}] seeded everything in {:.1} s",
        started.elapsed().as_secs_f64()
    );

    // ---- what is measured ----
    let ts0 = townships[0].id.clone();
    let mut sorted: Vec<&str> = seeds.iter().map(|sd| sd.id.as_str()).collect();
    sorted.sort_unstable();
    let middle = sorted[n / 2].to_string();
    let mut in_ts_year: Vec<&str> = seeds
        .iter()
        .filter(|sd| sd.township == 0 && sd.year == 2027)
        .map(|sd| sd.id.as_str())
        .collect();
    in_ts_year.sort_unstable();
    let middle_ts_year = in_ts_year[in_ts_year.len() / 2].to_string();
    let anon = |name: &'static str, path: String, rounds: usize| Case {
        name,
        path,
        token: None,
        rounds,
    };
    let cases = vec![
        anon(
            "deals, first page",
            "/api/v1/open-data/deals".into(),
            rounds,
        ),
        anon(
            "deals, township",
            format!("/api/v1/open-data/deals?township_id={ts0}"),
            rounds,
        ),
        anon(
            "deals, year",
            "/api/v1/open-data/deals?year=2027".into(),
            rounds,
        ),
        anon(
            "deals, township + year",
            format!("/api/v1/open-data/deals?township_id={ts0}&year=2027"),
            rounds,
        ),
        anon(
            "deals, outcome=failed",
            "/api/v1/open-data/deals?outcome=failed".into(),
            rounds,
        ),
        anon(
            "deals, page at n/2 (cursor)",
            format!("/api/v1/open-data/deals?cursor={middle}"),
            rounds,
        ),
        anon(
            "deals, twp+year, cursor",
            format!("/api/v1/open-data/deals?township_id={ts0}&year=2027&cursor={middle_ts_year}"),
            rounds,
        ),
        anon(
            "deals CSV, limit 10000",
            "/api/v1/open-data/deals.csv?limit=10000".into(),
            (rounds / 10).max(5),
        ),
        anon(
            "changes since=0 (200)",
            "/api/v1/open-data/changes?since=0&limit=200".into(),
            rounds,
        ),
        anon(
            "changes since=n/2 (200)",
            format!("/api/v1/open-data/changes?since={}&limit=200", n / 2),
            rounds,
        ),
        anon(
            "stats, district, 2026",
            "/api/v1/stats?year=2026".into(),
            rounds,
        ),
        anon(
            "stats, township, 2026",
            format!("/api/v1/stats?year=2026&township_id={ts0}"),
            rounds,
        ),
        Case {
            name: "stats, twp 2026 +villages",
            path: format!("/api/v1/stats?year=2026&township_id={ts0}"),
            token: Some(admin.clone()),
            rounds,
        },
    ];
    let base = app.base.clone();
    // Warm-up: every case once (caches, prepared statements, the pool's connections).
    for c in &cases {
        let (status, text, _, _) = fetch(&base, &c.path, c.token.as_deref());
        assert_eq!(status, 200, "{}: {text}", c.path);
    }
    println!(
        "[{backend}] {:<28} {:>7} {:>9} {:>9} {:>9} {:>10}",
        "request", "rounds", "p50 ms", "p99 ms", "items", "bytes"
    );
    let mut stats_body = serde_json::Value::Null;
    for c in &cases {
        let mut times = Vec::with_capacity(c.rounds);
        let mut last = (String::new(), None);
        for _ in 0..c.rounds {
            let (status, text, cursor, el) = fetch(&base, &c.path, c.token.as_deref());
            assert_eq!(status, 200, "{}: {text}", c.path);
            times.push(el);
            last = (text, cursor);
        }
        times.sort();
        let (text, cursor) = last;
        let items = if c.path.contains(".csv") {
            // Header line and a BOM; every record one line (no newline inside a cell here).
            assert_eq!(
                cursor.is_some(),
                n > 10_000,
                "a next cursor after 10 000 records"
            );
            text.lines().count() - 1
        } else {
            let body: serde_json::Value = serde_json::from_str(&text).unwrap();
            if c.path.starts_with("/api/v1/stats") {
                if c.token.is_some() {
                    assert_eq!(body["villages"].as_array().map(Vec::len), Some(6));
                } else {
                    assert!(body["villages"].is_null());
                }
                stats_body = body;
                0
            } else {
                body["items"].as_array().unwrap().len()
            }
        };
        if !c.path.starts_with("/api/v1/stats") {
            // Every stored body was read back as an `OpenDeal` (an unreadable one is skipped).
            let want = if c.path.contains(".csv") {
                n.min(10_000)
            } else if c.path.contains("changes") {
                200
            } else {
                50
            };
            assert_eq!(items, want, "{}", c.path);
        }
        println!(
            "[{backend}] {:<28} {:>7} {:>9.2} {:>9.2} {:>9} {:>10}",
            c.name,
            c.rounds,
            percentile(&times, 0.5).as_secs_f64() * 1000.0,
            percentile(&times, 0.99).as_secs_f64() * 1000.0,
            items,
            text.len()
        );
    }
    println!(
        "[{backend}] stats of one township, 2026: listings {} transfers {} auctions {} deals {} \
         forfeited {} insurance {} installments {} claims {} recoveries {}",
        stats_body["listings"],
        stats_body["transfers"],
        stats_body["auctions"],
        stats_body["price_over_reserve"],
        stats_body["deposits_forfeited"],
        stats_body["insurance"],
        stats_body["installments"],
        stats_body["claims"],
        stats_body["recoveries"],
    );

    explain_main_queries(&app, backend, &ts0, n);
    if std::env::var("BENCH_KEEP").is_ok_and(|v| v == "1") {
        // For a look with psql or sqlite3 afterwards; drop or delete it by hand.
        println!("[{backend}] database kept: {}", app.settings.database.url);
        std::mem::forget(app);
    }
}

// ---- plans -----------------------------------------------------------------------------------

#[derive(QueryableByName)]
struct PgPlanLine {
    #[diesel(sql_type = Text)]
    #[diesel(column_name = "QUERY PLAN")]
    line: String,
}

#[derive(QueryableByName)]
struct SqlitePlanLine {
    #[diesel(sql_type = BigInt)]
    id: i64,
    #[diesel(sql_type = BigInt)]
    parent: i64,
    #[diesel(sql_type = Text)]
    detail: String,
}

/// Runs the application's query functions (open data: 2027; statistics: township `ts`, 2026)
/// on a connection whose instrumentation records every statement with its binds, then prints
/// each statement's plan.
fn explain_main_queries(app: &common::TestApp, backend: &str, ts: &str, n: usize) {
    use landx::db::open_data::{self as oq, OpenFilter};
    use landx::db::stats as sq;

    let captured: Arc<Mutex<Vec<String>>> = Arc::default();
    let mut conn = landx::db::Manager::new(&app.settings.database)
        .unwrap()
        .connect()
        .unwrap();
    let sink = captured.clone();
    let record = move |event: InstrumentationEvent<'_>| {
        if let InstrumentationEvent::StartQuery { query, .. } = event {
            sink.lock().unwrap().push(query.to_string());
        }
    };
    match &mut conn {
        DbConn::Pg(c) => c.set_instrumentation(record),
        DbConn::Sqlite(c) => c.set_instrumentation(record),
    }
    let ((from, to), (first_day, next_year)) = landx::domain::open_data::shanghai_year_bounds(2026)
        .zip(landx::domain::open_data::year_dates(2026))
        .unwrap();
    let w = sq::Window {
        from: from.naive_utc(),
        to: to.naive_utc(),
        first_day,
        next_year,
        township_id: Some(ts.to_string()),
    };
    let c = &mut conn;
    // The open-data list in the newest year (the one asked for most, and the last in
    // listing order); the statistics of the last whole year.
    let twp_year = OpenFilter {
        township_id: Some(ts.to_string()),
        year: Some(2027),
        ..OpenFilter::default()
    };
    let year = OpenFilter {
        year: Some(2027),
        ..OpenFilter::default()
    };
    let failed = OpenFilter {
        outcomes: vec!["failed".into()],
        ..OpenFilter::default()
    };
    // Each function: its one statement, and its median time over 5 runs (after a first one).
    let mut run =
        |name: &'static str, f: &mut dyn FnMut(&mut DbConn)| -> (&'static str, String, Duration) {
            captured.lock().unwrap().clear();
            f(&mut *c);
            let q = captured.lock().unwrap()[..].to_vec();
            assert_eq!(q.len(), 1, "{name}: one statement, got {q:?}");
            let mut times: Vec<Duration> = (0..5)
                .map(|_| {
                    let t = Instant::now();
                    f(&mut *c);
                    t.elapsed()
                })
                .collect();
            times.sort();
            (name, q[0].clone(), times[2])
        };
    let twp = OpenFilter {
        township_id: Some(ts.to_string()),
        ..OpenFilter::default()
    };
    let statements = vec![
        run("open data: township", &mut |c| {
            oq::list(c, &twp, None, 50).unwrap();
        }),
        run("open data: year", &mut |c| {
            oq::list(c, &year, None, 50).unwrap();
        }),
        run("open data: township + year", &mut |c| {
            oq::list(c, &twp_year, None, 50).unwrap();
        }),
        run("open data: outcome=failed", &mut |c| {
            oq::list(c, &failed, None, 50).unwrap();
        }),
        run("change feed: since n/2", &mut |c| {
            oq::changes(c, (n / 2) as i64, 200).unwrap();
        }),
        run("stats: listings_by_status", &mut |c| {
            sq::listings_by_status(c, &w).unwrap();
        }),
        run("stats: auctions", &mut |c| {
            sq::auctions(c, &w).unwrap();
        }),
        run("stats: certified", &mut |c| {
            sq::certified(c, &w).unwrap();
        }),
        run("stats: rent_by_group", &mut |c| {
            sq::rent_by_group(c, &w).unwrap();
        }),
        run("stats: rent_medians", &mut |c| {
            sq::rent_medians(c, &w).unwrap();
        }),
        run("stats: over_reserve", &mut |c| {
            sq::over_reserve(c, &w).unwrap();
        }),
        run("stats: over_reserve_median", &mut |c| {
            sq::over_reserve_median(c, &w).unwrap();
        }),
        run("stats: forfeited", &mut |c| {
            sq::forfeited(c, &w).unwrap();
        }),
        run("stats: premiums", &mut |c| {
            sq::premiums(c, &w).unwrap();
        }),
        run("stats: installments", &mut |c| {
            sq::installments(c, &w).unwrap();
        }),
        run("stats: claims", &mut |c| {
            sq::claims(c, &w).unwrap();
        }),
        run("stats: recoveries", &mut |c| {
            sq::recoveries(c, &w).unwrap();
        }),
        run("stats: by_village", &mut |c| {
            sq::by_village(c, &w, ts).unwrap();
        }),
    ];
    // The same statistics district-wide (no township): time only.
    let district = sq::Window {
        township_id: None,
        ..w.clone()
    };
    let mut timed: Vec<(&str, Duration)> = Vec::new();
    {
        let mut time = |name: &'static str, f: &mut dyn FnMut(&mut DbConn)| {
            f(&mut conn);
            let mut times: Vec<Duration> = (0..5)
                .map(|_| {
                    let t = Instant::now();
                    f(&mut conn);
                    t.elapsed()
                })
                .collect();
            times.sort();
            timed.push((name, times[2]));
        };
        let d = &district;
        time("listings_by_status", &mut |c| {
            sq::listings_by_status(c, d).unwrap();
        });
        time("auctions", &mut |c| {
            sq::auctions(c, d).unwrap();
        });
        time("certified", &mut |c| {
            sq::certified(c, d).unwrap();
        });
        time("rent_by_group", &mut |c| {
            sq::rent_by_group(c, d).unwrap();
        });
        time("rent_medians", &mut |c| {
            sq::rent_medians(c, d).unwrap();
        });
        time("over_reserve", &mut |c| {
            sq::over_reserve(c, d).unwrap();
        });
        time("over_reserve_median", &mut |c| {
            sq::over_reserve_median(c, d).unwrap();
        });
        time("forfeited", &mut |c| {
            sq::forfeited(c, d).unwrap();
        });
        time("premiums", &mut |c| {
            sq::premiums(c, d).unwrap();
        });
        time("installments", &mut |c| {
            sq::installments(c, d).unwrap();
        });
        time("claims", &mut |c| {
            sq::claims(c, d).unwrap();
        });
        time("recoveries", &mut |c| {
            sq::recoveries(c, d).unwrap();
        });
    }
    println!(
        "\n[{backend}] statistics district-wide, 2026 (median of 5 runs in-process, ms): {}",
        timed
            .iter()
            .map(|(n, t)| format!("{n} {:.2}", t.as_secs_f64() * 1000.0))
            .collect::<Vec<_>>()
            .join(", ")
    );
    let mut pooled = app.pool().get().unwrap();
    for (name, text, took) in statements {
        let (sql, binds) = text
            .rsplit_once(" -- binds: ")
            .unwrap_or_else(|| panic!("no binds in {text}"));
        let binds = split_list(binds);
        println!(
            "\n[{backend}] ==== {name} ({:.2} ms, median of 5 runs in-process)",
            took.as_secs_f64() * 1000.0
        );
        println!("[{backend}] SQL: {}", one_line(sql));
        println!("[{backend}] binds: {}", binds.join(", "));
        let mut alt_note = None;
        let plan: Vec<String> = match &mut *pooled {
            DbConn::Pg(c) => {
                let mut inlined = sql.to_string();
                for (k, b) in binds.iter().enumerate().rev() {
                    inlined = inlined.replace(&format!("${}", k + 1), &pg_literal(b));
                }
                let explain = |c: &mut PgConnection, seqscan: bool| -> Vec<String> {
                    c.transaction(|c| {
                        if !seqscan {
                            diesel::sql_query("SET LOCAL enable_seqscan = off").execute(c)?;
                        }
                        diesel::sql_query(format!("EXPLAIN (ANALYZE, BUFFERS) {inlined}"))
                            .load::<PgPlanLine>(c)
                    })
                    .unwrap_or_else(|e| panic!("{name}: {e}\n{inlined}"))
                    .into_iter()
                    .map(|l| l.line)
                    .collect()
                };
                let plan = explain(c, true);
                let v = verdict(&plan, sql);
                if !v.ends_with("full scans: none") {
                    // What the planner turned down: the same query with sequential scans
                    // priced out.
                    let alt = explain(c, false);
                    alt_note = Some(format!(
                        "with enable_seqscan = off: {}; execution {} ms (the planner's choice: {} ms)",
                        verdict(&alt, sql),
                        execution_ms(&alt),
                        execution_ms(&plan)
                    ));
                }
                plan
            }
            DbConn::Sqlite(c) => {
                let mut inlined = String::with_capacity(sql.len());
                let mut it = binds.iter();
                for ch in sql.chars() {
                    if ch == '?' {
                        inlined.push_str(&sqlite_literal(it.next().expect("a bind per ?")));
                    } else {
                        inlined.push(ch);
                    }
                }
                let rows = diesel::sql_query(format!("EXPLAIN QUERY PLAN {inlined}"))
                    .load::<SqlitePlanLine>(c)
                    .unwrap_or_else(|e| panic!("{name}: {e}\n{inlined}"));
                let mut depth = std::collections::HashMap::new();
                rows.into_iter()
                    .map(|r| {
                        let d = depth.get(&r.parent).map_or(0, |d| d + 1);
                        depth.insert(r.id, d);
                        format!("{}{}", "  ".repeat(d), r.detail)
                    })
                    .collect()
            }
        };
        for l in &plan {
            println!("[{backend}]   {l}");
        }
        println!("[{backend}] -> {}", verdict(&plan, sql));
        if let Some(note) = alt_note {
            println!("[{backend}] -> {note}");
        }
    }
}

/// The tables (and their aliases) a statement reads: the word after each FROM or JOIN that
/// doesn't open a subquery, and the alias after it.
fn tables_of(sql: &str) -> Vec<String> {
    let words: Vec<String> = sql
        .split_whitespace()
        .map(|w| {
            w.trim_matches(|c| c == '`' || c == '"' || c == '(' || c == ')')
                .to_string()
        })
        .collect();
    let raw: Vec<&str> = sql.split_whitespace().collect();
    let mut names = Vec::new();
    for (k, w) in raw.iter().enumerate() {
        if (w.eq_ignore_ascii_case("FROM") || w.eq_ignore_ascii_case("JOIN"))
            && raw.get(k + 1).is_some_and(|t| !t.starts_with('('))
        {
            names.push(words[k + 1].clone());
            if let Some(alias) = words.get(k + 2) {
                names.push(alias.clone());
            }
        }
    }
    names
}

/// The indexes a plan uses and the tables it reads in full (SQLite's `SCAN` of a subquery
/// is not one).
fn verdict(plan: &[String], sql: &str) -> String {
    let tables = tables_of(sql);
    let word = |rest: &str| -> String {
        rest.chars()
            .take_while(|c| c.is_alphanumeric() || *c == '_')
            .collect()
    };
    let mut indexes: Vec<String> = Vec::new();
    let mut scans: Vec<String> = Vec::new();
    for l in plan {
        let l = l.trim().trim_start_matches("->").trim();
        for key in [
            "Index Scan using ",
            "Index Only Scan using ",
            "Bitmap Index Scan on ",
            "USING INDEX ",
            "USING COVERING INDEX ",
            "USING PRIMARY KEY",
        ] {
            if let Some(pos) = l.find(key) {
                let w = if key == "USING PRIMARY KEY" {
                    "PRIMARY KEY".to_string()
                } else {
                    word(&l[pos + key.len()..])
                };
                if !w.is_empty() && !indexes.contains(&w) {
                    indexes.push(w);
                }
            }
        }
        // PostgreSQL: `Seq Scan on t` or `Parallel Seq Scan on t`; SQLite: `SCAN t`.
        let scanned = match l.find("Seq Scan on ") {
            Some(pos) => Some(word(&l[pos + "Seq Scan on ".len()..])),
            None => l
                .strip_prefix("SCAN ")
                .filter(|rest| !rest.contains("USING"))
                .map(word)
                .filter(|w| tables.contains(w)),
        };
        if let Some(w) = scanned.filter(|w| !w.is_empty() && !scans.contains(w)) {
            scans.push(w);
        }
    }
    let list = |v: &[String]| {
        if v.is_empty() {
            "none".to_string()
        } else {
            v.join(", ")
        }
    };
    format!("indexes: {}; full scans: {}", list(&indexes), list(&scans))
}

/// `Execution Time: 1.234 ms` of an `EXPLAIN ANALYZE`.
fn execution_ms(plan: &[String]) -> String {
    plan.iter()
        .find_map(|l| l.trim().strip_prefix("Execution Time: "))
        .map_or("?".into(), |t| t.trim_end_matches(" ms").to_string())
}

fn one_line(sql: &str) -> String {
    sql.split_whitespace().collect::<Vec<_>>().join(" ")
}

/// The items of diesel's debug list of binds: `["a", 2026-01-01T00:00:00, 51]`.
fn split_list(s: &str) -> Vec<String> {
    let s = s.trim();
    let inner = s
        .strip_prefix('[')
        .and_then(|s| s.strip_suffix(']'))
        .unwrap_or(s);
    let mut items = Vec::new();
    let mut cur = String::new();
    let (mut depth, mut quoted, mut escaped) = (0, false, false);
    for ch in inner.chars() {
        if quoted {
            cur.push(ch);
            if escaped {
                escaped = false;
            } else if ch == '\\' {
                escaped = true;
            } else if ch == '"' {
                quoted = false;
            }
            continue;
        }
        match ch {
            '"' => {
                quoted = true;
                cur.push(ch);
            }
            '[' => {
                depth += 1;
                cur.push(ch);
            }
            ']' => {
                depth -= 1;
                cur.push(ch);
            }
            ',' if depth == 0 => items.push(std::mem::take(&mut cur).trim().to_string()),
            _ => cur.push(ch),
        }
    }
    if !cur.trim().is_empty() {
        items.push(cur.trim().to_string());
    }
    items
}

fn unquote(b: &str) -> Option<String> {
    b.strip_prefix('"')
        .and_then(|s| s.strip_suffix('"'))
        .map(|s| s.replace("\\\"", "\"").replace("\\\\", "\\"))
}

fn quote(s: &str) -> String {
    format!("'{}'", s.replace('\'', "''"))
}

fn is_timestamp(b: &str) -> bool {
    b.len() >= 19 && b.as_bytes()[4] == b'-' && b.as_bytes()[10] == b'T'
}

fn is_date(b: &str) -> bool {
    b.len() == 10 && b.as_bytes()[4] == b'-' && b.as_bytes()[7] == b'-'
}

/// A bind as a typed PostgreSQL literal (what the parameter's type would be).
fn pg_literal(b: &str) -> String {
    if let Some(s) = unquote(b) {
        format!("{}::text", quote(&s))
    } else if b.starts_with('[') {
        let items: Vec<String> = split_list(b)
            .iter()
            .map(|i| quote(&unquote(i).unwrap_or_else(|| i.clone())))
            .collect();
        format!("ARRAY[{}]::text[]", items.join(", "))
    } else if is_timestamp(b) {
        format!("{}::timestamp", quote(b))
    } else if is_date(b) {
        format!("{}::date", quote(b))
    } else {
        format!("{b}::bigint")
    }
}

/// A bind as a SQLite literal, in the text form diesel stores dates and times in.
fn sqlite_literal(b: &str) -> String {
    if let Some(s) = unquote(b) {
        quote(&s)
    } else if is_timestamp(b) {
        quote(&b.replacen('T', " ", 1))
    } else if is_date(b) {
        quote(b)
    } else {
        b.to_string()
    }
}
