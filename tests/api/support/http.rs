//! Small helpers for reading answers and building bodies.

use std::collections::HashSet;

use chrono::{DateTime, Duration, SecondsFormat, Utc};
use serde_json::Value;

use super::harness::{t0, Client, Resp};

pub fn s(v: &Value) -> String {
    v.as_str()
        .unwrap_or_else(|| panic!("not a string: {v}"))
        .to_string()
}

/// Asserts the status and returns the body.
pub fn expect(r: Resp, status: u16, what: &str) -> Value {
    assert_eq!(r.status, status, "{what}: {}", r.text);
    r.body
}

/// Asserts 200 and returns the body.
pub fn ok(r: Resp) -> Value {
    assert_eq!(r.status, 200, "{}", r.text);
    r.body
}

/// Asserts 201 and returns the new resource's id.
pub fn created(r: &Resp, what: &str) -> String {
    assert_eq!(r.status, 201, "{what}: {}", r.text);
    r.id()
}

/// The fields a 422 `validation_failed` names, sorted.
pub fn fields(r: &Resp) -> Vec<String> {
    r.assert_problem(422, "validation_failed");
    let mut v: Vec<String> = r.body["errors"]
        .as_array()
        .expect("errors")
        .iter()
        .map(|e| s(&e["field"]))
        .collect();
    v.sort();
    v.dedup();
    v
}

/// Overrides top-level keys of a JSON object.
pub fn with(mut base: Value, over: Value) -> Value {
    for (k, v) in over.as_object().expect("object") {
        base[k] = v.clone();
    }
    base
}

pub fn without(mut base: Value, key: &str) -> Value {
    base.as_object_mut().expect("object").remove(key);
    base
}

/// Percent-encodes a query value (Chinese text, `+`, `:`).
pub fn enc(v: &str) -> String {
    v.bytes()
        .map(|b| {
            if b.is_ascii_alphanumeric() || b == b'-' || b == b'_' || b == b'.' {
                (b as char).to_string()
            } else {
                format!("%{b:02X}")
            }
        })
        .collect()
}

/// RFC 3339 in whole seconds, `Z`.
pub fn rfc(t: DateTime<Utc>) -> String {
    t.to_rfc3339_opts(SecondsFormat::Secs, true)
}

/// `t0 + days + secs` as RFC 3339.
pub fn at(days: i64, secs: i64) -> String {
    rfc(t0() + Duration::days(days) + Duration::seconds(secs))
}

/// A time field of an answer.
pub fn ts(v: &Value) -> DateTime<Utc> {
    v.as_str()
        .unwrap_or_else(|| panic!("not a time: {v}"))
        .parse()
        .unwrap_or_else(|e| panic!("not a time: {v}: {e}"))
}

/// The `id`s of a list's `items`.
pub fn ids(items: &Value) -> Vec<String> {
    items
        .as_array()
        .expect("items")
        .iter()
        .map(|i| s(&i["id"]))
        .collect()
}

pub fn sorted<T: Ord>(mut v: Vec<T>) -> Vec<T> {
    v.sort();
    v
}

pub fn set(v: &[&String]) -> HashSet<String> {
    v.iter().map(|x| x.to_string()).collect()
}

/// Follows `next_cursor` through a list with pages of `limit`, checking every page: never
/// over the limit, every page but the last full, `next_cursor` present (null at the end).
/// Returns the ids in order.
pub fn walk(client: &Client, token: Option<&str>, path: &str, limit: usize) -> Vec<String> {
    let sep = if path.contains('?') { '&' } else { '?' };
    let mut out = Vec::new();
    let mut cursor: Option<String> = None;
    for _ in 0..100 {
        let url = match &cursor {
            Some(c) => format!("{path}{sep}limit={limit}&cursor={}", enc(c)),
            None => format!("{path}{sep}limit={limit}"),
        };
        let page = expect(client.get(&url, token), 200, &url);
        let items = ids(&page["items"]);
        assert!(items.len() <= limit, "{url}: page over the limit: {page}");
        out.extend(items.iter().cloned());
        match page.get("next_cursor").expect("next_cursor present") {
            Value::String(c) => {
                assert_eq!(
                    items.len(),
                    limit,
                    "{url}: a short page must be the last: {page}"
                );
                cursor = Some(c.clone());
            }
            Value::Null => return out,
            other => panic!("{url}: next_cursor {other}"),
        }
    }
    panic!("{path}: pagination does not end");
}
