//! Path-based org resolution: the scope middleware for `/o/{org}/…` and the `CurrentOrg`
//! extractor that handlers use.

use super::error::tenancy_error;
use crate::app::AppState;
use crate::tenancy::Org;
use actix_web::body::{BoxBody, MessageBody};
use actix_web::dev::{Payload, ServiceRequest, ServiceResponse};
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
