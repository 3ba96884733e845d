//! Shipping (SPEC S5.6–S5.7): the management exception, the shipping
//! notice and the shipment, with stock, serials, receivables and credit.
use std::collections::BTreeMap;

use chrono::{DateTime, Duration, Utc};
use rand::Rng;
use sea_orm::sea_query::{Expr, ExprTrait};
use sea_orm::{ActiveModelTrait, ColumnTrait, EntityTrait, QueryFilter, QueryOrder, Set};
use sha2::{Digest, Sha256};

use salesguard_domain::contract::ContractStatus;
use salesguard_domain::credit::Credit;
use salesguard_domain::payment::{PaymentState, ShipmentException};
use salesguard_domain::{DocType, Fen, Position, Step};
use salesguard_entities::model::{
    agent, order_line, payment, product, receivable, sales_order, serial_unit, shipment,
    shipment_exception, shipping_notice, stock_level, stock_movement, warehouse,
};

use crate::error::{bad_input, user_err, ServiceError, UserErrorCode};
use crate::graphql::ids;
use crate::idempotency::StepRun;
use crate::numbering::next_number;
use crate::services::inputs;

use super::engine::*;
use super::inputs::*;
use super::load::*;
use super::ORDER;

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
pub(super) fn payment_of(order: &sales_order::Model) -> PaymentState {
    PaymentState {
        total_fen: order.total_fen,
        paid_fen: order.paid_fen,
        confirmed: order.fully_paid_at.is_some(),
    }
}

/// Whether the order's goods may leave now (`payment::clearance`): `None`
/// when it is fully paid, else the exception they leave under.
pub(super) async fn clearance(
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
pub(super) async fn lines_of(
    run: &StepRun,
    order_id: i64,
) -> Result<Vec<order_line::Model>, ServiceError> {
    Ok(order_line::Entity::find()
        .filter(order_line::Column::OrderId.eq(order_id))
        .order_by_asc(order_line::Column::LineNo)
        .all(&run.txn)
        .await?)
}

/// What a shipping notice certifies: the order's number, agent, address,
/// total and lines, and the warehouse. A notice whose hash no longer
/// matches was altered (or its order was).
pub(super) fn notice_content_hash(
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

pub(super) fn verification_code() -> String {
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
pub(super) fn serials_checked(
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

pub(super) fn notice_invalid(msg: impl Into<String>) -> ServiceError {
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
    let notice = genuine_notice(run, step, &number, &input.verification_code).await?;
    let (order, from) = order_for_step(run, notice.order_id, step).await?;
    let lines = unaltered_lines(run, &order, &notice).await?;
    let carrier = inputs::text(&["carrier"], &input.carrier, 100)?;
    let tracking = inputs::text(&["trackingNumber"], &input.tracking_number, 100)?;
    let shipped_at = inputs::not_in_future(&["shippedAt"], input.shipped_at, run.now)?;
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
        book_receivable(run, &order, shipped_at).await?;
        use_exception(run, ex).await?;
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
    stock_out(run, &order, &shipment, &lines, input.serials.as_deref()).await?;
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

/// The shipping notice `number`, if it was issued, its verification code
/// matches and it was not used. A refusal goes into its order's history,
/// also one for the wrong position (checked first all the same).
async fn genuine_notice(
    run: &mut StepRun,
    step: Step,
    number: &str,
    code: &str,
) -> Result<shipping_notice::Model, ServiceError> {
    let notice = shipping_notice::Entity::find()
        .filter(shipping_notice::Column::Number.eq(number))
        .one(&run.txn)
        .await?;
    run.entity = notice.as_ref().map(|n| (ORDER, n.order_id));
    check_position(run, step)?;
    let notice =
        notice.ok_or_else(|| notice_invalid(format!("no shipping notice {number} was issued")))?;
    if !notice.verification_code.eq_ignore_ascii_case(code.trim()) {
        return Err(notice_invalid(format!(
            "the verification code does not match notice {number}: it is not genuine"
        )));
    }
    if notice.used_at.is_some() {
        return Err(notice_invalid(format!("notice {number} was already used")));
    }
    Ok(notice)
}

/// The order's lines, if its contract is approved and signed and the order
/// still matches what the notice certifies.
async fn unaltered_lines(
    run: &StepRun,
    order: &sales_order::Model,
    notice: &shipping_notice::Model,
) -> Result<Vec<order_line::Model>, ServiceError> {
    let c = contract_of(run, order.id).await?;
    if c.status != ContractStatus::Signed.as_str() || c.decided_by.is_none() {
        return Err(notice_invalid(format!(
            "order {} has no approved, signed contract",
            order.number
        )));
    }
    let lines = lines_of(run, order.id).await?;
    if notice_content_hash(order, &lines, notice.warehouse_id) != notice.content_hash {
        return Err(notice_invalid(format!(
            "order {} no longer matches notice {}: it was altered",
            order.number, notice.number
        )));
    }
    Ok(lines)
}

/// Goods leaving unpaid on an exception: what is unpaid becomes a
/// receivable of the agent, within its credit limit, with the order's AR
/// movements (the total now, each earlier payment on the later of its
/// receipt and the shipment).
async fn book_receivable(
    run: &mut StepRun,
    order: &sales_order::Model,
    shipped_at: DateTime<Utc>,
) -> Result<(), ServiceError> {
    let unpaid = payment_of(order).unpaid();
    if unpaid <= 0 {
        return Ok(());
    }
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
        let (limit_fen, outstanding_fen) = a
            .map(|a| (a.credit_limit_fen, a.ar_outstanding_fen))
            .unwrap_or_default();
        // The guard above is `Credit::allows`, applied atomically.
        let credit = Credit {
            limit_fen,
            outstanding_fen,
        };
        return Err(credit.exceeded(unpaid).into());
    }
    let shipped_on = shipped_at.with_timezone(&run.app.tz).date_naive();
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
    ar_entry(run, order, due_on, shipped_on, order.total_fen);
    let earlier = payment::Entity::find()
        .filter(payment::Column::OrderId.eq(order.id))
        .all(&run.txn)
        .await?;
    for p in earlier {
        let on = Ord::max(p.received_on, shipped_on);
        ar_entry(run, order, due_on, on, -p.amount_fen);
    }
    Ok(())
}

/// Marks the exception the goods leave under as used (once).
async fn use_exception(run: &StepRun, ex: &shipment_exception::Model) -> Result<(), ServiceError> {
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
    Ok(())
}

/// Takes the order's lines out of the notice's warehouse, per product in
/// product order (never below zero), with the serials shipped, if given.
async fn stock_out(
    run: &mut StepRun,
    order: &sales_order::Model,
    shipment: &shipment::Model,
    lines: &[order_line::Model],
    serials: Option<&[SerialInput]>,
) -> Result<(), ServiceError> {
    let mut need: BTreeMap<i64, i64> = BTreeMap::new();
    for l in lines {
        *need.entry(l.product_id).or_default() += l.quantity;
    }
    if let Some(list) = serials {
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
                shipped_at: Set(shipment.shipped_at),
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
            .filter(stock_level::Column::WarehouseId.eq(shipment.warehouse_id))
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
            warehouse_id: Set(shipment.warehouse_id),
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
    Ok(())
}
