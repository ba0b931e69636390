//! Documents: uploading a scan to a listing, registration, contract or claim (the raw file as
//! the body, streamed to storage as it arrives), listing an owner's documents, reading one's
//! metadata and downloading its content (ranges, `ETag`, the UTF-8 file name).

use actix_web::http::{header, Method, StatusCode};
use actix_web::{web, HttpRequest, HttpResponse};
use chrono::{DateTime, Utc};
use futures_util::StreamExt;
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use super::extract::MaybeCaller;
use super::{created, parse_id, Page, PageQuery, Routes};
use crate::app::document_store::{Spool, Spooled, CHUNK_BYTES};
use crate::app::documents::{self, Accepted, UploadRequest};
use crate::auth::Caller;
use crate::db;
use crate::db::documents::Document;
use crate::domain::document::{
    content_disposition, parse_range, DocumentKind, OwnerType, RangeAsk,
};
use crate::error::ApiError;
use crate::state::AppState;

pub fn routes(r: &mut Routes) {
    r.add(
        Method::POST,
        "/api/v1/{owner}/{id}/documents",
        upload_document,
    )
    .add(
        Method::GET,
        "/api/v1/{owner}/{id}/documents",
        list_documents,
    )
    .add(Method::GET, "/api/v1/documents/{id}", get_document)
    .add(Method::DELETE, "/api/v1/documents/{id}", delete_document)
    .add(
        Method::GET,
        "/api/v1/documents/{id}/content",
        get_document_content,
    );
}

/// The collections that take documents.
#[derive(Debug, Clone, Copy, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum DocumentOwner {
    Listings,
    Registrations,
    Contracts,
    Claims,
}

/// A document's metadata.
#[derive(Debug, Serialize, ToSchema)]
pub struct DocumentOut {
    pub id: String,
    pub owner_type: OwnerType,
    pub owner_id: String,
    pub kind: DocumentKind,
    /// As uploaded (any script, e.g. `村民会议决议.pdf`).
    pub filename: String,
    /// What the file's bytes are: `application/pdf`, `image/jpeg` or `image/png`.
    pub content_type: String,
    pub size_bytes: i64,
    /// Hex SHA-256 of the content; also its `ETag` and recorded in the audit trail.
    pub sha256: String,
    pub uploaded_by: String,
    pub created_at: DateTime<Utc>,
}

impl From<Document> for DocumentOut {
    fn from(d: Document) -> Self {
        DocumentOut {
            id: d.id,
            owner_type: d.owner_type,
            owner_id: d.owner_id,
            kind: d.kind,
            filename: d.filename,
            content_type: d.content_type,
            size_bytes: d.size_bytes,
            sha256: d.sha256,
            uploaded_by: d.uploaded_by,
            created_at: d.created_at.and_utc(),
        }
    }
}

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct UploadQuery {
    /// listing: `resolution`, `commission`, `parcel_map`; registration: `id_copy`,
    /// `business_licence`, `qualification`; contract: `signed_scan`; claim: `evidence`.
    pub kind: Option<String>,
    /// The file's name, 1–255 characters (percent-encoded UTF-8).
    pub filename: Option<String>,
}

/// The owner named by the path: an unknown collection is no route (404); a bad id 400.
fn owner_of(path: &(String, String)) -> Result<(OwnerType, String), ApiError> {
    let owner = OwnerType::from_collection(&path.0).ok_or(ApiError::NotFound)?;
    Ok((owner, parse_id(&path.1)?))
}

/// Files a document: the raw file is the body (`application/pdf`, `image/jpeg` or
/// `image/png`, which its first bytes must show, else 415), at most `documents.max_bytes`
/// (a larger `Content-Length` is 413 before the body is read). Who may: a listing's owner
/// collective (while draft or returned), a registration's investor (while applied), a
/// contract's parties and township staff (draft or signed), a claim's collective and staff
/// (filed or under review).
#[utoipa::path(post, path = "/api/v1/{owner}/{id}/documents", tag = "documents",
    security(("bearer" = [])),
    params(("owner" = DocumentOwner, Path, description = "the owner's collection"),
        ("id" = uuid::Uuid, Path, description = "the owner's id"), UploadQuery),
    request_body(content = String, content_type = "application/pdf",
        description = "the file itself (PDF, JPEG or PNG)"),
    responses((status = 201, body = DocumentOut),
        (status = 409, description = "the owner takes no more documents"),
        (status = 413, description = "file over documents.max_bytes"),
        (status = 415, description = "not a PDF, JPEG or PNG, or not the declared type")))]
pub async fn upload_document(
    state: web::Data<AppState>,
    caller: Caller,
    req: HttpRequest,
    path: web::Path<(String, String)>,
    qs: web::Query<UploadQuery>,
    payload: web::Payload,
) -> Result<HttpResponse, ApiError> {
    let (owner, id) = owner_of(&path)?;
    let header = |name: header::HeaderName| {
        req.headers()
            .get(name)
            .and_then(|v| v.to_str().ok())
            .map(str::to_string)
    };
    let qs = qs.into_inner();
    let ask = UploadRequest {
        kind: qs.kind,
        filename: qs.filename,
        content_type: header(header::CONTENT_TYPE),
        content_length: header(header::CONTENT_LENGTH).and_then(|v| v.trim().parse().ok()),
    };
    let ctx = state.ctx(Some(caller));
    let accepted = {
        let ctx = ctx.clone();
        db::run(&state.pool, move |conn| {
            documents::accept_upload(&ctx, conn, owner, &id, ask)
        })
        .await?
    };
    let spooled = receive(&state, &accepted, payload).await?;
    let d = db::run(&state.pool, move |conn| {
        documents::store(&ctx, conn, &accepted, spooled)
    })
    .await?;
    Ok(created(
        format!("/api/v1/documents/{}", d.id),
        &DocumentOut::from(d),
    ))
}

/// Bytes gathered before one write to the spool file.
const WRITE_BUFFER: usize = 256 * 1024;

/// Streams an upload's body into a spool file (see [`spool_payload`]), its first bytes
/// checked against the declared type.
async fn receive(
    state: &AppState,
    a: &Accepted,
    payload: web::Payload,
) -> Result<Spooled, ApiError> {
    spool_payload(&state.settings.documents, a.max_bytes, payload, |head| {
        documents::check_head(a, head)
    })
    .await
    .map_err(|e| match e {
        ApiError::TooLarge(_) => documents::over_limit(a),
        other => other,
    })
}

/// Streams a body into a spool file: hashed as it arrives, `head` checked on its first bytes
/// (as soon as they are in), 413 as soon as it grows past `max`; file writes run off the
/// async workers, at most [`WRITE_BUFFER`] bytes at a time. Also used by the
/// `Idempotency-Key` layer, which fingerprints an upload by its content's hash.
pub async fn spool_payload<S, E>(
    settings: &crate::config::Documents,
    max: u64,
    mut payload: S,
    head: impl Fn(&[u8]) -> Result<(), ApiError>,
) -> Result<Spooled, ApiError>
where
    S: futures_util::Stream<Item = Result<web::Bytes, E>> + Unpin,
    E: std::fmt::Display,
{
    let settings = settings.clone();
    let mut spool = blocking(move || Spool::create(&settings)).await?;
    let mut buf: Vec<u8> = Vec::with_capacity(WRITE_BUFFER);
    let mut received: u64 = 0;
    let mut head_checked = false;
    while let Some(chunk) = payload.next().await {
        let chunk =
            chunk.map_err(|e| ApiError::BadRequest(format!("the body could not be read: {e}")))?;
        received += chunk.len() as u64;
        if received > max {
            return Err(ApiError::TooLarge(format!(
                "a document may have at most {max} bytes"
            )));
        }
        buf.extend_from_slice(&chunk);
        if !head_checked && buf.len() >= crate::domain::document::MediaType::SNIFF_LEN {
            head(&buf)?;
            head_checked = true;
        }
        if buf.len() >= WRITE_BUFFER {
            let full = std::mem::replace(&mut buf, Vec::with_capacity(WRITE_BUFFER));
            spool = blocking(move || spool.write(&full).map(|()| spool)).await?;
        }
    }
    if !head_checked {
        head(&buf)?;
    }
    blocking(move || {
        spool.write(&buf)?;
        spool.finish()
    })
    .await
}

/// A spooled body as a request payload again, read back [`WRITE_BUFFER`] bytes at a time.
pub fn replay(spooled: Spooled) -> actix_web::dev::Payload {
    let stream = futures_util::stream::unfold(Some((spooled, 0u64)), |state| async move {
        let (spooled, offset) = state?;
        let read = blocking(move || {
            let piece = spooled.read_at(offset, WRITE_BUFFER)?;
            Ok((spooled, piece))
        })
        .await;
        match read {
            Ok((_, piece)) if piece.is_empty() => None,
            Ok((spooled, piece)) => {
                let next = offset + piece.len() as u64;
                Some((Ok(web::Bytes::from(piece)), Some((spooled, next))))
            }
            Err(e) => Some((
                Err(actix_web::error::PayloadError::Io(std::io::Error::other(
                    e.to_string(),
                ))),
                None,
            )),
        }
    });
    let boxed: actix_http::BoxedPayloadStream = Box::pin(stream);
    actix_web::dev::Payload::from(boxed)
}

async fn blocking<T: Send + 'static>(
    f: impl FnOnce() -> Result<T, ApiError> + Send + 'static,
) -> Result<T, ApiError> {
    web::block(f)
        .await
        .map_err(|e| ApiError::internal(format!("blocking task failed: {e}")))?
}

/// An owner's documents (whoever may read the owner; a public listing's are public).
#[utoipa::path(get, path = "/api/v1/{owner}/{id}/documents", tag = "documents",
    security((), ("bearer" = [])),
    params(("owner" = DocumentOwner, Path, description = "the owner's collection"),
        ("id" = uuid::Uuid, Path, description = "the owner's id"), PageQuery),
    responses((status = 200, body = Page<DocumentOut>)))]
pub async fn list_documents(
    state: web::Data<AppState>,
    caller: MaybeCaller,
    path: web::Path<(String, String)>,
    qs: web::Query<PageQuery>,
) -> Result<HttpResponse, ApiError> {
    let (owner, id) = owner_of(&path)?;
    if caller.0.is_none() && owner != OwnerType::Listing {
        // As the owner's own routes answer without a token.
        return Err(ApiError::Unauthorized("missing access token".into()));
    }
    let page = qs.to_req()?;
    let limit = page.limit;
    let ctx = state.ctx(caller.0);
    let rows = db::run(&state.pool, move |conn| {
        documents::list(&ctx, conn, owner, &id, &page)
    })
    .await?;
    Ok(HttpResponse::Ok().json(Page::from_rows(
        rows,
        limit,
        |d| d.id.clone(),
        DocumentOut::from,
    )))
}

/// One document's metadata (whoever may read its owner).
#[utoipa::path(get, path = "/api/v1/documents/{id}", tag = "documents",
    security((), ("bearer" = [])),
    params(("id" = uuid::Uuid, Path, description = "document id")),
    responses((status = 200, body = DocumentOut)))]
pub async fn get_document(
    state: web::Data<AppState>,
    caller: MaybeCaller,
    id: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let id = parse_id(&id)?;
    let ctx = state.ctx(caller.0);
    let d = db::run(&state.pool, move |conn| documents::get(&ctx, conn, &id)).await?;
    Ok(HttpResponse::Ok().json(DocumentOut::from(d)))
}

/// Removes a document: its uploader only, while the owner is editable (a draft or returned
/// listing, an applied registration, a draft contract, a filed claim); after that 409.
#[utoipa::path(delete, path = "/api/v1/documents/{id}", tag = "documents",
    security(("bearer" = [])),
    params(("id" = uuid::Uuid, Path, description = "document id")),
    responses((status = 204, description = "removed"),
        (status = 409, description = "the owner is no longer editable")))]
pub async fn delete_document(
    state: web::Data<AppState>,
    caller: Caller,
    id: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let id = parse_id(&id)?;
    let ctx = state.ctx(Some(caller));
    db::run(&state.pool, move |conn| documents::delete(&ctx, conn, &id)).await?;
    Ok(HttpResponse::NoContent().finish())
}

/// The document's bytes: `Content-Type` as stored, `ETag` its SHA-256, `Content-Disposition`
/// with the UTF-8 file name (RFC 6266 `filename*`), and single byte ranges (`Range:
/// bytes=a-b` → 206 with `Content-Range`; a range that can't be served reads as the whole
/// file).
#[utoipa::path(get, path = "/api/v1/documents/{id}/content", tag = "documents",
    security((), ("bearer" = [])),
    params(("id" = uuid::Uuid, Path, description = "document id"),
        ("Range" = Option<String>, Header, description = "one range, `bytes=0-1023`")),
    responses(
        (status = 200, description = "the file", content_type = "application/octet-stream", body = String),
        (status = 206, description = "the range asked", content_type = "application/octet-stream", body = String),
        (status = 304, description = "If-None-Match matched the ETag")))]
pub async fn get_document_content(
    state: web::Data<AppState>,
    caller: MaybeCaller,
    req: HttpRequest,
    id: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let id = parse_id(&id)?;
    let ctx = state.ctx(caller.0);
    let (d, blob) = db::run(&state.pool, move |conn| documents::content(&ctx, conn, &id)).await?;
    let size = blob.size_bytes.max(0) as u64;
    let etag = format!("\"{}\"", d.sha256);
    let header = |name: header::HeaderName| req.headers().get(name).and_then(|v| v.to_str().ok());
    if header(header::IF_NONE_MATCH).is_some_and(|v| v.split(',').any(|t| t.trim() == etag)) {
        return Ok(HttpResponse::NotModified()
            .insert_header((header::ETAG, etag))
            .finish());
    }
    // A range is served only for the content the client has (If-Range), if it names one.
    let same = header(header::IF_RANGE).is_none_or(|v| v.trim() == etag);
    let ask = match header(header::RANGE) {
        Some(r) if same => parse_range(r, size),
        _ => RangeAsk::Whole,
    };
    let (status, first, len) = match ask {
        RangeAsk::Part(a, b) => (StatusCode::PARTIAL_CONTENT, a, b - a + 1),
        RangeAsk::Whole | RangeAsk::Unsatisfiable => (StatusCode::OK, 0, size),
    };
    let mut res = HttpResponse::build(status);
    res.insert_header((header::CONTENT_TYPE, d.content_type.clone()))
        .insert_header((header::ETAG, etag))
        .insert_header((header::ACCEPT_RANGES, "bytes"))
        .insert_header((
            header::CONTENT_DISPOSITION,
            content_disposition(&d.filename),
        ));
    if status == StatusCode::PARTIAL_CONTENT {
        res.insert_header((
            header::CONTENT_RANGE,
            format!("bytes {first}-{}/{size}", first + len - 1),
        ));
    }
    // One chunk at a time, each read on the blocking pool when the client is ready for it.
    let pool = state.pool.clone();
    let settings = state.settings.documents.clone();
    let body =
        futures_util::stream::unfold((first, len, Some(blob)), move |(offset, left, blob)| {
            let pool = pool.clone();
            let settings = settings.clone();
            async move {
                let blob = blob?;
                if left == 0 {
                    return None;
                }
                let want = left.min(CHUNK_BYTES as u64);
                let b = blob.clone();
                let piece = db::run(&pool, move |conn| {
                    documents::read_piece(&settings, conn, &b, offset, want)
                })
                .await;
                match piece {
                    Ok(bytes) if !bytes.is_empty() => {
                        let n = bytes.len() as u64;
                        Some((
                            Ok::<_, actix_web::Error>(web::Bytes::from(bytes)),
                            (offset + n, left - n, Some(blob)),
                        ))
                    }
                    Ok(_) => Some((
                        Err(ApiError::internal("document content ended early").into()),
                        (offset, 0, None),
                    )),
                    Err(e) => Some((Err(e.into()), (offset, 0, None))),
                }
            }
        });
    Ok(res.no_chunking(len).streaming(body))
}
