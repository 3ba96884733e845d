//! The risk check-points of SPEC S2 that need a decision: contracts waiting
//! for approval, unused shipment exceptions, overdue receivables, agents
//! near their credit limit and critical signals.
use chrono::{DateTime, Duration, NaiveDate, Utc};
use chrono_tz::Tz;

use salesguard_domain::risk::RiskSeverity;
use salesguard_entities::model::{agent, receivable, risk_signal, sales_order, shipment_exception};

use super::books::{Books, Labels};
use super::Manager;

/// The risk check-points of SPEC S2 the report asks a decision on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CheckpointKind {
    /// Contracts waiting for approval for more than two days.
    ApprovalWaiting,
    /// Shipments allowed before full payment, not used yet (expiring soon first).
    ShipmentExceptions,
    /// Receivables past their due date.
    OverdueReceivables,
    /// Agents at 90% or more of their credit limit.
    CreditLimit,
    /// Risk signals open at CRITICAL.
    CriticalSignals,
}

#[derive(Debug, Clone, PartialEq)]
pub struct CheckItem {
    /// The document or subject (order number, agent, signal).
    pub reference: String,
    pub party: String,
    pub amount_fen: Option<i64>,
    /// A date, a number of days or a figure, already formatted.
    pub detail: String,
    /// Days (waiting, past due, until expiry), for the wording.
    pub days: Option<i64>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Checkpoint {
    pub kind: CheckpointKind,
    pub count: i64,
    pub amount_fen: Option<i64>,
    /// The first ones (at most 10), most urgent first.
    pub items: Vec<CheckItem>,
}

/// What the check-points are read against.
pub(super) struct At<'a> {
    pub(super) manager: &'a Manager,
    pub(super) tz: Tz,
    /// When the report is built.
    pub(super) now: DateTime<Utc>,
    /// The business day of `now`.
    pub(super) as_of: NaiveDate,
}

/// Every check-point, in the order the report shows them.
pub(super) fn checkpoints(
    at: &At,
    books: &Books,
    labels: &Labels,
    open_signals: &[risk_signal::Model],
) -> Vec<Checkpoint> {
    vec![
        approval_waiting(at, books, labels),
        shipment_exceptions(at, books, labels),
        overdue_receivables(at, books, labels),
        credit_limit(books),
        critical_signals(at, open_signals),
    ]
}

fn approval_waiting(at: &At, books: &Books, labels: &Labels) -> Checkpoint {
    let (tz, now) = (at.tz, at.now);
    let waited = now - Duration::days(2);
    let mut approval: Vec<&sales_order::Model> = books
        .pending
        .iter()
        .filter(|o| o.updated_at < waited)
        .collect();
    approval.sort_by_key(|o| o.updated_at);
    Checkpoint {
        kind: CheckpointKind::ApprovalWaiting,
        count: approval.len() as i64,
        amount_fen: Some(approval.iter().map(|o| o.total_fen).sum()),
        items: approval
            .iter()
            .take(10)
            .map(|o| CheckItem {
                reference: o.number.clone(),
                party: labels.agent(o.agent_id),
                amount_fen: Some(o.total_fen),
                detail: o.updated_at.with_timezone(&tz).date_naive().to_string(),
                days: Some((now - o.updated_at).num_days()),
            })
            .collect(),
    }
}

fn shipment_exceptions(at: &At, books: &Books, labels: &Labels) -> Checkpoint {
    let (tz, now) = (at.tz, at.now);
    let mut excs: Vec<(&shipment_exception::Model, &sales_order::Model)> = books
        .exceptions
        .iter()
        .filter_map(|e| books.orders.get(&e.order_id).map(|o| (e, o)))
        .filter(|(_, o)| at.manager.sees(Some(o.region_id)))
        .collect();
    excs.sort_by_key(|(e, _)| e.expires_at);
    Checkpoint {
        kind: CheckpointKind::ShipmentExceptions,
        count: excs.len() as i64,
        amount_fen: Some(excs.iter().map(|(e, _)| e.amount_fen).sum()),
        items: excs
            .iter()
            .take(10)
            .map(|(e, o)| CheckItem {
                reference: o.number.clone(),
                party: labels.agent(o.agent_id),
                amount_fen: Some(e.amount_fen),
                detail: e
                    .expires_at
                    .with_timezone(&tz)
                    .format("%Y-%m-%d %H:%M")
                    .to_string(),
                days: Some((e.expires_at - now).num_days()),
            })
            .collect(),
    }
}

fn overdue_receivables(at: &At, books: &Books, labels: &Labels) -> Checkpoint {
    let as_of = at.as_of;
    let mut overdue: Vec<&receivable::Model> = books
        .receivables
        .iter()
        .filter(|r| r.due_on < as_of)
        .collect();
    overdue.sort_by_key(|r| (r.due_on, -r.outstanding_fen));
    Checkpoint {
        kind: CheckpointKind::OverdueReceivables,
        count: overdue.len() as i64,
        amount_fen: Some(overdue.iter().map(|r| r.outstanding_fen).sum()),
        items: overdue
            .iter()
            .take(10)
            .map(|r| CheckItem {
                reference: books
                    .orders
                    .get(&r.order_id)
                    .map(|o| o.number.clone())
                    .unwrap_or_default(),
                party: labels.agent(r.agent_id),
                amount_fen: Some(r.outstanding_fen),
                detail: r.due_on.to_string(),
                days: Some((as_of - r.due_on).num_days()),
            })
            .collect(),
    }
}

fn credit_limit(books: &Books) -> Checkpoint {
    let mut credit: Vec<&agent::Model> = books
        .agents
        .iter()
        .filter(|a| a.credit_limit_fen > 0 && a.ar_outstanding_fen * 10 >= a.credit_limit_fen * 9)
        .collect();
    credit.sort_by(|a, b| {
        (b.ar_outstanding_fen as f64 / b.credit_limit_fen as f64)
            .total_cmp(&(a.ar_outstanding_fen as f64 / a.credit_limit_fen as f64))
    });
    Checkpoint {
        kind: CheckpointKind::CreditLimit,
        count: credit.len() as i64,
        amount_fen: Some(credit.iter().map(|a| a.ar_outstanding_fen).sum()),
        items: credit
            .iter()
            .take(10)
            .map(|a| CheckItem {
                reference: a.code.clone(),
                party: a.name.clone(),
                amount_fen: Some(a.ar_outstanding_fen),
                detail: format!(
                    "{:.0}%",
                    a.ar_outstanding_fen as f64 * 100.0 / a.credit_limit_fen as f64
                ),
                days: None,
            })
            .collect(),
    }
}

fn critical_signals(at: &At, open_signals: &[risk_signal::Model]) -> Checkpoint {
    let critical: Vec<&risk_signal::Model> = open_signals
        .iter()
        .filter(|s| s.severity == RiskSeverity::Critical.as_str())
        .collect();
    Checkpoint {
        kind: CheckpointKind::CriticalSignals,
        count: critical.len() as i64,
        amount_fen: None,
        items: critical
            .iter()
            .take(10)
            .map(|s| CheckItem {
                reference: s.kind.clone(),
                party: s.subject_label.clone(),
                amount_fen: None,
                detail: s.summary.clone(),
                days: Some((at.now - s.raised_at).num_days()),
            })
            .collect(),
    }
}
