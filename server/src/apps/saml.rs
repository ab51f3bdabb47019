//! SAML 2.0 service providers as apps: the settings an org admin registers for one (its entity
//! id, where its assertions go, how it logs out, what it is told and how it is signed). The
//! protocol itself (messages, signatures, the IdP's metadata) lives in `crate::saml`; this is
//! the registration, checked once on the way in.

use super::model::{AppType, AppUri};
use serde::{Deserialize, Serialize};
use std::str::FromStr;

/// Assertion consumer service URLs per app (SAML metadata allows many; real SPs declare a few).
pub const MAX_ACS_URLS: usize = 10;
/// The longest SP entity id, in bytes (SAML core §8.3.6 says 1024 characters; bytes keep the
/// unique index within PostgreSQL's B-tree row limit whatever the characters).
pub const MAX_ENTITY_ID_BYTES: usize = 1024;
/// The largest certificate PEM taken (a 4096-bit RSA certificate with a long chain of names
/// is well under this).
pub const MAX_CERTIFICATE_PEM_BYTES: usize = 16 * 1024;
/// The longest `RelayState` (SAML bindings §3.4.3, §3.5.3: at most 80 bytes).
pub const MAX_RELAY_STATE_BYTES: usize = 80;

/// A SAML binding (SAML bindings §3): how a message travels.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum SamlBinding {
    /// HTTP-Redirect: deflated, in the query string.
    Redirect,
    /// HTTP-POST: base64 in an auto-submitted form.
    Post,
    /// SOAP over HTTP: server to server (Single Logout's back channel).
    Soap,
}

impl SamlBinding {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Redirect => "redirect",
            Self::Post => "post",
            Self::Soap => "soap",
        }
    }

    /// The binding's URN as metadata names it (SAML bindings §3.2.1, §3.4.1, §3.5.1).
    pub fn urn(self) -> &'static str {
        match self {
            Self::Redirect => "urn:oasis:names:tc:SAML:2.0:bindings:HTTP-Redirect",
            Self::Post => "urn:oasis:names:tc:SAML:2.0:bindings:HTTP-POST",
            Self::Soap => "urn:oasis:names:tc:SAML:2.0:bindings:SOAP",
        }
    }
}

impl FromStr for SamlBinding {
    type Err = String;
    /// The short names, or the URNs of metadata.
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        [Self::Redirect, Self::Post, Self::Soap]
            .into_iter()
            .find(|b| s.eq_ignore_ascii_case(b.as_str()) || s == b.urn())
            .ok_or_else(|| format!("unknown binding {s:?} (redirect, post, soap)"))
    }
}

/// The NameID the SP receives (SAML core §8.3).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum NameIdFormat {
    /// The user's email address.
    Email,
    /// An opaque identifier per app and user, the same at every sign-in, that no two apps share
    /// (pairwise): the SP cannot correlate its users with another SP's.
    Persistent,
    /// A new opaque identifier at every sign-in.
    Transient,
}

impl NameIdFormat {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Email => "email",
            Self::Persistent => "persistent",
            Self::Transient => "transient",
        }
    }

    /// The format's URN (SAML core §8.3.2, §8.3.7, §8.3.8).
    pub fn urn(self) -> &'static str {
        match self {
            Self::Email => "urn:oasis:names:tc:SAML:1.1:nameid-format:emailAddress",
            Self::Persistent => "urn:oasis:names:tc:SAML:2.0:nameid-format:persistent",
            Self::Transient => "urn:oasis:names:tc:SAML:2.0:nameid-format:transient",
        }
    }
}

impl FromStr for NameIdFormat {
    type Err = String;
    /// The short names, or the URNs.
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        [Self::Email, Self::Persistent, Self::Transient]
            .into_iter()
            .find(|f| s.eq_ignore_ascii_case(f.as_str()) || s == f.urn())
            .ok_or_else(|| format!("unknown NameID format {s:?} (email, persistent, transient)"))
    }
}

/// A user attribute the IdP may release in the assertion.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum SamlAttribute {
    Email,
    Name,
}

impl SamlAttribute {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Email => "email",
            Self::Name => "name",
        }
    }
}

impl FromStr for SamlAttribute {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "email" => Ok(Self::Email),
            "name" => Ok(Self::Name),
            other => Err(format!("unknown attribute {other:?} (email, name)")),
        }
    }
}

/// The SP's entity id: 1 to 1024 bytes, no surrounding space, no control characters. Stored
/// and compared exactly as given (an `Issuer` must match byte for byte).
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct SpEntityId(String);

impl SpEntityId {
    pub fn parse(raw: &str) -> Result<Self, SamlSettingsError> {
        let bad = |m: &str| SamlSettingsError::new("sp_entity_id", m);
        if raw.is_empty() {
            return Err(bad("the SP entity id is required"));
        }
        if raw.len() > MAX_ENTITY_ID_BYTES {
            return Err(bad("the SP entity id is longer than 1024 bytes"));
        }
        if raw.trim() != raw || raw.chars().any(char::is_control) {
            return Err(bad(
                "the SP entity id must not have surrounding spaces or control characters",
            ));
        }
        Ok(Self(raw.to_owned()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// An X.509 certificate of the SP, in PEM, that parses as one (checked with `x509-parser`,
/// already in the tree for WebAuthn attestation). Stored as given.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SpCertificate(String);

impl SpCertificate {
    pub fn parse(raw: &str, field: &'static str) -> Result<Self, SamlSettingsError> {
        let bad = |m: &str| SamlSettingsError::new(field, m);
        let pem_text = raw.trim();
        if pem_text.len() > MAX_CERTIFICATE_PEM_BYTES {
            return Err(bad("the certificate PEM is larger than 16 KiB"));
        }
        // The parser skips lines before a block: here nothing may come before it.
        if !pem_text.starts_with("-----BEGIN CERTIFICATE-----") {
            return Err(bad("not a PEM certificate (-----BEGIN CERTIFICATE----- …)"));
        }
        let (rest, pem) = x509_parser::pem::parse_x509_pem(pem_text.as_bytes())
            .map_err(|_| bad("not a PEM certificate (-----BEGIN CERTIFICATE----- …)"))?;
        if pem.label != "CERTIFICATE" {
            return Err(bad("the PEM block must be a CERTIFICATE"));
        }
        if !rest.iter().all(u8::is_ascii_whitespace) {
            return Err(bad("one certificate only, with nothing after it"));
        }
        pem.parse_x509()
            .map_err(|_| bad("the PEM block does not hold an X.509 certificate"))?;
        Ok(Self(format!("{pem_text}\n")))
    }

    pub fn as_pem(&self) -> &str {
        &self.0
    }
}

/// An assertion consumer service: where the SP takes its `Response`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AcsUrl {
    /// The endpoint's index (SAML metadata §2.2.3), which an AuthnRequest may name instead of
    /// the URL.
    pub index: u16,
    /// As the SP declares it; a `Response` is sent with POST (HTTP-Redirect cannot carry a
    /// signed assertion of any size).
    pub binding: SamlBinding,
    pub url: AppUri,
}

/// Where and how the SP takes Single Logout messages.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SloEndpoint {
    pub url: AppUri,
    pub binding: SamlBinding,
}

/// A SAML app's settings, checked: what the store keeps and the SSO and SLO steps read.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SamlSettings {
    /// Unique in the org (`saml_apps` has a unique index on org and entity id).
    pub sp_entity_id: SpEntityId,
    /// 1 to `MAX_ACS_URLS`, distinct indexes.
    pub acs_urls: Vec<AcsUrl>,
    /// The ACS used when an AuthnRequest names none (and for IdP-initiated SSO); one of
    /// `acs_urls`.
    pub default_acs_index: u16,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub slo: Option<SloEndpoint>,
    pub name_id_format: NameIdFormat,
    /// Released in the assertion's `AttributeStatement`.
    pub attributes: Vec<SamlAttribute>,
    /// Sign the `Response` element; at least one of this and `sign_assertion`.
    pub sign_response: bool,
    /// Sign the `Assertion` element.
    pub sign_assertion: bool,
    /// The SP's signing certificate, to verify its signed AuthnRequests and logout messages.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sp_certificate: Option<SpCertificate>,
    /// Unsigned AuthnRequests and logout messages from the SP are refused (needs
    /// `sp_certificate`).
    pub require_signed_requests: bool,
    /// SHA-1 signatures and digests are accepted from this SP (default: refused).
    pub allow_sha1: bool,
    /// Assertions are to be encrypted to `sp_encryption_certificate` (encryption itself is not
    /// built yet: the flag and the certificate are stored).
    pub encrypt_assertions: bool,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sp_encryption_certificate: Option<SpCertificate>,
    /// Users may start this app from the IdP (the account page lists it): an unsolicited
    /// Response to the default ACS, which must take HTTP-POST.
    #[serde(default)]
    pub idp_initiated: bool,
    /// The `RelayState` sent with an IdP-initiated Response (the SP's landing page, say), at
    /// most 80 bytes, passed as registered.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub idp_initiated_relay_state: Option<String>,
}

impl SamlSettings {
    /// The ACS with this index, or the default one when None.
    pub fn acs(&self, index: Option<u16>) -> Option<&AcsUrl> {
        let wanted = index.unwrap_or(self.default_acs_index);
        self.acs_urls.iter().find(|a| a.index == wanted)
    }

    /// Whether `url` is a registered ACS URL (exact, byte for byte).
    pub fn acs_registered(&self, url: &str) -> Option<&AcsUrl> {
        self.acs_urls.iter().find(|a| a.url.as_str() == url)
    }
}

/// A registration field that does not pass, named as the admin API names it (under `saml.`).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{message}")]
pub struct SamlSettingsError {
    pub field: &'static str,
    pub message: String,
}

impl SamlSettingsError {
    pub fn new(field: &'static str, message: impl Into<String>) -> Self {
        Self {
            field,
            message: message.into(),
        }
    }
}

/// One ACS as asked for: its URL, its binding (default POST) and its index (default: its
/// position in the list).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AcsRequest {
    pub url: String,
    pub binding: Option<String>,
    pub index: Option<u16>,
}

/// A SAML app's settings as the CLI or the admin API ask for them, before the checks. Absent
/// values get the defaults: NameID `email`, attributes email and name, both the response and
/// the assertion signed, nothing required of the SP's requests, no SHA-1, no encryption.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SamlRequest {
    pub sp_entity_id: String,
    pub acs_urls: Vec<AcsRequest>,
    /// None = the first ACS listed.
    pub default_acs_index: Option<u16>,
    pub slo_url: Option<String>,
    /// None = redirect.
    pub slo_binding: Option<String>,
    pub name_id_format: Option<String>,
    pub attributes: Option<Vec<String>>,
    pub sign_response: Option<bool>,
    pub sign_assertion: Option<bool>,
    pub sp_certificate: Option<String>,
    pub require_signed_requests: bool,
    pub allow_sha1: bool,
    pub encrypt_assertions: bool,
    pub sp_encryption_certificate: Option<String>,
    pub idp_initiated: bool,
    /// None or empty: no RelayState.
    pub idp_initiated_relay_state: Option<String>,
}

/// How the URIs of a registration are checked: the app URI rules (`https`, `http` on loopback
/// or with the danger switch) and, for SOAP logout, the back-channel rules.
pub trait UriRules {
    fn front(&self, raw: &str) -> Result<AppUri, super::model::InvalidUri>;
    fn back(&self, raw: &str) -> Result<AppUri, super::model::InvalidUri>;
}

impl SamlRequest {
    /// The request as stored settings say it (to change some of it).
    pub fn from_settings(s: &SamlSettings) -> Self {
        Self {
            sp_entity_id: s.sp_entity_id.as_str().to_owned(),
            acs_urls: s
                .acs_urls
                .iter()
                .map(|a| AcsRequest {
                    url: a.url.as_str().to_owned(),
                    binding: Some(a.binding.as_str().to_owned()),
                    index: Some(a.index),
                })
                .collect(),
            default_acs_index: Some(s.default_acs_index),
            slo_url: s.slo.as_ref().map(|e| e.url.as_str().to_owned()),
            slo_binding: s.slo.as_ref().map(|e| e.binding.as_str().to_owned()),
            name_id_format: Some(s.name_id_format.as_str().to_owned()),
            attributes: Some(s.attributes.iter().map(|a| a.as_str().to_owned()).collect()),
            sign_response: Some(s.sign_response),
            sign_assertion: Some(s.sign_assertion),
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

    /// Checks every field; the error names the first that does not pass.
    pub fn validate(&self, uris: &impl UriRules) -> Result<SamlSettings, SamlSettingsError> {
        let sp_entity_id = SpEntityId::parse(&self.sp_entity_id)?;
        let acs_urls = self.acs(uris)?;
        let default_acs_index = match self.default_acs_index {
            Some(i) if acs_urls.iter().any(|a| a.index == i) => i,
            Some(_) => {
                return Err(SamlSettingsError::new(
                    "default_acs_index",
                    "the default ACS index must be the index of one of the ACS URLs",
                ));
            }
            None => acs_urls.first().map_or(0, |a| a.index),
        };
        let sign_response = self.sign_response.unwrap_or(true);
        let sign_assertion = self.sign_assertion.unwrap_or(true);
        if !sign_response && !sign_assertion {
            return Err(SamlSettingsError::new(
                "sign_response",
                "sign the response, the assertion, or both",
            ));
        }
        let (sp_certificate, sp_encryption_certificate) = self.certificates()?;
        let idp_initiated_relay_state = self.idp_initiated(&acs_urls, default_acs_index)?;
        Ok(SamlSettings {
            sp_entity_id,
            acs_urls,
            default_acs_index,
            slo: self.slo(uris)?,
            name_id_format: match &self.name_id_format {
                Some(f) => f
                    .parse()
                    .map_err(|m| SamlSettingsError::new("name_id_format", m))?,
                None => NameIdFormat::Email,
            },
            attributes: self.attributes()?,
            sign_response,
            sign_assertion,
            sp_certificate,
            require_signed_requests: self.require_signed_requests,
            allow_sha1: self.allow_sha1,
            encrypt_assertions: self.encrypt_assertions,
            sp_encryption_certificate,
            idp_initiated: self.idp_initiated,
            idp_initiated_relay_state,
        })
    }

    /// IdP-initiated SSO posts to the default ACS: it must take HTTP-POST. The RelayState is
    /// at most 80 bytes of printable text (it goes into a form field as is).
    fn idp_initiated(
        &self,
        acs_urls: &[AcsUrl],
        default_index: u16,
    ) -> Result<Option<String>, SamlSettingsError> {
        let relay = self
            .idp_initiated_relay_state
            .as_deref()
            .filter(|r| !r.is_empty());
        if let Some(r) = relay {
            let bad = |m: &str| SamlSettingsError::new("idp_initiated_relay_state", m);
            if r.len() > MAX_RELAY_STATE_BYTES {
                return Err(bad("the RelayState is longer than 80 bytes"));
            }
            if r.chars().any(char::is_control) {
                return Err(bad("the RelayState must not have control characters"));
            }
        }
        let default_post = acs_urls
            .iter()
            .any(|a| a.index == default_index && a.binding == SamlBinding::Post);
        if self.idp_initiated && !default_post {
            return Err(SamlSettingsError::new(
                "idp_initiated",
                "IdP-initiated SSO posts to the default ACS URL: give it the post binding",
            ));
        }
        Ok(relay.map(str::to_owned))
    }

    fn acs(&self, uris: &impl UriRules) -> Result<Vec<AcsUrl>, SamlSettingsError> {
        let bad = |m: String| SamlSettingsError::new("acs_urls", m);
        if self.acs_urls.is_empty() {
            return Err(bad("a SAML app needs at least one ACS URL".into()));
        }
        if self.acs_urls.len() > MAX_ACS_URLS {
            return Err(bad(format!(
                "a SAML app may have at most {MAX_ACS_URLS} ACS URLs"
            )));
        }
        let mut out: Vec<AcsUrl> = Vec::with_capacity(self.acs_urls.len());
        for (position, acs) in self.acs_urls.iter().enumerate() {
            let url = uris.front(&acs.url).map_err(|e| bad(e.to_string()))?;
            let binding = match acs.binding.as_deref() {
                None => SamlBinding::Post,
                Some(b) => b.parse().map_err(bad)?,
            };
            if binding == SamlBinding::Soap {
                return Err(bad("an ACS binding is post or redirect".into()));
            }
            let index = match acs.index {
                Some(i) => i,
                None => u16::try_from(position).unwrap_or(u16::MAX),
            };
            if out.iter().any(|a| a.index == index) {
                return Err(bad(format!("two ACS URLs have the index {index}")));
            }
            out.push(AcsUrl {
                index,
                binding,
                url,
            });
        }
        Ok(out)
    }

    fn slo(&self, uris: &impl UriRules) -> Result<Option<SloEndpoint>, SamlSettingsError> {
        let binding = match self.slo_binding.as_deref() {
            None => SamlBinding::Redirect,
            Some(b) => b
                .parse()
                .map_err(|m| SamlSettingsError::new("slo_binding", m))?,
        };
        let Some(raw) = self.slo_url.as_deref().filter(|u| !u.trim().is_empty()) else {
            return match self.slo_binding {
                Some(_) => Err(SamlSettingsError::new(
                    "slo_url",
                    "a Single Logout binding needs a Single Logout URL",
                )),
                None => Ok(None),
            };
        };
        // SOAP is server to server: the back-channel rules (and the SSRF guard on each call).
        let url = match binding {
            SamlBinding::Soap => uris.back(raw),
            _ => uris.front(raw),
        }
        .map_err(|e| SamlSettingsError::new("slo_url", e.to_string()))?;
        Ok(Some(SloEndpoint { url, binding }))
    }

    fn attributes(&self) -> Result<Vec<SamlAttribute>, SamlSettingsError> {
        let Some(names) = &self.attributes else {
            return Ok(vec![SamlAttribute::Email, SamlAttribute::Name]);
        };
        let mut out = Vec::new();
        for name in names {
            let a: SamlAttribute = name
                .parse()
                .map_err(|m| SamlSettingsError::new("attributes", m))?;
            if !out.contains(&a) {
                out.push(a);
            }
        }
        Ok(out)
    }

    #[allow(clippy::type_complexity)]
    fn certificates(
        &self,
    ) -> Result<(Option<SpCertificate>, Option<SpCertificate>), SamlSettingsError> {
        let cert = |raw: &Option<String>, field| {
            raw.as_deref()
                .filter(|p| !p.trim().is_empty())
                .map(|p| SpCertificate::parse(p, field))
                .transpose()
        };
        let signing = cert(&self.sp_certificate, "sp_certificate")?;
        let encryption = cert(&self.sp_encryption_certificate, "sp_encryption_certificate")?;
        if self.require_signed_requests && signing.is_none() {
            return Err(SamlSettingsError::new(
                "sp_certificate",
                "signed requests can be required only with the SP's certificate",
            ));
        }
        // Refused until assertions are encrypted: an admin who asks for it must not believe the
        // NameID and attributes are hidden from the browser while they go out in clear.
        if self.encrypt_assertions {
            return Err(SamlSettingsError::new(
                "encrypt_assertions",
                "assertion encryption is not supported yet: leave it off (the assertion is \
                 signed and travels over TLS)",
            ));
        }
        Ok((signing, encryption))
    }
}

/// The rules of [`AppUri::parse`] for a web app, and the back-channel rules: what
/// `AppService` applies to every app's URIs.
pub(super) struct AppUriRules<'a, F: Fn(std::net::IpAddr) -> bool> {
    pub allow_plain_http: bool,
    pub allowed: &'a F,
}

impl<F: Fn(std::net::IpAddr) -> bool> UriRules for AppUriRules<'_, F> {
    fn front(&self, raw: &str) -> Result<AppUri, super::model::InvalidUri> {
        AppUri::parse(raw, AppType::Web, self.allow_plain_http)
    }
    fn back(&self, raw: &str) -> Result<AppUri, super::model::InvalidUri> {
        AppUri::parse_backchannel(raw, self.allow_plain_http, self.allowed)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    struct Rules;
    impl UriRules for Rules {
        fn front(&self, raw: &str) -> Result<AppUri, super::super::model::InvalidUri> {
            AppUri::parse(raw, AppType::Web, false)
        }
        fn back(&self, raw: &str) -> Result<AppUri, super::super::model::InvalidUri> {
            AppUri::parse_backchannel(raw, false, |_| false)
        }
    }

    fn request() -> SamlRequest {
        SamlRequest {
            sp_entity_id: "https://sp.example.com/metadata".into(),
            acs_urls: vec![AcsRequest {
                url: "https://sp.example.com/acs".into(),
                binding: None,
                index: None,
            }],
            ..SamlRequest::default()
        }
    }

    /// A self-signed certificate made with `openssl req -x509 -newkey ec
    /// -pkeyopt ec_paramgen_curve:P-256 -days 36500 -subj /CN=sp.example.com -nodes`.
    pub(crate) const SP_CERT: &str = "-----BEGIN CERTIFICATE-----
MIIBiDCCAS+gAwIBAgIULFRXPQkB65zifsZEmTOXCOlA3wswCgYIKoZIzj0EAwIw
GTEXMBUGA1UEAwwOc3AuZXhhbXBsZS5jb20wIBcNMjYxMjA2MTMwODQxWhgPMjEy
NjExMTIxMzA4NDFaMBkxFzAVBgNVBAMMDnNwLmV4YW1wbGUuY29tMFkwEwYHKoZI
zj0CAQYIKoZIzj0DAQcDQgAEN019cWokmdhPV/x/JM6F9tG1y+QqJXwoLquWLUqY
zfb6+AmKvwhn9Qt45DLb9V/5D9TZ7X9erkQ+S4QQ7N3E+aNTMFEwHQYDVR0OBBYE
FITqMUVJoIU0ZLwXobO64PaQXNhyMB8GA1UdIwQYMBaAFITqMUVJoIU0ZLwXobO6
4PaQXNhyMA8GA1UdEwEB/wQFMAMBAf8wCgYIKoZIzj0EAwIDRwAwRAIgBi7IjdcH
yrFCiA8PeW0ysFIo7AmAZlY8+UgOXRFbeNMCIHrqKThQTgjDXJD8R43y1Ptn9ecP
x2sJFWTrE88cUew8
-----END CERTIFICATE-----";

    #[test]
    fn defaults_sign_both_and_release_email_and_name() {
        let s = request().validate(&Rules).unwrap();
        assert!(s.sign_response && s.sign_assertion);
        assert_eq!(s.name_id_format, NameIdFormat::Email);
        assert_eq!(s.attributes, [SamlAttribute::Email, SamlAttribute::Name]);
        assert_eq!(s.acs_urls[0].binding, SamlBinding::Post);
        assert_eq!(s.default_acs_index, 0);
        assert!(s.slo.is_none() && !s.allow_sha1 && !s.require_signed_requests);
        assert_eq!(
            s.acs(None).unwrap().url.as_str(),
            "https://sp.example.com/acs"
        );
    }

    #[test]
    fn each_field_is_checked_and_named() {
        let field = |r: SamlRequest| r.validate(&Rules).unwrap_err().field;
        let mut r = request();
        r.sp_entity_id = String::new();
        assert_eq!(field(r), "sp_entity_id");
        let mut r = request();
        r.sp_entity_id = "x".repeat(1025);
        assert_eq!(field(r), "sp_entity_id");
        let mut r = request();
        r.sp_entity_id = "x".repeat(1024);
        assert!(r.validate(&Rules).is_ok());
        let mut r = request();
        r.acs_urls[0].url = "http://sp.example.com/acs".into();
        assert_eq!(field(r), "acs_urls");
        let mut r = request();
        r.acs_urls[0].url = "http://127.0.0.1:9000/acs".into();
        assert!(r.validate(&Rules).is_ok(), "loopback may be plain http");
        let mut r = request();
        r.acs_urls = (0..11)
            .map(|i| AcsRequest {
                url: format!("https://sp.example.com/acs/{i}"),
                binding: None,
                index: None,
            })
            .collect();
        assert_eq!(field(r), "acs_urls");
        let mut r = request();
        r.acs_urls.clear();
        assert_eq!(field(r), "acs_urls");
        let mut r = request();
        r.acs_urls[0].binding = Some("soap".into());
        assert_eq!(field(r), "acs_urls");
        let mut r = request();
        r.default_acs_index = Some(3);
        assert_eq!(field(r), "default_acs_index");
        let mut r = request();
        r.slo_binding = Some("soap".into());
        assert_eq!(field(r), "slo_url");
        let mut r = request();
        r.slo_url = Some("https://sp.example.com/slo".into());
        r.slo_binding = Some("fax".into());
        assert_eq!(field(r), "slo_binding");
        let mut r = request();
        r.name_id_format = Some("unspecified".into());
        assert_eq!(field(r), "name_id_format");
        let mut r = request();
        r.attributes = Some(vec!["groups".into()]);
        assert_eq!(field(r), "attributes");
        let mut r = request();
        r.sign_response = Some(false);
        r.sign_assertion = Some(false);
        assert_eq!(field(r), "sign_response");
        let mut r = request();
        r.sp_certificate =
            Some("-----BEGIN CERTIFICATE-----\nnot base64!\n-----END CERTIFICATE-----".into());
        assert_eq!(field(r), "sp_certificate");
        let mut r = request();
        r.require_signed_requests = true;
        assert_eq!(field(r), "sp_certificate");
        let mut r = request();
        r.encrypt_assertions = true;
        assert_eq!(field(r), "encrypt_assertions");
    }

    #[test]
    fn idp_initiated_needs_a_post_default_acs_and_a_short_relay_state() {
        let field = |r: SamlRequest| r.validate(&Rules).unwrap_err().field;
        let mut r = request();
        r.idp_initiated = true;
        r.idp_initiated_relay_state = Some("x".repeat(80));
        let s = r.validate(&Rules).unwrap();
        assert!(s.idp_initiated);
        assert_eq!(
            s.idp_initiated_relay_state.as_deref(),
            Some(&*"x".repeat(80))
        );
        assert_eq!(SamlRequest::from_settings(&s).validate(&Rules).unwrap(), s);
        let mut long = r.clone();
        long.idp_initiated_relay_state = Some("x".repeat(81));
        assert_eq!(field(long), "idp_initiated_relay_state");
        let mut control = r.clone();
        control.idp_initiated_relay_state = Some("a\nb".into());
        assert_eq!(field(control), "idp_initiated_relay_state");
        let mut redirect = r.clone();
        redirect.acs_urls[0].binding = Some("redirect".into());
        assert_eq!(field(redirect), "idp_initiated");
        let mut empty = r;
        empty.idp_initiated_relay_state = Some(String::new());
        assert_eq!(
            empty.validate(&Rules).unwrap().idp_initiated_relay_state,
            None
        );
        // Stored before the setting existed: off.
        let mut json = serde_json::to_value(request().validate(&Rules).unwrap()).unwrap();
        json.as_object_mut().unwrap().remove("idp_initiated");
        let old: SamlSettings = serde_json::from_value(json).unwrap();
        assert!(!old.idp_initiated && old.idp_initiated_relay_state.is_none());
    }

    #[test]
    fn soap_logout_takes_the_back_channel_rules() {
        let mut r = request();
        r.slo_url = Some("https://sp.example.com/slo".into());
        r.slo_binding = Some("urn:oasis:names:tc:SAML:2.0:bindings:SOAP".into());
        let s = r.validate(&Rules).unwrap();
        assert_eq!(s.slo.unwrap().binding, SamlBinding::Soap);
    }

    #[test]
    fn a_real_certificate_parses_and_garbage_after_it_does_not() {
        let c = SpCertificate::parse(SP_CERT, "sp_certificate").unwrap();
        assert!(c.as_pem().starts_with("-----BEGIN CERTIFICATE-----"));
        let two = format!("{SP_CERT}\n{SP_CERT}");
        assert!(SpCertificate::parse(&two, "sp_certificate").is_err());
        let key = SP_CERT.replace("CERTIFICATE", "PRIVATE KEY");
        assert!(SpCertificate::parse(&key, "sp_certificate").is_err());
        let mut r = request();
        r.sp_certificate = Some(SP_CERT.into());
        r.require_signed_requests = true;
        assert!(r.validate(&Rules).is_ok());
    }

    #[test]
    fn stored_settings_read_back_as_a_request_validate_to_the_same() {
        let mut r = request();
        r.slo_url = Some("https://sp.example.com/slo".into());
        r.slo_binding = Some("post".into());
        r.name_id_format = Some("persistent".into());
        r.sign_response = Some(false);
        let s = r.validate(&Rules).unwrap();
        let again = SamlRequest::from_settings(&s).validate(&Rules).unwrap();
        assert_eq!(again, s);
        let json = serde_json::to_string(&s).unwrap();
        assert_eq!(serde_json::from_str::<SamlSettings>(&json).unwrap(), s);
    }
}
