//! The configuration of test nodes and CLI runs.

use figment::Figment;
use figment::providers::{Format, Toml};
use portcullis::config::DEFAULT_TOML;

/// The signing-key encryption key of every test node and CLI run (base64 of 32 bytes).
pub const TEST_KEY_ENCRYPTION_KEY: &str = "cG9ydGN1bGxpcy10ZXN0LWtleS1lbmNyeXB0aW9uLSE=";

/// The configuration a test node runs with: defaults, then the test database and cache.
pub fn test_figment(db_url: &str, redis: Option<(&str, &str)>) -> Figment {
    let mut figment = Figment::from(Toml::string(DEFAULT_TOML))
        .merge(("http.bind", "127.0.0.1:0"))
        .merge(("http.workers", 1))
        .merge(("http.shutdown_timeout_secs", 1))
        .merge(("database.url", db_url))
        .merge(("database.max_connections", 5))
        .merge(("deployment.name", "Portcullis Test"))
        .merge(("passwords.max_concurrent_hashes", 2))
        // Every test client is 127.0.0.1 on a clock that stands still: pacing would hold and
        // then refuse their anonymous requests. `security::limits` turns it on to test it.
        .merge(("security.anonymous_per_ip_per_second", 0))
        .merge(("console.dir", "/nonexistent-console-dir"))
        .merge(("keys.encryption_key", TEST_KEY_ENCRYPTION_KEY))
        // The apps' back-channel receivers in these tests listen on 127.0.0.1, which outbound
        // calls refuse by default; `security::ssrf` turns this off again to test the refusal.
        .merge(("outbound.allow_private", vec!["127.0.0.1/32"]));
    if let Some((url, prefix)) = redis {
        figment = figment
            .merge(("cache.url", url))
            .merge(("cache.key_prefix", prefix));
    }
    figment
}
