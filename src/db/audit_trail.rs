//! Reading one audit stream for the audit trail API: its head, the key ids its records name,
//! and records its chain can never reach (its pages are `super::audit::records_after`). Rows
//! only; the chain checks live in `crate::audit`.

use diesel::prelude::*;

use super::models::AuditRecord;
use super::schema::{audit_log, audit_streams};
use super::{DbConn, QResult};

/// The head `(last_seq, last_hash)` of `stream`, if it has one.
pub fn stream_head(conn: &mut DbConn, stream: &str) -> QResult<Option<(i64, String)>> {
    audit_streams::table
        .find(stream)
        .select((audit_streams::last_seq, audit_streams::last_hash))
        .get_result(conn)
        .optional()
}

/// The distinct key ids the records of `stream` name, sorted (first-release records name none).
pub fn key_ids(conn: &mut DbConn, stream: &str) -> QResult<Vec<String>> {
    let ids: Vec<Option<String>> = audit_log::table
        .filter(audit_log::stream.eq(stream))
        .filter(audit_log::key_id.is_not_null())
        .select(audit_log::key_id)
        .distinct()
        .order(audit_log::key_id)
        .load(conn)?;
    Ok(ids.into_iter().flatten().collect())
}

/// A record of `stream` numbered below 1, which no walk from seq 1 reaches.
pub fn first_stray_in_stream(conn: &mut DbConn, stream: &str) -> QResult<Option<AuditRecord>> {
    audit_log::table
        .filter(audit_log::stream.eq(stream))
        .filter(audit_log::seq.lt(1))
        .order(audit_log::seq)
        .select(AuditRecord::as_select())
        .first(conn)
        .optional()
}
