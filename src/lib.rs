//! The `salesguard` package: the CLI (`main.rs`) and `testkit`, a GraphQL
//! client with fixtures and a workflow driver used by the end-to-end tests
//! and the benchmark.
pub mod testkit;
