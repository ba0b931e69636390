//! The test harness for `benches/`, which include this file by path. The harness itself
//! lives with the integration tests in `tests/api/support/`; this only re-exports it. (Not
//! a test target: only files directly under `tests/` are.)
#![allow(dead_code)]

#[path = "../api/support/db.rs"]
mod db;
#[path = "../api/support/harness.rs"]
mod harness;

pub use harness::*;
