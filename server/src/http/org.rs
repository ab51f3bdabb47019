//! Path-based org resolution: the scope middleware for `/o/{org}/…` and the `CurrentOrg`
//! extractor that handlers use.

use super::error::tenancy_error;
use crate::limits::Pace;
use crate::state::AppState;
use crate::tenancy::Org;
use actix_web::body::{BoxBody, MessageBody};
use actix_web::dev::{Payload, ServiceRequest, ServiceResponse};
use actix_web::http::Method;
use actix_web::middleware::Next;
use actix_web::{Error, FromRequest, HttpMessage, HttpRequest, web};
use std::future::{Future, Ready, ready};
use std::pin::Pin;

/// The active org this request is addressed to. Only available under `/o/{org}`, where the
/// middleware has already refused unknown and disabled orgs.
#[derive(Debug, Clone)]
pub struct CurrentOrg(pub Org);

/// Resolves `{org}` before any handler of the scope runs: unknown → 404, disabled → 403, for
/// every endpoint of the org, present and future.
pub async fn resolve_org(
    req: ServiceRequest,
    next: Next<impl MessageBody + 'static>,
) -> Result<ServiceResponse<BoxBody>, Error> {
    let slug = req.match_info().get("org").unwrap_or_default().to_owned();
    let Some(state) = req.app_data::<web::Data<AppState>>().cloned() else {
        return Err(actix_web::error::ErrorInternalServerError(
            "application state missing",
        ));
    };
    match state.orgs.resolve_active(&slug).await {
        Ok(org) => {
            req.extensions_mut().insert(CurrentOrg(org));
            Ok(next.call(req).await?.map_into_boxed_body())
        }
        Err(err) => {
            let (req, _) = req.into_parts();
            Ok(ServiceResponse::new(req, tenancy_error(&err)))
        }
    }
}

/// POSTs under `/o/{org}` that anyone may send and that cost the server (a password check, a
/// stored ceremony, flow or email): paced per client (`security.anonymous_per_ip_per_second`),
/// like every CORS preflight of the org.
const PACED_POSTS: &[&str] = &[
    "/login",
    "/login/recovery",
    "/password/forgot",
    "/password/reset",
    "/webauthn/passkey-login/start",
    "/webauthn/passkey-login/finish",
    "/signup",
    "/verify-email",
    "/verify-email/resend",
];

/// Anonymous SAML endpoints, paced whatever the method: each SSO request is parsed, verified
/// and stored (its single-use request id and the pending request), and the metadata of an org
/// may make its first RSA key; each logout message is parsed and verified.
const PACED_ANY: &[&str] = &[
    "/saml/sso",
    "/saml/metadata",
    "/saml/slo",
    "/saml/slo/front",
    "/saml/slo/answer",
];

/// Paces a client's anonymous requests to any org (`limits::Pacer`), before the org is even
/// resolved: within the client's pace they go on at once, a little ahead of it they wait their
/// turn, further ahead they get 429 with `Retry-After`.
pub async fn pace_anonymous(
    req: ServiceRequest,
    next: Next<impl MessageBody + 'static>,
) -> Result<ServiceResponse<BoxBody>, Error> {
    let method = req.method();
    let path = req.match_info().unprocessed();
    let paced = method == Method::OPTIONS
        || (method == Method::POST && PACED_POSTS.contains(&path))
        || PACED_ANY.contains(&path);
    if let Some(state) = req.app_data::<web::Data<AppState>>().filter(|_| paced) {
        let client = crate::limits::limit_subject(&super::pages::client_ip(req.request(), state));
        let refused = match state.pacer.admit(&client) {
            Pace::Now => None,
            Pace::After(wait) => match state.pacer.hold() {
                Some(_held) => {
                    tokio::time::sleep(wait).await;
                    None
                }
                // The node holds as many as it will: refused at once.
                None => Some(chrono::Duration::seconds(1)),
            },
            Pace::Refused(limited) => Some(limited.retry_after),
        };
        if let Some(retry_after) = refused {
            let json = req.match_info().unprocessed().starts_with("/webauthn/");
            let (req, _) = req.into_parts();
            let res = super::error::too_many_requests(json, retry_after);
            return Ok(ServiceResponse::new(req, res));
        }
    }
    Ok(next.call(req).await?.map_into_boxed_body())
}

impl FromRequest for CurrentOrg {
    type Error = Error;
    type Future = Ready<Result<Self, Error>>;

    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        ready(
            req.extensions()
                .get::<CurrentOrg>()
                .cloned()
                .ok_or_else(|| actix_web::error::ErrorNotFound("not an org route")),
        )
    }
}

/// The active org of a public metadata request (discovery), routed outside the `/o/{org}`
/// scope: resolved by `OrgService::resolve_public` from the node's own short-lived copy,
/// refused like the scope refuses (unknown → 404, disabled → 403).
#[derive(Debug, Clone)]
pub struct PublicOrg(pub Org);

impl FromRequest for PublicOrg {
    type Error = Error;
    type Future = Pin<Box<dyn Future<Output = Result<Self, Error>>>>;

    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        let slug = req.match_info().get("org").unwrap_or_default().to_owned();
        let state = req.app_data::<web::Data<AppState>>().cloned();
        Box::pin(async move {
            let state = state.ok_or_else(|| {
                actix_web::error::ErrorInternalServerError("application state missing")
            })?;
            match state.orgs.resolve_public(&slug).await {
                Ok(org) => Ok(PublicOrg(org)),
                Err(err) => {
                    let refusal = tenancy_error(&err);
                    Err(actix_web::error::InternalError::from_response(err, refusal).into())
                }
            }
        })
    }
}
