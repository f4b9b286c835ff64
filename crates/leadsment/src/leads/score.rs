//! The lead score, 0 to 100: how likely a company is to buy, from what it did on the site in
//! the last 30 days. Points for the pages that signal intent (pricing, demo, contact), against
//! those that signal a job seeker (careers, jobs), for repeat visits, several people and time
//! spent reading; then halved for every two weeks since the last visit. `docs/leads.md` lists
//! the same rules for customers; a change here changes it there.
//!
//! Scores are computed when read, from per-company sums the feed reads anyway: a stored score
//! would be wrong the day after it was written (the decay depends on now), and the rules are
//! to become editable per workspace.

use super::pattern::PathPattern;

const DAY_MS: i64 = 86_400_000;
/// Whole UTC days before today in the window every score looks at, whatever period a page
/// shows.
pub const WINDOW_DAYS: i64 = 30;

/// The score's window as UTC days `[first, end)`: today so far and the 30 days before it, so
/// from 30 to 31 days ending now. Whole UTC days, because the per-company sums are kept by
/// UTC day (`tracking::rollups`): the window is read from them alone.
pub fn window(now_ms: i64) -> (i64, i64) {
    let today = now_ms.div_euclid(DAY_MS);
    (today - WINDOW_DAYS, today + 1)
}

/// Points per pageview matching one of `patterns`, up to `limit` (a floor when negative).
#[derive(Debug, Clone, Copy)]
pub struct PageRule {
    pub label: &'static str,
    pub patterns: &'static [&'static str],
    pub points: i64,
    pub limit: i64,
}

pub const PAGE_RULES: [PageRule; 4] = [
    PageRule {
        label: "/pricing",
        patterns: &["/pricing*", "/plans*"],
        points: 10,
        limit: 30,
    },
    PageRule {
        label: "a demo page",
        patterns: &["*demo*"],
        points: 15,
        limit: 30,
    },
    PageRule {
        label: "/contact",
        patterns: &["/contact*"],
        points: 10,
        limit: 20,
    },
    PageRule {
        label: "careers or jobs pages",
        patterns: &["/careers*", "/jobs*"],
        points: -10,
        limit: -30,
    },
];

/// Points per visit, and at most.
pub const VISIT_POINTS: (i64, i64) = (5, 25);
/// Points per visitor after the first, and at most.
pub const VISITOR_POINTS: (i64, i64) = (5, 15);
/// Points per whole minute of engaged time, and at most.
pub const MINUTE_POINTS: (i64, i64) = (1, 20);
/// The score halves for every this many whole days since the last visit.
pub const HALF_LIFE_DAYS: f64 = 14.0;

impl PageRule {
    pub fn matches(&self, path: &str) -> bool {
        self.patterns
            .iter()
            .any(|p| PathPattern::fixed((*p).to_owned()).matches(path))
    }
}

/// What a company did in the window.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Activity {
    pub visits: i64,
    /// Distinct visitor hashes (a person counts once per UTC day).
    pub visitors: i64,
    pub engaged_ms: i64,
    pub last_visit_at: i64,
    /// Pageviews matching each of [`PAGE_RULES`], in order.
    pub rule_hits: [i64; PAGE_RULES.len()],
}

/// One line of a score's breakdown: what happened and what it was worth.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Line {
    pub text: String,
    pub points: i64,
}

impl Line {
    /// `+30`, `−12` (with a minus sign).
    pub fn points_text(&self) -> String {
        if self.points < 0 {
            format!("\u{2212}{}", -self.points)
        } else {
            format!("+{}", self.points)
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Score {
    pub value: u8,
    pub lines: Vec<Line>,
}

impl Score {
    /// The warm scale's step, for the page's colour.
    pub fn band(&self) -> &'static str {
        match self.value {
            70.. => "hot",
            40..=69 => "warm",
            15..=39 => "mild",
            _ => "cold",
        }
    }
}

fn times(n: i64) -> String {
    match n {
        1 => "once".to_owned(),
        2 => "twice".to_owned(),
        n => format!("{n} times"),
    }
}

fn plural(n: i64, one: &str, many: &str) -> String {
    format!("{n} {}", if n == 1 { one } else { many })
}

/// The points of each of the score's parts before the decay: visits, visitors, engaged
/// minutes, then each of [`PAGE_RULES`].
fn parts(a: &Activity) -> [i64; 3 + PAGE_RULES.len()] {
    let mut out = [0; 3 + PAGE_RULES.len()];
    out[0] = (a.visits * VISIT_POINTS.0).min(VISIT_POINTS.1);
    out[1] = ((a.visitors - 1).max(0) * VISITOR_POINTS.0).min(VISITOR_POINTS.1);
    out[2] = (a.engaged_ms / 60_000 * MINUTE_POINTS.0).min(MINUTE_POINTS.1);
    for (i, (rule, &hits)) in PAGE_RULES.iter().zip(&a.rule_hits).enumerate() {
        let points = hits * rule.points;
        out[3 + i] = if rule.limit < 0 {
            points.max(rule.limit)
        } else {
            points.min(rule.limit)
        };
    }
    out
}

/// The sum of the parts after the decay, and the whole days since the last visit.
fn decayed(a: &Activity, raw: i64, now_ms: i64) -> (i64, i64) {
    let days = (now_ms - a.last_visit_at).max(0) / DAY_MS;
    let decayed = (raw as f64 * 0.5f64.powf(days as f64 / HALF_LIFE_DAYS)).round() as i64;
    (decayed, days)
}

/// The score of `a` at `now_ms` alone, as [`score`] gives it: the feed orders every company by
/// it and writes the lines of the rows it shows.
pub fn value(a: &Activity, now_ms: i64) -> u8 {
    let raw: i64 = parts(a).iter().sum();
    if a.visits == 0 || raw <= 0 {
        return 0;
    }
    decayed(a, raw, now_ms).0.clamp(0, 100) as u8
}

/// The score of `a` at `now_ms`, with the lines that explain it.
pub fn score(a: &Activity, now_ms: i64) -> Score {
    let parts = parts(a);
    let mut lines = Vec::new();
    let mut add = |text: String, points: i64| {
        if points != 0 {
            lines.push(Line { text, points });
        }
    };
    add(
        format!("{} in 30 days", plural(a.visits, "visit", "visits")),
        parts[0],
    );
    add(
        format!(
            "{} from the company",
            plural(a.visitors, "visitor", "visitors")
        ),
        parts[1],
    );
    let minutes = a.engaged_ms / 60_000;
    add(
        format!("{} engaged", plural(minutes, "minute", "minutes")),
        parts[2],
    );
    for (i, (rule, &hits)) in PAGE_RULES.iter().zip(&a.rule_hits).enumerate() {
        add(
            format!("visited {} {}", rule.label, times(hits)),
            parts[3 + i],
        );
    }
    let raw: i64 = lines.iter().map(|l| l.points).sum();
    if a.visits == 0 || raw <= 0 {
        return Score { value: 0, lines };
    }
    let (decayed, days) = decayed(a, raw, now_ms);
    if decayed != raw {
        lines.push(Line {
            text: format!("last visit {} ago", plural(days, "day", "days")),
            points: decayed - raw,
        });
    }
    if decayed > 100 {
        lines.push(Line {
            text: "capped at 100".to_owned(),
            points: 100 - decayed,
        });
    }
    Score {
        value: decayed.clamp(0, 100) as u8,
        lines,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rules_match_their_pages() {
        assert!(PAGE_RULES[0].matches("/pricing/teams"));
        assert!(PAGE_RULES[1].matches("/book-a-demo"));
        assert!(PAGE_RULES[3].matches("/jobs/berlin"));
        assert!(!PAGE_RULES[0].matches("/blog/pricing"));
    }

    #[test]
    fn decay_and_cap_are_lines_of_their_own() {
        let now = 100 * DAY_MS;
        let hot = Activity {
            visits: 9,
            visitors: 5,
            engaged_ms: 45 * 60_000,
            last_visit_at: now - 3_600_000,
            rule_hits: [4, 2, 2, 0],
        };
        let s = score(&hot, now);
        assert_eq!(s.value, 100);
        assert_eq!(s.lines.last().unwrap().text, "capped at 100");
        assert_eq!(s.lines.last().unwrap().points, -40);
        let old = Activity {
            last_visit_at: now - 14 * DAY_MS - 1,
            ..hot
        };
        assert_eq!(score(&old, now).value, 70);
        let seeker = Activity {
            visits: 1,
            visitors: 1,
            engaged_ms: 0,
            last_visit_at: now,
            rule_hits: [0, 0, 0, 5],
        };
        assert_eq!(score(&seeker, now).value, 0);
        for a in [&hot, &old, &seeker] {
            assert_eq!(value(a, now), score(a, now).value);
        }
    }
}
