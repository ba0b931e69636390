//! Issue 10 (hardening): black-box tests, each failing on the code before its fix.
//! Personal data at rest (item 11) and text that reaches e-mails (item 8).

#[allow(unused_imports)]
use crate::support::*;

use serde_json::json;

use crate::support::trading::*;

// ---- item 8: free text that reaches e-mails; mails start with the platform's text ----

#[test]
fn registration_text_with_control_or_bidi_characters_is_refused() {
    let app = TestApp::start_for_trading();
    let w = World::new(&app);
    let listing = listing_in(&app, &w, Stage::Announced);
    let li = verified_investor(&app, "lina@example.cn", "李娜");
    let base = person("李娜", ID_LINA);
    for (body, field) in [
        (
            with(base.clone(), json!({"legal_name": "李娜\u{202E}cba"})),
            "legal_name",
        ),
        (
            with(base.clone(), json!({"experience": "种植\u{202E}水稻"})),
            "experience",
        ),
        (
            with(base.clone(), json!({"experience": "种植\u{0007}水稻"})),
            "experience",
        ),
        (
            with(base.clone(), json!({"business_plan": "稻麦\u{2066}轮作"})),
            "business_plan",
        ),
    ] {
        apply(&app, &li.token, &listing, body).assert_field(field);
    }
    // Multi-line text stays allowed where the field is multi-line.
    apply_ok(
        &app,
        &li,
        &listing,
        with(
            base,
            json!({"business_plan": "第一年：稻麦轮作。\n第二年：绿色认证。"}),
        ),
    );
}

#[test]
fn mails_start_with_the_platform_text_not_the_users_name() {
    let app = TestApp::start_for_trading();
    let w = World::new(&app);
    let listing = listing_in(&app, &w, Stage::Announced);
    let li = verified_investor(&app, "lina@example.cn", "李娜");
    let reg = apply_ok(&app, &li, &listing, person("李娜", ID_LINA));
    reject(&app, &w, &reg);
    let mails: Vec<_> = app
        .outbox()
        .into_iter()
        .filter(|m| m.to_addr == li.email && m.subject.contains("Registration"))
        .collect();
    assert_eq!(mails.len(), 2, "{mails:?}");
    for m in mails {
        assert!(m.body.starts_with("您好："), "{}", m.body);
        assert!(m.body.contains("“李娜”"), "{}", m.body);
    }
}
