//! Insurance mails: policies issued or missing, claims filed and paid, recoveries recorded.
//! Subjects end with the English phrase of DOMAIN.md ("Policy issued", "Insurance missing",
//! "Claim filed", "Claim paid", "Recovery recorded").

use chrono::NaiveDate;

use super::{greet, subject, Template};

fn yuan(fen: i64) -> String {
    format!("{}.{:02}元", fen / 100, (fen % 100).abs())
}

/// To the holder and the collective: the insurer issued a year's policy.
#[derive(Debug, Clone)]
pub struct PolicyIssued {
    pub name: String,
    pub policy_no: String,
    pub certification_no: String,
    pub year: i64,
    pub sum_insured_fen: i64,
}

impl Template for PolicyIssued {
    fn subject(&self) -> String {
        subject(&format!(
            "{} 第{}年 保单已签发 Policy issued",
            self.certification_no, self.year
        ))
    }
    fn body(&self) -> String {
        greet(
            &self.name,
            &format!(
                "合同{}第{}年履约保证保险已签发，保单号{}，保险金额{}。The policy {} for year {} was issued; sum insured {}.",
                self.certification_no, self.year, self.policy_no, yuan(self.sum_insured_fen),
                self.policy_no, self.year, yuan(self.sum_insured_fen)
            ),
        )
    }
}

/// To the township's staff: a contract year that needs insurance starts soon without a policy.
#[derive(Debug, Clone)]
pub struct InsuranceMissing {
    pub name: String,
    pub certification_no: String,
    pub year: i64,
    pub period_start: NaiveDate,
}

impl Template for InsuranceMissing {
    fn subject(&self) -> String {
        subject(&format!(
            "{} 第{}年 未投保 Insurance missing",
            self.certification_no, self.year
        ))
    }
    fn body(&self) -> String {
        greet(
            &self.name,
            &format!(
                "合同{}第{}年（{}起）尚无已签发的履约保证保险保单。Contract year {} starting {} has no issued policy.",
                self.certification_no, self.year, self.period_start, self.year, self.period_start
            ),
        )
    }
}

/// Which claim event an operator or collective is told about.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ClaimNotice {
    /// To the operator: a claim was filed against its default.
    Filed,
    /// To the collective: the insurer paid.
    Paid,
    /// To the operator: a recovery was recorded.
    Recovery,
}

#[derive(Debug, Clone)]
pub struct ClaimMail {
    pub notice: ClaimNotice,
    pub name: String,
    pub claim_no: String,
    pub year: i64,
    /// Claimed, paid or recovered, by the notice.
    pub amount_fen: i64,
}

impl Template for ClaimMail {
    fn subject(&self) -> String {
        let tail = match self.notice {
            ClaimNotice::Filed => "已申请理赔 Claim filed",
            ClaimNotice::Paid => "理赔已支付 Claim paid",
            ClaimNotice::Recovery => "追偿已登记 Recovery recorded",
        };
        subject(&format!("{} {}", self.claim_no, tail))
    }
    fn body(&self) -> String {
        let a = yuan(self.amount_fen);
        let text = match self.notice {
            ClaimNotice::Filed => format!(
                "因第{}年租金违约，已向保险公司申请理赔（{}），申请金额{}。A claim {} of {} was filed for the default of year {}.",
                self.year, self.claim_no, a, self.claim_no, a, self.year
            ),
            ClaimNotice::Paid => format!(
                "理赔{}已由保险公司支付{}（第{}年租金）。The insurer paid {} on claim {} (rent of year {}).",
                self.claim_no, a, self.year, a, self.claim_no, self.year
            ),
            ClaimNotice::Recovery => format!(
                "保险公司就理赔{}登记追偿款{}。The insurer recorded a recovery of {} on claim {}.",
                self.claim_no, a, a, self.claim_no
            ),
        };
        greet(&self.name, &text)
    }
}
