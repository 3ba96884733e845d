//! The business operations behind the mutations. Each runs inside a
//! `StepRun` (one transaction with its audit record and notifications).
pub mod admin;
pub mod forecast;
pub mod inputs;
pub mod market;
pub mod workflow;
