//! The order-to-cash chain, step by step, as the positions that take each step.
use anyhow::{anyhow, bail};
use serde_json::{json, Value};

use super::world::{Team, World};
use super::Client;

/// The fields of a sales order the tests and the benchmark read back.
pub const ORDER_FIELDS: &str = "id number status version total paid balanceDue \
    agent{id code outstandingReceivables} region{code} \
    lines{lineNo quantity unitPrice amount product{sku}} \
    contract{number status decidedBy{username} rejectionReason signedMethod} \
    payments{amount reference} \
    shippingNotice{number verificationCode usedAt} \
    shipment{carrier trackingNumber} receivable{amount outstanding dueOn} \
    invoice{invoiceNumber amount}";

/// The text of workflow mutation `mutation` asking for `order_fields` of
/// the order and the user errors.
pub fn step_text(mutation: &str, order_fields: &str) -> String {
    format!(
        "mutation($input:{}!){{{mutation}(input:$input){{salesOrder{{{order_fields}}} userErrors{{field message code}}}}}}",
        salesguard_api::graphql::step_input_type(mutation)
    )
}

/// Runs a workflow mutation and returns its payload
/// (`{salesOrder, userErrors}`).
pub async fn step(c: &Client, mutation: &str, input: Value) -> anyhow::Result<Value> {
    let d = c
        .data(
            &step_text(mutation, ORDER_FIELDS),
            json!({ "input": input }),
        )
        .await?;
    Ok(d[mutation].clone())
}

/// The order of a step's payload, or an error if the step was refused.
pub fn order_of(mutation: &str, payload: &Value) -> anyhow::Result<Value> {
    let errs = &payload["userErrors"];
    if errs.as_array().is_some_and(|a| !a.is_empty()) || payload["salesOrder"].is_null() {
        bail!("{mutation} refused: {errs}");
    }
    Ok(payload["salesOrder"].clone())
}

/// Runs a step that must succeed; returns the order after it.
pub async fn ok(c: &Client, mutation: &str, input: Value) -> anyhow::Result<Value> {
    order_of(mutation, &step(c, mutation, input).await?)
}

/// The code of the single user error of a refused step.
pub fn error_code(payload: &Value) -> Option<String> {
    payload["userErrors"][0]["code"].as_str().map(str::to_owned)
}

pub fn today() -> String {
    chrono::Utc::now()
        .with_timezone(&chrono_tz::Asia::Shanghai)
        .date_naive()
        .to_string()
}

/// The chain's steps after filing, in order.
pub const STEPS: &[&str] = &[
    "contractDraft",
    "contractSubmit",
    "contractApprove",
    "contractSign",
    "salesOrderForwardToFinance",
    "paymentRecord",
    "paymentConfirmFull",
    "shippingNoticeIssue",
    "shipmentShip",
    "invoiceInfoCollect",
    "invoiceIssue",
    "invoiceMail",
    "invoiceConfirmReceipt",
    "salesOrderArchive",
];

impl World {
    pub fn team(&self, north: bool) -> &Team {
        if north {
            &self.north
        } else {
            &self.south
        }
    }

    /// Files an order of `qty` units of the product at `price` for the team's agent.
    pub async fn file_order(&self, team: &Team, qty: i64, price: &str) -> anyhow::Result<Value> {
        ok(
            &team.sales,
            "salesOrderCreate",
            json!({
                "agentId": team.agent,
                "lines": [{"productId": self.product, "quantity": qty, "unitPrice": price}],
                "paymentTermsDays": 30,
            }),
        )
        .await
    }

    /// Who takes `mutation` and with what input, for `order` (as last read).
    pub fn actor_and_input(&self, team: &Team, mutation: &str, order: &Value) -> (Client, Value) {
        let id = order["id"].clone();
        match mutation {
            "contractDraft" => (
                team.assistant.clone(),
                json!({"orderId": id, "terms": "Standard terms: delivery within 10 days of payment."}),
            ),
            "contractSubmit" => (team.assistant.clone(), json!({"orderId": id})),
            "contractApprove" => (team.supervisor.clone(), json!({"orderId": id})),
            "contractSign" => (
                team.sales.clone(),
                json!({"orderId": id, "method": "ON_SITE"}),
            ),
            "salesOrderForwardToFinance" => (team.assistant.clone(), json!({"orderId": id})),
            "paymentRecord" => (
                self.finance.clone(),
                json!({"orderId": id, "amount": order["balanceDue"], "receivedOn": today(), "reference": "BANK-REF-1"}),
            ),
            "paymentConfirmFull" => (self.finance.clone(), json!({"orderId": id})),
            "shippingNoticeIssue" => (
                team.assistant.clone(),
                json!({"orderId": id, "warehouseId": self.warehouse}),
            ),
            "shipmentShip" => (
                self.warehouse_keeper.clone(),
                json!({
                    "noticeNumber": order["shippingNotice"]["number"],
                    "verificationCode": order["shippingNotice"]["verificationCode"],
                    "carrier": "SF Express",
                    "trackingNumber": "SF123456789",
                }),
            ),
            "invoiceInfoCollect" => (
                team.sales.clone(),
                json!({"orderId": id, "title": "Agent Co. Ltd.", "taxNumber": "91110000123456789X",
                       "bankName": "ICBC Beijing", "bankAccount": "0200001234567890", "mailingAddress": "1 Main Street"}),
            ),
            "invoiceIssue" => (
                self.finance.clone(),
                json!({"orderId": id, "invoiceNumber": format!("INV-{}", order["number"].as_str().unwrap_or(""))}),
            ),
            "invoiceMail" => (
                team.assistant.clone(),
                json!({"orderId": id, "carrier": "EMS", "trackingNumber": "EMS0001", "expectedArrivalOn": today()}),
            ),
            _ => (team.assistant.clone(), json!({"orderId": id})),
        }
    }

    /// Drives `order` through the chain until (and including) `last`.
    pub async fn advance_to(
        &self,
        team: &Team,
        mut order: Value,
        last: &str,
    ) -> anyhow::Result<Value> {
        let start = STEPS
            .iter()
            .position(|s| *s == next_step(&order).unwrap_or(""))
            .ok_or_else(|| anyhow!("order is {}: nothing to advance", order["status"]))?;
        let end = STEPS
            .iter()
            .position(|s| *s == last)
            .ok_or_else(|| anyhow!("unknown step {last}"))?;
        for m in &STEPS[start..=end] {
            let (who, input) = self.actor_and_input(team, m, &order);
            order = ok(&who, m, input).await?;
        }
        Ok(order)
    }
}

/// The next step of the main chain for an order in its current status.
pub fn next_step(order: &Value) -> Option<&'static str> {
    Some(match order["status"].as_str()? {
        "FILED" => "contractDraft",
        "CONTRACT_DRAFTED" => "contractSubmit",
        "PENDING_APPROVAL" => "contractApprove",
        "APPROVED" => "contractSign",
        "SIGNED" => "salesOrderForwardToFinance",
        "AT_FINANCE" if order["balanceDue"] != "0.00" => "paymentRecord",
        "AT_FINANCE" => "paymentConfirmFull",
        "PAID" => "shippingNoticeIssue",
        "NOTICE_ISSUED" => "shipmentShip",
        "SHIPPED" => "invoiceInfoCollect",
        "INVOICE_INFO_COLLECTED" => "invoiceIssue",
        "INVOICED" => "invoiceMail",
        "INVOICE_MAILED" => "invoiceConfirmReceipt",
        "RECEIPT_CONFIRMED" => "salesOrderArchive",
        _ => return None,
    })
}
