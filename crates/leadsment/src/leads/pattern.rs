//! Page patterns: a path where `*` matches any run of characters (none included). The whole
//! path must match, and case counts: `/pricing*` matches `/pricing` and `/pricing/teams`, not
//! `/Pricing` or `/en/pricing`.

use crate::store::settings::Backend;

/// The longest pattern accepted.
pub const MAX_LEN: usize = 200;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PathPattern(String);

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PatternError {
    #[error("a page pattern starts with / or *, such as /pricing or /blog/*")]
    NoSlash,
    #[error("a page pattern is at most {MAX_LEN} characters")]
    TooLong,
    #[error("a page pattern cannot contain control characters")]
    Control,
}

/// Whether `path` matches the whole of `pattern` (a valid pattern's text): linear in the
/// path's length for each `*`-separated part.
pub fn matches(pattern: &str, path: &str) -> bool {
    let mut parts = pattern.split('*');
    let first = parts.next().unwrap_or("");
    let Some(mut rest) = path.strip_prefix(first) else {
        return false;
    };
    let parts: Vec<&str> = parts.collect();
    let Some((last, middle)) = parts.split_last() else {
        return rest.is_empty();
    };
    for part in middle {
        match rest.find(part) {
            Some(i) => rest = &rest[i + part.len()..],
            None => return false,
        }
    }
    rest.len() >= last.len() && rest.ends_with(last)
}

impl PathPattern {
    pub fn parse(s: &str) -> Result<PathPattern, PatternError> {
        let s = s.trim();
        if s.chars().count() > MAX_LEN {
            return Err(PatternError::TooLong);
        }
        if s.chars().any(char::is_control) {
            return Err(PatternError::Control);
        }
        if !(s.starts_with('/') || s.starts_with('*')) {
            return Err(PatternError::NoSlash);
        }
        Ok(PathPattern(s.to_owned()))
    }

    /// A pattern known to be valid (the scoring rules' own).
    pub const fn fixed(s: String) -> PathPattern {
        PathPattern(s)
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// Whether `path` matches the whole pattern.
    pub fn matches(&self, path: &str) -> bool {
        matches(&self.0, path)
    }

    /// The condition `column` matches the pattern bound as `$n`, on `backend`.
    pub fn condition(backend: Backend, column: &str, n: usize) -> String {
        match backend {
            Backend::Sqlite => format!("{column} GLOB ${n}"),
            // `!` rather than a backslash, whose meaning in a literal depends on the server's
            // `standard_conforming_strings`.
            Backend::Postgres => format!("{column} LIKE ${n} ESCAPE '!'"),
        }
    }

    /// The value to bind for [`PathPattern::condition`]: GLOB's and LIKE's other wildcards
    /// made literal.
    pub fn sql_value(&self, backend: Backend) -> String {
        let mut out = String::with_capacity(self.0.len() + 8);
        for c in self.0.chars() {
            match (backend, c) {
                (_, '*') if backend == Backend::Postgres => out.push('%'),
                (Backend::Sqlite, '?') => out.push_str("[?]"),
                (Backend::Sqlite, '[') => out.push_str("[[]"),
                (Backend::Postgres, '%' | '_' | '!') => {
                    out.push('!');
                    out.push(c);
                }
                _ => out.push(c),
            }
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn p(s: &str) -> PathPattern {
        PathPattern::parse(s).unwrap()
    }

    #[test]
    fn stars_match_runs_and_the_whole_path_must_match() {
        assert!(p("/pricing*").matches("/pricing"));
        assert!(p("/pricing*").matches("/pricing/teams"));
        assert!(!p("/pricing*").matches("/Pricing"));
        assert!(!p("/pricing").matches("/pricing/teams"));
        assert!(!p("/pricing*").matches("/en/pricing"));
        assert!(p("*/pricing").matches("/en/pricing"));
        assert!(p("/blog/*/2026*").matches("/blog/x/2026-01"));
        assert!(!p("/blog/*/2026").matches("/blog/x/2026-01"));
        assert!(p("*demo*").matches("/book-a-demo"));
        assert!(p("/a*a").matches("/aa") && !p("/a*a").matches("/a"));
        assert!(p("/100%_[x]?").matches("/100%_[x]?"));
    }

    #[test]
    fn wildcards_of_sql_are_literal() {
        assert_eq!(p("/a?[b]*").sql_value(Backend::Sqlite), "/a[?][[]b]*");
        assert_eq!(p("/a%_!\\*").sql_value(Backend::Postgres), "/a!%!_!!\\%");
    }

    #[test]
    fn bad_patterns_are_refused() {
        assert_eq!(PathPattern::parse("pricing"), Err(PatternError::NoSlash));
        assert_eq!(PathPattern::parse("/a\nb"), Err(PatternError::Control));
        assert!(PathPattern::parse(&format!("/{}", "a".repeat(300))).is_err());
    }
}
