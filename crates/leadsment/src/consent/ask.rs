//! When the banner asks a visitor again. A choice holds until a category the visitor
//! consented to gains something: a tag, or a cookie or storage key (or a key's purpose,
//! duration or party changes). A revision that only takes things away (a tag switched off)
//! keeps every consent; so does one that adds to a category the visitor refused (nothing of
//! it loads for them). To compare, each revision's content is recorded with it.

use std::collections::{BTreeMap, BTreeSet};

use super::tags::Tag;
use crate::registry::{Category, Entry, Registry};

/// What a revision holds per consent category: one line for each key and each tag.
pub type Content = BTreeMap<String, BTreeSet<String>>;

fn key_line(e: &Entry) -> String {
    format!(
        "key {}|{}|{}|{}|{}|{}|{}",
        e.name,
        e.storage.as_str(),
        e.party.as_str(),
        e.domain,
        e.provider,
        e.duration,
        e.purpose
    )
}

/// The content of the registry and the switched-on tags, per chosen category.
pub fn content(registry: &Registry, tags: &[Tag]) -> Content {
    Category::CHOSEN
        .into_iter()
        .map(|cat| {
            let keys = registry.in_category(cat).map(key_line);
            let tags = tags.iter().filter(|t| t.spec.category == cat).map(|t| {
                format!(
                    "tag {}|{}|{}",
                    t.spec.kind.as_str(),
                    t.spec.target,
                    t.spec.hosts.join(" ")
                )
            });
            (cat.as_str().to_owned(), keys.chain(tags).collect())
        })
        .collect()
}

/// The policy revision: a hash of the registry's content and of what each switched-on tag
/// loads (its kind, ID or URL, hosts and category), so a tag pointed elsewhere, or a second
/// tag with the same cookies, is a new revision too. 16 hex digits.
pub fn revision(registry: &Registry, content: &Content) -> String {
    use sha2::{Digest, Sha256};
    let mut hash = Sha256::new();
    hash.update(registry.revision().as_bytes());
    hash.update(b"\n");
    hash.update(
        serde_json::to_string(content)
            .unwrap_or_default()
            .as_bytes(),
    );
    hash.finalize()[..8]
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// Whether `now` holds something `then` did not, in one of the `consented` categories.
pub fn gained(then: &Content, now: &Content, consented: &[Category]) -> bool {
    consented.iter().any(|cat| {
        let empty = BTreeSet::new();
        let before = then.get(cat.as_str()).unwrap_or(&empty);
        now.get(cat.as_str())
            .is_some_and(|lines| lines.iter().any(|l| !before.contains(l)))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn content_of(analytics: &[&str], advertising: &[&str]) -> Content {
        let set = |l: &[&str]| l.iter().map(|s| (*s).to_owned()).collect();
        [
            ("analytics".to_owned(), set(analytics)),
            ("advertising".to_owned(), set(advertising)),
        ]
        .into_iter()
        .collect()
    }

    #[test]
    fn only_gains_in_consented_categories_ask_again() {
        let then = content_of(&["tag ga4|G-1", "key _ga"], &["tag linkedin|1"]);
        let all = [Category::Analytics, Category::Advertising];
        // A tag switched off: nothing gained.
        let fewer = content_of(&["tag ga4|G-1", "key _ga"], &[]);
        assert!(!gained(&then, &fewer, &all));
        // A new key under analytics: asked again by those who consented to analytics only.
        let more = content_of(
            &["tag ga4|G-1", "key _ga", "key _clck"],
            &["tag linkedin|1"],
        );
        assert!(gained(&then, &more, &all));
        assert!(gained(&then, &more, &[Category::Analytics]));
        assert!(!gained(&then, &more, &[Category::Advertising]));
        assert!(!gained(&then, &more, &[]), "a refusal is not asked again");
        // A changed ID is a new tag.
        let changed = content_of(&["tag ga4|G-2", "key _ga"], &["tag linkedin|1"]);
        assert!(gained(&then, &changed, &[Category::Analytics]));
    }
}
