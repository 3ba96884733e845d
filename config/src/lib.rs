//! One typed settings struct, read from `salesguard.toml` (or the file named
//! by `--config`) and `SALESGUARD_*` environment variables, validated at start.
pub mod report;

use std::path::Path;

use anyhow::bail;
use chrono_tz::Tz;
use figment::providers::{Env, Format, Serialized, Toml};
use figment::Figment;
use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Mode {
    /// GraphiQL, introspection and field suggestions are on.
    Development,
    /// No GraphiQL, no introspection, no suggestions.
    Production,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum LogFormat {
    Pretty,
    Json,
}

#[derive(Clone, Deserialize, Serialize)]
#[serde(default, deny_unknown_fields)]
pub struct Settings {
    /// `sqlite://path?mode=rwc` (default, embedded) or `postgres://…`.
    pub database_url: String,
    /// Maximum connections of the database pool. Default: four per CPU
    /// (at least 4, at most 32), see [`default_pool_size`].
    pub db_max_connections: u32,
    /// Address the HTTP server listens on.
    pub bind: String,
    /// Company code in document numbers (SPEC S7), e.g. `SC`.
    pub company_code: String,
    /// IANA time zone of the business day, e.g. `Asia/Shanghai`.
    pub timezone: String,
    /// Lifetime of a login token, in minutes.
    pub token_ttl_minutes: i64,
    pub mode: Mode,
    pub log_format: LogFormat,
    /// Requests taking longer are cut off with 408.
    pub request_timeout_secs: u64,
    /// How long, in milliseconds, a query gathers the rows it needs of one
    /// relation (an order's lines, contracts, …) before it reads them in one
    /// statement; 0 reads as soon as the query asks.
    pub loader_window_ms: u64,
    /// `serve` on SQLite also runs the background worker in-process (on
    /// PostgreSQL run `salesguard worker` separately).
    pub worker_in_serve: bool,
    /// The worker keeps a copy of the data the signals read between runs
    /// and reads only what changed since (about 1.2 GB at 1M orders); off,
    /// every run reads all the data and frees it after.
    pub worker_keep_copy: bool,
    /// Where the worker also saves its copy (with `worker_keep_copy`), one
    /// directory per database, so a worker that starts again reads only
    /// what changed since; empty: the copy is kept in memory only.
    pub worker_copy_dir: String,
    /// When the risk signals are recomputed besides after changes: cron
    /// expressions, seconds first, in the business time zone.
    pub signals_cron: Vec<String>,
    /// How often a worker proves it is alive, in seconds; the jobs of a
    /// worker silent for 3 intervals (killed, crashed) are run again by
    /// another (or the restarted) worker.
    pub worker_heartbeat_secs: u64,
    /// Thresholds of the risk signals (docs/signals.md), `[signals]` in the
    /// file or `SALESGUARD_SIGNALS__<NAME>`.
    pub signals: SignalSettings,
    /// The SMTP server the weekly reports are mailed through (`[smtp]`).
    pub smtp: report::SmtpSettings,
    /// The weekly risk report (`[report]`: cron, language, enabled).
    pub report: report::ReportSettings,
    /// How the workflow's steps are written (`[steps]`): each strategy can
    /// be switched off; off, a step is a plain transaction of its own.
    pub steps: StepSettings,
}

/// How the step engine writes a step. Each of these changes only how fast
/// a step is written, never what it writes or refuses.
#[derive(Debug, Clone, Deserialize, Serialize, PartialEq, Eq)]
#[serde(default, deny_unknown_fields)]
pub struct StepSettings {
    /// SQLite: steps that arrive together commit together (one `fsync`).
    pub group_commit: bool,
    /// A step the domain decides writes all its changes as one statement,
    /// guarded by the versions it read, with no transaction of its own.
    pub single_statement: bool,
    /// Such a step may start from what the order's last step left in this
    /// process instead of reading the order again.
    pub kept_loads: bool,
}

impl Default for StepSettings {
    fn default() -> Self {
        StepSettings {
            group_commit: true,
            single_statement: true,
            kept_loads: true,
        }
    }
}

impl StepSettings {
    /// Every strategy off: each step in a transaction of its own, read from
    /// the database.
    pub fn plain() -> Self {
        StepSettings {
            group_commit: false,
            single_statement: false,
            kept_loads: false,
        }
    }
}

/// The thresholds of the risk signals; docs/signals.md defines each figure.
#[derive(Debug, Clone, Deserialize, Serialize, PartialEq)]
#[serde(default, deny_unknown_fields)]
pub struct SignalSettings {
    pub ar_window_days: i64,
    pub ar_min_yuan: f64,
    pub dsri_watch: f64,
    pub dsri_warning: f64,
    pub dsri_critical: f64,
    pub overdue_watch_days: i64,
    pub overdue_warning_days: i64,
    pub overdue_critical_days: i64,
    pub forecast_window_months: i64,
    pub forecast_min_months: i64,
    pub ts_watch: f64,
    pub ts_warning: f64,
    pub bias_critical: f64,
    pub price_window_days: i64,
    pub inversion_critical_share: f64,
    pub diversion_window_days: i64,
    pub diversion_min_units: i64,
    pub diversion_watch: f64,
    pub diversion_warning: f64,
    pub diversion_critical: f64,
    pub capacity_watch: f64,
    pub capacity_warning: f64,
    pub capacity_critical: f64,
    pub stock_min_units: i64,
    pub wos_watch: f64,
    pub wos_warning: f64,
    pub wos_critical: f64,
    pub sell_in_growth: f64,
    pub sell_through_flat: f64,
}

impl Default for SignalSettings {
    fn default() -> Self {
        SignalSettings {
            ar_window_days: 90,
            ar_min_yuan: 10_000.0,
            dsri_watch: 1.15,
            dsri_warning: 1.3,
            dsri_critical: 2.0,
            overdue_watch_days: 30,
            overdue_warning_days: 60,
            overdue_critical_days: 90,
            forecast_window_months: 6,
            forecast_min_months: 3,
            ts_watch: 3.0,
            ts_warning: 4.0,
            bias_critical: 0.5,
            price_window_days: 30,
            inversion_critical_share: 0.25,
            diversion_window_days: 90,
            diversion_min_units: 3,
            diversion_watch: 0.05,
            diversion_warning: 0.10,
            diversion_critical: 0.25,
            capacity_watch: 1.0,
            capacity_warning: 1.5,
            capacity_critical: 2.5,
            stock_min_units: 10,
            wos_watch: 6.0,
            wos_warning: 8.0,
            wos_critical: 16.0,
            sell_in_growth: 0.3,
            sell_through_flat: 0.05,
        }
    }
}

impl SignalSettings {
    pub fn validate(&self) -> anyhow::Result<()> {
        let ordered = |name: &str, a: f64, b: f64, c: f64| {
            if !(a.is_finite() && a <= b && b <= c) {
                bail!("signals.{name}: the watch, warning and critical thresholds must rise");
            }
            Ok(())
        };
        ordered(
            "dsri_*",
            self.dsri_watch,
            self.dsri_warning,
            self.dsri_critical,
        )?;
        ordered(
            "overdue_*_days",
            self.overdue_watch_days as f64,
            self.overdue_warning_days as f64,
            self.overdue_critical_days as f64,
        )?;
        ordered("ts_*", self.ts_watch, self.ts_warning, f64::MAX)?;
        ordered(
            "diversion_*",
            self.diversion_watch,
            self.diversion_warning,
            self.diversion_critical,
        )?;
        ordered(
            "capacity_*",
            self.capacity_watch,
            self.capacity_warning,
            self.capacity_critical,
        )?;
        ordered("wos_*", self.wos_watch, self.wos_warning, self.wos_critical)?;
        for (name, days) in [
            ("ar_window_days", self.ar_window_days),
            ("price_window_days", self.price_window_days),
            ("diversion_window_days", self.diversion_window_days),
            ("forecast_window_months", self.forecast_window_months),
            ("forecast_min_months", self.forecast_min_months),
        ] {
            if !(1..=3660).contains(&days) {
                bail!("signals.{name} must be between 1 and 3660");
            }
        }
        Ok(())
    }
}

/// The keys of `Settings`, as they appear lower-cased in the environment.
const KEYS: &[&str] = &[
    "database_url",
    "db_max_connections",
    "bind",
    "company_code",
    "timezone",
    "token_ttl_minutes",
    "mode",
    "log_format",
    "request_timeout_secs",
    "loader_window_ms",
    "worker_in_serve",
    "worker_keep_copy",
    "worker_copy_dir",
    "signals_cron",
    "worker_heartbeat_secs",
    "signals",
    "smtp",
    "report",
];

/// The pool's default size: four connections per CPU of this machine, at
/// least 4 and at most 32. A database connection is busy only while a
/// statement runs, and the database shares the machine's CPUs with the
/// server (in the default setup, and on the benchmark's machine): more
/// connections than that only spread the same work over more backend
/// processes. Measured on 2 CPUs with 8 clients (`benches/chain.rs`):
/// 8 connections gave 7–20% more mutations per second than 16, and 4
/// fewer (a step holds its connection between its statements).
pub fn default_pool_size() -> u32 {
    pool_size_for(std::thread::available_parallelism().map_or(2, |n| n.get()))
}

fn pool_size_for(cpus: usize) -> u32 {
    u32::try_from(cpus.saturating_mul(4))
        .unwrap_or(u32::MAX)
        .clamp(4, 32)
}

impl Default for Settings {
    fn default() -> Self {
        Settings {
            database_url: "sqlite://salesguard.db?mode=rwc".into(),
            db_max_connections: default_pool_size(),
            bind: "127.0.0.1:8080".into(),
            company_code: "SC".into(),
            timezone: "Asia/Shanghai".into(),
            token_ttl_minutes: 12 * 60,
            mode: Mode::Development,
            log_format: LogFormat::Pretty,
            request_timeout_secs: 30,
            loader_window_ms: 1,
            worker_in_serve: true,
            worker_keep_copy: true,
            worker_copy_dir: "salesguard-worker-copy".into(),
            signals_cron: vec!["0 */15 * * * *".into(), "0 0 7 * * *".into()],
            worker_heartbeat_secs: 10,
            signals: SignalSettings::default(),
            smtp: Default::default(),
            report: Default::default(),
            steps: StepSettings::default(),
        }
    }
}

impl std::fmt::Debug for Settings {
    // The database URL may carry a password: never print it.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Settings")
            .field("database", &redact_url(&self.database_url))
            .field("bind", &self.bind)
            .field("company_code", &self.company_code)
            .field("timezone", &self.timezone)
            .field("mode", &self.mode)
            .finish_non_exhaustive()
    }
}

/// `postgres://user:secret@host/db` → `postgres://user:***@host/db`.
pub fn redact_url(url: &str) -> String {
    match (url.find("://"), url.rfind('@')) {
        (Some(s), Some(at)) if at > s => {
            let creds = &url[s + 3..at];
            match creds.split_once(':') {
                Some((user, _)) => format!("{}{}:***{}", &url[..s + 3], user, &url[at..]),
                None => url.to_owned(),
            }
        }
        _ => url.to_owned(),
    }
}

impl Settings {
    /// Defaults, then the TOML file (if it exists), then `SALESGUARD_*`
    /// environment variables (e.g. `SALESGUARD_DATABASE_URL`).
    pub fn load(file: Option<&Path>) -> anyhow::Result<Settings> {
        let mut fig = Figment::from(Serialized::defaults(Settings::default()));
        match file {
            Some(path) => {
                if !path.exists() {
                    bail!("configuration file {} does not exist", path.display());
                }
                fig = fig.merge(Toml::file(path));
            }
            None => fig = fig.merge(Toml::file("salesguard.toml")),
        }
        // Only the settings' own keys: other SALESGUARD_* variables (the CLI's
        // SALESGUARD_NEW_PASSWORD, the tests' URLs) are not configuration.
        let env = Env::prefixed("SALESGUARD_")
            .filter(|k| {
                let k = k.as_str();
                KEYS.iter().any(|x| k.eq_ignore_ascii_case(x))
                    || k.to_ascii_lowercase().starts_with("signals__")
                    || k.to_ascii_lowercase().starts_with("smtp__")
                    || k.to_ascii_lowercase().starts_with("report__")
            })
            .split("__");
        let settings: Settings = fig
            .merge(env)
            .extract()
            .map_err(|e| anyhow::anyhow!("invalid configuration: {e}"))?;
        settings.validate()?;
        Ok(settings)
    }

    /// How long a query's loaders gather keys (`loader_window_ms`).
    pub fn loader_window(&self) -> std::time::Duration {
        std::time::Duration::from_millis(self.loader_window_ms)
    }

    pub fn validate(&self) -> anyhow::Result<()> {
        self.tz()?;
        let code = &self.company_code;
        if code.is_empty()
            || code.len() > 8
            || !code
                .bytes()
                .all(|b| b.is_ascii_uppercase() || b.is_ascii_digit())
        {
            bail!("company_code must be 1 to 8 characters A-Z or 0-9, got `{code}`");
        }
        if self.token_ttl_minutes <= 0 {
            bail!("token_ttl_minutes must be positive");
        }
        self.signals.validate()?;
        self.smtp.validate()?;
        self.report.validate()?;
        if self.worker_heartbeat_secs == 0 {
            bail!("worker_heartbeat_secs must be at least 1");
        }
        if self.loader_window_ms > 1000 {
            bail!("loader_window_ms must be at most 1000 (one second)");
        }
        if self.db_max_connections == 0 {
            bail!("db_max_connections must be at least 1");
        }
        if !(self.database_url.starts_with("sqlite:")
            || self.database_url.starts_with("postgres://")
            || self.database_url.starts_with("postgresql://"))
        {
            bail!("database_url must start with sqlite: or postgres://");
        }
        Ok(())
    }

    pub fn tz(&self) -> anyhow::Result<Tz> {
        self.timezone
            .parse::<Tz>()
            .map_err(|_| anyhow::anyhow!("unknown time zone `{}`", self.timezone))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_pool_has_four_connections_per_cpu_within_bounds() {
        assert_eq!(pool_size_for(1), 4);
        assert_eq!(pool_size_for(2), 8);
        assert_eq!(pool_size_for(6), 24);
        assert_eq!(pool_size_for(64), 32);
        assert_eq!(pool_size_for(usize::MAX), 32);
        assert_eq!(Settings::default().db_max_connections, default_pool_size());
    }

    #[test]
    fn defaults_are_valid_and_bad_values_fail_fast() {
        assert!(Settings::default().validate().is_ok());
        let bad_tz = Settings {
            timezone: "Mars/Olympus".into(),
            ..Settings::default()
        };
        assert!(bad_tz.validate().is_err());
        let bad_code = Settings {
            company_code: "sc".into(),
            ..Settings::default()
        };
        assert!(bad_code.validate().is_err());
        let long_window = Settings {
            loader_window_ms: 1001,
            ..Settings::default()
        };
        assert!(long_window.validate().is_err());
        let window = Settings {
            loader_window_ms: 1000,
            ..Settings::default()
        };
        assert!(window.validate().is_ok());
        assert_eq!(window.loader_window().as_millis(), 1000);
    }

    #[test]
    fn redacts_passwords() {
        assert_eq!(
            redact_url("postgres://app:s3cret@db:5432/sales"),
            "postgres://app:***@db:5432/sales"
        );
        assert_eq!(redact_url("sqlite://x.db"), "sqlite://x.db");
    }
}
