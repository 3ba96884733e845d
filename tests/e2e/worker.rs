//! The background worker: a business change writes an outbox row in its
//! transaction; `salesguard worker` (a separate process) relays it to the
//! apalis queue and runs "recompute risk signals" once per change.
use std::process::Stdio;
use std::time::{Duration, Instant};

use sea_orm::{ConnectionTrait, DbBackend, Statement};
use serde_json::json;

use salesguard_testkit::Server;
use salesguard_worker::{recompute_signals, RecomputeSignals, RunOutcome};

/// `salesguard worker` on the server's database; killed when dropped.
fn spawn_worker(server: &Server) -> tokio::process::Child {
    tokio::process::Command::new(env!("CARGO_BIN_EXE_salesguard"))
        .arg("worker")
        .env("SALESGUARD_DATABASE_URL", &server.database_url)
        .env("SALESGUARD_WORKER_COPY_DIR", "")
        .env("RUST_LOG", "warn")
        .current_dir(std::env::temp_dir())
        .stdout(Stdio::null())
        .stderr(Stdio::inherit())
        .kill_on_drop(true)
        .spawn()
        .expect("start `salesguard worker`")
}

fn sql(server: &Server, pg: &str) -> String {
    match server.app.db.backend() {
        DbBackend::Postgres => pg.to_owned(),
        _ => {
            // $1, $2 … → ?
            let mut out = String::new();
            let mut chars = pg.chars().peekable();
            while let Some(c) = chars.next() {
                if c == '$' {
                    while chars.peek().is_some_and(|d| d.is_ascii_digit()) {
                        chars.next();
                    }
                    out.push('?');
                } else {
                    out.push(c);
                }
            }
            out
        }
    }
}

async fn count(server: &Server, query: &str, values: Vec<sea_orm::Value>) -> i64 {
    let db = &server.app.db.read;
    let row = db
        .query_one_raw(Statement::from_sql_and_values(
            db.get_database_backend(),
            sql(server, query),
            values,
        ))
        .await
        .expect("query")
        .expect("a row");
    row.try_get_by_index::<i64>(0).expect("a count")
}

/// Finished, successful runs for a key.
async fn finished_runs(server: &Server, key: &str) -> i64 {
    count(
        server,
        "SELECT COUNT(*) FROM job_runs WHERE dedup_key = $1 \
         AND finished_at IS NOT NULL AND error IS NULL",
        vec![key.into()],
    )
    .await
}

async fn relayed(server: &Server, key: &str) -> bool {
    count(
        server,
        "SELECT COUNT(*) FROM outbox WHERE dedup_key = $1 AND relayed_at IS NOT NULL",
        vec![key.into()],
    )
    .await
        == 1
}

/// Polls `check` for up to 20 s.
async fn eventually<F, Fut>(what: &str, mut check: F)
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    let start = Instant::now();
    while start.elapsed() < Duration::from_secs(20) {
        if check().await {
            return;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    panic!("not within 20 s: {what}");
}

e2e!(
    outbox_relay_and_job_run_once,
    |server: salesguard_testkit::Server, w: salesguard_testkit::World| async move {
        let team = w.north.clone();
        let order = w.file_order(&team, 1, "100.00").await.expect("file");
        let order = w
            .advance_to(&team, order, "shipmentShip")
            .await
            .expect("ship");
        assert_eq!(order["status"], "SHIPPED");
        let db = &server.app.db.read;
        let row = db
            .query_one_raw(Statement::from_sql_and_values(
                db.get_database_backend(),
                sql(
                    &server,
                    "SELECT id, version FROM sales_orders WHERE number = $1",
                ),
                [order["number"].as_str().unwrap_or_default().into()],
            ))
            .await
            .expect("query")
            .expect("the order");
        let id: i64 = row.try_get("", "id").expect("id");
        let version: i64 = row.try_get("", "version").expect("version");
        // Written in the shipment's transaction, not relayed yet.
        let key = format!("signals:order:{id}:v{version}");
        assert_eq!(
            count(
                &server,
                "SELECT COUNT(*) FROM outbox WHERE dedup_key = $1 AND kind = 'recompute_signals' \
                 AND relayed_at IS NULL",
                vec![key.clone().into()],
            )
            .await,
            1,
            "outbox row of the shipment"
        );

        let mut worker = spawn_worker(&server);
        eventually("the shipment's job ran", || async {
            finished_runs(&server, &key).await == 1
        })
        .await;
        assert!(relayed(&server, &key).await, "outbox row marked relayed");
        // The jobs queued together ran once: the first read the data, the
        // others were covered by it.
        let rows_read = count(
            &server,
            "SELECT COALESCE(MAX(rows_read), 0) FROM job_runs WHERE error IS NULL",
            vec![],
        )
        .await;
        assert!(
            rows_read >= 3,
            "the run read the order, its lines, its payments: {rows_read}"
        );
        // The payments of the chain were changes too.
        eventually("every outbox row relayed", || async {
            count(
                &server,
                "SELECT COUNT(*) FROM outbox WHERE relayed_at IS NULL",
                vec![],
            )
            .await
                == 0
        })
        .await;

        // Replaying the outbox entry queues nothing new: the key is taken.
        let db = &server.app.db.write;
        db.execute_raw(Statement::from_sql_and_values(
            db.get_database_backend(),
            sql(
                &server,
                "UPDATE outbox SET relayed_at = NULL WHERE dedup_key = $1",
            ),
            [key.clone().into()],
        ))
        .await
        .expect("replay");
        eventually("the replayed row relayed again", || async {
            relayed(&server, &key).await
        })
        .await;
        tokio::time::sleep(Duration::from_secs(2)).await;
        assert_eq!(finished_runs(&server, &key).await, 1, "no second run");
        // Running the job again by hand (a redelivery) does nothing either.
        let again = recompute_signals(
            &server.worker(),
            &RecomputeSignals {
                trigger: "shipmentShip".into(),
                dedup_key: key.clone(),
                requested_at: None,
                as_of: None,
            },
            "test",
        )
        .await
        .expect("rerun");
        assert_eq!(again, RunOutcome::AlreadyDone);
        assert_eq!(finished_runs(&server, &key).await, 1, "no second run");
        assert_eq!(
            count(
                &server,
                "SELECT COUNT(*) FROM job_runs WHERE error IS NOT NULL",
                vec![],
            )
            .await,
            0,
            "no failed runs"
        );

        if server.app.db.backend() != DbBackend::Postgres {
            let _ = worker.kill().await;
            return;
        }
        // Two workers side by side: each change is run once, by one of them.
        let mut second = spawn_worker(&server);
        tokio::time::sleep(Duration::from_secs(1)).await;
        let keys: Vec<String> = (0..30).map(|i| format!("test:two-workers:{i}")).collect();
        for k in &keys {
            salesguard_api::outbox::enqueue(
                &server.app.db.write,
                "recompute_signals",
                k,
                json!({"trigger": "test"}),
            )
            .await
            .expect("enqueue");
        }
        eventually("all 30 jobs ran", || async {
            count(
                &server,
                "SELECT COUNT(*) FROM job_runs WHERE dedup_key LIKE 'test:two-workers:%' \
                 AND finished_at IS NOT NULL",
                vec![],
            )
            .await
                == 30
        })
        .await;
        tokio::time::sleep(Duration::from_secs(2)).await;
        for k in &keys {
            assert_eq!(
                count(
                    &server,
                    "SELECT COUNT(*) FROM job_runs WHERE dedup_key = $1",
                    vec![k.clone().into()],
                )
                .await,
                1,
                "{k} ran once"
            );
            assert_eq!(
                count(
                    &server,
                    "SELECT COUNT(*) FROM apalis.jobs WHERE job_type = $1 \
                     AND idempotency_key = $2 AND status = 'Done' AND attempts = 1",
                    vec![RecomputeSignals::QUEUE.into(), k.clone().into()],
                )
                .await,
                1,
                "{k} queued once, done on the first attempt"
            );
        }
        let workers = count(
            &server,
            "SELECT COUNT(DISTINCT worker) FROM job_runs WHERE dedup_key LIKE 'test:two-workers:%'",
            vec![],
        )
        .await;
        assert!((1..=2).contains(&workers), "{workers} workers");
        let _ = second.kill().await;
        let _ = worker.kill().await;
    }
);
