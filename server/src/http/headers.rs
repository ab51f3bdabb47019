//! Security headers on every response.

use actix_web::middleware::DefaultHeaders;

/// The console is same-origin wasm; sign-in pages are server-rendered. Nothing may frame us
/// (clickjacking of consent and sign-in), and no URL with a code or token may leak as Referer.
pub const CONTENT_SECURITY_POLICY: &str = "default-src 'self'; script-src 'self' 'wasm-unsafe-eval'; \
style-src 'self'; img-src 'self' data: https:; connect-src 'self'; frame-ancestors 'none'; \
base-uri 'none'; object-src 'none'";

pub fn security_headers(https: bool) -> DefaultHeaders {
    let headers = DefaultHeaders::new()
        .add(("Content-Security-Policy", CONTENT_SECURITY_POLICY))
        .add(("X-Content-Type-Options", "nosniff"))
        .add(("X-Frame-Options", "DENY"))
        .add(("Referrer-Policy", "no-referrer"))
        .add(("Cross-Origin-Opener-Policy", "same-origin"));
    if https {
        headers.add((
            "Strict-Transport-Security",
            "max-age=63072000; includeSubDomains",
        ))
    } else {
        headers
    }
}
