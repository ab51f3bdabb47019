//! The HTTP side of DPoP (RFC 9449) for the OIDC endpoints: the `DPoP` headers of a request,
//! the `Authorization` schemes, the `DPoP-Nonce` header and the challenges of §7.1.

use super::dpop::{BOUND_AS_BEARER, DpopContext, SIGNING_ALGS, TokenScheme};
use super::error::{OidcError, OidcErrorCode};
use actix_web::http::StatusCode;
use actix_web::http::header::{self, HeaderName, HeaderValue};
use actix_web::{HttpRequest, HttpResponse};

/// The header a client sends its proof in.
pub(super) const DPOP: &str = "dpop";
/// The header the server hands out nonces in (RFC 9449 §8).
pub(super) const DPOP_NONCE: &str = "dpop-nonce";

/// The request's DPoP side: every `DPoP` header (more than one is refused later; a value that
/// is not text is kept as an empty, invalid proof), its method, and `endpoint` at the issuer
/// (our public URL, whatever host the request reached us by).
pub(super) fn context(req: &HttpRequest, issuer: &str, endpoint: &str) -> DpopContext {
    DpopContext {
        proofs: req
            .headers()
            .get_all(DPOP)
            .map(|v| v.to_str().unwrap_or_default().trim().to_owned())
            .collect(),
        method: req.method().as_str().to_owned(),
        htu: format!("{issuer}{endpoint}"),
    }
}

/// The access token of `Authorization` and its scheme (`Bearer` or `DPoP`, any case).
pub(super) fn authorization(req: &HttpRequest) -> Option<(TokenScheme, String)> {
    let raw = req.headers().get(header::AUTHORIZATION)?.to_str().ok()?;
    let (scheme, token) = raw.split_once(' ')?;
    let scheme = if scheme.eq_ignore_ascii_case("bearer") {
        TokenScheme::Bearer
    } else if scheme.eq_ignore_ascii_case("dpop") {
        TokenScheme::Dpop
    } else {
        return None;
    };
    Some((scheme, token.trim().to_owned()))
}

/// Adds `DPoP-Nonce: nonce`.
pub(super) fn with_nonce(res: &mut HttpResponse, nonce: &str) {
    if let Ok(v) = HeaderValue::from_str(nonce) {
        res.headers_mut()
            .insert(HeaderName::from_static(DPOP_NONCE), v);
    }
}

/// The DPoP challenge of a resource endpoint (RFC 9449 §7.1), with the error if there is one.
fn dpop_challenge(error: Option<&str>) -> String {
    let algs = SIGNING_ALGS.join(" ");
    match error {
        Some(e) => format!("DPoP error=\"{e}\", algs=\"{algs}\""),
        None => format!("DPoP algs=\"{algs}\""),
    }
}

/// Whether a refusal at a resource endpoint is DPoP's to answer: the token came with the DPoP
/// scheme, the proof was the problem, or a bound token came as a bearer token.
fn dpop_refusal(e: &OidcError, scheme: TokenScheme) -> bool {
    scheme == TokenScheme::Dpop
        || matches!(
            e.code,
            OidcErrorCode::InvalidDpopProof | OidcErrorCode::UseDpopNonce
        )
        || e.description == BOUND_AS_BEARER
}

/// The 401 of a resource endpoint for a token (or proof) refused (RFC 6750 §3.1, RFC 9449
/// §7.1): `invalid_token`, `invalid_dpop_proof` or `use_dpop_nonce` (with `nonce`), challenged
/// with the scheme that applies.
pub(super) fn resource_refusal(
    issuer: &str,
    e: &OidcError,
    scheme: TokenScheme,
    nonce: impl FnOnce() -> String,
) -> HttpResponse {
    let code = match e.code {
        OidcErrorCode::InvalidDpopProof | OidcErrorCode::UseDpopNonce => e.code.as_str(),
        _ => OidcErrorCode::InvalidToken.as_str(),
    };
    let mut res = HttpResponse::build(StatusCode::UNAUTHORIZED)
        .insert_header((header::CACHE_CONTROL, "no-store"))
        .insert_header((header::PRAGMA, "no-cache"))
        .json(serde_json::json!({ "error": code, "error_description": e.description }));
    let challenge = if dpop_refusal(e, scheme) {
        dpop_challenge(Some(code))
    } else {
        format!("Bearer realm=\"{issuer}\", error=\"{code}\"")
    };
    if let Ok(v) = HeaderValue::from_str(&challenge) {
        res.headers_mut().insert(header::WWW_AUTHENTICATE, v);
    }
    if e.code == OidcErrorCode::UseDpopNonce {
        with_nonce(&mut res, &nonce());
    }
    res
}

/// The 401 of a resource endpoint without a token: both schemes it takes are offered
/// (RFC 9449 §7.2).
pub(super) fn no_token(issuer: &str) -> HttpResponse {
    let mut res = HttpResponse::build(StatusCode::UNAUTHORIZED)
        .insert_header((header::CACHE_CONTROL, "no-store"))
        .insert_header((header::PRAGMA, "no-cache"))
        .json(serde_json::json!({ "error": "invalid_request" }));
    let h = res.headers_mut();
    if let Ok(v) = HeaderValue::from_str(&format!("Bearer realm=\"{issuer}\"")) {
        h.append(header::WWW_AUTHENTICATE, v);
    }
    if let Ok(v) = HeaderValue::from_str(&dpop_challenge(None)) {
        h.append(header::WWW_AUTHENTICATE, v);
    }
    res
}
