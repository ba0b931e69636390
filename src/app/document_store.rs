//! Where documents' bytes live, content-addressed by SHA-256 (one copy per distinct content):
//! in the database as 1 MiB chunk rows (the default, both backends), or with
//! `documents.dir` set as one file per content named by its hash.
//!
//! An upload is spooled: written to a temporary file as it arrives, hashed as it goes, so a
//! request never holds more than one network chunk and one write buffer in memory, and no
//! database connection or write lock is held while a slow client sends 20 MiB. Storing then
//! copies the spooled file into chunk rows one chunk at a time (or renames it into the
//! directory). Downloads read one chunk at a time the same way.

use std::fs::File;
use std::io::{Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};

use chrono::{DateTime, Utc};
use sha2::{Digest, Sha256};

use crate::config::Documents as DocumentSettings;
use crate::db::documents::{self as dq, Blob};
use crate::db::DbConn;
use crate::error::ApiError;

/// Bytes per chunk row, and the most a download reads at once.
pub const CHUNK_BYTES: usize = 1 << 20;

/// How many bytes of the head are kept to check the file's type.
const HEAD_BYTES: usize = crate::domain::document::MediaType::SNIFF_LEN;

/// A temporary file removed when dropped unless kept.
#[derive(Debug)]
struct TempPath(Option<PathBuf>);

impl TempPath {
    fn path(&self) -> &Path {
        self.0.as_deref().unwrap_or(Path::new(""))
    }
}

impl Drop for TempPath {
    fn drop(&mut self) {
        if let Some(p) = self.0.take() {
            let _ = std::fs::remove_file(p);
        }
    }
}

/// Where uploads are spooled: `documents.dir/tmp` (so the file can be renamed into place),
/// else the system's temporary directory.
fn spool_dir(settings: &DocumentSettings) -> PathBuf {
    if settings.dir.is_empty() {
        std::env::temp_dir()
    } else {
        Path::new(&settings.dir).join("tmp")
    }
}

fn io(e: std::io::Error) -> ApiError {
    ApiError::internal(format!("document storage: {e}"))
}

/// An upload being received.
#[derive(Debug)]
pub struct Spool {
    file: File,
    path: TempPath,
    hasher: Sha256,
    size: u64,
    head: Vec<u8>,
}

impl Spool {
    pub fn create(settings: &DocumentSettings) -> Result<Spool, ApiError> {
        let dir = spool_dir(settings);
        std::fs::create_dir_all(&dir).map_err(io)?;
        let path = dir.join(format!("landx-upload-{}", uuid::Uuid::new_v4().simple()));
        let file = File::options()
            .write(true)
            .read(true)
            .create_new(true)
            .open(&path)
            .map_err(io)?;
        Ok(Spool {
            file,
            path: TempPath(Some(path)),
            hasher: Sha256::new(),
            size: 0,
            head: Vec::with_capacity(HEAD_BYTES),
        })
    }

    /// Appends received bytes (hashing them).
    pub fn write(&mut self, bytes: &[u8]) -> Result<(), ApiError> {
        if self.head.len() < HEAD_BYTES {
            let take = (HEAD_BYTES - self.head.len()).min(bytes.len());
            self.head.extend_from_slice(&bytes[..take]);
        }
        self.hasher.update(bytes);
        self.size += bytes.len() as u64;
        self.file.write_all(bytes).map_err(io)
    }

    /// The first bytes received (up to what the type check needs).
    pub fn head(&self) -> &[u8] {
        &self.head
    }

    pub fn size(&self) -> u64 {
        self.size
    }

    /// Whether enough has arrived to check the type (or the body ended).
    pub fn head_complete(&self) -> bool {
        self.head.len() >= HEAD_BYTES
    }

    pub fn finish(mut self) -> Result<Spooled, ApiError> {
        self.file.flush().map_err(io)?;
        Ok(Spooled {
            sha256: hex::encode(self.hasher.finalize()),
            size: self.size,
            head: self.head,
            path: self.path,
        })
    }
}

/// A received upload: its temporary file, hash, size and first bytes.
#[derive(Debug)]
pub struct Spooled {
    path: TempPath,
    sha256: String,
    size: u64,
    head: Vec<u8>,
}

impl Spooled {
    /// Spools bytes already in memory (the demo seed's sample files).
    pub fn from_bytes(settings: &DocumentSettings, bytes: &[u8]) -> Result<Spooled, ApiError> {
        let mut s = Spool::create(settings)?;
        s.write(bytes)?;
        s.finish()
    }

    pub fn sha256(&self) -> &str {
        &self.sha256
    }

    pub fn size(&self) -> u64 {
        self.size
    }

    pub fn head(&self) -> &[u8] {
        &self.head
    }

    /// Up to `len` bytes from `offset` (empty at the end).
    pub fn read_at(&self, offset: u64, len: usize) -> Result<Vec<u8>, ApiError> {
        let mut f = File::open(self.path.path()).map_err(io)?;
        f.seek(SeekFrom::Start(offset)).map_err(io)?;
        let mut buf = vec![0u8; len];
        let n = read_full(&mut f, &mut buf).map_err(io)?;
        buf.truncate(n);
        Ok(buf)
    }
}

/// The file of a content in `documents.dir`: `<dir>/<first two hex>/<sha256>`.
fn blob_path(settings: &DocumentSettings, sha256: &str) -> PathBuf {
    Path::new(&settings.dir).join(&sha256[..2]).join(sha256)
}

/// With `documents.dir` set, moves the spooled file into place (if that content isn't there
/// already); whether the content is kept as a file.
pub fn place_file(settings: &DocumentSettings, s: &Spooled) -> Result<bool, ApiError> {
    if settings.dir.is_empty() {
        return Ok(false);
    }
    let target = blob_path(settings, &s.sha256);
    if let Some(parent) = target.parent() {
        std::fs::create_dir_all(parent).map_err(io)?;
    }
    File::open(s.path.path())
        .and_then(|f| f.sync_all())
        .map_err(io)?;
    // Same content, same name: replacing an existing file changes nothing, and heals one
    // that was damaged.
    std::fs::rename(s.path.path(), &target).map_err(io)?;
    Ok(true)
}

/// Makes sure the content is stored: nothing to do when its blob exists; else the blob row
/// and (database storage) its chunks, read from the spooled file one chunk at a time.
pub fn store_blob(
    conn: &mut DbConn,
    s: &Spooled,
    as_file: bool,
    now: DateTime<Utc>,
) -> Result<(), ApiError> {
    if dq::find_blob_locked(conn, &s.sha256)?.is_some() {
        return Ok(());
    }
    let blob = Blob {
        sha256: s.sha256.clone(),
        size_bytes: s.size as i64,
        chunk_bytes: if as_file { 0 } else { CHUNK_BYTES as i64 },
        created_at: now.naive_utc(),
    };
    if !dq::insert_blob(conn, &blob)? || as_file {
        return Ok(());
    }
    let mut file = File::open(s.path.path()).map_err(io)?;
    let mut buf = vec![0u8; CHUNK_BYTES];
    let mut seq = 0i64;
    loop {
        let n = read_full(&mut file, &mut buf).map_err(io)?;
        if n == 0 {
            break;
        }
        dq::insert_chunk(conn, &s.sha256, seq, &buf[..n])?;
        seq += 1;
    }
    Ok(())
}

/// Reads until `buf` is full or the file ends.
fn read_full(r: &mut impl Read, buf: &mut [u8]) -> std::io::Result<usize> {
    let mut n = 0;
    while n < buf.len() {
        match r.read(&mut buf[n..])? {
            0 => break,
            k => n += k,
        }
    }
    Ok(n)
}

/// Up to `len` (at most one chunk's worth) bytes of a blob from `offset`.
pub fn read_piece(
    settings: &DocumentSettings,
    conn: &mut DbConn,
    blob: &Blob,
    offset: u64,
    len: u64,
) -> Result<Vec<u8>, ApiError> {
    let len = len.min(CHUNK_BYTES as u64) as usize;
    if blob.chunk_bytes == 0 {
        let mut f = File::open(blob_path(settings, &blob.sha256)).map_err(io)?;
        f.seek(SeekFrom::Start(offset)).map_err(io)?;
        let mut buf = vec![0u8; len];
        let n = read_full(&mut f, &mut buf).map_err(io)?;
        buf.truncate(n);
        return Ok(buf);
    }
    let chunk = blob.chunk_bytes as u64;
    let seq = (offset / chunk) as i64;
    let within = (offset % chunk) as usize;
    let bytes = dq::read_chunk(conn, &blob.sha256, seq)?
        .ok_or_else(|| ApiError::internal(format!("blob {} lacks chunk {seq}", blob.sha256)))?;
    let end = (within + len).min(bytes.len());
    Ok(bytes
        .get(within..end)
        .map(<[u8]>::to_vec)
        .unwrap_or_default())
}

/// The SHA-256 and size of a blob's stored bytes as they are now (`None`: missing).
pub fn rehash(
    settings: &DocumentSettings,
    conn: &mut DbConn,
    blob: &Blob,
) -> Result<Option<(String, u64)>, ApiError> {
    let mut h = Sha256::new();
    let mut size = 0u64;
    if blob.chunk_bytes == 0 {
        let Ok(mut f) = File::open(blob_path(settings, &blob.sha256)) else {
            return Ok(None);
        };
        let mut buf = vec![0u8; CHUNK_BYTES];
        loop {
            let n = read_full(&mut f, &mut buf).map_err(io)?;
            if n == 0 {
                break;
            }
            h.update(&buf[..n]);
            size += n as u64;
        }
    } else {
        let mut seq = 0;
        while let Some(bytes) = dq::read_chunk(conn, &blob.sha256, seq)? {
            h.update(&bytes);
            size += bytes.len() as u64;
            seq += 1;
        }
        if seq == 0 && blob.size_bytes > 0 {
            return Ok(None);
        }
    }
    Ok(Some((hex::encode(h.finalize()), size)))
}
