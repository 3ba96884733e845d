//! End-to-end tests: the real app on port 0, GraphQL over HTTP.
//!
//! Every test defined with `e2e!` runs on SQLite and, when
//! `SALESGUARD_TEST_PG_URL` is set (e.g. `postgres://postgres@127.0.0.1:5432/test`),
//! also on PostgreSQL, each in a fresh database.
use std::future::Future;

use salesguard::testkit::{Server, World};

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

/// Starts a server on the backend; `None` when PostgreSQL is not configured
/// (the test is then skipped with a note).
pub async fn server(backend: Backend) -> Option<Server> {
    let url = match backend {
        Backend::Sqlite => None,
        Backend::Postgres => match pg_url() {
            Some(u) => Some(u),
            None => {
                eprintln!("SALESGUARD_TEST_PG_URL not set: PostgreSQL variant skipped");
                return None;
            }
        },
    };
    match Server::start(url.as_deref()).await {
        Ok(s) => Some(s),
        Err(e) => panic!("server did not start: {e:?}"),
    }
}

/// Starts a server and builds the fixture world on it.
pub async fn world(backend: Backend) -> Option<(Server, World)> {
    let s = server(backend).await?;
    let w = World::create(&s.base_url()).await.expect("fixture world");
    Some((s, w))
}

pub async fn run<F, Fut>(backend: Backend, f: F)
where
    F: FnOnce(Server, World) -> Fut,
    Fut: Future<Output = ()>,
{
    if let Some((s, w)) = world(backend).await {
        // The test may not hold on to its server: keep it up until the end.
        let keep = s.clone();
        f(s, w).await;
        drop(keep);
    }
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
