//! The order steps whose every change is known from the order as read
//! (SPEC S5.3–S6.6): each takes the actor, the order's state and the
//! request, and returns its effects or a refusal. The common rules
//! (position, region, status: [`gate`](super::gate)) have been applied
//! before; the status the step leaves the order in is `Step::transition`'s.
use chrono::{DateTime, NaiveDate, Utc};

use super::effects::{
    ContractChange, Effects, InvoiceChange, NewRow, OrderChange, PayDown, ShipmentChange, Signed,
    SigningMethod,
};
use super::{require_independent_reviewer, ContractParties, OrderFacts};
use crate::contract::ContractStatus;
use crate::input;
use crate::payment::PaymentState;
use crate::refusal::{Refusal, RefusalCode};
use crate::{Actor, Fen, Position};

/// Who takes the step, and when.
pub struct StepCtx<'a> {
    pub actor: &'a Actor,
    pub now: DateTime<Utc>,
    /// The business day of `now`.
    pub today: NaiveDate,
}

/// The order as its steps read it.
#[derive(Clone, Debug, PartialEq)]
pub struct OrderState {
    pub id: i64,
    pub facts: OrderFacts,
    pub payment: PaymentState,
    pub shipped_on: Option<NaiveDate>,
    pub contract: Option<ContractFacts>,
    pub shipment: Option<ShipmentFacts>,
    pub receivable: Option<ReceivableFacts>,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ContractFacts {
    pub number: String,
    pub drafted_by: i64,
    pub submitted_by: Option<i64>,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ShipmentFacts {
    pub shipped_at: DateTime<Utc>,
    pub delivered_at: Option<DateTime<Utc>>,
}

/// The receivable of an order that shipped on an exception.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ReceivableFacts {
    pub id: i64,
    pub outstanding_fen: i64,
    pub due_on: NaiveDate,
}

/// Why a step did not decide: refused, or the order's documents are not
/// what its status says (a fault, never the user's).
#[derive(Debug, Clone, PartialEq)]
pub enum StepError {
    Refused(Refusal),
    Inconsistent(String),
}

impl From<Refusal> for StepError {
    fn from(r: Refusal) -> Self {
        StepError::Refused(r)
    }
}

pub type Decided = Result<Effects, StepError>;

impl OrderState {
    fn number(&self) -> &str {
        &self.facts.number
    }

    fn contract(&self) -> Result<&ContractFacts, StepError> {
        self.contract
            .as_ref()
            .ok_or_else(|| StepError::Inconsistent(format!("order {} has no contract", self.id)))
    }

    fn shipment(&self) -> Result<&ShipmentFacts, StepError> {
        self.shipment.as_ref().ok_or_else(|| {
            StepError::Inconsistent(format!("shipped order {} has no shipment", self.id))
        })
    }
}

/// S5.3 The assistant submits contract and order for approval (revised
/// terms after a rejection); copied to the supervisor, finance and
/// management.
pub fn contract_submit(ctx: &StepCtx, o: &OrderState, terms: Option<&str>) -> Decided {
    let terms = input::opt_text(&["terms"], terms, 20_000)?;
    let c = o.contract()?;
    Ok(Effects::copy(
        "CONTRACT_SUBMITTED",
        format!(
            "Contract {} for order {} submitted for approval",
            c.number,
            o.number()
        ),
    )
    .also_to(&[
        Position::Supervisor,
        Position::Finance,
        Position::Management,
    ])
    .contract(
        ContractChange::to(ContractStatus::PendingApproval)
            .terms(terms)
            .submitted(Some((ctx.actor.user_id, ctx.now)))
            .decided(None)
            // The last rejection's reason stays in the order's history.
            .rejection_reason(None),
    ))
}

/// S5.3 The supervisor approves or rejects (a rejection needs a reason).
/// Whoever filed the order or drafted or submitted the contract cannot
/// decide on it. A completed review goes to management in copy.
pub fn contract_decide(
    ctx: &StepCtx,
    o: &OrderState,
    approve: bool,
    reason: Option<&str>,
) -> Decided {
    let reason = input::opt_text(&["reason"], reason, 2000)?;
    if !approve && reason.is_none() {
        return Err(Refusal::bad_input(&["reason"], "a rejection needs a reason").into());
    }
    let c = o.contract()?;
    require_independent_reviewer(
        ctx.actor,
        &o.facts,
        ContractParties {
            drafted_by: Some(c.drafted_by),
            submitted_by: c.submitted_by,
        },
    )?;
    let (kind, message) = if approve {
        (
            "CONTRACT_APPROVED",
            format!("Contract {} for order {} approved", c.number, o.number()),
        )
    } else {
        (
            "CONTRACT_REJECTED",
            format!(
                "Contract {} for order {} rejected: {}",
                c.number,
                o.number(),
                reason.as_deref().unwrap_or_default()
            ),
        )
    };
    let status = if approve {
        ContractStatus::Approved
    } else {
        ContractStatus::Rejected
    };
    let mut effects = Effects::copy(kind, message)
        .also_to(&[Position::Management])
        .contract(
            ContractChange::to(status)
                .decided(Some((ctx.actor.user_id, ctx.now)))
                .rejection_reason(if approve { None } else { reason.clone() }),
        );
    effects.detail = reason;
    Ok(effects)
}

/// S5.4 Signing: on site by the salesperson, or by fax with the original
/// sent by courier (its tracking number required) by the assistant.
pub fn contract_sign(
    ctx: &StepCtx,
    o: &OrderState,
    method: SigningMethod,
    courier_tracking: Option<&str>,
    signed_at: Option<DateTime<Utc>>,
) -> Decided {
    let signer = method.signer();
    if ctx.actor.position != signer {
        return Err(Refusal::new(
            RefusalCode::Forbidden,
            format!("{} signing is done by the {}", method.as_str(), signer),
        )
        .into());
    }
    let tracking = input::opt_text(&["courierTracking"], courier_tracking, 100)?;
    if method == SigningMethod::FaxCourier && tracking.is_none() {
        return Err(Refusal::bad_input(
            &["courierTracking"],
            "fax signing needs the courier tracking number of the original",
        )
        .into());
    }
    let signed_at = input::not_in_future(&["signedAt"], signed_at, ctx.now)?;
    let c = o.contract()?;
    Ok(Effects::copy(
        "CONTRACT_SIGNED",
        format!("Contract {} for order {} signed", c.number, o.number()),
    )
    .detail(method.as_str())
    .contract(ContractChange::to(ContractStatus::Signed).signed(Signed {
        by: ctx.actor.user_id,
        at: signed_at,
        method,
        courier_tracking: tracking,
    })))
}

/// S5.5 The assistant forwards the signed order to finance.
pub fn order_forward(_ctx: &StepCtx, o: &OrderState) -> Decided {
    Ok(Effects::copy(
        "ORDER_AT_FINANCE",
        format!(
            "Order {} forwarded to finance, awaiting payment of {}",
            o.number(),
            Fen(o.payment.total_fen)
        ),
    )
    .also_to(&[Position::Finance]))
}

/// S5.6 Finance records a payment received (never above what is still
/// due). After a shipment on an exception it pays down the order's
/// receivable and the agent's outstanding balance.
pub fn payment_record(
    ctx: &StepCtx,
    o: &OrderState,
    amount: &str,
    received_on: NaiveDate,
    reference: &str,
) -> Decided {
    let amount = input::money(&["amount"], amount, true)?.0;
    let received_on = input::date_not_in_future(&["receivedOn"], received_on, ctx.today)?;
    let reference = input::text(&["reference"], reference, 200)?;
    o.payment.accept(amount)?;
    let paid = o.payment.paid_fen + amount;
    let mut effects = Effects::copy(
        "PAYMENT_RECORDED",
        format!(
            "Payment of {} recorded on order {} ({} of {} paid)",
            Fen(amount),
            o.number(),
            Fen(paid),
            Fen(o.payment.total_fen)
        ),
    )
    .detail(format!("payment {} ref {}", Fen(amount), reference))
    .order(OrderChange::PaidFen(paid))
    .row(NewRow::Payment {
        amount_fen: amount,
        received_on,
        reference,
        recorded_by: ctx.actor.user_id,
        at: ctx.now,
    })
    .recompute_signals();
    if let Some(r) = &o.receivable {
        let entry_on = o.shipped_on.map_or(received_on, |s| s.max(received_on));
        effects = effects.row(NewRow::ArEntry {
            due_on: r.due_on,
            entry_on,
            amount_fen: -amount,
        });
        let pay_down = amount.min(r.outstanding_fen);
        if pay_down > 0 {
            let left = r.outstanding_fen - pay_down;
            effects = effects.pay_down(PayDown {
                receivable_id: r.id,
                amount_fen: pay_down,
                left_fen: left,
                settled_at: (left == 0).then_some(ctx.now),
            });
        }
    }
    Ok(effects)
}

/// S5.6 Finance confirms full payment (every fen received) and returns the
/// order to the assistant.
pub fn payment_confirm_full(ctx: &StepCtx, o: &OrderState) -> Decided {
    o.payment.require_confirmable(o.number())?;
    Ok(Effects::copy(
        "PAYMENT_CONFIRMED",
        format!("Full payment of order {} confirmed by finance", o.number()),
    )
    .order(OrderChange::FullyPaid {
        at: ctx.now,
        by: ctx.actor.user_id,
    })
    .recompute_signals())
}

/// S5.8 The warehouse (or the assistant) confirms delivery, once, not
/// before the shipment.
pub fn shipment_confirm_delivery(
    ctx: &StepCtx,
    o: &OrderState,
    delivered_at: Option<DateTime<Utc>>,
) -> Decided {
    let s = o.shipment()?;
    if s.delivered_at.is_some() {
        return Err(Refusal::new(RefusalCode::Conflict, "delivery is already confirmed").into());
    }
    let at = input::not_in_future(&["deliveredAt"], delivered_at, ctx.now)?;
    if at < s.shipped_at {
        return Err(Refusal::bad_input(&["deliveredAt"], "must not be before the shipment").into());
    }
    Ok(Effects::copy(
        "DELIVERED",
        format!("Delivery of order {} confirmed", o.number()),
    )
    .shipment(ShipmentChange::Delivered {
        at,
        by: ctx.actor.user_id,
    }))
}

/// The agent's invoicing information, as entered.
pub struct InvoiceInfo<'a> {
    pub title: &'a str,
    pub tax_number: &'a str,
    pub bank_name: &'a str,
    pub bank_account: &'a str,
    pub mailing_address: &'a str,
}

/// S6.1 The salesperson collects the agent's invoicing information (the
/// order fully paid); copied to finance.
pub fn invoice_info_collect(ctx: &StepCtx, o: &OrderState, info: InvoiceInfo) -> Decided {
    o.payment.require_fully_paid(o.number())?;
    let row = NewRow::InvoiceInfo {
        title: input::text(&["title"], info.title, 200)?,
        tax_number: input::text(&["taxNumber"], info.tax_number, 40)?,
        bank_name: input::text(&["bankName"], info.bank_name, 200)?,
        bank_account: input::text(&["bankAccount"], info.bank_account, 60)?,
        mailing_address: input::text(&["mailingAddress"], info.mailing_address, 500)?,
        collected_by: ctx.actor.user_id,
        at: ctx.now,
    };
    Ok(Effects::copy(
        "INVOICE_INFO_COLLECTED",
        format!("Invoicing information collected for order {}", o.number()),
    )
    .also_to(&[Position::Finance])
    .row(row))
}

/// S6.3 Finance checks full payment again and issues the invoice for the
/// order's total.
pub fn invoice_issue(ctx: &StepCtx, o: &OrderState, invoice_number: &str) -> Decided {
    o.payment.require_fully_paid(o.number())?;
    let number = input::text(&["invoiceNumber"], invoice_number, 60)?;
    Ok(Effects::copy(
        "INVOICE_ISSUED",
        format!("Invoice {} issued for order {}", number, o.number()),
    )
    .detail(format!("invoice {number}"))
    .row(NewRow::Invoice {
        invoice_number: number,
        amount_fen: o.payment.total_fen,
        issued_by: ctx.actor.user_id,
        at: ctx.now,
    }))
}

/// S6.4 The assistant mails the invoice, with the day it should arrive.
pub fn invoice_mail(
    ctx: &StepCtx,
    o: &OrderState,
    carrier: &str,
    tracking: &str,
    expected_arrival_on: NaiveDate,
) -> Decided {
    let carrier = input::text(&["carrier"], carrier, 100)?;
    let tracking = input::text(&["trackingNumber"], tracking, 100)?;
    if expected_arrival_on < ctx.today {
        return Err(Refusal::bad_input(&["expectedArrivalOn"], "must not be in the past").into());
    }
    Ok(Effects::copy(
        "INVOICE_MAILED",
        format!(
            "Invoice for order {} mailed, expected by {}",
            o.number(),
            expected_arrival_on
        ),
    )
    .invoice(InvoiceChange::Mailed {
        by: ctx.actor.user_id,
        at: ctx.now,
        carrier,
        tracking,
        expected_arrival_on,
    }))
}

/// S6.5 The assistant confirms with the agent that the invoice arrived.
pub fn invoice_confirm_receipt(ctx: &StepCtx, o: &OrderState) -> Decided {
    Ok(Effects::copy(
        "INVOICE_RECEIVED",
        format!(
            "The agent confirmed receipt of the invoice for order {}",
            o.number()
        ),
    )
    .invoice(InvoiceChange::ReceiptConfirmed {
        by: ctx.actor.user_id,
        at: ctx.now,
    }))
}

/// S6.6 The assistant archives the order; its sales process ends.
/// Management gets a copy.
pub fn order_archive(ctx: &StepCtx, o: &OrderState) -> Decided {
    Ok(
        Effects::copy("ARCHIVED", format!("Order {} archived", o.number()))
            .also_to(&[Position::Management])
            .order(OrderChange::Archived { at: ctx.now }),
    )
}

#[cfg(test)]
mod tests {
    use std::collections::HashSet;
    use std::sync::Arc;

    use chrono::{Duration, TimeZone};

    use super::*;
    use crate::OrderStatus;

    const SALES: i64 = 1;
    const DRAFTER: i64 = 2;
    const SUBMITTER: i64 = 3;

    fn actor(id: i64, position: Position) -> Actor {
        Actor {
            user_id: id,
            username: format!("u{id}"),
            position,
            global: true,
            regions: Arc::new(HashSet::new()),
        }
    }

    fn now() -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2026, 12, 8, 2, 0, 0)
            .single()
            .unwrap_or_default()
    }

    fn order() -> OrderState {
        OrderState {
            id: 10,
            facts: OrderFacts {
                number: "SC20261208DD0001".into(),
                region_id: 7,
                status: OrderStatus::PendingApproval,
                salesperson_id: SALES,
            },
            payment: PaymentState {
                total_fen: 100_000,
                paid_fen: 40_000,
                confirmed: false,
            },
            shipped_on: None,
            contract: Some(ContractFacts {
                number: "SC20261208HT0001".into(),
                drafted_by: DRAFTER,
                submitted_by: Some(SUBMITTER),
            }),
            shipment: Some(ShipmentFacts {
                shipped_at: now() - Duration::days(2),
                delivered_at: None,
            }),
            receivable: None,
        }
    }

    fn paid() -> OrderState {
        let mut o = order();
        o.payment = PaymentState {
            total_fen: 100_000,
            paid_fen: 100_000,
            confirmed: true,
        };
        o
    }

    fn refusal(d: &Decided) -> Option<RefusalCode> {
        match d {
            Ok(_) => None,
            Err(StepError::Refused(r)) => Some(r.code),
            Err(StepError::Inconsistent(why)) => panic!("inconsistent: {why}"),
        }
    }

    /// Each row: what is tried, and the refusal expected (`None`: it goes).
    #[test]
    fn each_step_refuses_what_its_rules_forbid() {
        use RefusalCode::*;
        let today = now().date_naive();
        let supervisor = actor(9, Position::Supervisor);
        let sup = ctx_of(&supervisor);
        let filer = actor(SALES, Position::Supervisor);
        let drafter = actor(DRAFTER, Position::Management);
        let submitter = actor(SUBMITTER, Position::Supervisor);
        let sales = actor(4, Position::Salesperson);
        let assistant = actor(5, Position::SalesAssistant);
        let finance = actor(6, Position::Finance);
        let fin = ctx_of(&finance);
        let future = Some(now() + Duration::hours(1));
        let mut delivered = order();
        if let Some(s) = delivered.shipment.as_mut() {
            s.delivered_at = Some(now());
        }
        let info = || InvoiceInfo {
            title: "Agent Ltd",
            tax_number: "9131",
            bank_name: "Bank",
            bank_account: "6222",
            mailing_address: "Shanghai",
        };
        let long = "x".repeat(20_001);
        #[rustfmt::skip]
        let table: Vec<(&str, Decided, Option<RefusalCode>)> = vec![
            ("submit", contract_submit(&ctx_of(&assistant), &order(), Some("terms")), None),
            ("submit with terms too long", contract_submit(&ctx_of(&assistant), &order(), Some(&long)), Some(BadUserInput)),
            ("approve", contract_decide(&sup, &order(), true, None), None),
            ("reject without a reason", contract_decide(&sup, &order(), false, None), Some(BadUserInput)),
            ("reject with a blank reason", contract_decide(&sup, &order(), false, Some("  ")), Some(BadUserInput)),
            ("reject", contract_decide(&sup, &order(), false, Some("price")), None),
            ("approve own order", contract_decide(&ctx_of(&filer), &order(), true, None), Some(SelfApproval)),
            ("approve own draft", contract_decide(&ctx_of(&drafter), &order(), true, None), Some(SelfApproval)),
            ("approve own submission", contract_decide(&ctx_of(&submitter), &order(), true, None), Some(SelfApproval)),
            ("sign on site", contract_sign(&ctx_of(&sales), &order(), SigningMethod::OnSite, None, None), None),
            ("sign on site as the assistant", contract_sign(&ctx_of(&assistant), &order(), SigningMethod::OnSite, None, None), Some(Forbidden)),
            ("sign by fax as the salesperson", contract_sign(&ctx_of(&sales), &order(), SigningMethod::FaxCourier, Some("SF1"), None), Some(Forbidden)),
            ("sign by fax without tracking", contract_sign(&ctx_of(&assistant), &order(), SigningMethod::FaxCourier, None, None), Some(BadUserInput)),
            ("sign by fax", contract_sign(&ctx_of(&assistant), &order(), SigningMethod::FaxCourier, Some("SF1"), None), None),
            ("sign in the future", contract_sign(&ctx_of(&sales), &order(), SigningMethod::OnSite, None, future), Some(BadUserInput)),
            ("record a payment", payment_record(&fin, &order(), "600.00", today, "ref"), None),
            ("record more than is due", payment_record(&fin, &order(), "600.01", today, "ref"), Some(BadUserInput)),
            ("record zero", payment_record(&fin, &order(), "0", today, "ref"), Some(BadUserInput)),
            ("record a malformed amount", payment_record(&fin, &order(), "1.234", today, "ref"), Some(BadUserInput)),
            ("record a payment received tomorrow", payment_record(&fin, &order(), "1.00", today.succ_opt().unwrap_or(today), "ref"), Some(BadUserInput)),
            ("record without a reference", payment_record(&fin, &order(), "1.00", today, " "), Some(BadUserInput)),
            ("confirm an incomplete payment", payment_confirm_full(&fin, &order()), Some(PaymentIncomplete)),
            ("confirm twice", payment_confirm_full(&fin, &paid()), Some(Conflict)),
            ("confirm delivery", shipment_confirm_delivery(&ctx_of(&assistant), &order(), None), None),
            ("confirm delivery twice", shipment_confirm_delivery(&ctx_of(&assistant), &delivered, None), Some(Conflict)),
            ("confirm delivery before the shipment", shipment_confirm_delivery(&ctx_of(&assistant), &order(), Some(now() - Duration::days(3))), Some(BadUserInput)),
            ("collect invoicing information unpaid", invoice_info_collect(&ctx_of(&sales), &order(), info()), Some(PaymentIncomplete)),
            ("collect invoicing information", invoice_info_collect(&ctx_of(&sales), &paid(), info()), None),
            ("issue an invoice unpaid", invoice_issue(&fin, &order(), "INV1"), Some(PaymentIncomplete)),
            ("issue an invoice", invoice_issue(&fin, &paid(), "INV1"), None),
            ("mail an invoice due yesterday", invoice_mail(&ctx_of(&assistant), &paid(), "SF", "1", today.pred_opt().unwrap_or(today)), Some(BadUserInput)),
            ("mail an invoice", invoice_mail(&ctx_of(&assistant), &paid(), "SF", "1", today), None),
        ];
        for (what, decided, want) in &table {
            assert_eq!(refusal(decided), *want, "{what}");
        }
    }

    fn ctx_of(a: &Actor) -> StepCtx<'_> {
        StepCtx {
            actor: a,
            now: now(),
            today: now().date_naive(),
        }
    }

    #[test]
    fn a_payment_after_a_shipment_on_an_exception_pays_the_receivable_down() {
        let finance = actor(6, Position::Finance);
        let ctx = StepCtx {
            actor: &finance,
            now: now(),
            today: now().date_naive(),
        };
        let mut o = order();
        o.shipped_on = Some(now().date_naive() - Duration::days(1));
        o.receivable = Some(ReceivableFacts {
            id: 77,
            outstanding_fen: 60_000,
            due_on: now().date_naive() + Duration::days(30),
        });
        let effects = payment_record(&ctx, &o, "600.00", now().date_naive(), "ref")
            .unwrap_or_else(|e| panic!("{e:?}"));
        assert_eq!(effects.order, vec![OrderChange::PaidFen(100_000)]);
        assert_eq!(
            effects.pay_down,
            Some(PayDown {
                receivable_id: 77,
                amount_fen: 60_000,
                left_fen: 0,
                settled_at: Some(now()),
            })
        );
        assert!(effects.rows.iter().any(|r| matches!(
            r,
            NewRow::ArEntry {
                amount_fen: -60_000,
                ..
            }
        )));
        assert!(effects.recompute_signals);
        // Without a receivable, no AR movement.
        let plain = payment_record(&ctx, &order(), "100.00", now().date_naive(), "ref")
            .unwrap_or_else(|e| panic!("{e:?}"));
        assert!(plain.pay_down.is_none());
        assert!(!plain
            .rows
            .iter()
            .any(|r| matches!(r, NewRow::ArEntry { .. })));
    }

    #[test]
    fn a_step_on_an_order_without_its_documents_is_a_fault_not_a_refusal() {
        let assistant = actor(5, Position::SalesAssistant);
        let ctx = StepCtx {
            actor: &assistant,
            now: now(),
            today: now().date_naive(),
        };
        let mut o = order();
        o.contract = None;
        o.shipment = None;
        assert!(matches!(
            contract_submit(&ctx, &o, None),
            Err(StepError::Inconsistent(_))
        ));
        assert!(matches!(
            shipment_confirm_delivery(&ctx, &o, None),
            Err(StepError::Inconsistent(_))
        ));
    }

    #[test]
    fn the_review_goes_to_management_and_a_rejection_carries_its_reason() {
        let supervisor = actor(9, Position::Supervisor);
        let ctx = StepCtx {
            actor: &supervisor,
            now: now(),
            today: now().date_naive(),
        };
        let rejected = contract_decide(&ctx, &order(), false, Some(" price too low "))
            .unwrap_or_else(|e| panic!("{e:?}"));
        assert_eq!(rejected.copy.kind, "CONTRACT_REJECTED");
        assert_eq!(rejected.copy.also, &[Position::Management]);
        assert_eq!(rejected.detail.as_deref(), Some("price too low"));
        assert!(rejected.copy.message.ends_with("rejected: price too low"));
    }
}
