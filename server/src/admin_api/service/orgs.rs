//! Orgs, for operators (admins of the platform org).

use super::*;
use crate::admin_api::ApiError;
use crate::state::AppState;

use crate::tenancy::{Org, TenancyError};
use portcullis_api_types::{OrgCreateRequest, OrgView, Page};

pub(super) fn org_view(state: &AppState, o: &Org) -> OrgView {
    OrgView {
        id: o.id.to_string(),
        slug: o.slug.as_str().to_owned(),
        name: o.name.clone(),
        status: o.status.as_str().to_owned(),
        issuer: o.issuer(state.config.public_url()),
        created_at: ts(o.created_at),
    }
}

pub async fn list_orgs(
    state: &AppState,
    who: &Principal,
    p: PageRequest,
) -> Result<Page<OrgView>, ApiError> {
    require_operator(who)?;
    let (orgs, total) = state
        .store
        .orgs_page(p.offset(), p.limit())
        .await
        .map_err(ApiError::internal)?;
    Ok(p.with(orgs.iter().map(|o| org_view(state, o)).collect(), total))
}

pub async fn create_org(
    state: &AppState,
    who: &Principal,
    req: OrgCreateRequest,
) -> Result<OrgView, ApiError> {
    require_operator(who)?;
    let alg = req
        .signing_alg
        .as_deref()
        .map(|a| a.parse::<crate::keys::SigningAlg>())
        .transpose()
        .map_err(|m| ApiError::field("signing_alg", m))?;
    let org = match state
        .orgs
        .create(&req.slug, req.name.as_deref(), &who.actor())
        .await
    {
        Ok(org) => org,
        Err(e @ TenancyError::InvalidSlug(_)) => {
            return Err(ApiError::field("slug", e.to_string()));
        }
        Err(e @ TenancyError::SlugTaken(_)) => return Err(ApiError::Conflict(e.to_string())),
        Err(e @ TenancyError::InvalidName) => return Err(ApiError::field("name", e.to_string())),
        Err(e) => return Err(ApiError::internal(e)),
    };
    state
        .keys
        .rotate(
            &org,
            Some(alg.unwrap_or(crate::keys::SigningAlg::Es256)),
            chrono::Duration::zero(),
        )
        .await
        .map_err(ApiError::internal)?;
    Ok(org_view(state, &org))
}

pub async fn set_org_status(
    state: &AppState,
    who: &Principal,
    slug: &str,
    active: bool,
) -> Result<OrgView, ApiError> {
    require_operator(who)?;
    if slug == crate::tenancy::PLATFORM_ORG_SLUG && !active {
        return Err(ApiError::Conflict(
            "the platform org cannot be disabled".into(),
        ));
    }
    let status = if active {
        crate::tenancy::OrgStatus::Active
    } else {
        crate::tenancy::OrgStatus::Disabled
    };
    match state.orgs.set_status(slug, status, &who.actor()).await {
        Ok(org) => Ok(org_view(state, &org)),
        Err(TenancyError::NotFound(_)) => Err(ApiError::NotFound("no such org".into())),
        Err(e) => Err(ApiError::internal(e)),
    }
}
