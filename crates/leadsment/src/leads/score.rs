//! The lead score, 0 to 100: how likely a company is to buy, from what it did on the site in
//! the last 30 days. Points for the pages that signal intent (pricing, demo, contact), against
//! those that signal a job seeker (careers, jobs), for repeat visits, several people and time
//! spent reading; then halved for every two weeks since the last visit. `docs/leads.md` lists
//! the default rules for customers; each site's admins may change them ([`super::rules`]).
//!
//! Scores are computed when read, from per-company sums the feed reads anyway: a stored score
//! would be wrong the day after it was written (the decay depends on now), and a site's new
//! rules apply to every score at once.

pub use super::rules::{PageRule, ScoreRules};

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

/// What a company did in the window.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Activity {
    pub visits: i64,
    /// Distinct visitor hashes (a person counts once per UTC day).
    pub visitors: i64,
    pub engaged_ms: i64,
    pub last_visit_at: i64,
    /// Pageviews matching each of the rules' page rules, in order (missing ones count 0).
    pub rule_hits: Vec<i64>,
}

/// One line of a score's breakdown: what happened and what it was worth.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Line {
    pub text: String,
    pub points: i64,
    /// The rule behind the line and its sum, such as `Rule '/pricing': 2 pageviews × 10 =
    /// 20`.
    pub rule: String,
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
/// minutes, then each page rule.
fn parts(a: &Activity, rules: &ScoreRules) -> Vec<i64> {
    let mut out = vec![
        rules.visits.of(a.visits),
        rules.visitors.of((a.visitors - 1).max(0)),
        rules.minutes.of(a.engaged_ms / 60_000),
    ];
    for (i, rule) in rules.pages.iter().enumerate() {
        out.push(page_points(rule, hits(a, i)));
    }
    out
}

fn hits(a: &Activity, i: usize) -> i64 {
    a.rule_hits.get(i).copied().unwrap_or(0)
}

fn page_points(rule: &PageRule, hits: i64) -> i64 {
    let points = hits * rule.points;
    if rule.limit < 0 {
        points.max(rule.limit)
    } else {
        points.min(rule.limit)
    }
}

/// The sum of the parts after the decay, and the whole days since the last visit.
fn decayed(a: &Activity, rules: &ScoreRules, raw: i64, now_ms: i64) -> (i64, i64) {
    let days = (now_ms - a.last_visit_at).max(0) / DAY_MS;
    let factor = 0.5f64.powf(days as f64 / rules.half_life_days.max(1.0));
    ((raw as f64 * factor).round() as i64, days)
}

/// The score of `a` at `now_ms` alone, as [`score`] gives it: the feed orders every company by
/// it and writes the lines of the rows it shows.
pub fn value(a: &Activity, rules: &ScoreRules, now_ms: i64) -> u8 {
    let raw: i64 = parts(a, rules).iter().sum();
    if a.visits == 0 || raw <= 0 {
        return 0;
    }
    decayed(a, rules, raw, now_ms).0.clamp(0, 100) as u8
}

/// `n` with a minus sign when negative.
fn num(n: i64) -> String {
    match n < 0 {
        true => format!("\u{2212}{}", -n),
        false => n.to_string(),
    }
}

/// `n × points = sum`, with the limit when it cut the sum.
fn sum_text(n: i64, unit: (&str, &str), points: i64, limit: i64, got: i64) -> String {
    let mut s = format!(
        "{} × {} = {}",
        plural(n, unit.0, unit.1),
        num(points),
        num(n * points)
    );
    if got != n * points {
        s.push_str(&format!(", limited to {}", num(limit)));
    }
    s
}

/// The score of `a` at `now_ms`, with the lines that explain it.
pub fn score(a: &Activity, rules: &ScoreRules, now_ms: i64) -> Score {
    let parts = parts(a, rules);
    let mut lines = Vec::new();
    let mut add = |text: String, points: i64, rule: String| {
        if points != 0 {
            lines.push(Line { text, points, rule });
        }
    };
    let v = &rules.visits;
    add(
        format!("{} in 30 days", plural(a.visits, "visit", "visits")),
        parts[0],
        format!(
            "Visits: {}",
            sum_text(a.visits, ("visit", "visits"), v.points, v.cap, parts[0])
        ),
    );
    let (v, others) = (&rules.visitors, (a.visitors - 1).max(0));
    add(
        format!(
            "{} from the company",
            plural(a.visitors, "visitor", "visitors")
        ),
        parts[1],
        format!(
            "Visitors after the first: {}",
            sum_text(others, ("visitor", "visitors"), v.points, v.cap, parts[1])
        ),
    );
    let (v, minutes) = (&rules.minutes, a.engaged_ms / 60_000);
    add(
        format!("{} engaged", plural(minutes, "minute", "minutes")),
        parts[2],
        format!(
            "Engaged time: {}",
            sum_text(minutes, ("minute", "minutes"), v.points, v.cap, parts[2])
        ),
    );
    for (i, rule) in rules.pages.iter().enumerate() {
        let n = hits(a, i);
        add(
            format!("visited {} {}", rule.label, times(n)),
            parts[3 + i],
            format!(
                "Rule \u{2018}{}\u{2019}: {}",
                rule.label,
                sum_text(
                    n,
                    ("pageview", "pageviews"),
                    rule.points,
                    rule.limit,
                    parts[3 + i]
                )
            ),
        );
    }
    let raw: i64 = lines.iter().map(|l| l.points).sum();
    if a.visits == 0 || raw <= 0 {
        return Score { value: 0, lines };
    }
    let (decayed, days) = decayed(a, rules, raw, now_ms);
    if decayed != raw {
        lines.push(Line {
            text: format!("last visit {} ago", plural(days, "day", "days")),
            points: decayed - raw,
            rule: format!(
                "Recency: halved every {} days, {raw} × 0.5^({days}/{}) = {decayed}",
                rules.half_life_days, rules.half_life_days
            ),
        });
    }
    if decayed > 100 {
        lines.push(Line {
            text: "capped at 100".to_owned(),
            points: 100 - decayed,
            rule: "A score is at most 100.".to_owned(),
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
        let rules = ScoreRules::default();
        assert!(rules.pages[0].matches("/pricing/teams"));
        assert!(rules.pages[1].matches("/book-a-demo"));
        assert!(rules.pages[3].matches("/jobs/berlin"));
        assert!(!rules.pages[0].matches("/blog/pricing"));
    }

    #[test]
    fn decay_and_cap_are_lines_of_their_own() {
        let d = ScoreRules::default();
        let score = |a: &Activity, now| score(a, &d, now);
        let value = |a: &Activity, now| value(a, &d, now);
        let now = 100 * DAY_MS;
        let hot = Activity {
            visits: 9,
            visitors: 5,
            engaged_ms: 45 * 60_000,
            last_visit_at: now - 3_600_000,
            rule_hits: vec![4, 2, 2, 0],
        };
        let s = score(&hot, now);
        assert_eq!(s.value, 100);
        assert_eq!(s.lines.last().unwrap().text, "capped at 100");
        assert_eq!(s.lines.last().unwrap().points, -40);
        let old = Activity {
            last_visit_at: now - 14 * DAY_MS - 1,
            ..hot.clone()
        };
        assert_eq!(score(&old, now).value, 70);
        let seeker = Activity {
            visits: 1,
            visitors: 1,
            engaged_ms: 0,
            last_visit_at: now,
            rule_hits: vec![0, 0, 0, 5],
        };
        assert_eq!(score(&seeker, now).value, 0);
        for a in [&hot, &old, &seeker] {
            assert_eq!(value(a, now), score(a, now).value);
        }
    }

    #[test]
    fn a_sites_own_rules_score_and_name_each_line() {
        let now = 100 * DAY_MS;
        let rules = ScoreRules {
            pages: vec![PageRule {
                label: "Docs".to_owned(),
                patterns: vec!["/docs*".to_owned()],
                points: -15,
                limit: -20,
            }],
            half_life_days: 7.0,
            ..ScoreRules::default()
        };
        let a = Activity {
            visits: 4,
            visitors: 1,
            engaged_ms: 0,
            last_visit_at: now - 7 * DAY_MS,
            rule_hits: vec![3],
        };
        // 20 (4 visits) − 20 (3 × −15, floored at −20) = 0: no score.
        assert_eq!(value(&a, &rules, now), 0);
        let s = score(&a, &rules, now);
        assert_eq!(
            s.lines[1].rule,
            "Rule \u{2018}Docs\u{2019}: 3 pageviews × \u{2212}15 = \u{2212}45, limited to \u{2212}20"
        );
        // With one docs page: 20 − 15 = 5, halved after 7 days: 3 (rounded).
        let one = Activity {
            rule_hits: vec![1],
            ..a
        };
        assert_eq!(value(&one, &rules, now), 3);
        assert_eq!(score(&one, &rules, now).value, 3);
        assert!(rules.pages[0].matches("/docs/api") && !rules.pages[0].matches("/pricing"));
    }
}
