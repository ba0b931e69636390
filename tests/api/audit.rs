//! The audit trail: its hash (known-answer vectors, every input covered), `landx audit
//! verify` finding tampered, deleted and stray records, every hashed column tampered in the
//! database breaking verification, and no false alarm on a live system.

use std::sync::atomic::Ordering;

use chrono::{Duration, NaiveDate, NaiveDateTime};
use serde_json::json;

use crate::support::db::{self, lit, Audit};
use crate::support::internals::{audit_hash, sha256_hex, verify_audit, GENESIS_HASH};
use crate::support::process::landx_cli;
use crate::support::*;

// ---- known answers ----------------------------------------------------------------------------

#[test]
fn sha256_hex_matches_published_vectors() {
    // FIPS 180-2 example and the empty message.
    assert_eq!(
        sha256_hex("abc"),
        "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
    );
    assert_eq!(
        sha256_hex(""),
        "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
    );
    // UTF-8 input (python3: hashlib.sha256("土地经营权".encode()).hexdigest()).
    assert_eq!(
        sha256_hex("土地经营权"),
        "425e82639c3d6de06d6958468412e9b9f045b065b6b4f9615545e5a2a364f709"
    );
}

fn epoch() -> NaiveDateTime {
    NaiveDate::from_ymd_opt(1970, 1, 1)
        .unwrap()
        .and_hms_opt(0, 0, 0)
        .unwrap()
}

/// The first record of the system stream: an account created by the system.
fn system_record() -> Audit {
    Audit {
        id: "a".into(),
        stream: "system".into(),
        seq: 1,
        prev_hash: GENESIS_HASH.into(),
        hash: String::new(),
        actor_id: None,
        actor_role: None,
        action: "user.created".into(),
        entity_type: "user".into(),
        entity_id: "u1".into(),
        from_state: None,
        to_state: Some("active".into()),
        reason: None,
        created_at: epoch(),
    }
}

/// The expected hashes below were computed outside this code base, with python3's hashlib
/// over the documented canonical input: for each of prev_hash, stream, seq (decimal),
/// actor_id, actor_role, action, entity_type, entity_id, from_state, to_state, reason its
/// UTF-8 length as 8 big-endian bytes then its bytes (an absent value is the single byte
/// 0x00), then created_at as RFC 3339 with microseconds and `Z`, without a length:
///
/// ```text
/// import hashlib, struct
/// def h(fields, created):
///     m = hashlib.sha256()
///     for f in fields:
///         b = f.encode(); m.update(struct.pack('>Q', len(b))); m.update(b)
///     m.update(created.encode()); return m.hexdigest()
/// ```
#[test]
fn audit_record_hash_matches_known_answers() {
    assert_eq!(
        audit_hash(&system_record()),
        "fc2af8754c21ef541ed0ed8b1c4c90967abfa314412972a6399ac12cd98f1b08"
    );
    let mut empty_reason = system_record();
    empty_reason.reason = Some(String::new());
    assert_eq!(
        audit_hash(&empty_reason),
        "ed6453bacb6c72704964bd10f19b17b0a181396c6690d10991141926477582b1"
    );
    let listing = "0190a7a4-7c4e-7000-8000-000000000001";
    let returned = Audit {
        id: "b".into(),
        stream: format!("listing:{listing}"),
        seq: 42,
        prev_hash: "ab".repeat(32),
        hash: String::new(),
        actor_id: Some("0190a7a4-7c4e-7000-8000-0000000000aa".into()),
        actor_role: Some("staff".into()),
        action: "listing.returned".into(),
        entity_type: "listing".into(),
        entity_id: listing.into(),
        from_state: Some("submitted".into()),
        to_state: Some("returned".into()),
        reason: Some("村民代表会议决议缺少到会人员签字页".into()),
        created_at: NaiveDate::from_ymd_opt(2027, 1, 10)
            .unwrap()
            .and_hms_micro_opt(2, 5, 0, 123_456)
            .unwrap(),
    };
    assert_eq!(
        audit_hash(&returned),
        "4d8cbad63cf81af7bbecacedf6143dd3b1c3e57cb6d66bcfcd70f63dc932f474"
    );
}

/// Each of the twelve hashed inputs changes the hash on its own (and the id and the stored
/// hash, which are not inputs, don't).
#[test]
fn audit_record_hash_covers_every_input() {
    let base = system_record();
    let h0 = audit_hash(&base);
    type Change = Box<dyn Fn(&mut Audit)>;
    let variants: Vec<(&str, Change)> = vec![
        ("prev_hash", Box::new(|r| r.prev_hash = "1".repeat(64))),
        ("stream", Box::new(|r| r.stream = "systen".into())),
        ("seq", Box::new(|r| r.seq = 2)),
        ("actor_id", Box::new(|r| r.actor_id = Some("u2".into()))),
        (
            "actor_role",
            Box::new(|r| r.actor_role = Some("admin".into())),
        ),
        ("action", Box::new(|r| r.action = "user.disabled".into())),
        (
            "entity_type",
            Box::new(|r| r.entity_type = "village".into()),
        ),
        ("entity_id", Box::new(|r| r.entity_id = "u2".into())),
        (
            "from_state",
            Box::new(|r| r.from_state = Some("active".into())),
        ),
        ("to_state", Box::new(|r| r.to_state = None)),
        ("reason", Box::new(|r| r.reason = Some(String::new()))),
        (
            "created_at",
            Box::new(|r| r.created_at += Duration::microseconds(1)),
        ),
    ];
    assert_eq!(variants.len(), 12);
    let mut seen = std::collections::HashSet::from([h0.clone()]);
    for (field, change) in &variants {
        let mut r = base.clone();
        change(&mut r);
        let h = audit_hash(&r);
        assert_ne!(h, h0, "{field} is not covered by the hash");
        assert!(seen.insert(h), "{field}: two changes, one hash");
    }
    // Moving a byte between adjacent fields is a different record, too.
    let mut a = base.clone();
    a.entity_type = "use".into();
    a.entity_id = "ru1".into();
    assert_ne!(audit_hash(&a), h0);
    let mut r = base.clone();
    r.id = "another id".into();
    r.hash = "f".repeat(64);
    assert_eq!(audit_hash(&r), h0, "id and hash are not inputs");
}

// ---- tampering in the database -------------------------------------------------------------------

/// The column values of a record as SQL literals, to write it back exactly.
fn literals(r: &Audit) -> Vec<(&'static str, String)> {
    let opt = |v: &Option<String>| v.as_deref().map(lit).unwrap_or_else(|| "NULL".into());
    vec![
        ("prev_hash", lit(&r.prev_hash)),
        ("stream", lit(&r.stream)),
        ("seq", r.seq.to_string()),
        ("actor_id", opt(&r.actor_id)),
        ("actor_role", opt(&r.actor_role)),
        ("action", lit(&r.action)),
        ("entity_type", lit(&r.entity_type)),
        ("entity_id", lit(&r.entity_id)),
        ("from_state", opt(&r.from_state)),
        ("to_state", opt(&r.to_state)),
        ("reason", opt(&r.reason)),
        ("created_at", lit(&stamp(r.created_at))),
    ]
}

fn stamp(t: NaiveDateTime) -> String {
    t.format("%Y-%m-%d %H:%M:%S%.6f").to_string()
}

#[test]
fn tampering_with_any_hashed_column_breaks_verification() {
    let app = TestApp::start();
    let admin = app.admin_token();
    let o = orgs(&app, &admin);
    let id = register_ok(&app, "zhangwei@example.cn", "张伟");
    let r = app.post(
        &format!("/api/v1/users/{id}/disable"),
        Some(&admin),
        json!({}),
    );
    assert_eq!(r.status, 200, "{}", r.text);
    // More records after it: the tampered one sits inside its chain.
    insurer(&app, &admin, "ZHLH", "中华联合财产保险");
    let rec = app
        .audit_for(&id)
        .into_iter()
        .find(|r| r.action == "user.disabled")
        .expect("user.disabled record");
    assert!(rec.actor_id.is_some() && rec.from_state.is_some() && rec.to_state.is_some());
    let total = verify_audit(app.pool()).expect("intact before tampering");
    assert!(total >= 8, "{total}");

    let opt_variants = |v: &Option<String>, other: &str| match v {
        Some(_) => vec!["NULL".to_string(), lit(other)],
        None => vec![lit(other), lit("")],
    };
    let mut cases: Vec<(&str, String)> = vec![
        ("prev_hash", lit(&"1".repeat(64))),
        ("stream", lit("system-2")),
        ("seq", (rec.seq + 1000).to_string()),
        ("action", lit("user.enabled")),
        ("entity_type", lit("insurer")),
        ("entity_id", lit(&o.insurer)),
        (
            "created_at",
            lit(&stamp(rec.created_at + Duration::microseconds(1))),
        ),
    ];
    for (column, value, other) in [
        ("actor_id", &rec.actor_id, id.as_str()),
        ("actor_role", &rec.actor_role, "investor"),
        ("from_state", &rec.from_state, "disabled"),
        ("to_state", &rec.to_state, "active"),
        ("reason", &rec.reason, "离职"),
    ] {
        for v in opt_variants(value, other) {
            cases.push((column, v));
        }
    }
    let hashed: std::collections::HashSet<&str> = cases.iter().map(|c| c.0).collect();
    assert_eq!(hashed.len(), 12, "every hashed column is tampered with");

    let restore = literals(&rec)
        .into_iter()
        .map(|(c, v)| format!("{c} = {v}"))
        .collect::<Vec<_>>()
        .join(", ");
    for (column, value) in cases {
        db::exec(
            app.pool(),
            &format!(
                "UPDATE audit_log SET {column} = {value} WHERE id = {}",
                lit(&rec.id)
            ),
        );
        let broken =
            verify_audit(app.pool()).expect_err(&format!("{column} = {value} went unnoticed"));
        match column {
            // Moved out of its place in the chain: a gap or a stray record.
            "stream" | "seq" => {}
            "prev_hash" => assert_eq!(broken.id, rec.id, "{broken:?}"),
            _ => {
                assert_eq!(broken.id, rec.id, "{column}: {broken:?}");
                assert_eq!(
                    broken.problem, "content does not match its hash",
                    "{column}"
                );
            }
        }
        db::exec(
            app.pool(),
            &format!("UPDATE audit_log SET {restore} WHERE id = {}", lit(&rec.id)),
        );
        assert_eq!(
            verify_audit(app.pool()),
            Ok(total),
            "restoring {column} restores the chain"
        );
    }
}

#[test]
fn audit_verify_detects_tampering() {
    let app = TestApp::start();
    let admin = app.admin_token();
    let o = orgs(&app, &admin);
    register_ok(&app, "zhangwei@example.cn", "张伟");
    let out = landx_cli(&app, &["audit", "verify"]);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(
        out.status.code(),
        Some(0),
        "{stdout} {}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(stdout.contains("intact"), "{stdout}");
    // admin + township + 3 villages + insurer + registration
    assert!(stdout.contains("7 record"), "{stdout}");

    let rec = app.audit_for(&o.villages[1]).remove(0);
    assert_eq!(rec.action, "village.created");
    app.exec_sql(&format!(
        "UPDATE audit_log SET reason = 'x' WHERE id = '{}'",
        rec.id
    ));
    let out = landx_cli(&app, &["audit", "verify"]);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(1), "{stdout}");
    assert!(stdout.contains(&rec.id), "names the record: {stdout}");
    assert!(!stdout.contains("intact"));

    // Appending after tampering doesn't hide it.
    register_ok(&app, "lina@example.cn", "李娜");
    let out = landx_cli(&app, &["audit", "verify"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stdout).contains(&rec.id));
}

#[test]
fn audit_verify_detects_a_deleted_record() {
    let app = TestApp::start();
    let admin = app.admin_token();
    let o = orgs(&app, &admin);
    let rec = app.audit_for(&o.insurer).remove(0);
    app.exec_sql(&format!("DELETE FROM audit_log WHERE id = '{}'", rec.id));
    let out = landx_cli(&app, &["audit", "verify"]);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(1), "{stdout}");
    assert!(stdout.contains("BROKEN"), "{stdout}");
}

#[test]
fn audit_verify_finds_records_outside_every_chain() {
    let app = TestApp::start();
    let admin = app.admin_token();
    orgs(&app, &admin);
    let forged = uuid::Uuid::now_v7().to_string();
    app.exec_sql(&format!(
        "INSERT INTO audit_log (id, stream, seq, prev_hash, hash, actor_id, actor_role, action, \
         entity_type, entity_id, from_state, to_state, reason, created_at) VALUES \
         ('{forged}', 'listing-0001', 1, '{g}', '{g}', NULL, NULL, 'deal.confirmed', 'deal', \
         'd-1', NULL, 'confirmed', NULL, '2027-01-10 02:00:00')",
        g = GENESIS_HASH
    ));
    let out = landx_cli(&app, &["audit", "verify"]);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(1), "{stdout}");
    assert!(
        stdout.contains(&forged),
        "names the forged record: {stdout}"
    );
}

#[test]
fn audit_verify_is_not_fooled_by_concurrent_writes() {
    // Verifying a live system: records committed while the chains are walked are not
    // tampering.
    let app = TestApp::start();
    let admin = app.admin_token();
    let stop = std::sync::atomic::AtomicBool::new(false);
    let mut failures = Vec::new();
    std::thread::scope(|s| {
        let writer = s.spawn(|| {
            let mut n = 0;
            while !stop.load(Ordering::SeqCst) {
                n += 1;
                let r = app.post(
                    "/api/v1/insurers",
                    Some(&admin),
                    json!({"code": format!("BX{n}"), "name": "中原农业保险"}),
                );
                assert_eq!(r.status, 201, "{}", r.text);
            }
            n
        });
        for _ in 0..150 {
            if let Err(b) = verify_audit(app.pool()) {
                failures.push(format!("{b:?}"));
            }
        }
        for _ in 0..3 {
            let out = landx_cli(&app, &["audit", "verify"]);
            if out.status.code() != Some(0) {
                failures.push(String::from_utf8_lossy(&out.stdout).into_owned());
            }
        }
        stop.store(true, Ordering::SeqCst);
        assert!(writer.join().unwrap() > 1, "writes overlapped the checks");
    });
    assert!(failures.is_empty(), "{failures:#?}");
    let out = landx_cli(&app, &["audit", "verify"]);
    assert_eq!(out.status.code(), Some(0));
}
