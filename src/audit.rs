//! The append-only audit trail, chained per stream. A listing's stream holds the records
//! of the listing and everything under it; accounts and organisations use `system`. Records
//! are written in the same transaction as the change they describe.
//!
//! Each record's link is an HMAC-SHA-256 under the audit key (`[audit] key`, kept outside the
//! database) over the record's content and the previous link, and names the key's id, so an
//! edit recomputed without the key is detected. Records without a key id are the first
//! release's plain SHA-256 chain ([`record_hash`]) and still verify as such; once a stream
//! has a keyed record, every later record must be keyed too. See docs/audit.md.

use std::collections::BTreeMap;
use std::sync::{Arc, RwLock};

use chrono::{DateTime, Utc};
use secrecy::ExposeSecret;
use sha2::{Digest, Sha256};

use crate::db::audit as rows;
use crate::db::audit_trail as trail_rows;
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

/// The stream of a contract: the contract and its installments, payments, policies and claims.
pub fn contract_stream(contract_id: &str) -> String {
    format!("contract:{contract_id}")
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
    /// Money moved by the transition (a bid's amount), fen.
    pub amount_fen: Option<i64>,
}

/// The audit keys: the current one signs new records; it and the retired ones verify.
#[derive(Clone)]
pub struct AuditKeys {
    current_id: String,
    keys: BTreeMap<String, Vec<u8>>,
}

impl std::fmt::Debug for AuditKeys {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AuditKeys")
            .field("current_id", &self.current_id)
            .field("ids", &self.keys.keys().collect::<Vec<_>>())
            .finish()
    }
}

impl AuditKeys {
    /// The keys of `[audit]`; `None` when no key is configured (only embedded uses such as
    /// tests: the command line fills it outside production, production requires it), in
    /// which case records are written with the first release's plain SHA-256 link.
    pub fn from_settings(a: &crate::config::Audit) -> Option<AuditKeys> {
        let current = a.key.expose_secret();
        if current.is_empty() {
            return None;
        }
        let mut keys: BTreeMap<String, Vec<u8>> = a
            .retired_keys
            .iter()
            .map(|(id, k)| (id.clone(), k.expose_secret().as_bytes().to_vec()))
            .collect();
        keys.insert(a.key_id.clone(), current.as_bytes().to_vec());
        Some(AuditKeys {
            current_id: a.key_id.clone(),
            keys,
        })
    }

    pub fn current_id(&self) -> &str {
        &self.current_id
    }

    fn key(&self, id: &str) -> Option<&[u8]> {
        self.keys.get(id).map(Vec::as_slice)
    }
}

/// The keys of this process, installed once at start (`AppState::new`, the command line).
static KEYS: RwLock<Option<Arc<AuditKeys>>> = RwLock::new(None);

/// Installs the audit keys `append` signs with and `verify` checks with.
pub fn install_keys(keys: Option<AuditKeys>) {
    *KEYS.write().unwrap_or_else(|e| e.into_inner()) = keys.map(Arc::new);
}

fn installed_keys() -> Option<Arc<AuditKeys>> {
    KEYS.read().unwrap_or_else(|e| e.into_inner()).clone()
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

/// The link of a keyed record: HMAC-SHA-256 under `key` over a domain label and, each as its
/// UTF-8 length (8 bytes, big-endian) then its bytes (an absent value is the single byte
/// 0x00): prev_hash, stream, seq, actor_id, actor_role, action, entity_type, entity_id,
/// from_state, to_state, reason, amount_fen (decimal), key_id, created_at (RFC 3339,
/// microseconds, `Z`).
pub fn record_link(r: &AuditRecord, key: &[u8]) -> String {
    let seq = r.seq.to_string();
    let amount = r.amount_fen.map(|a| a.to_string());
    let created = r
        .created_at
        .and_utc()
        .to_rfc3339_opts(chrono::SecondsFormat::Micros, true);
    let none = "\u{0}";
    let fields: [&str; 15] = [
        "landx-audit-link-v2",
        &r.prev_hash,
        &r.stream,
        &seq,
        r.actor_id.as_deref().unwrap_or(none),
        r.actor_role.as_deref().unwrap_or(none),
        &r.action,
        &r.entity_type,
        &r.entity_id,
        r.from_state.as_deref().unwrap_or(none),
        r.to_state.as_deref().unwrap_or(none),
        r.reason.as_deref().unwrap_or(none),
        amount.as_deref().unwrap_or(none),
        r.key_id.as_deref().unwrap_or(none),
        &created,
    ];
    let mut msg = Vec::new();
    for f in fields {
        msg.extend_from_slice(&(f.len() as u64).to_be_bytes());
        msg.extend_from_slice(f.as_bytes());
    }
    crate::crypto::hmac_hex(key, &msg)
}

/// The link `r` must carry: HMAC under the key it names, or the first release's SHA-256 when
/// it names none. `Err` names why it can't be checked.
pub fn expected_link(r: &AuditRecord, keys: Option<&AuditKeys>) -> Result<String, String> {
    match &r.key_id {
        None if r.amount_fen.is_some() => {
            Err("an amount on a record without a key id (the first release had none)".into())
        }
        None => Ok(record_hash(r)),
        Some(id) => match keys.and_then(|k| k.key(id)) {
            Some(key) => Ok(record_link(r, key)),
            None => Err(format!(
                "signed with audit key `{id}`, which is not configured"
            )),
        },
    }
}

/// Appends one record to its stream. Must run inside the caller's write transaction: the
/// stream's head row is locked (PostgreSQL `FOR UPDATE`; SQLite holds the write lock already)
/// so concurrent appends to one stream serialise while other streams proceed.
pub fn append(conn: &mut DbConn, e: &Entry<'_>, now: DateTime<Utc>) -> Result<(), ApiError> {
    let rec = next_record(conn, e, now)?;
    Ok(rows::insert_record(conn, &rec)?)
}

/// The record that appends `e` to its stream, linked and hashed, with the stream's head locked
/// until commit; for the caller to write (with [`rows::insert_record`] or together with the
/// write it records, as a bid does).
pub fn next_record(
    conn: &mut DbConn,
    e: &Entry<'_>,
    now: DateTime<Utc>,
) -> Result<AuditRecord, ApiError> {
    let head = rows::lock_stream_head(conn, e.stream, GENESIS_HASH)?;
    Ok(record_after(head, e, now))
}

/// The record that appends `e` to its stream after `(last_seq, last_hash)`, the stream's head
/// as the caller has locked it (see [`next_record`]).
pub fn record_after(
    (last_seq, last_hash): (i64, String),
    e: &Entry<'_>,
    now: DateTime<Utc>,
) -> AuditRecord {
    if matches!(e.entity_type, "listing" | "deal" | "contract") {
        crate::db::commit_hook::mark(e.stream, now);
    }
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
        key_id: None,
        amount_fen: e.amount_fen,
    };
    rec.hash = match installed_keys() {
        Some(keys) => {
            rec.key_id = Some(keys.current_id.clone());
            record_link(&rec, keys.key(&keys.current_id).unwrap_or_default())
        }
        None if rec.amount_fen.is_some() => {
            // Without a key the record takes the first release's form, which has no amount.
            rec.amount_fen = None;
            record_hash(&rec)
        }
        None => record_hash(&rec),
    };
    rec
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
/// Checks keyed links with the installed keys.
pub fn verify(conn: &mut DbConn) -> Result<Result<u64, Broken>, ApiError> {
    let keys = installed_keys();
    rows::in_snapshot(conn, |conn| verify_snapshot(conn, keys.as_deref()))
}

fn verify_snapshot(
    conn: &mut DbConn,
    keys: Option<&AuditKeys>,
) -> Result<Result<u64, Broken>, ApiError> {
    let streams = rows::stream_heads(conn)?;
    let mut count = 0u64;
    let names: Vec<String> = streams.iter().map(|(s, _, _)| s.clone()).collect();
    for (stream, last_seq, last_hash) in streams {
        match verify_chain(conn, &stream, last_seq, &last_hash, keys)? {
            Ok(n) => count += n,
            Err(b) => return Ok(Err(b)),
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
                problem: STRAY.into(),
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

const STRAY: &str = "record outside every hash chain";

/// Walks one stream's whole chain, from its first record to its head, with the installed
/// keys: `Ok(count)` when intact, else the first broken record (for records removed from
/// the end, the last one that still verifies, or 0). Reads in the caller's transaction: run
/// it inside [`crate::db::audit::in_snapshot`] when other reads must agree with it. A stream
/// without a head or records is `Ok(0)` when it holds nothing at all.
pub fn verify_stream(conn: &mut DbConn, stream: &str) -> Result<Result<u64, Broken>, ApiError> {
    let keys = installed_keys();
    let (last_seq, last_hash) =
        trail_rows::stream_head(conn, stream)?.unwrap_or_else(|| (0, GENESIS_HASH.to_string()));
    let walked = match verify_chain(conn, stream, last_seq, &last_hash, keys.as_deref())? {
        Ok(n) => n,
        Err(b) => return Ok(Err(b)),
    };
    // A record numbered below 1 is never reached by the walk.
    match trail_rows::first_stray_in_stream(conn, stream)? {
        Some(r) => Ok(Err(Broken {
            stream: r.stream,
            seq: r.seq,
            id: r.id,
            problem: STRAY.into(),
        })),
        None => Ok(Ok(walked)),
    }
}

/// Walks `stream`'s chain from seq 1 and checks it ends at the head `(last_seq, last_hash)`.
fn verify_chain(
    conn: &mut DbConn,
    stream: &str,
    last_seq: i64,
    last_hash: &str,
    keys: Option<&AuditKeys>,
) -> Result<Result<u64, Broken>, ApiError> {
    let mut prev = GENESIS_HASH.to_string();
    let mut expected_seq = 1i64;
    let mut after = 0i64;
    let mut keyed = false;
    let mut count = 0u64;
    loop {
        let batch = rows::records_after(conn, stream, after, 1000)?;
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
            if keyed && r.key_id.is_none() {
                return Ok(Err(broken(
                    "record without a key id after keyed records (downgraded link)",
                )));
            }
            keyed |= r.key_id.is_some();
            match expected_link(&r, keys) {
                Err(why) => return Ok(Err(broken(&why))),
                Ok(link) if link != r.hash => {
                    return Ok(Err(broken("content does not match its hash")))
                }
                Ok(_) => {}
            }
            prev = r.hash.clone();
            after = r.seq;
            expected_seq += 1;
            count += 1;
        }
    }
    if after != last_seq || prev != last_hash {
        return Ok(Err(Broken {
            stream: stream.to_string(),
            seq: after,
            id: String::new(),
            problem: "stream head does not match its last record (records removed?)".into(),
        }));
    }
    Ok(Ok(count))
}

/// One stream's head, for anchoring outside the database.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Head {
    pub stream: String,
    pub seq: i64,
    pub link: String,
    /// The key that signed the head record; `None`: a first-release link (or an empty stream).
    pub key_id: Option<String>,
}

/// Every stream's head, by name, from one snapshot.
pub fn heads(conn: &mut DbConn) -> Result<Vec<Head>, ApiError> {
    rows::in_snapshot(conn, |conn| {
        let mut out = Vec::new();
        for (stream, seq, link) in rows::stream_heads(conn)? {
            let key_id = rows::key_id_at(conn, &stream, seq)?;
            out.push(Head {
                stream,
                seq,
                link,
                key_id,
            });
        }
        Ok(out)
    })
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
            key_id: None,
            amount_fen: None,
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

    /// Known answers computed outside this code base (python3 `hmac`, `hashlib.sha256`) over
    /// the input documented on [`record_link`].
    #[test]
    fn keyed_link_matches_known_answers() {
        let key = "k".repeat(32);
        let mut r = rec();
        r.key_id = Some("a1".into());
        assert_eq!(
            record_link(&r, key.as_bytes()),
            "e9d49692ddac329562f99241e37bab5c482040b7ebf233f86f80ca745bf89f30"
        );
        let bid = AuditRecord {
            id: "b".into(),
            stream: "listing:l1".into(),
            seq: 7,
            prev_hash: "ab".repeat(32),
            hash: String::new(),
            actor_id: Some("u9".into()),
            actor_role: Some("investor".into()),
            action: "bid.placed".into(),
            entity_type: "bid".into(),
            entity_id: "b1".into(),
            from_state: None,
            to_state: Some("accepted".into()),
            reason: Some("125000 fen/mu/year".into()),
            created_at: chrono::NaiveDate::from_ymd_opt(2027, 1, 10)
                .unwrap()
                .and_hms_micro_opt(2, 5, 0, 123_456)
                .unwrap(),
            key_id: Some("a2".into()),
            amount_fen: Some(125_000),
        };
        assert_eq!(
            record_link(&bid, key.as_bytes()),
            "91a676ef2d6c20294583564ec2d862ccb469727b1a9065106948e0d792ea1029"
        );
        // The amount and the key id are inputs; a keyless record keeps the SHA-256 link.
        let mut other = bid.clone();
        other.amount_fen = Some(125_001);
        assert_ne!(
            record_link(&other, key.as_bytes()),
            record_link(&bid, key.as_bytes())
        );
        let mut other = bid.clone();
        other.key_id = Some("a1".into());
        assert_ne!(
            record_link(&other, key.as_bytes()),
            record_link(&bid, key.as_bytes())
        );
        assert_eq!(expected_link(&rec(), None), Ok(record_hash(&rec())));
        assert!(
            expected_link(&bid, None).is_err(),
            "an unknown key is reported"
        );
    }
}
