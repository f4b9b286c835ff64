//! `leadsment export`: a site's stored events, streamed page by page as JSON lines or CSV.

use std::io::Write;

use super::model::ExportedEvent;
use crate::accounts::sites::Site;
use crate::csv_out::{Cell, CsvOut};
use crate::store::Db;

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Format {
    Jsonl,
    Csv,
}

const PAGE: i64 = 5_000;

/// Parses `2026-11-25` as the start of that day in the site's time zone, in milliseconds.
pub fn day_start_ms(site: &Site, date: &str) -> anyhow::Result<i64> {
    let day: jiff::civil::Date = date
        .parse()
        .map_err(|e| anyhow::anyhow!("`{date}` is not a date like 2026-11-25: {e}"))?;
    let tz = jiff::tz::TimeZone::get(&site.time_zone).unwrap_or(jiff::tz::TimeZone::UTC);
    let zoned = day
        .to_zoned(tz)
        .map_err(|e| anyhow::anyhow!("`{date}` cannot be placed in {}: {e}", site.time_zone))?;
    Ok(zoned.timestamp().as_millisecond())
}

enum Sink<'a, W: Write> {
    Csv(Box<CsvOut<&'a mut W>>),
    Json(&'a mut W),
}

/// Writes the events with `from_ms <= ts < to_ms`; returns how many.
pub async fn export<W: Write>(
    store: &Db,
    site: &Site,
    from_ms: i64,
    to_ms: i64,
    format: Format,
    out: &mut W,
) -> anyhow::Result<u64> {
    let mut sink = match format {
        Format::Csv => {
            let mut csv = CsvOut::new(out);
            csv.header(&COLUMNS)?;
            Sink::Csv(Box::new(csv))
        }
        Format::Jsonl => Sink::Json(out),
    };
    let mut after = None;
    let mut count = 0u64;
    loop {
        let page =
            crate::tracking::store::export_events(store, site.id, from_ms, to_ms, after, PAGE)
                .await?;
        let Some(last) = page.last() else { break };
        after = Some((last.ts, last.id));
        for mut event in page {
            event.time = jiff::Timestamp::from_millisecond(event.ts)
                .map(|t| t.to_string())
                .unwrap_or_default();
            count += 1;
            match &mut sink {
                Sink::Csv(w) => w.row(cells(&event))?,
                Sink::Json(w) => {
                    serde_json::to_writer(&mut **w, &event)?;
                    w.write_all(b"\n")?;
                }
            }
        }
    }
    match sink {
        Sink::Csv(mut w) => w.flush()?,
        Sink::Json(w) => w.flush()?,
    }
    Ok(count)
}

/// An event's cells, in the order of [`COLUMNS`] (the JSON lines have the same fields).
fn cells(e: &ExportedEvent) -> [Cell<'_>; 21] {
    use Cell::{Int, Text};
    [
        Int(Some(e.id)),
        Text(Some(&e.time)),
        Int(Some(e.visit_id)),
        Text(Some(&e.name)),
        Text(Some(&e.path)),
        Text(e.props.as_deref()),
        Int(e.engaged_ms),
        Text(e.company.as_deref()),
        Text(e.company_domain.as_deref()),
        Text(Some(&e.class)),
        Text(e.country.as_deref()),
        Text(e.source.as_deref()),
        Text(Some(&e.channel)),
        Text(e.utm_source.as_deref()),
        Text(e.utm_medium.as_deref()),
        Text(e.utm_campaign.as_deref()),
        Text(e.utm_term.as_deref()),
        Text(e.utm_content.as_deref()),
        Text(e.browser.as_deref()),
        Text(e.os.as_deref()),
        Text(Some(&e.device)),
    ]
}

/// The CSV header; an empty export still says which columns it would have.
const COLUMNS: [&str; 21] = [
    "id",
    "time",
    "visit_id",
    "name",
    "path",
    "props",
    "engaged_ms",
    "company",
    "company_domain",
    "class",
    "country",
    "source",
    "channel",
    "utm_source",
    "utm_medium",
    "utm_campaign",
    "utm_term",
    "utm_content",
    "browser",
    "os",
    "device",
];
