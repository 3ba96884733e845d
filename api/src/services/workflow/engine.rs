//! The step engine: writes what a step decided (the order moved on under
//! its version, its documents, new rows, the audit record, the copies, the
//! signals' recomputation).

use chrono::{DateTime, NaiveDate, Utc};
use sea_orm::sea_query::Expr;
use sea_orm::{
    ActiveModelTrait, ColumnTrait, EntityTrait, IntoActiveModel, QueryFilter, Set, TryIntoModel,
};

use salesguard_domain::docnum::business_day;
use salesguard_domain::{OrderStatus, Position, Step};
use salesguard_entities::model::{
    agent, ar_entry, contract, invoice, invoice_info, payment, receivable, sales_order, shipment,
};

use crate::audit::Entry;
use crate::error::{user_err, ServiceError, UserErrorCode};
use crate::idempotency::StepRun;
use crate::notify;

use super::load::*;
use super::shipping::*;
use super::ORDER;
use salesguard_domain::order::effects::{
    ContractChange, Effects, InvoiceChange, NewRow, OrderChange, ShipmentChange,
};
use salesguard_domain::order::steps::{
    ContractFacts, Decided, OrderState, ReceivableFacts, ShipmentFacts, StepCtx, StepError,
};

/// Moves the order on, conditional on the version read: 0 rows → CONFLICT.
/// `set` adds the step's own columns. Returns the order as written. The
/// order row is locked before anything else: by `load_for_step` (FOR UPDATE
/// on PostgreSQL), else by this update, the first write of a step.
pub(super) async fn advance(
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

pub(super) async fn audit_order(
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
pub(super) async fn notify_order(
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

/// Writes a movement of accounts receivable of an order that has a
/// receivable (`ar_entries`, docs/metrics.md).
pub(super) fn ar_entry(
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

/// What the effects engine read besides the order and the documents
/// `load_for_step` reads with it.
#[derive(Clone, Copy, Default)]
pub(super) struct Reads {
    /// The order's shipment (the delivery step changes it).
    pub shipment: bool,
    /// The order's receivable (a payment after a shipment on an exception
    /// pays it down).
    pub receivable: bool,
}

/// The rows behind the optional parts of the state.
#[derive(Default)]
struct Extra {
    shipment: Option<shipment::Model>,
    receivable: Option<receivable::Model>,
}

/// Runs an order step whose every change is decided from the order as read
/// (`salesguard_domain::order::steps`): loads the order under the common
/// rules, builds its state (with the rows `reads` names), lets `decide`
/// choose, and writes the effects. A step that goes through here writes
/// only what the engine defers, so on PostgreSQL it runs as one statement
/// (see `db::StepConn::Single`).
pub(super) async fn order_step(
    run: &mut StepRun,
    order_id: i64,
    step: Step,
    reads: Reads,
    decide: impl FnOnce(&StepCtx, &OrderState) -> Decided,
) -> Result<Written, ServiceError> {
    let (order, from) = order_for_step(run, order_id, step).await?;
    let mut extra = Extra::default();
    if reads.shipment {
        extra.shipment = shipment::Entity::find()
            .filter(shipment::Column::OrderId.eq(order.id))
            .one(&run.txn)
            .await?;
    }
    if reads.receivable {
        extra.receivable = receivable::Entity::find()
            .filter(receivable::Column::OrderId.eq(order.id))
            .one(&run.txn)
            .await?;
    }
    let state = state_of(run, &order, from, &extra);
    let ctx = StepCtx {
        actor: &run.actor,
        now: run.now,
        today: business_day(run.now, run.app.tz),
    };
    let effects = decide(&ctx, &state).map_err(|e| match e {
        StepError::Refused(r) => ServiceError::from(r),
        StepError::Inconsistent(why) => ServiceError::from(anyhow::anyhow!(why)),
    })?;
    apply(run, &order, step, from, effects, extra).await?;
    Ok(Written(order.id))
}

/// The order an effects step changed. Only the engine makes one: a step
/// that returns it wrote nothing but its effects, which is what lets the
/// runner take it as a single statement (`decided_step!`).
pub struct Written(i64);

/// The order id of a step that returns [`Written`], for the runner.
pub fn written<'r>(
    step: impl std::future::Future<Output = Result<Written, ServiceError>> + Send + 'r,
) -> futures::future::BoxFuture<'r, Result<i64, ServiceError>> {
    Box::pin(async move { step.await.map(|w| w.0) })
}

/// The order's state as its steps read it.
fn state_of(
    run: &StepRun,
    order: &sales_order::Model,
    status: OrderStatus,
    extra: &Extra,
) -> OrderState {
    let contract =
        read_with_order(run, order.id, |ctx| &ctx.read.contract).map(|c| ContractFacts {
            number: c.number,
            drafted_by: c.drafted_by,
            submitted_by: c.submitted_by,
        });
    OrderState {
        id: order.id,
        facts: facts_of(order, status),
        payment: payment_of(order),
        shipped_on: order.shipped_on,
        contract,
        shipment: extra.shipment.as_ref().map(|s| ShipmentFacts {
            shipped_at: s.shipped_at,
            delivered_at: s.delivered_at,
        }),
        receivable: extra.receivable.as_ref().map(|r| ReceivableFacts {
            id: r.id,
            outstanding_fen: r.outstanding_fen,
            due_on: r.due_on,
        }),
    }
}

/// Writes a step's effects: the order moved on (conditional on its
/// version), its documents' changes, the new rows, the audit record, the
/// copies and, if asked, the recomputation of the risk signals.
async fn apply(
    run: &mut StepRun,
    order: &sales_order::Model,
    step: Step,
    from: OrderStatus,
    effects: Effects,
    extra: Extra,
) -> Result<(), ServiceError> {
    let mut set: Vec<(sales_order::Column, sea_orm::Value)> = vec![];
    for change in &effects.order {
        match change {
            OrderChange::PaidFen(v) => set.push((sales_order::Column::PaidFen, (*v).into())),
            OrderChange::FullyPaid { at, by } => {
                set.push((sales_order::Column::FullyPaidAt, Some(*at).into()));
                set.push((sales_order::Column::PaymentConfirmedBy, Some(*by).into()));
            }
            OrderChange::Archived { at } => {
                set.push((sales_order::Column::ArchivedAt, Some(*at).into()))
            }
        }
    }
    let after = advance(run, order, step, from, set).await?;
    if let Some(change) = effects.contract {
        let c = contract_of(run, order.id).await?;
        let id = c.id;
        run.deferred
            .update_row(id, &contract_change(c, change, run.now));
    }
    if let Some(change) = effects.invoice {
        let inv = invoice_of(run, order.id).await?;
        let id = inv.id;
        run.deferred.update_row(id, &invoice_change(inv, change));
    }
    if let (Some(ShipmentChange::Delivered { at, by }), Some(s)) =
        (effects.shipment, extra.shipment)
    {
        let id = s.id;
        let mut am = s.into_active_model();
        am.delivered_at = Set(Some(at));
        am.delivery_confirmed_by = Set(Some(by));
        run.deferred.update_row(id, &am);
    }
    for row in effects.rows {
        new_row(run, order, row);
    }
    if let (Some(p), Some(r)) = (effects.pay_down, extra.receivable) {
        let mut am = r.into_active_model();
        am.outstanding_fen = Set(p.left_fen);
        if p.settled_at.is_some() {
            am.settled_at = Set(p.settled_at);
        }
        run.deferred.update_row(p.receivable_id, &am);
        run.deferred.add_to(
            order.agent_id,
            agent::Column::ArOutstandingFen,
            -p.amount_fen,
        );
    }
    audit_order(run, step, order, &after, effects.detail).await?;
    let copy = effects.copy;
    notify_order(run, &after, copy.kind, copy.message, copy.also).await?;
    if effects.recompute_signals {
        crate::outbox::defer(
            &mut run.deferred,
            crate::outbox::RECOMPUTE_SIGNALS,
            &format!("signals:order:{}:v{}", order.id, after.version),
            serde_json::json!({"trigger": step.as_str(), "orderId": order.id}),
        );
    }
    Ok(())
}

/// The contract's columns a change sets.
fn contract_change(
    c: contract::Model,
    change: ContractChange,
    now: DateTime<Utc>,
) -> contract::ActiveModel {
    let mut am = c.into_active_model();
    am.status = Set(change.status.as_str().into());
    if let Some(t) = change.terms {
        am.terms = Set(t);
    }
    if let Some(by) = change.submitted {
        am.submitted_by = Set(by.map(|b| b.0));
        am.submitted_at = Set(by.map(|b| b.1));
    }
    if let Some(by) = change.decided {
        am.decided_by = Set(by.map(|b| b.0));
        am.decided_at = Set(by.map(|b| b.1));
    }
    if let Some(reason) = change.rejection_reason {
        am.rejection_reason = Set(reason);
    }
    if let Some(s) = change.signed {
        am.signed_method = Set(Some(s.method.as_str().into()));
        am.signed_by = Set(Some(s.by));
        am.signed_at = Set(Some(s.at));
        am.courier_tracking = Set(s.courier_tracking);
    }
    am.updated_at = Set(now);
    am
}

/// The invoice's columns a change sets.
fn invoice_change(inv: invoice::Model, change: InvoiceChange) -> invoice::ActiveModel {
    let mut am = inv.into_active_model();
    match change {
        InvoiceChange::Mailed {
            by,
            at,
            carrier,
            tracking,
            expected_arrival_on,
        } => {
            am.mailed_by = Set(Some(by));
            am.mailed_at = Set(Some(at));
            am.mail_carrier = Set(Some(carrier));
            am.mail_tracking = Set(Some(tracking));
            am.expected_arrival_on = Set(Some(expected_arrival_on));
        }
        InvoiceChange::ReceiptConfirmed { by, at } => {
            am.receipt_confirmed_by = Set(Some(by));
            am.receipt_confirmed_at = Set(Some(at));
        }
    }
    am
}

/// Adds a row a step decided on, with the step's other deferred writes.
fn new_row(run: &mut StepRun, order: &sales_order::Model, row: NewRow) {
    match row {
        NewRow::Payment {
            amount_fen,
            received_on,
            reference,
            recorded_by,
            at,
        } => run.deferred.insert_row(&payment::ActiveModel {
            order_id: Set(order.id),
            amount_fen: Set(amount_fen),
            received_on: Set(received_on),
            reference: Set(reference),
            recorded_by: Set(recorded_by),
            created_at: Set(at),
            ..Default::default()
        }),
        NewRow::ArEntry {
            due_on,
            entry_on,
            amount_fen,
        } => ar_entry(run, order, due_on, entry_on, amount_fen),
        NewRow::InvoiceInfo {
            title,
            tax_number,
            bank_name,
            bank_account,
            mailing_address,
            collected_by,
            at,
        } => run.deferred.insert_row(&invoice_info::ActiveModel {
            order_id: Set(order.id),
            title: Set(title),
            tax_number: Set(tax_number),
            bank_name: Set(bank_name),
            bank_account: Set(bank_account),
            mailing_address: Set(mailing_address),
            collected_by: Set(collected_by),
            collected_at: Set(at),
            ..Default::default()
        }),
        NewRow::Invoice {
            invoice_number,
            amount_fen,
            issued_by,
            at,
        } => run.deferred.insert_row(&invoice::ActiveModel {
            order_id: Set(order.id),
            invoice_number: Set(invoice_number),
            amount_fen: Set(amount_fen),
            issued_by: Set(issued_by),
            issued_at: Set(at),
            mailed_by: Set(None),
            mailed_at: Set(None),
            mail_carrier: Set(None),
            mail_tracking: Set(None),
            expected_arrival_on: Set(None),
            receipt_confirmed_by: Set(None),
            receipt_confirmed_at: Set(None),
            ..Default::default()
        }),
    }
}
