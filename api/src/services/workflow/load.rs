//! Loading an order for a step, under the rules every step obeys
//! (`salesguard_domain::order::gate`), with what its audit record and copies
//! need.
use std::collections::BTreeSet;

use async_graphql::ID;
use sea_orm::{ColumnTrait, ConnectionTrait, EntityTrait, QueryFilter};

use salesguard_domain::order::{self, OrderFacts};
use salesguard_domain::{OrderStatus, Step};
use salesguard_entities::model::{contract, invoice, sales_order, shipping_notice};

use crate::audit::{self};
use crate::error::ServiceError;
use crate::graphql::ids;
use crate::idempotency::StepRun;
use crate::step_cache::Loaded;

use super::ORDER;

pub(super) fn status_of(order: &sales_order::Model) -> Result<OrderStatus, ServiceError> {
    order
        .status
        .parse()
        .map_err(|e| ServiceError::from(anyhow::anyhow!("order {}: {e}", order.id)))
}

pub(super) fn check_position(run: &StepRun, step: Step) -> Result<(), ServiceError> {
    crate::services::require(run, salesguard_domain::Capability::Step(step))
}

/// Loads an order for a step under the rules every step obeys
/// (`salesguard_domain::order::gate`): position, region scope, status. The
/// position is checked before anything is read.
pub(super) async fn order_for_step(
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
pub(super) fn facts_of(order: &sales_order::Model, status: OrderStatus) -> OrderFacts {
    OrderFacts {
        number: order.number.clone(),
        region_id: order.region_id,
        status,
        salesperson_id: order.salesperson_id,
    }
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

/// Loads an order for a step, with what the step's audit record and
/// notifications need: its audit stream's head, its parties and the people
/// responsible for its region. From what the order's last step left in this
/// process when the step may start from that (`step_cache`), else from the
/// database (`read_for_step`).
pub(super) async fn load_for_step(
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
pub(super) async fn read_for_step(
    run: &StepRun,
    order_id: i64,
) -> Result<Option<Loaded>, ServiceError> {
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
pub(super) fn read_with_order<T: Clone>(
    run: &StepRun,
    order_id: i64,
    doc: impl Fn(&OrderCtx) -> &Option<T>,
) -> Option<T> {
    run.order_ctx
        .as_ref()
        .filter(|ctx| ctx.order_id == order_id)
        .and_then(|ctx| doc(ctx).clone())
}

pub(super) async fn contract_of(
    run: &StepRun,
    order_id: i64,
) -> Result<contract::Model, ServiceError> {
    if let Some(c) = read_with_order(run, order_id, |ctx| &ctx.read.contract) {
        return Ok(c);
    }
    contract::Entity::find()
        .filter(contract::Column::OrderId.eq(order_id))
        .one(&run.txn)
        .await?
        .ok_or_else(|| anyhow::anyhow!("order {order_id} has no contract").into())
}

pub(super) async fn invoice_of(
    run: &StepRun,
    order_id: i64,
) -> Result<invoice::Model, ServiceError> {
    if let Some(i) = read_with_order(run, order_id, |ctx| &ctx.read.invoice) {
        return Ok(i);
    }
    invoice::Entity::find()
        .filter(invoice::Column::OrderId.eq(order_id))
        .one(&run.txn)
        .await?
        .ok_or_else(|| anyhow::anyhow!("invoiced order {order_id} has no invoice").into())
}

pub(super) fn order_id(input: &ID) -> Result<i64, ServiceError> {
    ids::decode(ORDER, input, "orderId")
}
