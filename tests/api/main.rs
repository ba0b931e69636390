//! The integration tests: one binary, black-box over HTTP against the real application on a
//! fresh database per test (SQLite, or PostgreSQL with `LANDX_TEST_DATABASE_URL`), plus the
//! `landx` binary where a process is the thing under test. `support` holds the harness and
//! the world builders; each other module covers one resource or rule group.

mod support;

mod accounts;
mod auction;
mod audit;
mod audit_trail;
mod cli_seed;
mod clock;
mod console;
mod contract_document;
mod contracts;
mod deals;
mod demo;
mod deposits;
mod documents;
mod feed_fanout;
mod foundation;
mod hardening_audit;
mod hardening_auth;
mod hardening_idempotency;
mod hardening_listings;
mod hardening_personal_data;
mod hardening_phones;
mod hardening_shared;
mod hardening_trading;
mod insurance;
mod listings;
mod mail;
mod mail_links;
mod migrations;
mod open_data;
mod openapi;
mod orgs;
mod parcels;
mod registrations;
mod rent;
mod replica;
mod resilience;
mod search;
mod shared_limits;
mod signals;
mod throttling;
