//! Issue 10 (hardening), item 4, second half: an `Idempotency-Key` retry never performs an
//! action twice, whatever point the first request's server stopped at. The action's own
//! write transaction marks the key's claim committed; the response is stored after it.

use crate::support::db;
use crate::support::internals::idempotency_fingerprint;
use crate::support::listings::{listing_body, new_parcel, parcel_body};
use crate::support::*;

fn listings_of(app: &TestApp, village: &str) -> i64 {
    db::count(
        app.pool(),
        "listings",
        &format!("village_id = {}", db::lit(village)),
    )
}

/// A draft listing request of 护塘村 (nothing unique in it: performed twice, it makes two).
fn draft_request(app: &TestApp, w: &World) -> String {
    let parcel = new_parcel(
        app,
        &w.ht,
        parcel_body("JS-CJ-IDEM-001", "58.20", "漕泾镇护塘村3组"),
    );
    listing_body("护塘村2027年第一批土地经营权流转", &[&parcel]).to_string()
}

/// The server stops after the action committed and before its answer is stored (the
/// database refuses the answer, as a stopped server never writes it). A retry after the
/// claim looks abandoned gets 409 `conflict` saying so, and the listing exists once. On the
/// code before the fix the retry took the claim over and created a second listing.
#[test]
fn a_retry_after_the_answer_was_lost_never_performs_the_action_again() {
    let app = TestApp::start();
    let w = World::new(&app);
    let body = draft_request(&app, &w);
    let key = [("Idempotency-Key", "hutang-draft-1")];
    db::lose_idempotent_answers(app.pool());
    let first = app.call_raw(
        "POST",
        "/api/v1/listings",
        w.ht.t(),
        Some(body.clone()),
        &key,
    );
    assert_eq!(first.status, 201, "{}", first.text);
    db::store_answers_again(app.pool());
    assert_eq!(listings_of(&app, &w.hutang), 1);
    // The action's transaction marked the claim committed (0), though no answer is stored.
    assert_eq!(db::idempotency_statuses(app.pool()), vec![0]);

    // A retry while the first may still be answering waits for it, then gives up (409).
    let waiting = app.call_raw(
        "POST",
        "/api/v1/listings",
        w.ht.t(),
        Some(body.clone()),
        &key,
    );
    waiting.assert_problem(409, "conflict");
    assert!(
        waiting.body["detail"]
            .as_str()
            .unwrap()
            .contains("still being processed"),
        "{}",
        waiting.text
    );
    // Long after: the claim is abandoned, but its action committed: not performed again.
    app.advance(chrono::Duration::minutes(5));
    let retry = app.call_raw(
        "POST",
        "/api/v1/listings",
        w.ht.t(),
        Some(body.clone()),
        &key,
    );
    retry.assert_problem(409, "conflict");
    let detail = retry.body["detail"].as_str().unwrap();
    assert!(
        detail.contains("was performed") && detail.contains("not performed again"),
        "{detail}"
    );
    assert!(retry.header("Idempotent-Replayed").is_none());
    assert_eq!(listings_of(&app, &w.hutang), 1);
    // The same request under a new key is a new request.
    let key = [("Idempotency-Key", "hutang-draft-2")];
    let other = app.call_raw("POST", "/api/v1/listings", w.ht.t(), Some(body), &key);
    assert_eq!(other.status, 201, "{}", other.text);
    assert_eq!(listings_of(&app, &w.hutang), 2);
}

/// A request whose server stopped before its action committed left a bare claim: the retry
/// after the claim looks abandoned takes it over and performs the action, once, and its
/// answer replays afterwards.
#[test]
fn a_retry_after_a_stop_before_the_commit_performs_the_action_once() {
    let app = TestApp::start();
    let w = World::new(&app);
    let body = draft_request(&app, &w);
    let user = w.ht.id.clone();
    let stopped_at = (app.now() - chrono::Duration::seconds(90)).naive_utc();
    db::exec(
        app.pool(),
        &format!(
            "INSERT INTO idempotency_keys (user_id, key, method, path, request_hash, created_at) \
             VALUES ({}, 'hutang-draft-1', 'POST', '/api/v1/listings', {}, {})",
            db::lit(&user),
            db::lit(&idempotency_fingerprint("/api/v1/listings", &body)),
            db::lit(&stopped_at.format("%Y-%m-%d %H:%M:%S").to_string()),
        ),
    );
    let key = [("Idempotency-Key", "hutang-draft-1")];
    let retry = app.call_raw(
        "POST",
        "/api/v1/listings",
        w.ht.t(),
        Some(body.clone()),
        &key,
    );
    assert_eq!(retry.status, 201, "{}", retry.text);
    assert!(retry.header("Idempotent-Replayed").is_none());
    let again = app.call_raw("POST", "/api/v1/listings", w.ht.t(), Some(body), &key);
    assert_eq!(again.status, 201, "{}", again.text);
    assert_eq!(again.header("Idempotent-Replayed"), Some("true"));
    assert_eq!(again.body["id"], retry.body["id"]);
    assert_eq!(listings_of(&app, &w.hutang), 1);
}

/// The claim is the action's fence: a request whose claim was taken over by a retry while
/// it ran (its server looked stopped) rolls its action back instead of committing it next
/// to the retry's. Here every claim looks taken over the moment it is made.
#[test]
fn a_request_whose_claim_was_taken_over_commits_nothing() {
    let app = TestApp::start();
    let w = World::new(&app);
    let body = draft_request(&app, &w);
    db::take_over_every_new_claim(app.pool());
    let key = [("Idempotency-Key", "hutang-draft-1")];
    let r = app.call_raw(
        "POST",
        "/api/v1/listings",
        w.ht.t(),
        Some(body.clone()),
        &key,
    );
    r.assert_problem(409, "conflict");
    assert_eq!(listings_of(&app, &w.hutang), 0);
    // Without a key nothing is fenced.
    let plain = app.call_raw("POST", "/api/v1/listings", w.ht.t(), Some(body), &[]);
    assert_eq!(plain.status, 201, "{}", plain.text);
    assert_eq!(listings_of(&app, &w.hutang), 1);
}
