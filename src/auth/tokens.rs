//! Access tokens (JWT, HS256 pinned) and opaque random tokens (refresh, e-mail links), which
//! are stored only as SHA-256 hashes.

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use chrono::{DateTime, Utc};
use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header, Validation};
use rand::RngCore;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use std::collections::HashMap;
use std::sync::{Mutex, MutexGuard};

#[derive(Debug, Serialize, Deserialize, Clone)]
pub struct Claims {
    pub sub: String,
    pub iss: String,
    pub aud: String,
    pub exp: i64,
    pub iat: i64,
    pub role: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub org: Option<String>,
    /// The account's token version when issued; a bump (password reset, disabling) kills it.
    pub ver: i64,
}

impl Claims {
    /// The claims of an access token for an account, valid for `ttl` from `now` (`iss` and
    /// `aud` are set by [`JwtKeys::issue`]).
    pub fn access(
        user_id: &str,
        role: crate::domain::roles::Role,
        org: Option<String>,
        token_version: i64,
        now: DateTime<Utc>,
        ttl: chrono::Duration,
    ) -> Claims {
        Claims {
            sub: user_id.into(),
            iss: String::new(),
            aud: String::new(),
            exp: (now + ttl).timestamp(),
            iat: now.timestamp(),
            role: role.as_str().to_string(),
            org,
            ver: token_version,
        }
    }
}

pub struct JwtKeys {
    encoding: EncodingKey,
    decoding: DecodingKey,
    issuer: String,
    audience: String,
    /// Tokens whose signature, issuer and audience checked out, with their claims: a client
    /// sends the same token with every request for its lifetime (15 minutes), and checking
    /// the signature again (base64, HMAC, JSON) was a sixth of a bid's own work on the server.
    /// Only the time-independent checks are kept: the expiry is compared with `now` on every
    /// use. Bounded: emptied when full.
    verified: Mutex<HashMap<String, Claims>>,
}

/// The most tokens [`JwtKeys`] remembers as verified.
const VERIFIED_TOKENS: usize = 4096;

impl JwtKeys {
    pub fn new(secret: &[u8], issuer: &str, audience: &str) -> Self {
        JwtKeys {
            encoding: EncodingKey::from_secret(secret),
            decoding: DecodingKey::from_secret(secret),
            issuer: issuer.into(),
            audience: audience.into(),
            verified: Mutex::default(),
        }
    }

    pub fn issue(&self, claims: &mut Claims) -> String {
        claims.iss = self.issuer.clone();
        claims.aud = self.audience.clone();
        jsonwebtoken::encode(&Header::new(Algorithm::HS256), claims, &self.encoding)
            .expect("HS256 encoding cannot fail")
    }

    /// Decodes and checks signature (HS256 only), `iss`, `aud` and `exp` against `now` (the
    /// injected clock, not the library's own: with the test clock `now` is the moved time).
    pub fn verify(&self, token: &str, now: DateTime<Utc>) -> Option<Claims> {
        let known = self.verified().get(token).cloned();
        let claims = match known {
            Some(claims) => claims,
            None => {
                let claims = self.decode(token)?;
                let mut verified = self.verified();
                if verified.len() >= VERIFIED_TOKENS {
                    verified.clear();
                }
                verified.insert(token.to_string(), claims.clone());
                claims
            }
        };
        (claims.exp > now.timestamp()).then_some(claims)
    }

    fn verified(&self) -> MutexGuard<'_, HashMap<String, Claims>> {
        self.verified.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// The claims of `token` if its signature (HS256 only), `iss` and `aud` check out; the
    /// expiry is [`verify`](Self::verify)'s.
    fn decode(&self, token: &str) -> Option<Claims> {
        let mut v = Validation::new(Algorithm::HS256);
        v.set_issuer(&[&self.issuer]);
        v.set_audience(&[&self.audience]);
        v.set_required_spec_claims(&["exp", "iss", "aud", "sub"]);
        v.validate_exp = false;
        Some(
            jsonwebtoken::decode::<Claims>(token, &self.decoding, &v)
                .ok()?
                .claims,
        )
    }
}

/// 32 random bytes, base64url without padding.
pub fn random_token() -> String {
    let mut b = [0u8; 32];
    rand::thread_rng().fill_bytes(&mut b);
    URL_SAFE_NO_PAD.encode(b)
}

pub fn sha256_hex(s: &str) -> String {
    hex::encode(Sha256::digest(s.as_bytes()))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn claims(exp: i64) -> Claims {
        Claims {
            sub: "u1".into(),
            iss: String::new(),
            aud: String::new(),
            exp,
            iat: 0,
            role: "admin".into(),
            org: None,
            ver: 0,
        }
    }

    #[test]
    fn round_trip_and_expiry() {
        let k = JwtKeys::new(b"0123456789abcdef0123456789abcdef", "landx", "landx-api");
        let now = Utc::now();
        let t = k.issue(&mut claims(now.timestamp() + 60));
        assert_eq!(k.verify(&t, now).unwrap().sub, "u1");
        assert!(k.verify(&t, now + chrono::Duration::seconds(61)).is_none());
    }

    #[test]
    fn expiry_follows_the_app_clock_not_the_system_time() {
        // The test clock (`clock.travel`) may be years ahead of, or behind, the system time:
        // only the `now` given decides, never the library's own reading of the system clock.
        let k = JwtKeys::new(b"0123456789abcdef0123456789abcdef", "landx", "landx-api");
        let past = Utc::now() - chrono::Duration::days(400);
        let t = k.issue(&mut claims(past.timestamp() + 60));
        assert!(
            k.verify(&t, past).is_some(),
            "expired by the system time only"
        );
        let future = Utc::now() + chrono::Duration::days(400);
        let t = k.issue(&mut claims(Utc::now().timestamp() + 60));
        assert!(
            k.verify(&t, future).is_none(),
            "valid by the system time only"
        );
    }

    #[test]
    fn wrong_audience_or_key_is_refused() {
        let k = JwtKeys::new(b"0123456789abcdef0123456789abcdef", "landx", "landx-api");
        let other = JwtKeys::new(b"0123456789abcdef0123456789abcdef", "landx", "other");
        let now = Utc::now();
        let t = other.issue(&mut claims(now.timestamp() + 60));
        assert!(k.verify(&t, now).is_none());
        let forged = JwtKeys::new(b"another-secret-another-secret-xx", "landx", "landx-api")
            .issue(&mut claims(now.timestamp() + 60));
        assert!(k.verify(&forged, now).is_none());
    }

    #[test]
    fn alg_none_is_refused() {
        let k = JwtKeys::new(b"0123456789abcdef0123456789abcdef", "landx", "landx-api");
        let now = Utc::now();
        let header = URL_SAFE_NO_PAD.encode(br#"{"alg":"none","typ":"JWT"}"#);
        let mut c = claims(now.timestamp() + 60);
        c.iss = "landx".into();
        c.aud = "landx-api".into();
        let body = URL_SAFE_NO_PAD.encode(serde_json::to_vec(&c).unwrap());
        assert!(k.verify(&format!("{header}.{body}."), now).is_none());
    }

    #[test]
    fn a_token_verified_before_still_expires_and_its_forgeries_are_still_refused() {
        let k = JwtKeys::new(b"0123456789abcdef0123456789abcdef", "landx", "landx-api");
        let now = Utc::now();
        let mut c = claims(now.timestamp() + 60);
        let t = k.issue(&mut c);
        assert!(k.verify(&t, now).is_some());
        assert!(k.verify(&t, now).is_some(), "the second use, remembered");
        assert!(k.verify(&t, now + chrono::Duration::seconds(60)).is_none());
        assert!(k.verify(&t, now).is_some(), "the clock moved back");
        // The same claims under another key, and the token with a byte of its signature changed.
        let other = JwtKeys::new(b"another-secret-another-secret-xx", "landx", "landx-api");
        assert!(k.verify(&other.issue(&mut c), now).is_none());
        let mut tampered = t.clone().into_bytes();
        let i = tampered.len() - 5;
        tampered[i] = if tampered[i] == b'A' { b'B' } else { b'A' };
        let tampered = String::from_utf8(tampered).unwrap();
        assert!(k.verify(&tampered, now).is_none());
    }

    #[test]
    fn the_verified_tokens_stay_bounded() {
        let k = JwtKeys::new(b"0123456789abcdef0123456789abcdef", "landx", "landx-api");
        let now = Utc::now();
        for i in 0..VERIFIED_TOKENS + 10 {
            let mut c = claims(now.timestamp() + 60);
            c.sub = format!("u{i}");
            assert!(k.verify(&k.issue(&mut c), now).is_some());
        }
        assert!(k.verified().len() <= VERIFIED_TOKENS);
    }

    #[test]
    fn random_tokens_are_unique_and_hashed() {
        let a = random_token();
        assert_eq!(a.len(), 43);
        assert_ne!(a, random_token());
        assert_eq!(sha256_hex("abc").len(), 64);
    }
}
