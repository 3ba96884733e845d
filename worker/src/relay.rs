//! The outbox relay: moves the outbox rows written in business
//! transactions into the job queue, deduplicated by their key.
use apalis::prelude::*;
use apalis_postgres::PgPool;
use sea_orm::sea_query::Expr;
use sea_orm::{ColumnTrait, EntityTrait, QueryFilter, QueryOrder, QuerySelect};
use tokio::sync::watch;
use ulid::Ulid;

use salesguard_entities::model::outbox;
use salesguard_entities::model::outbox::RECOMPUTE_SIGNALS;

use crate::queue::pg_unique_violation;
use crate::{Ctx, Queue, RecomputeSignals, MAX_ATTEMPTS, RELAY_INTERVAL};

/// Outbox rows relayed per round.
const RELAY_BATCH: u64 = 100;

/// The job a business outbox row stands for.
fn job_of(row: &outbox::Model) -> RecomputeSignals {
    let payload: serde_json::Value = serde_json::from_str(&row.payload).unwrap_or_default();
    let trigger = payload["trigger"]
        .as_str()
        .map(str::to_owned)
        .unwrap_or_else(|| row.kind.clone());
    RecomputeSignals {
        trigger,
        dedup_key: row.dedup_key.clone(),
        requested_at: Some(salesguard_domain::clock::now()),
        as_of: None,
    }
}

/// One relay round: moves unrelayed outbox rows into the queue and marks
/// them relayed. Returns how many rows it handled.
pub async fn relay_once(app: &Ctx, queue: &Queue) -> anyhow::Result<usize> {
    match queue {
        Queue::Postgres(pool) => relay_once_pg(pool).await,
        Queue::Sqlite(_) => relay_once_sqlite(app, queue).await,
    }
}

/// PostgreSQL: queue and outbox are in one database, so the push and the
/// `relayed_at` mark are one transaction; relays running side by side skip
/// each other's rows.
async fn relay_once_pg(pool: &PgPool) -> anyhow::Result<usize> {
    use sqlx::Row;
    let mut tx = pool.begin().await?;
    let rows = sqlx::query(
        "SELECT id, kind, dedup_key, payload FROM outbox WHERE relayed_at IS NULL \
         ORDER BY id LIMIT $1 FOR UPDATE SKIP LOCKED",
    )
    .bind(RELAY_BATCH as i64)
    .fetch_all(&mut *tx)
    .await?;
    let n = rows.len();
    for r in rows {
        let row = outbox::Model {
            id: r.try_get("id")?,
            kind: r.try_get("kind")?,
            dedup_key: r.try_get("dedup_key")?,
            payload: r.try_get("payload")?,
            created_at: chrono::DateTime::<chrono::Utc>::MIN_UTC,
            relayed_at: None,
        };
        if row.kind == RECOMPUTE_SIGNALS {
            let job = job_of(&row);
            let task = TaskBuilder::new(serde_json::to_vec(&job)?)
                .task_id(TaskId::from_ulid(Ulid::generate()))
                .idempotency_key(&job.dedup_key)
                .max_attempts(MAX_ATTEMPTS)
                .build();
            // A duplicate key aborts the statement: keep it in a savepoint.
            let mut sp = sqlx::Acquire::begin(&mut *tx).await?;
            match apalis_postgres::queries::push_tasks(
                &mut *sp,
                RecomputeSignals::QUEUE,
                vec![task],
            )
            .await
            {
                Ok(()) => sp.commit().await?,
                Err(e) if pg_unique_violation(&e) => {
                    sp.rollback().await?;
                    tracing::debug!(key = %row.dedup_key, "outbox: job already queued");
                }
                Err(e) => return Err(e.into()),
            }
        } else {
            tracing::warn!(id = row.id, kind = %row.kind, "outbox: unknown kind, dropped");
        }
        sqlx::query("UPDATE outbox SET relayed_at = now() WHERE id = $1")
            .bind(row.id)
            .execute(&mut *tx)
            .await?;
    }
    tx.commit().await?;
    Ok(n)
}

/// SQLite: the queue is another file, so push first (idempotent by key),
/// then mark relayed; a crash in between relays the row again, harmlessly.
async fn relay_once_sqlite(app: &Ctx, queue: &Queue) -> anyhow::Result<usize> {
    let rows = outbox::Entity::find()
        .filter(outbox::Column::RelayedAt.is_null())
        .order_by_asc(outbox::Column::Id)
        .limit(RELAY_BATCH)
        .all(&app.db.read)
        .await?;
    if rows.is_empty() {
        return Ok(0);
    }
    for row in &rows {
        if row.kind == RECOMPUTE_SIGNALS {
            queue.push(&job_of(row)).await?;
        } else {
            tracing::warn!(id = row.id, kind = %row.kind, "outbox: unknown kind, dropped");
        }
    }
    let txn = app.db.begin().await?;
    outbox::Entity::update_many()
        .col_expr(
            outbox::Column::RelayedAt,
            Expr::value(salesguard_domain::clock::now()),
        )
        .filter(outbox::Column::Id.is_in(rows.iter().map(|r| r.id)))
        .filter(outbox::Column::RelayedAt.is_null())
        .exec(&txn)
        .await?;
    txn.commit().await?;
    Ok(rows.len())
}

pub(crate) async fn relay_loop(app: Ctx, queue: Queue, mut stop: watch::Receiver<bool>) {
    let mut tick = tokio::time::interval(RELAY_INTERVAL);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            _ = stop.wait_for(|s| *s) => return,
            _ = tick.tick() => {}
        }
        match relay_once(&app, &queue).await {
            Ok(0) => {}
            Ok(n) => tracing::info!(rows = n, "outbox relayed"),
            Err(e) => tracing::warn!(error = %format!("{e:#}"), "outbox relay failed"),
        }
    }
}
