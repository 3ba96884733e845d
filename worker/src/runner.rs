//! Runs the worker: the outbox relay, the cron schedules (signals and the
//! weekly report), the report deliveries and the job worker.
use std::future::Future;
use std::str::FromStr;
use std::time::Duration;

use anyhow::Context;
use apalis::layers::retry::backoff::{ExponentialBackoffMaker, MakeBackoff};
use apalis::layers::retry::{HasherRng, RetryPolicy};
use apalis::prelude::*;
use apalis_cron::{CronScheduler, Tick};
use apalis_postgres::PostgresStorage;
use apalis_sqlite::SqliteStorage;
use chrono_tz::Tz;
use tokio::sync::watch;
use ulid::Ulid;

use crate::queue::{pg_config, sqlite_config};
use crate::recompute::handle;
use crate::relay::relay_loop;
use crate::{report, Ctx, Queue, RecomputeSignals, RETRIES};

/// How often a storage worker polls the queue.
const POLL_INTERVAL: Duration = Duration::from_millis(500);

/// A cron schedule of the job.
#[derive(Clone, Debug)]
pub struct CronLabel(pub String);

async fn on_tick(
    tick: Tick<Tz>,
    queue: Data<Queue>,
    label: Data<CronLabel>,
) -> Result<(), BoxDynError> {
    let label: &CronLabel = &label;
    // Every replica fires every tick; the key makes it one job.
    let job = RecomputeSignals {
        trigger: format!("cron:{}", label.0),
        dedup_key: format!("signals:tick:{}", tick.get_timestamp()),
        requested_at: Some(salesguard_domain::clock::now()),
        as_of: None,
    };
    match queue.push(&job).await {
        Ok(true) => tracing::info!(key = %job.dedup_key, "scheduled signal recomputation queued"),
        Ok(false) => {
            tracing::debug!(key = %job.dedup_key, "tick already queued by another replica")
        }
        Err(e) => {
            tracing::warn!(key = %job.dedup_key, error = %format!("{e:#}"), "cannot queue the scheduled job");
            return Err(format!("{e:#}").into());
        }
    }
    Ok(())
}

/// Parses the cron expressions (seconds first: `sec min hour dom month dow`).
pub fn schedules(exprs: &[String]) -> anyhow::Result<Vec<(String, cron::Schedule)>> {
    exprs
        .iter()
        .map(|e| {
            let s = cron::Schedule::from_str(e.trim())
                .with_context(|| format!("invalid cron expression `{e}` in signals_cron"))?;
            Ok((e.trim().to_owned(), s))
        })
        .collect()
}

/// A worker name unique per process start: a restarted process must not
/// take over the name (and so the locked jobs) of the one that crashed.
fn worker_name(role: &str) -> String {
    format!(
        "salesguard-{role}-{}-{}",
        std::process::id(),
        Ulid::generate().to_string().to_lowercase()
    )
}

/// Runs the outbox relay, the cron schedules and the job worker until
/// `shutdown` completes; in-flight jobs get 30 s to finish.
pub async fn run<F>(app: Ctx, shutdown: F) -> anyhow::Result<()>
where
    F: Future + Send,
{
    let schedules = schedules(&app.settings.signals_cron)?;
    let queue = Queue::connect(&app).await?;
    let tz = app.tz;
    let heartbeat = Duration::from_secs(app.settings.worker_heartbeat_secs);
    let backoff = ExponentialBackoffMaker::new(
        Duration::from_millis(500),
        Duration::from_secs(30),
        0.1,
        HasherRng::default(),
    )
    .map_err(|e| anyhow::anyhow!("retry backoff: {e}"))?;
    let policy = move || RetryPolicy::retries(RETRIES).with_backoff(backoff.clone().make_backoff());

    let mut monitor = Monitor::new();
    let name = worker_name("signals");
    tracing::info!(worker = %name, queue = RecomputeSignals::QUEUE, "job worker starting");
    match &queue {
        Queue::Postgres(pool) => {
            let storage =
                PostgresStorage::<RecomputeSignals>::new(pool).with_config(pg_config(heartbeat));
            let app = app.clone();
            monitor = monitor.register(move |_| {
                WorkerBuilder::new(name.clone())
                    .backend(
                        storage
                            .clone()
                            .with_pubsub()
                            .poll_with_strategy(Strategy::new().interval(POLL_INTERVAL)),
                    )
                    .concurrency(2)
                    .retry(policy())
                    .data(app.clone())
                    .build(handle)
            });
        }
        Queue::Sqlite(pool) => {
            let storage =
                SqliteStorage::<RecomputeSignals>::new(pool).with_config(sqlite_config(heartbeat));
            let app = app.clone();
            monitor = monitor.register(move |_| {
                WorkerBuilder::new(name.clone())
                    .backend(storage.clone().poll_with_interval(POLL_INTERVAL))
                    .concurrency(2)
                    .retry(policy())
                    .data(app.clone())
                    .build(handle)
            });
        }
    }
    for (i, (expr, schedule)) in schedules.into_iter().enumerate() {
        let name = worker_name(&format!("cron{i}"));
        let queue = queue.clone();
        tracing::info!(schedule = %expr, timezone = %tz, "signal recomputation scheduled");
        monitor = monitor.register(move |_| {
            WorkerBuilder::new(name.clone())
                .backend(CronScheduler::new(schedule.clone()).with_timezone(tz))
                .data(queue.clone())
                .data(CronLabel(expr.clone()))
                .build(on_tick)
        });
    }
    if app.settings.report.enabled {
        let expr = app.settings.report.cron.trim().to_owned();
        let schedule = cron::Schedule::from_str(&expr)
            .with_context(|| format!("invalid cron expression `{expr}` in report.cron"))?;
        let name = worker_name("report");
        let app = app.clone();
        tracing::info!(schedule = %expr, timezone = %tz, "weekly risk report scheduled");
        monitor = monitor.register(move |_| {
            WorkerBuilder::new(name.clone())
                .backend(CronScheduler::new(schedule.clone()).with_timezone(tz))
                .data(app.clone())
                .build(report::on_tick)
        });
    }
    let monitor = monitor.shutdown_timeout(Duration::from_secs(30));

    let (stop_tx, stop_rx) = watch::channel(false);
    let deliveries = tokio::spawn(report::delivery_loop(app.clone(), stop_rx.clone()));
    let relay = tokio::spawn(relay_loop(app.clone(), queue.clone(), stop_rx));
    let signal = async move {
        shutdown.await;
        let _ = stop_tx.send(true);
        Ok(())
    };
    let result = monitor.run_with_signal(signal).await;
    let _ = relay.await;
    let _ = deliveries.await;
    result.map_err(|e| anyhow::anyhow!("job worker: {e}"))?;
    tracing::info!("job worker stopped");
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn default_schedules_parse() {
        let s = schedules(&["0 */15 * * * *".into(), "0 0 7 * * *".into()]).unwrap();
        assert_eq!(s.len(), 2);
        assert!(schedules(&["every day".into()]).is_err());
    }
}
