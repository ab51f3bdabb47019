//! Errors of the SAML protocol layer: what a message, its XML or its signature got wrong.

/// Why a SAML message or its signature was refused. `Display` is for logs and the error page,
/// never a secret.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum SamlError {
    /// The XML is larger than we read (or its inflated Redirect form is).
    #[error("message too large")]
    TooLarge,
    /// Nested deeper than any SAML message we accept.
    #[error("message nested too deeply")]
    TooDeep,
    /// A DOCTYPE (DTD), so possibly entity declarations: XXE and billion laughs are refused
    /// before anything is expanded.
    #[error("DTDs are not allowed")]
    Dtd,
    /// A reference to an entity that XML does not predefine.
    #[error("unknown entity reference")]
    Entity,
    /// Not well-formed XML, or XML we do not read (processing instructions, another encoding).
    #[error("malformed XML: {0}")]
    Malformed(String),
    /// Well-formed, but not the SAML message expected (missing or wrong element or attribute).
    #[error("invalid SAML message: {0}")]
    Invalid(String),
    /// Base64, DEFLATE or URL encoding of a binding that does not decode.
    #[error("undecodable binding: {0}")]
    Encoding(String),
    /// The signature is missing, does not verify, or is not the one shape we accept.
    #[error("signature refused: {0}")]
    Signature(String),
    /// Signing failed on our side.
    #[error("signing failed: {0}")]
    Sign(String),
}

impl SamlError {
    pub(crate) fn invalid(what: impl Into<String>) -> Self {
        Self::Invalid(what.into())
    }

    pub(crate) fn signature(what: impl Into<String>) -> Self {
        Self::Signature(what.into())
    }
}
