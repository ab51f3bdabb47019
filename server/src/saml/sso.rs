//! Web Browser SSO (SAML Profiles §4.1, issue 20 item 3). SP-initiated: an AuthnRequest
//! received over HTTP-Redirect or HTTP-POST is checked (its SP a SAML app of this org, its
//! signature when present or required, `Destination`, `IssueInstant`, its ID used once, the
//! ACS registered, `RelayState` ≤ 80 bytes) and kept as a pending request while the user signs
//! in on the hosted pages under the app's session rules (`ForceAuthn` as `prompt=login`,
//! `IsPassive` as `prompt=none`). Then the request is used up, an app session starts as an
//! OIDC code exchange starts one, and a signed Response goes to the ACS URL over HTTP-POST.
//!
//! IdP-initiated (§4.1.5): a signed-in user starts an app registered for it from the account
//! page; the same pending request, without a request ID, goes through the same gates and the
//! same answer, an unsolicited Response (no `InResponseTo`) to the app's default ACS.
//!
//! Until the ACS URL is known good every refusal is a page for the user, never a message to
//! an unchecked URL.

use super::binding::{self, MessageKind, RedirectQuery};
use super::build::{AssertionParams, AttributeValues, ResponseParams, new_id};
use super::dsig::SigningKey;
use super::error::SamlError;
use super::messages::{AuthnRequest, Message, read_signed};
use super::response::{Signing, signed_response};
use super::{SSO_PATH, STATUS_RESPONDER, STATUS_SUCCESS};
use crate::accounts::{AccountService, User};
use crate::apps::{App, AppId, AppService, SamlAttribute, SamlBinding, SamlSettings};
use crate::oidc::OidcService;
use crate::saml::SamlService;
use crate::saml::service::{remember_request_id, sp_certificate};
use crate::sessions::{ACR_ONE_FACTOR, Session};
use crate::store::{SingleUseKind, Store, StoreError};
use crate::tenancy::Org;
use chrono::{DateTime, Duration, Utc};
use serde::{Deserialize, Serialize};

/// How old an AuthnRequest may be when it arrives (and how long its ID is remembered).
const REQUEST_MAX_AGE_SECS: i64 = 5 * 60;
/// How far ahead of our clock an SP's `IssueInstant` may be.
const CLOCK_SKEW_SECS: i64 = 60;
/// How long a checked request waits for the user to sign in.
const PENDING_SECS: i64 = 30 * 60;
/// How long an assertion may be used (`NotOnOrAfter`).
const ASSERTION_SECS: i64 = 5 * 60;

pub const NO_PASSIVE: &str = "urn:oasis:names:tc:SAML:2.0:status:NoPassive";
pub const AC_PASSWORD: &str = "urn:oasis:names:tc:SAML:2.0:ac:classes:PasswordProtectedTransport";
/// REFEDS MFA profile: a second factor (or a user-verified passkey) was used.
pub const AC_MFA: &str = "https://refeds.org/profile/mfa";

/// The services an SSO step uses (borrowed from the application state).
pub struct Sso<'a> {
    pub saml: &'a SamlService,
    pub apps: &'a AppService,
    pub store: &'a Store,
    pub oidc: &'a OidcService,
    pub accounts: &'a AccountService,
    pub now: DateTime<Utc>,
}

/// An AuthnRequest as it arrived.
pub enum Incoming<'a> {
    /// HTTP-Redirect: the raw query string, as received (its signature covers these bytes).
    Redirect(&'a str),
    /// HTTP-POST: the form's `SAMLRequest` and `RelayState`.
    Post {
        saml_request: &'a str,
        relay_state: Option<&'a str>,
    },
}

/// A checked AuthnRequest waiting for the user (kept as a single-use value).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Pending {
    pub sp_entity_id: String,
    /// The AuthnRequest's ID; `None` for IdP-initiated SSO (no `InResponseTo`).
    pub request_id: Option<String>,
    pub acs_url: String,
    pub relay_state: Option<String>,
    pub force_authn: bool,
    pub is_passive: bool,
    /// The SP asked for more than a password (`RequestedAuthnContext`): a second factor is
    /// needed whatever the app's own rules say, never quietly left out.
    #[serde(default)]
    pub mfa_requested: bool,
    pub received_at: DateTime<Utc>,
    /// Started from the IdP: the app must still allow it when the answer is made.
    #[serde(default)]
    pub idp_initiated: bool,
}

/// What the edge does next.
#[derive(Debug)]
pub enum SsoStep {
    /// A page for the user: the request cannot be answered to its SP.
    Refused { title: String, message: String },
    /// No app of this org to start from the IdP by that id (404, whatever the reason).
    NoSuchApp,
    /// The database or the keys are away.
    Failed { outage: bool },
    /// On to the hosted sign-in (`reauth`: though signed in), then back to the pending request.
    Login { reauth: bool, pending: String },
    /// On to the second-factor step, then back.
    StepUp { pending: String },
    /// An auto-submitting form to the ACS URL.
    Post {
        acs_url: String,
        saml_response: String,
        relay_state: Option<String>,
    },
}

fn refused(title: &str, message: impl Into<String>) -> SsoStep {
    SsoStep::Refused {
        title: title.to_owned(),
        message: message.into(),
    }
}

fn invalid(e: &SamlError) -> SsoStep {
    refused("Invalid SAML request", e.to_string())
}

fn failed(e: &impl std::fmt::Display, outage: bool) -> SsoStep {
    tracing::warn!(error = %e, "SAML SSO failed");
    SsoStep::Failed { outage }
}

fn store_failed(e: &StoreError) -> SsoStep {
    failed(e, true)
}

impl Sso<'_> {
    /// Checks an arriving AuthnRequest and keeps it pending; returns its key.
    pub async fn receive(&self, org: &Org, incoming: Incoming<'_>) -> Result<String, SsoStep> {
        let (xml, relay_state, redirect) = match incoming {
            Incoming::Redirect(raw) => {
                let q = RedirectQuery::parse(raw).map_err(|e| invalid(&e))?;
                if q.kind != MessageKind::Request {
                    return Err(refused("Invalid SAML request", "expected a SAMLRequest"));
                }
                (q.xml.clone(), q.relay_state.clone(), Some(q))
            }
            Incoming::Post {
                saml_request,
                relay_state,
            } => {
                let xml = binding::decode_post(saml_request).map_err(|e| invalid(&e))?;
                if let Some(r) = relay_state {
                    binding::check_relay_state(r).map_err(|e| invalid(&e))?;
                }
                (xml, relay_state.map(str::to_owned), None)
            }
        };
        let unverified = AuthnRequest::parse(&xml).map_err(|e| invalid(&e))?;
        let app = self.app_of(org, &unverified).await?;
        let settings = app
            .saml
            .as_ref()
            .ok_or_else(|| failed(&"no settings", false))?;
        let signed = redirect
            .as_ref()
            .map_or(unverified.header.signed, RedirectQuery::signed);
        let request = self.verified(settings, &xml, unverified, redirect.as_ref())?;
        self.check_header(org, &request, signed)?;
        let acs_url = acs_of(settings, &request)?.to_owned();
        let pending = Pending {
            sp_entity_id: settings.sp_entity_id.as_str().to_owned(),
            request_id: Some(request.header.id.clone()),
            acs_url,
            relay_state,
            force_authn: request.force_authn,
            is_passive: request.is_passive,
            mfa_requested: asks_more_than_password(&request.requested_contexts),
            received_at: self.now,
            idp_initiated: false,
        };
        // Kept first, then the ID used (review M8): a failure keeping it must not burn the ID
        // (the SP's retry would be a "replay"); a key kept for a replayed request is never
        // given out and expires.
        let key = self.keep(org, &pending).await?;
        self.use_request_id(org, settings, &request).await?;
        Ok(key)
    }

    /// IdP-initiated SSO (SAML Profiles §4.1.5): the org's SAML app `app_id`, if it may be
    /// started from the IdP, answered for `session` after the same gates as an AuthnRequest
    /// (re-authentication age, MFA step-up, then back here through the pending request).
    /// Any other id is `NoSuchApp`, whatever the reason (another org's, an OIDC app, not
    /// allowed).
    pub async fn idp_initiated(&self, org: &Org, app_id: AppId, session: &Session) -> SsoStep {
        let app = match self.apps.saml_app_by_id(org.id, app_id).await {
            Ok(Some(app)) => app,
            Ok(None) => return SsoStep::NoSuchApp,
            Err(e) => return store_failed(&e),
        };
        let Some(settings) = app.saml.as_ref().filter(|s| s.idp_initiated) else {
            return SsoStep::NoSuchApp;
        };
        let Some(acs) = settings
            .acs(None)
            .filter(|a| a.binding == SamlBinding::Post)
        else {
            return refused(
                "Invalid SAML app",
                "This app has no default ACS URL taking HTTP-POST.",
            );
        };
        let pending = Pending {
            sp_entity_id: settings.sp_entity_id.as_str().to_owned(),
            request_id: None,
            acs_url: acs.url.as_str().to_owned(),
            relay_state: settings.idp_initiated_relay_state.clone(),
            force_authn: false,
            is_passive: false,
            mfa_requested: false,
            received_at: self.now,
            idp_initiated: true,
        };
        match self.keep(org, &pending).await {
            Ok(key) => self.decide(org, &key, Some(session)).await,
            Err(step) => step,
        }
    }

    /// The SAML app of this org the request's Issuer names.
    async fn app_of(&self, org: &Org, request: &AuthnRequest) -> Result<App, SsoStep> {
        let Some(issuer) = request.header.issuer.as_deref() else {
            return Err(refused("Invalid SAML request", "the request has no Issuer"));
        };
        match self.apps.saml_app(org.id, issuer).await {
            Ok(Some(app)) if app.saml.is_some() => Ok(app),
            Ok(_) => Err(refused(
                "Unknown service provider",
                "No SAML app with this entity id is registered in this organization.",
            )),
            Err(e) => Err(store_failed(&e)),
        }
    }

    /// The request, its signature verified when present or required by the app: over the
    /// raw query (Redirect) or enveloped (POST, read through `read_signed`).
    fn verified(
        &self,
        settings: &SamlSettings,
        xml: &str,
        unverified: AuthnRequest,
        redirect: Option<&RedirectQuery>,
    ) -> Result<AuthnRequest, SsoStep> {
        let signed = redirect.map_or(unverified.header.signed, RedirectQuery::signed);
        if !signed && !settings.require_signed_requests {
            return Ok(unverified);
        }
        let Some(cert) = sp_certificate(settings) else {
            return Err(refused(
                "Invalid SAML request",
                "This app has no certificate to verify its signed requests with.",
            ));
        };
        let certs = [cert];
        let dsig = self.saml.dsig();
        let sha1 = settings.allow_sha1;
        match redirect {
            Some(q) => {
                q.verify(dsig, &certs, sha1).map_err(|e| invalid(&e))?;
                Ok(unverified)
            }
            None => read_signed::<AuthnRequest>(xml, dsig, &certs, sha1).map_err(|e| invalid(&e)),
        }
    }

    /// `Destination` (required on a signed request, SAML Bindings §3.4.5.2 and §3.5.5.2:
    /// `signed` is true for an enveloped signature and for a Redirect query's, review L10) and
    /// `IssueInstant`.
    fn check_header(&self, org: &Org, request: &AuthnRequest, signed: bool) -> Result<(), SsoStep> {
        let h = request.header();
        let ours = format!("{}{SSO_PATH}", org.issuer(self.saml.public_url()));
        match h.destination.as_deref() {
            Some(d) if d != ours => {
                return Err(refused(
                    "Invalid SAML request",
                    "The request's Destination is not this organization's SSO endpoint.",
                ));
            }
            None if signed => {
                return Err(refused(
                    "Invalid SAML request",
                    "A signed request needs a Destination.",
                ));
            }
            _ => {}
        }
        let age = self.now - h.issue_instant;
        if age > Duration::seconds(REQUEST_MAX_AGE_SECS)
            || age < -Duration::seconds(CLOCK_SKEW_SECS)
        {
            return Err(refused(
                "Expired SAML request",
                "The request was issued too long ago (or in the future): start again at the app.",
            ));
        }
        Ok(())
    }

    /// Remembers the request's ID until the request could no longer be accepted: a second
    /// request with the same ID from the same SP is a replay.
    async fn use_request_id(
        &self,
        org: &Org,
        settings: &SamlSettings,
        request: &AuthnRequest,
    ) -> Result<(), SsoStep> {
        let until = request.header.issue_instant.max(self.now)
            + Duration::seconds(REQUEST_MAX_AGE_SECS + CLOCK_SKEW_SECS);
        let entity = settings.sp_entity_id.as_str();
        match remember_request_id(self.store, org, entity, &request.header.id, until).await {
            Ok(true) => Ok(()),
            Ok(false) => Err(refused(
                "Replayed SAML request",
                "This request was already used: start again at the app.",
            )),
            Err(e) => Err(store_failed(&e)),
        }
    }

    async fn keep(&self, org: &Org, pending: &Pending) -> Result<String, SsoStep> {
        let key = crate::secrets::random_token(24).map_err(|e| failed(&e, false))?;
        let value = serde_json::to_string(pending).map_err(|e| failed(&e, false))?;
        let until = self.now + Duration::seconds(PENDING_SECS);
        self.store
            .put_single_use(org.id, SingleUseKind::SamlPendingSso, &key, &value, until)
            .await
            .map_err(|e| store_failed(&e))?;
        Ok(key)
    }

    /// Decides a pending request for the browser's `session`: a sign-in or step-up first, a
    /// `NoPassive` answer when the SP asked for no interaction, or the Response.
    pub async fn decide(&self, org: &Org, key: &str, session: Option<&Session>) -> SsoStep {
        let pending = match self.pending(org, key).await {
            Ok(p) => p,
            Err(step) => return step,
        };
        let app = match self.app_of_pending(org, &pending).await {
            Ok(app) => app,
            Err(step) => return step,
        };
        match gate(&app, &pending, session, self.now) {
            Gate::Pass(session) => self.success(org, key, &app, &pending, session).await,
            Gate::Interact(_) if pending.is_passive => self.no_passive(org, key, &pending).await,
            Gate::Interact(step) => Ok(step.with_pending(key)),
        }
        .unwrap_or_else(|step| step)
    }

    async fn pending(&self, org: &Org, key: &str) -> Result<Pending, SsoStep> {
        let raw = self
            .store
            .get_single_use(org.id, SingleUseKind::SamlPendingSso, key, self.now)
            .await
            .map_err(|e| store_failed(&e))?
            .ok_or_else(|| {
                refused(
                    "Sign-in expired",
                    "This sign-in request is no longer valid: start again at the app.",
                )
            })?;
        serde_json::from_str(&raw).map_err(|e| failed(&e, false))
    }

    /// The app again (it may have been changed or deleted meanwhile; the ACS must still be
    /// registered, and an IdP-initiated start still allowed).
    async fn app_of_pending(&self, org: &Org, pending: &Pending) -> Result<App, SsoStep> {
        let app = match self.apps.saml_app(org.id, &pending.sp_entity_id).await {
            Ok(Some(app)) => app,
            Ok(None) => return Err(refused("Unknown service provider", "The app is gone.")),
            Err(e) => return Err(store_failed(&e)),
        };
        let settings = app.saml.as_ref();
        if pending.idp_initiated && !settings.is_some_and(|s| s.idp_initiated) {
            return Err(SsoStep::NoSuchApp);
        }
        let registered = settings
            .and_then(|s| s.acs_registered(&pending.acs_url))
            .is_some();
        if !registered {
            return Err(refused(
                "Invalid SAML request",
                "The app's ACS URL is no longer registered.",
            ));
        }
        Ok(app)
    }

    /// Uses the pending request up: one answer per request. Called only once everything the
    /// answer needs from the database and the keys is loaded (review M8).
    async fn take(&self, org: &Org, key: &str) -> Result<(), SsoStep> {
        match self
            .store
            .take_single_use(org.id, SingleUseKind::SamlPendingSso, key, self.now)
            .await
        {
            Ok(Some(_)) => Ok(()),
            Ok(None) => Err(refused(
                "Sign-in expired",
                "This sign-in request was already answered: start again at the app.",
            )),
            Err(e) => Err(store_failed(&e)),
        }
    }

    /// Puts a taken request back when its answer could not be made (an outage, the IdP
    /// session ended meanwhile), so the browser's retry or sign-in can still answer it.
    async fn put_back(&self, org: &Org, key: &str, pending: &Pending) {
        let Ok(value) = serde_json::to_string(pending) else {
            return;
        };
        let until = pending.received_at + Duration::seconds(PENDING_SECS);
        if let Err(e) = self
            .store
            .put_single_use(org.id, SingleUseKind::SamlPendingSso, key, &value, until)
            .await
        {
            tracing::warn!(error = %e, "a SAML request could not be put back after a failure");
        }
    }

    /// The org's SAML signing key (an outage, or an unusable key: 503).
    async fn signing_key(&self, org: &Org) -> Result<SigningKey, SsoStep> {
        self.saml
            .signing_key(org)
            .await
            .map_err(|e| failed(&e, true))
    }

    /// `Responder`/`NoPassive`: the user would have to interact (Core §3.4.1).
    async fn no_passive(
        &self,
        org: &Org,
        key: &str,
        pending: &Pending,
    ) -> Result<SsoStep, SsoStep> {
        let id = new_id().map_err(|e| failed(&e, false))?;
        let envelope = ResponseParams {
            id: &id,
            issue_instant: self.now,
            issuer: &self.saml.entity_id(org),
            destination: &pending.acs_url,
            in_response_to: pending.request_id.as_deref(),
            status: STATUS_RESPONDER,
            sub_status: Some(NO_PASSIVE),
        };
        let signing_key = self.signing_key(org).await?;
        self.take(org, key).await?;
        let xml = super::build::response(&envelope, None);
        let signed = self
            .saml
            .dsig()
            .sign_enveloped(&xml, &signing_key)
            .map_err(|e| failed(&e, false))?;
        Ok(self.post(pending, &signed))
    }

    fn post(&self, pending: &Pending, xml: &str) -> SsoStep {
        SsoStep::Post {
            acs_url: pending.acs_url.clone(),
            saml_response: binding::encode_post(xml),
            relay_state: pending.relay_state.clone(),
        }
    }

    /// The user and the signing key (loaded before the request is used up: an outage there
    /// leaves it pending for a retry), then the request taken, the app session started (the
    /// request put back if that cannot be done) and the signed Response for it.
    async fn success(
        &self,
        org: &Org,
        key: &str,
        app: &App,
        pending: &Pending,
        session: &Session,
    ) -> Result<SsoStep, SsoStep> {
        let user = match self.accounts.user(org, session.user_id).await {
            Ok(Some(u)) if u.active => u,
            Ok(_) => return Err(refused("Account disabled", "This account cannot sign in.")),
            Err(e) => return Err(failed(&e, true)),
        };
        let signing_key = self.signing_key(org).await?;
        self.take(org, key).await?;
        // Stored hashed where an OIDC code's hash goes: a secret of its own, never the Response
        // ID (which the browser and the SP see, and which could be played as a "reused code").
        let marker = crate::secrets::random_token(32).map_err(|e| failed(&e, false))?;
        let app_session = match self
            .oidc
            .start_browser_app_session(org, app, session, &marker)
            .await
        {
            Ok(Some(s)) => s,
            Ok(None) => {
                // The IdP session ended meanwhile: sign in again for the same request.
                self.put_back(org, key, pending).await;
                let pending = key.to_owned();
                return Ok(SsoStep::Login {
                    reauth: false,
                    pending,
                });
            }
            Err(e) => {
                self.put_back(org, key, pending).await;
                return Err(failed(&e, true));
            }
        };
        let answer = Answer {
            app,
            pending,
            session,
            user: &user,
            app_session: &app_session,
        };
        let xml = self.response_xml(org, &answer, &signing_key)?;
        Ok(self.post(pending, &xml))
    }

    /// The signed Response of a successful sign-in.
    fn response_xml(
        &self,
        org: &Org,
        a: &Answer<'_>,
        signing_key: &SigningKey,
    ) -> Result<String, SsoStep> {
        let settings = a
            .app
            .saml
            .as_ref()
            .ok_or_else(|| failed(&"no settings", false))?;
        let (response_id, assertion_id) = (
            new_id().map_err(|e| failed(&e, false))?,
            new_id().map_err(|e| failed(&e, false))?,
        );
        let name_id = self
            .saml
            .name_id(org, a.app, settings, a.user, a.app_session.id);
        let attributes = attributes(settings, a.user);
        let issuer = self.saml.entity_id(org);
        let in_response_to = a.pending.request_id.as_deref();
        let envelope = ResponseParams {
            id: &response_id,
            issue_instant: self.now,
            issuer: &issuer,
            destination: &a.pending.acs_url,
            in_response_to,
            status: STATUS_SUCCESS,
            sub_status: None,
        };
        let statement = AssertionParams {
            id: &assertion_id,
            issue_instant: self.now,
            issuer: &issuer,
            name_id: &name_id,
            in_response_to,
            recipient: &a.pending.acs_url,
            not_on_or_after: self.now + Duration::seconds(ASSERTION_SECS),
            not_before: self.now - Duration::seconds(CLOCK_SKEW_SECS),
            audience: settings.sp_entity_id.as_str(),
            authn_instant: a.session.auth_time,
            session_index: &a.app_session.id.to_string(),
            // Never past the IdP session the app session depends on (review L11).
            session_not_on_or_after: Some(OidcService::browser_session_expiry(
                a.app_session,
                a.session,
            )),
            authn_context_class_ref: authn_context(a.session),
            attributes: &attributes,
        };
        let signing = Signing {
            assertion: settings.sign_assertion,
            response: settings.sign_response,
        };
        signed_response(
            self.saml.dsig(),
            signing_key,
            &envelope,
            &statement,
            signing,
        )
        .map_err(|e| failed(&e, false))
    }
}

/// What a successful answer is made of.
struct Answer<'a> {
    app: &'a App,
    pending: &'a Pending,
    session: &'a Session,
    user: &'a User,
    app_session: &'a crate::oidc::AppSession,
}

/// The attributes the app is given.
fn attributes(settings: &SamlSettings, user: &User) -> Vec<AttributeValues> {
    settings
        .attributes
        .iter()
        .filter_map(|a| {
            let value = match a {
                SamlAttribute::Email => Some(user.email.as_str().to_owned()),
                SamlAttribute::Name => user.name.clone(),
            }?;
            Some(AttributeValues {
                name: a.as_str().to_owned(),
                values: vec![value],
            })
        })
        .collect()
}

/// The class of the sign-in: a password alone, or more (a second factor, a passkey).
fn authn_context(session: &Session) -> &'static str {
    if session.acr() == ACR_ONE_FACTOR {
        AC_PASSWORD
    } else {
        AC_MFA
    }
}

/// The ACS URL the Response goes to: the one named (it must be registered), the one of the
/// index, or the app's default; always one taking HTTP-POST.
fn acs_of<'s>(settings: &'s SamlSettings, request: &AuthnRequest) -> Result<&'s str, SsoStep> {
    let acs = match (&request.acs_url, request.acs_index) {
        (Some(_), Some(_)) => {
            return Err(refused(
                "Invalid SAML request",
                "The request names both an ACS URL and an ACS index.",
            ));
        }
        (Some(url), None) => settings.acs_registered(url),
        (None, index) => settings.acs(index),
    };
    let Some(acs) = acs else {
        return Err(refused(
            "Invalid SAML request",
            "The request's AssertionConsumerServiceURL is not registered for this app.",
        ));
    };
    let binding_ok = request
        .protocol_binding
        .as_deref()
        .is_none_or(|b| b == super::BINDING_POST);
    if acs.binding != SamlBinding::Post || !binding_ok {
        return Err(refused(
            "Invalid SAML request",
            "Responses are sent with the HTTP-POST binding only.",
        ));
    }
    Ok(acs.url.as_str())
}

/// The session rules' verdict for a pending request.
enum Gate<'s> {
    Pass(&'s Session),
    Interact(Interaction),
}

enum Interaction {
    Login { reauth: bool },
    StepUp,
}

impl Interaction {
    fn with_pending(self, key: &str) -> SsoStep {
        let pending = key.to_owned();
        match self {
            Self::Login { reauth } => SsoStep::Login { reauth, pending },
            Self::StepUp => SsoStep::StepUp { pending },
        }
    }
}

/// Whether the requested authentication contexts ask for more than a password: any class but
/// the password ones and `unspecified` (the MFA profile, and classes we do not know, which we
/// meet with a second factor rather than a password alone).
fn asks_more_than_password(requested: &[String]) -> bool {
    const PASSWORD_ENOUGH: [&str; 3] = [
        AC_PASSWORD,
        "urn:oasis:names:tc:SAML:2.0:ac:classes:Password",
        "urn:oasis:names:tc:SAML:2.0:ac:classes:unspecified",
    ];
    !requested.is_empty()
        && requested
            .iter()
            .all(|c| !PASSWORD_ENOUGH.contains(&c.as_str()))
}

/// The same gates as /authorize: signed in; recent enough (`ForceAuthn`: signed in since the
/// request arrived, as `prompt=login`; the app's re-authentication age); a second factor when
/// the app requires one.
fn gate<'s>(
    app: &App,
    pending: &Pending,
    session: Option<&'s Session>,
    now: DateTime<Utc>,
) -> Gate<'s> {
    let Some(session) = session else {
        return Gate::Interact(Interaction::Login { reauth: false });
    };
    let rules = app.settings.session;
    let too_old = rules
        .reauth_max_age_secs
        .and_then(Duration::try_seconds)
        .is_some_and(|l| now - session.auth_time > l);
    if too_old || (pending.force_authn && session.auth_time < pending.received_at) {
        return Gate::Interact(Interaction::Login { reauth: true });
    }
    if (rules.mfa_required || pending.mfa_requested) && session.acr() == ACR_ONE_FACTOR {
        return Gate::Interact(Interaction::StepUp);
    }
    Gate::Pass(session)
}
