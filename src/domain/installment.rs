//! The rent schedule (租金): one installment per contract year, its amount (a short last
//! year pro rata by days), its due date, and the date-driven states.

use chrono::{Days, NaiveDate};

use super::calendar::add_years;

crate::text_enum! {
    /// `scheduled → due → overdue → defaulted`, `paid`, `covered`, `cancelled`.
    pub enum InstallmentStatus {
        Scheduled = "scheduled",
        Due = "due",
        Overdue = "overdue",
        Defaulted = "defaulted",
        Paid = "paid",
        Covered = "covered",
        Cancelled = "cancelled",
    }
}

crate::text_enum! {
    /// What a recorded payment is: money received, or the winner's deposit applied to year 1.
    pub enum PaymentKind {
        Payment = "payment",
        Deposit = "deposit",
    }
}

/// One contract year of the schedule.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Period {
    /// 1-based.
    pub year: u32,
    pub start: NaiveDate,
    /// Inclusive.
    pub end: NaiveDate,
    pub due: NaiveDate,
    pub amount_fen: i64,
}

/// The start of contract year `n` (1-based): `term_start + (n − 1)` years.
pub fn year_start(term_start: NaiveDate, n: u32) -> Option<NaiveDate> {
    add_years(term_start, i32::try_from(n.checked_sub(1)?).ok()?)
}

/// `round_half_up(annual × days / full_days)`.
pub fn pro_rata(annual_fen: i64, days: i64, full_days: i64) -> Option<i64> {
    if annual_fen < 0 || days < 0 || full_days <= 0 {
        return None;
    }
    let p = (annual_fen as i128) * (days as i128);
    let d = full_days as i128;
    i64::try_from((2 * p + d) / (2 * d)).ok()
}

/// Days of `a..=b`.
fn days_inclusive(a: NaiveDate, b: NaiveDate) -> i64 {
    (b - a).num_days() + 1
}

/// The schedule of a term `term_start..=term_end` at `annual_fen` a year: periods tile the
/// term, the last one pro rata when short; each is due `due_days_before` days before it
/// starts, but never before `certified_on`. `None` for an empty term or arithmetic overflow.
pub fn schedule(
    term_start: NaiveDate,
    term_end: NaiveDate,
    annual_fen: i64,
    due_days_before: u32,
    certified_on: NaiveDate,
) -> Option<Vec<Period>> {
    if term_end < term_start || annual_fen < 0 {
        return None;
    }
    let mut out = Vec::new();
    let mut n: u32 = 1;
    loop {
        let start = year_start(term_start, n)?;
        if start > term_end {
            break;
        }
        let next = year_start(term_start, n.checked_add(1)?)?;
        let full_end = next.pred_opt()?;
        let (end, amount_fen) = if full_end <= term_end {
            (full_end, annual_fen)
        } else {
            let amount = pro_rata(
                annual_fen,
                days_inclusive(start, term_end),
                days_inclusive(start, full_end),
            )?;
            (term_end, amount)
        };
        let due = start
            .checked_sub_days(Days::new(u64::from(due_days_before)))?
            .max(certified_on);
        out.push(Period {
            year: n,
            start,
            end,
            due,
            amount_fen,
        });
        n = n.checked_add(1)?;
    }
    Some(out)
}

/// The number of installments and the total rent of a term: what the contract states.
pub fn totals(term_start: NaiveDate, term_end: NaiveDate, annual_fen: i64) -> Option<(u32, i64)> {
    let s = schedule(term_start, term_end, annual_fen, 0, NaiveDate::MIN)?;
    let total = s
        .iter()
        .try_fold(0i64, |acc, p| acc.checked_add(p.amount_fen))?;
    Some((u32::try_from(s.len()).ok()?, total))
}

impl InstallmentStatus {
    /// Money may still be received (or paid out) on it.
    pub fn is_open(self) -> bool {
        matches!(
            self,
            InstallmentStatus::Scheduled
                | InstallmentStatus::Due
                | InstallmentStatus::Overdue
                | InstallmentStatus::Defaulted
        )
    }

    /// The state the calendar gives an open installment on `today` (Shanghai date), never
    /// earlier than `self`: due on its due date, overdue once the due date has passed with
    /// something outstanding, defaulted once `grace_days` more have passed. Settled states
    /// (paid, covered, cancelled) don't move with time.
    pub fn by_date(
        self,
        today: NaiveDate,
        due: NaiveDate,
        outstanding_fen: i64,
        grace_days: u32,
    ) -> InstallmentStatus {
        use InstallmentStatus as S;
        if !self.is_open() || outstanding_fen <= 0 {
            return self;
        }
        let target = if today < due {
            S::Scheduled
        } else if today == due {
            S::Due
        } else {
            match due.checked_add_days(Days::new(u64::from(grace_days))) {
                Some(last) if today > last => S::Defaulted,
                _ => S::Overdue,
            }
        };
        if target.rank() > self.rank() {
            target
        } else {
            self
        }
    }

    fn rank(self) -> u8 {
        match self {
            InstallmentStatus::Scheduled => 0,
            InstallmentStatus::Due => 1,
            InstallmentStatus::Overdue => 2,
            InstallmentStatus::Defaulted => 3,
            _ => 4,
        }
    }

    /// After money arrived: `paid` when a payment settled it, `covered` when an insurer
    /// payout did; otherwise unchanged.
    pub fn after_money(self, outstanding_fen: i64, by_insurer: bool) -> InstallmentStatus {
        if !self.is_open() || outstanding_fen > 0 {
            return self;
        }
        if by_insurer {
            InstallmentStatus::Covered
        } else {
            InstallmentStatus::Paid
        }
    }
}

/// The reminders of an installment, each sent once.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Reminder {
    /// To the operator, 7 days before the due date.
    WeekBefore,
    /// To the operator, on the due date.
    DueToday,
    /// To the operator, once overdue.
    Overdue,
    /// To the collective and the township's staff, on default.
    Default,
}

impl Reminder {
    pub const ALL: [Reminder; 4] = [
        Reminder::WeekBefore,
        Reminder::DueToday,
        Reminder::Overdue,
        Reminder::Default,
    ];

    /// Whether this reminder is owed on `today` for an installment in `status` with its
    /// `due` date, certified on `certified_on` (reminders dated before it are never sent).
    /// Dates decide, not the state alone: after a clock jump over several dates, every
    /// reminder whose date has passed is owed (once) while money is still outstanding.
    pub fn owed(
        self,
        status: InstallmentStatus,
        today: NaiveDate,
        due: NaiveDate,
        certified_on: NaiveDate,
    ) -> bool {
        use InstallmentStatus as S;
        match self {
            Reminder::WeekBefore => {
                let Some(date) = due.checked_sub_days(Days::new(7)) else {
                    return false;
                };
                status.is_open() && date >= certified_on && today >= date
            }
            // A later state implies the earlier dates have passed: after a clock jump (or a
            // late worker) straight into default, each reminder still goes out once.
            Reminder::DueToday => {
                matches!(status, S::Due | S::Overdue | S::Defaulted) && today >= due
            }
            Reminder::Overdue => matches!(status, S::Overdue | S::Defaulted),
            Reminder::Default => status == S::Defaulted,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn d(y: i32, m: u32, day: u32) -> NaiveDate {
        NaiveDate::from_ymd_opt(y, m, day).unwrap()
    }

    #[test]
    fn whole_years_pay_the_annual_rent() {
        let s = schedule(
            d(2027, 3, 1),
            d(2030, 2, 28),
            14_247_900,
            30,
            d(2027, 1, 10),
        )
        .unwrap();
        assert_eq!(s.len(), 3);
        assert!(s.iter().all(|p| p.amount_fen == 14_247_900));
        assert_eq!(s[0].due, d(2027, 1, 30));
        assert_eq!(s[1].start, d(2028, 3, 1));
        assert_eq!(s[2].end, d(2030, 2, 28));
    }

    #[test]
    fn a_short_last_year_pays_pro_rata_by_days() {
        // 2027-03-01..=2028-08-31: year 2 runs 2028-03-01..=2028-08-31 (184 of 365 days).
        let s = schedule(d(2027, 3, 1), d(2028, 8, 31), 36_500, 0, d(2027, 1, 1)).unwrap();
        assert_eq!(s.len(), 2);
        assert_eq!(s[1].amount_fen, 18_400);
        assert_eq!(pro_rata(100, 1, 3), Some(33));
        assert_eq!(pro_rata(100, 1, 8), Some(13)); // 12.5 rounds up
    }

    #[test]
    fn a_29_february_start_moves_to_the_28th_in_common_years() {
        let s = schedule(d(2028, 2, 29), d(2031, 2, 27), 1_000, 30, d(2028, 1, 1)).unwrap();
        assert_eq!(s[0].end, d(2029, 2, 27));
        assert_eq!(s[1].start, d(2029, 2, 28));
        assert_eq!(s[2].start, d(2030, 2, 28));
        assert_eq!(s[2].end, d(2031, 2, 27));
        assert!(s.iter().all(|p| p.amount_fen == 1_000));
    }

    #[test]
    fn late_certification_makes_passed_due_dates_due_at_once() {
        let s = schedule(d(2027, 3, 1), d(2029, 2, 28), 1_000, 30, d(2027, 4, 1)).unwrap();
        assert_eq!(s[0].due, d(2027, 4, 1));
        assert_eq!(s[1].due, d(2028, 1, 31));
    }

    #[test]
    fn dates_move_an_open_installment_forward_only() {
        use InstallmentStatus as S;
        let due = d(2027, 1, 30);
        assert_eq!(
            S::Scheduled.by_date(d(2027, 1, 29), due, 5, 30),
            S::Scheduled
        );
        assert_eq!(S::Scheduled.by_date(due, due, 5, 30), S::Due);
        assert_eq!(S::Scheduled.by_date(d(2027, 1, 31), due, 5, 30), S::Overdue);
        assert_eq!(S::Due.by_date(d(2027, 3, 1), due, 5, 30), S::Overdue);
        assert_eq!(S::Due.by_date(d(2027, 3, 2), due, 5, 30), S::Defaulted);
        assert_eq!(
            S::Defaulted.by_date(d(2027, 1, 1), due, 5, 30),
            S::Defaulted
        );
        assert_eq!(S::Paid.by_date(d(2030, 1, 1), due, 0, 30), S::Paid);
        assert_eq!(S::Due.by_date(d(2030, 1, 1), due, 0, 30), S::Due);
        assert_eq!(S::Overdue.after_money(0, false), S::Paid);
        assert_eq!(S::Defaulted.after_money(0, true), S::Covered);
        assert_eq!(S::Defaulted.after_money(1, true), S::Defaulted);
    }

    #[test]
    fn reminders_dated_before_certification_are_never_owed() {
        use InstallmentStatus as S;
        let due = d(2027, 4, 1);
        assert!(!Reminder::WeekBefore.owed(S::Due, due, due, due));
        assert!(Reminder::DueToday.owed(S::Due, due, due, due));
        assert!(Reminder::WeekBefore.owed(S::Scheduled, d(2027, 3, 25), due, d(2027, 1, 1)));
        assert!(!Reminder::WeekBefore.owed(S::Scheduled, d(2027, 3, 24), due, d(2027, 1, 1)));
        assert!(!Reminder::WeekBefore.owed(S::Paid, d(2027, 3, 25), due, d(2027, 1, 1)));
        // A jump straight to default owes every earlier reminder too.
        let late = d(2027, 6, 1);
        for r in Reminder::ALL {
            assert!(r.owed(S::Defaulted, late, due, d(2027, 1, 1)), "{r:?}");
        }
        assert!(!Reminder::DueToday.owed(S::Paid, late, due, d(2027, 1, 1)));
    }

    #[test]
    fn an_installment_found_in_default_still_owes_every_earlier_reminder_once() {
        use InstallmentStatus as S;
        let due = d(2027, 4, 1);
        let later = d(2027, 6, 1);
        for r in Reminder::ALL {
            assert!(r.owed(S::Defaulted, later, due, d(2027, 1, 1)), "{r:?}");
            assert!(!r.owed(S::Paid, later, due, d(2027, 1, 1)), "{r:?}");
            assert!(!r.owed(S::Cancelled, later, due, d(2027, 1, 1)), "{r:?}");
        }
        assert!(Reminder::Overdue.owed(S::Overdue, later, due, d(2027, 1, 1)));
        assert!(!Reminder::Default.owed(S::Overdue, later, due, d(2027, 1, 1)));
    }

    fn date() -> impl Strategy<Value = NaiveDate> {
        (2000i32..2100, 1u32..=12, 1u32..=31).prop_map(|(y, m, dd)| {
            NaiveDate::from_ymd_opt(y, m, dd)
                .unwrap_or_else(|| NaiveDate::from_ymd_opt(y, m, 28).unwrap())
        })
    }

    proptest! {
        #[test]
        fn the_schedule_tiles_the_term_and_sums_to_the_total(
            start in date(),
            len_days in 0i64..(31 * 366),
            annual in 0i64..=1_000_000_000_000_000,
            due_days in 0u32..400,
            cert_offset in -800i64..800,
        ) {
            let end = start + chrono::Duration::days(len_days);
            let certified_on = start + chrono::Duration::days(cert_offset);
            let s = schedule(start, end, annual, due_days, certified_on).unwrap();
            prop_assert!(!s.is_empty());
            prop_assert_eq!(s[0].start, start);
            prop_assert_eq!(s.last().unwrap().end, end);
            for w in s.windows(2) {
                prop_assert_eq!(w[0].end.succ_opt().unwrap(), w[1].start);
                prop_assert_eq!(w[1].year, w[0].year + 1);
            }
            let mut total: i128 = 0;
            for p in &s {
                prop_assert!(p.start <= p.end);
                prop_assert!(p.due >= certified_on, "due before certification");
                prop_assert!(p.amount_fen <= annual && p.amount_fen >= 0);
                total += p.amount_fen as i128;
            }
            let (years, t) = totals(start, end, annual).unwrap();
            prop_assert_eq!(years as usize, s.len());
            prop_assert_eq!(t as i128, total);
            // Whole years pay the annual rent; only the last may be shorter.
            for p in &s[..s.len() - 1] {
                prop_assert_eq!(p.amount_fen, annual);
            }
        }
    }
}
