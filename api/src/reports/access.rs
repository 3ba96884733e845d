//! Who may read a weekly report: its recipient, and whoever sees every
//! region it covers (a company-wide report: company-wide readers only).
use sea_orm::sea_query::{Expr, ExprTrait, Query};
use sea_orm::{ColumnTrait, Condition, ConnectionTrait, EntityTrait, QueryFilter};

use salesguard_entities::model::{weekly_report, weekly_report_region};

use crate::auth::Actor;
use crate::error::AppError;

/// Whether `actor` may read `report`, which covers the regions `covered`.
pub fn may_read(actor: &Actor, report: &weekly_report::Model, covered: &[i64]) -> bool {
    actor.user_id == report.recipient_id
        || actor.global
        || (!report.all_regions && covered.iter().all(|r| actor.regions.contains(r)))
}

/// The same rule as a condition on `weekly_reports`, for lists.
pub fn readable(actor: &Actor) -> Condition {
    if actor.global {
        return Condition::all();
    }
    let mine: Vec<i64> = actor.regions.iter().copied().collect();
    let outside = Query::select()
        .expr(Expr::val(1))
        .from(weekly_report_region::Entity)
        .and_where(
            Expr::col((
                weekly_report_region::Entity,
                weekly_report_region::Column::ReportId,
            ))
            .equals((weekly_report::Entity, weekly_report::Column::Id)),
        )
        .and_where(
            Expr::col((
                weekly_report_region::Entity,
                weekly_report_region::Column::RegionId,
            ))
            .is_not_in(mine),
        )
        .to_owned();
    Condition::any()
        .add(weekly_report::Column::RecipientId.eq(actor.user_id))
        .add(
            Condition::all()
                .add(weekly_report::Column::AllRegions.eq(false))
                .add(Expr::exists(outside).not()),
        )
}

/// The report with this id if `actor` may read it; `None` otherwise (as if
/// it did not exist).
pub async fn load_readable<C: ConnectionTrait>(
    db: &C,
    actor: &Actor,
    id: i64,
) -> Result<Option<weekly_report::Model>, AppError> {
    let Some(report) = weekly_report::Entity::find_by_id(id).one(db).await? else {
        return Ok(None);
    };
    let covered: Vec<i64> = weekly_report_region::Entity::find()
        .filter(weekly_report_region::Column::ReportId.eq(id))
        .all(db)
        .await?
        .into_iter()
        .map(|r| r.region_id)
        .collect();
    Ok(may_read(actor, &report, &covered).then_some(report))
}
