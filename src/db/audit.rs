//! The audit trail's rows: stream heads and hash-chained records. The hashing and the chain
//! checks live in `crate::audit`; this module only moves rows (and holds the two statements
//! that differ per backend: the head row lock and the snapshot isolation).

use diesel::prelude::*;

use super::models::AuditRecord;
use super::schema::{audit_log, audit_streams};
use diesel::pg::Pg;
use diesel::query_builder::{QueryFragment, QueryId};
use diesel::sqlite::Sqlite;

use super::cached::{write_pg, write_sqlite};
use super::{DbConn, QResult};

/// The head (last sequence number and hash) of `stream`, created at `genesis` when the stream
/// is new. Must run inside the caller's write transaction: the head row stays locked until
/// commit (PostgreSQL `FOR UPDATE`; SQLite holds the write lock already), so concurrent
/// appends to one stream serialise while other streams proceed.
pub fn lock_stream_head(conn: &mut DbConn, stream: &str, genesis: &str) -> QResult<(i64, String)> {
    // A stream's head exists after its first record: one statement from then on.
    if let Some(head) = locked_head(conn, stream)? {
        return Ok(head);
    }
    let head = (
        audit_streams::stream.eq(stream.to_string()),
        audit_streams::last_seq.eq(0i64),
        audit_streams::last_hash.eq(genesis.to_string()),
    );
    crate::db_run!(conn: {
        diesel::insert_into(audit_streams::table)
            .values(head)
            .on_conflict_do_nothing()
            .execute(conn)?;
    });
    locked_head(conn, stream)?.ok_or(diesel::result::Error::NotFound)
}

fn locked_head(conn: &mut DbConn, stream: &str) -> QResult<Option<(i64, String)>> {
    let query = audit_streams::table
        .find(stream)
        .select((audit_streams::last_seq, audit_streams::last_hash));
    // By primary key: no `LIMIT ?` (see `db::listings::find_listing`).
    match conn {
        DbConn::Pg(c) => query.for_update().get_result(c).optional(),
        DbConn::Sqlite(c) => query.get_result(c).optional(),
    }
}

/// Appends `rec` and moves its stream's head to it (one round trip on PostgreSQL).
pub fn insert_record(conn: &mut DbConn, rec: &AuditRecord) -> QResult<()> {
    let (record, head) = (record_insert(rec), head_update(rec));
    match conn {
        DbConn::Pg(c) => write_pg(c, &[&record, &head]),
        DbConn::Sqlite(c) => {
            write_sqlite(c, record)?;
            write_sqlite(c, head)?;
            Ok(())
        }
    }
}

/// The statement appending `rec`.
pub fn record_insert(
    rec: &AuditRecord,
) -> impl QueryFragment<Pg> + QueryFragment<Sqlite> + QueryId + '_ {
    diesel::insert_into(audit_log::table).values(rec)
}

/// The statement moving `rec`'s stream head to it.
pub fn head_update(
    rec: &AuditRecord,
) -> impl QueryFragment<Pg> + QueryFragment<Sqlite> + QueryId + '_ {
    super::cached::update(
        audit_streams::table,
        audit_streams::stream.eq(&rec.stream),
        (
            audit_streams::last_seq.eq(rec.seq),
            audit_streams::last_hash.eq(&rec.hash),
        ),
    )
}

/// Runs `f` on one consistent, read-only snapshot (PostgreSQL repeatable read; a SQLite
/// read transaction), so rows appended meanwhile by a live system are not half-seen.
pub fn in_snapshot<T, E>(
    conn: &mut DbConn,
    f: impl FnOnce(&mut DbConn) -> Result<T, E>,
) -> Result<T, E>
where
    E: From<diesel::result::Error>,
{
    use diesel::connection::SimpleConnection;
    conn.transaction(|conn| {
        if let DbConn::Pg(c) = conn {
            c.batch_execute("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ, READ ONLY")?;
        }
        f(conn)
    })
}

/// Every stream head `(stream, last_seq, last_hash)`, by name.
pub fn stream_heads(conn: &mut DbConn) -> QResult<Vec<(String, i64, String)>> {
    audit_streams::table
        .select((
            audit_streams::stream,
            audit_streams::last_seq,
            audit_streams::last_hash,
        ))
        .order(audit_streams::stream)
        .load(conn)
}

/// The key id of `stream`'s record `seq` (`None` when unkeyed or absent).
pub fn key_id_at(conn: &mut DbConn, stream: &str, seq: i64) -> QResult<Option<String>> {
    Ok(audit_log::table
        .filter(audit_log::stream.eq(stream))
        .filter(audit_log::seq.eq(seq))
        .select(audit_log::key_id)
        .first::<Option<String>>(conn)
        .optional()?
        .flatten())
}

/// Up to `limit` records of `stream` after sequence number `after`, in order.
pub fn records_after(
    conn: &mut DbConn,
    stream: &str,
    after: i64,
    limit: i64,
) -> QResult<Vec<AuditRecord>> {
    audit_log::table
        .filter(audit_log::stream.eq(stream))
        .filter(audit_log::seq.gt(after))
        .order(audit_log::seq)
        .limit(limit)
        .select(AuditRecord::as_select())
        .load(conn)
}

pub fn count_records(conn: &mut DbConn) -> QResult<i64> {
    audit_log::table.count().get_result(conn)
}

/// The first record that no chain reaches: in a stream not in `streams`, or numbered below 1.
pub fn first_stray_record(conn: &mut DbConn, streams: &[String]) -> QResult<Option<AuditRecord>> {
    audit_log::table
        .filter(audit_log::stream.ne_all(streams).or(audit_log::seq.lt(1)))
        .order(audit_log::id)
        .select(AuditRecord::as_select())
        .first(conn)
        .optional()
}

/// Records of one entity, oldest first.
pub fn records_of_entity(conn: &mut DbConn, entity_id: &str) -> QResult<Vec<AuditRecord>> {
    audit_log::table
        .filter(audit_log::entity_id.eq(entity_id))
        .order(audit_log::id)
        .select(AuditRecord::as_select())
        .load(conn)
}
