//! The weekly risk reports in the schema: the `WeeklyReport` node
//! with its headline figures, the regions it covers, its e-mail delivery and
//! download URLs, and the `weeklyReports` connection. A report is readable
//! by its recipient and by whoever sees every region it covers (see
//! `crate::reports::access`); others get NOT_FOUND, as for a missing one.
use std::collections::HashMap;
use std::sync::Arc;

use async_graphql::{Context, Enum, InputObject, Object, ID};
use chrono::{DateTime, Utc};
use sea_orm::{ColumnTrait, EntityTrait, QueryFilter, QueryOrder};

use salesguard_entities::model::{
    region, report_delivery, user, weekly_report, weekly_report_region,
};

use super::ids::encode;
use super::loaders;
use super::query::{actor, app, opt_id, paginate};
use super::risk::RiskSeverityCounts;
use super::scalars::{Date, Money};
use super::types::{Region, User, WeeklyReportConnection};
use crate::error::AppError;
use crate::reports::{self, access, ReportFigures, ReportLanguage};

/// The language a report is written in.
#[derive(Enum, Copy, Clone, PartialEq, Eq, Debug)]
pub enum WeeklyReportLanguage {
    /// Simplified Chinese (`zh-CN`).
    ZhCn,
    /// English (`en`).
    En,
}

/// Where a report's e-mail is.
#[derive(Enum, Copy, Clone, PartialEq, Eq, Debug)]
pub enum ReportDeliveryStatus {
    /// Not tried yet.
    Pending,
    /// Being sent now.
    Sending,
    /// An attempt failed; tried again at `nextAttemptAt`.
    Retrying,
    /// Accepted by the SMTP server.
    Sent,
    /// Given up after the last attempt, or the recipient has no e-mail
    /// address; `lastError` says why.
    Failed,
}

impl ReportDeliveryStatus {
    fn parse(s: &str) -> Option<Self> {
        Some(match s {
            reports::status::PENDING => Self::Pending,
            reports::status::SENDING => Self::Sending,
            reports::status::RETRYING => Self::Retrying,
            reports::status::SENT => Self::Sent,
            reports::status::FAILED => Self::Failed,
            _ => return None,
        })
    }
    fn as_str(&self) -> &'static str {
        match self {
            Self::Pending => reports::status::PENDING,
            Self::Sending => reports::status::SENDING,
            Self::Retrying => reports::status::RETRYING,
            Self::Sent => reports::status::SENT,
            Self::Failed => reports::status::FAILED,
        }
    }
}

/// A manager's weekly risk report: the week's headline figures, the open
/// risk signals and what changed, the worst agents and salespeople,
/// forecast accuracy and the check-points that need a decision, for the
/// regions the manager sees. Mailed to the manager; downloadable at
/// `htmlUrl` and `signalsCsvUrl` with the bearer token.
pub struct WeeklyReport {
    pub model: weekly_report::Model,
    pub delivery: Option<report_delivery::Model>,
    pub region_ids: Arc<Vec<i64>>,
}

fn corrupt(id: i64, what: &str, e: impl std::fmt::Display) -> AppError {
    AppError::Internal(anyhow::anyhow!("weekly report {id}: {what}: {e}"))
}

fn money(fen: Option<i64>) -> Option<Money> {
    fen.map(Money)
}

/// A manager's weekly risk report: the week's headline figures, the open
/// risk signals and what changed, the worst agents and salespeople,
/// forecast accuracy and the check-points that need a decision, for the
/// regions the manager sees. Mailed to the manager; downloadable at
/// `htmlUrl` and `signalsCsvUrl` with the bearer token.
#[Object]
impl WeeklyReport {
    /// The global ID, for `node(id:)`.
    pub async fn id(&self) -> ID {
        encode("WeeklyReport", self.model.id)
    }
    /// The Monday of the week reported on (business time zone).
    async fn week_start(&self) -> Date {
        self.model.week_start.into()
    }
    /// The Sunday of the week reported on.
    async fn week_end(&self) -> Date {
        self.model.week_end.into()
    }
    /// The manager the report was written for and mailed to.
    async fn recipient(&self, ctx: &Context<'_>) -> Result<Option<User>, AppError> {
        Ok(loaders::one::<user::Entity>(ctx, self.model.recipient_id)
            .await?
            .map(User))
    }
    /// The report covers every region (a company-wide manager's report).
    async fn all_regions(&self) -> bool {
        self.model.all_regions
    }
    /// The regions the report covers, with their sub-areas (empty for a
    /// company-wide report).
    async fn regions(&self, ctx: &Context<'_>) -> Result<Vec<Region>, AppError> {
        let mut out = vec![];
        for id in self.region_ids.iter() {
            if let Some(r) = loaders::one::<region::Entity>(ctx, *id).await? {
                out.push(Region(r));
            }
        }
        out.sort_by(|a, b| a.0.code.cmp(&b.0.code));
        Ok(out)
    }
    /// The language the report is written in (the `report.language` setting
    /// when it was built).
    async fn language(&self) -> Result<WeeklyReportLanguage, AppError> {
        match ReportLanguage::parse(&self.model.language) {
            Some(ReportLanguage::ZhCn) => Ok(WeeklyReportLanguage::ZhCn),
            Some(ReportLanguage::En) => Ok(WeeklyReportLanguage::En),
            None => Err(corrupt(
                self.model.id,
                "unknown language",
                &self.model.language,
            )),
        }
    }
    /// The e-mail's subject.
    async fn subject(&self) -> &str {
        &self.model.subject
    }
    /// The headline figures of the week.
    async fn figures(&self) -> Result<WeeklyReportFigures, AppError> {
        ReportFigures::parse(&self.model.figures)
            .map(WeeklyReportFigures)
            .map_err(|e| corrupt(self.model.id, "figures are not valid", e))
    }
    /// The e-mail delivery (null only for a report still being stored).
    async fn delivery(&self) -> Option<ReportDelivery> {
        self.delivery.clone().map(ReportDelivery)
    }
    /// The report as a web page, charts inline (GET with the bearer token).
    async fn html_url(&self) -> String {
        reports::html_path(self.model.id)
    }
    /// The open signals of the report as CSV (GET with the bearer token).
    async fn signals_csv_url(&self) -> String {
        reports::csv_path(self.model.id)
    }
    /// When the report was built.
    async fn created_at(&self) -> DateTime<Utc> {
        self.model.created_at
    }
}

/// The headline figures of a weekly report (docs/signals.md and the metrics
/// definitions). Null where a figure could not be computed.
pub struct WeeklyReportFigures(ReportFigures);

/// The headline figures of a weekly report (docs/signals.md and the metrics
/// definitions). Null where a figure could not be computed.
#[Object]
impl WeeklyReportFigures {
    /// Sales of the week: totals of the orders shipped.
    async fn sales(&self) -> Option<Money> {
        money(self.0.sales_fen)
    }
    /// Sales of the week before.
    async fn sales_last_week(&self) -> Option<Money> {
        money(self.0.sales_last_week_fen)
    }
    /// Weekly average over the 13 weeks before.
    async fn sales_quarter_weekly_average(&self) -> Option<Money> {
        money(self.0.sales_quarter_avg_fen)
    }
    /// Payments received in the week.
    async fn collections(&self) -> Option<Money> {
        money(self.0.collections_fen)
    }
    /// Payments received in the week before.
    async fn collections_last_week(&self) -> Option<Money> {
        money(self.0.collections_last_week_fen)
    }
    /// Weekly average of payments received over the 13 weeks before.
    async fn collections_quarter_weekly_average(&self) -> Option<Money> {
        money(self.0.collections_quarter_avg_fen)
    }
    /// Accounts receivable at the week's end.
    async fn ar(&self) -> Option<Money> {
        money(self.0.ar_fen)
    }
    /// Accounts receivable at the end of the week before.
    async fn ar_last_week(&self) -> Option<Money> {
        money(self.0.ar_last_week_fen)
    }
    /// Average of the 13 week-end values before.
    async fn ar_quarter_average(&self) -> Option<Money> {
        money(self.0.ar_quarter_avg_fen)
    }
    /// Days sales outstanding at the week's end.
    async fn dso(&self) -> Option<f64> {
        self.0.dso
    }
    /// Days sales outstanding at the end of the week before.
    async fn dso_last_week(&self) -> Option<f64> {
        self.0.dso_last_week
    }
    /// Average of the 13 week-end DSO values before.
    async fn dso_quarter_average(&self) -> Option<f64> {
        self.0.dso_quarter_avg
    }
    /// Risk signals open when the report was built, by severity.
    async fn open_signals(&self) -> RiskSeverityCounts {
        RiskSeverityCounts {
            watch: self.0.open_watch,
            warning: self.0.open_warning,
            critical: self.0.open_critical,
            total: self.0.open_watch + self.0.open_warning + self.0.open_critical,
        }
    }
    /// Signals raised during the week.
    async fn new_signals(&self) -> i64 {
        self.0.new_signals
    }
    /// Signals whose severity rose during the week.
    async fn escalated_signals(&self) -> i64 {
        self.0.escalated_signals
    }
    /// Signals cleared during the week.
    async fn cleared_signals(&self) -> i64 {
        self.0.cleared_signals
    }
    /// Risk check-points (SPEC S2) that need a decision.
    async fn checkpoints_needing_decision(&self) -> i64 {
        self.0.checkpoints
    }
    /// Set when the figures of the metrics engine could not be computed.
    async fn unavailable_reason(&self) -> Option<&str> {
        self.0.metrics_error.as_deref()
    }
}

/// The e-mail delivery of a weekly report.
pub struct ReportDelivery(report_delivery::Model);

/// The e-mail delivery of a weekly report.
#[Object]
impl ReportDelivery {
    /// Where the e-mail is.
    async fn status(&self) -> Result<ReportDeliveryStatus, AppError> {
        ReportDeliveryStatus::parse(&self.0.status)
            .ok_or_else(|| corrupt(self.0.report_id, "unknown delivery status", &self.0.status))
    }
    /// The address it goes to.
    async fn email(&self) -> Option<&str> {
        self.0.email.as_deref()
    }
    /// Attempts so far.
    async fn attempts(&self) -> i32 {
        self.0.attempts
    }
    /// Why the last attempt failed.
    async fn last_error(&self) -> Option<&str> {
        self.0.last_error.as_deref()
    }
    /// When the next attempt is due (PENDING, RETRYING).
    async fn next_attempt_at(&self) -> Option<DateTime<Utc>> {
        self.0.next_attempt_at
    }
    /// When the SMTP server accepted it.
    async fn sent_at(&self) -> Option<DateTime<Utc>> {
        self.0.sent_at
    }
    /// When the delivery last changed.
    async fn updated_at(&self) -> DateTime<Utc> {
        self.0.updated_at
    }
}

/// Which weekly reports to list; every field given must match (AND).
#[derive(InputObject, Default)]
pub struct WeeklyReportFilter {
    /// Reports of the week that contains this day.
    pub week_of: Option<Date>,
    /// Reports written for this user.
    pub recipient_id: Option<ID>,
    /// Reports whose delivery is in any of these states.
    pub delivery_status: Option<Vec<ReportDeliveryStatus>>,
}

/// Attaches the deliveries and covered regions of the reports, in two
/// statements for the whole page.
async fn complete(
    db: &sea_orm::DatabaseConnection,
    models: Vec<weekly_report::Model>,
) -> Result<Vec<WeeklyReport>, AppError> {
    let ids: Vec<i64> = models.iter().map(|m| m.id).collect();
    let mut deliveries: HashMap<i64, report_delivery::Model> = HashMap::new();
    let mut regions: HashMap<i64, Vec<i64>> = HashMap::new();
    if !ids.is_empty() {
        for d in report_delivery::Entity::find()
            .filter(report_delivery::Column::ReportId.is_in(ids.clone()))
            .all(db)
            .await?
        {
            deliveries.insert(d.report_id, d);
        }
        for r in weekly_report_region::Entity::find()
            .filter(weekly_report_region::Column::ReportId.is_in(ids))
            .all(db)
            .await?
        {
            regions.entry(r.report_id).or_default().push(r.region_id);
        }
    }
    Ok(models
        .into_iter()
        .map(|m| WeeklyReport {
            delivery: deliveries.remove(&m.id),
            region_ids: Arc::new(regions.remove(&m.id).unwrap_or_default()),
            model: m,
        })
        .collect())
}

pub async fn weekly_reports(
    ctx: &Context<'_>,
    first: Option<i32>,
    after: Option<String>,
    filter: Option<WeeklyReportFilter>,
) -> Result<WeeklyReportConnection, AppError> {
    use weekly_report::Column as C;
    let a = actor(ctx)?;
    let f = filter.unwrap_or_default();
    let mut q = weekly_report::Entity::find().filter(access::readable(a));
    if let Some(Date(day)) = f.week_of {
        q = q.filter(C::WeekStart.lte(day)).filter(C::WeekEnd.gte(day));
    }
    if let Some(u) = opt_id("User", &f.recipient_id, "recipientId")? {
        q = q.filter(C::RecipientId.eq(u));
    }
    if let Some(st) = &f.delivery_status {
        let sub = sea_orm::sea_query::Query::select()
            .column(report_delivery::Column::ReportId)
            .from(report_delivery::Entity)
            .and_where(report_delivery::Column::Status.is_in(st.iter().map(|s| s.as_str())))
            .to_owned();
        q = q.filter(C::Id.in_subquery(sub));
    }
    q = q.order_by_desc(C::WeekStart).order_by_desc(C::Id);
    let page = paginate(ctx, q, first, after, |m| m).await?;
    let db = &app(ctx)?.db.read;
    let (cursors, models): (Vec<String>, Vec<weekly_report::Model>) =
        page.items.into_iter().unzip();
    let reports = complete(db, models).await?;
    Ok(super::types::Page {
        items: cursors.into_iter().zip(reports).collect(),
        page_info: page.page_info,
        total: page.total,
    }
    .into())
}

/// The report with this id, if the reader may read it.
pub async fn node(ctx: &Context<'_>, id: i64) -> Result<Option<WeeklyReport>, AppError> {
    let a = actor(ctx)?;
    let db = &app(ctx)?.db.read;
    match access::load_readable(db, a, id).await? {
        Some(m) => Ok(complete(db, vec![m]).await?.pop()),
        None => Ok(None),
    }
}
