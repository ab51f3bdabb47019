//! The SAML identity provider's routes under `/o/{org}` (issue 20): the metadata document,
//! SP-initiated Web Browser SSO, IdP-initiated SSO from the account page, and Single Logout.
//! Thin: the org from the scope's middleware (unknown 404, disabled 403, as discovery and the
//! JWKS), then `SamlService` or a step of `saml::sso` or `saml::slo`.

use crate::http::extract::{Checked, CurrentSession, MaybeSession, TokenOnly};
use crate::http::pages::{form_post, org_path, see_other};
use crate::http::{CurrentOrg, error_page, failure_page, log_failure};
use crate::saml::metadata::CONTENT_TYPE;
use crate::saml::sso::{Incoming, Sso, SsoStep};
use crate::saml::{METADATA_PATH, SSO_PATH};
use crate::state::AppState;
use crate::tenancy::Org;
use actix_web::http::{StatusCode, header};
use actix_web::{HttpRequest, HttpResponse, web};

/// Where a checked AuthnRequest waits for the browser (`?p=` its pending key).
pub const SSO_CONTINUE_PATH: &str = "/saml/sso/continue";
/// IdP-initiated SSO: `POST {org}/saml/idp/{app_id}` (the account page's forms).
pub const IDP_INITIATED_PATH: &str = "/saml/idp";

pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.route(METADATA_PATH, web::get().to(metadata))
        .route(SSO_PATH, web::get().to(sso_redirect))
        .route(SSO_PATH, web::post().to(sso_post))
        .route(SSO_CONTINUE_PATH, web::get().to(sso_continue));
    cfg.route("/saml/idp/{app_id}", web::post().to(idp_initiated));
    super::saml_slo::configure(cfg);
}

/// `GET /o/{org}/saml/metadata`: the org's IdP metadata (SAML Metadata §2.4.3).
async fn metadata(org: CurrentOrg, state: web::Data<AppState>) -> HttpResponse {
    match state.saml.metadata(&org.0).await {
        // Short, like the JWKS: a rotation's new certificate must reach SPs within its lead.
        Ok(doc) => HttpResponse::Ok()
            .insert_header((header::CACHE_CONTROL, "public, max-age=300"))
            .insert_header((header::CONTENT_TYPE, CONTENT_TYPE))
            .body(doc),
        // An unusable SAML key is the operator's to fix: 503, as an outage (review L12).
        Err(e) => failure_page(
            log_failure(&e, "SAML metadata failed")
                || matches!(e, crate::keys::KeyError::SamlKeyUnusable),
        ),
    }
}

fn sso(state: &AppState) -> Sso<'_> {
    Sso {
        saml: &state.saml,
        apps: &state.apps,
        store: &state.store,
        oidc: &state.oidc,
        accounts: &state.accounts,
        now: state.clock.now(),
    }
}

/// `GET /o/{org}/saml/sso`: an AuthnRequest over HTTP-Redirect (the raw query as received,
/// for its signature).
async fn sso_redirect(
    req: HttpRequest,
    org: CurrentOrg,
    state: web::Data<AppState>,
) -> HttpResponse {
    let received = sso(&state)
        .receive(&org.0, Incoming::Redirect(req.query_string()))
        .await;
    to_pending(&org.0, received)
}

/// `POST /o/{org}/saml/sso`: an AuthnRequest over HTTP-POST. Cross-site by design (no CSRF
/// check, as /authorize); the browser's session is decided at the GET that follows (a
/// top-level navigation carries the `SameSite=Lax` cookie, this POST does not).
async fn sso_post(org: CurrentOrg, state: web::Data<AppState>, body: web::Bytes) -> HttpResponse {
    let (mut request, mut relay) = (None, None);
    for (k, v) in url::form_urlencoded::parse(&body) {
        let slot = match k.as_ref() {
            "SAMLRequest" => &mut request,
            "RelayState" => &mut relay,
            _ => continue,
        };
        if slot.replace(v.into_owned()).is_some() {
            return refused("Invalid SAML request", &format!("{k} given twice"));
        }
    }
    let Some(request) = request else {
        return refused("Invalid SAML request", "The form has no SAMLRequest.");
    };
    let incoming = Incoming::Post {
        saml_request: &request,
        relay_state: relay.as_deref(),
    };
    let received = sso(&state).receive(&org.0, incoming).await;
    to_pending(&org.0, received)
}

#[derive(serde::Deserialize)]
struct ContinueQuery {
    p: String,
}

/// `GET /o/{org}/saml/sso/continue?p=…`: the pending request decided for the browser's
/// session (and again when the browser comes back from signing in).
async fn sso_continue(
    org: CurrentOrg,
    state: web::Data<AppState>,
    q: web::Query<ContinueQuery>,
    MaybeSession(session): MaybeSession,
) -> HttpResponse {
    let step = sso(&state).decide(&org.0, &q.p, session.as_ref()).await;
    respond(&org.0, step)
}

/// `POST /o/{org}/saml/idp/{app_id}`: IdP-initiated SSO to one of the org's SAML apps, from
/// the account page's form (CSRF-checked first, then the session: `Checked`). An id that is
/// not an app to start from here is a 404, whatever the reason.
async fn idp_initiated(
    org: CurrentOrg,
    state: web::Data<AppState>,
    path: web::Path<(String, String)>,
    Checked(_, CurrentSession(session)): Checked<TokenOnly, CurrentSession>,
) -> HttpResponse {
    let Ok(id) = path.1.parse::<uuid::Uuid>() else {
        return respond_error(SsoStep::NoSuchApp);
    };
    let step = sso(&state)
        .idp_initiated(&org.0, crate::apps::AppId(id), &session)
        .await;
    respond(&org.0, step)
}

fn continue_path(org: &Org, pending: &str) -> String {
    format!("{}{SSO_CONTINUE_PATH}?p={}", org_path(org), encode(pending))
}

fn encode(value: &str) -> String {
    url::form_urlencoded::byte_serialize(value.as_bytes()).collect()
}

fn to_pending(org: &Org, received: Result<String, SsoStep>) -> HttpResponse {
    match received {
        Ok(pending) => see_other(&continue_path(org, &pending), []),
        Err(step) => respond_error(step),
    }
}

/// A request that cannot go back to its SP: shown to the user, never cached.
pub(super) fn refused(title: &str, message: &str) -> HttpResponse {
    no_store(error_page(StatusCode::BAD_REQUEST, title, message))
}

fn no_store(mut res: HttpResponse) -> HttpResponse {
    res.headers_mut().insert(
        header::CACHE_CONTROL,
        header::HeaderValue::from_static("no-store"),
    );
    res
}

fn respond_error(step: SsoStep) -> HttpResponse {
    match step {
        SsoStep::Refused { title, message } => refused(&title, &message),
        SsoStep::NoSuchApp => no_store(error_page(
            StatusCode::NOT_FOUND,
            "App not found",
            "There is no app to open with this link.",
        )),
        SsoStep::Failed { outage } => failure_page(outage),
        _ => failure_page(false),
    }
}

fn respond(org: &Org, step: SsoStep) -> HttpResponse {
    match step {
        SsoStep::Login { reauth, pending } => {
            let back = continue_path(org, &pending);
            let mut to = format!("{}/login?return_to={}", org_path(org), encode(&back));
            if reauth {
                to.push_str("&reauth=1");
            }
            see_other(&to, [])
        }
        SsoStep::StepUp { pending } => {
            let back = continue_path(org, &pending);
            let to = format!(
                "{}/login/step-up?return_to={}",
                org_path(org),
                encode(&back)
            );
            see_other(&to, [])
        }
        SsoStep::Post {
            acs_url,
            saml_response,
            relay_state,
        } => form_post(
            org,
            &acs_url,
            &[
                ("SAMLResponse", Some(saml_response.as_str())),
                ("RelayState", relay_state.as_deref()),
            ],
        ),
        other => respond_error(other),
    }
}
