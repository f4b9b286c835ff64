//! How the dashboard writes numbers, times and changes.

use jiff::Timestamp;
use jiff::tz::TimeZone;

/// `12,345`.
pub fn count(n: i64) -> String {
    let digits = n.unsigned_abs().to_string();
    let mut out = String::with_capacity(digits.len() + digits.len() / 3 + 1);
    if n < 0 {
        out.push('\u{2212}');
    }
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    out
}

/// `45s`, `3m 12s`, `2h 05m`.
pub fn duration(ms: i64) -> String {
    let s = ms.max(0) / 1000;
    match s {
        0..60 => format!("{s}s"),
        60..3600 => format!("{}m {:02}s", s / 60, s % 60),
        _ => format!("{}h {:02}m", s / 3600, (s % 3600) / 60),
    }
}

/// A time in the site's zone: `2026-11-03 14:05`.
pub fn at(tz: &TimeZone, ms: i64) -> String {
    Timestamp::from_millisecond(ms)
        .map(|t| {
            t.to_zoned(tz.clone())
                .strftime("%Y-%m-%d %H:%M")
                .to_string()
        })
        .unwrap_or_default()
}

/// The time of day in the site's zone: `14:05:09`.
pub fn clock(tz: &TimeZone, ms: i64) -> String {
    Timestamp::from_millisecond(ms)
        .map(|t| t.to_zoned(tz.clone()).strftime("%H:%M:%S").to_string())
        .unwrap_or_default()
}

/// A time in the site's zone as ISO 8601 with its offset, for the CSV.
pub fn iso(tz: &TimeZone, ms: i64) -> String {
    Timestamp::from_millisecond(ms)
        .map(|t| {
            t.to_zoned(tz.clone())
                .strftime("%Y-%m-%dT%H:%M:%S%:z")
                .to_string()
        })
        .unwrap_or_default()
}

/// How long ago, roughly: `just now`, `5 min ago`, `3 h ago`, `4 days ago`.
pub fn ago(now_ms: i64, ms: i64) -> String {
    let s = (now_ms - ms).max(0) / 1000;
    match s {
        0..60 => "just now".to_owned(),
        60..3600 => format!("{} min ago", s / 60),
        3600..86400 => format!("{} h ago", s / 3600),
        86400..172800 => "yesterday".to_owned(),
        _ => format!("{} days ago", s / 86400),
    }
}

/// The change from `before` to `now`: `+12%`, `−3%`, `new` or empty when both are zero.
pub fn change(now: i64, before: i64) -> (String, &'static str) {
    if before == 0 {
        return if now == 0 {
            (String::new(), "flat")
        } else {
            ("new".to_owned(), "up")
        };
    }
    let pct = ((now - before) as f64 * 100.0 / before as f64).round() as i64;
    match pct {
        0 => ("±0%".to_owned(), "flat"),
        p if p > 0 => (format!("+{p}%"), "up"),
        p => (format!("\u{2212}{}%", -p), "down"),
    }
}

/// `part` of `whole` as a whole percentage.
pub fn percent(part: i64, whole: i64) -> i64 {
    if whole == 0 {
        0
    } else {
        (part as f64 * 100.0 / whole as f64).round() as i64
    }
}

/// A class as customers read it, with what it means.
pub fn class_label(class: &str) -> (&'static str, &'static str) {
    match class {
        "business" => (
            "Business",
            "A company: the organisation behind the network.",
        ),
        "education" => ("Education", "A university, school or research network."),
        "government" => ("Government", "A public body, ministry or the military."),
        "isp" => (
            "ISP",
            "An internet provider's home or office line: the person is not identified.",
        ),
        "mobile" => ("Mobile", "A mobile network: the person is not identified."),
        "hosting" => (
            "Cloud or VPN",
            "A cloud, data-centre, VPN or corporate proxy network: the company behind the visit is not the network's owner.",
        ),
        _ => (
            "Unknown",
            "The IP data names no organisation for this network.",
        ),
    }
}

/// The tooltip on a class: what the class means, then why the data gives it, so a user can
/// tell a reviewed entry ("reviewed: ...") from a rule's guess ("isp: name contains ...").
pub fn class_help(help: &str, reason: Option<&str>) -> String {
    match reason.map(str::trim).filter(|r| !r.is_empty()) {
        Some(reason) => format!("{help} Why: {reason}"),
        None => help.to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numbers_and_changes_read_well() {
        assert_eq!(count(1_234_567), "1,234,567");
        assert_eq!(count(999), "999");
        assert_eq!(duration(192_000), "3m 12s");
        assert_eq!(duration(7_500_000), "2h 05m");
        assert_eq!(change(110, 100).0, "+10%");
        assert_eq!(change(90, 100).0, "\u{2212}10%");
        assert_eq!(change(5, 0).0, "new");
    }
}
