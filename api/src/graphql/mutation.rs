//! Mutations: `<noun><Verb>`, one `input` object, a payload with the result
//! and `userErrors`. Each runs as one transaction (see `idempotency::run`).
use async_graphql::{Context, InputObject, Object, SimpleObject, ID};
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

#[derive(SimpleObject)]
pub struct SalesOrderPayload {
    /// The order after the step (null when the step was refused).
    pub sales_order: Option<SalesOrder>,
    pub user_errors: Vec<UserError>,
}

#[derive(SimpleObject)]
pub struct ForecastSubmitPayload {
    /// The salesperson's forecast rows of that month and region, as saved.
    pub forecasts: Vec<Forecast>,
    pub user_errors: Vec<UserError>,
}

#[derive(SimpleObject)]
pub struct BulkPayload {
    /// Rows accepted and rows refused (null when the whole request was refused).
    pub result: Option<BulkResult>,
    pub user_errors: Vec<UserError>,
}

#[derive(SimpleObject)]
pub struct PriceListPayload {
    pub entry: Option<PriceListEntry>,
    pub user_errors: Vec<UserError>,
}

#[derive(SimpleObject)]
pub struct RegionPayload {
    pub region: Option<Region>,
    pub user_errors: Vec<UserError>,
}

#[derive(SimpleObject)]
pub struct AgentPayload {
    pub agent: Option<Agent>,
    pub user_errors: Vec<UserError>,
}

#[derive(SimpleObject)]
pub struct ProductPayload {
    pub product: Option<Product>,
    pub user_errors: Vec<UserError>,
}

#[derive(SimpleObject)]
pub struct WarehousePayload {
    pub warehouse: Option<Warehouse>,
    pub user_errors: Vec<UserError>,
}

#[derive(SimpleObject)]
pub struct UserPayload {
    pub user: Option<User>,
    pub user_errors: Vec<UserError>,
}

#[derive(SimpleObject)]
pub struct StockLevelPayload {
    pub stock_level: Option<StockLevel>,
    pub user_errors: Vec<UserError>,
}

#[derive(SimpleObject)]
pub struct SessionPayload {
    /// Send as `Authorization: Bearer <token>`. Shown once.
    pub token: Option<String>,
    pub expires_at: Option<DateTime<Utc>>,
    pub user: Option<User>,
    pub user_errors: Vec<UserError>,
}

#[derive(SimpleObject)]
pub struct NotificationsMarkReadPayload {
    /// How many notifications were marked read.
    pub marked: u64,
    pub user_errors: Vec<UserError>,
}

#[derive(SimpleObject)]
pub struct SessionRevokePayload {
    pub revoked: bool,
    pub user_errors: Vec<UserError>,
}

#[derive(InputObject, Serialize)]
pub struct SessionCreateInput {
    pub username: String,
    #[serde(skip_serializing)]
    pub password: String,
}

#[derive(InputObject, Serialize, Clone)]
pub struct NotificationsMarkReadInput {
    /// The notifications to mark; all unread ones when omitted.
    pub ids: Option<Vec<ID>>,
    pub idempotency_key: Option<String>,
}

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
            single_statement: workflow::SINGLE_STATEMENT.contains(&operation),
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
        exec($ctx, $op, &input, key.as_deref(), $entity, move |run| {
            Box::pin(($call)(run, owned.clone()))
        })
        .await?
    }};
}

macro_rules! order_step {
    ($ctx:expr, $op:literal, $input:expr, $entity:expr, $call:expr) => {{
        let res = run_step!($ctx, $op, $input, $entity, $call);
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

pub struct MutationRoot;

#[Object]
impl MutationRoot {
    /// Signs in with username and password; returns a bearer token.
    async fn session_create(
        &self,
        ctx: &Context<'_>,
        input: SessionCreateInput,
    ) -> Result<SessionPayload, AppError> {
        let app = app(ctx)?;
        let db = &app.db;
        if app.logins.is_blocked(&input.username) {
            audit::record_refusal(
                db,
                None,
                "sessionCreate",
                "THROTTLED",
                None,
                &format!(
                    "sign-in as {} refused after repeated failures",
                    input.username.chars().take(64).collect::<String>()
                ),
            )
            .await;
            return Err(AppError::Throttled(
                "too many failed sign-ins for this username; try again in a few minutes".into(),
            ));
        }
        let found = user::Entity::find()
            .filter(user::Column::Username.eq(input.username.trim()))
            .one(&db.read)
            .await?;
        let hash = found
            .as_ref()
            .map(|u| u.password_hash.clone())
            .unwrap_or_else(|| crate::auth::dummy_hash().to_owned());
        let password = input.password.clone();
        let ok =
            tokio::task::spawn_blocking(move || crate::auth::verify_password(&password, &hash))
                .await
                .map_err(|e| AppError::Internal(anyhow::anyhow!("password check failed: {e}")))?;
        let user = match found {
            Some(u) if ok && u.active => u,
            _ => {
                app.logins.failed(&input.username);
                audit::record_refusal(
                    db,
                    None,
                    "sessionCreate",
                    "INVALID_CREDENTIALS",
                    None,
                    &format!(
                        "failed sign-in as {}",
                        input.username.chars().take(64).collect::<String>()
                    ),
                )
                .await;
                return Ok(SessionPayload {
                    token: None,
                    expires_at: None,
                    user: None,
                    user_errors: vec![UserError::new(
                        UserErrorCode::InvalidCredentials,
                        "wrong username or password",
                    )],
                });
            }
        };
        app.logins.succeeded(&input.username);
        let txn = db.begin().await?;
        let (token, expires_at) =
            crate::auth::create_session(&txn, user.id, app.settings.token_ttl_minutes).await?;
        let session = session::Entity::find()
            .filter(session::Column::TokenHash.eq(crate::auth::token_hash(&token)))
            .one(&txn)
            .await?
            .ok_or_else(|| AppError::Internal(anyhow::anyhow!("session vanished")))?;
        audit::append(
            &txn,
            Entry {
                stream: audit::stream_for("Session", session.id),
                actor_id: Some(user.id),
                actor_position: Some(user.position.clone()),
                action: "sessionCreate".into(),
                outcome: "OK".into(),
                entity_type: Some("Session".into()),
                entity_id: Some(session.id),
                ..Entry::default()
            },
        )
        .await?;
        txn.commit().await?;
        Ok(SessionPayload {
            token: Some(token),
            expires_at: Some(expires_at),
            user: Some(User(user)),
            user_errors: vec![],
        })
    }

    /// Signs out: the current token stops working.
    async fn session_revoke(&self, ctx: &Context<'_>) -> Result<SessionRevokePayload, AppError> {
        let a = actor(ctx)?;
        let token = ctx
            .data_opt::<crate::http::BearerToken>()
            .ok_or(AppError::Unauthenticated)?;
        let hash = crate::auth::token_hash(&token.0);
        let cached = hash.clone();
        let res = exec(ctx, "sessionRevoke", &(), None, None, move |run| {
            let hash = hash.clone();
            Box::pin(async move {
                let s = session::Entity::find()
                    .filter(session::Column::TokenHash.eq(hash))
                    .one(&run.txn)
                    .await?
                    .ok_or_else(|| ServiceError::from(anyhow::anyhow!("session missing")))?;
                session::Entity::update_many()
                    .col_expr(session::Column::RevokedAt, Expr::value(run.now))
                    .filter(session::Column::Id.eq(s.id))
                    .exec(&run.txn)
                    .await?;
                run.audit(Entry::ok(&run.actor, "sessionRevoke", "Session", s.id))
                    .await?;
                Ok(true)
            })
        })
        .await?;
        let _ = a;
        // After the commit: a request in between may have cached the actor.
        app(ctx)?.actors.remove(&cached);
        Ok(match res {
            Ok(r) => SessionRevokePayload {
                revoked: r,
                user_errors: vec![],
            },
            Err(e) => SessionRevokePayload {
                revoked: false,
                user_errors: vec![e],
            },
        })
    }

    // ---------------------------------------------------------- workflow

    /// S5.1 File a sales order (salesperson).
    async fn sales_order_create(
        &self,
        ctx: &Context<'_>,
        input: SalesOrderCreateInput,
    ) -> Result<SalesOrderPayload, AppError> {
        order_step!(ctx, "salesOrderCreate", input, None, workflow::order_create)
    }

    /// S5.2 Draft the contract from an order (sales assistant).
    async fn contract_draft(
        &self,
        ctx: &Context<'_>,
        input: ContractDraftInput,
    ) -> Result<SalesOrderPayload, AppError> {
        let e = order_entity(&input.order_id);
        order_step!(ctx, "contractDraft", input, e, workflow::contract_draft)
    }

    /// S5.3 Submit contract and order for approval (sales assistant); copied
    /// to finance and management.
    async fn contract_submit(
        &self,
        ctx: &Context<'_>,
        input: ContractSubmitInput,
    ) -> Result<SalesOrderPayload, AppError> {
        let e = order_entity(&input.order_id);
        order_step!(ctx, "contractSubmit", input, e, workflow::contract_submit)
    }

    /// S5.3 Approve (supervisor). Not by whoever filed the order or drafted
    /// or submitted the contract.
    async fn contract_approve(
        &self,
        ctx: &Context<'_>,
        input: ContractDecisionInput,
    ) -> Result<SalesOrderPayload, AppError> {
        let e = order_entity(&input.order_id);
        order_step!(ctx, "contractApprove", input, e, |r, i| {
            workflow::contract_decide(r, i, true)
        })
    }

    /// S5.3 Reject with a reason, back to the drafter (supervisor).
    async fn contract_reject(
        &self,
        ctx: &Context<'_>,
        input: ContractDecisionInput,
    ) -> Result<SalesOrderPayload, AppError> {
        let e = order_entity(&input.order_id);
        order_step!(ctx, "contractReject", input, e, |r, i| {
            workflow::contract_decide(r, i, false)
        })
    }

    /// S5.4 Record the signing: ON_SITE by the salesperson, FAX_COURIER by
    /// the assistant.
    async fn contract_sign(
        &self,
        ctx: &Context<'_>,
        input: ContractSignInput,
    ) -> Result<SalesOrderPayload, AppError> {
        let e = order_entity(&input.order_id);
        order_step!(ctx, "contractSign", input, e, workflow::contract_sign)
    }

    /// S5.5 Forward the signed order to finance (sales assistant).
    async fn sales_order_forward_to_finance(
        &self,
        ctx: &Context<'_>,
        input: OrderStepInput,
    ) -> Result<SalesOrderPayload, AppError> {
        let e = order_entity(&input.order_id);
        order_step!(
            ctx,
            "salesOrderForwardToFinance",
            input,
            e,
            workflow::order_forward
        )
    }

    /// S5.6 Record a payment received (finance).
    async fn payment_record(
        &self,
        ctx: &Context<'_>,
        input: PaymentRecordInput,
    ) -> Result<SalesOrderPayload, AppError> {
        let e = order_entity(&input.order_id);
        order_step!(ctx, "paymentRecord", input, e, workflow::payment_record)
    }

    /// S5.6 Confirm full payment (finance).
    async fn payment_confirm_full(
        &self,
        ctx: &Context<'_>,
        input: OrderStepInput,
    ) -> Result<SalesOrderPayload, AppError> {
        let e = order_entity(&input.order_id);
        order_step!(
            ctx,
            "paymentConfirmFull",
            input,
            e,
            workflow::payment_confirm_full
        )
    }

    /// Approve shipping before full payment (management): one order, an
    /// amount, a reason, an expiry. The unpaid part becomes a receivable.
    async fn shipment_exception_approve(
        &self,
        ctx: &Context<'_>,
        input: ShipmentExceptionApproveInput,
    ) -> Result<SalesOrderPayload, AppError> {
        let e = order_entity(&input.order_id);
        order_step!(
            ctx,
            "shipmentExceptionApprove",
            input,
            e,
            workflow::exception_approve
        )
    }

    /// S5.7 Issue the shipping notice to the warehouse (sales assistant).
    async fn shipping_notice_issue(
        &self,
        ctx: &Context<'_>,
        input: ShippingNoticeIssueInput,
    ) -> Result<SalesOrderPayload, AppError> {
        let e = order_entity(&input.order_id);
        order_step!(ctx, "shippingNoticeIssue", input, e, workflow::notice_issue)
    }

    /// S5.8 Verify the notice and ship (warehouse keeper).
    async fn shipment_ship(
        &self,
        ctx: &Context<'_>,
        input: ShipmentShipInput,
    ) -> Result<SalesOrderPayload, AppError> {
        // The notice names the order: the step files a refusal under it
        // (`StepRun::entity`).
        order_step!(ctx, "shipmentShip", input, None, workflow::shipment_ship)
    }

    /// Confirm the goods arrived (warehouse keeper or sales assistant).
    async fn shipment_confirm_delivery(
        &self,
        ctx: &Context<'_>,
        input: ShipmentConfirmDeliveryInput,
    ) -> Result<SalesOrderPayload, AppError> {
        let e = order_entity(&input.order_id);
        order_step!(
            ctx,
            "shipmentConfirmDelivery",
            input,
            e,
            workflow::shipment_confirm_delivery
        )
    }

    /// S6.1 Record the agent's invoicing information (salesperson).
    async fn invoice_info_collect(
        &self,
        ctx: &Context<'_>,
        input: InvoiceInfoCollectInput,
    ) -> Result<SalesOrderPayload, AppError> {
        let e = order_entity(&input.order_id);
        order_step!(
            ctx,
            "invoiceInfoCollect",
            input,
            e,
            workflow::invoice_info_collect
        )
    }

    /// S6.3 Issue the invoice; full payment is checked again (finance).
    async fn invoice_issue(
        &self,
        ctx: &Context<'_>,
        input: InvoiceIssueInput,
    ) -> Result<SalesOrderPayload, AppError> {
        let e = order_entity(&input.order_id);
        order_step!(ctx, "invoiceIssue", input, e, workflow::invoice_issue)
    }

    /// S6.4 Mail the invoice (sales assistant).
    async fn invoice_mail(
        &self,
        ctx: &Context<'_>,
        input: InvoiceMailInput,
    ) -> Result<SalesOrderPayload, AppError> {
        let e = order_entity(&input.order_id);
        order_step!(ctx, "invoiceMail", input, e, workflow::invoice_mail)
    }

    /// S6.5 The agent confirmed the invoice arrived (sales assistant).
    async fn invoice_confirm_receipt(
        &self,
        ctx: &Context<'_>,
        input: OrderStepInput,
    ) -> Result<SalesOrderPayload, AppError> {
        let e = order_entity(&input.order_id);
        order_step!(
            ctx,
            "invoiceConfirmReceipt",
            input,
            e,
            workflow::invoice_confirm_receipt
        )
    }

    /// S6.6 Archive the order (sales assistant).
    async fn sales_order_archive(
        &self,
        ctx: &Context<'_>,
        input: OrderStepInput,
    ) -> Result<SalesOrderPayload, AppError> {
        let e = order_entity(&input.order_id);
        order_step!(ctx, "salesOrderArchive", input, e, workflow::order_archive)
    }

    /// S4.5 Report (or replace) a month's forecast for a region (salesperson).
    async fn forecast_submit(
        &self,
        ctx: &Context<'_>,
        input: ForecastSubmitInput,
    ) -> Result<ForecastSubmitPayload, AppError> {
        let res = run_step!(ctx, "forecastSubmit", input, None, forecast_submit);
        Ok(match res {
            Ok(ids) => ForecastSubmitPayload {
                forecasts: forecast::Entity::find()
                    .filter(forecast::Column::Id.is_in(ids))
                    .all(&app(ctx)?.db.read)
                    .await?
                    .into_iter()
                    .map(Forecast)
                    .collect(),
                user_errors: vec![],
            },
            Err(e) => ForecastSubmitPayload {
                forecasts: vec![],
                user_errors: vec![e],
            },
        })
    }

    /// Record an agent's sell-through report, row by row (salesperson or
    /// assistant of the agent's region).
    async fn sell_through_record(
        &self,
        ctx: &Context<'_>,
        input: SellThroughRecordInput,
    ) -> Result<BulkPayload, AppError> {
        let res = run_step!(ctx, "sellThroughRecord", input, None, sell_through_record);
        Ok(bulk_payload(res))
    }

    /// Record where units turned up: activations, warranty registrations,
    /// call-back findings.
    async fn unit_sighting_record(
        &self,
        ctx: &Context<'_>,
        input: UnitSightingRecordInput,
    ) -> Result<BulkPayload, AppError> {
        let res = run_step!(ctx, "unitSightingRecord", input, None, unit_sighting_record);
        Ok(bulk_payload(res))
    }

    /// Record prices seen in the market (market specialist or salesperson).
    async fn price_observation_record(
        &self,
        ctx: &Context<'_>,
        input: PriceObservationRecordInput,
    ) -> Result<BulkPayload, AppError> {
        let res = run_step!(
            ctx,
            "priceObservationRecord",
            input,
            None,
            price_observation_record
        );
        Ok(bulk_payload(res))
    }

    /// Set a product's list and floor price for a channel tier (management).
    async fn price_list_set(
        &self,
        ctx: &Context<'_>,
        input: PriceListSetInput,
    ) -> Result<PriceListPayload, AppError> {
        let res = run_step!(ctx, "priceListSet", input, None, price_list_set);
        Ok(match res {
            Ok(key) => PriceListPayload {
                entry: price_list_entry::Entity::find_by_id(key)
                    .one(&app(ctx)?.db.read)
                    .await?
                    .map(PriceListEntry),
                user_errors: vec![],
            },
            Err(e) => PriceListPayload {
                entry: None,
                user_errors: vec![e],
            },
        })
    }

    // ---------------------------------------------------------- master data

    async fn region_create(
        &self,
        ctx: &Context<'_>,
        input: RegionCreateInput,
    ) -> Result<RegionPayload, AppError> {
        let res = run_step!(ctx, "regionCreate", input, None, admin::region_create);
        if res.is_ok() {
            // A new sub-area widens the scope of whoever has its parent.
            app(ctx)?.regions.invalidate();
        }
        let (m, user_errors) = loaded::<region::Entity>(ctx, res).await?;
        Ok(RegionPayload {
            region: m.map(Region),
            user_errors,
        })
    }

    async fn agent_create(
        &self,
        ctx: &Context<'_>,
        input: AgentCreateInput,
    ) -> Result<AgentPayload, AppError> {
        let res = run_step!(ctx, "agentCreate", input, None, admin::agent_create);
        let (m, user_errors) = loaded::<agent::Entity>(ctx, res).await?;
        Ok(AgentPayload {
            agent: m.map(Agent),
            user_errors,
        })
    }

    /// Set an agent's credit limit (management), with a reason.
    async fn agent_set_credit_limit(
        &self,
        ctx: &Context<'_>,
        input: AgentSetCreditLimitInput,
    ) -> Result<AgentPayload, AppError> {
        let res = run_step!(
            ctx,
            "agentSetCreditLimit",
            input,
            None,
            admin::agent_set_credit_limit
        );
        let (m, user_errors) = loaded::<agent::Entity>(ctx, res).await?;
        Ok(AgentPayload {
            agent: m.map(Agent),
            user_errors,
        })
    }

    async fn product_create(
        &self,
        ctx: &Context<'_>,
        input: ProductCreateInput,
    ) -> Result<ProductPayload, AppError> {
        let res = run_step!(ctx, "productCreate", input, None, admin::product_create);
        let (m, user_errors) = loaded::<product::Entity>(ctx, res).await?;
        Ok(ProductPayload {
            product: m.map(Product),
            user_errors,
        })
    }

    async fn warehouse_create(
        &self,
        ctx: &Context<'_>,
        input: WarehouseCreateInput,
    ) -> Result<WarehousePayload, AppError> {
        let res = run_step!(ctx, "warehouseCreate", input, None, admin::warehouse_create);
        let (m, user_errors) = loaded::<warehouse::Entity>(ctx, res).await?;
        Ok(WarehousePayload {
            warehouse: m.map(Warehouse),
            user_errors,
        })
    }

    /// Book goods into a warehouse (warehouse keeper).
    async fn stock_receive(
        &self,
        ctx: &Context<'_>,
        input: StockReceiveInput,
    ) -> Result<StockLevelPayload, AppError> {
        let res = run_step!(ctx, "stockReceive", input, None, admin::stock_receive);
        Ok(match res {
            Ok((w, p)) => StockLevelPayload {
                stock_level: stock_level::Entity::find_by_id((w, p))
                    .one(&app(ctx)?.db.read)
                    .await?
                    .map(StockLevel),
                user_errors: vec![],
            },
            Err(e) => StockLevelPayload {
                stock_level: None,
                user_errors: vec![e],
            },
        })
    }

    async fn user_create(
        &self,
        ctx: &Context<'_>,
        input: UserCreateInput,
    ) -> Result<UserPayload, AppError> {
        let res = run_step!(ctx, "userCreate", input, None, admin::user_create);
        let (m, user_errors) = loaded::<user::Entity>(ctx, res).await?;
        Ok(UserPayload {
            user: m.map(User),
            user_errors,
        })
    }

    /// Mark notifications read.
    async fn notifications_mark_read(
        &self,
        ctx: &Context<'_>,
        input: NotificationsMarkReadInput,
    ) -> Result<NotificationsMarkReadPayload, AppError> {
        let mut wanted = None;
        if let Some(list) = &input.ids {
            let mut v = vec![];
            for id in list {
                match ids::decode("Notification", id, "ids") {
                    Ok(n) => v.push(n),
                    Err(_) => {
                        return Ok(NotificationsMarkReadPayload {
                            marked: 0,
                            user_errors: vec![UserError::new(
                                UserErrorCode::BadUserInput,
                                "not a Notification ID",
                            )
                            .at(&["ids"])],
                        })
                    }
                }
            }
            wanted = Some(v);
        }
        let key = input.idempotency_key.clone();
        let res = exec(
            ctx,
            "notificationsMarkRead",
            &input,
            key.as_deref(),
            None,
            move |run| {
                let wanted = wanted.clone();
                Box::pin(async move {
                    let mut q = notification::Entity::update_many()
                        .col_expr(notification::Column::ReadAt, Expr::value(run.now))
                        .filter(notification::Column::UserId.eq(run.actor.user_id))
                        .filter(notification::Column::ReadAt.is_null());
                    if let Some(v) = wanted {
                        q = q.filter(notification::Column::Id.is_in(v));
                    }
                    let n = q.exec(&run.txn).await?.rows_affected;
                    run.audit(
                        Entry {
                            stream: format!(
                                "notifications:{}:{}",
                                run.actor.user_id,
                                run.now.timestamp_micros()
                            ),
                            ..Entry::ok(
                                &run.actor,
                                "notificationsMarkRead",
                                "User",
                                run.actor.user_id,
                            )
                        }
                        .detail(format!("{n} marked read")),
                    )
                    .await?;
                    Ok(n)
                })
            },
        )
        .await?;
        Ok(match res {
            Ok(n) => NotificationsMarkReadPayload {
                marked: n,
                user_errors: vec![],
            },
            Err(e) => NotificationsMarkReadPayload {
                marked: 0,
                user_errors: vec![e],
            },
        })
    }
}

fn bulk_payload(res: Result<BulkResult, UserError>) -> BulkPayload {
    match res {
        Ok(r) => BulkPayload {
            result: Some(r),
            user_errors: vec![],
        },
        Err(e) => BulkPayload {
            result: None,
            user_errors: vec![e],
        },
    }
}
