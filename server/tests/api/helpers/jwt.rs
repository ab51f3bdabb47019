//! PKCE pairs, and JWTs read without any check.

use serde_json::Value;

/// A fresh PKCE pair: (S256 challenge, verifier).
pub fn pkce() -> (String, String) {
    let (challenge, verifier) = openidconnect::PkceCodeChallenge::new_random_sha256();
    (challenge.as_str().to_owned(), verifier.secret().to_owned())
}

/// A JWT's header (part 0) or claims (part 1), decoded without any check.
pub fn jwt_part(token: &str, part: usize) -> Value {
    use base64::Engine;
    let raw = token
        .split('.')
        .nth(part)
        .unwrap_or_else(|| panic!("a JWT: {token}"));
    let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(raw)
        .unwrap();
    serde_json::from_slice(&bytes).unwrap()
}

pub fn jwt_header(token: &str) -> Value {
    jwt_part(token, 0)
}

pub fn jwt_claims(token: &str) -> Value {
    jwt_part(token, 1)
}
