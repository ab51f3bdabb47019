//! Wire types shared by the Portcullis server, the console and tests.
//!
//! These are plain serde structs: no validation lives here (the server turns them into domain
//! types with validating constructors), and nothing here may depend on a native-only crate, so the
//! console can compile this crate to wasm32.

use serde::{Deserialize, Serialize};

/// `GET /api/v1/deployment`: public facts about this deployment, shown by the console.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct DeploymentInfo {
    /// Display name of the deployment (`deployment.name` in the configuration).
    pub name: String,
    /// Version of the running server.
    pub version: String,
}

/// `GET /readyz`: whether this node can serve traffic.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Readiness {
    /// `ready`, `degraded` (serving, but the cache is unreachable) or `unavailable`.
    pub status: String,
    /// `ok` or `unreachable`.
    pub database: String,
    /// `ok` or `degraded`.
    pub cache: String,
}

/// Output of `portcullis org create --json`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct OrgCreated {
    pub id: String,
    pub slug: String,
    pub issuer: String,
}

/// Output of `portcullis user create --json`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct UserCreated {
    pub id: String,
    pub email: String,
}

/// Output of `portcullis app create --json`. The secret is shown once and never stored; public
/// clients (`spa`, `native`) have none.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AppCreated {
    pub client_id: String,
    pub client_secret: Option<String>,
}

/// The JSON body of every error answer from the HTTP API and of `--json` CLI errors.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ErrorBody {
    /// A stable machine-readable code, e.g. `org_not_found`.
    pub error: String,
    /// A human-readable explanation.
    pub message: String,
}

// ----- admin API (`/api/v1`) ---------------------------------------------------------------------

/// An RFC 9457 problem: every error of the admin API (`application/problem+json`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Problem {
    /// A URI naming the problem type, e.g. `urn:portcullis:problem:not-found`.
    #[serde(rename = "type")]
    pub problem_type: String,
    pub title: String,
    pub status: u16,
    pub detail: String,
    /// For validation problems: which field is wrong and why.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub errors: Vec<FieldError>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct FieldError {
    pub field: String,
    pub message: String,
}

/// One page of a list: `?page=` (from 1) and `?per_page=` (1–200, default 50).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Page<T> {
    pub items: Vec<T>,
    pub page: u64,
    pub per_page: u64,
    pub total: u64,
}

/// Per-app session rules (a preset of the session profile, every field overridable).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct SessionRulesView {
    pub reauth_max_age_secs: Option<i64>,
    pub mfa_required: bool,
    pub idle_timeout_secs: Option<i64>,
    pub lifetime_secs: i64,
    pub outlives_idp_session: bool,
}

/// An app (OIDC client) as the admin API shows it (never its secret).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct AppView {
    pub id: String,
    pub client_id: String,
    pub name: String,
    /// `web`, `spa`, `native`, `service` or `saml`.
    pub app_type: String,
    pub redirect_uris: Vec<String>,
    pub post_logout_redirect_uris: Vec<String>,
    pub backchannel_logout_uri: Option<String>,
    pub frontchannel_logout_uri: Option<String>,
    /// `standard` or `privileged`.
    pub session_profile: String,
    pub session_rules: SessionRulesView,
    pub first_party: bool,
    pub access_token_ttl_secs: i64,
    pub id_token_ttl_secs: i64,
    pub grant_types: Vec<String>,
    /// How the app authenticates: `client_secret`, `private_key_jwt`, or `none` (public apps).
    #[serde(default)]
    pub client_auth: String,
    /// The JWK Set registered for `private_key_jwt`, as JSON text.
    #[serde(default)]
    pub jwks: Option<String>,
    /// Where the app publishes its JWK Set for `private_key_jwt`.
    #[serde(default)]
    pub jwks_uri: Option<String>,
    /// Authorization requests must be pushed first (PAR, RFC 9126).
    #[serde(default)]
    pub require_par: bool,
    pub admin: bool,
    pub created_at: String,
    /// DPoP (RFC 9449): token requests without a DPoP proof are refused.
    #[serde(default)]
    pub dpop_required: bool,
    /// DPoP proofs must carry a server nonce (RFC 9449 §8).
    #[serde(default)]
    pub dpop_nonce_required: bool,
    /// A SAML app's settings (absent for OIDC apps).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub saml: Option<SamlAppView>,
}

/// One assertion consumer service (ACS) of a SAML app: where its SP takes the `Response`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct SamlAcsView {
    /// The endpoint's index, which an AuthnRequest may name instead of the URL.
    pub index: u16,
    /// `post` or `redirect`, as the SP declares it.
    pub binding: String,
    pub url: String,
}

/// A SAML app's settings as the admin API shows them. SSO endpoints are coming: these are
/// registered and checked now.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct SamlAppView {
    /// The SP's entity id, unique in the org.
    pub sp_entity_id: String,
    pub acs_urls: Vec<SamlAcsView>,
    /// The ACS used when a request names none.
    pub default_acs_index: u16,
    pub slo_url: Option<String>,
    /// `redirect`, `post` or `soap` (with `slo_url`).
    pub slo_binding: Option<String>,
    /// `email`, `persistent` (pairwise: opaque, stable, per app and user) or `transient`.
    pub name_id_format: String,
    /// Released in the assertion: `email`, `name`.
    pub attributes: Vec<String>,
    pub sign_response: bool,
    pub sign_assertion: bool,
    /// The SP's signing certificate (PEM), to verify its signed requests.
    pub sp_certificate: Option<String>,
    pub require_signed_requests: bool,
    /// SHA-1 signatures accepted from this SP.
    pub allow_sha1: bool,
    /// Assertions to be encrypted to `sp_encryption_certificate` (stored; not applied yet).
    pub encrypt_assertions: bool,
    pub sp_encryption_certificate: Option<String>,
    /// Users may start the app from the account page (IdP-initiated SSO, an unsolicited
    /// Response to the default ACS).
    #[serde(default)]
    pub idp_initiated: bool,
    /// The `RelayState` sent with an IdP-initiated Response (≤ 80 bytes).
    #[serde(default)]
    pub idp_initiated_relay_state: Option<String>,
}

/// An ACS in a request: the binding defaults to `post`, the index to the ACS's position.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct SamlAcsRequest {
    pub url: String,
    #[serde(default)]
    pub binding: Option<String>,
    #[serde(default)]
    pub index: Option<u16>,
}

/// The `saml` object of `POST`/`PATCH /api/v1/orgs/{org}/apps` for an app of type `saml`.
/// Creating: `sp_entity_id` and `acs_urls` are required; absent fields get the defaults (NameID
/// `email`, attributes `email` and `name`, response and assertion both signed, no SLO, nothing
/// required of the SP's requests, no SHA-1, no encryption). Updating: absent fields stay; an
/// empty `slo_url`, `sp_certificate` or `sp_encryption_certificate` removes it.
///
/// `sp_metadata` (the SP's `EntityDescriptor` XML) fills the fields it declares first (entity
/// id, HTTP-POST ACS URLs, the first Single Logout endpoint with a supported binding, the
/// signing certificate, `AuthnRequestsSigned`, the first NameID format we issue); the other
/// fields of the same request then override what it filled. A document that cannot be read is
/// a 422 naming `saml.sp_metadata`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct SamlAppRequest {
    #[serde(default)]
    pub sp_entity_id: Option<String>,
    #[serde(default)]
    pub acs_urls: Option<Vec<SamlAcsRequest>>,
    #[serde(default)]
    pub default_acs_index: Option<u16>,
    #[serde(default)]
    pub slo_url: Option<String>,
    /// `redirect` (default), `post` or `soap`.
    #[serde(default)]
    pub slo_binding: Option<String>,
    /// `email` (default), `persistent` or `transient`.
    #[serde(default)]
    pub name_id_format: Option<String>,
    #[serde(default)]
    pub attributes: Option<Vec<String>>,
    #[serde(default)]
    pub sign_response: Option<bool>,
    #[serde(default)]
    pub sign_assertion: Option<bool>,
    /// PEM; must parse as an X.509 certificate.
    #[serde(default)]
    pub sp_certificate: Option<String>,
    #[serde(default)]
    pub require_signed_requests: Option<bool>,
    #[serde(default)]
    pub allow_sha1: Option<bool>,
    #[serde(default)]
    pub encrypt_assertions: Option<bool>,
    #[serde(default)]
    pub sp_encryption_certificate: Option<String>,
    /// Users may start the app from the account page (needs a default ACS with the post
    /// binding).
    #[serde(default)]
    pub idp_initiated: Option<bool>,
    /// The `RelayState` of IdP-initiated Responses (≤ 80 bytes); empty removes it.
    #[serde(default)]
    pub idp_initiated_relay_state: Option<String>,
    /// The SP's metadata XML, imported before the other fields (which override it).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sp_metadata: Option<String>,
}

/// `POST /api/v1/orgs/{org}/saml/sp-metadata`: an SP's metadata to read.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct SpMetadataRequest {
    /// The SP's `EntityDescriptor` XML.
    pub xml: String,
}

/// An SP's metadata read into the `saml` object of a registration (nothing is saved): the
/// console fills its form with it. `notes` says what the metadata declares that was left out.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct SpMetadataImport {
    pub saml: SamlAppRequest,
    pub notes: Vec<String>,
}

/// `POST /api/v1/orgs/{org}/apps`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct AppCreateRequest {
    pub name: String,
    /// `web` (default), `spa`, `native`, `service` or `saml` (then `saml` is required, and no
    /// redirect or OIDC logout URI, grant or client authentication is taken). Also read as
    /// `type`.
    #[serde(default, alias = "type")]
    pub app_type: Option<String>,
    #[serde(default)]
    pub redirect_uris: Vec<String>,
    #[serde(default)]
    pub post_logout_redirect_uris: Vec<String>,
    #[serde(default)]
    pub backchannel_logout_uri: Option<String>,
    #[serde(default)]
    pub frontchannel_logout_uri: Option<String>,
    /// `standard` (default) or `privileged`.
    #[serde(default)]
    pub session_profile: Option<String>,
    /// Overrides of the profile's preset; absent = the preset.
    #[serde(default)]
    pub session_rules: Option<SessionRulesView>,
    /// Default true (no consent screen).
    #[serde(default)]
    pub first_party: Option<bool>,
    #[serde(default)]
    pub access_token_ttl_secs: Option<i64>,
    #[serde(default)]
    pub id_token_ttl_secs: Option<i64>,
    /// `client_secret` (default for confidential apps) or `private_key_jwt` (then `jwks` or
    /// `jwks_uri`).
    #[serde(default)]
    pub client_auth: Option<String>,
    /// The app's public keys, a JWK Set as JSON text (`private_key_jwt`).
    #[serde(default)]
    pub jwks: Option<String>,
    /// Where the app publishes its JWK Set (`private_key_jwt`); fetched by the server.
    #[serde(default)]
    pub jwks_uri: Option<String>,
    /// Authorization requests must be pushed first (PAR); default false.
    #[serde(default)]
    pub require_par: Option<bool>,
    /// Default false; absent in an update: unchanged.
    #[serde(default)]
    pub dpop_required: Option<bool>,
    /// Default false; absent in an update: unchanged.
    #[serde(default)]
    pub dpop_nonce_required: Option<bool>,
    /// Grants the app may use: `authorization_code`, `refresh_token`, `client_credentials`,
    /// `urn:ietf:params:oauth:grant-type:device_code`; absent = the defaults of its type.
    #[serde(default)]
    pub grant_types: Option<Vec<String>>,
    /// A SAML app's settings (with `app_type` `saml` only).
    #[serde(default)]
    pub saml: Option<SamlAppRequest>,
}

/// The answer to creating an app or rotating its secret: the secret is shown only here.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct AppWithSecret {
    pub app: AppView,
    pub client_secret: Option<String>,
}

/// A live app session: one app signed in under an IdP session. It ends at its idle deadline
/// (if the app has an idle timeout) or its absolute expiry, whichever comes first; with
/// `outlives_idp_session` it may go on after its IdP session ended.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct AppSessionView {
    pub id: String,
    pub app_id: String,
    /// The app's display name.
    #[serde(default)]
    pub app_name: String,
    pub client_id: String,
    /// The IdP session it started in (`sid`).
    #[serde(default)]
    pub session_id: String,
    /// Its user.
    #[serde(default)]
    pub user_id: String,
    /// Its user's email address.
    #[serde(default)]
    pub user_email: String,
    /// When the app session started (the code exchange).
    pub created_at: String,
    pub last_active_at: String,
    pub idle_deadline: Option<String>,
    pub absolute_expiry: String,
    pub outlives_idp_session: bool,
}

/// An IdP session with its live app sessions. Live unless `ended_at` is set: a user's view also
/// lists ended IdP sessions that still hold live app sessions outliving them.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct SessionView {
    pub id: String,
    pub user_id: String,
    pub user_email: String,
    pub created_at: String,
    pub last_seen_at: String,
    pub auth_time: String,
    pub acr: String,
    pub user_agent: Option<String>,
    pub ip: Option<String>,
    /// When the IdP session ended; absent while it is live.
    #[serde(default)]
    pub ended_at: Option<String>,
    /// Why it ended (`logout`, `idle_expired`, `admin_revoked`, …); absent while it is live.
    #[serde(default)]
    pub end_reason: Option<String>,
    pub app_sessions: Vec<AppSessionView>,
}

/// What an app's back-channel receiver said to a test logout token
/// (`POST /orgs/{org}/apps/{id}/test-logout`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct TestLogoutView {
    /// The token's `sid` (it names no session).
    pub sid: String,
    /// The receiver answered 2xx.
    pub delivered: bool,
    /// The receiver's HTTP status, when it answered.
    pub http_status: Option<u16>,
    /// Why it was not delivered.
    pub error: Option<String>,
}

/// What a revocation ends (or, with `dry_run`, would end).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct RevokeOutcome {
    pub dry_run: bool,
    /// IdP sessions that end.
    pub sessions: Vec<String>,
    /// App sessions that end.
    pub app_sessions: Vec<String>,
    /// Client ids of the apps told through back-channel logout.
    pub apps_notified: Vec<String>,
}

/// A back-channel logout delivery and its fate.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct DeliveryView {
    pub id: String,
    pub app_id: String,
    pub client_id: String,
    pub session_id: String,
    pub user_id: String,
    pub reason: String,
    /// `pending`, `delivered` or `failed`.
    pub status: String,
    pub attempts: i32,
    pub next_attempt_at: String,
    pub last_error: Option<String>,
    pub created_at: String,
    pub delivered_at: Option<String>,
}

/// A published signing key (never its private half).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct SigningKeyView {
    pub kid: String,
    pub alg: String,
    pub activates_at: String,
    pub expires_at: Option<String>,
}

/// A user of the org.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct UserView {
    pub id: String,
    pub email: String,
    pub name: Option<String>,
    /// `member` or `admin`.
    pub role: String,
    pub active: bool,
    pub created_at: String,
    /// The user's security keys and passkeys.
    pub credentials: Vec<CredentialView>,
    /// Whether the user proved the address (used a link sent to it), or an admin created them
    /// with a password.
    #[serde(default)]
    pub email_verified: bool,
    /// Emailed links that can still be used: invitation, address verification, password
    /// reset, email change.
    #[serde(default)]
    pub pending_links: Vec<PendingLinkView>,
}

/// A single-use link sent to a user and not used yet (the token itself is never shown).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct PendingLinkView {
    /// `invitation`, `verify_email`, `password_reset` or `email_change`.
    pub purpose: String,
    pub created_at: String,
    pub expires_at: String,
    /// For an email change: the address it confirms.
    pub new_email: Option<String>,
}

/// Who may create an account on the org's hosted pages.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct SignupPolicyView {
    /// `off` (admins create accounts), `open` (anyone, with a verified address) or
    /// `invite_only` (the sign-up page points to invitations).
    pub mode: String,
    /// Users whose address is not verified cannot sign in.
    pub require_verified_email: bool,
}

/// One kind of email, as the org sends it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct EmailTemplateView {
    /// `password_reset`, `invitation`, `verify_email`, `email_change`, `signup_existing` or
    /// `notice`.
    pub kind: String,
    pub subject: String,
    pub text: String,
    /// The body inside the branded frame (logo, org name, accent colour).
    pub html: String,
    /// Placeholders this kind fills, like `{{link}}`.
    pub placeholders: Vec<String>,
    /// False when the built-in template is in use.
    pub custom: bool,
}

/// `PUT /orgs/{org}/email-templates/{kind}`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct EmailTemplateRequest {
    pub subject: String,
    pub text: String,
    pub html: String,
}

/// `POST /orgs/{org}/email-templates/{kind}/preview`: the posted template filled with sample
/// values, as the mailer would send it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct EmailPreviewView {
    pub to: String,
    pub subject: String,
    pub text: String,
    /// The whole HTML document, in the org's branded frame.
    pub html: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct CredentialView {
    pub id: String,
    pub name: String,
    /// `passkey` or `security_key`.
    pub kind: String,
    pub created_at: String,
    pub last_used_at: Option<String>,
}

/// `POST /api/v1/orgs/{org}/users`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct UserCreateRequest {
    pub email: String,
    /// Absent: the user signs in with a passkey only (enrolled later).
    #[serde(default)]
    pub password: Option<String>,
    #[serde(default)]
    pub name: Option<String>,
    /// `member` (default) or `admin`.
    #[serde(default)]
    pub role: Option<String>,
    /// Email the user a link to choose their password (valid 7 days).
    #[serde(default)]
    pub invite: Option<bool>,
}

/// `PATCH /api/v1/orgs/{org}/users/{id}`: absent fields stay; `name: ""` clears the name.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct UserUpdateRequest {
    #[serde(default)]
    pub name: Option<String>,
    #[serde(default)]
    pub role: Option<String>,
}

/// The org's IdP session policy and MFA policy.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct SessionPolicyView {
    pub idle_timeout_secs: i64,
    pub absolute_lifetime_secs: i64,
    pub remember_me_allowed: bool,
    pub remember_me_lifetime_secs: i64,
    /// `off`, `optional`, `required` or `app_requested`.
    pub mfa: String,
}

/// One audit event.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct AuditEventView {
    pub id: String,
    pub at: String,
    pub actor: String,
    pub action: String,
    pub target: Option<String>,
    pub details: String,
}

/// An org's audit sink (`GET`/`PUT /api/v1/orgs/{org}/audit-sink`): where its audit events
/// are streamed, and how far delivery has come. The HMAC secret is never shown.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct AuditSinkView {
    /// The receiver's URL (https; http only for loopback and allowed private addresses).
    pub url: String,
    /// False: paused, nothing is sent; events wait and go out once enabled again.
    pub enabled: bool,
    /// Always true: a sink has a secret (which is never returned).
    pub secret_set: bool,
    pub created_at: String,
    pub updated_at: String,
    pub status: AuditSinkStatusView,
}

/// How far an audit sink's delivery has come.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct AuditSinkStatusView {
    /// The sequence number of the last event the receiver acknowledged (the cursor).
    pub delivered_seq: i64,
    /// The highest sequence number given to an event so far.
    pub last_seq: i64,
    /// Events still to deliver.
    pub pending: u64,
    /// Failed attempts at the current batch since the last success.
    pub attempts: i32,
    pub last_attempt_at: Option<String>,
    pub last_success_at: Option<String>,
    /// Why the last attempt failed (cleared by a success).
    pub last_error: Option<String>,
    /// When the worker tries next (a retry after a failure).
    pub next_attempt_at: String,
}

/// `PUT /api/v1/orgs/{org}/audit-sink`: create or change the sink.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct AuditSinkRequest {
    pub url: String,
    /// The HMAC-SHA256 key batches are signed with, 16–256 bytes. Required to create the sink;
    /// left out (or null) to keep the current one.
    #[serde(default)]
    pub secret: Option<String>,
    #[serde(default = "default_true")]
    pub enabled: bool,
}

fn default_true() -> bool {
    true
}

/// `GET /api/v1/console-client?org=`: how the console signs in to an org (its public app there,
/// created on first use).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct ConsoleClient {
    pub issuer: String,
    pub client_id: String,
    pub redirect_uri: String,
}

/// An org, for operators.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct OrgView {
    pub id: String,
    pub slug: String,
    pub name: String,
    /// `active` or `disabled`.
    pub status: String,
    pub issuer: String,
    pub created_at: String,
}

/// `POST /api/v1/orgs` (operators).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct OrgCreateRequest {
    pub slug: String,
    #[serde(default)]
    pub name: Option<String>,
    /// `ES256` (default) or `RS256`.
    #[serde(default)]
    pub signing_alg: Option<String>,
}

/// `PATCH /api/v1/orgs/{org}/apps/{id}`: absent fields stay; a logout URI of `""` is removed.
/// A new `session_profile` without `session_rules` applies that profile's preset.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct AppUpdateRequest {
    #[serde(default)]
    pub name: Option<String>,
    #[serde(default)]
    pub redirect_uris: Option<Vec<String>>,
    #[serde(default)]
    pub post_logout_redirect_uris: Option<Vec<String>>,
    #[serde(default)]
    pub backchannel_logout_uri: Option<String>,
    #[serde(default)]
    pub frontchannel_logout_uri: Option<String>,
    #[serde(default)]
    pub session_profile: Option<String>,
    #[serde(default)]
    pub session_rules: Option<SessionRulesView>,
    #[serde(default)]
    pub first_party: Option<bool>,
    #[serde(default)]
    pub access_token_ttl_secs: Option<i64>,
    #[serde(default)]
    pub id_token_ttl_secs: Option<i64>,
    /// `client_secret` (unchanged when absent) or `private_key_jwt` (then `jwks` or
    /// `jwks_uri`).
    #[serde(default)]
    pub client_auth: Option<String>,
    /// The app's public keys, a JWK Set as JSON text (`private_key_jwt`); empty removes it.
    #[serde(default)]
    pub jwks: Option<String>,
    /// Where the app publishes its JWK Set (`private_key_jwt`); fetched by the server; empty removes it.
    #[serde(default)]
    pub jwks_uri: Option<String>,
    /// Authorization requests must be pushed first (PAR); unchanged when absent.
    #[serde(default)]
    pub require_par: Option<bool>,
    /// Default false; absent in an update: unchanged.
    #[serde(default)]
    pub dpop_required: Option<bool>,
    /// Default false; absent in an update: unchanged.
    #[serde(default)]
    pub dpop_nonce_required: Option<bool>,
    /// Grants the app may use: `authorization_code`, `refresh_token`, `client_credentials`,
    /// `urn:ietf:params:oauth:grant-type:device_code`; absent = unchanged.
    #[serde(default)]
    pub grant_types: Option<Vec<String>>,
    /// A SAML app's settings to change (SAML apps only); absent fields stay.
    #[serde(default)]
    pub saml: Option<SamlAppRequest>,
}

/// Logout deliveries to one app over a recent window, by outcome (the console's dashboard).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct AppDeliveryStats {
    pub app_id: String,
    pub app_name: String,
    pub client_id: String,
    pub delivered: u64,
    pub failed: u64,
    /// Not delivered yet (still being tried).
    pub pending: u64,
}

/// Sign-in activity per hour (the console's dashboard chart).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct ActivityHour {
    /// Start of the hour, RFC 3339.
    pub hour: String,
    pub signins: u64,
    pub failures: u64,
}
