//! Writes a sample printable contract (土地经营权流转合同) to a file for a look in a browser or
//! a print to PDF: `cargo run --example contract_sample -- /tmp/contract.html [draft]`.
//! The data are made up but shaped like a real deal in Jinshan district, Shanghai.

use chrono::{NaiveDate, TimeZone, Utc};
use landx::domain::contract::ContractStatus;
use landx::domain::installment::totals;
use landx::domain::listing::IntendedUse;
use landx::domain::money::annual_rent_fen;
use landx::domain::parcel::LandType;
use landx::domain::registration::IdType;
use landx::render::contract::{contract_html, ContractDocument, DocParcel, Transferee, Transferor};

fn main() {
    let mut args = std::env::args().skip(1);
    let out = args.next().unwrap_or_else(|| "/tmp/contract.html".into());
    let draft = args.next().as_deref() == Some("draft");

    let parcels = vec![
        DocParcel {
            code: "JS-CJ-0001-017".into(),
            location: "护塘村3组，随塘河以东、漕廊公路以南".into(),
            area_centimu: 6_245,
            land_type: LandType::Arable,
            quality_grade: Some(3),
        },
        DocParcel {
            code: "JS-CJ-0001-018".into(),
            location: "护塘村3组，随塘河以东".into(),
            area_centimu: 4_870,
            land_type: LandType::Arable,
            quality_grade: Some(4),
        },
        DocParcel {
            code: "JS-CJ-0001-021".into(),
            location: "护塘村5组，村道北侧".into(),
            area_centimu: 3_516,
            land_type: LandType::Garden,
            quality_grade: None,
        },
        DocParcel {
            code: "JS-CJ-0001-022".into(),
            location: "护塘村5组，育苗大棚区".into(),
            area_centimu: 1_200,
            land_type: LandType::Facility,
            quality_grade: None,
        },
    ];
    let total_area_centimu: i64 = parcels.iter().map(|p| p.area_centimu).sum();
    let price_fen = 90_000; // 900.00 元/亩/年
    let annual = annual_rent_fen(price_fen, total_area_centimu).expect("rent fits");
    let term_start = NaiveDate::from_ymd_opt(2027, 3, 1).expect("date");
    let term_end = NaiveDate::from_ymd_opt(2036, 2, 29).expect("date");
    let (years, total) = totals(term_start, term_end, annual).expect("schedule");
    let at = |d, h, m| Utc.with_ymd_and_hms(2027, 1, d, h, m, 0).single();

    let doc = ContractDocument {
        status: if draft {
            ContractStatus::Draft
        } else {
            ContractStatus::Active
        },
        certification_no: (!draft).then(|| "JD-CJ-2027-0003".to_string()),
        // 9:00 on 8 January 2027, Shanghai time.
        certified_at: if draft { None } else { at(8, 1, 0) },
        confirmation_no: "DL-CJ-2026-0012".into(),
        township_name: "漕泾镇".into(),
        village_name: "护塘村".into(),
        transferor: (!draft).then(|| Transferor {
            name: "上海市金山区漕泾镇护塘村股份经济合作社".into(),
            unified_social_credit_code: "N2310116MF1234567X".into(),
            legal_representative: "王建国".into(),
        }),
        transferee: Transferee {
            legal_name: "上海绿田农业发展有限公司".into(),
            id_type: IdType::UnifiedSocialCreditCode,
            id_number: "91310116MA1J8XYZ3K".into(),
        },
        parcels,
        total_area_centimu,
        intended_use: IntendedUse::Vegetables,
        term_start,
        term_end,
        years: i64::from(years),
        price_fen,
        annual_rent_fen: annual,
        total_rent_fen: total,
        rent_due_days_before_year: 30,
        insurance_required: true,
        // 10:30 on 5 January and 14:12 on 6 January 2027, Shanghai time.
        transferor_signed_at: if draft { None } else { at(5, 2, 30) },
        transferee_signed_at: if draft { None } else { at(6, 6, 12) },
    };
    std::fs::write(&out, contract_html(&doc)).expect("write the sample");
    println!("{out}");
}
