//! Gathers what one manager's weekly report says, for the regions that
//! manager sees: the headline figures and charts' series from the metrics
//! engine (`salesguard_analytics::metrics`), the open signals and what changed
//! during the week, the worst agents and salespeople, forecast accuracy per
//! region and the check-points of SPEC S2 that need a decision.
//!
//! One module per part: `manager` (who gets a report), `figures` (from the
//! metrics engine), `signals`, `books` (the records the ranking and the
//! check-points read), `ranking` and `checkpoints`.
use std::collections::HashMap;

use chrono::{DateTime, Datelike, NaiveDate, TimeZone, Utc};
use chrono_tz::Tz;
use sea_orm::EntityTrait;

use crate::Ctx;
use salesguard_analytics::metrics;
use salesguard_analytics::report::ReportFigures;
use salesguard_entities::model::{region, risk_signal};

use super::Week;

mod books;
mod checkpoints;
mod figures;
mod manager;
mod ranking;
mod signals;

pub use checkpoints::{CheckItem, Checkpoint, CheckpointKind};
pub use figures::{MonthUnits, RegionForecast, TrendPoint};
pub use manager::{managers, Manager};
pub use ranking::Ranked;
pub use signals::SignalChange;

use books::{Books, Labels};
use figures::Figures;

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
    let (mut figures, trend) = figures::headline(&mut fig, week).await;
    let aging = figures::aging(&mut fig, week).await;
    let (forecast_regions, forecast_months) =
        figures::forecasts(&mut fig, week, manager, &region_names).await;
    figures.metrics_error = fig.error.clone();

    let (open_signals, changes) =
        signals::open_and_changed(db, tz, manager, week, &mut figures).await?;
    let books = Books::load(db, manager, now).await?;
    let labels = Labels::new(&books, &region_names);
    let (worst_agents, worst_salespeople) =
        ranking::worst(db, &books, &labels, &open_signals).await?;
    let at = checkpoints::At {
        manager,
        tz,
        now,
        as_of,
    };
    let checkpoints = checkpoints::checkpoints(&at, &books, &labels, &open_signals);
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
