//! The append-only audit trail, hash-chained per stream. A listing's stream holds the records
//! of the listing and everything under it; accounts and organisations use `system`. Records
//! are written in the same transaction as the change they describe.

use chrono::{DateTime, Utc};
use sha2::{Digest, Sha256};

use crate::db::audit as rows;
use crate::db::models::AuditRecord;
use crate::db::DbConn;
use crate::error::ApiError;

pub const SYSTEM_STREAM: &str = "system";
pub const GENESIS_HASH: &str = "0000000000000000000000000000000000000000000000000000000000000000";

/// Who acts: a user (id, role) or the system (worker, timers, bootstrap).
#[derive(Debug, Clone, Copy)]
pub struct Actor<'a> {
    pub id: Option<&'a str>,
    pub role: Option<&'a str>,
}

impl<'a> Actor<'a> {
    /// The authenticated caller as the actor of a change.
    pub fn of(caller: &'a crate::domain::access::Caller) -> Self {
        Actor {
            id: Some(&caller.id),
            role: Some(caller.role_str()),
        }
    }
}

impl Actor<'static> {
    pub const SYSTEM: Actor<'static> = Actor {
        id: None,
        role: None,
    };
}

/// The stream of a listing: the listing and its registrations, deposits, bids and deals.
pub fn listing_stream(listing_id: &str) -> String {
    format!("listing:{listing_id}")
}

/// What changed, by whom. `actor` is `None` for the system itself (workers, bootstrap).
#[derive(Debug, Clone, Default)]
pub struct Entry<'a> {
    pub stream: &'a str,
    pub actor_id: Option<&'a str>,
    pub actor_role: Option<&'a str>,
    pub action: &'a str,
    pub entity_type: &'a str,
    pub entity_id: &'a str,
    pub from_state: Option<&'a str>,
    pub to_state: Option<&'a str>,
    pub reason: Option<&'a str>,
}

/// SHA-256 over the previous hash and every field of the record, unambiguously separated.
pub fn record_hash(r: &AuditRecord) -> String {
    let mut h = Sha256::new();
    let fields: [&str; 11] = [
        &r.prev_hash,
        &r.stream,
        &r.seq.to_string(),
        r.actor_id.as_deref().unwrap_or("\u{0}"),
        r.actor_role.as_deref().unwrap_or("\u{0}"),
        &r.action,
        &r.entity_type,
        &r.entity_id,
        r.from_state.as_deref().unwrap_or("\u{0}"),
        r.to_state.as_deref().unwrap_or("\u{0}"),
        r.reason.as_deref().unwrap_or("\u{0}"),
    ];
    for f in fields {
        h.update((f.len() as u64).to_be_bytes());
        h.update(f.as_bytes());
    }
    h.update(
        r.created_at
            .and_utc()
            .to_rfc3339_opts(chrono::SecondsFormat::Micros, true)
            .as_bytes(),
    );
    hex::encode(h.finalize())
}

/// Appends one record to its stream. Must run inside the caller's write transaction: the
/// stream's head row is locked (PostgreSQL `FOR UPDATE`; SQLite holds the write lock already)
/// so concurrent appends to one stream serialise while other streams proceed.
pub fn append(conn: &mut DbConn, e: &Entry<'_>, now: DateTime<Utc>) -> Result<(), ApiError> {
    let (last_seq, last_hash) = rows::lock_stream_head(conn, e.stream, GENESIS_HASH)?;
    let mut rec = AuditRecord {
        id: uuid::Uuid::now_v7().to_string(),
        stream: e.stream.into(),
        seq: last_seq + 1,
        prev_hash: last_hash,
        hash: String::new(),
        actor_id: e.actor_id.map(Into::into),
        actor_role: e.actor_role.map(Into::into),
        action: e.action.into(),
        entity_type: e.entity_type.into(),
        entity_id: e.entity_id.into(),
        from_state: e.from_state.map(Into::into),
        to_state: e.to_state.map(Into::into),
        reason: e.reason.map(Into::into),
        created_at: now.naive_utc(),
    };
    rec.hash = record_hash(&rec);
    Ok(rows::insert_record(conn, &rec)?)
}

/// The first broken link found by [`verify`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Broken {
    pub stream: String,
    pub seq: i64,
    pub id: String,
    pub problem: String,
}

/// Walks every stream's chain. `Ok(count)` when intact, else the first broken record.
///
/// Reads one consistent snapshot (PostgreSQL repeatable read; a SQLite read transaction),
/// so records appended while it runs on a live system don't look like tampering.
pub fn verify(conn: &mut DbConn) -> Result<Result<u64, Broken>, ApiError> {
    rows::in_snapshot(conn, verify_snapshot)
}

fn verify_snapshot(conn: &mut DbConn) -> Result<Result<u64, Broken>, ApiError> {
    let streams = rows::stream_heads(conn)?;
    let mut count = 0u64;
    let names: Vec<String> = streams.iter().map(|(s, _, _)| s.clone()).collect();
    for (stream, last_seq, last_hash) in streams {
        let mut prev = GENESIS_HASH.to_string();
        let mut expected_seq = 1i64;
        let mut after = 0i64;
        loop {
            let batch = rows::records_after(conn, &stream, after, 1000)?;
            if batch.is_empty() {
                break;
            }
            for r in batch {
                let broken = |problem: &str| Broken {
                    stream: r.stream.clone(),
                    seq: r.seq,
                    id: r.id.clone(),
                    problem: problem.into(),
                };
                if r.seq != expected_seq {
                    return Ok(Err(broken("sequence gap")));
                }
                if r.prev_hash != prev {
                    return Ok(Err(broken("previous-hash link does not match")));
                }
                if record_hash(&r) != r.hash {
                    return Ok(Err(broken("content does not match its hash")));
                }
                prev = r.hash.clone();
                after = r.seq;
                expected_seq += 1;
                count += 1;
            }
        }
        if after != last_seq || prev != last_hash {
            return Ok(Err(Broken {
                stream,
                seq: after,
                id: String::new(),
                problem: "stream head does not match its last record (records removed?)".into(),
            }));
        }
    }
    // Every record must belong to a walked chain: one in a stream without a head, or with
    // a sequence number a chain never reaches, would otherwise go unchecked.
    let total = rows::count_records(conn)?;
    if total as u64 != count {
        let stray = rows::first_stray_record(conn, &names)?;
        return Ok(Err(match stray {
            Some(r) => Broken {
                stream: r.stream,
                seq: r.seq,
                id: r.id,
                problem: "record outside every hash chain".into(),
            },
            None => Broken {
                stream: String::new(),
                seq: 0,
                id: String::new(),
                problem: format!("{total} records stored but {count} verified"),
            },
        }));
    }
    Ok(Ok(count))
}

/// Records of one entity, oldest first (for tests and the future `/audit` route).
pub fn for_entity(conn: &mut DbConn, entity_id: &str) -> Result<Vec<AuditRecord>, ApiError> {
    Ok(rows::records_of_entity(conn, entity_id)?)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rec() -> AuditRecord {
        AuditRecord {
            id: "a".into(),
            stream: "system".into(),
            seq: 1,
            prev_hash: GENESIS_HASH.into(),
            hash: String::new(),
            actor_id: None,
            actor_role: None,
            action: "user.created".into(),
            entity_type: "user".into(),
            entity_id: "u1".into(),
            from_state: None,
            to_state: Some("active".into()),
            reason: None,
            created_at: chrono::DateTime::UNIX_EPOCH.naive_utc(),
        }
    }

    #[test]
    fn hash_covers_every_field() {
        let base = record_hash(&rec());
        let mut r = rec();
        r.reason = Some(String::new());
        assert_ne!(record_hash(&r), base, "None and empty differ");
        let mut r = rec();
        r.to_state = Some("disabled".into());
        assert_ne!(record_hash(&r), base);
        let mut r = rec();
        r.prev_hash = "1".repeat(64);
        assert_ne!(record_hash(&r), base);
    }
}
