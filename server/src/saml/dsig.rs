//! XML signatures of SAML messages behind one small trait ([`XmlSignatures`]), implemented on
//! `bergshamra` (pinned exactly in Cargo.toml: a change of version is a reviewed change).
//!
//! We sign one way: an enveloped `ds:Signature` right after the message's `Issuer`, one
//! Reference `#ID` to the message's root, the enveloped-signature and exclusive C14N
//! transforms, RSA-SHA256 over SHA-256 digests, our certificate in `KeyInfo`.
//!
//! We verify only that shape, before any cryptography (bergshamra alone would accept more,
//! and does not stop signature wrapping): the document passes our safe reader (no DTD,
//! bounded); its root is the expected element; it holds exactly one `ds:Signature`, a child
//! of the root; exactly one Reference, whose URI is `#` + the root's `ID`; transforms only
//! enveloped-signature and exclusive C14N (no XPath, XSLT or `#WithComments`); exclusive C14N
//! as the canonicalization; SHA-1 (digest or signature) only when the caller allows it. Then
//! bergshamra verifies, against the given certificates only (never a key from the message),
//! on the same parsed tree we checked, and the one Reference must have resolved to the root.
//! The caller then reads only that root (the verified ID is returned to compare).
//!
//! HTTP-Redirect signatures (SAML Bindings §3.4.4.1) sign the query's raw bytes as received
//! ([`XmlSignatures::verify_bytes`] with `binding::RedirectQuery::signed_octets`).

use super::error::SamlError;
use super::xml;
use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use uppsala::{Document, NodeId};

pub const NS_DSIG: &str = "http://www.w3.org/2000/09/xmldsig#";
pub const EXC_C14N: &str = "http://www.w3.org/2001/10/xml-exc-c14n#";
pub const ENVELOPED: &str = "http://www.w3.org/2000/09/xmldsig#enveloped-signature";
pub const RSA_SHA256: &str = "http://www.w3.org/2001/04/xmldsig-more#rsa-sha256";
pub const RSA_SHA1: &str = "http://www.w3.org/2000/09/xmldsig#rsa-sha1";
pub const SHA256: &str = "http://www.w3.org/2001/04/xmlenc#sha256";
pub const SHA1: &str = "http://www.w3.org/2000/09/xmldsig#sha1";

/// Signature methods we verify (SP keys may be RSA or EC).
const SIGNATURE_METHODS: [&str; 6] = [
    RSA_SHA256,
    "http://www.w3.org/2001/04/xmldsig-more#rsa-sha384",
    "http://www.w3.org/2001/04/xmldsig-more#rsa-sha512",
    "http://www.w3.org/2001/04/xmldsig-more#ecdsa-sha256",
    "http://www.w3.org/2001/04/xmldsig-more#ecdsa-sha384",
    "http://www.w3.org/2001/04/xmldsig-more#ecdsa-sha512",
];
const SHA1_SIGNATURE_METHODS: [&str; 2] = [
    RSA_SHA1,
    "http://www.w3.org/2001/04/xmldsig-more#ecdsa-sha1",
];
const DIGEST_METHODS: [&str; 3] = [
    SHA256,
    "http://www.w3.org/2001/04/xmldsig-more#sha384",
    "http://www.w3.org/2001/04/xmlenc#sha512",
];

/// A private key we sign with (PKCS#8 PEM) and its certificate (DER). `Debug` hides the key.
#[derive(Clone)]
pub struct SigningKey {
    pkcs8_pem: String,
    certificate: Certificate,
}

impl std::fmt::Debug for SigningKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SigningKey").finish_non_exhaustive()
    }
}

impl SigningKey {
    pub fn new(pkcs8_pem: String, certificate: Certificate) -> Self {
        Self {
            pkcs8_pem,
            certificate,
        }
    }

    pub fn certificate(&self) -> &Certificate {
        &self.certificate
    }
}

/// An X.509 certificate (DER) whose key we trust for a peer's signatures.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Certificate(pub Vec<u8>);

impl Certificate {
    /// The base64 of the DER, as `ds:X509Certificate` and metadata carry it.
    pub fn base64(&self) -> String {
        STANDARD.encode(&self.0)
    }

    /// From the base64 text of a `ds:X509Certificate` (whitespace ignored).
    pub fn from_base64(text: &str) -> Result<Self, SamlError> {
        let compact: String = text.chars().filter(|c| !c.is_whitespace()).collect();
        STANDARD
            .decode(compact)
            .map(Self)
            .map_err(|_| SamlError::Encoding("certificate is not base64".into()))
    }
}

/// What the verifier must find.
#[derive(Debug, Clone, Copy)]
pub struct VerifyPolicy<'a> {
    /// The namespace and local name of the root element (the signed message).
    pub root_ns: &'a str,
    pub root_name: &'a str,
    /// Accept SHA-1 digests and signatures (an app that enabled it; refused by default).
    pub allow_sha1: bool,
}

/// The outcome of a verification: the ID of the root, which the one Reference covers.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Verified {
    pub id: String,
}

/// Signing and verifying SAML messages (see the module's doc for the one shape accepted).
pub trait XmlSignatures: Send + Sync {
    /// Signs the root of `xml` (which carries an `ID`): an enveloped signature after its
    /// `Issuer` (or first, without one). Returns the signed document.
    fn sign_enveloped(&self, xml: &str, key: &SigningKey) -> Result<String, SamlError>;

    /// Verifies the root's enveloped signature with one of `certs`.
    fn verify_enveloped(
        &self,
        xml: &str,
        certs: &[Certificate],
        policy: &VerifyPolicy<'_>,
    ) -> Result<Verified, SamlError>;

    /// An RSA-SHA256 signature of `data` (HTTP-Redirect binding).
    fn sign_bytes(&self, data: &[u8], key: &SigningKey) -> Result<Vec<u8>, SamlError>;

    /// Verifies `signature` of `data` under `sig_alg` with one of `certs` (HTTP-Redirect).
    fn verify_bytes(
        &self,
        sig_alg: &str,
        data: &[u8],
        signature: &[u8],
        certs: &[Certificate],
        allow_sha1: bool,
    ) -> Result<(), SamlError>;
}

/// [`XmlSignatures`] on bergshamra.
#[derive(Debug, Clone, Copy, Default)]
pub struct Bergshamra;

fn refused(what: impl Into<String>) -> SamlError {
    SamlError::signature(what)
}

fn signature_method_allowed(uri: &str, allow_sha1: bool) -> bool {
    SIGNATURE_METHODS.contains(&uri) || (allow_sha1 && SHA1_SIGNATURE_METHODS.contains(&uri))
}

fn digest_method_allowed(uri: &str, allow_sha1: bool) -> bool {
    DIGEST_METHODS.contains(&uri) || (allow_sha1 && uri == SHA1)
}

/// The template we sign: one Reference to `#id`, our algorithms, our certificate.
pub(crate) fn template(
    id: &str,
    signature_method: &str,
    digest_method: &str,
    cert: &Certificate,
) -> String {
    format!(
        "<ds:Signature xmlns:ds=\"{NS_DSIG}\"><ds:SignedInfo>\
<ds:CanonicalizationMethod Algorithm=\"{EXC_C14N}\"/>\
<ds:SignatureMethod Algorithm=\"{signature_method}\"/>\
<ds:Reference URI=\"#{}\"><ds:Transforms>\
<ds:Transform Algorithm=\"{ENVELOPED}\"/><ds:Transform Algorithm=\"{EXC_C14N}\"/>\
</ds:Transforms><ds:DigestMethod Algorithm=\"{digest_method}\"/>\
<ds:DigestValue></ds:DigestValue></ds:Reference></ds:SignedInfo>\
<ds:SignatureValue></ds:SignatureValue>\
<ds:KeyInfo><ds:X509Data><ds:X509Certificate>{}</ds:X509Certificate></ds:X509Data></ds:KeyInfo>\
</ds:Signature>",
        xml::escape(id),
        cert.base64()
    )
}

/// Where the signature goes in `xml`: after the root's first child when that is an `Issuer`
/// (SAML's schemas put `ds:Signature` right after it), else right after the root's start tag.
/// Also returns the root's `ID`.
fn insertion_point(xml: &str) -> Result<(usize, String), SamlError> {
    let root = xml::parse(xml)?;
    let id = root
        .attr("ID")
        .ok_or_else(|| SamlError::Sign("the root has no ID".into()))?
        .to_owned();
    let mut reader = quick_xml::reader::Reader::from_str(xml);
    let mut depth = 0usize;
    let mut after_root_start = None;
    loop {
        let event = reader
            .read_event()
            .map_err(|e| SamlError::Sign(e.to_string()))?;
        match event {
            quick_xml::events::Event::Start(start) => {
                depth += 1;
                if depth == 1 {
                    after_root_start = Some(reader.buffer_position());
                } else if depth == 2 && start.local_name().as_ref() != "Issuer" {
                    break;
                }
            }
            quick_xml::events::Event::Empty(_) if depth == 1 => break,
            quick_xml::events::Event::End(_) => {
                depth -= 1;
                if depth == 1 {
                    // The Issuer just closed.
                    let at = usize::try_from(reader.buffer_position())
                        .map_err(|e| SamlError::Sign(e.to_string()))?;
                    return Ok((at, id));
                }
                if depth == 0 {
                    break;
                }
            }
            quick_xml::events::Event::Eof => break,
            _ => {}
        }
    }
    let at = after_root_start.ok_or_else(|| SamlError::Sign("empty root".into()))?;
    Ok((
        usize::try_from(at).map_err(|e| SamlError::Sign(e.to_string()))?,
        id,
    ))
}

/// Signs `xml` with a template of the given algorithms (SHA-1 only in tests).
pub(crate) fn sign_with(
    xml: &str,
    key: &SigningKey,
    signature_method: &str,
    digest_method: &str,
) -> Result<String, SamlError> {
    let (at, id) = insertion_point(xml)?;
    let mut doc = String::with_capacity(xml.len() + 2048);
    doc.push_str(&xml[..at]);
    doc.push_str(&template(
        &id,
        signature_method,
        digest_method,
        &key.certificate,
    ));
    doc.push_str(&xml[at..]);
    sign_template(&doc, key)
}

/// Signs a document that already holds one empty signature template.
pub(crate) fn sign_template(doc: &str, key: &SigningKey) -> Result<String, SamlError> {
    let loaded = bergshamra::keys::loader::load_rsa_private_pem(key.pkcs8_pem.as_bytes())
        .map_err(|e| SamlError::Sign(e.to_string()))?;
    let mut keys = bergshamra::KeysManager::new();
    keys.add_key(loaded);
    let ctx = bergshamra::DsigContext::new(keys);
    bergshamra::sign(&ctx, doc).map_err(|e| SamlError::Sign(e.to_string()))
}

/// A signature of `data` under `signature_method` (RSA-SHA256 in use; SHA-1 only in tests).
pub(crate) fn sign_bytes_with(
    data: &[u8],
    key: &SigningKey,
    signature_method: &str,
) -> Result<Vec<u8>, SamlError> {
    let loaded = bergshamra::keys::loader::load_rsa_private_pem(key.pkcs8_pem.as_bytes())
        .map_err(|e| SamlError::Sign(e.to_string()))?;
    let signing = loaded
        .to_signing_key()
        .map_err(|e| SamlError::Sign(e.to_string()))?
        .ok_or_else(|| SamlError::Sign("no signing key".into()))?;
    bergshamra::crypto::sign::from_uri(signature_method)
        .and_then(|alg| alg.sign(&signing, data))
        .map_err(|e| SamlError::Sign(e.to_string()))
}

fn trusted(certs: &[Certificate]) -> Result<bergshamra::KeysManager, SamlError> {
    if certs.is_empty() {
        return Err(refused("no certificate to verify with"));
    }
    let mut keys = bergshamra::KeysManager::new();
    for cert in certs {
        let key = bergshamra::keys::loader::load_x509_cert_der(&cert.0)
            .map_err(|e| refused(format!("unusable certificate: {e}")))?;
        keys.add_key(key);
    }
    Ok(keys)
}

impl XmlSignatures for Bergshamra {
    fn sign_enveloped(&self, xml: &str, key: &SigningKey) -> Result<String, SamlError> {
        sign_with(xml, key, RSA_SHA256, SHA256)
    }

    fn verify_enveloped(
        &self,
        xml: &str,
        certs: &[Certificate],
        policy: &VerifyPolicy<'_>,
    ) -> Result<Verified, SamlError> {
        // Our reader first: size, depth, no DTD or unknown entity, the expected root.
        let ours = xml::parse(xml)?;
        if !ours.is(policy.root_ns, policy.root_name) {
            return Err(SamlError::invalid(format!("expected {}", policy.root_name)));
        }
        let doc = uppsala::Parser::new()
            .with_forbid_dtd(true)
            .with_max_depth(u32::try_from(xml::MAX_DEPTH).unwrap_or(u32::MAX))
            .parse(xml)
            .map_err(|e| SamlError::Malformed(e.to_string()))?;
        let shape = check_shape(&doc, policy)?;
        let ctx = bergshamra::DsigContext::new(trusted(certs)?);
        let result = bergshamra::dsig::verify::verify_document_with_source(&ctx, &doc, Some(xml))
            .map_err(|e| refused(e.to_string()))?;
        match result {
            bergshamra::VerifyResult::Valid {
                signature_node,
                references,
                ..
            } => {
                let [reference] = references.as_slice() else {
                    return Err(refused("exactly one Reference"));
                };
                if signature_node != shape.signature
                    || reference.resolved_node != Some(shape.root)
                    || !reference.digest_verified
                {
                    return Err(refused("the signature does not cover the message"));
                }
                // The same ID our reader sees (no parser disagreement about the root).
                if ours.attr("ID") != Some(shape.id.as_str()) {
                    return Err(refused("the signed ID is not the message's"));
                }
                Ok(Verified { id: shape.id })
            }
            bergshamra::VerifyResult::Invalid { reason } => Err(refused(reason)),
        }
    }

    fn sign_bytes(&self, data: &[u8], key: &SigningKey) -> Result<Vec<u8>, SamlError> {
        sign_bytes_with(data, key, RSA_SHA256)
    }

    fn verify_bytes(
        &self,
        sig_alg: &str,
        data: &[u8],
        signature: &[u8],
        certs: &[Certificate],
        allow_sha1: bool,
    ) -> Result<(), SamlError> {
        if !signature_method_allowed(sig_alg, allow_sha1) {
            return Err(refused(format!(
                "signature algorithm not accepted: {sig_alg}"
            )));
        }
        let alg =
            bergshamra::crypto::sign::from_uri(sig_alg).map_err(|e| refused(e.to_string()))?;
        for key in trusted(certs)?.keys() {
            let Ok(Some(public)) = key.to_signing_key() else {
                continue;
            };
            if alg.verify(&public, data, signature).unwrap_or(false) {
                return Ok(());
            }
        }
        Err(refused("the signature does not verify"))
    }
}

/// The nodes the structural checks found.
struct Shape {
    root: NodeId,
    signature: NodeId,
    id: String,
}

fn element_is(doc: &Document<'_>, node: NodeId, ns: &str, name: &str) -> bool {
    doc.element(node)
        .is_some_and(|e| e.matches_name_ns(ns, name))
}

/// The child elements of `node` (text and comments skipped).
fn child_elements(doc: &Document<'_>, node: NodeId) -> Vec<NodeId> {
    doc.children(node)
        .into_iter()
        .filter(|c| doc.element(*c).is_some())
        .collect()
}

/// The one child `ds:{name}` of `node`, and no other `ds:{name}` beside it.
fn one_child(doc: &Document<'_>, node: NodeId, name: &str) -> Result<NodeId, SamlError> {
    let found: Vec<_> = child_elements(doc, node)
        .into_iter()
        .filter(|c| element_is(doc, *c, NS_DSIG, name))
        .collect();
    match found.as_slice() {
        [one] => Ok(*one),
        [] => Err(refused(format!("missing {name}"))),
        _ => Err(refused(format!("more than one {name}"))),
    }
}

fn algorithm<'d>(doc: &'d Document<'_>, node: NodeId) -> Result<&'d str, SamlError> {
    doc.element(node)
        .and_then(|e| e.get_attribute("Algorithm"))
        .ok_or_else(|| refused("missing Algorithm"))
}

/// The checks of the module's doc, on the tree bergshamra then verifies.
fn check_shape(doc: &Document<'_>, policy: &VerifyPolicy<'_>) -> Result<Shape, SamlError> {
    let root = doc
        .document_element()
        .ok_or_else(|| SamlError::Malformed("no document element".into()))?;
    if !element_is(doc, root, policy.root_ns, policy.root_name) {
        return Err(SamlError::invalid(format!("expected {}", policy.root_name)));
    }
    let signatures = doc.get_elements_by_tag_name_ns(NS_DSIG, "Signature");
    let [signature] = signatures.as_slice() else {
        return Err(if signatures.is_empty() {
            refused("the message is not signed")
        } else {
            refused("more than one Signature")
        });
    };
    if doc.parent(*signature) != Some(root) {
        return Err(refused("the Signature is not the message's own"));
    }
    let signed_info = one_child(doc, *signature, "SignedInfo")?;
    let c14n = algorithm(doc, one_child(doc, signed_info, "CanonicalizationMethod")?)?;
    if c14n != EXC_C14N {
        return Err(refused(format!("canonicalization not accepted: {c14n}")));
    }
    let method = algorithm(doc, one_child(doc, signed_info, "SignatureMethod")?)?;
    if !signature_method_allowed(method, policy.allow_sha1) {
        return Err(refused(format!(
            "signature algorithm not accepted: {method}"
        )));
    }
    let reference = one_child(doc, signed_info, "Reference")?;
    let id = doc
        .element(root)
        .and_then(|e| e.get_attribute_ns_none("ID"))
        .ok_or_else(|| SamlError::invalid("the message has no ID"))?;
    let uri = doc
        .element(reference)
        .and_then(|e| e.get_attribute("URI"))
        .unwrap_or("");
    if uri.strip_prefix('#') != Some(id) {
        return Err(refused("the Reference is not to the message's ID"));
    }
    check_transforms(doc, reference)?;
    let digest = algorithm(doc, one_child(doc, reference, "DigestMethod")?)?;
    if !digest_method_allowed(digest, policy.allow_sha1) {
        return Err(refused(format!("digest algorithm not accepted: {digest}")));
    }
    Ok(Shape {
        root,
        signature: *signature,
        id: id.to_owned(),
    })
}

/// Only enveloped-signature and exclusive C14N (without comments), and the first one.
fn check_transforms(doc: &Document<'_>, reference: NodeId) -> Result<(), SamlError> {
    let transforms = one_child(doc, reference, "Transforms")?;
    let list = child_elements(doc, transforms);
    if list.is_empty() || list.len() > 2 {
        return Err(refused("unexpected transforms"));
    }
    for t in list {
        if !element_is(doc, t, NS_DSIG, "Transform") {
            return Err(refused("unexpected transforms"));
        }
        let alg = algorithm(doc, t)?;
        if alg != ENVELOPED && alg != EXC_C14N {
            return Err(refused(format!("transform not accepted: {alg}")));
        }
    }
    Ok(())
}

trait UnqualifiedAttribute {
    fn get_attribute_ns_none(&self, name: &str) -> Option<&str>;
}

impl UnqualifiedAttribute for uppsala::Element<'_> {
    /// An attribute without a namespace (`ID`, not `foo:ID`).
    fn get_attribute_ns_none(&self, name: &str) -> Option<&str> {
        self.attributes
            .iter()
            .find(|a| *a.name.local_name == *name && a.name.namespace_uri.is_none())
            .map(|a| &*a.value)
    }
}
