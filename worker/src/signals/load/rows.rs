//! Reading rows of either backend straight into column vectors: typed
//! access to a row, streaming a statement's rows, building frames, and
//! running a table's load as a task of its own.
use anyhow::Context;
use chrono::{DateTime, NaiveDate, Utc};
use futures::TryStreamExt;
use polars::prelude::*;
use salesguard_entities::db::pgcopy::{copy_rows, Tuple};
use sea_orm::{DatabaseConnection, DbBackend};
use sqlx::Row;

use super::days::{date_of, day_of};

/// Typed access to a row of either backend.
pub(super) trait Cells {
    fn i64(&self, i: usize) -> anyhow::Result<i64>;
    fn opt_i64(&self, i: usize) -> anyhow::Result<Option<i64>>;
    fn text(&self, i: usize) -> anyhow::Result<String>;
    fn date(&self, i: usize) -> anyhow::Result<NaiveDate>;
    fn ts(&self, i: usize) -> anyhow::Result<DateTime<Utc>>;
    /// A nullable text, borrowed from the row.
    fn opt_str(&self, i: usize) -> anyhow::Result<Option<&str>>;
    /// A nullable text's bytes (no UTF-8 check where the backend allows).
    fn opt_bytes(&self, i: usize) -> anyhow::Result<Option<&[u8]>> {
        Ok(self.opt_str(i)?.map(str::as_bytes))
    }
    /// A date as a day number (days since 1970-01-01).
    fn day(&self, i: usize) -> anyhow::Result<i32> {
        Ok(day_of(self.date(i)?))
    }
}

macro_rules! cells {
    ($row:ty) => {
        impl Cells for $row {
            fn i64(&self, i: usize) -> anyhow::Result<i64> {
                Ok(self.try_get::<i64, _>(i)?)
            }
            fn opt_i64(&self, i: usize) -> anyhow::Result<Option<i64>> {
                Ok(self.try_get::<Option<i64>, _>(i)?)
            }
            fn text(&self, i: usize) -> anyhow::Result<String> {
                Ok(self.try_get::<String, _>(i)?)
            }
            fn date(&self, i: usize) -> anyhow::Result<NaiveDate> {
                Ok(self.try_get::<NaiveDate, _>(i)?)
            }
            fn ts(&self, i: usize) -> anyhow::Result<DateTime<Utc>> {
                Ok(self.try_get::<DateTime<Utc>, _>(i)?)
            }
            fn opt_str(&self, i: usize) -> anyhow::Result<Option<&str>> {
                Ok(self.try_get::<Option<&str>, _>(i)?)
            }
        }
    };
}
cells!(sqlx::sqlite::SqliteRow);

impl Cells for Tuple<'_> {
    fn i64(&self, i: usize) -> anyhow::Result<i64> {
        Tuple::i64(self, i)
    }
    fn opt_i64(&self, i: usize) -> anyhow::Result<Option<i64>> {
        Tuple::opt_i64(self, i)
    }
    fn text(&self, i: usize) -> anyhow::Result<String> {
        Ok(self.str(i)?.to_owned())
    }
    fn date(&self, i: usize) -> anyhow::Result<NaiveDate> {
        Ok(date_of(Tuple::day(self, i)?))
    }
    fn opt_str(&self, i: usize) -> anyhow::Result<Option<&str>> {
        Tuple::opt_str(self, i)
    }
    fn opt_bytes(&self, i: usize) -> anyhow::Result<Option<&[u8]>> {
        self.raw(i)
    }
    fn day(&self, i: usize) -> anyhow::Result<i32> {
        Tuple::day(self, i)
    }
    fn ts(&self, i: usize) -> anyhow::Result<DateTime<Utc>> {
        DateTime::from_timestamp_micros(self.micros(i)?)
            .ok_or_else(|| anyhow::anyhow!("column {i}: a timestamp out of range"))
    }
}

/// Streams the rows of `sql` into `f`.
pub(super) async fn each<F>(db: &DatabaseConnection, sql: &str, mut f: F) -> anyhow::Result<()>
where
    F: FnMut(&dyn Cells) -> anyhow::Result<()>,
{
    match db.get_database_backend() {
        DbBackend::Postgres => {
            // Binary COPY: no per-row message decoding or allocation.
            copy_rows(db.get_postgres_connection_pool(), sql, |t| f(t)).await?;
        }
        _ => {
            let pool = db.get_sqlite_connection_pool();
            let mut rows = sqlx::query(sqlx::AssertSqlSafe(sql.to_owned())).fetch(pool);
            while let Some(r) = rows.try_next().await? {
                f(&r)?;
            }
        }
    }
    Ok(())
}

pub(super) fn frame(columns: Vec<Column>) -> anyhow::Result<DataFrame> {
    DataFrame::new_infer_height(columns).map_err(|e| anyhow::anyhow!("building a frame: {e}"))
}

/// A column from a vector grown row by row: its spare capacity (up to half
/// of it after doubling) is given back first, as the frame keeps the buffer.
pub(super) fn c<T>(name: &str, mut v: Vec<T>) -> Column
where
    Series: NamedFrom<Vec<T>, [T]>,
{
    v.shrink_to_fit();
    Column::new(name.into(), v)
}

/// Runs a table's load as a task of its own, so the tables load side by
/// side (on PostgreSQL each on its own connection, the server producing
/// rows while this process parses them).
pub(super) async fn task<T, F>(what: &'static str, f: F) -> anyhow::Result<T>
where
    T: Send + 'static,
    F: std::future::Future<Output = anyhow::Result<T>> + Send + 'static,
{
    let t = std::time::Instant::now();
    let out = tokio::spawn(f)
        .await
        .with_context(|| format!("loading {what}"))?
        .with_context(|| what.to_owned())?;
    tracing::debug!(table = what, secs = t.elapsed().as_secs_f64(), "loaded");
    Ok(out)
}
