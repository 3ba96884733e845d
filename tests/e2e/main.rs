//! End-to-end tests: the real app on port 0, GraphQL over HTTP.
//!
//! Every test defined with `e2e!` runs on SQLite and on PostgreSQL, each in
//! a fresh database. The PostgreSQL variants need `SALESGUARD_TEST_PG_URL`
//! (e.g. `postgres://postgres@127.0.0.1:5432/test`); without it they are
//! ignored (`build.rs`), except under CI, where they fail.
use std::future::Future;

use salesguard_testkit::{Server, World};

/// The PostgreSQL server to create test databases on, if any.
pub fn pg_url() -> Option<String> {
    std::env::var("SALESGUARD_TEST_PG_URL")
        .ok()
        .filter(|s| !s.is_empty())
}

pub enum Backend {
    Sqlite,
    Postgres,
}

/// Starts a server on the backend. A PostgreSQL variant that runs without
/// `SALESGUARD_TEST_PG_URL` (under CI, or asked for with `--ignored`) fails.
pub async fn server(backend: Backend) -> Server {
    let url = match backend {
        Backend::Sqlite => None,
        Backend::Postgres => match pg_url() {
            Some(u) => Some(u),
            None => panic!("SALESGUARD_TEST_PG_URL is not set: the PostgreSQL variant cannot run"),
        },
    };
    match Server::start(url.as_deref()).await {
        Ok(s) => s,
        Err(e) => panic!("server did not start: {e:?}"),
    }
}

/// Starts a server and builds the fixture world on it.
pub async fn world(backend: Backend) -> (Server, World) {
    let s = server(backend).await;
    let w = World::create(&s.base_url()).await.expect("fixture world");
    (s, w)
}

pub async fn run<F, Fut>(backend: Backend, f: F)
where
    F: FnOnce(Server, World) -> Fut,
    Fut: Future<Output = ()>,
{
    let (s, w) = world(backend).await;
    // The test may not hold on to its server: keep it up until the end.
    let keep = s.clone();
    f(s, w).await;
    drop(keep);
}

/// Defines a test that runs on both databases.
#[macro_export]
macro_rules! e2e {
    ($name:ident, $body:expr) => {
        mod $name {
            #[allow(unused_imports)]
            use super::*;
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn sqlite() {
                $crate::run($crate::Backend::Sqlite, $body).await;
            }
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            #[cfg_attr(sg_no_postgres, ignore = "needs SALESGUARD_TEST_PG_URL")]
            async fn postgres() {
                $crate::run($crate::Backend::Postgres, $body).await;
            }
        }
    };
}

mod api;
mod chain;
mod concurrency;
mod export;
mod group_commit;
mod inputs;
mod kept;
mod metrics;
mod refusals;
mod report;
mod risk_api;
mod schema;
mod signals;
mod smtp;
mod worker;
