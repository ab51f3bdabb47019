//! A minimal cookie-keeping HTTP client for the hosted pages: it stores cookies by name per org
//! path and sends back the ones whose path matches, as a browser would.

use std::collections::HashMap;

#[derive(Clone)]
pub struct Browser {
    pub base: String,
    client: reqwest::Client,
    /// (path, name) → value
    pub cookies: HashMap<(String, String), String>,
    pub user_agent: String,
}

pub struct Page {
    pub status: u16,
    pub headers: reqwest::header::HeaderMap,
    pub body: String,
}

impl Page {
    pub fn location(&self) -> &str {
        self.headers
            .get("location")
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default()
    }

    pub fn set_cookies(&self) -> Vec<String> {
        self.headers
            .get_all("set-cookie")
            .iter()
            .filter_map(|v| v.to_str().ok().map(str::to_owned))
            .collect()
    }

    /// The value of the hidden CSRF field in the page.
    pub fn csrf(&self) -> String {
        let marker = "name=\"csrf\" value=\"";
        let start = self.body.find(marker).expect("page has a csrf field") + marker.len();
        self.body[start..].split('"').next().unwrap().to_owned()
    }
}

impl Browser {
    pub fn new(base: &str, user_agent: &str) -> Self {
        let client = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .unwrap();
        Self {
            base: base.to_owned(),
            client,
            cookies: HashMap::new(),
            user_agent: user_agent.to_owned(),
        }
    }

    fn cookie_header(&self, path: &str) -> String {
        self.cookies
            .iter()
            .filter(|((p, _), _)| path == p || path.starts_with(&format!("{p}/")) || p == "/")
            .map(|((_, n), v)| format!("{n}={v}"))
            .collect::<Vec<_>>()
            .join("; ")
    }

    fn remember(&mut self, page: &Page) {
        for raw in page.set_cookies() {
            let mut parts = raw.split(';');
            let (name, value) = parts.next().unwrap().split_once('=').unwrap();
            let mut path = "/".to_owned();
            let mut removed = false;
            for attr in parts {
                let attr = attr.trim();
                if let Some(p) = attr.strip_prefix("Path=") {
                    path = p.to_owned();
                }
                if attr.eq_ignore_ascii_case("Max-Age=0") {
                    removed = true;
                }
            }
            let key = (path, name.trim().to_owned());
            if removed || value.is_empty() {
                self.cookies.remove(&key);
            } else {
                self.cookies.insert(key, value.to_owned());
            }
        }
    }

    async fn finish(&mut self, res: reqwest::Response) -> Page {
        let page = Page {
            status: res.status().as_u16(),
            headers: res.headers().clone(),
            body: res.text().await.unwrap(),
        };
        self.remember(&page);
        page
    }

    pub async fn get(&mut self, path: &str) -> Page {
        let res = self
            .client
            .get(format!("{}{path}", self.base))
            .header("cookie", self.cookie_header(path))
            .header("user-agent", &self.user_agent)
            .send()
            .await
            .unwrap();
        self.finish(res).await
    }

    pub async fn post(&mut self, path: &str, form: &[(&str, &str)]) -> Page {
        let res = self
            .client
            .post(format!("{}{path}", self.base))
            .header("cookie", self.cookie_header(path))
            .header("user-agent", &self.user_agent)
            .header("origin", &self.base)
            .form(form)
            .send()
            .await
            .unwrap();
        self.finish(res).await
    }

    /// A JSON POST as the page's script makes it (CSRF token in `X-CSRF-Token`).
    pub async fn post_json(&mut self, path: &str, body: &serde_json::Value) -> Page {
        let org = path.split('/').nth(2).unwrap_or_default().to_owned();
        let csrf = self
            .cookies
            .get(&(format!("/o/{org}"), "pc_csrf".to_owned()))
            .cloned()
            .unwrap_or_default();
        let res = self
            .client
            .post(format!("{}{path}", self.base))
            .header("cookie", self.cookie_header(path))
            .header("user-agent", &self.user_agent)
            .header("origin", &self.base)
            .header("x-csrf-token", csrf)
            .json(body)
            .send()
            .await
            .unwrap();
        self.finish(res).await
    }

    /// The org's CSRF cookie (what a page's hidden field echoes).
    pub fn csrf_cookie(&self, org: &str) -> String {
        self.cookies
            .get(&(format!("/o/{org}"), "pc_csrf".to_owned()))
            .cloned()
            .unwrap_or_default()
    }

    pub fn session(&self, org: &str) -> Option<String> {
        self.cookies
            .get(&(format!("/o/{org}"), "pc_session".to_owned()))
            .cloned()
    }

    pub fn set_session(&mut self, org: &str, value: &str) {
        self.cookies.insert(
            (format!("/o/{org}"), "pc_session".to_owned()),
            value.to_owned(),
        );
    }

    /// Opens the sign-in page and submits it.
    pub async fn sign_in(
        &mut self,
        org: &str,
        email: &str,
        password: &str,
        remember_me: bool,
    ) -> Page {
        let login = self.get(&format!("/o/{org}/login")).await;
        assert_eq!(login.status, 200, "{}", login.body);
        let csrf = login.csrf();
        let mut form = vec![
            ("email", email),
            ("password", password),
            ("csrf", csrf.as_str()),
        ];
        if remember_me {
            form.push(("remember_me", "on"));
        }
        self.post(&format!("/o/{org}/login"), &form).await
    }
}
