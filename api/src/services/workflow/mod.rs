//! The order-to-cash workflow (SPEC S5, S6). Every step checks, in this
//! order: the actor's position may take the step, the order is in the
//! actor's regions (else NOT_FOUND, revealing nothing), the order's status
//! allows the step (`salesguard_domain::order::gate`); then its own rules,
//! and makes its change conditional on the order's version, so of two
//! racing users one wins and the other gets CONFLICT.
//!
//! - `steps`: the steps the domain decides (`salesguard_domain::order::steps`),
//!   written by the `engine`;
//! - `create` and `shipping`: the steps that number documents or move stock;
//! - `load`: the order as a step reads it; `inputs`: the mutations' inputs.
mod create;
mod engine;
mod inputs;
mod load;
mod shipping;
mod steps;

pub use create::{contract_draft, order_create};
pub use engine::{written, Written};
pub use inputs::*;
pub use load::OrderCtx;
pub use shipping::{exception_approve, notice_issue, shipment_ship};
pub use steps::*;

pub const ORDER: &str = "SalesOrder";
