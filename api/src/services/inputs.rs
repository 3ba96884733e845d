//! The input checks are the domain's (`salesguard_domain::input`).
pub use salesguard_domain::input::*;
