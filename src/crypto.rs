//! Encryption of personal data at rest (ID numbers): XChaCha20-Poly1305 with a random nonce,
//! stored as base64 `nonce || ciphertext`.

use base64::engine::general_purpose::STANDARD;
use base64::Engine;
use chacha20poly1305::aead::{Aead, AeadCore, KeyInit, OsRng};
use chacha20poly1305::{XChaCha20Poly1305, XNonce};
use sha2::{Digest, Sha256};

#[derive(Clone)]
pub struct DataKey([u8; 32]);

impl DataKey {
    /// From the configured data key, or derived from the JWT secret (domain-separated).
    pub fn new(configured: &str, jwt_secret: &[u8]) -> Self {
        let mut h = Sha256::new();
        if configured.is_empty() {
            h.update(b"landx:data-key:v1:");
            h.update(jwt_secret);
        } else {
            h.update(b"landx:data-key:configured:v1:");
            h.update(configured.as_bytes());
        }
        DataKey(h.finalize().into())
    }

    pub fn encrypt(&self, plaintext: &str) -> String {
        let cipher = XChaCha20Poly1305::new((&self.0).into());
        let nonce = XChaCha20Poly1305::generate_nonce(&mut OsRng);
        let ct = cipher
            .encrypt(&nonce, plaintext.as_bytes())
            .expect("encryption of a short string cannot fail");
        let mut out = nonce.to_vec();
        out.extend(ct);
        STANDARD.encode(out)
    }

    pub fn decrypt(&self, stored: &str) -> Option<String> {
        let raw = STANDARD.decode(stored).ok()?;
        if raw.len() < 24 {
            return None;
        }
        let (nonce, ct) = raw.split_at(24);
        let cipher = XChaCha20Poly1305::new((&self.0).into());
        let pt = cipher.decrypt(XNonce::from_slice(nonce), ct).ok()?;
        String::from_utf8(pt).ok()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip_and_no_plaintext() {
        let k = DataKey::new("", b"secret");
        let e = k.encrypt("310101199001011234");
        assert!(!e.contains("310101199001011234"));
        assert_ne!(e, k.encrypt("310101199001011234"), "random nonce");
        assert_eq!(k.decrypt(&e).as_deref(), Some("310101199001011234"));
        assert_eq!(DataKey::new("", b"other").decrypt(&e), None);
    }
}
