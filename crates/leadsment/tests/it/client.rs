//! A browser-like HTTP client for the tests: keeps cookies (by path, as a browser does, even
//! the Secure ones over http since tests talk to localhost), echoes the CSRF token in forms,
//! and never follows redirects, so each step can be checked.

use std::sync::Mutex;

use axum_extra::extract::cookie::Cookie;
use reqwest::StatusCode;
use reqwest::header::{HeaderMap, HeaderValue};

use crate::support::TestApp;

#[derive(Debug, Clone)]
pub struct StoredCookie {
    pub name: String,
    pub value: String,
    pub path: String,
}

pub struct Client {
    pub base: String,
    http: reqwest::Client,
    jar: Mutex<Vec<StoredCookie>>,
    pub user_agent: String,
}

#[derive(Debug)]
pub struct Resp {
    pub status: StatusCode,
    pub headers: HeaderMap,
    pub body: String,
    /// Raw `Set-Cookie` header values.
    pub set_cookies: Vec<String>,
}

impl Resp {
    pub fn location(&self) -> &str {
        self.headers
            .get("location")
            .and_then(|v| v.to_str().ok())
            .unwrap_or("")
    }

    pub fn set_cookie(&self, name: &str) -> Option<Cookie<'static>> {
        self.set_cookies
            .iter()
            .filter_map(|s| Cookie::parse(s.clone()).ok())
            .find(|c| c.name() == name)
    }

    pub fn json(&self) -> serde_json::Value {
        serde_json::from_str(&self.body).unwrap_or(serde_json::Value::Null)
    }
}

impl Client {
    pub fn new(app: &TestApp) -> Client {
        Client::with_agent(
            app,
            "Mozilla/5.0 (X11; Linux x86_64) Chrome/140.0 Safari/537.36",
        )
    }

    pub fn with_agent(app: &TestApp, agent: &str) -> Client {
        Client::build(app, agent, reqwest::header::HeaderMap::new())
    }

    /// A browser behind a proxy that appends `client` to `X-Forwarded-For` (the test server
    /// must trust 127.0.0.1 for it to count).
    pub fn forwarded_for(app: &TestApp, client: &str) -> Client {
        let mut headers = reqwest::header::HeaderMap::new();
        headers.insert("x-forwarded-for", client.parse().unwrap());
        Client::build(
            app,
            "Mozilla/5.0 (X11; Linux x86_64) Chrome/140.0 Safari/537.36",
            headers,
        )
    }

    fn build(app: &TestApp, agent: &str, headers: reqwest::header::HeaderMap) -> Client {
        Client {
            base: app.url(""),
            http: reqwest::Client::builder()
                .redirect(reqwest::redirect::Policy::none())
                .default_headers(headers)
                .build()
                .unwrap(),
            jar: Mutex::new(Vec::new()),
            user_agent: agent.to_owned(),
        }
    }

    pub fn cookie(&self, name: &str) -> Option<String> {
        self.jar
            .lock()
            .unwrap()
            .iter()
            .find(|c| c.name == name)
            .map(|c| c.value.clone())
    }

    pub fn set_cookie(&self, name: &str, value: &str, path: &str) {
        let mut jar = self.jar.lock().unwrap();
        jar.retain(|c| c.name != name);
        jar.push(StoredCookie {
            name: name.to_owned(),
            value: value.to_owned(),
            path: path.to_owned(),
        });
    }

    fn cookie_header(&self, path: &str) -> Option<HeaderValue> {
        let jar = self.jar.lock().unwrap();
        let pairs: Vec<String> = jar
            .iter()
            .filter(|c| {
                path == c.path
                    || path.starts_with(&format!("{}/", c.path.trim_end_matches('/')))
                    || c.path == "/"
                    || path.starts_with(&format!("{}?", c.path))
            })
            .map(|c| format!("{}={}", c.name, c.value))
            .collect();
        if pairs.is_empty() {
            None
        } else {
            HeaderValue::from_str(&pairs.join("; ")).ok()
        }
    }

    fn absorb(&self, headers: &HeaderMap) -> Vec<String> {
        let mut raw = Vec::new();
        for v in headers.get_all("set-cookie") {
            let s = v.to_str().unwrap().to_owned();
            raw.push(s.clone());
            let c = Cookie::parse(s).unwrap();
            let mut jar = self.jar.lock().unwrap();
            jar.retain(|x| x.name != c.name());
            let removed = c.max_age().is_some_and(|m| m.is_zero() || m.is_negative());
            if !removed {
                jar.push(StoredCookie {
                    name: c.name().to_owned(),
                    value: c.value().to_owned(),
                    path: c.path().unwrap_or("/").to_owned(),
                });
            }
        }
        raw
    }

    pub async fn send(&self, req: reqwest::RequestBuilder, path: &str) -> Resp {
        let mut req = req.header("user-agent", &self.user_agent);
        if let Some(c) = self.cookie_header(path) {
            req = req.header("cookie", c);
        }
        let res = req.send().await.unwrap();
        let status = res.status();
        let headers = res.headers().clone();
        let set_cookies = self.absorb(&headers);
        let body = res.text().await.unwrap();
        Resp {
            status,
            headers,
            body,
            set_cookies,
        }
    }

    /// A request of any method to `path`, for [`Client::send`] (which adds the cookies).
    pub fn request(&self, method: reqwest::Method, path: &str) -> reqwest::RequestBuilder {
        self.http.request(method, format!("{}{}", self.base, path))
    }

    /// A page load as a browser makes it.
    pub async fn get(&self, path: &str) -> Resp {
        let req = self
            .http
            .get(format!("{}{}", self.base, path))
            .header("accept", "text/html,application/xhtml+xml")
            .header("sec-fetch-site", "same-origin");
        self.send(req, path).await
    }

    /// The CSRF token, after loading a page if the browser has none yet.
    pub async fn csrf(&self) -> String {
        if let Some(t) = self.cookie("__Host-csrf") {
            return t;
        }
        self.get("/auth/sign-in").await;
        self.cookie("__Host-csrf")
            .expect("the sign-in page sets the CSRF cookie")
    }

    /// A form submitted from one of our pages: with the token and same-origin headers.
    pub async fn post_form(&self, path: &str, fields: &[(&str, &str)]) -> Resp {
        let token = self.csrf().await;
        let mut all: Vec<(&str, &str)> = fields.to_vec();
        all.push(("csrf", &token));
        self.post_form_raw(path, &all, &[("sec-fetch-site", "same-origin")])
            .await
    }

    /// A form post with exactly these fields and extra headers.
    pub async fn post_form_raw(
        &self,
        path: &str,
        fields: &[(&str, &str)],
        headers: &[(&str, &str)],
    ) -> Resp {
        let body = url::form_urlencoded::Serializer::new(String::new())
            .extend_pairs(fields)
            .finish();
        let mut req = self
            .http
            .post(format!("{}{}", self.base, path))
            .header("accept", "text/html,application/xhtml+xml")
            .header("content-type", "application/x-www-form-urlencoded")
            .body(body);
        for (k, v) in headers {
            req = req.header(*k, *v);
        }
        self.send(req, path).await
    }

    /// Signs in and checks that it worked.
    pub async fn sign_in(&self, email: &str, password: &str, remember: bool) -> Resp {
        let mut fields = vec![("email", email), ("password", password)];
        if remember {
            fields.push(("remember", "1"));
        }
        let res = self.post_form("/auth/sign-in", &fields).await;
        assert_eq!(
            res.status,
            StatusCode::SEE_OTHER,
            "sign-in failed: {}",
            res.body
        );
        res
    }
}

/// The text between `start` and the next `end`, for reading values out of pages and mail.
pub fn between<'a>(hay: &'a str, start: &str, end: &str) -> Option<&'a str> {
    let i = hay.find(start)? + start.len();
    let j = hay[i..].find(end)? + i;
    Some(&hay[i..j])
}
