//! A site's score rules: what each thing a company does is worth ([`super::score`] applies
//! them). Every site starts with [`ScoreRules::default`]; admins change them on the site's
//! score page, and the store keeps them as JSON. Scores are computed when read, so saved
//! rules apply to every score at once.

use serde::{Deserialize, Serialize};

use super::pattern::{PathPattern, PatternError};

/// Page rules a site has at most.
pub const MAX_PAGE_RULES: usize = 20;
/// Patterns one page rule has at most.
pub const MAX_PATTERNS: usize = 10;
/// The longest label.
pub const MAX_LABEL: usize = 60;
/// Points (per pageview, visit, visitor, minute) and limits stay within this, either way.
pub const MAX_POINTS: i64 = 100;

/// Points per pageview matching one of `patterns`, up to `limit` (a floor when negative).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PageRule {
    pub label: String,
    pub patterns: Vec<String>,
    pub points: i64,
    pub limit: i64,
}

impl PageRule {
    pub fn matches(&self, path: &str) -> bool {
        self.patterns
            .iter()
            .any(|p| crate::leads::pattern::matches(p, path))
    }
}

/// Points per unit, and at most.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Capped {
    pub points: i64,
    pub cap: i64,
}

impl Capped {
    pub fn of(&self, n: i64) -> i64 {
        (n * self.points).min(self.cap)
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ScoreRules {
    pub pages: Vec<PageRule>,
    /// Per visit.
    pub visits: Capped,
    /// Per visitor after the first.
    pub visitors: Capped,
    /// Per whole minute of engaged time.
    pub minutes: Capped,
    /// The score halves for every this many whole days since the last visit.
    pub half_life_days: f64,
}

fn rule(label: &str, patterns: &[&str], points: i64, limit: i64) -> PageRule {
    PageRule {
        label: label.to_owned(),
        patterns: patterns.iter().map(|p| (*p).to_owned()).collect(),
        points,
        limit,
    }
}

impl Default for ScoreRules {
    /// The rules every site starts with (`docs/leads.md` lists them for customers).
    fn default() -> ScoreRules {
        ScoreRules {
            pages: vec![
                rule("/pricing", &["/pricing*", "/plans*"], 10, 30),
                rule("a demo page", &["*demo*"], 15, 30),
                rule("/contact", &["/contact*"], 10, 20),
                rule("careers or jobs pages", &["/careers*", "/jobs*"], -10, -30),
            ],
            visits: Capped { points: 5, cap: 25 },
            visitors: Capped { points: 5, cap: 15 },
            minutes: Capped { points: 1, cap: 20 },
            half_life_days: 14.0,
        }
    }
}

impl ScoreRules {
    /// A short tag that changes whenever the rules do: the cache keeps the pieces counted
    /// with them under it.
    pub fn tag(&self) -> String {
        let json = serde_json::to_string(self).unwrap_or_default();
        let mut h: u64 = 0xcbf2_9ce4_8422_2325;
        for b in json.bytes() {
            h = (h ^ u64::from(b)).wrapping_mul(0x0000_0100_0000_01b3);
        }
        format!("rules:{h:016x}")
    }

    /// The page rules as the form shows them, one a line.
    pub fn pages_text(&self) -> String {
        self.pages
            .iter()
            .map(|r| {
                format!(
                    "{} | {} | {} | {}",
                    r.label,
                    r.patterns.join(", "),
                    r.points,
                    r.limit
                )
            })
            .collect::<Vec<_>>()
            .join("\n")
    }
}

/// The rules as typed in the form: every field text.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default)]
pub struct RulesForm {
    pub page_rules: String,
    pub visit_points: String,
    pub visit_cap: String,
    pub visitor_points: String,
    pub visitor_cap: String,
    pub minute_points: String,
    pub minute_cap: String,
    pub half_life_days: String,
}

impl RulesForm {
    pub fn of(r: &ScoreRules) -> RulesForm {
        RulesForm {
            page_rules: r.pages_text(),
            visit_points: r.visits.points.to_string(),
            visit_cap: r.visits.cap.to_string(),
            visitor_points: r.visitors.points.to_string(),
            visitor_cap: r.visitors.cap.to_string(),
            minute_points: r.minutes.points.to_string(),
            minute_cap: r.minutes.cap.to_string(),
            half_life_days: format_days(r.half_life_days),
        }
    }

    /// The rules, or a message per field that is wrong.
    pub fn parse(&self) -> Result<ScoreRules, Vec<(&'static str, String)>> {
        let mut errors = Vec::new();
        let pages = match page_rules(&self.page_rules) {
            Ok(p) => p,
            Err(e) => {
                errors.push(("page_rules", e));
                Vec::new()
            }
        };
        let mut capped = |points: (&'static str, &str), cap: (&'static str, &str)| {
            let p = number(points.1, 0, MAX_POINTS).map_err(|e| errors.push((points.0, e)));
            let c = number(cap.1, 0, MAX_POINTS).map_err(|e| errors.push((cap.0, e)));
            Capped {
                points: p.unwrap_or(0),
                cap: c.unwrap_or(0),
            }
        };
        let visits = capped(
            ("visit_points", &self.visit_points),
            ("visit_cap", &self.visit_cap),
        );
        let visitors = capped(
            ("visitor_points", &self.visitor_points),
            ("visitor_cap", &self.visitor_cap),
        );
        let minutes = capped(
            ("minute_points", &self.minute_points),
            ("minute_cap", &self.minute_cap),
        );
        let half_life_days = match self.half_life_days.trim().parse::<f64>() {
            Ok(d) if d.is_finite() && (1.0..=365.0).contains(&d) => d,
            _ => {
                errors.push((
                    "half_life_days",
                    "The half-life is a number of days from 1 to 365, such as 14.".to_owned(),
                ));
                14.0
            }
        };
        if !errors.is_empty() {
            return Err(errors);
        }
        Ok(ScoreRules {
            pages,
            visits,
            visitors,
            minutes,
            half_life_days,
        })
    }
}

fn format_days(d: f64) -> String {
    if d.fract() == 0.0 {
        format!("{}", d as i64)
    } else {
        format!("{d}")
    }
}

fn number(s: &str, min: i64, max: i64) -> Result<i64, String> {
    match s.trim().parse::<i64>() {
        Ok(n) if (min..=max).contains(&n) => Ok(n),
        _ => Err(format!("A whole number from {min} to {max}.")),
    }
}

/// Whether `p` would count every page of a site (`*`, `/*`, `*/*`): such a rule is a bonus
/// per pageview, which the visits already are.
fn matches_everything(p: &PathPattern) -> bool {
    p.matches("/") && p.matches("/zq-9/any.page") && p.matches("/a")
}

/// The page rules typed one a line as `label | patterns | points | limit`.
fn page_rules(text: &str) -> Result<Vec<PageRule>, String> {
    let mut out = Vec::new();
    for (i, line) in text.lines().enumerate() {
        let line = line.trim();
        if line.is_empty() {
            continue;
        }
        let n = i + 1;
        let fields: Vec<&str> = line.split('|').map(str::trim).collect();
        let [label, patterns, points, limit] = fields[..] else {
            return Err(format!(
                "Line {n}: a rule is four parts, label | patterns | points | limit, such as \
                 Pricing | /pricing*, /plans* | 10 | 30."
            ));
        };
        if label.is_empty() || label.chars().count() > MAX_LABEL {
            return Err(format!(
                "Line {n}: the label is 1 to {MAX_LABEL} characters."
            ));
        }
        let mut pats = Vec::new();
        for p in patterns.split(',').map(str::trim).filter(|p| !p.is_empty()) {
            let parsed = PathPattern::parse(p)
                .map_err(|e: PatternError| format!("Line {n}: {e} (not \u{201c}{p}\u{201d})."))?;
            if matches_everything(&parsed) {
                return Err(format!(
                    "Line {n}: \u{201c}{p}\u{201d} matches every page; the visits already \
                     count those. Name the pages, such as /pricing*."
                ));
            }
            pats.push(parsed.as_str().to_owned());
        }
        if pats.is_empty() || pats.len() > MAX_PATTERNS {
            return Err(format!(
                "Line {n}: a rule has 1 to {MAX_PATTERNS} page patterns, separated by commas."
            ));
        }
        let points = number(points, -MAX_POINTS, MAX_POINTS)
            .ok()
            .filter(|p| *p != 0)
            .ok_or_else(|| {
                format!(
                    "Line {n}: the points per pageview are a whole number from \
                     -{MAX_POINTS} to {MAX_POINTS}, not 0."
                )
            })?;
        let limit = number(limit, -MAX_POINTS, MAX_POINTS)
            .ok()
            .filter(|l| (*l > 0) == (points > 0) && *l != 0)
            .ok_or_else(|| match points > 0 {
                true => format!(
                    "Line {n}: the limit of a rule that adds points is from 1 to {MAX_POINTS}."
                ),
                false => format!(
                    "Line {n}: the limit of a rule that takes points away is from \
                     -{MAX_POINTS} to -1."
                ),
            })?;
        out.push(PageRule {
            label: label.to_owned(),
            patterns: pats,
            points,
            limit,
        });
        if out.len() > MAX_PAGE_RULES {
            return Err(format!("A site has at most {MAX_PAGE_RULES} page rules."));
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn form(pages: &str) -> RulesForm {
        RulesForm {
            page_rules: pages.to_owned(),
            ..RulesForm::of(&ScoreRules::default())
        }
    }

    #[test]
    fn the_default_rules_read_back_from_their_form() {
        let d = ScoreRules::default();
        assert_eq!(RulesForm::of(&d).parse(), Ok(d.clone()));
        assert_ne!(d.tag(), form("A | /a | 1 | 1").parse().unwrap().tag());
    }

    #[test]
    fn bad_rules_are_refused_with_their_line() {
        for (text, says) in [
            ("Any | * | 5 | 10", "matches every page"),
            ("Any | /pricing, /* | 5 | 10", "matches every page"),
            ("P | pricing | 5 | 10", "starts with /"),
            ("P | /p | 101 | 10", "from -100 to 100"),
            ("P | /p | 5 | -10", "from 1 to 100"),
            ("P | /p | -5 | 10", "from -100 to -1"),
            ("P | /p | 5", "four parts"),
            ("| /p | 5 | 5", "label"),
        ] {
            let e = form(text).parse().unwrap_err();
            assert_eq!(e[0].0, "page_rules");
            assert!(e[0].1.contains(says), "{text}: {}", e[0].1);
        }
        let many: Vec<String> = (0..21).map(|i| format!("R{i} | /r{i} | 1 | 1")).collect();
        assert!(
            form(&many.join("\n")).parse().unwrap_err()[0]
                .1
                .contains("at most 20")
        );
        let short = RulesForm {
            half_life_days: "0.5".to_owned(),
            ..form("")
        };
        assert_eq!(short.parse().unwrap_err()[0].0, "half_life_days");
    }
}
