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
}

impl AppType {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Web => "web",
            Self::Spa => "spa",
            Self::Native => "native",
            Self::Service => "service",
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
            other => Err(format!(
                "unknown app type {other:?} (web, spa, native, service)"
            )),
        }
    }
}

/// DESIGN §1: privileged apps get short, IdP-bound app sessions; standard apps may outlive the
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

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
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
    pub created_at: DateTime<Utc>,
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
}
