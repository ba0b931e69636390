//! Background workers. Each pass is a set of conditional updates, so any number of instances
//! may run them at once; nothing is kept only in memory, so a restart catches up.

use std::sync::Arc;
use std::time::Duration;

use crate::db;
use crate::notify::relay::{relay_once, Sender};
use crate::state::AppState;

/// Starts the workers on the current actix runtime.
pub fn spawn(state: AppState) -> Result<(), String> {
    let sender = Arc::new(Sender::from_settings(&state.settings.mail)?);
    actix_web::rt::spawn(async move {
        let mut tick =
            actix_web::rt::time::interval(Duration::from_millis(state.settings.jobs.tick_ms));
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        let mut last_optimize = std::time::Instant::now();
        loop {
            tick.tick().await;
            if last_optimize.elapsed() >= Duration::from_secs(3600) {
                last_optimize = std::time::Instant::now();
                let _ = db::run(&state.pool, |conn| db::optimize(conn, false)).await;
            }
            if let Err(e) = run_once(&state, sender.clone()).await {
                tracing::warn!(error = %e, "background pass failed");
            }
        }
    });
    Ok(())
}

/// One pass of every worker.
pub async fn run_once(state: &AppState, sender: Arc<Sender>) -> Result<(), crate::error::ApiError> {
    let settings = state.settings.clone();
    let now = state.clock.now();
    let rules = settings.rules.clone();
    db::run(&state.pool, move |conn| {
        crate::app::trading::settle_due(conn, now, &rules)
    })
    .await?;
    // Idempotency keys are kept for at least 24 hours; older ones go.
    db::run(&state.pool, move |conn| {
        crate::idempotency::purge(conn, now)
    })
    .await?;
    let sent = db::run(&state.pool, move |conn| {
        relay_once(conn, &sender, &settings.mail, now)
    })
    .await?;
    if sent > 0 {
        tracing::info!(sent, "mail relayed");
    }
    Ok(())
}
