//! Password hashing with argon2id (OWASP minimum: 19 MiB, 2 passes, 1 lane), PHC strings.
//! Callers run these on the blocking pool (`web::block`): each call costs tens of ms.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::OnceLock;

use argon2::password_hash::{
    rand_core::OsRng, PasswordHash, PasswordHasher, PasswordVerifier, SaltString,
};
use argon2::{Algorithm, Argon2, Params, Version};

/// Counts verifications performed, so tests can assert that an unknown e-mail costs a real
/// verification too (the answer's timing must not reveal which accounts exist).
pub static VERIFICATIONS: AtomicU64 = AtomicU64::new(0);

fn hasher() -> Argon2<'static> {
    let params = Params::new(19 * 1024, 2, 1, None).expect("valid argon2 params");
    Argon2::new(Algorithm::Argon2id, Version::V0x13, params)
}

pub fn hash_password(password: &str) -> String {
    let salt = SaltString::generate(&mut OsRng);
    hasher()
        .hash_password(password.as_bytes(), &salt)
        .expect("argon2 hashing cannot fail with valid params")
        .to_string()
}

/// Verifies `password` against a PHC string. `None` (unknown account or no password set yet)
/// verifies against a fixed dummy hash so the work done is the same, and answers false.
pub fn verify_password(password: &str, phc: Option<&str>) -> bool {
    static DUMMY: OnceLock<String> = OnceLock::new();
    VERIFICATIONS.fetch_add(1, Ordering::Relaxed);
    let dummy = DUMMY.get_or_init(|| hash_password("landx-dummy-password-for-timing"));
    let (target, real) = match phc {
        Some(p) => (p, true),
        None => (dummy.as_str(), false),
    };
    let ok = PasswordHash::new(target)
        .map(|parsed| {
            hasher()
                .verify_password(password.as_bytes(), &parsed)
                .is_ok()
        })
        .unwrap_or(false);
    ok && real
}

/// Password rule of API.md: 10–128 characters, not equal to the e-mail.
pub fn check_password_rule(password: &str, email: &str) -> Result<(), String> {
    let n = password.chars().count();
    if !(10..=128).contains(&n) {
        return Err("must be 10 to 128 characters".into());
    }
    if password.trim().eq_ignore_ascii_case(email.trim()) {
        return Err("must not be the e-mail address".into());
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hash_and_verify() {
        let h = hash_password("correct horse battery");
        assert!(h.starts_with("$argon2id$v=19$m=19456,t=2,p=1$"));
        assert!(verify_password("correct horse battery", Some(&h)));
        assert!(!verify_password("wrong password!!", Some(&h)));
        assert!(!verify_password("correct horse battery", None));
    }

    #[test]
    fn password_rule() {
        assert!(check_password_rule("short", "a@b.cn").is_err());
        assert!(check_password_rule(&"x".repeat(129), "a@b.cn").is_err());
        assert!(check_password_rule("zhang.san@example.cn", "zhang.san@example.cn").is_err());
        assert!(check_password_rule("土地流转密码一二三四", "a@b.cn").is_ok());
    }
}
