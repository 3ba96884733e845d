//! The steps that create an order's documents and number them (SPEC S5.1,
//! S5.2).
use std::collections::HashMap;

use sea_orm::{ActiveModelTrait, ColumnTrait, EntityTrait, QueryFilter, Set};

use salesguard_domain::contract::ContractStatus;
use salesguard_domain::money::MAX_FEN;
use salesguard_domain::{DocType, Fen, OrderStatus, Position, Step};
use salesguard_entities::model::{agent, contract, order_line, product, sales_order};

use crate::audit::{self, Entry};
use crate::error::{bad_input, ServiceError, UserErrorCode};
use crate::graphql::ids;
use crate::idempotency::StepRun;
use crate::numbering::next_number;
use crate::services::inputs;

use super::engine::*;
use super::inputs::*;
use super::load::*;
use super::ORDER;

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
