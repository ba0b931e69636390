//! The test harness for `benches/`, which include this file by path. The harness itself
//! lives with the integration tests in `tests/api/support/`; this only re-exports it. (Not
//! a test target: only files directly under `tests/` are.)
#![allow(dead_code)]

#[path = "../api/support/db.rs"]
mod db;
#[path = "../api/support/harness.rs"]
mod harness;
/// Benchmarks measure; the tests check every answer against the OpenAPI document.
mod contract {
    pub fn check(_: &str, _: &str, _: u16, _: Option<&str>, _: &str) {}
}

pub use harness::*;
