//! The SAML 2.0 messages we read (SAML Core §3.2–3.7): AuthnRequest, LogoutRequest and
//! LogoutResponse, parsed from the tree of `saml::xml` into typed values. Reading checks
//! shape only (version, ID, timestamps, one of each child); what a value must equal
//! (Destination, Issuer, ACS URL) is the caller's rule.

use super::dsig::{Certificate, VerifyPolicy, XmlSignatures};
use super::error::SamlError;
use super::xml::{self, Element};
use super::{NS_ASSERTION, NS_DSIG, NS_PROTOCOL};
use chrono::{DateTime, Utc};

/// The longest ID we accept (ours are 28 characters).
const MAX_ID_LEN: usize = 256;

/// What every request and response carries (SAML Core §3.2.1, §3.2.2).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Header {
    pub id: String,
    pub issue_instant: DateTime<Utc>,
    pub destination: Option<String>,
    /// The sender's entity id (full text content).
    pub issuer: Option<String>,
    /// Whether the message carries an enveloped `ds:Signature` (checked by `saml::dsig`).
    pub signed: bool,
}

/// An SP's request to authenticate a user (SAML Core §3.4.1).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuthnRequest {
    pub header: Header,
    pub acs_url: Option<String>,
    pub acs_index: Option<u16>,
    pub protocol_binding: Option<String>,
    pub force_authn: bool,
    pub is_passive: bool,
    pub name_id_format: Option<String>,
    /// The `AuthnContextClassRef`s of `RequestedAuthnContext`, as full text.
    pub requested_contexts: Vec<String>,
}

/// A subject's name (SAML Core §2.2.3).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NameId {
    /// The full text content (never a fragment: see `saml::xml`).
    pub value: String,
    pub format: Option<String>,
    pub sp_name_qualifier: Option<String>,
    pub name_qualifier: Option<String>,
}

/// A request to end a subject's sessions (SAML Core §3.7.1).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LogoutRequest {
    pub header: Header,
    pub name_id: NameId,
    pub session_indexes: Vec<String>,
    pub not_on_or_after: Option<DateTime<Utc>>,
    pub reason: Option<String>,
}

/// The answer to a LogoutRequest (SAML Core §3.7.2).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LogoutResponse {
    pub header: Header,
    pub in_response_to: Option<String>,
    /// The top-level status code URI.
    pub status: String,
    /// The second-level status code URI, if any.
    pub sub_status: Option<String>,
}

/// Whether `id` is an `xs:ID` (an NCName) of sane length: the form ours take and SPs send.
pub fn valid_id(id: &str) -> bool {
    let mut chars = id.chars();
    id.len() <= MAX_ID_LEN
        && chars
            .next()
            .is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
        && chars.all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | '.'))
}

/// An `xs:dateTime` (SAML Core §1.3.3: UTC, `Z`); an offset is accepted and converted.
pub fn parse_instant(raw: &str) -> Result<DateTime<Utc>, SamlError> {
    DateTime::parse_from_rfc3339(raw.trim())
        .map(|t| t.with_timezone(&Utc))
        .map_err(|_| SamlError::invalid(format!("not a dateTime: {raw:?}")))
}

/// Formats an instant as SAML writes it (UTC, seconds, `Z`).
pub fn format_instant(t: DateTime<Utc>) -> String {
    t.format("%Y-%m-%dT%H:%M:%SZ").to_string()
}

fn boolean(raw: Option<&str>, name: &str) -> Result<bool, SamlError> {
    match raw.map(str::trim) {
        None | Some("false") | Some("0") => Ok(false),
        Some("true") | Some("1") => Ok(true),
        Some(_) => Err(SamlError::invalid(format!("{name} is not a boolean"))),
    }
}

/// The root must be `samlp:{name}`.
fn expect_root<'a>(root: &'a Element, name: &str) -> Result<&'a Element, SamlError> {
    if !root.is(NS_PROTOCOL, name) {
        return Err(SamlError::invalid(format!("expected samlp:{name}")));
    }
    Ok(root)
}

fn header(root: &Element) -> Result<Header, SamlError> {
    if root.attr("Version") != Some("2.0") {
        return Err(SamlError::invalid("Version must be 2.0"));
    }
    let id = root
        .attr("ID")
        .filter(|id| valid_id(id))
        .ok_or_else(|| SamlError::invalid("missing or malformed ID"))?;
    let issue_instant = parse_instant(
        root.attr("IssueInstant")
            .ok_or_else(|| SamlError::invalid("missing IssueInstant"))?,
    )?;
    let issuer = root
        .child(NS_ASSERTION, "Issuer")?
        .map(Element::text)
        .transpose()?;
    Ok(Header {
        id: id.to_owned(),
        issue_instant,
        destination: root.attr("Destination").map(str::to_owned),
        issuer,
        signed: root.child(NS_DSIG, "Signature")?.is_some(),
    })
}

/// A protocol message we read: its root's name and how it is parsed.
pub trait Message: Sized {
    /// The root's local name (in the protocol namespace).
    const ROOT: &'static str;
    fn from_element(root: &Element) -> Result<Self, SamlError>;
    fn header(&self) -> &Header;
}

/// Reads a message that must carry an enveloped signature by one of `certs`: verified first
/// (`saml::dsig`: the one shape, wrapping refused), then parsed from the same text, and its
/// ID must be the one the signature covers. The one way a signed message should be read.
pub fn read_signed<M: Message>(
    xml: &str,
    dsig: &dyn XmlSignatures,
    certs: &[Certificate],
    allow_sha1: bool,
) -> Result<M, SamlError> {
    let policy = VerifyPolicy {
        root_ns: NS_PROTOCOL,
        root_name: M::ROOT,
        allow_sha1,
    };
    let verified = dsig.verify_enveloped(xml, certs, &policy)?;
    let message = M::from_element(&xml::parse(xml)?)?;
    if message.header().id != verified.id {
        return Err(SamlError::signature("the signed ID is not the message's"));
    }
    Ok(message)
}

macro_rules! message {
    ($type:ty, $root:literal) => {
        impl Message for $type {
            const ROOT: &'static str = $root;
            fn from_element(root: &Element) -> Result<Self, SamlError> {
                <$type>::from_element(root)
            }
            fn header(&self) -> &Header {
                &self.header
            }
        }
    };
}

message!(AuthnRequest, "AuthnRequest");
message!(LogoutRequest, "LogoutRequest");
message!(LogoutResponse, "LogoutResponse");

impl AuthnRequest {
    pub fn parse(xml: &str) -> Result<Self, SamlError> {
        Self::from_element(&xml::parse(xml)?)
    }

    pub fn from_element(root: &Element) -> Result<Self, SamlError> {
        let root = expect_root(root, "AuthnRequest")?;
        let acs_index = root
            .attr("AssertionConsumerServiceIndex")
            .map(|i| {
                i.trim()
                    .parse::<u16>()
                    .map_err(|_| SamlError::invalid("AssertionConsumerServiceIndex"))
            })
            .transpose()?;
        let name_id_format = root
            .child(NS_PROTOCOL, "NameIDPolicy")?
            .and_then(|p| p.attr("Format"))
            .map(str::to_owned);
        let requested_contexts = match root.child(NS_PROTOCOL, "RequestedAuthnContext")? {
            Some(r) => r
                .children_named(NS_ASSERTION, "AuthnContextClassRef")
                .map(|c| c.text().map(|t| t.trim().to_owned()))
                .collect::<Result<Vec<_>, _>>()?,
            None => Vec::new(),
        };
        Ok(Self {
            header: header(root)?,
            acs_url: root.attr("AssertionConsumerServiceURL").map(str::to_owned),
            acs_index,
            protocol_binding: root.attr("ProtocolBinding").map(str::to_owned),
            force_authn: boolean(root.attr("ForceAuthn"), "ForceAuthn")?,
            is_passive: boolean(root.attr("IsPassive"), "IsPassive")?,
            name_id_format,
            requested_contexts,
        })
    }
}

impl NameId {
    fn from_element(e: &Element) -> Result<Self, SamlError> {
        Ok(Self {
            value: e.text()?,
            format: e.attr("Format").map(str::to_owned),
            sp_name_qualifier: e.attr("SPNameQualifier").map(str::to_owned),
            name_qualifier: e.attr("NameQualifier").map(str::to_owned),
        })
    }
}

impl LogoutRequest {
    pub fn parse(xml: &str) -> Result<Self, SamlError> {
        Self::from_element(&xml::parse(xml)?)
    }

    pub fn from_element(root: &Element) -> Result<Self, SamlError> {
        let root = expect_root(root, "LogoutRequest")?;
        if root.child(NS_ASSERTION, "EncryptedID")?.is_some()
            || root.child(NS_ASSERTION, "BaseID")?.is_some()
        {
            return Err(SamlError::invalid("only a plain NameID is read"));
        }
        let name_id = root
            .child(NS_ASSERTION, "NameID")?
            .ok_or_else(|| SamlError::invalid("missing NameID"))?;
        let session_indexes = root
            .children_named(NS_PROTOCOL, "SessionIndex")
            .map(Element::text)
            .collect::<Result<Vec<_>, _>>()?;
        Ok(Self {
            header: header(root)?,
            name_id: NameId::from_element(name_id)?,
            session_indexes,
            not_on_or_after: root.attr("NotOnOrAfter").map(parse_instant).transpose()?,
            reason: root.attr("Reason").map(str::to_owned),
        })
    }
}

impl LogoutResponse {
    pub fn parse(xml: &str) -> Result<Self, SamlError> {
        Self::from_element(&xml::parse(xml)?)
    }

    pub fn from_element(root: &Element) -> Result<Self, SamlError> {
        let root = expect_root(root, "LogoutResponse")?;
        let code = root
            .child(NS_PROTOCOL, "Status")?
            .ok_or_else(|| SamlError::invalid("missing Status"))?
            .child(NS_PROTOCOL, "StatusCode")?
            .ok_or_else(|| SamlError::invalid("missing StatusCode"))?;
        let status = code
            .attr("Value")
            .ok_or_else(|| SamlError::invalid("StatusCode without Value"))?;
        let sub_status = code
            .child(NS_PROTOCOL, "StatusCode")?
            .and_then(|c| c.attr("Value"))
            .map(str::to_owned);
        Ok(Self {
            header: header(root)?,
            in_response_to: root.attr("InResponseTo").map(str::to_owned),
            status: status.to_owned(),
            sub_status,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::saml::{BINDING_POST, NAMEID_EMAIL, STATUS_SUCCESS};

    const AUTHN: &str = r#"<?xml version="1.0" encoding="UTF-8"?>
<samlp:AuthnRequest xmlns:samlp="urn:oasis:names:tc:SAML:2.0:protocol"
    xmlns:saml="urn:oasis:names:tc:SAML:2.0:assertion" ID="_a1" Version="2.0"
    IssueInstant="2026-12-06T10:00:00Z" Destination="https://idp.example/o/acme/saml/sso"
    AssertionConsumerServiceURL="https://sp.example/acs?a=1&amp;b=2"
    ProtocolBinding="urn:oasis:names:tc:SAML:2.0:bindings:HTTP-POST" ForceAuthn="true" IsPassive="0">
  <saml:Issuer>https://sp.example/<!-- x -->metadata</saml:Issuer>
  <samlp:NameIDPolicy Format="urn:oasis:names:tc:SAML:1.1:nameid-format:emailAddress" AllowCreate="true"/>
</samlp:AuthnRequest>"#;

    #[test]
    fn an_authn_request_reads_every_field() {
        let r = AuthnRequest::parse(AUTHN).unwrap();
        assert_eq!(r.header.id, "_a1");
        assert_eq!(
            r.header.issue_instant.to_rfc3339(),
            "2026-12-06T10:00:00+00:00"
        );
        assert_eq!(
            r.header.destination.as_deref(),
            Some("https://idp.example/o/acme/saml/sso")
        );
        assert_eq!(
            r.header.issuer.as_deref(),
            Some("https://sp.example/metadata")
        );
        assert!(!r.header.signed);
        assert_eq!(r.acs_url.as_deref(), Some("https://sp.example/acs?a=1&b=2"));
        assert_eq!(r.acs_index, None);
        assert_eq!(r.protocol_binding.as_deref(), Some(BINDING_POST));
        assert!(r.force_authn);
        assert!(!r.is_passive);
        assert_eq!(r.name_id_format.as_deref(), Some(NAMEID_EMAIL));
    }

    #[test]
    fn malformed_authn_requests_are_refused() {
        for (from, to) in [
            (r#"Version="2.0""#, r#"Version="1.1""#),
            (r#"ID="_a1""#, r#"ID="1a""#),
            (r#"ID="_a1""#, r#"ID="_a 1""#),
            (
                r#"IssueInstant="2026-12-06T10:00:00Z""#,
                r#"IssueInstant="yesterday""#,
            ),
            (r#"ForceAuthn="true""#, r#"ForceAuthn="yes""#),
            (
                "</saml:Issuer>",
                "</saml:Issuer><saml:Issuer>x</saml:Issuer>",
            ),
            (
                r#"xmlns:samlp="urn:oasis:names:tc:SAML:2.0:protocol""#,
                r#"xmlns:samlp="urn:evil""#,
            ),
        ] {
            let changed = AUTHN.replacen(from, to, 1);
            assert_ne!(changed, AUTHN);
            assert!(AuthnRequest::parse(&changed).is_err(), "accepted with {to}");
        }
        let other = AUTHN.replace("samlp:AuthnRequest", "samlp:LogoutRequest");
        assert!(AuthnRequest::parse(&other).is_err());
        let index = AUTHN.replace(
            r#"AssertionConsumerServiceURL="https://sp.example/acs?a=1&amp;b=2""#,
            r#"AssertionConsumerServiceIndex="3""#,
        );
        assert_eq!(AuthnRequest::parse(&index).unwrap().acs_index, Some(3));
    }

    #[test]
    fn a_logout_request_reads_the_whole_name_id() {
        let xml = r#"<samlp:LogoutRequest xmlns:samlp="urn:oasis:names:tc:SAML:2.0:protocol"
            xmlns:saml="urn:oasis:names:tc:SAML:2.0:assertion" ID="_l1" Version="2.0"
            IssueInstant="2026-12-06T10:00:00Z" NotOnOrAfter="2026-12-06T10:05:00Z"
            Destination="https://idp.example/o/acme/saml/slo" Reason="urn:oasis:names:tc:SAML:2.0:logout:user">
          <saml:Issuer>https://sp.example/metadata</saml:Issuer>
          <saml:NameID Format="urn:oasis:names:tc:SAML:1.1:nameid-format:emailAddress">admin@example.com<!---->.evil.example</saml:NameID>
          <samlp:SessionIndex>s1</samlp:SessionIndex><samlp:SessionIndex>s2</samlp:SessionIndex>
        </samlp:LogoutRequest>"#;
        let r = LogoutRequest::parse(xml).unwrap();
        assert_eq!(r.name_id.value, "admin@example.com.evil.example");
        assert_eq!(r.name_id.format.as_deref(), Some(NAMEID_EMAIL));
        assert_eq!(r.session_indexes, vec!["s1", "s2"]);
        assert_eq!(
            r.not_on_or_after.map(format_instant).as_deref(),
            Some("2026-12-06T10:05:00Z")
        );
        assert_eq!(
            r.header.destination.as_deref(),
            Some("https://idp.example/o/acme/saml/slo")
        );
        let wrapped = xml.replace(
            "admin@example.com<!---->.evil.example",
            "admin@example.com<x/>.evil.example",
        );
        assert!(LogoutRequest::parse(&wrapped).is_err());
        let none = xml.replace("saml:NameID", "saml:Other");
        assert!(LogoutRequest::parse(&none).is_err());
    }

    #[test]
    fn a_logout_response_reads_its_status() {
        let xml = r#"<samlp:LogoutResponse xmlns:samlp="urn:oasis:names:tc:SAML:2.0:protocol"
            xmlns:saml="urn:oasis:names:tc:SAML:2.0:assertion" ID="_r1" Version="2.0"
            IssueInstant="2026-12-06T10:00:00Z" InResponseTo="_l1">
          <saml:Issuer>https://sp.example/metadata</saml:Issuer>
          <samlp:Status><samlp:StatusCode Value="urn:oasis:names:tc:SAML:2.0:status:Success"/></samlp:Status>
        </samlp:LogoutResponse>"#;
        let r = LogoutResponse::parse(xml).unwrap();
        assert_eq!(r.in_response_to.as_deref(), Some("_l1"));
        assert_eq!(r.status, STATUS_SUCCESS);
        assert_eq!(r.sub_status, None);
        assert!(
            LogoutResponse::parse(
                &xml.replace("<samlp:Status>", "<samlp:Statu>")
                    .replace("</samlp:Status>", "</samlp:Statu>")
            )
            .is_err()
        );
    }
}
