//! A relying party driven with raw HTTP, and the JSON answers of the OIDC endpoints.

use super::{TestApp, follow_to_app, jwt_claims, pkce, query_params};
use crate::browser::Browser;
use portcullis::apps::CreateApp;
use portcullis::tenancy::Org;
use serde_json::Value;

/// A JSON answer of an OIDC endpoint.
#[derive(Debug)]
pub struct Answer {
    pub status: u16,
    pub headers: reqwest::header::HeaderMap,
    pub json: Value,
}

impl Answer {
    pub async fn read(res: reqwest::Response) -> Self {
        let status = res.status().as_u16();
        let headers = res.headers().clone();
        let text = res.text().await.unwrap();
        let json = serde_json::from_str(&text).unwrap_or(Value::String(text));
        Self {
            status,
            headers,
            json,
        }
    }

    /// The string field `key` (panics when missing).
    pub fn str(&self, key: &str) -> String {
        self.json[key]
            .as_str()
            .unwrap_or_else(|| panic!("{key} in {self:?}"))
            .to_owned()
    }

    pub fn error(&self) -> &str {
        self.json["error"].as_str().unwrap_or_default()
    }

    pub fn header(&self, name: &str) -> &str {
        self.headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default()
    }

    /// An OAuth error answer with this status and `error` code.
    #[track_caller]
    pub fn assert_error(&self, status: u16, error: &str) {
        assert_eq!((self.status, self.error()), (status, error), "{self:?}");
    }
}

/// The tokens of a successful code exchange or refresh.
#[derive(Debug, Clone)]
pub struct Tokens {
    pub access: String,
    pub refresh: String,
    pub id: Option<String>,
}

impl Tokens {
    #[track_caller]
    pub fn of(answer: &Answer) -> Self {
        assert_eq!(answer.status, 200, "{answer:?}");
        Self {
            access: answer.str("access_token"),
            refresh: answer.str("refresh_token"),
            id: answer.json["id_token"].as_str().map(str::to_owned),
        }
    }

    pub fn id_claims(&self) -> Value {
        jwt_claims(self.id.as_deref().expect("an ID token"))
    }
}

/// A registered app, spoken to with raw HTTP as its relying party would.
#[derive(Debug, Clone)]
pub struct Rp {
    pub org: String,
    pub issuer: String,
    pub client_id: String,
    pub secret: Option<String>,
    pub redirect_uri: String,
    /// Requests to the node go to its listening address (the issuer's host is `localhost`).
    base: String,
    client: reqwest::Client,
}

impl Rp {
    /// Registers the app in `org`; its first redirect URI becomes the one requests use.
    pub async fn register(app: &TestApp, org: &Org, req: CreateApp) -> Self {
        let redirect_uri = req.redirect_uris.first().cloned().unwrap_or_default();
        let (registered, secret) = app.state.apps.create(org, req, "test").await.unwrap();
        let slug = org.slug.as_str().to_owned();
        Self {
            issuer: app.issuer(&slug),
            org: slug,
            client_id: registered.client_id,
            secret,
            redirect_uri,
            base: app.address.clone(),
            client: app.client.clone(),
        }
    }

    /// A confidential web app with one loopback redirect URI.
    pub async fn web(app: &TestApp, org: &Org, name: &str) -> Self {
        let mut req = CreateApp::new(name, portcullis::apps::AppType::Web);
        req.redirect_uris = vec![format!("http://127.0.0.1:9/{name}/callback")];
        Self::register(app, org, req).await
    }

    /// The same app seen with other credentials (another client id or secret).
    pub fn with_credentials(&self, client_id: &str, secret: Option<&str>) -> Self {
        let mut other = self.clone();
        other.client_id = client_id.to_owned();
        other.secret = secret.map(str::to_owned);
        other
    }

    /// The same credentials used at another org's endpoints.
    pub fn at_org(&self, app: &TestApp, org: &str) -> Self {
        let mut other = self.clone();
        other.org = org.to_owned();
        other.issuer = app.issuer(org);
        other
    }

    /// The same app speaking to another node of the deployment.
    pub fn at_node(&self, app: &TestApp) -> Self {
        let mut other = self.clone();
        other.base = app.address.clone();
        other
    }

    fn url(&self, endpoint: &str) -> String {
        format!("{}/o/{}/{endpoint}", self.base, self.org)
    }

    /// `/o/{org}/authorize?…`: response_type=code, this app's client_id and redirect_uri, scope
    /// `openid email profile`, state `st-1` and nonce `n-1`; `params` replace or add parameters,
    /// and an empty value removes one.
    pub fn authorize_path(&self, params: &[(&str, &str)]) -> String {
        let mut all: Vec<(String, String)> = [
            ("response_type", "code"),
            ("client_id", self.client_id.as_str()),
            ("redirect_uri", self.redirect_uri.as_str()),
            ("scope", "openid email profile"),
            ("state", "st-1"),
            ("nonce", "n-1"),
        ]
        .iter()
        .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
        .collect();
        for (k, v) in params {
            all.retain(|(key, _)| key != k);
            if !v.is_empty() {
                all.push(((*k).to_owned(), (*v).to_owned()));
            }
        }
        let query = url::form_urlencoded::Serializer::new(String::new())
            .extend_pairs(all)
            .finish();
        format!("/o/{}/authorize?{query}", self.org)
    }

    /// Runs the authorization request in the browser (signing in with the password if needed)
    /// and returns the code, checking that `state` and `iss` come back.
    pub async fn code(&self, b: &mut Browser, params: &[(&str, &str)]) -> String {
        let path = self.authorize_path(params);
        let location = follow_to_app(b, &self.org, &self.redirect_uri, &path).await;
        let q = query_params(&location);
        assert!(!q.contains_key("error"), "{location}");
        let state = params
            .iter()
            .find(|(k, _)| *k == "state")
            .map_or("st-1", |(_, v)| *v);
        assert_eq!(
            q.get("state").map(String::as_str),
            Some(state),
            "{location}"
        );
        assert_eq!(q.get("iss"), Some(&self.issuer), "{location}");
        q.get("code").cloned().expect("a code")
    }

    /// Authorization with PKCE (S256) and the code exchange; asserts success.
    pub async fn sign_in(&self, b: &mut Browser, params: &[(&str, &str)]) -> Tokens {
        let (challenge, verifier) = pkce();
        let mut all = vec![
            ("code_challenge", challenge.as_str()),
            ("code_challenge_method", "S256"),
        ];
        all.extend_from_slice(params);
        let code = self.code(b, &all).await;
        Tokens::of(&self.exchange(&code, Some(&verifier)).await)
    }

    /// Posts `form` to `endpoint` with this app's client authentication: HTTP Basic
    /// (client_secret_basic) for confidential apps, `client_id` in the body for public ones.
    async fn post_as_client<'a>(
        &'a self,
        endpoint: &str,
        mut form: Vec<(&'a str, &'a str)>,
    ) -> Answer {
        let mut req = self.client.post(self.url(endpoint));
        match &self.secret {
            Some(secret) => req = req.basic_auth(&self.client_id, Some(secret)),
            None => form.push(("client_id", &self.client_id)),
        }
        Answer::read(req.form(&form).send().await.unwrap()).await
    }

    /// A token request with this app's client authentication.
    pub async fn token(&self, form: &[(&str, &str)]) -> Answer {
        self.post_as_client("token", form.to_vec()).await
    }

    pub async fn exchange(&self, code: &str, verifier: Option<&str>) -> Answer {
        let mut form = vec![
            ("grant_type", "authorization_code"),
            ("code", code),
            ("redirect_uri", self.redirect_uri.as_str()),
        ];
        if let Some(v) = verifier {
            form.push(("code_verifier", v));
        }
        self.token(&form).await
    }

    pub async fn refresh(&self, refresh_token: &str) -> Answer {
        self.token(&[
            ("grant_type", "refresh_token"),
            ("refresh_token", refresh_token),
        ])
        .await
    }

    /// RFC 7662 introspection with this app's credentials.
    pub async fn introspect(&self, token: &str) -> Answer {
        self.post_as_client("introspect", vec![("token", token)])
            .await
    }

    /// Whether introspection says the token is active (asserting a 200 answer).
    pub async fn active(&self, token: &str) -> bool {
        let a = self.introspect(token).await;
        assert_eq!(a.status, 200, "{a:?}");
        a.json["active"]
            .as_bool()
            .unwrap_or_else(|| panic!("{a:?}"))
    }

    /// RFC 7009 revocation with this app's credentials.
    pub async fn revoke(&self, token: &str, hint: Option<&str>) -> Answer {
        let mut form = vec![("token", token)];
        if let Some(h) = hint {
            form.push(("token_type_hint", h));
        }
        self.post_as_client("revoke", form).await
    }

    pub async fn userinfo(&self, access_token: &str) -> Answer {
        let res = self
            .client
            .get(self.url("userinfo"))
            .bearer_auth(access_token)
            .send()
            .await
            .unwrap();
        Answer::read(res).await
    }
}
