//! The OpenAPI document: it describes every route, and any change to it shows up in review as
//! a change of the checked-in snapshot `tests/api/snapshots/openapi.json`
//! (`LANDX_UPDATE_SNAPSHOTS=1 cargo test openapi` rewrites it).

use std::path::PathBuf;

use serde_json::{Map, Value};

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
        if path == "/openapi.json"
            || path.starts_with("/docs")
            || crate::support::internals::page_paths().contains(&path.as_str())
        {
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
    // And the other way round: every documented operation is served.
    let routed: Vec<(String, String)> = route_list()
        .into_iter()
        .map(|(m, p)| (m.to_lowercase(), p))
        .collect();
    let mut unrouted = Vec::new();
    for (path, ops) in paths {
        for m in ops.as_object().expect("operations").keys() {
            if !routed.iter().any(|(rm, rp)| rm == m && rp == path) {
                unrouted.push(format!("{m} {path}"));
            }
        }
    }
    assert!(
        unrouted.is_empty(),
        "documented but not routed: {unrouted:?}"
    );
    // Client generators need one operation id per operation.
    let mut ids: Vec<String> = paths
        .values()
        .flat_map(|ops| ops.as_object().expect("operations").values())
        .filter_map(|op| op["operationId"].as_str().map(str::to_string))
        .collect();
    let all = ids.len();
    ids.sort();
    ids.dedup();
    assert_eq!(ids.len(), all, "operation ids are unique");
    // Named `<verb>_<resource>` (the handler's name), so generated clients read well.
    const VERBS: &[&str] = &[
        "get",
        "list",
        "search",
        "create",
        "patch",
        "stream",
        "register",
        "verify",
        "login",
        "logout",
        "refresh",
        "request",
        "confirm",
        "accept",
        "disable",
        "submit",
        "approve",
        "return",
        "cancel",
        "relist",
        "qualify",
        "reject",
        "refund",
        "place",
        "decline",
        "sign",
        "certify",
        "terminate",
        "record",
        "quote",
        "issue",
        "file",
        "review",
        "pay",
        "write",
        "advance",
        "upload",
        "delete",
    ];
    let misnamed: Vec<&String> = ids
        .iter()
        .filter(|id| {
            let mut words = id.split('_');
            let verb = words.next().unwrap_or_default();
            !VERBS.contains(&verb)
                || words.next().is_none()
                || !id
                    .chars()
                    .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_')
        })
        .collect();
    assert!(
        misnamed.is_empty(),
        "operation ids not named <verb>_<resource>: {misnamed:?}"
    );
    let docs = app.get("/docs", None);
    assert_eq!(docs.status, 200);
    assert!(docs.text.contains("swagger-ui"));
    assert_eq!(app.get("/docs/swagger-ui-bundle.js", None).status, 200);
    assert_eq!(app.get("/docs/swagger-ui.css", None).status, 200);
}

fn snapshot_path() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/api/snapshots/openapi.json")
}

/// The same value with every object's keys in sorted order (whatever map serde_json uses).
fn canonical(v: &Value) -> Value {
    match v {
        Value::Object(m) => {
            let mut keys: Vec<&String> = m.keys().collect();
            keys.sort();
            let mut out = Map::new();
            for k in keys {
                out.insert(k.clone(), canonical(&m[k]));
            }
            Value::Object(out)
        }
        Value::Array(a) => Value::Array(a.iter().map(canonical).collect()),
        other => other.clone(),
    }
}

/// Where two documents differ, as JSON pointers (at most `max`).
fn differences(want: &Value, got: &Value, at: &str, out: &mut Vec<String>, max: usize) {
    if out.len() >= max || want == got {
        return;
    }
    match (want, got) {
        (Value::Object(a), Value::Object(b)) => {
            let mut keys: Vec<&String> = a.keys().chain(b.keys()).collect();
            keys.sort();
            keys.dedup();
            for k in keys {
                let p = format!("{at}/{}", k.replace('~', "~0").replace('/', "~1"));
                match (a.get(k), b.get(k)) {
                    (Some(x), Some(y)) => differences(x, y, &p, out, max),
                    (Some(_), None) => out.push(format!("- {p} (gone from the live document)")),
                    (None, Some(_)) => out.push(format!("+ {p} (new in the live document)")),
                    (None, None) => {}
                }
                if out.len() >= max {
                    return;
                }
            }
        }
        (Value::Array(a), Value::Array(b)) if a.len() == b.len() => {
            for (i, (x, y)) in a.iter().zip(b).enumerate() {
                differences(x, y, &format!("{at}/{i}"), out, max);
            }
        }
        _ => out.push(format!("~ {at}: {} → {}", short(want), short(got))),
    }
}

fn short(v: &Value) -> String {
    let s = v.to_string();
    if s.chars().count() > 80 {
        format!("{}…", s.chars().take(80).collect::<String>())
    } else {
        s
    }
}

#[test]
fn openapi_matches_the_checked_in_snapshot() {
    let app = TestApp::start();
    let r = app.get("/openapi.json", None);
    assert_eq!(r.status, 200, "{}", r.text);
    let live = canonical(&r.body);
    let pretty = serde_json::to_string_pretty(&live).unwrap() + "\n";
    let path = snapshot_path();
    if std::env::var("LANDX_UPDATE_SNAPSHOTS").as_deref() == Ok("1") {
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(&path, &pretty).unwrap();
        eprintln!("rewrote {}", path.display());
        return;
    }
    let stored = std::fs::read_to_string(&path).unwrap_or_else(|e| {
        panic!(
            "{}: {e}; create it with `LANDX_UPDATE_SNAPSHOTS=1 cargo test openapi`",
            path.display()
        )
    });
    if stored == pretty {
        return;
    }
    let want: Value = serde_json::from_str(&stored).expect("the snapshot is JSON");
    let mut diff = Vec::new();
    differences(&canonical(&want), &live, "", &mut diff, 20);
    if diff.is_empty() {
        diff.push(
            "same content, different formatting (keys unsorted or not pretty-printed)".into(),
        );
    }
    panic!(
        "/openapi.json differs from {}:\n  {}\nIf the change is intended, review it and run \
         `LANDX_UPDATE_SNAPSHOTS=1 cargo test openapi` to rewrite the snapshot.",
        path.display(),
        diff.join("\n  ")
    );
}
