//! The audit trail for oversight: one stream's records in order, a page at a time, with
//! whether the stream's whole hash chain verifies (the same check as `landx audit verify`,
//! [`crate::audit::verify_stream`]). A listing's or a contract's stream is read by the staff
//! of its township and by admins, the `system` stream (accounts, organisations) by admins
//! only; for everyone else no stream exists (404), so a stream's existence never shows
//! outside its township.

use super::Ctx;
use crate::audit::{self, contract_stream, listing_stream, Broken, SYSTEM_STREAM};
use crate::db::audit as rows;
use crate::db::audit_trail as trail_rows;
use crate::db::models::AuditRecord;
use crate::db::{contracts as cq, listings as lq, DbConn};
use crate::domain::roles::Role;
use crate::error::ApiError;

/// The longest stream name worth parsing (`contract:` and a braced or URN-form UUID fit).
pub const MAX_STREAM_NAME: usize = 64;

/// An audit stream, by the name its records carry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StreamName {
    /// Accounts and organisations.
    System,
    /// A listing and its registrations, deposits, bids and deals.
    Listing(String),
    /// A contract and its installments, payments, policies and claims.
    Contract(String),
}

impl StreamName {
    /// `system`, `listing:<uuid>` or `contract:<uuid>` (the UUID in any form it can be
    /// written in, read as its canonical lower-case form); anything else, or a name longer
    /// than [`MAX_STREAM_NAME`], is 400.
    pub fn parse(raw: &str) -> Result<StreamName, ApiError> {
        let bad = || {
            ApiError::BadRequest(
                "stream must be `system`, `listing:<uuid>` or `contract:<uuid>`".into(),
            )
        };
        if raw.len() > MAX_STREAM_NAME {
            return Err(bad());
        }
        if raw == SYSTEM_STREAM {
            return Ok(StreamName::System);
        }
        let (kind, id) = raw.split_once(':').ok_or_else(bad)?;
        let id = uuid::Uuid::parse_str(id).map_err(|_| bad())?.to_string();
        match kind {
            "listing" => Ok(StreamName::Listing(id)),
            "contract" => Ok(StreamName::Contract(id)),
            _ => Err(bad()),
        }
    }

    /// The name stored on the stream's records.
    pub fn stream(&self) -> String {
        match self {
            StreamName::System => SYSTEM_STREAM.to_string(),
            StreamName::Listing(id) => listing_stream(id),
            StreamName::Contract(id) => contract_stream(id),
        }
    }
}

/// A page of a stream, read in one snapshot with the verification of the whole stream.
#[derive(Debug, Clone)]
pub struct StreamPage {
    pub stream: String,
    /// The records verified, or the first broken one.
    pub check: Result<u64, Broken>,
    /// The key ids the stream's records name, sorted.
    pub key_ids: Vec<String>,
    /// The page's records in sequence order.
    pub records: Vec<AuditRecord>,
    /// The `seq` to continue after, when more records follow.
    pub next_after: Option<i64>,
}

/// The records of `name` after sequence number `after` (at most `limit`), with the check of
/// the stream's whole chain. Time-driven transitions due on the listing or contract are
/// performed first, as every read does. 404 when the caller may not read the stream (see
/// the module) or it doesn't exist.
pub fn read_stream(
    ctx: &Ctx,
    conn: &mut DbConn,
    name: &StreamName,
    after: i64,
    limit: i64,
) -> Result<StreamPage, ApiError> {
    let caller = ctx.caller()?;
    // Nobody but staff and admins reads any stream: answered before touching the database.
    if !matches!(caller.role, Role::Admin | Role::Staff) {
        return Err(ApiError::NotFound);
    }
    match name {
        StreamName::System if caller.role != Role::Admin => return Err(ApiError::NotFound),
        StreamName::System => {}
        StreamName::Listing(id) => {
            let l = lq::find_listing(conn, id)?.ok_or(ApiError::NotFound)?;
            if !caller.oversees_township(&l.township_id) {
                return Err(ApiError::NotFound);
            }
            crate::app::trading::settle_for_read(conn, id, ctx.now, ctx.rules())?;
        }
        StreamName::Contract(id) => {
            let c = cq::find_contract(conn, id)?.ok_or(ApiError::NotFound)?;
            if !caller.oversees_township(&c.township_id) {
                return Err(ApiError::NotFound);
            }
            super::rent::settle_for_read(ctx, conn, c)?;
        }
    }
    let stream = name.stream();
    rows::in_snapshot(conn, |conn| {
        if *name == StreamName::System && trail_rows::stream_head(conn, &stream)?.is_none() {
            return Err(ApiError::NotFound);
        }
        let check = audit::verify_stream(conn, &stream)?;
        let key_ids = trail_rows::key_ids(conn, &stream)?;
        let mut records = rows::records_after(conn, &stream, after, limit + 1)?;
        let more = records.len() as i64 > limit;
        records.truncate(limit as usize);
        let next_after = if more {
            records.last().map(|r| r.seq)
        } else {
            None
        };
        Ok(StreamPage {
            stream,
            check,
            key_ids,
            records,
            next_after,
        })
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stream_names_parse_to_their_canonical_form() {
        let id = "0190a7a4-7c4e-7000-8000-000000000001";
        assert_eq!(StreamName::parse("system").unwrap(), StreamName::System);
        assert_eq!(
            StreamName::parse(&format!("listing:{id}")).unwrap(),
            StreamName::Listing(id.into())
        );
        let upper = format!("contract:{}", id.to_uppercase().replace('-', ""));
        let c = StreamName::parse(&upper).unwrap();
        assert_eq!(c, StreamName::Contract(id.into()));
        assert_eq!(c.stream(), format!("contract:{id}"));
        for bad in [
            "",
            "System",
            "listing",
            "listing:",
            "listing:x",
            "deal:0190a7a4-7c4e-7000-8000-000000000001",
            "listing:0190a7a4-7c4e-7000-8000-000000000001:x",
            &format!("listing:{}", "0".repeat(80)),
        ] {
            assert!(
                matches!(StreamName::parse(bad), Err(ApiError::BadRequest(_))),
                "{bad:?}"
            );
        }
    }
}
