//! `landx demo seed`: the Caojing (漕泾) pilot as a new user would want to explore it — the
//! township and its villages with their legal identities, parcels, listings in each state,
//! contracts at each step of their life (signed, certified and waiting for its insurance,
//! active with a rent default and a claim), and one demo account per role. Demo passwords are
//! printed and documented; never run it in production.
//!
//! The seed writes nothing itself: it replays the pilot's history through the same use cases
//! as the API (`crate::app`), each acted by the demo account whose job it is, so every row
//! carries its normal audit record, number and mails. The history is a [`Timeline`] of steps,
//! each at its time, played oldest first on a [`ManualClock`] started in the past; before each
//! step the worker's passes (trading, rent dates, insurance dates, reminders) run at that time
//! as the live platform would have, the last at the real `now`. The clock never goes back.

use std::cell::OnceCell;
use std::sync::Arc;

use chrono::{DateTime, Datelike, Duration, NaiveDate, Utc};

use crate::app::accounts::{self, NewAccount};
use crate::app::claims::{self, NewClaim};
use crate::app::contracts;
use crate::app::listings::{self, ListingDraft};
use crate::app::orgs::{self, NewInsurer, NewTownship, NewVillage, VillagePatch};
use crate::app::parcels::{self, NewParcelFields, ParcelFields};
use crate::app::policies::{self, NewQuote};
use crate::app::registrations::{self, DepositInput, QualifyInput, RefundInput, RegisterInput};
use crate::app::rent::{self, NewPayment};
use crate::app::trading;
use crate::app::Ctx;
use crate::clock::{Clock, ManualClock};
use crate::config::Settings;
use crate::crypto::DataKey;
use crate::db::models::{Insurer, Parcel, User};
use crate::db::queries::{self, PageReq, UserFilter};
use crate::db::{write_tx, DbConn};
use crate::domain::access::Caller;
use crate::domain::calendar::{shanghai_date, shanghai_year};
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

/// Villages of 漕泾镇: code, name, the unified social credit code of its collective economic
/// organisation (GB 32100: `N2` registered by the agriculture authority at village level,
/// `310116` 金山区, the organisation code `MF…` with its GB 11714 check character, then the
/// GB 32100 check character), and its legal representative. The first, 护塘村, holds the
/// parcels, listings and contracts.
const VILLAGES: [(&str, &str, &str, &str); 6] = [
    ("HT", "护塘村", "N2310116MF0341272T", "王建华"),
    ("JG", "金光村", "N2310116MF0341280M", "陈国强"),
    ("RX", "阮巷村", "N2310116MF0341299J", "沈卫东"),
    ("HY", "海渔村", "N2310116MF03413016", "张永明"),
    ("HG", "花果村", "N2310116MF034131XX", "顾志刚"),
    ("SK", "水库村", "N2310116MF0341328X", "朱海林"),
];

/// A village collective's legal name (the contracts' 甲方).
fn legal_name(village: &str) -> String {
    format!("上海市金山区漕泾镇{village}股份经济合作社")
}

/// Parcels of 护塘村 (JS-CJ-<village>-<plot>): code, area in centimu, land type, permanent
/// basic farmland, contracting households.
const PLOTS: [(&str, i64, LandType, bool, i64); 11] = [
    ("JS-CJ-HT-001", 15_831, LandType::Arable, true, 12),
    ("JS-CJ-HT-002", 8_650, LandType::Arable, true, 7),
    ("JS-CJ-HT-003", 12_020, LandType::Garden, false, 9),
    ("JS-CJ-HT-004", 6_400, LandType::Aquaculture, false, 4),
    ("JS-CJ-HT-005", 21_075, LandType::Arable, true, 16),
    ("JS-CJ-HT-006", 4_310, LandType::Facility, false, 3),
    ("JS-CJ-HT-007", 9_990, LandType::Arable, false, 8),
    ("JS-CJ-HT-008", 7_725, LandType::Garden, false, 6),
    ("JS-CJ-HT-009", 13_260, LandType::Arable, true, 10),
    ("JS-CJ-HT-010", 8_845, LandType::Arable, false, 7),
    ("JS-CJ-HT-011", 10_520, LandType::Arable, true, 9),
];

/// What `landx demo seed` prints it created.
pub fn summary() -> String {
    format!(
        "漕泾镇, {} villages, {} parcels, 10 listings, 3 contracts: signed, certified, active in default with a claim",
        VILLAGES.len(),
        PLOTS.len()
    )
}

const DESCRIPTION: &str =
    "经村民代表会议表决通过，委托镇农村产权交易服务中心公开挂牌流转土地经营权。";
const PHONE: &str = "13800138000";
/// Every demo listing's deposit (保证金), in fen.
const DEPOSIT_FEN: i64 = 200_000;
const RETURN_REASON: &str = "请补充村民代表会议决议扫描件。";
const CANCEL_REASON: &str = "村集体申请撤回。";
/// The rent the collective received on the certified contract's first year, besides the
/// deposit applied to it: a partial payment.
const PARTIAL_PAYMENT_FEN: i64 = 5_000_000;
const CLAIM_NOTE: &str = "乙方未按合同约定支付第1年度土地流转费，经村集体书面催告后仍未支付，已超过宽限期，现申请履约保证保险理赔。";

/// An investor as it registers for a listing. The ID numbers carry valid check characters
/// (GB 11643 for the resident ID, GB 32100 for the cooperative's credit code).
struct Applicant {
    legal_name: &'static str,
    id_type: IdType,
    id_number: &'static str,
    experience: &'static str,
    business_plan: &'static str,
    /// Claims to be a member of 护塘村's collective (the staff verify it).
    member: bool,
}

/// The family farm's owner, a member of 护塘村.
const LI_JIANGUO: Applicant = Applicant {
    legal_name: "李建国",
    id_type: IdType::ResidentId,
    id_number: "310116197803152413",
    experience: "十年以上水稻种植经验",
    business_plan: "种植优质稻米，发展绿色生态农业",
    member: true,
};

/// The farmers' cooperative.
const FENGSHOU: Applicant = Applicant {
    legal_name: "上海漕泾丰收农业专业合作社",
    id_type: IdType::UnifiedSocialCreditCode,
    id_number: "93310116MA1J8Q2K7Q",
    experience: "合作社成立八年，经营粮田一千二百亩，配有育秧、植保和烘干设施",
    business_plan: "稻麦轮作，统一供种、统防统治，订单销售",
    member: false,
};

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
    /// Moves the clock forward to `t` and performs what is due by then, as the worker would
    /// have: the trading pass, the rent and insurance passes, the stalled-contract reminders.
    fn at(&self, conn: &mut DbConn, t: DateTime<Utc>) -> Result<(), ApiError> {
        if t < self.clock.now() {
            return Err(ApiError::internal(
                "demo seed: a step would move the clock back",
            ));
        }
        self.clock.set(t);
        let (now, rules) = (self.clock.now(), &self.settings.rules);
        let mut failed = trading::settle_due(conn, now, rules)?.failed;
        failed += rent::settle_due(conn, now, rules)?.failed;
        failed += policies::settle_due(conn, now, rules)?;
        contracts::remind_stalled(conn, now, rules)?;
        if failed > 0 {
            return Err(ApiError::internal(format!(
                "demo seed: {failed} worker step(s) failed at {now}"
            )));
        }
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

    fn now(&self) -> DateTime<Utc> {
        self.clock.now()
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

/// The first day of the month after the one holding `d`.
fn first_of_next_month(d: NaiveDate) -> Result<NaiveDate, ApiError> {
    let (y, m) = if d.month() == 12 {
        (d.year() + 1, 1)
    } else {
        (d.year(), d.month() + 1)
    };
    NaiveDate::from_ymd_opt(y, m, 1).ok_or_else(|| ApiError::internal("demo date"))
}

// ---- the timeline ------------------------------------------------------------------------------

/// One step of the history: a use case (or a few) performed at the step's time.
type Step<'a> = Box<dyn FnOnce(&Seeder, &mut DbConn) -> Result<(), ApiError> + 'a>;

/// The pilot's history as dated steps. Each listing's story adds its steps; [`Timeline::play`]
/// performs them oldest first (steps at the same time in the order they were added), so the
/// stories interleave correctly whatever the configured periods.
#[derive(Default)]
struct Timeline<'a> {
    steps: Vec<(DateTime<Utc>, Step<'a>)>,
}

impl<'a> Timeline<'a> {
    fn on(
        &mut self,
        t: DateTime<Utc>,
        step: impl FnOnce(&Seeder, &mut DbConn) -> Result<(), ApiError> + 'a,
    ) {
        self.steps.push((t, Box::new(step)));
    }

    fn play(mut self, s: &Seeder, conn: &mut DbConn) -> Result<(), ApiError> {
        // A stable sort: same-time steps keep the order they were added in.
        self.steps.sort_by_key(|(t, _)| *t);
        for (t, step) in self.steps {
            s.at(conn, t)?;
            step(s, conn)?;
        }
        Ok(())
    }
}

/// What one listing's story has created, for its later steps.
#[derive(Default)]
struct Trail {
    listing: OnceCell<String>,
    registrations: OnceCell<Vec<String>>,
    contract: OnceCell<String>,
    policy: OnceCell<String>,
}

fn got<'t, T>(cell: &'t OnceCell<T>, what: &str) -> Result<&'t T, ApiError> {
    cell.get()
        .ok_or_else(|| ApiError::internal(format!("demo seed: no {what} yet")))
}

fn keep<T>(cell: &OnceCell<T>, value: T, what: &str) -> Result<(), ApiError> {
    cell.set(value)
        .map_err(|_| ApiError::internal(format!("demo seed: {what} set twice")))
}

impl Trail {
    fn listing(&self) -> Result<&str, ApiError> {
        got(&self.listing, "listing").map(String::as_str)
    }
    fn contract(&self) -> Result<&str, ApiError> {
        got(&self.contract, "contract").map(String::as_str)
    }
}

/// Who acts in the demo and what they act on, created when the pilot starts.
struct Cast {
    staff: User,
    collective: User,
    farm: User,
    coop: User,
    underwriter: User,
    insurer: Insurer,
    parcels: Vec<Parcel>,
    resolution: Resolution,
}

// ---- listings ----------------------------------------------------------------------------------

/// A demo listing as the collective describes it.
struct Plan {
    title: &'static str,
    intended_use: IntendedUse,
    /// Indexes into [`PLOTS`].
    plots: &'static [usize],
    reserve_price_fen: i64,
    registration_closes_at: DateTime<Utc>,
    auction_secs: i64,
    /// Default: a month after the auction.
    term_start: Option<NaiveDate>,
}

/// A one-hour auction right after registration closes.
fn plan(
    title: &'static str,
    intended_use: IntendedUse,
    plots: &'static [usize],
    reserve_price_fen: i64,
    registration_closes_at: DateTime<Utc>,
) -> Plan {
    Plan {
        title,
        intended_use,
        plots,
        reserve_price_fen,
        registration_closes_at,
        auction_secs: 3600,
        term_start: None,
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

/// Creates the draft of `plan` (collective); returns its id.
fn create_listing(
    s: &Seeder,
    conn: &mut DbConn,
    cast: &Cast,
    plan: &Plan,
) -> Result<String, ApiError> {
    let closes = plan.registration_closes_at;
    let ends = closes + Duration::seconds(plan.auction_secs);
    let term_start = plan
        .term_start
        .unwrap_or_else(|| (ends + Duration::days(30)).date_naive());
    let parcels: Vec<&Parcel> = plan.plots.iter().map(|i| &cast.parcels[*i]).collect();
    let parcel_ids = parcels
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
        term_end: cast.resolution.term_end,
        reserve_price_fen: plan.reserve_price_fen,
        min_increment_fen: 2_000,
        deposit_fen: DEPOSIT_FEN,
        registration_closes_at: closes,
        auction_starts_at: closes,
        auction_ends_at: ends,
        extension_secs: None,
        consent: Consent {
            resolution_date: cast.resolution.consent_on,
            members_agreeing: 27,
            members_total: 35,
            commissions_received: parcels.iter().map(|p| p.households).sum(),
        },
    };
    let ctx = s.acting(&cast.collective);
    let id = listings::create(&ctx, conn, || Ok(draft))?.listing.id;
    attach_listing_documents(&ctx, conn, &id)?;
    Ok(id)
}

/// The collective files the villagers' resolution and the households' commission letters
/// (small generated PDFs) with a new listing, as submitting requires.
fn attach_listing_documents(ctx: &Ctx, conn: &mut DbConn, id: &str) -> Result<(), ApiError> {
    use crate::app::document_store::Spooled;
    use crate::app::documents::{self, UploadRequest};
    use crate::domain::document::{MediaType, OwnerType};
    for (kind, filename, text) in [
        (
            "resolution",
            "村民代表会议决议.pdf",
            "Villagers' representatives resolution",
        ),
        (
            "commission",
            "农户委托书.pdf",
            "Household commission letters",
        ),
    ] {
        let bytes = sample_pdf(&format!("{text} - listing {id}"));
        let accepted = documents::accept_upload(
            ctx,
            conn,
            OwnerType::Listing,
            id,
            UploadRequest {
                kind: Some(kind.into()),
                filename: Some(filename.into()),
                content_type: Some(MediaType::Pdf.mime().into()),
                content_length: Some(bytes.len() as u64),
            },
        )?;
        let spooled = Spooled::from_bytes(&ctx.settings.documents, &bytes)?;
        documents::store(ctx, conn, &accepted, spooled)?;
    }
    Ok(())
}

/// A small one-page PDF showing `line` (ASCII: the standard fonts have no Chinese glyphs).
pub fn sample_pdf(line: &str) -> Vec<u8> {
    let text: String = line
        .chars()
        .map(|c| {
            if c.is_ascii_graphic() && !"()\\".contains(c) || c == ' ' {
                c
            } else {
                '_'
            }
        })
        .collect();
    let stream = format!("BT /F1 14 Tf 72 760 Td ({text}) Tj ET");
    let objects = [
        "<< /Type /Catalog /Pages 2 0 R >>".to_string(),
        "<< /Type /Pages /Kids [3 0 R] /Count 1 >>".to_string(),
        "<< /Type /Page /Parent 2 0 R /MediaBox [0 0 595 842] /Contents 4 0 R \
         /Resources << /Font << /F1 5 0 R >> >> >>"
            .to_string(),
        format!(
            "<< /Length {} >>\nstream\n{stream}\nendstream",
            stream.len()
        ),
        "<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica >>".to_string(),
    ];
    let mut out = b"%PDF-1.4\n".to_vec();
    let mut offsets = Vec::new();
    for (i, o) in objects.iter().enumerate() {
        offsets.push(out.len());
        out.extend_from_slice(format!("{} 0 obj\n{o}\nendobj\n", i + 1).as_bytes());
    }
    let xref = out.len();
    out.extend_from_slice(
        format!("xref\n0 {}\n0000000000 65535 f \n", objects.len() + 1).as_bytes(),
    );
    for off in offsets {
        out.extend_from_slice(format!("{off:010} 00000 n \n").as_bytes());
    }
    out.extend_from_slice(
        format!(
            "trailer\n<< /Size {} /Root 1 0 R >>\nstartxref\n{xref}\n%%EOF\n",
            objects.len() + 1
        )
        .as_bytes(),
    );
    out
}

fn submit(s: &Seeder, conn: &mut DbConn, cast: &Cast, id: &str) -> Result<(), ApiError> {
    listings::submit(&s.acting(&cast.collective), conn, id, || Ok(())).map(drop)
}

/// The collective drafts and submits `plan` the day before the staff announce it at
/// `approved_at`.
fn announce<'a>(
    tl: &mut Timeline<'a>,
    cast: &'a Cast,
    trail: &'a Trail,
    plan: Plan,
    approved_at: DateTime<Utc>,
) {
    tl.on(approved_at - Duration::days(1), move |s, conn| {
        let id = create_listing(s, conn, cast, &plan)?;
        submit(s, conn, cast, &id)?;
        keep(&trail.listing, id, "listing")
    });
    tl.on(approved_at, move |s, conn| {
        let ctx = s.acting(&cast.staff);
        listings::approve(&ctx, conn, trail.listing()?, || Ok(())).map(drop)
    });
}

/// Investors register at `register_at`; at `qualify_at` the staff qualify them (verifying
/// the membership claimed) and record their deposits.
fn bidders<'a>(
    tl: &mut Timeline<'a>,
    cast: &'a Cast,
    trail: &'a Trail,
    who: Vec<(&'a User, &'static Applicant)>,
    register_at: DateTime<Utc>,
    qualify_at: DateTime<Utc>,
) {
    let claims: Vec<bool> = who.iter().map(|(_, a)| a.member).collect();
    tl.on(register_at, move |s, conn| {
        let listing = trail.listing()?;
        let mut ids = Vec::new();
        for (investor, a) in who {
            let input = RegisterInput {
                legal_name: a.legal_name.into(),
                id_type: a.id_type,
                id_number: a.id_number.into(),
                phone: PHONE.into(),
                experience: a.experience.into(),
                business_plan: a.business_plan.into(),
                claims_membership: a.member,
            };
            let ctx = s.acting(investor);
            ids.push(registrations::register(&ctx, conn, listing, || Ok(input))?.id);
        }
        keep(&trail.registrations, ids, "registrations")
    });
    tl.on(qualify_at, move |s, conn| {
        let by_staff = s.acting(&cast.staff);
        let ids = got(&trail.registrations, "registrations")?;
        for (id, member) in ids.iter().zip(claims) {
            let qualify = QualifyInput {
                member_verified: Some(member),
            };
            registrations::qualify(&by_staff, conn, id, || Ok(qualify))?;
            let deposit = DepositInput {
                amount_fen: DEPOSIT_FEN,
                receipt_ref: receipt("ICBC-JS", id),
            };
            registrations::confirm_deposit(&by_staff, conn, id, || Ok(deposit))?;
        }
        Ok(())
    });
}

/// A bank reference ending in the last characters of `id`.
fn receipt(prefix: &str, id: &str) -> String {
    format!("{prefix}-{}", &id[id.len().saturating_sub(8)..])
}

// ---- contracts ---------------------------------------------------------------------------------

/// The winner, then the collective, confirm the listing's deal: its contract is drafted.
fn confirm_deal(
    s: &Seeder,
    conn: &mut DbConn,
    cast: &Cast,
    trail: &Trail,
    winner: &User,
) -> Result<(), ApiError> {
    let by_winner = s.acting(winner);
    let deal = trading::get_deal(&by_winner, conn, trail.listing()?)?
        .deal
        .id;
    trading::confirm_deal(&by_winner, conn, &deal, Ok(()))?;
    let confirmed = trading::confirm_deal(&s.acting(&cast.collective), conn, &deal, Ok(()))?;
    let contract = confirmed
        .contract_id
        .ok_or_else(|| ApiError::internal("demo seed: a confirmed deal without a contract"))?;
    keep(&trail.contract, contract, "contract")
}

fn sign(s: &Seeder, conn: &mut DbConn, trail: &Trail, party: &User) -> Result<(), ApiError> {
    contracts::sign(&s.acting(party), conn, trail.contract()?, Ok(())).map(drop)
}

/// The transferee asks the demo insurer for year 1's quote.
fn quote(
    s: &Seeder,
    conn: &mut DbConn,
    cast: &Cast,
    trail: &Trail,
    holder: &User,
) -> Result<(), ApiError> {
    let q = NewQuote {
        contract_id: trail.contract()?.to_string(),
        year: 1,
        insurer_id: cast.insurer.id.clone(),
    };
    let policy = policies::quote(&s.acting(holder), conn, Ok(q))?;
    keep(&trail.policy, policy.id, "policy")
}

/// The id of the contract's installment for year 1.
fn first_installment(
    s: &Seeder,
    conn: &mut DbConn,
    cast: &Cast,
    trail: &Trail,
) -> Result<String, ApiError> {
    let ctx = s.acting(&cast.collective);
    rent::installments_of_contract(&ctx, conn, trail.contract()?)?
        .into_iter()
        .find(|i| i.year == 1)
        .map(|i| i.id)
        .ok_or_else(|| ApiError::internal("demo seed: no first installment"))
}

// ---- the history -------------------------------------------------------------------------------

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

/// The platform creates the admin, who sets up the township, its villages (with their legal
/// identities), the insurer and the demo accounts; 护塘村 registers its parcels.
fn set_up(
    s: &Seeder,
    conn: &mut DbConn,
    resolution: Resolution,
    contract_end: NaiveDate,
) -> Result<(Vec<User>, Cast), ApiError> {
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
    for (code, name, credit_code, representative) in VILLAGES {
        let v = NewVillage {
            township_id: caojing.id.clone(),
            code: code.into(),
            name: name.into(),
        };
        let v = orgs::create_village(&by_admin, conn, v)?;
        // The collective's legal identity, which its contracts' 甲方 is frozen from.
        let identity = VillagePatch {
            legal_name: Some(legal_name(name)),
            unified_social_credit_code: Some(credit_code.into()),
            legal_representative: Some(representative.into()),
        };
        villages.push(orgs::patch_village(&by_admin, conn, &v.id, Ok(identity))?);
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

    // -- 护塘村 registers its parcels.
    let by_collective = s.acting(&users[2]);
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
    let cast = Cast {
        staff: users[1].clone(),
        collective: users[2].clone(),
        farm: users[3].clone(),
        coop: users[4].clone(),
        underwriter: users[5].clone(),
        insurer,
        parcels,
        resolution,
    };
    Ok((users, cast))
}

/// The pilot's history, played oldest step first.
fn seed_history(
    conn: &mut DbConn,
    settings: &Settings,
    data_key: &DataKey,
    now: DateTime<Utc>,
) -> Result<Vec<(String, String)>, ApiError> {
    let rules = &settings.rules;
    let days = Duration::days;
    // Every listing is announced for at least twelve days and the minimum period.
    let announced_for = days(rules.min_announcement_days.max(12));
    let grace = days(rules.grace_days.max(0));
    // When each listing's registration closes, back from `now`: the failed listing two days
    // ago, the auction a minute ago; the contracts' listings long enough ago for what
    // happened since — the defaulted one so that year 1's rent, due at certification, passed
    // its grace days thirteen days ago.
    let failed_closes = now - days(2);
    let auction_closes = now - Duration::minutes(1);
    let defaulted_closes = now - grace - days(22);
    let certified_closes = now - days(20);
    let signed_closes = now - days(8);
    let start = defaulted_closes - announced_for - days(2);
    let resolution = Resolution {
        consent_on: (start - days(14)).date_naive(),
        term_end: dec31(now.year() + 10)?,
    };
    // Registration of the current listings closes in a fortnight (or the minimum period).
    let future = now + days(rules.min_announcement_days.max(14) + 1);
    // The certified contract's term starts on the first of a month at least forty days on,
    // so year 1's rent falls due after `now`.
    let certified_term_start = first_of_next_month(shanghai_date(now + days(40)))?;

    let s = Seeder {
        clock: ManualClock::new(start),
        settings: Arc::new(settings.clone()),
        data_key: data_key.clone(),
    };
    s.at(conn, start)?;
    let (users, cast) = set_up(&s, conn, resolution, dec31(now.year() + 30)?)?;
    let cast = &cast;
    let (failed, auction, open) = (Trail::default(), Trail::default(), Trail::default());
    let (defaulted, certified, signed) = (Trail::default(), Trail::default(), Trail::default());
    let mut tl = Timeline::default();

    // -- The aquaculture water: announced, nobody registers, it fails (relist it to explore).
    let water = Plan {
        title: "护塘村养殖水面经营权流转（流拍）",
        intended_use: IntendedUse::Aquaculture,
        plots: &[3],
        reserve_price_fen: 90_000,
        registration_closes_at: failed_closes,
        auction_secs: 3600,
        term_start: None,
    };
    announce(&mut tl, cast, &failed, water, failed_closes - announced_for);

    // -- The second batch: announced, both investors register, are qualified and pay their
    // deposits; its registration closed a minute before `now` and the auction is open.
    let batch2 = Plan {
        auction_secs: 2 * 3600,
        ..plan(
            "护塘村2027年第二批土地经营权流转（网络竞价中）",
            IntendedUse::Grain,
            &[4],
            130_000,
            auction_closes,
        )
    };
    announce(
        &mut tl,
        cast,
        &auction,
        batch2,
        auction_closes - announced_for,
    );
    let both = || vec![(&cast.farm, &LI_JIANGUO), (&cast.coop, &FENGSHOU)];
    bidders(
        &mut tl,
        cast,
        &auction,
        both(),
        now - days(5),
        now - days(2),
    );

    // -- The first batch: submitted two days ago, announced yesterday, open for registration.
    let batch1 = Plan {
        auction_secs: 2 * 3600,
        ..plan(
            "护塘村2027年第一批土地经营权流转（水稻种植）",
            IntendedUse::Grain,
            &[0, 1],
            120_000,
            future,
        )
    };
    announce(&mut tl, cast, &open, batch1, now - days(1));

    // -- The south fields: one eligible bidder, the cooperative, takes them by negotiated
    // deal (协议转让); the contract is signed after the publicity, certified, year 1
    // insured, then the cooperative never pays: the rent falls due at certification, is
    // overdue the next day and in default after the grace days; the collective files a claim
    // that waits for the insurer's decision.
    let c = defaulted_closes;
    let south = plan(
        "护塘村南片粮田土地经营权流转（稻麦轮作）",
        IntendedUse::Grain,
        &[8],
        110_000,
        c,
    );
    announce(&mut tl, cast, &defaulted, south, c - announced_for);
    let coop = vec![(&cast.coop, &FENGSHOU)];
    bidders(&mut tl, cast, &defaulted, coop, c - days(7), c - days(5));
    let d = &defaulted;
    tl.on(c + days(1), move |s, conn| {
        confirm_deal(s, conn, cast, d, &cast.coop)
    });
    tl.on(c + days(6), move |s, conn| {
        sign(s, conn, d, &cast.collective)
    });
    tl.on(c + days(6) + Duration::hours(3), move |s, conn| {
        sign(s, conn, d, &cast.coop)
    });
    tl.on(c + days(8), move |s, conn| {
        contracts::certify(&s.acting(&cast.staff), conn, d.contract()?, Ok(()))?;
        quote(s, conn, cast, d, &cast.coop)
    });
    tl.on(c + days(9), move |s, conn| {
        let policy_no = format!("AXNY-LYBX-{}-00318", shanghai_year(s.now()));
        let policy = got(&d.policy, "policy")?;
        policies::issue(&s.acting(&cast.underwriter), conn, policy, Ok(policy_no)).map(drop)
    });
    tl.on(now - days(10), move |s, conn| {
        let claim = NewClaim {
            installment_id: first_installment(s, conn, cast, d)?,
            note: CLAIM_NOTE.into(),
        };
        claims::file(&s.acting(&cast.collective), conn, Ok(claim)).map(drop)
    });

    // -- The east fields: the family farm alone, negotiated; signed and certified, year 1
    // quoted (the insurer's to issue: that makes the contract active), the deposit applied to
    // year 1 and part of the rent received.
    let b = certified_closes;
    let east = Plan {
        term_start: Some(certified_term_start),
        ..plan(
            "护塘村东片菜田土地经营权流转（蔬菜种植）",
            IntendedUse::Vegetables,
            &[9],
            125_000,
            b,
        )
    };
    announce(&mut tl, cast, &certified, east, b - announced_for);
    let farm = vec![(&cast.farm, &LI_JIANGUO)];
    bidders(&mut tl, cast, &certified, farm, b - days(7), b - days(5));
    let e = &certified;
    tl.on(b + days(1), move |s, conn| {
        confirm_deal(s, conn, cast, e, &cast.farm)
    });
    tl.on(b + days(6), move |s, conn| {
        sign(s, conn, e, &cast.collective)
    });
    tl.on(b + days(6) + Duration::hours(2), move |s, conn| {
        sign(s, conn, e, &cast.farm)
    });
    tl.on(now - days(10), move |s, conn| {
        contracts::certify(&s.acting(&cast.staff), conn, e.contract()?, Ok(())).map(drop)
    });
    tl.on(now - days(9), move |s, conn| {
        quote(s, conn, cast, e, &cast.farm)
    });
    tl.on(now - days(3), move |s, conn| {
        let installment = first_installment(s, conn, cast, e)?;
        let payment = NewPayment {
            amount_fen: PARTIAL_PAYMENT_FEN,
            received_on: shanghai_date(s.now()),
            receipt_ref: receipt("SRCB-JS", &installment),
        };
        let ctx = s.acting(&cast.collective);
        rent::record_payment(&ctx, conn, &installment, Ok(payment)).map(drop)
    });

    // -- The north fields: auctioned between the two investors (the family farm wins after
    // an anti-sniping extension), the cooperative's deposit refunded, the contract signed by
    // both parties and waiting for the township's certification.
    let n = signed_closes;
    let north = plan(
        "护塘村北片粮田土地经营权流转（水稻种植）",
        IntendedUse::Grain,
        &[10],
        115_000,
        n,
    );
    announce(&mut tl, cast, &signed, north, n - announced_for);
    bidders(&mut tl, cast, &signed, both(), n - days(7), n - days(5));
    let g = &signed;
    let bids = [
        (6, &cast.coop, 115_000),
        (18, &cast.farm, 117_000),
        (35, &cast.coop, 121_000),
        (57, &cast.farm, 123_000),
    ];
    for (minute, bidder, amount_fen) in bids {
        tl.on(n + Duration::minutes(minute), move |s, conn| {
            trading::place_bid(&s.acting(bidder), conn, g.listing()?, amount_fen).map(drop)
        });
    }
    // The auction ends (extended by the last bid); the worker awards it.
    tl.on(n + Duration::hours(2), |_, _| Ok(()));
    tl.on(n + days(1), move |s, conn| {
        confirm_deal(s, conn, cast, g, &cast.farm)
    });
    tl.on(n + days(2), move |s, conn| {
        let ids = got(&g.registrations, "registrations")?;
        let runner_up = ids
            .get(1)
            .ok_or_else(|| ApiError::internal("demo seed: no runner-up"))?;
        let refund = RefundInput {
            receipt_ref: receipt("ICBC-JS-TK", runner_up),
        };
        registrations::refund(&s.acting(&cast.staff), conn, runner_up, || Ok(refund)).map(drop)
    });
    tl.on(now - days(2), move |s, conn| {
        sign(s, conn, g, &cast.collective)
    });
    tl.on(now - days(2) + Duration::hours(3), move |s, conn| {
        sign(s, conn, g, &cast.farm)
    });

    // -- Now: today's work of the collective and the staff.
    tl.on(now, move |s, conn| today(s, conn, cast, future));

    // The worker's pass runs at least daily, so what the calendar moves (registration closes,
    // rent due, overdue and in default, policy periods, reminders) happens on its day.
    let mut tick = start + days(1);
    while tick < now {
        tl.on(tick, |_, _| Ok(()));
        tick += days(1);
    }

    tl.play(&s, conn)?;
    Ok(users
        .iter()
        .map(|u| (u.email.clone(), u.role.as_str().to_string()))
        .collect())
}

/// Today: a draft, a submitted listing, one returned for changes and one withdrawn.
fn today(
    s: &Seeder,
    conn: &mut DbConn,
    cast: &Cast,
    future: DateTime<Utc>,
) -> Result<(), ApiError> {
    let by_staff = s.acting(&cast.staff);
    let by_collective = s.acting(&cast.collective);
    let draft = plan(
        "护塘村2027年第三批土地经营权流转（草稿）",
        IntendedUse::Vegetables,
        &[6],
        110_000,
        future,
    );
    create_listing(s, conn, cast, &draft)?;
    let facility = plan(
        "护塘村设施农用地经营权流转",
        IntendedUse::Vegetables,
        &[5],
        150_000,
        future,
    );
    let submitted = create_listing(s, conn, cast, &facility)?;
    submit(s, conn, cast, &submitted)?;
    let orchard = plan(
        "护塘村果园经营权流转",
        IntendedUse::Fruit,
        &[7],
        100_000,
        future,
    );
    let returned = create_listing(s, conn, cast, &orchard)?;
    submit(s, conn, cast, &returned)?;
    listings::return_for_changes(&by_staff, conn, &returned, || Ok(RETURN_REASON.into()))?;
    let flowers = plan(
        "护塘村花卉苗木用地流转（已撤销）",
        IntendedUse::Fruit,
        &[2],
        95_000,
        future,
    );
    let cancelled = create_listing(s, conn, cast, &flowers)?;
    submit(s, conn, cast, &cancelled)?;
    listings::cancel(
        &by_collective,
        conn,
        &cancelled,
        || Ok(CANCEL_REASON.into()),
    )?;
    Ok(())
}
