//! What every handler shares.

use std::sync::Arc;

use crate::auth::password::Argon2Gate;
use crate::auth::ratelimit::LimitKeys;
use crate::auth::tokens::JwtKeys;
use crate::clock::{Clock, TravelClock};
use crate::config::Settings;
use crate::crypto::DataKey;
use crate::db::Pool;
use crate::live_feed::Hub;
use crate::metrics::Metrics;
use secrecy::ExposeSecret;

#[derive(Clone)]
pub struct AppState {
    pub settings: Arc<Settings>,
    pub pool: Pool,
    /// The read replica (`database.replica_url`), for anonymous public reads.
    pub replica: Option<Arc<crate::db::replica::Replica>>,
    /// The one clock of the application: `clock.travel` wraps the given one in a
    /// [`TravelClock`] (its offset loaded by `crate::app::clock::refresh`).
    pub clock: Arc<dyn Clock>,
    pub jwt: Arc<JwtKeys>,
    pub metrics: Arc<Metrics>,
    pub data_key: DataKey,
    /// Hashes the keys of the auth routes' limits (per client, failed logins per account and
    /// client), which are counted in the database (`crate::app::limits`) for every instance.
    pub limit_keys: LimitKeys,
    /// Bounds the argon2 runs of requests.
    pub argon2: Arc<Argon2Gate>,
    /// The audit trail's keys (`[audit]`), installed for `crate::audit` to sign with.
    pub audit_keys: Option<crate::audit::AuditKeys>,
    /// Live feeds open now, per client IP.
    pub feeds: Arc<std::sync::Mutex<std::collections::HashMap<String, usize>>>,
    /// The live feed's pollers, one per watched listing, and their watchers.
    pub live_feed: Arc<Hub>,
}

impl AppState {
    pub fn new(settings: Settings, pool: Pool, clock: Arc<dyn Clock>, jwt_secret: &[u8]) -> Self {
        let data_key = data_key(&settings, jwt_secret);
        crate::notify::install_key(data_key.clone());
        let audit_keys = crate::audit::AuditKeys::from_settings(&settings.audit);
        crate::audit::install_keys(audit_keys.clone());
        let jwt = JwtKeys::new(jwt_secret, &settings.auth.issuer, &settings.auth.audience);
        let argon2 = Arc::new(Argon2Gate::new(
            settings.auth.argon2_concurrency,
            settings.auth.argon2_queue,
        ));
        let clock: Arc<dyn Clock> = if settings.clock.travel {
            Arc::new(TravelClock::new(clock))
        } else {
            clock
        };
        // `Settings::validate` has checked the URL; a settings value built without it that
        // names a bad replica URL leaves the replica out rather than failing every read.
        let replica = crate::db::connect_replica(&settings).unwrap_or_else(|e| {
            tracing::error!(error = %e, "read replica left out");
            None
        });
        let settings = Arc::new(settings);
        let metrics = Arc::new(Metrics::default());
        let live_feed = Arc::new(Hub::new(
            pool.clone(),
            clock.clone(),
            settings.clone(),
            data_key.clone(),
            metrics.clone(),
        ));
        AppState {
            settings,
            pool,
            replica,
            clock,
            jwt: Arc::new(jwt),
            metrics,
            data_key,
            limit_keys: LimitKeys::new(jwt_secret),
            argon2,
            audit_keys,
            feeds: Arc::default(),
            live_feed,
        }
    }
}

/// The personal-data keys of `settings`: `crypto.key` (with its retired roots), plus the first
/// release's key material so data written before key ids still decrypts. Without a
/// configured key (tests; `serve` always supplies one) the key is random for this process.
pub fn data_key(settings: &Settings, jwt_secret: &[u8]) -> DataKey {
    let root = settings.crypto.key.expose_secret();
    if root.is_empty() {
        return DataKey::ephemeral();
    }
    let retired = settings
        .crypto
        .retired_keys
        .iter()
        .map(|(id, k)| (id.clone(), k.expose_secret().as_bytes().to_vec()))
        .collect();
    let legacy = crate::crypto::legacy_key(settings.auth.data_key.expose_secret(), jwt_secret);
    DataKey::new(
        root.as_bytes(),
        &settings.crypto.key_id,
        &retired,
        Some(legacy),
    )
}

impl AppState {
    /// The use-case context of a request by `caller` (`None`: anonymous or the system), with
    /// the clock read now.
    pub fn ctx(&self, caller: Option<crate::domain::access::Caller>) -> crate::app::Ctx {
        crate::app::Ctx::new(
            caller,
            self.clock.clone(),
            self.settings.clone(),
            self.data_key.clone(),
        )
    }
}

impl AppState {
    /// Runs a public read. An anonymous caller's read may be served by the read replica
    /// (`database.replica_url`); a signed-in caller, who may have just acted, reads the
    /// primary, so nobody misses their own bid or change.
    pub async fn public_read<T, F>(
        &self,
        anonymous: bool,
        f: F,
    ) -> Result<T, crate::error::ApiError>
    where
        F: Fn(&mut crate::db::DbConn) -> Result<T, crate::error::ApiError> + Send + Sync + 'static,
        T: Send + 'static,
    {
        let replica = self.replica.as_ref().filter(|_| anonymous);
        crate::db::replica::run_read(&self.pool, replica, f).await
    }
}
