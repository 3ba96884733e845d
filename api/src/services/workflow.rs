//! The order-to-cash workflow (SPEC S5, S6): one function per step. Each
//! checks, in this order: the actor's position may take the step, the order
//! is in the actor's regions (else NOT_FOUND, revealing nothing), the order's
//! status allows the step; then makes the change with a conditional update
//! (`WHERE id = ? AND version = ?`), so of two racing users one wins and the
//! other gets CONFLICT.
use std::collections::{BTreeMap, BTreeSet, HashMap};

use async_graphql::{Enum, InputObject, ID};
use chrono::{DateTime, Duration, NaiveDate, Utc};
use rand::Rng;
use sea_orm::sea_query::{Expr, ExprTrait};
use sea_orm::{
    ActiveModelTrait, ColumnTrait, ConnectionTrait, EntityTrait, IntoActiveModel, QueryFilter,
    QueryOrder, Set, TryIntoModel,
};
use serde::Serialize;
use sha2::{Digest, Sha256};

use salesguard_domain::contract::ContractStatus;
use salesguard_domain::docnum::business_day;
use salesguard_domain::money::MAX_FEN;
use salesguard_domain::order::{self, ContractParties, OrderFacts};
use salesguard_domain::payment::{PaymentState, ShipmentException};
use salesguard_domain::{DocType, Fen, OrderStatus, Position, Step};
use salesguard_entities::model::{
    agent, ar_entry, contract, invoice, invoice_info, order_line, payment, product, receivable,
    sales_order, serial_unit, shipment, shipment_exception, shipping_notice, stock_level,
    stock_movement, warehouse,
};

use crate::audit::{self, Entry};
use crate::error::{bad_input, user_err, ServiceError, UserErrorCode};
use crate::graphql::ids;
use crate::idempotency::StepRun;
use crate::notify;
use crate::numbering::next_number;
use crate::services::inputs;
use crate::step_cache::Loaded;

pub const ORDER: &str = "SalesOrder";

// ---------------------------------------------------------------- inputs

#[derive(InputObject, Serialize, Clone, Debug)]
pub struct OrderLineInput {
    pub product_id: ID,
    /// Units, a positive whole number.
    pub quantity: i64,
    /// Agreed unit price in yuan, e.g. "1999.00".
    pub unit_price: String,
}

#[derive(InputObject, Serialize, Clone, Debug)]
pub struct SalesOrderCreateInput {
    pub agent_id: ID,
    pub lines: Vec<OrderLineInput>,
    /// Where the goods go; defaults to the agent's address.
    pub delivery_address: Option<String>,
    /// Days after shipment within which payment is due (0 to 365).
    pub payment_terms_days: i32,
    pub idempotency_key: Option<String>,
}

/// The input of steps that need only the order.
#[derive(InputObject, Serialize, Clone, Debug)]
pub struct OrderStepInput {
    pub order_id: ID,
    pub idempotency_key: Option<String>,
}

#[derive(InputObject, Serialize, Clone, Debug)]
pub struct ContractDraftInput {
    pub order_id: ID,
    /// The contract's terms as drafted from the order.
    pub terms: String,
    pub idempotency_key: Option<String>,
}

#[derive(InputObject, Serialize, Clone, Debug)]
pub struct ContractSubmitInput {
    pub order_id: ID,
    /// Revised terms (after a rejection); unchanged when omitted.
    pub terms: Option<String>,
    pub idempotency_key: Option<String>,
}

#[derive(InputObject, Serialize, Clone, Debug)]
pub struct ContractDecisionInput {
    pub order_id: ID,
    /// Required when rejecting: why, for the drafter.
    pub reason: Option<String>,
    pub idempotency_key: Option<String>,
}

#[derive(Enum, Copy, Clone, Debug, PartialEq, Eq, Serialize)]
pub enum SigningMethod {
    /// Signed on site by the salesperson.
    OnSite,
    /// Signed by fax, original sent by courier by the assistant.
    FaxCourier,
}

impl SigningMethod {
    fn as_str(&self) -> &'static str {
        match self {
            SigningMethod::OnSite => "ON_SITE",
            SigningMethod::FaxCourier => "FAX_COURIER",
        }
    }
}

#[derive(InputObject, Serialize, Clone, Debug)]
pub struct ContractSignInput {
    pub order_id: ID,
    pub method: SigningMethod,
    /// Courier tracking number of the original (required for FAX_COURIER).
    pub courier_tracking: Option<String>,
    pub signed_at: Option<DateTime<Utc>>,
    pub idempotency_key: Option<String>,
}

#[derive(InputObject, Serialize, Clone, Debug)]
pub struct PaymentRecordInput {
    pub order_id: ID,
    /// Amount received in yuan, e.g. "5000.00".
    pub amount: String,
    pub received_on: NaiveDate,
    /// Bank reference of the transfer.
    pub reference: String,
    pub idempotency_key: Option<String>,
}

#[derive(InputObject, Serialize, Clone, Debug)]
pub struct ShipmentExceptionApproveInput {
    pub order_id: ID,
    /// The unpaid amount that may ship, in yuan.
    pub amount: String,
    pub reason: String,
    pub expires_at: DateTime<Utc>,
    pub idempotency_key: Option<String>,
}

#[derive(InputObject, Serialize, Clone, Debug)]
pub struct ShippingNoticeIssueInput {
    pub order_id: ID,
    pub warehouse_id: ID,
    pub idempotency_key: Option<String>,
}

/// The serial number of one unit shipped.
#[derive(InputObject, Serialize, Clone, Debug)]
pub struct SerialInput {
    pub product_id: ID,
    pub serial: String,
}

#[derive(InputObject, Serialize, Clone, Debug)]
pub struct ShipmentShipInput {
    /// The number printed on the shipping notice, e.g. SC20261129FHTZ0001.
    pub notice_number: String,
    /// The verification code printed on the notice.
    pub verification_code: String,
    pub carrier: String,
    pub tracking_number: String,
    pub shipped_at: Option<DateTime<Utc>>,
    /// The serial number of every unit shipped (one per unit, per product
    /// exactly the quantity shipped). Optional here; they can also be
    /// recorded later in bulk.
    pub serials: Option<Vec<SerialInput>>,
    pub idempotency_key: Option<String>,
}

#[derive(InputObject, Serialize, Clone, Debug)]
pub struct ShipmentConfirmDeliveryInput {
    pub order_id: ID,
    pub delivered_at: Option<DateTime<Utc>>,
    pub idempotency_key: Option<String>,
}

#[derive(InputObject, Serialize, Clone, Debug)]
pub struct InvoiceInfoCollectInput {
    pub order_id: ID,
    /// Invoice title (the agent's legal name).
    pub title: String,
    pub tax_number: String,
    pub bank_name: String,
    pub bank_account: String,
    pub mailing_address: String,
    pub idempotency_key: Option<String>,
}

#[derive(InputObject, Serialize, Clone, Debug)]
pub struct InvoiceIssueInput {
    pub order_id: ID,
    /// The number of the tax invoice issued.
    pub invoice_number: String,
    pub idempotency_key: Option<String>,
}

#[derive(InputObject, Serialize, Clone, Debug)]
pub struct InvoiceMailInput {
    pub order_id: ID,
    pub carrier: String,
    pub tracking_number: String,
    pub expected_arrival_on: NaiveDate,
    pub idempotency_key: Option<String>,
}

// ---------------------------------------------------------------- helpers

fn status_of(order: &sales_order::Model) -> Result<OrderStatus, ServiceError> {
    order
        .status
        .parse()
        .map_err(|e| ServiceError::from(anyhow::anyhow!("order {}: {e}", order.id)))
}

fn check_position(run: &StepRun, step: Step) -> Result<(), ServiceError> {
    crate::services::require(run, salesguard_domain::Capability::Step(step))
}

/// Loads an order for a step under the rules every step obeys
/// (`salesguard_domain::order::gate`): position, region scope, status. The
/// position is checked before anything is read.
async fn order_for_step(
    run: &mut StepRun,
    order_id: i64,
    step: Step,
) -> Result<(sales_order::Model, OrderStatus), ServiceError> {
    check_position(run, step)?;
    let order = load_for_step(run, order_id)
        .await?
        .ok_or_else(order::not_found)?;
    let status = status_of(&order)?;
    order::gate(&run.actor, step, &facts_of(&order, status))?;
    Ok((order, status))
}

/// What the rules every step obeys read of an order.
fn facts_of(order: &sales_order::Model, status: OrderStatus) -> OrderFacts {
    OrderFacts {
        number: order.number.clone(),
        region_id: order.region_id,
        status,
        salesperson_id: order.salesperson_id,
    }
}

/// Moves the order on, conditional on the version read: 0 rows → CONFLICT.
/// `set` adds the step's own columns. Returns the order as written. The
/// order row is locked before anything else: by `load_for_step` (FOR UPDATE
/// on PostgreSQL), else by this update, the first write of a step.
async fn advance(
    run: &mut StepRun,
    order: &sales_order::Model,
    step: Step,
    from: OrderStatus,
    set: Vec<(sales_order::Column, sea_orm::Value)>,
) -> Result<sales_order::Model, ServiceError> {
    let to = step.target_from(from);
    let mut cols: Vec<(sales_order::Column, sea_orm::Value)> = vec![
        (sales_order::Column::Status, to.as_str().into()),
        (sales_order::Column::Version, (order.version + 1).into()),
        (sales_order::Column::UpdatedAt, run.now.into()),
    ];
    cols.extend(set);
    // Read by `load_for_step`, the row is locked since (PostgreSQL: FOR
    // UPDATE; SQLite: the transaction is the database's only writer): the
    // update goes with the step's other deferred writes (one round trip
    // less), still conditional on the version read.
    let locked = run
        .order_ctx
        .as_ref()
        .is_some_and(|c| c.order_id == order.id);
    if locked {
        let mut am = order.clone().into_active_model();
        for (c, v) in &cols {
            am.try_set(*c, v.clone())?;
        }
        let after = am.try_into_model()?;
        run.deferred.update_order(order.id, order.version, cols);
        run.order_after = Some(after.clone());
        if let Some(out) = &run.order_out {
            out.put(&after);
        }
        return Ok(after);
    }
    let mut q = sales_order::Entity::update_many();
    for (c, v) in cols {
        q = q.col_expr(c, Expr::value(v));
    }
    let mut rows = q
        .filter(sales_order::Column::Id.eq(order.id))
        .filter(sales_order::Column::Version.eq(order.version))
        .exec_with_returning(&run.txn)
        .await?;
    match (rows.pop(), rows.is_empty()) {
        (Some(after), true) => {
            if let Some(out) = &run.order_out {
                out.put(&after);
            }
            run.order_after = Some(after.clone());
            Ok(after)
        }
        _ => Err(user_err(
            UserErrorCode::Conflict,
            format!(
                "order {} was changed by someone else at the same time; reload and retry",
                order.number
            ),
        )),
    }
}

async fn audit_order(
    run: &mut StepRun,
    step: Step,
    before: &sales_order::Model,
    after: &sales_order::Model,
    detail: Option<String>,
) -> Result<(), ServiceError> {
    let mut e = Entry::ok(&run.actor, step.as_str(), ORDER, after.id)
        .before(before)
        .after(after);
    e.detail = detail;
    run.audit(e).await?;
    Ok(())
}

/// Notifies the order's parties, plus `extra` positions responsible for the
/// order's region.
async fn notify_order(
    run: &mut StepRun,
    order: &sales_order::Model,
    kind: &str,
    message: String,
    extra: &[Position],
) -> Result<(), ServiceError> {
    let mut to = match run.order_ctx.as_ref().filter(|c| c.order_id == order.id) {
        // Read with the order at the start of the step. The step's own
        // actor is the only party it can add, and is never notified.
        Some(ctx) => {
            let mut to = ctx.parties.clone();
            to.extend(ctx.directory.responsible(order.region_id, extra));
            to
        }
        None => {
            let mut to = notify::order_parties(&run.txn, order).await?;
            to.extend(notify::responsible_for(&run.txn, &run.app, extra, order.region_id).await?);
            to
        }
    };
    to.insert(order.salesperson_id);
    to.extend(order.payment_confirmed_by);
    run.notify(to, Some(order.id), kind, &message);
    Ok(())
}

/// What a step reads with its order, for its notifications.
pub struct OrderCtx {
    pub order_id: i64,
    /// Who has acted on the order's documents (see `notify::order_parties`;
    /// `notify_order` adds the order's own salesperson and payment
    /// confirmer).
    pub parties: BTreeSet<i64>,
    /// Who is responsible for which region (at the version read with the
    /// order), for the positions a step copies in.
    pub directory: std::sync::Arc<crate::directory::Directory>,
    /// The order and its documents as read (its contract, notice and
    /// invoice: the steps that update them take them from here).
    pub read: Loaded,
    /// Read from what the order's last step left in this process
    /// (`step_cache`), not from the database.
    pub kept: bool,
}

/// The steps whose only write is their deferred statement (the order's
/// update, their documents' updates and inserts, the audit record, the
/// notifications, the idempotency key): on PostgreSQL each runs as that one
/// statement, without `BEGIN`, `COMMIT` or a lock, guarded by the versions
/// it read (`db::StepConn::Single`). A step listed here that wrote anything
/// on its own is refused with an internal error, so the list cannot go
/// stale silently: the end-to-end tests walk every step on PostgreSQL.
pub const SINGLE_STATEMENT: [&str; 13] = [
    "contractSubmit",
    "contractApprove",
    "contractReject",
    "contractSign",
    "salesOrderForwardToFinance",
    "paymentRecord",
    "paymentConfirmFull",
    "shipmentConfirmDelivery",
    "invoiceInfoCollect",
    "invoiceIssue",
    "invoiceMail",
    "invoiceConfirmReceipt",
    "salesOrderArchive",
];

/// Loads an order for a step, with what the step's audit record and
/// notifications need: its audit stream's head, its parties and the people
/// responsible for its region. From what the order's last step left in this
/// process when the step may start from that (`step_cache`), else from the
/// database (`read_for_step`).
async fn load_for_step(
    run: &mut StepRun,
    order_id: i64,
) -> Result<Option<sales_order::Model>, ServiceError> {
    let kept = if run.may_use_kept {
        run.app.step_cache.get(order_id)
    } else {
        None
    };
    let (read, kept) = match kept {
        Some(k) => ((*k).clone(), true),
        None => match read_for_step(run, order_id).await? {
            Some(read) => (read, false),
            None => return Ok(None),
        },
    };
    let directory = run
        .app
        .directory
        .at(&run.txn, read.directory_version)
        .await?;
    if kept {
        // Its copies go to the people of this version: the write misses if
        // the directory has moved on since.
        run.deferred.guard_directory(directory.version);
    }
    let mut parties = BTreeSet::new();
    if let Some(c) = &read.contract {
        parties.insert(c.drafted_by);
        parties.extend(
            [c.submitted_by, c.decided_by, c.signed_by]
                .into_iter()
                .flatten(),
        );
    }
    parties.extend(read.notice.as_ref().map(|n| n.issued_by));
    parties.extend(read.shipped_by);
    run.deferred
        .head_read(audit::stream_for(ORDER, order_id), read.head.clone());
    if let Some(out) = &run.order_out {
        out.put_notice(order_id, read.notice.as_ref());
    }
    let order = read.order.clone();
    run.order_ctx = Some(OrderCtx {
        order_id,
        parties,
        directory,
        read,
        kept,
    });
    Ok(Some(order))
}

/// Reads an order for a step in one statement, with its contract, notice,
/// invoice, who shipped it, its audit stream's head and the directory's
/// version. On PostgreSQL the order row is locked (`FOR UPDATE`), so writers
/// of one order queue here and then see each other's change; a
/// single-statement step takes no lock (its write is guarded).
async fn read_for_step(run: &StepRun, order_id: i64) -> Result<Option<Loaded>, ServiceError> {
    use sea_orm::{FromQueryResult, Iden, Iterable, Statement};
    let backend = run.txn.get_database_backend();
    let pg = backend == sea_orm::DbBackend::Postgres;
    // Built once per variant: SQLite, PostgreSQL locking the order,
    // PostgreSQL without the lock (a single-statement step, guarded at the
    // write by the order's version).
    static SQL: [std::sync::OnceLock<String>; 3] = [const { std::sync::OnceLock::new() }; 3];
    let variant = match (pg, run.txn.is_single()) {
        (false, _) => 0,
        (true, false) => 1,
        (true, true) => 2,
    };
    let sql = SQL[variant].get_or_init(|| {
        let (p1, p2, lock) = match variant {
            0 => ("?", "?", ""),
            1 => ("$1", "$2", " FOR UPDATE"),
            _ => ("$1", "$2", ""),
        };
        // The people to copy in come from the directory cache at the
        // version read here (`directory`), not from a walk of the region
        // tree and the users on every step.
        // The contract comes whole (`sg_c_…`): the contract steps need it.
        // So do its shipping notice (`sg_n_…`: the payload answers with
        // it) and its invoice (`sg_i_…`: the invoice steps update it); an
        // order has at most one of each.
        fn cols<C: Iterable + Iden>(alias: &str) -> String {
            C::iter()
                .map(|c| format!("{alias}.{0} AS sg_{alias}_{0}", c.to_string()))
                .collect::<Vec<_>>()
                .join(", ")
        }
        format!(
            "SELECT o.*, {}, {}, {}, \
               (SELECT s.shipped_by FROM shipments s WHERE s.order_id = o.id) AS sg_shipped_by, \
               h.seq AS sg_head_seq, h.hash AS sg_head_hash, \
               (SELECT d.version FROM directory_version d WHERE d.id = 1) AS sg_directory \
             FROM (SELECT * FROM sales_orders WHERE id = {p1}{lock}) AS o \
               LEFT JOIN contracts c ON c.order_id = o.id \
               LEFT JOIN shipping_notices n ON n.order_id = o.id \
               LEFT JOIN invoices i ON i.order_id = o.id \
               LEFT JOIN audit_heads h ON h.stream = {p2}",
            cols::<contract::Column>("c"),
            cols::<shipping_notice::Column>("n"),
            cols::<invoice::Column>("i"),
        )
    });
    let stream = audit::stream_for(ORDER, order_id);
    let values: Vec<sea_orm::Value> = vec![order_id.into(), stream.clone().into()];
    let Some(row) = run
        .txn
        .query_one_raw(Statement::from_sql_and_values(backend, sql, values))
        .await?
    else {
        return Ok(None);
    };
    let order = sales_order::Model::from_query_result(&row, "")?;
    let contract = match row.try_get::<Option<i64>>("", "sg_c_id")? {
        Some(_) => Some(contract::Model::from_query_result(&row, "sg_c_")?),
        None => None,
    };
    let notice = match row.try_get::<Option<i64>>("", "sg_n_id")? {
        Some(_) => Some(shipping_notice::Model::from_query_result(&row, "sg_n_")?),
        None => None,
    };
    let invoice = match row.try_get::<Option<i64>>("", "sg_i_id")? {
        Some(_) => Some(invoice::Model::from_query_result(&row, "sg_i_")?),
        None => None,
    };
    let head = match (
        row.try_get::<Option<i64>>("", "sg_head_seq")?,
        row.try_get::<Option<String>>("", "sg_head_hash")?,
    ) {
        (Some(seq), Some(hash)) => Some((seq, hash)),
        _ => None,
    };
    Ok(Some(Loaded {
        order,
        contract,
        notice,
        invoice,
        shipped_by: row.try_get::<Option<i64>>("", "sg_shipped_by")?,
        head,
        directory_version: row.try_get("", "sg_directory")?,
    }))
}

/// A document `load_for_step` read with this order, if the step did.
fn read_with_order<T: Clone>(
    run: &StepRun,
    order_id: i64,
    doc: impl Fn(&OrderCtx) -> &Option<T>,
) -> Option<T> {
    run.order_ctx
        .as_ref()
        .filter(|ctx| ctx.order_id == order_id)
        .and_then(|ctx| doc(ctx).clone())
}

async fn contract_of(run: &StepRun, order_id: i64) -> Result<contract::Model, ServiceError> {
    if let Some(c) = read_with_order(run, order_id, |ctx| &ctx.read.contract) {
        return Ok(c);
    }
    contract::Entity::find()
        .filter(contract::Column::OrderId.eq(order_id))
        .one(&run.txn)
        .await?
        .ok_or_else(|| anyhow::anyhow!("order {order_id} has no contract").into())
}

fn order_id(input: &ID) -> Result<i64, ServiceError> {
    ids::decode(ORDER, input, "orderId")
}

// ---------------------------------------------------------------- steps

/// S5.1 The salesperson files a sales order.
pub async fn order_create(
    run: &mut StepRun,
    input: SalesOrderCreateInput,
) -> Result<i64, ServiceError> {
    check_position(run, Step::OrderFile)?;
    let agent_id = ids::decode("Agent", &input.agent_id, "agentId")?;
    let agent = agent::Entity::find_by_id(agent_id)
        .one(&run.txn)
        .await?
        .filter(|a| run.actor.sees_region(a.region_id))
        .ok_or_else(|| {
            ServiceError::from(
                crate::error::UserError::new(UserErrorCode::NotFound, "no such agent")
                    .at(&["agentId"]),
            )
        })?;
    if input.lines.is_empty() || input.lines.len() > 200 {
        return Err(bad_input(&["lines"], "an order has 1 to 200 lines"));
    }
    if !(0..=365).contains(&input.payment_terms_days) {
        return Err(bad_input(
            &["paymentTermsDays"],
            "must be between 0 and 365",
        ));
    }
    let address =
        match inputs::opt_text(&["deliveryAddress"], input.delivery_address.as_deref(), 500)? {
            Some(a) => a,
            None => agent.address.clone(),
        };
    let mut pids = vec![];
    for (i, l) in input.lines.iter().enumerate() {
        pids.push(
            ids::decode("Product", &l.product_id, "productId").map_err(|_| {
                bad_input(
                    &["lines", &i.to_string(), "productId"],
                    "is not a valid Product ID",
                )
            })?,
        );
    }
    // The order's products in one read, however many lines it has.
    let mut distinct = pids.clone();
    distinct.sort_unstable();
    distinct.dedup();
    let products: HashMap<i64, product::Model> = product::Entity::find()
        .filter(product::Column::Id.is_in(distinct))
        .all(&run.txn)
        .await?
        .into_iter()
        .filter(|p| p.active)
        .map(|p| (p.id, p))
        .collect();
    let mut lines = vec![];
    let mut total: i64 = 0;
    for (i, (l, pid)) in input.lines.iter().zip(pids).enumerate() {
        let idx = i.to_string();
        let qty = inputs::quantity(&["lines", &idx, "quantity"], l.quantity)?;
        let price = inputs::money(&["lines", &idx, "unitPrice"], &l.unit_price, false)?;
        let amount = inputs::checked_amount(&["lines", &idx, "unitPrice"], qty, price)?;
        let p = products
            .get(&pid)
            .ok_or_else(|| bad_input(&["lines", &idx, "productId"], "no such active product"))?;
        total = total
            .checked_add(amount)
            .filter(|t| *t <= MAX_FEN)
            .ok_or_else(|| bad_input(&["lines"], "order total is too large"))?;
        lines.push((p.id, qty, price, amount));
    }
    let number = next_number(&run.txn, &run.app, DocType::SalesOrder, run.now).await?;
    let order = sales_order::ActiveModel {
        number: Set(number.clone()),
        agent_id: Set(agent.id),
        region_id: Set(agent.region_id),
        salesperson_id: Set(run.actor.user_id),
        status: Set(OrderStatus::Filed.as_str().to_owned()),
        delivery_address: Set(address),
        payment_terms_days: Set(input.payment_terms_days),
        total_fen: Set(total),
        paid_fen: Set(0),
        fully_paid_at: Set(None),
        payment_confirmed_by: Set(None),
        archived_at: Set(None),
        version: Set(0),
        created_at: Set(run.now),
        updated_at: Set(run.now),
        ..Default::default()
    }
    .insert(&run.txn)
    .await?;
    // All lines in one statement.
    let rows = lines
        .into_iter()
        .enumerate()
        .map(|(i, (pid, qty, price, amount))| order_line::ActiveModel {
            order_id: Set(order.id),
            line_no: Set(i as i32 + 1),
            product_id: Set(pid),
            quantity: Set(qty),
            unit_price_fen: Set(price.0),
            amount_fen: Set(amount),
            ..Default::default()
        });
    let mut saved_lines = order_line::Entity::insert_many(rows)
        .exec_with_returning(&run.txn)
        .await?;
    saved_lines.sort_by_key(|l| l.line_no);
    if let Some(out) = &run.order_out {
        out.put(&order);
    }
    // A new order's stream has no head yet.
    run.deferred
        .head_read(audit::stream_for(ORDER, order.id), None);
    run.audit(
        Entry::ok(&run.actor, Step::OrderFile.as_str(), ORDER, order.id)
            .after(&(&order, &saved_lines)),
    )
    .await?;
    let msg = format!(
        "Sales order {} filed by {} for {} (total {})",
        number,
        run.actor.username,
        agent.name,
        Fen(total)
    );
    notify_order(run, &order, "ORDER_FILED", msg, &[Position::SalesAssistant]).await?;
    Ok(order.id)
}

/// S5.2 The assistant drafts a contract from the order.
pub async fn contract_draft(
    run: &mut StepRun,
    input: ContractDraftInput,
) -> Result<i64, ServiceError> {
    let step = Step::ContractDraft;
    let (order, from) = order_for_step(run, order_id(&input.order_id)?, step).await?;
    let terms = inputs::text(&["terms"], &input.terms, 20_000)?;
    let after = advance(run, &order, step, from, vec![]).await?;
    let number = next_number(&run.txn, &run.app, DocType::Contract, run.now).await?;
    // Nothing in the step needs the contract's key: it goes with the
    // order's update.
    run.deferred.insert_row(&contract::ActiveModel {
        number: Set(number.clone()),
        order_id: Set(order.id),
        status: Set(ContractStatus::Draft.as_str().into()),
        terms: Set(terms),
        drafted_by: Set(run.actor.user_id),
        submitted_by: Set(None),
        submitted_at: Set(None),
        decided_by: Set(None),
        decided_at: Set(None),
        rejection_reason: Set(None),
        signed_method: Set(None),
        signed_by: Set(None),
        signed_at: Set(None),
        courier_tracking: Set(None),
        created_at: Set(run.now),
        updated_at: Set(run.now),
        ..Default::default()
    });
    audit_order(
        run,
        step,
        &order,
        &after,
        Some(format!("contract {number}")),
    )
    .await?;
    let msg = format!("Contract {} drafted for order {}", number, order.number);
    notify_order(run, &after, "CONTRACT_DRAFTED", msg, &[]).await?;
    Ok(order.id)
}

/// S5.3 The assistant submits contract and order for approval; the contract
/// is copied to finance and management.
pub async fn contract_submit(
    run: &mut StepRun,
    input: ContractSubmitInput,
) -> Result<i64, ServiceError> {
    let step = Step::ContractSubmit;
    let (order, from) = order_for_step(run, order_id(&input.order_id)?, step).await?;
    let terms = inputs::opt_text(&["terms"], input.terms.as_deref(), 20_000)?;
    let after = advance(run, &order, step, from, vec![]).await?;
    let c = contract_of(run, order.id).await?;
    let number = c.number.clone();
    let row_id = c.id;
    let mut am = c.into_active_model();
    am.status = Set(ContractStatus::PendingApproval.as_str().into());
    am.submitted_by = Set(Some(run.actor.user_id));
    am.submitted_at = Set(Some(run.now));
    am.decided_by = Set(None);
    am.decided_at = Set(None);
    // The last rejection's reason stays in the order's history.
    am.rejection_reason = Set(None);
    if let Some(t) = terms {
        am.terms = Set(t);
    }
    am.updated_at = Set(run.now);
    run.deferred.update_row(row_id, &am);
    audit_order(run, step, &order, &after, None).await?;
    let msg = format!(
        "Contract {} for order {} submitted for approval",
        number, order.number
    );
    notify_order(
        run,
        &after,
        "CONTRACT_SUBMITTED",
        msg,
        &[
            Position::Supervisor,
            Position::Finance,
            Position::Management,
        ],
    )
    .await?;
    Ok(order.id)
}

/// S5.3 The supervisor approves or rejects. Whoever filed the order or
/// drafted or submitted the contract cannot decide on it.
pub async fn contract_decide(
    run: &mut StepRun,
    input: ContractDecisionInput,
    approve: bool,
) -> Result<i64, ServiceError> {
    let step = if approve {
        Step::ContractApprove
    } else {
        Step::ContractReject
    };
    let (order, from) = order_for_step(run, order_id(&input.order_id)?, step).await?;
    let reason = inputs::opt_text(&["reason"], input.reason.as_deref(), 2000)?;
    if !approve && reason.is_none() {
        return Err(bad_input(&["reason"], "a rejection needs a reason"));
    }
    let c = contract_of(run, order.id).await?;
    let me = run.actor.user_id;
    order::require_independent_reviewer(
        &run.actor,
        &facts_of(&order, from),
        ContractParties {
            drafted_by: Some(c.drafted_by),
            submitted_by: c.submitted_by,
        },
    )?;
    let after = advance(run, &order, step, from, vec![]).await?;
    let number = c.number.clone();
    let row_id = c.id;
    let mut am = c.into_active_model();
    am.status = Set(if approve {
        ContractStatus::Approved
    } else {
        ContractStatus::Rejected
    }
    .as_str()
    .into());
    am.decided_by = Set(Some(me));
    am.decided_at = Set(Some(run.now));
    am.rejection_reason = Set(if approve { None } else { reason.clone() });
    am.updated_at = Set(run.now);
    run.deferred.update_row(row_id, &am);
    audit_order(run, step, &order, &after, reason.clone()).await?;
    let (kind, msg) = if approve {
        (
            "CONTRACT_APPROVED",
            format!("Contract {} for order {} approved", number, order.number),
        )
    } else {
        (
            "CONTRACT_REJECTED",
            format!(
                "Contract {} for order {} rejected: {}",
                number,
                order.number,
                reason.unwrap_or_default()
            ),
        )
    };
    // A completed review goes to management in copy.
    notify_order(run, &after, kind, msg, &[Position::Management]).await?;
    Ok(order.id)
}

/// S5.4 Signing: on site by the salesperson, or by fax + courier by the
/// assistant.
pub async fn contract_sign(
    run: &mut StepRun,
    input: ContractSignInput,
) -> Result<i64, ServiceError> {
    let step = Step::ContractSign;
    let (order, from) = order_for_step(run, order_id(&input.order_id)?, step).await?;
    let expected = match input.method {
        SigningMethod::OnSite => Position::Salesperson,
        SigningMethod::FaxCourier => Position::SalesAssistant,
    };
    if run.actor.position != expected {
        return Err(user_err(
            UserErrorCode::Forbidden,
            format!(
                "{} signing is done by the {}",
                input.method.as_str(),
                expected
            ),
        ));
    }
    let tracking = inputs::opt_text(&["courierTracking"], input.courier_tracking.as_deref(), 100)?;
    if input.method == SigningMethod::FaxCourier && tracking.is_none() {
        return Err(bad_input(
            &["courierTracking"],
            "fax signing needs the courier tracking number of the original",
        ));
    }
    let signed_at = inputs::not_in_future(&["signedAt"], input.signed_at, run.now)?;
    let after = advance(run, &order, step, from, vec![]).await?;
    let c = contract_of(run, order.id).await?;
    let number = c.number.clone();
    let row_id = c.id;
    let mut am = c.into_active_model();
    am.status = Set(ContractStatus::Signed.as_str().into());
    am.signed_method = Set(Some(input.method.as_str().into()));
    am.signed_by = Set(Some(run.actor.user_id));
    am.signed_at = Set(Some(signed_at));
    am.courier_tracking = Set(tracking);
    am.updated_at = Set(run.now);
    run.deferred.update_row(row_id, &am);
    audit_order(
        run,
        step,
        &order,
        &after,
        Some(input.method.as_str().into()),
    )
    .await?;
    let msg = format!("Contract {} for order {} signed", number, order.number);
    notify_order(run, &after, "CONTRACT_SIGNED", msg, &[]).await?;
    Ok(order.id)
}

/// S5.5 The assistant forwards the signed order to finance.
pub async fn order_forward(run: &mut StepRun, input: OrderStepInput) -> Result<i64, ServiceError> {
    let step = Step::OrderForwardToFinance;
    let (order, from) = order_for_step(run, order_id(&input.order_id)?, step).await?;
    let after = advance(run, &order, step, from, vec![]).await?;
    audit_order(run, step, &order, &after, None).await?;
    let msg = format!(
        "Order {} forwarded to finance, awaiting payment of {}",
        order.number,
        Fen(order.total_fen)
    );
    notify_order(run, &after, "ORDER_AT_FINANCE", msg, &[Position::Finance]).await?;
    Ok(order.id)
}

/// S5.6 Finance records a payment received. A payment after shipment pays
/// down the order's receivable and the agent's outstanding balance.
pub async fn payment_record(
    run: &mut StepRun,
    input: PaymentRecordInput,
) -> Result<i64, ServiceError> {
    let step = Step::PaymentRecord;
    let (order, from) = order_for_step(run, order_id(&input.order_id)?, step).await?;
    let amount = inputs::money(&["amount"], &input.amount, true)?.0;
    let today = business_day(run.now, run.app.tz);
    let received_on = inputs::date_not_in_future(&["receivedOn"], input.received_on, today)?;
    let reference = inputs::text(&["reference"], &input.reference, 200)?;
    payment_of(&order).accept(amount)?;
    let after = advance(
        run,
        &order,
        step,
        from,
        vec![(
            sales_order::Column::PaidFen,
            (order.paid_fen + amount).into(),
        )],
    )
    .await?;
    // Every write of this step goes with its deferred statement (see
    // `SINGLE_STATEMENT`).
    run.deferred.insert_row(&payment::ActiveModel {
        order_id: Set(order.id),
        amount_fen: Set(amount),
        received_on: Set(received_on),
        reference: Set(reference.clone()),
        recorded_by: Set(run.actor.user_id),
        created_at: Set(run.now),
        ..Default::default()
    });
    // Goods that left on an exception: the payment pays the receivable
    // down (the order's version guards it like the order).
    if let Some(r) = receivable::Entity::find()
        .filter(receivable::Column::OrderId.eq(order.id))
        .one(&run.txn)
        .await?
    {
        let on = order
            .shipped_on
            .map_or(received_on, |s| Ord::max(s, received_on));
        ar_entry(run, &order, r.due_on, on, -amount);
        let pay_down = std::cmp::min(amount, r.outstanding_fen);
        if pay_down > 0 {
            let left = r.outstanding_fen - pay_down;
            let mut am = r.clone().into_active_model();
            am.outstanding_fen = Set(left);
            if left == 0 {
                am.settled_at = Set(Some(run.now));
            }
            run.deferred.update_row(r.id, &am);
            run.deferred
                .add_to(r.agent_id, agent::Column::ArOutstandingFen, -pay_down);
        }
    }
    audit_order(
        run,
        step,
        &order,
        &after,
        Some(format!("payment {} ref {}", Fen(amount), reference)),
    )
    .await?;
    let msg = format!(
        "Payment of {} recorded on order {} ({} of {} paid)",
        Fen(amount),
        order.number,
        Fen(after.paid_fen),
        Fen(after.total_fen)
    );
    notify_order(run, &after, "PAYMENT_RECORDED", msg, &[]).await?;
    crate::outbox::defer(
        &mut run.deferred,
        crate::outbox::RECOMPUTE_SIGNALS,
        &format!("signals:order:{}:v{}", order.id, after.version),
        serde_json::json!({"trigger": "paymentRecord", "orderId": order.id}),
    );
    Ok(order.id)
}

/// S5.6 Finance confirms full payment and returns the order to the assistant.
pub async fn payment_confirm_full(
    run: &mut StepRun,
    input: OrderStepInput,
) -> Result<i64, ServiceError> {
    let step = Step::PaymentConfirmFull;
    let (order, from) = order_for_step(run, order_id(&input.order_id)?, step).await?;
    payment_of(&order).require_confirmable(&order.number)?;
    let after = advance(
        run,
        &order,
        step,
        from,
        vec![
            (sales_order::Column::FullyPaidAt, Some(run.now).into()),
            (
                sales_order::Column::PaymentConfirmedBy,
                Some(run.actor.user_id).into(),
            ),
        ],
    )
    .await?;
    audit_order(run, step, &order, &after, None).await?;
    let msg = format!(
        "Full payment of order {} confirmed by finance",
        order.number
    );
    notify_order(run, &after, "PAYMENT_CONFIRMED", msg, &[]).await?;
    crate::outbox::defer(
        &mut run.deferred,
        crate::outbox::RECOMPUTE_SIGNALS,
        &format!("signals:order:{}:v{}", order.id, after.version),
        serde_json::json!({"trigger": "paymentConfirmFull", "orderId": order.id}),
    );
    Ok(order.id)
}

/// Management approves shipping before full payment (SPEC S5 rule): tied to
/// one order and an amount, with a reason and an expiry.
pub async fn exception_approve(
    run: &mut StepRun,
    input: ShipmentExceptionApproveInput,
) -> Result<i64, ServiceError> {
    let step = Step::ShipmentExceptionApprove;
    let (order, from) = order_for_step(run, order_id(&input.order_id)?, step).await?;
    let amount = inputs::money(&["amount"], &input.amount, true)?.0;
    let reason = inputs::text(&["reason"], &input.reason, 2000)?;
    payment_of(&order).require_exception_needed(amount)?;
    if input.expires_at <= run.now {
        return Err(bad_input(&["expiresAt"], "must be in the future"));
    }
    if input.expires_at > run.now + Duration::days(90) {
        return Err(bad_input(&["expiresAt"], "must be within 90 days"));
    }
    let after = advance(run, &order, step, from, vec![]).await?;
    shipment_exception::ActiveModel {
        order_id: Set(order.id),
        amount_fen: Set(amount),
        reason: Set(reason.clone()),
        expires_at: Set(input.expires_at),
        approved_by: Set(run.actor.user_id),
        created_at: Set(run.now),
        used_at: Set(None),
        ..Default::default()
    }
    .insert(&run.txn)
    .await?;
    audit_order(
        run,
        step,
        &order,
        &after,
        Some(format!(
            "exception {} until {}: {}",
            Fen(amount),
            input.expires_at,
            reason
        )),
    )
    .await?;
    let msg = format!(
        "Management approved shipping order {} with {} unpaid: {}",
        order.number,
        Fen(amount),
        reason
    );
    notify_order(run, &after, "EXCEPTION_APPROVED", msg, &[Position::Finance]).await?;
    Ok(order.id)
}

/// The order's payment as the payment rule reads it.
fn payment_of(order: &sales_order::Model) -> PaymentState {
    PaymentState {
        total_fen: order.total_fen,
        paid_fen: order.paid_fen,
        confirmed: order.fully_paid_at.is_some(),
    }
}

/// Whether the order's goods may leave now (`payment::clearance`): `None`
/// when it is fully paid, else the exception they leave under.
async fn clearance(
    run: &StepRun,
    order: &sales_order::Model,
) -> Result<Option<shipment_exception::Model>, ServiceError> {
    let payment = payment_of(order);
    if payment.fully_paid() {
        return Ok(None);
    }
    let unused = shipment_exception::Entity::find()
        .filter(shipment_exception::Column::OrderId.eq(order.id))
        .filter(shipment_exception::Column::UsedAt.is_null())
        .order_by_desc(shipment_exception::Column::Id)
        .all(&run.txn)
        .await?;
    let terms: Vec<ShipmentException> = unused
        .iter()
        .map(|e| ShipmentException {
            id: e.id,
            amount_fen: e.amount_fen,
            expires_at: e.expires_at,
        })
        .collect();
    let chosen = payment
        .clearance(&order.number, &terms, run.now)?
        .map(|e| e.id);
    Ok(unused.into_iter().find(|e| Some(e.id) == chosen))
}

/// The order's lines, in line order.
async fn lines_of(run: &StepRun, order_id: i64) -> Result<Vec<order_line::Model>, ServiceError> {
    Ok(order_line::Entity::find()
        .filter(order_line::Column::OrderId.eq(order_id))
        .order_by_asc(order_line::Column::LineNo)
        .all(&run.txn)
        .await?)
}

/// What a shipping notice certifies: the order's number, agent, address,
/// total and lines, and the warehouse. A notice whose hash no longer
/// matches was altered (or its order was).
fn notice_content_hash(
    order: &sales_order::Model,
    lines: &[order_line::Model],
    warehouse_id: i64,
) -> String {
    let mut h = Sha256::new();
    h.update(
        format!(
            "{}|{}|{}|{}|{}|{}",
            order.number,
            order.agent_id,
            order.delivery_address,
            order.total_fen,
            warehouse_id,
            lines.len()
        )
        .as_bytes(),
    );
    for l in lines {
        h.update(format!("|{}:{}:{}", l.product_id, l.quantity, l.unit_price_fen).as_bytes());
    }
    hex::encode(h.finalize())
}

fn verification_code() -> String {
    const ALPHABET: &[u8] = b"ABCDEFGHJKLMNPQRSTUVWXYZ23456789";
    let mut rng = rand::rng();
    (0..8)
        .map(|_| ALPHABET[rng.random_range(0..ALPHABET.len())] as char)
        .collect()
}

/// S5.7 The assistant issues the shipping notice (after full payment, or on
/// a management exception).
pub async fn notice_issue(
    run: &mut StepRun,
    input: ShippingNoticeIssueInput,
) -> Result<i64, ServiceError> {
    let step = Step::ShippingNoticeIssue;
    let (order, from) = order_for_step(run, order_id(&input.order_id)?, step).await?;
    let wid = ids::decode("Warehouse", &input.warehouse_id, "warehouseId")?;
    warehouse::Entity::find_by_id(wid)
        .one(&run.txn)
        .await?
        .ok_or_else(|| bad_input(&["warehouseId"], "no such warehouse"))?;
    let exception = clearance(run, &order).await?;
    let after = advance(run, &order, step, from, vec![]).await?;
    let content_hash = notice_content_hash(&order, &lines_of(run, order.id).await?, wid);
    // The number last: from here to the commit, every other step that
    // numbers a notice waits for this one (`numbering`).
    let number = next_number(&run.txn, &run.app, DocType::ShippingNotice, run.now).await?;
    let code = verification_code();
    let notice = shipping_notice::ActiveModel {
        number: Set(number.clone()),
        order_id: Set(order.id),
        warehouse_id: Set(wid),
        verification_code: Set(code),
        content_hash: Set(content_hash),
        exception_id: Set(exception.as_ref().map(|e| e.id)),
        issued_by: Set(run.actor.user_id),
        issued_at: Set(run.now),
        used_at: Set(None),
        ..Default::default()
    }
    .insert(&run.txn)
    .await?;
    if let Some(out) = &run.order_out {
        out.put_notice(order.id, Some(&notice));
    }
    audit_order(run, step, &order, &after, Some(format!("notice {number}"))).await?;
    let msg = format!(
        "Shipping notice {} issued for order {}",
        number, order.number
    );
    notify_order(run, &after, "NOTICE_ISSUED", msg, &[Position::Warehouse]).await?;
    Ok(order.id)
}

/// Checks the serials of a shipment: one per unit, per product exactly the
/// quantity shipped, no duplicates. Returns (product id, serial) pairs.
fn serials_checked(
    list: &[SerialInput],
    need: &BTreeMap<i64, i64>,
) -> Result<Vec<(i64, String)>, ServiceError> {
    let mut per_product: BTreeMap<i64, i64> = BTreeMap::new();
    let mut seen = std::collections::BTreeSet::new();
    let mut out = vec![];
    for (i, s) in list.iter().enumerate() {
        let idx = i.to_string();
        let pid = ids::decode("Product", &s.product_id, "productId")
            .map_err(|_| bad_input(&["serials", &idx, "productId"], "is not a valid Product ID"))?;
        let serial = inputs::text(&["serials", &idx, "serial"], &s.serial, 64)?;
        if !seen.insert(serial.clone()) {
            return Err(bad_input(&["serials", &idx, "serial"], "appears twice"));
        }
        *per_product.entry(pid).or_default() += 1;
        out.push((pid, serial));
    }
    if &per_product != need {
        return Err(bad_input(
            &["serials"],
            "give one serial number per unit shipped: the count per product must match the order",
        ));
    }
    Ok(out)
}

fn notice_invalid(msg: impl Into<String>) -> ServiceError {
    ServiceError::from(
        crate::error::UserError::new(UserErrorCode::NoticeInvalid, msg).at(&["noticeNumber"]),
    )
}

/// S5.8 The warehouse keeper checks that the notice is genuine and ships:
/// stock leaves in the same transaction (never below zero); goods that leave
/// unpaid on an exception become a receivable within the agent's credit limit.
pub async fn shipment_ship(
    run: &mut StepRun,
    input: ShipmentShipInput,
) -> Result<i64, ServiceError> {
    let step = Step::ShipmentShip;
    let number = input.notice_number.trim().to_owned();
    let notice = shipping_notice::Entity::find()
        .filter(shipping_notice::Column::Number.eq(number.clone()))
        .one(&run.txn)
        .await?;
    // The notice names the order: a refusal goes into its history, also
    // one for the wrong position (checked first all the same).
    run.entity = notice.as_ref().map(|n| (ORDER, n.order_id));
    check_position(run, step)?;
    let notice =
        notice.ok_or_else(|| notice_invalid(format!("no shipping notice {number} was issued")))?;
    if !notice
        .verification_code
        .eq_ignore_ascii_case(input.verification_code.trim())
    {
        return Err(notice_invalid(format!(
            "the verification code does not match notice {number}: it is not genuine"
        )));
    }
    if notice.used_at.is_some() {
        return Err(notice_invalid(format!("notice {number} was already used")));
    }
    let (order, from) = order_for_step(run, notice.order_id, step).await?;
    let c = contract_of(run, order.id).await?;
    if c.status != ContractStatus::Signed.as_str() || c.decided_by.is_none() {
        return Err(notice_invalid(format!(
            "order {} has no approved, signed contract",
            order.number
        )));
    }
    let lines = lines_of(run, order.id).await?;
    if notice_content_hash(&order, &lines, notice.warehouse_id) != notice.content_hash {
        return Err(notice_invalid(format!(
            "order {} no longer matches notice {number}: it was altered",
            order.number
        )));
    }
    let carrier = inputs::text(&["carrier"], &input.carrier, 100)?;
    let tracking = inputs::text(&["trackingNumber"], &input.tracking_number, 100)?;
    let shipped_at = inputs::not_in_future(&["shippedAt"], input.shipped_at, run.now)?;
    let unpaid = payment_of(&order).unpaid();
    let exception = clearance(run, &order).await?;
    // The order row first (lock order: order, agent, stock by product).
    let shipped_on = shipped_at.with_timezone(&run.app.tz).date_naive();
    let after = advance(
        run,
        &order,
        step,
        from,
        vec![(sales_order::Column::ShippedOn, Some(shipped_on).into())],
    )
    .await?;
    if let Some(ex) = &exception {
        if unpaid > 0 {
            let res = agent::Entity::update_many()
                .col_expr(
                    agent::Column::ArOutstandingFen,
                    Expr::col(agent::Column::ArOutstandingFen).add(unpaid),
                )
                .filter(agent::Column::Id.eq(order.agent_id))
                .filter(
                    Expr::col(agent::Column::ArOutstandingFen)
                        .add(unpaid)
                        .lte(Expr::col(agent::Column::CreditLimitFen)),
                )
                .exec(&run.txn)
                .await?;
            if res.rows_affected != 1 {
                let a = agent::Entity::find_by_id(order.agent_id)
                    .one(&run.txn)
                    .await?;
                let (limit, used) = a
                    .map(|a| (a.credit_limit_fen, a.ar_outstanding_fen))
                    .unwrap_or_default();
                return Err(user_err(
                    UserErrorCode::CreditLimitExceeded,
                    format!(
                        "shipping {} unpaid would exceed the agent's credit limit ({} of {} in use)",
                        Fen(unpaid),
                        Fen(used),
                        Fen(limit)
                    ),
                ));
            }
            let due_on = (shipped_at + Duration::days(i64::from(order.payment_terms_days)))
                .with_timezone(&run.app.tz)
                .date_naive();
            receivable::ActiveModel {
                order_id: Set(order.id),
                agent_id: Set(order.agent_id),
                region_id: Set(order.region_id),
                amount_fen: Set(unpaid),
                outstanding_fen: Set(unpaid),
                due_on: Set(due_on),
                created_at: Set(run.now),
                settled_at: Set(None),
                ..Default::default()
            }
            .insert(&run.txn)
            .await?;
            // AR movements: the total now, each earlier payment on the later
            // of its receipt and the shipment.
            ar_entry(run, &order, due_on, shipped_on, order.total_fen);
            let earlier = payment::Entity::find()
                .filter(payment::Column::OrderId.eq(order.id))
                .all(&run.txn)
                .await?;
            for p in earlier {
                let on = Ord::max(p.received_on, shipped_on);
                ar_entry(run, &order, due_on, on, -p.amount_fen);
            }
        }
        let used = shipment_exception::Entity::update_many()
            .col_expr(shipment_exception::Column::UsedAt, Expr::value(run.now))
            .filter(shipment_exception::Column::Id.eq(ex.id))
            .filter(shipment_exception::Column::UsedAt.is_null())
            .exec(&run.txn)
            .await?;
        if used.rows_affected != 1 {
            return Err(user_err(
                UserErrorCode::Conflict,
                "the exception was used meanwhile",
            ));
        }
    }
    let shipment = shipment::ActiveModel {
        order_id: Set(order.id),
        notice_id: Set(notice.id),
        warehouse_id: Set(notice.warehouse_id),
        carrier: Set(carrier),
        tracking_number: Set(tracking),
        shipped_at: Set(shipped_at),
        shipped_by: Set(run.actor.user_id),
        delivered_at: Set(None),
        delivery_confirmed_by: Set(None),
        created_at: Set(run.now),
        ..Default::default()
    }
    .insert(&run.txn)
    .await?;
    // Stock out, per product, in product order.
    let mut need: BTreeMap<i64, i64> = BTreeMap::new();
    for l in &lines {
        *need.entry(l.product_id).or_default() += l.quantity;
    }
    if let Some(list) = &input.serials {
        let units = serials_checked(list, &need)?;
        let rows: Vec<serial_unit::ActiveModel> = units
            .into_iter()
            .map(|(pid, serial)| serial_unit::ActiveModel {
                serial: Set(serial),
                product_id: Set(pid),
                order_id: Set(order.id),
                shipment_id: Set(shipment.id),
                agent_id: Set(order.agent_id),
                region_id: Set(order.region_id),
                shipped_at: Set(shipped_at),
                ..Default::default()
            })
            .collect();
        serial_unit::Entity::insert_many(rows)
            .exec_without_returning(&run.txn)
            .await
            .map_err(|e| {
                if salesguard_entities::db::is_unique_violation(&e) {
                    bad_input(&["serials"], "a serial number was already shipped")
                } else {
                    ServiceError::from(e)
                }
            })?;
    }
    for (pid, qty) in need {
        let res = stock_level::Entity::update_many()
            .col_expr(
                stock_level::Column::OnHand,
                Expr::col(stock_level::Column::OnHand).sub(qty),
            )
            .filter(stock_level::Column::WarehouseId.eq(notice.warehouse_id))
            .filter(stock_level::Column::ProductId.eq(pid))
            .filter(stock_level::Column::OnHand.gte(qty))
            .exec(&run.txn)
            .await?;
        if res.rows_affected != 1 {
            let p = product::Entity::find_by_id(pid).one(&run.txn).await?;
            return Err(user_err(
                UserErrorCode::InsufficientStock,
                format!(
                    "not enough {} in stock to ship {} units",
                    p.map(|p| p.sku).unwrap_or_default(),
                    qty
                ),
            ));
        }
        run.deferred.insert_row(&stock_movement::ActiveModel {
            warehouse_id: Set(notice.warehouse_id),
            product_id: Set(pid),
            quantity: Set(-qty),
            reason: Set("SHIPMENT".into()),
            shipment_id: Set(Some(shipment.id)),
            note: Set(Some(order.number.clone())),
            created_by: Set(run.actor.user_id),
            created_at: Set(run.now),
            ..Default::default()
        });
    }
    // The notice is used with the order's update: a second shipment of it
    // waits for the order's lock and then finds the order shipped.
    run.deferred.update_row(
        notice.id,
        &shipping_notice::ActiveModel {
            used_at: Set(Some(run.now)),
            ..Default::default()
        },
    );
    if let Some(out) = &run.order_out {
        let used = shipping_notice::Model {
            used_at: Some(run.now),
            ..notice.clone()
        };
        out.put_notice(order.id, Some(&used));
    }
    audit_order(
        run,
        step,
        &order,
        &after,
        Some(format!(
            "notice {number} verified; shipped by {}",
            input.carrier
        )),
    )
    .await?;
    let msg = format!(
        "Order {} shipped ({} {})",
        order.number, shipment.carrier, shipment.tracking_number
    );
    notify_order(run, &after, "SHIPPED", msg, &[Position::Finance]).await?;
    crate::outbox::defer(
        &mut run.deferred,
        crate::outbox::RECOMPUTE_SIGNALS,
        &format!("signals:order:{}:v{}", order.id, after.version),
        serde_json::json!({"trigger": "shipmentShip", "orderId": order.id}),
    );
    Ok(order.id)
}

/// Delivery confirmed (by the warehouse or the assistant, from the carrier or
/// the agent).
pub async fn shipment_confirm_delivery(
    run: &mut StepRun,
    input: ShipmentConfirmDeliveryInput,
) -> Result<i64, ServiceError> {
    let step = Step::ShipmentConfirmDelivery;
    let (order, from) = order_for_step(run, order_id(&input.order_id)?, step).await?;
    let s = shipment::Entity::find()
        .filter(shipment::Column::OrderId.eq(order.id))
        .one(&run.txn)
        .await?
        .ok_or_else(|| anyhow::anyhow!("shipped order {} has no shipment", order.id))?;
    if s.delivered_at.is_some() {
        return Err(user_err(
            UserErrorCode::Conflict,
            "delivery is already confirmed",
        ));
    }
    let at = inputs::not_in_future(&["deliveredAt"], input.delivered_at, run.now)?;
    if at < s.shipped_at {
        return Err(bad_input(
            &["deliveredAt"],
            "must not be before the shipment",
        ));
    }
    let after = advance(run, &order, step, from, vec![]).await?;
    let row_id = s.id;
    let mut am = s.into_active_model();
    am.delivered_at = Set(Some(at));
    am.delivery_confirmed_by = Set(Some(run.actor.user_id));
    run.deferred.update_row(row_id, &am);
    audit_order(run, step, &order, &after, None).await?;
    let msg = format!("Delivery of order {} confirmed", order.number);
    notify_order(run, &after, "DELIVERED", msg, &[]).await?;
    Ok(order.id)
}

/// S6.1 The salesperson collects the agent's invoicing information.
pub async fn invoice_info_collect(
    run: &mut StepRun,
    input: InvoiceInfoCollectInput,
) -> Result<i64, ServiceError> {
    let step = Step::InvoiceInfoCollect;
    let (order, from) = order_for_step(run, order_id(&input.order_id)?, step).await?;
    payment_of(&order).require_fully_paid(&order.number)?;
    let title = inputs::text(&["title"], &input.title, 200)?;
    let tax = inputs::text(&["taxNumber"], &input.tax_number, 40)?;
    let bank = inputs::text(&["bankName"], &input.bank_name, 200)?;
    let account = inputs::text(&["bankAccount"], &input.bank_account, 60)?;
    let addr = inputs::text(&["mailingAddress"], &input.mailing_address, 500)?;
    let after = advance(run, &order, step, from, vec![]).await?;
    run.deferred.insert_row(&invoice_info::ActiveModel {
        order_id: Set(order.id),
        title: Set(title),
        tax_number: Set(tax),
        bank_name: Set(bank),
        bank_account: Set(account),
        mailing_address: Set(addr),
        collected_by: Set(run.actor.user_id),
        collected_at: Set(run.now),
        ..Default::default()
    });
    audit_order(run, step, &order, &after, None).await?;
    let msg = format!("Invoicing information collected for order {}", order.number);
    notify_order(
        run,
        &after,
        "INVOICE_INFO_COLLECTED",
        msg,
        &[Position::Finance],
    )
    .await?;
    Ok(order.id)
}

/// S6.3 Finance checks full payment again and issues the invoice.
pub async fn invoice_issue(
    run: &mut StepRun,
    input: InvoiceIssueInput,
) -> Result<i64, ServiceError> {
    let step = Step::InvoiceIssue;
    let (order, from) = order_for_step(run, order_id(&input.order_id)?, step).await?;
    payment_of(&order).require_fully_paid(&order.number)?;
    let inv_no = inputs::text(&["invoiceNumber"], &input.invoice_number, 60)?;
    let after = advance(run, &order, step, from, vec![]).await?;
    run.deferred.insert_row(&invoice::ActiveModel {
        order_id: Set(order.id),
        invoice_number: Set(inv_no.clone()),
        amount_fen: Set(order.total_fen),
        issued_by: Set(run.actor.user_id),
        issued_at: Set(run.now),
        mailed_by: Set(None),
        mailed_at: Set(None),
        mail_carrier: Set(None),
        mail_tracking: Set(None),
        expected_arrival_on: Set(None),
        receipt_confirmed_by: Set(None),
        receipt_confirmed_at: Set(None),
        ..Default::default()
    });
    audit_order(run, step, &order, &after, Some(format!("invoice {inv_no}"))).await?;
    let msg = format!("Invoice {} issued for order {}", inv_no, order.number);
    notify_order(run, &after, "INVOICE_ISSUED", msg, &[]).await?;
    Ok(order.id)
}

async fn invoice_of(run: &StepRun, order_id: i64) -> Result<invoice::Model, ServiceError> {
    if let Some(i) = read_with_order(run, order_id, |ctx| &ctx.read.invoice) {
        return Ok(i);
    }
    invoice::Entity::find()
        .filter(invoice::Column::OrderId.eq(order_id))
        .one(&run.txn)
        .await?
        .ok_or_else(|| anyhow::anyhow!("invoiced order {order_id} has no invoice").into())
}

/// S6.4 The assistant mails the invoice.
pub async fn invoice_mail(run: &mut StepRun, input: InvoiceMailInput) -> Result<i64, ServiceError> {
    let step = Step::InvoiceMail;
    let (order, from) = order_for_step(run, order_id(&input.order_id)?, step).await?;
    let carrier = inputs::text(&["carrier"], &input.carrier, 100)?;
    let tracking = inputs::text(&["trackingNumber"], &input.tracking_number, 100)?;
    let today = business_day(run.now, run.app.tz);
    if input.expected_arrival_on < today {
        return Err(bad_input(&["expectedArrivalOn"], "must not be in the past"));
    }
    let after = advance(run, &order, step, from, vec![]).await?;
    let inv = invoice_of(run, order.id).await?;
    let row_id = inv.id;
    let mut am = inv.into_active_model();
    am.mailed_by = Set(Some(run.actor.user_id));
    am.mailed_at = Set(Some(run.now));
    am.mail_carrier = Set(Some(carrier));
    am.mail_tracking = Set(Some(tracking));
    am.expected_arrival_on = Set(Some(input.expected_arrival_on));
    run.deferred.update_row(row_id, &am);
    audit_order(run, step, &order, &after, None).await?;
    let msg = format!(
        "Invoice for order {} mailed, expected by {}",
        order.number, input.expected_arrival_on
    );
    notify_order(run, &after, "INVOICE_MAILED", msg, &[]).await?;
    Ok(order.id)
}

/// S6.5 The assistant confirms with the agent that the invoice arrived.
pub async fn invoice_confirm_receipt(
    run: &mut StepRun,
    input: OrderStepInput,
) -> Result<i64, ServiceError> {
    let step = Step::InvoiceConfirmReceipt;
    let (order, from) = order_for_step(run, order_id(&input.order_id)?, step).await?;
    let after = advance(run, &order, step, from, vec![]).await?;
    let inv = invoice_of(run, order.id).await?;
    let row_id = inv.id;
    let mut am = inv.into_active_model();
    am.receipt_confirmed_by = Set(Some(run.actor.user_id));
    am.receipt_confirmed_at = Set(Some(run.now));
    run.deferred.update_row(row_id, &am);
    audit_order(run, step, &order, &after, None).await?;
    let msg = format!(
        "The agent confirmed receipt of the invoice for order {}",
        order.number
    );
    notify_order(run, &after, "INVOICE_RECEIVED", msg, &[]).await?;
    Ok(order.id)
}

/// S6.6 The assistant archives the order; its sales process ends.
pub async fn order_archive(run: &mut StepRun, input: OrderStepInput) -> Result<i64, ServiceError> {
    let step = Step::OrderArchive;
    let (order, from) = order_for_step(run, order_id(&input.order_id)?, step).await?;
    let after = advance(
        run,
        &order,
        step,
        from,
        vec![(sales_order::Column::ArchivedAt, Some(run.now).into())],
    )
    .await?;
    audit_order(run, step, &order, &after, None).await?;
    let msg = format!("Order {} archived", order.number);
    notify_order(run, &after, "ARCHIVED", msg, &[Position::Management]).await?;
    Ok(order.id)
}

/// Writes a movement of accounts receivable of an order that has a
/// receivable (`ar_entries`, docs/metrics.md).
fn ar_entry(
    run: &mut StepRun,
    order: &sales_order::Model,
    due_on: NaiveDate,
    entry_on: NaiveDate,
    amount_fen: i64,
) {
    run.deferred.insert_row(&ar_entry::ActiveModel {
        order_id: Set(order.id),
        region_id: Set(order.region_id),
        agent_id: Set(order.agent_id),
        salesperson_id: Set(order.salesperson_id),
        due_on: Set(due_on),
        entry_on: Set(entry_on),
        amount_fen: Set(amount_fen),
        ..Default::default()
    });
}
