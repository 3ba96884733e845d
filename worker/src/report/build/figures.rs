//! The report's figures from the metrics engine: the headline figures and
//! the AR/DSO trend, the aging at the week's end, and forecast accuracy.
use std::collections::{BTreeMap, HashMap};

use chrono::{Duration, NaiveDate};

use salesguard_analytics::metrics::{
    self, Dimension, Metric, MetricFilter, MetricQuery, MetricRow, Period,
};
use salesguard_analytics::report::ReportFigures;

use super::{first_of_month, Manager, Week};

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

/// The metrics engine, stopping at its first error (which the report shows).
pub(super) struct Figures<'a> {
    pub(super) src: metrics::Source<'a>,
    pub(super) scope: Option<&'a [i64]>,
    pub(super) error: Option<String>,
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

/// The headline figures (the week, the week before, the average of the 13
/// weeks before) and the AR/DSO trend of the last 13 weeks.
pub(super) async fn headline(
    fig: &mut Figures<'_>,
    week: Week,
) -> (ReportFigures, Vec<TrendPoint>) {
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
    let figures = ReportFigures {
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
    (figures, trend)
}

/// The receivables per aging bucket at the week's end.
pub(super) async fn aging(fig: &mut Figures<'_>, week: Week) -> Vec<Option<i64>> {
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
    aging
}

/// Forecast accuracy over the complete months before the week's end: per
/// region the manager sees, and forecast against actual units per month.
pub(super) async fn forecasts(
    fig: &mut Figures<'_>,
    week: Week,
    manager: &Manager,
    region_names: &HashMap<i64, (String, String)>,
) -> (Vec<RegionForecast>, Vec<MonthUnits>) {
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
    (forecast_regions, forecast_months)
}
