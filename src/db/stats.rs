//! Statistics by SQL aggregation: every figure is a `GROUP BY` over the rows of one Shanghai
//! calendar year (bounds computed by the caller, so each query is a range scan on an index of
//! the event's time), optionally one township's. The same SQL runs on both databases; only
//! the placeholders differ.

use chrono::{NaiveDate, NaiveDateTime};
use diesel::prelude::*;
use diesel::sql_types::{BigInt, Date, Nullable, Text, Timestamp};

use super::{DbConn, QResult};
use crate::domain::contract::ContractStatus;
use crate::domain::installment::InstallmentStatus;
use crate::domain::policy::PolicyStatus;
use crate::domain::registration::DepositStatus;

/// The year and scope of a statistics query.
#[derive(Debug, Clone)]
pub struct Window {
    /// `[from, to)` in UTC: the Shanghai calendar year.
    pub from: NaiveDateTime,
    pub to: NaiveDateTime,
    /// `[first_day, next_year)` as calendar dates.
    pub first_day: NaiveDate,
    pub next_year: NaiveDate,
    pub township_id: Option<String>,
}

#[derive(Debug, Clone, QueryableByName)]
pub struct KeyCount {
    #[diesel(sql_type = Text)]
    pub key: String,
    #[diesel(sql_type = BigInt)]
    pub n: i64,
    #[diesel(sql_type = BigInt)]
    pub total: i64,
}

#[derive(Debug, Clone, QueryableByName)]
pub struct PairSum {
    #[diesel(sql_type = Text)]
    pub a: String,
    #[diesel(sql_type = Text)]
    pub b: String,
    #[diesel(sql_type = BigInt)]
    pub n: i64,
    #[diesel(sql_type = BigInt)]
    pub total: i64,
}

#[derive(Debug, Clone, QueryableByName)]
pub struct Sums {
    #[diesel(sql_type = BigInt)]
    pub n: i64,
    #[diesel(sql_type = BigInt)]
    pub s1: i64,
    #[diesel(sql_type = BigInt)]
    pub s2: i64,
    #[diesel(sql_type = BigInt)]
    pub s3: i64,
}

/// One bind value of these queries.
#[derive(Debug, Clone)]
enum Arg {
    Text(String),
    Ts(NaiveDateTime),
    Day(NaiveDate),
}

/// SQL written with `?` placeholders; PostgreSQL gets `$1, $2, …`.
fn numbered(sql: &str) -> String {
    let mut out = String::with_capacity(sql.len() + 16);
    let mut n = 0;
    for ch in sql.chars() {
        if ch == '?' {
            n += 1;
            out.push_str(&format!("${n}"));
        } else {
            out.push(ch);
        }
    }
    out
}

fn load<T>(conn: &mut DbConn, sql: &str, args: &[Arg]) -> QResult<Vec<T>>
where
    T: QueryableByName<diesel::pg::Pg> + QueryableByName<diesel::sqlite::Sqlite> + 'static,
{
    macro_rules! run {
        ($c:expr, $sql:expr) => {{
            let mut q = diesel::sql_query($sql).into_boxed();
            for a in args {
                q = match a {
                    Arg::Text(s) => q.bind::<Text, _>(s.clone()),
                    Arg::Ts(t) => q.bind::<Timestamp, _>(*t),
                    Arg::Day(d) => q.bind::<Date, _>(*d),
                };
            }
            q.load::<T>($c)
        }};
    }
    match conn {
        DbConn::Pg(c) => run!(c, numbered(sql)),
        DbConn::Sqlite(c) => run!(c, sql.to_string()),
    }
}

/// A query of one row of sums (an aggregate without `GROUP BY`); all zero without rows.
fn one(conn: &mut DbConn, sql: &str, args: &[Arg]) -> QResult<Sums> {
    Ok(load(conn, sql, args)?.into_iter().next().unwrap_or(Sums {
        n: 0,
        s1: 0,
        s2: 0,
        s3: 0,
    }))
}

/// `AND <col> = ?` with the township, when scoped to one.
fn township(w: &Window, col: &str, args: &mut Vec<Arg>) -> String {
    match &w.township_id {
        Some(t) => {
            args.push(Arg::Text(t.clone()));
            format!(" AND {col} = ?")
        }
        None => String::new(),
    }
}

fn in_list(words: &[&str], args: &mut Vec<Arg>) -> String {
    let marks: Vec<&str> = words
        .iter()
        .map(|w| {
            args.push(Arg::Text((*w).to_string()));
            "?"
        })
        .collect();
    format!("({})", marks.join(", "))
}

/// Listings that closed in the year (trading ended, or cancelled), by current status; `total`
/// is their area in centimu.
pub fn listings_by_status(conn: &mut DbConn, w: &Window) -> QResult<Vec<KeyCount>> {
    let mut args = vec![Arg::Ts(w.from), Arg::Ts(w.to)];
    let t = township(w, "l.township_id", &mut args);
    let sql = format!(
        "SELECT l.status AS key, COUNT(*) AS n, CAST(COALESCE(SUM(l.total_area_centimu), 0) AS BIGINT) AS total \
         FROM listings l WHERE l.closed_at >= ? AND l.closed_at < ?{t} GROUP BY l.status"
    );
    load(conn, &sql, &args)
}

/// Auctions (two or more eligible bidders) that closed in the year: count, eligible bidders,
/// bids.
pub fn auctions(conn: &mut DbConn, w: &Window) -> QResult<Sums> {
    let mut args = vec![Arg::Ts(w.from), Arg::Ts(w.to)];
    let t = township(w, "l.township_id", &mut args);
    let sql = format!(
        "SELECT COUNT(*) AS n, CAST(COALESCE(SUM(l.eligible_bidders), 0) AS BIGINT) AS s1, \
         CAST(COALESCE(SUM(l.bid_count), 0) AS BIGINT) AS s2, CAST(0 AS BIGINT) AS s3 \
         FROM listings l WHERE l.closed_at >= ? AND l.closed_at < ? AND l.eligible_bidders >= 2{t}"
    );
    one(conn, &sql, &args)
}

/// Contracts certified in the year (not later cancelled): count, area (centimu), annual rent.
pub fn certified(conn: &mut DbConn, w: &Window) -> QResult<Sums> {
    let mut args = vec![Arg::Ts(w.from), Arg::Ts(w.to)];
    let t = township(w, "c.township_id", &mut args);
    let not = in_list(&[ContractStatus::Cancelled.as_str()], &mut args);
    let sql = format!(
        "SELECT COUNT(*) AS n, CAST(COALESCE(SUM(c.total_area_centimu), 0) AS BIGINT) AS s1, \
         CAST(COALESCE(SUM(c.annual_rent_fen), 0) AS BIGINT) AS s2, CAST(0 AS BIGINT) AS s3 \
         FROM contracts c WHERE c.certified_at >= ? AND c.certified_at < ?{t} AND c.status NOT IN {not}"
    );
    one(conn, &sql, &args)
}

/// Rent per mu of the contracts certified in the year, by (land type, use): one row per
/// group with the number of contracts and the sum of their prices. A contract over parcels of
/// two land types counts in both groups.
pub fn rent_by_group(conn: &mut DbConn, w: &Window) -> QResult<Vec<PairSum>> {
    let (base, args) = rent_base(w);
    let sql = format!(
        "SELECT g.a AS a, g.b AS b, COUNT(*) AS n, CAST(SUM(g.v) AS BIGINT) AS total FROM ({base}) g \
         GROUP BY g.a, g.b"
    );
    load(conn, &sql, &args)
}

/// The median price of each group: the one or two middle rows by window functions, summed
/// (`n` is 1 or 2; the caller rounds the mean of the two).
pub fn rent_medians(conn: &mut DbConn, w: &Window) -> QResult<Vec<PairSum>> {
    let (base, args) = rent_base(w);
    let sql = format!(
        "SELECT m.a AS a, m.b AS b, COUNT(*) AS n, CAST(SUM(m.v) AS BIGINT) AS total FROM ( \
           SELECT g.a, g.b, g.v, \
             ROW_NUMBER() OVER (PARTITION BY g.a, g.b ORDER BY g.v) AS rn, \
             COUNT(*) OVER (PARTITION BY g.a, g.b) AS cnt \
           FROM ({base}) g) m \
         WHERE m.rn IN ((m.cnt + 1) / 2, (m.cnt + 2) / 2) GROUP BY m.a, m.b"
    );
    load(conn, &sql, &args)
}

fn rent_base(w: &Window) -> (String, Vec<Arg>) {
    let mut args = vec![Arg::Ts(w.from), Arg::Ts(w.to)];
    let t = township(w, "c.township_id", &mut args);
    let not = in_list(&[ContractStatus::Cancelled.as_str()], &mut args);
    (
        format!(
            "SELECT DISTINCT c.id AS id, p.land_type AS a, c.intended_use AS b, c.price_fen AS v \
             FROM contracts c JOIN contract_parcels p ON p.contract_id = c.id \
             WHERE c.certified_at >= ? AND c.certified_at < ?{t} AND c.status NOT IN {not}"
        ),
        args,
    )
}

/// Deals awarded in the year: count, and the sum of each deal's price over its listing's
/// reserve in basis points (rounded down per deal).
pub fn over_reserve(conn: &mut DbConn, w: &Window) -> QResult<Sums> {
    let (base, args) = over_reserve_base(w);
    let sql = format!(
        "SELECT COUNT(*) AS n, CAST(COALESCE(SUM(o.v), 0) AS BIGINT) AS s1, \
         CAST(COALESCE(SUM(o.negotiated), 0) AS BIGINT) AS s2, CAST(0 AS BIGINT) AS s3 FROM ({base}) o"
    );
    one(conn, &sql, &args)
}

/// The median of the same per-deal figure: the middle one or two rows (`n`, `s1` = their sum).
pub fn over_reserve_median(conn: &mut DbConn, w: &Window) -> QResult<Sums> {
    let (base, args) = over_reserve_base(w);
    let sql = format!(
        "SELECT COUNT(*) AS n, CAST(COALESCE(SUM(m.v), 0) AS BIGINT) AS s1, CAST(0 AS BIGINT) AS s2, \
         CAST(0 AS BIGINT) AS s3 FROM ( \
           SELECT o.v, ROW_NUMBER() OVER (ORDER BY o.v) AS rn, COUNT(*) OVER () AS cnt FROM ({base}) o) m \
         WHERE m.rn IN ((m.cnt + 1) / 2, (m.cnt + 2) / 2)"
    );
    one(conn, &sql, &args)
}

fn over_reserve_base(w: &Window) -> (String, Vec<Arg>) {
    let mut args = vec![Arg::Ts(w.from), Arg::Ts(w.to)];
    let t = township(w, "l.township_id", &mut args);
    (
        format!(
            "SELECT (d.price_fen - l.reserve_price_fen) * 10000 / l.reserve_price_fen AS v, \
             CASE WHEN d.negotiated THEN 1 ELSE 0 END AS negotiated \
             FROM deals d JOIN listings l ON l.id = d.listing_id \
             WHERE d.awarded_at >= ? AND d.awarded_at < ?{t} AND d.round = 1"
        ),
        args,
    )
}

/// Deposits forfeited on listings that closed in the year: count and amount.
pub fn forfeited(conn: &mut DbConn, w: &Window) -> QResult<Sums> {
    let mut args = vec![Arg::Ts(w.from), Arg::Ts(w.to)];
    let t = township(w, "l.township_id", &mut args);
    let st = in_list(&[DepositStatus::Forfeited.as_str()], &mut args);
    let sql = format!(
        "SELECT COUNT(*) AS n, CAST(COALESCE(SUM(r.deposit_amount_fen), 0) AS BIGINT) AS s1, \
         CAST(0 AS BIGINT) AS s2, CAST(0 AS BIGINT) AS s3 \
         FROM registrations r JOIN listings l ON l.id = r.listing_id \
         WHERE l.closed_at >= ? AND l.closed_at < ?{t} AND r.deposit_status IN {st}"
    );
    one(conn, &sql, &args)
}

/// Policies issued in the year (not cancelled): count, premiums, the subsidy, the holders'
/// share.
pub fn premiums(conn: &mut DbConn, w: &Window) -> QResult<Sums> {
    let mut args = vec![Arg::Ts(w.from), Arg::Ts(w.to)];
    let t = township(w, "p.township_id", &mut args);
    let not = in_list(&[PolicyStatus::Cancelled.as_str()], &mut args);
    let sql = format!(
        "SELECT COUNT(*) AS n, CAST(COALESCE(SUM(p.premium_fen), 0) AS BIGINT) AS s1, \
         CAST(COALESCE(SUM(p.subsidy_fen), 0) AS BIGINT) AS s2, \
         CAST(COALESCE(SUM(p.holder_premium_fen), 0) AS BIGINT) AS s3 \
         FROM policies p WHERE p.issued_at >= ? AND p.issued_at < ?{t} AND p.status NOT IN {not}"
    );
    one(conn, &sql, &args)
}

/// Installments due in the year, by how they stand: `paid_on_time` (settled by payments all
/// received by the due date), `paid_late`, and every other status by name; `total` is the
/// amount due.
pub fn installments(conn: &mut DbConn, w: &Window) -> QResult<Vec<KeyCount>> {
    let mut args = vec![
        Arg::Text(InstallmentStatus::Paid.as_str().into()),
        Arg::Text("paid_late".into()),
        Arg::Text("paid_on_time".into()),
        Arg::Day(w.first_day),
        Arg::Day(w.next_year),
    ];
    let t = township(w, "i.township_id", &mut args);
    let not = in_list(&[InstallmentStatus::Cancelled.as_str()], &mut args);
    let sql = format!(
        "SELECT k.key AS key, COUNT(*) AS n, CAST(COALESCE(SUM(k.amount_fen), 0) AS BIGINT) AS total FROM ( \
           SELECT i.amount_fen, CASE WHEN i.status = ? THEN \
             (CASE WHEN EXISTS (SELECT 1 FROM payments p WHERE p.installment_id = i.id AND p.received_on > i.due_date) \
              THEN ? ELSE ? END) ELSE i.status END AS key \
           FROM installments i WHERE i.due_date >= ? AND i.due_date < ?{t} AND i.status NOT IN {not}) k \
         GROUP BY k.key"
    );
    load(conn, &sql, &args)
}

/// Claims filed in the year: count, claimed, approved and paid amounts.
pub fn claims(conn: &mut DbConn, w: &Window) -> QResult<Sums> {
    let mut args = vec![Arg::Ts(w.from), Arg::Ts(w.to)];
    let t = township(w, "c.township_id", &mut args);
    let sql = format!(
        "SELECT COUNT(*) AS n, CAST(COALESCE(SUM(c.claimed_fen), 0) AS BIGINT) AS s1, \
         CAST(COALESCE(SUM(COALESCE(c.approved_fen, 0)), 0) AS BIGINT) AS s2, \
         CAST(COALESCE(SUM(c.paid_fen), 0) AS BIGINT) AS s3 \
         FROM claims c WHERE c.created_at >= ? AND c.created_at < ?{t}"
    );
    one(conn, &sql, &args)
}

/// Recoveries (追偿) received in the year: count and amount.
pub fn recoveries(conn: &mut DbConn, w: &Window) -> QResult<Sums> {
    let mut args = vec![Arg::Day(w.first_day), Arg::Day(w.next_year)];
    let t = township(w, "c.township_id", &mut args);
    let sql = format!(
        "SELECT COUNT(*) AS n, CAST(COALESCE(SUM(r.amount_fen), 0) AS BIGINT) AS s1, \
         CAST(0 AS BIGINT) AS s2, CAST(0 AS BIGINT) AS s3 \
         FROM recoveries r JOIN claims c ON c.id = r.claim_id \
         WHERE r.received_on >= ? AND r.received_on < ?{t}"
    );
    one(conn, &sql, &args)
}

/// Per village of one township: listings closed, contracts certified, area certified
/// (centimu) in the year. For the township's staff.
#[derive(Debug, Clone, QueryableByName)]
pub struct VillageRow {
    #[diesel(sql_type = Text)]
    pub village_id: String,
    #[diesel(sql_type = Text)]
    pub name: String,
    #[diesel(sql_type = BigInt)]
    pub listings_closed: i64,
    #[diesel(sql_type = BigInt)]
    pub contracts_certified: i64,
    #[diesel(sql_type = BigInt)]
    pub area_centimu: i64,
    #[diesel(sql_type = Nullable<BigInt>)]
    pub defaulted: Option<i64>,
}

pub fn by_village(conn: &mut DbConn, w: &Window, township_id: &str) -> QResult<Vec<VillageRow>> {
    let cancelled = ContractStatus::Cancelled.as_str().to_string();
    let defaulted = InstallmentStatus::Defaulted.as_str().to_string();
    let args = vec![
        Arg::Ts(w.from),
        Arg::Ts(w.to),
        Arg::Ts(w.from),
        Arg::Ts(w.to),
        Arg::Text(cancelled.clone()),
        Arg::Ts(w.from),
        Arg::Ts(w.to),
        Arg::Text(cancelled),
        Arg::Text(defaulted),
        Arg::Day(w.first_day),
        Arg::Day(w.next_year),
        Arg::Text(township_id.to_string()),
    ];
    let sql = "SELECT v.id AS village_id, v.name AS name, \
         (SELECT COUNT(*) FROM listings l WHERE l.village_id = v.id AND l.closed_at >= ? AND l.closed_at < ?) AS listings_closed, \
         (SELECT COUNT(*) FROM contracts c WHERE c.village_id = v.id AND c.certified_at >= ? AND c.certified_at < ? AND c.status <> ?) AS contracts_certified, \
         (SELECT CAST(COALESCE(SUM(c.total_area_centimu), 0) AS BIGINT) FROM contracts c WHERE c.village_id = v.id AND c.certified_at >= ? AND c.certified_at < ? AND c.status <> ?) AS area_centimu, \
         (SELECT COUNT(*) FROM installments i WHERE i.village_id = v.id AND i.status = ? AND i.due_date >= ? AND i.due_date < ?) AS defaulted \
         FROM villages v WHERE v.township_id = ? ORDER BY v.code";
    load(conn, sql, &args)
}
