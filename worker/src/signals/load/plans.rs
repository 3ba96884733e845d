//! Forecasts, the price list and price observations.
use std::time::Instant;

use anyhow::Context;
use polars::prelude::*;
use sea_orm::DatabaseConnection;

use super::days::month_of_period;
use super::marks::Mark;
use super::rows::{c, each, frame};
use super::statements;

/// Forecasts and the price list (read whole: forecasts are revised in
/// place).
pub(super) async fn load_plans(db: DatabaseConnection) -> anyhow::Result<(DataFrame, DataFrame)> {
    let mut f = (vec![], vec![], vec![], vec![], vec![], vec![]);
    each(&db, statements::FORECASTS, |r| {
        let Some(month) = month_of_period(&r.text(1)?) else {
            return Ok(());
        };
        f.0.push(r.i64(0)?);
        f.1.push(month);
        f.2.push(r.i64(2)?);
        f.3.push(r.i64(3)?);
        f.4.push(r.i64(4)?);
        f.5.push(r.i64(5)?);
        Ok(())
    })
    .await
    .context("forecasts")?;
    let forecasts = frame(vec![
        c("id", f.0),
        c("month", f.1),
        c("region_id", f.2),
        c("product_id", f.3),
        c("salesperson_id", f.4),
        c("qty", f.5),
    ])?;

    let (mut fl_product, mut fl_tier, mut fl_floor) = (vec![], vec![], vec![]);
    each(&db, statements::PRICE_LIST, |r| {
        fl_product.push(r.i64(0)?);
        fl_tier.push(r.text(1)?);
        fl_floor.push(r.i64(2)?);
        Ok(())
    })
    .await
    .context("price list")?;
    let floors = frame(vec![
        c("product_id", fl_product),
        c("tier", fl_tier),
        c("floor_fen", fl_floor),
    ])?;
    Ok((forecasts, floors))
}

/// Price observations after `since`.
pub(super) async fn load_prices(
    db: DatabaseConnection,
    since: Option<Mark>,
) -> anyhow::Result<(DataFrame, Mark)> {
    let mut p = (vec![], vec![], vec![], vec![], vec![], vec![]);
    each(&db, &statements::prices(since.as_ref()), |r| {
        p.0.push(r.i64(0)?);
        p.1.push(r.i64(1)?);
        p.2.push(r.i64(2)?);
        p.3.push(r.text(3)?);
        p.4.push(r.i64(4)?);
        p.5.push(r.day(5)?);
        Ok(())
    })
    .await
    .context("price observations")?;
    let mark = Mark::advance(since.as_ref(), &p.0, Instant::now());
    let prices = frame(vec![
        c("id", p.0),
        c("product_id", p.1),
        c("region_id", p.2),
        c("tier", p.3),
        c("price_fen", p.4),
        c("day", p.5),
    ])?;
    Ok((prices, mark))
}
