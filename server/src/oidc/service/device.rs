//! The device authorization grant (RFC 8628): `/device_authorization` answers a device with a
//! device code and a user code; the user types the user code on `/o/{org}/device`, signed in,
//! and approves or denies; the device polls the token endpoint until then. A redeemed grant
//! goes down the code grant's path (`new_app_session`, `start_app_session`, `issue`): an app
//! session under the app's rules, bound to the approving IdP session, the same tokens.

use super::*;
use crate::apps::DEVICE_CODE_GRANT;
use crate::audit::AuditEvent;
use crate::oidc::device::{
    DEVICE_CODE_TTL_SECS, DeviceApproval, DeviceGrant, DevicePoll, NewDeviceGrant,
    POLL_INTERVAL_SECS, display_user_code, new_user_code, normalise_user_code, user_code_hash,
};

/// The answer of `/device_authorization` (RFC 8628 §3.2).
#[derive(Debug, Clone, Serialize)]
pub struct DeviceAuthorization {
    pub device_code: String,
    /// As people read it: `XXXX-XXXX`.
    pub user_code: String,
    pub verification_uri: String,
    pub verification_uri_complete: String,
    pub expires_in: i64,
    pub interval: i64,
}

/// What the session lacks for the app's rules, and the step that gives it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SessionStep {
    /// The sign-in is older than the app's re-authentication max age.
    SignInAgain,
    /// The app needs a second factor.
    StepUp,
}

/// What the device page shows for a user code (and the user's answer, if given).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DeviceAnswer {
    /// Unknown, expired, answered, used, another org's: one answer for all.
    NotRecognised,
    /// The session does not meet the app's rules: take `step`, then come back.
    SessionTooWeak {
        app_name: String,
        step: SessionStep,
    },
    /// Approve or deny?
    Confirm {
        app_name: String,
        scopes: Vec<String>,
        user_code: String,
    },
    Approved {
        app_name: String,
    },
    Denied {
        app_name: String,
    },
}

/// Draws of a user code before giving up (a clash with a live code of the org is a chance of
/// one in billions per live code).
const USER_CODE_DRAWS: usize = 3;

impl OidcService {
    /// `POST /device_authorization`: the app authenticates as at the token endpoint and must
    /// have the device grant; the scope must hold `openid`, like an authorization request.
    pub async fn device_authorization(
        &self,
        org: &Org,
        auth: &ClientAuth,
        scope: Option<&str>,
    ) -> Result<DeviceAuthorization, OidcError> {
        let app = self.authenticate_client(org, auth).await?;
        grant_allowed(&app, GrantType::DeviceCode).map_err(refused)?;
        let scope = normalise_scope(scope.unwrap_or(""));
        if !has_scope(&scope, "openid") {
            return Err(err(E::InvalidScope, "the openid scope is required"));
        }
        let device_code = random_token(32).map_err(OidcError::server)?;
        let now = self.clock.now();
        for _ in 0..USER_CODE_DRAWS {
            let user_code = new_user_code().map_err(OidcError::server)?;
            let grant = NewDeviceGrant {
                id: Uuid::now_v7(),
                org_id: org.id,
                app_id: app.id,
                device_code_hash: sha256_hex(&device_code),
                user_code_hash: user_code_hash(&user_code),
                scope: scope.clone(),
                interval_secs: POLL_INTERVAL_SECS,
                created_at: now,
                expires_at: now + Duration::seconds(DEVICE_CODE_TTL_SECS),
            };
            match self.store.create_device_grant(&grant).await {
                Ok(()) => {
                    tracing::info!(org = %org.id, app = %app.id, grant = %grant.id, "device authorization started");
                    return Ok(self.device_answer(org, device_code, &user_code));
                }
                Err(crate::store::StoreError::Conflict) => continue,
                Err(e) => return Err(OidcError::server(e)),
            }
        }
        Err(OidcError::server(crate::store::StoreError::Conflict))
    }

    fn device_answer(
        &self,
        org: &Org,
        device_code: String,
        user_code: &str,
    ) -> DeviceAuthorization {
        let shown = display_user_code(user_code);
        let verification_uri = format!("{}/device", self.issuer(org));
        let complete: String = url::form_urlencoded::Serializer::new(String::new())
            .append_pair("user_code", &shown)
            .finish();
        DeviceAuthorization {
            device_code,
            verification_uri_complete: format!("{verification_uri}?{complete}"),
            verification_uri,
            user_code: shown,
            expires_in: DEVICE_CODE_TTL_SECS,
            interval: POLL_INTERVAL_SECS,
        }
    }

    /// The device page's question for `typed` (a user code as the user typed it) and, with
    /// `answer`, the user's approval (`true`) or denial, from `session`.
    pub async fn device_request(
        &self,
        org: &Org,
        typed: &str,
        session: &Session,
        answer: Option<bool>,
    ) -> Result<DeviceAnswer, OidcError> {
        let now = self.clock.now();
        let Some((grant, app)) = self.pending_device(org, typed, now).await? else {
            return Ok(DeviceAnswer::NotRecognised);
        };
        let app_name = app.name.clone();
        if let Some(step) = device_session_gap(&app, session, now) {
            return Ok(DeviceAnswer::SessionTooWeak { app_name, step });
        }
        let Some(approve) = answer else {
            return Ok(DeviceAnswer::Confirm {
                app_name,
                scopes: grant.scope.split(' ').map(str::to_owned).collect(),
                user_code: typed_display(typed),
            });
        };
        let approval = approve.then(|| DeviceApproval {
            user_id: session.user_id,
            session_id: session.id,
            auth_time: session.auth_time,
            acr: session.acr().to_owned(),
            amr: session.amr().into_iter().map(str::to_owned).collect(),
        });
        let event = AuditEvent {
            org_id: org.id,
            actor: format!("user:{}", session.user_id),
            action: if approve {
                "device.approved"
            } else {
                "device.denied"
            },
            target: Some(app.id.to_string()),
            details: serde_json::json!({
                "grant": grant.id.to_string(),
                "scope": grant.scope,
                "sid": session.id.to_string(),
            }),
        };
        let decided = self
            .store
            .decide_device_grant(org.id, grant.id, approval.as_ref(), &event, now)
            .await
            .map_err(OidcError::server)?;
        Ok(match (decided, approve) {
            (false, _) => DeviceAnswer::NotRecognised,
            (true, true) => DeviceAnswer::Approved { app_name },
            (true, false) => DeviceAnswer::Denied { app_name },
        })
    }

    /// The org's pending grant of a typed user code, with its app while that app still has
    /// the device grant.
    async fn pending_device(
        &self,
        org: &Org,
        typed: &str,
        now: DateTime<Utc>,
    ) -> Result<Option<(DeviceGrant, App)>, OidcError> {
        let Some(code) = normalise_user_code(typed) else {
            return Ok(None);
        };
        let Some(grant) = self
            .store
            .pending_device_grant(org.id, &user_code_hash(&code), now)
            .await
            .map_err(OidcError::server)?
        else {
            return Ok(None);
        };
        let app = self
            .store
            .app_by_id(org.id, grant.app_id)
            .await
            .map_err(OidcError::server)?
            .filter(|a| a.allows_grant(GrantType::DeviceCode));
        Ok(app.map(|a| (grant, a)))
    }

    /// The token endpoint's device grant (RFC 8628 §3.4, §3.5): one poll, recorded; the
    /// approved grant is redeemed by exactly one poll (`Store::poll_device_grant`).
    pub(super) async fn device_code_grant(
        &self,
        org: &Org,
        app: &App,
        p: &TokenParams,
        jkt: Option<&str>,
    ) -> Result<TokenResponse, OidcError> {
        grant_allowed(app, GrantType::DeviceCode).map_err(refused)?;
        let device_code = bounded_param(p.device_code.as_deref(), "device_code")?;
        let now = self.clock.now();
        let poll = self
            .store
            .poll_device_grant(org.id, app.id, &sha256_hex(device_code), now)
            .await
            .map_err(OidcError::server)?;
        match poll {
            DevicePoll::Approved(grant) => {
                self.redeem_device_grant(org, app, &grant, now, jkt).await
            }
            DevicePoll::Pending => Err(err(
                E::AuthorizationPending,
                "the user has not answered yet",
            )),
            DevicePoll::SlowDown { interval_secs } => Err(OidcError::new(
                E::SlowDown,
                format!("polling too fast: wait {interval_secs} seconds between requests"),
            )),
            DevicePoll::Denied => Err(err(E::AccessDenied, "the user denied the request")),
            DevicePoll::Expired => Err(err(E::ExpiredToken, "the device code has expired")),
            DevicePoll::Unknown | DevicePoll::AlreadyRedeemed => Err(err(
                E::InvalidGrant,
                "the device code is invalid or already used",
            )),
        }
    }

    /// Tokens for an approved grant this poll redeemed, exactly as a code exchange gives
    /// them, while the approving IdP session lives.
    async fn redeem_device_grant(
        &self,
        org: &Org,
        app: &App,
        grant: &DeviceGrant,
        now: DateTime<Utc>,
        jkt: Option<&str>,
    ) -> Result<TokenResponse, OidcError> {
        let Some(a) = &grant.approval else {
            return Err(OidcError::server(crate::store::StoreError::Encoding(
                "an approved device grant without its approval".into(),
            )));
        };
        let idp = self
            .sessions
            .live(org.id, a.session_id)
            .await
            .map_err(OidcError::server)?
            .ok_or_else(|| err(E::InvalidGrant, "the sign-in session has ended"))?;
        let code_grant = CodeGrant {
            app_id: app.id,
            client_id: app.client_id.clone(),
            redirect_uri: String::new(),
            code_challenge: None,
            session_id: a.session_id,
            user_id: a.user_id,
            scope: grant.scope.clone(),
            nonce: None,
            auth_time: a.auth_time,
            acr: a.acr.clone(),
            amr: a.amr.clone(),
            expires_at: grant.expires_at,
        };
        let mut app_session = new_app_session(org, app, &code_grant, now);
        // A public client's app session is bound to its DPoP key, as at the code exchange.
        app_session.dpop_jkt = jkt.filter(|_| app.is_public()).map(str::to_owned);
        let refresh = self
            .start_app_session(app, &app_session, &grant.device_code_hash)
            .await?;
        tracing::info!(org = %org.id, app = %app.id, app_session = %app_session.id, sid = %idp.id, grant_type = DEVICE_CODE_GRANT, "app session started");
        self.issue(
            org,
            app,
            &app_session,
            Some(&idp),
            None,
            &grant.scope,
            refresh,
            jkt,
        )
        .await
    }
}

/// The app's session rules as /authorize applies them (`AuthorizeRequest::recent_enough`,
/// `needed_assurance`): a sign-in no older than its re-authentication max age, and a second
/// factor when it requires MFA. `None` when the session meets them.
fn device_session_gap(app: &App, session: &Session, now: DateTime<Utc>) -> Option<SessionStep> {
    let rules = &app.settings.session;
    let too_old = rules
        .reauth_max_age_secs
        .and_then(Duration::try_seconds)
        .is_some_and(|l| now - session.auth_time > l);
    if too_old {
        return Some(SessionStep::SignInAgain);
    }
    let level = AcrLevel::of(session.acr()).unwrap_or(AcrLevel::OneFactor);
    if rules.mfa_required && level < AcrLevel::TwoFactors {
        return Some(SessionStep::StepUp);
    }
    None
}

/// A typed user code as the page shows it back.
fn typed_display(typed: &str) -> String {
    normalise_user_code(typed).map_or_else(String::new, |c| display_user_code(&c))
}
