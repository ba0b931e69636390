//! The printable contract (土地经营权流转合同): the contract as its reader may see it — the
//! transferee's full ID number for the parties, the township's staff and admins, masked for
//! an insurer — rendered by [`crate::render::contract`].

use super::contracts::for_document;
use super::Ctx;
use crate::db::{auction as aq, queries, DbConn};
use crate::error::ApiError;
use crate::render::contract::{contract_html, ContractDocument, DocParcel, Transferee, Transferor};

/// The HTML document of a contract the caller may read (404 otherwise).
pub fn render(ctx: &Ctx, conn: &mut DbConn, id: &str) -> Result<String, ApiError> {
    let (v, full_id) = for_document(ctx, conn, id)?;
    let c = v.contract;
    let township = queries::find_township(conn, &c.township_id)?
        .ok_or_else(|| ApiError::internal("township vanished"))?;
    let village = queries::find_village(conn, &c.village_id)?
        .ok_or_else(|| ApiError::internal("village vanished"))?;
    let confirmation_no = aq::find_deal(conn, &c.deal_id)?
        .map(|d| d.confirmation_no)
        .unwrap_or_default();
    let transferor = match (
        c.transferor_name,
        c.transferor_credit_code,
        c.transferor_legal_representative,
    ) {
        (Some(name), Some(code), Some(rep)) => Some(Transferor {
            name,
            unified_social_credit_code: code,
            legal_representative: rep,
        }),
        _ => None,
    };
    let doc = ContractDocument {
        status: c.status,
        certification_no: c.certification_no,
        certified_at: c.certified_at.map(|t| t.and_utc()),
        confirmation_no,
        township_name: township.name,
        village_name: village.name,
        transferor,
        transferee: Transferee {
            legal_name: c.transferee_legal_name,
            id_type: c.transferee_id_type,
            id_number: full_id.unwrap_or(c.transferee_id_number_masked),
        },
        parcels: v
            .parcels
            .into_iter()
            .map(|p| DocParcel {
                code: p.code,
                location: p.location,
                area_centimu: p.area_centimu,
                land_type: p.land_type,
                quality_grade: p.quality_grade,
            })
            .collect(),
        total_area_centimu: c.total_area_centimu,
        intended_use: c.intended_use,
        term_start: c.term_start,
        term_end: c.term_end,
        years: c.years,
        price_fen: c.price_fen,
        annual_rent_fen: c.annual_rent_fen,
        total_rent_fen: c.total_rent_fen,
        rent_due_days_before_year: c.rent_due_days_before_year,
        insurance_required: c.insurance_required,
        transferor_signed_at: c.transferor_signed_at.map(|t| t.and_utc()),
        transferee_signed_at: c.transferee_signed_at.map(|t| t.and_utc()),
    };
    Ok(contract_html(&doc))
}
