//! Builders of the collusion-signal scenarios: registrations with a chosen legal person and
//! phone, taken as far as eligibility, and readers of the signal routes.

use serde_json::{json, Value};

use super::harness::{Resp, TestApp};
use super::http::{created, ok, s};
use super::trading::{registration_act, Auction, Bidder, DEPOSIT};
use super::world::User;

/// A legal person as it registers: name, ID number (a valid resident ID) and phone.
#[derive(Clone, Debug)]
pub struct Person {
    pub legal_name: &'static str,
    pub id_number: String,
    pub phone: String,
}

impl Person {
    pub fn new(legal_name: &'static str, id_number: String, phone: &str) -> Person {
        Person {
            legal_name,
            id_number,
            phone: phone.to_string(),
        }
    }

    /// The ID number as evidence shows it: `3101**********1234`.
    pub fn masked(&self) -> String {
        let n = self.id_number.len();
        format!(
            "{}{}{}",
            &self.id_number[..4],
            "*".repeat(n - 8),
            &self.id_number[n - 4..]
        )
    }
}

/// `inv` registers for `a` as `p` (applied, deposit unpaid); the registration id.
pub fn apply_as(app: &TestApp, a: &Auction, inv: &User, p: &Person) -> String {
    created(
        &app.post(
            &a.path("/registrations"),
            inv.t(),
            json!({
                "legal_name": p.legal_name,
                "id_type": "resident_id",
                "id_number": p.id_number,
                "phone": p.phone,
                "experience": "种植水稻十余年。",
                "business_plan": "稻麦轮作。",
                "claims_membership": false,
            }),
        ),
        p.legal_name,
    )
}

/// `inv` registers for `a` as `p`; the township's staff qualify it and record the deposit.
pub fn eligible_as(app: &TestApp, a: &Auction, inv: &User, p: &Person) -> Bidder {
    let reg = apply_as(app, a, inv, p);
    ok(registration_act(app, &a.staff, &reg, "qualify", json!({})));
    let d = ok(registration_act(
        app,
        &a.staff,
        &reg,
        "deposit",
        json!({"amount_fen": DEPOSIT, "receipt_ref": format!("ICBC-{}", &reg[..8])}),
    ));
    assert_eq!(d["deposit_status"], "confirmed");
    Bidder {
        inv: inv.clone(),
        reg,
    }
}

/// `GET /listings/{id}/signals` with a query string (may be empty).
pub fn listing_signals(app: &TestApp, token: Option<&str>, listing: &str, qs: &str) -> Resp {
    app.get(&format!("/api/v1/listings/{listing}/signals{qs}"), token)
}

/// `GET /townships/{id}/signals` with a query string (may be empty).
pub fn township_signals(app: &TestApp, token: Option<&str>, township: &str, qs: &str) -> Resp {
    app.get(&format!("/api/v1/townships/{township}/signals{qs}"), token)
}

/// The signals of an answer, by kind.
pub fn of_kind<'a>(page: &'a Value, kind: &str) -> Vec<&'a Value> {
    page["items"]
        .as_array()
        .expect("items")
        .iter()
        .filter(|i| i["kind"] == kind)
        .collect()
}

/// The kinds of an answer's signals, sorted.
pub fn kinds(page: &Value) -> Vec<String> {
    let mut k: Vec<String> = page["items"]
        .as_array()
        .expect("items")
        .iter()
        .map(|i| s(&i["kind"]))
        .collect();
    k.sort();
    k
}
