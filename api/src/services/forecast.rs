//! Sales forecasts (SPEC S4.5): each salesperson reports, per month, region
//! and product, the units they expect to sell. A new report for the same
//! month, region and product replaces the previous one (the audit trail keeps
//! every version).
use async_graphql::{InputObject, ID};
use chrono::{Datelike, NaiveDate};
use sea_orm::sea_query::OnConflict;
use sea_orm::{ColumnTrait, EntityTrait, QueryFilter, Set};
use serde::Serialize;

use salesguard_entities::model::{forecast, product, region};

use crate::audit::Entry;
use crate::error::{bad_input, ServiceError, UserError, UserErrorCode};
use crate::graphql::ids;
use crate::idempotency::StepRun;

/// One product's line of a forecast.
#[derive(InputObject, Serialize, Clone, Debug)]
pub struct ForecastLineInput {
    /// The product forecast; each product at most once per forecast.
    pub product_id: ID,
    /// Units expected to be sold in the month, 0 to 10,000,000.
    pub quantity: i64,
}

/// A salesperson's forecast for one month and region (salesperson only); it
/// replaces their earlier figures for the same month, region and products.
#[derive(InputObject, Serialize, Clone, Debug)]
pub struct ForecastSubmitInput {
    /// The month, `YYYY-MM`, from last month up to 18 months ahead.
    pub period: String,
    /// The region forecast; one outside the caller's regions is NOT_FOUND.
    pub region_id: ID,
    /// The products and their quantities, 1 to 500 lines.
    pub lines: Vec<ForecastLineInput>,
    /// Retry key, 1 to 200 characters, per user: a retry of a request that succeeded
    /// returns its result again; the key with another request gets IDEMPOTENCY_KEY_REUSED.
    pub idempotency_key: Option<String>,
}

/// Parses `YYYY-MM` into the first day of that month.
pub fn parse_period(path: &[&str], s: &str) -> Result<NaiveDate, ServiceError> {
    let bad = || bad_input(path, "must be a month as YYYY-MM, e.g. 2026-12");
    if s.len() != 7 || s.as_bytes().get(4) != Some(&b'-') {
        return Err(bad());
    }
    NaiveDate::parse_from_str(&format!("{s}-01"), "%Y-%m-%d").map_err(|_| bad())
}

/// Submits (or replaces) the salesperson's forecast for one month and
/// region; returns the ids of the forecast rows.
pub async fn forecast_submit(
    run: &mut StepRun,
    input: ForecastSubmitInput,
) -> Result<Vec<i64>, ServiceError> {
    crate::services::require(run, salesguard_domain::Capability::SubmitForecast)?;
    let month = parse_period(&["period"], input.period.trim())?;
    let today = salesguard_domain::docnum::business_day(run.now, run.app.tz);
    let index = |d: NaiveDate| d.year() * 12 + d.month() as i32;
    let months_ahead = index(month) - index(today);
    if !(-1..=18).contains(&months_ahead) {
        return Err(bad_input(
            &["period"],
            "forecasts are for last month up to 18 months ahead",
        ));
    }
    let rid = ids::decode("Region", &input.region_id, "regionId")?;
    region::Entity::find_by_id(rid)
        .one(&run.txn)
        .await?
        .filter(|_| run.actor.sees_region(rid))
        .ok_or_else(|| {
            ServiceError::User(
                UserError::new(UserErrorCode::NotFound, "no such region").at(&["regionId"]),
            )
        })?;
    if input.lines.is_empty() || input.lines.len() > 500 {
        return Err(bad_input(&["lines"], "a forecast has 1 to 500 lines"));
    }
    let period = month.format("%Y-%m").to_string();
    let mut seen = std::collections::BTreeSet::new();
    let mut rows = vec![];
    for (i, l) in input.lines.iter().enumerate() {
        let idx = i.to_string();
        let pid = ids::decode("Product", &l.product_id, "productId")
            .map_err(|_| bad_input(&["lines", &idx, "productId"], "is not a valid Product ID"))?;
        if l.quantity < 0 || l.quantity > 10_000_000 {
            return Err(bad_input(
                &["lines", &idx, "quantity"],
                "must be between 0 and 10000000",
            ));
        }
        if !seen.insert(pid) {
            return Err(bad_input(
                &["lines", &idx, "productId"],
                "the product appears twice",
            ));
        }
        product::Entity::find_by_id(pid)
            .one(&run.txn)
            .await?
            .ok_or_else(|| bad_input(&["lines", &idx, "productId"], "no such product"))?;
        rows.push(forecast::ActiveModel {
            period: Set(period.clone()),
            region_id: Set(rid),
            product_id: Set(pid),
            salesperson_id: Set(run.actor.user_id),
            quantity: Set(l.quantity),
            submitted_at: Set(run.now),
            updated_at: Set(run.now),
            ..Default::default()
        });
    }
    forecast::Entity::insert_many(rows)
        .on_conflict(
            OnConflict::columns([
                forecast::Column::Period,
                forecast::Column::RegionId,
                forecast::Column::ProductId,
                forecast::Column::SalespersonId,
            ])
            .update_columns([forecast::Column::Quantity, forecast::Column::UpdatedAt])
            .to_owned(),
        )
        .exec_without_returning(&run.txn)
        .await?;
    let saved = forecast::Entity::find()
        .filter(forecast::Column::Period.eq(period.clone()))
        .filter(forecast::Column::RegionId.eq(rid))
        .filter(forecast::Column::SalespersonId.eq(run.actor.user_id))
        .filter(forecast::Column::ProductId.is_in(seen.iter().copied()))
        .all(&run.txn)
        .await?;
    run.audit(
        Entry {
            stream: format!("forecasts:{}", run.actor.user_id),
            ..Entry::ok(&run.actor, "forecastSubmit", "Region", rid)
        }
        .after(&saved)
        .detail(format!("forecast for {period}")),
    )
    .await?;
    crate::outbox::enqueue(
        &run.txn,
        crate::outbox::RECOMPUTE_SIGNALS,
        &format!(
            "signals:forecast:{}:{}:{}:{}",
            run.actor.user_id,
            rid,
            period,
            run.now.timestamp_micros()
        ),
        serde_json::json!({"trigger": "forecastSubmit", "regionId": rid, "period": period}),
    )
    .await?;
    Ok(saved.into_iter().map(|f| f.id).collect())
}
