//! Apps: list, read, register, change, delete, rotate the secret.

use super::*;
use crate::admin_api::ApiError;
use crate::apps::{
    AcsRequest, App, AppError, AppId, AppType, ClientAuthMethod, CreateApp, GrantType, SamlRequest,
    SessionProfile, SessionRules,
};
use crate::state::AppState;

use crate::tenancy::Org;
use portcullis_api_types::{
    AppCreateRequest, AppView, AppWithSecret, Page, SamlAcsView, SamlAppRequest, SamlAppView,
    SessionRulesView, SpMetadataImport, TestLogoutView,
};

pub(super) fn rules_view(r: &SessionRules) -> SessionRulesView {
    SessionRulesView {
        reauth_max_age_secs: r.reauth_max_age_secs,
        mfa_required: r.mfa_required,
        idle_timeout_secs: r.idle_timeout_secs,
        lifetime_secs: r.lifetime_secs,
        outlives_idp_session: r.outlives_idp_session,
    }
}

pub fn app_view(a: &App) -> AppView {
    AppView {
        id: a.id.to_string(),
        client_id: a.client_id.clone(),
        name: a.name.clone(),
        app_type: a.app_type.as_str().to_owned(),
        redirect_uris: a
            .redirect_uris
            .iter()
            .map(|u| u.as_str().to_owned())
            .collect(),
        post_logout_redirect_uris: a
            .post_logout_redirect_uris
            .iter()
            .map(|u| u.as_str().to_owned())
            .collect(),
        backchannel_logout_uri: a
            .backchannel_logout_uri
            .as_ref()
            .map(|u| u.as_str().to_owned()),
        frontchannel_logout_uri: a
            .frontchannel_logout_uri
            .as_ref()
            .map(|u| u.as_str().to_owned()),
        session_profile: a.session_profile.as_str().to_owned(),
        session_rules: rules_view(&a.settings.session),
        first_party: a.settings.first_party,
        access_token_ttl_secs: a.settings.access_token_ttl_secs,
        id_token_ttl_secs: a.settings.id_token_ttl_secs,
        grant_types: a
            .settings
            .grant_types
            .iter()
            .map(|g| g.as_str().to_owned())
            .collect(),
        client_auth: if a.app_type.is_confidential() {
            a.settings.client_auth.as_str().to_owned()
        } else {
            "none".to_owned()
        },
        jwks: a.settings.jwks.as_ref().map(|j| j.to_string()),
        jwks_uri: a.settings.jwks_uri.as_ref().map(|u| u.as_str().to_owned()),
        require_par: a.settings.require_par,
        admin: a.admin,
        created_at: ts(a.created_at),
        dpop_required: a.settings.dpop.required,
        dpop_nonce_required: a.settings.dpop.nonce_required,
        saml: a.saml.as_ref().map(saml_view),
    }
}

fn saml_view(s: &crate::apps::SamlSettings) -> SamlAppView {
    SamlAppView {
        sp_entity_id: s.sp_entity_id.as_str().to_owned(),
        acs_urls: s
            .acs_urls
            .iter()
            .map(|a| SamlAcsView {
                index: a.index,
                binding: a.binding.as_str().to_owned(),
                url: a.url.as_str().to_owned(),
            })
            .collect(),
        default_acs_index: s.default_acs_index,
        slo_url: s.slo.as_ref().map(|e| e.url.as_str().to_owned()),
        slo_binding: s.slo.as_ref().map(|e| e.binding.as_str().to_owned()),
        name_id_format: s.name_id_format.as_str().to_owned(),
        attributes: s.attributes.iter().map(|a| a.as_str().to_owned()).collect(),
        sign_response: s.sign_response,
        sign_assertion: s.sign_assertion,
        sp_certificate: s.sp_certificate.as_ref().map(|c| c.as_pem().to_owned()),
        require_signed_requests: s.require_signed_requests,
        allow_sha1: s.allow_sha1,
        encrypt_assertions: s.encrypt_assertions,
        sp_encryption_certificate: s
            .sp_encryption_certificate
            .as_ref()
            .map(|c| c.as_pem().to_owned()),
        idp_initiated: s.idp_initiated,
        idp_initiated_relay_state: s.idp_initiated_relay_state.clone(),
    }
}

/// The `saml` object of a request over `current` (the app's settings when updating: absent
/// fields stay, an empty URL or certificate is removed; when creating, absent fields get the
/// defaults of `SamlRequest`).
/// An SP's metadata, read (the 422 names `saml.sp_metadata`).
fn sp_metadata(xml: &str) -> Result<crate::saml::sp_metadata::SpMetadata, ApiError> {
    crate::saml::sp_metadata::parse(xml).map_err(|e| {
        let message = match e {
            crate::saml::SamlError::Invalid(m) => m,
            other => other.to_string(),
        };
        ApiError::field("saml.sp_metadata", message)
    })
}

/// Reads an SP's metadata into the `saml` object it declares (nothing is saved): what the
/// console's register form fills itself with.
pub fn read_sp_metadata(xml: &str) -> Result<SpMetadataImport, ApiError> {
    let m = sp_metadata(xml)?;
    let r = m.apply(SamlRequest::default());
    Ok(SpMetadataImport {
        saml: SamlAppRequest {
            sp_entity_id: Some(r.sp_entity_id),
            acs_urls: Some(
                r.acs_urls
                    .into_iter()
                    .map(|a| portcullis_api_types::SamlAcsRequest {
                        url: a.url,
                        binding: a.binding,
                        index: a.index,
                    })
                    .collect(),
            ),
            default_acs_index: r.default_acs_index,
            slo_url: r.slo_url,
            slo_binding: r.slo_binding,
            name_id_format: r.name_id_format,
            sign_assertion: r.sign_assertion,
            sp_certificate: r.sp_certificate,
            require_signed_requests: Some(r.require_signed_requests),
            sp_encryption_certificate: r.sp_encryption_certificate,
            ..SamlAppRequest::default()
        },
        notes: m.notes,
    })
}

fn saml_request(
    req: SamlAppRequest,
    current: Option<&crate::apps::SamlSettings>,
) -> Result<SamlRequest, ApiError> {
    let mut out = current.map(SamlRequest::from_settings).unwrap_or_default();
    // The metadata first: the request's own fields override what it declares.
    if let Some(xml) = &req.sp_metadata {
        out = sp_metadata(xml)?.apply(out);
    }
    if let Some(v) = req.sp_entity_id {
        out.sp_entity_id = v;
    }
    if let Some(acs) = req.acs_urls {
        out.acs_urls = acs
            .into_iter()
            .map(|a| AcsRequest {
                url: a.url,
                binding: a.binding,
                index: a.index,
            })
            .collect();
        // New ACS URLs without a default named: the first of them.
        if req.default_acs_index.is_none() {
            out.default_acs_index = None;
        }
    }
    if req.default_acs_index.is_some() {
        out.default_acs_index = req.default_acs_index;
    }
    match req.slo_url {
        Some(u) if u.trim().is_empty() => {
            out.slo_url = None;
            out.slo_binding = None;
        }
        Some(u) => out.slo_url = Some(u),
        None => {}
    }
    if req.slo_binding.is_some() {
        out.slo_binding = req.slo_binding;
    }
    let given = |v: Option<String>, old: Option<String>| match v {
        Some(p) if p.trim().is_empty() => None,
        Some(p) => Some(p),
        None => old,
    };
    out.sp_certificate = given(req.sp_certificate, out.sp_certificate);
    out.sp_encryption_certificate =
        given(req.sp_encryption_certificate, out.sp_encryption_certificate);
    out.name_id_format = req.name_id_format.or(out.name_id_format);
    out.attributes = req.attributes.or(out.attributes);
    out.sign_response = req.sign_response.or(out.sign_response);
    out.sign_assertion = req.sign_assertion.or(out.sign_assertion);
    out.require_signed_requests = req
        .require_signed_requests
        .unwrap_or(out.require_signed_requests);
    out.allow_sha1 = req.allow_sha1.unwrap_or(out.allow_sha1);
    out.encrypt_assertions = req.encrypt_assertions.unwrap_or(out.encrypt_assertions);
    out.idp_initiated = req.idp_initiated.unwrap_or(out.idp_initiated);
    out.idp_initiated_relay_state =
        given(req.idp_initiated_relay_state, out.idp_initiated_relay_state);
    Ok(out)
}

/// Which OAuth-only fields a request gives (a SAML app takes none of them).
fn oauth_fields(
    grants: &Option<Vec<String>>,
    client_auth: &Option<String>,
    jwks: &Option<String>,
    jwks_uri: &Option<String>,
    [par, dpop]: [Option<bool>; 2],
) -> [(&'static str, bool); 6] {
    [
        ("grant_types", grants.is_some()),
        ("client_auth", client_auth.is_some()),
        ("jwks", jwks.is_some()),
        ("jwks_uri", jwks_uri.is_some()),
        ("require_par", par == Some(true)),
        ("dpop_required", dpop == Some(true)),
    ]
}

/// The SAML settings a create or update asks for over `current`: for a SAML app, the OAuth
/// fields given are refused first, each named in the 422 (whether `saml` fits the app's type
/// is the app service's check).
fn saml_part(
    is_saml: bool,
    oauth: [(&'static str, bool); 6],
    (saml, first_party): (Option<SamlAppRequest>, Option<bool>),
    current: Option<&crate::apps::SamlSettings>,
) -> Result<Option<SamlRequest>, ApiError> {
    if is_saml && let Some((field, _)) = oauth.iter().find(|(_, given)| *given) {
        return Err(ApiError::field(
            field,
            "a SAML app takes no OAuth settings (grants, client authentication, keys, PAR, DPoP)",
        ));
    }
    // SAML sign-in has no consent screen yet: an app that would need one is refused rather
    // than given the user's email and name without asking.
    if is_saml && first_party == Some(false) {
        return Err(ApiError::field(
            "first_party",
            "SAML apps are first party for now (there is no consent screen for SAML sign-in yet)",
        ));
    }
    Ok(match saml {
        Some(s) => Some(saml_request(s, current)?),
        None => current.map(SamlRequest::from_settings),
    })
}

/// The client authentication part of a create or update request, over `current` (the app's
/// settings when updating; empty `jwks`/`jwks_uri` remove them).
struct ClientAuthChange {
    method: ClientAuthMethod,
    jwks: Option<serde_json::Value>,
    jwks_uri: Option<String>,
}

fn client_auth_change(
    method: Option<&str>,
    jwks: Option<String>,
    jwks_uri: Option<String>,
    current: Option<&crate::apps::AppSettings>,
) -> Result<ClientAuthChange, ApiError> {
    let method = match method {
        Some(m) => m
            .parse::<ClientAuthMethod>()
            .map_err(|m| ApiError::field("client_auth", m))?,
        None => current.map_or(ClientAuthMethod::ClientSecret, |c| c.client_auth),
    };
    let jwks = match jwks {
        Some(j) if j.trim().is_empty() => None,
        Some(j) => Some(
            serde_json::from_str(&j)
                .map_err(|_| ApiError::field("jwks", "jwks must be a JWK Set in JSON"))?,
        ),
        None => current.and_then(|c| c.jwks.clone()),
    };
    let jwks_uri = match jwks_uri {
        Some(u) if u.trim().is_empty() => None,
        Some(u) => Some(u),
        None => current.and_then(|c| c.jwks_uri.as_ref().map(|u| u.as_str().to_owned())),
    };
    Ok(ClientAuthChange {
        method,
        jwks,
        jwks_uri,
    })
}

/// The grants of a request, by their wire names (`GrantType::from_str`).
fn parse_grants(raw: Option<Vec<String>>) -> Result<Option<Vec<GrantType>>, ApiError> {
    raw.map(|names| {
        names
            .iter()
            .map(|n| n.parse::<GrantType>())
            .collect::<Result<Vec<_>, _>>()
            .map_err(|m| ApiError::field("grant_types", m))
    })
    .transpose()
}

pub(super) fn app_error(e: AppError) -> ApiError {
    match e {
        AppError::InvalidSaml(s) => ApiError::field(&format!("saml.{}", s.field), s.message),
        AppError::MissingSaml | AppError::SamlSettingsOnOidcApp => {
            ApiError::field("saml", e.to_string())
        }
        AppError::SamlWithOidcSettings => ApiError::field("redirect_uris", e.to_string()),
        AppError::EntityIdTaken => ApiError::Conflict(e.to_string()),
        AppError::InvalidName => ApiError::field("name", e.to_string()),
        AppError::InvalidUri(ref u) => ApiError::field("redirect_uris", u.to_string()),
        AppError::MissingRedirectUri(_) => ApiError::field("redirect_uris", e.to_string()),
        AppError::ServiceWithUris => ApiError::field("redirect_uris", e.to_string()),
        AppError::InvalidSettings(m) if m.contains("private_key_jwt") => {
            ApiError::field("client_auth", m)
        }
        AppError::InvalidSettings(m) if m.contains("JWK") => ApiError::field("jwks", m),
        AppError::InvalidSettings(m) if m.contains("grant") => ApiError::field("grant_types", m),
        AppError::InvalidSettings(m) => ApiError::field("session_rules", m),
        AppError::ClientIdTaken => ApiError::Conflict(e.to_string()),
        AppError::TooManyUris { .. } => ApiError::field("redirect_uris", e.to_string()),
        AppError::TooManyApps(_) => ApiError::Conflict(e.to_string()),
        other => ApiError::internal(other),
    }
}

pub async fn list_apps(
    state: &AppState,
    org: &Org,
    p: PageRequest,
) -> Result<Page<AppView>, ApiError> {
    let (apps, total) = state
        .store
        .apps_page(org.id, p.offset(), p.limit())
        .await
        .map_err(ApiError::internal)?;
    Ok(p.with(apps.iter().map(app_view).collect(), total))
}

pub async fn get_app(state: &AppState, org: &Org, id: &str) -> Result<App, ApiError> {
    let id = AppId(parse_id(id, "app")?);
    state
        .store
        .app_by_id(org.id, id)
        .await
        .map_err(ApiError::internal)?
        .ok_or_else(|| ApiError::NotFound("no such app".into()))
}

pub async fn create_app(
    state: &AppState,
    org: &Org,
    who: &Principal,
    mut req: AppCreateRequest,
) -> Result<AppWithSecret, ApiError> {
    let app_type = match req.app_type.as_deref().unwrap_or("web").parse::<AppType>() {
        Ok(t) => t,
        Err(m) => return Err(ApiError::field("app_type", m)),
    };
    let profile = match req
        .session_profile
        .as_deref()
        .unwrap_or("standard")
        .parse::<SessionProfile>()
    {
        Ok(p) => p,
        Err(m) => return Err(ApiError::field("session_profile", m)),
    };
    let oauth = oauth_fields(
        &req.grant_types,
        &req.client_auth,
        &req.jwks,
        &req.jwks_uri,
        [req.require_par, req.dpop_required],
    );
    let saml = saml_part(
        app_type == AppType::Saml,
        oauth,
        (req.saml.take(), req.first_party),
        None,
    )?;
    let auth = client_auth_change(req.client_auth.as_deref(), req.jwks, req.jwks_uri, None)?;
    let create = CreateApp {
        saml,
        redirect_uris: req.redirect_uris,
        post_logout_redirect_uris: req.post_logout_redirect_uris,
        backchannel_logout_uri: req.backchannel_logout_uri,
        frontchannel_logout_uri: req.frontchannel_logout_uri,
        session_profile: profile,
        rules: req.session_rules.map(|r| SessionRules {
            reauth_max_age_secs: r.reauth_max_age_secs,
            mfa_required: r.mfa_required,
            idle_timeout_secs: r.idle_timeout_secs,
            lifetime_secs: r.lifetime_secs,
            outlives_idp_session: r.outlives_idp_session,
        }),
        first_party: req.first_party.unwrap_or(true),
        access_token_ttl_secs: req.access_token_ttl_secs,
        id_token_ttl_secs: req.id_token_ttl_secs,
        client_auth: auth.method,
        jwks: auth.jwks,
        jwks_uri: auth.jwks_uri,
        require_par: req.require_par.unwrap_or(false),
        dpop: crate::apps::DpopRules {
            required: req.dpop_required.unwrap_or(false),
            nonce_required: req.dpop_nonce_required.unwrap_or(false),
        },
        grant_types: parse_grants(req.grant_types)?,
        ..CreateApp::new(&req.name, app_type)
    };
    let (app, secret) = state
        .apps
        .create(org, create, &who.actor())
        .await
        .map_err(app_error)?;
    Ok(AppWithSecret {
        app: app_view(&app),
        client_secret: secret,
    })
}

pub async fn delete_app(state: &AppState, org: &Org, id: &str) -> Result<(), ApiError> {
    let app = get_app(state, org, id).await?;
    match state.apps.delete(org, &app).await {
        Ok(()) => Ok(()),
        Err(AppError::Store(crate::store::StoreError::NotFound)) => {
            Err(ApiError::NotFound("no such app".into()))
        }
        Err(e) => Err(app_error(e)),
    }
}

pub async fn rotate_secret(
    state: &AppState,
    org: &Org,
    who: &Principal,
    id: &str,
) -> Result<AppWithSecret, ApiError> {
    let app = get_app(state, org, id).await?;
    if app.app_type == AppType::Saml {
        return Err(ApiError::Conflict("a SAML app has no secret".into()));
    }
    if !app.app_type.is_confidential() {
        return Err(ApiError::Conflict("a public app has no secret".into()));
    }
    let secret = state
        .apps
        .rotate_secret(org, &app, &who.actor())
        .await
        .map_err(app_error)?;
    Ok(AppWithSecret {
        app: app_view(&app),
        client_secret: Some(secret),
    })
}

/// The session profile and rules an update asks for: new rules as given, a new profile alone
/// with its preset, else the app's.
fn profile_and_rules(
    req: &portcullis_api_types::AppUpdateRequest,
    app: &App,
) -> Result<(SessionProfile, SessionRules), ApiError> {
    let profile = match req.session_profile.as_deref() {
        Some(p) => p
            .parse::<SessionProfile>()
            .map_err(|m| ApiError::field("session_profile", m))?,
        None => app.session_profile,
    };
    let rules = match (&req.session_rules, &req.session_profile) {
        (Some(r), _) => SessionRules {
            reauth_max_age_secs: r.reauth_max_age_secs,
            mfa_required: r.mfa_required,
            idle_timeout_secs: r.idle_timeout_secs,
            lifetime_secs: r.lifetime_secs,
            outlives_idp_session: r.outlives_idp_session,
        },
        (None, Some(_)) => profile.preset(),
        (None, None) => app.settings.session,
    };
    Ok((profile, rules))
}

pub async fn update_app(
    state: &AppState,
    org: &Org,
    who: &Principal,
    id: &str,
    mut req: portcullis_api_types::AppUpdateRequest,
) -> Result<AppView, ApiError> {
    let app = get_app(state, org, id).await?;
    let (profile, rules) = profile_and_rules(&req, &app)?;
    let uris =
        |v: &[crate::apps::AppUri]| v.iter().map(|u| u.as_str().to_owned()).collect::<Vec<_>>();
    let logout = |changed: Option<String>, current: &Option<crate::apps::AppUri>| match changed {
        Some(u) if u.is_empty() => None,
        Some(u) => Some(u),
        None => current.as_ref().map(|u| u.as_str().to_owned()),
    };
    let oauth = oauth_fields(
        &req.grant_types,
        &req.client_auth,
        &req.jwks,
        &req.jwks_uri,
        [req.require_par, req.dpop_required],
    );
    let is_saml = app.app_type == AppType::Saml;
    let saml = saml_part(
        is_saml,
        oauth,
        (req.saml.take(), req.first_party),
        app.saml.as_ref(),
    )?;
    let auth = client_auth_change(
        req.client_auth.as_deref(),
        req.jwks,
        req.jwks_uri,
        Some(&app.settings),
    )?;
    let change = CreateApp {
        saml,
        redirect_uris: req
            .redirect_uris
            .unwrap_or_else(|| uris(&app.redirect_uris)),
        post_logout_redirect_uris: req
            .post_logout_redirect_uris
            .unwrap_or_else(|| uris(&app.post_logout_redirect_uris)),
        backchannel_logout_uri: logout(req.backchannel_logout_uri, &app.backchannel_logout_uri),
        frontchannel_logout_uri: logout(req.frontchannel_logout_uri, &app.frontchannel_logout_uri),
        session_profile: profile,
        rules: Some(rules),
        first_party: req.first_party.unwrap_or(app.settings.first_party),
        access_token_ttl_secs: Some(
            req.access_token_ttl_secs
                .unwrap_or(app.settings.access_token_ttl_secs),
        ),
        id_token_ttl_secs: Some(
            req.id_token_ttl_secs
                .unwrap_or(app.settings.id_token_ttl_secs),
        ),
        grant_types: Some(
            parse_grants(req.grant_types)?.unwrap_or_else(|| app.settings.grant_types.clone()),
        ),
        client_auth: auth.method,
        jwks: auth.jwks,
        jwks_uri: auth.jwks_uri,
        require_par: req.require_par.unwrap_or(app.settings.require_par),
        dpop: crate::apps::DpopRules {
            required: req.dpop_required.unwrap_or(app.settings.dpop.required),
            nonce_required: req
                .dpop_nonce_required
                .unwrap_or(app.settings.dpop.nonce_required),
        },
        ..CreateApp::new(req.name.as_deref().unwrap_or(&app.name), app.app_type)
    };
    let updated = state
        .apps
        .update(org, &app, change, &who.actor())
        .await
        .map_err(app_error)?;
    Ok(app_view(&updated))
}

/// Sends the app one test logout token to its back-channel URI and says what the receiver
/// answered (409 when the app has none).
pub async fn send_test_logout(
    state: &AppState,
    org: &Org,
    who: &Principal,
    id: &str,
) -> Result<TestLogoutView, ApiError> {
    let app = get_app(state, org, id).await?;
    match state.slo.send_test_logout(org, &app, &who.actor()).await {
        Ok(t) => Ok(TestLogoutView {
            sid: t.sid,
            delivered: t.delivered,
            http_status: t.http_status,
            error: t.error,
        }),
        Err(e @ crate::slo::TestLogoutError::NoUri) => Err(ApiError::Conflict(e.to_string())),
        Err(e) => Err(ApiError::internal(e)),
    }
}
