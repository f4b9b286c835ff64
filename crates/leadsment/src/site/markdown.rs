//! The public pages' Markdown, rendered to HTML. The operator writes it, but the pages it
//! becomes are the instance's own: raw HTML in it is shown as text, never passed through, and
//! a link may only lead to a web, mail or telephone address or a path of the site.

use pulldown_cmark::{CowStr, Event, HeadingLevel, Options, Parser, Tag, TagEnd, html};

/// A rendered page: its HTML, and the text of its first `# heading`, if any.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rendered {
    pub title: Option<String>,
    pub html: String,
}

fn options() -> Options {
    Options::ENABLE_TABLES | Options::ENABLE_STRIKETHROUGH
}

/// Renders `markdown`; raw HTML comes out as escaped text.
pub fn render(markdown: &str) -> Rendered {
    let mut title: Option<String> = None;
    let mut in_first_h1 = false;
    let events = Parser::new_ext(markdown, options()).map(|event| {
        match &event {
            Event::Start(Tag::Heading {
                level: HeadingLevel::H1,
                ..
            }) if title.is_none() => {
                in_first_h1 = true;
                title = Some(String::new());
            }
            Event::End(TagEnd::Heading(HeadingLevel::H1)) => in_first_h1 = false,
            Event::Text(t) | Event::Code(t) if in_first_h1 => {
                if let Some(title) = title.as_mut() {
                    title.push_str(t);
                }
            }
            _ => {}
        }
        neutralise(event)
    });
    let mut out = String::with_capacity(markdown.len() * 3 / 2);
    html::push_html(&mut out, events);
    let title = title.map(|t| t.trim().to_owned()).filter(|t| !t.is_empty());
    Rendered { title, html: out }
}

/// Raw HTML becomes text (a block of it a paragraph); a link or image to anything but an
/// allowed address leads nowhere.
fn neutralise(event: Event<'_>) -> Event<'_> {
    match event {
        Event::Html(raw) | Event::InlineHtml(raw) => Event::Text(raw),
        Event::Start(Tag::HtmlBlock) => Event::Start(Tag::Paragraph),
        Event::End(TagEnd::HtmlBlock) => Event::End(TagEnd::Paragraph),
        Event::Start(Tag::Link {
            link_type,
            dest_url,
            title,
            id,
        }) => Event::Start(Tag::Link {
            link_type,
            dest_url: safe_url(dest_url, &["http", "https", "mailto", "tel"]),
            title,
            id,
        }),
        Event::Start(Tag::Image {
            link_type,
            dest_url,
            title,
            id,
        }) => Event::Start(Tag::Image {
            link_type,
            dest_url: safe_url(dest_url, &["http", "https"]),
            title,
            id,
        }),
        other => other,
    }
}

/// `url` when it is relative or has one of `schemes`; `#` otherwise (`javascript:`,
/// `data:`, and the like).
fn safe_url<'a>(url: CowStr<'a>, schemes: &[&str]) -> CowStr<'a> {
    let trimmed = url.trim_start();
    let before_path = trimmed.split(['/', '?', '#']).next().unwrap_or_default();
    match before_path.split_once(':') {
        None => url,
        Some((scheme, _)) if schemes.iter().any(|s| s.eq_ignore_ascii_case(scheme)) => url,
        Some(_) => CowStr::Borrowed("#"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_first_heading_is_the_title_and_markdown_becomes_html() {
        let r = render(
            "Intro\n\n# Plans *and* `prices`\n\n| a | b |\n|---|---|\n| 1 | 2 |\n\n# Second\n",
        );
        assert_eq!(r.title.as_deref(), Some("Plans and prices"));
        assert!(
            r.html
                .contains("<h1>Plans <em>and</em> <code>prices</code></h1>"),
            "{}",
            r.html
        );
        assert!(r.html.contains("<table>"), "{}", r.html);
        assert_eq!(render("no heading\n## only h2").title, None);
    }

    #[test]
    fn raw_html_is_shown_as_text() {
        let md = "<script>alert(1)</script>\n\nText <img src=x onerror=alert(2)> and <b>bold</b>.\n\n<div onclick=\"x()\">\n\nblock\n</div>\n";
        let r = render(md);
        for tag in ["<script", "<img", "<b>", "<div"] {
            assert!(!r.html.contains(tag), "{tag} passed through: {}", r.html);
        }
        assert!(
            r.html.contains("&lt;script&gt;alert(1)&lt;/script&gt;"),
            "{}",
            r.html
        );
        assert!(r.html.contains("&lt;b&gt;bold&lt;/b&gt;"), "{}", r.html);
    }

    #[test]
    fn links_lead_only_to_web_mail_phone_or_the_site() {
        let r = render(
            "[a](https://example.com/x) [b](/pricing) [c](mailto:sales@example.com) \
             [d](javascript:alert(1)) [e](JavaScript:alert(1)) [f](data:text/html,x) \
             ![g](data:image/svg+xml,x) [h](#top) [i](page?x=a:b)",
        );
        for ok in [
            "href=\"https://example.com/x\"",
            "href=\"/pricing\"",
            "href=\"mailto:sales@example.com\"",
            "href=\"#top\"",
            "href=\"page?x=a:b\"",
        ] {
            assert!(r.html.contains(ok), "{ok} missing: {}", r.html);
        }
        let lower = r.html.to_ascii_lowercase();
        assert!(!lower.contains("javascript:"), "{}", r.html);
        assert!(!lower.contains("data:"), "{}", r.html);
    }
}
