//! Writes computed signals: a signal whose fingerprint has no open row is
//! raised; an open one is updated (with a history row when its severity
//! changed); an open one no longer computed is cleared. Runs inside the
//! caller's transaction, so a run is written whole or not at all.
use std::collections::HashMap;

use chrono::{DateTime, Utc};
use sea_orm::{
    ActiveModelTrait, ColumnTrait, ConnectionTrait, DatabaseTransaction, DbBackend, EntityTrait,
    QueryFilter, Set, Statement,
};

use salesguard_entities::model::{risk_signal, risk_signal_change};

use super::{Severity, Signal};

/// What a store did.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Applied {
    pub raised: i64,
    pub escalated: i64,
    pub cleared: i64,
    pub open: i64,
}

/// Serializes concurrent writers of the signals (PostgreSQL; on SQLite the
/// write transaction already does).
pub async fn lock(txn: &DatabaseTransaction) -> Result<(), sea_orm::DbErr> {
    if txn.get_database_backend() == DbBackend::Postgres {
        txn.execute_raw(Statement::from_string(
            DbBackend::Postgres,
            "SELECT pg_advisory_xact_lock(72611291)",
        ))
        .await?;
    }
    Ok(())
}

fn change(
    signal_id: i64,
    kind: &str,
    severity: &str,
    value: f64,
    at: DateTime<Utc>,
    run_id: Option<i64>,
) -> risk_signal_change::ActiveModel {
    risk_signal_change::ActiveModel {
        signal_id: Set(signal_id),
        change: Set(kind.into()),
        severity: Set(severity.into()),
        value: Set(value),
        at: Set(at),
        run_id: Set(run_id),
        ..Default::default()
    }
}

pub async fn apply(
    txn: &DatabaseTransaction,
    signals: &[Signal],
    now: DateTime<Utc>,
    run_id: Option<i64>,
) -> Result<Applied, sea_orm::DbErr> {
    lock(txn).await?;
    let mut open: HashMap<String, risk_signal::Model> = risk_signal::Entity::find()
        .filter(risk_signal::Column::ClearedAt.is_null())
        .all(txn)
        .await?
        .into_iter()
        .map(|m| (m.fingerprint.clone(), m))
        .collect();
    let mut done = Applied::default();
    let mut changes = vec![];
    for s in signals {
        let fp = s.fingerprint();
        let value = super::round6(s.value);
        let threshold = super::round6(s.threshold);
        match open.remove(&fp) {
            Some(m) => {
                let before = Severity::parse(&m.severity).unwrap_or(Severity::Watch);
                let peak = Severity::parse(&m.peak_severity)
                    .unwrap_or(before)
                    .max(s.severity);
                let evidence = s.evidence_json();
                let unchanged = before == s.severity
                    && m.value == value
                    && m.threshold == threshold
                    && m.summary == s.summary
                    && m.evidence == evidence
                    && m.period_start == s.period_start
                    && m.period_end == s.period_end;
                if unchanged {
                    continue;
                }
                let id = m.id;
                let mut am: risk_signal::ActiveModel = m.into();
                am.severity = Set(s.severity.as_str().into());
                am.peak_severity = Set(peak.as_str().into());
                am.value = Set(value);
                am.threshold = Set(threshold);
                am.summary = Set(s.summary.clone());
                am.evidence = Set(evidence);
                am.period_start = Set(s.period_start);
                am.period_end = Set(s.period_end);
                am.updated_at = Set(now);
                am.run_id = Set(run_id);
                am.update(txn).await?;
                if s.severity != before {
                    let kind = if s.severity > before {
                        done.escalated += 1;
                        "ESCALATED"
                    } else {
                        "DEESCALATED"
                    };
                    changes.push(change(id, kind, s.severity.as_str(), value, now, run_id));
                }
            }
            None => {
                let m = risk_signal::ActiveModel {
                    fingerprint: Set(fp),
                    kind: Set(s.kind.as_str().into()),
                    rule: Set(s.rule.into()),
                    subject_type: Set(s.subject_type.as_str().into()),
                    subject_id: Set(s.subject_id),
                    subject_label: Set(s.subject_label.clone()),
                    region_id: Set(s.region_id),
                    agent_id: Set(s.agent_id),
                    salesperson_id: Set(s.salesperson_id),
                    product_id: Set(s.product_id),
                    period_start: Set(s.period_start),
                    period_end: Set(s.period_end),
                    severity: Set(s.severity.as_str().into()),
                    peak_severity: Set(s.severity.as_str().into()),
                    value: Set(value),
                    threshold: Set(threshold),
                    unit: Set(s.unit.into()),
                    formula: Set(s.formula.into()),
                    summary: Set(s.summary.clone()),
                    evidence: Set(s.evidence_json()),
                    raised_at: Set(now),
                    updated_at: Set(now),
                    cleared_at: Set(None),
                    run_id: Set(run_id),
                    ..Default::default()
                }
                .insert(txn)
                .await?;
                done.raised += 1;
                changes.push(change(
                    m.id,
                    "RAISED",
                    s.severity.as_str(),
                    value,
                    now,
                    run_id,
                ));
            }
        }
    }
    // What is left open no longer holds.
    let mut ids: Vec<i64> = vec![];
    for m in open.into_values() {
        changes.push(change(m.id, "CLEARED", &m.severity, m.value, now, run_id));
        ids.push(m.id);
    }
    for chunk in ids.chunks(500) {
        risk_signal::Entity::update_many()
            .col_expr(
                risk_signal::Column::ClearedAt,
                sea_orm::sea_query::Expr::value(now),
            )
            .col_expr(
                risk_signal::Column::UpdatedAt,
                sea_orm::sea_query::Expr::value(now),
            )
            .filter(risk_signal::Column::Id.is_in(chunk.iter().copied()))
            .exec(txn)
            .await?;
    }
    done.cleared = ids.len() as i64;
    for chunk in changes.chunks(200) {
        risk_signal_change::Entity::insert_many(chunk.to_vec())
            .exec(txn)
            .await?;
    }
    done.open = signals.len() as i64;
    Ok(done)
}
