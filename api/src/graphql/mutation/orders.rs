//! The order-to-cash workflow's mutations (SPEC S5, S6), one per step.
use super::*;

/// The result of a sales order's workflow step.
#[derive(SimpleObject)]
pub struct SalesOrderPayload {
    /// The order after the step (null when the step was refused).
    pub sales_order: Option<SalesOrder>,
    /// Why the request was refused (nothing changed); empty on success.
    pub user_errors: Vec<UserError>,
}

#[derive(Default)]
pub struct OrderMutation;

#[Object]
impl OrderMutation {
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
        decided_step!(ctx, "contractSubmit", input, e, workflow::contract_submit)
    }

    /// S5.3 Approve (supervisor). Not by whoever filed the order or drafted
    /// or submitted the contract.
    async fn contract_approve(
        &self,
        ctx: &Context<'_>,
        input: ContractDecisionInput,
    ) -> Result<SalesOrderPayload, AppError> {
        let e = order_entity(&input.order_id);
        decided_step!(ctx, "contractApprove", input, e, |r, i| {
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
        decided_step!(ctx, "contractReject", input, e, |r, i| {
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
        decided_step!(ctx, "contractSign", input, e, workflow::contract_sign)
    }

    /// S5.5 Forward the signed order to finance (sales assistant).
    async fn sales_order_forward_to_finance(
        &self,
        ctx: &Context<'_>,
        input: OrderStepInput,
    ) -> Result<SalesOrderPayload, AppError> {
        let e = order_entity(&input.order_id);
        decided_step!(
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
        decided_step!(ctx, "paymentRecord", input, e, workflow::payment_record)
    }

    /// S5.6 Confirm full payment (finance).
    async fn payment_confirm_full(
        &self,
        ctx: &Context<'_>,
        input: OrderStepInput,
    ) -> Result<SalesOrderPayload, AppError> {
        let e = order_entity(&input.order_id);
        decided_step!(
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
        decided_step!(
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
        decided_step!(
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
        decided_step!(ctx, "invoiceIssue", input, e, workflow::invoice_issue)
    }

    /// S6.4 Mail the invoice (sales assistant).
    async fn invoice_mail(
        &self,
        ctx: &Context<'_>,
        input: InvoiceMailInput,
    ) -> Result<SalesOrderPayload, AppError> {
        let e = order_entity(&input.order_id);
        decided_step!(ctx, "invoiceMail", input, e, workflow::invoice_mail)
    }

    /// S6.5 The agent confirmed the invoice arrived (sales assistant).
    async fn invoice_confirm_receipt(
        &self,
        ctx: &Context<'_>,
        input: OrderStepInput,
    ) -> Result<SalesOrderPayload, AppError> {
        let e = order_entity(&input.order_id);
        decided_step!(
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
        decided_step!(ctx, "salesOrderArchive", input, e, workflow::order_archive)
    }
}
