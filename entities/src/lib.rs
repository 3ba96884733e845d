//! The database side of Salesguard: the sea-orm models (`model`) and the
//! database helpers (`db`: pools, dialect, group commit, COPY reader). The
//! business rules live in `salesguard-domain`.
pub mod db;
pub mod model;
