//! Everything the tests share: the harness (the app on a fresh database, an HTTP client),
//! world builders (organisations, accounts, parcels, listings in a given state, registered
//! bidders), readers of what the server stored, and the few uses of library internals
//! (`internals`, `db`, `harness`): the only places that name `landx::` paths.

pub mod contract;
pub mod contracts;
pub mod db;
pub mod documents;
pub mod feed;
pub mod harness;
pub mod http;
pub mod insurance;
pub mod internals;
pub mod listings;
pub mod mail;
pub mod process;
pub mod records;
pub mod signals;
pub mod trading;
pub mod world;

pub use harness::{metric, t0, Client, Resp, TestApp};
pub use http::*;
pub use world::*;
