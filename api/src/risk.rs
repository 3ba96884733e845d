//! Who may see a risk signal. The vocabulary is the domain's
//! (`salesguard_domain::risk`), the overview's figures are the analytics'
//! (`salesguard_analytics::risk`); the worker writes the rows and the API
//! only reads them.
pub use salesguard_analytics::risk::*;
pub use salesguard_domain::risk::*;

use crate::auth::Actor;

/// Whether `actor` may see a signal of `region_id`: a signal of a region is
/// seen by the readers of that region (a reader's regions include their
/// sub-areas); a company-wide signal (no region) only by company-wide readers.
pub fn visible(actor: &Actor, region_id: Option<i64>) -> bool {
    match region_id {
        Some(r) => actor.sees_region(r),
        None => actor.global,
    }
}
