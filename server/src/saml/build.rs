//! Builders of the SAML messages we send: Response with its Assertion, LogoutRequest,
//! LogoutResponse. Every value is escaped (`xml::escape`); nothing is signed here (see
//! `saml::dsig`). Each message declares the namespaces it uses on its own root, so an
//! Assertion signed alone keeps its signature when embedded in a Response (exclusive C14N).

use super::messages::{NameId, format_instant};
use super::xml::escape;
use super::{NS_ASSERTION, NS_PROTOCOL};
use chrono::{DateTime, Utc};
use std::fmt::Write;

/// A new message ID: `_` and 160 random bits (an `xs:ID`).
pub fn new_id() -> Result<String, crate::secrets::RandomError> {
    Ok(format!("_{}", crate::secrets::random_token(20)?))
}

/// `name="value"` with the value escaped, when there is a value.
fn attr(out: &mut String, name: &str, value: Option<&str>) {
    if let Some(value) = value {
        let _ = write!(out, " {name}=\"{}\"", escape(value));
    }
}

fn issuer(out: &mut String, issuer: &str) {
    let _ = write!(out, "<saml:Issuer>{}</saml:Issuer>", escape(issuer));
}

fn name_id(out: &mut String, id: &NameId) {
    out.push_str("<saml:NameID");
    attr(out, "Format", id.format.as_deref());
    attr(out, "SPNameQualifier", id.sp_name_qualifier.as_deref());
    attr(out, "NameQualifier", id.name_qualifier.as_deref());
    let _ = write!(out, ">{}</saml:NameID>", escape(&id.value));
}

/// A released attribute: its name (a URI or a plain name) and values.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AttributeValues {
    pub name: String,
    pub values: Vec<String>,
}

/// What an Assertion says (SAML Core §2.3–2.7; Profiles §4.1.4.2 for Web Browser SSO).
#[derive(Debug, Clone)]
pub struct AssertionParams<'a> {
    pub id: &'a str,
    pub issue_instant: DateTime<Utc>,
    pub issuer: &'a str,
    pub name_id: &'a NameId,
    /// The SP's request this answers (absent for IdP-initiated SSO).
    pub in_response_to: Option<&'a str>,
    /// The ACS URL (SubjectConfirmationData's `Recipient`).
    pub recipient: &'a str,
    /// End of the bearer confirmation and of the conditions.
    pub not_on_or_after: DateTime<Utc>,
    pub not_before: DateTime<Utc>,
    /// The SP's entity id.
    pub audience: &'a str,
    pub authn_instant: DateTime<Utc>,
    pub session_index: &'a str,
    pub session_not_on_or_after: Option<DateTime<Utc>>,
    pub authn_context_class_ref: &'a str,
    pub attributes: &'a [AttributeValues],
}

/// An unsigned `saml:Assertion` (its own namespace declarations on its root).
pub fn assertion(p: &AssertionParams<'_>) -> String {
    let mut out = String::with_capacity(2048);
    let _ = write!(
        out,
        "<saml:Assertion xmlns:saml=\"{NS_ASSERTION}\" ID=\"{}\" Version=\"2.0\" IssueInstant=\"{}\">",
        escape(p.id),
        format_instant(p.issue_instant)
    );
    issuer(&mut out, p.issuer);
    out.push_str("<saml:Subject>");
    name_id(&mut out, p.name_id);
    out.push_str(
        "<saml:SubjectConfirmation Method=\"urn:oasis:names:tc:SAML:2.0:cm:bearer\"><saml:SubjectConfirmationData",
    );
    attr(&mut out, "InResponseTo", p.in_response_to);
    let _ = write!(
        out,
        " NotOnOrAfter=\"{}\" Recipient=\"{}\"/></saml:SubjectConfirmation></saml:Subject>",
        format_instant(p.not_on_or_after),
        escape(p.recipient)
    );
    let _ = write!(
        out,
        "<saml:Conditions NotBefore=\"{}\" NotOnOrAfter=\"{}\"><saml:AudienceRestriction><saml:Audience>{}</saml:Audience></saml:AudienceRestriction></saml:Conditions>",
        format_instant(p.not_before),
        format_instant(p.not_on_or_after),
        escape(p.audience)
    );
    let _ = write!(
        out,
        "<saml:AuthnStatement AuthnInstant=\"{}\" SessionIndex=\"{}\"",
        format_instant(p.authn_instant),
        escape(p.session_index)
    );
    attr(
        &mut out,
        "SessionNotOnOrAfter",
        p.session_not_on_or_after.map(format_instant).as_deref(),
    );
    let _ = write!(
        out,
        "><saml:AuthnContext><saml:AuthnContextClassRef>{}</saml:AuthnContextClassRef></saml:AuthnContext></saml:AuthnStatement>",
        escape(p.authn_context_class_ref)
    );
    attribute_statement(&mut out, p.attributes);
    out.push_str("</saml:Assertion>");
    out
}

fn attribute_statement(out: &mut String, attributes: &[AttributeValues]) {
    if attributes.is_empty() {
        return;
    }
    out.push_str("<saml:AttributeStatement>");
    for a in attributes {
        let format = if a.name.contains(':') {
            "urn:oasis:names:tc:SAML:2.0:attrname-format:uri"
        } else {
            "urn:oasis:names:tc:SAML:2.0:attrname-format:basic"
        };
        let _ = write!(
            out,
            "<saml:Attribute Name=\"{}\" NameFormat=\"{format}\">",
            escape(&a.name)
        );
        for v in &a.values {
            let _ = write!(
                out,
                "<saml:AttributeValue>{}</saml:AttributeValue>",
                escape(v)
            );
        }
        out.push_str("</saml:Attribute>");
    }
    out.push_str("</saml:AttributeStatement>");
}

/// The envelope of a `samlp:Response` (SAML Core §3.3.3).
#[derive(Debug, Clone)]
pub struct ResponseParams<'a> {
    pub id: &'a str,
    pub issue_instant: DateTime<Utc>,
    pub issuer: &'a str,
    pub destination: &'a str,
    pub in_response_to: Option<&'a str>,
    pub status: &'a str,
    /// A second-level status code (`NoPassive`, …) inside the top-level one.
    pub sub_status: Option<&'a str>,
}

/// An unsigned `samlp:Response` around `assertion` (an Assertion's XML, signed or not,
/// without an XML declaration), or without one (an error status).
pub fn response(p: &ResponseParams<'_>, assertion: Option<&str>) -> String {
    let mut out = String::with_capacity(512 + assertion.map_or(0, str::len));
    let _ = write!(
        out,
        "<samlp:Response xmlns:samlp=\"{NS_PROTOCOL}\" xmlns:saml=\"{NS_ASSERTION}\" ID=\"{}\" Version=\"2.0\" IssueInstant=\"{}\" Destination=\"{}\"",
        escape(p.id),
        format_instant(p.issue_instant),
        escape(p.destination)
    );
    attr(&mut out, "InResponseTo", p.in_response_to);
    out.push('>');
    issuer(&mut out, p.issuer);
    match p.sub_status {
        None => status(&mut out, p.status),
        Some(sub) => {
            let _ = write!(
                out,
                "<samlp:Status><samlp:StatusCode Value=\"{}\"><samlp:StatusCode Value=\"{}\"/></samlp:StatusCode></samlp:Status>",
                escape(p.status),
                escape(sub)
            );
        }
    }
    if let Some(assertion) = assertion {
        out.push_str(assertion);
    }
    out.push_str("</samlp:Response>");
    out
}

fn status(out: &mut String, code: &str) {
    let _ = write!(
        out,
        "<samlp:Status><samlp:StatusCode Value=\"{}\"/></samlp:Status>",
        escape(code)
    );
}

/// What a `samlp:LogoutRequest` says (SAML Core §3.7.1).
#[derive(Debug, Clone)]
pub struct LogoutRequestParams<'a> {
    pub id: &'a str,
    pub issue_instant: DateTime<Utc>,
    pub issuer: &'a str,
    pub destination: &'a str,
    pub name_id: &'a NameId,
    pub session_indexes: &'a [String],
    pub not_on_or_after: Option<DateTime<Utc>>,
    pub reason: Option<&'a str>,
}

/// An unsigned `samlp:LogoutRequest`.
pub fn logout_request(p: &LogoutRequestParams<'_>) -> String {
    let mut out = String::with_capacity(1024);
    let _ = write!(
        out,
        "<samlp:LogoutRequest xmlns:samlp=\"{NS_PROTOCOL}\" xmlns:saml=\"{NS_ASSERTION}\" ID=\"{}\" Version=\"2.0\" IssueInstant=\"{}\" Destination=\"{}\"",
        escape(p.id),
        format_instant(p.issue_instant),
        escape(p.destination)
    );
    attr(
        &mut out,
        "NotOnOrAfter",
        p.not_on_or_after.map(format_instant).as_deref(),
    );
    attr(&mut out, "Reason", p.reason);
    out.push('>');
    issuer(&mut out, p.issuer);
    name_id(&mut out, p.name_id);
    for index in p.session_indexes {
        let _ = write!(
            out,
            "<samlp:SessionIndex>{}</samlp:SessionIndex>",
            escape(index)
        );
    }
    out.push_str("</samlp:LogoutRequest>");
    out
}

/// What a `samlp:LogoutResponse` says (SAML Core §3.7.2).
#[derive(Debug, Clone)]
pub struct LogoutResponseParams<'a> {
    pub id: &'a str,
    pub issue_instant: DateTime<Utc>,
    pub issuer: &'a str,
    /// Absent over SOAP (the answer goes back on the same connection).
    pub destination: Option<&'a str>,
    pub in_response_to: &'a str,
    pub status: &'a str,
}

/// An unsigned `samlp:LogoutResponse`.
pub fn logout_response(p: &LogoutResponseParams<'_>) -> String {
    let mut out = String::with_capacity(512);
    let _ = write!(
        out,
        "<samlp:LogoutResponse xmlns:samlp=\"{NS_PROTOCOL}\" xmlns:saml=\"{NS_ASSERTION}\" ID=\"{}\" Version=\"2.0\" IssueInstant=\"{}\"",
        escape(p.id),
        format_instant(p.issue_instant),
    );
    attr(&mut out, "Destination", p.destination);
    attr(&mut out, "InResponseTo", Some(p.in_response_to));
    out.push('>');
    issuer(&mut out, p.issuer);
    status(&mut out, p.status);
    out.push_str("</samlp:LogoutResponse>");
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::saml::messages::{LogoutRequest, LogoutResponse, valid_id};
    use crate::saml::{NAMEID_EMAIL, NS_ASSERTION, STATUS_SUCCESS, xml};

    fn t(s: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(s).unwrap().with_timezone(&Utc)
    }

    fn nasty_name() -> NameId {
        NameId {
            value: "a<b>&\"c\"'@example.com".into(),
            format: Some(NAMEID_EMAIL.into()),
            sp_name_qualifier: Some("https://sp.example/?x=1&y=\"2\"".into()),
            name_qualifier: None,
        }
    }

    #[test]
    fn ids_are_xs_ids_and_unique() {
        let (a, b) = (new_id().unwrap(), new_id().unwrap());
        assert!(valid_id(&a) && valid_id(&b));
        assert_ne!(a, b);
    }

    #[test]
    fn a_logout_request_round_trips_with_escaped_values() {
        let name = nasty_name();
        let indexes = vec!["s<1>".to_owned(), "s&2".to_owned()];
        let xml = logout_request(&LogoutRequestParams {
            id: "_r1",
            issue_instant: t("2026-12-06T10:00:00Z"),
            issuer: "https://idp.example/o/acme/saml",
            destination: "https://sp.example/slo?a=1&b=2",
            name_id: &name,
            session_indexes: &indexes,
            not_on_or_after: Some(t("2026-12-06T10:05:00Z")),
            reason: Some("urn:oasis:names:tc:SAML:2.0:logout:user"),
        });
        let r = LogoutRequest::parse(&xml).unwrap();
        assert_eq!(r.name_id, name);
        assert_eq!(r.session_indexes, indexes);
        assert_eq!(
            r.header.destination.as_deref(),
            Some("https://sp.example/slo?a=1&b=2")
        );
        assert_eq!(
            r.header.issuer.as_deref(),
            Some("https://idp.example/o/acme/saml")
        );
    }

    #[test]
    fn a_logout_response_round_trips() {
        let xml = logout_response(&LogoutResponseParams {
            id: "_r2",
            issue_instant: t("2026-12-06T10:00:00Z"),
            issuer: "https://idp.example/o/acme/saml",
            destination: None,
            in_response_to: "_l\"1",
            status: STATUS_SUCCESS,
        });
        let r = LogoutResponse::parse(&xml).unwrap();
        assert_eq!(r.in_response_to.as_deref(), Some("_l\"1"));
        assert_eq!(r.status, STATUS_SUCCESS);
        assert_eq!(r.header.destination, None);
    }

    #[test]
    fn a_response_holds_an_assertion_with_every_field_escaped() {
        let name = nasty_name();
        let attributes = vec![AttributeValues {
            name: "email".into(),
            values: vec!["x</saml:AttributeValue><evil/>".into()],
        }];
        let a = assertion(&AssertionParams {
            id: "_as",
            issue_instant: t("2026-12-06T10:00:00Z"),
            issuer: "https://idp.example/o/acme/saml",
            name_id: &name,
            in_response_to: Some("_req"),
            recipient: "https://sp.example/acs",
            not_on_or_after: t("2026-12-06T10:05:00Z"),
            not_before: t("2026-12-06T09:59:00Z"),
            audience: "https://sp.example/<meta>",
            authn_instant: t("2026-12-06T09:58:00Z"),
            session_index: "app-session-1",
            session_not_on_or_after: None,
            authn_context_class_ref: "urn:oasis:names:tc:SAML:2.0:ac:classes:PasswordProtectedTransport",
            attributes: &attributes,
        });
        let r = response(
            &ResponseParams {
                id: "_resp",
                issue_instant: t("2026-12-06T10:00:00Z"),
                issuer: "https://idp.example/o/acme/saml",
                destination: "https://sp.example/acs",
                in_response_to: Some("_req"),
                status: STATUS_SUCCESS,
                sub_status: None,
            },
            Some(&a),
        );
        let root = xml::parse(&r).unwrap();
        let assertion = root.child(NS_ASSERTION, "Assertion").unwrap().unwrap();
        let subject = assertion.child(NS_ASSERTION, "Subject").unwrap().unwrap();
        let got = subject.child(NS_ASSERTION, "NameID").unwrap().unwrap();
        assert_eq!(got.text().unwrap(), name.value);
        let audience = assertion
            .child(NS_ASSERTION, "Conditions")
            .unwrap()
            .unwrap()
            .child(NS_ASSERTION, "AudienceRestriction")
            .unwrap()
            .unwrap()
            .child(NS_ASSERTION, "Audience")
            .unwrap()
            .unwrap();
        assert_eq!(audience.text().unwrap(), "https://sp.example/<meta>");
        let value = assertion
            .child(NS_ASSERTION, "AttributeStatement")
            .unwrap()
            .unwrap()
            .child(NS_ASSERTION, "Attribute")
            .unwrap()
            .unwrap()
            .child(NS_ASSERTION, "AttributeValue")
            .unwrap()
            .unwrap();
        assert_eq!(value.text().unwrap(), "x</saml:AttributeValue><evil/>");
    }
}
