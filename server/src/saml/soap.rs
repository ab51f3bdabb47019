//! The SAML SOAP binding (SAML Bindings §3.2): a message in the `Body` of a SOAP 1.1 envelope,
//! server to server. Single Logout uses it both ways: the logout outbox sends LogoutRequests to
//! SPs whose SLO binding is SOAP, and SPs send theirs to `/saml/slo`.
//!
//! Reading: the envelope is read whole by our one XML reader (`saml::xml`, every bound), then
//! the one element of the `Body` is cut out as it was received, byte for byte, with the
//! namespace declarations it inherits from the envelope added to its start tag. Exclusive C14N
//! renders only the namespaces an element visibly uses, so the cut-out element canonicalises
//! exactly as it did in place, and its enveloped signature verifies on it as on a message
//! received over POST (`messages::read_signed`).

use super::error::SamlError;
use super::xml;
use quick_xml::events::Event;
use quick_xml::reader::Reader;

pub const NS_SOAP_ENVELOPE: &str = "http://schemas.xmlsoap.org/soap/envelope/";
/// SOAP 1.1's media type (SAML Bindings §3.2.3.1: `text/xml`).
pub const CONTENT_TYPE: &str = "text/xml; charset=utf-8";

/// `message` (a signed SAML message, with or without an XML declaration) in a SOAP envelope.
pub fn envelope(message: &str) -> String {
    let body = strip_declaration(message);
    format!(
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?><SOAP-ENV:Envelope xmlns:SOAP-ENV=\"{NS_SOAP_ENVELOPE}\"><SOAP-ENV:Body>{body}</SOAP-ENV:Body></SOAP-ENV:Envelope>"
    )
}

fn strip_declaration(xml: &str) -> &str {
    let trimmed = xml.trim_start();
    match trimmed.strip_prefix("<?xml") {
        Some(rest) => rest.find("?>").map_or(trimmed, |end| &rest[end + 2..]),
        None => trimmed,
    }
}

/// The one message in the envelope's `Body`, as a document of its own (see the module's doc).
pub fn body_message(envelope_xml: &str) -> Result<String, SamlError> {
    let root = xml::parse(envelope_xml)?;
    if !root.is(NS_SOAP_ENVELOPE, "Envelope") {
        return Err(SamlError::invalid("not a SOAP 1.1 envelope"));
    }
    let body = root
        .child(NS_SOAP_ENVELOPE, "Body")?
        .ok_or_else(|| SamlError::invalid("the envelope has no Body"))?;
    if body.elements().count() != 1 {
        return Err(SamlError::invalid("the Body must hold exactly one message"));
    }
    let span = body_child_span(envelope_xml)?;
    Ok(with_namespaces(envelope_xml, &span))
}

/// The Body's child as found: where it starts and ends in the text, the namespace declarations
/// in scope from the Envelope and the Body (name, value; the Body's after the Envelope's), and
/// the names its own start tag declares.
struct Span {
    start: usize,
    end: usize,
    inherited: Vec<(String, String)>,
    own: Vec<String>,
}

/// The `xmlns…` declarations of a start tag: (name, unescaped value).
fn declarations(
    tag: &quick_xml::events::BytesStart<'_>,
) -> Result<Vec<(String, String)>, SamlError> {
    let mut out = Vec::new();
    for attr in tag.attributes() {
        let attr = attr.map_err(|e| SamlError::Malformed(e.to_string()))?;
        let key = attr.key.as_ref();
        if key == "xmlns" || key.starts_with("xmlns:") {
            let value = attr
                .normalized_value(quick_xml::XmlVersion::Implicit1_0)
                .map_err(|e| SamlError::Malformed(e.to_string()))?;
            out.push((key.to_owned(), value.into_owned()));
        }
    }
    Ok(out)
}

/// Finds the Body's one child (the tree was checked already: one Body, one child there). A
/// Header and what it declares play no part.
fn body_child_span(xml: &str) -> Result<Span, SamlError> {
    let mut reader = Reader::from_str(xml);
    reader.config_mut().check_end_names = true;
    let (mut depth, mut in_body) = (0usize, false);
    let mut inherited = Vec::new();
    let mut found: Option<(usize, Vec<String>)> = None;
    loop {
        let before = reader.buffer_position() as usize;
        let event = reader
            .read_event()
            .map_err(|e| SamlError::Malformed(e.to_string()))?;
        let (tag, empty) = match &event {
            Event::Start(t) => (Some(t), false),
            Event::Empty(t) => (Some(t), true),
            Event::End(_) => {
                depth = depth.saturating_sub(1);
                if depth == 2
                    && let Some((start, own)) = found.take()
                {
                    let end = reader.buffer_position() as usize;
                    return Ok(Span {
                        start,
                        end,
                        inherited,
                        own,
                    });
                }
                if depth == 1 {
                    in_body = false;
                }
                continue;
            }
            Event::Eof => return Err(SamlError::invalid("the Body holds no message")),
            _ => continue,
        };
        let Some(tag) = tag else { continue };
        let body = depth == 1 && tag.local_name().as_ref() == "Body";
        if depth == 0 || body {
            inherited.extend(declarations(tag)?);
        }
        if depth == 2 && in_body && found.is_none() {
            let own = declarations(tag)?.into_iter().map(|(n, _)| n).collect();
            if empty {
                let end = reader.buffer_position() as usize;
                return Ok(Span {
                    start: before,
                    end,
                    inherited,
                    own,
                });
            }
            found = Some((before, own));
        }
        if !empty {
            in_body |= body;
            depth += 1;
        }
    }
}

/// The message as a document of its own: each inherited declaration its start tag does not
/// make itself added to that start tag (innermost first), values escaped again.
fn with_namespaces(xml: &str, span: &Span) -> String {
    let message = &xml[span.start..span.end];
    let name_end = message[1..]
        .find(|c: char| c.is_whitespace() || c == '>' || c == '/')
        .map_or(message.len(), |i| i + 1);
    let mut added = String::new();
    let mut seen: Vec<&str> = span.own.iter().map(String::as_str).collect();
    for (name, value) in span.inherited.iter().rev() {
        if seen.contains(&name.as_str()) {
            continue;
        }
        seen.push(name);
        added.push_str(&format!(" {name}=\"{}\"", xml::escape(value)));
    }
    format!("{}{added}{}", &message[..name_end], &message[name_end..])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_body_message_keeps_its_bytes_and_inherits_namespaces() {
        let env = format!(
            "<s:Envelope xmlns:s=\"{NS_SOAP_ENVELOPE}\" xmlns:samlp=\"urn:oasis:names:tc:SAML:2.0:protocol\"><s:Header/><s:Body>\n<samlp:LogoutRequest ID=\"_a\" Version=\"2.0\"><x:I xmlns:x=\"urn:x\">v</x:I></samlp:LogoutRequest>\n</s:Body></s:Envelope>"
        );
        let msg = body_message(&env).unwrap();
        assert!(
            msg.starts_with("<samlp:LogoutRequest xmlns:samlp="),
            "{msg}"
        );
        assert!(msg.contains(" xmlns:s=\""), "{msg}");
        assert!(msg.ends_with("<x:I xmlns:x=\"urn:x\">v</x:I></samlp:LogoutRequest>"));
        let root = xml::parse(&msg).unwrap();
        assert!(root.is("urn:oasis:names:tc:SAML:2.0:protocol", "LogoutRequest"));
    }

    #[test]
    fn an_own_declaration_is_not_overridden() {
        let env = format!(
            "<s:Envelope xmlns:s=\"{NS_SOAP_ENVELOPE}\" xmlns:p=\"urn:wrong\"><s:Body><p:M xmlns:p=\"urn:right\" ID=\"_a\"/></s:Body></s:Envelope>"
        );
        let msg = body_message(&env).unwrap();
        assert_eq!(msg.matches("xmlns:p=").count(), 1, "{msg}");
        assert!(xml::parse(&msg).unwrap().is("urn:right", "M"));
    }

    #[test]
    fn a_header_is_no_message_and_lends_no_namespaces() {
        let env = format!(
            "<s:Envelope xmlns:s=\"{NS_SOAP_ENVELOPE}\"><s:Header xmlns:h=\"urn:h\"><h:To/></s:Header><s:Body xmlns:q='a\"b'><m:X xmlns:m=\"urn:m\" ID=\"_1\">t</m:X></s:Body></s:Envelope>"
        );
        let msg = body_message(&env).unwrap();
        assert!(msg.starts_with("<m:X "), "{msg}");
        assert!(!msg.contains("urn:h"), "{msg}");
        assert!(msg.contains(" xmlns:q=\"a&quot;b\""), "{msg}");
        assert!(xml::parse(&msg).unwrap().is("urn:m", "X"));
    }

    #[test]
    fn envelopes_of_the_wrong_shape_are_refused() {
        for bad in [
            "<Envelope/>".to_owned(),
            format!("<s:Envelope xmlns:s=\"{NS_SOAP_ENVELOPE}\"/>"),
            format!("<s:Envelope xmlns:s=\"{NS_SOAP_ENVELOPE}\"><s:Body/></s:Envelope>"),
            format!(
                "<s:Envelope xmlns:s=\"{NS_SOAP_ENVELOPE}\"><s:Body><a/><b/></s:Body></s:Envelope>"
            ),
            format!(
                "<!DOCTYPE x [<!ENTITY e \"x\">]><s:Envelope xmlns:s=\"{NS_SOAP_ENVELOPE}\"><s:Body><a/></s:Body></s:Envelope>"
            ),
        ] {
            assert!(body_message(&bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn an_envelope_round_trips() {
        let inner = "<?xml version=\"1.0\"?><m:X xmlns:m=\"urn:m\" ID=\"_1\">t</m:X>";
        let msg = body_message(&envelope(inner)).unwrap();
        assert!(msg.starts_with("<m:X "), "{msg}");
        assert!(
            msg.contains(" xmlns:m=\"urn:m\" ID=\"_1\">t</m:X>"),
            "{msg}"
        );
        assert!(xml::parse(&msg).unwrap().is("urn:m", "X"));
    }
}
