//! The figures Salesguard reports, one definition each: the analysts'
//! metrics (`metrics`), the risk overview's summaries (`risk`), the weekly
//! report's model (`report`), and the derived data they are summed from
//! (`backfill`). The API, the worker and the weekly report all read them
//! from here, so a DSO is the same number everywhere.
pub mod backfill;
pub mod metrics;
pub mod report;
pub mod risk;
