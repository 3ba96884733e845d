//! The risk signals in the schema (docs/signals.md defines every figure):
//! the `RiskSignal` node, the `riskSignals` connection, the `riskOverview`
//! dashboard and the event pushed by `riskSignalRaised`. Every read is
//! scoped like the orders: signals of the reader's regions (with their
//! sub-areas); company-wide signals only for company-wide readers.
use std::collections::{HashMap, HashSet};
use std::sync::Arc;

use async_graphql::{Context, Enum, InputObject, Object, SimpleObject, ID};
use chrono::{DateTime, Utc};
use sea_orm::sea_query::{Expr, Query};
use sea_orm::{ColumnTrait, Condition, EntityTrait, Order, QueryFilter, QueryOrder};

use salesguard_entities::model::*;

use super::enums as gql;
use super::ids::encode;
use super::loaders;
use super::query::{actor, app, opt_id, paginate, region_scope, SortDirection};
use super::scalars::Date;
use super::types::{Agent, Invoice, Node, Product, Region, RiskSignalConnection, SalesOrder, User};
use crate::error::AppError;
use crate::risk::{
    self, Evidence, Period, RiskChangeType, RiskDocumentType, RiskPeriodUnit, RiskSeverity,
    RiskSignalKind, RiskSubjectType, SeverityCounts,
};
use crate::risk_feed::RiskEvent;

fn corrupt(what: &str, id: i64, detail: impl std::fmt::Display) -> AppError {
    AppError::Internal(anyhow::anyhow!("risk signal {id}: {what}: {detail}"))
}

fn severity(id: i64, s: &str) -> Result<gql::RiskSeverity, AppError> {
    RiskSeverity::parse(s)
        .map(Into::into)
        .ok_or_else(|| corrupt("unknown severity", id, s))
}

// ------------------------------------------------------------ the signal

/// An early-warning signal (SPEC S1.1) computed by the risk worker: open
/// while its condition holds, with the figures and documents behind it and
/// the history of its severity. docs/signals.md defines each kind and rule.
pub struct RiskSignal(pub risk_signal::Model);

impl RiskSignal {
    fn evidence_json(&self) -> Result<Evidence, AppError> {
        Evidence::parse(&self.0.evidence)
            .map_err(|e| corrupt("evidence is not valid", self.0.id, e))
    }
}

/// An early-warning signal (SPEC S1.1) computed by the risk worker: open
/// while its condition holds, with the figures and documents behind it and
/// the history of its severity. docs/signals.md defines each kind and rule.
#[Object]
impl RiskSignal {
    /// The global ID, for `node(id:)`.
    pub async fn id(&self) -> ID {
        encode("RiskSignal", self.0.id)
    }
    /// What the signal is about (docs/signals.md defines each kind).
    async fn kind(&self) -> Result<gql::RiskSignalKind, AppError> {
        RiskSignalKind::parse(&self.0.kind)
            .map(Into::into)
            .ok_or_else(|| corrupt("unknown kind", self.0.id, &self.0.kind))
    }
    /// The rule within the kind, e.g. `DSRI`, `BELOW_FLOOR`,
    /// `WEEKS_OF_SUPPLY` (docs/signals.md).
    async fn rule(&self) -> &str {
        &self.0.rule
    }
    /// The current severity (the last one, for a cleared signal).
    async fn severity(&self) -> Result<gql::RiskSeverity, AppError> {
        severity(self.0.id, &self.0.severity)
    }
    /// The highest severity the signal reached while open.
    async fn peak_severity(&self) -> Result<gql::RiskSeverity, AppError> {
        severity(self.0.id, &self.0.peak_severity)
    }
    /// The kind of thing the signal is about; `subjectLabel` names it.
    async fn subject_type(&self) -> Result<gql::RiskSubjectType, AppError> {
        RiskSubjectType::parse(&self.0.subject_type)
            .map(Into::into)
            .ok_or_else(|| corrupt("unknown subject type", self.0.id, &self.0.subject_type))
    }
    /// The subject for people, e.g. the agent's or region's name.
    async fn subject_label(&self) -> &str {
        &self.0.subject_label
    }
    /// The region the signal belongs to; none for a company-wide signal.
    async fn region(&self, ctx: &Context<'_>) -> Result<Option<Region>, AppError> {
        match self.0.region_id {
            Some(id) => Ok(loaders::one::<region::Entity>(ctx, id).await?.map(Region)),
            None => Ok(None),
        }
    }
    /// The agent the signal is about, if any.
    async fn agent(&self, ctx: &Context<'_>) -> Result<Option<Agent>, AppError> {
        let a = actor(ctx)?;
        match self.0.agent_id {
            Some(id) => Ok(loaders::one::<agent::Entity>(ctx, id)
                .await?
                .filter(|x| a.sees_region(x.region_id))
                .map(Agent)),
            None => Ok(None),
        }
    }
    /// The salesperson the signal is about (forecast deviation), if any.
    async fn salesperson(&self, ctx: &Context<'_>) -> Result<Option<User>, AppError> {
        match self.0.salesperson_id {
            Some(id) => Ok(loaders::one::<user::Entity>(ctx, id).await?.map(User)),
            None => Ok(None),
        }
    }
    /// The product the signal is about, if any.
    async fn product(&self, ctx: &Context<'_>) -> Result<Option<Product>, AppError> {
        match self.0.product_id {
            Some(id) => Ok(loaders::one::<product::Entity>(ctx, id).await?.map(Product)),
            None => Ok(None),
        }
    }
    /// The first business day of the window the value was computed over.
    async fn period_start(&self) -> Date {
        self.0.period_start.into()
    }
    /// The as-of day of the computation (the window's last day).
    async fn period_end(&self) -> Date {
        self.0.period_end.into()
    }
    /// The figure the rule tests (a ratio, days, weeks or a share, see `unit`).
    async fn value(&self) -> f64 {
        self.0.value
    }
    /// The threshold the value crossed for its severity.
    async fn threshold(&self) -> f64 {
        self.0.threshold
    }
    /// `RATIO`, `DAYS`, `WEEKS` or `SHARE`.
    async fn unit(&self) -> &str {
        &self.0.unit
    }
    /// The formula of the value, in words.
    async fn formula(&self) -> &str {
        &self.0.formula
    }
    /// One line for people: what is wrong, with the figures.
    async fn summary(&self) -> &str {
        &self.0.summary
    }
    /// The figures behind the value (e.g. AR, sales, DSO), by name.
    async fn metrics(&self) -> Result<Vec<RiskMetric>, AppError> {
        Ok(self
            .evidence_json()?
            .metrics()
            .into_iter()
            .map(|(name, value)| RiskMetric { name, value })
            .collect())
    }
    /// The documents behind the value (the first ones; see `evidenceMore`).
    async fn evidence(&self) -> Result<Vec<RiskEvidence>, AppError> {
        Ok(self
            .evidence_json()?
            .documents
            .into_iter()
            .filter_map(|d| match RiskDocumentType::parse(&d.kind) {
                Some(kind) => Some(RiskEvidence {
                    kind,
                    id: d.id,
                    reference: d.reference.unwrap_or_default(),
                }),
                None => {
                    tracing::warn!(signal = self.0.id, kind = %d.kind, "unknown evidence document type left out");
                    None
                }
            })
            .collect())
    }
    /// How many more documents are behind the value than `evidence` lists.
    async fn evidence_more(&self) -> Result<i64, AppError> {
        Ok(self.evidence_json()?.more.unwrap_or(0).max(0))
    }
    /// When the worker first raised it.
    async fn raised_at(&self) -> DateTime<Utc> {
        self.0.raised_at
    }
    /// When the worker last changed it (value, severity, evidence).
    async fn updated_at(&self) -> DateTime<Utc> {
        self.0.updated_at
    }
    /// When its condition stopped holding; null while open.
    async fn cleared_at(&self) -> Option<DateTime<Utc>> {
        self.0.cleared_at
    }
    /// Whether its condition still holds.
    async fn open(&self) -> bool {
        self.0.cleared_at.is_none()
    }
    /// Raised, every change of severity and cleared, oldest first.
    async fn history(&self, ctx: &Context<'_>) -> Result<Vec<RiskSignalChange>, AppError> {
        Ok(loaders::signal_history(ctx, self.0.id)
            .await?
            .into_iter()
            .map(RiskSignalChange)
            .collect())
    }
}

/// One figure behind a signal's value.
#[derive(SimpleObject)]
pub struct RiskMetric {
    /// The figure's name in snake_case with its unit as a suffix where it has
    /// one, e.g. `dso_days`, `ar_yuan`, `wape` (docs/signals.md lists them per
    /// rule).
    pub name: String,
    /// Null where the figure is not a finite number (e.g. infinite weeks of
    /// supply when nothing sold through).
    pub value: Option<f64>,
}

/// A document behind a signal's value.
pub struct RiskEvidence {
    kind: RiskDocumentType,
    id: Option<i64>,
    reference: String,
}

/// A document behind a signal's value.
#[Object]
impl RiskEvidence {
    /// What kind of document it is.
    #[graphql(name = "type")]
    async fn kind(&self) -> gql::RiskDocumentType {
        self.kind.into()
    }
    /// The reference people know it by: an order number, a serial number, …
    #[graphql(name = "ref")]
    async fn reference(&self) -> &str {
        &self.reference
    }
    /// The document itself, where it is an object of the API (an order, an
    /// invoice) in the reader's regions; null otherwise.
    async fn document(&self, ctx: &Context<'_>) -> Result<Option<Node>, AppError> {
        let Some(id) = self.id else {
            return Ok(None);
        };
        let a = actor(ctx)?;
        match self.kind {
            RiskDocumentType::Order => Ok(loaders::one::<sales_order::Entity>(ctx, id)
                .await?
                .filter(|o| a.sees_region(o.region_id))
                .map(|o| Node::SalesOrder(SalesOrder(o)))),
            RiskDocumentType::Invoice => {
                let Some(inv) = loaders::one::<invoice::Entity>(ctx, id).await? else {
                    return Ok(None);
                };
                let visible = loaders::one::<sales_order::Entity>(ctx, inv.order_id)
                    .await?
                    .is_some_and(|o| a.sees_region(o.region_id));
                Ok(visible.then_some(Node::Invoice(Invoice(inv))))
            }
            _ => Ok(None),
        }
    }
}

fn change_type(c: &risk_signal_change::Model) -> Result<gql::RiskChangeType, AppError> {
    RiskChangeType::parse(&c.change)
        .map(Into::into)
        .ok_or_else(|| corrupt("unknown change", c.signal_id, &c.change))
}

/// A raise, change of severity or clearing of a signal.
pub struct RiskSignalChange(pub risk_signal_change::Model);

/// A raise, change of severity or clearing of a signal.
#[Object]
impl RiskSignalChange {
    /// What changed: raised, escalated, de-escalated or cleared.
    async fn change(&self) -> Result<gql::RiskChangeType, AppError> {
        change_type(&self.0)
    }
    /// The severity after the change (for CLEARED: the last one).
    async fn severity(&self) -> Result<gql::RiskSeverity, AppError> {
        severity(self.0.signal_id, &self.0.severity)
    }
    /// The value at the change.
    async fn value(&self) -> f64 {
        self.0.value
    }
    /// When the worker recorded the change.
    async fn at(&self) -> DateTime<Utc> {
        self.0.at
    }
}

/// A signal raised, or escalated to a higher severity, pushed as the worker
/// records it.
pub struct RiskSignalEvent(pub Arc<RiskEvent>);

/// A signal raised, or escalated to a higher severity, pushed as the worker
/// records it.
#[Object]
impl RiskSignalEvent {
    /// RAISED or ESCALATED.
    async fn change(&self) -> Result<gql::RiskChangeType, AppError> {
        change_type(&self.0.change)
    }
    /// The severity it was raised or escalated to.
    async fn severity(&self) -> Result<gql::RiskSeverity, AppError> {
        severity(self.0.signal.id, &self.0.change.severity)
    }
    /// When the worker recorded the change.
    async fn at(&self) -> DateTime<Utc> {
        self.0.change.at
    }
    /// The signal as it was when the change was read.
    async fn signal(&self) -> RiskSignal {
        RiskSignal(self.0.signal.clone())
    }
}

// ------------------------------------------------------------ the list

/// Which risk signals to list; every field given must match (AND).
#[derive(InputObject, Default)]
pub struct RiskSignalFilter {
    /// Any of these kinds.
    pub kinds: Option<Vec<gql::RiskSignalKind>>,
    /// Any of these (current) severities.
    pub severities: Option<Vec<gql::RiskSeverity>>,
    /// This (current) severity or a higher one.
    pub min_severity: Option<gql::RiskSeverity>,
    /// Signals about this kind of subject.
    pub subject_type: Option<gql::RiskSubjectType>,
    /// Signals of this region and its sub-areas.
    pub region_id: Option<ID>,
    /// Signals about this agent.
    pub agent_id: Option<ID>,
    /// Signals about this salesperson (a `User` ID).
    pub salesperson_id: Option<ID>,
    /// Signals about this product.
    pub product_id: Option<ID>,
    /// Only open (true) or only cleared (false) signals; both when absent.
    pub open: Option<bool>,
    /// Signals whose period ends on or after this day.
    pub period_from: Option<Date>,
    /// Signals whose period starts on or before this day.
    pub period_to: Option<Date>,
    /// Raised at or after.
    pub raised_from: Option<DateTime<Utc>>,
    /// Raised before.
    pub raised_to: Option<DateTime<Utc>>,
}

/// What to sort risk signals by; ties go by the signal's ID in the same
/// direction.
#[derive(Enum, Copy, Clone, PartialEq, Eq, Default)]
pub enum RiskSignalSortField {
    /// When the signal was raised (the default).
    #[default]
    RaisedAt,
    /// By severity, then value.
    Severity,
    /// By value (compare values of one kind and rule only: units differ).
    Value,
}

/// The order of a risk signal list.
#[derive(InputObject, Default)]
pub struct RiskSignalOrder {
    /// What to sort by; RAISED_AT when omitted.
    #[graphql(default)]
    pub field: RiskSignalSortField,
    /// The direction; DESC when omitted.
    #[graphql(default)]
    pub direction: SortDirection,
}

fn severity_rank() -> Expr {
    let col = risk_signal::Column::Severity;
    Expr::case(col.eq(RiskSeverity::Critical.as_str()), 3)
        .case(col.eq(RiskSeverity::Warning.as_str()), 2)
        .case(col.eq(RiskSeverity::Watch.as_str()), 1)
        .finally(0)
        .into()
}

pub async fn risk_signals(
    ctx: &Context<'_>,
    first: Option<i32>,
    after: Option<String>,
    filter: Option<RiskSignalFilter>,
    order_by: Option<RiskSignalOrder>,
) -> Result<RiskSignalConnection, AppError> {
    use risk_signal::Column as C;
    let a = actor(ctx)?;
    let f = filter.unwrap_or_default();
    let mut q = risk_signal::Entity::find().filter(region_scope(a, C::RegionId));
    if let Some(k) = &f.kinds {
        q = q.filter(C::Kind.is_in(k.iter().map(|k| RiskSignalKind::from(*k).as_str())));
    }
    if let Some(s) = &f.severities {
        q = q.filter(C::Severity.is_in(s.iter().map(|s| RiskSeverity::from(*s).as_str())));
    }
    if let Some(min) = f.min_severity {
        let min = RiskSeverity::from(min);
        let at_least = RiskSeverity::ALL.iter().filter(|s| **s >= min);
        q = q.filter(C::Severity.is_in(at_least.map(|s| s.as_str())));
    }
    if let Some(t) = f.subject_type {
        q = q.filter(C::SubjectType.eq(RiskSubjectType::from(t).as_str()));
    }
    if let Some(r) = opt_id("Region", &f.region_id, "regionId")? {
        let app = app(ctx)?;
        let regions = app.regions.get(&app.db.read, &[r]).await?;
        let ids: Vec<i64> = salesguard_domain::regions::expand(&regions, &[r])
            .into_iter()
            .collect();
        q = q.filter(C::RegionId.is_in(ids));
    }
    if let Some(x) = opt_id("Agent", &f.agent_id, "agentId")? {
        q = q.filter(C::AgentId.eq(x));
    }
    if let Some(x) = opt_id("User", &f.salesperson_id, "salespersonId")? {
        q = q.filter(C::SalespersonId.eq(x));
    }
    if let Some(x) = opt_id("Product", &f.product_id, "productId")? {
        q = q.filter(C::ProductId.eq(x));
    }
    match f.open {
        Some(true) => q = q.filter(C::ClearedAt.is_null()),
        Some(false) => q = q.filter(C::ClearedAt.is_not_null()),
        None => {}
    }
    if let Some(Date(d)) = f.period_from {
        q = q.filter(C::PeriodEnd.gte(d));
    }
    if let Some(Date(d)) = f.period_to {
        q = q.filter(C::PeriodStart.lte(d));
    }
    if let Some(t) = f.raised_from {
        q = q.filter(C::RaisedAt.gte(t));
    }
    if let Some(t) = f.raised_to {
        q = q.filter(C::RaisedAt.lt(t));
    }
    let o = order_by.unwrap_or_default();
    let dir = match o.direction {
        SortDirection::Asc => Order::Asc,
        SortDirection::Desc => Order::Desc,
    };
    q = match o.field {
        RiskSignalSortField::RaisedAt => q.order_by(C::RaisedAt, dir.clone()),
        RiskSignalSortField::Severity => q
            .order_by(severity_rank(), dir.clone())
            .order_by(C::Value, dir.clone()),
        RiskSignalSortField::Value => q.order_by(C::Value, dir.clone()),
    };
    q = q.order_by(C::Id, dir);
    paginate(ctx, q, first, after, RiskSignal)
        .await
        .map(Into::into)
}

/// The signal with this id, if the reader may see it.
pub async fn node(ctx: &Context<'_>, id: i64) -> Result<Option<RiskSignal>, AppError> {
    let a = actor(ctx)?;
    Ok(risk_signal::Entity::find_by_id(id)
        .one(&app(ctx)?.db.read)
        .await?
        .filter(|s| risk::visible(a, s.region_id))
        .map(RiskSignal))
}

// ------------------------------------------------------------ the overview

/// Signals by severity.
#[derive(SimpleObject)]
pub struct RiskSeverityCounts {
    /// Signals at WATCH.
    pub watch: i64,
    /// Signals at WARNING.
    pub warning: i64,
    /// Signals at CRITICAL.
    pub critical: i64,
    /// All of them: watch + warning + critical.
    pub total: i64,
}

impl From<SeverityCounts> for RiskSeverityCounts {
    fn from(c: SeverityCounts) -> Self {
        RiskSeverityCounts {
            watch: c.watch,
            warning: c.warning,
            critical: c.critical,
            total: c.total(),
        }
    }
}

/// Open signals of one kind, by severity.
#[derive(SimpleObject)]
pub struct RiskKindCounts {
    /// The kind counted.
    pub kind: gql::RiskSignalKind,
    /// Signals at WATCH.
    pub watch: i64,
    /// Signals at WARNING.
    pub warning: i64,
    /// Signals at CRITICAL.
    pub critical: i64,
    /// All of them: watch + warning + critical.
    pub total: i64,
}

/// The signals open at the end of one period (for the current period: now),
/// by their severity then.
#[derive(SimpleObject)]
pub struct RiskTrendPoint {
    /// The first day of the period (business time zone).
    pub start: Date,
    /// The last day of the period.
    pub end: Date,
    /// The instant counted: the end of the period, or now for the current one.
    pub at: DateTime<Utc>,
    /// Signals at WATCH.
    pub watch: i64,
    /// Signals at WARNING.
    pub warning: i64,
    /// Signals at CRITICAL.
    pub critical: i64,
    /// All of them: watch + warning + critical.
    pub total: i64,
}

/// The open signals and their trend for one scope: everything the overview
/// covers, one region (with its sub-areas) or one agent.
pub struct RiskSummary {
    region_id: Option<i64>,
    agent_id: Option<i64>,
    summary: risk::Summary,
    periods: Arc<Vec<Period>>,
}

/// The open signals and their trend for one scope: everything the overview
/// covers, one region (with its sub-areas) or one agent.
#[Object]
impl RiskSummary {
    /// The region summarized (with its sub-areas); null for the whole
    /// overview and for an agent.
    async fn region(&self, ctx: &Context<'_>) -> Result<Option<Region>, AppError> {
        match self.region_id {
            Some(id) => Ok(loaders::one::<region::Entity>(ctx, id).await?.map(Region)),
            None => Ok(None),
        }
    }
    /// The agent summarized; null for the whole overview and for a region.
    async fn agent(&self, ctx: &Context<'_>) -> Result<Option<Agent>, AppError> {
        match self.agent_id {
            Some(id) => Ok(loaders::one::<agent::Entity>(ctx, id).await?.map(Agent)),
            None => Ok(None),
        }
    }
    /// Open signals by severity.
    async fn open(&self) -> RiskSeverityCounts {
        self.summary.open.into()
    }
    /// Open signals by kind (every kind, also with none open) and severity.
    async fn by_kind(&self) -> Vec<RiskKindCounts> {
        self.summary
            .by_kind
            .iter()
            .map(|(kind, c)| RiskKindCounts {
                kind: (*kind).into(),
                watch: c.watch,
                warning: c.warning,
                critical: c.critical,
                total: c.total(),
            })
            .collect()
    }
    /// The worst open signals (at most 5): highest severity, then highest value.
    async fn worst(&self) -> Vec<RiskSignal> {
        self.summary.worst.iter().cloned().map(RiskSignal).collect()
    }
    /// Signals open at the end of each period, oldest period first; the
    /// last is the current period, counted now.
    async fn trend(&self) -> Vec<RiskTrendPoint> {
        self.periods
            .iter()
            .zip(&self.summary.trend)
            .map(|(p, c)| RiskTrendPoint {
                start: p.start.into(),
                end: p.end.into(),
                at: p.at,
                watch: c.watch,
                warning: c.warning,
                critical: c.critical,
                total: c.total(),
            })
            .collect()
    }
}

/// The risk dashboard: open signals, the worst ones and the trend, for
/// everything the reader sees (or the asked region or agent), per region and
/// per agent.
#[derive(SimpleObject)]
pub struct RiskOverview {
    /// When the figures were computed.
    pub as_of: DateTime<Utc>,
    /// The length of the trend's periods, as asked.
    pub period_unit: gql::RiskPeriodUnit,
    /// Everything in the overview: for a company-wide reader without a
    /// region or agent asked, also the company-wide signals.
    pub total: RiskSummary,
    /// Each region the reader sees (or the asked one), with its sub-areas,
    /// by code; empty when an agent was asked.
    pub regions: Vec<RiskSummary>,
    /// The asked agent, or each agent with a signal open now or during the
    /// trend, most critical first.
    pub agents: Vec<RiskSummary>,
}

pub async fn risk_overview(
    ctx: &Context<'_>,
    region_id: Option<ID>,
    agent_id: Option<ID>,
    periods: u32,
    unit: RiskPeriodUnit,
) -> Result<RiskOverview, AppError> {
    use risk_signal::Column as C;
    let a = actor(ctx)?;
    let app = app(ctx)?;
    let db = &app.db.read;
    let asked_region = opt_id("Region", &region_id, "regionId")?;
    let asked_agent = opt_id("Agent", &agent_id, "agentId")?;
    let all_regions = app.regions.get(db, asked_region.as_slice()).await?;
    let mut cond = Condition::all().add(region_scope(a, C::RegionId));
    if let Some(r) = asked_region {
        if !a.sees_region(r) || !all_regions.iter().any(|x| x.id == r) {
            return Err(AppError::NotFound("no such region".into()));
        }
        let ids: Vec<i64> = salesguard_domain::regions::expand(&all_regions, &[r])
            .into_iter()
            .collect();
        cond = cond.add(C::RegionId.is_in(ids));
    }
    if let Some(x) = asked_agent {
        agent::Entity::find_by_id(x)
            .one(db)
            .await?
            .filter(|m| a.sees_region(m.region_id))
            .ok_or_else(|| AppError::NotFound("no such agent".into()))?;
        cond = cond.add(C::AgentId.eq(x));
    }
    let now = salesguard_domain::clock::now();
    let periods = Arc::new(risk::periods(now, app.tz, unit, periods));
    let since = periods.first().map(|p| p.at).unwrap_or(now);
    // Open now, or open during the trend.
    cond = cond.add(
        Condition::any()
            .add(C::ClearedAt.is_null())
            .add(C::ClearedAt.gt(since)),
    );
    let signals = risk_signal::Entity::find()
        .filter(cond.clone())
        .all(db)
        .await?;
    let mut changes: HashMap<i64, Vec<risk_signal_change::Model>> = HashMap::new();
    if !signals.is_empty() {
        let ids = Query::select()
            .column(C::Id)
            .from(risk_signal::Entity)
            .cond_where(cond)
            .to_owned();
        for c in risk_signal_change::Entity::find()
            .filter(risk_signal_change::Column::SignalId.in_subquery(ids))
            .filter(risk_signal_change::Column::Change.ne(RiskChangeType::Cleared.as_str()))
            .order_by_asc(risk_signal_change::Column::Id)
            .all(db)
            .await?
        {
            changes.entry(c.signal_id).or_default().push(c);
        }
    }
    let summary =
        |region_id, agent_id, of: &mut dyn Iterator<Item = &risk_signal::Model>| RiskSummary {
            region_id,
            agent_id,
            summary: risk::summarize(of, &changes, &periods),
            periods: periods.clone(),
        };
    let total = summary(None, None, &mut signals.iter());
    let regions = if asked_agent.is_some() {
        vec![]
    } else {
        let mut listed: Vec<&region::Model> = all_regions
            .iter()
            .filter(|r| match asked_region {
                Some(x) => r.id == x,
                None => a.sees_region(r.id),
            })
            .collect();
        listed.sort_by(|x, y| x.code.cmp(&y.code));
        listed
            .into_iter()
            .map(|r| {
                let area: HashSet<i64> = salesguard_domain::regions::expand(&all_regions, &[r.id]);
                summary(
                    Some(r.id),
                    None,
                    &mut signals
                        .iter()
                        .filter(|s| s.region_id.is_some_and(|x| area.contains(&x))),
                )
            })
            .collect()
    };
    let agents = match asked_agent {
        Some(x) => vec![summary(None, Some(x), &mut signals.iter())],
        None => {
            let mut by_agent: HashMap<i64, Vec<&risk_signal::Model>> = HashMap::new();
            for s in &signals {
                if let Some(x) = s.agent_id {
                    by_agent.entry(x).or_default().push(s);
                }
            }
            let mut out: Vec<RiskSummary> = by_agent
                .into_iter()
                .map(|(x, list)| summary(None, Some(x), &mut list.into_iter()))
                .filter(|s| !s.summary.is_empty())
                .collect();
            out.sort_by(|x, y| {
                let key = |s: &RiskSummary| {
                    let o = s.summary.open;
                    (o.critical, o.warning, o.watch)
                };
                key(y).cmp(&key(x)).then(x.agent_id.cmp(&y.agent_id))
            });
            out
        }
    };
    Ok(RiskOverview {
        as_of: now,
        period_unit: unit.into(),
        total,
        regions,
        agents,
    })
}
