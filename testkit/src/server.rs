//! Starts the real app on port 0 against a fresh database: a SQLite file in a
//! temporary directory, or a new PostgreSQL database created from a server URL.
use std::net::SocketAddr;
use std::sync::Arc;

use anyhow::Context;
use sea_orm::{ConnectionTrait, Database};

use salesguard_api::services::admin::{insert_user, NewUser};
use salesguard_api::AppState;
use salesguard_config::Settings;
use salesguard_domain::Position;
use salesguard_entities::db::Db;

pub const ADMIN_PASSWORD: &str = "admin-password-1";

/// A running server. Clones share it; it stops (and its temporary
/// database directory goes) when the last clone is dropped.
#[derive(Clone)]
pub struct Server {
    pub addr: SocketAddr,
    pub app: AppState,
    pub database_url: String,
    _guard: Arc<Guard>,
}

struct Guard {
    shutdown: Option<tokio::sync::oneshot::Sender<()>>,
    _dir: Option<tempfile::TempDir>,
}

impl Server {
    /// A worker's job context on this server's database and settings.
    pub fn worker(&self) -> salesguard_worker::Ctx {
        worker_ctx(&self.app)
    }
}

/// A worker's job context on an app's database and settings.
pub fn worker_ctx(app: &AppState) -> salesguard_worker::Ctx {
    salesguard_worker::Ctx::new(app.db.clone(), app.settings.clone())
        .unwrap_or_else(|e| panic!("worker context: {e:#}"))
}

impl Drop for Guard {
    fn drop(&mut self) {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
    }
}

/// Creates a fresh, empty PostgreSQL database on the server at `admin_url`
/// and returns its URL.
pub async fn fresh_pg_database(admin_url: &str) -> anyhow::Result<String> {
    let name = format!("sg_test_{}_{}", std::process::id(), rand_suffix());
    let admin = Database::connect(admin_url)
        .await
        .context("cannot connect to PostgreSQL")?;
    admin
        .execute_unprepared(&format!("CREATE DATABASE {name}"))
        .await?;
    admin.close().await.ok();
    with_database(admin_url, &name)
}

/// `url` with its database name replaced, its parameters (`sslmode`, a
/// socket directory in `host`…) kept.
fn with_database(url: &str, name: &str) -> anyhow::Result<String> {
    let (base, _, query) = url_parts(url).context("PostgreSQL URL has no database name")?;
    Ok(match query {
        Some(q) => format!("{base}/{name}?{q}"),
        None => format!("{base}/{name}"),
    })
}

/// A PostgreSQL URL as (what comes before the database name, the name,
/// the parameters).
fn url_parts(url: &str) -> Option<(&str, &str, Option<&str>)> {
    let (path, query) = match url.split_once('?') {
        Some((p, q)) => (p, Some(q)),
        None => (url, None),
    };
    let (base, name) = path.rsplit_once('/')?;
    Some((base, name, query))
}

/// The database name in a PostgreSQL URL, without its parameters.
pub fn database_name(url: &str) -> Option<&str> {
    let (_, name, _) = url_parts(url)?;
    (!name.is_empty()).then_some(name)
}

/// Drops a database made by `fresh_pg_database` (best effort: a database
/// whose name is not one of those is left alone).
pub async fn drop_pg_database(admin_url: &str, url: &str) {
    let Some(name) = database_name(url).filter(|n| n.starts_with("sg_test_")) else {
        return;
    };
    if let Ok(conn) = Database::connect(admin_url).await {
        let _ = conn
            .execute_unprepared(&format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"))
            .await;
        conn.close().await.ok();
    }
}

fn rand_suffix() -> String {
    use std::sync::atomic::{AtomicU64, Ordering};
    static N: AtomicU64 = AtomicU64::new(0);
    let t = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.subsec_nanos())
        .unwrap_or_default();
    format!("{t}_{}", N.fetch_add(1, Ordering::Relaxed))
}

impl Server {
    /// `pg_admin_url`: None for SQLite; Some(url of an existing database on
    /// the server) for PostgreSQL.
    pub async fn start(pg_admin_url: Option<&str>) -> anyhow::Result<Server> {
        Server::start_with(pg_admin_url, |_| {}).await
    }

    /// Like `start`, with a hook to adjust the database handles (e.g. to
    /// count statements) before the app uses them.
    pub async fn start_with(
        pg_admin_url: Option<&str>,
        hook: impl FnOnce(&mut Db),
    ) -> anyhow::Result<Server> {
        Server::start_tuned(pg_admin_url, |_| {}, hook).await
    }

    /// Like `start_with`, with a hook to adjust the settings the server
    /// runs with first.
    pub async fn start_tuned(
        pg_admin_url: Option<&str>,
        tune: impl FnOnce(&mut Settings),
        hook: impl FnOnce(&mut Db),
    ) -> anyhow::Result<Server> {
        let (url, dir) = match pg_admin_url {
            Some(admin) => (fresh_pg_database(admin).await?, None),
            None => {
                let dir = tempfile::tempdir()?;
                let url = format!("sqlite://{}/test.db?mode=rwc", dir.path().display());
                (url, Some(dir))
            }
        };
        let defaults = Settings::default();
        let mut settings = Settings {
            database_url: url.clone(),
            bind: "127.0.0.1:0".into(),
            // A test that wants the copy on disk gives it a directory.
            worker_copy_dir: String::new(),
            // The pool's size, as the server reads it (a benchmark compares
            // sizes with `SALESGUARD_DB_MAX_CONNECTIONS=8`).
            db_max_connections: std::env::var("SALESGUARD_DB_MAX_CONNECTIONS")
                .ok()
                .and_then(|v| v.parse().ok())
                .filter(|n| *n > 0)
                .unwrap_or(defaults.db_max_connections),
            // `SALESGUARD_TEST_PLAIN_STEPS=1`: every step a plain
            // transaction (no group commit, single statements or kept loads).
            steps: if std::env::var("SALESGUARD_TEST_PLAIN_STEPS").is_ok_and(|v| v == "1") {
                salesguard_config::StepSettings::plain()
            } else {
                defaults.steps.clone()
            },
            ..defaults
        };
        tune(&mut settings);
        let mut db = Db::connect(&settings.database_url, settings.db_max_connections).await?;
        db.migrate().await?;
        hook(&mut db);
        let app = AppState::new(db, settings)?;
        let txn = app.db.begin().await?;
        insert_user(
            &txn,
            NewUser {
                username: "admin".into(),
                display_name: "Administrator".into(),
                email: None,
                position: Position::Admin,
                password: ADMIN_PASSWORD.into(),
                region_ids: vec![],
                all_regions: true,
            },
        )
        .await
        .map_err(|e| anyhow::anyhow!("bootstrap admin: {e:?}"))?;
        txn.commit().await?;
        Server::serve(app, url, dir).await
    }

    /// A second API process on this server's database, with its own pools
    /// and caches, as a deployment with several API processes has. Keep
    /// this server up while it runs (it owns a SQLite file's directory).
    pub async fn beside(&self) -> anyhow::Result<Server> {
        let settings = Settings {
            database_url: self.database_url.clone(),
            ..self.app.settings.clone()
        };
        let db = Db::connect(&settings.database_url, settings.db_max_connections).await?;
        let app = AppState::new(db, settings)?;
        Server::serve(app, self.database_url.clone(), None).await
    }

    async fn serve(
        app: AppState,
        url: String,
        dir: Option<tempfile::TempDir>,
    ) -> anyhow::Result<Server> {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
        let addr = listener.local_addr()?;
        let (tx, rx) = tokio::sync::oneshot::channel::<()>();
        let serving = app.clone();
        tokio::spawn(async move {
            let _ = salesguard_api::http::serve(serving, listener, async {
                let _ = rx.await;
            })
            .await;
        });
        Ok(Server {
            addr,
            app,
            database_url: url,
            _guard: Arc::new(Guard {
                shutdown: Some(tx),
                _dir: dir,
            }),
        })
    }

    pub fn base_url(&self) -> String {
        format!("http://{}", self.addr)
    }

    pub fn client(&self) -> super::Client {
        super::Client::new(&self.base_url())
    }

    /// The integer in the first column of the first row of `sql`.
    pub async fn scalar(&self, sql: &str) -> anyhow::Result<i64> {
        let db = &self.app.db.read;
        let row = db
            .query_one_raw(sea_orm::Statement::from_string(
                db.get_database_backend(),
                sql,
            ))
            .await?
            .with_context(|| format!("no row: {sql}"))?;
        Ok(row.try_get_by_index::<i64>(0)?)
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn a_fresh_database_keeps_the_url_parameters() -> anyhow::Result<()> {
        assert_eq!(
            super::with_database("postgres://u@h:5432/test", "x")?,
            "postgres://u@h:5432/x"
        );
        assert_eq!(
            super::with_database(
                "postgres://u@h/test?host=/var/run/postgresql&sslmode=disable",
                "x"
            )?,
            "postgres://u@h/x?host=/var/run/postgresql&sslmode=disable"
        );
        assert!(super::with_database("no-database", "x").is_err());
        Ok(())
    }

    #[test]
    fn the_database_name_leaves_out_the_url_parameters() -> anyhow::Result<()> {
        use super::database_name;
        let base = "postgres://postgres@127.0.0.1:5432/test";
        assert_eq!(database_name(base), Some("test"));
        let with_params = format!("{base}?sslmode=disable&options=-c%20a%3Db");
        assert_eq!(database_name(&with_params), Some("test"));
        let fresh = super::with_database(&with_params, "sg_test_1_2")?;
        assert_eq!(database_name(&fresh), Some("sg_test_1_2"));
        assert_eq!(database_name("postgres://postgres@127.0.0.1:5432/"), None);
        assert_eq!(database_name("no-database"), None);
        Ok(())
    }
}
