//! A visit's traits: what it keeps of its first event that many visits share (its network's
//! class and country, where it came from, its browser, system and device). Each distinct
//! combination is stored once, in `visit_traits`, and a visit holds its id: the twelve texts
//! took about half of every visit row.

use std::collections::HashSet;

use super::model::{IngestBatch, NewEvent};
use super::visit_cache::VisitCache;

/// The columns of `visit_traits` after `id` and `key`, in the order [`key`] lists them.
pub const COLUMNS: &str = "class, country, source, channel, utm_source, utm_medium, \
     utm_campaign, utm_term, utm_content, browser, os, device";

/// What tells one combination from another: the twelve values as a compact JSON array
/// (`["business","DE",null,"direct",...]`), the form the migration that made the table
/// wrote with SQLite's `json_array`.
pub fn key(ev: &NewEvent) -> String {
    let values: [Option<&str>; 12] = [
        Some(&ev.class),
        ev.country.as_deref(),
        ev.source.as_deref(),
        Some(&ev.channel),
        ev.utm_source.as_deref(),
        ev.utm_medium.as_deref(),
        ev.utm_campaign.as_deref(),
        ev.utm_term.as_deref(),
        ev.utm_content.as_deref(),
        ev.browser.as_deref(),
        ev.os.as_deref(),
        Some(&ev.device),
    ];
    serde_json::to_string(&values).unwrap_or_default()
}

/// The key of each event of a batch that may open a visit (one the cache cannot place in an
/// open visit), `None` for the others: built once per batch, for [`missing`] and then for
/// the plan's new visits. Call after the cache made room, so that what it places stays.
pub fn keys(batch: &IngestBatch, cache: &VisitCache) -> Vec<Option<String>> {
    batch
        .events
        .iter()
        .map(|ev| {
            cache
                .open_visit(ev.site_id.0, ev.visitor_hash, ev.ts)
                .is_none()
                .then(|| key(ev))
        })
        .collect()
}

/// The combinations of a batch (`keys`, from [`keys`]) that the cache has no id for, each once
/// with an event that has it, in the order of their keys (two nodes inserting the same ones
/// then take their locks in the same order).
pub fn missing<'b>(
    batch: &'b IngestBatch,
    keys: &[Option<String>],
    cache: &VisitCache,
) -> Vec<(String, &'b NewEvent)> {
    let mut seen = HashSet::new();
    let mut out: Vec<(String, &NewEvent)> = Vec::new();
    for (ev, k) in batch.events.iter().zip(keys) {
        if let Some(k) = k
            && cache.traits(k).is_none()
            && seen.insert(k.as_str())
        {
            out.push((k.clone(), ev));
        }
    }
    out.sort_unstable_by(|a, b| a.0.cmp(&b.0));
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_key_is_compact_json_in_column_order() {
        let mut ev = crate::tracking::visits::tests::event("asn:1:x");
        ev.country = Some("DE".into());
        ev.utm_campaign = Some("spring \"sale\"".into());
        assert_eq!(
            key(&ev),
            r#"["business","DE",null,"direct",null,null,"spring \"sale\"",null,null,null,null,"desktop"]"#
        );
    }
}
