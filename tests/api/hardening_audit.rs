//! Issue 10 (hardening): black-box tests, each failing on the code before its fix.

#[allow(unused_imports)]
use crate::support::*;

use crate::support::trading::*;

// ---- item 4: idempotent replay only for a fully authenticated caller ----------------------

/// A disabled account's token (signature still valid) must not replay a stored response: the
/// middleware authenticates like the extractor before claiming or replaying a key.
#[test]
fn disabled_account_token_gets_401_not_a_replay() {
    let app = TestApp::start_for_trading();
    let w = World::new(&app);
    let listing = listing_in(&app, &w, Stage::Announced);
    let zhang = verified_investor(&app, "zhangwei@example.cn", "张伟");
    let path = format!("/api/v1/listings/{listing}/registrations");
    let key = [("Idempotency-Key", "zhangwei-registration-1")];
    let body = person("张伟", ID_ZHANGWEI).to_string();
    let r = app.call_raw("POST", &path, Some(&zhang.token), Some(body.clone()), &key);
    assert_eq!(r.status, 201, "{}", r.text);
    let admin = app.admin_token();
    let d = app.post(
        &format!("/api/v1/users/{}/disable", zhang.id),
        Some(&admin),
        serde_json::json!({}),
    );
    assert!(d.status < 300, "disable: {} {}", d.status, d.text);
    let again = app.call_raw("POST", &path, Some(&zhang.token), Some(body), &key);
    again.assert_problem(401, "unauthorized");
    assert!(again.header("Idempotent-Replayed").is_none());
    assert!(!again.text.contains(ID_ZHANGWEI), "{}", again.text);
}
