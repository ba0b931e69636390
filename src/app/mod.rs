//! Use cases: one module per aggregate. Each function takes a [`Ctx`] (who acts, when, with
//! which rules) and a connection, owns its transaction, and calls the domain rules, the db
//! queries, the audit trail and the notifications. Nothing here sees HTTP: handlers, the CLI,
//! the demo seed and the background jobs all call these functions.

pub mod accounts;
pub mod audit;
pub mod audit_trail;
pub mod claims;
pub mod clock;
pub mod contract_document;
pub mod contracts;
pub mod deposits;
pub mod document_store;
pub mod documents;
pub mod limits;
pub mod listings;
pub mod open_data;
pub mod orgs;
pub mod parcels;
pub mod policies;
pub mod registrations;
pub mod rent;
pub mod signals;
pub mod stats;
pub mod trading;

use std::sync::Arc;

use chrono::{DateTime, Utc};

use crate::audit::Actor;
use crate::clock::Clock;
use crate::config::{Rules, Settings};
use crate::crypto::DataKey;
use crate::domain::access::Caller;
use crate::error::ApiError;

/// What a use case needs besides its connection and arguments.
#[derive(Clone)]
pub struct Ctx {
    /// `None`: the platform itself (a worker pass, the CLI, the demo seed).
    pub caller: Option<Caller>,
    /// Read once at the edge. A bid reads `clock` again inside the listing's lock.
    pub now: DateTime<Utc>,
    pub clock: Arc<dyn Clock>,
    pub settings: Arc<Settings>,
    /// Encrypts personal data at rest.
    pub data_key: DataKey,
}

impl Ctx {
    pub fn new(
        caller: Option<Caller>,
        clock: Arc<dyn Clock>,
        settings: Arc<Settings>,
        data_key: DataKey,
    ) -> Self {
        crate::db::commit_hook::install(open_data::on_change);
        Ctx {
            caller,
            now: clock.now(),
            clock,
            settings,
            data_key,
        }
    }

    pub fn rules(&self) -> &Rules {
        &self.settings.rules
    }

    /// The recorded author of a change: the caller, or the system.
    pub fn actor(&self) -> Actor<'_> {
        match &self.caller {
            Some(c) => Actor::of(c),
            None => Actor::SYSTEM,
        }
    }

    /// The caller, for use cases only a person may perform.
    pub fn caller(&self) -> Result<&Caller, ApiError> {
        self.caller
            .as_ref()
            .ok_or_else(|| ApiError::Unauthorized("authentication required".into()))
    }
}
