//! Reads the business data the signals need into polars frames: one
//! streaming query per table, only the columns used, straight into column
//! vectors (no per-row objects). Days are `i32` days since 1970-01-01 in
//! the business time zone.
use std::collections::{HashMap, HashSet};
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::Context;
use chrono::{DateTime, NaiveDate, Utc};
use chrono_tz::Tz;
use futures::TryStreamExt;
use polars::prelude::*;
use salesguard_entities::db::pgcopy::{copy_rows, Tuple};
use sea_orm::{DatabaseConnection, DbBackend};
use sqlx::Row;

use super::serials::{SerialIndex, SerialList};

/// Day number of a date (days since 1970-01-01).
pub fn day_of(d: NaiveDate) -> i32 {
    let epoch = NaiveDate::from_ymd_opt(1970, 1, 1).unwrap_or_default();
    i32::try_from((d - epoch).num_days()).unwrap_or(i32::MAX)
}

/// The date of a day number.
pub fn date_of(day: i32) -> NaiveDate {
    let epoch = NaiveDate::from_ymd_opt(1970, 1, 1).unwrap_or_default();
    epoch + chrono::Duration::days(i64::from(day))
}

/// Month number (year × 12 + month − 1) of a day number.
pub fn month_of_day(day: i32) -> i32 {
    use chrono::Datelike;
    let d = date_of(day);
    d.year() * 12 + d.month0() as i32
}

/// `YYYY-MM` → month number.
pub fn month_of_period(p: &str) -> Option<i32> {
    let (y, m) = p.split_once('-')?;
    let (y, m): (i32, i32) = (y.parse().ok()?, m.parse().ok()?);
    (1..=12).contains(&m).then_some(y * 12 + m - 1)
}

/// A region: its parent and what people call it.
#[derive(Debug, Clone)]
pub struct RegionDim {
    pub parent: Option<i64>,
    pub label: String,
    /// Units a year, as researched.
    pub capacity: Option<i64>,
}

#[derive(Debug, Clone)]
pub struct AgentDim {
    pub region: i64,
    pub label: String,
}

/// Everything the computation reads.
pub struct Inputs {
    /// Shipped orders: order_id, agent_id, region_id, salesperson_id,
    /// total_fen, ship_day, ship_month.
    pub orders: DataFrame,
    /// Lines of shipped orders with their order's figures: product_id,
    /// qty, price_fen, agent_id, region_id, salesperson_id, ship_day,
    /// ship_month.
    pub lo: DataFrame,
    /// order_id, amount_fen, day.
    pub payments: DataFrame,
    /// Open receivables: order_id, agent_id, outstanding_fen, due_day.
    pub receivables: DataFrame,
    /// Sell-through: id, agent_id, product_id, has_serial, unit (the
    /// serial's unit number; null without a serial or for a serial never
    /// shipped), qty, price_fen, region_id, day.
    pub sell: DataFrame,
    /// Unit sightings: id, unit (null for a serial never shipped),
    /// region_id, day.
    pub sightings: DataFrame,
    /// Shipped units: unit (number), owner_agent_id.
    pub units: DataFrame,
    /// The shipped units' serials, by unit number.
    pub serials: SerialIndex,
    /// Forecasts: id, month, region_id, product_id, salesperson_id, qty.
    pub forecasts: DataFrame,
    /// Price observations: id, product_id, region_id, tier, price_fen, day.
    pub prices: DataFrame,
    /// Price list: product_id, tier, floor_fen.
    pub floors: DataFrame,
    pub regions: HashMap<i64, RegionDim>,
    pub agents: HashMap<i64, AgentDim>,
    pub people: HashMap<i64, String>,
    pub products: HashMap<i64, String>,
    /// Order id → order number, for the orders cited as evidence.
    pub order_numbers: HashMap<i64, String>,
}

impl Inputs {
    /// Rows read, for the run record.
    pub fn rows(&self) -> usize {
        [
            &self.orders,
            &self.lo,
            &self.payments,
            &self.receivables,
            &self.sell,
            &self.sightings,
            &self.units,
            &self.forecasts,
            &self.prices,
            &self.floors,
        ]
        .iter()
        .map(|d| d.height())
        .sum()
    }

    /// The region and all its ancestors.
    pub fn ancestors(&self, region: i64) -> Vec<i64> {
        let mut out = vec![region];
        let mut at = region;
        while let Some(p) = self.regions.get(&at).and_then(|r| r.parent) {
            if out.contains(&p) {
                break;
            }
            out.push(p);
            at = p;
        }
        out
    }

    /// Whether a unit of an agent of region `home` found in region `seen`
    /// is in its own territory: the same region, a sub-area of it, or a
    /// region above it.
    pub fn same_territory(&self, home: i64, seen: i64) -> bool {
        self.ancestors(home).contains(&seen) || self.ancestors(seen).contains(&home)
    }

    pub fn region_label(&self, id: i64) -> String {
        self.regions
            .get(&id)
            .map(|r| r.label.clone())
            .unwrap_or_else(|| format!("region {id}"))
    }
    pub fn agent_label(&self, id: i64) -> String {
        self.agents
            .get(&id)
            .map(|a| a.label.clone())
            .unwrap_or_else(|| format!("agent {id}"))
    }
    pub fn person_label(&self, id: i64) -> String {
        self.people
            .get(&id)
            .cloned()
            .unwrap_or_else(|| format!("user {id}"))
    }
    pub fn product_label(&self, id: i64) -> String {
        self.products
            .get(&id)
            .cloned()
            .unwrap_or_else(|| format!("product {id}"))
    }
}

/// Typed access to a row of either backend.
trait Cells {
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
async fn each<F>(db: &DatabaseConnection, sql: &str, mut f: F) -> anyhow::Result<()>
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

fn frame(columns: Vec<Column>) -> anyhow::Result<DataFrame> {
    DataFrame::new_infer_height(columns).map_err(|e| anyhow::anyhow!("building a frame: {e}"))
}

/// A column from a vector grown row by row: its spare capacity (up to half
/// of it after doubling) is given back first, as the frame keeps the buffer.
fn c<T>(name: &str, mut v: Vec<T>) -> Column
where
    Series: NamedFrom<Vec<T>, [T]>,
{
    v.shrink_to_fit();
    Column::new(name.into(), v)
}

/// Runs a table's load as a task of its own, so the tables load side by
/// side (on PostgreSQL each on its own connection, the server producing
/// rows while this process parses them).
async fn task<T, F>(what: &'static str, f: F) -> anyhow::Result<T>
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

type Dims = (
    HashMap<i64, RegionDim>,
    HashMap<i64, AgentDim>,
    HashMap<i64, String>,
    HashMap<i64, String>,
);

async fn load_dims(db: DatabaseConnection) -> anyhow::Result<Dims> {
    let mut regions = HashMap::new();
    each(&db, statements::REGIONS, |r| {
        regions.insert(
            r.i64(0)?,
            RegionDim {
                parent: r.opt_i64(1)?,
                label: format!("{} {}", r.text(2)?, r.text(3)?),
                capacity: r.opt_i64(4)?,
            },
        );
        Ok(())
    })
    .await
    .context("regions")?;
    let mut agents = HashMap::new();
    each(&db, statements::AGENTS, |r| {
        agents.insert(
            r.i64(0)?,
            AgentDim {
                region: r.i64(1)?,
                label: format!("{} {}", r.text(2)?, r.text(3)?),
            },
        );
        Ok(())
    })
    .await
    .context("agents")?;
    let mut people = HashMap::new();
    each(&db, statements::USERS, |r| {
        people.insert(r.i64(0)?, r.text(1)?);
        Ok(())
    })
    .await
    .context("users")?;
    let mut products = HashMap::new();
    each(&db, statements::PRODUCTS, |r| {
        products.insert(r.i64(0)?, format!("{} {}", r.text(1)?, r.text(2)?));
        Ok(())
    })
    .await
    .context("products")?;
    Ok((regions, agents, people, products))
}

/// How long a gap (a key below the highest read that was not there) is
/// asked for again.
pub const GAP_TTL: Duration = Duration::from_secs(600);
/// Keys below the highest one read by a full load that are watched as gaps.
const GAP_WINDOW: i64 = 10_000;
/// At most this many gaps are watched per table (the newest are kept).
const MAX_GAPS: usize = 10_000;

/// How far an append-only table (rows are never changed or deleted once
/// committed) has been read, by its increasing key.
#[derive(Clone, Debug, Default)]
pub struct Mark {
    /// The highest key read.
    pub max: i64,
    /// Keys below `max` not read: rows of transactions that had not
    /// committed when they were read past (keys are taken in insert order,
    /// not commit order), or that rolled back. They are asked for again by
    /// each sync until they turn up or `GAP_TTL` has passed.
    pub gaps: Vec<(i64, Instant)>,
}

impl Mark {
    /// The mark after reading `keys` from `prev` (`None`: a full load).
    pub fn advance(prev: Option<&Mark>, keys: &[i64], now: Instant) -> Mark {
        let old_max = prev.map_or(0, |m| m.max);
        let max = keys.iter().copied().max().unwrap_or(0).max(old_max);
        let floor = match prev {
            Some(_) => old_max,
            None => (max - GAP_WINDOW).max(0),
        };
        let filled: HashSet<i64> = keys.iter().copied().filter(|&k| k <= old_max).collect();
        let mut gaps: Vec<(i64, Instant)> = prev
            .map(|p| {
                p.gaps
                    .iter()
                    .filter(|(g, at)| !filled.contains(g) && now.duration_since(*at) < GAP_TTL)
                    .copied()
                    .collect()
            })
            .unwrap_or_default();
        let mut fresh: Vec<i64> = keys.iter().copied().filter(|&k| k > floor).collect();
        fresh.sort_unstable();
        fresh.dedup();
        let mut next = floor + 1;
        for k in fresh {
            // A jump of the sequence (PostgreSQL skips ahead after a
            // crash) is not a gap to watch.
            if k - next <= MAX_GAPS as i64 {
                gaps.extend((next..k).map(|g| (g, now)));
            }
            next = k + 1;
        }
        if gaps.len() > MAX_GAPS {
            gaps.sort_by_key(|g| g.0);
            gaps.drain(..gaps.len() - MAX_GAPS);
        }
        Mark { max, gaps }
    }

    /// The condition that selects the rows after this mark.
    fn sql(&self, key: &str) -> String {
        let mut s = format!(" WHERE ({key} > {}", self.max);
        if !self.gaps.is_empty() {
            let list: Vec<String> = self.gaps.iter().map(|g| g.0.to_string()).collect();
            s.push_str(&format!(" OR {key} IN ({})", list.join(",")));
        }
        s.push(')');
        s
    }
}

/// `""` for a full load, the mark's condition for a sync.
fn after(key: &str, since: Option<&Mark>) -> String {
    since.map(|m| m.sql(key)).unwrap_or_default()
}

/// The statements a read runs: every row of a table (`since` = `None`, a
/// full read) or the rows after its mark (a sync).
pub mod statements {
    use super::{after, Mark};

    pub const REGIONS: &str = "SELECT id, parent_id, code, name, market_capacity FROM regions";
    pub const AGENTS: &str = "SELECT id, region_id, code, name FROM agents";
    pub const USERS: &str = "SELECT id, display_name FROM users";
    pub const PRODUCTS: &str = "SELECT id, sku, name FROM products";
    /// Open receivables, with their orders' numbers (evidence).
    pub const RECEIVABLES: &str =
        "SELECT r.order_id, r.agent_id, r.outstanding_fen, r.due_on, o.number \
         FROM receivables r JOIN sales_orders o ON o.id = r.order_id \
         WHERE r.outstanding_fen > 0";
    pub const FORECASTS: &str =
        "SELECT id, period, region_id, product_id, salesperson_id, quantity FROM forecasts";
    pub const PRICE_LIST: &str = "SELECT product_id, tier, floor_fen FROM price_list";

    /// Shipped orders, by shipment id.
    pub fn orders(since: Option<&Mark>) -> String {
        format!(
            "SELECT o.id, o.agent_id, o.region_id, o.salesperson_id, o.total_fen, s.shipped_at, s.id \
             FROM sales_orders o JOIN shipments s ON s.order_id = o.id{}",
            after("s.id", since)
        )
    }

    /// Order lines: all of them, or those of the orders shipped after the
    /// mark (why: `load_lines`).
    pub fn lines(since: Option<&Mark>) -> String {
        match since {
            None => {
                "SELECT order_id, product_id, quantity, unit_price_fen FROM order_lines".to_owned()
            }
            Some(m) => format!(
                "SELECT l.order_id, l.product_id, l.quantity, l.unit_price_fen \
                 FROM order_lines l JOIN shipments s ON s.order_id = l.order_id{}",
                m.sql("s.id")
            ),
        }
    }

    pub fn payments(since: Option<&Mark>) -> String {
        format!(
            "SELECT order_id, amount_fen, received_on, id FROM payments{}",
            after("id", since)
        )
    }

    pub fn sell(since: Option<&Mark>) -> String {
        format!(
            "SELECT id, agent_id, product_id, serial, quantity, sale_price_fen, sold_region_id, sold_on \
             FROM sell_through{}",
            after("id", since)
        )
    }

    pub fn sightings(since: Option<&Mark>) -> String {
        format!(
            "SELECT id, serial, region_id, seen_on FROM unit_sightings{}",
            after("id", since)
        )
    }

    pub fn units(since: Option<&Mark>) -> String {
        format!(
            "SELECT serial, agent_id, id FROM serial_units{}",
            after("id", since)
        )
    }

    pub fn prices(since: Option<&Mark>) -> String {
        format!(
            "SELECT id, product_id, region_id, tier, price_fen, observed_on FROM price_observations{}",
            after("id", since)
        )
    }

    /// Every statement of a full read (`read` with no marks), in no
    /// particular order.
    pub fn full_read() -> Vec<String> {
        let mut all: Vec<String> = [
            REGIONS,
            AGENTS,
            USERS,
            PRODUCTS,
            RECEIVABLES,
            FORECASTS,
            PRICE_LIST,
        ]
        .map(str::to_owned)
        .into();
        all.extend([
            orders(None),
            lines(None),
            payments(None),
            sell(None),
            sightings(None),
            units(None),
            prices(None),
        ]);
        all
    }
}

/// The marks of the append-only tables.
#[derive(Clone, Debug, Default)]
pub struct Marks {
    /// Shipped orders and their lines, by shipment id.
    pub shipments: Mark,
    pub payments: Mark,
    pub units: Mark,
    pub sell: Mark,
    pub sightings: Mark,
    pub prices: Mark,
}

/// Shipped orders (those after `since`, by shipment id), and the mark.
async fn load_orders(
    db: DatabaseConnection,
    tz: Tz,
    since: Option<Mark>,
) -> anyhow::Result<(DataFrame, Mark)> {
    let day = |t: DateTime<Utc>| day_of(t.with_timezone(&tz).date_naive());
    let (mut o_id, mut o_agent, mut o_region, mut o_sp, mut o_total, mut o_day, mut o_month) =
        (vec![], vec![], vec![], vec![], vec![], vec![], vec![]);
    let mut keys = vec![];
    each(&db, &statements::orders(since.as_ref()), |r| {
        o_id.push(r.i64(0)?);
        o_agent.push(r.i64(1)?);
        o_region.push(r.i64(2)?);
        o_sp.push(r.i64(3)?);
        o_total.push(r.i64(4)?);
        let d = day(r.ts(5)?);
        o_day.push(d);
        o_month.push(month_of_day(d));
        keys.push(r.i64(6)?);
        Ok(())
    })
    .await?;
    let mark = Mark::advance(since.as_ref(), &keys, Instant::now());
    let df = frame(vec![
        c("order_id", o_id),
        c("agent_id", o_agent),
        c("region_id", o_region),
        c("salesperson_id", o_sp),
        c("total_fen", o_total),
        c("ship_day", o_day),
        c("ship_month", o_month),
    ])?;
    Ok((df, mark))
}

/// Order lines. A full load reads all of them: the computation keeps those
/// of shipped orders when it joins them to the orders (cheaper there than a
/// join in the query). A sync reads the lines of the orders shipped after
/// `since`; it runs after the orders' read, so it sees at least their lines
/// (an order's lines are written before it ships and never change after).
async fn load_lines(db: DatabaseConnection, since: Option<Mark>) -> anyhow::Result<DataFrame> {
    let (mut l_order, mut l_product, mut l_qty, mut l_price) = (vec![], vec![], vec![], vec![]);
    each(&db, &statements::lines(since.as_ref()), |r| {
        l_order.push(r.i64(0)?);
        l_product.push(r.i64(1)?);
        l_qty.push(r.i64(2)?);
        l_price.push(r.i64(3)?);
        Ok(())
    })
    .await?;
    frame(vec![
        c("order_id", l_order),
        c("product_id", l_product),
        c("qty", l_qty),
        c("price_fen", l_price),
    ])
}

/// Shipped orders and their lines joined to them (the order lines frame
/// `lo`), and the shipments' mark.
async fn load_shipped(
    db: DatabaseConnection,
    tz: Tz,
    since: Option<Mark>,
) -> anyhow::Result<(DataFrame, DataFrame, Mark)> {
    let ((orders, mark), lines) = if since.is_none() {
        tokio::try_join!(
            task("orders", load_orders(db.clone(), tz, None)),
            task("order lines", load_lines(db.clone(), None)),
        )?
    } else {
        let orders = load_orders(db.clone(), tz, since.clone()).await?;
        (orders, load_lines(db, since).await?)
    };
    let lo = super::compute::lines_with_orders(lines, &orders)?;
    Ok((orders, lo, mark))
}

async fn load_payments(
    db: DatabaseConnection,
    since: Option<Mark>,
) -> anyhow::Result<(DataFrame, Mark)> {
    let (mut p_order, mut p_amount, mut p_day) = (vec![], vec![], vec![]);
    let mut keys = vec![];
    each(&db, &statements::payments(since.as_ref()), |r| {
        p_order.push(r.i64(0)?);
        p_amount.push(r.i64(1)?);
        p_day.push(r.day(2)?);
        keys.push(r.i64(3)?);
        Ok(())
    })
    .await?;
    let mark = Mark::advance(since.as_ref(), &keys, Instant::now());
    let df = frame(vec![
        c("order_id", p_order),
        c("amount_fen", p_amount),
        c("day", p_day),
    ])?;
    Ok((df, mark))
}

async fn load_receivables(
    db: DatabaseConnection,
) -> anyhow::Result<(DataFrame, HashMap<i64, String>)> {
    let (mut r_order, mut r_agent, mut r_out, mut r_due) = (vec![], vec![], vec![], vec![]);
    let mut order_numbers = HashMap::new();
    each(&db, statements::RECEIVABLES, |r| {
        let order = r.i64(0)?;
        r_order.push(order);
        r_agent.push(r.i64(1)?);
        r_out.push(r.i64(2)?);
        r_due.push(r.day(3)?);
        order_numbers.insert(order, r.text(4)?);
        Ok(())
    })
    .await?;
    let df = frame(vec![
        c("order_id", r_order),
        c("agent_id", r_agent),
        c("outstanding_fen", r_out),
        c("due_day", r_due),
    ])?;
    Ok((df, order_numbers))
}

/// Rows of a serial-event table with their serials as read (see
/// `with_units`), and the table's mark.
type Events = (DataFrame, SerialList, Mark);

/// Sell-through after `since`.
async fn load_sell(db: DatabaseConnection, since: Option<Mark>) -> anyhow::Result<Events> {
    let (mut id, mut agent, mut product, mut qty, mut price, mut region, mut day) =
        (vec![], vec![], vec![], vec![], vec![], vec![], vec![]);
    let mut serials = SerialList::new();
    each(&db, &statements::sell(since.as_ref()), |r| {
        id.push(r.i64(0)?);
        agent.push(r.i64(1)?);
        product.push(r.i64(2)?);
        serials.push(r.opt_bytes(3)?)?;
        qty.push(r.i64(4)?);
        price.push(r.i64(5)?);
        region.push(r.i64(6)?);
        day.push(r.day(7)?);
        Ok(())
    })
    .await?;
    let mark = Mark::advance(since.as_ref(), &id, Instant::now());
    let df = frame(vec![
        c("id", id),
        c("agent_id", agent),
        c("product_id", product),
        c("qty", qty),
        c("price_fen", price),
        c("region_id", region),
        c("day", day),
    ])?;
    Ok((df, serials, mark))
}

/// Unit sightings after `since`.
async fn load_sightings(db: DatabaseConnection, since: Option<Mark>) -> anyhow::Result<Events> {
    let (mut g_id, mut g_region, mut g_day) = (vec![], vec![], vec![]);
    let mut serials = SerialList::new();
    each(&db, &statements::sightings(since.as_ref()), |r| {
        g_id.push(r.i64(0)?);
        serials.push(r.opt_bytes(1)?)?;
        g_region.push(r.i64(2)?);
        g_day.push(r.day(3)?);
        Ok(())
    })
    .await?;
    let mark = Mark::advance(since.as_ref(), &g_id, Instant::now());
    let df = frame(vec![
        c("id", g_id),
        c("region_id", g_region),
        c("day", g_day),
    ])?;
    Ok((df, serials, mark))
}

/// The tables of serial events.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub enum EventTable {
    Sell,
    Sightings,
}

impl EventTable {
    fn name(self) -> &'static str {
        match self {
            EventTable::Sell => "sell-through",
            EventTable::Sightings => "unit sightings",
        }
    }
}

/// A serial read that is no shipped unit (yet): its table and row.
#[derive(Clone, serde::Serialize, serde::Deserialize)]
pub struct Unresolved {
    pub table: EventTable,
    pub row: usize,
    pub serial: Box<[u8]>,
}

/// Adds a table's `has_serial` and `unit` columns: its serials turned into
/// unit numbers, on a blocking thread. Also returns the rows whose serial
/// is no shipped unit, numbered from `first_row`.
async fn with_units(
    table: EventTable,
    (mut df, serials, mark): Events,
    units: Arc<SerialIndex>,
    first_row: usize,
) -> anyhow::Result<(DataFrame, Mark, Vec<Unresolved>)> {
    tokio::task::spawn_blocking(move || {
        let (present, unit, unknown) = serials.resolve(&units);
        df.with_column(Column::new("has_serial".into(), present))?;
        df.with_column(Column::new("unit".into(), unit))?;
        let unknown = unknown
            .into_iter()
            .map(|(row, serial)| Unresolved {
                table,
                row: first_row + row,
                serial,
            })
            .collect();
        anyhow::Ok((df, mark, unknown))
    })
    .await
    .with_context(|| format!("numbering the units of {}", table.name()))?
}

/// The units frame of interned serials and their owners: unit `first + i`
/// is row `i`.
pub fn units_frame(first: usize, owners: Vec<i64>) -> anyhow::Result<DataFrame> {
    let first = u32::try_from(first).context("too many units")?;
    let n = u32::try_from(owners.len()).context("too many units")?;
    let end = first.checked_add(n).context("too many units")?;
    frame(vec![
        c("unit", (first..end).collect::<Vec<u32>>()),
        c("owner_agent_id", owners),
    ])
}

/// Shipped units after `since`: their serials interned into `serials`
/// (new ones numbered on), and the agent each went to.
async fn load_units(
    db: DatabaseConnection,
    since: Option<Mark>,
    mut serials: SerialIndex,
) -> anyhow::Result<(DataFrame, SerialIndex, Mark)> {
    let first = serials.len();
    let mut owners = vec![];
    let mut keys = vec![];
    each(&db, &statements::units(since.as_ref()), |r| {
        let serial = r
            .opt_bytes(0)?
            .context("column 0: NULL where a value is required")?;
        let (_, new) = serials.insert(serial)?;
        if new {
            owners.push(r.i64(1)?);
        }
        keys.push(r.i64(2)?);
        Ok(())
    })
    .await?;
    serials.shrink();
    let mark = Mark::advance(since.as_ref(), &keys, Instant::now());
    Ok((units_frame(first, owners)?, serials, mark))
}

/// Forecasts and the price list (read whole: forecasts are revised in
/// place).
async fn load_plans(db: DatabaseConnection) -> anyhow::Result<(DataFrame, DataFrame)> {
    let mut f = (vec![], vec![], vec![], vec![], vec![], vec![]);
    each(&db, statements::FORECASTS, |r| {
        let Some(month) = month_of_period(&r.text(1)?) else {
            return Ok(());
        };
        f.0.push(r.i64(0)?);
        f.1.push(month);
        f.2.push(r.i64(2)?);
        f.3.push(r.i64(3)?);
        f.4.push(r.i64(4)?);
        f.5.push(r.i64(5)?);
        Ok(())
    })
    .await
    .context("forecasts")?;
    let forecasts = frame(vec![
        c("id", f.0),
        c("month", f.1),
        c("region_id", f.2),
        c("product_id", f.3),
        c("salesperson_id", f.4),
        c("qty", f.5),
    ])?;

    let (mut fl_product, mut fl_tier, mut fl_floor) = (vec![], vec![], vec![]);
    each(&db, statements::PRICE_LIST, |r| {
        fl_product.push(r.i64(0)?);
        fl_tier.push(r.text(1)?);
        fl_floor.push(r.i64(2)?);
        Ok(())
    })
    .await
    .context("price list")?;
    let floors = frame(vec![
        c("product_id", fl_product),
        c("tier", fl_tier),
        c("floor_fen", fl_floor),
    ])?;
    Ok((forecasts, floors))
}

/// Price observations after `since`.
async fn load_prices(
    db: DatabaseConnection,
    since: Option<Mark>,
) -> anyhow::Result<(DataFrame, Mark)> {
    let mut p = (vec![], vec![], vec![], vec![], vec![], vec![]);
    each(&db, &statements::prices(since.as_ref()), |r| {
        p.0.push(r.i64(0)?);
        p.1.push(r.i64(1)?);
        p.2.push(r.i64(2)?);
        p.3.push(r.text(3)?);
        p.4.push(r.i64(4)?);
        p.5.push(r.day(5)?);
        Ok(())
    })
    .await
    .context("price observations")?;
    let mark = Mark::advance(since.as_ref(), &p.0, Instant::now());
    let prices = frame(vec![
        c("id", p.0),
        c("product_id", p.1),
        c("region_id", p.2),
        c("tier", p.3),
        c("price_fen", p.4),
        c("day", p.5),
    ])?;
    Ok((prices, mark))
}

/// What one load read: everything (a full load) or what changed since the
/// marks (a sync). The append-only tables hold only the rows after the
/// marks; the others are whole.
pub struct Read {
    pub inputs: Inputs,
    pub marks: Marks,
    /// Serial events whose serial is no shipped unit (yet), numbered from
    /// the first new row of their table.
    pub unresolved: Vec<Unresolved>,
}

/// Reads the inputs: all of them (`since` = `None`) or the rows appended
/// after the marks, with `serials` (the units already known) numbering the
/// new units on. Each table in a task of its own, side by side.
/// `first_rows` = (sell-through, sightings) rows already held.
pub async fn read(
    db: &DatabaseConnection,
    tz: Tz,
    since: Option<&Marks>,
    serials: SerialIndex,
    first_rows: (usize, usize),
) -> anyhow::Result<Read> {
    let m = |f: fn(&Marks) -> &Mark| since.map(|s| f(s).clone());
    // The serial events load beside the units; their serials become unit
    // numbers once all units are in.
    let events = {
        let db = db.clone();
        let (mu, ms, mg) = (m(|s| &s.units), m(|s| &s.sell), m(|s| &s.sightings));
        async move {
            let ((units, serials, units_mark), sell, sightings) = tokio::try_join!(
                task("serial units", load_units(db.clone(), mu, serials)),
                task(EventTable::Sell.name(), load_sell(db.clone(), ms)),
                task(EventTable::Sightings.name(), load_sightings(db.clone(), mg)),
            )?;
            let serials = Arc::new(serials);
            let ((sell, sell_mark, mut unknown), (sightings, sightings_mark, unknown_g)) = tokio::try_join!(
                with_units(EventTable::Sell, sell, serials.clone(), first_rows.0),
                with_units(
                    EventTable::Sightings,
                    sightings,
                    serials.clone(),
                    first_rows.1
                ),
            )?;
            unknown.extend(unknown_g);
            let serials = Arc::try_unwrap(serials)
                .map_err(|_| anyhow::anyhow!("the serial index is still shared"))?;
            anyhow::Ok((
                units,
                serials,
                sell,
                sightings,
                unknown,
                units_mark,
                sell_mark,
                sightings_mark,
            ))
        }
    };
    let (
        (regions, agents, people, products),
        (orders, lo, shipments_mark),
        (payments, payments_mark),
        (receivables, order_numbers),
        (units, serials, sell, sightings, unresolved, units_mark, sell_mark, sightings_mark),
        (forecasts, floors),
        (prices, prices_mark),
    ) = tokio::try_join!(
        task("regions, agents, users, products", load_dims(db.clone())),
        task(
            "shipped orders",
            load_shipped(db.clone(), tz, m(|s| &s.shipments))
        ),
        task("payments", load_payments(db.clone(), m(|s| &s.payments))),
        task("receivables", load_receivables(db.clone())),
        events,
        task("forecasts and the price list", load_plans(db.clone())),
        task(
            "price observations",
            load_prices(db.clone(), m(|s| &s.prices))
        ),
    )?;
    Ok(Read {
        inputs: Inputs {
            orders,
            lo,
            payments,
            receivables,
            sell,
            sightings,
            units,
            serials,
            forecasts,
            prices,
            floors,
            regions,
            agents,
            people,
            products,
            order_numbers,
        },
        marks: Marks {
            shipments: shipments_mark,
            payments: payments_mark,
            units: units_mark,
            sell: sell_mark,
            sightings: sightings_mark,
            prices: prices_mark,
        },
        unresolved,
    })
}

/// Loads all the inputs for a computation as of `as_of` (business day).
pub async fn load(db: &DatabaseConnection, tz: Tz, as_of: NaiveDate) -> anyhow::Result<Inputs> {
    let _ = as_of;
    Ok(read(db, tz, None, SerialIndex::new(), (0, 0)).await?.inputs)
}

/// Order numbers of the given orders (evidence), in one query.
pub async fn order_numbers(
    db: &DatabaseConnection,
    ids: &[i64],
) -> anyhow::Result<HashMap<i64, String>> {
    let mut out = HashMap::new();
    for chunk in ids.chunks(500) {
        let list = chunk
            .iter()
            .map(i64::to_string)
            .collect::<Vec<_>>()
            .join(",");
        each(
            db,
            &format!("SELECT id, number FROM sales_orders WHERE id IN ({list})"),
            |r| {
                out.insert(r.i64(0)?, r.text(1)?);
                Ok(())
            },
        )
        .await?;
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn keys(m: &Mark) -> Vec<i64> {
        m.gaps.iter().map(|g| g.0).collect()
    }

    #[test]
    fn marks_follow_the_highest_key_and_watch_the_gaps_below_it() {
        let t = Instant::now();
        // A full load: key 4 missing (its transaction still open).
        let m = Mark::advance(None, &[3, 1, 6, 2, 5], t);
        assert_eq!((m.max, keys(&m)), (6, vec![4]));
        assert_eq!(m.sql("id"), " WHERE (id > 6 OR id IN (4))");
        // The next read brings 4 (committed late) and 8: 7 is now a gap.
        let m = Mark::advance(Some(&m), &[8, 4], t);
        assert_eq!((m.max, keys(&m)), (8, vec![7]));
        // Nothing new: the gap stays, until it is older than GAP_TTL.
        let m = Mark::advance(Some(&m), &[], t + Duration::from_secs(1));
        assert_eq!((m.max, keys(&m)), (8, vec![7]));
        let m = Mark::advance(Some(&m), &[], t + GAP_TTL + Duration::from_secs(1));
        assert_eq!((m.max, keys(&m)), (8, vec![]));
        assert_eq!(m.sql("s.id"), " WHERE (s.id > 8)");
        // A jump of the sequence is no gap; a full load watches only the
        // keys just below its highest.
        let m = Mark::advance(Some(&m), &[9, 9 + MAX_GAPS as i64 + 5], t);
        assert_eq!(keys(&m), Vec::<i64>::new());
        let m = Mark::advance(None, &[1, GAP_WINDOW + 100, GAP_WINDOW + 102], t);
        // Watched: 103 to GAP_WINDOW + 99, and GAP_WINDOW + 101.
        assert_eq!(m.gaps.len() as i64, GAP_WINDOW - 2);
        assert_eq!(m.gaps.last().map(|g| g.0), Some(GAP_WINDOW + 101));
        // An empty table.
        let m = Mark::advance(None, &[], t);
        assert_eq!((m.max, m.gaps.len()), (0, 0));
    }
}
