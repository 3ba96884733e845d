//! Market data in bulk (SPEC S1.1 inputs): sell-through reports,
//! sightings of units (activations, warranty registrations, call-back
//! findings), price observations, and the price list with floor prices.
//!
//! Bulk inputs are validated row by row. A bad row is reported with its row
//! number (1-based), field and reason; with `SKIP_INVALID` the good rows are
//! saved, with `ALL_OR_NOTHING` (the default) nothing is saved if any row is
//! bad.
use async_graphql::{Enum, InputObject, SimpleObject, ID};
use chrono::NaiveDate;
use sea_orm::sea_query::OnConflict;
use sea_orm::{EntityTrait, Set};
use serde::{Deserialize, Serialize};

use salesguard_domain::{Fen, MoneyError};
use salesguard_entities::model::{
    agent, price_list_entry, price_observation, product, region, sell_through, unit_sighting,
};

use crate::audit::Entry;
use crate::error::{bad_input, ServiceError, UserError, UserErrorCode};
use crate::graphql::ids;
use crate::idempotency::StepRun;
use crate::services::require;
use salesguard_domain::Capability;

/// What a bulk input does when some of its rows are invalid.
#[derive(Enum, Copy, Clone, Debug, PartialEq, Eq, Serialize, Default)]
pub enum BulkMode {
    /// Save nothing if any row is invalid.
    #[default]
    AllOrNothing,
    /// Save the valid rows, report the invalid ones.
    SkipInvalid,
}

/// A row refused in a bulk input.
#[derive(SimpleObject, Serialize, Deserialize, Clone, Debug, PartialEq, Eq)]
pub struct RowError {
    /// 1-based row number in the input.
    pub row: i32,
    /// The row's input field at fault, e.g. `salePrice`.
    pub field: String,
    /// Why the row was refused, for people.
    pub message: String,
}

/// The outcome of a bulk input.
#[derive(SimpleObject, Serialize, Deserialize, Clone, Debug, PartialEq, Eq)]
pub struct BulkResult {
    /// Rows saved.
    pub accepted: i32,
    /// Rows refused, with why.
    pub rejected: Vec<RowError>,
}

/// The level of the channel a price belongs to, upstream first.
#[derive(Enum, Copy, Clone, Debug, PartialEq, Eq, Serialize)]
pub enum ChannelTier {
    /// The agent (distributor) buying from the company.
    Agent,
    /// A dealer buying from the agent.
    Dealer,
    /// The price to end users.
    Retail,
}

impl ChannelTier {
    pub fn as_str(&self) -> &'static str {
        match self {
            ChannelTier::Agent => "AGENT",
            ChannelTier::Dealer => "DEALER",
            ChannelTier::Retail => "RETAIL",
        }
    }
}

/// How a unit turned up in the market.
#[derive(Enum, Copy, Clone, Debug, PartialEq, Eq, Serialize)]
pub enum SightingKind {
    /// The end user activated the unit.
    Activation,
    /// A warranty registration.
    Warranty,
    /// Found on a call-back to an end user.
    Callback,
}

impl SightingKind {
    pub fn as_str(&self) -> &'static str {
        match self {
            SightingKind::Activation => "ACTIVATION",
            SightingKind::Warranty => "WARRANTY",
            SightingKind::Callback => "CALLBACK",
        }
    }
}

/// Validates rows; saves the valid ones (or none) with `save`.
async fn bulk<R, T, V, S>(
    run: &mut StepRun,
    rows: &[R],
    mode: BulkMode,
    max_rows: usize,
    mut validate: V,
    save: S,
) -> Result<BulkResult, ServiceError>
where
    V: FnMut(&StepRun, &R) -> Result<T, (String, String)>,
    S: for<'r> FnOnce(
        &'r StepRun,
        Vec<T>,
    ) -> futures::future::BoxFuture<'r, Result<(), ServiceError>>,
{
    if rows.is_empty() || rows.len() > max_rows {
        return Err(bad_input(&["rows"], format!("give 1 to {max_rows} rows")));
    }
    let mut good = vec![];
    let mut rejected = vec![];
    for (i, r) in rows.iter().enumerate() {
        match validate(run, r) {
            Ok(v) => good.push(v),
            Err((field, message)) => rejected.push(RowError {
                row: i as i32 + 1,
                field,
                message,
            }),
        }
    }
    if !rejected.is_empty() && mode == BulkMode::AllOrNothing {
        return Ok(BulkResult {
            accepted: 0,
            rejected,
        });
    }
    let accepted = good.len() as i32;
    if !good.is_empty() {
        save(run, good).await?;
    }
    Ok(BulkResult { accepted, rejected })
}

fn row_money(field: &str, s: &str) -> Result<i64, (String, String)> {
    Fen::parse(s).map(|f| f.0).map_err(|e| {
        let msg = match e {
            MoneyError::Malformed(_) => "must be a decimal amount with at most 2 decimals".into(),
            other => other.to_string(),
        };
        (field.to_owned(), msg)
    })
}

fn row_date(field: &str, d: NaiveDate, today: NaiveDate) -> Result<NaiveDate, (String, String)> {
    if d > today {
        return Err((field.to_owned(), "must not be in the future".into()));
    }
    Ok(d)
}

/// Lookups the rows need, loaded once per batch.
struct Known {
    products: std::collections::HashSet<i64>,
    regions: std::collections::HashSet<i64>,
}

async fn known(run: &StepRun) -> Result<Known, ServiceError> {
    Ok(Known {
        products: product::Entity::find()
            .all(&run.txn)
            .await?
            .into_iter()
            .map(|p| p.id)
            .collect(),
        regions: region::Entity::find()
            .all(&run.txn)
            .await?
            .into_iter()
            .map(|r| r.id)
            .collect(),
    })
}

fn row_id(
    kind: &str,
    field: &str,
    id: &ID,
    exists: &std::collections::HashSet<i64>,
) -> Result<i64, (String, String)> {
    match ids::parse(id) {
        Some((k, n)) if k == kind && exists.contains(&n) => Ok(n),
        _ => Err((field.to_owned(), format!("no such {kind}"))),
    }
}

// ------------------------------------------------------------ sell-through

/// One row of an agent's sell-through report: what it sold, where and when.
#[derive(InputObject, Serialize, Clone, Debug)]
pub struct SellThroughRowInput {
    /// The product sold.
    pub product_id: ID,
    /// The unit's serial, when the agent reports per unit (at most 64 characters).
    pub serial: Option<String>,
    /// Units sold, 1 to 1,000,000 (1 when a serial is given).
    pub quantity: i64,
    /// Price the agent sold at, per unit, in yuan (a decimal string, e.g. "1899.00").
    pub sale_price: String,
    /// Where it was sold.
    pub region_id: ID,
    /// The day of the sale, not in the future.
    pub sold_on: crate::graphql::scalars::Date,
}

/// An agent's sell-through report, checked row by row (salesperson or sales
/// assistant of the agent's region).
#[derive(InputObject, Serialize, Clone, Debug)]
pub struct SellThroughRecordInput {
    /// The agent reporting; one outside the caller's regions is NOT_FOUND.
    pub agent_id: ID,
    /// The rows, 1 to 10,000.
    pub rows: Vec<SellThroughRowInput>,
    /// What to do with invalid rows; ALL_OR_NOTHING when omitted.
    #[graphql(default)]
    pub mode: BulkMode,
    /// Retry key, 1 to 200 characters, per user: a retry of a request that succeeded
    /// returns its result again; the key with another request gets IDEMPOTENCY_KEY_REUSED.
    pub idempotency_key: Option<String>,
}

pub async fn sell_through_record(
    run: &mut StepRun,
    input: SellThroughRecordInput,
) -> Result<BulkResult, ServiceError> {
    require(run, Capability::RecordSellThrough)?;
    let aid = ids::decode("Agent", &input.agent_id, "agentId")?;
    let ag = agent::Entity::find_by_id(aid)
        .one(&run.txn)
        .await?
        .filter(|a| run.actor.sees_region(a.region_id))
        .ok_or_else(|| {
            ServiceError::User(
                UserError::new(UserErrorCode::NotFound, "no such agent").at(&["agentId"]),
            )
        })?;
    let k = known(run).await?;
    let today = salesguard_domain::docnum::business_day(run.now, run.app.tz);
    let (uid, now) = (run.actor.user_id, run.now);
    let res = bulk(
        run,
        &input.rows,
        input.mode,
        10_000,
        |_, r: &SellThroughRowInput| {
            let pid = row_id("Product", "productId", &r.product_id, &k.products)?;
            let rid = row_id("Region", "regionId", &r.region_id, &k.regions)?;
            let serial = match r.serial.as_deref().map(str::trim) {
                Some("") | None => None,
                Some(s) if s.len() > 64 => return Err(("serial".into(), "is too long".into())),
                Some(s) => Some(s.to_owned()),
            };
            if r.quantity <= 0 || r.quantity > 1_000_000 || (serial.is_some() && r.quantity != 1) {
                return Err((
                    "quantity".into(),
                    "must be a positive whole number (1 for a serial)".into(),
                ));
            }
            let price = row_money("salePrice", &r.sale_price)?;
            let sold_on = row_date("soldOn", r.sold_on.0, today)?;
            Ok(sell_through::ActiveModel {
                agent_id: Set(aid),
                product_id: Set(pid),
                serial: Set(serial),
                quantity: Set(r.quantity),
                sale_price_fen: Set(price),
                sold_region_id: Set(rid),
                sold_on: Set(sold_on),
                recorded_by: Set(uid),
                recorded_at: Set(now),
                ..Default::default()
            })
        },
        |run, rows| {
            Box::pin(async move {
                sell_through::Entity::insert_many(rows)
                    .exec_without_returning(&run.txn)
                    .await?;
                Ok(())
            })
        },
    )
    .await?;
    run.audit(
        Entry {
            stream: format!("market:{}", run.actor.user_id),
            ..Entry::ok(&run.actor, "sellThroughRecord", "Agent", ag.id)
        }
        .after(&res),
    )
    .await?;
    crate::outbox::enqueue(
        &run.txn,
        crate::outbox::RECOMPUTE_SIGNALS,
        &format!(
            "signals:sell_through:{}:{}",
            run.actor.user_id,
            run.now.timestamp_micros()
        ),
        serde_json::json!({"trigger": "sellThroughRecord", "agentId": ag.id}),
    )
    .await?;
    Ok(res)
}

// ------------------------------------------------------------ sightings

/// One unit seen in the market.
#[derive(InputObject, Serialize, Clone, Debug)]
pub struct UnitSightingRowInput {
    /// The unit's serial number, 1 to 64 characters.
    pub serial: String,
    /// How the unit turned up.
    pub kind: SightingKind,
    /// Where the unit turned up; one of the caller's regions.
    pub region_id: ID,
    /// The day it was seen, not in the future.
    pub seen_on: crate::graphql::scalars::Date,
    /// Optional note, at most 500 characters.
    pub note: Option<String>,
}

/// Units seen in the market, checked row by row (call center, market specialist,
/// salesperson, sales assistant or supervision).
#[derive(InputObject, Serialize, Clone, Debug)]
pub struct UnitSightingRecordInput {
    /// The rows, 1 to 10,000.
    pub rows: Vec<UnitSightingRowInput>,
    /// What to do with invalid rows; ALL_OR_NOTHING when omitted.
    #[graphql(default)]
    pub mode: BulkMode,
    /// Retry key, 1 to 200 characters, per user: a retry of a request that succeeded
    /// returns its result again; the key with another request gets IDEMPOTENCY_KEY_REUSED.
    pub idempotency_key: Option<String>,
}

pub async fn unit_sighting_record(
    run: &mut StepRun,
    input: UnitSightingRecordInput,
) -> Result<BulkResult, ServiceError> {
    require(run, Capability::RecordUnitSighting)?;
    let k = known(run).await?;
    let today = salesguard_domain::docnum::business_day(run.now, run.app.tz);
    let (uid, now) = (run.actor.user_id, run.now);
    let actor = run.actor.clone();
    let res = bulk(
        run,
        &input.rows,
        input.mode,
        10_000,
        |_, r: &UnitSightingRowInput| {
            let serial = r.serial.trim();
            if serial.is_empty() || serial.len() > 64 {
                return Err(("serial".into(), "must have 1 to 64 characters".into()));
            }
            let rid = row_id("Region", "regionId", &r.region_id, &k.regions)?;
            if !actor.sees_region(rid) {
                return Err(("regionId".into(), "no such Region".into()));
            }
            let seen_on = row_date("seenOn", r.seen_on.0, today)?;
            let note = r.note.as_deref().map(str::trim).filter(|n| !n.is_empty());
            if note.is_some_and(|n| n.chars().count() > 500) {
                return Err(("note".into(), "must have at most 500 characters".into()));
            }
            Ok(unit_sighting::ActiveModel {
                serial: Set(serial.to_owned()),
                kind: Set(r.kind.as_str().into()),
                region_id: Set(rid),
                seen_on: Set(seen_on),
                note: Set(note.map(str::to_owned)),
                recorded_by: Set(uid),
                recorded_at: Set(now),
                ..Default::default()
            })
        },
        |run, rows| {
            Box::pin(async move {
                unit_sighting::Entity::insert_many(rows)
                    .exec_without_returning(&run.txn)
                    .await?;
                Ok(())
            })
        },
    )
    .await?;
    run.audit(
        Entry {
            stream: format!("market:{}", run.actor.user_id),
            ..Entry::ok(&run.actor, "unitSightingRecord", "User", run.actor.user_id)
        }
        .after(&res),
    )
    .await?;
    crate::outbox::enqueue(
        &run.txn,
        crate::outbox::RECOMPUTE_SIGNALS,
        &format!(
            "signals:unit_sighting:{}:{}",
            run.actor.user_id,
            run.now.timestamp_micros()
        ),
        serde_json::json!({"trigger": "unitSightingRecord"}),
    )
    .await?;
    Ok(res)
}

// ------------------------------------------------------------ prices

/// One price seen in the market.
#[derive(InputObject, Serialize, Clone, Debug)]
pub struct PriceObservationRowInput {
    /// The product priced.
    pub product_id: ID,
    /// Where the price was seen; one of the caller's regions.
    pub region_id: ID,
    /// The level of the channel the price belongs to.
    pub tier: ChannelTier,
    /// Price seen, per unit, in yuan (a decimal string, e.g. "1899.00").
    pub price: String,
    /// The day it was seen, not in the future.
    pub observed_on: crate::graphql::scalars::Date,
    /// Where it was seen (shop, platform), free text, at most 200 characters.
    pub channel: Option<String>,
}

/// Prices seen in the market, checked row by row (market specialist or
/// salesperson).
#[derive(InputObject, Serialize, Clone, Debug)]
pub struct PriceObservationRecordInput {
    /// The rows, 1 to 10,000.
    pub rows: Vec<PriceObservationRowInput>,
    /// What to do with invalid rows; ALL_OR_NOTHING when omitted.
    #[graphql(default)]
    pub mode: BulkMode,
    /// Retry key, 1 to 200 characters, per user: a retry of a request that succeeded
    /// returns its result again; the key with another request gets IDEMPOTENCY_KEY_REUSED.
    pub idempotency_key: Option<String>,
}

pub async fn price_observation_record(
    run: &mut StepRun,
    input: PriceObservationRecordInput,
) -> Result<BulkResult, ServiceError> {
    require(run, Capability::RecordPriceObservation)?;
    let k = known(run).await?;
    let today = salesguard_domain::docnum::business_day(run.now, run.app.tz);
    let (uid, now) = (run.actor.user_id, run.now);
    let actor = run.actor.clone();
    let res = bulk(
        run,
        &input.rows,
        input.mode,
        10_000,
        |_, r: &PriceObservationRowInput| {
            let pid = row_id("Product", "productId", &r.product_id, &k.products)?;
            let rid = row_id("Region", "regionId", &r.region_id, &k.regions)?;
            if !actor.sees_region(rid) {
                return Err(("regionId".into(), "no such Region".into()));
            }
            let price = row_money("price", &r.price)?;
            let observed_on = row_date("observedOn", r.observed_on.0, today)?;
            let channel = r
                .channel
                .as_deref()
                .map(str::trim)
                .filter(|c| !c.is_empty());
            if channel.is_some_and(|c| c.chars().count() > 200) {
                return Err(("channel".into(), "must have at most 200 characters".into()));
            }
            Ok(price_observation::ActiveModel {
                product_id: Set(pid),
                region_id: Set(rid),
                tier: Set(r.tier.as_str().into()),
                price_fen: Set(price),
                observed_on: Set(observed_on),
                channel: Set(channel.map(str::to_owned)),
                observed_by: Set(uid),
                recorded_at: Set(now),
                ..Default::default()
            })
        },
        |run, rows| {
            Box::pin(async move {
                price_observation::Entity::insert_many(rows)
                    .exec_without_returning(&run.txn)
                    .await?;
                Ok(())
            })
        },
    )
    .await?;
    run.audit(
        Entry {
            stream: format!("market:{}", run.actor.user_id),
            ..Entry::ok(
                &run.actor,
                "priceObservationRecord",
                "User",
                run.actor.user_id,
            )
        }
        .after(&res),
    )
    .await?;
    crate::outbox::enqueue(
        &run.txn,
        crate::outbox::RECOMPUTE_SIGNALS,
        &format!(
            "signals:price_observation:{}:{}",
            run.actor.user_id,
            run.now.timestamp_micros()
        ),
        serde_json::json!({"trigger": "priceObservationRecord"}),
    )
    .await?;
    Ok(res)
}

/// A product's list and floor price for one channel tier (management only); it
/// replaces the tier's earlier prices.
#[derive(InputObject, Serialize, Clone, Debug)]
pub struct PriceListSetInput {
    /// The product priced.
    pub product_id: ID,
    /// The channel tier priced.
    pub tier: ChannelTier,
    /// The list price for this tier, per unit, in yuan (a decimal string, e.g.
    /// "1999.00").
    pub price: String,
    /// The lowest price this tier may sell at, in yuan (at most the price).
    pub floor_price: String,
    /// Retry key, 1 to 200 characters, per user: a retry of a request that succeeded
    /// returns its result again; the key with another request gets IDEMPOTENCY_KEY_REUSED.
    pub idempotency_key: Option<String>,
}

/// Sets a product's list and floor price for one channel tier (management).
/// Returns (product id, tier).
pub async fn price_list_set(
    run: &mut StepRun,
    input: PriceListSetInput,
) -> Result<(i64, String), ServiceError> {
    require(run, Capability::SetListPrice)?;
    let pid = ids::decode("Product", &input.product_id, "productId")?;
    product::Entity::find_by_id(pid)
        .one(&run.txn)
        .await?
        .ok_or_else(|| bad_input(&["productId"], "no such product"))?;
    let price = crate::services::inputs::money(&["price"], &input.price, false)?.0;
    let floor = crate::services::inputs::money(&["floorPrice"], &input.floor_price, false)?.0;
    if floor > price {
        return Err(bad_input(&["floorPrice"], "must not be above the price"));
    }
    let tier = input.tier.as_str().to_owned();
    price_list_entry::Entity::insert(price_list_entry::ActiveModel {
        product_id: Set(pid),
        tier: Set(tier.clone()),
        price_fen: Set(price),
        floor_fen: Set(floor),
        updated_by: Set(run.actor.user_id),
        updated_at: Set(run.now),
    })
    .on_conflict(
        OnConflict::columns([
            price_list_entry::Column::ProductId,
            price_list_entry::Column::Tier,
        ])
        .update_columns([
            price_list_entry::Column::PriceFen,
            price_list_entry::Column::FloorFen,
            price_list_entry::Column::UpdatedBy,
            price_list_entry::Column::UpdatedAt,
        ])
        .to_owned(),
    )
    .exec_without_returning(&run.txn)
    .await?;
    run.audit(
        Entry::ok(&run.actor, "priceListSet", "Product", pid).detail(format!(
            "{tier}: price {} floor {}",
            Fen(price),
            Fen(floor)
        )),
    )
    .await?;
    crate::outbox::enqueue(
        &run.txn,
        crate::outbox::RECOMPUTE_SIGNALS,
        &format!(
            "signals:price_list:{}:{}:{}",
            pid,
            tier,
            run.now.timestamp_micros()
        ),
        serde_json::json!({"trigger": "priceListSet", "productId": pid, "tier": tier}),
    )
    .await?;
    Ok((pid, tier))
}
