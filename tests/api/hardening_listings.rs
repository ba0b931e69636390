//! Issue 10 (hardening): black-box tests, each failing on the code before its fix.

use chrono::{Duration, TimeZone, Utc};
use serde_json::json;

use crate::support::db as rows;
use crate::support::listings::*;
use crate::support::trading::{make_listing, schedule, Stage, RESERVE};
#[allow(unused_imports)]
use crate::support::*;

fn status_in_db(app: &TestApp, id: &str) -> String {
    rows::lines(
        app.pool(),
        &format!(
            "SELECT status AS line FROM listings WHERE id = {}",
            rows::lit(id)
        ),
    )
    .join("")
}

// ---- item 5: the search cursor resolves only among listings the caller may see ----------

#[test]
fn search_cursor_of_a_hidden_draft_is_refused_like_an_unknown_one() {
    let app = TestApp::start();
    let w = World::new(&app);
    let cheap = make_listing(
        &app,
        &w,
        w.cj(),
        "20.00",
        90_000,
        schedule(&app),
        Stage::Announced,
    );
    let dear = make_listing(
        &app,
        &w,
        w.cj(),
        "20.00",
        150_000,
        schedule(&app),
        Stage::Announced,
    );
    // A draft in between: its reserve price is nobody's business but its village's.
    let draft = make_listing(
        &app,
        &w,
        w.cj(),
        "20.00",
        120_000,
        schedule(&app),
        Stage::Draft,
    );
    let unknown = uuid::Uuid::now_v7().to_string();
    for sort in ["", "&sort=reserve_price_fen", "&sort=-reserve_price_fen"] {
        for token in [None, w.investor.t(), w.jg.t(), w.sy_staff.t()] {
            let r = app.get(
                &format!("/api/v1/listings?limit=10&cursor={}{sort}", draft.id),
                token,
            );
            r.assert_problem(400, "bad_request");
            let u = app.get(
                &format!("/api/v1/listings?limit=10&cursor={unknown}{sort}"),
                token,
            );
            u.assert_problem(400, "bad_request");
            assert_eq!(r.body["detail"], u.body["detail"], "same answer as unknown");
        }
    }
    // Public cursors still page.
    let page = ok(app.get(
        &format!(
            "/api/v1/listings?limit=10&sort=reserve_price_fen&cursor={}",
            cheap.id
        ),
        None,
    ));
    assert_eq!(ids(&page["items"]), vec![dear.id.clone()]);
    // The owner, who may see the draft, may page from it with `mine`.
    let page = ok(app.get(
        &format!(
            "/api/v1/listings?limit=10&mine=true&sort=reserve_price_fen&cursor={}",
            draft.id
        ),
        w.ht.t(),
    ));
    assert_eq!(ids(&page["items"]), vec![dear.id.clone()]);
}
