//! SAML Single Logout (SAML Profiles §4.4, issue 20 item 4), in the one session model: every
//! end of an IdP session writes a logout delivery for each SAML app of the session with an SLO
//! endpoint (`store::slo::end_app_sessions`), as it does for OIDC back-channel apps.
//!
//! - **SOAP** SPs are told by the logout outbox (`SloService`'s worker calls [`soap_attempt`]):
//!   a signed LogoutRequest (NameID as the SP knows it, one `SessionIndex` per app session the
//!   app had in the IdP session), the SP's LogoutResponse verified (with its certificate, when
//!   signed) and matched to the request; retries, receipts and audit as for OIDC.
//! - **Front-channel** (Redirect, POST) SPs are told by the user's browser: the signed-out page
//!   holds one hidden frame per such delivery, all at once and each bounded in time, so one
//!   failing SP cannot hold up the others. The frame (`front_request`) sends the signed
//!   LogoutRequest; the SP's LogoutResponse comes back to `/saml/slo`, is verified and matched
//!   to it (`SamlLogoutSent`, single use) and settles the delivery. One not settled within
//!   `FRONT_CHANNEL_WINDOW_SECS` is marked failed by the outbox, with why.
//! - **SP-initiated**: a LogoutRequest at `/saml/slo` (Redirect, POST or SOAP) must be signed
//!   with the SP's registered certificate, addressed to us, fresh and new (its ID single use);
//!   each `SessionIndex` must be an app session of that SP in this org whose NameID matches.
//!   The IdP sessions end (reason `logout`, actor `saml:{entity id}`), which tells every other
//!   app; the SP gets a signed LogoutResponse: at once over SOAP, or over the front channel
//!   after the signed-out page has told the others (`answer`).

use super::binding::{self, MessageKind, RedirectQuery};
use super::build::{LogoutRequestParams, LogoutResponseParams, new_id};
use super::dsig::SigningKey;
use super::error::SamlError;
use super::messages::{LogoutRequest, LogoutResponse, read_signed};
use super::service::{remember_request_id, sp_certificate};
use super::{STATUS_REQUESTER, STATUS_SUCCESS, SamlService, soap};
use crate::apps::{App, AppService, SamlBinding, SamlSettings};
use crate::oidc::AppSessionId;
use crate::outbound::{NOT_ALLOWED, OutboundClient, OutboundError};
use crate::sessions::{EndReason, Session, SessionError, SessionId, SessionService};
use crate::slo::{Attempt, LogoutDelivery, STATUS_DELIVERED, STATUS_PENDING};
use crate::store::{SingleUseKind, Store, StoreError};
use crate::tenancy::Org;
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use chrono::{DateTime, Duration, Utc};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

/// How old an SP's LogoutRequest may be when it arrives (and how long its ID is remembered).
const REQUEST_MAX_AGE_SECS: i64 = 5 * 60;
/// How far ahead of our clock an SP's `IssueInstant` may be.
const CLOCK_SKEW_SECS: i64 = 60;
/// How long our LogoutRequest is valid and its ID waits for the SP's answer.
const SENT_SECS: i64 = crate::slo::FRONT_CHANNEL_WINDOW_SECS;
/// How long the LogoutResponse owed to an SP waits for the signed-out page to finish.
const ANSWER_SECS: i64 = 10 * 60;
/// The most of an SP's SOAP answer read.
const MAX_SOAP_ANSWER_BYTES: usize = 256 * 1024;

pub const REASON_USER: &str = "urn:oasis:names:tc:SAML:2.0:logout:user";
pub const REASON_ADMIN: &str = "urn:oasis:names:tc:SAML:2.0:logout:admin";
/// Where the LogoutResponse owed to an SP is sent from, after the signed-out page (`?r=`).
pub const ANSWER_PATH: &str = "/saml/slo/answer";
/// The front-channel frame of one delivery (`?d=` its id, `&t=` its token).
pub const FRONT_PATH: &str = "/saml/slo/front";

/// A message at `/saml/slo` as it arrived.
pub enum Incoming<'a> {
    /// HTTP-Redirect: the raw query string, as received (its signature covers these bytes).
    Redirect(&'a str),
    /// HTTP-POST: the form's `SAMLRequest` or `SAMLResponse`, and `RelayState`.
    Post {
        message: &'a str,
        response: bool,
        relay_state: Option<&'a str>,
    },
    /// SOAP: the request body (an envelope).
    Soap(&'a str),
}

/// What the edge does next.
#[derive(Debug)]
pub enum SloStep {
    /// A page for the user (or a 400 to a SOAP caller): the message is not acceptable.
    Refused { title: String, message: String },
    /// The database or the keys are away.
    Failed { outage: bool },
    /// A 303 to this URL (a Redirect-binding message to an SP).
    Redirect(String),
    /// An auto-submitting form to an SP (POST binding).
    Post {
        url: String,
        field: &'static str,
        value: String,
        relay_state: Option<String>,
    },
    /// The SOAP answer to an SP's LogoutRequest.
    Soap(String),
    /// An SP's LogoutResponse settled its delivery (the frame's end).
    Recorded { delivered: bool },
    /// An SP's LogoutRequest ended these IdP sessions: the signed-out page tells the other
    /// apps, then goes on to `answer` (the LogoutResponse to the SP).
    SignedOut {
        ended: Vec<SessionId>,
        answer: String,
    },
}

fn refused(title: &str, message: impl Into<String>) -> SloStep {
    SloStep::Refused {
        title: title.to_owned(),
        message: message.into(),
    }
}

fn invalid(e: &SamlError) -> SloStep {
    refused("Invalid SAML logout message", e.to_string())
}

fn failed(e: &impl std::fmt::Display, outage: bool) -> SloStep {
    tracing::warn!(error = %e, "SAML logout failed");
    SloStep::Failed { outage }
}

/// A LogoutRequest we sent over the front channel, waiting for its answer.
#[derive(Debug, Serialize, Deserialize)]
struct Sent {
    delivery: Uuid,
    app: Uuid,
}

/// The LogoutResponse owed to an SP.
#[derive(Debug, Serialize, Deserialize)]
struct Owed {
    app: Uuid,
    in_response_to: String,
    status: String,
    relay_state: Option<String>,
}

/// A LogoutRequest to an SP, not yet signed (Redirect signs the query, POST and SOAP the XML).
pub struct Outgoing {
    pub id: String,
    pub xml: String,
    pub key: SigningKey,
    pub url: String,
    pub binding: SamlBinding,
}

/// Why no LogoutRequest could be made for a delivery.
#[derive(Debug)]
pub enum OutgoingError {
    /// Retry later (the database, the keys).
    Outage(String),
    /// Never (the app, its SLO endpoint or the user are gone).
    Gone(String),
}

fn outage(e: impl std::fmt::Display) -> OutgoingError {
    OutgoingError::Outage(e.to_string())
}

/// The LogoutRequest that tells `app` of the end of the delivery's IdP session.
pub async fn logout_request(
    saml: &SamlService,
    store: &Store,
    org: &Org,
    app: &App,
    d: &LogoutDelivery,
    now: DateTime<Utc>,
) -> Result<Outgoing, OutgoingError> {
    let gone = |why: &str| OutgoingError::Gone(why.to_owned());
    let settings = app.saml.as_ref().ok_or_else(|| gone("not a SAML app"))?;
    let slo = settings
        .slo
        .as_ref()
        .ok_or_else(|| gone("the app no longer has a Single Logout endpoint"))?;
    let user = store
        .user_by_id(org.id, d.user_id)
        .await
        .map_err(outage)?
        .ok_or_else(|| gone("the user no longer exists"))?;
    let indexes = store
        .app_session_ids_in(org.id, app.id, d.session_id)
        .await
        .map_err(outage)?;
    let latest = indexes
        .last()
        .ok_or_else(|| gone("the app has no app session in this session"))?;
    let name_id = saml.name_id(org, app, settings, &user, AppSessionId(*latest));
    let key = saml.signing_key(org).await.map_err(outage)?;
    let id = new_id().map_err(outage)?;
    let indexes: Vec<String> = indexes.iter().map(Uuid::to_string).collect();
    let reason = if d.reason == EndReason::Logout.as_str() {
        REASON_USER
    } else {
        REASON_ADMIN
    };
    let xml = super::build::logout_request(&LogoutRequestParams {
        id: &id,
        issue_instant: now,
        issuer: &saml.entity_id(org),
        destination: slo.url.as_str(),
        name_id: &name_id,
        session_indexes: &indexes,
        not_on_or_after: Some(now + Duration::seconds(SENT_SECS)),
        reason: Some(reason),
    });
    Ok(Outgoing {
        id,
        xml,
        key,
        url: slo.url.as_str().to_owned(),
        binding: slo.binding,
    })
}

/// What a front-channel delivery the browser never carried comes to.
pub fn front_channel_unanswered(d: &LogoutDelivery) -> String {
    if d.reason == EndReason::Logout.as_str() {
        "no LogoutResponse came back through the user's browser in time".to_owned()
    } else {
        format!(
            "the SP's Single Logout binding needs the user's browser, and the session ended without one ({})",
            d.reason
        )
    }
}

/// One outbox attempt at a SAML app's delivery: over SOAP; a front-channel one the browser did
/// not settle in its window fails with why.
pub async fn soap_attempt(
    saml: &SamlService,
    store: &Store,
    http: &OutboundClient,
    (org, app): (&Org, &App),
    d: &LogoutDelivery,
    now: DateTime<Utc>,
) -> Attempt {
    let binding = app
        .saml
        .as_ref()
        .and_then(|s| s.slo.as_ref())
        .map(|s| s.binding);
    if matches!(binding, Some(SamlBinding::Redirect | SamlBinding::Post)) {
        return Attempt::Permanent(front_channel_unanswered(d));
    }
    let out = match logout_request(saml, store, org, app, d, now).await {
        Ok(out) => out,
        Err(OutgoingError::Outage(e)) => return Attempt::Retry(e),
        Err(OutgoingError::Gone(e)) => return Attempt::Permanent(e),
    };
    let signed = match saml.dsig().sign_enveloped(&out.xml, &out.key) {
        Ok(xml) => xml,
        Err(e) => return Attempt::Retry(format!("signing: {e}")),
    };
    let headers = [(
        "SOAPAction",
        "http://www.oasis-open.org/committees/security",
    )];
    let sent = http
        .post_bounded(
            &out.url,
            soap::CONTENT_TYPE,
            &headers,
            soap::envelope(&signed),
            MAX_SOAP_ANSWER_BYTES,
        )
        .await;
    match sent {
        Ok((status, body)) if status.is_success() => {
            let settings = app.saml.as_ref();
            soap_answer(saml, settings, &body, &out.id)
        }
        Ok((status, _)) if status.as_u16() == 429 || status.is_server_error() => {
            Attempt::Retry(format!("HTTP {}", status.as_u16()))
        }
        Ok((status, _)) => Attempt::Permanent(format!("HTTP {}", status.as_u16())),
        Err(OutboundError::NotAllowed) => Attempt::Permanent(NOT_ALLOWED.into()),
        Err(e @ OutboundError::InvalidUrl) => Attempt::Permanent(e.to_string()),
        Err(e) => Attempt::Retry(e.to_string()),
    }
}

/// What an SP's SOAP answer to our LogoutRequest `sent` says.
fn soap_answer(
    saml: &SamlService,
    settings: Option<&SamlSettings>,
    body: &[u8],
    sent: &str,
) -> Attempt {
    let read = std::str::from_utf8(body)
        .map_err(|_| SamlError::Malformed("not UTF-8".into()))
        .and_then(soap::body_message)
        .and_then(|xml| read_response(saml, settings, &xml, None));
    let response = match read {
        Ok(r) => r,
        Err(e) => return Attempt::Permanent(format!("the SP's answer is not acceptable: {e}")),
    };
    if response.in_response_to.as_deref() != Some(sent) {
        return Attempt::Permanent("the SP's LogoutResponse answers another request".into());
    }
    if response.status == STATUS_SUCCESS {
        Attempt::Delivered
    } else {
        Attempt::Permanent(format!("the SP answered {}", response.status))
    }
}

/// A LogoutResponse, its signature verified when the app has a certificate (required then:
/// an unsigned one is refused; over the Redirect binding, the query's signature).
fn read_response(
    saml: &SamlService,
    settings: Option<&SamlSettings>,
    xml: &str,
    redirect: Option<&RedirectQuery>,
) -> Result<LogoutResponse, SamlError> {
    let cert = settings.and_then(sp_certificate);
    let sha1 = settings.is_some_and(|s| s.allow_sha1);
    match (cert, redirect) {
        (None, _) => LogoutResponse::parse(xml),
        (Some(cert), Some(q)) => {
            q.verify(saml.dsig(), &[cert], sha1)?;
            LogoutResponse::parse(xml)
        }
        (Some(cert), None) => read_signed::<LogoutResponse>(xml, saml.dsig(), &[cert], sha1),
    }
}

/// The services an SLO step at the edge uses (borrowed from the application state).
pub struct Slo<'a> {
    pub saml: &'a SamlService,
    pub apps: &'a AppService,
    pub store: &'a Store,
    pub sessions: &'a SessionService,
    pub now: DateTime<Utc>,
}

/// One frame of the signed-out page: our URL, and the SP's origin it goes on to.
#[derive(Debug, Clone)]
pub struct FrontFrame {
    pub url: String,
    pub origin: String,
}

impl Slo<'_> {
    /// The token of a delivery's frame URL: a MAC of the org and the delivery.
    fn frame_token(&self, org: &Org, delivery: Uuid) -> String {
        let mac = self.saml.mac(
            "saml-front-logout",
            format!("{}:{delivery}", org.id).as_bytes(),
        );
        URL_SAFE_NO_PAD.encode(&mac[..18])
    }

    /// The frames that tell the front-channel SAML apps of an ended IdP session.
    pub async fn front_frames(
        &self,
        org: &Org,
        sid: SessionId,
        org_path: &str,
    ) -> Result<Vec<FrontFrame>, StoreError> {
        let mut frames = Vec::new();
        for d in self.store.pending_deliveries_of(org.id, sid).await? {
            let Some(app) = self.store.app_by_id(org.id, d.app_id).await? else {
                continue;
            };
            let Some(slo) = app.saml.as_ref().and_then(|s| s.slo.as_ref()) else {
                continue;
            };
            if slo.binding == SamlBinding::Soap {
                continue;
            }
            let Ok(url) = url::Url::parse(slo.url.as_str()) else {
                continue;
            };
            frames.push(FrontFrame {
                url: format!(
                    "{org_path}{FRONT_PATH}?d={}&t={}",
                    d.id,
                    self.frame_token(org, d.id)
                ),
                origin: url.origin().ascii_serialization(),
            });
        }
        Ok(frames)
    }

    /// A frame of the signed-out page: the delivery's LogoutRequest to its SP, over the SP's
    /// binding; its ID kept to match the answer. A settled delivery just says so.
    pub async fn front_request(&self, org: &Org, delivery: &str, token: &str) -> SloStep {
        let Ok(id) = delivery.parse::<Uuid>() else {
            return refused("Unknown logout", "This logout link is not valid.");
        };
        if !crate::secrets::constant_time_eq(token, &self.frame_token(org, id)) {
            return refused("Unknown logout", "This logout link is not valid.");
        }
        let d = match self.store.logout_delivery(org.id, id).await {
            Ok(Some(d)) => d,
            Ok(None) => return refused("Unknown logout", "This logout link is not valid."),
            Err(e) => return failed(&e, true),
        };
        if d.status != STATUS_PENDING {
            return SloStep::Recorded {
                delivered: d.status == STATUS_DELIVERED,
            };
        }
        let app = match self.store.app_by_id(org.id, d.app_id).await {
            Ok(Some(app)) => app,
            Ok(None) => return refused("Unknown logout", "The app no longer exists."),
            Err(e) => return failed(&e, true),
        };
        let out = match logout_request(self.saml, self.store, org, &app, &d, self.now).await {
            Ok(out) => out,
            Err(OutgoingError::Outage(e)) => return failed(&e, true),
            Err(OutgoingError::Gone(e)) => return refused("Logout not sent", e),
        };
        let sent = serde_json::json!(Sent {
            delivery: d.id,
            app: app.id.0
        })
        .to_string();
        let until = self.now + Duration::seconds(SENT_SECS);
        if let Err(e) = self
            .store
            .put_single_use(org.id, SingleUseKind::SamlLogoutSent, &out.id, &sent, until)
            .await
        {
            return failed(&e, true);
        }
        self.send(
            MessageKind::Request,
            &out.url,
            out.binding,
            &out.xml,
            &out.key,
            None,
        )
    }

    /// A message to an SP over the front channel: signed over the query (Redirect) or
    /// enveloped in an auto-submitted form (POST; also for an SP whose SLO binding is SOAP,
    /// when its own request came through the browser).
    fn send(
        &self,
        kind: MessageKind,
        url: &str,
        binding: SamlBinding,
        xml: &str,
        key: &SigningKey,
        relay_state: Option<String>,
    ) -> SloStep {
        let dsig = self.saml.dsig();
        if binding == SamlBinding::Redirect {
            return match binding::encode_redirect(
                kind,
                xml,
                relay_state.as_deref(),
                Some((dsig, key)),
            ) {
                Ok(query) => {
                    let sep = if url.contains('?') { '&' } else { '?' };
                    SloStep::Redirect(format!("{url}{sep}{query}"))
                }
                Err(e) => failed(&e, false),
            };
        }
        match dsig.sign_enveloped(xml, key) {
            Ok(signed) => SloStep::Post {
                url: url.to_owned(),
                field: kind.parameter(),
                value: binding::encode_post(&signed),
                relay_state,
            },
            Err(e) => failed(&e, false),
        }
    }

    /// A message at `/saml/slo`: an SP's LogoutRequest or its LogoutResponse to ours.
    pub async fn receive(
        &self,
        org: &Org,
        incoming: Incoming<'_>,
        current: Option<&Session>,
    ) -> SloStep {
        let (xml, kind, relay_state, redirect, soap) = match decode(incoming) {
            Ok(decoded) => decoded,
            Err(e) => return invalid(&e),
        };
        match kind {
            MessageKind::Request => {
                let how = Received {
                    relay_state,
                    redirect: redirect.as_ref(),
                    soap,
                };
                match self.receive_request(org, &xml, how, current).await {
                    Ok(step) | Err(step) => step,
                }
            }
            MessageKind::Response if soap => {
                refused("Invalid SAML logout message", "a LogoutResponse over SOAP")
            }
            MessageKind::Response => {
                match self.receive_response(org, &xml, redirect.as_ref()).await {
                    Ok(step) | Err(step) => step,
                }
            }
        }
    }
}

type Decoded = (
    String,
    MessageKind,
    Option<String>,
    Option<RedirectQuery>,
    bool,
);

/// The message's XML, its kind, its RelayState, the Redirect query, and whether over SOAP.
fn decode(incoming: Incoming<'_>) -> Result<Decoded, SamlError> {
    match incoming {
        Incoming::Redirect(raw) => {
            let q = RedirectQuery::parse(raw)?;
            Ok((q.xml.clone(), q.kind, q.relay_state.clone(), Some(q), false))
        }
        Incoming::Post {
            message,
            response,
            relay_state,
        } => {
            if let Some(r) = relay_state {
                binding::check_relay_state(r)?;
            }
            let kind = if response {
                MessageKind::Response
            } else {
                MessageKind::Request
            };
            let xml = binding::decode_post(message)?;
            Ok((xml, kind, relay_state.map(str::to_owned), None, false))
        }
        Incoming::Soap(body) => Ok((
            soap::body_message(body)?,
            MessageKind::Request,
            None,
            None,
            true,
        )),
    }
}

/// How an SP's LogoutRequest came.
struct Received<'a> {
    relay_state: Option<String>,
    redirect: Option<&'a RedirectQuery>,
    soap: bool,
}

impl Slo<'_> {
    /// The SAML app of this org an Issuer names.
    async fn app_of(&self, org: &Org, issuer: Option<&str>) -> Result<App, SloStep> {
        let Some(issuer) = issuer else {
            return Err(refused(
                "Invalid SAML logout message",
                "the message has no Issuer",
            ));
        };
        match self.apps.saml_app(org.id, issuer).await {
            Ok(Some(app)) if app.saml.is_some() => Ok(app),
            Ok(_) => Err(refused(
                "Unknown service provider",
                "No SAML app with this entity id is registered in this organization.",
            )),
            Err(e) => Err(failed(&e, true)),
        }
    }

    /// `Destination` (required over the front channel), `IssueInstant`, `NotOnOrAfter`.
    fn check_request_header(
        &self,
        org: &Org,
        request: &LogoutRequest,
        soap: bool,
    ) -> Result<(), SloStep> {
        let ours = self.saml.slo_url(org);
        match request.header.destination.as_deref() {
            Some(d) if d != ours => {
                return Err(refused(
                    "Invalid SAML logout message",
                    "The request's Destination is not this organization's logout endpoint.",
                ));
            }
            None if !soap => {
                return Err(refused(
                    "Invalid SAML logout message",
                    "A logout request needs a Destination.",
                ));
            }
            _ => {}
        }
        let age = self.now - request.header.issue_instant;
        let late = request.not_on_or_after.is_some_and(|t| t <= self.now);
        if late
            || age > Duration::seconds(REQUEST_MAX_AGE_SECS)
            || age < -Duration::seconds(CLOCK_SKEW_SECS)
        {
            return Err(refused(
                "Expired SAML logout request",
                "The request was issued too long ago (or in the future).",
            ));
        }
        Ok(())
    }

    /// An SP's LogoutRequest: verified (always signed), checked, used once; the IdP sessions
    /// it names end; then the answer.
    async fn receive_request(
        &self,
        org: &Org,
        xml: &str,
        how: Received<'_>,
        current: Option<&Session>,
    ) -> Result<SloStep, SloStep> {
        let unverified = LogoutRequest::parse(xml).map_err(|e| invalid(&e))?;
        let app = self
            .app_of(org, unverified.header.issuer.as_deref())
            .await?;
        let settings = app
            .saml
            .as_ref()
            .ok_or_else(|| failed(&"no settings", false))?;
        let Some(cert) = sp_certificate(settings) else {
            return Err(refused(
                "Invalid SAML logout message",
                "This app has no certificate to verify its logout requests with.",
            ));
        };
        let (dsig, sha1) = (self.saml.dsig(), settings.allow_sha1);
        let request = match how.redirect {
            Some(q) => q
                .verify(dsig, &[cert], sha1)
                .map(|()| unverified)
                .map_err(|e| invalid(&e))?,
            None => {
                read_signed::<LogoutRequest>(xml, dsig, &[cert], sha1).map_err(|e| invalid(&e))?
            }
        };
        self.check_request_header(org, &request, how.soap)?;
        let until = request.header.issue_instant.max(self.now)
            + Duration::seconds(REQUEST_MAX_AGE_SECS + CLOCK_SKEW_SECS);
        let entity = settings.sp_entity_id.as_str();
        match remember_request_id(self.store, org, entity, &request.header.id, until).await {
            Ok(true) => {}
            Ok(false) => {
                return Err(refused(
                    "Replayed SAML logout request",
                    "This logout request was already used.",
                ));
            }
            Err(e) => return Err(failed(&e, true)),
        }
        let answered = self.end_and_answer(org, &app, &request, how, current).await;
        if matches!(answered, Err(SloStep::Failed { .. })) {
            // An outage is not a verdict: the SP's (or the browser's) retry of this request
            // must not be refused as a replay.
            let key = format!("{entity} {}", request.header.id);
            let forgotten = self
                .store
                .take_single_use(org.id, SingleUseKind::SamlRequestId, &key, self.now)
                .await;
            if let Err(e) = forgotten {
                tracing::warn!(error = %e, "a failed SAML logout request's ID is still remembered");
            }
        }
        answered
    }

    /// The sessions a checked LogoutRequest names end, then its answer: at once over SOAP, or
    /// kept for `/saml/slo/answer`. Ending again what ended is no error, so a retry after an
    /// outage comes out the same.
    async fn end_and_answer(
        &self,
        org: &Org,
        app: &App,
        request: &LogoutRequest,
        how: Received<'_>,
        current: Option<&Session>,
    ) -> Result<SloStep, SloStep> {
        let current = current.filter(|_| !how.soap);
        let sids = self.sessions_named(org, app, request, current).await?;
        self.end(org, app, &sids).await?;
        let status = if sids.is_empty() {
            STATUS_REQUESTER
        } else {
            STATUS_SUCCESS
        };
        let owed = Owed {
            app: app.id.0,
            in_response_to: request.header.id.clone(),
            status: status.to_owned(),
            relay_state: how.relay_state,
        };
        if how.soap {
            return self.soap_response(org, &owed).await;
        }
        let key = crate::secrets::random_token(24).map_err(|e| failed(&e, false))?;
        let value = serde_json::json!(owed).to_string();
        let until = self.now + Duration::seconds(ANSWER_SECS);
        self.store
            .put_single_use(org.id, SingleUseKind::SamlLogoutAnswer, &key, &value, until)
            .await
            .map_err(|e| failed(&e, true))?;
        let encoded: String = url::form_urlencoded::byte_serialize(key.as_bytes()).collect();
        Ok(SloStep::SignedOut {
            ended: sids,
            answer: format!("{ANSWER_PATH}?r={encoded}"),
        })
    }

    /// The IdP sessions a LogoutRequest names: each `SessionIndex` that is an app session of
    /// this app in this org whose NameID is the request's; with none, over the front channel,
    /// the browser's own session when this app took part in it.
    async fn sessions_named(
        &self,
        org: &Org,
        app: &App,
        request: &LogoutRequest,
        current: Option<&Session>,
    ) -> Result<Vec<SessionId>, SloStep> {
        let mut named: Vec<AppSessionId> = Vec::new();
        if request.session_indexes.is_empty() {
            if let Some(s) = current {
                let ids = self
                    .store
                    .app_session_ids_in(org.id, app.id, s.id)
                    .await
                    .map_err(|e| failed(&e, true))?;
                named.extend(ids.into_iter().map(AppSessionId));
            }
        } else {
            named.extend(
                request
                    .session_indexes
                    .iter()
                    .filter_map(|i| i.parse::<Uuid>().ok())
                    .map(AppSessionId),
            );
        }
        let mut sids = Vec::new();
        for id in named.into_iter().take(16) {
            if let Some(sid) = self.session_of(org, app, request, id).await?
                && !sids.contains(&sid)
            {
                sids.push(sid);
            }
        }
        Ok(sids)
    }

    /// The IdP session of app session `id`, when it is this app's in this org and its
    /// subject's NameID is the request's.
    async fn session_of(
        &self,
        org: &Org,
        app: &App,
        request: &LogoutRequest,
        id: AppSessionId,
    ) -> Result<Option<SessionId>, SloStep> {
        let store_failed = |e: StoreError| failed(&e, true);
        let Some(s) = self
            .store
            .app_session(org.id, id)
            .await
            .map_err(store_failed)?
        else {
            return Ok(None);
        };
        if s.app_id != app.id {
            return Ok(None);
        }
        let Some(user) = self
            .store
            .user_by_id(org.id, s.user_id)
            .await
            .map_err(store_failed)?
        else {
            return Ok(None);
        };
        let Some(settings) = app.saml.as_ref() else {
            return Ok(None);
        };
        let expected = self.saml.name_id(org, app, settings, &user, s.id);
        Ok((expected.value == request.name_id.value).then_some(s.session_id))
    }

    /// Ends the sessions (each tells every app of it) and settles this app's own deliveries:
    /// it asked.
    async fn end(&self, org: &Org, app: &App, sids: &[SessionId]) -> Result<(), SloStep> {
        let entity = app.saml.as_ref().map_or("", |s| s.sp_entity_id.as_str());
        let actor = format!("saml:{entity}");
        for sid in sids {
            match self
                .sessions
                .end(org.id, *sid, EndReason::Logout, &actor)
                .await
            {
                Ok(_) | Err(SessionError::NotFound) => {}
                Err(e) => return Err(failed(&e, true)),
            }
            let own = self
                .store
                .pending_deliveries_of(org.id, *sid)
                .await
                .map_err(|e| failed(&e, true))?;
            for d in own.iter().filter(|d| d.app_id == app.id) {
                if let Err(e) = self.store.settle_logout_delivery(d, None, self.now).await {
                    tracing::warn!(error = %e, delivery = %d.id, "the initiating SP's own delivery not settled");
                }
            }
        }
        Ok(())
    }

    /// A signed LogoutResponse for `owed` (no Destination over SOAP).
    async fn logout_response(
        &self,
        org: &Org,
        owed: &Owed,
        destination: Option<&str>,
    ) -> Result<(String, SigningKey), SloStep> {
        let key = self
            .saml
            .signing_key(org)
            .await
            .map_err(|e| failed(&e, true))?;
        let id = new_id().map_err(|e| failed(&e, false))?;
        let xml = super::build::logout_response(&LogoutResponseParams {
            id: &id,
            issue_instant: self.now,
            issuer: &self.saml.entity_id(org),
            destination,
            in_response_to: &owed.in_response_to,
            status: &owed.status,
        });
        Ok((xml, key))
    }

    async fn soap_response(&self, org: &Org, owed: &Owed) -> Result<SloStep, SloStep> {
        let (xml, key) = self.logout_response(org, owed, None).await?;
        let signed = self
            .saml
            .dsig()
            .sign_enveloped(&xml, &key)
            .map_err(|e| failed(&e, false))?;
        Ok(SloStep::Soap(soap::envelope(&signed)))
    }

    /// `/saml/slo/answer`: the LogoutResponse owed to an SP whose request came through the
    /// browser, once the signed-out page has told the other apps. Used once.
    pub async fn answer(&self, org: &Org, key: &str) -> SloStep {
        let kind = SingleUseKind::SamlLogoutAnswer;
        // Read, build and sign first; use it up only then (an outage before leaves it for the
        // retry).
        let kept = self.store.get_single_use(org.id, kind, key, self.now).await;
        let owed: Owed = match kept.map(|v| v.and_then(|v| serde_json::from_str(&v).ok())) {
            Ok(Some(owed)) => owed,
            Ok(None) => return refused("Signed out", "This logout has been answered already."),
            Err(e) => return failed(&e, true),
        };
        let app = match self
            .store
            .app_by_id(org.id, crate::apps::AppId(owed.app))
            .await
        {
            Ok(Some(app)) => app,
            Ok(None) => return refused("Signed out", "The app no longer exists."),
            Err(e) => return failed(&e, true),
        };
        let Some(slo) = app.saml.as_ref().and_then(|s| s.slo.clone()) else {
            return refused(
                "Signed out",
                "The app has no Single Logout endpoint any more.",
            );
        };
        let url = slo.url.as_str();
        let (xml, signing_key) = match self.logout_response(org, &owed, Some(url)).await {
            Ok(built) => built,
            Err(step) => return step,
        };
        match self
            .store
            .take_single_use(org.id, kind, key, self.now)
            .await
        {
            Ok(Some(_)) => {}
            Ok(None) => return refused("Signed out", "This logout has been answered already."),
            Err(e) => return failed(&e, true),
        }
        let relay = owed.relay_state.clone();
        self.send(
            MessageKind::Response,
            url,
            slo.binding,
            &xml,
            &signing_key,
            relay,
        )
    }

    /// An SP's LogoutResponse to our front-channel LogoutRequest: verified, matched to the
    /// request (single use), and the delivery settled by its status.
    async fn receive_response(
        &self,
        org: &Org,
        xml: &str,
        redirect: Option<&RedirectQuery>,
    ) -> Result<SloStep, SloStep> {
        let unverified = LogoutResponse::parse(xml).map_err(|e| invalid(&e))?;
        let app = self
            .app_of(org, unverified.header.issuer.as_deref())
            .await?;
        let response =
            read_response(self.saml, app.saml.as_ref(), xml, redirect).map_err(|e| invalid(&e))?;
        if let Some(d) = response.header.destination.as_deref()
            && d != self.saml.slo_url(org)
        {
            return Err(refused(
                "Invalid SAML logout message",
                "The response's Destination is not this organization's logout endpoint.",
            ));
        }
        let unsolicited = || {
            refused(
                "Unsolicited logout response",
                "This logout response answers no logout request of ours.",
            )
        };
        let Some(answers) = response.in_response_to.as_deref() else {
            return Err(unsolicited());
        };
        // Read first: an answer naming another app's request uses nothing up, and an outage
        // while settling leaves it for the retry.
        let kind = SingleUseKind::SamlLogoutSent;
        let sent: Sent = match self
            .store
            .get_single_use(org.id, kind, answers, self.now)
            .await
        {
            Ok(Some(v)) => serde_json::from_str(&v).map_err(|e| failed(&e, false))?,
            Ok(None) => return Err(unsolicited()),
            Err(e) => return Err(failed(&e, true)),
        };
        if sent.app != app.id.0 {
            return Err(unsolicited());
        }
        let d = match self.store.logout_delivery(org.id, sent.delivery).await {
            Ok(Some(d)) => d,
            Ok(None) => return Err(unsolicited()),
            Err(e) => return Err(failed(&e, true)),
        };
        let delivered = response.status == STATUS_SUCCESS;
        let error = (!delivered).then(|| format!("the SP answered {}", response.status));
        self.store
            .settle_logout_delivery(&d, error.as_deref(), self.now)
            .await
            .map_err(|e| failed(&e, true))?;
        match self
            .store
            .take_single_use(org.id, kind, answers, self.now)
            .await
        {
            Ok(Some(_)) => {}
            // Answered meanwhile (a parallel copy of this answer): recorded once all the same.
            Ok(None) => return Err(unsolicited()),
            Err(e) => return Err(failed(&e, true)),
        }
        Ok(SloStep::Recorded { delivered })
    }
}
