//! The demo shop: one process, two apps registered in the Portcullis demo org, showing the two
//! use cases of DESIGN §1.
//!
//! - **Catalog** (`http://127.0.0.1:9001`, standard profile): a long app session that survives
//!   Single Logout. When Portcullis tells it (back-channel) that the IdP session ended, it keeps
//!   serving the catalog and only notes that checkout will ask to sign in again.
//! - **Checkout** (`http://127.0.0.1:9002`, privileged profile): re-authentication after 15
//!   minutes and MFA, enforced by Portcullis; its session ends with the IdP session (the
//!   back-channel logout ends the local session).
//!
//! Each app has a local-logout button (revokes its refresh token: only this app signs out), a
//! Single Logout link (RP-initiated logout at Portcullis), and a link to the account page for
//! "sign out everywhere". Relying-party logic uses the `openidconnect` crate; logout tokens are
//! checked with `jsonwebtoken` against the org's JWKS (Back-Channel Logout 1.0 §2.6).
//!
//! Configuration (environment): `DEMO_SHOP_ISSUER` (default `http://localhost:8080/o/demo`),
//! `DEMO_SHOP_CATALOG_PORT` (9001), `DEMO_SHOP_CHECKOUT_PORT` (9002). The client ids and secrets
//! are the demo's public ones (`serve --demo` registers them).

use actix_web::cookie::{Cookie, SameSite};
use actix_web::{App, HttpRequest, HttpResponse, HttpServer, web};
use base64::Engine;
use openidconnect::core::{
    CoreAuthenticationFlow, CoreClient, CoreJwsSigningAlgorithm, CoreProviderMetadata,
};
use openidconnect::{
    AuthorizationCode, ClientId, ClientSecret, CsrfToken, EndpointMaybeSet, EndpointNotSet,
    EndpointSet, IssuerUrl, Nonce, OAuth2TokenResponse, PkceCodeChallenge, PkceCodeVerifier,
    RedirectUrl, Scope, TokenResponse,
};
use std::collections::HashMap;
use std::sync::{Arc, Mutex};

type Client = CoreClient<
    EndpointSet,
    EndpointNotSet,
    EndpointNotSet,
    EndpointNotSet,
    EndpointMaybeSet,
    EndpointMaybeSet,
>;

const LOGOUT_EVENT: &str = "http://schemas.openid.net/event/backchannel-logout";

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    Catalog,
    Checkout,
}

/// A signed-in visitor of one app.
#[derive(Debug, Clone)]
struct Local {
    email: String,
    sid: String,
    id_token: String,
    refresh_token: Option<String>,
    /// Portcullis said the IdP session ended (the catalog keeps serving anyway).
    idp_signed_out: bool,
}

struct Pending {
    verifier: String,
    nonce: String,
}

struct Discovered {
    metadata: CoreProviderMetadata,
    raw: serde_json::Value,
}

struct Shop {
    kind: Kind,
    name: &'static str,
    base: String,
    other: String,
    issuer: String,
    client_id: String,
    secret: String,
    http: openidconnect::reqwest::Client,
    discovered: tokio::sync::OnceCell<Discovered>,
    pending: Mutex<HashMap<String, Pending>>,
    sessions: Mutex<HashMap<String, Local>>,
}

fn escape(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

fn enc(s: &str) -> String {
    url::form_urlencoded::byte_serialize(s.as_bytes()).collect()
}

fn random() -> String {
    uuid::Uuid::new_v4().simple().to_string()
}

fn page(title: &str, body: &str) -> HttpResponse {
    HttpResponse::Ok()
        .content_type("text/html; charset=utf-8")
        .insert_header(("Cache-Control", "no-store"))
        .body(format!(
            "<!doctype html><html lang=\"en\"><head><meta charset=\"utf-8\"><title>{t}</title></head>\
<body><main><h1>{t}</h1>{body}</main></body></html>",
            t = escape(title)
        ))
}

fn see_other(to: &str) -> HttpResponse {
    HttpResponse::SeeOther()
        .insert_header(("Location", to))
        .insert_header(("Cache-Control", "no-store"))
        .finish()
}

/// The claims of a JWT this app has already verified (or verifies next).
fn jwt_payload(token: &str) -> serde_json::Value {
    token
        .split('.')
        .nth(1)
        .and_then(|p| {
            base64::engine::general_purpose::URL_SAFE_NO_PAD
                .decode(p)
                .ok()
        })
        .and_then(|b| serde_json::from_slice(&b).ok())
        .unwrap_or_default()
}

impl Shop {
    fn cookie_name(&self) -> &'static str {
        match self.kind {
            Kind::Catalog => "catalog_session",
            Kind::Checkout => "checkout_session",
        }
    }

    async fn discovered(&self) -> anyhow::Result<&Discovered> {
        self.discovered
            .get_or_try_init(|| async {
                let metadata = CoreProviderMetadata::discover_async(
                    IssuerUrl::new(self.issuer.clone())?,
                    &self.http,
                )
                .await?;
                let raw = self
                    .http
                    .get(format!("{}/.well-known/openid-configuration", self.issuer))
                    .send()
                    .await?
                    .json()
                    .await?;
                Ok(Discovered { metadata, raw })
            })
            .await
    }

    fn client(&self, d: &Discovered) -> anyhow::Result<Client> {
        Ok(CoreClient::from_provider_metadata(
            d.metadata.clone(),
            ClientId::new(self.client_id.clone()),
            Some(ClientSecret::new(self.secret.clone())),
        )
        .set_redirect_uri(RedirectUrl::new(format!("{}/callback", self.base))?))
    }

    fn local(&self, req: &HttpRequest) -> Option<(String, Local)> {
        let key = req.cookie(self.cookie_name())?.value().to_owned();
        let local = self.sessions.lock().ok()?.get(&key).cloned()?;
        Some((key, local))
    }

    fn forget(&self, key: &str) -> Option<Local> {
        self.sessions.lock().ok()?.remove(key)
    }
}

async fn home(req: HttpRequest, shop: web::Data<Arc<Shop>>) -> HttpResponse {
    let links = format!(
        "<p><a href=\"{other}\">{label}</a></p>",
        other = escape(&shop.other),
        label = match shop.kind {
            Kind::Catalog => "Go to checkout",
            Kind::Checkout => "Back to the catalog",
        }
    );
    let account = format!("{}/account", shop.issuer);
    let body = match (shop.kind, shop.local(&req)) {
        (Kind::Catalog, signed_in) => {
            let mut out = String::from(
                "<ul data-testid=\"catalog\"><li>Portcullis mug</li><li>Portcullis hoodie</li><li>Portcullis sticker pack</li></ul>",
            );
            match signed_in {
                Some((_, l)) => {
                    out.push_str(&format!(
                        "<p data-testid=\"signed-in\">Signed in as {}</p>",
                        escape(&l.email)
                    ));
                    if l.idp_signed_out {
                        out.push_str("<p data-testid=\"idp-signed-out\">You signed out of Portcullis. You can keep browsing; checkout will ask you to sign in again.</p>");
                    }
                    out.push_str(&actions(&account));
                }
                None => {
                    out.push_str("<p><a href=\"/login\" data-testid=\"sign-in\">Sign in</a></p>")
                }
            }
            out
        }
        (Kind::Checkout, Some((_, l))) => format!(
            "<p data-testid=\"signed-in\">Signed in as {}</p>\
<form method=\"post\" action=\"/order\"><button type=\"submit\" data-testid=\"place-order\">Place order</button></form>{}",
            escape(&l.email),
            actions(&account)
        ),
        (Kind::Checkout, None) => {
            "<p><a href=\"/login\" data-testid=\"sign-in\">Sign in to check out</a></p>".to_owned()
        }
    };
    page(shop.name, &format!("{body}{links}"))
}

fn actions(account: &str) -> String {
    format!(
        "<form method=\"post\" action=\"/logout-local\"><button type=\"submit\" data-testid=\"local-logout\">Sign out of this app only</button></form>\
<p><a href=\"/logout\" data-testid=\"single-logout\">Sign out of Portcullis (Single Logout)</a></p>\
<p><a href=\"{}\" data-testid=\"everywhere\">Manage your sessions (sign out everywhere)</a></p>",
        escape(account)
    )
}

async fn order(req: HttpRequest, shop: web::Data<Arc<Shop>>) -> HttpResponse {
    match shop.local(&req) {
        Some(_) => page(
            shop.name,
            "<p data-testid=\"order-placed\">Order placed. Thank you!</p><p><a href=\"/\">Back</a></p>",
        ),
        None => see_other("/login"),
    }
}

async fn login(shop: web::Data<Arc<Shop>>) -> HttpResponse {
    let result = async {
        let d = shop.discovered().await?;
        let client = shop.client(d)?;
        let (challenge, verifier) = PkceCodeChallenge::new_random_sha256();
        let (url, state, nonce) = client
            .authorize_url(
                CoreAuthenticationFlow::AuthorizationCode,
                CsrfToken::new_random,
                Nonce::new_random,
            )
            .add_scope(Scope::new("email".into()))
            .add_scope(Scope::new("profile".into()))
            .set_pkce_challenge(challenge)
            .url();
        if let Ok(mut pending) = shop.pending.lock() {
            pending.insert(
                state.secret().clone(),
                Pending {
                    verifier: verifier.secret().clone(),
                    nonce: nonce.secret().clone(),
                },
            );
        }
        anyhow::Ok(url.to_string())
    }
    .await;
    match result {
        Ok(url) => see_other(&url),
        Err(e) => page(
            "Portcullis unreachable",
            &format!("<p>{}</p>", escape(&e.to_string())),
        ),
    }
}

#[derive(serde::Deserialize)]
struct Callback {
    code: Option<String>,
    state: Option<String>,
    error: Option<String>,
}

async fn callback(shop: web::Data<Arc<Shop>>, q: web::Query<Callback>) -> HttpResponse {
    if let Some(e) = &q.error {
        return page(
            "Sign-in failed",
            &format!("<p>{}</p><p><a href=\"/\">Back</a></p>", escape(e)),
        );
    }
    let pending = q
        .state
        .as_ref()
        .and_then(|s| shop.pending.lock().ok()?.remove(s));
    let (Some(code), Some(pending)) = (q.code.clone(), pending) else {
        return page(
            "Sign-in failed",
            "<p>Unknown or replayed sign-in response.</p>",
        );
    };
    let result = async {
        let d = shop.discovered().await?;
        let client = shop.client(d)?;
        let tokens = client
            .exchange_code(AuthorizationCode::new(code))?
            .set_pkce_verifier(PkceCodeVerifier::new(pending.verifier))
            .request_async(&shop.http)
            .await?;
        let id_token = tokens
            .id_token()
            .ok_or_else(|| anyhow::anyhow!("no ID token"))?;
        let verifier = client.id_token_verifier().set_allowed_algs(vec![
            CoreJwsSigningAlgorithm::EcdsaP256Sha256,
            CoreJwsSigningAlgorithm::RsaSsaPkcs1V15Sha256,
        ]);
        let claims = id_token.claims(&verifier, &Nonce::new(pending.nonce))?;
        let raw = jwt_payload(&id_token.to_string());
        anyhow::Ok(Local {
            email: claims
                .email()
                .map(|e| e.as_str().to_owned())
                .unwrap_or_else(|| claims.subject().as_str().to_owned()),
            sid: raw["sid"].as_str().unwrap_or_default().to_owned(),
            id_token: id_token.to_string(),
            refresh_token: tokens.refresh_token().map(|t| t.secret().clone()),
            idp_signed_out: false,
        })
    }
    .await;
    match result {
        Ok(local) => {
            let key = random();
            if let Ok(mut sessions) = shop.sessions.lock() {
                sessions.insert(key.clone(), local);
            }
            let cookie = Cookie::build(shop.cookie_name(), key)
                .path("/")
                .http_only(true)
                .same_site(SameSite::Lax)
                .finish();
            HttpResponse::SeeOther()
                .insert_header(("Location", "/"))
                .cookie(cookie)
                .finish()
        }
        Err(e) => page(
            "Sign-in failed",
            &format!("<p>{}</p>", escape(&e.to_string())),
        ),
    }
}

/// Local logout: this app's refresh token is revoked (its app session at Portcullis ends) and
/// its cookie goes; the IdP session and the other app are untouched.
async fn logout_local(req: HttpRequest, shop: web::Data<Arc<Shop>>) -> HttpResponse {
    if let Some((key, local)) = shop.local(&req) {
        shop.forget(&key);
        if let (Some(refresh), Ok(d)) = (local.refresh_token, shop.discovered().await)
            && let Some(revoke) = d.raw["revocation_endpoint"].as_str()
        {
            let _ = shop
                .http
                .post(revoke)
                .basic_auth(&shop.client_id, Some(&shop.secret))
                .form(&[
                    ("token", refresh.as_str()),
                    ("token_type_hint", "refresh_token"),
                ])
                .send()
                .await;
        }
    }
    page(
        shop.name,
        "<p data-testid=\"locally-signed-out\">You signed out of this app only. You are still signed in at Portcullis: signing in here again goes straight through.</p><p><a href=\"/\">Back</a></p>",
    )
}

/// Single Logout: RP-initiated logout at Portcullis, which tells every app of the session.
async fn logout(req: HttpRequest, shop: web::Data<Arc<Shop>>) -> HttpResponse {
    let Some((key, local)) = shop.local(&req) else {
        return see_other("/");
    };
    shop.forget(&key);
    let Ok(d) = shop.discovered().await else {
        return see_other("/");
    };
    let Some(end) = d.raw["end_session_endpoint"].as_str() else {
        return see_other("/");
    };
    see_other(&format!(
        "{end}?id_token_hint={}&post_logout_redirect_uri={}&state={}",
        enc(&local.id_token),
        enc(&format!("{}/", shop.base)),
        random()
    ))
}

#[derive(serde::Deserialize)]
struct LogoutForm {
    logout_token: String,
}

/// Back-Channel Logout 1.0 §2.6: validate the logout token, then end (checkout) or mark
/// (catalog) the local sessions of its `sid`.
async fn backchannel(shop: web::Data<Arc<Shop>>, form: web::Form<LogoutForm>) -> HttpResponse {
    match validate_logout_token(&shop, &form.logout_token).await {
        Ok(sid) => {
            if let Ok(mut sessions) = shop.sessions.lock() {
                match shop.kind {
                    Kind::Checkout => sessions.retain(|_, l| l.sid != sid),
                    Kind::Catalog => {
                        for l in sessions.values_mut().filter(|l| l.sid == sid) {
                            l.idp_signed_out = true;
                        }
                    }
                }
            }
            HttpResponse::Ok()
                .insert_header(("Cache-Control", "no-store"))
                .finish()
        }
        Err(e) => HttpResponse::BadRequest()
            .insert_header(("Cache-Control", "no-store"))
            .json(serde_json::json!({ "error": "invalid_request", "error_description": e.to_string() })),
    }
}

async fn validate_logout_token(shop: &Shop, token: &str) -> anyhow::Result<String> {
    let d = shop.discovered().await?;
    let header = jsonwebtoken::decode_header(token)?;
    if header.typ.as_deref() != Some("logout+jwt") {
        anyhow::bail!("not a logout token");
    }
    let kid = header.kid.ok_or_else(|| anyhow::anyhow!("no kid"))?;
    let jwks: jsonwebtoken::jwk::JwkSet = shop
        .http
        .get(d.metadata.jwks_uri().url().as_str())
        .send()
        .await?
        .json()
        .await?;
    let jwk = jwks
        .find(&kid)
        .ok_or_else(|| anyhow::anyhow!("unknown key"))?;
    if !matches!(
        header.alg,
        jsonwebtoken::Algorithm::ES256 | jsonwebtoken::Algorithm::RS256
    ) {
        anyhow::bail!("unexpected algorithm");
    }
    let mut validation = jsonwebtoken::Validation::new(header.alg);
    validation.set_audience(&[&shop.client_id]);
    validation.set_issuer(&[&shop.issuer]);
    validation.set_required_spec_claims(&["iss", "aud", "exp", "iat"]);
    let data = jsonwebtoken::decode::<serde_json::Value>(
        token,
        &jsonwebtoken::DecodingKey::from_jwk(jwk)?,
        &validation,
    )?;
    let c = data.claims;
    if c.get("events").and_then(|e| e.get(LOGOUT_EVENT)).is_none() {
        anyhow::bail!("no logout event");
    }
    if c.get("nonce").is_some() {
        anyhow::bail!("a logout token has no nonce");
    }
    if c.get("jti").and_then(|j| j.as_str()).is_none() {
        anyhow::bail!("no jti");
    }
    c.get("sid")
        .and_then(|s| s.as_str())
        .map(str::to_owned)
        .ok_or_else(|| anyhow::anyhow!("no sid"))
}

fn port(var: &str, default: u16) -> u16 {
    std::env::var(var)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

fn shop(kind: Kind, issuer: &str, port: u16, other_port: u16) -> anyhow::Result<Arc<Shop>> {
    let (name, client_id, secret) = match kind {
        Kind::Catalog => ("Demo Shop Catalog", "demo-catalog", "demo-catalog-secret"),
        Kind::Checkout => (
            "Demo Shop Checkout",
            "demo-checkout",
            "demo-checkout-secret",
        ),
    };
    Ok(Arc::new(Shop {
        kind,
        name,
        base: format!("http://127.0.0.1:{port}"),
        other: format!("http://127.0.0.1:{other_port}/"),
        issuer: issuer.to_owned(),
        client_id: client_id.to_owned(),
        secret: secret.to_owned(),
        // Never follow redirects from the provider (the crate's advice against SSRF).
        http: openidconnect::reqwest::ClientBuilder::new()
            .redirect(openidconnect::reqwest::redirect::Policy::none())
            .build()?,
        discovered: tokio::sync::OnceCell::new(),
        pending: Mutex::new(HashMap::new()),
        sessions: Mutex::new(HashMap::new()),
    }))
}

fn server(shop: Arc<Shop>, port: u16) -> std::io::Result<actix_web::dev::Server> {
    let data = web::Data::new(shop);
    Ok(HttpServer::new(move || {
        App::new()
            .app_data(data.clone())
            .route("/", web::get().to(home))
            .route("/order", web::post().to(order))
            .route("/login", web::get().to(login))
            .route("/callback", web::get().to(callback))
            .route("/logout-local", web::post().to(logout_local))
            .route("/logout", web::get().to(logout))
            .route("/backchannel-logout", web::post().to(backchannel))
            .route("/favicon.ico", web::get().to(HttpResponse::NoContent))
            // A receiver that always fails, to see failed deliveries in the console.
            .route(
                "/broken-backchannel",
                web::post().to(HttpResponse::InternalServerError),
            )
    })
    .workers(1)
    .bind(("127.0.0.1", port))?
    .run())
}

#[actix_web::main]
async fn main() -> anyhow::Result<()> {
    let issuer = std::env::var("DEMO_SHOP_ISSUER")
        .unwrap_or_else(|_| "http://localhost:8080/o/demo".to_owned());
    let catalog_port = port("DEMO_SHOP_CATALOG_PORT", 9001);
    let checkout_port = port("DEMO_SHOP_CHECKOUT_PORT", 9002);
    let catalog = server(
        shop(Kind::Catalog, &issuer, catalog_port, checkout_port)?,
        catalog_port,
    )?;
    let checkout = server(
        shop(Kind::Checkout, &issuer, checkout_port, catalog_port)?,
        checkout_port,
    )?;
    println!(
        "demo shop for {issuer}: catalog http://127.0.0.1:{catalog_port}/  checkout http://127.0.0.1:{checkout_port}/"
    );
    let (a, b) = tokio::join!(catalog, checkout);
    a?;
    b?;
    Ok(())
}
