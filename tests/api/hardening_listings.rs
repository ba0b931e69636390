//! Issue 10 (hardening): black-box tests, each failing on the code before its fix.

#[allow(unused_imports)]
use crate::support::*;
