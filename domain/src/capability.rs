//! Who may do what (SPEC S3, "fixed positions, fixed powers"): one table
//! for every permission a position grants, the workflow's steps and
//! everything else. A position either holds a capability or it does not;
//! where the data a user may touch is limited further (their regions, the
//! documents they acted on), the rule that says so names the capability
//! it narrows.
use crate::{Position, Step};

/// Something a user may be allowed to do.
#[derive(Copy, Clone, Debug, PartialEq, Eq, Hash)]
pub enum Capability {
    /// Take a step of the order-to-cash workflow.
    Step(Step),
    /// Create and change regions, agents, products, warehouses and users.
    ManageMasterData,
    /// Set an agent's credit limit.
    SetCreditLimit,
    /// Receive stock into a warehouse.
    ReceiveStock,
    /// Set list prices and floor prices.
    SetListPrice,
    /// Submit sales forecasts.
    SubmitForecast,
    /// Record what agents sold through.
    RecordSellThrough,
    /// Record activations, warranty registrations and call-backs of units.
    RecordUnitSighting,
    /// Record prices seen in the market.
    RecordPriceObservation,
    /// Read the analysts' metrics.
    ReadMetrics,
    /// Export business data in bulk.
    Export,
}

impl Capability {
    /// Every capability that is not a step, then every step.
    pub fn all() -> Vec<Capability> {
        let mut v = vec![
            Capability::ManageMasterData,
            Capability::SetCreditLimit,
            Capability::ReceiveStock,
            Capability::SetListPrice,
            Capability::SubmitForecast,
            Capability::RecordSellThrough,
            Capability::RecordUnitSighting,
            Capability::RecordPriceObservation,
            Capability::ReadMetrics,
            Capability::Export,
        ];
        v.extend(Step::ALL.into_iter().map(Capability::Step));
        v
    }

    /// The positions that hold this capability.
    pub fn holders(&self) -> &'static [Position] {
        use Position::*;
        match self {
            Capability::Step(step) => step_holders(*step),
            Capability::ManageMasterData => &[Admin],
            Capability::SetCreditLimit | Capability::SetListPrice => &[Management],
            Capability::ReceiveStock => &[Warehouse],
            Capability::SubmitForecast => &[Salesperson],
            Capability::RecordSellThrough => &[Salesperson, SalesAssistant],
            Capability::RecordUnitSighting => &[
                CallCenter,
                MarketSpecialist,
                Salesperson,
                SalesAssistant,
                Supervision,
            ],
            Capability::RecordPriceObservation => &[MarketSpecialist, Salesperson],
            // Everyone who works with sales figures; the warehouse and the
            // call center do not.
            Capability::ReadMetrics => &[
                Salesperson,
                SalesAssistant,
                Supervisor,
                Finance,
                Management,
                MarketSpecialist,
                Supervision,
                Analyst,
                Admin,
            ],
            Capability::Export => &[Analyst, Management, Supervisor, Finance, Supervision],
        }
    }

    /// Whether `position` holds this capability.
    pub fn held_by(&self, position: Position) -> bool {
        self.holders().contains(&position)
    }

    /// What the capability lets a user do, for refusals ("may not …").
    pub fn describe(&self) -> String {
        match self {
            Capability::Step(step) => format!("take the step {}", step.as_str()),
            Capability::ManageMasterData => "manage master data".into(),
            Capability::SetCreditLimit => "set credit limits".into(),
            Capability::ReceiveStock => "receive stock".into(),
            Capability::SetListPrice => "set list prices".into(),
            Capability::SubmitForecast => "submit forecasts".into(),
            Capability::RecordSellThrough => "record sell-through".into(),
            Capability::RecordUnitSighting => "record unit sightings".into(),
            Capability::RecordPriceObservation => "record price observations".into(),
            Capability::ReadMetrics => "read sales metrics".into(),
            Capability::Export => "export business data".into(),
        }
    }
}

/// The positions that may take each workflow step. Management may step
/// into any workflow step of the sales side (SPEC S3), but never into
/// finance's or the warehouse's: separation of duties holds for management
/// too.
fn step_holders(step: Step) -> &'static [Position] {
    use Position::*;
    match step {
        Step::OrderFile => &[Salesperson],
        Step::ContractDraft | Step::ContractSubmit => &[SalesAssistant, Management],
        Step::ContractApprove | Step::ContractReject => &[Supervisor, Management],
        // On site by the salesperson, or by fax + courier by the assistant.
        Step::ContractSign => &[Salesperson, SalesAssistant],
        Step::OrderForwardToFinance => &[SalesAssistant],
        Step::PaymentRecord | Step::PaymentConfirmFull => &[Finance],
        Step::ShipmentExceptionApprove => &[Management],
        Step::ShippingNoticeIssue => &[SalesAssistant],
        Step::ShipmentShip => &[Warehouse],
        Step::ShipmentConfirmDelivery => &[Warehouse, SalesAssistant],
        Step::InvoiceInfoCollect => &[Salesperson],
        Step::InvoiceIssue => &[Finance],
        Step::InvoiceMail | Step::InvoiceConfirmReceipt | Step::OrderArchive => &[SalesAssistant],
    }
}

impl Position {
    /// Whether this position holds `capability`.
    pub fn may(&self, capability: Capability) -> bool {
        capability.held_by(*self)
    }

    /// Every capability this position holds.
    pub fn capabilities(&self) -> Vec<Capability> {
        Capability::all()
            .into_iter()
            .filter(|c| c.held_by(*self))
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_sales_side_never_confirms_payment_ships_or_invoices() {
        for step in [
            Step::PaymentRecord,
            Step::PaymentConfirmFull,
            Step::ShipmentShip,
            Step::InvoiceIssue,
        ] {
            for p in Capability::Step(step).holders() {
                assert!(!p.is_sales_side(), "{p} may take {step:?}");
                assert_ne!(*p, Position::Management, "{step:?}");
            }
        }
    }

    #[test]
    fn only_administrators_manage_master_data_and_no_one_else_is_admin_only() {
        assert_eq!(Capability::ManageMasterData.holders(), &[Position::Admin]);
        let admin_only: Vec<Capability> = Capability::all()
            .into_iter()
            .filter(|c| c.holders() == [Position::Admin])
            .collect();
        assert_eq!(admin_only, vec![Capability::ManageMasterData]);
    }

    #[test]
    fn every_capability_has_a_holder_and_every_step_is_in_the_table() {
        let all = Capability::all();
        for c in &all {
            assert!(!c.holders().is_empty(), "{c:?}");
        }
        for s in Step::ALL {
            assert!(all.contains(&Capability::Step(s)), "{s:?}");
        }
    }

    #[test]
    fn a_position_holds_what_the_table_gives_it() {
        let wh = Position::Warehouse.capabilities();
        assert!(wh.contains(&Capability::ReceiveStock));
        assert!(wh.contains(&Capability::Step(Step::ShipmentShip)));
        assert!(!wh.contains(&Capability::ReadMetrics));
        assert!(!Position::CallCenter.may(Capability::ReadMetrics));
        assert!(Position::Analyst.may(Capability::Export));
        assert!(!Position::Salesperson.may(Capability::Export));
    }
}
