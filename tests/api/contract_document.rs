//! `GET /contracts/{id}/document`: the printable contract (土地经营权流转合同) — Chinese HTML
//! with every clause, amounts in figures and capitals, the certification number; the full ID
//! number of the transferee for the parties, staff and admins, masked for an insurer.

use serde_json::json;

use crate::support::contracts::*;
use crate::support::http::{ok, s};
use crate::support::*;

fn document(app: &TestApp, token: Option<&str>, contract: &str) -> Resp {
    app.get(&format!("/api/v1/contracts/{contract}/document"), token)
}

/// The full number behind `masked` (`3101**********1234`) if the text holds it.
fn full_number_in(text: &str, masked: &str) -> Option<String> {
    let (head, tail) = (&masked[..4], &masked[masked.len() - 4..]);
    let n = masked.chars().count();
    text.match_indices(head).find_map(|(i, _)| {
        let cand: String = text[i..].chars().take(n).collect();
        (cand.chars().count() == n
            && cand.ends_with(tail)
            && cand[4..n - 4].chars().all(|c| c.is_ascii_digit()))
        .then_some(cand)
    })
}

#[test]
fn the_printable_contract_shows_the_full_id_to_the_parties_and_a_masked_one_to_the_insurer() {
    let app = start();
    let w = World::new(&app);
    let d = confirmed_deal(&app, &w, TERM);
    let c = certified(&app, &w, &d);
    let masked = s(&c["transferee"]["id_number_masked"]);
    let cert_no = s(&c["certification_no"]);

    for (who, token) in [
        ("winner", d.winner().t()),
        ("collective", w.ht.t()),
        ("staff", w.cj_staff.t()),
        ("admin", w.admin()),
    ] {
        let r = document(&app, token, &d.contract);
        assert_eq!(r.status, 200, "{who}: {}", r.text);
        assert!(
            r.header("content-type")
                .is_some_and(|t| t.starts_with("text/html") && t.contains("utf-8")),
            "{who}: {:?}",
            r.header("content-type")
        );
        for needle in [
            "土地经营权流转合同",
            "甲方",
            "乙方",
            VILLAGE_NAME,
            "整",
            "@page",
            &cert_no,
        ] {
            assert!(r.text.contains(needle), "{who}: missing {needle}");
        }
        assert!(
            full_number_in(&r.text, &masked).is_some(),
            "{who} sees the full ID number"
        );
        assert!(!r.text.contains(&masked), "{who}: no masked number");
    }

    // Outsiders: 404; no token: 401.
    for token in [w.jg.t(), w.sy_staff.t(), w.investor.t(), w.insurer.t()] {
        assert_eq!(document(&app, token, &d.contract).status, 404);
    }
    assert_eq!(document(&app, None, &d.contract).status, 401);

    // Once its company has a policy on the contract, the insurer reads it, masked.
    let insurers = ok(app.get("/api/v1/insurers", None));
    let insurer_id = s(&insurers["items"][0]["id"]);
    let q = app.post(
        "/api/v1/policies",
        d.winner().t(),
        json!({"contract_id": d.contract, "year": 1, "insurer_id": insurer_id}),
    );
    assert_eq!(q.status, 201, "quote: {}", q.text);
    let r = document(&app, w.insurer.t(), &d.contract);
    assert_eq!(r.status, 200, "{}", r.text);
    assert!(
        r.text.contains(&masked),
        "the insurer sees the masked number"
    );
    assert!(full_number_in(&r.text, &masked).is_none());
}
