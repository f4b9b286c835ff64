//! The user agent: is it a bot, and which browser, operating system and kind of device. Only
//! those three words are kept; the user-agent string itself is never stored.

use std::sync::OnceLock;

use regex::RegexSet;
use serde::Serialize;

/// The crawler-user-agents patterns (data/bot-patterns.txt), compiled once.
fn bot_patterns() -> Option<&'static RegexSet> {
    static SET: OnceLock<Option<RegexSet>> = OnceLock::new();
    SET.get_or_init(|| {
        let patterns: Vec<&str> = include_str!("../../data/bot-patterns.txt")
            .lines()
            .filter(|l| !l.is_empty() && !l.starts_with('#'))
            .collect();
        match RegexSet::new(&patterns) {
            Ok(set) => Some(set),
            Err(e) => {
                tracing::error!(error = %e, "the bot patterns do not compile; bots are detected by the user-agent parser only");
                None
            }
        }
    })
    .as_ref()
}

/// Loads the patterns ahead of the first request, so no visitor waits for it.
pub fn warm_up() {
    let _ = bot_patterns();
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Agent {
    pub browser: Option<String>,
    pub os: Option<String>,
    /// `desktop`, `mobile` or `other`.
    pub device: &'static str,
}

/// User agents seen lately and what they were. Browsers send a few thousand distinct strings
/// between them, and parsing one (over a thousand bot patterns, then woothee's rules) costs
/// far more than a lookup: about 10 µs of the ingest path's CPU per event under load, in a
/// profile. Kept in memory only, like everything else about a request.
fn cache() -> &'static moka::sync::Cache<Box<str>, Option<Agent>> {
    static CACHE: OnceLock<moka::sync::Cache<Box<str>, Option<Agent>>> = OnceLock::new();
    CACHE.get_or_init(|| moka::sync::Cache::new(CACHED_AGENTS))
}

/// User agents kept parsed.
const CACHED_AGENTS: u64 = 20_000;

/// Longer user agents are parsed every time rather than kept (real browsers send about 150
/// bytes; a long one is more likely made up).
const MAX_CACHED_LEN: usize = 512;

/// `None` for a bot.
pub fn classify(user_agent: &str) -> Option<Agent> {
    if user_agent.len() > MAX_CACHED_LEN {
        return parse(user_agent);
    }
    if let Some(hit) = cache().get(user_agent) {
        return hit;
    }
    let agent = parse(user_agent);
    cache().insert(user_agent.into(), agent.clone());
    agent
}

fn parse(user_agent: &str) -> Option<Agent> {
    let ua = user_agent.trim();
    // Browsers always send one; an empty or tiny user agent is a script.
    if ua.len() < 10 {
        return None;
    }
    if bot_patterns().is_some_and(|set| set.is_match(ua)) {
        return None;
    }
    let parsed = woothee::parser::Parser::new().parse(ua);
    let Some(parsed) = parsed else {
        return Some(Agent {
            browser: None,
            os: None,
            device: "other",
        });
    };
    if parsed.category == "crawler" {
        return None;
    }
    let known = |s: &str| (!s.is_empty() && s != "UNKNOWN").then(|| s.to_owned());
    let device = match parsed.category {
        "pc" => "desktop",
        "smartphone" | "mobilephone" => "mobile",
        _ => "other",
    };
    Some(Agent {
        browser: known(parsed.name),
        os: known(parsed.os),
        device,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    const CHROME: &str = "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Safari/537.36";
    const IPHONE: &str = "Mozilla/5.0 (iPhone; CPU iPhone OS 17_5 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.5 Mobile/15E148 Safari/604.1";

    #[test]
    fn browsers_are_visitors() {
        let a = classify(CHROME).unwrap();
        assert_eq!(a.browser.as_deref(), Some("Chrome"));
        assert_eq!(a.device, "desktop");
        assert!(a.os.unwrap().contains("Windows"));
        let a = classify(IPHONE).unwrap();
        assert_eq!(a.device, "mobile");
        assert_eq!(a.browser.as_deref(), Some("Safari"));
    }

    #[test]
    fn bots_are_not() {
        for bot in [
            "Mozilla/5.0 (compatible; Googlebot/2.1; +http://www.google.com/bot.html)",
            "Mozilla/5.0 (compatible; bingbot/2.0; +http://www.bing.com/bingbot.htm)",
            "Mozilla/5.0 AppleWebKit/537.36 (KHTML, like Gecko; compatible; GPTBot/1.2; +https://openai.com/gptbot)",
            "curl/8.5.0",
            "python-requests/2.31.0",
            "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) HeadlessChrome/120.0.0.0 Safari/537.36",
            "",
            "x",
        ] {
            assert!(classify(bot).is_none(), "{bot}");
        }
    }
}
