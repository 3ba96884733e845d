//! Document numbers (SPEC S7):
//! `<company code><date YYYYMMDD><document type><daily sequence, 4 digits>`,
//! e.g. `SC20140213DD0001`. The sequence restarts every business day per type.
use chrono::{DateTime, NaiveDate, Utc};
use chrono_tz::Tz;

#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub enum DocType {
    SalesOrder,
    Contract,
    ShippingNotice,
}

impl DocType {
    pub fn code(&self) -> &'static str {
        match self {
            DocType::SalesOrder => "DD",
            DocType::Contract => "HT",
            DocType::ShippingNotice => "FHTZ",
        }
    }
}

/// The business day of an instant in the company's time zone.
pub fn business_day(at: DateTime<Utc>, tz: Tz) -> NaiveDate {
    at.with_timezone(&tz).date_naive()
}

/// Formats a document number. Sequences above 9999 keep all their digits.
pub fn format_number(company_code: &str, day: NaiveDate, doc: DocType, seq: i64) -> String {
    format!(
        "{}{}{}{:04}",
        company_code,
        day.format("%Y%m%d"),
        doc.code(),
        seq
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    #[test]
    fn matches_the_spec_examples() {
        let day = NaiveDate::from_ymd_opt(2014, 2, 13).unwrap_or_default();
        assert_eq!(
            format_number("SC", day, DocType::SalesOrder, 1),
            "SC20140213DD0001"
        );
        assert_eq!(
            format_number("SC", day, DocType::Contract, 2),
            "SC20140213HT0002"
        );
        assert_eq!(
            format_number("SC", day, DocType::ShippingNotice, 3),
            "SC20140213FHTZ0003"
        );
    }

    #[test]
    fn business_day_follows_the_company_time_zone() {
        // 2014-02-12 17:30 UTC is already 2014-02-13 01:30 in Shanghai.
        let at = Utc.with_ymd_and_hms(2014, 2, 12, 17, 30, 0).single();
        let at = at.unwrap_or_default();
        assert_eq!(
            business_day(at, chrono_tz::Asia::Shanghai).to_string(),
            "2014-02-13"
        );
        assert_eq!(business_day(at, chrono_tz::UTC).to_string(), "2014-02-12");
    }
}
