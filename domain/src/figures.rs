//! The one definition of the figures shared by the risk worker, the
//! `metrics` query and the weekly report (docs/signals.md, docs/metrics.md).
//! Amounts are in fen; day counts are business days.

/// The aging buckets of outstanding receivables by days past due.
pub const AGING_BUCKETS: [&str; 6] = [
    "aging_current",
    "aging_1_30",
    "aging_31_60",
    "aging_61_90",
    "aging_91_120",
    "aging_over_120",
];

/// The aging bucket (index into [`AGING_BUCKETS`]) of a receivable that is
/// `days_past_due` days past its due date (0 or less: not yet due).
pub fn aging_bucket(days_past_due: i64) -> usize {
    match days_past_due {
        i64::MIN..=0 => 0,
        1..=30 => 1,
        31..=60 => 2,
        61..=90 => 3,
        91..=120 => 4,
        _ => 5,
    }
}

/// Days sales outstanding: `AR / credit sales of the window × window days`;
/// `None` without sales in the window.
pub fn dso(ar_fen: f64, window_sales_fen: f64, window_days: u32) -> Option<f64> {
    (window_sales_fen > 0.0).then(|| ar_fen / window_sales_fen * f64::from(window_days))
}

/// Best possible DSO: the DSO of the part of AR not yet due.
pub fn best_possible_dso(
    ar_current_fen: f64,
    window_sales_fen: f64,
    window_days: u32,
) -> Option<f64> {
    dso(ar_current_fen, window_sales_fen, window_days)
}

/// Weighted absolute percentage error: `Σ|A−F| / ΣA`; `None` when `ΣA = 0`.
pub fn wape(abs_error_sum: f64, actual_sum: f64) -> Option<f64> {
    (actual_sum > 0.0).then(|| abs_error_sum / actual_sum)
}

/// Forecast bias: `Σ(F−A) / ΣA` (positive: forecasts above actuals).
pub fn bias(forecast_minus_actual_sum: f64, actual_sum: f64) -> Option<f64> {
    (actual_sum > 0.0).then(|| forecast_minus_actual_sum / actual_sum)
}

/// Days of sell-through averaged for weeks of supply.
pub const SELL_THROUGH_WINDOW_DAYS: i64 = 28;

/// Weeks of supply: channel stock / average weekly sell-through of the
/// last [`SELL_THROUGH_WINDOW_DAYS`] days; infinite when nothing sold
/// through and stock is left, `None` when there is neither.
pub fn weeks_of_supply(stock_units: f64, sold_in_window_units: f64) -> Option<f64> {
    let weekly = sold_in_window_units / (SELL_THROUGH_WINDOW_DAYS as f64 / 7.0);
    if weekly > 0.0 {
        Some(stock_units / weekly)
    } else if stock_units > 0.0 {
        Some(f64::INFINITY)
    } else {
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn figures() {
        assert_eq!(aging_bucket(0), 0);
        assert_eq!(aging_bucket(1), 1);
        assert_eq!(aging_bucket(30), 1);
        assert_eq!(aging_bucket(31), 2);
        assert_eq!(aging_bucket(120), 4);
        assert_eq!(aging_bucket(121), 5);
        // AR 45,000 of 90 days' sales of 50,000 → 81 days.
        assert_eq!(dso(45_000.0, 50_000.0, 90), Some(81.0));
        assert_eq!(dso(1.0, 0.0, 90), None);
        assert_eq!(wape(30.0, 120.0), Some(0.25));
        assert_eq!(bias(-30.0, 120.0), Some(-0.25));
        // 300 units in stock, 200 sold in 4 weeks → 50 a week → 6 weeks.
        assert_eq!(weeks_of_supply(300.0, 200.0), Some(6.0));
        assert_eq!(weeks_of_supply(10.0, 0.0), Some(f64::INFINITY));
        assert_eq!(weeks_of_supply(0.0, 0.0), None);
    }
}
