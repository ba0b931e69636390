//! Passwords, tokens, throttling and the extractor that yields the caller.

pub mod caller;
pub mod password;
pub mod ratelimit;
pub mod tokens;

pub use caller::{caller_of, caller_on, listing_visible, Caller};
