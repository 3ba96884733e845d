//! Group commit for the workflow's write transactions on SQLite.
//!
//! SQLite has one writer, and with `synchronous = FULL` every commit waits
//! for the disk (an fsync). PostgreSQL commits the transactions of many
//! connections with one WAL flush; SQLite cannot, so one step after the
//! other held the write connection for its `BEGIN`, its statements and its
//! own fsync. Here the steps that arrive while another runs join one open
//! transaction, each in a savepoint of its own, and the last of them commits
//! the lot: one `BEGIN IMMEDIATE`, one `COMMIT`, one fsync for the group.
//!
//! What a step sees does not change: the steps of a group run one after the
//! other (a mutex), each sees what the ones before it wrote, and a step that
//! fails is rolled back to its savepoint without touching the others. No
//! step answers before the group's commit is on disk, so a client never
//! hears of a change that a crash could take back; if the commit fails,
//! every step of the group reports the error and none of them took effect.
//!
//! A group ends when no step is waiting to join it, when it holds
//! [`MAX_MEMBERS`] steps, or [`MAX_OPEN`] after it began (a step whose
//! request was dropped half-way cannot leave it open). Before a step ends
//! a group because no one waits, it yields to the scheduler a few times
//! ([`YIELDS_BEFORE_COMMIT`]), as PostgreSQL's `commit_delay` waits for
//! commits to share a flush: a request that is a moment from joining
//! (clients move in step) joins this group instead of waiting for its
//! commit and beginning the next (measured in docs/performance.md).
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use sea_orm::{
    ConnectionTrait, DatabaseTransaction, DbErr, QueryResult, Statement, TransactionTrait,
};
use tokio::sync::{watch, Mutex, OwnedMutexGuard};

/// Steps in one group at most.
pub const MAX_MEMBERS: usize = 32;
/// How often a step that would commit its group yields first.
pub const YIELDS_BEFORE_COMMIT: usize = 3;
/// How long a group stays open at most.
pub const MAX_OPEN: Duration = Duration::from_millis(50);

/// How a group ended: `None` while open, then the commit's outcome.
type Outcome = Option<Result<(), String>>;

struct Group {
    id: u64,
    txn: DatabaseTransaction,
    members: usize,
    done: watch::Sender<Outcome>,
}

#[derive(Default)]
pub struct GroupCommit {
    open: Arc<Mutex<Option<Group>>>,
    /// Steps waiting for the mutex to join (or start) a group.
    queued: AtomicUsize,
    next_id: AtomicU64,
}

/// A step's place in a group: it holds the group (the mutex) until the
/// step's savepoint is released or rolled back. Keep it after the step's
/// transaction: a step dropped half-way (its request went away) then queues
/// its rollback on the connection before it lets the next step run, and the
/// group goes on with that step or ends after [`MAX_OPEN`].
pub struct Member {
    guard: OwnedMutexGuard<Option<Group>>,
    gc: Arc<GroupCommit>,
}

/// Counts a step as queued until it holds the mutex, also when its request
/// is dropped while it waits.
struct Queued<'a>(&'a AtomicUsize);

impl Drop for Queued<'_> {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::SeqCst);
    }
}

fn lost() -> DbErr {
    DbErr::Custom("the group's transaction ended before the step".into())
}

impl GroupCommit {
    /// Joins the open group, or begins one with `begin` (the database's
    /// `BEGIN IMMEDIATE`). Returns the step's transaction (a savepoint).
    pub async fn join<F, Fut>(
        self: &Arc<Self>,
        begin: F,
    ) -> Result<(DatabaseTransaction, Member), DbErr>
    where
        F: FnOnce() -> Fut,
        Fut: std::future::Future<Output = Result<DatabaseTransaction, DbErr>>,
    {
        let member = self.enter(begin).await?;
        let txn = member.group()?.txn.begin().await?;
        Ok((txn, member))
    }

    /// Runs a step's writes in the open group (or one begun with `begin`):
    /// first `check`, a query that returns a row when every guard of the
    /// step holds (its rows at the versions it read, …); then, if it did,
    /// `batch`, the writes as one multi-statement query, between a
    /// `SAVEPOINT` and its `RELEASE` sent with it. The group holds SQLite's
    /// only writer, so nothing moves between the check and the writes.
    /// `Ok(None)`: a guard missed and nothing was written. If the batch
    /// fails, its savepoint is rolled back and the error returned. Returns
    /// the batch's rows once the group's commit is on disk.
    pub async fn write<F, Fut>(
        self: &Arc<Self>,
        begin: F,
        check: Statement,
        batch: Statement,
    ) -> Result<Option<Vec<QueryResult>>, DbErr>
    where
        F: FnOnce() -> Fut,
        Fut: std::future::Future<Output = Result<DatabaseTransaction, DbErr>>,
    {
        let member = self.enter(begin).await?;
        let txn = &member.group()?.txn;
        match txn.query_one_raw(check).await {
            Ok(Some(_)) => {}
            Ok(None) => {
                member.settle(Ok(())).await?;
                return Ok(None);
            }
            Err(e) => {
                member.settle(Ok(())).await?;
                return Err(e);
            }
        }
        let Statement {
            sql,
            values,
            db_backend,
        } = batch;
        let stmt = Statement {
            sql: format!("SAVEPOINT sg_step; {sql}; RELEASE sg_step"),
            values,
            db_backend,
        };
        let res = txn.query_all_raw(stmt).await;
        let settled = match &res {
            Ok(_) => Ok(()),
            Err(_) => txn
                .execute_unprepared("ROLLBACK TO sg_step; RELEASE sg_step")
                .await
                .map(|_| ()),
        };
        member.settle(settled).await?;
        res.map(Some)
    }

    /// Enters the open group, or begins one with `begin`, without a
    /// savepoint: the step holds the group until it settles.
    async fn enter<F, Fut>(self: &Arc<Self>, begin: F) -> Result<Member, DbErr>
    where
        F: FnOnce() -> Fut,
        Fut: std::future::Future<Output = Result<DatabaseTransaction, DbErr>>,
    {
        self.queued.fetch_add(1, Ordering::SeqCst);
        let queued = Queued(&self.queued);
        let mut guard = self.open.clone().lock_owned().await;
        drop(queued);
        if guard.is_none() {
            let txn = begin().await?;
            let id = self.next_id.fetch_add(1, Ordering::Relaxed);
            *guard = Some(Group {
                id,
                txn,
                members: 0,
                done: watch::Sender::new(None),
            });
            let gc = self.clone();
            tokio::spawn(async move {
                tokio::time::sleep(MAX_OPEN).await;
                let guard = gc.open.clone().lock_owned().await;
                if guard.as_ref().is_some_and(|g| g.id == id) {
                    if let Err(e) = end(guard).await {
                        tracing::error!(error = %e, "group commit failed");
                    }
                }
            });
        }
        let group = guard.as_mut().ok_or_else(lost)?;
        group.members += 1;
        Ok(Member {
            guard,
            gc: self.clone(),
        })
    }
}

/// Commits the open group and tells its members. In a task of its own: a
/// request dropped while it waits (its client went away) must not cut the
/// commit short, which would leave the others not knowing whether their
/// steps were committed.
async fn end(guard: OwnedMutexGuard<Option<Group>>) -> Result<(), DbErr> {
    tokio::spawn(async move {
        let mut guard = guard;
        let Some(group) = guard.take() else {
            return Ok(());
        };
        let res = group.txn.commit().await;
        tracing::debug!(
            group = group.id,
            steps = group.members,
            ok = res.is_ok(),
            "group commit"
        );
        group
            .done
            .send_replace(Some(res.as_ref().map(|_| ()).map_err(|e| e.to_string())));
        res
    })
    .await
    .map_err(|e| DbErr::Custom(format!("the group's commit stopped: {e}")))?
}

impl Member {
    /// Ends the step: its savepoint is released (`keep`) or rolled back,
    /// then the step waits for its group's commit, or commits the group
    /// itself when no other step is waiting to join. Ok when the step's
    /// writes (if kept) are on disk.
    pub async fn finish(self, txn: DatabaseTransaction, keep: bool) -> Result<(), DbErr> {
        let step = if keep {
            txn.commit().await
        } else {
            txn.rollback().await
        };
        self.settle(step).await
    }

    /// The group the step is in.
    fn group(&self) -> Result<&Group, DbErr> {
        self.guard.as_ref().ok_or_else(lost)
    }

    /// Ends the step once its savepoint is released or rolled back
    /// (`step`: how that went): then the step waits for its group's commit,
    /// or commits the group itself when no other step is waiting to join.
    async fn settle(self, step: Result<(), DbErr>) -> Result<(), DbErr> {
        let Member { mut guard, gc } = self;
        let Some(group) = guard.as_ref() else {
            return Err(lost());
        };
        if let Err(e) = step {
            // The savepoint's state is unknown: end the group without it.
            if let Some(group) = guard.take() {
                group.done.send_replace(Some(Err(e.to_string())));
                let _ = group.txn.rollback().await;
            }
            return Err(e);
        }
        if group.members < MAX_MEMBERS {
            // A step about to join may be waiting for this thread: let
            // it run before the group commits without it.
            for _ in 0..YIELDS_BEFORE_COMMIT {
                if gc.queued.load(Ordering::SeqCst) > 0 {
                    break;
                }
                tokio::task::yield_now().await;
            }
        }
        if gc.queued.load(Ordering::SeqCst) == 0 || group.members >= MAX_MEMBERS {
            return end(guard).await;
        }
        let mut done = group.done.subscribe();
        drop(guard);
        let outcome = done
            .wait_for(Option::is_some)
            .await
            .map_err(|_| DbErr::Custom("the group's commit was interrupted".into()))?
            .clone();
        match outcome {
            Some(Ok(())) => Ok(()),
            Some(Err(e)) => Err(DbErr::Custom(format!("group commit failed: {e}"))),
            None => Err(lost()),
        }
    }
}
