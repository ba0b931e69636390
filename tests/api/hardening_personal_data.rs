//! Issue 10 (hardening): black-box tests, each failing on the code before its fix.
//! Personal data at rest (item 11) and text that reaches e-mails (item 8).

#[allow(unused_imports)]
use crate::support::*;

use serde_json::json;

use crate::support::db;
use crate::support::trading::*;

// ---- item 11: one registration per legal person per listing; phones encrypted at rest ----

#[test]
fn the_same_id_number_under_another_account_is_a_conflict() {
    let app = TestApp::start_for_trading();
    let w = World::new(&app);
    let listing = listing_in(&app, &w, Stage::Announced);
    let zhang = verified_investor(&app, "zhangwei@example.cn", "张伟");
    let other = verified_investor(&app, "zhangwei2@example.cn", "张伟");
    apply_ok(&app, &zhang, &listing, person("张伟", ID_ZHANGWEI));
    // Same person, second account; the number typed in lower case with spaces.
    let again = apply(
        &app,
        &other.token,
        &listing,
        person("张伟", &format!(" {} ", ID_ZHANGWEI.to_lowercase())),
    );
    again.assert_problem(409, "conflict");
    assert_eq!(
        db::count(
            app.pool(),
            "registrations",
            &format!("listing_id = {}", db::lit(&listing))
        ),
        1
    );
    // Another listing takes the same person.
    let second = listing_in(&app, &w, Stage::Announced);
    apply_ok(&app, &other, &second, person("张伟", ID_ZHANGWEI));
}

#[test]
fn a_registration_phone_is_stored_encrypted_and_shown_in_clear() {
    let app = TestApp::start_for_trading();
    let w = World::new(&app);
    let listing = listing_in(&app, &w, Stage::Announced);
    let li = verified_investor(&app, "lina@example.cn", "李娜");
    let reg = apply_ok(&app, &li, &listing, person("李娜", ID_LINA));
    let stored = db::lines(
        app.pool(),
        &format!(
            "SELECT phone AS line FROM registrations WHERE id = {}",
            db::lit(&reg)
        ),
    );
    assert_eq!(stored.len(), 1);
    assert!(!stored[0].contains("13916012345"), "{stored:?}");
    let b = ok(get_reg(&app, &li.token, &reg));
    assert_eq!(b["phone"], "13916012345");
    let staff = ok(get_reg(&app, &w.cj_staff.token, &reg));
    assert_eq!(staff["phone"], "13916012345");
}

/// Rows written before the ID hash existed (hash NULL, phone in clear) are brought up to the
/// current keys by `landx crypto rehash`; then the same person can't register twice.
#[test]
fn crypto_rehash_backfills_id_hashes_and_encrypts_legacy_phones() {
    const ROOT: &str = "hardening-pii-root-key-0123456789abcdef";
    let app = TestApp::start_with(|s| {
        s.auth.access_token_minutes = 60 * 24 * 90;
        s.auth.ip_attempts_per_minute = 1_000_000;
        s.crypto.key = secrecy::SecretString::from(ROOT.to_string());
    });
    let w = World::new(&app);
    let listing = listing_in(&app, &w, Stage::Announced);
    let zhang = verified_investor(&app, "zhangwei@example.cn", "张伟");
    let other = verified_investor(&app, "zhangwei2@example.cn", "张伟");
    let reg = apply_ok(&app, &zhang, &listing, person("张伟", ID_ZHANGWEI));
    // As the first release wrote it.
    db::exec(
        app.pool(),
        &format!(
            "UPDATE registrations SET id_number_hash = NULL, phone = '13916012345' WHERE id = {}",
            db::lit(&reg)
        ),
    );
    assert_eq!(
        ok(get_reg(&app, &zhang.token, &reg))["phone"],
        "13916012345"
    );

    let dir = tempfile::tempdir().unwrap();
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_landx"))
        .args(["crypto", "rehash"])
        .env("LANDX_DATABASE__URL", &app.settings.database.url)
        .env("LANDX_ENV", "test")
        .env("LANDX_CRYPTO__KEY", ROOT)
        .env_remove("RUST_LOG")
        .current_dir(dir.path())
        .output()
        .expect("run landx");
    assert!(
        out.status.success(),
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(
        db::count(
            app.pool(),
            "registrations",
            "id_number_hash IS NULL OR phone = '13916012345'"
        ),
        0
    );
    assert_eq!(
        ok(get_reg(&app, &zhang.token, &reg))["phone"],
        "13916012345"
    );
    apply(&app, &other.token, &listing, person("张伟", ID_ZHANGWEI))
        .assert_problem(409, "conflict");
}

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
