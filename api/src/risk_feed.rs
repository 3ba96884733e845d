//! Pushes risk signals to the `riskSignalRaised` subscriptions as the worker
//! raises or escalates them. The worker is often another process, so the API
//! cannot be called by it: a background task polls `risk_signal_changes` for
//! rows after the last one seen (starting from the newest row at start-up),
//! loads their signals and broadcasts them in this process; each
//! subscription keeps what its subscriber may see.
//!
//! Changes are found by id. On PostgreSQL a transaction holding a lower id
//! that commits after a higher one has been seen would be missed; the
//! worker writes one run in one transaction, so this does not happen with
//! one worker.
use std::sync::Arc;
use std::time::Duration;

use sea_orm::{
    ColumnTrait, DatabaseConnection, DbErr, EntityTrait, QueryFilter, QueryOrder, QuerySelect,
};
use tokio::sync::broadcast;
use tokio::task::JoinHandle;

use salesguard_entities::model::{risk_signal, risk_signal_change};

use crate::app::AppState;
use crate::risk::RiskChangeType;

/// How often the API looks for new changes.
pub const POLL_INTERVAL: Duration = Duration::from_secs(1);
/// Changes read per statement.
const BATCH: u64 = 500;

/// A signal raised or escalated, with the signal as it was when read.
#[derive(Debug, Clone)]
pub struct RiskEvent {
    pub change: risk_signal_change::Model,
    pub signal: risk_signal::Model,
}

/// In-process fan-out of new risk events to subscriptions.
#[derive(Clone)]
pub struct RiskFeed {
    tx: broadcast::Sender<Arc<RiskEvent>>,
}

impl Default for RiskFeed {
    fn default() -> Self {
        RiskFeed::new()
    }
}

impl RiskFeed {
    pub fn new() -> RiskFeed {
        let (tx, _) = broadcast::channel(1024);
        RiskFeed { tx }
    }
    pub fn subscribe(&self) -> broadcast::Receiver<Arc<RiskEvent>> {
        self.tx.subscribe()
    }
    fn publish(&self, e: RiskEvent) {
        // No subscriber is not an error.
        let _ = self.tx.send(Arc::new(e));
    }
}

/// The poller's position in `risk_signal_changes`.
pub struct Cursor {
    last_id: Option<i64>,
}

impl Cursor {
    /// A cursor that starts after the newest change when it first polls.
    pub fn at_end() -> Cursor {
        Cursor { last_id: None }
    }
}

async fn newest_change(db: &DatabaseConnection) -> Result<i64, DbErr> {
    let max: Option<Option<i64>> = risk_signal_change::Entity::find()
        .select_only()
        .column_as(risk_signal_change::Column::Id.max(), "max_id")
        .into_tuple()
        .one(db)
        .await?;
    Ok(max.flatten().unwrap_or(0))
}

/// Reads the changes after the cursor and publishes the raises and
/// escalations; returns how many it published.
pub async fn poll_once(app: &AppState, cursor: &mut Cursor) -> Result<usize, DbErr> {
    let db = &app.db.read;
    let Some(mut last) = cursor.last_id else {
        cursor.last_id = Some(newest_change(db).await?);
        return Ok(0);
    };
    let mut published = 0;
    loop {
        let rows = risk_signal_change::Entity::find()
            .filter(risk_signal_change::Column::Id.gt(last))
            .order_by_asc(risk_signal_change::Column::Id)
            .limit(BATCH)
            .all(db)
            .await?;
        let Some(newest) = rows.last().map(|r| r.id) else {
            break;
        };
        let full = rows.len() as u64 == BATCH;
        let wanted: Vec<_> = rows
            .into_iter()
            .filter(|c| {
                c.change == RiskChangeType::Raised.as_str()
                    || c.change == RiskChangeType::Escalated.as_str()
            })
            .collect();
        if !wanted.is_empty() && app.risk_feed.tx.receiver_count() > 0 {
            let signals: std::collections::HashMap<i64, risk_signal::Model> =
                risk_signal::Entity::find()
                    .filter(risk_signal::Column::Id.is_in(wanted.iter().map(|c| c.signal_id)))
                    .all(db)
                    .await?
                    .into_iter()
                    .map(|s| (s.id, s))
                    .collect();
            for change in wanted {
                if let Some(signal) = signals.get(&change.signal_id) {
                    app.risk_feed.publish(RiskEvent {
                        signal: signal.clone(),
                        change,
                    });
                    published += 1;
                }
            }
        }
        last = newest;
        cursor.last_id = Some(last);
        if !full {
            break;
        }
    }
    Ok(published)
}

/// Starts the poller; it runs until the handle is aborted.
pub fn spawn(app: AppState) -> JoinHandle<()> {
    tokio::spawn(async move {
        let mut cursor = Cursor::at_end();
        let mut tick = tokio::time::interval(POLL_INTERVAL);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tick.tick().await;
            if let Err(e) = poll_once(&app, &mut cursor).await {
                tracing::warn!(error = %e, "risk signal feed: polling failed; retrying");
            }
        }
    })
}
