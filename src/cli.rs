//! Command line: `serve` (default), `migrate`, `config`, `admin create`, `audit verify`,
//! `audit heads`, `documents verify`, `crypto rehash`, `demo seed`, `mail list`.

use std::path::Path;
use std::sync::Arc;

use clap::{Parser, Subcommand};
use secrecy::ExposeSecret;

use crate::app::accounts::{self, NewAccount};
use crate::app::Ctx;
use crate::clock::{Clock, SystemClock};
use crate::config::Settings;
use crate::crypto::DataKey;
use crate::db::{self, models::User, queries};
use crate::domain::roles::Role;
use crate::error::ApiError;
use crate::state::AppState;

#[derive(Debug, Parser)]
#[command(
    name = "landx",
    version,
    about = "Rural land management-rights exchange (公开交易 + 履约保险)"
)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Option<Command>,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run the HTTP server (applies pending migrations first unless disabled).
    Serve,
    /// Apply pending database migrations and exit.
    Migrate,
    /// Print the effective settings, secrets redacted.
    Config,
    /// Manage administrator accounts.
    Admin {
        #[command(subcommand)]
        command: AdminCommand,
    },
    /// Demo data (never in production).
    Demo {
        #[command(subcommand)]
        command: DemoCommand,
    },
    /// Audit trail tools.
    Audit {
        #[command(subcommand)]
        command: AuditCommand,
    },
    /// Uploaded documents' tools.
    Documents {
        #[command(subcommand)]
        command: DocumentsCommand,
    },
    /// Personal-data key tools.
    Crypto {
        #[command(subcommand)]
        command: CryptoCommand,
    },
    /// Developer aid: read the outbox.
    Mail {
        #[command(subcommand)]
        command: MailCommand,
    },
}

#[derive(Debug, Subcommand)]
pub enum MailCommand {
    /// Print the newest mails, newest first: time, whether sent, recipient, subject, then each
    /// link of the body on its own indented line (addresses and bodies opened with the data
    /// key, as the relay opens them).
    List {
        /// Only mails to this address.
        #[arg(long)]
        to: Option<String>,
        /// At most this many mails (1–1000).
        #[arg(long, default_value_t = 20, value_parser = clap::value_parser!(u16).range(1..=1000))]
        limit: u16,
        /// Print the whole body of each mail too.
        #[arg(long)]
        body: bool,
    },
}

#[derive(Debug, Subcommand)]
pub enum CryptoCommand {
    /// Recompute every registration's ID hash (rows written before it existed, or after
    /// `crypto.key` was replaced) and encrypt phones still in clear or under an old key id.
    Rehash,
}

#[derive(Debug, Subcommand)]
pub enum AdminCommand {
    /// Create an admin account.
    Create {
        #[arg(long)]
        email: String,
        #[arg(long)]
        password: String,
        #[arg(long, default_value = "平台管理员")]
        display_name: String,
    },
}

#[derive(Debug, Subcommand)]
pub enum DemoCommand {
    /// Fill an empty database with the Caojing pilot: township, villages, parcels, listings in
    /// each state and one demo account per role.
    Seed,
}

#[derive(Debug, Subcommand)]
pub enum DocumentsCommand {
    /// Re-hash every stored document content and compare it with the SHA-256 it was filed
    /// with (and that its filing's audit record carries); name every document that differs.
    Verify,
}

#[derive(Debug, Subcommand)]
pub enum AuditCommand {
    /// Walk every chain, checking each link with the audit key(s), and report the first
    /// broken record.
    Verify,
    /// Print each stream's head (stream, seq, link, key id), one per line, for anchoring
    /// outside the database.
    Heads,
}

pub fn init_tracing(settings: &Settings) {
    use tracing_subscriber::EnvFilter;
    let filter = EnvFilter::try_from_env("RUST_LOG")
        .unwrap_or_else(|_| EnvFilter::new(settings.log.level.clone()));
    let builder = tracing_subscriber::fmt().with_env_filter(filter);
    let _ = if settings.log.format == "json" {
        builder.json().flatten_event(true).try_init()
    } else {
        builder.try_init()
    };
}

/// The JWT secret: configured, or (outside production) generated once and kept in the data
/// directory so restarts keep sessions valid.
pub fn jwt_secret(settings: &Settings) -> Result<Vec<u8>, String> {
    let configured = settings.auth.jwt_secret.expose_secret();
    if !configured.is_empty() {
        return Ok(configured.as_bytes().to_vec());
    }
    if settings.is_production() {
        return Err("auth.jwt_secret is required in production".into());
    }
    let dir = settings.data_dir();
    let path = dir.join("jwt_secret");
    if let Ok(s) = std::fs::read_to_string(&path) {
        if s.trim().len() >= 32 {
            return Ok(s.trim().as_bytes().to_vec());
        }
    }
    std::fs::create_dir_all(&dir).map_err(|e| format!("{}: {e}", dir.display()))?;
    let secret = format!(
        "{}{}",
        crate::auth::tokens::random_token(),
        crate::auth::tokens::random_token()
    );
    write_private(&path, &secret).map_err(|e| format!("{}: {e}", path.display()))?;
    Ok(secret.into_bytes())
}

/// Outside production, an unset `crypto.key` or `audit.key` is generated once and kept in the
/// data directory (like the JWT secret), so restarts read what earlier runs wrote. In
/// production both must be configured (`Settings::validate`).
fn local_secrets(settings: &mut Settings) -> Result<(), String> {
    if settings.is_production() {
        return Ok(());
    }
    let dir = settings.data_dir();
    for (file, slot) in [
        ("crypto_key", &mut settings.crypto.key),
        ("audit_key", &mut settings.audit.key),
    ] {
        if !slot.expose_secret().is_empty() {
            continue;
        }
        let path = dir.join(file);
        let existing = std::fs::read_to_string(&path).ok();
        let key = match existing.map(|s| s.trim().to_string()) {
            Some(s) if s.len() >= 32 => s,
            _ => {
                std::fs::create_dir_all(&dir).map_err(|e| format!("{}: {e}", dir.display()))?;
                let key = format!(
                    "{}{}",
                    crate::auth::tokens::random_token(),
                    crate::auth::tokens::random_token()
                );
                write_private(&path, &key).map_err(|e| format!("{}: {e}", path.display()))?;
                key
            }
        };
        *slot = secrecy::SecretString::from(key);
    }
    Ok(())
}

fn write_private(path: &Path, content: &str) -> std::io::Result<()> {
    use std::io::Write;
    let mut opts = std::fs::OpenOptions::new();
    opts.write(true).create(true).truncate(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        opts.mode(0o600);
    }
    opts.open(path)?.write_all(content.as_bytes())
}

/// The context of a command: the platform itself acts (no caller).
fn cli_ctx(settings: Settings, data_key: DataKey) -> Ctx {
    crate::notify::install_key(data_key.clone());
    Ctx::new(None, Arc::new(SystemClock), Arc::new(settings), data_key)
}

/// Creates an admin with the default settings (an account with a password reads none, and
/// stores no personal data).
pub fn create_admin(
    conn: &mut db::DbConn,
    email: &str,
    password: &str,
    display_name: &str,
) -> Result<User, String> {
    let settings = Settings::default();
    let key = DataKey::ephemeral();
    create_admin_with(&cli_ctx(settings, key), conn, email, password, display_name)
}

/// Creates an admin through the same use case as `POST /users` (the platform acting, no
/// caller), with its audit record.
pub fn create_admin_with(
    ctx: &Ctx,
    conn: &mut db::DbConn,
    email: &str,
    password: &str,
    display_name: &str,
) -> Result<User, String> {
    let account = NewAccount {
        email: email.into(),
        password: Some(password.into()),
        display_name: display_name.into(),
        role: Role::Admin,
        phone: None,
        village_id: None,
        township_id: None,
        insurer_id: None,
        reason: Some("created from the command line".into()),
    };
    accounts::create_user(ctx, conn, account).map_err(|e| match e {
        ApiError::Conflict(_) => format!(
            "an account with e-mail {} already exists",
            crate::domain::validate::normalize_email(email)
        ),
        // Named as the command line spells its options.
        ApiError::Validation(fields) => fields
            .iter()
            .map(|f| format!("--{} {}", f.field.replace('_', "-"), f.message))
            .collect::<Vec<_>>()
            .join("; "),
        other => format!("{other:?}"),
    })
}

/// Entry point of the binary; returns the process exit code.
pub fn main_with(cli: Cli) -> i32 {
    let mut settings = match Settings::load() {
        Ok(s) => s,
        Err(e) => {
            eprintln!("landx: {e}");
            return 2;
        }
    };
    if !matches!(cli.command, Some(Command::Config)) {
        if let Err(e) = local_secrets(&mut settings) {
            eprintln!("landx: {e}");
            return 2;
        }
    }
    // Every command that appends or verifies audit records signs and checks with these.
    crate::audit::install_keys(crate::audit::AuditKeys::from_settings(&settings.audit));
    match cli.command.unwrap_or(Command::Serve) {
        Command::Config => {
            print!("{}", settings.redacted_toml());
            0
        }
        Command::Migrate => {
            init_tracing(&settings);
            match db::connect(&settings).and_then(|pool| {
                let mut conn = pool
                    .get()
                    .map_err(|e| db::StartupError::Database(e.to_string()))?;
                db::run_migrations(&mut conn)
            }) {
                Ok(applied) => {
                    println!(
                        "applied {} migration(s){}",
                        applied.len(),
                        if applied.is_empty() {
                            String::new()
                        } else {
                            format!(": {}", applied.join(", "))
                        }
                    );
                    0
                }
                Err(e) => {
                    eprintln!("landx: {e}");
                    1
                }
            }
        }
        Command::Admin {
            command:
                AdminCommand::Create {
                    email,
                    password,
                    display_name,
                },
        } => {
            let result = db::connect(&settings)
                .and_then(|pool| {
                    let mut conn = pool
                        .get()
                        .map_err(|e| db::StartupError::Database(e.to_string()))?;
                    db::run_migrations(&mut conn)?;
                    Ok(conn)
                })
                .map_err(|e| e.to_string())
                .and_then(|mut conn| {
                    // Creating an admin with a password stores no personal data: no data key
                    // (nor a generated JWT secret) is needed.
                    let key = DataKey::ephemeral();
                    let ctx = cli_ctx(settings.clone(), key);
                    create_admin_with(&ctx, &mut conn, &email, &password, &display_name)
                });
            match result {
                Ok(u) => {
                    println!("created admin {} ({})", u.email, u.id);
                    0
                }
                Err(e) => {
                    eprintln!("landx: {e}");
                    1
                }
            }
        }
        Command::Demo {
            command: DemoCommand::Seed,
        } => {
            if settings.is_production() {
                eprintln!("landx: demo seed refuses to run with LANDX_ENV=production");
                return 1;
            }
            let result = db::connect(&settings)
                .and_then(|pool| {
                    let mut conn = pool
                        .get()
                        .map_err(|e| db::StartupError::Database(e.to_string()))?;
                    db::run_migrations(&mut conn)?;
                    Ok(conn)
                })
                .map_err(|e| e.to_string())
                .and_then(|mut conn| {
                    let secret = jwt_secret(&settings)?;
                    let key = crate::state::data_key(&settings, &secret);
                    crate::notify::install_key(key.clone());
                    crate::demo::seed(&mut conn, &settings, &key, SystemClock.now()).map_err(|e| {
                        match e {
                            crate::error::ApiError::InvalidState(m) => m,
                            other => format!("{other:?}"),
                        }
                    })
                });
            match result {
                Ok(accounts) => {
                    println!(
                        "demo data seeded ({}). Demo accounts, password `{}`:",
                        crate::demo::summary(),
                        crate::demo::DEMO_PASSWORD
                    );
                    for (email, role) in accounts {
                        println!("  {role:<10} {email}");
                    }
                    0
                }
                Err(e) => {
                    eprintln!("landx: {e}");
                    1
                }
            }
        }
        Command::Crypto {
            command: CryptoCommand::Rehash,
        } => {
            let result = db::connect(&settings)
                .and_then(|pool| {
                    let mut conn = pool
                        .get()
                        .map_err(|e| db::StartupError::Database(e.to_string()))?;
                    db::run_migrations(&mut conn)?;
                    Ok(conn)
                })
                .map_err(|e| e.to_string())
                .and_then(|mut conn| {
                    let secret = jwt_secret(&settings)?;
                    let key = crate::state::data_key(&settings, &secret);
                    let done = crate::app::registrations::rehash(&mut conn, &key)
                        .map_err(|e| format!("{e:?}"))?;
                    let phones = accounts::reencrypt_phones(&mut conn, &key)
                        .map_err(|e| format!("{e:?}"))?;
                    let mails = crate::notify::reseal_mails(&mut conn, &key)
                        .map_err(|e| format!("{e:?}"))?;
                    Ok((done, phones, mails))
                });
            match result {
                Ok((done, phones, mails)) => {
                    println!(
                        "re-hashed {} registration(s); {} unreadable with the configured keys",
                        done.updated, done.unreadable
                    );
                    println!(
                        "re-encrypted {phones} account phone(s); sealed {mails} outbox mail(s)"
                    );
                    i32::from(done.unreadable > 0)
                }
                Err(e) => {
                    eprintln!("landx: {e}");
                    2
                }
            }
        }
        Command::Mail {
            command: MailCommand::List { to, limit, body },
        } => {
            let result = db::connect(&settings)
                .map_err(|e| e.to_string())
                .and_then(|pool| pool.get().map_err(|e| e.to_string()))
                .and_then(|mut conn| {
                    let secret = jwt_secret(&settings)?;
                    crate::notify::install_key(crate::state::data_key(&settings, &secret));
                    crate::notify::recent(&mut conn, to.as_deref(), usize::from(limit), 5_000)
                        .map_err(|e| format!("{e:?}"))
                });
            match result {
                Ok(mails) => {
                    for m in mails {
                        println!(
                            "{}\t{}\t{}\t{}",
                            m.created_at
                                .to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
                            if m.sent { "sent" } else { "queued" },
                            m.to,
                            m.subject
                        );
                        for link in m.links() {
                            println!("  {link}");
                        }
                        if body {
                            for line in m.body.lines() {
                                println!("  | {line}");
                            }
                        }
                    }
                    0
                }
                Err(e) => {
                    eprintln!("landx: {e}");
                    2
                }
            }
        }
        Command::Audit {
            command: AuditCommand::Verify,
        } => {
            let result = db::connect(&settings)
                .map_err(|e| e.to_string())
                .and_then(|pool| pool.get().map_err(|e| e.to_string()))
                .and_then(|mut conn| crate::audit::verify(&mut conn).map_err(|e| format!("{e:?}")));
            match result {
                Ok(Ok(n)) => {
                    println!("audit trail intact: {n} record(s) verified");
                    0
                }
                Ok(Err(b)) => {
                    println!(
                        "audit trail BROKEN at stream `{}` seq {} (record {}): {}",
                        b.stream, b.seq, b.id, b.problem
                    );
                    1
                }
                Err(e) => {
                    eprintln!("landx: {e}");
                    2
                }
            }
        }
        Command::Documents {
            command: DocumentsCommand::Verify,
        } => {
            let result = db::connect(&settings)
                .map_err(|e| e.to_string())
                .and_then(|pool| pool.get().map_err(|e| e.to_string()))
                .and_then(|mut conn| {
                    crate::app::documents::verify(&settings.documents, &mut conn)
                        .map_err(|e| format!("{e:?}"))
                });
            match result {
                Ok((found, checked)) if found.is_empty() => {
                    println!("documents intact: {checked} document(s) verified");
                    0
                }
                Ok((found, checked)) => {
                    for t in &found {
                        println!("document {} TAMPERED: {}", t.document_id, t.problem);
                    }
                    println!(
                        "{} of {checked} document(s) differ from what was filed",
                        found.len()
                    );
                    1
                }
                Err(e) => {
                    eprintln!("landx: {e}");
                    2
                }
            }
        }
        Command::Audit {
            command: AuditCommand::Heads,
        } => {
            let result = db::connect(&settings)
                .map_err(|e| e.to_string())
                .and_then(|pool| pool.get().map_err(|e| e.to_string()))
                .and_then(|mut conn| crate::audit::heads(&mut conn).map_err(|e| format!("{e:?}")));
            match result {
                Ok(heads) => {
                    for h in heads {
                        println!(
                            "{}\t{}\t{}\t{}",
                            h.stream,
                            h.seq,
                            h.link,
                            h.key_id.as_deref().unwrap_or("-")
                        );
                    }
                    0
                }
                Err(e) => {
                    eprintln!("landx: {e}");
                    2
                }
            }
        }
        Command::Serve => {
            init_tracing(&settings);
            match actix_web::rt::System::new().block_on(serve(settings)) {
                Ok(()) => 0,
                Err(e) => {
                    eprintln!("landx: {e}");
                    tracing::error!(error = %e, "server stopped with an error");
                    1
                }
            }
        }
    }
}

/// Starts the server and runs until SIGTERM/SIGINT, then drains in-flight requests.
pub async fn serve(settings: Settings) -> Result<(), String> {
    let started = std::time::Instant::now();
    let pool = db::connect(&settings).map_err(|e| e.to_string())?;
    if settings.database.migrate_on_start {
        let mut conn = pool.get().map_err(|e| format!("database: {e}"))?;
        let applied = db::run_migrations(&mut conn).map_err(|e| e.to_string())?;
        if !applied.is_empty() {
            tracing::info!(count = applied.len(), "migrations applied");
        }
        db::optimize(&mut conn, true).map_err(|e| format!("{e:?}"))?;
    }
    let secret = jwt_secret(&settings)?;
    if !settings.is_production() && settings.auth.bootstrap_admin {
        let mut conn = pool.get().map_err(|e| format!("database: {e}"))?;
        if !queries::any_admin(&mut conn).map_err(|e| format!("{e:?}"))? {
            let password = crate::auth::tokens::random_token()[..20].to_string();
            let key = crate::state::data_key(&settings, &secret);
            let ctx = cli_ctx(settings.clone(), key);
            create_admin_with(
                &ctx,
                &mut conn,
                "admin@landx.local",
                &password,
                "平台管理员",
            )?;
            // Printed once, on purpose: the operator needs it to log in the first time.
            println!("created admin@landx.local with password {password} (shown once; change it)");
        }
    }
    if settings.is_production() && settings.clock.travel {
        return Err("clock.travel is a test clock and is refused when LANDX_ENV=production".into());
    }
    let state = AppState::new(settings.clone(), pool, Arc::new(SystemClock), &secret);
    if let Some(clock) = state.clock.travel() {
        let mut conn = state.pool.get().map_err(|e| format!("database: {e}"))?;
        let offset = crate::app::clock::refresh(&mut conn, clock).map_err(|e| format!("{e:?}"))?;
        tracing::warn!(
            offset_secs = offset,
            "test clock on (clock.travel): never in production"
        );
    }
    {
        // Open data of listings that reached an outcome before it was published (an older
        // database): written once, then kept up to date by every change.
        let ctx = state.ctx(None);
        let mut conn = state.pool.get().map_err(|e| format!("database: {e}"))?;
        match crate::app::open_data::backfill(&mut conn, ctx.now) {
            Ok(0) => {}
            Ok(n) => tracing::info!(count = n, "open data published for earlier outcomes"),
            Err(e) => {
                tracing::warn!(error = ?e, "open data backfill failed; retried at next start")
            }
        }
    }
    if settings.jobs.enabled {
        crate::jobs::spawn(state.clone())?;
    }
    let workers = if settings.server.workers == 0 {
        std::thread::available_parallelism()
            .map(|n| n.get())
            .unwrap_or(2)
    } else {
        settings.server.workers
    };
    let app_state = state.clone();
    let server = actix_web::HttpServer::new(move || crate::build_app(app_state.clone()))
        .workers(workers)
        .shutdown_timeout(settings.server.shutdown_timeout_secs)
        .bind((settings.server.host.as_str(), settings.server.port))
        .map_err(|e| {
            format!(
                "cannot listen on {}:{}: {e}",
                settings.server.host, settings.server.port
            )
        })?;
    for addr in server.addrs() {
        tracing::info!(
            %addr,
            startup_ms = started.elapsed().as_millis() as u64,
            database = if matches!(crate::config::DatabaseUrl::parse(&settings.database.url), Ok(crate::config::DatabaseUrl::Sqlite(_))) { "sqlite" } else { "postgres" },
            "landx listening"
        );
    }
    server.run().await.map_err(|e| e.to_string())?;
    tracing::info!("landx stopped");
    Ok(())
}
