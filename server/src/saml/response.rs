//! A signed SAML Response for given inputs (Profiles §4.1.4.2): the Assertion signed alone
//! when the app asks for a signed assertion, then the Response around it signed when the app
//! asks for a signed response (at least one of the two always: an unsigned bearer assertion
//! is worthless). Exclusive C14N keeps the inner signature valid inside the envelope.

use super::build::{AssertionParams, ResponseParams, assertion, response};
use super::dsig::{SigningKey, XmlSignatures};
use super::error::SamlError;

/// Which parts of a Response are signed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Signing {
    pub assertion: bool,
    pub response: bool,
}

/// The Response's XML (no XML declaration), signed as `signing` says.
pub fn signed_response(
    dsig: &dyn XmlSignatures,
    key: &SigningKey,
    envelope: &ResponseParams<'_>,
    statement: &AssertionParams<'_>,
    signing: Signing,
) -> Result<String, SamlError> {
    let signing = if signing.assertion || signing.response {
        signing
    } else {
        Signing {
            assertion: true,
            response: false,
        }
    };
    let mut inner = assertion(statement);
    if signing.assertion {
        inner = strip_declaration(&dsig.sign_enveloped(&inner, key)?).to_owned();
    }
    let outer = response(envelope, Some(&inner));
    if signing.response {
        return Ok(strip_declaration(&dsig.sign_enveloped(&outer, key)?).to_owned());
    }
    Ok(outer)
}

/// The document without a leading XML declaration (to embed it in another).
fn strip_declaration(xml: &str) -> &str {
    let trimmed = xml.trim_start();
    match trimmed.strip_prefix("<?xml") {
        Some(rest) => rest
            .find("?>")
            .map_or(trimmed, |end| rest[end + 2..].trim_start()),
        None => trimmed,
    }
}
