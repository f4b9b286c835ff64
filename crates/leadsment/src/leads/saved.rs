//! Saved feeds: a name for a view of the company feed, listed under its site in the menu.
//! What is stored is the view's query string as the feed writes it ([`FeedQuery::link`]):
//! checked by the feed's own parser, in its own order, without the page marker.

use jiff::tz::TimeZone;

use super::filters::{self, FeedQuery, Invalid, RawFilters};

/// How many saved feeds a site may have: more would be a menu nobody reads.
pub const MAX_PER_SITE: i64 = 50;

/// The longest name, in characters.
pub const MAX_NAME: usize = 80;

/// A name as given, checked: trimmed, 1 to [`MAX_NAME`] characters, one line. Returns the
/// name and the key it is compared by (lower-cased), or what is wrong with it.
pub fn check_name(typed: &str) -> Result<(String, String), String> {
    let name = typed.trim();
    if name.is_empty() {
        return Err("Give the view a name, such as “Pricing visitors in Germany”.".to_owned());
    }
    if name.chars().any(char::is_control) {
        return Err("A name is one line of text, without tabs or line breaks.".to_owned());
    }
    if name.chars().any(is_invisible) {
        return Err(
            "A name cannot hold invisible characters (zero-width spaces, direction marks), \
             which would let two names look the same."
                .to_owned(),
        );
    }
    if name.chars().count() > MAX_NAME {
        return Err(format!("A name has at most {MAX_NAME} characters."));
    }
    Ok((name.to_owned(), name.to_lowercase()))
}

/// Unicode's format characters that show nothing or turn text around: zero-width spaces
/// and joiners, direction marks, embeddings, overrides and isolates, the word joiner and
/// invisible operators, the byte-order mark, the soft hyphen.
fn is_invisible(c: char) -> bool {
    matches!(c,
        '\u{00AD}' | '\u{061C}' | '\u{180E}' | '\u{200B}'..='\u{200F}' | '\u{202A}'..='\u{202E}'
        | '\u{2060}'..='\u{2064}' | '\u{2066}'..='\u{206F}' | '\u{FEFF}')
}

/// The query string of a view, checked with the feed's parser and written as the feed writes
/// its links (the page marker dropped); or every bad parameter, by name.
pub fn normalise(query: &str, tz: &TimeZone, now_ms: i64) -> Result<String, Vec<Invalid>> {
    let mut raw = RawFilters::from_query(Some(query.trim_start_matches('?')));
    // Which page of the feed was open is no part of the view.
    raw.cursor.clear();
    filters::parse(&raw, tz, now_ms).map(|q: FeedQuery| q.link())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_one_short_line_compared_without_case() {
        assert_eq!(
            check_name("  Pricing DE ").unwrap(),
            ("Pricing DE".to_owned(), "pricing de".to_owned())
        );
        assert!(check_name("   ").is_err());
        assert!(check_name("two\nlines").is_err());
        assert!(check_name(&"é".repeat(80)).is_ok());
        assert!(check_name(&"é".repeat(81)).is_err());
        for hidden in [
            "Pricing\u{202E}DE",
            "Pri\u{200B}cing",
            "\u{FEFF}Pricing",
            "a\u{2066}b",
        ] {
            assert!(check_name(hidden).is_err(), "{hidden:?}");
        }
        assert!(check_name("Preise für Österreich – 🇦🇹").is_ok());
    }

    #[test]
    fn queries_are_checked_and_lose_their_page_marker() {
        let tz = TimeZone::UTC;
        assert_eq!(
            normalise(
                "?sort=visits&country=de&period=7d&cursor=abc&utm_x=1",
                &tz,
                0
            )
            .unwrap(),
            "period=7d&country=DE&sort=visits"
        );
        assert_eq!(normalise("", &tz, 0).unwrap(), "period=30d");
        let bad = normalise("country=Germany&min_score=x", &tz, 0).unwrap_err();
        let fields: Vec<_> = bad.iter().map(|b| b.field).collect();
        assert_eq!(fields, ["country", "min_score"]);
    }
}
