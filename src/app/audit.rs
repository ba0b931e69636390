//! Audit records of the aggregates' changes, written in the caller's transaction on the
//! stream the record belongs to.

use chrono::{DateTime, Utc};

use crate::audit::{self, listing_stream, Actor, Entry};
use crate::db::models::{Listing, Registration};
use crate::db::DbConn;
use crate::error::ApiError;

/// Records a listing's change on its stream (in the caller's transaction).
pub fn audit_listing(
    conn: &mut DbConn,
    actor: Actor<'_>,
    l: &Listing,
    action: &str,
    from: Option<&str>,
    reason: Option<&str>,
    now: DateTime<Utc>,
) -> Result<(), ApiError> {
    audit::append(
        conn,
        &Entry {
            stream: &listing_stream(&l.id),
            actor_id: actor.id,
            actor_role: actor.role,
            action,
            entity_type: "listing",
            entity_id: &l.id,
            from_state: from,
            to_state: Some(l.status.as_str()),
            reason,
            amount_fen: None,
        },
        now,
    )
}

/// Records a registration change on the listing's audit stream.
#[allow(clippy::too_many_arguments)]
pub fn audit_registration(
    conn: &mut DbConn,
    actor: Actor<'_>,
    r: &Registration,
    action: &str,
    entity_type: &str,
    from: &str,
    to: &str,
    reason: Option<&str>,
    now: DateTime<Utc>,
) -> Result<(), ApiError> {
    audit::append(
        conn,
        &Entry {
            stream: &listing_stream(&r.listing_id),
            actor_id: actor.id,
            actor_role: actor.role,
            action,
            entity_type,
            entity_id: &r.id,
            from_state: Some(from),
            to_state: Some(to),
            reason,
            amount_fen: None,
        },
        now,
    )
}
