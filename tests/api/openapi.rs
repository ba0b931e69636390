//! The OpenAPI document describes every route.

use crate::support::internals::route_list;
use crate::support::TestApp;

#[test]
fn openapi_describes_every_route() {
    let app = TestApp::start();
    let doc = app.get("/openapi.json", None);
    assert_eq!(doc.status, 200);
    let paths = doc.body["paths"].as_object().expect("paths");
    let mut missing = Vec::new();
    for (method, path) in route_list() {
        if path == "/openapi.json" || path.starts_with("/docs") {
            continue;
        }
        let m = method.to_lowercase();
        if paths.get(&path).and_then(|p| p.get(&m)).is_none() {
            missing.push(format!("{method} {path}"));
        }
    }
    assert!(
        missing.is_empty(),
        "routes missing from OpenAPI: {missing:?}"
    );
    let docs = app.get("/docs", None);
    assert_eq!(docs.status, 200);
    assert!(docs.text.contains("swagger-ui"));
    assert_eq!(app.get("/docs/swagger-ui-bundle.js", None).status, 200);
    assert_eq!(app.get("/docs/swagger-ui.css", None).status, 200);
}
