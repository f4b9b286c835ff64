//! Names that belong to private networks, never to the internet: the fetcher neither looks
//! them up nor connects to them, whatever the instance's own resolver would answer (on a
//! company network it may well answer `db.internal` with an inner address, and telling a user
//! which range that is would describe the network the server runs in).

/// Suffixes of names that are private by definition or by wide use, each with what says so.
const PRIVATE_SUFFIXES: &[(&str, &str)] = &[
    ("localhost", "RFC 6761"),
    ("local", "RFC 6762, multicast DNS"),
    ("internal", "reserved by ICANN for private use"),
    ("home.arpa", "RFC 8375, home networks"),
    ("invalid", "RFC 6761"),
    ("onion", "RFC 7686"),
    ("alt", "RFC 9476"),
    ("lan", "private networks by wide use"),
    ("intranet", "private networks by wide use"),
    ("corp", "private networks by wide use"),
    ("home", "private networks by wide use"),
    ("private", "private networks by wide use"),
];

/// Why `name` is not a name on the internet: a private suffix (with what says so), or a single
/// label (`intranet`, `db`), which a resolver would complete with the server's own search
/// domains. `None` for any other name.
pub fn private_name(name: &str) -> Option<&'static str> {
    let name = name.trim_end_matches('.').to_ascii_lowercase();
    if !name.contains('.') {
        return Some("a name without a dot is looked up on the server's own network");
    }
    PRIVATE_SUFFIXES.iter().find_map(|(suffix, why)| {
        let under = name
            .strip_suffix(suffix)
            .is_some_and(|rest| rest.is_empty() || rest.ends_with('.'));
        under.then_some(*why)
    })
}

#[cfg(test)]
mod tests {
    use super::private_name;

    #[test]
    fn private_names_are_known_by_their_suffix_and_public_ones_pass() {
        for name in [
            "localhost",
            "app.localhost",
            "printer.local",
            "db.internal",
            "DB.Internal.",
            "nas.home.arpa",
            "x.onion",
            "wiki.corp",
            "router.lan",
            "intranet",
        ] {
            assert!(private_name(name).is_some(), "{name}");
        }
        for name in [
            "example.com",
            "internal.example.com",
            "local.example",
            "mylocal.com",
            "corp.example.org",
            "home.example",
            "acme.test",
        ] {
            assert_eq!(private_name(name), None, "{name}");
        }
    }
}
