//! SAML Single Logout's routes under `/o/{org}` (issue 20 item 4): `/saml/slo` takes an SP's
//! LogoutRequest (Redirect, POST or SOAP) or its LogoutResponse to ours; `/saml/slo/front` is a
//! frame of the signed-out page that sends one front-channel LogoutRequest; `/saml/slo/answer`
//! sends the LogoutResponse owed to an SP once the signed-out page has told the others. The
//! steps are `saml::slo`'s.

use super::extract::MaybeSession;
use super::pages::{form_post, message, org_path, see_other};
use super::saml::refused;
use super::{CurrentOrg, failure_page};
use crate::saml::SLO_PATH;
use crate::saml::slo::{ANSWER_PATH, FRONT_PATH, Incoming, Slo, SloStep};
use crate::state::AppState;
use crate::tenancy::Org;
use actix_web::http::StatusCode;
use actix_web::http::header::{self, HeaderValue};
use actix_web::{HttpRequest, HttpResponse, web};

pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.route(SLO_PATH, web::get().to(slo_redirect))
        .route(SLO_PATH, web::post().to(slo_post))
        .route(FRONT_PATH, web::get().to(front))
        .route(ANSWER_PATH, web::get().to(answer));
}

fn slo(state: &AppState) -> Slo<'_> {
    Slo {
        saml: &state.saml,
        apps: &state.apps,
        store: &state.store,
        sessions: &state.sessions,
        now: state.clock.now(),
    }
}

/// `GET /o/{org}/saml/slo`: a LogoutRequest or LogoutResponse over HTTP-Redirect (the raw
/// query as received, for its signature).
async fn slo_redirect(
    req: HttpRequest,
    org: CurrentOrg,
    state: web::Data<AppState>,
    MaybeSession(session): MaybeSession,
) -> HttpResponse {
    let incoming = Incoming::Redirect(req.query_string());
    let step = slo(&state)
        .receive(&org.0, incoming, session.as_ref())
        .await;
    respond(&req, &state, &org.0, step, session.map(|s| s.id)).await
}

/// `POST /o/{org}/saml/slo`: SOAP (a `text/xml` envelope, server to server) or an
/// HTTP-POST form (`SAMLRequest` or `SAMLResponse`). Cross-site by design, like the SSO POST:
/// every message must verify on its own (no CSRF token can come with it).
async fn slo_post(
    req: HttpRequest,
    org: CurrentOrg,
    state: web::Data<AppState>,
    body: web::Bytes,
    MaybeSession(session): MaybeSession,
) -> HttpResponse {
    let xml_body = req
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|t| t.starts_with("text/xml") || t.starts_with("application/soap+xml"));
    if xml_body {
        let Ok(envelope) = std::str::from_utf8(&body) else {
            return soap_refused("the body is not UTF-8");
        };
        let step = slo(&state)
            .receive(&org.0, Incoming::Soap(envelope), None)
            .await;
        return respond(&req, &state, &org.0, step, None).await;
    }
    let (mut request, mut response, mut relay) = (None, None, None);
    for (k, v) in url::form_urlencoded::parse(&body) {
        let slot = match k.as_ref() {
            "SAMLRequest" => &mut request,
            "SAMLResponse" => &mut response,
            "RelayState" => &mut relay,
            _ => continue,
        };
        if slot.replace(v.into_owned()).is_some() {
            return refused("Invalid SAML logout message", &format!("{k} given twice"));
        }
    }
    let (message, is_response) = match (request, response) {
        (Some(m), None) => (m, false),
        (None, Some(m)) => (m, true),
        _ => {
            return refused(
                "Invalid SAML logout message",
                "The form must hold one SAMLRequest or one SAMLResponse.",
            );
        }
    };
    let incoming = Incoming::Post {
        message: &message,
        response: is_response,
        relay_state: relay.as_deref(),
    };
    let step = slo(&state)
        .receive(&org.0, incoming, session.as_ref())
        .await;
    respond(&req, &state, &org.0, step, session.map(|s| s.id)).await
}

fn soap_refused(why: &str) -> HttpResponse {
    HttpResponse::BadRequest()
        .insert_header((header::CACHE_CONTROL, "no-store"))
        .content_type("text/plain; charset=utf-8")
        .body(format!("SAML logout refused: {why}"))
}

#[derive(serde::Deserialize)]
struct FrontQuery {
    d: String,
    t: String,
}

/// `GET /o/{org}/saml/slo/front?d=…&t=…`: a frame of the signed-out page (framed by our own
/// pages only).
async fn front(
    req: HttpRequest,
    org: CurrentOrg,
    state: web::Data<AppState>,
    q: web::Query<FrontQuery>,
) -> HttpResponse {
    let step = slo(&state).front_request(&org.0, &q.d, &q.t).await;
    framable(respond(&req, &state, &org.0, step, None).await)
}

#[derive(serde::Deserialize)]
struct AnswerQuery {
    r: String,
}

/// `GET /o/{org}/saml/slo/answer?r=…`: the LogoutResponse owed to the SP that asked to sign
/// out, sent once the signed-out page has told the other apps.
async fn answer(
    req: HttpRequest,
    org: CurrentOrg,
    state: web::Data<AppState>,
    q: web::Query<AnswerQuery>,
) -> HttpResponse {
    let step = slo(&state).answer(&org.0, &q.r).await;
    respond(&req, &state, &org.0, step, None).await
}

/// Lets our own pages frame this answer (the signed-out page's frames), no one else.
fn framable(mut res: HttpResponse) -> HttpResponse {
    let csp = crate::http::headers::CONTENT_SECURITY_POLICY
        .replace("frame-ancestors 'none'", "frame-ancestors 'self'");
    if let Ok(v) = HeaderValue::from_str(&csp) {
        res.headers_mut().insert(header::CONTENT_SECURITY_POLICY, v);
    }
    res.headers_mut().insert(
        header::X_FRAME_OPTIONS,
        HeaderValue::from_static("SAMEORIGIN"),
    );
    res
}

async fn respond(
    req: &HttpRequest,
    state: &AppState,
    org: &Org,
    step: SloStep,
    browser_session: Option<crate::sessions::SessionId>,
) -> HttpResponse {
    let soap = req.method() == actix_web::http::Method::POST
        && req
            .headers()
            .get(header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .is_some_and(|t| !t.starts_with("application/x-www-form-urlencoded"));
    match step {
        SloStep::Refused { message, .. } if soap => soap_refused(&message),
        SloStep::Refused { title, message } => refused(&title, &message),
        SloStep::Failed { outage } => failure_page(outage),
        SloStep::Redirect(url) => see_other(&url, []),
        SloStep::Post {
            url,
            field,
            value,
            relay_state,
        } => form_post(
            org,
            &url,
            &[
                (field, Some(value.as_str())),
                ("RelayState", relay_state.as_deref()),
            ],
        ),
        SloStep::Soap(body) => HttpResponse::Ok()
            .insert_header((header::CACHE_CONTROL, "no-store"))
            .content_type(crate::saml::soap::CONTENT_TYPE)
            .body(body),
        SloStep::Recorded { delivered } => framable(recorded(org, delivered)),
        SloStep::SignedOut { ended, answer } => {
            let next = format!("{}{answer}", org_path(org));
            let clear = browser_session.is_some_and(|s| ended.contains(&s));
            let sid = ended.first().copied();
            crate::slo::routes::signed_out(state, org, sid, Some(&next), clear).await
        }
    }
}

/// The end of a front-channel frame: what the SP answered.
fn recorded(org: &Org, delivered: bool) -> HttpResponse {
    let (title, text) = if delivered {
        ("Signed out of the app", "The app confirmed the sign-out.")
    } else {
        (
            "Sign-out not confirmed",
            "The app did not confirm the sign-out.",
        )
    };
    message(org, StatusCode::OK, title, text, None)
}
