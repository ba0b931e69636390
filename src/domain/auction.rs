//! The online auction (网络竞价): English ascending with a timed countdown, anti-sniping
//! extension and the collective members' priority right (优先权). Pure: `now` is an argument.

use chrono::{DateTime, Duration, Utc};

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
    /// DOMAIN.md, to check it against on random sequences.
    #[derive(Debug, Clone)]
    struct Model {
        price: Option<i64>,
        leader: Option<usize>,
        ends: i64,
    }

    proptest! {
        #[test]
        fn random_bid_sequences_match_the_model(
            members in proptest::collection::vec(any::<bool>(), 2..6),
            eligible in proptest::collection::vec(prop::bool::weighted(0.85), 6),
            steps in proptest::collection::vec((0usize..6, 0i64..12, 0i64..120, 0u8..4), 1..60),
        ) {
            let reserve = 100_000;
            let inc = 1_000;
            let ext = 300;
            let mut a = state();
            a.current_ends_at = t(1800);
            let mut m = Model { price: None, leader: None, ends: 1800 };
            let mut now = 0i64;
            let mut last_price = 0;
            for (who, k, dt, noise) in steps {
                let who = who % members.len();
                now += dt;
                // mostly on the grid, sometimes off it or below reserve
                let amount = match noise {
                    0 => reserve + k * inc + 500,
                    1 => reserve - inc,
                    _ => reserve + k * inc,
                };
                let b = Bidder {
                    registration_id: Some(format!("r{who}")),
                    eligible: eligible[who],
                    member_verified: members[who],
                };
                let got = place_bid(&a, &b, amount, t(now));
                // the model
                let expect_ok = now < m.ends
                    && eligible[who]
                    && m.leader != Some(who)
                    && amount >= reserve
                    && (amount - reserve) % inc == 0
                    && match m.price {
                        None => true,
                        Some(p) => amount >= p + inc
                            || (amount == p && members[who] && !members[m.leader.unwrap()]),
                    };
                prop_assert_eq!(got.is_ok(), expect_ok, "step who={} amount={} now={} model={:?}", who, amount, now, m);
                if let Ok(acc) = got {
                    prop_assert!(acc.price_fen >= last_price, "price never decreases");
                    prop_assert_eq!(acc.priority, m.price == Some(amount));
                    last_price = acc.price_fen;
                    m.price = Some(amount);
                    m.leader = Some(who);
                    let old_end = m.ends;
                    if m.ends - now <= ext { m.ends = now + ext; }
                    prop_assert!(m.ends >= old_end, "the end only moves later");
                    prop_assert_eq!(acc.current_ends_at, t(m.ends));
                    a.current_price_fen = Some(acc.price_fen);
                    a.leader = Some(Leader { registration_id: format!("r{who}"), member_verified: members[who] });
                    a.current_ends_at = acc.current_ends_at;
                }
            }
        }
    }
}
