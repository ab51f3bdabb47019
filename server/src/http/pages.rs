//! Helpers for the hosted HTML pages: rendering, the org-scoped session and CSRF cookies, and
//! the client IP.
//!
//! CSRF defence is a double-submit token: a random value in an `HttpOnly`, `SameSite=Lax`
//! cookie scoped to the org path, echoed in a hidden form field, compared in constant time;
//! plus an `Origin` check when the browser sends one.

use crate::secrets::{constant_time_eq, random_token};
use crate::state::AppState;
use crate::tenancy::Org;
use actix_web::cookie::{Cookie, SameSite, time};
use actix_web::http::StatusCode;
use actix_web::{HttpRequest, HttpResponse, HttpResponseBuilder};
use askama::Template;
use std::net::IpAddr;

pub const SESSION_COOKIE: &str = "pc_session";
/// The half-signed-in cookie: the password was right, a security key step is still to come.
pub const PENDING_COOKIE: &str = "pc_pending";

/// Paths of the hosted pages every feature links to, below `org_path`.
pub const LOGIN_PATH: &str = "/login";
pub const LOGOUT_PATH: &str = "/logout";
pub const ACCOUNT_PATH: &str = "/account";
pub const CSRF_COOKIE: &str = "pc_csrf";

/// `/o/{slug}`: the path every cookie of the org is scoped to.
pub fn org_path(org: &Org) -> String {
    format!("/o/{}", org.slug)
}

fn secure(state: &AppState) -> bool {
    state.config.public_url().starts_with("https://")
}

fn cookie(state: &AppState, org: &Org, name: &'static str, value: String) -> Cookie<'static> {
    Cookie::build(name, value)
        .path(org_path(org))
        .http_only(true)
        .same_site(SameSite::Lax)
        .secure(secure(state))
        .finish()
}

/// The session cookie; remember-me sessions persist until their expiry, others end with the
/// browser session.
pub fn session_cookie(
    state: &AppState,
    org: &Org,
    token: &str,
    max_age_secs: Option<i64>,
) -> Cookie<'static> {
    let mut c = cookie(state, org, SESSION_COOKIE, token.to_owned());
    if let Some(secs) = max_age_secs {
        c.set_max_age(time::Duration::seconds(secs.max(0)));
    }
    c
}

pub fn clear_session_cookie(state: &AppState, org: &Org) -> Cookie<'static> {
    let mut c = cookie(state, org, SESSION_COOKIE, String::new());
    c.make_removal();
    c
}

pub fn session_token(req: &HttpRequest) -> Option<String> {
    req.cookie(SESSION_COOKIE)
        .map(|c| c.value().to_owned())
        .filter(|v| !v.is_empty())
}

/// The CSRF token of this browser, and the cookie to set when it has none yet.
pub fn csrf_token(
    req: &HttpRequest,
    state: &AppState,
    org: &Org,
) -> (String, Option<Cookie<'static>>) {
    if let Some(existing) = req
        .cookie(CSRF_COOKIE)
        .map(|c| c.value().to_owned())
        .filter(|v| v.len() >= 32)
    {
        return (existing, None);
    }
    let token = random_token(32).unwrap_or_default();
    let c = cookie(state, org, CSRF_COOKIE, token.clone());
    (token, Some(c))
}

/// True when the form's token matches the cookie and the request did not come from another
/// origin.
pub fn csrf_ok(req: &HttpRequest, state: &AppState, form_token: &str) -> bool {
    // Under `Referrer-Policy: no-referrer` browsers send `Origin: null` on form posts (Fetch
    // spec, "serializing a request origin"); then the token alone decides.
    if let Some(origin) = req
        .headers()
        .get("origin")
        .and_then(|o| o.to_str().ok())
        .filter(|o| *o != "null")
    {
        let public =
            url::Url::parse(state.config.public_url()).map(|u| u.origin().ascii_serialization());
        let same = public.is_ok_and(|p| p == origin)
            || req.connection_info().host() == origin.split("://").nth(1).unwrap_or_default();
        if !same {
            return false;
        }
    }
    match req.cookie(CSRF_COOKIE) {
        Some(c) if c.value().len() >= 32 => constant_time_eq(c.value(), form_token),
        _ => false,
    }
}

/// The one check of a `return_to` (where the browser goes after a sign-in step): `raw` when it
/// is a path inside this org that stays inside once a browser resolves it, else None. No other
/// site (no open redirect) and no other org: a path whose segments a browser would resolve
/// upwards (`..`, `.`, and their percent-encoded spellings `%2e%2e`, `.%2e`…, which the WHATWG
/// URL parser also treats as dot segments), or that hides separators (`%2f`, `%5c`, `\`, `//`)
/// or double encodings (`%25`) is refused rather than normalised: no page of ours needs one.
/// The query and fragment are not part of the path and may hold anything encoded.
/// `base` is the org's path (`org_path`).
pub fn return_path(base: &str, raw: Option<&str>) -> Option<String> {
    let raw = raw?;
    let rest = raw.strip_prefix(base)?.strip_prefix('/')?;
    if raw.contains("//") || raw.contains('\\') || raw.chars().any(char::is_control) {
        return None;
    }
    let path = rest.split(['?', '#']).next().unwrap_or_default();
    let lower = path.to_ascii_lowercase();
    if ["%2e", "%2f", "%5c", "%25"]
        .iter()
        .any(|e| lower.contains(e))
    {
        return None;
    }
    if path
        .split('/')
        .any(|segment| segment == "." || segment == "..")
    {
        return None;
    }
    Some(raw.to_owned())
}

/// The client's IP: the peer address, or, when the peer is a trusted proxy, the right-most
/// address in `X-Forwarded-For` that is not itself a trusted proxy.
pub fn client_ip(req: &HttpRequest, state: &AppState) -> String {
    client_ip_from(
        req.peer_addr().map(|a| a.ip()),
        req.headers(),
        &state.config.http.trusted_proxies,
    )
}

/// [`client_ip`] from its parts, for callers without an `HttpRequest` (the request log). The
/// header is believed only from a peer in `trusted` (`http.trusted_proxies`): from anyone else
/// it is whatever the client chose to write.
pub fn client_ip_from(
    peer: Option<IpAddr>,
    headers: &actix_web::http::header::HeaderMap,
    trusted: &[IpAddr],
) -> String {
    let Some(peer) = peer else {
        return "unknown".into();
    };
    if !trusted.contains(&peer) {
        return peer.to_string();
    }
    let forwarded = headers
        .get_all("x-forwarded-for")
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .filter_map(|s| s.trim().parse::<IpAddr>().ok())
        .collect::<Vec<_>>();
    forwarded
        .into_iter()
        .rev()
        .find(|ip| !trusted.contains(ip))
        .unwrap_or(peer)
        .to_string()
}

/// Renders a page with `no-store` (these pages carry per-user data and CSRF tokens).
pub fn render(
    status: StatusCode,
    page: &impl Template,
    cookies: impl IntoIterator<Item = Cookie<'static>>,
) -> HttpResponse {
    let mut builder: HttpResponseBuilder = HttpResponse::build(status);
    builder
        .content_type("text/html; charset=utf-8")
        .insert_header(("Cache-Control", "no-store"));
    for c in cookies {
        builder.cookie(c);
    }
    match page.render() {
        Ok(body) => builder.body(body),
        Err(err) => {
            tracing::error!(error = %err, "template rendering failed");
            super::error_page(
                StatusCode::INTERNAL_SERVER_ERROR,
                "Something went wrong",
                "Please try again.",
            )
        }
    }
}

/// 303 See Other to a path of ours.
pub fn see_other(
    location: &str,
    cookies: impl IntoIterator<Item = Cookie<'static>>,
) -> HttpResponse {
    let mut builder = HttpResponse::SeeOther();
    builder
        .insert_header(("Location", location))
        .insert_header(("Cache-Control", "no-store"));
    for c in cookies {
        builder.cookie(c);
    }
    builder.finish()
}

#[derive(Template)]
#[template(path = "message.html")]
pub(crate) struct MessagePage<'a> {
    pub org_name: &'a str,
    pub org_path: String,
    pub logo_url: Option<&'a str>,
    pub title: &'a str,
    pub message: &'a str,
    pub link: Option<(String, &'a str)>,
}

/// A page telling the user something, with an optional link.
pub(crate) fn message(
    org: &Org,
    status: StatusCode,
    title: &str,
    text: &str,
    link: Option<(String, &str)>,
) -> HttpResponse {
    let page = MessagePage {
        org_name: &org.name,
        org_path: org_path(org),
        logo_url: org.branding.logo_url.as_deref(),
        title,
        message: text,
        link,
    };
    render(status, &page, [])
}

pub(crate) fn csrf_refused(org: &Org) -> HttpResponse {
    message(
        org,
        StatusCode::FORBIDDEN,
        "Form expired",
        "This form is no longer valid (it may have been open too long, or come from another site). Go back, reload the page and try again.",
        Some((format!("{}{LOGIN_PATH}", org_path(org)), "Go to sign-in")),
    )
}

/// The failure page of `PageError::Failure`: 503 with `Retry-After` for an outage of the
/// database or the cache, else 500.
pub(crate) fn failure(org: &Org, outage: bool) -> HttpResponse {
    if outage {
        super::retry_later(message(
            org,
            StatusCode::SERVICE_UNAVAILABLE,
            "Temporarily unavailable",
            "The service cannot answer right now. Please try again in a moment.",
            None,
        ))
    } else {
        message(
            org,
            StatusCode::INTERNAL_SERVER_ERROR,
            "Something went wrong",
            "Something went wrong on our side. Please try again later.",
            None,
        )
    }
}

/// Adds `Retry-After` (whole seconds, at least 1) to a refusal.
pub fn with_retry_after(mut res: HttpResponse, retry_after: chrono::Duration) -> HttpResponse {
    if let Ok(v) = actix_web::http::header::HeaderValue::from_str(
        &retry_after.num_seconds().max(1).to_string(),
    ) {
        res.headers_mut()
            .insert(actix_web::http::header::RETRY_AFTER, v);
    }
    res
}

#[cfg(test)]
mod tests {

    use super::*;

    #[test]
    fn return_paths_stay_inside_the_org() {
        let ok = |p: &str| return_path("/o/acme", Some(p)).is_some();
        assert!(ok("/o/acme/account"));
        assert!(ok(
            "/o/acme/authorize?client_id=x&redirect_uri=https%3A%2F%2Fa.example%2Fcb"
        ));
        assert!(ok("/o/acme/email/confirm?token=abc..def"));
        assert!(
            ok("/o/acme/account?next=/../x"),
            "the query is not the path"
        );
        for bad in [
            "/o/acme/../../o/other/account",
            "/o/acme/../other/account",
            "/o/acme/..",
            "/o/acme/./account",
            "/o/acme/%2e%2e/other/account",
            "/o/acme/%2E%2E/%2e%2E/o/other/account",
            "/o/acme/.%2e/other/account",
            "/o/acme/%2e./other/account",
            "/o/acme/..%2f..%2fo/other/account",
            "/o/acme/..%2F..%2Fo/other/account",
            "/o/acme/..%5c..%5co/other",
            "/o/acme/%252e%252e/other",
            "/o/acme/..\\other",
            "/o/acme/.\t./other",
            "/o/acme//evil.example",
            "/o/acmeother/account",
            "/o/other/account",
            "https://evil.example/o/acme/account",
            "//evil.example/o/acme/",
            "/o/acme",
        ] {
            assert!(!ok(bad), "{bad:?} must be refused");
        }
        assert!(return_path("/o/acme", None).is_none());
    }

    #[test]
    fn forwarded_for_counts_only_from_a_trusted_proxy() {
        use actix_web::http::header::{HeaderMap, HeaderName, HeaderValue};
        let mut h = HeaderMap::new();
        h.insert(
            HeaderName::from_static("x-forwarded-for"),
            HeaderValue::from_static("6.6.6.6, 203.0.113.7"),
        );
        let peer: IpAddr = "10.0.0.2".parse().unwrap();
        assert_eq!(client_ip_from(Some(peer), &h, &[]), "10.0.0.2");
        assert_eq!(client_ip_from(Some(peer), &h, &[peer]), "203.0.113.7");
        let second: IpAddr = "203.0.113.7".parse().unwrap();
        assert_eq!(client_ip_from(Some(peer), &h, &[peer, second]), "6.6.6.6");
        assert_eq!(client_ip_from(None, &h, &[]), "unknown");
    }
}

#[derive(askama::Template)]
#[template(path = "form_post.html")]
struct FormPostPage<'a> {
    org_name: &'a str,
    org_path: String,
    logo_url: Option<&'a str>,
    action: &'a str,
    fields: Vec<(&'a str, &'a str)>,
}

/// The page that posts the response to the app (its script is a static asset: the CSP allows
/// no inline script).
pub fn form_post(org: &Org, action: &str, params: &[(&str, Option<&str>)]) -> HttpResponse {
    let page = FormPostPage {
        org_name: &org.name,
        org_path: org_path(org),
        logo_url: org.branding.logo_url.as_deref(),
        action,
        fields: params
            .iter()
            .filter_map(|(k, v)| v.map(|v| (*k, v)))
            .collect(),
    };
    render(StatusCode::OK, &page, [])
}
