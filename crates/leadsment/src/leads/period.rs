//! The period a dashboard view covers, in the site's time zone: whole local days (or today so
//! far), the previous period of the same length, and the buckets of its time series.
//!
//! Days begin at local midnight, so a day is 23 or 25 hours long across a daylight-saving
//! change; every boundary is worked out by the time-zone database, never by adding 24 hours.

use jiff::civil::Date;
use jiff::tz::TimeZone;
use jiff::{Timestamp, ToSpan};

/// The longest custom period, in days.
pub const MAX_DAYS: i32 = 400;

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Range {
    Today,
    Last(i32),
    Custom { from: Date, to: Date },
}

impl Range {
    /// The value of `period` in a link.
    pub fn key(&self) -> &'static str {
        match self {
            Range::Today => "today",
            Range::Last(7) => "7d",
            Range::Last(90) => "90d",
            Range::Last(_) => "30d",
            Range::Custom { .. } => "custom",
        }
    }
}

/// A period: from local midnight of `first` to local midnight after `last`.
#[derive(Debug, Clone)]
pub struct Period {
    pub range: Range,
    pub tz: TimeZone,
    /// The first and last local day (inclusive).
    pub first: Date,
    pub last: Date,
    /// Milliseconds since the epoch, `[start, end)`.
    pub start_ms: i64,
    pub end_ms: i64,
}

/// What was wrong with a period's parameters, in the words the page shows.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct PeriodError(pub String);

/// Local midnight at the start of `day`.
pub fn day_start(tz: &TimeZone, day: Date) -> i64 {
    day.to_zoned(tz.clone())
        .map(|z| z.timestamp().as_millisecond())
        .unwrap_or_else(|_| {
            // Outside jiff's range: only reachable with dates the parser refused.
            i64::MAX
        })
}

/// The local day that `ms` falls on.
pub fn local_day(tz: &TimeZone, ms: i64) -> Date {
    Timestamp::from_millisecond(ms)
        .unwrap_or(Timestamp::UNIX_EPOCH)
        .to_zoned(tz.clone())
        .date()
}

fn parse_date(field: &str, value: &str) -> Result<Date, PeriodError> {
    let date: Date = value.trim().parse().map_err(|_| {
        PeriodError(format!(
            "{field}: `{}` is not a date written as YYYY-MM-DD",
            value.chars().take(40).collect::<String>()
        ))
    })?;
    if !(2000..=2100).contains(&date.year()) {
        return Err(PeriodError(format!(
            "{field}: {date} is outside the years 2000 to 2100"
        )));
    }
    Ok(date)
}

impl Period {
    /// The period named by `period`, `from` and `to` (the `custom` period's days, inclusive),
    /// as seen at `now_ms` in `tz`.
    pub fn parse(
        period: Option<&str>,
        from: Option<&str>,
        to: Option<&str>,
        tz: &TimeZone,
        now_ms: i64,
    ) -> Result<Period, PeriodError> {
        let range = match period.map(str::trim).unwrap_or("") {
            "" | "30d" => Range::Last(30),
            "today" => Range::Today,
            "7d" => Range::Last(7),
            "90d" => Range::Last(90),
            "custom" => {
                let (Some(from), Some(to)) = (from, to) else {
                    return Err(PeriodError(
                        "a custom period needs both `from` and `to` (YYYY-MM-DD)".to_owned(),
                    ));
                };
                let (from, to) = (parse_date("from", from)?, parse_date("to", to)?);
                if to < from {
                    return Err(PeriodError(format!(
                        "the period ends ({to}) before it begins ({from})"
                    )));
                }
                let days = from.until(to).map(|s| s.get_days()).unwrap_or(i32::MAX);
                if days >= MAX_DAYS {
                    return Err(PeriodError(format!(
                        "a period is at most {MAX_DAYS} days; this one is {}",
                        days.saturating_add(1)
                    )));
                }
                Range::Custom { from, to }
            }
            other => {
                return Err(PeriodError(format!(
                    "period: `{}` is not one of today, 7d, 30d, 90d or custom",
                    other.chars().take(40).collect::<String>()
                )));
            }
        };
        Ok(Period::of(range, tz, now_ms))
    }

    /// The period for `range` as seen at `now_ms`.
    pub fn of(range: Range, tz: &TimeZone, now_ms: i64) -> Period {
        let today = local_day(tz, now_ms);
        let (first, last) = match &range {
            Range::Today => (today, today),
            Range::Last(n) => (today.saturating_sub((n - 1).days()), today),
            Range::Custom { from, to } => (*from, *to),
        };
        Period::between(range, tz, first, last)
    }

    fn between(range: Range, tz: &TimeZone, first: Date, last: Date) -> Period {
        Period {
            start_ms: day_start(tz, first),
            end_ms: day_start(tz, last.saturating_add(1.day())),
            range,
            tz: tz.clone(),
            first,
            last,
        }
    }

    /// The number of local days.
    pub fn days(&self) -> i32 {
        self.first
            .until(self.last)
            .map(|s| s.get_days())
            .unwrap_or(0)
            + 1
    }

    /// The same number of days just before.
    pub fn previous(&self) -> Period {
        let n = self.days();
        let last = self.first.saturating_sub(1.day());
        let first = last.saturating_sub((n - 1).days());
        Period::between(self.range.clone(), &self.tz, first, last)
    }

    /// The time series' buckets: hours for a single day, else days.
    pub fn buckets(&self) -> Vec<Bucket> {
        if self.days() == 1 {
            let mut out = Vec::new();
            let mut start = self.start_ms;
            while start < self.end_ms {
                let end = (start + 3_600_000).min(self.end_ms);
                let label = Timestamp::from_millisecond(start)
                    .map(|t| t.to_zoned(self.tz.clone()).strftime("%H:%M").to_string())
                    .unwrap_or_default();
                out.push(Bucket { start, end, label });
                start = end;
            }
            return out;
        }
        let mut out = Vec::with_capacity(self.days() as usize);
        let mut day = self.first;
        while day <= self.last {
            let next = day.saturating_add(1.day());
            out.push(Bucket {
                start: day_start(&self.tz, day),
                end: day_start(&self.tz, next),
                label: day.strftime("%a %-d %b").to_string(),
            });
            if next == day {
                break;
            }
            day = next;
        }
        out
    }

    /// How the page names the period.
    pub fn label(&self) -> String {
        match &self.range {
            Range::Today => "Today".to_owned(),
            Range::Last(n) => format!("Last {n} days"),
            Range::Custom { from, to } if from == to => from.strftime("%-d %b %Y").to_string(),
            Range::Custom { from, to } => format!(
                "{} to {}",
                from.strftime("%-d %b %Y"),
                to.strftime("%-d %b %Y")
            ),
        }
    }
}

/// One bar of a time series, `[start, end)` in milliseconds.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Bucket {
    pub start: i64,
    pub end: i64,
    pub label: String,
}

#[cfg(test)]
mod tests {
    use super::*;

    fn berlin() -> TimeZone {
        TimeZone::get("Europe/Berlin").unwrap()
    }

    fn ms(s: &str) -> i64 {
        s.parse::<Timestamp>().unwrap().as_millisecond()
    }

    #[test]
    fn thirty_days_end_at_the_next_local_midnight() {
        let p = Period::parse(None, None, None, &berlin(), ms("2026-11-10T12:00:00Z")).unwrap();
        assert_eq!(p.days(), 30);
        assert_eq!(p.start_ms, ms("2026-10-11T22:00:00Z"));
        assert_eq!(p.end_ms, ms("2026-11-10T23:00:00Z"));
        let prev = p.previous();
        assert_eq!(prev.end_ms, p.start_ms);
        assert_eq!(prev.days(), 30);
    }

    #[test]
    fn a_daylight_saving_day_is_one_bucket_of_25_hours() {
        let p = Period::parse(
            Some("custom"),
            Some("2026-10-24"),
            Some("2026-10-27"),
            &berlin(),
            0,
        )
        .unwrap();
        let b = p.buckets();
        assert_eq!(b.len(), 4);
        assert_eq!(b[1].end - b[1].start, 25 * 3_600_000, "{b:?}");
        let today = Period::parse(
            Some("today"),
            None,
            None,
            &berlin(),
            ms("2026-10-25T12:00:00Z"),
        );
        assert_eq!(today.unwrap().buckets().len(), 25);
    }

    #[test]
    fn bad_periods_say_what_is_wrong() {
        let tz = berlin();
        for (p, f, t, says) in [
            ("week", "", "", "is not one of"),
            ("custom", "2026-01-01", "", "needs both"),
            ("custom", "2026-13-01", "2026-12-01", "YYYY-MM-DD"),
            ("custom", "2026-02-01", "2026-01-01", "before it begins"),
            ("custom", "1900-01-01", "1900-01-02", "outside the years"),
            ("custom", "2020-01-01", "2026-01-01", "at most 400 days"),
        ] {
            let opt = |s: &'static str| (!s.is_empty()).then_some(s);
            let err = Period::parse(Some(p), opt(f), opt(t), &tz, 0).unwrap_err();
            assert!(err.0.contains(says), "{p} {f} {t}: {err}");
        }
    }
}
