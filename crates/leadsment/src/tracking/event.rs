//! The body of `POST /api/event`, shaped like Plausible's Events API so existing integrations
//! work: `name`, `url`, `domain`, `referrer`, `props`, plus our `engaged_ms`.

use std::collections::BTreeMap;

use serde::Deserialize;
use url::Url;

use crate::accounts::sites::Hostname;

pub const MAX_NAME_LEN: usize = 120;
pub const MAX_URL_LEN: usize = 2048;
pub const MAX_PROPS: usize = 30;
pub const MAX_PROP_KEY_LEN: usize = 300;
pub const MAX_PROP_VALUE_LEN: usize = 2000;
/// The most bytes the props may take as stored: their JSON object of strings.
pub const MAX_PROPS_BYTES: usize = 4096;
/// A page kept in view for longer than a day is a tab left open, not attention.
pub const MAX_ENGAGED_MS: u64 = 24 * 60 * 60 * 1000;

/// The event as sent; every field is checked by [`RawEvent::validate`].
#[derive(Debug, Deserialize)]
pub struct RawEvent {
    #[serde(default, alias = "n")]
    name: Option<serde_json::Value>,
    #[serde(default, alias = "u")]
    url: Option<serde_json::Value>,
    #[serde(default, alias = "d")]
    domain: Option<serde_json::Value>,
    #[serde(default, alias = "r")]
    referrer: Option<serde_json::Value>,
    #[serde(default, alias = "p")]
    props: Option<serde_json::Value>,
    #[serde(default, alias = "e")]
    engaged_ms: Option<serde_json::Value>,
}

/// A checked event, not yet tied to a site.
#[derive(Debug, Clone, PartialEq)]
pub struct Event {
    pub name: String,
    pub url: Url,
    /// The site named by the snippet's `data-domain`.
    pub domain: Hostname,
    /// The host of the page the event happened on.
    pub page_host: Hostname,
    pub referrer: Option<Url>,
    pub props: BTreeMap<String, String>,
    pub engaged_ms: Option<u64>,
}

impl Event {
    pub fn is_pageview(&self) -> bool {
        self.name == "pageview"
    }
}

/// What was wrong with an event, naming the field.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{field}: {message}")]
pub struct EventError {
    pub field: &'static str,
    pub message: String,
}

fn err(field: &'static str, message: impl Into<String>) -> EventError {
    EventError {
        field,
        message: message.into(),
    }
}

/// Parses a body sent as JSON or as text/plain (what `sendBeacon` sends) holding JSON.
pub fn parse(body: &[u8]) -> Result<Event, EventError> {
    match body.iter().find(|b| !b.is_ascii_whitespace()) {
        None => return Err(err("body", "is empty; send a JSON object")),
        // serde would also read a JSON array as the fields in order; only objects are events.
        Some(b'{') => {}
        Some(_) => return Err(err("body", "must be a JSON object")),
    }
    let raw: RawEvent = serde_json::from_slice(body)
        .map_err(|e| err("body", format!("is not a JSON object of an event: {e}")))?;
    raw.validate()
}

fn required_string(
    field: &'static str,
    value: Option<serde_json::Value>,
) -> Result<String, EventError> {
    match value {
        None | Some(serde_json::Value::Null) => Err(err(field, "is required")),
        Some(serde_json::Value::String(s)) if s.trim().is_empty() => {
            Err(err(field, "must not be empty"))
        }
        Some(serde_json::Value::String(s)) => Ok(s),
        Some(_) => Err(err(field, "must be a string")),
    }
}

fn http_url(field: &'static str, s: &str) -> Result<Url, EventError> {
    if s.len() > MAX_URL_LEN {
        return Err(err(
            field,
            format!("is longer than {MAX_URL_LEN} characters"),
        ));
    }
    let url = Url::parse(s).map_err(|e| err(field, format!("is not an absolute URL: {e}")))?;
    if !matches!(url.scheme(), "http" | "https") {
        return Err(err(field, "must be an http or https URL"));
    }
    if url.host_str().is_none() {
        return Err(err(field, "has no host"));
    }
    Ok(url)
}

impl RawEvent {
    pub fn validate(self) -> Result<Event, EventError> {
        let name = required_string("name", self.name)?;
        let name = name.trim().to_owned();
        if name.chars().count() > MAX_NAME_LEN {
            return Err(err(
                "name",
                format!("is longer than {MAX_NAME_LEN} characters"),
            ));
        }
        if name.chars().any(char::is_control) {
            return Err(err("name", "must not contain control characters"));
        }

        let url = http_url("url", &required_string("url", self.url)?)?;
        let page_host = Hostname::parse(url.host_str().unwrap_or_default())
            .map_err(|e| err("url", format!("has a host that is not a domain name: {e}")))?;

        let domain_text = required_string("domain", self.domain)?;
        // Plausible lets one snippet report to several sites ("a.com,b.com"); Leadsment counts
        // a page for the first site only.
        let first = domain_text.split(',').next().unwrap_or_default();
        let domain = Hostname::parse(first).map_err(|e| err("domain", e.to_string()))?;

        let referrer = match self.referrer {
            None | Some(serde_json::Value::Null) => None,
            Some(serde_json::Value::String(s)) if s.trim().is_empty() => None,
            // A referrer the browser mangled is dropped rather than refusing the pageview.
            Some(serde_json::Value::String(s)) => http_url("referrer", &s).ok(),
            Some(_) => return Err(err("referrer", "must be a string or null")),
        };

        let props = match self.props {
            None | Some(serde_json::Value::Null) => BTreeMap::new(),
            Some(serde_json::Value::Object(map)) => {
                if map.len() > MAX_PROPS {
                    return Err(err("props", format!("has more than {MAX_PROPS} keys")));
                }
                let mut props = BTreeMap::new();
                for (k, v) in map {
                    if k.is_empty() || k.chars().count() > MAX_PROP_KEY_LEN {
                        return Err(err(
                            "props",
                            format!("keys must have 1 to {MAX_PROP_KEY_LEN} characters"),
                        ));
                    }
                    let v = match v {
                        serde_json::Value::String(s) => s,
                        serde_json::Value::Number(n) => n.to_string(),
                        serde_json::Value::Bool(b) => b.to_string(),
                        serde_json::Value::Null => continue,
                        _ => {
                            return Err(err(
                                "props",
                                format!("the value of `{k}` must be a string, number or boolean"),
                            ));
                        }
                    };
                    if v.chars().count() > MAX_PROP_VALUE_LEN {
                        return Err(err(
                            "props",
                            format!(
                                "the value of `{k}` is longer than {MAX_PROP_VALUE_LEN} characters"
                            ),
                        ));
                    }
                    props.insert(k, v);
                }
                if let Some(u) = props.get_mut("url") {
                    *u = link_without_query(u);
                }
                // Measured as stored; refused rather than trimmed, so the sender learns of it
                // and nothing is stored that was not sent.
                let bytes = serde_json::to_string(&props).map_or(usize::MAX, |j| j.len());
                if bytes > MAX_PROPS_BYTES {
                    return Err(err(
                        "props",
                        format!(
                            "take {bytes} bytes as JSON, more than the {MAX_PROPS_BYTES} bytes allowed"
                        ),
                    ));
                }
                props
            }
            Some(serde_json::Value::String(s)) => {
                // Plausible's snippets may send props as a JSON string.
                let value: serde_json::Value = serde_json::from_str(&s)
                    .map_err(|_| err("props", "must be an object of strings"))?;
                return RawEvent {
                    props: Some(value),
                    name: Some(name.into()),
                    url: Some(url.as_str().into()),
                    domain: Some(domain_text.into()),
                    referrer: referrer.map(|r| r.as_str().into()),
                    engaged_ms: self.engaged_ms,
                }
                .validate();
            }
            Some(_) => return Err(err("props", "must be an object")),
        };

        let engaged_ms = match self.engaged_ms {
            None | Some(serde_json::Value::Null) => None,
            Some(serde_json::Value::Number(n)) => match n.as_u64() {
                Some(ms) if ms <= MAX_ENGAGED_MS => Some(ms),
                Some(_) => Some(MAX_ENGAGED_MS),
                None => match n.as_f64() {
                    Some(f) if f >= 0.0 && f.is_finite() => Some((f as u64).min(MAX_ENGAGED_MS)),
                    _ => return Err(err("engaged_ms", "must be a non-negative number")),
                },
            },
            Some(_) => return Err(err("engaged_ms", "must be a number of milliseconds")),
        };
        if name == "engagement" && engaged_ms.is_none() {
            return Err(err("engaged_ms", "is required for an engagement event"));
        }

        Ok(Event {
            name,
            url,
            domain,
            page_host,
            referrer,
            props,
            engaged_ms,
        })
    }
}

/// A clicked link or download (`props.url`) as kept: without its fragment and its query but
/// for UTM parameters, as page paths are. Signed download links and mail links carry secrets
/// and addresses there (`?X-Amz-Signature=…&email=…`). A value that is no web address is
/// kept as sent.
fn link_without_query(value: &str) -> String {
    let Ok(mut url) = Url::parse(value) else {
        return value.to_owned();
    };
    if !matches!(url.scheme(), "http" | "https") {
        return value.to_owned();
    }
    url.set_fragment(None);
    let utm: Vec<(String, String)> = url
        .query_pairs()
        .filter(|(k, _)| k.starts_with("utm_"))
        .map(|(k, v)| (k.into_owned(), v.into_owned()))
        .collect();
    if utm.is_empty() {
        url.set_query(None);
    } else {
        url.query_pairs_mut().clear().extend_pairs(utm);
    }
    url.to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    use proptest::prelude::*;

    fn ok(body: &str) -> Event {
        parse(body.as_bytes()).unwrap()
    }

    fn field_of(body: &str) -> &'static str {
        parse(body.as_bytes()).unwrap_err().field
    }

    #[test]
    fn a_clicked_link_keeps_no_query_but_utm() {
        let e = ok(
            r#"{"name":"File Download","url":"https://a.example/","domain":"a.example","props":{"url":"https://files.example/f.pdf?X-Amz-Signature=abc&email=ada%40example.com&utm_source=news#page=2","other":"x?y=1"}}"#,
        );
        assert_eq!(
            e.props["url"],
            "https://files.example/f.pdf?utm_source=news"
        );
        assert_eq!(e.props["other"], "x?y=1", "only props.url is a link");
        let e = ok(
            r#"{"name":"Outbound Link: Click","url":"https://a.example/","domain":"a.example","props":{"url":"https://b.example/x?token=t"}}"#,
        );
        assert_eq!(e.props["url"], "https://b.example/x");
        let e = ok(
            r#"{"name":"Outbound Link: Click","url":"https://a.example/","domain":"a.example","props":{"url":"mailto:ada@example.com"}}"#,
        );
        assert_eq!(e.props["url"], "mailto:ada@example.com");
    }

    #[test]
    fn a_plausible_pageview_parses() {
        let e = ok(
            r#"{"name":"pageview","url":"https://www.Example.com/pricing?utm_source=x","domain":"example.com","referrer":"https://www.google.com/","props":{"plan":"pro","seats":5,"trial":true}}"#,
        );
        assert_eq!(e.name, "pageview");
        assert_eq!(e.domain.as_str(), "example.com");
        assert_eq!(e.page_host.as_str(), "www.example.com");
        assert_eq!(e.referrer.unwrap().host_str(), Some("www.google.com"));
        assert_eq!(e.props["seats"], "5");
        assert_eq!(e.props["trial"], "true");
    }

    #[test]
    fn each_bad_field_is_named() {
        assert_eq!(field_of(""), "body");
        assert_eq!(field_of("[1,2]"), "body");
        assert_eq!(field_of("{"), "body");
        assert_eq!(
            field_of(r#"{"url":"https://a.example/","domain":"a.example"}"#),
            "name"
        );
        assert_eq!(field_of(r#"{"name":"x","domain":"a.example"}"#), "url");
        assert_eq!(
            field_of(r#"{"name":"x","url":"ftp://a.example/","domain":"a.example"}"#),
            "url"
        );
        assert_eq!(
            field_of(r#"{"name":"x","url":"/relative","domain":"a.example"}"#),
            "url"
        );
        assert_eq!(
            field_of(r#"{"name":"x","url":"https://a.example/"}"#),
            "domain"
        );
        assert_eq!(
            field_of(r#"{"name":"x","url":"https://a.example/","domain":"not a domain"}"#),
            "domain"
        );
        assert_eq!(
            field_of(r#"{"name":"x","url":"https://a.example/","domain":"a.example","props":[1]}"#),
            "props"
        );
        assert_eq!(
            field_of(
                r#"{"name":"x","url":"https://a.example/","domain":"a.example","props":{"a":{"b":1}}}"#
            ),
            "props"
        );
        assert_eq!(
            field_of(
                r#"{"name":"x","url":"https://a.example/","domain":"a.example","engaged_ms":"soon"}"#
            ),
            "engaged_ms"
        );
        assert_eq!(
            field_of(r#"{"name":"engagement","url":"https://a.example/","domain":"a.example"}"#),
            "engaged_ms"
        );
        let long = "x".repeat(MAX_NAME_LEN + 1);
        assert_eq!(
            field_of(&format!(
                r#"{{"name":"{long}","url":"https://a.example/","domain":"a.example"}}"#
            )),
            "name"
        );
    }

    #[test]
    fn props_are_refused_over_4096_bytes_as_stored() {
        let body = |c: usize| {
            format!(
                r#"{{"name":"x","url":"https://a.example/","domain":"a.example","props":{{"a":"{}","b":"{}","c":"{}"}}}}"#,
                "x".repeat(2000),
                "y".repeat(2000),
                "é".repeat(c)
            )
        };
        // 22 bytes of JSON around the values; "é" is two bytes.
        let e = ok(&body(37));
        assert_eq!(serde_json::to_string(&e.props).unwrap().len(), 4096);
        let e = parse(body(38).as_bytes()).unwrap_err();
        assert_eq!(e.field, "props");
        assert!(e.message.contains("4098 bytes"), "{e}");
        // Thirty keys within their own limits, together too large.
        let many = (0..30)
            .map(|i| format!(r#""k{i:02}":"{}""#, "v".repeat(150)))
            .collect::<Vec<_>>()
            .join(",");
        let e = parse(
            format!(r#"{{"name":"x","url":"https://a.example/","domain":"a.example","props":{{{many}}}}}"#)
                .as_bytes(),
        )
        .unwrap_err();
        assert_eq!(e.field, "props");
    }

    #[test]
    fn a_broken_referrer_is_dropped_not_refused() {
        let e = ok(
            r#"{"name":"pageview","url":"https://a.example/","domain":"a.example","referrer":"android-app://com.x"}"#,
        );
        assert!(e.referrer.is_none());
    }

    #[test]
    fn engaged_time_is_capped_at_a_day() {
        let e = ok(
            r#"{"name":"engagement","url":"https://a.example/","domain":"a.example","engaged_ms":999999999999}"#,
        );
        assert_eq!(e.engaged_ms, Some(MAX_ENGAGED_MS));
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(2000))]
        /// The parser never panics, whatever the bytes.
        #[test]
        fn arbitrary_bytes_never_panic(body in proptest::collection::vec(any::<u8>(), 0..512)) {
            let _ = parse(&body);
        }

        /// Nor does any JSON object with fields of any type.
        #[test]
        fn arbitrary_json_fields_never_panic(
            name in proptest::option::of(any::<String>()),
            url in proptest::option::of("(https?|ftp)://[a-z0-9.:\\[\\]-]{0,30}/[ -~]{0,20}"),
            domain in proptest::option::of("[ -~]{0,40}"),
            props in proptest::collection::btree_map("[ -~]{0,8}", any::<String>(), 0..40),
            engaged in proptest::option::of(any::<i64>()),
        ) {
            let body = serde_json::json!({
                "name": name, "url": url, "domain": domain, "props": props, "engaged_ms": engaged,
            });
            let _ = parse(body.to_string().as_bytes());
        }
    }
}
