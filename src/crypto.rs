//! Personal data at rest (ID numbers, phones): XChaCha20-Poly1305 with a random nonce, stored
//! as `<key id>:<base64(nonce || ciphertext)>`, and a keyed hash (HMAC-SHA-256) of normalised
//! ID numbers so the database can find equal numbers without decrypting them.
//!
//! Keys: the root secret `crypto.key` (its own secret, never the JWT secret). The encryption
//! key of id `k` is derived from the root and `k`, so rotating the encryption key is choosing
//! a new `crypto.key_id`; old ciphertexts name the id that wrote them and still decrypt. A
//! replaced root stays usable for its ids under `crypto.retired_keys`. The hashing key is
//! derived from the root alone and does not rotate with the key id (replacing the root means
//! re-hashing every row: `landx crypto rehash`).

use std::collections::BTreeMap;
use std::sync::Arc;

use base64::engine::general_purpose::STANDARD;
use base64::Engine;
use chacha20poly1305::aead::{Aead, AeadCore, KeyInit, OsRng};
use chacha20poly1305::{XChaCha20Poly1305, XNonce};
use hmac::{Hmac, Mac};
use sha2::{Digest, Sha256};

type HmacSha256 = Hmac<Sha256>;

fn derive(label: &str, parts: &[&[u8]]) -> [u8; 32] {
    let mut h = Sha256::new();
    h.update(label.as_bytes());
    for p in parts {
        h.update((p.len() as u64).to_be_bytes());
        h.update(p);
    }
    h.finalize().into()
}

/// HMAC-SHA-256 of `message` under `key`, hex.
pub fn hmac_hex(key: &[u8], message: &[u8]) -> String {
    let mut mac = <HmacSha256 as Mac>::new_from_slice(key).expect("HMAC takes any key length");
    mac.update(message);
    hex::encode(mac.finalize().into_bytes())
}

struct Keyring {
    current_id: String,
    current: [u8; 32],
    /// Root secrets by key id: the current root (for any id it wrote) and retired roots.
    roots: BTreeMap<String, Vec<u8>>,
    root: Vec<u8>,
    hash_key: [u8; 32],
    /// The key of the first release (derived from the JWT secret or `auth.data_key`): only
    /// decrypts ciphertexts written without a key id.
    legacy: Option<[u8; 32]>,
}

/// The first release's key, exactly as it derived it: from `auth.data_key` when configured,
/// else from the JWT secret.
pub fn legacy_key(configured: &str, jwt_secret: &[u8]) -> [u8; 32] {
    let mut h = Sha256::new();
    if configured.is_empty() {
        h.update(b"landx:data-key:v1:");
        h.update(jwt_secret);
    } else {
        h.update(b"landx:data-key:configured:v1:");
        h.update(configured.as_bytes());
    }
    h.finalize().into()
}

/// The keys for personal data. Cheap to clone.
#[derive(Clone)]
pub struct DataKey(Arc<Keyring>);

impl DataKey {
    /// `root`: the `crypto.key` secret; `key_id`: the current id; `retired`: earlier roots by
    /// the ids they wrote; `legacy`: the first release's key, if any data may predate key ids
    /// (see [`legacy_key`]).
    pub fn new(
        root: &[u8],
        key_id: &str,
        retired: &BTreeMap<String, Vec<u8>>,
        legacy: Option<[u8; 32]>,
    ) -> Self {
        DataKey(Arc::new(Keyring {
            current_id: key_id.to_string(),
            current: derive("landx:encrypt:v2", &[key_id.as_bytes(), root]),
            roots: retired.clone(),
            root: root.to_vec(),
            hash_key: derive("landx:id-hash:v1", &[root]),
            legacy,
        }))
    }

    /// A random key for a process that has none configured (tests): nothing it encrypts
    /// survives the process.
    pub fn ephemeral() -> Self {
        let root: [u8; 32] = XChaCha20Poly1305::generate_key(&mut OsRng).into();
        Self::new(&root, "k1", &BTreeMap::new(), None)
    }

    /// The same keyring (a clone of this key), not merely equal key material.
    pub fn same_as(&self, other: &DataKey) -> bool {
        Arc::ptr_eq(&self.0, &other.0)
    }

    pub fn key_id(&self) -> &str {
        &self.0.current_id
    }

    fn key_for(&self, id: &str) -> [u8; 32] {
        if id == self.0.current_id {
            return self.0.current;
        }
        let root = self.0.roots.get(id).map_or(&self.0.root, |r| r);
        derive("landx:encrypt:v2", &[id.as_bytes(), root])
    }

    pub fn encrypt(&self, plaintext: &str) -> String {
        let cipher = XChaCha20Poly1305::new((&self.0.current).into());
        let nonce = XChaCha20Poly1305::generate_nonce(&mut OsRng);
        let ct = cipher
            .encrypt(&nonce, plaintext.as_bytes())
            .expect("encryption of a short string cannot fail");
        let mut out = nonce.to_vec();
        out.extend(ct);
        format!("{}:{}", self.0.current_id, STANDARD.encode(out))
    }

    pub fn decrypt(&self, stored: &str) -> Option<String> {
        let (key, b64) = match stored.split_once(':') {
            Some((id, b64)) => (self.key_for(id), b64),
            None => (self.0.legacy?, stored),
        };
        let raw = STANDARD.decode(b64).ok()?;
        if raw.len() < 24 {
            return None;
        }
        let (nonce, ct) = raw.split_at(24);
        let cipher = XChaCha20Poly1305::new((&key).into());
        let pt = cipher.decrypt(XNonce::from_slice(nonce), ct).ok()?;
        String::from_utf8(pt).ok()
    }

    /// Written by a key other than the current one (or before key ids): re-encrypt on rotation.
    pub fn is_stale(&self, stored: &str) -> bool {
        stored
            .split_once(':')
            .is_none_or(|(id, _)| id != self.0.current_id)
    }

    /// The uniqueness hash of an ID number: HMAC over the number upper-cased with white
    /// space removed.
    pub fn id_hash(&self, id_number: &str) -> String {
        let normalised: String = id_number
            .chars()
            .filter(|c| !c.is_whitespace())
            .flat_map(char::to_uppercase)
            .collect();
        hmac_hex(&self.0.hash_key, normalised.as_bytes())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(root: &str, id: &str) -> DataKey {
        DataKey::new(root.as_bytes(), id, &BTreeMap::new(), None)
    }

    #[test]
    fn round_trip_tagged_with_the_key_id_and_no_plaintext() {
        let k = key("root-secret-root-secret-root-secret!", "k1");
        let e = k.encrypt("310101199001011234");
        assert!(e.starts_with("k1:"));
        assert!(!e.contains("310101199001011234"));
        assert_ne!(e, k.encrypt("310101199001011234"), "random nonce");
        assert_eq!(k.decrypt(&e).as_deref(), Some("310101199001011234"));
        assert_eq!(
            key("another-root-another-root-another", "k1").decrypt(&e),
            None
        );
    }

    #[test]
    fn a_new_key_id_rotates_encryption_but_old_ciphertexts_still_decrypt() {
        let root = "root-secret-root-secret-root-secret!";
        let old = key(root, "k1").encrypt("13800138000");
        let k2 = key(root, "k2");
        let new = k2.encrypt("13800138000");
        assert!(new.starts_with("k2:"));
        assert_eq!(k2.decrypt(&old).as_deref(), Some("13800138000"));
        assert!(k2.is_stale(&old) && !k2.is_stale(&new));
        // The ID hash does not rotate with the key id.
        assert_eq!(key(root, "k1").id_hash("x"), k2.id_hash("x"));
    }

    #[test]
    fn a_replaced_root_decrypts_through_retired_keys() {
        let old = key("old-root-old-root-old-root-old-root", "k1").encrypt("secret");
        let mut retired = BTreeMap::new();
        retired.insert(
            "k1".to_string(),
            b"old-root-old-root-old-root-old-root".to_vec(),
        );
        let k = DataKey::new(b"new-root-new-root-new-root-new-root", "k2", &retired, None);
        assert_eq!(k.decrypt(&old).as_deref(), Some("secret"));
    }

    #[test]
    fn untagged_ciphertexts_of_the_first_release_decrypt_with_the_legacy_key() {
        // What the first release wrote: base64(nonce || ct) under SHA-256("landx:data-key:v1:" || jwt).
        let first_release_key: [u8; 32] = {
            let mut h = Sha256::new();
            h.update(b"landx:data-key:v1:");
            h.update(b"jwt-secret");
            h.finalize().into()
        };
        let cipher = XChaCha20Poly1305::new((&first_release_key).into());
        let nonce = XChaCha20Poly1305::generate_nonce(&mut OsRng);
        let mut raw = nonce.to_vec();
        raw.extend(
            cipher
                .encrypt(&nonce, b"310101199001011234".as_ref())
                .unwrap(),
        );
        let stored = STANDARD.encode(raw);
        let k = DataKey::new(
            b"root-root-root-root-root-root-root",
            "k1",
            &BTreeMap::new(),
            Some(legacy_key("", b"jwt-secret")),
        );
        assert_eq!(k.decrypt(&stored).as_deref(), Some("310101199001011234"));
        assert_eq!(
            key("root-root-root-root-root-root-root", "k1").decrypt(&stored),
            None
        );
    }

    #[test]
    fn id_hash_is_an_hmac_of_the_normalised_number() {
        let k = key("root", "k1");
        assert_eq!(
            k.id_hash("91310116MA1J8X2Y3K"),
            k.id_hash(" 91310116ma1j8x2y3k ")
        );
        assert_ne!(
            k.id_hash("91310116MA1J8X2Y3K"),
            key("root2", "k1").id_hash("91310116MA1J8X2Y3K")
        );
        // Known answer: HMAC-SHA-256 with key SHA-256(label || len || root) (RFC 4231 shape).
        assert_eq!(
            hmac_hex(b"key", b"The quick brown fox jumps over the lazy dog"),
            "f7bc83f430538424b13298e6aa6fb143ef4d59a14946175997479dbc2d1a3cd8"
        );
    }
}
