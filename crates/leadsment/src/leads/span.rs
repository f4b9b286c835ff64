//! A period as the dashboard reads it: the whole UTC days inside it come from the rollups
//! (`tracking::rollups`), the hours at its edges (a local midnight is rarely a UTC one) from
//! the raw visits and events. The pieces do not overlap and cover the period, so their sums
//! add up to the period's; visitors too, since a visitor hash belongs to one UTC day.

use crate::tracking::rollups::{DAY_MS, day_of};

/// Events stamped by another node's clock may run this far ahead of ours.
const CLOCK_SKEW_MS: i64 = 5 * 60_000;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Span {
    /// Whole UTC days, `[first, end)`; empty when `first >= end`.
    pub days: (i64, i64),
    /// The rest of the period, `[start, end)` in milliseconds, to be read raw.
    pub raw: Vec<(i64, i64)>,
}

impl Span {
    /// Splits `[start, end)`. A period that runs past now (today, this week) takes today's
    /// rollup as it stands: nothing later than now has happened yet.
    pub fn of((start, end): (i64, i64), now_ms: i64) -> Span {
        let first = start.div_euclid(DAY_MS) + i64::from(start.rem_euclid(DAY_MS) != 0);
        let mut last = end.div_euclid(DAY_MS);
        let open = end > now_ms + CLOCK_SKEW_MS;
        if open {
            last = last.max(day_of(now_ms) + 1);
        }
        if first >= last {
            return Span {
                days: (first, first),
                raw: vec![(start, end)],
            };
        }
        let mut raw = Vec::new();
        if start < first * DAY_MS {
            raw.push((start, first * DAY_MS));
        }
        let tail = last * DAY_MS;
        if tail < end && !(open && tail > now_ms + CLOCK_SKEW_MS) {
            raw.push((tail, end));
        }
        Span {
            days: (first, last),
            raw,
        }
    }

    /// All of `[start, end)` read raw.
    pub fn raw(range: (i64, i64)) -> Span {
        Span {
            days: (0, 0),
            raw: vec![range],
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const H: i64 = 3_600_000;

    #[test]
    fn whole_utc_days_from_rollups_and_local_edges_raw() {
        // Berlin, 1 to 3 October (UTC+2): 22:00 UTC on 30 September to 22:00 on 3 October,
        // read on 10 October.
        let d = 20_362; // 2025-10-01
        let (start, end) = (d * DAY_MS - 2 * H, (d + 3) * DAY_MS - 2 * H);
        let s = Span::of((start, end), (d + 9) * DAY_MS);
        assert_eq!(s.days, (d, d + 2));
        assert_eq!(s.raw, vec![(start, d * DAY_MS), ((d + 2) * DAY_MS, end)]);
    }

    #[test]
    fn a_running_period_takes_today_whole() {
        let d = 20_362;
        let now = d * DAY_MS + 9 * H;
        // Today in Berlin: 22:00 UTC yesterday to 22:00 UTC today.
        let s = Span::of((d * DAY_MS - 2 * H, (d + 1) * DAY_MS - 2 * H), now);
        assert_eq!(s.days, (d, d + 1));
        assert_eq!(s.raw, vec![(d * DAY_MS - 2 * H, d * DAY_MS)]);
        // Today in New York (UTC-4): 04:00 UTC to 04:00 UTC tomorrow; the part after
        // midnight UTC is still to come.
        let s = Span::of((d * DAY_MS + 4 * H, (d + 1) * DAY_MS + 4 * H), now);
        assert!(s.days.0 >= s.days.1, "no whole day");
        assert_eq!(s.raw, vec![(d * DAY_MS + 4 * H, (d + 1) * DAY_MS + 4 * H)]);
        // A period that ends just now is read raw at its end.
        let s = Span::of(((d - 2) * DAY_MS, now), now);
        assert_eq!(s.days, (d - 2, d));
        assert_eq!(s.raw, vec![(d * DAY_MS, now)]);
    }

    #[test]
    fn utc_periods_need_no_raw_reads() {
        let d = 20_362;
        let s = Span::of(((d - 29) * DAY_MS, (d + 1) * DAY_MS), d * DAY_MS + H);
        assert_eq!((s.days, s.raw), ((d - 29, d + 1), vec![]));
    }
}
