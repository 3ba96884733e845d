//! Shipped orders, their lines, payments and open receivables.
use std::collections::HashMap;
use std::time::Instant;

use chrono::{DateTime, Utc};
use chrono_tz::Tz;
use polars::prelude::*;
use sea_orm::DatabaseConnection;

use super::days::{day_of, month_of_day};
use super::marks::Mark;
use super::rows::{c, each, frame, task};
use super::statements;

/// Shipped orders (those after `since`, by shipment id), and the mark.
async fn load_orders(
    db: DatabaseConnection,
    tz: Tz,
    since: Option<Mark>,
) -> anyhow::Result<(DataFrame, Mark)> {
    let day = |t: DateTime<Utc>| day_of(t.with_timezone(&tz).date_naive());
    let (mut o_id, mut o_agent, mut o_region, mut o_sp, mut o_total, mut o_day, mut o_month) =
        (vec![], vec![], vec![], vec![], vec![], vec![], vec![]);
    let mut keys = vec![];
    each(&db, &statements::orders(since.as_ref()), |r| {
        o_id.push(r.i64(0)?);
        o_agent.push(r.i64(1)?);
        o_region.push(r.i64(2)?);
        o_sp.push(r.i64(3)?);
        o_total.push(r.i64(4)?);
        let d = day(r.ts(5)?);
        o_day.push(d);
        o_month.push(month_of_day(d));
        keys.push(r.i64(6)?);
        Ok(())
    })
    .await?;
    let mark = Mark::advance(since.as_ref(), &keys, Instant::now());
    let df = frame(vec![
        c("order_id", o_id),
        c("agent_id", o_agent),
        c("region_id", o_region),
        c("salesperson_id", o_sp),
        c("total_fen", o_total),
        c("ship_day", o_day),
        c("ship_month", o_month),
    ])?;
    Ok((df, mark))
}

/// Order lines. A full load reads all of them: the computation keeps those
/// of shipped orders when it joins them to the orders (cheaper there than a
/// join in the query). A sync reads the lines of the orders shipped after
/// `since`; it runs after the orders' read, so it sees at least their lines
/// (an order's lines are written before it ships and never change after).
async fn load_lines(db: DatabaseConnection, since: Option<Mark>) -> anyhow::Result<DataFrame> {
    let (mut l_order, mut l_product, mut l_qty, mut l_price) = (vec![], vec![], vec![], vec![]);
    each(&db, &statements::lines(since.as_ref()), |r| {
        l_order.push(r.i64(0)?);
        l_product.push(r.i64(1)?);
        l_qty.push(r.i64(2)?);
        l_price.push(r.i64(3)?);
        Ok(())
    })
    .await?;
    frame(vec![
        c("order_id", l_order),
        c("product_id", l_product),
        c("qty", l_qty),
        c("price_fen", l_price),
    ])
}

/// Shipped orders and their lines joined to them (the order lines frame
/// `lo`), and the shipments' mark.
pub(super) async fn load_shipped(
    db: DatabaseConnection,
    tz: Tz,
    since: Option<Mark>,
) -> anyhow::Result<(DataFrame, DataFrame, Mark)> {
    let ((orders, mark), lines) = if since.is_none() {
        tokio::try_join!(
            task("orders", load_orders(db.clone(), tz, None)),
            task("order lines", load_lines(db.clone(), None)),
        )?
    } else {
        let orders = load_orders(db.clone(), tz, since.clone()).await?;
        (orders, load_lines(db, since).await?)
    };
    let lo = super::super::compute::lines_with_orders(lines, &orders)?;
    Ok((orders, lo, mark))
}

pub(super) async fn load_payments(
    db: DatabaseConnection,
    since: Option<Mark>,
) -> anyhow::Result<(DataFrame, Mark)> {
    let (mut p_order, mut p_amount, mut p_day) = (vec![], vec![], vec![]);
    let mut keys = vec![];
    each(&db, &statements::payments(since.as_ref()), |r| {
        p_order.push(r.i64(0)?);
        p_amount.push(r.i64(1)?);
        p_day.push(r.day(2)?);
        keys.push(r.i64(3)?);
        Ok(())
    })
    .await?;
    let mark = Mark::advance(since.as_ref(), &keys, Instant::now());
    let df = frame(vec![
        c("order_id", p_order),
        c("amount_fen", p_amount),
        c("day", p_day),
    ])?;
    Ok((df, mark))
}

pub(super) async fn load_receivables(
    db: DatabaseConnection,
) -> anyhow::Result<(DataFrame, HashMap<i64, String>)> {
    let (mut r_order, mut r_agent, mut r_out, mut r_due) = (vec![], vec![], vec![], vec![]);
    let mut order_numbers = HashMap::new();
    each(&db, statements::RECEIVABLES, |r| {
        let order = r.i64(0)?;
        r_order.push(order);
        r_agent.push(r.i64(1)?);
        r_out.push(r.i64(2)?);
        r_due.push(r.day(3)?);
        order_numbers.insert(order, r.text(4)?);
        Ok(())
    })
    .await?;
    let df = frame(vec![
        c("order_id", r_order),
        c("agent_id", r_agent),
        c("outstanding_fen", r_out),
        c("due_day", r_due),
    ])?;
    Ok((df, order_numbers))
}
