//! The audit's report: the readable text printed to standard output, the JSON file (the
//! [`Report`](super::Report) serialised) and a self-contained HTML page with the banner's
//! screenshot.

use std::fmt::Write as _;

use base64::Engine as _;
use chromiumoxide::cdp::browser_protocol::page::{CaptureScreenshotFormat, Viewport};
use chromiumoxide::page::{Page, ScreenshotParams};

use super::Report;
use super::findings::BoxArea;

/// A PNG of the banner's box (with a little margin), or of the window when the box is empty.
pub async fn screenshot(page: &Page, rect: BoxArea) -> Option<Vec<u8>> {
    let mut params = ScreenshotParams::builder().format(CaptureScreenshotFormat::Png);
    if rect.width >= 1.0 && rect.height >= 1.0 {
        params = params.clip(Viewport {
            x: (rect.x - 8.0).max(0.0),
            y: (rect.y - 8.0).max(0.0),
            width: rect.width + 16.0,
            height: rect.height + 16.0,
            scale: 1.0,
        });
    }
    super::browser::capped("screenshot", page.screenshot(params.build()))
        .await
        .ok()
}

/// The report as a person reads it in a terminal.
pub fn text(report: &Report) -> String {
    let mut s = String::new();
    let _ = writeln!(s, "Cookie audit of {}", report.url);
    let _ = writeln!(
        s,
        "{} page(s) in {:.0} s; registry: {} ({} entries)",
        report.pages.len(),
        report.seconds,
        report.registry_source,
        report.registry_entries
    );
    match &report.banner {
        Some(b) => {
            let _ = writeln!(s, "Banner: {} ({})", b.kind, b.selector);
            for (name, button) in [("Accept", &b.accept), ("Reject", &b.reject)] {
                match button {
                    Some(x) => {
                        let _ = writeln!(
                            s,
                            "  {name}: {:?}, {:.0}x{:.0} px, contrast {:.2}",
                            x.text, x.rect.width, x.rect.height, x.contrast
                        );
                    }
                    None => {
                        let _ = writeln!(s, "  {name}: not found");
                    }
                }
            }
        }
        None => {
            let _ = writeln!(s, "Banner: none found");
        }
    }
    for phase in &report.phases {
        let mut keys: Vec<String> = Vec::new();
        let mut hosts: Vec<String> = Vec::new();
        for p in &phase.pages {
            keys.extend(p.cookies.iter().map(|c| c.name.clone()));
            keys.extend(p.local_storage.iter().cloned());
            keys.extend(p.session_storage.iter().cloned());
            keys.extend(p.indexed_db.iter().cloned());
            hosts.extend(
                p.third_party_requests
                    .iter()
                    .filter_map(|u| super::site::host_of(u)),
            );
        }
        keys.sort();
        keys.dedup();
        hosts.sort();
        hosts.dedup();
        let _ = writeln!(
            s,
            "Phase {}: {} page(s); keys: {}; other hosts: {}",
            phase.phase.as_str(),
            phase.pages.len(),
            if keys.is_empty() {
                "none".to_owned()
            } else {
                keys.join(", ")
            },
            if hosts.is_empty() {
                "none".to_owned()
            } else {
                hosts.join(", ")
            }
        );
    }
    if report.findings.is_empty() {
        let _ = writeln!(s, "No findings.");
    } else {
        let _ = writeln!(s, "{} finding(s):", report.findings.len());
        for f in &report.findings {
            let _ = writeln!(s, "  - [{}] {f}", f.kind());
        }
    }
    s
}

fn escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

/// A self-contained HTML page: the findings, the banner's screenshot and each phase's keys
/// and requests. Everything the site supplied is escaped.
pub fn html(report: &Report) -> String {
    let mut s = String::new();
    let verdict = if report.findings.is_empty() {
        "passed: no findings".to_owned()
    } else {
        format!("failed: {} finding(s)", report.findings.len())
    };
    let _ = write!(
        s,
        "<!doctype html><html lang=\"en\"><head><meta charset=\"utf-8\">\
         <meta name=\"viewport\" content=\"width=device-width,initial-scale=1\">\
         <title>Cookie audit of {url}</title><style>\
         body{{font:1rem/1.5 system-ui,sans-serif;max-width:60rem;margin:2rem auto;padding:0 1rem;color:#1a1a2e}}\
         table{{border-collapse:collapse;width:100%}}td,th{{border:1px solid #c8cbd4;padding:.3rem .5rem;text-align:left;vertical-align:top}}\
         code{{word-break:break-all}}.bad{{color:#b91c1c}}.ok{{color:#166534}}img{{max-width:100%;border:1px solid #c8cbd4}}\
         </style></head><body><h1>Cookie audit of {url}</h1>\
         <p class=\"{class}\"><strong>{verdict}</strong></p>\
         <p>{pages} page(s) in {secs:.0} s; registry: {source} ({entries} entries).</p>",
        url = escape(&report.url),
        class = if report.findings.is_empty() {
            "ok"
        } else {
            "bad"
        },
        pages = report.pages.len(),
        secs = report.seconds,
        source = escape(&report.registry_source),
        entries = report.registry_entries,
    );
    s.push_str("<h2>Findings</h2>");
    if report.findings.is_empty() {
        s.push_str("<p>None.</p>");
    } else {
        s.push_str("<table><tr><th>Kind</th><th>Finding</th></tr>");
        for f in &report.findings {
            let _ = write!(
                s,
                "<tr><td><code>{}</code></td><td>{}</td></tr>",
                escape(&f.kind()),
                escape(&f.to_string())
            );
        }
        s.push_str("</table>");
    }
    s.push_str("<h2>Banner</h2>");
    match &report.banner {
        Some(b) => {
            let _ = write!(
                s,
                "<p>{} (<code>{}</code>) on <code>{}</code></p>",
                escape(&b.kind),
                escape(&b.selector),
                escape(&b.url)
            );
            s.push_str(
                "<table><tr><th>Button</th><th>Text</th><th>Size</th><th>Contrast</th></tr>",
            );
            for (name, button) in [("Accept", &b.accept), ("Reject", &b.reject)] {
                match button {
                    Some(x) => {
                        let _ = write!(
                            s,
                            "<tr><td>{name}</td><td>{}</td><td>{:.0} × {:.0} px</td><td>{:.2}</td></tr>",
                            escape(&x.text),
                            x.rect.width,
                            x.rect.height,
                            x.contrast
                        );
                    }
                    None => {
                        let _ = write!(
                            s,
                            "<tr><td>{name}</td><td colspan=\"3\">not found</td></tr>"
                        );
                    }
                }
            }
            s.push_str("</table>");
        }
        None => s.push_str("<p>No banner found.</p>"),
    }
    if let Some(png) = &report.screenshot {
        let _ = write!(
            s,
            "<p><img alt=\"The banner as a fresh visitor saw it\" src=\"data:image/png;base64,{}\"></p>",
            base64::engine::general_purpose::STANDARD.encode(png)
        );
    }
    for phase in &report.phases {
        let _ = write!(s, "<h2>Phase: {}</h2>", phase.phase.as_str());
        s.push_str(
            "<table><tr><th>Page</th><th>Cookies</th><th>Storage</th><th>Other hosts</th></tr>",
        );
        for p in &phase.pages {
            let cookies: Vec<String> = p
                .cookies
                .iter()
                .map(|c| format!("{} ({})", c.name, c.domain))
                .collect();
            let storage: Vec<&str> = p
                .local_storage
                .iter()
                .chain(&p.session_storage)
                .chain(&p.indexed_db)
                .map(String::as_str)
                .collect();
            let mut hosts: Vec<String> = p
                .third_party_requests
                .iter()
                .filter_map(|u| super::site::host_of(u))
                .collect();
            hosts.dedup();
            let _ = write!(
                s,
                "<tr><td><code>{}</code></td><td>{}</td><td>{}</td><td>{}</td></tr>",
                escape(&p.url),
                escape(&cookies.join(", ")),
                escape(&storage.join(", ")),
                escape(&hosts.join(", "))
            );
        }
        s.push_str("</table>");
    }
    s.push_str("</body></html>\n");
    s
}

#[cfg(test)]
mod tests {
    #[test]
    fn html_escapes_what_the_site_supplied() {
        assert_eq!(
            super::escape("<b a=\"1\">&'"),
            "&lt;b a=&quot;1&quot;&gt;&amp;&#39;"
        );
    }
}
