//! The weekly risk reports as the API serves them: who may read a report
//! (`access`) and its HTTP downloads (`http`). The report's model is the
//! analytics' (`salesguard_analytics::report`); the worker builds and mails
//! the reports.
pub mod access;
pub mod http;

pub use salesguard_analytics::report::*;
pub use salesguard_config::report::{ReportLanguage, ReportSettings, SmtpSettings, SmtpTls};
