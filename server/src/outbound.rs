//! The one HTTP client for every outbound call whose target a tenant chooses (back-channel
//! logout today, webhooks tomorrow): it refuses loopback, private, link-local, multicast and
//! other non-public addresses unless the operator allows the range (`outbound.allow_private`),
//! follows no redirects, ignores proxy settings and reports refused targets with one generic
//! error, so it cannot be used to scan or poke at the deployment's own network.
//!
//! The address check runs where the connection is made, not before it: names are resolved by
//! [`GuardedResolver`], which hands the connector only the permitted addresses, so a name that
//! resolves to 127.0.0.1 (now, or only at the second lookup) is refused and there is no window
//! between a check and the connect. IP literals never reach a resolver; they are checked from
//! the parsed URL, which is the same `url::Url` the client connects to.
//!
//! SMTP (lettre) does not go through here: its server is operator configuration, not a tenant's.

use ipnet::IpNet;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::sync::Arc;
use std::time::Duration;

/// The error stored for a refused target, whatever the reason (a private address, a name that
/// resolves only to private addresses): never "connection refused" or an HTTP status, which
/// would tell an org admin what listens there.
pub const NOT_ALLOWED: &str = "target address not allowed";

/// Which target addresses outbound calls may reach: every public address, plus the ranges the
/// operator allowed. Unspecified, multicast and broadcast addresses are never targets.
#[derive(Debug, Clone, Default)]
pub struct OutboundPolicy {
    allow: Arc<[IpNet]>,
}

impl OutboundPolicy {
    pub fn new(allow_private: &[IpNet]) -> Self {
        Self {
            allow: allow_private.iter().map(IpNet::trunc).collect(),
        }
    }

    /// True when the operator named a range holding `ip` (an IPv4-mapped IPv6 address counts
    /// as its IPv4 address).
    pub fn explicitly_allowed(&self, ip: IpAddr) -> bool {
        let canonical = canonical(ip);
        self.allow
            .iter()
            .any(|net| net.contains(&ip) || net.contains(&canonical))
    }

    /// May an outbound call connect to `ip`?
    pub fn permits(&self, ip: IpAddr) -> bool {
        let canonical = canonical(ip);
        if never_a_target(canonical) {
            return false;
        }
        is_public(canonical) || self.explicitly_allowed(ip)
    }
}

/// `::ffff:a.b.c.d` is a.b.c.d on the wire: judge it as that.
fn canonical(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V6(v6) => v6.to_ipv4_mapped().map_or(IpAddr::V6(v6), IpAddr::V4),
        v4 => v4,
    }
}

fn never_a_target(ip: IpAddr) -> bool {
    match ip {
        IpAddr::V4(v4) => v4.is_unspecified() || v4.is_multicast() || v4.is_broadcast(),
        IpAddr::V6(v6) => v6.is_unspecified() || v6.is_multicast(),
    }
}

/// IPv4 ranges that are not public destinations (IANA special-purpose registry, RFC 6890 and
/// successors): (network, prefix length).
const V4_SPECIAL: &[(u32, u8)] = &[
    (0x0000_0000, 8),  // 0.0.0.0/8 "this network"
    (0x0A00_0000, 8),  // 10.0.0.0/8 private (RFC 1918)
    (0x6440_0000, 10), // 100.64.0.0/10 carrier-grade NAT (RFC 6598)
    (0x7F00_0000, 8),  // 127.0.0.0/8 loopback
    (0xA9FE_0000, 16), // 169.254.0.0/16 link-local (cloud metadata services live here)
    (0xAC10_0000, 12), // 172.16.0.0/12 private
    (0xC000_0000, 24), // 192.0.0.0/24 IETF protocol assignments
    (0xC000_0200, 24), // 192.0.2.0/24 documentation
    (0xC058_6300, 24), // 192.88.99.0/24 6to4 relay anycast (deprecated)
    (0xC0A8_0000, 16), // 192.168.0.0/16 private
    (0xC612_0000, 15), // 198.18.0.0/15 benchmarking
    (0xC633_6400, 24), // 198.51.100.0/24 documentation
    (0xCB00_7100, 24), // 203.0.113.0/24 documentation
    (0xE000_0000, 4),  // 224.0.0.0/4 multicast
    (0xF000_0000, 4),  // 240.0.0.0/4 reserved, and 255.255.255.255 broadcast
];

/// IPv6 ranges that are not public destinations. The translation ranges that embed an IPv4
/// address (NAT64, 6to4) are judged by that address in `is_public`.
const V6_SPECIAL: &[(u128, u8)] = &[
    (0, 96),                           // ::/96 IPv4-compatible (deprecated), ::, ::1
    (0xffff_u128 << 32, 96),           // ::ffff:0:0/96 IPv4-mapped (judged as IPv4 first)
    (0x0064_ff9b_0001_u128 << 80, 48), // 64:ff9b:1::/48 local-use NAT64
    (0x0100_u128 << 112, 64),          // 100::/64 discard
    (0x2001_u128 << 112, 23),          // 2001::/23 IETF protocol assignments (Teredo…)
    (0x2001_0db8_u128 << 96, 32),      // 2001:db8::/32 documentation
    (0x3fff_u128 << 112, 20),          // 3fff::/20 documentation
    (0xfc00_u128 << 112, 7),           // fc00::/7 unique local
    (0xfe80_u128 << 112, 10),          // fe80::/10 link-local
    (0xfec0_u128 << 112, 10),          // fec0::/10 site-local (deprecated)
    (0xff00_u128 << 112, 8),           // ff00::/8 multicast
];

fn in_v4(ip: u32, (net, len): (u32, u8)) -> bool {
    let mask = u32::MAX.checked_shl(32 - u32::from(len)).unwrap_or(0);
    ip & mask == net
}

fn in_v6(ip: u128, (net, len): (u128, u8)) -> bool {
    let mask = u128::MAX.checked_shl(128 - u32::from(len)).unwrap_or(0);
    ip & mask == net
}

/// True for addresses on the public internet: none of the special-purpose ranges above.
pub fn is_public(ip: IpAddr) -> bool {
    match canonical(ip) {
        IpAddr::V4(v4) => {
            let bits = u32::from(v4);
            !V4_SPECIAL.iter().any(|r| in_v4(bits, *r))
        }
        IpAddr::V6(v6) => {
            let bits = u128::from(v6);
            // 64:ff9b::/96 (RFC 6052 NAT64) and 2002::/16 (6to4) reach the IPv4 address they
            // carry.
            let o = v6.octets();
            if in_v6(bits, (0x0064_ff9b_u128 << 96, 96)) {
                return is_public(IpAddr::V4(Ipv4Addr::new(o[12], o[13], o[14], o[15])));
            }
            if in_v6(bits, (0x2002_u128 << 112, 16)) {
                return is_public(IpAddr::V4(Ipv4Addr::new(o[2], o[3], o[4], o[5])));
            }
            !V6_SPECIAL.iter().any(|r| in_v6(bits, *r))
        }
    }
}

/// Why an outbound call did not get an answer.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum OutboundError {
    /// The target is not allowed (see [`NOT_ALLOWED`]); nothing was sent.
    #[error("target address not allowed")]
    NotAllowed,
    /// Not an absolute http(s) URL.
    #[error("invalid target URL")]
    InvalidUrl,
    #[error("timed out")]
    Timeout,
    #[error("connection refused or unreachable")]
    Connect,
    #[error("request failed: {0}")]
    Other(String),
}

/// The marker error [`GuardedResolver`] fails with; found again in the client's error chain.
#[derive(Debug)]
struct Refused;

impl std::fmt::Display for Refused {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(NOT_ALLOWED)
    }
}

impl std::error::Error for Refused {}

/// Resolves names with the system resolver and keeps only the addresses the policy permits.
/// The connector connects to exactly what this returns, so the check holds at connect time.
#[derive(Debug)]
pub struct GuardedResolver {
    policy: OutboundPolicy,
}

impl reqwest::dns::Resolve for GuardedResolver {
    fn resolve(&self, name: reqwest::dns::Name) -> reqwest::dns::Resolving {
        let policy = self.policy.clone();
        let host = name.as_str().to_owned();
        Box::pin(async move {
            let found: Vec<SocketAddr> =
                tokio::net::lookup_host((host.as_str(), 0)).await?.collect();
            if found.is_empty() {
                return Err(format!("{host}: no address").into());
            }
            let permitted: Vec<SocketAddr> = found
                .into_iter()
                .filter(|a| policy.permits(a.ip()))
                .collect();
            if permitted.is_empty() {
                return Err(Box::new(Refused) as Box<dyn std::error::Error + Send + Sync>);
            }
            Ok(Box::new(permitted.into_iter()) as reqwest::dns::Addrs)
        })
    }
}

/// The outbound client: cheap to clone (one connection pool).
#[derive(Debug, Clone)]
pub struct OutboundClient {
    http: reqwest::Client,
    policy: OutboundPolicy,
}

impl OutboundClient {
    /// A client whose every request (connect and answer) takes at most `timeout`.
    pub fn new(policy: OutboundPolicy, timeout: Duration) -> Result<Self, OutboundError> {
        let http = reqwest::Client::builder()
            // A redirect would send the request (and its token) to a target nobody checked.
            .redirect(reqwest::redirect::Policy::none())
            // A proxy would connect on our behalf: the resolver would see only its name.
            .no_proxy()
            .dns_resolver(Arc::new(GuardedResolver {
                policy: policy.clone(),
            }))
            .timeout(timeout)
            .connect_timeout(timeout)
            .build()
            .map_err(|e| OutboundError::Other(e.to_string()))?;
        Ok(Self { http, policy })
    }

    pub fn policy(&self) -> &OutboundPolicy {
        &self.policy
    }

    /// Checks what can be checked before connecting: the scheme, and the address when the
    /// host is an IP literal (literals bypass the resolver).
    fn target(&self, raw: &str) -> Result<url::Url, OutboundError> {
        check_literal(&self.policy, raw)
    }

    /// POSTs a form (`application/x-www-form-urlencoded`) and returns the response; a redirect
    /// comes back as it is, never followed.
    pub async fn post_form(
        &self,
        url: &str,
        form: &[(&str, &str)],
    ) -> Result<reqwest::Response, OutboundError> {
        let url = self.target(url)?;
        let mut req = self.http.post(url).form(form);
        // The back-channel call continues the trace it is made in (W3C trace context).
        if let Some((name, value)) = crate::telemetry::traceparent() {
            req = req.header(name, value);
        }
        req.send().await.map_err(classify)
    }

    /// POSTs a JSON body (already serialised: the bytes a signature covers) with extra
    /// headers, and returns the response; a redirect comes back as it is, never followed.
    pub async fn post_json(
        &self,
        url: &str,
        headers: &[(&'static str, String)],
        body: Vec<u8>,
    ) -> Result<reqwest::Response, OutboundError> {
        let url = self.target(url)?;
        let mut req = self
            .http
            .post(url)
            .header(reqwest::header::CONTENT_TYPE, "application/json");
        for (name, value) in headers {
            req = req.header(*name, value.as_str());
        }
        req.body(body).send().await.map_err(classify)
    }

    /// GETs `url` and returns the body of a 200 answer, at most `max_bytes` of it (a larger
    /// body is refused while it arrives, never read to the end). A redirect is an error.
    pub async fn get_bounded(&self, url: &str, max_bytes: usize) -> Result<Vec<u8>, OutboundError> {
        let url = self.target(url)?;
        let res = self.http.get(url).send().await.map_err(classify)?;
        if res.status() != reqwest::StatusCode::OK {
            return Err(OutboundError::Other(format!("answered {}", res.status())));
        }
        read_bounded(res, max_bytes).await
    }

    /// POSTs `body` as `content_type` with `headers` (SAML's SOAP binding) and returns the
    /// answer's status and body, at most `max_bytes` of it. A redirect comes back as it is.
    pub async fn post_bounded(
        &self,
        url: &str,
        content_type: &str,
        headers: &[(&str, &str)],
        body: String,
        max_bytes: usize,
    ) -> Result<(reqwest::StatusCode, Vec<u8>), OutboundError> {
        let url = self.target(url)?;
        let mut req = self
            .http
            .post(url)
            .header(reqwest::header::CONTENT_TYPE, content_type);
        for (name, value) in headers {
            req = req.header(*name, *value);
        }
        let res = req.body(body).send().await.map_err(classify)?;
        let status = res.status();
        Ok((status, read_bounded(res, max_bytes).await?))
    }
}

/// The address check [`OutboundClient`] makes before connecting (scheme, IP literal), for a
/// target the operator configures once (the OTLP collector).
pub fn check_literal(policy: &OutboundPolicy, raw: &str) -> Result<url::Url, OutboundError> {
    let url = url::Url::parse(raw).map_err(|_| OutboundError::InvalidUrl)?;
    if !matches!(url.scheme(), "http" | "https") {
        return Err(OutboundError::InvalidUrl);
    }
    let literal = match url.host() {
        Some(url::Host::Ipv4(ip)) => Some(IpAddr::V4(ip)),
        Some(url::Host::Ipv6(ip)) => Some(IpAddr::V6(ip)),
        // `url` already turns every IPv4 spelling (decimal, hex, short) into `Ipv4`; this
        // is for anything else a connector might still read as an address.
        Some(url::Host::Domain(d)) => d
            .trim_start_matches('[')
            .trim_end_matches(']')
            .parse::<IpAddr>()
            .ok(),
        None => return Err(OutboundError::InvalidUrl),
    };
    if literal.is_some_and(|ip| !policy.permits(ip)) {
        return Err(OutboundError::NotAllowed);
    }
    Ok(url)
}

/// A blocking client with the same rules as [`OutboundClient`] (the guarded resolver, no
/// redirects, no proxy), for the trace exporter, which sends from its own thread. Build and
/// drop it outside the async runtime.
pub fn blocking_client(
    policy: OutboundPolicy,
    timeout: Duration,
) -> Result<reqwest::blocking::Client, OutboundError> {
    reqwest::blocking::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .no_proxy()
        .dns_resolver(Arc::new(GuardedResolver { policy }))
        .timeout(timeout)
        .connect_timeout(timeout)
        .build()
        .map_err(|e| OutboundError::Other(e.to_string()))
}

/// At most `max_bytes` of an answer's body (a larger body is refused while it arrives).
async fn read_bounded(
    mut res: reqwest::Response,
    max_bytes: usize,
) -> Result<Vec<u8>, OutboundError> {
    let mut body = Vec::new();
    while let Some(chunk) = res.chunk().await.map_err(classify)? {
        if body.len() + chunk.len() > max_bytes {
            return Err(OutboundError::Other(format!(
                "answer larger than {max_bytes} bytes"
            )));
        }
        body.extend_from_slice(&chunk);
    }
    Ok(body)
}

fn classify(e: reqwest::Error) -> OutboundError {
    let mut source: Option<&(dyn std::error::Error + 'static)> = Some(&e);
    while let Some(err) = source {
        if err.is::<Refused>() {
            return OutboundError::NotAllowed;
        }
        source = err.source();
    }
    if e.is_timeout() {
        OutboundError::Timeout
    } else if e.is_connect() {
        OutboundError::Connect
    } else {
        OutboundError::Other(e.to_string())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    fn nets(list: &[&str]) -> Vec<IpNet> {
        list.iter().map(|s| s.parse().unwrap()).collect()
    }

    #[test]
    fn special_purpose_addresses_are_not_public() {
        for s in [
            "127.0.0.1",
            "127.255.0.9",
            "10.1.2.3",
            "172.16.0.1",
            "172.31.255.255",
            "192.168.1.1",
            "169.254.169.254",
            "100.64.0.1",
            "100.127.255.255",
            "0.0.0.0",
            "0.1.2.3",
            "224.0.0.1",
            "239.255.255.250",
            "255.255.255.255",
            "240.0.0.1",
            "192.0.2.1",
            "198.18.0.1",
            "::",
            "::1",
            "::ffff:127.0.0.1",
            "::ffff:10.0.0.1",
            "::ffff:169.254.169.254",
            "::127.0.0.1",
            "fc00::1",
            "fd12:3456::1",
            "fe80::1",
            "fec0::1",
            "ff02::1",
            "2001:db8::1",
            "2001::1",
            "64:ff9b::7f00:1",
            "64:ff9b::a00:1",
            "2002:7f00:1::1",
            "2002:c0a8:101::1",
        ] {
            assert!(!is_public(ip(s)), "{s} is not public");
            assert!(!OutboundPolicy::default().permits(ip(s)), "{s} refused");
        }
    }

    #[test]
    fn public_addresses_are_permitted() {
        for s in [
            "1.1.1.1",
            "8.8.8.8",
            "93.184.216.34",
            "100.63.255.255",
            "100.128.0.0",
            "172.15.255.255",
            "172.32.0.0",
            "192.169.0.1",
            "169.253.0.1",
            "2606:4700:4700::1111",
            "2a00:1450:4001::1",
            "::ffff:8.8.8.8",
            "64:ff9b::808:808",
            "2002:808:808::1",
        ] {
            assert!(is_public(ip(s)), "{s} is public");
            assert!(OutboundPolicy::default().permits(ip(s)), "{s} permitted");
        }
    }

    #[test]
    fn allowed_ranges_open_exactly_those_addresses() {
        let p = OutboundPolicy::new(&nets(&["127.0.0.1/32", "10.20.0.0/16", "fd00::/8"]));
        for s in ["127.0.0.1", "::ffff:127.0.0.1", "10.20.3.4", "fd00::5"] {
            assert!(p.permits(ip(s)), "{s} allowed");
        }
        for s in ["127.0.0.2", "::1", "10.21.0.1", "192.168.0.1", "fe80::1"] {
            assert!(!p.permits(ip(s)), "{s} still refused");
        }
        // Never targets, whatever is allowed.
        let all = OutboundPolicy::new(&nets(&["0.0.0.0/0", "::/0"]));
        for s in ["0.0.0.0", "224.0.0.1", "255.255.255.255", "::", "ff02::1"] {
            assert!(!all.permits(ip(s)), "{s} never a target");
        }
        assert!(all.permits(ip("192.168.0.1")));
    }

    fn client(allow: &[&str]) -> OutboundClient {
        OutboundClient::new(OutboundPolicy::new(&nets(allow)), Duration::from_secs(5)).unwrap()
    }

    #[tokio::test]
    async fn literal_and_resolved_private_targets_are_refused_before_any_connection() {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        let c = client(&[]);
        for url in [
            format!("http://127.0.0.1:{port}/x"),
            format!("http://[::ffff:127.0.0.1]:{port}/x"),
            format!("http://2130706433:{port}/x"),
            format!("http://0x7f.1:{port}/x"),
            format!("http://localhost:{port}/x"),
            format!("https://localhost:{port}/x"),
            "http://[::1]:9/x".to_owned(),
            "http://169.254.169.254/latest/meta-data/".to_owned(),
        ] {
            assert_eq!(
                c.post_form(&url, &[("a", "b")]).await.unwrap_err(),
                OutboundError::NotAllowed,
                "{url}"
            );
        }
        // Nothing reached the listener.
        let accepted = tokio::time::timeout(Duration::from_millis(200), listener.accept()).await;
        assert!(accepted.is_err(), "a connection was made");
        assert_eq!(
            c.post_form("ftp://example.com/", &[]).await.unwrap_err(),
            OutboundError::InvalidUrl
        );
    }

    #[tokio::test]
    async fn an_allowed_range_reaches_a_loopback_target_without_following_redirects() {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        let server = tokio::spawn(async move {
            use tokio::io::{AsyncReadExt, AsyncWriteExt};
            let (mut sock, _) = listener.accept().await.unwrap();
            let mut buf = [0u8; 4096];
            let _ = sock.read(&mut buf).await;
            sock.write_all(
                b"HTTP/1.1 307 Moved\r\nLocation: http://127.0.0.1:9/elsewhere\r\nContent-Length: 0\r\nConnection: close\r\n\r\n",
            )
            .await
            .unwrap();
        });
        let c = client(&["127.0.0.1/32"]);
        let res = c
            .post_form(&format!("http://localhost:{port}/x"), &[("a", "b")])
            .await
            .unwrap();
        assert_eq!(res.status().as_u16(), 307);
        server.await.unwrap();
    }
}
