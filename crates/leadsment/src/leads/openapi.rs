//! `GET /api/v1/openapi.json`: the OpenAPI 3.1 document of every `/api/v1` route, the
//! workspace's sites (from `accounts`) and the leads routes ([`super::api`]). A test checks
//! that its paths are exactly the route table's and that real answers match its schemas.

use serde_json::{Value, json};

use super::api::{EVENTS_DEFAULT, EVENTS_MAX};
use super::company::{TIMELINE_ALL, VISIT_EVENTS};

fn nullable(t: &str) -> Value {
    json!({"type": [t, "null"]})
}

fn reference(name: &str) -> Value {
    json!({"$ref": format!("#/components/schemas/{name}")})
}

fn path_id(name: &str, what: &str) -> Value {
    json!({"name": name, "in": "path", "required": true, "description": what,
           "schema": {"type": "integer", "format": "int64"}})
}

fn query(name: &str, what: &str, schema: Value) -> Value {
    json!({"name": name, "in": "query", "required": false, "description": what, "schema": schema})
}

/// The error answers every route may give, by status.
fn errors(statuses: &[&str]) -> serde_json::Map<String, Value> {
    statuses
        .iter()
        .map(|s| {
            let what = match *s {
                "400" => "A query parameter is unknown (`unknown_filter`), has a bad value (`invalid_filter`) or is a damaged cursor (`bad_cursor`); `parameter` names it.",
                "401" => "No API key, or not a valid one (`unauthorized`).",
                "403" => "The key's scope does not allow this (`forbidden`).",
                "404" => "No such workspace for this key, site of the workspace or company on the site (`not_found`).",
                "429" => "The key has made its requests of the minute (`rate_limited`); `Retry-After` says how many seconds to wait.",
                _ => "An error.",
            };
            let body = json!({"description": what,
                "content": {"application/json": {"schema": reference("Error")}}});
            (s.to_string(), body)
        })
        .collect()
}

fn ok(what: &str, schema: &str) -> Value {
    json!({"description": what, "content": {"application/json": {"schema": reference(schema)}}})
}

fn answers(status: &str, what: &str, schema: &str, errs: &[&str]) -> Value {
    let mut map = errors(errs);
    map.insert(status.to_owned(), ok(what, schema));
    Value::Object(map)
}

fn object(required: &[&str], properties: Value) -> Value {
    json!({"type": "object", "required": required, "properties": properties})
}

fn schemas() -> Value {
    let time = json!({"type": "string", "format": "date-time"});
    let int = json!({"type": "integer"});
    let text = json!({"type": "string"});
    json!({
        "Error": object(&["error", "message"], json!({
            "error": {"type": "string", "description": "A stable code: unauthorized, forbidden, not_found, unknown_filter, invalid_filter, bad_cursor, rate_limited, internal, …"},
            "message": {"type": "string", "description": "What went wrong, for people."},
            "parameter": {"type": "string", "description": "The query parameter refused."},
            "field": {"type": "string", "description": "The body field refused."},
        })),
        "Site": object(&["id", "workspace_id", "domain", "aliases", "time_zone", "created_at", "require_consent"], json!({
            "id": int, "workspace_id": int, "domain": text,
            "aliases": {"type": "array", "items": text},
            "time_zone": text,
            "created_at": {"type": "integer", "description": "Milliseconds since the Unix epoch."},
            "require_consent": {"type": "boolean"},
        })),
        "SiteList": object(&["sites"], json!({"sites": {"type": "array", "items": reference("Site")}})),
        "OneSite": object(&["site"], json!({"site": reference("Site")})),
        "NewSite": object(&["domain"], json!({"domain": text, "aliases": {"type": "array", "items": text}})),
        "Score": object(&["value", "band", "lines"], json!({
            "value": {"type": "integer", "minimum": 0, "maximum": 100},
            "band": {"type": "string", "enum": ["hot", "warm", "mild", "cold"]},
            "lines": {"type": "array", "items": object(&["text", "points"], json!({"text": text, "points": int}))},
        })),
        "FeedCompany": object(&["id", "name", "domain", "country", "class", "class_reason", "score", "last_visit_at", "visits", "visitors", "pageviews", "engaged_ms", "top_pages", "first_visit"], json!({
            "id": int, "name": text, "domain": nullable("string"), "country": nullable("string"),
            "class": {"type": "string", "description": "business, education, government, isp, mobile, hosting or unknown"},
            "class_reason": nullable("string"),
            "score": reference("Score"),
            "last_visit_at": time,
            "visits": int, "visitors": int, "pageviews": int, "engaged_ms": int,
            "top_pages": {"type": "array", "items": object(&["path", "pageviews"], json!({"path": text, "pageviews": int}))},
            "first_visit": {"oneOf": [{"type": "null"}, object(&["started_at", "source", "channel", "utm_campaign"], json!({
                "started_at": time, "source": nullable("string"), "channel": text, "utm_campaign": nullable("string"),
            }))]},
        })),
        "CompanyFeed": object(&["period", "total", "companies", "hosting_total", "hosting", "next_cursor"], json!({
            "period": object(&["key", "start", "end", "time_zone"], json!({"key": text, "start": time, "end": time, "time_zone": text})),
            "total": {"type": "integer", "description": "Companies matching the filters, on every page."},
            "companies": {"type": "array", "items": reference("FeedCompany")},
            "hosting_total": int,
            "hosting": {"type": "array", "items": reference("FeedCompany"), "description": "Hosting networks, apart (first page only)."},
            "next_cursor": {"type": ["string", "null"], "description": "Pass as `cursor` with the same filters for the next page; null on the last."},
        })),
        "Step": {"oneOf": [
            object(&["type", "time", "path", "engaged_ms"], json!({"type": {"const": "page"}, "time": time, "path": text, "engaged_ms": int})),
            object(&["type", "time", "name", "path", "props"], json!({"type": {"const": "event"}, "time": time, "name": text, "path": text,
                "props": {"type": "object", "additionalProperties": {"type": "string"}}})),
        ]},
        "Visit": object(&["id", "started_at", "last_seen_at", "entry_path", "pageviews", "engaged_ms", "source", "channel", "utm_source", "utm_medium", "utm_campaign", "country", "browser", "os", "device", "steps", "steps_truncated"], json!({
            "id": int, "started_at": time, "last_seen_at": time, "entry_path": text,
            "pageviews": int, "engaged_ms": int, "source": nullable("string"), "channel": text,
            "utm_source": nullable("string"), "utm_medium": nullable("string"), "utm_campaign": nullable("string"),
            "country": nullable("string"), "browser": nullable("string"), "os": nullable("string"), "device": text,
            "steps": {"type": "array", "items": reference("Step"), "maxItems": VISIT_EVENTS, "description": format!("In order, from the visit's first {VISIT_EVENTS} events (pages, time reports and custom events) at most.")},
            "steps_truncated": {"type": "boolean", "description": format!("The visit has more than {VISIT_EVENTS} events: its later steps are not listed.")},
        })),
        "CompanyDetails": object(&["company", "hidden", "score", "totals", "visits", "truncated"], json!({
            "company": object(&["id", "name", "org", "domain", "asn", "country", "class", "class_reason"], json!({
                "id": int, "name": text, "org": nullable("string"), "domain": nullable("string"),
                "asn": nullable("integer"), "country": nullable("string"), "class": text, "class_reason": nullable("string"),
            })),
            "hidden": {"type": "boolean", "description": "Whether the workspace's exclusions hide it."},
            "score": reference("Score"),
            "totals": object(&["visits", "visitors", "pageviews", "engaged_ms", "first_visit_at", "last_visit_at"], json!({
                "visits": int, "visitors": int, "pageviews": int, "engaged_ms": int, "first_visit_at": time, "last_visit_at": time,
            })),
            "visits": {"type": "array", "items": reference("Visit"), "maxItems": TIMELINE_ALL, "description": "Newest first: the 50 latest, or up to 1,000 with `visits=all`."},
            "truncated": {"type": "boolean", "description": "More visits than listed."},
        })),
        "Event": object(&["time", "name", "path", "source", "company_id", "company_name", "visit_id"], json!({
            "time": time, "name": text, "path": text,
            "source": {"type": ["string", "null"], "description": "The referrer's source (a search engine, a social network, a site)."},
            "company_id": nullable("integer"), "company_name": nullable("string"), "visit_id": int,
        })),
        "EventList": object(&["events", "next_cursor"], json!({
            "events": {"type": "array", "items": reference("Event"), "description": "Newest first."},
            "next_cursor": {"type": ["string", "null"], "description": "Pass as `cursor` for the next page; null on the last."},
        })),
    })
}

fn feed_parameters() -> Vec<Value> {
    let text = json!({"type": "string"});
    vec![
        path_id("workspace_id", "The workspace."),
        path_id("site_id", "A site of the workspace."),
        query(
            "period",
            "today, 7d, 30d (the default), 90d or custom (with from and to).",
            text.clone(),
        ),
        query(
            "from",
            "First day of a custom period (YYYY-MM-DD, the site's time zone).",
            json!({"type": "string", "format": "date"}),
        ),
        query(
            "to",
            "Last day of a custom period.",
            json!({"type": "string", "format": "date"}),
        ),
        json!({"name": "class", "in": "query", "required": false, "explode": true,
               "description": "Classes to show, repeatable (default business, education and government).",
               "schema": {"type": "array", "items": {"type": "string", "enum": ["business", "education", "government", "isp", "mobile", "hosting", "unknown"]}}}),
        query(
            "country",
            "A two-letter country code of the visits.",
            text.clone(),
        ),
        query("source", "A referrer source of the visits.", text.clone()),
        query("q", "Part of the name or domain.", text.clone()),
        query(
            "min_score",
            "The least score, 0 to 100.",
            json!({"type": "integer", "minimum": 0, "maximum": 100}),
        ),
        query("page", "A page path pattern (`/pricing*`).", text.clone()),
        query(
            "sort",
            "The order.",
            json!({"type": "string", "enum": ["score", "last_visit", "visits", "pageviews", "name"]}),
        ),
        query("cursor", "The previous answer's `next_cursor`.", text),
    ]
}

/// The whole document.
pub fn document() -> Value {
    let ws = path_id("workspace_id", "The workspace.");
    let site = path_id("site_id", "A site of the workspace.");
    let read = json!([{"apiKey": ["read"]}]);
    json!({
        "openapi": "3.1.0",
        "info": {
            "title": "Leadsment API",
            "version": "1",
            "description": "Read which companies visit a workspace's sites. Authenticate with an API key of the workspace: `Authorization: Bearer lm_…`.",
        },
        "servers": [{"url": "/"}],
        "security": read,
        "components": {
            "securitySchemes": {"apiKey": {"type": "http", "scheme": "bearer", "description": "An API key from the workspace's API keys page; read or write scope."}},
            "schemas": schemas(),
        },
        "paths": {
            "/api/v1/openapi.json": {"get": {
                "summary": "This document.", "security": [],
                "responses": {"200": {"description": "The OpenAPI document.", "content": {"application/json": {"schema": {"type": "object"}}}}},
            }},
            "/api/v1/workspaces/{workspace_id}/sites": {
                "get": {
                    "summary": "The workspace's sites.",
                    "parameters": [ws.clone()],
                    "responses": answers("200", "The sites.", "SiteList", &["401", "404", "429"]),
                },
                "post": {
                    "summary": "Adds a site (write scope).",
                    "security": [{"apiKey": ["write"]}],
                    "parameters": [ws.clone()],
                    "requestBody": {"required": true, "content": {"application/json": {"schema": reference("NewSite")}}},
                    "responses": answers("201", "The new site.", "OneSite", &["400", "401", "403", "404", "429"]),
                },
            },
            "/api/v1/workspaces/{workspace_id}/sites/{site_id}/companies": {"get": {
                "summary": "The company feed: the companies that visited the site in a period, with the feed page's filters and order, 50 a page.",
                "parameters": feed_parameters(),
                "responses": answers("200", "A page of the feed.", "CompanyFeed", &["400", "401", "404", "429"]),
            }},
            "/api/v1/workspaces/{workspace_id}/sites/{site_id}/companies/{company_id}": {"get": {
                "summary": "One company on the site: details, score and why, totals, and its visits with their pages and events.",
                "parameters": [ws.clone(), site.clone(), path_id("company_id", "A company that visited the site."),
                    query("visits", "`latest` (the 50 latest visits, the default) or `all` (up to 1,000); each visit lists its first 200 events at most.", json!({"type": "string", "enum": ["latest", "all"]}))],
                "responses": answers("200", "The company.", "CompanyDetails", &["400", "401", "404", "429"]),
            }},
            "/api/v1/workspaces/{workspace_id}/sites/{site_id}/events": {"get": {
                "summary": "The site's events, newest first. No visitor address or hash.",
                "parameters": [ws, site,
                    query("limit", "Events per page.", json!({"type": "integer", "minimum": 1, "maximum": EVENTS_MAX, "default": EVENTS_DEFAULT})),
                    query("cursor", "The previous answer's `next_cursor`.", json!({"type": "string"}))],
                "responses": answers("200", "A page of events.", "EventList", &["400", "401", "404", "429"]),
            }},
        },
    })
}
