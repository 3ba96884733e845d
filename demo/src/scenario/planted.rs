//! The list of planted anomalies: what was planted where, and the signal
//! each must raise.
use super::{Agent, AgentRole, Planted, SalesRole, User, World, G_DONGBEI, G_XINAN, P_L, P_PRO};

impl World {
    /// The planted agents, salespeople and price cases, in that order.
    pub(super) fn planted_list(&self) -> Vec<Planted> {
        let mut out = vec![];
        for a in &self.agents {
            self.planted_agent(a, &mut out);
        }
        for (ui, u) in self.users.iter().enumerate() {
            self.planted_salesperson(ui, u, &mut out);
        }
        let xinan = self.groups[G_XINAN][0];
        let dongbei = self.groups[G_DONGBEI][0];
        out.push(self.plant(
            ("(c) below the floor", "PRICE_INVERSION", "BELOW_FLOOR"),
            self.regions[xinan].code.clone(),
            Some(P_L),
            "WARNING",
            "DEALER prices observed at 91% of the DEALER floor (last 30 days)".into(),
        ));
        out.push(self.plant(
            ("(c) tier inversion", "PRICE_INVERSION", "TIER_INVERSION"),
            self.regions[dongbei].code.clone(),
            Some(P_PRO),
            "WARNING",
            "DEALER prices observed above RETAIL prices (last 30 days)".into(),
        ));
        out
    }

    /// A planted case: (anomaly, kind, rule), the subject, the product's
    /// index, the severity ("" for any) and a note.
    fn plant(
        &self,
        (anomaly, kind, rule): (&str, &'static str, &'static str),
        subject: String,
        product: Option<usize>,
        severity: &'static str,
        note: String,
    ) -> Planted {
        Planted {
            anomaly: anomaly.to_owned(),
            kind,
            rule,
            subject,
            product: product.map(|i| self.products[i].sku.clone()),
            severity,
            note,
        }
    }

    /// What an agent's role plants.
    fn planted_agent(&self, a: &Agent, out: &mut Vec<Planted>) {
        let region = &self.regions[a.region];
        match &a.role {
            AgentRole::Clean => {}
            AgentRole::ReceivablesGrowth => {
                out.push(self.plant(
                    ("(a) receivables growth", "RECEIVABLES_GROWTH", "DSRI"),
                    a.code.clone(),
                    None,
                    "CRITICAL",
                    "ships more and more on exception over the last 90 days and pays 40 days late"
                        .into(),
                ));
                out.push(self.plant(
                    (
                        "(a) receivables growth (roll-up)",
                        "RECEIVABLES_GROWTH",
                        "DSRI",
                    ),
                    region.code.clone(),
                    None,
                    "",
                    format!("the region of {}", a.code),
                ));
                out.push(self.plant(
                    (
                        "(a) receivables growth (roll-up)",
                        "RECEIVABLES_GROWTH",
                        "DSRI",
                    ),
                    "company".into(),
                    None,
                    "",
                    format!("the only receivables of the company are {}'s", a.code),
                ));
                out.push(self.plant(
                    (
                        "(a) overdue receivable",
                        "RECEIVABLES_OVERDUE",
                        "DAYS_PAST_DUE",
                    ),
                    a.code.clone(),
                    None,
                    "CRITICAL",
                    "one receivable unpaid for more than 90 days past its due date".into(),
                ));
            }
            AgentRole::BelowPurchase { product } => {
                out.push(self.plant(
                    (
                        "(c) price inversion",
                        "PRICE_INVERSION",
                        "BELOW_PURCHASE_PRICE",
                    ),
                    a.code.clone(),
                    Some(*product),
                    "CRITICAL",
                    "sells through at 7% below its purchase price (last 30 days)".into(),
                ));
            }
            AgentRole::Diverting { to_region } => {
                out.push(self.plant(
                    ("(d) diversion", "GOODS_DIVERSION", "CROSS_REGION"),
                    a.code.clone(),
                    None,
                    "CRITICAL",
                    format!(
                        "a third of the units located in the last 90 days turn up in {}",
                        self.regions[*to_region].code
                    ),
                ));
            }
            AgentRole::OverCapacity => {
                out.push(self.plant(
                    (
                        "(d) purchases over capacity",
                        "PURCHASE_OVER_CAPACITY",
                        "ABOVE_MARKET_CAPACITY",
                    ),
                    a.code.clone(),
                    None,
                    "CRITICAL",
                    format!(
                        "buys ~3x the capacity of {} ({} units/year)",
                        region.code, region.capacity
                    ),
                ));
            }
            AgentRole::StockPiling => {
                out.push(self.plant(
                    ("(e) channel stock", "CHANNEL_STOCK", "WEEKS_OF_SUPPLY"),
                    a.code.clone(),
                    None,
                    "CRITICAL",
                    "no sell-through for the last 45 days while shipments continue".into(),
                ));
            }
            AgentRole::SellInSurge => {
                out.push(self.plant(
                    (
                        "(e) sell-in outpacing sell-through",
                        "CHANNEL_STOCK",
                        "SELL_IN_OUTPACING_SELL_THROUGH",
                    ),
                    a.code.clone(),
                    None,
                    "WATCH",
                    "sell-in +50% in the last 4 weeks, sell-through flat".into(),
                ));
            }
        }
    }

    /// What a salesperson's forecasting role plants: the salesperson's
    /// signal and its region's roll-up.
    fn planted_salesperson(&self, ui: usize, u: &User, out: &mut Vec<Planted>) {
        if u.role == SalesRole::Clean {
            return;
        }
        let regions: Vec<usize> = self
            .agents
            .iter()
            .filter(|a| a.salesperson == ui)
            .map(|a| a.region)
            .collect();
        let top = regions
            .iter()
            .copied()
            .find(|r| self.regions[*r].parent.is_none());
        let (over, product, r) = match (&u.role, top) {
            (SalesRole::OverForecast { product }, Some(r)) => (true, *product, r),
            (SalesRole::UnderForecast { product }, Some(r)) => (false, *product, r),
            _ => return,
        };
        let region = &self.regions[r].code;
        let (anomaly, rule, severity, note) = if over {
            (
                "(b) chronic over-forecasting",
                "CHRONIC_OVER_FORECAST",
                "CRITICAL",
                format!("forecasts 60% above actuals every month in {region}"),
            )
        } else {
            (
                "(b) chronic under-forecasting",
                "CHRONIC_UNDER_FORECAST",
                "WARNING",
                format!("forecasts 20% below actuals every month in {region}"),
            )
        };
        out.push(self.plant(
            (anomaly, "FORECAST_DEVIATION", rule),
            u.username.clone(),
            Some(product),
            severity,
            note,
        ));
        out.push(self.plant(
            (&format!("{anomaly} (roll-up)"), "FORECAST_DEVIATION", rule),
            region.clone(),
            Some(product),
            "",
            format!("the region of {}", u.username),
        ));
    }
}
