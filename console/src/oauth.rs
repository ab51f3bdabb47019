//! Sign-in with code + PKCE (S256): the console is a public app of each org. The verifier, the
//! state and the org's endpoints wait in session storage while the admin is at `/authorize`.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use portcullis_api_types::ConsoleClient;
use sha2::{Digest, Sha256};

use crate::api::{Auth, enc, read, unreachable};

/// The S256 code challenge of a verifier (RFC 7636 §4.2).
pub fn pkce_challenge(verifier: &str) -> String {
    URL_SAFE_NO_PAD.encode(Sha256::digest(verifier.as_bytes()))
}

fn random_token() -> Result<String, String> {
    let mut bytes = [0u8; 32];
    web_sys::window()
        .ok_or("no window")?
        .crypto()
        .map_err(|_| "no Web Crypto")?
        .get_random_values_with_u8_array(&mut bytes)
        .map_err(|_| "no randomness")?;
    Ok(URL_SAFE_NO_PAD.encode(bytes))
}

/// The browser tab's session storage.
pub(crate) fn storage() -> Result<web_sys::Storage, String> {
    web_sys::window()
        .ok_or("no window")?
        .session_storage()
        .ok()
        .flatten()
        .ok_or_else(|| "no session storage".to_owned())
}

/// Starts the sign-in: PKCE verifier and state into session storage, then the org's /authorize.
pub(crate) async fn start_sign_in(org: String) -> Result<(), String> {
    let org = org.trim().to_lowercase();
    if org.is_empty() {
        return Err("Enter your organization's id (the slug in its URLs).".into());
    }
    let response =
        gloo_net::http::Request::get(&format!("/api/v1/console-client?org={}", enc(&org)))
            .send()
            .await
            .map_err(unreachable)?;
    let client: ConsoleClient = read(response)
        .await
        .map_err(|e| format!("No organization '{org}' ({e})"))?;
    let verifier = random_token()?;
    let state = random_token()?;
    let s = storage()?;
    for (k, v) in [
        ("pc.org", org.as_str()),
        ("pc.verifier", verifier.as_str()),
        ("pc.state", state.as_str()),
        ("pc.issuer", client.issuer.as_str()),
        ("pc.client_id", client.client_id.as_str()),
        ("pc.redirect_uri", client.redirect_uri.as_str()),
    ] {
        s.set_item(k, v).map_err(|_| "session storage refused")?;
    }
    let url = format!(
        "{}/authorize?response_type=code&client_id={}&redirect_uri={}&scope={}&state={}&code_challenge={}&code_challenge_method=S256",
        client.issuer,
        enc(&client.client_id),
        enc(&client.redirect_uri),
        enc("openid profile email"),
        enc(&state),
        enc(&pkce_challenge(&verifier)),
    );
    web_sys::window()
        .ok_or("no window")?
        .location()
        .assign(&url)
        .map_err(|_| "could not go to the sign-in page".to_owned())
}

#[derive(serde::Deserialize)]
struct TokenAnswer {
    access_token: String,
}

/// Back from /authorize with `?code=&state=`: exchanges the code. `Ok(None)` when this load is
/// not a sign-in callback.
pub(crate) async fn finish_sign_in() -> Result<Option<Auth>, String> {
    let window = web_sys::window().ok_or("no window")?;
    let search = window.location().search().unwrap_or_default();
    if search.is_empty() {
        return Ok(None);
    }
    let params = web_sys::UrlSearchParams::new_with_str(&search).map_err(|_| "bad URL")?;
    // Whatever happens next, the code leaves the address bar.
    let _ = window
        .history()
        .map(|h| h.replace_state_with_url(&wasm_bindgen::JsValue::NULL, "", Some("/console/")));
    if let Some(error) = params.get("error") {
        return Err(format!(
            "Sign-in failed: {error} {}",
            params.get("error_description").unwrap_or_default()
        ));
    }
    let Some(code) = params.get("code") else {
        return Ok(None);
    };
    let s = storage()?;
    let get = |k: &str| s.get_item(k).ok().flatten().unwrap_or_default();
    if params.get("state").unwrap_or_default() != get("pc.state") || get("pc.state").is_empty() {
        return Err("Sign-in failed: the answer does not belong to this browser's request. Please sign in again.".into());
    }
    let body = format!(
        "grant_type=authorization_code&code={}&redirect_uri={}&client_id={}&code_verifier={}",
        enc(&code),
        enc(&get("pc.redirect_uri")),
        enc(&get("pc.client_id")),
        enc(&get("pc.verifier")),
    );
    let _ = s.remove_item("pc.verifier");
    let _ = s.remove_item("pc.state");
    let response = gloo_net::http::Request::post(&format!("{}/token", get("pc.issuer")))
        .header("Content-Type", "application/x-www-form-urlencoded")
        .body(body)
        .map_err(|e| e.to_string())?
        .send()
        .await
        .map_err(unreachable)?;
    if !response.ok() {
        let text = response.text().await.unwrap_or_default();
        return Err(format!("Sign-in failed: {text}"));
    }
    let answer: TokenAnswer = response.json().await.map_err(|e| e.to_string())?;
    Ok(Some(Auth {
        org: get("pc.org"),
        token: answer.access_token,
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pkce_challenge_matches_rfc_7636_appendix_b() {
        assert_eq!(
            pkce_challenge("dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk"),
            "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM"
        );
    }
}
