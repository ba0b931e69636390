//! Queries: they only move rows. Scope and rule checks happen before they are called. The
//! account, organisation and outbox queries live in their own modules and are re-exported
//! here for the callers that name them `queries::…`.

pub use super::accounts::*;
pub use super::orgs::*;
pub use super::outbox::*;

/// Keyset page: rows with id greater than the cursor, in id order (ids are UUIDv7, so this is
/// creation order and stable under inserts). Fetches one extra row to know if more follow.
pub struct PageReq {
    pub after: Option<String>,
    pub limit: i64,
}

/// The cheapest round trip to the database (readiness).
pub fn ping(conn: &mut super::DbConn) -> super::QResult<()> {
    use diesel::connection::SimpleConnection;
    conn.batch_execute("SELECT 1")
}
