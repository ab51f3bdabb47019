//! OIDC endpoints of an org: thin handlers over `OidcService`. Paths are constants shared with
//! the discovery document.

use super::dpop::TokenScheme;
use super::dpop_routes;
use super::error::{OidcError, OidcErrorCode};
use super::model::{AuthorizeDecision, AuthorizeParams};
use super::service::{ClientAuth, TokenParams};
use crate::http::extract::{Checked, MaybeSession};
use crate::http::pages::{form_post, org_path};
use crate::http::{CurrentOrg, OAuthError, PublicOrg, error_page, failure_page};
use crate::state::AppState;
use crate::tenancy::Org;
use actix_web::http::StatusCode;
use actix_web::http::header::{self, HeaderValue};
use actix_web::{HttpRequest, HttpResponse, web};
use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use std::collections::HashMap;
use url::Url;

pub const DISCOVERY_PATH: &str = "/.well-known/openid-configuration";
pub const JWKS_PATH: &str = "/jwks";
pub const AUTHORIZE_PATH: &str = "/authorize";
pub const TOKEN_PATH: &str = "/token";
pub const USERINFO_PATH: &str = "/userinfo";
pub const INTROSPECT_PATH: &str = "/introspect";
pub const REVOKE_PATH: &str = "/revoke";
pub const PAR_PATH: &str = "/par";
pub const CONSENT_PATH: &str = "/consent";

#[derive(askama::Template)]
#[template(path = "consent.html")]
struct ConsentPage<'a> {
    org_name: &'a str,
    org_path: String,
    logo_url: Option<&'a str>,
    csrf: &'a str,
    return_to: &'a str,
    app_name: &'a str,
    scopes: Vec<&'static str>,
}

/// What each scope means to the user.
pub(super) fn scope_text(scope: &str) -> &'static str {
    match scope {
        "openid" => "Know who you are (your account id)",
        "email" => "See your email address",
        "profile" => "See your name",
        "offline_access" => "Stay signed in to it while you are away",
        _ => "Other access",
    }
}

pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.route(JWKS_PATH, web::get().to(jwks))
        .route(AUTHORIZE_PATH, web::get().to(authorize))
        .route(AUTHORIZE_PATH, web::post().to(authorize_post))
        .route(CONSENT_PATH, web::post().to(consent_submit))
        .route(TOKEN_PATH, web::post().to(token))
        .route(
            TOKEN_PATH,
            web::method(actix_web::http::Method::OPTIONS).to(preflight),
        )
        .route(USERINFO_PATH, web::get().to(userinfo_get))
        .route(USERINFO_PATH, web::post().to(userinfo_post))
        .route(
            USERINFO_PATH,
            web::method(actix_web::http::Method::OPTIONS).to(preflight),
        )
        .route(PAR_PATH, web::post().to(par))
        .route(
            PAR_PATH,
            web::method(actix_web::http::Method::OPTIONS).to(preflight),
        )
        .route(INTROSPECT_PATH, web::post().to(introspect))
        .route(REVOKE_PATH, web::post().to(revoke));
}

pub(super) fn json_no_store(status: StatusCode, body: &serde_json::Value) -> HttpResponse {
    HttpResponse::build(status)
        .insert_header((header::CACHE_CONTROL, "no-store"))
        .insert_header((header::PRAGMA, "no-cache"))
        .json(body)
}

/// Discovery, routed outside the org scope (`crate::routes`): its org is a `PublicOrg`.
pub(crate) async fn discovery(org: PublicOrg, state: web::Data<AppState>) -> HttpResponse {
    let body = state.oidc.discovery_document(&org.0, discovery_document);
    HttpResponse::Ok()
        .insert_header((header::CACHE_CONTROL, "public, max-age=300"))
        .insert_header((header::CONTENT_TYPE, "application/json"))
        .body(body.to_string())
}

/// The algorithms a `private_key_jwt` assertion may be signed with.
const ASSERTION_ALGS: [&str; 4] = ["ES256", "RS256", "PS256", "EdDSA"];

/// The discovery document of an issuer (built once per issuer: `OidcService::discovery_document`).
fn discovery_document(issuer: &str) -> serde_json::Value {
    let at = |path: &str| format!("{issuer}{path}");
    serde_json::json!({
        "issuer": issuer,
        "authorization_endpoint": at(AUTHORIZE_PATH),
        "token_endpoint": at(TOKEN_PATH),
        "userinfo_endpoint": at(USERINFO_PATH),
        "jwks_uri": at(JWKS_PATH),
        "introspection_endpoint": at(INTROSPECT_PATH),
        "revocation_endpoint": at(REVOKE_PATH),
        "pushed_authorization_request_endpoint": at(PAR_PATH),
        "require_pushed_authorization_requests": false,
        "end_session_endpoint": at(crate::slo::routes::END_SESSION_PATH),
        "backchannel_logout_supported": true,
        "backchannel_logout_session_supported": true,
        "frontchannel_logout_supported": true,
        "frontchannel_logout_session_supported": true,
        "response_types_supported": ["code"],
        "response_modes_supported": ["query", "form_post"],
        "grant_types_supported": ["authorization_code", "refresh_token", "client_credentials",
            crate::apps::DEVICE_CODE_GRANT],
        "device_authorization_endpoint": at(super::device_routes::DEVICE_AUTHORIZATION_PATH),
        "subject_types_supported": ["public"],
        // RS256 is listed always (OIDC Core §15.1); each org signs with its own key's algorithm.
        "id_token_signing_alg_values_supported": ["RS256", "ES256"],
        "userinfo_signing_alg_values_supported": ["none"],
        "token_endpoint_auth_methods_supported":
            ["client_secret_basic", "client_secret_post", "private_key_jwt", "none"],
        "token_endpoint_auth_signing_alg_values_supported": ASSERTION_ALGS,
        "introspection_endpoint_auth_methods_supported":
            ["client_secret_basic", "client_secret_post", "private_key_jwt"],
        "introspection_endpoint_auth_signing_alg_values_supported": ASSERTION_ALGS,
        "revocation_endpoint_auth_methods_supported":
            ["client_secret_basic", "client_secret_post", "private_key_jwt", "none"],
        "revocation_endpoint_auth_signing_alg_values_supported": ASSERTION_ALGS,
        "code_challenge_methods_supported": ["S256"],
        // RFC 9449 §5.1: the token endpoint binds tokens to these keys; userinfo and
        // introspection honour the binding.
        "dpop_signing_alg_values_supported": super::dpop::SIGNING_ALGS,
        "scopes_supported": ["openid", "profile", "email", "offline_access"],
        "claims_supported": ["iss", "sub", "aud", "exp", "iat", "auth_time", "nonce", "sid", "acr",
            "amr", "at_hash", "azp", "session_expiry", "email", "email_verified", "name"],
        "acr_values_supported": [crate::sessions::ACR_ONE_FACTOR, crate::sessions::ACR_TWO_FACTORS,
            crate::sessions::ACR_PHISHING_RESISTANT],
        "prompt_values_supported": ["none", "login", "consent"],
        "claims_parameter_supported": false,
        "request_parameter_supported": false,
        "request_uri_parameter_supported": false,
        "authorization_response_iss_parameter_supported": true,
    })
}

async fn jwks(org: CurrentOrg, state: web::Data<AppState>) -> HttpResponse {
    match state.keys.jwks(org.0.id).await {
        // Short: a rotation's new key must reach relying parties within its publish lead.
        Ok(set) => HttpResponse::Ok()
            .insert_header((header::CACHE_CONTROL, "public, max-age=300"))
            .insert_header((header::CONTENT_TYPE, "application/jwk-set+json"))
            .body(set.to_string()),
        Err(e) => {
            let e = OidcError::server(e);
            token_error(&state.oidc.issuer(&org.0), &e)
        }
    }
}

/// Appends parameters to a validated redirect URI (keeping its own query, RFC 6749 §3.1.2).
fn redirect_with(uri: &str, params: &[(&str, Option<&str>)]) -> HttpResponse {
    let Ok(mut url) = Url::parse(uri) else {
        return error_page(
            StatusCode::BAD_REQUEST,
            "Invalid redirect URI",
            "The redirect URI is not valid.",
        );
    };
    {
        let mut q = url.query_pairs_mut();
        for (k, v) in params {
            if let Some(v) = v {
                q.append_pair(k, v);
            }
        }
    }
    HttpResponse::SeeOther()
        .insert_header((header::LOCATION, url.as_str()))
        .insert_header((header::CACHE_CONTROL, "no-store"))
        .finish()
}

/// The authorize request again, for the login or step-up page to send the browser back to;
/// without `prompt=login` once the user is sent to sign in again (it would loop otherwise).
fn authorize_return_to(org: &Org, query: &str, drop_login_prompt: bool) -> String {
    let mut out = url::form_urlencoded::Serializer::new(String::new());
    for (k, v) in url::form_urlencoded::parse(query.as_bytes()) {
        if k == "prompt" && drop_login_prompt {
            let rest: Vec<&str> = v
                .split(' ')
                .filter(|p| *p != "login" && !p.is_empty())
                .collect();
            if !rest.is_empty() {
                out.append_pair("prompt", &rest.join(" "));
            }
            continue;
        }
        out.append_pair(&k, &v);
    }
    format!("{}{AUTHORIZE_PATH}?{}", org_path(org), out.finish())
}

fn encode(value: &str) -> String {
    url::form_urlencoded::byte_serialize(value.as_bytes()).collect()
}

/// The browser's session comes from `MaybeSession`: a failed lookup is the failure page (503
/// for an outage), never "not signed in" (which would send a signed-in user to sign in again,
/// or answer `login_required`).
async fn authorize(
    req: HttpRequest,
    org: CurrentOrg,
    state: web::Data<AppState>,
    q: web::Query<AuthorizeParams>,
    MaybeSession(session): MaybeSession,
) -> HttpResponse {
    decide(&req, &state, &org.0, &q, req.query_string(), session, None).await
}

/// Decides an authorization request (`params`, as the query string `query`) for the browser's
/// `session` and, from the consent screen, its `consent` answer; and answers it.
async fn decide(
    req: &HttpRequest,
    state: &AppState,
    org: &Org,
    params: &AuthorizeParams,
    query: &str,
    session: Option<crate::sessions::Session>,
    consent: Option<bool>,
) -> HttpResponse {
    let decision = state
        .oidc
        .authorize(org, params, session.as_ref(), consent)
        .await;
    let back = authorize_return_to(org, query, false);
    respond(req, state, org, decision, &back)
}

/// The largest authorization request form taken (its parameters end up in URLs: the resumed
/// GET, `return_to`); larger ones get 413.
const MAX_AUTHORIZE_FORM: usize = 8 * 1024;

/// OpenID Connect Core §3.1.2.1: the authorization endpoint takes the same request as a form
/// POST. Any sign-in or consent step on the way resumes it as the equivalent GET (the
/// parameters are the same form encoding either way). Not CSRF-checked, like the GET: an
/// authorization request comes from another site by design.
async fn authorize_post(
    req: HttpRequest,
    org: CurrentOrg,
    state: web::Data<AppState>,
    body: web::Bytes,
    MaybeSession(session): MaybeSession,
) -> HttpResponse {
    let org = org.0;
    let invalid = |message: &str| {
        let mut res = error_page(StatusCode::BAD_REQUEST, "Invalid request", message);
        res.headers_mut()
            .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
        res
    };
    if body.len() > MAX_AUTHORIZE_FORM {
        let mut res = invalid("This authorization request is too large.");
        *res.status_mut() = StatusCode::PAYLOAD_TOO_LARGE;
        return res;
    }
    let query = std::str::from_utf8(&body).ok().filter(|_| is_form(&req));
    let Some(query) = query else {
        return invalid("An authorization request sent with POST must be a form.");
    };
    let Ok(params) = web::Query::<AuthorizeParams>::from_query(query) else {
        return invalid("This authorization request is not valid.");
    };
    // A cross-site POST carries no `SameSite=Lax` cookie: the browser's session is unknown
    // here, not absent. The equivalent GET, a top-level navigation, carries it and decides
    // (`prompt=none` would otherwise always answer `login_required`).
    if crate::http::pages::session_token(&req).is_none() {
        return crate::http::pages::see_other(
            &format!("{}{AUTHORIZE_PATH}?{query}", org_path(&org)),
            [],
        );
    }
    decide(&req, &state, &org, &params, query, session, None).await
}

#[derive(serde::Deserialize)]
struct ConsentForm {
    #[serde(default)]
    csrf: String,
    #[serde(default)]
    return_to: String,
    #[serde(default)]
    decision: String,
}

crate::csrf_forms!(ConsentForm);

/// The consent screen's answer: the authorize request it came from runs again with it.
async fn consent_submit(
    req: HttpRequest,
    org: CurrentOrg,
    state: web::Data<AppState>,
    Checked(form, MaybeSession(session)): Checked<ConsentForm, MaybeSession>,
) -> HttpResponse {
    let org = org.0;
    let prefix = format!("{}{AUTHORIZE_PATH}?", org_path(&org));
    let Some(query) = form.return_to.strip_prefix(&prefix) else {
        return error_page(
            StatusCode::BAD_REQUEST,
            "Invalid request",
            "This consent form is not valid.",
        );
    };
    let Ok(params) = web::Query::<AuthorizeParams>::from_query(query) else {
        return error_page(
            StatusCode::BAD_REQUEST,
            "Invalid request",
            "This consent form is not valid.",
        );
    };
    let answer = session.as_ref().map(|_| form.decision == "allow");
    decide(&req, &state, &org, &params, query, session, answer).await
}

/// How the authorization response reaches the app (`response_mode`, checked by the service).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum ResponseMode {
    Query,
    /// OAuth 2.0 Form Post Response Mode: an auto-submitting form.
    FormPost,
}

impl ResponseMode {
    /// The mode the decision says (the service read it from the request's own parameters,
    /// which for a pushed request are the pushed ones, not the browser's query).
    fn of(form_post: bool) -> Self {
        if form_post {
            Self::FormPost
        } else {
            Self::Query
        }
    }

    /// The authorization response (a code or an error) to the validated `redirect_uri`. A
    /// page cannot post a form to a native app's private-use scheme: its answers (the refusal
    /// of `form_post`, `OidcService` refuses it) go in the query.
    fn answer(
        self,
        org: &Org,
        redirect_uri: &str,
        params: &[(&str, Option<&str>)],
    ) -> HttpResponse {
        match self {
            Self::FormPost if super::service::is_web_uri(redirect_uri) => {
                form_post(org, redirect_uri, params)
            }
            Self::Query | Self::FormPost => redirect_with(redirect_uri, params),
        }
    }
}

/// The script of the form post page.
async fn form_post_script() -> HttpResponse {
    HttpResponse::Ok()
        .content_type("text/javascript; charset=utf-8")
        .insert_header(("Cache-Control", "max-age=3600"))
        .body(include_str!("../../assets/form_post.js"))
}

/// Routes outside any org: the form post page's script.
pub fn configure_assets(cfg: &mut web::ServiceConfig) {
    cfg.route("/assets/form_post.js", web::get().to(form_post_script));
}

/// A request that cannot go back to its app: shown to the user, never cached.
fn refused_page(title: &str, message: &str) -> HttpResponse {
    let mut res = error_page(StatusCode::BAD_REQUEST, title, message);
    res.headers_mut()
        .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    res
}

/// On to /authorize with the new reference of a pushed request just used.
fn continue_pushed(org: &Org, client_id: &str, request_uri: &str) -> HttpResponse {
    let to = format!(
        "{}{AUTHORIZE_PATH}?client_id={}&request_uri={}",
        org_path(org),
        encode(client_id),
        encode(request_uri)
    );
    crate::http::pages::see_other(&to, [])
}

fn respond(
    req: &HttpRequest,
    state: &AppState,
    org: &Org,
    decision: AuthorizeDecision,
    back: &str,
) -> HttpResponse {
    let issuer = state.oidc.issuer(org);
    match decision {
        AuthorizeDecision::ErrorPage { title, message } => refused_page(&title, &message),
        AuthorizeDecision::Failed { outage } => failure_page(outage),
        AuthorizeDecision::RedirectError {
            redirect_uri,
            error,
            description,
            state: st,
            form_post,
        } => ResponseMode::of(form_post).answer(
            org,
            &redirect_uri,
            &[
                ("error", Some(&error)),
                ("error_description", Some(&description)),
                ("state", st.as_deref()),
                ("iss", Some(&issuer)),
            ],
        ),
        AuthorizeDecision::Login { reauth, login_hint } => {
            let query = back.split_once('?').map_or("", |(_, q)| q);
            let back = authorize_return_to(org, query, reauth);
            let mut to = format!("{}/login?return_to={}", org_path(org), encode(&back));
            if reauth {
                to.push_str("&reauth=1");
            }
            if let Some(hint) = login_hint.filter(|h| h.len() <= 254) {
                to.push_str("&login_hint=");
                to.push_str(&encode(&hint));
            }
            crate::http::pages::see_other(&to, [])
        }
        AuthorizeDecision::StepUp => {
            let to = format!("{}/login/step-up?return_to={}", org_path(org), encode(back));
            crate::http::pages::see_other(&to, [])
        }
        AuthorizeDecision::Consent { app_name, scopes } => {
            let (csrf, set) = crate::http::pages::csrf_token(req, state, org);
            let page = ConsentPage {
                org_name: &org.name,
                org_path: org_path(org),
                logo_url: org.branding.logo_url.as_deref(),
                csrf: &csrf,
                return_to: back,
                app_name: &app_name,
                scopes: scopes.iter().map(|s| scope_text(s)).collect(),
            };
            crate::http::pages::render(StatusCode::OK, &page, set)
        }
        AuthorizeDecision::Continue {
            client_id,
            request_uri,
        } => continue_pushed(org, &client_id, &request_uri),
        AuthorizeDecision::IssueCode {
            redirect_uri,
            code,
            state: st,
            form_post,
        } => ResponseMode::of(form_post).answer(
            org,
            &redirect_uri,
            &[
                ("code", Some(&code)),
                ("state", st.as_deref()),
                ("iss", Some(&issuer)),
            ],
        ),
    }
}

/// Whether the request's body is a form (`application/x-www-form-urlencoded`).
fn is_form(req: &HttpRequest) -> bool {
    req.headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| {
            v.to_ascii_lowercase()
                .starts_with("application/x-www-form-urlencoded")
        })
}

/// A form body; `None` when a parameter repeats (RFC 6749 §3.2) or the body is not a form.
pub(super) fn form(req: &HttpRequest, body: &[u8]) -> Option<HashMap<String, String>> {
    if !is_form(req) {
        return None;
    }
    let mut out = HashMap::new();
    for (k, v) in url::form_urlencoded::parse(body) {
        if out.insert(k.into_owned(), v.into_owned()).is_some() {
            return None;
        }
    }
    Some(out)
}

/// RFC 6749 §2.3.1: HTTP Basic with form-urlencoded id and secret.
fn basic_auth(req: &HttpRequest) -> Option<(String, String)> {
    let raw = req.headers().get(header::AUTHORIZATION)?.to_str().ok()?;
    let encoded = raw
        .strip_prefix("Basic ")
        .or_else(|| raw.strip_prefix("basic "))?;
    let decoded = String::from_utf8(STANDARD.decode(encoded.trim()).ok()?).ok()?;
    let (id, secret) = decoded.split_once(':')?;
    let unform = |s: &str| -> Option<String> {
        url::form_urlencoded::parse(format!("v={s}").as_bytes())
            .next()
            .map(|(_, v)| v.into_owned())
    };
    Some((unform(id)?, unform(secret)?))
}

pub(super) fn client_auth(req: &HttpRequest, f: &HashMap<String, String>) -> ClientAuth {
    ClientAuth {
        basic: basic_auth(req),
        client_id: f.get("client_id").cloned(),
        client_secret: f.get("client_secret").cloned(),
        assertion_type: f.get("client_assertion_type").cloned(),
        assertion: f.get("client_assertion").cloned(),
    }
}

pub(super) fn token_error(issuer: &str, e: &OidcError) -> HttpResponse {
    actix_web::ResponseError::error_response(&OAuthError::new(issuer, e.clone()))
}

/// CORS for registered SPA origins only (token and userinfo).
/// Whether the org's SPA apps allow `origin`; a failed lookup allows nothing.
async fn cors_allowed(state: &AppState, org: &Org, origin: &str) -> bool {
    state
        .apps
        .cors_origin_allowed(org.id, origin)
        .await
        .unwrap_or_else(|e| {
            tracing::warn!(error = %e, "cors: origin lookup failed");
            false
        })
}

async fn with_cors(
    req: &HttpRequest,
    state: &AppState,
    org: &Org,
    mut res: HttpResponse,
) -> HttpResponse {
    if let Some(origin) = req
        .headers()
        .get(header::ORIGIN)
        .and_then(|v| v.to_str().ok())
        && cors_allowed(state, org, origin).await
        && let Ok(v) = HeaderValue::from_str(origin)
    {
        let h = res.headers_mut();
        h.insert(header::ACCESS_CONTROL_ALLOW_ORIGIN, v);
        h.insert(header::VARY, HeaderValue::from_static("Origin"));
        // A browser app reads the nonce to hand out and the challenge (RFC 9449 §8, §7.1).
        h.insert(
            header::ACCESS_CONTROL_EXPOSE_HEADERS,
            HeaderValue::from_static("DPoP-Nonce, WWW-Authenticate"),
        );
    }
    res
}

async fn preflight(req: HttpRequest, org: CurrentOrg, state: web::Data<AppState>) -> HttpResponse {
    let mut res = HttpResponse::NoContent().finish();
    let allowed = match req
        .headers()
        .get(header::ORIGIN)
        .and_then(|v| v.to_str().ok())
    {
        Some(origin) => cors_allowed(&state, &org.0, origin).await,
        None => false,
    };
    if allowed {
        res = with_cors(&req, &state, &org.0, res).await;
        let h = res.headers_mut();
        h.insert(
            header::ACCESS_CONTROL_ALLOW_METHODS,
            HeaderValue::from_static("GET, POST"),
        );
        h.insert(
            header::ACCESS_CONTROL_ALLOW_HEADERS,
            HeaderValue::from_static("Authorization, Content-Type, DPoP"),
        );
        h.insert(
            header::ACCESS_CONTROL_MAX_AGE,
            HeaderValue::from_static("600"),
        );
    }
    res
}

async fn token(
    req: HttpRequest,
    org: CurrentOrg,
    state: web::Data<AppState>,
    body: web::Bytes,
) -> HttpResponse {
    let org = org.0;
    let issuer = state.oidc.issuer(&org);
    let res = match form(&req, &body) {
        None => token_error(
            &issuer,
            &OidcError::new(
                OidcErrorCode::InvalidRequest,
                "the body must be a form with each parameter once",
            ),
        ),
        Some(f) => {
            let get = |k: &str| f.get(k).cloned();
            let params = TokenParams {
                grant_type: get("grant_type"),
                code: get("code"),
                redirect_uri: get("redirect_uri"),
                code_verifier: get("code_verifier"),
                refresh_token: get("refresh_token"),
                scope: get("scope"),
                client_id: get("client_id"),
                client_secret: get("client_secret"),
                dpop: dpop_routes::context(&req, &issuer, TOKEN_PATH),
                device_code: get("device_code"),
            };
            match state
                .oidc
                .token(&org, &client_auth(&req, &f), &params)
                .await
            {
                Ok(t) => {
                    let mut res = json_no_store(
                        StatusCode::OK,
                        &serde_json::to_value(&t).unwrap_or_default(),
                    );
                    if let Some(nonce) = &t.dpop_nonce {
                        dpop_routes::with_nonce(&mut res, nonce);
                    }
                    res
                }
                Err(e) => {
                    let mut res = token_error(&issuer, &e);
                    if e.code == OidcErrorCode::UseDpopNonce {
                        dpop_routes::with_nonce(&mut res, &state.oidc.dpop_nonce(&org));
                    }
                    res
                }
            }
        }
    };
    with_cors(&req, &state, &org, res).await
}

/// Requests that store a row for a client that only names itself (a public app: anyone can
/// send its `client_id`), counted per client address (an IPv6 /64) in 10-minute windows:
/// pushed authorization requests and device authorizations.
const PUBLIC_CLIENT_WRITES_PER_IP: crate::limits::Limit = crate::limits::Limit {
    kind: "public-client-writes",
    per_window: 120,
    local_per_window: crate::limits::local_share(120),
    window_secs: 600,
};

/// 429 with `Retry-After` once an address has made too many such requests; `None` for
/// clients that authenticate (a secret or an assertion: failing that, nothing is stored).
pub(super) async fn public_client_throttled(
    req: &HttpRequest,
    state: &AppState,
    org: &Org,
    auth: &ClientAuth,
) -> Option<HttpResponse> {
    if auth.basic.is_some() || auth.client_secret.is_some() || auth.assertion.is_some() {
        return None;
    }
    let ip = crate::limits::limit_subject(&crate::http::pages::client_ip(req, state));
    let limited = state
        .limits
        .hit(org.id, &PUBLIC_CLIENT_WRITES_PER_IP, &ip)
        .await
        .err()?;
    let res = json_no_store(
        StatusCode::TOO_MANY_REQUESTS,
        &serde_json::json!({
            "error": "temporarily_unavailable",
            "error_description": "too many requests from this address; try again later",
        }),
    );
    Some(crate::http::pages::with_retry_after(
        res,
        limited.retry_after,
    ))
}

/// RFC 9126: a pushed authorization request. The app authenticates as at the token endpoint;
/// the rest of the form is the authorization request. Answered 201 with the `request_uri`.
async fn par(
    req: HttpRequest,
    org: CurrentOrg,
    state: web::Data<AppState>,
    body: web::Bytes,
) -> HttpResponse {
    let org = org.0;
    let issuer = state.oidc.issuer(&org);
    let invalid = |why: &str| OidcError::new(OidcErrorCode::InvalidRequest, why);
    let res = if body.len() > MAX_AUTHORIZE_FORM {
        token_error(&issuer, &invalid("the request is larger than 8 KiB"))
    } else {
        let parsed = form(&req, &body).and_then(|f| {
            let text = std::str::from_utf8(&body).ok()?;
            let params = web::Query::<AuthorizeParams>::from_query(text).ok()?;
            Some((f, params.into_inner()))
        });
        match parsed {
            None => token_error(
                &issuer,
                &invalid("the body must be a form with each parameter once"),
            ),
            Some((f, params)) => {
                let auth = client_auth(&req, &f);
                if let Some(res) = public_client_throttled(&req, &state, &org, &auth).await {
                    return with_cors(&req, &state, &org, res).await;
                }
                match state.oidc.push_authorization(&org, &auth, params).await {
                    Ok(answer) => json_no_store(
                        StatusCode::CREATED,
                        &serde_json::to_value(&answer).unwrap_or_default(),
                    ),
                    Err(e) => token_error(&issuer, &e),
                }
            }
        }
    };
    with_cors(&req, &state, &org, res).await
}

/// The token of `Authorization: Bearer …` or `Authorization: DPoP …`, and which it was.
async fn userinfo_answer(
    req: &HttpRequest,
    state: &AppState,
    org: &Org,
    token: Option<(TokenScheme, String)>,
) -> HttpResponse {
    let issuer = state.oidc.issuer(org);
    let res = match token {
        None => dpop_routes::no_token(&issuer),
        Some((scheme, t)) => {
            let dpop = dpop_routes::context(req, &issuer, USERINFO_PATH);
            match state.oidc.userinfo(org, &t, scheme, &dpop).await {
                Ok(claims) => json_no_store(StatusCode::OK, &claims),
                // Our failure (an outage is 503 `temporarily_unavailable`), never
                // `invalid_token`: relying parties sign the user out on that.
                Err(e) if e.is_failure() => token_error(&issuer, &e),
                // RFC 6750 §3.1, RFC 9449 §7.1.
                Err(e) => dpop_routes::resource_refusal(&issuer, &e, scheme, || {
                    state.oidc.dpop_nonce(org)
                }),
            }
        }
    };
    with_cors(req, state, org, res).await
}

async fn userinfo_get(
    req: HttpRequest,
    org: CurrentOrg,
    state: web::Data<AppState>,
) -> HttpResponse {
    let token = dpop_routes::authorization(&req);
    userinfo_answer(&req, &state, &org.0, token).await
}

/// RFC 6750 §2.2 also allows the token in a form body.
async fn userinfo_post(
    req: HttpRequest,
    org: CurrentOrg,
    state: web::Data<AppState>,
    body: web::Bytes,
) -> HttpResponse {
    let token = dpop_routes::authorization(&req).or_else(|| {
        form(&req, &body)
            .and_then(|f| f.get("access_token").cloned())
            .map(|t| (TokenScheme::Bearer, t))
    });
    userinfo_answer(&req, &state, &org.0, token).await
}

/// The form of an introspection or revocation request: the client's credentials and `token`.
fn token_request(req: &HttpRequest, body: &[u8]) -> Result<(ClientAuth, String), OidcError> {
    let invalid = |why| OidcError::new(OidcErrorCode::InvalidRequest, why);
    let f = form(req, body).ok_or_else(|| invalid("the body must be a form"))?;
    let token = f.get("token").ok_or_else(|| invalid("token is missing"))?;
    Ok((client_auth(req, &f), token.clone()))
}

async fn introspect(
    req: HttpRequest,
    org: CurrentOrg,
    state: web::Data<AppState>,
    body: web::Bytes,
) -> Result<HttpResponse, OAuthError> {
    let org = org.0;
    let oauth = |e| OAuthError::new(&state.oidc.issuer(&org), e);
    let (client, token) = token_request(&req, &body).map_err(oauth)?;
    let answer = state
        .oidc
        .introspect(&org, &client, &token)
        .await
        .map_err(oauth)?;
    Ok(json_no_store(StatusCode::OK, &answer))
}

async fn revoke(
    req: HttpRequest,
    org: CurrentOrg,
    state: web::Data<AppState>,
    body: web::Bytes,
) -> Result<HttpResponse, OAuthError> {
    let org = org.0;
    let oauth = |e| OAuthError::new(&state.oidc.issuer(&org), e);
    let (client, token) = token_request(&req, &body).map_err(oauth)?;
    state
        .oidc
        .revoke(&org, &client, &token)
        .await
        .map_err(oauth)?;
    Ok(json_no_store(StatusCode::OK, &serde_json::json!({})))
}
