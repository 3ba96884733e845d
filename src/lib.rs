//! The `salesguard` package: the CLI (`main.rs`) and `testkit`, a GraphQL
//! client with fixtures and a workflow driver used by the end-to-end tests
//! and the benchmark; `demo`, the demo and benchmark data sets
//! (`salesguard demo`).
pub mod demo;
pub mod testkit;
