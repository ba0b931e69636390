//! `landx demo seed`: the Caojing (漕泾) pilot as a new user would want to explore it — the
//! township and its villages, parcels, listings in each state, and one demo account per role.
//! Demo passwords are printed and documented; never run it in production.
//!
//! The seed writes nothing itself: it replays the pilot's history through the same use cases
//! as the API (`crate::app`), each acted by the demo account whose job it is, so every row
//! carries its normal audit record, listing number and mails. States that need the past (a
//! listing announced two weeks ago, a failed one) are reached on a [`ManualClock`] started in
//! the past and moved forward, the worker's pass (`settle_due`) running at each step as the
//! live platform would have, the last one at the real `now`.

use std::sync::Arc;

use chrono::{DateTime, Datelike, Duration, NaiveDate, Utc};

use crate::app::accounts::{self, NewAccount};
use crate::app::listings::{self, ListingDraft};
use crate::app::orgs::{self, NewInsurer, NewTownship, NewVillage};
use crate::app::parcels::{self, NewParcelFields, ParcelFields};
use crate::app::registrations::{self, DepositInput, QualifyInput, RegisterInput};
use crate::app::trading::settle_due;
use crate::app::Ctx;
use crate::clock::{Clock, ManualClock};
use crate::config::Settings;
use crate::crypto::DataKey;
use crate::db::models::{Parcel, User};
use crate::db::queries::{self, PageReq, UserFilter};
use crate::db::{write_tx, DbConn};
use crate::domain::access::Caller;
use crate::domain::listing::{Consent, IntendedUse};
use crate::domain::money::format_mu;
use crate::domain::parcel::LandType;
use crate::domain::registration::IdType;
use crate::domain::roles::Role;
use crate::error::ApiError;

pub const DEMO_PASSWORD: &str = "landx-demo-2027";

/// Demo accounts: (e-mail, role, display name). The first, an admin, sets up the rest.
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

/// Villages of 漕泾镇: (code, name). The first, 护塘村, holds the parcels and listings.
const VILLAGES: [(&str, &str); 6] = [
    ("HT", "护塘村"),
    ("JG", "金光村"),
    ("RX", "阮巷村"),
    ("HY", "海渔村"),
    ("HG", "花果村"),
    ("SK", "水库村"),
];

/// Parcels of 护塘村 (JS-CJ-<village>-<plot>): code, area in centimu, land type, permanent
/// basic farmland, contracting households.
const PLOTS: [(&str, i64, LandType, bool, i64); 8] = [
    ("JS-CJ-HT-001", 15_831, LandType::Arable, true, 12),
    ("JS-CJ-HT-002", 8_650, LandType::Arable, true, 7),
    ("JS-CJ-HT-003", 12_020, LandType::Garden, false, 9),
    ("JS-CJ-HT-004", 6_400, LandType::Aquaculture, false, 4),
    ("JS-CJ-HT-005", 21_075, LandType::Arable, true, 16),
    ("JS-CJ-HT-006", 4_310, LandType::Facility, false, 3),
    ("JS-CJ-HT-007", 9_990, LandType::Arable, false, 8),
    ("JS-CJ-HT-008", 7_725, LandType::Garden, false, 6),
];

const DESCRIPTION: &str =
    "经村民代表会议表决通过，委托镇农村产权交易服务中心公开挂牌流转土地经营权。";
const PHONE: &str = "13800138000";
/// Every demo listing's deposit (保证金), in fen.
const DEPOSIT_FEN: i64 = 200_000;
const RETURN_REASON: &str = "请补充村民代表会议决议扫描件。";
const CANCEL_REASON: &str = "村集体申请撤回。";

/// True when the database holds anything beyond admin accounts.
pub fn has_data(conn: &mut DbConn) -> Result<bool, ApiError> {
    // `limit + 1` rows: one is enough to know.
    let first = PageReq {
        after: None,
        limit: 0,
    };
    if !queries::list_townships(conn, &first)?.is_empty() {
        return Ok(true);
    }
    for role in Role::ALL.iter().filter(|r| **r != Role::Admin) {
        let filter = UserFilter {
            role: Some(*role),
            ..Default::default()
        };
        if !queries::list_users(conn, &filter, &first)?.is_empty() {
            return Ok(true);
        }
    }
    Ok(false)
}

/// The demo's clock and what every use case needs besides the caller.
struct Seeder {
    clock: ManualClock,
    settings: Arc<Settings>,
    data_key: DataKey,
}

impl Seeder {
    /// Moves the clock to `t` and lets the transitions due by then happen, as the worker
    /// would have.
    fn at(&self, conn: &mut DbConn, t: DateTime<Utc>) -> Result<(), ApiError> {
        self.clock.set(t);
        settle_due(conn, self.clock.now(), &self.settings.rules)?;
        Ok(())
    }

    /// A context at the clock's time, for `user` or (`None`) the platform itself.
    fn ctx(&self, user: Option<&User>) -> Ctx {
        Ctx::new(
            user.map(caller),
            Arc::new(self.clock.clone()),
            self.settings.clone(),
            self.data_key.clone(),
        )
    }

    fn acting(&self, user: &User) -> Ctx {
        self.ctx(Some(user))
    }
}

/// The account as the caller of a request it makes.
fn caller(u: &User) -> Caller {
    Caller {
        id: u.id.clone(),
        role: u.role,
        email: u.email.clone(),
        village_id: u.village_id.clone(),
        township_id: u.township_id.clone(),
        insurer_id: u.insurer_id.clone(),
        email_verified: u.email_verified,
    }
}

fn dec31(year: i32) -> Result<NaiveDate, ApiError> {
    NaiveDate::from_ymd_opt(year, 12, 31).ok_or_else(|| ApiError::internal("demo date"))
}

/// A demo listing as the collective describes it.
struct Plan<'a> {
    title: &'a str,
    intended_use: IntendedUse,
    parcels: &'a [&'a Parcel],
    reserve_price_fen: i64,
    registration_closes_at: DateTime<Utc>,
    auction_secs: i64,
}

/// A one-hour auction right after registration closes.
fn plan<'a>(
    title: &'a str,
    intended_use: IntendedUse,
    parcels: &'a [&'a Parcel],
    reserve_price_fen: i64,
    registration_closes_at: DateTime<Utc>,
) -> Plan<'a> {
    Plan {
        title,
        intended_use,
        parcels,
        reserve_price_fen,
        registration_closes_at,
        auction_secs: 3600,
    }
}

/// What the village's members resolved for every demo listing.
#[derive(Clone, Copy)]
struct Resolution {
    /// The date of the representatives' meeting.
    consent_on: NaiveDate,
    /// The last day of every term.
    term_end: NaiveDate,
}

/// Creates the draft of `plan` (collective); returns its id. The term starts a month after
/// the auction.
fn create_listing(
    ctx: &Ctx,
    conn: &mut DbConn,
    plan: Plan<'_>,
    resolution: Resolution,
) -> Result<String, ApiError> {
    let closes = plan.registration_closes_at;
    let ends = closes + Duration::seconds(plan.auction_secs);
    let term_start = (ends + Duration::days(30)).date_naive();
    let parcel_ids = plan
        .parcels
        .iter()
        .map(|p| uuid::Uuid::parse_str(&p.id))
        .collect::<Result<Vec<_>, _>>()
        .map_err(|_| ApiError::internal("parcel id is not a UUID"))?;
    let draft = ListingDraft {
        title: plan.title.into(),
        description: DESCRIPTION.into(),
        parcel_ids,
        intended_use: plan.intended_use,
        term_start,
        term_end: resolution.term_end,
        reserve_price_fen: plan.reserve_price_fen,
        min_increment_fen: 2_000,
        deposit_fen: DEPOSIT_FEN,
        registration_closes_at: closes,
        auction_starts_at: closes,
        auction_ends_at: ends,
        extension_secs: None,
        consent: Consent {
            resolution_date: resolution.consent_on,
            members_agreeing: 27,
            members_total: 35,
            commissions_received: plan.parcels.iter().map(|p| p.households).sum(),
        },
    };
    Ok(listings::create(ctx, conn, || Ok(draft))?.listing.id)
}

fn submit(ctx: &Ctx, conn: &mut DbConn, id: &str) -> Result<(), ApiError> {
    listings::submit(ctx, conn, id, || Ok(())).map(drop)
}

fn approve(ctx: &Ctx, conn: &mut DbConn, id: &str) -> Result<(), ApiError> {
    listings::approve(ctx, conn, id, || Ok(())).map(drop)
}

/// Seeds the demo data set in one transaction (the use cases' own transactions nest in it as
/// savepoints): a failure midway leaves the database as it was. Refused, changing nothing,
/// when the database holds anything beyond admin accounts. Returns the accounts created.
pub fn seed(
    conn: &mut DbConn,
    settings: &Settings,
    data_key: &DataKey,
    now: DateTime<Utc>,
) -> Result<Vec<(String, String)>, ApiError> {
    write_tx(conn, |conn| {
        if has_data(conn)? {
            return Err(ApiError::InvalidState(
                "the database already holds data; demo seed runs only on an empty one".into(),
            ));
        }
        seed_history(conn, settings, data_key, now)
    })
}

/// The pilot's history, oldest step first.
fn seed_history(
    conn: &mut DbConn,
    settings: &Settings,
    data_key: &DataKey,
    now: DateTime<Utc>,
) -> Result<Vec<(String, String)>, ApiError> {
    // The schedule, back from `now`: the failed listing's registration closed two days ago,
    // the auction listing's a minute ago; both were announced for at least twelve days and
    // at least the minimum announcement period.
    let min_days = settings.rules.min_announcement_days;
    let announced_for = Duration::days(min_days.max(12));
    let failed_closes = now - Duration::days(2);
    let failed_approved = failed_closes - announced_for;
    let auction_closes = now - Duration::minutes(1);
    let auction_approved = auction_closes - announced_for;
    let start = failed_approved - Duration::days(2);
    let resolution = Resolution {
        consent_on: (start - Duration::days(14)).date_naive(),
        term_end: dec31(now.year() + 10)?,
    };
    // Registration of the current listings closes in a fortnight (or the minimum period).
    let future = now + Duration::days(min_days.max(14) + 1);

    let s = Seeder {
        clock: ManualClock::new(start),
        settings: Arc::new(settings.clone()),
        data_key: data_key.clone(),
    };

    // -- The pilot starts: the platform creates the admin, who sets up the rest.
    s.at(conn, start)?;
    let role_of = |r: &str| Role::parse(r).ok_or_else(|| ApiError::internal("demo role"));
    let new_account = |(email, role, name): (&str, &str, &str),
                       org: (Option<String>, Option<String>, Option<String>)|
     -> Result<NewAccount, ApiError> {
        Ok(NewAccount {
            email: email.into(),
            password: Some(DEMO_PASSWORD.into()),
            display_name: name.into(),
            role: role_of(role)?,
            phone: Some(PHONE.into()),
            village_id: org.0,
            township_id: org.1,
            insurer_id: org.2,
            reason: Some("demo seed".into()),
        })
    };
    let admin = accounts::create_user(
        &s.ctx(None),
        conn,
        new_account(ACCOUNTS[0], (None, None, None))?,
    )?;
    let by_admin = s.acting(&admin);
    let caojing = orgs::create_township(
        &by_admin,
        conn,
        NewTownship {
            code: "CJ".into(),
            name: "漕泾镇".into(),
            insurance_required: Some(true),
        },
    )?;
    orgs::create_township(
        &by_admin,
        conn,
        NewTownship {
            code: "SY".into(),
            name: "山阳镇".into(),
            insurance_required: Some(true),
        },
    )?;
    let mut villages = Vec::new();
    for (code, name) in VILLAGES {
        let v = NewVillage {
            township_id: caojing.id.clone(),
            code: code.into(),
            name: name.into(),
        };
        villages.push(orgs::create_village(&by_admin, conn, v)?);
    }
    let insurer = orgs::create_insurer(
        &by_admin,
        conn,
        NewInsurer {
            code: "AXNY".into(),
            name: "安信农业保险股份有限公司".into(),
        },
    )?;
    let mut users = vec![admin.clone()];
    for account in &ACCOUNTS[1..] {
        let role = role_of(account.1)?;
        let org = (
            (role == Role::Collective).then(|| villages[0].id.clone()),
            (role == Role::Staff).then(|| caojing.id.clone()),
            (role == Role::Insurer).then(|| insurer.id.clone()),
        );
        users.push(accounts::create_user(
            &by_admin,
            conn,
            new_account(*account, org)?,
        )?);
    }
    let (staff, collective, farm, coop) = (&users[1], &users[2], &users[3], &users[4]);

    // -- 护塘村 registers its parcels.
    let by_collective = s.acting(collective);
    let contract_end = dec31(now.year() + 30)?;
    let mut parcels = Vec::new();
    for (i, (code, area, land_type, basic, households)) in PLOTS.into_iter().enumerate() {
        let fields = NewParcelFields {
            land_type,
            household_contract_end: contract_end,
            fields: ParcelFields {
                code: Some(code.into()),
                area_mu: Some(format_mu(area)),
                permanent_basic_farmland: Some(basic),
                quality_grade: Some(Some((i % 5) as i64 + 2)),
                households: Some(households),
                location: Some(format!("漕泾镇护塘村{}组", i + 1)),
                ..Default::default()
            },
        };
        parcels.push(parcels::create(&by_collective, conn, || Ok(fields))?.parcel);
    }

    // -- The aquaculture water: announced, nobody registers, it fails (relist it to explore).
    s.at(conn, failed_approved - Duration::days(1))?;
    let by_collective = s.acting(collective);
    let failed = create_listing(
        &by_collective,
        conn,
        Plan {
            title: "护塘村养殖水面经营权流转（流拍）",
            intended_use: IntendedUse::Aquaculture,
            parcels: &[&parcels[3]],
            reserve_price_fen: 90_000,
            registration_closes_at: failed_closes,
            auction_secs: 3600,
        },
        resolution,
    )?;
    submit(&by_collective, conn, &failed)?;
    s.at(conn, failed_approved)?;
    approve(&s.acting(staff), conn, &failed)?;

    // -- The second batch: announced, two investors register, are qualified and pay their
    // deposits; its registration closes a minute before `now` and the auction opens.
    s.at(conn, auction_approved - Duration::days(1))?;
    let by_collective = s.acting(collective);
    let auction = create_listing(
        &by_collective,
        conn,
        Plan {
            title: "护塘村2027年第二批土地经营权流转（网络竞价中）",
            intended_use: IntendedUse::Grain,
            parcels: &[&parcels[4]],
            reserve_price_fen: 130_000,
            registration_closes_at: auction_closes,
            auction_secs: 2 * 3600,
        },
        resolution,
    )?;
    submit(&by_collective, conn, &auction)?;
    s.at(conn, auction_approved)?;
    approve(&s.acting(staff), conn, &auction)?;

    s.at(conn, now - Duration::days(5))?;
    let bidders = [
        (
            farm,
            "李建国",
            IdType::ResidentId,
            "11010519491231002X",
            true,
        ),
        (
            coop,
            "上海漕泾丰收农业专业合作社",
            IdType::UnifiedSocialCreditCode,
            "91350100M000100Y43",
            false,
        ),
    ];
    let mut registered = Vec::new();
    for (investor, legal_name, id_type, id_number, member) in bidders {
        let input = RegisterInput {
            legal_name: legal_name.into(),
            id_type,
            id_number: id_number.into(),
            phone: PHONE.into(),
            experience: "十年以上水稻种植经验".into(),
            business_plan: "种植优质稻米，发展绿色生态农业".into(),
            claims_membership: member,
        };
        let r = registrations::register(&s.acting(investor), conn, &auction, || Ok(input))?;
        registered.push((r, member));
    }

    // Two days ago: the failed listing's registration closes (the pass above settles it);
    // the staff qualify both investors and record their deposits.
    s.at(conn, now - Duration::days(2))?;
    let by_staff = s.acting(staff);
    for (r, member) in &registered {
        let qualify = QualifyInput {
            member_verified: Some(*member),
        };
        registrations::qualify(&by_staff, conn, &r.id, || Ok(qualify))?;
        let deposit = DepositInput {
            amount_fen: DEPOSIT_FEN,
            receipt_ref: format!("ICBC-JS-{}", &r.id[r.id.len() - 8..]),
        };
        registrations::confirm_deposit(&by_staff, conn, &r.id, || Ok(deposit))?;
    }

    // -- The first batch: submitted two days ago, announced yesterday, open for registration.
    let by_collective = s.acting(collective);
    let open = create_listing(
        &by_collective,
        conn,
        Plan {
            title: "护塘村2027年第一批土地经营权流转（水稻种植）",
            intended_use: IntendedUse::Grain,
            parcels: &[&parcels[0], &parcels[1]],
            reserve_price_fen: 120_000,
            registration_closes_at: future,
            auction_secs: 2 * 3600,
        },
        resolution,
    )?;
    submit(&by_collective, conn, &open)?;
    s.at(conn, now - Duration::days(1))?;
    approve(&s.acting(staff), conn, &open)?;

    // -- Now: the second batch's registration has closed (the pass turns it into an
    // auction); today's work of the collective and the staff.
    s.at(conn, now)?;
    let by_collective = s.acting(collective);
    let by_staff = s.acting(staff);
    create_listing(
        &by_collective,
        conn,
        plan(
            "护塘村2027年第三批土地经营权流转（草稿）",
            IntendedUse::Vegetables,
            &[&parcels[6]],
            110_000,
            future,
        ),
        resolution,
    )?;
    let submitted = create_listing(
        &by_collective,
        conn,
        plan(
            "护塘村设施农用地经营权流转",
            IntendedUse::Vegetables,
            &[&parcels[5]],
            150_000,
            future,
        ),
        resolution,
    )?;
    submit(&by_collective, conn, &submitted)?;
    let returned = create_listing(
        &by_collective,
        conn,
        plan(
            "护塘村果园经营权流转",
            IntendedUse::Fruit,
            &[&parcels[7]],
            100_000,
            future,
        ),
        resolution,
    )?;
    submit(&by_collective, conn, &returned)?;
    listings::return_for_changes(&by_staff, conn, &returned, || Ok(RETURN_REASON.into()))?;
    let cancelled = create_listing(
        &by_collective,
        conn,
        plan(
            "护塘村花卉苗木用地流转（已撤销）",
            IntendedUse::Fruit,
            &[&parcels[2]],
            95_000,
            future,
        ),
        resolution,
    )?;
    submit(&by_collective, conn, &cancelled)?;
    listings::cancel(
        &by_collective,
        conn,
        &cancelled,
        || Ok(CANCEL_REASON.into()),
    )?;

    Ok(users
        .iter()
        .map(|u| (u.email.clone(), u.role.as_str().to_string()))
        .collect())
}
