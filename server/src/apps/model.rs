//! App (OIDC client) types.

use crate::config::is_loopback_host;
use crate::tenancy::OrgId;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use std::fmt;
use std::str::FromStr;
use url::Url;
use uuid::Uuid;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct AppId(pub Uuid);

impl fmt::Display for AppId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.fmt(f)
    }
}

/// How the app runs, which decides whether it can keep a secret (RFC 6749 §2.1).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum AppType {
    /// Server-side web app: confidential, has a secret.
    Web,
    /// Single-page app in the browser: public, PKCE only.
    Spa,
    /// Mobile or desktop app: public, PKCE only; may use private-use URI schemes (RFC 8252).
    Native,
    /// Machine-to-machine (client credentials): confidential, no redirect URIs needed.
    Service,
    /// A SAML 2.0 service provider: no secret, no redirect URIs, no OAuth grants; its
    /// registration is in [`App::saml`].
    Saml,
}

impl AppType {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Web => "web",
            Self::Spa => "spa",
            Self::Native => "native",
            Self::Service => "service",
            Self::Saml => "saml",
        }
    }

    pub fn is_confidential(self) -> bool {
        matches!(self, Self::Web | Self::Service)
    }
}

impl FromStr for AppType {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "web" => Ok(Self::Web),
            "spa" => Ok(Self::Spa),
            "native" => Ok(Self::Native),
            "service" => Ok(Self::Service),
            "saml" => Ok(Self::Saml),
            other => Err(format!(
                "unknown app type {other:?} (web, spa, native, service, saml)"
            )),
        }
    }
}

/// Privileged apps get short, IdP-bound app sessions; standard apps may outlive the
/// IdP session.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum SessionProfile {
    Standard,
    Privileged,
}

impl SessionProfile {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Standard => "standard",
            Self::Privileged => "privileged",
        }
    }

    /// Unknown values read from the database get the stricter profile: fail closed.
    pub fn from_db(raw: &str) -> Self {
        if raw == "standard" {
            Self::Standard
        } else {
            Self::Privileged
        }
    }
}

impl FromStr for SessionProfile {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "standard" => Ok(Self::Standard),
            "privileged" => Ok(Self::Privileged),
            other => Err(format!(
                "unknown session profile {other:?} (standard, privileged)"
            )),
        }
    }
}

/// A URI an app registered; matched byte for byte later (RFC 9700 §4.1.3), so it is stored
/// exactly as given once it has passed these checks.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct AppUri(String);

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid URI {uri:?}: {reason}")]
pub struct InvalidUri {
    pub uri: String,
    pub reason: &'static str,
}

impl AppUri {
    /// Absolute, no fragment (RFC 6749 §3.1.2), no userinfo; `https`, or `http` on a loopback
    /// host; native apps may also use a private-use scheme with a dot (RFC 8252 §7.1).
    pub fn parse(raw: &str, app_type: AppType, allow_plain_http: bool) -> Result<Self, InvalidUri> {
        let bad = |reason| InvalidUri {
            uri: raw.to_owned(),
            reason,
        };
        if raw.len() > 2048 {
            return Err(bad("longer than 2048 characters"));
        }
        let url = Url::parse(raw).map_err(|_| bad("not an absolute URI"))?;
        if url.fragment().is_some() || raw.contains('#') {
            return Err(bad("must not contain a fragment"));
        }
        if !url.username().is_empty() || url.password().is_some() {
            return Err(bad("must not contain user information"));
        }
        match url.scheme() {
            "https" => {
                if url.host().is_none() {
                    return Err(bad("has no host"));
                }
            }
            "http" => match url.host() {
                Some(host) if is_loopback_host(&host) || allow_plain_http => {}
                Some(_) => return Err(bad("plain http is allowed only for loopback hosts")),
                None => return Err(bad("has no host")),
            },
            scheme if app_type == AppType::Native && scheme.contains('.') => {}
            _ => return Err(bad("scheme must be https (or http for loopback hosts)")),
        }
        Ok(Self(raw.to_owned()))
    }

    /// A back-channel logout URI: the rules of [`AppUri::parse`] for a web app, and also plain
    /// http when the host is an IP address the operator allowed (`outbound.allow_private`):
    /// https only unless the target is allowed. Reaching the target is checked again, after
    /// DNS resolution, each time the server connects (`crate::outbound`).
    pub fn parse_backchannel(
        raw: &str,
        allow_plain_http: bool,
        allowed: impl Fn(std::net::IpAddr) -> bool,
    ) -> Result<Self, InvalidUri> {
        let allowed_literal = Url::parse(raw).ok().is_some_and(|u| {
            u.scheme() == "http"
                && match u.host() {
                    Some(url::Host::Ipv4(ip)) => allowed(ip.into()),
                    Some(url::Host::Ipv6(ip)) => allowed(ip.into()),
                    _ => false,
                }
        });
        Self::parse(raw, AppType::Web, allow_plain_http || allowed_literal)
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct App {
    pub id: AppId,
    pub org_id: OrgId,
    pub client_id: String,
    pub name: String,
    pub app_type: AppType,
    pub redirect_uris: Vec<AppUri>,
    pub post_logout_redirect_uris: Vec<AppUri>,
    pub backchannel_logout_uri: Option<AppUri>,
    pub frontchannel_logout_uri: Option<AppUri>,
    pub session_profile: SessionProfile,
    pub admin: bool,
    pub settings: AppSettings,
    pub created_at: DateTime<Utc>,
    /// A SAML app's registration (`Some` exactly when `app_type` is `Saml`). Defaulted so a
    /// cached copy written before SAML apps reads as an OIDC app.
    #[serde(default)]
    pub saml: Option<super::saml::SamlSettings>,
}

impl App {
    pub fn is_public(&self) -> bool {
        !self.app_type.is_confidential()
    }

    /// Exact, byte-for-byte match of a registered redirect URI (RFC 9700 §4.1.3). Native apps
    /// alone may vary the port of a loopback `http` URI (RFC 8252 §7.3).
    pub fn redirect_uri_registered(&self, candidate: &str) -> bool {
        self.redirect_uris.iter().any(|r| {
            r.as_str() == candidate
                || (self.app_type == AppType::Native
                    && loopback_port_variant(r.as_str(), candidate))
        })
    }

    pub fn allows_grant(&self, grant: GrantType) -> bool {
        self.settings.grant_types.contains(&grant)
    }

    /// The scopes a token issued to the app itself (client credentials) may carry. Every scope
    /// Portcullis defines (`openid`, `profile`, `email`, `offline_access`) describes a signed-in
    /// user, and the admin API goes by the app's admin role rather than a scope, so there are
    /// none today: such a token is the app's proof of itself, nothing more.
    pub fn client_credentials_scopes(&self) -> &'static [&'static str] {
        &[]
    }
}

/// Same URI but for the port, on an `http` loopback IP literal (RFC 8252 §7.3, §8.3).
fn loopback_port_variant(registered: &str, candidate: &str) -> bool {
    let (Ok(a), Ok(b)) = (Url::parse(registered), Url::parse(candidate)) else {
        return false;
    };
    let loopback_ip =
        |u: &Url| u.scheme() == "http" && matches!(u.host_str(), Some("127.0.0.1") | Some("[::1]"));
    if !loopback_ip(&a) || !loopback_ip(&b) {
        return false;
    }
    let mut b2 = b.clone();
    if b2.set_port(a.port()).is_err() {
        return false;
    }
    // Compare the serialisations so nothing but the port may differ.
    b2.as_str() == a.as_str() && candidate.starts_with("http://")
}

/// OAuth grants an app may use at the token endpoint.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum GrantType {
    AuthorizationCode,
    RefreshToken,
    ClientCredentials,
    /// The device authorization grant (RFC 8628): stored as `device_code` in the settings
    /// JSON, named by its URN on the wire and in the admin API.
    DeviceCode,
}

/// The device grant's `grant_type` at the token endpoint (RFC 8628 §3.4).
pub const DEVICE_CODE_GRANT: &str = "urn:ietf:params:oauth:grant-type:device_code";

impl GrantType {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::AuthorizationCode => "authorization_code",
            Self::RefreshToken => "refresh_token",
            Self::ClientCredentials => "client_credentials",
            Self::DeviceCode => DEVICE_CODE_GRANT,
        }
    }
}

impl FromStr for GrantType {
    type Err = String;
    /// The wire names (`as_str`); the device grant also as plain `device_code`.
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "authorization_code" => Ok(Self::AuthorizationCode),
            "refresh_token" => Ok(Self::RefreshToken),
            "client_credentials" => Ok(Self::ClientCredentials),
            DEVICE_CODE_GRANT | "device_code" => Ok(Self::DeviceCode),
            other => Err(format!(
                "unknown grant {other:?} (authorization_code, refresh_token, client_credentials, {DEVICE_CODE_GRANT})"
            )),
        }
    }
}

/// Per-app session rules: a preset from the session profile, every field
/// overridable.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct SessionRules {
    /// Re-authentication is demanded when `auth_time` is older than this (OIDC `max_age`).
    pub reauth_max_age_secs: Option<i64>,
    /// The app needs a second factor (or a passkey) in the IdP session.
    pub mfa_required: bool,
    /// The app session ends after this long without refresh or introspection; None = never.
    pub idle_timeout_secs: Option<i64>,
    /// The app session ends this long after it began, whatever its activity.
    pub lifetime_secs: i64,
    /// Whether the app session (and its refresh tokens) may go on after the IdP session ends.
    pub outlives_idp_session: bool,
}

impl SessionProfile {
    /// The preset rules of the profile.
    pub fn preset(self) -> SessionRules {
        match self {
            Self::Privileged => SessionRules {
                reauth_max_age_secs: Some(15 * 60),
                mfa_required: true,
                idle_timeout_secs: Some(10 * 60),
                lifetime_secs: 8 * 3600,
                outlives_idp_session: false,
            },
            Self::Standard => SessionRules {
                reauth_max_age_secs: None,
                mfa_required: false,
                idle_timeout_secs: Some(14 * 86400),
                lifetime_secs: 30 * 86400,
                outlives_idp_session: true,
            },
        }
    }
}

/// Longest lifetime a signed token (ID or access token) may have; signing keys stay published
/// this long after they stop signing.
pub const MAX_SIGNED_TOKEN_TTL_SECS: i64 = 86400;
/// Redirect URIs (and, separately, post-logout redirect URIs) per app: enough for any real app,
/// and a bound on what one org's registrations cost every request that matches them.
pub const MAX_REDIRECT_URIS_PER_APP: usize = 100;
/// Apps per org.
pub const MAX_APPS_PER_ORG: u64 = 1000;

/// Longest re-authentication max age an app may set (as long as the longest app session).
pub const MAX_REAUTH_MAX_AGE_SECS: i64 = 366 * 86400;

/// An app's DPoP rules (RFC 9449). Whatever they say, a token request that carries a valid
/// DPoP proof gets tokens bound to its key.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct DpopRules {
    /// Token requests without a DPoP proof are refused (and the app's tokens must be presented
    /// with the DPoP scheme and a proof).
    #[serde(default)]
    pub required: bool,
    /// A DPoP proof must carry a nonce the server handed out (RFC 9449 §8, §9): a proof made
    /// in advance (by malware holding the key for a while) is refused once the nonce rotates.
    #[serde(default)]
    pub nonce_required: bool,
}

/// How a confidential app proves who it is at the token, introspection, revocation and PAR
/// endpoints (`token_endpoint_auth_method` in OIDC terms). Public apps only name themselves.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ClientAuthMethod {
    /// Its client secret, by HTTP Basic (`client_secret_basic`) or in the form
    /// (`client_secret_post`).
    #[default]
    ClientSecret,
    /// A JWT signed with one of its own keys (RFC 7523 §2.2, OIDC Core §9): the secret is not
    /// accepted.
    PrivateKeyJwt,
}

impl ClientAuthMethod {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::ClientSecret => "client_secret",
            Self::PrivateKeyJwt => "private_key_jwt",
        }
    }
}

impl FromStr for ClientAuthMethod {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "client_secret" | "client_secret_basic" | "client_secret_post" => {
                Ok(Self::ClientSecret)
            }
            "private_key_jwt" => Ok(Self::PrivateKeyJwt),
            other => Err(format!(
                "unknown client authentication {other:?} (client_secret, private_key_jwt)"
            )),
        }
    }
}

/// At most this many keys in an app's JWK Set (registered or fetched).
pub const MAX_APP_JWKS_KEYS: usize = 20;
/// The largest JWK Set document taken (registered or fetched), in bytes.
pub const MAX_APP_JWKS_BYTES: usize = 64 * 1024;

/// An app's OIDC settings, stored as one JSON document. Fields added later default when an
/// older document is read.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AppSettings {
    pub grant_types: Vec<GrantType>,
    /// First-party apps get no consent screen; third-party apps ask once per user and scope.
    pub first_party: bool,
    pub access_token_ttl_secs: i64,
    pub id_token_ttl_secs: i64,
    pub session: SessionRules,
    #[serde(default)]
    pub client_auth: ClientAuthMethod,
    /// The app's public keys for `private_key_jwt` (a JWK Set), when registered inline.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub jwks: Option<serde_json::Value>,
    /// Where the app publishes its JWK Set for `private_key_jwt` (fetched through the outbound
    /// client, cached, fetched again for an unknown `kid`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub jwks_uri: Option<AppUri>,
    /// Authorization requests must be pushed first (RFC 9126 PAR): /authorize takes only a
    /// `request_uri` from this app.
    #[serde(default)]
    pub require_par: bool,
    /// Absent in settings stored before DPoP: not required.
    #[serde(default)]
    pub dpop: DpopRules,
}

impl AppSettings {
    pub fn defaults(app_type: AppType, profile: SessionProfile) -> Self {
        let grant_types = match app_type {
            AppType::Service => vec![GrantType::ClientCredentials],
            // SAML apps never reach the token endpoint.
            AppType::Saml => Vec::new(),
            _ => vec![GrantType::AuthorizationCode, GrantType::RefreshToken],
        };
        Self {
            grant_types,
            first_party: true,
            access_token_ttl_secs: 300,
            id_token_ttl_secs: 3600,
            session: profile.preset(),
            client_auth: ClientAuthMethod::ClientSecret,
            jwks: None,
            jwks_uri: None,
            require_par: false,
            dpop: DpopRules::default(),
        }
    }

    /// Checks the bounds; the message names the offending field.
    pub fn validate(&self, app_type: AppType) -> Result<(), &'static str> {
        if !(60..=3600).contains(&self.access_token_ttl_secs) {
            return Err("access token lifetime must be between 60 and 3600 seconds");
        }
        if !(60..=MAX_SIGNED_TOKEN_TTL_SECS).contains(&self.id_token_ttl_secs) {
            return Err("ID token lifetime must be between 60 seconds and 24 hours");
        }
        let s = &self.session;
        if s.lifetime_secs < 60 || s.lifetime_secs > 366 * 86400 {
            return Err("app session lifetime must be between 1 minute and 366 days");
        }
        if s.idle_timeout_secs
            .is_some_and(|i| i < 60 || i > s.lifetime_secs)
        {
            return Err(
                "app session idle timeout must be at least 1 minute and at most the lifetime",
            );
        }
        if s.reauth_max_age_secs
            .is_some_and(|m| !(0..=MAX_REAUTH_MAX_AGE_SECS).contains(&m))
        {
            return Err("re-authentication max age must be between 0 seconds and 366 days");
        }
        if app_type == AppType::Saml {
            return self.validate_saml();
        }
        let code_grant = self.grant_types.contains(&GrantType::AuthorizationCode);
        let cc = self.grant_types.contains(&GrantType::ClientCredentials);
        if app_type == AppType::Service && (code_grant || !cc) {
            return Err("service apps use the client_credentials grant only");
        }
        if app_type != AppType::Service && cc {
            return Err("only service apps may use the client_credentials grant");
        }
        // A device grant signs a user in on another screen: an app that runs for users and
        // calls the token endpoint itself (web or native), never a service or a browser app.
        if self.grant_types.contains(&GrantType::DeviceCode)
            && matches!(app_type, AppType::Service | AppType::Spa)
        {
            return Err("only web and native apps may use the device_code grant");
        }
        if self.grant_types.is_empty() {
            return Err("an app needs at least one grant");
        }
        self.validate_client_auth(app_type)
    }

    /// A SAML app keeps only the session rules: no grant, no OAuth client authentication, no
    /// PAR, no DPoP.
    fn validate_saml(&self) -> Result<(), &'static str> {
        if !self.grant_types.is_empty() {
            return Err("SAML apps use no OAuth grant");
        }
        let oauth_only = self.client_auth != ClientAuthMethod::ClientSecret
            || self.jwks.is_some()
            || self.jwks_uri.is_some()
            || self.require_par
            || self.dpop != DpopRules::default();
        if oauth_only {
            return Err("SAML apps take no OAuth client settings (client_auth, jwks, PAR, DPoP)");
        }
        Ok(())
    }

    /// `private_key_jwt` needs a confidential app and exactly one source of keys; keys are
    /// registered only for it.
    fn validate_client_auth(&self, app_type: AppType) -> Result<(), &'static str> {
        match self.client_auth {
            ClientAuthMethod::PrivateKeyJwt => {
                if !app_type.is_confidential() {
                    return Err("private_key_jwt is for confidential (web and service) apps");
                }
                match (&self.jwks, &self.jwks_uri) {
                    (Some(set), None) => check_public_jwks(set),
                    (None, Some(_)) => Ok(()),
                    _ => Err("private_key_jwt needs either jwks or jwks_uri (one of them)"),
                }
            }
            ClientAuthMethod::ClientSecret if self.jwks.is_some() || self.jwks_uri.is_some() => {
                Err("jwks and jwks_uri are used only with private_key_jwt")
            }
            ClientAuthMethod::ClientSecret => Ok(()),
        }
    }
}

/// Key members that only a private (or symmetric) JWK has.
const PRIVATE_JWK_MEMBERS: [&str; 8] = ["d", "p", "q", "dp", "dq", "qi", "oth", "k"];

/// A JWK Set an app registers or publishes: 1 to `MAX_APP_JWKS_KEYS` public keys Portcullis
/// can verify signatures with (EC P-256, RSA, Ed25519), no private or symmetric key material.
pub fn check_public_jwks(set: &serde_json::Value) -> Result<(), &'static str> {
    if set.to_string().len() > MAX_APP_JWKS_BYTES {
        return Err("the JWK Set is larger than 64 KiB");
    }
    let keys = set
        .get("keys")
        .and_then(|k| k.as_array())
        .ok_or("the JWK Set must be an object with a keys array")?;
    if keys.is_empty() || keys.len() > MAX_APP_JWKS_KEYS {
        return Err("the JWK Set must hold between 1 and 20 keys");
    }
    for key in keys {
        let obj = key.as_object().ok_or("each JWK must be an object")?;
        if PRIVATE_JWK_MEMBERS.iter().any(|m| obj.contains_key(*m)) {
            return Err("the JWK Set must hold public keys only (no private or symmetric key)");
        }
        let jwk: jsonwebtoken::jwk::Jwk =
            serde_json::from_value(key.clone()).map_err(|_| "a JWK could not be read")?;
        let supported = match &jwk.algorithm {
            jsonwebtoken::jwk::AlgorithmParameters::EllipticCurve(ec) => {
                ec.curve == jsonwebtoken::jwk::EllipticCurve::P256
            }
            // At least 2048 bits, as for DPoP keys (NIST SP 800-131A).
            jsonwebtoken::jwk::AlgorithmParameters::RSA(rsa) => {
                use base64::Engine;
                base64::engine::general_purpose::URL_SAFE_NO_PAD
                    .decode(rsa.n.trim_end_matches('='))
                    .is_ok_and(|n| n.iter().skip_while(|b| **b == 0).count() >= 256)
            }
            jsonwebtoken::jwk::AlgorithmParameters::OctetKeyPair(okp) => {
                okp.curve == jsonwebtoken::jwk::EllipticCurve::Ed25519
            }
            _ => false,
        };
        if !supported || jsonwebtoken::DecodingKey::from_jwk(&jwk).is_err() {
            return Err(
                "each JWK must be an EC P-256, RSA (2048 bits or more) or Ed25519 public key",
            );
        }
    }
    Ok(())
}

/// A validated registration, ready for the store.
#[derive(Debug, Clone)]
pub struct NewApp {
    pub client_id: String,
    pub client_secret_hash: Option<String>,
    pub name: String,
    pub app_type: AppType,
    pub redirect_uris: Vec<AppUri>,
    pub post_logout_redirect_uris: Vec<AppUri>,
    pub backchannel_logout_uri: Option<AppUri>,
    pub frontchannel_logout_uri: Option<AppUri>,
    pub session_profile: SessionProfile,
    pub admin: bool,
    pub settings: AppSettings,
    /// Checked SAML settings; `Some` exactly for a SAML app.
    pub saml: Option<super::saml::SamlSettings>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn redirect_uris_follow_the_rules() {
        let ok = |u: &str, t| AppUri::parse(u, t, false).is_ok();
        assert!(ok("https://app.example.com/cb", AppType::Web));
        assert!(ok("http://127.0.0.1:9000/cb", AppType::Web));
        assert!(ok("http://localhost/cb", AppType::Spa));
        assert!(ok("http://[::1]:8000/cb", AppType::Web));
        assert!(ok("com.example.app:/callback", AppType::Native));
        assert!(!ok("com.example.app:/callback", AppType::Web));
        assert!(!ok("http://app.example.com/cb", AppType::Web));
        assert!(!ok("https://app.example.com/cb#frag", AppType::Web));
        assert!(!ok("/relative/cb", AppType::Web));
        assert!(!ok("https://user:pw@app.example.com/cb", AppType::Web));
        assert!(!ok("javascript:alert(1)", AppType::Native));
        assert!(AppUri::parse("http://app.example.com/cb", AppType::Web, true).is_ok());
    }

    #[test]
    fn backchannel_uris_are_https_unless_the_target_is_allowed() {
        let ten = |ip: std::net::IpAddr| match ip {
            std::net::IpAddr::V4(v4) => v4.octets()[0] == 10,
            std::net::IpAddr::V6(_) => false,
        };
        let ok = |u: &str| AppUri::parse_backchannel(u, false, ten).is_ok();
        assert!(ok("https://app.example.com/bc"));
        assert!(ok("http://10.1.2.3:8080/bc"), "an allowed address");
        assert!(
            ok("http://127.0.0.1:9/bc"),
            "loopback, as for every app URI"
        );
        assert!(!ok("http://192.168.1.1/bc"));
        assert!(!ok("http://app.example.com/bc"));
        assert!(!ok("app.example:/bc"), "no custom scheme");
        assert!(AppUri::parse_backchannel("http://app.example.com/bc", true, ten).is_ok());
    }

    #[test]
    fn only_native_apps_vary_the_loopback_port() {
        assert!(loopback_port_variant(
            "http://127.0.0.1/cb",
            "http://127.0.0.1:53127/cb"
        ));
        assert!(loopback_port_variant(
            "http://127.0.0.1:80/cb",
            "http://127.0.0.1:9/cb"
        ));
        assert!(!loopback_port_variant(
            "http://127.0.0.1/cb",
            "http://127.0.0.1:9/cb2"
        ));
        assert!(!loopback_port_variant(
            "http://localhost/cb",
            "http://localhost:9/cb"
        ));
        assert!(!loopback_port_variant(
            "https://127.0.0.1/cb",
            "https://127.0.0.1:9/cb"
        ));
    }

    #[test]
    fn settings_stored_before_dpop_read_as_not_required() {
        let mut s = AppSettings::defaults(AppType::Spa, SessionProfile::Standard);
        let mut json = serde_json::to_value(&s).unwrap();
        json.as_object_mut().unwrap().remove("dpop");
        let read: AppSettings = serde_json::from_value(json).unwrap();
        assert_eq!(read, s);
        assert!(!read.dpop.required && !read.dpop.nonce_required);
        s.dpop.required = true;
        let again: AppSettings = serde_json::from_str(&serde_json::to_string(&s).unwrap()).unwrap();
        assert!(again.dpop.required);
    }

    #[test]
    fn settings_bounds() {
        let mut s = AppSettings::defaults(AppType::Web, SessionProfile::Privileged);
        assert!(s.validate(AppType::Web).is_ok());
        s.session.idle_timeout_secs = Some(s.session.lifetime_secs + 1);
        assert!(s.validate(AppType::Web).is_err());
        let s = AppSettings::defaults(AppType::Service, SessionProfile::Standard);
        assert!(s.validate(AppType::Service).is_ok());
        assert!(s.validate(AppType::Web).is_err());
    }

    #[test]
    fn the_device_grant_is_for_web_and_native_apps() {
        let mut s = AppSettings::defaults(AppType::Native, SessionProfile::Standard);
        s.grant_types.push(GrantType::DeviceCode);
        assert!(s.validate(AppType::Native).is_ok());
        assert!(s.validate(AppType::Web).is_ok());
        assert!(s.validate(AppType::Spa).is_err());
        let mut svc = AppSettings::defaults(AppType::Service, SessionProfile::Standard);
        svc.grant_types.push(GrantType::DeviceCode);
        assert!(svc.validate(AppType::Service).is_err());
        // Stored as `device_code`, named by its URN on the wire.
        assert_eq!(
            serde_json::to_value(GrantType::DeviceCode).unwrap(),
            "device_code"
        );
        for name in [DEVICE_CODE_GRANT, "device_code"] {
            assert_eq!(name.parse::<GrantType>(), Ok(GrantType::DeviceCode));
        }
        assert!("password".parse::<GrantType>().is_err());
    }
}
