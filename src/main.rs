//! `salesguard`: the command line. `cargo run` serves the API on the embedded
//! SQLite database; see `salesguard --help`.
use std::io::Read;
use std::path::PathBuf;

use anyhow::{bail, Context};
use clap::{Parser, Subcommand};
use sea_orm::{ColumnTrait, DbBackend, EntityTrait, QueryFilter};

use salesguard_api::audit;
use salesguard_api::config::LogFormat;
use salesguard_api::services::admin::{insert_user, NewUser};
use salesguard_api::{AppState, Settings};
use salesguard_entities::model::{region, user};
use salesguard_entities::rules::Position;

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
    /// Load a synthetic year of business with planted anomalies (every
    /// risk signal fires); `--bulk` for benchmark-sized data sets.
    Demo(salesguard::demo::DemoArgs),
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

#[tokio::main]
async fn main() -> anyhow::Result<()> {
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
            let app = AppState::from_settings(settings).await?;
            salesguard_worker::run(app, shutdown_signal()).await
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
            salesguard::demo::run(app, args).await
        }
        Command::Schema => Ok(()),
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
        let (app, stop) = (app.clone(), stopped(stop_rx.clone()));
        Some(tokio::spawn(async move {
            if let Err(e) = salesguard_worker::run(app, stop).await {
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
