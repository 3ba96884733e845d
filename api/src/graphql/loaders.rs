//! DataLoaders: every relation a list can touch is loaded in one statement
//! per type and request, whatever the page size.
use std::collections::HashMap;
use std::marker::PhantomData;
use std::sync::Arc;
use std::time::Duration;

use async_graphql::dataloader::{DataLoader, Loader};
use async_graphql::{Context, Data, Request};
use sea_orm::{ColumnTrait, DatabaseConnection, DbErr, EntityTrait, QueryFilter, QueryOrder};

use salesguard_entities::model::*;

use crate::error::AppError;

/// An entity looked up by its `id`.
pub trait Keyed: EntityTrait {
    fn key_col() -> Self::Column;
    fn key_of(m: &Self::Model) -> i64;
}

/// An entity that belongs to a sales order.
pub trait OfOrder: EntityTrait {
    fn order_col() -> Self::Column;
    fn order_of(m: &Self::Model) -> i64;
    fn sort_col() -> Self::Column;
}

macro_rules! keyed {
    ($($m:ident),*) => {$(
        impl Keyed for $m::Entity {
            fn key_col() -> Self::Column { $m::Column::Id }
            fn key_of(m: &Self::Model) -> i64 { m.id }
        }
    )*};
}
keyed!(
    agent,
    region,
    user,
    product,
    warehouse,
    sales_order,
    contract,
    payment,
    shipping_notice,
    shipment,
    invoice
);

macro_rules! of_order {
    ($($m:ident),*) => {$(
        impl OfOrder for $m::Entity {
            fn order_col() -> Self::Column { $m::Column::OrderId }
            fn order_of(m: &Self::Model) -> i64 { m.order_id }
            fn sort_col() -> Self::Column { $m::Column::Id }
        }
    )*};
}
of_order!(
    contract,
    payment,
    shipping_notice,
    shipment,
    invoice,
    invoice_info,
    receivable,
    shipment_exception,
    order_line,
    serial_unit
);

pub struct ById<E>(DatabaseConnection, PhantomData<E>);
pub struct ByOrder<E>(DatabaseConnection, PhantomData<E>);

impl<E> Loader<i64> for ById<E>
where
    E: Keyed + Send + Sync + 'static,
    E::Model: Clone + Send + Sync + 'static,
{
    type Value = E::Model;
    type Error = Arc<DbErr>;
    async fn load(&self, keys: &[i64]) -> Result<HashMap<i64, E::Model>, Self::Error> {
        let rows = E::find()
            .filter(E::key_col().is_in(keys.iter().copied()))
            .all(&self.0)
            .await
            .map_err(Arc::new)?;
        Ok(rows.into_iter().map(|m| (E::key_of(&m), m)).collect())
    }
}

impl<E> Loader<i64> for ByOrder<E>
where
    E: OfOrder + Send + Sync + 'static,
    E::Model: Clone + Send + Sync + 'static,
{
    type Value = Vec<E::Model>;
    type Error = Arc<DbErr>;
    async fn load(&self, keys: &[i64]) -> Result<HashMap<i64, Vec<E::Model>>, Self::Error> {
        let rows = E::find()
            .filter(E::order_col().is_in(keys.iter().copied()))
            .order_by_asc(E::sort_col())
            .all(&self.0)
            .await
            .map_err(Arc::new)?;
        let mut out: HashMap<i64, Vec<E::Model>> = HashMap::new();
        for m in rows {
            out.entry(E::order_of(&m)).or_default().push(m);
        }
        Ok(out)
    }
}

/// The audit entries of sales orders.
pub struct OrderHistory(DatabaseConnection);

impl Loader<i64> for OrderHistory {
    type Value = Vec<audit_log::Model>;
    type Error = Arc<DbErr>;
    async fn load(&self, keys: &[i64]) -> Result<HashMap<i64, Self::Value>, Self::Error> {
        let rows = audit_log::Entity::find()
            .filter(audit_log::Column::EntityType.eq(crate::services::workflow::ORDER))
            .filter(audit_log::Column::EntityId.is_in(keys.iter().copied()))
            .order_by_asc(audit_log::Column::Id)
            .all(&self.0)
            .await
            .map_err(Arc::new)?;
        let mut out: HashMap<i64, Vec<_>> = HashMap::new();
        for m in rows {
            if let Some(id) = m.entity_id {
                out.entry(id).or_default().push(m);
            }
        }
        Ok(out)
    }
}

/// The history of risk signals (raised, changes of severity, cleared).
pub struct SignalHistory(DatabaseConnection);

impl Loader<i64> for SignalHistory {
    type Value = Vec<risk_signal_change::Model>;
    type Error = Arc<DbErr>;
    async fn load(&self, keys: &[i64]) -> Result<HashMap<i64, Self::Value>, Self::Error> {
        let rows = risk_signal_change::Entity::find()
            .filter(risk_signal_change::Column::SignalId.is_in(keys.iter().copied()))
            .order_by_asc(risk_signal_change::Column::Id)
            .all(&self.0)
            .await
            .map_err(Arc::new)?;
        let mut out: HashMap<i64, Vec<_>> = HashMap::new();
        for m in rows {
            out.entry(m.signal_id).or_default().push(m);
        }
        Ok(out)
    }
}

/// Adds a fresh set of loaders (for one HTTP request or one subscription
/// connection; they batch, they do not cache). `window`: how long a loader
/// gathers the keys of one relation before it runs its one statement
/// (`loader_window_ms`).
pub fn insert(data: &mut Data, db: &DatabaseConnection, window: Duration) {
    fn loader<T: Loader<i64>>(l: T, window: Duration) -> DataLoader<T> {
        DataLoader::new(l, tokio::spawn).delay(window)
    }
    macro_rules! by_id {
        ($($m:ident),*) => { $(data.insert(loader(ById::<$m::Entity>(db.clone(), PhantomData), window));)* };
    }
    macro_rules! by_order {
        ($($m:ident),*) => { $(data.insert(loader(ByOrder::<$m::Entity>(db.clone(), PhantomData), window));)* };
    }
    by_id!(
        agent,
        region,
        user,
        product,
        warehouse,
        sales_order,
        invoice
    );
    by_order!(
        contract,
        payment,
        shipping_notice,
        shipment,
        invoice,
        invoice_info,
        receivable,
        shipment_exception,
        order_line,
        serial_unit
    );
    data.insert(loader(OrderHistory(db.clone()), window));
    data.insert(loader(SignalHistory(db.clone()), window));
}

pub fn attach(mut req: Request, db: &DatabaseConnection, window: Duration) -> Request {
    insert(&mut req.data, db, window);
    req
}

pub async fn one<E>(ctx: &Context<'_>, id: i64) -> Result<Option<E::Model>, AppError>
where
    E: Keyed + Send + Sync + 'static,
    E::Model: Clone + Send + Sync + 'static,
{
    let l = ctx
        .data::<DataLoader<ById<E>>>()
        .map_err(|_| AppError::Internal(anyhow::anyhow!("loader missing")))?;
    l.load_one(id)
        .await
        .map_err(|e| AppError::Internal(anyhow::anyhow!("load failed: {e}")))
}

pub async fn of_order<E>(ctx: &Context<'_>, order_id: i64) -> Result<Vec<E::Model>, AppError>
where
    E: OfOrder + Send + Sync + 'static,
    E::Model: Clone + Send + Sync + 'static,
{
    let l = ctx
        .data::<DataLoader<ByOrder<E>>>()
        .map_err(|_| AppError::Internal(anyhow::anyhow!("loader missing")))?;
    Ok(l.load_one(order_id)
        .await
        .map_err(|e| AppError::Internal(anyhow::anyhow!("load failed: {e}")))?
        .unwrap_or_default())
}

pub async fn history(ctx: &Context<'_>, order_id: i64) -> Result<Vec<audit_log::Model>, AppError> {
    let l = ctx
        .data::<DataLoader<OrderHistory>>()
        .map_err(|_| AppError::Internal(anyhow::anyhow!("loader missing")))?;
    Ok(l.load_one(order_id)
        .await
        .map_err(|e| AppError::Internal(anyhow::anyhow!("load failed: {e}")))?
        .unwrap_or_default())
}

pub async fn signal_history(
    ctx: &Context<'_>,
    signal_id: i64,
) -> Result<Vec<risk_signal_change::Model>, AppError> {
    let l = ctx
        .data::<DataLoader<SignalHistory>>()
        .map_err(|_| AppError::Internal(anyhow::anyhow!("loader missing")))?;
    Ok(l.load_one(signal_id)
        .await
        .map_err(|e| AppError::Internal(anyhow::anyhow!("load failed: {e}")))?
        .unwrap_or_default())
}
