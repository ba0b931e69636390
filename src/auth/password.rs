//! Password hashing with argon2id (OWASP minimum: 19 MiB, 2 passes, 1 lane), PHC strings.
//! Callers run these on the blocking pool (`web::block`): each call costs tens of ms.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Condvar, Mutex, OnceLock};

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

/// The gate every argon2 run of a request passes (each takes 19 MiB and a core for tens of
/// ms): at most `permits` at once, at most `queue` more waiting; beyond that the caller is
/// told to come back later ([`Busy`]) instead of piling up memory and threads.
pub struct Argon2Gate {
    permits: usize,
    queue: usize,
    /// (running, waiting)
    state: Mutex<(usize, usize)>,
    freed: Condvar,
}

/// The gate's queue is full.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Busy;

impl Argon2Gate {
    /// `permits` 0 = one per core (`std::thread::available_parallelism`).
    pub fn new(permits: usize, queue: usize) -> Self {
        let permits = if permits == 0 {
            std::thread::available_parallelism().map_or(1, |n| n.get())
        } else {
            permits
        };
        Argon2Gate {
            permits,
            queue,
            state: Mutex::new((0, 0)),
            freed: Condvar::new(),
        }
    }

    /// Runs `f` once a permit is free (blocking: callers are on the blocking pool).
    pub fn run<T>(&self, f: impl FnOnce() -> T) -> Result<T, Busy> {
        {
            let mut st = self.state.lock().expect("gate poisoned");
            if st.0 >= self.permits {
                if st.1 >= self.queue {
                    return Err(Busy);
                }
                st.1 += 1;
                while st.0 >= self.permits {
                    st = self.freed.wait(st).expect("gate poisoned");
                }
                st.1 -= 1;
            }
            st.0 += 1;
        }
        struct Release<'a>(&'a Argon2Gate);
        impl Drop for Release<'_> {
            fn drop(&mut self) {
                let mut st = self.0.state.lock().expect("gate poisoned");
                st.0 -= 1;
                self.0.freed.notify_one();
            }
        }
        let _release = Release(self);
        Ok(f())
    }

    pub fn hash(&self, password: &str) -> Result<String, Busy> {
        self.run(|| hash_password(password))
    }

    pub fn verify(&self, password: &str, phc: Option<&str>) -> Result<bool, Busy> {
        self.run(|| verify_password(password, phc))
    }
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
    fn the_gate_refuses_beyond_its_queue() {
        let gate = Argon2Gate::new(1, 0);
        let inner = gate.run(|| gate.run(|| ()));
        assert_eq!(inner, Ok(Err(Busy)));
        assert_eq!(gate.run(|| 7), Ok(7), "permit released");
        let gate = std::sync::Arc::new(Argon2Gate::new(1, 4));
        let handles: Vec<_> = (0..4)
            .map(|_| {
                let g = gate.clone();
                std::thread::spawn(move || {
                    g.run(|| std::thread::sleep(std::time::Duration::from_millis(5)))
                })
            })
            .collect();
        for h in handles {
            assert_eq!(h.join().unwrap(), Ok(()));
        }
    }

    #[test]
    fn password_rule() {
        assert!(check_password_rule("short", "a@b.cn").is_err());
        assert!(check_password_rule(&"x".repeat(129), "a@b.cn").is_err());
        assert!(check_password_rule("zhang.san@example.cn", "zhang.san@example.cn").is_err());
        assert!(check_password_rule("土地流转密码一二三四", "a@b.cn").is_ok());
    }
}
