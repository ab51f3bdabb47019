//! OIDC rules. Handlers pass what they extracted; this module decides.
//!
//! App sessions: created at code exchange with the app's rules at that moment (idle timeout,
//! lifetime, whether it outlives the IdP session). Refresh and introspection check them and
//! move the idle deadline; an app session that is over is ended with its reason the first time
//! it is seen, and from then on every token hanging off it is dead: refresh tokens (looked up
//! through it) and access tokens (JWTs that carry its id, checked on every use).

use super::client_assertion::{CLIENT_ASSERTION_TYPE, ClientKeys, claimed_client_id};
use super::dpop::{Confirmation, DpopContext, DpopVerifier, TokenScheme};
use super::error::{OidcError, OidcErrorCode as E};
use super::model::{
    AppSession, AppSessionId, AuthorizeDecision, AuthorizeParams, CodeGrant, RefreshRecord,
};
use crate::accounts::UserId;
use crate::apps::{App, AppType, ClientAuthMethod, GrantType};
use crate::clock::SharedClock;
use crate::keys::{KeyError, KeyService};
use crate::secrets::{constant_time_eq, random_token, sha256_hex};
use crate::sessions::{
    ACR_ONE_FACTOR, ACR_PHISHING_RESISTANT, ACR_TWO_FACTORS, Session, SessionService,
};
use crate::store::cache::{Cache, CacheKey};
use crate::store::{Rotation, SingleUseKind, Store};
use crate::tenancy::{Org, OrgId};
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use chrono::{DateTime, Duration, Utc};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use uuid::Uuid;

/// A pushed request's `request_uri` is valid this long before its first use (RFC 9126 §2.2).
pub const PUSHED_REQUEST_TTL_SECS: i64 = 90;
/// A pushed request in use lives this long for the user to sign in and consent.
const STARTED_REQUEST_TTL_SECS: i64 = 600;
/// The prefix of the `request_uri`s Portcullis issues (RFC 9126 §2.2).
pub const REQUEST_URI_PREFIX: &str = "urn:ietf:params:oauth:request_uri:";

/// The single-use key of a pushed request: the app's and the reference, so another app's
/// `client_id` never finds (or uses up) it.
fn pushed_key(client_id: &str, reference: &str) -> String {
    format!("{client_id} {reference}")
}

/// The answer to a pushed authorization request.
#[derive(Debug, Clone, Serialize)]
pub struct PushedAuthorization {
    pub request_uri: String,
    pub expires_in: i64,
}
pub(crate) mod device;

/// Authorization codes live at most this long (the issue's bound; RFC 6749 §4.1.2 says 10 min max).
pub const CODE_TTL_SECS: i64 = 60;
/// Scopes Portcullis knows; others are ignored (RFC 6749 §3.3 lets the server narrow).
const SUPPORTED_SCOPES: [&str; 4] = ["openid", "profile", "email", "offline_access"];
pub const ACCESS_TOKEN_TYP: &str = "at+jwt";

/// How the client authenticated at the token, introspection or revocation endpoint.
#[derive(Debug, Clone, Default)]
pub struct ClientAuth {
    /// From HTTP Basic (client_secret_basic).
    pub basic: Option<(String, String)>,
    /// From the form body (client_secret_post, or `none` for public apps).
    pub client_id: Option<String>,
    pub client_secret: Option<String>,
    /// `client_assertion_type` and `client_assertion` from the form (private_key_jwt).
    pub assertion_type: Option<String>,
    pub assertion: Option<String>,
}

/// Where a client assertion may be addressed, under the issuer: the issuer itself, or one of
/// the endpoints that authenticate clients (RFC 7523 §3, OIDC Core §9).
const ASSERTION_AUDIENCE_PATHS: [&str; 6] = [
    "",
    "/token",
    "/introspect",
    "/revoke",
    "/par",
    "/device_authorization",
];

/// The token endpoint form.
#[derive(Debug, Clone, Default, Deserialize)]
pub struct TokenParams {
    pub grant_type: Option<String>,
    pub code: Option<String>,
    pub redirect_uri: Option<String>,
    pub code_verifier: Option<String>,
    pub refresh_token: Option<String>,
    pub scope: Option<String>,
    pub client_id: Option<String>,
    pub client_secret: Option<String>,
    /// The request's DPoP proof (RFC 9449), if it carries one.
    #[serde(skip)]
    pub dpop: DpopContext,
    /// The device grant's code (RFC 8628 §3.4).
    pub device_code: Option<String>,
}

#[derive(Debug, Clone, Serialize)]
pub struct TokenResponse {
    pub access_token: String,
    /// `DPoP` when the access token is bound to the proof's key, else `Bearer`.
    pub token_type: &'static str,
    /// A fresh DPoP nonce for the client's next proof (`DPoP-Nonce`), for apps that need one.
    #[serde(skip)]
    pub dpop_nonce: Option<String>,
    pub expires_in: i64,
    pub scope: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub refresh_token: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub id_token: Option<String>,
}

/// Claims of our access tokens (RFC 9068).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct AccessClaims {
    pub iss: String,
    pub sub: String,
    pub aud: String,
    pub client_id: String,
    pub exp: i64,
    pub iat: i64,
    pub jti: String,
    pub scope: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sid: Option<String>,
    /// The app session the token belongs to (absent for client credentials).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub app_session: Option<Uuid>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub auth_time: Option<i64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub acr: Option<String>,
    /// The DPoP key the token is bound to (RFC 9449 §6.1): presented only with a proof by it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cnf: Option<Confirmation>,
}

/// `token_type` of an access token bound to `jkt` (or not).
fn token_type(jkt: Option<&str>) -> &'static str {
    if jkt.is_some() { "DPoP" } else { "Bearer" }
}

fn err(code: E, description: &str) -> OidcError {
    OidcError::new(code, description)
}

/// The S256 transform (RFC 7636 §4.2).
fn s256(verifier: &str) -> String {
    URL_SAFE_NO_PAD.encode(Sha256::digest(verifier.as_bytes()))
}

/// RFC 7636 §4.1: 43-128 characters of [A-Z a-z 0-9 - . _ ~]. Also the shape of a challenge.
fn pkce_shaped(value: &str) -> bool {
    (43..=128).contains(&value.len())
        && value
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~'))
}

/// OIDC Core §3.3.2.11: the left half of the hash of the access token, base64url.
fn at_hash(access_token: &str) -> String {
    let digest = Sha256::digest(access_token.as_bytes());
    URL_SAFE_NO_PAD.encode(&digest[..16])
}

/// Requested scopes narrowed to the supported ones, in a stable order.
fn normalise_scope(raw: &str) -> String {
    let asked: Vec<&str> = raw.split(' ').filter(|s| !s.is_empty()).collect();
    SUPPORTED_SCOPES
        .iter()
        .filter(|s| asked.contains(s))
        .copied()
        .collect::<Vec<_>>()
        .join(" ")
}

/// The largest `max_age` kept as asked: a century. No session is that old, so a larger value
/// (up to `i64::MAX` or beyond any integer type) asks for nothing more and is clamped to it.
pub const MAX_AGE_CEILING_SECS: i64 = 100 * 366 * 86400;

/// OIDC Core §3.1.2.1 `max_age`: a non-negative decimal integer of seconds, clamped to
/// [`MAX_AGE_CEILING_SECS`]; absent or empty is no limit; anything else is `Err` (answered
/// `invalid_request`). Never a number that overflows the time arithmetic.
fn parse_max_age(raw: Option<&str>) -> Result<Option<i64>, ()> {
    let raw = match raw {
        None | Some("") => return Ok(None),
        Some(raw) => raw,
    };
    if !raw.bytes().all(|b| b.is_ascii_digit()) {
        return Err(());
    }
    // All digits: only an overflow can fail the parse, and an overflow is over the ceiling.
    let secs = raw.parse::<i64>().unwrap_or(i64::MAX);
    Ok(Some(secs.min(MAX_AGE_CEILING_SECS)))
}

/// The assurance levels Portcullis issues as `acr`, lowest first.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum AcrLevel {
    OneFactor,
    TwoFactors,
    PhishingResistant,
}

impl AcrLevel {
    /// The level of an `acr` value; `None` for values Portcullis does not issue.
    fn of(acr: &str) -> Option<Self> {
        match acr {
            ACR_ONE_FACTOR => Some(Self::OneFactor),
            ACR_TWO_FACTORS => Some(Self::TwoFactors),
            ACR_PHISHING_RESISTANT => Some(Self::PhishingResistant),
            _ => None,
        }
    }
}

/// Whether a use of an app session should move its activity (and idle deadline) in the
/// database: at most once per a tenth of its idle timeout (between 1 and
/// `TOUCH_INTERVAL_SECS` seconds), so an app calling introspection or refreshing often costs no
/// write per request. The stored deadline can lag the true one by that much: a session may end
/// that much early, never late. Without an idle timeout only the activity time is kept, once a
/// minute.
fn app_touch_due(s: &AppSession, app: &App, now: DateTime<Utc>) -> bool {
    use crate::sessions::TOUCH_INTERVAL_SECS;
    let interval = app
        .settings
        .session
        .idle_timeout_secs
        .map_or(TOUCH_INTERVAL_SECS, |idle| {
            (idle / 10).clamp(1, TOUCH_INTERVAL_SECS)
        });
    now - s.last_active_at >= Duration::seconds(interval)
}

fn has_scope(scope: &str, wanted: &str) -> bool {
    scope.split(' ').any(|s| s == wanted)
}

/// Whether the app may keep access while the user is away (OIDC Core §11): refresh tokens and
/// an app session that outlives the IdP session. First-party apps may; a third-party app only
/// when `scope` (a code's or an app session's, which the user consented to in full) holds
/// `offline_access`.
fn offline_allowed(app: &App, scope: &str) -> bool {
    app.settings.first_party || has_scope(scope, "offline_access")
}

/// The end reasons of an app session past its own lifetime or idle timeout.
const ABSOLUTE_EXPIRED: &str = "absolute_expired";
const IDLE_EXPIRED: &str = "idle_expired";

/// App sessions the sweeper ends per pass (the next pass takes the rest).
const APP_SESSION_SWEEP_BATCH: u64 = 500;

/// Why an app session is over at `now`, if it is (apart from its IdP session).
fn app_session_over(s: &AppSession, now: DateTime<Utc>) -> Option<&'static str> {
    if s.ended_at.is_some() {
        return Some("ended");
    }
    if now >= s.absolute_expiry {
        return Some(ABSOLUTE_EXPIRED);
    }
    if s.idle_deadline.is_some_and(|d| now >= d) {
        return Some(IDLE_EXPIRED);
    }
    None
}

#[derive(Debug, Clone)]
pub struct OidcService {
    store: Store,
    apps: crate::apps::AppService,
    clock: SharedClock,
    keys: KeyService,
    sessions: SessionService,
    cache: Cache,
    public_url: String,
    /// The apps' JWK Sets for `private_key_jwt` (fetched ones cached per node).
    client_keys: ClientKeys,
    dpop: DpopVerifier,
    /// Discovery documents by issuer, serialised once (they change only with the issuer).
    discovery:
        std::sync::Arc<std::sync::RwLock<std::collections::HashMap<String, std::sync::Arc<str>>>>,
    /// Tokens issued, by grant and app type (`crate::metrics`).
    metrics: crate::metrics::Metrics,
}

/// At most this many issuers' discovery documents are kept (the map starts over past it).
const MAX_DISCOVERY_DOCUMENTS: usize = 10_000;

/// A copy of a live app session (token checks from memory). Tombstoned by every
/// ending that names the app session (`OidcService::end_app_session`, consent withdrawal);
/// trusted only while its IdP session is live, because an IdP session's end also ends its app
/// sessions (outliving ones too on a revocation) in the same transaction without naming them;
/// and trusted only to say "live": a copy that looks over sends the check to the database.
fn app_session_key(org: OrgId, id: AppSessionId) -> CacheKey {
    CacheKey::org_copy(org, "app-session", &id.0.to_string())
}

/// How long a copy of a user's record may serve /userinfo claims (shorter with an in-process
/// cache); every change fences it at once (`SessionService::user_changed`).
const USER_COPY_SECS: u64 = 60;

/// How long an app session copy may be kept (shorter with an in-process cache, and never past
/// its idle deadline).
const APP_SESSION_COPY_SECS: i64 = 60;

impl OidcService {
    pub fn new(
        store: Store,
        apps: crate::apps::AppService,
        clock: SharedClock,
        keys: KeyService,
        sessions: SessionService,
        cache: Cache,
        public_url: String,
    ) -> Self {
        let clock_for_keys = clock.clone();
        let dpop = DpopVerifier::new(cache.clone(), keys.clone(), clock.clone());
        Self {
            store,
            apps,
            clock,
            keys,
            sessions,
            cache,
            public_url,
            client_keys: ClientKeys::new(None, clock_for_keys),
            dpop,
            discovery: Default::default(),
            metrics: crate::metrics::Metrics::default(),
        }
    }

    /// Counts issued tokens into `metrics`.
    pub fn with_metrics(mut self, metrics: crate::metrics::Metrics) -> Self {
        self.metrics = metrics;
        self
    }

    /// Fetches apps' `jwks_uri` through `outbound` (without it, only inline JWK Sets work).
    pub fn with_outbound(mut self, outbound: crate::outbound::OutboundClient) -> Self {
        self.client_keys = ClientKeys::new(Some(outbound), self.clock.clone());
        self
    }

    /// The org's current DPoP nonce (`DPoP-Nonce`, RFC 9449 §8).
    pub fn dpop_nonce(&self, org: &Org) -> String {
        self.dpop.nonce(org.id)
    }

    /// The org's discovery document as JSON text, made by `build` from the issuer once per
    /// issuer and node.
    pub fn discovery_document(
        &self,
        org: &Org,
        build: impl FnOnce(&str) -> serde_json::Value,
    ) -> std::sync::Arc<str> {
        let issuer = self.issuer(org);
        if let Some(doc) = self
            .discovery
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .get(&issuer)
        {
            return doc.clone();
        }
        let doc: std::sync::Arc<str> = build(&issuer).to_string().into();
        let mut map = self.discovery.write().unwrap_or_else(|p| p.into_inner());
        if map.len() >= MAX_DISCOVERY_DOCUMENTS {
            map.clear();
        }
        map.insert(issuer, doc.clone());
        doc
    }

    /// Stores a copy of a live app session unless it ended since (its tombstone wins).
    async fn keep_app_session(&self, s: &AppSession, now: DateTime<Utc>) {
        let mut left = (s.absolute_expiry - now).num_seconds();
        if let Some(idle) = s.idle_deadline {
            left = left.min((idle - now).num_seconds());
        }
        let secs = left.clamp(1, APP_SESSION_COPY_SECS);
        let ttl = self.cache.copy_ttl(std::time::Duration::from_secs(
            u64::try_from(secs).unwrap_or(1),
        ));
        self.cache
            .set_copy(&app_session_key(s.org_id, s.id), s, ttl)
            .await;
    }

    pub fn issuer(&self, org: &Org) -> String {
        org.issuer(&self.public_url)
    }

    // ---------------------------------------------------------------- /authorize

    /// Decides an authorization request for the browser's session (if any). `consent` is the
    /// user's answer on the consent screen, when this request comes from it.
    #[tracing::instrument(name = "authorize decision", skip_all, fields(org = %org.id.0))]
    pub async fn authorize(
        &self,
        org: &Org,
        p: &AuthorizeParams,
        session: Option<&Session>,
        consent: Option<bool>,
    ) -> AuthorizeDecision {
        self.decide_authorization(org, p, session, consent)
            .await
            .unwrap_or_else(|answer| answer)
    }

    /// The request's checks, then its gates (a signed-in session recent and strong enough, the
    /// user's consent), then the code. Each step either passes or answers the request. A
    /// `request_uri` names a pushed request (RFC 9126), whose parameters are the only ones used.
    async fn decide_authorization(
        &self,
        org: &Org,
        p: &AuthorizeParams,
        session: Option<&Session>,
        consent: Option<bool>,
    ) -> Step<AuthorizeDecision> {
        if p.request_uri.is_some() {
            let (pushed, key) = self.pushed_request(org, p).await?;
            return self
                .decide_checked(org, &pushed, Some(key), session, consent)
                .await;
        }
        self.decide_checked(org, p, None, session, consent).await
    }

    async fn decide_checked(
        &self,
        org: &Org,
        p: &AuthorizeParams,
        pushed: Option<String>,
        session: Option<&Session>,
        consent: Option<bool>,
    ) -> Step<AuthorizeDecision> {
        let (app, redirect_uri) = self.authorize_target(org, p).await?;
        let req = AuthorizeRequest::checked(p, app, redirect_uri, pushed)?;
        let session = req.signed_in(session)?;
        let now = self.clock.now();
        req.recent_enough(session, now)?;
        self.assurance_gate(org, &req, session).await?;
        self.consent_gate(org, &req, session, consent, now).await?;
        Ok(self.issue_code(org, &req, session, now).await)
    }

    // ---------------------------------------------------------------- pushed requests

    /// RFC 9126: the app pushes its authorization request (authenticated like at the token
    /// endpoint) and gets a short-lived `request_uri` for /authorize. The request is checked
    /// now, as /authorize would, and refused here rather than at the browser.
    pub async fn push_authorization(
        &self,
        org: &Org,
        auth: &ClientAuth,
        mut p: AuthorizeParams,
    ) -> Result<PushedAuthorization, OidcError> {
        let app = self.authenticate_client(org, auth).await?;
        let invalid = |why: &str| err(E::InvalidRequest, why);
        if p.request_uri.is_some() {
            return Err(invalid("request_uri cannot be pushed"));
        }
        if p.client_id.as_ref().is_some_and(|c| *c != app.client_id) {
            return Err(invalid("client_id is not the authenticated app"));
        }
        p.client_id = Some(app.client_id.clone());
        let redirect_uri = p
            .redirect_uri
            .clone()
            .ok_or_else(|| invalid("redirect_uri is missing"))?;
        if !app.redirect_uri_registered(&redirect_uri) {
            return Err(invalid("redirect_uri is not registered for this app"));
        }
        AuthorizeRequest::check(&p, app.clone(), &redirect_uri, true).map_err(refused)?;
        let reference = random_token(32).map_err(OidcError::server)?;
        let json = serde_json::to_string(&p).map_err(OidcError::server)?;
        let expires = self.clock.now() + Duration::seconds(PUSHED_REQUEST_TTL_SECS);
        self.store
            .put_single_use(
                org.id,
                SingleUseKind::PushedRequest,
                &pushed_key(&app.client_id, &reference),
                &json,
                expires,
            )
            .await
            .map_err(OidcError::server)?;
        Ok(PushedAuthorization {
            request_uri: format!("{REQUEST_URI_PREFIX}{reference}"),
            expires_in: PUSHED_REQUEST_TTL_SECS,
        })
    }

    /// The pushed request a `request_uri` names, for its app only. Its first use takes it and
    /// continues under a new reference that lives through the sign-in steps (`Continue`); that
    /// one is taken when the code is issued. So each pushed request yields at most one code,
    /// and a used or expired one is refused.
    async fn pushed_request(
        &self,
        org: &Org,
        p: &AuthorizeParams,
    ) -> Step<(AuthorizeParams, String)> {
        let page = |message: &str| AuthorizeDecision::ErrorPage {
            title: "Invalid request".to_owned(),
            message: message.to_owned(),
        };
        let failed = |e: crate::store::StoreError| AuthorizeDecision::Failed {
            outage: OidcError::server(e).code == E::TemporarilyUnavailable,
        };
        let Some(client_id) = p.client_id.as_deref().filter(|c| !c.is_empty()) else {
            return Err(page("The request names no app (client_id is missing)."));
        };
        let Some(reference) = p
            .request_uri
            .as_deref()
            .and_then(|u| u.strip_prefix(REQUEST_URI_PREFIX))
            .filter(|r| !r.is_empty() && r.len() <= 128)
        else {
            return Err(page("The request_uri is not one this server issued."));
        };
        let key = pushed_key(client_id, reference);
        let now = self.clock.now();
        let store = &self.store;
        if let Some(json) = store
            .take_single_use(org.id, SingleUseKind::PushedRequest, &key, now)
            .await
            .map_err(failed)?
        {
            let reference =
                random_token(32).map_err(|_| AuthorizeDecision::Failed { outage: false })?;
            let expires = now + Duration::seconds(STARTED_REQUEST_TTL_SECS);
            let started = pushed_key(client_id, &reference);
            store
                .put_single_use(
                    org.id,
                    SingleUseKind::PushedRequestStarted,
                    &started,
                    &json,
                    expires,
                )
                .await
                .map_err(failed)?;
            return Err(AuthorizeDecision::Continue {
                client_id: client_id.to_owned(),
                request_uri: format!("{REQUEST_URI_PREFIX}{reference}"),
            });
        }
        let stored = store
            .get_single_use(org.id, SingleUseKind::PushedRequestStarted, &key, now)
            .await
            .map_err(failed)?
            .and_then(|json| serde_json::from_str::<AuthorizeParams>(&json).ok());
        match stored {
            Some(params) => Ok((params, key)),
            None => Err(page(
                "This sign-in request has expired or was already used. Go back to the app and start again.",
            )),
        }
    }

    /// The app and the redirect URI the request names. Until both are known good, errors are
    /// pages shown to the user, never redirects (RFC 6749 §4.1.2.1).
    async fn authorize_target<'p>(
        &self,
        org: &Org,
        p: &'p AuthorizeParams,
    ) -> Step<(App, &'p str)> {
        let page = |title: &str, message: &str| AuthorizeDecision::ErrorPage {
            title: title.to_owned(),
            message: message.to_owned(),
        };
        let Some(client_id) = p.client_id.as_deref().filter(|c| !c.is_empty()) else {
            return Err(page(
                "Invalid request",
                "The request names no app (client_id is missing).",
            ));
        };
        let app = match self.apps.client(org.id, client_id).await {
            Ok(Some(record)) => record.app,
            Ok(None) => {
                return Err(page(
                    "Unknown app",
                    "No app with this client_id is registered in this organization.",
                ));
            }
            Err(e) => {
                // Logged as `OidcError::server` sorts it: an outage is a warning.
                let outage = OidcError::server(e).code == E::TemporarilyUnavailable;
                return Err(AuthorizeDecision::Failed { outage });
            }
        };
        let Some(redirect_uri) = p.redirect_uri.as_deref() else {
            return Err(page("Invalid request", "The request has no redirect_uri."));
        };
        if !app.redirect_uri_registered(redirect_uri) {
            return Err(page(
                "Invalid redirect URI",
                "The redirect_uri is not registered for this app. It must match a registered URI exactly.",
            ));
        }
        Ok((app, redirect_uri))
    }

    /// The assurance gate: the level asked for (any one of the listed values will do, OIDC Core
    /// §3.1.2.1; values Portcullis does not issue are ignored) and the app's own rule. The
    /// session's level must reach it; the code never carries a lower acr than was asked.
    async fn assurance_gate(
        &self,
        org: &Org,
        req: &AuthorizeRequest<'_>,
        session: &Session,
    ) -> Step<()> {
        let needed = req.needed_assurance();
        if AcrLevel::of(session.acr()).unwrap_or(AcrLevel::OneFactor) >= needed {
            return Ok(());
        }
        if needed == AcrLevel::PhishingResistant {
            return Err(self.passkey_sign_in(org, req, session).await);
        }
        Err(req.interactive_or(
            AuthorizeDecision::StepUp,
            E::InteractionRequired,
            "a second factor is required",
        ))
    }

    /// A phishing-resistant level the session does not reach. A second factor on this session
    /// makes it 2fa at best: only a new sign-in with a passkey (no password) reaches it.
    async fn passkey_sign_in(
        &self,
        org: &Org,
        req: &AuthorizeRequest<'_>,
        session: &Session,
    ) -> AuthorizeDecision {
        if req.prompted_none() {
            return req.back(
                E::LoginRequired,
                "a phishing-resistant sign-in (a passkey) is required",
            );
        }
        // A user without a passkey cannot reach it: sending them to sign in again would bring
        // them back here without end. The app hears why (OpenID Connect Unmet Authentication
        // Requirements 1.0).
        match self
            .store
            .count_user_credentials(org.id, session.user_id)
            .await
        {
            Ok(0) => req.back(
                E::UnmetAuthenticationRequirements,
                "a phishing-resistant sign-in (a passkey) is required and the user has no passkey",
            ),
            Ok(_) => req.sign_in_again(),
            Err(e) => {
                tracing::warn!(error = %e, "authorize: passkey count failed");
                req.back(E::TemporarilyUnavailable, "try again in a moment")
            }
        }
    }

    /// The consent gate: a third-party app needs the user's consent to every scope it asks
    /// for; `consent` is the user's answer when the request comes from the consent screen.
    async fn consent_gate(
        &self,
        org: &Org,
        req: &AuthorizeRequest<'_>,
        session: &Session,
        consent: Option<bool>,
        now: DateTime<Utc>,
    ) -> Step<()> {
        let app = &req.app;
        if app.settings.first_party {
            return Ok(());
        }
        let internal = |e: crate::store::StoreError| {
            req.back(OidcError::server(e).code, "internal error; try again")
        };
        let granted = self
            .store
            .consent(org.id, session.user_id, app.id)
            .await
            .map_err(internal)?;
        let covered = granted.is_some_and(|g| req.scope.split(' ').all(|s| has_scope(&g, s)));
        match consent {
            Some(true) => self
                .store
                .grant_consent(org.id, session.user_id, app.id, &req.scope, now)
                .await
                .map_err(internal),
            Some(false) => Err(req.back(E::AccessDenied, "the user declined")),
            None if !covered || req.prompted("consent") => Err(req.interactive_or(
                AuthorizeDecision::Consent {
                    app_name: app.name.clone(),
                    scopes: req.scope.split(' ').map(str::to_owned).collect(),
                },
                E::ConsentRequired,
                "the user has not consented",
            )),
            None => Ok(()),
        }
    }

    /// Issues the code: stored with what it stands for, and sent back to the app.
    async fn issue_code(
        &self,
        org: &Org,
        req: &AuthorizeRequest<'_>,
        session: &Session,
        now: DateTime<Utc>,
    ) -> AuthorizeDecision {
        if let Some(key) = &req.pushed {
            match self
                .store
                .take_single_use(org.id, SingleUseKind::PushedRequestStarted, key, now)
                .await
            {
                Ok(Some(_)) => {}
                Ok(None) => return req.back(E::InvalidRequest, "the request_uri was already used"),
                Err(e) => return req.back(OidcError::server(e).code, "try again in a moment"),
            }
        }
        match self.store_code(org, &req.code_grant(session, now)).await {
            Ok(code) => AuthorizeDecision::IssueCode {
                redirect_uri: req.redirect_uri.to_owned(),
                code,
                state: req.params.state.clone(),
                form_post: is_form_post(req.params),
            },
            Err((code, description)) => req.back(code, description),
        }
    }

    /// A new code for `grant`, kept in the database, not the cache: a code must be redeemable
    /// on any node while the cache is away, and used once (`Store::take_single_use`).
    async fn store_code(&self, org: &Org, grant: &CodeGrant) -> Result<String, Refusal> {
        let code = random_token(32).map_err(|e| {
            tracing::error!(error = %e, "authorize: no randomness");
            (E::ServerError, "internal error")
        })?;
        let json = serde_json::to_string(grant).map_err(|e| {
            tracing::error!(error = %e, "authorize: the code grant does not serialise");
            (E::ServerError, "internal error")
        })?;
        self.store
            .put_single_use(
                org.id,
                SingleUseKind::AuthorizationCode,
                &code,
                &json,
                grant.expires_at,
            )
            .await
            .map_err(|e| {
                tracing::warn!(error = %e, "authorize: the code could not be stored");
                (E::TemporarilyUnavailable, "try again in a moment")
            })?;
        Ok(code)
    }

    // ---------------------------------------------------------------- client authentication

    /// RFC 6749 §2.3: confidential apps prove themselves, with their secret (Basic or form) or,
    /// if they registered for it, a signed JWT (`private_key_jwt`); public apps name
    /// themselves. Anything else is `invalid_client` (answered 401 by the edge). An app uses
    /// exactly its registered method: a secret does not stand in for a JWT or the other way.
    pub async fn authenticate_client(
        &self,
        org: &Org,
        auth: &ClientAuth,
    ) -> Result<App, OidcError> {
        if auth.assertion.is_some() || auth.assertion_type.is_some() {
            return self.client_assertion(org, auth).await;
        }
        let invalid = || err(E::InvalidClient, "client authentication failed");
        let (client_id, secret) = match (&auth.basic, &auth.client_id, &auth.client_secret) {
            (Some((id, secret)), form_id, None) => {
                if form_id.as_ref().is_some_and(|f| f != id) {
                    return Err(invalid());
                }
                (id.clone(), Some(secret.clone()))
            }
            (None, Some(id), secret) => (id.clone(), secret.clone()),
            _ => return Err(invalid()),
        };
        let record = self
            .apps
            .client(org.id, &client_id)
            .await
            .map_err(OidcError::server)?
            .ok_or_else(invalid)?;
        let app = record.app;
        if app.settings.client_auth == ClientAuthMethod::PrivateKeyJwt {
            return Err(err(
                E::InvalidClient,
                "this app authenticates with private_key_jwt",
            ));
        }
        if app.app_type.is_confidential() {
            let secret = secret.ok_or_else(invalid)?;
            let stored = record.secret_hash.ok_or_else(invalid)?;
            if !constant_time_eq(&stored, &sha256_hex(&secret)) {
                return Err(invalid());
            }
        } else if secret.is_some() {
            // A public app has no secret; one sent is a misconfiguration, not a proof.
            return Err(invalid());
        }
        Ok(app)
    }

    /// `private_key_jwt` (RFC 7523 §2.2): the assertion alone authenticates (no secret beside
    /// it), for an app registered for it; its `jti` is used once, remembered in the database
    /// until the assertion expires. A database that cannot answer is an outage (503), never a
    /// verdict on the app.
    async fn client_assertion(&self, org: &Org, auth: &ClientAuth) -> Result<App, OidcError> {
        let invalid = |why: &str| err(E::InvalidClient, why);
        if auth.assertion_type.as_deref() != Some(CLIENT_ASSERTION_TYPE) {
            return Err(invalid("client_assertion_type must be jwt-bearer"));
        }
        if auth.basic.is_some() || auth.client_secret.is_some() {
            return Err(invalid("one client authentication method at a time"));
        }
        let assertion = auth.assertion.as_deref().unwrap_or("");
        let client_id = claimed_client_id(assertion)
            .ok_or_else(|| invalid("the client assertion is malformed"))?;
        if auth.client_id.as_ref().is_some_and(|c| *c != client_id) {
            return Err(invalid("client_id does not match the client assertion"));
        }
        let app = self
            .apps
            .client(org.id, &client_id)
            .await
            .map_err(OidcError::server)?
            .ok_or_else(|| invalid("client authentication failed"))?
            .app;
        if app.settings.client_auth != ClientAuthMethod::PrivateKeyJwt {
            return Err(invalid(
                "this app does not authenticate with private_key_jwt",
            ));
        }
        let issuer = self.issuer(org);
        let audiences: Vec<String> = ASSERTION_AUDIENCE_PATHS
            .iter()
            .map(|p| format!("{issuer}{p}"))
            .collect();
        let now = self.clock.now();
        let claims = self
            .client_keys
            .verify(&app, assertion, &audiences, now)
            .await
            .map_err(|e| invalid(&e.to_string()))?;
        // Used once: remembered in the database (durable, shared by every node, and there
        // while the cache is away) until the assertion could no longer be accepted.
        let jti = claims.jti.as_deref().unwrap_or_default();
        let until = DateTime::<Utc>::from_timestamp(claims.exp, 0)
            .unwrap_or(now)
            .max(now)
            + Duration::seconds(60);
        match self
            .store
            .put_single_use(
                org.id,
                SingleUseKind::ClientAssertion,
                &format!("{} {jti}", app.client_id),
                "",
                until,
            )
            .await
        {
            Ok(()) => Ok(app),
            Err(crate::store::StoreError::Conflict) => {
                Err(invalid("the client assertion was already used (jti)"))
            }
            Err(e) => Err(OidcError::server(e)),
        }
    }

    // ---------------------------------------------------------------- /token

    #[tracing::instrument(name = "token request", skip_all, fields(org = %org.id.0))]
    pub async fn token(
        &self,
        org: &Org,
        auth: &ClientAuth,
        p: &TokenParams,
    ) -> Result<TokenResponse, OidcError> {
        let app = self.authenticate_client(org, auth).await?;
        // The key the new tokens are bound to, if the request proves one (RFC 9449 §5).
        let jkt = self.dpop.token_request(org.id, &app, &p.dpop).await?;
        let jkt = jkt.as_deref();
        let mut answer = match p.grant_type.as_deref() {
            Some("authorization_code") => self.code_grant(org, &app, p, jkt).await,
            Some("refresh_token") => self.refresh_grant(org, &app, p, jkt).await,
            Some("client_credentials") => self.client_credentials(org, &app, p, jkt).await,
            Some(crate::apps::DEVICE_CODE_GRANT) => self.device_code_grant(org, &app, p, jkt).await,
            Some(_) => Err(err(E::UnsupportedGrantType, "unsupported grant_type")),
            None => Err(err(E::InvalidRequest, "grant_type is missing")),
        }?;
        if app.settings.dpop.nonce_required {
            answer.dpop_nonce = Some(self.dpop.nonce(org.id));
        }
        let grant = p.grant_type.as_deref().unwrap_or_default();
        self.metrics.token_issued(grant, app.app_type.as_str());
        Ok(answer)
    }

    /// The authorization code grant (RFC 6749 §4.1.3): the code, once, by the app it was issued
    /// to, with its PKCE proof, while its IdP session lives. It starts an app session.
    #[tracing::instrument(name = "code exchange", skip_all)]
    async fn code_grant(
        &self,
        org: &Org,
        app: &App,
        p: &TokenParams,
        jkt: Option<&str>,
    ) -> Result<TokenResponse, OidcError> {
        grant_allowed(app, GrantType::AuthorizationCode).map_err(refused)?;
        let code = bounded_param(p.code.as_deref(), "code")?;
        let code_hash = sha256_hex(code);
        let now = self.clock.now();
        let grant = self.redeem_code(org, app, code, &code_hash, now).await?;
        check_code_binding(&grant, p)?;
        // The IdP session must still be live when its code is redeemed.
        let idp = self
            .sessions
            .live(org.id, grant.session_id)
            .await
            .map_err(OidcError::server)?
            .ok_or_else(|| err(E::InvalidGrant, "the sign-in session has ended"))?;
        let mut app_session = new_app_session(org, app, &grant, now);
        // A public client's refresh tokens are bound to the key (RFC 9449 §5); a confidential
        // client's to its authentication, as without DPoP.
        app_session.dpop_jkt = jkt.filter(|_| app.is_public()).map(str::to_owned);
        let refresh = self
            .start_app_session(app, &app_session, &code_hash)
            .await?;
        tracing::info!(org = %org.id, app = %app.id, app_session = %app_session.id, sid = %idp.id, "app session started");
        self.issue(
            org,
            app,
            &app_session,
            Some(&idp),
            grant.nonce.as_deref(),
            &grant.scope,
            refresh,
            jkt,
        )
        .await
    }

    /// Takes the code (it is used once) and what it stands for, if it was issued to `app` and
    /// has not expired.
    async fn redeem_code(
        &self,
        org: &Org,
        app: &App,
        code: &str,
        code_hash: &str,
        now: DateTime<Utc>,
    ) -> Result<CodeGrant, OidcError> {
        let taken = self
            .store
            .take_single_use(org.id, SingleUseKind::AuthorizationCode, code, now)
            .await
            .map_err(|e| {
                tracing::warn!(error = %e, "token: the database could not take the code");
                err(E::TemporarilyUnavailable, "try again in a moment")
            })?;
        let Some(raw) = taken else {
            self.code_reused(org, app, code_hash).await?;
            return Err(invalid_code());
        };
        let grant: CodeGrant = serde_json::from_str(&raw).map_err(|_| invalid_code())?;
        if grant.client_id != app.client_id || grant.app_id != app.id || now >= grant.expires_at {
            return Err(invalid_code());
        }
        Ok(grant)
    }

    /// A code used before (or never issued). A second use revokes what the first produced
    /// (RFC 6749 §4.1.2, RFC 9700 §4.2.4) — only at the app the code was issued to: another
    /// app presenting it cannot end someone else's session.
    async fn code_reused(&self, org: &Org, app: &App, code_hash: &str) -> Result<(), OidcError> {
        if let Some(first) = self
            .store
            .app_session_by_code(org.id, code_hash)
            .await
            .map_err(OidcError::server)?
            .filter(|first| first.app_id == app.id)
        {
            self.end_app_session(&first, "code_reused", "system")
                .await?;
            tracing::warn!(org = %org.id, app_session = %first.id, "authorization code reused; its app session is ended");
        }
        Ok(())
    }

    /// Stores a new app session with the hash of the code that started it (a second use of the
    /// code finds it) and, when the app may keep access, a first refresh token, returned.
    async fn start_app_session(
        &self,
        app: &App,
        s: &AppSession,
        code_hash: &str,
    ) -> Result<Option<String>, OidcError> {
        let refresh = if app.allows_grant(GrantType::RefreshToken) && offline_allowed(app, &s.scope)
        {
            Some(random_token(32).map_err(OidcError::server)?)
        } else {
            None
        };
        match self
            .store
            .create_app_session(s, code_hash, refresh.as_deref().map(sha256_hex).as_deref())
            .await
        {
            Ok(()) => Ok(refresh),
            Err(crate::store::StoreError::Conflict) => Err(invalid_code()),
            Err(e) => Err(OidcError::server(e)),
        }
    }

    /// An app session for a sign-in answered without a code (a SAML Response, issue 20): the
    /// same rules and row as a code exchange starts (`new_app_session`), without a refresh
    /// token, and never outliving its IdP session. `marker` is unique to this answer and stored
    /// hashed where a code's hash goes.
    /// `None` when the IdP session ended (or expired) before the insert: checked in the
    /// insert's transaction, so no app session starts in an ended IdP session (review L11).
    pub async fn start_browser_app_session(
        &self,
        org: &Org,
        app: &App,
        session: &Session,
        marker: &str,
    ) -> Result<Option<AppSession>, OidcError> {
        let now = self.clock.now();
        let grant = CodeGrant {
            app_id: app.id,
            client_id: app.client_id.clone(),
            redirect_uri: String::new(),
            code_challenge: None,
            session_id: session.id,
            user_id: session.user_id,
            scope: String::new(),
            nonce: None,
            auth_time: session.auth_time,
            acr: session.acr().to_owned(),
            amr: session.amr().into_iter().map(str::to_owned).collect(),
            expires_at: now,
        };
        let mut s = new_app_session(org, app, &grant, now);
        // Nothing of a browser app session lasts without its IdP session (it has no refresh
        // token), and Single Logout asks the SP to end its own: it ends with the IdP session,
        // whatever the app's rules say of outliving.
        s.outlives_idp_session = false;
        let started = self
            .store
            .create_app_session_if_live(&s, &sha256_hex(marker), now)
            .await
            .map_err(OidcError::server)?;
        if !started {
            tracing::info!(org = %org.id, app = %app.id, sid = %session.id, "no app session: the IdP session ended first");
            return Ok(None);
        }
        tracing::info!(org = %org.id, app = %app.id, app_session = %s.id, sid = %session.id, "app session started");
        Ok(Some(s))
    }

    /// The `SessionNotOnOrAfter` of a SAML assertion for a browser app session
    /// (`start_browser_app_session`): the first of its own absolute expiry and its IdP
    /// session's (review L11). Always capped, even for an app session that may outlive its IdP
    /// session: SAML Core §2.7.2 makes it the end of the session with the IdP, and an SP takes
    /// it as a promise of how long the user stays signed in, which is not ours to give past the
    /// IdP session. Idle timeouts are not promised (an earlier end reaches the SP through
    /// Single Logout).
    pub fn browser_session_expiry(s: &AppSession, idp: &Session) -> DateTime<Utc> {
        s.absolute_expiry.min(idp.absolute_expiry)
    }

    /// When the app session ends, as the ID token tells the app (`session_expiry`): its own
    /// absolute expiry, or sooner with its IdP session when it may not outlive it.
    fn session_expiry(s: &AppSession, idp: Option<&Session>) -> DateTime<Utc> {
        match idp {
            Some(idp) if !s.outlives_idp_session => s.absolute_expiry.min(idp.absolute_expiry),
            _ => s.absolute_expiry,
        }
    }

    #[allow(clippy::too_many_arguments)]
    async fn issue(
        &self,
        org: &Org,
        app: &App,
        s: &AppSession,
        idp: Option<&Session>,
        nonce: Option<&str>,
        scope: &str,
        refresh_token: Option<String>,
        jkt: Option<&str>,
    ) -> Result<TokenResponse, OidcError> {
        let now = self.clock.now();
        let issuer = self.issuer(org);
        let access_ttl = app.settings.access_token_ttl_secs;
        let access = AccessClaims {
            iss: issuer.clone(),
            sub: s.user_id.to_string(),
            aud: app.client_id.clone(),
            client_id: app.client_id.clone(),
            exp: now.timestamp() + access_ttl,
            iat: now.timestamp(),
            jti: Uuid::new_v4().to_string(),
            scope: scope.to_owned(),
            sid: Some(s.session_id.to_string()),
            app_session: Some(s.id.0),
            auth_time: Some(s.auth_time.timestamp()),
            acr: Some(s.acr.clone()),
            cnf: jkt.map(|jkt| Confirmation {
                jkt: jkt.to_owned(),
            }),
        };
        let (access_token, _) = self
            .keys
            .sign(org.id, ACCESS_TOKEN_TYP, &access)
            .await
            .map_err(OidcError::server)?;
        let mut id = serde_json::json!({
            "iss": issuer,
            "sub": s.user_id.to_string(),
            "aud": app.client_id,
            "azp": app.client_id,
            "exp": now.timestamp() + app.settings.id_token_ttl_secs,
            "iat": now.timestamp(),
            "auth_time": s.auth_time.timestamp(),
            "sid": s.session_id.to_string(),
            "acr": s.acr,
            "amr": s.amr,
            "at_hash": at_hash(&access_token),
            "session_expiry": Self::session_expiry(s, idp).timestamp(),
        });
        if let Some(nonce) = nonce {
            id["nonce"] = serde_json::Value::String(nonce.to_owned());
        }
        if has_scope(scope, "email") || has_scope(scope, "profile") {
            let claims = self.user_claims(org, s.user_id, scope).await?;
            if let (Some(obj), serde_json::Value::Object(extra)) = (id.as_object_mut(), claims) {
                for (k, v) in extra {
                    if k != "sub" {
                        obj.insert(k, v);
                    }
                }
            }
        }
        let (id_token, _) = self
            .keys
            .sign(org.id, "JWT", &id)
            .await
            .map_err(OidcError::server)?;
        Ok(TokenResponse {
            access_token,
            token_type: token_type(jkt),
            dpop_nonce: None,
            expires_in: access_ttl,
            scope: scope.to_owned(),
            refresh_token,
            id_token: Some(id_token),
        })
    }

    async fn user_claims(
        &self,
        org: &Org,
        user: UserId,
        scope: &str,
    ) -> Result<serde_json::Value, OidcError> {
        let key = crate::sessions::user_copy_key(org.id, user);
        let (copy, seen) = self.cache.get_copy::<crate::accounts::User>(&key).await;
        let copy = copy.filter(|u| u.org_id == org.id && u.id == user);
        let found = match copy {
            Some(u) => Some(u),
            None => {
                let read = self
                    .store
                    .user_by_id(org.id, user)
                    .await
                    .map_err(OidcError::server)?;
                if let Some(u) = &read {
                    let ttl = self
                        .cache
                        .copy_ttl(std::time::Duration::from_secs(USER_COPY_SECS));
                    self.cache.store_copy(&key, seen, u, ttl).await;
                }
                read
            }
        };
        let user = found
            .filter(|u| u.active)
            .ok_or_else(|| err(E::InvalidToken, "the user no longer exists or is disabled"))?;
        let mut out = serde_json::json!({ "sub": user.id.to_string() });
        if has_scope(scope, "email") {
            out["email"] = serde_json::Value::String(user.email.as_str().to_owned());
            // True once the user used a link we sent to the address (or an admin created them
            // with a password and so vouched for it).
            out["email_verified"] = serde_json::Value::Bool(user.email_verified_at.is_some());
        }
        if has_scope(scope, "profile")
            && let Some(name) = &user.name
        {
            out["name"] = serde_json::Value::String(name.clone());
        }
        Ok(out)
    }

    async fn end_app_session(
        &self,
        s: &AppSession,
        reason: &str,
        actor: &str,
    ) -> Result<(), OidcError> {
        let now = self.clock.now();
        // An app session past its own deadlines ended without its app asking: the app is told.
        let ended = if matches!(reason, IDLE_EXPIRED | ABSOLUTE_EXPIRED) {
            self.store
                .expire_app_session(s.org_id, s.id, reason, now)
                .await
        } else {
            self.store
                .end_app_session(s.org_id, s.id, reason, actor, now)
                .await
        }
        .map_err(OidcError::server)?;
        // Whether it ended now or earlier, no copy of it may be trusted any more.
        self.cache.end_copy(&app_session_key(s.org_id, s.id)).await;
        if ended {
            tracing::info!(org = %s.org_id, app_session = %s.id, reason, "app session ended");
        }
        Ok(())
    }

    /// Ends the app sessions past their own idle timeout or lifetime, in every org, each with
    /// its reason, an audit event and (in the same transaction) the back-channel delivery to
    /// its app; returns how many ended. Without it an app session would end only when next
    /// used, and its app would never hear of it.
    pub async fn sweep_app_sessions(&self) -> Result<usize, OidcError> {
        let now = self.clock.now();
        let overdue = self
            .store
            .overdue_app_sessions(now, APP_SESSION_SWEEP_BATCH)
            .await
            .map_err(OidcError::server)?;
        let mut ended = 0;
        for s in overdue {
            if let Some(reason) = app_session_over(&s, now).filter(|r| *r != "ended") {
                self.end_app_session(&s, reason, "system").await?;
                ended += 1;
            }
        }
        Ok(ended)
    }

    /// The user's live app sessions, each with its app's name (the account page: where they
    /// are signed in, per app).
    pub async fn user_app_sessions(
        &self,
        org: &Org,
        user: crate::accounts::UserId,
    ) -> Result<Vec<(AppSession, String)>, OidcError> {
        let sessions = self
            .store
            .live_app_sessions(org.id, None, Some(user), None)
            .await
            .map_err(OidcError::server)?;
        let mut out = Vec::with_capacity(sessions.len());
        for s in sessions {
            let app = self
                .store
                .app_by_id(org.id, s.app_id)
                .await
                .map_err(OidcError::server)?;
            if let Some(app) = app {
                out.push((s, app.name));
            }
        }
        Ok(out)
    }

    /// The user signs out of one app (local logout from the account page): that app session
    /// ends, the app is told, the IdP session and the other apps go on. False when the user
    /// has no such live app session.
    pub async fn sign_out_of_app(
        &self,
        org: &Org,
        user: crate::accounts::UserId,
        id: AppSessionId,
    ) -> Result<bool, OidcError> {
        let ended = self
            .store
            .end_users_app_session(org.id, user, id, self.clock.now())
            .await
            .map_err(OidcError::server)?;
        // Only an end of the user's own app session drops its copy (any other id is left
        // alone: an app session that had ended has no trusted copy left anyway).
        if ended {
            self.cache.end_copy(&app_session_key(org.id, id)).await;
        }
        Ok(ended)
    }

    /// An admin ends one app session (local logout of that app, reason `admin_revoked`, the
    /// admin named as the actor): the app is told, its IdP session and other apps go on. False
    /// when the org has no such live app session.
    pub async fn revoke_app_session(
        &self,
        org: &Org,
        id: AppSessionId,
        actor: &str,
    ) -> Result<bool, OidcError> {
        let ended = self
            .store
            .revoke_app_session(org.id, id, actor, self.clock.now())
            .await
            .map_err(OidcError::server)?;
        if ended {
            self.cache.end_copy(&app_session_key(org.id, id)).await;
        }
        Ok(ended)
    }

    /// Runs `sweep_app_sessions` at the given interval (spawned by `serve`, beside the IdP
    /// session sweeper, on the same worker loop).
    pub async fn run_app_session_sweeper(self, every: std::time::Duration) {
        crate::worker::run_every(every, self, |oidc| async move {
            match oidc.sweep_app_sessions().await {
                Ok(0) => {}
                Ok(n) => {
                    tracing::info!(ended = n, "app session sweeper ended overdue app sessions")
                }
                Err(err) => tracing::warn!(error = %err, "app session sweeper pass failed"),
            }
            oidc
        })
        .await;
    }

    /// The app session if it is live now, under its own rules and, when it may not outlive
    /// it, its IdP session's. An app session found over is ended with the reason. With
    /// `touch`, its idle deadline moves (refresh, introspection).
    async fn live_app_session(
        &self,
        org: &Org,
        app: &App,
        id: AppSessionId,
        touch: bool,
    ) -> Result<Option<(AppSession, Option<Session>)>, OidcError> {
        let now = self.clock.now();
        if let Some(copy) = self
            .cache
            .get_json::<AppSession>(&app_session_key(org.id, id))
            .await
            && copy.org_id == org.id
            && copy.id == id
            && copy.app_id == app.id
            && copy.ended_at.is_none()
            && app_session_over(&copy, now).is_none()
            && let Some(idp) = self
                .sessions
                .live(org.id, copy.session_id)
                .await
                .map_err(OidcError::server)?
        {
            return Ok(self
                .touch_app_session(app, copy, touch, now)
                .await?
                .map(|s| (s, Some(idp))));
        }
        let Some(s) = self
            .store
            .app_session(org.id, id)
            .await
            .map_err(OidcError::server)?
        else {
            return Ok(None);
        };
        if s.app_id != app.id {
            return Ok(None);
        }
        if let Some(reason) = app_session_over(&s, now) {
            if reason != "ended" {
                self.end_app_session(&s, reason, "system").await?;
            }
            return Ok(None);
        }
        let idp = self
            .sessions
            .live(org.id, s.session_id)
            .await
            .map_err(OidcError::server)?;
        if idp.is_none() && !s.outlives_idp_session {
            self.end_app_session(&s, "idp_session_ended", "system")
                .await?;
            return Ok(None);
        }
        let Some(touched) = self.touch_app_session(app, s.clone(), touch, now).await? else {
            return Ok(None);
        };
        if idp.is_some() && touched == s {
            // (A touch stores its own copy.)
            self.keep_app_session(&s, now).await;
        }
        Ok(Some((touched, idp)))
    }

    /// Activity on a live app session, written at most once per `app_touch_due` interval; the
    /// copy follows the write. `None` when the database says it has ended (a copy read before
    /// its end whose tombstone was lost): the copy is tombstoned now.
    async fn touch_app_session(
        &self,
        app: &App,
        mut s: AppSession,
        touch: bool,
        now: DateTime<Utc>,
    ) -> Result<Option<AppSession>, OidcError> {
        if touch && app_touch_due(&s, app, now) {
            let idle = app
                .settings
                .session
                .idle_timeout_secs
                .map(|i| (now + Duration::seconds(i)).min(s.absolute_expiry));
            let live = self
                .store
                .touch_app_session(s.org_id, s.id, now, idle)
                .await
                .map_err(OidcError::server)?;
            if !live {
                self.cache.end_copy(&app_session_key(s.org_id, s.id)).await;
                return Ok(None);
            }
            s.last_active_at = now;
            s.idle_deadline = idle;
            self.keep_app_session(&s, now).await;
        }
        Ok(Some(s))
    }

    /// The refresh token grant (RFC 6749 §6): the token is rotated (a spent one used again is a
    /// replay, RFC 9700 §4.14.2) and new tokens issued for its app session, while that is live
    /// and may still refresh.
    async fn refresh_grant(
        &self,
        org: &Org,
        app: &App,
        p: &TokenParams,
        jkt: Option<&str>,
    ) -> Result<TokenResponse, OidcError> {
        grant_allowed(app, GrantType::RefreshToken).map_err(refused)?;
        let token = bounded_param(p.refresh_token.as_deref(), "refresh_token")?;
        let hash = sha256_hex(token);
        let next = random_token(32).map_err(OidcError::server)?;
        let same_scope = p.scope.as_deref().is_none_or(|s| s.trim().is_empty());
        // A public app's token may be bound to a DPoP key, known only from its app session:
        // the long way checks the key before the token is spent (spending first would let a
        // thief without the key make the holder's next refresh look like a replay).
        if same_scope
            && !app.is_public()
            && let Some(spent) = self
                .store
                .rotate_refresh_token_by_hash(
                    org.id,
                    app.id,
                    &hash,
                    &sha256_hex(&next),
                    self.clock.now(),
                )
                .await
                .map_err(OidcError::server)?
        {
            return self.refresh_rotated(org, app, &spent, &next, jkt).await;
        }
        // Anything else (another scope, or nothing stored: unknown, spent, another app's,
        // ended, a concurrent use) takes the long way, which tells them apart.
        self.refresh_the_long_way(org, app, p, &hash, &next, jkt)
            .await
    }

    /// The token `spent` was spent for `next` and succeeded in one statement. The app session
    /// from its copy, as on the long way; if it is over or may not refresh, the successor is
    /// never handed out.
    async fn refresh_rotated(
        &self,
        org: &Org,
        app: &App,
        spent: &RefreshRecord,
        next: &str,
        jkt: Option<&str>,
    ) -> Result<TokenResponse, OidcError> {
        let live = self
            .refreshable_session(org, app, spent.app_session_id)
            .await;
        let Some((s, idp)) = self.unless_failed(org, next, live).await? else {
            return Err(invalid_refresh());
        };
        // A refresh by someone without the key: refused, and the rotation undone (the
        // holder of the key may still use the token).
        self.unless_failed(org, next, refresh_key_check(&s, jkt))
            .await?;
        self.issue_refreshed(org, app, &s, idp.as_ref(), &spent.scope, next, jkt)
            .await
    }

    /// A refresh that reads the token first: a replay, a narrower scope and a concurrent use
    /// are each answered as they should be.
    async fn refresh_the_long_way(
        &self,
        org: &Org,
        app: &App,
        p: &TokenParams,
        hash: &str,
        next: &str,
        jkt: Option<&str>,
    ) -> Result<TokenResponse, OidcError> {
        let record: RefreshRecord = self
            .store
            .refresh_token(org.id, hash)
            .await
            .map_err(OidcError::server)?
            .ok_or_else(invalid_refresh)?;
        if record.used_at.is_some() {
            return Err(self.refresh_replayed(org, app, &record).await?);
        }
        // The app session from its copy when one is held (as userinfo and introspection do):
        // the rotation below reads the database's word on whether it has ended, in the same
        // statement that spends the token.
        let Some((s, idp)) = self
            .refreshable_session(org, app, record.app_session_id)
            .await?
        else {
            return Err(invalid_refresh());
        };
        refresh_key_check(&s, jkt)?;
        let scope = narrowed_scope(&record.scope, p.scope.as_deref())?;
        self.spend_refresh_token(org, &record, &s, next, &scope)
            .await?;
        self.issue_refreshed(org, app, &s, idp.as_ref(), &scope, next, jkt)
            .await
    }

    /// The app session a refresh token hangs off, if it is live (and touched) and may still
    /// refresh.
    async fn refreshable_session(
        &self,
        org: &Org,
        app: &App,
        id: AppSessionId,
    ) -> Result<Option<(AppSession, Option<Session>)>, OidcError> {
        let live = self.live_app_session(org, app, id, true).await?;
        // Not when issued before offline access needed consent, or while the app was first
        // party.
        Ok(live.filter(|(s, _)| offline_allowed(app, &s.scope)))
    }

    /// Spends `record` for the new token `next`, unless it was spent meanwhile (a concurrent
    /// use: one of them is a replay) or its app session has ended.
    async fn spend_refresh_token(
        &self,
        org: &Org,
        record: &RefreshRecord,
        s: &AppSession,
        next: &str,
        scope: &str,
    ) -> Result<(), OidcError> {
        match self
            .store
            .rotate_refresh_token(org.id, record, &sha256_hex(next), scope, self.clock.now())
            .await
            .map_err(OidcError::server)?
        {
            Rotation::Rotated => Ok(()),
            Rotation::Spent => {
                // Two uses of one token at once: one of them is a replay.
                self.end_app_session(s, "refresh_reused", "system").await?;
                Err(invalid_refresh())
            }
            Rotation::Ended => {
                // Ended in the database, though the copy said live (its tombstone was lost).
                self.cache.end_copy(&app_session_key(org.id, s.id)).await;
                Err(invalid_refresh())
            }
        }
    }

    /// New tokens with the refresh token `next`, which was stored by a rotation: undone if
    /// they cannot be issued.
    #[allow(clippy::too_many_arguments)]
    async fn issue_refreshed(
        &self,
        org: &Org,
        app: &App,
        s: &AppSession,
        idp: Option<&Session>,
        scope: &str,
        next: &str,
        jkt: Option<&str>,
    ) -> Result<TokenResponse, OidcError> {
        let issued = self
            .issue(org, app, s, idp, None, scope, Some(next.to_owned()), jkt)
            .await;
        self.unless_failed(org, next, issued).await
    }

    /// After a rotation: if the request failed before the new refresh token `next` was handed
    /// out (an outage), the rotation is undone, so the client's retry with the old token is a
    /// retry and not a replay that ends its app session. Best effort: if the database fails
    /// again, the old token stays spent.
    async fn unless_failed<T>(
        &self,
        org: &Org,
        next: &str,
        result: Result<T, OidcError>,
    ) -> Result<T, OidcError> {
        if result.is_err()
            && let Err(e) = self
                .store
                .drop_unsent_refresh_token(org.id, &sha256_hex(next))
                .await
        {
            tracing::warn!(error = %e, "a failed refresh could not be undone; its token stays spent");
        }
        result
    }

    /// A rotated refresh token used again: someone holds a stolen copy, and the family dies
    /// (RFC 9700 §4.14.2), unless the token is another app's (refused, not that app's replay)
    /// or its app session has ended or may no longer refresh (refused only). The error to
    /// answer either way.
    async fn refresh_replayed(
        &self,
        org: &Org,
        app: &App,
        record: &RefreshRecord,
    ) -> Result<OidcError, OidcError> {
        let bad = invalid_refresh();
        let Some(owner) = self
            .store
            .app_session(org.id, record.app_session_id)
            .await
            .map_err(OidcError::server)?
        else {
            return Ok(bad);
        };
        if owner.app_id != app.id || !offline_allowed(app, &owner.scope) {
            return Ok(bad);
        }
        if owner.ended_at.is_some() {
            // Read from the database just now: whatever a copy says, it has ended.
            self.cache
                .end_copy(&app_session_key(org.id, owner.id))
                .await;
            return Ok(bad);
        }
        self.end_app_session(&owner, "refresh_reused", "system")
            .await?;
        tracing::warn!(org = %org.id, app_session = %owner.id, "refresh token replayed; its app session is ended");
        Ok(bad)
    }

    async fn client_credentials(
        &self,
        org: &Org,
        app: &App,
        p: &TokenParams,
        jkt: Option<&str>,
    ) -> Result<TokenResponse, OidcError> {
        grant_allowed(app, GrantType::ClientCredentials).map_err(refused)?;
        let now = self.clock.now();
        let ttl = app.settings.access_token_ttl_secs;
        // RFC 6749 §3.3, §4.4.2: the token carries only scopes the app may have; asking for
        // any other is `invalid_scope`, not a silent grant.
        let allowed = app.client_credentials_scopes();
        let asked: Vec<&str> = p
            .scope
            .as_deref()
            .unwrap_or("")
            .split(' ')
            .filter(|s| !s.is_empty())
            .collect();
        if asked.iter().any(|s| !allowed.contains(s)) {
            return Err(err(
                E::InvalidScope,
                "this app may not have the scope asked for",
            ));
        }
        let scope = asked.join(" ");
        let claims = AccessClaims {
            iss: self.issuer(org),
            sub: app.client_id.clone(),
            aud: app.client_id.clone(),
            client_id: app.client_id.clone(),
            exp: now.timestamp() + ttl,
            iat: now.timestamp(),
            jti: Uuid::new_v4().to_string(),
            scope: scope.clone(),
            sid: None,
            app_session: None,
            auth_time: None,
            acr: None,
            cnf: jkt.map(|jkt| Confirmation {
                jkt: jkt.to_owned(),
            }),
        };
        let (access_token, _) = self
            .keys
            .sign(org.id, ACCESS_TOKEN_TYP, &claims)
            .await
            .map_err(OidcError::server)?;
        Ok(TokenResponse {
            access_token,
            token_type: token_type(jkt),
            dpop_nonce: None,
            expires_in: ttl,
            scope,
            refresh_token: None,
            id_token: None,
        })
    }

    // ---------------------------------------------------------------- access tokens

    /// Verifies an access token of this org (signature, type, expiry, issuer) and, for user
    /// tokens, that its app session is live: the admin API's bearer check. A DPoP-bound token
    /// is not a bearer token: refused here (the admin API takes no DPoP proofs).
    pub async fn verify_access_token(
        &self,
        org: &Org,
        token: &str,
    ) -> Result<Option<(AccessClaims, App)>, OidcError> {
        let checked = self.check_access_token(org, token, false, None).await?;
        Ok(checked.filter(|(c, _)| c.cnf.is_none()))
    }

    async fn check_access_token(
        &self,
        org: &Org,
        token: &str,
        touch: bool,
        caller: Option<&App>,
    ) -> Result<Option<(AccessClaims, App)>, OidcError> {
        let claims = match self
            .keys
            .verify::<AccessClaims>(org.id, token, ACCESS_TOKEN_TYP)
            .await
        {
            Ok(claims) => claims,
            Err(KeyError::InvalidToken) => return Ok(None),
            // The org's keys could not be read: not a verdict on the token.
            Err(e) => return Err(OidcError::server(e)),
        };
        if claims.iss != self.issuer(org) {
            return Ok(None);
        }
        // The calling app, just read for its authentication, when the token is its own (an
        // app introspecting its tokens): one read of the app instead of two.
        let known = caller.filter(|c| c.org_id == org.id && c.client_id == claims.client_id);
        let app = match known {
            Some(app) => app.clone(),
            None => match self
                .apps
                .client(org.id, &claims.client_id)
                .await
                .map_err(OidcError::server)?
            {
                Some(c) => c.app,
                None => return Ok(None),
            },
        };
        if let Some(id) = claims.app_session
            && self
                .live_app_session(org, &app, AppSessionId(id), touch)
                .await?
                .is_none()
        {
            return Ok(None);
        }
        Ok(Some((claims, app)))
    }

    /// /userinfo: the claims the token's scope allows. The token is presented with `scheme`; a
    /// DPoP-bound one needs the DPoP scheme and a proof in `dpop` (RFC 9449 §7).
    pub async fn userinfo(
        &self,
        org: &Org,
        token: &str,
        scheme: TokenScheme,
        dpop: &DpopContext,
    ) -> Result<serde_json::Value, OidcError> {
        let invalid = || {
            err(
                E::InvalidToken,
                "the access token is invalid, expired or revoked",
            )
        };
        let (claims, app) = self
            .check_access_token(org, token, false, None)
            .await?
            .ok_or_else(invalid)?;
        if claims.app_session.is_none() || !has_scope(&claims.scope, "openid") {
            return Err(invalid());
        }
        self.dpop
            .resource_request(org.id, &app, claims.cnf.as_ref(), token, scheme, dpop)
            .await?;
        let user = claims.sub.parse::<Uuid>().map_err(|_| invalid())?;
        self.user_claims(org, UserId(user), &claims.scope)
            .await
            .map_err(|e| if e.is_failure() { e } else { invalid() })
    }

    /// /introspect (RFC 7662): only the calling app's own tokens can be active.
    pub async fn introspect(
        &self,
        org: &Org,
        auth: &ClientAuth,
        token: &str,
    ) -> Result<serde_json::Value, OidcError> {
        let caller = self.authenticate_client(org, auth).await?;
        if !caller.app_type.is_confidential() {
            return Err(err(
                E::InvalidClient,
                "introspection needs a confidential app",
            ));
        }
        let inactive = serde_json::json!({ "active": false });
        if let Some((c, app)) = self
            .check_access_token(org, token, true, Some(&caller))
            .await?
        {
            if app.id != caller.id {
                return Ok(inactive);
            }
            let mut answer = serde_json::json!({
                "active": true, "token_type": token_type(c.cnf.as_ref().map(|c| c.jkt.as_str())),
                "scope": c.scope, "client_id": c.client_id,
                "sub": c.sub, "aud": c.aud, "iss": c.iss, "exp": c.exp, "iat": c.iat, "jti": c.jti,
                "sid": c.sid,
            });
            // RFC 9449 §6.2: the resource server checks the proof against it.
            if let Some(cnf) = c.cnf {
                answer["cnf"] = serde_json::json!({ "jkt": cnf.jkt });
            }
            return Ok(answer);
        }
        let Some(record) = self
            .store
            .refresh_token(org.id, &sha256_hex(token))
            .await
            .map_err(OidcError::server)?
        else {
            return Ok(inactive);
        };
        if record.used_at.is_some() {
            return Ok(inactive);
        }
        match self
            .live_app_session(org, &caller, record.app_session_id, true)
            .await?
        {
            Some((s, _)) => {
                let mut answer = serde_json::json!({
                    "active": true, "token_type": "refresh_token", "scope": record.scope,
                    "client_id": caller.client_id, "sub": s.user_id.to_string(), "iss": self.issuer(org),
                    "exp": s.absolute_expiry.timestamp(), "sid": s.session_id.to_string(),
                });
                if let Some(jkt) = s.dpop_jkt {
                    answer["cnf"] = serde_json::json!({ "jkt": jkt });
                }
                Ok(answer)
            }
            None => Ok(inactive),
        }
    }

    /// /revoke (RFC 7009): ends the app session the token belongs to, if it belongs to the
    /// calling app: local logout. Unknown tokens are not an error.
    pub async fn revoke(&self, org: &Org, auth: &ClientAuth, token: &str) -> Result<(), OidcError> {
        let caller = self.authenticate_client(org, auth).await?;
        let target = if let Some(record) = self
            .store
            .refresh_token(org.id, &sha256_hex(token))
            .await
            .map_err(OidcError::server)?
        {
            Some(record.app_session_id)
        } else {
            match self
                .keys
                .verify::<AccessClaims>(org.id, token, ACCESS_TOKEN_TYP)
                .await
            {
                // An access token is self-contained; what makes it valid is its app session, so
                // revoking it ends that (the same local logout).
                Ok(c) => c
                    .app_session
                    .filter(|_| c.client_id == caller.client_id)
                    .map(AppSessionId),
                Err(KeyError::InvalidToken) => None,
                // Not "revoked": the keys could not be read.
                Err(e) => return Err(OidcError::server(e)),
            }
        };
        if let Some(id) = target
            && let Some(s) = self
                .store
                .app_session(org.id, id)
                .await
                .map_err(OidcError::server)?
            && s.app_id == caller.id
        {
            self.end_app_session(&s, "revoked", &format!("app:{}", caller.client_id))
                .await?;
        }
        Ok(())
    }

    /// The user's consents to third-party apps (the account page).
    pub async fn consents(
        &self,
        org: &Org,
        user: UserId,
    ) -> Result<Vec<crate::store::ConsentRow>, OidcError> {
        self.store
            .user_consents(org.id, user)
            .await
            .map_err(OidcError::server)
    }

    /// Withdraws a consent and ends the user's app sessions of that app (their tokens were
    /// issued under it).
    pub async fn revoke_consent(
        &self,
        org: &Org,
        user: UserId,
        app: crate::apps::AppId,
    ) -> Result<bool, OidcError> {
        let now = self.clock.now();
        let revoked = self
            .store
            .revoke_consent(org.id, user, app, now)
            .await
            .map_err(OidcError::server)?;
        if revoked {
            let ended = self
                .store
                .end_user_app_sessions(org.id, user, app, "consent_revoked", now)
                .await
                .map_err(OidcError::server)?;
            for id in ended {
                self.cache.end_copy(&app_session_key(org.id, id)).await;
            }
        }
        Ok(revoked)
    }
}

/// A step of /authorize: `Err` is the answer when the request stops there (an error page, an
/// error sent back to the app, a sign-in, a step-up or the consent screen).
type Step<T> = Result<T, AuthorizeDecision>;

/// An error for the app: its code and description.
type Refusal = (E, &'static str);

/// An authorization request whose app and redirect URI are known good and whose parameters
/// passed their checks. From here on errors go back to the app.
struct AuthorizeRequest<'p> {
    params: &'p AuthorizeParams,
    app: App,
    redirect_uri: &'p str,
    /// The scope asked for, narrowed to the supported ones (`openid` among them).
    scope: String,
    prompts: Vec<&'p str>,
    max_age: Option<i64>,
    /// The key of the pushed request this came from (taken when the code is issued).
    pushed: Option<String>,
}

impl<'p> AuthorizeRequest<'p> {
    /// The request check, with its refusals sent back to the app.
    fn checked(
        p: &'p AuthorizeParams,
        app: App,
        redirect_uri: &'p str,
        pushed: Option<String>,
    ) -> Step<Self> {
        let from_push = pushed.is_some();
        let mut req = Self::check(p, app, redirect_uri, from_push)
            .map_err(|(code, description)| redirect_error(p, redirect_uri, code, description))?;
        req.pushed = pushed;
        Ok(req)
    }

    /// The request check: what the request asks for is something Portcullis does, for this
    /// app, the way the app must ask (`pushed`: the request was pushed first).
    fn check(
        p: &'p AuthorizeParams,
        app: App,
        redirect_uri: &'p str,
        pushed: bool,
    ) -> Result<Self, Refusal> {
        check_response_shape(p)?;
        if is_form_post(p) && !is_web_uri(redirect_uri) {
            return Err((
                E::InvalidRequest,
                "response_mode=form_post needs an http(s) redirect URI",
            ));
        }
        if app.settings.require_par && !pushed {
            return Err((
                E::InvalidRequest,
                "this app must push its authorization requests first (PAR)",
            ));
        }
        grant_allowed(&app, GrantType::AuthorizationCode)?;
        let scope = normalise_scope(p.scope.as_deref().unwrap_or(""));
        if !has_scope(&scope, "openid") {
            return Err((E::InvalidScope, "the openid scope is required"));
        }
        check_pkce_challenge(p, &app)?;
        let prompts = parse_prompts(p.prompt.as_deref())?;
        let max_age = parse_max_age(p.max_age.as_deref())
            .map_err(|()| (E::InvalidRequest, "max_age must be a non-negative integer"))?;
        Ok(Self {
            params: p,
            app,
            redirect_uri,
            scope,
            prompts,
            max_age,
            pushed: None,
        })
    }

    /// An error sent back to the app.
    fn back(&self, code: E, description: &str) -> AuthorizeDecision {
        redirect_error(self.params, self.redirect_uri, code, description)
    }

    fn prompted(&self, value: &str) -> bool {
        self.prompts.contains(&value)
    }

    /// `prompt=none`: the app wants an answer without any interaction with the user.
    fn prompted_none(&self) -> bool {
        self.prompted("none")
    }

    /// `interaction` (a page for the user), or the error `code` back to the app when it asked
    /// for no interaction.
    fn interactive_or(
        &self,
        interaction: AuthorizeDecision,
        code: E,
        description: &str,
    ) -> AuthorizeDecision {
        if self.prompted_none() {
            self.back(code, description)
        } else {
            interaction
        }
    }

    fn sign_in(&self) -> AuthorizeDecision {
        AuthorizeDecision::Login {
            reauth: false,
            login_hint: self.params.login_hint.clone(),
        }
    }

    /// Sign in again, though a session exists.
    fn sign_in_again(&self) -> AuthorizeDecision {
        AuthorizeDecision::Login {
            reauth: true,
            login_hint: self.params.login_hint.clone(),
        }
    }

    /// The session gate: the browser's session, or a sign-in.
    fn signed_in<'s>(&self, session: Option<&'s Session>) -> Step<&'s Session> {
        session.ok_or_else(|| {
            self.interactive_or(
                self.sign_in(),
                E::LoginRequired,
                "the user is not signed in",
            )
        })
    }

    /// The session's sign-in is recent enough: not older than `max_age` or the app's rule,
    /// and no `prompt=login`.
    fn recent_enough(&self, session: &Session, now: DateTime<Utc>) -> Step<()> {
        let limit = match (self.max_age, self.app.settings.session.reauth_max_age_secs) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        };
        // `try_seconds`: a limit too large for a duration (an app setting stored before it was
        // bounded) is no limit, never a panic.
        let too_old = limit
            .and_then(Duration::try_seconds)
            .is_some_and(|l| now - session.auth_time > l);
        if self.prompted("login") || too_old {
            return Err(self.interactive_or(
                self.sign_in_again(),
                E::LoginRequired,
                "a fresh sign-in is required",
            ));
        }
        Ok(())
    }

    /// The level the session must reach: the lowest of the `acr_values` Portcullis issues,
    /// raised to the app's rule.
    fn needed_assurance(&self) -> AcrLevel {
        let asked = self
            .params
            .acr_values
            .as_deref()
            .unwrap_or("")
            .split(' ')
            .filter_map(AcrLevel::of)
            .min();
        let rule = if self.app.settings.session.mfa_required {
            AcrLevel::TwoFactors
        } else {
            AcrLevel::OneFactor
        };
        asked.map_or(rule, |a| a.max(rule))
    }

    /// What the code will stand for.
    fn code_grant(&self, session: &Session, now: DateTime<Utc>) -> CodeGrant {
        CodeGrant {
            app_id: self.app.id,
            client_id: self.app.client_id.clone(),
            redirect_uri: self.redirect_uri.to_owned(),
            code_challenge: self.params.code_challenge.clone(),
            session_id: session.id,
            user_id: session.user_id,
            scope: self.scope.clone(),
            nonce: self.params.nonce.clone(),
            auth_time: session.auth_time,
            acr: session.acr().to_owned(),
            amr: session.amr().into_iter().map(str::to_owned).collect(),
            expires_at: now + Duration::seconds(CODE_TTL_SECS),
        }
    }
}

/// Whether a page can post a form to `uri` (not a native app's private-use scheme).
pub(crate) fn is_web_uri(uri: &str) -> bool {
    uri.starts_with("https://") || uri.starts_with("http://")
}

/// Whether the response goes back as a form post (the request's own `response_mode`: for a
/// pushed request, the pushed one, never the browser's query).
fn is_form_post(p: &AuthorizeParams) -> bool {
    p.response_mode.as_deref() == Some("form_post")
}

/// An error sent back to the (validated) redirect URI, with the request's `state`.
fn redirect_error(
    p: &AuthorizeParams,
    redirect_uri: &str,
    code: E,
    description: &str,
) -> AuthorizeDecision {
    AuthorizeDecision::RedirectError {
        redirect_uri: redirect_uri.to_owned(),
        error: code.as_str().to_owned(),
        description: description.to_owned(),
        state: p.state.clone(),
        form_post: is_form_post(p),
    }
}

/// The request is a plain code request in the query: no request objects, no other response
/// type or mode.
fn check_response_shape(p: &AuthorizeParams) -> Result<(), Refusal> {
    if p.request.is_some() {
        return Err((E::RequestNotSupported, "request objects are not supported"));
    }
    if p.request_uri.is_some() {
        return Err((E::RequestUriNotSupported, "request_uri is not supported"));
    }
    if p.response_type.as_deref() != Some("code") {
        return Err((
            E::UnsupportedResponseType,
            "only response_type=code is supported",
        ));
    }
    if p.response_mode
        .as_deref()
        .is_some_and(|m| m != "query" && m != "form_post")
    {
        return Err((
            E::InvalidRequest,
            "response_mode must be query or form_post",
        ));
    }
    Ok(())
}

/// The app may use `grant`; otherwise the refusal (`unauthorized_client`).
fn grant_allowed(app: &App, grant: GrantType) -> Result<(), Refusal> {
    let refusal = match grant {
        GrantType::AuthorizationCode => "this app may not use the authorization code grant",
        GrantType::RefreshToken => "this app may not use refresh tokens",
        GrantType::ClientCredentials => "only service apps may use client credentials",
        GrantType::DeviceCode => "this app may not use the device authorization grant",
    };
    let service_only = grant == GrantType::ClientCredentials && app.app_type != AppType::Service;
    if service_only || !app.allows_grant(grant) {
        return Err((E::UnauthorizedClient, refusal));
    }
    Ok(())
}

/// PKCE at /authorize (RFC 7636, RFC 9700 §2.1.1): S256 only; required for public apps.
fn check_pkce_challenge(p: &AuthorizeParams, app: &App) -> Result<(), Refusal> {
    let problem = match (
        p.code_challenge.as_deref(),
        p.code_challenge_method.as_deref(),
    ) {
        (Some(c), Some("S256")) if pkce_shaped(c) => return Ok(()),
        (Some(_), Some("S256")) => "malformed code_challenge",
        (Some(_), _) => "code_challenge_method must be S256 (plain is not allowed)",
        (None, Some(_)) => "code_challenge_method without code_challenge",
        (None, None) if app.is_public() => {
            "PKCE (code_challenge with S256) is required for this app"
        }
        (None, None) => return Ok(()),
    };
    Err((E::InvalidRequest, problem))
}

/// The `prompt` values (OIDC Core §3.1.2.1): known ones only, and `none` alone.
fn parse_prompts(raw: Option<&str>) -> Result<Vec<&str>, Refusal> {
    let prompts: Vec<&str> = raw
        .unwrap_or("")
        .split(' ')
        .filter(|s| !s.is_empty())
        .collect();
    if prompts
        .iter()
        .any(|x| !["none", "login", "consent", "select_account"].contains(x))
    {
        return Err((E::InvalidRequest, "unknown prompt value"));
    }
    if prompts.contains(&"none") && prompts.len() > 1 {
        return Err((
            E::InvalidRequest,
            "prompt=none cannot be combined with other values",
        ));
    }
    Ok(prompts)
}

/// A refusal as the token endpoint answers it.
fn refused((code, description): Refusal) -> OidcError {
    err(code, description)
}

/// A token parameter (`code`, `refresh_token`): present, and no longer than any we issue.
fn bounded_param<'a>(value: Option<&'a str>, name: &str) -> Result<&'a str, OidcError> {
    value
        .filter(|v| !v.is_empty() && v.len() <= 128)
        .ok_or_else(|| err(E::InvalidRequest, &format!("{name} is missing")))
}

/// The one answer to a code that cannot be used, whatever the reason.
fn invalid_code() -> OidcError {
    err(
        E::InvalidGrant,
        "the code is invalid, expired or already used",
    )
}

/// The token request matches the code's authorization request: the same redirect URI, and
/// the verifier of its PKCE challenge (RFC 7636 §4.6).
fn check_code_binding(grant: &CodeGrant, p: &TokenParams) -> Result<(), OidcError> {
    if p.redirect_uri.as_deref() != Some(grant.redirect_uri.as_str()) {
        return Err(err(
            E::InvalidGrant,
            "redirect_uri does not match the authorization request",
        ));
    }
    match (&grant.code_challenge, p.code_verifier.as_deref()) {
        (Some(challenge), Some(verifier)) if pkce_shaped(verifier) => {
            if !constant_time_eq(challenge, &s256(verifier)) {
                return Err(err(
                    E::InvalidGrant,
                    "code_verifier does not match the code_challenge",
                ));
            }
        }
        (Some(_), _) => return Err(err(E::InvalidGrant, "a valid code_verifier is required")),
        // A verifier without a challenge is a downgrade attempt (RFC 9700 §2.1.1).
        (None, Some(_)) => {
            return Err(err(
                E::InvalidGrant,
                "no code_challenge was sent for this code",
            ));
        }
        (None, None) => {}
    }
    Ok(())
}

/// The app session a redeemed code starts, under the app's rules at this moment.
fn new_app_session(org: &Org, app: &App, grant: &CodeGrant, now: DateTime<Utc>) -> AppSession {
    let rules = app.settings.session;
    let offline = offline_allowed(app, &grant.scope);
    let absolute_expiry = now + Duration::seconds(rules.lifetime_secs);
    AppSession {
        id: AppSessionId(Uuid::now_v7()),
        org_id: org.id,
        app_id: app.id,
        session_id: grant.session_id,
        user_id: grant.user_id,
        scope: grant.scope.clone(),
        auth_time: grant.auth_time,
        acr: grant.acr.clone(),
        amr: grant.amr.clone(),
        outlives_idp_session: rules.outlives_idp_session && offline,
        created_at: now,
        last_active_at: now,
        idle_deadline: rules
            .idle_timeout_secs
            .map(|i| (now + Duration::seconds(i)).min(absolute_expiry)),
        absolute_expiry,
        ended_at: None,
        end_reason: None,
        dpop_jkt: None,
    }
}

/// A refresh of an app session bound to a DPoP key (a public client's, RFC 9449 §5) needs a
/// proof made with that key.
fn refresh_key_check(s: &AppSession, jkt: Option<&str>) -> Result<(), OidcError> {
    match (s.dpop_jkt.as_deref(), jkt) {
        (None, _) => Ok(()),
        (Some(bound), Some(jkt)) if bound == jkt => Ok(()),
        (Some(_), None) => Err(err(
            E::InvalidDpopProof,
            "this refresh token is DPoP-bound: send a DPoP proof made with its key",
        )),
        (Some(_), Some(_)) => Err(err(
            E::InvalidGrant,
            "the refresh token is bound to another DPoP key",
        )),
    }
}

/// The scope of a refreshed token: the refresh token's, or a narrower one asked for (RFC 6749
/// §6), never a wider.
fn narrowed_scope(granted: &str, asked: Option<&str>) -> Result<String, OidcError> {
    match asked.filter(|s| !s.trim().is_empty()) {
        None => Ok(granted.to_owned()),
        Some(asked) => {
            let asked = normalise_scope(asked);
            if asked.split(' ').any(|x| !has_scope(granted, x)) {
                return Err(err(E::InvalidScope, "a refresh cannot widen the scope"));
            }
            Ok(asked)
        }
    }
}

/// The one answer to a refresh token that cannot be used, whatever the reason (unknown, spent,
/// another app's, its session ended): nothing to tell an attacker apart.
fn invalid_refresh() -> OidcError {
    err(
        E::InvalidGrant,
        "the refresh token is invalid, expired or revoked",
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pkce_s256_matches_rfc_7636_appendix_b() {
        assert_eq!(
            s256("dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk"),
            "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM"
        );
        assert!(pkce_shaped("dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk"));
        assert!(!pkce_shaped("short"));
        assert!(!pkce_shaped(&"a".repeat(129)));
        assert!(!pkce_shaped(&format!("{}+", "a".repeat(43))));
    }

    #[test]
    fn max_age_is_bounded() {
        assert_eq!(parse_max_age(None), Ok(None));
        assert_eq!(parse_max_age(Some("")), Ok(None));
        assert_eq!(parse_max_age(Some("0")), Ok(Some(0)));
        assert_eq!(parse_max_age(Some("900")), Ok(Some(900)));
        for huge in [
            "9223372036854775807",
            "9223372036854775808",
            &"9".repeat(400),
        ] {
            assert_eq!(parse_max_age(Some(huge)), Ok(Some(MAX_AGE_CEILING_SECS)));
        }
        for bad in ["-1", "+5", " 5", "1e3", "5s", "-9223372036854775808"] {
            assert_eq!(parse_max_age(Some(bad)), Err(()), "{bad}");
        }
        assert!(Duration::try_seconds(MAX_AGE_CEILING_SECS).is_some());
    }

    #[test]
    fn acr_levels_are_ordered() {
        let of = |a| AcrLevel::of(a).unwrap();
        assert!(of(ACR_ONE_FACTOR) < of(ACR_TWO_FACTORS));
        assert!(of(ACR_TWO_FACTORS) < of(ACR_PHISHING_RESISTANT));
        assert_eq!(AcrLevel::of("urn:example:loa:3"), None);
    }

    #[test]
    fn scopes_are_narrowed_to_known_ones() {
        assert_eq!(normalise_scope("email openid foo"), "openid email");
        assert_eq!(normalise_scope(""), "");
    }
}
