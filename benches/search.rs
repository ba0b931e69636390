//! Search benchmark: seeds BENCH_LISTINGS (default 100 000) listings and measures public
//! search latency (p50/p99) and throughput through HTTP. SQLite by default; PostgreSQL with
//! LANDX_TEST_DATABASE_URL=postgres://... (same as the tests).
//!
//!     cargo bench --bench search
//!     LANDX_TEST_DATABASE_URL=postgres://postgres@127.0.0.1:5432/postgres cargo bench --bench search

#[path = "../tests/common/mod.rs"]
mod common;

use std::time::{Duration, Instant};

use chrono::NaiveDate;
use diesel::prelude::*;
use landx::db::models::{Listing, Parcel};
use landx::db::schema::{listing_parcels, listings, parcels};
use serde_json::json;

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    sorted[((sorted.len() as f64 - 1.0) * p).round() as usize]
}

fn main() {
    let n: usize = std::env::var("BENCH_LISTINGS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(100_000);
    let app = common::TestApp::start_with(|s| s.database.pool_size = 16);
    let backend = if app.db.is_postgres() {
        "postgres"
    } else {
        "sqlite"
    };
    let admin = app.admin_token();
    let ts = app
        .post(
            "/api/v1/townships",
            Some(&admin),
            json!({"code": "CJ", "name": "漕泾镇"}),
        )
        .id();
    let villages: Vec<String> = ["护塘村", "金光村", "阮巷村", "海渔村", "东海村", "花果村"]
        .iter()
        .enumerate()
        .map(|(i, name)| {
            app.post(
                "/api/v1/villages",
                Some(&admin),
                json!({"township_id": ts, "code": format!("V{i}"), "name": name}),
            )
            .id()
        })
        .collect();
    let admin_id = app.get("/api/v1/me", Some(&admin)).id();
    let now = common::t0();
    let started = Instant::now();
    let statuses = [
        "announced",
        "announced",
        "auction",
        "awarded",
        "contracted",
        "failed",
        "draft",
        "submitted",
    ];
    let types = ["arable", "garden", "forest", "aquaculture", "facility"];
    let uses = [
        "grain",
        "vegetables",
        "fruit",
        "aquaculture",
        "mixed_farming",
    ];
    let words = ["水稻", "蔬菜", "葡萄", "水产", "设施农业", "粮食", "果园"];
    let mut conn = app.pool().get().unwrap();
    let batch = 400;
    for start in (0..n).step_by(batch) {
        let end = (start + batch).min(n);
        let mut ps = Vec::with_capacity(end - start);
        let mut ls = Vec::with_capacity(end - start);
        let mut links = Vec::with_capacity(end - start);
        for i in start..end {
            let v = &villages[i % villages.len()];
            let pid = uuid::Uuid::now_v7().to_string();
            let lid = uuid::Uuid::now_v7().to_string();
            let area = 500 + (i as i64 * 7919) % 50_000;
            let price = 80_000 + (i as i64 * 104_729) % 100_000 / 1000 * 1000;
            let status = statuses[i % statuses.len()];
            ps.push(Parcel {
                id: pid.clone(),
                code: format!("JS-CJ-{i:07}"),
                village_id: v.clone(),
                township_id: ts.clone(),
                area_centimu: area,
                land_type: landx::domain::parcel::LandType::parse(types[i % types.len()]).unwrap(),
                permanent_basic_farmland: i % 3 == 0,
                quality_grade: Some((i % 10) as i64 + 1),
                households: 5 + (i % 20) as i64,
                household_contract_end: NaiveDate::from_ymd_opt(2057, 12, 31).unwrap(),
                location: format!("漕泾镇第{}组", i % 30),
                boundary_geojson: None,
                created_at: now.naive_utc(),
                updated_at: now.naive_utc(),
            });
            let closes =
                now + chrono::Duration::days(20) + chrono::Duration::minutes((i % 10_000) as i64);
            ls.push(Listing {
                id: lid.clone(),
                listing_no: Some(format!("CJ-2027-{i:06}")),
                village_id: v.clone(),
                township_id: ts.clone(),
                created_by: admin_id.clone(),
                status: landx::domain::listing::ListingStatus::parse(status).unwrap(),
                title: format!(
                    "{}2027年第{}批{}土地经营权流转",
                    ["护塘村", "金光村", "阮巷村"][i % 3],
                    i,
                    words[i % words.len()]
                ),
                description: "基准测试数据".into(),
                intended_use: landx::domain::listing::IntendedUse::parse(uses[i % uses.len()])
                    .unwrap(),
                land_types: format!(",{},", types[i % types.len()]),
                term_start: NaiveDate::from_ymd_opt(2027, 3, 1).unwrap(),
                term_end: NaiveDate::from_ymd_opt(2036, 12, 31).unwrap(),
                reserve_price_fen: price,
                min_increment_fen: 1000,
                deposit_fen: 100_000,
                total_area_centimu: area,
                annual_reserve_rent_fen: landx::domain::money::annual_rent_fen(price, area)
                    .unwrap(),
                registration_closes_at: closes.naive_utc(),
                auction_starts_at: closes.naive_utc(),
                auction_ends_at: (closes + chrono::Duration::hours(1)).naive_utc(),
                extension_secs: 300,
                consent_resolution_date: NaiveDate::from_ymd_opt(2027, 1, 1).unwrap(),
                consent_members_agreeing: 20,
                consent_members_total: 30,
                consent_commissions_received: 10,
                attempt: 1,
                previous_listing_id: None,
                relisted_as_id: None,
                return_reason: None,
                cancel_reason: None,
                submitted_at: Some(now.naive_utc()),
                announced_at: Some(now.naive_utc()),
                closed_at: None,
                eligible_bidders: None,
                current_price_fen: None,
                current_ends_at: if status == "auction" {
                    Some((closes + chrono::Duration::hours(1)).naive_utc())
                } else {
                    None
                },
                leading_registration_id: None,
                bid_count: 0,
                created_at: now.naive_utc(),
                updated_at: now.naive_utc(),
            });
            links.push((
                listing_parcels::listing_id.eq(lid),
                listing_parcels::parcel_id.eq(pid),
            ));
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
    {
        // Fresh statistics, as PostgreSQL's autovacuum and landx's startup and hourly
        // `PRAGMA optimize` on SQLite keep them.
        use diesel::connection::SimpleConnection;
        conn.batch_execute(if app.db.is_postgres() {
            "ANALYZE"
        } else {
            "PRAGMA optimize=0x10002"
        })
        .unwrap();
    }
    drop(conn);
    println!(
        "[{backend}] seeded {n} listings in {:.1} s",
        started.elapsed().as_secs_f64()
    );

    let queries = [
        ("newest first", "/api/v1/listings?limit=20".to_string()),
        (
            "township + status",
            format!("/api/v1/listings?township_id={ts}&status=announced&limit=20"),
        ),
        (
            "land_type",
            "/api/v1/listings?land_type=garden&limit=20".to_string(),
        ),
        (
            "area range, by price",
            "/api/v1/listings?min_area_mu=100&max_area_mu=200&sort=reserve_price_fen&limit=20"
                .to_string(),
        ),
        (
            "max price, by closing",
            "/api/v1/listings?max_reserve_price_fen=100000&sort=registration_closes_at&limit=20"
                .to_string(),
        ),
        (
            "text q=葡萄",
            "/api/v1/listings?q=%E8%91%A1%E8%90%84&limit=20".to_string(),
        ),
        (
            "village + use, by area desc",
            format!(
                "/api/v1/listings?village_id={}&intended_use=fruit&sort=-total_area_mu&limit=20",
                villages[2]
            ),
        ),
    ];
    let rounds: usize = std::env::var("BENCH_ROUNDS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(200);
    println!(
        "[{backend}] {:<28} {:>9} {:>9} {:>7}",
        "query (limit 20)", "p50 ms", "p99 ms", "items"
    );
    for (name, q) in &queries {
        let mut times = Vec::with_capacity(rounds);
        let mut items = 0;
        for _ in 0..rounds {
            let t = Instant::now();
            let r = app.get(q, None);
            times.push(t.elapsed());
            assert_eq!(r.status, 200, "{}", r.text);
            items = r.body["items"].as_array().unwrap().len();
        }
        times.sort();
        println!(
            "[{backend}] {:<28} {:>9.2} {:>9.2} {:>7}",
            name,
            percentile(&times, 0.5).as_secs_f64() * 1000.0,
            percentile(&times, 0.99).as_secs_f64() * 1000.0,
            items
        );
    }
    // Throughput: 8 client threads for a fixed number of requests each, mixed queries.
    let per_thread = rounds;
    let t = Instant::now();
    std::thread::scope(|s| {
        for k in 0..8 {
            let app = &app;
            let queries = &queries;
            s.spawn(move || {
                for i in 0..per_thread {
                    let r = app.get(&queries[(i + k) % queries.len()].1, None);
                    assert_eq!(r.status, 200);
                }
            });
        }
    });
    let total = 8 * per_thread;
    println!(
        "[{backend}] throughput: {:.0} searches/s ({} requests, 8 clients)",
        total as f64 / t.elapsed().as_secs_f64(),
        total
    );
}
