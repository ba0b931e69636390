//! The web console's files (issue 15): served at `/` and under `/app/` with their types, a
//! strict Content-Security-Policy and content-hash revalidation, the console's own paths
//! falling back to `index.html`, and nothing of the API shadowed.

use crate::support::TestApp;

fn header<'a>(r: &'a crate::support::harness::Resp, name: &str) -> &'a str {
    r.header(name)
        .unwrap_or_else(|| panic!("no {name} header: {:?}", r.headers))
}

#[test]
fn console_is_served_with_types_and_a_strict_policy() {
    let app = TestApp::start();
    let index = app.get("/", None);
    assert_eq!(index.status, 200);
    assert_eq!(header(&index, "content-type"), "text/html; charset=utf-8");
    assert!(index.text.contains(r#"<html lang="zh-CN">"#));
    assert!(index.text.contains(r#"src="/app/assets/js/main.js""#));
    // No inline script: every <script> names its file.
    assert!(!index.text.contains("<script>") && !index.text.contains("<script type=\"module\">"));
    let csp = header(&index, "content-security-policy");
    for part in [
        "default-src 'none'",
        "script-src 'self'",
        "connect-src 'self'",
        "frame-ancestors 'none'",
        "base-uri 'none'",
    ] {
        assert!(csp.contains(part), "{part} in {csp}");
    }
    assert!(
        !csp.contains("unsafe-inline") && !csp.contains("unsafe-eval"),
        "{csp}"
    );
    assert_eq!(header(&index, "cache-control"), "no-cache");

    for (path, ty) in [
        ("/app/assets/js/main.js", "text/javascript; charset=utf-8"),
        ("/app/assets/js/api.js", "text/javascript; charset=utf-8"),
        ("/app/assets/app.css", "text/css; charset=utf-8"),
    ] {
        let r = app.get(path, None);
        assert_eq!(r.status, 200, "{path}");
        assert_eq!(header(&r, "content-type"), ty, "{path}");
        assert_eq!(header(&r, "x-content-type-options"), "nosniff");
    }

    // The console's own paths are its screens: index.html, to be routed in the browser.
    for path in [
        "/app",
        "/app/login",
        "/app/listings/0198c0de-0000-7000-8000-000000000000",
    ] {
        let r = app.get(path, None);
        assert_eq!(r.status, 200, "{path}");
        assert_eq!(r.text, index.text, "{path}");
    }
}

#[test]
fn assets_revalidate_by_content_hash() {
    let app = TestApp::start();
    let r = app.get("/app/assets/js/format.js", None);
    let etag = header(&r, "etag").to_string();
    assert!(etag.starts_with('"') && etag.len() > 10, "{etag}");
    let again = ureq::get(&app.url("/app/assets/js/format.js"))
        .set("If-None-Match", &etag)
        .call()
        .expect("conditional GET");
    assert_eq!(again.status(), 304);
    let other = ureq::get(&app.url("/app/assets/js/format.js"))
        .set("If-None-Match", "\"something-else\"")
        .call()
        .expect("conditional GET");
    assert_eq!(other.status(), 200);
}

#[test]
fn console_shadows_nothing_of_the_api() {
    let app = TestApp::start();
    // Unknown assets and unknown API paths stay problem+json 404s.
    for path in [
        "/app/assets/nope.js",
        "/app/assets/index.html",
        "/api/v1/nope",
        "/api/v2/listings",
        "/apps",
        "/favicon.ico",
    ] {
        let r = app.get(path, None);
        assert_eq!(r.status, 404, "{path}: {}", r.text);
        assert_eq!(
            header(&r, "content-type"),
            "application/problem+json",
            "{path}"
        );
        assert_eq!(r.body["code"], "not_found", "{path}");
    }
    assert_eq!(app.get("/healthz", None).body["status"], "ok");
    assert_eq!(app.get("/readyz", None).status, 200);
    assert!(app.get("/openapi.json", None).body["paths"].is_object());
    assert!(app.get("/docs", None).text.contains("swagger-ui"));
    assert!(app.get("/metrics", None).text.contains("landx_"));
    assert_eq!(app.get("/api/v1/listings", None).status, 200);
    // A method the console doesn't answer is refused like any other.
    let r = app.post("/app/login", None, serde_json::json!({}));
    assert_eq!(r.status, 405, "{}", r.text);
    assert_eq!(header(&r, "content-type"), "application/problem+json");
}
