//! An order through the workflow, as far as the plan takes it: filed,
//! contract drafted, approved and signed, paid (or shipped on exception),
//! shipped, delivered and invoiced; and the late payments of the orders
//! shipped on exception.
use chrono::{Duration, Utc};
use serde_json::{json, Value};

use salesguard_api::AppState;

use super::super::scenario::{Order, Stage, World};
use super::{at, yuan, Gql, Ids};

pub(super) async fn run_order(
    g: &mut Gql,
    app: &AppState,
    w: &World,
    ids: &Ids,
    o: &Order,
) -> anyhow::Result<Value> {
    let agent = &w.agents[o.agent];
    let team = &w.teams[w.regions[agent.region].group];
    let sales = &ids.actors[o.salesperson];
    let assistant = &ids.actors[team.assistant];
    let supervisor = &ids.actors[team.supervisor];
    let finance = &ids.actors[w.staff.finance];
    let keeper = &ids.actors[w.staff.warehouse];
    let lines: Vec<Value> = o
        .lines
        .iter()
        .map(|l| json!({"productId": ids.products[l.product], "quantity": l.qty, "unitPrice": yuan(l.unit_fen)}))
        .collect();
    let order = g
        .step(
            sales,
            "salesOrderCreate",
            json!({"agentId": ids.agents[o.agent], "lines": lines, "paymentTermsDays": o.terms_days}),
        )
        .await?;
    let id = order["id"].clone();
    if o.stage == Stage::Filed {
        return Ok(id);
    }
    g.step(
        assistant,
        "contractDraft",
        json!({"orderId": id, "terms": format!("Delivery within 5 days of payment; payment due {} days after shipment.", o.terms_days)}),
    )
    .await?;
    g.step(assistant, "contractSubmit", json!({"orderId": id}))
        .await?;
    if o.stage == Stage::PendingApproval {
        return Ok(id);
    }
    g.step(supervisor, "contractApprove", json!({"orderId": id}))
        .await?;
    g.step(
        sales,
        "contractSign",
        json!({"orderId": id, "method": "ON_SITE", "signedAt": at(app, o.filed_on, 4)}),
    )
    .await?;
    g.step(
        assistant,
        "salesOrderForwardToFinance",
        json!({"orderId": id}),
    )
    .await?;
    let Some(ship_on) = o.ship_on else {
        return Ok(id);
    };
    if o.exception {
        g.step(
            &ids.actors[w.staff.management],
            "shipmentExceptionApprove",
            json!({"orderId": id, "amount": yuan(o.total_fen()), "reason": "agent's peak season: ship now, pay within terms",
                   "expiresAt": Utc::now() + Duration::days(7)}),
        )
        .await?;
    } else {
        for (k, p) in o.payments.iter().enumerate() {
            g.step(
                finance,
                "paymentRecord",
                json!({"orderId": id, "amount": yuan(p.amount_fen), "receivedOn": p.on,
                       "reference": format!("BANK-{}-{k}", o.ref_code)}),
            )
            .await?;
        }
        g.step(finance, "paymentConfirmFull", json!({"orderId": id}))
            .await?;
    }
    let order = g
        .step(
            assistant,
            "shippingNoticeIssue",
            json!({"orderId": id, "warehouseId": ids.warehouse}),
        )
        .await?;
    let serials: Vec<Value> = o
        .serials
        .iter()
        .map(|(p, s)| json!({"productId": ids.products[*p], "serial": s}))
        .collect();
    g.step(
        keeper,
        "shipmentShip",
        json!({"noticeNumber": order["shippingNotice"]["number"], "verificationCode": order["shippingNotice"]["verificationCode"],
               "carrier": "SF Express", "trackingNumber": format!("SF{}", o.ref_code), "shippedAt": at(app, ship_on, 0),
               "serials": serials}),
    )
    .await?;
    g.step(
        keeper,
        "shipmentConfirmDelivery",
        json!({"orderId": id, "deliveredAt": at(app, ship_on + Duration::days(2), 5)}),
    )
    .await?;
    if o.stage == Stage::Archived && !o.exception {
        invoice(g, w, ids, o, &id).await?;
    }
    Ok(id)
}

pub(super) async fn late_payment(
    g: &mut Gql,
    w: &World,
    ids: &Ids,
    o: &Order,
    id: &Value,
) -> anyhow::Result<()> {
    let finance = &ids.actors[w.staff.finance];
    for (k, p) in o.payments.iter().enumerate() {
        g.step(
            finance,
            "paymentRecord",
            json!({"orderId": id, "amount": yuan(p.amount_fen), "receivedOn": p.on, "reference": format!("BANK-{}-{k}", o.ref_code)}),
        )
        .await?;
    }
    if o.paid_fen() == o.total_fen() {
        g.step(finance, "paymentConfirmFull", json!({"orderId": id}))
            .await?;
        if o.stage == Stage::Archived {
            invoice(g, w, ids, o, id).await?;
        }
    }
    Ok(())
}

async fn invoice(g: &mut Gql, w: &World, ids: &Ids, o: &Order, id: &Value) -> anyhow::Result<()> {
    let agent = &w.agents[o.agent];
    let team = &w.teams[w.regions[agent.region].group];
    let sales = &ids.actors[o.salesperson];
    let assistant = &ids.actors[team.assistant];
    let finance = &ids.actors[w.staff.finance];
    g.step(
        sales,
        "invoiceInfoCollect",
        json!({"orderId": id, "title": agent.name, "taxNumber": format!("91110000{:010}", o.agent),
               "bankName": "ICBC", "bankAccount": format!("0200{:012}", o.agent), "mailingAddress": format!("{} Road 1", agent.name)}),
    )
    .await?;
    g.step(
        finance,
        "invoiceIssue",
        json!({"orderId": id, "invoiceNumber": format!("INV{}", o.ref_code)}),
    )
    .await?;
    g.step(
        assistant,
        "invoiceMail",
        json!({"orderId": id, "carrier": "EMS", "trackingNumber": format!("EMS{}", o.ref_code),
               // Today in the company's time zone (the API's "today").
               "expectedArrivalOn": salesguard_domain::docnum::business_day(Utc::now(), g.app.tz)}),
    )
    .await?;
    g.step(assistant, "invoiceConfirmReceipt", json!({"orderId": id}))
        .await?;
    g.step(assistant, "salesOrderArchive", json!({"orderId": id}))
        .await?;
    Ok(())
}
