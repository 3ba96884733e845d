//! The Salesguard API: configuration, database access, authentication, the
//! order-to-cash workflow services and the GraphQL schema served over axum.
pub mod app;
pub mod audit;
pub mod auth;
pub mod cache;
pub mod deferred;
pub mod directory;
pub mod error;
pub mod export;
pub mod graphql;
pub mod http;
pub mod idempotency;
pub mod notify;
pub mod numbering;
pub mod outbox;
pub mod reports;
pub mod risk;
pub mod risk_feed;
pub mod services;
pub mod step_cache;

pub use app::AppState;
pub use salesguard_config::Settings;
