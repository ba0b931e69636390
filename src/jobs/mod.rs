//! Background workers. Each pass is a set of conditional updates, so any number of instances
//! may run them at once; nothing is kept only in memory, so a restart catches up.

use std::sync::Arc;
use std::time::Duration;

use crate::app::Ctx;
use crate::db;
use crate::error::ApiError;
use crate::metrics::Job;
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
                if let Err(e) = db::run(&state.pool, |conn| db::optimize(conn, false)).await {
                    state.metrics.job_failed(Job::DbOptimize);
                    tracing::warn!(error = %e, "database optimisation failed");
                }
            }
            if let Err(e) = run_once(&state, sender.clone()).await {
                tracing::warn!(error = %e, "background pass failed");
            }
        }
    });
    Ok(())
}

/// One pass of every worker. The passes are independent: each runs whatever the others did
/// (settling, purging and the mail relay each on their own connection and transactions), a
/// failing one is logged and counted (`landx_job_failures_total`), and the first failure is
/// returned (the next tick tries again).
pub async fn run_once(state: &AppState, sender: Arc<Sender>) -> Result<(), ApiError> {
    // The test clock first, so this pass (and every request after it) runs on the time
    // another instance may have advanced.
    let clock_refresh = refresh_clock(state).await;
    if let Err(e) = &clock_refresh {
        tracing::warn!(error = %e, "test clock refresh failed");
    }
    let ctx = state.ctx(None);
    let results = [
        (Job::Settle, settle_trading(state, &ctx).await),
        (Job::Contracts, settle_contracts(state, &ctx).await),
        (
            Job::IdempotencyPurge,
            purge_idempotency_keys(state, &ctx).await,
        ),
        (Job::LimitsPurge, purge_limits(state, &ctx).await),
        (Job::MailRelay, relay_mail(state, &ctx, sender).await),
    ];
    let mut first = None;
    for (job, r) in results {
        if let Err(e) = r {
            state.metrics.job_failed(job);
            if first.is_some() {
                tracing::warn!(job = job.as_str(), error = %e, "background pass failed");
            }
            first.get_or_insert(e);
        }
    }
    clock_refresh?;
    first.map_or(Ok(()), Err)
}

/// Takes the stored offset of the test clock (`clock.travel`; nothing to do without it), so
/// an advance made through another instance reaches this one within one tick.
pub async fn refresh_clock(state: &AppState) -> Result<(), ApiError> {
    if state.clock.travel().is_none() {
        return Ok(());
    }
    let clock = state.clock.clone();
    db::run(&state.pool, move |conn| match clock.travel() {
        Some(t) => crate::app::clock::refresh(conn, t).map(|_| ()),
        None => Ok(()),
    })
    .await
}

/// Performs every trading transition that is due (registration and auction closes, deal
/// time-outs), as a read of the listing would.
async fn settle_trading(state: &AppState, ctx: &Ctx) -> Result<(), ApiError> {
    let (now, rules) = (ctx.now, ctx.rules().clone());
    let pass = db::run(&state.pool, move |conn| {
        crate::app::trading::settle_due(conn, now, &rules)
    })
    .await?;
    for _ in 0..pass.failed {
        state.metrics.settle_failed();
    }
    if pass.due > 0 {
        tracing::debug!(due = pass.due, failed = pass.failed, "listings settled");
    }
    Ok(())
}

/// Rent dates and reminders, contract completion, and the staff reminders about contracts
/// left unsigned or uncertified; one failing contract never stops the others.
async fn settle_contracts(state: &AppState, ctx: &Ctx) -> Result<(), ApiError> {
    let (now, rules) = (ctx.now, ctx.rules().clone());
    let (pass, reminded) = db::run(&state.pool, move |conn| {
        let mut pass = crate::app::rent::settle_due(conn, now, &rules)?;
        pass.failed += crate::app::policies::settle_due(conn, now, &rules)?;
        let reminded = crate::app::contracts::remind_stalled(conn, now, &rules)?;
        Ok((pass, reminded))
    })
    .await?;
    for _ in 0..pass.failed {
        state.metrics.job_failed(Job::Contracts);
    }
    if pass.due > 0 || reminded > 0 {
        tracing::debug!(
            due = pass.due,
            failed = pass.failed,
            reminded,
            "contracts settled"
        );
    }
    Ok(())
}

/// Idempotency keys are kept for at least 24 hours; older ones go.
async fn purge_idempotency_keys(state: &AppState, ctx: &Ctx) -> Result<(), ApiError> {
    let now = ctx.now;
    db::run(&state.pool, move |conn| {
        crate::idempotency::purge(conn, now)
    })
    .await?;
    Ok(())
}

/// The auth routes' limits that no longer count (a bounded batch per pass).
async fn purge_limits(state: &AppState, ctx: &Ctx) -> Result<(), ApiError> {
    let now = ctx.now;
    db::run(&state.pool, move |conn| {
        crate::app::limits::purge(conn, now)
    })
    .await?;
    Ok(())
}

/// Sends what is due in the outbox.
async fn relay_mail(state: &AppState, ctx: &Ctx, sender: Arc<Sender>) -> Result<(), ApiError> {
    let (now, settings) = (ctx.now, ctx.settings.clone());
    let sent = db::run(&state.pool, move |conn| {
        relay_once(conn, &sender, &settings.mail, now)
    })
    .await?;
    if sent > 0 {
        tracing::info!(sent, "mail relayed");
    }
    Ok(())
}
