//! Typed, layered configuration: `config/default.toml` (built in) → `--config FILE` →
//! `PORTCULLIS__SECTION__KEY` environment variables. Unknown keys are rejected, values are
//! validated once at start, and secrets never reach a log (`Secret`'s `Debug` redacts).

use figment::Figment;
use figment::providers::{Env, Format, Toml};
use serde::Deserialize;
use std::fmt;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use url::Url;

/// The documented defaults, compiled into the binary so it runs with no file at all.
pub const DEFAULT_TOML: &str = include_str!("../../config/default.toml");

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Config {
    pub deployment: DeploymentConfig,
    pub http: HttpConfig,
    pub database: DatabaseConfig,
    pub cache: CacheConfig,
    pub email: EmailConfig,
    pub passwords: PasswordsConfig,
    pub console: ConsoleConfig,
    pub log: LogConfig,
    pub security: SecurityConfig,
    pub sessions: SessionsConfig,
    pub keys: KeysConfig,
    pub logout: LogoutConfig,
    pub outbound: OutboundConfig,
}

/// Outbound HTTP calls to targets a tenant chooses (back-channel logout, webhooks).
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct OutboundConfig {
    /// Non-public ranges (loopback, private, link-local…) that outbound calls may reach anyway.
    /// Empty by default: only public addresses. CIDR ranges or single addresses.
    #[serde(deserialize_with = "ip_ranges")]
    pub allow_private: Vec<ipnet::IpNet>,
}

/// A list of CIDR ranges (`10.0.0.0/8`, `::1/128`; a bare address is its /32 or /128), given
/// as a list or, from an environment variable, as one comma-separated string.
fn ip_ranges<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Vec<ipnet::IpNet>, D::Error> {
    #[derive(Deserialize)]
    #[serde(untagged)]
    enum OneOrMany {
        Many(Vec<String>),
        One(String),
    }
    let items = match OneOrMany::deserialize(d)? {
        OneOrMany::Many(v) => v,
        OneOrMany::One(s) => s.split(',').map(str::to_owned).collect(),
    };
    items
        .iter()
        .map(|s| s.trim())
        .filter(|s| !s.is_empty())
        .map(|s| {
            s.parse::<ipnet::IpNet>()
                .or_else(|_| s.parse::<std::net::IpAddr>().map(ipnet::IpNet::from))
                .map_err(|_| {
                    serde::de::Error::custom(format!(
                        "{s:?} is not an IP range (expected CIDR like \"10.0.0.0/8\" or an address)"
                    ))
                })
        })
        .collect()
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LogoutConfig {
    /// Longest a back-channel logout request may take (connect and answer).
    pub delivery_timeout_ms: u64,
    /// Attempts before a delivery is marked failed.
    pub max_attempts: i32,
    /// First retry delay; doubles per attempt (plus up to 25 % jitter).
    pub retry_base_secs: i64,
    /// Longest delay between two attempts.
    pub retry_max_secs: i64,
    /// How often each node's worker looks for due deliveries.
    pub worker_interval_ms: u64,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct KeysConfig {
    /// base64 of 32 bytes: the AES-256-GCM key that encrypts signing keys at rest.
    pub encryption_key: Option<Secret>,
    /// Where the key is kept (created on first use) when `encryption_key` is unset.
    pub encryption_key_file: String,
    /// Default publish lead of `portcullis key rotate`.
    pub rotation_publish_lead_secs: i64,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SessionsConfig {
    pub sweep_interval_secs: u64,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DeploymentConfig {
    pub name: String,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct HttpConfig {
    pub bind: SocketAddr,
    pub public_url: String,
    pub workers: usize,
    pub shutdown_timeout_secs: u64,
    pub trusted_proxies: Vec<std::net::IpAddr>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DatabaseConfig {
    pub url: Secret,
    pub max_connections: u32,
    pub connect_timeout_secs: u64,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CacheConfig {
    #[serde(default)]
    pub url: Option<Secret>,
    pub key_prefix: String,
    pub op_timeout_ms: u64,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EmailConfig {
    #[serde(default)]
    pub smtp_url: Option<Secret>,
    pub dev_mailbox_dir: PathBuf,
    /// The sender of every message (`Name <address>`).
    pub from: String,
    /// Invitations an org may send per hour.
    pub invitations_per_org_per_hour: i64,
    /// "Forgot password" and "new verification link" requests per client IP, org and hour.
    pub link_requests_per_ip_per_hour: i64,
    /// Messages those forms send per org and hour.
    pub link_mail_per_org_per_hour: i64,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PasswordsConfig {
    pub max_concurrent_hashes: usize,
    /// Sign-ins waiting for (or running) a password check per node (0 = 4 × the hashes).
    pub max_waiting: usize,
    pub max_waiting_per_account: usize,
    pub max_waiting_per_ip: usize,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ConsoleConfig {
    pub dir: PathBuf,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum LogFormat {
    Human,
    Json,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LogConfig {
    pub format: LogFormat,
    pub level: String,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SecurityConfig {
    pub danger_allow_plain_http: bool,
    /// WebAuthn ceremony starts allowed per client IP, org and minute (at least 1).
    pub ceremony_starts_per_ip_per_minute: i64,
    /// Anonymous requests (preflights, sign-in and other anonymous forms) served per client
    /// address and second on each node past the burst; 0 turns pacing off.
    pub anonymous_per_ip_per_second: u32,
    /// How many a client may send at once before its pace applies (at least 1).
    pub anonymous_burst: u32,
    /// The longest a request ahead of its pace is held before it is refused with 429.
    pub anonymous_max_wait_ms: u64,
}

/// A configuration value that must never be printed (URLs with passwords, keys).
#[derive(Clone, Deserialize, PartialEq, Eq)]
#[serde(transparent)]
pub struct Secret(String);

impl Secret {
    pub fn new(value: impl Into<String>) -> Self {
        Self(value.into())
    }

    /// The secret itself: call only where it is used, never to log it.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Secret([redacted])")
    }
}

#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("configuration: {0}")]
    Load(Box<figment::Error>),
    #[error("configuration file {0} does not exist")]
    MissingFile(PathBuf),
    #[error("configuration key {key}: {problem}")]
    Invalid { key: &'static str, problem: String },
}

impl Config {
    /// The layered sources: defaults, then the optional file, then the environment.
    pub fn figment(file: Option<&Path>) -> Result<Figment, ConfigError> {
        let mut figment = Figment::from(Toml::string(DEFAULT_TOML));
        if let Some(path) = file {
            if !path.is_file() {
                return Err(ConfigError::MissingFile(path.to_path_buf()));
            }
            figment = figment.merge(Toml::file_exact(path));
        }
        Ok(figment.merge(Env::prefixed("PORTCULLIS__").split("__")))
    }

    /// Loads the configuration the way `portcullis` does at start.
    pub fn load(file: Option<&Path>) -> Result<Self, ConfigError> {
        Self::from_figment(Self::figment(file)?)
    }

    /// Extracts and validates a configuration from any set of sources (tests add their own).
    pub fn from_figment(figment: Figment) -> Result<Self, ConfigError> {
        let config: Config = figment
            .extract()
            .map_err(|e| ConfigError::Load(Box::new(e)))?;
        config.validate()?;
        Ok(config)
    }

    fn validate(&self) -> Result<(), ConfigError> {
        if self.security.ceremony_starts_per_ip_per_minute < 1 {
            return Err(ConfigError::Invalid {
                key: "security.ceremony_starts_per_ip_per_minute",
                problem: "must be at least 1".into(),
            });
        }
        if self.security.anonymous_burst < 1 {
            return Err(ConfigError::Invalid {
                key: "security.anonymous_burst",
                problem: "must be at least 1".into(),
            });
        }
        if self.security.anonymous_max_wait_ms > 60_000 {
            return Err(ConfigError::Invalid {
                key: "security.anonymous_max_wait_ms",
                problem: "must be at most 60000 (a held request keeps its connection)".into(),
            });
        }
        parse_public_url(&self.http.public_url, self.security.danger_allow_plain_http).map_err(
            |problem| ConfigError::Invalid {
                key: "http.public_url",
                problem,
            },
        )?;
        let db = self.database.url.expose();
        if !(db.starts_with("sqlite:")
            || db.starts_with("postgres://")
            || db.starts_with("postgresql://"))
        {
            return Err(ConfigError::Invalid {
                key: "database.url",
                problem: "must start with sqlite:, postgres:// or postgresql://".into(),
            });
        }
        if db.starts_with("postgres") && Url::parse(db).is_err() {
            return Err(ConfigError::Invalid {
                key: "database.url",
                problem: "is not a valid URL".into(),
            });
        }
        if self.database.max_connections == 0 {
            return Err(ConfigError::Invalid {
                key: "database.max_connections",
                problem: "must be at least 1".into(),
            });
        }
        if let Some(url) = self.cache_url() {
            match Url::parse(url) {
                Ok(u) if matches!(u.scheme(), "redis" | "rediss") && u.host().is_some() => {}
                _ => {
                    return Err(ConfigError::Invalid {
                        key: "cache.url",
                        problem: "must be a redis:// or rediss:// URL with a host".into(),
                    });
                }
            }
        }
        if let Some(smtp) = &self.email.smtp_url {
            match Url::parse(smtp.expose()) {
                Ok(u) if matches!(u.scheme(), "smtp" | "smtps") => {}
                _ => {
                    return Err(ConfigError::Invalid {
                        key: "email.smtp_url",
                        problem: "must be an smtp:// or smtps:// URL".into(),
                    });
                }
            }
        }
        for (key, value) in [
            (
                "passwords.max_waiting_per_account",
                self.passwords.max_waiting_per_account,
            ),
            (
                "passwords.max_waiting_per_ip",
                self.passwords.max_waiting_per_ip,
            ),
        ] {
            if value == 0 {
                return Err(ConfigError::Invalid {
                    key,
                    problem: "must be at least 1".into(),
                });
            }
        }
        for (key, value) in [
            (
                "email.invitations_per_org_per_hour",
                self.email.invitations_per_org_per_hour,
            ),
            (
                "email.link_requests_per_ip_per_hour",
                self.email.link_requests_per_ip_per_hour,
            ),
            (
                "email.link_mail_per_org_per_hour",
                self.email.link_mail_per_org_per_hour,
            ),
        ] {
            if value < 0 {
                return Err(ConfigError::Invalid {
                    key,
                    problem: "must not be negative".into(),
                });
            }
        }
        if self.cache.op_timeout_ms == 0 {
            return Err(ConfigError::Invalid {
                key: "cache.op_timeout_ms",
                problem: "must be at least 1".into(),
            });
        }
        let l = &self.logout;
        if l.delivery_timeout_ms == 0
            || l.max_attempts < 1
            || l.retry_base_secs < 1
            || l.retry_max_secs < l.retry_base_secs
        {
            return Err(ConfigError::Invalid {
                key: "logout",
                problem: "delivery_timeout_ms, max_attempts and retry_base_secs must be at least 1, and retry_max_secs at least retry_base_secs".into(),
            });
        }
        if self.sessions.sweep_interval_secs == 0 {
            return Err(ConfigError::Invalid {
                key: "sessions.sweep_interval_secs",
                problem: "must be at least 1".into(),
            });
        }
        if self.deployment.name.trim().is_empty() {
            return Err(ConfigError::Invalid {
                key: "deployment.name",
                problem: "must not be empty".into(),
            });
        }
        Ok(())
    }

    /// The Redis URL, if one is set (an empty value means "in-process").
    pub fn cache_url(&self) -> Option<&str> {
        self.cache
            .url
            .as_ref()
            .map(Secret::expose)
            .filter(|u| !u.trim().is_empty())
    }

    /// The public URL without a trailing slash.
    pub fn public_url(&self) -> &str {
        self.http.public_url.trim_end_matches('/')
    }
}

/// True for hosts that never leave the machine, where plain http cannot be sniffed.
pub fn is_loopback_host(host: &url::Host<&str>) -> bool {
    match host {
        url::Host::Domain(d) => d.eq_ignore_ascii_case("localhost"),
        url::Host::Ipv4(ip) => ip.is_loopback(),
        url::Host::Ipv6(ip) => ip.is_loopback(),
    }
}

fn parse_public_url(raw: &str, allow_plain_http: bool) -> Result<Url, String> {
    let url = Url::parse(raw).map_err(|e| format!("{raw:?} is not a valid URL ({e})"))?;
    let host = url.host().ok_or_else(|| format!("{raw:?} has no host"))?;
    match url.scheme() {
        "https" => {}
        "http" if is_loopback_host(&host) || allow_plain_http => {}
        "http" => {
            return Err(format!(
                "{raw:?} uses plain http on a non-loopback host; use https (or set security.danger_allow_plain_http)"
            ));
        }
        other => return Err(format!("{raw:?} has scheme {other:?}; expected https")),
    }
    if url.query().is_some() || url.fragment().is_some() {
        return Err(format!("{raw:?} must not have a query or fragment"));
    }
    Ok(url)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn with(pairs: &[(&str, &str)]) -> Result<Config, ConfigError> {
        let mut f = Figment::from(Toml::string(DEFAULT_TOML));
        for (k, v) in pairs {
            f = f.merge((*k, *v));
        }
        Config::from_figment(f)
    }

    #[test]
    fn defaults_load_and_are_embedded() {
        let c = with(&[]).unwrap();
        assert_eq!(c.http.bind.to_string(), "127.0.0.1:8080");
        assert_eq!(c.public_url(), "http://localhost:8080");
        assert!(c.cache_url().is_none());
        assert!(c.database.url.expose().starts_with("sqlite:"));
    }

    #[test]
    fn unknown_key_is_rejected_by_name() {
        let err = Config::from_figment(
            Figment::from(Toml::string(DEFAULT_TOML)).merge(Toml::string("[http]\nbindd = \"x\"")),
        )
        .unwrap_err()
        .to_string();
        assert!(err.contains("bindd"), "{err}");
    }

    #[test]
    fn non_loopback_http_public_url_is_rejected() {
        let err = with(&[("http.public_url", "http://idp.example.com")])
            .unwrap_err()
            .to_string();
        assert!(err.contains("http.public_url"), "{err}");
        assert!(with(&[("http.public_url", "https://idp.example.com")]).is_ok());
        assert!(with(&[("http.public_url", "http://127.0.0.1:9")]).is_ok());
    }

    #[test]
    fn bad_database_and_cache_urls_are_named() {
        let err = with(&[("database.url", "mysql://x")])
            .unwrap_err()
            .to_string();
        assert!(err.contains("database.url"), "{err}");
        let err = with(&[("cache.url", "memcached://x")])
            .unwrap_err()
            .to_string();
        assert!(err.contains("cache.url"), "{err}");
    }

    #[test]
    fn outbound_allow_private_is_empty_by_default_and_parses_ranges() {
        assert!(with(&[]).unwrap().outbound.allow_private.is_empty());
        let f = Figment::from(Toml::string(DEFAULT_TOML)).merge((
            "outbound.allow_private",
            vec!["127.0.0.1/32", "::1", "10.0.0.0/8"],
        ));
        let c = Config::from_figment(f).unwrap();
        let got: Vec<String> = c
            .outbound
            .allow_private
            .iter()
            .map(ToString::to_string)
            .collect();
        assert_eq!(got, ["127.0.0.1/32", "::1/128", "10.0.0.0/8"]);
        // One string, as an environment variable gives it.
        let c = with(&[("outbound.allow_private", "127.0.0.1/32, fd00::/8")]).unwrap();
        assert_eq!(c.outbound.allow_private.len(), 2);
        let err = with(&[("outbound.allow_private", "localhost")])
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("allow_private") && err.contains("localhost"),
            "{err}"
        );
    }

    #[test]
    fn secrets_are_redacted_in_debug() {
        let c = with(&[("database.url", "postgres://u:hunter2@db/x")]).unwrap();
        let printed = format!("{c:?}");
        assert!(!printed.contains("hunter2"), "{printed}");
        assert!(printed.contains("redacted"));
    }
}
