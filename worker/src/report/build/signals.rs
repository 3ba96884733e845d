//! The risk signals of the report: those open now and what changed during
//! the week, in the regions the manager sees.
use std::collections::{HashMap, HashSet};

use chrono::{DateTime, Duration, Utc};
use chrono_tz::Tz;
use sea_orm::{ColumnTrait, DatabaseConnection, EntityTrait, QueryFilter, QueryOrder};

use salesguard_analytics::report::ReportFigures;
use salesguard_domain::risk::{RiskChangeType, RiskSeverity};
use salesguard_entities::model::{risk_signal, risk_signal_change};

use super::{day_start, Manager, Week};

/// A change of a signal during the week.
#[derive(Debug, Clone)]
pub struct SignalChange {
    pub change: RiskChangeType,
    pub at: DateTime<Utc>,
    pub signal: risk_signal::Model,
}

/// The open signals (worst first) and the week's changes; counts them in
/// `figures`.
pub(super) async fn open_and_changed(
    db: &DatabaseConnection,
    tz: Tz,
    manager: &Manager,
    week: Week,
    figures: &mut ReportFigures,
) -> anyhow::Result<(Vec<risk_signal::Model>, Vec<SignalChange>)> {
    let mut open_signals: Vec<risk_signal::Model> = risk_signal::Entity::find()
        .filter(risk_signal::Column::ClearedAt.is_null())
        .all(db)
        .await?
        .into_iter()
        .filter(|s| manager.sees(s.region_id))
        .collect();
    open_signals.sort_by(salesguard_analytics::risk::worst_first);
    for s in &open_signals {
        match RiskSeverity::parse(&s.severity) {
            Some(RiskSeverity::Critical) => figures.open_critical += 1,
            Some(RiskSeverity::Warning) => figures.open_warning += 1,
            Some(RiskSeverity::Watch) => figures.open_watch += 1,
            None => {}
        }
    }
    let (w_from, w_to) = (
        day_start(tz, week.start),
        day_start(tz, week.end + Duration::days(1)),
    );
    let week_changes = risk_signal_change::Entity::find()
        .filter(risk_signal_change::Column::At.gte(w_from))
        .filter(risk_signal_change::Column::At.lt(w_to))
        .filter(risk_signal_change::Column::Change.ne(RiskChangeType::Deescalated.as_str()))
        .order_by_asc(risk_signal_change::Column::Id)
        .all(db)
        .await?;
    let ids: HashSet<i64> = week_changes.iter().map(|c| c.signal_id).collect();
    let changed: HashMap<i64, risk_signal::Model> = if ids.is_empty() {
        HashMap::new()
    } else {
        risk_signal::Entity::find()
            .filter(risk_signal::Column::Id.is_in(ids))
            .all(db)
            .await?
            .into_iter()
            .filter(|s| manager.sees(s.region_id))
            .map(|s| (s.id, s))
            .collect()
    };
    let mut changes = vec![];
    for c in week_changes {
        let (Some(signal), Some(change)) =
            (changed.get(&c.signal_id), RiskChangeType::parse(&c.change))
        else {
            continue;
        };
        match change {
            RiskChangeType::Raised => figures.new_signals += 1,
            RiskChangeType::Escalated => figures.escalated_signals += 1,
            RiskChangeType::Cleared => figures.cleared_signals += 1,
            RiskChangeType::Deescalated => {}
        }
        changes.push(SignalChange {
            change,
            at: c.at,
            signal: signal.clone(),
        });
    }
    Ok((open_signals, changes))
}
