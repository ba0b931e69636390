//! Typed settings: built-in defaults < `config/default.toml` < `config/<LANDX_ENV>.toml`
//! < environment variables `LANDX_<SECTION>__<KEY>`.
//!
//! Every *(config)* number of DOMAIN.md lives in [`Rules`] under the name used there.

use std::path::{Path, PathBuf};

use secrecy::{ExposeSecret, SecretString};
use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(default)]
pub struct Settings {
    /// `development` (default), `test` or `production`.
    pub env: String,
    pub server: Server,
    pub database: Database,
    pub auth: Auth,
    pub mail: Mail,
    pub jobs: Jobs,
    pub log: Log,
    pub rules: Rules,
    pub crypto: Crypto,
    pub audit: Audit,
    pub clock: ClockSettings,
    pub documents: Documents,
}

/// Uploaded documents (`[documents]`): scans filed with listings, registrations, contracts
/// and claims.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(default)]
pub struct Documents {
    /// Largest accepted upload, bytes (a larger `Content-Length` is refused before the body
    /// is read; a body that grows past it while streaming is refused there).
    pub max_bytes: u64,
    /// Empty: contents are kept in the database (content-addressed chunks). Otherwise a
    /// directory (created if missing) holding one file per distinct content, named by its
    /// SHA-256; metadata stays in the database.
    pub dir: String,
    /// Certifying a contract needs a `signed_scan` document.
    pub require_signed_scan: bool,
}

impl Default for Documents {
    fn default() -> Self {
        Documents {
            max_bytes: 20 * 1024 * 1024,
            dir: String::new(),
            require_signed_scan: false,
        }
    }
}

/// The test clock (`[clock]`): admin routes that move the server's time forward. Never in
/// production.
#[derive(Debug, Clone, Default, Deserialize, Serialize)]
#[serde(default)]
pub struct ClockSettings {
    /// Serve `GET /api/v1/admin/clock` and `POST /api/v1/admin/clock/advance`; the offset is
    /// stored in the database. Refused when `LANDX_ENV=production`.
    pub travel: bool,
}

/// Personal data at rest (ID numbers, phones): XChaCha20-Poly1305 under keys derived from
/// `key`, each ciphertext tagged with the key id that wrote it, and an HMAC of normalised ID
/// numbers for uniqueness. Its own secret, never derived from the JWT secret.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(default)]
pub struct Crypto {
    /// Root secret (≥ 32 bytes; required in production). Empty outside production: generated
    /// once and kept in the data directory (`crypto_key`).
    #[serde(serialize_with = "redact")]
    pub key: SecretString,
    /// Id of the encryption key new ciphertexts use (`[A-Za-z0-9_-]{1,16}`). Rotating the
    /// encryption key = a new id: old ciphertexts still decrypt by the id stored with them.
    pub key_id: String,
    /// Earlier root secrets by key id, to decrypt what they wrote after `key` was replaced.
    #[serde(serialize_with = "redact_map")]
    pub retired_keys: std::collections::BTreeMap<String, SecretString>,
}

/// The audit trail's HMAC key (kept outside the database, so an edit that recomputes the
/// chain without it is detected).
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(default)]
pub struct Audit {
    /// ≥ 32 bytes; required in production. Empty outside production: generated once and kept
    /// in the data directory (`audit_key`).
    #[serde(serialize_with = "redact")]
    pub key: SecretString,
    /// Stored with each record, so the key can rotate.
    pub key_id: String,
    /// Earlier keys by id, to verify records they signed.
    #[serde(serialize_with = "redact_map")]
    pub retired_keys: std::collections::BTreeMap<String, SecretString>,
}

impl Default for Crypto {
    fn default() -> Self {
        Crypto {
            key: SecretString::from(String::new()),
            key_id: "k1".into(),
            retired_keys: Default::default(),
        }
    }
}

impl Default for Audit {
    fn default() -> Self {
        Audit {
            key: SecretString::from(String::new()),
            key_id: "a1".into(),
            retired_keys: Default::default(),
        }
    }
}

fn redact_map<S: serde::Serializer>(
    keys: &std::collections::BTreeMap<String, SecretString>,
    s: S,
) -> Result<S::Ok, S::Error> {
    use serde::ser::SerializeMap;
    let mut m = s.serialize_map(Some(keys.len()))?;
    for k in keys.keys() {
        m.serialize_entry(k, "[redacted]")?;
    }
    m.end()
}

/// A key id: `[A-Za-z0-9_-]{1,16}` (it is stored before a `:` in ciphertexts).
pub fn valid_key_id(id: &str) -> bool {
    (1..=16).contains(&id.len())
        && id
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-')
}

#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(default)]
pub struct Server {
    pub host: String,
    pub port: u16,
    /// Base of links in e-mails, e.g. `https://land.example.cn`.
    pub public_url: String,
    /// Worker threads; 0 = one per core.
    pub workers: usize,
    /// Seconds in-flight requests get to finish on shutdown.
    pub shutdown_timeout_secs: u64,
    /// Peers whose `X-Forwarded-For` is believed (exact IP addresses).
    pub trusted_proxies: Vec<String>,
    /// Live feeds (SSE) open at once from one client IP; more → 429 `rate_limited`.
    pub feeds_per_client: usize,
    /// Live feeds open at once in total; more → 503 `unavailable`.
    pub feeds_total: usize,
    /// Seconds after which the server ends a live feed (clients reconnect with
    /// `Last-Event-ID`).
    pub feed_max_lifetime_secs: u64,
}

#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(default)]
pub struct Database {
    /// `sqlite://<path>` (relative to the working directory unless it starts with `/`)
    /// or `postgres://...`.
    pub url: String,
    pub pool_size: u32,
    /// How long a request waits for a pooled connection before answering 503.
    pub pool_timeout_ms: u64,
    /// Apply pending migrations when `serve` starts.
    pub migrate_on_start: bool,
    /// SQLite `busy_timeout` in milliseconds.
    pub sqlite_busy_timeout_ms: u64,
    /// SQLite `synchronous` level: `FULL` (default) or `NORMAL`, `OFF`, `EXTRA`.
    pub sqlite_synchronous: String,
    /// Optional read replica (a PostgreSQL hot standby; empty = none): anonymous public reads
    /// (search, listing pages, bid history, open data, statistics) go there; every action and
    /// every read by a signed-in caller stays on `url`.
    pub replica_url: String,
    /// After a replica read fails for want of the replica, reads skip it for this long.
    pub replica_retry_ms: u64,
}

#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(default)]
pub struct Auth {
    /// HS256 secret (≥ 32 bytes in production). Empty outside production: one is generated
    /// once and kept in the data directory.
    #[serde(serialize_with = "redact")]
    pub jwt_secret: SecretString,
    /// Key (≥ 32 bytes) encrypting personal data at rest (ID numbers). Empty: derived from
    /// `jwt_secret`.
    #[serde(serialize_with = "redact")]
    pub data_key: SecretString,
    pub issuer: String,
    pub audience: String,
    pub access_token_minutes: i64,
    pub refresh_token_days: i64,
    pub verify_email_hours: i64,
    pub password_reset_minutes: i64,
    pub invitation_days: i64,
    /// Login/register/reset attempts per client IP in a sliding minute.
    pub ip_attempts_per_minute: u32,
    /// Consecutive failed logins before an account is throttled.
    pub max_failed_logins: i64,
    /// Create `admin@landx.local` with a random password when none exists (not in production).
    pub bootstrap_admin: bool,
    /// argon2 runs (hash or verify) at once; 0 = one per core.
    pub argon2_concurrency: usize,
    /// Requests allowed to wait for an argon2 run; beyond that 503 `unavailable`.
    pub argon2_queue: usize,
    /// Password-reset e-mails per account in a sliding hour (further requests still get 202).
    pub reset_mails_per_hour: i64,
}

#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(default)]
pub struct Mail {
    /// `file` (one `.eml` per message into `file_dir`) or `smtp`.
    pub transport: String,
    pub from: String,
    pub file_dir: String,
    pub smtp_host: String,
    pub smtp_port: u16,
    /// `none`, `starttls` or `tls`.
    pub smtp_tls: String,
    pub smtp_username: String,
    #[serde(serialize_with = "redact")]
    pub smtp_password: SecretString,
    /// Messages the relay claims per tick.
    pub batch_size: i64,
}

#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(default)]
pub struct Jobs {
    /// Period of the background workers (auction closing, mail relay) in milliseconds.
    pub tick_ms: u64,
    /// Run the background workers in this process.
    pub enabled: bool,
}

#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(default)]
pub struct Log {
    /// `text` (human) or `json`.
    pub format: String,
    /// An `EnvFilter` directive, e.g. `info,landx=debug`.
    pub level: String,
}

/// The business numbers of DOMAIN.md marked *(config)*.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(default)]
pub struct Rules {
    pub max_term_years: i32,
    pub min_announcement_days: i64,
    pub extension_secs: i64,
    pub deal_confirm_days: i64,
    pub publicity_days: i64,
    pub rent_due_days_before_year: i64,
    /// Premium in basis points of the sum insured (300 = 3%).
    pub premium_rate_bp: i64,
    /// Share of the premium paid by the government subsidy, basis points (5000 = 50%).
    pub subsidy_share_bp: i64,
    /// Days before a contract year starts that staff are e-mailed about its missing policy.
    pub policy_reminder_days: i64,
    pub grace_days: i64,
    /// Days a contract may stay `draft` (or `signed`) before the township's staff are e-mailed.
    pub contract_reminder_days: i64,
    /// Upper bound of every price, increment and bid (fen per mu per year).
    pub max_price_fen: i64,
}

impl Rules {
    /// The numbers the listing submit rules take.
    pub fn submit_limits(&self) -> crate::domain::listing::SubmitLimits {
        crate::domain::listing::SubmitLimits {
            max_term_years: self.max_term_years,
            min_announcement_days: self.min_announcement_days,
            max_price_fen: self.max_price_fen,
        }
    }
}

/// `postgres://user:secret@host/db` → `postgres://user:[redacted]@host/db`; URLs without a
/// password are returned as they are.
pub fn redact_url_password(url: &str) -> String {
    let Some((scheme, rest)) = url.split_once("://") else {
        return url.to_string();
    };
    // The userinfo ends at the last '@' before the path.
    let authority_end = rest.find('/').unwrap_or(rest.len());
    let authority = &rest[..authority_end];
    let Some(at) = authority.rfind('@') else {
        return url.to_string();
    };
    let userinfo = &authority[..at];
    match userinfo.split_once(':') {
        Some((user, _password)) => format!("{scheme}://{user}:[redacted]{}", &rest[at..]),
        None => url.to_string(),
    }
}

fn redact<S: serde::Serializer>(secret: &SecretString, s: S) -> Result<S::Ok, S::Error> {
    if secret.expose_secret().is_empty() {
        s.serialize_str("")
    } else {
        s.serialize_str("[redacted]")
    }
}

impl Default for Settings {
    fn default() -> Self {
        Settings {
            env: "development".into(),
            server: Server::default(),
            database: Database::default(),
            auth: Auth::default(),
            mail: Mail::default(),
            jobs: Jobs::default(),
            log: Log::default(),
            rules: Rules::default(),
            crypto: Crypto::default(),
            audit: Audit::default(),
            clock: ClockSettings::default(),
            documents: Documents::default(),
        }
    }
}

impl Default for Server {
    fn default() -> Self {
        Server {
            host: "127.0.0.1".into(),
            port: 8080,
            public_url: "http://127.0.0.1:8080".into(),
            workers: 0,
            shutdown_timeout_secs: 10,
            trusted_proxies: Vec::new(),
            feeds_per_client: 8,
            feeds_total: 2_000,
            feed_max_lifetime_secs: 1_800,
        }
    }
}

impl Default for Database {
    fn default() -> Self {
        Database {
            url: "sqlite://data/landx.db".into(),
            pool_size: 10,
            pool_timeout_ms: 5000,
            migrate_on_start: true,
            sqlite_busy_timeout_ms: 5000,
            sqlite_synchronous: "FULL".into(),
            replica_url: String::new(),
            replica_retry_ms: 5000,
        }
    }
}

impl Default for Auth {
    fn default() -> Self {
        Auth {
            jwt_secret: SecretString::from(String::new()),
            data_key: SecretString::from(String::new()),
            issuer: "landx".into(),
            audience: "landx-api".into(),
            access_token_minutes: 15,
            refresh_token_days: 30,
            verify_email_hours: 48,
            password_reset_minutes: 60,
            invitation_days: 7,
            ip_attempts_per_minute: 60,
            max_failed_logins: 5,
            bootstrap_admin: true,
            argon2_concurrency: 0,
            argon2_queue: 32,
            reset_mails_per_hour: 3,
        }
    }
}

impl Default for Mail {
    fn default() -> Self {
        Mail {
            transport: "file".into(),
            from: "landx <noreply@landx.local>".into(),
            file_dir: "data/mail".into(),
            smtp_host: "127.0.0.1".into(),
            smtp_port: 25,
            smtp_tls: "none".into(),
            smtp_username: String::new(),
            smtp_password: SecretString::from(String::new()),
            batch_size: 20,
        }
    }
}

impl Default for Jobs {
    fn default() -> Self {
        Jobs {
            tick_ms: 1000,
            enabled: true,
        }
    }
}

impl Default for Log {
    fn default() -> Self {
        Log {
            format: "text".into(),
            level: "info".into(),
        }
    }
}

impl Default for Rules {
    fn default() -> Self {
        Rules {
            max_term_years: 30,
            min_announcement_days: 10,
            extension_secs: 300,
            deal_confirm_days: 3,
            publicity_days: 5,
            rent_due_days_before_year: 30,
            premium_rate_bp: 300,
            subsidy_share_bp: 5_000,
            policy_reminder_days: 30,
            grace_days: 30,
            contract_reminder_days: 15,
            max_price_fen: 100_000_000_000,
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("configuration: {0}")]
    Load(#[from] config::ConfigError),
    #[error("configuration: {0}")]
    Invalid(String),
}

/// Which database a URL names.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DatabaseUrl {
    Sqlite(PathBuf),
    Postgres(String),
}

impl DatabaseUrl {
    pub fn parse(url: &str) -> Result<Self, ConfigError> {
        if let Some(path) = url.strip_prefix("sqlite://") {
            if path.is_empty() {
                return Err(ConfigError::Invalid(
                    "database.url `sqlite://` needs a file path".into(),
                ));
            }
            Ok(DatabaseUrl::Sqlite(PathBuf::from(path)))
        } else if url.starts_with("postgres://") || url.starts_with("postgresql://") {
            Ok(DatabaseUrl::Postgres(url.to_string()))
        } else {
            Err(ConfigError::Invalid(format!(
                "database.url must start with sqlite:// or postgres:// (got `{}`)",
                url.split(':').next().unwrap_or_default()
            )))
        }
    }
}

impl Settings {
    /// Loads the settings from `dir` (usually the working directory) and the environment.
    pub fn load_from(dir: &Path) -> Result<Self, ConfigError> {
        let env = std::env::var("LANDX_ENV").unwrap_or_else(|_| "development".into());
        let defaults = config::Config::try_from(&Settings::default())?;
        let cfg = config::Config::builder()
            .add_source(defaults)
            .add_source(config::File::from(dir.join("config/default.toml")).required(false))
            .add_source(config::File::from(dir.join(format!("config/{env}.toml"))).required(false))
            .add_source(
                config::Environment::with_prefix("LANDX")
                    .prefix_separator("_")
                    .separator("__")
                    .list_separator(",")
                    .with_list_parse_key("server.trusted_proxies")
                    .try_parsing(true),
            )
            .set_override("env", env)?
            .build()?;
        let settings: Settings = cfg.try_deserialize()?;
        settings.validate()?;
        Ok(settings)
    }

    pub fn load() -> Result<Self, ConfigError> {
        Self::load_from(Path::new("."))
    }

    pub fn is_production(&self) -> bool {
        self.env == "production"
    }

    pub fn validate(&self) -> Result<(), ConfigError> {
        DatabaseUrl::parse(&self.database.url)?;
        if !self.database.replica_url.is_empty() {
            DatabaseUrl::parse(&self.database.replica_url)?;
        }
        if self.is_production() && self.auth.jwt_secret.expose_secret().len() < 32 {
            return Err(ConfigError::Invalid(
                "auth.jwt_secret (LANDX_AUTH__JWT_SECRET) must be at least 32 bytes in production"
                    .into(),
            ));
        }
        if self.documents.max_bytes == 0 || self.documents.max_bytes > (1 << 40) {
            return Err(ConfigError::Invalid(
                "documents.max_bytes must be between 1 and 2^40".into(),
            ));
        }
        if self.is_production() && self.clock.travel {
            return Err(ConfigError::Invalid(
                "clock.travel (LANDX_CLOCK__TRAVEL) is a test clock and is refused when LANDX_ENV=production"
                    .into(),
            ));
        }
        for (name, key, id) in [
            ("crypto", &self.crypto.key, &self.crypto.key_id),
            ("audit", &self.audit.key, &self.audit.key_id),
        ] {
            if self.is_production() && key.expose_secret().len() < 32 {
                return Err(ConfigError::Invalid(format!(
                    "{name}.key (LANDX_{}__KEY) must be at least 32 bytes in production, and differ from the JWT secret",
                    name.to_ascii_uppercase()
                )));
            }
            if !key.expose_secret().is_empty()
                && key.expose_secret() == self.auth.jwt_secret.expose_secret()
            {
                return Err(ConfigError::Invalid(format!(
                    "{name}.key must be its own secret, not the JWT secret"
                )));
            }
            if !valid_key_id(id) {
                return Err(ConfigError::Invalid(format!(
                    "{name}.key_id must be 1–16 characters of A-Z, a-z, 0-9, '_' and '-'"
                )));
            }
        }
        if !matches!(self.mail.transport.as_str(), "file" | "smtp") {
            return Err(ConfigError::Invalid(
                "mail.transport must be `file` or `smtp`".into(),
            ));
        }
        if !matches!(self.mail.smtp_tls.as_str(), "none" | "starttls" | "tls") {
            return Err(ConfigError::Invalid(
                "mail.smtp_tls must be `none`, `starttls` or `tls`".into(),
            ));
        }
        if self.mail.transport == "smtp"
            && self.mail.smtp_tls == "none"
            && (!self.mail.smtp_username.is_empty()
                || !self.mail.smtp_password.expose_secret().is_empty())
        {
            return Err(ConfigError::Invalid(
                "SMTP credentials are never sent in clear text: set mail.smtp_tls to `starttls` or `tls`"
                    .into(),
            ));
        }
        if !(1..=i64::MAX / 4).contains(&self.rules.max_price_fen) {
            return Err(ConfigError::Invalid(
                "rules.max_price_fen must be positive (and far below the i64 range)".into(),
            ));
        }
        if !matches!(
            self.database
                .sqlite_synchronous
                .to_ascii_uppercase()
                .as_str(),
            "OFF" | "NORMAL" | "FULL" | "EXTRA"
        ) {
            return Err(ConfigError::Invalid(
                "database.sqlite_synchronous must be OFF, NORMAL, FULL or EXTRA".into(),
            ));
        }
        if !(0..=10_000).contains(&self.rules.premium_rate_bp)
            || !(0..=10_000).contains(&self.rules.subsidy_share_bp)
        {
            return Err(ConfigError::Invalid(
                "rules.premium_rate_bp and rules.subsidy_share_bp must be basis points between 0 and 10000"
                    .into(),
            ));
        }
        if self.rules.max_term_years < 1 || self.rules.extension_secs < 1 {
            return Err(ConfigError::Invalid(
                "rules.max_term_years and rules.extension_secs must be at least 1".into(),
            ));
        }
        if self.database.pool_size == 0 || self.jobs.tick_ms == 0 {
            return Err(ConfigError::Invalid(
                "database.pool_size and jobs.tick_ms must be positive".into(),
            ));
        }
        Ok(())
    }

    /// The directory that holds local state (generated secret, SQLite file, mail files).
    pub fn data_dir(&self) -> PathBuf {
        match DatabaseUrl::parse(&self.database.url) {
            Ok(DatabaseUrl::Sqlite(p)) => p
                .parent()
                .filter(|p| !p.as_os_str().is_empty())
                .map(Path::to_path_buf)
                .unwrap_or_else(|| PathBuf::from(".")),
            _ => PathBuf::from("data"),
        }
    }

    /// The effective settings as TOML with secrets redacted.
    pub fn redacted_toml(&self) -> String {
        let mut value = serde_json::to_value(self).unwrap_or_default();
        if let Some(url) = value.pointer_mut("/database/url") {
            *url = serde_json::Value::String(redact_url_password(&self.database.url));
        }
        if let Some(url) = value.pointer_mut("/database/replica_url") {
            *url = serde_json::Value::String(redact_url_password(&self.database.replica_url));
        }
        let mut out = String::new();
        if let serde_json::Value::Object(map) = value {
            for (k, v) in &map {
                if !v.is_object() {
                    out.push_str(&format!("{k} = {v}\n"));
                }
            }
            for (section, v) in map {
                if let serde_json::Value::Object(fields) = v {
                    out.push_str(&format!("\n[{section}]\n"));
                    for (k, v) in fields {
                        out.push_str(&format!("{k} = {v}\n"));
                    }
                }
            }
        }
        out
    }
}

#[cfg(test)]
mod url_redaction_tests {
    use super::redact_url_password;

    #[test]
    fn passwords_in_database_urls_are_redacted() {
        assert_eq!(
            redact_url_password("postgres://landx:s3cr%40t@db.example:5432/landx"),
            "postgres://landx:[redacted]@db.example:5432/landx"
        );
        assert_eq!(
            redact_url_password("postgres://landx@db/landx"),
            "postgres://landx@db/landx"
        );
        assert_eq!(
            redact_url_password("sqlite://data/landx.db"),
            "sqlite://data/landx.db"
        );
        assert_eq!(
            redact_url_password("postgres://u:p@ss@host/db"),
            "postgres://u:[redacted]@host/db"
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn database_urls() {
        assert_eq!(
            DatabaseUrl::parse("sqlite://data/landx.db").unwrap(),
            DatabaseUrl::Sqlite("data/landx.db".into())
        );
        assert_eq!(
            DatabaseUrl::parse("sqlite:///tmp/x.db").unwrap(),
            DatabaseUrl::Sqlite("/tmp/x.db".into())
        );
        assert!(matches!(
            DatabaseUrl::parse("postgres://u@h/db").unwrap(),
            DatabaseUrl::Postgres(_)
        ));
        assert!(DatabaseUrl::parse("mysql://x").is_err());
        assert!(DatabaseUrl::parse("sqlite://").is_err());
    }

    #[test]
    fn production_needs_a_long_secret() {
        let mut s = Settings {
            env: "production".into(),
            ..Settings::default()
        };
        assert!(s.validate().is_err());
        s.auth.jwt_secret = SecretString::from("x".repeat(32));
        // The personal-data and audit keys are their own secrets, required too.
        assert!(s.validate().is_err());
        s.crypto.key = SecretString::from("c".repeat(32));
        assert!(s.validate().is_err());
        s.audit.key = SecretString::from("x".repeat(32));
        assert!(s.validate().is_err(), "the JWT secret reused as a key");
        s.audit.key = SecretString::from("a".repeat(32));
        assert!(s.validate().is_ok());
        s.crypto.key_id = "k:1".into();
        assert!(s.validate().is_err(), "a key id can't hold the separator");
    }

    #[test]
    fn production_refuses_the_test_clock() {
        let mut s = Settings {
            env: "production".into(),
            ..Settings::default()
        };
        s.auth.jwt_secret = SecretString::from("x".repeat(32));
        s.crypto.key = SecretString::from("c".repeat(32));
        s.audit.key = SecretString::from("a".repeat(32));
        assert!(s.validate().is_ok());
        s.clock.travel = true;
        let err = s.validate().unwrap_err().to_string();
        assert!(err.contains("clock.travel"), "{err}");
        s.env = "test".into();
        assert!(s.validate().is_ok(), "allowed outside production");
    }

    #[test]
    fn default_toml_documents_the_built_in_defaults() {
        let dir = Path::new(env!("CARGO_MANIFEST_DIR"));
        let text = std::fs::read_to_string(dir.join("config/default.toml")).unwrap();
        let from_file: Settings = config::Config::builder()
            .add_source(config::Config::try_from(&Settings::default()).unwrap())
            .add_source(config::File::from_str(&text, config::FileFormat::Toml))
            .build()
            .unwrap()
            .try_deserialize()
            .unwrap();
        assert_eq!(
            serde_json::to_value(&from_file).unwrap(),
            serde_json::to_value(Settings::default()).unwrap()
        );
        // Every key of every section is written in the file.
        let file: toml::Table = text.parse().unwrap();
        let defaults = serde_json::to_value(Settings::default()).unwrap();
        for (section, fields) in defaults.as_object().unwrap() {
            if let Some(fields) = fields.as_object() {
                let in_file = file
                    .get(section)
                    .and_then(|s| s.as_table())
                    .unwrap_or_else(|| panic!("[{section}] missing"));
                for k in fields.keys() {
                    assert!(
                        in_file.contains_key(k),
                        "{section}.{k} is not documented in config/default.toml"
                    );
                }
            }
        }
    }

    #[test]
    fn redacted_output_hides_secrets() {
        let mut s = Settings::default();
        s.auth.jwt_secret = SecretString::from("super-secret-value-0123456789abcdef".to_string());
        let text = s.redacted_toml();
        assert!(!text.contains("super-secret"));
        assert!(text.contains("[rules]"));
    }
}
