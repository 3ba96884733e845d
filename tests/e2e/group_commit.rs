//! Group commit on SQLite (`api/src/group_commit.rs`): the workflow's steps
//! that overlap share one transaction, each in a savepoint of its own. These
//! tests drive `Db::begin_step` / `finish_step` directly on a SQLite file,
//! in the order a busy server would: they check that a step keeps or loses
//! only its own writes, answers only once they are on disk, and that a step
//! dropped half-way (its request went away) leaves nothing and holds up no
//! one. The whole chain runs in groups in every other SQLite test.
use std::time::Duration;

use salesguard_entities::db::{finish_step, Db};
use sea_orm::{ConnectionTrait, DatabaseConnection, DatabaseTransaction};

async fn scratch_db() -> (tempfile::TempDir, Db) {
    let dir = tempfile::tempdir().expect("temp dir");
    let url = format!("sqlite://{}?mode=rwc", dir.path().join("g.db").display());
    let db = Db::connect(&url, 4).await.expect("open SQLite");
    db.write
        .execute_unprepared("CREATE TABLE scratch (v TEXT NOT NULL)")
        .await
        .expect("create table");
    (dir, db)
}

async fn insert(txn: &DatabaseTransaction, v: &str) {
    txn.execute_unprepared(&format!("INSERT INTO scratch (v) VALUES ('{v}')"))
        .await
        .expect("insert");
}

/// The committed values, read on a connection of the read pool.
async fn committed(read: &DatabaseConnection) -> Vec<String> {
    let rows = read
        .query_all_raw(sea_orm::Statement::from_string(
            read.get_database_backend(),
            "SELECT v FROM scratch ORDER BY v",
        ))
        .await
        .expect("read");
    rows.iter()
        .map(|r| r.try_get::<String>("", "v").expect("v"))
        .collect()
}

#[tokio::test]
async fn steps_of_one_group_keep_or_lose_their_own_writes_and_answer_after_the_commit() {
    let (_dir, db) = scratch_db().await;
    // A holds the group while B and C arrive and queue to join it.
    let (a, a_member) = db.begin_step().await.expect("A begins");
    insert(&a, "a").await;
    let b = tokio::spawn({
        let db = db.clone();
        async move {
            let (txn, member) = db.begin_step().await.expect("B begins");
            insert(&txn, "b").await;
            // B fails: its savepoint is rolled back.
            finish_step(txn, member, false).await
        }
    });
    let c = tokio::spawn({
        let db = db.clone();
        async move {
            let (txn, member) = db.begin_step().await.expect("C begins");
            insert(&txn, "c").await;
            finish_step(txn, member, true).await
        }
    });
    tokio::time::sleep(Duration::from_millis(100)).await;
    // B and C wait for the group; A's write is not on disk yet.
    assert!(!b.is_finished() && !c.is_finished());
    assert_eq!(committed(&db.read).await, Vec::<String>::new());
    finish_step(a, a_member, true).await.expect("A ends");
    // A answers only when its write is committed: C, the last to join,
    // committed the group.
    assert_eq!(committed(&db.read).await, ["a", "c"]);
    b.await.expect("B ran").expect("B's rollback");
    c.await.expect("C ran").expect("C's commit");
    assert_eq!(committed(&db.read).await, ["a", "c"]);
}

#[tokio::test]
async fn a_step_dropped_half_way_leaves_nothing_and_holds_up_no_writer() {
    let (_dir, db) = scratch_db().await;
    let (txn, member) = db.begin_step().await.expect("begins");
    insert(&txn, "dropped").await;
    // The request goes away: its transaction first, then its place.
    drop(txn);
    drop(member);
    // Nobody else was waiting to join; the group still ends, and a plain
    // write transaction gets the one write connection (the pool would
    // wait 30 s for it).
    let plain = tokio::time::timeout(Duration::from_secs(5), async {
        let txn = db.begin().await.expect("begin");
        txn.execute_unprepared("INSERT INTO scratch (v) VALUES ('plain')")
            .await
            .expect("insert");
        txn.commit().await.expect("commit");
    })
    .await;
    assert!(plain.is_ok(), "the dropped step's group held the writer");
    // A step after it runs in a group of its own and commits.
    let (txn, member) = db.begin_step().await.expect("next begins");
    insert(&txn, "next").await;
    finish_step(txn, member, true).await.expect("next ends");
    assert_eq!(committed(&db.read).await, ["next", "plain"]);
}
