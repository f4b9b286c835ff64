//! A visitor's decision as `POST /api/consent` brings it, checked field by field, and what it
//! grants.

use serde::Deserialize;

use crate::registry::Category;

/// The largest body taken; larger ones are refused before they are read in full.
pub const MAX_BODY: usize = 2048;

/// What the visitor did in the banner.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Action {
    /// "Accept all" on the first layer.
    AcceptAll,
    /// "Reject all" on the first layer.
    RejectAll,
    /// "Save" on the second layer, with the categories switched on.
    Save,
    /// The banner was closed without a choice: logged, and counted, as Reject.
    Close,
}

impl Action {
    pub fn as_str(self) -> &'static str {
        match self {
            Action::AcceptAll => "accept_all",
            Action::RejectAll => "reject_all",
            Action::Save => "save",
            Action::Close => "close",
        }
    }

    pub fn parse(s: &str) -> Option<Action> {
        [
            Action::AcceptAll,
            Action::RejectAll,
            Action::Save,
            Action::Close,
        ]
        .into_iter()
        .find(|a| a.as_str() == s)
    }
}

/// A decision, checked.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Choice {
    pub action: Action,
    /// The categories granted, after Global Privacy Control is applied.
    pub granted: Vec<Category>,
    /// The policy revision the banner showed.
    pub revision: String,
    /// The version of the banner's text the visitor saw.
    pub banner_version: String,
    /// Whether the browser sent a Global Privacy Control signal (header or script).
    pub gpc: bool,
}

/// Why a body was refused: the field, and what is wrong with it (answered as 400).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{field}: {problem}")]
pub struct BadField {
    pub field: &'static str,
    pub problem: String,
}

fn bad(field: &'static str, problem: impl Into<String>) -> BadField {
    BadField {
        field,
        problem: problem.into(),
    }
}

/// The body as sent. Unknown fields are refused, so a typo is not silently ignored.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Body {
    action: Option<String>,
    #[serde(default)]
    categories: Option<Vec<String>>,
    revision: Option<String>,
    banner: Option<String>,
    #[serde(default)]
    gpc: Option<bool>,
}

/// A short printable token: a revision or a banner version.
fn token(field: &'static str, value: Option<String>) -> Result<String, BadField> {
    let value = value.ok_or_else(|| bad(field, "is missing"))?;
    let ok = (1..=64).contains(&value.len())
        && value
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"-_.".contains(&b));
    if !ok {
        return Err(bad(
            field,
            "must be 1 to 64 letters, digits, dots, dashes or underscores",
        ));
    }
    Ok(value)
}

/// Checks a body. `gpc_header` is whether the request carried `Sec-GPC: 1`.
pub fn parse(body: &[u8], gpc_header: bool) -> Result<Choice, BadField> {
    if body.len() > MAX_BODY {
        return Err(bad("body", format!("must be at most {MAX_BODY} bytes")));
    }
    let body: Body = serde_json::from_slice(body).map_err(|e| {
        // serde names unknown and mistyped fields in its message.
        bad("body", format!("is not the expected JSON object: {e}"))
    })?;
    let action = body.action.ok_or_else(|| bad("action", "is missing"))?;
    let action = Action::parse(&action).ok_or_else(|| {
        bad(
            "action",
            "must be one of accept_all, reject_all, save, close",
        )
    })?;
    let mut granted = match (action, body.categories) {
        (Action::AcceptAll, _) => Category::CHOSEN.to_vec(),
        (Action::RejectAll | Action::Close, _) => Vec::new(),
        (Action::Save, None) => return Err(bad("categories", "is missing")),
        (Action::Save, Some(list)) => {
            let mut out = Vec::new();
            for name in &list {
                match Category::parse(name) {
                    Some(c) if Category::CHOSEN.contains(&c) => {
                        if !out.contains(&c) {
                            out.push(c);
                        }
                    }
                    _ => {
                        return Err(bad(
                            "categories",
                            "may hold only \"analytics\" and \"advertising\"",
                        ));
                    }
                }
            }
            out.sort();
            out
        }
    };
    let gpc = gpc_header || body.gpc.unwrap_or(false);
    if gpc {
        // A Global Privacy Control signal is a refusal of advertising, whatever was clicked.
        granted.retain(|c| *c != Category::Advertising);
    }
    Ok(Choice {
        action,
        granted,
        revision: token("revision", body.revision)?,
        banner_version: token("banner", body.banner)?,
        gpc,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ok(body: &str) -> Choice {
        parse(body.as_bytes(), false).unwrap()
    }

    fn field(body: &str) -> &'static str {
        parse(body.as_bytes(), false).unwrap_err().field
    }

    #[test]
    fn actions_grant_what_they_say() {
        let all = ok(r#"{"action":"accept_all","revision":"r1","banner":"b1"}"#);
        assert_eq!(all.granted, [Category::Analytics, Category::Advertising]);
        let none = ok(r#"{"action":"reject_all","revision":"r1","banner":"b1"}"#);
        assert!(none.granted.is_empty());
        let closed =
            ok(r#"{"action":"close","revision":"r1","banner":"b1","categories":["analytics"]}"#);
        assert!(closed.granted.is_empty(), "closing counts as Reject");
        let some = ok(
            r#"{"action":"save","categories":["advertising","analytics","analytics"],"revision":"r1","banner":"b1"}"#,
        );
        assert_eq!(some.granted, [Category::Analytics, Category::Advertising]);
        let nothing = ok(r#"{"action":"save","categories":[],"revision":"r1","banner":"b1"}"#);
        assert!(nothing.granted.is_empty());
    }

    #[test]
    fn global_privacy_control_refuses_advertising() {
        let by_header = parse(
            br#"{"action":"accept_all","revision":"r","banner":"b"}"#,
            true,
        )
        .unwrap();
        assert_eq!(by_header.granted, [Category::Analytics]);
        assert!(by_header.gpc);
        let by_script = ok(r#"{"action":"accept_all","revision":"r","banner":"b","gpc":true}"#);
        assert_eq!(by_script.granted, [Category::Analytics]);
    }

    #[test]
    fn bad_bodies_name_the_field() {
        assert_eq!(field("not json"), "body");
        assert_eq!(
            field(r#"{"action":"accept_all","revision":"r","banner":"b","x":1}"#),
            "body"
        );
        assert_eq!(field(r#"{"revision":"r","banner":"b"}"#), "action");
        assert_eq!(
            field(r#"{"action":"yes","revision":"r","banner":"b"}"#),
            "action"
        );
        assert_eq!(
            field(r#"{"action":"save","revision":"r","banner":"b"}"#),
            "categories"
        );
        assert_eq!(
            field(r#"{"action":"save","categories":["necessary"],"revision":"r","banner":"b"}"#),
            "categories"
        );
        assert_eq!(field(r#"{"action":"accept_all","banner":"b"}"#), "revision");
        assert_eq!(
            field(r#"{"action":"accept_all","revision":"<script>","banner":"b"}"#),
            "revision"
        );
        assert_eq!(field(r#"{"action":"accept_all","revision":"r"}"#), "banner");
        let big = format!(
            r#"{{"action":"accept_all","revision":"r","banner":"{}"}}"#,
            "b".repeat(3000)
        );
        assert_eq!(field(&big), "body");
    }
}
