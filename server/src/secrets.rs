//! Random tokens and their hashes: client secrets, session ids, CSRF tokens.
//!
//! Tokens are full-entropy random values, so a fast hash (SHA-256) is enough to store them: there
//! is nothing to brute-force. Compare hashes or tokens only with `constant_time_eq`.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

#[derive(Debug, thiserror::Error)]
#[error("the operating system's random generator failed: {0}")]
pub struct RandomError(String);

/// `bytes` random bytes from the OS, base64url without padding.
pub fn random_token(bytes: usize) -> Result<String, RandomError> {
    let mut buf = vec![0u8; bytes];
    getrandom::fill(&mut buf).map_err(|e| RandomError(e.to_string()))?;
    Ok(URL_SAFE_NO_PAD.encode(buf))
}

/// `len` characters drawn uniformly from `alphabet` (at most 256 symbols) with the OS's random
/// generator: bytes past the largest multiple of the alphabet's size are drawn again, so no
/// symbol is likelier than another.
pub fn random_chars(alphabet: &[u8], len: usize) -> Result<String, RandomError> {
    let size = alphabet.len();
    if size == 0 || size > 256 {
        return Err(RandomError(format!("alphabet of {size} symbols")));
    }
    let limit = 256 - 256 % size;
    let mut out = String::with_capacity(len);
    let mut buf = [0u8; 32];
    while out.len() < len {
        getrandom::fill(&mut buf).map_err(|e| RandomError(e.to_string()))?;
        for b in buf {
            if usize::from(b) < limit && out.len() < len {
                out.push(char::from(alphabet[usize::from(b) % size]));
            }
        }
    }
    Ok(out)
}

/// Lower-case hex SHA-256.
pub fn sha256_hex(value: &str) -> String {
    Sha256::digest(value.as_bytes())
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

pub fn constant_time_eq(a: &str, b: &str) -> bool {
    bool::from(a.as_bytes().ct_eq(b.as_bytes()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_are_random_and_sized() {
        let a = random_token(32).unwrap();
        assert_eq!(a.len(), 43);
        assert_ne!(a, random_token(32).unwrap());
        assert_eq!(sha256_hex("abc").len(), 64);
        assert!(constant_time_eq("x", "x"));
        assert!(!constant_time_eq("x", "y"));
    }
}
