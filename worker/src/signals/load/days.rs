//! Day and month numbers: days are `i32` days since 1970-01-01 in the
//! business time zone, months are year × 12 + month − 1.
use chrono::NaiveDate;

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
