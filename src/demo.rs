//! `landx demo seed`: the Caojing (漕泾) pilot as a new user would want to explore it — the
//! township and its villages, parcels, listings in each state, and one demo account per role.
//! Demo passwords are printed and documented; never run it in production.

use chrono::{DateTime, Duration, NaiveDate, Utc};
use diesel::prelude::*;

use crate::audit::{self, Entry};
use crate::auth::password::hash_password;
use crate::crypto::DataKey;
use crate::db::listings as lq;
use crate::db::models::{Insurer, Listing, Parcel, Registration, Township, User, Village};
use crate::db::{queries, registrations as rq, write_tx, DbConn};
use crate::domain::listing::{IntendedUse, ListingStatus};
use crate::domain::money::annual_rent_fen;
use crate::domain::numbering::{listing_counter, listing_no, shanghai_year};
use crate::domain::parcel::LandType;
use crate::domain::registration::{mask_id, DepositStatus, IdType, RegistrationStatus};
use crate::domain::roles::Role;
use crate::error::ApiError;

pub const DEMO_PASSWORD: &str = "landx-demo-2027";

/// Demo accounts: (e-mail, role, display name).
pub const ACCOUNTS: [(&str, &str, &str); 6] = [
    ("admin@demo.landx.cn", "admin", "平台管理员（演示）"),
    (
        "staff.cj@demo.landx.cn",
        "staff",
        "漕泾镇农村产权交易服务中心",
    ),
    ("hutang@demo.landx.cn", "collective", "护塘村股份经济合作社"),
    ("farm@demo.landx.cn", "investor", "金山绿野家庭农场"),
    (
        "coop@demo.landx.cn",
        "investor",
        "上海漕泾丰收农业专业合作社",
    ),
    ("axny@demo.landx.cn", "insurer", "安信农业保险漕泾营业部"),
];

fn id() -> String {
    uuid::Uuid::now_v7().to_string()
}

/// True when the database holds anything beyond admin accounts.
pub fn has_data(conn: &mut DbConn) -> Result<bool, ApiError> {
    use crate::db::schema::{townships, users};
    let t: i64 = townships::table.count().get_result(conn)?;
    let u: i64 = users::table
        .filter(users::role.ne("admin"))
        .count()
        .get_result(conn)?;
    Ok(t + u > 0)
}

#[allow(clippy::too_many_arguments)]
fn listing(
    l_id: &str,
    village: &Village,
    created_by: &str,
    status: &str,
    title: &str,
    use_: &str,
    parcels: &[&Parcel],
    reserve: i64,
    closes: DateTime<Utc>,
    auction_secs: i64,
    now: DateTime<Utc>,
) -> Listing {
    let area: i64 = parcels.iter().map(|p| p.area_centimu).sum();
    let mut types: Vec<&str> = parcels.iter().map(|p| p.land_type.as_str()).collect();
    types.sort();
    types.dedup();
    let ends = closes + Duration::seconds(auction_secs);
    let term_start = (ends + Duration::days(30)).date_naive();
    Listing {
        id: l_id.into(),
        listing_no: None,
        village_id: village.id.clone(),
        township_id: village.township_id.clone(),
        created_by: created_by.into(),
        status: ListingStatus::parse(status).expect("a listing status"),
        title: title.into(),
        description: "经村民代表会议表决通过，委托镇农村产权交易服务中心公开挂牌流转土地经营权。"
            .into(),
        intended_use: IntendedUse::parse(use_).expect("an intended use"),
        land_types: format!(",{},", types.join(",")),
        term_start,
        term_end: NaiveDate::from_ymd_opt(2037, 12, 31).expect("valid date"),
        reserve_price_fen: reserve,
        min_increment_fen: 2_000,
        deposit_fen: 200_000,
        total_area_centimu: area,
        annual_reserve_rent_fen: annual_rent_fen(reserve, area).unwrap_or(0),
        registration_closes_at: closes.naive_utc(),
        auction_starts_at: closes.naive_utc(),
        auction_ends_at: ends.naive_utc(),
        extension_secs: 300,
        consent_resolution_date: (now - Duration::days(20)).date_naive(),
        consent_members_agreeing: 27,
        consent_members_total: 35,
        consent_commissions_received: parcels.iter().map(|p| p.households).sum(),
        attempt: 1,
        previous_listing_id: None,
        relisted_as_id: None,
        return_reason: None,
        cancel_reason: None,
        submitted_at: None,
        announced_at: None,
        closed_at: None,
        eligible_bidders: None,
        current_price_fen: None,
        current_ends_at: None,
        leading_registration_id: None,
        bid_count: 0,
        created_at: now.naive_utc(),
        updated_at: now.naive_utc(),
    }
}

/// Seeds the demo data set in one transaction. Returns the accounts created.
pub fn seed(
    conn: &mut DbConn,
    data_key: &DataKey,
    now: DateTime<Utc>,
) -> Result<Vec<(String, String)>, ApiError> {
    if has_data(conn)? {
        return Err(ApiError::InvalidState(
            "the database already holds data; demo seed runs only on an empty one".into(),
        ));
    }
    let phc = hash_password(DEMO_PASSWORD);
    write_tx(conn, |conn| {
        let ts = Township {
            id: id(),
            code: "CJ".into(),
            name: "漕泾镇".into(),
            insurance_required: true,
            created_at: now.naive_utc(),
        };
        queries::insert_township(conn, &ts)?;
        let sy = Township {
            id: id(),
            code: "SY".into(),
            name: "山阳镇".into(),
            insurance_required: true,
            created_at: now.naive_utc(),
        };
        queries::insert_township(conn, &sy)?;
        let names = [
            ("HT", "护塘村"),
            ("JG", "金光村"),
            ("RX", "阮巷村"),
            ("HY", "海渔村"),
            ("HG", "花果村"),
            ("SK", "水库村"),
        ];
        let mut villages = Vec::new();
        for (code, name) in names {
            let v = Village {
                id: id(),
                township_id: ts.id.clone(),
                code: code.into(),
                name: name.into(),
                created_at: now.naive_utc(),
            };
            queries::insert_village(conn, &v)?;
            villages.push(v);
        }
        let insurer = Insurer {
            id: id(),
            code: "AXNY".into(),
            name: "安信农业保险股份有限公司".into(),
            created_at: now.naive_utc(),
        };
        queries::insert_insurer(conn, &insurer)?;
        let mut users = Vec::new();
        for (email, role, name) in ACCOUNTS {
            let role = Role::parse(role).expect("a role");
            let u = User::new(
                queries::NewUser {
                    email: email.into(),
                    password_hash: Some(phc.clone()),
                    display_name: name.into(),
                    phone: Some("13800138000".into()),
                    role,
                    village_id: (role == Role::Collective).then(|| villages[0].id.clone()),
                    township_id: (role == Role::Staff).then(|| ts.id.clone()),
                    insurer_id: (role == Role::Insurer).then(|| insurer.id.clone()),
                    email_verified: true,
                },
                now,
            );
            queries::insert_user(conn, &u)?;
            audit::append(
                conn,
                &Entry {
                    stream: audit::SYSTEM_STREAM,
                    action: "user.created",
                    entity_type: "user",
                    entity_id: &u.id,
                    to_state: Some("active"),
                    reason: Some("demo seed"),
                    ..Default::default()
                },
                now,
            )?;
            users.push(u);
        }
        let collective = &users[2];
        let (farm, coop) = (&users[3], &users[4]);
        // Parcels of 护塘村 (JS-CJ-<village>-<plot>).
        let plots: [(&str, i64, &str, bool, i64); 8] = [
            ("JS-CJ-HT-001", 15_831, "arable", true, 12),
            ("JS-CJ-HT-002", 8_650, "arable", true, 7),
            ("JS-CJ-HT-003", 12_020, "garden", false, 9),
            ("JS-CJ-HT-004", 6_400, "aquaculture", false, 4),
            ("JS-CJ-HT-005", 21_075, "arable", true, 16),
            ("JS-CJ-HT-006", 4_310, "facility", false, 3),
            ("JS-CJ-HT-007", 9_990, "arable", false, 8),
            ("JS-CJ-HT-008", 7_725, "garden", false, 6),
        ];
        let mut parcels = Vec::new();
        for (i, (code, area, land_type, basic, households)) in plots.into_iter().enumerate() {
            let p = Parcel {
                id: id(),
                code: code.into(),
                village_id: villages[0].id.clone(),
                township_id: ts.id.clone(),
                area_centimu: area,
                land_type: LandType::parse(land_type).expect("a land type"),
                permanent_basic_farmland: basic,
                quality_grade: Some((i % 5) as i64 + 2),
                households,
                household_contract_end: NaiveDate::from_ymd_opt(2057, 12, 31).expect("valid date"),
                location: format!("漕泾镇护塘村{}组", i + 1),
                boundary_geojson: None,
                created_at: now.naive_utc(),
                updated_at: now.naive_utc(),
            };
            lq::insert_parcel(conn, &p)?;
            parcels.push(p);
        }
        let v = &villages[0];
        let put = |conn: &mut DbConn,
                   mut l: Listing,
                   ps: &[&Parcel],
                   numbered: bool|
         -> Result<Listing, ApiError> {
            if numbered {
                let year = shanghai_year(now);
                let n = lq::next_counter(conn, &listing_counter(&ts.id, year))?;
                l.listing_no = Some(listing_no(&ts.code, year, n));
                l.submitted_at = Some((now - Duration::days(3)).naive_utc());
            }
            let ids: Vec<String> = ps.iter().map(|p| p.id.clone()).collect();
            lq::insert_listing(conn, &l, &ids)?;
            audit::append(
                conn,
                &Entry {
                    stream: &crate::audit::listing_stream(&l.id),
                    actor_id: Some(&collective.id),
                    actor_role: Some("collective"),
                    action: "listing.created",
                    entity_type: "listing",
                    entity_id: &l.id,
                    to_state: Some(l.status.as_str()),
                    reason: Some("demo seed"),
                    ..Default::default()
                },
                now,
            )?;
            Ok(l)
        };
        let future = now + Duration::days(15);
        // draft
        put(
            conn,
            listing(
                &id(),
                v,
                &collective.id,
                "draft",
                "护塘村2027年第三批土地经营权流转（草稿）",
                "vegetables",
                &[&parcels[6]],
                110_000,
                future,
                3600,
                now,
            ),
            &[&parcels[6]],
            false,
        )?;
        // submitted
        put(
            conn,
            listing(
                &id(),
                v,
                &collective.id,
                "submitted",
                "护塘村设施农用地经营权流转",
                "vegetables",
                &[&parcels[5]],
                150_000,
                future,
                3600,
                now,
            ),
            &[&parcels[5]],
            true,
        )?;
        // returned
        let mut l = listing(
            &id(),
            v,
            &collective.id,
            "returned",
            "护塘村果园经营权流转",
            "fruit",
            &[&parcels[7]],
            100_000,
            future,
            3600,
            now,
        );
        l.return_reason = Some("请补充村民代表会议决议扫描件。".into());
        put(conn, l, &[&parcels[7]], true)?;
        // announced, open for registration
        let mut l = listing(
            &id(),
            v,
            &collective.id,
            "announced",
            "护塘村2027年第一批土地经营权流转（水稻种植）",
            "grain",
            &[&parcels[0], &parcels[1]],
            120_000,
            future,
            7200,
            now,
        );
        l.announced_at = Some((now - Duration::days(1)).naive_utc());
        put(conn, l, &[&parcels[0], &parcels[1]], true)?;
        // cancelled
        let mut l = listing(
            &id(),
            v,
            &collective.id,
            "cancelled",
            "护塘村花卉苗木用地流转（已撤销）",
            "fruit",
            &[&parcels[2]],
            95_000,
            future,
            3600,
            now,
        );
        l.cancel_reason = Some("村集体申请撤回。".into());
        put(conn, l, &[&parcels[2]], true)?;
        // registration closed just now with two eligible bidders: becomes an auction on first read
        let closed = now - Duration::minutes(1);
        let mut l = listing(
            &id(),
            v,
            &collective.id,
            "announced",
            "护塘村2027年第二批土地经营权流转（网络竞价中）",
            "grain",
            &[&parcels[4]],
            130_000,
            closed,
            2 * 3600,
            now,
        );
        l.announced_at = Some((now - Duration::days(12)).naive_utc());
        l.consent_resolution_date = (now - Duration::days(30)).date_naive();
        let auction = put(conn, l, &[&parcels[4]], true)?;
        for (u, name, idno, member) in [
            (farm, "李建国", "11010519491231002X", true),
            (
                coop,
                "上海漕泾丰收农业专业合作社",
                "91350100M000100Y43",
                false,
            ),
        ] {
            let r = Registration {
                id: id(),
                listing_id: auction.id.clone(),
                investor_id: u.id.clone(),
                legal_name: name.into(),
                id_type: if idno.len() == 18 && idno.chars().next().is_some_and(|c| c == '9') {
                    IdType::UnifiedSocialCreditCode
                } else {
                    IdType::ResidentId
                },
                id_number_enc: data_key.encrypt(idno),
                id_number_hash: Some(data_key.id_hash(idno)),
                id_number_masked: mask_id(idno),
                phone: data_key.encrypt("13800138000"),
                experience: "十年以上水稻种植经验".into(),
                business_plan: "种植优质稻米，发展绿色生态农业".into(),
                claims_membership: member,
                member_verified: member,
                status: RegistrationStatus::Qualified,
                reject_reason: None,
                reviewed_at: Some((now - Duration::days(2)).naive_utc()),
                deposit_status: DepositStatus::Confirmed,
                deposit_amount_fen: Some(200_000),
                deposit_receipt_ref: Some(format!("ICBC-JS-{}", &u.id[..8])),
                deposit_confirmed_at: Some((now - Duration::days(2)).naive_utc()),
                refund_receipt_ref: None,
                refunded_at: None,
                created_at: (now - Duration::days(5)).naive_utc(),
                updated_at: now.naive_utc(),
            };
            rq::insert(conn, &r)?;
        }
        // failed: registration closed without eligible bidders (relist it to explore)
        let mut l = listing(
            &id(),
            v,
            &collective.id,
            "failed",
            "护塘村养殖水面经营权流转（流拍）",
            "aquaculture",
            &[&parcels[3]],
            90_000,
            now - Duration::days(2),
            3600,
            now,
        );
        l.announced_at = Some((now - Duration::days(14)).naive_utc());
        l.closed_at = Some((now - Duration::days(2)).naive_utc());
        l.eligible_bidders = Some(0);
        l.consent_resolution_date = (now - Duration::days(30)).date_naive();
        put(conn, l, &[&parcels[3]], true)?;
        Ok(users
            .iter()
            .map(|u| (u.email.clone(), u.role.as_str().to_string()))
            .collect())
    })
}
