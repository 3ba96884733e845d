//! Mutations: `<noun><Verb>`, one `input` object, a payload with the result
//! and `userErrors`. Each runs as one transaction (see `idempotency::run`).
use async_graphql::{Context, InputObject, MergedObject, Object, SimpleObject, ID};
use chrono::{DateTime, Utc};
use futures::future::BoxFuture;
use sea_orm::sea_query::Expr;
use sea_orm::{ColumnTrait, EntityTrait, QueryFilter};
use serde::{de::DeserializeOwned, Serialize};

use salesguard_entities::model::*;

use super::ids;
use super::query::{actor, app};
use super::types::*;
use crate::audit::{self, Entry};
use crate::error::{AppError, ServiceError, UserError, UserErrorCode};
use crate::idempotency::{self, OrderOut, Request, StepRun};
use crate::services::admin::{self, *};
use crate::services::forecast::{forecast_submit, ForecastSubmitInput};
use crate::services::market::*;
use crate::services::workflow::{self, *};

fn order_entity(id: &ID) -> Option<(&'static str, i64)> {
    ids::parse(id)
        .filter(|(k, _)| k == workflow::ORDER)
        .map(|(_, n)| (workflow::ORDER, n))
}

/// Runs a step and resolves its result with `load`.
async fn exec<I, T, F>(
    ctx: &Context<'_>,
    operation: &'static str,
    input: &I,
    key: Option<&str>,
    entity: Option<(&'static str, i64)>,
    single_statement: bool,
    f: F,
) -> Result<Result<T, UserError>, AppError>
where
    I: Serialize,
    T: Serialize + DeserializeOwned + Send,
    F: for<'r> Fn(&'r mut StepRun) -> BoxFuture<'r, Result<T, ServiceError>>,
{
    let a = actor(ctx)?;
    let app = app(ctx)?;
    idempotency::run(
        app,
        a,
        Request {
            operation,
            input,
            idempotency_key: key,
            entity,
            order_out: ctx.data_opt::<OrderOut>().cloned(),
            single_statement,
        },
        f,
    )
    .await
}

async fn order_payload(
    ctx: &Context<'_>,
    res: Result<i64, UserError>,
) -> Result<SalesOrderPayload, AppError> {
    match res {
        Ok(id) => Ok(SalesOrderPayload {
            sales_order: match ctx.data_opt::<OrderOut>().and_then(|o| o.take(id)) {
                Some(order) => Some(SalesOrder(order)),
                // A replayed request (idempotency key) or a step that did not
                // write the order: read it.
                None => sales_order::Entity::find_by_id(id)
                    .one(&app(ctx)?.db.read)
                    .await?
                    .map(SalesOrder),
            },
            user_errors: vec![],
        }),
        Err(e) => Ok(SalesOrderPayload {
            sales_order: None,
            user_errors: vec![e],
        }),
    }
}

/// Runs a service function as one step: `Result<Result<T, UserError>, AppError>`.
macro_rules! run_step {
    ($ctx:expr, $op:literal, $input:expr, $entity:expr, $call:expr) => {{
        let input = $input;
        let key = input.idempotency_key.clone();
        let owned = input.clone();
        exec(
            $ctx,
            $op,
            &input,
            key.as_deref(),
            $entity,
            false,
            move |run| Box::pin(($call)(run, owned.clone())),
        )
        .await?
    }};
}

/// An order step that writes its documents itself (numbers, stock).
macro_rules! order_step {
    ($ctx:expr, $op:literal, $input:expr, $entity:expr, $call:expr) => {{
        let res = run_step!($ctx, $op, $input, $entity, $call);
        order_payload($ctx, res).await
    }};
}

/// An order step the domain decides and the step engine writes
/// (`workflow::Written`): all its writes are the engine's, so it may run
/// as one statement.
macro_rules! decided_step {
    ($ctx:expr, $op:literal, $input:expr, $entity:expr, $call:expr) => {{
        let input = $input;
        let key = input.idempotency_key.clone();
        let owned = input.clone();
        let res = exec(
            $ctx,
            $op,
            &input,
            key.as_deref(),
            $entity,
            true,
            move |run| workflow::written(($call)(run, owned.clone())),
        )
        .await?;
        order_payload($ctx, res).await
    }};
}

/// The created or changed row (by id) and the user errors, for a payload.
async fn loaded<E>(
    ctx: &Context<'_>,
    res: Result<i64, UserError>,
) -> Result<(Option<E::Model>, Vec<UserError>), AppError>
where
    E: EntityTrait,
    <E::PrimaryKey as sea_orm::PrimaryKeyTrait>::ValueType: From<i64>,
{
    match res {
        Ok(id) => Ok((by_id::<E>(ctx, id).await?, vec![])),
        Err(e) => Ok((None, vec![e])),
    }
}

async fn by_id<E>(ctx: &Context<'_>, id: i64) -> Result<Option<E::Model>, AppError>
where
    E: EntityTrait,
    <E::PrimaryKey as sea_orm::PrimaryKeyTrait>::ValueType: From<i64>,
{
    Ok(E::find_by_id(id).one(&app(ctx)?.db.read).await?)
}

mod market;
mod master_data;
mod orders;
mod sessions;

pub use market::*;
pub use master_data::*;
pub use orders::*;
pub use sessions::*;

/// The entry points for changing data, named `<noun><Verb>`. Every mutation
/// but `sessionCreate` needs a signed-in user (`Authorization: Bearer <token>`).
/// Each runs as one transaction and answers with a payload: the result, and
/// `userErrors` for expected refusals (wrong position, status or input, a lost
/// race), which change nothing but the audit trail. An `idempotencyKey` in the
/// input makes a retry return the first result instead of acting twice.
#[derive(MergedObject, Default)]
#[graphql(name = "Mutation")]
pub struct MutationRoot(
    SessionMutation,
    OrderMutation,
    MarketMutation,
    MasterDataMutation,
);
