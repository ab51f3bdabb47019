//! The HTTP bindings' encodings (SAML Bindings §3.4, §3.5): HTTP-Redirect (DEFLATE, base64,
//! URL-encoding; the signature over the query's raw bytes as received) and HTTP-POST (base64).
//!
//! A Redirect message inflates to at most `MAX_INFLATED_BYTES`: a small deflated query that
//! would inflate further (a DEFLATE bomb) is refused as soon as the bound is passed, without
//! inflating the rest. `RelayState` is at most 80 bytes (Bindings §3.4.3).

use super::dsig::{Certificate, SigningKey, XmlSignatures};
use super::error::SamlError;
use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use std::io::{Read, Write};

/// The largest XML a Redirect message may inflate to.
pub const MAX_INFLATED_BYTES: u64 = 64 * 1024;
/// The longest `RelayState` (SAML Bindings §3.4.3, §3.5.3).
pub const MAX_RELAY_STATE_BYTES: usize = 80;
/// The longest raw query or POST field we decode.
const MAX_ENCODED_BYTES: usize = 512 * 1024;

/// Which message a binding carries.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MessageKind {
    Request,
    Response,
}

impl MessageKind {
    /// The query or form parameter that carries it.
    pub fn parameter(self) -> &'static str {
        match self {
            Self::Request => "SAMLRequest",
            Self::Response => "SAMLResponse",
        }
    }
}

/// base64 of standard alphabet, whitespace (line breaks of POST forms) ignored.
fn base64_decode(text: &str) -> Result<Vec<u8>, SamlError> {
    if text.len() > MAX_ENCODED_BYTES {
        return Err(SamlError::TooLarge);
    }
    let compact: String = text.chars().filter(|c| !c.is_whitespace()).collect();
    STANDARD
        .decode(compact)
        .map_err(|_| SamlError::Encoding("not base64".into()))
}

/// Inflates raw DEFLATE (RFC 1951) to at most `MAX_INFLATED_BYTES` of UTF-8.
pub fn inflate(deflated: &[u8]) -> Result<String, SamlError> {
    let mut out = Vec::new();
    flate2::read::DeflateDecoder::new(deflated)
        .take(MAX_INFLATED_BYTES + 1)
        .read_to_end(&mut out)
        .map_err(|_| SamlError::Encoding("not DEFLATE".into()))?;
    if out.len() as u64 > MAX_INFLATED_BYTES {
        return Err(SamlError::TooLarge);
    }
    String::from_utf8(out).map_err(|_| SamlError::Encoding("not UTF-8".into()))
}

/// Raw DEFLATE of `xml`.
pub fn deflate(xml: &str) -> Result<Vec<u8>, SamlError> {
    let mut encoder =
        flate2::write::DeflateEncoder::new(Vec::new(), flate2::Compression::default());
    encoder
        .write_all(xml.as_bytes())
        .and_then(|()| encoder.finish())
        .map_err(|e| SamlError::Encoding(e.to_string()))
}

/// The XML of an HTTP-POST form field (base64, no compression).
pub fn decode_post(field: &str) -> Result<String, SamlError> {
    let bytes = base64_decode(field)?;
    String::from_utf8(bytes).map_err(|_| SamlError::Encoding("not UTF-8".into()))
}

/// The value of an HTTP-POST form field for `xml`.
pub fn encode_post(xml: &str) -> String {
    STANDARD.encode(xml)
}

/// Checks a RelayState's length; it is passed on unchanged.
pub fn check_relay_state(relay_state: &str) -> Result<(), SamlError> {
    if relay_state.len() > MAX_RELAY_STATE_BYTES {
        return Err(SamlError::invalid("RelayState longer than 80 bytes"));
    }
    Ok(())
}

fn url_decode(raw: &str) -> Result<String, SamlError> {
    let pair = format!("v={raw}");
    url::form_urlencoded::parse(pair.as_bytes())
        .next()
        .map(|(_, v)| v.into_owned())
        .ok_or_else(|| SamlError::Encoding("bad URL encoding".into()))
}

/// A received HTTP-Redirect query: each parameter's raw (still URL-encoded) value as it came,
/// for the signature, and decoded, for use.
#[derive(Debug, Clone)]
pub struct RedirectQuery {
    pub kind: MessageKind,
    raw_message: String,
    raw_relay_state: Option<String>,
    raw_sig_alg: Option<String>,
    signature: Option<Vec<u8>>,
    /// The inflated XML.
    pub xml: String,
    pub relay_state: Option<String>,
    pub sig_alg: Option<String>,
}

impl RedirectQuery {
    /// Reads a raw query string (without `?`). Every parameter at most once; other
    /// parameters are ignored (they are not signed).
    pub fn parse(raw_query: &str) -> Result<Self, SamlError> {
        if raw_query.len() > MAX_ENCODED_BYTES {
            return Err(SamlError::TooLarge);
        }
        let mut found: [Option<&str>; 5] = [None; 5];
        const NAMES: [&str; 5] = [
            "SAMLRequest",
            "SAMLResponse",
            "RelayState",
            "SigAlg",
            "Signature",
        ];
        for pair in raw_query.split('&') {
            let (name, value) = pair.split_once('=').unwrap_or((pair, ""));
            if let Some(i) = NAMES.iter().position(|n| *n == name)
                && found[i].replace(value).is_some()
            {
                return Err(SamlError::invalid(format!("{name} given twice")));
            }
        }
        let [request, response, relay_state, sig_alg, signature] = found;
        let (kind, raw_message) = match (request, response) {
            (Some(m), None) => (MessageKind::Request, m),
            (None, Some(m)) => (MessageKind::Response, m),
            _ => return Err(SamlError::invalid("one SAMLRequest or SAMLResponse")),
        };
        let xml = inflate(&base64_decode(&url_decode(raw_message)?)?)?;
        let decoded_relay = relay_state.map(url_decode).transpose()?;
        if let Some(relay) = &decoded_relay {
            check_relay_state(relay)?;
        }
        let signature = signature
            .map(|s| url_decode(s).and_then(|s| base64_decode(&s)))
            .transpose()?;
        Ok(Self {
            kind,
            raw_message: raw_message.to_owned(),
            raw_relay_state: relay_state.map(str::to_owned),
            raw_sig_alg: sig_alg.map(str::to_owned),
            signature,
            xml,
            relay_state: decoded_relay,
            sig_alg: sig_alg.map(url_decode).transpose()?,
        })
    }

    /// Whether the query carries a signature.
    pub fn signed(&self) -> bool {
        self.signature.is_some()
    }

    /// What the sender signed (Bindings §3.4.4.1): the parameters in this order, with their
    /// values exactly as received.
    pub fn signed_octets(&self) -> Option<String> {
        let sig_alg = self.raw_sig_alg.as_deref()?;
        let mut out = format!("{}={}", self.kind.parameter(), self.raw_message);
        if let Some(relay) = &self.raw_relay_state {
            out.push_str("&RelayState=");
            out.push_str(relay);
        }
        out.push_str("&SigAlg=");
        out.push_str(sig_alg);
        Some(out)
    }

    /// Verifies the query's signature with one of `certs`; an unsigned query is refused.
    pub fn verify(
        &self,
        dsig: &dyn XmlSignatures,
        certs: &[Certificate],
        allow_sha1: bool,
    ) -> Result<(), SamlError> {
        let (Some(signature), Some(octets), Some(sig_alg)) =
            (&self.signature, self.signed_octets(), &self.sig_alg)
        else {
            return Err(SamlError::signature("the message is not signed"));
        };
        dsig.verify_bytes(sig_alg, octets.as_bytes(), signature, certs, allow_sha1)
    }
}

fn url_encode(value: &str) -> String {
    url::form_urlencoded::byte_serialize(value.as_bytes()).collect()
}

/// An HTTP-Redirect query for `xml`, signed with `key` (RSA-SHA256) when given.
pub fn encode_redirect(
    kind: MessageKind,
    xml: &str,
    relay_state: Option<&str>,
    signer: Option<(&dyn XmlSignatures, &SigningKey)>,
) -> Result<String, SamlError> {
    let mut query = format!(
        "{}={}",
        kind.parameter(),
        url_encode(&STANDARD.encode(deflate(xml)?))
    );
    if let Some(relay) = relay_state {
        check_relay_state(relay)?;
        query.push_str("&RelayState=");
        query.push_str(&url_encode(relay));
    }
    if let Some((dsig, key)) = signer {
        query.push_str("&SigAlg=");
        query.push_str(&url_encode(super::dsig::RSA_SHA256));
        let signature = dsig.sign_bytes(query.as_bytes(), key)?;
        query.push_str("&Signature=");
        query.push_str(&url_encode(&STANDARD.encode(signature)));
    }
    Ok(query)
}
