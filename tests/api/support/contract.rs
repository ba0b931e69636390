//! Every answer a test receives is checked against the application's own OpenAPI document
//! (`landx::api::docs::document()`), so the document can't drift from the behaviour: the
//! path and method must be documented (else the answer must be the 404/405 problem of an
//! unknown route), the status must be documented for that operation, the content type must
//! be one the document lists for it (no content where it lists none), and a JSON body must
//! validate against its schema (JSON Schema 2020-12, formats checked). Objects are closed for
//! the check (`unevaluatedProperties: false` added to every object schema): a field the
//! document doesn't name is a mismatch too.
//!
//! The harness's `Client` calls [`check`] on every answer; a mismatch fails the test with the
//! operation, status and the validator's words. Only the pages of the e-mailed links and the
//! Swagger UI (not part of the JSON API) are left out.

use std::collections::HashMap;
use std::sync::{Arc, LazyLock, Mutex};

use serde_json::{json, Map, Value};

/// The document, with the closing of objects applied to its component schemas.
struct Contract {
    paths: Vec<(Vec<String>, String)>,
    doc: Value,
    components: Value,
    #[allow(clippy::type_complexity)]
    validators: Mutex<HashMap<String, (Arc<jsonschema::Validator>, Arc<jsonschema::Validator>)>>,
}

static CONTRACT: LazyLock<Contract> = LazyLock::new(|| {
    let doc = serde_json::to_value(landx::api::docs::document()).expect("document as JSON");
    let paths = doc["paths"]
        .as_object()
        .expect("paths")
        .keys()
        .map(|p| (segments(p), p.clone()))
        .collect();
    let components = closed_components(&doc["components"]);
    Contract {
        paths,
        doc,
        components,
        validators: Mutex::new(HashMap::new()),
    }
});

/// Paths the JSON API doesn't own: the e-mailed links' pages and the Swagger UI.
fn outside_the_api(path: &str) -> bool {
    path == "/openapi.json"
        || path == "/docs"
        || path.starts_with("/docs/")
        || crate::support::internals::page_paths().contains(&path)
        // The web console's screens and assets (HTML, JS, CSS; `src/api/console.rs`).
        || path == "/"
        || path == "/app"
        || path.starts_with("/app/")
}

fn segments(path: &str) -> Vec<String> {
    path.trim_start_matches('/')
        .split('/')
        .map(str::to_string)
        .collect()
}

/// The documented path template `path` falls under: the one with the most literal segments.
fn template_of(path: &str) -> Option<&'static str> {
    let got = segments(path);
    CONTRACT
        .paths
        .iter()
        .filter(|(tpl, _)| {
            tpl.len() == got.len()
                && tpl
                    .iter()
                    .zip(&got)
                    .all(|(t, g)| (t.starts_with('{') && !g.is_empty()) || t == g)
        })
        .max_by_key(|(tpl, _)| tpl.iter().filter(|t| !t.starts_with('{')).count())
        .map(|(_, p)| p.as_str())
}

/// Checks one answer; panics naming what the document doesn't describe.
pub fn check(method: &str, url_path: &str, status: u16, content_type: Option<&str>, text: &str) {
    let path = url_path.split(['?', '#']).next().unwrap_or_default();
    if outside_the_api(path) {
        return;
    }
    let what = format!("{method} {url_path} → {status}");
    let media = content_type
        .map(|c| {
            c.split(';')
                .next()
                .unwrap_or_default()
                .trim()
                .to_ascii_lowercase()
        })
        .unwrap_or_default();
    let op = template_of(path).and_then(|tpl| {
        CONTRACT.doc["paths"][tpl]
            .get(method.to_ascii_lowercase())
            .map(|op| (tpl, op))
    });
    let Some((tpl, op)) = op else {
        // Not an operation of the document: only the unknown-route answers may come.
        assert!(
            (status == 404 || status == 405) && media == "application/problem+json",
            "{what}: not a documented operation, yet answered {status} {media}: {text}"
        );
        validate(
            &format!("Problem {status}"),
            &json!({"$ref": "#/components/schemas/Problem"}),
            &what,
            text,
        );
        return;
    };
    let Some(response) = op["responses"].get(status.to_string()) else {
        panic!(
            "{what}: status {status} is not documented for {} {tpl} (documented: {:?}); body: {text}",
            method.to_ascii_uppercase(),
            op["responses"].as_object().map(|m| m.keys().collect::<Vec<_>>())
        );
    };
    let content = response
        .get("content")
        .and_then(Value::as_object)
        .cloned()
        .unwrap_or_default();
    if content.is_empty() {
        assert!(
            text.is_empty(),
            "{what}: the document lists no content for this answer, yet it has a body: {text}"
        );
        return;
    }
    let Some((_, media_doc)) = content
        .iter()
        .find(|(k, _)| k.split(';').next().unwrap_or_default().trim() == media)
    else {
        panic!(
            "{what}: content type {media:?} is not documented (documented: {:?})",
            content.keys().collect::<Vec<_>>()
        );
    };
    if media.ends_with("json") {
        if let Some(schema) = media_doc.get("schema") {
            let key = format!("{} {tpl} {status} {media}", method.to_ascii_uppercase());
            validate(&key, schema, &what, text);
        }
    }
}

fn compile(key: &str, components: &Value, schema: Value) -> jsonschema::Validator {
    let mut root = Map::new();
    root.insert(
        "$schema".into(),
        json!("https://json-schema.org/draft/2020-12/schema"),
    );
    root.insert("components".into(), components.clone());
    root.insert("allOf".into(), json!([schema]));
    jsonschema::options()
        .with_draft(jsonschema::Draft::Draft202012)
        .should_validate_formats(true)
        .build(&Value::Object(root))
        .unwrap_or_else(|e| panic!("{key}: the document's schema is not valid: {e}"))
}

/// Validates `text` twice: against the document as published (what a validating client
/// does: a `oneOf` two branches of which accept the answer fails here), and with objects
/// closed (a field the document doesn't name fails).
fn validate(key: &str, schema: &Value, what: &str, text: &str) {
    type Pair = (Arc<jsonschema::Validator>, Arc<jsonschema::Validator>);
    let (published, closed): Pair = {
        let mut cache = CONTRACT
            .validators
            .lock()
            .unwrap_or_else(|e| e.into_inner());
        cache
            .entry(key.to_string())
            .or_insert_with(|| {
                (
                    Arc::new(compile(key, &CONTRACT.doc["components"], schema.clone())),
                    Arc::new(compile(
                        key,
                        &CONTRACT.components,
                        close(schema.clone(), false),
                    )),
                )
            })
            .clone()
    };
    let body: Value = serde_json::from_str(text)
        .unwrap_or_else(|e| panic!("{what}: documented as JSON but is not ({e}): {text}"));
    for (how, validator) in [("as published", &published), ("objects closed", &closed)] {
        let errors: Vec<String> = validator
            .iter_errors(&body)
            .take(8)
            .map(|e| format!("at {}: {e}", e.instance_path()))
            .collect();
        assert!(
            errors.is_empty(),
            "{what}: the body does not match the document ({key}, {how}):\n  {}\nbody: {}",
            errors.join("\n  "),
            text.chars().take(2000).collect::<String>()
        );
    }
}

/// The components with every object schema closed; a schema that is a member of an `allOf`
/// is closed by the `allOf` (it gets an open copy, `<name>__open`, which the `allOf` uses).
fn closed_components(components: &Value) -> Value {
    let mut components = components.clone();
    let Some(schemas) = components.get_mut("schemas").and_then(Value::as_object_mut) else {
        return components;
    };
    let mut members = Vec::new();
    for s in schemas.values() {
        all_of_members(s, &mut members);
    }
    members.sort();
    members.dedup();
    for m in &members {
        if let Some(s) = schemas.get(m).cloned() {
            schemas.insert(format!("{m}__open"), s);
        }
    }
    let names: Vec<String> = schemas.keys().cloned().collect();
    for name in names {
        let open = name.ends_with("__open");
        let s = schemas.remove(&name).expect("schema");
        schemas.insert(name, close(s, open));
    }
    components
}

/// The names `$ref`'d directly as members of an `allOf`.
fn all_of_members(v: &Value, out: &mut Vec<String>) {
    match v {
        Value::Object(m) => {
            if let Some(Value::Array(items)) = m.get("allOf") {
                for i in items {
                    if let Some(r) = i.get("$ref").and_then(Value::as_str) {
                        if let Some(name) = r.strip_prefix("#/components/schemas/") {
                            out.push(name.to_string());
                        }
                    }
                }
            }
            m.values().for_each(|x| all_of_members(x, out));
        }
        Value::Array(a) => a.iter().for_each(|x| all_of_members(x, out)),
        _ => {}
    }
}

/// `schema` with `unevaluatedProperties: false` on every object schema that names its
/// properties and says nothing about others; `open` leaves the top level as it is (an
/// `allOf` member). Members of an `allOf` point at open copies and the `allOf` is closed.
fn close(schema: Value, open: bool) -> Value {
    let Value::Object(mut m) = schema else {
        return match schema {
            Value::Array(a) => Value::Array(a.into_iter().map(|x| close(x, false)).collect()),
            other => other,
        };
    };
    let has_all_of = m.contains_key("allOf");
    for (k, v) in m.iter_mut() {
        let taken = std::mem::take(v);
        *v = match k.as_str() {
            // Property names, not schemas: each value is a schema.
            "properties" => match taken {
                Value::Object(props) => Value::Object(
                    props
                        .into_iter()
                        .map(|(name, s)| (name, close(s, false)))
                        .collect(),
                ),
                other => other,
            },
            "allOf" => match taken {
                Value::Array(items) => Value::Array(
                    items
                        .into_iter()
                        .map(|i| match i.get("$ref").and_then(Value::as_str) {
                            Some(r) => json!({"$ref": format!("{r}__open")}),
                            None => close(i, true),
                        })
                        .collect(),
                ),
                other => other,
            },
            "examples" | "example" | "enum" | "const" | "default" => taken,
            _ => close(taken, false),
        };
    }
    let names_properties = m.contains_key("properties") || has_all_of;
    let says_nothing =
        !m.contains_key("additionalProperties") && !m.contains_key("unevaluatedProperties");
    if !open && names_properties && says_nothing {
        m.insert("unevaluatedProperties".into(), Value::Bool(false));
    }
    Value::Object(m)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn objects_are_closed_and_all_of_members_open() {
        let c = closed_components(&json!({"schemas": {
            "A": {"type": "object", "properties": {"a": {"type": "string"}}},
            "B": {"allOf": [{"$ref": "#/components/schemas/A"},
                            {"type": "object", "properties": {"b": {"type": "integer"}}}]},
        }}));
        let s = &c["schemas"];
        assert_eq!(s["A"]["unevaluatedProperties"], false);
        assert!(s["A__open"].get("unevaluatedProperties").is_none());
        assert_eq!(s["B"]["unevaluatedProperties"], false);
        assert_eq!(s["B"]["allOf"][0]["$ref"], "#/components/schemas/A__open");
        assert!(s["B"]["allOf"][1].get("unevaluatedProperties").is_none());
        let v = jsonschema::options()
            .with_draft(jsonschema::Draft::Draft202012)
            .build(&json!({"components": c, "$ref": "#/components/schemas/B"}))
            .unwrap();
        assert!(v.is_valid(&json!({"a": "x", "b": 1})));
        assert!(!v.is_valid(&json!({"a": "x", "b": 1, "c": 2})));
    }

    #[test]
    fn an_answer_two_branches_of_a_one_of_accept_is_refused_as_published() {
        let components = json!({"schemas": {
            "Full": {"type": "object", "required": ["id", "legal_name"],
                     "properties": {"id": {"type": "string"}, "legal_name": {"type": "string"}}},
            "Summary": {"type": "object", "required": ["id"], "properties": {"id": {"type": "string"}}},
        }});
        let item = json!({"oneOf": [{"$ref": "#/components/schemas/Full"},
                                    {"$ref": "#/components/schemas/Summary"}]});
        let published = compile("test", &components, item);
        assert!(!published.is_valid(&json!({"id": "a", "legal_name": "张三"})));
        assert!(published.is_valid(&json!({"id": "a"})));
    }

    fn refused(method: &str, path: &str, status: u16, ctype: Option<&str>, body: &str) -> bool {
        let (m, p, c, b) = (
            method.to_string(),
            path.to_string(),
            ctype.map(str::to_string),
            body.to_string(),
        );
        std::panic::catch_unwind(move || check(&m, &p, status, c.as_deref(), &b)).is_err()
    }

    #[test]
    fn the_check_refuses_what_the_document_does_not_describe() {
        let json = Some("application/json");
        let problem = Some("application/problem+json");
        assert!(!refused("GET", "/healthz", 200, json, r#"{"status":"ok"}"#));
        // A field too many, a wrong type, a missing field.
        assert!(refused(
            "GET",
            "/healthz",
            200,
            json,
            r#"{"status":"ok","x":1}"#
        ));
        assert!(refused("GET", "/healthz", 200, json, r#"{"status":1}"#));
        assert!(refused("GET", "/healthz", 200, json, "{}"));
        // An undocumented status, content type, or a body where none is documented.
        assert!(refused("GET", "/healthz", 418, json, r#"{"status":"ok"}"#));
        assert!(refused(
            "GET",
            "/healthz",
            200,
            Some("text/html"),
            "<p>ok</p>"
        ));
        assert!(!refused("POST", "/api/v1/auth/logout", 204, None, ""));
        assert!(refused("POST", "/api/v1/auth/logout", 204, json, "{}"));
        // A problem must be a Problem; formats are checked (a path id is a UUID).
        let p = r#"{"type":"about:blank","title":"Not Found","status":404,"detail":"resource not found","code":"not_found"}"#;
        assert!(!refused("GET", "/api/v1/listings/x", 404, problem, p));
        assert!(refused(
            "GET",
            "/api/v1/listings/x",
            404,
            problem,
            r#"{"code":"not_found"}"#
        ));
        assert!(refused(
            "GET",
            "/api/v1/me",
            200,
            json,
            r#"{"id":"not-a-uuid"}"#
        ));
        // A staff member's registration is one branch of the list's `oneOf`, not two.
        let listing = "/api/v1/listings/0190a0a0-0000-7000-8000-000000000001/registrations";
        let summary = r#"{"items":[{"id":"0190a0a0-0000-7000-8000-000000000002","status":"applied","deposit_status":"unpaid"}],"next_cursor":null}"#;
        assert!(!refused("GET", listing, 200, json, summary));
        // Unknown routes: only the 404/405 problem.
        assert!(!refused("GET", "/nowhere", 404, problem, p));
        assert!(refused("GET", "/nowhere", 200, json, "{}"));
    }
}
