//! PostgreSQL's monthly partitions of `events` (migration 0021): the job keeps this month's
//! and the next [`MONTHS_AHEAD`] months' made, and finds the ones whose whole range every
//! site's retention has passed, to drop instead of deleting their rows one by one. On SQLite,
//! or before the migration, there are none and both do nothing.

use jiff::Span;

use super::store::postgres::{self, Partition};
use super::{date_start_ms, utc_date};
use crate::store::{Db, StoreError};

/// How many months after the current one always have their partition.
pub const MONTHS_AHEAD: i64 = 3;

/// The first millisecond of the UTC month `months` after the one holding `ms`.
fn month_start(ms: i64, months: i64) -> i64 {
    let first = utc_date(ms).first_of_month();
    date_start_ms(
        first
            .checked_add(Span::new().months(months))
            .unwrap_or(first),
    )
}

/// A month's partition's name: `events_2027_01`.
fn name_of(from: i64) -> String {
    let d = utc_date(from);
    format!("events_{:04}_{:02}", d.year(), d.month())
}

/// Makes the partitions missing between the last one's end and the end of the
/// [`MONTHS_AHEAD`]th month after `now_ms`'s, one per UTC month; their names.
pub async fn keep_ahead(db: &Db, now_ms: i64) -> Result<Vec<String>, StoreError> {
    if !postgres::is_partitioned(db).await? {
        return Ok(Vec::new());
    }
    let parts = postgres::partitions(db).await?;
    let until = month_start(now_ms, MONTHS_AHEAD + 1);
    let mut end = parts
        .iter()
        .map(|p| p.to)
        .max()
        .unwrap_or_else(|| month_start(now_ms, 0));
    let mut made = Vec::new();
    while end < until {
        let (from, to) = (end, month_start(end, 1));
        let name = name_of(from);
        postgres::create(db, &name, from, to).await?;
        made.push(name);
        end = to;
    }
    Ok(made)
}

/// The partitions that hold nothing any site keeps: their whole range is before
/// `oldest_kept_ms`, the earliest cutoff of every site.
pub async fn past_retention(db: &Db, oldest_kept_ms: i64) -> Result<Vec<Partition>, StoreError> {
    if !postgres::is_partitioned(db).await? {
        return Ok(Vec::new());
    }
    let parts = postgres::partitions(db).await?;
    Ok(parts
        .into_iter()
        .filter(|p| p.to <= oldest_kept_ms)
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn months_are_utc_calendar_months() {
        // 2026-12-04 18:00 UTC.
        let now = 1_796_407_200_000;
        assert_eq!(name_of(month_start(now, 0)), "events_2026_12");
        assert_eq!(name_of(month_start(now, 1)), "events_2027_01");
        assert_eq!(month_start(now, 1), 1_798_761_600_000);
        // From a month's first millisecond, the next month.
        assert_eq!(month_start(1_798_761_600_000, 1), 1_801_440_000_000);
    }
}
