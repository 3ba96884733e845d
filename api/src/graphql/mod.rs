//! The GraphQL schema.
pub mod documents;
pub mod enums;
pub mod ids;
pub mod loaders;
pub mod metrics;
pub mod mutation;
pub mod query;
pub mod report;
pub mod risk;
pub mod scalars;
pub mod subscription;
pub mod types;

use async_graphql::Schema;

use crate::app::AppState;
use salesguard_config::Mode;

pub type AppSchema =
    Schema<query::QueryRoot, mutation::MutationRoot, subscription::SubscriptionRoot>;

/// `DateTime` is async-graphql's scalar for `chrono::DateTime<Utc>`; its
/// own description speaks of Rust types.
const DATE_TIME_DESCRIPTION: &str = "An instant, as an RFC 3339 string. Outputs are in UTC\n\
    (offset `+00:00`, fractional seconds when not zero), e.g.\n\
    \"2026-11-29T08:30:00+00:00\"; inputs may carry any offset, e.g.\n\
    \"2026-11-29T16:30:00+08:00\".";

/// Limits that keep the API up (OWASP GraphQL cheat sheet): depth,
/// complexity, recursion, directives; no introspection or suggestions in
/// production.
pub fn build(app: Option<AppState>, mode: Mode) -> AppSchema {
    let mut b = Schema::build(
        query::QueryRoot,
        mutation::MutationRoot::default(),
        subscription::SubscriptionRoot,
    )
    .limit_depth(12)
    .limit_complexity(2000)
    .limit_recursive_depth(32)
    .limit_directives(10)
    .override_output_type_description::<chrono::DateTime<chrono::Utc>>(DATE_TIME_DESCRIPTION);
    if mode == Mode::Production {
        b = b.disable_introspection().disable_suggestions();
    }
    if let Some(app) = app {
        b = b.data(app);
    }
    b.finish()
}

/// The SDL checked in as `schema.graphql`.
pub fn sdl() -> String {
    build(None, Mode::Development).sdl()
}

/// The input type of each workflow mutation (for clients that build a
/// step's document from its name).
pub fn step_input_type(mutation: &str) -> &'static str {
    match mutation {
        "salesOrderCreate" => "SalesOrderCreateInput",
        "contractDraft" => "ContractDraftInput",
        "contractSubmit" => "ContractSubmitInput",
        "contractApprove" | "contractReject" => "ContractDecisionInput",
        "contractSign" => "ContractSignInput",
        "paymentRecord" => "PaymentRecordInput",
        "shipmentExceptionApprove" => "ShipmentExceptionApproveInput",
        "shippingNoticeIssue" => "ShippingNoticeIssueInput",
        "shipmentShip" => "ShipmentShipInput",
        "shipmentConfirmDelivery" => "ShipmentConfirmDeliveryInput",
        "invoiceInfoCollect" => "InvoiceInfoCollectInput",
        "invoiceIssue" => "InvoiceIssueInput",
        "invoiceMail" => "InvoiceMailInput",
        _ => "OrderStepInput",
    }
}
