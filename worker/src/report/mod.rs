//! The weekly risk report for managers: every week (`[report]
//! cron`, default Monday 08:00 business time) one report per manager
//! (management and supervisors) on the last complete week, for the regions
//! that manager sees: built (`build`), written as HTML with charts (`html`,
//! `charts`) and the open signals as CSV (`csv`), stored with a pending
//! delivery (`store`), and mailed (`mail`). A failed delivery is retried
//! with backoff by the delivery loop and stays visible (API, logs) until it
//! is sent.
pub mod build;
pub mod charts;
pub mod csv;
pub mod html;
pub mod mail;
pub mod store;

use std::collections::HashMap;
use std::time::Duration as StdDuration;

use anyhow::Context;
use apalis::prelude::{BoxDynError, Data};
use apalis_cron::Tick;
use chrono::{Datelike, Duration, NaiveDate};
use chrono_tz::Tz;
use sea_orm::Set;
use tokio::sync::watch;

use crate::Ctx;
use salesguard_analytics::report::{status, ReportImage};
use salesguard_entities::model::weekly_report;

/// A week, Monday to Sunday, in the business time zone.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Week {
    pub start: NaiveDate,
    pub end: NaiveDate,
}

impl Week {
    /// The week that contains `day`.
    pub fn containing(day: NaiveDate) -> Week {
        let start = day - Duration::days(day.weekday().num_days_from_monday() as i64);
        Week {
            start,
            end: start + Duration::days(6),
        }
    }

    /// The last complete week before `today`.
    pub fn last_complete(today: NaiveDate) -> Week {
        Week::containing(today - Duration::days(7))
    }
}

/// What a weekly run did.
#[derive(Debug, Default, Clone)]
pub struct WeeklyRun {
    /// Reports written now.
    pub built: Vec<i64>,
    /// Managers whose report of the week existed already.
    pub existing: usize,
    /// Managers whose report could not be built, with why.
    pub failed: Vec<(String, String)>,
}

/// What a delivery round did.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct DeliveryRound {
    pub sent: usize,
    pub retrying: usize,
    pub failed: usize,
}

/// Builds and stores one manager's report of `week`.
async fn build_one(app: &Ctx, manager: &build::Manager, week: Week) -> anyhow::Result<Option<i64>> {
    let lang = app.settings.report.language;
    let now = salesguard_domain::clock::now();
    let data = build::gather(app, manager, week, now).await?;
    // The charts are CPU work: off the async threads.
    let (trend, aging, months) = (
        data.trend.clone(),
        data.aging.clone(),
        data.forecast_months.clone(),
    );
    let have_figures = data.figures.metrics_error.is_none();
    let images = tokio::task::spawn_blocking(move || -> anyhow::Result<Vec<ReportImage>> {
        let mut out = vec![];
        if have_figures {
            out.push(ReportImage::new(
                html::CID_AR_DSO,
                "image/png",
                &charts::ar_dso(&trend)?,
            ));
            out.push(ReportImage::new(
                html::CID_AGING,
                "image/png",
                &charts::aging(&aging)?,
            ));
            out.push(ReportImage::new(
                html::CID_FORECAST,
                "image/png",
                &charts::forecast(&months)?,
            ));
        }
        Ok(out)
    })
    .await
    .context("the charts panicked")??;
    let cids: Vec<&str> = images.iter().map(|i| i.cid.as_str()).collect();
    let body = html::render(&data, lang, &cids);
    let subject = html::subject(&data, lang);
    let codes: HashMap<i64, String> = data
        .region_names
        .iter()
        .map(|(id, (code, _))| (*id, code.clone()))
        .collect();
    let signals_csv = csv::signals(&data.open_signals, &codes, app.tz);
    let report = weekly_report::ActiveModel {
        week_start: Set(week.start),
        week_end: Set(week.end),
        recipient_id: Set(manager.user.id),
        all_regions: Set(manager.all_regions),
        language: Set(lang.as_str().into()),
        subject: Set(subject),
        figures: Set(serde_json::to_string(&data.figures)?),
        html: Set(body),
        images: Set(serde_json::to_string(&images)?),
        signals_csv: Set(signals_csv),
        created_at: Set(now),
        ..Default::default()
    };
    store::insert(
        app,
        store::NewReport {
            report,
            regions: manager.visible.clone(),
            email: manager.user.email.clone().filter(|e| !e.trim().is_empty()),
        },
    )
    .await
}

/// Builds the reports of `week` for every manager who has none yet (one
/// report per manager and week, whoever runs it and however often).
pub async fn run_weekly(app: &Ctx, week: Week) -> anyhow::Result<WeeklyRun> {
    let mut run = WeeklyRun::default();
    for m in build::managers(app).await? {
        if store::exists(app, m.user.id, week.start).await? {
            run.existing += 1;
            continue;
        }
        match build_one(app, &m, week).await {
            Ok(Some(id)) => {
                tracing::info!(report = id, recipient = %m.user.username, week = %week.start, "weekly report built");
                if m.user.email.is_none() {
                    tracing::error!(report = id, recipient = %m.user.username, "weekly report cannot be mailed: the recipient has no e-mail address");
                }
                run.built.push(id);
            }
            Ok(None) => run.existing += 1,
            Err(e) => {
                tracing::error!(recipient = %m.user.username, week = %week.start, error = %format!("{e:#}"), "weekly report not built");
                run.failed.push((m.user.username.clone(), format!("{e:#}")));
            }
        }
    }
    Ok(run)
}

/// Sends every delivery that is due, once each; failures are recorded for a
/// later attempt (or as FAILED after the last one), never dropped.
pub async fn deliver_due(app: &Ctx) -> anyhow::Result<DeliveryRound> {
    let smtp = &app.settings.smtp;
    let mut round = DeliveryRound::default();
    let now = salesguard_domain::clock::now();
    let due = store::due(app, now, 50).await?;
    if due.is_empty() {
        return Ok(round);
    }
    let transport = mail::transport(smtp)?;
    for d in due {
        if !store::claim(app, d.id, now).await? {
            continue;
        }
        let attempts = d.attempts + 1;
        let result = async {
            let report = store::report(app, d.report_id)
                .await?
                .context("the report is gone")?;
            let to = d.email.clone().context("no e-mail address")?;
            mail::send(&transport, smtp, &report, &to).await
        }
        .await;
        match result {
            Ok(()) => {
                store::sent(app, d.id).await?;
                tracing::info!(
                    delivery = d.id,
                    report = d.report_id,
                    attempts,
                    "weekly report mailed"
                );
                round.sent += 1;
            }
            Err(e) => {
                let msg = format!("{e:#}");
                let st = store::failed(app, smtp, d.id, attempts, &msg).await?;
                if st == status::FAILED {
                    tracing::error!(delivery = d.id, report = d.report_id, attempts, error = %msg, "weekly report NOT delivered: giving up after the last attempt");
                    round.failed += 1;
                } else {
                    tracing::warn!(delivery = d.id, report = d.report_id, attempts, error = %msg, "weekly report delivery failed; will retry");
                    round.retrying += 1;
                }
            }
        }
    }
    Ok(round)
}

/// `salesguard report weekly --now`: builds the reports of the week that
/// contains `week_of` (default: the last complete week), puts its FAILED
/// deliveries back in line, and sends what is due.
pub async fn weekly_now(
    app: &Ctx,
    week_of: Option<NaiveDate>,
) -> anyhow::Result<(Week, WeeklyRun, DeliveryRound)> {
    let today = salesguard_domain::clock::now()
        .with_timezone(&app.tz)
        .date_naive();
    let week = match week_of {
        Some(d) => Week::containing(d),
        None => Week::last_complete(today),
    };
    let run = run_weekly(app, week).await?;
    let requeued = store::requeue_failed(app, week.start).await?;
    if requeued > 0 {
        tracing::info!(requeued, "failed deliveries of the week put back in line");
    }
    let round = deliver_due(app).await?;
    Ok((week, run, round))
}

/// The cron tick of the weekly report: builds last week's reports (each
/// replica may fire; the (recipient, week) key makes it once) and sends.
pub async fn on_tick(tick: Tick<Tz>, app: Data<Ctx>) -> Result<(), BoxDynError> {
    let app: &Ctx = &app;
    let today = salesguard_domain::clock::now()
        .with_timezone(&app.tz)
        .date_naive();
    let week = Week::last_complete(today);
    tracing::info!(tick = tick.get_timestamp(), week = %week.start, "weekly report run");
    let run = run_weekly(app, week).await.map_err(|e| format!("{e:#}"))?;
    tracing::info!(
        built = run.built.len(),
        existing = run.existing,
        failed = run.failed.len(),
        "weekly reports"
    );
    if let Err(e) = deliver_due(app).await {
        tracing::warn!(error = %format!("{e:#}"), "weekly report delivery round failed");
    }
    if run.failed.is_empty() {
        Ok(())
    } else {
        Err(format!("{} weekly reports not built", run.failed.len()).into())
    }
}

/// How often the delivery loop looks for due deliveries.
pub const DELIVERY_INTERVAL: StdDuration = StdDuration::from_secs(15);

/// Sends due deliveries until `stop` turns true.
pub async fn delivery_loop(app: Ctx, mut stop: watch::Receiver<bool>) {
    let mut tick = tokio::time::interval(DELIVERY_INTERVAL);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            _ = stop.wait_for(|s| *s) => return,
            _ = tick.tick() => {}
        }
        match deliver_due(&app).await {
            Ok(r) if r == DeliveryRound::default() => {}
            Ok(r) => tracing::info!(
                sent = r.sent,
                retrying = r.retrying,
                failed = r.failed,
                "report deliveries"
            ),
            Err(e) => tracing::warn!(error = %format!("{e:#}"), "report delivery round failed"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn weeks_run_monday_to_sunday() {
        let d = |y, m, day| NaiveDate::from_ymd_opt(y, m, day).unwrap_or_default();
        // 2026-11-29 is a Sunday.
        assert_eq!(
            Week::containing(d(2026, 11, 29)),
            Week {
                start: d(2026, 11, 23),
                end: d(2026, 11, 29)
            }
        );
        assert_eq!(Week::containing(d(2026, 11, 23)).start, d(2026, 11, 23));
        // Run on Monday 2026-11-30: the week of 23 to 29 November.
        assert_eq!(Week::last_complete(d(2026, 11, 30)).start, d(2026, 11, 23));
    }

    #[test]
    fn retries_back_off() {
        let smtp = salesguard_config::report::SmtpSettings::default();
        assert_eq!(store::backoff(&smtp, 1), Duration::seconds(60));
        assert_eq!(store::backoff(&smtp, 3), Duration::seconds(240));
        assert_eq!(store::backoff(&smtp, 12), Duration::seconds(3600));
    }
}
