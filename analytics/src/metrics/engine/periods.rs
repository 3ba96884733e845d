//! The calendar periods of a query's range.
use chrono::{Datelike, Duration, Months, NaiveDate};

use super::super::Period;

/// The calendar periods of the range, clipped to it.
pub struct Periods {
    unit: Option<Period>,
    /// Calendar start of each period.
    starts: Vec<NaiveDate>,
    /// The part of each period inside the range.
    pub spans: Vec<(NaiveDate, NaiveDate)>,
    from: NaiveDate,
    to: NaiveDate,
}

/// The calendar start of the period holding `d`.
pub fn period_start(p: Period, d: NaiveDate) -> NaiveDate {
    match p {
        Period::Day => d,
        Period::Week => d - Duration::days(i64::from(d.weekday().num_days_from_monday())),
        Period::Month => d.with_day(1).unwrap_or(d),
        Period::Quarter => {
            NaiveDate::from_ymd_opt(d.year(), (d.month0() / 3) * 3 + 1, 1).unwrap_or(d)
        }
    }
}

fn next_start(p: Period, start: NaiveDate) -> NaiveDate {
    match p {
        Period::Day => start + Duration::days(1),
        Period::Week => start + Duration::days(7),
        Period::Month => start + Months::new(1),
        Period::Quarter => start + Months::new(3),
    }
}

impl Periods {
    pub fn new(unit: Option<Period>, from: NaiveDate, to: NaiveDate) -> Periods {
        let (mut starts, mut spans) = (Vec::new(), Vec::new());
        match unit {
            None => {
                starts.push(from);
                spans.push((from, to));
            }
            Some(p) => {
                let mut s = period_start(p, from);
                while s <= to {
                    let n = next_start(p, s);
                    starts.push(s);
                    spans.push((s.max(from), (n - Duration::days(1)).min(to)));
                    s = n;
                }
            }
        }
        Periods {
            unit,
            starts,
            spans,
            from,
            to,
        }
    }

    /// The period holding day `d`, if `d` is in the range.
    pub fn index(&self, d: NaiveDate) -> Option<usize> {
        if d < self.from || d > self.to {
            return None;
        }
        if self.unit.is_none() {
            return Some(0);
        }
        self.starts.partition_point(|s| *s <= d).checked_sub(1)
    }

    pub(super) fn ends(&self) -> impl Iterator<Item = (usize, NaiveDate)> + '_ {
        self.spans.iter().map(|s| s.1).enumerate()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn d(s: &str) -> NaiveDate {
        NaiveDate::parse_from_str(s, "%Y-%m-%d").unwrap()
    }

    #[test]
    fn periods_are_calendar_aligned_and_clipped() {
        let p = Periods::new(Some(Period::Week), d("2026-11-04"), d("2026-11-20"));
        // Wed 4 Nov → weeks starting Mon 2, 9, 16 Nov.
        assert_eq!(
            p.spans,
            vec![
                (d("2026-11-04"), d("2026-11-08")),
                (d("2026-11-09"), d("2026-11-15")),
                (d("2026-11-16"), d("2026-11-20")),
            ]
        );
        assert_eq!(p.index(d("2026-11-10")), Some(1));
        assert_eq!(p.index(d("2026-11-21")), None);
        let q = Periods::new(Some(Period::Quarter), d("2026-02-10"), d("2026-08-01"));
        assert_eq!(q.spans.len(), 3);
        assert_eq!(q.spans[1], (d("2026-04-01"), d("2026-06-30")));
        assert_eq!(
            period_start(Period::Quarter, d("2026-12-31")),
            d("2026-10-01")
        );
    }
}
