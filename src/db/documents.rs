//! Documents' rows: metadata (`documents`), one blob per distinct content (`document_blobs`)
//! and the blob's bytes in chunks (`document_chunks`, unless kept in `documents.dir`).

use chrono::NaiveDateTime;
use diesel::prelude::*;

use super::schema::{document_blobs, document_chunks, documents};
use super::{DbConn, QResult};
use crate::domain::document::{DocumentKind, OwnerType};

#[derive(Debug, Clone, Queryable, Selectable, Insertable)]
#[diesel(table_name = documents)]
pub struct Document {
    pub id: String,
    #[diesel(deserialize_as = String, serialize_as = String)]
    pub owner_type: OwnerType,
    pub owner_id: String,
    #[diesel(deserialize_as = String, serialize_as = String)]
    pub kind: DocumentKind,
    pub filename: String,
    pub content_type: String,
    pub size_bytes: i64,
    pub sha256: String,
    pub uploaded_by: String,
    pub created_at: NaiveDateTime,
}

#[derive(Debug, Clone, Queryable, Selectable, Insertable)]
#[diesel(table_name = document_blobs)]
pub struct Blob {
    pub sha256: String,
    pub size_bytes: i64,
    /// Bytes per chunk row; 0: the content is a file in `documents.dir`.
    pub chunk_bytes: i64,
    pub created_at: NaiveDateTime,
}

pub fn insert(conn: &mut DbConn, d: &Document) -> QResult<()> {
    diesel::insert_into(documents::table)
        .values(d.clone())
        .execute(conn)
        .map(drop)
}

pub fn find(conn: &mut DbConn, id: &str) -> QResult<Option<Document>> {
    documents::table
        .find(id)
        .select(Document::as_select())
        .get_result(conn)
        .optional()
}

/// An owner's documents by id (upload order), after `after`: `limit + 1` rows.
pub fn list_for_owner(
    conn: &mut DbConn,
    owner_type: OwnerType,
    owner_id: &str,
    after: Option<&str>,
    limit: i64,
) -> QResult<Vec<Document>> {
    let mut q = documents::table
        .filter(documents::owner_type.eq(owner_type.as_str()))
        .filter(documents::owner_id.eq(owner_id))
        .select(Document::as_select())
        .order(documents::id.asc())
        .limit(limit + 1)
        .into_boxed();
    if let Some(a) = after {
        q = q.filter(documents::id.gt(a.to_string()));
    }
    q.load(conn)
}

/// Every document of an owner (for copying them to a relisted draft).
pub fn all_for_owner(
    conn: &mut DbConn,
    owner_type: OwnerType,
    owner_id: &str,
) -> QResult<Vec<Document>> {
    documents::table
        .filter(documents::owner_type.eq(owner_type.as_str()))
        .filter(documents::owner_id.eq(owner_id))
        .select(Document::as_select())
        .order(documents::id.asc())
        .load(conn)
}

/// The kinds an owner has at least one document of.
pub fn kinds_of(
    conn: &mut DbConn,
    owner_type: OwnerType,
    owner_id: &str,
) -> QResult<Vec<DocumentKind>> {
    let words: Vec<String> = documents::table
        .filter(documents::owner_type.eq(owner_type.as_str()))
        .filter(documents::owner_id.eq(owner_id))
        .select(documents::kind)
        .distinct()
        .load(conn)?;
    Ok(words
        .iter()
        .filter_map(|w| DocumentKind::parse(w))
        .collect())
}

pub fn delete(conn: &mut DbConn, id: &str) -> QResult<usize> {
    diesel::delete(documents::table.find(id)).execute(conn)
}

/// The blob row, read under a share lock on PostgreSQL so a concurrent removal of the last
/// document naming it can't take it away before this transaction's document refers to it.
pub fn find_blob_locked(conn: &mut DbConn, sha256: &str) -> QResult<Option<Blob>> {
    match conn {
        DbConn::Pg(c) => document_blobs::table
            .find(sha256)
            .select(Blob::as_select())
            .for_key_share()
            .get_result(c)
            .optional(),
        DbConn::Sqlite(_) => find_blob(conn, sha256),
    }
}

pub fn find_blob(conn: &mut DbConn, sha256: &str) -> QResult<Option<Blob>> {
    document_blobs::table
        .find(sha256)
        .select(Blob::as_select())
        .get_result(conn)
        .optional()
}

/// Inserts the blob row unless one exists; whether this call inserted it.
pub fn insert_blob(conn: &mut DbConn, b: &Blob) -> QResult<bool> {
    let n = crate::db_run!(conn: {
        diesel::insert_into(document_blobs::table)
            .values(b.clone())
            .on_conflict_do_nothing()
            .execute(conn)?
    });
    Ok(n == 1)
}

pub fn insert_chunk(conn: &mut DbConn, sha256: &str, seq: i64, bytes: &[u8]) -> QResult<()> {
    diesel::insert_into(document_chunks::table)
        .values((
            document_chunks::sha256.eq(sha256),
            document_chunks::seq.eq(seq),
            document_chunks::bytes.eq(bytes),
        ))
        .execute(conn)
        .map(drop)
}

pub fn read_chunk(conn: &mut DbConn, sha256: &str, seq: i64) -> QResult<Option<Vec<u8>>> {
    document_chunks::table
        .find((sha256, seq))
        .select(document_chunks::bytes)
        .get_result(conn)
        .optional()
}

/// Removes the blob (and its chunks) when no document names it any more; whether it did.
pub fn delete_blob_if_unused(conn: &mut DbConn, sha256: &str) -> QResult<bool> {
    let used = documents::table
        .filter(documents::sha256.eq(sha256))
        .select(documents::id)
        .first::<String>(conn)
        .optional()?
        .is_some();
    if used {
        return Ok(false);
    }
    let n = diesel::delete(document_blobs::table.find(sha256)).execute(conn)?;
    Ok(n == 1)
}

/// Blobs by SHA-256 after `after`, `limit` of them (for `landx documents verify`).
pub fn blobs_after(conn: &mut DbConn, after: &str, limit: i64) -> QResult<Vec<Blob>> {
    document_blobs::table
        .filter(document_blobs::sha256.gt(after))
        .select(Blob::as_select())
        .order(document_blobs::sha256.asc())
        .limit(limit)
        .load(conn)
}

/// Documents by id after `after`, `limit` of them (for `landx documents verify`).
pub fn documents_after(conn: &mut DbConn, after: &str, limit: i64) -> QResult<Vec<Document>> {
    documents::table
        .filter(documents::id.gt(after))
        .select(Document::as_select())
        .order(documents::id.asc())
        .limit(limit)
        .load(conn)
}

/// The reasons of the audit records written when the document was filed (uploaded or copied).
pub fn filing_reasons(conn: &mut DbConn, document_id: &str) -> QResult<Vec<Option<String>>> {
    use super::schema::audit_log;
    audit_log::table
        .filter(audit_log::entity_type.eq("document"))
        .filter(audit_log::entity_id.eq(document_id))
        .filter(audit_log::action.eq_any(["document.uploaded", "document.copied"]))
        .select(audit_log::reason)
        .load(conn)
}
