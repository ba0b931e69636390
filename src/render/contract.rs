//! The printable contract (土地经营权流转合同, DOMAIN.md "Contract", "Document"): one complete
//! HTML5 page with every clause, amounts in figures and in capitals, the signature times and
//! the certification, styled for A4 and loading nothing from anywhere.

use std::fmt::Write as _;

use chrono::{DateTime, FixedOffset, NaiveDate, Utc};

use super::escape_html as esc;
use crate::domain::calendar::shanghai_date;
use crate::domain::contract::ContractStatus;
use crate::domain::listing::IntendedUse;
use crate::domain::money::{format_mu, format_yuan, rmb_capitals};
use crate::domain::parcel::LandType;
use crate::domain::registration::IdType;

pub const TITLE: &str = "土地经营权流转合同";

/// Everything the document shows, frozen as the contract holds it. The caller chooses what
/// the reader may see: `transferee.id_number` is printed exactly as given (full or masked).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ContractDocument {
    pub status: ContractStatus,
    /// `JD-<township>-<year>-<seq4>` once certified.
    pub certification_no: Option<String>,
    pub certified_at: Option<DateTime<Utc>>,
    /// The deal's 成交确认书编号 `DL-<township>-<year>-<seq4>`.
    pub confirmation_no: String,
    /// The township whose trading service centre handled the deal and certifies (e.g. 漕泾镇).
    pub township_name: String,
    /// The village of the parcels (e.g. 护塘村).
    pub village_name: String,
    /// 甲方, frozen when the collective signs; `None` before: printed as blank lines.
    pub transferor: Option<Transferor>,
    /// 乙方.
    pub transferee: Transferee,
    pub parcels: Vec<DocParcel>,
    pub total_area_centimu: i64,
    pub intended_use: IntendedUse,
    /// Inclusive.
    pub term_start: NaiveDate,
    /// Inclusive.
    pub term_end: NaiveDate,
    /// The number of contract years (installments; a short last one counts).
    pub years: i64,
    /// Per mu per year.
    pub price_fen: i64,
    pub annual_rent_fen: i64,
    pub total_rent_fen: i64,
    pub rent_due_days_before_year: i64,
    pub insurance_required: bool,
    pub transferor_signed_at: Option<DateTime<Utc>>,
    pub transferee_signed_at: Option<DateTime<Utc>>,
}

/// 甲方: the village collective economic organisation.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Transferor {
    pub name: String,
    pub unified_social_credit_code: String,
    pub legal_representative: String,
}

/// 乙方: the winner.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Transferee {
    pub legal_name: String,
    pub id_type: IdType,
    /// Full or masked, as the caller decided for this reader.
    pub id_number: String,
}

/// One frozen parcel.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DocParcel {
    pub code: String,
    pub location: String,
    pub area_centimu: i64,
    pub land_type: LandType,
    /// 1–10, or none.
    pub quality_grade: Option<i64>,
}

pub fn land_type_label(t: LandType) -> &'static str {
    match t {
        LandType::Arable => "耕地",
        LandType::Garden => "园地",
        LandType::Forest => "林地",
        LandType::Aquaculture => "养殖水面",
        LandType::Facility => "设施农用地",
    }
}

pub fn intended_use_label(u: IntendedUse) -> &'static str {
    match u {
        IntendedUse::Grain => "粮食种植",
        IntendedUse::Vegetables => "蔬菜种植",
        IntendedUse::Fruit => "水果种植",
        IntendedUse::Aquaculture => "水产养殖",
        IntendedUse::Livestock => "畜禽养殖",
        IntendedUse::MixedFarming => "种养结合",
        IntendedUse::Agritourism => "休闲农业",
    }
}

pub fn id_type_label(t: IdType) -> &'static str {
    match t {
        IdType::ResidentId => "居民身份证",
        IdType::UnifiedSocialCreditCode => "统一社会信用代码",
    }
}

pub fn status_label(s: ContractStatus) -> &'static str {
    match s {
        ContractStatus::Draft => "待签订",
        ContractStatus::Signed => "已签订，待鉴证",
        ContractStatus::Certified => "已鉴证",
        ContractStatus::Active => "履行中",
        ContractStatus::Completed => "已履行完毕",
        ContractStatus::Terminated => "已解除",
        ContractStatus::Cancelled => "已作废",
    }
}

/// `2027年3月1日`.
fn cn_date(d: NaiveDate) -> String {
    d.format("%Y年%-m月%-d日").to_string()
}

/// Shanghai local time of an instant (UTC+8 all year, the date as `calendar` decides it):
/// `2027年1月5日 10:30`.
fn cn_time(t: DateTime<Utc>) -> String {
    let clock = match FixedOffset::east_opt(8 * 3600) {
        Some(shanghai) => t.with_timezone(&shanghai).format("%H:%M").to_string(),
        None => t.format("%H:%M").to_string(),
    };
    format!("{} {clock}", cn_date(shanghai_date(t)))
}

/// An amount as `142,479.00元（大写：壹拾肆万贰仟肆佰柒拾玖元整）`.
fn amount(fen: i64) -> String {
    format!(
        "<span class=\"fig\">{}</span>（大写：<span class=\"cap\">{}</span>）",
        format_yuan(fen),
        rmb_capitals(fen)
    )
}

/// A line to fill in by hand.
const BLANK: &str = "<span class=\"blank\"></span>";

fn or_blank(v: Option<&str>) -> String {
    match v {
        Some(s) if !s.trim().is_empty() => esc(s),
        _ => BLANK.to_string(),
    }
}

pub const STYLE: &str = r#"
@page { size: A4; margin: 20mm; }
* { box-sizing: border-box; }
html {
  font-family: "Noto Serif CJK SC", "Noto Sans CJK SC", "Source Han Serif SC", "SimSun", serif;
  font-size: 10.5pt;
  line-height: 1.75;
  color: #000;
  background: #fff;
  -webkit-print-color-adjust: exact;
  print-color-adjust: exact;
}
body { margin: 0; }
@media screen {
  body { max-width: 210mm; margin: 0 auto; padding: 16mm 20mm; }
}
h1 {
  font-size: 20pt;
  text-align: center;
  letter-spacing: 0.3em;
  margin: 0 0 4mm;
  font-weight: 700;
}
.refs { width: 100%; border: 0; margin-bottom: 4mm; font-size: 9.5pt; }
.refs td { border: 0; padding: 0; }
.refs td.r { text-align: right; }
.notice {
  border: 1.5pt solid #000;
  padding: 2mm 4mm;
  margin: 0 0 4mm;
  text-align: center;
  font-weight: 700;
}
h2 {
  font-size: 11pt;
  margin: 4mm 0 1.5mm;
  break-after: avoid;
  page-break-after: avoid;
}
p { margin: 0 0 1.5mm; text-align: justify; }
p.clause { text-indent: 2em; }
ol.items { margin: 0 0 1.5mm; padding-left: 3.2em; }
ol.items li { margin: 0 0 0.8mm; text-align: justify; }
table.grid {
  width: 100%;
  border-collapse: collapse;
  margin: 1.5mm 0 2mm;
}
table.grid th, table.grid td {
  border: 0.75pt solid #000;
  padding: 1.2mm 2mm;
  vertical-align: middle;
}
table.grid th { font-weight: 700; background: #f0f0f0; text-align: center; }
table.grid td.num { text-align: right; white-space: nowrap; font-variant-numeric: tabular-nums; }
table.grid td.c { text-align: center; white-space: nowrap; }
table.parcels th { white-space: nowrap; }
table.grid td.code { white-space: nowrap; }
table.grid th.k { width: 26%; text-align: left; }
thead { display: table-header-group; }
tfoot { display: table-row-group; }
tr, th, td { break-inside: avoid; page-break-inside: avoid; }
.fig { white-space: nowrap; }
.cap { letter-spacing: 0.02em; }
.blank {
  display: inline-block;
  min-width: 42mm;
  border-bottom: 0.75pt solid #000;
  height: 1.1em;
  vertical-align: bottom;
}
table.signatures {
  width: 100%;
  border-collapse: collapse;
  margin-top: 8mm;
  table-layout: fixed;
  break-inside: avoid;
  page-break-inside: avoid;
}
table.signatures td { width: 50%; padding: 0 6mm 3mm 0; vertical-align: top; }
table.signatures tr:first-child td { border-top: 0.75pt solid #000; padding-top: 2mm; }
table.signatures tr.seal td { height: 16mm; }
.certification {
  margin-top: 6mm;
  border: 0.75pt solid #000;
  padding: 3mm 4mm;
  break-inside: avoid;
  page-break-inside: avoid;
}
.certification p { margin: 0 0 1.5mm; }
footer { margin-top: 6mm; font-size: 9pt; color: #333; }
"#;

/// The printable contract: a complete `<!doctype html>` page in Chinese.
pub fn contract_html(doc: &ContractDocument) -> String {
    let mut h = String::with_capacity(24 * 1024);
    let township = esc(&doc.township_name);
    let village = esc(&doc.village_name);
    let centre = format!("{township}农村产权交易服务中心");
    let transferor = doc.transferor.as_ref();
    let transferor_name = or_blank(transferor.map(|t| t.name.as_str()));
    let transferee_name = esc(&doc.transferee.legal_name);

    h.push_str("<!doctype html>\n<html lang=\"zh-CN\">\n<head>\n<meta charset=\"utf-8\">\n");
    // Nothing may be fetched: no fonts, scripts, images or frames, only the inline style.
    h.push_str(
        "<meta http-equiv=\"Content-Security-Policy\" content=\"default-src 'none'; \
         style-src 'unsafe-inline'\">\n",
    );
    h.push_str("<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n");
    let _ = writeln!(h, "<title>{TITLE}</title>");
    let _ = writeln!(h, "<style>{STYLE}</style>\n</head>\n<body>");

    // Heading and references.
    let _ = writeln!(h, "<h1>{TITLE}</h1>");
    let cert_no = doc
        .certification_no
        .as_deref()
        .map_or_else(|| "（未鉴证）".to_string(), esc);
    let _ = writeln!(
        h,
        "<table class=\"refs\"><tr><td>鉴证编号：{cert_no}</td>\
         <td class=\"r\">成交确认书编号：{}</td></tr>\
         <tr><td>合同状态：{}</td><td class=\"r\">{}{}</td></tr></table>",
        esc(&doc.confirmation_no),
        status_label(doc.status),
        township,
        village,
    );
    match doc.status {
        ContractStatus::Draft | ContractStatus::Signed => {
            h.push_str(
                "<p class=\"notice\">本合同尚未经鉴证，仅供双方核对签署，鉴证前不生效。</p>\n",
            );
        }
        ContractStatus::Cancelled => {
            h.push_str("<p class=\"notice\">本合同已作废。</p>\n");
        }
        ContractStatus::Terminated => {
            h.push_str("<p class=\"notice\">本合同已解除。</p>\n");
        }
        ContractStatus::Certified | ContractStatus::Active | ContractStatus::Completed => {}
    }

    let _ = writeln!(
        h,
        "<p class=\"clause\">根据《中华人民共和国民法典》《中华人民共和国农村土地承包法》\
         《农村土地经营权流转管理办法》等法律法规，甲方将下列土地的经营权经{centre}\
         公开交易流转给乙方。甲乙双方本着平等、自愿、诚信、有偿的原则，依据成交确认书\
         （编号：{}）订立本合同，共同遵守。</p>",
        esc(&doc.confirmation_no)
    );

    // 第一条 parties.
    h.push_str("<h2>第一条　合同当事人</h2>\n<table class=\"grid parties\">\n");
    let _ = writeln!(
        h,
        "<tr><th class=\"k\">甲方（流转方）</th><td>{transferor_name}</td></tr>\n\
         <tr><th class=\"k\">统一社会信用代码</th><td>{}</td></tr>\n\
         <tr><th class=\"k\">法定代表人</th><td>{}</td></tr>",
        or_blank(transferor.map(|t| t.unified_social_credit_code.as_str())),
        or_blank(transferor.map(|t| t.legal_representative.as_str())),
    );
    let _ = writeln!(
        h,
        "<tr><th class=\"k\">乙方（受让方）</th><td>{transferee_name}</td></tr>\n\
         <tr><th class=\"k\">证件类型</th><td>{}</td></tr>\n\
         <tr><th class=\"k\">证件号码</th><td>{}</td></tr>\n</table>",
        id_type_label(doc.transferee.id_type),
        esc(&doc.transferee.id_number),
    );

    // 第二条 the land.
    let _ = writeln!(
        h,
        "<h2>第二条　流转土地</h2>\n<p class=\"clause\">甲方将其所有的位于{township}{village}\
         的下列{}宗土地的经营权流转给乙方，总面积{}亩。地块以“一地一码”登记的地块编码为准。</p>",
        doc.parcels.len(),
        format_mu(doc.total_area_centimu),
    );
    h.push_str(
        "<table class=\"grid parcels\">\n<thead><tr><th>序号</th><th>地块编码</th>\
         <th>坐落</th><th>面积（亩）</th><th>地类</th><th>质量等级</th></tr></thead>\n<tbody>\n",
    );
    for (i, p) in doc.parcels.iter().enumerate() {
        let grade = p
            .quality_grade
            .map_or_else(|| "—".to_string(), |g| format!("{g}等"));
        let _ = writeln!(
            h,
            "<tr><td class=\"c\">{}</td><td class=\"code\">{}</td><td>{}</td>\
             <td class=\"num\">{}</td><td class=\"c\">{}</td><td class=\"c\">{grade}</td></tr>",
            i + 1,
            esc(&p.code),
            esc(&p.location),
            format_mu(p.area_centimu),
            land_type_label(p.land_type),
        );
    }
    let _ = writeln!(
        h,
        "</tbody>\n<tfoot><tr><th colspan=\"3\">合计</th><td class=\"num\"><b>{}</b></td>\
         <td colspan=\"2\"></td></tr></tfoot>\n</table>",
        format_mu(doc.total_area_centimu),
    );

    // 第三条 term.
    let _ = writeln!(
        h,
        "<h2>第三条　流转期限</h2>\n<p class=\"clause\">流转期限自{}起至{}止（含首尾两日），\
         共{}个合同年度。第n个合同年度自起始日起满n−1年之日开始（2月29日在平年为2月28日），\
         至下一合同年度开始的前一日结束，最后一个合同年度至{}结束。流转期限不超过承包农户\
         承包期的剩余期限。</p>",
        cn_date(doc.term_start),
        cn_date(doc.term_end),
        doc.years,
        cn_date(doc.term_end),
    );

    // 第四条 use.
    let _ = writeln!(
        h,
        "<h2>第四条　土地用途</h2>\n<p class=\"clause\">乙方受让的土地经营权用于<b>{}</b>。\
         乙方不得改变土地的农业用途，不得擅自改变本合同约定的用途，不得在流转土地上\
         建设与农业生产无关的设施；永久基本农田只得用于粮食和蔬菜等农作物种植。</p>",
        intended_use_label(doc.intended_use),
    );

    // 第五条 price.
    let _ = writeln!(
        h,
        "<h2>第五条　流转价款</h2>\n<table class=\"grid money\">\n\
         <tr><th class=\"k\">流转单价</th><td>每亩每年{}</td></tr>\n\
         <tr><th class=\"k\">年租金</th><td>{}</td></tr>\n\
         <tr><th class=\"k\">租金总额</th><td>{}</td></tr>\n</table>\n\
         <p class=\"clause\">年租金按流转单价乘以总面积{}亩计算（四舍五入至分）。最后一个\
         合同年度不足一年的，按该年度实际天数占整年天数的比例计收。租金总额为{}个合同年度\
         租金之和。</p>",
        amount(doc.price_fen),
        amount(doc.annual_rent_fen),
        amount(doc.total_rent_fen),
        format_mu(doc.total_area_centimu),
        doc.years,
    );

    // 第六条 payment.
    let _ = writeln!(
        h,
        "<h2>第六条　支付方式</h2>\n<ol class=\"items\">\
         <li>租金按合同年度<b>每年预付</b>：乙方应于每个合同年度开始之日前<b>{}日</b>\
         付清该年度租金；付款日早于本合同鉴证日的，于鉴证后即行支付。</li>\
         <li>乙方为本次交易缴纳的交易保证金，于本合同鉴证时转作第一个合同年度的租金。</li>\
         <li>租金支付至甲方账户，甲方或{centre}登记收款并出具收据。</li></ol>",
        doc.rent_due_days_before_year,
    );

    // 第七条 expropriation.
    h.push_str(
        "<h2>第七条　征收补偿</h2>\n<p class=\"clause\">流转期内流转土地被依法征收、\
         征用或占用的，土地补偿费归承包农户所有；乙方自行投入的青苗、地上附着物及设施的\
         补偿费归乙方所有。涉及的土地自征收之日起不再流转，租金按实际使用期限结算。</p>\n",
    );

    // 第八条 rights and duties.
    h.push_str(
        "<h2>第八条　双方权利和义务</h2>\n<ol class=\"items\">\
         <li>甲方按约定交付土地，依法维护乙方的生产经营自主权，不得干涉乙方依法进行的\
         正常生产经营活动。</li>\
         <li>乙方应当按照约定用途使用土地，不得改变土地的农业用途。</li>\
         <li>乙方不得弃耕抛荒，流转土地<b>连续闲置不得满两年</b>。</li>\
         <li>乙方应当保护和合理利用土地，保持和提升地力，不得损坏农田基础设施，\
         不得造成土壤污染或破坏耕作层。</li>\
         <li>乙方未经甲方同意不得再流转土地经营权；流转期满，乙方应将土地交还甲方。</li>\
         </ol>\n",
    );

    // 第九条 breach.
    h.push_str(
        "<h2>第九条　违约责任</h2>\n<ol class=\"items\">\
         <li>乙方逾期支付租金的，应在宽限期内补足；宽限期满仍未付清的，构成租金违约，\
         甲方有权解除合同并要求乙方支付所欠租金。</li>\
         <li>乙方擅自改变土地用途、弃耕抛荒连续两年以上、或给土地造成严重损害的，甲方有权\
         解除合同，并要求乙方恢复原状、赔偿损失。</li>\
         <li>甲方违约干涉乙方生产经营或提前收回土地的，应赔偿乙方因此受到的损失。</li>\
         <li>双方协商一致的，可以解除本合同；解除前已开始的合同年度所欠租金仍应支付。</li>\
         </ol>\n",
    );

    // 第十条 insurance.
    h.push_str("<h2>第十条　履约保证保险</h2>\n");
    if doc.insurance_required {
        h.push_str(
            "<p class=\"clause\">本合同<b>须办理</b>土地流转履约保证保险。乙方应按合同年度\
             投保，以甲方为被保险人；本合同自第一个合同年度的保单签发之日起进入履行。乙方\
             租金违约的，由保险人依保险合同向甲方赔付，并依法向乙方追偿。</p>\n",
        );
    } else {
        h.push_str(
            "<p class=\"clause\">本合同<b>不要求</b>办理土地流转履约保证保险，自鉴证之日起\
             进入履行。</p>\n",
        );
    }

    // 第十一条 disputes.
    let _ = writeln!(
        h,
        "<h2>第十一条　争议解决</h2>\n<p class=\"clause\">因本合同发生争议的，双方应协商解决；\
         协商不成的，可以请求村民委员会、{township}人民政府等调解；不愿调解或调解不成的，\
         可以向农村土地承包仲裁委员会申请仲裁，也可以直接向人民法院提起诉讼。</p>",
    );

    // 第十二条 effect.
    let _ = writeln!(
        h,
        "<h2>第十二条　合同生效</h2>\n<p class=\"clause\">本合同经甲乙双方签署，并经{centre}\
         鉴证后生效。本合同未尽事宜，双方可以另行签订补充协议，补充协议与本合同具有同等\
         效力。</p>",
    );

    // Signatures.
    let signed = |t: Option<DateTime<Utc>>| t.map_or_else(|| BLANK.to_string(), cn_time);
    let _ = writeln!(
        h,
        "<table class=\"signatures\">\n\
         <tr><td>甲方（盖章）：{transferor_name}</td>\
         <td>乙方（签字或盖章）：{transferee_name}</td></tr>\n\
         <tr><td>法定代表人（签字）：{}</td><td>{}：{}</td></tr>\n\
         <tr class=\"seal\"><td></td><td></td></tr>\n\
         <tr><td>签署时间：{}</td><td>签署时间：{}</td></tr>\n</table>",
        or_blank(transferor.map(|t| t.legal_representative.as_str())),
        id_type_label(doc.transferee.id_type),
        esc(&doc.transferee.id_number),
        signed(doc.transferor_signed_at),
        signed(doc.transferee_signed_at),
    );

    // Certification.
    let certified = doc
        .certification_no
        .as_deref()
        .map_or_else(|| BLANK.to_string(), esc);
    let _ = writeln!(
        h,
        "<div class=\"certification\"><p><b>鉴证意见</b>：{}</p>\
         <p>鉴证机构：{centre}</p><p>鉴证编号：{certified}</p><p>鉴证时间：{}</p></div>",
        if doc.certification_no.is_some() {
            "经审查，本合同的流转主体、交易程序和合同内容符合法律法规的规定，予以鉴证。"
        } else {
            "（待鉴证）"
        },
        signed(doc.certified_at),
    );
    let _ = writeln!(
        h,
        "<footer>本合同文本依据成交确认书 {} 生成，合同内容自成交确认时冻结；\
         时间均为北京时间。</footer>\n</body>\n</html>",
        esc(&doc.confirmation_no),
    );
    h
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    fn sample() -> ContractDocument {
        ContractDocument {
            status: ContractStatus::Active,
            certification_no: Some("JD-CJ-2027-0003".into()),
            certified_at: Some(Utc.with_ymd_and_hms(2027, 1, 8, 1, 0, 0).unwrap()),
            confirmation_no: "DL-CJ-2026-0012".into(),
            township_name: "漕泾镇".into(),
            village_name: "护塘村".into(),
            transferor: Some(Transferor {
                name: "上海市金山区漕泾镇护塘村股份经济合作社".into(),
                unified_social_credit_code: "N2310116MF1234567X".into(),
                legal_representative: "王建国".into(),
            }),
            transferee: Transferee {
                legal_name: "上海绿田农业发展有限公司".into(),
                id_type: IdType::UnifiedSocialCreditCode,
                id_number: "91310116MA1J8XYZ3K".into(),
            },
            parcels: vec![
                DocParcel {
                    code: "JS-CJ-0001-017".into(),
                    location: "护塘村3组东侧".into(),
                    area_centimu: 10_000,
                    land_type: LandType::Arable,
                    quality_grade: Some(3),
                },
                DocParcel {
                    code: "JS-CJ-0001-018".into(),
                    location: "护塘村3组西侧".into(),
                    area_centimu: 5_831,
                    land_type: LandType::Facility,
                    quality_grade: None,
                },
            ],
            total_area_centimu: 15_831,
            intended_use: IntendedUse::Vegetables,
            term_start: NaiveDate::from_ymd_opt(2027, 3, 1).unwrap(),
            term_end: NaiveDate::from_ymd_opt(2036, 2, 29).unwrap(),
            years: 9,
            price_fen: 90_000,
            annual_rent_fen: 14_247_900,
            total_rent_fen: 128_231_100,
            rent_due_days_before_year: 30,
            insurance_required: true,
            // 10:30 on 5 January 2027 in Shanghai.
            transferor_signed_at: Some(Utc.with_ymd_and_hms(2027, 1, 5, 2, 30, 0).unwrap()),
            transferee_signed_at: Some(Utc.with_ymd_and_hms(2027, 1, 4, 16, 5, 0).unwrap()),
        }
    }

    #[test]
    fn a_complete_chinese_html5_page() {
        let html = contract_html(&sample());
        assert!(html.starts_with("<!doctype html>\n<html lang=\"zh-CN\">"));
        assert!(html.contains("<meta charset=\"utf-8\">"));
        assert!(html.contains("<title>土地经营权流转合同</title>"));
        assert!(html.contains("<h1>土地经营权流转合同</h1>"));
        assert!(html.trim_end().ends_with("</html>"));
        assert!(html.contains("@page { size: A4; margin: 20mm; }"));
        assert!(html.contains(
            r#""Noto Serif CJK SC", "Noto Sans CJK SC", "Source Han Serif SC", "SimSun", serif"#
        ));
        assert!(html.contains("break-inside: avoid"));
        // Nothing to download.
        for fetch in [
            "http:", "https:", "src=", "<script", "<img", "<link", "@import", "url(",
        ] {
            assert!(!html.contains(fetch), "{fetch}");
        }
    }

    #[test]
    fn every_clause_is_there() {
        let html = contract_html(&sample());
        for clause in [
            "第一条　合同当事人",
            "甲方（流转方）",
            "乙方（受让方）",
            "第二条　流转土地",
            "第三条　流转期限",
            "第四条　土地用途",
            "第五条　流转价款",
            "第六条　支付方式",
            "第七条　征收补偿",
            "第八条　双方权利和义务",
            "第九条　违约责任",
            "第十条　履约保证保险",
            "第十一条　争议解决",
            "第十二条　合同生效",
            // expropriation: households get the land compensation, the operator its own
            "土地补偿费归承包农户所有",
            "补偿费归乙方所有",
            // duties
            "不得改变土地的农业用途",
            "连续闲置不得满两年",
            "保护和合理利用土地",
            // disputes
            "漕泾镇人民政府等调解",
            "农村土地承包仲裁委员会",
            "人民法院",
            // payment
            "每年预付",
            "开始之日前<b>30日</b>",
            "本合同<b>须办理</b>土地流转履约保证保险",
        ] {
            assert!(html.contains(clause), "missing {clause}");
        }
    }

    #[test]
    fn parties_parcels_term_and_use() {
        let html = contract_html(&sample());
        for s in [
            "上海市金山区漕泾镇护塘村股份经济合作社",
            "N2310116MF1234567X",
            "王建国",
            "上海绿田农业发展有限公司",
            "<td>统一社会信用代码</td>",
            "91310116MA1J8XYZ3K",
            "JS-CJ-0001-017",
            "护塘村3组东侧",
            "<td class=\"num\">100.00</td>",
            "<td class=\"num\">58.31</td>",
            "<b>158.31</b>",
            "总面积158.31亩",
            ">耕地<",
            ">设施农用地<",
            ">3等<",
            ">—<",
            "自2027年3月1日起至2036年2月29日止",
            "共9个合同年度",
            "<b>蔬菜种植</b>",
            "鉴证编号：JD-CJ-2027-0003",
            "成交确认书编号：DL-CJ-2026-0012",
            "合同状态：履行中",
            "漕泾镇农村产权交易服务中心",
        ] {
            assert!(html.contains(s), "missing {s}");
        }
    }

    #[test]
    fn amounts_in_figures_and_capitals() {
        let html = contract_html(&sample());
        for s in [
            "每亩每年<span class=\"fig\">900.00元</span>（大写：<span class=\"cap\">玖佰元整</span>）",
            "<span class=\"fig\">142,479.00元</span>（大写：<span class=\"cap\">壹拾肆万贰仟肆佰柒拾玖元整</span>）",
            "<span class=\"fig\">1,282,311.00元</span>（大写：<span class=\"cap\">壹佰贰拾捌万贰仟叁佰壹拾壹元整</span>）",
        ] {
            assert!(html.contains(s), "missing {s}");
        }
    }

    #[test]
    fn signature_and_certification_times_in_shanghai() {
        let html = contract_html(&sample());
        assert!(html.contains("签署时间：2027年1月5日 10:30"));
        // 16:05 UTC on the 4th is already the 5th in Shanghai.
        assert!(html.contains("签署时间：2027年1月5日 00:05"));
        assert!(html.contains("鉴证时间：2027年1月8日 09:00"));
        assert!(html.contains("予以鉴证"));
    }

    #[test]
    fn an_unsigned_draft_has_blanks() {
        let mut doc = sample();
        doc.status = ContractStatus::Draft;
        doc.transferor = None;
        doc.transferor_signed_at = None;
        doc.transferee_signed_at = None;
        doc.certification_no = None;
        doc.certified_at = None;
        doc.insurance_required = false;
        let html = contract_html(&doc);
        assert!(html.contains("合同状态：待签订"));
        assert!(html.contains("鉴证编号：（未鉴证）"));
        assert!(html.contains("本合同尚未经鉴证"));
        assert!(html.contains(
            "<tr><th class=\"k\">甲方（流转方）</th><td><span class=\"blank\"></span></td></tr>"
        ));
        assert!(html.contains("签署时间：<span class=\"blank\"></span>"));
        assert!(html.contains("鉴证时间：<span class=\"blank\"></span>"));
        assert!(html.contains("本合同<b>不要求</b>办理"));
        assert!(!html.contains("N2310116MF1234567X"));
        assert!(!html.contains("予以鉴证"));
    }

    #[test]
    fn the_id_number_goes_through_as_given() {
        let mut doc = sample();
        doc.transferee = Transferee {
            legal_name: "张伟".into(),
            id_type: IdType::ResidentId,
            id_number: "310101199001011234".into(),
        };
        let full = contract_html(&doc);
        assert!(full.contains("<td>居民身份证</td>"));
        assert!(full.contains("<td>310101199001011234</td>"));
        doc.transferee.id_number = crate::domain::registration::mask_id("310101199001011234");
        let masked = contract_html(&doc);
        assert!(masked.contains("<td>3101**********1234</td>"));
        assert!(!masked.contains("310101199001011234"));
    }

    #[test]
    fn every_dynamic_string_is_escaped() {
        let evil = "<script>alert('x')</script>&\"";
        let mut doc = sample();
        doc.confirmation_no = evil.into();
        doc.certification_no = Some(evil.into());
        doc.township_name = evil.into();
        doc.village_name = evil.into();
        doc.transferor = Some(Transferor {
            name: evil.into(),
            unified_social_credit_code: evil.into(),
            legal_representative: evil.into(),
        });
        doc.transferee.legal_name = evil.into();
        doc.transferee.id_number = evil.into();
        doc.parcels[0].code = evil.into();
        doc.parcels[0].location = evil.into();
        let html = contract_html(&doc);
        assert!(!html.contains("<script"));
        assert!(!html.contains("alert('x')"));
        assert!(html.contains("&lt;script&gt;alert(&#39;x&#39;)&lt;/script&gt;&amp;&quot;"));
    }

    #[test]
    fn every_label_is_chinese() {
        for t in LandType::ALL {
            assert!(!land_type_label(*t).is_ascii());
        }
        for u in IntendedUse::ALL {
            assert!(!intended_use_label(*u).is_ascii());
        }
        for s in ContractStatus::ALL {
            assert!(!status_label(*s).is_ascii());
        }
    }
}
