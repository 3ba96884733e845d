//! The AR movements (`ar_entries`) and the business day of shipment that
//! the receivables' figures are summed from, filled in at start for data
//! written before they existed.
use chrono_tz::Tz;

use salesguard_entities::db::Db;

/// Fills in what data written before it existed lacks (run at start by the
/// API and the worker): the business day of earlier shipments, then their
/// AR movements.
pub async fn fill_in(db: &Db, tz: Tz) -> anyhow::Result<()> {
    let n = backfill_shipped_on(db, tz).await?;
    if n > 0 {
        tracing::info!(
            shipments = n,
            "filled in the business day of earlier shipments"
        );
    }
    let n = backfill_ar_entries(db).await?;
    if n > 0 {
        tracing::info!(orders = n, "filled in the AR entries of earlier orders");
    }
    Ok(())
}

/// Fills in `sales_orders.shipped_on` (the business day of the order's
/// shipment) for orders shipped before it existed. Returns how many.
pub async fn backfill_shipped_on(db: &Db, tz: Tz) -> anyhow::Result<u64> {
    use anyhow::Context as _;
    use salesguard_entities::model::{sales_order, shipment};
    use sea_orm::{
        ColumnTrait, EntityTrait, QueryFilter, QueryOrder, QuerySelect, TransactionTrait,
    };

    let mut done = 0u64;
    let mut after = 0i64;
    loop {
        let batch: Vec<(i64, i64, chrono::DateTime<chrono::Utc>)> = shipment::Entity::find()
            .select_only()
            .column(shipment::Column::Id)
            .column(shipment::Column::OrderId)
            .column(shipment::Column::ShippedAt)
            .filter(shipment::Column::Id.gt(after))
            .filter(
                shipment::Column::OrderId.in_subquery(
                    sea_orm::sea_query::Query::select()
                        .column(sales_order::Column::Id)
                        .from(sales_order::Entity)
                        .and_where(sales_order::Column::ShippedOn.is_null())
                        .to_owned(),
                ),
            )
            .order_by_asc(shipment::Column::Id)
            .limit(5_000)
            .into_tuple()
            // Read on the read pool: the write connection is taken only
            // when there is something to fill in.
            .all(&db.read)
            .await
            .context("orders shipped without shipped_on")?;
        let Some(last) = batch.last() else {
            return Ok(done);
        };
        after = last.0;
        let txn = db.write.begin().await?;
        for (_, order_id, at) in &batch {
            sales_order::Entity::update_many()
                .col_expr(
                    sales_order::Column::ShippedOn,
                    sea_orm::sea_query::Expr::value(at.with_timezone(&tz).date_naive()),
                )
                // A change of the order like any other: a step that read it
                // before (or kept what the last step left, `step_cache`)
                // misses its write and reads it again.
                .col_expr(
                    sales_order::Column::Version,
                    sea_orm::sea_query::ExprTrait::add(
                        sea_orm::sea_query::Expr::col(sales_order::Column::Version),
                        1,
                    ),
                )
                .filter(sales_order::Column::Id.eq(*order_id))
                .exec(&txn)
                .await?;
        }
        txn.commit().await?;
        done += batch.len() as u64;
    }
}

/// Writes the AR movements (`ar_entries`) of the orders with a receivable
/// that have none: orders shipped before the table existed, or loaded in
/// bulk. Same entries as the shipment and payment steps write: `+` the
/// total on the day of shipment, `−` each payment on the later of its
/// receipt and the shipment. Returns the orders filled in.
pub async fn backfill_ar_entries(db: &Db) -> anyhow::Result<u64> {
    use anyhow::Context as _;
    use sea_orm::{ConnectionTrait, Statement};

    const MISSING: &str = "FROM receivables r JOIN sales_orders o ON o.id = r.order_id \
        WHERE o.shipped_on IS NOT NULL \
        AND NOT EXISTS (SELECT 1 FROM ar_entries e WHERE e.order_id = r.order_id)";
    let be = db.write.get_database_backend();
    let count = db
        .read
        .query_one_raw(Statement::from_string(
            be,
            format!("SELECT COUNT(*) AS n {MISSING}"),
        ))
        .await
        .context("orders without AR entries")?;
    let n: i64 = match count {
        Some(row) => row.try_get("", "n")?,
        None => 0,
    };
    if n == 0 {
        return Ok(0);
    }
    // One statement: both parts see the table as it was before it.
    let sql = format!(
        "INSERT INTO ar_entries (order_id, region_id, agent_id, salesperson_id, due_on, entry_on, amount_fen) \
         SELECT o.id, o.region_id, o.agent_id, o.salesperson_id, r.due_on, o.shipped_on, o.total_fen {MISSING} \
         UNION ALL \
         SELECT o.id, o.region_id, o.agent_id, o.salesperson_id, r.due_on, \
           CASE WHEN p.received_on > o.shipped_on THEN p.received_on ELSE o.shipped_on END, -p.amount_fen \
         FROM receivables r JOIN sales_orders o ON o.id = r.order_id JOIN payments p ON p.order_id = o.id \
         WHERE o.shipped_on IS NOT NULL \
         AND NOT EXISTS (SELECT 1 FROM ar_entries e WHERE e.order_id = r.order_id)"
    );
    db.write
        .execute_raw(Statement::from_string(be, sql))
        .await
        .context("filling in AR entries")?;
    Ok(n as u64)
}
