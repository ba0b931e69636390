//! Issue 10 (hardening): black-box tests, each failing on the code before its fix.

#[allow(unused_imports)]
use crate::support::*;

use crate::support::db;
use crate::support::internals::audit_hash;
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

// ---- item 3: the audit chain is keyed --------------------------------------------------------

const AUDIT_KEY: &str = "audit-key-for-tests-0123456789abcdef";

/// `landx <args>` against the app's database with `[audit] key` set to `key`.
fn landx_keyed(app: &TestApp, key: &str, args: &[&str]) -> (i32, String) {
    let dir = tempfile::tempdir().unwrap();
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_landx"))
        .args(args)
        .env("LANDX_DATABASE__URL", &app.settings.database.url)
        .env("LANDX_ENV", "test")
        .env("LANDX_AUDIT__KEY", key)
        .env_remove("RUST_LOG")
        .current_dir(dir.path())
        .output()
        .expect("run landx");
    let stdout = String::from_utf8_lossy(&out.stdout).to_string();
    let stderr = String::from_utf8_lossy(&out.stderr);
    (out.status.code().unwrap_or(-1), format!("{stdout}{stderr}"))
}

/// An upgraded database: first-release (unkeyed) records, then records the keyed `landx`
/// appends. It verifies with the key and not with another one; an edit recomputed with plain
/// SHA-256 (all an attacker without the key can do), with or without dropping the key id, is
/// detected; `audit heads` prints one line per stream.
#[test]
fn audit_links_are_keyed_and_a_sha256_recomputation_is_detected() {
    let app = TestApp::start_for_trading();
    let w = World::new(&app);
    let _listing = listing_in(&app, &w, Stage::Announced);
    // Appended by the binary, under the key: keyed records on the `system` stream.
    for n in 1..=2 {
        let email = format!("admin-{n}@landx.test");
        let args = [
            "admin",
            "create",
            "--email",
            &email,
            "--password",
            "Str0ng-Passphrase-For-Audit",
        ];
        let (code, out) = landx_keyed(&app, AUDIT_KEY, &args);
        assert_eq!(code, 0, "{out}");
    }
    let (code, out) = landx_keyed(&app, AUDIT_KEY, &["audit", "verify"]);
    assert_eq!(code, 0, "{out}");
    assert!(out.contains("intact"), "{out}");
    let (code, out) = landx_keyed(&app, &"x".repeat(40), &["audit", "verify"]);
    assert_eq!(code, 1, "another key must not verify: {out}");

    let streams = db::lines(
        app.pool(),
        "SELECT stream AS line FROM audit_streams ORDER BY stream",
    );
    assert!(streams.len() >= 2, "{streams:?}");
    let (code, out) = landx_keyed(&app, AUDIT_KEY, &["audit", "heads"]);
    assert_eq!(code, 0, "{out}");
    let lines: Vec<&str> = out.lines().collect();
    assert_eq!(lines.len(), streams.len(), "{out}");
    for (line, stream) in lines.iter().zip(&streams) {
        let cols: Vec<&str> = line.split('\t').collect();
        assert_eq!(cols.len(), 4, "{line}");
        assert_eq!(cols[0], stream);
        assert_eq!(cols[2].len(), 64, "{line}");
    }
    let system = lines.iter().find(|l| l.starts_with("system\t")).unwrap();
    assert!(system.ends_with("\ta1"), "the head is keyed: {system}");

    // The attacker edits the first keyed record and recomputes the chain from it with plain
    // SHA-256, up to the stream's head.
    let keyed = db::audit_where(app.pool(), "stream = 'system' AND key_id IS NOT NULL");
    assert_eq!(keyed.len(), 2);
    let mut prev = keyed[0].prev_hash.clone();
    for (i, r) in keyed.iter().enumerate() {
        let mut r = r.clone();
        if i == 0 {
            r.reason = Some("nothing happened".into());
        }
        r.prev_hash = prev;
        let forged = audit_hash(&r);
        app.exec_sql(&format!(
            "UPDATE audit_log SET reason = {}, prev_hash = '{}', hash = '{forged}' WHERE id = '{}'",
            r.reason
                .as_deref()
                .map(|x| format!("'{x}'"))
                .unwrap_or("NULL".into()),
            r.prev_hash,
            r.id
        ));
        app.exec_sql(&format!(
            "UPDATE audit_streams SET last_hash = '{forged}' WHERE stream = 'system' AND last_seq = {}",
            r.seq
        ));
        prev = forged;
    }
    let (code, out) = landx_keyed(&app, AUDIT_KEY, &["audit", "verify"]);
    assert_eq!(code, 1, "{out}");
    assert!(out.contains(&keyed[0].id), "names the record: {out}");
    // ... and passing the edited record off as a first-release one doesn't help either.
    app.exec_sql(&format!(
        "UPDATE audit_log SET key_id = NULL WHERE id = '{}'",
        keyed[0].id
    ));
    let (code, out) = landx_keyed(&app, AUDIT_KEY, &["audit", "verify"]);
    assert_eq!(code, 1, "{out}");
    assert!(out.contains(&keyed[1].id), "{out}");
}
