//! The online auction (网络竞价): English ascending with a timed countdown, anti-sniping
//! extension and the collective members' priority right (优先权). Pure: `now` is an argument.

use chrono::{DateTime, Duration, Utc};

use super::FieldError;

/// The state an accepted bid is recorded in (bids have no other).
pub const BID_ACCEPTED: &str = "accepted";

/// The auction as the rules see it when a bid arrives.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuctionState {
    pub reserve_fen: i64,
    pub increment_fen: i64,
    pub starts_at: DateTime<Utc>,
    pub current_ends_at: DateTime<Utc>,
    pub extension_secs: i64,
    /// `None` until the first bid.
    pub current_price_fen: Option<i64>,
    pub leader: Option<Leader>,
    /// The listing is in status `auction`.
    pub open: bool,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Leader {
    pub registration_id: String,
    pub member_verified: bool,
}

/// The bidder as the rules see it: `None` registration = not registered at all.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Bidder {
    pub registration_id: Option<String>,
    pub eligible: bool,
    pub member_verified: bool,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum BidRefusal {
    /// Outside `starts_at ≤ now < current_ends_at`, or the listing isn't in `auction`.
    Closed,
    /// Not registered, not qualified or deposit not confirmed.
    NotEligible,
    AlreadyLeading,
    /// Below reserve, below current + increment, or off the increment grid.
    TooLow(String),
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Accepted {
    pub price_fen: i64,
    pub priority: bool,
    pub current_ends_at: DateTime<Utc>,
    /// The end moved (anti-sniping).
    pub extended: bool,
}

/// A bid's amount is at most `max_price_fen` (DOMAIN.md, "Money" rule 4), so no rent, premium
/// or total computed from it can overflow. A check of the request body: it runs after the
/// role and the listing's visibility and before the auction's state ([`place_bid`]).
pub fn check_bid_amount(amount_fen: i64, max_price_fen: i64) -> Result<(), FieldError> {
    if amount_fen > max_price_fen {
        return Err(FieldError::new(
            "amount_fen",
            format!("must be at most {max_price_fen}"),
        ));
    }
    Ok(())
}

/// The n of a bidder's public alias 竞买人 n: the number of its earlier bids on the listing,
/// else the next after the highest given so far (`highest`: `None` when nobody has bid), so
/// bidders are numbered in the order of their first accepted bid.
pub fn bidder_number(earlier: Option<i64>, highest: Option<i64>) -> i64 {
    earlier.unwrap_or_else(|| highest.unwrap_or(0).saturating_add(1))
}

/// Decides a bid, checking in the contract's order: window, eligibility, leader, amount.
pub fn place_bid(
    a: &AuctionState,
    b: &Bidder,
    amount_fen: i64,
    now: DateTime<Utc>,
) -> Result<Accepted, BidRefusal> {
    if !a.open || now < a.starts_at || now >= a.current_ends_at {
        return Err(BidRefusal::Closed);
    }
    let Some(reg) = b.registration_id.as_deref().filter(|_| b.eligible) else {
        return Err(BidRefusal::NotEligible);
    };
    if a.leader.as_ref().is_some_and(|l| l.registration_id == reg) {
        return Err(BidRefusal::AlreadyLeading);
    }
    if amount_fen < a.reserve_fen {
        return Err(BidRefusal::TooLow(format!(
            "below the reserve price {}",
            a.reserve_fen
        )));
    }
    if a.increment_fen <= 0
        || (amount_fen as i128 - a.reserve_fen as i128) % a.increment_fen as i128 != 0
    {
        return Err(BidRefusal::TooLow(format!(
            "must be the reserve {} plus a whole number of increments of {}",
            a.reserve_fen, a.increment_fen
        )));
    }
    let priority = match a.current_price_fen {
        None => false,
        Some(p) if amount_fen >= p.saturating_add(a.increment_fen) => false,
        Some(p)
            if amount_fen == p
                && b.member_verified
                && a.leader.as_ref().is_some_and(|l| !l.member_verified) =>
        {
            true
        }
        Some(p) => {
            return Err(BidRefusal::TooLow(format!(
                "must be at least the current price {} plus the increment {}",
                p, a.increment_fen
            )))
        }
    };
    let ext =
        Duration::try_seconds(a.extension_secs.clamp(1, 86_400 * 366)).unwrap_or(Duration::days(1));
    // The rule sets the end to now + extension; it is an extension only if the end moves.
    let ends = if a.current_ends_at - now <= ext {
        now.checked_add_signed(ext).unwrap_or(a.current_ends_at)
    } else {
        a.current_ends_at
    };
    let extended = ends > a.current_ends_at;
    Ok(Accepted {
        price_fen: amount_fen,
        priority,
        current_ends_at: ends,
        extended,
    })
}

/// A bidder's standing for ranking: its highest accepted bid.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Standing {
    pub registration_id: String,
    pub amount_fen: i64,
    pub priority: bool,
    /// Acceptance order of that bid.
    pub seq: i64,
}

/// Ranks bidders: higher amount first; on equal amounts a priority bid above the bid it
/// matched, otherwise the earlier bid first.
pub fn rank(mut s: Vec<Standing>) -> Vec<Standing> {
    s.sort_by(|a, b| {
        b.amount_fen
            .cmp(&a.amount_fen)
            .then(b.priority.cmp(&a.priority))
            .then(a.seq.cmp(&b.seq))
    });
    s
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;
    use proptest::prelude::*;

    fn t(s: i64) -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2027, 2, 1, 2, 0, 0).unwrap() + Duration::seconds(s)
    }

    #[test]
    fn a_bidder_keeps_its_number_and_a_new_one_takes_the_next() {
        assert_eq!(bidder_number(None, None), 1);
        assert_eq!(bidder_number(None, Some(3)), 4);
        assert_eq!(bidder_number(Some(2), Some(3)), 2);
        assert_eq!(bidder_number(Some(2), None), 2);
        assert_eq!(bidder_number(None, Some(i64::MAX)), i64::MAX);
    }

    fn state() -> AuctionState {
        AuctionState {
            reserve_fen: 100_000,
            increment_fen: 1_000,
            starts_at: t(0),
            current_ends_at: t(3600),
            extension_secs: 300,
            current_price_fen: None,
            leader: None,
            open: true,
        }
    }

    fn bidder(id: &str, member: bool) -> Bidder {
        Bidder {
            registration_id: Some(id.into()),
            eligible: true,
            member_verified: member,
        }
    }

    #[test]
    fn bid_amount_bounded_by_max_price() {
        assert_eq!(check_bid_amount(1_000, 1_000), Ok(()));
        assert_eq!(
            check_bid_amount(i64::MIN, 1_000),
            Ok(()),
            "too low is the state's call"
        );
        for amount in [1_001, i64::MAX, i64::MAX - i64::MAX % 1_000] {
            let e = check_bid_amount(amount, 1_000).unwrap_err();
            assert_eq!(e.field, "amount_fen");
        }
    }

    #[test]
    fn order_of_checks() {
        let mut a = state();
        a.leader = Some(Leader {
            registration_id: "r1".into(),
            member_verified: false,
        });
        a.current_price_fen = Some(100_000);
        // closed beats everything else
        assert_eq!(
            place_bid(&a, &bidder("r1", false), 1, t(4000)),
            Err(BidRefusal::Closed)
        );
        let mut ineligible = bidder("r1", false);
        ineligible.eligible = false;
        assert_eq!(
            place_bid(&a, &ineligible, 1, t(10)),
            Err(BidRefusal::NotEligible)
        );
        assert_eq!(
            place_bid(&a, &bidder("r1", false), 1, t(10)),
            Err(BidRefusal::AlreadyLeading)
        );
        assert!(matches!(
            place_bid(&a, &bidder("r2", false), 1, t(10)),
            Err(BidRefusal::TooLow(_))
        ));
    }

    #[test]
    fn window_edges() {
        let a = state();
        assert_eq!(
            place_bid(&a, &bidder("r1", false), 100_000, t(-1)),
            Err(BidRefusal::Closed)
        );
        assert!(place_bid(&a, &bidder("r1", false), 100_000, t(0)).is_ok());
        assert_eq!(
            place_bid(&a, &bidder("r1", false), 100_000, t(3600)),
            Err(BidRefusal::Closed)
        );
    }

    #[test]
    fn grid_and_priority() {
        let mut a = state();
        assert!(matches!(
            place_bid(&a, &bidder("r1", false), 100_500, t(1)),
            Err(BidRefusal::TooLow(_))
        ));
        let ok = place_bid(&a, &bidder("r1", false), 100_000, t(1)).unwrap();
        assert!(!ok.priority && !ok.extended);
        a.current_price_fen = Some(100_000);
        a.leader = Some(Leader {
            registration_id: "r1".into(),
            member_verified: false,
        });
        // equal amount: only a verified member over a non-member leader
        assert!(place_bid(&a, &bidder("r2", false), 100_000, t(2)).is_err());
        let p = place_bid(&a, &bidder("r2", true), 100_000, t(2)).unwrap();
        assert!(p.priority);
        a.leader = Some(Leader {
            registration_id: "r2".into(),
            member_verified: true,
        });
        assert!(
            place_bid(&a, &bidder("r3", true), 100_000, t(3)).is_err(),
            "no priority over a member"
        );
        assert!(place_bid(&a, &bidder("r1", false), 101_000, t(3)).is_ok());
    }

    #[test]
    fn anti_sniping() {
        let a = state();
        let r = place_bid(&a, &bidder("r1", false), 100_000, t(3300)).unwrap();
        assert!(
            !r.extended,
            "exactly extension_secs before the end: the end stays put"
        );
        assert_eq!(r.current_ends_at, t(3600));
        let r = place_bid(&a, &bidder("r1", false), 100_000, t(3500)).unwrap();
        assert_eq!(r.current_ends_at, t(3800));
        let r = place_bid(&a, &bidder("r1", false), 100_000, t(3299)).unwrap();
        assert!(!r.extended);
    }

    #[test]
    fn ranking() {
        let r = rank(vec![
            Standing {
                registration_id: "a".into(),
                amount_fen: 100,
                priority: false,
                seq: 1,
            },
            Standing {
                registration_id: "b".into(),
                amount_fen: 100,
                priority: true,
                seq: 2,
            },
            Standing {
                registration_id: "c".into(),
                amount_fen: 90,
                priority: false,
                seq: 3,
            },
        ]);
        let ids: Vec<&str> = r.iter().map(|s| s.registration_id.as_str()).collect();
        assert_eq!(ids, ["b", "a", "c"]);
    }

    /// A reference model written independently of `place_bid`, in the most literal reading of
    /// DOMAIN.md, to check it against on random sequences. Times are seconds after
    /// `auction_starts_at`.
    #[derive(Debug, Clone)]
    struct Model {
        reserve: i64,
        inc: i64,
        ext: i64,
        open: bool,
        price: Option<i64>,
        leader: Option<usize>,
        ends: i64,
    }

    /// What the model (or `place_bid`) decides about one bid. `TooLow`'s message is free text:
    /// the refusal is compared by kind.
    #[derive(Debug, Clone, PartialEq, Eq)]
    enum Verdict {
        Closed,
        NotEligible,
        AlreadyLeading,
        TooLow,
        Accepted {
            priority: bool,
            extended: bool,
            ends: i64,
        },
    }

    #[derive(Debug, Clone)]
    struct Who {
        registered: bool,
        eligible: bool,
        member: bool,
    }

    impl Model {
        fn decide(&self, people: &[Who], who: usize, amount: i64, now: i64) -> Verdict {
            let me = &people[who];
            // Bids only while the listing is in `auction` and starts_at ≤ placed_at < ends.
            if !(self.open && 0 <= now && now < self.ends) {
                return Verdict::Closed;
            }
            if !(me.registered && me.eligible) {
                return Verdict::NotEligible;
            }
            if self.leader == Some(who) {
                return Verdict::AlreadyLeading;
            }
            // b = reserve + k × increment for a whole k ≥ 0, in exact arithmetic.
            let (b, r, i) = (amount as i128, self.reserve as i128, self.inc as i128);
            let on_grid = b >= r && (b - r) % i == 0;
            let priority = match self.price {
                None => false,
                Some(p) => {
                    b == p as i128
                        && me.member
                        && !people[self.leader.expect("a price has a leader")].member
                }
            };
            let raises = match self.price {
                None => b >= r,
                Some(p) => b >= p as i128 + i,
            };
            if !(on_grid && (raises || priority)) {
                return Verdict::TooLow;
            }
            // Anti-sniping: within `ext` of the end, the end becomes now + ext, which moves
            // it only when strictly less than `ext` was left.
            let left = self.ends - now;
            Verdict::Accepted {
                priority,
                extended: left < self.ext,
                ends: if left <= self.ext {
                    now + self.ext
                } else {
                    self.ends
                },
            }
        }
    }

    fn verdict(got: &Result<Accepted, BidRefusal>) -> Verdict {
        match got {
            Err(BidRefusal::Closed) => Verdict::Closed,
            Err(BidRefusal::NotEligible) => Verdict::NotEligible,
            Err(BidRefusal::AlreadyLeading) => Verdict::AlreadyLeading,
            Err(BidRefusal::TooLow(_)) => Verdict::TooLow,
            Ok(a) => Verdict::Accepted {
                priority: a.priority,
                extended: a.extended,
                ends: (a.current_ends_at - t(0)).num_seconds(),
            },
        }
    }

    /// The largest price and increment the API accepts (`max_price_fen`) and the longest
    /// extension (`MAX_EXTENSION_SECS`).
    const MAX_PRICE_FEN: i64 = 100_000_000_000;
    const MAX_EXTENSION_SECS: i64 = 86_400;

    /// The amount a step bids, chosen relative to the auction as it stands so that every
    /// verdict is reached often: `pick` selects the kind, `k` and `off` scale it.
    fn amount(m: &Model, pick: u8, k: u64, off: u64) -> i64 {
        let current = m.price.unwrap_or(m.reserve);
        let steps_left = ((MAX_PRICE_FEN - m.reserve) / m.inc) as u64;
        match pick {
            // on the grid anywhere up to the largest accepted price
            0 => m.reserve + (k % (steps_left + 1)) as i64 * m.inc,
            // the current price (a priority bid when a member matches a non-member)
            1 => current,
            // the current price plus 0..3 increments
            2 => current.saturating_add((k % 3) as i64 * m.inc),
            // one fen short of the next valid raise
            3 => current.saturating_add(m.inc) - 1,
            // off the grid
            4 => {
                let grid = m.reserve + (k % (steps_left + 1)) as i64 * m.inc;
                grid + 1 + (off % (m.inc - 1).max(1) as u64) as i64
            }
            // below the reserve
            5 => m.reserve - 1 - (off % m.reserve as u64) as i64,
            // anything the API accepts
            _ => (k % (MAX_PRICE_FEN as u64 + 1)) as i64,
        }
    }

    proptest! {
        #[test]
        fn random_bid_sequences_match_the_model(
            reserve in 1i64..=MAX_PRICE_FEN,
            inc_choice in (0u8..3, 1i64..=MAX_PRICE_FEN, 1i64..=1_000),
            ext in 1i64..=MAX_EXTENSION_SECS,
            duration in 1i64..=3 * MAX_EXTENSION_SECS,
            open in prop::bool::weighted(0.95),
            people in proptest::collection::vec(
                (prop::bool::weighted(0.9), prop::bool::weighted(0.85), any::<bool>()),
                2..6,
            ),
            first_at in -600i64..600,
            steps in proptest::collection::vec(
                (0usize..6, 0u8..7, any::<u64>(), any::<u64>(), 0u8..4, any::<u64>()),
                1..60,
            ),
        ) {
            // Increments: anywhere up to the maximum, or small against the reserve so long
            // bidding wars stay under the maximum price.
            let inc = match inc_choice {
                (0, wide, _) => wide,
                (_, _, small) => small,
            };
            let people: Vec<Who> = people
                .into_iter()
                .map(|(registered, eligible, member)| Who { registered, eligible, member })
                .collect();
            let mut a = AuctionState {
                reserve_fen: reserve,
                increment_fen: inc,
                starts_at: t(0),
                current_ends_at: t(duration),
                extension_secs: ext,
                current_price_fen: None,
                leader: None,
                open,
            };
            let mut m = Model { reserve, inc, ext, open, price: None, leader: None, ends: duration };
            let mut now = first_at;
            for (who, pick, k, off, pace, jump) in steps {
                let who = who % people.len();
                // Mostly close together, sometimes right at the end, sometimes far.
                now += match pace {
                    0 => 0,
                    1 => (jump % 60) as i64,
                    2 => (jump % (2 * ext as u64 + 1)) as i64,
                    // around the end: one second before, at it, one after
                    _ => match m.ends - now {
                        left if left > 0 => left - 1 + (jump % 3) as i64,
                        _ => (jump % 3) as i64,
                    },
                };
                let amount = amount(&m, pick, k, off);
                let b = Bidder {
                    registration_id: people[who].registered.then(|| format!("r{who}")),
                    eligible: people[who].eligible,
                    member_verified: people[who].member,
                };
                let expect = m.decide(&people, who, amount, now);
                let got = place_bid(&a, &b, amount, t(now));
                prop_assert_eq!(
                    verdict(&got), expect.clone(),
                    "who={} amount={} now={} model={:?}", who, amount, now, m
                );
                if let Verdict::Accepted { ends, .. } = expect {
                    let acc = got.expect("accepted");
                    prop_assert!(acc.price_fen >= m.price.unwrap_or(0), "the price never decreases");
                    prop_assert!(ends >= m.ends, "the end only moves later");
                    prop_assert_eq!(acc.price_fen, amount);
                    m.price = Some(amount);
                    m.leader = Some(who);
                    m.ends = ends;
                    a.current_price_fen = Some(acc.price_fen);
                    a.leader = Some(Leader {
                        registration_id: format!("r{who}"),
                        member_verified: people[who].member,
                    });
                    a.current_ends_at = acc.current_ends_at;
                }
            }
        }
    }
}
