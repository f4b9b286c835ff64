//! Display names: the organisation name as people say it.
//!
//! "GOOGLE - Google LLC" becomes "Google", "AMAZON-02" becomes "Amazon", "Cloudflare, Inc."
//! becomes "Cloudflare". Steps: drop an iptoasn-style `HANDLE - ` prefix; turn a bare handle
//! into words (dropping `-02`, `-AS`, `-NET` and similar tails); drop legal-form suffixes
//! (`data/legal-suffixes.txt`); title-case long words in names written all in capitals.

use std::collections::HashSet;
use std::sync::OnceLock;

const LEGAL_SUFFIXES: &str = include_str!("../data/legal-suffixes.txt");

fn suffixes() -> &'static HashSet<&'static str> {
    static SET: OnceLock<HashSet<&'static str>> = OnceLock::new();
    SET.get_or_init(|| {
        LEGAL_SUFFIXES
            .lines()
            .map(str::trim)
            .filter(|l| !l.is_empty() && !l.starts_with('#'))
            .collect()
    })
}

/// The normalised display name of a published organisation name.
pub fn display_name(org: &str) -> String {
    let mut s = org.trim();
    // iptoasn publishes "HANDLE - Name"; the handle is one word of capitals, digits and dashes.
    if let Some((head, tail)) = s.split_once(" - ")
        && is_handle(head)
        && !tail.trim().is_empty()
    {
        s = tail.trim();
    }
    let mut words: Vec<String> = if is_handle(s) {
        handle_words(s)
    } else {
        s.split_whitespace().map(str::to_owned).collect()
    };
    strip_legal_suffixes(&mut words);
    let all_caps = !words.iter().any(|w| w.chars().any(char::is_lowercase));
    // A lone short word ("KDDI") is an acronym; in longer names only words of three letters or
    // fewer are kept in capitals.
    let min_letters = if words.len() == 1 { 5 } else { 4 };
    let out: Vec<String> = words
        .into_iter()
        .map(|w| {
            if all_caps {
                title_case(&w, min_letters)
            } else {
                w
            }
        })
        .collect();
    let joined = out.join(" ");
    let trimmed = joined.trim_matches(|c: char| c == ',' || c == '-' || c.is_whitespace());
    if trimmed.is_empty() {
        org.trim().to_owned()
    } else {
        trimmed.to_owned()
    }
}

/// A display name for a company known only by its domain (from reverse DNS, say): the first
/// label of the registrable domain, dash-separated words capitalised, legal-form suffixes
/// dropped as in [`display_name`]. `acme-gmbh.de` gives "Acme", `kanzlei-mueller.de` gives
/// "Kanzlei Mueller", and a label of three characters or fewer is taken for an acronym:
/// `sap.com` gives "SAP". A punycode (`xn--`) or otherwise unusual label gives the domain as it
/// is, rather than a mangled name.
pub fn display_name_from_domain(domain: &str) -> String {
    let domain = domain.trim().trim_end_matches('.');
    let label = domain.split('.').next().unwrap_or_default();
    let plain = !label.is_empty()
        && !label.starts_with("xn--")
        && label.chars().any(|c| c.is_ascii_alphabetic())
        && label.chars().all(|c| c.is_ascii_alphanumeric() || c == '-');
    if !plain {
        return domain.to_owned();
    }
    let mut words: Vec<String> = label
        .split('-')
        .filter(|w| !w.is_empty())
        .map(|w| {
            let mut chars = w.chars();
            match chars.next() {
                Some(first) => first.to_ascii_uppercase().to_string() + chars.as_str(),
                None => String::new(),
            }
        })
        .collect();
    if let [only] = words.as_mut_slice()
        && only.len() <= 3
    {
        *only = only.to_ascii_uppercase();
    }
    strip_legal_suffixes(&mut words);
    words.join(" ")
}

/// A registry handle: capitals, digits, `-`, `_`, `.`, no spaces, at least one letter.
fn is_handle(s: &str) -> bool {
    !s.is_empty()
        && s.chars().any(|c| c.is_ascii_uppercase())
        && s.chars()
            .all(|c| c.is_ascii_uppercase() || c.is_ascii_digit() || matches!(c, '-' | '_' | '.'))
}

/// "AMAZON-02" -> ["AMAZON"], "MICROSOFT-CORP-MSN-AS-BLOCK" -> ["MICROSOFT", "CORP", "MSN"].
fn handle_words(s: &str) -> Vec<String> {
    let mut parts: Vec<&str> = s.split(['-', '_', '.']).filter(|p| !p.is_empty()).collect();
    // Leading "AS" in "AS-EXAMPLE" names the object type, not the organisation.
    if parts.len() > 1 && matches!(parts.first(), Some(&"AS") | Some(&"ASN")) {
        parts.remove(0);
    }
    while parts.len() > 1 {
        let Some(last) = parts.last() else { break };
        let noise = last.chars().all(|c| c.is_ascii_digit())
            || matches!(
                *last,
                "AS" | "ASN" | "NET" | "BLOCK" | "NETWORK" | "AP" | "BACKBONE" | "ISP"
            )
            || (last.starts_with("AS") && last[2..].chars().all(|c| c.is_ascii_digit()));
        if !noise {
            break;
        }
        parts.pop();
    }
    parts.into_iter().map(str::to_owned).collect()
}

fn strip_legal_suffixes(words: &mut Vec<String>) {
    let set = suffixes();
    loop {
        let mut removed = false;
        // Try the longest tail first, so "Co., Ltd." goes as one suffix.
        for k in (1..=3).rev() {
            if words.len() <= k {
                continue;
            }
            let tail: String = words[words.len() - k..]
                .iter()
                .flat_map(|w| w.chars())
                .filter(|c| c.is_alphanumeric())
                .flat_map(char::to_lowercase)
                .collect();
            if !tail.is_empty() && set.contains(tail.as_str()) {
                words.truncate(words.len() - k);
                removed = true;
                break;
            }
        }
        // "Cloudflare, Inc." leaves "Cloudflare," behind.
        let count = words.len();
        if let Some(last) = words.last_mut() {
            let t = last.trim_end_matches([',', '.', '-', '&']).len();
            if t == 0 && count > 1 {
                words.pop();
                removed = true;
            } else {
                last.truncate(t.max(1));
            }
        }
        // A glued suffix: "Co.,Ltd." inside the last word, e.g. "Advertising Co.,Ltd.".
        if !removed {
            break;
        }
    }
    if let Some(last) = words.last_mut()
        && let Some(pos) = last.find(",")
        && pos > 0
    {
        let rest: String = last[pos..]
            .chars()
            .filter(|c| c.is_alphanumeric())
            .flat_map(char::to_lowercase)
            .collect();
        if set.contains(rest.as_str()) {
            last.truncate(pos);
        }
    }
}

/// Title-cases a word of at least `min_letters` letters; shorter ones are usually acronyms.
fn title_case(w: &str, min_letters: usize) -> String {
    let letters = w.chars().filter(|c| c.is_alphabetic()).count();
    if letters < min_letters {
        return w.to_owned();
    }
    let mut out = String::with_capacity(w.len());
    let mut start = true;
    for c in w.chars() {
        if start {
            out.extend(c.to_uppercase());
        } else {
            out.extend(c.to_lowercase());
        }
        start = !c.is_alphanumeric();
    }
    out
}

#[cfg(test)]
mod tests {
    use super::{display_name, display_name_from_domain};

    #[test]
    fn names_from_domains() {
        for (domain, want) in [
            ("acme-gmbh.de", "Acme"),
            ("kanzlei-mueller.de", "Kanzlei Mueller"),
            ("stadtwerke-musterstadt.de", "Stadtwerke Musterstadt"),
            ("muster-ag.ch", "Muster"),
            ("example.co.uk", "Example"),
            ("uni-heidelberg.de", "Uni Heidelberg"),
            ("sap.com", "SAP"),
            ("3m.com", "3M"),
            ("acme.de.", "Acme"),
            ("gmbh.de", "Gmbh"),
            ("web--shop.de", "Web Shop"),
            ("xn--mller-kva.de", "xn--mller-kva.de"),
            ("123.de", "123.de"),
            ("", ""),
        ] {
            assert_eq!(display_name_from_domain(domain), want, "{domain}");
        }
    }

    #[test]
    fn examples() {
        for (org, want) in [
            ("GOOGLE - Google LLC", "Google"),
            ("AMAZON-02", "Amazon"),
            ("AMAZON-AES", "Amazon AES"),
            ("Cloudflare, Inc.", "Cloudflare"),
            (
                "Hangzhou Alibaba Advertising Co.,Ltd.",
                "Hangzhou Alibaba Advertising",
            ),
            ("Telecom Italia S.p.A.", "Telecom Italia"),
            ("Deutsche Telekom AG", "Deutsche Telekom"),
            ("Orange Polska Spolka Akcyjna", "Orange Polska"),
            ("P4 Sp. z o.o.", "P4"),
            ("SK Broadband Co Ltd", "SK Broadband"),
            ("KDDI CORPORATION", "KDDI"),
            ("INGERSOLL CUTTING TOOL COMPANY", "Ingersoll Cutting Tool"),
            ("Telefonica Germany GmbH & Co.OHG", "Telefonica Germany"),
            ("Chunghwa Telecom Co., Ltd.", "Chunghwa Telecom"),
            ("AS219543", "AS219543"),
            ("Inc.", "Inc"),
            ("CLOUDFLARENET", "Cloudflarenet"),
            ("MICROSOFT-CORP-MSN-AS-BLOCK", "Microsoft Corp MSN"),
            (
                "United States Department of Defense (DoD)",
                "United States Department of Defense (DoD)",
            ),
        ] {
            assert_eq!(display_name(org), want, "{org}");
        }
    }
}
