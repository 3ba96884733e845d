//! The Salesguard background worker (apalis 1.0): one job, "recompute risk
//! signals", fed by
//! - the transactional outbox (`outbox` rows written in the business
//!   transaction; the relay moves them into the job queue every second,
//!   deduplicated by their key), and
//! - cron schedules from the settings (`signals_cron`, in the business time
//!   zone), which enqueue one job per tick, keyed on the tick.
//!
//! Jobs are at-least-once; the handler is idempotent per dedup key (a key
//! with a finished, successful `job_runs` row is not run again).
//!
//! The queue lives in the business database's PostgreSQL (schema `apalis`,
//! own pool) or, on SQLite, in a file of its own next to the business
//! database (`<db>.jobs.db`, own pool: `SqliteStorage::setup` turns
//! `synchronous` off on its pool).
use std::time::Duration;

use serde::{Deserialize, Serialize};

mod context;
mod queue;
mod recompute;
mod relay;
pub mod report;
mod runner;
pub mod signals;

pub use context::Ctx;
pub use queue::{sqlite_queue_path, Queue};
pub use recompute::{recompute_now, recompute_signals, RunFigures, RunOutcome};
pub use relay::relay_once;
pub use runner::{run, schedules, CronLabel};

/// The job: recompute the channel risk signals.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RecomputeSignals {
    /// What asked for it: the mutation (`shipmentShip`, …) or `cron:<expr>`.
    pub trigger: String,
    /// Identifies the change (or the tick) the run is for.
    pub dedup_key: String,
    /// When the job was queued (after the change committed): a successful
    /// run that started later covers it.
    #[serde(default)]
    pub requested_at: Option<chrono::DateTime<chrono::Utc>>,
    /// The business day to compute for (default: today).
    #[serde(default)]
    pub as_of: Option<chrono::NaiveDate>,
}

impl RecomputeSignals {
    /// The queue name, stable across refactorings (apalis would default to
    /// the Rust type path).
    pub const QUEUE: &'static str = "salesguard.recompute_signals";
    /// The `job_runs.job` value.
    pub const JOB: &'static str = "recompute_signals";
}

/// In-process retries after the first attempt (with exponential backoff).
pub const RETRIES: usize = 3;
/// Set on every pushed task: the storage re-fetches failed tasks without
/// delay up to `max_attempts` (default 25), so it is the retry count + 1.
pub const MAX_ATTEMPTS: usize = RETRIES + 1;
/// How often the relay looks at the outbox.
pub const RELAY_INTERVAL: Duration = Duration::from_secs(1);

/// The process's peak resident memory so far in MiB (Linux `VmHWM`; NaN
/// where unknown): the debug log of the signals parts and the benchmarks.
pub fn peak_rss_mib() -> f64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("VmHWM:"))
                .and_then(|l| l.split_whitespace().nth(1))
                .and_then(|kb| kb.parse::<f64>().ok())
        })
        .map(|kb| kb / 1024.0)
        .unwrap_or(f64::NAN)
}

/// Caps glibc's malloc arenas at `n` (by default up to 8 per core, one per
/// thread that allocates). The signals computation allocates on many
/// threads (polars), and memory freed into one thread's arena is not reused
/// by another: on the 1M-order benchmark the cap at 2 lowers the peak by
/// about 60 MiB at no measurable cost. Call first in `main`, before other
/// threads start. Does nothing off glibc.
pub fn limit_malloc_arenas(n: i32) {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    // SAFETY: mallopt only sets an allocator parameter; it is called before
    // the process starts other threads.
    unsafe {
        libc::mallopt(libc::M_ARENA_MAX, n);
    }
    #[cfg(not(all(target_os = "linux", target_env = "gnu")))]
    let _ = n;
}
