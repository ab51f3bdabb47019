//! The IdP's SAML metadata (SAML Metadata §2.4.3): an EntityDescriptor with one
//! IDPSSODescriptor holding every published signing certificate (a rotation's successor is
//! listed before it signs), the NameID formats we issue, and the SSO (Redirect, POST) and SLO
//! (Redirect, POST, SOAP) endpoints. Elements in the schema's order.

use super::dsig::Certificate;
use super::xml::escape;
use super::{
    BINDING_POST, BINDING_REDIRECT, BINDING_SOAP, NAMEID_EMAIL, NAMEID_PERSISTENT,
    NAMEID_TRANSIENT, NS_DSIG, NS_METADATA, NS_PROTOCOL,
};
use std::fmt::Write;

/// The media type of SAML metadata (SAML Metadata §4.1.1).
pub const CONTENT_TYPE: &str = "application/samlmetadata+xml";

/// Where the IdP is and what it signs with.
#[derive(Debug, Clone)]
pub struct IdpDescription<'a> {
    pub entity_id: &'a str,
    pub sso_url: &'a str,
    pub slo_url: &'a str,
    pub certificates: &'a [Certificate],
}

/// The metadata document.
pub fn idp_metadata(d: &IdpDescription<'_>) -> String {
    let mut out = String::with_capacity(2048 + 1500 * d.certificates.len());
    let _ = write!(
        out,
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<md:EntityDescriptor xmlns:md=\"{NS_METADATA}\" xmlns:ds=\"{NS_DSIG}\" entityID=\"{}\">\
<md:IDPSSODescriptor WantAuthnRequestsSigned=\"false\" protocolSupportEnumeration=\"{NS_PROTOCOL}\">",
        escape(d.entity_id)
    );
    for cert in d.certificates {
        let _ = write!(
            out,
            "<md:KeyDescriptor use=\"signing\"><ds:KeyInfo><ds:X509Data><ds:X509Certificate>{}</ds:X509Certificate></ds:X509Data></ds:KeyInfo></md:KeyDescriptor>",
            cert.base64()
        );
    }
    for binding in [BINDING_REDIRECT, BINDING_POST, BINDING_SOAP] {
        let _ = write!(
            out,
            "<md:SingleLogoutService Binding=\"{binding}\" Location=\"{}\"/>",
            escape(d.slo_url)
        );
    }
    for format in [NAMEID_EMAIL, NAMEID_PERSISTENT, NAMEID_TRANSIENT] {
        let _ = write!(out, "<md:NameIDFormat>{format}</md:NameIDFormat>");
    }
    for binding in [BINDING_REDIRECT, BINDING_POST] {
        let _ = write!(
            out,
            "<md:SingleSignOnService Binding=\"{binding}\" Location=\"{}\"/>",
            escape(d.sso_url)
        );
    }
    out.push_str("</md:IDPSSODescriptor></md:EntityDescriptor>\n");
    out
}
