//! An SP's metadata (SAML metadata §2.3.2, §2.4.4) read into a SAML app's registration: the
//! admin pastes the SP's `EntityDescriptor` and gets the fields it declares, with a note for
//! each thing it declares that we leave out.
//!
//! Read with our XML reader (`xml.rs`: no DOCTYPE, no entities, bounded), so a hostile document
//! is refused before anything is expanded. One SP per document: the root must be one
//! `EntityDescriptor` with one `SPSSODescriptor` (an `EntitiesDescriptor` is a federation's list
//! and is refused: which SP would be meant?). The metadata's own signature is not checked: the
//! admin vouches for what they paste, as for the fields they type.
//!
//! What is taken:
//! - `entityID` → the SP entity id;
//! - `AssertionConsumerService` with the HTTP-POST binding → ACS URLs with their `index`
//!   (`isDefault="true"` → the default); other bindings are left out with a note (our Response
//!   travels by HTTP-POST only: a Redirect URL cannot carry a signed assertion of any size);
//! - `SingleLogoutService` → the first listed whose binding is POST, Redirect or SOAP (the SP's
//!   order is its preference; metadata has no other way to say it). `ResponseLocation` is not
//!   kept (we send our LogoutResponses to `Location` too: noted when they differ);
//! - `KeyDescriptor` with `use="signing"` or no `use` → the SP certificate (the first; more are
//!   noted); `use="encryption"` → the encryption certificate (stored, not used yet);
//! - `AuthnRequestsSigned="true"` → signed requests required; `WantAssertionsSigned="true"` →
//!   the assertion signed;
//! - `NameIDFormat` → the first listed that we issue (email, persistent, transient).

use super::xml::{self, Element};
use super::{NS_METADATA, SamlError};
use crate::apps::{AcsRequest, NameIdFormat, SamlBinding, SamlRequest};

/// The XML Signature namespace (`KeyInfo` inside `KeyDescriptor`).
const NS_DSIG: &str = super::NS_DSIG;
/// The protocol an `SPSSODescriptor` must support.
const SAML2_PROTOCOL: &str = super::NS_PROTOCOL;

/// What an SP's metadata declares, as far as we use it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SpMetadata {
    pub entity_id: String,
    /// HTTP-POST ACS endpoints: (index, URL), in document order.
    pub acs: Vec<(u16, String)>,
    /// The index of the ACS marked `isDefault="true"`, if one is.
    pub default_acs_index: Option<u16>,
    /// The first supported Single Logout endpoint.
    pub slo: Option<(SamlBinding, String)>,
    /// PEM.
    pub signing_certificate: Option<String>,
    /// PEM.
    pub encryption_certificate: Option<String>,
    pub authn_requests_signed: bool,
    pub want_assertions_signed: bool,
    pub name_id_format: Option<NameIdFormat>,
    /// What the metadata declares that was left out, and why (shown to the admin).
    pub notes: Vec<String>,
}

/// `true`/`1` are true in XML Schema's boolean; anything else given is refused.
fn boolean(e: &Element, name: &str) -> Result<Option<bool>, SamlError> {
    match e.attr(name) {
        None => Ok(None),
        Some("true" | "1") => Ok(Some(true)),
        Some("false" | "0") => Ok(Some(false)),
        Some(other) => Err(SamlError::invalid(format!(
            "{name} must be true or false, not {other:?}"
        ))),
    }
}

/// Reads an SP's `EntityDescriptor`.
pub fn parse(metadata: &str) -> Result<SpMetadata, SamlError> {
    let root = xml::parse(metadata)?;
    if root.is(NS_METADATA, "EntitiesDescriptor") {
        return Err(SamlError::invalid(
            "an EntitiesDescriptor lists many entities: paste the one SP's EntityDescriptor",
        ));
    }
    if !root.is(NS_METADATA, "EntityDescriptor") {
        return Err(SamlError::invalid(
            "not SAML metadata: the document element must be an md:EntityDescriptor",
        ));
    }
    let entity_id = root
        .attr("entityID")
        .filter(|v| !v.trim().is_empty())
        .ok_or_else(|| SamlError::invalid("the EntityDescriptor has no entityID"))?
        .to_owned();
    let sp = root.child(NS_METADATA, "SPSSODescriptor")?.ok_or_else(|| {
        SamlError::invalid("no SPSSODescriptor: this is not a service provider's metadata")
    })?;
    let protocols = sp.attr("protocolSupportEnumeration").unwrap_or_default();
    if !protocols.split_whitespace().any(|p| p == SAML2_PROTOCOL) {
        return Err(SamlError::invalid(
            "the SPSSODescriptor does not support SAML 2.0 (protocolSupportEnumeration)",
        ));
    }
    let mut out = SpMetadata {
        entity_id,
        acs: Vec::new(),
        default_acs_index: None,
        slo: None,
        signing_certificate: None,
        encryption_certificate: None,
        authn_requests_signed: boolean(sp, "AuthnRequestsSigned")?.unwrap_or(false),
        want_assertions_signed: boolean(sp, "WantAssertionsSigned")?.unwrap_or(false),
        name_id_format: None,
        notes: Vec::new(),
    };
    read_acs(sp, &mut out)?;
    read_slo(sp, &mut out)?;
    read_keys(sp, &mut out)?;
    read_name_id_formats(sp, &mut out)?;
    Ok(out)
}

fn read_acs(sp: &Element, out: &mut SpMetadata) -> Result<(), SamlError> {
    for (position, acs) in sp
        .children_named(NS_METADATA, "AssertionConsumerService")
        .enumerate()
    {
        let (binding, location) = endpoint(acs, "AssertionConsumerService")?;
        let index = match acs.attr("index") {
            Some(i) => i.trim().parse::<u16>().map_err(|_| {
                SamlError::invalid(format!("an ACS index must be 0 to 65535, not {i:?}"))
            })?,
            None => u16::try_from(position).unwrap_or(u16::MAX),
        };
        if binding != super::BINDING_POST {
            out.notes.push(format!(
                "left out the ACS {location} (binding {binding}): Portcullis sends the Response \
                 with HTTP-POST only"
            ));
            continue;
        }
        if boolean(acs, "isDefault")? == Some(true) && out.default_acs_index.is_none() {
            out.default_acs_index = Some(index);
        }
        out.acs.push((index, location.to_owned()));
    }
    if out.acs.is_empty() {
        return Err(SamlError::invalid(
            "no AssertionConsumerService with the HTTP-POST binding",
        ));
    }
    Ok(())
}

fn read_slo(sp: &Element, out: &mut SpMetadata) -> Result<(), SamlError> {
    for slo in sp.children_named(NS_METADATA, "SingleLogoutService") {
        let (binding, location) = endpoint(slo, "SingleLogoutService")?;
        let supported = [SamlBinding::Post, SamlBinding::Redirect, SamlBinding::Soap]
            .into_iter()
            .find(|b| b.urn() == binding);
        match (supported, &out.slo) {
            (Some(b), None) => {
                if let Some(r) = slo.attr("ResponseLocation").filter(|r| *r != location) {
                    out.notes.push(format!(
                        "the Single Logout ResponseLocation {r} is not used: LogoutResponses go \
                         to {location}"
                    ));
                }
                out.slo = Some((b, location.to_owned()));
            }
            (Some(b), Some(_)) => out.notes.push(format!(
                "left out the Single Logout endpoint {location} ({}): the first one listed is used",
                b.as_str()
            )),
            (None, _) => out.notes.push(format!(
                "left out the Single Logout endpoint {location}: binding {binding} is not supported"
            )),
        }
    }
    Ok(())
}

/// An endpoint's `Binding` and `Location`, both required (SAML metadata §2.2.2).
fn endpoint<'a>(e: &'a Element, what: &str) -> Result<(&'a str, &'a str), SamlError> {
    let binding = e
        .attr("Binding")
        .ok_or_else(|| SamlError::invalid(format!("an {what} has no Binding")))?;
    let location = e
        .attr("Location")
        .filter(|l| !l.trim().is_empty())
        .ok_or_else(|| SamlError::invalid(format!("an {what} has no Location")))?;
    Ok((binding, location))
}

fn read_keys(sp: &Element, out: &mut SpMetadata) -> Result<(), SamlError> {
    for key in sp.children_named(NS_METADATA, "KeyDescriptor") {
        let Some(pem) = certificate(key)? else {
            out.notes
                .push("left out a KeyDescriptor without an X509Certificate".into());
            continue;
        };
        let (slot, what) = match key.attr("use") {
            None | Some("signing") => (&mut out.signing_certificate, "signing"),
            Some("encryption") => (&mut out.encryption_certificate, "encryption"),
            Some(other) => {
                return Err(SamlError::invalid(format!(
                    "a KeyDescriptor's use is signing or encryption, not {other:?}"
                )));
            }
        };
        if slot.is_none() {
            *slot = Some(pem);
        } else {
            out.notes.push(format!(
                "left out a second {what} certificate: one is registered (the first listed)"
            ));
        }
    }
    Ok(())
}

/// The `ds:KeyInfo/ds:X509Data/ds:X509Certificate` of a `KeyDescriptor`, as PEM (checked as an
/// X.509 certificate when the settings are validated).
fn certificate(key: &Element) -> Result<Option<String>, SamlError> {
    let Some(info) = key.child(NS_DSIG, "KeyInfo")? else {
        return Ok(None);
    };
    let Some(data) = info.child(NS_DSIG, "X509Data")? else {
        return Ok(None);
    };
    let Some(cert) = data.children_named(NS_DSIG, "X509Certificate").next() else {
        return Ok(None);
    };
    let b64: String = cert
        .text()?
        .chars()
        .filter(|c| !c.is_ascii_whitespace())
        .collect();
    if b64.is_empty()
        || !b64
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"+/=".contains(&b))
    {
        return Err(SamlError::invalid("an X509Certificate is not base64"));
    }
    let mut pem = String::from("-----BEGIN CERTIFICATE-----\n");
    for line in b64.as_bytes().chunks(64) {
        pem.push_str(&String::from_utf8_lossy(line));
        pem.push('\n');
    }
    pem.push_str("-----END CERTIFICATE-----");
    Ok(Some(pem))
}

fn read_name_id_formats(sp: &Element, out: &mut SpMetadata) -> Result<(), SamlError> {
    let mut unsupported = Vec::new();
    for f in sp.children_named(NS_METADATA, "NameIDFormat") {
        let urn = f.text()?.trim().to_owned();
        match (urn.parse::<NameIdFormat>(), out.name_id_format) {
            (Ok(format), None) => out.name_id_format = Some(format),
            (Ok(_), Some(_)) => {}
            (Err(_), _) => unsupported.push(urn),
        }
    }
    if out.name_id_format.is_none() && !unsupported.is_empty() {
        out.notes.push(format!(
            "none of the NameID formats {} is issued by Portcullis: email is used",
            unsupported.join(", ")
        ));
    }
    Ok(())
}

impl SpMetadata {
    /// The registration over `base` (an app's current settings, or the defaults): what the
    /// metadata declares replaces the field; what it does not declare (no Single Logout, no
    /// certificate, no NameID format) stays as it was.
    pub fn apply(&self, mut base: SamlRequest) -> SamlRequest {
        base.sp_entity_id = self.entity_id.clone();
        base.acs_urls = self
            .acs
            .iter()
            .map(|(index, url)| AcsRequest {
                url: url.clone(),
                binding: Some(SamlBinding::Post.as_str().to_owned()),
                index: Some(*index),
            })
            .collect();
        base.default_acs_index = self.default_acs_index;
        if let Some((binding, url)) = &self.slo {
            base.slo_url = Some(url.clone());
            base.slo_binding = Some(binding.as_str().to_owned());
        }
        if let Some(pem) = &self.signing_certificate {
            base.sp_certificate = Some(pem.clone());
        }
        if let Some(pem) = &self.encryption_certificate {
            base.sp_encryption_certificate = Some(pem.clone());
        }
        if self.authn_requests_signed {
            base.require_signed_requests = true;
        }
        if self.want_assertions_signed {
            base.sign_assertion = Some(true);
        }
        if let Some(f) = self.name_id_format {
            base.name_id_format = Some(f.as_str().to_owned());
        }
        base
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A self-signed certificate's base64 (the one of `apps::saml`'s tests).
    const CERT_B64: &str = "MIIBiDCCAS+gAwIBAgIULFRXPQkB65zifsZEmTOXCOlA3wswCgYIKoZIzj0EAwIw
GTEXMBUGA1UEAwwOc3AuZXhhbXBsZS5jb20wIBcNMjYxMjA2MTMwODQxWhgPMjEy
NjExMTIxMzA4NDFaMBkxFzAVBgNVBAMMDnNwLmV4YW1wbGUuY29tMFkwEwYHKoZI
zj0CAQYIKoZIzj0DAQcDQgAEN019cWokmdhPV/x/JM6F9tG1y+QqJXwoLquWLUqY
zfb6+AmKvwhn9Qt45DLb9V/5D9TZ7X9erkQ+S4QQ7N3E+aNTMFEwHQYDVR0OBBYE
FITqMUVJoIU0ZLwXobO64PaQXNhyMB8GA1UdIwQYMBaAFITqMUVJoIU0ZLwXobO6
4PaQXNhyMA8GA1UdEwEB/wQFMAMBAf8wCgYIKoZIzj0EAwIDRwAwRAIgBi7IjdcH
yrFCiA8PeW0ysFIo7AmAZlY8+UgOXRFbeNMCIHrqKThQTgjDXJD8R43y1Ptn9ecP
x2sJFWTrE88cUew8";

    /// What pysaml2 7.5 writes (`make_metadata.py` on an SP config): the `md:`/`ds:` prefixes,
    /// `use`-less key, an extension, an Artifact ACS next to the POST one, both SLO bindings.
    fn pysaml2() -> String {
        format!(
            r#"<?xml version='1.0' encoding='UTF-8'?>
<ns0:EntityDescriptor xmlns:ns0="urn:oasis:names:tc:SAML:2.0:metadata" xmlns:ns1="urn:oasis:names:tc:SAML:metadata:algsupport" xmlns:ns2="http://www.w3.org/2000/09/xmldsig#" entityID="http://127.0.0.1:8087/sp.xml">
  <ns0:Extensions><ns1:DigestMethod Algorithm="http://www.w3.org/2001/04/xmlenc#sha256"/></ns0:Extensions>
  <ns0:SPSSODescriptor AuthnRequestsSigned="true" WantAssertionsSigned="true" protocolSupportEnumeration="urn:oasis:names:tc:SAML:2.0:protocol">
    <ns0:KeyDescriptor><ns2:KeyInfo><ns2:X509Data><ns2:X509Certificate>{CERT_B64}</ns2:X509Certificate></ns2:X509Data></ns2:KeyInfo></ns0:KeyDescriptor>
    <ns0:SingleLogoutService Binding="urn:oasis:names:tc:SAML:2.0:bindings:SOAP" Location="https://sp.example.com/slo/soap"/>
    <ns0:SingleLogoutService Binding="urn:oasis:names:tc:SAML:2.0:bindings:HTTP-Redirect" Location="https://sp.example.com/slo/redirect"/>
    <ns0:NameIDFormat>urn:oasis:names:tc:SAML:2.0:nameid-format:persistent</ns0:NameIDFormat>
    <ns0:AssertionConsumerService Binding="urn:oasis:names:tc:SAML:2.0:bindings:HTTP-Artifact" Location="https://sp.example.com/acs/artifact" index="2"/>
    <ns0:AssertionConsumerService Binding="urn:oasis:names:tc:SAML:2.0:bindings:HTTP-POST" Location="https://sp.example.com/acs/post" index="1"/>
  </ns0:SPSSODescriptor>
</ns0:EntityDescriptor>"#
        )
    }

    /// What samlify 2.x writes (`sp.getMetadata()`): default namespace on the root, `use`
    /// attributes, `isDefault`, redirect and POST ACS.
    fn samlify() -> String {
        format!(
            r#"<EntityDescriptor xmlns="urn:oasis:names:tc:SAML:2.0:metadata" xmlns:assertion="urn:oasis:names:tc:SAML:2.0:assertion" xmlns:ds="http://www.w3.org/2000/09/xmldsig#" entityID="http://localhost:18299/metadata"><SPSSODescriptor AuthnRequestsSigned="false" WantAssertionsSigned="true" protocolSupportEnumeration="urn:oasis:names:tc:SAML:2.0:protocol"><KeyDescriptor use="signing"><ds:KeyInfo xmlns:ds="http://www.w3.org/2000/09/xmldsig#"><ds:X509Data><ds:X509Certificate>{CERT_B64}</ds:X509Certificate></ds:X509Data></ds:KeyInfo></KeyDescriptor><KeyDescriptor use="encryption"><ds:KeyInfo xmlns:ds="http://www.w3.org/2000/09/xmldsig#"><ds:X509Data><ds:X509Certificate>{CERT_B64}</ds:X509Certificate></ds:X509Data></ds:KeyInfo></KeyDescriptor><SingleLogoutService Binding="urn:oasis:names:tc:SAML:2.0:bindings:HTTP-Redirect" Location="http://localhost:18299/slo"/><NameIDFormat>urn:oasis:names:tc:SAML:1.1:nameid-format:emailAddress</NameIDFormat><AssertionConsumerService index="0" Binding="urn:oasis:names:tc:SAML:2.0:bindings:HTTP-Redirect" Location="http://localhost:18299/acs/redirect"/><AssertionConsumerService index="1" isDefault="true" Binding="urn:oasis:names:tc:SAML:2.0:bindings:HTTP-POST" Location="http://localhost:18299/acs"/><AssertionConsumerService index="2" Binding="urn:oasis:names:tc:SAML:2.0:bindings:HTTP-POST" Location="http://localhost:18299/acs/other"/></SPSSODescriptor></EntityDescriptor>"#
        )
    }

    #[test]
    fn pysaml2_metadata_reads_into_the_settings() {
        let m = parse(&pysaml2()).unwrap();
        assert_eq!(m.entity_id, "http://127.0.0.1:8087/sp.xml");
        assert_eq!(m.acs, [(1, "https://sp.example.com/acs/post".to_owned())]);
        assert_eq!(m.default_acs_index, None);
        // The first listed supported binding wins, SOAP here.
        assert_eq!(
            m.slo,
            Some((SamlBinding::Soap, "https://sp.example.com/slo/soap".into()))
        );
        assert!(m.authn_requests_signed && m.want_assertions_signed);
        assert_eq!(m.name_id_format, Some(NameIdFormat::Persistent));
        let pem = m.signing_certificate.clone().unwrap();
        crate::apps::SpCertificate::parse(&pem, "sp_certificate").unwrap();
        assert!(m.encryption_certificate.is_none());
        assert!(
            m.notes.iter().any(|n| n.contains("HTTP-Artifact")),
            "{:?}",
            m.notes
        );
        assert!(m.notes.iter().any(|n| n.contains("slo/redirect")));
        let r = m.apply(SamlRequest::default());
        assert_eq!(r.acs_urls[0].index, Some(1));
        assert!(r.require_signed_requests);
        assert_eq!(r.slo_binding.as_deref(), Some("soap"));
        assert_eq!(r.name_id_format.as_deref(), Some("persistent"));
    }

    #[test]
    fn samlify_metadata_reads_into_the_settings() {
        let m = parse(&samlify()).unwrap();
        assert_eq!(m.entity_id, "http://localhost:18299/metadata");
        assert_eq!(
            m.acs,
            [
                (1, "http://localhost:18299/acs".to_owned()),
                (2, "http://localhost:18299/acs/other".to_owned())
            ]
        );
        assert_eq!(m.default_acs_index, Some(1));
        assert_eq!(
            m.slo,
            Some((SamlBinding::Redirect, "http://localhost:18299/slo".into()))
        );
        assert!(!m.authn_requests_signed && m.want_assertions_signed);
        assert_eq!(m.name_id_format, Some(NameIdFormat::Email));
        assert!(m.signing_certificate.is_some() && m.encryption_certificate.is_some());
        assert!(
            m.notes.iter().any(|n| n.contains("/acs/redirect")),
            "{:?}",
            m.notes
        );
        let r = m.apply(SamlRequest::default());
        assert_eq!(r.default_acs_index, Some(1));
        assert!(!r.require_signed_requests);
    }

    #[test]
    fn explicit_settings_stay_where_the_metadata_is_silent() {
        let base = SamlRequest {
            slo_url: Some("https://sp.example.com/old-slo".into()),
            slo_binding: Some("post".into()),
            name_id_format: Some("transient".into()),
            ..SamlRequest::default()
        };
        let xml = r#"<EntityDescriptor xmlns="urn:oasis:names:tc:SAML:2.0:metadata" entityID="urn:sp"><SPSSODescriptor protocolSupportEnumeration="urn:oasis:names:tc:SAML:1.1:protocol urn:oasis:names:tc:SAML:2.0:protocol"><AssertionConsumerService Binding="urn:oasis:names:tc:SAML:2.0:bindings:HTTP-POST" Location="https://sp.example.com/acs"/></SPSSODescriptor></EntityDescriptor>"#;
        let r = parse(xml).unwrap().apply(base);
        assert_eq!(r.sp_entity_id, "urn:sp");
        assert_eq!(r.acs_urls[0].index, Some(0), "no index: its position");
        assert_eq!(r.slo_url.as_deref(), Some("https://sp.example.com/old-slo"));
        assert_eq!(r.name_id_format.as_deref(), Some("transient"));
    }

    #[test]
    fn hostile_and_wrong_documents_are_refused() {
        let refused = |xml: &str| parse(xml).unwrap_err();
        let xxe = format!(
            "<!DOCTYPE x [<!ENTITY e SYSTEM \"file:///etc/passwd\">]>{}",
            samlify()
        );
        assert_eq!(refused(&xxe), SamlError::Dtd);
        let no_id = samlify().replace(r#"entityID="http://localhost:18299/metadata""#, "");
        assert!(refused(&no_id).to_string().contains("entityID"));
        let empty_id = samlify().replace("http://localhost:18299/metadata", "");
        assert!(refused(&empty_id).to_string().contains("entityID"));
        // Two entities: a federation's list (refused), or two roots (not XML).
        let list = format!(
            r#"<EntitiesDescriptor xmlns="urn:oasis:names:tc:SAML:2.0:metadata">{}</EntitiesDescriptor>"#,
            samlify()
        );
        assert!(refused(&list).to_string().contains("EntitiesDescriptor"));
        let two = format!("{}{}", samlify(), samlify());
        assert!(matches!(refused(&two), SamlError::Malformed(_)));
        // Two SP roles in one entity: which one?
        let two_sp = samlify().replace(
            "</EntityDescriptor>",
            r#"<SPSSODescriptor protocolSupportEnumeration="urn:oasis:names:tc:SAML:2.0:protocol"/></EntityDescriptor>"#,
        );
        assert!(refused(&two_sp).to_string().contains("more than one"));
        let idp = r#"<EntityDescriptor xmlns="urn:oasis:names:tc:SAML:2.0:metadata" entityID="urn:idp"><IDPSSODescriptor protocolSupportEnumeration="urn:oasis:names:tc:SAML:2.0:protocol"/></EntityDescriptor>"#;
        assert!(refused(idp).to_string().contains("SPSSODescriptor"));
        let only_redirect = samlify().replace(
            "bindings:HTTP-POST\" Location=\"http://localhost:18299/acs",
            "bindings:HTTP-Redirect\" Location=\"http://localhost:18299/acs",
        );
        assert!(refused(&only_redirect).to_string().contains("HTTP-POST"));
        let saml1 = samlify().replace(
            r#"protocolSupportEnumeration="urn:oasis:names:tc:SAML:2.0:protocol""#,
            r#"protocolSupportEnumeration="urn:oasis:names:tc:SAML:1.1:protocol""#,
        );
        assert!(refused(&saml1).to_string().contains("SAML 2.0"));
        let bad_cert = samlify().replacen(CERT_B64, "-----END CERTIFICATE-----", 1);
        assert!(refused(&bad_cert).to_string().contains("base64"));
        let bad_index = samlify().replace(r#"index="2""#, r#"index="70000""#);
        assert!(refused(&bad_index).to_string().contains("index"));
        assert!(matches!(
            refused("<md:EntityDescriptor/>"),
            SamlError::Malformed(_)
        ));
        let wrong_ns = samlify().replace(
            r#"xmlns="urn:oasis:names:tc:SAML:2.0:metadata""#,
            r#"xmlns="urn:example""#,
        );
        assert!(refused(&wrong_ns).to_string().contains("EntityDescriptor"));
    }
}
