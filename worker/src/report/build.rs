//! Gathers what one manager's weekly report says, for the regions that
//! manager sees: the headline figures and charts' series from the metrics
//! engine (`salesguard_analytics::metrics`), the open signals and what changed
//! during the week, the worst agents and salespeople, forecast accuracy per
//! region and the check-points of SPEC S2 that need a decision.
use std::collections::{BTreeMap, HashMap, HashSet};

use chrono::{DateTime, Datelike, Duration, NaiveDate, TimeZone, Utc};
use chrono_tz::Tz;
use sea_orm::{ColumnTrait, EntityTrait, QueryFilter, QueryOrder};

use crate::Ctx;
use salesguard_analytics::metrics::{
    self, Dimension, Metric, MetricFilter, MetricQuery, MetricRow, Period,
};
use salesguard_analytics::report::ReportFigures;
use salesguard_domain::risk::{RiskChangeType, RiskSeverity};
use salesguard_domain::Position;
use salesguard_entities::model::{
    agent, receivable, region, risk_signal, risk_signal_change, sales_order, shipment_exception,
    user, user_region,
};

use super::Week;

/// A manager who gets a report, with the regions they see.
#[derive(Debug, Clone)]
pub struct Manager {
    pub user: user::Model,
    /// Sees every region.
    pub all_regions: bool,
    /// The regions assigned (not their sub-areas), for the report's title.
    pub assigned: Vec<region::Model>,
    /// Every region seen, with the sub-areas (empty when `all_regions`).
    pub visible: Vec<i64>,
}

impl Manager {
    fn sees(&self, region_id: Option<i64>) -> bool {
        match region_id {
            Some(r) => self.all_regions || self.visible.contains(&r),
            // Company-wide signals: company-wide readers only.
            None => self.all_regions,
        }
    }
    fn scope(&self) -> Option<&[i64]> {
        (!self.all_regions).then_some(self.visible.as_slice())
    }
}

/// The active managers (management and supervisors) who see at least one
/// region, by id.
pub async fn managers(app: &Ctx) -> anyhow::Result<Vec<Manager>> {
    let db = &app.db.read;
    let users = user::Entity::find()
        .filter(user::Column::Active.eq(true))
        .filter(
            user::Column::Position
                .is_in([Position::Supervisor.as_str(), Position::Management.as_str()]),
        )
        .order_by_asc(user::Column::Id)
        .all(db)
        .await?;
    let regions = region::Entity::find().all(db).await?;
    let links = user_region::Entity::find()
        .filter(user_region::Column::UserId.is_in(users.iter().map(|u| u.id)))
        .all(db)
        .await?;
    let mut out = vec![];
    for u in users {
        let roots: Vec<i64> = links
            .iter()
            .filter(|l| l.user_id == u.id)
            .map(|l| l.region_id)
            .collect();
        let all_regions = u.global_scope;
        let mut visible: Vec<i64> = if all_regions {
            vec![]
        } else {
            salesguard_domain::regions::expand(&regions, &roots)
                .into_iter()
                .collect()
        };
        visible.sort_unstable();
        if !all_regions && visible.is_empty() {
            tracing::info!(user = %u.username, "manager sees no region: no weekly report");
            continue;
        }
        let mut assigned: Vec<region::Model> = regions
            .iter()
            .filter(|r| roots.contains(&r.id))
            .cloned()
            .collect();
        assigned.sort_by(|a, b| a.code.cmp(&b.code));
        out.push(Manager {
            user: u,
            all_regions,
            assigned,
            visible,
        });
    }
    Ok(out)
}

/// One week-end point of the AR/DSO trend.
#[derive(Debug, Clone, PartialEq)]
pub struct TrendPoint {
    pub week_end: NaiveDate,
    pub ar_fen: Option<i64>,
    pub dso: Option<f64>,
}

/// Forecast accuracy of one region over the complete months before.
#[derive(Debug, Clone, PartialEq)]
pub struct RegionForecast {
    pub code: String,
    pub name: String,
    pub wape: Option<f64>,
    pub bias: Option<f64>,
}

/// Forecast against actual units of one month.
#[derive(Debug, Clone, PartialEq)]
pub struct MonthUnits {
    pub month: String,
    pub forecast: Option<f64>,
    pub actual: Option<f64>,
}

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

/// A change of a signal during the week.
#[derive(Debug, Clone)]
pub struct SignalChange {
    pub change: RiskChangeType,
    pub at: DateTime<Utc>,
    pub signal: risk_signal::Model,
}

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

/// Everything one report says.
#[derive(Debug, Clone)]
pub struct ReportData {
    pub week: Week,
    /// The business day the check-points and signals were read on.
    pub as_of: NaiveDate,
    /// The business time zone.
    pub tz: Tz,
    pub manager: Manager,
    /// Region names by id (every region), for labels.
    pub region_names: HashMap<i64, (String, String)>,
    pub figures: ReportFigures,
    pub trend: Vec<TrendPoint>,
    /// Current, 1–30, 31–60, 61–90, 91–120, >120 days past due.
    pub aging: Vec<Option<i64>>,
    pub forecast_regions: Vec<RegionForecast>,
    pub forecast_months: Vec<MonthUnits>,
    /// Open signals, worst first.
    pub open_signals: Vec<risk_signal::Model>,
    pub changes: Vec<SignalChange>,
    pub worst_agents: Vec<Ranked>,
    pub worst_salespeople: Vec<Ranked>,
    pub checkpoints: Vec<Checkpoint>,
}

/// The metrics engine, stopping at its first error (which the report shows).
struct Figures<'a> {
    src: metrics::Source<'a>,
    scope: Option<&'a [i64]>,
    error: Option<String>,
}

impl Figures<'_> {
    async fn get(
        &mut self,
        metric: Metric,
        period: Option<Period>,
        group_by: Vec<Dimension>,
        from: NaiveDate,
        to: NaiveDate,
    ) -> Vec<MetricRow> {
        if self.error.is_some() {
            return vec![];
        }
        let q = MetricQuery {
            metric,
            period,
            group_by,
            from,
            to,
            filter: MetricFilter::default(),
        };
        match metrics::compute(&self.src, self.scope, &q).await {
            Ok(rows) => rows,
            Err(e) => {
                tracing::warn!(?metric, error = %e, "weekly report: metric not available");
                self.error = Some(format!("{metric:?}: {e}"));
                vec![]
            }
        }
    }
}

fn money_of(r: &MetricRow) -> Option<i64> {
    r.amount_fen
        .or_else(|| r.value.map(|v| (v * 100.0).round() as i64))
}

/// The start of business day `d` in UTC.
pub fn day_start(tz: Tz, d: NaiveDate) -> DateTime<Utc> {
    let naive = d.and_hms_opt(0, 0, 0).unwrap_or_default();
    tz.from_local_datetime(&naive)
        .earliest()
        .map(|t| t.with_timezone(&Utc))
        .unwrap_or_else(|| Utc.from_utc_datetime(&naive))
}

fn first_of_month(d: NaiveDate, back: i32) -> NaiveDate {
    let m = d.year() * 12 + d.month0() as i32 - back;
    NaiveDate::from_ymd_opt(m.div_euclid(12), m.rem_euclid(12) as u32 + 1, 1).unwrap_or(d)
}

/// Gathers the report of `manager` for `week`; `now` is when it is built.
pub async fn gather(
    app: &Ctx,
    manager: &Manager,
    week: Week,
    now: DateTime<Utc>,
) -> anyhow::Result<ReportData> {
    let db = &app.db.read;
    let tz = app.tz;
    let as_of = now.with_timezone(&tz).date_naive();
    let regions = region::Entity::find().all(db).await?;
    let region_names: HashMap<i64, (String, String)> = regions
        .iter()
        .map(|r| (r.id, (r.code.clone(), r.name.clone())))
        .collect();
    let mut fig = Figures {
        src: metrics::Source {
            db,
            tz,
            ar_window_days: app.settings.signals.ar_window_days,
            regions: &regions,
        },
        scope: manager.scope(),
        error: None,
    };

    // ---- headline figures: the week, the week before, the 13 weeks before
    let from = week.start - Duration::days(91);
    let weekly = |rows: Vec<MetricRow>| -> BTreeMap<NaiveDate, MetricRow> {
        rows.into_iter()
            .filter_map(|r| r.period_start.map(|s| (s, r)))
            .collect()
    };
    let sales = weekly(
        fig.get(Metric::Sales, Some(Period::Week), vec![], from, week.end)
            .await,
    );
    let coll = weekly(
        fig.get(
            Metric::Collections,
            Some(Period::Week),
            vec![],
            from,
            week.end,
        )
        .await,
    );
    let ar = weekly(
        fig.get(Metric::Ar, Some(Period::Week), vec![], from, week.end)
            .await,
    );
    let dso = weekly(
        fig.get(Metric::Dso, Some(Period::Week), vec![], from, week.end)
            .await,
    );
    let last = week.start - Duration::days(7);
    let quarter: Vec<NaiveDate> = (1..=13)
        .map(|k| week.start - Duration::days(7 * k))
        .collect();
    let have_figures = fig.error.is_none();
    let flow = |m: &BTreeMap<NaiveDate, MetricRow>, d: NaiveDate| -> Option<i64> {
        have_figures.then(|| m.get(&d).and_then(money_of).unwrap_or(0))
    };
    let flow_avg = |m: &BTreeMap<NaiveDate, MetricRow>| -> Option<i64> {
        have_figures.then(|| {
            let sum: i64 = quarter
                .iter()
                .map(|d| m.get(d).and_then(money_of).unwrap_or(0))
                .sum();
            (sum as f64 / 13.0).round() as i64
        })
    };
    let stock_avg = |vals: Vec<f64>| -> Option<f64> {
        (!vals.is_empty()).then(|| vals.iter().sum::<f64>() / vals.len() as f64)
    };
    let ar_at = |d: NaiveDate| ar.get(&d).and_then(money_of);
    let dso_at = |d: NaiveDate| dso.get(&d).and_then(|r| r.value);
    let mut figures = ReportFigures {
        sales_fen: flow(&sales, week.start),
        sales_last_week_fen: flow(&sales, last),
        sales_quarter_avg_fen: flow_avg(&sales),
        collections_fen: flow(&coll, week.start),
        collections_last_week_fen: flow(&coll, last),
        collections_quarter_avg_fen: flow_avg(&coll),
        ar_fen: ar_at(week.start),
        ar_last_week_fen: ar_at(last),
        ar_quarter_avg_fen: stock_avg(
            quarter
                .iter()
                .filter_map(|d| ar_at(*d))
                .map(|f| f as f64)
                .collect(),
        )
        .map(|v| v.round() as i64),
        dso: dso_at(week.start),
        dso_last_week: dso_at(last),
        dso_quarter_avg: stock_avg(quarter.iter().filter_map(|d| dso_at(*d)).collect()),
        ..ReportFigures::default()
    };
    let trend: Vec<TrendPoint> = (0..=12)
        .rev()
        .map(|k| {
            let start = week.start - Duration::days(7 * k);
            TrendPoint {
                week_end: start + Duration::days(6),
                ar_fen: ar_at(start),
                dso: dso_at(start),
            }
        })
        .collect();

    // ---- aging at the week's end
    let mut aging = vec![];
    for m in [
        Metric::ArCurrent,
        Metric::ArPastDue1To30,
        Metric::ArPastDue31To60,
        Metric::ArPastDue61To90,
        Metric::ArPastDue91To120,
        Metric::ArPastDueOver120,
    ] {
        let rows = fig.get(m, None, vec![], week.start, week.end).await;
        aging.push(if fig.error.is_some() {
            None
        } else {
            Some(rows.first().and_then(money_of).unwrap_or(0))
        });
    }

    // ---- forecast accuracy over the complete months before the week's end
    let f_from = first_of_month(week.end, 6);
    let f_to = first_of_month(week.end, 0) - Duration::days(1);
    let wape = fig
        .get(
            Metric::ForecastWape,
            None,
            vec![Dimension::Region],
            f_from,
            f_to,
        )
        .await;
    let bias = fig
        .get(
            Metric::ForecastBias,
            None,
            vec![Dimension::Region],
            f_from,
            f_to,
        )
        .await;
    let mut by_region: BTreeMap<i64, (Option<f64>, Option<f64>)> = BTreeMap::new();
    for r in wape {
        if let Some(id) = r.region_id {
            by_region.entry(id).or_default().0 = r.value;
        }
    }
    for r in bias {
        if let Some(id) = r.region_id {
            by_region.entry(id).or_default().1 = r.value;
        }
    }
    let mut forecast_regions: Vec<RegionForecast> = by_region
        .into_iter()
        .filter(|(id, _)| manager.sees(Some(*id)))
        .map(|(id, (wape, bias))| {
            let (code, name) = region_names.get(&id).cloned().unwrap_or_default();
            RegionForecast {
                code,
                name,
                wape,
                bias,
            }
        })
        .collect();
    forecast_regions.sort_by(|a, b| a.code.cmp(&b.code));
    let fc = fig
        .get(
            Metric::ForecastUnits,
            Some(Period::Month),
            vec![],
            f_from,
            f_to,
        )
        .await;
    let sold = fig
        .get(Metric::UnitsSold, Some(Period::Month), vec![], f_from, f_to)
        .await;
    let have_units = fig.error.is_none();
    let forecast_months: Vec<MonthUnits> = (1..=6)
        .rev()
        .map(|k| {
            let m = first_of_month(week.end, k);
            let pick = |rows: &[MetricRow]| {
                have_units.then(|| {
                    rows.iter()
                        .find(|r| r.period_start == Some(m))
                        .and_then(|r| r.value)
                        .unwrap_or(0.0)
                })
            };
            MonthUnits {
                month: m.format("%Y-%m").to_string(),
                forecast: pick(&fc),
                actual: pick(&sold),
            }
        })
        .collect();
    figures.metrics_error = fig.error.clone();

    // ---- signals: open now, and what changed during the week
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

    // ---- agents, receivables and orders of the scope
    let agent_q = agent::Entity::find();
    let agents: Vec<agent::Model> = match manager.scope() {
        Some(ids) => agent_q.filter(agent::Column::RegionId.is_in(ids.to_vec())),
        None => agent_q,
    }
    .all(db)
    .await?;
    let agent_by_id: HashMap<i64, &agent::Model> = agents.iter().map(|a| (a.id, a)).collect();
    let rec_q = receivable::Entity::find().filter(receivable::Column::OutstandingFen.gt(0));
    let receivables: Vec<receivable::Model> = match manager.scope() {
        Some(ids) => rec_q.filter(receivable::Column::RegionId.is_in(ids.to_vec())),
        None => rec_q,
    }
    .all(db)
    .await?;
    let pending_q =
        sales_order::Entity::find().filter(sales_order::Column::Status.eq("PENDING_APPROVAL"));
    let pending: Vec<sales_order::Model> = match manager.scope() {
        Some(ids) => pending_q.filter(sales_order::Column::RegionId.is_in(ids.to_vec())),
        None => pending_q,
    }
    .all(db)
    .await?;
    let exceptions: Vec<shipment_exception::Model> = shipment_exception::Entity::find()
        .filter(shipment_exception::Column::UsedAt.is_null())
        .filter(shipment_exception::Column::ExpiresAt.gt(now))
        .all(db)
        .await?;
    let order_ids: HashSet<i64> = receivables
        .iter()
        .map(|r| r.order_id)
        .chain(exceptions.iter().map(|e| e.order_id))
        .collect();
    let orders: HashMap<i64, sales_order::Model> = if order_ids.is_empty() {
        HashMap::new()
    } else {
        sales_order::Entity::find()
            .filter(sales_order::Column::Id.is_in(order_ids))
            .all(db)
            .await?
            .into_iter()
            .map(|o| (o.id, o))
            .collect()
    };
    let agent_label = |id: i64| {
        agent_by_id
            .get(&id)
            .map(|a| format!("{} {}", a.code, a.name))
            .unwrap_or_default()
    };
    let region_label = |id: i64| {
        region_names
            .get(&id)
            .map(|(c, n)| format!("{n} ({c})"))
            .unwrap_or_default()
    };

    // ---- the worst agents and salespeople
    let mut agent_rank: HashMap<i64, Ranked> = HashMap::new();
    for a in &agents {
        agent_rank.insert(
            a.id,
            Ranked {
                label: format!("{} {}", a.code, a.name),
                region: region_label(a.region_id),
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
    for s in &open_signals {
        if let Some(a) = s.agent_id.and_then(|id| agent_rank.get_mut(&id)) {
            count(a, &s.severity);
        }
        if let Some(p) = s.salesperson_id {
            let e = people_rank
                .entry(p)
                .or_insert_with(|| blank(s.region_id.map(region_label).unwrap_or_default()));
            count(e, &s.severity);
        }
    }
    for r in &receivables {
        if let Some(o) = orders.get(&r.order_id) {
            people_rank
                .entry(o.salesperson_id)
                .or_insert_with(|| blank(region_label(o.region_id)))
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
    let rank = |m: HashMap<i64, Ranked>| -> Vec<Ranked> {
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
    };
    let worst_agents = rank(agent_rank);
    let worst_salespeople = rank(people_rank);

    // ---- check-points (SPEC S2)
    let mut checkpoints = vec![];
    let waited = now - Duration::days(2);
    let mut approval: Vec<&sales_order::Model> =
        pending.iter().filter(|o| o.updated_at < waited).collect();
    approval.sort_by_key(|o| o.updated_at);
    checkpoints.push(Checkpoint {
        kind: CheckpointKind::ApprovalWaiting,
        count: approval.len() as i64,
        amount_fen: Some(approval.iter().map(|o| o.total_fen).sum()),
        items: approval
            .iter()
            .take(10)
            .map(|o| CheckItem {
                reference: o.number.clone(),
                party: agent_label(o.agent_id),
                amount_fen: Some(o.total_fen),
                detail: o.updated_at.with_timezone(&tz).date_naive().to_string(),
                days: Some((now - o.updated_at).num_days()),
            })
            .collect(),
    });
    let mut excs: Vec<(&shipment_exception::Model, &sales_order::Model)> = exceptions
        .iter()
        .filter_map(|e| orders.get(&e.order_id).map(|o| (e, o)))
        .filter(|(_, o)| manager.sees(Some(o.region_id)))
        .collect();
    excs.sort_by_key(|(e, _)| e.expires_at);
    checkpoints.push(Checkpoint {
        kind: CheckpointKind::ShipmentExceptions,
        count: excs.len() as i64,
        amount_fen: Some(excs.iter().map(|(e, _)| e.amount_fen).sum()),
        items: excs
            .iter()
            .take(10)
            .map(|(e, o)| CheckItem {
                reference: o.number.clone(),
                party: agent_label(o.agent_id),
                amount_fen: Some(e.amount_fen),
                detail: e
                    .expires_at
                    .with_timezone(&tz)
                    .format("%Y-%m-%d %H:%M")
                    .to_string(),
                days: Some((e.expires_at - now).num_days()),
            })
            .collect(),
    });
    let mut overdue: Vec<&receivable::Model> =
        receivables.iter().filter(|r| r.due_on < as_of).collect();
    overdue.sort_by_key(|r| (r.due_on, -r.outstanding_fen));
    checkpoints.push(Checkpoint {
        kind: CheckpointKind::OverdueReceivables,
        count: overdue.len() as i64,
        amount_fen: Some(overdue.iter().map(|r| r.outstanding_fen).sum()),
        items: overdue
            .iter()
            .take(10)
            .map(|r| CheckItem {
                reference: orders
                    .get(&r.order_id)
                    .map(|o| o.number.clone())
                    .unwrap_or_default(),
                party: agent_label(r.agent_id),
                amount_fen: Some(r.outstanding_fen),
                detail: r.due_on.to_string(),
                days: Some((as_of - r.due_on).num_days()),
            })
            .collect(),
    });
    let mut credit: Vec<&agent::Model> = agents
        .iter()
        .filter(|a| a.credit_limit_fen > 0 && a.ar_outstanding_fen * 10 >= a.credit_limit_fen * 9)
        .collect();
    credit.sort_by(|a, b| {
        (b.ar_outstanding_fen as f64 / b.credit_limit_fen as f64)
            .total_cmp(&(a.ar_outstanding_fen as f64 / a.credit_limit_fen as f64))
    });
    checkpoints.push(Checkpoint {
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
    });
    let critical: Vec<&risk_signal::Model> = open_signals
        .iter()
        .filter(|s| s.severity == RiskSeverity::Critical.as_str())
        .collect();
    checkpoints.push(Checkpoint {
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
                days: Some((now - s.raised_at).num_days()),
            })
            .collect(),
    });
    figures.checkpoints = checkpoints.iter().map(|c| c.count).sum();

    Ok(ReportData {
        week,
        as_of,
        tz,
        manager: manager.clone(),
        region_names,
        figures,
        trend,
        aging,
        forecast_regions,
        forecast_months,
        open_signals,
        changes,
        worst_agents,
        worst_salespeople,
        checkpoints,
    })
}
