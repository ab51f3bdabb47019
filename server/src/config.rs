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
    pub metrics: MetricsConfig,
    pub telemetry: TelemetryConfig,
}

/// Traces exported over OTLP (HTTP, protobuf), off unless `otlp_endpoint` is set.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TelemetryConfig {
    /// The collector's traces URL (`http://collector:4318/v1/traces`); empty (the default)
    /// turns export off. It goes through the outbound policy: a non-public address must be
    /// listed in `outbound.allow_private`.
    pub otlp_endpoint: String,
    /// The `service.name` resource attribute of every span.
    pub service_name: String,
}

impl TelemetryConfig {
    /// The collector's URL, or `None` when export is off.
    pub fn endpoint(&self) -> Option<&str> {
        Some(self.otlp_endpoint.trim()).filter(|e| !e.is_empty())
    }
}

/// The Prometheus scrape endpoint (`GET /metrics`), on its own listener, never the public one.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MetricsConfig {
    /// Address of the metrics listener; empty (the default) turns metrics off.
    pub bind: String,
    /// Per-org (and per-app) labels only while there are fewer orgs (apps) than this;
    /// beyond, totals.
    pub org_label_limit: usize,
}

impl MetricsConfig {
    /// The metrics listener's address, or `None` when metrics are off.
    pub fn bind_addr(&self) -> Option<SocketAddr> {
        self.bind.trim().parse().ok()
    }
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
    /// Days a finished row is kept (ended sessions and app sessions with their refresh tokens,
    /// delivered or failed outbox rows, used or expired links and pending sign-ups) before the
    /// sweeper deletes it.
    pub retention_days: i64,
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

    /// Every section's rules; the first broken one is the error.
    fn validate(&self) -> Result<(), ConfigError> {
        self.validate_security()?;
        self.validate_http()?;
        self.validate_database()?;
        self.validate_cache()?;
        self.validate_email()?;
        self.validate_passwords()?;
        self.validate_logout()?;
        self.validate_sessions()?;
        self.validate_metrics()?;
        self.validate_deployment()
    }

    fn validate_metrics(&self) -> Result<(), ConfigError> {
        let bind = self.metrics.bind.trim();
        ensure(
            bind.is_empty() || self.metrics.bind_addr().is_some(),
            "metrics.bind",
            "must be empty (off) or an address and port such as 127.0.0.1:9090",
        )?;
        ensure(
            self.metrics.bind_addr() != Some(self.http.bind) || self.http.bind.port() == 0,
            "metrics.bind",
            "must differ from http.bind (metrics are never served on the public listener)",
        )?;
        let endpoint_ok = self.telemetry.endpoint().is_none_or(|e| {
            url::Url::parse(e).is_ok_and(|u| matches!(u.scheme(), "http" | "https"))
        });
        ensure(
            endpoint_ok,
            "telemetry.otlp_endpoint",
            "must be empty (off) or an http(s) URL such as http://collector:4318/v1/traces",
        )
    }

    fn validate_security(&self) -> Result<(), ConfigError> {
        let s = &self.security;
        ensure(
            s.ceremony_starts_per_ip_per_minute >= 1,
            "security.ceremony_starts_per_ip_per_minute",
            "must be at least 1",
        )?;
        ensure(
            s.anonymous_burst >= 1,
            "security.anonymous_burst",
            "must be at least 1",
        )?;
        ensure(
            s.anonymous_max_wait_ms <= 60_000,
            "security.anonymous_max_wait_ms",
            "must be at most 60000 (a held request keeps its connection)",
        )
    }

    fn validate_http(&self) -> Result<(), ConfigError> {
        parse_public_url(&self.http.public_url, self.security.danger_allow_plain_http)
            .map(drop)
            .map_err(|problem| ConfigError::Invalid {
                key: "http.public_url",
                problem,
            })
    }

    fn validate_database(&self) -> Result<(), ConfigError> {
        let db = self.database.url.expose();
        ensure(
            db.starts_with("sqlite:")
                || db.starts_with("postgres://")
                || db.starts_with("postgresql://"),
            "database.url",
            "must start with sqlite:, postgres:// or postgresql://",
        )?;
        ensure(
            !db.starts_with("postgres") || Url::parse(db).is_ok(),
            "database.url",
            "is not a valid URL",
        )?;
        ensure(
            self.database.max_connections != 0,
            "database.max_connections",
            "must be at least 1",
        )
    }

    fn validate_cache(&self) -> Result<(), ConfigError> {
        if let Some(url) = self.cache_url() {
            ensure(
                Url::parse(url)
                    .is_ok_and(|u| matches!(u.scheme(), "redis" | "rediss") && u.host().is_some()),
                "cache.url",
                "must be a redis:// or rediss:// URL with a host",
            )?;
        }
        ensure(
            self.cache.op_timeout_ms != 0,
            "cache.op_timeout_ms",
            "must be at least 1",
        )
    }

    fn validate_email(&self) -> Result<(), ConfigError> {
        let e = &self.email;
        if let Some(smtp) = &e.smtp_url {
            ensure(
                Url::parse(smtp.expose()).is_ok_and(|u| matches!(u.scheme(), "smtp" | "smtps")),
                "email.smtp_url",
                "must be an smtp:// or smtps:// URL",
            )?;
        }
        for (key, value) in [
            (
                "email.invitations_per_org_per_hour",
                e.invitations_per_org_per_hour,
            ),
            (
                "email.link_requests_per_ip_per_hour",
                e.link_requests_per_ip_per_hour,
            ),
            (
                "email.link_mail_per_org_per_hour",
                e.link_mail_per_org_per_hour,
            ),
        ] {
            ensure(value >= 0, key, "must not be negative")?;
        }
        Ok(())
    }

    fn validate_passwords(&self) -> Result<(), ConfigError> {
        let p = &self.passwords;
        ensure(
            p.max_waiting_per_account != 0,
            "passwords.max_waiting_per_account",
            "must be at least 1",
        )?;
        ensure(
            p.max_waiting_per_ip != 0,
            "passwords.max_waiting_per_ip",
            "must be at least 1",
        )
    }

    fn validate_logout(&self) -> Result<(), ConfigError> {
        let l = &self.logout;
        ensure(
            l.delivery_timeout_ms != 0
                && l.max_attempts >= 1
                && l.retry_base_secs >= 1
                && l.retry_max_secs >= l.retry_base_secs,
            "logout",
            "delivery_timeout_ms, max_attempts and retry_base_secs must be at least 1, and retry_max_secs at least retry_base_secs",
        )
    }

    fn validate_sessions(&self) -> Result<(), ConfigError> {
        ensure(
            self.sessions.sweep_interval_secs != 0,
            "sessions.sweep_interval_secs",
            "must be at least 1",
        )?;
        ensure(
            (1..=3650).contains(&self.sessions.retention_days),
            "sessions.retention_days",
            "must be between 1 and 3650",
        )
    }

    fn validate_deployment(&self) -> Result<(), ConfigError> {
        ensure(
            !self.deployment.name.trim().is_empty(),
            "deployment.name",
            "must not be empty",
        )
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

/// `Ok` when the rule holds; otherwise `key` is invalid with `problem`.
fn ensure(holds: bool, key: &'static str, problem: &str) -> Result<(), ConfigError> {
    if holds {
        Ok(())
    } else {
        Err(ConfigError::Invalid {
            key,
            problem: problem.to_owned(),
        })
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
