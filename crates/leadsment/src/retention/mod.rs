//! Retention: how long each site keeps its traffic (`sites.retention_months`, set on the
//! site's settings page), and the job that forgets what is older — events, visits, the
//! dashboard's rollups and bot counts — in small batches so that the event writer waits for
//! it only milliseconds at a time. On PostgreSQL the events are partitioned by month
//! ([`partitions`]): the job keeps three months of partitions ahead and drops a whole month
//! once every site's retention has passed it. See `docs/operations.md`, "Retention" and
//! "Partitions".

pub mod job;
pub mod partitions;
pub mod store;

pub use job::{Retention, RunReport};

use jiff::civil::Date;
use jiff::tz::TimeZone;

/// What a site keeps when nobody changed it: two years and a month, so that a month can
/// always be compared with the same month a year and two years before.
pub const DEFAULT_MONTHS: i64 = 25;
/// The shortest and longest retention a site may have.
pub const MIN_MONTHS: i64 = 1;
pub const MAX_MONTHS: i64 = 120;

const DAY_MS: i64 = 86_400_000;

/// A site's retention, in months: checked to be within [`MIN_MONTHS`]..=[`MAX_MONTHS`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Months(i64);

/// What is wrong with a typed retention (the messages name [`MIN_MONTHS`] and [`MAX_MONTHS`]).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum MonthsError {
    #[error("Enter the number of months as digits, from 1 to 120.")]
    NotANumber,
    #[error("Keep traffic for at least 1 month.")]
    TooShort,
    #[error("Keep traffic for at most 120 months (ten years).")]
    TooLong,
}

impl Months {
    pub fn new(months: i64) -> Result<Months, MonthsError> {
        match months {
            m if m < MIN_MONTHS => Err(MonthsError::TooShort),
            m if m > MAX_MONTHS => Err(MonthsError::TooLong),
            m => Ok(Months(m)),
        }
    }

    /// A number of months as typed in a form.
    pub fn parse(typed: &str) -> Result<Months, MonthsError> {
        let typed = typed.trim();
        if typed.is_empty() || typed.len() > 10 || !typed.bytes().all(|b| b.is_ascii_digit()) {
            return Err(MonthsError::NotANumber);
        }
        Months::new(typed.parse().map_err(|_| MonthsError::NotANumber)?)
    }

    pub fn get(self) -> i64 {
        self.0
    }

    /// The first moment kept at `now_ms` (milliseconds): the UTC midnight `self` calendar
    /// months before today. Whole UTC days, so that a day's rollups are either all kept or
    /// all deleted, never changed.
    pub fn cutoff_ms(self, now_ms: i64) -> i64 {
        let today = utc_date(now_ms);
        let first = today
            .checked_sub(jiff::Span::new().months(self.0))
            .unwrap_or(Date::MIN);
        date_start_ms(first)
    }
}

impl Default for Months {
    fn default() -> Months {
        Months(DEFAULT_MONTHS)
    }
}

/// The UTC date of `ms`.
fn utc_date(ms: i64) -> Date {
    jiff::Timestamp::from_millisecond(ms)
        .unwrap_or(jiff::Timestamp::UNIX_EPOCH)
        .to_zoned(TimeZone::UTC)
        .date()
}

/// The first millisecond of `date`, UTC.
fn date_start_ms(date: Date) -> i64 {
    date.to_zoned(TimeZone::UTC)
        .map(|z| z.timestamp().as_millisecond())
        .unwrap_or(i64::MIN / 2)
}

/// The date of `ms` in `time_zone` (UTC when unknown), as bot counts store it.
fn local_day(ms: i64, time_zone: &str) -> String {
    let tz = TimeZone::get(time_zone).unwrap_or(TimeZone::UTC);
    jiff::Timestamp::from_millisecond(ms)
        .unwrap_or(jiff::Timestamp::UNIX_EPOCH)
        .to_zoned(tz)
        .date()
        .to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn months_are_checked() {
        assert_eq!(Months::parse(" 25 "), Ok(Months(25)));
        assert_eq!(Months::parse("1"), Ok(Months(1)));
        assert_eq!(Months::parse("120"), Ok(Months(120)));
        assert_eq!(Months::parse("0"), Err(MonthsError::TooShort));
        assert_eq!(Months::parse("121"), Err(MonthsError::TooLong));
        assert_eq!(Months::parse("1000"), Err(MonthsError::TooLong));
        assert_eq!(Months::parse("99999999999"), Err(MonthsError::NotANumber));
        assert_eq!(Months::parse("two"), Err(MonthsError::NotANumber));
        assert_eq!(Months::parse("-3"), Err(MonthsError::NotANumber));
        assert_eq!(Months::parse(""), Err(MonthsError::NotANumber));
    }

    #[test]
    fn the_cutoff_is_a_utc_midnight_whole_months_back() {
        // 2026-12-04 18:00 UTC.
        let now = 1_796_407_200_000;
        let cutoff = Months(2).cutoff_ms(now);
        assert_eq!(cutoff % DAY_MS, 0);
        assert_eq!(utc_date(cutoff).to_string(), "2026-10-04");
        assert_eq!(
            utc_date(Months(25).cutoff_ms(now)).to_string(),
            "2024-11-04"
        );
        // 31 March less a month is the last of February.
        let march = date_start_ms(jiff::civil::date(2026, 3, 31)) + 5;
        assert_eq!(
            utc_date(Months(1).cutoff_ms(march)).to_string(),
            "2026-02-28"
        );
    }

    #[test]
    fn bot_days_are_local() {
        // 2026-10-04 00:00 UTC is still the 3rd in New York.
        let ms = date_start_ms(jiff::civil::date(2026, 10, 4));
        assert_eq!(local_day(ms, "America/New_York"), "2026-10-03");
        assert_eq!(local_day(ms, "nowhere"), "2026-10-04");
    }
}
