//! Statistics per township (or district-wide) and Shanghai calendar year: public aggregates,
//! and per village for the township's staff and admins. Every figure is a SQL aggregate over
//! the year's events (see `db::stats`); only rounding happens here.

use serde::Serialize;
use utoipa::ToSchema;

use super::Ctx;
use crate::db::stats::{self as sq, Window};
use crate::db::{queries, DbConn};
use crate::domain::installment::InstallmentStatus;
use crate::domain::listing::{IntendedUse, ListingStatus};
use crate::domain::money::format_mu;
use crate::domain::open_data::{mean, shanghai_year_bounds, year_dates};
use crate::domain::parcel::LandType;
use crate::error::ApiError;

#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct Stats {
    /// Shanghai calendar year.
    pub year: i32,
    /// The township, or null for the whole district (every township).
    pub township_id: Option<String>,
    /// Listings whose trading ended (or that were cancelled after approval) in the year, by
    /// their status now.
    pub listings: ListingOutcomes,
    /// Contracts certified (鉴证) in the year, and their area and annual rent.
    pub transfers: Transfers,
    /// Price per mu and year of the contracts certified in the year, by land type and use.
    pub rent_per_mu: Vec<RentGroup>,
    /// Auctions (two or more eligible bidders) that ended in the year.
    pub auctions: Auctions,
    /// Winning prices over the reserve, for first-round deals awarded in the year.
    pub price_over_reserve: OverReserve,
    /// Deposits forfeited on listings that ended in the year.
    pub deposits_forfeited: Amounts,
    /// Policies issued in the year (not cancelled).
    pub insurance: Insurance,
    /// Rent installments due in the year, by how they stand.
    pub installments: Installments,
    /// Claims filed in the year.
    pub claims: Claims,
    /// Recoveries (追偿) received in the year.
    pub recoveries: Amounts,
    /// Per village: only for the township's staff and admins (null otherwise).
    pub villages: Option<Vec<VillageStats>>,
}

#[derive(Debug, Clone, Default, Serialize, ToSchema)]
pub struct ListingOutcomes {
    pub closed: i64,
    pub awarded: i64,
    pub contracted: i64,
    pub failed: i64,
    pub cancelled: i64,
}

#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct Transfers {
    pub contracts_certified: i64,
    /// Mu with two decimals.
    pub area_mu: String,
    pub annual_rent_fen: i64,
}

#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct RentGroup {
    pub land_type: LandType,
    pub intended_use: IntendedUse,
    pub contracts: i64,
    /// Fen per mu per year, rounded half up.
    pub average_fen: i64,
    /// Fen per mu per year (the mean of the two middle values, rounded half up, for an even
    /// count).
    pub median_fen: i64,
}

#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct Auctions {
    pub held: i64,
    pub eligible_bidders: i64,
    pub bids: i64,
    /// Eligible bidders per auction, two decimals (null without an auction).
    pub average_bidders: Option<f64>,
}

#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct OverReserve {
    pub deals: i64,
    /// Of which negotiated (协议转让, at the reserve).
    pub negotiated: i64,
    /// Mean of each deal's `(price − reserve) × 10 000 / reserve` (rounded down per deal),
    /// in basis points of the reserve; null without a deal.
    pub average_bp: Option<i64>,
    pub median_bp: Option<i64>,
}

#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct Amounts {
    pub count: i64,
    pub amount_fen: i64,
}

#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct Insurance {
    pub policies: i64,
    pub premium_fen: i64,
    /// The government subsidy's share of the premiums.
    pub subsidy_fen: i64,
    /// What the operators paid.
    pub holder_premium_fen: i64,
}

#[derive(Debug, Clone, Default, Serialize, ToSchema)]
pub struct Installments {
    pub due: i64,
    pub amount_fen: i64,
    /// Paid in full, every payment received by the due date.
    pub paid_on_time: i64,
    /// Paid in full, some of it after the due date.
    pub paid_late: i64,
    /// Paid by the insurer (履约保险) after a default.
    pub covered: i64,
    pub overdue: i64,
    pub defaulted: i64,
    /// Not yet due, or due and within its grace.
    pub open: i64,
}

#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct Claims {
    pub filed: i64,
    pub claimed_fen: i64,
    pub approved_fen: i64,
    pub paid_fen: i64,
}

#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct VillageStats {
    pub village_id: String,
    pub name: String,
    pub listings_closed: i64,
    pub contracts_certified: i64,
    pub area_mu: String,
    pub installments_defaulted: i64,
}

/// The statistics of `year` for one township (`Some`) or the district. An unknown township is
/// 404; a year outside 1900–9998 is the caller's 400.
pub fn compute(
    ctx: &Ctx,
    conn: &mut DbConn,
    year: i32,
    township_id: Option<&str>,
) -> Result<Stats, ApiError> {
    if let Some(t) = township_id {
        queries::find_township(conn, t)?.ok_or(ApiError::NotFound)?;
    }
    let ((from, to), (first_day, next_year)) = shanghai_year_bounds(year)
        .zip(year_dates(year))
        .ok_or_else(|| ApiError::BadRequest("query parameter `year` is out of range".into()))?;
    let w = Window {
        from: from.naive_utc(),
        to: to.naive_utc(),
        first_day,
        next_year,
        township_id: township_id.map(str::to_string),
    };
    let mut listings = ListingOutcomes::default();
    for row in sq::listings_by_status(conn, &w)? {
        listings.closed += row.n;
        match ListingStatus::parse(&row.key) {
            Some(ListingStatus::Awarded) => listings.awarded += row.n,
            Some(ListingStatus::Contracted) => listings.contracted += row.n,
            Some(ListingStatus::Failed) => listings.failed += row.n,
            Some(ListingStatus::Cancelled) => listings.cancelled += row.n,
            _ => {}
        }
    }
    let c = sq::certified(conn, &w)?;
    let medians = sq::rent_medians(conn, &w)?;
    let mut rent_per_mu: Vec<RentGroup> = sq::rent_by_group(conn, &w)?
        .into_iter()
        .filter_map(|g| {
            let land_type = LandType::parse(&g.a)?;
            let intended_use = IntendedUse::parse(&g.b)?;
            let median = medians
                .iter()
                .find(|m| m.a == g.a && m.b == g.b)
                .and_then(|m| mean(i128::from(m.total), m.n))?;
            Some(RentGroup {
                land_type,
                intended_use,
                contracts: g.n,
                average_fen: mean(i128::from(g.total), g.n)?,
                median_fen: median,
            })
        })
        .collect();
    rent_per_mu.sort_by(|a, b| {
        (a.land_type.as_str(), a.intended_use.as_str())
            .cmp(&(b.land_type.as_str(), b.intended_use.as_str()))
    });
    let a = sq::auctions(conn, &w)?;
    let o = sq::over_reserve(conn, &w)?;
    let om = sq::over_reserve_median(conn, &w)?;
    let f = sq::forfeited(conn, &w)?;
    let p = sq::premiums(conn, &w)?;
    let mut inst = Installments::default();
    for row in sq::installments(conn, &w)? {
        inst.due += row.n;
        inst.amount_fen = inst.amount_fen.saturating_add(row.total);
        match (row.key.as_str(), InstallmentStatus::parse(&row.key)) {
            ("paid_on_time", _) => inst.paid_on_time += row.n,
            ("paid_late", _) => inst.paid_late += row.n,
            (_, Some(InstallmentStatus::Covered)) => inst.covered += row.n,
            (_, Some(InstallmentStatus::Overdue)) => inst.overdue += row.n,
            (_, Some(InstallmentStatus::Defaulted)) => inst.defaulted += row.n,
            _ => inst.open += row.n,
        }
    }
    let cl = sq::claims(conn, &w)?;
    let rec = sq::recoveries(conn, &w)?;
    let villages = match township_id {
        Some(t) if ctx.caller.as_ref().is_some_and(|c| c.oversees_township(t)) => Some(
            sq::by_village(conn, &w, t)?
                .into_iter()
                .map(|v| VillageStats {
                    village_id: v.village_id,
                    name: v.name,
                    listings_closed: v.listings_closed,
                    contracts_certified: v.contracts_certified,
                    area_mu: format_mu(v.area_centimu),
                    installments_defaulted: v.defaulted.unwrap_or(0),
                })
                .collect(),
        ),
        _ => None,
    };
    Ok(Stats {
        year,
        township_id: township_id.map(str::to_string),
        listings,
        transfers: Transfers {
            contracts_certified: c.n,
            area_mu: format_mu(c.s1),
            annual_rent_fen: c.s2,
        },
        rent_per_mu,
        auctions: Auctions {
            held: a.n,
            eligible_bidders: a.s1,
            bids: a.s2,
            average_bidders: mean(i128::from(a.s1) * 100, a.n).map(|x| x as f64 / 100.0),
        },
        price_over_reserve: OverReserve {
            deals: o.n,
            negotiated: o.s2,
            average_bp: mean(i128::from(o.s1), o.n),
            median_bp: mean(i128::from(om.s1), om.n),
        },
        deposits_forfeited: Amounts {
            count: f.n,
            amount_fen: f.s1,
        },
        insurance: Insurance {
            policies: p.n,
            premium_fen: p.s1,
            subsidy_fen: p.s2,
            holder_premium_fen: p.s3,
        },
        installments: inst,
        claims: Claims {
            filed: cl.n,
            claimed_fen: cl.s1,
            approved_fen: cl.s2,
            paid_fen: cl.s3,
        },
        recoveries: Amounts {
            count: rec.n,
            amount_fen: rec.s1,
        },
        villages,
    })
}
