-- Documents (issue 17): the scans filed with listings, registrations, contracts and claims.
-- Contents are content-addressed: one blob per distinct SHA-256, however many documents
-- (or relisted copies) name it. A blob's bytes live in document_chunks (1 MiB each, so an
-- upload or a download never holds a whole file in memory), or, with documents.dir set, in
-- one file per blob named by its SHA-256 (then it has no chunk rows).
CREATE TABLE document_blobs (
    sha256 TEXT PRIMARY KEY,
    size_bytes BIGINT NOT NULL,
    chunk_bytes BIGINT NOT NULL,
    created_at TIMESTAMP NOT NULL
);

CREATE TABLE document_chunks (
    sha256 TEXT NOT NULL REFERENCES document_blobs (sha256) ON DELETE CASCADE,
    seq BIGINT NOT NULL,
    bytes BYTEA NOT NULL,
    PRIMARY KEY (sha256, seq)
);

-- Metadata. owner_type + owner_id name the listing, registration, contract or claim.
CREATE TABLE documents (
    id TEXT PRIMARY KEY,
    owner_type TEXT NOT NULL,
    owner_id TEXT NOT NULL,
    kind TEXT NOT NULL,
    filename TEXT NOT NULL,
    content_type TEXT NOT NULL,
    size_bytes BIGINT NOT NULL,
    sha256 TEXT NOT NULL REFERENCES document_blobs (sha256),
    uploaded_by TEXT NOT NULL REFERENCES users (id),
    created_at TIMESTAMP NOT NULL
);
CREATE INDEX documents_owner_idx ON documents (owner_type, owner_id, id);
CREATE INDEX documents_sha_idx ON documents (sha256);
