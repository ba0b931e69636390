//! Documents: sample files and uploads, and the two documents every listing needs before it
//! is submitted (a resolution and a commission letter).

use super::harness::{Client, Resp};
use super::http::enc;
use super::world::User;

/// A small, well-formed one-page PDF whose text is `label` (distinct labels: distinct
/// contents): the demo seed's own sample file.
pub fn pdf(label: &str) -> Vec<u8> {
    super::internals::sample_pdf(label)
}

/// A PNG signature followed by `label` (enough for the type check).
pub fn png(label: &str) -> Vec<u8> {
    let mut b = b"\x89PNG\r\n\x1a\n".to_vec();
    b.extend_from_slice(label.as_bytes());
    b
}

/// A JPEG start-of-image marker followed by `label`.
pub fn jpeg(label: &str) -> Vec<u8> {
    let mut b = vec![0xFF, 0xD8, 0xFF, 0xE0];
    b.extend_from_slice(label.as_bytes());
    b
}

/// `POST /api/v1/{collection}/{id}/documents?kind=&filename=` with the bytes as the body.
#[allow(clippy::too_many_arguments)]
pub fn upload(
    c: &Client,
    token: Option<&str>,
    collection: &str,
    id: &str,
    kind: &str,
    filename: &str,
    content_type: &str,
    bytes: &[u8],
) -> Resp {
    c.send_bytes(
        &format!(
            "/api/v1/{collection}/{id}/documents?kind={kind}&filename={}",
            enc(filename)
        ),
        token,
        Some(content_type),
        bytes,
    )
}

/// Uploads a PDF, asserting 201; the document.
pub fn upload_pdf(
    c: &Client,
    token: Option<&str>,
    collection: &str,
    id: &str,
    kind: &str,
    filename: &str,
) -> serde_json::Value {
    let r = upload(
        c,
        token,
        collection,
        id,
        kind,
        filename,
        "application/pdf",
        &pdf(&format!("{collection} {id} {kind} {filename}")),
    );
    assert_eq!(
        r.status, 201,
        "upload {kind} to {collection}/{id}: {}",
        r.text
    );
    r.body
}

/// The documents a listing must have before it is submitted: the villagers' resolution
/// (村民会议决议) and the households' commission letters (委托书), uploaded by its owner.
pub fn attach_listing_documents(c: &Client, owner: &User, listing_id: &str) {
    attach_listing_documents_with(c, owner.t(), listing_id);
}

/// [`attach_listing_documents`] with a bare token.
pub fn attach_listing_documents_with(c: &Client, token: Option<&str>, listing_id: &str) {
    upload_pdf(
        c,
        token,
        "listings",
        listing_id,
        "resolution",
        "村民会议决议.pdf",
    );
    upload_pdf(c, token, "listings", listing_id, "commission", "委托书.pdf");
}
