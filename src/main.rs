//! `salesguard`: the command line. `cargo run` serves the API on the embedded
//! SQLite database; see `salesguard --help`.
use std::io::Read;
use std::path::PathBuf;

use anyhow::{bail, Context};
use clap::{Parser, Subcommand};
use sea_orm::{ColumnTrait, DbBackend, EntityTrait, QueryFilter};

use salesguard_api::audit;
use salesguard_api::services::admin::{insert_user, NewUser};
use salesguard_api::{AppState, Settings};
use salesguard_config::LogFormat;
use salesguard_domain::Position;
use salesguard_entities::model::{region, user};

#[derive(Parser)]
#[command(
    name = "salesguard",
    version,
    about = "Sales control: order-to-cash with separation of duties, and channel risk signals"
)]
struct Cli {
    /// Configuration file (TOML). Default: ./salesguard.toml if it exists.
    #[arg(long, global = true)]
    config: Option<PathBuf>,
    #[command(subcommand)]
    command: Option<Command>,
}

#[derive(Subcommand)]
enum Command {
    /// Run the GraphQL API (the default).
    Serve,
    /// Run only the background worker: the outbox relay, the cron
    /// schedules and the job worker (recompute risk signals).
    Worker,
    /// Apply pending database migrations and exit.
    Migrate,
    /// Manage users.
    User {
        #[command(subcommand)]
        command: UserCommand,
    },
    /// The audit trail.
    Audit {
        #[command(subcommand)]
        command: AuditCommand,
    },
    /// Print the GraphQL schema (SDL).
    Schema,
    /// The weekly risk reports for managers.
    Report {
        #[command(subcommand)]
        command: ReportCommand,
    },
    /// Load a synthetic year of business with planted anomalies (every
    /// risk signal fires); `--bulk` for benchmark-sized data sets.
    Demo(salesguard_demo::DemoArgs),
    /// Export a dataset (orders, order_lines, payments, shipments,
    /// serial_events, forecasts, signals) as CSV or Parquet, with the
    /// scope and position checks of `--username`.
    Export(ExportArgs),
}

#[derive(Subcommand)]
enum UserCommand {
    /// Create a user. The password is read from the environment variable
    /// SALESGUARD_NEW_PASSWORD or, if unset, from standard input.
    Create {
        #[arg(long)]
        username: String,
        /// admin, salesperson, sales_assistant, supervisor, finance,
        /// warehouse, management, market_specialist, supervision,
        /// call_center, analyst
        #[arg(long)]
        position: String,
        #[arg(long)]
        display_name: Option<String>,
        #[arg(long)]
        email: Option<String>,
        /// Region code the user works in (repeatable).
        #[arg(long = "region")]
        regions: Vec<String>,
        /// The user sees every region.
        #[arg(long)]
        all_regions: bool,
    },
}

#[derive(Subcommand)]
enum ReportCommand {
    /// Build the weekly risk report of every manager (those not built yet)
    /// and mail what is due, now.
    Weekly {
        /// Run now (the only mode; the worker runs it on `[report] cron`).
        #[arg(long)]
        now: bool,
        /// A day of the week to report on (default: the last complete week).
        #[arg(long)]
        week_of: Option<chrono::NaiveDate>,
    },
}

#[derive(Subcommand)]
enum AuditCommand {
    /// Recompute every hash chain; exit 1 and name the first altered record
    /// if the trail was tampered with.
    Verify,
}

fn init_tracing(format: LogFormat) {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info,sqlx=warn,sea_orm=warn"));
    let builder = tracing_subscriber::fmt().with_env_filter(filter);
    match format {
        LogFormat::Json => builder.json().init(),
        LogFormat::Pretty => builder.init(),
    }
}

fn main() -> anyhow::Result<()> {
    salesguard_worker::limit_malloc_arenas(2);
    tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?
        .block_on(run())
}

async fn run() -> anyhow::Result<()> {
    let cli = Cli::parse();
    if let Some(Command::Schema) = cli.command {
        print!("{}", salesguard_api::graphql::sdl());
        return Ok(());
    }
    let settings = Settings::load(cli.config.as_deref())?;
    init_tracing(settings.log_format);
    match cli.command.unwrap_or(Command::Serve) {
        Command::Serve => serve(settings).await,
        Command::Worker => {
            let ctx = salesguard_worker::Ctx::from_settings(settings).await?;
            salesguard_worker::run(ctx, shutdown_signal()).await
        }
        Command::Migrate => {
            AppState::from_settings(settings).await?;
            tracing::info!("migrations applied");
            Ok(())
        }
        Command::User {
            command:
                UserCommand::Create {
                    username,
                    position,
                    display_name,
                    email,
                    regions,
                    all_regions,
                },
        } => {
            let app = AppState::from_settings(settings).await?;
            let position: Position = position.parse()?;
            let password = match std::env::var("SALESGUARD_NEW_PASSWORD") {
                Ok(p) => p,
                Err(_) => {
                    eprintln!("password for {username} (from standard input):");
                    let mut s = String::new();
                    std::io::stdin().read_to_string(&mut s)?;
                    s.trim_end_matches(['\n', '\r']).to_owned()
                }
            };
            let txn = app.db.begin().await?;
            let mut region_ids = vec![];
            for code in &regions {
                let r = region::Entity::find()
                    .filter(region::Column::Code.eq(code.clone()))
                    .one(&txn)
                    .await?
                    .with_context(|| format!("no region with code {code}"))?;
                region_ids.push(r.id);
            }
            let new = NewUser {
                display_name: display_name.unwrap_or_else(|| username.clone()),
                username: username.clone(),
                email,
                position,
                password,
                region_ids,
                all_regions,
            };
            let (id, record) = match insert_user(&txn, new).await {
                Ok(v) => v,
                Err(salesguard_api::error::ServiceError::User(e)) => {
                    bail!(
                        "{}: {}",
                        e.field.map(|f| f.join(".")).unwrap_or_default(),
                        e.message
                    )
                }
                Err(salesguard_api::error::ServiceError::App(e)) => bail!("{e:?}"),
            };
            audit::append(
                &txn,
                audit::Entry {
                    stream: audit::stream_for("User", id),
                    action: "userCreate".into(),
                    outcome: "OK".into(),
                    entity_type: Some("User".into()),
                    entity_id: Some(id),
                    after: Some(record.to_string()),
                    detail: Some("created from the command line".into()),
                    ..audit::Entry::default()
                },
            )
            .await?;
            txn.commit().await?;
            println!("created user {username} ({position}) with id {id}");
            Ok(())
        }
        Command::Audit {
            command: AuditCommand::Verify,
        } => {
            let app = AppState::from_settings(settings).await?;
            let v = audit::verify(&app.db.read).await?;
            match v.first_broken {
                None => {
                    println!(
                        "audit trail intact: {} records in {} chains",
                        v.records, v.streams
                    );
                    Ok(())
                }
                Some((id, why)) => {
                    println!("audit trail ALTERED: first altered record id {id}: {why}");
                    std::process::exit(1);
                }
            }
        }
        Command::Demo(args) => {
            let app = AppState::from_settings(settings).await?;
            salesguard_demo::run(app, args).await
        }
        Command::Export(args) => export(settings, args).await,
        Command::Report {
            command: ReportCommand::Weekly { now, week_of },
        } => {
            if !now {
                bail!("`report weekly` runs on demand with --now (the worker runs it on its schedule)");
            }
            let ctx = salesguard_worker::Ctx::from_settings(settings).await?;
            let (week, run, sent) = salesguard_worker::report::weekly_now(&ctx, week_of).await?;
            println!(
                "week {} to {}: {} reports built, {} existing, {} failed; mailed {}, to retry {}, failed {}",
                week.start, week.end, run.built.len(), run.existing, run.failed.len(),
                sent.sent, sent.retrying, sent.failed
            );
            for (user, why) in &run.failed {
                eprintln!("report for {user} not built: {why}");
            }
            if run.failed.is_empty() {
                Ok(())
            } else {
                std::process::exit(1)
            }
        }
        Command::Schema => Ok(()),
    }
}

#[derive(clap::Args)]
struct ExportArgs {
    /// orders, order_lines, payments, shipments, serial_events, forecasts, signals
    dataset: String,
    /// csv or parquet
    #[arg(long, default_value = "csv")]
    format: String,
    /// The file to write.
    #[arg(long)]
    out: PathBuf,
    /// First business day (YYYY-MM-DD).
    #[arg(long)]
    from: Option<String>,
    /// Last business day (YYYY-MM-DD).
    #[arg(long)]
    to: Option<String>,
    /// The user whose regions and position apply.
    #[arg(long)]
    username: String,
}

/// `salesguard export`: the HTTP export's pipeline, written to a file (via a
/// temporary file renamed at the end, so a failed export leaves no file).
async fn export(settings: Settings, a: ExportArgs) -> anyhow::Result<()> {
    use salesguard_api::error::AppError;
    use salesguard_api::export;
    fn cli_err(e: AppError) -> anyhow::Error {
        match e {
            AppError::Internal(e) => e,
            e => anyhow::anyhow!("{}: {}", e.code(), e.message()),
        }
    }
    let app = AppState::from_settings(settings).await?;
    let req = export::parse_file(
        &format!("{}.{}", a.dataset, a.format),
        a.from.as_deref(),
        a.to.as_deref(),
    )
    .map_err(cli_err)?;
    let u = user::Entity::find()
        .filter(user::Column::Username.eq(a.username.clone()))
        .one(&app.db.read)
        .await?
        .filter(|u| u.active)
        .with_context(|| format!("no active user {}", a.username))?;
    let actor = salesguard_api::auth::load_actor(&app.db.read, &app, u)
        .await
        .map_err(cli_err)?;
    let rx = export::run(&app, &actor, &req).await.map_err(cli_err)?;
    let mut tmp = a.out.clone().into_os_string();
    tmp.push(".partial");
    let tmp = PathBuf::from(tmp);
    let mut f = tokio::fs::File::create(&tmp)
        .await
        .with_context(|| format!("cannot write {}", tmp.display()))?;
    match export::write_to(rx, &mut f).await {
        Ok(bytes) => {
            f.sync_all().await?;
            tokio::fs::rename(&tmp, &a.out).await?;
            eprintln!("wrote {} ({bytes} bytes)", a.out.display());
            Ok(())
        }
        Err(e) => {
            let _ = tokio::fs::remove_file(&tmp).await;
            bail!("export failed: {e}")
        }
    }
}

async fn serve(settings: Settings) -> anyhow::Result<()> {
    tracing::info!(settings = ?settings, "starting");
    let bind = settings.bind.clone();
    let app = AppState::from_settings(settings).await?;
    let users = user::Entity::find().all(&app.db.read).await?.len();
    if users == 0 {
        tracing::warn!(
            "no users yet: create the first administrator with \
             `cargo run -- user create --username admin --position admin --all-regions` \
             (password from SALESGUARD_NEW_PASSWORD or standard input)"
        );
    }
    let listener = tokio::net::TcpListener::bind(&bind)
        .await
        .with_context(|| format!("cannot listen on {bind}"))?;
    tracing::info!("GraphQL API on http://{}/graphql", listener.local_addr()?);
    let (stop_tx, stop_rx) = tokio::sync::watch::channel(false);
    tokio::spawn(async move {
        shutdown_signal().await;
        let _ = stop_tx.send(true);
    });
    let stopped = |mut rx: tokio::sync::watch::Receiver<bool>| async move {
        let _ = rx.wait_for(|s| *s).await;
    };
    let worker = if app.settings.worker_in_serve && app.db.backend() == DbBackend::Sqlite {
        salesguard_worker::schedules(&app.settings.signals_cron)?;
        let ctx = salesguard_worker::Ctx::new(app.db.clone(), app.settings.clone())?;
        let stop = stopped(stop_rx.clone());
        Some(tokio::spawn(async move {
            if let Err(e) = salesguard_worker::run(ctx, stop).await {
                tracing::error!(error = %format!("{e:#}"), "the in-process worker stopped");
            }
        }))
    } else {
        None
    };
    let served = salesguard_api::http::serve(app, listener, stopped(stop_rx)).await;
    if let Some(w) = worker {
        let _ = w.await;
    }
    served
}

/// Ctrl-C, or SIGTERM on Unix.
async fn shutdown_signal() {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{signal, SignalKind};
        match signal(SignalKind::terminate()) {
            Ok(mut term) => {
                tokio::select! {
                    _ = tokio::signal::ctrl_c() => {}
                    _ = term.recv() => {}
                }
            }
            Err(_) => {
                let _ = tokio::signal::ctrl_c().await;
            }
        }
    }
    #[cfg(not(unix))]
    {
        let _ = tokio::signal::ctrl_c().await;
    }
}
