//! The demo scenario: a deterministic plan, from a seed, of a year of
//! business (master data, orders, payments, shipments with serials,
//! sell-through, sightings, price observations, forecasts) with anomalies
//! planted on purpose. Pure: no database. Both sinks (`workflow`, `bulk`)
//! write exactly this plan; `check` evaluates the signal definitions of
//! docs/signals.md on it.
//!
//! The plan is built in two layers so that the bulk sink can stream it:
//! [`World`] (regions, agents, products, users: small) and, per region group
//! (a top-level region with its sub-areas), [`World::activity`], generated on
//! demand from its own random stream.
//!
//! `world` holds the master data and `build` makes it (with `planted`, the
//! list of planted anomalies); `activity` holds what happens and generates
//! it per region group from `orders`, `sell_through`, `prices` and
//! `forecasts`.
use chrono::{Datelike, NaiveDate};
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;

mod activity;
mod build;
mod forecasts;
mod orders;
mod planted;
mod prices;
mod sell_through;
mod world;

pub use activity::{
    Activity, Forecast, Line, Order, Payment, PriceObs, SellThrough, Sighting, Stage,
};
pub use world::{
    Agent, AgentRole, Planted, Position, Product, Region, SalesRole, Staff, Team, User, World,
};

/// The password of every demo user (documented in the README).
pub const DEMO_PASSWORD: &str = "demo-password-1";

/// Days of history before the as-of day.
pub const HISTORY_DAYS: i64 = 365;

/// Price tiers as fractions of the retail list price: (list, floor).
pub const TIER_AGENT: (f64, f64) = (0.60, 0.55);
pub const TIER_DEALER: (f64, f64) = (0.75, 0.68);
pub const TIER_RETAIL: (f64, f64) = (1.00, 0.80);

#[derive(Clone, Debug)]
pub struct Config {
    pub seed: u64,
    pub as_of: NaiveDate,
    /// 1.0 = about 1,000 orders over the year.
    pub size: f64,
    /// Appended to every code and username (to load a second demo data set
    /// next to a first one).
    pub suffix: String,
    pub company_code: String,
}

/// Rounds fen to whole yuan.
pub fn round_yuan(fen: f64) -> i64 {
    ((fen / 100.0).round() as i64) * 100
}

fn rng_for(seed: u64, tag: u64, idx: u64) -> ChaCha8Rng {
    // splitmix64 of the three, so that streams are independent.
    let mut z = seed
        .wrapping_add(tag.wrapping_mul(0x9E37_79B9_7F4A_7C15))
        .wrapping_add(idx.wrapping_mul(0xBF58_476D_1CE4_E5B9));
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    ChaCha8Rng::seed_from_u64(z ^ (z >> 31))
}

/// Seasonal factor of a day: +-15% over the year, smooth.
pub fn season(d: NaiveDate) -> f64 {
    1.0 + 0.15 * (2.0 * std::f64::consts::PI * (d.ordinal() as f64 - 80.0) / 365.25).sin()
}

pub fn month_start(d: NaiveDate) -> NaiveDate {
    NaiveDate::from_ymd_opt(d.year(), d.month(), 1).unwrap_or(d)
}

pub fn add_months(m: NaiveDate, n: i32) -> NaiveDate {
    let idx = m.year() * 12 + m.month0() as i32 + n;
    NaiveDate::from_ymd_opt(idx.div_euclid(12), idx.rem_euclid(12) as u32 + 1, 1).unwrap_or(m)
}

fn month_index(d: NaiveDate) -> i32 {
    d.year() * 12 + d.month0() as i32
}

/// (code, name, sub-area (code suffix, name)).
type GroupDef = (
    &'static str,
    &'static str,
    Option<(&'static str, &'static str)>,
);

const GROUPS: &[GroupDef] = &[
    ("HUABEI", "North China", Some(("TJ", "Tianjin"))),
    ("HUADONG", "East China", Some(("ZJ", "Zhejiang"))),
    ("HUANAN", "South China", None),
    ("HUAZHONG", "Central China", None),
    ("XINAN", "Southwest", None),
    ("DONGBEI", "Northeast", None),
];

const PRODUCTS: &[(&str, &str, i64, bool)] = &[
    ("CUBE-S", "CUBE S", 1_999, false),
    ("CUBE-M", "CUBE M", 3_999, false),
    ("CUBE-L", "CUBE L", 6_999, false),
    ("CUBE-PRO", "CUBE Pro", 12_999, false),
    ("CUBE-PART", "CUBE spare part kit", 199, true),
];

// Fixed places of the planted anomalies (copy 0 of the region groups).
const G_HUABEI: usize = 0;
const G_HUADONG: usize = 1;
const G_HUANAN: usize = 2;
const G_HUAZHONG: usize = 3;
const G_XINAN: usize = 4;
const G_DONGBEI: usize = 5;
const P_S: usize = 0;
const P_M: usize = 1;
const P_L: usize = 2;
const P_PRO: usize = 3;
