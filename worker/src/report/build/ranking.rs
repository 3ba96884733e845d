//! The worst agents and salespeople: ranked by open signals (critical
//! first) and then by receivables.
use std::collections::HashMap;

use sea_orm::{ColumnTrait, DatabaseConnection, EntityTrait, QueryFilter};

use salesguard_domain::risk::RiskSeverity;
use salesguard_entities::model::{risk_signal, user};

use super::books::{Books, Labels};

/// An agent or salesperson ranked by open signals and receivables.
#[derive(Debug, Clone, PartialEq)]
pub struct Ranked {
    pub label: String,
    pub region: String,
    pub critical: i64,
    pub warning: i64,
    pub watch: i64,
    pub ar_fen: i64,
    /// Agents: the credit limit.
    pub credit_limit_fen: Option<i64>,
}

/// The five worst agents and the five worst salespeople.
pub(super) async fn worst(
    db: &DatabaseConnection,
    books: &Books,
    labels: &Labels<'_>,
    open_signals: &[risk_signal::Model],
) -> anyhow::Result<(Vec<Ranked>, Vec<Ranked>)> {
    let mut agent_rank: HashMap<i64, Ranked> = HashMap::new();
    for a in &books.agents {
        agent_rank.insert(
            a.id,
            Ranked {
                label: format!("{} {}", a.code, a.name),
                region: labels.region(a.region_id),
                critical: 0,
                warning: 0,
                watch: 0,
                ar_fen: a.ar_outstanding_fen,
                credit_limit_fen: Some(a.credit_limit_fen),
            },
        );
    }
    let mut people_rank: HashMap<i64, Ranked> = HashMap::new();
    let count = |r: &mut Ranked, sev: &str| match RiskSeverity::parse(sev) {
        Some(RiskSeverity::Critical) => r.critical += 1,
        Some(RiskSeverity::Warning) => r.warning += 1,
        Some(RiskSeverity::Watch) => r.watch += 1,
        None => {}
    };
    let blank = |region: String| Ranked {
        label: String::new(),
        region,
        critical: 0,
        warning: 0,
        watch: 0,
        ar_fen: 0,
        credit_limit_fen: None,
    };
    for s in open_signals {
        if let Some(a) = s.agent_id.and_then(|id| agent_rank.get_mut(&id)) {
            count(a, &s.severity);
        }
        if let Some(p) = s.salesperson_id {
            let e = people_rank.entry(p).or_insert_with(|| {
                blank(s.region_id.map(|id| labels.region(id)).unwrap_or_default())
            });
            count(e, &s.severity);
        }
    }
    for r in &books.receivables {
        if let Some(o) = books.orders.get(&r.order_id) {
            people_rank
                .entry(o.salesperson_id)
                .or_insert_with(|| blank(labels.region(o.region_id)))
                .ar_fen += r.outstanding_fen;
        }
    }
    if !people_rank.is_empty() {
        let names: HashMap<i64, String> = user::Entity::find()
            .filter(user::Column::Id.is_in(people_rank.keys().copied()))
            .all(db)
            .await?
            .into_iter()
            .map(|u| (u.id, u.display_name))
            .collect();
        for (id, r) in people_rank.iter_mut() {
            r.label = names.get(id).cloned().unwrap_or_default();
        }
    }
    Ok((rank(agent_rank), rank(people_rank)))
}

/// The five with the most critical, warning and watch signals, then the
/// largest receivables.
fn rank(m: HashMap<i64, Ranked>) -> Vec<Ranked> {
    let mut v: Vec<Ranked> = m
        .into_values()
        .filter(|r| r.critical + r.warning + r.watch > 0 || r.ar_fen > 0)
        .collect();
    v.sort_by(|a, b| {
        (b.critical, b.warning, b.watch, b.ar_fen)
            .cmp(&(a.critical, a.warning, a.watch, a.ar_fen))
            .then(a.label.cmp(&b.label))
    });
    v.truncate(5);
    v
}
