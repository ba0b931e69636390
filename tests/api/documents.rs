//! Documents: uploads to each owner and kind, the refusals (type by magic bytes, size before
//! the body is read, scope, changes after submission), Chinese file names in
//! `Content-Disposition`, ranges, the listing submit and certification rules, the audit
//! records, and a swapped content detected by `landx documents verify`.

use std::io::{Read, Write};
use std::time::Duration;

use serde_json::json;
use sha2::{Digest, Sha256};

use crate::support::contracts::{self as ct, confirmed_deal, sign_both};
use crate::support::documents::{jpeg, pdf, png, upload, upload_pdf};
use crate::support::insurance::{self as ins, certified_contract, company_of, day, Terms};
use crate::support::listings::{listing_body, new_parcel, parcel_body, submit};
use crate::support::trading::{enrol, listing, qualify, Plan, RESERVE};
use crate::support::*;

fn sha_hex(b: &[u8]) -> String {
    hex::encode(Sha256::digest(b))
}

fn docs_of(app: &TestApp, token: Option<&str>, collection: &str, id: &str) -> Resp {
    app.get(&format!("/api/v1/{collection}/{id}/documents"), token)
}

fn doc_ids(r: &Resp) -> Vec<String> {
    assert_eq!(r.status, 200, "{}", r.text);
    r.body["items"]
        .as_array()
        .expect("items")
        .iter()
        .map(|d| s(&d["id"]))
        .collect()
}

fn delete(app: &TestApp, token: Option<&str>, doc: &str) -> Resp {
    app.call("DELETE", &format!("/api/v1/documents/{doc}"), token, None)
}

/// A draft of 护塘村 created without the helper that attaches documents.
fn bare_draft(app: &TestApp, w: &World) -> String {
    let p = new_parcel(
        app,
        &w.ht,
        parcel_body(&format!("JS-CJ-D-{}", w.next()), "20.00", "漕泾镇护塘村5组"),
    );
    let r = app.post(
        "/api/v1/listings",
        w.ht.t(),
        listing_body("护塘村2027年土地经营权流转（附件）", &[&p]),
    );
    created(&r, "draft")
}

/// The audit records of a document: (action, reason).
fn doc_audit(app: &TestApp, doc: &str) -> Vec<(String, String, String)> {
    app.audit_for(doc)
        .into_iter()
        .map(|r| (r.action, r.reason.unwrap_or_default(), r.stream))
        .collect()
}

#[test]
fn listing_documents_each_kind_the_submit_rule_and_freezing() {
    let app = TestApp::start_for_trading();
    let w = World::new(&app);
    let id = bare_draft(&app, &w);

    // Submitting needs a resolution and a commission document.
    let r = submit(&app, &w.ht, &id);
    assert_eq!(fields(&r), vec!["documents"]);
    assert!(r.text.contains("resolution and commission"), "{}", r.text);

    // Each kind of a listing, each accepted type, decided by the bytes.
    let files: [(&str, &str, &str, Vec<u8>); 3] = [
        (
            "resolution",
            "村民会议决议.pdf",
            "application/pdf",
            pdf("resolution"),
        ),
        (
            "commission",
            "委托书（第1组）.jpg",
            "image/jpeg",
            jpeg("commission"),
        ),
        ("parcel_map", "地块四至图.png", "image/png", png("map")),
    ];
    let mut ids = Vec::new();
    for (kind, name, ct, bytes) in &files {
        let r = upload(&app, w.ht.t(), "listings", &id, kind, name, ct, bytes);
        assert_eq!(r.status, 201, "{kind}: {}", r.text);
        let d = &r.body;
        assert_eq!(d["owner_type"], "listing");
        assert_eq!(d["owner_id"], id.as_str());
        assert_eq!(d["kind"], *kind);
        assert_eq!(d["filename"], *name);
        assert_eq!(d["content_type"], *ct);
        assert_eq!(d["size_bytes"], bytes.len());
        assert_eq!(d["sha256"], sha_hex(bytes));
        assert_eq!(d["uploaded_by"], w.ht.id.as_str());
        assert!(d["created_at"].as_str().unwrap().ends_with('Z'));
        assert_eq!(
            r.header("location").map(String::from),
            Some(format!("/api/v1/documents/{}", r.id()))
        );
        let got = ok(app.get(&format!("/api/v1/documents/{}", r.id()), w.ht.t()));
        assert_eq!(&got, d);
        let (status, _, body) = app.get_bytes(
            &format!("/api/v1/documents/{}/content", r.id()),
            w.ht.t(),
            &[],
        );
        assert_eq!((status, &body), (200, bytes));
        ids.push(r.id());
        if *kind == "resolution" {
            // One of the two is not enough.
            assert!(submit(&app, &w.ht, &id).text.contains("commission"));
        }
    }
    // Paginated like every list, in upload order.
    let first = app.get(
        &format!("/api/v1/listings/{id}/documents?limit=2"),
        w.ht.t(),
    );
    assert_eq!(doc_ids(&first), ids[..2].to_vec());
    let cursor = s(&first.body["next_cursor"]);
    let second = app.get(
        &format!("/api/v1/listings/{id}/documents?limit=2&cursor={cursor}"),
        w.ht.t(),
    );
    assert_eq!(doc_ids(&second), ids[2..].to_vec());
    assert!(second.body["next_cursor"].is_null());
    app.get(
        &format!("/api/v1/listings/{id}/documents?limit=201"),
        w.ht.t(),
    )
    .assert_field("limit");

    // Every upload is on the listing's audit stream with its SHA-256.
    for (doc, (_, _, _, bytes)) in ids.iter().zip(&files) {
        let recs = doc_audit(&app, doc);
        assert_eq!(recs.len(), 1, "{recs:?}");
        assert_eq!(recs[0].0, "document.uploaded");
        assert!(recs[0]
            .1
            .starts_with(&format!("sha256={} ", sha_hex(bytes))));
        assert_eq!(recs[0].2, format!("listing:{id}"));
    }

    // While a draft, the uploader may remove one (and only the uploader).
    let second_collective = user(
        &app,
        &w.admin,
        &format!("ht2-{}@cun.cn", w.next()),
        "护塘村会计",
        "collective",
        json!({"village_id": w.hutang}),
    );
    delete(&app, second_collective.t(), &ids[2]).assert_problem(403, "forbidden");
    delete(&app, w.cj_staff.t(), &ids[2]).assert_problem(403, "forbidden");
    delete(&app, w.jg.t(), &ids[2]).assert_problem(404, "not_found");
    delete(&app, None, &ids[2]).assert_problem(401, "unauthorized");
    let r = delete(&app, w.ht.t(), &ids[2]);
    assert_eq!(r.status, 204, "{}", r.text);
    app.get(&format!("/api/v1/documents/{}", ids[2]), w.ht.t())
        .assert_problem(404, "not_found");
    let recs = doc_audit(&app, &ids[2]);
    assert_eq!(recs[1].0, "document.deleted");
    assert!(recs[1]
        .1
        .starts_with(&format!("sha256={} ", sha_hex(&files[2].3))));

    // Others who see the draft may read but not upload; those who don't get 404.
    upload_as(&app, w.cj_staff.t(), &id).assert_problem(403, "forbidden");
    // Any collective user of the village files documents for it.
    let by_second = created(&upload_as(&app, second_collective.t(), &id), "second user");
    upload_as(&app, w.jg.t(), &id).assert_problem(404, "not_found");
    upload_as(&app, w.investor.t(), &id).assert_problem(404, "not_found");
    upload_as(&app, None, &id).assert_problem(401, "unauthorized");
    assert_eq!(
        doc_ids(&docs_of(&app, w.cj_staff.t(), "listings", &id)).len(),
        3
    );
    for token in [w.jg.t(), w.sy_staff.t(), w.investor.t(), None] {
        docs_of(&app, token, "listings", &id).assert_problem(404, "not_found");
        app.get(&format!("/api/v1/documents/{}", ids[0]), token)
            .assert_problem(404, "not_found");
        let (status, _, _) =
            app.get_bytes(&format!("/api/v1/documents/{}/content", ids[0]), token, &[]);
        assert_eq!(status, 404);
    }

    // Submitted: the documents are final (409), nothing more is filed.
    let sub = ok(submit(&app, &w.ht, &id));
    assert_eq!(sub["status"], "submitted");
    delete(&app, w.ht.t(), &ids[0]).assert_problem(409, "invalid_state");
    upload_as(&app, w.ht.t(), &id).assert_problem(409, "invalid_state");
    // Returned for changes: editable again.
    ok(app.post(
        &format!("/api/v1/listings/{id}/return"),
        w.cj_staff.t(),
        json!({"reason": "委托书不全"}),
    ));
    let extra = created(&upload_as(&app, w.ht.t(), &id), "after return");
    assert_eq!(delete(&app, w.ht.t(), &extra).status, 204);
    ok(submit(&app, &w.ht, &id));
    ok(app.post(
        &format!("/api/v1/listings/{id}/approve"),
        w.cj_staff.t(),
        json!({}),
    ));
    // Announced (public): anyone reads the documents; nobody changes them.
    assert_eq!(
        doc_ids(&docs_of(&app, None, "listings", &id)),
        vec![ids[0].clone(), ids[1].clone(), by_second]
    );
    let (status, _, body) =
        app.get_bytes(&format!("/api/v1/documents/{}/content", ids[0]), None, &[]);
    assert_eq!((status, body), (200, files[0].3.clone()));
    delete(&app, w.ht.t(), &ids[0]).assert_problem(409, "invalid_state");
}

fn upload_as(app: &TestApp, token: Option<&str>, listing: &str) -> Resp {
    upload(
        app,
        token,
        "listings",
        listing,
        "parcel_map",
        "图.pdf",
        "application/pdf",
        &pdf(&format!("map {}", uuid::Uuid::new_v4())),
    )
}

#[test]
fn bad_uploads_are_refused_before_anything_is_stored() {
    let app = TestApp::start_with(|s| s.documents.max_bytes = 4096);
    let w = World::new(&app);
    let id = bare_draft(&app, &w);
    let path = |q: &str| format!("/api/v1/listings/{id}/documents?{q}");
    let send =
        |q: &str, ct: Option<&str>, body: &[u8]| app.send_bytes(&path(q), w.ht.t(), ct, body);
    let ok_q = "kind=resolution&filename=a.pdf";
    // The type: the declared one must be accepted, and the bytes must show it.
    send(ok_q, Some("text/plain"), b"%PDF-1.4 hello").assert_problem(415, "unsupported_media_type");
    send(ok_q, None, b"%PDF-1.4 hello").assert_problem(415, "unsupported_media_type");
    send(ok_q, Some("application/pdf"), &png("not a pdf"))
        .assert_problem(415, "unsupported_media_type");
    send(ok_q, Some("image/png"), b"GIF89a....").assert_problem(415, "unsupported_media_type");
    send(ok_q, Some("image/jpeg"), b"").assert_problem(415, "unsupported_media_type");
    send(ok_q, Some("image/jpeg"), b"\xFF\xD8").assert_problem(415, "unsupported_media_type");
    // Kind and file name.
    send(
        "kind=id_copy&filename=a.pdf",
        Some("application/pdf"),
        &pdf("x"),
    )
    .assert_field("kind");
    send(
        "kind=nonsense&filename=a.pdf",
        Some("application/pdf"),
        &pdf("x"),
    )
    .assert_field("kind");
    send("filename=a.pdf", Some("application/pdf"), &pdf("x")).assert_field("kind");
    send("kind=resolution", Some("application/pdf"), &pdf("x")).assert_field("filename");
    for bad in ["..%2Fetc%2Fpasswd", "a%5Cb.pdf", "%20", "a%E2%80%AEfdp.exe"] {
        send(
            &format!("kind=resolution&filename={bad}"),
            Some("application/pdf"),
            &pdf("x"),
        )
        .assert_field("filename");
    }
    send(
        &format!("kind=resolution&filename={}", "a".repeat(256)),
        Some("application/pdf"),
        &pdf("x"),
    )
    .assert_field("filename");
    // Size: over the limit by one byte (the body read), and by its Content-Length alone.
    let mut big = pdf("big");
    big.resize(4097, b' ');
    send(ok_q, Some("application/pdf"), &big).assert_problem(413, "payload_too_large");
    let mut fits = big.clone();
    fits.truncate(4096);
    assert_eq!(send(ok_q, Some("application/pdf"), &fits).status, 201);
    let (status, text) = announce_huge_upload(&app, w.ht.t().unwrap(), &path(ok_q));
    assert_eq!(status, 413, "{text}");
    assert!(text.contains("payload_too_large"), "{text}");
    // A path id that isn't a UUID, an unknown collection, an unknown owner.
    app.send_bytes(
        "/api/v1/listings/x/documents?kind=resolution&filename=a.pdf",
        w.ht.t(),
        Some("application/pdf"),
        &pdf("x"),
    )
    .assert_problem(400, "bad_request");
    app.send_bytes(
        &format!("/api/v1/parcels/{id}/documents?kind=resolution&filename=a.pdf"),
        w.ht.t(),
        Some("application/pdf"),
        &pdf("x"),
    )
    .assert_problem(404, "not_found");
    app.send_bytes(
        &format!(
            "/api/v1/listings/{}/documents?kind=resolution&filename=a.pdf",
            uuid::Uuid::now_v7()
        ),
        w.ht.t(),
        Some("application/pdf"),
        &pdf("x"),
    )
    .assert_problem(404, "not_found");
    // Only the one that fits was stored.
    assert_eq!(doc_ids(&docs_of(&app, w.ht.t(), "listings", &id)).len(), 1);
    let stored = crate::support::db::count(app.pool(), "documents", "1 = 1");
    assert_eq!(stored, 1);
}

/// Sends only the head of an upload announcing a body far over the limit, and reads the
/// answer without sending a byte of the body: (status, answer text).
fn announce_huge_upload(app: &TestApp, token: &str, path: &str) -> (u16, String) {
    let addr = app.base.trim_start_matches("http://").to_string();
    let mut sock = std::net::TcpStream::connect(&addr).unwrap();
    sock.set_read_timeout(Some(Duration::from_secs(10)))
        .unwrap();
    write!(
        sock,
        "POST {path} HTTP/1.1\r\nHost: {addr}\r\nAuthorization: Bearer {token}\r\n\
         Content-Type: application/pdf\r\nContent-Length: 1073741824\r\n\r\n"
    )
    .unwrap();
    sock.flush().unwrap();
    let mut buf = vec![0u8; 8192];
    let mut got = Vec::new();
    while !String::from_utf8_lossy(&got).contains("}") {
        let n = sock
            .read(&mut buf)
            .expect("an answer before any body byte was sent");
        if n == 0 {
            break;
        }
        got.extend_from_slice(&buf[..n]);
    }
    let text = String::from_utf8_lossy(&got).to_string();
    let status = text
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or(0);
    (status, text)
}

#[test]
fn registration_documents_are_personal_data() {
    let app = TestApp::start_for_trading();
    let w = World::new(&app);
    let a = listing(&app, &w, "30.00", RESERVE);
    let b = enrol(&app, &w, &a, Plan::person("王建国").unqualified().unpaid());
    let files = [
        ("id_copy", "身份证复印件.jpg", "image/jpeg", jpeg("id")),
        (
            "business_licence",
            "营业执照.pdf",
            "application/pdf",
            pdf("licence"),
        ),
        ("qualification", "农机操作证.png", "image/png", png("qual")),
    ];
    let mut ids = Vec::new();
    for (kind, name, ct, bytes) in &files {
        let r = upload(
            &app,
            Some(b.token()),
            "registrations",
            &b.reg,
            kind,
            name,
            ct,
            bytes,
        );
        assert_eq!(r.status, 201, "{kind}: {}", r.text);
        assert_eq!(r.body["owner_type"], "registration");
        ids.push(r.id());
    }
    // A listing's kind isn't a registration's.
    upload(
        &app,
        Some(b.token()),
        "registrations",
        &b.reg,
        "resolution",
        "a.pdf",
        "application/pdf",
        &pdf("r"),
    )
    .assert_field("kind");
    // The registrant, its township's staff and admins read them; staff don't file them.
    for token in [Some(b.token()), w.cj_staff.t(), w.admin()] {
        assert_eq!(doc_ids(&docs_of(&app, token, "registrations", &b.reg)), ids);
    }
    upload(
        &app,
        w.cj_staff.t(),
        "registrations",
        &b.reg,
        "id_copy",
        "a.jpg",
        "image/jpeg",
        &jpeg("s"),
    )
    .assert_problem(403, "forbidden");
    // The owner collective sees the listing, not the registrant's papers.
    let other = enrol(&app, &w, &a, Plan::person("李四").unqualified().unpaid());
    for token in [w.ht.t(), w.sy_staff.t(), Some(other.token()), w.jg.t()] {
        docs_of(&app, token, "registrations", &b.reg).assert_problem(404, "not_found");
        app.get(&format!("/api/v1/documents/{}", ids[0]), token)
            .assert_problem(404, "not_found");
        assert_eq!(
            app.get_bytes(&format!("/api/v1/documents/{}/content", ids[0]), token, &[])
                .0,
            404
        );
        upload(
            &app,
            token,
            "registrations",
            &b.reg,
            "id_copy",
            "a.jpg",
            "image/jpeg",
            &jpeg("o"),
        )
        .assert_problem(404, "not_found");
        delete(&app, token, &ids[0]).assert_problem(404, "not_found");
    }
    docs_of(&app, None, "registrations", &b.reg).assert_problem(401, "unauthorized");
    app.get(&format!("/api/v1/documents/{}", ids[0]), None)
        .assert_problem(404, "not_found");
    // The registrant removes one while applied; once qualified they are final.
    assert_eq!(delete(&app, Some(b.token()), &ids[2]).status, 204);
    qualify(&app, &w, &b.reg);
    delete(&app, Some(b.token()), &ids[0]).assert_problem(409, "invalid_state");
    upload(
        &app,
        Some(b.token()),
        "registrations",
        &b.reg,
        "qualification",
        "b.png",
        "image/png",
        &png("late"),
    )
    .assert_problem(409, "invalid_state");
    // On the listing's stream.
    let recs = doc_audit(&app, &ids[0]);
    assert_eq!(recs[0].2, format!("listing:{}", a.id));
}

#[test]
fn contract_documents_and_the_signed_scan_rule() {
    let app = TestApp::start_with(|s| {
        s.auth.access_token_minutes = 60 * 24 * 366 * 15;
        s.auth.ip_attempts_per_minute = 1_000_000;
        s.documents.require_signed_scan = true;
    });
    let w = World::new(&app);
    let d = confirmed_deal(&app, &w, ("2027-03-01", "2030-02-28"));
    let c = &d.contract;
    // The parties and the township's staff file documents; the runner-up sees nothing.
    let draft_scan = upload_pdf(
        &app,
        d.winner().t(),
        "contracts",
        c,
        "signed_scan",
        "合同草稿.pdf",
    );
    upload(
        &app,
        w.sy_staff.t(),
        "contracts",
        c,
        "signed_scan",
        "a.pdf",
        "application/pdf",
        &pdf("x"),
    )
    .assert_problem(404, "not_found");
    upload(
        &app,
        d.runner_up.inv.t(),
        "contracts",
        c,
        "signed_scan",
        "a.pdf",
        "application/pdf",
        &pdf("x"),
    )
    .assert_problem(404, "not_found");
    upload(
        &app,
        w.insurer.t(),
        "contracts",
        c,
        "signed_scan",
        "a.pdf",
        "application/pdf",
        &pdf("x"),
    )
    .assert_problem(404, "not_found");
    upload(
        &app,
        w.ht.t(),
        "contracts",
        c,
        "evidence",
        "a.pdf",
        "application/pdf",
        &pdf("x"),
    )
    .assert_field("kind");
    // A draft's document may be removed by its uploader.
    let draft_id = s(&draft_scan["id"]);
    delete(&app, w.ht.t(), &draft_id).assert_problem(403, "forbidden");
    assert_eq!(delete(&app, d.winner().t(), &draft_id).status, 204);
    // Certification needs the signed scan (documents.require_signed_scan).
    sign_both(&app, &w, &d);
    let r = ct::act(&app, w.cj_staff.t(), c, "certify", json!({}));
    assert_eq!(fields(&r), vec!["documents"]);
    let scan = upload_pdf(
        &app,
        w.cj_staff.t(),
        "contracts",
        c,
        "signed_scan",
        "土地经营权流转合同（签字版）.pdf",
    );
    assert_eq!(scan["owner_type"], "contract");
    // Signed: no longer a draft, so final.
    delete(&app, w.cj_staff.t(), &s(&scan["id"])).assert_problem(409, "invalid_state");
    let certified = ok(ct::act(&app, w.cj_staff.t(), c, "certify", json!({})));
    assert_eq!(certified["status"], "certified");
    upload(
        &app,
        w.ht.t(),
        "contracts",
        c,
        "signed_scan",
        "b.pdf",
        "application/pdf",
        &pdf("late"),
    )
    .assert_problem(409, "invalid_state");
    for token in [w.ht.t(), d.winner().t(), w.cj_staff.t(), w.admin()] {
        assert_eq!(
            doc_ids(&docs_of(&app, token, "contracts", c)),
            vec![s(&scan["id"])]
        );
    }
    docs_of(&app, None, "contracts", c).assert_problem(401, "unauthorized");
    docs_of(&app, w.jg.t(), "contracts", c).assert_problem(404, "not_found");
    let recs = doc_audit(&app, &s(&scan["id"]));
    assert_eq!(recs[0].2, format!("contract:{c}"));
}

#[test]
fn claim_evidence_is_filed_by_the_claimants() {
    let app = ins::start();
    let w = World::new(&app);
    let axny = company_of(&app, &w.insurer);
    let c = certified_contract(&app, &w, w.cj(), Terms::standard());
    let i1 = s(&ins::installment(&app, &c.investor.token, &c.id, 1)["id"]);
    let p = ins::quote_ok(&app, &c.investor.token, &c.id, 1, &axny);
    ok(ins::issue(
        &app,
        &w.insurer.token,
        &s(&p["id"]),
        "AXNY-2027-DOC-1",
    ));
    day(&app, "2027-03-02");
    let claim = created(&ins::file_claim(&app, &c.owner.token, &i1), "claim");
    let ev = upload(
        &app,
        c.owner.t(),
        "claims",
        &claim,
        "evidence",
        "催缴通知书.jpg",
        "image/jpeg",
        &jpeg("notice"),
    );
    assert_eq!(ev.status, 201, "{}", ev.text);
    let staff_ev = upload_pdf(
        &app,
        c.staff.t(),
        "claims",
        &claim,
        "evidence",
        "违约认定.pdf",
    );
    // The investor and the insurer read the claim but don't file its evidence.
    upload(
        &app,
        c.investor.t(),
        "claims",
        &claim,
        "evidence",
        "a.pdf",
        "application/pdf",
        &pdf("i"),
    )
    .assert_problem(403, "forbidden");
    upload(
        &app,
        w.insurer.t(),
        "claims",
        &claim,
        "evidence",
        "a.pdf",
        "application/pdf",
        &pdf("u"),
    )
    .assert_problem(403, "forbidden");
    for token in [c.investor.t(), w.insurer.t(), c.owner.t()] {
        assert_eq!(
            docs_of(&app, token, "claims", &claim).body["items"]
                .as_array()
                .unwrap()
                .len(),
            2
        );
    }
    docs_of(&app, w.jg.t(), "claims", &claim).assert_problem(404, "not_found");
    // Under review: more evidence may come, none may go.
    ok(ins::decide(
        &app,
        &w.insurer.token,
        &claim,
        "review",
        json!({}),
    ));
    assert_eq!(
        upload_pdf(
            &app,
            c.owner.t(),
            "claims",
            &claim,
            "evidence",
            "补充材料.pdf"
        )["kind"],
        "evidence"
    );
    delete(&app, c.staff.t(), &s(&staff_ev["id"])).assert_problem(409, "invalid_state");
    let recs = doc_audit(&app, &ev.id());
    assert_eq!(recs[0].2, format!("contract:{}", c.id));
}

#[test]
fn chinese_file_names_etags_and_ranges() {
    let app = TestApp::start_for_trading();
    let w = World::new(&app);
    let id = bare_draft(&app, &w);
    let name = "村民代表会议决议（2027年第1号） final.pdf";
    // Two and a half chunks, so ranges cross chunk boundaries.
    let mut bytes = pdf("ranges");
    let mut x: u32 = 7;
    while bytes.len() < 2_600_000 {
        x = x.wrapping_mul(1_103_515_245).wrapping_add(12_345);
        bytes.push((x >> 16) as u8);
    }
    let r = upload(
        &app,
        w.ht.t(),
        "listings",
        &id,
        "resolution",
        name,
        "application/pdf",
        &bytes,
    );
    assert_eq!(r.status, 201, "{}", r.text);
    assert_eq!(r.body["filename"], name);
    let doc = r.id();
    let path = format!("/api/v1/documents/{doc}/content");
    let (status, headers, body) = app.get_bytes(&path, w.ht.t(), &[]);
    let h = |hs: &Vec<(String, String)>, n: &str| {
        hs.iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(n))
            .map(|(_, v)| v.clone())
            .unwrap_or_default()
    };
    assert_eq!(status, 200);
    assert_eq!(body.len(), bytes.len());
    assert!(body == bytes, "the whole file round-trips");
    assert_eq!(h(&headers, "content-type"), "application/pdf");
    assert_eq!(h(&headers, "content-length"), bytes.len().to_string());
    assert_eq!(h(&headers, "etag"), format!("\"{}\"", sha_hex(&bytes)));
    assert_eq!(h(&headers, "accept-ranges"), "bytes");
    // RFC 6266/5987: the UTF-8 name, percent-encoded, decodes to what was uploaded.
    let cd = h(&headers, "content-disposition");
    assert!(cd.starts_with("attachment; filename=\""), "{cd}");
    let star = cd.split("filename*=UTF-8''").nth(1).expect("filename*");
    assert_eq!(percent_decode(star), name);
    // Ranges.
    let chunk = 1usize << 20;
    for (range, first, last) in [
        ("bytes=0-9".to_string(), 0, 9),
        (
            format!("bytes={}-{}", chunk - 5, chunk + 4),
            chunk - 5,
            chunk + 4,
        ),
        (
            format!("bytes={}-", 2 * chunk + 3),
            2 * chunk + 3,
            bytes.len() - 1,
        ),
        ("bytes=-7".to_string(), bytes.len() - 7, bytes.len() - 1),
        (format!("bytes=5-{}", bytes.len() * 2), 5, bytes.len() - 1),
    ] {
        let (status, headers, body) = app.get_bytes(&path, w.ht.t(), &[("Range", &range)]);
        assert_eq!(status, 206, "{range}");
        assert_eq!(
            h(&headers, "content-range"),
            format!("bytes {first}-{last}/{}", bytes.len()),
            "{range}"
        );
        assert!(body == bytes[first..=last], "{range}");
    }
    // A range past the end, several ranges, or a stale If-Range: the whole file.
    for hs in [
        vec![("Range", format!("bytes={}-", bytes.len()))],
        vec![("Range", "bytes=0-1,5-6".to_string())],
        vec![
            ("Range", "bytes=0-9".to_string()),
            ("If-Range", "\"stale\"".to_string()),
        ],
    ] {
        let hs: Vec<(&str, &str)> = hs.iter().map(|(k, v)| (*k, v.as_str())).collect();
        let (status, _, body) = app.get_bytes(&path, w.ht.t(), &hs);
        assert_eq!((status, body.len()), (200, bytes.len()), "{hs:?}");
    }
    let etag = format!("\"{}\"", sha_hex(&bytes));
    let (status, _, body) = app.get_bytes(&path, w.ht.t(), &[("If-None-Match", &etag)]);
    assert_eq!((status, body.len()), (304, 0));
    // The same content filed twice is stored once.
    let again = upload(
        &app,
        w.ht.t(),
        "listings",
        &id,
        "commission",
        "副本.pdf",
        "application/pdf",
        &bytes,
    );
    assert_eq!(again.status, 201);
    assert_eq!(
        crate::support::db::count(app.pool(), "document_blobs", "1 = 1"),
        1
    );
    assert_eq!(
        crate::support::db::count(app.pool(), "document_chunks", "1 = 1"),
        3
    );
    // Removing one copy keeps the content the other names; removing both removes it.
    assert_eq!(delete(&app, w.ht.t(), &again.id()).status, 204);
    assert_eq!(app.get_bytes(&path, w.ht.t(), &[]).2.len(), bytes.len());
    assert_eq!(delete(&app, w.ht.t(), &doc).status, 204);
    assert_eq!(
        crate::support::db::count(app.pool(), "document_blobs", "1 = 1"),
        0
    );
    assert_eq!(
        crate::support::db::count(app.pool(), "document_chunks", "1 = 1"),
        0
    );
}

fn percent_decode(s: &str) -> String {
    let b = s.as_bytes();
    let mut out = Vec::new();
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'%' {
            out.push(
                u8::from_str_radix(std::str::from_utf8(&b[i + 1..i + 3]).unwrap(), 16).unwrap(),
            );
            i += 3;
        } else {
            out.push(b[i]);
            i += 1;
        }
    }
    String::from_utf8(out).expect("UTF-8")
}

#[test]
fn an_upload_honours_its_idempotency_key() {
    let app = TestApp::start_for_trading();
    let w = World::new(&app);
    let id = bare_draft(&app, &w);
    let path =
        format!("/api/v1/listings/{id}/documents?kind=resolution&filename=%E5%86%B3%E8%AE%AE.pdf");
    let send = |key: &str, body: &[u8]| {
        app.try_send_bytes(
            "POST",
            &path,
            w.ht.t(),
            Some("application/pdf"),
            body,
            &[("Idempotency-Key", key)],
        )
        .unwrap()
    };
    let first = send("scan-1", &pdf("one"));
    assert_eq!(first.status, 201, "{}", first.text);
    let again = send("scan-1", &pdf("one"));
    assert_eq!(again.status, 201);
    assert_eq!(again.id(), first.id());
    assert_eq!(again.header("idempotent-replayed"), Some("true"));
    send("scan-1", &pdf("two")).assert_problem(422, "idempotency_key_reused");
    assert_eq!(doc_ids(&docs_of(&app, w.ht.t(), "listings", &id)).len(), 1);
    // The size limit holds with a key too.
    let big = vec![b'%'; 21 * 1024 * 1024];
    send("scan-2", &big).assert_problem(413, "payload_too_large");
}

/// `landx documents verify` against the app's database (and documents.dir, if set).
fn verify(app: &TestApp) -> (i32, String) {
    let dir = tempfile::tempdir().unwrap();
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_landx"))
        .args(["documents", "verify"])
        .env("LANDX_DATABASE__URL", &app.settings.database.url)
        .env("LANDX_DOCUMENTS__DIR", &app.settings.documents.dir)
        .env("LANDX_ENV", "test")
        .env_remove("RUST_LOG")
        .current_dir(dir.path())
        .output()
        .expect("run landx");
    (
        out.status.code().unwrap_or(-1),
        format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        ),
    )
}

/// A bytea/BLOB literal of `b` for this app's backend.
fn blob_lit(app: &TestApp, b: &[u8]) -> String {
    if app.db.is_postgres() {
        format!("'\\x{}'::bytea", hex::encode(b))
    } else {
        format!("X'{}'", hex::encode(b))
    }
}

#[test]
fn content_changed_behind_the_servers_back_is_detected() {
    let app = TestApp::start_for_trading();
    let w = World::new(&app);
    let id = bare_draft(&app, &w);
    let a = upload_pdf(&app, w.ht.t(), "listings", &id, "resolution", "决议.pdf");
    let b = upload_pdf(&app, w.ht.t(), "listings", &id, "commission", "委托书.pdf");
    let (code, out) = verify(&app);
    assert_eq!(code, 0, "{out}");
    assert!(
        out.contains("documents intact: 2 document(s) verified"),
        "{out}"
    );
    // Someone swaps the bytes of the resolution in the database.
    app.exec_sql(&format!(
        "UPDATE document_chunks SET bytes = {} WHERE sha256 = '{}'",
        blob_lit(&app, &pdf("a forged resolution")),
        s(&a["sha256"])
    ));
    let (code, out) = verify(&app);
    assert_eq!(code, 1, "{out}");
    assert!(
        out.contains(&format!("document {} TAMPERED", s(&a["id"]))),
        "{out}"
    );
    assert!(!out.contains(&s(&b["id"])), "{out}");
    // Pointing a document's row at other content is caught by its audit record.
    app.exec_sql(&format!(
        "UPDATE documents SET sha256 = '{}' WHERE id = '{}'",
        s(&b["sha256"]),
        s(&a["id"])
    ));
    let (code, out) = verify(&app);
    assert_eq!(code, 1, "{out}");
    assert!(
        out.contains(&format!(
            "document {} TAMPERED: its SHA-256 differs",
            s(&a["id"])
        )),
        "{out}"
    );
}

#[test]
fn contents_may_live_in_a_directory() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join("documents");
    let app = TestApp::start_with(|s| {
        s.auth.ip_attempts_per_minute = 1_000_000;
        s.documents.dir = root.display().to_string();
    });
    let w = World::new(&app);
    let id = bare_draft(&app, &w);
    let bytes = pdf("kept in a directory");
    let d = upload(
        &app,
        w.ht.t(),
        "listings",
        &id,
        "resolution",
        "决议.pdf",
        "application/pdf",
        &bytes,
    );
    assert_eq!(d.status, 201, "{}", d.text);
    let sha = s(&d.body["sha256"]);
    let file = root.join(&sha[..2]).join(&sha);
    assert_eq!(std::fs::read(&file).unwrap(), bytes);
    assert_eq!(
        crate::support::db::count(app.pool(), "document_chunks", "1 = 1"),
        0
    );
    let (status, _, body) = app.get_bytes(
        &format!("/api/v1/documents/{}/content", d.id()),
        w.ht.t(),
        &[("Range", "bytes=1-4")],
    );
    assert_eq!((status, body.as_slice()), (206, &bytes[1..=4]));
    assert_eq!(verify(&app).0, 0);
    std::fs::write(&file, pdf("swapped on disk")).unwrap();
    let (code, out) = verify(&app);
    assert_eq!(code, 1, "{out}");
    assert!(
        out.contains(&format!("document {} TAMPERED", d.id())),
        "{out}"
    );
    // Unused afterwards: the spool directory holds no leftovers.
    let tmp: Vec<_> = std::fs::read_dir(root.join("tmp")).unwrap().collect();
    assert!(tmp.is_empty(), "{tmp:?}");
}
