//! App registration rules: URI validation, client ids and secrets.
//!
//! Secrets are 256-bit random values shown once; only their SHA-256 is stored. A fast hash is
//! right here (unlike passwords): the input has full entropy, so there is nothing to brute-force,
//! and the compare is constant-time.

use super::error::AppError;
use super::model::ClientAuthMethod;
use super::model::{
    App, AppId, AppSettings, AppType, AppUri, DpopRules, GrantType, NewApp, SessionProfile,
    SessionRules,
};
use super::saml::{AppUriRules, SamlRequest, SamlSettings};
use crate::clock::SharedClock;
use crate::outbound::OutboundPolicy;
use crate::secrets::{constant_time_eq, random_token, sha256_hex};
use crate::store::cache::{Cache, CacheKey};
use crate::store::{Store, StoreError};
use crate::tenancy::{Org, OrgId};
use std::time::Duration;

/// Client id of the console app every org gets on first use.
pub const CONSOLE_CLIENT_ID: &str = "portcullis-console";

/// How long a node keeps an org's SPA origins (a shared cache is dropped on every change; an
/// in-process copy lives at most a second, see `Cache::copy_ttl`).
const SPA_ORIGINS_TTL: Duration = Duration::from_secs(300);

fn spa_origins_key(org: OrgId) -> CacheKey {
    CacheKey::org_copy(org, "spa-origins", "all")
}

/// How long a node keeps an app (and its secret's hash) by client id; every change of the app
/// drops it on every node (`app_changed`).
const APP_TTL: Duration = Duration::from_secs(300);

/// The copy of an app by client id (hashed: the id comes from requests and may be any string).
fn app_key(org: OrgId, client_id: &str) -> CacheKey {
    CacheKey::org_copy(org, "app", &sha256_hex(client_id))
}

/// What client authentication needs of an app: the app, and the SHA-256 of its secret (None
/// for public apps). A fast hash of a 256-bit secret: nothing to brute-force in a copy of it.
#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
pub struct ClientRecord {
    pub app: App,
    pub secret_hash: Option<String>,
}

#[derive(Debug, Clone)]
pub struct AppService {
    store: Store,
    cache: Cache,
    clock: SharedClock,
    allow_plain_http: bool,
    outbound: OutboundPolicy,
}

/// An app as requested by the CLI or API, before validation.
#[derive(Debug, Clone)]
pub struct CreateApp {
    pub name: String,
    pub app_type: AppType,
    pub redirect_uris: Vec<String>,
    pub post_logout_redirect_uris: Vec<String>,
    pub backchannel_logout_uri: Option<String>,
    pub frontchannel_logout_uri: Option<String>,
    pub session_profile: SessionProfile,
    pub admin: bool,
    /// The profile's preset when None; any field may differ from it.
    pub rules: Option<SessionRules>,
    /// First-party apps skip the consent screen.
    pub first_party: bool,
    pub access_token_ttl_secs: Option<i64>,
    pub id_token_ttl_secs: Option<i64>,
    /// None = the defaults of the app type (code + refresh, or client credentials).
    pub grant_types: Option<Vec<GrantType>>,
    /// How a confidential app authenticates: its secret (the default) or `private_key_jwt`
    /// with its keys in `jwks` or at `jwks_uri`.
    pub client_auth: ClientAuthMethod,
    pub jwks: Option<serde_json::Value>,
    pub jwks_uri: Option<String>,
    /// Authorization requests must be pushed first (PAR).
    pub require_par: bool,
    /// DPoP required, and with a server nonce (default: neither).
    pub dpop: DpopRules,
    /// A SAML app's settings (required for one, refused for any other type).
    pub saml: Option<SamlRequest>,
}

impl CreateApp {
    /// A first-party app of this type with the standard profile and no URIs yet.
    pub fn new(name: &str, app_type: AppType) -> Self {
        Self {
            name: name.to_owned(),
            app_type,
            redirect_uris: Vec::new(),
            post_logout_redirect_uris: Vec::new(),
            backchannel_logout_uri: None,
            frontchannel_logout_uri: None,
            session_profile: SessionProfile::Standard,
            admin: false,
            rules: None,
            first_party: true,
            access_token_ttl_secs: None,
            id_token_ttl_secs: None,
            grant_types: None,
            client_auth: ClientAuthMethod::ClientSecret,
            jwks: None,
            jwks_uri: None,
            require_par: false,
            dpop: DpopRules::default(),
            saml: None,
        }
    }

    /// An app's registration as it stands (to change some of it with `AppService::update`).
    pub fn from_app(app: &App) -> Self {
        let uris = |v: &[AppUri]| v.iter().map(|u| u.as_str().to_owned()).collect();
        Self {
            name: app.name.clone(),
            app_type: app.app_type,
            redirect_uris: uris(&app.redirect_uris),
            post_logout_redirect_uris: uris(&app.post_logout_redirect_uris),
            backchannel_logout_uri: app
                .backchannel_logout_uri
                .as_ref()
                .map(|u| u.as_str().to_owned()),
            frontchannel_logout_uri: app
                .frontchannel_logout_uri
                .as_ref()
                .map(|u| u.as_str().to_owned()),
            session_profile: app.session_profile,
            admin: app.admin,
            rules: Some(app.settings.session),
            first_party: app.settings.first_party,
            access_token_ttl_secs: Some(app.settings.access_token_ttl_secs),
            id_token_ttl_secs: Some(app.settings.id_token_ttl_secs),
            grant_types: Some(app.settings.grant_types.clone()),
            client_auth: app.settings.client_auth,
            jwks: app.settings.jwks.clone(),
            jwks_uri: app
                .settings
                .jwks_uri
                .as_ref()
                .map(|u| u.as_str().to_owned()),
            require_par: app.settings.require_par,
            dpop: app.settings.dpop,
            saml: app.saml.as_ref().map(SamlRequest::from_settings),
        }
    }

    /// The name, trimmed: 1 to 200 characters.
    fn checked_name(&self) -> Result<String, AppError> {
        let name = self.name.trim().to_owned();
        if name.is_empty() || name.chars().count() > 200 {
            return Err(AppError::InvalidName);
        }
        Ok(name)
    }

    /// At most `MAX_REDIRECT_URIS_PER_APP` of each kind of redirect URI.
    fn check_uri_counts(&self) -> Result<(), AppError> {
        for (what, uris) in [
            ("redirect URIs", &self.redirect_uris),
            ("post-logout redirect URIs", &self.post_logout_redirect_uris),
        ] {
            if uris.len() > super::model::MAX_REDIRECT_URIS_PER_APP {
                return Err(AppError::TooManyUris {
                    what,
                    limit: super::model::MAX_REDIRECT_URIS_PER_APP,
                });
            }
        }
        Ok(())
    }

    /// The defaults of the app type and profile with what was asked for instead, if valid
    /// (`jwks_uri` already checked as a URI).
    fn settings(&self, jwks_uri: Option<AppUri>) -> Result<AppSettings, AppError> {
        let t = self.app_type;
        let mut settings = AppSettings::defaults(t, self.session_profile);
        if let Some(rules) = self.rules {
            settings.session = rules;
        }
        settings.first_party = self.first_party;
        if let Some(ttl) = self.access_token_ttl_secs {
            settings.access_token_ttl_secs = ttl;
        }
        if let Some(ttl) = self.id_token_ttl_secs {
            settings.id_token_ttl_secs = ttl;
        }
        if let Some(grants) = &self.grant_types {
            settings.grant_types = grants.clone();
        }
        settings.client_auth = self.client_auth;
        settings.jwks = self.jwks.clone();
        settings.jwks_uri = jwks_uri;
        settings.require_par = self.require_par;
        settings.dpop = self.dpop;
        settings.validate(t).map_err(AppError::InvalidSettings)?;
        Ok(settings)
    }
}

impl AppService {
    pub fn new(
        store: Store,
        cache: Cache,
        clock: SharedClock,
        allow_plain_http: bool,
        outbound: OutboundPolicy,
    ) -> Self {
        Self {
            store,
            cache,
            clock,
            allow_plain_http,
            outbound,
        }
    }

    fn uri(&self, raw: &str, app_type: AppType) -> Result<AppUri, AppError> {
        Ok(AppUri::parse(raw, app_type, self.allow_plain_http)?)
    }

    /// Validates the whole request, then writes app, URIs and audit event in one transaction.
    /// Returns the app and, for confidential apps, the secret (the only time it is visible).
    pub async fn create(
        &self,
        org: &Org,
        req: CreateApp,
        actor: &str,
    ) -> Result<(App, Option<String>), AppError> {
        self.create_inner(org, req, None, actor).await
    }

    /// As `create`, with a client id and secret chosen by the caller: only for `serve --demo`,
    /// whose sample apps need credentials known in advance (they are public, like the demo
    /// passwords).
    pub async fn create_with_credentials(
        &self,
        org: &Org,
        req: CreateApp,
        client_id: &str,
        secret: &str,
        actor: &str,
    ) -> Result<(App, Option<String>), AppError> {
        self.create_inner(org, req, Some((client_id, secret)), actor)
            .await
    }

    /// Checks a whole registration (name, URIs, settings) and builds what the store writes,
    /// without credentials (also what an org import's apps pass: `export::service`).
    pub(crate) fn validated(&self, req: CreateApp) -> Result<NewApp, AppError> {
        let name = req.checked_name()?;
        let t = req.app_type;
        req.check_uri_counts()?;
        let redirect_uris = self.uris(&req.redirect_uris, t)?;
        let post_logout_redirect_uris = self.uris(&req.post_logout_redirect_uris, t)?;
        let backchannel_logout_uri = req
            .backchannel_logout_uri
            .as_deref()
            .map(|u| self.backchannel_uri(u))
            .transpose()?;
        let frontchannel_logout_uri = req
            .frontchannel_logout_uri
            .as_deref()
            .map(|u| self.uri(u, AppType::Web))
            .transpose()?;
        if t == AppType::Service
            && (!redirect_uris.is_empty()
                || !post_logout_redirect_uris.is_empty()
                || frontchannel_logout_uri.is_some())
        {
            return Err(AppError::ServiceWithUris);
        }
        // Key material: https (plain http only on a loopback host, or with the danger flag);
        // whether the server may reach the target is decided when it connects.
        let jwks_uri = req
            .jwks_uri
            .as_deref()
            .map(|u| self.uri(u, AppType::Web))
            .transpose()?;
        let settings = req.settings(jwks_uri)?;
        let saml = self.saml_settings(&req)?;
        // Only the code grant comes back to a redirect URI (a device-only app needs none).
        if t != AppType::Service
            && redirect_uris.is_empty()
            && settings.grant_types.contains(&GrantType::AuthorizationCode)
        {
            return Err(AppError::MissingRedirectUri(t.as_str()));
        }
        Ok(NewApp {
            client_id: String::new(),
            client_secret_hash: None,
            name,
            app_type: t,
            redirect_uris,
            post_logout_redirect_uris,
            backchannel_logout_uri,
            frontchannel_logout_uri,
            session_profile: req.session_profile,
            admin: req.admin,
            settings,
            saml,
        })
    }

    /// A SAML app's settings, checked; a SAML app has no OIDC URIs or admin role, and no
    /// other app has SAML settings.
    fn saml_settings(&self, req: &CreateApp) -> Result<Option<SamlSettings>, AppError> {
        if req.app_type != AppType::Saml {
            return match req.saml {
                Some(_) => Err(AppError::SamlSettingsOnOidcApp),
                None => Ok(None),
            };
        }
        let oidc = !req.redirect_uris.is_empty()
            || !req.post_logout_redirect_uris.is_empty()
            || req.backchannel_logout_uri.is_some()
            || req.frontchannel_logout_uri.is_some()
            || req.admin;
        if oidc {
            return Err(AppError::SamlWithOidcSettings);
        }
        let saml = req.saml.as_ref().ok_or(AppError::MissingSaml)?;
        let allowed = |ip| self.outbound.explicitly_allowed(ip);
        let rules = AppUriRules {
            allow_plain_http: self.allow_plain_http,
            allowed: &allowed,
        };
        Ok(Some(saml.validate(&rules)?))
    }

    /// Which unique value a refused write collided with: a SAML app's entity id when another
    /// app of the org has it, else the client id.
    async fn conflict(&self, org: OrgId, new: &NewApp) -> AppError {
        let Some(saml) = &new.saml else {
            return AppError::ClientIdTaken;
        };
        match self
            .store
            .saml_app_by_entity_id(org, saml.sp_entity_id.as_str())
            .await
        {
            Ok(Some(other)) if other.client_id != new.client_id => AppError::EntityIdTaken,
            Ok(_) => AppError::ClientIdTaken,
            Err(e) => e.into(),
        }
    }

    fn uris(&self, raw: &[String], app_type: AppType) -> Result<Vec<AppUri>, AppError> {
        raw.iter().map(|u| self.uri(u, app_type)).collect()
    }

    /// Logout notifications are server-to-server or iframe loads: never a custom scheme.
    /// Back-channel URIs are https, or http where the target is allowed: loopback as for
    /// every app URI, or an address in `outbound.allow_private`. Whether the server may
    /// reach the target at all is decided when it connects (`crate::outbound`).
    fn backchannel_uri(&self, raw: &str) -> Result<AppUri, AppError> {
        Ok(AppUri::parse_backchannel(
            raw,
            self.allow_plain_http,
            |ip| self.outbound.explicitly_allowed(ip),
        )?)
    }

    async fn create_inner(
        &self,
        org: &Org,
        req: CreateApp,
        fixed: Option<(&str, &str)>,
        actor: &str,
    ) -> Result<(App, Option<String>), AppError> {
        let mut new = self.validated(req)?;
        let t = new.app_type;
        let (client_id, secret) = match fixed {
            Some((id, secret)) => (
                id.to_owned(),
                t.is_confidential().then(|| secret.to_owned()),
            ),
            None => (
                random_token(16)?,
                if t.is_confidential() {
                    Some(random_token(32)?)
                } else {
                    None
                },
            ),
        };
        new.client_id = client_id;
        new.client_secret_hash = secret.as_deref().map(sha256_hex);
        match self
            .store
            .create_app(
                org.id,
                &new,
                super::model::MAX_APPS_PER_ORG,
                actor,
                self.clock.now(),
            )
            .await
        {
            Ok(Some(app)) => {
                self.app_changed(org.id, &app.client_id).await;
                Ok((app, secret))
            }
            Ok(None) => Err(AppError::TooManyApps(super::model::MAX_APPS_PER_ORG)),
            Err(StoreError::Conflict) => Err(self.conflict(org.id, &new).await),
            Err(e) => Err(e.into()),
        }
    }

    /// The org's console app (a public SPA with the admin role, client id
    /// `portcullis-console`, redirect URI `{public_url}/console/`), created on first use. The
    /// org's MFA policy applies to admins signing in through it like to anyone else.
    pub async fn ensure_console_app(&self, org: &Org, public_url: &str) -> Result<App, AppError> {
        if let Some(app) = self
            .store
            .app_by_client_id(org.id, CONSOLE_CLIENT_ID)
            .await?
        {
            return Ok(app);
        }
        let console = format!("{public_url}/console/");
        let req = CreateApp {
            redirect_uris: vec![console.clone()],
            post_logout_redirect_uris: vec![console],
            admin: true,
            rules: Some(SessionRules {
                reauth_max_age_secs: None,
                mfa_required: false,
                idle_timeout_secs: Some(30 * 60),
                lifetime_secs: 8 * 3600,
                outlives_idp_session: false,
            }),
            ..CreateApp::new("Portcullis console", AppType::Spa)
        };
        match self
            .create_with_credentials(org, req, CONSOLE_CLIENT_ID, "", "system")
            .await
        {
            Ok((app, _)) => Ok(app),
            // Another request made it first.
            Err(AppError::ClientIdTaken) => self
                .store
                .app_by_client_id(org.id, CONSOLE_CLIENT_ID)
                .await?
                .ok_or(AppError::ClientIdTaken),
            Err(e) => Err(e),
        }
    }

    /// Replaces an app's registration with `req` (its client id, secret, type and role stay):
    /// the same checks as at creation.
    pub async fn update(
        &self,
        org: &Org,
        app: &App,
        mut req: CreateApp,
        actor: &str,
    ) -> Result<App, AppError> {
        req.app_type = app.app_type;
        req.admin = app.admin;
        let mut new = self.validated(req)?;
        new.client_id = app.client_id.clone();
        match self
            .store
            .update_app(org.id, app.id, &new, actor, self.clock.now())
            .await
        {
            Ok(app) => {
                self.app_changed(org.id, &app.client_id).await;
                Ok(app)
            }
            Err(StoreError::Conflict) => Err(self.conflict(org.id, &new).await),
            Err(e) => Err(e.into()),
        }
    }

    /// Deletes an app (its URIs, sessions and tokens go with it).
    pub async fn delete(&self, org: &Org, app: &App) -> Result<(), AppError> {
        let deleted = self.store.delete_app(org.id, app.id).await;
        // Also after a failure: the transaction may have committed before the error.
        self.app_changed(org.id, &app.client_id).await;
        Ok(deleted?)
    }

    /// The SAML app of the org whose SP has this entity id (the `Issuer` of its requests).
    pub async fn saml_app(&self, org: OrgId, entity_id: &str) -> Result<Option<App>, StoreError> {
        self.store.saml_app_by_entity_id(org, entity_id).await
    }

    /// The org's SAML apps its users may start from the account page (id, name).
    pub async fn idp_initiated_saml_apps(
        &self,
        org: OrgId,
    ) -> Result<Vec<(AppId, String)>, StoreError> {
        self.store.idp_initiated_saml_apps(org).await
    }

    /// The SAML app of the org with this id (`None` for an OIDC app or another org's id).
    pub async fn saml_app_by_id(&self, org: OrgId, id: AppId) -> Result<Option<App>, StoreError> {
        Ok(self
            .store
            .app_by_id(org, id)
            .await?
            .filter(|a| a.saml.is_some()))
    }

    /// The OIDC client with this client id, for client authentication, /authorize and token
    /// checks: a cached copy (one per client id, dropped on every node when the app changes),
    /// else the database. Unknown client ids are not remembered. A SAML app is no OAuth client:
    /// it is answered as unknown, so every OAuth endpoint refuses it like a client id that was
    /// never registered.
    pub async fn client(
        &self,
        org: OrgId,
        client_id: &str,
    ) -> Result<Option<ClientRecord>, StoreError> {
        Ok(self
            .client_record(org, client_id)
            .await?
            .filter(|r| r.app.app_type != AppType::Saml))
    }

    async fn client_record(
        &self,
        org: OrgId,
        client_id: &str,
    ) -> Result<Option<ClientRecord>, StoreError> {
        let key = app_key(org, client_id);
        let (copy, seen) = self.cache.get_copy::<ClientRecord>(&key).await;
        if let Some(record) = copy
            && record.app.org_id == org
            && record.app.client_id == client_id
        {
            return Ok(Some(record));
        }
        let Some((app, secret_hash)) = self
            .store
            .app_and_secret_by_client_id(org, client_id)
            .await?
        else {
            return Ok(None);
        };
        let record = ClientRecord { app, secret_hash };
        self.cache
            .store_copy(&key, seen, &record, self.cache.copy_ttl(APP_TTL))
            .await;
        Ok(Some(record))
    }

    /// A new secret for a confidential app (its hash stored; the old one stops working on
    /// every node at once). Returns the secret, shown this once.
    pub async fn rotate_secret(
        &self,
        org: &Org,
        app: &App,
        actor: &str,
    ) -> Result<String, AppError> {
        let secret = random_token(32)?;
        let result = self
            .store
            .set_app_secret_hash(
                org.id,
                app.id,
                &sha256_hex(&secret),
                actor,
                self.clock.now(),
            )
            .await;
        self.app_changed(org.id, &app.client_id).await;
        result?;
        Ok(secret)
    }

    /// Whether `origin` is the origin of a redirect URI of one of the org's SPA apps (CORS on
    /// the token, userinfo and revocation endpoints). Answered from a cached copy per org: a
    /// preflight flood costs one database read per copy lifetime, not one per request, and an
    /// org with many URIs does not slow the others. Any app change drops the copy on every
    /// node (`changed`).
    pub async fn cors_origin_allowed(&self, org: OrgId, origin: &str) -> Result<bool, AppError> {
        let key = spa_origins_key(org);
        let origins = match self.cache.get_copy::<Vec<String>>(&key).await {
            (Some(origins), _) => origins,
            (None, seen) => {
                let origins = self.store.spa_origins(org).await?;
                let ttl = self.cache.copy_ttl(SPA_ORIGINS_TTL);
                self.cache.store_copy(&key, seen, &origins, ttl).await;
                origins
            }
        };
        Ok(origins.binary_search_by(|o| o.as_str().cmp(origin)).is_ok())
    }

    /// An app of the org was created, changed or deleted: cached copies of what is derived
    /// from all its apps are dropped everywhere (the fence stops a reader that loaded the old
    /// rows from writing them back).
    /// One app changed (settings, URIs, secret, or gone): its copy and the org's derived
    /// copies are dropped everywhere.
    async fn app_changed(&self, org: OrgId, client_id: &str) {
        let key = app_key(org, client_id);
        self.cache.fence_copy(&key).await;
        if let Err(err) = self.cache.publish_invalidation(&key).await {
            tracing::warn!(error = %err, "could not publish the app invalidation");
        }
        self.changed(org).await;
    }

    async fn changed(&self, org: OrgId) {
        let key = spa_origins_key(org);
        self.cache.fence_copy(&key).await;
        if let Err(err) = self.cache.publish_invalidation(&key).await {
            tracing::warn!(error = %err, "could not publish the app invalidation");
        }
    }

    /// Checks a confidential app's secret in constant time; false for unknown or public apps.
    pub async fn verify_secret(
        &self,
        org: &Org,
        client_id: &str,
        secret: &str,
    ) -> Result<bool, AppError> {
        let stored = self
            .client(org.id, client_id)
            .await?
            .and_then(|c| c.secret_hash);
        Ok(stored.is_some_and(|h| constant_time_eq(&h, &sha256_hex(secret))))
    }
}
