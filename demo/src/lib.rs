//! `salesguard demo`: loads a realistic synthetic year of business with
//! anomalies planted on purpose, so that every risk-signal kind fires.
//!
//! - [`scenario`]: the deterministic plan (from `--seed`);
//! - [`check`]: docs/signals.md evaluated on the plan (what must fire);
//! - [`workflow`]: the default sink, every document through the real
//!   GraphQL mutations (checks, numbering, audit, notifications);
//! - [`bulk`]: the fast sink for benchmarks (`--bulk`), rows written
//!   directly with multi-row INSERTs (SQLite) or COPY (PostgreSQL).
pub mod bulk;
pub mod check;
pub mod scenario;
pub mod workflow;

use anyhow::{bail, Context};
use chrono::NaiveDate;
use sea_orm::{ConnectionTrait, DbBackend, Statement};

use salesguard_api::AppState;

pub use scenario::{Config, Planted, World, DEMO_PASSWORD};

/// Options of `salesguard demo`.
#[derive(Clone, Debug, clap::Args)]
pub struct DemoArgs {
    /// Seed of the scenario: the same seed gives the same data.
    #[arg(long, default_value_t = 42)]
    pub seed: u64,
    /// Size factor: 1.0 = about 1,000 orders over the year; 1000 = about
    /// 1M orders (with --bulk).
    #[arg(long, default_value_t = 1.0)]
    pub size: f64,
    /// The as-of day (YYYY-MM-DD); default today in the business time zone.
    #[arg(long)]
    pub as_of: Option<NaiveDate>,
    /// Write rows directly (benchmarks): no audit trail, no notifications.
    #[arg(long)]
    pub bulk: bool,
    /// Load even if the database already has orders (codes and usernames
    /// get a suffix).
    #[arg(long)]
    pub force: bool,
    /// Only print the plan and the signals it must raise; write nothing.
    #[arg(long)]
    pub dry_run: bool,
}

/// What a load did.
#[derive(Debug, Clone, Default)]
pub struct Report {
    pub orders: u64,
    pub shipped: u64,
    pub serials: u64,
    pub sell_through: u64,
    pub sightings: u64,
    pub price_observations: u64,
    pub forecasts: u64,
    pub rows: u64,
    pub mutations: u64,
    pub elapsed: std::time::Duration,
}

async fn count(app: &AppState, sql: &str) -> anyhow::Result<i64> {
    let db = &app.db.read;
    let row = db
        .query_one_raw(Statement::from_string(db.get_database_backend(), sql))
        .await?
        .context("no row")?;
    Ok(row.try_get_by_index::<i64>(0)?)
}

/// Builds the scenario's configuration for this database.
pub async fn config(app: &AppState, args: &DemoArgs) -> anyhow::Result<Config> {
    let today = salesguard_domain::docnum::business_day(chrono::Utc::now(), app.tz);
    let as_of = args.as_of.unwrap_or(today);
    if as_of > today {
        bail!("--as-of {as_of} is in the future (today is {today})");
    }
    if !(args.size > 0.0 && args.size <= 10_000.0) {
        bail!("--size must be above 0 and at most 10000");
    }
    let orders = count(app, "SELECT COUNT(*) FROM sales_orders").await?;
    let mut suffix = String::new();
    if orders > 0 {
        if !args.force {
            bail!(
                "the database already has {orders} sales orders; `demo` loads into an empty \
                 database (use --force to add a second data set next to them)"
            );
        }
        let regions = count(app, "SELECT COUNT(*) FROM regions").await?;
        suffix = format!("-D{regions}");
    }
    Ok(Config {
        seed: args.seed,
        as_of,
        size: args.size,
        suffix,
        company_code: app.settings.company_code.clone(),
    })
}

/// Runs `salesguard demo`.
pub async fn run(app: AppState, args: DemoArgs) -> anyhow::Result<()> {
    let cfg = config(&app, &args).await?;
    let started = std::time::Instant::now();
    let world = World::build(cfg.clone());
    println!(
        "demo scenario: seed {}, size {}, as of {}, {} regions, {} agents, {} users, {} products",
        cfg.seed,
        cfg.size,
        cfg.as_of,
        world.regions.len(),
        world.agents.len(),
        world.users.len(),
        world.products.len()
    );
    if args.dry_run {
        let act = world.all_activity();
        println!(
            "plan: {} orders, {} sell-through rows, {} sightings, {} price observations, {} forecasts",
            act.orders.len(),
            act.sell_through.len(),
            act.sightings.len(),
            act.prices.len(),
            act.forecasts.len()
        );
        print_expected(&world, &act);
        return Ok(());
    }
    let report = if args.bulk {
        let report = bulk::load(&app, &world).await?;
        // The bulk writer skips the workflow steps that write AR entries.
        salesguard_analytics::backfill::backfill_ar_entries(&app.db).await?;
        report
    } else {
        workflow::load(&app, &world).await?
    };
    print_planted(&world);
    print_report(&app, &report, started.elapsed());
    Ok(())
}

pub fn print_expected(world: &World, act: &scenario::Activity) {
    let exp = check::expected_signals(world, act);
    println!(
        "signals the definitions raise on this plan ({}):",
        exp.len()
    );
    for e in exp {
        println!(
            "  {:<22} {:<32} {:<24} {:<10} {:<8} {:.2}",
            e.kind,
            e.rule,
            e.subject,
            e.product.unwrap_or_default(),
            e.severity,
            e.value
        );
    }
}

pub fn print_planted(world: &World) {
    println!("\nplanted anomalies (docs/signals.md):");
    println!(
        "  {:<40} {:<22} {:<31} {:<18} {:<9} {:<8} note",
        "anomaly", "kind", "rule", "subject", "product", "severity"
    );
    for p in &world.planted {
        println!(
            "  {:<40} {:<22} {:<31} {:<18} {:<9} {:<8} {}",
            p.anomaly,
            p.kind,
            p.rule,
            p.subject,
            p.product.clone().unwrap_or_default(),
            if p.severity.is_empty() {
                "any"
            } else {
                p.severity
            },
            p.note
        );
    }
}

fn print_report(app: &AppState, r: &Report, elapsed: std::time::Duration) {
    let secs = elapsed.as_secs_f64().max(0.001);
    let backend = match app.db.backend() {
        DbBackend::Postgres => "PostgreSQL",
        _ => "SQLite",
    };
    println!(
        "\nloaded on {backend} in {secs:.1} s: {} orders ({} shipped), {} serial numbers, \
         {} sell-through rows, {} sightings, {} price observations, {} forecasts",
        r.orders,
        r.shipped,
        r.serials,
        r.sell_through,
        r.sightings,
        r.price_observations,
        r.forecasts
    );
    if r.mutations > 0 {
        println!(
            "{} mutations: {:.0} orders/s, {:.0} mutations/s",
            r.mutations,
            r.orders as f64 / secs,
            r.mutations as f64 / secs
        );
    }
    if r.rows > 0 {
        println!("{} rows: {:.0} rows/s", r.rows, r.rows as f64 / secs);
    }
    println!(
        "\nsign in as any demo user (admin, sales1.huabei, assistant.huabei, supervisor.huabei, \
         finance, keeper, manager, market, callcenter, analyst, ...) with the password {DEMO_PASSWORD}"
    );
}
