//! Contract and rent mails: reminders to the township's staff about contracts left unsigned
//! or uncertified, and the rent reminders of the schedule. Subjects end with the English
//! phrase of DOMAIN.md ("Rent due in 7 days", "Rent due today", "Rent overdue", "Rent in
//! default").

use chrono::NaiveDate;

use super::{greet, subject, Template};

/// A contract left in draft or signed for `contract_reminder_days` (to the township's staff).
#[derive(Debug, Clone)]
pub struct ContractStalled {
    pub name: String,
    pub confirmation_no: String,
    /// true: both signed, waiting for certification; false: waiting for signatures.
    pub signed: bool,
    pub days: i64,
}

impl Template for ContractStalled {
    fn subject(&self) -> String {
        if self.signed {
            subject(&format!(
                "{} 合同待鉴证 Contract awaiting certification",
                self.confirmation_no
            ))
        } else {
            subject(&format!(
                "{} 合同待签订 Contract awaiting signatures",
                self.confirmation_no
            ))
        }
    }
    fn body(&self) -> String {
        let what = if self.signed {
            format!(
                "成交确认书{}对应的流转合同双方已签订 {} 天，尚未鉴证。The contract has been signed for {} days and awaits certification.",
                self.confirmation_no, self.days, self.days
            )
        } else {
            format!(
                "成交确认书{}对应的流转合同已生成 {} 天，尚未由双方签订。The contract has awaited signatures for {} days.",
                self.confirmation_no, self.days, self.days
            )
        };
        greet(&self.name, &what)
    }
}

/// Which rent mail.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RentNotice {
    DueInWeek,
    DueToday,
    Overdue,
    Default,
}

/// A rent reminder about one installment.
#[derive(Debug, Clone)]
pub struct RentReminder {
    pub notice: RentNotice,
    /// The recipient's name (the transferee's legal name, or a user's display name).
    pub name: String,
    pub certification_no: String,
    pub year: i64,
    pub due_date: NaiveDate,
    pub outstanding_fen: i64,
}

impl Template for RentReminder {
    fn subject(&self) -> String {
        let tail = match self.notice {
            RentNotice::DueInWeek => "租金7日后到期 Rent due in 7 days",
            RentNotice::DueToday => "租金今日到期 Rent due today",
            RentNotice::Overdue => "租金逾期 Rent overdue",
            RentNotice::Default => "租金违约 Rent in default",
        };
        subject(&format!(
            "{} 第{}年 {}",
            self.certification_no, self.year, tail
        ))
    }
    fn body(&self) -> String {
        let amount = yuan(self.outstanding_fen);
        let text = match self.notice {
            RentNotice::DueInWeek | RentNotice::DueToday => format!(
                "合同{}第{}年租金应于{}前支付，尚欠{}。Rent of year {} is due on {}; outstanding {}.",
                self.certification_no, self.year, self.due_date, amount, self.year, self.due_date, amount
            ),
            RentNotice::Overdue => format!(
                "合同{}第{}年租金已于{}到期，尚欠{}，已逾期。Rent of year {} was due on {} and is overdue; outstanding {}.",
                self.certification_no, self.year, self.due_date, amount, self.year, self.due_date, amount
            ),
            RentNotice::Default => format!(
                "合同{}第{}年租金（{}到期）宽限期满仍未付清，尚欠{}，已构成违约。Rent of year {} (due {}) is in default; outstanding {}.",
                self.certification_no, self.year, self.due_date, amount, self.year, self.due_date, amount
            ),
        };
        greet(&self.name, &text)
    }
}

/// `12345` fen → `123.45元`.
fn yuan(fen: i64) -> String {
    format!("{}.{:02}元", fen / 100, (fen % 100).abs())
}
