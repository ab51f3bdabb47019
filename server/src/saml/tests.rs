//! The verifier's negative battery (signature wrapping, DTDs, algorithms, comments, Redirect
//! bounds) and interop of our signatures with `xmlsec1` (Debian's `xmlsec1`, installed by
//! `.ci/run`). Every refused document that bergshamra alone would accept is checked to be
//! so (`plain_bergshamra_accepts`): the refusal is ours.

use super::binding::{MAX_INFLATED_BYTES, MessageKind, RedirectQuery, encode_redirect};
use super::build::{LogoutRequestParams, logout_request};
use super::dsig::{
    Bergshamra, Certificate, RSA_SHA1, SHA1, SigningKey, VerifyPolicy, XmlSignatures,
    sign_template, sign_with, template,
};
use super::messages::{LogoutRequest, NameId};
use super::{NAMEID_EMAIL, NS_PROTOCOL, SamlError};
use chrono::{DateTime, Utc};
use std::sync::OnceLock;

const EXC_C14N_WITH_COMMENTS: &str = "http://www.w3.org/2001/10/xml-exc-c14n#WithComments";

fn make_key(name: &str) -> SigningKey {
    let made = crate::keys::saml::generate(name, Utc::now()).unwrap();
    SigningKey::new(made.pkcs8_pem, Certificate(made.certificate_der))
}

/// The SP's key (made once per test binary: RSA generation is slow).
fn sp_key() -> &'static SigningKey {
    static KEY: OnceLock<SigningKey> = OnceLock::new();
    KEY.get_or_init(|| make_key("sp"))
}

fn attacker_key() -> &'static SigningKey {
    static KEY: OnceLock<SigningKey> = OnceLock::new();
    KEY.get_or_init(|| make_key("attacker"))
}

fn t(s: &str) -> DateTime<Utc> {
    DateTime::parse_from_rfc3339(s).unwrap().with_timezone(&Utc)
}

/// An unsigned LogoutRequest for `who`, root ID `id`.
fn request(id: &str, who: &str) -> String {
    let name = NameId {
        value: who.into(),
        format: Some(NAMEID_EMAIL.into()),
        sp_name_qualifier: None,
        name_qualifier: None,
    };
    logout_request(&LogoutRequestParams {
        id,
        issue_instant: t("2026-12-06T10:00:00Z"),
        issuer: "https://sp.example/metadata",
        destination: "https://idp.example/o/acme/saml/slo",
        name_id: &name,
        session_indexes: &["s1".to_owned()],
        not_on_or_after: None,
        reason: None,
    })
}

fn signed_request(id: &str, who: &str) -> String {
    Bergshamra
        .sign_enveloped(&request(id, who), sp_key())
        .unwrap()
}

const POLICY: VerifyPolicy<'static> = VerifyPolicy {
    root_ns: NS_PROTOCOL,
    root_name: "LogoutRequest",
    allow_sha1: false,
};

fn verify(xml: &str) -> Result<String, SamlError> {
    Bergshamra
        .verify_enveloped(xml, &[sp_key().certificate().clone()], &POLICY)
        .map(|v| v.id)
}

/// Whether bergshamra on its own (secure defaults, the SP's certificate) says the
/// signature is valid: documents we refuse although it would accept them.
fn plain_bergshamra_accepts(xml: &str) -> bool {
    let key = bergshamra::keys::loader::load_x509_cert_der(&sp_key().certificate().0).unwrap();
    let mut keys = bergshamra::KeysManager::new();
    keys.add_key(key);
    let ctx = bergshamra::DsigContext::new(keys);
    bergshamra::verify(&ctx, xml).is_ok_and(|r| r.is_valid())
}

/// The signed message's `ds:Signature` element, as text.
fn signature_of(signed: &str) -> &str {
    let start = signed.find("<ds:Signature").unwrap();
    let end = signed.find("</ds:Signature>").unwrap() + "</ds:Signature>".len();
    &signed[start..end]
}

fn assert_refused(xml: &str) {
    let got = verify(xml);
    assert!(got.is_err(), "accepted: {xml}");
}

#[test]
fn our_signature_verifies_and_any_change_or_other_key_is_refused() {
    let signed = signed_request("_orig", "user@example.com");
    assert_eq!(verify(&signed).unwrap(), "_orig");
    let parsed = LogoutRequest::parse(&signed).unwrap();
    assert!(parsed.header.signed);
    assert_eq!(parsed.name_id.value, "user@example.com");
    assert_refused(&signed.replace("user@example.com", "admin@example.com"));
    let other =
        Bergshamra.verify_enveloped(&signed, &[attacker_key().certificate().clone()], &POLICY);
    assert!(matches!(other, Err(SamlError::Signature(_))), "{other:?}");
    let unsigned = verify(&request("_orig", "user@example.com"));
    assert!(
        matches!(unsigned, Err(SamlError::Signature(_))),
        "{unsigned:?}"
    );
    let wrong_root = Bergshamra.verify_enveloped(
        &signed,
        &[sp_key().certificate().clone()],
        &VerifyPolicy {
            root_name: "LogoutResponse",
            ..POLICY
        },
    );
    assert!(wrong_root.is_err());
}

#[test]
fn a_message_re_signed_by_an_attacker_with_its_key_in_key_info_is_refused() {
    let forged = Bergshamra
        .sign_enveloped(&request("_orig", "admin@example.com"), attacker_key())
        .unwrap();
    assert!(forged.contains(&attacker_key().certificate().base64()));
    assert_refused(&forged);
}

#[test]
fn wrapping_1_signed_message_moved_under_extensions_of_an_unsigned_one() {
    let signed = signed_request("_orig", "user@example.com");
    let evil = request("_evil", "admin@example.com").replacen(
        "<saml:NameID",
        &format!("<samlp:Extensions>{signed}</samlp:Extensions><saml:NameID"),
        1,
    );
    assert_refused(&evil);
}

#[test]
fn wrapping_2_signed_original_moved_into_the_signatures_object() {
    let signed = signed_request("_orig", "user@example.com");
    let signature = signature_of(&signed);
    let original = signed.replace(signature, "");
    let moved = signature.replace(
        "</ds:Signature>",
        &format!("<ds:Object>{original}</ds:Object></ds:Signature>"),
    );
    let evil = request("_evil", "admin@example.com").replacen(
        "</saml:Issuer>",
        &format!("</saml:Issuer>{moved}"),
        1,
    );
    assert_refused(&evil);
}

#[test]
fn wrapping_3_an_unsigned_message_before_the_signed_one_in_another_root() {
    let signed = signed_request("_orig", "user@example.com");
    let evil = format!(
        "<Envelope>{}{signed}</Envelope>",
        request("_evil", "admin@example.com")
    );
    assert_refused(&evil);
}

#[test]
fn wrapping_4_an_unsigned_element_after_the_signature_inside_the_signed_message() {
    let signed = signed_request("_orig", "user@example.com");
    let evil = signed.replace(
        "</samlp:LogoutRequest>",
        "<saml:NameID>admin@example.com</saml:NameID></samlp:LogoutRequest>",
    );
    assert_refused(&evil);
}

#[test]
fn wrapping_5_the_signed_id_duplicated_on_an_unsigned_root() {
    let signed = signed_request("_orig", "user@example.com");
    let signature = signature_of(&signed);
    let original = signed.replace(signature, "");
    let evil = request("_orig", "admin@example.com").replacen(
        "</saml:Issuer>",
        &format!("</saml:Issuer>{signature}<samlp:Extensions>{original}</samlp:Extensions>"),
        1,
    );
    let err = verify(&evil).unwrap_err();
    assert!(err.to_string().contains("duplicate ID"), "{err}");
}

/// Signs `doc` (which holds one template) validly, so only our checks can refuse it.
fn valid(doc: &str) -> String {
    let signed = sign_template(doc, sp_key()).unwrap();
    assert!(
        plain_bergshamra_accepts(&signed),
        "bergshamra refuses it: {signed}"
    );
    signed
}

#[test]
fn wrapping_6_a_reference_to_another_id_inside_the_message() {
    let tpl = template(
        "_ext",
        super::dsig::RSA_SHA256,
        super::dsig::SHA256,
        sp_key().certificate(),
    );
    let doc = request("_evil", "admin@example.com").replacen(
        "</saml:Issuer>",
        &format!("</saml:Issuer>{tpl}<samlp:Extensions ID=\"_ext\"><x/></samlp:Extensions>"),
        1,
    );
    let signed = valid(&doc);
    let err = verify(&signed).unwrap_err();
    assert!(
        err.to_string()
            .contains("the Reference is not to the message's ID"),
        "{err}"
    );
}

#[test]
fn wrapping_7_a_signature_over_the_root_placed_below_it_signs_an_ancestor() {
    let tpl = template(
        "_orig",
        super::dsig::RSA_SHA256,
        super::dsig::SHA256,
        sp_key().certificate(),
    );
    let doc = request("_orig", "admin@example.com").replacen(
        "</saml:Issuer>",
        &format!("</saml:Issuer><samlp:Extensions>{tpl}</samlp:Extensions>"),
        1,
    );
    let signed = valid(&doc);
    let err = verify(&signed).unwrap_err();
    assert!(
        err.to_string()
            .contains("the Signature is not the message's own"),
        "{err}"
    );
}

#[test]
fn wrapping_8_an_empty_reference_uri_for_the_whole_document() {
    let tpl = template(
        "_orig",
        super::dsig::RSA_SHA256,
        super::dsig::SHA256,
        sp_key().certificate(),
    )
    .replace("URI=\"#_orig\"", "URI=\"\"");
    let doc = request("_orig", "admin@example.com").replacen(
        "</saml:Issuer>",
        &format!("</saml:Issuer>{tpl}"),
        1,
    );
    let signed = valid(&doc);
    let err = verify(&signed).unwrap_err();
    assert!(
        err.to_string()
            .contains("the Reference is not to the message's ID"),
        "{err}"
    );
}

#[test]
fn two_signatures_are_refused() {
    let signed = signed_request("_orig", "user@example.com");
    let signature = signature_of(&signed).to_owned();
    let twice = signed.replacen(&signature, &format!("{signature}{signature}"), 1);
    assert_refused(&twice);
}

#[test]
fn two_references_are_refused() {
    let tpl = template(
        "_orig",
        super::dsig::RSA_SHA256,
        super::dsig::SHA256,
        sp_key().certificate(),
    );
    let reference_start = tpl.find("<ds:Reference").unwrap();
    let reference_end = tpl.find("</ds:Reference>").unwrap() + "</ds:Reference>".len();
    let reference = &tpl[reference_start..reference_end];
    let tpl = tpl.replacen(reference, &format!("{reference}{reference}"), 1);
    let doc = request("_orig", "user@example.com").replacen(
        "</saml:Issuer>",
        &format!("</saml:Issuer>{tpl}"),
        1,
    );
    let signed = valid(&doc);
    let err = verify(&signed).unwrap_err();
    assert!(err.to_string().contains("more than one Reference"), "{err}");
}

#[test]
fn with_comments_canonicalization_is_refused() {
    let tpl = template(
        "_orig",
        super::dsig::RSA_SHA256,
        super::dsig::SHA256,
        sp_key().certificate(),
    )
    .replace(
        "<ds:Transform Algorithm=\"http://www.w3.org/2001/10/xml-exc-c14n#\"/>",
        &format!("<ds:Transform Algorithm=\"{EXC_C14N_WITH_COMMENTS}\"/>"),
    );
    assert!(tpl.contains("WithComments"));
    let doc = request("_orig", "user@example.com").replacen(
        "</saml:Issuer>",
        &format!("</saml:Issuer>{tpl}"),
        1,
    );
    let signed = valid(&doc);
    let err = verify(&signed).unwrap_err();
    assert!(err.to_string().contains("transform not accepted"), "{err}");
}

#[test]
fn an_xpath_transform_is_refused_before_any_cryptography() {
    let signed = signed_request("_orig", "user@example.com");
    let xpath = signed.replacen(
        "<ds:Transforms>",
        "<ds:Transforms><ds:Transform Algorithm=\"http://www.w3.org/TR/1999/REC-xpath-19991116\"><ds:XPath>not(ancestor-or-self::ds:Signature)</ds:XPath></ds:Transform>",
        1,
    );
    let err = verify(&xpath).unwrap_err();
    assert!(err.to_string().contains("transform"), "{err}");
    let xslt = signed.replacen(
        "<ds:Transforms>",
        "<ds:Transforms><ds:Transform Algorithm=\"http://www.w3.org/TR/1999/REC-xslt-19991116\"/>",
        1,
    );
    assert!(verify(&xslt).unwrap_err().to_string().contains("transform"));
}

#[test]
fn sha1_is_refused_unless_allowed() {
    let signed = sign_with(
        &request("_orig", "user@example.com"),
        sp_key(),
        RSA_SHA1,
        SHA1,
    )
    .unwrap();
    assert!(plain_bergshamra_accepts(&signed));
    let err = verify(&signed).unwrap_err();
    assert!(err.to_string().contains("not accepted"), "{err}");
    let allowed = Bergshamra.verify_enveloped(
        &signed,
        &[sp_key().certificate().clone()],
        &VerifyPolicy {
            allow_sha1: true,
            ..POLICY
        },
    );
    assert_eq!(allowed.unwrap().id, "_orig");
    // A SHA-256 signature over a SHA-1 digest is SHA-1 too.
    let digest_only = sign_with(
        &request("_orig", "user@example.com"),
        sp_key(),
        super::dsig::RSA_SHA256,
        SHA1,
    )
    .unwrap();
    assert!(verify(&digest_only).is_err());
}

#[test]
fn xxe_billion_laughs_and_any_doctype_are_refused() {
    let signed = signed_request("_orig", "user@example.com");
    let body = signed.trim_start_matches(|c| c != '<');
    for dtd in [
        r#"<!DOCTYPE x [<!ENTITY e SYSTEM "file:///etc/passwd">]>"#,
        r#"<!DOCTYPE x [<!ENTITY a "aaaaaaaaaa"><!ENTITY b "&a;&a;&a;&a;&a;&a;&a;&a;&a;&a;"><!ENTITY c "&b;&b;&b;&b;&b;&b;&b;&b;&b;&b;">]>"#,
        "<!DOCTYPE samlp:LogoutRequest>",
    ] {
        let doc = format!("{dtd}{body}");
        assert_eq!(verify(&doc), Err(SamlError::Dtd), "{dtd}");
        assert_eq!(LogoutRequest::parse(&doc), Err(SamlError::Dtd));
    }
    let laughs = body.replace("user@example.com", "&c;");
    assert_eq!(LogoutRequest::parse(&laughs), Err(SamlError::Entity));
}

#[test]
fn a_comment_inside_the_name_id_keeps_the_signature_and_reads_as_the_whole_name() {
    let signed = signed_request("_orig", "user@example.com.evil.example");
    let injected = signed.replace(
        "user@example.com.evil.example",
        "user@example.com<!---->.evil.example",
    );
    // Exclusive C14N drops comments: the signature still holds, as the attack needs...
    assert_eq!(verify(&injected).unwrap(), "_orig");
    // ...and the name read is the whole text, never "user@example.com".
    let parsed = LogoutRequest::parse(&injected).unwrap();
    assert_eq!(parsed.name_id.value, "user@example.com.evil.example");
}

#[test]
fn an_oversized_deflated_redirect_message_is_refused() {
    let padding = " ".repeat(usize::try_from(MAX_INFLATED_BYTES).unwrap());
    let big = request("_big", "user@example.com")
        .replace("<saml:NameID", &format!("{padding}<saml:NameID"));
    let query = encode_redirect(MessageKind::Request, &big, None, None).unwrap();
    assert!(query.len() < 4096, "deflates small: {}", query.len());
    assert_eq!(
        RedirectQuery::parse(&query).unwrap_err(),
        SamlError::TooLarge
    );
    let fits = request("_ok", "user@example.com");
    let query = encode_redirect(MessageKind::Request, &fits, Some("state"), None).unwrap();
    let parsed = RedirectQuery::parse(&query).unwrap();
    assert_eq!(parsed.xml, fits);
    assert_eq!(parsed.relay_state.as_deref(), Some("state"));
}

#[test]
fn redirect_signatures_verify_over_the_raw_query_as_received() {
    let xml = request("_r", "user@example.com");
    let relay = "a b/c+d";
    let query = encode_redirect(
        MessageKind::Request,
        &xml,
        Some(relay),
        Some((&Bergshamra, sp_key())),
    )
    .unwrap();
    let certs = [sp_key().certificate().clone()];
    let parsed = RedirectQuery::parse(&query).unwrap();
    assert_eq!(parsed.relay_state.as_deref(), Some(relay));
    parsed.verify(&Bergshamra, &certs, false).unwrap();
    // Parameter order on the wire does not matter; the values' bytes do.
    let (first, rest) = query.split_once('&').unwrap();
    RedirectQuery::parse(&format!("{rest}&{first}"))
        .unwrap()
        .verify(&Bergshamra, &certs, false)
        .unwrap();
    let other_relay = query.replace("RelayState=a", "RelayState=A");
    assert!(
        RedirectQuery::parse(&other_relay)
            .unwrap()
            .verify(&Bergshamra, &certs, false)
            .is_err()
    );
    // The same value encoded otherwise is other bytes than were signed.
    let respelled = query.replace("%2F", "%2f");
    assert_ne!(respelled, query);
    assert!(
        RedirectQuery::parse(&respelled)
            .unwrap()
            .verify(&Bergshamra, &certs, false)
            .is_err()
    );
    let unsigned = encode_redirect(MessageKind::Request, &xml, None, None).unwrap();
    assert!(
        RedirectQuery::parse(&unsigned)
            .unwrap()
            .verify(&Bergshamra, &certs, false)
            .is_err()
    );
    assert!(RedirectQuery::parse(&format!("{query}&RelayState=x")).is_err());
    let long = "r".repeat(81);
    assert!(encode_redirect(MessageKind::Request, &xml, Some(&long), None).is_err());
    let sent = format!(
        "SAMLRequest={}&RelayState={long}",
        query
            .split('&')
            .next()
            .unwrap()
            .trim_start_matches("SAMLRequest=")
    );
    assert!(RedirectQuery::parse(&sent).is_err());
}

#[test]
fn a_redirect_signature_made_with_another_encoding_of_the_same_values_verifies() {
    // An SP that percent-encodes in lower case signs those bytes; we verify what we received.
    use base64::Engine;
    let xml = request("_r", "user@example.com");
    let deflated = super::binding::deflate(&xml).unwrap();
    let message = base64::engine::general_purpose::STANDARD
        .encode(deflated)
        .replace('+', "%2b")
        .replace('/', "%2f")
        .replace('=', "%3d");
    let sig_alg = "http%3a%2f%2fwww.w3.org%2f2001%2f04%2fxmldsig-more%23rsa-sha256";
    let octets = format!("SAMLRequest={message}&SigAlg={sig_alg}");
    let signature = Bergshamra.sign_bytes(octets.as_bytes(), sp_key()).unwrap();
    let signature: String = url::form_urlencoded::byte_serialize(
        base64::engine::general_purpose::STANDARD
            .encode(signature)
            .as_bytes(),
    )
    .collect();
    let query = format!("{octets}&Signature={signature}");
    let parsed = RedirectQuery::parse(&query).unwrap();
    assert_eq!(parsed.xml, xml);
    parsed
        .verify(&Bergshamra, &[sp_key().certificate().clone()], false)
        .unwrap();
}

#[test]
fn a_sha1_redirect_signature_is_refused_unless_allowed() {
    let sig_alg: String = url::form_urlencoded::byte_serialize(RSA_SHA1.as_bytes()).collect();
    let xml = request("_r", "user@example.com");
    let first = encode_redirect(MessageKind::Request, &xml, None, None).unwrap();
    let octets = format!("{first}&SigAlg={sig_alg}");
    let signature = super::dsig::sign_bytes_with(octets.as_bytes(), sp_key(), RSA_SHA1).unwrap();
    use base64::Engine;
    let signature: String = url::form_urlencoded::byte_serialize(
        base64::engine::general_purpose::STANDARD
            .encode(signature)
            .as_bytes(),
    )
    .collect();
    let parsed = RedirectQuery::parse(&format!("{octets}&Signature={signature}")).unwrap();
    let certs = [sp_key().certificate().clone()];
    let err = parsed.verify(&Bergshamra, &certs, false).unwrap_err();
    assert!(err.to_string().contains("not accepted"), "{err}");
    parsed.verify(&Bergshamra, &certs, true).unwrap();
}

/// The certificate as PEM.
fn pem(cert: &Certificate) -> String {
    let b64 = cert.base64();
    let lines: Vec<&str> = b64
        .as_bytes()
        .chunks(64)
        .map(|c| std::str::from_utf8(c).unwrap())
        .collect();
    format!(
        "-----BEGIN CERTIFICATE-----\n{}\n-----END CERTIFICATE-----\n",
        lines.join("\n")
    )
}

/// Whether Debian's `xmlsec1` verifies `xml`'s first signature with `cert`, IDs on `ID` of
/// `node` (`namespace:Name`), key from the certificate given (as pysaml2 calls it).
fn xmlsec1_verifies(xml: &str, cert: &Certificate, node: &str) -> bool {
    let dir = tempfile::tempdir().unwrap();
    let doc = dir.path().join("doc.xml");
    let cert_file = dir.path().join("cert.pem");
    std::fs::write(&doc, xml).unwrap();
    std::fs::write(&cert_file, pem(cert)).unwrap();
    let out = std::process::Command::new("xmlsec1")
        .args([
            "--verify",
            "--enabled-key-data",
            "raw-x509-cert",
            "--pubkey-cert-pem",
        ])
        .arg(&cert_file)
        .arg("--id-attr:ID")
        .arg(node)
        .arg(&doc)
        .output()
        .expect("xmlsec1 (Debian package xmlsec1) must be installed: .ci/run installs it");
    out.status.success()
}

#[test]
fn xmlsec1_verifies_our_signed_logout_request_and_refuses_a_changed_one() {
    let signed = signed_request("_x1", "user@example.com");
    let node = "urn:oasis:names:tc:SAML:2.0:protocol:LogoutRequest";
    assert!(
        xmlsec1_verifies(&signed, sp_key().certificate(), node),
        "{signed}"
    );
    let changed = signed.replace("user@example.com", "admin@example.com");
    assert!(!xmlsec1_verifies(&changed, sp_key().certificate(), node));
    assert!(!xmlsec1_verifies(
        &signed,
        attacker_key().certificate(),
        node
    ));
}

fn response_inputs<'a>(
    name: &'a NameId,
    attributes: &'a [super::build::AttributeValues],
) -> (
    super::build::ResponseParams<'a>,
    super::build::AssertionParams<'a>,
) {
    let envelope = super::build::ResponseParams {
        id: "_resp",
        issue_instant: t("2026-12-06T10:00:00Z"),
        issuer: "https://idp.example/o/acme/saml",
        destination: "https://sp.example/acs",
        in_response_to: Some("_req"),
        status: super::STATUS_SUCCESS,
        sub_status: None,
    };
    let statement = super::build::AssertionParams {
        id: "_assertion",
        issue_instant: t("2026-12-06T10:00:00Z"),
        issuer: "https://idp.example/o/acme/saml",
        name_id: name,
        in_response_to: Some("_req"),
        recipient: "https://sp.example/acs",
        not_on_or_after: t("2026-12-06T10:05:00Z"),
        not_before: t("2026-12-06T09:59:00Z"),
        audience: "https://sp.example/metadata",
        authn_instant: t("2026-12-06T09:58:00Z"),
        session_index: "_app_session",
        session_not_on_or_after: None,
        authn_context_class_ref: "urn:oasis:names:tc:SAML:2.0:ac:classes:PasswordProtectedTransport",
        attributes,
    };
    (envelope, statement)
}

#[test]
fn xmlsec1_verifies_a_signed_response_and_its_signed_assertion_inside_it() {
    use super::response::{Signing, signed_response};
    let name = NameId {
        value: "user@example.com".into(),
        format: Some(NAMEID_EMAIL.into()),
        sp_name_qualifier: None,
        name_qualifier: None,
    };
    let attributes = vec![super::build::AttributeValues {
        name: "email".into(),
        values: vec!["user@example.com".into()],
    }];
    let (envelope, statement) = response_inputs(&name, &attributes);
    let key = sp_key();
    let response_node = "urn:oasis:names:tc:SAML:2.0:protocol:Response";
    let assertion_node = "urn:oasis:names:tc:SAML:2.0:assertion:Assertion";
    // Assertion only: its signature holds inside the Response (exclusive C14N).
    let only_assertion = Signing {
        assertion: true,
        response: false,
    };
    let xml = signed_response(&Bergshamra, key, &envelope, &statement, only_assertion).unwrap();
    assert_eq!(xml.matches("<ds:Signature xmlns").count(), 1);
    assert!(
        xmlsec1_verifies(&xml, key.certificate(), assertion_node),
        "{xml}"
    );
    let changed = xml.replace("_app_session", "_other_session");
    assert!(!xmlsec1_verifies(
        &changed,
        key.certificate(),
        assertion_node
    ));
    // Both: the Response's signature (the first) covers the signed Assertion.
    let both = Signing {
        assertion: true,
        response: true,
    };
    let xml = signed_response(&Bergshamra, key, &envelope, &statement, both).unwrap();
    assert_eq!(xml.matches("<ds:Signature xmlns").count(), 2);
    assert!(xml.find("<ds:Signature").unwrap() < xml.find("<saml:Assertion").unwrap());
    assert!(
        xmlsec1_verifies(&xml, key.certificate(), response_node),
        "{xml}"
    );
    // Response only; neither is never produced (the assertion is signed then).
    let only_response = Signing {
        assertion: false,
        response: true,
    };
    let xml = signed_response(&Bergshamra, key, &envelope, &statement, only_response).unwrap();
    assert!(
        xmlsec1_verifies(&xml, key.certificate(), response_node),
        "{xml}"
    );
    let neither = Signing {
        assertion: false,
        response: false,
    };
    let xml = signed_response(&Bergshamra, key, &envelope, &statement, neither).unwrap();
    assert!(
        xmlsec1_verifies(&xml, key.certificate(), assertion_node),
        "{xml}"
    );
}

#[test]
fn read_signed_gives_the_verified_message_only() {
    use super::messages::{LogoutResponse, read_signed};
    let certs = [sp_key().certificate().clone()];
    let signed = signed_request("_orig", "user@example.com");
    let read: LogoutRequest = read_signed(&signed, &Bergshamra, &certs, false).unwrap();
    assert_eq!(read.header.id, "_orig");
    assert_eq!(read.name_id.value, "user@example.com");
    let unsigned = request("_orig", "user@example.com");
    assert!(read_signed::<LogoutRequest>(&unsigned, &Bergshamra, &certs, false).is_err());
    // The right signature on another kind of message than asked for is refused.
    assert!(read_signed::<LogoutResponse>(&signed, &Bergshamra, &certs, false).is_err());
    let tampered = signed.replace("user@example.com", "admin@example.com");
    assert!(read_signed::<LogoutRequest>(&tampered, &Bergshamra, &certs, false).is_err());
}
