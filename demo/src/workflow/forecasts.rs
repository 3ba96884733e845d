//! The forecasts of the plan.
use std::collections::HashMap;

use anyhow::anyhow;
use chrono::{Duration, NaiveDate, Utc};
use sea_orm::{EntityTrait, Set};
use serde_json::{json, Value};

use salesguard_api::AppState;
use salesguard_entities::model::{forecast, user};

use super::super::scenario::{add_months, month_start, Activity, World};
use super::{at, Gql, Ids};

/// Forecasts: through `forecastSubmit` for the months the API takes (last
/// month on); older months of the history directly.
pub(super) async fn forecasts(
    g: &mut Gql,
    app: &AppState,
    w: &World,
    ids: &Ids,
    act: &Activity,
) -> anyhow::Result<()> {
    let today = salesguard_domain::docnum::business_day(Utc::now(), app.tz);
    let earliest = add_months(month_start(today), -1);
    let mut by: std::collections::BTreeMap<(usize, usize, NaiveDate), Vec<(usize, i64)>> =
        Default::default();
    for f in &act.forecasts {
        by.entry((f.salesperson, f.region, f.month))
            .or_default()
            .push((f.product, f.qty));
    }
    let mut direct = vec![];
    let user_ids: HashMap<String, i64> = user::Entity::find()
        .all(&app.db.read)
        .await?
        .into_iter()
        .map(|u| (u.username, u.id))
        .collect();
    let region_ids: HashMap<String, i64> = salesguard_entities::model::region::Entity::find()
        .all(&app.db.read)
        .await?
        .into_iter()
        .map(|r| (r.code, r.id))
        .collect();
    let product_ids: HashMap<String, i64> = salesguard_entities::model::product::Entity::find()
        .all(&app.db.read)
        .await?
        .into_iter()
        .map(|p| (p.sku, p.id))
        .collect();
    let now = salesguard_domain::clock::now();
    for ((sp, r, m), lines) in by {
        if m >= earliest {
            let lines: Vec<Value> = lines
                .iter()
                .map(|(p, q)| json!({"productId": ids.products[*p], "quantity": q}))
                .collect();
            g.mutate(
                &ids.actors[sp],
                "forecastSubmit",
                "ForecastSubmitInput",
                "forecasts{period}",
                json!({"period": m.format("%Y-%m").to_string(), "regionId": ids.regions[r], "lines": lines}),
            )
            .await?;
        } else {
            let lookup = |m: &HashMap<String, i64>, k: &str| {
                m.get(k).copied().ok_or_else(|| anyhow!("{k} not found"))
            };
            let uid = lookup(&user_ids, &w.users[sp].username)?;
            let rid = lookup(&region_ids, &w.regions[r].code)?;
            let submitted = at(app, m - Duration::days(5), 0).min(now);
            for (p, q) in lines {
                direct.push(forecast::ActiveModel {
                    period: Set(m.format("%Y-%m").to_string()),
                    region_id: Set(rid),
                    product_id: Set(lookup(&product_ids, &w.products[p].sku)?),
                    salesperson_id: Set(uid),
                    quantity: Set(q),
                    submitted_at: Set(submitted),
                    updated_at: Set(submitted),
                    ..Default::default()
                });
            }
        }
    }
    let txn = app.db.begin().await?;
    for chunk in direct.chunks(500) {
        forecast::Entity::insert_many(chunk.to_vec())
            .exec_without_returning(&txn)
            .await?;
    }
    txn.commit().await?;
    Ok(())
}
