//! The reports and their deliveries in the database. A report and its
//! delivery are written in one transaction, keyed on (recipient, week): a
//! second run of the same week (another replica, a retried job, the CLI)
//! finds it and writes nothing. A delivery is claimed with a conditional
//! update, so of two senders exactly one sends it.
use chrono::{DateTime, Duration, Utc};
use sea_orm::sea_query::{Expr, ExprTrait};
use sea_orm::{
    ActiveModelTrait, ColumnTrait, Condition, EntityTrait, PaginatorTrait, QueryFilter, QueryOrder,
    QuerySelect, Set,
};

use crate::Ctx;
use salesguard_analytics::report::status;
use salesguard_config::report::SmtpSettings;
use salesguard_entities::model::{report_delivery, user, weekly_report, weekly_report_region};

/// How long a sender owns a delivery it claimed.
pub const LEASE: Duration = Duration::minutes(5);

pub async fn exists(
    app: &Ctx,
    recipient: i64,
    week_start: chrono::NaiveDate,
) -> anyhow::Result<bool> {
    Ok(weekly_report::Entity::find()
        .filter(weekly_report::Column::RecipientId.eq(recipient))
        .filter(weekly_report::Column::WeekStart.eq(week_start))
        .count(&app.db.read)
        .await?
        > 0)
}

/// A report to store.
pub struct NewReport {
    pub report: weekly_report::ActiveModel,
    pub regions: Vec<i64>,
    pub email: Option<String>,
}

/// Stores a report with its regions and its (pending) delivery; `None` when
/// the recipient's report of that week exists already.
pub async fn insert(app: &Ctx, new: NewReport) -> anyhow::Result<Option<i64>> {
    let now = salesguard_domain::clock::now();
    let txn = app.db.begin().await?;
    let report = match new.report.insert(&txn).await {
        Ok(r) => r,
        Err(e) if salesguard_entities::db::is_unique_violation(&e) => {
            txn.rollback().await?;
            return Ok(None);
        }
        Err(e) => return Err(e.into()),
    };
    if !new.regions.is_empty() {
        weekly_report_region::Entity::insert_many(new.regions.iter().map(|r| {
            weekly_report_region::ActiveModel {
                report_id: Set(report.id),
                region_id: Set(*r),
            }
        }))
        .exec(&txn)
        .await?;
    }
    let (st, err, next) = match &new.email {
        Some(_) => (status::PENDING, None, Some(now)),
        None => (
            status::FAILED,
            Some("the recipient has no e-mail address".to_owned()),
            None,
        ),
    };
    report_delivery::ActiveModel {
        report_id: Set(report.id),
        email: Set(new.email.clone()),
        status: Set(st.into()),
        attempts: Set(0),
        last_error: Set(err),
        next_attempt_at: Set(next),
        lease_until: Set(None),
        sent_at: Set(None),
        created_at: Set(now),
        updated_at: Set(now),
        ..Default::default()
    }
    .insert(&txn)
    .await?;
    txn.commit().await?;
    Ok(Some(report.id))
}

fn claimable(now: DateTime<Utc>) -> Condition {
    use report_delivery::Column as C;
    Condition::any()
        .add(
            Condition::all()
                .add(C::Status.is_in([status::PENDING, status::RETRYING]))
                .add(
                    Condition::any()
                        .add(C::NextAttemptAt.is_null())
                        .add(C::NextAttemptAt.lte(now)),
                ),
        )
        // A sender that died while sending.
        .add(
            Condition::all()
                .add(C::Status.eq(status::SENDING))
                .add(C::LeaseUntil.lt(now)),
        )
}

/// Deliveries due now, oldest first.
pub async fn due(
    app: &Ctx,
    now: DateTime<Utc>,
    limit: u64,
) -> anyhow::Result<Vec<report_delivery::Model>> {
    Ok(report_delivery::Entity::find()
        .filter(claimable(now))
        .order_by_asc(report_delivery::Column::Id)
        .limit(limit)
        .all(&app.db.read)
        .await?)
}

/// Claims a due delivery for one attempt; false when another sender has it
/// (or it is no longer due).
pub async fn claim(app: &Ctx, id: i64, now: DateTime<Utc>) -> anyhow::Result<bool> {
    use report_delivery::Column as C;
    let res = report_delivery::Entity::update_many()
        .col_expr(C::Status, Expr::value(status::SENDING))
        .col_expr(C::Attempts, Expr::col(C::Attempts).add(1))
        .col_expr(C::LeaseUntil, Expr::value(now + LEASE))
        .col_expr(C::UpdatedAt, Expr::value(now))
        .filter(C::Id.eq(id))
        .filter(claimable(now))
        .exec(&app.db.write)
        .await?;
    Ok(res.rows_affected == 1)
}

pub async fn sent(app: &Ctx, id: i64) -> anyhow::Result<()> {
    use report_delivery::Column as C;
    let now = salesguard_domain::clock::now();
    report_delivery::Entity::update_many()
        .col_expr(C::Status, Expr::value(status::SENT))
        .col_expr(C::SentAt, Expr::value(now))
        .col_expr(C::LeaseUntil, Expr::value(Option::<DateTime<Utc>>::None))
        .col_expr(C::NextAttemptAt, Expr::value(Option::<DateTime<Utc>>::None))
        .col_expr(C::LastError, Expr::value(Option::<String>::None))
        .col_expr(C::UpdatedAt, Expr::value(now))
        .filter(C::Id.eq(id))
        .exec(&app.db.write)
        .await?;
    Ok(())
}

/// The wait before attempt `attempts + 1`: base × 2^(attempts − 1), at most
/// an hour.
pub fn backoff(smtp: &SmtpSettings, attempts: i32) -> Duration {
    let exp = attempts.clamp(1, 20) - 1;
    let secs = Ord::min(smtp.retry_base_secs.saturating_mul(1u64 << exp), 3600);
    Duration::seconds(secs as i64)
}

/// Records a failed attempt: RETRYING with the next attempt's time, or
/// FAILED after the last one. Returns the new status.
pub async fn failed(
    app: &Ctx,
    smtp: &SmtpSettings,
    id: i64,
    attempts: i32,
    error: &str,
) -> anyhow::Result<&'static str> {
    use report_delivery::Column as C;
    let now = salesguard_domain::clock::now();
    let error: String = error.chars().take(1000).collect();
    let (st, next) = if attempts >= smtp.max_attempts {
        (status::FAILED, None)
    } else {
        (status::RETRYING, Some(now + backoff(smtp, attempts)))
    };
    report_delivery::Entity::update_many()
        .col_expr(C::Status, Expr::value(st))
        .col_expr(C::LastError, Expr::value(Some(error)))
        .col_expr(C::NextAttemptAt, Expr::value(next))
        .col_expr(C::LeaseUntil, Expr::value(Option::<DateTime<Utc>>::None))
        .col_expr(C::UpdatedAt, Expr::value(now))
        .filter(C::Id.eq(id))
        .exec(&app.db.write)
        .await?;
    Ok(st)
}

/// Puts the FAILED deliveries of a week's reports back to PENDING (with the
/// recipient's current address), for another round of attempts. Returns
/// how many.
pub async fn requeue_failed(app: &Ctx, week_start: chrono::NaiveDate) -> anyhow::Result<usize> {
    let reports = weekly_report::Entity::find()
        .filter(weekly_report::Column::WeekStart.eq(week_start))
        .all(&app.db.read)
        .await?;
    let mut n = 0;
    for r in reports {
        let Some(d) = report_delivery::Entity::find()
            .filter(report_delivery::Column::ReportId.eq(r.id))
            .filter(report_delivery::Column::Status.eq(status::FAILED))
            .one(&app.db.read)
            .await?
        else {
            continue;
        };
        let email = user::Entity::find_by_id(r.recipient_id)
            .one(&app.db.read)
            .await?
            .and_then(|u| u.email);
        if email.is_none() {
            continue;
        }
        let now = salesguard_domain::clock::now();
        let mut am: report_delivery::ActiveModel = d.into();
        am.status = Set(status::PENDING.into());
        am.email = Set(email);
        am.attempts = Set(0);
        am.next_attempt_at = Set(Some(now));
        am.updated_at = Set(now);
        am.update(&app.db.write).await?;
        n += 1;
    }
    Ok(n)
}

pub async fn report(app: &Ctx, id: i64) -> anyhow::Result<Option<weekly_report::Model>> {
    Ok(weekly_report::Entity::find_by_id(id)
        .one(&app.db.read)
        .await?)
}
