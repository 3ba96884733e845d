//! The order steps decided by the domain (`salesguard_domain::order::steps`)
//! and written by the engine.

use salesguard_domain::Step;

use crate::error::ServiceError;
use crate::idempotency::StepRun;

use super::engine::*;
use super::inputs::*;
use super::load::*;
use salesguard_domain::order::steps::{self};

/// S5.3 The assistant submits contract and order for approval.
pub async fn contract_submit(
    run: &mut StepRun,
    input: ContractSubmitInput,
) -> Result<Written, ServiceError> {
    let id = order_id(&input.order_id)?;
    order_step(run, id, Step::ContractSubmit, Reads::default(), |ctx, o| {
        steps::contract_submit(ctx, o, input.terms.as_deref())
    })
    .await
}

/// S5.3 The supervisor approves or rejects.
pub async fn contract_decide(
    run: &mut StepRun,
    input: ContractDecisionInput,
    approve: bool,
) -> Result<Written, ServiceError> {
    let step = if approve {
        Step::ContractApprove
    } else {
        Step::ContractReject
    };
    let id = order_id(&input.order_id)?;
    order_step(run, id, step, Reads::default(), |ctx, o| {
        steps::contract_decide(ctx, o, approve, input.reason.as_deref())
    })
    .await
}

/// S5.4 Signing: on site by the salesperson, or by fax + courier by the
/// assistant.
pub async fn contract_sign(
    run: &mut StepRun,
    input: ContractSignInput,
) -> Result<Written, ServiceError> {
    let id = order_id(&input.order_id)?;
    let method = input.method.into();
    order_step(run, id, Step::ContractSign, Reads::default(), |ctx, o| {
        steps::contract_sign(
            ctx,
            o,
            method,
            input.courier_tracking.as_deref(),
            input.signed_at,
        )
    })
    .await
}

/// S5.5 The assistant forwards the signed order to finance.
pub async fn order_forward(
    run: &mut StepRun,
    input: OrderStepInput,
) -> Result<Written, ServiceError> {
    let id = order_id(&input.order_id)?;
    order_step(
        run,
        id,
        Step::OrderForwardToFinance,
        Reads::default(),
        steps::order_forward,
    )
    .await
}

/// S5.6 Finance records a payment received.
pub async fn payment_record(
    run: &mut StepRun,
    input: PaymentRecordInput,
) -> Result<Written, ServiceError> {
    let id = order_id(&input.order_id)?;
    let reads = Reads {
        receivable: true,
        ..Reads::default()
    };
    order_step(run, id, Step::PaymentRecord, reads, |ctx, o| {
        steps::payment_record(ctx, o, &input.amount, input.received_on.0, &input.reference)
    })
    .await
}

/// S5.6 Finance confirms full payment.
pub async fn payment_confirm_full(
    run: &mut StepRun,
    input: OrderStepInput,
) -> Result<Written, ServiceError> {
    let id = order_id(&input.order_id)?;
    order_step(
        run,
        id,
        Step::PaymentConfirmFull,
        Reads::default(),
        steps::payment_confirm_full,
    )
    .await
}

/// S5.8 Delivery confirmed.
pub async fn shipment_confirm_delivery(
    run: &mut StepRun,
    input: ShipmentConfirmDeliveryInput,
) -> Result<Written, ServiceError> {
    let id = order_id(&input.order_id)?;
    let reads = Reads {
        shipment: true,
        ..Reads::default()
    };
    order_step(run, id, Step::ShipmentConfirmDelivery, reads, |ctx, o| {
        steps::shipment_confirm_delivery(ctx, o, input.delivered_at)
    })
    .await
}

/// S6.1 The salesperson collects the agent's invoicing information.
pub async fn invoice_info_collect(
    run: &mut StepRun,
    input: InvoiceInfoCollectInput,
) -> Result<Written, ServiceError> {
    let id = order_id(&input.order_id)?;
    order_step(
        run,
        id,
        Step::InvoiceInfoCollect,
        Reads::default(),
        |ctx, o| {
            let info = steps::InvoiceInfo {
                title: &input.title,
                tax_number: &input.tax_number,
                bank_name: &input.bank_name,
                bank_account: &input.bank_account,
                mailing_address: &input.mailing_address,
            };
            steps::invoice_info_collect(ctx, o, info)
        },
    )
    .await
}

/// S6.3 Finance issues the invoice.
pub async fn invoice_issue(
    run: &mut StepRun,
    input: InvoiceIssueInput,
) -> Result<Written, ServiceError> {
    let id = order_id(&input.order_id)?;
    order_step(run, id, Step::InvoiceIssue, Reads::default(), |ctx, o| {
        steps::invoice_issue(ctx, o, &input.invoice_number)
    })
    .await
}

/// S6.4 The assistant mails the invoice.
pub async fn invoice_mail(
    run: &mut StepRun,
    input: InvoiceMailInput,
) -> Result<Written, ServiceError> {
    let id = order_id(&input.order_id)?;
    order_step(run, id, Step::InvoiceMail, Reads::default(), |ctx, o| {
        steps::invoice_mail(
            ctx,
            o,
            &input.carrier,
            &input.tracking_number,
            input.expected_arrival_on.0,
        )
    })
    .await
}

/// S6.5 The assistant confirms with the agent that the invoice arrived.
pub async fn invoice_confirm_receipt(
    run: &mut StepRun,
    input: OrderStepInput,
) -> Result<Written, ServiceError> {
    let id = order_id(&input.order_id)?;
    order_step(
        run,
        id,
        Step::InvoiceConfirmReceipt,
        Reads::default(),
        steps::invoice_confirm_receipt,
    )
    .await
}

/// S6.6 The assistant archives the order.
pub async fn order_archive(
    run: &mut StepRun,
    input: OrderStepInput,
) -> Result<Written, ServiceError> {
    let id = order_id(&input.order_id)?;
    order_step(
        run,
        id,
        Step::OrderArchive,
        Reads::default(),
        steps::order_archive,
    )
    .await
}
